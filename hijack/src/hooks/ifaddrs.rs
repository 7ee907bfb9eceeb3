//! Interfaces: getifaddrs, if_nameindex, if_nametoindex and if_indextoname,
//! answered by the rump kernel while inet sockets are hijacked (glibc's
//! own ask the host over netlink and AF_UNIX sockets no hook sees), and
//! the matching free functions.
//!
//! The kernel is asked as a Linux program without netlink would ask it:
//! interface ioctls on a datagram socket of its own, and its
//! `/proc/net/dev` (every interface, with counters) and
//! `/proc/net/if_inet6` (IPv6 addresses with prefix lengths and scopes).
//! The lists have glibc's layout and order: getifaddrs is one malloc'ed
//! block with an AF_PACKET entry per interface first, then the IPv4 and
//! the IPv6 addresses; if_nameindex is a malloc'ed array of malloc'ed
//! names, in index order.

use crate::backend::{self, Backend};
use crate::host::guard;
use crate::route;
use libc::{
    c_char, c_int, c_uint, c_void, if_nameindex as IfNameIndex, ifaddrs, sockaddr, sockaddr_in, sockaddr_in6,
    sockaddr_ll,
};
use rump_abi::linux::sys as rump;
use rump_abi::{Errno, UserAddr};
use rumpclient::marshal::ClientMemory;
use rumpclient::selfmem::SelfMemory;
use std::ffi::CStr;
use std::net::{Ipv4Addr, Ipv6Addr};

crate::real_fns! {
    fn getifaddrs(list: *mut *mut ifaddrs) -> c_int;
    fn if_nameindex() -> *mut libc::if_nameindex;
    fn if_nametoindex(name: *const c_char) -> c_uint;
    fn if_indextoname(index: c_uint, name: *mut c_char) -> *mut c_char;
}

// Linux's interface ioctls (linux/sockios.h).
const SIOCGIFNAME: u32 = 0x8910;
const SIOCGIFCONF: u32 = 0x8912;
const SIOCGIFFLAGS: u32 = 0x8913;
const SIOCGIFDSTADDR: u32 = 0x8917;
const SIOCGIFBRDADDR: u32 = 0x8919;
const SIOCGIFNETMASK: u32 = 0x891b;
const SIOCGIFHWADDR: u32 = 0x8927;
const SIOCGIFINDEX: u32 = 0x8933;

const IFNAMSIZ: usize = libc::IFNAMSIZ;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;

/// Whether interfaces are the rump kernel's.
fn hijacked() -> bool {
    route::config().hijacks_family(libc::PF_INET)
}

/// Linux's `struct ifreq`: a name and a 24-byte union.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    /// A request about interface `name`, or None if the name cannot be
    /// one (too long for `ifr_name`).
    fn named(name: &[u8]) -> Option<IfReq> {
        let mut r = IfReq { name: [0; IFNAMSIZ], data: [0; 24] };
        r.name.get_mut(..name.len()).filter(|_| name.len() < IFNAMSIZ)?.copy_from_slice(name);
        Some(r)
    }

    fn name(&self) -> &[u8] {
        let n = self.name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        &self.name[..n]
    }

    /// `ifr_ifindex` and the other int members.
    fn int(&self) -> i32 {
        i32::from_ne_bytes([self.data[0], self.data[1], self.data[2], self.data[3]])
    }

    /// `ifr_flags`.
    fn short(&self) -> u16 {
        u16::from_ne_bytes([self.data[0], self.data[1]])
    }

    /// `ifr_addr` and its kin as an IPv4 address.
    fn ipv4(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.data[4], self.data[5], self.data[6], self.data[7])
    }
}

/// Linux's `struct ifconf`.
#[repr(C)]
struct IfConf {
    len: c_int,
    buf: *mut IfReq,
}

/// A datagram socket in the kernel for interface ioctls, closed on drop.
struct Ctl {
    k: &'static Backend,
    fd: i32,
}

impl Ctl {
    fn open() -> Result<Ctl, Errno> {
        let k = backend::kernel()?;
        let fd = rump::rump_sys_socket(k, libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)?;
        Ok(Ctl { k, fd })
    }

