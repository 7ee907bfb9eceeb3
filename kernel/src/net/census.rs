//! The socket list as tools see it: one row per socket with its
//! endpoints, Linux's TCP_* state and queue lengths. /proc/net/{tcp,udp,raw}
//! and sock_diag (`ss`) both print it.

use super::socket::{Kind, Tcp};
use super::Net;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State as TcpState};
use smoltcp::socket::AnySocket;
use smoltcp::wire::IpAddress;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Linux's TCP_* state numbers.
pub fn tcp_state(s: TcpState) -> Option<u8> {
    Some(match s {
        TcpState::Closed => return None,
        TcpState::Established => 0x01,
        TcpState::SynSent => 0x02,
        TcpState::SynReceived => 0x03,
        TcpState::FinWait1 => 0x04,
        TcpState::FinWait2 => 0x05,
        TcpState::TimeWait => 0x06,
        TcpState::CloseWait => 0x08,
        TcpState::LastAck => 0x09,
        TcpState::Listen => 0x0a,
        TcpState::Closing => 0x0b,
    })
}

pub const TCP_LISTEN: u8 = 0x0a;
pub const TCP_ESTABLISHED: u8 = 0x01;
pub const TCP_CLOSE: u8 = 0x07;

fn std_addr(a: IpAddress) -> IpAddr {
    match a {
        IpAddress::Ipv4(v) => IpAddr::V4(v),
        IpAddress::Ipv6(v) => IpAddr::V6(v),
    }
}

/// One socket as the tables list it.
pub struct Row {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: u8,
    pub tx: usize,
    pub rx: usize,
    /// The engine's socket of a TCP connection (for `tcp_info`).
    pub handle: Option<SocketHandle>,
    /// IPV6_V6ONLY of the socket (false for one without an owner).
    pub v6only: bool,
}

pub fn unspecified(v6: bool) -> SocketAddr {
    SocketAddr::new(if v6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) }, 0)
}

/// The TCP sockets of one family: listeners, connections, and those
/// closed by their owners that the engine still runs down.
pub fn tcp_rows(net: &Net, v6: bool) -> Vec<Row> {
    let engine: HashMap<SocketHandle, &tcp::Socket> =
        net.tcp.sockets.iter().filter_map(|(h, s)| tcp::Socket::downcast(s).map(|t| (h, t))).collect();
    let conn = |h: SocketHandle, t: &tcp::Socket, local: Option<SocketAddr>, peer: Option<SocketAddr>| {
        let ep = |e: Option<smoltcp::wire::IpEndpoint>| e.map(|e| SocketAddr::new(std_addr(e.addr), e.port));
        Some(Row {
            state: tcp_state(t.state())?,
            local: ep(t.local_endpoint()).or(local).unwrap_or(unspecified(v6)),
            remote: ep(t.remote_endpoint()).or(peer).unwrap_or(unspecified(v6)),
            tx: t.send_queue(),
            rx: t.recv_queue(),
            handle: Some(h),
            v6only: false,
        })
    };
    let mut rows = Vec::new();
    for (_, s) in net.sockets.iter().filter(|(_, s)| s.v6 == v6) {
        match &s.kind {
            // A listener's queues are its accept queue and its backlog.
            Kind::Tcp(Tcp::Listening(l)) => rows.push(Row {
                local: s.local.unwrap_or(unspecified(v6)),
                remote: unspecified(v6),
                state: TCP_LISTEN,
                tx: l.backlog(),
                rx: l.queued(),
                handle: None,
                v6only: s.opts.v6only,
            }),
            Kind::Tcp(Tcp::Conn { h, .. }) => {
                rows.extend(
                    engine
                        .get(h)
                        .and_then(|t| conn(*h, t, s.local, s.peer))
                        .map(|r| Row { v6only: s.opts.v6only, ..r }),
                );
            }
            _ => {}
        }
    }
    for h in &net.orphans {
        let Some(t) = engine.get(h) else { continue };
        if t.local_endpoint().is_some_and(|e| e.addr.version() == smoltcp::wire::IpVersion::Ipv6) == v6 {
            rows.extend(conn(*h, t, None, None));
        }
    }
    rows
}

/// Counts for /proc/net/sockstat: every socket, and per family TCP
/// sockets in use (bound: listening or connected, orphans included),
/// orphaned, in TIME_WAIT and allocated, bound UDP and raw sockets.
pub struct Usage {
    pub sockets: usize,
    pub tcp: [usize; 2],
    pub tcp_orphans: usize,
    pub tcp_timewait: usize,
    pub tcp_alloc: usize,
    pub udp: [usize; 2],
    pub raw: [usize; 2],
}

pub fn usage(net: &Net) -> Usage {
    let tcp = [false, true].map(|v6| tcp_rows(net, v6));
    let live = |t: &tcp::Socket| t.state() != TcpState::Closed;
    let orphans = net.orphans.iter().filter(|h| live(net.tcp.sockets.get::<tcp::Socket>(**h))).count();
    Usage {
        sockets: net.sockets.iter().count(),
        tcp: [tcp[0].len(), tcp[1].len()],
        tcp_orphans: orphans,
        tcp_timewait: tcp.iter().flatten().filter(|r| r.state == 0x06).count(),
        tcp_alloc: net.sockets.iter().filter(|(_, s)| matches!(s.kind, Kind::Tcp(_))).count() + orphans,
        udp: [false, true].map(|v6| udp_rows(net, v6).len()),
        raw: [false, true].map(|v6| raw_rows(net, v6).len()),
    }
}

/// Bound UDP sockets: connected ones ESTABLISHED, the rest CLOSE.
pub fn udp_rows(net: &Net, v6: bool) -> Vec<Row> {
    dgram_rows(net, v6, |s| match (&s.kind, s.local) {
        (Kind::Udp, Some(l)) => Some((l, s.peer.unwrap_or(unspecified(v6)))),
        _ => None,
    })
}

/// Raw sockets, whose "port" is their protocol.
pub fn raw_rows(net: &Net, v6: bool) -> Vec<Row> {
    dgram_rows(net, v6, |s| match s.kind {
        Kind::Raw(p) => Some((
            SocketAddr::new(s.local.map_or(unspecified(v6).ip(), |l| l.ip()), u16::from(p)),
            SocketAddr::new(s.peer.map_or(unspecified(v6).ip(), |l| l.ip()), 0),
        )),
        _ => None,
    })
}

fn dgram_rows(
    net: &Net,
    v6: bool,
    ends: impl Fn(&super::socket::Socket) -> Option<(SocketAddr, SocketAddr)>,
) -> Vec<Row> {
    net.sockets
        .iter()
        .filter(|(_, s)| s.v6 == v6)
        .filter_map(|(_, s)| {
            let (local, remote) = ends(s)?;
            let state = if s.peer.is_some() { TCP_ESTABLISHED } else { TCP_CLOSE };
            Some(Row { local, remote, state, tx: 0, rx: s.rx_bytes, handle: None, v6only: s.opts.v6only })
        })
        .collect()
}
