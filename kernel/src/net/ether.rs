//! The link layer: Ethernet frames in and out of an interface, ARP and
//! IPv6 neighbour solicitation/advertisement to fill the neighbour cache,
//! and loopback (packets queued back to our own input).

use super::iface::{IfIndex, Iface, Link, IFF_NOARP};
use super::shmif;
use super::wire::{
    ArpRepr, EthernetRepr, IcmpRepr, IpRepr, ARP_REPLY, ARP_REQUEST, BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4,
    ETHERTYPE_IPV6, PROTO_ICMPV6,
};
use super::Net;
use crate::time::Timespec;
use rump_abi::native::errno::{ENETDOWN, ENXIO};
use rump_abi::Errno;
use std::net::{IpAddr, Ipv6Addr};

pub const ND_SOLICIT: u8 = 135;
pub const ND_ADVERT: u8 = 136;
/// Neighbour-discovery options: source and target link-layer address.
const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;

/// The Ethernet multicast address of an IP multicast group.
fn multicast_mac(a: IpAddr) -> [u8; 6] {
    match a {
        IpAddr::V4(v) => {
            let o = v.octets();
            [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
        }
        IpAddr::V6(v) => {
            let o = v.octets();
            [0x33, 0x33, o[12], o[13], o[14], o[15]]
        }
    }
}

/// ff02::1:ffXX:XXXX for `target`.
fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let o = target.octets();
    Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00 | o[13] as u16, u16::from_be_bytes([o[14], o[15]]))
}

/// What became of a frame sent out of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Straight onto the link (or dropped), seen by nothing else here.
    Wire,
    /// Kept for later (the loopback queue, a neighbour being asked, an
    /// impairment's queue) or seen by a packet socket: the stack has work
    /// to settle (`State::net_run`).
    Kept,
}

impl Net {
    /// Hands an IP packet, given as its header and the rest (so that a
    /// forwarded one need not be joined), to interface `iface` for
    /// neighbour `via`. It is joined only to be kept: queued for loopback
    /// or held until the neighbour answers.
    pub fn link_output(&mut self, iface: IfIndex, via: IpAddr, head: &[u8], rest: &[u8]) -> Result<Sent, Errno> {
        let now = self.now();
        let ifc = self.ifaces.get_mut(iface).ok_or(ENXIO)?;
        if !ifc.is_up() {
            ifc.counters.tx_dropped += 1;
            return Err(ENETDOWN);
        }
        if ifc.is_loopback() {
            ifc.counters.tx_packets += 1;
            ifc.counters.tx_bytes += (head.len() + rest.len()) as u64;
            self.loopq.push_back((iface, [head, rest].concat()));
            return Ok(Sent::Kept);
        }
        let broadcast = match via {
            IpAddr::V4(v) => v.is_broadcast() || ifc.addrs.iter().any(|a| a.broadcast_v4() == Some(v)),
            IpAddr::V6(_) => false,
        };
        let ethertype = if via.is_ipv4() { ETHERTYPE_IPV4 } else { ETHERTYPE_IPV6 };
        let dst = if broadcast {
            BROADCAST_MAC
        } else if via.is_multicast() {
            multicast_mac(via)
        } else if let Some(mac) = self.neigh.lookup(iface, via, now) {
            mac
        } else {
            if self.neigh.hold(iface, via, [head, rest].concat(), now) {
                self.solicit(iface, via);
            }
            return Ok(Sent::Kept);
        };
        Ok(self.send_frame(iface, dst, ethertype, head, rest))
    }

