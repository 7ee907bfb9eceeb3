//! The right edge of the receive window we advertise (acknowledged
//! sequence number plus window) never moves left, as RFC 7323 §2.4 and
//! RFC 1122 §4.2.2.16 ask and Linux does (`tcp_select_window` rounds a
//! window that would shrink up instead). smoltcp advertises its free
//! buffer space rounded down to the window scale's unit, so a segment
//! whose length is not a multiple of the unit moves its edge back by up to
//! a unit less one byte; a segment the sender had already sent up to the
//! old edge is then cut there, and the rest is resent: a retransmission on
//! a clean link.
//!
//! So, for each connection whose window is scaled: an ACK whose edge would
//! recede goes out with the furthest edge advertised so far (rounded up to
//! a unit), and the bytes that arrive beyond smoltcp's own edge but within
//! the advertised one are kept here and handed to smoltcp again once its
//! edge has passed them (its reader made room). That is at most a few
//! units per connection, never more than `MAX_KEPT`.
//!
//! And a segment that repeats bytes smoltcp has acknowledged and runs past
//! its edge goes to smoltcp without those bytes (`trimmed`): smoltcp drops
//! a segment that starts before its window and ends after it, which is
//! what a sender on smoltcp sends after a zero-window probe.

use super::wire::{tcp_option, IpRepr, PROTO_TCP};
use std::collections::HashMap;
use std::net::IpAddr;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const OPT_WSCALE: u8 = 3;
const OPT_SACK: u8 = 5;
/// The largest window scale (RFC 7323 §2.3).
const MAX_SHIFT: u8 = 14;
/// Bytes kept per connection at most; beyond, the sender resends.
const MAX_KEPT: usize = 64 << 10;
/// A connection not heard of for this long is forgotten.
const IDLE_US: u64 = 120_000_000;
/// Connections known at most (a SYN flood makes no more).
const MAX_FLOWS: usize = 1 << 16;

/// (local address, local port, remote address, remote port)
type FlowKey = (IpAddr, u16, IpAddr, u16);

/// `a` is after `b` in sequence space.
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// The fields of a TCP header this layer reads.
struct Header {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    data_off: usize,
    flags: u8,
    window: u16,
}

fn header(seg: &[u8]) -> Option<Header> {
    let b16 = |at: usize| u16::from_be_bytes([seg[at], seg[at + 1]]);
    let b32 = |at: usize| u32::from_be_bytes([seg[at], seg[at + 1], seg[at + 2], seg[at + 3]]);
    let data_off = (*seg.get(12)? >> 4) as usize * 4;
    (data_off >= 20 && data_off <= seg.len()).then(|| Header {
        src_port: b16(0),
        dst_port: b16(2),
        seq: b32(4),
        ack: b32(8),
        data_off,
        flags: seg[13],
        window: b16(14),
    })
}

/// The window scale a SYN offers, if it does (RFC 7323 §2.2).
fn wscale(seg: &[u8]) -> Option<u8> {
    tcp_option(seg, OPT_WSCALE).filter(|&(_, len)| len == 1).map(|(at, _)| seg[at])
}

/// Rewrites the window field of `seg`, updating its checksum in place
/// (RFC 1624's incremental update).
fn set_window(seg: &mut [u8], window: u16) {
    let old = u16::from_be_bytes([seg[14], seg[15]]);
    let sum = u16::from_be_bytes([seg[16], seg[17]]);
    let mut acc = u32::from(!sum) + u32::from(!old) + u32::from(window);
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    seg[14..16].copy_from_slice(&window.to_be_bytes());
    seg[16..18].copy_from_slice(&(!(acc as u16)).to_be_bytes());
}

