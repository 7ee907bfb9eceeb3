//! Metadata: the stat family (with the pre-2.33 `__xstat` entry points),
//! statx, access, readlink, chmod, chown, the utime family, statfs and
//! statvfs, pathconf, the xattr calls, and realpath.
//!
//! Several of these are composites in glibc (statvfs, pathconf, utimes,
//! eaccess, fchmodat with AT_SYMLINK_NOFOLLOW, realpath) whose internal
//! calls never reach the hooks, so for rump objects they are rebuilt here
//! from the kernel's calls, the way glibc builds them.

// The hooks are libc's functions; their contracts are libc's manual pages.
#![allow(clippy::missing_safety_doc)]

use crate::backend::Backend;
use crate::fdmap;
use crate::host::{guard, sys};
use crate::route::{self, Cwd, RumpPath};
use crate::{by_fd, by_path};
use libc::{c_char, c_int, c_long, c_void, gid_t, mode_t, size_t, ssize_t, timespec, timeval, uid_t};
use rump_abi::linux::sys as rump;
use rump_abi::linux::types as lt;
use rump_abi::Errno;

crate::real_fns! {
    fn stat(path: *const c_char, buf: *mut stat) -> c_int;
    fn stat64(path: *const c_char, buf: *mut stat64) -> c_int;
    fn lstat(path: *const c_char, buf: *mut stat) -> c_int;
    fn lstat64(path: *const c_char, buf: *mut stat64) -> c_int;
    fn fstat(fd: c_int, buf: *mut stat) -> c_int;
    fn fstat64(fd: c_int, buf: *mut stat64) -> c_int;
    fn fstatat(dirfd: c_int, path: *const c_char, buf: *mut stat, flags: c_int) -> c_int;
    fn fstatat64(dirfd: c_int, path: *const c_char, buf: *mut stat64, flags: c_int) -> c_int;
    fn statx(dirfd: c_int, path: *const c_char, flags: c_int, mask: c_uint, buf: *mut statx) -> c_int;
    fn access(path: *const c_char, mode: c_int) -> c_int;
    fn faccessat(dirfd: c_int, path: *const c_char, mode: c_int, flags: c_int) -> c_int;
    fn eaccess(path: *const c_char, mode: c_int) -> c_int;
    fn euidaccess(path: *const c_char, mode: c_int) -> c_int;
    fn readlink(path: *const c_char, buf: *mut c_char, n: size_t) -> ssize_t;
    fn readlinkat(dirfd: c_int, path: *const c_char, buf: *mut c_char, n: size_t) -> ssize_t;
    fn __readlink_chk(path: *const c_char, buf: *mut c_char, n: size_t, buflen: size_t) -> ssize_t;
    fn __readlinkat_chk(dirfd: c_int, path: *const c_char, buf: *mut c_char, n: size_t, buflen: size_t) -> ssize_t;
    fn chmod(path: *const c_char, mode: mode_t) -> c_int;
    fn fchmod(fd: c_int, mode: mode_t) -> c_int;
    fn fchmodat(dirfd: c_int, path: *const c_char, mode: mode_t, flags: c_int) -> c_int;
    fn lchmod(path: *const c_char, mode: mode_t) -> c_int;
    fn chown(path: *const c_char, uid: uid_t, gid: gid_t) -> c_int;
    fn fchown(fd: c_int, uid: uid_t, gid: gid_t) -> c_int;
    fn lchown(path: *const c_char, uid: uid_t, gid: gid_t) -> c_int;
    fn fchownat(dirfd: c_int, path: *const c_char, uid: uid_t, gid: gid_t, flags: c_int) -> c_int;
    fn utime(path: *const c_char, times: *const utimbuf) -> c_int;
    fn utimes(path: *const c_char, tv: *const timeval) -> c_int;
    fn lutimes(path: *const c_char, tv: *const timeval) -> c_int;
    fn futimes(fd: c_int, tv: *const timeval) -> c_int;
    fn futimesat(dirfd: c_int, path: *const c_char, tv: *const timeval) -> c_int;
    fn utimensat(dirfd: c_int, path: *const c_char, ts: *const timespec, flags: c_int) -> c_int;
    fn futimens(fd: c_int, ts: *const timespec) -> c_int;
    fn statfs(path: *const c_char, buf: *mut statfs) -> c_int;
    fn statfs64(path: *const c_char, buf: *mut statfs64) -> c_int;
    fn fstatfs(fd: c_int, buf: *mut statfs) -> c_int;
    fn fstatfs64(fd: c_int, buf: *mut statfs64) -> c_int;
    fn statvfs(path: *const c_char, buf: *mut statvfs) -> c_int;
    fn statvfs64(path: *const c_char, buf: *mut statvfs64) -> c_int;
    fn fstatvfs(fd: c_int, buf: *mut statvfs) -> c_int;
    fn fstatvfs64(fd: c_int, buf: *mut statvfs64) -> c_int;
    fn pathconf(path: *const c_char, name: c_int) -> c_long;
    fn fpathconf(fd: c_int, name: c_int) -> c_long;
    fn getxattr(path: *const c_char, name: *const c_char, value: *mut c_void, size: size_t) -> ssize_t;
    fn lgetxattr(path: *const c_char, name: *const c_char, value: *mut c_void, size: size_t) -> ssize_t;
    fn fgetxattr(fd: c_int, name: *const c_char, value: *mut c_void, size: size_t) -> ssize_t;
    fn setxattr(path: *const c_char, name: *const c_char, value: *const c_void, size: size_t, flags: c_int) -> c_int;
    fn lsetxattr(path: *const c_char, name: *const c_char, value: *const c_void, size: size_t, flags: c_int) -> c_int;
    fn fsetxattr(fd: c_int, name: *const c_char, value: *const c_void, size: size_t, flags: c_int) -> c_int;
    fn listxattr(path: *const c_char, list: *mut c_char, size: size_t) -> ssize_t;
    fn llistxattr(path: *const c_char, list: *mut c_char, size: size_t) -> ssize_t;
    fn flistxattr(fd: c_int, list: *mut c_char, size: size_t) -> ssize_t;
    fn removexattr(path: *const c_char, name: *const c_char) -> c_int;
    fn lremovexattr(path: *const c_char, name: *const c_char) -> c_int;
    fn fremovexattr(fd: c_int, name: *const c_char) -> c_int;
    fn realpath(path: *const c_char, resolved: *mut c_char) -> *mut c_char;
    fn __realpath_chk(path: *const c_char, resolved: *mut c_char, len: size_t) -> *mut c_char;
    fn canonicalize_file_name(path: *const c_char) -> *mut c_char;
}

