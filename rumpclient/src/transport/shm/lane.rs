//! Lanes: areas of the channel's mapping through which the data of a
//! large read or write travels, copied with memcpy on both sides instead
//! of `process_vm_readv/writev` (which pins every page of the client's
//! buffer: for 1 MiB it alone costs over four memcpys).
//!
//! A client thread about to post a call whose one pointer is a buffer the
//! kernel fills (`read`, `pread64`: `_Out_writes_bytes_to_(n, return)`) or
//! reads (`write`, `pwrite64`: `_In_reads_bytes_(n)`), of `LANE_MIN` to
//! `LANE_LEN` bytes, claims a free lane for the call (`Plan`,
//! `client::ClientChannel`). For a write it copies its buffer into the
//! lane before posting; for a read it copies the lane's first `return`
//! bytes into its buffer once the call is done. It copies only what
//! `probe` found good: a buffer whose first page is bad goes without a
//! lane (the server's copy faults: EFAULT, or 0 at the end of a file, as
//! Linux says), and one that turns bad further on is a call for its good
//! part only, which is what Linux's copy stopping at the fault amounts to
//! (a short count). With no lane free, or a longer transfer, the call
//! goes without a lane, as before.
//!
//! The server trusts nothing in the lane: it learns from the slot only
//! which lane and which two arguments are the buffer and its length
//! (`Use`), takes the address and length from its own copy of the call,
//! and redirects exactly that window of the client's memory to the lane
//! (`LaneMemory`); everything else the call touches is the client's
//! memory as before. A client that scribbles on a lane while its call
//! runs only garbles its own data.
//!
//! Cost: a lane's pages exist once touched, so a client that never moves
//! more than `LANE_MIN` at once costs nothing; one that does holds up to
//! `LANES * LANE_LEN` (4 MiB) of shared memory per channel from then on.

use super::peer::PeerMemory;
use rump_abi::native::errno::EFAULT;
use rump_abi::usermem::{load_pieces, store_pieces, total_len, uninit_len, UserMemory};
use rump_abi::{Errno, Marshal, Slots, SyscallDesc, UserAddr, MAXARGS};
use std::mem::MaybeUninit;

/// Lanes per channel: large transfers one client can have in flight at once.
pub const LANES: usize = 4;
/// Bytes of one lane: the largest transfer that goes through one.
pub const LANE_LEN: usize = 1 << 20;
/// The smallest transfer that takes a lane: below it the client's buffer
/// is reached in place as before (pinning a few pages costs less than a
/// second copy, and the 4 KiB read stays as it was).
pub const LANE_MIN: usize = 32 << 10;

/// Which way a call's data crosses its lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// The kernel fills the buffer (a read): lane to buffer afterwards.
    ToCaller,
    /// The kernel reads the buffer (a write): buffer to lane before.
    FromCaller,
}

/// How one call would use a lane: its buffer, the buffer's length, and
/// the direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub buf: UserAddr,
    pub len: usize,
    pub dir: Dir,
    /// The argument slots of the buffer and of its length.
    buf_arg: usize,
    len_arg: usize,
}

impl Plan {
    /// The lane plan for call `desc` with `args`: one whose only pointer
    /// is a buffer read or filled by the call, between `LANE_MIN` and
    /// `LANE_LEN` bytes long; None for any other.
    pub fn of(desc: &SyscallDesc, args: &Slots) -> Option<Plan> {
        let mut plan = None;
        for (i, a) in desc.args.iter().enumerate() {
            let (dir, len_arg) = match a.marshal {
                Marshal::Value | Marshal::Pad => continue,
                Marshal::OutBytesToRet { len } => (Dir::ToCaller, usize::from(len)),
                Marshal::InBytes { len } => (Dir::FromCaller, usize::from(len)),
                _ => return None,
            };
            if plan.is_some() || len_arg >= MAXARGS {
                return None;
            }
            plan = Some(Plan { buf: UserAddr(args[i]), len: args[len_arg] as usize, dir, buf_arg: i, len_arg });
        }
        plan.filter(|p| (LANE_MIN..=LANE_LEN).contains(&p.len))
    }

    /// The plan for the first `len` bytes of the buffer only.
    pub fn shortened(self, len: usize) -> Plan {
        Plan { len: len.min(self.len), ..self }
    }

    /// The call's arguments with the buffer's length this plan's.
    pub fn args(&self, args: &Slots) -> Slots {
        let mut args = *args;
        args[self.len_arg] = self.len as u64;
        args
    }

    /// What the slot says of this plan carried by lane `lane`.
    pub fn slot_word(&self, lane: usize) -> u32 {
        Use { lane, buf_arg: self.buf_arg, len_arg: self.len_arg }.encode()
    }
}

/// A slot's `lane` word: which lane, and which arguments are the buffer
/// and its length. 0 is no lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Use {
    pub lane: usize,
    pub buf_arg: usize,
    pub len_arg: usize,
}

impl Use {
    fn encode(&self) -> u32 {
        (self.lane as u32 + 1) | (self.buf_arg as u32) << 8 | (self.len_arg as u32) << 16
    }

    /// The use a slot's word names, if it names a valid one.
    pub fn decode(word: u32) -> Option<Use> {
        let lane = (word & 0xff).checked_sub(1)? as usize;
        let (buf_arg, len_arg) = ((word >> 8 & 0xff) as usize, (word >> 16 & 0xff) as usize);
        (lane < LANES && buf_arg < MAXARGS && len_arg < MAXARGS && word >> 24 == 0).then_some(Use {
            lane,
            buf_arg,
            len_arg,
        })
    }
}

/// The client's memory as one call whose buffer travels through a lane
/// sees it: the buffer's window (from the server's own copy of the
/// arguments, at most `LANE_LEN` long) is the lane; all else is the
/// client's memory itself. An access straddling the window's edge is
/// EFAULT (an honest client's call never makes one).
pub struct LaneMemory {
    pub peer: PeerMemory,
    window: UserAddr,
    len: usize,
    lane: *mut u8,
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
        LaneMemory { peer, window: UserAddr(args[u.buf_arg]), len: (args[u.len_arg] as usize).min(LANE_LEN), lane }
    }

    fn place(&self, addr: UserAddr, len: usize) -> Result<Place, Errno> {
        let (start, end) = (self.window.0, self.window.0 + self.len as u64);
        let Some(last) = addr.0.checked_add(len as u64) else { return Ok(Place::Peer) };
        if len == 0 || last <= start || addr.0 >= end {
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
        let u = Use { lane: LANES - 1, buf_arg: 1, len_arg: 2 };
        assert_eq!(Use::decode(u.encode()), Some(u));
        assert_eq!(Use::decode(0), None);
        assert_eq!(Use::decode(LANES as u32 + 1), None);
        assert_eq!(Use::decode(1 | (MAXARGS as u32) << 8), None);
        assert_eq!(Use::decode(1 | 1 << 24), None);
    }

    #[test]
    fn only_the_buffer_window_is_the_lane() {
        let mut lane = vec![0u8; LANE_LEN];
        let mut outside = [0u8; 4];
        let buf = UserAddr(0x10_0000);
        let args = [0, buf.0, 8192, 0, 0, 0, 0, 0];
        // SAFETY: getpid cannot fail.
        let peer = PeerMemory { pid: unsafe { libc::getpid() } };
        let mem = LaneMemory::new(peer, Use { lane: 0, buf_arg: 1, len_arg: 2 }, &args, lane.as_mut_ptr());
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
