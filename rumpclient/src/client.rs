//! The client: one connection to a rump server shared by every thread of
//! the calling process.
//!
//! Each call is marshaled into one request. There is no reader thread:
//! the first waiting thread that finds the connection unread becomes its
//! reader, hands other threads their replies (waking them through a futex)
//! and answers the server's copy requests from this process's memory, until
//! its own reply arrives; then it passes the reading on. A short call from
//! one thread thus costs one send and one receive, like a bare socket.
//! The reader never waits to send while it holds the reading: before its
//! answer to a copy request would wait (another thread sending a large
//! frame, or the socket full), it hands the reading to another waiting
//! thread, since the server may be waiting for us to read before it reads
//! again (`server`). A thread sending its call reads nothing meanwhile,
//! but nothing is owed to it before its call has gone out.
//!
//! A host signal whose handler returns while a thread waits makes the wait
//! return EINTR unless the handler was installed with SA_RESTART, as for a
//! host read; the client then asks the server to cancel the call, which
//! returns EINTR. With SA_RESTART the wait goes on, as the host's would.
//!
//! Over a connection that passes descriptors the client asks, right after
//! its handshake, to move its calls to shared memory (`transport::shm`;
//! `RUMP_TRANSPORT=socket` says no): plain calls then post in the
//! channel, and the socket carries the rest (readiness notifiers, file
//! mappings, fork, exec, cancels). A thread that sleeps there makes sure
//! one thread of this process watches the socket for the server hanging up.
//!
//! If the connection is lost, `RUMPHIJACK_RETRYCONNECT` decides (`Retry`):
//! by default calls fail with ENOTCONN. Fork and exec have their library
//! calls here (`prefork`, `connect_forked`, `exec_env`, `resume_after_exec`).

use crate::frame::{read_frame, write_frame, Frame, Outgoing};
use crate::marshal::{marshal, ClientMemory};
use crate::notify::{EventFdNotifier, GateWords};
use crate::ownfd::OwnFd;
use crate::selfmem::SelfMemory;
use crate::sock::{rand_bytes, Conn};
use crate::transport::shm::client::{ClientChannel, Stop};
use crate::transport::shm::lane::Carry;
use crate::transport::shm::ready::Record;
use crate::transport::{self, shm};
use crate::url::ServerUrl;
use crate::wire::banner::{BannerRepr, BANNER_MAX};
use crate::wire::copy::{CopyPacket, CopyRepr};
use crate::wire::error::ErrorCode;
use crate::wire::handshake::{Emulation, ForkPacket, ForkRepr, NameRepr};
use crate::wire::header::{Class, HandshakeKind, MsgType, MAX_PAYLOAD};
use parking_lot::{Mutex, RwLock};
use rump_abi::errno::native_to_linux;
use rump_abi::native::errno::{EFAULT, EIO, ENODEV, ENOSYS, ENOTCONN};
use rump_abi::{Errno, Slots, SysResult, Syscall, SyscallDesc, UserAddr};
use rump_kernel::vfs::mapping::MapKind;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// What to do when the connection to the server is lost
/// (`RUMPHIJACK_RETRYCONNECT`). A new connection is a new process: all
/// kernel state of the old one is gone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Retry {
    /// Unset: calls fail with ENOTCONN.
    #[default]
    Never,
    /// `die`: the program exits.
    Die,
    /// `inftime`: reconnect, however long it takes.
    Forever,
    /// `once`: one attempt.
    Once,
    /// A number of seconds to keep trying.
    For(Duration),
}

/// A bad `RUMPHIJACK_RETRYCONNECT` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRetry(pub String);

impl fmt::Display for BadRetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RUMPHIJACK_RETRYCONNECT={:?}: expected die, inftime, once or a number of seconds", self.0)
    }
}

impl Retry {
    pub fn parse(v: &str) -> Result<Retry, BadRetry> {
        match v {
            "die" => Ok(Retry::Die),
            "inftime" => Ok(Retry::Forever),
            "once" => Ok(Retry::Once),
            n => n.parse::<u64>().map(|s| Retry::For(Duration::from_secs(s))).map_err(|_| BadRetry(v.into())),
        }
    }

    pub fn from_env() -> Result<Retry, BadRetry> {
        std::env::var("RUMPHIJACK_RETRYCONNECT").map_or(Ok(Retry::Never), |v| Retry::parse(&v))
    }
}

/// The cookie PREFORK returns, which the child of the host fork presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForkCookie(pub [u32; 4]);

/// A thread waiting for its reply (or for its turn to read).
#[derive(Default)]
struct Waiter {
    /// Set to 1 and futex-woken whenever there is something to look at.
    wake: AtomicU32,
    reply: Mutex<Option<Frame>>,
}

impl Waiter {
    fn wake(&self) {
        self.wake.store(1, Ordering::Release);
        unsafe { libc::syscall(libc::SYS_futex, self.wake.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1) };
    }

    /// Sleeps until woken; true if a signal handler interrupted the sleep.
    fn sleep(&self) -> bool {
        let op = libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG;
        let r =
            unsafe { libc::syscall(libc::SYS_futex, self.wake.as_ptr(), op, 0, std::ptr::null::<libc::timespec>()) };
        r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
    }
}

#[derive(Default)]
struct Inbox {
    /// Some thread is reading the connection.
    reading: bool,
    waiting: HashMap<u64, Arc<Waiter>>,
    dead: bool,
}

