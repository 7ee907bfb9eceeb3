//! Readiness across both kernels for supervised programs: poll, ppoll,
//! select and pselect6 over sets that hold rump fds, and the epoll family
//! on a host epoll fd with rump fds in its interest set (Go's netpoller:
//! one host epoll holding its own eventfd and the program's sockets).
//!
//! Rump fds added to a host epoll fd go to an epoll instance in the
//! caller's kernel process made for it on first use (its companion), so
//! edge-triggered and one-shot registrations keep the kernel's semantics.
//! A wait that involves the kernel is served here rather than in the
//! caller: the rump side is asked first with a notifier armed (an eventfd
//! of this worker thread the kernel writes when what was asked may have
//! changed); if nothing is ready there, the worker sleeps in the host
//! kernel on the caller's host fds (copies taken with `pidfd_getfd`, the
//! same open files, so reading an epoll's events here consumes them as
//! the caller would), the eventfd and the caller's pidfd (its death ends
//! the wait). The caller waits for the answer with its signals held back
//! (`WAIT_KILLABLE_RECV`: a call once received is never cut short, so
//! never served twice), so a long wait looks every `SIGNAL_SLICE` for a
//! signal pending for it and then ends as the host's would (EINTR once
//! the handler has run). No event tells of a signal sent to another
//! process: a caller that a signal could interrupt (no such flag) would
//! learn of it at once, but then any caught call could end in EINTR
//! where Linux never does (open, socket) for a handler without
//! SA_RESTART, and a reply sent as the signal lands is lost to the
//! caller, who makes the call again (a write written twice: seen under
//! load). Before the supervisor has received a call, a signal does cut
//! it short (nothing of it done yet): made again under SA_RESTART, EINTR
//! without, even for a call Linux never ends so (`open` of a file).
//!
//! The masks of ppoll, pselect6 and epoll_pwait are the wait's: a signal
//! the call's mask blocks does not end it (it is taken once the call has
//! returned, as on Linux); one that the call's mask lets through and the
//! thread's own holds back (the pselect way of waiting for a signal
//! without a race) cannot be delivered by an answer, so the call is
//! handed to the host, its sets emptied first (written back at the
//! thread's next call, `restore`): the host's own call sets the mask,
//! takes the signal, runs the handler under that mask and answers EINTR,
//! as Linux does.

use super::restore::Restore;
use super::target::{pidfd_of, rump_fd, Pending, Signals, TargetMem};
use super::Answer;
use crate::selfmem::SelfMemory;
use rump_abi::usermem::UserMemory;
use rump_abi::{Errno, Slots, UserAddr};
use rump_kernel::lwp::Lwp;
use rump_kernel::wchan::Notify;
use rump_kernel::Process;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) use rump_abi::linux::seccomp::SET_WAITS;

/// Whether call `nr` may be a wait served here, on the host's side as
/// well as the kernel's (its receiver may not come back soon).
pub(super) fn waits_outside_the_kernel(nr: i64) -> bool {
    SET_WAITS.contains(&nr) || [libc::SYS_epoll_wait, libc::SYS_epoll_pwait, libc::SYS_epoll_pwait2].contains(&nr)
}

/// A host epoll fd's rump side.
pub(super) struct Companion {
    /// The kernel's epoll fd in the caller's kernel process.
    rump: i32,
    /// The caller's epoll, as an fd of ours.
    host: OwnedFd,
}

/// What a supervised process has for waits: its pidfd and its epoll fds'
/// companions, by the caller's epoll fd number.
#[derive(Default)]
pub(super) struct Waits {
    pidfd: Option<OwnedFd>,
    companions: HashMap<i32, Companion>,
}

impl Waits {
    /// The same for a forked child, whose fds are copies of these.
    pub(super) fn fork(&self) -> Waits {
        let companions = self
            .companions
            .iter()
            .filter_map(|(&fd, c)| Some((fd, Companion { rump: c.rump, host: c.host.try_clone().ok()? })))
            .collect();
        Waits { pidfd: None, companions }
    }

    pub(super) fn has_companion(&self, epfd: i32) -> bool {
        self.companions.contains_key(&epfd)
    }

