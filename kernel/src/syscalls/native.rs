//! The native (NetBSD ABI) handlers the generated table dispatches to, one
//! per `RUMP` line of `syscalls.master`. Each only moves arguments in from
//! the caller and results out; the work is in the core `Cx` methods.
//! Names follow NetBSD's kernel (`sys___stat50`), hence the allow.
#![allow(non_snake_case)]

use super::attr::{Stat, Target, TimeSet};
use super::misc::ClockId;
use super::poll::PollFd;
use super::rw::Ioctl;
use crate::lock::{Flock, FlockLayout, LockType, RecordOwner};
use crate::time::Timespec;
use crate::usermem::{read_pod, write_pod};
use crate::vfs::{DirEntry, FsStat, VType, PATH_MAX};
use crate::Cx;
use rump_abi::native::errno::{EFAULT, EINVAL};
use rump_abi::native::flags::*;
use rump_abi::native::sys::args::*;
use rump_abi::native::types::{flock, pollfd, stat, statvfs, timespec};
use rump_abi::{Errno, SysResult, UserAddr};
use std::time::{Duration, Instant};

fn path(cx: &Cx, addr: UserAddr) -> Result<Vec<u8>, Errno> {
    if addr.is_null() {
        return Err(EFAULT);
    }
    cx.mem.copy_in_str(addr, PATH_MAX)
}

fn ok<T>(r: Result<T, Errno>) -> SysResult {
    r.map(|_| 0)
}

/// A node type as the `S_IF*` bits of st_mode.
pub fn type_bits(t: VType) -> u32 {
    match t {
        VType::Reg => S_IFREG,
        VType::Dir => S_IFDIR,
        VType::Lnk => S_IFLNK,
        VType::Chr => S_IFCHR,
        VType::Blk => S_IFBLK,
        VType::Fifo => S_IFIFO,
        VType::Sock => S_IFSOCK,
    }
}

fn ts(t: Timespec) -> timespec {
    timespec { tv_sec: t.sec, tv_nsec: t.nsec }
}

fn encode_stat(s: &Stat) -> stat {
    let a = &s.attr;
    stat {
        st_dev: s.dev,
        st_mode: type_bits(a.vtype) | a.mode,
        st_ino: a.ino,
        st_nlink: a.nlink.min(u32::MAX as u64) as u32,
        st_uid: a.uid,
        st_gid: a.gid,
        st_rdev: a.rdev,
        st_atim: ts(a.atime),
        st_mtim: ts(a.mtime),
        st_ctim: ts(a.ctime),
        st_birthtim: ts(a.btime),
        st_size: a.size as i64,
        st_blocks: a.blocks as i64,
        st_blksize: a.blksize,
        ..stat::default()
    }
}

fn put_stat(cx: &Cx, addr: UserAddr, s: Result<Stat, Errno>) -> SysResult {
    write_pod(cx.mem, addr, &encode_stat(&s?))?;
    Ok(0)
}

fn put_statvfs(cx: &Cx, addr: UserAddr, r: Result<(FsStat, Vec<u8>, u64), Errno>) -> SysResult {
    let (fs, path, dev) = r?;
    let mut v = statvfs {
        f_bsize: fs.bsize,
        f_frsize: fs.bsize,
        f_iosize: fs.bsize,
        f_blocks: fs.blocks,
        f_bfree: fs.bfree,
        f_bavail: fs.bavail,
        f_files: fs.files,
        f_ffree: fs.ffree,
        f_favail: fs.ffree,
        f_fsidx: [dev as i32, 0],
        f_fsid: dev,
        f_namemax: fs.namemax,
        ..statvfs::default()
    };
    let copy = |dst: &mut [u8], src: &[u8]| {
        let n = src.len().min(dst.len() - 1);
        dst[..n].copy_from_slice(&src[..n]);
    };
    copy(&mut v.f_fstypename, fs.fstype.as_bytes());
    copy(&mut v.f_mntonname, &path);
    copy(&mut v.f_mntfromname, fs.fstype.as_bytes());
    write_pod(cx.mem, addr, &v)?;
    Ok(0)
}

