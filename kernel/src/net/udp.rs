//! UDP: datagrams matched to sockets by address and port, queued up to
//! the socket's receive buffer (each charged its truesize, as Linux's;
//! what does not fit counts in RcvbufErrors), and port-unreachable errors
//! for the rest.

use super::icmp::IcmpError;
use super::socket::{unmap, Datagram, Kind, SockId};
use super::wire::{IpRepr, UdpRepr, PROTO_UDP};
use super::Net;
use rump_abi::native::errno::*;
use rump_abi::Errno;
use std::net::{IpAddr, SocketAddr};

/// The largest UDP payload an IPv4 datagram carries.
const MAX_PAYLOAD: usize = 65507;

impl Net {
    pub(super) fn udp_input(&mut self, ip: &IpRepr, payload: &[u8]) {
        let Some((udp, data)) = UdpRepr::parse(ip, payload) else {
            self.stats.udp_in_errors += 1;
            return;
        };
        let from = SocketAddr::new(ip.src, udp.src_port);
        let group =
            ip.dst.is_multicast() || matches!(ip.dst, IpAddr::V4(d) if self.ifaces.owner_of(IpAddr::V4(d)).is_none());
        let matches: Vec<SockId> = self
            .sockets
            .iter()
            .filter(|(_, s)| matches!(s.kind, Kind::Udp) && !s.shut_rd)
            .filter(|(_, s)| s.v6 || ip.dst.is_ipv4())
            .filter(|(_, s)| {
                s.local.is_some_and(|l| {
                    l.port() == udp.dst_port && (l.ip().is_unspecified() || unmap(l).ip() == ip.dst || group)
                })
            })
            .filter(|(_, s)| s.peer.is_none_or(|p| unmap(p) == from))
            .map(|(id, _)| id)
            .collect();
        if matches.is_empty() {
            self.stats.udp_no_ports += 1;
            if !group {
                self.icmp_error(ip, payload, IcmpError::PortUnreachable);
            }
            return;
        }
        self.stats.udp_in_datagrams += 1;
        let at = self.clock.realtime();
        // Unicast goes to the most specific (connected) socket; broadcast to all.
        let targets = if group {
            matches
        } else {
            vec![*matches.iter().max_by_key(|id| self.sockets[**id].peer.is_some()).unwrap_or(&matches[0])]
        };
        for id in targets {
            let d = Datagram { from, data: data.to_vec(), at: (at.sec, at.nsec), ttl: ip.ttl, link: None };
            if !self.sockets[id].queue_rx(d) {
                self.stats.udp_in_errors += 1;
                self.stats.udp_rcvbuf_errors += 1;
            }
        }
    }

    /// Sends one datagram to `to` (or the connected peer).
    pub fn udp_send(&mut self, id: SockId, data: &[u8], to: Option<SocketAddr>) -> Result<usize, Errno> {
        let s = self.sock(id)?;
        if s.shut_wr {
            return Err(EPIPE);
        }
        let dst = unmap(to.or(s.peer).ok_or(EDESTADDRREQ)?);
        if let Some(t) = to {
            self.learn_scope_of(t);
        }
        let s = self.sock(id)?;
        if data.len() > MAX_PAYLOAD {
            return Err(EMSGSIZE);
        }
        // The send buffer is full of datagrams still queued on a slow
        // link: wait, as Linux's sock_alloc_send_pskb does (only once it
        // is full; the datagram that fills it may go past it). A waiter is
        // woken when half is free (`poll_mask`'s POLLOUT), as by Linux's
        // sock_def_write_space: a blocked sender is never writable to poll.
        if s.tx_queued >= s.opts.sndbuf {
            return Err(EAGAIN);
        }
        if dst.port() == 0 {
            return Err(EINVAL);
        }
        if let IpAddr::V4(d) = dst.ip() {
            let bcast =
                d.is_broadcast() || self.ifaces.iter().any(|i| i.addrs.iter().any(|a| a.broadcast_v4() == Some(d)));
            if bcast && !s.opts.broadcast {
                return Err(EACCES);
            }
        }
        let ttl = s.opts.ttl.unwrap_or(self.knobs.ttl);
        let tos = s.opts.tos;
        let bound = s.local;
        let src = match bound {
            Some(l) if !l.ip().is_unspecified() => unmap(l).ip(),
            _ => self.source_for(dst.ip())?,
        };
        let local = match bound {
            Some(l) => l,
            None => {
                let unspec = if self.sock(id)?.v6 { IpAddr::from([0u16; 8]) } else { IpAddr::from([0u8; 4]) };
                self.bind(id, SocketAddr::new(unspec, 0))?;
                self.sock(id)?.local.ok_or(EINVAL)?
            }
        };
        let df = self.sock(id)?.opts.dont_fragment() && dst.is_ipv4();
        let ip = IpRepr { tos, df, ..IpRepr::new(src, dst.ip(), PROTO_UDP, ttl) };
        let dgram = UdpRepr { src_port: local.port(), dst_port: dst.port() }.emit(&ip, data);
        self.tx_owner = Some(id);
        let sent = self.ip_output(ip, &dgram);
        self.tx_owner = None;
        sent.inspect_err(|e| self.local_error(id, *e, dst, data))?;
        self.stats.udp_out_datagrams += 1;
        Ok(data.len())
    }

    /// Takes the next datagram (EAGAIN if none); `peek` leaves it queued.
    pub fn dgram_recv(&mut self, id: SockId, peek: bool) -> Result<Datagram, Errno> {
        let s = self.sock_mut(id)?;
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        if peek {
            let d = s.rxq.front().ok_or(if s.shut_rd { EPIPE } else { EAGAIN })?;
            return Ok(d.clone());
        }
        match s.take_rx() {
            Some(d) => Ok(d),
            None if s.shut_rd => Err(EPIPE),
            None => Err(EAGAIN),
        }
    }
}
