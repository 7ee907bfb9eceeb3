//! Each thread's readiness notifier and the calls that arm it.
//!
//! A wait over rump fds happens in the host kernel, beside the host fds of
//! the same wait: a poll-like call goes to the rump kernel with the
//! thread's notifier (`call`); if nothing is ready there it arms the
//! notifier and returns at once, and the thread then sleeps in the host
//! (ppoll, epoll) on its host fds plus the notifier's eventfd, which the
//! rump kernel writes when what the call waited for may have changed. No
//! thread is started; signals, timeouts and signal masks are the host's.
//!
//! The notifier's gate words (`rumpclient::notify::GateWords`) spare both
//! sides a system call: the kernel writes the eventfd only while the
//! thread sleeps on it, and a thread whose notifier fired between the call
//! and its sleep does not sleep (`Armed`). An in-process kernel keeps the
//! words with the notifier; a server's are in the thread's readiness
//! record of the shared-memory channel, where the call itself travels
//! (`Client::ready_gate`). Over the socket alone a server gets a copy of
//! the eventfd with each call and writes it at every notification. A TCP
//! connection cannot carry descriptors: there `call` says so and the
//! caller polls in slices.

use crate::backend::Backend;
use crate::host::sys;
use rump_abi::syscall::{Slots, SysResult, Syscall};
use rump_abi::Errno;
use rump_kernel::lwp::Lwp;
use rump_kernel::wchan::Notify;
use rumpclient::client::ReadyGate;
use rumpclient::notify::{EventFdNotifier, GateWords};
use rumpclient::selfmem::SelfMemory;
use std::cell::{Cell, RefCell};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bumped in a forked child: notifiers made before belong to the parent
/// (the eventfd is shared with it) and are replaced on first use.
static EPOCH: AtomicU64 = AtomicU64::new(0);

struct Mine {
    epoch: u64,
    notifier: Arc<EventFdNotifier>,
    /// The thread's id, which names its notifier to a server.
    tid: u32,
}

impl Drop for Mine {
    fn drop(&mut self) {
        // A kernel channel may still hold it; it must not write any more.
        self.notifier.retire();
    }
}

thread_local! {
    static MINE: RefCell<Option<Mine>> = const { RefCell::new(None) };
}

/// In a forked child, before anything else runs (a pthread_atfork handler).
pub extern "C" fn after_fork() {
    EPOCH.fetch_add(1, Ordering::AcqRel);
}

/// The thread's notifier: its eventfd and the kernel-side handle.
fn with_mine<R>(f: impl FnOnce(&Mine) -> R) -> Result<R, Errno> {
    MINE.with(|m| {
        let mut m = m.borrow_mut();
        let epoch = EPOCH.load(Ordering::Acquire);
        if m.as_ref().is_none_or(|x| x.epoch != epoch) {
            let fd = sys(libc::SYS_eventfd2, [0, (libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) as usize, 0, 0])?;
            // SAFETY: a descriptor we just made and own. The notifier keeps
            // it among the library's own, high and out of the program's way.
            let notifier = Arc::new(EventFdNotifier::gated(unsafe { OwnedFd::from_raw_fd(fd as i32) }));
            // SAFETY: gettid has no arguments and cannot fail.
            let tid = unsafe { libc::gettid() } as u32;
            *m = Some(Mine { epoch, notifier, tid });
        }
        Ok(f(m.as_ref().expect("just made")))
    })
}

/// The thread's eventfd, to wait on in the host.
pub fn eventfd() -> Result<i32, Errno> {
    with_mine(|m| m.notifier.raw_fd())
}

/// Empties the eventfd before a new round, so only later news wakes it.
pub fn drain(fd: i32) {
    let mut v = 0u64;
    let _ = sys(libc::SYS_read, [fd as usize, (&mut v as *mut u64) as usize, 8, 0]);
}

/// The gate words of the notifier a call armed, and how often it had
/// fired before that call.
pub struct Armed {
    gate: Gate,
    seen: u32,
}

enum Gate {
    Local(Arc<EventFdNotifier>),
    Remote(ReadyGate),
}

impl Armed {
    fn words(&self) -> &GateWords {
        match &self.gate {
            Gate::Local(n) => n.words().expect("the thread's notifier is gated"),
            Gate::Remote(g) => g.words(),
        }
    }

    /// The thread is about to sleep on its eventfd: false (do not sleep,
    /// look again) if the notifier fired since the call armed it.
    pub fn sleep(&self) -> bool {
        self.words().sleep(self.seen)
    }

    /// The thread is awake again.
    pub fn woke(&self) {
        self.words().woke()
    }

    /// Before the wait's buffers go away: what the kernel published for
    /// the call that armed the notifier, its outputs in those buffers, if
    /// it did (only a server's record does).
    pub fn settle(&self) -> Option<SysResult> {
        match &self.gate {
            Gate::Local(_) => None,
            Gate::Remote(g) => g.settle(),
        }
    }
}

/// `k` as a `Syscall` whose poll-like calls arm this thread's notifier
/// instead of sleeping, leaving in `armed` what the thread checks before
/// it sleeps (nothing where the notifier has no gate words). Only for
/// kernels that take host descriptors (`backend::passes_fds`).
pub struct Notifying<'a> {
    pub k: &'a Backend,
    pub armed: &'a Cell<Option<Armed>>,
}

impl Syscall for Notifying<'_> {
    fn syscall(&self, num: u32, args: &Slots) -> SysResult {
        match self.k.joined()? {
            Backend::Local(l) => {
                let n = with_mine(|m| m.notifier.clone())?;
                let seen = n.words().map_or(0, GateWords::fired);
                self.armed.set(Some(Armed { gate: Gate::Local(n.clone()), seen }));
                l.process.syscall_lwp(num, args, &SelfMemory, &Lwp::new().notifying(n as Arc<dyn Notify>))
            }
            Backend::Remote(c) => {
                let (n, token) = with_mine(|m| (m.notifier.clone(), m.tid))?;
                let fd = n.raw_fd();
                let gate = c.ready_gate(token, &n);
                let seen = gate.as_ref().map_or(0, |g| g.words().fired());
                let r = c.syscall_notifying(num, args, token, fd, gate.as_ref());
                self.armed.set(gate.map(|g| Armed { gate: Gate::Remote(g), seen }));
                r
            }
            Backend::Tree(_) => Err(rump_abi::linux::errno::ENXIO),
        }
    }
}
