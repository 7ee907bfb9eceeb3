//! The network stack (DESIGN.md §6): our own L2/L3 — interfaces, routes,
//! neighbour caches, IPv4/IPv6 with forwarding, fragmentation and ICMP —
//! with UDP and raw sockets of our own and smoltcp's TCP state machines
//! underneath, and shmif buses as links.
//!
//! - `wire`: the headers, parsed and emitted; `iface`, `route`, `neigh`:
//!   the tables; `ether`: frames, ARP and neighbour discovery; `ip`:
//!   input, forwarding, output; `icmp`; `udp`, `raw`, `tcp`: transports;
//!   `netem`: egress impairment (and the interface queue whose frames count
//!   against their senders' send buffers); `recovery`: TCP loss recovery
//!   beside smoltcp's, and the figures `tcpinfo` reports (TCP_INFO,
//!   TCP_CONGESTION);
//!   `socket`: socket objects and the calls on them; `shmif`, `pcap`:
//!   the bus file and its dumps; `softnet`: the threads that read buses
//!   and run timers.
//!
//! All of it lives in `State` under the kernel lock. Work is driven from
//! three places — calls, frames arriving, timers — and each ends with
//! `State::net_run`, which lets TCP and loopback settle and wakes the
//! sockets whose readiness changed.

pub mod bpf;
pub mod busguard;
pub mod census;
pub mod ether;
pub mod futexv;
pub mod icmp;
pub mod iface;
pub mod ip;
pub mod neigh;
pub mod netem;
pub mod packet;
pub mod pcap;
pub mod ping;
pub mod raw;
pub mod rcvwnd;
pub mod recovery;
pub mod route;
pub mod shmif;
pub mod socket;
pub mod softnet;
pub mod tap;
pub mod tcp;
pub mod tcpinfo;
pub mod udp;
pub mod wire;

use crate::event::{Hint, Source, Wake};
use crate::slab::Slab;
use crate::time::Clock;
use crate::State;
use iface::{IfAddr, IfIndex, Ifaces, IFF_RUNNING, IFF_UP};
use route::Route;
use rump_abi::native::errno::{EADDRNOTAVAIL, EEXIST};
use rump_abi::Errno;
use socket::{SockId, Socket};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// The stack's sysctl knobs.
pub struct Knobs {
    /// net.inet.ip.forwarding
    pub forwarding: bool,
    /// net.inet6.ip6.forwarding
    pub forwarding6: bool,
    /// net.inet.arp.keep, seconds an ARP entry lives (NetBSD's default).
    pub arp_keep: u32,
    /// net.inet.ip.ttl
    pub ttl: u8,
    /// net.ipv4.ping_group_range: the groups that may make ICMP datagram
    /// sockets, low and high; Linux's default "1 0" admits nobody.
    pub ping_group: (u32, u32),
}

impl Knobs {
    /// Whether a process in groups `gids` may make an ICMP datagram socket.
    pub fn may_ping(&self, gids: impl IntoIterator<Item = u32>) -> bool {
        let (lo, hi) = self.ping_group;
        gids.into_iter().any(|g| (lo..=hi).contains(&g))
    }
}

impl Knobs {
    pub fn arp_keep_us(&self) -> u64 {
        self.arp_keep as u64 * 1_000_000
    }
}

/// Counters for /proc/net/snmp.
#[derive(Default, Clone, Copy, Debug)]
pub struct Stats {
    pub ip_in_receives: u64,
    pub ip_in_hdr_errors: u64,
    pub ip_in_addr_errors: u64,
    pub ip_forw_datagrams: u64,
    pub ip_in_delivers: u64,
    pub ip_out_requests: u64,
    pub ip_reasm_oks: u64,
    pub ip_reasm_fails: u64,
    pub ip_frag_oks: u64,
    pub ip_frag_creates: u64,
    pub icmp_in_msgs: u64,
    pub icmp_in_errors: u64,
    pub icmp_out_msgs: u64,
    pub icmp_out_errors: u64,
    pub udp_in_datagrams: u64,
    pub udp_no_ports: u64,
    pub udp_in_errors: u64,
    /// Datagrams dropped because the socket's receive buffer was full
    /// (also counted in udp_in_errors, as Linux does).
    pub udp_rcvbuf_errors: u64,
    pub udp_out_datagrams: u64,
}

/// A change to the configuration tables, kept until netlink has told the
/// sockets that listen for it (`ip monitor`).
#[derive(Clone, Copy, Debug)]
pub enum Change {
    Link(IfIndex),
    LinkGone(IfIndex),
    NewAddr(IfIndex, IfAddr),
    DelAddr(IfIndex, IfAddr),
    NewRoute(Route),
    DelRoute(Route),
    Neigh(IfIndex, IpAddr),
}