const NOFOLLOW: c_int = libc::AT_SYMLINK_NOFOLLOW;
/// Linux's PATH_MAX, the NUL included.
const PATH_MAX: usize = libc::PATH_MAX as usize;

// The kernel writes Linux's x86-64 layouts, which are glibc's.
const _: () = assert!(std::mem::size_of::<libc::stat>() == std::mem::size_of::<lt::stat>());
const _: () = assert!(std::mem::size_of::<libc::stat64>() == std::mem::size_of::<lt::stat>());
const _: () = assert!(std::mem::size_of::<libc::statx>() == std::mem::size_of::<lt::statx>());
const _: () = assert!(std::mem::size_of::<libc::statfs>() == std::mem::size_of::<lt::statfs>());
const _: () = assert!(std::mem::size_of::<libc::statfs64>() == std::mem::size_of::<lt::statfs>());
const _: () = assert!(std::mem::size_of::<libc::statvfs>() == std::mem::size_of::<libc::statvfs64>());
const _: () = assert!(std::mem::size_of::<timespec>() == std::mem::size_of::<lt::timespec>());

/// The path to route for a call that takes AT_EMPTY_PATH: Linux (6.11 on)
/// reads a NULL path as the empty one then, so a NULL on a rump dirfd must
/// reach the kernel rather than the host's placeholder.
fn empty_ok(path: *const c_char, flags: c_int) -> *const c_char {
    if path.is_null() && flags & libc::AT_EMPTY_PATH != 0 {
        c"".as_ptr()
    } else {
        path
    }
}

// ---- the stat family -----------------------------------------------------

fn stat_at(k: &Backend, p: &RumpPath, buf: *mut c_void, flags: c_int) -> Result<c_int, Errno> {
    rump::rump_sys_newfstatat(k, p.dirfd, p.path.as_ptr(), buf.cast(), flags)
}

fn fstat_rump(k: &Backend, r: i32, buf: *mut c_void) -> Result<c_int, Errno> {
    rump::rump_sys_fstat(k, r as u32, buf.cast())
}

crate::hook! {
    Path fn stat | stat64(path: *const c_char, buf: *mut c_void) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| stat_at(k, &p, buf.cast(), 0), unsafe { host!(path, buf.cast()) })
    }

    Path fn lstat | lstat64(path: *const c_char, buf: *mut c_void) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| stat_at(k, &p, buf.cast(), NOFOLLOW), unsafe { host!(path, buf.cast()) })
    }

    Fd fn fstat | fstat64(fd: c_int, buf: *mut c_void) -> c_int;
    {
        by_fd!(fd, |k, r| fstat_rump(k, r, buf.cast()), unsafe { host!(fd, buf.cast()) })
    }

    Path fn fstatat | fstatat64(dirfd: c_int, path: *const c_char, buf: *mut c_void, flags: c_int) -> c_int;
    {
        by_path!(dirfd, path = empty_ok(path, flags), |k, p| stat_at(k, &p, buf.cast(), flags), unsafe {
            host!(dirfd, path, buf.cast(), flags)
        })
    }

    Path fn statx(dirfd: c_int, path: *const c_char, flags: c_int, mask: libc::c_uint, buf: *mut libc::statx) -> c_int;
    {
        by_path!(
            dirfd,
            path = empty_ok(path, flags),
            |k, p| rump::rump_sys_statx(k, p.dirfd, p.path.as_ptr(), flags as u32, mask, buf.cast()),
            unsafe { host!(dirfd, path, flags, mask, buf) }
        )
    }
}

