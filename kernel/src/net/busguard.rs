//! Keeps a bus file that shrinks under its mapping from killing the
//! process. A page of a `MAP_SHARED` mapping past the end of its file
//! raises SIGBUS when touched, and anyone who can write the bus file can
//! truncate it. This module's SIGBUS handler looks the faulting address up
//! among the registered bus mappings; for one of them it puts anonymous
//! zero pages over the whole mapping (so the access is retried and
//! succeeds, on memory nobody else sees) and marks the mapping broken. The
//! bus then finds its header invalid (zero magic), stops using it, and
//! maps the file again once the file is a bus again (`shmif::Bus`).
//!
//! A fault elsewhere goes to whatever handled SIGBUS before: the previous
//! handler, or the default action, so a real bug still stops the program.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

/// Bus mappings one process may guard at once.
const SLOTS: usize = 1024;

/// Start addresses of guarded mappings (0: free slot) and their length.
static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static BROKEN: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
static LEN: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();
/// The SIGBUS disposition before ours, written once before the handler is
/// installed and only read after.
static mut PREVIOUS: Option<libc::sigaction> = None;

/// A registered mapping: while it lives, a SIGBUS in it is contained.
#[derive(Debug)]
pub struct Guard {
    slot: usize,
}

impl Guard {
    /// Guards the `len` bytes at `start` (all guarded mappings have one
    /// length, the bus size). None if every slot is taken: the mapping is
    /// then used unguarded, as before this module existed.
    pub fn new(start: *mut u8, len: usize) -> Option<Guard> {
        install();
        LEN.store(len, Ordering::Relaxed);
        let slot = (0..SLOTS)
            .find(|&i| STARTS[i].compare_exchange(0, start as usize, Ordering::AcqRel, Ordering::Relaxed).is_ok());
        if slot.is_none() {
            tracing::warn!("more than {SLOTS} bus mappings: a truncated bus file may kill this process");
        }
        slot.map(|slot| {
            BROKEN[slot].store(false, Ordering::Release);
            Guard { slot }
        })
    }

    /// Whether the handler has replaced the mapping since `mend`.
    pub fn is_broken(&self) -> bool {
        BROKEN[self.slot].load(Ordering::Acquire)
    }

    /// The file is mapped there again.
    pub fn mend(&self) {
        BROKEN[self.slot].store(false, Ordering::Release);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        STARTS[self.slot].store(0, Ordering::Release);
    }
}

fn install() {
    INSTALL.call_once(|| {
        // SAFETY: reading the old disposition into PREVIOUS before the new
        // handler exists, then installing it; nothing else writes PREVIOUS.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_sigbus as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            libc::sigemptyset(&mut new.sa_mask);
            libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old);
            PREVIOUS = Some(old);
            libc::sigaction(libc::SIGBUS, &new, std::ptr::null_mut());
        }
    });
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let len = LEN.load(Ordering::Relaxed);
    for (start, broken) in STARTS.iter().zip(&BROKEN) {
        let s = start.load(Ordering::Acquire);
        if s != 0 && addr >= s && addr < s + len {
            // SAFETY: replaces our own mapping, whole, with fresh anonymous
            // memory (mmap is async-signal-safe).
            let p = unsafe {
                libc::mmap(
                    s as *mut libc::c_void,
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                broken.store(true, Ordering::Release);
                return;
            }
        }
    }
    // SAFETY: PREVIOUS was written before this handler was installed.
    let previous = unsafe { (*std::ptr::addr_of!(PREVIOUS)).as_ref().copied() };
    match previous {
        Some(p) if p.sa_sigaction != libc::SIG_DFL && p.sa_sigaction != libc::SIG_IGN => {
            // SAFETY: calling the handler that was installed before ours,
            // the way the kernel would have.
            unsafe {
                if p.sa_flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                        std::mem::transmute(p.sa_sigaction);
                    f(sig, info, ctx);
                } else {
                    let f: extern "C" fn(libc::c_int) = std::mem::transmute(p.sa_sigaction);
                    f(sig);
                }
            }
        }
        _ => {
            // Not ours and nobody else's: the default action, taken when the
            // faulting access is retried.
            // SAFETY: resetting SIGBUS to its default disposition.
            unsafe {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
            }
        }
    }
}
