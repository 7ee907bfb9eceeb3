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
//! The record's `stage` keeps the two sides from each other: the client
//! stores ARMED with a new generation before each arming call; the server
//! remembers the call and its generation if it armed; a refresh swaps
//! ARMED of that generation for PUBLISHING, runs, and stores PUBLISHED
//! (with `result`) or ARMED again. Before the waiter's buffers go away it
//! swaps ARMED for IDLE (`Record::settle`), and if a refresh got there
//! first it waits for PUBLISHED and takes the result: events a refresh
//! took off an epoll are always delivered.
//!
//! Watched waits. A program's poll loop asks the same poll over and over
//! (iperf3 selects on its sockets before each read or write): the second
//! time, the answer can come from the record. A poll whose set came in
//! the slot's inline area and is all sockets (`Lwp::watching`; a socket's
//! channel hears of every move of its poll mask, a read that empties it
//! included) is kept by the server with its notifier armed even when it
//! returned something ready, and the stage says WATCH: PUBLISHED then
//! holds the result until something changes, ARMED that nothing is ready
//! and the client will be told. The client answers the same poll over
//! the same set from it without a call (`ClientChannel::watched_poll`),
//! and sleeps on its eventfd at once when nothing is ready. What keeps
//! the answer true:
//! - a notification turns PUBLISHED back to ARMED at once, before the
//!   refresh that follows it publishes again (a read in another process
//!   emptied the socket: the client waits for the refresh, it never
//!   answers from the old result); one that no refresh follows (a timer)
//!   drops WATCH, and the client asks;
//! - every notification and every take bumps the stage's `seq`: a client
//!   reading a result checks the stage did not move meanwhile, and a
//!   publish that a notification overtook is not watched;
//! - a call that takes an fd out of the process's table drops every
//!   watch of the channel (`Notifiers::unwatch_all`): the wait names fds
//!   by number; so does a notifier registered anew for the record (its
//!   thread's eventfd moved, or another thread took the record);
//! - the server stops watching a wait refreshed `IDLE_RUNS` times without
//!   its client looking (a program that polled once, then only reads).
//!
//! ```text
//! Region (after the slots)
//!   arms    × SLOTS    u32: 0 for a plain call, or 1 + the record that
//!                      the call in that slot arms
//!   Record  × RECORDS  (64 bytes each) the gate words (fired, sleeping),
//!                      stage (seq << 32 | generation << 3 | WATCH |
//!                      IDLE, ARMED, PUBLISHING or PUBLISHED), the client's
//!                      generation counter, refreshes since the client
//!                      looked, result (as a slot's)
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
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// Client threads with a record in one channel.
pub const RECORDS: usize = 128;

#[repr(C, align(64))]
pub struct Record {
    pub gate: GateWords,
    /// A `Stage`.
    stage: AtomicU64,
    /// The last generation the client armed with.
    gen: AtomicU32,
    /// Refreshes of a watched wait since its client last looked at it.
    idle_runs: AtomicU32,
    ret: AtomicI64,
    errno: AtomicI32,
}

const IDLE: u32 = 0;
const ARMED: u32 = 1;
const PUBLISHING: u32 = 2;
const PUBLISHED: u32 = 3;
const TAG: u64 = 3;
const WATCH: u64 = 4;
/// Generations are 29 bits: the stage word keeps three flag bits beside them.
const GEN: u32 = (1 << 29) - 1;

/// Refreshes of a watched wait its client has not looked at before the
/// server stops watching it (a program that polled once, then only reads).
const IDLE_RUNS: u32 = 16;

/// Where a record is: `seq << 32 | gen << 3 | watch << 2 | tag`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage {
    /// Bumped by every notification and by every refresh that takes the
    /// record: a reader of what a refresh published, or a publish, can
    /// tell that something moved underneath.
    seq: u32,
    gen: u32,
    /// The wait stays armed while something is ready (`Lwp::watching`):
    /// PUBLISHED holds its result until a notification, ARMED means
    /// nothing is ready and its client will be told.
    watch: bool,
    tag: u32,
}

impl Stage {
    fn decode(w: u64) -> Stage {
        Stage { seq: (w >> 32) as u32, gen: (w as u32) >> 3, watch: w & WATCH != 0, tag: (w & TAG) as u32 }
    }

