//! Readiness through the channel: a client thread's poll-like calls
//! (poll, epoll_wait over rump fds, waited for beside host fds) post in a
//! slot like any call, naming the thread's record; where the call would
//! sleep, the kernel arms the record's notifier instead and the call
//! returns. When what it waited for may have changed, the notifier bumps
//! the record's `fired` word and writes the thread's eventfd only if the
//! record says the thread sleeps on it (`notify::GateWords`).
//!
//! Publishing. A notification that a call of the server causes (a write
//! to a FIFO another thread polls) is not told at once: once that call
//! is done, its server thread runs the armed wait again, as the waiting
//! client, with no timeout (`refresh`). If something is ready, the
//! results land in the waiter's own buffers (a poll's revents, an
//! epoll_wait's events), the count in the record, and only then is the
//! waiter told, so a woken waiter does not ask again; if nothing is (a
//! spurious wake-up), the wait is armed again and the waiter is not
//! woken at all. So is one that a kernel thread's work causes once that
//! work is done and the thread holds nothing (`wchan::after_work`: the
//! network's reader, after handing the stack what it read), on that
//! thread. A notification from anywhere else (a timer) is told at once,
//! and the waiter asks.
//!
//! The record's `state` keeps the two sides from each other: the client
//! stores ARMED with a new generation before each arming call; the server
//! remembers the call and its generation if it armed; a refresh swaps
//! ARMED of that generation for PUBLISHING, runs, and stores PUBLISHED
//! (with `result`) or ARMED again. Before the waiter's buffers go away it
//! swaps ARMED for IDLE (`Record::settle`), and if a refresh got there
//! first it waits for PUBLISHED and takes the result: events a refresh
//! took off an epoll are always delivered.
//!
//! ```text
//! Region (after the slots)
//!   arms    × SLOTS    u32: 0 for a plain call, or 1 + the record that
//!                      the call in that slot arms
//!   Record  × RECORDS  (64 bytes each) the gate words (fired, sleeping),
//!                      state (generation << 2 | IDLE, ARMED, PUBLISHING
//!                      or PUBLISHED), the client's generation counter,
//!                      result (as a slot's)
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
use rump_abi::{Errno, Slots, SysResult};
use rump_kernel::lwp::Lwp;
use rump_kernel::shm::Mapping;
use rump_kernel::wchan::Notify;
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Weak};

/// Client threads with a record in one channel.
pub const RECORDS: usize = 128;

#[repr(C, align(64))]
pub struct Record {
    pub gate: GateWords,
    state: AtomicU32,
    /// The last generation the client armed with.
    gen: AtomicU32,
    ret: AtomicI64,
    errno: AtomicI32,
}

const IDLE: u32 = 0;
const ARMED: u32 = 1;
const PUBLISHING: u32 = 2;
const PUBLISHED: u32 = 3;
const TAG: u32 = 3;

impl Record {
    /// The client, before a call that may arm this record.
    pub fn arm(&self) {
        let gen = self.gen.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        self.state.store(gen << 2 | ARMED, Ordering::SeqCst);
    }

    /// The client, before the buffers of the armed call go away: what a
    /// refresh published for it, if one did.
    pub fn settle(&self) -> Option<SysResult> {
        loop {
            let cur = self.state.load(Ordering::SeqCst);
            match cur & TAG {
                ARMED => {
                    if self.state.compare_exchange(cur, IDLE, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                        return None;
                    }
                }
                // A server thread is running the wait again; it takes as
                // long as one call.
                PUBLISHING => std::thread::yield_now(),
                PUBLISHED => {
                    let r = match self.errno.load(Ordering::Relaxed) {
                        0 => Ok(self.ret.load(Ordering::Relaxed)),
                        e => Err(Errno(e)),
                    };
                    self.state.store(IDLE, Ordering::SeqCst);
                    return Some(r);
                }
                _ => return None,
            }
        }
    }

    /// The server: the generation the client armed with, if it did.
    fn armed_gen(&self) -> Option<u32> {
        let cur = self.state.load(Ordering::SeqCst);
        (cur & TAG == ARMED).then_some(cur >> 2)
    }

