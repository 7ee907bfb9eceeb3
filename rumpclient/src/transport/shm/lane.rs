//! Lanes and inline areas: parts of the channel's mapping through which
//! a call's buffer travels, copied with memcpy on both sides instead of
//! reached in place with `process_vm_readv/writev`. That pins every page
//! of a large buffer (for 1 MiB it alone costs over four memcpys) and
//! costs a microsecond or more even for one byte, several times a small
//! call's own work: a large read or write goes through one of the `LANES`
//! lanes, a small buffer (at most `INLINE_LEN`) through its slot's own
//! inline area.
//!
//! A client thread about to post a call whose one non-NULL pointer is a
//! buffer the table sizes (`Carry::of`: a read's or write's bytes, a struct
//! such as fstat's, an array such as poll's or epoll_wait's) claims an
//! area for it (`client::ClientChannel`). Data the kernel reads is copied
//! into the area before posting; a read's first `return` bytes are copied
//! out once the call is done, and a buffer the kernel may both read and
//! write is copied in before and wholly back after (bytes the kernel did
//! not write go back as they were). It copies only what `probe` found
//! good: a byte buffer whose first page is bad goes without an area (the
//! server's copy faults: EFAULT, or 0 at the end of a file, as Linux
//! says), and one that turns bad further on is a call for its good part
//! only, which is what Linux's copy stopping at the fault amounts to (a
//! short count); any other buffer not wholly good goes without an area,
//! so the kernel meets the fault where Linux would. With no lane free, or
//! a transfer longer than a lane, the call goes without an area, as
//! before.
//!
//! The server trusts nothing in an area: it learns from the slot only
//! which area, which argument is the buffer and how long it is (`Use`,
//! bounded by the area), takes the address from its own copy of the call,
//! and redirects exactly that window of the client's memory to the area
//! (`LaneMemory`); everything else the call touches is the client's
//! memory as before. A client that scribbles on an area while its call
//! runs, or names a wrong window, only garbles its own data.
//!
//! A call's path (its first string argument: open's, stat's) travels at
//! the end of the slot's inline area too, past the buffer's part, when
//! both fit (`Carry`): the client copies it with its NUL, found page by
//! probed page, and the server serves that one string from there
//! (`LaneMemory::copy_in_str`) if it holds a NUL, else from the client's
//! memory, as before. Only the buffer alone (no path beside it) may be
//! shortened to its good part: readlink's is EFAULT, as Linux's.
//!
//! Cost: an area's pages exist once touched, so a client holds the inline
//! pages of the slots its threads use and of each lane as much as its
//! longest transfer through it, up to `LANES * LANE_LEN` (4 MiB) of
//! shared memory per channel.

use super::peer::PeerMemory;
use rump_abi::native::errno::{EFAULT, ENAMETOOLONG};
use rump_abi::usermem::{load_pieces, store_pieces, total_len, uninit_len, UserMemory};
use rump_abi::{Errno, Marshal, Slots, SysResult, SyscallDesc, UserAddr, MAXARGS};
use std::mem::MaybeUninit;

/// Lanes per channel: large transfers one client can have in flight at once.
pub const LANES: usize = 4;
/// Bytes of one lane: the largest transfer that goes through one.
pub const LANE_LEN: usize = 1 << 20;
/// The smallest transfer that takes a lane: any too long for a slot's
/// inline area. Reaching a buffer in place never pays here: one
/// process_vm_writev of 4 KiB to 32 KiB cost 7 to 20 times a memcpy of as
/// many bytes on this VM (1.0-2.6 us against 27-182 ns, one run of a
/// loop over both), so the second copy a lane adds is cheaper at every
/// size. (It was 32 KiB, on the guess that pinning a few pages costs less.)
pub const LANE_MIN: usize = INLINE_LEN + 1;
/// Bytes of each slot's inline area: a call's buffer at most this long
/// travels there, copied by memcpy, instead of being reached in place
/// (one process_vm_readv/writev of a few bytes costs several memcpys of
/// a page).
pub const INLINE_LEN: usize = 4096;

