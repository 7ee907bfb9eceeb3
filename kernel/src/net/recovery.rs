//! Loss recovery for the TCP segments we send over real links, beside
//! smoltcp's own. smoltcp 0.14 ignores the SACK blocks it is sent, waits
//! at least 1 s before a retransmission, keeps a backed-off timeout until
//! a clean RTT sample (which heavy loss rarely allows: at 10% loss its
//! timeout climbs to 16, 32, 60 s) and then resends everything in flight.
//! So this layer keeps a copy of each data segment until it is
//! acknowledged and resends, as Linux would: the holes the peer's SACK
//! blocks (or three duplicate ACKs) point at, at most once per round
//! trip, and the oldest segment when it has waited longer than an RTO
//! computed as RFC 6298's with Linux's 200 ms floor, backed off while
//! nothing gets through and reset as soon as something does. Duplicates it may
//! cause are harmless to TCP; smoltcp's own timers stay as a backstop.
//!
//! Watching every segment also gives each connection the figures smoltcp
//! keeps private (`FlowStats`: RTT, RTO, retransmissions whoever made
//! them, timeouts, bytes acknowledged, flight), which `tcpinfo` reports.

use super::wire::IpRepr;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Linux's TCP_RTO_MIN and TCP_TIMEOUT_INIT.
const RTO_MIN_US: u64 = 200_000;
const RTO_INIT_US: u64 = 1_000_000;
const RTO_MAX_US: u64 = 60_000_000;
/// Bytes kept per connection; beyond, segments are left to smoltcp.
const MAX_KEPT: usize = 8 << 20;
/// Retransmissions one ACK may cause.
const BURST: usize = 16;
/// A connection with nothing in flight is forgotten after this long.
const IDLE_US: u64 = 120_000_000;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const OPT_SACK: u8 = 5;

/// (local address, local port, remote address, remote port)
type FlowKey = (IpAddr, u16, IpAddr, u16);

struct Seg {
    seq: u32,
    end: u32,
    ip: IpRepr,
    bytes: Vec<u8>,
    sent_at: u64,
    resent: bool,
    sacked: bool,
}

#[derive(Default)]
struct Flow {
    segs: VecDeque<Seg>,
    kept: usize,
    snd_una: u32,
    dupacks: u32,
    /// The window field of the peer's last segment: an ACK that changes
    /// it is a window update, not a duplicate ACK.
    peer_window: Option<u16>,
    srtt: u64,
    rttvar: u64,
    /// RFC 6298's timeout, and the one in force (backed off).
    base_rto: u64,
    rto: u64,
    last_seen: u64,
    /// The highest sequence number sent, for telling retransmissions apart.
    high: Option<u32>,
    /// The peer last advertised a zero window: what goes out again then
    /// is a window probe, not a retransmission.
    peer_closed: bool,
    /// Where smoltcp's last window probe went: it probes with the next
    /// new byte, which the peer refuses, and sends that byte again once
    /// the window opens. Linux probes with old data, so neither counts as
    /// a retransmission there, nor here.
    probe_at: Option<u32>,
    stats: FlowStats,
}

/// What `TCP_INFO` reports of a connection we sent data on over a link:
/// counted here because smoltcp keeps its own figures private.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowStats {
    /// Smoothed round-trip time and its variation (µs), 0 before a sample.
    pub srtt: u64,
    pub rttvar: u64,
    /// The retransmission timeout in force (µs).
    pub rto: u64,
    /// Data segments sent, first transmissions and retransmissions.
    pub segs_out: u64,
    /// Segments sent again, by smoltcp or by this layer (window probes
    /// are not retransmissions).
    pub retrans: u64,
    /// Timeouts in a row without progress (tcpi_backoff).
    pub backoff: u8,
    /// Retransmissions a timeout made (Linux's TCPTimeouts): on a link
    /// that loses nothing, only a peer stalled past the RTO causes them.
    pub timeouts: u64,
    /// Segments and bytes sent and not yet acknowledged.
    pub unacked: u32,
    pub in_flight: u64,
    /// Bytes the peer has acknowledged.
    pub bytes_acked: u64,
}

#[derive(Default)]
pub struct Recovery {
    flows: HashMap<FlowKey, Flow>,
    totals: Totals,
}

