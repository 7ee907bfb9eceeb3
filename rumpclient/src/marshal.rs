//! Our marshaled syscall (frame type `MSYSCALL`, header value = syscall
//! number): the request carries every input buffer the call's descriptor
//! names and the reply carries every output, so a call whose pointer
//! arguments are all annotated costs one round trip instead of NetBSD's
//! COPYIN/COPYOUT exchanges.
//!
//! This module owns both ends of that exchange:
//! - the client: [`marshal`] reads the inputs through [`ClientMemory`] and
//!   builds a [`ClientCall`], whose [`ClientCall::finish`] checks the reply
//!   and writes the outputs back;
//! - the server: [`MarshaledCall::parse`] validates a request and serves the
//!   kernel's user-memory accesses from the shipped segments through
//!   [`UserMemory`]; [`MarshaledCall::reply`] collects what the call wrote.
//!
//! # Request body
//!
//! ```text
//! offset        size  field
//! 0             4     u32 nslots        argument slots that follow (<= MAXARGS)
//! 4             4     u32 nsegs         segment entries that follow (<= MAX_SEGS)
//! 8             8*ns  u64 slots[nslots] the arguments, pointers as the caller's addresses
//! 8+8*ns        24*nsegs segment table, one entry each:
//!                     u8  arg           the argument slot the segment belongs to
//!                     u8  flags         SEG_IN | SEG_OUT | SEG_STR | SEG_TO_RET
//!                     u16 reserved      0
//!                     u32 iov           iovec index for an iovec's buffer, NO_IOV otherwise
//!                     u64 addr          the caller's address (never 0)
//!                     u64 len           bytes (never 0)
//! ...           rest  the bytes of every SEG_IN segment, in table order, unpadded;
//!                     their lengths must add up to exactly what is left
//! ```
//!
//! An iovec argument travels as one `SEG_IN` segment holding the iovec array
//! itself (the kernel reads it) plus one segment per non-empty buffer.
//!
//! # Reply body (RESP, type MSYSCALL)
//!
//! ```text
//! 0             4     i32 error         0 on success, else the errno (caller's emulation)
//! 4             4     u32 nouts         output entries that follow
//! 8             16    i64 retval[2]     as in NetBSD's SYSCALL response
//! 24            16*no output table, one entry each:
//!                     u32 seg           index into the request's segment table
//!                     u32 len           bytes
//!                     u64 offset        from the segment's start
//! ...           rest  the bytes of every output, in table order
//! ```
//!
//! The first 24 bytes are NetBSD's SYSCALL response with the pad used as
//! `nouts`. Outputs name request segments instead of addresses, so a server
//! can only write where the client declared an output: the client checks
//! each entry against the segment it built (NetBSD's client writes wherever
//! its server says).
//!
//! # What travels
//!
//! A NULL pointer travels as NULL with no segment. An input the client
//! cannot read (EFAULT) travels without a segment, so the server faults
//! exactly when the call touches it, after whatever checks come first. Per
//! call at most `MAX_CALL_IN` input and `MAX_CALL_OUT` output bytes travel,
//! which keeps both frames under `MAX_PAYLOAD`: the byte counts of
//! `InBytes` and `OutBytesToRet` and the lengths of iovec buffers are
//! lowered to fit (a short transfer, which those calls allow; the shipped
//! iovec array carries the lowered lengths), and any other argument too big
//! to fit travels without a segment. Strings travel up to `STR_MAX` bytes
//! including the NUL; a longer one is ENAMETOOLONG on the server.
//!
//! `Opaque` arguments (ioctl, fcntl, sysctl buffers) travel as bare
//! addresses; the server reaches them, and anything else the request did
//! not ship, with COPYIN and COPYOUT round trips (`crate::wire::copy`).

use crate::wire::field::{put_u16, put_u32, put_u64, u16_at, u32_at, u64_at};
use crate::wire::header::MAX_PAYLOAD;
use crate::wire::WireError;
use core::cell::RefCell;
use rump_abi::native::errno::{EFAULT, ENAMETOOLONG};
use rump_abi::usermem::UserMemory;
use rump_abi::{Errno, Marshal, Slots, SysResult, SyscallDesc, UserAddr, MAXARGS};

/// Longest string shipped, NUL included (Linux's PATH_MAX).
pub const STR_MAX: usize = 4096;
/// Input bytes per call.
pub const MAX_CALL_IN: usize = 16 << 20;
/// Output bytes per call.
pub const MAX_CALL_OUT: usize = 16 << 20;
/// Entries in an iovec array (Linux's and our kernel's IOV_MAX).
pub const IOV_MAX: usize = 1024;
/// Segments per request: every slot's pointer plus two iovec arrays in full.
pub const MAX_SEGS: usize = MAXARGS + 2 * (IOV_MAX + 1);
/// Separate written ranges tracked per output segment; beyond this they
/// merge into one covering range (whose gaps then carry zeros, or for an
/// in-out segment the bytes that came in).
pub const MAX_RANGES: usize = 16;