    /// Forgets the companion of `epfd`, which the caller is closing.
    pub(super) fn close(&mut self, p: &Process, epfd: i32) {
        if let Some(c) = self.companions.remove(&epfd) {
            let _ = kernel_call(p, libc::SYS_close, &[c.rump as u64], &SelfMemory, None);
        }
    }

    fn pidfd(&mut self, tgid: i32) -> Result<RawFd, Errno> {
        if self.pidfd.is_none() {
            self.pidfd = Some(pidfd_of(tgid)?);
        }
        Ok(self.pidfd.as_ref().map_or(-1, |f| f.as_raw_fd()))
    }

    /// A copy of the caller's fd `fd`: EBADF if it has none.
    fn host_fd(&mut self, tgid: i32, fd: i32) -> Result<OwnedFd, Errno> {
        let pidfd = self.pidfd(tgid)?;
        // SAFETY: a plain call.
        let got = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) };
        if got < 0 {
            return Err(last_errno());
        }
        // SAFETY: a fresh fd of ours.
        Ok(unsafe { OwnedFd::from_raw_fd(got as RawFd) })
    }
}

/// One caught call's context: the caller and its kernel process.
pub(super) struct Caller<'a> {
    pub(super) tid: i32,
    pub(super) tgid: i32,
    pub(super) args: [u64; 6],
    pub(super) process: &'a Process,
    pub(super) waits: &'a std::sync::Mutex<Waits>,
    pub(super) restore: &'a Restore,
}

fn last_errno() -> Errno {
    Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
}

fn lock(w: &std::sync::Mutex<Waits>) -> Result<std::sync::MutexGuard<'_, Waits>, Errno> {
    w.lock().map_err(|_| Errno(libc::EIO))
}

/// A kernel call for `p` with `args`, its memory `mem`; with `arm`, the
/// call's waits arm that notifier instead of sleeping.
fn kernel_call(
    p: &Process,
    nr: i64,
    args: &[u64],
    mem: &dyn UserMemory,
    arm: Option<&Arc<dyn Notify>>,
) -> Result<i64, Errno> {
    let mut slots: Slots = [0; rump_abi::MAXARGS];
    slots[..args.len()].copy_from_slice(args);
    let lwp = match arm {
        Some(n) => Lwp::new().notifying(n.clone()),
        None => Lwp::new(),
    };
    p.syscall_lwp(nr as u32, &slots, mem, &lwp)
}

// ---- the notifier ----------------------------------------------------------

/// An eventfd the kernel writes when an armed wait may have changed.
struct EventFdNotify(OwnedFd);

