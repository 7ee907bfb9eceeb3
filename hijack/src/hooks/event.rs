//! Waiting on many fds: poll, ppoll, select, pselect and the epoll family,
//! over host fds, rump fds, or both in one set.
//!
//! A set with no rump fd is the host's business. Otherwise the rump part
//! is asked first with the thread's notifier (`notifier`): if something
//! is ready there the host part is only looked at, with no wait; if not,
//! the notifier is armed and the thread sleeps in the host kernel on the
//! host part plus the notifier's eventfd. So a wait costs no thread, and
//! timeouts, signal masks and EINTR (never restarted, as Linux's waits)
//! are the host's own.
//!
//! epoll: the program's epoll fd is a host one. Rump fds added to it go to
//! an epoll instance in the rump kernel made for it on first use (its
//! companion), so edge-triggered and one-shot registrations keep their
//! kernel semantics; a wait takes events from both. A host inotify fd
//! watching rump paths has a companion too (`inotify`); any host fd with
//! a companion is ready to poll, select and an outer epoll when either
//! side is, and its companion closes with it.
//!
//! A thread may already sleep in the host's wait on an epoll fd when
//! another thread adds the first rump fd to it (Go's netpoller does: its
//! wait starts before the first socket is made). Making the companion
//! therefore rings the epoll fd's doorbell, an always-readable host fd
//! added one-shot: the sleeper wakes, the doorbell's event is taken out of
//! what it got, and it waits again on both sides for the time left.

use crate::backend::{self, Backend};
use crate::fdmap;
use crate::host::{check, guard};
use crate::notifier::{self, Armed, Notifying};
use libc::{c_int, epoll_event, fd_set, nfds_t, pollfd, sigset_t, size_t, timespec, timeval};
use parking_lot::Mutex;
use rump_abi::linux::sys as rump;
use rump_abi::pod::Pod;
use rump_abi::{Errno, UserAddr};
use rumpclient::marshal::ClientMemory;
use rumpclient::selfmem::SelfMemory;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

crate::real_fns! {
    fn poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int;
    fn __poll_chk(fds: *mut pollfd, n: nfds_t, timeout: c_int, fdslen: size_t) -> c_int;
    fn ppoll(fds: *mut pollfd, n: nfds_t, ts: *const timespec, mask: *const sigset_t) -> c_int;
    fn __ppoll_chk(fds: *mut pollfd, n: nfds_t, ts: *const timespec, mask: *const sigset_t, fdslen: size_t) -> c_int;
    fn select(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, tv: *mut timeval) -> c_int;
    fn pselect(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, ts: *const timespec, mask: *const sigset_t) -> c_int;
    fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, ev: *mut epoll_event) -> c_int;
    fn epoll_wait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int) -> c_int;
    fn epoll_pwait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int, mask: *const sigset_t) -> c_int;
    fn epoll_pwait2(epfd: c_int, ev: *mut epoll_event, max: c_int, ts: *const timespec, mask: *const sigset_t) -> c_int;
}

/// How long a wait over a kernel that cannot arm notifiers (a TCP
/// connection) sleeps in the host before looking at the rump fds again.
const SLICE: Duration = Duration::from_millis(5);

// ---- the wait -------------------------------------------------------------

/// One wait over a host part and a rump part.
trait Sides {
    /// Looks at the rump part as `ask` says; returns how many entries are
    /// ready.
    fn rump(&mut self, ask: &Ask) -> Result<usize, Errno>;
    /// The call that armed the notifier found `n` entries ready after all:
    /// the kernel published them into its buffers. Returns `n`.
    fn published(&mut self, n: usize) -> usize;
    /// Sleeps in the host on the host part and `extra` until `until`
    /// (None: forever) with `mask`; returns whether `extra` is ready.
    fn sleep(&mut self, extra: Option<c_int>, until: Option<Instant>, mask: *const sigset_t) -> Result<bool, Errno>;
    /// How many host entries the last `sleep` found ready (taken, for an
    /// epoll).
    fn host_ready(&mut self) -> Result<usize, Errno>;
    /// Forgets the rump part's results (a timeout).
    fn clear_rump(&mut self);

