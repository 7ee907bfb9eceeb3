//! The name space and the working directory: mkdir, rmdir, unlink,
//! remove, rename, link, symlink, mknod and mkfifo (with the pre-2.33
//! `__xmknod` entry points), chdir and getcwd and their relatives, chroot,
//! the mkstemp family and mkdtemp, and umask.
//!
//! remove, mkfifo, the getcwd variants and the mkstemp family are glibc
//! composites whose internal calls bypass the hooks; for the kernel they
//! are rebuilt here as glibc builds them. A call naming two paths in
//! different places (host and kernel) fails with EXDEV, as between two
//! Linux mounts.

// The hooks are libc's functions; their contracts are libc's manual pages.
#![allow(clippy::missing_safety_doc)]

use crate::backend::{self, Backend};
use crate::hooks::io;
use crate::hooks::meta::kernel_cwd;
use crate::host::{guard, sys, CRet};
use crate::route::{self, Cwd, Route, RumpPath};
use crate::{by_fd, by_path};
use libc::{c_char, c_int, c_uint, dev_t, mode_t, size_t};
use rump_abi::linux::sys as rump;
use rump_abi::linux::types as lt;
use rump_abi::Errno;
use std::ffi::CString;

crate::real_fns! {
    fn mkdir(path: *const c_char, mode: mode_t) -> c_int;
    fn mkdirat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int;
    fn rmdir(path: *const c_char) -> c_int;
    fn unlink(path: *const c_char) -> c_int;
    fn unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int;
    fn remove(path: *const c_char) -> c_int;
    fn rename(old: *const c_char, new: *const c_char) -> c_int;
    fn renameat(olddirfd: c_int, old: *const c_char, newdirfd: c_int, new: *const c_char) -> c_int;
    fn renameat2(olddirfd: c_int, old: *const c_char, newdirfd: c_int, new: *const c_char, flags: c_uint) -> c_int;
    fn link(old: *const c_char, new: *const c_char) -> c_int;
    fn linkat(olddirfd: c_int, old: *const c_char, newdirfd: c_int, new: *const c_char, flags: c_int) -> c_int;
    fn symlink(target: *const c_char, path: *const c_char) -> c_int;
    fn symlinkat(target: *const c_char, dirfd: c_int, path: *const c_char) -> c_int;
    fn mknod(path: *const c_char, mode: mode_t, dev: dev_t) -> c_int;
    fn mknodat(dirfd: c_int, path: *const c_char, mode: mode_t, dev: dev_t) -> c_int;
    fn mkfifo(path: *const c_char, mode: mode_t) -> c_int;
    fn mkfifoat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int;
    fn chdir(path: *const c_char) -> c_int;
    fn fchdir(fd: c_int) -> c_int;
    fn getcwd(buf: *mut c_char, size: size_t) -> *mut c_char;
    fn __getcwd_chk(buf: *mut c_char, size: size_t, buflen: size_t) -> *mut c_char;
    fn get_current_dir_name() -> *mut c_char;
    fn getwd(buf: *mut c_char) -> *mut c_char;
    fn chroot(path: *const c_char) -> c_int;
    fn mkstemp(tmpl: *mut c_char) -> c_int;
    fn mkstemp64(tmpl: *mut c_char) -> c_int;
    fn mkostemp(tmpl: *mut c_char, flags: c_int) -> c_int;
    fn mkostemp64(tmpl: *mut c_char, flags: c_int) -> c_int;
    fn mkstemps(tmpl: *mut c_char, suffixlen: c_int) -> c_int;
    fn mkstemps64(tmpl: *mut c_char, suffixlen: c_int) -> c_int;
    fn mkostemps(tmpl: *mut c_char, suffixlen: c_int, flags: c_int) -> c_int;
    fn mkostemps64(tmpl: *mut c_char, suffixlen: c_int, flags: c_int) -> c_int;
    fn mkdtemp(tmpl: *mut c_char) -> *mut c_char;
    fn umask(mask: mode_t) -> mode_t;
}

// ---- making and removing names ------------------------------------------