impl Notify for EventFdNotify {
    fn notify(&self) {
        let one = 1u64;
        // SAFETY: eight bytes to our own eventfd.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

thread_local! {
    /// This worker's notifier: a wait runs on one worker from start to end.
    static NOTIFIER: Option<(Arc<dyn Notify>, RawFd)> = {
        // SAFETY: a plain call.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        // SAFETY: a fresh fd of ours, kept for the thread's life.
        (fd >= 0).then(|| {
            let n = EventFdNotify(unsafe { OwnedFd::from_raw_fd(fd) });
            (Arc::new(n) as Arc<dyn Notify>, fd)
        })
    };
}

fn drain(fd: RawFd) {
    let mut v = 0u64;
    // SAFETY: eight bytes from our own nonblocking eventfd.
    unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
}

// ---- the wait ---------------------------------------------------------------

/// One wait over a rump side and a host side.
trait Sides {
    /// Looks at the rump side (arming `arm` if nothing is ready); how many
    /// entries are ready.
    fn rump(&mut self, p: &Process, arm: Option<&Arc<dyn Notify>>) -> Result<usize, Errno>;
    /// The host fds to sleep on, with the events wanted.
    fn host_set(&self) -> Vec<libc::pollfd>;
    /// Takes the host side's results from `set` (as `host_set` gave it,
    /// with revents filled); how many entries are ready.
    fn host_done(&mut self, set: &[libc::pollfd]) -> Result<usize, Errno>;
}

/// `ERESTARTNOHAND` (linux/errno.h, kernel-internal): the caller's kernel
/// makes it EINTR once a handler has run, and restarts the wait if none
/// did (a stop and continue), as Linux's poll and epoll_wait do.
const ERESTARTNOHAND: i32 = 514;

/// How often a long wait looks for a signal pending for its caller.
const SIGNAL_SLICE: Duration = Duration::from_millis(10);

/// A wait's caller: its thread, its pidfd (its death ends the wait), and
/// the call's own signal mask, if it has one.
struct Waiter {
    tid: i32,
    pidfd: RawFd,
    mask: Option<u64>,
}

impl Waiter {
    fn new(c: &Caller, pidfd: RawFd, nr: i64, mem: &TargetMem) -> Result<Waiter, Errno> {
        Ok(Waiter { tid: c.tid, pidfd, mask: call_mask(nr, &c.args, mem)? })
    }

    /// How a signal pending for the caller ends the wait, if one does
    /// (a process's signal once it stayed pending a slice, `seen`): with
    /// ERESTARTNOHAND, or None when only the call's mask lets it through
    /// (the host is to take the call over).
    fn signalled(&self, seen: &mut bool) -> Option<Result<Option<usize>, Errno>> {
        let s = Signals::of(self.tid)?;
        let which = match s.pending(self.mask) {
            Some((Pending::Process, _)) if !*seen => {
                *seen = true;
                return None;
            }
            Some((_, which)) => which,
            None => {
                *seen = false;
                return None;
            }
        };
        Some(match which & s.blocked {
            0 => Err(Errno(ERESTARTNOHAND)),
            _ => Ok(None),
        })
    }
}

/// The signal mask a call waits with, if it names one: ppoll's,
/// pselect6's (inside its sixth argument) and epoll_pwait's.
fn call_mask(nr: i64, a: &[u64; 6], mem: &TargetMem) -> Result<Option<u64>, Errno> {
    let (addr, size) = match nr {
        libc::SYS_ppoll => (a[3], a[4]),
        libc::SYS_epoll_pwait | libc::SYS_epoll_pwait2 => (a[4], a[5]),
        libc::SYS_pselect6 if a[5] != 0 => {
            let [set, size] = read_pod(mem, a[5])?;
            (set as u64, size as u64)
        }
        _ => return Ok(None),
    };
    if addr == 0 {
        return Ok(None);
    }
    if size != 8 {
        return Err(Errno(libc::EINVAL));
    }
    let [mask] = read_pod(mem, addr)?;
    Ok(Some(mask as u64))
}

/// Runs a wait until something is ready (how many), `deadline` passes,
/// or a signal is pending for the caller that ends it (see
/// `Waiter::signalled`; None: the host is to take the call over); its
/// death ends it with EINTR (the answer goes nowhere).
fn wait(p: &Process, sides: &mut impl Sides, deadline: Option<Instant>, w: &Waiter) -> Result<Option<usize>, Errno> {
    let Some((n, efd)) = NOTIFIER.with(|n| n.clone()) else { return Err(Errno(libc::ENOMEM)) };
    let mut seen_process = false;
    // A call with a mask of its own may find a signal pending already
    // (it was held back until the call): it ends at once.
    let mut look = w.mask.is_some();
    loop {
        if look {
            if let Some(end) = w.signalled(&mut seen_process) {
                return end;
            }
        }
        look = true;
        let ready = sides.rump(p, Some(&n))?;
        let mut set = sides.host_set();
        let mine = set.len();
        let now = (ready > 0).then(Instant::now);
        if now.is_none() {
            set.push(libc::pollfd { fd: efd, events: libc::POLLIN, revents: 0 });
            set.push(libc::pollfd { fd: w.pidfd, events: libc::POLLIN, revents: 0 });
        }
        let slice = Instant::now() + SIGNAL_SLICE;
        host_poll(&mut set, now.or(Some(deadline.map_or(slice, |d| d.min(slice)))))?;
        let host = sides.host_done(&set[..mine])?;
        if ready > 0 {
            return Ok(Some(ready + host));
        }
        if set[mine].revents != 0 {
            // Emptied only once it fired: a stale wake-up costs a round.
            drain(efd);
        }
        if host > 0 {
            return Ok(Some(host + sides.rump(p, None)?));
        }
        if set[mine + 1].revents != 0 {
            return Err(Errno(libc::EINTR));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Some(0));
        }
    }
}

/// Host poll over `set` until `until` (None: no limit), restarted after
/// a signal of ours.
fn host_poll(set: &mut [libc::pollfd], until: Option<Instant>) -> Result<(), Errno> {
    loop {
        let ms = until.map_or(-1, |d| {
            let left = d.saturating_duration_since(Instant::now());
            left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
        });
        // SAFETY: our own array.
        let r = unsafe { libc::poll(set.as_mut_ptr(), set.len() as libc::nfds_t, ms) };
        if r >= 0 {
            return Ok(());
        }
        let e = last_errno();
        if e.0 != libc::EINTR {
            return Err(e);
        }
    }
}

fn deadline_ms(ms: i32) -> Option<Instant> {
    (ms >= 0).then(|| Instant::now() + Duration::from_millis(ms as u64))
}

/// A deadline from the caller's timespec at `addr` (0: none).
fn deadline_ts(mem: &TargetMem, addr: u64) -> Result<Option<Instant>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let t: [i64; 2] = read_pod(mem, addr)?;
    if t[0] < 0 || !(0..1_000_000_000).contains(&t[1]) {
        return Err(Errno(libc::EINVAL));
    }
    Ok(Some(Instant::now() + Duration::new(t[0] as u64, t[1] as u32)))
}