    /// The server: takes the record from its client for a refresh of the
    /// wait armed with `gen`; false if the client moved on.
    fn take(&self, gen: u32) -> bool {
        let armed = gen << 2 | ARMED;
        self.state.compare_exchange(armed, gen << 2 | PUBLISHING, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// The server, after a refresh of the wait armed with `gen`: its
    /// outcome, or armed again (None).
    fn publish(&self, gen: u32, outcome: Option<&SysResult>) {
        let Some(r) = outcome else {
            self.state.store(gen << 2 | ARMED, Ordering::SeqCst);
            return;
        };
        let (ret, errno) = match *r {
            Ok(v) => (v, 0),
            Err(e) => (-1, e.raw()),
        };
        self.ret.store(ret, Ordering::Relaxed);
        self.errno.store(errno, Ordering::Relaxed);
        self.state.store(gen << 2 | PUBLISHED, Ordering::SeqCst);
    }
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

/// Runs a call as the client whose wait a record belongs to, with its
/// memory, as `lwp`.
pub type RunAs = Arc<dyn Fn(u32, &Slots, &Lwp) -> SysResult + Send + Sync>;

/// A wait a client armed: the call, how to run it again, its generation.
struct Wait {
    gen: u32,
    sysnum: u32,
    args: Slots,
    run: RunAs,
}

/// A record's notifier on the server: the thread's eventfd, gated by the
/// record's words, and the wait it armed last.
pub struct RecordNotifier {
    eventfd: EventFdNotifier,
    map: Arc<Mapping>,
    /// Where the record is in `map`.
    at: usize,
    wait: parking_lot::Mutex<Option<Wait>>,
    me: Weak<RecordNotifier>,
}

thread_local! {
    /// Notifications held back while this thread runs a call, to refresh
    /// once it is done (`refreshing`); None outside such calls.
    static HELD: RefCell<Option<Vec<Arc<RecordNotifier>>>> = const { RefCell::new(None) };
}

impl RecordNotifier {
    /// Before the client's call that may arm it: the generation it armed
    /// with (`Record::arm`), if it did.
    pub fn armed_gen(&self) -> Option<u32> {
        self.record().armed_gen()
    }

    /// After that call armed it (`Lwp::armed`): the wait to refresh, run
    /// again through `run`.
    pub fn remember(&self, gen: u32, sysnum: u32, args: Slots, run: RunAs) {
        *self.wait.lock() = Some(Wait { gen, sysnum, args, run });
    }

    /// Replaced or its channel gone: it neither writes nor runs anything
    /// any more (a wait channel may hold it a while yet).
    fn retire(&self) {
        self.eventfd.retire();
        *self.wait.lock() = None;
    }

    fn record(&self) -> &Record {
        // SAFETY: in bounds and aligned (`Notifiers::register`); `map` lives
        // as long as `self`; only reached through atomics.
        unsafe { &*self.map.as_ptr().add(self.at).cast::<Record>() }
    }

    /// Runs the armed wait again for its client (see the module's
    /// "Publishing"); tells the client if it has an outcome, or if the
    /// client no longer waits for it.
    fn refresh(self: &Arc<Self>) {
        if self.eventfd.is_stale() {
            return;
        }
        let wait = self.wait.lock().as_ref().map(|w| (w.gen, w.sysnum, w.args, w.run.clone()));
        let Some((gen, sysnum, args, run)) = wait.filter(|w| self.record().take(w.0)) else {
            return self.eventfd.notify();
        };
        let lwp = Lwp::with_block_hook(|| {}).notifying(self.clone() as Arc<dyn Notify>);
        let r = run(sysnum, &args, &lwp);
        if lwp.armed() {
            // Nothing ready after all: armed again, nobody woken.
            return self.record().publish(gen, None);
        }
        *self.wait.lock() = None;
        self.record().publish(gen, Some(&r));
        self.eventfd.notify();
    }
}

impl Notify for RecordNotifier {
    fn notify(&self) {
        let held = HELD.with(|h| match (h.borrow_mut().as_mut(), self.me.upgrade()) {
            (Some(list), Some(me)) => {
                if !list.iter().any(|n| Arc::ptr_eq(n, &me)) {
                    list.push(me);
                }
                true
            }
            _ => false,
        });
        if held {
            return;
        }
        // A kernel thread done with its work (the network's reader, having
        // handed the stack a datagram) publishes as a server thread does:
        // the waiter then does not come back to ask.
        match self.me.upgrade().filter(|_| rump_kernel::wchan::after_work()) {
            Some(me) => me.refresh(),
            None => self.eventfd.notify(),
        }
    }

    fn is_stale(&self) -> bool {
        self.eventfd.is_stale()
    }
}

/// Runs `call` (a server thread running a client's call), holding back
/// the notifications of records it causes, then `then` with its result
/// (the caller completes its call there), then refreshes those records.
pub fn refreshing<R>(call: impl FnOnce() -> R, then: impl FnOnce(R)) {
    let outer = HELD.with(|h| h.borrow_mut().replace(Vec::new()));
    let r = call();
    let held = HELD.with(|h| std::mem::replace(&mut *h.borrow_mut(), outer)).unwrap_or_default();
    then(r);
    for n in held {
        n.refresh();
    }
}

/// The server's side: the notifier registered for each record.
pub struct Notifiers {
    /// A mapping of the channel of the notifiers' own, which they keep
    /// alive as long as a wait channel of the kernel holds one.
    map: Arc<Mapping>,
    offset: usize,
    by_record: Mutex<Vec<Option<Arc<RecordNotifier>>>>,
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
        let eventfd = EventFdNotifier::gated_at(eventfd, self.map.clone(), at);
        let n = Arc::new_cyclic(|me| RecordNotifier {
            eventfd,
            map: self.map.clone(),
            at,
            wait: parking_lot::Mutex::new(None),
            me: me.clone(),
        });
        if let Some(old) = self.by_record.lock()[index].replace(n) {
            old.retire();
        }
        Ok(())
    }

    /// The notifier the call in slot `slot` arms: None for a plain call,
    /// EINVAL if it names a record nobody registered.
    pub fn armed(&self, slot: usize) -> Result<Option<Arc<RecordNotifier>>, Errno> {
        // SAFETY: our own mapping of the channel, with the region at `offset`.
        let region = unsafe { region(self.map.as_ptr(), self.offset) };
        match region.arms[slot].load(Ordering::Acquire) as usize {
            0 => Ok(None),
            r => self.by_record.lock().get(r - 1).cloned().flatten().ok_or(EINVAL).map(Some),
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
