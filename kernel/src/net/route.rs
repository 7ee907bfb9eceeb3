//! The routing table: one for v4 and v6, longest prefix wins. Routes to a
//! subnet appear when an address is configured (connected routes) and go
//! with it; others are added by hand (SIOCADDRT, `route add`).

use super::iface::{prefix_match, IfIndex, Ifaces};
use rump_abi::native::errno::{EEXIST, ENETUNREACH, ESRCH};
use rump_abi::Errno;
use std::net::IpAddr;

pub const RTF_UP: u16 = 0x1;
pub const RTF_GATEWAY: u16 = 0x2;
pub const RTF_HOST: u16 = 0x4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: IpAddr,
    pub prefix: u8,
    pub gateway: Option<IpAddr>,
    pub iface: IfIndex,
    pub metric: u32,
    /// Set for routes that come with an address.
    pub connected: bool,
}

impl Route {
    /// Linux's RTF_* bits for /proc/net/route and `route -n`.
    pub fn flags(&self) -> u16 {
        let full = if self.dst.is_ipv4() { 32 } else { 128 };
        RTF_UP | if self.gateway.is_some() { RTF_GATEWAY } else { 0 } | if self.prefix == full { RTF_HOST } else { 0 }
    }
}

/// Where a packet for some destination goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop {
    pub iface: IfIndex,
    /// The neighbour to hand the packet to: the gateway, or the
    /// destination itself on a connected subnet.
    pub via: IpAddr,
}

#[derive(Default)]
pub struct Table {
    routes: Vec<Route>,
}

impl Table {
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    pub fn add(&mut self, r: Route) -> Result<(), Errno> {
        if self
            .routes
            .iter()
            .any(|x| x.dst == r.dst && x.prefix == r.prefix && x.metric == r.metric && x.gateway == r.gateway)
        {
            return Err(EEXIST);
        }
        self.routes.push(r);
        Ok(())
    }

    /// Deletes the route to dst/prefix (through `gateway` when given).
    pub fn delete(&mut self, dst: IpAddr, prefix: u8, gateway: Option<IpAddr>) -> Result<Route, Errno> {
        let at = self
            .routes
            .iter()
            .position(|x| x.dst == dst && x.prefix == prefix && (gateway.is_none() || x.gateway == gateway))
            .ok_or(ESRCH)?;
        Ok(self.routes.remove(at))
    }

    /// Drops the routes through an interface (it went away).
    pub fn flush_iface(&mut self, iface: IfIndex) {
        self.routes.retain(|r| r.iface != iface);
    }

    pub fn remove_connected(&mut self, iface: IfIndex, dst: IpAddr, prefix: u8) {
        self.routes.retain(|r| !(r.connected && r.iface == iface && r.dst == dst && r.prefix == prefix));
    }

    /// The best route to `dst` over an interface that is up.
    pub fn lookup(&self, ifaces: &Ifaces, dst: IpAddr) -> Result<NextHop, Errno> {
        self.routes
            .iter()
            .filter(|r| prefix_match(r.dst, dst, r.prefix))
            .filter(|r| ifaces.get(r.iface).is_some_and(|i| i.is_up()))
            .max_by_key(|r| (r.prefix, std::cmp::Reverse(r.metric)))
            .map(|r| NextHop { iface: r.iface, via: r.gateway.unwrap_or(dst) })
            .ok_or(ENETUNREACH)
    }

    /// The interface a gateway is directly reachable on (route add checks).
    pub fn direct_iface(&self, ifaces: &Ifaces, gw: IpAddr) -> Option<IfIndex> {
        ifaces.iter().find(|i| i.addrs.iter().any(|a| a.contains(gw))).map(|i| i.index)
    }
}
