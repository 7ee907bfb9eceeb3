//! inotify over host and rump paths on one fd.
//!
//! `inotify_init`/`inotify_init1` make a host inotify fd, so a program
//! watching only host paths is the host's business. The first watch on a
//! path routed to the kernel gives that fd a *companion*: an inotify
//! instance in the rump kernel (non-blocking, close-on-exec), kept in the
//! companion table of `event`, so poll, select and epoll see the host fd
//! ready when either side is, and close takes the companion along.
//!
//! Watch descriptors: the host's are its own, handed out from 1 upwards;
//! a rump watch `w` is shown as `RUMP_WD_BASE + w`, far above any the host
//! gives before 2^30 watches were made, so `inotify_rm_watch` and the
//! events read route by wd alone. IN_Q_OVERFLOW's wd -1 stays -1.
//!
//! `read` and `readv` take the host's events first and then the kernel's
//! into what room is left; a record that fits nowhere is EINVAL when
//! nothing was read, as Linux's. A blocking read with nothing on either
//! side waits on both (`event::wait_readable`); a non-blocking one is
//! EAGAIN only when both are empty. FIONREAD adds both counts.

use super::event::{self, Kind};
use crate::backend::{self, Backend};
use crate::host::{guard, sys};
use crate::route;
use libc::{c_char, c_int, c_void, iovec, size_t, ssize_t};
use rump_abi::linux::flags::{IN_CLOEXEC, IN_NONBLOCK};
use rump_abi::linux::sys as rump;
use rump_abi::Errno;
use rump_kernel::compat::linux::inotify::mask_valid;

crate::real_fns! {
    fn inotify_add_watch(fd: c_int, path: *const c_char, mask: u32) -> c_int;
    fn inotify_rm_watch(fd: c_int, wd: c_int) -> c_int;
}

/// Where rump watch descriptors start, as the program sees them.
pub const RUMP_WD_BASE: i32 = 1 << 30;
/// The fixed part of a `struct inotify_event`.
const HEADER: usize = 16;

/// Host fd `fd`'s rump inotify instance, if it has one.
fn companion(fd: c_int) -> Option<i32> {
    event::companion_of(fd, Kind::Inotify)
}

crate::hook! {
    Path fn inotify_add_watch(fd: c_int, path: *const c_char, mask: u32) -> c_int;
    {
        // SAFETY: the caller's path is NULL or NUL-terminated.
        let Some(p) = (unsafe { route::at(libc::AT_FDCWD, path) }) else {
            return unsafe { host!(fd, path, mask) };
        };
        guard(|| {
            // Linux looks at the mask before the fd.
            if !mask_valid(mask) {
                return Err(Errno(libc::EINVAL));
            }
            let k = backend::kernel()?;
            let c = event::companion_or_new(k, fd, Kind::Inotify, |k| {
                rump::rump_sys_inotify_init1(k, (IN_NONBLOCK | IN_CLOEXEC) as i32)
            })?;
            let wd = rump::rump_sys_inotify_add_watch(k, c, p.path.as_ptr(), mask)?;
            shown_wd(wd).ok_or(Errno(libc::ENOSPC))
        })
    }
}

/// A rump wd as the program sees it; None past what the range holds.
fn shown_wd(wd: i32) -> Option<i32> {
    if wd < 0 {
        return Some(wd);
    }
    RUMP_WD_BASE.checked_add(wd)
}

crate::hook! {
    Fd fn inotify_rm_watch(fd: c_int, wd: c_int) -> c_int;
    {
        match companion(fd) {
            Some(c) if wd >= RUMP_WD_BASE => {
                guard(|| rump::rump_sys_inotify_rm_watch(backend::kernel()?, c, wd - RUMP_WD_BASE))
            }
            _ => unsafe { host!(fd, wd) },
        }
    }
}

