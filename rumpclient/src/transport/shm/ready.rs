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
//! results land in the waiter's buffers (a poll's revents, an
//! epoll_wait's events), the count in the record, and only then is the
//! waiter told, so a woken waiter does not ask again; if nothing is (a
//! spurious wake-up), the wait is armed again and the waiter is not
//! woken at all. So is one that a kernel thread's work causes once that
//! work is done and the thread holds nothing (`wchan::after_work`: the
//! network's reader, after handing the stack what it read), on that
//! thread. A notification from anywhere else (a timer) is told at once,
//! and the waiter asks.
//!
//! Where the results land. A wait whose buffer came in its slot's inline
//! area (a small poll set or event array) has it copied to the record's
//! own inline area when it arms; later runs read and write it there, and
//! the waiter copies it to its buffer when it settles, so a refresh costs
//! no `process_vm_readv/writev`. A larger buffer is reached in place.
//!
//! Kicks. The record of a thread of the same process as the call that
//! notified it is refreshed before that call's reply, and the eventfd
//! write is left to the calling thread: the reply names the record
//! (`Slot::kicks`) and the caller writes the eventfd once it has read
//! its result (`Owners::kick`). The sleeper is then woken from its
//! waker's CPU, as a host pipe write wakes its reader; a write from a
//! server thread wakes it across CPUs, which on a VM is an interrupt to
//! a halted CPU and a multiple of the wait itself.
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
//! and each record's inline area after the slots' (`layout`).
//!
//! A record belongs to one client thread and its eventfd, registered once
//! per channel with a NOTIFIER frame on the socket (the eventfd passed
//! with it), again only if the eventfd moves. Records of threads that
//! have exited are taken back when none is free; with every record held
//! by a live thread, calls fall back to NSYSCALL on the socket. The server
//! trusts nothing here: an arm naming a record it was not given fails the
//! call with EINVAL.

use super::lane::{LaneMemory, Plan, Use};
use super::layout::{ready_offset, record_area_offset, SLOTS};
use super::peer::PeerMemory;
use crate::notify::{EventFdNotifier, GateWords};
use parking_lot::Mutex;
use rump_abi::native::errno::EINVAL;
use rump_abi::usermem::UserMemory;
use rump_abi::{Errno, Slots, SysResult};
use rump_kernel::lwp::Lwp;
use rump_kernel::shm::Mapping;
use rump_kernel::wchan::Notify;
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
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

/// The client's side: which thread holds which record, and the notifier
/// of the thread each record wakes.
#[derive(Default)]
pub struct Owners {
    held: Mutex<Held>,
}

struct Held {
    /// Thread id → its record.
    by_thread: HashMap<u32, usize>,
    /// Record → the notifier registered for it; kept (and its eventfd
    /// open) until the record is given to another thread, so a kick for
    /// a thread that has just exited writes an eventfd nobody reads
    /// rather than a number the process reused.
    notifiers: Vec<Option<Arc<EventFdNotifier>>>,
    /// Record → the buffer of the wait it armed last, if that came in the
    /// call's inline area: later runs leave it in the record's area.
    carried: Vec<Option<Plan>>,
}

impl Default for Held {
    fn default() -> Held {
        Held { by_thread: HashMap::new(), notifiers: vec![None; RECORDS], carried: vec![None; RECORDS] }
    }
}

impl Owners {
    /// The record thread `tid`, whose notifier is `n` now, arms; true with
    /// it when `n`'s eventfd must be registered for it first. None if
    /// every record is held by a live thread.
    pub fn claim(&self, tid: u32, n: &Arc<EventFdNotifier>) -> Option<(usize, bool)> {
        let mut held = self.held.lock();
        let held = &mut *held;
        if let Some(&index) = held.by_thread.get(&tid) {
            let slot = &mut held.notifiers[index];
            let fresh = !slot.as_ref().is_some_and(|old| Arc::ptr_eq(old, n));
            *slot = Some(n.clone());
            return Some((index, fresh));
        }
        if held.by_thread.len() >= RECORDS {
            held.by_thread.retain(|&t, _| thread_alive(t));
        }
        let index = (0..RECORDS).find(|i| !held.by_thread.values().any(|r| r == i))?;
        held.by_thread.insert(tid, index);
        held.notifiers[index] = Some(n.clone());
        Some((index, true))
    }

