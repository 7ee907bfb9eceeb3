//! AF_PACKET sockets: copies of the frames an interface receives and
//! sends, for capture tools. A socket takes frames of one ethertype or
//! all (ETH_P_ALL), on one interface or every one, whole (SOCK_RAW) or
//! without their link header (SOCK_DGRAM); frames to other hosts only
//! with PACKET_MR_PROMISC membership; a classic BPF filter (`net::bpf`)
//! decides what is kept and how much. Frames go to the socket's queue, or
//! into its TPACKET_V3 ring — shared memory (`crate::shm`) that libpcap
//! maps — in blocks handed to the process when full or when their
//! retire timeout passes, as Linux's `tpacket_rcv` fills them.
//!
//! Loopback has no link header here; its frames are shown with a zeroed
//! Ethernet one, as Linux's `lo` shows them (ARPHRD_LOOPBACK), once, as
//! they arrive: Linux also shows the outgoing copy, which libpcap drops
//! for the interface named `lo` (here `lo0`, which it does not know).

use super::bpf::{self, Insn};
use super::iface::IfIndex;
use super::socket::{Datagram, Kind};
use super::Net;
use crate::shm::SharedMem;
use rump_abi::native::errno::*;
use rump_abi::Errno;
use std::net::{Ipv4Addr, SocketAddr};

pub const ETH_P_ALL: u16 = 0x0003;
const ETH_HLEN: usize = 14;
/// sockaddr_ll's sll_pkttype values.
pub const PACKET_HOST: u8 = 0;
pub const PACKET_BROADCAST: u8 = 1;
pub const PACKET_MULTICAST: u8 = 2;
pub const PACKET_OTHERHOST: u8 = 3;
pub const PACKET_OUTGOING: u8 = 4;
pub const TPACKET_V3: u32 = 2;

/// Where a frame came from, as `struct sockaddr_ll` reports it.
#[derive(Clone, Copy, Debug)]
pub struct LinkFrom {
    pub ifindex: IfIndex,
    /// The ethertype, host order.
    pub protocol: u16,
    pub hatype: u16,
    pub pkttype: u8,
    /// The sender's MAC.
    pub addr: [u8; 6],
}

/// A packet socket's binding, options and counters.
#[derive(Default)]
pub struct PacketSock {
    /// The ethertype taken (host order), ETH_P_ALL for all, 0 for none.
    pub protocol: u16,
    /// The interface bound to, 0 for every one.
    pub ifindex: IfIndex,
    /// SOCK_DGRAM: frames without their link header.
    pub cooked: bool,
    pub promisc: bool,
    pub version: u32,
    pub reserve: u32,
    pub auxdata: bool,
    pub filter: Option<Vec<Insn>>,
    pub ring: Option<Ring>,
    /// PACKET_STATISTICS: frames taken, and those lost for want of room.
    pub packets: u32,
    pub drops: u32,
}

// Offsets in a TPACKET_V3 block and frame (linux/if_packet.h).
const BLK_HDR_LEN: u32 = 48;
const BLK_STATUS: u64 = 8;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_BLK_TMO: u32 = 0x20;
/// `struct tpacket3_hdr`, aligned, then a `struct sockaddr_ll`.
const TPACKET3_HDRLEN: u32 = 48 + 20;
const TPACKET_ALIGN: u32 = 16;
const V3_ALIGN: u32 = 8;
/// The retire timeout Linux picks for a fast link when none is asked.
const DEFAULT_TOV_US: u64 = 8_000;

fn align(n: u32, a: u32) -> u32 {
    n.div_ceil(a) * a
}

/// One frame on its way into a ring: the frame (its link header
/// `maclen` bytes long), how much of it the filter keeps, where it came
/// from, and the socket's PACKET_RESERVE.
#[derive(Clone, Copy)]
struct Capture<'a> {
    frame: &'a [u8],
    keep: u32,
    from: &'a LinkFrom,
    maclen: u32,
    reserve: u32,
}