/// Which way a call's data crosses its area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Dir {
    /// The kernel fills the buffer's first `return` bytes (a read):
    /// area to buffer afterwards, that many.
    ToCaller,
    /// The kernel reads the buffer (a write): buffer to area before.
    FromCaller,
    /// The kernel may read and write any of the buffer (a struct it
    /// fills, poll's array): buffer to area before, all of it back after,
    /// so what the kernel left alone is written back as it was.
    Both,
}

impl Dir {
    /// Bytes of a `len`-byte buffer a call with result `r` leaves for the
    /// caller: a read's first `r`, all of one the kernel may both read and
    /// write, none of one it only reads.
    pub fn bytes_back(self, r: &SysResult, len: usize) -> usize {
        match (self, r) {
            (Dir::ToCaller, Ok(n)) => (*n).clamp(0, len as i64) as usize,
            (Dir::Both, _) => len,
            _ => 0,
        }
    }
}

/// Where one call's buffer travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// Lane `n` (`LANE_LEN` bytes).
    Lane(usize),
    /// The inline area of the call's own slot (`INLINE_LEN` bytes).
    Inline,
}

impl Area {
    /// The most bytes of a window the area holds.
    pub fn capacity(self) -> usize {
        match self {
            Area::Lane(_) => LANE_LEN,
            Area::Inline => INLINE_LEN,
        }
    }
}

/// How one call would use an area: its buffer, the buffer's length, and
/// the direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub buf: UserAddr,
    pub len: usize,
    pub dir: Dir,
    /// The argument slot of the buffer.
    buf_arg: usize,
    /// The argument slot of its length in bytes, for a byte buffer (which
    /// alone may be shortened to its good part, `shortened`).
    len_arg: Option<usize>,
}

impl Plan {
    /// The plan for call `desc` with `args` (which has a path if
    /// `beside_path`): one for its one non-NULL pointer other than the
    /// path if the table says how long its buffer is and which way it
    /// goes, and the buffer fits a slot's inline area or is between
    /// `LANE_MIN` and `LANE_LEN` long; None for any other.
    fn of(desc: &SyscallDesc, args: &Slots, beside_path: bool) -> Option<Plan> {
        Plan::of_size(desc, args, beside_path)
            .filter(|p| (1..=INLINE_LEN).contains(&p.len) || (LANE_MIN..=LANE_LEN).contains(&p.len))
    }

    /// The plan for a call with `args` that is the one planned with
    /// `planned` but for the place of its buffer; None if another argument
    /// differs.
    pub fn for_same_call(&self, planned: &Slots, args: &Slots) -> Option<Plan> {
        let same = planned.iter().zip(args).enumerate().all(|(i, (a, b))| i == self.buf_arg || a == b);
        same.then(|| Plan { buf: UserAddr(args[self.buf_arg]), ..*self })
    }

    /// As `of`, whatever the buffer's length.
    pub fn of_any_size(desc: &SyscallDesc, args: &Slots) -> Option<Plan> {
        Plan::of_size(desc, args, path_arg(desc, args).is_some())
    }

    fn of_size(desc: &SyscallDesc, args: &Slots, beside_path: bool) -> Option<Plan> {
        let mut plan = None;
        for (i, a) in desc.args.iter().enumerate() {
            let arg = |n: u8| args.get(usize::from(n)).copied();
            let (dir, len, len_arg) = match a.marshal {
                Marshal::Value | Marshal::Pad | Marshal::InStr => continue,
                // Another pointer, NULL, is no buffer to overlap ours.
                _ if args[i] == 0 => continue,
                Marshal::OutBytesToRet { len } => (Dir::ToCaller, arg(len)?, Some(usize::from(len))),
                Marshal::InBytes { len } => (Dir::FromCaller, arg(len)?, Some(usize::from(len))),
                Marshal::OutBytes { len } => (Dir::Both, arg(len)?, None),
                Marshal::In { size } => (Dir::FromCaller, size as u64, None),
                Marshal::Out { size } | Marshal::InOut { size } => (Dir::Both, size as u64, None),
                Marshal::InArray { count, size } => (Dir::FromCaller, arg(count)?.checked_mul(size as u64)?, None),
                Marshal::OutArray { count, size } | Marshal::InOutArray { count, size } => {
                    (Dir::Both, arg(count)?.checked_mul(size as u64)?, None)
                }
                _ => return None,
            };
            if plan.is_some() {
                return None;
            }
            // A buffer beside a path is never shortened (readlink's).
            let len_arg = len_arg.filter(|_| !beside_path);
            plan = Some(Plan { buf: UserAddr(args[i]), len: usize::try_from(len).ok()?, dir, buf_arg: i, len_arg });
        }
        plan
    }

