//! What the shared mapping holds, and the rules both sides keep.
//!
//! ```text
//! Header (64 bytes)  magic, slot count, doorbell futex, sleeping servers,
//!                    the latest poster's CPU,
//!                    bitmap of posted slots
//! Slot × SLOTS       (128 bytes each) state futex, syscall number, request
//!                    number, argument words, result, the areas it uses,
//!                    the readiness records the caller is to wake (kicks),
//!                    the CPU of the server thread running it
//! ready::Region      which record each slot's call arms, and the
//!                    readiness records of waiting threads (`ready`)
//! Lane × LANES       (page aligned, LANE_LEN bytes each) the data of one
//!                    large read or write at a time (`lane`)
//! Inline × SLOTS     (INLINE_LEN bytes each) the small buffer of the
//!                    slot's call (`lane`)
//! Inline × RECORDS   (INLINE_LEN bytes each) the small buffer of the wait
//!                    a readiness record armed, for its later runs (`ready`)
//! ```
//!
//! A slot's `state` is FREE, POSTED or DONE, with `WAITER` set by a client
//! thread about to sleep on it, `LOST` by the client's own watcher when
//! the server hung up, and `SLEEPS` by the server when the call is about
//! to sleep in the kernel (the client stops spinning then: see `spin`).
//! The client writes the call, stores POSTED, sets the slot's bit and
//! bumps the doorbell; a server clears the bit to
//! claim it, and when the call returns writes the result and swaps in
//! DONE (keeping `SLEEPS`), waking the client if `WAITER` was set. The client reads the
//! result, wakes the threads the reply's `kicks` name, and stores FREE. The server trusts nothing it reads here: a slot
//! is run only if its bit was set and it says POSTED, every field is copied
//! out once, and a slot the server is already running is not run again.

use super::lane::{Area, INLINE_LEN, LANES, LANE_LEN};
use super::ready::{Kicks, RECORDS};
use rump_abi::{Errno, SysResult, MAXARGS};
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};

/// Slots per channel: calls one client can have in flight over it.
pub const SLOTS: usize = 128;
/// "rsh7": the layout below.
pub const MAGIC: u32 = 0x7273_6837;

pub const FREE: u32 = 0;
pub const POSTED: u32 = 1;
pub const DONE: u32 = 2;
/// Set in `state` by a client thread that sleeps until DONE.
pub const WAITER: u32 = 1 << 31;
/// Set in `state` by the client itself when the server hung up.
pub const LOST: u32 = 1 << 30;
/// Set in `state` by the server while it runs the call, when the call is
/// about to sleep in the kernel (a read of an empty pipe, a wait); kept
/// with DONE.
pub const SLEEPS: u32 = 1 << 29;
/// The flag bits of `state`: what is left is FREE, POSTED or DONE.
pub const FLAGS: u32 = WAITER | LOST | SLEEPS;

#[repr(C, align(64))]
pub struct Header {
    pub magic: AtomicU32,
    pub slots: AtomicU32,
    /// Bumped by every post; servers sleep on it.
    pub doorbell: AtomicU32,
    /// Server threads asleep on the doorbell (a post with none skips the wake).
    pub sleeping: AtomicU32,
    /// The CPU the latest post came from (`spin::Cpu`): a server thread on
    /// that CPU does not spin for the next one.
    pub poster_cpu: AtomicU32,
    pub posted: [AtomicU64; SLOTS / 64],
}

#[repr(C, align(64))]
pub struct Slot {
    pub state: AtomicU32,
    pub sysnum: AtomicU32,
    /// Names the call for a CANCEL sent on the socket.
    pub reqno: AtomicU64,
    pub args: [AtomicU64; MAXARGS],
    pub ret: AtomicI64,
    /// 0, or the errno in the client's emulation.
    pub errno: AtomicI32,
    /// The CPU of the server thread that claimed the call (`spin::Cpu`):
    /// its caller on that CPU does not spin for the result.
    pub cpu: AtomicU32,
    /// 0, or the area the call's buffer goes through (`lane::Use`).
    pub window: AtomicU64,
    /// 0, or where the call's path is in the inline area (`lane::PathUse`).
    pub path: AtomicU64,
    /// With the result: the readiness records whose threads the caller
    /// wakes (`ready::refreshing`), a bit each.
    pub kicks: [AtomicU64; RECORDS / 64],
}

