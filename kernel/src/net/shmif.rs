//! The shmif Ethernet bus: a host file in NetBSD's v3 bus format, mapped
//! `MAP_SHARED` by every interface (in any process) attached to it, so that
//! each sees every frame the others send, and so buses stay readable by
//! NetBSD's own tools. This module owns the file format, the bus lock, the
//! writer, the readers and the wake-ups; filtering frames by sender id and
//! MAC is the interface's business (`accepts` helps it).
//!
//! # Format (host byte order; x86-64 layout)
//!
//! The file is `BUS_SIZE` (1 MiB) long: a 32-byte header (magic
//! `0xca11d054`, version 3, u64 `gen`, u32 `first`, u32 `last`, u32 `lock`,
//! u32 `spare`) and a data ring of `DATA_SIZE` bytes. The ring holds
//! records back to back: a 24-byte record header (u32 len, u32 sec,
//! u32 usec, 4 bytes of padding, u64 sender id) and `len` frame bytes. A
//! record (header included) may wrap byte-wise from the end of the ring to
//! its start. `BusHeader`/`BusHeaderRepr` and `RecordHeader`/`RecordRepr`
//! are the only code that knows these layouts.
//!
//! # Offsets, as NetBSD's if_shmem.c and shmif_busops.c use them
//!
//! - `last` is the offset of the newest record; the next record goes right
//!   after it ("end", `nextpktoff(last)`).
//! - `gen` counts how often the writer reached the end of the ring: a record
//!   that ends at or past `DATA_SIZE` bumps it.
//! - `first` is the offset of the oldest record still intact. If `first` is
//!   at or past the end offset, the oldest record is from the previous lap
//!   (generation `gen - 1`); otherwise it is from this one. A new bus has
//!   `first == DATA_SIZE`, which by that rule means offset 0 of lap 0, where
//!   a zero-length record (zeroed memory) stands; readers skip it.
//! - A reader keeps (generation, offset) of the next record it will read.
//!   It is caught up when that equals (gen, end); it has lost frames when it
//!   is more than one generation behind or before `first`, and then starts
//!   again at `first`, dropping what it missed, as NetBSD does.
//!
//! This module reasons in "relative" positions: offsets counted from the
//! start of the writer's current lap, so the previous lap is negative. The
//! valid window is `[first, end)`, at most one ring long.
//!
//! Our writer keeps that window exact: it advances `first` past each record
//! the new one overlaps before writing any of its bytes, and once the ring
//! has wrapped it always stores a real offset in `first` (NetBSD keeps the
//! `DATA_SIZE` sentinel until its first wrap, which makes one exact-fit
//! case look like an overrun to its readers; ours never produces that).
//!
//! # What we do differently, and why
//!
//! - Every offset and length read from the file is checked before use:
//!   the file is shared with other processes that may be buggy or hostile.
//!   A record longer than `MAX_FRAME` or running past the end of the valid
//!   window is malformed: the reader counts an error and resyncs at the
//!   newest record (or, when the newest record is the bad one, at where the
//!   next record will go, which writers compute treating a malformed length
//!   as 0). Resyncing at `first` instead would walk into the same bad
//!   record forever. Records of 1..13 bytes (shorter than an Ethernet
//!   header) are skipped and counted as errors too; zero-length records are
//!   skipped silently, because that is how the empty bus looks.
//! - When the writer, advancing `first`, meets a malformed record, it makes
//!   the new record the oldest: the chain of lengths cannot be followed
//!   past the damage, and this puts `first` back on a true boundary.
//! - Readers take the bus lock, as NetBSD's do, so they see consistent
//!   headers and frames. A lock held for more than about a second is taken
//!   over: its holder has almost certainly died (NetBSD's lock comment
//!   admits it then "will misbehave severely", i.e. hangs every user).
//! - A lock word that is neither 0 nor 1 is treated as free, as NetBSD's
//!   lock loop does.
//! - Version 0 with the right magic is accepted: NetBSD's attach writes the
//!   magic but not the version, which only its first wake-up write sets.
//! - A file shorter than `BUS_SIZE` is a new bus only if it is all zeros
//!   (it is then grown); anything else short is `EINVAL`. NetBSD truncates
//!   whatever it is given to 1 MiB, which would destroy a file named by
//!   mistake. A longer file with a good header is used as is: only the first
//!   `BUS_SIZE` bytes are the bus.
//!
//! # Keeping up, and what is lost when a reader does not
//!
//! Writers never wait: a bus has readers in other processes that may be
//! stopped, slow or gone, and NetBSD's readers publish no position to wait
//! for. Loss is kept off a clean bus from the reading side instead: the
//! stack's bus thread (`softnet::BusLinks`) drains the ring into a
//! backlog of its own whatever its kernel is doing, and the flows that
//! cross a bus are bounded (TCP by its windows; UDP senders by their send
//! buffers when a link is slower than they are), far below a ring's worth.
//! A reader that still falls a lap behind resyncs at `first`, and that
//! counts as one overrun (`BusReader::lost`), shown per interface as its
//! receive fifo errors (/proc/net/dev) and in `rumpctl net status`.
//!
//! # Surviving the file
//!
//! Whoever can write the bus file can truncate it, replace it or scribble
//! on its header; none of that may kill or wedge an interface. A truncated
//! file under the mapping would raise SIGBUS: `busguard` contains it,
//! putting anonymous memory where the mapping was. Each call checks the
//! file every `CHECK_PERIOD` (and at once after a contained SIGBUS): a
//! path that names another file now is followed, a file cut short is
//! grown back if it holds only zeros (it is a new bus then), the mapping is
//! remade if the guard replaced it, and the header must be valid. Until it
//! all holds the bus is unusable (sends fail with ENETDOWN, counted by the
//! interface, and readers see nothing); this is logged once, counted in
//! `Bus::faults`, and the bus recovers by itself when the file is a bus
//! again.
//!
//! # Wake-ups
//!
//! A writer wakes readers once per batch, not per frame: `append` puts a
//! frame in the ring and `wake_readers` wakes them for everything appended
//! since the last wake-up (`send` does both; the stack appends the frames
//! one piece of work sends and wakes at its end). A wake-up (1) increments
//! `spare` (its low 31 bits) and, only if a reader has said it sleeps (the
//! top bit, `SLEEPING`), does a shared `FUTEX_WAKE` on it, and (2)
//! `pwrite`s the 4-byte version value at file offset 4, NetBSD's wake-up,
//! which fires inotify/kqueue for NetBSD readers (stores through a mapping
//! do not). Using `spare` as a change counter is our extension: NetBSD
//! leaves it 0 and its readers ignore it. Our readers set `SLEEPING` and
//! `FUTEX_WAIT` on it with a timeout (`prepare_wait` lets one thread
//! sleep on the counters of several buses at once: see `futexv`); frames
//! from writers that do not bump it (NetBSD's) are seen when that timeout
//! expires, so callers should keep it short (NetBSD polls every 10 ms
//! where it has no file events).