    /// Sends one frame, whose payload is `head` then `rest`, out of an
    /// interface: through its impairment, if it has one, then onto its bus
    /// (nowhere, when it has none).
    pub(super) fn send_frame(
        &mut self,
        iface: IfIndex,
        dst: [u8; 6],
        ethertype: u16,
        head: &[u8],
        rest: &[u8],
    ) -> Sent {
        let now = self.now();
        let ts = self.clock.realtime();
        let Some((mac, impaired)) = self.ifaces.get(iface).map(|i| (i.mac, i.netem.is_some())) else {
            return Sent::Wire;
        };
        let header = EthernetRepr { dst, src: mac, ethertype }.header();
        // The frame is joined only when something keeps or looks at it
        // whole: an impairment, a packet socket.
        if !impaired && !self.has_packet_sockets() {
            if let Some(ifc) = self.ifaces.get_mut(iface) {
                put_on_bus(ifc, &[&header, head, rest], ts);
            }
            return Sent::Wire;
        }
        let frame = [&header[..], head, rest].concat();
        self.packet_tap(iface, &frame, true);
        let owner = self.tx_owner.map(|id| (id, frame.len()));
        let Some(ifc) = self.ifaces.get_mut(iface) else { return Sent::Kept };
        let Some(netem) = ifc.netem.as_mut() else {
            put_on_bus(ifc, &[&frame], ts);
            return Sent::Kept;
        };
        let (lost, overlimit) = (netem.counters.lost, netem.counters.overlimit);
        let mut out = Vec::new();
        let charged = netem.enqueue(now, frame, owner, &mut out);
        let dropped = netem.counters.lost - lost + netem.counters.overlimit - overlimit;
        ifc.counters.tx_dropped += dropped;
        for f in out {
            put_on_bus(ifc, &[&f], ts);
        }
        if let (true, Some((id, n))) = (charged, owner) {
            if let Some(s) = self.sockets.get_mut(id) {
                s.tx_queued += n;
            }
        }
        Sent::Kept
    }

    /// Sends the impaired frames whose delay is over.
    pub(super) fn netem_tick(&mut self, now: u64) {
        let ts = self.clock.realtime();
        let mut released = Vec::new();
        for ifc in self.ifaces.iter_mut() {
            if let Some(n) = ifc.netem.as_mut() {
                let due = n.due(now);
                released.extend(n.take_released());
                due.iter().for_each(|f| put_on_bus(ifc, &[f], ts));
            }
        }
        self.give_back(released);
    }

    /// Takes charges off the send buffers of the sockets whose frames left
    /// an interface queue. (A socket closed meanwhile may have passed its
    /// id on: the charge is then taken off what the new one has, if any.)
    pub(crate) fn give_back(&mut self, released: Vec<super::netem::Owner>) {
        for (id, n) in released {
            if let Some(s) = self.sockets.get_mut(id) {
                s.tx_queued = s.tx_queued.saturating_sub(n);
            }
        }
    }

    /// Puts frames straight onto an interface's bus, past its impairment.
    pub(crate) fn put_on_wire(&mut self, iface: IfIndex, frames: Vec<Vec<u8>>) {
        let ts = self.clock.realtime();
        if let Some(ifc) = self.ifaces.get_mut(iface) {
            frames.iter().for_each(|f| put_on_bus(ifc, &[f], ts));
        }
        self.wake_links();
    }

    /// Wakes the readers of every bus this stack appended frames to since
    /// it last did: once per piece of work, not once per frame.
    pub(crate) fn wake_links(&self) {
        for ifc in self.ifaces.iter() {
            if let Link::Shmif(Some(l)) = &ifc.link {
                l.readers.announce(&l.bus);
            }
        }
    }

    pub(super) fn netem_deadline(&self) -> Option<u64> {
        self.ifaces.iter().filter_map(|i| i.netem.as_ref()?.next_deadline()).min()
    }

