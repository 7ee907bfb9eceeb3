//! The kernel's memory budget: `Config::ram_limit`, which rump_server's
//! `-r` sets (NetBSD's `RUMP_MEMLIMIT`). One counter per kernel holds what
//! the kernel's objects cost; an allocation that would pass the limit fails
//! and the object is not made.
//!
//! What is charged, and what failing looks like to the caller:
//!
//! - tmpfs data pages and nodes (see `fs::tmpfs`): the file system reports
//!   ENOSPC, as Linux's tmpfs does when full, so a write stops with a short
//!   count and then ENOSPC; `statfs` on tmpfs shows the whole budget as the
//!   file system's size and the kernel's free memory as its free space.
//! - processes (`Kernel::spawn`, `Process::fork`): `PROC_BYTES` each, ENOMEM.
//! - open files (every entry of the `files` table): `FILE_BYTES`, ENOMEM.
//! - pipes and FIFOs with an open end: `PIPE_BYTES`, the whole buffer
//!   capacity up front, so a write into a pipe never runs out of memory
//!   halfway; creating one past the limit is ENOMEM.
//! - event queues (kqueue, epoll) and each registration on one:
//!   `QUEUE_BYTES` and `NOTE_BYTES`, ENOMEM.
//!
//! So with memory nearly exhausted, `pipe2` fails with ENOMEM (kernel
//! allocation failure, as on NetBSD), while `openat(O_CREAT)` of a new file
//! fails with ENOMEM when not even its open file fits (the open file is
//! allocated before anything is created, as NetBSD's `fd_allocfile`
//! precedes `vn_open`, so nothing is left behind) and with ENOSPC when the
//! open file fits but tmpfs has no room for the node.
//!
//! The costs are nominal sizes of the kernel structures involved, not
//! measured heap use: they make the limit predictable for callers and tests.
//! Every object gives its charge back where it is freed, so once everything
//! is closed the counter is back at its boot value.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rump_abi::native::errno::ENOMEM;
use rump_abi::Errno;

use crate::pipe::PIPE_CAPACITY;

/// A process: proc, lwp, fd table, cwd info.
pub const PROC_BYTES: u64 = 4096;
/// An open file (NetBSD's `struct file` and its fd slot).
pub const FILE_BYTES: u64 = 128;
/// A pipe: its buffer's capacity plus the structure around it.
pub const PIPE_BYTES: u64 = PIPE_CAPACITY as u64 + 256;
/// An event queue (NetBSD's `struct kqueue`, Linux's `eventpoll`).
pub const QUEUE_BYTES: u64 = 256;
/// One registration on a queue (a knote, an epitem).
pub const NOTE_BYTES: u64 = 128;

/// The counter. Shared (`Arc`) between the kernel state and the file systems
/// that charge it; every change happens under the kernel lock, the atomics
/// only make the sharing safe.
#[derive(Debug)]
pub struct Mem {
    used: AtomicU64,
    limit: Option<u64>,
}

impl Mem {
    /// A counter at zero; `None` is no limit.
    pub fn new(limit: Option<u64>) -> Arc<Mem> {
        Arc::new(Mem { used: AtomicU64::new(0), limit })
    }

    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Bytes left before the limit (`u64::MAX` without one).
    pub fn available(&self) -> u64 {
        self.limit.map_or(u64::MAX, |l| l.saturating_sub(self.used()))
    }

    /// Would `bytes` more fit?
    pub fn fits(&self, bytes: u64) -> bool {
        bytes <= self.available()
    }

    /// Takes `bytes` from the budget; ENOMEM if they do not fit.
    pub fn charge(&self, bytes: u64) -> Result<(), Errno> {
        let limit = self.limit.unwrap_or(u64::MAX);
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| u.checked_add(bytes).filter(|&n| n <= limit))
            .map(drop)
            .map_err(|_| ENOMEM)
    }

    /// Charges `bytes` even past the limit: for what must exist for the
    /// kernel to work at all (the root directory) and for changes already
    /// checked to fit.
    pub fn charge_anyway(&self, bytes: u64) {
        let _ = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| Some(u.saturating_add(bytes)));
    }

    /// Gives `bytes` back.
    pub fn uncharge(&self, bytes: u64) {
        let _ = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| Some(u.saturating_sub(bytes)));
    }

    /// Charges `bytes` until the returned value is dropped: holds room for
    /// an object that is made only after other allocations.
    pub fn reserve(self: &Arc<Self>, bytes: u64) -> Result<Reservation, Errno> {
        self.charge(bytes)?;
        Ok(Reservation { mem: self.clone(), bytes })
    }
}

/// Room held by `Mem::reserve`; given back on drop.
#[must_use = "the room is given back when this is dropped"]
pub struct Reservation {
    mem: Arc<Mem>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.mem.uncharge(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charge_up_to_the_limit() {
        let m = Mem::new(Some(100));
        assert_eq!(m.charge(60), Ok(()));
        assert_eq!(m.charge(41), Err(ENOMEM));
        assert_eq!(m.used(), 60);
        assert_eq!(m.charge(40), Ok(()));
        assert_eq!(m.available(), 0);
        assert!(!m.fits(1) && m.fits(0));
        m.uncharge(100);
        assert_eq!(m.used(), 0);
        // Over-refunds cannot wrap.
        m.uncharge(5);
        assert_eq!(m.used(), 0);
        assert_eq!(m.charge(u64::MAX), Err(ENOMEM));
    }

    #[test]
    fn unlimited_and_forced() {
        let m = Mem::new(None);
        assert_eq!(m.charge(u64::MAX / 2), Ok(()));
        assert_eq!(m.available(), u64::MAX);
        let m = Mem::new(Some(10));
        m.charge_anyway(20);
        assert_eq!((m.used(), m.available()), (20, 0));
        assert_eq!(m.charge(1), Err(ENOMEM));
    }

    #[test]
    fn reservations_give_back_on_drop() {
        let m = Mem::new(Some(10));
        let r = m.reserve(8).unwrap();
        assert_eq!(m.reserve(3).err(), Some(ENOMEM));
        drop(r);
        assert_eq!(m.used(), 0);
    }
}
