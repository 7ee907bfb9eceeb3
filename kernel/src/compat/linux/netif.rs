//! Linux's network configuration ioctls on socket fds: `struct ifreq`
//! (SIOCGIF*/SIOCSIF*, SIOCGIFCONF with `struct ifconf`), `struct
//! rtentry` (SIOCADDRT/SIOCDELRT), `struct arpreq` (SIOC[SGD]ARP) and, on
//! IPv6 sockets, `struct in6_ifreq` (SIOCSIFADDR/SIOCDIFADDR), served
//! from the stack's tables (`net::iface`, `net::route`, `net::neigh`).
//!
//! What each call answers follows Linux, which splits them by socket
//! family the same way: an AF_INET socket takes the address, route and ARP
//! calls (`devinet_ioctl`, `ip_rt_ioctl`, `arp_ioctl`), an AF_INET6 socket
//! the in6_ifreq ones, and both the device calls (`dev_ioctl`); the rest
//! are ENOTTY. The checks come in Linux's order, so a bad family, a bad
//! name and a missing address fail as they do there. Nothing checks for
//! root: the kernel's own credentials govern it.
//!
//! Address labels (`eth0:1` aliases) are not kept: an alias names no
//! address (EADDRNOTAVAIL), while device calls on it reach the device,
//! as on Linux.

