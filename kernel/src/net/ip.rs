//! IPv4 and IPv6: what arrives on an interface is delivered locally,
//! forwarded (when `net.inet.ip.forwarding` is on) or dropped; what leaves
//! is routed, given a source address, fragmented to the interface's MTU
//! and handed to the link. IPv4 fragments addressed to us are reassembled.

use super::ether::Sent;
use super::icmp::IcmpError;
use super::iface::IfIndex;
use super::wire::{decrement_ttl, tcp_mss, IpRepr, MAX_HEADER, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};
use super::Net;
use rump_abi::native::errno::{EADDRNOTAVAIL, EMSGSIZE};
use rump_abi::Errno;
use std::collections::HashMap;
use std::net::IpAddr;

/// Reassembly gives up on a datagram after this long (Linux's ipfrag_time).
const REASM_TIMEOUT: u64 = 30_000_000;
/// Largest datagram we reassemble.
const REASM_MAX: usize = 65535;

struct Partial {
    /// (offset, bytes) pieces as they came.
    pieces: Vec<(usize, Vec<u8>)>,
    total: Option<usize>,
    first: Option<IpRepr>,
    started: u64,
}

/// IPv4 datagrams being put back together, by (src, dst, proto, ident).
#[derive(Default)]
pub struct Reassembly {
    partial: HashMap<(IpAddr, IpAddr, u8, u16), Partial>,
}

impl Reassembly {
    /// Datagrams being put together, and the bytes their pieces hold.
    pub fn usage(&self) -> (usize, usize) {
        let bytes = self.partial.values().flat_map(|p| p.pieces.iter().map(|(_, d)| d.len())).sum();
        (self.partial.len(), bytes)
    }

    /// Adds a fragment; returns the whole datagram once every byte is in.
    fn add(&mut self, ip: &IpRepr, data: &[u8], now: u64) -> Option<(IpRepr, Vec<u8>)> {
        let key = (ip.src, ip.dst, ip.proto, ip.ident);
        let p =
            self.partial.entry(key).or_insert(Partial { pieces: Vec::new(), total: None, first: None, started: now });
        let off = ip.frag_off as usize;
        if off + data.len() > REASM_MAX {
            self.partial.remove(&key);
            return None;
        }
        if !ip.more_frags {
            p.total = Some(off + data.len());
        }
        if off == 0 {
            p.first = Some(*ip);
        }
        p.pieces.push((off, data.to_vec()));
        let total = p.total?;
        let first = p.first?;
        let mut have = vec![false; total];
        let mut buf = vec![0u8; total];
        for (o, d) in &p.pieces {
            let end = (o + d.len()).min(total);
            if *o < end {
                buf[*o..end].copy_from_slice(&d[..end - o]);
                have[*o..end].fill(true);
            }
        }
        if have.iter().all(|h| *h) {
            self.partial.remove(&key);
            let whole = IpRepr { more_frags: false, frag_off: 0, ..first };
            return Some((whole, buf));
        }
        None
    }

    /// Drops datagrams that waited too long; returns their first
    /// fragments, which earn the sender an ICMP "reassembly time exceeded".
    pub fn expire(&mut self, now: u64) -> usize {
        let before = self.partial.len();
        self.partial.retain(|_, p| now < p.started + REASM_TIMEOUT);
        before - self.partial.len()
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.partial.values().map(|p| p.started + REASM_TIMEOUT).min()
    }
}

impl Net {
    /// A packet that arrived on interface `iface` (after the link layer).
    pub fn ip_input(&mut self, iface: IfIndex, packet: &[u8]) {
        let Some((ip, payload)) = IpRepr::parse(packet) else {
            self.stats.ip_in_hdr_errors += 1;
            return;
        };
        self.ip_input_parsed(iface, ip, packet, payload);
    }

    /// `ip_input` of a packet whose header the link layer already parsed
    /// into `ip`, with `payload` the bytes it carries; `Sent::Wire` if it
    /// was only forwarded straight on (or dropped).
    pub fn ip_input_parsed(&mut self, iface: IfIndex, ip: IpRepr, packet: &[u8], payload: &[u8]) -> Sent {
        self.stats.ip_in_receives += 1;
        self.learn_scope(ip.src, iface);
        if self.ifaces.is_local(ip.dst) || ip.dst.is_multicast() {
            self.ip_deliver(ip, payload);
            Sent::Kept
        } else if self.ifaces.get(iface).is_some_and(|i| i.is_loopback()) {
            // Martian: loopback traffic to a non-local address goes nowhere.
            Sent::Wire
        } else {
            self.ip_forward(ip, packet, payload)
        }
    }

