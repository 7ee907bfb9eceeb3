//! The client's side of a channel: a thread takes a free slot, posts its
//! call, spins a little, then sleeps on the slot's futex until the server
//! completes it. The slot a thread used last is the one it tries first, so
//! a thread keeps its slot while it has one.
//!
//! The sleep is an untimed futex wait, so the host restarts it after a
//! handler installed with SA_RESTART and ends it with EINTR otherwise, as
//! it would a host read. `wait` reports that EINTR (the caller sends a
//! CANCEL on the socket, as for a socket call), then goes on waiting for
//! the reply the cancelled call still sends. That a server died is learnt
//! from the socket by whoever owns it, which then marks every slot `LOST`
//! (`lose_all`), waking its sleepers.
//!
//! A call's small buffer travels through its slot's inline area, a large
//! read's or write's through a lane (`lane`): the data the kernel reads is
//! copied in before the call is posted, what it writes out once it is
//! done, and a lane is held as long as the slot.

use super::futex::{self, Woke};
use super::lane::{Area, Carry, Dir, PathUse, Plan, INLINE_LEN, LANES};
use super::layout::{
    area_offset, mapping_len, ready_offset, record_area_offset, Channel, Slot, DONE, FLAGS, FREE, LOST, POSTED, SLEEPS,
    SLOTS, WAITER,
};
use super::ready::{self, Owners, Record};
use super::spin::{Cpu, Look, Spin};
use crate::probe::{good_prefix, probe, probe_buffer};
use crate::selfmem::PAGE;
use rump_abi::{Slots, SysResult, UserAddr};
use rump_kernel::shm::Mapping;
use std::cell::Cell;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Once;
use std::time::Instant;

/// Host forks this process has been through: a forked child must not
/// post in its parent's channel, which it still has mapped.
static FORKS: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_fork() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

thread_local! {
    /// The slot this thread used last.
    static HINT: Cell<usize> = const { Cell::new(0) };
}

/// A client's end of one channel.
pub struct ClientChannel {
    map: Mapping,
    /// Bit set = slot free, for this process's threads.
    free: [AtomicU64; SLOTS / 64],
    /// Bit set = lane free.
    lanes: AtomicU32,
    spin: Spin,
    /// `FORKS` when the channel was mapped.
    forks: u64,
    /// Which thread waits with which readiness record.
    pub records: Owners,
}

/// Why a posted call has no result.
pub enum Stop {
    /// A signal handler ran while this thread slept; the call goes on
    /// until `wait` is called again.
    Interrupted,
    /// The server is gone.
    Lost,
}

/// A slot this thread holds for one call.
pub struct Posted<'a> {
    ch: &'a ClientChannel,
    index: usize,
    /// The area this call's buffer goes through, and how.
    area: Option<(Area, Plan)>,
}

