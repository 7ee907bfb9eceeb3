//! The calls being served, by caller: how a served call learns that its
//! caller has gone on without it.
//!
//! A supervised caller waits for its answer as it would in the host's
//! own call: a signal interrupts the wait at once, and the host runs the
//! handler and restarts the call (`SA_RESTART`, or no handler) or makes it
//! EINTR, as Linux does for any interrupted call. The supervisor is not
//! told; it finds out when the same thread's next call arrives (a thread
//! has one call at a time, so the earlier one was interrupted), and then
//! cancels the earlier one (its lwp in the kernel, or the wait it sleeps
//! in, `wait`) and lets it end before serving the new one, whose answer
//! may be that earlier call's (`replay`). A thread that makes no further
//! call (it exited, or sleeps in a call the filter passes) is found by
//! the watcher, which asks the kernel whether each call's caller still
//! waits (`SECCOMP_IOCTL_NOTIF_ID_VALID`).

use super::{Call, Supervisor};
use rump_abi::{Errno, SysResult};
use rump_kernel::lwp::Lwp;
use rump_kernel::wchan::Notify;
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar, Mutex};

/// A call being served: its caller, the lwp it runs as (cancelled once
/// the caller has gone on) and what wakes it where it sleeps outside the
/// kernel (a wait's notifier).
pub(super) struct Served {
    tid: i32,
    id: u64,
    pub(super) lwp: Arc<Lwp>,
    wake: Mutex<Option<Arc<dyn Notify>>>,
}

impl Served {
    /// `n` wakes this call's sleep from now on (`wait`).
    pub(super) fn woken_by(&self, n: &Arc<dyn Notify>) {
        if let Ok(mut w) = self.wake.lock() {
            *w = Some(n.clone());
        }
    }
}

/// The calls being served, by notification id; a condition variable
/// told when one ends.
#[derive(Default)]
pub(super) struct Blocking {
    calls: Mutex<HashMap<u64, Arc<Served>>>,
    /// The latest call each thread made that a receiver has seen (taken
    /// with `calls` held).
    latest: Mutex<HashMap<i32, u64>>,
    ended: Condvar,
}

impl Blocking {
    /// Registers call `c` as being served, until the guard drops, once
    /// any earlier call of its thread still served has been cancelled and
    /// has ended; None if a later call of its thread was seen already
    /// (receivers run side by side: `c` was cut short before its turn, and
    /// nothing of it is done).
    pub(super) fn enter<'a>(&'a self, sup: &Supervisor, c: &Call) -> Option<Entered<'a>> {
        let mut m = self.calls.lock().ok()?;
        // Notification ids grow: a thread's later call has a larger one.
        let mut latest = self.latest.lock().ok()?;
        if latest.get(&c.tid).is_some_and(|&l| l > c.id) {
            return None;
        }
        latest.insert(c.tid, c.id);
        drop(latest);
        let lwp = Arc::new(Lwp::with_block_hook(|| {}));
        let s = Arc::new(Served { tid: c.tid, id: c.id, lwp, wake: Mutex::new(None) });
        m.insert(c.id, s.clone());
        let earlier = |m: &HashMap<u64, Arc<Served>>| m.values().any(|s| s.tid == c.tid && s.id < c.id);
        for s in m.values().filter(|s| s.tid == c.tid && s.id < c.id) {
            cancel(sup, s);
        }
        while earlier(&m) {
            m = self.ended.wait(m).ok()?;
        }
        Some(Entered { blocking: self, id: c.id, served: s })
    }

    /// Runs `call` for `c` as its lwp.
    pub(super) fn run(&self, c: &Call, call: impl FnOnce(&Lwp) -> SysResult) -> SysResult {
        match self.served(c.id) {
            Some(s) => call(&s.lwp),
            None => call(&Lwp::with_block_hook(|| {})),
        }
    }

    /// The registration of call `id`.
    pub(super) fn served(&self, id: u64) -> Option<Arc<Served>> {
        self.calls.lock().ok()?.get(&id).cloned()
    }

    /// The watcher's look at the calls being served: those whose caller
    /// no longer waits (it exited, or went on after a signal without a
    /// further call) are cancelled.
    pub(super) fn check(&self, sup: &Supervisor) {
        let calls: Vec<(u64, Arc<Served>)> = match self.calls.lock() {
            Ok(m) => m.iter().map(|(&id, s)| (id, s.clone())).collect(),
            Err(_) => return,
        };
        for (_, s) in calls.iter().filter(|(id, s)| !s.lwp.is_cancelled() && !notification_alive(sup, *id)) {
            cancel(sup, s);
        }
    }
}

/// A call registered as being served.
pub(super) struct Entered<'a> {
    blocking: &'a Blocking,
    id: u64,
    served: Arc<Served>,
}

impl Entered<'_> {
    /// Whether its caller went on without it (cancelled meanwhile).
    pub(super) fn abandoned(&self) -> bool {
        self.served.lwp.is_cancelled()
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.blocking.calls.lock() {
            m.remove(&self.id);
        }
        self.blocking.ended.notify_all();
    }
}

fn cancel(sup: &Supervisor, s: &Served) {
    sup.kernel.cancel(&s.lwp);
    if let Some(n) = s.wake.lock().ok().and_then(|w| w.clone()) {
        n.notify();
    }
}

/// Whether the caller of notification `id` still waits for its answer.
fn notification_alive(sup: &Supervisor, id: u64) -> bool {
    // SAFETY: an ioctl on our listener with the id's address.
    unsafe { libc::ioctl(sup.listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ID_VALID as _, &id) == 0 }
}

/// An error for a call whose caller has gone on: the answer goes nowhere.
pub(super) const ABANDONED: Errno = Errno(libc::EINTR);