/// The segment is input: its bytes are in the request.
pub const SEG_IN: u8 = 1;
/// The segment is output: what the call writes there comes back.
pub const SEG_OUT: u8 = 2;
/// An `_In_z_` string: a read running off its end is ENAMETOOLONG, since
/// the client only stops short of a NUL at `STR_MAX`.
pub const SEG_STR: u8 = 4;
/// `_Out_writes_bytes_to_(n, return)`: only the first `return` bytes come
/// back, and nothing on error.
pub const SEG_TO_RET: u8 = 8;
/// The `iov` field of a segment that is not an iovec's buffer.
pub const NO_IOV: u32 = u32::MAX;

const REQ_FIXED: usize = 8;
const SEG_ENTRY: usize = 24;
const REPLY_FIXED: usize = 24;
const OUT_ENTRY: usize = 16;
const IOVEC_LEN: usize = 16;

const _: () = assert!(REQ_FIXED + 8 * MAXARGS + SEG_ENTRY * MAX_SEGS + MAX_CALL_IN <= MAX_PAYLOAD);
const _: () = assert!(REPLY_FIXED + OUT_ENTRY * MAX_SEGS * MAX_RANGES + MAX_CALL_OUT <= MAX_PAYLOAD);

fn valid_flags(f: u8) -> bool {
    let dir = f & (SEG_IN | SEG_OUT);
    f & !(SEG_IN | SEG_OUT | SEG_STR | SEG_TO_RET) == 0
        && dir != 0
        && (f & SEG_STR == 0 || dir == SEG_IN)
        && (f & SEG_TO_RET == 0 || dir == SEG_OUT)
}

// ---------------------------------------------------------------------------
// Request: packet and repr.

