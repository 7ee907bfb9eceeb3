//! ICMP datagram sockets (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)` and
//! the ICMPv6 one), Linux's "ping sockets": a program sends echo requests
//! without raw-socket privilege. The socket's port is the echo
//! identifier: a send must be an echo request (code 0), whose identifier
//! and checksum the kernel writes; the echo replies carrying that
//! identifier come back to it, without IP header. Who may make one is
//! `net.ipv4.ping_group_range` (`Knobs::ping_group`), checked where the
//! caller's groups are known (the Linux emulation's socket call).

use super::icmp::{ECHO_REPLY, ECHO_REQUEST, V6_ECHO_REPLY, V6_ECHO_REQUEST};
use super::socket::{unmap, Datagram, Kind, SockId};
use super::wire::{fill_icmp_sum, IpRepr};
use super::Net;
use rump_abi::native::errno::*;
use rump_abi::Errno;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// An ICMP header: type, code, checksum, identifier, sequence.
const ICMP_HDR: usize = 8;

impl Net {
    /// Sends one echo request from ping socket `id`, autobinding it to an
    /// identifier first.
    pub fn ping_send(&mut self, id: SockId, data: &[u8], to: Option<SocketAddr>) -> Result<usize, Errno> {
        let s = self.sock(id)?;
        let Kind::Ping(proto) = s.kind else { return Err(EINVAL) };
        let v6 = s.v6;
        let dst = unmap(to.or(s.peer).ok_or(EDESTADDRREQ)?).ip();
        if let Some(t) = to {
            self.learn_scope_of(t);
        }
        let echo = if v6 { V6_ECHO_REQUEST } else { ECHO_REQUEST };
        if data.len() < ICMP_HDR || data[0] != echo || data[1] != 0 {
            return Err(EINVAL);
        }
        if data.len() > 65535 - 48 {
            return Err(EMSGSIZE);
        }
        let s = self.sock(id)?;
        let (ttl, tos, df, bound) = (s.opts.ttl.unwrap_or(self.knobs.ttl), s.opts.tos, s.opts.dont_fragment(), s.local);
        let src = match bound {
            Some(l) if !l.ip().is_unspecified() => unmap(l).ip(),
            _ => self.source_for(dst)?,
        };
        let local = match bound {
            Some(l) => l,
            None => {
                let unspec = if v6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
                self.bind(id, SocketAddr::new(unspec, 0))?;
                self.sock(id)?.local.ok_or(EINVAL)?
            }
        };
        let ip = IpRepr { tos, df: df && dst.is_ipv4(), ..IpRepr::new(src, dst, proto, ttl) };
        let mut m = data.to_vec();
        m[4..6].copy_from_slice(&local.port().to_be_bytes());
        fill_icmp_sum(&ip, &mut m);
        self.ip_output(ip, &m).inspect_err(|e| self.local_error(id, *e, SocketAddr::new(dst, 0), data))?;
        self.stats.icmp_out_msgs += 1;
        Ok(data.len())
    }

    /// An echo reply goes to the ping socket of its family whose
    /// identifier (port) it carries, if bound to the address it came to
    /// (or none) and connected to its sender (or none).
    pub(super) fn ping_input(&mut self, ip: &IpRepr, body: &[u8]) {
        let v6 = ip.dst.is_ipv6();
        let reply = if v6 { V6_ECHO_REPLY } else { ECHO_REPLY };
        if body.len() < ICMP_HDR || body[0] != reply {
            return;
        }
        let ident = u16::from_be_bytes([body[4], body[5]]);
        let at = self.clock.realtime();
        let found = self.sockets.iter_mut().find(|(_, s)| {
            matches!(s.kind, Kind::Ping(_))
                && s.v6 == v6
                && s.local.is_some_and(|l| l.port() == ident && (l.ip().is_unspecified() || unmap(l).ip() == ip.dst))
                && s.peer.is_none_or(|p| unmap(p).ip() == ip.src)
        });
        let Some((_, s)) = found else { return };
        s.queue_rx(Datagram {
            from: SocketAddr::new(ip.src, 0),
            data: body.to_vec(),
            at: (at.sec, at.nsec),
            ttl: ip.ttl,
            link: None,
        });
    }
}