fn dtype(t: VType) -> u8 {
    match t {
        VType::Reg => DT_REG,
        VType::Dir => DT_DIR,
        VType::Lnk => DT_LNK,
        VType::Chr => DT_CHR,
        VType::Blk => DT_BLK,
        VType::Fifo => DT_FIFO,
        VType::Sock => DT_SOCK,
    }
}

/// Appends a NetBSD `struct dirent`: fileno u64, reclen u16, namlen u16,
/// type u8, the name and a NUL, padded to 8 bytes.
fn encode_dirent(e: &DirEntry, _next: u64, out: &mut Vec<u8>, max: usize) -> bool {
    let reclen = (8 + 2 + 2 + 1 + e.name.len() + 1).next_multiple_of(8);
    if out.len() + reclen > max {
        return false;
    }
    let start = out.len();
    out.extend_from_slice(&e.ino.to_ne_bytes());
    out.extend_from_slice(&(reclen as u16).to_ne_bytes());
    out.extend_from_slice(&(e.name.len() as u16).to_ne_bytes());
    out.push(dtype(e.vtype));
    out.extend_from_slice(&e.name);
    out.resize(start + reclen, 0);
    true
}

fn times_in(cx: &Cx, addr: UserAddr) -> Result<[TimeSet; 2], Errno> {
    if addr.is_null() {
        return Ok([TimeSet::Now, TimeSet::Now]);
    }
    let a: timespec = read_pod(cx.mem, addr)?;
    let m: timespec = read_pod(cx.mem, addr.offset(16).ok_or(EFAULT)?)?;
    Ok([TimeSet::from_timespec(a.tv_sec, a.tv_nsec)?, TimeSet::from_timespec(m.tv_sec, m.tv_nsec)?])
}

fn at_target(fd: i32, path: &[u8], flag: i32) -> Target<'_> {
    if path.is_empty() && flag as u32 & AT_EMPTY_PATH != 0 {
        Target::Fd(fd)
    } else {
        Target::Path(fd, path, flag as u32 & AT_SYMLINK_NOFOLLOW == 0)
    }
}

fn native_ioctl(com: u64) -> Ioctl {
    match com {
        FIONREAD => Ioctl::FionRead,
        FIONBIO => Ioctl::FionBio,
        FIOCLEX => Ioctl::FioClex,
        FIONCLEX => Ioctl::FioNclex,
        _ => Ioctl::Other,
    }
}

// ---- file I/O ----

pub fn sys_read(cx: &mut Cx, a: sys_read_args) -> SysResult {
    cx.read(a.fd, a.buf, a.nbyte).map(|n| n as i64)
}

pub fn sys_write(cx: &mut Cx, a: sys_write_args) -> SysResult {
    cx.write(a.fd, a.buf, a.nbyte).map(|n| n as i64)
}

pub fn sys_pread(cx: &mut Cx, a: sys_pread_args) -> SysResult {
    cx.read_at(a.fd, a.buf, a.nbyte, Some(a.offset)).map(|n| n as i64)
}

pub fn sys_pwrite(cx: &mut Cx, a: sys_pwrite_args) -> SysResult {
    cx.write_at(a.fd, a.buf, a.nbyte, Some(a.offset)).map(|n| n as i64)
}

pub fn sys_readv(cx: &mut Cx, a: sys_readv_args) -> SysResult {
    let iov = cx.iovecs(a.iovp, a.iovcnt as i64)?;
    cx.vectored(a.fd, &iov, None, false).map(|n| n as i64)
}

pub fn sys_writev(cx: &mut Cx, a: sys_writev_args) -> SysResult {
    let iov = cx.iovecs(a.iovp, a.iovcnt as i64)?;
    cx.vectored(a.fd, &iov, None, true).map(|n| n as i64)
}

