//! File locks as calls see them: POSIX record locks (owned by the
//! process), OFD locks (owned by the open file) and flock(2) locks (owned
//! by the open file, apart from record locks), on any object an fd can
//! name, shared by every process of the kernel (`table` keeps them).
//!
//! The cores take native values and each emulation's fcntl and flock
//! translate in and out. Release follows Linux: a process's POSIX locks
//! on an object go with *any* close of an fd of it by that process (and
//! so at exit, a dead remote client included); OFD and flock locks go with
//! the open file's last close. A blocked F_SETLKW or flock sleeps on the
//! object's wait channel and so ends with EINTR when a signal or a cancel
//! interrupts it.

pub mod table;

use crate::event::Source;
use crate::file::{FileId, FileKind};
use crate::proc::Pid;
use crate::{Cx, State};
use rump_abi::native::errno::{EAGAIN, EBADF, EDEADLK, EINVAL, EOVERFLOW};
use rump_abi::native::flags::{LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN, O_PATH, SEEK_CUR, SEEK_END, SEEK_SET};
use rump_abi::pod::Pod;
use rump_abi::usermem::{read_pod, write_pod};
use rump_abi::{Errno, SysResult, UserAddr};
pub use table::Locks;
use table::{Kind, Owner, Range, TO_EOF};

/// flock(2)'s LOCK_MAND, which Linux ignores (with success) since 5.19.
const LOCK_MAND: i32 = 32;

/// Who a record-lock call acts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordOwner {
    /// F_GETLK, F_SETLK, F_SETLKW: the calling process.
    Process,
    /// F_OFD_*: the open file behind the fd.
    OpenFile,
}

/// A struct flock's l_type, whatever its emulation's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockType {
    Read,
    Write,
    Unlock,
    /// A number that is none of these (EINVAL, in its turn).
    Unknown,
}

impl LockType {
    fn kind(self) -> Result<Option<Kind>, Errno> {
        match self {
            LockType::Read => Ok(Some(Kind::Read)),
            LockType::Write => Ok(Some(Kind::Write)),
            LockType::Unlock => Ok(None),
            LockType::Unknown => Err(EINVAL),
        }
    }
}

/// A struct flock in native terms, whichever layout it came in. F_GETLK
/// writes back the conflicting lock (whence SEEK_SET, `len` 0 meaning
/// "to the end", `pid` the holder's as its host sees it, -1 for an OFD
/// lock), or only `ty` = Unlock if there is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flock {
    pub ty: LockType,
    pub whence: i32,
    pub start: i64,
    pub len: i64,
    pub pid: Pid,
}

/// An emulation's struct flock layout: how it reads as a `Flock`, and
/// how F_GETLK's answer goes back into it.
pub trait FlockLayout: Pod {
    fn to_flock(&self) -> Flock;
    /// Writes `f` in; only the type when it is Unlock (nothing conflicts).
    fn set_from(&mut self, f: &Flock);
}