    fn ioctl<T>(&self, cmd: u32, arg: &mut T) -> Result<(), Errno> {
        rump::rump_sys_ioctl(self.k, self.fd as u32, cmd, (arg as *mut T).cast()).map(drop)
    }

    /// `cmd` about interface `name`; ENODEV for a name no interface has.
    fn ask(&self, cmd: u32, name: &[u8]) -> Result<IfReq, Errno> {
        let mut r = IfReq::named(name).ok_or(Errno(libc::ENODEV))?;
        self.ioctl(cmd, &mut r)?;
        Ok(r)
    }

    fn index(&self, name: &[u8]) -> Result<u32, Errno> {
        Ok(self.ask(SIOCGIFINDEX, name)?.int() as u32)
    }

    /// SIOCGIFCONF: every IPv4 address with its interface's name, grown
    /// until the kernel's answer fits with room to spare (or reaches
    /// MAX_CONF, which no kernel of ours comes near).
    fn conf(&self) -> Result<Vec<IfReq>, Errno> {
        const MAX_CONF: usize = 1 << 16;
        let mut n = 16;
        loop {
            let mut reqs = vec![IfReq { name: [0; IFNAMSIZ], data: [0; 24] }; n];
            let size = std::mem::size_of_val(reqs.as_slice());
            let mut conf = IfConf { len: size as c_int, buf: reqs.as_mut_ptr() };
            self.ioctl(SIOCGIFCONF, &mut conf)?;
            let got = conf.len.max(0) as usize;
            if got < size || n >= MAX_CONF {
                reqs.truncate(got.min(size) / std::mem::size_of::<IfReq>());
                return Ok(reqs);
            }
            n *= 2;
        }
    }

    /// The kernel's file at `path`, or nothing if it cannot be read.
    fn file(&self, path: &CStr) -> Vec<u8> {
        let Ok(fd) = rump::rump_sys_openat(self.k, libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC, 0)
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = rump::rump_sys_read(self.k, fd as u32, buf.as_mut_ptr().cast(), buf.len()) {
            out.extend_from_slice(&buf[..n as usize]);
        }
        let _ = rump::rump_sys_close(self.k, fd as u32);
        out
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        let _ = rump::rump_sys_close(self.k, self.fd as u32);
    }
}

// ---- what the kernel says --------------------------------------------------

/// One interface.
struct Link {
    name: Vec<u8>,
    index: u32,
    flags: u32,
    hatype: u16,
    hwaddr: [u8; 6],
    /// `struct rtnl_link_stats`, from `/proc/net/dev`.
    stats: Option<[u32; 24]>,
}

impl Link {
    /// The hardware address's length: Ethernet and loopback have six
    /// bytes (loopback's all zero); the rest of what the kernel offers
    /// (tunnels) none.
    fn halen(&self) -> u8 {
        if matches!(self.hatype, ARPHRD_ETHER | ARPHRD_LOOPBACK) {
            6
        } else {
            0
        }
    }
}

/// One address of an interface.
struct Addr {
    link: usize,
    ip: std::net::IpAddr,
    mask: std::net::IpAddr,
    /// The broadcast or (point-to-point) destination address.
    other: Option<Ipv4Addr>,
    scope_id: u32,
}

/// One `/proc/net/dev` line: the name and Linux's `struct
/// rtnl_link_stats` rebuilt from the counters shown (sums Linux prints
/// as one column land in one field).
fn parse_dev_line(line: &str) -> Option<(Vec<u8>, [u32; 24])> {
    let (name, rest) = line.split_once(':')?;
    let v: Vec<u64> = rest.split_whitespace().map(|w| w.parse().unwrap_or(0)).collect();
    if v.len() < 16 {
        return None;
    }
    let mut s = [0u32; 24];
    // rx: bytes packets errs drop fifo frame compressed multicast
    // tx: bytes packets errs drop fifo colls carrier compressed
    let at = [2, 0, 4, 6, 14, 13, 21, 8, 3, 1, 5, 7, 18, 9, 17, 22];
    for (i, &f) in at.iter().enumerate() {
        s[f] = v[i] as u32;
    }
    Some((name.trim().as_bytes().to_vec(), s))
}

