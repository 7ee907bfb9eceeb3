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
//! never spin).
//!
//! A client knows more than how long waits were: the server marks a call
//! about to sleep in the kernel (`Look::Asleep`), and the client stops
//! spinning at once. Such a wait says nothing of how long a call runs, so
//! it changes neither the budget nor the record; and a slept wait for a
//! call that never slept there was the server at work plus wake-ups,
//! which a longer spin would have caught (`slept(_, true)`: the budget
//! grows to cover it, up to `MAX`, rather than shrinking as after a wait
//! that may have been a blocking call).
//!
//! Nor does a side spin for a peer that last ran on its own CPU (`Cpu`:
//! the server thread that claimed the call, the client thread that posted
//! last): that peer cannot run until this side stops, so the spin would
//! only delay it. Each side publishes its CPU in the mapping as it posts
//! or claims; reading one's own is a load from glibc's rseq area.
//!
//! A spin gives its CPU to any thread waiting for it every `YIELD_EVERY`
//! (`sched_yield`, which returns at once when there is none): spinning
//! pays only while a CPU is to spare, and on a loaded machine the thread
//! kept waiting is often the one the peer is about to hand work to.
//!
//! A channel whose spins mostly end in a sleep anyway, or in the spinner
//! being taken off its CPU (`PREEMPTED`), stops spinning (`Record`): each
//! such miss wasted CPU that on a loaded machine another task, often the
//! peer itself, was waiting for. (Looking
//! at the machine's runnable count instead counted the spinners
//! themselves: two spinning peers and one more task stopped every spin,
//! and a null call went from 0.4 to 5 µs.) It tries again
//! every `PROBE_EVERY` waits, and hits bring it back.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

const MIN_NS: u32 = 2_000;
/// Long enough for the server's copy of a full lane (1 MiB), which takes
/// 50-60 us where the two CPUs share no cache: with 50 the spins gave up
/// before it was done and each such call paid two futex wake-ups.
const MAX_NS: u32 = 100_000;
/// A gap this long between two looks at the clock while spinning means
/// the spinner was taken off its CPU: the CPU was wanted by another
/// thread (often the peer itself), so the spin did not pay, even if the
/// wait was over when it came back.
const PREEMPTED: Duration = Duration::from_micros(20);
/// A spin longer than this lets a thread waiting for its CPU go first
/// (`sched_yield`), then goes on if none did, and so every time as long
/// again: on a loaded machine the scheduler would otherwise leave that
/// thread waiting for the spinner's whole slice (milliseconds), often the
/// thread the spinner's peer is about to hand work (iperf3's UDP receiver
/// behind its spinning sender lost 27% of 500 Mbit/s without, 5% with;
/// 2 or 5 us between yields lost 8 and 15%). With nothing else to run a
/// yield costs one system call: a 0.5 us null call and a 1 MiB copy took
/// as long as without.
const YIELD_EVERY: Duration = Duration::from_nanos(500);
/// While spinning does not pay, one wait in this many spins all the same,
/// to find out whether it pays again.
const PROBE_EVERY: u32 = 16;
/// Bounds of `Record`'s score: how much history it keeps.
const SCORE_MAX: i32 = 8;

/// What a look at the awaited thing found.
pub enum Look<T> {
    Ready(T),
    /// Not yet: spin on, within the budget.
    Pending,
    /// The peer sleeps until something else happens: spinning is useless.
    Asleep,
}

/// A spin budget shared by the threads of one side of a channel.
#[derive(Debug)]
pub struct Spin {
    budget_ns: AtomicU32,
    max_ns: u32,
    record: Record,
}

/// Whether spinning pays on a channel: a score that a hit raises by one
/// and a miss (a spin that ended in a sleep) lowers by two, so spinning
/// goes on while at least two in three spins hit.
#[derive(Debug, Default)]
struct Record {
    score: AtomicI32,
    /// Waits since spinning stopped paying, to pick the probes.
    passed: AtomicU32,
}

