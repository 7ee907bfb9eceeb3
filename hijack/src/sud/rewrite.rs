//! Rewriting of syscall sites: a site of glibc's inline form
//! `mov $nr,%eax; syscall` (`b8 imm32 0f 05`) gets its 5-byte `mov`
//! replaced by a `jmp` to a stub, so its calls reach the host or the
//! router by two jumps and a call instead of a signal. Lazily, after a
//! caught call, in an armed process (`site`); ahead of any call, for the
//! objects of a process `syscalls=auto` would otherwise arm (`ahead`).
//!
//! The stub (one 32-byte slot in a page mapped within ±2 GiB of the site)
//! does what the `mov` did, steps over the red zone, calls one of three
//! entries by the call's `router::Shortcut`, and jumps back past the
//! `syscall`. A call that is never the kernel's (`getppid`, `futex`)
//! goes straight to the host through the gate (`host_call`); one whose
//! only fd decides (`read`, `pread64`) too when that fd is not a rump fd
//! (`fd_call`, a few loads, no registers saved); the others, and those
//! on a rump fd, go to `stub_common`. `stub_common`
//! keeps what the kernel's `syscall` would have preserved (the argument
//! registers and flags; the vector registers) and tries `stub_quick`:
//! a call the thread's selector lets through (the library at work, a
//! thread never armed), or whose registers show it is not the kernel's
//! (no path, no rump fd), goes to the host with only the SSE registers
//! saved. The others go to `stub_entry` and the router with the whole
//! vector state saved by `xsavec` (150-250 ns here, most of a slow
//! path's cost).
//!
//! The `syscall` instruction itself is never touched: a thread that
//! already executed the old `mov` still traps, as before. The 5 bytes are
//! replaced by one `lock cmpxchg16b` on the aligned 16 bytes holding them,
//! or, across two such blocks, in three steps with every thread's
//! instruction stream resynchronised in between (`patch`; a site whose
//! `mov` alone ends a block is left alone), with the page made writable
//! for that moment and put back as its segment says. Only sites in the
//! text of objects listed by `note_objects` (lazily) or given to `ahead`
//! are rewritten: never this library (the gate), the vDSO, Go objects
//! (their goroutine stacks are too small for the saved state; Go takes
//! signals on its own stack; `go` rewrites the one site it knows there,
//! whose stub needs 24 bytes of stack), or code outside any object (a
//! JIT). An
//! object `dlclose` unloads stays listed: an object mapped there later is
//! taken to have the same protection (its text, read and execute, in
//! practice). Calls needing the signal frame (`rt_sigprocmask`,
//! `rt_sigreturn`, the clone family) keep trapping.
//! Rewriting happens under a try-lock: a site hit while another thread
//! rewrites is simply caught again next time. `RUMPHIJACK=...,rewrite=no`
//! leaves every site as it is.

use super::router::{self, Shortcut};
use super::{decode, detect, frames, gate};
use libc::ucontext_t;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Text segments whose sites may be rewritten: start, end, `PROT_*` to
/// restore. Appended to by `note_objects`, read by the handler.
static REGIONS: [(AtomicUsize, AtomicUsize, AtomicU32); 256] =
    [const { (AtomicUsize::new(0), AtomicUsize::new(0), AtomicU32::new(0)) }; 256];
