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
//!   to handlers lose it. A program's SIGSYS action is kept here instead
//!   (`PROGRAM_SIGSYS`) and applied to every SIGSYS that dispatch did not
//!   raise (a `kill`, seccomp): its handler is called, or the default
//!   action taken, as the host would. Its `SA_RESETHAND` and mask are not
//!   honoured.
//! - A SIGSYS queued by the process itself with value `ARM` arms the
//!   thread it lands on (`sud::arm_others`).

use super::gate::{self, host_section, BLOCK};
use super::{foreign, router};
use libc::{c_int, c_void, siginfo_t, ucontext_t};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

/// The program's own SIGSYS action (handler, flags, restorer, mask).
static PROGRAM_SIGSYS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

fn program_sigsys() -> KernelSigaction {
    let f = |i: usize| PROGRAM_SIGSYS[i].load(Ordering::Acquire);
    KernelSigaction { handler: f(0) as usize, flags: f(1), restorer: f(2) as usize, mask: f(3) }
}

fn set_program_sigsys(a: &KernelSigaction) {
    for (slot, v) in PROGRAM_SIGSYS.iter().zip([a.handler as u64, a.flags, a.restorer as u64, a.mask]) {
        slot.store(v, Ordering::Release);
    }
}

/// The program's handler of each signal, run by `shim`, and the flags and
/// restorer it gave with it (shown back to it as they were).
static PROGRAM: [AtomicUsize; 65] = [const { AtomicUsize::new(0) }; 65];
static PROGRAM_FLAGS: [AtomicU64; 65] = [const { AtomicU64::new(0) }; 65];
static PROGRAM_RESTORER: [AtomicUsize; 65] = [const { AtomicUsize::new(0) }; 65];

/// `act` (for `sig`) as installed under interception: the program's
/// handler behind `shim`, our restorer, SIGSYS unmasked.
fn adjusted(sig: c_int, act: &KernelSigaction) -> KernelSigaction {
    let mut a = *act;
    if a.handler != libc::SIG_DFL && a.handler != libc::SIG_IGN && a.handler != shim as *const () as usize {
        PROGRAM[sig as usize].store(a.handler, Ordering::Release);
        PROGRAM_FLAGS[sig as usize].store(a.flags, Ordering::Release);
        PROGRAM_RESTORER[sig as usize].store(a.restorer, Ordering::Release);
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
        old.flags = PROGRAM_FLAGS[sig as usize].load(Ordering::Acquire);
        old.restorer = PROGRAM_RESTORER[sig as usize].load(Ordering::Acquire);
    }
}

/// Every program handler runs through here: with the selector at BLOCK,
/// so its syscalls are caught even when the signal arrived while the
/// library was working (a raw `kill` of itself is one).
/// On a foreign thread the library's state is reached only after
/// `foreign::enter`, and the handler runs on the program's FS again.
extern "C" fn shim(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    let h = PROGRAM.get(sig as usize).map_or(0, |h| h.load(Ordering::Acquire));
    if h != 0 {
        foreign::library(|| run_program_handler(h, sig, info, ctx));
    }
}

/// Calls the program's handler `h` with the selector at BLOCK.
fn run_program_handler(h: usize, sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    let was = gate::set_selector(BLOCK);
    // SAFETY: the program's handler; one taking only `sig` ignores the rest.
    let h: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) = unsafe { std::mem::transmute(h) };
    foreign::as_program(|| h(sig, info, ctx));
    gate::set_selector(was);
}