use super::busguard::Guard;
use super::futexv::FutexWord;
use parking_lot::Mutex;
use rump_abi::native::errno::{EINVAL, EMSGSIZE, ENETDOWN};
use rump_abi::Errno;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The size of a bus file, and of the mapping.
pub const BUS_SIZE: usize = 1 << 20;
/// The largest frame: 1500 bytes of payload and a 14-byte Ethernet header
/// (no FCS, no VLAN tag).
pub const MAX_FRAME: usize = 1514;
pub const MAGIC: u32 = 0xca11_d054;
pub const VERSION: u32 = 3;
pub const HEADER_LEN: usize = 32;
pub const RECORD_HEADER_LEN: usize = 24;
/// The size of the data ring that follows the header.
pub const DATA_SIZE: usize = BUS_SIZE - HEADER_LEN;

const ETHER_HDR_LEN: usize = 14;
const RING: i64 = DATA_SIZE as i64;
const RECHDR: i64 = RECORD_HEADER_LEN as i64;
/// NetBSD's LOCK_COOLDOWN: failed spins before sleeping 1 ms.
const LOCK_SPINS: u32 = 1001;
/// 1 ms sleeps after which a held lock is presumed abandoned.
const LOCK_STALE_SLEEPS: u32 = 1000;
/// The bit of `spare` a reader sets before it sleeps on it, so that
/// writers make the futex call only when someone waits.
const SLEEPING: u32 = 1 << 31;

/// Byte offsets of the bus header's fields and of a record header's.
mod field {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 4;
    pub const GEN: usize = 8;
    pub const FIRST: usize = 16;
    pub const LAST: usize = 20;
    pub const LOCK: usize = 24;
    pub const SPARE: usize = 28;

    pub const LEN: usize = 0;
    pub const SEC: usize = 4;
    pub const USEC: usize = 8;
    pub const SENDER: usize = 16;
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(a)
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(a)
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

/// Why some bytes are not a usable bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadBus {
    /// Fewer bytes than a bus has.
    Short(u64),
    /// Not a regular file (a FIFO or a device is never a bus).
    NotRegular,
    Magic(u32),
    /// The magic of a bus written by a host of the other byte order.
    Swapped,
    Version(u32),
    First(u32),
    Last(u32),
    /// Magic 0 (a new bus) but other bytes are set: not ours to initialise.
    NotZero,
}

impl fmt::Display for BadBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BadBus::Short(n) => write!(f, "not a shmif bus: {n} bytes long, a bus has {BUS_SIZE}"),
            BadBus::NotRegular => write!(f, "not a regular file"),
            BadBus::Magic(0) => write!(f, "not a shmif bus: no magic (never attached to)"),
            BadBus::Magic(m) => write!(f, "not a shmif bus: magic {m:#010x}, expected {MAGIC:#010x}"),
            BadBus::Swapped => write!(f, "a shmif bus of the other byte order"),
            BadBus::Version(v) => write!(f, "shmif bus version {v}, expected {VERSION}"),
            BadBus::First(o) => write!(f, "corrupt shmif bus: first offset {o} outside the ring"),
            BadBus::Last(o) => write!(f, "corrupt shmif bus: last offset {o} outside the ring"),
            BadBus::NotZero => write!(f, "not a shmif bus: no magic but not all zeros"),
        }
    }
}

impl std::error::Error for BadBus {}

impl From<BadBus> for Errno {
    fn from(_: BadBus) -> Errno {
        EINVAL
    }
}

/// Why a record in the ring cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadRecord {
    /// A length above `MAX_FRAME`.
    Length(u32),
    /// A length that runs past the newest record's end.
    PastEnd(u32),
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BadRecord::Length(n) => write!(f, "bad length {n} (largest frame is {MAX_FRAME})"),
            BadRecord::PastEnd(n) => write!(f, "length {n} runs past the newest frame"),
        }
    }
}

/// A view of the 32-byte bus header over some bytes, smoltcp style:
/// accessors read the fields; `new_checked` makes sure they are there.
#[derive(Clone, Debug)]
pub struct BusHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> BusHeader<T> {
    /// A view whose accessors panic if `buffer` is shorter than a header.
    pub fn new_unchecked(buffer: T) -> Self {
        BusHeader { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, BadBus> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(BadBus::Short(len as u64));
        }
        Ok(BusHeader { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn magic(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::MAGIC)
    }

    pub fn version(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VERSION)
    }

    pub fn gen(&self) -> u64 {
        get_u64(self.buffer.as_ref(), field::GEN)
    }

    pub fn first(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::FIRST)
    }

    pub fn last(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::LAST)
    }

    pub fn lock(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::LOCK)
    }

    pub fn spare(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SPARE)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> BusHeader<T> {
    pub fn set_magic(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::MAGIC, v)
    }

    pub fn set_version(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::VERSION, v)
    }

    pub fn set_gen(&mut self, v: u64) {
        put_u64(self.buffer.as_mut(), field::GEN, v)
    }

    pub fn set_first(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::FIRST, v)
    }

    pub fn set_last(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::LAST, v)
    }

    pub fn set_lock(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::LOCK, v)
    }

    pub fn set_spare(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::SPARE, v)
    }
}

/// A bus header whose fields are known to be usable: the magic is ours,
/// the version is 3 (or 0: see the module doc), and `first` and `last` are
/// inside the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusHeaderRepr {
    pub version: u32,
    pub gen: u64,
    pub first: u32,
    pub last: u32,
    pub lock: u32,
    pub spare: u32,
}

impl BusHeaderRepr {
    /// The header of a freshly initialised bus.
    pub const fn new() -> Self {
        BusHeaderRepr { version: VERSION, gen: 0, first: DATA_SIZE as u32, last: 0, lock: 0, spare: 0 }
    }