static REGION_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Lists the text of loaded objects not yet listed (at arming and after
/// each `dlopen` of an armed process).
pub fn note_objects() {
    xsave_size();
    let _lock = LOCK.hold_blocking();
    detect::each_object(|obj| {
        if !obj.rewritable() {
            return false;
        }
        for (start, end, prot) in obj.text_with_prot() {
            let n = REGION_COUNT.load(Ordering::Acquire);
            if n >= REGIONS.len() || REGIONS[..n].iter().any(|r| r.0.load(Ordering::Relaxed) == start) {
                continue;
            }
            REGIONS[n].0.store(start, Ordering::Relaxed);
            REGIONS[n].1.store(end, Ordering::Relaxed);
            REGIONS[n].2.store(prot, Ordering::Relaxed);
            REGION_COUNT.store(n + 1, Ordering::Release);
        }
        false
    });
}

/// The listed region holding `[addr, addr + len)`: its `PROT_*`.
fn region_of(addr: usize, len: usize) -> Option<i32> {
    let n = REGION_COUNT.load(Ordering::Acquire);
    REGIONS[..n].iter().find_map(|(s, e, p)| {
        (s.load(Ordering::Relaxed) <= addr && addr + len <= e.load(Ordering::Relaxed))
            .then(|| p.load(Ordering::Relaxed) as i32)
    })
}

/// A try-lock usable in the signal handler.
struct Lock(AtomicBool);
static LOCK: Lock = Lock(AtomicBool::new(false));

struct Held(&'static Lock);

impl Lock {
    fn try_hold(&'static self) -> Option<Held> {
        // `then`, not `then_some`: a `Held` made and dropped on failure
        // would release the lock another thread holds.
        (!self.0.swap(true, Ordering::Acquire)).then(|| Held(self))
    }

    fn hold_blocking(&'static self) -> Held {
        loop {
            if let Some(h) = self.try_hold() {
                return h;
            }
            std::hint::spin_loop();
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0 .0.store(false, Ordering::Release);
    }
}

/// After a caught call `nr`: rewrites its site if it has the recognised
/// form. The `syscall` is known to be an instruction (it trapped); that
/// the five bytes before it are one, the `mov`, is inferred: they must
/// load the very number caught, and the byte before them must not be a
/// prefix that would make them another instruction of the same length
/// (`prefix_changes_mov`). Bytes ending a longer instruction that pass
/// both would be misread; compilers do not put one before a syscall.
pub fn site(uc: &ucontext_t, nr: i64) {
    let rip = uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
    let Some(site) = rip.checked_sub(7) else { return };
    let Some(prot) = region_of(site - 1, 8) else { return };
    if super::in_library(site) || xsave_size() == 0 || !crate::route::config().rewrite {
        return;
    }
    // SAFETY: inside a listed, readable text segment.
    let code = unsafe { std::slice::from_raw_parts((site - 1) as *const u8, 8) };
    let prefix = prefix_changes_mov(code[0]);
    let code = &code[1..];
    if prefix || detect::inline_syscall_at(code, 5).map(i64::from) != Some(nr) || router::needs_frame(nr) {
        return;
    }
    let Some(_lock) = LOCK.try_hold() else { return };
    rewrite(site, nr as u32, prot);
}

/// Rewrites, before any of them has run, the inline sites of `obj` whose
/// call may be the kernel's (`syscalls=auto` in a process not armed);
/// whether that takes care of all its sites, so that `obj` needs no
/// dispatch. Sites of calls never the kernel's (`router::Shortcut::Host`:
/// `getppid`, `futex`) are left as they are: unarmed, they are the host's
/// call already. A site is rewritten only where the object's unwind
/// tables describe the function holding it and decoding that function
/// from its first byte meets an instruction boundary right at the `mov`
/// (bytes inside other instructions that look like a site are not one);
/// any site that cannot be rewritten so (outside a described function, a
/// call needing a signal frame, no stub within reach), and an object
/// without unwind tables, leave the object to dispatch.
pub fn ahead(obj: &detect::Object) -> bool {
    let Some(hdr) = obj.eh_frame_hdr() else { return false };
    if xsave_size() == 0 || !crate::route::config().rewrite || !obj.rewritable() {
        return false;
    }
    let mut sites = Vec::new();
    for (start, end, prot) in obj.text_with_prot() {
        if prot & libc::PROT_READ as u32 == 0 {
            return false;
        }
        // SAFETY: a mapped, readable segment of a loaded object.
        let code = unsafe { std::slice::from_raw_parts(start as *const u8, end - start) };
        for i in memchr::memmem::find_iter(code, b"\x0f\x05") {
            if let Some(nr) = detect::inline_syscall_at(code, i) {
                sites.push((start + i - 5, nr, prot as i32));
            }
        }
    }
    let _lock = LOCK.hold_blocking();
    sites.into_iter().all(|(site, nr, prot)| {
        nr == libc::SYS_rt_sigreturn as u32
            || router::shortcut(i64::from(nr)) == Shortcut::Host
            // SAFETY: `hdr` is the object's, `site` in its text.
            || (!router::needs_frame(i64::from(nr)) && unsafe { starts_instruction(hdr, site) } && rewrite(site, nr, prot))
    })
}

/// Whether an instruction starts at `site`, decoding the function that
/// holds it (by the unwind tables at `hdr`) from its first byte.
///
/// # Safety
/// `hdr` is the `.eh_frame_hdr` of the object whose text holds `site`.
unsafe fn starts_instruction(hdr: usize, site: usize) -> bool {
    // SAFETY: as the caller says.
    let Some((start, end)) = (unsafe { frames::function_at(hdr, site) }) else { return false };
    let mut at = start;
    while at < site && site + 7 <= end {
        // SAFETY: inside the function's text.
        let code = unsafe { std::slice::from_raw_parts(at as *const u8, (end - at).min(15)) };
        match decode::length(code) {
            Some(n) => at += n,
            None => return false,
        }
    }
    at == site && site + 7 <= end
}

/// Points the site at `site`, whose `mov` loads `nr`, at a new stub, in
/// a text segment of protection `prot`; whether it now does (under the
/// lock).
fn rewrite(site: usize, nr: u32, prot: i32) -> bool {
    if site % 16 > 11 && (site % 16 == 15 || !sync_cores()) {
        return false;
    }
    // SAFETY: the site's 5 bytes, in text.
    let old = unsafe { std::ptr::read_volatile(site as *const [u8; 5]) };
    let Some(slot) = stub_for(site, nr) else { return false };
    let Ok(rel) = i32::try_from(slot as isize - (site + 5) as isize) else { return false };
    let mut jmp = [0xe9u8; 5];
    jmp[1..].copy_from_slice(&rel.to_le_bytes());
    // SAFETY: the site's text, made writable for the patch and given
    // back its protection.
    unsafe {
        if mprotect(site, prot | libc::PROT_WRITE) < 0 {
            return false;
        }
        let done = patch(site, &old, jmp, prot);
        mprotect(site, prot);
        done
    }
}

/// Whether `byte`, read as a prefix of the `mov $nr,%eax` (`b8 imm32`)
/// after it, would make it an instruction that still ends where the
/// `syscall` starts but does something else, which the `jmp` put in its
/// place would not do: REX.B without REX.W (`41 b8` is `mov r8d`), an
/// operand-size (`66 b8` is a 3-byte `mov ax`, with `00 00` after it)
/// or address-size prefix. Others cannot (REX.W makes the `mov` 10 bytes
/// long, across the `syscall` known to be an instruction) or leave the
/// `jmp` the same (`40`, REX.R or REX.X alone; `f2`, `f3`); so most bytes
/// ending the previous instruction (a `jne`'s displacement `4b`, say) do
/// not stop the rewrite.
fn prefix_changes_mov(byte: u8) -> bool {
    matches!(byte, 0x41 | 0x43 | 0x45 | 0x47 | 0x66 | 0x67 | 0xf0)
}

/// `mprotect` of the pages holding the 5 bytes at `site`, through the gate.
unsafe fn mprotect(site: usize, prot: i32) -> isize {
    let first = site & !4095;
    let len = ((site + 5 - first) + 4095) & !4095;
    unsafe { gate::syscall(libc::SYS_mprotect, [first, len, prot as usize, 0, 0, 0]) }
}

/// Replaces the 5 bytes at `site`, `old`, by `new` so that no thread ever
/// executes a mix of the two. Within one aligned 16-byte block, one
/// `lock cmpxchg16b` does it. Across two (the site at 12 to 14 in its
/// block), the site is first parked on a `jmp` to itself (`eb fe`, in
/// the first block), every thread's instruction stream is then
/// resynchronised (`sync_cores`: one that had fetched the old `mov`
/// has executed it by then), the last three bytes are written, the
/// streams resynchronised again, and the first two bytes written: a
/// thread that came meanwhile has only waited on the park.
///
/// # Safety
/// `site` is text made writable, of protection `prot` otherwise.
unsafe fn patch(site: usize, old: &[u8], new: [u8; 5], prot: i32) -> bool {
    if site % 16 <= 11 {
        return unsafe { replace(site, old, &new) };
    }
    let mut pending = [0u8; 8];
    pending[..5].copy_from_slice(&new);
    pending[5] = prot as u8;
    PENDING.1.store(u64::from_le_bytes(pending), Ordering::Relaxed);
    PENDING.0.store(site, Ordering::Release);
    // SAFETY: as the caller says; bytes 2..5 are not executed while the
    // park is in place (a jump into an instruction's middle is no code's).
    let parked = unsafe { replace(site, &old[..2], &PARK) };
    if parked {
        // SAFETY: as above.
        unsafe {
            sync_cores();
            unpark(site, new);
        }
    }
    PENDING.0.store(0, Ordering::Release);
    parked
}

/// A site's `jmp` to itself while its patch is under way.
const PARK: [u8; 2] = [0xeb, 0xfe];

/// The site being patched across two blocks, and its new bytes with its
/// text's protection after them: a child forked meanwhile finishes the
/// patch (`finish_in_child`), or its thread would wait on the park for
/// ever.
static PENDING: (AtomicUsize, AtomicU64) = (AtomicUsize::new(0), AtomicU64::new(0));

/// Writes `new` over a parked site: its last three bytes, then (every
/// thread's stream resynchronised) the first two over the park.
///
/// # Safety
/// `site` is writable, parked text.
unsafe fn unpark(site: usize, new: [u8; 5]) {
    // SAFETY: as the caller says.
    unsafe {
        for (i, &b) in new.iter().enumerate().skip(2) {
            std::ptr::write_volatile((site + i) as *mut u8, b);
        }
        sync_cores();
        replace(site, &PARK, &new[..2]);
    }
}

/// In a forked child (one thread): finishes a patch the parent was making
/// when it forked.
pub fn finish_in_child() {
    let site = PENDING.0.load(Ordering::Acquire);
    if site == 0 {
        return;
    }
    let new = PENDING.1.load(Ordering::Relaxed).to_le_bytes();
    let prot = i32::from(new[5]);
    // SAFETY: the text site being patched, made writable for the patch;
    // the park is checked first (the parent may have been before or
    // after it).
    unsafe {
        if std::ptr::read_volatile(site as *const [u8; 2]) == PARK && mprotect(site, prot | libc::PROT_WRITE) == 0 {
            unpark(site, [new[0], new[1], new[2], new[3], new[4]]);
            mprotect(site, prot);
        }
    }
    PENDING.0.store(0, Ordering::Release);
}

/// Replaces the bytes at `at`, `old`, by `new` (of the same length, in
/// one aligned 16-byte block) in one atomic exchange; false if they were
/// not `old`.
///
/// # Safety
/// `at` is writable.
unsafe fn replace(at: usize, old: &[u8], new: &[u8]) -> bool {
    let word = at & !15;
    let off = at - word;
    // SAFETY: as the caller says.
    let cur = unsafe { std::ptr::read_volatile(word as *const [u8; 16]) };
    if cur[off..off + old.len()] != *old {
        return false;
    }
    let mut next = cur;
    next[off..off + new.len()].copy_from_slice(new);
    // SAFETY: as the caller says.
    unsafe { exchange16(word, cur, next) }
}

/// Makes every thread of the process serialise its instruction stream
/// before it runs on (`membarrier`'s private expedited sync-core). False
/// where the kernel cannot, or will not for this process (registration
/// is per address space: a forked child registers again here).
fn sync_cores() -> bool {
    const SYNC_CORE: usize = 1 << 5;
    const REGISTER_SYNC_CORE: usize = 1 << 6;
    let call = |cmd: usize| {
        // SAFETY: membarrier takes no pointers.
        unsafe { gate::syscall(libc::SYS_membarrier, [cmd, 0, 0, 0, 0, 0]) }
    };
    call(SYNC_CORE) == 0 || (call(REGISTER_SYNC_CORE) == 0 && call(SYNC_CORE) == 0)
}

/// Replaces the 16 bytes at `word` (16-aligned) by `new` if they are
/// still `old`, in one atomic step; whether they were.
unsafe fn exchange16(word: usize, old: [u8; 16], new: [u8; 16]) -> bool {
    let o = u128::from_le_bytes(old);
    let n = u128::from_le_bytes(new);
    let swapped: u8;
    // SAFETY: a writable, aligned 16-byte location; rbx is saved around
    // the instruction (the compiler may use it).
    unsafe {
        std::arch::asm!(
            "xchg rbx, {nlo}",
            "lock cmpxchg16b [{p}]",
            "mov rbx, {nlo}",
            "sete {ok}",
            p = in(reg) word,
            nlo = inout(reg) n as u64 => _,
            ok = out(reg_byte) swapped,
            in("rcx") (n >> 64) as u64,
            inout("rax") o as u64 => _,
            inout("rdx") (o >> 64) as u64 => _,
        );
    }
    swapped != 0
}

/// The stub pages: address and slots used.
static PAGES: [(AtomicUsize, AtomicUsize); 64] = [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; 64];
const PAGE: usize = 4096;
const SLOT: usize = 32;
/// Slots 0 and 1 hold the addresses a stub calls (`entries`) and the
/// page's own `syscall; ret` (`TRAP`); stubs start after them.
const SLOTS: usize = PAGE / SLOT;
const FIRST_SLOT: usize = 2;
/// Where a page's `syscall; ret` lies: outside the gate, so dispatch
/// catches the call it makes (`gate::rumphijack_dyn_call`'s last resort).
pub const TRAP: usize = 4 * 8;
/// Whether `rip` is just after a stub page's `TRAP` `syscall` (a Go
/// site's call `dyn_call` left to dispatch).
pub fn is_trap(rip: usize) -> bool {
    let page = rip & !(PAGE - 1);
    rip - page == TRAP + 2 && PAGES.iter().any(|(p, _)| p.load(Ordering::Relaxed) == page)
}

/// How far a `jmp rel32` reaches, with room for the page.
const REACH: usize = (1 << 31) - 2 * PAGE;

/// The words at the start of each stub page: where a stub goes, by its
/// call's shortcut (`router::Shortcut`): the router, the host, the host
/// unless an fd says otherwise; and, for a site whose number is known
/// only when it runs (Go's), the entry deciding by the number.
fn entries() -> [usize; 4] {
    [
        rumphijack_stub_common as *const () as usize,
        gate::rumphijack_host_call as *const () as usize,
        gate::rumphijack_fd_call as *const () as usize,
        gate::rumphijack_dyn_call as *const () as usize,
    ]
}

/// The argument registers as `mov ecx, r32` (with a REX prefix, so each
/// is 3 bytes): `rdi rsi rdx r10 r8 r9`.
const MOV_ECX_FROM: [[u8; 3]; 6] = [
    [0x40, 0x89, 0xf9],
    [0x40, 0x89, 0xf1],
    [0x40, 0x89, 0xd1],
    [0x44, 0x89, 0xd1],
    [0x44, 0x89, 0xc1],
    [0x44, 0x89, 0xc9],
];

/// A free slot in a stub page within reach of `site`, and its page
/// (under the lock); taken once the stub is written (`take`).
fn free_slot(site: usize) -> Option<(usize, usize, &'static AtomicUsize)> {
    let near = |p: usize| p.abs_diff(site) < REACH;
    let (page, used) = match PAGES.iter().find(|(p, u)| {
        let p = p.load(Ordering::Relaxed);
        p != 0 && near(p) && u.load(Ordering::Relaxed) < SLOTS
    }) {
        Some(found) => found,
        None => {
            let free = PAGES.iter().find(|(p, _)| p.load(Ordering::Relaxed) == 0)?;
            free.0.store(map_page_near(site)?, Ordering::Relaxed);
            free.1.store(FIRST_SLOT, Ordering::Relaxed);
            free
        }
    };
    let page = page.load(Ordering::Relaxed);
    Some((page, page + used.load(Ordering::Relaxed) * SLOT, used))
}

/// Writes `code` into `slot` and counts it used.
fn take(slot: usize, code: &[u8; SLOT], used: &AtomicUsize) {
    // SAFETY: an unused slot of our RWX page.
    unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), slot as *mut u8, SLOT) };
    used.fetch_add(1, Ordering::Relaxed);
}

