//! The stack's own threads: one runs timers (TCP retransmissions and
//! delayed work, neighbour expiry and probes, reassembly, impaired frames
//! whose time has come); one reads every shmif bus the kernel is attached
//! to (`BusLinks`), and one per tap interface reads its device. A reader
//! moves frames into a backlog and hands them to the stack itself (see
//! `Backlog` for why it never stops reading). All take the kernel lock
//! like a call does, and all hold the kernel only weakly, so they end
//! when it goes (or halts).
//!
//! Why one thread for all the buses: a router forwards on the thread that
//! read the frame, straight onto the next bus, and then sleeps on all its
//! buses at once (`futexv::wait_any`). With a thread per bus, the reader
//! of the bus it forwarded onto, asleep on that bus's counter, would be
//! woken by its own process's frame for nothing: two wake-ups per hop
//! where one is needed. Kernels booted with one `BusThread` (the nodes of
//! one `rump_server`) share that thread: a frame one of them forwards onto
//! a bus another reads needs no wake-up at all. And a call that sends onto
//! such a bus takes the thread's turn itself once it is done with its own
//! kernel (`help`): the frames reach the other kernels on the sender's
//! time, as Linux's veth does it.

use super::ether::Sent;
use super::futexv::{FutexWord, WaitV, Words, POLL_SLICE};
use super::iface::IfIndex;
use super::shmif::{Bus, BusReader, Sleep, CHECK_PERIOD, MAX_FRAME};
use super::tap::Tap;
use crate::{Shared, State};
use parking_lot::{Condvar, Mutex};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Longest a reader sleeps before it looks whether its kernel is gone and
/// its links are still sound (a bus file checked, a device still there).
const IDLE: Duration = Duration::from_millis(500);
/// Frames a reader holds while its kernel is busy, Linux's
/// netdev_max_backlog: past this many it stops reading and the bus ring
/// holds the rest.
const BACKLOG: usize = 1000;
/// Frames handed to the stack per trip into the kernel (NAPI's weight):
/// between trips the lock is free for the calls that read what arrived.
const BUDGET: usize = 64;
/// How long a reader with room in its backlog waits for the kernel lock
/// before it goes back to drain its link.
const LOCK_SLICE: Duration = Duration::from_micros(50);

/// What wakes the timer thread: an earlier deadline (`net_kick`), a halt,
/// or the kernel going. It is held apart from the kernel so that the
/// thread sleeps holding the kernel only weakly, and so sleeps until its
/// next deadline however far, or until woken when it has none: an idle
/// node runs no code at all, and its program text, once let go, stays
/// unmapped.
#[derive(Default)]
pub(crate) struct TimerWake {
    kicked: Mutex<bool>,
    cv: Condvar,
}

impl TimerWake {
    pub(crate) fn kick(&self) {
        *self.kicked.lock() = true;
        self.cv.notify_one();
    }

    /// Sleeps until `deadline` (None: until kicked), unless kicked since
    /// the last sleep.
    fn sleep(&self, deadline: Option<Instant>) {
        let mut kicked = self.kicked.lock();
        if !*kicked {
            match deadline {
                Some(at) => drop(self.cv.wait_until(&mut kicked, at)),
                None => self.cv.wait(&mut kicked),
            }
        }
        *kicked = false;
    }
}

pub(crate) fn start_timer(kernel: Weak<Shared>, wake: Arc<TimerWake>) {
    let _ = std::thread::Builder::new().name("rump-softnet".into()).spawn(move || loop {
        let deadline = {
            let Some(sh) = kernel.upgrade() else { return };
            let mut st = sh.state.lock();
            if st.halted {
                return;
            }
            st.net.tick();
            st.net_run();
            let now = st.net.now();
            let at = st.net.next_deadline().unwrap_or(u64::MAX);
            st.net.timer_at = at;
            (at != u64::MAX).then(|| Instant::now() + Duration::from_micros(at.saturating_sub(now)))
        };
        wake.sleep(deadline);
    });
}

