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
//! An in-process kernel writes the eventfd itself; a server gets a copy of
//! it with each call (`Client::syscall_notifying`). A TCP connection cannot
//! carry descriptors: there `call` says so and the caller polls in slices.

use crate::backend::Backend;
use crate::host::sys;
use rump_abi::syscall::{Slots, SysResult, Syscall};
use rump_abi::Errno;
use rump_kernel::lwp::Lwp;
use rump_kernel::wchan::Notify;
use rumpclient::notify::EventFdNotifier;
use rumpclient::selfmem::SelfMemory;
use std::cell::RefCell;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bumped in a forked child: notifiers made before belong to the parent
/// (the eventfd is shared with it) and are replaced on first use.
static EPOCH: AtomicU64 = AtomicU64::new(0);

struct Mine {
    epoch: u64,
    notifier: Arc<EventFdNotifier>,
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
            let notifier = Arc::new(EventFdNotifier::new(unsafe { OwnedFd::from_raw_fd(fd as i32) }));
            *m = Some(Mine { epoch, notifier });
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

/// `k` as a `Syscall` whose poll-like calls arm this thread's notifier
/// instead of sleeping. Only for kernels that take host descriptors
/// (`backend::passes_fds`).
pub struct Notifying<'a>(pub &'a Backend);

impl Syscall for Notifying<'_> {
    fn syscall(&self, num: u32, args: &Slots) -> SysResult {
        match self.0.joined()? {
            Backend::Local(l) => {
                let n: Arc<dyn Notify> = with_mine(|m| m.notifier.clone())?;
                l.process.syscall_lwp(num, args, &SelfMemory, &Lwp::new().notifying(n))
            }
            Backend::Remote(c) => {
                let fd = with_mine(|m| m.notifier.raw_fd())?;
                // SAFETY: gettid has no arguments and cannot fail.
                let token = unsafe { libc::gettid() } as u32;
                c.syscall_notifying(num, args, token, fd)
            }
            Backend::Tree(_) => Err(rump_abi::linux::errno::ENXIO),
        }
    }
}