/// A view of a marshaled request body. `new_checked` guarantees the counts
/// are within bounds and the slot and segment tables lie inside the buffer.
#[derive(Clone, Copy, Debug)]
pub struct MsyscallPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MsyscallPacket<T> {
    pub fn new_unchecked(buffer: T) -> MsyscallPacket<T> {
        MsyscallPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<MsyscallPacket<T>, WireError> {
        let p = MsyscallPacket { buffer };
        let b = p.buffer.as_ref();
        if b.len() < REQ_FIXED {
            return Err(WireError::Truncated);
        }
        if p.nslots() as usize > MAXARGS || p.nsegs() as usize > MAX_SEGS {
            return Err(WireError::TooLarge);
        }
        if b.len() < p.data_offset() {
            return Err(WireError::Truncated);
        }
        Ok(p)
    }

    pub fn nslots(&self) -> u32 {
        u32_at(self.buffer.as_ref(), 0)
    }

    pub fn nsegs(&self) -> u32 {
        u32_at(self.buffer.as_ref(), 4)
    }

    pub fn slot(&self, i: usize) -> u64 {
        u64_at(self.buffer.as_ref(), REQ_FIXED + 8 * i)
    }

    fn seg_at(&self, i: usize) -> usize {
        REQ_FIXED + 8 * self.nslots() as usize + SEG_ENTRY * i
    }

    pub fn seg_arg(&self, i: usize) -> u8 {
        self.buffer.as_ref()[self.seg_at(i)]
    }

    pub fn seg_flags(&self, i: usize) -> u8 {
        self.buffer.as_ref()[self.seg_at(i) + 1]
    }

    pub fn seg_reserved(&self, i: usize) -> u16 {
        u16_at(self.buffer.as_ref(), self.seg_at(i) + 2)
    }

    pub fn seg_iov(&self, i: usize) -> u32 {
        u32_at(self.buffer.as_ref(), self.seg_at(i) + 4)
    }

    pub fn seg_addr(&self, i: usize) -> u64 {
        u64_at(self.buffer.as_ref(), self.seg_at(i) + 8)
    }

    pub fn seg_len(&self, i: usize) -> u64 {
        u64_at(self.buffer.as_ref(), self.seg_at(i) + 16)
    }

    /// Where the input bytes start.
    pub fn data_offset(&self) -> usize {
        self.seg_at(self.nsegs() as usize)
    }

    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[self.data_offset()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> MsyscallPacket<T> {
    pub fn set_counts(&mut self, nslots: u32, nsegs: u32) {
        put_u32(self.buffer.as_mut(), 0, nslots);
        put_u32(self.buffer.as_mut(), 4, nsegs);
    }

    pub fn set_slot(&mut self, i: usize, v: u64) {
        put_u64(self.buffer.as_mut(), REQ_FIXED + 8 * i, v)
    }

    pub fn set_seg(&mut self, i: usize, s: &SegmentRepr) {
        let at = self.seg_at(i);
        let b = self.buffer.as_mut();
        b[at] = s.arg;
        b[at + 1] = s.flags;
        put_u16(b, at + 2, 0);
        put_u32(b, at + 4, s.iov.unwrap_or(NO_IOV));
        put_u64(b, at + 8, s.addr);
        put_u64(b, at + 16, s.len as u64);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        let at = self.data_offset();
        &mut self.buffer.as_mut()[at..]
    }
}

/// One entry of the segment table, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentRepr {
    pub arg: u8,
    pub flags: u8,
    pub iov: Option<u32>,
    pub addr: u64,
    /// Not 0; `addr + len` does not wrap; bounded by the per-call limits.
    pub len: usize,
}

impl SegmentRepr {
    pub fn is_in(&self) -> bool {
        self.flags & SEG_IN != 0
    }

    pub fn is_out(&self) -> bool {
        self.flags & SEG_OUT != 0
    }
}

/// A marshaled request, validated: every segment names a sent slot, has
/// known flags and a non-empty, non-wrapping range at a non-NULL address;
/// the input bytes add up exactly; the totals are within the limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsyscallRepr<'a> {
    pub nslots: usize,
    pub slots: Slots,
    pub segments: Vec<SegmentRepr>,
    /// The input segments' bytes, in table order.
    pub data: &'a [u8],
}

impl<'a> MsyscallRepr<'a> {
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &MsyscallPacket<&'a T>) -> Result<MsyscallRepr<'a>, WireError> {
        let bytes: &'a [u8] = T::as_ref(p.buffer);
        let p = MsyscallPacket::new_checked(bytes)?;
        let nslots = p.nslots() as usize;
        let mut slots = [0u64; MAXARGS];
        for (i, s) in slots.iter_mut().enumerate().take(nslots) {
            *s = p.slot(i);
        }
        let nsegs = p.nsegs() as usize;
        // Bounded by MAX_SEGS and by the table's bytes, which are present.
        let mut segments = Vec::with_capacity(nsegs);
        let (mut total_in, mut total_out) = (0usize, 0usize);
        for i in 0..nsegs {
            let flags = p.seg_flags(i);
            let arg = p.seg_arg(i);
            let (addr, len) = (p.seg_addr(i), p.seg_len(i));
            if !valid_flags(flags) || p.seg_reserved(i) != 0 {
                return Err(WireError::Malformed("segment flags"));
            }
            if arg as usize >= nslots {
                return Err(WireError::Malformed("segment argument"));
            }
            let iov = match p.seg_iov(i) {
                NO_IOV => None,
                j if (j as usize) < IOV_MAX => Some(j),
                _ => return Err(WireError::Malformed("segment iovec index")),
            };
            if addr == 0 || len == 0 || addr.checked_add(len).is_none() {
                return Err(WireError::Malformed("segment range"));
            }
            let len = usize::try_from(len).map_err(|_| WireError::TooLarge)?;
            if flags & SEG_IN != 0 {
                total_in = total_in.checked_add(len).filter(|&t| t <= MAX_CALL_IN).ok_or(WireError::TooLarge)?;
            }
            if flags & SEG_OUT != 0 {
                total_out = total_out.checked_add(len).filter(|&t| t <= MAX_CALL_OUT).ok_or(WireError::TooLarge)?;
            }
            segments.push(SegmentRepr { arg, flags, iov, addr, len });
        }
        let data = &bytes[p.data_offset()..];
        match total_in.cmp(&data.len()) {
            core::cmp::Ordering::Equal => Ok(MsyscallRepr { nslots, slots, segments, data }),
            core::cmp::Ordering::Greater => Err(WireError::Truncated),
            core::cmp::Ordering::Less => Err(WireError::Malformed("bytes after the input segments")),
        }
    }

    pub fn buffer_len(&self) -> usize {
        REQ_FIXED + 8 * self.nslots + SEG_ENTRY * self.segments.len() + self.data.len()
    }

    /// The packet must wrap `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut MsyscallPacket<T>) {
        p.set_counts(self.nslots as u32, self.segments.len() as u32);
        for i in 0..self.nslots {
            p.set_slot(i, self.slots[i]);
        }
        for (i, s) in self.segments.iter().enumerate() {
            p.set_seg(i, s);
        }
        p.data_mut()[..self.data.len()].copy_from_slice(self.data);
    }
}