    /// Whether the call's buffer is its only pointer and its length an
    /// argument: a fault part way shortens the call to its good part, as
    /// Linux's copy stopping at the fault.
    pub fn shortens(&self) -> bool {
        self.len_arg.is_some()
    }

    /// The plan for the first `len` bytes of the buffer only; None if the
    /// call may not be shortened (`shortens`).
    pub fn shortened(self, len: usize) -> Option<Plan> {
        self.len_arg.map(|_| Plan { len: len.min(self.len), ..self })
    }

    /// The call's arguments with the buffer's length this plan's.
    pub fn args(&self, args: &Slots) -> Slots {
        let mut args = *args;
        if let Some(l) = self.len_arg {
            args[l] = self.len as u64;
        }
        args
    }

    /// What the slot says of this plan carried by `area`.
    pub fn slot_word(&self, area: Area) -> u64 {
        Use { area, buf_arg: self.buf_arg, dir: self.dir, len: self.len }.encode()
    }
}

/// The first non-NULL string argument of call `desc` with `args`.
pub fn path_arg(desc: &SyscallDesc, args: &Slots) -> Option<usize> {
    desc.args.iter().zip(args).position(|(a, &v)| a.marshal == Marshal::InStr && v != 0)
}

/// What of one call may travel through the mapping: its buffer and its
/// path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Carry {
    pub buf: Option<Plan>,
    /// The argument slot of the path.
    pub path: Option<usize>,
}

impl Carry {
    pub fn of(desc: &SyscallDesc, args: &Slots) -> Carry {
        let path = path_arg(desc, args);
        Carry { buf: Plan::of(desc, args, path.is_some()), path }
    }
}

/// A slot's `path` word: which argument is the path, and how many bytes
/// of it (its NUL included) end the slot's inline area. 0 is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathUse {
    pub arg: usize,
    pub len: usize,
}

impl PathUse {
    pub fn encode(&self) -> u64 {
        1 | (self.arg as u64) << 4 | (self.len as u64) << 8
    }

    /// The use a slot's word names, if it names a valid one.
    pub fn decode(word: u64) -> Option<PathUse> {
        let (arg, len) = ((word >> 4 & 0xf) as usize, (word >> 8) as usize);
        (word & 0xf == 1 && arg < MAXARGS && (1..=INLINE_LEN).contains(&len)).then_some(PathUse { arg, len })
    }
}

/// A slot's `window` word: which area, which argument is the buffer, which
/// way its data goes, and its length. 0 is no area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Use {
    pub area: Area,
    pub buf_arg: usize,
    pub dir: Dir,
    pub len: usize,
}

/// The area byte of a slot's word naming the slot's inline area.
const INLINE_TAG: u64 = 0xff;

impl Use {
    fn encode(&self) -> u64 {
        let tag = match self.area {
            Area::Lane(n) => n as u64 + 1,
            Area::Inline => INLINE_TAG,
        };
        tag | (self.buf_arg as u64) << 8 | (self.dir as u64) << 12 | (self.len as u64) << 16
    }

    /// The use a slot's word names, if it names a valid one.
    pub fn decode(word: u64) -> Option<Use> {
        let area = match word & 0xff {
            INLINE_TAG => Area::Inline,
            tag => Area::Lane(tag.checked_sub(1).filter(|&n| n < LANES as u64)? as usize),
        };
        let (buf_arg, len) = ((word >> 8 & 0xf) as usize, (word >> 16) as usize);
        let dir = match word >> 12 & 0xf {
            0 => Dir::ToCaller,
            1 => Dir::FromCaller,
            2 => Dir::Both,
            _ => return None,
        };
        (buf_arg < MAXARGS && len <= area.capacity()).then_some(Use { area, buf_arg, dir, len })
    }
}

