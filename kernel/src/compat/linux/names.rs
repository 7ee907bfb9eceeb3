//! Calls that change or read the name space: mkdir, mknod, unlink, rmdir,
//! link, symlink, readlink, rename, getdents64, and the working directory.

use super::at::path;
use super::flags::{at_flags, mknod_mode};
use super::stat::encode_dirent64;
use crate::syscalls::attr::Target;
use crate::vfs::VType;
use crate::Cx;
use rump_abi::linux::flags::{AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, RENAME_NOREPLACE};
use rump_abi::linux::sys::args::*;
use rump_abi::native::errno::{EINVAL, ENOENT};
use rump_abi::native::flags as n;
use rump_abi::{Errno, SysResult, UserAddr};

fn done(r: Result<(), Errno>) -> SysResult {
    r.map(|_| 0)
}

fn mkdir(cx: &mut Cx, dirfd: i32, addr: UserAddr, mode: u32) -> SysResult {
    let p = path(cx, addr)?;
    done(cx.mkdir_at(dirfd, &p, mode))
}

pub fn linux_sys_mkdir(cx: &mut Cx, a: linux_sys_mkdir_args) -> SysResult {
    mkdir(cx, AT_FDCWD, a.pathname, a.mode)
}

pub fn linux_sys_mkdirat(cx: &mut Cx, a: linux_sys_mkdirat_args) -> SysResult {
    mkdir(cx, a.dfd, a.pathname, a.mode)
}

/// Only device nodes keep the device number; Linux ignores it otherwise.
fn mknod(cx: &mut Cx, dirfd: i32, addr: UserAddr, mode: u32, dev: u32) -> SysResult {
    let p = path(cx, addr)?;
    let mode = mknod_mode(mode);
    let rdev = if matches!(mode & n::S_IFMT, n::S_IFCHR | n::S_IFBLK) { dev as u64 } else { 0 };
    done(cx.mknod_at(dirfd, &p, mode, rdev))
}

pub fn linux_sys_mknod(cx: &mut Cx, a: linux_sys_mknod_args) -> SysResult {
    mknod(cx, AT_FDCWD, a.filename, a.mode, a.dev)
}

pub fn linux_sys_mknodat(cx: &mut Cx, a: linux_sys_mknodat_args) -> SysResult {
    mknod(cx, a.dfd, a.filename, a.mode, a.dev)
}

fn unlink(cx: &mut Cx, dirfd: i32, addr: UserAddr, rmdir: bool) -> SysResult {
    let p = path(cx, addr)?;
    done(cx.unlink_at(dirfd, &p, rmdir))
}

pub fn linux_sys_unlink(cx: &mut Cx, a: linux_sys_unlink_args) -> SysResult {
    unlink(cx, AT_FDCWD, a.pathname, false)
}

pub fn linux_sys_rmdir(cx: &mut Cx, a: linux_sys_rmdir_args) -> SysResult {
    unlink(cx, AT_FDCWD, a.pathname, true)
}

pub fn linux_sys_unlinkat(cx: &mut Cx, a: linux_sys_unlinkat_args) -> SysResult {
    let fl = at_flags(a.flag, AT_REMOVEDIR)?;
    unlink(cx, a.dfd, a.pathname, fl != 0)
}

fn link(cx: &mut Cx, olddirfd: i32, oldaddr: UserAddr, newdirfd: i32, newaddr: UserAddr, lflags: u32) -> SysResult {
    let old = path(cx, oldaddr)?;
    let new = path(cx, newaddr)?;
    let source = if old.is_empty() && lflags & AT_EMPTY_PATH != 0 {
        // Linux lets only privileged callers name the source by fd alone
        // (the opener's own right since 6.10 is not tracked here).
        if !cx.proc().cred.is_root() {
            return Err(ENOENT);
        }
        Target::Fd(olddirfd)
    } else {
        Target::Path(olddirfd, &old, lflags & AT_SYMLINK_FOLLOW != 0)
    };
    done(cx.link_at(source, newdirfd, &new))
}

pub fn linux_sys_link(cx: &mut Cx, a: linux_sys_link_args) -> SysResult {
    link(cx, AT_FDCWD, a.oldname, AT_FDCWD, a.newname, 0)
}

pub fn linux_sys_linkat(cx: &mut Cx, a: linux_sys_linkat_args) -> SysResult {
    let fl = at_flags(a.flags, AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)?;
    link(cx, a.olddfd, a.oldname, a.newdfd, a.newname, fl)
}