// The pre-2.33 entry points. glibc 2.33+ keeps them only as compat symbols,
// which dlsym cannot find, so their host side is the raw syscall (what
// glibc's own versions make).

/// `_STAT_VER_KERNEL` and `_STAT_VER_LINUX`, the versions x86-64 glibc took.
fn stat_ver(ver: c_int) -> Result<(), Errno> {
    if ver == 0 || ver == 1 {
        Ok(())
    } else {
        Err(Errno(libc::EINVAL))
    }
}

/// `__fxstatat`: version check, then the kernel's or the host's fstatat.
unsafe fn xstat_at(ver: c_int, dirfd: c_int, path: *const c_char, buf: *mut c_void, flags: c_int) -> c_int {
    if let Err(e) = stat_ver(ver) {
        return guard(|| Err::<c_int, _>(e));
    }
    by_path!(dirfd, path = empty_ok(path, flags), |k, p| stat_at(k, &p, buf, flags), {
        let a = [dirfd as usize, path as usize, buf as usize, flags as usize];
        guard(|| sys(libc::SYS_newfstatat, a).map(|_| 0))
    })
}

unsafe fn xstat_fd(ver: c_int, fd: c_int, buf: *mut c_void) -> c_int {
    if let Err(e) = stat_ver(ver) {
        return guard(|| Err::<c_int, _>(e));
    }
    by_fd!(
        fd,
        |k, r| fstat_rump(k, r, buf),
        guard(|| sys(libc::SYS_fstat, [fd as usize, buf as usize, 0, 0]).map(|_| 0))
    )
}

crate::hook! {
    Path fn __xstat | __xstat64(ver: c_int, path: *const c_char, buf: *mut c_void) -> c_int;
    {
        unsafe { xstat_at(ver, libc::AT_FDCWD, path, buf.cast(), 0) }
    }

    Path fn __lxstat | __lxstat64(ver: c_int, path: *const c_char, buf: *mut c_void) -> c_int;
    {
        unsafe { xstat_at(ver, libc::AT_FDCWD, path, buf.cast(), NOFOLLOW) }
    }

    Fd fn __fxstat | __fxstat64(ver: c_int, fd: c_int, buf: *mut c_void) -> c_int;
    {
        unsafe { xstat_fd(ver, fd, buf.cast()) }
    }

    Path fn __fxstatat | __fxstatat64(
        ver: c_int,
        dirfd: c_int,
        path: *const c_char,
        buf: *mut c_void,
        flags: c_int,
    ) -> c_int;
    {
        unsafe { xstat_at(ver, dirfd, path, buf.cast(), flags) }
    }
}

// ---- access --------------------------------------------------------------

/// faccessat in the kernel: the plain call when there are no flags (as
/// glibc makes it), faccessat2 otherwise.
fn access_rump(k: &Backend, p: &RumpPath, mode: c_int, flags: c_int) -> Result<c_int, Errno> {
    if flags == 0 {
        rump::rump_sys_faccessat(k, p.dirfd, p.path.as_ptr(), mode)
    } else {
        rump::rump_sys_faccessat2(k, p.dirfd, p.path.as_ptr(), mode, flags)
    }
}

crate::hook! {
    Path fn access(path: *const c_char, mode: c_int) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| access_rump(k, &p, mode, 0), unsafe { host!(path, mode) })
    }

    Path fn faccessat(dirfd: c_int, path: *const c_char, mode: c_int, flags: c_int) -> c_int;
    {
        by_path!(dirfd, path, |k, p| access_rump(k, &p, mode, flags), unsafe { host!(dirfd, path, mode, flags) })
    }

    Path fn eaccess | euidaccess(path: *const c_char, mode: c_int) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| access_rump(k, &p, mode, libc::AT_EACCESS), unsafe { host!(path, mode) })
    }
}

// ---- readlink ------------------------------------------------------------

fn readlink_rump(k: &Backend, p: &RumpPath, buf: *mut c_char, n: size_t) -> Result<ssize_t, Errno> {
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    rump::rump_sys_readlinkat(k, p.dirfd, p.path.as_ptr(), buf, n)
}

crate::hook! {
    Path fn readlink(path: *const c_char, buf: *mut c_char, n: size_t) -> ssize_t;
        chk __readlink_chk(buflen: size_t) if n > buflen;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| readlink_rump(k, &p, buf, n), unsafe { host!(path, buf, n) })
    }

    Path fn readlinkat(dirfd: c_int, path: *const c_char, buf: *mut c_char, n: size_t) -> ssize_t;
        chk __readlinkat_chk(buflen: size_t) if n > buflen;
    {
        by_path!(dirfd, path, |k, p| readlink_rump(k, &p, buf, n), unsafe { host!(dirfd, path, buf, n) })
    }
}

