//! Readiness notifiers backed by a host eventfd: what the kernel tells
//! when a poll-like call that armed it may have become ready. The hijack
//! library arms one per thread in an in-process kernel; a server arms the
//! eventfd a client passed with an NSYSCALL frame. Either way the waiting
//! side sleeps on the eventfd in the host kernel, next to host fds.

use crate::ownfd::OwnFd;
use rump_kernel::wchan::Notify;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct EventFdNotifier {
    fd: OwnFd,
    stale: AtomicBool,
}

impl EventFdNotifier {
    pub fn new(fd: OwnedFd) -> EventFdNotifier {
        EventFdNotifier { fd: OwnFd::new(fd), stale: AtomicBool::new(false) }
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
        let one = 1u64;
        // An eventfd write only fails when the counter would overflow, and
        // then the reader has a wake-up pending anyway.
        // SAFETY: writing 8 bytes from a live u64.
        unsafe { libc::syscall(libc::SYS_write, self.fd.raw(), &one as *const u64, 8) };
    }

    fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Acquire)
    }
}
