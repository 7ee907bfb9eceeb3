//! The wait family: when the host reports a child gone, the caller's next
//! call to the kernel goes on only once the child's kernel process has
//! gone too, so its exit is seen in the kernel as on Linux (its fds
//! closed, its POSIX locks released) by every call made after `waitpid`
//! returns. A remote kernel learns of an exit from the connection closing,
//! a moment after the host reaps; the kernel's `waitid` waits for that
//! moment (`Cx::wait_child_gone`).
//!
//! Only a process with a remote kernel asks: an in-process kernel has no
//! children (the first fork moves it into a keeper).

use crate::backend::{self, Backend};
use crate::host::{errno, restore_errno};
use libc::{c_int, id_t, idtype_t, pid_t, rusage, siginfo_t};
use rump_abi::linux::sys as rump;

crate::real_fns! {
    fn wait4(pid: pid_t, status: *mut c_int, options: c_int, ru: *mut rusage) -> pid_t;
    fn waitid(idtype: idtype_t, id: id_t, info: *mut siginfo_t, options: c_int) -> c_int;
}

/// Child `pid` was reaped: its kernel process is waited for before this
/// process's next call to the kernel (`rumpclient::reaped`: this may run
/// in a SIGCHLD handler that interrupted malloc), or now if too many are.
fn reaped(pid: pid_t) {
    let Some(k @ Backend::Remote(_)) = backend::current() else { return };
    if rumpclient::reaped::note(pid) || rumpclient::client::in_request() {
        return;
    }
    let e = errno();
    // ECHILD (it never used the kernel, or has gone already) is fine.
    let _ =
        rump::rump_sys_waitid(k, libc::P_PID as i32, pid, std::ptr::null_mut(), libc::WEXITED, std::ptr::null_mut());
    restore_errno(e);
}

/// wait4 with the status always collected, so that an exit can be told
/// from a stop or a continue.
///
/// # Safety
/// `status` and `ru` are NULL or valid for writes, as for wait4.
pub unsafe fn wait_child(pid: pid_t, status: *mut c_int, options: c_int, ru: *mut rusage) -> pid_t {
    let mut st = 0;
    // SAFETY: libc's wait4 with our status word and the caller's rusage.
    let r = unsafe { real::wait4(pid, &mut st, options, ru) };
    if r > 0 {
        if libc::WIFEXITED(st) || libc::WIFSIGNALED(st) {
            reaped(r);
        }
        if !status.is_null() {
            // SAFETY: the caller's status pointer, as wait4 would write it.
            unsafe { *status = st };
        }
    }
    r
}

crate::hook! {
    Process fn wait(status: *mut c_int) -> pid_t;
    {
        unsafe { wait_child(-1, status, 0, std::ptr::null_mut()) }
    }

    Process fn waitpid(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t;
    {
        unsafe { wait_child(pid, status, options, std::ptr::null_mut()) }
    }

    Process fn wait3(status: *mut c_int, options: c_int, ru: *mut rusage) -> pid_t;
    {
        unsafe { wait_child(-1, status, options, ru) }
    }

    Process fn wait4(pid: pid_t, status: *mut c_int, options: c_int, ru: *mut rusage) -> pid_t;
    {
        unsafe { wait_child(pid, status, options, ru) }
    }

    /// A child that exited or was killed, reaped (not WNOWAIT), is waited for
    /// in the kernel too.
    Process fn waitid(idtype: idtype_t, id: id_t, info: *mut siginfo_t, options: c_int) -> c_int;
    {
        // SAFETY: libc's waitid with the caller's arguments.
        let r = unsafe { host!(idtype, id, info, options) };
        if r == 0 && !info.is_null() && options & libc::WNOWAIT == 0 {
            // SAFETY: waitid filled in *info.
            let (pid, code) = unsafe { ((*info).si_pid(), (*info).si_code) };
            if pid > 0 && matches!(code, libc::CLD_EXITED | libc::CLD_KILLED | libc::CLD_DUMPED) {
                reaped(pid);
            }
        }
        r
    }
}