    /// The host part's ready entries, without waiting.
    fn look(&mut self) -> Result<usize, Errno> {
        self.sleep(None, Some(Instant::now()), std::ptr::null())?;
        self.host_ready()
    }
}

/// How a wait asks the rump kernel: without waiting, or (`armed`) with an
/// infinite timeout and this thread's notifier, which the kernel arms
/// instead of sleeping when nothing is ready; `armed` then holds what the
/// thread checks before it sleeps.
struct Ask<'a> {
    k: &'a Backend,
    armed: Option<&'a Cell<Option<Armed>>>,
}

impl Ask<'_> {
    fn poll(&self, set: &mut [rump_abi::linux::types::pollfd]) -> Result<i32, Errno> {
        let (ptr, n) = (set.as_mut_ptr(), set.len() as u32);
        match self.armed {
            Some(armed) => rump::rump_sys_poll(&Notifying { k: self.k, armed }, ptr, n, -1),
            None => rump::rump_sys_poll(self.k, ptr, n, 0),
        }
    }

    fn epoll_wait(&self, epfd: i32, ev: *mut epoll_event, max: i32) -> Result<i32, Errno> {
        match self.armed {
            Some(armed) => rump::rump_sys_epoll_wait(&Notifying { k: self.k, armed }, epfd, ev.cast(), max, -1),
            None => rump::rump_sys_epoll_wait(self.k, epfd, ev.cast(), max, 0),
        }
    }
}

/// Runs a wait until something is ready, `deadline` passes, or a signal
/// interrupts the host sleep.
fn wait(k: &Backend, sides: &mut impl Sides, deadline: Option<Instant>, mask: *const sigset_t) -> Result<usize, Errno> {
    let efd = if backend::passes_fds(k) { Some(notifier::eventfd()?) } else { None };
    let armed = Cell::new(None);
    loop {
        let ready = sides.rump(&Ask { k, armed: efd.map(|_| &armed) })?;
        let gate = armed.take();
        if ready > 0 {
            return Ok(ready + sides.look()?);
        }
        let until = match efd {
            Some(_) => deadline,
            None => Some(deadline.map_or(Instant::now() + SLICE, |d| d.min(Instant::now() + SLICE))),
        };
        // A notifier that fired since the call armed it: only a look at
        // the host part, then the rump part is asked again.
        let until = match gate.as_ref().is_none_or(Armed::sleep) {
            true => until,
            false => Some(Instant::now()),
        };
        let slept = sides.sleep(efd, until, mask);
        // What the kernel published for the armed call is taken before
        // anything else lands in the buffers it wrote.
        let published = gate.and_then(|g| {
            g.woke();
            g.settle()
        });
        let from_rump = match published {
            Some(r) => sides.published(usize::try_from(r?).unwrap_or(0)),
            None => 0,
        };
        let woke = match slept {
            Ok(w) => w,
            // Events taken off an epoll are reported, as Linux does.
            Err(_) if from_rump > 0 => false,
            Err(e) => return Err(e),
        };
        if let (true, Some(e)) = (woke, efd) {
            // Emptied only once it fired: a stale wake-up left from an
            // earlier wait costs one more round, never a missed one.
            notifier::drain(e);
        }
        let host = sides.host_ready()?;
        if from_rump > 0 {
            return Ok(from_rump + host);
        }
        if host > 0 {
            return Ok(host + sides.rump(&Ask { k, armed: None })?);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            sides.clear_rump();
            return Ok(0);
        }
    }
}

/// Host ppoll over `set` until `until`.
fn host_ppoll(set: &mut [pollfd], until: Option<Instant>, mask: *const sigset_t) -> Result<usize, Errno> {
    let ts = until.map(|d| {
        let left = d.saturating_duration_since(Instant::now());
        timespec { tv_sec: left.as_secs() as libc::time_t, tv_nsec: left.subsec_nanos() as libc::c_long }
    });
    let tp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const timespec);
    // SAFETY: our own array; the mask is the caller's (NULL or valid).
    check(unsafe { real::ppoll(set.as_mut_ptr(), set.len() as nfds_t, tp, mask) }).map(|n| n as usize)
}

