//! Signals under Syscall User Dispatch: the SIGSYS handler that carries a
//! caught call to the router, and the program's own signal calls, which
//! are adjusted so interception survives them.
//!
//! - Every program handler runs behind `shim`, which catches its calls
//!   even when the signal interrupted the library.
//! - Every handler returns through the gate's `restore_rt`: its
//!   `rt_sigreturn` runs while the handler's frame is still live, so it
//!   must never be caught. `rt_sigaction` installs handlers with that
//!   restorer, and arming rewrites handlers installed before it.
//! - SIGSYS is never blocked or replaced: the kernel kills a thread whose
//!   caught call finds SIGSYS blocked. Masks given to `rt_sigprocmask` and
//!   to handlers lose it, and a program's SIGSYS handler is accepted but
//!   not installed while interception is on.

use super::gate::{self, host_section, BLOCK};
use super::router;
use libc::{c_int, c_void, siginfo_t, ucontext_t};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The kernel's `struct sigaction` (not glibc's: the mask comes last).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
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
    unsafe { sigaction_raw_sized(sig, act, old, 8) }
}

/// The program's handler of each signal, run by `shim`, and whether it
/// takes `siginfo` (its `SA_SIGINFO`).
static PROGRAM: [AtomicUsize; 65] = [const { AtomicUsize::new(0) }; 65];
static SIGINFO: [AtomicBool; 65] = [const { AtomicBool::new(false) }; 65];

/// `act` (for `sig`) as installed under interception: the program's
/// handler behind `shim`, our restorer, SIGSYS unmasked.
fn adjusted(sig: c_int, act: &KernelSigaction) -> KernelSigaction {
    let mut a = *act;
    if a.handler != libc::SIG_DFL && a.handler != libc::SIG_IGN && a.handler != shim as *const () as usize {
        PROGRAM[sig as usize].store(a.handler, Ordering::Release);
        SIGINFO[sig as usize].store(a.flags & libc::SA_SIGINFO as u64 != 0, Ordering::Release);
        a.handler = shim as *const () as usize;
        a.flags |= SA_RESTORER | libc::SA_SIGINFO as u64;
        a.restorer = gate::rumphijack_restore_rt as *const () as usize;
    }
    a.mask &= !SIGSYS_BIT;
    a
}

/// `old` as the program installed it.
fn shown(sig: c_int, old: &mut KernelSigaction) {
    if old.handler == shim as *const () as usize {
        old.handler = PROGRAM[sig as usize].load(Ordering::Acquire);
        if !SIGINFO[sig as usize].load(Ordering::Acquire) {
            old.flags &= !(libc::SA_SIGINFO as u64);
        }
    }
}

/// Every program handler runs through here: with the selector at BLOCK,
/// so its syscalls are caught even when the signal arrived while the
/// library was working (a raw `kill` of itself is one).
extern "C" fn shim(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    let h = PROGRAM.get(sig as usize).map_or(0, |h| h.load(Ordering::Acquire));
    if h == 0 {
        return;
    }
    let was = gate::set_selector(BLOCK);
    // SAFETY: the program's handler; one taking only `sig` ignores the rest.
    let h: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) = unsafe { std::mem::transmute(h) };
    h(sig, info, ctx);
    gate::set_selector(was);
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
            let new = adjusted(sig, &old);
            if new != old {
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
    unsafe {
        gate::syscall(libc::SYS_rt_sigprocmask, [libc::SIG_UNBLOCK as usize, &set as *const u64 as usize, 0, 8, 0, 0])
    };
}

/// A caught `rt_sigaction(sig, act, old, size)`.
pub fn sigaction(a: [usize; 6]) -> isize {
    let (sig, act, old) = (a[0] as c_int, a[1] as *const KernelSigaction, a[2] as *mut KernelSigaction);
    if sig == libc::SIGSYS && !act.is_null() {
        // Kept ours; the program is told it took (Go's runtime installs a
        // handler for every signal and stops if one fails).
        if !old.is_null() {
            // SAFETY: the caller's buffer for the old action.
            unsafe { old.write_unaligned(KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 }) };
        }
        return 0;
    }
    if !(1..65).contains(&sig) {
        return unsafe { gate::syscall(libc::SYS_rt_sigaction, a) };
    }
    let mut new = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
    if !act.is_null() {
        // Read the caller's action through the kernel, so a bad pointer
        // is EFAULT rather than a fault in the handler.
        // SAFETY: `new` is a local.
        if let Err(e) = unsafe { copy_in(act, &mut new) } {
            return e;
        }
        new = adjusted(sig, &new);
    }
    let mut prev = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
    let newp = if act.is_null() { std::ptr::null() } else { &new as *const KernelSigaction };
    // SAFETY: locals for both actions.
    let r = unsafe { sigaction_raw_sized(sig, newp, &mut prev, a[3]) };
    if r == 0 && !old.is_null() {
        shown(sig, &mut prev);
        // SAFETY: the caller's buffer for the old action (the host's
        // rt_sigaction would have written it too).
        unsafe { old.write_unaligned(prev) };
    }
    r
}

