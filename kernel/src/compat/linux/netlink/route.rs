//! NETLINK_ROUTE: links (`struct ifinfomsg`), addresses (`struct
//! ifaddrmsg`), routes (`struct rtmsg`) and neighbours (`struct ndmsg`),
//! read from and written to the stack's tables (`net::iface`,
//! `net::route`, `net::neigh`) — the ones the SIOC* ioctls and /proc/net
//! use. What Linux keeps that the tables do not is derived as Linux
//! would report it: an address's scope from its range, a route's protocol
//! (kernel for connected routes, boot for the rest) and scope, the local
//! table from the addresses, a neighbour's NUD state from its age.
//!
//! A shmif interface's bus is its alias: `ip link add shmif1 alias
//! /path/to/bus type shmif` creates one attached to that bus file,
//! `ip link set shmif1 alias PATH` attaches (an empty alias detaches),
//! and `ip link` shows the bus as the alias.

use super::wire::*;
use super::{fail, Answer, Failure, Request};
use crate::net::iface::{IfAddr, IfIndex, Iface, Link, IFF_RUNNING, IFF_SETTABLE};
use crate::net::route::Route;
use crate::net::{masked, Change, Net};
use crate::Cx;
use rump_abi::native::errno::*;
use rump_abi::Errno;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWNEIGH: u16 = 28;
const RTM_DELNEIGH: u16 = 29;
const RTM_GETNEIGH: u16 = 30;
const RTM_NEWNSID: u16 = 88;
const RTM_GETNSID: u16 = 90;
const NETNSA_NSID: u16 = 1;

const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const IFF_LOWER_UP: u32 = 0x10000;

const IFINFOMSG_LEN: usize = 16;
const IFLA_ADDRESS: u16 = 1;
const IFLA_BROADCAST: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_QDISC: u16 = 6;
const IFLA_TXQLEN: u16 = 13;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKMODE: u16 = 17;
const IFLA_LINKINFO: u16 = 18;
const IFLA_IFALIAS: u16 = 20;
const IFLA_STATS64: u16 = 23;
const IFLA_GROUP: u16 = 27;
const IFLA_PROMISCUITY: u16 = 30;
const IFLA_NUM_TX_QUEUES: u16 = 31;
const IFLA_NUM_RX_QUEUES: u16 = 32;
const IFLA_CARRIER: u16 = 33;
const IFLA_MIN_MTU: u16 = 50;
const IFLA_MAX_MTU: u16 = 51;
const IFLA_INFO_KIND: u16 = 1;
const IF_OPER_UNKNOWN: u8 = 0;
const IF_OPER_DOWN: u8 = 2;
const IF_OPER_UP: u8 = 6;
/// The MTUs a link takes, as SIOCSIFMTU checks them.
const MIN_MTU: u32 = 68;
const MAX_MTU: u32 = 65535;
const MAX_ETHER_MTU: u32 = 1500;
const IFNAMSIZ: usize = 16;

const IFADDRMSG_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_CACHEINFO: u16 = 6;
const IFA_FLAGS: u16 = 8;
const IFA_F_SECONDARY: u8 = 0x01;
const IFA_F_DEPRECATED: u8 = 0x20;
const IFA_F_PERMANENT: u8 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RT_SCOPE_HOST: u8 = 254;
/// Lifetimes of an address that never expires.
const INFINITY_LIFE_TIME: u32 = u32::MAX;

const RTMSG_LEN: usize = 12;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_METRICS: u16 = 8;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_PREF: u16 = 20;
const RTA_UID: u16 = 25;
const RT_TABLE_UNSPEC: u8 = 0;
const RT_TABLE_MAIN: u8 = 254;
const RT_TABLE_LOCAL: u8 = 255;
const RTPROT_KERNEL: u8 = 2;
const RTPROT_BOOT: u8 = 3;
const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;
const RTN_BROADCAST: u8 = 3;
/// A next hop whose link has no carrier (`linkdown`).
const RTNH_F_LINKDOWN: u32 = 16;
/// `ip route get` answered from the local table (`cache <local>`).
const RTCF_LOCAL: u32 = 0x8000_0000;
const RTM_F_CLONED: u32 = 0x200;
/// The metrics Linux gives IPv6 routes: from an address, and added by hand.
const IP6_RT_PRIO_USER: u32 = 1024;

const NDMSG_LEN: usize = 12;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NDA_PROBES: u16 = 4;
const NUD_INCOMPLETE: u16 = 0x01;
const NUD_REACHABLE: u16 = 0x02;
const NUD_STALE: u16 = 0x04;
const NUD_PERMANENT: u16 = 0x80;
/// How long a learned neighbour stays REACHABLE before Linux calls it
/// STALE (its base_reachable_time, 30 s).
const REACHABLE_US: u64 = 30_000_000;

/// rtnetlink multicast groups (RTNLGRP_*), numbered from 1.
const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_NEIGH: u32 = 3;
const RTNLGRP_IPV4_IFADDR: u32 = 5;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV6_IFADDR: u32 = 9;
const RTNLGRP_IPV6_ROUTE: u32 = 11;