#[derive(Default)]
struct Flow {
    /// Our window scale, from our SYN.
    ours: Option<u8>,
    /// Whether the peer's SYN offered window scaling.
    peer_scales: bool,
    /// smoltcp's last acknowledgement and the edge it accepts up to.
    own: Option<(u32, u32)>,
    /// The furthest edge advertised.
    offered: Option<u32>,
    /// The acknowledgement and window field of the last ACK sent.
    last_ack: Option<(u32, u16)>,
    /// Bytes beyond smoltcp's edge: the sequence number of the first, and
    /// the bytes.
    kept: Option<(u32, Vec<u8>)>,
    /// The peer's last IP header and TCP header (its options included):
    /// kept bytes go to smoltcp under them, with the newest ACK, window
    /// and timestamp.
    peer: Option<(IpRepr, Vec<u8>)>,
    seen: u64,
}

impl Flow {
    /// The scale our window is advertised with: ours once both SYNs
    /// carried the option (RFC 7323 §2.2), else none.
    fn shift(&self) -> u8 {
        if self.peer_scales {
            self.ours.unwrap_or(0)
        } else {
            0
        }
    }
}

/// Keeps each connection's advertised edge from receding (see the module
/// doc); one per TCP engine.
#[derive(Default)]
pub struct WindowGuard {
    flows: HashMap<FlowKey, Flow>,
    /// The connections with bytes kept, which `due` looks at.
    holding: Vec<FlowKey>,
    now: u64,
}

impl WindowGuard {
    /// A segment from the peer (`ip` its header), before smoltcp takes it;
    /// the segment smoltcp is to take instead, if it must not take this
    /// one as it is (`trimmed`).
    pub fn incoming(&mut self, ip: &IpRepr, seg: &[u8]) -> Option<Vec<u8>> {
        let h = header(seg)?;
        let key = (ip.dst, h.dst_port, ip.src, h.src_port);
        if h.flags & RST != 0 {
            self.flows.remove(&key);
            return None;
        }
        if h.flags & SYN != 0 {
            if let Some(f) = self.flow(key) {
                f.peer_scales = wscale(seg).is_some();
            }
            return None;
        }
        let f = self.flows.get_mut(&key)?;
        let shift = f.shift();
        if shift == 0 {
            return None;
        }
        f.seen = self.now;
        let (peer_ip, peer_header) = f.peer.get_or_insert_with(|| (*ip, Vec::new()));
        *peer_ip = *ip;
        peer_header.clear();
        peer_header.extend_from_slice(&seg[..h.data_off]);
        let (Some((ack, edge)), Some(offered)) = (f.own, f.offered) else { return None };
        // By the time smoltcp takes this segment it may have moved its
        // edge back, by less than a unit.
        let from = edge.wrapping_sub(1 << shift);
        keep(&mut f.kept, h.seq, &seg[h.data_off..], from, offered);
        if f.kept.is_some() && !self.holding.contains(&key) {
            self.holding.push(key);
        }
        trimmed(ip, seg, &h, ack)
    }

