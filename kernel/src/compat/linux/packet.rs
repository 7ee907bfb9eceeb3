//! Linux's AF_PACKET interface onto the stack's packet sockets
//! (`net::packet`): `struct sockaddr_ll`, the SOL_PACKET options libpcap
//! sets (memberships, version, reserve, auxdata, the TPACKET_V3 receive
//! ring as `struct tpacket_req3`, statistics) and the socket filter
//! options (SO_ATTACH_FILTER with a `struct sock_fprog`). The ring is a
//! region of shared kernel memory, which `mmap` on the socket maps
//! (`State::mappable_fd`).

use crate::net::bpf;
use crate::net::packet::{sockaddr_ll, LinkFrom, PacketSock, Ring, ETH_P_ALL, TPACKET_V3};
use crate::net::socket::{Kind, SockId, SOCK_DGRAM, SOCK_RAW};
use crate::shm::SharedMem;
use crate::usermem::read_pod;
use crate::Cx;
use rump_abi::native::errno::*;
use rump_abi::{Errno, UserAddr};

pub const AF_PACKET: u16 = 17;
pub const SOL_PACKET: i32 = 263;
const PACKET_ADD_MEMBERSHIP: i32 = 1;
const PACKET_DROP_MEMBERSHIP: i32 = 2;
const PACKET_RX_RING: i32 = 5;
const PACKET_STATISTICS: i32 = 6;
const PACKET_AUXDATA: i32 = 8;
const PACKET_VERSION: i32 = 10;
const PACKET_HDRLEN: i32 = 11;
const PACKET_RESERVE: i32 = 12;
const PACKET_MR_PROMISC: u16 = 1;
pub const SO_ATTACH_FILTER: i32 = 26;
pub const SO_DETACH_FILTER: i32 = 27;
pub const SO_BPF_EXTENSIONS: i32 = 48;
/// `struct tpacket3_hdr` and `struct tpacket2_hdr`, the header lengths
/// PACKET_HDRLEN reports for TPACKET_V3 and V2.
const TPACKET3_HDR: i32 = 48;
const TPACKET2_HDR: i32 = 32;
const TPACKET_V2: u32 = 1;
/// The ring's size limit: what a kernel budget should not lose at once.
const MAX_RING: u64 = 256 << 20;
const PAGE: u32 = 4096;

/// The packet socket behind `fd`, if it is one.
pub fn of_fd(cx: &Cx, fd: i32) -> Option<SockId> {
    let (_, s) = cx.sock_of(fd).ok()?;
    matches!(cx.st.net.sock(s).ok()?.kind, Kind::Packet(_)).then_some(s)
}

fn state<'a>(cx: &'a mut Cx, s: SockId) -> Result<&'a mut PacketSock, Errno> {
    match &mut cx.st.net.sock_mut(s)?.kind {
        Kind::Packet(p) => Ok(p),
        _ => Err(ENOTSOCK),
    }
}

/// socket(AF_PACKET, SOCK_RAW or SOCK_DGRAM, htons(ethertype)).
pub fn socket(cx: &mut Cx, stype: i32, protocol: i32, nonblock: bool, cloexec: bool) -> Result<i32, Errno> {
    if !matches!(stype, SOCK_RAW | SOCK_DGRAM) {
        return Err(ESOCKTNOSUPPORT);
    }
    let protocol = u16::from_be(u16::try_from(protocol).map_err(|_| EINVAL)?);
    let p = PacketSock { protocol, cooked: stype == SOCK_DGRAM, ..PacketSock::default() };
    let s = cx.st.net.packet_socket(stype, p);
    cx.install_socket(s, nonblock, cloexec)
}

/// bind(struct sockaddr_ll): the protocol (0 keeps the socket's) and the
/// interface (0: every one; ENODEV for one that does not exist).
pub fn bind(cx: &mut Cx, s: SockId, addr: UserAddr, len: i32) -> Result<(), Errno> {
    if len < 12 {
        return Err(EINVAL);
    }
    let mut b = [0u8; 12];
    cx.mem.copy_in(addr, &mut b)?;
    if u16::from_ne_bytes([b[0], b[1]]) != AF_PACKET {
        return Err(EINVAL);
    }
    let protocol = u16::from_be_bytes([b[2], b[3]]);
    let ifindex = i32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
    let ifindex = u32::try_from(ifindex).map_err(|_| ENODEV)?;
    if ifindex != 0 && cx.st.net.ifaces.get(ifindex).is_none() {
        return Err(ENODEV);
    }
    let p = state(cx, s)?;
    if protocol != 0 {
        p.protocol = protocol;
    }
    p.ifindex = ifindex;
    Ok(())
}

/// getsockname: the binding, as a sockaddr_ll with the interface's MAC.
pub fn name(cx: &mut Cx, s: SockId) -> Result<Vec<u8>, Errno> {
    let (ifindex, protocol) = {
        let p = state(cx, s)?;
        (p.ifindex, p.protocol)
    };
    let (hatype, addr) = match cx.st.net.ifaces.get(ifindex) {
        Some(i) if i.is_loopback() => (772, i.mac),
        Some(i) => (1, i.mac),
        None => (0, [0; 6]),
    };
    Ok(sockaddr_ll(&LinkFrom { ifindex, protocol, hatype, pkttype: 0, addr }).to_vec())
}

/// The sockaddr_ll a received frame reports.
pub fn from_bytes(link: Option<LinkFrom>) -> Vec<u8> {
    let none = LinkFrom { ifindex: 0, protocol: ETH_P_ALL, hatype: 0, pkttype: 0, addr: [0; 6] };
    sockaddr_ll(&link.unwrap_or(none)).to_vec()
}

