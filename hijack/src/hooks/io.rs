//! File I/O: the open family (with the `_2` fortify entries and the `64`
//! names), read and write in all their forms, lseek, close and the dup
//! family, fcntl (record locks included), flock and lockf, sync and
//! truncate calls, and the calls that copy between two fds, which fail
//! across kernels so tools fall back to read/write.
//! A number the program closes or dups onto is the program's: the
//! library's own fd there steps aside first (`rumpclient::ownfd`), and a
//! close_range leaves the library's own out.
//!
//! The variadic `open`, `openat` and `fcntl` take their optional argument
//! as a plain third (fourth) parameter: on the x86-64 and AArch64 Linux
//! ABIs a variadic argument arrives where that parameter would.

use crate::backend::{self, Backend};
use crate::fdmap;
use crate::hooks::host_close;
use crate::host::{check, guard, sys};
use crate::route::RumpPath;
use crate::{by_fd, by_path};
use libc::{c_char, c_int, c_uint, c_void, iovec, mode_t, off64_t, off_t, size_t, ssize_t};
use rump_abi::linux::sys as rump;
use rump_abi::{ArgDesc, Errno, Marshal, SyscallDesc};
use rump_kernel::vfs::mapping::MapKind;
use rumpclient::ownfd;
use std::os::fd::IntoRawFd;

crate::real_fns! {
    fn open(path: *const c_char, flags: c_int, mode: mode_t) -> c_int;
    fn open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int;
    fn __open_2(path: *const c_char, flags: c_int) -> c_int;
    fn __open64_2(path: *const c_char, flags: c_int) -> c_int;
    fn openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int;
    fn openat64(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int;
    fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int;
    fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int;
    fn creat(path: *const c_char, mode: mode_t) -> c_int;
    fn creat64(path: *const c_char, mode: mode_t) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
    fn __read_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t;
    fn pread(fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t;
    fn pread64(fd: c_int, buf: *mut c_void, n: size_t, off: off64_t) -> ssize_t;
    fn __pread_chk(fd: c_int, buf: *mut c_void, n: size_t, off: off_t, buflen: size_t) -> ssize_t;
    fn __pread64_chk(fd: c_int, buf: *mut c_void, n: size_t, off: off64_t, buflen: size_t) -> ssize_t;
    fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
    fn preadv(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t) -> ssize_t;
    fn preadv64(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t) -> ssize_t;
    fn preadv2(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t, flags: c_int) -> ssize_t;
    fn preadv64v2(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t, flags: c_int) -> ssize_t;
    fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t;
    fn pwrite(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t;
    fn pwrite64(fd: c_int, buf: *const c_void, n: size_t, off: off64_t) -> ssize_t;
    fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
    fn pwritev(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t) -> ssize_t;
    fn pwritev64(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t) -> ssize_t;
    fn pwritev2(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t, flags: c_int) -> ssize_t;
    fn pwritev64v2(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t, flags: c_int) -> ssize_t;
    fn lseek(fd: c_int, off: off_t, whence: c_int) -> off_t;
    fn lseek64(fd: c_int, off: off64_t, whence: c_int) -> off64_t;
    fn close(fd: c_int) -> c_int;
    fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
    fn closefrom(low: c_int) -> ();
    fn dup(fd: c_int) -> c_int;
    fn dup2(old: c_int, new: c_int) -> c_int;
    fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    fn fsync(fd: c_int) -> c_int;
    fn fdatasync(fd: c_int) -> c_int;
    fn syncfs(fd: c_int) -> c_int;
    fn ftruncate(fd: c_int, len: off_t) -> c_int;
    fn ftruncate64(fd: c_int, len: off64_t) -> c_int;
    fn truncate(path: *const c_char, len: off_t) -> c_int;
    fn truncate64(path: *const c_char, len: off64_t) -> c_int;
    fn posix_fadvise(fd: c_int, off: off_t, len: off_t, advice: c_int) -> c_int;
    fn posix_fadvise64(fd: c_int, off: off64_t, len: off64_t, advice: c_int) -> c_int;
    fn posix_fallocate(fd: c_int, off: off_t, len: off_t) -> c_int;
    fn posix_fallocate64(fd: c_int, off: off64_t, len: off64_t) -> c_int;
    fn fallocate(fd: c_int, mode: c_int, off: off_t, len: off_t) -> c_int;
    fn fallocate64(fd: c_int, mode: c_int, off: off64_t, len: off64_t) -> c_int;
    fn copy_file_range(fd_in: c_int, off_in: *mut off64_t, fd_out: c_int, off_out: *mut off64_t, len: size_t, flags: c_uint) -> ssize_t;
    fn sendfile(out: c_int, fd_in: c_int, off: *mut off_t, n: size_t) -> ssize_t;
    fn sendfile64(out: c_int, fd_in: c_int, off: *mut off64_t, n: size_t) -> ssize_t;
    fn splice(fd_in: c_int, off_in: *mut off64_t, fd_out: c_int, off_out: *mut off64_t, len: size_t, flags: c_uint) -> ssize_t;
    fn tee(fd_in: c_int, fd_out: c_int, len: size_t, flags: c_uint) -> ssize_t;
    fn vmsplice(fd: c_int, iov: *const iovec, cnt: size_t, flags: c_uint) -> ssize_t;
    fn flock(fd: c_int, op: c_int) -> c_int;
    fn lockf(fd: c_int, cmd: c_int, len: off_t) -> c_int;
    fn lockf64(fd: c_int, cmd: c_int, len: off64_t) -> c_int;
    fn mmap(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off_t) -> *mut c_void;
    fn mmap64(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off64_t) -> *mut c_void;
}

// ---- open ----------------------------------------------------------------

/// Opens `p` in the kernel and shows the new fd to the program.
pub fn open_rump(k: &Backend, p: &RumpPath, flags: c_int, mode: mode_t) -> Result<c_int, Errno> {
    let r = rump::rump_sys_openat(k, p.dirfd, p.path.as_ptr(), flags, mode)?;
    show(k, r, flags & libc::O_CLOEXEC != 0)
}

/// Shows rump fd `r` under a placeholder, closing it if that fails.
pub fn show(k: &Backend, r: i32, cloexec: bool) -> Result<c_int, Errno> {
    fdmap::install(r, cloexec).inspect_err(|_| {
        let _ = rump::rump_sys_close(k, r as u32);
    })
}

crate::hook! {
    Path fn open | open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| open_rump(k, &p, flags, mode), unsafe { host!(path, flags, mode) })
    }

    Path fn __open_2 | __open64_2(path: *const c_char, flags: c_int) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| open_rump(k, &p, flags, 0), unsafe { host!(path, flags) })
    }

    Path fn openat | openat64(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int;
    {
        by_path!(dirfd, path, |k, p| open_rump(k, &p, flags, mode), unsafe { host!(dirfd, path, flags, mode) })
    }

    Path fn __openat_2 | __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int;
    {
        by_path!(dirfd, path, |k, p| open_rump(k, &p, flags, 0), unsafe { host!(dirfd, path, flags) })
    }
}

