//! Kernel calls that sleep for a supervised caller (a blocking read or
//! accept on a rump socket): the caller waits for the answer with its
//! signals held back (`WAIT_KILLABLE_RECV`) and may even be gone, so the
//! supervisor's watcher looks at each sleeping call's caller and
//! cancels the call when a signal is pending for it, or when it has died
//! (so neither the receiving thread nor the kernel process waits for it
//! forever). A call cancelled for a signal sent to the thread itself is
//! answered ERESTARTSYS, which the caller's kernel turns into what Linux
//! does once the handler has run: the call again (`SA_RESTART`) or
//! EINTR; for a signal sent to the process that stays pending a period
//! (no other thread took it), EINTR.

use super::target::{signal_pending, Pending};
use super::{Call, Supervisor};
use rump_abi::{Errno, SysResult};
use rump_kernel::lwp::Lwp;
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

/// `ERESTARTSYS` (linux/errno.h, kernel-internal): never seen by a
/// program, whose kernel restarts the call or makes it EINTR.
const ERESTARTSYS: i32 = 512;

/// A call in the kernel: its caller, its lwp, and why it was cancelled.
struct Sleeper {
    tid: i32,
    lwp: Arc<Lwp>,
    signal: Mutex<Option<Pending>>,
}

/// The calls in the kernel, by notification id.
#[derive(Default)]
pub(super) struct Blocking(Mutex<HashMap<u64, Arc<Sleeper>>>);

impl Blocking {
    /// Runs `call` for `c` as an lwp the watcher can cancel, which starts
    /// another receiver of `sup`'s when it is about to sleep.
    pub(super) fn run(&self, sup: &Supervisor, c: &Call, call: impl FnOnce(&Lwp) -> SysResult) -> SysResult {
        // About to sleep: the next call needs another receiver.
        let me = sup.me.clone();
        let hook = move || {
            if let Some(sup) = me.upgrade() {
                sup.spare_receiver();
            }
        };
        let s = Arc::new(Sleeper { tid: c.tid, lwp: Arc::new(Lwp::with_block_hook(hook)), signal: Mutex::new(None) });
        self.0.lock().map_err(|_| Errno(libc::EIO))?.insert(c.id, s.clone());
        let r = call(&s.lwp);
        if let Ok(mut m) = self.0.lock() {
            m.remove(&c.id);
        }
        let signal = s.signal.lock().map_or(None, |g| *g);
        match (r, signal) {
            (Err(Errno(libc::EINTR)), Some(Pending::Thread)) => Err(Errno(ERESTARTSYS)),
            (r, _) => r,
        }
    }

    /// The watcher's look at the calls in the kernel (every `WATCH_PERIOD`).
    pub(super) fn check(&self, sup: &Supervisor) {
        let calls: Vec<(u64, Arc<Sleeper>)> = match self.0.lock() {
            Ok(m) => m.iter().map(|(&id, s)| (id, s.clone())).collect(),
            Err(_) => return,
        };
        for (id, s) in calls.into_iter().filter(|(_, s)| !s.lwp.is_cancelled()) {
            let signal = signal_pending(s.tid);
            let Ok(mut seen) = s.signal.lock() else { continue };
            // A process's signal counts once it stays pending a period.
            let now = match signal {
                Some(Pending::Process) => *seen == signal,
                Some(Pending::Thread) => true,
                None => !notification_alive(sup, id),
            };
            *seen = signal;
            drop(seen);
            if now {
                sup.kernel.cancel(&s.lwp);
            }
        }
    }
}

/// Whether the caller of notification `id` still waits for its answer.
fn notification_alive(sup: &Supervisor, id: u64) -> bool {
    // SAFETY: an ioctl on our listener with the id's address.
    unsafe { libc::ioctl(sup.listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ID_VALID as _, &id) == 0 }
}