impl Record {
    fn worth_a_spin(&self) -> bool {
        self.score.load(Ordering::Relaxed) >= 0
            || self.passed.fetch_add(1, Ordering::Relaxed).is_multiple_of(PROBE_EVERY)
    }

    fn spun(&self, hit: bool) {
        let step = if hit { 1 } else { -2 };
        let next = |s: i32| Some((s + step).clamp(-SCORE_MAX, SCORE_MAX));
        let _ = self.score.fetch_update(Ordering::Relaxed, Ordering::Relaxed, next);
    }
}

impl Default for Spin {
    fn default() -> Spin {
        // CPUs on line, not those this process may use: a side pinned to
        // one CPU still gains from spinning while its peer runs on another.
        // SAFETY: sysconf has no preconditions.
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        let max = std::env::var("RUMP_SHM_SPIN_NS").ok().and_then(|v| v.parse().ok()).unwrap_or(MAX_NS);
        let max = if cpus > 1 { max.min(MAX_NS) } else { 0 };
        Spin { budget_ns: AtomicU32::new(max / 4), max_ns: max, record: Record::default() }
    }
}

impl Spin {
    /// The spin of one side of a channel whose other side is process
    /// `peer` (None: unknown).
    pub fn toward(peer: Option<i32>) -> Spin {
        match peer.is_some_and(on_our_only_cpu) {
            true => Spin { budget_ns: AtomicU32::new(0), max_ns: 0, record: Record::default() },
            false => Spin::default(),
        }
    }

    /// Spins until `look` finds the thing ready or the peer asleep, or the
    /// budget runs out.
    pub fn run<T>(&self, mut look: impl FnMut() -> Look<T>) -> Option<T> {
        let budget = self.budget_ns.load(Ordering::Relaxed);
        if self.max_ns == 0 || !self.record.worth_a_spin() {
            return match look() {
                Look::Ready(v) => Some(v),
                Look::Pending | Look::Asleep => None,
            };
        }
        let start = Instant::now();
        let limit = Duration::from_nanos(budget.into());
        let mut last = start;
        let mut yielded = start;
        loop {
            for _ in 0..32 {
                match look() {
                    Look::Ready(v) => {
                        let now = Instant::now();
                        let hit = now - last < PREEMPTED;
                        if hit {
                            let took = (now - start).as_nanos().min(u128::from(self.max_ns)) as u32;
                            let grown = budget.max(2 * took).clamp(MIN_NS.min(self.max_ns), self.max_ns);
                            self.budget_ns.store(grown, Ordering::Relaxed);
                        }
                        self.record.spun(hit);
                        return Some(v);
                    }
                    Look::Asleep => return None,
                    Look::Pending => std::hint::spin_loop(),
                }
            }
            let now = Instant::now();
            if now - last >= PREEMPTED || now - start >= limit {
                self.record.spun(false);
                return None;
            }
            if now - yielded >= YIELD_EVERY {
                // SAFETY: no preconditions.
                unsafe { libc::sched_yield() };
                yielded = Instant::now();
            }
            last = now;
        }
    }

    /// A wait that `run` did not end took `waited` in all; `working`: the
    /// peer worked on it throughout (it never slept in between).
    pub fn slept(&self, waited: Duration, working: bool) {
        if self.max_ns == 0 {
            return;
        }
        let budget = self.budget_ns.load(Ordering::Relaxed);
        let waited = waited.as_nanos().min(u128::from(u32::MAX)) as u32;
        let next = if waited < self.max_ns || working { waited.saturating_mul(2) } else { budget - budget / 4 };
        self.budget_ns.store(next.clamp(MIN_NS.min(self.max_ns), self.max_ns), Ordering::Relaxed);
    }
}

/// A CPU as the mapping records it: its number plus one, 0 for unknown.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cpu(pub u32);

