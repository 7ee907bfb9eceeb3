//! The virtual CPU's watchdog: who holds the kernel lock now, and a log
//! line when one call holds it too long.
//!
//! A call records itself (pid, syscall number) as it takes the lock and
//! clears the record when it lets go, sleeping or returning. Each taking
//! bumps a sequence number, so the hot path reads no clock: a watchdog
//! thread that finds the same holder with the same number on two looks a
//! period apart knows that one call has held the CPU for at least a period,
//! and says so once per holding.
//!
//! The thread runs only while calls are made: after `IDLE_LOOKS` looks
//! with no call it ends, and the next call starts it again, so an idle
//! kernel (a network node at rest) keeps no thread for it.

use crate::Shared;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the watchdog looks; a call seen holding the lock on two looks
/// in a row has held it at least this long.
pub const PERIOD: Duration = Duration::from_secs(1);
/// Looks in a row without a call after which the watchdog ends.
const IDLE_LOOKS: u32 = 2;

/// The current holder of the virtual CPU.
#[derive(Default)]
pub struct Holder {
    seq: AtomicU64,
    held: AtomicBool,
    pid: AtomicI32,
    syscall: AtomicU32,
    /// Holdings the watchdog found too long (and logged).
    long: AtomicU64,
    /// Whether a watchdog thread is running (or being started).
    watching: AtomicBool,
}

impl Holder {
    /// A call of `pid` running `syscall` has taken the lock.
    pub fn enter(&self, pid: i32, syscall: u32) {
        self.pid.store(pid, Ordering::Relaxed);
        self.syscall.store(syscall, Ordering::Relaxed);
        self.seq.fetch_add(1, Ordering::SeqCst);
        self.held.store(true, Ordering::Release);
    }

    /// Claims the starting of a watchdog: true when none runs. Read after
    /// `enter`'s bump of the sequence, as the ending watchdog reads the
    /// sequence after giving up its claim, so one of the two sees the other.
    fn claim_watch(&self) -> bool {
        !self.watching.load(Ordering::SeqCst)
            && self.watching.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// The call has let go of the lock (returned or went to sleep).
    pub fn leave(&self) {
        self.held.store(false, Ordering::Release);
    }

    /// How many holdings the watchdog has found too long.
    pub fn long_holds(&self) -> u64 {
        self.long.load(Ordering::Relaxed)
    }

    /// Whether the watchdog has ended for want of calls (or never started).
    #[inline]
    pub fn at_rest(&self) -> bool {
        !self.watching.load(Ordering::SeqCst)
    }

    /// How many times calls have taken the lock so far.
    #[inline]
    pub fn entries(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// The syscall of the current (or last) holding.
    pub fn syscall(&self) -> u32 {
        self.syscall.load(Ordering::Relaxed)
    }

    /// The holding in progress, as (sequence, pid, syscall).
    fn current(&self) -> Option<(u64, i32, u32)> {
        self.held.load(Ordering::Acquire).then(|| {
            (self.seq.load(Ordering::Relaxed), self.pid.load(Ordering::Relaxed), self.syscall.load(Ordering::Relaxed))
        })
    }
}

/// After a call has entered (`Holder::enter`): starts the watchdog of
/// the kernel unless one runs. It ends when the kernel is dropped or no
/// call has been made for `IDLE_LOOKS` periods.
pub(crate) fn ensure(shared: &Arc<Shared>) {
    if !shared.holder.claim_watch() {
        return;
    }
    let kernel = Arc::downgrade(shared);
    let spawned = std::thread::Builder::new().name("rump-watchdog".into()).spawn(move || {
        let mut last_seen: Option<u64> = None;
        let mut last_reported: Option<u64> = None;
        let mut last_seq = None;
        let mut idle = 0;
        loop {
            std::thread::sleep(PERIOD);
            let Some(shared) = kernel.upgrade() else { return };
            let holder = &shared.holder;
            let seq = holder.seq.load(Ordering::SeqCst);
            idle = if last_seq == Some(seq) && !holder.held.load(Ordering::Acquire) { idle + 1 } else { 0 };
            last_seq = Some(seq);
            if idle >= IDLE_LOOKS {
                holder.watching.store(false, Ordering::SeqCst);
                // A call that entered meanwhile saw the claim still held:
                // keep watching for it unless it started a watchdog itself.
                if holder.seq.load(Ordering::SeqCst) == seq || !holder.claim_watch() {
                    return;
                }
                idle = 0;
            }
            let now = holder.current();
            if let Some((seq, pid, syscall)) = now {
                if last_seen == Some(seq) && last_reported != Some(seq) {
                    holder.long.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(pid, syscall, "a call has held the kernel lock for over {PERIOD:?}");
                    last_reported = Some(seq);
                }
            }
            last_seen = now.map(|(seq, ..)| seq);
        }
    });
    if let Err(e) = spawned {
        shared.holder.watching.store(false, Ordering::SeqCst);
        tracing::warn!("no kernel watchdog: {e}");
    }
}