/// The connection was lost during a call.
struct Lost;

/// One connection with its readers and waiters.
struct Link {
    sock: Conn,
    /// The shared-memory channel beside the socket, once the server gave
    /// one.
    shm: OnceLock<ClientChannel>,
    send_lock: Mutex<()>,
    inbox: Mutex<Inbox>,
    /// Frames received, for counting round trips.
    received: AtomicU64,
    /// The process whose thread watches the socket for a hang-up while
    /// calls sleep in the channel (`watch`), 0 before one is needed.
    watcher: AtomicI32,
}

thread_local! {
    /// Whether this thread is inside a request (`Link::rpc`): a signal
    /// handler that interrupts it must not start another, as the locks the
    /// request holds are not reentrant.
    static IN_RPC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is in the middle of a request, so that a
/// signal handler running on it cannot make one (`IN_RPC`).
pub fn in_request() -> bool {
    IN_RPC.with(|c| c.get())
}

/// Marks this thread as inside a request until dropped.
struct InRpc(bool);

impl InRpc {
    fn enter() -> InRpc {
        InRpc(IN_RPC.with(|c| c.replace(true)))
    }
}

impl Drop for InRpc {
    fn drop(&mut self) {
        IN_RPC.with(|c| c.set(self.0));
    }
}

impl Link {
    fn send(&self, reqno: u64, class: Class, msg_type: MsgType, value: u32, payload: &[u8]) -> io::Result<()> {
        Outgoing::new(reqno, class, msg_type, value, payload)?.send_under(&self.send_lock, &self.sock, None, &mut || {})
    }

    /// Sends a request, with `pass` attached if given, and waits for the
    /// frame answering it.
    fn rpc(
        &self,
        reqno: u64,
        msg_type: MsgType,
        value: u32,
        payload: &[u8],
        pass: Option<RawFd>,
    ) -> Result<Frame, Lost> {
        let _in_rpc = InRpc::enter();
        let w = Arc::new(Waiter::default());
        {
            let mut ib = self.inbox.lock();
            if ib.dead {
                return Err(Lost);
            }
            ib.waiting.insert(reqno, w.clone());
        }
        let sent = Outgoing::new(reqno, Class::Req, msg_type, value, payload)
            .and_then(|out| out.send_under(&self.send_lock, &self.sock, pass, &mut || {}));
        if sent.is_err() {
            self.inbox.lock().waiting.remove(&reqno);
            self.kill();
            return Err(Lost);
        }
        self.wait(reqno, &w)
    }

    fn wait(&self, reqno: u64, w: &Waiter) -> Result<Frame, Lost> {
        let mut cancelled = false;
        loop {
            w.wake.store(0, Ordering::Release);
            {
                let mut ib = self.inbox.lock();
                if let Some(f) = w.reply.lock().take() {
                    return Ok(f);
                }
                if ib.dead {
                    ib.waiting.remove(&reqno);
                    return Err(Lost);
                }
                if !ib.reading {
                    ib.reading = true;
                    drop(ib);
                    let got = match self.read_until(reqno, &mut cancelled) {
                        // The reading was handed on: wait again.
                        Ok(None) => continue,
                        Ok(Some(f)) => Ok(f),
                        Err(Lost) => Err(Lost),
                    };
                    self.pass_reading();
                    return got;
                }
            }
            if w.sleep() && !cancelled {
                cancelled = true;
                self.cancel(reqno);
            }
        }
    }

    fn cancel(&self, reqno: u64) {
        let _ = self.send(reqno, Class::Req, MsgType::Cancel, 0, &[]);
    }

    /// One call through the channel, arming readiness record `record` if
    /// given, its data through a lane if `plan` says how and one is free:
    /// None if no slot is free (the caller uses the socket). A signal
    /// handler that interrupts the wait cancels the call, as on the
    /// socket.
    fn shm_call(
        self: &Arc<Self>,
        ch: &ClientChannel,
        num: u32,
        args: &Slots,
        reqno: u64,
        record: Option<usize>,
        carry: Carry,
    ) -> Option<Result<SysResult, Lost>> {
        let _in_rpc = InRpc::enter();
        let posted = ch.post_arming(num, args, reqno, record, carry)?;
        let mut cancelled = false;
        loop {
            match posted.wait(&|| self.server_gone()) {
                Ok(r) => {
                    self.received.fetch_add(1, Ordering::Relaxed);
                    return Some(Ok(r));
                }
                Err(Stop::Interrupted) if !cancelled => {
                    cancelled = true;
                    self.cancel(reqno);
                }
                Err(Stop::Interrupted) => {}
                Err(Stop::Lost) => {
                    self.kill();
                    return Some(Err(Lost));
                }
            }
        }
    }

    /// Before a call sleeps in the channel: whether the link is given up;
    /// if not, makes sure a thread will notice the server hanging up.
    fn server_gone(self: &Arc<Self>) -> bool {
        if self.inbox.lock().dead {
            return true;
        }
        // SAFETY: getpid cannot fail.
        let me = unsafe { libc::getpid() };
        if self.watcher.swap(me, Ordering::AcqRel) == me {
            return false;
        }
        // The watcher's own descriptor of the socket: it cannot outlive the
        // link's and be reused under the watcher.
        // SAFETY: a dup of our socket, owned by nobody else.
        let dup =
            unsafe { libc::syscall(libc::SYS_fcntl, self.sock.raw_fd(), libc::F_DUPFD_CLOEXEC, 0 as libc::c_long) };
        if dup < 0 {
            self.watcher.store(0, Ordering::Release);
            return false;
        }
        // SAFETY: fcntl just made this descriptor.
        let fd = OwnFd::new(unsafe { OwnedFd::from_raw_fd(dup as RawFd) });
        let link = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("rumpclient-watch".into()).spawn(move || watch(&link, &fd));
        if spawned.is_err() {
            // Without a watcher a dead server goes unnoticed: try again next time.
            self.watcher.store(0, Ordering::Release);
        }
        false
    }
}

/// Waits for the server to hang up on `sock`, then gives `link` up, waking
/// the calls asleep in its channel. The thread takes none of the
/// program's signals, but does take glibc's own two (as `pthread_sigmask`
/// would leave them): SIGSETXID makes every thread run `setuid`/`setgid`
/// with the caller and waits until each has, so blocking it here hung
/// `tcpdump` dropping its privileges; SIGCANCEL is cancellation.
fn watch(link: &std::sync::Weak<Link>, sock: &OwnFd) {
    const GLIBC_INTERNAL: u64 = (1 << (32 - 1)) | (1 << (33 - 1));
    let mask = !GLIBC_INTERNAL;
    // SAFETY: blocks signals for this thread only, from a live kernel
    // sigset (raw: the libc call may be a hook).
    unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_BLOCK, &mask, std::ptr::null_mut::<u64>(), 8usize) };
    loop {
        let mut pfd = libc::pollfd { fd: sock.raw(), events: libc::POLLRDHUP, revents: 0 };
        // SAFETY: one pollfd on the stack; raw, since the fd is an `OwnFd`.
        let n = unsafe { libc::syscall(libc::SYS_poll, &mut pfd as *mut libc::pollfd, 1, -1) };
        if n > 0 && pfd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            break;
        }
    }
    if let Some(link) = link.upgrade() {
        link.kill();
    }
}