fn deadline_ms(ms: c_int) -> Option<Instant> {
    (ms >= 0).then(|| Instant::now() + Duration::from_millis(ms as u64))
}

fn deadline_ts(ts: *const timespec) -> Result<Option<Instant>, Errno> {
    if ts.is_null() {
        return Ok(None);
    }
    let t = copy_in(ts.cast::<i64>(), 2)?;
    if t[0] < 0 || !(0..1_000_000_000).contains(&t[1]) {
        return Err(Errno(libc::EINVAL));
    }
    Ok(Some(Instant::now() + Duration::new(t[0] as u64, t[1] as u32)))
}

/// `n` values at `addr` in the caller's memory; EFAULT if unreadable.
pub(crate) fn copy_in<T: Pod>(addr: *const T, n: usize) -> Result<Vec<T>, Errno> {
    let mut v = vec![T::default(); n];
    SelfMemory.read(UserAddr(addr as u64), bytes_of(&mut v))?;
    Ok(v)
}

pub(crate) fn copy_out<T: Pod>(addr: *mut T, mut v: Vec<T>) -> Result<(), Errno> {
    SelfMemory.write(UserAddr(addr as u64), bytes_of(&mut v))
}

fn bytes_of<T: Pod>(v: &mut [T]) -> &mut [u8] {
    // SAFETY: Pod values have no padding and any bit pattern is valid.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), std::mem::size_of_val(v)) }
}

// ---- poll and select ------------------------------------------------------

/// A poll set split by kernel, with each entry's place in the caller's.
struct PollSides {
    host: Vec<pollfd>,
    host_at: Vec<usize>,
    rump: Vec<rump_abi::linux::types::pollfd>,
    rump_at: Vec<usize>,
}

impl PollSides {
    /// None when no entry is a rump fd.
    fn split(set: &[rump_abi::linux::types::pollfd]) -> Option<PollSides> {
        let mut s = PollSides { host: Vec::new(), host_at: Vec::new(), rump: Vec::new(), rump_at: Vec::new() };
        for (i, p) in set.iter().enumerate() {
            let own = fdmap::rump_fd(p.fd);
            // An epoll fd with a companion is ready when either is.
            if let Some(r) = own.or_else(|| companion(p.fd)) {
                s.rump.push(rump_abi::linux::types::pollfd { fd: r, events: p.events, revents: 0 });
                s.rump_at.push(i);
            }
            if own.is_none() {
                s.host.push(pollfd { fd: p.fd, events: p.events, revents: 0 });
                s.host_at.push(i);
            }
        }
        (!s.rump.is_empty()).then_some(s)
    }

    /// The results into the caller's set; the number of entries with events.
    fn write_back(&self, set: &mut [rump_abi::linux::types::pollfd]) -> usize {
        set.iter_mut().for_each(|p| p.revents = 0);
        for (p, &i) in self.host.iter().zip(&self.host_at) {
            set[i].revents |= p.revents;
        }
        for (p, &i) in self.rump.iter().zip(&self.rump_at) {
            set[i].revents |= p.revents;
        }
        set.iter().filter(|p| p.revents != 0).count()
    }
}

impl Sides for PollSides {
    fn rump(&mut self, ask: &Ask) -> Result<usize, Errno> {
        ask.poll(&mut self.rump).map(|n| n as usize)
    }

    fn published(&mut self, n: usize) -> usize {
        n
    }

    fn sleep(&mut self, extra: Option<c_int>, until: Option<Instant>, mask: *const sigset_t) -> Result<bool, Errno> {
        self.host.iter_mut().for_each(|p| p.revents = 0);
        // A look at no host fd at all (every fd of the set is a rump one,
        // which something already made ready) has nothing to ask the host:
        // a select on rump sockets alone would pay an empty ppoll per call.
        if self.host.is_empty() && extra.is_none() && until.is_some_and(|d| d <= Instant::now()) {
            return Ok(false);
        }
        if let Some(fd) = extra {
            self.host.push(pollfd { fd, events: libc::POLLIN, revents: 0 });
        }
        let r = host_ppoll(&mut self.host, until, mask);
        let woke = extra.is_some() && self.host.pop().is_some_and(|p| p.revents != 0);
        r.map(|_| woke)
    }