/// The client's memory as one call whose buffer travels through an area
/// sees it: the buffer's window (its address from the server's own copy
/// of the arguments, at most the area long) is the area; all else is the
/// client's memory itself. An access straddling the window's edge is
/// EFAULT (an honest client's call never makes one).
pub struct LaneMemory {
    pub peer: PeerMemory,
    window: UserAddr,
    /// 0 when the call's buffer does not travel here.
    len: usize,
    dir: Dir,
    lane: *mut u8,
    /// The path's address (the server's copy of it) and its bytes here.
    path: Option<(UserAddr, *const u8, usize)>,
}

/// Where an access falls.
enum Place {
    Lane(*mut u8),
    Peer,
}

impl LaneMemory {
    /// The memory of a call with `args` using `u`, whose lane is mapped
    /// here at `lane` (`LANE_LEN` bytes, live while this is).
    pub fn new(peer: PeerMemory, u: Use, args: &Slots, lane: *mut u8) -> LaneMemory {
        let (window, len) = (UserAddr(args[u.buf_arg]), u.len.min(u.area.capacity()));
        LaneMemory { peer, window, len, dir: u.dir, lane, path: None }
    }

    /// The memory of a call whose buffer is not in an area.
    pub fn peer_only(peer: PeerMemory) -> LaneMemory {
        LaneMemory { peer, window: UserAddr(0), len: 0, dir: Dir::Both, lane: std::ptr::null_mut(), path: None }
    }

    /// With the call's path served from the last `p.len` bytes of the
    /// inline area at `inline` (`INLINE_LEN` bytes, live while this is).
    pub fn with_path(self, p: PathUse, args: &Slots, inline: *const u8) -> LaneMemory {
        // Inside the area: `p.len <= INLINE_LEN` (`PathUse::decode`).
        let at = inline.wrapping_add(INLINE_LEN - p.len);
        LaneMemory { path: Some((UserAddr(args[p.arg]), at, p.len)), ..self }
    }

    /// Writes what a call with `result` left in the area to the client's
    /// buffer in place, as the client would have copied it: for a call
    /// that armed a wait, whose later runs reach the buffer in place, so
    /// the client must not copy the area over what they write.
    pub fn flush(&self, result: &SysResult) -> Result<(), Errno> {
        let n = self.dir.bytes_back(result, self.len);
        if n == 0 {
            return Ok(());
        }
        // SAFETY: the area holds `self.len` >= n bytes.
        self.peer.copy_out(self.window, unsafe { std::slice::from_raw_parts(self.lane, n) })
    }

    fn place(&self, addr: UserAddr, len: usize) -> Result<Place, Errno> {
        let (start, end) = (self.window.0, self.window.0 + self.len as u64);
        let Some(last) = addr.0.checked_add(len as u64) else { return Ok(Place::Peer) };
        if len == 0 || self.len == 0 || last <= start || addr.0 >= end {
            return Ok(Place::Peer);
        }
        if addr.0 < start || last > end {
            return Err(EFAULT);
        }
        // SAFETY: `addr - start + len <= self.len <= LANE_LEN`: inside the lane.
        Ok(Place::Lane(unsafe { self.lane.add((addr.0 - start) as usize) }))
    }
}