impl Drop for Link {
    /// Hangs up if a thread of this process watches the link, so that it
    /// ends (a forked child dropping its parent's link must not: the
    /// socket is shared).
    fn drop(&mut self) {
        // SAFETY: getpid cannot fail.
        if self.watcher.load(Ordering::Acquire) == unsafe { libc::getpid() } {
            self.sock.shutdown();
        }
    }
}

impl Link {
    /// Reads frames as this connection's reader until `reqno`'s reply;
    /// None once it handed the reading on to answer a copy request
    /// (`serve_copy`).
    fn read_until(&self, reqno: u64, cancelled: &mut bool) -> Result<Option<Frame>, Lost> {
        loop {
            let mut src = Interruptible { link: self, reqno, cancelled: &mut *cancelled };
            let Ok(Some(mut f)) = read_frame(&mut src) else {
                self.kill();
                return Err(Lost);
            };
            f.fd = self.sock.take_frame_fd();
            self.received.fetch_add(1, Ordering::Relaxed);
            if f.header.class == Class::Req {
                let mut handed_on = false;
                let answered = self.serve_copy(&f, &mut || {
                    handed_on = true;
                    self.pass_reading();
                });
                if answered.is_err() {
                    self.kill();
                }
                match (handed_on, answered) {
                    // Another thread reads now; the wait sees a kill.
                    (true, _) => return Ok(None),
                    (false, Err(())) => return Err(Lost),
                    (false, Ok(())) => continue,
                }
            }
            let mut ib = self.inbox.lock();
            let Some(w) = ib.waiting.remove(&f.header.reqno) else { continue };
            if f.header.reqno == reqno {
                return Ok(Some(f));
            }
            *w.reply.lock() = Some(f);
            w.wake();
        }
    }

    /// Gives up reading; a waiting thread, if any, takes it over.
    fn pass_reading(&self) {
        let mut ib = self.inbox.lock();
        ib.reading = false;
        if let Some(w) = ib.waiting.values().next() {
            w.wake();
        }
    }

    fn kill(&self) {
        let mut ib = self.inbox.lock();
        ib.dead = true;
        for w in ib.waiting.values() {
            w.wake();
        }
        drop(ib);
        if let Some(ch) = self.shm.get() {
            ch.lose_all();
        }
        self.sock.shutdown();
    }

    /// Answers the server's COPYIN/COPYINSTR/COPYOUT from this process's
    /// memory; an address we cannot reach is a fault, never a crash. The
    /// reader answers: if it would wait to send, `hand_on` gives the
    /// reading to another waiting thread first, since the server may be
    /// waiting for us to read before it reads our answer.
    fn serve_copy(&self, f: &Frame, hand_on: &mut dyn FnMut()) -> Result<(), ()> {
        let h = f.header;
        let p = CopyPacket::new_checked(&f.payload[..]).map_err(drop)?;
        let req = CopyRepr::parse(&p, h.msg_type == MsgType::Copyout).map_err(drop)?;
        let addr = UserAddr(req.addr);
        let reply = match h.msg_type {
            _ if req.len > MAX_PAYLOAD => Vec::new(),
            MsgType::Copyin => {
                let mut buf = vec![0u8; req.len];
                SelfMemory.read(addr, &mut buf).map_or(Vec::new(), |_| buf)
            }
            MsgType::Copyinstr => SelfMemory.read_str(addr, req.len).unwrap_or_default(),
            MsgType::Copyout => {
                let e = SelfMemory.write(addr, req.data).map_or(EFAULT.raw(), |_| 0);
                e.to_ne_bytes().to_vec()
            }
            _ => return Err(()),
        };
        let out = Outgoing::new(h.reqno, Class::Resp, h.msg_type, 0, &reply).map_err(drop)?;
        out.send_under(&self.send_lock, &self.sock, None, hand_on).map_err(drop)
    }
}