/// One `/proc/net/if_inet6` line: address, interface index, prefix
/// length and name.
fn parse_inet6_line(line: &str) -> Option<(Ipv6Addr, u32, u8, Vec<u8>)> {
    let w: Vec<&str> = line.split_whitespace().collect();
    if w.len() < 6 || w[0].len() != 32 {
        return None;
    }
    let addr = u128::from_str_radix(w[0], 16).ok()?;
    let index = u32::from_str_radix(w[1], 16).ok()?;
    let plen = u8::from_str_radix(w[2], 16).ok()?;
    Some((Ipv6Addr::from(addr), index, plen, w[5].as_bytes().to_vec()))
}

fn mask6(plen: u8) -> Ipv6Addr {
    Ipv6Addr::from(u128::MAX.checked_shl(128 - u32::from(plen.min(128))).unwrap_or(0))
}

/// Every interface, in index order; `conf` is SIOCGIFCONF's answer.
fn links(ctl: &Ctl, conf: &[IfReq]) -> Vec<Link> {
    let dev = ctl.file(c"/proc/net/dev");
    let dev = String::from_utf8_lossy(&dev);
    let mut found: Vec<(Vec<u8>, Option<[u32; 24]>)> =
        dev.lines().skip(2).filter_map(parse_dev_line).map(|(n, s)| (n, Some(s))).collect();
    for r in conf {
        if !found.iter().any(|(n, _)| n == r.name()) {
            found.push((r.name().to_vec(), None));
        }
    }
    let mut links = Vec::new();
    for (name, stats) in found {
        // An interface that goes away meanwhile is left out.
        let (Ok(index), Ok(fl)) = (ctl.index(&name), ctl.ask(SIOCGIFFLAGS, &name)) else { continue };
        let mut flags = u32::from(fl.short());
        // Linux reports a carrier (IFF_LOWER_UP, beyond ifr_flags' 16
        // bits) for every interface that is running.
        if flags & libc::IFF_RUNNING as u32 != 0 {
            flags |= libc::IFF_LOWER_UP as u32;
        }
        // No hardware address (a type without one): hatype 0, halen 0.
        let hw = ctl.ask(SIOCGIFHWADDR, &name).map_or([0; 24], |r| r.data);
        let hatype = u16::from_ne_bytes([hw[0], hw[1]]);
        let mut hwaddr = [0u8; 6];
        hwaddr.copy_from_slice(&hw[2..8]);
        links.push(Link { name, index, flags, hatype, hwaddr, stats });
    }
    links.sort_by_key(|l| l.index);
    links
}

/// Every address: IPv4 in SIOCGIFCONF's order, then IPv6 by interface.
fn addrs(ctl: &Ctl, conf: &[IfReq], links: &[Link]) -> Vec<Addr> {
    let mut out = Vec::new();
    let link_of = |name: &[u8]| links.iter().position(|l| l.name == name);
    for r in conf {
        let Some(link) = link_of(r.name()) else { continue };
        // Masks and broadcast addresses are asked by name: an interface
        // with several IPv4 addresses shows its first one's for each.
        let Ok(mask) = ctl.ask(SIOCGIFNETMASK, r.name()) else { continue };
        let flags = links[link].flags;
        let other = if flags & libc::IFF_BROADCAST as u32 != 0 {
            ctl.ask(SIOCGIFBRDADDR, r.name()).ok()
        } else if flags & libc::IFF_POINTOPOINT as u32 != 0 {
            ctl.ask(SIOCGIFDSTADDR, r.name()).ok()
        } else {
            None
        };
        out.push(Addr {
            link,
            ip: r.ipv4().into(),
            mask: mask.ipv4().into(),
            other: other.map(|o| o.ipv4()),
            scope_id: 0,
        });
    }
    let inet6 = ctl.file(c"/proc/net/if_inet6");
    let mut v6: Vec<Addr> = String::from_utf8_lossy(&inet6)
        .lines()
        .filter_map(parse_inet6_line)
        .filter_map(|(ip, index, plen, name)| {
            let link = link_of(&name)?;
            // glibc gives link-local addresses their interface as scope.
            let scoped = ip.is_unicast_link_local() || (ip.is_multicast() && ip.segments()[0] & 0x000f == 2);
            let scope_id = if scoped { index } else { 0 };
            Some(Addr { link, ip: ip.into(), mask: mask6(plen).into(), other: None, scope_id })
        })
        .collect();
    v6.sort_by_key(|a| links[a.link].index);
    out.extend(v6);
    out
}