    pub fn parse<T: AsRef<[u8]>>(h: &BusHeader<T>) -> Result<Self, BadBus> {
        match h.magic() {
            MAGIC => {}
            m if m == MAGIC.swap_bytes() => return Err(BadBus::Swapped),
            m => return Err(BadBus::Magic(m)),
        }
        let version = h.version();
        if version != VERSION && version != 0 {
            return Err(BadBus::Version(version));
        }
        let first = h.first();
        if first as usize > DATA_SIZE {
            return Err(BadBus::First(first));
        }
        let last = h.last();
        if last as usize >= DATA_SIZE {
            return Err(BadBus::Last(last));
        }
        Ok(BusHeaderRepr { version, gen: h.gen(), first, last, lock: h.lock(), spare: h.spare() })
    }

    /// Writes every field, the magic included.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, h: &mut BusHeader<T>) {
        h.set_magic(MAGIC);
        h.set_version(self.version);
        h.set_gen(self.gen);
        h.set_first(self.first);
        h.set_last(self.last);
        h.set_lock(self.lock);
        h.set_spare(self.spare);
    }
}

impl Default for BusHeaderRepr {
    fn default() -> Self {
        Self::new()
    }
}

/// A view of a 24-byte record header.
#[derive(Clone, Debug)]
pub struct RecordHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RecordHeader<T> {
    /// A view whose accessors panic if `buffer` is shorter than a header.
    pub fn new_unchecked(buffer: T) -> Self {
        RecordHeader { buffer }
    }

    /// `None` if `buffer` is shorter than a record header.
    pub fn new_checked(buffer: T) -> Option<Self> {
        (buffer.as_ref().len() >= RECORD_HEADER_LEN).then_some(RecordHeader { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn len(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::LEN)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn sec(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEC)
    }

    pub fn usec(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::USEC)
    }

    pub fn sender(&self) -> u64 {
        get_u64(self.buffer.as_ref(), field::SENDER)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RecordHeader<T> {
    pub fn set_len(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::LEN, v)
    }

    pub fn set_sec(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::SEC, v)
    }

    pub fn set_usec(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), field::USEC, v)
    }

    pub fn set_sender(&mut self, v: u64) {
        put_u64(self.buffer.as_mut(), field::SENDER, v)
    }
}

/// A record header with a length no frame exceeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRepr {
    pub len: u32,
    pub sec: u32,
    pub usec: u32,
    pub sender: u64,
}

impl RecordRepr {
    pub fn parse<T: AsRef<[u8]>>(h: &RecordHeader<T>) -> Result<Self, BadRecord> {
        let len = h.len();
        if len as usize > MAX_FRAME {
            return Err(BadRecord::Length(len));
        }
        Ok(RecordRepr { len, sec: h.sec(), usec: h.usec(), sender: h.sender() })
    }

    /// Writes every field and zeroes the padding.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, h: &mut RecordHeader<T>) {
        h.set_len(self.len);
        h.set_sec(self.sec);
        h.set_usec(self.usec);
        h.buffer.as_mut()[12..16].fill(0);
        h.set_sender(self.sender);
    }
}

/// Byte access to a data ring, wrapping at its end. Offsets are always
/// below `DATA_SIZE` and lengths at most `DATA_SIZE`: callers reduce them.
trait Ring {
    fn copy_out(&self, off: usize, out: &mut [u8]);
}

/// Splits `len` bytes at `off` into the part before the ring's end and the
/// part wrapped to its start.
fn split(off: usize, len: usize) -> (usize, usize) {
    let head = len.min(DATA_SIZE - off);
    (head, len - head)
}

impl Ring for [u8] {
    fn copy_out(&self, off: usize, out: &mut [u8]) {
        let (head, tail) = split(off, out.len());
        out[..head].copy_from_slice(&self[off..off + head]);
        out[head..].copy_from_slice(&self[..tail]);
    }
}

/// The data ring inside a `Bus` mapping. Its bytes are only touched under
/// the bus lock, which orders them with other cooperating processes; a
/// process ignoring the lock can only make us copy garbage, which is
/// validated after the copy.
struct MappedRing {
    data: *mut u8,
}

impl Ring for MappedRing {
    fn copy_out(&self, off: usize, out: &mut [u8]) {
        let (head, tail) = split(off, out.len());
        // SAFETY: off + head <= DATA_SIZE and tail <= DATA_SIZE, inside the
        // mapping, which lives as long as the Bus this ring borrows.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data.add(off), out.as_mut_ptr(), head);
            std::ptr::copy_nonoverlapping(self.data, out.as_mut_ptr().add(head), tail);
        }
    }
}

impl MappedRing {
    fn copy_in(&self, off: usize, bytes: &[u8]) {
        let (head, tail) = split(off, bytes.len());
        // SAFETY: as in copy_out.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data.add(off), head);
            std::ptr::copy_nonoverlapping(bytes.as_ptr().add(head), self.data, tail);
        }
    }
}

/// Ring offset of a relative position (which may be negative: previous lap).
fn ring_off(rel: i64) -> usize {
    rel.rem_euclid(RING) as usize
}

fn read_record_header<R: Ring + ?Sized>(ring: &R, rel: i64) -> RecordHeader<[u8; RECORD_HEADER_LEN]> {
    let mut b = [0u8; RECORD_HEADER_LEN];
    ring.copy_out(ring_off(rel), &mut b);
    RecordHeader::new_unchecked(b)
}

/// How far the record at `rel` reaches, for finding where the next record
/// goes: a malformed length counts as 0, so that a garbage newest record
/// cannot send the writer anywhere far, and readers agree with writers.
fn stride<R: Ring + ?Sized>(ring: &R, rel: i64) -> i64 {
    let len = read_record_header(ring, rel).len() as usize;
    RECHDR + if len > MAX_FRAME { 0 } else { len as i64 }
}

/// The valid part of the ring at one moment, in positions relative to the
/// start of the writer's current lap (see the module doc).
#[derive(Clone, Copy, Debug)]
struct Window {
    gen: u64,
    /// The oldest record, in `[end - RING, end]`.
    first: i64,
    /// The newest record.
    last: i64,
    /// Where the next record goes, in `[0, RING)`.
    end: i64,
}

impl Window {
    fn new<R: Ring + ?Sized>(h: &BusHeaderRepr, ring: &R) -> Window {
        let last = i64::from(h.last);
        let mut end = last + stride(ring, last);
        let mut last_rel = last;
        if end >= RING {
            end -= RING;
            last_rel -= RING;
        }
        let first = i64::from(h.first);
        let first = if first >= end { first - RING } else { first };
        Window { gen: h.gen, first, last: last_rel, end }
    }