// ---- chmod and chown -----------------------------------------------------

/// fchmodat with flags. The kernel's fchmodat always follows; glibc's
/// emulation of AT_SYMLINK_NOFOLLOW goes through /proc/self/fd, which
/// cannot name a rump object. Linux cannot change a symlink's mode
/// (EOPNOTSUPP) and otherwise acts on the object itself, so look first.
fn chmod_rump(k: &Backend, p: &RumpPath, mode: mode_t, flags: c_int) -> Result<c_int, Errno> {
    if flags & !(NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno(libc::EINVAL));
    }
    if flags & libc::AT_EMPTY_PATH != 0 && p.path.is_empty() {
        return if p.dirfd == libc::AT_FDCWD {
            rump::rump_sys_fchmodat(k, p.dirfd, c".".as_ptr(), mode)
        } else {
            rump::rump_sys_fchmod(k, p.dirfd as u32, mode)
        };
    }
    if flags & NOFOLLOW != 0 {
        let mut st = lt::stat::default();
        rump::rump_sys_newfstatat(k, p.dirfd, p.path.as_ptr(), &mut st, NOFOLLOW)?;
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return Err(Errno(libc::EOPNOTSUPP));
        }
    }
    rump::rump_sys_fchmodat(k, p.dirfd, p.path.as_ptr(), mode)
}

crate::hook! {
    Path fn chmod(path: *const c_char, mode: mode_t) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| chmod_rump(k, &p, mode, 0), unsafe { host!(path, mode) })
    }

    Fd fn fchmod(fd: c_int, mode: mode_t) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_fchmod(k, r as u32, mode), unsafe { host!(fd, mode) })
    }

    Path fn fchmodat(dirfd: c_int, path: *const c_char, mode: mode_t, flags: c_int) -> c_int;
    {
        by_path!(dirfd, path, |k, p| chmod_rump(k, &p, mode, flags), unsafe { host!(dirfd, path, mode, flags) })
    }

    Path fn lchmod(path: *const c_char, mode: mode_t) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| chmod_rump(k, &p, mode, NOFOLLOW), unsafe { host!(path, mode) })
    }
}

fn chown_rump(k: &Backend, p: &RumpPath, uid: uid_t, gid: gid_t, flags: c_int) -> Result<c_int, Errno> {
    rump::rump_sys_fchownat(k, p.dirfd, p.path.as_ptr(), uid, gid, flags)
}

crate::hook! {
    Path fn chown(path: *const c_char, uid: uid_t, gid: gid_t) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| chown_rump(k, &p, uid, gid, 0), unsafe { host!(path, uid, gid) })
    }

    Fd fn fchown(fd: c_int, uid: uid_t, gid: gid_t) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_fchown(k, r as u32, uid, gid), unsafe { host!(fd, uid, gid) })
    }

    Path fn lchown(path: *const c_char, uid: uid_t, gid: gid_t) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| chown_rump(k, &p, uid, gid, NOFOLLOW), unsafe { host!(path, uid, gid) })
    }

    Path fn fchownat(dirfd: c_int, path: *const c_char, uid: uid_t, gid: gid_t, flags: c_int) -> c_int;
    {
        by_path!(dirfd, path, |k, p| chown_rump(k, &p, uid, gid, flags), unsafe { host!(dirfd, path, uid, gid, flags) })
    }
}

// ---- times: everything goes onto the kernel's utimensat ----------------

/// utimensat by a routed path; `ts` NULL means both times now.
fn utimens_at(k: &Backend, p: &RumpPath, ts: *const timespec, flags: c_int) -> Result<c_int, Errno> {
    rump::rump_sys_utimensat(k, p.dirfd, p.path.as_ptr(), ts.cast(), flags)
}

/// futimens: Linux's utimensat with a NULL path acts on the fd.
fn utimens_fd(k: &Backend, r: i32, ts: *const timespec) -> Result<c_int, Errno> {
    rump::rump_sys_utimensat(k, r, std::ptr::null(), ts.cast(), 0)
}

/// The timespec pair for a timeval pair (NULL stays NULL: now). An
/// out-of-range tv_usec becomes an out-of-range tv_nsec, which the kernel
/// refuses with EINVAL as glibc's conversion leads Linux to.
///
/// # Safety
/// `tv` is NULL or points at two timevals.
unsafe fn from_timevals(tv: *const timeval) -> Option<[timespec; 2]> {
    if tv.is_null() {
        return None;
    }
    // SAFETY: the caller's two timevals.
    let tv = unsafe { std::slice::from_raw_parts(tv, 2) };
    Some([0, 1].map(|i| timespec { tv_sec: tv[i].tv_sec, tv_nsec: tv[i].tv_usec.saturating_mul(1000) }))
}

