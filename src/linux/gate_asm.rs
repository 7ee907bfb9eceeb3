//! The body of a raw-syscall gate, shared by every piece of code that must
//! make its system calls from an instruction of its own: the hijack
//! library's Syscall User Dispatch gate (the one range dispatch lets
//! through) and rumpctl's seccomp gate (the one address its filter lets
//! through). Each places the body in its own section, under its own
//! symbol, because the address of the `syscall` is what the host checks.

/// The instructions of `long gate(long nr, long a0, ..., long a5)` up to
/// and including its `syscall`: the C argument registers shifted into
/// the syscall ones, the sixth argument taken from the stack. A string
/// for `global_asm!`; the caller adds the label before and the `ret`.
#[macro_export]
macro_rules! syscall_from_c_args {
    () => {
        "mov rax, rdi\nmov rdi, rsi\nmov rsi, rdx\nmov rdx, rcx\nmov r10, r8\nmov r8, r9\nmov r9, [rsp + 8]\nsyscall"
    };
}
