//! Calls on attributes: the stat family, statx, statfs, access, chmod,
//! chown, utimensat, truncate.

use super::at::{path, At};
use super::flags::{self, at_flags, AT_STAT_FLAGS};
use super::stat::{to_stat, to_statfs, to_statx, STATX_RESERVED};
use crate::syscalls::attr::{Stat, Target, TimeSet};
use crate::usermem::{read_pod, write_pod};
use crate::vfs::FsStat;
use crate::Cx;
use rump_abi::linux::flags::{AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW};
use rump_abi::linux::sys::args::*;
use rump_abi::linux::types::timespec;
use rump_abi::native::errno::{EFAULT, EINVAL};
use rump_abi::native::flags::{UTIME_NOW, UTIME_OMIT};
use rump_abi::{Errno, SysResult, UserAddr};

fn put_stat(cx: &Cx, buf: UserAddr, s: Result<Stat, Errno>) -> SysResult {
    write_pod(cx.mem, buf, &to_stat(&s?))?;
    Ok(0)
}

fn stat_path(cx: &mut Cx, addr: UserAddr, buf: UserAddr, follow: bool) -> SysResult {
    let p = path(cx, addr)?;
    let s = cx.stat(Target::Path(AT_FDCWD, &p, follow));
    put_stat(cx, buf, s)
}

pub fn linux_sys_stat(cx: &mut Cx, a: linux_sys_stat_args) -> SysResult {
    stat_path(cx, a.filename, a.statbuf, true)
}

pub fn linux_sys_lstat(cx: &mut Cx, a: linux_sys_lstat_args) -> SysResult {
    stat_path(cx, a.filename, a.statbuf, false)
}

pub fn linux_sys_fstat(cx: &mut Cx, a: linux_sys_fstat_args) -> SysResult {
    let s = cx.stat(Target::Fd(a.fd as i32));
    put_stat(cx, a.statbuf, s)
}

pub fn linux_sys_newfstatat(cx: &mut Cx, a: linux_sys_newfstatat_args) -> SysResult {
    let fl = at_flags(a.flag, AT_STAT_FLAGS)?;
    let at = At::new_maybe_null(cx, a.dfd, a.filename, fl)?;
    let s = cx.stat(at.target());
    put_stat(cx, a.statbuf, s)
}

/// The AT_STATX_* sync flags are accepted and change nothing: every file
/// system here is local.
pub fn linux_sys_statx(cx: &mut Cx, a: linux_sys_statx_args) -> SysResult {
    let fl = flags::statx_flags(a.flags)?;
    if a.mask & STATX_RESERVED != 0 {
        return Err(EINVAL);
    }
    let at = At::new_maybe_null(cx, a.dfd, a.filename, fl)?;
    let s = cx.stat(at.target())?;
    write_pod(cx.mem, a.buffer, &to_statx(&s, a.mask))?;
    Ok(0)
}

fn put_statfs(cx: &Cx, buf: UserAddr, r: Result<(FsStat, Vec<u8>, u64), Errno>) -> SysResult {
    let (fs, _, dev) = r?;
    write_pod(cx.mem, buf, &to_statfs(&fs, dev))?;
    Ok(0)
}

pub fn linux_sys_statfs(cx: &mut Cx, a: linux_sys_statfs_args) -> SysResult {
    let p = path(cx, a.pathname)?;
    let r = cx.statfs(Target::Path(AT_FDCWD, &p, true));
    put_statfs(cx, a.buf, r)
}

pub fn linux_sys_fstatfs(cx: &mut Cx, a: linux_sys_fstatfs_args) -> SysResult {
    let r = cx.statfs(Target::Fd(a.fd as i32));
    put_statfs(cx, a.buf, r)
}

/// access modes are R_OK|W_OK|X_OK (same bits in both ABIs), checked
/// before the path as on Linux. Credentials have one uid, so AT_EACCESS
/// (check the effective ids) changes nothing.
fn access(cx: &mut Cx, dirfd: i32, addr: UserAddr, mode: i32, lflags: i32) -> SysResult {
    if mode as u32 & !7 != 0 {
        return Err(EINVAL);
    }
    let fl = at_flags(lflags, AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)?;
    let at = At::new(cx, dirfd, addr, fl)?;
    cx.access(at.target(), mode as u32).map(|_| 0)
}

pub fn linux_sys_access(cx: &mut Cx, a: linux_sys_access_args) -> SysResult {
    access(cx, AT_FDCWD, a.filename, a.mode, 0)
}

pub fn linux_sys_faccessat(cx: &mut Cx, a: linux_sys_faccessat_args) -> SysResult {
    access(cx, a.dfd, a.filename, a.mode, 0)
}

pub fn linux_sys_faccessat2(cx: &mut Cx, a: linux_sys_faccessat2_args) -> SysResult {
    access(cx, a.dfd, a.filename, a.mode, a.flags)
}

