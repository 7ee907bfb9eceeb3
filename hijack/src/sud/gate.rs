//! The gate: the one stretch of code whose `syscall` instructions Syscall
//! User Dispatch lets through, and each thread's selector byte.
//!
//! Everything the library asks of the host kernel while interception is on
//! leaves through here: `host_syscall` (the library's own raw calls and the
//! calls the router passes on), `restore_rt` (the return from every signal
//! handler, ours and the program's, whose `rt_sigreturn` must never be
//! caught: it is made while the handler's frame is still on the stack),
//! `clone_resume` (a thread made by a caught raw `clone`, which arms
//! itself and takes its `foreign` tag here before resuming the program) and the
//! shortcuts of rewritten sites (`host_call`, `fd_call`, `dyn_call`). They are laid
//! out together in their own section; `range()` is what `prctl` is given
//! as the allowed region. A call leaving through the range costs the
//! kernel less than one let through by the selector (a byte it must read
//! from the thread's memory on each call).
//!
//! The selector is the per-thread byte the kernel reads on every syscall
//! outside the region: `BLOCK` while the program runs, `ALLOW` while the
//! library works for it (`host_section`), so libc functions the library
//! calls (`dlsym`, `malloc`, the host's own `read`) run untrapped. It is a
//! thread-local: a foreign thread's is in the TLS block `foreign` gave it,
//! the one it runs the library on.

use std::cell::Cell;

/// The selector's values (`SYSCALL_DISPATCH_FILTER_*`).
pub const ALLOW: u8 = 0;
pub const BLOCK: u8 = 1;

thread_local! {
    /// This thread's selector; `ALLOW` until the thread is armed.
    static SELECTOR: Cell<u8> = const { Cell::new(ALLOW) };
}

/// The address of this thread's selector byte (for `prctl`).
pub fn selector_addr() -> *mut u8 {
    SELECTOR.with(Cell::as_ptr)
}

/// This thread's selector.
pub fn selector() -> u8 {
    SELECTOR.with(Cell::get)
}

/// Sets this thread's selector, returning what it was.
pub fn set_selector(v: u8) -> u8 {
    SELECTOR.with(|s| s.replace(v))
}

/// Runs `f` with this thread's syscalls let through, restoring the
/// selector afterwards (a no-op on an unarmed thread).
#[inline]
pub fn host_section<T>(f: impl FnOnce() -> T) -> T {
    let was = set_selector(ALLOW);
    let r = f();
    set_selector(was);
    r
}