/// Answers one rtnetlink request.
pub fn handle(cx: &mut Cx, req: &Request) -> Result<Answer, Failure> {
    let p = req.msg.payload();
    match req.msg.kind() {
        RTM_GETLINK => get_link(&cx.st.net, req),
        RTM_NEWLINK | RTM_SETLINK => new_link(cx, req),
        RTM_DELLINK => {
            let index = target_link(&cx.st.net, p)?;
            let name = cx.st.net.ifaces.get(index).map(|i| i.name.clone()).ok_or(ENODEV)?;
            if cx.st.net.ifaces.get(index).is_some_and(Iface::is_loopback) {
                return Err(EOPNOTSUPP.into());
            }
            cx.if_destroy(&name)?;
            cx.st.net.changes.push(Change::LinkGone(index));
            Ok(Answer::Done)
        }
        RTM_GETADDR => get_addrs(&cx.st.net, req),
        RTM_NEWADDR | RTM_DELADDR => change_addr(&mut cx.st.net, req),
        RTM_GETROUTE if req.is_dump() => get_routes(&cx.st.net, req),
        RTM_GETROUTE => route_get(cx, req),
        RTM_NEWROUTE | RTM_DELROUTE => change_route(&mut cx.st.net, req),
        RTM_GETNEIGH => get_neighs(&cx.st.net, req),
        RTM_NEWNEIGH | RTM_DELNEIGH => change_neigh(&mut cx.st.net, req),
        // There is one network namespace, which no id names: any the
        // caller points at gets NETNSA_NSID_NOT_ASSIGNED (-1), as Linux
        // answers for its own namespace.
        RTM_GETNSID => {
            let mut b = req.reply(RTM_NEWNSID);
            b.put(&[AF_UNSPEC, 0, 0, 0]).u32(NETNSA_NSID, u32::MAX);
            Ok(Answer::One(b))
        }
        _ => Err(EOPNOTSUPP.into()),
    }
}

/// The messages a change sends, each with the group it goes to.
pub fn notifications(net: &Net, c: &Change) -> Vec<(u32, Vec<u8>)> {
    let route_group = |a: IpAddr| if a.is_ipv4() { RTNLGRP_IPV4_ROUTE } else { RTNLGRP_IPV6_ROUTE };
    match *c {
        Change::Link(index) => {
            let Some(i) = net.ifaces.get(index) else { return Vec::new() };
            let mut b = Builder::new(RTM_NEWLINK, 0, 0, 0);
            link(&mut b, net, i);
            vec![(RTNLGRP_LINK, b.finish())]
        }
        Change::LinkGone(index) => {
            let mut b = Builder::new(RTM_DELLINK, 0, 0, 0);
            b.put(&ifinfomsg(ARPHRD_ETHER, index, 0));
            vec![(RTNLGRP_LINK, b.finish())]
        }
        Change::NewAddr(index, a) | Change::DelAddr(index, a) => {
            let new = matches!(c, Change::NewAddr(..));
            let Some(i) = net.ifaces.get(index) else { return Vec::new() };
            let mut b = Builder::new(if new { RTM_NEWADDR } else { RTM_DELADDR }, 0, 0, 0);
            addr(&mut b, i, &a, net.now());
            let group = if a.addr.is_ipv4() { RTNLGRP_IPV4_IFADDR } else { RTNLGRP_IPV6_IFADDR };
            let mut out = vec![(group, b.finish())];
            // The local-table routes the address brings or takes away.
            let mut local = Vec::new();
            local_entries_of(i, &a, &mut local);
            for e in &local {
                let mut b = Builder::new(if new { RTM_NEWROUTE } else { RTM_DELROUTE }, 0, 0, 0);
                route(&mut b, net, e);
                out.push((route_group(a.addr), b.finish()));
            }
            out
        }
        Change::NewRoute(r) | Change::DelRoute(r) => {
            let kind = if matches!(c, Change::NewRoute(_)) { RTM_NEWROUTE } else { RTM_DELROUTE };
            let mut b = Builder::new(kind, 0, 0, 0);
            route(&mut b, net, &Entry::Main(r));
            vec![(route_group(r.dst), b.finish())]
        }
        Change::Neigh(index, ip) => {
            let Some((_, e)) = net.neigh.iter().find(|(k, _)| **k == (index, ip)) else { return Vec::new() };
            let mut b = Builder::new(RTM_NEWNEIGH, 0, 0, 0);
            neigh(&mut b, net, index, ip, e);
            vec![(RTNLGRP_NEIGH, b.finish())]
        }
    }
}

/// Whether `a` is a secondary address (Linux's IFA_F_SECONDARY): another
/// v4 address on the interface, before it, is in the same subnet. One no
/// longer listed (being deleted) is secondary if such another remains.
fn is_secondary(i: &Iface, a: &IfAddr) -> bool {
    primary_of(i, a).is_some()
}

/// The primary address of a secondary one.
fn primary_of(i: &Iface, a: &IfAddr) -> Option<IpAddr> {
    if a.addr.is_ipv6() {
        return None;
    }
    let same =
        |x: &&IfAddr| x.addr != a.addr && x.prefix == a.prefix && masked(x.addr, x.prefix) == masked(a.addr, a.prefix);
    let before = match i.addrs.iter().position(|x| x.addr == a.addr) {
        Some(at) => &i.addrs[..at],
        None => &i.addrs[..],
    };
    before.iter().find(same).map(|x| x.addr)
}

fn family_of(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

fn ip_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

/// An address attribute of the request's family; EINVAL for a wrong length.
fn ip_attr(family: u8, a: Attr) -> Result<IpAddr, Errno> {
    match (family, a.value.len()) {
        (AF_INET, 4) => Ok(IpAddr::V4(Ipv4Addr::new(a.value[0], a.value[1], a.value[2], a.value[3]))),
        (AF_INET6, 16) => Ok(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(a.value).map_err(|_| EINVAL)?))),
        _ => Err(EINVAL),
    }
}