    fn ip_deliver(&mut self, ip: IpRepr, payload: &[u8]) {
        if ip.more_frags || ip.frag_off != 0 {
            let now = self.now();
            if let Some((whole, data)) = self.reasm.add(&ip, payload, now) {
                self.stats.ip_reasm_oks += 1;
                self.ip_deliver(whole, &data);
            }
            return;
        }
        self.stats.ip_in_delivers += 1;
        match ip.proto {
            PROTO_TCP => {
                // The peer's MSS may be more than our way back carries.
                let clamped = self.clamp_mss(ip, ip.src, payload);
                let now = self.now();
                for (ip, seg) in self.recovery.received(&ip, payload, now) {
                    let _ = self.ip_output(ip, &seg);
                }
                self.tcp.input(&ip, clamped.as_deref().unwrap_or(payload))
            }
            PROTO_UDP => self.udp_input(&ip, payload),
            PROTO_ICMP | PROTO_ICMPV6 => self.icmp_input(&ip, payload),
            _ => self.icmp_error(&ip, payload, IcmpError::ProtoUnreachable),
        }
    }

    /// Forwards `packet` (`ip`'s header, then `payload`) towards its
    /// destination. A packet that fits the next link leaves as it came
    /// (options and all), but for its TTL and checksum, without being
    /// copied or re-emitted; a bigger one is cut into fragments.
    fn ip_forward(&mut self, ip: IpRepr, packet: &[u8], payload: &[u8]) -> Sent {
        let on = if ip.dst.is_ipv4() { self.knobs.forwarding } else { self.knobs.forwarding6 };
        if !on {
            self.stats.ip_in_addr_errors += 1;
            return Sent::Wire;
        }
        if ip.ttl <= 1 {
            self.icmp_error(&ip, payload, IcmpError::TtlExceeded);
            return Sent::Kept;
        }
        let Ok(hop) = self.routes.lookup(&self.ifaces, ip.dst) else {
            self.icmp_error(&ip, payload, IcmpError::NetUnreachable);
            return Sent::Kept;
        };
        self.stats.ip_forw_datagrams += 1;
        let fwd = IpRepr { ttl: ip.ttl - 1, ..ip };
        let mtu = self.ifaces.get(hop.iface).map_or(1500, |i| i.mtu) as usize;
        if fwd.header_len + payload.len() > mtu && (fwd.df || fwd.dst.is_ipv6()) {
            self.icmp_error(&ip, payload, IcmpError::TooBig(mtu as u32));
            return Sent::Kept;
        }
        if fwd.header_len + payload.len() <= mtu {
            let mut header = [0u8; MAX_HEADER];
            let header = &mut header[..ip.header_len];
            header.copy_from_slice(&packet[..ip.header_len]);
            decrement_ttl(header);
            return self.link_output(hop.iface, hop.via, header, payload).unwrap_or(Sent::Wire);
        }
        let _ = self.send_fragments(hop.iface, hop.via, fwd, payload, mtu);
        Sent::Kept
    }

    /// Sends a datagram we originate: routes it, picks the source address
    /// when `ip.src` is unspecified, fragments it if allowed. The payload's
    /// transport checksum must already be right for the final source.
    pub fn ip_output(&mut self, ip: IpRepr, payload: &[u8]) -> Result<(), Errno> {
        let hop = self.route_local_first(ip.dst)?;
        let ifc = self.ifaces.get(hop.iface).ok_or(EADDRNOTAVAIL)?;
        let (mtu, on_link) = (ifc.mtu as usize, !ifc.is_loopback());
        let ident = self.next_ident();
        let mut ip = IpRepr { ident, ..ip };
        if ip.src.is_unspecified() {
            ip.src = self.source_for(ip.dst)?;
        }
        self.stats.ip_out_requests += 1;
        let clamped = if ip.proto == PROTO_TCP { self.clamp_mss(ip, ip.dst, payload) } else { None };
        let payload = clamped.as_deref().unwrap_or(payload);
        if ip.proto == PROTO_TCP && on_link {
            let now = self.now();
            self.recovery.sent(&ip, payload, now);
        }
        let hdr = if ip.dst.is_ipv4() { 20 } else { 40 };
        if hdr + payload.len() > mtu && (ip.df || ip.dst.is_ipv6()) {
            return Err(EMSGSIZE);
        }
        self.send_fragments(hop.iface, hop.via, IpRepr { header_len: hdr, ..ip }, payload, mtu)
    }

