//! Calls that make, copy and describe fds: open, close, dup, fcntl, pipe.

use super::at::path;
use super::flags::{self, F_GETPIPE_SZ};
use crate::file::FileKind;
use crate::lock::{Flock, FlockLayout, LockType, RecordOwner};
use crate::pipe::PIPE_CAPACITY;
use crate::Cx;
use rump_abi::linux::flags as l;
use rump_abi::linux::sys::args::*;
use rump_abi::linux::types::flock;
use rump_abi::native::errno::{EBADF, EINVAL};
use rump_abi::native::flags as n;
use rump_abi::{SysResult, UserAddr};

/// Flags first, then the path: Linux rejects bad flags before it looks at
/// the path pointer.
fn open(cx: &mut Cx, dirfd: i32, addr: UserAddr, lflags: u32, mode: u32) -> SysResult {
    let native = flags::open_to_native(lflags)?;
    let p = path(cx, addr)?;
    cx.open_at(dirfd, &p, native, mode & 0o7777).map(i64::from)
}

pub fn linux_sys_open(cx: &mut Cx, a: linux_sys_open_args) -> SysResult {
    open(cx, l::AT_FDCWD, a.filename, a.flags as u32, a.mode)
}

pub fn linux_sys_openat(cx: &mut Cx, a: linux_sys_openat_args) -> SysResult {
    open(cx, a.dfd, a.filename, a.flags as u32, a.mode)
}

pub fn linux_sys_creat(cx: &mut Cx, a: linux_sys_creat_args) -> SysResult {
    open(cx, l::AT_FDCWD, a.pathname, l::O_CREAT | l::O_WRONLY | l::O_TRUNC, a.mode)
}

pub fn linux_sys_close(cx: &mut Cx, a: linux_sys_close_args) -> SysResult {
    cx.close(a.fd as i32).map(|_| 0)
}

pub fn linux_sys_dup(cx: &mut Cx, a: linux_sys_dup_args) -> SysResult {
    cx.dup_min(a.fildes as i32, 0, false).map(i64::from)
}

pub fn linux_sys_dup2(cx: &mut Cx, a: linux_sys_dup2_args) -> SysResult {
    cx.dup_to(a.oldfd as i32, a.newfd as i32, false).map(i64::from)
}

/// Unlike dup2, dup3 refuses equal fds, and takes only O_CLOEXEC.
pub fn linux_sys_dup3(cx: &mut Cx, a: linux_sys_dup3_args) -> SysResult {
    let fl = a.flags as u32;
    if fl & !l::O_CLOEXEC != 0 || a.oldfd == a.newfd {
        return Err(EINVAL);
    }
    cx.dup_to(a.oldfd as i32, a.newfd as i32, fl & l::O_CLOEXEC != 0).map(i64::from)
}

/// F_GETFL in Linux's bits. Only files opened by path (FIFOs included)
/// have O_LARGEFILE; pipe(2) ends and epoll fds do not.
fn get_fl(cx: &mut Cx, fd: i32) -> SysResult {
    let native = cx.fcntl(fd, n::F_GETFL, 0)? as u32;
    let by_path = matches!(cx.file(fd)?.kind, FileKind::Vnode(_) | FileKind::Pipe { fifo: Some(_), .. });
    Ok(flags::status_to_linux(native, by_path) as i64)
}

fn pipe_size(cx: &Cx, fd: i32) -> SysResult {
    match cx.file(fd)?.kind {
        FileKind::Pipe { .. } => Ok(PIPE_CAPACITY as i64),
        _ => Err(EBADF),
    }
}

/// Record locks (`crate::lock`) in Linux's struct flock; leases, owners,
/// signals, notify and seals are EINVAL as for an unknown command.
pub fn linux_sys_fcntl(cx: &mut Cx, a: linux_sys_fcntl_args) -> SysResult {
    let (fd, cmd, arg) = (a.fd as i32, a.cmd as i32, a.arg.0);
    // A bad fd is EBADF whatever the command, as on Linux.
    cx.file_of(fd)?;
    match cmd {
        // Linux takes the low int of the argument as F_DUPFD's floor, as
        // the core does.
        l::F_DUPFD => cx.fcntl(fd, n::F_DUPFD, arg),
        l::F_DUPFD_CLOEXEC => cx.fcntl(fd, n::F_DUPFD_CLOEXEC, arg),
        l::F_GETFD => cx.fcntl(fd, n::F_GETFD, 0),
        l::F_SETFD => cx.fcntl(fd, n::F_SETFD, arg),
        l::F_GETFL => get_fl(cx, fd),
        l::F_SETFL => cx.fcntl(fd, n::F_SETFL, flags::setfl_to_native(arg as u32) as u64),
        F_GETPIPE_SZ => pipe_size(cx, fd),
        l::F_GETLK => cx.getlk_at::<flock>(fd, RecordOwner::Process, a.arg),
        l::F_OFD_GETLK => cx.getlk_at::<flock>(fd, RecordOwner::OpenFile, a.arg),
        l::F_SETLK | l::F_SETLKW => cx.setlk_at::<flock>(fd, RecordOwner::Process, cmd == l::F_SETLKW, a.arg),
        l::F_OFD_SETLK | l::F_OFD_SETLKW => {
            cx.setlk_at::<flock>(fd, RecordOwner::OpenFile, cmd == l::F_OFD_SETLKW, a.arg)
        }
        _ => Err(EINVAL),
    }
}

impl FlockLayout for flock {
    fn to_flock(&self) -> Flock {
        let ty = match self.l_type {
            l::F_RDLCK => LockType::Read,
            l::F_WRLCK => LockType::Write,
            l::F_UNLCK => LockType::Unlock,
            _ => LockType::Unknown,
        };
        Flock { ty, whence: self.l_whence.into(), start: self.l_start, len: self.l_len, pid: self.l_pid }
    }

    fn set_from(&mut self, f: &Flock) {
        self.l_type = match f.ty {
            LockType::Read => l::F_RDLCK,
            LockType::Write => l::F_WRLCK,
            _ => l::F_UNLCK,
        };
        if f.ty != LockType::Unlock {
            (self.l_whence, self.l_start, self.l_len, self.l_pid) = (f.whence as i16, f.start, f.len, f.pid);
        }
    }
}

pub fn linux_sys_flock(cx: &mut Cx, a: linux_sys_flock_args) -> SysResult {
    cx.flock(a.fd as i32, a.cmd as i32).map(|_| 0)
}

/// Both fds go out as an int[2]; if that faults they are closed again.
fn pipe(cx: &mut Cx, fildes: UserAddr, lflags: i32) -> SysResult {
    let (status, cloexec) = flags::pipe_flags(lflags)?;
    let (r, w) = cx.pipe(status, cloexec)?;
    let mut fds = [0u8; 8];
    fds[..4].copy_from_slice(&r.to_ne_bytes());
    fds[4..].copy_from_slice(&w.to_ne_bytes());
    if let Err(e) = cx.mem.copy_out(fildes, &fds) {
        cx.close(r)?;
        cx.close(w)?;
        return Err(e);
    }
    Ok(0)
}

pub fn linux_sys_pipe(cx: &mut Cx, a: linux_sys_pipe_args) -> SysResult {
    pipe(cx, a.fildes, 0)
}

pub fn linux_sys_pipe2(cx: &mut Cx, a: linux_sys_pipe2_args) -> SysResult {
    pipe(cx, a.fildes, a.flags)
}
