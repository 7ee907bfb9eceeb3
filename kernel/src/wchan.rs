//! Wait channels: where a call sleeps until something it waits for may
//! have changed, and where a readiness notifier can be armed instead.
//!
//! A sleeping thread waits on a futex word of its own, not on a condition
//! variable, so a host signal reaches it exactly as it would a host
//! syscall: an untimed wait is restarted by the host when the handler was
//! installed with SA_RESTART and fails with EINTR otherwise, and a timed
//! wait always fails with EINTR (Linux restarts neither poll nor a timed
//! futex wait). The caller's `Lwp` decides whether that EINTR ends the call.
//!
//! A notifier (`Notify`) lets a caller outside the kernel do the waiting:
//! armed on a channel, it is told once when the channel is next woken, and
//! the caller then asks again. The hijack library arms one per thread and
//! waits for it, together with host descriptors, in the host kernel.

use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Told when a channel it is armed on is woken. Called with the virtual
/// CPU held, so it must be short and must not call into the kernel.
pub trait Notify: Send + Sync {
    fn notify(&self);
    /// A notifier its owner has replaced; dropped instead of told.
    fn is_stale(&self) -> bool {
        false
    }
}

enum Waiter {
    Thread(Arc<AtomicU32>),
    Notifier(Arc<dyn Notify>),
}

#[derive(Default)]
pub struct WaitChannel {
    waiters: Mutex<Vec<Waiter>>,
}

/// How a sleep on a channel ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woke {
    /// Woken, or a spurious wake-up: look again.
    Notified,
    TimedOut,
    /// A host signal handler ran and the host would not restart the wait.
    Interrupted,
}

thread_local! {
    static WORD: Arc<AtomicU32> = Arc::new(AtomicU32::new(0));
    /// Wake-ups held back while this thread runs a call (`deferring`).
    static DEFERRED: RefCell<Option<Vec<Waiter>>> = const { RefCell::new(None) };
    /// Set while this thread delivers what a `deferring` call held back,
    /// the call done and the kernel let go of (`after_work`).
    static AFTER_WORK: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is delivering the wake-ups of a finished
/// `deferring` call: it holds no kernel lock and is in no call, so a
/// notifier told now may make a call of its own (publish a readiness
/// result rather than have its waiter ask for it).
pub fn after_work() -> bool {
    AFTER_WORK.with(Cell::get)
}

fn wake(waiters: Vec<Waiter>) {
    for w in waiters {
        match w {
            Waiter::Thread(word) => {
                word.store(1, Ordering::Release);
                futex_wake(&word);
            }
            Waiter::Notifier(n) if !n.is_stale() => n.notify(),
            Waiter::Notifier(_) => {}
        }
    }
}

/// Runs `f`, a call that takes the virtual CPU, holding back the wake-ups
/// it causes until it has returned (and so let go of the CPU).
pub(crate) fn deferring<R>(f: impl FnOnce() -> R) -> R {
    /// Delivers what was held back, then puts back whether the thread was
    /// delivering an outer call's (`after_work`: not while in this call).
    struct Flush {
        outer_after_work: bool,
    }
    impl Drop for Flush {
        fn drop(&mut self) {
            if let Some(held) = DEFERRED.with(|d| d.borrow_mut().take()) {
                AFTER_WORK.with(|a| a.set(true));
                wake(held);
            }
            AFTER_WORK.with(|a| a.set(self.outer_after_work));
        }
    }
    DEFERRED.with(|d| *d.borrow_mut() = Some(Vec::new()));
    let _flush = Flush { outer_after_work: AFTER_WORK.with(|a| a.replace(false)) };
    f()
}

/// Delivers the wake-ups held so far, for a call about to sleep with the
/// virtual CPU released.
pub(crate) fn flush() {
    let held = DEFERRED.with(|d| d.borrow_mut().as_mut().map(std::mem::take));
    if let Some(held) = held {
        wake(held);
    }
}

impl WaitChannel {
    pub fn new() -> WaitChannel {
        WaitChannel::default()
    }

    /// Wakes every sleeper and tells every armed notifier, once. Inside a
    /// call (`deferring`) this happens when the call lets go of the virtual
    /// CPU, so whoever wakes does not run straight into the lock.
    pub fn notify_all(&self) {
        let waiters = std::mem::take(&mut *self.waiters.lock());
        if waiters.is_empty() {
            return;
        }
        let now = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
            Some(held) => {
                held.extend(waiters);
                None
            }
            None => Some(waiters),
        });
        if let Some(waiters) = now {
            wake(waiters);
        }
    }

    /// Arms `n` to be told at the next wake-up. Arming the same notifier
    /// twice keeps one entry, so a caller that gives up and asks again
    /// never piles them up.
    pub fn arm(&self, n: &Arc<dyn Notify>) {
        let mut waiters = self.waiters.lock();
        waiters.retain(|w| match w {
            Waiter::Notifier(m) => !m.is_stale() && !Arc::ptr_eq(m, n),
            Waiter::Thread(_) => true,
        });
        waiters.push(Waiter::Notifier(n.clone()));
    }

    /// Enqueues the calling thread's word (`thread_word`); the caller then
    /// releases the virtual CPU and calls `wait`. Enqueuing under the virtual CPU means a wake-up
    /// after it is never missed.
    pub(crate) fn enqueue(&self, word: &Arc<AtomicU32>) {
        self.waiters.lock().push(Waiter::Thread(word.clone()));
    }

    /// The calling thread's futex word, cleared for a new sleep.
    pub(crate) fn thread_word() -> Arc<AtomicU32> {
        let word = WORD.with(|w| w.clone());
        word.store(0, Ordering::Release);
        word
    }

    /// Takes the calling thread off the channel after a wait that ended
    /// without a wake-up (timeout, signal).
    pub(crate) fn dequeue(&self, word: &Arc<AtomicU32>) {
        self.waiters.lock().retain(|w| !matches!(w, Waiter::Thread(x) if Arc::ptr_eq(x, word)));
    }
}

/// Waits until `word` is set, `deadline` passes or a signal handler runs.
pub(crate) fn wait(word: &AtomicU32, deadline: Option<Instant>) -> Woke {
    let op = libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG;
    while word.load(Ordering::Acquire) == 0 {
        let timeout = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            libc::timespec { tv_sec: left.as_secs() as libc::time_t, tv_nsec: left.subsec_nanos() as libc::c_long }
        });
        if timeout.is_some_and(|t| t.tv_sec == 0 && t.tv_nsec == 0) {
            return Woke::TimedOut;
        }
        let tp = timeout.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: a futex wait on a live word with a valid or NULL timeout.
        let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), op, 0, tp) };
        if r == -1 {
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::ETIMEDOUT) => return Woke::TimedOut,
                Some(libc::EINTR) => return Woke::Interrupted,
                _ => {}
            }
        }
    }
    Woke::Notified
}

fn futex_wake(word: &AtomicU32) {
    let op = libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG;
    // SAFETY: a futex wake on a live word.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), op, 1) };
}