impl State {
    /// After a call's network work: the timer thread must wake sooner if
    /// that work set an earlier deadline.
    pub(crate) fn net_kick(&mut self, shared: &Shared) {
        if let Some(at) = self.net.next_deadline() {
            if at < self.net.timer_at {
                self.net.timer_at = at;
                shared.net_timer.kick();
            }
        }
    }
}

/// Where an interface's incoming frames come from.
pub(crate) trait FrameSource {
    /// Puts the next frame in `buf` (replacing what it held) and says
    /// true, if one is waiting.
    fn next_frame(&mut self, buf: &mut Vec<u8>) -> bool;
    /// Breakages of the source since the last call (a bus whose file was
    /// truncated, replaced or scribbled on); none for most sources.
    fn new_faults(&mut self) -> u64 {
        0
    }
    /// Overruns (frames missed because the source moved on) since the last call.
    fn new_overruns(&mut self) -> u64 {
        0
    }
}

/// A shmif bus read for interface `iface` from when it was attached,
/// without the frames `sender` (the interface itself) wrote, until `stop`.
struct BusSource {
    iface: IfIndex,
    bus: Arc<Bus>,
    reader: BusReader,
    sender: u64,
    stop: Arc<AtomicBool>,
    /// The bus's fault count when last looked at.
    faults: u64,
    /// The reader's overrun count when last looked at.
    overruns: u64,
}

impl FrameSource for BusSource {
    fn next_frame(&mut self, buf: &mut Vec<u8>) -> bool {
        self.reader.next_into(&self.bus, Some(self.sender), buf).is_some()
    }

    fn new_faults(&mut self) -> u64 {
        let now = self.bus.faults();
        now - std::mem::replace(&mut self.faults, now)
    }

    fn new_overruns(&mut self) -> u64 {
        let now = self.reader.lost();
        now - std::mem::replace(&mut self.overruns, now)
    }
}

impl FrameSource for Arc<Tap> {
    fn next_frame(&mut self, buf: &mut Vec<u8>) -> bool {
        self.recv_into(buf)
    }
}

/// Frames read from links and waiting for the kernel, with the counts of
/// what went wrong reading them until they are counted in.
///
/// A bus is a ring that writers never wait on, so a reader must keep up
/// or be overrun. A reader does not stop reading while its kernel is busy
/// (a call, the timer, another link holding the lock): it moves frames
/// into its backlog and only waits for the lock a slice at a time, then
/// hands the kernel up to `BUDGET` frames per trip. Frames are lost only
/// when the backlog is full and the ring laps the reader too; that counts
/// as an overrun of the interface.
#[derive(Default)]
struct Backlog {
    frames: VecDeque<(IfIndex, Vec<u8>)>,
    /// Buffers of frames already handed over, reused for the next ones so
    /// that reading a frame allocates nothing.
    spare: Vec<Vec<u8>>,
    /// (interface, receive errors, overruns) not yet counted.
    pending: Vec<(IfIndex, u64, u64)>,
}

impl Backlog {
    fn is_full(&self) -> bool {
        self.frames.len() >= BACKLOG
    }

