//! The stack's own threads: one runs timers (TCP retransmissions and
//! delayed work, neighbour expiry and probes, reassembly, impaired frames
//! whose time has come), and one per attached shmif or tap interface
//! reads its bus or device into a backlog and hands it to the stack (see
//! `start_reader` for why it never stops reading). Both take the kernel
//! lock like a call does, and both hold the kernel only weakly, so they
//! end when it goes (or halts).

use super::iface::IfIndex;
use super::shmif::{Bus, BusReader};
use super::tap::Tap;
use crate::{Shared, State};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Longest a timer sleep lasts before looking whether the kernel is gone.
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

pub(crate) fn start_timer(kernel: Weak<Shared>) {
    let _ = std::thread::Builder::new().name("rump-softnet".into()).spawn(move || loop {
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
        let wait = Duration::from_micros(at.saturating_sub(now)).min(IDLE);
        if !wait.is_zero() {
            sh.net_timer.wait_for(&mut st, wait);
        }
    });
}

impl State {
    /// After a call's network work: the timer thread must wake sooner if
    /// that work set an earlier deadline.
    pub(crate) fn net_kick(&mut self, shared: &Shared) {
        if let Some(at) = self.net.next_deadline() {
            if at < self.net.timer_at {
                self.net.timer_at = at;
                shared.net_timer.notify_one();
            }
        }
    }
}

/// Where an interface's incoming frames come from.
pub(crate) trait FrameSource: Send + 'static {
    /// The next frame, if one is waiting.
    fn next_frame(&mut self) -> Option<Vec<u8>>;
    /// Sleeps until a frame may be waiting, at most `timeout`.
    fn wait(&mut self, timeout: Duration);
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

/// A shmif bus read from now on, without the frames `sender` (the
/// interface itself) wrote.
pub(crate) struct BusSource {
    bus: Arc<Bus>,
    reader: BusReader,
    sender: u64,
    /// The bus's fault count when last looked at.
    faults: u64,
    /// The reader's overrun count when last looked at.
    overruns: u64,
}

impl BusSource {
    pub(crate) fn new(bus: Arc<Bus>, sender: u64) -> BusSource {
        BusSource { reader: bus.reader(), faults: bus.faults(), overruns: 0, bus, sender }
    }
}

impl FrameSource for BusSource {
    fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            let f = self.reader.next(&self.bus)?;
            if f.sender != self.sender {
                return Some(f.data);
            }
        }
    }

    fn wait(&mut self, timeout: Duration) {
        self.bus.wait(&self.reader, timeout)
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
    fn next_frame(&mut self) -> Option<Vec<u8>> {
        self.recv()
    }

    fn wait(&mut self, timeout: Duration) {
        Tap::wait(self, timeout)
    }
}

/// Starts the thread that feeds interface `iface` the frames of `source`;
/// it stops when `stop` is set.
///
/// A bus is a ring that writers never wait on, so a reader must keep up
/// or be overrun. This one does not stop reading while its kernel is busy
/// (a call, the timer, another link holding the lock): it moves frames
/// from the ring into its backlog and only waits for the lock a slice at
/// a time, then hands the kernel up to `BUDGET` frames per trip. Frames
/// are lost only when the backlog is full and the ring laps the reader
/// too; that counts as an overrun of the interface.
pub(crate) fn start_reader(kernel: Weak<Shared>, iface: IfIndex, mut source: impl FrameSource, stop: Arc<AtomicBool>) {
    let mut backlog: Vec<Vec<u8>> = Vec::new();
    let mut overruns = 0;
    let _ = std::thread::Builder::new().name(format!("rump-link{iface}")).spawn(move || loop {
        if stop.load(Ordering::Acquire) {
            return;
        }
        // A broken source counts as receive errors of the interface, once
        // per breakage.
        let broken = source.new_faults();
        if broken > 0 {
            let Some(sh) = kernel.upgrade() else { return };
            let mut st = sh.state.lock();
            if let Some(ifc) = st.net.ifaces.get_mut(iface) {
                ifc.counters.rx_errors += broken;
            }
        }
        let room = BACKLOG.saturating_sub(backlog.len());
        backlog.extend(std::iter::from_fn(|| source.next_frame()).take(room));
        overruns += source.new_overruns();
        if backlog.is_empty() {
            source.wait(IDLE);
            continue;
        }
        let Some(sh) = kernel.upgrade() else { return };
        // Wake-ups go out once the lock is released.
        let live = crate::wchan::deferring(|| {
            let st = if backlog.len() < BACKLOG { sh.state.try_lock_for(LOCK_SLICE) } else { Some(sh.state.lock()) };
            // Busy: back to the link, which may be filling up meanwhile.
            let Some(mut st) = st else { return true };
            if st.halted || stop.load(Ordering::Acquire) {
                return false;
            }
            if let Some(ifc) = st.net.ifaces.get_mut(iface) {
                ifc.counters.rx_overruns += std::mem::take(&mut overruns);
            }
            for f in backlog.drain(..backlog.len().min(BUDGET)) {
                st.net.link_input(iface, &f);
            }
            st.net_run();
            st.net_kick(&sh);
            true
        });
        if !live {
            return;
        }
    });
}