use crate::net::iface::{IfAddr, IfIndex, Iface, IFF_BROADCAST};
use crate::net::route::{Route, RTF_GATEWAY, RTF_HOST};
use crate::net::socket::SockId;
use crate::net::Net;
use crate::Cx;
use rump_abi::native::errno::*;
use rump_abi::{Errno, SysResult, UserAddr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const SIOCADDRT: u32 = 0x890b;
pub const SIOCDELRT: u32 = 0x890c;
pub const SIOCGSTAMP: u32 = 0x8906;
pub const SIOCGSTAMPNS: u32 = 0x8907;
pub const SIOCGIFNAME: u32 = 0x8910;
pub const SIOCGIFCONF: u32 = 0x8912;
pub const SIOCGIFFLAGS: u32 = 0x8913;
pub const SIOCSIFFLAGS: u32 = 0x8914;
pub const SIOCGIFADDR: u32 = 0x8915;
pub const SIOCSIFADDR: u32 = 0x8916;
pub const SIOCGIFDSTADDR: u32 = 0x8917;
pub const SIOCGIFBRDADDR: u32 = 0x8919;
pub const SIOCGIFNETMASK: u32 = 0x891b;
pub const SIOCSIFNETMASK: u32 = 0x891c;
pub const SIOCGIFMETRIC: u32 = 0x891d;
pub const SIOCGIFMTU: u32 = 0x8921;
pub const SIOCSIFMTU: u32 = 0x8922;
pub const SIOCGIFHWADDR: u32 = 0x8927;
pub const SIOCGIFINDEX: u32 = 0x8933;
pub const SIOCDIFADDR: u32 = 0x8936;
pub const SIOCGIFTXQLEN: u32 = 0x8942;
pub const SIOCDARP: u32 = 0x8953;
pub const SIOCGARP: u32 = 0x8954;
pub const SIOCSARP: u32 = 0x8955;
pub const SIOCGIFMAP: u32 = 0x8970;

const AF_INET: u16 = 2;
const IFNAMSIZ: usize = 16;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
/// Where a `struct ifreq`'s union starts, and its whole size.
const IFR_UNION: usize = IFNAMSIZ;
const IFREQ_LEN: usize = 40;
/// `struct ifconf` on x86-64: `int ifc_len`, padding, the buffer pointer.
const IFCONF_LEN: usize = 16;
/// `struct rtentry` on x86-64 (glibc's net/route.h, the kernel's uapi).
const RTENTRY_LEN: usize = 120;
const RT_DST: usize = 8;
const RT_GATEWAY: usize = 24;
const RT_GENMASK: usize = 40;
const RT_FLAGS: usize = 56;
const RT_METRIC: usize = 80;
const RT_DEV: usize = 88;
const RTF_REJECT: u16 = 0x0200;
/// `struct arpreq`: arp_pa, arp_ha, arp_flags, arp_netmask, arp_dev[16].
const ARPREQ_LEN: usize = 68;
const ARP_HA: usize = 16;
const ARP_FLAGS: usize = 32;
const ARP_NETMASK: usize = 36;
const ARP_DEV: usize = 52;
const ATF_COM: i32 = 0x02;
const ATF_PERM: i32 = 0x04;
const ATF_PUBL: i32 = 0x08;
const ATF_NETMASK: i32 = 0x20;
const ATF_DONTPUB: i32 = 0x40;
/// `struct in6_ifreq`: the address, `u32 prefixlen`, `int ifindex`.
const IN6_IFREQ_LEN: usize = 24;
/// The MTUs SIOCSIFMTU accepts: IPv4's minimum up to what a length field
/// holds, and Ethernet's limit on a shmif bus.
const MIN_MTU: i32 = 68;
const MAX_MTU: i32 = 65535;
const MAX_ETHER_MTU: i32 = 1500;

/// Whether `cmd` is one of the calls this module serves on a socket.
pub fn is_netif(cmd: u32) -> bool {
    matches!(
        cmd,
        SIOCADDRT
            | SIOCDELRT
            | SIOCGSTAMP
            | SIOCGSTAMPNS
            | SIOCGIFNAME
            | SIOCGIFCONF
            | SIOCGIFFLAGS
            | SIOCSIFFLAGS
            | SIOCGIFADDR
            | SIOCSIFADDR
            | SIOCGIFDSTADDR
            | SIOCGIFBRDADDR
            | SIOCGIFNETMASK
            | SIOCSIFNETMASK
            | SIOCGIFMETRIC
            | SIOCGIFMTU
            | SIOCSIFMTU
            | SIOCGIFHWADDR
            | SIOCGIFINDEX
            | SIOCDIFADDR
            | SIOCGIFTXQLEN
            | SIOCDARP
            | SIOCGARP
            | SIOCSARP
            | SIOCGIFMAP
    )
}

/// Runs network ioctl `cmd` on socket `sock`. Calls that change the stack
/// end by letting it settle (held packets may now have a way out).
pub fn ioctl(cx: &mut Cx, sock: SockId, cmd: u32, arg: UserAddr) -> SysResult {
    let v6 = cx.st.net.sock(sock)?.v6;
    let changes = matches!(
        cmd,
        SIOCADDRT
            | SIOCDELRT
            | SIOCSIFFLAGS
            | SIOCSIFADDR
            | SIOCSIFNETMASK
            | SIOCSIFMTU
            | SIOCDIFADDR
            | SIOCSARP
            | SIOCDARP
    );
    let r = match (cmd, v6) {
        (SIOCGIFCONF, _) => ifconf(cx, arg),
        // No timestamp is ever recorded for SIOCGSTAMP to report.
        (SIOCGSTAMP | SIOCGSTAMPNS, _) => Err(ENOENT),
        (SIOCADDRT | SIOCDELRT, false) => route(cx, cmd, arg),
        (SIOCADDRT | SIOCDELRT, true) => route6(cx, cmd, arg),
        (SIOCSARP | SIOCDARP | SIOCGARP, false) => arp(cx, cmd, arg),
        (SIOCSIFADDR | SIOCDIFADDR, true) => addr6(cx, cmd, arg),
        (
            SIOCGIFADDR | SIOCGIFBRDADDR | SIOCGIFDSTADDR | SIOCGIFNETMASK | SIOCSIFADDR | SIOCSIFNETMASK
            | SIOCSIFFLAGS,
            false,
        ) => devinet(cx, cmd, arg),
        (
            SIOCGIFNAME | SIOCGIFFLAGS | SIOCSIFFLAGS | SIOCGIFMETRIC | SIOCGIFMTU | SIOCSIFMTU | SIOCGIFHWADDR
            | SIOCGIFINDEX | SIOCGIFTXQLEN | SIOCGIFMAP,
            _,
        ) => device(cx, cmd, arg),
        _ => Err(ENOTTY),
    };
    if changes {
        cx.net_done();
    }
    r.map(|()| 0)
}

/// A `struct ifreq` as copied in: the whole of it goes back out, as Linux
/// copies it, with the fields a call sets changed.
struct IfReq([u8; IFREQ_LEN]);

impl IfReq {
    fn read(cx: &Cx, arg: UserAddr) -> Result<IfReq, Errno> {
        let mut b = [0u8; IFREQ_LEN];
        cx.mem.copy_in(arg, &mut b)?;
        Ok(IfReq(b))
    }

    fn write(&self, cx: &Cx, arg: UserAddr) -> Result<(), Errno> {
        cx.mem.copy_out(arg, &self.0)
    }

    /// The name up to its NUL; Linux forces one at byte 15.
    fn name(&self) -> &[u8] {
        cstr(&self.0[..IFNAMSIZ - 1])
    }

    fn int(&self) -> i32 {
        i32::from_ne_bytes(self.0[IFR_UNION..IFR_UNION + 4].try_into().unwrap_or_default())
    }

    fn set_int(&mut self, v: i32) {
        self.0[IFR_UNION..IFR_UNION + 4].copy_from_slice(&v.to_ne_bytes());
    }

    fn short(&self) -> i16 {
        i16::from_ne_bytes([self.0[IFR_UNION], self.0[IFR_UNION + 1]])
    }

    fn set_short(&mut self, v: i16) {
        self.0[IFR_UNION..IFR_UNION + 2].copy_from_slice(&v.to_ne_bytes());
    }

    /// The union as a sockaddr_in: its family and address.
    fn sin(&self) -> (u16, Ipv4Addr) {
        sin_at(&self.0, IFR_UNION)
    }

    /// Makes the union a sockaddr_in for `a`, zeroed around it.
    fn set_sin(&mut self, a: Ipv4Addr) {
        self.0[IFR_UNION..IFR_UNION + 16].fill(0);
        put_sin(&mut self.0, IFR_UNION, a);
    }
}

/// Bytes up to the first NUL.
fn cstr(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

/// The family and address of the sockaddr_in at `off`.
fn sin_at(b: &[u8], off: usize) -> (u16, Ipv4Addr) {
    let fam = u16::from_ne_bytes([b[off], b[off + 1]]);
    (fam, Ipv4Addr::new(b[off + 4], b[off + 5], b[off + 6], b[off + 7]))
}

/// Sets the family and address of the sockaddr_in at `off`.
fn put_sin(b: &mut [u8], off: usize, a: Ipv4Addr) {
    b[off..off + 2].copy_from_slice(&AF_INET.to_ne_bytes());
    b[off + 4..off + 8].copy_from_slice(&a.octets());
}

/// A name with an alias label (`shmif0:1`) split into the device's name
/// and whether there was a label.
fn split_alias(name: &[u8]) -> (&[u8], bool) {
    match name.iter().position(|&c| c == b':') {
        Some(at) => (&name[..at], true),
        None => (name, false),
    }
}

fn find(net: &Net, name: &[u8]) -> Result<IfIndex, Errno> {
    net.ifaces.iter().find(|i| i.name.as_bytes() == name).map(|i| i.index).ok_or(ENODEV)
}

fn iface(net: &Net, index: IfIndex) -> Result<&Iface, Errno> {
    net.ifaces.get(index).ok_or(ENODEV)
}

/// The link type SIOCGIFHWADDR and ARP report (Linux's ARPHRD_*).
fn hw_type(i: &Iface) -> u16 {
    if i.is_loopback() {
        ARPHRD_LOOPBACK
    } else {
        ARPHRD_ETHER
    }
}

fn v4(a: &IfAddr) -> Option<Ipv4Addr> {
    match a.addr {
        IpAddr::V4(v) => Some(v),
        IpAddr::V6(_) => None,
    }
}

/// Linux's `inet_abc_len`: the classful prefix a new address gets, None
/// for a multicast one (which SIOCSIFADDR refuses).
fn abc_len(a: Ipv4Addr) -> Option<u8> {
    let o = a.octets()[0];
    if a.is_unspecified() || a.is_broadcast() {
        Some(0)
    } else if o < 128 {
        Some(8)
    } else if o < 192 {
        Some(16)
    } else if o < 224 {
        Some(24)
    } else if o >= 240 {
        Some(32)
    } else {
        None
    }
}

/// The prefix length of a contiguous netmask; None for one with holes
/// or, when `dst` is given, one that leaves host bits of `dst` set
/// (Linux's `bad_mask`).
fn mask_len(mask: Ipv4Addr, dst: Ipv4Addr) -> Option<u8> {
    let host = !u32::from(mask);
    if u32::from(dst) & host != 0 || host & host.wrapping_add(1) != 0 {
        return None;
    }
    Some(u32::from(mask).count_ones() as u8)
}

/// The calls Linux's `dev_ioctl` answers for any socket: the device
/// itself, by name (an alias label is ignored) or, for SIOCGIFNAME, by
/// index.
fn device(cx: &mut Cx, cmd: u32, arg: UserAddr) -> Result<(), Errno> {
    let mut r = IfReq::read(cx, arg)?;
    let net = &mut cx.st.net;
    if cmd == SIOCGIFNAME {
        let i = u32::try_from(r.int()).ok().and_then(|x| net.ifaces.get(x)).ok_or(ENODEV)?;
        let n = i.name.len().min(IFNAMSIZ - 1);
        r.0[..n].copy_from_slice(&i.name.as_bytes()[..n]);
        r.0[n] = 0;
        return r.write(cx, arg);
    }
    let index = find(net, split_alias(r.name()).0)?;
    let i = iface(net, index)?;
    match cmd {
        // Linux's flags word is a short: higher bits are not reported.
        SIOCGIFFLAGS => r.set_short(i.flags as u16 as i16),
        SIOCGIFMETRIC => r.set_int(0),
        SIOCGIFMTU => r.set_int(i.mtu as i32),
        SIOCGIFINDEX => r.set_int(index as i32),
        SIOCGIFTXQLEN => r.set_int(i.txqlen as i32),
        // mem_start, mem_end, base_addr, irq, dma, port: no hardware.
        SIOCGIFMAP => r.0[IFR_UNION..IFR_UNION + 21].fill(0),
        SIOCGIFHWADDR => {
            let at = IFR_UNION;
            r.0[at..at + 2].copy_from_slice(&hw_type(i).to_ne_bytes());
            r.0[at + 2..at + 8].copy_from_slice(&i.mac);
        }
        SIOCSIFFLAGS => return net.set_flags(index, r.short() as u16 as u32),
        SIOCSIFMTU => {
            let mtu = r.int();
            let max = if i.is_loopback() { MAX_MTU } else { MAX_ETHER_MTU };
            if !(MIN_MTU..=max).contains(&mtu) {
                return Err(EINVAL);
            }
            if let Some(i) = net.ifaces.get_mut(index) {
                i.mtu = mtu as u32;
            }
            return Ok(());
        }
        _ => return Err(ENOTTY),
    }
    r.write(cx, arg)
}

/// The IPv4 address calls of Linux's `devinet_ioctl`, on the
/// interface's first v4 address (or, for the G calls, the one the caller
/// names, as 4.4BSD allows).
fn devinet(cx: &mut Cx, cmd: u32, arg: UserAddr) -> Result<(), Errno> {
    let mut r = IfReq::read(cx, arg)?;
    let (family, given) = r.sin();
    let getting = matches!(cmd, SIOCGIFADDR | SIOCGIFBRDADDR | SIOCGIFDSTADDR | SIOCGIFNETMASK);
    if matches!(cmd, SIOCSIFADDR | SIOCSIFNETMASK) && family != AF_INET {
        return Err(EINVAL);
    }
    let (dev, alias) = split_alias(r.name());
    let net = &mut cx.st.net;
    let index = find(net, dev)?;
    if alias {
        return Err(EADDRNOTAVAIL);
    }
    let i = iface(net, index)?;
    let first = i.first_v4();
    let ifa = if getting && family == AF_INET {
        i.addrs.iter().copied().find(|a| a.addr == IpAddr::V4(given)).or(first)
    } else {
        first
    };
    let broadcast = i.flags & IFF_BROADCAST != 0;
    match cmd {
        SIOCSIFFLAGS => return net.set_flags(index, r.short() as u16 as u32),
        SIOCSIFADDR => return set_v4(net, index, ifa, given),
        _ => {}
    }
    let ifa = ifa.ok_or(EADDRNOTAVAIL)?;
    let addr = v4(&ifa).ok_or(EADDRNOTAVAIL)?;
    match cmd {
        SIOCGIFADDR | SIOCGIFDSTADDR => r.set_sin(addr),
        SIOCGIFBRDADDR => r.set_sin(ifa.broadcast_v4().filter(|_| broadcast).unwrap_or(Ipv4Addr::UNSPECIFIED)),
        SIOCGIFNETMASK => r.set_sin(ifa.netmask_v4()),
        SIOCSIFNETMASK => {
            let prefix = mask_len(given, Ipv4Addr::UNSPECIFIED).ok_or(EINVAL)?;
            return if prefix == ifa.prefix { Ok(()) } else { net.set_v4_prefix(index, prefix) };
        }
        _ => return Err(ENOTTY),
    }
    r.write(cx, arg)
}

/// SIOCSIFADDR as Linux does it: the address replaces the interface's
/// first v4 address (the same address changes nothing) with the classful
/// prefix, 0.0.0.0 only removes it, and a multicast address is EINVAL.
fn set_v4(net: &mut Net, index: IfIndex, old: Option<IfAddr>, addr: Ipv4Addr) -> Result<(), Errno> {
    let prefix = abc_len(addr).ok_or(EINVAL)?;
    if old.is_some_and(|o| o.addr == IpAddr::V4(addr)) {
        return Ok(());
    }
    if let Some(o) = old {
        net.remove_addr(index, o.addr)?;
    }
    if addr.is_unspecified() {
        return Ok(());
    }
    net.add_addr(index, IfAddr::new(IpAddr::V4(addr), prefix))
}

/// SIOCGIFCONF: one ifreq per IPv4 address, in interface order, as many
/// as fit; a NULL buffer asks for the length all of them need.
fn ifconf(cx: &mut Cx, arg: UserAddr) -> Result<(), Errno> {
    let mut c = [0u8; IFCONF_LEN];
    cx.mem.copy_in(arg, &mut c)?;
    let room = i32::from_ne_bytes(c[..4].try_into().unwrap_or_default());
    let buf = UserAddr(u64::from_ne_bytes(c[8..].try_into().unwrap_or_default()));
    let entries: Vec<(String, Ipv4Addr)> =
        cx.st.net.ifaces.iter().flat_map(|i| i.addrs.iter().filter_map(v4).map(move |a| (i.name.clone(), a))).collect();
    let mut total: i32 = 0;
    for (name, a) in entries {
        if !buf.is_null() {
            if room - total < IFREQ_LEN as i32 {
                break;
            }
            let mut r = IfReq([0u8; IFREQ_LEN]);
            let n = name.len().min(IFNAMSIZ - 1);
            r.0[..n].copy_from_slice(&name.as_bytes()[..n]);
            r.set_sin(a);
            r.write(cx, buf.offset(total as u64).ok_or(EFAULT)?)?;
        }
        total += IFREQ_LEN as i32;
    }
    cx.mem.copy_out(arg, &total.to_ne_bytes())
}

/// SIOCADDRT / SIOCDELRT with Linux's `struct rtentry`, checked as
/// `rtentry_to_fib_config` does: the destination must be AF_INET, the
/// mask contiguous and clear of the destination's host bits; RTF_HOST
/// means /32; a metric is stored less one. An added route needs a device
/// (rt_dev) or a gateway (RTF_GATEWAY) on a subnet of an interface that
/// is up; deleting matches destination, prefix and any gateway given.
fn route(cx: &mut Cx, cmd: u32, arg: UserAddr) -> Result<(), Errno> {
    let mut rt = [0u8; RTENTRY_LEN];
    cx.mem.copy_in(arg, &mut rt)?;
    let (dst_family, dst) = sin_at(&rt, RT_DST);
    if dst_family != AF_INET {
        return Err(EAFNOSUPPORT);
    }
    let flags = u16::from_ne_bytes([rt[RT_FLAGS], rt[RT_FLAGS + 1]]);
    let prefix = if flags & RTF_HOST != 0 {
        32
    } else {
        let (mask_family, mask) = sin_at(&rt, RT_GENMASK);
        if mask_family != AF_INET && (mask_family != 0 || !mask.is_unspecified()) {
            return Err(EAFNOSUPPORT);
        }
        mask_len(mask, dst).ok_or(EINVAL)?
    };
    let metric = match i16::from_ne_bytes([rt[RT_METRIC], rt[RT_METRIC + 1]]) {
        0 => 0,
        m => (m as i32 - 1) as u32,
    };
    if flags & RTF_REJECT != 0 {
        // No unreachable routes here.
        return Err(EOPNOTSUPP);
    }
    let dev_ptr = UserAddr(u64::from_ne_bytes(rt[RT_DEV..RT_DEV + 8].try_into().unwrap_or_default()));
    let dev = if dev_ptr.is_null() {
        None
    } else {
        // Linux reads IFNAMSIZ - 1 bytes whatever the string's length.
        let mut name = [0u8; IFNAMSIZ - 1];
        cx.mem.copy_in(dev_ptr, &mut name)?;
        let (dev, alias) = split_alias(cstr(&name));
        let index = find(&cx.st.net, dev)?;
        if alias {
            return Err(ENODEV);
        }
        Some(index)
    };
    let (gw_family, gw) = sin_at(&rt, RT_GATEWAY);
    let gw = (gw_family == AF_INET && !gw.is_unspecified()).then_some(IpAddr::V4(gw));
    let net = &mut cx.st.net;
    if cmd == SIOCDELRT {
        return net.routes.delete(IpAddr::V4(dst), prefix, gw).map(drop);
    }
    let gateway = if flags & RTF_GATEWAY != 0 { Some(gw.ok_or(EINVAL)?) } else { None };
    let index = match (gateway, dev) {
        (Some(g), _) => net
            .ifaces
            .iter()
            .filter(|i| dev.is_none_or(|d| d == i.index) && i.is_up())
            .find(|i| i.addrs.iter().any(|a| a.contains(g)))
            .map(|i| i.index)
            .ok_or(ENETUNREACH)?,
        (None, Some(d)) if iface(net, d)?.is_up() => d,
        (None, Some(_)) => return Err(ENETDOWN),
        (None, None) => return Err(ENODEV),
    };
    net.routes.add(Route { dst: IpAddr::V4(dst), prefix, gateway, iface: index, metric, connected: false })
}

/// `struct in6_rtmsg`: dst, src, gateway (in6_addr each), u32 type,
/// u16 dst_len, u16 src_len, u32 metric, unsigned long info, u32 flags,
/// int ifindex.
const IN6_RTMSG_LEN: usize = 80;
const RTMSG_GATEWAY: usize = 32;
const RTMSG_DST_LEN: usize = 52;
const RTMSG_METRIC: usize = 56;
const RTMSG_FLAGS: usize = 72;
const RTMSG_IFINDEX: usize = 76;

/// SIOCADDRT / SIOCDELRT on an IPv6 socket, with `struct in6_rtmsg` (as
/// `route -A inet6` sends it): a prefix longer than 128 is EINVAL; an
/// added route needs an interface (rtmsg_ifindex) or a gateway on a
/// subnet of an interface that is up (EHOSTUNREACH otherwise, as
/// Linux's next-hop check); a link-local gateway needs the interface.
fn route6(cx: &mut Cx, cmd: u32, arg: UserAddr) -> Result<(), Errno> {
    let mut m = [0u8; IN6_RTMSG_LEN];
    cx.mem.copy_in(arg, &mut m)?;
    let addr = |off: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&m[off..off + 16]).unwrap_or_default());
    let u32_at = |off: usize| u32::from_ne_bytes(m[off..off + 4].try_into().unwrap_or_default());
    let prefix = u16::from_ne_bytes([m[RTMSG_DST_LEN], m[RTMSG_DST_LEN + 1]]);
    let flags = u32_at(RTMSG_FLAGS) as u16;
    if prefix > 128 {
        return Err(EINVAL);
    }
    let prefix = if flags & RTF_HOST != 0 { 128 } else { prefix as u8 };
    let dst = crate::net::masked(IpAddr::V6(addr(0)), prefix);
    let gw = Some(IpAddr::V6(addr(RTMSG_GATEWAY))).filter(|g| flags & RTF_GATEWAY != 0 && !g.is_unspecified());
    let dev = match u32_at(RTMSG_IFINDEX) as i32 {
        0 => None,
        i if i < 0 => return Err(ENODEV),
        i => Some(iface(&cx.st.net, i as IfIndex).map_err(|_| ENODEV)?.index),
    };
    let net = &mut cx.st.net;
    if cmd == SIOCDELRT {
        return net.routes.delete(dst, prefix, gw).map(drop);
    }
    if flags & RTF_GATEWAY != 0 && gw.is_none() {
        return Err(EINVAL);
    }
    let index = match (gw, dev) {
        (Some(IpAddr::V6(g)), Some(d)) if crate::net::ip::is_link_local(g) => d,
        (Some(IpAddr::V6(g)), None) if crate::net::ip::is_link_local(g) => return Err(EHOSTUNREACH),
        (Some(g), _) => net
            .ifaces
            .iter()
            .filter(|i| dev.is_none_or(|d| d == i.index) && i.is_up())
            .find(|i| i.addrs.iter().any(|a| a.contains(g)))
            .map(|i| i.index)
            .ok_or(EHOSTUNREACH)?,
        (None, Some(d)) if iface(net, d)?.is_up() => d,
        (None, Some(_)) => return Err(ENETDOWN),
        (None, None) => return Err(ENODEV),
    };
    let metric = u32_at(RTMSG_METRIC);
    net.routes.add(Route { dst, prefix, gateway: gw, iface: index, metric, connected: false })
}

