//! The supervised process as the supervisor sees it: its memory (through
//! `process_vm_readv`/`writev`, with strings of the supervisor's lent at
//! addresses it does not use), its fd table (placeholders read back
//! through `/proc/PID/fd`), and its ids.

use rump_abi::usermem::UserMemory;
use rump_abi::{Errno, UserAddr};

/// The kernel fd behind the caller's fd `fd`, if it is a placeholder.
pub(super) fn rump_fd(tid: i32, fd: i32) -> Option<i32> {
    if fd < 0 {
        return None;
    }
    let link = std::fs::read_link(format!("/proc/{tid}/fd/{fd}")).ok()?;
    let s = link.to_str()?;
    s.strip_prefix("/memfd:rumpfd:")?.split(' ').next()?.parse().ok()
}

/// The lowest fd number at or above `min` that the caller has free.
pub(super) fn lowest_free(tid: i32, min: i32) -> i32 {
    (min.max(0)..).find(|n| std::fs::symlink_metadata(format!("/proc/{tid}/fd/{n}")).is_err()).unwrap_or(min)
}

fn status_field(pid: i32, field: &str) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix(field)?.trim().parse().ok())
}

/// Who a pending signal is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Pending {
    /// The thread itself: it takes it as soon as it returns.
    Thread,
    /// Its process of several threads: it or another one takes it (one
    /// that stays pending is this thread's to take).
    Process,
}

/// A thread's signals as `/proc/TID/status` shows them.
pub(super) struct Signals {
    /// Its mask now.
    pub(super) blocked: u64,
    own: u64,
    shared: u64,
    ignored: u64,
    alone: bool,
}

impl Signals {
    pub(super) fn of(tid: i32) -> Option<Signals> {
        let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
        let mask = |field: &str| {
            let v = s.lines().find_map(|l| l.strip_prefix(field));
            v.and_then(|v| u64::from_str_radix(v.trim(), 16).ok()).unwrap_or(0)
        };
        let alone = s.lines().find_map(|l| l.strip_prefix("Threads:")).is_some_and(|v| v.trim() == "1");
        Some(Signals {
            blocked: mask("SigBlk:"),
            own: mask("SigPnd:"),
            shared: mask("ShdPnd:"),
            ignored: mask("SigIgn:"),
            alone,
        })
    }

    /// The pending signals that `mask` (the thread's own if None) lets
    /// through, and who they are for (one that a default action ignores
    /// is never queued).
    pub(super) fn pending(&self, mask: Option<u64>) -> Option<(Pending, u64)> {
        let open = !mask.unwrap_or(self.blocked) & !self.ignored;
        let (own, shared) = (self.own & open, self.shared & open);
        // The one thread of its process takes the process's signals too.
        if own != 0 || (shared != 0 && self.alone) {
            Some((Pending::Thread, own | shared))
        } else {
            (shared != 0).then_some((Pending::Process, shared))
        }
    }
}

/// A signal pending for thread `tid` that it does not block.
pub(super) fn signal_pending(tid: i32) -> Option<Pending> {
    Signals::of(tid)?.pending(None).map(|(p, _)| p)
}

/// Thread ids' processes, remembered: reading `/proc/TID/status` on
/// every call costs more than the call. A remembered answer is checked
/// with one lookup of `/proc/TGID/task/TID`, so a thread id reused by
/// another process is looked up afresh; once per call a receiver serves
/// (`new_call`): its caller, stopped in the call, keeps its id meanwhile.
#[derive(Default)]
pub(super) struct Tgids(std::sync::Mutex<std::collections::HashMap<i32, i32>>);

thread_local! {
    /// On a receiving thread serving a call, its caller's tid and process
    /// once checked (`Some(None)` before).
    static CHECKED: std::cell::Cell<Option<Option<(i32, i32)>>> = const { std::cell::Cell::new(None) };
}

impl Tgids {
    /// The calling receiver starts serving a new call.
    pub(super) fn new_call() {
        CHECKED.set(Some(None));
    }