    /// The relative position of a reader's (generation, offset); an error
    /// if it is more than a lap away, Err(true) meaning ahead of the writer.
    fn rel(&self, gen: u64, pos: u32) -> Result<i64, bool> {
        match self.gen.wrapping_sub(gen) {
            0 => Ok(i64::from(pos)),
            1 => Ok(i64::from(pos) - RING),
            d => Err(d > u64::MAX / 2),
        }
    }

    /// The (generation, offset) of a relative position.
    fn cursor(&self, rel: i64) -> (u64, u32) {
        let laps = rel.div_euclid(RING);
        (self.gen.wrapping_add_signed(laps), ring_off(rel) as u32)
    }

    /// Reads the header of the record at `rel` (inside the window) and
    /// checks it fits; returns it and the position after the record.
    fn record<R: Ring + ?Sized>(&self, ring: &R, rel: i64) -> Result<(RecordRepr, i64), BadRecord> {
        let rec = RecordRepr::parse(&read_record_header(ring, rel))?;
        let next = rel + RECHDR + i64::from(rec.len);
        if next > self.end {
            return Err(BadRecord::PastEnd(rec.len));
        }
        Ok((rec, next))
    }

    fn frame_bytes<R: Ring + ?Sized>(ring: &R, rel: i64, len: u32) -> Vec<u8> {
        let mut data = vec![0u8; len as usize];
        ring.copy_out(ring_off(rel + RECHDR), &mut data);
        data
    }
}

/// One frame off the bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub sender: u64,
    pub sec: u32,
    pub usec: u32,
    pub data: Vec<u8>,
}

/// An open bus: the file and its 1 MiB shared mapping, which stays at one
/// address for the bus's life (the file behind it may change: see
/// "Surviving the file" in the module doc).
pub struct Bus {
    path: PathBuf,
    file: Mutex<File>,
    map: NonNull<u8>,
    guard: Option<Guard>,
    health: Mutex<Health>,
    faults: AtomicU64,
    /// Frames were appended that readers have not been woken for.
    unannounced: AtomicBool,
    /// Where the reader that passes over one sender's frames stood when
    /// it last found the bus caught up, moved past each frame that sender
    /// appended since: an interface never has to keep up with itself (see
    /// `BusReader::next_into`). Taken under the bus lock.
    caught_up: Mutex<Option<Caught>>,
}

/// A reader's position that only its own interface's frames followed.
#[derive(Clone, Copy)]
struct Caught {
    sender: u64,
    gen: u64,
    pos: u32,
}

/// Whether the bus is usable, and when that was last made sure of.
struct Health {
    /// Why the bus is not usable now (None: it is).
    down: Option<String>,
    checked: Instant,
    /// (device, inode) of the file the mapping shows; None once the SIGBUS
    /// guard has put anonymous pages there.
    mapped: Option<(u64, u64)>,
}

/// How often a usable bus checks that its file is still the bus (not
/// truncated, replaced or given a bad header), and a broken one whether it
/// is a bus again.
pub const CHECK_PERIOD: Duration = Duration::from_millis(100);

// SAFETY: the mapping is shared memory touched only through atomics and
// under the bus lock; nothing in it is tied to a thread.
unsafe impl Send for Bus {}
unsafe impl Sync for Bus {}

impl Drop for Bus {
    fn drop(&mut self) {
        // The guard goes first: the mapping is not ours once unmapped.
        self.guard = None;
        // SAFETY: the mapping was made with this length in `open` and no
        // reference into it outlives the Bus.
        unsafe { libc::munmap(self.map.as_ptr().cast(), BUS_SIZE) };
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus").field("path", &self.path).finish()
    }
}

fn io_errno(e: &std::io::Error) -> Errno {
    match e.raw_os_error() {
        Some(n) => rump_abi::errno::linux_to_native(Errno(n)),
        None => EINVAL,
    }
}

fn last_errno() -> Errno {
    io_errno(&std::io::Error::last_os_error())
}

/// Holds the bus lock; unlocks when dropped.
struct BusLock<'a> {
    word: &'a AtomicU32,
}

impl Drop for BusLock<'_> {
    fn drop(&mut self) {
        self.word.store(0, Ordering::Release);
    }
}

/// Holds an flock on the bus file while `open` looks at and initialises
/// it, so that two of our openers never both grow or initialise it. It must
/// be dropped while the fd is still open.
struct FileLock(libc::c_int);

impl FileLock {
    fn new(fd: libc::c_int) -> FileLock {
        // Advisory and best effort: NetBSD does not take it, and the bus
        // lock still guards the header; a filesystem without flock only
        // loses the protection of two of our openers against each other.
        // SAFETY: plain syscall on an fd the caller owns.
        while unsafe { libc::flock(fd, libc::LOCK_EX) } != 0 {
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
        }
        FileLock(fd)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: as in new.
        unsafe { libc::flock(self.0, libc::LOCK_UN) };
    }
}

/// The (device, inode) that tells files apart.
fn file_id(file: &File) -> std::io::Result<(u64, u64)> {
    file.metadata().map(|m| (m.dev(), m.ino()))
}

/// Opens (creating on demand, 0644) the regular file at `path`.
fn open_file(path: &Path) -> Result<File, Errno> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o644)
        // A FIFO must not block the open; it is refused below.
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| io_errno(&e))?;
    if !file.metadata().map_err(|e| io_errno(&e))?.file_type().is_file() {
        return Err(BadBus::NotRegular.into());
    }
    Ok(file)
}

/// Grows a short file to `BUS_SIZE` if it may become a bus: empty, or all
/// zeros but for the version word a wake-up write may have put back into
/// a truncated bus. Anything else short is not ours to change.
fn make_full_size(file: &File) -> Result<(), Errno> {
    let size = file.metadata().map_err(|e| io_errno(&e))?.len();
    if size >= BUS_SIZE as u64 {
        return Ok(());
    }
    let mut prefix = Vec::with_capacity(size as usize);
    file.take(size).read_to_end(&mut prefix).map_err(|e| io_errno(&e))?;
    let version = field::VERSION..field::VERSION + 4;
    if prefix.iter().enumerate().any(|(i, &b)| b != 0 && !version.contains(&i)) {
        return Err(BadBus::Short(size).into());
    }
    file.set_len(BUS_SIZE as u64).map_err(|e| io_errno(&e))
}