pub fn sys_preadv(cx: &mut Cx, a: sys_preadv_args) -> SysResult {
    let iov = cx.iovecs(a.iovp, a.iovcnt as i64)?;
    cx.vectored(a.fd, &iov, Some(a.offset), false).map(|n| n as i64)
}

pub fn sys_pwritev(cx: &mut Cx, a: sys_pwritev_args) -> SysResult {
    let iov = cx.iovecs(a.iovp, a.iovcnt as i64)?;
    cx.vectored(a.fd, &iov, Some(a.offset), true).map(|n| n as i64)
}

pub fn sys_lseek(cx: &mut Cx, a: sys_lseek_args) -> SysResult {
    cx.lseek(a.fd, a.offset, a.whence)
}

pub fn sys_open(cx: &mut Cx, a: sys_open_args) -> SysResult {
    let p = path(cx, a.path)?;
    cx.open_at(AT_FDCWD, &p, a.flags as u32, a.mode).map(i64::from)
}

pub fn sys_openat(cx: &mut Cx, a: sys_openat_args) -> SysResult {
    let p = path(cx, a.path)?;
    cx.open_at(a.fd, &p, a.oflags as u32, a.mode).map(i64::from)
}

pub fn sys_close(cx: &mut Cx, a: sys_close_args) -> SysResult {
    ok(cx.close(a.fd))
}

pub fn sys_dup(cx: &mut Cx, a: sys_dup_args) -> SysResult {
    cx.dup_min(a.fd, 0, false).map(i64::from)
}

pub fn sys_dup2(cx: &mut Cx, a: sys_dup2_args) -> SysResult {
    cx.dup_to(a.from, a.to, false).map(i64::from)
}

pub fn sys_dup3(cx: &mut Cx, a: sys_dup3_args) -> SysResult {
    let flags = a.flags as u32;
    if flags & !O_CLOEXEC != 0 || a.from == a.to {
        return Err(EINVAL);
    }
    cx.dup_to(a.from, a.to, flags & O_CLOEXEC != 0).map(i64::from)
}

impl FlockLayout for flock {
    fn to_flock(&self) -> Flock {
        let ty = match self.l_type {
            F_RDLCK => LockType::Read,
            F_WRLCK => LockType::Write,
            F_UNLCK => LockType::Unlock,
            _ => LockType::Unknown,
        };
        Flock { ty, whence: self.l_whence.into(), start: self.l_start, len: self.l_len, pid: self.l_pid }
    }

    fn set_from(&mut self, f: &Flock) {
        self.l_type = match f.ty {
            LockType::Read => F_RDLCK,
            LockType::Write => F_WRLCK,
            _ => F_UNLCK,
        };
        if f.ty != LockType::Unlock {
            (self.l_whence, self.l_start, self.l_len, self.l_pid) = (f.whence as i16, f.start, f.len, f.pid);
        }
    }
}

/// NetBSD has no OFD locks: its record locks are the process's.
pub fn sys_fcntl(cx: &mut Cx, a: sys_fcntl_args) -> SysResult {
    match a.cmd {
        F_GETLK => cx.getlk_at::<flock>(a.fd, RecordOwner::Process, a.arg),
        F_SETLK | F_SETLKW => cx.setlk_at::<flock>(a.fd, RecordOwner::Process, a.cmd == F_SETLKW, a.arg),
        _ => cx.fcntl(a.fd, a.cmd, a.arg.0),
    }
}

pub fn sys_flock(cx: &mut Cx, a: sys_flock_args) -> SysResult {
    ok(cx.flock(a.fd, a.how))
}

pub fn sys_ioctl(cx: &mut Cx, a: sys_ioctl_args) -> SysResult {
    if cx.sock_of(a.fd).is_ok() {
        if let Some(r) = cx.if_ioctl(a.com, a.data) {
            return r;
        }
    }
    cx.ioctl(a.fd, native_ioctl(a.com), a.data)
}

