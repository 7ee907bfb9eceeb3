//! Signals under Syscall User Dispatch: the SIGSYS handler that carries a
//! caught call to the router, and the program's own signal calls, which
//! are adjusted so interception survives them.
//!
//! - Every handler returns through the gate's `restore_rt`: its
//!   `rt_sigreturn` runs while the handler's frame is still live, so it
//!   must never be caught. `rt_sigaction` installs handlers with that
//!   restorer, and arming rewrites handlers installed before it.
//! - SIGSYS is never blocked or replaced: the kernel kills a thread whose
//!   caught call finds SIGSYS blocked. Masks given to `rt_sigprocmask` and
//!   to handlers lose it, and a program's SIGSYS handler is refused
//!   (EINVAL) while interception is on.

use super::gate::{self, host_section, BLOCK};
use super::router;
use libc::{c_int, c_void, siginfo_t, ucontext_t};

/// The kernel's `struct sigaction` (not glibc's: the mask comes last).
#[repr(C)]
#[derive(Clone, Copy)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

const SA_RESTORER: u64 = 0x0400_0000;
const SIGSYS_BIT: u64 = 1 << (libc::SIGSYS - 1);

/// `rt_sigaction` through the gate.
///
/// # Safety
/// `act` and `old` are NULL or valid.
unsafe fn sigaction_raw(sig: c_int, act: *const KernelSigaction, old: *mut KernelSigaction) -> isize {
    unsafe { gate::syscall(libc::SYS_rt_sigaction, [sig as usize, act as usize, old as usize, 8, 0, 0]) }
}

/// `act` as installed under interception: our restorer, SIGSYS unmasked.
fn adjusted(act: &KernelSigaction) -> KernelSigaction {
    let mut a = *act;
    if a.handler != libc::SIG_DFL && a.handler != libc::SIG_IGN {
        a.flags |= SA_RESTORER;
        a.restorer = gate::rumphijack_restore_rt as *const () as usize;
    }
    a.mask &= !SIGSYS_BIT;
    a
}

/// Installs the SIGSYS handler and moves handlers already installed onto
/// our restorer. Once per process (handlers are process-wide).
pub fn install() -> Result<(), rump_abi::Errno> {
    let act = KernelSigaction {
        handler: on_sigsys as *const () as usize,
        flags: (libc::SA_SIGINFO | libc::SA_NODEFER) as u64 | SA_RESTORER,
        restorer: gate::rumphijack_restore_rt as *const () as usize,
        mask: 0,
    };
    // SAFETY: a valid action.
    let r = unsafe { sigaction_raw(libc::SIGSYS, &act, std::ptr::null_mut()) };
    if r < 0 {
        return Err(rump_abi::Errno(-r as i32));
    }
    for sig in (1..=64).filter(|&s| s != libc::SIGSYS && s != libc::SIGKILL && s != libc::SIGSTOP) {
        let mut old = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
        // SAFETY: querying into a local.
        if unsafe { sigaction_raw(sig, std::ptr::null(), &mut old) } == 0 {
            let new = adjusted(&old);
            if new.restorer != old.restorer || new.mask != old.mask {
                // SAFETY: a valid action.
                unsafe { sigaction_raw(sig, &new, std::ptr::null_mut()) };
            }
        }
    }
    Ok(())
}

/// Unblocks SIGSYS in this thread (an exec from inside a handler, or a
/// parent's mask, may have left it blocked).
pub fn unblock_sigsys() {
    let set = SIGSYS_BIT;
    // SAFETY: a mask in a local.
    unsafe { gate::syscall(libc::SYS_rt_sigprocmask, [libc::SIG_UNBLOCK as usize, &set as *const u64 as usize, 0, 8, 0, 0]) };
}

/// A caught `rt_sigaction(sig, act, old, size)`.
pub fn sigaction(a: [usize; 6]) -> isize {
    let (sig, act, old) = (a[0] as c_int, a[1] as *const KernelSigaction, a[2] as *mut KernelSigaction);
    if sig == libc::SIGSYS && !act.is_null() {
        return -(libc::EINVAL as isize);
    }
    if act.is_null() {
        return unsafe { gate::syscall(libc::SYS_rt_sigaction, a) };
    }
    let mut copy = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
    // Read the caller's action through the kernel, so a bad pointer is
    // EFAULT rather than a fault in the handler.
    // SAFETY: `copy` is a local.
    if let Err(e) = unsafe { copy_in(act, &mut copy) } {
        return e;
    }
    let new = adjusted(&copy);
    unsafe { gate::syscall(libc::SYS_rt_sigaction, [a[0], &new as *const _ as usize, old as usize, a[3], 0, 0]) }
}

/// A caught `rt_sigprocmask(how, set, old, size)`: SIGSYS stays deliverable.
pub fn sigprocmask(a: [usize; 6]) -> isize {
    let (how, set) = (a[0] as c_int, a[1] as *const u64);
    if set.is_null() || how == libc::SIG_UNBLOCK {
        return unsafe { gate::syscall(libc::SYS_rt_sigprocmask, a) };
    }
    let mut mask = 0u64;
    if let Err(e) = unsafe { copy_in(set, &mut mask) } {
        return e;
    }
    mask &= !SIGSYS_BIT;
    unsafe { gate::syscall(libc::SYS_rt_sigprocmask, [a[0], &mask as *const u64 as usize, a[2], a[3], 0, 0]) }
}

/// Copies `*from` into `to` with the kernel checking the address (a pipe
/// round trip would cost more; `process_vm_readv` on ourselves does it).
///
/// # Safety
/// `to` is valid.
unsafe fn copy_in<T: Copy>(from: *const T, to: &mut T) -> Result<(), isize> {
    let n = std::mem::size_of::<T>();
    let local = libc::iovec { iov_base: (to as *mut T).cast(), iov_len: n };
    let remote = libc::iovec { iov_base: from as *mut c_void, iov_len: n };
    // SAFETY: iovecs naming a local and the caller's address.
    let pid = unsafe { gate::syscall(libc::SYS_getpid, [0; 6]) } as usize;
    let r = unsafe {
        gate::syscall(
            libc::SYS_process_vm_readv,
            [pid, &local as *const _ as usize, 1, &remote as *const _ as usize, 1, 0],
        )
    };
    if r == n as isize {
        Ok(())
    } else {
        Err(-(libc::EFAULT as isize))
    }
}

/// The SIGSYS handler: a syscall instruction outside the gate was caught.
/// The call's number and arguments are in the interrupted registers; its
/// result goes back in `rax`, and the program resumes after the
/// instruction.
extern "C" fn on_sigsys(_sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    gate::set_selector(gate::ALLOW);
    // SIGSYS from anything but dispatch (a kill, seccomp) is not ours.
    // SAFETY: the kernel's siginfo; si_code is at the same place for all.
    if unsafe { (*info).si_code } != SYS_USER_DISPATCH {
        gate::set_selector(BLOCK);
        return;
    }
    // SAFETY: the kernel's ucontext for this signal.
    let uc = unsafe { &mut *(ctx as *mut ucontext_t) };
    let r = host_section(|| router::dispatch(uc));
    uc.uc_mcontext.gregs[libc::REG_RAX as usize] = r as i64;
    gate::set_selector(BLOCK);
}

/// `si_code` of a SIGSYS raised by Syscall User Dispatch.
const SYS_USER_DISPATCH: c_int = 2;