fn ts_ptr(ts: &Option<[timespec; 2]>) -> *const timespec {
    ts.as_ref().map_or(std::ptr::null(), |t| t.as_ptr())
}

crate::hook! {
    Path fn utime(path: *const c_char, times: *const libc::utimbuf) -> c_int;
    {
        by_path!(
            libc::AT_FDCWD,
            path,
            |k, p| {
                // SAFETY: NULL or the caller's utimbuf.
                let ts = unsafe { times.as_ref() }
                    .map(|t| [timespec { tv_sec: t.actime, tv_nsec: 0 }, timespec { tv_sec: t.modtime, tv_nsec: 0 }]);
                utimens_at(k, &p, ts_ptr(&ts), 0)
            },
            unsafe { host!(path, times) }
        )
    }

    Path fn utimes(path: *const c_char, tv: *const timeval) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| utimens_at(k, &p, ts_ptr(&unsafe { from_timevals(tv) }), 0), unsafe {
            host!(path, tv)
        })
    }

    Path fn lutimes(path: *const c_char, tv: *const timeval) -> c_int;
    {
        by_path!(
            libc::AT_FDCWD,
            path,
            |k, p| utimens_at(k, &p, ts_ptr(&unsafe { from_timevals(tv) }), NOFOLLOW),
            unsafe { host!(path, tv) }
        )
    }

    Fd fn futimes(fd: c_int, tv: *const timeval) -> c_int;
    {
        by_fd!(fd, |k, r| utimens_fd(k, r, ts_ptr(&unsafe { from_timevals(tv) })), unsafe { host!(fd, tv) })
    }

    Path fn futimesat(dirfd: c_int, path: *const c_char, tv: *const timeval) -> c_int;
    {
        if path.is_null() {
            return by_fd!(dirfd, |k, r| utimens_fd(k, r, ts_ptr(&unsafe { from_timevals(tv) })), unsafe {
                host!(dirfd, path, tv)
            });
        }
        by_path!(dirfd, path, |k, p| utimens_at(k, &p, ts_ptr(&unsafe { from_timevals(tv) }), 0), unsafe {
            host!(dirfd, path, tv)
        })
    }

    /// glibc's utimensat refuses a NULL path (EINVAL) before any syscall;
    /// futimens and futimesat are the ways to name the fd alone.
    Path fn utimensat(dirfd: c_int, path: *const c_char, ts: *const timespec, flags: c_int) -> c_int;
    {
        if path.is_null() && fdmap::rump_fd(dirfd).is_some() {
            return guard(|| Err::<c_int, _>(Errno(libc::EINVAL)));
        }
        by_path!(dirfd, path, |k, p| utimens_at(k, &p, ts, flags), unsafe { host!(dirfd, path, ts, flags) })
    }

    Fd fn futimens(fd: c_int, ts: *const timespec) -> c_int;
    {
        by_fd!(fd, |k, r| utimens_fd(k, r, ts), unsafe { host!(fd, ts) })
    }
}

// ---- statfs, statvfs, pathconf ------------------------------------------

/// statfs by a routed path. The kernel's statfs has no dirfd: a path
/// relative to a rump dirfd goes through an O_PATH open.
fn statfs_at(k: &Backend, p: &RumpPath, buf: *mut lt::statfs) -> Result<c_int, Errno> {
    if p.dirfd == libc::AT_FDCWD {
        return rump::rump_sys_statfs(k, p.path.as_ptr(), buf);
    }
    let r = rump::rump_sys_openat(k, p.dirfd, p.path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC, 0)?;
    let res = rump::rump_sys_fstatfs(k, r as u32, buf);
    let _ = rump::rump_sys_close(k, r as u32);
    res
}

fn statfs_fd(k: &Backend, r: i32, buf: *mut lt::statfs) -> Result<c_int, Errno> {
    rump::rump_sys_fstatfs(k, r as u32, buf)
}

/// statfs's "f_flags is valid" bit, which statvfs does not show.
const ST_VALID: i64 = 0x20;

/// struct statvfs from the kernel's statfs, as glibc's
/// `__internal_statvfs` fills it.
///
/// # Safety
/// `out` points at a struct statvfs (statvfs64 has the same layout).
unsafe fn put_statvfs(fs: &lt::statfs, out: *mut libc::statvfs) {
    // SAFETY: all-zero is a valid statvfs (the spare words are zero).
    let mut v: libc::statvfs = unsafe { std::mem::zeroed() };
    v.f_bsize = fs.f_bsize as _;
    v.f_frsize = if fs.f_frsize != 0 { fs.f_frsize } else { fs.f_bsize } as _;
    v.f_blocks = fs.f_blocks;
    v.f_bfree = fs.f_bfree;
    v.f_bavail = fs.f_bavail;
    v.f_files = fs.f_files;
    v.f_ffree = fs.f_ffree;
    v.f_favail = fs.f_ffree;
    v.f_fsid = (fs.f_fsid[0] as u32 as u64 | ((fs.f_fsid[1] as u32 as u64) << 32)) as _;
    v.f_flag = (fs.f_flags & !ST_VALID) as _;
    v.f_namemax = fs.f_namelen as _;
    // SAFETY: the caller's buffer.
    unsafe { out.write_unaligned(v) };
}

