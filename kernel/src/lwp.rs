//! A call in flight, as the kernel's sleep code sees it: whether someone
//! has cancelled it (a host signal reached the caller, or the caller's
//! connection died) and which wait channel it sleeps on, so a cancel can
//! wake it; plus an optional hook run just before it blocks, which lets a
//! server make sure another thread keeps reading its connection.

use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

type BlockHook = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
pub struct Lwp {
    cancelled: AtomicBool,
    /// The channel the call sleeps on; only touched with the virtual CPU
    /// held, so a cancel and a sleep never miss each other.
    sleeping_on: Mutex<Option<Arc<Condvar>>>,
    on_block: Option<BlockHook>,
}

impl Lwp {
    pub fn new() -> Lwp {
        Lwp::default()
    }

    /// An lwp whose `hook` runs each time the call is about to sleep. It
    /// runs with the virtual CPU held, so it must not call into the kernel.
    pub fn with_block_hook(hook: impl Fn() + Send + Sync + 'static) -> Lwp {
        Lwp { on_block: Some(Box::new(hook)), ..Lwp::default() }
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

    pub(crate) fn will_block(&self, chan: &Arc<Condvar>) {
        if let Some(hook) = &self.on_block {
            hook();
        }
        *self.sleeping_on.lock() = Some(chan.clone());
    }

    pub(crate) fn woke(&self) {
        *self.sleeping_on.lock() = None;
    }
}