// ---------------------------------------------------------------------------
// Reply: packet and repr.

/// A view of a marshaled reply body; `new_checked` guarantees the output
/// table lies inside the buffer.
#[derive(Clone, Copy, Debug)]
pub struct MreplyPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MreplyPacket<T> {
    pub fn new_unchecked(buffer: T) -> MreplyPacket<T> {
        MreplyPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<MreplyPacket<T>, WireError> {
        let p = MreplyPacket { buffer };
        let b = p.buffer.as_ref();
        if b.len() < REPLY_FIXED {
            return Err(WireError::Truncated);
        }
        let table = (p.nouts() as usize).checked_mul(OUT_ENTRY).ok_or(WireError::TooLarge)?;
        if b.len() - REPLY_FIXED < table {
            return Err(WireError::Truncated);
        }
        Ok(p)
    }

    pub fn error(&self) -> i32 {
        u32_at(self.buffer.as_ref(), 0) as i32
    }

    pub fn nouts(&self) -> u32 {
        u32_at(self.buffer.as_ref(), 4)
    }

    pub fn retval(&self, i: usize) -> i64 {
        u64_at(self.buffer.as_ref(), 8 + 8 * i) as i64
    }

    pub fn out_seg(&self, i: usize) -> u32 {
        u32_at(self.buffer.as_ref(), REPLY_FIXED + OUT_ENTRY * i)
    }

    pub fn out_len(&self, i: usize) -> u32 {
        u32_at(self.buffer.as_ref(), REPLY_FIXED + OUT_ENTRY * i + 4)
    }

    pub fn out_offset(&self, i: usize) -> u64 {
        u64_at(self.buffer.as_ref(), REPLY_FIXED + OUT_ENTRY * i + 8)
    }

    pub fn data_offset(&self) -> usize {
        REPLY_FIXED + OUT_ENTRY * self.nouts() as usize
    }

    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[self.data_offset()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> MreplyPacket<T> {
    pub fn set_fixed(&mut self, error: i32, nouts: u32, retval: [i64; 2]) {
        let b = self.buffer.as_mut();
        put_u32(b, 0, error as u32);
        put_u32(b, 4, nouts);
        put_u64(b, 8, retval[0] as u64);
        put_u64(b, 16, retval[1] as u64);
    }

    pub fn set_out(&mut self, i: usize, seg: u32, len: u32, offset: u64) {
        let at = REPLY_FIXED + OUT_ENTRY * i;
        let b = self.buffer.as_mut();
        put_u32(b, at, seg);
        put_u32(b, at + 4, len);
        put_u64(b, at + 8, offset);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        let at = self.data_offset();
        &mut self.buffer.as_mut()[at..]
    }
}

/// One output: bytes for `offset..offset + data.len()` of request segment
/// `seg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutRepr<'a> {
    pub seg: u32,
    pub offset: u64,
    pub data: &'a [u8],
}

/// A marshaled reply. `parse` checks only the reply's own structure (the
/// output bytes add up exactly); [`ClientCall::finish`] checks the outputs
/// against the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MreplyRepr<'a> {
    pub error: i32,
    pub retval: [i64; 2],
    pub outs: Vec<OutRepr<'a>>,
}

impl<'a> MreplyRepr<'a> {
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &MreplyPacket<&'a T>) -> Result<MreplyRepr<'a>, WireError> {
        let bytes: &'a [u8] = T::as_ref(p.buffer);
        let p = MreplyPacket::new_checked(bytes)?;
        let data = &bytes[p.data_offset()..];
        let n = p.nouts() as usize;
        // Bounded by the table's bytes, which are present.
        let mut outs = Vec::with_capacity(n);
        let mut at = 0usize;
        for i in 0..n {
            let len = p.out_len(i) as usize;
            let end = at.checked_add(len).filter(|&e| e <= data.len()).ok_or(WireError::Truncated)?;
            outs.push(OutRepr { seg: p.out_seg(i), offset: p.out_offset(i), data: &data[at..end] });
            at = end;
        }
        if at != data.len() {
            return Err(WireError::Malformed("bytes after the outputs"));
        }
        Ok(MreplyRepr { error: p.error(), retval: [p.retval(0), p.retval(1)], outs })
    }

    pub fn result(&self) -> SysResult {
        if self.error != 0 {
            Err(Errno(self.error))
        } else {
            Ok(self.retval[0])
        }
    }

    pub fn buffer_len(&self) -> usize {
        REPLY_FIXED + OUT_ENTRY * self.outs.len() + self.outs.iter().map(|o| o.data.len()).sum::<usize>()
    }

