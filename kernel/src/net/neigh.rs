//! The neighbour cache: IPv4 (ARP) and IPv6 (neighbour discovery) address
//! to MAC, per interface, with expiry (`net.inet.arp.keep`), permanent
//! entries, and the packets waiting for an answer.

use super::iface::IfIndex;
use std::collections::HashMap;
use std::net::IpAddr;

/// Packets held for one unresolved neighbour: Linux's default unres_qlen,
/// so that a burst sent before ARP answers is not cut short here either.
const MAX_HELD: usize = 101;
/// Requests sent before an unresolved neighbour is given up.
pub const MAX_PROBES: u8 = 3;
/// Time between requests, µs.
pub const PROBE_INTERVAL: u64 = 1_000_000;

pub struct Entry {
    pub mac: Option<[u8; 6]>,
    /// µs on the kernel clock; None: permanent (`arp -s`).
    pub expires: Option<u64>,
    pub held: Vec<Vec<u8>>,
    pub probes: u8,
    pub last_probe: u64,
}

#[derive(Default)]
pub struct Cache {
    map: HashMap<(IfIndex, IpAddr), Entry>,
}

impl Cache {
    pub fn iter(&self) -> impl Iterator<Item = (&(IfIndex, IpAddr), &Entry)> {
        self.map.iter()
    }

    /// The MAC of `ip` on `iface`, if known and not expired.
    pub fn lookup(&self, iface: IfIndex, ip: IpAddr, now: u64) -> Option<[u8; 6]> {
        let e = self.map.get(&(iface, ip))?;
        e.mac.filter(|_| e.expires.is_none_or(|t| t > now))
    }

    /// Holds `packet` until `ip` is resolved; true when a request is due
    /// (the first packet for an unknown neighbour).
    pub fn hold(&mut self, iface: IfIndex, ip: IpAddr, packet: Vec<u8>, now: u64) -> bool {
        let e = self.map.entry((iface, ip)).or_insert(Entry {
            mac: None,
            expires: Some(now),
            held: Vec::new(),
            probes: 0,
            last_probe: 0,
        });
        if e.mac.is_some() {
            // Expired: ask again.
            e.mac = None;
            e.probes = 0;
        }
        if e.held.len() >= MAX_HELD {
            e.held.remove(0);
        }
        e.held.push(packet);
        let probe = e.probes == 0;
        if probe {
            e.probes = 1;
            e.last_probe = now;
        }
        probe
    }

    /// Records `ip` at `mac` (an answer, or a request from it that names
    /// us); returns the packets that waited for it. A permanent entry stays.
    pub fn learn(&mut self, iface: IfIndex, ip: IpAddr, mac: [u8; 6], keep: u64, now: u64) -> Vec<Vec<u8>> {
        let e = self.map.entry((iface, ip)).or_insert(Entry {
            mac: None,
            expires: Some(0),
            held: Vec::new(),
            probes: 0,
            last_probe: 0,
        });
        if e.expires.is_some() {
            e.mac = Some(mac);
            e.expires = Some(now + keep);
            e.probes = 0;
        }
        std::mem::take(&mut e.held)
    }

    /// Updates an existing entry only (gratuitous or overheard traffic).
    pub fn refresh(&mut self, iface: IfIndex, ip: IpAddr, mac: [u8; 6], keep: u64, now: u64) -> Vec<Vec<u8>> {
        if self.map.contains_key(&(iface, ip)) {
            self.learn(iface, ip, mac, keep, now)
        } else {
            Vec::new()
        }
    }

    pub fn set_permanent(&mut self, iface: IfIndex, ip: IpAddr, mac: [u8; 6]) -> Vec<Vec<u8>> {
        let e = self.map.entry((iface, ip)).or_insert(Entry {
            mac: None,
            expires: None,
            held: Vec::new(),
            probes: 0,
            last_probe: 0,
        });
        e.mac = Some(mac);
        e.expires = None;
        std::mem::take(&mut e.held)
    }

    /// Makes a learned entry look `by` µs older (`ip neigh add ... nud
    /// stale`), without shortening its life below now.
    pub fn backdate(&mut self, iface: IfIndex, ip: IpAddr, by: u64) {
        if let Some(t) = self.map.get_mut(&(iface, ip)).and_then(|e| e.expires.as_mut()) {
            *t = t.saturating_sub(by);
        }
    }

    pub fn remove(&mut self, iface: IfIndex, ip: IpAddr) -> bool {
        self.map.remove(&(iface, ip)).is_some()
    }

    pub fn flush_iface(&mut self, iface: IfIndex) {
        self.map.retain(|k, _| k.0 != iface);
    }

    /// Expires entries, and lists the neighbours due for another request.
    /// Unresolved ones past MAX_PROBES are dropped with their packets.
    pub fn tick(&mut self, now: u64) -> Vec<(IfIndex, IpAddr)> {
        let mut due = Vec::new();
        self.map.retain(|k, e| match (e.mac, e.expires) {
            (Some(_), Some(t)) => t > now,
            (Some(_), None) => true,
            (None, _) => {
                if now < e.last_probe + PROBE_INTERVAL {
                    return true;
                }
                if e.probes >= MAX_PROBES {
                    return false;
                }
                e.probes += 1;
                e.last_probe = now;
                due.push(*k);
                true
            }
        });
        due
    }

    /// When `tick` next has work: the earliest expiry or probe.
    pub fn next_deadline(&self) -> Option<u64> {
        self.map
            .values()
            .filter_map(|e| match e.mac {
                Some(_) => e.expires,
                None => Some(e.last_probe + PROBE_INTERVAL),
            })
            .min()
    }
}