    /// Registering thread `tid`'s eventfd failed: it holds nothing.
    pub fn release(&self, tid: u32) {
        let mut held = self.held.lock();
        if let Some(index) = held.by_thread.remove(&tid) {
            held.notifiers[index] = None;
        }
    }

    /// Record `index` arms a wait whose buffer came inline as `plan`, or
    /// (None) in place or not at all.
    pub fn carry(&self, index: usize, plan: Option<Plan>) {
        self.held.lock().carried[index] = plan;
    }

    /// The buffer of the wait record `index` armed last, if it came inline.
    pub fn carried(&self, index: usize) -> Option<Plan> {
        self.held.lock().carried[index]
    }

    /// Wakes the threads of the records a reply named (`refreshing`).
    pub fn kick(&self, kicks: Kicks) {
        if kicks == Kicks::default() {
            return;
        }
        // Woken after the lock is let go: a thread woken on this CPU may
        // run at once, and want the lock.
        let woken: Vec<_> = {
            let held = self.held.lock();
            let named = held.notifiers.iter().enumerate().filter(|(i, _)| kicks[i / 64] & 1 << (i % 64) != 0);
            named.filter_map(|(_, n)| n.clone()).collect()
        };
        woken.iter().for_each(|n| n.wake());
    }
}

/// Whether thread `tid` of this process still runs.
fn thread_alive(tid: u32) -> bool {
    // SAFETY: signal 0 to a thread of our own only checks it exists (raw:
    // the libc call may be a hook).
    let r = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Runs a call as the client whose wait a record belongs to, with the
/// memory given, as `lwp`.
pub type RunAs = Arc<dyn Fn(u32, &Slots, &dyn UserMemory, &Lwp) -> SysResult + Send + Sync>;

/// A wait a client armed: the call, how to run it again, its generation,
/// and its buffer's window if that is served from the record's area.
#[derive(Clone)]
struct Wait {
    gen: u32,
    sysnum: u32,
    args: Slots,
    run: RunAs,
    carried: Option<Use>,
}

/// A record's notifier on the server: the thread's eventfd, gated by the
/// record's words, and the wait it armed last.
pub struct RecordNotifier {
    eventfd: EventFdNotifier,
    map: Arc<Mapping>,
    /// The client's pid, whose memory a wait reaches outside the record's area.
    pid: i32,
    /// Which record it is, and where that is in `map`.
    index: usize,
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
    /// again through `run`. A buffer that came in the call's inline area
    /// (`inline`: its window, and the area as the call left it) is copied
    /// to the record's, where later runs reach it (see "Where the results
    /// land").
    pub fn remember(&self, gen: u32, sysnum: u32, args: Slots, run: RunAs, inline: Option<(Use, *const u8)>) {
        let carried = inline.map(|(u, from)| {
            // SAFETY: `from` is a slot's inline area and ours the record's,
            // both INLINE_LEN bytes of live mappings; `u.len` <= INLINE_LEN
            // (`Use::decode`). Bytes only: the client may change them.
            unsafe { std::ptr::copy_nonoverlapping(from, self.area(), u.len) };
            u
        });
        *self.wait.lock() = Some(Wait { gen, sysnum, args, run, carried });
    }

    /// The record's inline area in our mapping.
    fn area(&self) -> *mut u8 {
        // SAFETY: `index` < RECORDS: inside the mapping (`layout`).
        unsafe { self.map.as_ptr().add(record_area_offset(self.index)) }
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
    /// "Publishing"); tells the client (`tell`) if it has an outcome, or
    /// if the client no longer waits for it.
    fn refresh(self: &Arc<Self>, tell: impl FnOnce(&Self)) {
        if self.eventfd.is_stale() {
            return;
        }
        // Found nothing ready after all: armed again, nobody told.
        if self.take().is_none_or(|wait| self.rerun(wait)) {
            tell(self);
        }
    }

    /// Tells the client by its eventfd, if it sleeps.
    fn tell(&self) {
        self.eventfd.notify()
    }

    /// Takes the record for a refresh of the wait it armed last; None if
    /// it armed none or its client moved on.
    fn take(&self) -> Option<Wait> {
        let wait = self.wait.lock().clone()?;
        self.record().take(wait.gen).then_some(wait)
    }

    /// Runs a wait taken for a refresh and publishes what it found; true
    /// if it found something (the client is to be told), false if it is
    /// armed again.
    fn rerun(self: &Arc<Self>, w: Wait) -> bool {
        let lwp = Lwp::with_block_hook(|| {}).notifying(self.clone() as Arc<dyn Notify>);
        let peer = PeerMemory { pid: self.pid };
        let r = match w.carried {
            Some(u) => (w.run)(w.sysnum, &w.args, &LaneMemory::new(peer, u, &w.args, self.area()), &lwp),
            None => (w.run)(w.sysnum, &w.args, &peer, &lwp),
        };
        if lwp.armed() {
            self.record().publish(w.gen, None);
            return false;
        }
        *self.wait.lock() = None;
        self.record().publish(w.gen, Some(&r));
        true
    }

    /// Tells the client, with the eventfd write (if it sleeps) left to the
    /// thread that `kicks` goes to.
    fn tell_by_kick(&self, kicks: &mut Kicks) {
        if self.eventfd.words().is_some_and(GateWords::fire) {
            kicks[self.index / 64] |= 1 << (self.index % 64);
        }
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
            Some(me) => me.refresh(RecordNotifier::tell),
            None => self.eventfd.notify(),
        }
    }

    fn is_stale(&self) -> bool {
        self.eventfd.is_stale()
    }
}

/// Records whose thread the client that made a call wakes itself, one
/// bit each: set in the call's reply (`Slot::kicks`).
pub type Kicks = [u64; RECORDS / 64];

/// Runs `call` (a server thread running a call of the channel whose
/// notifiers are `own`), holding back the notifications of records it
/// causes, then `then` with its result (the caller completes its call
/// there), then refreshes those records.
///
/// A record of `own` is refreshed before `then`, and its eventfd is not
/// written here: its bit in the kicks handed to `then` has the calling
/// thread write it once the reply is in, so a thread woken by another
/// thread of its process is woken from that thread's CPU, as a host pipe
/// write wakes its reader (a wake-up from a server thread crosses CPUs).
pub fn refreshing<R>(own: &Notifiers, call: impl FnOnce() -> R, then: impl FnOnce(R, Kicks)) {
    let outer = HELD.with(|h| h.borrow_mut().replace(Vec::new()));
    let r = call();
    let held = HELD.with(|h| std::mem::replace(&mut *h.borrow_mut(), outer)).unwrap_or_default();
    let (mine, others): (Vec<_>, Vec<_>) = held.into_iter().partition(|n| Arc::ptr_eq(&n.map, &own.map));
    let mut kicks = Kicks::default();
    for n in mine {
        n.refresh(|n| n.tell_by_kick(&mut kicks));
    }
    then(r, kicks);
    for n in others {
        n.refresh(RecordNotifier::tell);
    }
}

/// The server's side: the notifier registered for each record.
pub struct Notifiers {
    /// A mapping of the channel of the notifiers' own, which they keep
    /// alive as long as a wait channel of the kernel holds one.
    map: Arc<Mapping>,
    /// The client's pid.
    pid: i32,
    by_record: Mutex<Vec<Option<Arc<RecordNotifier>>>>,
}

impl Notifiers {
    /// The notifiers of the channel of client `pid` mapped at `map`.
    pub fn new(map: Mapping, pid: i32) -> Notifiers {
        Notifiers { map: Arc::new(map), pid, by_record: Mutex::new(vec![None; RECORDS]) }
    }

    /// Record `index`'s thread waits on `eventfd` from now on.
    pub fn register(&self, index: usize, eventfd: OwnedFd) -> Result<(), Errno> {
        if index >= RECORDS {
            return Err(EINVAL);
        }
        let at = ready_offset() + std::mem::offset_of!(Region, records) + index * size_of::<Record>();
        let eventfd = EventFdNotifier::gated_at(eventfd, self.map.clone(), at);
        let n = Arc::new_cyclic(|me| RecordNotifier {
            eventfd,
            map: self.map.clone(),
            pid: self.pid,
            index,
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
        // SAFETY: our own mapping of the channel, with the region at `ready_offset()`.
        let region = unsafe { region(self.map.as_ptr(), ready_offset()) };
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
