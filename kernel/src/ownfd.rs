//! Descriptors the library keeps for itself inside a program whose fd
//! table it shares (the hijack library): the connection to the server,
//! each thread's notifier eventfd, the pipes of a fork or spawn in
//! progress, and an in-process kernel's shared memory (`shm`).
//!
//! Every number a program names is the program's. Ours therefore live
//! high, from [`base`] up, close-on-exec; and when the program names one
//! anyway (dup2 onto it, close it, close_range over it), the hooks call
//! [`step_aside`] or [`gaps`] first, so ours moves to another high number
//! (or is left out of the range) and the program's call goes ahead as if
//! we were not there. An [`OwnFd`] reads its number each time it is used,
//! because it may have moved.
//!
//! Only a process that [`enable`]s it does this (the hijack library);
//! elsewhere (rump_server, the keeper) an `OwnFd` is a plain descriptor.
//! All host calls on our descriptors are raw syscalls (here, in `sock` and
//! `notify`): the libc ones may be the hooks, which would take the number
//! for the program's.

use std::os::fd::{IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

/// Where our descriptors start, unless the fd limit is lower: above the
/// numbers shells and programs pick for themselves (bash's 255, the fd
/// map's placeholders from 128 up) and below 1024, so the fd table stays
/// small.
const PREFERRED_BASE: i32 = 1000;
/// Numbers kept free under the soft fd limit when it is below the
/// preferred base plus this.
const HEADROOM: i32 = 24;
/// Descriptors the table can track; beyond it an `OwnFd` is still high
/// and close-on-exec, but does not step aside.
const CAPACITY: usize = 1024;

static ENABLED: AtomicBool = AtomicBool::new(false);
/// fd + 1 per tracked descriptor, 0 for a free entry.
static TABLE: [AtomicI32; CAPACITY] = [const { AtomicI32::new(0) }; CAPACITY];
/// One past the highest entry ever used, to bound scans.
static USED: AtomicUsize = AtomicUsize::new(0);
/// The lowest number ever tracked: a program fd below it is not ours,
/// which is what nearly every check finds with one load (public for the
/// hijack library's syscall stubs, which make that check in assembly).
pub static LOWEST: AtomicI32 = AtomicI32::new(i32::MAX);

fn raw(n: libc::c_long, a: [usize; 3]) -> Result<i64, i32> {
    // SAFETY: the callers pass arguments valid for syscall `n`.
    let r = unsafe { libc::syscall(n, a[0], a[1], a[2]) };
    if r < 0 {
        // SAFETY: libc's thread-local errno.
        Err(unsafe { *libc::__errno_location() })
    } else {
        Ok(r)
    }
}

fn raw_close(fd: RawFd) {
    let _ = raw(libc::SYS_close, [fd as usize, 0, 0]);
}

/// Tracks this process's own descriptors from now on (the hijack library,
/// before `main`).
pub fn enable() {
    ENABLED.store(true, Ordering::Release);
}

/// Grows the fd table to hold `base()` now, while the process has one
/// thread: Linux waits for an RCU grace period (milliseconds on a VM)
/// whenever it grows a table that threads share, and our first high
/// descriptor would otherwise come after the kernel's threads started.
/// Any of the standard descriptors serves as the one copied there.
pub fn reserve_table() {
    let base = base() as usize;
    if let Some(high) = (0..3).find_map(|fd| raw(libc::SYS_fcntl, [fd, libc::F_DUPFD_CLOEXEC as usize, base]).ok()) {
        raw_close(high as RawFd);
    }
}

/// Stops moving descriptors aside, without closing anything (a process
/// that has left the program, such as the keeper). Entries keep their
/// numbers: descriptors that went along with the kernel (its shared
/// memory) are still read through them.
pub fn disable() {
    ENABLED.store(false, Ordering::Release);
    LOWEST.store(i32::MAX, Ordering::Release);
}

/// The lowest number our descriptors take: `PREFERRED_BASE`, or lower when
/// the soft fd limit leaves no room there.
pub fn base() -> i32 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    let soft =
        match raw(libc::SYS_getrlimit, [libc::RLIMIT_NOFILE as usize, (&mut lim as *mut libc::rlimit) as usize, 0]) {
            Ok(_) => lim.rlim_cur.min(i32::MAX as u64) as i32,
            Err(_) => return PREFERRED_BASE,
        };
    PREFERRED_BASE.min(soft - HEADROOM).max(3)
}

/// A copy of `fd` at the lowest free number ≥ `base()`, close-on-exec or
/// not as asked.
fn dup_high(fd: RawFd, cloexec: bool) -> Result<RawFd, i32> {
    let cmd = if cloexec { libc::F_DUPFD_CLOEXEC } else { libc::F_DUPFD };
    raw(libc::SYS_fcntl, [fd as usize, cmd as usize, base() as usize]).map(|n| n as RawFd)
}

/// Moves `fd` to `base()` or above (a descriptor the library makes for a
/// new image, such as the copy of a program it execs, which must not take
/// a low number there); where it is if it cannot.
pub fn raise(fd: RawFd, cloexec: bool) -> RawFd {
    match dup_high(fd, cloexec) {
        Ok(high) => {
            raw_close(fd);
            high
        }
        Err(_) => fd,
    }
}

