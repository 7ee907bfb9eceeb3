//! Foreign threads: threads a caught raw `clone` (or `clone3`) made, which
//! the library did not start and whose FS register does not point at a
//! thread block glibc set up for them (without `CLONE_SETTLS` they share
//! their parent's; with it they run on one the program laid out). The
//! library's per-thread state (the selector byte, reentrancy flags, the
//! channel slot hint) lives in glibc TLS reached through FS, so such a
//! thread gets a block of its own from glibc (`_dl_allocate_tls`) at
//! clone time, in a slot of a fixed pool, and FS is switched to it
//! whenever the thread enters the library and back before the program's
//! code runs again (`library`, or `enter` and `leave`, at the SIGSYS
//! handler, the program-handler shim, a rewritten site's stub,
//! `syscall()` and every `hook!`; `as_program` around a program's
//! handler the library runs).
//!
//! A thread is known by its GS base, which x86-64 Linux programs and
//! glibc leave at 0 and the clone sets to the thread's slot: `rdgsbase`
//! names it in a few ns, confirmed by FS being the slot's block or the
//! program's FS the slot last saw (a thread that inherited the GS base,
//! one glibc or the library started from a foreign thread, has an FS of
//! its own). Where that does not settle it (no `rdgsbase`, a GS base of
//! the program's, a foreign thread whose program moved FS), by its tid
//! (`gettid`, a system call: 150 ns here). The stack pointer cannot name
//! it, as such threads' stacks are wherever the program put them
//! (several in one array, a handler on a stack of the program's
//! choosing). While no foreign thread exists, the entries' whole cost is
//! one relaxed load of `COUNT`. FS is read and written with
//! `rdfsbase`/`wrfsbase` where the kernel allows them in user mode
//! (`HWCAP2_FSGSBASE`), else by `arch_prctl`.
//!
//! A slot is taken before the clone, its tid set by the child (first
//! thing it does, before the program's code); a slot whose
//! thread is gone (`tgkill(tid, 0)` is ESRCH) is reclaimed when the pool
//! runs out, its block kept for the next thread. A forked child keeps
//! only the slot of the thread that forked.

use super::gate;
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// One foreign thread: its tid (`FREE`, `TAKEN` before it has one), the
/// library's TLS block for it (its thread pointer) and the FS its
/// program code runs on (as cloned, then as found at its last entry).
/// The slot's address is the thread's GS base; the tid comes first, so
/// the same address is where the child writes it.
#[repr(C)]
struct Slot {
    tid: AtomicI32,
    tls: AtomicUsize,
    program_fs: AtomicUsize,
}

const FREE: i32 = 0;
const TAKEN: i32 = -1;

/// How many foreign threads may live at once; a raw clone beyond that is
/// EAGAIN.
const POOL: usize = 256;

static SLOTS: [Slot; POOL] =
    [const { Slot { tid: AtomicI32::new(FREE), tls: AtomicUsize::new(0), program_fs: AtomicUsize::new(0) } }; POOL];

/// Slots not `FREE`: 0 means every thread is the library's or glibc's.
/// Read by `gate`'s `dyn_call` too.
pub(super) static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Whether user mode may use `rdfsbase`/`wrfsbase`: 0 not yet asked, 1
/// no, 2 yes.
static FSGSBASE: AtomicU8 = AtomicU8::new(0);

/// A slot taken for a thread about to be cloned.
pub struct Prepared {
    slot: &'static Slot,
    /// The new thread's selector byte (in its block), set to BLOCK.
    pub selector: usize,
}

impl Prepared {
    /// The child's GS base, where it writes its tid.
    pub fn slot_addr(&self) -> usize {
        self.slot as *const Slot as usize
    }
}

/// The FS the calling thread's program code runs on: its own, or for a
/// foreign thread inside the library, the one saved at its entry.
pub fn program_fs() -> usize {
    // SAFETY: reading FS.
    let here = unsafe { fs_base() };
    match mine() {
        Some((slot, _)) if slot.tls.load(Ordering::Relaxed) == here => slot.program_fs.load(Ordering::Relaxed),
        _ => here,
    }
}

/// A thread the library or glibc starts (`sud::thread`) is not foreign,
/// whatever GS base it inherited from the thread that made it.
pub fn not_foreign() {
    if fsgsbase() && rdgsbase() != 0 && slot_at(rdgsbase()).is_some() {
        // SAFETY: GS is the library's tag alone here.
        unsafe { std::arch::asm!("wrgsbase {}", in(reg) 0usize, options(nostack, preserves_flags)) };
    }
}