    /// A packet smoltcp sends (`pkt`, from its IP header): an ACK whose
    /// edge would recede is rewritten. False if it is to go no further: a
    /// rewritten bare ACK the same as the last one sent. Those are smoltcp's
    /// answers to segments beyond its own edge (bytes kept here) and window
    /// updates the rewrite flattened; the sender would count them as
    /// duplicate ACKs and resend what got through.
    pub fn outgoing(&mut self, pkt: &mut [u8], now: u64) -> bool {
        self.now = now;
        let Some((ip, seg)) = IpRepr::parse(pkt) else { return true };
        if ip.proto != PROTO_TCP {
            return true;
        }
        let range = ip.header_len..ip.header_len + seg.len();
        let seg = &mut pkt[range];
        let Some(h) = header(seg) else { return true };
        let key = (ip.src, h.src_port, ip.dst, h.dst_port);
        if h.flags & RST != 0 {
            self.flows.remove(&key);
            return true;
        }
        if h.flags & SYN != 0 {
            let ours = wscale(seg).map(|s| s.min(MAX_SHIFT));
            if let Some(f) = self.flow(key) {
                *f = Flow { ours, peer_scales: f.peer_scales, seen: now, ..Flow::default() };
            }
            return true;
        }
        let Some(f) = self.flows.get_mut(&key) else { return true };
        let shift = f.shift();
        if h.flags & ACK == 0 || shift == 0 {
            return true;
        }
        f.seen = now;
        let edge = h.ack.wrapping_add(u32::from(h.window) << shift);
        f.own = Some((h.ack, edge));
        let (offered, window) = match f.offered {
            Some(furthest) if after(furthest, edge) => {
                let unit = 1u32 << shift;
                let units = furthest.wrapping_sub(h.ack).div_ceil(unit).min(0xffff) as u16;
                set_window(seg, units);
                let rewritten = h.ack.wrapping_add(u32::from(units) << shift);
                (if after(rewritten, furthest) { rewritten } else { furthest }, Some(units))
            }
            _ => (edge, None),
        };
        f.offered = Some(offered);
        let sent = (h.ack, window.unwrap_or(h.window));
        // A duplicate ACK that reports a hole (SACK blocks) still goes.
        let bare = seg.len() == h.data_off && h.flags & (FIN | SYN | RST) == 0 && tcp_option(seg, OPT_SACK).is_none();
        let again = window.is_some() && bare && f.last_ack == Some(sent);
        f.last_ack = Some(sent);
        !again
    }

    /// Segments to hand smoltcp again: kept bytes from the first it still
    /// expects, once its edge has moved past them. What lies beyond its
    /// edge is kept for a later round.
    pub fn due(&mut self) -> Vec<(IpRepr, Vec<u8>)> {
        let mut out = Vec::new();
        for key in std::mem::take(&mut self.holding) {
            let Some(f) = self.flows.get_mut(&key) else { continue };
            Self::hand_back(f, &mut out);
            if f.kept.is_some() {
                self.holding.push(key);
            }
        }
        out
    }

    /// What `due` hands smoltcp of connection `f`'s kept bytes, into `out`.
    fn hand_back(f: &mut Flow, out: &mut Vec<(IpRepr, Vec<u8>)>) {
        let (Some((ack, edge)), Some((ip, hdr))) = (f.own, &f.peer) else { return };
        let Some((seq, bytes)) = f.kept.take() else { return };
        if after(seq, ack) {
            // A hole before them: the sender fills it first.
            f.kept = Some((seq, bytes));
            return;
        }
        let Some(bytes) = bytes.get(ack.wrapping_sub(seq) as usize..).filter(|b| !b.is_empty()) else { return };
        if !after(edge, ack) {
            f.kept = Some((ack, bytes.to_vec()));
            return;
        }
        let room = edge.wrapping_sub(ack) as usize;
        let mut seg = hdr.clone();
        seg[4..8].copy_from_slice(&ack.to_be_bytes());
        seg[13] = (seg[13] & !(FIN | SYN | RST)) | PSH | ACK;
        seg.extend_from_slice(&bytes[..room.min(bytes.len())]);
        ip.fill_transport_sum(&mut seg, 16);
        out.push((*ip, seg));
        if room < bytes.len() {
            f.kept = Some((edge, bytes[room..].to_vec()));
        }
    }

    /// Connection `key`'s state, made if need be (None when `MAX_FLOWS`
    /// are known: that connection goes unguarded).
    fn flow(&mut self, key: FlowKey) -> Option<&mut Flow> {
        let now = self.now;
        if !self.flows.contains_key(&key) {
            // Swept every so many new connections, so a scan is rare.
            if self.flows.len() % 256 == 255 || self.flows.len() >= MAX_FLOWS {
                self.flows.retain(|_, f| now.saturating_sub(f.seen) < IDLE_US);
            }
            if self.flows.len() >= MAX_FLOWS {
                return None;
            }
        }
        Some(self.flows.entry(key).or_insert_with(|| Flow { seen: now, ..Flow::default() }))
    }
}