/// A deadline from the caller's timeval at `addr` (0: none).
fn deadline_tv(mem: &TargetMem, addr: u64) -> Result<Option<Instant>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let t: [i64; 2] = read_pod(mem, addr)?;
    if t[0] < 0 || !(0..1_000_000).contains(&t[1]) {
        return Err(Errno(libc::EINVAL));
    }
    Ok(Some(Instant::now() + Duration::new(t[0] as u64, t[1] as u32 * 1000)))
}

fn read_pod<const N: usize>(mem: &TargetMem, addr: u64) -> Result<[i64; N], Errno> {
    let mut b = vec![0u8; N * 8];
    mem.copy_in(UserAddr(addr), &mut b)?;
    Ok(std::array::from_fn(|i| i64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or_default())))
}

// ---- poll, ppoll, select, pselect6 -----------------------------------------

/// One entry of a poll set, split by kernel.
struct Entry {
    fd: i32,
    events: i16,
    /// The kernel's fd (a rump fd, or a host epoll fd's companion).
    rump: Option<i32>,
    /// A copy of the caller's host fd (None for a rump fd or a bad fd).
    host: Option<OwnedFd>,
    revents: i16,
}

struct PollSet(Vec<Entry>);

impl PollSet {
    fn new(c: &Caller, want: &[(i32, i16)]) -> Result<PollSet, Errno> {
        let mut waits = lock(c.waits)?;
        let mut v = Vec::with_capacity(want.len());
        for &(fd, events) in want {
            let own = rump_fd(c.tid, fd);
            let rump = own.or_else(|| waits.companions.get(&fd).map(|k| k.rump));
            let host = match (own, fd) {
                (None, 0..) => waits.host_fd(c.tgid, fd).ok(),
                _ => None,
            };
            // A number the caller does not have: POLLNVAL, as Linux says.
            let revents = if fd >= 0 && rump.is_none() && host.is_none() { libc::POLLNVAL } else { 0 };
            v.push(Entry { fd, events, rump, host, revents });
        }
        Ok(PollSet(v))
    }

    /// Whether any of `fds` is the kernel's: a rump fd or an epoll fd
    /// with a companion in `waits`.
    fn touches_rump(tid: i32, waits: Option<&std::sync::Mutex<Waits>>, mut fds: impl Iterator<Item = i32>) -> bool {
        let waits = waits.and_then(|w| w.lock().ok());
        fds.any(|fd| rump_fd(tid, fd).is_some() || waits.as_ref().is_some_and(|w| w.companions.contains_key(&fd)))
    }

    fn ready(&self) -> usize {
        self.0.iter().filter(|e| e.revents != 0).count()
    }
}