std::arch::global_asm!(
    ".pushsection .text.rumphijack_gate,\"ax\",@progbits",
    ".globl rumphijack_gate_begin, rumphijack_gate_end, rumphijack_host_syscall",
    ".globl rumphijack_restore_rt, rumphijack_clone_resume, rumphijack_host_call, rumphijack_fd_call, rumphijack_dyn_call",
    ".hidden rumphijack_gate_begin, rumphijack_gate_end, rumphijack_host_syscall",
    ".hidden rumphijack_restore_rt, rumphijack_clone_resume, rumphijack_host_call, rumphijack_fd_call, rumphijack_dyn_call",
    "rumphijack_gate_begin:",
    // long host_syscall(nr, a0..a5)
    "rumphijack_host_syscall:",
    rump_abi::syscall_from_c_args!(),
    "    ret",
    // The shortcuts of a rewritten site's stub (`rewrite`), entered by a
    // call with rax = nr and the arguments in place: `host_call` makes
    // the call as it is; `fd_call` makes it when ecx, the call's only
    // fd, is not a rump fd nor possibly one of the library's own, and
    // otherwise goes on to the router's entry, `stub_common`, in the same
    // state (rcx and r11 are the `syscall`'s to clobber; the flags it
    // keeps are kept here too). `dyn_call`, for a site whose number is
    // known only as it runs (Go's), decides by the number's shortcut
    // (`router::SHORTCUTS`); a call it cannot make goes to `stub_common`
    // on the thread's library stack (`go_stack`), not on a goroutine's
    // (Go's flags kept across, rax the result, rcx and r11 clobbered).
    // Calls needing a signal frame, and those of a thread with no such
    // stack (yet), or while a foreign thread exists, go to the stub
    // page's own `syscall; ret` (`rewrite::TRAP`), which dispatch catches:
    // the router then runs on the signal stack.
    "rumphijack_host_call:",
    "    syscall",
    "    ret",
    "rumphijack_fd_call:",
    "    pushfq",
    "    call 20f",
    "    jne 21f",
    "    popfq",
    "    syscall",
    "    ret",
    "21: popfq",
    "    jmp rumphijack_stub_common",
    "rumphijack_dyn_call:",
    "    pushfq",
    "    cmp rax, {shortcuts_len}",
    "    jae 28f",
    "    lea r11, [rip + {shortcuts}]",
    "    movzx ecx, byte ptr [r11 + rax]",
    "    cmp ecx, {host}",
    "    je 27f",
    "    cmp ecx, {frame}",
    "    je 29f",
    "    sub ecx, {fd}",
    "    jb 28f",
    "    jz 30f",
    "    cmp ecx, 2",
    "    jb 31f",
    "    je 32f",
    "    cmp ecx, 4",
    "    jb 33f",
    "    je 34f",
    "    mov ecx, r9d",
    "    jmp 26f",
    "30: mov ecx, edi",
    "    jmp 26f",
    "31: mov ecx, esi",
    "    jmp 26f",
    "32: mov ecx, edx",
    "    jmp 26f",
    "33: mov ecx, r10d",
    "    jmp 26f",
    "34: mov ecx, r8d",
    "26: call 20f",
    "    jne 28f",
    "27: popfq",
    "    syscall",
    "    ret",
    // The stack's top T keeps the return into the slot at [T] (where
    // `stub_common` looks for the program's stack, 136 bytes above its
    // entry) and Go's stack pointer at [T + 8], 0 while the stack is
    // free: a call made while it is in use (from a signal handler that
    // interrupted one; never Go's own) traps.
    "28: cmp qword ptr [rip + {foreign_count}], 0",
    "    jne 29f",
    "    mov r11, qword ptr [rip + rumphijack_go_stack_top@GOTTPOFF]",
    "    mov r11, qword ptr fs:[r11]",
    "    test r11, r11",
    "    jz 29f",
    "    cmp qword ptr [r11 + 8], 0",
    "    jne 29f",
    "    mov rcx, [rsp + 8]",
    "    mov [r11], rcx",
    "    mov [r11 + 8], rsp",
    "    lea rsp, [r11 - 128]",
    "    call rumphijack_stub_common",
    "    mov rcx, [rsp + 136]",
    "    mov qword ptr [rsp + 136], 0",
    "    mov rsp, rcx",
    "    popfq",
    "    ret",
    "29: popfq",
    "    mov rcx, [rsp]",
    "    and rcx, -4096",
    "    add rcx, {trap}",
    "    jmp rcx",
    // ecx = an fd: ZF set when a call may go to the host with it.
    "20: cmp ecx, dword ptr [rip + {lowest}]",
    "    jge 22f",
    "    cmp qword ptr [rip + {count}], 0",
    "    je 23f",
    "    cmp ecx, {slots}",
    "    jae 23f",
    "    lea r11, [rip + {map}]",
    "    cmp dword ptr [r11 + rcx*4], 0",
    "    ret",
    "22: or r11d, 1",
    "    ret",
    "23: cmp eax, eax",
    "    ret",
    // The sa_restorer of every handler while interception is on.
    "rumphijack_restore_rt:",
    "    mov eax, 15",
    "    syscall",
    "    ud2",
    // long clone_resume(flags, stack, ptid, ctid, tls, regs): a raw clone
    // whose child, on its own stack, takes the caught call's registers
    // from `regs` (16 words: rdi rsi rdx r10 r8 r9 rbx rbp r12 r13 r14 r15,
    // the stack pointer to resume on, the address to resume at, the
    // address of its selector byte and of its `foreign` slot, or two
    // zeros)
    // copied to the top of that stack, and resumes the program there
    // with rax = 0, as the kernel's clone would have.
    "rumphijack_clone_resume:",
    "    mov r10, rcx",
    "    mov r11, r9",
    // Copy the register block to the child's stack, below its top.
    "    sub rsi, 128",
    "    mov rcx, 16",
    "2:  dec rcx",
    "    mov rax, [r11 + rcx*8]",
    "    mov [rsi + rcx*8], rax",
    "    test rcx, rcx",
    "    jnz 2b",
    "    mov eax, 56",
    "    syscall",
    "    test rax, rax",
    "    jz 3f",
    "    ret",
    // A foreign thread (`foreign`): its tid into its slot, the slot its
    // GS base, then dispatch armed with the selector in its own TLS
    // block, before any of the program's code runs.
    "3:  mov rsi, [rsp + 120]",
    "    test rsi, rsi",
    "    jz 4f",
    "    mov eax, 186",
    "    syscall",
    "    mov [rsi], eax",
    "    mov edi, 0x1001",
    "    mov eax, 158",
    "    syscall",
    "    mov edi, 59",
    "    mov esi, 1",
    "    lea rdx, [rip + rumphijack_gate_begin]",
    "    lea r10, [rip + rumphijack_gate_end]",
    "    sub r10, rdx",
    "    mov r8, [rsp + 112]",
    "    xor r9d, r9d",
    "    mov eax, 157",
    "    syscall",
    "4:  mov rdi, [rsp + 0]",
    "    mov rsi, [rsp + 8]",
    "    mov rdx, [rsp + 16]",
    "    mov r10, [rsp + 24]",
    "    mov r8,  [rsp + 32]",
    "    mov r9,  [rsp + 40]",
    "    mov rbx, [rsp + 48]",
    "    mov rbp, [rsp + 56]",
    "    mov r12, [rsp + 64]",
    "    mov r13, [rsp + 72]",
    "    mov r14, [rsp + 80]",
    "    mov r15, [rsp + 88]",
    "    mov rax, [rsp + 104]",
    "    mov rsp, [rsp + 96]",
    "    push rax",
    "    xor eax, eax",
    "    ret",
    "rumphijack_gate_end:",
    ".popsection",
    lowest = sym rumpclient::ownfd::LOWEST,
    count = sym crate::fdmap::COUNT,
    map = sym crate::fdmap::MAP,
    slots = const crate::fdmap::SLOTS,
    shortcuts = sym super::router::SHORTCUTS,
    shortcuts_len = const super::router::SHORTCUTS_LEN,
    host = const super::router::SHORTCUT_HOST,
    fd = const super::router::SHORTCUT_FD,
    frame = const super::router::SHORTCUT_FRAME,
    foreign_count = sym super::foreign::COUNT,
    trap = const super::rewrite::TRAP,
);