// ---- getifaddrs -------------------------------------------------------------

/// Room for any address an entry points to.
#[repr(C)]
#[derive(Clone, Copy)]
union Sa {
    in4: sockaddr_in,
    in6: sockaddr_in6,
    ll: sockaddr_ll,
}

/// One list entry and everything it points to; the list is an array of
/// these in one block, so freeing the first frees all.
#[repr(C)]
struct Entry {
    ifa: ifaddrs,
    addr: Sa,
    netmask: Sa,
    other: Sa,
    name: [u8; IFNAMSIZ],
    stats: [u32; 24],
}

fn sa_ip(ip: std::net::IpAddr, scope_id: u32) -> Sa {
    // SAFETY: all-zero is a valid value of every sockaddr.
    let mut sa: Sa = unsafe { std::mem::zeroed() };
    match ip {
        std::net::IpAddr::V4(a) => {
            sa.in4 = sockaddr_in {
                sin_family: libc::AF_INET as u16,
                sin_port: 0,
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.octets()) },
                sin_zero: [0; 8],
            }
        }
        std::net::IpAddr::V6(a) => {
            sa.in6 = sockaddr_in6 {
                sin6_family: libc::AF_INET6 as u16,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: a.octets() },
                sin6_scope_id: scope_id,
            }
        }
    }
    sa
}

fn sa_ll(l: &Link, addr: [u8; 6]) -> Sa {
    // SAFETY: all-zero is a valid value of every sockaddr.
    let mut sa: Sa = unsafe { std::mem::zeroed() };
    let mut sll_addr = [0u8; 8];
    sll_addr[..6].copy_from_slice(&addr);
    sa.ll = sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: 0,
        sll_ifindex: l.index as c_int,
        sll_hatype: l.hatype,
        sll_pkttype: 0,
        sll_halen: l.halen(),
        sll_addr,
    };
    sa
}

/// The list, in one calloc'ed block.
fn build(links: &[Link], addrs: &[Addr]) -> Result<*mut ifaddrs, Errno> {
    let n = links.len() + addrs.len();
    if n == 0 {
        return Ok(std::ptr::null_mut());
    }
    // SAFETY: a fresh zeroed block for n entries.
    let block = unsafe { libc::calloc(n, std::mem::size_of::<Entry>()) }.cast::<Entry>();
    if block.is_null() {
        return Err(Errno(libc::ENOMEM));
    }
    let fill = |i: usize, l: &Link| {
        let mut name = [0u8; IFNAMSIZ];
        name[..l.name.len()].copy_from_slice(&l.name);
        // SAFETY: entry i of the block; its pointers point into itself.
        unsafe {
            let e = block.add(i);
            (*e).name = name;
            (*e).ifa.ifa_name = (*e).name.as_mut_ptr().cast();
            (*e).ifa.ifa_flags = l.flags;
            if i + 1 < n {
                (*e).ifa.ifa_next = block.add(i + 1).cast();
            }
            e
        }
    };
    for (i, l) in links.iter().enumerate() {
        let e = fill(i, l);
        // SAFETY: entry i, filled in place.
        unsafe {
            if l.halen() > 0 {
                (*e).addr = sa_ll(l, l.hwaddr);
                (*e).ifa.ifa_addr = (&raw mut (*e).addr).cast();
                let bcast = if l.flags & libc::IFF_BROADCAST as u32 != 0 { [0xff; 6] } else { [0; 6] };
                (*e).other = sa_ll(l, bcast);
                (*e).ifa.ifa_ifu = (&raw mut (*e).other).cast();
            }
            if let Some(s) = l.stats {
                (*e).stats = s;
                (*e).ifa.ifa_data = (&raw mut (*e).stats).cast::<c_void>();
            }
        }
    }
    for (i, a) in addrs.iter().enumerate() {
        let e = fill(links.len() + i, &links[a.link]);
        // SAFETY: entry links.len() + i, filled in place.
        unsafe {
            (*e).addr = sa_ip(a.ip, a.scope_id);
            (*e).ifa.ifa_addr = (&raw mut (*e).addr).cast::<sockaddr>();
            (*e).netmask = sa_ip(a.mask, 0);
            (*e).ifa.ifa_netmask = (&raw mut (*e).netmask).cast::<sockaddr>();
            if let Some(o) = a.other {
                (*e).other = sa_ip(o.into(), 0);
                (*e).ifa.ifa_ifu = (&raw mut (*e).other).cast::<sockaddr>();
            }
        }
    }
    Ok(block.cast())
}