crate::hook! {
    Path fn mkdir(path: *const c_char, mode: mode_t) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| rump::rump_sys_mkdirat(k, p.dirfd, p.path.as_ptr(), mode), unsafe {
            host!(path, mode)
        })
    }

    Path fn mkdirat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int;
    {
        by_path!(dirfd, path, |k, p| rump::rump_sys_mkdirat(k, p.dirfd, p.path.as_ptr(), mode), unsafe {
            host!(dirfd, path, mode)
        })
    }
}

fn unlink_rump(k: &Backend, p: &RumpPath, flags: c_int) -> Result<c_int, Errno> {
    rump::rump_sys_unlinkat(k, p.dirfd, p.path.as_ptr(), flags)
}

crate::hook! {
    Path fn rmdir(path: *const c_char) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| unlink_rump(k, &p, libc::AT_REMOVEDIR), unsafe { host!(path) })
    }

    Path fn unlink(path: *const c_char) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| unlink_rump(k, &p, 0), unsafe { host!(path) })
    }

    Path fn unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int;
    {
        by_path!(dirfd, path, |k, p| unlink_rump(k, &p, flags), unsafe { host!(dirfd, path, flags) })
    }

    /// glibc's remove: unlink, and rmdir if that says it is a directory.
    Path fn remove(path: *const c_char) -> c_int;
    {
        by_path!(
            libc::AT_FDCWD,
            path,
            |k, p| match unlink_rump(k, &p, 0) {
                Err(Errno(libc::EISDIR)) => unlink_rump(k, &p, libc::AT_REMOVEDIR),
                r => r,
            },
            unsafe { host!(path) }
        )
    }
}

/// The kernel's device number: Linux's mknod takes 32 bits, and glibc
/// refuses a dev_t that does not fit.
fn kernel_dev(dev: dev_t) -> Result<u32, Errno> {
    u32::try_from(dev).map_err(|_| Errno(libc::EINVAL))
}

fn mknod_rump(k: &Backend, p: &RumpPath, mode: mode_t, dev: dev_t) -> Result<c_int, Errno> {
    rump::rump_sys_mknodat(k, p.dirfd, p.path.as_ptr(), mode, kernel_dev(dev)?)
}

crate::hook! {
    Path fn mknod(path: *const c_char, mode: mode_t, dev: dev_t) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| mknod_rump(k, &p, mode, dev), unsafe { host!(path, mode, dev) })
    }

    Path fn mknodat(dirfd: c_int, path: *const c_char, mode: mode_t, dev: dev_t) -> c_int;
    {
        by_path!(dirfd, path, |k, p| mknod_rump(k, &p, mode, dev), unsafe { host!(dirfd, path, mode, dev) })
    }

    Path fn mkfifo(path: *const c_char, mode: mode_t) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| mknod_rump(k, &p, mode | libc::S_IFIFO, 0), unsafe { host!(path, mode) })
    }

    Path fn mkfifoat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int;
    {
        by_path!(dirfd, path, |k, p| mknod_rump(k, &p, mode | libc::S_IFIFO, 0), unsafe { host!(dirfd, path, mode) })
    }
}

/// `__xmknodat`: glibc 2.33+ keeps the `__xmknod` names only as compat
/// symbols, which dlsym cannot find, so the host side is the raw syscall
/// (what glibc's versions make). x86-64's `_MKNOD_VER` is 0.
unsafe fn xmknod_at(ver: c_int, dirfd: c_int, path: *const c_char, mode: mode_t, dev: *const dev_t) -> c_int {
    if ver != 0 || dev.is_null() {
        return guard(|| Err::<c_int, _>(Errno(libc::EINVAL)));
    }
    // SAFETY: the caller's dev_t.
    let dev = unsafe { *dev };
    by_path!(dirfd, path, |k, p| mknod_rump(k, &p, mode, dev), {
        guard(|| {
            let d = kernel_dev(dev)?;
            sys(libc::SYS_mknodat, [dirfd as usize, path as usize, mode as usize, d as usize]).map(|_| 0)
        })
    })
}

