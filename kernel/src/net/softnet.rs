//! The stack's own threads: one runs timers (TCP retransmissions and
//! delayed work, neighbour expiry and probes, reassembly), and one per
//! attached shmif interface reads its bus. Both take the kernel lock like
//! a call does, and both hold the kernel only weakly, so they end when it
//! goes (or halts).

use super::iface::IfIndex;
use super::shmif::Bus;
use crate::{Shared, State};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Longest a timer sleep lasts before looking whether the kernel is gone.
const IDLE: Duration = Duration::from_millis(500);
/// Frames a reader takes per trip into the kernel.
const BATCH: usize = 64;

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

/// Starts the thread that reads `bus` for interface `iface`; it skips the
/// frames `sender` wrote and stops when `stop` is set.
pub(crate) fn start_reader(kernel: Weak<Shared>, iface: IfIndex, bus: Arc<Bus>, sender: u64, stop: Arc<AtomicBool>) {
    let mut reader = bus.reader();
    let mut faults = bus.faults();
    let _ = std::thread::Builder::new().name(format!("rump-shmif{iface}")).spawn(move || loop {
        if stop.load(Ordering::Acquire) {
            return;
        }
        // A bus that broke (its file truncated, replaced or scribbled on)
        // counts as a receive error of the interface, once per breakage.
        let now = bus.faults();
        if now != faults {
            let Some(sh) = kernel.upgrade() else { return };
            if let Some(ifc) = sh.state.lock().net.ifaces.get_mut(iface) {
                ifc.counters.rx_errors += now - faults;
            }
            faults = now;
        }
        let mut frames = Vec::new();
        while frames.len() < BATCH {
            match reader.next(&bus) {
                Some(f) if f.sender == sender => {}
                Some(f) => frames.push(f.data),
                None => break,
            }
        }
        if frames.is_empty() {
            bus.wait(&reader, IDLE);
            continue;
        }
        let Some(sh) = kernel.upgrade() else { return };
        // Wake-ups go out once the lock is released.
        let live = crate::wchan::deferring(|| {
            let mut st = sh.state.lock();
            if st.halted || stop.load(Ordering::Acquire) {
                return false;
            }
            for f in &frames {
                st.net.link_input(iface, f);
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
