//! Socket objects and what the calls do to them, without waiting: every
//! operation that would block answers EAGAIN, and `Cx` (in `sockcall`)
//! turns that into sleeping on the socket's channel.
//!
//! TCP sockets hold smoltcp sockets. smoltcp has no listener, so a
//! listening socket keeps a pool of smoltcp sockets listening on its port
//! and moves the ones that complete a handshake to its accept queue
//! (`listen(backlog)` bounds pool plus queue, as Linux bounds its queue).

use super::tcp::Engine;
use super::Net;
use crate::wchan::WaitChannel;
use rump_abi::native::errno::*;
use rump_abi::native::flags::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use rump_abi::Errno;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::State as TcpState;
use smoltcp::wire::{IpAddress, IpListenEndpoint};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub type SockId = usize;

pub const SOCK_STREAM: i32 = 1;
pub const SOCK_DGRAM: i32 = 2;
pub const SOCK_RAW: i32 = 3;
/// Linux's POLLRDHUP: the peer shut its sending side.
pub const POLLRDHUP: i16 = 0x2000;

/// Ephemeral ports, Linux's ip_local_port_range.
const EPHEMERAL: (u16, u16) = (32768, 60999);
/// Most half-open connections a listener keeps ready for SYNs.
const MAX_POOL: usize = 16;
/// Linux's default socket buffer sizes (rmem_default, wmem_default).
pub const DEFAULT_RCVBUF: usize = 212992;
pub const DEFAULT_SNDBUF: usize = 212992;
/// The most SO_RCVBUF and SO_SNDBUF may ask for (net.core.rmem_max and
/// wmem_max as distributions set them; SO_*BUFFORCE is capped the same).
pub const MAX_SOCKBUF: usize = 4 << 20;
/// The least a set buffer holds: Linux's SOCK_MIN_RCVBUF and
/// SOCK_MIN_SNDBUF (one, two minimal skbs).
pub const MIN_RCVBUF: usize = 2304;
pub const MIN_SNDBUF: usize = 2 * MIN_RCVBUF;

/// What a datagram of `len` bytes costs the receive buffer it waits in:
/// Linux charges an skb's truesize, the kmalloc'd data area (the payload,
/// its UDP, IP and link headers with alignment slack, and the shared
/// info, rounded up to a power of two) plus the sk_buff itself. A
/// 1448-byte datagram costs 2304 bytes, so a default buffer holds 92 of
/// them, as Linux's does.
pub fn truesize(len: usize) -> usize {
    const HEADERS: usize = 28 + 16 + 15;
    const SHARED_INFO: usize = 320;
    const SK_BUFF: usize = 256;
    ((len + HEADERS).next_multiple_of(64) + SHARED_INFO).next_power_of_two() + SK_BUFF
}

/// The buffer size SO_RCVBUF or SO_SNDBUF sets for `asked`: twice the
/// value, for the kernel's overhead, as Linux's sock_setsockopt.
pub fn sockbuf_for(asked: i32, min: usize) -> usize {
    (asked.max(0) as usize).min(MAX_SOCKBUF).saturating_mul(2).max(min)
}
/// A connect that hears nothing for this long fails with ETIMEDOUT.
const CONNECT_TIMEOUT: u64 = 75_000_000;

pub struct Listener {
    pool: Vec<SocketHandle>,
    ready: VecDeque<SocketHandle>,
    backlog: usize,
}

impl Listener {
    /// Connections waiting for accept.
    pub fn queued(&self) -> usize {
        self.ready.len()
    }

    /// The most connections it keeps waiting (listen's backlog).
    pub fn backlog(&self) -> usize {
        self.backlog
    }
}

pub enum Tcp {
    Fresh,
    Listening(Listener),
    /// Connecting or connected; `since` is when connect started (µs).
    Conn {
        h: SocketHandle,
        connecting: bool,
        since: u64,
    },
}

pub enum Kind {
    Tcp(Tcp),
    Udp,
    /// A raw socket of one IP protocol (ICMP, ICMPv6).
    Raw(u8),
    /// An ICMP datagram ("ping") socket of ICMP or ICMPv6 (`net::ping`).
    Ping(u8),
    /// An AF_PACKET socket (`net::packet`).
    Packet(Box<super::packet::PacketSock>),
    /// A netlink socket: its messages are the Linux emulation's business
    /// (`compat::linux::netlink`); replies and notifications queue in
    /// `rxq` like datagrams.
    Netlink(Netlink),
}