/// A TPACKET_V3 receive ring.
pub struct Ring {
    pub mem: SharedMem,
    pub block_size: u32,
    pub block_nr: u32,
    retire_us: u64,
    /// The block being filled, where its next frame goes, how many it
    /// holds, where the last one starts, and when its first came (µs).
    cur: u32,
    off: u32,
    pkts: u32,
    last: u32,
    opened: u64,
    ts_first: (u32, u32),
    seq: u64,
}

impl Ring {
    /// A ring over `mem` (block_size × block_nr bytes, zeroed: every block
    /// the kernel's).
    pub fn new(mem: SharedMem, block_size: u32, block_nr: u32, retire_ms: u32) -> Ring {
        let retire_us = if retire_ms == 0 { DEFAULT_TOV_US } else { retire_ms as u64 * 1000 };
        Ring {
            mem,
            block_size,
            block_nr,
            retire_us,
            cur: 0,
            off: BLK_HDR_LEN,
            pkts: 0,
            last: 0,
            opened: 0,
            ts_first: (0, 0),
            seq: 1,
        }
    }

    /// Blocks handed to the process so far: a change of readiness that
    /// the process's own hand-backs (status words it writes in the shared
    /// ring, no call) hide from a look at the poll mask alone.
    pub fn retired(&self) -> u64 {
        self.seq
    }

    fn block_at(&self, b: u32) -> u64 {
        b as u64 * self.block_size as u64
    }

    fn status(&self, b: u32) -> u32 {
        let mut w = [0u8; 4];
        match self.mem.read_at(self.block_at(b) + BLK_STATUS, &mut w) {
            Ok(4) => u32::from_ne_bytes(w),
            _ => TP_STATUS_USER,
        }
    }

    fn put(&mut self, at: u64, data: &[u8]) {
        let _ = self.mem.write_at(at, data);
    }

    /// Whether a block waits for the process (poll's POLLIN).
    pub fn user_has_block(&self) -> bool {
        (0..self.block_nr).any(|b| self.status(b) & TP_STATUS_USER != 0)
    }

    /// Hands the current block to the process and moves to the next.
    fn retire(&mut self, ts: (u32, u32), timed_out: bool) {
        let base = self.block_at(self.cur);
        let mut h = Vec::with_capacity(BLK_HDR_LEN as usize);
        h.extend_from_slice(&TPACKET_V3.to_ne_bytes());
        h.extend_from_slice(&BLK_HDR_LEN.to_ne_bytes());
        h.extend_from_slice(&TP_STATUS_KERNEL.to_ne_bytes());
        h.extend_from_slice(&self.pkts.to_ne_bytes());
        h.extend_from_slice(&BLK_HDR_LEN.to_ne_bytes());
        h.extend_from_slice(&self.off.to_ne_bytes());
        h.extend_from_slice(&self.seq.to_ne_bytes());
        for (s, n) in [self.ts_first, ts] {
            h.extend_from_slice(&s.to_ne_bytes());
            h.extend_from_slice(&n.to_ne_bytes());
        }
        self.put(base, &h);
        // The status last: the process may take the block once it is set.
        let status = TP_STATUS_USER | if timed_out { TP_STATUS_BLK_TMO } else { 0 };
        self.put(base + BLK_STATUS, &status.to_ne_bytes());
        self.seq += 1;
        self.cur = (self.cur + 1) % self.block_nr;
        self.off = BLK_HDR_LEN;
        self.pkts = 0;
    }