    fn host_ready(&mut self) -> Result<usize, Errno> {
        Ok(self.host.iter().filter(|p| p.revents != 0).count())
    }

    fn clear_rump(&mut self) {
        self.rump.iter_mut().for_each(|p| p.revents = 0);
    }
}

/// poll over a set with rump fds; None if it has none (the host's then).
fn poll_rump(
    fds: *mut pollfd,
    n: nfds_t,
    deadline: Option<Instant>,
    mask: *const sigset_t,
) -> Option<Result<c_int, Errno>> {
    if !any_rump() || n == 0 {
        return None;
    }
    let mut set = match copy_in(fds.cast::<rump_abi::linux::types::pollfd>(), n as usize) {
        Ok(s) => s,
        Err(e) => return Some(Err(e)),
    };
    let mut sides = PollSides::split(&set)?;
    Some((|| {
        let k = backend::kernel()?;
        wait(k, &mut sides, deadline, mask)?;
        let ready = sides.write_back(&mut set);
        copy_out(fds.cast(), set)?;
        Ok(ready as c_int)
    })())
}

crate::hook! {
    Fds fn poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int;
        chk __poll_chk(fdslen: size_t) if fdslen / std::mem::size_of::<pollfd>() < n as usize;
    {
        if !any_rump() {
            return unsafe { host!(fds, n, timeout) };
        }
        match poll_rump(fds, n, deadline_ms(timeout), std::ptr::null()) {
            None => unsafe { host!(fds, n, timeout) },
            Some(r) => guard(|| r),
        }
    }

    Fds fn ppoll(fds: *mut pollfd, n: nfds_t, ts: *const timespec, mask: *const sigset_t) -> c_int;
        chk __ppoll_chk(fdslen: size_t) if fdslen / std::mem::size_of::<pollfd>() < n as usize;
    {
        if !any_rump() {
            return unsafe { host!(fds, n, ts, mask) };
        }
        let deadline = match deadline_ts(ts) {
            Ok(d) => d,
            Err(e) => return guard(|| Err::<c_int, _>(e)),
        };
        match poll_rump(fds, n, deadline, mask) {
            None => unsafe { host!(fds, n, ts, mask) },
            Some(r) => guard(|| r),
        }
    }
}

/// Which poll events make an fd count as ready in each of select's sets
/// (Linux's POLLIN_SET, POLLOUT_SET, POLLEX_SET).
const SELECT_IN: i16 = libc::POLLIN | libc::POLLRDNORM | libc::POLLRDBAND | libc::POLLHUP | libc::POLLERR;
const SELECT_OUT: i16 = libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND | libc::POLLERR;
const SELECT_EX: i16 = libc::POLLPRI;

/// The words of an fd_set that cover `n` fds.
fn set_words(n: usize) -> usize {
    n.div_ceil(64)
}

fn read_set(s: *mut fd_set, n: usize) -> Result<Option<Vec<u64>>, Errno> {
    if s.is_null() {
        return Ok(None);
    }
    copy_in(s.cast::<u64>(), set_words(n)).map(Some)
}

fn has(set: &Option<Vec<u64>>, fd: usize) -> bool {
    set.as_ref().is_some_and(|w| w[fd / 64] & (1 << (fd % 64)) != 0)
}