    pub(super) fn of(&self, tid: i32) -> Option<i32> {
        let checked = CHECKED.get();
        if let Some(Some((t, tgid))) = checked {
            if t == tid {
                return Some(tgid);
            }
        }
        let known = self.0.lock().ok()?.get(&tid).copied();
        let tgid = match known.filter(|g| std::fs::symlink_metadata(format!("/proc/{g}/task/{tid}")).is_ok()) {
            Some(tgid) => tgid,
            None => {
                let tgid = status_field(tid, "Tgid:")?;
                self.0.lock().ok()?.insert(tid, tgid);
                tgid
            }
        };
        if checked == Some(None) {
            CHECKED.set(Some(Some((tid, tgid))));
        }
        Some(tgid)
    }
}

/// A pidfd for process `pid` (readable once it has exited).
pub(super) fn pidfd_of(pid: i32) -> Result<std::os::fd::OwnedFd, Errno> {
    // SAFETY: a plain call.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ESRCH)));
    }
    // SAFETY: a fresh fd of ours.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as i32) })
}

pub(super) fn ppid_of(pid: i32) -> Option<i32> {
    status_field(pid, "PPid:")
}

/// The caller's NUL-terminated string at `addr` (at most PATH_MAX).
pub(super) fn read_str(tid: i32, addr: u64) -> Option<Vec<u8>> {
    if addr == 0 {
        return None;
    }
    let mem = TargetMem { tid, overlay: Vec::new() };
    mem.copy_in_str(UserAddr(addr), libc::PATH_MAX as usize).ok()
}

/// The caller's memory, with strings of ours lent at addresses it does
/// not use (the kernel's view of a rewritten path).
pub(super) struct TargetMem {
    pub(super) tid: i32,
    pub(super) overlay: Vec<(u64, Vec<u8>)>,
}

/// Where lent strings go: a user address far from anything mapped.
const LENT_BASE: u64 = 0x1000_0000_0000;

impl TargetMem {
    pub(super) fn lend(&mut self, mut s: Vec<u8>) -> u64 {
        s.push(0);
        let at = LENT_BASE + self.overlay.len() as u64 * 0x1_0000;
        self.overlay.push((at, s));
        at
    }

    fn lent(&self, addr: u64) -> Option<&[u8]> {
        self.overlay.iter().find(|(a, _)| *a == addr).map(|(_, s)| &s[..])
    }

    fn vm(&self, call: i64, local: *mut u8, addr: u64, n: usize) -> Result<usize, Errno> {
        let l = libc::iovec { iov_base: local.cast(), iov_len: n };
        let r = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: n };
        // SAFETY: one local buffer of `n` bytes and the caller's address.
        let got = unsafe {
            libc::syscall(
                call,
                self.tid as libc::c_long,
                &l as *const libc::iovec,
                1usize,
                &r as *const libc::iovec,
                1usize,
                0usize,
            )
        };
        if got < 0 {
            Err(Errno(libc::EFAULT))
        } else {
            Ok(got as usize)
        }
    }
}

impl UserMemory for TargetMem {
    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(s) = self.lent(addr.0) {
            let n = buf.len().min(s.len());
            buf[..n].copy_from_slice(&s[..n]);
            return Ok(());
        }
        match self.vm(libc::SYS_process_vm_readv, buf.as_mut_ptr(), addr.0, buf.len())? {
            n if n == buf.len() => Ok(()),
            _ => Err(Errno(libc::EFAULT)),
        }
    }

    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        if data.is_empty() {
            return Ok(());
        }
        match self.vm(libc::SYS_process_vm_writev, data.as_ptr().cast_mut(), addr.0, data.len())? {
            n if n == data.len() => Ok(()),
            _ => Err(Errno(libc::EFAULT)),
        }
    }

    fn copy_in_str(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        if let Some(s) = self.lent(addr.0) {
            return Ok(s[..s.len() - 1].to_vec());
        }
        if addr.is_null() {
            return Err(Errno(libc::EFAULT));
        }
        let mut out = Vec::new();
        let mut at = addr.0;
        while out.len() < max {
            // Up to the end of the page, so an unmapped next page is no fault.
            let chunk = (4096 - (at % 4096) as usize).min(max - out.len());
            let mut buf = vec![0u8; chunk];
            let n = self.vm(libc::SYS_process_vm_readv, buf.as_mut_ptr(), at, chunk)?;
            if let Some(z) = buf[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..z]);
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
            at += n as u64;
        }
        Err(Errno(libc::ENAMETOOLONG))
    }
}