impl ClientChannel {
    /// Maps the channel the server (process `server`, if known) passed;
    /// None if it is not one.
    pub fn map(fd: &OwnedFd, server: Option<i32>) -> Option<ClientChannel> {
        static COUNTING: Once = Once::new();
        // SAFETY: registers a handler that only bumps an atomic.
        COUNTING.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(count_fork));
        });
        let map = Mapping::of_fd(fd.as_raw_fd(), mapping_len()).ok()?;
        let free = std::array::from_fn(|_| AtomicU64::new(u64::MAX));
        let forks = FORKS.load(Ordering::Relaxed);
        let lanes = AtomicU32::new((1 << LANES) - 1);
        let ch = ClientChannel { map, free, lanes, spin: Spin::toward(server), forks, records: Owners::default() };
        ch.view().is_valid().then_some(ch)
    }

    fn view(&self) -> Channel<'_> {
        // SAFETY: our mapping is `mapping_len()` bytes and lives as long as `self`.
        unsafe { Channel::at(self.map.as_ptr()) }
    }

    fn slot(&self, i: usize) -> &Slot {
        // SAFETY: as in `view`; the slots array is SLOTS long and `i` < SLOTS.
        unsafe { &*Channel::at(self.map.as_ptr()).slots.as_ptr().add(i) }
    }

    fn take_free(&self) -> Option<usize> {
        let hint = HINT.with(Cell::get);
        let bit = |i: usize| 1u64 << (i % 64);
        if self.free[hint / 64].fetch_and(!bit(hint), Ordering::Acquire) & bit(hint) != 0 {
            return Some(hint);
        }
        for (w, word) in self.free.iter().enumerate() {
            let mut cur = word.load(Ordering::Relaxed);
            while cur != 0 {
                let b = cur.trailing_zeros() as usize;
                match word.compare_exchange_weak(cur, cur & !(1 << b), Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => {
                        HINT.with(|h| h.set(w * 64 + b));
                        return Some(w * 64 + b);
                    }
                    Err(now) => cur = now,
                }
            }
        }
        None
    }

    /// The bytes of `area` as slot `index` uses it, in our mapping.
    fn area_ptr(&self, area: Area, index: usize) -> *mut u8 {
        // SAFETY: our lanes are numbered below LANES and slot `index` <
        // SLOTS: inside our mapping of `mapping_len()` bytes.
        unsafe { self.map.as_ptr().add(area_offset(area, index)) }
    }

    /// An area for slot `index`'s call, which would use one as `plan`
    /// says, with the data the kernel reads already in it, and the plan
    /// for the part of the buffer that is good (`lane`); None if that
    /// part is empty or not the whole of a buffer that cannot be
    /// shortened (the server's copy then finds the fault, as a host call
    /// would), or a large one finds no lane free.
    fn lend(&self, plan: Plan, index: usize) -> Option<(Area, Plan)> {
        let writable = plan.dir != Dir::FromCaller;
        let small = plan.len <= INLINE_LEN;
        // A small buffer's pages are mostly ones this thread used before:
        // `probe` remembers them and costs no syscall then.
        let whole =
            if small { probe(plan.buf, plan.len, writable) } else { probe_buffer(plan.buf, plan.len, writable) };
        let plan = match whole {
            Ok(()) => plan,
            Err(_) => match good_prefix(plan.buf, plan.len, writable) {
                0 => return None,
                good => plan.shortened(good)?,
            },
        };
        let area = if small { Area::Inline } else { Area::Lane(self.take_lane()?) };
        if plan.dir != Dir::ToCaller {
            // SAFETY: `probe` found the buffer readable; the area holds at
            // least `plan.len` bytes.
            unsafe { std::ptr::copy_nonoverlapping(plan.buf.0 as *const u8, self.area_ptr(area, index), plan.len) };
        }
        Some((area, plan))
    }

    /// The path at `addr` copied, with its NUL, to the end of slot
    /// `index`'s inline area, if it fits in its last `room` bytes and
    /// `probe` finds it readable up to its NUL; the bytes copied.
    fn lend_path(&self, addr: u64, room: usize, index: usize) -> Option<usize> {
        let mut len = 0;
        while len < room {
            let at = addr.checked_add(len as u64)?;
            let n = ((PAGE - at % PAGE) as usize).min(room - len);
            probe(UserAddr(at), n, false).ok()?;
            // SAFETY: `probe` found these `n` bytes readable.
            let bytes = unsafe { std::slice::from_raw_parts(at as *const u8, n) };
            if let Some(nul) = bytes.iter().position(|&b| b == 0) {
                let len = len + nul + 1;
                // SAFETY: the bytes were found readable above; the inline
                // area holds INLINE_LEN >= room >= len bytes.
                unsafe {
                    let end = self.area_ptr(Area::Inline, index).add(INLINE_LEN);
                    std::ptr::copy_nonoverlapping(addr as *const u8, end.sub(len), len);
                }
                return Some(len);
            }
            len += n;
        }
        None
    }

    fn take_lane(&self) -> Option<usize> {
        let mut cur = self.lanes.load(Ordering::Relaxed);
        loop {
            if cur == 0 {
                return None;
            }
            let b = cur.trailing_zeros();
            match self.lanes.compare_exchange_weak(cur, cur & !(1 << b), Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Some(b as usize),
                Err(now) => cur = now,
            }
        }
    }

    /// The server hung up: every sleeping caller wakes and gives up.
    pub fn lose_all(&self) {
        for slot in self.view().slots {
            if slot.state.fetch_or(LOST, Ordering::SeqCst) & WAITER != 0 {
                futex::wake(&slot.state, i32::MAX);
            }
        }
    }

    fn ready(&self) -> &ready::Region {
        // SAFETY: our mapping is `mapping_len()` bytes, with the region at `ready_offset()`.
        unsafe { ready::region(self.map.as_ptr(), ready_offset()) }
    }

    /// Readiness record `index`.
    pub fn record(&self, index: usize) -> &Record {
        &self.ready().records[index]
    }

    /// Settles record `index` (`Record::settle`): what the server published
    /// for the wait it armed last, with a buffer that came inline copied
    /// from the record's area, where later runs of the wait left it.
    pub fn settle(&self, index: usize) -> Option<SysResult> {
        let carried = self.records.carried(index);
        let area = self.record_area(index);
        self.record(index).settle(|r| {
            if let Some(c) = &carried {
                copy_back(&c.plan, r, area);
            }
        })
    }

    /// Record `index`'s inline area in our mapping.
    fn record_area(&self, index: usize) -> *mut u8 {
        // SAFETY: record `index` < RECORDS: its area is inside our mapping.
        unsafe { self.map.as_ptr().add(record_area_offset(index)) }
    }

    /// A poll (`sysnum`, `args`) answered without a call from what record
    /// `index` holds, if the server watches the same poll over the same
    /// set for it (`ready`, "Watched waits"): Ok(n) with the ready
    /// entries' events in the caller's buffer, or Ok(0) with nothing
    /// ready, the record armed (the caller sleeps until told, as after a
    /// call that armed it). None: ask the server.
    pub fn watched_poll(&self, index: usize, sysnum: u32, args: &Slots) -> Option<SysResult> {
        let c = self.records.carried(index).filter(|c| c.sysnum == sysnum)?;
        let plan = c.plan.for_same_call(&c.args, args)?;
        let record = self.record(index);
        let stage = record.watched()?;
        probe(plan.buf, plan.len, true).ok()?;
        let area = self.record_area(index);
        // SAFETY: the caller's buffer was found writable just now; the
        // record's area is INLINE_LEN >= plan.len bytes of our mapping,
        // which the server may write meanwhile (bytes only, and `still`
        // then fails).
        let (asked, held) = unsafe {
            (std::slice::from_raw_parts(plan.buf.0 as *const u8, plan.len), std::slice::from_raw_parts(area, plan.len))
        };
        if !ready::same_poll_set(asked, held) {
            return None;
        }
        self.records.carry(index, Some(ready::Carried { plan, ..c }));
        let r = record.answer(stage)?;
        match r {
            // Nothing ready: the events of an earlier result may still be
            // in the record's area.
            // SAFETY: found writable above.
            Ok(0) => ready::clear_revents(unsafe { std::slice::from_raw_parts_mut(plan.buf.0 as *mut u8, plan.len) }),
            _ => copy_back(&plan, &r, area),
        }
        record.still(stage).then_some(r)
    }

    /// Posts call `sysnum` with `args` as request `reqno`; None if every
    /// slot is taken or the channel is a parent's (the caller uses the
    /// socket).
    pub fn post(&self, sysnum: u32, args: &Slots, reqno: u64) -> Option<Posted<'_>> {
        self.post_arming(sysnum, args, reqno, None, Carry::default())
    }

    /// As `post`, for a call that arms readiness record `record` (see
    /// `ready`) where it would wait, and whose buffer and path go through
    /// the mapping as `carry` says, where there is room (`lane`).
    pub fn post_arming(
        &self,
        sysnum: u32,
        args: &Slots,
        reqno: u64,
        record: Option<usize>,
        carry: Carry,
    ) -> Option<Posted<'_>> {
        if FORKS.load(Ordering::Relaxed) != self.forks {
            return None;
        }
        let index = self.take_free()?;
        let slot = self.slot(index);
        let area = carry.buf.and_then(|p| self.lend(p, index));
        let room = match area {
            Some((Area::Inline, p)) => INLINE_LEN - p.len,
            _ => INLINE_LEN,
        };
        let path = carry.path.and_then(|arg| Some(PathUse { arg, len: self.lend_path(args[arg], room, index)? }));
        if let Some(r) = record {
            let inline = area.filter(|(a, _)| *a == Area::Inline);
            self.records.carry(r, inline.map(|(_, plan)| ready::Carried { sysnum, args: *args, plan }));
        }
        slot.path.store(path.map_or(0, |p| p.encode()), Ordering::Relaxed);
        slot.cpu.store(0, Ordering::Relaxed);
        let args = &area.map_or(*args, |(_, p)| p.args(args));
        slot.window.store(area.map_or(0, |(a, p)| p.slot_word(a)), Ordering::Relaxed);
        slot.sysnum.store(sysnum, Ordering::Relaxed);
        slot.reqno.store(reqno, Ordering::Relaxed);
        self.ready().arms[index].store(record.map_or(0, |r| r as u32 + 1), Ordering::Relaxed);
        for (a, v) in slot.args.iter().zip(args) {
            a.store(*v, Ordering::Relaxed);
        }
        slot.state.store(POSTED, Ordering::Release);
        let h = self.view().header;
        h.poster_cpu.store(Cpu::current().0, Ordering::Relaxed);
        h.posted[index / 64].fetch_or(1 << (index % 64), Ordering::SeqCst);
        h.doorbell.fetch_add(1, Ordering::SeqCst);
        if h.sleeping.load(Ordering::SeqCst) != 0 {
            futex::wake(&h.doorbell, 1);
        }
        Some(Posted { ch: self, index, area })
    }
}

