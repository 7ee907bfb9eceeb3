//! Raw ICMP and ICMPv6 sockets: every ICMP message that arrives is copied
//! to each matching raw socket (v4 with its IP header, v6 without, as
//! Linux), filtered by ICMP_FILTER / ICMP6_FILTER; what a raw socket
//! sends is wrapped in an IP header here (v4 unless IP_HDRINCL) and, for
//! ICMPv6, checksummed by the kernel.

use super::socket::{unmap, Datagram, Kind, SockId};
use super::wire::{fill_icmp_sum, IpRepr, PROTO_ICMPV6};
use super::Net;
use rump_abi::native::errno::*;
use rump_abi::Errno;
use std::net::SocketAddr;

impl Net {
    pub(super) fn raw_input(&mut self, ip: &IpRepr, body: &[u8]) {
        let ty = body.first().copied().unwrap_or(0);
        let v6 = ip.dst.is_ipv6();
        let at = self.clock.realtime();
        let mut header = None;
        for (_, s) in self.sockets.iter_mut() {
            let Kind::Raw(p) = s.kind else { continue };
            if p != ip.proto || s.v6 != v6 {
                continue;
            }
            if s.local.is_some_and(|l| !l.ip().is_unspecified() && unmap(l).ip() != ip.dst) {
                continue;
            }
            if s.peer.is_some_and(|p| unmap(p).ip() != ip.src) {
                continue;
            }
            let blocked = if v6 {
                s.opts.icmp6_filter[(ty >> 5) as usize] & (1 << (ty & 31)) != 0
            } else {
                ty < 32 && s.opts.icmp_filter & (1 << ty) != 0
            };
            if blocked {
                continue;
            }
            let data = if v6 {
                body.to_vec()
            } else {
                let h = header.get_or_insert_with(|| {
                    let mut h = ip.emit_header(body.len());
                    // Show the datagram as it came: its own ident and TTL.
                    h[4..6].copy_from_slice(&ip.ident.to_be_bytes());
                    h
                });
                [h.as_slice(), body].concat()
            };
            s.queue_rx(Datagram {
                from: SocketAddr::new(ip.src, 0),
                data,
                at: (at.sec, at.nsec),
                ttl: ip.ttl,
                link: None,
            });
        }
    }

    /// Sends one ICMP message (or, with IP_HDRINCL, one whole v4 datagram).
    pub fn raw_send(&mut self, id: SockId, data: &[u8], to: Option<SocketAddr>) -> Result<usize, Errno> {
        let s = self.sock(id)?;
        let Kind::Raw(proto) = s.kind else { return Err(EINVAL) };
        let dst = unmap(to.or(s.peer).ok_or(EDESTADDRREQ)?).ip();
        if let Some(t) = to {
            self.learn_scope_of(t);
        }
        let s = self.sock(id)?;
        if data.len() > 65535 - 40 {
            return Err(EMSGSIZE);
        }
        if s.opts.hdrincl {
            let (ip, payload) = IpRepr::parse(data).ok_or(EINVAL)?;
            self.ip_output(ip, payload)?;
            return Ok(data.len());
        }
        let ttl = s.opts.ttl.unwrap_or(self.knobs.ttl);
        let tos = s.opts.tos;
        let df = s.opts.dont_fragment() && dst.is_ipv4();
        let src = match s.local {
            Some(l) if !l.ip().is_unspecified() => unmap(l).ip(),
            _ => self.source_for(dst)?,
        };
        let ip = IpRepr { tos, df, ..IpRepr::new(src, dst, proto, ttl) };
        let sent = if proto == PROTO_ICMPV6 {
            let mut m = data.to_vec();
            fill_icmp_sum(&ip, &mut m);
            self.ip_output(ip, &m)
        } else {
            self.ip_output(ip, data)
        };
        sent.inspect_err(|e| self.local_error(id, *e, SocketAddr::new(dst, 0), data))?;
        self.stats.icmp_out_msgs += 1;
        Ok(data.len())
    }
}
