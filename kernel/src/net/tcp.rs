//! The TCP engine: smoltcp's state machines under our L3. One smoltcp
//! interface of medium IP, accepting any address (our L3 only hands it
//! segments addressed to us) and routing nothing itself: what it sends
//! comes back to `Net` as IP packets to route. Its MTU is large, so
//! loopback carries big segments; `ip::ip_output` clamps the MSS a SYN
//! offers to the real route. Segments pass `rcvwnd::WindowGuard` both
//! ways, so the windows we advertise never shrink.

use super::rcvwnd::WindowGuard;
use super::wire::IpRepr;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address, Ipv6Address};
use std::collections::VecDeque;

/// The engine's MTU: as big as an IPv4 datagram gets.
pub const ENGINE_MTU: usize = 65535;

/// The engine's side of our L3: segments in, IP packets out.
#[derive(Default)]
pub struct Tunnel {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
}

pub struct Rx(Vec<u8>);
pub struct Tx<'a>(&'a mut Vec<Vec<u8>>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl Device for Tunnel {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _t: SmolInstant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _t: SmolInstant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = ENGINE_MTU;
        c
    }
}

pub struct Engine {
    iface: Interface,
    dev: Tunnel,
    guard: WindowGuard,
    pub sockets: SocketSet<'static>,
}

/// Rounds of `Engine::poll` that hand smoltcp bytes the guard kept.
const GUARD_ROUNDS: usize = 4;

pub fn instant(us: u64) -> SmolInstant {
    SmolInstant::from_micros(us as i64)
}

impl Engine {
    pub fn new(now: u64) -> Engine {
        let mut dev = Tunnel::default();
        // The seed makes initial sequence numbers and ports unguessable.
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = super::shmif::random_sender();
        let mut iface = Interface::new(config, &mut dev, instant(now));
        iface.set_any_ip(true);
        // smoltcp sends only where it has a route; every destination is
        // "on link" for it, our L3 decides the rest.
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(Ipv4Address::new(0, 0, 0, 1)), 0));
            let _ = a.push(IpCidr::new(IpAddress::Ipv6(Ipv6Address::new(0, 0, 0, 0, 0, 0, 0, 2)), 0));
        });
        Engine { iface, dev, guard: WindowGuard::default(), sockets: SocketSet::new(Vec::new()) }
    }

    /// A segment addressed to us.
    pub fn input(&mut self, ip: &IpRepr, payload: &[u8]) {
        match self.guard.incoming(ip, payload) {
            Some(trimmed) => self.queue(ip, &trimmed),
            None => self.queue(ip, payload),
        }
    }

    fn queue(&mut self, ip: &IpRepr, payload: &[u8]) {
        let mut pkt = ip.emit_header(payload.len());
        pkt.extend_from_slice(payload);
        self.dev.rx.push_back(pkt);
    }

    /// Runs the state machines; returns the IP packets they sent.
    pub fn poll(&mut self, now: u64) -> Vec<Vec<u8>> {
        let mut sent = Vec::new();
        for _ in 0..GUARD_ROUNDS {
            self.iface.poll(instant(now), &mut self.dev, &mut self.sockets);
            let mut tx = std::mem::take(&mut self.dev.tx);
            tx.retain_mut(|pkt| self.guard.outgoing(pkt, now));
            sent.append(&mut tx);
            let due = self.guard.due();
            if due.is_empty() {
                break;
            }
            for (ip, seg) in due {
                self.queue(&ip, &seg);
            }
        }
        sent
    }

    pub fn has_input(&self) -> bool {
        !self.dev.rx.is_empty()
    }

    /// When the engine next needs to run (µs), for its timers.
    pub fn poll_at(&mut self, now: u64) -> Option<u64> {
        self.iface.poll_at(instant(now), &self.sockets).map(|t| t.total_micros().max(0) as u64)
    }

    pub fn socket(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    pub fn add(&mut self, rcvbuf: usize, sndbuf: usize, cc: tcp::CongestionControl) -> SocketHandle {
        let mut s = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; rcvbuf]), tcp::SocketBuffer::new(vec![0; sndbuf]));
        s.set_ack_delay(None);
        s.set_congestion_control(cc);
        self.sockets.add(s)
    }

    pub fn remove(&mut self, h: SocketHandle) {
        self.sockets.remove(h);
    }

    pub fn connect(
        &mut self,
        h: SocketHandle,
        remote: (IpAddress, u16),
        local: (IpAddress, u16),
    ) -> Result<(), tcp::ConnectError> {
        let cx = self.iface.context();
        self.sockets.get_mut::<tcp::Socket>(h).connect(cx, remote, local)
    }
}