/// Rewrites the wds of the records in `buf` from the kernel's to the
/// program's.
fn show_wds(buf: &mut [u8]) {
    let mut at = 0;
    while at + HEADER <= buf.len() {
        let wd = i32::from_ne_bytes(buf[at..at + 4].try_into().unwrap_or_default());
        let shown = shown_wd(wd).unwrap_or(wd);
        buf[at..at + 4].copy_from_slice(&shown.to_ne_bytes());
        let len = u32::from_ne_bytes(buf[at + 12..at + 16].try_into().unwrap_or_default()) as usize;
        at += HEADER + len;
    }
}

/// Whether host fd `fd` has something to read now.
fn host_readable(fd: c_int) -> Result<bool, Errno> {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let n = sys(libc::SYS_poll, [&mut p as *mut libc::pollfd as usize, 1, 0, 0])?;
    Ok(n > 0 && p.revents & libc::POLLIN != 0)
}

fn nonblocking(fd: c_int) -> Result<bool, Errno> {
    let fl = sys(libc::SYS_fcntl, [fd as usize, libc::F_GETFL as usize, 0, 0])?;
    Ok(fl as c_int & libc::O_NONBLOCK != 0)
}

/// One read of `len` bytes at `buf` from host inotify fd `fd` and its
/// companion `c` (Linux's inotify_read, over both).
fn read_both(k: &Backend, fd: c_int, c: i32, buf: *mut u8, len: usize) -> Result<usize, Errno> {
    loop {
        let mut got = 0;
        if host_readable(fd)? {
            got = sys(libc::SYS_read, [fd as usize, buf as usize, len, 0])? as usize;
        }
        // SAFETY: `got` ≤ `len`: the rest of the caller's buffer.
        let rest = unsafe { buf.add(got) };
        match rump::rump_sys_read(k, c as u32, rest.cast(), len - got) {
            Ok(n) => {
                // SAFETY: the kernel just wrote `n` bytes there.
                show_wds(unsafe { std::slice::from_raw_parts_mut(rest, n as usize) });
                got += n as usize;
            }
            Err(e) if got == 0 && e.0 != libc::EAGAIN => return Err(e),
            Err(_) => {}
        }
        if got > 0 {
            return Ok(got);
        }
        if nonblocking(fd)? {
            return Err(Errno(libc::EAGAIN));
        }
        event::wait_readable(fd)?;
    }
}

/// read on a host fd: None unless it is an inotify fd with a companion.
pub fn read(fd: c_int, buf: *mut c_void, n: size_t) -> Option<ssize_t> {
    let c = companion(fd)?;
    Some(guard(|| read_both(backend::kernel()?, fd, c, buf.cast(), n).map(|n| n as ssize_t)))
}

/// readv on a host fd: None unless it is an inotify fd with a companion.
/// One read per buffer until one comes back short, as Linux does for a
/// file with no vectored read.
pub fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> Option<ssize_t> {
    let c = companion(fd)?;
    Some(guard(|| {
        if !(0..=libc::UIO_MAXIOV).contains(&cnt) {
            return Err(Errno(libc::EINVAL));
        }
        let k = backend::kernel()?;
        let mut done = 0usize;
        for v in event::copy_in(iov.cast::<rump_abi::native::types::iovec>(), cnt as usize)? {
            let len = v.iov_len as usize;
            match read_both(k, fd, c, v.iov_base as *mut u8, len) {
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
        Ok(done as ssize_t)
    }))
}

/// FIONREAD on a host fd: None unless it is an inotify fd with a
/// companion; then the bytes both sides hold.
pub fn fionread(fd: c_int, arg: *mut c_int) -> Option<c_int> {
    let c = companion(fd)?;
    Some(guard(|| {
        let mut host: c_int = 0;
        sys(libc::SYS_ioctl, [fd as usize, libc::FIONREAD as usize, &mut host as *mut c_int as usize, 0])?;
        let mut ours: c_int = 0;
        rump::rump_sys_ioctl(backend::kernel()?, c as u32, libc::FIONREAD as u32, (&mut ours as *mut c_int).cast())?;
        event::copy_out(arg, vec![host + ours])?;
        Ok(0)
    }))
}