/// SIOCSARP / SIOCDARP / SIOCGARP with Linux's `struct arpreq`, on the
/// neighbour cache. Without arp_dev, setting and deleting find the
/// interface whose subnet holds the address (ENETUNREACH if none);
/// getting needs it. Proxy entries (ATF_PUBL) are not kept.
fn arp(cx: &mut Cx, cmd: u32, arg: UserAddr) -> Result<(), Errno> {
    let mut r = [0u8; ARPREQ_LEN];
    cx.mem.copy_in(arg, &mut r)?;
    let (pa_family, ip) = sin_at(&r, 0);
    if pa_family != AF_INET {
        return Err(EPFNOSUPPORT);
    }
    let flags = i32::from_ne_bytes(r[ARP_FLAGS..ARP_FLAGS + 4].try_into().unwrap_or_default());
    if flags & ATF_PUBL == 0 && flags & (ATF_NETMASK | ATF_DONTPUB) != 0 {
        return Err(EINVAL);
    }
    if flags & ATF_NETMASK == 0 {
        r[ARP_NETMASK + 4..ARP_NETMASK + 8].copy_from_slice(&Ipv4Addr::BROADCAST.octets());
    }
    r[ARP_DEV + IFNAMSIZ - 1] = 0;
    let mut ha_family = u16::from_ne_bytes([r[ARP_HA], r[ARP_HA + 1]]);
    let net = &mut cx.st.net;
    let named = cstr(&r[ARP_DEV..ARP_DEV + IFNAMSIZ]);
    let dev = if named.is_empty() {
        None
    } else {
        let i = iface(net, find(net, named)?)?;
        if ha_family == 0 {
            ha_family = hw_type(i);
        }
        if flags & ATF_COM != 0 && ha_family != hw_type(i) {
            return Err(EINVAL);
        }
        Some(i.index)
    };
    let key = IpAddr::V4(ip);
    if cmd == SIOCGARP {
        let index = dev.ok_or(ENODEV)?;
        let e = net.neigh.iter().find(|(k, _)| **k == (index, key)).map(|(_, e)| e).ok_or(ENXIO)?;
        let got = match (e.mac, e.expires) {
            (Some(_), None) => ATF_PERM | ATF_COM,
            (Some(_), Some(_)) => ATF_COM,
            (None, _) => 0,
        };
        let i = iface(net, index)?;
        r[ARP_HA..ARP_HA + 2].copy_from_slice(&hw_type(i).to_ne_bytes());
        r[ARP_HA + 2..ARP_HA + 8].copy_from_slice(&e.mac.unwrap_or_default());
        r[ARP_FLAGS..ARP_FLAGS + 4].copy_from_slice(&got.to_ne_bytes());
        let name = i.name.as_bytes();
        let n = name.len().min(IFNAMSIZ - 1);
        r[ARP_DEV..ARP_DEV + IFNAMSIZ].fill(0);
        r[ARP_DEV..ARP_DEV + n].copy_from_slice(&name[..n]);
        return cx.mem.copy_out(arg, &r);
    }
    if flags & ATF_PUBL != 0 {
        // There are no proxy entries to delete, and none can be made.
        return Err(if cmd == SIOCDARP { ENOENT } else { EOPNOTSUPP });
    }
    let index = match dev {
        Some(d) => d,
        None => net.routes.direct_iface(&net.ifaces, key).ok_or(ENETUNREACH)?,
    };
    if cmd == SIOCDARP {
        return if net.neigh.remove(index, key) { Ok(()) } else { Err(ENXIO) };
    }
    if ha_family != hw_type(iface(net, index)?) {
        return Err(EINVAL);
    }
    // Linux cannot create an entry without its address (ATF_COM).
    if flags & (ATF_COM | ATF_PERM) == 0 {
        return Err(EINVAL);
    }
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&r[ARP_HA + 2..ARP_HA + 8]);
    let now = net.now();
    let held = if flags & ATF_PERM != 0 {
        net.neigh.set_permanent(index, key, mac)
    } else {
        let keep = net.knobs.arp_keep_us();
        net.neigh.learn(index, key, mac, keep, now)
    };
    // What waited for this neighbour can go now.
    for pkt in held {
        let _ = net.link_output(index, key, &pkt, &[]);
    }
    Ok(())
}

