//! Moving bytes: read, write, their positioned and vectored forms, lseek,
//! fsync and the generic ioctls, for files and pipes.

use crate::event::{Flavor, Hint, QueueId, Source, Wake};
use crate::file::FileKind;
use crate::pipe::PipeId;
use crate::syscalls::sock::{MsgFlags, Payload};
use crate::usermem::read_pod;
use crate::vfs::VType;
use crate::Cx;
use rump_abi::native::errno::{EAGAIN, EBADF, EINVAL, EISDIR, ENOTTY, EPIPE, ESPIPE};
use rump_abi::native::flags::{
    NOTE_EXTEND, NOTE_READ, NOTE_WRITE, O_APPEND, O_NONBLOCK, POLLIN, POLLOUT, POLLRDNORM, SEEK_CUR, SEEK_END, SEEK_SET,
};
use rump_abi::native::types::iovec;
use rump_abi::{Errno, UserAddr};

/// The most one call moves, as on Linux (MAX_RW_COUNT).
pub const MAX_RW: usize = 0x7fff_f000;
/// The most iovecs one call takes.
pub const IOV_MAX: usize = 1024;

/// The ioctls every file answers, whatever the emulation's numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ioctl {
    /// Bytes ready to read, as an int at the argument.
    FionRead,
    /// Set or clear O_NONBLOCK from an int at the argument.
    FionBio,
    FioClex,
    FioNclex,
    /// Anything else: not a terminal, not a device.
    Other,
}