/// The table entry holding `fd`, if it is ours.
fn entry(fd: RawFd) -> Option<&'static AtomicI32> {
    TABLE[..USED.load(Ordering::Acquire)].iter().find(|e| e.load(Ordering::Acquire) == fd + 1)
}

/// Records `fd` in a free entry; `None` if the table is full.
fn track(fd: RawFd) -> Option<&'static AtomicI32> {
    let i = TABLE.iter().position(|e| e.compare_exchange(0, fd + 1, Ordering::AcqRel, Ordering::Relaxed).is_ok())?;
    USED.fetch_max(i + 1, Ordering::AcqRel);
    LOWEST.fetch_min(fd, Ordering::AcqRel);
    Some(&TABLE[i])
}

/// The program is about to use number `fd`: if it is ours, ours moves to
/// another high number (keeping its close-on-exec flag) and `fd` is
/// closed, as it would be had we never held it.
#[inline]
pub fn step_aside(fd: RawFd) {
    if fd >= LOWEST.load(Ordering::Relaxed) {
        move_away(fd);
    }
}

#[cold]
fn move_away(fd: RawFd) {
    let Some(e) = entry(fd) else { return };
    let cloexec = raw(libc::SYS_fcntl, [fd as usize, libc::F_GETFD as usize, 0])
        .map_or(true, |f| f as i32 & libc::FD_CLOEXEC != 0);
    let Ok(new) = dup_high(fd, cloexec) else { return };
    if e.compare_exchange(fd + 1, new + 1, Ordering::AcqRel, Ordering::Relaxed).is_err() {
        raw_close(new); // closed meanwhile by its owner
        return;
    }
    LOWEST.fetch_min(new, Ordering::AcqRel);
    raw_close(fd);
}

/// The parts of `first..=last` that hold none of ours, lowest first: where
/// a program's close_range may go.
pub fn gaps(first: u32, last: u32) -> Vec<(u32, u32)> {
    let mut own: Vec<u32> = TABLE[..USED.load(Ordering::Acquire)]
        .iter()
        .map(|e| e.load(Ordering::Acquire))
        .filter(|&v| v > 0 && (first..=last).contains(&((v - 1) as u32)))
        .map(|v| (v - 1) as u32)
        .collect();
    own.sort_unstable();
    let mut out = Vec::new();
    let mut from = first;
    for n in own {
        if n > from {
            out.push((from, n - 1));
        }
        from = n + 1;
    }
    if from <= last {
        out.push((from, last));
    }
    out
}

/// One of our descriptors. Dropping it closes it.
#[derive(Debug)]
pub struct OwnFd {
    /// The table entry that follows it when it moves.
    entry: Option<&'static AtomicI32>,
    /// Its number when untracked.
    fd: RawFd,
}

impl OwnFd {
    /// Takes `fd` over: in a process that tracks its own descriptors it
    /// moves to `base()` or above (if not there already), close-on-exec,
    /// and is tracked.
    pub fn new(fd: OwnedFd) -> OwnFd {
        let mut fd = fd.into_raw_fd();
        if !ENABLED.load(Ordering::Acquire) {
            return OwnFd { entry: None, fd };
        }
        if fd < base() {
            fd = raise(fd, true);
        }
        OwnFd { entry: track(fd), fd }
    }

    /// Its number now.
    #[inline]
    pub fn raw(&self) -> RawFd {
        self.entry.map_or(self.fd, |e| e.load(Ordering::Acquire) - 1)
    }
}

impl Drop for OwnFd {
    fn drop(&mut self) {
        let fd = self.raw();
        if let Some(e) = self.entry {
            e.store(0, Ordering::Release);
        }
        raw_close(fd);
    }
}

/// A pipe of our own (`O_CLOEXEC`): read end, write end.
pub fn pipe() -> Result<(OwnFd, OwnFd), i32> {
    let mut p = [0i32; 2];
    raw(libc::SYS_pipe2, [p.as_mut_ptr() as usize, libc::O_CLOEXEC as usize, 0])?;
    Ok(own_pair(p))
}

/// A connected pair of unix stream sockets of our own (`SOCK_CLOEXEC`).
pub fn socketpair() -> Result<(OwnFd, OwnFd), i32> {
    let mut p = [0i32; 2];
    let kind = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    // SAFETY: socketpair writing two descriptors into `p`.
    if unsafe { libc::syscall(libc::SYS_socketpair, libc::AF_UNIX, kind, 0, p.as_mut_ptr()) } < 0 {
        // SAFETY: libc's thread-local errno.
        return Err(unsafe { *libc::__errno_location() });
    }
    Ok(own_pair(p))
}

fn own_pair(p: [RawFd; 2]) -> (OwnFd, OwnFd) {
    // SAFETY: both descriptors were just made and belong to nobody else.
    let own = |fd| OwnFd::new(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    (own(p[0]), own(p[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_leave_out_our_numbers() {
        assert_eq!(gaps(3, 10), vec![(3, 10)]);
        let e = track(1005).unwrap();
        let f = track(1007).unwrap();
        assert_eq!(gaps(3, u32::MAX), vec![(3, 1004), (1006, 1006), (1008, u32::MAX)]);
        assert_eq!(gaps(1005, 1005), vec![]);
        assert_eq!(gaps(1005, 1007), vec![(1006, 1006)]);
        assert_eq!(gaps(0, 2), vec![(0, 2)]);
        e.store(0, Ordering::Release);
        f.store(0, Ordering::Release);
    }
}