const CREAT: c_int = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;

crate::hook! {
    Path fn creat | creat64(path: *const c_char, mode: mode_t) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| open_rump(k, &p, CREAT, mode), unsafe { host!(path, mode) })
    }
}

// ---- read and write ------------------------------------------------------

crate::hook! {
    Fd fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
        chk __read_chk(buflen: size_t) if n > buflen;
    {
        by_fd!(fd, |k, r| rump::rump_sys_read(k, r as u32, buf.cast(), n), {
            super::inotify::read(fd, buf, n).unwrap_or_else(|| unsafe { host!(fd, buf, n) })
        })
    }

    Fd fn pread | pread64(fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t;
        chk __pread_chk | __pread64_chk(buflen: size_t) if n > buflen;
    {
        by_fd!(fd, |k, r| rump::rump_sys_pread64(k, r as u32, buf.cast(), n, off), unsafe { host!(fd, buf, n, off) })
    }
}

/// readv/preadv/preadv2 on a rump fd, at `pos` or (`None`) the file
/// position; RWF_* flags are not supported by the kernel. On x86-64 the
/// whole offset travels in `pos_l` (a negative one is the kernel's EINVAL).
fn rump_readv(
    k: &Backend,
    r: i32,
    iov: *const iovec,
    cnt: c_int,
    pos: Option<i64>,
    flags: c_int,
) -> Result<isize, Errno> {
    let (fd, iov, cnt) = (r as u64, iov.cast(), cnt as u64);
    match (flags, pos) {
        (0, None) => rump::rump_sys_readv(k, fd, iov, cnt),
        (0, Some(off)) => rump::rump_sys_preadv(k, fd, iov, cnt, off as u64, 0),
        _ => Err(Errno(libc::EOPNOTSUPP)),
    }
}

fn rump_writev(
    k: &Backend,
    r: i32,
    iov: *const iovec,
    cnt: c_int,
    pos: Option<i64>,
    flags: c_int,
) -> Result<isize, Errno> {
    let (fd, iov, cnt) = (r as u64, iov.cast(), cnt as u64);
    sigpipe(match (flags, pos) {
        (0, None) => rump::rump_sys_writev(k, fd, iov, cnt),
        (0, Some(off)) => rump::rump_sys_pwritev(k, fd, iov, cnt, off as u64, 0),
        _ => Err(Errno(libc::EOPNOTSUPP)),
    })
}

/// preadv2/pwritev2's offset: -1 means the file position.
fn v2_pos(off: i64) -> Option<i64> {
    (off != -1).then_some(off)
}

crate::hook! {
    Fd fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
    {
        by_fd!(fd, |k, r| rump_readv(k, r, iov, cnt, None, 0), {
            super::inotify::readv(fd, iov, cnt).unwrap_or_else(|| unsafe { host!(fd, iov, cnt) })
        })
    }

    Fd fn preadv | preadv64(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t) -> ssize_t;
    {
        by_fd!(fd, |k, r| rump_readv(k, r, iov, cnt, Some(off), 0), unsafe { host!(fd, iov, cnt, off) })
    }

    Fd fn preadv2 | preadv64v2(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t, flags: c_int) -> ssize_t;
    {
        by_fd!(fd, |k, r| rump_readv(k, r, iov, cnt, v2_pos(off), flags), unsafe { host!(fd, iov, cnt, off, flags) })
    }
}

/// A write to a pipe nobody reads raises SIGPIPE at the writing thread
/// before failing with EPIPE, as Linux's does.
fn sigpipe<T>(r: Result<T, Errno>) -> Result<T, Errno> {
    if r.as_ref().is_err_and(|e| e.0 == libc::EPIPE) {
        // SAFETY: signalling our own thread.
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGPIPE) };
    }
    r
}

