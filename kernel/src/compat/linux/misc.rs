//! Small calls about the process and the kernel: ids, umask, clocks,
//! nanosleep, reboot.

use super::flags::{reboot_cmd, RebootCmd};
use crate::syscalls::misc::ClockId;
use crate::time::Timespec;
use crate::usermem::{read_pod, write_pod};
use crate::Cx;
use rump_abi::linux::flags::{CLOCK_MONOTONIC, CLOCK_REALTIME};
use rump_abi::linux::sys::args::*;
use rump_abi::linux::types::timespec;
use rump_abi::native::errno::{EINVAL, EPERM};
use rump_abi::{Errno, SysResult};

pub fn linux_sys_getpid(cx: &mut Cx, _a: linux_sys_getpid_args) -> SysResult {
    Ok(cx.pid as i64)
}

pub fn linux_sys_getppid(cx: &mut Cx, _a: linux_sys_getppid_args) -> SysResult {
    Ok(cx.proc().ppid as i64)
}

/// Credentials have one uid and one gid: real and effective are the same.
pub fn linux_sys_getuid(cx: &mut Cx, _a: linux_sys_getuid_args) -> SysResult {
    Ok(cx.proc().cred.uid as i64)
}

pub fn linux_sys_geteuid(cx: &mut Cx, _a: linux_sys_geteuid_args) -> SysResult {
    Ok(cx.proc().cred.uid as i64)
}

pub fn linux_sys_getgid(cx: &mut Cx, _a: linux_sys_getgid_args) -> SysResult {
    Ok(cx.proc().cred.gid as i64)
}

pub fn linux_sys_getegid(cx: &mut Cx, _a: linux_sys_getegid_args) -> SysResult {
    Ok(cx.proc().cred.gid as i64)
}

pub fn linux_sys_umask(cx: &mut Cx, a: linux_sys_umask_args) -> SysResult {
    Ok(cx.umask(a.mask as u32) as i64)
}

/// The clocks the kernel keeps; Linux's others (CPU-time, boot-time,
/// coarse, TAI) are EINVAL here.
fn clock_id(id: i32) -> Result<ClockId, Errno> {
    match id {
        CLOCK_REALTIME => Ok(ClockId::Realtime),
        CLOCK_MONOTONIC => Ok(ClockId::Monotonic),
        _ => Err(EINVAL),
    }
}

fn to_timespec(t: Timespec) -> timespec {
    timespec { tv_sec: t.sec, tv_nsec: t.nsec }
}

pub fn linux_sys_clock_gettime(cx: &mut Cx, a: linux_sys_clock_gettime_args) -> SysResult {
    let t = cx.clock_gettime(clock_id(a.which_clock)?);
    write_pod(cx.mem, a.tp, &to_timespec(t))?;
    Ok(0)
}

/// Both clocks count in nanoseconds. A NULL `tp` only validates the id.
pub fn linux_sys_clock_getres(cx: &mut Cx, a: linux_sys_clock_getres_args) -> SysResult {
    clock_id(a.which_clock)?;
    if !a.tp.is_null() {
        write_pod(cx.mem, a.tp, &timespec { tv_sec: 0, tv_nsec: 1 })?;
    }
    Ok(0)
}

/// Nothing interrupts a sleep here, so `rmtp` (written by Linux only when
/// a signal cuts the sleep short) is never touched.
pub fn linux_sys_nanosleep(cx: &mut Cx, a: linux_sys_nanosleep_args) -> SysResult {
    let t: timespec = read_pod(cx.mem, a.rqtp)?;
    cx.nanosleep(Timespec { sec: t.tv_sec, nsec: t.tv_nsec })?;
    Ok(0)
}

/// Linux checks the caller's privilege before the magic numbers; every
/// command that stops the machine halts the kernel (RESTART2's command
/// string is not read).
pub fn linux_sys_reboot(cx: &mut Cx, a: linux_sys_reboot_args) -> SysResult {
    if !cx.proc().cred.is_root() {
        return Err(EPERM);
    }
    match reboot_cmd(a.magic1, a.magic2, a.cmd)? {
        RebootCmd::Halt => cx.reboot().map(|_| 0),
        RebootCmd::Nothing => Ok(0),
    }
}