/// `seg` without the bytes before `ack` that it repeats, if it starts
/// before `ack` and goes past it. smoltcp takes a segment only if its
/// first or its last byte is inside the window (RFC 9293's test), so one
/// that starts before the window and ends beyond it is dropped whole,
/// though Linux takes what falls inside. That is what a sender on
/// smoltcp sends after a zero-window probe the receiver took: from the
/// probe's byte again, as far as the window reaches, past the edge that
/// moved back a little when the probe's byte was taken.
fn trimmed(ip: &IpRepr, seg: &[u8], h: &Header, ack: u32) -> Option<Vec<u8>> {
    let end = h.seq.wrapping_add((seg.len() - h.data_off) as u32);
    if !after(ack, h.seq) || !after(end, ack) || h.flags & FIN != 0 {
        return None;
    }
    let skip = ack.wrapping_sub(h.seq) as usize;
    let mut out = Vec::with_capacity(seg.len() - skip);
    out.extend_from_slice(&seg[..h.data_off]);
    out[4..8].copy_from_slice(&ack.to_be_bytes());
    out.extend_from_slice(&seg[h.data_off + skip..]);
    ip.fill_transport_sum(&mut out, 16);
    Some(out)
}

/// Adds to `kept` the bytes of `data` (sequence number `seq` first) that
/// lie in [`from`, `until`), if they touch what is kept already.
fn keep(kept: &mut Option<(u32, Vec<u8>)>, seq: u32, data: &[u8], from: u32, until: u32) {
    let end = seq.wrapping_add(data.len() as u32);
    let lo = if after(from, seq) { from } else { seq };
    let hi = if after(end, until) { until } else { end };
    if !after(hi, lo) {
        return;
    }
    let part = &data[lo.wrapping_sub(seq) as usize..hi.wrapping_sub(seq) as usize];
    let (k, old) = kept.take().unwrap_or((lo, Vec::new()));
    let k_end = k.wrapping_add(old.len() as u32);
    let first = if after(k, lo) { lo } else { k };
    let last = if after(hi, k_end) { hi } else { k_end };
    let len = last.wrapping_sub(first) as usize;
    // Not touching what is kept (the older, nearer range stays), or too much.
    if after(lo, k_end) || after(k, hi) || len > MAX_KEPT {
        *kept = Some((k, old)).filter(|(_, b)| !b.is_empty());
        return;
    }
    let mut merged = vec![0u8; len];
    let at = k.wrapping_sub(first) as usize;
    merged[at..at + old.len()].copy_from_slice(&old);
    let at = lo.wrapping_sub(first) as usize;
    merged[at..at + part.len()].copy_from_slice(part);
    *kept = Some((first, merged));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::tcp::Engine;
    use smoltcp::socket::tcp::CongestionControl;
    use std::net::Ipv4Addr;

    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const US: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    /// A receive buffer that takes window scale 2: a unit of 4 bytes.
    const RCVBUF: usize = 128 << 10;

    /// A segment from PEER:1000 to US:80.
    fn segment(seq: u32, ack: u32, flags: u8, opts: &[u8], data: &[u8]) -> (IpRepr, Vec<u8>) {
        let ip = IpRepr::new(PEER, US, PROTO_TCP, 64);
        let mut s = vec![0u8; 20];
        s[0..2].copy_from_slice(&1000u16.to_be_bytes());
        s[2..4].copy_from_slice(&80u16.to_be_bytes());
        s[4..8].copy_from_slice(&seq.to_be_bytes());
        s[8..12].copy_from_slice(&ack.to_be_bytes());
        s[12] = (((20 + opts.len()) / 4) << 4) as u8;
        s[13] = flags;
        s[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
        s.extend_from_slice(opts);
        s.extend_from_slice(data);
        ip.fill_transport_sum(&mut s, 16);
        (ip, s)
    }

    /// (seq, ack, window, flags, wscale option) of each TCP segment in `pkts`.
    fn sent(pkts: &[Vec<u8>]) -> Vec<(u32, u32, u16, u8, Option<u8>)> {
        pkts.iter()
            .filter_map(|p| {
                let (_, seg) = IpRepr::parse(p)?;
                let h = header(seg)?;
                Some((h.seq, h.ack, h.window, h.flags, wscale(seg)))
            })
            .collect()
    }

    /// A sender that fills every window it hears of, one round behind the
    /// receiver (its ACKs are on their way while it sends), with segments
    /// of lengths that are not all multiples of the window unit, and a
    /// reader that takes odd amounts: the sequence that made smoltcp move
    /// its edge back by up to 3 bytes and cut the next segment there. Every
    /// edge advertised must be at or past the one before, and every byte
    /// must arrive although none is ever sent twice.
    #[test]
    fn the_advertised_edge_never_recedes_and_nothing_sent_into_it_is_lost() {
        const TOTAL: u32 = 2 << 20;
        let mut e = Engine::new(0);
        let h = e.add(RCVBUF, 64 << 10, CongestionControl::None);
        e.socket(h).listen(80).unwrap();
        let (ip, syn) = segment(1000, 0, SYN, &[2, 4, 5, 0xb4, 1, 3, 3, 7], &[]);
        e.input(&ip, &syn);
        let synack = sent(&e.poll(1000));
        let &(isn, _, syn_window, _, scale) = synack.first().unwrap();
        assert_eq!(scale, Some(2), "our window scale");
        let first = 1001u32;
        let (ip, ack) = segment(first, isn.wrapping_add(1), ACK, &[], &[]);
        e.input(&ip, &ack);
        e.poll(1500);
        // A SYN's window is not scaled.
        let mut furthest = first.wrapping_add(u32::from(syn_window));
        let lengths = [1460u32, 1001, 1460, 333, 1460, 1460, 7, 1460, 1459];
        let reads = [5001usize, 777, 12345, 64 << 10];
        let (mut next, mut got, mut buf) = (0u32, 0usize, vec![0u8; 64 << 10]);
        let (mut receded, mut last, mut same, mut most_same) = (Vec::new(), None, 0, 0);
        let mut now = 2000;
        // What the receiver sends: every edge at or past the furthest
        // before it, and never an ACK three times over (the sender would
        // take that for a loss and resend).
        let mut hear = |e: &mut Engine, now: u64, furthest: &mut u32| {
            for (_, ack, window, _, _) in sent(&e.poll(now)) {
                let edge = ack.wrapping_add(u32::from(window) << 2);
                if after(*furthest, edge) {
                    receded.push((*furthest, edge));
                } else {
                    *furthest = edge;
                }
                same = if last == Some((ack, window)) { same + 1 } else { 0 };
                most_same = most_same.max(same);
                last = Some((ack, window));
            }
        };
        for round in 0..20_000usize {
            if got == TOTAL as usize {
                break;
            }
            // A burst up to the furthest edge heard; the receiver answers
            // its first half while the second is on its way.
            let heard = furthest;
            let mut burst = Vec::new();
            while next < TOTAL && after(heard, first.wrapping_add(next)) {
                let room = heard.wrapping_sub(first.wrapping_add(next));
                let len = lengths[(round + burst.len()) % lengths.len()].min(room).min(TOTAL - next);
                let data: Vec<u8> = (next..next + len).map(|b| b as u8).collect();
                burst.push(segment(first.wrapping_add(next), isn.wrapping_add(1), ACK | PSH, &[], &data));
                next += len;
            }
            let half = burst.len().div_ceil(2);
            for part in [&burst[..half], &burst[half..]] {
                for (ip, s) in part {
                    e.input(ip, s);
                }
                now += 100;
                hear(&mut e, now, &mut furthest);
            }
            let n = e.socket(h).recv_slice(&mut buf[..reads[round % reads.len()]]).unwrap();
            assert!(buf[..n].iter().enumerate().all(|(k, &b)| b == (got + k) as u8), "bytes out of order at {got}");
            got += n;
            now += 100;
            hear(&mut e, now, &mut furthest);
        }
        assert_eq!(got, TOTAL as usize, "bytes the reader got of those sent once each");
        assert_eq!(receded, vec![], "(edge advertised, a later edge before it)");
        assert!(most_same < 2, "the same ACK {} times over", most_same + 1);
    }

    /// The sequence that cost a retransmission on a clean bus: the
    /// receiver's window closes, its reader frees a little, the sender's
    /// zero-window probe byte is taken (the edge moves back by under a
    /// unit), and the sender, on smoltcp, sends again from the probe's
    /// byte as far as the window it heard reaches. That segment starts
    /// before the window and ends past it; its new bytes must all arrive.
    #[test]
    fn a_segment_from_before_the_window_to_past_it_is_taken() {
        let mut e = Engine::new(0);
        let h = e.add(RCVBUF, 64 << 10, CongestionControl::None);
        e.socket(h).listen(80).unwrap();
        let (ip, syn) = segment(1000, 0, SYN, &[2, 4, 5, 0xb4, 1, 3, 3, 7], &[]);
        e.input(&ip, &syn);
        let (isn, ..) = *sent(&e.poll(1000)).first().unwrap();
        let (first, peer_ack) = (1001u32, isn.wrapping_add(1));
        let (ip, ack) = segment(first, peer_ack, ACK, &[], &[]);
        e.input(&ip, &ack);
        e.poll(1500);
        let byte = |n: u32| (n % 251) as u8;
        let data = |from: u32, len: u32| (from..from + len).map(byte).collect::<Vec<u8>>();
        // Fill the window until it is shut.
        let (mut next, mut now) = (0u32, 2000);
        let mut last = (0, u16::MAX);
        while last.1 != 0 {
            let (ip, s) = segment(first.wrapping_add(next), peer_ack, ACK, &[], &data(next, 1460));
            e.input(&ip, &s);
            now += 10;
            if let Some(&(_, ack, window, _, _)) = sent(&e.poll(now)).last() {
                last = (ack, window);
            }
            next = last.0.wrapping_sub(first);
        }
        // The reader frees 1,300 bytes; the probe's byte is taken.
        let mut buf = vec![0u8; 1300];
        assert_eq!(e.socket(h).recv_slice(&mut buf), Ok(1300));
        now += 10;
        let opened = sent(&e.poll(now));
        let &(_, _, window, _, _) = opened.last().expect("a window update");
        let window = u32::from(window) << 2;
        assert!(window >= 1300, "the window reopened: {window}");
        let (ip, probe) = segment(first.wrapping_add(next), peer_ack, ACK, &[], &data(next, 1));
        e.input(&ip, &probe);
        now += 10;
        let &(_, ack, ..) = sent(&e.poll(now)).last().expect("the probe answered");
        assert_eq!(ack, first.wrapping_add(next + 1), "the probe's byte taken");
        // Again from the probe's byte, as far as the window heard reaches.
        let (ip, s) = segment(first.wrapping_add(next), peer_ack, ACK | PSH, &[], &data(next, window));
        e.input(&ip, &s);
        now += 10;
        // No answer at all is the old ACK, which the guard holds back.
        let ack = sent(&e.poll(now)).last().map_or(first.wrapping_add(next + 1), |&(_, ack, ..)| ack);
        assert!(after(ack, first.wrapping_add(next + 1)), "the segment was dropped whole (ack {ack})");
        // Everything read back in order, the repeated byte once.
        let mut all = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        while let Ok(n @ 1..) = e.socket(h).recv_slice(&mut chunk) {
            all.extend_from_slice(&chunk[..n]);
        }
        let taken = ack.wrapping_sub(first) - 1300;
        assert_eq!(all.len() as u32, taken);
        assert!(all.iter().enumerate().all(|(k, &b)| b == byte(1300 + k as u32)), "bytes out of order");
    }
}