impl Sides for PollSet {
    fn rump(&mut self, p: &Process, arm: Option<&Arc<dyn Notify>>) -> Result<usize, Errno> {
        let at: Vec<usize> = (0..self.0.len()).filter(|&i| self.0[i].rump.is_some()).collect();
        // Linux's struct pollfd: int fd, short events, short revents.
        let mut set: Vec<libc::pollfd> = at
            .iter()
            .map(|&i| libc::pollfd { fd: self.0[i].rump.unwrap_or(-1), events: self.0[i].events, revents: 0 })
            .collect();
        let timeout = if arm.is_some() { -1i64 } else { 0 };
        kernel_call(p, libc::SYS_poll, &[set.as_mut_ptr() as u64, set.len() as u64, timeout as u64], &SelfMemory, arm)?;
        for (k, &i) in at.iter().enumerate() {
            self.0[i].revents |= set[k].revents;
        }
        Ok(self.ready())
    }

    fn host_set(&self) -> Vec<libc::pollfd> {
        self.0
            .iter()
            .filter_map(|e| e.host.as_ref().map(|h| libc::pollfd { fd: h.as_raw_fd(), events: e.events, revents: 0 }))
            .collect()
    }

    fn host_done(&mut self, set: &[libc::pollfd]) -> Result<usize, Errno> {
        let mut got = set.iter();
        for e in self.0.iter_mut().filter(|e| e.host.is_some()) {
            if let Some(h) = got.next() {
                e.revents |= h.revents;
            }
        }
        Ok(self.ready())
    }
}

/// The poll family's and select family's answers.
pub(super) fn serve_set_wait(c: &Caller, nr: i64, mem: &TargetMem) -> Result<Answer, Errno> {
    let pidfd = lock(c.waits)?.pidfd(c.tgid)?;
    let a = c.args;
    match nr {
        libc::SYS_poll | libc::SYS_ppoll => {
            let n = a[1] as usize;
            if n > 1 << 20 {
                return Err(Errno(libc::EINVAL));
            }
            let mut raw = vec![0u8; n * 8];
            mem.copy_in(UserAddr(a[0]), &mut raw)?;
            let want: Vec<(i32, i16)> = raw
                .chunks(8)
                .map(|b| (i32::from_ne_bytes([b[0], b[1], b[2], b[3]]), i16::from_ne_bytes([b[4], b[5]])))
                .collect();
            let deadline = if nr == libc::SYS_poll { deadline_ms(a[2] as i32) } else { deadline_ts(mem, a[2])? };
            let waiter = Waiter::new(c, pidfd, nr, mem)?;
            let mut set = PollSet::new(c, &want)?;
            // A bad fd answers at once, with what else is ready now.
            let deadline = if set.ready() > 0 { Some(Instant::now()) } else { deadline };
            let Some(ready) = wait(c.process, &mut set, deadline, &waiter)? else {
                // Each entry's events emptied: the host's ppoll sees
                // nothing ready, only the signal.
                let mut quiet = raw.clone();
                let mut back = Vec::with_capacity(n);
                for i in 0..n {
                    quiet[i * 8 + 4..i * 8 + 6].fill(0);
                    back.push((a[0] + i as u64 * 8, raw[i * 8..i * 8 + 6].to_vec()));
                }
                mem.copy_out(UserAddr(a[0]), &quiet)?;
                c.restore.later(c.tid, back);
                return Ok(Answer::Continue);
            };
            for (i, e) in set.0.iter().enumerate() {
                raw[i * 8 + 6..i * 8 + 8].copy_from_slice(&e.revents.to_ne_bytes());
            }
            mem.copy_out(UserAddr(a[0]), &raw)?;
            Ok(Answer::Value(ready as i64))
        }
        _ => serve_select(c, nr, mem, pidfd),
    }
}