fn symlink(cx: &mut Cx, target: UserAddr, dirfd: i32, addr: UserAddr) -> SysResult {
    let t = path(cx, target)?;
    let p = path(cx, addr)?;
    done(cx.symlink_at(&t, dirfd, &p))
}

pub fn linux_sys_symlink(cx: &mut Cx, a: linux_sys_symlink_args) -> SysResult {
    symlink(cx, a.oldname, AT_FDCWD, a.newname)
}

pub fn linux_sys_symlinkat(cx: &mut Cx, a: linux_sys_symlinkat_args) -> SysResult {
    symlink(cx, a.oldname, a.newdfd, a.newname)
}

/// readlink(2): a non-positive size is EINVAL before anything else; an
/// empty path reads the symlink open at `dirfd` (O_PATH|O_NOFOLLOW), and
/// the result is not NUL-terminated.
fn readlink(cx: &mut Cx, dirfd: i32, addr: UserAddr, buf: UserAddr, size: i32) -> SysResult {
    if size <= 0 {
        return Err(EINVAL);
    }
    let p = path(cx, addr)?;
    let target = if p.is_empty() { read_fd_link(cx, dirfd)? } else { cx.readlink_at(dirfd, &p)? };
    let n = target.len().min(size as usize);
    cx.mem.copy_out(buf, &target[..n])?;
    Ok(n as i64)
}

fn read_fd_link(cx: &mut Cx, fd: i32) -> Result<Vec<u8>, Errno> {
    let vn = cx.target(Target::Fd(fd))?;
    if cx.getattr(vn)?.vtype != VType::Lnk {
        return Err(ENOENT);
    }
    cx.st.mounts.fs(vn.mnt).readlink(vn.node)
}

pub fn linux_sys_readlink(cx: &mut Cx, a: linux_sys_readlink_args) -> SysResult {
    readlink(cx, AT_FDCWD, a.path, a.buf, a.bufsiz)
}

pub fn linux_sys_readlinkat(cx: &mut Cx, a: linux_sys_readlinkat_args) -> SysResult {
    readlink(cx, a.dfd, a.pathname, a.buf, a.bufsiz)
}

fn rename(
    cx: &mut Cx,
    olddirfd: i32,
    oldaddr: UserAddr,
    newdirfd: i32,
    newaddr: UserAddr,
    noreplace: bool,
) -> SysResult {
    let old = path(cx, oldaddr)?;
    let new = path(cx, newaddr)?;
    done(cx.rename_at(olddirfd, &old, newdirfd, &new, noreplace))
}

pub fn linux_sys_rename(cx: &mut Cx, a: linux_sys_rename_args) -> SysResult {
    rename(cx, AT_FDCWD, a.oldname, AT_FDCWD, a.newname, false)
}

pub fn linux_sys_renameat(cx: &mut Cx, a: linux_sys_renameat_args) -> SysResult {
    rename(cx, a.olddfd, a.oldname, a.newdfd, a.newname, false)
}

/// renameat2: RENAME_NOREPLACE only. RENAME_EXCHANGE and RENAME_WHITEOUT
/// are not supported (EINVAL, what Linux answers for flags a file system
/// cannot do), nor is any other bit.
pub fn linux_sys_renameat2(cx: &mut Cx, a: linux_sys_renameat2_args) -> SysResult {
    let noreplace = match a.flags {
        0 => false,
        RENAME_NOREPLACE => true,
        _ => return Err(EINVAL),
    };
    rename(cx, a.olddfd, a.oldname, a.newdfd, a.newname, noreplace)
}

pub fn linux_sys_getdents64(cx: &mut Cx, a: linux_sys_getdents64_args) -> SysResult {
    cx.getdents(a.fd as i32, a.dirent, a.count as usize, &mut encode_dirent64).map(|n| n as i64)
}

pub fn linux_sys_chdir(cx: &mut Cx, a: linux_sys_chdir_args) -> SysResult {
    let p = path(cx, a.filename)?;
    done(cx.chdir(&p))
}

pub fn linux_sys_fchdir(cx: &mut Cx, a: linux_sys_fchdir_args) -> SysResult {
    done(cx.fchdir(a.fd as i32))
}

/// Linux's getcwd returns the length written, the NUL included.
pub fn linux_sys_getcwd(cx: &mut Cx, a: linux_sys_getcwd_args) -> SysResult {
    let size = usize::try_from(a.size).unwrap_or(usize::MAX);
    let mut p = cx.getcwd(size)?;
    p.push(0);
    cx.mem.copy_out(a.buf, &p)?;
    Ok(p.len() as i64)
}