/// The socket as the reader sees it: a signal that interrupts the wait
/// cancels the reader's own call, then reading goes on, so a frame is
/// never torn.
struct Interruptible<'a> {
    link: &'a Link,
    reqno: u64,
    cancelled: &'a mut bool,
}

impl Read for Interruptible<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match (&self.link.sock).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if !*self.cancelled {
                        *self.cancelled = true;
                        self.link.cancel(self.reqno);
                    }
                }
                other => return other,
            }
        }
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// How long a server may take to send its banner. It sends it at once;
/// a peer that stays silent is something else listening at that address
/// (a supervisor's `SOCK.seccomp` door, another program), not a server.
const BANNER_WAIT: Duration = Duration::from_secs(10);

/// The events of `events` that `fd` reports within `timeout` (0 if none).
fn poll_one(fd: i32, events: i16, timeout: Duration) -> i16 {
    let mut pfd = libc::pollfd { fd, events, revents: 0 };
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one pollfd on the stack; raw, since the caller's
        // descriptor may be one of the library's own.
        let n = unsafe { libc::syscall(libc::SYS_poll, &mut pfd as *mut libc::pollfd, 1, ms) };
        if n > 0 {
            return pfd.revents;
        }
    }
    0
}

/// Reads the banner: one line of at most `BANNER_MAX` bytes.
fn read_banner(s: &Conn) -> io::Result<()> {
    if poll_one(s.raw_fd(), libc::POLLIN, BANNER_WAIT) == 0 {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "no rump server banner within 10 s (not a rump server?)"));
    }
    // Peeked, then read up to its newline only: what follows (a TCP
    // server's challenge) is not the banner's to consume. One peek usually
    // holds the whole line, where a read per byte took a syscall each.
    let mut line = Vec::with_capacity(BANNER_MAX);
    let mut buf = [0u8; BANNER_MAX];
    while line.last() != Some(&b'\n') {
        let room = BANNER_MAX - line.len();
        // SAFETY: `room` bytes of `buf`; raw, since the descriptor may be
        // one of the library's own.
        let n = unsafe {
            libc::syscall(libc::SYS_recvfrom, s.raw_fd(), buf.as_mut_ptr(), room, libc::MSG_PEEK, 0usize, 0usize)
        };
        if n < 0 {
            match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::Interrupted => continue,
                e => return Err(e),
            }
        }
        let peeked = &buf[..n as usize];
        let take = peeked.iter().position(|&b| b == b'\n').map_or(peeked.len(), |i| i + 1);
        if take == 0 || (take == room && peeked[take - 1] != b'\n') {
            return Err(bad("no rump server banner"));
        }
        (&*s).read_exact(&mut buf[..take])?;
        line.extend_from_slice(&buf[..take]);
    }
    BannerRepr::parse(&line).map(|_| ()).map_err(|_| bad("not a rump server banner"))
}

/// A new connection to `url`, past the banner; not inherited by exec.
fn dial(url: &ServerUrl) -> io::Result<Conn> {
    let sock = Conn::connect(url)?;
    sock.set_cloexec(true)?;
    read_banner(&sock)?;
    transport::of(url).prove(&sock, url)?;
    Ok(sock)
}

/// Sends one handshake and waits for its reply, skipping frames that
/// answer calls of an image that no longer exists (after exec).
fn handshake(s: &Conn, reqno: u64, kind: HandshakeKind, payload: &[u8]) -> io::Result<()> {
    write_frame(&mut &*s, reqno, Class::Req, MsgType::Handshake, kind.raw(), payload)?;
    loop {
        let f = read_frame(&mut &*s).map_err(|_| bad("connection lost during the handshake"))?;
        let f = f.ok_or_else(|| bad("server closed the connection during the handshake"))?;
        if f.header.reqno != reqno || f.header.msg_type != MsgType::Handshake {
            continue;
        }
        return match f.header.class {
            Class::Resp if f.payload == 0i32.to_ne_bytes() => Ok(()),
            Class::Error => {
                let code = ErrorCode::from_raw(f.header.value).unwrap_or(ErrorCode::Malformed);
                Err(io::Error::from_raw_os_error(native_to_linux(code.errno()).raw()))
            }
            _ => Err(bad("handshake refused")),
        };
    }
}

fn name_payload(name: &str, emul: Emulation) -> io::Result<Vec<u8>> {
    let hello = NameRepr { name: name.as_bytes(), emul };
    let mut payload = vec![0u8; hello.buffer_len()];
    hello.emit(&mut payload).map_err(|_| bad("bad process name"))?;
    Ok(payload)
}