    /// Writes one frame; false when there is no room (the process holds
    /// the block it would go in).
    fn write(&mut self, c: &Capture, now: u64, ts: (u32, u32)) -> bool {
        let Capture { frame, keep, from, maclen, reserve } = *c;
        let wire_len = frame.len() as u32;
        let netoff = align(TPACKET3_HDRLEN + maclen.max(16), TPACKET_ALIGN) + reserve;
        let macoff = netoff - maclen;
        let room = self.block_size - BLK_HDR_LEN;
        if macoff >= room {
            return false;
        }
        let snap = keep.min(frame.len() as u32).min(room - macoff);
        let total = align(macoff + snap, V3_ALIGN);
        if self.pkts > 0 && self.off + total > self.block_size {
            self.retire(ts, false);
        }
        if self.status(self.cur) != TP_STATUS_KERNEL {
            return false;
        }
        let base = self.block_at(self.cur);
        if self.pkts == 0 {
            self.opened = now;
            self.ts_first = ts;
        } else {
            let next = self.off - self.last;
            self.put(base + self.last as u64, &next.to_ne_bytes());
        }
        let mut h = vec![0u8; macoff as usize];
        h[4..8].copy_from_slice(&ts.0.to_ne_bytes());
        h[8..12].copy_from_slice(&ts.1.to_ne_bytes());
        h[12..16].copy_from_slice(&snap.to_ne_bytes());
        h[16..20].copy_from_slice(&wire_len.to_ne_bytes());
        h[20..24].copy_from_slice(&TP_STATUS_USER.to_ne_bytes());
        h[24..26].copy_from_slice(&(macoff as u16).to_ne_bytes());
        h[26..28].copy_from_slice(&(netoff as u16).to_ne_bytes());
        h[48..68].copy_from_slice(&sockaddr_ll(from));
        let at = base + self.off as u64;
        self.put(at, &h);
        self.put(at + macoff as u64, &frame[..snap as usize]);
        self.last = self.off;
        self.off += total;
        self.pkts += 1;
        true
    }
}

/// The bytes of a `struct sockaddr_ll`.
pub fn sockaddr_ll(f: &LinkFrom) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[0..2].copy_from_slice(&17u16.to_ne_bytes());
    b[2..4].copy_from_slice(&f.protocol.to_be_bytes());
    b[4..8].copy_from_slice(&f.ifindex.to_ne_bytes());
    b[8..10].copy_from_slice(&f.hatype.to_ne_bytes());
    b[10] = f.pkttype;
    b[11] = 6;
    b[12..18].copy_from_slice(&f.addr);
    b
}

impl Net {
    /// Shows frame `frame` (with its Ethernet header) that interface
    /// `iface` received or, when `outgoing`, sent, to the packet sockets
    /// that take it.
    /// Whether any packet socket may want to see frames.
    pub(super) fn has_packet_sockets(&self) -> bool {
        self.sockets.iter().any(|(_, s)| matches!(s.kind, Kind::Packet(_)))
    }

    pub(super) fn packet_tap(&mut self, iface: IfIndex, frame: &[u8], outgoing: bool) {
        if frame.len() < ETH_HLEN || !self.has_packet_sockets() {
            return;
        }
        let Some(ifc) = self.ifaces.get(iface) else { return };
        let (lo, mac) = (ifc.is_loopback(), ifc.mac);
        let dst: [u8; 6] = frame[..6].try_into().unwrap_or_default();
        let pkttype = if outgoing {
            PACKET_OUTGOING
        } else if lo || dst == mac {
            PACKET_HOST
        } else if dst == [0xff; 6] {
            PACKET_BROADCAST
        } else if dst[0] & 1 != 0 {
            PACKET_MULTICAST
        } else {
            PACKET_OTHERHOST
        };
        let from = LinkFrom {
            ifindex: iface,
            protocol: u16::from_be_bytes([frame[12], frame[13]]),
            hatype: if lo { 772 } else { 1 },
            pkttype,
            addr: frame[6..12].try_into().unwrap_or_default(),
        };
        let now = self.now();
        let at = self.clock.realtime();
        let ts = (at.sec as u32, at.nsec as u32);
        for (_, s) in self.sockets.iter_mut() {
            let Kind::Packet(p) = &mut s.kind else { continue };
            if (p.ifindex != 0 && p.ifindex != iface)
                || (p.protocol != ETH_P_ALL && p.protocol != from.protocol)
                || (pkttype == PACKET_OTHERHOST && !p.promisc)
            {
                continue;
            }
            let data = if p.cooked { &frame[ETH_HLEN..] } else { frame };
            let keep = match &p.filter {
                Some(f) => {
                    let anc = bpf::Ancillary {
                        protocol: from.protocol,
                        pkttype,
                        ifindex: iface,
                        hatype: from.hatype,
                        link: frame,
                    };
                    bpf::run(f, data, data.len() as u32, &anc)
                }
                None => u32::MAX,
            };
            if keep == 0 {
                continue;
            }
            p.packets = p.packets.wrapping_add(1);
            let maclen = if p.cooked { 0 } else { ETH_HLEN as u32 };
            if let Some(r) = p.ring.as_mut() {
                let c = Capture { frame: data, keep, from: &from, maclen, reserve: p.reserve };
                if !r.write(&c, now, ts) {
                    p.drops = p.drops.wrapping_add(1);
                }
                continue;
            }
            let kept = &data[..data.len().min(keep as usize)];
            let d = Datagram {
                from: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
                data: kept.to_vec(),
                at: (at.sec, at.nsec),
                ttl: 0,
                link: Some(from),
            };
            if !s.queue_rx(d) {
                if let Kind::Packet(p) = &mut s.kind {
                    p.drops = p.drops.wrapping_add(1);
                }
            }
        }
    }

