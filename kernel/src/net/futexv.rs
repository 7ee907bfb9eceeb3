//! Sleeping on futex words, one or several at once: the bus readers of a
//! kernel share one thread, which sleeps on the change counters of all
//! its buses (shared words, in the bus files' mappings) and on a word of
//! its own (private) with Linux's `futex_waitv` (5.16 and later): see
//! `Words`. On an older host kernel it sleeps on the first word only, for
//! at most `POLL_SLICE`, so that the others are looked at that often.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// How often words a sleep cannot watch are looked at: all but the first
/// where `futex_waitv` is missing, those past `WAITV_MAX`.
pub const POLL_SLICE: Duration = Duration::from_millis(1);
/// The most words one `futex_waitv` takes (Linux's FUTEX_WAITV_MAX).
pub const WAITV_MAX: usize = 128;
const FUTEX2_SIZE_U32: u32 = 0x02;
const FUTEX2_PRIVATE: u32 = 128;

/// A word to sleep on while it holds `expect`. A shared word (in a
/// `MAP_SHARED` mapping) is keyed by the kernel by file and offset, so
/// wakers in other processes find its sleepers; a private one is faster
/// but only found from this process.
#[derive(Clone, Copy)]
pub struct FutexWord<'a> {
    pub word: &'a AtomicU32,
    pub expect: u32,
    pub shared: bool,
}

/// Linux's struct futex_waitv.
#[repr(C)]
pub struct WaitV {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

impl FutexWord<'_> {
    /// Sleeps until woken, the word no longer holds `expect`, a signal,
    /// or `timeout`; all of them mean "look again".
    pub fn wait(&self, timeout: Duration) {
        let op = if self.shared { libc::FUTEX_WAIT } else { libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG };
        let ts = timespec(timeout);
        // SAFETY: a live aligned u32; the kernel compares it with `expect`
        // atomically against wakers, so a change after our check wakes us.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.word.as_ptr(),
                op,
                self.expect,
                &ts as *const libc::timespec,
                0usize,
                0u32,
            );
        }
    }

    /// Wakes every sleeper on `word`.
    pub fn wake_all(word: &AtomicU32, shared: bool) {
        let op = if shared { libc::FUTEX_WAKE } else { libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG };
        // SAFETY: a live aligned u32; waking touches nothing else.
        unsafe {
            libc::syscall(libc::SYS_futex, word.as_ptr(), op, i32::MAX, 0usize, 0usize, 0u32);
        }
    }
}

/// Words to sleep on together, gathered in a list the sleeper keeps (a
/// sleep is taken once per frame on a quiet chain of routers: it must not
/// allocate).
pub struct Words<'s, 'a> {
    list: &'s mut Vec<WaitV>,
    first: Option<FutexWord<'a>>,
}

impl<'s, 'a> Words<'s, 'a> {
    /// An empty set, gathered in `list` (whatever it held is dropped).
    pub fn new(list: &'s mut Vec<WaitV>) -> Self {
        list.clear();
        Words { list, first: None }
    }

    /// Adds a word; false if `WAITV_MAX` are already there (the caller
    /// must then look at the others by polling).
    pub fn push(&mut self, w: FutexWord<'a>) -> bool {
        if self.list.len() == WAITV_MAX {
            return false;
        }
        self.list.push(WaitV {
            val: u64::from(w.expect),
            uaddr: w.word.as_ptr() as u64,
            flags: FUTEX2_SIZE_U32 | if w.shared { 0 } else { FUTEX2_PRIVATE },
            reserved: 0,
        });
        self.first.get_or_insert(w);
        true
    }

    /// Sleeps until any word is woken or no longer holds what it is
    /// expected to, a signal, or `timeout`.
    pub fn wait(&self, timeout: Duration) {
        let Some(first) = self.first else {
            std::thread::sleep(timeout);
            return;
        };
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: fills one timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let deadline = timespec(Duration::new(now.tv_sec as u64, now.tv_nsec as u32) + timeout);
        // SAFETY: the list holds futex_waitv entries for words that live
        // as long as 'a; the deadline is absolute on
        // CLOCK_MONOTONIC, as futex_waitv takes it.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex_waitv,
                self.list.as_ptr(),
                self.list.len() as libc::c_uint,
                0u32,
                &deadline as *const libc::timespec,
                libc::CLOCK_MONOTONIC,
            )
        };
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
            first.wait(timeout.min(POLL_SLICE));
        }
    }
}