fn chmod(cx: &mut Cx, t: Target, mode: u32) -> SysResult {
    cx.chmod(t, mode & 0o7777).map(|_| 0)
}

pub fn linux_sys_chmod(cx: &mut Cx, a: linux_sys_chmod_args) -> SysResult {
    let at = At::plain(cx, AT_FDCWD, a.filename)?;
    chmod(cx, at.target(), a.mode)
}

pub fn linux_sys_fchmod(cx: &mut Cx, a: linux_sys_fchmod_args) -> SysResult {
    chmod(cx, Target::Fd(a.fd as i32), a.mode)
}

/// fchmodat(2) has no flags argument: it always follows symlinks.
pub fn linux_sys_fchmodat(cx: &mut Cx, a: linux_sys_fchmodat_args) -> SysResult {
    let at = At::plain(cx, a.dfd, a.filename)?;
    chmod(cx, at.target(), a.mode)
}

fn chown(cx: &mut Cx, t: Target, uid: u32, gid: u32) -> SysResult {
    cx.chown(t, uid, gid).map(|_| 0)
}

pub fn linux_sys_chown(cx: &mut Cx, a: linux_sys_chown_args) -> SysResult {
    let at = At::plain(cx, AT_FDCWD, a.filename)?;
    chown(cx, at.target(), a.user, a.group)
}

pub fn linux_sys_lchown(cx: &mut Cx, a: linux_sys_lchown_args) -> SysResult {
    let at = At::new(cx, AT_FDCWD, a.filename, AT_SYMLINK_NOFOLLOW)?;
    chown(cx, at.target(), a.user, a.group)
}

pub fn linux_sys_fchown(cx: &mut Cx, a: linux_sys_fchown_args) -> SysResult {
    chown(cx, Target::Fd(a.fd as i32), a.user, a.group)
}

pub fn linux_sys_fchownat(cx: &mut Cx, a: linux_sys_fchownat_args) -> SysResult {
    let fl = at_flags(a.flag, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)?;
    let at = At::new(cx, a.dfd, a.filename, fl)?;
    chown(cx, at.target(), a.user, a.group)
}

/// The (atime, mtime) pair of utimensat; NULL means both now.
fn times_in(cx: &Cx, addr: UserAddr) -> Result<[TimeSet; 2], Errno> {
    if addr.is_null() {
        return Ok([TimeSet::Now; 2]);
    }
    let second = addr.offset(std::mem::size_of::<timespec>() as u64).ok_or(EFAULT)?;
    let (at, mt): (timespec, timespec) = (read_pod(cx.mem, addr)?, read_pod(cx.mem, second)?);
    Ok([TimeSet::from_timespec(at.tv_sec, at.tv_nsec)?, TimeSet::from_timespec(mt.tv_sec, mt.tv_nsec)?])
}

// TimeSet decodes these with the native values; Linux's are the same.
const _: () = assert!(UTIME_NOW == (1 << 30) - 1 && UTIME_OMIT == (1 << 30) - 2);

/// Linux's utimensat: omitting both times succeeds before the path is even
/// looked at; a NULL path means the fd itself (futimens), which takes no
/// flags and no AT_FDCWD.
pub fn linux_sys_utimensat(cx: &mut Cx, a: linux_sys_utimensat_args) -> SysResult {
    let times = times_in(cx, a.utimes)?;
    if !a.utimes.is_null() && times == [TimeSet::Omit; 2] {
        return Ok(0);
    }
    if a.filename.is_null() && a.dfd != AT_FDCWD {
        if a.flags != 0 {
            return Err(EINVAL);
        }
        return cx.utimens(Target::Fd(a.dfd), times).map(|_| 0);
    }
    let fl = at_flags(a.flags, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)?;
    let at = At::new(cx, a.dfd, a.filename, fl)?;
    cx.utimens(at.target(), times).map(|_| 0)
}

/// A negative length is EINVAL before the path is looked at.
pub fn linux_sys_truncate(cx: &mut Cx, a: linux_sys_truncate_args) -> SysResult {
    if a.length < 0 {
        return Err(EINVAL);
    }
    let at = At::plain(cx, AT_FDCWD, a.path)?;
    cx.truncate(at.target(), a.length).map(|_| 0)
}

/// A pipe is a valid fd that cannot be truncated: EINVAL (the core's
/// `truncate` answers EBADF, as it finds no vnode).
pub fn linux_sys_ftruncate(cx: &mut Cx, a: linux_sys_ftruncate_args) -> SysResult {
    let fd = a.fd as i32;
    if a.length >= 0 && cx.file(fd)?.vnode().is_none() {
        return Err(EINVAL);
    }
    cx.truncate(Target::Fd(fd), a.length).map(|_| 0)
}
