//! A VXLAN tunnel endpoint (RFC 7348) in user space, as Linux's `vxlan`
//! device with unicast remotes runs one: Ethernet frames travel in UDP
//! (port 4789 by default) behind an 8-byte header carrying the segment's
//! 24-bit VNI. Frames to a MAC learned from a peer's traffic go to that
//! peer; broadcast, multicast and unknown unicast go to every configured
//! peer (head-end replication, as Linux's all-zeros FDB entries do).
//! Learned entries age out after `AGEING` (Linux's default, 300 s).
//!
//! Encapsulation costs 50 bytes over IPv4 (outer IP 20, UDP 8, VXLAN 8,
//! inner Ethernet 14): an inner MTU of 1500 on a 1500-byte underlay needs
//! fragments, which this endpoint allows (DF clear, as Linux's `vxlan`
//! by default); Linux gives its device an MTU of 1450 to avoid them.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::io::AsRawFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// IANA's VXLAN port.
pub const DEFAULT_PORT: u16 = 4789;
/// Bytes VXLAN adds to an inner frame on an IPv4 underlay.
pub const OVERHEAD_V4: usize = 20 + 8 + HEADER_LEN + 14;
const HEADER_LEN: usize = 8;
/// The I flag: the VNI is valid.
const FLAG_VNI: u8 = 0x08;
/// How long a learned MAC stays bound to a peer without traffic from it.
const AGEING: Duration = Duration::from_secs(300);
/// The smallest inner frame: an Ethernet header.
const MIN_FRAME: usize = 14;

/// The VXLAN header for `vni`.
pub fn header(vni: u32) -> [u8; HEADER_LEN] {
    let v = vni.to_be_bytes();
    [FLAG_VNI, 0, 0, 0, v[1], v[2], v[3], 0]
}

/// The VNI and inner frame of a datagram, if it is a well-formed VXLAN
/// packet (I flag set, room for an Ethernet header).
pub fn decap(datagram: &[u8]) -> Option<(u32, &[u8])> {
    if datagram.len() < HEADER_LEN + MIN_FRAME || datagram[0] & FLAG_VNI == 0 {
        return None;
    }
    let vni = u32::from_be_bytes([0, datagram[4], datagram[5], datagram[6]]);
    Some((vni, &datagram[HEADER_LEN..]))
}

/// Whether `mac` is a unicast address (the group bit clear).
fn is_unicast(mac: &[u8]) -> bool {
    mac[0] & 1 == 0
}

/// One VTEP: a bound UDP socket, a VNI, peers and the learned MACs.
pub struct Vtep {
    socket: UdpSocket,
    vni: u32,
    peers: Vec<SocketAddr>,
    fdb: Mutex<HashMap<[u8; 6], (SocketAddr, Instant)>>,
}

impl Vtep {
    /// Binds `local` for segment `vni` with unicast `peers`.
    pub fn bind(local: SocketAddr, vni: u32, peers: Vec<SocketAddr>) -> io::Result<Vtep> {
        if vni >= 1 << 24 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("VNI {vni} does not fit in 24 bits")));
        }
        let socket = UdpSocket::bind(local)?;
        if local.is_ipv4() {
            let dont: libc::c_int = libc::IP_PMTUDISC_DONT;
            // SAFETY: an int option on our own socket.
            unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_MTU_DISCOVER,
                    (&dont as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        Ok(Vtep { socket, vni, peers, fdb: Mutex::new(HashMap::new()) })
    }

    /// Where a frame to `dst` goes: its learned peer, else every peer.
    fn destinations(&self, dst: &[u8]) -> Vec<SocketAddr> {
        if is_unicast(dst) {
            let mut fdb = self.fdb.lock().unwrap_or_else(|e| e.into_inner());
            let mac: [u8; 6] = dst[..6].try_into().unwrap_or_default();
            match fdb.get(&mac) {
                Some((peer, seen)) if seen.elapsed() < AGEING => return vec![*peer],
                Some(_) => {
                    fdb.remove(&mac);
                }
                None => {}
            }
        }
        self.peers.clone()
    }

    /// Sends an Ethernet frame into the segment.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        if frame.len() < MIN_FRAME {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "runt frame"));
        }
        let mut pkt = Vec::with_capacity(HEADER_LEN + frame.len());
        pkt.extend_from_slice(&header(self.vni));
        pkt.extend_from_slice(frame);
        for to in self.destinations(frame) {
            self.socket.send_to(&pkt, to)?;
        }
        Ok(())
    }

    /// The next frame of this segment from a peer, learning its source MAC;
    /// None after a short wait with nothing, or for a packet of another
    /// VNI or from an address that is no peer's (a stray sender cannot
    /// inject frames).
    pub fn recv(&self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65536];
        let (n, from) = self.socket.recv_from(&mut buf).ok()?;
        let (vni, frame) = decap(&buf[..n])?;
        // Senders pick their UDP source port per flow (RFC 7348 §5); the
        // way back is the peer's configured address and port.
        let peer = *self.peers.iter().find(|p| p.ip() == from.ip())?;
        if vni != self.vni {
            return None;
        }
        let src = &frame[6..12];
        if is_unicast(src) {
            let mac: [u8; 6] = src.try_into().unwrap_or_default();
            self.fdb.lock().unwrap_or_else(|e| e.into_inner()).insert(mac, (peer, Instant::now()));
        }
        Some(frame.to_vec())
    }

    /// The learned MACs and the peer each was learned from.
    pub fn learned(&self) -> Vec<([u8; 6], SocketAddr)> {
        let fdb = self.fdb.lock().unwrap_or_else(|e| e.into_inner());
        fdb.iter().map(|(m, (p, _))| (*m, *p)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let mut pkt = header(0x12_3456).to_vec();
        assert_eq!(pkt, [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
        pkt.extend_from_slice(&[0xff; 14]);
        assert_eq!(decap(&pkt), Some((0x12_3456, &[0xff; 14][..])));
        assert_eq!(decap(&pkt[..21]), None, "shorter than an Ethernet header");
        pkt[0] = 0;
        assert_eq!(decap(&pkt), None, "I flag clear");
    }

    #[test]
    fn learns_peers_and_floods_the_unknown() {
        let lo = |last, port| SocketAddr::from(([127, 0, 0, last], port));
        // b sends from some port but listens, as a VTEP, on another.
        let b = UdpSocket::bind(lo(2, 0)).unwrap();
        let (pa, pb) = (lo(3, 4789), lo(2, 4789));
        let v = Vtep::bind(lo(1, 0), 42, vec![pa, pb]).unwrap();
        let me = v.socket.local_addr().unwrap();
        let frame = |dst: [u8; 6], src: [u8; 6]| [&dst[..], &src[..], &[8, 0]].concat();
        let (mac_b, mac_v) = ([2, 0, 0, 0, 0, 0xb], [2, 0, 0, 0, 0, 1]);
        assert_eq!(v.destinations(&mac_b), vec![pa, pb], "unknown: flooded");
        b.send_to(&[&header(42)[..], &frame(mac_v, mac_b)].concat(), me).unwrap();
        assert_eq!(v.recv().unwrap(), frame(mac_v, mac_b));
        assert_eq!(v.learned(), vec![(mac_b, pb)]);
        assert_eq!(v.destinations(&mac_b), vec![pb], "learned: unicast to its peer");
        assert_eq!(v.destinations(&[0xff; 6]), vec![pa, pb], "broadcast: flooded");
        b.send_to(&[&header(43)[..], &frame(mac_v, mac_b)].concat(), me).unwrap();
        assert_eq!(v.recv(), None, "another VNI is dropped");
    }
}
