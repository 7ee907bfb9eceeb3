//! Caught process creation: `fork`, `vfork`, `clone` and `clone3` made as
//! raw calls.
//!
//! A fork-like call (no shared memory) goes to the library's `fork` hook,
//! so an in-process kernel moves into a keeper and the child stays its
//! client, exactly as for libc's `fork`; the child is re-armed by the
//! atfork handler. `vfork` is served as a fork (allowed: the child may not
//! rely on sharing memory). A new thread (`CLONE_VM` with a stack) is
//! cloned through the gate so that it resumes the program on its own stack
//! with the caught call's registers; it is not armed (its TLS is not one
//! the library can find a selector in). `clone3` answers ENOSYS, which
//! libc and Go take as the cue to use `clone`.

use super::{gate, router};
use libc::ucontext_t;

/// The flags a plain fork may carry besides the exit signal.
const FORK_FLAGS: usize = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID) as usize;

pub fn create(nr: i64, a: [usize; 6], uc: Option<&mut ucontext_t>) -> isize {
    let (flags, stack) = (a[0], a[1]);
    let vm = flags & libc::CLONE_VM as usize != 0;
    match nr {
        libc::SYS_fork | libc::SYS_vfork => router::by_hook("fork", true, [0; 6]),
        libc::SYS_clone3 => -(libc::ENOSYS as isize),
        _ if !vm && stack == 0 && flags & !(libc::CSIGNAL as usize | FORK_FLAGS) == 0 => {
            router::by_hook("fork", true, [0; 6])
        }
        _ if vm && stack == 0 && flags & libc::CLONE_VFORK as usize != 0 => router::by_hook("fork", true, [0; 6]),
        _ if vm && stack != 0 => match uc {
            Some(uc) => thread(a, uc),
            // Through `syscall()`: the child returns into libc's
            // wrapper on its new stack, as without the library.
            None => router::pass(nr, a),
        },
        _ if !vm => {
            // Namespaces and other host matters: the host's clone; the
            // child returns through this handler and is armed again.
            let r = router::pass(nr, a);
            if r == 0 {
                let _ = super::arm_thread();
            }
            r
        }
        _ => -(libc::EINVAL as isize),
    }
}

/// A thread: the child resumes after the caught instruction on `stack`.
fn thread(a: [usize; 6], uc: &ucontext_t) -> isize {
    let g = &uc.uc_mcontext.gregs;
    let r = |i: i32| g[i as usize] as usize;
    let regs = [
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
    // SAFETY: the program's stack for the child, its registers.
    unsafe { gate::clone_resume(a[0], a[1], a[2], a[3], a[4], &regs) }
}