/// Asks the server for a shared-memory channel (`MsgType::Shmchan`) as
/// request `reqno`, right after the handshake; None leaves the calls on
/// the socket. Where Yama lets only ancestors reach a process's memory
/// and the server is refused for that, this process names the server its
/// ptracer (the one exception Yama keeps per process) and asks again.
fn open_channel(sock: &Conn, reqno: u64) -> Option<ClientChannel> {
    match ask_channel(sock, reqno) {
        Err(EPERM_RAW) if yama_restricted() && sock.peer_pid().is_some_and(name_ptracer) => {
            ask_channel(sock, reqno).ok()
        }
        got => got.ok(),
    }
}

const EPERM_RAW: i32 = libc::EPERM;

/// Whether `kernel.yama.ptrace_scope` is 1 (descendants only).
fn yama_restricted() -> bool {
    std::fs::read("/proc/sys/kernel/yama/ptrace_scope").is_ok_and(|v| v.trim_ascii() == b"1")
}

/// Lets process `pid` reach this one's memory under Yama.
fn name_ptracer(pid: i32) -> bool {
    let pid = libc::c_ulong::try_from(pid).unwrap_or(0);
    // SAFETY: prctl with plain numbers (raw: the libc call may be a hook).
    unsafe { libc::syscall(libc::SYS_prctl, libc::PR_SET_PTRACER as libc::c_long, pid, 0usize, 0usize, 0usize) == 0 }
}

/// One SHMCHAN request: the channel, or the errno the server answered
/// (EIO for a broken reply).
fn ask_channel(sock: &Conn, reqno: u64) -> Result<ClientChannel, i32> {
    let eio = libc::EIO;
    let mut cookie = Box::new([0u8; 16]);
    rand_bytes(&mut cookie[..]);
    let mut payload = (cookie.as_ptr() as u64).to_ne_bytes().to_vec();
    payload.extend_from_slice(&cookie[..]);
    write_frame(&mut &*sock, reqno, Class::Req, MsgType::Shmchan, 0, &payload).map_err(|_| eio)?;
    let f = loop {
        let f = read_frame(&mut &*sock).ok().flatten().ok_or(eio)?;
        let fd = sock.take_frame_fd();
        if f.header.reqno == reqno && f.header.msg_type == MsgType::Shmchan {
            break Frame { fd, ..f };
        }
    };
    let errno = <[u8; 4]>::try_from(&f.payload[..]).map_or(eio, i32::from_ne_bytes);
    match (f.header.class, errno, &f.fd) {
        (Class::Resp, 0, Some(fd)) => ClientChannel::map(fd, sock.peer_pid()).ok_or(eio),
        (Class::Resp, e, None) if e > 0 => Err(e),
        _ => Err(eio),
    }
}

fn fork_handshake(sock: &Conn, cookie: ForkCookie, cancel: bool) -> io::Result<()> {
    let req = ForkRepr { auth: cookie.0, cancel };
    let mut payload = vec![0u8; req.buffer_len()];
    req.emit(&mut ForkPacket::new_unchecked(&mut payload[..]));
    handshake(sock, 0, HandshakeKind::Fork, &payload)
}

/// Environment variables that carry a connection across exec.
const ENV_EXECFD: &str = "RUMPCLIENT__EXECFD";
const ENV_SERVER: &str = "RUMP__PARSEDSERVER";
const ENV_EMUL: &str = "RUMPCLIENT__EMUL";

pub struct Client {
    link: RwLock<Arc<Link>>,
    url: ServerUrl,
    emul: Emulation,
    name: String,
    next_reqno: AtomicU64,
    retry: Retry,
    /// The channel is still to be asked for (`link`).
    channel_due: AtomicBool,
}

impl Client {
    /// Connects to the server at `url` and introduces this process as
    /// `name` speaking `emul`.
    pub fn connect(url: &ServerUrl, emul: Emulation, name: &str) -> io::Result<Client> {
        let sock = dial(url)?;
        handshake(&sock, 0, HandshakeKind::Guest, &name_payload(name, emul)?)?;
        Ok(Client::over(sock, url.clone(), emul, name, 1, Retry::Never))
    }

    /// A client on an established connection whose next request is `reqno`,
    /// its channel asked for at once (`link`).
    fn over(sock: Conn, url: ServerUrl, emul: Emulation, name: &str, reqno: u64, retry: Retry) -> Client {
        let c = Client::unopened(sock, url, emul, name, reqno, retry);
        c.link();
        c
    }

    /// A client on an established connection whose next request is `reqno`,
    /// its channel not asked for before its first call.
    fn unopened(sock: Conn, url: ServerUrl, emul: Emulation, name: &str, reqno: u64, retry: Retry) -> Client {
        let channel_due = AtomicBool::new(sock.passes_fds() && shm::wanted());
        let link = Link {
            sock,
            shm: OnceLock::new(),
            send_lock: Mutex::new(()),
            inbox: Mutex::new(Inbox::default()),
            received: AtomicU64::new(0),
            watcher: AtomicI32::new(0),
        };
        Client {
            link: RwLock::new(Arc::new(link)),
            url,
            emul,
            name: name.into(),
            next_reqno: AtomicU64::new(reqno),
            retry,
            channel_due,
        }
    }

    /// The current connection. Where the server shares memory (a unix
    /// connection) and this process wants it (`shm::wanted`), calls move to
    /// a channel: the first caller asks for it, holding the connection so
    /// that no other call reads the socket meanwhile.
    fn link(&self) -> Arc<Link> {
        if self.channel_due.load(Ordering::Acquire) {
            let link = self.link.write();
            if self.channel_due.swap(false, Ordering::AcqRel) {
                if let Some(ch) = open_channel(&link.sock, self.reqno()) {
                    let _ = link.shm.set(ch);
                }
            }
        }
        self.link.read().clone()
    }