crate::hook! {
    Fd fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t;
    {
        by_fd!(fd, |k, r| sigpipe(rump::rump_sys_write(k, r as u32, buf.cast(), n)), unsafe { host!(fd, buf, n) })
    }

    Fd fn pwrite | pwrite64(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t;
    {
        by_fd!(fd, |k, r| rump::rump_sys_pwrite64(k, r as u32, buf.cast(), n, off), unsafe { host!(fd, buf, n, off) })
    }

    Fd fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
    {
        by_fd!(fd, |k, r| rump_writev(k, r, iov, cnt, None, 0), unsafe { host!(fd, iov, cnt) })
    }

    Fd fn pwritev | pwritev64(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t) -> ssize_t;
    {
        by_fd!(fd, |k, r| rump_writev(k, r, iov, cnt, Some(off), 0), unsafe { host!(fd, iov, cnt, off) })
    }

    Fd fn pwritev2 | pwritev64v2(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t, flags: c_int) -> ssize_t;
    {
        by_fd!(fd, |k, r| rump_writev(k, r, iov, cnt, v2_pos(off), flags), unsafe { host!(fd, iov, cnt, off, flags) })
    }

    Fd fn lseek | lseek64(fd: c_int, off: off_t, whence: c_int) -> off_t;
    {
        by_fd!(fd, |k, r| rump::rump_sys_lseek(k, r as u32, off, whence as u32), unsafe { host!(fd, off, whence) })
    }
}

// ---- close and the dup family --------------------------------------------

/// Closes program fd `fd`, shown as rump fd `r`.
pub fn close_rump(k: &Backend, fd: c_int, r: i32) -> Result<c_int, Errno> {
    fdmap::forget(fd);
    host_close(fd);
    rump::rump_sys_close(k, r as u32)
}

crate::hook! {
    Fd fn close(fd: c_int) -> c_int;
    {
        by_fd!(fd, |k, r| close_rump(k, fd, r), {
            super::event::host_fd_closing(fd);
            unsafe { host!(fd) }
        })
    }
}

/// Closes (or marks close-on-exec) the rump fds shown in `first..=last`.
fn close_rump_range(first: u32, last: u32, cloexec: bool) {
    let Some(k) = backend::current() else { return };
    for (n, r) in fdmap::entries() {
        if (first..=last).contains(&(n as u32)) {
            if cloexec {
                let _ =
                    rump::rump_sys_fcntl(k, r as u32, libc::F_SETFD as u32, libc::FD_CLOEXEC as usize as *mut c_void);
            } else {
                fdmap::forget(n);
                let _ = rump::rump_sys_close(k, r as u32);
            }
        }
    }
}

/// The host's close_range over `first..=last` but the library's own fds.
fn close_host_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    let mut flags = flags;
    for (a, b) in ownfd::gaps(first, last) {
        // SAFETY: a range of numbers; flags as the program gave them.
        let r = unsafe { real::close_range(a, b, flags) };
        if r < 0 {
            return r;
        }
        // The first call unshared the table if asked; the rest use it.
        flags &= !(libc::CLOSE_RANGE_UNSHARE as c_int);
    }
    0
}