    /// Reads up to `max` frames of `source` for interface `iface` while
    /// there is room; returns how many.
    fn fill(&mut self, iface: IfIndex, source: &mut impl FrameSource, max: usize) -> usize {
        let mut read = 0;
        while read < max && !self.is_full() {
            let mut buf = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(MAX_FRAME));
            if !source.next_frame(&mut buf) {
                self.spare.push(buf);
                break;
            }
            self.frames.push_back((iface, buf));
            read += 1;
        }
        let (errors, overruns) = (source.new_faults(), source.new_overruns());
        if errors + overruns > 0 {
            self.pending.push((iface, errors, overruns));
        }
        read
    }

    /// Drops what is held for interface `iface`, whose link went away.
    fn forget(&mut self, iface: IfIndex) {
        self.frames.retain(|(i, _)| *i != iface);
        self.pending.retain(|(i, _, _)| *i != iface);
    }

    fn is_idle(&self) -> bool {
        self.frames.is_empty() && self.pending.is_empty()
    }

    /// Counts what is pending and hands the kernel up to `BUDGET` frames,
    /// then lets the stack run (which forwards them and wakes the next
    /// links' readers). Waits for the lock only a slice while there is room
    /// to read more. False when the reader should end: the kernel is gone
    /// or halted.
    fn deliver(&mut self, kernel: &Weak<Shared>, live: impl Fn(IfIndex) -> bool) -> bool {
        let Some(sh) = kernel.upgrade() else { return false };
        // Wake-ups go out once the lock is released.
        crate::wchan::deferring(|| {
            let st = if self.is_full() { Some(sh.state.lock()) } else { sh.state.try_lock_for(LOCK_SLICE) };
            // Busy: back to the links, which may be filling up meanwhile.
            let Some(mut st) = st else { return true };
            if st.halted {
                return false;
            }
            for (iface, errors, overruns) in self.pending.drain(..) {
                if let Some(ifc) = st.net.ifaces.get_mut(iface) {
                    ifc.counters.rx_errors += errors;
                    ifc.counters.rx_overruns += overruns;
                }
            }
            let mut settle = false;
            for _ in 0..BUDGET {
                let Some((iface, frame)) = self.frames.pop_front() else { break };
                if live(iface) {
                    settle |= st.net.link_input(iface, &frame) == Sent::Kept;
                }
                if self.spare.len() < BUDGET {
                    self.spare.push(frame);
                }
            }
            // What was forwarded goes on at once: the next hop's reader
            // need not wait for the rest of the work (`net_run` wakes the
            // readers again for what that sends). Frames that were only
            // forwarded straight on leave nothing to settle, but may have
            // set a deadline all the same (a packet socket's block to
            // retire, a neighbour to resolve, a frame netem delays): the
            // timer thread sleeps until the deadline it knows of, so it
            // is told of an earlier one.
            st.net.wake_links();
            if settle {
                st.net_run();
            }
            st.net_kick(&sh);
            true
        })
    }
}

/// A link attached to a kernel and not yet taken up by its bus thread.
type NewLink = (Weak<Shared>, BusSource);

/// The shmif links of the kernels that share one bus thread (one
/// kernel's unless they were booted with one `BusThread`), all read by
/// that thread (see the module doc), started when the first is attached.
#[derive(Default)]
pub(crate) struct BusLinks {
    /// Links attached since the thread last looked, and whether it runs.
    added: Mutex<(Vec<NewLink>, bool)>,
    /// Bumped when a link is added, to end the thread's sleep.
    changed: AtomicU32,
    /// The links taken up and what was read from them: held by the bus
    /// thread for a turn, or by a thread whose call sent frames (`help`).
    reader: Mutex<Reader>,
    /// How many kernels the reader holds links of.
    kernels: AtomicUsize,
}

impl BusLinks {
    /// Feeds interface `iface` of `kernel` the frames sent on `bus` from
    /// now on, but for its own (`sender`'s), until `stop` is set.
    pub(crate) fn attach(
        self: &Arc<Self>,
        kernel: Weak<Shared>,
        iface: IfIndex,
        bus: Arc<Bus>,
        sender: u64,
        stop: Arc<AtomicBool>,
    ) {
        let reader = bus.reader();
        let source = BusSource { iface, faults: bus.faults(), overruns: 0, bus, reader, sender, stop };
        let mut added = self.added.lock();
        added.0.push((kernel, source));
        if !added.1 {
            let links = self.clone();
            let spawned = std::thread::Builder::new().name("rump-buses".into()).spawn(move || read_buses(links));
            added.1 = spawned.is_ok();
        }
        drop(added);
        self.changed.fetch_add(1, Ordering::SeqCst);
        FutexWord::wake_all(&self.changed, false);
    }
}

/// A bus thread kernels can share (`Config::bus_thread`): kernels
/// booted with clones of one read all their shmif buses on one thread,
/// so a frame one of them forwards onto a bus another reads goes on
/// without a wake-up. A kernel's own by default.
#[derive(Clone, Default)]
pub struct BusThread(pub(crate) Arc<BusLinks>);