/// `rt_sigaction` through the gate with the caller's set size.
///
/// # Safety
/// As for [`sigaction_raw`].
unsafe fn sigaction_raw_sized(
    sig: c_int,
    act: *const KernelSigaction,
    old: *mut KernelSigaction,
    size: usize,
) -> isize {
    unsafe { gate::syscall(libc::SYS_rt_sigaction, [sig as usize, act as usize, old as usize, size, 0, 0]) }
}

/// A caught `rt_sigprocmask(how, set, old, size)`. The mask the program
/// sees and changes is the one the SIGSYS frame will restore (a mask set
/// inside the handler would be undone by its return); SIGSYS stays
/// deliverable.
pub fn sigprocmask(a: [usize; 6], uc: &mut ucontext_t) -> isize {
    let (how, set, old, size) = (a[0] as c_int, a[1] as *const u64, a[2] as *mut u64, a[3]);
    if size != 8 {
        return -(libc::EINVAL as isize);
    }
    // SAFETY: the kernel's sigset is the first word of glibc's.
    let mask = unsafe { &mut *(&mut uc.uc_sigmask as *mut libc::sigset_t as *mut u64) };
    let mut new = 0u64;
    if !set.is_null() {
        // SAFETY: `new` is a local.
        if let Err(e) = unsafe { copy_in(set, &mut new) } {
            return e;
        }
    }
    let next = match how {
        _ if set.is_null() => *mask,
        libc::SIG_BLOCK => *mask | new,
        libc::SIG_UNBLOCK => *mask & !new,
        libc::SIG_SETMASK => new,
        _ => return -(libc::EINVAL as isize),
    };
    if !old.is_null() {
        let was = *mask;
        // SAFETY: the kernel checks the caller's buffer.
        if let Err(e) = unsafe { copy_out(&was, old) } {
            return e;
        }
    }
    *mask = next & !(SIGSYS_BIT | 1 << (libc::SIGKILL - 1) | 1 << (libc::SIGSTOP - 1));
    0
}

/// Copies `*from` into `to` with the kernel checking the program's
/// address, so a bad pointer is EFAULT and not a fault in the handler
/// (`process_vm_readv` on ourselves).
///
/// # Safety
/// `to` is valid.
unsafe fn copy_in<T: Copy>(from: *const T, to: &mut T) -> Result<(), isize> {
    unsafe { copy(libc::SYS_process_vm_readv, (to as *mut T).cast(), from as *mut c_void, std::mem::size_of::<T>()) }
}

/// Copies `from` to the program's `to`, as [`copy_in`] the other way.
///
/// # Safety
/// `from` is valid.
unsafe fn copy_out<T: Copy>(from: &T, to: *mut T) -> Result<(), isize> {
    let local = (from as *const T).cast_mut().cast();
    unsafe { copy(libc::SYS_process_vm_writev, local, to.cast(), std::mem::size_of::<T>()) }
}

/// `n` bytes between our `local` and the program's `remote` by `call`
/// (`process_vm_readv` or `process_vm_writev`).
///
/// # Safety
/// `local` names `n` valid bytes.
unsafe fn copy(call: i64, local: *mut c_void, remote: *mut c_void, n: usize) -> Result<(), isize> {
    let local = libc::iovec { iov_base: local, iov_len: n };
    let remote = libc::iovec { iov_base: remote, iov_len: n };
    // SAFETY: iovecs naming a local and the program's address.
    let pid = unsafe { gate::syscall(libc::SYS_getpid, [0; 6]) } as usize;
    let r = unsafe { gate::syscall(call, [pid, &local as *const _ as usize, 1, &remote as *const _ as usize, 1, 0]) };
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
