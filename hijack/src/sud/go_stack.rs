//! The library stack of a thread running Go: where a call of Go's
//! rewritten `Syscall6` that may be the kernel's (an `openat` of /rump, a
//! `read` on a rump fd) runs the router, instead of taking a signal to
//! reach the signal stack. A goroutine's stack (from 2 KiB) is too small
//! for the library's work; this one is not.
//!
//! `gate::rumphijack_dyn_call` finds the stack's top in a thread-local
//! word of its own (`rumphijack_go_stack_top`, reached from asm by the
//! initial-exec model: the library is loaded with the program), switches
//! to it, enters `rewrite::stub_common` as a C site's stub does, and
//! switches back (a call while the stack is in use, from a handler that
//! interrupted one, traps). A thread without one yet takes the old way, a caught
//! `syscall` from the stub page (`rewrite::TRAP`), and the SIGSYS handler
//! makes its stack then (`after_trap`): one signal per thread, not per
//! call. Go's signal handlers run on Go's own signal stack (SA_ONSTACK;
//! the kernel switches there since this stack is not the thread's
//! altstack), so a signal mid-call leaves this stack alone. The stack is
//! unmapped when the thread exits (a thread-local's destructor).
//!
//! A foreign thread (`foreign`) runs on its program's FS at the stub, not
//! the block this word would be found in: while any exists, Go's calls
//! trap as before (`dyn_call` checks `foreign`'s count).

use super::gate;
use std::cell::Cell;

/// The stack's size: the SIGSYS handler's work (the router, the hooks,
/// an embedded kernel) fits Go's 32 KiB signal stack; this leaves room.
/// Pages are only backed as they are touched.
const SIZE: usize = 256 * 1024;
/// An unmapped page below the stack, so an overflow faults.
const GUARD: usize = 4096;
/// Bytes above the top `dyn_call` uses for its frame (kept inside the
/// mapping).
pub const TOP_ROOM: usize = 64;

std::arch::global_asm!(
    ".pushsection .tbss,\"awT\",@nobits",
    ".p2align 3",
    ".globl rumphijack_go_stack_top",
    ".hidden rumphijack_go_stack_top",
    ".type rumphijack_go_stack_top, @object",
    ".size rumphijack_go_stack_top, 8",
    "rumphijack_go_stack_top:",
    ".zero 8",
    ".popsection",
);

/// The address of this thread's `rumphijack_go_stack_top`.
fn top_word() -> *mut usize {
    let at: usize;
    // SAFETY: the thread pointer plus the word's initial-exec offset.
    unsafe {
        std::arch::asm!(
            "mov {at}, qword ptr [rip + rumphijack_go_stack_top@GOTTPOFF]",
            "add {at}, qword ptr fs:[0]",
            at = out(reg) at,
            options(nostack, readonly, preserves_flags),
        )
    };
    at as *mut usize
}

/// The mapping of this thread's stack, unmapped at its exit.
struct Mapping(Cell<usize>);

impl Drop for Mapping {
    fn drop(&mut self) {
        let base = self.0.get();
        if base != 0 {
            // SAFETY: this thread's own word and mapping, no longer used.
            unsafe {
                *top_word() = 0;
                gate::syscall(libc::SYS_munmap, [base, GUARD + SIZE, 0, 0, 0, 0]);
            }
        }
    }
}

thread_local! {
    static MAPPING: Mapping = const { Mapping(Cell::new(0)) };
}

/// After a call from a Go stub's `TRAP` at `rip` (the address after the
/// caught `syscall`) was dispatched: gives the thread its library stack
/// if it has none.
pub fn after_trap(rip: usize, nr: i64) {
    if !super::rewrite::is_trap(rip) {
        return;
    }
    // The tid is asked only when a line is logged.
    // SAFETY: argument-less.
    let tid = || unsafe { gate::syscall(libc::SYS_gettid, [0; 6]) };
    tracing::debug!(target: "rumphijack::sud", "Go's call {nr} caught by dispatch on thread {}", tid());
    // While a foreign thread exists `dyn_call` uses no stack (and such a
    // thread's own would never be unmapped: glibc runs no destructors
    // for it).
    // SAFETY: this thread's word.
    if super::foreign::COUNT.load(std::sync::atomic::Ordering::Relaxed) != 0 || unsafe { *top_word() } != 0 {
        return;
    }
    let prot = (libc::PROT_READ | libc::PROT_WRITE) as usize;
    let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE) as usize;
    // SAFETY: a fresh anonymous mapping, its lowest page made a guard.
    let base = unsafe { gate::syscall(libc::SYS_mmap, [0, GUARD + SIZE, prot, flags, usize::MAX, 0]) };
    if base < 0 {
        return;
    }
    let base = base as usize;
    // SAFETY: the mapping just made.
    unsafe { gate::syscall(libc::SYS_mprotect, [base, GUARD, libc::PROT_NONE as usize, 0, 0, 0]) };
    let registered = MAPPING.try_with(|m| m.0.set(base)).is_ok();
    if !registered {
        // The thread is exiting: no destructor would free it.
        // SAFETY: the mapping just made.
        unsafe { gate::syscall(libc::SYS_munmap, [base, GUARD + SIZE, 0, 0, 0, 0]) };
        return;
    }
    // SAFETY: this thread's word.
    unsafe { *top_word() = base + GUARD + SIZE - TOP_ROOM };
    tracing::debug!(target: "rumphijack::sud", "a library stack for Go's calls on thread {}", tid());
}