/// select over sets with rump fds, done as a poll; None if there are none.
fn select_rump(
    n: c_int,
    sets: [*mut fd_set; 3],
    deadline: Option<Instant>,
    mask: *const sigset_t,
) -> Option<Result<c_int, Errno>> {
    if !any_rump() || n <= 0 {
        return None;
    }
    let n = (n as usize).min(libc::FD_SETSIZE);
    let mut bits = [None, None, None];
    for (b, &s) in bits.iter_mut().zip(&sets) {
        match read_set(s, n) {
            Ok(v) => *b = v,
            Err(e) => return Some(Err(e)),
        }
    }
    let mut set = Vec::new();
    for fd in 0..n {
        let events = [libc::POLLIN, libc::POLLOUT, libc::POLLPRI]
            .iter()
            .zip(&bits)
            .filter(|(_, b)| has(b, fd))
            .fold(0, |acc, (e, _)| acc | e);
        if events != 0 {
            set.push(rump_abi::linux::types::pollfd { fd: fd as i32, events, revents: 0 });
        }
    }
    let mut sides = PollSides::split(&set)?;
    Some((|| {
        let k = backend::kernel()?;
        wait(k, &mut sides, deadline, mask)?;
        sides.write_back(&mut set);
        if set.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
            return Err(Errno(libc::EBADF));
        }
        let mut out: [Vec<u64>; 3] = std::array::from_fn(|_| vec![0u64; set_words(n)]);
        let mut count = 0;
        for p in &set {
            let fd = p.fd as usize;
            for ((o, b), want) in out.iter_mut().zip(&bits).zip([SELECT_IN, SELECT_OUT, SELECT_EX]) {
                if has(b, fd) && p.revents & want != 0 {
                    o[fd / 64] |= 1 << (fd % 64);
                    count += 1;
                }
            }
        }
        for (s, o) in sets.iter().zip(out) {
            if !s.is_null() {
                copy_out(s.cast::<u64>(), o)?;
            }
        }
        Ok(count)
    })())
}

crate::hook! {
    Fds fn select(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, tv: *mut timeval) -> c_int;
    {
        if !any_rump() {
            return unsafe { host!(n, r, w, e, tv) };
        }
        let deadline = if tv.is_null() {
            None
        } else {
            match copy_in(tv.cast::<i64>(), 2) {
                // glibc carries whole seconds of tv_usec over, as Linux's select does.
                Ok(t) if t[0] < 0 || t[1] < 0 => return guard(|| Err::<c_int, _>(Errno(libc::EINVAL))),
                Ok(t) => Some(Instant::now() + Duration::from_secs(t[0] as u64) + Duration::from_micros(t[1] as u64)),
                Err(e) => return guard(|| Err::<c_int, _>(e)),
            }
        };
        let Some(result) = select_rump(n, [r, w, e], deadline, std::ptr::null()) else {
            return unsafe { host!(n, r, w, e, tv) };
        };
        // Linux's select leaves the time not slept in the timeout.
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            let _ = copy_out(tv.cast::<i64>(), vec![left.as_secs() as i64, left.subsec_micros() as i64]);
        }
        guard(|| result)
    }

    Fds fn pselect(
        n: c_int,
        r: *mut fd_set,
        w: *mut fd_set,
        e: *mut fd_set,
        ts: *const timespec,
        mask: *const sigset_t,
    ) -> c_int;
    {
        if !any_rump() {
            return unsafe { host!(n, r, w, e, ts, mask) };
        }
        let deadline = match deadline_ts(ts) {
            Ok(d) => d,
            Err(err) => return guard(|| Err::<c_int, _>(err)),
        };
        match select_rump(n, [r, w, e], deadline, mask) {
            None => unsafe { host!(n, r, w, e, ts, mask) },
            Some(res) => guard(|| res),
        }
    }
}

// ---- epoll ----------------------------------------------------------------

/// Whether a wait may involve the rump kernel: a rump fd is shown, or a
/// host fd has a companion.
fn any_rump() -> bool {
    fdmap::any() || KINDS_SEEN.load(Ordering::Acquire) != 0
}

/// What a host fd's companion is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Epoll,
    Inotify,
}

/// Host fds with a companion in the rump kernel → the companion.
static COMPANIONS: Mutex<Option<HashMap<c_int, (i32, Kind)>>> = Mutex::new(None);
/// The kinds of companion ever made (a bit per `Kind`), so the calls that
/// look for one kind — every host `read` asks about inotify — skip the lock
/// until a companion of that kind exists.
static KINDS_SEEN: AtomicU8 = AtomicU8::new(0);