crate::hook! {
    Path fn __xmknod(ver: c_int, path: *const c_char, mode: mode_t, dev: *const dev_t) -> c_int;
    {
        unsafe { xmknod_at(ver, libc::AT_FDCWD, path, mode, dev) }
    }

    Path fn __xmknodat(ver: c_int, dirfd: c_int, path: *const c_char, mode: mode_t, dev: *const dev_t) -> c_int;
    {
        unsafe { xmknod_at(ver, dirfd, path, mode, dev) }
    }

    Path fn symlink(target: *const c_char, path: *const c_char) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| rump::rump_sys_symlinkat(k, target, p.dirfd, p.path.as_ptr()), unsafe {
            host!(target, path)
        })
    }

    Path fn symlinkat(target: *const c_char, dirfd: c_int, path: *const c_char) -> c_int;
    {
        by_path!(dirfd, path, |k, p| rump::rump_sys_symlinkat(k, target, p.dirfd, p.path.as_ptr()), unsafe {
            host!(target, dirfd, path)
        })
    }
}

// ---- two paths: rename and link ------------------------------------------

/// Runs a call on two paths: the host's if both are on the host (or one
/// is NULL, for the host's EFAULT), given the paths as the host is to see
/// them (`route::Route::HostPath`); the kernel's if both are in it; and
/// `cross` with the old path's route when they are split.
///
/// # Safety
/// The paths are NULL or NUL-terminated.
unsafe fn two_paths<T: CRet>(
    od: c_int,
    op: *const c_char,
    nd: c_int,
    np: *const c_char,
    rump: impl FnOnce(&Backend, &RumpPath, &RumpPath) -> Result<T, Errno>,
    cross: impl FnOnce(Option<RumpPath>) -> Result<T, Errno>,
    host: impl FnOnce(*const c_char, *const c_char) -> T,
) -> T {
    if op.is_null() || np.is_null() {
        return host(op, np);
    }
    // SAFETY: the caller's strings.
    match unsafe { (route::route(od, op), route::route(nd, np)) } {
        (Route::Kernel(a), Route::Kernel(b)) => guard(|| rump(backend::kernel()?, &a, &b)),
        (Route::Kernel(a), _) => guard(|| cross(Some(a))),
        (_, Route::Kernel(_)) => guard(|| cross(None)),
        (a, b) => host(a.host_path().unwrap_or(op), b.host_path().unwrap_or(np)),
    }
}

/// A rename between the host and the kernel: Linux checks only the
/// parents before it compares mounts, so EXDEV whatever the names.
fn rename_cross<T>(_old: Option<RumpPath>) -> Result<T, Errno> {
    Err(Errno(libc::EXDEV))
}

