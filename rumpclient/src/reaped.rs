//! Children the host has reaped whose kernel processes the kernel has not
//! yet been asked to wait for.
//!
//! `waitpid` is async-signal-safe, and shells reap in their SIGCHLD
//! handler (bash's calls `waitpid(-1, .., WNOHANG)` there), which may have
//! interrupted the program inside malloc. A call to the kernel from there
//! may allocate or, when it sleeps, start this process's watcher thread
//! (pthread_create allocates): a second, nested malloc on a heap glibc does
//! not lock while the process has one thread, which corrupted bash's heap
//! now and then ("malloc assertion failure in sysmalloc", a crash in
//! `exit`). So a reaped child is only noted here, with no lock and no
//! allocation, and the client asks the kernel to wait for it before this
//! process's next call (`Client::catch_up`): no later call of this process
//! sees the child's kernel process, or its fds and locks, still there.
//!
//! A note is the process's: each holds the pid of the process that made
//! it, and a forked child (which inherits its parent's notes) drops its
//! parent's instead of waiting for children that are not its own.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Reaped children noted at most at once; with every slot taken a child is
/// waited for at once instead (`note` says so).
const SLOTS: usize = 64;

/// Each a note, `noter << 32 | child`, or 0.
static NOTES: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
/// How many slots hold a note: the calls' fast path reads only this.
static NOTED: AtomicUsize = AtomicUsize::new(0);

/// This process's id, asked of the host each time (no cache to keep
/// right across forks; getpid is async-signal-safe, and glibc's is a bare
/// system call that the hijack does not hook).
fn me() -> u64 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() as u64 }
}

/// Notes that the host reaped child `pid`; false if there is no room left,
/// and the caller must have the kernel wait for it now. Async-signal-safe.
pub fn note(pid: i32) -> bool {
    let me = me();
    let note = me << 32 | pid as u32 as u64;
    for slot in &NOTES {
        let old = slot.load(Ordering::Acquire);
        // A free slot, or the parent's note, inherited over a fork.
        let free = old == 0 || old >> 32 != me;
        if free && slot.compare_exchange(old, note, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            if old == 0 {
                NOTED.fetch_add(1, Ordering::Release);
            }
            return true;
        }
    }
    false
}

/// Whether any child is noted: one load, for every call's fast path.
#[inline]
pub fn any() -> bool {
    NOTED.load(Ordering::Acquire) != 0
}

/// Takes this process's noted children, each once, calling `wait` for
/// each; drops notes a parent left. (Callers ask `any` first.)
pub fn take_each(mut wait: impl FnMut(i32)) {
    let me = me();
    for slot in &NOTES {
        let note = slot.swap(0, Ordering::AcqRel);
        if note != 0 {
            NOTED.fetch_sub(1, Ordering::Release);
            if note >> 32 == me {
                wait(note as u32 as i32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_noted_child_is_taken_once_and_a_full_table_says_so() {
        take_each(drop);
        assert!(!any());
        // A parent's note, as a forked child inherits it: dropped.
        NOTES[3].store((me() + 1) << 32 | 77, Ordering::Release);
        NOTED.fetch_add(1, Ordering::Release);
        assert!((1..=SLOTS as i32).all(note));
        assert!(!note(1000), "no room: the caller waits now");
        assert!(any());
        let mut taken = Vec::new();
        take_each(|p| taken.push(p));
        taken.sort_unstable();
        assert_eq!(taken, (1..=SLOTS as i32).collect::<Vec<_>>());
        take_each(|p| panic!("{p} taken twice"));
    }
}