fn statvfs_at(k: &Backend, p: &RumpPath, out: *mut libc::statvfs) -> Result<c_int, Errno> {
    let mut fs = lt::statfs::default();
    statfs_at(k, p, &mut fs)?;
    // SAFETY: the caller's buffer.
    unsafe { put_statvfs(&fs, out) };
    Ok(0)
}

fn statvfs_fd(k: &Backend, r: i32, out: *mut libc::statvfs) -> Result<c_int, Errno> {
    let mut fs = lt::statfs::default();
    statfs_fd(k, r, &mut fs)?;
    // SAFETY: the caller's buffer.
    unsafe { put_statvfs(&fs, out) };
    Ok(0)
}

crate::hook! {
    Path fn statfs | statfs64(path: *const c_char, buf: *mut c_void) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| statfs_at(k, &p, buf.cast()), unsafe { host!(path, buf.cast()) })
    }

    Fd fn fstatfs | fstatfs64(fd: c_int, buf: *mut c_void) -> c_int;
    {
        by_fd!(fd, |k, r| statfs_fd(k, r, buf.cast()), unsafe { host!(fd, buf.cast()) })
    }

    Path fn statvfs | statvfs64(path: *const c_char, buf: *mut c_void) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| statvfs_at(k, &p, buf.cast()), unsafe { host!(path, buf.cast()) })
    }

    Fd fn fstatvfs | fstatvfs64(fd: c_int, buf: *mut c_void) -> c_int;
    {
        by_fd!(fd, |k, r| statvfs_fd(k, r, buf.cast()), unsafe { host!(fd, buf.cast()) })
    }
}

/// What glibc's Linux pathconf answers for a file system it has no special
/// table entry for (tmpfs among them), with NAME_MAX and the transfer
/// sizes from the kernel's statfs. Ok(-1) is "no limit" (errno untouched).
fn pathconf_of(fs: &lt::statfs, name: c_int) -> Result<c_long, Errno> {
    let bsize = if fs.f_frsize != 0 { fs.f_frsize } else { fs.f_bsize };
    Ok(match name {
        libc::_PC_LINK_MAX => 127,
        libc::_PC_MAX_CANON | libc::_PC_MAX_INPUT => 255,
        libc::_PC_NAME_MAX => fs.f_namelen,
        libc::_PC_PATH_MAX => 4096,
        libc::_PC_PIPE_BUF => 4096,
        libc::_PC_CHOWN_RESTRICTED | libc::_PC_NO_TRUNC | libc::_PC_2_SYMLINKS => 1,
        libc::_PC_VDISABLE => 0,
        libc::_PC_FILESIZEBITS => 32,
        libc::_PC_REC_MIN_XFER_SIZE | libc::_PC_REC_XFER_ALIGN | libc::_PC_ALLOC_SIZE_MIN => bsize,
        libc::_PC_SYNC_IO
        | libc::_PC_ASYNC_IO
        | libc::_PC_PRIO_IO
        | libc::_PC_SOCK_MAXBUF
        | libc::_PC_REC_INCR_XFER_SIZE
        | libc::_PC_REC_MAX_XFER_SIZE
        | libc::_PC_SYMLINK_MAX => -1,
        _ => return Err(Errno(libc::EINVAL)),
    })
}

crate::hook! {
    Path fn pathconf(path: *const c_char, name: c_int) -> c_long;
    {
        by_path!(
            libc::AT_FDCWD,
            path,
            |k, p| {
                let mut fs = lt::statfs::default();
                statfs_at(k, &p, &mut fs)?;
                pathconf_of(&fs, name)
            },
            unsafe { host!(path, name) }
        )
    }

    Fd fn fpathconf(fd: c_int, name: c_int) -> c_long;
    {
        by_fd!(
            fd,
            |k, r| {
                let mut fs = lt::statfs::default();
                statfs_fd(k, r, &mut fs)?;
                pathconf_of(&fs, name)
            },
            unsafe { host!(fd, name) }
        )
    }
}

// ---- extended attributes: none in the kernel ----------------------------

/// The kernel keeps no extended attributes: ENOTSUP, once the object is
/// known to exist (so a missing path is still ENOENT).
fn no_xattr_path<T>(k: &Backend, p: &RumpPath, flags: c_int) -> Result<T, Errno> {
    let mut st = lt::stat::default();
    rump::rump_sys_newfstatat(k, p.dirfd, p.path.as_ptr(), &mut st, flags)?;
    Err(Errno(libc::ENOTSUP))
}

