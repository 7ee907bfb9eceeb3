//! The libc functions this library defines, one module per family (the
//! families of DESIGN.md §7 and the census). Each hook routes by fd or
//! path: the host's own function for host objects, the kernel otherwise.
//!
//! Rules: a host object goes to `real::*` untouched; a rump fd never
//! reaches the host; an error is an errno; nothing panics into C
//! (`host::guard`, and around every hook `entry::run`).
//! Every hook is declared with `hook!` (`entry`), which also lists it.

// The hooks are C entry points: their safety contract is the libc
// function's they stand in for, documented in its manual page.
#![allow(clippy::missing_safety_doc)]

pub mod dir;
pub mod entry;
pub mod event;
pub mod ifaddrs;
pub mod inotify;
pub mod io;
pub mod meta;
pub mod net;
pub mod ns;
pub mod proc;
pub mod resolve;
pub mod stdio;
pub mod tty;
pub mod wait;

/// `by_fd!(fd, |k, r| rump_expr, host_expr)`: runs `rump_expr` with the
/// kernel `k` and rump fd `r` if `fd` is a rump fd (errors become errno
/// and the C failure value), `host_expr` otherwise.
#[macro_export]
macro_rules! by_fd {
    ($fd:expr, |$k:ident, $r:ident| $rump:expr, $host:expr) => {{
        let fd = $fd;
        match $crate::fdmap::rump_fd(fd) {
            None => {
                ::tracing::trace!(target: "rumphijack::fd", fd, "host fd");
                $host
            }
            Some($r) => $crate::host::guard(|| {
                ::tracing::trace!(target: "rumphijack::fd", fd, rump = $r, "rump fd");
                let $k = $crate::backend::kernel()?;
                $rump
            }),
        }
    }};
}

/// `by_path!(dirfd, path, |k, p| rump_expr, host_expr)`: as `by_fd!` for
/// a path relative to `dirfd`; `p` is the routed `RumpPath`. When the path
/// climbs out of the kernel (`route::Route::HostPath`), `host_expr` runs
/// with `path` bound to the host's absolute path instead. The form
/// `by_path!(dirfd, path = expr, ...)` routes `expr` and binds `path` so.
#[macro_export]
macro_rules! by_path {
    ($dirfd:expr, $path:ident = $routed:expr, |$k:ident, $p:ident| $rump:expr, $host:expr) => {{
        let (dirfd, routed) = ($dirfd, $routed);
        // SAFETY: the caller's path is NULL or NUL-terminated.
        let host_path = match unsafe { $crate::route::route(dirfd, routed) } {
            $crate::route::Route::Host => None,
            $crate::route::Route::HostPath(h) => Some(h),
            $crate::route::Route::Kernel($p) => {
                return $crate::host::guard(|| {
                    let $k = $crate::backend::kernel()?;
                    $rump
                })
            }
        };
        let $path = host_path.as_ref().map_or($path, |h| h.as_ptr());
        $host
    }};
    ($dirfd:expr, $path:ident, |$k:ident, $p:ident| $rump:expr, $host:expr) => {
        $crate::by_path!($dirfd, $path = $path, |$k, $p| $rump, $host)
    };
}

/// Closes a host fd with the raw syscall (no hook, and errno untouched:
/// the gate's syscall reports errors as values).
pub fn host_close(fd: i32) {
    let _ = crate::host::sys(libc::SYS_close, [fd as usize, 0, 0, 0]);
}