/// Whether the first `BUS_SIZE` bytes of `file` are zeros but for the
/// lock word. A file that is one hole (a new bus) is known to be without
/// reading it; an unreadable one is not zero.
fn zero_but_lock(file: &File) -> bool {
    // SAFETY: plain syscall on an fd `file` owns.
    let data_at = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_DATA) };
    if data_at < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO) {
        return true;
    }
    let lock = field::LOCK..field::LOCK + 4;
    let mut chunk = vec![0u8; 64 << 10];
    (0..BUS_SIZE).step_by(chunk.len()).all(|at| {
        file.read_exact_at(&mut chunk, at as u64).is_ok()
            && chunk.iter().enumerate().all(|(i, &b)| b == 0 || lock.contains(&(at + i)))
    })
}

/// Maps `BUS_SIZE` bytes of `file` shared, at `at` (replacing what is
/// there) or anywhere. Unlike NetBSD, which prefaults the whole megabyte,
/// pages come in as the ring reaches them: an idle node then holds only
/// the header's page of each bus, not 1 MiB, and the faults the bus lock
/// is held across are minor ones (the file's pages are in the page cache),
/// once per page per process.
fn map_file(file: &File, at: Option<NonNull<u8>>) -> Result<NonNull<u8>, Errno> {
    let (addr, fixed) = match at {
        Some(p) => (p.as_ptr().cast(), libc::MAP_FIXED),
        None => (std::ptr::null_mut(), 0),
    };
    // SAFETY: a shared mapping of a file at least BUS_SIZE long, either
    // fresh or over our own mapping of the same length.
    let p = unsafe {
        libc::mmap(addr, BUS_SIZE, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | fixed, file.as_raw_fd(), 0)
    };
    if p == libc::MAP_FAILED {
        return Err(last_errno());
    }
    NonNull::new(p.cast::<u8>()).ok_or(EINVAL)
}

impl Bus {
    /// Opens (creating on demand, 0644, sized to BUS_SIZE) a bus file. A file
    /// that is not a bus (wrong magic, wrong version, too short, first/last
    /// out of range) is Err(EINVAL), never a crash. A file of size 0 or all
    /// zeros is a new bus and gets initialised.
    pub fn open(path: &Path) -> Result<Bus, Errno> {
        let file = open_file(path)?;
        let flock = FileLock::new(file.as_raw_fd());
        make_full_size(&file)?;
        let map = map_file(&file, None)?;
        let mapped = Some(file_id(&file).map_err(|e| io_errno(&e))?);
        let bus = Bus {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            map,
            guard: Guard::new(map.as_ptr(), BUS_SIZE),
            health: Mutex::new(Health { down: None, checked: Instant::now(), mapped }),
            faults: AtomicU64::new(0),
            unannounced: AtomicBool::new(false),
            caught_up: Mutex::new(None),
        };
        let checked = bus.init();
        drop(flock);
        checked.map(|()| bus)
    }

    /// Whether the bus may be used now. A usable bus checks its file every
    /// `CHECK_PERIOD` (and at once if its mapping was found past the end of
    /// the file); a broken one checks whether it is a bus again. Each
    /// change is logged once; each breakage counts in `faults`.
    fn usable(&self) -> bool {
        let broken = self.guard.as_ref().is_some_and(Guard::is_broken);
        let mut h = self.health.lock();
        if !broken && h.checked.elapsed() < CHECK_PERIOD {
            return h.down.is_none();
        }
        h.checked = Instant::now();
        if let Some(g) = self.guard.as_ref().filter(|_| broken) {
            g.mend();
            h.mapped = None;
            self.faults.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(bus = %self.path.display(), "the file was cut short under the mapping");
        }
        match self.revalidate(&mut h.mapped) {
            Ok(()) => {
                if let Some(why) = h.down.take() {
                    tracing::info!(bus = %self.path.display(), "usable again after: {why}");
                }
                if broken {
                    // Sleepers marked themselves (`SLEEPING`) in the old
                    // contents: writers to the new ones would not wake them.
                    FutexWord::wake_all(self.word(field::SPARE), true);
                }
            }
            Err(why) if h.down.is_none() => {
                self.faults.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(bus = %self.path.display(), "unusable until it is a bus again: {why}");
                h.down = Some(why);
            }
            Err(_) => {}
        }
        h.down.is_none()
    }

    /// Makes sure the mapping shows a valid bus: follows the path to a new
    /// file if it was replaced, grows a file truncated to zeros back into a
    /// new bus, maps the file again if the mapping shows another file or
    /// the SIGBUS guard's anonymous pages (`mapped`), and checks the header.
    fn revalidate(&self, mapped: &mut Option<(u64, u64)>) -> Result<(), String> {
        // The usual case, one system call: the path still names the mapped
        // file, full size, and the header is good. Routers pass frames on
        // through this check, so the full one (an flock and three more
        // stats) is kept for when something changed.
        if let Ok(m) = std::fs::metadata(&self.path) {
            if *mapped == Some((m.dev(), m.ino())) && m.len() >= BUS_SIZE as u64 && self.header().is_ok() {
                return Ok(());
            }
        }
        let mut file = self.file.lock();
        let ours = file_id(&file).map_err(|e| e.to_string())?;
        // A path that no longer exists leaves us on the file we have.
        let on_path = std::fs::metadata(&self.path).ok().map(|m| (m.dev(), m.ino()));
        if on_path.is_some_and(|id| id != ours) {
            *file =
                open_file(&self.path).map_err(|e| format!("the file was replaced by one that is not a bus ({e:?})"))?;
        }
        let flock = FileLock::new(file.as_raw_fd());
        make_full_size(&file).map_err(|e| format!("the file is short and not empty ({e:?})"))?;
        let now = file_id(&file).map_err(|e| e.to_string())?;
        if *mapped != Some(now) {
            map_file(&file, Some(self.map)).map_err(|e| format!("cannot map the file again ({e:?})"))?;
            *mapped = Some(now);
        }
        drop(file);
        let checked = self.init().map_err(|_| self.header().err().map_or("bad header".into(), |e| e.to_string()));
        drop(flock);
        checked
    }

    /// How often the bus became unusable (truncated, replaced, bad header).
    pub fn faults(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
    }

