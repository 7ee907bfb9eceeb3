//! libc's `syscall()`, defined by this library: a program's
//! `syscall(SYS_openat, ...)` (or Python's `ctypes` call of it) is routed
//! like a caught instruction, at the cost of a function call and without
//! Syscall User Dispatch. The library's own calls of `syscall()` (its
//! crates, std's futex) go to the host unchanged: the entry tells them
//! apart by the return address. With `syscalls=libc` every call goes to
//! the host.

use super::{gate, router};
use crate::config::Syscalls;
use std::panic::AssertUnwindSafe;

/// `long syscall(long nr, ...)`: six argument words after the number, the
/// sixth on the stack, as glibc reads them. The entry saves the caller's
/// callee-saved registers (a new thread resumes with them), copies the
/// sixth word, the return address and where those registers are below
/// its own frame and calls `route_call`.
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn syscall() {
    std::arch::naked_asm!(
        "push r15",
        "push r14",
        "push r13",
        "push r12",
        "push rbp",
        "push rbx",
        "mov rax, rsp",
        "sub rsp, 40",
        "mov [rsp + 16], rax",
        "mov rax, [rsp + 96]",
        "mov [rsp], rax",
        "mov rax, [rsp + 88]",
        "mov [rsp + 8], rax",
        "call {route}",
        "add rsp, 40",
        "pop rbx",
        "pop rbp",
        "pop r12",
        "pop r13",
        "pop r14",
        "pop r15",
        "ret",
        route = sym route_call,
    )
}

/// Where a thread cloned through `syscall()` starts: glibc's wrapper
/// returns from `syscall()` in the child, on the child's new stack.
#[unsafe(naked)]
unsafe extern "C" fn return_on_new_stack() {
    std::arch::naked_asm!("ret")
}

crate::hooked!(syscall: Raw);

/// `syscall()`'s body: the raw result turned into libc's convention
/// (`-1` and errno).
#[allow(clippy::too_many_arguments)]
extern "C" fn route_call(
    nr: i64,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    ret: usize,
    callee_saved: &[usize; 6],
) -> i64 {
    let a = [a0, a1, a2, a3, a4, a5];
    let r = if super::mode() == Syscalls::Libc || super::in_library(ret) || router::passes_at_once(nr, &a) {
        router::pass(nr, a)
    } else {
        super::foreign::library(|| {
            let routed = gate::host_section(|| {
                std::panic::catch_unwind(AssertUnwindSafe(|| {
                    if nr == libc::SYS_clone || nr == libc::SYS_clone3 {
                        let mut frame = frame_of_call(a, callee_saved);
                        router::route(nr, a, Some(&mut frame))
                    } else {
                        router::route(nr, a, None)
                    }
                }))
            });
            routed.unwrap_or(-(libc::EIO as isize))
        })
    };
    if (-4095..0).contains(&r) {
        crate::host::set_errno(-r as i32);
        -1
    } else {
        r as i64
    }
}

/// The registers of a `syscall()` call as a caught instruction's context
/// would hold them, for a new thread (`process`) to resume from: the
/// arguments, the caller's callee-saved registers (rbx rbp r12-r15 as
/// the entry pushed them) and, as where it resumes, `return_on_new_stack`.
fn frame_of_call(a: [usize; 6], callee_saved: &[usize; 6]) -> libc::ucontext_t {
    // SAFETY: a plain C structure, all zeros valid.
    let mut uc: libc::ucontext_t = unsafe { std::mem::zeroed() };
    let g = &mut uc.uc_mcontext.gregs;
    let args = [libc::REG_RDI, libc::REG_RSI, libc::REG_RDX, libc::REG_R10, libc::REG_R8, libc::REG_R9];
    let saved = [libc::REG_RBX, libc::REG_RBP, libc::REG_R12, libc::REG_R13, libc::REG_R14, libc::REG_R15];
    for (reg, v) in args.iter().zip(a).chain(saved.iter().zip(*callee_saved)) {
        g[*reg as usize] = v as i64;
    }
    g[libc::REG_RIP as usize] = return_on_new_stack as *const () as i64;
    uc
}