/// `call [rip + rel32]` at `at` (6 bytes) of `entries()[entry]` of `page`.
fn call_entry(page: usize, entry: usize, at: usize) -> [u8; 6] {
    let rel = ((page + entry * 8) as i32).wrapping_sub((at + 6) as i32);
    let mut code = [0xff, 0x15, 0, 0, 0, 0];
    code[2..].copy_from_slice(&rel.to_le_bytes());
    code
}

/// `jmp rel32` at `at` (5 bytes) to `to`.
fn jmp(at: usize, to: usize) -> Option<[u8; 5]> {
    let rel = i32::try_from(to as isize - (at + 5) as isize).ok()?;
    let mut code = [0xe9, 0, 0, 0, 0];
    code[1..].copy_from_slice(&rel.to_le_bytes());
    Some(code)
}

/// A new stub for the site at `site` with call number `nr`, in a page
/// within reach (under the lock).
fn stub_for(site: usize, nr: u32) -> Option<usize> {
    let (page, slot, used) = free_slot(site)?;
    let (entry, fd_reg) = match router::shortcut(i64::from(nr)) {
        Shortcut::None => (0, None),
        Shortcut::Host => (1, None),
        Shortcut::UnlessFd(i) => (2, Some(i)),
    };
    let mut code = [0xccu8; SLOT];
    code[0] = 0xb8; // mov eax, nr
    code[1..5].copy_from_slice(&nr.to_le_bytes());
    code[5..10].copy_from_slice(&[0x48, 0x8d, 0x64, 0x24, 0x80]); // lea rsp, [rsp-128]
    let fd_or_nop = fd_reg.map_or([0x0f, 0x1f, 0x00], |i| MOV_ECX_FROM[i]);
    code[10..13].copy_from_slice(&fd_or_nop); // mov ecx, <the fd> for fd_call
    code[13..19].copy_from_slice(&call_entry(page, entry, slot + 13));
    code[19..27].copy_from_slice(&[0x48, 0x8d, 0xa4, 0x24, 0x80, 0, 0, 0]); // lea rsp, [rsp+128]
    code[27..32].copy_from_slice(&jmp(slot + 27, site + 7)?); // back past the syscall
    take(slot, &code, used);
    Some(slot)
}