/// The kernel's counts over every connection that ever sent data on a
/// link (Linux's `Tcp: RetransSegs` and `TcpExt: TCPTimeouts`).
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    pub retrans: u64,
    pub timeouts: u64,
}

/// `a` is before `b` in sequence space.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// seq, ack, flags, header length of a TCP segment.
fn header(seg: &[u8]) -> Option<(u32, u32, u8, usize)> {
    let word = |i: usize| seg.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let hlen = (*seg.get(12)? as usize >> 4) * 4;
    (hlen >= 20 && hlen <= seg.len()).then_some((word(4)?, word(8)?, *seg.get(13)?, hlen))
}

fn ports(seg: &[u8]) -> Option<(u16, u16)> {
    let b = seg.get(0..4)?;
    Some((u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]])))
}

/// The SACK blocks among a segment's options.
fn sack_blocks(opts: &[u8]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let Some(&len) = opts.get(i + 1) else { break };
                let len = len as usize;
                if len < 2 || i + len > opts.len() {
                    break;
                }
                if kind == OPT_SACK {
                    for b in opts[i + 2..i + len].chunks_exact(8) {
                        let v = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
                        out.push((v(0), v(4)));
                    }
                }
                i += len;
            }
        }
    }
    out
}

impl Flow {
    fn new(now: u64) -> Flow {
        Flow { base_rto: RTO_INIT_US, rto: RTO_INIT_US, last_seen: now, ..Flow::default() }
    }

    /// RFC 6298's estimator, fed with ACKs of segments sent once.
    fn sample(&mut self, rtt: u64) {
        if self.srtt == 0 {
            self.srtt = rtt.max(1);
            self.rttvar = rtt / 2;
        } else {
            self.rttvar = (3 * self.rttvar + self.srtt.abs_diff(rtt)) / 4;
            self.srtt = (7 * self.srtt + rtt) / 8;
        }
        self.base_rto = (self.srtt + 4 * self.rttvar).clamp(RTO_MIN_US, RTO_MAX_US);
    }

    /// Queues `seg` to go again; `sent` counts it when it does.
    fn resend(seg: &mut Seg, now: u64, out: &mut Vec<(IpRepr, Vec<u8>)>) {
        seg.sent_at = now;
        seg.resent = true;
        out.push((seg.ip, seg.bytes.clone()));
    }

    fn stats(&self) -> FlowStats {
        let in_flight = self.segs.iter().filter(|s| !s.sacked).map(|s| u64::from(s.end.wrapping_sub(s.seq))).sum();
        FlowStats {
            srtt: self.srtt,
            rttvar: self.rttvar,
            rto: self.rto,
            backoff: (self.rto / self.base_rto.max(1)).max(1).ilog2() as u8,
            unacked: self.segs.len() as u32,
            in_flight,
            ..self.stats
        }
    }
}

impl Recovery {
    /// Notes a segment we send over a link (not loopback).
    pub fn sent(&mut self, ip: &IpRepr, seg: &[u8], now: u64) {
        let (Some((seq, _, flags, hlen)), Some((sp, dp))) = (header(seg), ports(seg)) else { return };
        let key = (ip.src, sp, ip.dst, dp);
        if flags & RST != 0 {
            self.flows.remove(&key);
            return;
        }
        let len = (seg.len() - hlen) as u32 + u32::from(flags & (SYN | FIN) != 0);
        if len == 0 || flags & SYN != 0 {
            return;
        }
        let f = self.flows.entry(key).or_insert_with(|| Flow::new(now));
        f.last_seen = now;
        f.stats.segs_out += 1;
        let end = seq.wrapping_add(len);
        let probe = f.peer_closed || f.probe_at == Some(seq);
        if f.high.is_some_and(|h| before(seq, h)) && !probe {
            f.stats.retrans += 1;
            self.totals.retrans += 1;
        }
        f.probe_at = (f.peer_closed && len == 1).then_some(seq).or(f.probe_at.filter(|&p| p != seq));
        if f.high.is_none_or(|h| before(h, end)) {
            f.high = Some(end);
        }
        if f.segs.back().is_some_and(|b| before(seq, b.end)) {
            // smoltcp's own retransmission: the kept segments are in
            // sequence order, so find it by bisection.
            let at = f.segs.partition_point(|s| before(s.seq, seq));
            if let Some(s) = f.segs.get_mut(at).filter(|s| s.seq == seq) {
                s.sent_at = now;
                s.resent = true;
            }
            return;
        }
        if f.kept + seg.len() > MAX_KEPT {
            return;
        }
        if f.segs.is_empty() {
            f.snd_una = seq;
        }
        f.kept += seg.len();
        f.segs.push_back(Seg { seq, end, ip: *ip, bytes: seg.to_vec(), sent_at: now, resent: false, sacked: false });
    }

