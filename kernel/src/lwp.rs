//! A call in flight, as the kernel's sleep code sees it: whether someone
//! has cancelled it (a host signal reached the caller, or the caller's
//! connection died) and which wait channel it sleeps on, so a cancel can
//! wake it; whether a host signal on the sleeping thread interrupts it (the
//! caller is that thread) or not (a server thread sleeping for a client);
//! an optional hook run just before it blocks, which lets a server make
//! sure another thread keeps reading its connection; and an optional
//! notifier, which a poll-like call arms instead of sleeping, or (a
//! watching caller) also when it returns something ready, so that the
//! caller hears of every later change.

use crate::wchan::{Notify, WaitChannel};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

type BlockHook = Box<dyn Fn() + Send + Sync>;

pub struct Lwp {
    cancelled: AtomicBool,
    /// The channel the call sleeps on; only touched with the virtual CPU
    /// held, so a cancel and a sleep never miss each other.
    sleeping_on: Mutex<Option<Arc<WaitChannel>>>,
    on_block: Option<BlockHook>,
    host_signals: bool,
    notifier: Option<Arc<dyn Notify>>,
    /// A poll-like wait of the call armed `notifier` (and returned).
    armed: AtomicBool,
    /// Waits that find something ready arm `notifier` too (`watching`).
    watch: bool,
    /// A poll-like wait of the call was one the caller may watch: it
    /// armed `notifier` whether or not it found something ready.
    watched: AtomicBool,
    /// The call took an fd out of a table (of any process of the kernel).
    dropped_fds: AtomicBool,
}

impl Default for Lwp {
    fn default() -> Self {
        Lwp {
            cancelled: AtomicBool::new(false),
            sleeping_on: Mutex::new(None),
            on_block: None,
            host_signals: true,
            notifier: None,
            armed: AtomicBool::new(false),
            watch: false,
            watched: AtomicBool::new(false),
            dropped_fds: AtomicBool::new(false),
        }
    }
}

impl Lwp {
    /// A call made by the thread that runs it: a host signal handler that
    /// runs while it sleeps interrupts it as it would a host syscall.
    pub fn new() -> Lwp {
        Lwp::default()
    }

    /// An lwp run for someone else (a server's client), whose `hook` runs
    /// each time the call is about to sleep. The hook runs with the virtual
    /// CPU held, so it must not call into the kernel. Host signals do not
    /// interrupt it; `Kernel::cancel` does.
    pub fn with_block_hook(hook: impl Fn() + Send + Sync + 'static) -> Lwp {
        Lwp { on_block: Some(Box::new(hook)), host_signals: false, ..Lwp::default() }
    }

    /// This lwp, with poll-like waits arming `n` instead of sleeping: such
    /// a call returns at once, as if it had timed out, and `n` is told when
    /// what it waited for may have changed.
    pub fn notifying(mut self, n: Arc<dyn Notify>) -> Lwp {
        self.notifier = Some(n);
        self
    }

    /// This lwp, with a poll whose set is all sockets arming the notifier
    /// even when it finds something ready: every change to a socket's
    /// readiness, a read that empties it included, is announced on its
    /// channel (`State::net_run`), so the caller may keep the result until
    /// it is told, and answer the same poll again without a call.
    pub fn watching(mut self) -> Lwp {
        self.watch = true;
        self
    }

    /// The notifier, if waits are to be watched (`watching`).
    pub(crate) fn watching_notifier(&self) -> Option<&Arc<dyn Notify>> {
        self.notifier.as_ref().filter(|_| self.watch)
    }

    /// A wait of the call may be watched (`watching`): it arms the
    /// notifier whether or not it finds something ready.
    pub(crate) fn mark_watched(&self) {
        self.watched.store(true, Ordering::Release);
    }

    /// Whether a wait of the call was watched (`watching`): what it
    /// returned, ready or armed, holds until the notifier is told.
    pub fn watched(&self) -> bool {
        self.watched.load(Ordering::Acquire)
    }

    /// Whether the call took an fd out of a process's table: a wait kept
    /// by fd numbers (`watching`) may no longer mean what it did.
    pub fn dropped_fds(&self) -> bool {
        self.dropped_fds.load(Ordering::Acquire)
    }

    pub(crate) fn mark_dropped_fds(&self) {
        self.dropped_fds.store(true, Ordering::Release);
    }

    /// The notifier, for a wait about to arm it.
    pub(crate) fn arming(&self) -> Option<&Arc<dyn Notify>> {
        self.armed.store(self.notifier.is_some(), Ordering::Release);
        self.notifier.as_ref()
    }

    /// Whether a wait of the call armed the notifier instead of sleeping:
    /// only then may the call be run again when it is notified.
    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    pub(crate) fn host_signals(&self) -> bool {
        self.host_signals
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Called by `Kernel::cancel` with the virtual CPU held.
    pub(crate) fn mark_cancelled(&self) {
        self.cancelled.store(true, Ordering::Release);
        if let Some(chan) = self.sleeping_on.lock().as_ref() {
            chan.notify_all();
        }
    }

    pub(crate) fn will_block(&self, chan: &Arc<WaitChannel>) {
        if let Some(hook) = &self.on_block {
            hook();
        }
        *self.sleeping_on.lock() = Some(chan.clone());
    }

    pub(crate) fn woke(&self) {
        *self.sleeping_on.lock() = None;
    }
}