crate::hook! {
    Fds fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
    {
        if fdmap::any() && first <= last {
            close_rump_range(first, last, flags & libc::CLOSE_RANGE_CLOEXEC as c_int != 0);
        }
        if first > last {
            // SAFETY: the host reports EINVAL.
            return unsafe { host!(first, last, flags) };
        }
        close_host_range(first, last, flags)
    }

    Fds fn closefrom(low: c_int);
    {
        if fdmap::any() && low >= 0 {
            close_rump_range(low as u32, u32::MAX, false);
        }
        if low < 0 || close_host_range(low as c_uint, c_uint::MAX, 0) < 0 {
            unsafe { host!(low) }
        }
    }
}

/// Shows a duplicate of rump fd `r` at host number `n`, which the caller
/// has just made a copy of `old`'s placeholder; `cloexec` as asked.
fn dup_rump_onto(k: &Backend, r: i32, n: c_int, cloexec: bool) -> Result<c_int, Errno> {
    let cmd = if cloexec { libc::F_DUPFD_CLOEXEC } else { libc::F_DUPFD };
    let r2 = match rump::rump_sys_fcntl(k, r as u32, cmd as u32, std::ptr::null_mut()) {
        Ok(r2) => r2,
        Err(e) => {
            host_close(n);
            return Err(e);
        }
    };
    if let Some(was) = fdmap::set(n, r2) {
        let _ = rump::rump_sys_close(k, was as u32);
    }
    Ok(n)
}

/// dup/F_DUPFD of a rump fd: the host picks the number, as Linux would.
fn dup_rump_from(k: &Backend, fd: c_int, r: i32, min: c_int, cloexec: bool) -> Result<c_int, Errno> {
    let cmd = if cloexec { libc::F_DUPFD_CLOEXEC } else { libc::F_DUPFD };
    let n = sys(libc::SYS_fcntl, [fd as usize, cmd as usize, min as usize, 0])? as c_int;
    if n as usize >= fdmap::SLOTS {
        host_close(n);
        return Err(Errno(libc::EMFILE));
    }
    dup_rump_onto(k, r, n, cloexec)
}

crate::hook! {
    Fd fn dup(fd: c_int) -> c_int;
    {
        by_fd!(fd, |k, r| dup_rump_from(k, fd, r, 0, false), unsafe { host!(fd) })
    }
}

/// dup2/dup3 where `old` or `new` is a rump fd.
fn dup_to(old: c_int, new: c_int, cloexec: bool) -> Result<c_int, Errno> {
    if new < 0 || new as usize >= fdmap::SLOTS {
        return Err(Errno(libc::EBADF));
    }
    // `new` may not have been asked of the fd map (which moves ours away).
    ownfd::step_aside(new);
    let flags = if cloexec { libc::O_CLOEXEC } else { 0 };
    match fdmap::rump_fd(old) {
        Some(r) => {
            let k = backend::kernel()?;
            sys(libc::SYS_dup3, [old as usize, new as usize, flags as usize, 0])?;
            dup_rump_onto(k, r, new, cloexec)
        }
        None => {
            sys(libc::SYS_dup3, [old as usize, new as usize, flags as usize, 0])?;
            if let Some(was) = fdmap::forget(new) {
                let _ = rump::rump_sys_close(backend::kernel()?, was as u32);
            }
            Ok(new)
        }
    }
}

crate::hook! {
    Fd fn dup2(old: c_int, new: c_int) -> c_int;
    {
        if old == new {
            return by_fd!(
                old,
                |k, r| rump::rump_sys_fcntl(k, r as u32, libc::F_GETFD as u32, std::ptr::null_mut()).map(|_| new),
                unsafe { host!(old, new) }
            );
        }
        if fdmap::rump_fd(old).is_none() && fdmap::rump_fd(new).is_none() {
            return unsafe { host!(old, new) };
        }
        guard(|| dup_to(old, new, false))
    }

    Fd fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    {
        if old == new
            || flags & !libc::O_CLOEXEC != 0
            || (fdmap::rump_fd(old).is_none() && fdmap::rump_fd(new).is_none())
        {
            return unsafe { host!(old, new, flags) };
        }
        guard(|| dup_to(old, new, flags & libc::O_CLOEXEC != 0))
    }
}