/// Takes a slot with a TLS block for a new foreign thread, which will
/// start on FS `program_fs`, or `None` when the pool is full or glibc
/// cannot give a block.
pub fn prepare(program_fs: usize) -> Option<Prepared> {
    let slot = take_slot().or_else(|| {
        reclaim();
        take_slot()
    })?;
    let tls = match slot.tls.load(Ordering::Relaxed) {
        0 => new_block().inspect(|&b| slot.tls.store(b, Ordering::Relaxed)),
        b => Some(b),
    };
    let Some(tls) = tls else {
        release(slot);
        return None;
    };
    slot.program_fs.store(program_fs, Ordering::Relaxed);
    // SAFETY: a block glibc made for a thread, switched to and back.
    let selector = unsafe {
        let here = fs_base();
        set_fs_base(tls);
        let sel = arm_selector();
        set_fs_base(here);
        sel
    };
    Some(Prepared { slot, selector })
}

/// After the clone, in the parent: a slot the clone did not use (`r`, an
/// error) is given back. The child's tid is the child's to write: a
/// parent writing it late could name a slot that, its thread gone,
/// `reclaim` has meanwhile handed to another.
pub fn started(p: Prepared, r: isize) {
    if r <= 0 {
        release(p.slot);
    }
}

/// The calling thread's selector, set to BLOCK for the thread to come
/// (run with FS on that thread's block: not inlined, so that no TLS
/// address worked out before the switch is reused).
#[inline(never)]
fn arm_selector() -> usize {
    gate::set_selector(gate::BLOCK);
    gate::selector_addr() as usize
}

fn take_slot() -> Option<&'static Slot> {
    let slot =
        SLOTS.iter().find(|s| s.tid.compare_exchange(FREE, TAKEN, Ordering::AcqRel, Ordering::Relaxed).is_ok())?;
    COUNT.fetch_add(1, Ordering::Relaxed);
    Some(slot)
}

fn release(slot: &Slot) {
    slot.tid.store(FREE, Ordering::Release);
    COUNT.fetch_sub(1, Ordering::Relaxed);
}