    /// The packet must wrap `buffer_len()` bytes; every output is shorter
    /// than 4 GiB (the server's are at most `MAX_CALL_OUT`).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut MreplyPacket<T>) {
        p.set_fixed(self.error, self.outs.len() as u32, self.retval);
        for (i, o) in self.outs.iter().enumerate() {
            p.set_out(i, o.seg, o.data.len() as u32, o.offset);
        }
        let mut at = 0;
        let data = p.data_mut();
        for o in &self.outs {
            data[at..at + o.data.len()].copy_from_slice(o.data);
            at += o.data.len();
        }
    }
}

// ---------------------------------------------------------------------------
// Client side.

/// The calling process's memory as the client sees it.
pub trait ClientMemory {
    /// Reads `buf.len()` bytes at `addr`.
    fn read(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno>;
    /// Reads a string at `addr`: the bytes up to and including the first NUL,
    /// or `max` bytes if none of them is NUL.
    fn read_str(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno>;
    /// Writes `data` at `addr`.
    fn write(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno>;
    /// Whether the byte at `addr` can be written, as far as this memory can
    /// tell before the call. An output whose first byte cannot is not
    /// shipped, so the server's copy-out faults before the call moves
    /// anything (a read into a bad pointer consumes no data), as the host's
    /// would. Only the first byte: a count larger than the buffer is no
    /// fault as long as the call does not fill past it, as on the host.
    fn writable_at(&self, _addr: UserAddr) -> bool {
        true
    }
    /// How many of `len` bytes at `addr` come before the first page that
    /// cannot be read (with `writable`, written), as far as this memory
    /// can tell: a read or write of a buffer that turns bad part way is
    /// one of its good part, which is where the host's copy would stop
    /// (a short count).
    fn good_len(&self, _addr: UserAddr, len: usize, _writable: bool) -> usize {
        len
    }
}

/// A request built by [`marshal`], kept until its reply arrives.
#[derive(Clone, Debug)]
pub struct ClientCall {
    sysnum: u32,
    payload: Vec<u8>,
    segments: Vec<SegmentRepr>,
}

struct Builder<'m> {
    mem: &'m dyn ClientMemory,
    slots: Slots,
    segments: Vec<SegmentRepr>,
    data: Vec<u8>,
    in_left: usize,
    out_left: usize,
}

impl Builder<'_> {
    fn push(&mut self, arg: usize, iov: Option<u32>, flags: u8, addr: u64, bytes: Option<&[u8]>, len: usize) {
        self.segments.push(SegmentRepr { arg: arg as u8, flags, iov, addr, len });
        if let Some(b) = bytes {
            self.data.extend_from_slice(b);
            self.in_left -= b.len();
        }
        if flags & SEG_OUT != 0 {
            self.out_left -= len;
        }
    }

    /// A fixed-size argument: shipped whole or not at all.
    fn fixed(&mut self, arg: usize, addr: u64, len: Option<usize>, flags: u8) {
        let Some(len) = len.filter(|&n| n > 0 && addr.checked_add(n as u64).is_some()) else { return };
        if (flags & SEG_IN != 0 && len > self.in_left) || (flags & SEG_OUT != 0 && len > self.out_left) {
            return;
        }
        if flags & SEG_IN != 0 {
            let mut buf = vec![0u8; len];
            if self.mem.read(UserAddr(addr), &mut buf).is_err() {
                return;
            }
            self.push(arg, None, flags, addr, Some(&buf), len);
        } else if self.mem.writable_at(UserAddr(addr)) {
            self.push(arg, None, flags, addr, None, len);
        }
    }

    /// A byte count the call may transfer short: lowered to the budget.
    fn clamp(&mut self, len_slot: u8, budget: usize) -> usize {
        let i = len_slot as usize;
        if i >= MAXARGS {
            return 0;
        }
        let n = usize::try_from(self.slots[i]).unwrap_or(usize::MAX).min(budget);
        if (n as u64) < self.slots[i] {
            self.slots[i] = n as u64;
        }
        n
    }

    /// The `n` bytes of a buffer at `addr` whose count is in slot
    /// `len_slot` (`clamp` checked it), lowered to its good part
    /// (`ClientMemory::good_len`) if it has one; a buffer bad from its
    /// first byte keeps its count, so the server faults (EFAULT, or 0 at
    /// the end of a file, as the host says).
    fn good_part(&mut self, len_slot: u8, addr: u64, n: usize, writable: bool) -> usize {
        match self.mem.good_len(UserAddr(addr), n, writable) {
            good if good > 0 && good < n => {
                self.slots[len_slot as usize] = good as u64;
                good
            }
            _ => n,
        }
    }

    fn string(&mut self, arg: usize, addr: u64) {
        let Ok(s) = self.mem.read_str(UserAddr(addr), STR_MAX) else { return };
        if s.is_empty() || s.len() > self.in_left {
            return;
        }
        let len = s.len();
        self.push(arg, None, SEG_IN | SEG_STR, addr, Some(&s), len);
    }

    fn iovecs(&mut self, arg: usize, addr: u64, count_slot: u8, write_buffers: bool) {
        let Some(&count) = self.slots.get(count_slot as usize) else { return };
        if count == 0 || count > IOV_MAX as u64 {
            return;
        }
        let n = count as usize;
        let array_len = n * IOVEC_LEN;
        if array_len > self.in_left {
            return;
        }
        let mut array = vec![0u8; array_len];
        if self.mem.read(UserAddr(addr), &mut array).is_err() {
            return;
        }
        // The array goes first; its bytes are patched below where a buffer
        // length is lowered.
        let array_at = self.data.len();
        self.push(arg, None, SEG_IN, addr, Some(&array), array_len);
        for j in 0..n {
            let base = u64_at(&array, IOVEC_LEN * j);
            let want = u64_at(&array, IOVEC_LEN * j + 8);
            let room = if self.segments.len() >= MAX_SEGS {
                0
            } else if write_buffers {
                self.out_left
            } else {
                self.in_left
            };
            let len = usize::try_from(want).unwrap_or(usize::MAX).min(room);
            if (len as u64) < want {
                put_u64(&mut self.data, array_at + IOVEC_LEN * j + 8, len as u64);
            }
            if base == 0 || len == 0 || base.checked_add(len as u64).is_none() {
                continue;
            }
            if write_buffers {
                if self.mem.writable_at(UserAddr(base)) {
                    self.push(arg, Some(j as u32), SEG_OUT, base, None, len);
                }
            } else {
                let mut buf = vec![0u8; len];
                if self.mem.read(UserAddr(base), &mut buf).is_ok() {
                    self.push(arg, Some(j as u32), SEG_IN, base, Some(&buf), len);
                }
            }
        }
    }
}

/// Builds the marshaled request for a call described by `desc` with
/// arguments `args`, reading its inputs through `mem`. Never fails: what
/// cannot travel travels without its bytes (see the module documentation).
pub fn marshal(desc: &SyscallDesc, args: &Slots, mem: &dyn ClientMemory) -> ClientCall {
    let nslots = desc.nargs().min(MAXARGS);
    let mut b = Builder {
        mem,
        slots: *args,
        segments: Vec::new(),
        data: Vec::new(),
        in_left: MAX_CALL_IN,
        out_left: MAX_CALL_OUT,
    };
    // Only a call whose one pointer is its byte buffer (read, write and
    // their kin) stops at a fault with a short count; others (readlink:
    // a path and a buffer) are EFAULT, as Linux's. The same rule as the
    // shared-memory path's and the in-process kernel's (`Plan`).
    let lone_buffer = crate::transport::shm::lane::Plan::of_any_size(desc, args).is_some_and(|p| p.shortens());
    for (i, a) in desc.args.iter().enumerate().take(nslots) {
        let addr = args[i];
        if addr == 0 {
            continue;
        }
        let slot = |k: u8| b.slots.get(k as usize).and_then(|&v| usize::try_from(v).ok());
        let times = |k: u8, size: usize| slot(k).and_then(|c| c.checked_mul(size));
        match a.marshal {
            Marshal::Value | Marshal::Pad | Marshal::Opaque => {}
            Marshal::InStr => b.string(i, addr),
            Marshal::In { size } => b.fixed(i, addr, Some(size), SEG_IN),
            Marshal::Out { size } => b.fixed(i, addr, Some(size), SEG_OUT),
            Marshal::InOut { size } => b.fixed(i, addr, Some(size), SEG_IN | SEG_OUT),
            Marshal::OutBytes { len } => {
                let n = slot(len);
                b.fixed(i, addr, n, SEG_OUT)
            }
            Marshal::InArray { count, size } => {
                let n = times(count, size);
                b.fixed(i, addr, n, SEG_IN)
            }
            Marshal::OutArray { count, size } => {
                let n = times(count, size);
                b.fixed(i, addr, n, SEG_OUT)
            }
            Marshal::InOutArray { count, size } => {
                let n = times(count, size);
                b.fixed(i, addr, n, SEG_IN | SEG_OUT)
            }
            Marshal::InBytes { len } => {
                let n = b.clamp(len, b.in_left);
                let n = if lone_buffer { b.good_part(len, addr, n, false) } else { n };
                b.fixed(i, addr, Some(n), SEG_IN)
            }
            Marshal::OutBytesToRet { len } => {
                let n = b.clamp(len, b.out_left);
                let n = if lone_buffer { b.good_part(len, addr, n, true) } else { n };
                b.fixed(i, addr, Some(n), SEG_OUT | SEG_TO_RET)
            }
            Marshal::InIov { count } => b.iovecs(i, addr, count, false),
            Marshal::OutIov { count } => b.iovecs(i, addr, count, true),
        }
    }
    let repr = MsyscallRepr { nslots, slots: b.slots, segments: b.segments, data: &b.data };
    let mut payload = vec![0u8; repr.buffer_len()];
    repr.emit(&mut MsyscallPacket::new_unchecked(&mut payload[..]));
    ClientCall { sysnum: desc.num, payload, segments: repr.segments }
}

impl ClientCall {
    /// The header value to send.
    pub fn sysnum(&self) -> u32 {
        self.sysnum
    }

