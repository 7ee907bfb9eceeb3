//! Static binaries: no dynamic loader, so no preload library; their
//! system calls are caught by a seccomp filter instead and served by a
//! supervisor in the process that hosts the kernel (seccomp user
//! notification, Linux 5.9+): `rumpctl run`'s own, or a `rump_server`'s.
//!
//! The filter (`rump_abi::linux::seccomp`, installed just before exec)
//! sends to the supervisor every call the generated routing table
//! (`rump_abi::linux::sys::RAW_ROUTES`, from the Linux `syscalls.master`)
//! says takes an fd, a path or a socket family, plus the waits on sets
//! in memory (poll, ppoll, select, pselect6) and getcwd; all else runs on
//! the host untouched. For each caught call the supervisor decides as the
//! library does (with its default `socket=all:nolocal`): a path under the
//! prefix or one of the network's `/proc` files, a socket of a family the
//! library takes by default (inet, inet6, route netlink, packet: busybox
//! `ip` and `ifconfig` see the kernel's interfaces), a relative path from
//! a working directory in the kernel, or an fd that is a rump fd goes to
//! the kernel, run in a kernel process of the caller's own with the
//! caller's memory read and written through `process_vm_readv`/`writev`;
//! anything else is let through (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
//! Waits that mix host and rump fds (Go's netpoller: one host epoll with
//! its eventfd and the program's sockets) are served here (`wait`).
//!
//! A rump fd lives in the caller as a placeholder installed by
//! `SECCOMP_IOCTL_NOTIF_ADDFD`: a memfd named `rumpfd:N` for the kernel's
//! fd N, so the caller's own fd table is the map (it follows dup2, fork
//! and close-on-exec by itself), read back through `/proc/PID/fd`. A
//! process's kernel process is made on its first caught call, forked from
//! its parent's if the parent has one.
//!
//! Who asks for supervision, and how (`door`): every server on a unix
//! socket (rump_server, `rumpctl run`'s, and the keeper an in-process
//! kernel moves into, `hijack/src/keeper.rs`) listens beside it for a
//! program about to exec a static image, which sends its listener there.
//! `rumpctl run` and `rumpctl net exec` do so for a static command; the
//! preload library's exec hook does so when a dynamic program execs a
//! static image (`sh -c 'busybox ls /rump'`), passing its working
//! directory in the kernel along. A supervised program's execve of an
//! image stored in the kernel runs a copy of it (`exec`). The
//! filter then stays on that image and everything it starts: a dynamic
//! program a static shell runs loads the library (LD_PRELOAD crosses in
//! the environment) and is served by it, while what it does on the host
//! still goes past the supervisor, who lets it through or serves the
//! shell's rump fds it inherited (`ls > /rump/f` from busybox sh).
//! Filtering every process from the start instead would be simpler and
//! wrong on cost: a dynamic program under the filter pays a round trip
//! per host call (measured: `dd bs=512 count=20000` to /dev/null,
//! 0.02 s run from dash, 0.8 s from busybox sh, both under `rumpctl
//! run`), so the filter goes only where a static image is.
//!
//! Each call costs a round trip between the caller and a receiving
//! thread (two context switches; `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`
//! makes them direct hand-offs on Linux 6.6+); the receiver serves what
//! it receives itself, and each argument's /proc lookup is made once.

mod blocking;
mod door;
mod exec;
mod filter;
mod restore;
mod route;
mod serve;
mod target;
mod wait;

use blocking::Blocking;
pub use door::{door_path, knock, Door};
pub use filter::{is_static, ChildSetup};
use restore::Restore;
use target::{pidfd_of, ppid_of, Tgids};
use wait::Waits;

use rump_abi::linux::seccomp;
use rump_abi::Errno;
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::{Kernel, Process};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What a supervisor serves: a process tree's listener, with the kernel
/// and the prefix its programs see the kernel at.
struct Supervision {
    kernel: Kernel,
    prefix: String,
    root: Root,
    listener: OwnedFd,
}

/// How the first process of the tree starts in the kernel.
#[derive(Default)]
struct Root {
    /// Its working directory in the kernel, if there.
    cwd: Option<Vec<u8>>,
    /// The kernel process the program that exec'd it handed over (its
    /// fds with it), if any; else a new one.
    handed: Option<Process>,
}