/// select and pselect6, as poll over the three sets.
fn serve_select(c: &Caller, nr: i64, mem: &TargetMem, pidfd: RawFd) -> Result<Answer, Errno> {
    let a = c.args;
    let n = a[0] as i32;
    if !(0..=1 << 20).contains(&n) {
        return Err(Errno(libc::EINVAL));
    }
    let words = (n as usize).div_ceil(64);
    let read_set = |addr: u64| -> Result<Vec<u64>, Errno> {
        let mut b = vec![0u8; words * 8];
        if addr != 0 {
            mem.copy_in(UserAddr(addr), &mut b)?;
        }
        Ok(b.chunks(8).map(|w| u64::from_ne_bytes(w.try_into().unwrap_or_default())).collect())
    };
    let sets = [read_set(a[1])?, read_set(a[2])?, read_set(a[3])?];
    // Linux's select: read is POLLIN-like, write POLLOUT-like, except POLLPRI.
    const IN: i16 = libc::POLLIN | libc::POLLHUP | libc::POLLERR;
    const OUT: i16 = libc::POLLOUT | libc::POLLERR;
    let wanted = [IN, OUT, libc::POLLPRI];
    let bit = |s: &Vec<u64>, fd: usize| s[fd / 64] >> (fd % 64) & 1 == 1;
    let want: Vec<(i32, i16)> = (0..n as usize)
        .filter_map(|fd| {
            let ev = (0..3).filter(|&k| bit(&sets[k], fd)).fold(0, |ev, k| ev | wanted[k]);
            (ev != 0).then_some((fd as i32, ev))
        })
        .collect();
    let deadline = if nr == libc::SYS_select { deadline_tv(mem, a[4])? } else { deadline_ts(mem, a[4])? };
    let waiter = Waiter::new(c, pidfd, nr, mem)?;
    let mut set = PollSet::new(c, &want)?;
    if set.0.iter().any(|e| e.revents & libc::POLLNVAL != 0) {
        return Err(Errno(libc::EBADF));
    }
    if wait(c.process, &mut set, deadline, &waiter)?.is_none() {
        // The sets emptied: the host's pselect6 sees only the signal.
        let mut back = Vec::new();
        for (k, addr) in [a[1], a[2], a[3]].into_iter().enumerate().filter(|&(_, addr)| addr != 0) {
            let bytes: Vec<u8> = sets[k].iter().flat_map(|w| w.to_ne_bytes()).collect();
            mem.copy_out(UserAddr(addr), &vec![0u8; bytes.len()])?;
            back.push((addr, bytes));
        }
        c.restore.later(c.tid, back);
        return Ok(Answer::Continue);
    }
    let mut out = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
    let mut count = 0;
    for e in &set.0 {
        for k in 0..3 {
            if bit(&sets[k], e.fd as usize) && e.revents & wanted[k] != 0 {
                out[k][e.fd as usize / 64] |= 1 << (e.fd % 64);
                count += 1;
            }
        }
    }
    for (k, addr) in [a[1], a[2], a[3]].into_iter().enumerate() {
        if addr != 0 {
            let bytes: Vec<u8> = out[k].iter().flat_map(|w| w.to_ne_bytes()).collect();
            mem.copy_out(UserAddr(addr), &bytes)?;
        }
    }
    Ok(Answer::Value(count))
}

/// Whether a poll or select call's set holds something of the kernel's.
pub(super) fn set_touches_rump(tid: i32, nr: i64, a: &[u64; 6], waits: Option<&std::sync::Mutex<Waits>>) -> bool {
    let mem = TargetMem { tid, overlay: Vec::new() };
    match nr {
        libc::SYS_poll | libc::SYS_ppoll => {
            let n = (a[1] as usize).min(1 << 20);
            let mut raw = vec![0u8; n * 8];
            if mem.copy_in(UserAddr(a[0]), &mut raw).is_err() {
                return false;
            }
            PollSet::touches_rump(tid, waits, raw.chunks(8).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]])))
        }
        _ => {
            let n = (a[0] as usize).min(1 << 20);
            let mut fds = Vec::new();
            for addr in [a[1], a[2], a[3]].into_iter().filter(|&x| x != 0) {
                let mut b = vec![0u8; n.div_ceil(64) * 8];
                if mem.copy_in(UserAddr(addr), &mut b).is_ok() {
                    fds.extend((0..n).filter(|&fd| b[fd / 8] >> (fd % 8) & 1 == 1).map(|fd| fd as i32));
                }
            }
            PollSet::touches_rump(tid, waits, fds.into_iter())
        }
    }
}

// ---- epoll ------------------------------------------------------------------

/// Linux's x86-64 struct epoll_event: packed, 12 bytes.
const EVENT_SIZE: usize = 12;

