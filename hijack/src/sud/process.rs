//! Caught process creation: `fork`, `vfork`, `clone` and `clone3` made as
//! raw calls.
//!
//! A fork-like call (no shared memory) goes to the library's `fork` hook,
//! so an in-process kernel moves into a keeper and the child stays its
//! client, exactly as for libc's `fork`; the child is re-armed by the
//! atfork handler. `vfork` is served as a fork (allowed: the child may not
//! rely on sharing memory). A new thread (`CLONE_VM` with a stack) is
//! cloned through the gate so that it resumes the program on its own stack
//! with the caught call's registers, and is a foreign thread (`foreign`):
//! before the program's code runs it is armed with a selector byte in a
//! TLS block of its own and tagged, so that the library, whenever the
//! thread enters it, runs on that block and not on its parent's (no
//! `CLONE_SETTLS`) or on one the program laid out. When no slot or block
//! can be had, the clone is EAGAIN rather than a thread the library
//! cannot serve. A thread cloned through libc's `syscall()` is served the
//! same way, from the registers its entry saved (`libc_fn`): it returns
//! from `syscall()` on its new stack, as glibc's wrapper does.
//!
//! `clone3` is served as the `clone` its arguments describe (a thread
//! too). What `clone` cannot express (`set_tid`, a cgroup,
//! `CLONE_CLEAR_SIGHAND`, a pidfd together with `CLONE_PARENT_SETTID`)
//! goes to the host's `clone3` for a new process, and is ENOSYS for a
//! thread (libc and Go then use `clone`).

use super::{foreign, gate, router};
use libc::ucontext_t;

/// The flags a plain fork may carry besides the exit signal.
const FORK_FLAGS: usize = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID) as usize;

pub fn create(nr: i64, a: [usize; 6], uc: Option<&mut ucontext_t>) -> isize {
    let (flags, stack) = (a[0], a[1]);
    let vm = flags & libc::CLONE_VM as usize != 0;
    match nr {
        libc::SYS_fork | libc::SYS_vfork => router::by_hook("fork", true, [0; 6]),
        libc::SYS_clone3 => match clone3_as_clone(a) {
            Ok(Some(clone)) => create(libc::SYS_clone, clone, uc),
            Ok(None) if vm_clone3(a) => -(libc::ENOSYS as isize),
            Ok(None) => host_child(nr, a),
            Err(e) => e,
        },
        _ if !vm && stack == 0 && flags & !(libc::CSIGNAL as usize | FORK_FLAGS) == 0 => {
            router::by_hook("fork", true, [0; 6])
        }
        _ if vm && stack == 0 && flags & libc::CLONE_VFORK as usize != 0 => router::by_hook("fork", true, [0; 6]),
        _ if vm && stack != 0 => match uc {
            Some(uc) => thread(a, uc),
            None => -(libc::EINVAL as isize),
        },
        _ if !vm => host_child(nr, a),
        _ => -(libc::EINVAL as isize),
    }
}

/// Namespaces and other host matters: the host's clone; the child returns
/// through this handler and is armed again.
fn host_child(nr: i64, a: [usize; 6]) -> isize {
    let r = router::pass(nr, a);
    if r == 0 {
        foreign::in_child();
        super::rewrite::finish_in_child();
    }
    if r == 0 && super::on() {
        let _ = super::arm_thread();
    }
    r
}

/// The kernel's `struct clone_args` (its first 88 bytes, version 2).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// The smallest `clone_args` the kernel takes (version 0).
const CLONE_ARGS_SIZE_VER0: usize = 64;

/// `clone3(args, size)` read (fault-safely): the `clone` arguments it
/// amounts to, `None` where `clone` cannot say it, or the error.
fn clone3_as_clone(a: [usize; 6]) -> Result<Option<[usize; 6]>, isize> {
    let (ptr, size) = (a[0] as *const u8, a[1]);
    if !(CLONE_ARGS_SIZE_VER0..=4096).contains(&size) {
        return Err(-(libc::EINVAL as isize));
    }
    let mut args = CloneArgs::default();
    let n = size.min(std::mem::size_of::<CloneArgs>());
    // SAFETY: `args` is a local of at least `n` bytes.
    unsafe { super::signals::copy_bytes_in(ptr, (&mut args as *mut CloneArgs).cast(), n)? };
    let pidfd = args.flags & libc::CLONE_PIDFD as u64 != 0;
    // Flags above 32 bits (CLONE_CLEAR_SIGHAND, CLONE_INTO_CGROUP) are
    // clone3's own.
    if args.set_tid != 0
        || args.set_tid_size != 0
        || args.flags >> 32 != 0
        || args.exit_signal & !0xff != 0
        || (pidfd && args.flags & libc::CLONE_PARENT_SETTID as u64 != 0)
    {
        return Ok(None);
    }
    let stack = if args.stack == 0 { 0 } else { args.stack + args.stack_size };
    let ptid = if pidfd { args.pidfd } else { args.parent_tid };
    let flags = args.flags | args.exit_signal;
    Ok(Some([flags, stack, ptid, args.child_tid, args.tls, 0].map(|v| v as usize)))
}

/// Whether a `clone3` asks for shared memory (read as above; a bad
/// pointer counts as not).
fn vm_clone3(a: [usize; 6]) -> bool {
    let mut flags = 0u64;
    // SAFETY: `flags` is a local of 8 bytes.
    let read = unsafe { super::signals::copy_bytes_in(a[0] as *const u8, (&mut flags as *mut u64).cast(), 8) };
    read.is_ok() && flags & libc::CLONE_VM as u64 != 0
}

/// A thread: the child resumes after the caught instruction on `stack`,
/// a foreign thread of its own slot, starting on the FS the clone gives it.
fn thread(a: [usize; 6], uc: &ucontext_t) -> isize {
    let g = &uc.uc_mcontext.gregs;
    let r = |i: i32| g[i as usize] as usize;
    let mut regs = [
        r(libc::REG_RDI),
        r(libc::REG_RSI),
        r(libc::REG_RDX),
        r(libc::REG_R10),
        r(libc::REG_R8),
        r(libc::REG_R9),
        r(libc::REG_RBX),
        r(libc::REG_RBP),
        r(libc::REG_R12),
        r(libc::REG_R13),
        r(libc::REG_R14),
        r(libc::REG_R15),
        a[1],
        r(libc::REG_RIP),
        0,
        0,
    ];
    let flags = a[0];
    let fs = if flags & libc::CLONE_SETTLS as usize != 0 { a[4] } else { foreign::program_fs() };
    if flags & libc::CLONE_THREAD as usize != 0 {
        foreign::tell_glibc_of_threads();
    }
    let Some(child) = foreign::prepare(fs) else { return -(libc::EAGAIN as isize) };
    regs[14] = child.selector;
    regs[15] = child.slot_addr();
    // SAFETY: the program's stack for the child, its registers, its slot.
    let r = unsafe { gate::clone_resume(a[0], a[1], a[2], a[3], a[4], &regs) };
    foreign::started(child, r);
    r
}
