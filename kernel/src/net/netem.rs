//! Egress impairment on one interface, in netem's vocabulary (loss, delay
//! with jitter, duplication, reordering, rate, queue limit), without root:
//! frames an interface sends pass through its `Netem` before the bus.
//!
//! Every random decision is a pure function of (seed, frame number,
//! decision kind), so the same seed gives the same pattern of drops,
//! copies and delays for the same sequence of frames, whatever else
//! happened in between. Delayed frames wait in a FIFO queue that the
//! stack's timer thread drains: jitter never reorders frames (netem's
//! tfifo does); reordering is its own knob, as `reorder` is netem's.

use std::collections::VecDeque;

/// Parts per million, the unit of the probabilities below.
pub const PPM: u32 = 1_000_000;

/// What the impairment does; all zero is a transparent link. Laid out
/// as SIOCSIFNETEM carries it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spec {
    /// Chance a frame is dropped.
    pub loss_ppm: u32,
    /// Chance a frame is sent twice.
    pub duplicate_ppm: u32,
    /// Chance a frame skips the delay and goes out at once, ahead of the
    /// frames waiting (netem's `reorder`; needs a delay to mean anything).
    pub reorder_ppm: u32,
    /// Frames that may wait at once; beyond that a frame is dropped.
    pub limit: u32,
    pub delay_us: u64,
    /// The delay is spread uniformly over delay ± jitter.
    pub jitter_us: u64,
    /// Link rate in bits per second; 0 is unlimited.
    pub rate_bps: u64,
    pub seed: u64,
}

/// netem's default queue limit.
pub const DEFAULT_LIMIT: u32 = 1000;

/// What happened to the frames so far, as SIOCGIFNETEM returns it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames handed to the impairment.
    pub frames: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    /// Dropped because the queue was full.
    pub overlimit: u64,
}

struct Held {
    due: u64,
    frame: Vec<u8>,
    /// The socket whose send buffer this frame is charged to until it
    /// leaves (see `Owner`).
    owner: Option<Owner>,
}

/// Who sent a frame, for send-buffer accounting: a socket id and the
/// bytes charged to it. A frame waiting here counts against its sender's
/// send buffer, as an skb in a Linux qdisc counts in sk_wmem_alloc, so a
/// sender faster than the link blocks instead of overflowing the queue.
pub type Owner = (usize, usize);

pub struct Netem {
    pub spec: Spec,
    pub counters: Counters,
    queue: VecDeque<Held>,
    /// When the link is free again, for the rate (µs).
    link_free: u64,
    /// Charges of frames that left (sent or dropped), for the stack to
    /// give back to their senders.
    released: Vec<Owner>,
}

/// The decisions drawn for each frame, each from its own stream.
#[derive(Clone, Copy)]
enum Draw {
    Loss = 1,
    Duplicate,
    Reorder,
    Jitter,
}

impl Netem {
    pub fn new(spec: Spec) -> Netem {
        Netem { spec, counters: Counters::default(), queue: VecDeque::new(), link_free: 0, released: Vec::new() }
    }

    /// A uniform 64-bit value for frame `n`'s decision `d` (SplitMix64's
    /// finaliser over the mixed inputs).
    fn draw(&self, n: u64, d: Draw) -> u64 {
        let mut z =
            self.spec.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (d as u64).wrapping_mul(0xd1b5_4a32_d192_ed03);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&self, n: u64, d: Draw, ppm: u32) -> bool {
        ppm > 0 && self.draw(n, d) % u64::from(PPM) < u64::from(ppm)
    }

    /// Takes frame number `self.counters.frames` at `now` (µs): appends
    /// to `out` what goes on the wire now and queues the rest. Returns
    /// whether `owner` was charged: the frame waits here with its charge.
    pub fn enqueue(&mut self, now: u64, frame: Vec<u8>, owner: Option<Owner>, out: &mut Vec<Vec<u8>>) -> bool {
        let n = self.counters.frames;
        self.counters.frames += 1;
        if self.chance(n, Draw::Loss, self.spec.loss_ppm) {
            self.counters.lost += 1;
            return false;
        }
        let copies = if self.chance(n, Draw::Duplicate, self.spec.duplicate_ppm) {
            self.counters.duplicated += 1;
            2
        } else {
            1
        };
        if self.spec.delay_us > 0 && self.chance(n, Draw::Reorder, self.spec.reorder_ppm) {
            self.counters.reordered += 1;
            out.extend(std::iter::repeat_n(frame, copies));
            return false;
        }
        let mut due = now + self.delay_for(n);
        if let Some(wire_us) = (frame.len() as u64 * 8 * 1_000_000).checked_div(self.spec.rate_bps) {
            due = due.max(self.link_free);
            self.link_free = due + wire_us;
        }
        if let Some(last) = self.queue.back() {
            due = due.max(last.due);
        }
        let mut owner = owner;
        for _ in 0..copies {
            if due <= now && self.queue.is_empty() {
                out.push(frame.clone());
            } else if self.queue.len() >= self.spec.limit as usize {
                self.counters.overlimit += 1;
            } else {
                // A duplicate is the link's doing: only one copy is charged.
                self.queue.push_back(Held { due, frame: frame.clone(), owner: owner.take() });
            }
        }
        owner.is_none()
    }