fn int_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn max_prefix(family: u8) -> u8 {
    if family == AF_INET {
        32
    } else {
        128
    }
}

// ---- links ---------------------------------------------------------------

fn ifinfomsg(kind: u16, index: IfIndex, flags: u32) -> [u8; IFINFOMSG_LEN] {
    let mut m = [0u8; IFINFOMSG_LEN];
    m[2..4].copy_from_slice(&kind.to_ne_bytes());
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m
}

/// The flags Linux reports: ours, plus LOWER_UP when the link has carrier.
fn link_flags(i: &Iface) -> u32 {
    i.flags | if i.flags & IFF_RUNNING != 0 { IFF_LOWER_UP } else { 0 }
}

fn bus(i: &Iface) -> Option<PathBuf> {
    match &i.link {
        Link::Shmif(Some(l)) => Some(l.bus.path().to_path_buf()),
        _ => None,
    }
}

/// An RTM_NEWLINK body for `i`.
fn link(b: &mut Builder, _net: &Net, i: &Iface) {
    let lo = i.is_loopback();
    b.put(&ifinfomsg(if lo { ARPHRD_LOOPBACK } else { ARPHRD_ETHER }, i.index, link_flags(i)));
    let oper = match (lo, i.is_up(), i.flags & IFF_RUNNING != 0) {
        (true, _, _) => IF_OPER_UNKNOWN,
        (false, true, true) => IF_OPER_UP,
        _ => IF_OPER_DOWN,
    };
    let c = &i.counters;
    let mut stats = [0u64; 24];
    stats[..8].copy_from_slice(&[
        c.rx_packets,
        c.tx_packets,
        c.rx_bytes,
        c.tx_bytes,
        c.rx_errors,
        c.tx_errors,
        c.rx_dropped,
        c.tx_dropped,
    ]);
    let stats: Vec<u8> = stats.iter().flat_map(|v| v.to_ne_bytes()).collect();
    b.str(IFLA_IFNAME, &i.name)
        .u32(IFLA_TXQLEN, i.txqlen)
        .u8(IFLA_OPERSTATE, oper)
        .u8(IFLA_LINKMODE, 0)
        .u32(IFLA_MTU, i.mtu)
        .u32(IFLA_MIN_MTU, if lo { 0 } else { MIN_MTU })
        .u32(IFLA_MAX_MTU, if lo { 0 } else { MAX_ETHER_MTU })
        .u32(IFLA_GROUP, 0)
        .u32(IFLA_PROMISCUITY, u32::from(i.flags & crate::net::iface::IFF_PROMISC != 0))
        .u32(IFLA_NUM_TX_QUEUES, 1)
        .u32(IFLA_NUM_RX_QUEUES, 1)
        .u8(IFLA_CARRIER, u8::from(lo || bus(i).is_some()))
        .str(IFLA_QDISC, "noqueue")
        .attr(IFLA_ADDRESS, &i.mac)
        .attr(IFLA_BROADCAST, if lo { &[0; 6] } else { &[0xff; 6] })
        .attr(IFLA_STATS64, &stats);
    if let Some(p) = bus(i) {
        b.str(IFLA_IFALIAS, &p.to_string_lossy());
    }
    if !lo {
        let n = b.begin_nest(IFLA_LINKINFO);
        b.str(IFLA_INFO_KIND, "shmif");
        b.end_nest(n);
    }
}

/// The interface a link request names: by index, else by IFLA_IFNAME.
fn target_link(net: &Net, p: &[u8]) -> Result<IfIndex, Failure> {
    let (m, attrs) = split(p, IFINFOMSG_LEN)?;
    let index = int_at(m, 4);
    if index != 0 {
        return net.ifaces.get(index).map(|i| i.index).ok_or_else(|| ENODEV.into());
    }
    match attrs.get(IFLA_IFNAME)? {
        Some(n) => net.ifaces.by_name(n.str()?).map(|i| i.index).ok_or_else(|| ENODEV.into()),
        None => Err(fail(EINVAL, "Device name or ifindex required")),
    }
}

fn get_link(net: &Net, req: &Request) -> Result<Answer, Failure> {
    if req.is_dump() {
        let msgs = net
            .ifaces
            .iter()
            .map(|i| {
                let mut b = req.reply(RTM_NEWLINK);
                link(&mut b, net, i);
                b
            })
            .collect();
        return Ok(Answer::Dump(msgs));
    }
    let index = target_link(net, req.msg.payload())?;
    let i = net.ifaces.get(index).ok_or(ENODEV)?;
    let mut b = req.reply(RTM_NEWLINK);
    link(&mut b, net, i);
    Ok(Answer::One(b))
}