/// A netlink socket's address and options.
#[derive(Clone, Copy, Debug, Default)]
pub struct Netlink {
    /// NETLINK_ROUTE, NETLINK_SOCK_DIAG...
    pub protocol: u8,
    /// Its port id (0 until bound, explicitly or by the first send).
    pub portid: u32,
    /// Multicast groups joined, bit n-1 for group n.
    pub groups: u64,
    /// NETLINK_EXT_ACK: error messages carry extended-ack attributes.
    pub ext_ack: bool,
    /// NETLINK_CAP_ACK: error messages do not echo the request's payload.
    pub cap_ack: bool,
    /// The largest buffer a receive has offered (Linux's max_recvmsg_len),
    /// which sizes dump batches.
    pub max_recv: usize,
}

/// A datagram waiting to be read, with what recvmsg may report about it.
#[derive(Clone)]
pub struct Datagram {
    pub from: SocketAddr,
    pub data: Vec<u8>,
    /// Realtime arrival (SO_TIMESTAMP).
    pub at: (i64, i64),
    pub ttl: u8,
    /// For a packet socket, the link the frame came by (its sockaddr_ll).
    pub link: Option<super::packet::LinkFrom>,
}

/// IP_MTU_DISCOVER's values: never DF; DF when no PMTU is known (we keep
/// none, so like DONT); always DF, too big is EMSGSIZE (DO, PROBE).
pub const PMTUDISC_WANT: u8 = 1;
pub const PMTUDISC_DO: u8 = 2;
pub const PMTUDISC_PROBE: u8 = 3;

impl Opts {
    /// Whether datagrams go out with DF set.
    pub fn dont_fragment(&self) -> bool {
        matches!(self.pmtudisc, PMTUDISC_DO | PMTUDISC_PROBE)
    }
}

/// Options that change behaviour; the Linux layer maps names onto them.
#[derive(Clone, Debug)]
pub struct Opts {
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub broadcast: bool,
    pub keepalive: bool,
    pub rcvbuf: usize,
    pub sndbuf: usize,
    pub rcvtimeo: Option<Duration>,
    pub sndtimeo: Option<Duration>,
    pub nodelay: bool,
    pub recverr: bool,
    pub timestamp: bool,
    pub ttl: Option<u8>,
    pub tos: u8,
    pub hdrincl: bool,
    pub v6only: bool,
    pub recvttl: bool,
    pub linger: Option<u32>,
    /// IP_MTU_DISCOVER, Linux's IP_PMTUDISC_* value.
    pub pmtudisc: u8,
    /// ICMP_FILTER: bit n set drops ICMP type n (n < 32).
    pub icmp_filter: u32,
    /// ICMP6_FILTER: Linux's 256-bit "block" map.
    pub icmp6_filter: [u32; 8],
    /// TCP_CONGESTION: the algorithm a TCP connection runs (a listener's
    /// connections inherit it).
    pub congestion: smoltcp::socket::tcp::CongestionControl,
    /// Integer options accepted and reported back without an effect
    /// here, by (level, name) in the caller's emulation.
    pub stored: std::collections::BTreeMap<(i32, i32), i32>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            reuseaddr: false,
            reuseport: false,
            broadcast: false,
            keepalive: false,
            rcvbuf: DEFAULT_RCVBUF,
            sndbuf: DEFAULT_SNDBUF,
            rcvtimeo: None,
            sndtimeo: None,
            nodelay: false,
            recverr: false,
            timestamp: false,
            ttl: None,
            tos: 0,
            hdrincl: false,
            v6only: false,
            recvttl: false,
            linger: None,
            pmtudisc: PMTUDISC_WANT,
            icmp_filter: 0,
            icmp6_filter: [0; 8],
            congestion: super::tcpinfo::ALGORITHMS[0].1,
            stored: Default::default(),
        }
    }
}

pub struct Socket {
    pub v6: bool,
    pub stype: i32,
    pub kind: Kind,
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    pub rxq: VecDeque<Datagram>,
    pub rx_bytes: usize,
    /// Bytes of this socket's datagrams waiting in interface queues (see
    /// `netem::Owner`), counted against its send buffer.
    pub tx_queued: usize,
    /// A pending error for SO_ERROR and the next call.
    pub error: Option<Errno>,
    /// ICMP errors for MSG_ERRQUEUE (IP_RECVERR).
    pub errq: VecDeque<super::icmp::ErrMsg>,
    pub opts: Opts,
    pub shut_rd: bool,
    pub shut_wr: bool,
    pub chan: Arc<WaitChannel>,
    /// A connect finished that no connect call has reported yet: the next
    /// connect returns 0 once, as Linux's does after a non-blocking one.
    pub connect_unreported: bool,
    /// What was last announced: readiness and queue lengths.
    seen: (i16, usize, usize),
}