impl Kind {
    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Host fd `fd`'s companion, of any kind: a raw call on such an fd is
/// the kernel's business too (`sud::router`).
pub fn companion(fd: c_int) -> Option<i32> {
    if KINDS_SEEN.load(Ordering::Acquire) == 0 {
        return None;
    }
    COMPANIONS.lock().as_ref()?.get(&fd).map(|&(c, _)| c)
}

/// Host fd `fd`'s companion if it has one of `kind`.
pub fn companion_of(fd: c_int, kind: Kind) -> Option<i32> {
    if KINDS_SEEN.load(Ordering::Acquire) & kind.bit() == 0 {
        return None;
    }
    COMPANIONS.lock().as_ref()?.get(&fd).filter(|&&(_, k)| k == kind).map(|&(c, _)| c)
}

/// Whether host fd `fd` is an anonymous inode of `name` (`[eventpoll]`,
/// `inotify`), as /proc shows it.
fn is_host_anon(fd: c_int, name: &[u8]) -> bool {
    let path = format!("/proc/self/fd/{fd}\0");
    let mut buf = [0u8; 64];
    let n = crate::host::sys(libc::SYS_readlink, [path.as_ptr() as usize, buf.as_mut_ptr() as usize, buf.len(), 0]);
    n.is_ok_and(|n| buf[..n as usize].strip_prefix(b"anon_inode:") == Some(name))
}

/// The companion of host fd `fd`, which must be a host object of `kind`
/// (EBADF if `fd` is not open, EINVAL if it is something else), made
/// with `create` if it has none.
pub fn companion_or_new(
    k: &Backend,
    fd: c_int,
    kind: Kind,
    create: impl FnOnce(&Backend) -> Result<i32, Errno>,
) -> Result<i32, Errno> {
    if let Some(c) = companion_of(fd, kind) {
        return Ok(c);
    }
    let name: &[u8] = match kind {
        Kind::Epoll => b"[eventpoll]",
        Kind::Inotify => b"inotify",
    };
    if fdmap::rump_fd(fd).is_some() || !is_host_anon(fd, name) {
        return Err(Errno(if fcntl_ok(fd) { libc::EINVAL } else { libc::EBADF }));
    }
    let mut all = COMPANIONS.lock();
    let all = all.get_or_insert_with(HashMap::new);
    if let Some(&(c, _)) = all.get(&fd) {
        return Ok(c);
    }
    let c = create(k)?;
    all.insert(fd, (c, kind));
    KINDS_SEEN.fetch_or(kind.bit(), Ordering::Release);
    Ok(c)
}

/// Waits until host fd `fd` or its companion has something to read (a
/// blocking read of a host fd with a companion), or a signal comes (EINTR).
pub fn wait_readable(fd: c_int) -> Result<(), Errno> {
    let set = [rump_abi::linux::types::pollfd { fd, events: libc::POLLIN, revents: 0 }];
    let Some(mut sides) = PollSides::split(&set) else { return Ok(()) };
    wait(backend::kernel()?, &mut sides, None, std::ptr::null()).map(drop)
}

/// The companion of host epoll fd `epfd`, made if it has none.
fn epoll_companion(k: &Backend, epfd: c_int) -> Result<i32, Errno> {
    if let Some(c) = companion_of(epfd, Kind::Epoll) {
        return Ok(c);
    }
    let c = companion_or_new(k, epfd, Kind::Epoll, |k| rump::rump_sys_epoll_create1(k, libc::EPOLL_CLOEXEC))?;
    // Rung once the companion is there to be found by the thread it wakes.
    ring_doorbell(epfd)?;
    Ok(c)
}

/// The data of a doorbell's event: no address (not canonical), so no
/// program's pointer; taken out before the program sees the events.
const DOORBELL: u64 = u64::from_le_bytes(*b"rumpbell");

/// The doorbell: an eventfd holding 1, never read, so always readable;
/// one for every epoll fd, each adding it one-shot.
static DOORBELL_FD: OnceLock<rumpclient::ownfd::OwnFd> = OnceLock::new();

/// Wakes a thread asleep in the host's wait on `epfd`, or the next one to
/// wait there, once (again, if it was rung before: two threads made the
/// companion at once).
fn ring_doorbell(epfd: c_int) -> Result<(), Errno> {
    let fd = match DOORBELL_FD.get() {
        Some(fd) => fd,
        None => {
            let fd =
                crate::host::sys(libc::SYS_eventfd2, [1, (libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) as usize, 0, 0])?;
            // SAFETY: a descriptor just made, ours; another thread's may
            // have won, and then this one closes.
            let own = rumpclient::ownfd::OwnFd::new(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as i32) });
            DOORBELL_FD.get_or_init(|| own)
        }
    };
    let mut ev = epoll_event { events: (libc::EPOLLIN | libc::EPOLLONESHOT) as u32, u64: DOORBELL };
    let ev_addr = &mut ev as *mut epoll_event as usize;
    let ctl =
        |op: c_int| crate::host::sys(libc::SYS_epoll_ctl, [epfd as usize, op as usize, fd.raw() as usize, ev_addr]);
    match ctl(libc::EPOLL_CTL_ADD) {
        Err(Errno(libc::EEXIST)) => ctl(libc::EPOLL_CTL_MOD).map(drop),
        r => r.map(drop),
    }
}

