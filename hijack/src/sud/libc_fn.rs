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
/// sixth on the stack, as glibc reads them. The entry copies the sixth
/// and the return address below its own frame and calls `route_call`.
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn syscall() {
    std::arch::naked_asm!(
        "sub rsp, 24",
        "mov rax, [rsp + 32]",
        "mov [rsp], rax",
        "mov rax, [rsp + 24]",
        "mov [rsp + 8], rax",
        "call {route}",
        "add rsp, 24",
        "ret",
        route = sym route_call,
    )
}

crate::hooked!(syscall: Raw);

/// `syscall()`'s body: the raw result turned into libc's convention
/// (`-1` and errno).
#[allow(clippy::too_many_arguments)]
extern "C" fn route_call(nr: i64, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize, ret: usize) -> i64 {
    let a = [a0, a1, a2, a3, a4, a5];
    let r = if super::mode() == Syscalls::Libc || super::in_library(ret) || router::passes_at_once(nr, &a) {
        router::pass(nr, a)
    } else {
        super::foreign::library(|| {
            let routed =
                gate::host_section(|| std::panic::catch_unwind(AssertUnwindSafe(|| router::route(nr, a, None))));
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