/// The kernel's interfaces and addresses.
fn survey() -> Result<(Vec<Link>, Vec<Addr>), Errno> {
    let ctl = Ctl::open()?;
    let conf = ctl.conf()?;
    let links = links(&ctl, &conf);
    let addrs = addrs(&ctl, &conf, &links);
    Ok((links, addrs))
}

/// Which families the kernel has addresses of, not counting 127.0.0.1
/// and ::1 (glibc's test for AI_ADDRCONFIG): (IPv4, IPv6).
pub fn configured_families() -> Result<(bool, bool), Errno> {
    let (_, addrs) = survey()?;
    let v4 = addrs.iter().any(|a| a.ip.is_ipv4() && a.ip != Ipv4Addr::LOCALHOST);
    let v6 = addrs.iter().any(|a| a.ip.is_ipv6() && a.ip != Ipv6Addr::LOCALHOST);
    Ok((v4, v6))
}

crate::hook! {
    Ifaces fn getifaddrs(list: *mut *mut ifaddrs) -> c_int;
    {
        if !hijacked() {
            return unsafe { host!(list) };
        }
        guard(|| {
            let (links, addrs) = survey()?;
            let l = build(&links, &addrs)?;
            if let Err(e) = SelfMemory.write(UserAddr(list as u64), &(l as u64).to_ne_bytes()) {
                // SAFETY: the block made above, never shown.
                unsafe { libc::free(l.cast()) };
                return Err(e);
            }
            Ok(0)
        })
    }

    /// Frees a list as glibc's freeifaddrs does (both its lists and ours are
    /// one block).
    Ifaces fn freeifaddrs(list: *mut ifaddrs);
    {
        // SAFETY: a list from getifaddrs, as the caller promises.
        unsafe { libc::free(list.cast()) }
    }
}

// ---- the index functions ------------------------------------------------------

/// Interface `name`'s index in the kernel.
pub fn name_to_index(name: &[u8]) -> Result<u32, Errno> {
    Ctl::open()?.index(name)
}

/// The name of the kernel's interface `index`; ENXIO if there is none
/// (POSIX's word, which glibc gives for Linux's ENODEV).
pub fn index_to_name(index: u32) -> Result<Vec<u8>, Errno> {
    let ctl = Ctl::open()?;
    let mut r = IfReq { name: [0; IFNAMSIZ], data: [0; 24] };
    r.data[..4].copy_from_slice(&(index as i32).to_ne_bytes());
    match ctl.ioctl(SIOCGIFNAME, &mut r) {
        Err(Errno(libc::ENODEV)) => Err(Errno(libc::ENXIO)),
        Err(e) => Err(e),
        Ok(()) => Ok(r.name().to_vec()),
    }
}

