//! ICMP and ICMPv6 as the kernel speaks them: echo replies, and the errors
//! it sends (unreachable, time exceeded, too big). Every ICMP message that
//! arrives is also offered to raw sockets (`raw`), which is how ping sees
//! its replies and the errors routers send it.

use super::socket::{unmap, Kind};
use super::wire::{rest_u32, IcmpRepr, IpRepr, PROTO_ICMP, PROTO_ICMPV6, PROTO_UDP};
use super::Net;
use rump_abi::native::errno::{EACCES, ECONNREFUSED, EHOSTUNREACH, EMSGSIZE, ENETUNREACH, ENOPROTOOPT, EPROTO};
use rump_abi::Errno;
use std::net::{IpAddr, SocketAddr};

pub const ECHO_REPLY: u8 = 0;
pub const DEST_UNREACH: u8 = 3;
pub const ECHO_REQUEST: u8 = 8;
pub const TIME_EXCEEDED: u8 = 11;
pub const V6_DEST_UNREACH: u8 = 1;
pub const V6_TOO_BIG: u8 = 2;
pub const V6_TIME_EXCEEDED: u8 = 3;
pub const V6_ECHO_REQUEST: u8 = 128;
pub const V6_ECHO_REPLY: u8 = 129;

/// The errors the kernel reports to a sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpError {
    NetUnreachable,
    HostUnreachable,
    ProtoUnreachable,
    PortUnreachable,
    TtlExceeded,
    /// Fragmentation needed (v4) / packet too big (v6), with the MTU.
    TooBig(u32),
}

impl IcmpError {
    /// (type, code, rest-of-header) for v4 or v6.
    fn encode(self, v6: bool) -> (u8, u8, [u8; 4]) {
        use IcmpError::*;
        match (self, v6) {
            (NetUnreachable, false) => (DEST_UNREACH, 0, [0; 4]),
            (HostUnreachable, false) => (DEST_UNREACH, 1, [0; 4]),
            (ProtoUnreachable, false) => (DEST_UNREACH, 2, [0; 4]),
            (PortUnreachable, false) => (DEST_UNREACH, 3, [0; 4]),
            (TtlExceeded, false) => (TIME_EXCEEDED, 0, [0; 4]),
            (TooBig(mtu), false) => (DEST_UNREACH, 4, [0, 0, (mtu >> 8) as u8, mtu as u8]),
            (NetUnreachable, true) => (V6_DEST_UNREACH, 0, [0; 4]),
            (HostUnreachable, true) => (V6_DEST_UNREACH, 3, [0; 4]),
            (ProtoUnreachable, true) => (4, 1, [0; 4]),
            (PortUnreachable, true) => (V6_DEST_UNREACH, 4, [0; 4]),
            (TtlExceeded, true) => (V6_TIME_EXCEEDED, 0, [0; 4]),
            (TooBig(mtu), true) => (V6_TOO_BIG, 0, mtu.to_be_bytes()),
        }
    }
}

/// sock_extended_err origins.
pub const ORIGIN_LOCAL: u8 = 1;
pub const ORIGIN_ICMP: u8 = 2;
pub const ORIGIN_ICMP6: u8 = 3;
/// Most entries an error queue holds.
const MAX_ERRQ: usize = 64;

/// An error a socket with IP_RECVERR reads back with MSG_ERRQUEUE.
#[derive(Clone, Debug)]
pub struct ErrMsg {
    pub errno: Errno,
    pub origin: u8,
    pub ty: u8,
    pub code: u8,
    pub info: u32,
    /// Who sent the ICMP error.
    pub offender: IpAddr,
    /// Where the offending datagram was going.
    pub dst: SocketAddr,
    /// The start of the offending datagram's payload.
    pub payload: Vec<u8>,
}

/// The errno an ICMP error stands for (Linux's icmp_err_convert and
/// icmpv6_err_convert), and whether it is hard (ends a connection).
fn icmp_errno(v6: bool, ty: u8, code: u8) -> Option<(Errno, bool)> {
    Some(match (v6, ty, code) {
        (false, DEST_UNREACH, 0) => (ENETUNREACH, true),
        (false, DEST_UNREACH, 2) => (ENOPROTOOPT, true),
        (false, DEST_UNREACH, 3) => (ECONNREFUSED, true),
        (false, DEST_UNREACH, 4) => (EMSGSIZE, false),
        (false, DEST_UNREACH, _) => (EHOSTUNREACH, true),
        (false, TIME_EXCEEDED, _) => (EHOSTUNREACH, false),
        (false, 12, _) => (EPROTO, true),
        (true, V6_DEST_UNREACH, 0) => (ENETUNREACH, true),
        (true, V6_DEST_UNREACH, 1) => (EACCES, true),
        (true, V6_DEST_UNREACH, 4) => (ECONNREFUSED, true),
        (true, V6_DEST_UNREACH, _) => (EHOSTUNREACH, true),
        (true, V6_TOO_BIG, _) => (EMSGSIZE, false),
        (true, V6_TIME_EXCEEDED, _) => (EHOSTUNREACH, false),
        (true, 4, _) => (EPROTO, true),
        _ => return None,
    })
}