impl Cpu {
    /// The CPU this thread runs on now.
    pub fn current() -> Cpu {
        // SAFETY: no preconditions; glibc reads the rseq area where the
        // thread registered one, else asks the vDSO.
        let c = unsafe { libc::sched_getcpu() };
        Cpu(u32::try_from(c).map_or(0, |c| c + 1))
    }

    /// Whether a peer that last ran on `peer` shares this CPU, so cannot
    /// run while this side spins.
    pub fn shares(self, peer: u32) -> bool {
        self.0 != 0 && self.0 == peer
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spinning_stops_when_spins_miss_and_probes_bring_it_back() {
        let r = Record::default();
        assert!(r.worth_a_spin());
        for _ in 0..SCORE_MAX {
            r.spun(false);
        }
        let tried = (0..PROBE_EVERY * 4).filter(|_| r.worth_a_spin()).count();
        assert_eq!(tried, 4, "one probe per PROBE_EVERY waits");
        for _ in 0..2 * SCORE_MAX {
            r.spun(true);
        }
        assert!(r.worth_a_spin());
    }

    fn spin(budget_ns: u32) -> Spin {
        Spin { budget_ns: AtomicU32::new(budget_ns), max_ns: MAX_NS, record: Record::default() }
    }

    #[test]
    fn a_peer_asleep_ends_the_spin_and_teaches_nothing() {
        let s = spin(MAX_NS);
        let mut looks = 0;
        let r = s.run(|| {
            looks += 1;
            Look::<()>::Asleep
        });
        assert!(r.is_none());
        assert_eq!(looks, 1, "spun on after the peer slept");
        assert_eq!(s.budget_ns.load(Ordering::Relaxed), MAX_NS);
        assert_eq!(s.record.score.load(Ordering::Relaxed), 0, "counted as a miss");
    }

    #[test]
    fn a_spinner_taken_off_its_cpu_stops_and_counts_a_miss() {
        // Standing in for a preemption: a look that loses the CPU longer
        // than PREEMPTED.
        let s = spin(MAX_NS);
        let mut looks = 0;
        let r = s.run(|| {
            looks += 1;
            if looks == 1 {
                std::thread::sleep(PREEMPTED * 2);
            }
            Look::<()>::Pending
        });
        assert!(r.is_none());
        assert_eq!(looks, 32, "spun on past the first look at the clock");
        assert_eq!(s.record.score.load(Ordering::Relaxed), -2, "counted as a miss");
        // A wait over when the spinner is back is taken, but still a miss,
        // and teaches the budget nothing.
        let s = spin(MIN_NS);
        let mut first = true;
        let r = s.run(|| match std::mem::replace(&mut first, false) {
            true => {
                std::thread::sleep(PREEMPTED * 2);
                Look::Pending
            }
            false => Look::Ready(7),
        });
        assert_eq!(r, Some(7));
        assert_eq!(s.record.score.load(Ordering::Relaxed), -2);
        assert_eq!(s.budget_ns.load(Ordering::Relaxed), MIN_NS);
    }

    #[test]
    fn a_cpu_is_shared_only_when_both_sides_know_theirs_and_they_match() {
        let me = Cpu::current();
        assert_ne!(me, Cpu(0), "sched_getcpu works here");
        assert!(me.shares(me.0));
        assert!(!me.shares(0), "a peer whose CPU is unknown");
        assert!(!Cpu(0).shares(0), "nor when ours is");
        assert!(!me.shares(me.0 + 1));
    }

    #[test]
    fn a_long_wait_on_a_working_peer_grows_the_budget() {
        // Slept through the peer's work and the wake-ups: over MAX.
        let waited = Duration::from_nanos(u64::from(MAX_NS) + 30_000);
        let s = spin(MIN_NS);
        s.slept(waited, true);
        assert_eq!(s.budget_ns.load(Ordering::Relaxed), MAX_NS, "a longer spin would have caught it");
        // A wait that may have been a blocking call shrinks it.
        s.slept(waited, false);
        assert_eq!(s.budget_ns.load(Ordering::Relaxed), MAX_NS - MAX_NS / 4);
    }
}