    fn encode(self) -> u64 {
        u64::from(self.seq) << 32
            | u64::from(self.gen & GEN) << 3
            | if self.watch { WATCH } else { 0 }
            | u64::from(self.tag)
    }
}

impl Record {
    fn stage(&self) -> Stage {
        Stage::decode(self.stage.load(Ordering::SeqCst))
    }

    /// Moves the stage as `f` says; the stage it moved from, or the one
    /// it found if `f` said no.
    fn update(&self, f: impl Fn(Stage) -> Option<Stage>) -> Result<Stage, Stage> {
        self.stage
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| f(Stage::decode(w)).map(Stage::encode))
            .map(Stage::decode)
            .map_err(Stage::decode)
    }

    fn replace(&self, from: Stage, to: Stage) -> bool {
        self.stage.compare_exchange(from.encode(), to.encode(), Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    fn result(&self) -> SysResult {
        match self.errno.load(Ordering::Relaxed) {
            0 => Ok(self.ret.load(Ordering::Relaxed)),
            e => Err(Errno(e)),
        }
    }

    fn set_result(&self, r: &SysResult) {
        let (ret, errno) = match *r {
            Ok(v) => (v, 0),
            Err(e) => (-1, e.raw()),
        };
        self.ret.store(ret, Ordering::Relaxed);
        self.errno.store(errno, Ordering::Relaxed);
    }

    /// The client, before a call that may arm this record. A refresh
    /// running is let finish first: it publishes over what it took.
    pub fn arm(&self) {
        let gen = self.gen.fetch_add(1, Ordering::Relaxed).wrapping_add(1) & GEN;
        while self.update(|s| (s.tag != PUBLISHING).then_some(Stage { gen, watch: false, tag: ARMED, ..s })).is_err() {
            std::thread::yield_now();
        }
    }

    /// The client, before the buffers of the armed call go away: what a
    /// refresh published for it, if one did, after `copy` has taken its
    /// outputs from the record's area. A watched result stays (the
    /// client may answer the same wait from it again).
    pub fn settle(&self, copy: impl Fn(&SysResult)) -> Option<SysResult> {
        loop {
            let s = self.stage();
            match (s.tag, s.watch) {
                (ARMED, false) => {
                    if self.replace(s, Stage { tag: IDLE, ..s }) {
                        return None;
                    }
                }
                (ARMED, true) => return None,
                // A server thread is running the wait again; it takes as
                // long as one call.
                (PUBLISHING, _) => std::thread::yield_now(),
                (PUBLISHED, watch) => {
                    let r = self.result();
                    copy(&r);
                    self.idle_runs.store(0, Ordering::Relaxed);
                    let kept = if watch { self.stage() == s } else { self.replace(s, Stage { tag: IDLE, ..s }) };
                    if kept {
                        return Some(r);
                    }
                }
                _ => return None,
            }
        }
    }

    /// The client: the stage of a watched wait it may answer from
    /// (ARMED or PUBLISHED), if the record holds one.
    pub fn watched(&self) -> Option<Stage> {
        let s = self.stage();
        self.idle_runs.store(0, Ordering::Relaxed);
        (s.watch && matches!(s.tag, ARMED | PUBLISHED)).then_some(s)
    }

    /// The client, answering from a watched stage `s`: its result now
    /// (Ok(0) for ARMED), None if there is none to answer with.
    pub fn answer(&self, s: Stage) -> Option<SysResult> {
        match s.tag {
            ARMED => Some(Ok(0)),
            PUBLISHED => Some(self.result()),
            _ => None,
        }
    }

    /// The client, after reading what it answered from at `s`: whether
    /// nothing moved meanwhile.
    pub fn still(&self, s: Stage) -> bool {
        self.stage() == s
    }

    /// The server: the stage the client armed with, if it did.
    fn arming(&self) -> Option<Stage> {
        let s = self.stage();
        (s.tag == ARMED && !s.watch).then_some(s)
    }

    /// The server, after the call that armed at `armed` found nothing
    /// (`ready` None) or returned `ready` with the wait watched: the
    /// client may answer from the record from now on; false if a
    /// notification came since (the call's own result stands alone).
    fn watch_from(&self, armed: Stage, ready: Option<&SysResult>) -> bool {
        if let Some(r) = ready {
            self.set_result(r);
        }
        let tag = if ready.is_some() { PUBLISHED } else { ARMED };
        self.replace(armed, Stage { watch: true, tag, ..armed })
    }

    /// The server: takes the record from its client for a refresh of the
    /// wait armed with `gen`; the stage it took, None if the client moved on.
    fn take(&self, gen: u32) -> Option<Stage> {
        let taken = |s: Stage| Stage { seq: s.seq.wrapping_add(1), tag: PUBLISHING, ..s };
        self.update(|s| (s.tag == ARMED && s.gen == gen & GEN).then(|| taken(s))).ok().map(taken)
    }

    /// The server, after a refresh of what it took at `taken`: its
    /// outcome (None: armed again), watched still if `watch`. False if a
    /// notification came while it ran: the outcome is then left
    /// unwatched, and the client is to be told.
    fn publish(&self, taken: Stage, outcome: Option<&SysResult>, watch: bool) -> bool {
        if let Some(r) = outcome {
            self.set_result(r);
        }
        let tag = if outcome.is_some() { PUBLISHED } else { ARMED };
        let moved = |s: Stage| s.seq != taken.seq || !s.watch;
        let was = self.update(|s| Some(Stage { watch: watch && !moved(s), tag, ..s }));
        was.is_ok_and(|s| s.seq == taken.seq)
    }

    /// The server, at a notification: a watched result is no longer
    /// known to hold. With a refresh to follow (`refreshes`) the client
    /// waits for it; without, it asks again itself.
    fn notified(&self, refreshes: bool) {
        let _ = self.update(|s| {
            let watch = s.watch && refreshes;
            let tag = if s.watch && s.tag == PUBLISHED { ARMED } else { s.tag };
            Some(Stage { seq: s.seq.wrapping_add(1), watch, tag, ..s })
        });
    }

    /// The server: the wait is watched no more (fd numbers moved); true
    /// if it was, and the client, which may sleep on it, is to be told.
    fn unwatch(&self) -> bool {
        let off = |s: Stage| Stage {
            seq: s.seq.wrapping_add(1),
            watch: false,
            tag: if s.tag == PUBLISHED { ARMED } else { s.tag },
            ..s
        };
        self.update(|s| s.watch.then(|| off(s))).is_ok()
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
    /// Record → the wait it armed last, if its buffer came in the call's
    /// inline area: later runs leave it in the record's area.
    carried: Vec<Option<Carried>>,
}

/// A wait whose buffer a record's area holds: the call, and the plan of
/// its buffer (at the place of the latest call answered from it).
#[derive(Clone, Copy, Debug)]
pub struct Carried {
    pub sysnum: u32,
    pub args: Slots,
    pub plan: Plan,
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
        held.carried[index] = None;
        Some((index, true))
    }

    /// Registering thread `tid`'s eventfd failed: it holds nothing.
    pub fn release(&self, tid: u32) {
        let mut held = self.held.lock();
        if let Some(index) = held.by_thread.remove(&tid) {
            held.notifiers[index] = None;
        }
    }

    /// Record `index` arms a wait whose buffer came inline (`Carried`),
    /// or (None) in place or not at all.
    pub fn carry(&self, index: usize, wait: Option<Carried>) {
        self.held.lock().carried[index] = wait;
    }

    /// The wait record `index` armed last, if its buffer came inline.
    pub fn carried(&self, index: usize) -> Option<Carried> {
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

/// The record's stage when the client armed it (`RecordNotifier::arming`).
#[derive(Clone, Copy, Debug)]
pub struct Arming(Stage);

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
    /// Before the client's call that may arm it: where the client armed
    /// it (`Record::arm`), if it did.
    pub fn arming(&self) -> Option<Arming> {
        self.record().arming().map(Arming)
    }

    /// After that call armed it (`Lwp::armed`), or returned `ready` with
    /// it armed all the same: the wait to refresh, run again through
    /// `call`'s `RunAs`. A buffer that came in the call's inline area
    /// (`inline`: its window, and the area as the call left it) is copied
    /// to the record's, where later runs reach it (see "Where the results
    /// land"); a wait the kernel `watched` (`Lwp::watched`) with such a
    /// buffer is watched here too (see "Watched waits").
    pub fn remember(
        &self,
        arming: Arming,
        call: (u32, Slots, RunAs),
        inline: Option<(Use, *const u8)>,
        ready: Option<&SysResult>,
        watched: bool,
    ) {
        let carried = inline.map(|(u, from)| {
            // SAFETY: `from` is a slot's inline area and ours the record's,
            // both INLINE_LEN bytes of live mappings; `u.len` <= INLINE_LEN
            // (`Use::decode`). Bytes only: the client may change them.
            unsafe { std::ptr::copy_nonoverlapping(from, self.area(), u.len) };
            u
        });
        let (sysnum, args, run) = call;
        *self.wait.lock() = Some(Wait { gen: arming.0.gen, sysnum, args, run, carried });
        let watched = watched && carried.is_some() && self.record().watch_from(arming.0, ready);
        if ready.is_some() && !watched {
            *self.wait.lock() = None;
        }
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
        if self.take().is_none_or(|(wait, taken)| self.rerun(wait, taken)) {
            tell(self);
        }
    }

    /// Tells the client by its eventfd, if it sleeps.
    fn tell(&self) {
        self.eventfd.notify()
    }

    /// Takes the record for a refresh of the wait it armed last; None if
    /// it armed none or its client moved on.
    fn take(&self) -> Option<(Wait, Stage)> {
        let wait = self.wait.lock().clone()?;
        self.record().take(wait.gen).map(|taken| (wait, taken))
    }

    /// Runs a wait taken at `taken` for a refresh and publishes what it
    /// found; true if the client is to be told (something found, or a
    /// notification came meanwhile), false if it is armed again.
    fn rerun(self: &Arc<Self>, w: Wait, taken: Stage) -> bool {
        let record = self.record();
        let watch = taken.watch && record.idle_runs.fetch_add(1, Ordering::Relaxed) < IDLE_RUNS;
        let lwp = Lwp::with_block_hook(|| {}).notifying(self.clone() as Arc<dyn Notify>);
        let lwp = if watch { lwp.watching() } else { lwp };
        let peer = PeerMemory { pid: self.pid };
        let r = match w.carried {
            Some(u) => (w.run)(w.sysnum, &w.args, &LaneMemory::new(peer, u, &w.args, self.area()), &lwp),
            None => (w.run)(w.sysnum, &w.args, &peer, &lwp),
        };
        let outcome = (!lwp.armed()).then_some(&r);
        let watched = watch && lwp.watched();
        if !lwp.armed() && !watched {
            *self.wait.lock() = None;
        }
        let clean = record.publish(taken, outcome, watched);
        outcome.is_some() || !clean
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
        // A kernel thread done with its work (the network's reader, having
        // handed the stack a datagram) publishes as a server thread does:
        // the waiter then does not come back to ask.
        let now = self.me.upgrade().filter(|_| !held && rump_kernel::wchan::after_work());
        self.record().notified(held || now.is_some());
        match now {
            _ if held => {}
            Some(me) => me.refresh(RecordNotifier::tell),
            None => self.eventfd.notify(),
        }
    }

    fn is_stale(&self) -> bool {
        self.eventfd.is_stale()
    }
}

/// A `struct pollfd`'s bytes: fd and events (what is asked), then revents.
const POLLFD: usize = 8;
const ASKED: usize = 6;

/// Whether two poll sets (`struct pollfd` arrays, as bytes) name the same
/// fds with the same events, whatever their revents say.
pub fn same_poll_set(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.len().is_multiple_of(POLLFD)
        && a.chunks_exact(POLLFD).zip(b.chunks_exact(POLLFD)).all(|(x, y)| x[..ASKED] == y[..ASKED])
}

/// A poll set (as bytes) with no events returned, as a poll that found
/// nothing leaves it.
pub fn clear_revents(set: &mut [u8]) {
    set.chunks_exact_mut(POLLFD).for_each(|p| p[ASKED..].fill(0));
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
        // A wait the old notifier watched is watched no more: the record
        // must not answer from it (its thread may be another one now).
        n.record().unwatch();
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

    /// A call of the channel took fds out of the table: a watched wait,
    /// kept by fd numbers, is asked again (see "Watched waits").
    pub fn unwatch_all(&self) {
        let all: Vec<_> = self.by_record.lock().iter().flatten().cloned().collect();
        for n in all {
            if n.record().unwatch() {
                *n.wait.lock() = None;
                n.tell();
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