pub fn sys_pipe2(cx: &mut Cx, a: sys_pipe2_args) -> SysResult {
    let flags = a.flags as u32;
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_NOSIGPIPE) != 0 {
        return Err(EINVAL);
    }
    let (r, w) = cx.pipe(flags, flags & O_CLOEXEC != 0)?;
    let mut fds = [0u8; 8];
    fds[..4].copy_from_slice(&r.to_ne_bytes());
    fds[4..].copy_from_slice(&w.to_ne_bytes());
    if let Err(e) = cx.mem.copy_out(a.fildes, &fds) {
        cx.close(r)?;
        cx.close(w)?;
        return Err(e);
    }
    Ok(0)
}

pub fn sys_fsync(cx: &mut Cx, a: sys_fsync_args) -> SysResult {
    ok(cx.fsync(a.fd))
}

pub fn sys_fdatasync(cx: &mut Cx, a: sys_fdatasync_args) -> SysResult {
    ok(cx.fsync(a.fd))
}

pub fn sys_sync(_cx: &mut Cx, _a: sys_sync_args) -> SysResult {
    Ok(0)
}

pub fn sys_truncate(cx: &mut Cx, a: sys_truncate_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.truncate(Target::Path(AT_FDCWD, &p, true), a.length))
}

pub fn sys_ftruncate(cx: &mut Cx, a: sys_ftruncate_args) -> SysResult {
    ok(cx.truncate(Target::Fd(a.fd), a.length))
}

// ---- metadata ----

pub fn sys___stat50(cx: &mut Cx, a: sys___stat50_args) -> SysResult {
    let p = path(cx, a.path)?;
    let s = cx.stat(Target::Path(AT_FDCWD, &p, true));
    put_stat(cx, a.ub, s)
}

pub fn sys___lstat50(cx: &mut Cx, a: sys___lstat50_args) -> SysResult {
    let p = path(cx, a.path)?;
    let s = cx.stat(Target::Path(AT_FDCWD, &p, false));
    put_stat(cx, a.ub, s)
}

pub fn sys___fstat50(cx: &mut Cx, a: sys___fstat50_args) -> SysResult {
    let s = cx.stat(Target::Fd(a.fd));
    put_stat(cx, a.sb, s)
}

pub fn sys_fstatat(cx: &mut Cx, a: sys_fstatat_args) -> SysResult {
    let p = path(cx, a.path)?;
    let s = cx.stat(at_target(a.fd, &p, a.flag));
    put_stat(cx, a.buf, s)
}

pub fn sys_access(cx: &mut Cx, a: sys_access_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.access(Target::Path(AT_FDCWD, &p, true), a.flags as u32))
}

pub fn sys_faccessat(cx: &mut Cx, a: sys_faccessat_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.access(at_target(a.fd, &p, a.flag), a.amode as u32))
}

pub fn sys_chmod(cx: &mut Cx, a: sys_chmod_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.chmod(Target::Path(AT_FDCWD, &p, true), a.mode))
}

pub fn sys_lchmod(cx: &mut Cx, a: sys_lchmod_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.chmod(Target::Path(AT_FDCWD, &p, false), a.mode))
}

pub fn sys_fchmod(cx: &mut Cx, a: sys_fchmod_args) -> SysResult {
    ok(cx.chmod(Target::Fd(a.fd), a.mode))
}

pub fn sys_fchmodat(cx: &mut Cx, a: sys_fchmodat_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.chmod(at_target(a.fd, &p, a.flag), a.mode))
}

pub fn sys_chown(cx: &mut Cx, a: sys_chown_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.chown(Target::Path(AT_FDCWD, &p, true), a.uid, a.gid))
}

pub fn sys_lchown(cx: &mut Cx, a: sys_lchown_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.chown(Target::Path(AT_FDCWD, &p, false), a.uid, a.gid))
}