crate::hook! {
    Ifaces fn if_nametoindex(name: *const c_char) -> c_uint [panic = 0];
    {
        if !hijacked() {
            return unsafe { host!(name) };
        }
        if name.is_null() {
            crate::host::set_errno(libc::EFAULT);
            return 0;
        }
        // SAFETY: a NUL-terminated name.
        let name = unsafe { CStr::from_ptr(name) }.to_bytes();
        // 0 is the failure value here, and errno says why.
        guard(|| name_to_index(name).map(|i| i as i32)).max(0) as c_uint
    }

    Ifaces fn if_indextoname(index: c_uint, buf: *mut c_char) -> *mut c_char;
    {
        if !hijacked() {
            return unsafe { host!(index, buf) };
        }
        guard(|| {
            let mut name = index_to_name(index)?;
            name.push(0);
            SelfMemory.write(UserAddr(buf as u64), &name)?;
            Ok(buf)
        })
    }

    Ifaces fn if_nameindex() -> *mut IfNameIndex;
    {
        if !hijacked() {
            return unsafe { host!() };
        }
        guard(|| {
            let ctl = Ctl::open()?;
            let links = links(&ctl, &ctl.conf()?);
            // SAFETY: a fresh zeroed array with a terminating entry.
            let list =
                unsafe { libc::calloc(links.len() + 1, std::mem::size_of::<IfNameIndex>()) }.cast::<IfNameIndex>();
            if list.is_null() {
                return Err(Errno(libc::ENOMEM));
            }
            for (i, l) in links.iter().enumerate() {
                // SAFETY: a copy of the name in its own block, as glibc's.
                let name = unsafe { libc::strndup(l.name.as_ptr().cast(), l.name.len()) };
                if name.is_null() {
                    // SAFETY: the entries filled so far, then the array.
                    unsafe { if_freenameindex(list) };
                    return Err(Errno(libc::ENOMEM));
                }
                // SAFETY: entry i of the array.
                unsafe { *list.add(i) = IfNameIndex { if_index: l.index, if_name: name } };
            }
            Ok(list)
        })
    }

    /// Frees a list as glibc's if_freenameindex does (ours have its layout).
    Ifaces fn if_freenameindex(list: *mut IfNameIndex);
    {
        if list.is_null() {
            return;
        }
        let mut p = list;
        // SAFETY: an array ending in an entry with index 0 and no name.
        unsafe {
            while !(*p).if_name.is_null() || (*p).if_index != 0 {
                libc::free((*p).if_name.cast());
                p = p.add(1);
            }
            libc::free(list.cast());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_lines_become_link_stats() {
        let line = "    lo:    1000      10    1    2    3     4          5         6     2000      20    7    8    9    10       11          12";
        let (name, s) = parse_dev_line(line).unwrap();
        assert_eq!(name, b"lo");
        // rx_packets, tx_packets, rx_bytes, tx_bytes
        assert_eq!(&s[..4], &[10, 20, 1000, 2000]);
        // rx_errors, tx_errors, rx_dropped, tx_dropped, multicast, collisions
        assert_eq!(&s[4..10], &[1, 7, 2, 8, 6, 10]);
        assert_eq!((s[13], s[14], s[17], s[18], s[21], s[22]), (4, 3, 11, 9, 5, 12));
        assert!(parse_dev_line("Inter-|   Receive  |  Transmit").is_none());
    }

    #[test]
    fn inet6_lines_and_masks() {
        let (ip, index, plen, name) =
            parse_inet6_line("fe8000000000000000fc00fffe000001 04 40 20 80     eth0").unwrap();
        assert_eq!(ip, "fe80::fc:ff:fe00:1".parse::<Ipv6Addr>().unwrap());
        assert_eq!((index, plen, name.as_slice()), (4, 64, &b"eth0"[..]));
        assert_eq!(mask6(64), "ffff:ffff:ffff:ffff::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(mask6(128), Ipv6Addr::from(u128::MAX));
        assert_eq!(mask6(0), Ipv6Addr::UNSPECIFIED);
        assert!(parse_inet6_line("short 01 80 10 80 lo").is_none());
    }

    #[test]
    fn names_fit_ifr_name() {
        assert_eq!(IfReq::named(b"lo0").unwrap().name(), b"lo0");
        assert!(IfReq::named(&[b'x'; IFNAMSIZ - 1]).is_some());
        assert!(IfReq::named(&[b'x'; IFNAMSIZ]).is_none());
    }
}