impl Socket {
    /// Queues a received datagram if the receive buffer has room for its
    /// truesize; false (dropped) if not. As Linux's UDP
    /// (__udp_enqueue_schedule_skb), an empty queue takes a datagram
    /// whatever its size, so a tiny buffer still passes one at a time.
    pub fn queue_rx(&mut self, d: Datagram) -> bool {
        if self.rx_bytes > 0 && self.rx_bytes + truesize(d.data.len()) > self.opts.rcvbuf {
            return false;
        }
        self.push_rx(d);
        true
    }

    /// Queues a datagram whatever the buffer holds: the kernel's own
    /// replies (netlink), which Linux holds back rather than drops.
    pub fn push_rx(&mut self, d: Datagram) {
        self.rx_bytes += truesize(d.data.len());
        self.rxq.push_back(d);
    }

    /// Takes the next datagram off the receive queue, giving its charge back.
    pub fn take_rx(&mut self) -> Option<Datagram> {
        let d = self.rxq.pop_front()?;
        self.rx_bytes -= truesize(d.data.len());
        Some(d)
    }

    pub fn protocol(&self) -> i32 {
        match self.kind {
            Kind::Tcp(_) => 6,
            Kind::Udp => 17,
            Kind::Raw(p) | Kind::Ping(p) => p as i32,
            Kind::Packet(ref p) => p.protocol.to_be() as i32,
            Kind::Netlink(n) => n.protocol as i32,
        }
    }

    fn unspecified(&self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        }
    }

    pub fn handle(&self) -> Option<SocketHandle> {
        match self.kind {
            Kind::Tcp(Tcp::Conn { h, .. }) => Some(h),
            _ => None,
        }
    }
}

/// A v4-mapped v6 address as the v4 one it stands for.
pub fn unmap(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v) => match v.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v.port()),
            None => a,
        },
        _ => a,
    }
}

fn smol(a: IpAddr) -> IpAddress {
    match a {
        IpAddr::V4(v) => IpAddress::Ipv4(v),
        IpAddr::V6(v) => IpAddress::Ipv6(v),
    }
}

fn std_addr(a: IpAddress) -> IpAddr {
    match a {
        IpAddress::Ipv4(v) => IpAddr::V4(v),
        IpAddress::Ipv6(v) => IpAddr::V6(v),
    }
}

impl Net {
    pub fn sock(&self, id: SockId) -> Result<&Socket, Errno> {
        self.sockets.get(id).ok_or(EBADF)
    }

    pub fn sock_mut(&mut self, id: SockId) -> Result<&mut Socket, Errno> {
        self.sockets.get_mut(id).ok_or(EBADF)
    }

    /// A new socket. `v6`: AF_INET6; `stype`: SOCK_*; `protocol`: 0 or
    /// the protocol the type implies (raw: ICMP or ICMPv6 only).
    pub fn socket(&mut self, v6: bool, stype: i32, protocol: i32) -> Result<SockId, Errno> {
        let kind = match (stype, protocol) {
            (SOCK_STREAM, 0 | 6) => Kind::Tcp(Tcp::Fresh),
            (SOCK_DGRAM, 0 | 17) => Kind::Udp,
            // ICMP datagram sockets: the caller has checked
            // net.ipv4.ping_group_range.
            (SOCK_DGRAM, 1) if !v6 => Kind::Ping(1),
            (SOCK_DGRAM, 58) if v6 => Kind::Ping(58),
            (SOCK_RAW, 1) if !v6 => Kind::Raw(1),
            (SOCK_RAW, 58) if v6 => Kind::Raw(58),
            (SOCK_RAW, _) => return Err(EPROTONOSUPPORT),
            (SOCK_STREAM | SOCK_DGRAM, _) => return Err(EPROTONOSUPPORT),
            _ => return Err(ESOCKTNOSUPPORT),
        };
        Ok(self.insert_socket(v6, stype, kind))
    }

    /// A new netlink socket of `protocol` (the caller checks which exist).
    pub fn netlink_socket(&mut self, stype: i32, protocol: u8) -> SockId {
        self.insert_socket(false, stype, Kind::Netlink(Netlink { protocol, ..Netlink::default() }))
    }

    /// A new AF_PACKET socket.
    pub fn packet_socket(&mut self, stype: i32, p: super::packet::PacketSock) -> SockId {
        self.insert_socket(false, stype, Kind::Packet(Box::new(p)))
    }