pub fn sys_fchown(cx: &mut Cx, a: sys_fchown_args) -> SysResult {
    ok(cx.chown(Target::Fd(a.fd), a.uid, a.gid))
}

pub fn sys_fchownat(cx: &mut Cx, a: sys_fchownat_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.chown(at_target(a.fd, &p, a.flag), a.owner, a.group))
}

pub fn sys_utimensat(cx: &mut Cx, a: sys_utimensat_args) -> SysResult {
    let times = times_in(cx, a.tptr)?;
    // A NULL path means the fd itself (what futimens is built on).
    let p = if a.path.is_null() { Vec::new() } else { path(cx, a.path)? };
    let t = if a.path.is_null() { Target::Fd(a.fd) } else { at_target(a.fd, &p, a.flag) };
    ok(cx.utimens(t, times))
}

pub fn sys_futimens(cx: &mut Cx, a: sys_futimens_args) -> SysResult {
    let times = times_in(cx, a.tptr)?;
    ok(cx.utimens(Target::Fd(a.fd), times))
}

pub fn sys_statvfs1(cx: &mut Cx, a: sys_statvfs1_args) -> SysResult {
    let p = path(cx, a.path)?;
    let r = cx.statfs(Target::Path(AT_FDCWD, &p, true));
    put_statvfs(cx, a.buf, r)
}

pub fn sys_fstatvfs1(cx: &mut Cx, a: sys_fstatvfs1_args) -> SysResult {
    let r = cx.statfs(Target::Fd(a.fd));
    put_statvfs(cx, a.buf, r)
}

// ---- namespace ----

pub fn sys_mkdir(cx: &mut Cx, a: sys_mkdir_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.mkdir_at(AT_FDCWD, &p, a.mode))
}

pub fn sys_mkdirat(cx: &mut Cx, a: sys_mkdirat_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.mkdir_at(a.fd, &p, a.mode))
}

pub fn sys_mkfifo(cx: &mut Cx, a: sys_mkfifo_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.mknod_at(AT_FDCWD, &p, S_IFIFO | (a.mode & 0o7777), 0))
}

pub fn sys_mkfifoat(cx: &mut Cx, a: sys_mkfifoat_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.mknod_at(a.fd, &p, S_IFIFO | (a.mode & 0o7777), 0))
}

pub fn sys___mknod50(cx: &mut Cx, a: sys___mknod50_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.mknod_at(AT_FDCWD, &p, a.mode, a.dev))
}

pub fn sys_mknodat(cx: &mut Cx, a: sys_mknodat_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.mknod_at(a.fd, &p, a.mode, a.dev))
}

pub fn sys_rmdir(cx: &mut Cx, a: sys_rmdir_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.unlink_at(AT_FDCWD, &p, true))
}

pub fn sys_unlink(cx: &mut Cx, a: sys_unlink_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.unlink_at(AT_FDCWD, &p, false))
}

pub fn sys_unlinkat(cx: &mut Cx, a: sys_unlinkat_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.unlink_at(a.fd, &p, a.flag as u32 & AT_REMOVEDIR != 0))
}

pub fn sys_link(cx: &mut Cx, a: sys_link_args) -> SysResult {
    let (from, to) = (path(cx, a.path)?, path(cx, a.link)?);
    ok(cx.link_at(Target::Path(AT_FDCWD, &from, false), AT_FDCWD, &to))
}

pub fn sys_linkat(cx: &mut Cx, a: sys_linkat_args) -> SysResult {
    let (from, to) = (path(cx, a.name1)?, path(cx, a.name2)?);
    ok(cx.link_at(Target::Path(a.fd1, &from, a.flags as u32 & AT_SYMLINK_FOLLOW != 0), a.fd2, &to))
}

pub fn sys_symlink(cx: &mut Cx, a: sys_symlink_args) -> SysResult {
    let (target, link) = (path(cx, a.path)?, path(cx, a.link)?);
    ok(cx.symlink_at(&target, AT_FDCWD, &link))
}