pub struct Net {
    pub ifaces: Ifaces,
    /// Changes not yet announced (drained at the end of every call).
    pub changes: Vec<Change>,
    pub routes: route::Table,
    pub neigh: neigh::Cache,
    pub sockets: Slab<Socket>,
    pub tcp: tcp::Engine,
    pub knobs: Knobs,
    pub stats: Stats,
    pub clock: Arc<dyn Clock>,
    /// Packets sent to a loopback interface, to be read back in.
    loopq: VecDeque<(IfIndex, Vec<u8>)>,
    reasm: ip::Reassembly,
    ident: u16,
    /// Which interface a link-local IPv6 address is behind.
    pub ll_scope: std::collections::HashMap<Ipv6Addr, IfIndex>,
    /// TCP connections closed by their owners, until the engine is done.
    pub orphans: Vec<smoltcp::iface::SocketHandle>,
    /// Copies of TCP segments in flight on links, for loss recovery.
    pub recovery: recovery::Recovery,
    /// When the timer thread next wakes (µs), so that work needing an
    /// earlier wake-up can kick it.
    pub timer_at: u64,
    /// The socket whose datagram is being sent, whose send buffer the
    /// frames that wait in an interface queue are charged to.
    tx_owner: Option<SockId>,
}

impl Net {
    /// A stack with `lo0` up, holding 127.0.0.1/8 and ::1.
    pub fn new(clock: Arc<dyn Clock>) -> Net {
        let now = mono_us(&*clock);
        let mut n = Net {
            ifaces: Ifaces::default(),
            changes: Vec::new(),
            routes: route::Table::default(),
            neigh: neigh::Cache::default(),
            sockets: Slab::default(),
            tcp: tcp::Engine::new(now),
            knobs: Knobs { forwarding: false, forwarding6: false, arp_keep: 1200, ttl: 64, ping_group: (1, 0) },
            stats: Stats::default(),
            clock,
            loopq: VecDeque::new(),
            reasm: ip::Reassembly::default(),
            ident: 0,
            orphans: Vec::new(),
            ll_scope: Default::default(),
            timer_at: u64::MAX,
            tx_owner: None,
            recovery: Default::default(),
        };
        let lo = n.ifaces.create("lo0", [0; 6]).expect("a fresh table has no lo0");
        let _ = n.add_addr(lo, IfAddr { brd: false, ..IfAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 8) });
        let _ = n.add_addr(lo, IfAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 128));
        let _ = n.set_flags(lo, IFF_UP);
        n
    }

    pub fn now(&self) -> u64 {
        mono_us(&*self.clock)
    }

    /// Adds an address and the route to its subnet.
    pub fn add_addr(&mut self, iface: IfIndex, a: IfAddr) -> Result<(), Errno> {
        let ifc = self.ifaces.get_mut(iface).ok_or(EADDRNOTAVAIL)?;
        if ifc.addrs.iter().any(|x| x.addr == a.addr && x.prefix == a.prefix) {
            return Err(EEXIST);
        }
        ifc.addrs.push(a);
        let net = masked(a.addr, a.prefix);
        // Linux gives IPv6 prefix routes its IP6_RT_PRIO_ADDRCONF metric.
        let metric = if a.addr.is_ipv6() { 256 } else { 0 };
        let r = Route { dst: net, prefix: a.prefix, gateway: None, iface, metric, connected: true };
        self.changes.push(Change::NewAddr(iface, a));
        if self.routes.add(r).is_ok() {
            self.changes.push(Change::NewRoute(r));
        }
        Ok(())
    }

    pub fn remove_addr(&mut self, iface: IfIndex, addr: IpAddr) -> Result<(), Errno> {
        let ifc = self.ifaces.get_mut(iface).ok_or(EADDRNOTAVAIL)?;
        let at = ifc.addrs.iter().position(|x| x.addr == addr).ok_or(EADDRNOTAVAIL)?;
        let a = ifc.addrs.remove(at);
        self.changes.push(Change::DelAddr(iface, a));
        let (dst, prefix) = (masked(a.addr, a.prefix), a.prefix);
        // Another address in the same subnet still needs its route.
        if ifc.addrs.iter().any(|x| x.prefix == prefix && masked(x.addr, prefix) == dst) {
            return Ok(());
        }
        let gone = self.routes.iter().filter(|r| r.connected && r.iface == iface && r.dst == dst && r.prefix == prefix);
        self.changes.extend(gone.map(|r| Change::DelRoute(*r)).collect::<Vec<_>>());
        self.routes.remove_connected(iface, dst, prefix);
        Ok(())
    }

    /// IPv4 reassembly queues and the bytes they hold (/proc/net/sockstat).
    pub fn frag_usage(&self) -> (usize, usize) {
        self.reasm.usage()
    }

    /// Removes the addresses whose valid lifetime is over.
    fn expire_addrs(&mut self, now: u64) {
        let gone: Vec<(IfIndex, IpAddr)> = self
            .ifaces
            .iter()
            .flat_map(|i| i.addrs.iter().filter(|a| a.valid_until.is_some_and(|t| t <= now)).map(|a| (i.index, a.addr)))
            .collect();
        for (iface, addr) in gone {
            let _ = self.remove_addr(iface, addr);
        }
    }

    pub fn set_v4_prefix(&mut self, iface: IfIndex, prefix: u8) -> Result<(), Errno> {
        let ifc = self.ifaces.get(iface).ok_or(EADDRNOTAVAIL)?;
        let old = ifc.first_v4().ok_or(EADDRNOTAVAIL)?;
        self.remove_addr(iface, old.addr)?;
        self.add_addr(iface, IfAddr { prefix, ..old })
    }

    /// Changes the settable flags; bringing a link up also gives it an
    /// IPv6 link-local address (shmif, tap) and marks it running.
    pub fn set_flags(&mut self, iface: IfIndex, flags: u32) -> Result<(), Errno> {
        let ifc = self.ifaces.get_mut(iface).ok_or(EADDRNOTAVAIL)?;
        ifc.flags = (ifc.flags & !iface::IFF_SETTABLE) | (flags & iface::IFF_SETTABLE);
        let up = ifc.is_up();
        if up && ifc.link.is_attached() {
            ifc.flags |= IFF_RUNNING;
        } else {
            ifc.flags &= !IFF_RUNNING;
        }
        if up
            && !ifc.is_loopback()
            && !ifc.addrs.iter().any(|a| matches!(a.addr, IpAddr::V6(v) if ip::is_link_local(v)))
        {
            let ll = ifc.link_local();
            let _ = self.add_addr(iface, IfAddr::new(IpAddr::V6(ll), 64));
        }
        if !up {
            self.neigh.flush_iface(iface);
        }
        self.changes.push(Change::Link(iface));
        Ok(())
    }

    /// Lets queued work settle: TCP output, loopback deliveries, and the
    /// input they cause, until nothing moves.
    fn settle(&mut self) {
        let now = self.now();
        loop {
            self.tend_listeners();
            let out = self.tcp.poll(now);
            let mut moved = !out.is_empty();
            for pkt in out {
                if let Some((ip, payload)) = wire::IpRepr::parse(&pkt) {
                    let _ = self.ip_output(ip, payload);
                }
            }
            while let Some((iface, pkt)) = self.loopq.pop_front() {
                moved = true;
                if let Some(i) = self.ifaces.get_mut(iface) {
                    i.counters.rx_packets += 1;
                    i.counters.rx_bytes += pkt.len() as u64;
                }
                self.packet_tap_loopback(iface, &pkt);
                self.ip_input(iface, &pkt);
            }
            if !moved && !self.tcp.has_input() {
                break;
            }
        }
        self.tend_listeners();
        self.reap_orphans();
    }

    /// Timers: neighbour expiry and probes, reassembly; then TCP's run in settle.
    pub fn tick(&mut self) {
        let now = self.now();
        self.neigh_tick(now);
        self.ip_tick(now);
        self.netem_tick(now);
        self.packet_tick(now);
        self.expire_addrs(now);
        for (ip, seg) in self.recovery.tick(now) {
            let _ = self.ip_output(ip, &seg);
        }
    }

    /// When the stack next has timed work (µs on the kernel clock).
    pub fn next_deadline(&mut self) -> Option<u64> {
        let now = self.now();
        [
            self.tcp.poll_at(now),
            self.neigh.next_deadline(),
            self.ip_deadline(),
            self.netem_deadline(),
            self.recovery.next_deadline(),
            self.packet_deadline(),
            self.ifaces.iter().flat_map(|i| i.addrs.iter().filter_map(|a| a.valid_until)).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

impl State {
    /// Ends every piece of network work: settles the stack, then wakes the
    /// sockets whose readiness changed (their channel and their notes).
    pub fn net_run(&mut self) {
        self.net.settle();
        self.net.wake_links();
        crate::compat::linux::netlink::announce(&mut self.net);
        let changed: Vec<(SockId, i16, bool)> = self.net.socket_changes();
        for (id, mask, wake) in changed {
            if let Some(s) = self.net.sockets.get(id).filter(|_| wake) {
                s.chan.notify_all();
            }
            self.knote(Source::Socket(id), Hint::wake(Wake::Key(mask)));
        }
    }
}

pub fn mono_us(clock: &dyn Clock) -> u64 {
    let t = clock.monotonic();
    (t.sec as u64) * 1_000_000 + (t.nsec as u64) / 1000
}

/// `a` with the host bits cleared.
pub fn masked(a: IpAddr, prefix: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix.min(32) as u32) };
            IpAddr::V4(Ipv4Addr::from(u32::from(v) & m))
        }
        IpAddr::V6(v) => {
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix.min(128) as u32) };
            IpAddr::V6(Ipv6Addr::from(u128::from(v) & m))
        }
    }
}