fn no_xattr_fd<T>(k: &Backend, r: i32) -> Result<T, Errno> {
    let mut st = lt::stat::default();
    rump::rump_sys_fstat(k, r as u32, &mut st)?;
    Err(Errno(libc::ENOTSUP))
}

crate::hook! {
    Path fn getxattr(path: *const c_char, name: *const c_char, value: *mut c_void, size: size_t) -> ssize_t;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| no_xattr_path(k, &p, 0), unsafe { host!(path, name, value, size) })
    }

    Path fn lgetxattr(path: *const c_char, name: *const c_char, value: *mut c_void, size: size_t) -> ssize_t;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| no_xattr_path(k, &p, NOFOLLOW), unsafe { host!(path, name, value, size) })
    }

    Fd fn fgetxattr(fd: c_int, name: *const c_char, value: *mut c_void, size: size_t) -> ssize_t;
    {
        by_fd!(fd, |k, r| no_xattr_fd(k, r), unsafe { host!(fd, name, value, size) })
    }

    Path fn setxattr(
        path: *const c_char,
        name: *const c_char,
        value: *const c_void,
        size: size_t,
        flags: c_int,
    ) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| no_xattr_path(k, &p, 0), unsafe { host!(path, name, value, size, flags) })
    }

    Path fn lsetxattr(
        path: *const c_char,
        name: *const c_char,
        value: *const c_void,
        size: size_t,
        flags: c_int,
    ) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| no_xattr_path(k, &p, NOFOLLOW), unsafe {
            host!(path, name, value, size, flags)
        })
    }

    Fd fn fsetxattr(fd: c_int, name: *const c_char, value: *const c_void, size: size_t, flags: c_int) -> c_int;
    {
        by_fd!(fd, |k, r| no_xattr_fd(k, r), unsafe { host!(fd, name, value, size, flags) })
    }

    Path fn listxattr(path: *const c_char, list: *mut c_char, size: size_t) -> ssize_t;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| no_xattr_path(k, &p, 0), unsafe { host!(path, list, size) })
    }

    Path fn llistxattr(path: *const c_char, list: *mut c_char, size: size_t) -> ssize_t;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| no_xattr_path(k, &p, NOFOLLOW), unsafe { host!(path, list, size) })
    }

    Fd fn flistxattr(fd: c_int, list: *mut c_char, size: size_t) -> ssize_t;
    {
        by_fd!(fd, |k, r| no_xattr_fd(k, r), unsafe { host!(fd, list, size) })
    }

    Path fn removexattr(path: *const c_char, name: *const c_char) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| no_xattr_path(k, &p, 0), unsafe { host!(path, name) })
    }

    Path fn lremovexattr(path: *const c_char, name: *const c_char) -> c_int;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| no_xattr_path(k, &p, NOFOLLOW), unsafe { host!(path, name) })
    }

    Fd fn fremovexattr(fd: c_int, name: *const c_char) -> c_int;
    {
        by_fd!(fd, |k, r| no_xattr_fd(k, r), unsafe { host!(fd, name) })
    }
}

// ---- realpath ------------------------------------------------------------

/// glibc's limit on symlinks followed in one resolution (`__eloop_threshold`).
const MAX_LINKS: u32 = 40;

/// The kernel's working directory.
pub fn kernel_cwd(k: &Backend) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; PATH_MAX];
    let n = match rump::rump_sys_getcwd(k, buf.as_mut_ptr().cast(), buf.len() as u64) {
        Ok(n) => n as usize,
        // Longer than PATH_MAX: what Linux says for a cwd beyond a page.
        Err(Errno(libc::ERANGE)) => return Err(Errno(libc::ENAMETOOLONG)),
        Err(e) => return Err(e),
    };
    buf.truncate(n.saturating_sub(1));
    Ok(buf)
}

/// Drops the last component of the absolute path `out` ("/" stays).
fn pop_component(out: &mut Vec<u8>) {
    let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
    out.truncate(cut.max(1));
}