/// One kernel's links on a bus thread, and what was read from them.
struct KernelLinks {
    kernel: Weak<Shared>,
    sources: Vec<BusSource>,
    backlog: Backlog,
}

impl KernelLinks {
    /// Drops the links that were stopped, and what was read from them.
    fn prune(&mut self) {
        let backlog = &mut self.backlog;
        self.sources.retain(|s| {
            let stopped = s.stop.load(Ordering::Acquire);
            if stopped {
                backlog.forget(s.iface);
            }
            !stopped
        });
    }

    /// A budget from each link in turn while there is room (`all`: from
    /// every link; else only from those whose bus counted a frame since
    /// they were last drained); true if one gave a whole budget (it may
    /// hold more) and there is still room.
    fn fill(&mut self, all: bool) -> bool {
        let backlog = &mut self.backlog;
        let more = self
            .sources
            .iter_mut()
            .filter(|s| all || s.reader.may_have_news(&s.bus))
            .fold(false, |more, s| more | (backlog.fill(s.iface, s, BUDGET) == BUDGET));
        more && !backlog.is_full()
    }

    /// Hands the backlog to the kernel (see `Backlog::deliver`).
    fn deliver(&mut self) -> bool {
        let sources = &self.sources;
        let live = |iface| sources.iter().any(|s| s.iface == iface && !s.stop.load(Ordering::Acquire));
        self.backlog.deliver(&self.kernel, live)
    }
}

/// What the bus thread reads: the kernels' links and their backlogs.
#[derive(Default)]
struct Reader {
    kernels: Vec<KernelLinks>,
}

impl Reader {
    /// Takes up the links attached since the last look and drops the
    /// stopped ones.
    fn adopt(&mut self, added: &Mutex<(Vec<NewLink>, bool)>) {
        for (kernel, source) in added.lock().0.drain(..) {
            match self.kernels.iter_mut().find(|k| k.kernel.ptr_eq(&kernel)) {
                Some(k) => k.sources.push(source),
                None => self.kernels.push(KernelLinks { kernel, sources: vec![source], backlog: Backlog::default() }),
            }
        }
        self.kernels.iter_mut().for_each(KernelLinks::prune);
    }

    /// Reads the links into the backlogs until all are drained (a link
    /// that gave less than a budget is) or the backlogs are full, then
    /// hands each backlog to its kernel (`all`: see `KernelLinks::fill`).
    /// True if anything was handed over; kernels gone or halted are
    /// dropped.
    fn turn(&mut self, all: bool) -> bool {
        while self.kernels.iter_mut().fold(false, |more, k| more | k.fill(all)) {}
        let mut delivered = false;
        self.kernels.retain_mut(|k| {
            if k.backlog.is_idle() {
                return true;
            }
            delivered = true;
            k.deliver()
        });
        delivered
    }

    /// The buses to sleep on, each with where its reader stands.
    fn sleep_plan(&self) -> Vec<(Arc<Bus>, BusReader)> {
        self.kernels.iter().flat_map(|k| &k.sources).map(|s| (s.bus.clone(), s.reader.clone())).collect()
    }
}

/// Turns a thread whose call sent frames may take in place of the bus
/// thread, at most: enough for the frames it sent and what answers them
/// at once (an ACK, a reply forwarded back), not a whole transfer.
const HELP_TURNS: usize = 4;

/// A bus a call appended frames to, whose readers it wakes once it has
/// helped (`help`), and whether one was asleep (`Bus::announce`).
type Unwoken = (Arc<BusLinks>, Arc<Bus>, bool);

thread_local! {
    /// Whether this thread holds a reader (`BusLinks::read`).
    static READING: Cell<bool> = const { Cell::new(false) };
    /// How many calls this thread is in (`CallSends`; a call's wake-ups
    /// may make another): wake-ups are held only inside one. Plain cells
    /// on every call's way; `UNWOKEN` is touched only when one is held.
    static CALLS: Cell<u32> = const { Cell::new(0) };
    /// Whether `UNWOKEN` holds any.
    static HELD: Cell<bool> = const { Cell::new(false) };
    /// The buses this thread's calls appended to that other kernels of
    /// this process read, not yet woken.
    static UNWOKEN: RefCell<Vec<Unwoken>> = const { RefCell::new(Vec::new()) };
}