    /// The request body to send after a REQ/MSYSCALL header.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The segments sent, in table order.
    pub fn segments(&self) -> &[SegmentRepr] {
        &self.segments
    }

    /// Checks a reply body against this request and writes its outputs back
    /// through `mem`. Every output must lie inside an output segment of the
    /// request (and, for `SEG_TO_RET`, inside the returned count of a
    /// successful call); otherwise nothing is written and the reply is a
    /// `WireError`. If writing back faults, a successful call reports EFAULT
    /// (the call has happened; its results cannot be delivered).
    pub fn finish(&self, reply: &[u8], mem: &dyn ClientMemory) -> Result<SysResult, WireError> {
        let p = MreplyPacket::new_checked(reply)?;
        let r = MreplyRepr::parse(&p)?;
        let result = r.result();
        for o in &r.outs {
            let s = self.segments.get(o.seg as usize).ok_or(WireError::Malformed("output segment"))?;
            let limit = match (s.flags & SEG_TO_RET != 0, result) {
                (false, _) => s.len as u64,
                (true, Ok(n)) if n >= 0 => (n as u64).min(s.len as u64),
                (true, _) => 0,
            };
            let end = o.offset.checked_add(o.data.len() as u64);
            if !s.is_out() || end.is_none_or(|e| e > limit) {
                return Err(WireError::Malformed("output outside its segment"));
            }
        }
        for o in &r.outs {
            let s = &self.segments[o.seg as usize];
            let at = s.addr.checked_add(o.offset).ok_or(WireError::Malformed("output address"))?;
            if mem.write(UserAddr(at), o.data).is_err() {
                return Ok(result.and(Err(EFAULT)));
            }
        }
        Ok(result)
    }
}

// ---------------------------------------------------------------------------
// Server side.

/// Written byte ranges of one segment, merged, at most `MAX_RANGES`.
#[derive(Debug, Default)]
struct Written(Vec<(usize, usize)>);

impl Written {
    fn add(&mut self, start: usize, end: usize) {
        if start >= end {
            return;
        }
        let (mut s, mut e) = (start, end);
        self.0.retain(|&(a, b)| {
            let touches = a <= e && s <= b;
            if touches {
                s = s.min(a);
                e = e.max(b);
            }
            !touches
        });
        self.0.push((s, e));
        self.0.sort_unstable();
        if self.0.len() > MAX_RANGES {
            let (lo, hi) = (self.0[0].0, self.0[self.0.len() - 1].1);
            self.0 = vec![(lo, hi)];
        }
    }
}

#[derive(Debug)]
struct CallSegment {
    seg: SegmentRepr,
    /// The input bytes; for an output-only segment, empty until written.
    data: RefCell<Vec<u8>>,
    written: RefCell<Written>,
}

/// A parsed marshaled request on the server: the argument slots, and the
/// shipped segments serving the call's memory accesses ([`UserMemory`]).
/// Reads inside an input segment and writes inside an output segment
/// succeed; anything else is EFAULT here. The server layers the client's
/// own memory behind it (`serve::CallMemory`), so that accesses through
/// `Opaque` arguments become COPYIN and COPYOUT round trips. An access must
/// lie within one segment.
#[derive(Debug)]
pub struct MarshaledCall {
    pub slots: Slots,
    pub nslots: usize,
    segments: Vec<CallSegment>,
}

impl MarshaledCall {
    /// Validates a request body. Allocates no more than its length: input
    /// bytes are copied, output buffers are only created when written.
    pub fn parse(payload: &[u8]) -> Result<MarshaledCall, WireError> {
        let p = MsyscallPacket::new_checked(payload)?;
        let r = MsyscallRepr::parse(&p)?;
        let mut at = 0;
        let segments = r
            .segments
            .iter()
            .map(|s| {
                let data = if s.is_in() {
                    at += s.len;
                    r.data[at - s.len..at].to_vec()
                } else {
                    Vec::new()
                };
                CallSegment { seg: *s, data: RefCell::new(data), written: RefCell::default() }
            })
            .collect();
        Ok(MarshaledCall { slots: r.slots, nslots: r.nslots, segments })
    }