    /// Reads an incoming segment's ACK and SACK blocks; returns what to
    /// send again now.
    pub fn received(&mut self, ip: &IpRepr, seg: &[u8], now: u64) -> Vec<(IpRepr, Vec<u8>)> {
        let mut out = Vec::new();
        let (Some((_, ack, flags, hlen)), Some((sp, dp))) = (header(seg), ports(seg)) else { return out };
        let key = (ip.dst, dp, ip.src, sp);
        if flags & RST != 0 {
            self.flows.remove(&key);
            return out;
        }
        let Some(f) = self.flows.get_mut(&key) else { return out };
        f.last_seen = now;
        let window = u16::from_be_bytes([seg[14], seg[15]]);
        let window_update = f.peer_window.replace(window).is_some_and(|w| w != window);
        f.peer_closed = window == 0;
        if before(f.snd_una, ack) {
            // Only the segment whose arrival made this ACK times a round
            // trip, and only if it was sent once and not already SACKed
            // (the others waited behind a hole).
            if f.high.is_some_and(|h| !before(h, ack)) {
                f.stats.bytes_acked += u64::from(ack.wrapping_sub(f.snd_una));
            }
            let mut sample = None;
            while f.segs.front().is_some_and(|s| !before(ack, s.end)) {
                let s = f.segs.pop_front().expect("checked");
                f.kept -= s.bytes.len();
                sample = (s.end == ack && !s.resent && !s.sacked).then(|| now.saturating_sub(s.sent_at));
            }
            if let Some(rtt) = sample {
                f.sample(rtt);
            }
            // All of a kept segment's data acknowledged but not its FIN:
            // a peer on smoltcp takes a FIN only in a segment that starts
            // at its window, so a verbatim resend would be ignored
            // forever. smoltcp sends the bare FIN again itself (and that
            // segment is kept in turn).
            if f.segs.front().is_some_and(|s| s.seq != ack && s.end == ack.wrapping_add(1) && s.bytes[13] & FIN != 0) {
                let s = f.segs.pop_front().expect("checked");
                f.kept -= s.bytes.len();
            }
            f.snd_una = ack;
            f.dupacks = 0;
            // New data got through: the path works, so no more backing
            // off (as Linux clears its backoff on forward progress).
            f.rto = f.base_rto;
        } else if ack == f.snd_una
            && seg.len() == hlen
            && flags & (SYN | FIN) == 0
            && !f.segs.is_empty()
            && !window_update
            && !f.peer_closed
        {
            // A duplicate ACK as RFC 5681 and Linux define it: nothing but
            // a repeated acknowledgement. A window update (the peer's
            // reader freed room) or the refusal of a window probe (a zero
            // window) says nothing about loss, and counting them resent
            // smoltcp's probe byte once the window opened.
            f.dupacks += 1;
        }
        let blocks = sack_blocks(&seg[20..hlen]);
        let mut sack_rtt = None;
        for s in f.segs.iter_mut().filter(|s| !s.sacked) {
            if blocks.iter().any(|&(l, r)| !before(s.seq, l) && !before(r, s.end)) {
                s.sacked = true;
                if !s.resent {
                    sack_rtt = Some(now.saturating_sub(s.sent_at));
                }
            }
        }
        if let Some(rtt) = sack_rtt {
            f.sample(rtt);
        }
        // Holes: unacknowledged segments below the highest SACKed one
        // (or, without SACK, the first after three duplicate ACKs).
        let highest = f.segs.iter().rposition(|s| s.sacked);
        let holes_end = match highest {
            Some(h) => h,
            None if f.dupacks >= 3 => 1.min(f.segs.len()),
            None => 0,
        };
        // A hole goes again at once (Linux's fast retransmit); once resent,
        // not before a round trip has passed (or, before any sample, a
        // quarter of the minimum RTO).
        let again = if f.srtt > 0 { f.srtt + f.rttvar } else { RTO_MIN_US / 4 };
        let due = |s: &Seg| !s.sacked && (!s.resent || now.saturating_sub(s.sent_at) >= again);
        for s in f.segs.iter_mut().take(holes_end).filter(|s| due(s)).take(BURST) {
            Flow::resend(s, now, &mut out);
        }
        out
    }

