//! Go's own system calls without a signal each: the Go runtime makes
//! every call of the `syscall` package (`os.ReadFile`'s openat, fstat,
//! read, close...) from one function, `Syscall6` of its internal syscall
//! package, whose number comes in a register (not glibc's inline form,
//! which `rewrite` knows). Before any Go code runs (from the constructor,
//! the process's one thread) that function's `syscall` and the register
//! move before it become a `jmp` to a stub (`rewrite::go_site`): calls
//! that are never the kernel's, and those on host fds, go to the host
//! from the gate; the others run the router on the thread's library
//! stack (`go_stack`; a thread's first one, which makes that stack,
//! and those needing a signal frame meet dispatch, from the stub page).
//!
//! The function is found by the program's ELF symbol table (Go keeps one
//! unless stripped) and recognised by its code: register moves only,
//! then `syscall`, then Go's `cmp $-4095, %rax`; any other shape, a
//! stripped program, or a Go object loaded later, is left to dispatch.

use super::{decode, detect, gate, rewrite, router};

/// The names `Syscall6` has had (Go 1.19–1.20, 1.21 on, 1.23 on).
const NAMES: [&[u8]; 3] = [
    b"runtime/internal/syscall.Syscall6",
    b"internal/runtime/syscall.Syscall6",
    b"internal/runtime/syscall/linux.Syscall6",
];

/// The section type of a symbol table.
const SHT_SYMTAB: u32 = 2;

/// `cmp $-4095, %rax`, Go's test of a raw result right after the call.
const GO_RESULT_TEST: [u8; 6] = [0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff];

/// Patches the program's `Syscall6`, if it is Go and has one of the
/// shape known (unless `rewrite=no`). The process is armed (its other Go
/// calls still trap).
pub fn patch_program() {
    if !crate::route::config().rewrite {
        return;
    }
    let mut program = None;
    detect::each_object(|obj| {
        if obj.is_program() && obj.is_go() {
            program = Some((obj.base(), obj.text_with_prot().collect::<Vec<_>>()));
        }
        program.is_some()
    });
    let Some((base, text)) = program else { return };
    let Some(entry) = symbol_in_program().map(|v| base + v) else { return };
    let Some(&(_, _, prot)) = text.iter().find(|(s, e, _)| (*s..e.saturating_sub(32)).contains(&entry)) else { return };
    // SAFETY: the function's first bytes, inside the program's text.
    let code = unsafe { std::slice::from_raw_parts(entry as *const u8, 32) };
    let Some(at) = syscall_after_moves(code) else { return };
    router::work_out_shortcuts();
    let first = [code[at - 3], code[at - 2], code[at - 1]];
    if rewrite::go_site(entry + at - 3, first, prot as i32) {
        tracing::debug!(target: "rumphijack::sud", "Go's Syscall6 at {entry:#x} rewritten");
    }
}

/// Where the `syscall` of `code` lies when everything before it is a
/// register-to-register `mov` (the last one 3 bytes long) and Go's result
/// test follows it.
fn syscall_after_moves(code: &[u8]) -> Option<usize> {
    let mut at = 0;
    let mut last = 0;
    while code.get(at..at + 2)? != [0x0f, 0x05] {
        let n = decode::length(&code[at..])?;
        let mov = n == 3 && matches!(code[at], 0x48 | 0x49 | 0x4c | 0x4d) && matches!(code[at + 1], 0x89 | 0x8b);
        if !mov || code[at + 2] >> 6 != 3 {
            return None;
        }
        (last, at) = (n, at + n);
    }
    (last == 3 && code.get(at + 2..at + 8)? == GO_RESULT_TEST).then_some(at)
}

/// `Syscall6`'s address in the program's file, by its symbol table.
fn symbol_in_program() -> Option<usize> {
    let file = Mapped::open(c"/proc/self/exe")?;
    let elf = file.bytes();
    let header: libc::Elf64_Ehdr = read(elf, 0)?;
    let sections = (0..header.e_shnum as usize)
        .map(|i| read::<libc::Elf64_Shdr>(elf, header.e_shoff as usize + i * header.e_shentsize as usize))
        .collect::<Option<Vec<_>>>()?;
    let symtab = sections.iter().find(|s| s.sh_type == SHT_SYMTAB)?;
    let strtab = sections.get(symtab.sh_link as usize)?;
    let count = symtab.sh_size as usize / std::mem::size_of::<libc::Elf64_Sym>();
    (0..count).find_map(|i| {
        let sym: libc::Elf64_Sym = read(elf, symtab.sh_offset as usize + i * std::mem::size_of::<libc::Elf64_Sym>())?;
        let name = elf.get(strtab.sh_offset as usize + sym.st_name as usize..)?;
        let name = &name[..name.iter().position(|&b| b == 0)?];
        NAMES.contains(&name).then_some(sym.st_value as usize)
    })
}

/// A `T` at `off` of `bytes`, if it fits.
fn read<T: Copy>(bytes: &[u8], off: usize) -> Option<T> {
    let b = bytes.get(off..off.checked_add(std::mem::size_of::<T>())?)?;
    // SAFETY: `size_of::<T>()` bytes; T is plain data (ELF records).
    Some(unsafe { std::ptr::read_unaligned(b.as_ptr().cast()) })
}

/// A file mapped read-only through the gate (no hooked libc call).
struct Mapped(usize, usize);

impl Mapped {
    fn open(path: &std::ffi::CStr) -> Option<Mapped> {
        let flags = (libc::O_RDONLY | libc::O_CLOEXEC) as usize;
        // SAFETY: a NUL-terminated path; a stat buffer of its size; a
        // fresh read-only mapping of the file; our own fd closed.
        unsafe {
            let fd = gate::syscall(libc::SYS_openat, [libc::AT_FDCWD as usize, path.as_ptr() as usize, flags, 0, 0, 0]);
            if fd < 0 {
                return None;
            }
            let mut st: libc::stat = std::mem::zeroed();
            let size =
                match gate::syscall(libc::SYS_fstat, [fd as usize, &mut st as *mut libc::stat as usize, 0, 0, 0, 0]) {
                    0 if st.st_size > 0 => st.st_size as usize,
                    _ => 0,
                };
            let prot = libc::PROT_READ as usize;
            let at = match size {
                0 => -1,
                _ => gate::syscall(libc::SYS_mmap, [0, size, prot, libc::MAP_PRIVATE as usize, fd as usize, 0]),
            };
            gate::syscall(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]);
            (at >= 0).then_some(Mapped(at as usize, size))
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: our mapping of that length, alive as long as `self`.
        unsafe { std::slice::from_raw_parts(self.0 as *const u8, self.1) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { gate::syscall(libc::SYS_munmap, [self.0, self.1, 0, 0, 0, 0]) };
    }
}
