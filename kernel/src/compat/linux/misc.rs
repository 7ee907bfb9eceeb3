//! Small calls about the process and the kernel: ids, umask, clocks,
//! nanosleep, reboot, uname and the hostname.

use super::flags::{reboot_cmd, RebootCmd};
use crate::syscalls::misc::ClockId;
use crate::sysctl::Value;
use crate::time::Timespec;
use crate::usermem::{read_pod, write_pod};
use crate::Cx;
use rump_abi::linux::flags::{CLOCK_MONOTONIC, CLOCK_REALTIME};
use rump_abi::linux::sys::args::*;
use rump_abi::linux::types::timespec;
use rump_abi::native::errno::{EINVAL, EPERM};
use rump_abi::native::flags::{CTL_KERN, KERN_HOSTNAME};
use rump_abi::{Errno, SysResult};

pub fn linux_sys_getpid(cx: &mut Cx, _a: linux_sys_getpid_args) -> SysResult {
    Ok(cx.pid as i64)
}

pub fn linux_sys_getppid(cx: &mut Cx, _a: linux_sys_getppid_args) -> SysResult {
    Ok(cx.proc().ppid as i64)
}

/// waitid(P_PID, pid, NULL, WEXITED[|WNOHANG], NULL) only: see the table.
pub fn linux_sys_waitid(cx: &mut Cx, a: linux_sys_waitid_args) -> SysResult {
    const P_PID: i32 = 1;
    const WNOHANG: i32 = 1;
    const WEXITED: i32 = 4;
    let known = a.which == P_PID && a.options & !(WNOHANG | WEXITED) == 0 && a.options & WEXITED != 0;
    if !known || !a.infop.is_null() || !a.ru.is_null() {
        return Err(EINVAL);
    }
    cx.wait_child_gone(a.upid, a.options & WNOHANG != 0).map(|_| 0)
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

/// Linux's `__NEW_UTS_LEN`: a utsname field holds this many bytes and a NUL.
const UTS_LEN: usize = 64;

/// A Linux process sees a Linux kernel: Linux's names for the system and
/// the machine, and the kernel's one hostname (what kern.hostname shows),
/// cut to fit its field as NetBSD's compat_linux does.
pub fn linux_sys_uname(cx: &mut Cx, a: linux_sys_uname_args) -> SysResult {
    let mut uts = [0u8; 6 * (UTS_LEN + 1)];
    let fields: [&[u8]; 6] = [b"Linux", &cx.st.hostname, b"6.1.0-rump", b"#1", b"x86_64", b"(none)"];
    for (field, value) in uts.chunks_exact_mut(UTS_LEN + 1).zip(fields) {
        let n = value.len().min(UTS_LEN);
        field[..n].copy_from_slice(&value[..n]);
    }
    cx.mem.copy_out(a.name, &uts)?;
    Ok(0)
}

/// Linux checks privilege, then the length, then copies; the name is
/// stored through kern.hostname, the one place that writes it (so it ends
/// at its first NUL, as a C string).
pub fn linux_sys_sethostname(cx: &mut Cx, a: linux_sys_sethostname_args) -> SysResult {
    if !cx.proc().cred.is_root() {
        return Err(EPERM);
    }
    let len = usize::try_from(a.len).ok().filter(|&n| n <= UTS_LEN).ok_or(EINVAL)?;
    let mut name = vec![0u8; len];
    cx.mem.copy_in(a.name, &mut name)?;
    cx.sysctl_write(&[CTL_KERN, KERN_HOSTNAME], Value::String(name))?;
    Ok(0)
}