impl Supervision {
    /// Serves on a thread of its own for as long as the process tree runs.
    fn start(self) -> std::io::Result<()> {
        let Supervision { kernel, prefix, root, listener } = self;
        // The caller and the receiving thread hand the CPU to each other
        // directly on each call (Linux 6.6+; elsewhere the usual wake-ups).
        // SAFETY: an ioctl on our listener with a flag word.
        unsafe { libc::ioctl(listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS as _, SYNC_WAKE_UP) };
        let sup = Arc::new_cyclic(|me| Supervisor {
            me: me.clone(),
            idle: AtomicUsize::new(0),
            tgids: Tgids::default(),
            kernel,
            prefix,
            root: Mutex::new(root),
            listener,
            procs: Mutex::new(HashMap::new()),
            blocking: Blocking::default(),
            restore: Restore::default(),
        });
        let weak = Arc::downgrade(&sup);
        std::thread::Builder::new().name("rump-seccomp-watch".into()).spawn(move || Supervisor::watch(&weak))?;
        sup.idle.fetch_add(1, Ordering::SeqCst);
        std::thread::Builder::new().name("rump-seccomp".into()).spawn(move || sup.run())?;
        Ok(())
    }
}

/// A process under supervision.
struct Traced {
    process: Arc<Process>,
    /// Its working directory is in the kernel (after a `chdir` there).
    cwd_in_kernel: bool,
    /// Its pidfd and epoll companions (apart: a wait holds them long).
    waits: Arc<Mutex<Waits>>,
    /// A pidfd of its, readable once it has exited.
    exit: OwnedFd,
}

struct Supervisor {
    /// Itself, for a call's lwp to start a receiver from (`blocking`).
    me: std::sync::Weak<Supervisor>,
    /// Threads waiting for a notification, or started to (`run`).
    idle: AtomicUsize,
    tgids: Tgids,
    kernel: Kernel,
    prefix: String,
    /// How the first process without a supervised parent starts (taken
    /// by it).
    root: Mutex<Root>,
    listener: OwnedFd,
    procs: Mutex<HashMap<i32, Arc<Mutex<Traced>>>>,
    blocking: Blocking,
    restore: Restore,
}

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (linux/seccomp.h).
const SYNC_WAKE_UP: u64 = 1;

/// How often the watcher looks (`Supervisor::watch`): how late, at most,
/// a signal ends a call sleeping in the kernel (`blocking`).
const WATCH_PERIOD: std::time::Duration = std::time::Duration::from_millis(10);

/// Idle threads receiving beyond this many end once they have served.
const SPARE_RECEIVERS: usize = 2;

/// One caught call, as the kernel reports it.
#[derive(Clone, Copy)]
struct Call {
    id: u64,
    tid: i32,
    nr: i64,
    args: [u64; 6],
}

/// What a caught call's arguments name in the kernel, by argument: the
/// kernel's fd behind a placeholder, the kernel's path for a path.
#[derive(Default)]
struct Resolved {
    fds: [Option<i32>; 6],
    paths: [Option<Vec<u8>>; 6],
}

/// What to answer.
enum Answer {
    Continue,
    Value(i64),
    Error(Errno),
    /// Install a placeholder for the kernel's fd and return its number.
    NewFd {
        rfd: i32,
        at: Option<i32>,
        cloexec: bool,
    },
}