/// A reader held by this thread (`BusLinks::read`).
struct Reading<'a> {
    held: parking_lot::MutexGuard<'a, Reader>,
    _mark: ReadingMark,
}

/// Clears `READING` when the reader is let go.
struct ReadingMark;

impl Drop for ReadingMark {
    fn drop(&mut self) {
        READING.with(|r| r.set(false));
    }
}

impl Reading<'_> {
    /// Lets go of the reader to a thread waiting for it, if one is, even
    /// if this one asks again at once: a helper does not wait out the bus
    /// thread's turns one after another.
    fn hand_over(self) {
        let Reading { held, _mark } = self;
        drop(_mark);
        parking_lot::MutexGuard::unlock_fair(held);
    }
}

impl std::ops::Deref for Reading<'_> {
    type Target = Reader;
    fn deref(&self) -> &Reader {
        &self.held
    }
}

impl std::ops::DerefMut for Reading<'_> {
    fn deref_mut(&mut self) -> &mut Reader {
        &mut self.held
    }
}

impl BusLinks {
    /// The reader, once whoever holds it now is done with it.
    fn read(&self) -> Reading<'_> {
        let held = self.reader.lock();
        READING.with(|r| r.set(true));
        Reading { held, _mark: ReadingMark }
    }

    /// Wakes `bus`'s readers for the frames this kernel appended since it
    /// last did, or, inside a call and where other kernels of this process
    /// read these links, leaves the wake-up to `help` after the call.
    pub(crate) fn announce(self: &Arc<Self>, bus: &Arc<Bus>) {
        let Some(asleep) = bus.announce() else { return };
        let shared = self.kernels.load(Ordering::Relaxed) > 1;
        if !shared || CALLS.with(Cell::get) == 0 {
            bus.wake(asleep);
            return;
        }
        UNWOKEN.with(|u| u.borrow_mut().push((self.clone(), bus.clone(), asleep)));
        HELD.with(|h| h.set(true));
    }
}

/// Marks this thread as running a call until dropped, when it helps
/// (`help`).
pub(crate) struct CallSends(());

impl CallSends {
    pub(crate) fn begin() -> CallSends {
        CALLS.with(|c| c.set(c.get() + 1));
        CallSends(())
    }
}

impl Drop for CallSends {
    fn drop(&mut self) {
        help();
        CALLS.with(|c| c.set(c.get() - 1));
    }
}

/// Run to completion: once a call that sent frames onto buses other
/// kernels of this process read (the nodes of one `rump_server`) has let
/// go of its kernel, at its end or before it sleeps, the calling thread
/// hands those kernels the frames itself, as Linux's veth has the
/// sender's CPU run the receiver's input, and only then wakes the buses'
/// readers (other processes', and this process's bus thread, which finds
/// them read). The receiving kernel's work is the sender's, so a sender
/// cannot outrun its receiver by having that work done on another
/// thread's time, and a frame reaches its socket without waiting for a
/// thread to be scheduled. A turn another thread is taking is waited for
/// (it may have looked before these frames came); only a few turns are
/// taken: what is left is the bus thread's.
pub(crate) fn help() {
    if !HELD.with(|h| h.replace(false)) {
        return;
    }
    let unwoken = UNWOKEN.with(|u| std::mem::take(&mut *u.borrow_mut()));
    let Some((links, _, _)) = unwoken.first() else { return };
    // Not from within a turn (a call made by a wake-up it delivered).
    if !READING.with(Cell::get) {
        // What the turns themselves send wakes its readers at once.
        let calls = CALLS.with(|c| c.replace(0));
        let mut reader = links.read();
        for _ in 0..HELP_TURNS {
            if !reader.turn(false) {
                break;
            }
        }
        drop(reader);
        CALLS.with(|c| c.set(calls));
    }
    for (_, bus, asleep) in unwoken {
        bus.wake(asleep);
    }
}