// The lane is bytes of shared memory that the client may change at any
// time: the kernel only ever copies them, never trusts them.
impl UserMemory for LaneMemory {
    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        match self.place(addr, buf.len())? {
            // SAFETY: `place` found `buf.len()` bytes of lane at `at`.
            Place::Lane(at) => unsafe { std::ptr::copy_nonoverlapping(at, buf.as_mut_ptr(), buf.len()) },
            Place::Peer => return self.peer.copy_in(addr, buf),
        }
        Ok(())
    }

    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        match self.place(addr, data.len())? {
            // SAFETY: as in copy_in.
            Place::Lane(at) => unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), at, data.len()) },
            Place::Peer => return self.peer.copy_out(addr, data),
        }
        Ok(())
    }

    fn copy_in_str(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        if let Some((at, bytes, len)) = self.path.filter(|p| p.0 == addr) {
            // SAFETY: `with_path` found `len` bytes of the inline area at `bytes`.
            let copied = unsafe { std::slice::from_raw_parts(bytes, len) };
            if let Some(nul) = copied.iter().position(|&b| b == 0) {
                return if nul < max { Ok(copied[..nul].to_vec()) } else { Err(ENAMETOOLONG) };
            }
            // No NUL: not what an honest client copies; ask its memory.
            return self.peer.copy_in_str(at, max);
        }
        self.peer.copy_in_str(addr, max)
    }

    fn with_out(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&mut [u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        match self.place(addr, len)? {
            // SAFETY: as in copy_in; lent to `f` for this call only.
            Place::Lane(at) => f(unsafe { std::slice::from_raw_parts_mut(at, len) }),
            Place::Peer => self.peer.with_out(addr, len, f),
        }
    }

    fn with_in(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&[u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        match self.place(addr, len)? {
            // SAFETY: as in with_out.
            Place::Lane(at) => f(unsafe { std::slice::from_raw_parts(at, len) }),
            Place::Peer => self.peer.with_in(addr, len, f),
        }
    }

    fn copy_out_pieces(&self, addr: UserAddr, pieces: &[&[u8]]) -> Result<(), Errno> {
        match self.place(addr, total_len(pieces))? {
            // SAFETY: as in copy_in, for the pieces' total length.
            Place::Lane(at) => unsafe { store_pieces(at, pieces) },
            Place::Peer => return self.peer.copy_out_pieces(addr, pieces),
        }
        Ok(())
    }

    fn copy_in_pieces(&self, addr: UserAddr, pieces: &mut [&mut [MaybeUninit<u8>]]) -> Result<(), Errno> {
        match self.place(addr, uninit_len(pieces))? {
            // SAFETY: as in copy_out_pieces.
            Place::Lane(at) => unsafe { load_pieces(at, pieces) },
            Place::Peer => return self.peer.copy_in_pieces(addr, pieces),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_word_names_only_a_valid_use() {
        for u in [
            Use { area: Area::Lane(LANES - 1), buf_arg: 1, dir: Dir::ToCaller, len: LANE_LEN },
            Use { area: Area::Inline, buf_arg: 2, dir: Dir::Both, len: INLINE_LEN },
        ] {
            assert_eq!(Use::decode(u.encode()), Some(u));
        }
        assert_eq!(Use::decode(0), None);
        assert_eq!(Use::decode(LANES as u64 + 1), None);
        assert_eq!(Use::decode(1 | (MAXARGS as u64) << 8), None);
        assert_eq!(Use::decode(INLINE_TAG | (INLINE_LEN as u64 + 1) << 16), None);
        assert_eq!(Use::decode(INLINE_TAG | 3 << 12), None);
    }

    #[test]
    fn a_path_word_names_only_a_valid_place() {
        let p = PathUse { arg: 1, len: INLINE_LEN };
        assert_eq!(PathUse::decode(p.encode()), Some(p));
        assert_eq!(PathUse::decode(0), None);
        assert_eq!(PathUse::decode(PathUse { arg: 1, len: 0 }.encode()), None);
        assert_eq!(PathUse::decode(PathUse { arg: 1, len: INLINE_LEN + 1 }.encode()), None);
        assert_eq!(PathUse::decode(PathUse { arg: MAXARGS, len: 5 }.encode()), None);
    }

    #[test]
    fn only_the_buffer_window_is_the_lane() {
        let mut lane = vec![0u8; LANE_LEN];
        let mut outside = [0u8; 4];
        let buf = UserAddr(0x10_0000);
        let args = [0, buf.0, 8192, 0, 0, 0, 0, 0];
        // SAFETY: getpid cannot fail.
        let peer = PeerMemory { pid: unsafe { libc::getpid() } };
        let mem = LaneMemory::new(
            peer,
            Use { area: Area::Lane(0), buf_arg: 1, dir: Dir::Both, len: 8192 },
            &args,
            lane.as_mut_ptr(),
        );
        mem.copy_out_pieces(UserAddr(buf.0 + 4096), &[b"ab", b"cd"]).unwrap();
        assert_eq!(&lane[4096..4100], b"abcd");
        let mut back = [0u8; 4];
        mem.copy_in(UserAddr(buf.0 + 4096), &mut back).unwrap();
        assert_eq!(&back, b"abcd");
        assert_eq!(mem.copy_out(UserAddr(buf.0 + 8190), b"abcd"), Err(EFAULT));
        mem.copy_out(UserAddr(outside.as_mut_ptr() as u64), b"peer").unwrap();
        assert_eq!(&outside, b"peer");
    }
}