    /// Initialises a new bus or checks an existing one. Everything is
    /// checked before taking the bus lock, whose word a file that is not a
    /// bus must not have written into, and again under it (which NetBSD's
    /// openers take too) before initialising.
    fn init(&self) -> Result<(), Errno> {
        self.check_new_or_valid()?;
        let _l = self.lock();
        if self.check_new_or_valid()? {
            self.word(field::VERSION).store(VERSION, Ordering::Relaxed);
            self.word(field::FIRST).store(DATA_SIZE as u32, Ordering::Relaxed);
            self.word(field::LAST).store(0, Ordering::Relaxed);
            // Magic last: it is what says the rest is valid.
            self.word(field::MAGIC).store(MAGIC, Ordering::Release);
        }
        Ok(())
    }

    /// Ok(true) for a new bus (all zeros but perhaps the lock word), Ok(false)
    /// for a usable one.
    fn check_new_or_valid(&self) -> Result<bool, BadBus> {
        if self.word(field::MAGIC).load(Ordering::Acquire) != 0 {
            return self.header().map(|_| false);
        }
        // Through the file, not the mapping, so that this process does not
        // take a megabyte of resident pages to look; nobody writes a bus
        // that has no magic yet (writers check it under the lock).
        if zero_but_lock(&self.file.lock()) {
            Ok(true)
        } else {
            Err(BadBus::NotZero)
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn word(&self, at: usize) -> &AtomicU32 {
        // SAFETY: `at` is a 4-aligned field offset inside the page-aligned
        // mapping, which outlives &self.
        unsafe { &*self.map.as_ptr().add(at).cast::<AtomicU32>() }
    }

    fn gen_word(&self) -> &AtomicU64 {
        // SAFETY: as in word; the field is 8-aligned.
        unsafe { &*self.map.as_ptr().add(field::GEN).cast::<AtomicU64>() }
    }

    fn ring(&self) -> MappedRing {
        // SAFETY: the data area starts HEADER_LEN bytes into the mapping.
        MappedRing { data: unsafe { self.map.as_ptr().add(HEADER_LEN) } }
    }

    /// Copies the header out of the mapping, then validates the copy.
    fn header(&self) -> Result<BusHeaderRepr, BadBus> {
        let mut b = [0u8; HEADER_LEN];
        let mut h = BusHeader::new_unchecked(&mut b[..]);
        h.set_magic(self.word(field::MAGIC).load(Ordering::Acquire));
        h.set_version(self.word(field::VERSION).load(Ordering::Relaxed));
        h.set_gen(self.gen_word().load(Ordering::Relaxed));
        h.set_first(self.word(field::FIRST).load(Ordering::Relaxed));
        h.set_last(self.word(field::LAST).load(Ordering::Relaxed));
        h.set_lock(self.word(field::LOCK).load(Ordering::Relaxed));
        h.set_spare(self.word(field::SPARE).load(Ordering::Relaxed));
        BusHeaderRepr::parse(&h)
    }

    /// NetBSD's bus lock: CAS 0→1, spinning, sleeping 1 ms after each
    /// LOCK_SPINS failures; see the module doc for the takeover.
    fn lock(&self) -> BusLock<'_> {
        let word = self.word(field::LOCK);
        let mut spins = 0;
        let mut sleeps = 0;
        loop {
            match word.compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => break,
                Err(0) | Err(1) => {}
                Err(other) => {
                    if word.compare_exchange(other, 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                        break;
                    }
                }
            }
            spins += 1;
            if spins < LOCK_SPINS {
                std::hint::spin_loop();
                continue;
            }
            spins = 0;
            sleeps += 1;
            if sleeps > LOCK_STALE_SLEEPS {
                word.swap(1, Ordering::Acquire);
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        BusLock { word }
    }

    /// Appends one frame from `sender` and wakes readers; see `append`.
    pub fn send(&self, sender: u64, frame: &[u8], sec: u32, usec: u32) -> Result<(), Errno> {
        let sent = self.append(sender, frame, sec, usec);
        self.wake_readers();
        sent
    }

    /// Appends one frame from `sender` without waking readers (a later
    /// `wake_readers` does); EMSGSIZE above MAX_FRAME, EINVAL if empty,
    /// ENETDOWN while the bus is unusable.
    pub fn append(&self, sender: u64, frame: &[u8], sec: u32, usec: u32) -> Result<(), Errno> {
        self.append_parts(sender, &[frame], sec, usec)
    }

    /// `append` for a frame given in pieces (a header and a payload), so
    /// that the caller need not join them first.
    pub fn append_parts(&self, sender: u64, parts: &[&[u8]], sec: u32, usec: u32) -> Result<(), Errno> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len == 0 {
            return Err(EINVAL);
        }
        if len > MAX_FRAME {
            return Err(EMSGSIZE);
        }
        if !self.usable() {
            return Err(ENETDOWN);
        }
        {
            let _l = self.lock();
            let h = self.header()?;
            let ring = self.ring();
            let win = Window::new(&h, &ring);
            let start = win.end;
            let total = RECHDR + len as i64;
            // Bytes at relative position p are overwritten by a write at
            // p + RING: every record starting before `reach` loses bytes.
            let reach = start + total - RING;
            let mut first = win.first;
            while first < reach {
                // A malformed record (or one running past the newest) means
                // the chain from `first` cannot be trusted: the new record
                // becomes the oldest, which puts `first` back on a true
                // record boundary for good.
                match win.record(&ring, first) {
                    Ok((_, next)) => first = next,
                    Err(_) => first = start,
                }
            }
            let wrap = start + total >= RING;

            // `first` moves before any byte is overwritten, so a lock-free
            // observer (dumpbus) never trusts a record being rewritten.
            if first != win.first || wrap {
                self.word(field::FIRST).store(ring_off(first) as u32, Ordering::Relaxed);
            }
            let mut rh = [0u8; RECORD_HEADER_LEN];
            let rec = RecordRepr { len: len as u32, sec, usec, sender };
            rec.emit(&mut RecordHeader::new_unchecked(&mut rh[..]));
            ring.copy_in(start as usize, &rh);
            let mut at = start + RECHDR;
            for part in parts {
                ring.copy_in(ring_off(at), part);
                at += part.len() as i64;
            }
            self.word(field::LAST).store(start as u32, Ordering::Relaxed);
            let mut caught = self.caught_up.lock();
            if let Some(c) = caught.as_mut().filter(|c| c.sender == sender && win.cursor(start) == (c.gen, c.pos)) {
                (c.gen, c.pos) = win.cursor(start + total);
            }
            drop(caught);
            if wrap {
                self.gen_word().store(h.gen.wrapping_add(1), Ordering::Relaxed);
            }
        }
        self.unannounced.store(true, Ordering::Release);
        if self.guard.as_ref().is_some_and(Guard::is_broken) {
            // The file was cut short while the frame went in: it is lost.
            return Err(ENETDOWN);
        }
        Ok(())
    }

    /// Wakes the readers for the frames appended since the last wake-up,
    /// if there are any.
    pub fn wake_readers(&self) {
        if let Some(asleep) = self.announce() {
            self.wake(asleep);
        }
    }

    /// The first half of `wake_readers`: counts the frames appended since
    /// the last wake-up, if there are any, so that a reader looking now
    /// finds them (`may_have_news`); says whether a reader was asleep,
    /// which `wake` must then wake: the count no longer says so.
    pub fn announce(&self) -> Option<bool> {
        if !self.unannounced.swap(false, Ordering::AcqRel) {
            return None;
        }
        let spare = self.word(field::SPARE);
        let bump = |v: u32| Some(((v & !SLEEPING).wrapping_add(1)) & !SLEEPING);
        let old = spare.fetch_update(Ordering::SeqCst, Ordering::SeqCst, bump).unwrap_or_default();
        Some(old & SLEEPING != 0)
    }

    /// The second half of `wake_readers`, after `announce` said whether a
    /// reader was `asleep`.
    pub fn wake(&self, asleep: bool) {
        if asleep {
            // Shared: the kernel keys the word by file and offset, so
            // sleepers in other processes are found.
            FutexWord::wake_all(self.word(field::SPARE), true);
        }
        // NetBSD's wake-up: a write through the file, which mapping stores
        // are not, for inotify/kqueue watchers. It writes what is there.
        let _ = self.file.lock().write_at(&VERSION.to_ne_bytes(), field::VERSION as u64);
    }

    fn new_reader(&self, at_start: bool) -> BusReader {
        self.usable();
        let seen = self.word(field::SPARE).load(Ordering::SeqCst);
        let _l = self.lock();
        let mut r = BusReader { gen: 0, pos: 0, seen: if at_start { None } else { Some(seen) }, errors: 0, lost: 0 };
        if let Ok(h) = self.header() {
            let win = Window::new(&h, &self.ring());
            (r.gen, r.pos) = win.cursor(if at_start { win.first } else { win.end });
        }
        r
    }

    /// A reader positioned after the newest frame (it sees only frames sent
    /// from now on).
    pub fn reader(&self) -> BusReader {
        self.new_reader(false)
    }

    /// A reader positioned at the oldest frame still in the ring.
    pub fn reader_from_start(&self) -> BusReader {
        self.new_reader(true)
    }

    /// Blocks until the bus may have changed since `r` last looked, or
    /// `timeout` passes. Returns at once if `r` has not yet been found
    /// caught up by `next` (so a caller that stops draining early is not
    /// put to sleep with frames waiting).
    pub fn wait(&self, r: &BusReader, timeout: Duration) {
        match self.prepare_wait(r) {
            Sleep::Not => {}
            Sleep::Poll => std::thread::sleep(timeout.min(CHECK_PERIOD)),
            Sleep::On(word) => word.wait(timeout),
        }
    }

    /// How a reader that found `r` caught up sleeps until the bus changes:
    /// on its change counter, having said so (`SLEEPING`), so that the
    /// next wake-up makes the futex call; not at all if it changed since
    /// `r` looked; polling while the bus is unusable (nothing wakes us).
    pub fn prepare_wait(&self, r: &BusReader) -> Sleep<'_> {
        if self.health.lock().down.is_some() {
            return Sleep::Poll;
        }
        let Some(seen) = r.seen else { return Sleep::Not };
        let spare = self.word(field::SPARE);
        let now = spare.load(Ordering::SeqCst);
        if now & !SLEEPING != seen & !SLEEPING {
            return Sleep::Not;
        }
        let asleep = now | SLEEPING;
        if now != asleep && spare.compare_exchange(now, asleep, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return Sleep::Not;
        }
        Sleep::On(FutexWord { word: spare, expect: asleep, shared: true })
    }
}