/// Takes doorbell events out of the first `n` of `ev`; returns how many
/// are left.
fn without_doorbell(ev: *mut epoll_event, n: usize) -> usize {
    // Made before it is first added anywhere.
    if DOORBELL_FD.get().is_none() || n == 0 {
        return n;
    }
    // SAFETY: the `n` events the host just wrote.
    let events = unsafe { std::slice::from_raw_parts_mut(ev, n) };
    let mut kept = 0;
    for i in 0..n {
        if events[i].u64 != DOORBELL {
            events[kept] = events[i];
            kept += 1;
        }
    }
    kept
}

fn fcntl_ok(fd: c_int) -> bool {
    crate::host::sys(libc::SYS_fcntl, [fd as usize, libc::F_GETFD as usize, 0, 0]).is_ok()
}

/// A host fd is being closed: its companion goes with it.
pub fn host_fd_closing(fd: c_int) {
    if companion(fd).is_none() {
        return;
    }
    let c = COMPANIONS.lock().as_mut().and_then(|all| all.remove(&fd));
    if let (Some((c, _)), Some(k)) = (c, backend::current()) {
        let _ = rump::rump_sys_close(k, c as u32);
    }
}

crate::hook! {
    Fd fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, ev: *mut epoll_event) -> c_int;
    {
        if fdmap::rump_fd(epfd).is_some() {
            // A rump fd is never an epoll instance.
            return guard(|| Err::<c_int, _>(Errno(libc::EINVAL)));
        }
        match (fdmap::rump_fd(fd), companion(fd)) {
            (None, None) => unsafe { host!(epfd, op, fd, ev) },
            (Some(r), _) => guard(|| {
                let k = backend::kernel()?;
                let c = epoll_companion(k, epfd)?;
                rump::rump_sys_epoll_ctl(k, c, op, r, ev.cast())
            }),
            // An epoll fd with a companion goes in on both sides, so the
            // outer one wakes for either's events.
            (None, Some(inner)) => guard(|| {
                let r = check(unsafe { host!(epfd, op, fd, ev) })?;
                let k = backend::kernel()?;
                let c = epoll_companion(k, epfd)?;
                rump::rump_sys_epoll_ctl(k, c, op, inner, ev.cast())?;
                Ok(r)
            }),
        }
    }
}

/// A wait on a host epoll fd and its companion.
struct EpollSides {
    epfd: c_int,
    companion: i32,
    ev: *mut epoll_event,
    max: c_int,
    /// Events already taken, from the companion and the host epoll.
    got: usize,
    /// Whether the host epoll may have events (the last `sleep` said so,
    /// or did not wait).
    host_readable: bool,
}