fn is_error_type(ty: u8, v6: bool) -> bool {
    if v6 {
        ty < 128
    } else {
        matches!(ty, 3 | 4 | 5 | 11 | 12)
    }
}

impl Net {
    pub(super) fn icmp_input(&mut self, ip: &IpRepr, body: &[u8]) {
        let v6 = ip.proto == PROTO_ICMPV6;
        let Some(m) = IcmpRepr::parse(ip, body) else {
            self.stats.icmp_in_errors += 1;
            return;
        };
        self.stats.icmp_in_msgs += 1;
        self.raw_input(ip, body);
        self.ping_input(ip, body);
        let echo = if v6 { V6_ECHO_REQUEST } else { ECHO_REQUEST };
        if m.ty == echo && m.code == 0 && (v6 || !ip.dst.is_multicast()) {
            let src = if self.ifaces.owner_of(ip.dst).is_some() { ip.dst } else { IpAddr::from([0u8; 4]) };
            let src = if src.is_unspecified() && v6 { IpAddr::from([0u16; 8]) } else { src };
            let reply_ip = IpRepr::new(src, ip.src, ip.proto, self.knobs.ttl);
            let reply =
                IcmpRepr { ty: if v6 { V6_ECHO_REPLY } else { ECHO_REPLY }, code: 0, rest: m.rest, data: m.data };
            let mut ip_out = reply_ip;
            if ip_out.src.is_unspecified() {
                match self.source_for(ip.src) {
                    Ok(s) => ip_out.src = s,
                    Err(_) => return,
                }
            }
            let msg = reply.emit(&ip_out);
            self.stats.icmp_out_msgs += 1;
            let _ = self.ip_output(ip_out, &msg);
        } else if is_error_type(m.ty, v6) {
            self.icmp_error_input(ip, &m);
        }
    }

    /// An ICMP error names the datagram it is about; the socket that sent
    /// it hears, as on Linux: with IP_RECVERR an entry on its error queue
    /// (what `ping` prints "Time to live exceeded" from) and a pending
    /// error; without, a connected UDP socket only of hard errors.
    fn icmp_error_input(&mut self, ip: &IpRepr, m: &IcmpRepr) {
        let Some((orig, payload)) = IpRepr::parse(m.data).or_else(|| truncated_header(m.data)) else { return };
        let v6 = orig.dst.is_ipv6();
        let Some((errno, hard)) = icmp_errno(v6, m.ty, m.code) else { return };
        let ports = (payload.len() >= 4)
            .then(|| (u16::from_be_bytes([payload[0], payload[1]]), u16::from_be_bytes([payload[2], payload[3]])));
        for (_, s) in self.sockets.iter_mut() {
            let ours = match s.kind {
                Kind::Udp => {
                    orig.proto == PROTO_UDP
                        && ports.is_some_and(|(sp, _)| s.local.is_some_and(|l| l.port() == sp))
                        && s.peer.is_none_or(|p| ports.is_some_and(|(_, dp)| unmap(p) == SocketAddr::new(orig.dst, dp)))
                }
                Kind::Raw(p) => p == orig.proto && s.v6 == v6,
                // The quoted echo request carries the socket's identifier.
                Kind::Ping(p) => {
                    p == orig.proto
                        && s.v6 == v6
                        && payload
                            .get(4..6)
                            .is_some_and(|b| s.local.is_some_and(|l| l.port() == u16::from_be_bytes([b[0], b[1]])))
                }
                Kind::Tcp(_) | Kind::Netlink(_) | Kind::Packet(_) => false,
            };
            if !ours {
                continue;
            }
            if s.opts.recverr {
                let dport = ports.map_or(0, |p| p.1);
                let quoted = if matches!(s.kind, Kind::Udp) { payload.get(8..).unwrap_or(&[]) } else { payload };
                if s.errq.len() < MAX_ERRQ {
                    s.errq.push_back(ErrMsg {
                        errno,
                        origin: if v6 { ORIGIN_ICMP6 } else { ORIGIN_ICMP },
                        ty: m.ty,
                        code: m.code,
                        info: if matches!(m.ty, DEST_UNREACH | V6_TOO_BIG) { rest_u32(m.rest) } else { 0 },
                        offender: ip.src,
                        dst: SocketAddr::new(orig.dst, if matches!(s.kind, Kind::Udp) { dport } else { 0 }),
                        payload: quoted.to_vec(),
                    });
                }
                s.error = Some(errno);
            } else if hard && matches!(s.kind, Kind::Udp) && s.peer.is_some() {
                s.error = Some(errno);
            }
        }
    }