/// RTM_NEWLINK / RTM_SETLINK: creates a shmif interface (NEWLINK with
/// NLM_F_CREATE and a kind), else changes an existing one.
fn new_link(cx: &mut Cx, req: &Request) -> Result<Answer, Failure> {
    let p = req.msg.payload();
    let (m, attrs) = split(p, IFINFOMSG_LEN)?;
    let flags = req.msg.flags();
    let existing = target_link(&cx.st.net, p);
    let index = match existing {
        Ok(_) if req.msg.kind() == RTM_NEWLINK && flags & NLM_F_EXCL != 0 => return Err(EEXIST.into()),
        Ok(i) => i,
        // Linux's answer to changing no device, which `ip` also takes as
        // the sign that RTM_NEWLINK is served.
        Err(_) if req.msg.kind() == RTM_SETLINK || flags & NLM_F_CREATE == 0 => return Err(ENODEV.into()),
        Err(_) => {
            let kind = match attrs.get(IFLA_LINKINFO)? {
                Some(info) => info.nested().get(IFLA_INFO_KIND)?.map(|k| k.str()).transpose()?,
                None => None,
            };
            if kind != Some("shmif") {
                return Err(fail(EOPNOTSUPP, "Unknown device type"));
            }
            let name = attrs.get(IFLA_IFNAME)?.ok_or(EINVAL)?.str()?;
            cx.if_create(name)?;
            cx.st.net.ifaces.index_of(name)?
        }
    };
    set_link(cx, index, m, attrs)?;
    cx.st.net.changes.push(Change::Link(index));
    Ok(Answer::Done)
}

/// The changes a link request asks for: name, MTU, address, bus, flags.
fn set_link(cx: &mut Cx, index: IfIndex, m: &[u8], attrs: Attrs) -> Result<(), Failure> {
    let net = &mut cx.st.net;
    let i = net.ifaces.get(index).ok_or(ENODEV)?;
    let lo = i.is_loopback();
    let old_name = i.name.clone();
    if let Some(a) = attrs.get(IFLA_MTU)? {
        let mtu = a.u32()?;
        let max = if lo { MAX_MTU } else { MAX_ETHER_MTU };
        if mtu < MIN_MTU {
            return Err(fail(EINVAL, "mtu less than device minimum"));
        }
        if mtu > max {
            return Err(fail(EINVAL, "mtu greater than device maximum"));
        }
    }
    if let Some(a) = attrs.get(IFLA_ADDRESS)? {
        if lo || a.value.len() != 6 {
            return Err(EINVAL.into());
        }
    }
    if let Some(a) = attrs.get(IFLA_IFNAME)? {
        let name = a.str()?;
        if name.is_empty() || name.len() >= IFNAMSIZ || name.contains(['/', ':']) || name.contains(char::is_whitespace)
        {
            return Err(EINVAL.into());
        }
        if name != old_name && net.ifaces.by_name(name).is_some() {
            return Err(EEXIST.into());
        }
    }
    if let Some(a) = attrs.get(IFLA_IFALIAS)? {
        let path = a.str()?;
        if lo {
            return Err(EOPNOTSUPP.into());
        }
        cx.if_set_linkstr(&old_name, None)?;
        if !path.is_empty() {
            cx.if_set_linkstr(&old_name, Some(PathBuf::from(path)))?;
        }
    }
    let net = &mut cx.st.net;
    let i = net.ifaces.get_mut(index).ok_or(ENODEV)?;
    if let Some(a) = attrs.get(IFLA_MTU)? {
        i.mtu = a.u32()?;
    }
    if let Some(a) = attrs.get(IFLA_ADDRESS)? {
        i.mac.copy_from_slice(a.value);
    }
    if let Some(a) = attrs.get(IFLA_IFNAME)? {
        i.name = a.str()?.to_string();
    }
    let (want, change) = (int_at(m, 8), int_at(m, 12));
    if change != 0 {
        let flags = (i.flags & !change) | (want & change);
        net.set_flags(index, flags & IFF_SETTABLE)?;
    }
    Ok(())
}

// ---- addresses -------------------------------------------------------------

/// Linux's scope for an address: host for loopback ones, link for v6
/// link-local ones, universe for the rest.
fn scope_of(a: IpAddr) -> u8 {
    match a {
        IpAddr::V4(v) if v.is_loopback() => RT_SCOPE_HOST,
        IpAddr::V6(v) if v.is_loopback() => RT_SCOPE_HOST,
        IpAddr::V6(v) if crate::net::ip::is_link_local(v) => RT_SCOPE_LINK,
        _ => RT_SCOPE_UNIVERSE,
    }
}

/// An RTM_NEWADDR body for `a` on `i`.
fn addr(b: &mut Builder, i: &Iface, a: &IfAddr, now: u64) {
    let mut flags = if is_secondary(i, a) { IFA_F_SECONDARY } else { 0 };
    // One that expires is "dynamic" (not permanent), deprecated once no
    // longer preferred.
    if a.valid_until.is_none() {
        flags |= IFA_F_PERMANENT;
    }
    if a.preferred_until.is_some_and(|t| t <= now) {
        flags |= IFA_F_DEPRECATED;
    }
    let mut m = [0u8; IFADDRMSG_LEN];
    m[0] = family_of(a.addr);
    m[1] = a.prefix;
    m[2] = flags;
    m[3] = scope_of(a.addr);
    m[4..8].copy_from_slice(&i.index.to_ne_bytes());
    b.put(&m);
    let bytes = ip_bytes(a.addr);
    b.attr(IFA_ADDRESS, &bytes);
    if a.addr.is_ipv4() {
        b.attr(IFA_LOCAL, &bytes);
        if let Some(brd) = a.broadcast_v4().filter(|_| a.brd) {
            b.attr(IFA_BROADCAST, &brd.octets());
        }
        b.str(IFA_LABEL, &i.name);
    }
    b.u32(IFA_FLAGS, u32::from(flags));
    let (preferred, valid) = (seconds_left(now, a.preferred_until), seconds_left(now, a.valid_until));
    let cache: Vec<u8> = [preferred, valid, 0, 0].iter().flat_map(|v| v.to_ne_bytes()).collect();
    b.attr(IFA_CACHEINFO, &cache);
}