/// Where the readiness region (`ready::Region`) starts.
pub const fn ready_offset() -> usize {
    std::mem::size_of::<Header>() + SLOTS * std::mem::size_of::<Slot>()
}

/// Where the first lane starts (on a page of its own).
pub const fn lanes_offset() -> usize {
    (ready_offset() + std::mem::size_of::<super::ready::Region>()).next_multiple_of(4096)
}

/// Where slot 0's inline area starts (slot `i`'s is `i * INLINE_LEN` on).
pub const fn inline_offset() -> usize {
    lanes_offset() + LANES * LANE_LEN
}

/// Where `area` starts as slot `slot`'s call uses it (`slot` < SLOTS, and
/// a lane's number < LANES).
pub const fn area_offset(area: Area, slot: usize) -> usize {
    match area {
        Area::Lane(i) => lanes_offset() + i * LANE_LEN,
        Area::Inline => inline_offset() + slot * INLINE_LEN,
    }
}

/// Where readiness record `record`'s inline area starts.
pub const fn record_area_offset(record: usize) -> usize {
    inline_offset() + (SLOTS + record) * INLINE_LEN
}

/// Bytes a channel's mapping takes.
pub const fn mapping_len() -> usize {
    record_area_offset(RECORDS)
}

/// A view of a mapping laid out as above.
pub struct Channel<'a> {
    pub header: &'a Header,
    pub slots: &'a [Slot],
}

impl Channel<'_> {
    /// The channel in the mapping at `base`.
    ///
    /// # Safety
    /// `base` must be a live mapping of at least `mapping_len()` bytes,
    /// page aligned, outliving the view; its bytes are only ever reached
    /// through these atomics.
    pub unsafe fn at<'a>(base: *mut u8) -> Channel<'a> {
        let header = unsafe { &*(base as *const Header) };
        let first = unsafe { base.add(std::mem::size_of::<Header>()) } as *const Slot;
        Channel { header, slots: unsafe { std::slice::from_raw_parts(first, SLOTS) } }
    }

    /// Writes the header of a fresh mapping.
    pub fn init(&self) {
        self.header.slots.store(SLOTS as u32, Ordering::Relaxed);
        self.header.magic.store(MAGIC, Ordering::Release);
    }

    /// Whether the server wrote a header this client understands.
    pub fn is_valid(&self) -> bool {
        self.header.magic.load(Ordering::Acquire) == MAGIC && self.header.slots.load(Ordering::Relaxed) == SLOTS as u32
    }
}

impl Slot {
    pub fn result(&self) -> SysResult {
        match self.errno.load(Ordering::Relaxed) {
            0 => Ok(self.ret.load(Ordering::Relaxed)),
            e => Err(Errno(e)),
        }
    }

    /// The server, before it marks the call done.
    pub fn set_result(&self, r: &SysResult, kicks: Kicks) {
        let (ret, errno) = match *r {
            Ok(v) => (v, 0),
            Err(e) => (-1, e.raw()),
        };
        self.ret.store(ret, Ordering::Relaxed);
        self.errno.store(errno, Ordering::Relaxed);
        for (word, k) in self.kicks.iter().zip(kicks) {
            word.store(k, Ordering::Relaxed);
        }
    }

    /// The client, once the call is done.
    pub fn kicks(&self) -> Kicks {
        std::array::from_fn(|i| self.kicks[i].load(Ordering::Relaxed))
    }
}

const _: () = assert!(std::mem::size_of::<Slot>() == 128);
const _: () = assert!(std::mem::size_of::<Header>() == 64);
