//! The headers our L2/L3 reads and writes — Ethernet, ARP, IPv4, IPv6,
//! UDP, ICMP — each as a validated meaning (`*Repr`) parsed from bytes
//! (every length checked: frames come from other processes' bus writes)
//! and emitted into them. TCP segments are smoltcp's business; the
//! checksum arithmetic is smoltcp's too.

use smoltcp::wire::checksum;
use smoltcp::wire::IpProtocol;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETH_HLEN: usize = 14;
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_FRAG6: u8 = 44;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetRepr {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub ethertype: u16,
}

impl EthernetRepr {
    pub fn parse(f: &[u8]) -> Option<(EthernetRepr, &[u8])> {
        if f.len() < ETH_HLEN {
            return None;
        }
        let mut dst = [0; 6];
        let mut src = [0; 6];
        dst.copy_from_slice(&f[0..6]);
        src.copy_from_slice(&f[6..12]);
        Some((EthernetRepr { dst, src, ethertype: be16(f, 12) }, &f[ETH_HLEN..]))
    }

    /// The 14 header bytes (the payload follows them).
    pub fn header(&self) -> [u8; ETH_HLEN] {
        let mut h = [0u8; ETH_HLEN];
        h[..6].copy_from_slice(&self.dst);
        h[6..12].copy_from_slice(&self.src);
        h[12..].copy_from_slice(&self.ethertype.to_be_bytes());
        h
    }
}

pub const ARP_REQUEST: u16 = 1;
pub const ARP_REPLY: u16 = 2;

/// An Ethernet/IPv4 ARP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpRepr {
    pub op: u16,
    pub sha: [u8; 6],
    pub spa: Ipv4Addr,
    pub tha: [u8; 6],
    pub tpa: Ipv4Addr,
}

impl ArpRepr {
    pub fn parse(b: &[u8]) -> Option<ArpRepr> {
        // htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4.
        if b.len() < 28 || be16(b, 0) != 1 || be16(b, 2) != ETHERTYPE_IPV4 || b[4] != 6 || b[5] != 4 {
            return None;
        }
        let mac = |at: usize| {
            let mut m = [0; 6];
            m.copy_from_slice(&b[at..at + 6]);
            m
        };
        let ip = |at: usize| Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
        Some(ArpRepr { op: be16(b, 6), sha: mac(8), spa: ip(14), tha: mac(18), tpa: ip(24) })
    }

    pub fn emit(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(28);
        b.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
        b.extend_from_slice(&self.op.to_be_bytes());
        b.extend_from_slice(&self.sha);
        b.extend_from_slice(&self.spa.octets());
        b.extend_from_slice(&self.tha);
        b.extend_from_slice(&self.tpa.octets());
        b
    }
}

/// An IP header of either version, with the fields our L3 uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRepr {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub ttl: u8,
    pub tos: u8,
    /// v4 only: identification, don't-fragment, more-fragments, offset in bytes.
    pub ident: u16,
    pub df: bool,
    pub more_frags: bool,
    pub frag_off: u16,
    /// Bytes of header (v4 with options, v6 fixed 40).
    pub header_len: usize,
}

impl IpRepr {
    pub fn new(src: IpAddr, dst: IpAddr, proto: u8, ttl: u8) -> IpRepr {
        IpRepr { src, dst, proto, ttl, tos: 0, ident: 0, df: false, more_frags: false, frag_off: 0, header_len: 0 }
    }

    /// Parses an IPv4 or IPv6 header; returns it with the payload (cut
    /// to the length the header states). None if malformed.
    pub fn parse(p: &[u8]) -> Option<(IpRepr, &[u8])> {
        match p.first()? >> 4 {
            4 => Self::parse_v4(p),
            6 => Self::parse_v6(p),
            _ => None,
        }
    }

    fn parse_v4(p: &[u8]) -> Option<(IpRepr, &[u8])> {
        if p.len() < 20 {
            return None;
        }
        let ihl = (p[0] & 0xf) as usize * 4;
        let total = be16(p, 2) as usize;
        if ihl < 20 || total < ihl || total > p.len() || checksum::data(&p[..ihl]) != 0xffff {
            return None;
        }
        let frag = be16(p, 6);
        let r = IpRepr {
            src: IpAddr::V4(Ipv4Addr::new(p[12], p[13], p[14], p[15])),
            dst: IpAddr::V4(Ipv4Addr::new(p[16], p[17], p[18], p[19])),
            proto: p[9],
            ttl: p[8],
            tos: p[1],
            ident: be16(p, 4),
            df: frag & 0x4000 != 0,
            more_frags: frag & 0x2000 != 0,
            frag_off: (frag & 0x1fff) * 8,
            header_len: ihl,
        };
        Some((r, &p[ihl..total]))
    }