/// What `Bus::prepare_wait` found.
pub enum Sleep<'a> {
    /// The bus changed: look again now.
    Not,
    /// The bus is unusable: look again in a while (`CHECK_PERIOD`).
    Poll,
    /// Sleep on this word.
    On(FutexWord<'a>),
}

/// A reading position on a bus: (generation, offset) of the next record.
#[derive(Clone, Debug)]
pub struct BusReader {
    gen: u64,
    pos: u32,
    /// The change counter read before `next` last found nothing new; None
    /// if it last returned a frame.
    seen: Option<u32>,
    errors: u64,
    lost: u64,
}

impl BusReader {
    fn seek(&mut self, win: &Window, rel: i64) {
        (self.gen, self.pos) = win.cursor(rel);
    }

    /// The next frame, or None when caught up. A record whose length is 0
    /// or > MAX_FRAME or runs past the valid window is skipped by resyncing
    /// (it counts in `self.errors()`; zero-length records are skipped
    /// silently: see the module doc), never a panic, never an out-of-bounds
    /// read.
    pub fn next(&mut self, bus: &Bus) -> Option<Frame> {
        let mut data = Vec::new();
        let rec = self.next_into(bus, None, &mut data)?;
        Some(Frame { sender: rec.sender, sec: rec.sec, usec: rec.usec, data })
    }