/// Frees the slots of threads that have exited.
fn reclaim() {
    // SAFETY: argument-less.
    let pid = unsafe { gate::syscall(libc::SYS_getpid, [0; 6]) } as usize;
    for slot in &SLOTS {
        let tid = slot.tid.load(Ordering::Acquire);
        if tid <= 0 {
            continue;
        }
        // SAFETY: signal 0 only checks the thread exists.
        let r = unsafe { gate::syscall(libc::SYS_tgkill, [pid, tid as usize, 0, 0, 0, 0]) };
        if r == -(libc::ESRCH as isize)
            && slot.tid.compare_exchange(tid, FREE, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        {
            COUNT.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// In a forked child (one thread): the slots of the parent's other
/// threads are free; the forking thread's, if it was foreign, now has
/// the child's tid.
pub fn in_child() {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    // SAFETY: argument-less.
    let (tid, here) = (unsafe { gate::syscall(libc::SYS_gettid, [0; 6]) } as i32, unsafe { fs_base() });
    let mut live = 0;
    for slot in &SLOTS {
        if slot.tid.load(Ordering::Relaxed) != FREE && slot.tls.load(Ordering::Relaxed) == here {
            slot.tid.store(tid, Ordering::Release);
            live += 1;
        } else {
            slot.tid.store(FREE, Ordering::Release);
        }
    }
    COUNT.store(live, Ordering::Relaxed);
}

/// The calling thread's slot and tid, if it is a foreign thread.
fn mine() -> Option<(&'static Slot, i32)> {
    if fsgsbase() {
        let gs = rdgsbase();
        if gs == 0 {
            return None;
        }
        if let Some(slot) = slot_at(gs) {
            // SAFETY: reading FS.
            let fs = unsafe { fs_base() };
            let tid = slot.tid.load(Ordering::Acquire);
            let own = fs == slot.tls.load(Ordering::Relaxed) || fs == slot.program_fs.load(Ordering::Relaxed);
            if own && tid > 0 {
                return Some((slot, tid));
            }
        }
    }
    // SAFETY: argument-less.
    let tid = unsafe { gate::syscall(libc::SYS_gettid, [0; 6]) } as i32;
    SLOTS.iter().find(|s| s.tid.load(Ordering::Acquire) == tid).map(|s| (s, tid))
}

/// The slot at `addr`, if it is one.
fn slot_at(addr: usize) -> Option<&'static Slot> {
    let first = SLOTS.as_ptr() as usize;
    let i = addr.checked_sub(first)? / std::mem::size_of::<Slot>();
    SLOTS.get(i).filter(|s| *s as *const Slot as usize == addr)
}

/// The GS base (only where `fsgsbase()`).
fn rdgsbase() -> usize {
    let v: usize;
    // SAFETY: allowed in user mode (HWCAP2_FSGSBASE).
    unsafe { std::arch::asm!("rdgsbase {}", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// FS to give back at `leave`: `Some` when `enter` switched it.
pub type Entered = Option<usize>;

/// The first thing an entry into the library does, before any TLS is
/// touched: on a foreign thread running on its program's FS, switches
/// FS to the thread's block. Touches no TLS itself.
#[inline]
pub fn enter() -> Entered {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return None;
    }
    enter_foreign()
}

#[inline(never)]
fn enter_foreign() -> Entered {
    let (slot, tid) = mine()?;
    let tls = slot.tls.load(Ordering::Relaxed);
    // SAFETY: FS moves to the block glibc made for this thread, which
    // names the thread as glibc's own do.
    unsafe {
        let program = fs_base();
        if program == tls {
            return None;
        }
        *((tls + PTHREAD_TID) as *mut i32) = tid;
        slot.program_fs.store(program, Ordering::Relaxed);
        set_fs_base(tls);
        Some(program)
    }
}

/// The last thing an entry does before the program's code runs again.
#[inline]
pub fn leave(e: Entered) {
    if let Some(fs) = e {
        // SAFETY: the FS `enter` found.
        unsafe { set_fs_base(fs) };
    }
}

/// Runs `f`, the library's work at one of its entries (the SIGSYS
/// handler, a rewritten site's stub, `syscall()`), between `enter` and
/// `leave`.
#[inline(always)]
pub fn library<T>(f: impl FnOnce() -> T) -> T {
    let entered = enter();
    let r = apart(f);
    leave(entered);
    r
}

/// `f` in a function of its own, never inlined: a TLS address it works
/// out is not one worked out before `enter` moved FS (the compiler takes
/// the thread pointer to stay put within a function).
#[inline(never)]
pub fn apart<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// Runs `f`, the program's code (a signal handler), on the program's FS
/// when the calling thread is a foreign one inside the library.
pub fn as_program<T>(f: impl FnOnce() -> T) -> T {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return f();
    }
    let back = match mine() {
        None => return f(),
        Some((slot, _)) => {
            let tls = slot.tls.load(Ordering::Relaxed);
            // SAFETY: back to the program's FS, and then to the block.
            unsafe {
                if fs_base() != tls {
                    return f();
                }
                set_fs_base(slot.program_fs.load(Ordering::Relaxed));
            }
            tls
        }
    };
    let r = f();
    // SAFETY: the block this thread was on.
    unsafe { set_fs_base(back) };
    r
}

/// `_dl_allocate_tls`, glibc's maker of a new thread's TLS block and
/// thread control block (GLIBC_PRIVATE, exported by ld.so).
type AllocateTls = unsafe extern "C" fn(*mut libc::c_void) -> *mut libc::c_void;

/// tcbhead_t (glibc 2.36, x86_64): the words a new thread's header takes
/// from its creator's or points at itself.
const TCB_SELF: usize = 0;
const TCB_SELF_AGAIN: usize = 16;
const TCB_MULTIPLE_THREADS: usize = 24;
const TCB_STACK_GUARD: usize = 40;
const TCB_POINTER_GUARD: usize = 48;
const TCB_FEATURE_1: usize = 72;
/// struct pthread (glibc 2.36, x86_64), which the header begins: its
/// place in glibc's list of thread stacks (a fork's child unlinks the
/// forking thread from it) and its tid (the owner of glibc's recursive
/// locks, such as the dynamic linker's). Checked on the creating thread's
/// own block before a new one is trusted (`layout_is_known`).
const PTHREAD_LIST: usize = 0x2c0;
const PTHREAD_TID: usize = 0x2d0;

/// Whether the calling thread's block has a tid and a list node where
/// `PTHREAD_TID` and `PTHREAD_LIST` say (another glibc may differ).
///
/// # Safety
/// `tcb` is the calling thread's thread pointer.
unsafe fn layout_is_known(tcb: usize) -> bool {
    // SAFETY: argument-less.
    let tid = unsafe { gate::syscall(libc::SYS_gettid, [0; 6]) } as i32;
    let node = tcb + PTHREAD_LIST;
    // SAFETY: inside the thread's struct pthread (over 2 KiB in every
    // glibc with this header).
    let (next, own_tid) = unsafe { (*(node as *const usize), *((tcb + PTHREAD_TID) as *const i32)) };
    // What `next` points at is read fault-safely: on another layout it is
    // any word.
    let mut back = 0usize;
    // SAFETY: `back` is a local of 8 bytes.
    let read = unsafe { super::signals::copy_bytes_in((next + 8) as *const u8, (&mut back as *mut usize).cast(), 8) };
    own_tid == tid && read.is_ok() && back == node
}

/// Makes glibc take its locks from now on, once: until a process's first
/// `pthread_create` glibc believes it has one thread (a flag of its own,
/// which a raw clone never sets) and malloc takes no lock at all, so the
/// library's allocations on a foreign thread would race with the other
/// threads'. Making and joining one thread of the library's sets the flag
/// for good. (Not for a `CLONE_VFORK` child: its parent waits meanwhile,
/// and a thread made there would be the parent's.)
pub fn tell_glibc_of_threads() {
    static TOLD: std::sync::Once = std::sync::Once::new();
    TOLD.call_once(|| {
        let _ = std::thread::Builder::new().name("rump-threads".into()).spawn(|| {}).map(|t| t.join());
    });
}

/// A new TLS block (its thread pointer) with the header glibc's
/// `pthread_create` would give it.
fn new_block() -> Option<usize> {
    // SAFETY: FS is this thread's block (glibc's, or one made here).
    let ours = unsafe { fs_base() };
    // SAFETY: as above.
    if !unsafe { layout_is_known(ours) } {
        crate::warn_once("this glibc's thread blocks are not laid out as 2.36's: raw clones of threads fail");
        return None;
    }
    static ALLOCATE: OnceLock<usize> = OnceLock::new();
    let f = *ALLOCATE.get_or_init(|| {
        // SAFETY: a NUL-terminated name.
        unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"_dl_allocate_tls".as_ptr()) as usize }
    });
    if f == 0 {
        return None;
    }
    // SAFETY: the symbol has this signature; NULL asks for new memory.
    let tcb = unsafe { std::mem::transmute::<usize, AllocateTls>(f)(std::ptr::null_mut()) } as usize;
    if tcb == 0 {
        return None;
    }
    // SAFETY: both are thread control blocks: ours (glibc's, or one made
    // here) and the new one.
    unsafe {
        let word = |base: usize, off: usize| (base + off) as *mut usize;
        *word(tcb, TCB_SELF) = tcb;
        *word(tcb, TCB_SELF_AGAIN) = tcb;
        for off in [TCB_STACK_GUARD, TCB_POINTER_GUARD] {
            *word(tcb, off) = *word(ours, off);
        }
        for off in [TCB_MULTIPLE_THREADS, TCB_FEATURE_1] {
            *((tcb + off) as *mut u32) = *((ours + off) as *const u32);
        }
        // An empty list node: unlinking it changes nothing.
        *word(tcb, PTHREAD_LIST) = tcb + PTHREAD_LIST;
        *word(tcb, PTHREAD_LIST + 8) = tcb + PTHREAD_LIST;
    }
    Some(tcb)
}

const ARCH_SET_FS: usize = 0x1002;
const ARCH_GET_FS: usize = 0x1003;
const HWCAP2_FSGSBASE: u64 = 1 << 1;

fn fsgsbase() -> bool {
    match FSGSBASE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: getauxval makes no system call.
            let yes = unsafe { libc::getauxval(libc::AT_HWCAP2) } & HWCAP2_FSGSBASE != 0;
            FSGSBASE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
        v => v == 2,
    }
}

/// The FS base.
///
/// # Safety
/// None beyond the asm's.
unsafe fn fs_base() -> usize {
    if fsgsbase() {
        let v: usize;
        // SAFETY: allowed in user mode (HWCAP2_FSGSBASE).
        unsafe { std::arch::asm!("rdfsbase {}", out(reg) v, options(nomem, nostack, preserves_flags)) };
        v
    } else {
        let mut v = 0usize;
        // SAFETY: the kernel writes one word to a local.
        unsafe { gate::syscall(libc::SYS_arch_prctl, [ARCH_GET_FS, &mut v as *mut usize as usize, 0, 0, 0, 0]) };
        v
    }
}

/// Sets the FS base: every TLS access after it reaches `v`'s block.
///
/// # Safety
/// `v` is a thread pointer this thread may run on.
unsafe fn set_fs_base(v: usize) {
    if fsgsbase() {
        // SAFETY: as the caller says; not `nomem`: TLS accesses must not
        // move across it.
        unsafe { std::arch::asm!("wrfsbase {}", in(reg) v, options(nostack, preserves_flags)) };
    } else {
        // SAFETY: as the caller says.
        unsafe { gate::syscall(libc::SYS_arch_prctl, [ARCH_SET_FS, v, 0, 0, 0, 0]) };
    }
}