    /// The shipped segments, in table order.
    pub fn segments(&self) -> impl Iterator<Item = &SegmentRepr> {
        self.segments.iter().map(|s| &s.seg)
    }

    /// Whether the request shipped `addr..addr+len` for reading (`SEG_IN`)
    /// or writing (`SEG_OUT`).
    pub fn ships(&self, addr: UserAddr, len: usize, dir: u8) -> bool {
        self.find(addr, len, dir).is_ok()
    }

    /// The segment with `dir` holding `addr..addr+len`, and the offset.
    fn find(&self, addr: UserAddr, len: usize, dir: u8) -> Result<(&CallSegment, usize), Errno> {
        let end = addr.0.checked_add(len as u64).ok_or(EFAULT)?;
        self.segments
            .iter()
            .find(|s| s.seg.flags & dir != 0 && addr.0 >= s.seg.addr && end <= s.seg.addr + s.seg.len as u64)
            .map(|s| (s, (addr.0 - s.seg.addr) as usize))
            .ok_or(EFAULT)
    }

    fn write(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&mut [u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        let (s, off) = self.find(addr, len, SEG_OUT)?;
        let mut data = s.data.try_borrow_mut().map_err(|_| EFAULT)?;
        let mut written = s.written.try_borrow_mut().map_err(|_| EFAULT)?;
        if data.len() < s.seg.len {
            data.resize(s.seg.len, 0);
        }
        let n = f(&mut data[off..off + len])?.min(len);
        written.add(off, off + n);
        Ok(n)
    }

    /// The reply to send once the call has returned `result`: its value or
    /// errno and everything it wrote (for `SEG_TO_RET`, only the first
    /// `result` bytes of a successful call).
    pub fn reply(&mut self, result: &SysResult) -> MreplyRepr<'_> {
        let (error, retval) = match *result {
            Ok(v) => (0, [v, 0]),
            Err(e) => (e.raw(), [-1, 0]),
        };
        let mut outs = Vec::new();
        for (i, s) in self.segments.iter_mut().enumerate() {
            let limit = match (s.seg.flags & SEG_TO_RET != 0, *result) {
                (false, _) => s.seg.len,
                (true, Ok(n)) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX).min(s.seg.len),
                (true, _) => 0,
            };
            let data: &[u8] = s.data.get_mut();
            for &(a, b) in &s.written.get_mut().0 {
                let b = b.min(limit);
                if a < b {
                    outs.push(OutRepr { seg: i as u32, offset: a as u64, data: &data[a..b] });
                }
            }
        }
        MreplyRepr { error, retval, outs }
    }