    fn parse_v6(p: &[u8]) -> Option<(IpRepr, &[u8])> {
        if p.len() < 40 {
            return None;
        }
        let plen = be16(p, 4) as usize;
        if 40 + plen > p.len() {
            return None;
        }
        let a = |at: usize| {
            let mut o = [0u8; 16];
            o.copy_from_slice(&p[at..at + 16]);
            IpAddr::V6(Ipv6Addr::from(o))
        };
        let tos = ((be16(p, 0) >> 4) & 0xff) as u8;
        let r = IpRepr { header_len: 40, tos, ..IpRepr::new(a(8), a(24), p[6], p[7]) };
        Some((r, &p[40..40 + plen]))
    }

    /// The header bytes for a payload of `len` bytes (v4: no options).
    pub fn emit_header(&self, len: usize) -> Vec<u8> {
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut h = vec![0u8; 20];
                h[0] = 0x45;
                h[1] = self.tos;
                h[2..4].copy_from_slice(&((20 + len) as u16).to_be_bytes());
                h[4..6].copy_from_slice(&self.ident.to_be_bytes());
                let frag =
                    (self.frag_off / 8) | if self.df { 0x4000 } else { 0 } | if self.more_frags { 0x2000 } else { 0 };
                h[6..8].copy_from_slice(&frag.to_be_bytes());
                h[8] = self.ttl;
                h[9] = self.proto;
                h[12..16].copy_from_slice(&s.octets());
                h[16..20].copy_from_slice(&d.octets());
                let c = !checksum::data(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                h
            }
            (s, d) => {
                let mut h = vec![0u8; 40];
                h[0] = 0x60 | (self.tos >> 4);
                h[1] = self.tos << 4;
                h[4..6].copy_from_slice(&(len as u16).to_be_bytes());
                h[6] = self.proto;
                h[7] = self.ttl;
                h[8..24].copy_from_slice(&v6(s).octets());
                h[24..40].copy_from_slice(&v6(d).octets());
                h
            }
        }
    }

    /// The transport checksum over the pseudo header and `data` (the
    /// checksum field included): 0xffff when correct.
    pub fn transport_sum(&self, data: &[u8]) -> u16 {
        let ph = match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                checksum::pseudo_header_v4(&s, &d, IpProtocol::from(self.proto), data.len() as u32)
            }
            (s, d) => checksum::pseudo_header_v6(&v6(s), &v6(d), IpProtocol::from(self.proto), data.len() as u32),
        };
        checksum::combine(&[ph, checksum::data(data)])
    }

    /// Writes the transport checksum at `at` in `data`.
    pub fn fill_transport_sum(&self, data: &mut [u8], at: usize) {
        data[at..at + 2].fill(0);
        let mut c = !self.transport_sum(data);
        if c == 0 && self.proto == PROTO_UDP {
            c = 0xffff;
        }
        data[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
}

/// A v4 address as v4-mapped v6 (mixing families only happens in headers
/// our own code builds, where both are of one family).
fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V6(v) => v,
        IpAddr::V4(v) => v.to_ipv6_mapped(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl UdpRepr {
    /// Parses and checks a datagram; returns the ports and the payload.
    pub fn parse<'a>(ip: &IpRepr, d: &'a [u8]) -> Option<(UdpRepr, &'a [u8])> {
        if d.len() < 8 {
            return None;
        }
        let len = be16(d, 4) as usize;
        if len < 8 || len > d.len() {
            return None;
        }
        let sum_present = be16(d, 6) != 0 || ip.dst.is_ipv6();
        if sum_present && ip.transport_sum(&d[..len]) != 0xffff {
            return None;
        }
        Some((UdpRepr { src_port: be16(d, 0), dst_port: be16(d, 2) }, &d[8..len]))
    }

    pub fn emit(&self, ip: &IpRepr, payload: &[u8]) -> Vec<u8> {
        let mut d = Vec::with_capacity(8 + payload.len());
        d.extend_from_slice(&self.src_port.to_be_bytes());
        d.extend_from_slice(&self.dst_port.to_be_bytes());
        d.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        d.extend_from_slice(&[0, 0]);
        d.extend_from_slice(payload);
        ip.fill_transport_sum(&mut d, 6);
        d
    }
}

/// ICMP and ICMPv6 messages: type, code, the 4 bytes after the checksum,
/// and the rest. Checksums: v4 over the message, v6 with the pseudo header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpRepr<'a> {
    pub ty: u8,
    pub code: u8,
    pub rest: [u8; 4],
    pub data: &'a [u8],
}

