//! The fd map: which of the program's fd numbers are rump fds.
//!
//! A rump fd is shown to the program under a number the host holds with a
//! placeholder (an `O_PATH` descriptor of `/dev/null`), so the host never
//! hands that number out and glibc's internal calls on it fail harmlessly
//! (EBADF for read and write) instead of touching something else. New rump
//! fds get numbers from `fdoff` up; dup2 and friends may put one anywhere,
//! 0–2 included. The map is lock-free to read: a host fd costs two loads
//! while no rump fd exists (one for the library's own fds), three
//! afterwards.

use crate::host::sys;
use rump_abi::Errno;
use rumpclient::ownfd::OwnFd;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// fd numbers the map covers; a placeholder above this is refused (ENFILE).
pub const SLOTS: usize = 1 << 16;

/// Rump fd + 1 per program fd; 0 for a host fd.
pub(crate) static MAP: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
/// Entries in use, so a process without rump fds pays one load per call.
pub(crate) static COUNT: AtomicUsize = AtomicUsize::new(0);
/// One past the highest number ever mapped, to bound scans.
static HIGH: AtomicUsize = AtomicUsize::new(0);

/// The rump fd shown as `fd`, if it is one. Every hook asks this of each
/// fd the program names, so here a number that is one of the library's
/// own steps aside first (`rumpclient::ownfd`): the program then meets the
/// closed fd it expects, and whatever it does with the number is its own.
#[inline]
pub fn rump_fd(fd: libc::c_int) -> Option<i32> {
    rumpclient::ownfd::step_aside(fd);
    peek(fd)
}

/// [`rump_fd`] without stepping aside: for a caller that only decides
/// where a call goes (a caught raw syscall may be the library's own, on
/// one of its own fds).
#[inline]
pub fn peek(fd: libc::c_int) -> Option<i32> {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let v = MAP.get(usize::try_from(fd).ok()?)?.load(Ordering::Acquire);
    (v != 0).then(|| v - 1)
}

/// Whether any rump fd exists.
pub fn any() -> bool {
    COUNT.load(Ordering::Relaxed) != 0
}

/// The placeholder every other one is a copy of (one of the library's own
/// descriptors), so that making one is a single host call.
static TEMPLATE: OnceLock<OwnFd> = OnceLock::new();

fn template() -> Result<i32, Errno> {
    if let Some(t) = TEMPLATE.get() {
        return Ok(t.raw());
    }
    let flags = libc::O_PATH | libc::O_CLOEXEC;
    let fd = sys(libc::SYS_openat, [libc::AT_FDCWD as usize, c"/dev/null".as_ptr() as usize, flags as usize, 0])?;
    // SAFETY: a descriptor just opened, ours alone.
    let own = OwnFd::new(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    Ok(TEMPLATE.get_or_init(|| own).raw())
}

/// A new placeholder at the lowest free number ≥ `min`.
pub fn placeholder(min: i32, cloexec: bool) -> Result<i32, Errno> {
    let cmd = if cloexec { libc::F_DUPFD_CLOEXEC } else { libc::F_DUPFD };
    let n = sys(libc::SYS_fcntl, [template()? as usize, cmd as usize, min as usize, 0])? as i32;
    if n as usize >= SLOTS {
        let _ = sys(libc::SYS_close, [n as usize, 0, 0, 0]);
        return Err(Errno(libc::ENFILE));
    }
    Ok(n)
}

/// Shows rump fd `rfd` under a new number ≥ `fdoff` and returns it.
pub fn install(rfd: i32, cloexec: bool) -> Result<i32, Errno> {
    let n = placeholder(crate::route::config().fdoff, cloexec)?;
    set(n, rfd);
    Ok(n)
}

/// Records that `n`, already held by a placeholder, shows rump fd `rfd`;
/// returns the rump fd it showed before, which the caller closes.
pub fn set(n: i32, rfd: i32) -> Option<i32> {
    let slot = &MAP[n as usize];
    let old = slot.swap(rfd + 1, Ordering::AcqRel);
    if old == 0 {
        COUNT.fetch_add(1, Ordering::AcqRel);
    }
    HIGH.fetch_max(n as usize + 1, Ordering::AcqRel);
    if n <= 2 {
        crate::hooks::stdio::std_stream_changed(n);
    }
    (old != 0).then(|| old - 1)
}

/// Forgets `n` (the caller closes the host placeholder and the rump fd);
/// returns the rump fd it showed.
pub fn forget(n: i32) -> Option<i32> {
    let slot = MAP.get(usize::try_from(n).ok()?)?;
    let old = slot.swap(0, Ordering::AcqRel);
    if old == 0 {
        return None;
    }
    COUNT.fetch_sub(1, Ordering::AcqRel);
    if n <= 2 {
        crate::hooks::stdio::std_stream_changed(n);
    }
    Some(old - 1)
}

/// Every (program fd, rump fd) pair, lowest first.
pub fn entries() -> Vec<(i32, i32)> {
    if !any() {
        return Vec::new();
    }
    let high = HIGH.load(Ordering::Acquire).min(SLOTS);
    (0..high)
        .filter_map(|i| {
            let v = MAP[i].load(Ordering::Acquire);
            (v != 0).then(|| (i as i32, v - 1))
        })
        .collect()
}

/// Empties the map without closing anything (a keeper process, which
/// serves the kernel and shows no fds of its own).
pub fn clear() {
    for (n, _) in entries() {
        MAP[n as usize].store(0, Ordering::Release);
    }
    COUNT.store(0, Ordering::Release);
}
