//! Maps keyed by numbers the kernel hands out itself (node ids, vnodes,
//! pids): hashed with one multiply per word instead of SipHash, which
//! showed up at several percent of a path walk in-process. Only for keys
//! a client cannot choose: a name a client picks keeps the keyed hasher,
//! so nobody can feed the kernel colliding keys.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// An odd constant with well-spread bits (2^64 / the golden ratio), so
/// consecutive ids land in distinct buckets and the high bits hashbrown
/// uses for its tags vary.
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(26) ^ n).wrapping_mul(SPREAD);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n.into());
    }

    #[inline]
    fn write_i32(&mut self, n: i32) {
        self.write_u64(n as u32 as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` keyed by kernel-assigned numbers.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ids_spread_over_buckets_and_tags() {
        let hash = |n: u64| {
            let mut h = IdHasher::default();
            h.write_u64(n);
            h.finish()
        };
        let low: std::collections::HashSet<u64> = (0..1024).map(|n| hash(n) & 1023).collect();
        assert_eq!(low.len(), 1024, "1024 consecutive ids fill 1024 buckets");
        let tags: std::collections::HashSet<u64> = (0..1024).map(|n| hash(n) >> 57).collect();
        assert!(tags.len() > 100, "top-7-bit tags vary: {}", tags.len());
    }
}
