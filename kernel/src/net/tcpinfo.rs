//! Linux's `struct tcp_info` for one TCP connection, as getsockopt
//! TCP_INFO and sock_diag's INET_DIAG_INFO give it, and the congestion
//! control names TCP_CONGESTION takes.
//!
//! smoltcp keeps its RTT estimate and congestion window private, so the
//! figures come from what we see ourselves: `recovery` watches every
//! segment a connection sends over a link and the ACKs that come back
//! (RTT and its variation, RTO and backoff, retransmissions whoever made
//! them, bytes acknowledged, segments and bytes in flight). A connection
//! that has sent no data over a link (a listener, loopback) reports those
//! as 0. `tcpi_snd_cwnd` is the flight in segments: what the congestion
//! window (or the peer's window) let out, the only honest view of it we
//! have; `tcpi_snd_ssthresh` is Linux's "infinite" since it is not known.

use super::recovery::FlowStats;
use super::Net;
use smoltcp::socket::tcp::{self, CongestionControl};
use smoltcp::wire::IpAddress;
use std::net::IpAddr;

/// `struct tcp_info` up to `tcpi_data_segs_out`; readers that ask for
/// less get a prefix, those that ask for more get this much.
pub const TCP_INFO_LEN: usize = 160;
const TCPI_OPT_TIMESTAMPS: u8 = 1;
/// TCP_CA_Loss: the state while timeouts are backed off.
const TCP_CA_LOSS: u8 = 4;
/// Linux's TCP_INFINITE_SSTHRESH.
const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;
/// TCP_CA_NAME_MAX: a congestion control name's buffer.
pub const CA_NAME_MAX: usize = 16;

/// The algorithms TCP_CONGESTION can pick, by Linux's names; the first is
/// Linux's default.
pub const ALGORITHMS: [(&str, CongestionControl); 2] =
    [("cubic", CongestionControl::Cubic), ("reno", CongestionControl::Reno)];

/// The algorithm called `name` (a C string: up to the first NUL).
pub fn algorithm(name: &[u8]) -> Option<CongestionControl> {
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    ALGORITHMS.iter().find(|(n, _)| n.as_bytes() == name).map(|&(_, c)| c)
}

/// `cc`'s name, NUL-padded to TCP_CA_NAME_MAX bytes as Linux copies it.
pub fn algorithm_name(cc: CongestionControl) -> Vec<u8> {
    let name = ALGORITHMS.iter().find(|(_, c)| *c == cc).map_or("", |(n, _)| n);
    let mut b = name.as_bytes().to_vec();
    b.resize(CA_NAME_MAX, 0);
    b
}

fn std_ip(a: IpAddress) -> IpAddr {
    match a {
        IpAddress::Ipv4(v) => IpAddr::V4(v),
        IpAddress::Ipv6(v) => IpAddr::V6(v),
    }
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

impl Net {
    /// The `struct tcp_info` of engine socket `t` in Linux state `state`.
    pub fn tcp_info(&self, t: &tcp::Socket, state: u8) -> Vec<u8> {
        let ends = t.local_endpoint().zip(t.remote_endpoint());
        let flow = ends.and_then(|(l, r)| self.recovery.stats((std_ip(l.addr), l.port), (std_ip(r.addr), r.port)));
        let f = flow.unwrap_or_default();
        let peer = ends.map(|(_, r)| std_ip(r.addr));
        let mtu = peer.and_then(|p| self.path_mtu(p));
        // The MSS the path carries: its MTU less the IP and TCP headers.
        let headers = if peer.is_some_and(|p| p.is_ipv6()) { 60 } else { 40 };
        let mss = mtu.map_or(0, |m| m.saturating_sub(headers));
        let mut b = vec![0u8; TCP_INFO_LEN];
        b[0] = state;
        b[1] = if f.backoff > 0 { TCP_CA_LOSS } else { 0 };
        b[2] = f.backoff;
        b[4] = f.backoff;
        if t.timestamp_enabled() && state != super::census::TCP_LISTEN {
            b[5] = TCPI_OPT_TIMESTAMPS;
        }
        put32(&mut b, 8, f.rto as u32);
        put32(&mut b, 12, t.ack_delay().map_or(0, |d| d.total_micros() as u32));
        put32(&mut b, 16, mss);
        put32(&mut b, 20, mss);
        put32(&mut b, 24, f.unacked);
        put32(&mut b, 60, mtu.unwrap_or(0));
        put32(&mut b, 68, f.srtt as u32);
        put32(&mut b, 72, f.rttvar as u32);
        put32(&mut b, 76, INFINITE_SSTHRESH);
        put32(&mut b, 80, cwnd_segments(&f, mss));
        put32(&mut b, 84, mss);
        // tcpi_reordering: the duplicate ACKs that mean a loss, 3 as
        // Linux's default.
        put32(&mut b, 88, 3);
        put32(&mut b, 96, t.recv_capacity() as u32);
        put32(&mut b, 100, f.retrans as u32);
        put64(&mut b, 120, f.bytes_acked);
        put32(&mut b, 156, f.segs_out as u32);
        b
    }

    /// The MTU of the interface the route to `dst` leaves by.
    fn path_mtu(&self, dst: IpAddr) -> Option<u32> {
        let hop = self.route_local_first(dst).ok()?;
        self.ifaces.get(hop.iface).map(|i| i.mtu)
    }
}

/// The flight in segments (see the module doc).
fn cwnd_segments(f: &FlowStats, mss: u32) -> u32 {
    if mss == 0 {
        return 0;
    }
    f.in_flight.div_ceil(u64::from(mss)) as u32
}