pub fn sys_symlinkat(cx: &mut Cx, a: sys_symlinkat_args) -> SysResult {
    let (target, link) = (path(cx, a.path1)?, path(cx, a.path2)?);
    ok(cx.symlink_at(&target, a.fd, &link))
}

fn put_link(cx: &mut Cx, target: Result<Vec<u8>, Errno>, buf: UserAddr, size: usize) -> SysResult {
    let t = target?;
    let n = t.len().min(size);
    cx.mem.copy_out(buf, &t[..n])?;
    Ok(n as i64)
}

pub fn sys_readlink(cx: &mut Cx, a: sys_readlink_args) -> SysResult {
    let p = path(cx, a.path)?;
    let t = cx.readlink_at(AT_FDCWD, &p);
    put_link(cx, t, a.buf, a.count)
}

pub fn sys_readlinkat(cx: &mut Cx, a: sys_readlinkat_args) -> SysResult {
    let p = path(cx, a.path)?;
    let t = cx.readlink_at(a.fd, &p);
    put_link(cx, t, a.buf, a.bufsize)
}

pub fn sys_rename(cx: &mut Cx, a: sys_rename_args) -> SysResult {
    let (from, to) = (path(cx, a.from)?, path(cx, a.to)?);
    ok(cx.rename_at(AT_FDCWD, &from, AT_FDCWD, &to, false))
}

pub fn sys_renameat(cx: &mut Cx, a: sys_renameat_args) -> SysResult {
    let (from, to) = (path(cx, a.from)?, path(cx, a.to)?);
    ok(cx.rename_at(a.fromfd, &from, a.tofd, &to, false))
}

// ---- directories and cwd ----

pub fn sys___getdents30(cx: &mut Cx, a: sys___getdents30_args) -> SysResult {
    cx.getdents(a.fd, a.buf, a.count, &mut encode_dirent).map(|n| n as i64)
}

pub fn sys_chdir(cx: &mut Cx, a: sys_chdir_args) -> SysResult {
    let p = path(cx, a.path)?;
    ok(cx.chdir(&p))
}

pub fn sys_fchdir(cx: &mut Cx, a: sys_fchdir_args) -> SysResult {
    ok(cx.fchdir(a.fd))
}

/// NetBSD's __getcwd returns the length written including the NUL.
pub fn sys___getcwd(cx: &mut Cx, a: sys___getcwd_args) -> SysResult {
    let mut p = cx.getcwd(a.length)?;
    p.push(0);
    cx.mem.copy_out(a.bufp, &p)?;
    Ok(p.len() as i64)
}

pub fn sys_umask(cx: &mut Cx, a: sys_umask_args) -> SysResult {
    Ok(cx.umask(a.newmask) as i64)
}

// ---- process and kernel ----

pub fn sys_getpid(cx: &mut Cx, _a: sys_getpid_args) -> SysResult {
    Ok(cx.pid as i64)
}

pub fn sys_getppid(cx: &mut Cx, _a: sys_getppid_args) -> SysResult {
    Ok(cx.proc().ppid as i64)
}

pub fn sys_getuid(cx: &mut Cx, _a: sys_getuid_args) -> SysResult {
    Ok(cx.proc().cred.uid as i64)
}

pub fn sys_geteuid(cx: &mut Cx, _a: sys_geteuid_args) -> SysResult {
    Ok(cx.proc().cred.uid as i64)
}

pub fn sys_getgid(cx: &mut Cx, _a: sys_getgid_args) -> SysResult {
    Ok(cx.proc().cred.gid as i64)
}

pub fn sys_getegid(cx: &mut Cx, _a: sys_getegid_args) -> SysResult {
    Ok(cx.proc().cred.gid as i64)
}

fn clock_id(id: i32) -> Result<ClockId, Errno> {
    match id {
        CLOCK_REALTIME => Ok(ClockId::Realtime),
        CLOCK_MONOTONIC => Ok(ClockId::Monotonic),
        _ => Err(EINVAL),
    }
}