fn get_addrs(net: &Net, req: &Request) -> Result<Answer, Failure> {
    let m = dump_header(req.msg.payload(), IFADDRMSG_LEN);
    let (family, index) = (m[0], int_at(&m, 4));
    let mut msgs = Vec::new();
    // Linux dumps family by family; an interface's v6 addresses come in
    // order of widening scope (global before link-local).
    for fam in [AF_INET, AF_INET6].into_iter().filter(|f| family == AF_UNSPEC || *f == family) {
        for i in net.ifaces.iter().filter(|i| index == 0 || i.index == index) {
            let mut addrs: Vec<&IfAddr> = i.addrs.iter().filter(|a| family_of(a.addr) == fam).collect();
            addrs.sort_by_key(|a| scope_of(a.addr));
            for a in addrs {
                let mut b = req.reply(RTM_NEWADDR);
                addr(&mut b, i, a, net.now());
                msgs.push(b);
            }
        }
    }
    Ok(Answer::Dump(msgs))
}

fn change_addr(net: &mut Net, req: &Request) -> Result<Answer, Failure> {
    let (m, attrs) = split(req.msg.payload(), IFADDRMSG_LEN)?;
    let (family, prefix, index) = (m[0], m[1], int_at(m, 4));
    if !matches!(family, AF_INET | AF_INET6) {
        return Err(EAFNOSUPPORT.into());
    }
    if prefix > max_prefix(family) {
        return Err(fail(EINVAL, "Invalid prefix length"));
    }
    let given = attrs.get(IFA_LOCAL)?.or(attrs.get(IFA_ADDRESS)?);
    let a = given.map(|a| ip_attr(family, a)).transpose()?;
    let i = net.ifaces.get(index).ok_or(ENODEV)?;
    if req.msg.kind() == RTM_DELADDR {
        let a = a.ok_or(EADDRNOTAVAIL)?;
        let found = i.addrs.iter().copied().find(|x| x.addr == a && (prefix == 0 || x.prefix == prefix));
        let found = found.ok_or_else(|| {
            fail(EADDRNOTAVAIL, if family == AF_INET { "ipv4: Address not found" } else { "ipv6: address not found" })
        })?;
        net.remove_addr(index, found.addr)?;
        return Ok(Answer::Done);
    }
    let a = a.ok_or_else(|| fail(EINVAL, "Local address required"))?;
    let (preferred_until, valid_until) = lifetimes(net.now(), attrs.get(IFA_CACHEINFO)?)?;
    let brd = family == AF_INET && attrs.get(IFA_BROADCAST)?.is_some();
    let a = IfAddr { addr: a, prefix, brd, preferred_until, valid_until };
    let flags = req.msg.flags();
    if let Some(old) =
        net.ifaces.get_mut(index).and_then(|i| i.addrs.iter_mut().find(|x| x.addr == a.addr && x.prefix == a.prefix))
    {
        let text = if family == AF_INET { "ipv4: Address already assigned" } else { "ipv6: address already assigned" };
        if flags & NLM_F_EXCL != 0 || flags & NLM_F_REPLACE == 0 {
            return Err(fail(EEXIST, text));
        }
        // `ip addr replace` / `change`: the lifetimes are the new ones.
        (old.preferred_until, old.valid_until) = (preferred_until, valid_until);
        net.changes.push(Change::NewAddr(index, a));
        return Ok(Answer::Done);
    }
    if flags & NLM_F_CREATE == 0 {
        return Err(ENOENT.into());
    }
    net.add_addr(index, a)?;
    Ok(Answer::Done)
}

/// The lifetimes an IFA_CACHEINFO asks for (seconds, all ones for ever)
/// as deadlines after `now`; none given: permanent.
fn lifetimes(now: u64, info: Option<Attr>) -> Result<(Option<u64>, Option<u64>), Failure> {
    let Some(info) = info else { return Ok((None, None)) };
    let v = info.value;
    if v.len() < 8 {
        return Err(EINVAL.into());
    }
    let (preferred, valid) = (int_at(v, 0), int_at(v, 4));
    if valid == 0 || preferred > valid {
        return Err(fail(EINVAL, "address lifetime invalid"));
    }
    let until = |s: u32| (s != INFINITY_LIFE_TIME).then(|| now + u64::from(s) * 1_000_000);
    Ok((until(preferred), until(valid)))
}

/// Seconds left until `until` (µs), as IFA_CACHEINFO reports them.
fn seconds_left(now: u64, until: Option<u64>) -> u32 {
    until.map_or(INFINITY_LIFE_TIME, |t| (t.saturating_sub(now) / 1_000_000) as u32)
}

// ---- routes ----------------------------------------------------------------

/// A route as rtnetlink shows it: one of the main table, or a local
/// table entry derived from an address (`local A dev X`, `broadcast B
/// dev X`).
enum Entry {
    Main(Route),
    Local(IfIndex, IfAddr),
    /// A local-table v4 route: destination, prefix, the address it is
    /// for, and its type.
    Local4(IfIndex, Ipv4Addr, u8, Ipv4Addr, u8),
}

/// The local table Linux derives from an interface's addresses: for v4
/// the address itself, the whole prefix on a loopback interface, and the
/// subnet's broadcast address; for v6 the address.
fn local_entries(i: &Iface, out: &mut Vec<Entry>) {
    for a in &i.addrs {
        local_entries_of(i, a, out);
    }
}