/// fcntl on a rump fd: dups get a host number; FD_CLOEXEC is kept on both
/// sides so exec drops the placeholder and the rump fd together.
fn fcntl_rump(k: &Backend, fd: c_int, r: i32, cmd: c_int, arg: usize) -> Result<c_int, Errno> {
    match cmd {
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => dup_rump_from(k, fd, r, arg as c_int, cmd == libc::F_DUPFD_CLOEXEC),
        libc::F_SETFD => {
            let v = rump::rump_sys_fcntl(k, r as u32, cmd as u32, arg as *mut c_void)?;
            sys(libc::SYS_fcntl, [fd as usize, cmd as usize, arg, 0])?;
            Ok(v)
        }
        libc::F_GETLK | libc::F_SETLK | libc::F_SETLKW | libc::F_OFD_GETLK | libc::F_OFD_SETLK | libc::F_OFD_SETLKW => {
            fcntl_lock(k, r, cmd, arg as *mut c_void)
        }
        _ => rump::rump_sys_fcntl(k, r as u32, cmd as u32, arg as *mut c_void),
    }
}

crate::hook! {
    Fd fn fcntl | fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    {
        by_fd!(fd, |k, r| fcntl_rump(k, fd, r, cmd, arg), unsafe { host!(fd, cmd, arg) })
    }
}

// ---- sync, truncate, space -----------------------------------------------

crate::hook! {
    Fd fn fsync(fd: c_int) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_fsync(k, r as u32), unsafe { host!(fd) })
    }

    Fd fn fdatasync(fd: c_int) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_fdatasync(k, r as u32), unsafe { host!(fd) })
    }

    Fd fn syncfs(fd: c_int) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_fsync(k, r as u32), unsafe { host!(fd) })
    }

    Fd fn ftruncate | ftruncate64(fd: c_int, len: off_t) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_ftruncate(k, r as u32, len), unsafe { host!(fd, len) })
    }

    Path fn truncate | truncate64(path: *const c_char, len: off_t) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| truncate_rump(k, &p, len), unsafe { host!(path, len) })
    }
}

/// truncate by a routed path: the kernel's truncate takes no dirfd, so a
/// path relative to a rump dirfd goes through an open.
fn truncate_rump(k: &Backend, p: &RumpPath, len: i64) -> Result<c_int, Errno> {
    if p.dirfd == libc::AT_FDCWD {
        return rump::rump_sys_truncate(k, p.path.as_ptr(), len);
    }
    let r = rump::rump_sys_openat(k, p.dirfd, p.path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC, 0)?;
    let res = rump::rump_sys_ftruncate(k, r as u32, len);
    let _ = rump::rump_sys_close(k, r as u32);
    res
}

/// The file type of rump fd `r`.
fn rump_mode(k: &Backend, r: i32) -> Result<u32, Errno> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    rump::rump_sys_fstat(k, r as u32, (&mut st as *mut libc::stat).cast())?;
    Ok(st.st_mode)
}

/// posix_fadvise on a rump fd: advice only, after the checks Linux makes.
fn fadvise_rump(k: &Backend, r: i32, len: i64, advice: c_int) -> c_int {
    match rump_mode(k, r) {
        Err(e) => e.0,
        Ok(m) if m & libc::S_IFMT == libc::S_IFIFO => libc::ESPIPE,
        Ok(_) if !(0..=5).contains(&advice) || len < 0 => libc::EINVAL,
        Ok(_) => 0,
    }
}

/// Returns an errno value as posix_fadvise does, never setting errno.
fn errno_value(fd: c_int, rump: impl FnOnce(&Backend, i32) -> c_int, host: impl FnOnce() -> c_int) -> c_int {
    match fdmap::rump_fd(fd) {
        None => host(),
        Some(r) => backend::kernel().map_or_else(|e| e.0, |k| rump(k, r)),
    }
}