/// A link between the host and the kernel: Linux looks the source up
/// first (ENOENT if missing), then finds the mounts differ.
fn link_cross<T>(old: Option<RumpPath>, od: c_int, op: *const c_char, flags: c_int) -> Result<T, Errno> {
    let follow = if flags & libc::AT_SYMLINK_FOLLOW != 0 { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    let nul = if flags & libc::AT_EMPTY_PATH != 0 { libc::AT_EMPTY_PATH } else { 0 };
    let mut st = lt::stat::default();
    match old {
        Some(p) => {
            rump::rump_sys_newfstatat(backend::kernel()?, p.dirfd, p.path.as_ptr(), &mut st, follow | nul)?;
        }
        None => {
            let a = [od as usize, op as usize, &mut st as *mut lt::stat as usize, (follow | nul) as usize];
            sys(libc::SYS_newfstatat, a)?;
        }
    }
    Err(Errno(libc::EXDEV))
}

fn rename_rump(k: &Backend, a: &RumpPath, b: &RumpPath, flags: c_uint) -> Result<c_int, Errno> {
    if flags == 0 {
        rump::rump_sys_renameat(k, a.dirfd, a.path.as_ptr(), b.dirfd, b.path.as_ptr())
    } else {
        rump::rump_sys_renameat2(k, a.dirfd, a.path.as_ptr(), b.dirfd, b.path.as_ptr(), flags)
    }
}

fn link_rump(k: &Backend, a: &RumpPath, b: &RumpPath, flags: c_int) -> Result<c_int, Errno> {
    rump::rump_sys_linkat(k, a.dirfd, a.path.as_ptr(), b.dirfd, b.path.as_ptr(), flags)
}

crate::hook! {
    Path fn rename(old: *const c_char, new: *const c_char) -> c_int;
    {
        let at = libc::AT_FDCWD;
        unsafe { two_paths(at, old, at, new, |k, a, b| rename_rump(k, a, b, 0), rename_cross, |o, n| host!(o, n)) }
    }

    Path fn renameat(od: c_int, old: *const c_char, nd: c_int, new: *const c_char) -> c_int;
    {
        unsafe {
            two_paths(
                od,
                old,
                nd,
                new,
                |k, a, b| rename_rump(k, a, b, 0),
                rename_cross,
                |o, n| host!(od, o, nd, n),
            )
        }
    }

    Path fn renameat2(od: c_int, old: *const c_char, nd: c_int, new: *const c_char, flags: c_uint) -> c_int;
    {
        unsafe {
            two_paths(
                od,
                old,
                nd,
                new,
                |k, a, b| rename_rump(k, a, b, flags),
                rename_cross,
                |o, n| host!(od, o, nd, n, flags),
            )
        }
    }

    Path fn link(old: *const c_char, new: *const c_char) -> c_int;
    {
        let at = libc::AT_FDCWD;
        unsafe {
            two_paths(
                at,
                old,
                at,
                new,
                |k, a, b| link_rump(k, a, b, 0),
                |a| link_cross(a, at, old, 0),
                |o, n| host!(o, n),
            )
        }
    }

    Path fn linkat(od: c_int, old: *const c_char, nd: c_int, new: *const c_char, flags: c_int) -> c_int;
    {
        unsafe {
            two_paths(
                od,
                old,
                nd,
                new,
                |k, a, b| link_rump(k, a, b, flags),
                |a| link_cross(a, od, old, flags),
                |o, n| host!(od, o, nd, n, flags),
            )
        }
    }
}

// ---- the working directory -----------------------------------------------

crate::hook! {
    Path fn chdir(path: *const c_char) -> c_int;
    {
        let host = |path| {
            let r = unsafe { host!(path) };
            if r == 0 {
                route::set_cwd(Cwd::Host);
            }
            r
        };
        // SAFETY: the caller's path.
        match unsafe { route::route(libc::AT_FDCWD, path) } {
            Route::Host => host(path),
            Route::HostPath(h) => host(h.as_ptr()),
            Route::Kernel(p) => guard(|| {
                rump::rump_sys_chdir(backend::kernel()?, p.path.as_ptr())?;
                route::set_cwd(p.via);
                Ok(0)
            }),
        }
    }
}

/// fchdir to a rump fd. How the fd was opened is not recorded, so the cwd
/// is shown behind the prefix if there is one.
fn fchdir_rump(k: &Backend, r: i32) -> Result<c_int, Errno> {
    rump::rump_sys_fchdir(k, r as u32)?;
    route::set_cwd(if route::config().prefix.is_some() { Cwd::Prefixed } else { Cwd::Blanket });
    Ok(0)
}

crate::hook! {
    Fd fn fchdir(fd: c_int) -> c_int;
    {
        by_fd!(fd, |k, r| fchdir_rump(k, r), {
            let r = unsafe { host!(fd) };
            if r == 0 {
                route::set_cwd(Cwd::Host);
            }
            r
        })
    }
}

/// The cwd as the program sees it, while it is in the kernel.
fn shown_kernel_cwd() -> Result<Vec<u8>, Errno> {
    Ok(route::shown_cwd(&kernel_cwd(backend::kernel()?)?))
}

/// getcwd with the cwd in the kernel, with glibc's buffer rules: a NULL
/// buffer is malloc'd (`size` bytes, or just enough for a size of 0).
fn getcwd_rump(buf: *mut c_char, size: size_t) -> Result<*mut c_char, Errno> {
    if !buf.is_null() && size == 0 {
        return Err(Errno(libc::EINVAL));
    }
    let s = shown_kernel_cwd()?;
    if size != 0 && s.len() >= size {
        return Err(Errno(libc::ERANGE));
    }
    let dst = if buf.is_null() && size != 0 {
        // SAFETY: plain allocation; the caller frees it.
        let m = unsafe { libc::malloc(size) }.cast::<c_char>();
        if m.is_null() {
            return Err(Errno(libc::ENOMEM));
        }
        m
    } else {
        buf
    };
    // SAFETY: NULL (allocate), or a buffer of `size` > s.len() bytes.
    unsafe { crate::hooks::meta::put_cstr(&s, dst) }
}

crate::hook! {
    Cwd fn getcwd(buf: *mut c_char, size: size_t) -> *mut c_char;
        chk __getcwd_chk(buflen: size_t) if size > buflen;
    {
        if route::cwd() == Cwd::Host {
            return unsafe { host!(buf, size) };
        }
        guard(|| getcwd_rump(buf, size))
    }
}

/// Whether `$PWD` names the kernel's cwd (glibc's get_current_dir_name
/// prefers `$PWD`, which keeps the user's symlinks, when it is the cwd).
fn pwd_is_cwd(pwd: *const c_char) -> Result<bool, Errno> {
    // SAFETY: the environment's string.
    let Some(p) = (unsafe { route::path(pwd) }) else { return Ok(false) };
    let k = backend::kernel()?;
    let (mut a, mut b) = (lt::stat::default(), lt::stat::default());
    rump::rump_sys_newfstatat(k, libc::AT_FDCWD, c".".as_ptr(), &mut a, 0)?;
    rump::rump_sys_newfstatat(k, p.dirfd, p.path.as_ptr(), &mut b, 0)?;
    Ok(a.st_dev == b.st_dev && a.st_ino == b.st_ino)
}

crate::hook! {
    Cwd fn get_current_dir_name() -> *mut c_char;
    {
        if route::cwd() == Cwd::Host {
            return unsafe { host!() };
        }
        guard(|| {
            // SAFETY: a NUL-terminated name.
            let pwd = unsafe { libc::getenv(c"PWD".as_ptr()) };
            if !pwd.is_null() && pwd_is_cwd(pwd).unwrap_or(false) {
                // SAFETY: the environment's string.
                let s = unsafe { std::ffi::CStr::from_ptr(pwd) }.to_bytes();
                return unsafe { crate::hooks::meta::put_cstr(s, std::ptr::null_mut()) };
            }
            getcwd_rump(std::ptr::null_mut(), 0)
        })
    }

    /// getwd: `buf` holds PATH_MAX bytes; on failure it gets the error's text.
    Cwd fn getwd(buf: *mut c_char) -> *mut c_char;
    {
        if route::cwd() == Cwd::Host || buf.is_null() {
            return unsafe { host!(buf) };
        }
        match getcwd_rump(buf, libc::PATH_MAX as size_t) {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: the caller's PATH_MAX buffer.
                unsafe { libc::strerror_r(e.0, buf, libc::PATH_MAX as size_t) };
                crate::host::set_errno(e.0);
                std::ptr::null_mut()
            }
        }
    }

    /// The kernel has no chroot, and a root inside it could not be shown to
    /// the host's view of the program either: EPERM, as for a caller without
    /// the privilege.
    Path fn chroot(path: *const c_char) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |_k, _p| Err(Errno(libc::EPERM)), unsafe { host!(path) })
    }
}