impl Sides for EpollSides {
    fn rump(&mut self, ask: &Ask) -> Result<usize, Errno> {
        let room = self.max - self.got as c_int;
        if room <= 0 {
            return Ok(0);
        }
        // SAFETY: inside the caller's array of `max` events.
        let at = unsafe { self.ev.add(self.got) };
        let n = ask.epoll_wait(self.companion, at, room)? as usize;
        self.got += n;
        Ok(n)
    }

    fn published(&mut self, n: usize) -> usize {
        self.got += n;
        n
    }

    fn sleep(&mut self, extra: Option<c_int>, until: Option<Instant>, mask: *const sigset_t) -> Result<bool, Errno> {
        let mut set = [
            pollfd { fd: self.epfd, events: libc::POLLIN, revents: 0 },
            pollfd { fd: extra.unwrap_or(-1), events: libc::POLLIN, revents: 0 },
        ];
        let waited = until.is_none_or(|d| d > Instant::now());
        self.host_readable = !waited;
        if waited {
            host_ppoll(&mut set, until, mask)?;
            self.host_readable = set[0].revents != 0;
        }
        Ok(set[1].revents != 0)
    }

    fn host_ready(&mut self) -> Result<usize, Errno> {
        let room = self.max - self.got as c_int;
        if room <= 0 || !self.host_readable {
            return Ok(0);
        }
        // SAFETY: inside the caller's array of `max` events.
        let at = unsafe { self.ev.add(self.got) };
        let n = match check(unsafe { real::epoll_wait(self.epfd, at, room, 0) }) {
            // The events already gathered are what this wait returns, as
            // Linux's copy stopping at a fault returns those before it.
            Err(e) if e.0 == libc::EFAULT && self.got > 0 => return Ok(0),
            r => r? as usize,
        };
        let n = without_doorbell(at, n);
        self.got += n;
        Ok(n)
    }

    fn clear_rump(&mut self) {
        self.got = 0;
    }
}

fn epoll_rump(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    deadline: Option<Instant>,
    mask: *const sigset_t,
) -> Option<c_int> {
    if fdmap::rump_fd(epfd).is_some() {
        return Some(guard(|| Err::<c_int, _>(Errno(libc::EINVAL))));
    }
    let companion = companion(epfd)?;
    Some(guard(|| {
        if max <= 0 {
            return Err(Errno(libc::EINVAL));
        }
        let k = backend::kernel()?;
        let mut sides = EpollSides { epfd, companion, ev, max, got: 0, host_readable: false };
        Ok(wait(k, &mut sides, deadline, mask)? as c_int)
    }))
}

/// A wait on host epoll fd `epfd`: `host`'s (the host's own wait) unless
/// the fd has a companion, or gets one while the host waits (its doorbell
/// rang), then `epoll_rump`'s until `deadline`.
fn epoll_any(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    deadline: Option<Instant>,
    mask: *const sigset_t,
    host: impl FnOnce() -> c_int,
) -> c_int {
    if let Some(r) = epoll_rump(epfd, ev, max, deadline, mask) {
        return r;
    }
    let n = host();
    if n <= 0 {
        return n;
    }
    match without_doorbell(ev, n as usize) {
        0 => epoll_rump(epfd, ev, max, deadline, mask).unwrap_or(0),
        left => left as c_int,
    }
}

crate::hook! {
    Fd fn epoll_wait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int) -> c_int;
    {
        epoll_any(epfd, ev, max, deadline_ms(timeout), std::ptr::null(), || unsafe { host!(epfd, ev, max, timeout) })
    }

    Fd fn epoll_pwait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int, mask: *const sigset_t) -> c_int;
    {
        epoll_any(epfd, ev, max, deadline_ms(timeout), mask, || unsafe { host!(epfd, ev, max, timeout, mask) })
    }

    Fd fn epoll_pwait2(
        epfd: c_int,
        ev: *mut epoll_event,
        max: c_int,
        ts: *const timespec,
        mask: *const sigset_t,
    ) -> c_int;
    {
        match deadline_ts(ts) {
            Ok(d) => epoll_any(epfd, ev, max, d, mask, || unsafe { host!(epfd, ev, max, ts, mask) }),
            Err(e) => guard(|| Err::<c_int, _>(e)),
        }
    }
}
