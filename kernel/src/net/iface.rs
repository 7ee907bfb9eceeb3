//! Network interfaces: names, flags, MTU, link addresses, the IP addresses
//! configured on each, counters, and the link an interface sends through
//! (loopback, a shmif bus or a host tap device).
//!
//! Flags use Linux's IFF_* bits, which the BSD ones agree with except
//! IFF_MULTICAST (BSD 0x8000): the Linux views pass them through.

use super::shmif::Bus;
use super::tap::Tap;
use rump_abi::native::errno::{EEXIST, EINVAL, ENXIO};
use rump_abi::Errno;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub const IFF_UP: u32 = 0x1;
pub const IFF_BROADCAST: u32 = 0x2;
pub const IFF_LOOPBACK: u32 = 0x8;
pub const IFF_RUNNING: u32 = 0x40;
pub const IFF_NOARP: u32 = 0x80;
pub const IFF_PROMISC: u32 = 0x100;
pub const IFF_MULTICAST: u32 = 0x1000;
/// Flags a caller may change (SIOCSIFFLAGS); the rest follow the link.
pub const IFF_SETTABLE: u32 = IFF_UP | IFF_NOARP | IFF_PROMISC;

pub type IfIndex = u32;

/// One configured address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfAddr {
    pub addr: IpAddr,
    pub prefix: u8,
    /// Whether a v4 address announces its subnet's broadcast address (the
    /// ioctls always set one; `ip addr add` only with `brd`). Routing
    /// treats the broadcast address as local either way, as Linux.
    pub brd: bool,
    /// When the address stops being preferred and when it goes (µs on
    /// the kernel clock); None: never (a permanent address).
    pub preferred_until: Option<u64>,
    pub valid_until: Option<u64>,
}

impl IfAddr {
    /// An address with its broadcast address set (v4), as SIOCSIFADDR makes.
    pub fn new(addr: IpAddr, prefix: u8) -> IfAddr {
        IfAddr { addr, prefix, brd: addr.is_ipv4(), preferred_until: None, valid_until: None }
    }

    pub fn netmask_v4(&self) -> Ipv4Addr {
        Ipv4Addr::from(if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix as u32) })
    }

    /// The directed broadcast address of a v4 subnet (None for v6, /31, /32).
    pub fn broadcast_v4(&self) -> Option<Ipv4Addr> {
        match self.addr {
            IpAddr::V4(a) if self.prefix < 31 => Some(Ipv4Addr::from(u32::from(a) | !u32::from(self.netmask_v4()))),
            _ => None,
        }
    }

    pub fn contains(&self, other: IpAddr) -> bool {
        prefix_match(self.addr, other, self.prefix)
    }
}

/// Whether `a` and `b` agree in their first `prefix` bits (same family).
pub fn prefix_match(a: IpAddr, b: IpAddr, prefix: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix.min(32) as u32) };
            u32::from(a) & m == u32::from(b) & m
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix.min(128) as u32) };
            u128::from(a) & m == u128::from(b) & m
        }
        _ => false,
    }
}

/// Packet and byte counts, as /proc/net/dev shows them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    /// Times the bus reader fell a whole ring behind and skipped the
    /// frames it missed (Linux's rx_fifo_errors, /proc/net/dev's fifo).
    pub rx_overruns: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// A shmif interface's attachment to its bus.
pub struct ShmifLink {
    pub bus: Arc<Bus>,
    pub sender: u64,
    /// Tells the kernel's bus thread to stop reading it for the interface.
    pub stop: Arc<AtomicBool>,
    /// That bus thread, told of frames a call sent (`softnet::help`).
    pub(crate) readers: Arc<super::softnet::BusLinks>,
}

/// A tap interface's attachment to its host tap device.
pub struct TapLink {
    pub dev: Arc<Tap>,
    /// Tells the interface's reader thread to stop.
    pub stop: Arc<AtomicBool>,
}

pub enum Link {
    Loopback,
    /// Not attached to a bus (no linkstr): frames go nowhere.
    Shmif(Option<ShmifLink>),
    /// Not attached to a tap device (no linkstr): frames go nowhere.
    Tap(Option<TapLink>),
}

impl Link {
    /// Whether frames can go anywhere: loopback, or attached.
    pub fn is_attached(&self) -> bool {
        match self {
            Link::Loopback => true,
            Link::Shmif(l) => l.is_some(),
            Link::Tap(l) => l.is_some(),
        }
    }

    /// Detaches a shmif or tap link and stops its reading.
    pub fn detach(&mut self) {
        let stop = match self {
            Link::Loopback => None,
            Link::Shmif(l) => l.take().map(|l| l.stop),
            Link::Tap(l) => l.take().map(|l| l.stop),
        };
        if let Some(stop) = stop {
            stop.store(true, Ordering::Release);
        }
    }
}

