//! Futexes on words of a mapping two processes share (so never
//! `FUTEX_PRIVATE_FLAG`).

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// How a futex wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woke {
    /// Woken, or the word no longer held the expected value.
    Changed,
    /// A signal handler ran.
    Interrupted,
    TimedOut,
}

/// Sleeps while `word` holds `expected`, at most `timeout` if given.
/// Only an untimed wait is restarted after a handler installed with
/// SA_RESTART (the host always ends a timed one with EINTR).
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Woke {
    let ts = timeout.map(|t| libc::timespec { tv_sec: t.as_secs() as libc::time_t, tv_nsec: t.subsec_nanos() as _ });
    let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: a futex wait on a live word with a live timespec or none.
    let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, tsp) };
    if r == 0 {
        return Woke::Changed;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EINTR) => Woke::Interrupted,
        Some(libc::ETIMEDOUT) => Woke::TimedOut,
        _ => Woke::Changed,
    }
}

/// Wakes up to `n` sleepers on `word`.
pub fn wake(word: &AtomicU32, n: i32) {
    // SAFETY: a futex wake on a live word.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
}