impl Supervisor {
    /// A receiving thread (counted in `idle` by whoever started it). Each
    /// serves what it receives itself, so a call costs no hand-over
    /// between threads; since a call may block, another receiver starts
    /// when none is left waiting and the call is about to sleep in the
    /// kernel (`blocking`) or is a wait served here (`serve_wait`), and
    /// surplus ones end after serving. Starting one for every call that
    /// found none waiting would start one per call of a single-threaded
    /// program: its next call comes before the thread that answered the
    /// last is back at receiving.
    fn run(self: Arc<Self>) {
        loop {
            // SAFETY: a zeroed notification buffer for the kernel to fill.
            let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            let r = unsafe { libc::ioctl(self.listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV as _, &mut req) };
            if r != 0 {
                // ENOENT: that caller died; or no process uses the filter
                // any more (the listener hangs up), and the tree is done.
                match std::io::Error::last_os_error().raw_os_error() {
                    Some(libc::EINTR) | Some(libc::ENOENT) if !self.hung_up() => continue,
                    _ => {
                        self.idle.fetch_sub(1, Ordering::SeqCst);
                        return;
                    }
                }
            }
            self.idle.fetch_sub(1, Ordering::SeqCst);
            Tgids::new_call();
            let call = Call { id: req.id, tid: req.pid as i32, nr: req.data.nr as i64, args: req.data.args };
            if wait::waits_outside_the_kernel(call.nr) {
                self.spare_receiver();
            }
            if seccomp::is_probe(call.nr, &call.args) {
                self.answer(&call, Answer::Value(seccomp::PROBE_WORD));
                self.idle.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            self.restore.now(call.tid);
            match self.resolve(&call) {
                _ if call.nr == libc::SYS_execve => {
                    let a = self.execve(&call);
                    self.answer(&call, a);
                }
                Some(r) => {
                    let a = self.serve(&call, r);
                    self.answer(&call, a);
                }
                None => {
                    self.leaving_kernel_cwd(&call);
                    self.answer(&call, Answer::Continue);
                }
            }
            if self.idle.load(Ordering::SeqCst) >= SPARE_RECEIVERS {
                return;
            }
            self.idle.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Starts another receiver if none is waiting (counted at once, so a
    /// call sleeping again before it runs starts no second one).
    fn spare_receiver(&self) {
        let Some(me) = self.me.upgrade() else { return };
        if self.idle.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return;
        }
        if std::thread::Builder::new().name("rump-seccomp".into()).spawn(move || me.run()).is_err() {
            self.idle.fetch_sub(1, Ordering::SeqCst);
            tracing::info!("seccomp supervisor: no thread for the next call until this one is served");
        }
    }

    /// Whether no process uses the filter any more.
    fn hung_up(&self) -> bool {
        let mut p = libc::pollfd { fd: self.listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one pollfd of ours; no wait.
        unsafe { libc::poll(&mut p, 1, 0) };
        p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
    }

    fn answer(&self, c: &Call, a: Answer) {
        let l = self.listener.as_raw_fd();
        let mut resp = libc::seccomp_notif_resp { id: c.id, val: 0, error: 0, flags: 0 };
        match a {
            Answer::Continue => resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
            Answer::Value(v) => resp.val = v,
            Answer::Error(e) => resp.error = -e.0,
            Answer::NewFd { rfd, at, cloexec } => match self.install(c, rfd, at, cloexec) {
                Ok(()) => return,
                Err(e) => resp.error = -e.0,
            },
        }
        // SAFETY: a response for the kernel; ENOENT if the caller died.
        unsafe { libc::ioctl(l, libc::SECCOMP_IOCTL_NOTIF_SEND as _, &resp) };
    }

    /// Puts a placeholder for kernel fd `rfd` into the caller (at `at`, or
    /// the lowest free number) and answers the call with its number.
    fn install(&self, c: &Call, rfd: i32, at: Option<i32>, cloexec: bool) -> Result<(), Errno> {
        let name = format!("rumpfd:{rfd}\0");
        // SAFETY: a NUL-terminated name.
        let m = unsafe { libc::memfd_create(name.as_ptr().cast(), libc::MFD_CLOEXEC) };
        if m < 0 {
            return Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)));
        }
        // SAFETY: ours.
        let m = unsafe { OwnedFd::from_raw_fd(m) };
        self.add_fd(c, m.as_raw_fd(), at, cloexec, true).map(|_| ())
    }

    /// Puts a copy of our fd `src` into the caller (at `at`, or the lowest
    /// free number); with `send`, that also answers the call with its
    /// number. The number it got.
    fn add_fd(&self, c: &Call, src: i32, at: Option<i32>, cloexec: bool, send: bool) -> Result<i32, Errno> {
        let mut flags = if send { libc::SECCOMP_ADDFD_FLAG_SEND as u32 } else { 0 };
        if at.is_some() {
            flags |= libc::SECCOMP_ADDFD_FLAG_SETFD as u32;
        }
        let add = libc::seccomp_notif_addfd {
            id: c.id,
            flags,
            srcfd: src as u32,
            newfd: at.unwrap_or(0) as u32,
            newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
        };
        // SAFETY: the request for the kernel.
        match unsafe { libc::ioctl(self.listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ADDFD as _, &add) } {
            n if n < 0 => Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))),
            n => Ok(n),
        }
    }

    /// The watcher, for as long as the supervisor lives: every
    /// `WATCH_PERIOD` it looks at the calls sleeping in the kernel
    /// (`blocking`) and lets go of the kernel processes of processes that
    /// have exited (their fds close, as a process's do when it exits).
    fn watch(sup: &std::sync::Weak<Supervisor>) {
        loop {
            std::thread::sleep(WATCH_PERIOD);
            let Some(sup) = sup.upgrade() else { return };
            sup.blocking.check(&sup);
            sup.reap_exited();
        }
    }

    fn reap_exited(&self) {
        let Ok(mut procs) = self.procs.lock() else { return };
        let mut set: Vec<(i32, libc::pollfd)> = procs
            .iter()
            .filter_map(|(&tgid, t)| {
                let fd = t.lock().ok()?.exit.as_raw_fd();
                Some((tgid, libc::pollfd { fd, events: libc::POLLIN, revents: 0 }))
            })
            .collect();
        let mut fds: Vec<libc::pollfd> = set.iter().map(|(_, p)| *p).collect();
        // SAFETY: our own array of our pidfds; no wait.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) } <= 0 {
            return;
        }
        for ((tgid, _), p) in set.iter_mut().zip(&fds) {
            if p.revents != 0 {
                procs.remove(tgid);
            }
        }
    }

    /// Whether the caller's working directory is in the kernel.
    fn cwd_in_kernel(&self, tid: i32) -> bool {
        self.traced_or_new(tid).is_ok_and(|t| t.lock().is_ok_and(|t| t.cwd_in_kernel))
    }

    /// The waits of the caller's process, if it has been seen before.
    fn known_waits(&self, tid: i32) -> Option<Arc<Mutex<Waits>>> {
        let tgid = self.tgids.of(tid)?;
        let procs = self.procs.lock().ok()?;
        let t = procs.get(&tgid)?.lock().ok()?.waits.clone();
        Some(t)
    }

    /// The caller's kernel process, made on first use: a fork of its
    /// parent's if that one is supervised, else a new one.
    fn traced_or_new(&self, tid: i32) -> Result<Arc<Mutex<Traced>>, Errno> {
        let tgid = self.tgids.of(tid).ok_or(Errno(libc::ESRCH))?;
        let mut procs = self.procs.lock().map_err(|_| Errno(libc::EIO))?;
        if let Some(t) = procs.get(&tgid) {
            return Ok(t.clone());
        }
        let exit = pidfd_of(tgid)?;
        let parent = ppid_of(tgid).and_then(|pp| procs.get(&pp).cloned());
        let t = match parent {
            Some(p) => {
                let p = p.lock().map_err(|_| Errno(libc::EIO))?;
                let waits = p.waits.lock().map_err(|_| Errno(libc::EIO))?.fork();
                Traced {
                    process: Arc::new(p.process.fork()?),
                    cwd_in_kernel: p.cwd_in_kernel,
                    waits: Arc::new(Mutex::new(waits)),
                    exit,
                }
            }
            None => {
                let root = std::mem::take(&mut *self.root.lock().map_err(|_| Errno(libc::EIO))?);
                let process = match root.handed {
                    // Its image changed: close-on-exec fds close.
                    Some(p) => p.exec("static").map(|()| p)?,
                    None => self.kernel.spawn(Emulation::Linux, Cred::root(), "static")?,
                };
                let cwd = root.cwd;
                if let Some(mut dir) = cwd.clone() {
                    dir.push(0);
                    let args = [dir.as_ptr() as u64, 0, 0, 0, 0, 0, 0, 0];
                    process.syscall_with(libc::SYS_chdir as u32, &args, &crate::selfmem::SelfMemory)?;
                }
                Traced { process: Arc::new(process), cwd_in_kernel: cwd.is_some(), waits: Arc::default(), exit }
            }
        };
        t.process.set_host_pid(tgid as _);
        let t = Arc::new(Mutex::new(t));
        procs.insert(tgid, t.clone());
        Ok(t)
    }
}