extern "C" {
    fn rumphijack_host_syscall(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize;
    fn rumphijack_gate_begin();
    fn rumphijack_gate_end();
    pub fn rumphijack_restore_rt();
    pub fn rumphijack_host_call();
    pub fn rumphijack_fd_call();
    pub fn rumphijack_dyn_call();
    fn rumphijack_clone_resume(
        flags: usize,
        stack: usize,
        ptid: usize,
        ctid: usize,
        tls: usize,
        regs: *const [usize; 16],
    ) -> isize;
}

/// The allowed region: start and length.
pub fn range() -> (usize, usize) {
    let begin = rumphijack_gate_begin as *const () as usize;
    (begin, rumphijack_gate_end as *const () as usize - begin)
}

/// A host syscall from inside the region: the kernel's raw answer
/// (`-errno` on failure). Never trapped, whatever the selector.
///
/// # Safety
/// The arguments must be valid for syscall `nr`.
#[inline]
pub unsafe fn syscall(nr: i64, a: [usize; 6]) -> isize {
    unsafe { rumphijack_host_syscall(nr as usize, a[0], a[1], a[2], a[3], a[4], a[5]) }
}

/// A raw `clone` of a new thread on `stack` whose child resumes the
/// program at `regs` (see `rumphijack_clone_resume`). The parent gets the
/// kernel's answer.
///
/// # Safety
/// `stack` is the top of memory the child may use; `regs` the registers of
/// the caught call.
pub unsafe fn clone_resume(
    flags: usize,
    stack: usize,
    ptid: usize,
    ctid: usize,
    tls: usize,
    regs: &[usize; 16],
) -> isize {
    unsafe { rumphijack_clone_resume(flags, stack, ptid, ctid, tls, regs) }
}