// ---- temporary names -----------------------------------------------------

/// Tries before giving up with EEXIST.
const TEMP_TRIES: usize = 100;
const TEMP_CHARS: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Six random name characters, from getrandom (the clock and a counter if
/// that fails, as glibc falls back too).
fn temp_letters() -> [u8; 6] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut v = 0u64;
    let ok = sys(libc::SYS_getrandom, [&mut v as *mut u64 as usize, 8, libc::GRND_NONBLOCK as usize, 0]);
    if ok != Ok(8) {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        let _ = sys(libc::SYS_clock_gettime, [libc::CLOCK_MONOTONIC as usize, &mut ts as *mut _ as usize, 0, 0]);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        v = (ts.tv_nsec as u64 ^ (ts.tv_sec as u64).rotate_left(32) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .wrapping_mul(0xbf58_476d_1ce4_e5b9);
    }
    let mut out = [0u8; 6];
    for c in &mut out {
        *c = TEMP_CHARS[(v % 62) as usize];
        v /= 62;
    }
    out
}

/// Creates a uniquely named object from the template `tmpl` (ending in
/// XXXXXX and `suffixlen` more bytes) in the kernel, if the template routes
/// there; the caller's template gets the name that was made.
///
/// # Safety
/// `tmpl` is NULL or a writable NUL-terminated string.
unsafe fn make_temp<T: CRet>(
    tmpl: *mut c_char,
    suffixlen: c_int,
    create: impl Fn(&Backend, &RumpPath) -> Result<T, Errno>,
    host: impl FnOnce() -> T,
) -> T {
    // The route is taken once, before the letters are filled in, so the
    // name made cannot change where it goes.
    // SAFETY: the caller's string.
    let Some(p) = (unsafe { route::path(tmpl) }) else { return host() };
    guard(|| {
        // SAFETY: the caller's string.
        let len = unsafe { std::ffi::CStr::from_ptr(tmpl) }.to_bytes().len();
        let suffix = usize::try_from(suffixlen).map_err(|_| Errno(libc::EINVAL))?;
        let tail = suffix.checked_add(6).filter(|&t| t <= len).ok_or(Errno(libc::EINVAL))?;
        // SAFETY: `tail` bytes at the end of the caller's string.
        let xs = unsafe { std::slice::from_raw_parts_mut(tmpl.add(len - tail).cast::<u8>(), 6) };
        let mut kpath = p.path.as_bytes().to_vec();
        let kx = kpath.len().checked_sub(tail).ok_or(Errno(libc::EINVAL))?;
        if xs != b"XXXXXX" || &kpath[kx..kx + 6] != b"XXXXXX" {
            return Err(Errno(libc::EINVAL));
        }
        let k = backend::kernel()?;
        for _ in 0..TEMP_TRIES {
            let letters = temp_letters();
            xs.copy_from_slice(&letters);
            kpath[kx..kx + 6].copy_from_slice(&letters);
            let rp = RumpPath {
                dirfd: p.dirfd,
                path: CString::new(kpath.clone()).map_err(|_| Errno(libc::EINVAL))?,
                via: p.via,
            };
            match create(k, &rp) {
                Err(Errno(libc::EEXIST)) => continue,
                r => return r,
            }
        }
        Err(Errno(libc::EEXIST))
    })
}

/// The new file of the mkstemp family: glibc keeps the caller's flags but
/// the access mode, and makes it O_RDWR|O_CREAT|O_EXCL with mode 0600.
fn temp_file(k: &Backend, p: &RumpPath, flags: c_int) -> Result<c_int, Errno> {
    let flags = (flags & !libc::O_ACCMODE) | libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
    io::open_rump(k, p, flags, 0o600)
}

crate::hook! {
    Path fn mkstemp | mkstemp64(tmpl: *mut c_char) -> c_int;
    {
        unsafe { make_temp(tmpl, 0, |k, p| temp_file(k, p, 0), || host!(tmpl)) }
    }

    Path fn mkostemp | mkostemp64(tmpl: *mut c_char, flags: c_int) -> c_int;
    {
        unsafe { make_temp(tmpl, 0, |k, p| temp_file(k, p, flags), || host!(tmpl, flags)) }
    }

    Path fn mkstemps | mkstemps64(tmpl: *mut c_char, suffixlen: c_int) -> c_int;
    {
        unsafe { make_temp(tmpl, suffixlen, |k, p| temp_file(k, p, 0), || host!(tmpl, suffixlen)) }
    }

    Path fn mkostemps | mkostemps64(tmpl: *mut c_char, suffixlen: c_int, flags: c_int) -> c_int;
    {
        unsafe { make_temp(tmpl, suffixlen, |k, p| temp_file(k, p, flags), || host!(tmpl, suffixlen, flags)) }
    }

    Path fn mkdtemp(tmpl: *mut c_char) -> *mut c_char;
    {
        unsafe {
            make_temp(
                tmpl,
                0,
                |k, p| rump::rump_sys_mkdirat(k, p.dirfd, p.path.as_ptr(), 0o700).map(|_| tmpl),
                || host!(tmpl),
            )
        }
    }
}

// ---- umask ---------------------------------------------------------------

crate::hook! {
    /// The umask is the host's, and the kernel's too once there is one, so
    /// files made in either place get the same mode bits.
    Process fn umask(mask: mode_t) -> mode_t;
    {
        let old = unsafe { host!(mask) };
        if let Some(k) = backend::current() {
            let _ = rump::rump_sys_umask(k, (mask & 0o777) as i32);
        }
        old
    }
}