/// The local-table entries of one address (a secondary one has only its
/// own: the rest come with the primary).
fn local_entries_of(i: &Iface, a: &IfAddr, out: &mut Vec<Entry>) {
    let IpAddr::V4(v) = a.addr else {
        out.push(Entry::Local(i.index, *a));
        return;
    };
    let primary = primary_of(i, a);
    // A secondary address's route names the primary as its source.
    let src = match primary {
        Some(IpAddr::V4(p)) => p,
        _ => v,
    };
    let primary = primary.is_none();
    if i.is_loopback() && primary {
        if let IpAddr::V4(net) = masked(a.addr, a.prefix) {
            out.push(Entry::Local4(i.index, net, a.prefix, v, RTN_LOCAL));
        }
    }
    out.push(Entry::Local4(i.index, v, 32, src, RTN_LOCAL));
    if let Some(b) = a.broadcast_v4().filter(|_| primary) {
        out.push(Entry::Local4(i.index, b, 32, v, RTN_BROADCAST));
    }
}

fn rtmsg(family: u8, dst_len: u8, table: u8, protocol: u8, scope: u8, kind: u8, flags: u32) -> [u8; RTMSG_LEN] {
    let mut m = [family, dst_len, 0, 0, table, protocol, scope, kind, 0, 0, 0, 0];
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m
}

/// The address that gives a connected route its preferred source.
fn connected_src(net: &Net, r: &Route) -> Option<IpAddr> {
    let i = net.ifaces.get(r.iface)?;
    i.addrs.iter().find(|a| a.prefix == r.prefix && masked(a.addr, a.prefix) == r.dst).map(|a| a.addr)
}

/// An RTM_NEWROUTE body for `e`.
fn route(b: &mut Builder, net: &Net, e: &Entry) {
    match e {
        Entry::Main(r) => {
            let fam = family_of(r.dst);
            let protocol = if r.connected { RTPROT_KERNEL } else { RTPROT_BOOT };
            let scope = if r.gateway.is_some() || fam == AF_INET6 { RT_SCOPE_UNIVERSE } else { RT_SCOPE_LINK };
            let down = net.ifaces.get(r.iface).is_none_or(|i| i.flags & IFF_RUNNING == 0);
            let flags = if down { RTNH_F_LINKDOWN } else { 0 };
            b.put(&rtmsg(fam, r.prefix, RT_TABLE_MAIN, protocol, scope, RTN_UNICAST, flags));
            b.u32(RTA_TABLE, u32::from(RT_TABLE_MAIN));
            if r.prefix != 0 {
                b.attr(RTA_DST, &ip_bytes(r.dst));
            }
            if fam == AF_INET6 || r.metric != 0 {
                b.u32(RTA_PRIORITY, r.metric);
            }
            if fam == AF_INET && r.connected {
                if let Some(src) = connected_src(net, r) {
                    b.attr(RTA_PREFSRC, &ip_bytes(src));
                }
            }
            if let Some(g) = r.gateway {
                b.attr(RTA_GATEWAY, &ip_bytes(g));
            }
            b.u32(RTA_OIF, r.iface);
            if fam == AF_INET6 {
                b.u8(RTA_PREF, 0);
            }
        }
        Entry::Local(index, a) => {
            b.put(&rtmsg(AF_INET6, 128, RT_TABLE_LOCAL, RTPROT_KERNEL, RT_SCOPE_HOST, RTN_LOCAL, 0));
            b.u32(RTA_TABLE, u32::from(RT_TABLE_LOCAL)).attr(RTA_DST, &ip_bytes(a.addr));
            b.u32(RTA_PRIORITY, 0).u32(RTA_OIF, *index).u8(RTA_PREF, 0);
        }
        &Entry::Local4(index, dst, len, src, kind) => {
            let scope = if kind == RTN_LOCAL { RT_SCOPE_HOST } else { RT_SCOPE_LINK };
            b.put(&rtmsg(AF_INET, len, RT_TABLE_LOCAL, RTPROT_KERNEL, scope, kind, 0));
            b.u32(RTA_TABLE, u32::from(RT_TABLE_LOCAL)).attr(RTA_DST, &dst.octets());
            b.attr(RTA_PREFSRC, &src.octets()).u32(RTA_OIF, index);
        }
    }
}

fn get_routes(net: &Net, req: &Request) -> Result<Answer, Failure> {
    let m = dump_header(req.msg.payload(), RTMSG_LEN);
    let (family, table) = (m[0], m[4]);
    let fam_ok = |a: IpAddr| family == AF_UNSPEC || family_of(a) == family;
    let mut entries: Vec<Entry> = Vec::new();
    if matches!(table, RT_TABLE_UNSPEC | RT_TABLE_MAIN) {
        // What a loopback interface's addresses reach is all local: Linux
        // keeps it in the local table only, where `local_entries` shows it.
        let lo = |r: &Route| r.connected && net.ifaces.get(r.iface).is_some_and(Iface::is_loopback);
        let mut main: Vec<Route> = net.routes.iter().filter(|r| fam_ok(r.dst) && !lo(r)).copied().collect();
        // Linux's tables are tries: a dump walks them in address order,
        // the longer of two prefixes of one address first.
        main.sort_by_key(|r| (!r.dst.is_ipv4(), r.dst, std::cmp::Reverse(r.prefix), r.metric));
        entries.extend(main.into_iter().map(Entry::Main));
    }
    if matches!(table, RT_TABLE_UNSPEC | RT_TABLE_LOCAL) {
        let mut local = Vec::new();
        for i in net.ifaces.iter() {
            local_entries(i, &mut local);
        }
        local.retain(|e| match e {
            Entry::Local(..) => family != AF_INET,
            _ => family != AF_INET6,
        });
        local.sort_by_key(|e| match *e {
            Entry::Local4(_, dst, len, ..) => (false, IpAddr::V4(dst), std::cmp::Reverse(len)),
            Entry::Local(_, a) => (true, a.addr, std::cmp::Reverse(128)),
            Entry::Main(r) => (r.dst.is_ipv6(), r.dst, std::cmp::Reverse(r.prefix)),
        });
        entries.extend(local);
    }
    let msgs = entries
        .iter()
        .map(|e| {
            let mut b = req.reply(RTM_NEWROUTE);
            route(&mut b, net, e);
            b
        })
        .collect();
    Ok(Answer::Dump(msgs))
}