/// Resolves `path` (a kernel path, relative ones to the kernel's cwd)
/// component by component, as glibc's realpath does but with the kernel's
/// lstat and readlink, so symlinks are read in the kernel's name space and
/// ".." stops at its root. An error carries the part resolved so far.
pub fn resolve(k: &Backend, path: &[u8]) -> Result<Vec<u8>, (Errno, Vec<u8>)> {
    if path.is_empty() {
        return Err((Errno(libc::ENOENT), Vec::new()));
    }
    let mut out = if path[0] == b'/' { b"/".to_vec() } else { kernel_cwd(k).map_err(|e| (e, Vec::new()))? };
    let mut rest = path.to_vec();
    let mut pos = 0;
    let mut links = 0;
    loop {
        while rest.get(pos) == Some(&b'/') {
            pos += 1;
        }
        if pos == rest.len() {
            return Ok(out);
        }
        let end = rest[pos..].iter().position(|&b| b == b'/').map_or(rest.len(), |i| pos + i);
        match &rest[pos..end] {
            b"." => {}
            b".." => pop_component(&mut out),
            comp => {
                if out.last() != Some(&b'/') {
                    out.push(b'/');
                }
                out.extend_from_slice(comp);
                if out.len() >= PATH_MAX {
                    return Err((Errno(libc::ENAMETOOLONG), out));
                }
                let Ok(c) = std::ffi::CString::new(out.clone()) else {
                    return Err((Errno(libc::ENOENT), out));
                };
                let mut st = lt::stat::default();
                if let Err(e) = rump::rump_sys_newfstatat(k, libc::AT_FDCWD, c.as_ptr(), &mut st, NOFOLLOW) {
                    return Err((e, out));
                }
                match st.st_mode & libc::S_IFMT {
                    libc::S_IFLNK => {
                        links += 1;
                        if links > MAX_LINKS {
                            return Err((Errno(libc::ELOOP), out));
                        }
                        let mut buf = vec![0u8; PATH_MAX];
                        let n = rump::rump_sys_readlinkat(
                            k,
                            libc::AT_FDCWD,
                            c.as_ptr(),
                            buf.as_mut_ptr().cast(),
                            buf.len() as i32,
                        );
                        let n = match n {
                            Ok(n) => n as usize,
                            Err(e) => return Err((e, out)),
                        };
                        buf.truncate(n);
                        if buf.len() + rest.len() - end >= PATH_MAX {
                            return Err((Errno(libc::ENAMETOOLONG), out));
                        }
                        buf.extend_from_slice(&rest[end..]);
                        rest = buf;
                        pos = 0;
                        if rest.first() == Some(&b'/') {
                            out.truncate(1);
                        } else {
                            pop_component(&mut out);
                        }
                        continue;
                    }
                    libc::S_IFDIR => {}
                    _ if end < rest.len() => return Err((Errno(libc::ENOTDIR), out)),
                    _ => {}
                }
            }
        }
        pos = end;
    }
}

/// How a kernel path is shown when reached through `via`: behind the
/// prefix, or as it is for a blanket.
pub fn shown(via: Cwd, kpath: &[u8]) -> Vec<u8> {
    match (via, route::config().prefix.as_deref()) {
        (Cwd::Prefixed, Some(prefix)) => {
            let mut v = prefix.as_bytes().to_vec();
            if kpath != b"/" {
                v.extend_from_slice(kpath);
            }
            v
        }
        _ => kpath.to_vec(),
    }
}

/// Copies `s` and a NUL into `dst`, or into new malloc'd memory when
/// `dst` is NULL.
///
/// # Safety
/// `dst` is NULL or has room for `s` and the NUL.
pub unsafe fn put_cstr(s: &[u8], dst: *mut c_char) -> Result<*mut c_char, Errno> {
    let dst = if dst.is_null() {
        // SAFETY: plain allocation; the caller frees it with free().
        let m = unsafe { libc::malloc(s.len() + 1) }.cast::<c_char>();
        if m.is_null() {
            return Err(Errno(libc::ENOMEM));
        }
        m
    } else {
        dst
    };
    // SAFETY: `dst` has room for s.len() + 1 bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), dst.cast::<u8>(), s.len());
        *dst.add(s.len()) = 0;
    }
    Ok(dst)
}

/// realpath of a routed path. With a caller's buffer (PATH_MAX bytes, by
/// the interface), glibc leaves the part resolved before an error in it.
fn realpath_rump(k: &Backend, p: &RumpPath, resolved: *mut c_char) -> Result<*mut c_char, Errno> {
    match resolve(k, p.path.as_bytes()) {
        Ok(kpath) => {
            let s = shown(p.via, &kpath);
            if !resolved.is_null() && s.len() >= PATH_MAX {
                return Err(Errno(libc::ENAMETOOLONG));
            }
            // SAFETY: NULL, or the caller's PATH_MAX buffer, which fits.
            unsafe { put_cstr(&s, resolved) }
        }
        Err((e, partial)) => {
            let s = shown(p.via, &partial);
            if !resolved.is_null() && !partial.is_empty() && s.len() < PATH_MAX {
                // SAFETY: the caller's PATH_MAX buffer, which fits.
                let _ = unsafe { put_cstr(&s, resolved) };
            }
            Err(e)
        }
    }
}

crate::hook! {
    Path fn realpath(path: *const c_char, resolved: *mut c_char) -> *mut c_char;
        chk __realpath_chk(len: size_t) if len < PATH_MAX;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| realpath_rump(k, &p, resolved), unsafe { host!(path, resolved) })
    }

    Path fn canonicalize_file_name(path: *const c_char) -> *mut c_char;
    {
        by_path!(libc::AT_FDCWD, path, |k, p| realpath_rump(k, &p, std::ptr::null_mut()), unsafe { host!(path) })
    }
}