impl Posted<'_> {
    fn slot(&self) -> &Slot {
        self.ch.slot(self.index)
    }

    /// The call's result if it is done; whether it sleeps in the kernel
    /// if not.
    fn look(&self, me: Cpu) -> Look<SysResult> {
        let slot = self.slot();
        match slot.state.load(Ordering::Acquire) {
            s if s & !FLAGS == DONE => Look::Ready(slot.result()),
            s if s & SLEEPS != 0 => Look::Asleep,
            _ if me.shares(slot.cpu.load(Ordering::Relaxed)) => Look::Asleep,
            _ => Look::Pending,
        }
    }

    /// Waits for the result, with the data the kernel wrote copied from
    /// the call's area into the caller's buffer. Before it sleeps, `server_gone` says whether
    /// the server is already known gone (and may arrange for `lose_all`
    /// should it go later).
    pub fn wait(&self, server_gone: &dyn Fn() -> bool) -> Result<SysResult, Stop> {
        let r = self.wait_done(server_gone)?;
        self.ch.records.kick(self.slot().kicks());
        // A call that armed a wait has its data in place already (the
        // server cleared the slot's word; `LaneMemory::flush`).
        let flushed = || self.slot().window.load(Ordering::Relaxed) == 0;
        if let Some((area, plan)) = self.area.filter(|_| !flushed()) {
            copy_back(&plan, &r, self.ch.area_ptr(area, self.index));
        }
        Ok(r)
    }

    fn wait_done(&self, server_gone: &dyn Fn() -> bool) -> Result<SysResult, Stop> {
        let start = Instant::now();
        let me = Cpu::current();
        if let Some(r) = self.ch.spin.run(|| self.look(me)) {
            return Ok(r);
        }
        let state = &self.slot().state;
        loop {
            let seen = state.fetch_or(WAITER, Ordering::SeqCst) | WAITER;
            // A reply the server wrote before it went away is still the
            // answer (`rumpctl halt`: the server replies, then exits, and
            // the watcher may mark the slot lost before this thread looks).
            if seen & !FLAGS == DONE {
                // A call that slept in the kernel says nothing of how long
                // calls run.
                if seen & SLEEPS == 0 {
                    self.ch.spin.slept(start.elapsed(), true);
                }
                return Ok(self.slot().result());
            }
            if seen & LOST != 0 || server_gone() {
                return Err(Stop::Lost);
            }
            if futex::wait(state, seen, None) == Woke::Interrupted {
                return Err(Stop::Interrupted);
            }
        }
    }
}

/// What a call with result `r` left at `from` (an area holding the
/// buffer of `plan`) into the caller's buffer: a read's first `r` bytes,
/// all of a buffer the kernel may both read and write.
fn copy_back(plan: &Plan, r: &SysResult, from: *const u8) {
    let n = plan.dir.bytes_back(r, plan.len);
    // SAFETY: `lend` found the buffer writable; the area holds at least
    // `plan.len` >= n bytes.
    unsafe { std::ptr::copy_nonoverlapping(from, plan.buf.0 as *mut u8, n) };
}

impl Drop for Posted<'_> {
    fn drop(&mut self) {
        // A slot whose call never completed (the server is gone) stays
        // taken, and so does its lane.
        if self.slot().state.load(Ordering::Acquire) & !(WAITER | SLEEPS) == DONE {
            if let Some((Area::Lane(lane), _)) = self.area {
                self.ch.lanes.fetch_or(1 << lane, Ordering::Release);
            }
            self.slot().state.store(FREE, Ordering::Release);
            self.ch.free[self.index / 64].fetch_or(1 << (self.index % 64), Ordering::Release);
        }
    }
}