pub struct Iface {
    pub index: IfIndex,
    pub name: String,
    pub flags: u32,
    pub mtu: u32,
    pub mac: [u8; 6],
    pub txqlen: u32,
    pub addrs: Vec<IfAddr>,
    pub counters: Counters,
    pub link: Link,
    /// Egress impairment, if any (`rumpctl ifconfig IF netem ...`).
    pub netem: Option<super::netem::Netem>,
}

impl Iface {
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    pub fn is_loopback(&self) -> bool {
        matches!(self.link, Link::Loopback)
    }

    /// The first v4 address, which is the one SIOCGIFADDR reports.
    pub fn first_v4(&self) -> Option<IfAddr> {
        self.addrs.iter().copied().find(|a| a.addr.is_ipv4())
    }

    /// The address to send from towards `dst` on this interface: one in
    /// the same subnet, else the first of the family.
    pub fn source_for(&self, dst: IpAddr) -> Option<IpAddr> {
        let same = |a: &&IfAddr| a.addr.is_ipv4() == dst.is_ipv4();
        let fam = self.addrs.iter().filter(same);
        let v6_ll = |a: &IpAddr| matches!(a, IpAddr::V6(v) if super::ip::is_link_local(*v));
        fam.clone()
            .find(|a| a.contains(dst) && !(dst.is_ipv6() && !v6_ll(&dst) && v6_ll(&a.addr)))
            .or_else(|| fam.clone().find(|a| !v6_ll(&a.addr) || v6_ll(&dst)))
            .or_else(|| fam.clone().next())
            .map(|a| a.addr)
    }

    /// The IPv6 link-local address an interface gets from its MAC (EUI-64).
    pub fn link_local(&self) -> Ipv6Addr {
        let m = self.mac;
        Ipv6Addr::new(
            0xfe80,
            0,
            0,
            0,
            u16::from_be_bytes([m[0] ^ 2, m[1]]),
            u16::from_be_bytes([m[2], 0xff]),
            u16::from_be_bytes([0xfe, m[3]]),
            u16::from_be_bytes([m[4], m[5]]),
        )
    }
}

/// Whether `name` is `prefix` and a unit number.
fn numbered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The interface list, indexed from 1 as Linux's ifindex.
#[derive(Default)]
pub struct Ifaces {
    list: Vec<Iface>,
    next_index: IfIndex,
}

impl Ifaces {
    pub fn iter(&self) -> impl Iterator<Item = &Iface> {
        self.list.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Iface> {
        self.list.iter_mut()
    }

    pub fn get(&self, index: IfIndex) -> Option<&Iface> {
        self.list.iter().find(|i| i.index == index)
    }

    pub fn get_mut(&mut self, index: IfIndex) -> Option<&mut Iface> {
        self.list.iter_mut().find(|i| i.index == index)
    }

    pub fn by_name(&self, name: &str) -> Option<&Iface> {
        self.list.iter().find(|i| i.name == name)
    }

    pub fn index_of(&self, name: &str) -> Result<IfIndex, Errno> {
        self.by_name(name).map(|i| i.index).ok_or(ENXIO)
    }

    /// Adds an interface named `name` (`lo0`, `shmifN`, `tapN`); EEXIST if taken.
    pub fn create(&mut self, name: &str, mac: [u8; 6]) -> Result<IfIndex, Errno> {
        if self.by_name(name).is_some() {
            return Err(EEXIST);
        }
        let (link, flags, mtu, txqlen) = if name == "lo0" {
            (Link::Loopback, IFF_LOOPBACK, 33624, 1000)
        } else if numbered(name, "shmif") {
            (Link::Shmif(None), IFF_BROADCAST | IFF_MULTICAST, 1500, 1000)
        } else if numbered(name, "tap") {
            (Link::Tap(None), IFF_BROADCAST | IFF_MULTICAST, 1500, 1000)
        } else {
            return Err(EINVAL);
        };
        self.next_index += 1;
        let index = self.next_index;
        self.list.push(Iface {
            index,
            name: name.to_string(),
            flags,
            mtu,
            mac: if matches!(link, Link::Loopback) { [0; 6] } else { mac },
            txqlen,
            addrs: Vec::new(),
            counters: Counters::default(),
            link,
            netem: None,
        });
        Ok(index)
    }

    pub fn remove(&mut self, index: IfIndex) -> Option<Iface> {
        let at = self.list.iter().position(|i| i.index == index)?;
        Some(self.list.remove(at))
    }

    /// The interface holding local address `a`, if any.
    pub fn owner_of(&self, a: IpAddr) -> Option<IfIndex> {
        self.list.iter().find(|i| i.addrs.iter().any(|x| x.addr == a)).map(|i| i.index)
    }

    /// Whether `a` is one of ours, or a broadcast address of an up interface.
    pub fn is_local(&self, a: IpAddr) -> bool {
        self.owner_of(a).is_some()
            || match a {
                IpAddr::V4(v) => {
                    v.is_broadcast() || self.list.iter().any(|i| i.addrs.iter().any(|x| x.broadcast_v4() == Some(v)))
                }
                IpAddr::V6(_) => false,
            }
    }
}