    /// `next` into a buffer the caller keeps (its old contents replaced),
    /// passing over the frames of sender `skip` without copying them: an
    /// interface reading its own bus does not read back what it sent. Nor
    /// need it keep up with them: while such a reader is caught up, `skip`
    /// frames appended through the same `Bus` move it on (so a sender whose
    /// reader does not get to run is not overrun by itself).
    pub fn next_into(&mut self, bus: &Bus, skip: Option<u64>, data: &mut Vec<u8>) -> Option<RecordRepr> {
        loop {
            // Read before looking, so that a send after the look has
            // changed it by the time `wait` compares.
            let counter = bus.word(field::SPARE).load(Ordering::SeqCst);
            if !bus.usable() {
                self.seen = Some(counter);
                return None;
            }
            let _lock = bus.lock();
            let Ok(h) = bus.header() else {
                self.seen = Some(counter);
                return None;
            };
            let ring = bus.ring();
            let win = Window::new(&h, &ring);
            let mut caught = bus.caught_up.lock();
            if let Some(c) = caught.filter(|c| Some(c.sender) == skip) {
                (self.gen, self.pos) = (c.gen, c.pos);
            }
            *caught = None;
            let rel = match win.rel(self.gen, self.pos) {
                Ok(r) if r == win.end => {
                    self.seen = Some(counter);
                    *caught = skip.map(|sender| Caught { sender, gen: self.gen, pos: self.pos });
                    return None;
                }
                Ok(r) if r > win.end => {
                    // Ahead of the writer: only a rewritten header does
                    // that. Going back would replay frames; go to the end.
                    self.errors += 1;
                    self.seek(&win, win.end);
                    continue;
                }
                Ok(r) if r >= win.first => r,
                Err(true) => {
                    self.errors += 1;
                    self.seek(&win, win.end);
                    continue;
                }
                Ok(_) | Err(false) => {
                    self.lost += 1;
                    self.seek(&win, win.first);
                    continue;
                }
            };
            let (rec, next) = match win.record(&ring, rel) {
                Ok(r) => r,
                Err(_) => {
                    self.errors += 1;
                    let to = if rel < win.last { win.last } else { win.end };
                    self.seek(&win, to);
                    continue;
                }
            };
            self.seek(&win, next);
            self.seen = None;
            if (rec.len as usize) < ETHER_HDR_LEN {
                if rec.len != 0 {
                    self.errors += 1;
                }
                continue;
            }
            if skip == Some(rec.sender) {
                continue;
            }
            data.clear();
            data.resize(rec.len as usize, 0);
            ring.copy_out(ring_off(rel + RECHDR), data);
            return Some(rec);
        }
    }

    /// Whether `next_into` may find a frame: false while the bus's change
    /// counter has not moved since this reader last found itself caught
    /// up. Cheaper than looking (no lock, no clock, no header), but blind
    /// to writers that do not count their frames (NetBSD's) and to the
    /// file's health: a reader must still look regularly, e.g. after each
    /// sleep.
    pub fn may_have_news(&self, bus: &Bus) -> bool {
        self.seen.is_none_or(|seen| (bus.word(field::SPARE).load(Ordering::SeqCst) ^ seen) & !SLEEPING != 0)
    }

    /// Malformed records seen.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Resyncs because the reader fell behind (frames it never saw).
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

/// A copy of a whole bus file, read without the lock, for post-mortem
/// tools (`rumpctl dumpbus`): it never blocks on a live bus, and a writer
/// racing with the copy can only make records look malformed.
#[derive(Clone)]
pub struct Snapshot {
    bytes: Vec<u8>,
    header: BusHeaderRepr,
}

/// One record of a snapshot, at its ring offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub offset: u32,
    pub header: RecordRepr,
    pub data: Vec<u8>,
}

/// A record of a snapshot that could not be read; nothing after it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordError {
    pub offset: u32,
    pub error: BadRecord,
}

impl Snapshot {
    /// Checks the header of a bus file's bytes (only the first `BUS_SIZE`
    /// are kept).
    pub fn from_bytes(mut bytes: Vec<u8>) -> Result<Snapshot, BadBus> {
        if bytes.len() < BUS_SIZE {
            return Err(BadBus::Short(bytes.len() as u64));
        }
        bytes.truncate(BUS_SIZE);
        let header = BusHeaderRepr::parse(&BusHeader::new_checked(&bytes[..])?)?;
        Ok(Snapshot { bytes, header })
    }

    /// Reads a bus file without blocking (a FIFO is refused, not waited on).
    pub fn read(path: &Path) -> std::io::Result<Result<Snapshot, BadBus>> {
        let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
        if !f.metadata()?.file_type().is_file() {
            return Ok(Err(BadBus::NotRegular));
        }
        let mut bytes = Vec::with_capacity(BUS_SIZE);
        f.take(BUS_SIZE as u64).read_to_end(&mut bytes)?;
        Ok(Snapshot::from_bytes(bytes))
    }

    pub fn header(&self) -> &BusHeaderRepr {
        &self.header
    }

    fn ring(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..]
    }

    /// The records from the oldest to the newest, zero-length ones included.
    pub fn records(&self) -> Records<'_> {
        let win = Window::new(&self.header, self.ring());
        Records { snap: self, win, rel: win.first, done: false }
    }
}

/// The iterator of `Snapshot::records`.
pub struct Records<'a> {
    snap: &'a Snapshot,
    win: Window,
    rel: i64,
    done: bool,
}

impl Iterator for Records<'_> {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rel >= self.win.end {
            return None;
        }
        let ring = self.snap.ring();
        let offset = ring_off(self.rel) as u32;
        match self.win.record(ring, self.rel) {
            Ok((header, next)) => {
                let data = Window::frame_bytes(ring, self.rel, header.len);
                self.rel = next;
                Some(Ok(Record { offset, header, data }))
            }
            Err(error) => {
                self.done = true;
                Some(Err(RecordError { offset, error }))
            }
        }
    }
}

/// Whether an interface with `own_mac` takes `frame`: addressed to it, to
/// broadcast or a multicast group, or anything when promiscuous. Frames too
/// short for an Ethernet header are never taken.
pub fn accepts(own_mac: [u8; 6], promisc: bool, frame: &[u8]) -> bool {
    if frame.len() < ETHER_HDR_LEN {
        return false;
    }
    promisc || frame[0] & 1 != 0 || frame[..6] == own_mac
}

fn random_bytes(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: writes at most rest.len() bytes into rest.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    if filled == buf.len() {
        return;
    }
    if let Ok(mut f) = File::open("/dev/urandom") {
        if f.read_exact(&mut buf[filled..]).is_ok() {
            return;
        }
    }
    // No kernel randomness at all: ids need only differ between the
    // interfaces on one bus, which std's per-process hash keys, the time
    // and the pid make overwhelmingly likely.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(buf.as_ptr() as usize);
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    for (i, b) in buf[filled..].iter_mut().enumerate() {
        h.write_usize(i);
        *b = h.finish() as u8;
    }
}

/// A random 64-bit sender id for a new interface (never 0).
pub fn random_sender() -> u64 {
    loop {
        let mut b = [0u8; 8];
        random_bytes(&mut b);
        let id = u64::from_ne_bytes(b);
        if id != 0 {
            return id;
        }
    }
}

/// A MAC address for a new interface: `b2:a0` (locally administered,
/// unicast) and 32 random bits, as NetBSD's shmif makes them.
pub fn random_mac() -> [u8; 6] {
    let mut m = [0xb2, 0xa0, 0, 0, 0, 0];
    random_bytes(&mut m[2..]);
    m
}