    /// Connects to `RUMP_SERVER` with the reconnect policy of
    /// `RUMPHIJACK_RETRYCONNECT`.
    pub fn from_env(emul: Emulation, name: &str) -> io::Result<Client> {
        let url = ServerUrl::from_env().map_err(|e| io::Error::new(io::ErrorKind::NotFound, e.to_string()))?;
        let retry = Retry::from_env().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        Ok(Client { retry, ..Client::connect(&url, emul, name)? })
    }

    pub fn with_retry(mut self, retry: Retry) -> Client {
        self.retry = retry;
        self
    }

    pub fn url(&self) -> &ServerUrl {
        &self.url
    }

    fn reqno(&self) -> u64 {
        self.next_reqno.fetch_add(1, Ordering::Relaxed)
    }

    /// One request and its answer, reconnecting as the policy says.
    fn rpc(&self, msg_type: MsgType, value: u32, payload: &[u8]) -> Result<Frame, Errno> {
        self.rpc_passing(msg_type, value, payload, None)
    }

    fn rpc_passing(&self, msg_type: MsgType, value: u32, payload: &[u8], pass: Option<RawFd>) -> Result<Frame, Errno> {
        loop {
            let link = self.link();
            match link.rpc(self.reqno(), msg_type, value, payload, pass) {
                Ok(f) => return Ok(f),
                Err(Lost) => self.reconnect(&link)?,
            }
        }
    }

    fn reconnect(&self, lost: &Arc<Link>) -> Result<(), Errno> {
        let mut link = self.link.write();
        if !Arc::ptr_eq(&link, lost) {
            return Ok(()); // another thread already did
        }
        let deadline = match self.retry {
            Retry::Never => return Err(ENOTCONN),
            Retry::Die => {
                eprintln!("rumpclient: lost the connection to {}, exiting", self.url);
                unsafe { libc::_exit(1) };
            }
            Retry::Once => Some(Instant::now()),
            Retry::For(d) => Some(Instant::now() + d),
            Retry::Forever => None,
        };
        eprintln!("rumpclient: lost the connection to {}, reconnecting", self.url);
        for attempt in 1u64.. {
            if let Ok(c) = Client::connect(&self.url, self.emul, &self.name) {
                *link = c.link.into_inner();
                return Ok(());
            }
            let pause = if attempt <= 10 {
                Duration::from_millis(100 * attempt)
            } else {
                Duration::from_secs((attempt - 9).min(10))
            };
            if deadline.is_some_and(|d| Instant::now() + pause > d) {
                break;
            }
            std::thread::sleep(pause);
        }
        Err(ENOTCONN)
    }

    /// Before a host fork: the server forks this client's process and
    /// returns the cookie the child presents (`connect_forked`).
    pub fn prefork(&self) -> Result<ForkCookie, Errno> {
        // A reaped child's pid may be the new child's.
        self.catch_up();
        let f = self.rpc(MsgType::Prefork, 0, &[])?;
        if f.header.class != Class::Resp || f.payload.len() != 16 {
            return Err(self.errno(ErrorCode::from_raw(f.header.value).map_or(EFAULT, |c| c.errno())));
        }
        let word = |i: usize| u32::from_ne_bytes(f.payload[4 * i..4 * i + 4].try_into().unwrap_or_default());
        Ok(ForkCookie([word(0), word(1), word(2), word(3)]))
    }

    /// In the child of a host fork: a connection of its own, to the process
    /// the parent's `prefork` made. With `cancel`, the server drops that
    /// process instead (the host fork failed) and no client is returned.
    /// Its channel is asked for at its first call: a child that makes none
    /// (most of a shell's, which exec a program that never touches the
    /// kernel) costs the server no channel.
    pub fn connect_forked(&self, cookie: ForkCookie, cancel: bool) -> io::Result<Option<Client>> {
        let sock = dial(&self.url)?;
        fork_handshake(&sock, cookie, cancel)?;
        if cancel {
            return Ok(None);
        }
        Ok(Some(Client::unopened(sock, self.url.clone(), self.emul, &self.name, 1, self.retry)))
    }

    /// The client on `sock`, the end of a socket pair whose other end a
    /// server serves as this process (`Server::adopt_on`); `url` is where
    /// that server listens, for this process's forked children.
    /// Its first call asks for the channel: the process that made the pair
    /// does not wait for the server to start before it goes on.
    pub fn adopted(sock: Conn, url: &ServerUrl, emul: Emulation, name: &str) -> Client {
        Client::unopened(sock, url.clone(), emul, name, 1, Retry::Never)
    }

    /// Before a host exec: lets the connection survive it and returns the
    /// environment variables the new image needs (`resume_after_exec`).
    pub fn exec_env(&self) -> io::Result<Vec<(String, String)>> {
        let link = self.link.read().clone();
        link.sock.set_cloexec(false)?;
        let emul = match self.emul {
            Emulation::Native => "native",
            Emulation::Linux => "linux",
        };
        Ok(vec![
            (ENV_EXECFD.into(), format!("{},{}", link.sock.raw_fd(), self.next_reqno.load(Ordering::Relaxed))),
            (ENV_SERVER.into(), self.url.to_string()),
            (ENV_EMUL.into(), emul.into()),
        ])
    }

