//! The kernel's one clock. Everything that needs the time reads it here, so a
//! virtual clock can replace the host's.

use rump_abi::native::errno::EINVAL;
use rump_abi::Errno;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A point in time: seconds and nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

impl Timespec {
    pub const ZERO: Timespec = Timespec { sec: 0, nsec: 0 };

    pub fn from_nanos(ns: i128) -> Timespec {
        Timespec { sec: ns.div_euclid(1_000_000_000) as i64, nsec: ns.rem_euclid(1_000_000_000) as i64 }
    }

    pub fn as_nanos(self) -> i128 {
        self.sec as i128 * 1_000_000_000 + self.nsec as i128
    }

    /// A caller-supplied timespec is valid when its nanoseconds are in range.
    pub fn is_valid(self) -> bool {
        (0..1_000_000_000).contains(&self.nsec)
    }

    /// A caller's relative timeout as the instant it ends (None: too far
    /// off to tell from never); EINVAL when negative or out of range.
    pub fn deadline(self) -> Result<Option<Instant>, Errno> {
        if self.sec < 0 || !self.is_valid() {
            return Err(EINVAL);
        }
        Ok(Instant::now().checked_add(Duration::new(self.sec as u64, self.nsec as u32)))
    }
}

pub trait Clock: Send + Sync {
    /// Wall-clock time (CLOCK_REALTIME).
    fn realtime(&self) -> Timespec;
    /// Time since an arbitrary start that never goes back (CLOCK_MONOTONIC).
    fn monotonic(&self) -> Timespec;
}

/// The host's clocks.
pub struct HostClock;

impl Clock for HostClock {
    fn realtime(&self) -> Timespec {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timespec { sec: d.as_secs() as i64, nsec: d.subsec_nanos() as i64 }
    }

    fn monotonic(&self) -> Timespec {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        Timespec { sec: ts.tv_sec, nsec: ts.tv_nsec }
    }
}