crate::hook! {
    Fd fn posix_fadvise | posix_fadvise64(
        fd: c_int,
        off: off_t,
        len: off_t,
        advice: c_int,
    ) -> c_int [panic = libc::EIO];
    {
        errno_value(fd, |k, r| fadvise_rump(k, r, len, advice), || unsafe { host!(fd, off, len, advice) })
    }
}

/// Space for `off..off+len` in a rump file: tmpfs allocates on write, so
/// this only has to make the file long enough (unless `keep_size`).
fn allocate_rump(k: &Backend, r: i32, off: i64, len: i64, keep_size: bool) -> Result<c_int, Errno> {
    if off < 0 || len <= 0 {
        return Err(Errno(libc::EINVAL));
    }
    // Linux checks the open mode before the file type.
    let fl = rump::rump_sys_fcntl(k, r as u32, libc::F_GETFL as u32, std::ptr::null_mut())?;
    if fl & libc::O_ACCMODE == libc::O_RDONLY {
        return Err(Errno(libc::EBADF));
    }
    let mode = rump_mode(k, r)?;
    match mode & libc::S_IFMT {
        libc::S_IFREG => {}
        libc::S_IFIFO => return Err(Errno(libc::ESPIPE)),
        libc::S_IFDIR => return Err(Errno(libc::EISDIR)),
        _ => return Err(Errno(libc::ENODEV)),
    }
    let end = off.checked_add(len).ok_or(Errno(libc::EFBIG))?;
    let size = rump::rump_sys_lseek(k, r as u32, 0, libc::SEEK_END as u32);
    let size = size?;
    // lseek moved the offset; fallocate must not.
    if !keep_size && end > size {
        rump::rump_sys_ftruncate(k, r as u32, end)?;
    }
    Ok(0)
}

/// lseek(SEEK_END) moves the offset; run `f` and put it back.
fn keeping_offset(k: &Backend, r: i32, f: impl FnOnce() -> Result<c_int, Errno>) -> Result<c_int, Errno> {
    let pos = rump::rump_sys_lseek(k, r as u32, 0, libc::SEEK_CUR as u32)?;
    let res = f();
    rump::rump_sys_lseek(k, r as u32, pos, libc::SEEK_SET as u32)?;
    res
}

crate::hook! {
    Fd fn posix_fallocate | posix_fallocate64(fd: c_int, off: off_t, len: off_t) -> c_int [panic = libc::EIO];
    {
        errno_value(
            fd,
            |k, r| keeping_offset(k, r, || allocate_rump(k, r, off, len, false)).err().map_or(0, |e| e.0),
            || unsafe { host!(fd, off, len) },
        )
    }
}

fn fallocate_rump(k: &Backend, r: i32, mode: c_int, off: i64, len: i64) -> Result<c_int, Errno> {
    match mode {
        0 => keeping_offset(k, r, || allocate_rump(k, r, off, len, false)),
        libc::FALLOC_FL_KEEP_SIZE => keeping_offset(k, r, || allocate_rump(k, r, off, len, true)),
        _ => Err(Errno(libc::EOPNOTSUPP)),
    }
}

crate::hook! {
    Fd fn fallocate | fallocate64(fd: c_int, mode: c_int, off: off_t, len: off_t) -> c_int;
    {
        by_fd!(fd, |k, r| fallocate_rump(k, r, mode, off, len), unsafe { host!(fd, mode, off, len) })
    }
}

// ---- copies between fds: fail when a rump fd is involved -------------------

/// Whether either fd is a rump fd; the copy calls then fail with `errno`
/// (what Linux says when it cannot copy between the two), and the tools
/// fall back to read and write.
fn refuse_copy(a: c_int, b: c_int, errno: i32) -> bool {
    let rump = fdmap::rump_fd(a).is_some() || fdmap::rump_fd(b).is_some();
    if rump {
        crate::host::set_errno(errno);
    }
    rump
}