/// `ip route get`: the real lookup's answer, as a cloned route.
fn route_get(cx: &mut Cx, req: &Request) -> Result<Answer, Failure> {
    let (m, attrs) = split(req.msg.payload(), RTMSG_LEN)?;
    let family = m[0];
    if !matches!(family, AF_INET | AF_INET6) {
        return Err(fail(EINVAL, "Invalid address family in route get request"));
    }
    let dst = match attrs.get(RTA_DST)? {
        Some(a) => ip_attr(family, a)?,
        None if family == AF_INET => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let uid = cx.proc().cred.uid;
    let net = &cx.st.net;
    let hop = net.route_local_first(dst)?;
    let src = net.source_for(dst).ok();
    let local = net.ifaces.owner_of(dst).is_some();
    let mut b = req.reply(RTM_NEWROUTE);
    let kind = if local { RTN_LOCAL } else { RTN_UNICAST };
    // Linux answers from its main table even for a local address: without
    // policy rules its local table is merged into the main one.
    let table = RT_TABLE_MAIN;
    let flags = RTM_F_CLONED | if local { RTCF_LOCAL } else { 0 };
    b.put(&rtmsg(family, max_prefix(family), table, 0, RT_SCOPE_UNIVERSE, kind, flags));
    b.u32(RTA_TABLE, u32::from(table)).attr(RTA_DST, &ip_bytes(dst)).u32(RTA_OIF, hop.iface);
    if hop.via != dst {
        b.attr(RTA_GATEWAY, &ip_bytes(hop.via));
    }
    if let Some(s) = src {
        b.attr(RTA_PREFSRC, &ip_bytes(s));
    }
    b.u32(RTA_UID, uid);
    Ok(Answer::One(b))
}

fn change_route(net: &mut Net, req: &Request) -> Result<Answer, Failure> {
    let (m, attrs) = split(req.msg.payload(), RTMSG_LEN)?;
    let (family, prefix, table) = (m[0], m[1], m[4]);
    if !matches!(family, AF_INET | AF_INET6) {
        return Err(EAFNOSUPPORT.into());
    }
    if prefix > max_prefix(family) {
        return Err(fail(EINVAL, "Invalid prefix for given prefix length"));
    }
    let table = attrs.get(RTA_TABLE)?.map(|a| a.u32()).transpose()?.unwrap_or(u32::from(table));
    if ![u32::from(RT_TABLE_UNSPEC), u32::from(RT_TABLE_MAIN)].contains(&table) {
        return Err(fail(EOPNOTSUPP, "Only the main table is kept"));
    }
    let unspecified =
        if family == AF_INET { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { IpAddr::V6(Ipv6Addr::UNSPECIFIED) };
    let dst = attrs.get(RTA_DST)?.map(|a| ip_attr(family, a)).transpose()?.unwrap_or(unspecified);
    if masked(dst, prefix) != dst {
        return Err(fail(EINVAL, "Invalid prefix for given prefix length"));
    }
    let gateway = attrs.get(RTA_GATEWAY)?.map(|a| ip_attr(family, a)).transpose()?;
    let oif = attrs.get(RTA_OIF)?.map(|a| a.u32()).transpose()?;
    let metric = attrs.get(RTA_PRIORITY)?.map(|a| a.u32()).transpose()?;
    if let Some(o) = oif {
        if net.ifaces.get(o).is_none() {
            return Err(ENODEV.into());
        }
    }
    if req.msg.kind() == RTM_DELROUTE {
        let found = net
            .routes
            .iter()
            .find(|r| {
                r.dst == dst
                    && r.prefix == prefix
                    && gateway.is_none_or(|g| r.gateway == Some(g))
                    && oif.is_none_or(|o| r.iface == o)
                    && metric.is_none_or(|x| r.metric == x)
            })
            .copied()
            .ok_or(ESRCH)?;
        net.routes.delete(found.dst, found.prefix, found.gateway)?;
        net.changes.push(Change::DelRoute(found));
        return Ok(Answer::Done);
    }
    // What a route here cannot hold is refused, not dropped.
    if attrs.get(RTA_METRICS)?.is_some_and(|m| !m.value.is_empty()) {
        return Err(fail(EOPNOTSUPP, "Route metrics are not kept"));
    }
    if attrs.get(RTA_PREFSRC)?.is_some() {
        return Err(fail(EOPNOTSUPP, "A preferred source is not kept"));
    }
    if attrs.get(RTA_MULTIPATH)?.is_some() {
        return Err(fail(EOPNOTSUPP, "Multipath routes are not kept"));
    }
    let iface = match (gateway, oif) {
        (Some(g), o) => {
            let direct = net.routes.direct_iface(&net.ifaces, g);
            match (direct, o) {
                (Some(d), None) => d,
                (Some(d), Some(o)) if d == o => o,
                // Linux's v6 code says only EHOSTUNREACH.
                _ if family == AF_INET6 => return Err(EHOSTUNREACH.into()),
                _ => return Err(fail(ENETUNREACH, "Nexthop has invalid gateway")),
            }
        }
        (None, Some(o)) => o,
        (None, None) => return Err(ENODEV.into()),
    };
    let metric = metric.unwrap_or(if family == AF_INET6 { IP6_RT_PRIO_USER } else { 0 });
    let r = Route { dst, prefix, gateway, iface, metric, connected: false };
    let flags = req.msg.flags();
    let same = net.routes.iter().find(|x| x.dst == dst && x.prefix == prefix && x.metric == metric).copied();
    match same {
        Some(_) if flags & NLM_F_EXCL != 0 => return Err(EEXIST.into()),
        Some(old) if flags & NLM_F_REPLACE != 0 => {
            net.routes.delete(old.dst, old.prefix, old.gateway)?;
            net.changes.push(Change::DelRoute(old));
        }
        None if flags & NLM_F_CREATE == 0 => return Err(ENOENT.into()),
        _ => {}
    }
    net.routes.add(r)?;
    net.changes.push(Change::NewRoute(r));
    Ok(Answer::Done)
}

// ---- neighbours ------------------------------------------------------------

/// An RTM_NEWNEIGH body for the entry of `ip` on `index`.
fn neigh(b: &mut Builder, net: &Net, index: IfIndex, ip: IpAddr, e: &crate::net::neigh::Entry) {
    let now = net.now();
    let state = match (e.mac, e.expires) {
        (None, _) => NUD_INCOMPLETE,
        (Some(_), None) => NUD_PERMANENT,
        (Some(_), Some(t)) if t.saturating_sub(net.knobs.arp_keep_us()) + REACHABLE_US > now => NUD_REACHABLE,
        (Some(_), Some(_)) => NUD_STALE,
    };
    let mut m = [0u8; NDMSG_LEN];
    m[0] = family_of(ip);
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m[8..10].copy_from_slice(&state.to_ne_bytes());
    m[11] = RTN_UNICAST;
    b.put(&m).attr(NDA_DST, &ip_bytes(ip));
    if let Some(mac) = e.mac {
        b.attr(NDA_LLADDR, &mac);
    }
    b.u32(NDA_PROBES, u32::from(e.probes));
}

fn get_neighs(net: &Net, req: &Request) -> Result<Answer, Failure> {
    let family = req.msg.payload().first().copied().unwrap_or(AF_UNSPEC);
    let index = req.msg.payload().get(4..8).map_or(0, |b| int_at(b, 0));
    let mut entries: Vec<_> = net
        .neigh
        .iter()
        .filter(|((i, ip), _)| (family == AF_UNSPEC || family_of(*ip) == family) && (index == 0 || *i == index))
        .collect();
    entries.sort_by_key(|((i, ip), _)| (*i, *ip));
    let msgs = entries
        .into_iter()
        .map(|((i, ip), e)| {
            let mut b = req.reply(RTM_NEWNEIGH);
            neigh(&mut b, net, *i, *ip, e);
            b
        })
        .collect();
    Ok(Answer::Dump(msgs))
}

fn change_neigh(net: &mut Net, req: &Request) -> Result<Answer, Failure> {
    let (m, attrs) = split(req.msg.payload(), NDMSG_LEN)?;
    let (family, index, state) = (m[0], int_at(m, 4), u16::from_ne_bytes([m[8], m[9]]));
    if !matches!(family, AF_INET | AF_INET6) {
        return Err(EAFNOSUPPORT.into());
    }
    let ip = ip_attr(family, attrs.get(NDA_DST)?.ok_or_else(|| fail(EINVAL, "Network address not specified"))?)?;
    if net.ifaces.get(index).is_none() {
        return Err(fail(ENODEV, "Device not found"));
    }
    let exists = net.neigh.iter().any(|(k, _)| *k == (index, ip));
    if req.msg.kind() == RTM_DELNEIGH {
        if !net.neigh.remove(index, ip) {
            return Err(ENOENT.into());
        }
        return Ok(Answer::Done);
    }
    let flags = req.msg.flags();
    if exists && flags & NLM_F_EXCL != 0 {
        return Err(EEXIST.into());
    }
    if !exists && flags & NLM_F_CREATE == 0 {
        return Err(ENOENT.into());
    }
    let mac: [u8; 6] = match attrs.get(NDA_LLADDR)? {
        Some(a) => a.value.try_into().map_err(|_| fail(EINVAL, "Invalid link address"))?,
        None => return Err(EINVAL.into()),
    };
    let held = if state & NUD_PERMANENT != 0 {
        net.neigh.set_permanent(index, ip, mac)
    } else {
        let (keep, now) = (net.knobs.arp_keep_us(), net.now());
        let held = net.neigh.learn(index, ip, mac, keep, now);
        if state & NUD_STALE != 0 {
            net.neigh.backdate(index, ip, REACHABLE_US);
        }
        held
    };
    for pkt in held {
        let _ = net.link_output(index, ip, &pkt, &[]);
    }
    net.changes.push(Change::Neigh(index, ip));
    Ok(Answer::Done)
}