fn int(b: &[u8]) -> Result<u32, Errno> {
    b.get(..4).map(|w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]])).ok_or(EINVAL)
}

/// setsockopt(SOL_PACKET, ...).
pub fn setsockopt(cx: &mut Cx, s: SockId, name: i32, val: &[u8]) -> Result<(), Errno> {
    match name {
        PACKET_ADD_MEMBERSHIP | PACKET_DROP_MEMBERSHIP => {
            // struct packet_mreq: ifindex, type, alen, address.
            if val.len() < 16 {
                return Err(EINVAL);
            }
            let ifindex = int(val)?;
            if cx.st.net.ifaces.get(ifindex).is_none() {
                return Err(ENODEV);
            }
            if u16::from_ne_bytes([val[4], val[5]]) == PACKET_MR_PROMISC {
                state(cx, s)?.promisc = name == PACKET_ADD_MEMBERSHIP;
            }
        }
        PACKET_AUXDATA => state(cx, s)?.auxdata = int(val)? != 0,
        PACKET_VERSION => {
            let v = int(val)?;
            let p = state(cx, s)?;
            if p.ring.is_some() {
                return Err(EBUSY);
            }
            if v > TPACKET_V3 {
                return Err(EINVAL);
            }
            p.version = v;
        }
        PACKET_RESERVE => {
            let v = int(val)?;
            let p = state(cx, s)?;
            if p.ring.is_some() {
                return Err(EBUSY);
            }
            p.reserve = v.min(PAGE);
        }
        PACKET_RX_RING => rx_ring(cx, s, val)?,
        _ => return Err(ENOPROTOOPT),
    }
    Ok(())
}

/// PACKET_RX_RING with a `struct tpacket_req3`, checked as Linux's
/// `packet_set_ring` checks it: blocks a multiple of the page, frames
/// 16-aligned and whole in a block, the frame count matching. Only
/// TPACKET_V3 rings are made; a request for no blocks takes the ring away.
fn rx_ring(cx: &mut Cx, s: SockId, val: &[u8]) -> Result<(), Errno> {
    let version = state(cx, s)?.version;
    if version != TPACKET_V3 || val.len() < 28 {
        return Err(EINVAL);
    }
    let w = |i: usize| u32::from_ne_bytes([val[4 * i], val[4 * i + 1], val[4 * i + 2], val[4 * i + 3]]);
    let (block_size, block_nr, frame_size, frame_nr, tov) = (w(0), w(1), w(2), w(3), w(4));
    if block_nr == 0 {
        state(cx, s)?.ring = None;
        return Ok(());
    }
    if state(cx, s)?.ring.is_some() {
        return Err(EBUSY);
    }
    let bad = block_size == 0
        || block_size % PAGE != 0
        || frame_size < 68
        || frame_size % 16 != 0
        || frame_size > block_size
        || u64::from(frame_nr) != u64::from(block_size / frame_size) * u64::from(block_nr);
    let len = u64::from(block_size) * u64::from(block_nr);
    if bad || len > MAX_RING {
        return Err(EINVAL);
    }
    let mem = SharedMem::new(c"rump-packet-ring", len, cx.st.mem.clone())?;
    state(cx, s)?.ring = Some(Ring::new(mem, block_size, block_nr, tov));
    Ok(())
}

/// getsockopt(SOL_PACKET, ...); `val` holds what the caller passed in
/// (PACKET_HDRLEN reads the version there).
pub fn getsockopt(cx: &mut Cx, s: SockId, name: i32, val: UserAddr) -> Result<Vec<u8>, Errno> {
    let p = state(cx, s)?;
    let v = match name {
        PACKET_VERSION => p.version.to_ne_bytes().to_vec(),
        PACKET_RESERVE => p.reserve.to_ne_bytes().to_vec(),
        PACKET_AUXDATA => u32::from(p.auxdata).to_ne_bytes().to_vec(),
        PACKET_STATISTICS => {
            // struct tpacket_stats(_v3): taken (lost included), lost, and
            // for V3 the times the queue froze; reading starts them anew.
            let mut b = p.packets.wrapping_add(p.drops).to_ne_bytes().to_vec();
            b.extend_from_slice(&p.drops.to_ne_bytes());
            if p.version == TPACKET_V3 {
                b.extend_from_slice(&0u32.to_ne_bytes());
            }
            p.packets = 0;
            p.drops = 0;
            b
        }
        PACKET_HDRLEN => {
            let asked: u32 = read_pod(cx.mem, val)?;
            match asked {
                TPACKET_V3 => TPACKET3_HDR.to_ne_bytes().to_vec(),
                TPACKET_V2 => TPACKET2_HDR.to_ne_bytes().to_vec(),
                _ => return Err(EINVAL),
            }
        }
        _ => return Err(ENOPROTOOPT),
    };
    Ok(v)
}

/// SO_ATTACH_FILTER (`struct sock_fprog`: a count and a pointer to the
/// instructions) and SO_DETACH_FILTER.
pub fn filter(cx: &mut Cx, s: SockId, name: i32, val: &[u8]) -> Result<(), Errno> {
    if name == SO_DETACH_FILTER {
        let p = state(cx, s)?;
        return p.filter.take().map(|_| ()).ok_or(ENOENT);
    }
    if val.len() < 16 {
        return Err(EINVAL);
    }
    let n = u16::from_ne_bytes([val[0], val[1]]) as usize;
    let at = UserAddr(u64::from_ne_bytes(val[8..16].try_into().map_err(|_| EINVAL)?));
    let mut code = vec![0u8; n.min(4096) * 8];
    cx.mem.copy_in(at, &mut code)?;
    let prog = bpf::parse(&code)?;
    state(cx, s)?.filter = Some(prog);
    Ok(())
}