impl<'a> IcmpRepr<'a> {
    pub fn parse(ip: &IpRepr, m: &'a [u8]) -> Option<IcmpRepr<'a>> {
        if m.len() < 8 {
            return None;
        }
        let ok = if ip.src.is_ipv4() { checksum::data(m) == 0xffff } else { ip.transport_sum(m) == 0xffff };
        if !ok {
            return None;
        }
        Some(IcmpRepr { ty: m[0], code: m[1], rest: [m[4], m[5], m[6], m[7]], data: &m[8..] })
    }

    pub fn emit(&self, ip: &IpRepr) -> Vec<u8> {
        let mut m = Vec::with_capacity(8 + self.data.len());
        m.extend_from_slice(&[self.ty, self.code, 0, 0]);
        m.extend_from_slice(&self.rest);
        m.extend_from_slice(self.data);
        fill_icmp_sum(ip, &mut m);
        m
    }
}

/// Writes an ICMP message's checksum (v6: with the pseudo header).
pub fn fill_icmp_sum(ip: &IpRepr, m: &mut [u8]) {
    if m.len() < 4 {
        return;
    }
    if ip.src.is_ipv4() {
        m[2..4].fill(0);
        let c = !checksum::data(m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
    } else {
        ip.fill_transport_sum(m, 2);
    }
}

/// The longest IP header `IpRepr::parse` accepts (v4 with 40 bytes of
/// options; v6's fixed header is 40).
pub const MAX_HEADER: usize = 60;

/// Takes one hop off a parsed IPv4 or IPv6 header in place: the TTL or
/// hop limit goes down by one and a v4 header checksum is made right
/// again. The caller has checked that the TTL is above 1.
pub fn decrement_ttl(header: &mut [u8]) {
    if header[0] >> 4 == 6 {
        header[7] -= 1;
        return;
    }
    header[8] -= 1;
    header[10..12].fill(0);
    let sum = !checksum::data(header);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// The TCP MSS option of a SYN, if any: (offset of its value, value).
pub fn tcp_mss(seg: &[u8]) -> Option<(usize, u16)> {
    if seg.len() < 20 || seg[13] & 0x02 == 0 {
        return None;
    }
    let at = tcp_option(seg, 2).filter(|&(_, len)| len == 2)?.0;
    Some((at, be16(seg, at)))
}

/// Where the value of TCP option `kind` is in segment `seg`, if it
/// carries one: its offset and length.
pub fn tcp_option(seg: &[u8], kind: u8) -> Option<(usize, usize)> {
    let off = ((*seg.get(12)? >> 4) as usize * 4).min(seg.len());
    let mut i = 20;
    while i < off {
        match seg[i] {
            0 => return None,
            1 => i += 1,
            k if k == kind && seg.get(i + 1).is_some_and(|&l| l >= 2 && i + l as usize <= off) => {
                return Some((i + 2, seg[i + 1] as usize - 2))
            }
            _ => {
                let l = *seg.get(i + 1)? as usize;
                if l < 2 {
                    return None;
                }
                i += l;
            }
        }
    }
    None
}

/// A TCP segment's ports (for /proc/net and demultiplexing checks).
pub fn tcp_ports(seg: &[u8]) -> Option<(u16, u16)> {
    (seg.len() >= 20).then(|| (be16(seg, 0), be16(seg, 2)))
}

/// Reads a big-endian u32 (ICMP's rest-of-header fields).
pub fn rest_u32(rest: [u8; 4]) -> u32 {
    be32(&rest, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hop_off_keeps_the_header_valid() {
        let v4 =
            IpRepr { ttl: 2, ident: 7, df: true, ..IpRepr::new([10, 0, 0, 1].into(), [10, 0, 1, 2].into(), 17, 2) };
        let mut h = v4.emit_header(8);
        decrement_ttl(&mut h);
        let (parsed, _) = IpRepr::parse(&[h, vec![0; 8]].concat()).expect("checksum still right");
        assert_eq!(parsed, IpRepr { ttl: 1, header_len: 20, ..v4 });
        let v6 = IpRepr::new("fe80::1".parse().unwrap(), "2001:db8::2".parse().unwrap(), 17, 64);
        let mut h = v6.emit_header(0);
        decrement_ttl(&mut h);
        assert_eq!(IpRepr::parse(&h).map(|(ip, _)| ip.ttl), Some(63));
    }
}