/// Installs the SIGSYS handler and moves handlers already installed onto
/// our restorer. Once per process (handlers are process-wide).
pub fn install() -> Result<(), rump_abi::Errno> {
    let act = KernelSigaction {
        handler: on_sigsys as *const () as usize,
        // SA_RESTART: an `ARM` request landing on a blocked read must not
        // turn it into EINTR (calls never restarted, poll or nanosleep,
        // still see EINTR then, as with any handler). SA_ONSTACK: on the
        // thread's signal stack where it has one (Go's goroutine stacks
        // start at 2 KiB; its threads all have a 32 KiB signal stack).
        flags: (libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_RESTART | libc::SA_ONSTACK) as u64 | SA_RESTORER,
        restorer: gate::rumphijack_restore_rt as *const () as usize,
        mask: 0,
    };
    let mut old = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
    // SAFETY: a valid action, the old one into a local.
    let r = unsafe { sigaction_raw(libc::SIGSYS, &act, &mut old) };
    if r < 0 {
        return Err(rump_abi::Errno(-r as i32));
    }
    if old.handler != act.handler {
        set_program_sigsys(&old);
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
    if sig == libc::SIGSYS {
        // Ours stays installed; the program's is kept for `on_sigsys`.
        let mut new = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
        if !act.is_null() {
            // SAFETY: `new` is a local.
            if let Err(e) = unsafe { copy_in(act, &mut new) } {
                return e;
            }
        }
        if !old.is_null() {
            // SAFETY: the kernel checks the caller's buffer.
            if let Err(e) = unsafe { copy_out(&program_sigsys(), old) } {
                return e;
            }
        }
        if !act.is_null() {
            set_program_sigsys(&new);
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
        // SAFETY: the kernel checks the caller's buffer.
        if let Err(e) = unsafe { copy_out(&prev, old) } {
            return e;
        }
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

/// A caught `sigaltstack(new, old)`. The handler may be running on the
/// very stack the program asks about (SIGSYS is taken on it), where the
/// host would refuse any change: the program's answer and change go
/// through the frame's `uc_stack`, which `rt_sigreturn` installs. The
/// host's checks are made here, as that restore would fail them with a
/// SIGSEGV rather than an errno.
pub fn sigaltstack(a: [usize; 6], uc: &mut ucontext_t) -> isize {
    let (new, old) = (a[0] as *const libc::stack_t, a[1] as *mut libc::stack_t);
    // The frame holds the registered stack and flags as they are (a
    // process's first thread has flags 0 with no stack); the answer is
    // made from them as the host's query makes it.
    let registered = uc.uc_stack;
    let sp = uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize;
    let base = registered.ss_sp as usize;
    let on_stack = registered.ss_size != 0 && sp > base && sp - base <= registered.ss_size;
    let state = match () {
        _ if registered.ss_size == 0 => libc::SS_DISABLE,
        _ if on_stack => libc::SS_ONSTACK,
        _ => 0,
    };
    let current = libc::stack_t { ss_flags: state | (registered.ss_flags & SS_AUTODISARM), ..registered };
    let mut next = current;
    if !new.is_null() {
        // SAFETY: `next` is a local.
        if let Err(e) = unsafe { copy_in(new, &mut next) } {
            return e;
        }
    }
    if !old.is_null() {
        // SAFETY: the kernel checks the caller's buffer.
        if let Err(e) = unsafe { copy_out(&current, old) } {
            return e;
        }
    }
    if new.is_null() {
        return 0;
    }
    if on_stack {
        return -(libc::EPERM as isize);
    }
    let mode = next.ss_flags & !SS_AUTODISARM;
    if mode != 0 && mode != libc::SS_DISABLE && mode != libc::SS_ONSTACK {
        return -(libc::EINVAL as isize);
    }
    if mode == libc::SS_DISABLE {
        next = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
    } else if next.ss_size < MINSIGSTKSZ {
        return -(libc::ENOMEM as isize);
    } else {
        next.ss_flags &= SS_AUTODISARM;
    }
    uc.uc_stack = next;
    0
}

/// The kernel's smallest signal stack, and its `SS_AUTODISARM`.
const MINSIGSTKSZ: usize = 2048;
const SS_AUTODISARM: libc::c_int = 1 << 31;

/// A `rt_sigprocmask(how, set, old, size)` made through a function (no
/// signal frame): the thread's own mask changes, SIGSYS left out of it.
pub fn sigprocmask_now(a: [usize; 6]) -> isize {
    let (how, set) = (a[0] as c_int, a[1] as *const u64);
    if set.is_null() || how == libc::SIG_UNBLOCK {
        return router::pass(libc::SYS_rt_sigprocmask, a);
    }
    let mut new = 0u64;
    // SAFETY: `new` is a local.
    if let Err(e) = unsafe { copy_in(set, &mut new) } {
        return e;
    }
    new &= !SIGSYS_BIT;
    router::pass(libc::SYS_rt_sigprocmask, [a[0], &new as *const u64 as usize, a[2], a[3], 0, 0])
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

/// Copies `n` bytes from the program's `from` to our `to`, as [`copy_in`].
///
/// # Safety
/// `to` names `n` valid bytes.
pub unsafe fn copy_bytes_in(from: *const u8, to: *mut u8, n: usize) -> Result<(), isize> {
    unsafe { copy(libc::SYS_process_vm_readv, to.cast(), from.cast_mut().cast(), n) }
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
/// instruction. Other SIGSYS: an `ARM` request, or the program's. On a
/// foreign thread, FS is the thread's own block while the library works.
extern "C" fn on_sigsys(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    foreign::library(|| sigsys(sig, info, ctx));
}

fn sigsys(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    let was = gate::set_selector(gate::ALLOW);
    // SAFETY: the kernel's siginfo; si_code is at the same place for all.
    let code = unsafe { (*info).si_code };
    if code == SYS_USER_DISPATCH {
        // SAFETY: the kernel's ucontext for this signal.
        let uc = unsafe { &mut *(ctx as *mut ucontext_t) };
        let nr = uc.uc_mcontext.gregs[libc::REG_RAX as usize];
        let r = host_section(|| router::dispatch(uc));
        uc.uc_mcontext.gregs[libc::REG_RAX as usize] = r as i64;
        super::rewrite::site(uc, nr);
        super::go_stack::after_trap(uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize, nr);
    } else if code == libc::SI_QUEUE && is_arm_request(info) {
        let _ = super::arm_thread();
    } else {
        gate::set_selector(was);
        program_sigsys_action(sig, info, ctx);
    }
    gate::set_selector(was);
}

/// `si_code` of a SIGSYS raised by Syscall User Dispatch.
const SYS_USER_DISPATCH: c_int = 2;

/// The value of a SIGSYS asking the thread it reaches to arm itself.
const ARM: usize = 0x7275_6d70_6172_6d00;

/// Queues an `ARM` request to thread `tid` of process `pid` (this one).
pub fn send_arm(pid: isize, tid: isize) {
    // The kernel's siginfo for SI_QUEUE: signo, errno, code, then pid,
    // uid and the value at offsets 16, 20 and 24.
    let mut info = [0u32; 32];
    info[0] = libc::SIGSYS as u32;
    info[2] = libc::SI_QUEUE as u32;
    info[4] = pid as u32;
    // SAFETY: an argument-less call through the gate.
    info[5] = unsafe { gate::syscall(libc::SYS_getuid, [0; 6]) } as u32;
    info[6] = ARM as u32;
    info[7] = (ARM >> 32) as u32;
    // SAFETY: a siginfo in a local.
    unsafe {
        gate::syscall(
            libc::SYS_rt_tgsigqueueinfo,
            [pid as usize, tid as usize, libc::SIGSYS as usize, info.as_ptr() as usize, 0, 0],
        )
    };
}

/// Whether a queued SIGSYS is this process's own `ARM` request.
fn is_arm_request(info: *mut siginfo_t) -> bool {
    // SAFETY: a SI_QUEUE siginfo carries a pid and a value.
    let (pid, value) = unsafe { ((*info).si_pid(), (*info).si_value().sival_ptr as usize) };
    // SAFETY: an argument-less call through the gate.
    value == ARM && pid as isize == unsafe { gate::syscall(libc::SYS_getpid, [0; 6]) }
}

/// A SIGSYS dispatch did not raise, given to the program's action: its
/// handler, nothing when ignored, the host's default (the process ends
/// by SIGSYS) otherwise.
fn program_sigsys_action(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    let act = program_sigsys();
    match act.handler {
        h if h == libc::SIG_IGN => {}
        h if h == libc::SIG_DFL => {
            let dfl = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
            // SAFETY: a valid action; then the signal again, now fatal.
            unsafe {
                sigaction_raw(libc::SIGSYS, &dfl, std::ptr::null_mut());
                let pid = gate::syscall(libc::SYS_getpid, [0; 6]) as usize;
                let tid = gate::syscall(libc::SYS_gettid, [0; 6]) as usize;
                gate::syscall(libc::SYS_tgkill, [pid, tid, libc::SIGSYS as usize, 0, 0, 0]);
            }
        }
        h => run_program_handler(h, sig, info, ctx),
    }
}