/// Points Go's register-number site at `site` (`first`, a 3-byte
/// register move, then `syscall`) at a stub that makes the move and calls
/// `dyn_call` (no red zone to step over: Go has none, and its stack is
/// small), in text of protection `prot`. Only before any Go code runs
/// (one thread, nothing between the two instructions), so the 5 bytes
/// are written as they come.
pub fn go_site(site: usize, first: [u8; 3], prot: i32) -> bool {
    let _lock = LOCK.hold_blocking();
    let Some((page, slot, used)) = free_slot(site) else { return false };
    let mut code = [0xccu8; SLOT];
    code[..3].copy_from_slice(&first);
    code[3..9].copy_from_slice(&call_entry(page, 3, slot + 3));
    let (Some(back), Some(into)) = (jmp(slot + 9, site + 5), jmp(site, slot)) else { return false };
    code[9..14].copy_from_slice(&back);
    take(slot, &code, used);
    // SAFETY: the site's text, made writable for the write and given
    // back its protection; no other thread runs.
    unsafe {
        if mprotect(site, prot | libc::PROT_WRITE) < 0 {
            return false;
        }
        std::ptr::copy_nonoverlapping(into.as_ptr(), site as *mut u8, 5);
        mprotect(site, prot);
    }
    true
}

/// Maps a stub page within reach of `site`, starting with `entries()`
/// and its `TRAP`.
/// The kernel takes an address hint when it is free: hints step away
/// from the site a megabyte at a time.
fn map_page_near(site: usize) -> Option<usize> {
    const MIB: usize = 1 << 20;
    let base = site & !(MIB - 1);
    for k in 1..1024usize {
        for hint in [base.checked_sub(k * MIB), base.checked_add(k * MIB)].into_iter().flatten() {
            let prot = (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as usize;
            let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as usize;
            // SAFETY: a fresh anonymous mapping.
            let p = unsafe { gate::syscall(libc::SYS_mmap, [hint, PAGE, prot, flags, usize::MAX, 0]) };
            if p < 0 {
                return None;
            }
            let p = p as usize;
            if p.abs_diff(site) < REACH {
                // SAFETY: the first slots of the new page.
                unsafe {
                    *(p as *mut [usize; 4]) = entries();
                    *((p + TRAP) as *mut [u8; 3]) = [0x0f, 0x05, 0xc3]; // syscall; ret
                }
                return Some(p);
            }
            // SAFETY: the mapping just made.
            unsafe { gate::syscall(libc::SYS_munmap, [p, PAGE, 0, 0, 0, 0]) };
        }
    }
    None
}

/// Bytes `xsavec` may need for the state this process has enabled; 0
/// where the CPU or kernel has no `xsavec` (no rewriting then).
fn xsave_size() -> u32 {
    static SIZE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        // XSAVEC (compacted, skipping registers in their initial state)
        // needs OSXSAVE and CPUID.(0DH,1):EAX[1].
        let osxsave = std::arch::x86_64::__cpuid(1).ecx & (1 << 27) != 0;
        let xsavec = osxsave && std::arch::x86_64::__cpuid_count(0xd, 1).eax & (1 << 1) != 0;
        let size = if xsavec { std::arch::x86_64::__cpuid_count(0xd, 0).ebx } else { 0 };
        XSAVE_SIZE.store(size, Ordering::Relaxed);
        size
    })
}