impl Cx<'_> {
    /// F_GETLK with the struct flock at `addr`.
    pub fn getlk_at<T: FlockLayout>(&mut self, fd: i32, who: RecordOwner, addr: UserAddr) -> SysResult {
        let mut raw: T = read_pod(self.mem, addr)?;
        let mut f = raw.to_flock();
        self.fcntl_getlk(fd, who, &mut f)?;
        raw.set_from(&f);
        write_pod(self.mem, addr, &raw).map(|_| 0)
    }

    /// F_SETLK (F_SETLKW with `wait`) with the struct flock at `addr`.
    pub fn setlk_at<T: FlockLayout>(&mut self, fd: i32, who: RecordOwner, wait: bool, addr: UserAddr) -> SysResult {
        let raw: T = read_pod(self.mem, addr)?;
        self.fcntl_setlk(fd, who, wait, &raw.to_flock()).map(|_| 0)
    }

    /// The open file behind `fd` and the object its locks sit on. An
    /// O_PATH fd takes no locks (EBADF, as on Linux).
    fn lock_target(&self, fd: i32) -> Result<(FileId, Source), Errno> {
        let id = self.file_of(fd)?;
        let f = self.file(fd)?;
        if f.flags & O_PATH != 0 {
            return Err(EBADF);
        }
        Ok((id, State::source_of(f.kind)))
    }

    /// The bytes a struct flock names, from `whence` (native SEEK_*),
    /// `start` and `len` (0: to the end; negative: the bytes before
    /// `start`), checked as Linux checks them.
    fn lock_range(&mut self, fd: i32, whence: i32, start: i64, len: i64) -> Result<Range, Errno> {
        let f = self.file(fd)?;
        let base = match whence {
            SEEK_SET => 0,
            SEEK_CUR => f.offset as i64,
            SEEK_END => match f.kind {
                FileKind::Vnode(vn) => self.st.mounts.fs(vn.mnt).getattr(vn.node)?.size as i64,
                _ => 0,
            },
            _ => return Err(EINVAL),
        };
        let first = base.checked_add(start).ok_or(EOVERFLOW)?;
        if first < 0 {
            return Err(EINVAL);
        }
        match len {
            0 => Ok(Range { start: first, end: TO_EOF }),
            l if l > 0 => Ok(Range { start: first, end: first.checked_add(l - 1).ok_or(EOVERFLOW)? }),
            l => {
                let from = first.checked_add(l).filter(|&s| s >= 0).ok_or(EINVAL)?;
                Ok(Range { start: from, end: first - 1 })
            }
        }
    }

    fn record_owner(&self, fd: i32, who: RecordOwner) -> Result<Owner, Errno> {
        Ok(match who {
            RecordOwner::Process => Owner::Process(self.pid),
            RecordOwner::OpenFile => Owner::File(self.file_of(fd)?),
        })
    }

    /// F_GETLK and F_OFD_GETLK: the first lock that would stand in the
    /// way of `fl`'s, checked in Linux's order: the fd (O_PATH is EBADF),
    /// the type (F_UNLCK is no question), the range, then an OFD query's
    /// l_pid, which must be 0.
    fn fcntl_getlk(&mut self, fd: i32, who: RecordOwner, fl: &mut Flock) -> Result<(), Errno> {
        let (_, src) = self.lock_target(fd)?;
        let kind = fl.ty.kind()?.ok_or(EINVAL)?;
        let range = self.lock_range(fd, fl.whence, fl.start, fl.len)?;
        if who == RecordOwner::OpenFile && fl.pid != 0 {
            return Err(EINVAL);
        }
        let owner = self.record_owner(fd, who)?;
        let Some(r) = self.st.locks.record_conflict(src, owner, kind, range) else {
            fl.ty = LockType::Unlock;
            return Ok(());
        };
        let pid = match r.owner {
            Owner::Process(p) => self.st.procs.get(&p).map_or(p, |p| p.host_pid),
            Owner::File(_) => -1,
        };
        let len = if r.range.end == TO_EOF { 0 } else { r.range.end - r.range.start + 1 };
        let ty = if r.kind == Kind::Write { LockType::Write } else { LockType::Read };
        *fl = Flock { ty, whence: SEEK_SET, start: r.range.start, len, pid };
        Ok(())
    }

    /// F_SETLK, F_SETLKW and their OFD forms, checked in Linux's order:
    /// the fd, the range, the type, the access mode, then an OFD lock's
    /// l_pid, which must be 0.
    fn fcntl_setlk(&mut self, fd: i32, who: RecordOwner, wait: bool, fl: &Flock) -> Result<(), Errno> {
        self.lock_target(fd)?;
        let range = self.lock_range(fd, fl.whence, fl.start, fl.len)?;
        let kind = fl.ty.kind()?;
        self.lock_access(fd, kind)?;
        if who == RecordOwner::OpenFile && fl.pid != 0 {
            return Err(EINVAL);
        }
        self.record_lock_set(fd, who, kind, range, wait)
    }

    /// EBADF unless `fd` was opened for reading to take a read lock, for
    /// writing to take a write lock.
    fn lock_access(&self, fd: i32, kind: Option<Kind>) -> Result<(), Errno> {
        let f = self.file(fd)?;
        let allowed = match kind {
            Some(Kind::Read) => f.readable(),
            Some(Kind::Write) => f.writable(),
            None => true,
        };
        allowed.then_some(()).ok_or(EBADF)
    }

    /// F_SETLK and F_SETLKW: takes (`Some(kind)`) or releases (`None`)
    /// `range`. A conflict is EAGAIN, or with `wait` a sleep until the
    /// holder lets go (EINTR if interrupted, EDEADLK if the holder waits,
    /// through others, for this process).
    fn record_lock_set(
        &mut self,
        fd: i32,
        who: RecordOwner,
        kind: Option<Kind>,
        range: Range,
        wait: bool,
    ) -> Result<(), Errno> {
        loop {
            let (_, src) = self.lock_target(fd)?;
            self.lock_access(fd, kind)?;
            let owner = self.record_owner(fd, who)?;
            let Some(k) = kind else {
                self.st.locks.set_record(src, owner, None, range);
                return Ok(());
            };
            let Some(blocker) = self.st.locks.record_conflict(src, owner, k, range) else {
                self.st.locks.set_record(src, owner, kind, range);
                return Ok(());
            };
            if !wait {
                return Err(EAGAIN);
            }
            // Only POSIX locks of both sides take part in the deadlock
            // search, as on Linux.
            let holder = match (owner, blocker.owner) {
                (Owner::Process(me), Owner::Process(h)) => {
                    if self.st.locks.would_deadlock(me, h) {
                        return Err(EDEADLK);
                    }
                    Some((me, h))
                }
                _ => None,
            };
            self.sleep_for_lock(src, holder)?;
        }
    }

    /// Sleeps until `src`'s locks change; `holder` is the (waiter, holder)
    /// pair to record for the deadlock search meanwhile.
    fn sleep_for_lock(&mut self, src: Source, holder: Option<(Pid, Pid)>) -> Result<(), Errno> {
        let chan = self.st.locks.chan(src);
        if let Some((w, h)) = holder {
            self.st.locks.start_waiting(w, h);
        }
        let slept = self.sleep(&chan);
        if let Some((w, h)) = holder {
            self.st.locks.stop_waiting(w, h);
        }
        slept
    }

    /// flock(2) with native LOCK_* bits (Linux's are the same). As on
    /// Linux, changing a lock's kind first drops the old one, so a
    /// conversion that fails leaves none.
    pub fn flock(&mut self, fd: i32, op: i32) -> Result<(), Errno> {
        if op & LOCK_MAND != 0 {
            return Ok(());
        }
        let exclusive = match op & !LOCK_NB {
            LOCK_SH => Some(false),
            LOCK_EX => Some(true),
            LOCK_UN => None,
            _ => return Err(EINVAL),
        };
        loop {
            let (file, src) = self.lock_target(fd)?;
            let f = self.file(fd)?;
            if exclusive.is_some() && !f.readable() && !f.writable() {
                return Err(EBADF);
            }
            match self.st.locks.flock_held(src, file) {
                Some(held) if Some(held) == exclusive => return Ok(()),
                Some(_) => self.st.locks.release_flock(src, file),
                None => {}
            }
            let Some(exclusive) = exclusive else { return Ok(()) };
            if !self.st.locks.flock_conflict(src, file, exclusive) {
                self.st.locks.add_flock(src, file, exclusive);
                return Ok(());
            }
            if op & LOCK_NB != 0 {
                return Err(EAGAIN);
            }
            self.sleep_for_lock(src, None)?;
        }
    }
}

impl State {
    /// Process `pid` closed an fd of open file `file`: its POSIX locks on
    /// that object go, whatever fd or open file took them.
    pub(crate) fn locks_fd_closed(&mut self, pid: Pid, file: FileId) {
        if let Some(f) = self.files.get(file) {
            self.locks.release_records(Self::source_of(f.kind), Owner::Process(pid));
        }
    }

    /// Open file `file` closed for the last time: its OFD and flock locks go.
    pub(crate) fn locks_file_released(&mut self, file: FileId, kind: FileKind) {
        let src = Self::source_of(kind);
        self.locks.release_records(src, Owner::File(file));
        self.locks.release_flock(src, file);
    }
}