pub fn sys___clock_gettime50(cx: &mut Cx, a: sys___clock_gettime50_args) -> SysResult {
    let t = cx.clock_gettime(clock_id(a.clock_id)?);
    write_pod(cx.mem, a.tp, &ts(t))?;
    Ok(0)
}

pub fn sys___nanosleep50(cx: &mut Cx, a: sys___nanosleep50_args) -> SysResult {
    let t: timespec = read_pod(cx.mem, a.rqtp)?;
    cx.nanosleep(Timespec { sec: t.tv_sec, nsec: t.tv_nsec })?;
    if !a.rmtp.is_null() {
        write_pod(cx.mem, a.rmtp, &timespec::default())?;
    }
    Ok(0)
}

pub fn sys_reboot(cx: &mut Cx, _a: sys_reboot_args) -> SysResult {
    ok(cx.reboot())
}

// ---- polling ----

fn poll_common(cx: &mut Cx, fds: UserAddr, nfds: u32, deadline: Option<Instant>) -> SysResult {
    let n = nfds as usize;
    if n > cx.config().max_fds {
        return Err(EINVAL);
    }
    let mut set = Vec::with_capacity(n);
    for i in 0..n {
        let p: pollfd = read_pod(cx.mem, fds.offset(8 * i as u64).ok_or(EFAULT)?)?;
        set.push(PollFd { fd: p.fd, events: p.events, revents: 0 });
    }
    let ready = cx.poll(&mut set, deadline)?;
    for (i, p) in set.iter().enumerate() {
        let out = pollfd { fd: p.fd, events: p.events, revents: p.revents };
        write_pod(cx.mem, fds.offset(8 * i as u64).ok_or(EFAULT)?, &out)?;
    }
    Ok(ready as i64)
}

pub fn sys_poll(cx: &mut Cx, a: sys_poll_args) -> SysResult {
    let deadline = (a.timeout >= 0).then(|| Instant::now() + Duration::from_millis(a.timeout as u64));
    poll_common(cx, a.fds, a.nfds, deadline)
}

pub fn sys___pollts50(cx: &mut Cx, a: sys___pollts50_args) -> SysResult {
    let deadline = if a.ts.is_null() {
        None
    } else {
        let t: timespec = read_pod(cx.mem, a.ts)?;
        if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
            return Err(EINVAL);
        }
        Some(Instant::now() + Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
    };
    poll_common(cx, a.fds, a.nfds, deadline)
}

// ---- event queues ----

pub fn sys_kqueue(cx: &mut Cx, _a: sys_kqueue_args) -> SysResult {
    cx.kqueue(0).map(i64::from)
}

pub fn sys_kqueue1(cx: &mut Cx, a: sys_kqueue1_args) -> SysResult {
    cx.kqueue(a.flags as u32).map(i64::from)
}

pub fn sys___kevent50(cx: &mut Cx, a: sys___kevent50_args) -> SysResult {
    cx.kevent(a.fd, a.changelist, a.nchanges, a.eventlist, a.nevents, a.timeout).map(|n| n as i64)
}

// ---- sockets ----

/// Native sockets serve interface configuration (rumpctl ifconfig):
/// NetBSD's AF_INET/AF_INET6 numbers and SOCK_* types.
pub fn sys___socket30(cx: &mut Cx, a: sys___socket30_args) -> SysResult {
    let v6 = match u8::try_from(a.domain) {
        Ok(AF_INET) => false,
        Ok(AF_INET6) => true,
        _ => return Err(rump_abi::native::errno::EAFNOSUPPORT),
    };
    let (nonblock, cloexec) = (a.type_ & SOCK_NONBLOCK != 0, a.type_ & SOCK_CLOEXEC != 0);
    cx.sock_create(v6, a.type_ & !(SOCK_NONBLOCK | SOCK_CLOEXEC), a.protocol, nonblock, cloexec).map(i64::from)
}
