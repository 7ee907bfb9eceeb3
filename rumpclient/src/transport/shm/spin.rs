//! The adaptive spin before a futex sleep: a wait that ends while spinning
//! costs no system call on either side, but spinning longer than waits
//! last only burns a CPU. The budget grows toward twice the waits that
//! ended while spinning and halves after each that did not, within
//! `[MIN, MAX]`; on a single CPU there is no spinning at all, and
//! `RUMP_SHM_SPIN_NS` sets the ceiling (0: never spin, as on a machine
//! whose CPUs are all busy).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const MIN_NS: u32 = 1_000;
const MAX_NS: u32 = 50_000;

/// A spin budget shared by the threads of one side of a channel.
#[derive(Debug)]
pub struct Spin {
    budget_ns: AtomicU32,
    max_ns: u32,
}

impl Default for Spin {
    fn default() -> Spin {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let max = std::env::var("RUMP_SHM_SPIN_NS").ok().and_then(|v| v.parse().ok()).unwrap_or(MAX_NS);
        let max = if cpus > 1 { max.min(MAX_NS) } else { 0 };
        Spin { budget_ns: AtomicU32::new(max / 4), max_ns: max }
    }
}

impl Spin {
    /// Spins until `done` returns `Some` or the budget runs out.
    pub fn run<T>(&self, mut done: impl FnMut() -> Option<T>) -> Option<T> {
        let budget = self.budget_ns.load(Ordering::Relaxed);
        if self.max_ns == 0 {
            return done();
        }
        let start = Instant::now();
        let limit = Duration::from_nanos(budget.into());
        loop {
            for _ in 0..32 {
                if let Some(v) = done() {
                    let took = start.elapsed().as_nanos().min(u128::from(self.max_ns)) as u32;
                    let grown = budget.max(2 * took).clamp(MIN_NS.min(self.max_ns), self.max_ns);
                    self.budget_ns.store(grown, Ordering::Relaxed);
                    return Some(v);
                }
                std::hint::spin_loop();
            }
            if start.elapsed() >= limit {
                self.budget_ns.store((budget / 2).max(MIN_NS.min(self.max_ns)), Ordering::Relaxed);
                return None;
            }
        }
    }
}