    /// Asks the link who has `ip` (ARP request or neighbour solicitation).
    pub(super) fn solicit(&mut self, iface: IfIndex, ip: IpAddr) {
        let Some(ifc) = self.ifaces.get(iface) else { return };
        if ifc.flags & IFF_NOARP != 0 {
            return;
        }
        let mac = ifc.mac;
        match ip {
            IpAddr::V4(target) => {
                let Some(IpAddr::V4(spa)) = ifc.source_for(ip) else { return };
                let arp = ArpRepr { op: ARP_REQUEST, sha: mac, spa, tha: [0; 6], tpa: target };
                self.send_frame(iface, BROADCAST_MAC, ETHERTYPE_ARP, &arp.emit(), &[]);
            }
            IpAddr::V6(target) => {
                let Some(src) = ifc.source_for(ip) else { return };
                let group = solicited_node(target);
                let ip6 = IpRepr::new(src, IpAddr::V6(group), PROTO_ICMPV6, 255);
                let mut data = target.octets().to_vec();
                data.extend_from_slice(&[OPT_SOURCE_LL, 1]);
                data.extend_from_slice(&mac);
                let msg = IcmpRepr { ty: ND_SOLICIT, code: 0, rest: [0; 4], data: &data }.emit(&ip6);
                let mut pkt = ip6.emit_header(msg.len());
                pkt.extend_from_slice(&msg);
                self.send_frame(iface, multicast_mac(IpAddr::V6(group)), ETHERTYPE_IPV6, &pkt, &[]);
            }
        }
    }

    /// A frame read from interface `iface`'s link. `Sent::Wire` when all
    /// it caused was its forwarding straight onto another link (or its
    /// drop): the stack has nothing to settle.
    pub fn link_input(&mut self, iface: IfIndex, frame: &[u8]) -> Sent {
        let Some(ifc) = self.ifaces.get_mut(iface) else { return Sent::Wire };
        let Some((eth, payload)) = EthernetRepr::parse(frame) else {
            ifc.counters.rx_errors += 1;
            return Sent::Wire;
        };
        if !ifc.is_up() {
            ifc.counters.rx_dropped += 1;
            return Sent::Wire;
        }
        ifc.counters.rx_packets += 1;
        ifc.counters.rx_bytes += frame.len() as u64;
        // A packet socket that saw the frame has news for its reader.
        let watched = self.has_packet_sockets();
        self.packet_tap(iface, frame, false);
        match eth.ethertype {
            ETHERTYPE_ARP => self.arp_input(iface, payload),
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => match IpRepr::parse(payload) {
                Some((ip, body)) if ip.proto == PROTO_ICMPV6 && self.nd_input(iface, &ip, body) => {}
                Some((ip, body)) => {
                    let sent = self.ip_input_parsed(iface, ip, payload, body);
                    if !watched {
                        return sent;
                    }
                }
                None => self.stats.ip_in_hdr_errors += 1,
            },
            _ => {
                if let Some(i) = self.ifaces.get_mut(iface) {
                    i.counters.rx_dropped += 1;
                }
            }
        }
        Sent::Kept
    }

    fn arp_input(&mut self, iface: IfIndex, payload: &[u8]) {
        let Some(arp) = ArpRepr::parse(payload) else { return };
        let now = self.now();
        let keep = self.knobs.arp_keep_us();
        let Some(ifc) = self.ifaces.get(iface) else { return };
        let mac = ifc.mac;
        let ours = ifc.addrs.iter().any(|a| a.addr == IpAddr::V4(arp.tpa));
        let held = if ours {
            self.neigh.learn(iface, IpAddr::V4(arp.spa), arp.sha, keep, now)
        } else {
            self.neigh.refresh(iface, IpAddr::V4(arp.spa), arp.sha, keep, now)
        };
        for pkt in held {
            self.send_frame(iface, arp.sha, ETHERTYPE_IPV4, &pkt, &[]);
        }
        if ours && arp.op == ARP_REQUEST {
            let reply = ArpRepr { op: ARP_REPLY, sha: mac, spa: arp.tpa, tha: arp.sha, tpa: arp.spa };
            self.send_frame(iface, arp.sha, ETHERTYPE_ARP, &reply.emit(), &[]);
        }
    }