    fn insert_socket(&mut self, v6: bool, stype: i32, kind: Kind) -> SockId {
        self.sockets.insert(Socket {
            v6,
            stype,
            kind,
            local: None,
            peer: None,
            rxq: VecDeque::new(),
            rx_bytes: 0,
            tx_queued: 0,
            error: None,
            errq: VecDeque::new(),
            opts: Opts::default(),
            shut_rd: false,
            shut_wr: false,
            chan: Arc::new(WaitChannel::new()),
            connect_unreported: false,
            seen: (0, 0, 0),
        })
    }

    /// Whether (addr, port) is taken for a socket of `proto`.
    fn port_in_use(&self, me: SockId, proto: i32, addr: IpAddr, port: u16, reuse: bool) -> bool {
        self.sockets.iter().any(|(id, s)| {
            id != me
                && s.protocol() == proto
                && s.local.is_some_and(|l| {
                    l.port() == port
                        && (l.ip().is_unspecified() || addr.is_unspecified() || l.ip() == addr)
                        && !(reuse
                            && s.opts.reuseaddr
                            && (proto != 6 || !matches!(s.kind, Kind::Tcp(Tcp::Listening(_)))))
                })
        })
    }

    fn ephemeral_port(&mut self, me: SockId, proto: i32, addr: IpAddr) -> Result<u16, Errno> {
        let span = (EPHEMERAL.1 - EPHEMERAL.0) as u32 + 1;
        let start = (self.now() as u32).wrapping_mul(2654435761) % span;
        (0..span)
            .map(|i| EPHEMERAL.0 + ((start + i) % span) as u16)
            .find(|p| !self.port_in_use(me, proto, addr, *p, false) && !self.tcp_port_busy(*p, proto))
            .ok_or(EADDRINUSE)
    }

    /// TCP connections orphaned by close still own their port.
    fn tcp_port_busy(&self, port: u16, proto: i32) -> bool {
        proto == 6 && self.orphan_ports().any(|p| p == port)
    }