impl Cx<'_> {
    /// How an event queue's fd refuses an operation it does not have.
    fn queue_error(&self, q: QueueId, refuse: fn(Flavor) -> Errno) -> Errno {
        self.st.events.flavor(q).map_or(EBADF, refuse)
    }

    pub fn read(&mut self, fd: i32, buf: UserAddr, len: usize) -> Result<usize, Errno> {
        self.read_at(fd, buf, len, None)
    }

    pub fn write(&mut self, fd: i32, buf: UserAddr, len: usize) -> Result<usize, Errno> {
        self.write_at(fd, buf, len, None)
    }

    /// read or pread: `at` is the explicit offset of pread.
    pub fn read_at(&mut self, fd: i32, buf: UserAddr, len: usize, at: Option<i64>) -> Result<usize, Errno> {
        let id = self.file_of(fd)?;
        let f = self.st.files.get(id).ok_or(EBADF)?;
        if !f.readable() {
            return Err(EBADF);
        }
        let len = len.min(MAX_RW);
        match f.kind {
            FileKind::Vnode(vn) => {
                let off = match at {
                    Some(o) => u64::try_from(o).map_err(|_| EINVAL)?,
                    None => f.offset,
                };
                let mem = self.mem;
                let fs = self.st.mounts.fs(vn.mnt);
                if fs.getattr(vn.node)?.vtype == VType::Dir {
                    return Err(EISDIR);
                }
                let n = fs.read_to(vn.node, off, mem, buf, len)?;
                if at.is_none() {
                    if let Some(f) = self.st.files.get_mut(id) {
                        f.offset = off + n as u64;
                    }
                }
                // Only a read that moved bytes counts, as Linux's IN_ACCESS.
                if n > 0 {
                    self.st.vnote_file(id, vn, NOTE_READ);
                }
                Ok(n)
            }
            FileKind::Pipe { id: p, .. } if at.is_none() => self.pipe_read(id, p, buf, len),
            FileKind::Pipe { .. } => Err(ESPIPE),
            FileKind::Queue(q) if self.st.events.flavor(q) == Some(Flavor::Inotify) => match at {
                None => self.inotify_read(id, q, buf, len),
                Some(_) => Err(ESPIPE),
            },
            FileKind::Queue(q) => Err(self.queue_error(q, Flavor::rw_error)),
            FileKind::Socket(_) if at.is_some() => Err(ESPIPE),
            FileKind::Socket(_) => self.sock_read(fd, buf, len),
        }
    }

    /// write or pwrite.
    pub fn write_at(&mut self, fd: i32, buf: UserAddr, len: usize, at: Option<i64>) -> Result<usize, Errno> {
        let id = self.file_of(fd)?;
        let f = self.st.files.get(id).ok_or(EBADF)?;
        if !f.writable() {
            return Err(EBADF);
        }
        let len = len.min(MAX_RW);
        match f.kind {
            FileKind::Vnode(vn) => {
                let (append, cur) = (f.flags & O_APPEND != 0, f.offset);
                // The size before matters only to a note waiting for NOTE_EXTEND.
                let watched = self.st.vnode_watched(vn, f.link.as_ref());
                let mem = self.mem;
                let fs = self.st.mounts.fs(vn.mnt);
                let size = if append || watched { fs.getattr(vn.node)?.size } else { 0 };
                // pwrite on an O_APPEND file appends too, as on Linux.
                let off = if append {
                    size
                } else {
                    match at {
                        Some(o) => u64::try_from(o).map_err(|_| EINVAL)?,
                        None => cur,
                    }
                };
                let n = fs.write_from(vn.node, off, mem, buf, len)?;
                if at.is_none() {
                    if let Some(f) = self.st.files.get_mut(id) {
                        f.offset = off + n as u64;
                    }
                }
                if watched && n > 0 {
                    self.st.vnote_file(id, vn, NOTE_WRITE | if off + n as u64 > size { NOTE_EXTEND } else { 0 });
                }
                Ok(n)
            }
            FileKind::Pipe { id: p, .. } if at.is_none() => self.pipe_write(id, p, buf, len),
            FileKind::Pipe { .. } => Err(ESPIPE),
            FileKind::Queue(q) => Err(self.queue_error(q, Flavor::rw_error)),
            FileKind::Socket(_) if at.is_some() => Err(ESPIPE),
            FileKind::Socket(_) => self.sock_send(fd, Payload::user(self.mem, buf, len), None, MsgFlags::default()),
        }
    }

    /// Reads the iovec array of readv/writev and friends.
    pub fn iovecs(&self, iov: UserAddr, count: i64) -> Result<Vec<(UserAddr, usize)>, Errno> {
        let count = usize::try_from(count).map_err(|_| EINVAL)?;
        if count > IOV_MAX {
            return Err(EINVAL);
        }
        let mut out = Vec::with_capacity(count);
        let mut total: usize = 0;
        for i in 0..count {
            let v: iovec = read_pod(self.mem, iov.offset(16 * i as u64).ok_or(EINVAL)?)?;
            let len = usize::try_from(v.iov_len).map_err(|_| EINVAL)?;
            total = total.checked_add(len).filter(|&t| t <= isize::MAX as usize).ok_or(EINVAL)?;
            out.push((UserAddr(v.iov_base), len));
        }
        Ok(out)
    }

    /// readv/preadv/writev/pwritev: one buffer after another, stopping at a
    /// short transfer; an error after some bytes moved reports the bytes.
    pub fn vectored(
        &mut self,
        fd: i32,
        iov: &[(UserAddr, usize)],
        at: Option<i64>,
        write: bool,
    ) -> Result<usize, Errno> {
        let mut done = 0usize;
        for &(base, len) in iov {
            let pos = at.map(|o| o + done as i64);
            let r = if write { self.write_at(fd, base, len, pos) } else { self.read_at(fd, base, len, pos) };
            match r {
                Ok(n) => {
                    done += n;
                    if n < len {
                        break;
                    }
                }
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        if iov.is_empty() {
            // Still validate the fd the way a zero-length read would.
            self.file_of(fd)?;
        }
        Ok(done)
    }

    pub fn lseek(&mut self, fd: i32, offset: i64, whence: i32) -> Result<i64, Errno> {
        let id = self.file_of(fd)?;
        let f = self.st.files.get(id).ok_or(EBADF)?;
        let FileKind::Vnode(vn) = f.kind else { return Err(ESPIPE) };
        let base = match whence {
            SEEK_SET => 0,
            SEEK_CUR => f.offset as i64,
            SEEK_END => self.st.mounts.fs(vn.mnt).getattr(vn.node)?.size as i64,
            _ => return Err(EINVAL),
        };
        let new = base.checked_add(offset).filter(|&n| n >= 0).ok_or(EINVAL)?;
        if let Some(f) = self.st.files.get_mut(id) {
            f.offset = new as u64;
        }
        Ok(new)
    }

    /// fsync/fdatasync: memory file systems have nothing to flush; pipes
    /// cannot be synced.
    pub fn fsync(&mut self, fd: i32) -> Result<(), Errno> {
        match self.file(fd)?.kind {
            FileKind::Vnode(_) => Ok(()),
            _ => Err(EINVAL),
        }
    }

    /// The generic ioctls; `arg` points at an int where one is used.
    pub fn ioctl(&mut self, fd: i32, cmd: Ioctl, arg: UserAddr) -> Result<i64, Errno> {
        let id = self.file_of(fd)?;
        let f = self.st.files.get(id).ok_or(EBADF)?;
        let (kind, offset) = (f.kind, f.offset);
        match cmd {
            Ioctl::FionRead => {
                // A file read past its end has a negative count, an int
                // wrapped from the 64-bit difference, as on Linux and NetBSD.
                let n = match kind {
                    FileKind::Vnode(vn) => {
                        let a = self.st.mounts.fs(vn.mnt).getattr(vn.node)?;
                        if a.vtype != VType::Reg {
                            return Err(ENOTTY);
                        }
                        (a.size as i64).wrapping_sub(offset as i64) as i32
                    }
                    FileKind::Pipe { id: p, .. } => self.st.pipes.get(p).map_or(0, |p| p.len() as i32),
                    FileKind::Queue(q) if self.st.events.flavor(q) == Some(Flavor::Inotify) => {
                        self.inotify_pending_bytes(q) as i32
                    }
                    FileKind::Queue(q) => return Err(self.queue_error(q, Flavor::ioctl_error)),
                    FileKind::Socket(s) => self.st.net.readable_bytes(s) as i32,
                };
                self.mem.copy_out(arg, &n.to_ne_bytes())?;
                Ok(0)
            }
            Ioctl::FionBio => {
                let on: i32 = read_pod(self.mem, arg)?;
                if let Some(f) = self.st.files.get_mut(id) {
                    f.flags = if on != 0 { f.flags | O_NONBLOCK } else { f.flags & !O_NONBLOCK };
                }
                Ok(0)
            }
            Ioctl::FioClex | Ioctl::FioNclex => {
                self.proc_mut().fds.get_mut(fd)?.cloexec = cmd == Ioctl::FioClex;
                Ok(0)
            }
            Ioctl::Other => match kind {
                FileKind::Queue(q) => Err(self.queue_error(q, Flavor::ioctl_error)),
                _ => Err(ENOTTY),
            },
        }
    }

    /// Reads from a pipe. Writers wake when bytes leave; epoll writers
    /// only when the pipe was full (Linux's `was_full`).
    fn pipe_read(&mut self, file: usize, id: PipeId, buf: UserAddr, len: usize) -> Result<usize, Errno> {
        if len == 0 {
            return Ok(0);
        }
        loop {
            let nonblock = self.st.files.get(file).ok_or(EBADF)?.nonblocking();
            let st = &mut *self.st;
            let p = st.pipes.get_mut(id).ok_or(EBADF)?;
            if !p.is_empty() {
                let was_full = p.is_full();
                let mem = self.mem;
                let pieces = p.front(len);
                mem.copy_out_pieces(buf, &pieces)?;
                let n = pieces[0].len() + pieces[1].len();
                p.consume(n);
                p.wchan.notify_all();
                let wake = if was_full { Wake::Key(POLLOUT) } else { Wake::None };
                st.knote(Source::Pipe(id), Hint::wake(wake));
                return Ok(n);
            }
            if p.writers == 0 {
                return Ok(0);
            }
            if nonblock {
                return Err(EAGAIN);
            }
            let chan = p.rchan.clone();
            self.sleep(&chan)?;
        }
    }

    /// Writes to a pipe, as Linux's page accounting allows (see `pipe`).
    /// Every write, even one that fails, wakes epoll readers: Linux does
    /// for pipes anyone polls.
    fn pipe_write(&mut self, file: usize, id: PipeId, buf: UserAddr, len: usize) -> Result<usize, Errno> {
        if len == 0 {
            return Ok(0);
        }
        let r = self.pipe_write_all(file, id, buf, len);
        self.st.knote(Source::Pipe(id), Hint::wake(Wake::Key(POLLIN | POLLRDNORM)));
        r
    }

    fn pipe_write_all(&mut self, file: usize, id: PipeId, buf: UserAddr, len: usize) -> Result<usize, Errno> {
        let mut done = 0;
        // Only a write's first try may top up the last page, as on Linux.
        let mut first = true;
        loop {
            let nonblock = self.st.files.get(file).ok_or(EBADF)?.nonblocking();
            let st = &mut *self.st;
            let p = st.pipes.get_mut(id).ok_or(EBADF)?;
            if p.readers == 0 {
                return if done > 0 { Ok(done) } else { Err(EPIPE) };
            }
            let n = p.room_for(len - done, first);
            if n > 0 {
                let mem = self.mem;
                let from = buf.offset(done as u64).ok_or(EINVAL)?;
                mem.with_in(from, n, &mut |src| {
                    p.push(src, first);
                    Ok(n)
                })?;
                done += n;
                first = false;
                p.rchan.notify_all();
                if done == len {
                    return Ok(done);
                }
                continue;
            }
            if nonblock {
                return if done > 0 { Ok(done) } else { Err(EAGAIN) };
            }
            first = false;
            let chan = p.wchan.clone();
            // Readers must hear of what went in before this writer sleeps.
            st.knote(Source::Pipe(id), Hint::wake(Wake::Key(POLLIN | POLLRDNORM)));
            // Interrupted after some bytes went in: the write returns them.
            if let Err(e) = self.sleep(&chan) {
                return if done > 0 { Ok(done) } else { Err(e) };
            }
        }
    }
}