/// Read by `stub_common`.
static XSAVE_SIZE: AtomicU32 = AtomicU32::new(0);

std::arch::global_asm!(
    ".pushsection .text.rumphijack_stub,\"ax\",@progbits",
    ".globl rumphijack_stub_common",
    ".hidden rumphijack_stub_common",
    // Entered from a slot: rax = nr, the call's arguments in rdi rsi rdx
    // r10 r8 r9, [rsp] the return into the slot, and the program's stack
    // 128 bytes above that.
    "rumphijack_stub_common:",
    "    pushfq",
    "    push rbp",
    "    mov rbp, rsp",
    "    push r9",
    "    push r8",
    "    push r10",
    "    push rdx",
    "    push rsi",
    "    push rdi",
    "    push rbx",
    "    push r12",
    "    mov r12, rax",
    // The quick path: with xmm0-15 saved, `stub_quick` passes the call
    // when its registers say it is not the kernel's (rdx = 1 then).
    "    sub rsp, 256",
    "    and rsp, -16",
    "    movdqu [rsp + 0], xmm0",
    "    movdqu [rsp + 16], xmm1",
    "    movdqu [rsp + 32], xmm2",
    "    movdqu [rsp + 48], xmm3",
    "    movdqu [rsp + 64], xmm4",
    "    movdqu [rsp + 80], xmm5",
    "    movdqu [rsp + 96], xmm6",
    "    movdqu [rsp + 112], xmm7",
    "    movdqu [rsp + 128], xmm8",
    "    movdqu [rsp + 144], xmm9",
    "    movdqu [rsp + 160], xmm10",
    "    movdqu [rsp + 176], xmm11",
    "    movdqu [rsp + 192], xmm12",
    "    movdqu [rsp + 208], xmm13",
    "    movdqu [rsp + 224], xmm14",
    "    movdqu [rsp + 240], xmm15",
    "    mov rdi, r12",
    "    lea rsi, [rbp - 48]",
    "    lea rdx, [rbp + 152]",
    "    call {quick}",
    "    movdqu xmm0, [rsp + 0]",
    "    movdqu xmm1, [rsp + 16]",
    "    movdqu xmm2, [rsp + 32]",
    "    movdqu xmm3, [rsp + 48]",
    "    movdqu xmm4, [rsp + 64]",
    "    movdqu xmm5, [rsp + 80]",
    "    movdqu xmm6, [rsp + 96]",
    "    movdqu xmm7, [rsp + 112]",
    "    movdqu xmm8, [rsp + 128]",
    "    movdqu xmm9, [rsp + 144]",
    "    movdqu xmm10, [rsp + 160]",
    "    movdqu xmm11, [rsp + 176]",
    "    movdqu xmm12, [rsp + 192]",
    "    movdqu xmm13, [rsp + 208]",
    "    movdqu xmm14, [rsp + 224]",
    "    movdqu xmm15, [rsp + 240]",
    "    test rdx, rdx",
    "    jnz 3f",
    // The full path: all vector state saved by xsavec (the hooks may run
    // libc's AVX string functions), then `stub_entry`.
    "    lea rsp, [rbp - 64]",
    "    mov ecx, dword ptr [rip + {size}]",
    "    sub rsp, rcx",
    "    and rsp, -64",
    // The xsave header must start zeroed (xrstor checks it).
    "    xor eax, eax",
    "    mov ecx, 8",
    "2:  dec ecx",
    "    mov [rsp + 512 + rcx*8], rax",
    "    jnz 2b",
    "    mov eax, -1",
    "    mov edx, -1",
    "    xsavec64 [rsp]",
    "    mov rdi, r12",
    "    lea rsi, [rbp - 48]",
    "    lea rdx, [rbp + 152]",
    "    call {entry}",
    "    mov rbx, rax",
    "    mov eax, -1",
    "    mov edx, -1",
    "    xrstor64 [rsp]",
    "    mov rax, rbx",
    "3:  lea rsp, [rbp - 64]",
    "    pop r12",
    "    pop rbx",
    "    pop rdi",
    "    pop rsi",
    "    pop rdx",
    "    pop r10",
    "    pop r8",
    "    pop r9",
    "    pop rbp",
    "    popfq",
    "    ret",
    ".popsection",
    size = sym XSAVE_SIZE,
    quick = sym stub_quick,
    entry = sym stub_entry,
);