    fn delay_for(&self, n: u64) -> u64 {
        let j = self.spec.jitter_us;
        if j == 0 {
            return self.spec.delay_us;
        }
        let offset = self.draw(n, Draw::Jitter) % (2 * j + 1);
        (self.spec.delay_us + offset).saturating_sub(j)
    }

    /// The queued frames whose time has come, in order.
    pub fn due(&mut self, now: u64) -> Vec<Vec<u8>> {
        let ready = self.queue.iter().take_while(|h| h.due <= now).count();
        let mut frames = Vec::with_capacity(ready);
        for h in self.queue.drain(..ready) {
            self.released.extend(h.owner);
            frames.push(h.frame);
        }
        frames
    }

    /// The charges of frames that left since last asked.
    pub fn take_released(&mut self) -> Vec<Owner> {
        std::mem::take(&mut self.released)
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.queue.front().map(|h| h.due)
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(spec: Spec, frames: u64) -> (Netem, Vec<u64>) {
        let mut n = Netem::new(spec);
        let mut sent = Vec::new();
        for i in 0..frames {
            let mut out = Vec::new();
            n.enqueue(i * 10, i.to_be_bytes().to_vec(), None, &mut out);
            out.extend(n.due(i * 10));
            sent.extend(out.iter().map(|f| u64::from_be_bytes(f[..8].try_into().unwrap())));
        }
        sent.extend(n.due(u64::MAX).iter().map(|f| u64::from_be_bytes(f[..8].try_into().unwrap())));
        (n, sent)
    }

    fn spec() -> Spec {
        Spec { limit: DEFAULT_LIMIT, seed: 42, ..Spec::default() }
    }

    #[test]
    fn transparent_by_default() {
        let (n, sent) = run(spec(), 100);
        assert_eq!(sent, (0..100).collect::<Vec<_>>());
        assert_eq!(n.counters, Counters { frames: 100, ..Counters::default() });
    }

    #[test]
    fn loss_is_near_its_rate_and_repeats_with_the_seed() {
        let s = Spec { loss_ppm: 100_000, ..spec() };
        let (n, a) = run(s, 10_000);
        assert!((900..1100).contains(&n.counters.lost), "{:?}", n.counters);
        assert_eq!(a, run(s, 10_000).1);
        assert_ne!(a, run(Spec { seed: 43, ..s }, 10_000).1);
    }

    #[test]
    fn delay_with_jitter_keeps_order_and_bounds() {
        let s = Spec { delay_us: 20_000, jitter_us: 5_000, ..spec() };
        let mut n = Netem::new(s);
        let mut out = Vec::new();
        n.enqueue(0, vec![1], None, &mut out);
        assert!(out.is_empty());
        let at = n.next_deadline().unwrap();
        assert!((15_000..=25_000).contains(&at), "{at}");
        assert!(n.due(at - 1).is_empty());
        assert_eq!(n.due(at), vec![vec![1]]);
        let (_, sent) = run(s, 500);
        assert_eq!(sent, (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn duplicate_reorder_rate_and_limit() {
        let (n, sent) = run(Spec { duplicate_ppm: PPM, ..spec() }, 10);
        assert_eq!(sent.len(), 20);
        assert_eq!(n.counters.duplicated, 10);
        let (n, sent) = run(Spec { delay_us: 1_000, reorder_ppm: 250_000, ..spec() }, 400);
        assert!(n.counters.reordered > 50);
        assert_ne!(sent, (0..400).collect::<Vec<_>>());
        // 1000-byte frames at 8 Mbit/s leave 1 ms apart.
        let mut r = Netem::new(Spec { rate_bps: 8_000_000, ..spec() });
        let mut out = Vec::new();
        for _ in 0..3 {
            r.enqueue(0, vec![0; 1000], None, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(r.next_deadline(), Some(1_000));
        assert_eq!(r.due(1_999).len(), 1);
        assert_eq!(r.due(2_000).len(), 1);
        let mut l = Netem::new(Spec { delay_us: 10, limit: 2, ..spec() });
        for _ in 0..5 {
            l.enqueue(0, vec![0], None, &mut out);
        }
        assert_eq!((l.queued(), l.counters.overlimit), (2, 3));
    }

    #[test]
    fn queued_frames_hold_their_senders_charge_until_they_leave() {
        let mut r = Netem::new(Spec { rate_bps: 8_000_000, duplicate_ppm: PPM, ..spec() });
        let mut out = Vec::new();
        // The first frame (and its copy) go at once: nothing is charged.
        assert!(!r.enqueue(0, vec![0; 1000], Some((3, 1000)), &mut out));
        // The second waits for the link, 1 ms; its copy waits uncharged.
        assert!(r.enqueue(0, vec![0; 1000], Some((4, 1000)), &mut out));
        assert_eq!((out.len(), r.queued()), (2, 2));
        assert!(r.due(999).is_empty());
        assert!(r.take_released().is_empty());
        assert_eq!(r.due(1_000).len(), 2);
        assert_eq!(r.take_released(), vec![(4, 1000)]);
    }
}