    /// Shows a loopback packet (an IP packet without link header) as it
    /// arrives, with the zeroed Ethernet header Linux's `lo` gives it.
    pub(super) fn packet_tap_loopback(&mut self, iface: IfIndex, pkt: &[u8]) {
        if !self.sockets.iter().any(|(_, s)| matches!(s.kind, Kind::Packet(_))) {
            return;
        }
        let ethertype: u16 = if pkt.first().is_some_and(|b| b >> 4 == 6) { 0x86dd } else { 0x0800 };
        let mut frame = vec![0u8; ETH_HLEN];
        frame[12..14].copy_from_slice(&ethertype.to_be_bytes());
        frame.extend_from_slice(pkt);
        self.packet_tap(iface, &frame, false);
    }

    /// Hands over ring blocks whose retire timeout has passed.
    pub(super) fn packet_tick(&mut self, now: u64) {
        let at = self.clock.realtime();
        for (_, s) in self.sockets.iter_mut() {
            if let Kind::Packet(p) = &mut s.kind {
                if let Some(r) = p.ring.as_mut().filter(|r| r.pkts > 0 && now >= r.opened + r.retire_us) {
                    r.retire((at.sec as u32, at.nsec as u32), true);
                }
            }
        }
    }

    /// When a ring block next times out.
    pub(super) fn packet_deadline(&self) -> Option<u64> {
        self.sockets
            .iter()
            .filter_map(|(_, s)| match &s.kind {
                Kind::Packet(p) => p.ring.as_ref().filter(|r| r.pkts > 0).map(|r| r.opened + r.retire_us),
                _ => None,
            })
            .min()
    }

    /// Sends a whole frame from a SOCK_RAW packet socket bound to an
    /// interface (its source MAC as given).
    pub fn packet_send(&mut self, id: super::socket::SockId, frame: &[u8]) -> Result<usize, Errno> {
        let s = self.sock(id)?;
        let Kind::Packet(p) = &s.kind else { return Err(EINVAL) };
        if p.cooked || p.ifindex == 0 {
            return Err(if p.cooked { EOPNOTSUPP } else { ENXIO });
        }
        let iface = p.ifindex;
        let ifc = self.ifaces.get(iface).ok_or(ENXIO)?;
        if frame.len() < ETH_HLEN || frame.len() > ETH_HLEN + ifc.mtu as usize {
            return Err(if frame.len() < ETH_HLEN { EINVAL } else { EMSGSIZE });
        }
        if !ifc.is_up() {
            return Err(ENETDOWN);
        }
        self.packet_tap(iface, frame, true);
        self.put_on_wire(iface, vec![frame.to_vec()]);
        Ok(frame.len())
    }
}