    /// The exec that `exec_env` prepared failed: the connection is again
    /// closed on exec.
    pub fn exec_failed(&self) {
        let _ = self.link.read().sock.set_cloexec(true);
    }

    /// After a host exec: takes over the inherited connection named in the
    /// environment (and removes those variables), tells the server the
    /// image changed (its close-on-exec fds close), and returns the client,
    /// whose channel is asked for at its first call (as a forked child's);
    /// `None` if this image was not exec'd by a client.
    pub fn resume_after_exec(name: &str) -> io::Result<Option<Client>> {
        let Ok(execfd) = std::env::var(ENV_EXECFD) else { return Ok(None) };
        let url = std::env::var(ENV_SERVER).map_err(|_| bad("RUMP__PARSEDSERVER missing after exec"))?;
        let emul = match std::env::var(ENV_EMUL).as_deref() {
            Ok("linux") => Emulation::Linux,
            _ => Emulation::Native,
        };
        for k in [ENV_EXECFD, ENV_SERVER, ENV_EMUL] {
            std::env::remove_var(k);
        }
        let url = ServerUrl::parse(&url).map_err(|e| bad(&e.to_string()))?;
        let (fd, reqno) = execfd.split_once(',').ok_or_else(|| bad("bad RUMPCLIENT__EXECFD"))?;
        let fd: i32 = fd.parse().map_err(|_| bad("bad RUMPCLIENT__EXECFD"))?;
        let reqno: u64 = reqno.parse().map_err(|_| bad("bad RUMPCLIENT__EXECFD"))?;
        // The fd was made inheritable on purpose for this image.
        let sock = unsafe { Conn::from_raw_fd(fd) };
        sock.set_cloexec(true)?;
        handshake(&sock, reqno, HandshakeKind::Exec, &name_payload(name, emul)?)?;
        Ok(Some(Client::unopened(sock, url, emul, name, reqno + 1, Retry::from_env().unwrap_or_default())))
    }

    /// Whether calls travel through shared memory (`transport::shm`) on the
    /// current connection.
    pub fn shares_memory(&self) -> bool {
        self.link().shm.get().is_some()
    }