    /// The reply body as bytes.
    pub fn reply_bytes(&mut self, result: &SysResult) -> Vec<u8> {
        let r = self.reply(result);
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut MreplyPacket::new_unchecked(&mut buf[..]));
        buf
    }
}

impl UserMemory for MarshaledCall {
    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        if buf.is_empty() {
            return Ok(());
        }
        let (s, off) = self.find(addr, buf.len(), SEG_IN)?;
        let data = s.data.try_borrow().map_err(|_| EFAULT)?;
        buf.copy_from_slice(&data[off..off + buf.len()]);
        Ok(())
    }

    fn copy_out(&self, addr: UserAddr, src: &[u8]) -> Result<(), Errno> {
        if src.is_empty() {
            return Ok(());
        }
        self.write(addr, src.len(), &mut |dst| {
            dst.copy_from_slice(src);
            Ok(src.len())
        })
        .map(drop)
    }

    fn copy_in_str(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        let (s, off) = self.find(addr, 1, SEG_IN)?;
        let data = s.data.try_borrow().map_err(|_| EFAULT)?;
        let window = &data[off..data.len().min(off.saturating_add(max))];
        if let Some(nul) = window.iter().position(|&b| b == 0) {
            return Ok(window[..nul].to_vec());
        }
        if window.len() == max || s.seg.flags & SEG_STR != 0 {
            Err(ENAMETOOLONG)
        } else {
            Err(EFAULT)
        }
    }

    fn with_out(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&mut [u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        if len == 0 {
            return f(&mut []);
        }
        self.write(addr, len, f)
    }

    fn with_in(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&[u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        if len == 0 {
            return f(&[]);
        }
        let (s, off) = self.find(addr, len, SEG_IN)?;
        let data = s.data.try_borrow().map_err(|_| EFAULT)?;
        f(&data[off..off + len])
    }
}