crate::hook! {
    Fd fn copy_file_range(
        fd_in: c_int,
        off_in: *mut off64_t,
        fd_out: c_int,
        off_out: *mut off64_t,
        len: size_t,
        flags: c_uint,
    ) -> ssize_t;
    {
        if refuse_copy(fd_in, fd_out, libc::EXDEV) {
            return -1;
        }
        unsafe { host!(fd_in, off_in, fd_out, off_out, len, flags) }
    }

    Fd fn sendfile | sendfile64(out: c_int, fd_in: c_int, off: *mut off_t, n: size_t) -> ssize_t;
    {
        if refuse_copy(out, fd_in, libc::EINVAL) {
            return -1;
        }
        unsafe { host!(out, fd_in, off, n) }
    }

    Fd fn splice(
        fd_in: c_int,
        off_in: *mut off64_t,
        fd_out: c_int,
        off_out: *mut off64_t,
        len: size_t,
        flags: c_uint,
    ) -> ssize_t;
    {
        if refuse_copy(fd_in, fd_out, libc::EINVAL) {
            return -1;
        }
        unsafe { host!(fd_in, off_in, fd_out, off_out, len, flags) }
    }

    Fd fn tee(fd_in: c_int, fd_out: c_int, len: size_t, flags: c_uint) -> ssize_t;
    {
        if refuse_copy(fd_in, fd_out, libc::EINVAL) {
            return -1;
        }
        unsafe { host!(fd_in, fd_out, len, flags) }
    }

    Fd fn vmsplice(fd: c_int, iov: *const iovec, cnt: size_t, flags: c_uint) -> ssize_t;
    {
        if refuse_copy(fd, fd, libc::EBADF) {
            return -1;
        }
        unsafe { host!(fd, iov, cnt, flags) }
    }
}

// ---- locks -----------------------------------------------------------------

/// fcntl as the table declares it, but with its argument a struct flock
/// read and written by the call: a remote kernel gets the struct with the
/// request and sends it back with the reply, one round trip instead of
/// three (the table's bare address costs a copy-in and a copy-out).
static FCNTL_FLOCK: SyscallDesc = SyscallDesc {
    num: rump::SYS_fcntl,
    name: "fcntl",
    handler: "linux_sys_fcntl",
    implemented: true,
    args: &[
        ArgDesc { name: "fd", ctype: "unsigned int", marshal: Marshal::Value },
        ArgDesc { name: "cmd", ctype: "unsigned int", marshal: Marshal::Value },
        ArgDesc {
            name: "arg",
            ctype: "struct flock *",
            marshal: Marshal::InOut { size: std::mem::size_of::<rump_abi::linux::types::flock>() },
        },
    ],
};

/// A record-lock command (F_GETLK, F_SETLK, F_SETLKW, the OFD forms) on
/// rump fd `r` with the struct flock at `fl`.
fn fcntl_lock(k: &Backend, r: i32, cmd: c_int, fl: *mut c_void) -> Result<c_int, Errno> {
    match backend::client(k) {
        Some(c) => c.syscall_as(&FCNTL_FLOCK, &[r as u64, cmd as u64, fl as u64, 0, 0, 0, 0, 0]).map(|v| v as c_int),
        None => rump::rump_sys_fcntl(k, r as u32, cmd as u32, fl),
    }
}

crate::hook! {
    Fd fn flock(fd: c_int, op: c_int) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_flock(k, r as u32, op as u32), unsafe { host!(fd, op) })
    }
}

/// lockf as glibc builds it on fcntl: `len` bytes from the file offset
/// (0: to the end, negative: before it), F_TEST answering EACCES only
/// for another process's lock.
fn lockf_rump(k: &Backend, r: i32, cmd: c_int, len: off64_t) -> Result<c_int, Errno> {
    let mut fl = libc::flock64 { l_type: 0, l_whence: libc::SEEK_CUR as i16, l_start: 0, l_len: len, l_pid: 0 };
    let (fcntl_cmd, l_type) = match cmd {
        libc::F_TEST => (libc::F_GETLK, libc::F_RDLCK),
        libc::F_ULOCK => (libc::F_SETLK, libc::F_UNLCK),
        libc::F_LOCK => (libc::F_SETLKW, libc::F_WRLCK),
        libc::F_TLOCK => (libc::F_SETLK, libc::F_WRLCK),
        _ => return Err(Errno(libc::EINVAL)),
    };
    fl.l_type = l_type as i16;
    fcntl_lock(k, r, fcntl_cmd, (&mut fl as *mut libc::flock64).cast())?;
    let me = sys(libc::SYS_getpid, [0; 4])? as libc::pid_t;
    if cmd == libc::F_TEST && fl.l_type != libc::F_UNLCK as i16 && fl.l_pid != me {
        return Err(Errno(libc::EACCES));
    }
    Ok(0)
}

crate::hook! {
    Fd fn lockf | lockf64(fd: c_int, cmd: c_int, len: off_t) -> c_int;
    {
        by_fd!(fd, |k, r| lockf_rump(k, r, cmd, len), unsafe { host!(fd, cmd, len) })
    }
}

// ---- mmap ----------------------------------------------------------------