/// The bus thread: reads every attached bus into its kernel's backlog (a
/// budget from each in turn), hands the backlogs to their kernels, and
/// sleeps on all the buses at once when they have nothing more. A frame
/// one of its kernels forwards onto a bus another of them reads is read
/// on the next turn, with no wake-up between them; between sleeps a turn
/// looks only at the buses whose change counter moved, so a turn costs
/// the same however many kernels share the thread. It ends when its
/// kernels have all gone or halted.
fn read_buses(links: Arc<BusLinks>) {
    let mut sleep_list: Vec<WaitV> = Vec::new();
    // Whether to look at every bus: after a sleep, for the frames of
    // writers that do not count them and for the buses' health.
    let mut look_all = true;
    'read: loop {
        let changed = links.changed.load(Ordering::SeqCst);
        let mut reader = links.read();
        reader.adopt(&links.added);
        links.kernels.store(reader.kernels.len(), Ordering::Relaxed);
        if reader.turn(look_all) {
            look_all = false;
            reader.hand_over();
            continue;
        }
        look_all = false;
        reader.kernels.retain(|k| k.kernel.strong_count() > 0);
        if reader.kernels.is_empty() {
            let mut added = links.added.lock();
            if added.0.is_empty() {
                added.1 = false;
                return;
            }
            continue;
        }
        // Slept on without the reader held, so that a helper can take
        // it meanwhile; one that read past where it stood makes the wait
        // end at once (`prepare_wait` finds the counter moved).
        let plan = reader.sleep_plan();
        drop(reader);
        let mut words = Words::new(&mut sleep_list);
        words.push(FutexWord { word: &links.changed, expect: changed, shared: false });
        let mut timeout = IDLE;
        for (bus, at) in &plan {
            match bus.prepare_wait(at) {
                Sleep::Not => continue 'read,
                Sleep::Poll => timeout = timeout.min(CHECK_PERIOD),
                Sleep::On(w) => {
                    if !words.push(w) {
                        timeout = timeout.min(POLL_SLICE);
                    }
                }
            }
        }
        words.wait(timeout);
        look_all = true;
    }
}

/// Starts the thread that feeds tap interface `iface` the frames of its
/// device; it stops when `stop` is set (see `Backlog`).
pub(crate) fn start_tap_reader(kernel: Weak<Shared>, iface: IfIndex, mut dev: Arc<Tap>, stop: Arc<AtomicBool>) {
    let mut backlog = Backlog::default();
    let _ = std::thread::Builder::new().name(format!("rump-link{iface}")).spawn(move || loop {
        if stop.load(Ordering::Acquire) {
            return;
        }
        backlog.fill(iface, &mut dev, BACKLOG);
        if backlog.is_idle() {
            dev.wait(IDLE);
            continue;
        }
        if !backlog.deliver(&kernel, |_| !stop.load(Ordering::Acquire)) {
            return;
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::{Config, Kernel};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// The timer thread, asleep with no deadline, ends as soon as its kernel
    /// goes or halts; `keeps`: `end` keeps the kernel.
    fn timer_thread_ends(keeps: bool, end: impl FnOnce(Kernel)) {
        let k = Kernel::boot(Config::default()).expect("boot");
        let wake = k.shared.net_timer.clone();
        let without_thread = Arc::strong_count(&wake) - 1 - usize::from(!keeps);
        end(k);
        let deadline = Instant::now() + Duration::from_millis(200);
        while Arc::strong_count(&wake) > without_thread {
            assert!(Instant::now() < deadline, "the timer thread still runs");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn the_timer_thread_ends_with_its_kernel() {
        timer_thread_ends(false, drop);
    }

    #[test]
    fn the_timer_thread_ends_at_a_halt() {
        timer_thread_ends(true, |k| {
            k.halt();
            // The handle is kept: a halted kernel still answers calls.
            std::mem::forget(k);
        });
    }
}