    fn orphan_ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.orphans
            .iter()
            .filter_map(|h| self.tcp.sockets.get::<smoltcp::socket::tcp::Socket>(*h).local_endpoint().map(|e| e.port))
    }

    pub fn bind(&mut self, id: SockId, addr: SocketAddr) -> Result<(), Errno> {
        let s = self.sock(id)?;
        if s.local.is_some() {
            return Err(EINVAL);
        }
        let ip = addr.ip();
        if !ip.is_unspecified() && !self.ifaces.is_local(ip) && !ip.is_multicast() {
            return Err(EADDRNOTAVAIL);
        }
        let (proto, reuse) = (s.protocol(), s.opts.reuseaddr);
        let port = if matches!(s.kind, Kind::Raw(_)) {
            0
        } else if addr.port() == 0 {
            self.ephemeral_port(id, proto, ip)?
        } else {
            if self.port_in_use(id, proto, ip, addr.port(), reuse) {
                return Err(EADDRINUSE);
            }
            addr.port()
        };
        let s = self.sock_mut(id)?;
        s.local = Some(SocketAddr::new(ip, port));
        // A v6 address of its own can take no v4 traffic: Linux marks such
        // a socket v6-only (getsockopt and `ss` show it).
        if matches!(ip, IpAddr::V6(v) if !v.is_unspecified() && v.to_ipv4_mapped().is_none()) {
            s.opts.v6only = true;
        }
        Ok(())
    }

    /// Binds to an ephemeral port on `ip` if not bound yet.
    fn autobind(&mut self, id: SockId, ip: IpAddr) -> Result<SocketAddr, Errno> {
        if let Some(l) = self.sock(id)?.local {
            return Ok(l);
        }
        let proto = self.sock(id)?.protocol();
        let ephemeral = proto == 6 || proto == 17 || matches!(self.sock(id)?.kind, Kind::Ping(_));
        let port = if ephemeral { self.ephemeral_port(id, proto, ip)? } else { 0 };
        let l = SocketAddr::new(ip, port);
        self.sock_mut(id)?.local = Some(l);
        Ok(l)
    }

    pub fn listen(&mut self, id: SockId, backlog: i32) -> Result<(), Errno> {
        let s = self.sock(id)?;
        let backlog = backlog.clamp(0, 4096) as usize;
        match &s.kind {
            Kind::Tcp(Tcp::Fresh) => {}
            Kind::Tcp(Tcp::Listening(_)) => {
                if let Kind::Tcp(Tcp::Listening(l)) = &mut self.sock_mut(id)?.kind {
                    l.backlog = backlog;
                }
                return Ok(());
            }
            Kind::Tcp(_) => return Err(EINVAL),
            _ => return Err(EOPNOTSUPP),
        }
        let unspec = s.unspecified();
        self.autobind(id, unspec)?;
        let s = self.sock_mut(id)?;
        s.kind = Kind::Tcp(Tcp::Listening(Listener { pool: Vec::new(), ready: VecDeque::new(), backlog }));
        self.refill(id);
        Ok(())
    }

    /// Keeps a listener's pool of listening smoltcp sockets topped up.
    fn refill(&mut self, id: SockId) {
        let Some(s) = self.sockets.get(id) else { return };
        let Kind::Tcp(Tcp::Listening(l)) = &s.kind else { return };
        let Some(local) = s.local else { return };
        let (rcv, snd, nodelay, cc) = (s.opts.rcvbuf, s.opts.sndbuf, s.opts.nodelay, s.opts.congestion);
        let want = (l.backlog + 1).saturating_sub(l.ready.len()).min(MAX_POOL);
        let have = l.pool.len();
        let mut new = Vec::new();
        for _ in have..want {
            let h = self.tcp.add(rcv, snd, cc);
            let sock = self.tcp.socket(h);
            sock.set_nagle_enabled(!nodelay);
            let addr = (!local.ip().is_unspecified()).then(|| smol(local.ip()));
            if sock.listen(IpListenEndpoint { addr, port: local.port() }).is_err() {
                self.tcp.remove(h);
                break;
            }
            new.push(h);
        }
        if let Some(Socket { kind: Kind::Tcp(Tcp::Listening(l)), .. }) = self.sockets.get_mut(id) {
            l.pool.extend(new);
        }
    }

    /// Moves finished handshakes of every listener to its accept queue.
    pub(super) fn tend_listeners(&mut self) {
        let ids: Vec<SockId> = self
            .sockets
            .iter()
            .filter(|(_, s)| matches!(s.kind, Kind::Tcp(Tcp::Listening(_))))
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            let Some(Socket { kind: Kind::Tcp(Tcp::Listening(l)), .. }) = self.sockets.get_mut(id) else { continue };
            let mut keep = Vec::new();
            let mut dead = Vec::new();
            for h in l.pool.drain(..) {
                match self.tcp.sockets.get::<smoltcp::socket::tcp::Socket>(h).state() {
                    TcpState::Listen | TcpState::SynReceived => keep.push(h),
                    TcpState::Closed | TcpState::TimeWait => dead.push(h),
                    _ => l.ready.push_back(h),
                }
            }
            l.pool = keep;
            for h in dead {
                self.tcp.remove(h);
            }
            self.refill(id);
        }
    }

    /// Takes a connection off a listener's queue (EAGAIN if none).
    pub fn accept(&mut self, id: SockId) -> Result<SockId, Errno> {
        let s = self.sock_mut(id)?;
        let (v6, opts) = (s.v6, s.opts.clone());
        let Kind::Tcp(Tcp::Listening(l)) = &mut s.kind else { return Err(EINVAL) };
        let h = l.ready.pop_front().ok_or(EAGAIN)?;
        let ts = self.tcp.socket(h);
        let local = ts.local_endpoint().map(|e| SocketAddr::new(std_addr(e.addr), e.port));
        let peer = ts.remote_endpoint().map(|e| SocketAddr::new(std_addr(e.addr), e.port));
        let new = self.sockets.insert(Socket {
            v6,
            stype: SOCK_STREAM,
            kind: Kind::Tcp(Tcp::Conn { h, connecting: false, since: 0 }),
            local,
            peer,
            rxq: VecDeque::new(),
            rx_bytes: 0,
            tx_queued: 0,
            error: None,
            errq: VecDeque::new(),
            opts,
            shut_rd: false,
            shut_wr: false,
            chan: Arc::new(WaitChannel::new()),
            connect_unreported: false,
            seen: (0, 0, 0),
        });
        self.refill(id);
        Ok(new)
    }

    /// Starts a connection (TCP: EINPROGRESS until `connect_done`) or sets
    /// the peer (UDP, raw).
    pub fn connect(&mut self, id: SockId, to: SocketAddr) -> Result<(), Errno> {
        self.learn_scope_of(to);
        let to = unmap(to);
        let s = self.sock(id)?;
        match &s.kind {
            Kind::Tcp(Tcp::Fresh) => {}
            Kind::Tcp(Tcp::Conn { connecting: true, .. }) => return Err(EALREADY),
            Kind::Tcp(Tcp::Conn { .. }) if s.connect_unreported => {
                let s = self.sock_mut(id)?;
                s.connect_unreported = false;
                return s.error.take().map_or(Ok(()), Err);
            }
            Kind::Tcp(Tcp::Conn { .. }) => return Err(EISCONN),
            Kind::Tcp(Tcp::Listening(_)) => return Err(EINVAL),
            Kind::Netlink(_) | Kind::Packet(_) => return Err(EAFNOSUPPORT),
            Kind::Udp | Kind::Raw(_) | Kind::Ping(_) => {
                if to.ip().is_unspecified() && to.port() == 0 {
                    // AF_UNSPEC-style disconnect arrives as an all-zero address.
                    self.sock_mut(id)?.peer = None;
                    return Ok(());
                }
                let src = match s.local {
                    Some(l) if !l.ip().is_unspecified() => l.ip(),
                    _ => self.source_for(to.ip())?,
                };
                let local = self.autobind(id, src)?;
                let s = self.sock_mut(id)?;
                if local.ip().is_unspecified() {
                    s.local = Some(SocketAddr::new(src, local.port()));
                }
                s.peer = Some(to);
                return Ok(());
            }
        }
        if to.ip().is_unspecified() || to.port() == 0 {
            return Err(ECONNREFUSED);
        }
        let src = match s.local {
            Some(l) if !l.ip().is_unspecified() => l.ip(),
            _ => self.source_for(to.ip())?,
        };
        let (rcv, snd, nodelay, keepalive) = (s.opts.rcvbuf, s.opts.sndbuf, s.opts.nodelay, s.opts.keepalive);
        let cc = s.opts.congestion;
        let local = self.autobind(id, src)?;
        let h = self.tcp.add(rcv, snd, cc);
        let sock = self.tcp.socket(h);
        sock.set_nagle_enabled(!nodelay);
        if keepalive {
            sock.set_keep_alive(Some(smoltcp::time::Duration::from_secs(7200)));
        }
        if self.tcp.connect(h, (smol(to.ip()), to.port()), (smol(src), local.port())).is_err() {
            self.tcp.remove(h);
            return Err(EADDRNOTAVAIL);
        }
        let since = self.now();
        let s = self.sock_mut(id)?;
        s.local = Some(SocketAddr::new(src, local.port()));
        s.peer = Some(to);
        s.kind = Kind::Tcp(Tcp::Conn { h, connecting: true, since });
        s.connect_unreported = true;
        Err(EINPROGRESS)
    }

    /// A v6 link-local address given with a scope id names its interface.
    pub fn learn_scope_of(&mut self, a: SocketAddr) {
        if let SocketAddr::V6(v) = a {
            self.learn_scope(IpAddr::V6(*v.ip()), v.scope_id());
        }
    }

    /// How a TCP connect stands: Ok(true) connected, Ok(false) still
    /// going, Err the reason it failed (taken from SO_ERROR).
    pub fn connect_done(&mut self, id: SockId) -> Result<bool, Errno> {
        let s = self.sock_mut(id)?;
        s.connect_unreported = false;
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        match s.kind {
            Kind::Tcp(Tcp::Conn { connecting, .. }) => Ok(!connecting),
            _ => Ok(true),
        }
    }

    /// Checks connects in progress; marks failures in SO_ERROR.
    fn tend_connects(&mut self) {
        let now = self.now();
        for (_, s) in self.sockets.iter_mut() {
            let Kind::Tcp(Tcp::Conn { h, connecting: true, since }) = s.kind else { continue };
            let ts = self.tcp.sockets.get_mut::<smoltcp::socket::tcp::Socket>(h);
            match ts.state() {
                TcpState::SynSent | TcpState::SynReceived if now < since + CONNECT_TIMEOUT => {}
                TcpState::SynSent | TcpState::SynReceived => {
                    ts.abort();
                    s.error = Some(ETIMEDOUT);
                    s.kind = Kind::Tcp(Tcp::Conn { h, connecting: false, since });
                }
                TcpState::Closed => {
                    s.error = Some(ECONNREFUSED);
                    s.kind = Kind::Tcp(Tcp::Conn { h, connecting: false, since });
                }
                _ => s.kind = Kind::Tcp(Tcp::Conn { h, connecting: false, since }),
            }
        }
    }

    /// Sends on a connected stream (EAGAIN when the buffer is full).
    pub fn tcp_send(&mut self, id: SockId, data: &[u8]) -> Result<usize, Errno> {
        let s = self.sock_mut(id)?;
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        let Kind::Tcp(Tcp::Conn { h, connecting, .. }) = s.kind else { return Err(ENOTCONN) };
        if s.shut_wr {
            return Err(EPIPE);
        }
        let ts = self.tcp.socket(h);
        if connecting {
            return Err(EAGAIN);
        }
        if !ts.may_send() {
            return Err(if ts.state() == TcpState::Closed { ECONNRESET } else { EPIPE });
        }
        let n = ts.send_slice(data).map_err(|_| EPIPE)?;
        if n == 0 && !data.is_empty() {
            return Err(EAGAIN);
        }
        Ok(n)
    }

    /// Reads from a stream: Ok(0) at end of stream, EAGAIN when empty.
    pub fn tcp_recv(&mut self, id: SockId, buf: &mut [u8], peek: bool) -> Result<usize, Errno> {
        let s = self.sock_mut(id)?;
        let shut_rd = s.shut_rd;
        let Kind::Tcp(Tcp::Conn { h, connecting, .. }) = s.kind else { return Err(ENOTCONN) };
        let ts = self.tcp.socket(h);
        if ts.can_recv() && !shut_rd {
            let n = if peek { ts.peek_slice(buf) } else { ts.recv_slice(buf) };
            return n.map_err(|_| ECONNRESET);
        }
        if let Some(e) = self.sock_mut(id)?.error.take() {
            return Err(e);
        }
        let ts = self.tcp.socket(h);
        if shut_rd || (!connecting && !ts.may_recv()) {
            return Ok(0);
        }
        if connecting && ts.state() == TcpState::Closed {
            return Err(ENOTCONN);
        }
        Err(EAGAIN)
    }

    pub fn shutdown(&mut self, id: SockId, how: i32) -> Result<(), Errno> {
        let s = self.sock_mut(id)?;
        let (rd, wr) = match how {
            0 => (true, false),
            1 => (false, true),
            2 => (true, true),
            _ => return Err(EINVAL),
        };
        match s.kind {
            Kind::Tcp(Tcp::Conn { h, .. }) => {
                s.shut_rd |= rd;
                if wr && !s.shut_wr {
                    s.shut_wr = true;
                    self.tcp.socket(h).close();
                }
                Ok(())
            }
            Kind::Tcp(Tcp::Listening(_)) if rd => {
                self.close_listener(id);
                if let Ok(s) = self.sock_mut(id) {
                    s.kind = Kind::Tcp(Tcp::Fresh);
                    s.shut_rd = true;
                }
                Ok(())
            }
            Kind::Udp | Kind::Raw(_) if s.peer.is_some() => {
                s.shut_rd |= rd;
                s.shut_wr |= wr;
                Ok(())
            }
            _ => Err(ENOTCONN),
        }
    }

    fn close_listener(&mut self, id: SockId) {
        if let Some(Socket { kind: Kind::Tcp(Tcp::Listening(l)), .. }) = self.sockets.get_mut(id) {
            let hs: Vec<SocketHandle> = l.pool.drain(..).chain(l.ready.drain(..)).collect();
            for h in hs {
                self.tcp.socket(h).abort();
                self.orphans.push(h);
            }
        }
    }

    /// The last close of a socket. A TCP connection is closed gracefully
    /// (or reset, if unread data remains, as Linux does) and lives on
    /// until the engine is done with it.
    pub fn close(&mut self, id: SockId) {
        self.close_listener(id);
        let Some(s) = self.sockets.remove(id) else { return };
        if let Kind::Tcp(Tcp::Conn { h, .. }) = s.kind {
            let ts = self.tcp.socket(h);
            if ts.recv_queue() > 0 || s.opts.linger == Some(0) {
                ts.abort();
            } else {
                ts.close();
            }
            self.orphans.push(h);
        }
    }

    /// Frees engine sockets that closed and nobody holds.
    pub(super) fn reap_orphans(&mut self) {
        let tcp: &mut Engine = &mut self.tcp;
        self.orphans.retain(|h| {
            let st = tcp.socket(*h).state();
            let done = matches!(st, TcpState::Closed | TcpState::TimeWait);
            if done {
                tcp.remove(*h);
            }
            !done
        });
    }

    /// FIONREAD: stream bytes queued, or the next datagram's size.
    pub fn readable_bytes(&self, id: SockId) -> usize {
        let Some(s) = self.sockets.get(id) else { return 0 };
        match s.handle() {
            Some(h) => self.tcp.sockets.get::<smoltcp::socket::tcp::Socket>(h).recv_queue(),
            None => s.rxq.front().map_or(0, |d| d.data.len()),
        }
    }

    /// Whether every move of socket `id`'s poll mask is announced on its
    /// channel by the time the kernel is let go of (`socket_changes`): of
    /// all but a packet socket, whose ring's mask moves as the process
    /// hands blocks back, with no call.
    pub fn announces_mask(&self, id: SockId) -> bool {
        self.sockets.get(id).is_some_and(|s| !matches!(s.kind, Kind::Packet(_)))
    }

    /// Readiness in native poll bits.
    pub fn poll_mask(&self, id: SockId) -> i16 {
        let Some(s) = self.sockets.get(id) else { return POLLERR };
        let err = if s.error.is_some() || !s.errq.is_empty() { POLLERR } else { 0 };
        err | match &s.kind {
            Kind::Tcp(Tcp::Fresh) => POLLOUT | POLLHUP,
            Kind::Tcp(Tcp::Listening(l)) => {
                if l.ready.is_empty() {
                    0
                } else {
                    POLLIN | POLLRDNORM
                }
            }
            Kind::Tcp(Tcp::Conn { h, connecting, .. }) => {
                let ts = self.tcp.sockets.get::<smoltcp::socket::tcp::Socket>(*h);
                if *connecting {
                    return err;
                }
                let mut m = 0;
                let eof = !ts.may_recv();
                if ts.can_recv() || eof || s.shut_rd {
                    m |= POLLIN | POLLRDNORM;
                }
                if eof {
                    m |= POLLRDHUP;
                }
                if ts.can_send() || (!ts.may_send() && !s.shut_wr) {
                    m |= POLLOUT | POLLWRNORM;
                }
                if ts.state() == TcpState::Closed || (eof && s.shut_wr) {
                    m |= POLLHUP;
                }
                m
            }
            Kind::Packet(p) if p.ring.is_some() => {
                if p.ring.as_ref().is_some_and(|r| r.user_has_block()) {
                    POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM
                } else {
                    POLLOUT | POLLWRNORM
                }
            }
            Kind::Udp | Kind::Raw(_) | Kind::Ping(_) | Kind::Netlink(_) | Kind::Packet(_) => {
                let r = if s.rxq.is_empty() && !s.shut_rd { 0 } else { POLLIN | POLLRDNORM };
                // Writable again once half the send buffer has drained, as
                // Linux's sock_writeable: a poller then sends a batch, not
                // one datagram per wake-up.
                let w = if s.tx_queued <= s.opts.sndbuf / 2 { POLLOUT | POLLWRNORM } else { 0 };
                r | w
            }
        }
    }

    /// Sockets whose readiness or queues moved since last asked, with the
    /// events that may have become true, and whether their channel is to
    /// hear of it: when the poll mask moved, or for a packet socket's
    /// ring, whose mask moves without a call as the process hands blocks
    /// back. A sleeper on the channel waits for a mask to move (a reader
    /// for data, a UDP sender for half its buffer free, as Linux's
    /// `sock_writeable`), and a watched poll keeps its result until one
    /// does (`Lwp::watching`); an edge-triggered epoll hears of every
    /// datagram through its note instead.
    pub(super) fn socket_changes(&mut self) -> Vec<(SockId, i16, bool)> {
        self.tend_connects();
        let ids: Vec<SockId> = self.sockets.iter().map(|(id, _)| id).collect();
        let mut out = Vec::new();
        for id in ids {
            let mask = self.poll_mask(id);
            let (rq, sq) = match self.sockets[id].handle() {
                Some(h) => {
                    let ts = self.tcp.sockets.get::<smoltcp::socket::tcp::Socket>(h);
                    (ts.recv_queue(), ts.send_queue())
                }
                None => {
                    let s = &self.sockets[id];
                    // A ring's blocks come and go without a call: count retirals.
                    let retired = match &s.kind {
                        Kind::Packet(p) => p.ring.as_ref().map_or(0, |r| r.retired() as usize),
                        _ => 0,
                    };
                    (s.rxq.len() + retired, s.tx_queued)
                }
            };
            let s = &mut self.sockets[id];
            if s.seen != (mask, rq, sq) {
                let wake = s.seen.0 != mask || matches!(s.kind, Kind::Packet(_));
                s.seen = (mask, rq, sq);
                out.push((id, mask, wake));
            }
        }
        out
    }
}