/// SIOCSIFADDR / SIOCDIFADDR on an AF_INET6 socket with `struct
/// in6_ifreq`, as Linux's `inet6_addr_add`/`inet6_addr_del`: deleting
/// needs the prefix length the address was added with.
fn addr6(cx: &mut Cx, cmd: u32, arg: UserAddr) -> Result<(), Errno> {
    let mut q = [0u8; IN6_IFREQ_LEN];
    cx.mem.copy_in(arg, &mut q)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(&q[..16]);
    let addr = Ipv6Addr::from(a);
    let prefix = u32::from_ne_bytes(q[16..20].try_into().unwrap_or_default());
    let index = i32::from_ne_bytes(q[20..24].try_into().unwrap_or_default());
    if prefix > 128 {
        return Err(EINVAL);
    }
    let net = &mut cx.st.net;
    let index = u32::try_from(index).ok().filter(|&x| net.ifaces.get(x).is_some()).ok_or(ENODEV)?;
    let i = iface(net, index)?;
    let a = IfAddr::new(IpAddr::V6(addr), prefix as u8);
    if cmd == SIOCDIFADDR {
        if !i.addrs.contains(&a) {
            return Err(EADDRNOTAVAIL);
        }
        return net.remove_addr(index, a.addr);
    }
    if addr.is_unspecified() || addr.is_multicast() || (addr.is_loopback() && !i.is_loopback()) {
        return Err(EADDRNOTAVAIL);
    }
    if i.addrs.iter().any(|x| x.addr == a.addr) {
        return Err(EEXIST);
    }
    net.add_addr(index, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classful_and_masks() {
        assert_eq!(abc_len(Ipv4Addr::new(10, 1, 2, 3)), Some(8));
        assert_eq!(abc_len(Ipv4Addr::new(172, 16, 0, 1)), Some(16));
        assert_eq!(abc_len(Ipv4Addr::new(192, 168, 7, 9)), Some(24));
        assert_eq!(abc_len(Ipv4Addr::new(224, 0, 0, 5)), None);
        assert_eq!(abc_len(Ipv4Addr::new(240, 0, 0, 5)), Some(32));
        assert_eq!(abc_len(Ipv4Addr::UNSPECIFIED), Some(0));
        let any = Ipv4Addr::UNSPECIFIED;
        assert_eq!(mask_len(Ipv4Addr::new(255, 255, 255, 0), any), Some(24));
        assert_eq!(mask_len(Ipv4Addr::new(0, 0, 0, 0), any), Some(0));
        assert_eq!(mask_len(Ipv4Addr::BROADCAST, any), Some(32));
        assert_eq!(mask_len(Ipv4Addr::new(255, 0, 255, 0), any), None);
        assert_eq!(mask_len(Ipv4Addr::new(255, 255, 0, 0), Ipv4Addr::new(10, 20, 0, 1)), None);
        assert_eq!(split_alias(b"shmif0:1"), (&b"shmif0"[..], true));
        assert_eq!(cstr(b"lo0\0junk"), b"lo0");
    }
}
