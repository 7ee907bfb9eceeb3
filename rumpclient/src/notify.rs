//! Readiness notifiers backed by a host eventfd: what the kernel tells
//! when a poll-like call that armed it may have become ready. The hijack
//! library arms one per thread in an in-process kernel; a server arms the
//! eventfd a client registered for a record of its shared-memory channel
//! (`transport::shm::ready`), or the one it passed with an NSYSCALL frame.
//! Either way the waiting side sleeps on the eventfd in the host kernel,
//! next to host fds.
//!
//! A gated notifier (`Gate`) shares two words with its waiter: `fired`,
//! bumped at every notification, and `sleeping`, set by the waiter only
//! while it sleeps on the eventfd. The eventfd is written only when the
//! waiter sleeps, so a notification that reaches a thread still busy
//! costs no system call on either side, and a waiter that sees `fired`
//! move since it armed the notifier does not sleep at all. Without a gate
//! (an NSYSCALL notifier, whose waiter cannot see the server's words)
//! every notification writes the eventfd.

use crate::ownfd::OwnFd;
use rump_kernel::shm::Mapping;
use rump_kernel::wchan::Notify;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

/// The words a waiter and its notifier share (in one process, or in a
/// channel's mapping).
#[repr(C)]
#[derive(Default)]
pub struct GateWords {
    /// Bumped by every notification.
    pub fired: AtomicU32,
    /// Non-zero while the waiter sleeps on the eventfd.
    pub sleeping: AtomicU32,
}

impl GateWords {
    /// The notifier side: records a notification; whether the waiter
    /// sleeps and so must be woken.
    pub fn fire(&self) -> bool {
        self.fired.fetch_add(1, Ordering::SeqCst);
        self.sleeping.load(Ordering::SeqCst) != 0
    }

    /// Notifications so far; a waiter reads it before the call that arms.
    pub fn fired(&self) -> u32 {
        self.fired.load(Ordering::SeqCst)
    }

    /// The waiter is about to sleep on the eventfd: false (and no sleep)
    /// if a notification came since `seen` was read.
    pub fn sleep(&self, seen: u32) -> bool {
        self.sleeping.store(1, Ordering::SeqCst);
        if self.fired.load(Ordering::SeqCst) != seen {
            self.sleeping.store(0, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// The waiter is awake again.
    pub fn woke(&self) {
        self.sleeping.store(0, Ordering::SeqCst);
    }
}

/// Where a notifier finds its gate words.
enum Gate {
    /// None: every notification writes the eventfd.
    Open,
    Own(GateWords),
    /// Words at `offset` in a mapping shared with the waiter.
    Mapped(Arc<Mapping>, usize),
}

pub struct EventFdNotifier {
    fd: OwnFd,
    stale: AtomicBool,
    gate: Gate,
}

impl EventFdNotifier {
    /// A notifier that writes `fd` at every notification.
    pub fn new(fd: OwnedFd) -> EventFdNotifier {
        EventFdNotifier { fd: OwnFd::new(fd), stale: AtomicBool::new(false), gate: Gate::Open }
    }

    /// A notifier with gate words of its own, for a waiter in this process.
    pub fn gated(fd: OwnedFd) -> EventFdNotifier {
        EventFdNotifier { gate: Gate::Own(GateWords::default()), ..EventFdNotifier::new(fd) }
    }

    /// A notifier whose gate words are at `offset` in `map`, which the
    /// waiter maps too.
    pub fn gated_at(fd: OwnedFd, map: Arc<Mapping>, offset: usize) -> EventFdNotifier {
        assert!(
            offset.is_multiple_of(std::mem::align_of::<GateWords>()) && offset + size_of::<GateWords>() <= map.len()
        );
        EventFdNotifier { gate: Gate::Mapped(map, offset), ..EventFdNotifier::new(fd) }
    }

    /// The gate words, if the notifier has them.
    pub fn words(&self) -> Option<&GateWords> {
        match &self.gate {
            Gate::Open => None,
            Gate::Own(w) => Some(w),
            // SAFETY: in bounds and aligned (checked when made); the
            // mapping lives as long as `self` and is only reached through
            // atomics.
            Gate::Mapped(map, offset) => Some(unsafe { &*map.as_ptr().add(*offset).cast::<GateWords>() }),
        }
    }

    /// The eventfd's number now (it moves when the program names it).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.raw()
    }

    /// Its owner has replaced it: channels drop it instead of writing.
    pub fn retire(&self) {
        self.stale.store(true, Ordering::Release);
    }
}

impl Notify for EventFdNotifier {
    fn notify(&self) {
        if self.words().is_some_and(|w| !w.fire()) {
            return;
        }
        self.wake();
    }

    fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Acquire)
    }
}

impl EventFdNotifier {
    /// Writes the eventfd, whatever the gate says: its waiter wakes.
    pub fn wake(&self) {
        let one = 1u64;
        // An eventfd write only fails when the counter would overflow, and
        // then the reader has a wake-up pending anyway.
        // SAFETY: writing 8 bytes from a live u64.
        unsafe { libc::syscall(libc::SYS_write, self.fd.raw(), &one as *const u64, 8) };
    }
}
