//! Moving bytes and waiting for them: read/write and their positioned and
//! vectored forms, lseek, ioctl, fsync, poll.

use super::flags::{self, SEEK_DATA, SEEK_HOLE};
use super::netif;
use crate::syscalls::poll::PollFd;
use crate::usermem::{read_pod, write_pod};
use crate::Cx;
use rump_abi::linux::sys::args::*;
use rump_abi::linux::types::{pollfd, timespec};
use rump_abi::native::errno::{EFAULT, EINVAL, ENXIO, ESPIPE};
use rump_abi::native::flags::SEEK_SET;
use rump_abi::{Errno, SysResult, UserAddr};
use std::time::{Duration, Instant};

/// Linux's `unsigned long fd` arguments: the kernel looks at the low 32
/// bits only.
fn fd_of(fd: u64) -> i32 {
    fd as u32 as i32
}

pub fn linux_sys_read(cx: &mut Cx, a: linux_sys_read_args) -> SysResult {
    cx.read(a.fd as i32, a.buf, a.count).map(|n| n as i64)
}

pub fn linux_sys_write(cx: &mut Cx, a: linux_sys_write_args) -> SysResult {
    if let Some(r) = super::socket::netlink_write(cx, a.fd as i32, a.buf, a.count) {
        return r;
    }
    cx.write(a.fd as i32, a.buf, a.count).map(|n| n as i64)
}

pub fn linux_sys_pread64(cx: &mut Cx, a: linux_sys_pread64_args) -> SysResult {
    cx.read_at(a.fd as i32, a.buf, a.count, Some(a.pos)).map(|n| n as i64)
}

pub fn linux_sys_pwrite64(cx: &mut Cx, a: linux_sys_pwrite64_args) -> SysResult {
    cx.write_at(a.fd as i32, a.buf, a.count, Some(a.pos)).map(|n| n as i64)
}

fn vectored(cx: &mut Cx, fd: u64, vec: UserAddr, vlen: u64, at: Option<i64>, write: bool) -> SysResult {
    if at.is_some_and(|p| p < 0) {
        return Err(EINVAL);
    }
    // A count beyond i64 is as invalid as one beyond IOV_MAX.
    let iov = cx.iovecs(vec, i64::try_from(vlen).map_err(|_| EINVAL)?)?;
    cx.vectored(fd_of(fd), &iov, at, write).map(|n| n as i64)
}

pub fn linux_sys_readv(cx: &mut Cx, a: linux_sys_readv_args) -> SysResult {
    vectored(cx, a.fd, a.vec, a.vlen, None, false)
}

pub fn linux_sys_writev(cx: &mut Cx, a: linux_sys_writev_args) -> SysResult {
    vectored(cx, a.fd, a.vec, a.vlen, None, true)
}

/// On x86-64 the whole offset is in pos_l; pos_h only matters on 32-bit.
pub fn linux_sys_preadv(cx: &mut Cx, a: linux_sys_preadv_args) -> SysResult {
    vectored(cx, a.fd, a.vec, a.vlen, Some(a.pos_l as i64), false)
}

pub fn linux_sys_pwritev(cx: &mut Cx, a: linux_sys_pwritev_args) -> SysResult {
    vectored(cx, a.fd, a.vec, a.vlen, Some(a.pos_l as i64), true)
}

/// SEEK_DATA/SEEK_HOLE as Linux answers them for file systems that do not
/// track holes: the whole file is data, with one hole at its end.
fn seek_data_hole(cx: &mut Cx, fd: i32, offset: i64, hole: bool) -> SysResult {
    let vn = cx.file(fd)?.vnode().ok_or(ESPIPE)?;
    let size = cx.getattr(vn)?.size as i64;
    if offset < 0 || offset >= size {
        return Err(ENXIO);
    }
    cx.lseek(fd, if hole { size } else { offset }, SEEK_SET)
}

pub fn linux_sys_lseek(cx: &mut Cx, a: linux_sys_lseek_args) -> SysResult {
    let fd = a.fd as i32;
    match a.whence {
        0..=2 => cx.lseek(fd, a.offset, a.whence as i32),
        SEEK_DATA => seek_data_hole(cx, fd, a.offset, false),
        SEEK_HOLE => seek_data_hole(cx, fd, a.offset, true),
        _ => {
            cx.file_of(fd)?;
            Err(EINVAL)
        }
    }
}