    /// Frames received from the server on the current connection: one per
    /// call (through shared memory too), plus one per copy request the
    /// server had to make.
    pub fn frames_received(&self) -> u64 {
        self.link.read().received.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` for the server to close the connection, as it
    /// does when the kernel halts; true if it did.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let link = self.link.read().clone();
        poll_one(link.sock.raw_fd(), libc::POLLRDHUP, timeout) & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0
    }

    /// An errno of the native kind in this client's emulation.
    fn errno(&self, native: Errno) -> Errno {
        match self.emul {
            Emulation::Native => native,
            Emulation::Linux => native_to_linux(native),
        }
    }

    fn desc(&self, num: u32) -> Option<&'static SyscallDesc> {
        match self.emul {
            Emulation::Native => rump_abi::native::sys::desc(num),
            Emulation::Linux => rump_abi::linux::sys::desc(num),
        }
    }
}

/// A thread's readiness record in one connection's channel
/// (`Client::ready_gate`).
pub struct ReadyGate {
    link: Arc<Link>,
    record: usize,
}

impl ReadyGate {
    fn record(&self) -> &Record {
        self.link.shm.get().expect("a gate's link has a channel").record(self.record)
    }

    pub fn words(&self) -> &GateWords {
        &self.record().gate
    }

    /// Before the buffers of the call that armed the record go away: the
    /// result the server published for it, its outputs in those buffers,
    /// if it did (`transport::shm::ready`).
    pub fn settle(&self) -> Option<SysResult> {
        self.link.shm.get().expect("a gate's link has a channel").settle(self.record)
    }
}

impl Client {
    /// Whether the connection can carry descriptors (`syscall_notifying`).
    pub fn passes_fds(&self) -> bool {
        transport::of(&self.url).passes_fds()
    }

    /// A call whose readiness waits arm `eventfd` instead of sleeping;
    /// `token` names the calling thread's notifier. Through the channel
    /// of `gate` while that is the connection's (`ready_gate`), else as an
    /// NSYSCALL on the socket. Unix connections only (`passes_fds`). A
    /// poll the server watches for the gate's record is answered from it
    /// without a call (`transport::shm::ready`, "Watched waits").
    pub fn syscall_notifying(
        &self,
        num: u32,
        args: &Slots,
        token: u32,
        eventfd: RawFd,
        gate: Option<&ReadyGate>,
    ) -> SysResult {
        let Some(desc) = self.desc(num).filter(|d| d.implemented) else { return Err(self.errno(ENOSYS)) };
        self.catch_up();
        if let Some(g) = gate.filter(|g| Arc::ptr_eq(&g.link, &self.link.read())) {
            let ch = g.link.shm.get().expect("a gate's link has a channel");
            if let Some(r) = (desc.name == "poll").then(|| ch.watched_poll(g.record, num, args)).flatten() {
                return r;
            }
            g.record().arm();
            match g.link.shm_call(ch, num, args, self.reqno(), Some(g.record), Carry::of(desc, args)) {
                Some(Ok(r)) => return r,
                Some(Err(Lost)) => self.reconnect(&g.link).map_err(|e| self.errno(e))?,
                None => {}
            }
        }
        self.call_as(desc, args, Some((token, eventfd)))
    }

    /// The readiness record of thread `token`, whose notifier is `notifier`,
    /// in the connection's channel (registering its eventfd there first
    /// if need be); None over the socket alone or with every record held.
    /// Its gate words say whether the kernel notified the thread since a
    /// call through it armed the record (`notify::GateWords`).
    pub fn ready_gate(&self, token: u32, notifier: &Arc<EventFdNotifier>) -> Option<ReadyGate> {
        let link = self.link();
        let ch = link.shm.get()?;
        let (record, fresh) = ch.records.claim(token, notifier)?;
        if fresh {
            let eventfd = notifier.raw_fd();
            let reply = link.rpc(self.reqno(), MsgType::Notifier, record as u32, &[], Some(eventfd));
            let taken = matches!(reply, Ok(f) if f.header.class == Class::Resp && f.payload[..] == 0i32.to_ne_bytes());
            if !taken {
                ch.records.release(token);
                return None;
            }
        }
        Some(ReadyGate { link, record })
    }

    /// As `syscall`, with `desc` (for call `desc.num`) saying how the
    /// arguments travel instead of the table: for a pointer the table
    /// cannot annotate but the caller knows (fcntl's argument is an int or
    /// a struct depending on the command). What the kernel touches beyond
    /// what `desc` ships still comes by copy requests.
    pub fn syscall_as(&self, desc: &SyscallDesc, args: &Slots) -> SysResult {
        self.call_as(desc, args, None)
    }

    fn call(&self, num: u32, args: &Slots, notify: Option<(u32, RawFd)>) -> SysResult {
        let Some(desc) = self.desc(num).filter(|d| d.implemented) else { return Err(self.errno(ENOSYS)) };
        self.call_as(desc, args, notify)
    }

    /// Has the kernel wait for the children this process reaped since its
    /// last call (`reaped`), before a call that could otherwise see them.
    /// Not from a signal handler that interrupted a request of this
    /// thread's (it would deadlock on the request's locks): the next call
    /// does it.
    fn catch_up(&self) {
        if !crate::reaped::any() || in_request() {
            return;
        }
        crate::reaped::take_each(|pid| {
            // ECHILD (it never used the kernel, or has gone already) is fine.
            let _ = rump_abi::linux::sys::rump_sys_waitid(
                self,
                libc::P_PID as i32,
                pid,
                std::ptr::null_mut(),
                libc::WEXITED,
                std::ptr::null_mut(),
            );
        });
    }

    fn call_as(&self, desc: &SyscallDesc, args: &Slots, notify: Option<(u32, RawFd)>) -> SysResult {
        self.catch_up();
        let num = desc.num;
        // Through shared memory the kernel reaches every argument in place,
        // so `desc` need not say how they travel, only whether a large
        // buffer may go through a lane.
        while notify.is_none() {
            let link = self.link();
            let Some(ch) = link.shm.get() else { break };
            match link.shm_call(ch, num, args, self.reqno(), None, Carry::of(desc, args)) {
                None => break,
                Some(Ok(r)) => return r,
                Some(Err(Lost)) => self.reconnect(&link).map_err(|e| self.errno(e))?,
            }
        }
        let call = marshal(desc, args, &SelfMemory);
        let frame = match notify {
            None => self.rpc(MsgType::Msyscall, num, call.payload()),
            Some((token, fd)) => {
                let mut payload = token.to_ne_bytes().to_vec();
                payload.extend_from_slice(call.payload());
                self.rpc_passing(MsgType::Nsyscall, num, &payload, Some(fd))
            }
        }
        .map_err(|e| self.errno(e))?;
        match frame.header.class {
            Class::Resp => call.finish(&frame.payload, &SelfMemory).map_err(|_| self.errno(ENOTCONN))?,
            _ => {
                let code = ErrorCode::from_raw(frame.header.value).unwrap_or(ErrorCode::Malformed);
                Err(self.errno(code.errno()))
            }
        }
    }
}

impl Client {
    /// A host descriptor through which this process maps its rump fd `fd`
    /// as `kind` says (`MsgType::Mapfd`); `None` for a private mapping to
    /// fill itself; ENODEV where no descriptor can travel (TCP).
    pub fn mappable_fd(&self, fd: i32, kind: MapKind) -> Result<Option<OwnedFd>, Errno> {
        if !self.passes_fds() {
            return Err(self.errno(ENODEV));
        }
        let mut req = fd.to_ne_bytes().to_vec();
        req.extend_from_slice(&u32::from(kind == MapKind::Shared).to_ne_bytes());
        let mut f = self.rpc(MsgType::Mapfd, 0, &req).map_err(|e| self.errno(e))?;
        let errno = <[u8; 4]>::try_from(&f.payload[..]).map(i32::from_ne_bytes);
        match (f.header.class, errno, f.fd.take()) {
            (Class::Resp, Ok(0), host) => Ok(host),
            (Class::Resp, Ok(e), None) if e > 0 => Err(Errno(e)),
            (Class::Error, _, _) => {
                let code = ErrorCode::from_raw(f.header.value).unwrap_or(ErrorCode::Malformed);
                Err(self.errno(code.errno()))
            }
            // A reply that breaks the format: no descriptor is kept.
            _ => Err(self.errno(EIO)),
        }
    }
}

impl Syscall for Client {
    fn syscall(&self, num: u32, args: &Slots) -> SysResult {
        self.call(num, args, None)
    }
}