    /// Neighbour solicitations and advertisements; true if it was one.
    fn nd_input(&mut self, iface: IfIndex, ip: &IpRepr, body: &[u8]) -> bool {
        let Some(m) = IcmpRepr::parse(ip, body) else { return false };
        if (m.ty != ND_SOLICIT && m.ty != ND_ADVERT) || m.data.len() < 16 || ip.ttl != 255 {
            return false;
        }
        let mut t = [0u8; 16];
        t.copy_from_slice(&m.data[..16]);
        let target = IpAddr::V6(Ipv6Addr::from(t));
        let want = if m.ty == ND_SOLICIT { OPT_SOURCE_LL } else { OPT_TARGET_LL };
        let ll = nd_option(&m.data[16..], want);
        let now = self.now();
        let keep = self.knobs.arp_keep_us();
        let Some(ifc) = self.ifaces.get(iface) else { return true };
        let mac = ifc.mac;
        let ours = ifc.addrs.iter().any(|a| a.addr == target);
        if m.ty == ND_ADVERT {
            if let Some(ll) = ll {
                for pkt in self.neigh.learn(iface, target, ll, keep, now) {
                    self.send_frame(iface, ll, ETHERTYPE_IPV6, &pkt, &[]);
                }
            }
            return true;
        }
        if !ours {
            return true;
        }
        let Some(ll) = ll else { return true };
        if !ip.src.is_unspecified() {
            for pkt in self.neigh.learn(iface, ip.src, ll, keep, now) {
                self.send_frame(iface, ll, ETHERTYPE_IPV6, &pkt, &[]);
            }
        }
        let reply_to =
            if ip.src.is_unspecified() { IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)) } else { ip.src };
        let ip6 = IpRepr::new(target, reply_to, PROTO_ICMPV6, 255);
        let mut data = t.to_vec();
        data.extend_from_slice(&[OPT_TARGET_LL, 1]);
        data.extend_from_slice(&mac);
        // Solicited and override.
        let msg = IcmpRepr { ty: ND_ADVERT, code: 0, rest: [0x60, 0, 0, 0], data: &data }.emit(&ip6);
        let mut pkt = ip6.emit_header(msg.len());
        pkt.extend_from_slice(&msg);
        self.send_frame(iface, ll, ETHERTYPE_IPV6, &pkt, &[]);
        true
    }

    /// Neighbour timers: expired entries go, unanswered ones are asked again.
    pub(super) fn neigh_tick(&mut self, now: u64) {
        for (iface, ip) in self.neigh.tick(now) {
            self.solicit(iface, ip);
        }
    }
}

/// The link-layer address in option `kind` of an ND message's options.
fn nd_option(mut opts: &[u8], kind: u8) -> Option<[u8; 6]> {
    while opts.len() >= 8 {
        let len = opts[1] as usize * 8;
        if len == 0 || len > opts.len() {
            return None;
        }
        if opts[0] == kind {
            let mut m = [0; 6];
            m.copy_from_slice(&opts[2..8]);
            return Some(m);
        }
        opts = &opts[len..];
    }
    None
}

/// Writes a frame to an interface's bus (readers are woken later, by
/// `wake_links`) or tap device, counting it.
fn put_on_bus(ifc: &mut Iface, parts: &[&[u8]], ts: Timespec) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let sent = match &ifc.link {
        Link::Shmif(Some(l)) if len <= shmif::MAX_FRAME => {
            Some(l.bus.append_parts(l.sender, parts, ts.sec as u32, (ts.nsec / 1000) as u32))
        }
        Link::Tap(Some(l)) => Some(l.dev.send(&parts.concat())),
        _ => None,
    };
    match sent {
        Some(Ok(())) => {
            ifc.counters.tx_packets += 1;
            ifc.counters.tx_bytes += len as u64;
        }
        Some(Err(_)) => ifc.counters.tx_errors += 1,
        None => ifc.counters.tx_dropped += 1,
    }
}