/// Network configuration calls on a socket go to `netif`; the rest are
/// the generic ones.
pub fn linux_sys_ioctl(cx: &mut Cx, a: linux_sys_ioctl_args) -> SysResult {
    if netif::is_netif(a.cmd) {
        if let Ok((_, sock)) = cx.sock_of(a.fd as i32) {
            return netif::ioctl(cx, sock, a.cmd, a.arg);
        }
    }
    cx.ioctl(a.fd as i32, flags::ioctl_cmd(a.cmd), a.arg)
}

pub fn linux_sys_fsync(cx: &mut Cx, a: linux_sys_fsync_args) -> SysResult {
    cx.fsync(a.fd as i32).map(|_| 0)
}

pub fn linux_sys_fdatasync(cx: &mut Cx, a: linux_sys_fdatasync_args) -> SysResult {
    cx.fsync(a.fd as i32).map(|_| 0)
}

/// Memory file systems have nothing to write back.
pub fn linux_sys_sync(_cx: &mut Cx, _a: linux_sys_sync_args) -> SysResult {
    Ok(0)
}

fn pollfd_at(fds: UserAddr, i: usize) -> Result<UserAddr, Errno> {
    fds.offset(8 * i as u64).ok_or(EFAULT)
}

/// poll and ppoll: copy the set in, translating event bits, wait, and
/// copy the results out.
fn poll_set(cx: &mut Cx, fds: UserAddr, nfds: u32, deadline: Option<Instant>) -> SysResult {
    let count = nfds as usize;
    if count > cx.config().max_fds {
        return Err(EINVAL);
    }
    let mut asked = Vec::with_capacity(count);
    for i in 0..count {
        let p: pollfd = read_pod(cx.mem, pollfd_at(fds, i)?)?;
        asked.push(p);
    }
    let mut set: Vec<PollFd> =
        asked.iter().map(|p| PollFd { fd: p.fd, events: flags::poll_events_to_native(p.events), revents: 0 }).collect();
    let ready = cx.poll(&mut set, deadline)?;
    for (i, (p, got)) in asked.iter().zip(&set).enumerate() {
        let out = pollfd { revents: flags::poll_revents_to_linux(got.revents, p.events), ..*p };
        write_pod(cx.mem, pollfd_at(fds, i)?, &out)?;
    }
    Ok(ready as i64)
}

pub fn linux_sys_poll(cx: &mut Cx, a: linux_sys_poll_args) -> SysResult {
    let deadline = (a.timeout_msecs >= 0).then(|| Instant::now() + Duration::from_millis(a.timeout_msecs as u64));
    poll_set(cx, a.ufds, a.nfds, deadline)
}

fn read_timeout(cx: &Cx, addr: UserAddr) -> Result<Duration, Errno> {
    let t: timespec = read_pod(cx.mem, addr)?;
    if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
        return Err(EINVAL);
    }
    Ok(Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
}

/// Linux's sigset_t is 64 bits.
const SIGSET_SIZE: usize = 8;

/// A call's signal mask: the kernel has no signals, so the mask is only
/// checked (its size, then that it can be read) and otherwise ignored.
pub(super) fn check_sigmask(cx: &Cx, mask: UserAddr, size: usize) -> Result<(), Errno> {
    if mask.is_null() {
        return Ok(());
    }
    if size != SIGSET_SIZE {
        return Err(EINVAL);
    }
    read_pod::<u64>(cx.mem, mask).map(drop)
}

/// ppoll writes the time left back to `tsp` (unless the timeout was zero),
/// and a failure to do so does not fail the call, as on Linux.
pub fn linux_sys_ppoll(cx: &mut Cx, a: linux_sys_ppoll_args) -> SysResult {
    let timeout = if a.tsp.is_null() { None } else { Some(read_timeout(cx, a.tsp)?) };
    check_sigmask(cx, a.sigmask, a.sigsetsize)?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let ready = poll_set(cx, a.ufds, a.nfds, deadline)?;
    if let (Some(t), Some(d)) = (timeout, deadline) {
        if !t.is_zero() {
            let left = d.saturating_duration_since(Instant::now());
            let ts = timespec { tv_sec: left.as_secs() as i64, tv_nsec: left.subsec_nanos() as i64 };
            let _ = write_pod(cx.mem, a.tsp, &ts);
        }
    }
    Ok(ready)
}
