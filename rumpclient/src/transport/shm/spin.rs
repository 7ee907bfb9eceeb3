//! The adaptive spin before a futex sleep: a wait that ends while spinning
//! costs no system call on either side, but spinning longer than waits
//! last only burns a CPU. The budget follows how long waits turn out to
//! be, slept ones included (`slept`): twice a wait that would have fitted
//! under `MAX`, and a quarter less after a longer one (a call that blocks
//! in the kernel), within `[MIN, MAX]`. Counting slept waits matters: once
//! one side sleeps, the other's wait includes that side's wake-up, and a
//! budget that only learnt from waits that ended while spinning would
//! never again cover it. On a single
//! CPU there is no spinning at all, nor between two processes that may
//! both run on one and the same CPU only (`toward`: the peer cannot run
//! while this side spins), and `RUMP_SHM_SPIN_NS` sets the ceiling (0:
//! never spin, as on a machine whose CPUs are all busy).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const MIN_NS: u32 = 2_000;
const MAX_NS: u32 = 50_000;

/// A spin budget shared by the threads of one side of a channel.
#[derive(Debug)]
pub struct Spin {
    budget_ns: AtomicU32,
    max_ns: u32,
}

impl Default for Spin {
    fn default() -> Spin {
        // CPUs on line, not those this process may use: a side pinned to
        // one CPU still gains from spinning while its peer runs on another.
        // SAFETY: sysconf has no preconditions.
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        let max = std::env::var("RUMP_SHM_SPIN_NS").ok().and_then(|v| v.parse().ok()).unwrap_or(MAX_NS);
        let max = if cpus > 1 { max.min(MAX_NS) } else { 0 };
        Spin { budget_ns: AtomicU32::new(max / 4), max_ns: max }
    }
}

impl Spin {
    /// The spin of one side of a channel whose other side is process
    /// `peer` (None: unknown).
    pub fn toward(peer: Option<i32>) -> Spin {
        match peer.is_some_and(on_our_only_cpu) {
            true => Spin { budget_ns: AtomicU32::new(0), max_ns: 0 },
            false => Spin::default(),
        }
    }

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
                return None;
            }
        }
    }

    /// A wait that `run` did not end took `waited` in all.
    pub fn slept(&self, waited: Duration) {
        if self.max_ns == 0 {
            return;
        }
        let budget = self.budget_ns.load(Ordering::Relaxed);
        let waited = waited.as_nanos().min(u128::from(u32::MAX)) as u32;
        let next = if waited < self.max_ns { 2 * waited } else { budget - budget / 4 };
        self.budget_ns.store(next.clamp(MIN_NS.min(self.max_ns), self.max_ns), Ordering::Relaxed);
    }
}

/// Whether this thread and process `peer` may both run on one CPU only,
/// the same.
fn on_our_only_cpu(peer: i32) -> bool {
    let mask = |pid: i32| {
        // SAFETY: a zeroed cpu_set_t is a valid empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: the kernel writes at most the size we pass (raw: the libc
        // call may be a hook).
        let r = unsafe {
            libc::syscall(libc::SYS_sched_getaffinity, pid, size_of::<libc::cpu_set_t>(), &mut set as *mut _)
        };
        (r > 0).then_some(set)
    };
    match (mask(0), mask(peer)) {
        // SAFETY: CPU_COUNT and CPU_EQUAL only read the sets.
        (Some(ours), Some(theirs)) => unsafe { libc::CPU_COUNT(&ours) == 1 && libc::CPU_EQUAL(&ours, &theirs) },
        _ => false,
    }
}
