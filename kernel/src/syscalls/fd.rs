//! The fd table side of calls: installing, duplicating and closing fds,
//! fcntl, pipes.

use crate::file::{FileId, FileKind, OpenFile, SETFL_MASK};
use crate::mem;
use crate::pipe::Pipe;
use crate::proc::FdSlot;
use crate::Cx;
use rump_abi::native::errno::{EBADF, EINVAL};
use rump_abi::native::flags::{
    FD_CLOEXEC, F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_GETFL, F_SETFD, F_SETFL, O_NONBLOCK, O_RDONLY, O_WRONLY,
};
use rump_abi::Errno;

impl Cx<'_> {
    /// The open file behind `fd`.
    pub fn file_of(&self, fd: i32) -> Result<FileId, Errno> {
        Ok(self.proc().fds.get(fd)?.file)
    }

    pub fn file(&self, fd: i32) -> Result<&OpenFile, Errno> {
        let id = self.file_of(fd)?;
        self.st.files.get(id).ok_or(EBADF)
    }

    pub fn file_mut(&mut self, fd: i32) -> Result<&mut OpenFile, Errno> {
        let id = self.file_of(fd)?;
        self.st.files.get_mut(id).ok_or(EBADF)
    }

    /// Gives a new open file the lowest free fd ≥ `min`; ENOMEM past the
    /// memory budget (`file_unref` gives the charge back).
    pub fn install(&mut self, file: OpenFile, min: usize, cloexec: bool) -> Result<i32, Errno> {
        let limit = self.config().max_fds;
        let fd = self.proc().fds.lowest_free(min, limit)?;
        self.st.mem.charge(mem::FILE_BYTES)?;
        let id = self.st.files.insert(file);
        self.proc_mut().fds.set(fd, FdSlot { file: id, cloexec });
        Ok(fd)
    }

    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        let pid = self.pid;
        self.st.close_fd(pid, fd)
    }

    /// dup and F_DUPFD: the lowest free fd ≥ `min` sharing `fd`'s open file.
    pub fn dup_min(&mut self, fd: i32, min: i32, cloexec: bool) -> Result<i32, Errno> {
        let file = self.file_of(fd)?;
        let limit = self.config().max_fds;
        let min = usize::try_from(min).map_err(|_| EINVAL)?;
        if min >= limit {
            return Err(EINVAL);
        }
        let new = self.proc().fds.lowest_free(min, limit)?;
        self.st.file_ref(file);
        self.proc_mut().fds.set(new, FdSlot { file, cloexec });
        Ok(new)
    }

    /// dup2/dup3: `to` refers to `from`'s open file, closing what was there.
    pub fn dup_to(&mut self, from: i32, to: i32, cloexec: bool) -> Result<i32, Errno> {
        let file = self.file_of(from)?;
        if to < 0 || to as usize >= self.config().max_fds {
            return Err(EBADF);
        }
        if from == to {
            return Ok(to);
        }
        self.st.file_ref(file);
        if let Some(old) = self.proc_mut().fds.set(to, FdSlot { file, cloexec }) {
            let pid = self.pid;
            self.st.fd_dropped(pid, to, old.file);
        }
        Ok(to)
    }

    /// fcntl with native command numbers; `arg` is the raw third argument.
    pub fn fcntl(&mut self, fd: i32, cmd: i32, arg: u64) -> Result<i64, Errno> {
        match cmd {
            F_DUPFD => self.dup_min(fd, arg as i32, false).map(i64::from),
            F_DUPFD_CLOEXEC => self.dup_min(fd, arg as i32, true).map(i64::from),
            F_GETFD => Ok(if self.proc().fds.get(fd)?.cloexec { FD_CLOEXEC as i64 } else { 0 }),
            F_SETFD => {
                self.proc_mut().fds.get_mut(fd)?.cloexec = arg as u32 & FD_CLOEXEC != 0;
                Ok(0)
            }
            F_GETFL => Ok(self.file(fd)?.flags as i64),
            F_SETFL => {
                let f = self.file_mut(fd)?;
                f.flags = (f.flags & !SETFL_MASK) | (arg as u32 & SETFL_MASK);
                Ok(0)
            }
            _ => Err(EINVAL),
        }
    }

    /// A new pipe: (read fd, write fd). `flags` may hold O_NONBLOCK.
    pub fn pipe(&mut self, flags: u32, cloexec: bool) -> Result<(i32, i32), Errno> {
        let id = self.st.alloc_pipe(Pipe::default())?;
        let status = flags & O_NONBLOCK;
        let r = self.install(OpenFile::new(FileKind::Pipe { id, fifo: None }, O_RDONLY | status), 0, cloexec);
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                self.st.free_pipe(id);
                return Err(e);
            }
        };
        match self.install(OpenFile::new(FileKind::Pipe { id, fifo: None }, O_WRONLY | status), 0, cloexec) {
            Ok(w) => Ok((r, w)),
            Err(e) => {
                // The write end never existed: drop its count before closing r.
                if let Some(p) = self.st.pipes.get_mut(id) {
                    p.writers = 0;
                }
                self.close(r)?;
                Err(e)
            }
        }
    }
}