    /// A send that failed here for being too big for its route leaves a
    /// local error (with the MTU) on a socket that asked for IP_RECVERR,
    /// as Linux's ip_local_error; that is how `ping -M do` learns the MTU.
    pub(super) fn local_error(&mut self, id: super::socket::SockId, errno: Errno, dst: SocketAddr, data: &[u8]) {
        if errno != EMSGSIZE {
            return;
        }
        let mtu = self.route_local_first(dst.ip()).ok().and_then(|h| self.ifaces.get(h.iface)).map_or(0, |i| i.mtu);
        let Ok(s) = self.sock_mut(id) else { return };
        if s.opts.recverr && s.errq.len() < MAX_ERRQ {
            s.errq.push_back(ErrMsg {
                errno,
                origin: ORIGIN_LOCAL,
                ty: 0,
                code: 0,
                info: mtu,
                offender: dst.ip(),
                dst,
                payload: data.to_vec(),
            });
        }
    }

    /// Tells the sender of `ip` about `err`, unless ICMP forbids it (no
    /// error about an error, a broadcast or a non-first fragment).
    pub fn icmp_error(&mut self, ip: &IpRepr, payload: &[u8], err: IcmpError) {
        let v6 = ip.dst.is_ipv6();
        if ip.frag_off != 0 || ip.dst.is_multicast() || ip.src.is_unspecified() || ip.src.is_multicast() {
            return;
        }
        if let IpAddr::V4(d) = ip.dst {
            if d.is_broadcast() {
                return;
            }
        }
        if (ip.proto == PROTO_ICMP || ip.proto == PROTO_ICMPV6)
            && payload.first().is_some_and(|t| is_error_type(*t, v6))
        {
            return;
        }
        let (ty, code, rest) = err.encode(v6);
        // The offending header and as much of its payload as keeps the
        // error within 576 bytes (v4, as Linux) or 1280 (v6).
        let keep = if v6 { 1280 - 48 - 40 } else { 576 - 28 - 20 };
        let hdr = ip.emit_header(payload.len());
        let mut quoted = hdr;
        if !v6 {
            // Keep the original's own header fields (its TTL as received).
            quoted[8] = ip.ttl;
            quoted[10..12].fill(0);
            let c = !smoltcp::wire::checksum::data(&quoted[..20]);
            quoted[10..12].copy_from_slice(&c.to_be_bytes());
        }
        quoted.extend_from_slice(&payload[..payload.len().min(keep)]);
        let Ok(src) = self.source_for(ip.src) else { return };
        let out = IpRepr::new(src, ip.src, if v6 { PROTO_ICMPV6 } else { PROTO_ICMP }, self.knobs.ttl);
        let msg = IcmpRepr { ty, code, rest, data: &quoted }.emit(&out);
        self.stats.icmp_out_msgs += 1;
        self.stats.icmp_out_errors += 1;
        let _ = self.ip_output(out, &msg);
    }
}

/// An error's quoted header whose stated length exceeds the quote (v4
/// quotes only 8 bytes of payload): parse the header alone.
fn truncated_header(d: &[u8]) -> Option<(IpRepr, &[u8])> {
    if d.len() < 20 || d[0] >> 4 != 4 {
        return None;
    }
    let ihl = (d[0] & 0xf) as usize * 4;
    if ihl < 20 || ihl > d.len() {
        return None;
    }
    let mut fixed = d[..ihl].to_vec();
    fixed[2..4].copy_from_slice(&(d.len() as u16).to_be_bytes());
    fixed[10..12].fill(0);
    let c = !smoltcp::wire::checksum::data(&fixed);
    fixed[10..12].copy_from_slice(&c.to_be_bytes());
    let (r, _) = IpRepr::parse(&[fixed.as_slice(), &d[ihl..]].concat())?;
    Some((r, &d[ihl..]))
}