    /// Resends the oldest segment of each connection whose timeout ran
    /// out, backing that timeout off; forgets idle connections.
    pub fn tick(&mut self, now: u64) -> Vec<(IpRepr, Vec<u8>)> {
        let mut out = Vec::new();
        self.flows.retain(|_, f| !f.segs.is_empty() || now.saturating_sub(f.last_seen) < IDLE_US);
        for f in self.flows.values_mut() {
            let rto = f.rto;
            if let Some(s) = f.segs.iter_mut().find(|s| !s.sacked) {
                if now.saturating_sub(s.sent_at) >= rto {
                    f.stats.timeouts += 1;
                    self.totals.timeouts += 1;
                    Flow::resend(s, now, &mut out);
                    f.rto = (f.rto * 2).min(RTO_MAX_US);
                }
            }
        }
        out
    }

    /// The figures of the connection from `local` to `remote`, if it has
    /// sent data over a link.
    pub fn stats(&self, local: (IpAddr, u16), remote: (IpAddr, u16)) -> Option<FlowStats> {
        self.flows.get(&(local.0, local.1, remote.0, remote.1)).map(Flow::stats)
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.flows.values().filter_map(|f| f.segs.iter().find(|s| !s.sacked).map(|s| s.sent_at + f.rto)).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    fn seg(seq: u32, ack: u32, data: usize, sack: &[(u32, u32)]) -> Vec<u8> {
        let opts = if sack.is_empty() { 0 } else { 4 + 8 * sack.len() };
        let hlen = 20 + opts;
        let mut s = vec![0u8; hlen + data];
        s[0..2].copy_from_slice(&1000u16.to_be_bytes());
        s[2..4].copy_from_slice(&80u16.to_be_bytes());
        s[4..8].copy_from_slice(&seq.to_be_bytes());
        s[8..12].copy_from_slice(&ack.to_be_bytes());
        s[12] = (hlen as u8 / 4) << 4;
        s[13] = 0x10;
        if !sack.is_empty() {
            s[20..24].copy_from_slice(&[1, 1, OPT_SACK, 2 + 8 * sack.len() as u8]);
            for (i, (l, r)) in sack.iter().enumerate() {
                s[24 + 8 * i..28 + 8 * i].copy_from_slice(&l.to_be_bytes());
                s[28 + 8 * i..32 + 8 * i].copy_from_slice(&r.to_be_bytes());
            }
        }
        s
    }

    /// The peer's ACK: from B:80 to A:1000, advertising `window`.
    fn ack_window(ack: u32, window: u16, sack: &[(u32, u32)]) -> (IpRepr, Vec<u8>) {
        let mut s = seg(0, ack, 0, sack);
        s[0..2].copy_from_slice(&80u16.to_be_bytes());
        s[2..4].copy_from_slice(&1000u16.to_be_bytes());
        s[14..16].copy_from_slice(&window.to_be_bytes());
        (IpRepr::new(B, A, 6, 64), s)
    }

    fn ack(ack: u32, sack: &[(u32, u32)]) -> (IpRepr, Vec<u8>) {
        ack_window(ack, 0x2000, sack)
    }

    fn seqs(out: &[(IpRepr, Vec<u8>)]) -> Vec<u32> {
        out.iter().map(|(_, s)| header(s).unwrap().0).collect()
    }

    #[test]
    fn resends_sack_holes_and_times_out() {
        let mut r = Recovery::default();
        let ip = IpRepr::new(A, B, 6, 64);
        for i in 0..5u32 {
            r.sent(&ip, &seg(1 + 100 * i, 1, 100, &[]), 0);
        }
        // Segment 1 (101..201) lost; the peer SACKs 201..501.
        let (bip, b) = ack(101, &[]);
        assert!(r.received(&bip, &b, 10_000).is_empty());
        let (bip, b) = ack(101, &[(201, 501)]);
        assert_eq!(seqs(&r.received(&bip, &b, 300_000)), vec![101]);
        // Not again within a round trip ...
        assert!(r.received(&bip, &b, 301_000).is_empty());
        // ... and all acknowledged: nothing kept, nothing due.
        let (bip, b) = ack(501, &[]);
        assert!(r.received(&bip, &b, 400_000).is_empty());
        assert_eq!(r.next_deadline(), None);
        // A lone segment whose ACK never comes is resent after the RTO.
        r.sent(&ip, &seg(501, 1, 100, &[]), 500_000);
        let due = r.next_deadline().unwrap();
        assert!(r.tick(due - 1).is_empty());
        assert_eq!(seqs(&r.tick(due)), vec![501]);
        assert!(r.next_deadline().unwrap() > due + (due - 500_000));
    }

    #[test]
    fn three_duplicate_acks_without_sack() {
        let mut r = Recovery::default();
        let ip = IpRepr::new(A, B, 6, 64);
        for i in 0..4u32 {
            r.sent(&ip, &seg(1 + 100 * i, 1, 100, &[]), 0);
        }
        let (bip, b) = ack(1, &[]);
        let mut out = Vec::new();
        for t in 1..=3 {
            out = r.received(&bip, &b, 100_000 * t);
        }
        assert_eq!(seqs(&out), vec![1]);
    }

    /// What a stalled receiver sends: the refusal of smoltcp's window
    /// probe, then window updates as its reader frees room. None is a
    /// duplicate ACK; resending the probe byte on them made the data
    /// segment that followed count as a retransmission.
    #[test]
    fn window_updates_and_probe_refusals_are_not_duplicate_acks() {
        let mut r = Recovery::default();
        let ip = IpRepr::new(A, B, 6, 64);
        let stats = |r: &Recovery| r.stats((A, 1000), (B, 80)).unwrap();
        r.sent(&ip, &seg(1, 1, 100, &[]), 0);
        let (bip, b) = ack_window(101, 0, &[]);
        assert!(r.received(&bip, &b, 1_000).is_empty());
        // The probe: the next new byte, which the closed window refuses.
        r.sent(&ip, &seg(101, 1, 1, &[]), 2_000);
        for (t, window) in [(3_000, 0), (4_000, 0x100), (5_000, 0x800), (6_000, 0x1000)] {
            let (bip, b) = ack_window(101, window, &[]);
            assert!(r.received(&bip, &b, t).is_empty(), "resent on window {window:#x}");
        }
        // The window is open: smoltcp sends the probed byte again with new
        // data, which Linux would not count as a retransmission either.
        r.sent(&ip, &seg(101, 1, 100, &[]), 7_000);
        assert_eq!(stats(&r).retrans, 0);
        // With data in flight, window updates alone resend nothing, but
        // three true duplicates still do.
        r.sent(&ip, &seg(201, 1, 100, &[]), 7_000);
        for window in [0x1100, 0x1200, 0x1300] {
            let (bip, b) = ack_window(101, window, &[]);
            assert!(r.received(&bip, &b, 100_000).is_empty(), "resent on window {window:#x}");
        }
        let (bip, b) = ack_window(101, 0x1300, &[]);
        let mut out = Vec::new();
        for t in 1..=3 {
            out = r.received(&bip, &b, 100_000 + t);
        }
        assert_eq!(seqs(&out), vec![101]);
    }

    #[test]
    fn a_fin_whose_data_is_acknowledged_is_left_to_smoltcp() {
        let mut r = Recovery::default();
        let ip = IpRepr::new(A, B, 6, 64);
        let mut fin = seg(1000, 0, 100, &[]);
        fin[13] |= FIN;
        r.sent(&ip, &fin, 0);
        let (aip, a) = ack(1100, &[]);
        r.received(&aip, &a, 10);
        // Nothing kept: no timeout resends the segment the peer ignores.
        assert!(r.tick(RTO_MAX_US * 2).is_empty());
    }

    #[test]
    fn garbage_is_ignored() {
        let mut r = Recovery::default();
        let ip = IpRepr::new(A, B, 6, 64);
        for junk in [&[][..], &[1, 2, 3], &[0; 12], &[0xff; 40]] {
            r.sent(&ip, junk, 0);
            assert!(r.received(&ip, junk, 0).is_empty());
        }
    }
}