/// `epoll_ctl` on a host epoll fd for a rump fd: on its companion.
pub(super) fn epoll_ctl(c: &Caller, rfd: i32, mem: &TargetMem) -> Result<i64, Errno> {
    let epfd = c.args[0] as i32;
    let mut waits = lock(c.waits)?;
    if !waits.companions.contains_key(&epfd) {
        let host = waits.host_fd(c.tgid, epfd)?;
        let rump = kernel_call(c.process, libc::SYS_epoll_create1, &[0], &SelfMemory, None)? as i32;
        waits.companions.insert(epfd, Companion { rump, host });
    }
    let rump = waits.companions.get(&epfd).map_or(-1, |k| k.rump);
    drop(waits);
    kernel_call(c.process, libc::SYS_epoll_ctl, &[rump as u64, c.args[1], rfd as u64, c.args[3]], mem, None)
}

/// The epoll_wait family on a host epoll fd with a companion.
pub(super) fn epoll_wait(c: &Caller, nr: i64, mem: &TargetMem) -> Result<Answer, Errno> {
    let a = c.args;
    let max = a[2] as i32;
    if !(1..=(i32::MAX / EVENT_SIZE as i32)).contains(&max) {
        return Err(Errno(libc::EINVAL));
    }
    let deadline = match nr {
        libc::SYS_epoll_pwait2 => deadline_ts(mem, a[3])?,
        _ => deadline_ms(a[3] as i32),
    };
    let (rump, host, pidfd) = {
        let mut waits = lock(c.waits)?;
        let pidfd = waits.pidfd(c.tgid)?;
        let k = waits.companions.get(&(a[0] as i32)).ok_or(Errno(libc::EBADF))?;
        (k.rump, k.host.try_clone().map_err(|_| Errno(libc::EMFILE))?, pidfd)
    };
    let waiter = Waiter::new(c, pidfd, nr, mem)?;
    let mut sides = EpollSides { rump, host, max: max as usize, events: Vec::new() };
    if wait(c.process, &mut sides, deadline, &waiter)?.is_none() {
        // Nothing taken from either side yet: the host's epoll_pwait
        // returns what became ready on its side since, or the signal.
        return Ok(Answer::Continue);
    }
    mem.copy_out(UserAddr(a[1]), &sides.events)?;
    Ok(Answer::Value((sides.events.len() / EVENT_SIZE) as i64))
}

/// A host epoll and its companion: events from the rump side first.
struct EpollSides {
    rump: i32,
    host: OwnedFd,
    max: usize,
    /// The events taken so far, as the caller's array holds them.
    events: Vec<u8>,
}

impl Sides for EpollSides {
    fn rump(&mut self, p: &Process, arm: Option<&Arc<dyn Notify>>) -> Result<usize, Errno> {
        let room = self.max - self.events.len() / EVENT_SIZE;
        if room == 0 {
            return Ok(0);
        }
        let mut buf = vec![0u8; room * EVENT_SIZE];
        let timeout = if arm.is_some() { -1i64 } else { 0 };
        let args = [self.rump as u64, buf.as_mut_ptr() as u64, room as u64, timeout as u64];
        let n = kernel_call(p, libc::SYS_epoll_wait, &args, &SelfMemory, arm)? as usize;
        self.events.extend_from_slice(&buf[..n * EVENT_SIZE]);
        Ok(n)
    }

    fn host_set(&self) -> Vec<libc::pollfd> {
        vec![libc::pollfd { fd: self.host.as_raw_fd(), events: libc::POLLIN, revents: 0 }]
    }

    fn host_done(&mut self, set: &[libc::pollfd]) -> Result<usize, Errno> {
        let room = self.max - self.events.len() / EVENT_SIZE;
        if set[0].revents == 0 || room == 0 {
            return Ok(0);
        }
        let mut buf = vec![0u8; room * EVENT_SIZE];
        // SAFETY: a buffer of `room` packed events (libc's epoll_event is
        // Linux's packed layout on x86-64).
        let n = unsafe { libc::epoll_wait(self.host.as_raw_fd(), buf.as_mut_ptr().cast(), room as i32, 0) };
        if n < 0 {
            return Err(last_errno());
        }
        self.events.extend_from_slice(&buf[..n as usize * EVENT_SIZE]);
        Ok(n as usize)
    }
}