/// mmap's arguments other than the fd.
#[derive(Clone, Copy)]
struct MapArgs {
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    off: i64,
}

impl MapArgs {
    /// The kind of mapping asked for, after the checks Linux makes on the
    /// arguments before it looks at the file.
    fn kind(&self) -> Result<MapKind, Errno> {
        let page = 4096;
        if self.off % page != 0 || self.len == 0 {
            return Err(Errno(libc::EINVAL));
        }
        match self.flags & (libc::MAP_SHARED | libc::MAP_PRIVATE | libc::MAP_SHARED_VALIDATE) {
            libc::MAP_PRIVATE => Ok(MapKind::Private),
            libc::MAP_SHARED | libc::MAP_SHARED_VALIDATE => Ok(MapKind::Shared),
            _ => Err(Errno(libc::EINVAL)),
        }
    }

    /// The host's mmap of host fd `fd` (-1 for anonymous memory).
    fn host(&self, fd: c_int) -> Result<*mut c_void, Errno> {
        // SAFETY: the caller's arguments, or ours for anonymous memory; the
        // host checks them.
        let m = unsafe { real::mmap(self.addr, self.len, self.prot, self.flags, fd, self.off) };
        if m == libc::MAP_FAILED {
            Err(Errno(crate::host::errno()))
        } else {
            Ok(m)
        }
    }
}

/// A mapping of a rump file. The kernel hands out a host descriptor on the
/// file's memory, which it shares (`rump_kernel::shm`), and the host maps
/// that with the caller's own arguments: sharing with other processes and
/// with the kernel's read and write, copy-on-write for MAP_PRIVATE, msync,
/// mremap, munmap and SIGBUS past the end are then the host's, and so are
/// its errors (EACCES for a writable shared mapping of a read-only fd).
/// A private mapping of a file the kernel keeps in its own memory, and any
/// private mapping where no descriptor can travel (a `tcp://` server), is a
/// copy filled by pread; a shared one over TCP fails with ENODEV.
fn mmap_rump(k: &Backend, r: i32, args: MapArgs) -> Result<*mut c_void, Errno> {
    let kind = args.kind()?;
    if !backend::passes_fds(k) {
        if kind == MapKind::Shared {
            crate::warn_once(
                "MAP_SHARED of a rump file needs a unix:// server (memory cannot be shared over tcp://): ENODEV",
            );
            return Err(Errno(libc::ENODEV));
        }
        return mmap_copy(k, r, args);
    }
    let Some(fd) = backend::mappable_fd(k, r, kind)? else {
        return mmap_copy(k, r, args);
    };
    let fd = fd.into_raw_fd();
    let res = args.host(fd);
    // The mapping holds the file; the descriptor is not needed any more.
    host_close(fd);
    res
}

/// A private mapping as anonymous memory filled by pread.
fn mmap_copy(k: &Backend, r: i32, args: MapArgs) -> Result<*mut c_void, Errno> {
    let anon =
        MapArgs { prot: libc::PROT_READ | libc::PROT_WRITE, flags: args.flags | libc::MAP_ANONYMOUS, off: 0, ..args };
    let m = anon.host(-1)?;
    let len = args.len;
    let mut done = 0usize;
    while done < len {
        let n = rump::rump_sys_pread64(
            k,
            r as u32,
            m.cast::<u8>().wrapping_add(done).cast(),
            len - done,
            args.off + done as i64,
        );
        match n {
            Ok(0) => break,
            Ok(n) => done += n as usize,
            Err(e) => {
                // SAFETY: the mapping made above.
                unsafe { libc::munmap(m, len) };
                return Err(e);
            }
        }
    }
    // SAFETY: the mapping made above.
    check(unsafe { libc::mprotect(m, len, args.prot) })?;
    Ok(m)
}

crate::hook! {
    Fd fn mmap | mmap64(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off_t) -> *mut c_void
        [panic = libc::MAP_FAILED];
    {
        if flags & libc::MAP_ANONYMOUS != 0 {
            return unsafe { host!(addr, len, prot, flags, fd, off) };
        }
        match fdmap::rump_fd(fd) {
            None => unsafe { host!(addr, len, prot, flags, fd, off) },
            // MAP_FAILED is -1 as an address: isize's failure value.
            Some(r) => {
                let args = MapArgs { addr, len, prot, flags, off };
                guard(|| backend::kernel().and_then(|k| mmap_rump(k, r, args)).map(|m| m as isize)) as *mut c_void
            }
        }
    }
}
