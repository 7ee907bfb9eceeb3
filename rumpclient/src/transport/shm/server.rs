//! The server's side of a channel: the region it made, which threads wait
//! on the doorbell, and claiming and completing slots.
//!
//! Threads follow the leader/follower pattern, as on the socket: one
//! thread at a time waits for posts (`wait_posted`); the one that claims a
//! call runs it itself, and claims the next posted one when it is done.
//! The caller arranges for a new waiter whenever a call is about to sleep
//! in the kernel (`want_waiter`), so a blocked call never holds up others.

use super::futex;
use super::lane::{Area, LaneMemory, PathUse, Use};
use super::layout::{area_offset, mapping_len, Channel, Slot, DONE, FLAGS, POSTED, SLEEPS, SLOTS, WAITER};
use super::peer::PeerMemory;
use super::ready::{Kicks, Notifiers};
use super::spin::{Cpu, Look, Spin};
use rump_abi::{Errno, Slots, SysResult};
use rump_kernel::mem::Mem;
use rump_kernel::shm::{Mapping, SharedMem};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a waiter sleeps before looking at `retired` again (a retire
/// wakes it sooner).
const RECHECK: Duration = Duration::from_secs(1);

/// A call copied out of its slot.
pub struct Call {
    pub index: usize,
    pub sysnum: u32,
    pub reqno: u64,
    pub args: Slots,
    /// The area its buffer goes through, if the slot names a valid one.
    pub area: Option<Use>,
    /// Where its path is in the inline area, if the slot names a valid place.
    pub path: Option<PathUse>,
}

pub struct ServerChannel {
    region: SharedMem,
    map: Mapping,
    /// Slots whose call is running here (a client cannot make us run one twice).
    running: [AtomicBool; SLOTS],
    /// Threads waiting on the doorbell.
    waiting: AtomicU32,
    retired: AtomicBool,
    spin: Spin,
    /// The client's pid, whose memory calls reach (`peer::PeerMemory`).
    pub pid: i32,
    /// The client threads' readiness notifiers (`ready`).
    pub ready: Notifiers,
}

impl ServerChannel {
    /// A new channel for client `pid`, charged to `mem`.
    pub fn new(mem: Arc<Mem>, pid: i32) -> Result<ServerChannel, Errno> {
        let region = SharedMem::new(c"rump-channel", mapping_len() as u64, mem)?;
        let map = region.map()?;
        let ready = Notifiers::new(region.map()?, pid);
        let ch = ServerChannel {
            region,
            map,
            running: std::array::from_fn(|_| AtomicBool::new(false)),
            waiting: AtomicU32::new(0),
            retired: AtomicBool::new(false),
            spin: Spin::toward(Some(pid)),
            pid,
            ready,
        };
        ch.view().init();
        Ok(ch)
    }

    /// A descriptor of the region for the client to map.
    pub fn client_fd(&self) -> Result<OwnedFd, Errno> {
        self.region.reopen(true)
    }

    fn view(&self) -> Channel<'_> {
        // SAFETY: our mapping is `mapping_len()` bytes and lives as long as `self`.
        unsafe { Channel::at(self.map.as_ptr()) }
    }

    fn slot(&self, i: usize) -> &Slot {
        &self.view().slots[i]
    }

    /// The client's memory as `call` reaches it if its buffer or path
    /// travels through the mapping (`lane`); None if neither does.
    pub fn lane_memory(&self, call: &Call) -> Option<LaneMemory> {
        // SAFETY: a lane's number < LANES (`Use::decode`) and slot
        // `call.index` < SLOTS: inside our mapping of `mapping_len()`
        // bytes, which lives as long as `self`.
        let at = |area| unsafe { self.map.as_ptr().add(area_offset(area, call.index)) };
        let peer = PeerMemory { pid: self.pid };
        let mem = match call.area {
            Some(u) => LaneMemory::new(peer, u, &call.args, at(u.area)),
            None if call.path.is_some() => LaneMemory::peer_only(peer),
            None => return None,
        };
        Some(match call.path {
            Some(p) => mem.with_path(p, &call.args, at(Area::Inline)),
            None => mem,
        })
    }

    /// Claims one posted call, if any, without waiting.
    pub fn claim(&self) -> Option<Call> {
        let h = self.view().header;
        for (w, word) in h.posted.iter().enumerate() {
            let mut cur = word.load(Ordering::Acquire);
            while cur != 0 {
                let b = cur.trailing_zeros() as usize;
                let had = word.fetch_and(!(1 << b), Ordering::AcqRel);
                cur = had & !(1 << b);
                if had & (1 << b) == 0 {
                    continue;
                }
                let index = w * 64 + b;
                let slot = self.slot(index);
                if slot.state.load(Ordering::Acquire) & !FLAGS != POSTED
                    || self.running[index].swap(true, Ordering::AcqRel)
                {
                    continue;
                }
                slot.cpu.store(Cpu::current().0, Ordering::Relaxed);
                let args = std::array::from_fn(|i| slot.args[i].load(Ordering::Relaxed));
                let (sysnum, reqno) = (slot.sysnum.load(Ordering::Relaxed), slot.reqno.load(Ordering::Relaxed));
                let area = Use::decode(slot.window.load(Ordering::Relaxed));
                let path = PathUse::decode(slot.path.load(Ordering::Relaxed));
                return Some(Call { index, sysnum, reqno, args, area, path });
            }
        }
        None
    }

    /// Becomes this channel's waiter unless another thread is one; false
    /// if there already is one.
    pub fn become_waiter(&self) -> bool {
        self.waiting.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// As this channel's waiter (`become_waiter`), waits for a posted call;
    /// None once the channel is retired. Stops being the waiter either way.
    pub fn wait_posted(&self) -> Option<Call> {
        let got = self.wait_while_waiter();
        self.waiting.store(0, Ordering::Release);
        got
    }

    fn wait_while_waiter(&self) -> Option<Call> {
        let h = self.view().header;
        let start = Instant::now();
        let me = Cpu::current();
        let look = || match self.claim() {
            Some(c) => Look::Ready(c),
            None if me.shares(h.poster_cpu.load(Ordering::Relaxed)) => Look::Asleep,
            None => Look::Pending,
        };
        if let Some(c) = self.spin.run(look) {
            return Some(c);
        }
        loop {
            if self.retired.load(Ordering::Acquire) {
                return None;
            }
            h.sleeping.fetch_add(1, Ordering::SeqCst);
            let seen = h.doorbell.load(Ordering::SeqCst);
            let claimed = self.claim();
            if claimed.is_none() && !self.retired.load(Ordering::Acquire) {
                futex::wait(&h.doorbell, seen, Some(RECHECK));
            }
            h.sleeping.fetch_sub(1, Ordering::SeqCst);
            if let Some(c) = claimed.or_else(|| self.claim()) {
                self.spin.slept(start.elapsed(), false);
                return Some(c);
            }
        }
    }

    /// Whether a thread waits for posts now.
    pub fn has_waiter(&self) -> bool {
        self.waiting.load(Ordering::Acquire) != 0
    }

    /// Where `call`'s buffer is, if it came in the slot's inline area: its
    /// window and the area (live while `self` is).
    pub fn inline(&self, call: &Call) -> Option<(Use, *const u8)> {
        let u = call.area.filter(|u| u.area == Area::Inline)?;
        // SAFETY: slot `call.index` < SLOTS: inside our mapping.
        Some((u, unsafe { self.map.as_ptr().add(area_offset(Area::Inline, call.index)) }))
    }

    /// Tells `call`'s client that the data of its area is in its buffer
    /// already (`LaneMemory::flush`): it does not copy it again.
    pub fn flushed(&self, call: &Call) {
        self.slot(call.index).window.store(0, Ordering::Relaxed);
    }

    /// The call of slot `index`, still running here, is about to sleep in
    /// the kernel: its client stops spinning for it.
    pub fn sleeps(&self, index: usize) {
        self.slot(index).state.fetch_or(SLEEPS, Ordering::Release);
    }

    /// Writes `call`'s result and wakes its client if it sleeps; the
    /// client learns whether the call slept here too, and which threads
    /// of its own it is to wake (`ready::refreshing`).
    pub fn complete(&self, call: &Call, result: &SysResult, kicks: Kicks) {
        let slot = self.slot(call.index);
        slot.set_result(result, kicks);
        self.running[call.index].store(false, Ordering::Release);
        let done = |s: u32| Some(DONE | (s & SLEEPS));
        let was = slot.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, done).unwrap_or_default();
        if was & WAITER != 0 {
            futex::wake(&slot.state, 1);
        }
    }

    /// The client is gone or replaced its channel: the waiter leaves.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        self.ready.retire();
        let h = self.view().header;
        h.doorbell.fetch_add(1, Ordering::SeqCst);
        futex::wake(&h.doorbell, i32::MAX);
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }
}
