//! ioctl and the terminal calls. A rump fd is never a terminal: isatty,
//! tcgetattr and friends say ENOTTY (glibc's own versions would ask the
//! placeholder, which answers EBADF). FICLONE and FICLONERANGE with a rump
//! file on either side fail with EOPNOTSUPP, as Linux answers for a file
//! system that cannot share extents (tmpfs): `cp --reflink=always` reports
//! it and `cp --reflink=auto` copies instead. Other ioctls go to the kernel.

use crate::by_fd;
use crate::host::{guard, set_errno};
use libc::{c_char, c_int, c_ulong, c_void, pid_t, size_t, termios};
use rump_abi::linux::sys as rump;
use rump_abi::Errno;

crate::real_fns! {
    fn ioctl(fd: c_int, request: c_ulong, arg: usize) -> c_int;
    fn isatty(fd: c_int) -> c_int;
    fn tcgetattr(fd: c_int, t: *mut termios) -> c_int;
    fn tcsetattr(fd: c_int, act: c_int, t: *const termios) -> c_int;
    fn tcgetpgrp(fd: c_int) -> pid_t;
    fn tcsetpgrp(fd: c_int, pg: pid_t) -> c_int;
    fn ttyname(fd: c_int) -> *mut c_char;
    fn ttyname_r(fd: c_int, buf: *mut c_char, len: size_t) -> c_int;
}

const FICLONE: c_ulong = 0x4004_9409;
const FICLONERANGE: c_ulong = 0x4020_940d;

/// ENOTTY for a rump fd that is open, EBADF for one that is not.
fn not_a_tty(k: &crate::backend::Backend, r: i32) -> Errno {
    match rump::rump_sys_fcntl(k, r as u32, libc::F_GETFD as u32, std::ptr::null_mut()) {
        Ok(_) => Errno(libc::ENOTTY),
        Err(e) => e,
    }
}

/// Terminal requests: the 'T' (0x54) ioctl group.
fn is_tty_request(request: c_ulong) -> bool {
    (request >> 8) & 0xff == 0x54 && request != libc::FIONREAD as c_ulong && request != libc::FIONBIO as c_ulong
}

fn ioctl_rump(k: &crate::backend::Backend, r: i32, request: c_ulong, arg: usize) -> Result<c_int, Errno> {
    match request {
        FICLONE | FICLONERANGE => Err(Errno(libc::EOPNOTSUPP)),
        r2 if is_tty_request(r2) => Err(not_a_tty(k, r)),
        _ => rump::rump_sys_ioctl(k, r as u32, request as u32, arg as *mut c_void),
    }
}

crate::hook! {
    Fd fn ioctl(fd: c_int, request: c_ulong, arg: usize) -> c_int;
    {
        if request == FICLONE || request == FICLONERANGE {
            // A clone from a rump file onto a host one (cp /rump/a host/b).
            let src = if request == FICLONE { arg as c_int } else { (unsafe { *(arg as *const i64) }) as c_int };
            if crate::fdmap::rump_fd(src).is_some() && crate::fdmap::rump_fd(fd).is_none() {
                set_errno(libc::EOPNOTSUPP);
                return -1;
            }
        }
        by_fd!(fd, |k, r| ioctl_rump(k, r, request, arg), {
            let inotify =
                (request == libc::FIONREAD).then(|| super::inotify::fionread(fd, arg as *mut c_int)).flatten();
            inotify.unwrap_or_else(|| unsafe { host!(fd, request, arg) })
        })
    }

    Fd fn isatty(fd: c_int) -> c_int [panic = 0];
    {
        match crate::fdmap::rump_fd(fd) {
            None => unsafe { host!(fd) },
            Some(r) => {
                let e = crate::backend::kernel().map_or_else(|e| e, |k| not_a_tty(k, r));
                set_errno(e.0);
                0
            }
        }
    }

    Fd fn tcgetattr(fd: c_int, t: *mut termios) -> c_int;
    {
        by_fd!(fd, |k, r| Err::<c_int, _>(not_a_tty(k, r)), unsafe { host!(fd, t) })
    }

    Fd fn tcsetattr(fd: c_int, act: c_int, t: *const termios) -> c_int;
    {
        by_fd!(fd, |k, r| Err::<c_int, _>(not_a_tty(k, r)), unsafe { host!(fd, act, t) })
    }

    Fd fn tcgetpgrp(fd: c_int) -> pid_t;
    {
        by_fd!(fd, |k, r| Err::<pid_t, _>(not_a_tty(k, r)), unsafe { host!(fd) })
    }

    Fd fn tcsetpgrp(fd: c_int, pg: pid_t) -> c_int;
    {
        by_fd!(fd, |k, r| Err::<c_int, _>(not_a_tty(k, r)), unsafe { host!(fd, pg) })
    }

    Fd fn ttyname(fd: c_int) -> *mut c_char;
    {
        by_fd!(fd, |k, r| Err::<*mut c_char, _>(not_a_tty(k, r)), unsafe { host!(fd) })
    }

    Fd fn ttyname_r(fd: c_int, buf: *mut c_char, len: size_t) -> c_int [panic = libc::EIO];
    {
        match crate::fdmap::rump_fd(fd) {
            None => unsafe { host!(fd, buf, len) },
            Some(r) => guard(|| Ok::<_, Errno>(crate::backend::kernel().map_or_else(|e| e, |k| not_a_tty(k, r)).0)),
        }
    }
}
