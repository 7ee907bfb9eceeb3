//! Readiness through the channel: a client thread's poll-like calls
//! (poll, epoll_wait over rump fds, waited for beside host fds) post in a
//! slot like any call, naming the thread's record; where the call would
//! sleep, the kernel arms the record's notifier instead and the call
//! returns. When what it waited for may have changed, the notifier bumps
//! the record's `fired` word and writes the thread's eventfd only if the
//! record says the thread sleeps on it (`notify::GateWords`).
//!
//! ```text
//! Region (after the slots)
//!   arms    × SLOTS    u32: 0 for a plain call, or 1 + the record that
//!                      the call in that slot arms
//!   Record  × RECORDS  (64 bytes each) the gate words: fired, sleeping
//! ```
//!
//! A record belongs to one client thread and its eventfd, registered once
//! per channel with a NOTIFIER frame on the socket (the eventfd passed
//! with it), again only if the eventfd moves. Records of threads that
//! have exited are taken back when none is free; with every record held
//! by a live thread, calls fall back to NSYSCALL on the socket. The server
//! trusts nothing here: an arm naming a record it was not given fails the
//! call with EINVAL.

use super::layout::SLOTS;
use crate::notify::{EventFdNotifier, GateWords};
use parking_lot::Mutex;
use rump_abi::native::errno::EINVAL;
use rump_abi::Errno;
use rump_kernel::shm::Mapping;
use rump_kernel::wchan::Notify;
use std::collections::HashMap;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Client threads with a record in one channel.
pub const RECORDS: usize = 128;

#[repr(C, align(64))]
pub struct Record {
    pub gate: GateWords,
}

#[repr(C, align(64))]
pub struct Region {
    pub arms: [AtomicU32; SLOTS],
    pub records: [Record; RECORDS],
}

/// The region in the mapping at `base`, `offset` bytes in.
///
/// # Safety
/// `base` must be a live mapping with a whole `Region` at `offset`,
/// 64-byte aligned, outliving the reference; only reached through atomics.
pub unsafe fn region<'a>(base: *mut u8, offset: usize) -> &'a Region {
    unsafe { &*base.add(offset).cast::<Region>() }
}

/// The client's side: which thread holds which record.
#[derive(Default)]
pub struct Owners {
    /// Thread id → its record and the eventfd number registered for it.
    held: Mutex<HashMap<u32, (usize, RawFd)>>,
}

impl Owners {
    /// The record thread `tid`, whose eventfd is `fd` now, arms; true with
    /// it when `fd` must be registered for it first. None if every record
    /// is held by a live thread.
    pub fn claim(&self, tid: u32, fd: RawFd) -> Option<(usize, bool)> {
        let mut held = self.held.lock();
        if let Some(entry) = held.get_mut(&tid) {
            let fresh = entry.1 != fd;
            entry.1 = fd;
            return Some((entry.0, fresh));
        }
        if held.len() >= RECORDS {
            held.retain(|&t, _| thread_alive(t));
        }
        let index = (0..RECORDS).find(|i| !held.values().any(|&(r, _)| r == *i))?;
        held.insert(tid, (index, fd));
        Some((index, true))
    }

    /// Registering thread `tid`'s eventfd failed: it holds nothing.
    pub fn release(&self, tid: u32) {
        self.held.lock().remove(&tid);
    }
}

/// Whether thread `tid` of this process still runs.
fn thread_alive(tid: u32) -> bool {
    // SAFETY: signal 0 to a thread of our own only checks it exists (raw:
    // the libc call may be a hook).
    let r = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// The server's side: the notifier registered for each record.
pub struct Notifiers {
    /// A mapping of the channel of the notifiers' own, which they keep
    /// alive as long as a wait channel of the kernel holds one.
    map: Arc<Mapping>,
    offset: usize,
    by_record: Mutex<Vec<Option<Arc<EventFdNotifier>>>>,
}

impl Notifiers {
    /// The notifiers of the channel mapped at `map`, whose region is at `offset`.
    pub fn new(map: Mapping, offset: usize) -> Notifiers {
        Notifiers { map: Arc::new(map), offset, by_record: Mutex::new(vec![None; RECORDS]) }
    }

    /// Record `index`'s thread waits on `eventfd` from now on.
    pub fn register(&self, index: usize, eventfd: OwnedFd) -> Result<(), Errno> {
        if index >= RECORDS {
            return Err(EINVAL);
        }
        let at = self.offset + std::mem::offset_of!(Region, records) + index * size_of::<Record>();
        let n = Arc::new(EventFdNotifier::gated_at(eventfd, self.map.clone(), at));
        if let Some(old) = self.by_record.lock()[index].replace(n) {
            old.retire();
        }
        Ok(())
    }

    /// The notifier the call in slot `slot` arms: None for a plain call,
    /// EINVAL if it names a record nobody registered.
    pub fn armed(&self, slot: usize) -> Result<Option<Arc<dyn Notify>>, Errno> {
        // SAFETY: our own mapping of the channel, with the region at `offset`.
        let region = unsafe { region(self.map.as_ptr(), self.offset) };
        match region.arms[slot].load(Ordering::Acquire) as usize {
            0 => Ok(None),
            r => {
                let n = self.by_record.lock().get(r - 1).cloned().flatten().ok_or(EINVAL)?;
                Ok(Some(n))
            }
        }
    }

    /// The channel is done with: no notifier writes any more.
    pub fn retire(&self) {
        for n in self.by_record.lock().iter_mut().filter_map(Option::take) {
            n.retire();
        }
    }
}

const _: () = assert!(size_of::<Record>() == 64);