extern "C" {
    fn rumphijack_stub_common();
}

/// `stub_quick`'s answer, in rax and rdx.
#[repr(C)]
struct Quick {
    result: isize,
    done: usize,
}

/// A rewritten site's call, first try: passed to the host when the
/// thread's selector lets its calls through (the library at work, a
/// thread never armed), when it is the library's own, or when its
/// registers show it is not the kernel's. Only SSE registers are saved
/// here, so nothing on this path may run AVX code (libc's string
/// functions): `router::passes_on_registers` reads no memory of the
/// program's.
extern "C" fn stub_quick(nr: i64, a: &[usize; 6], sp: usize) -> Quick {
    super::foreign::library(|| quick(nr, a, sp))
}

fn quick(nr: i64, a: &[usize; 6], sp: usize) -> Quick {
    let was = gate::set_selector(gate::ALLOW);
    let pass = was == gate::ALLOW
        || std::panic::catch_unwind(|| router::from_library(sp) || router::passes_on_registers(nr, a)).unwrap_or(false);
    gate::set_selector(was);
    if pass {
        Quick { result: router::pass(nr, *a), done: 1 }
    } else {
        Quick { result: 0, done: 0 }
    }
}

/// A rewritten site's call that `stub_quick` left: routed as a caught one.
extern "C" fn stub_entry(nr: i64, a: &[usize; 6], sp: usize) -> isize {
    super::foreign::library(|| {
        let was = gate::set_selector(gate::ALLOW);
        let r = std::panic::catch_unwind(|| router::caught(nr, *a, sp, None)).unwrap_or(-(libc::EIO as isize));
        gate::set_selector(was);
        r
    })
}