    /// The TCP segment `seg` (of datagram `ip`) with the MSS its SYN
    /// offers lowered to what the route to `peer` carries, or None if it
    /// needs no change. The engine believes in one big MTU, so both the
    /// MSS we offer and the one we accept are clamped here, as TCPMSS
    /// clamping does on a router.
    fn clamp_mss(&self, ip: IpRepr, peer: IpAddr, seg: &[u8]) -> Option<Vec<u8>> {
        let (at, mss) = tcp_mss(seg)?;
        let hop = self.route_local_first(peer).ok()?;
        let mtu = self.ifaces.get(hop.iface)?.mtu as usize;
        let hdr = if peer.is_ipv4() { 40 } else { 60 };
        if mss as usize + hdr <= mtu {
            return None;
        }
        let mut out = seg.to_vec();
        out[at..at + 2].copy_from_slice(&(mtu.saturating_sub(hdr) as u16).to_be_bytes());
        ip.fill_transport_sum(&mut out, 16);
        Some(out)
    }

    /// Our own addresses are reached through loopback, whatever interface
    /// holds them (Linux's local table).
    /// A link-local destination goes out of the interface its scope names
    /// (learnt from the caller's sin6_scope_id or from where it spoke from).
    pub fn route_local_first(&self, dst: IpAddr) -> Result<super::route::NextHop, Errno> {
        if self.ifaces.owner_of(dst).is_some() {
            if let Some(lo) = self.ifaces.iter().find(|i| i.is_loopback() && i.is_up()) {
                return Ok(super::route::NextHop { iface: lo.index, via: dst });
            }
        }
        if let IpAddr::V6(v) = dst {
            if let Some(&iface) = self.ll_scope.get(&v) {
                return Ok(super::route::NextHop { iface, via: dst });
            }
        }
        self.routes.lookup(&self.ifaces, dst)
    }

    /// Records the interface a link-local address lives behind.
    pub fn learn_scope(&mut self, addr: IpAddr, iface: IfIndex) {
        if let IpAddr::V6(v) = addr {
            if is_link_local(v) && iface != 0 && self.ifaces.get(iface).is_some() {
                self.ll_scope.insert(v, iface);
            }
        }
    }

    /// The source address for a packet to `dst`: the address of the
    /// outgoing interface, or EADDRNOTAVAIL if it has none of the family.
    pub fn source_for(&self, dst: IpAddr) -> Result<IpAddr, Errno> {
        if self.ifaces.is_local(dst) && self.ifaces.owner_of(dst).is_some() {
            return Ok(dst);
        }
        let hop = self.route_local_first(dst)?;
        self.ifaces.get(hop.iface).and_then(|i| i.source_for(dst)).ok_or(EADDRNOTAVAIL)
    }

    fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// Emits `ip` + `payload` on `iface` towards neighbour `via`, cut into
    /// fragments of at most `mtu` bytes (v4; v6 is never cut here).
    fn send_fragments(
        &mut self,
        iface: IfIndex,
        via: IpAddr,
        ip: IpRepr,
        payload: &[u8],
        mtu: usize,
    ) -> Result<(), Errno> {
        let hdr = if ip.dst.is_ipv4() { 20 } else { 40 };
        if hdr + payload.len() <= mtu || ip.dst.is_ipv6() {
            return self.link_output(iface, via, &ip.emit_header(payload.len()), payload).map(drop);
        }
        // Fragment sizes are multiples of 8 bytes, the last one excepted.
        let step = (mtu - hdr) & !7;
        let base = ip.frag_off as usize;
        let mut off = 0;
        while off < payload.len() {
            let end = (off + step).min(payload.len());
            let last = end == payload.len();
            let frag = IpRepr { frag_off: (base + off) as u16, more_frags: !last || ip.more_frags, ..ip };
            self.stats.ip_frag_creates += 1;
            self.link_output(iface, via, &frag.emit_header(end - off), &payload[off..end])?;
            off = end;
        }
        self.stats.ip_frag_oks += 1;
        Ok(())
    }

    /// The reassembly timer.
    pub(super) fn ip_tick(&mut self, now: u64) {
        let dropped = self.reasm.expire(now);
        self.stats.ip_reasm_fails += dropped as u64;
    }

    pub(super) fn ip_deadline(&self) -> Option<u64> {
        self.reasm.next_deadline()
    }
}

/// fe80::/10.
pub fn is_link_local(v: std::net::Ipv6Addr) -> bool {
    v.segments()[0] & 0xffc0 == 0xfe80
}
