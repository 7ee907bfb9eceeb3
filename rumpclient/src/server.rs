//! The server: accepts clients on a unix or TCP socket, sends the banner,
//! takes the handshake, and runs each client's calls as its kernel process.
//!
//! Threads follow the leader/follower pattern per connection. One thread
//! reads a frame and handles it itself, so a short call costs no hand-off
//! between threads; when a call is about to sleep in the kernel (a pipe
//! read) or waits for the client's memory, a hook makes sure another
//! thread takes over reading, so a blocked call never stalls the client's
//! other threads. A thread whose call ends while another reads exits, so
//! the number of threads follows the number of blocked calls.
//!
//! Sending never stops the reading. Both ends send large frames at once
//! (client threads their 1 MiB writes, the server its 1 MiB read
//! replies): if either end read only once its own sends had gone out,
//! each would wait for the other for good. So a thread about to wait to
//! send (the send lock taken, or the socket full) first makes sure
//! another thread reads (`Client::stall`). Up to `MAX_STALLED_SENDS`
//! threads of a connection wait so; past that, its next frame is read
//! only once a stalled send went out: backpressure, which bounds the
//! threads and replies a client that does not read holds here, and
//! touches no other connection. A client that reads cannot be wedged by
//! it: its reader hands the reading on before it waits to send
//! (`client`), so our stalled sends drain, a stalled thread comes back,
//! and reading resumes.
//!
//! A client may move its calls to a shared-memory channel (SHMCHAN,
//! `transport::shm`): then one thread at a time waits on the channel's
//! doorbell as one reads the socket, runs what it claims itself, and hands
//! the doorbell on before a call sleeps in the kernel.
//!
//! Bounds: the connections, handshake deadline, frame sizes and memory of
//! `policy::Policy`, `MAX_IN_FLIGHT` calls per connection (more get
//! TRYAGAIN), frames of at most `MAX_PAYLOAD`. A `tcp://` connection must
//! answer the key's challenge (`auth`) before its first frame; a unix one
//! must come from our own uid unless the policy allows others. A malformed
//! frame is answered with an ERROR and closes that connection only; every
//! refusal is a log line.
//!
//! Descriptors travel both ways on a unix connection, at most one with a
//! frame (any other is closed on arrival): a client's eventfd with an
//! NSYSCALL or a NOTIFIER, and the host descriptor of a file's shared
//! memory with the reply to a MAPFD, which the server closes once sent. A closed
//! connection is an exited process: its calls are cancelled, and once the
//! last returns its fds close.

use crate::auth::Key;
use crate::frame::{read_header, read_payload, Frame, FrameError, Outgoing};
use crate::notify::EventFdNotifier;
use crate::policy::Policy;
use crate::serve::{run_marshaled, run_plain, CopyChannel, RemoteMemory};
use crate::sock::{rand_u64, Conn, Listener};
use crate::transport;
use crate::transport::shm::peer::PeerMemory;
use crate::transport::shm::ready::{self, Kicks, RunAs};
use crate::transport::shm::server::{Call, ServerChannel};
use crate::url::ServerUrl;
use crate::wire::banner::BannerRepr;
use crate::wire::copy::CopyRepr;
use crate::wire::error::ErrorCode;
use crate::wire::handshake::{Emulation, ForkPacket, ForkRepr, NameRepr};
use crate::wire::header::{Class, HandshakeKind, MsgType, MAX_PAYLOAD};
use crate::wire::WireError;
use parking_lot::Mutex;
use rump_abi::native::errno::{EFAULT, EINVAL, EIO, ENODEV, EPERM};
use rump_abi::usermem::UserMemory;
use rump_abi::{Errno, Slots, UserAddr};
use rump_kernel::cred::Cred;
use rump_kernel::lwp::Lwp;
use rump_kernel::mem::{Mem, Reservation};
use rump_kernel::proc::Emulation as KernelEmulation;
use rump_kernel::vfs::mapping::MapKind;
use rump_kernel::wchan::Notify;
use rump_kernel::{Kernel, Process};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Calls one connection may have running at once; more get TRYAGAIN.
pub const MAX_IN_FLIGHT: usize = 128;
/// Threads of one connection waiting to send to it (`Client::stall`) that
/// each hand the reading on; past this, the connection is not read until
/// its client reads: the threads and replies a client that stops reading
/// holds here stay bounded.
pub const MAX_STALLED_SENDS: usize = MAX_IN_FLIGHT;
/// Notifiers (one per client thread waiting for readiness) per connection.
pub const MAX_NOTIFIERS: usize = 1024;
/// Processes forked ahead of a host fork and not yet claimed; the oldest
/// is dropped past this.
pub const MAX_PREFORKS: usize = 256;

/// A PREFORK cookie: 16 random bytes, as NetBSD's.
pub type Cookie = [u32; 4];

struct Shared {
    kernel: Kernel,
    preforks: Mutex<VecDeque<(Cookie, Process)>>,
    /// Connections open, pending or not.
    clients: AtomicUsize,
    /// Connections whose handshake is not done yet.
    pending: AtomicUsize,
    /// Connections past their handshake.
    guests: AtomicUsize,
    /// Pending connections and when their handshake time runs out.
    deadlines: Mutex<Vec<(Instant, Weak<Client>)>>,
    /// Every connection, for `Server::disconnect_all`.
    conns: Mutex<Vec<Weak<Client>>>,
    /// Calls running, server-wide, so shutdown can let replies go out.
    busy: AtomicUsize,
    policy: Policy,
    /// What `tcp://` clients must prove they know.
    key: Option<Key>,
    /// The kernel's memory budget, which frame payloads are charged to.
    mem: Arc<Mem>,
}

/// A listening server; dropping it stops accepting and removes the socket.
pub struct Server {
    shared: Arc<Shared>,
    listener: Arc<Listener>,
}

impl Server {
    /// Listens at `url` and starts accepting on a thread of its own. A unix
    /// socket is created mode 0600; an existing path is refused unless it
    /// is a dead server's. A `tcp://` server uses the policy's key, or the
    /// default key file of the address it got (made if missing).
    /// Connections, handshakes and disconnections are logged (`tracing`,
    /// target `rumpclient::server`).
    pub fn start(kernel: Kernel, url: &ServerUrl, policy: Policy) -> io::Result<Server> {
        let server = Server::bind(kernel, url, policy)?;
        server.accept_on_a_thread();
        Ok(server)
    }

    /// Listens at `url` as `start` does, but accepts nothing until
    /// `accept_on_a_thread`: connections made meanwhile wait in the listen
    /// backlog. A keeper tells its client where to connect first and
    /// starts the thread after, off the path of the fork waiting for it.
    pub fn bind(kernel: Kernel, url: &ServerUrl, policy: Policy) -> io::Result<Server> {
        Server::on(kernel, Listener::bind(url)?, policy)
    }

    /// As `bind`, on a socket already listening (a keeper's).
    pub fn on(kernel: Kernel, listener: Listener, policy: Policy) -> io::Result<Server> {
        let listener = Arc::new(listener);
        let key = transport::of(listener.url()).demand(listener.url(), &policy)?;
        let mem = kernel.with_state(|st| st.mem.clone());
        let shared = Arc::new(Shared {
            kernel,
            preforks: Mutex::new(VecDeque::new()),
            clients: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            guests: AtomicUsize::new(0),
            deadlines: Mutex::new(Vec::new()),
            conns: Mutex::new(Vec::new()),
            busy: AtomicUsize::new(0),
            policy,
            key,
            mem,
        });
        Ok(Server { shared, listener })
    }

    /// Starts accepting the connections `bind` listens for.
    pub fn accept_on_a_thread(&self) {
        let (l, s) = (self.listener.clone(), self.shared.clone());
        std::thread::spawn(move || accept_loop(&l, &s));
    }

    /// Where clients reach this server (a TCP port 0 resolved).
    pub fn url(&self) -> &ServerUrl {
        self.listener.url()
    }

    /// Serves `conn`, one end of a socket pair the process that ran its
    /// kernel in-process made before handing the kernel to a keeper, as
    /// that process's connection to `process`: past its handshake, with no
    /// round trip for the client to wait on. With `fork`, `process` is
    /// forked first, as a PREFORK with that cookie would: the fork that
    /// moved the kernel here needs no PREFORK of its own.
    pub fn adopt_on(&self, conn: Conn, process: Process, fork: Option<Cookie>) -> Result<(), Errno> {
        if let Some(cookie) = fork {
            push_prefork(&self.shared, cookie, process.fork()?);
        }
        self.shared.clients.fetch_add(1, Ordering::AcqRel);
        self.shared.guests.fetch_add(1, Ordering::AcqRel);
        let client = Client::registered(conn, &self.shared);
        client.is_guest.store(true, Ordering::Release);
        client.become_process(process);
        client.readers.fetch_add(1, Ordering::AcqRel);
        std::thread::spawn(move || serve_thread(client));
        Ok(())
    }

    /// A handle that claims a process PREFORK made, by its cookie, from
    /// outside the wire: the seccomp supervisor's door, for a client that
    /// execs a static image and hands it its process that way.
    pub fn fork_claims(&self) -> ForkClaims {
        ForkClaims(self.shared.clone())
    }

    /// Blocks until the server has nothing left to do: no client
    /// connected, and no forked process waiting for its child, or `grace`
    /// passed since the last client left while one still waits.
    pub fn wait_idle(&self, grace: Duration) {
        let mut empty_since: Option<Instant> = None;
        loop {
            std::thread::sleep(Duration::from_millis(20));
            if self.shared.clients.load(Ordering::Acquire) > 0 {
                empty_since = None;
                continue;
            }
            let since = *empty_since.get_or_insert_with(Instant::now);
            if self.shared.preforks.lock().is_empty() || since.elapsed() >= grace {
                return;
            }
        }
    }

    /// Drops every connection (their calls cancelled, as when a client
    /// goes): for a server whose kernel halted in a process that goes on
    /// serving other kernels, so that its clients see it gone.
    pub fn disconnect_all(&self) {
        let conns = std::mem::take(&mut *self.shared.conns.lock());
        conns.iter().filter_map(Weak::upgrade).for_each(|c| c.die());
    }

    /// Stops accepting, removes the socket file and gives running calls a
    /// moment to send their replies (the reboot that halted the kernel).
    pub fn shutdown(&self) {
        self.listener.remove_socket_file();
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.shared.busy.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.listener.remove_socket_file();
    }
}

/// How long a pending connection is left to finish its handshake before
/// it may be closed to make room for a newer one: an honest client takes
/// well under a millisecond, but hundreds connecting at once to a busy
/// server have been seen to take over 50 ms.
const EVICT_AGE: Duration = Duration::from_millis(500);

/// Claims processes PREFORK made (`Server::fork_claims`).
pub struct ForkClaims(Arc<Shared>);

impl ForkClaims {
    /// The process made for `cookie`, once.
    pub fn take(&self, cookie: Cookie) -> Option<Process> {
        take_prefork(&self.0, cookie)
    }
}

/// Keeps `child` for the host fork child that presents `cookie`; past
/// `MAX_PREFORKS` waiting, the oldest is dropped.
fn push_prefork(shared: &Shared, cookie: Cookie, child: Process) {
    let mut pre = shared.preforks.lock();
    if pre.len() >= MAX_PREFORKS {
        pre.pop_front();
    }
    pre.push_back((cookie, child));
}

/// The process PREFORK made for `cookie`, taken from the waiting ones.
fn take_prefork(shared: &Shared, cookie: Cookie) -> Option<Process> {
    let mut pre = shared.preforks.lock();
    pre.iter().position(|(c, _)| *c == cookie).and_then(|i| pre.remove(i)).map(|(_, p)| p)
}

/// Accepts connections and, between them, closes those whose handshake
/// time is up: one thread, asleep in `poll` while nothing is pending.
fn accept_loop(listener: &Listener, shared: &Arc<Shared>) {
    loop {
        make_room(shared);
        let next_deadline = enforce_deadlines(shared);
        match listener.wait_readable(next_deadline.map(|d| d.saturating_duration_since(Instant::now()))) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return,
        }
        let conn = match listener.accept() {
            Ok(c) => c,
            Err(e)
                if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock)
                    || e.raw_os_error() == Some(libc::ECONNABORTED) =>
            {
                continue
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(_) => return,
        };
        let policy = &shared.policy;
        // SAFETY: geteuid cannot fail.
        let uid = conn.peer_uid().filter(|&u| u != unsafe { libc::geteuid() });
        let uid = uid.filter(|_| transport::of(listener.url()).knows_peer_uid());
        if let Some(uid) = uid.filter(|_| !policy.allow_other_uid) {
            tracing::warn!(uid, "refused a connection from another user");
            continue;
        }
        shared.pending.fetch_add(1, Ordering::AcqRel);
        shared.clients.fetch_add(1, Ordering::AcqRel);
        let client = Client::registered(conn, shared);
        tracing::debug!(client = client.sock.raw_fd(), peer_pid = ?client.sock.peer_pid(), "connection accepted");
        let deadline = Instant::now() + policy.handshake_timeout;
        shared.deadlines.lock().push((deadline, Arc::downgrade(&client)));
        std::thread::spawn(move || {
            let banner = client.send_banner();
            if let Err(e) = &banner {
                tracing::debug!(client = client.sock.raw_fd(), "banner not sent: {e}");
            }
            if banner.is_ok() && client.authenticate() {
                client.readers.fetch_add(1, Ordering::AcqRel);
                serve_thread(client);
            } else {
                client.die();
            }
        });
    }
}

/// Returns once a pending slot is free. While all are taken, new
/// connections wait in the listen backlog, and the oldest pending one that
/// has had `EVICT_AGE` to handshake is closed to make room: strangers that
/// hold connections open cannot keep an honest client out.
fn make_room(shared: &Shared) {
    while shared.pending.load(Ordering::Acquire) >= shared.policy.max_pending {
        let oldest = shared.deadlines.lock().iter().find_map(|(deadline, client)| {
            let c = client.upgrade()?;
            let waiting = !c.is_guest.load(Ordering::Acquire) && !c.dead.load(Ordering::Acquire);
            waiting.then_some((*deadline, c))
        });
        if let Some((deadline, c)) = oldest {
            if Instant::now() + shared.policy.handshake_timeout >= deadline + EVICT_AGE {
                tracing::warn!(
                    conn = c.sock.raw_fd(),
                    max = shared.policy.max_pending,
                    "closed the oldest connection waiting for its handshake, to make room"
                );
                c.die();
            }
        }
        enforce_deadlines(shared);
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Closes each connection still pending when its handshake time is up;
/// returns when the next of those still pending is up, if any.
fn enforce_deadlines(shared: &Shared) -> Option<Instant> {
    let now = Instant::now();
    let mut deadlines = shared.deadlines.lock();
    deadlines.retain(|(deadline, client)| {
        let Some(c) = client.upgrade() else { return false };
        if c.is_guest.load(Ordering::Acquire) || c.dead.load(Ordering::Acquire) {
            return false;
        }
        if now < *deadline {
            return true;
        }
        tracing::warn!(conn = c.sock.raw_fd(), "closed a connection that did not finish its handshake in time");
        c.die();
        false
    });
    deadlines.iter().map(|(deadline, _)| *deadline).min()
}

/// One connection: a client process.
struct Client {
    sock: Conn,
    send_lock: Mutex<()>,
    /// Held by the thread reading the next frame.
    reading: Mutex<()>,
    /// Threads reading or waiting to read.
    readers: AtomicUsize,
    /// Threads waiting to send (`stall`).
    stalled: AtomicUsize,
    process: Mutex<Option<Arc<Process>>>,
    /// Past its handshake (counted in `guests`, not `pending`).
    is_guest: AtomicBool,
    /// Calls in flight by request number, to cancel them.
    calls: Mutex<HashMap<u64, Arc<Lwp>>>,
    /// Our copy requests waiting for the client's reply.
    copies: Mutex<HashMap<u64, SyncSender<Frame>>>,
    /// The eventfd each client thread passed with its last NSYSCALL.
    notifiers: Mutex<HashMap<u32, Arc<EventFdNotifier>>>,
    /// The shared-memory channel the client asked for (SHMCHAN), if any.
    channel: Mutex<Option<Arc<ServerChannel>>>,
    next_reqno: AtomicU64,
    dead: AtomicBool,
    shared: Arc<Shared>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.clients.fetch_sub(1, Ordering::AcqRel);
        let count = if self.is_guest.load(Ordering::Acquire) { &self.shared.guests } else { &self.shared.pending };
        count.fetch_sub(1, Ordering::AcqRel);
        tracing::info!(client = self.sock.raw_fd(), "client gone");
    }
}

/// Reads and handles frames until another thread reads or the connection
/// ends. The caller has counted this thread in `readers`.
fn serve_thread(c: Arc<Client>) {
    loop {
        let frame = {
            let _turn = c.reading.lock();
            if c.dead.load(Ordering::Acquire) {
                c.readers.fetch_sub(1, Ordering::AcqRel);
                return;
            }
            c.read_next()
        };
        c.readers.fetch_sub(1, Ordering::AcqRel);
        let outcome = match frame {
            // The payload's room stays charged while the frame is handled.
            Ok(Some((f, _room))) => c.handle(f),
            Ok(None) | Err(FrameError::Io(_)) => Err(None),
            Err(FrameError::Wire(e, reqno)) => {
                tracing::warn!(conn = c.sock.raw_fd(), "dropped a connection: bad frame: {e}");
                Err(Some((reqno, ErrorCode::Malformed)))
            }
        };
        if let Err(reply) = outcome {
            if let Some((reqno, code)) = reply {
                tracing::info!(client = c.sock.raw_fd(), reqno, error = ?code, "connection dropped");
                let _ = c.send(reqno, Class::Error, MsgType::Handshake, code.raw(), &[]);
            }
            c.die();
            return;
        }
        // Another thread reads now: this one is not needed.
        if c.readers.load(Ordering::Acquire) > 0 || c.dead.load(Ordering::Acquire) {
            return;
        }
        c.readers.fetch_add(1, Ordering::AcqRel);
    }
}

/// Makes sure a thread waits for `ch`'s posts, starting one if none does.
fn ensure_shm_waiter(c: &Arc<Client>, ch: &Arc<ServerChannel>) {
    if !ch.is_retired() && ch.become_waiter() {
        let (c, ch) = (c.clone(), ch.clone());
        std::thread::spawn(move || {
            if let Some(call) = ch.wait_posted() {
                serve_posted(&c, &ch, call);
            }
        });
    }
}

/// Runs `call`, then every call posted meanwhile; with none left, waits
/// for the next unless another thread already does.
fn serve_posted(c: &Arc<Client>, ch: &Arc<ServerChannel>, mut call: Call) {
    loop {
        c.run_posted(ch, &call);
        call = match ch.claim() {
            Some(next) => next,
            None if ch.become_waiter() => match ch.wait_posted() {
                Some(next) => next,
                None => return,
            },
            None => return,
        };
    }
}

/// A frame that ends the connection, with the ERROR to send first if any.
type Fatal = Option<(u64, ErrorCode)>;

impl Client {
    /// A new connection, known to `Server::disconnect_all`.
    fn registered(sock: Conn, shared: &Arc<Shared>) -> Arc<Client> {
        let client = Arc::new(Client::new(sock, shared.clone()));
        let mut conns = shared.conns.lock();
        conns.retain(|c| c.strong_count() > 0);
        conns.push(Arc::downgrade(&client));
        client
    }

    fn new(sock: Conn, shared: Arc<Shared>) -> Client {
        Client {
            sock,
            send_lock: Mutex::new(()),
            reading: Mutex::new(()),
            readers: AtomicUsize::new(0),
            stalled: AtomicUsize::new(0),
            process: Mutex::new(None),
            is_guest: AtomicBool::new(false),
            calls: Mutex::new(HashMap::new()),
            copies: Mutex::new(HashMap::new()),
            notifiers: Mutex::new(HashMap::new()),
            channel: Mutex::new(None),
            next_reqno: AtomicU64::new(1),
            dead: AtomicBool::new(false),
            shared,
        }
    }

    fn send_banner(&self) -> io::Result<()> {
        let banner = BannerRepr::new("NetBSD", "10.0", "amd64");
        let mut buf = [0u8; 96];
        let n = banner.emit(&mut buf).map_err(|e| io::Error::other(format!("{e:?}")))?;
        io::Write::write_all(&mut &self.sock, &buf[..n])
    }

    /// Over `tcp://`, whether the peer answered the key's challenge (the
    /// handshake deadline bounds the wait); elsewhere, true.
    fn authenticate(&self) -> bool {
        let Some(key) = &self.shared.key else { return true };
        match key.challenge(&self.sock) {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(conn = self.sock.raw_fd(), "refused a tcp client: wrong key");
                false
            }
            Err(e) => {
                tracing::warn!(conn = self.sock.raw_fd(), "refused a tcp client: no answer to the key challenge: {e}");
                false
            }
        }
    }

    /// The next frame, with the descriptor passed with it, and the room its
    /// payload takes in the kernel's memory budget. Before the handshake
    /// only small frames are accepted.
    fn read_next(&self) -> Result<Option<(Frame, Option<Reservation>)>, FrameError> {
        let max =
            if self.is_guest.load(Ordering::Acquire) { MAX_PAYLOAD } else { self.shared.policy.pending_max_payload };
        let Some(header) = read_header(&mut &self.sock, max)? else { return Ok(None) };
        let room = match header.payload_len() {
            0 => None,
            n => Some(self.shared.mem.reserve(n as u64).map_err(|_| {
                tracing::warn!(
                    conn = self.sock.raw_fd(),
                    bytes = n,
                    "dropped a connection: frame over the memory budget"
                );
                FrameError::Wire(WireError::TooLarge, header.reqno)
            })?),
        };
        let mut frame = read_payload(&mut &self.sock, header)?;
        // A descriptor comes with the frame's first bytes: take it before
        // another thread reads on.
        frame.fd = self.sock.take_frame_fd();
        Ok(Some((frame, room)))
    }

    fn send(
        self: &Arc<Self>,
        reqno: u64,
        class: Class,
        msg_type: MsgType,
        value: u32,
        payload: &[u8],
    ) -> io::Result<()> {
        self.send_passing(None, reqno, class, msg_type, value, payload)
    }

    /// Sends a frame, with the descriptor `pass` attached if given. A
    /// thread that would wait to send first makes sure another reads
    /// (`stall`): the client may be sending to us at the same time, and
    /// reads our frames only once its own have gone.
    fn send_passing(
        self: &Arc<Self>,
        pass: Option<RawFd>,
        reqno: u64,
        class: Class,
        msg_type: MsgType,
        value: u32,
        payload: &[u8],
    ) -> io::Result<()> {
        let out = Outgoing::new(reqno, class, msg_type, value, payload)?;
        let mut stalled = false;
        let sent = out.send_under(&self.send_lock, &self.sock, pass, &mut || {
            stalled = true;
            self.stall();
        });
        if stalled {
            self.stalled.fetch_sub(1, Ordering::AcqRel);
        }
        sent
    }

    /// Before a thread waits to send: another thread reads the connection,
    /// unless `MAX_STALLED_SENDS` already wait (then the client is not
    /// reading, and it is not read until it does).
    fn stall(self: &Arc<Self>) {
        if self.stalled.fetch_add(1, Ordering::AcqRel) < MAX_STALLED_SENDS {
            self.ensure_reader();
        }
    }

    fn reply_handshake(self: &Arc<Self>, reqno: u64) -> Result<(), Fatal> {
        self.send(reqno, Class::Resp, MsgType::Handshake, 0, &0i32.to_ne_bytes()).map_err(|_| None)
    }

    /// The connection ends: calls in flight are cancelled, copy requests
    /// fail, and the process exits once the last thread lets go.
    fn die(&self) {
        if self.dead.swap(true, Ordering::AcqRel) {
            return;
        }
        self.sock.shutdown();
        // First the copy requests: a call waiting for one holds the kernel,
        // which the cancels below need.
        self.copies.lock().clear();
        for lwp in self.calls.lock().values() {
            self.shared.kernel.cancel(lwp);
        }
        for n in self.notifiers.lock().drain().map(|(_, n)| n) {
            n.retire();
        }
        if let Some(ch) = self.channel.lock().take() {
            ch.retire();
        }
    }

    fn process(&self) -> Option<Arc<Process>> {
        self.process.lock().clone()
    }

    fn handle(self: &Arc<Self>, mut f: Frame) -> Result<(), Fatal> {
        let h = f.header;
        let fatal = |code| Err(Some((h.reqno, code)));
        if h.class != Class::Req {
            // The client answering one of our copy requests.
            if let Some(tx) = self.copies.lock().remove(&h.reqno) {
                let _ = tx.send(f);
            }
            return Ok(());
        }
        let Some(process) = self.process() else {
            return match (h.msg_type, h.handshake_kind()) {
                (MsgType::Handshake, Ok(HandshakeKind::Guest)) => self.guest(h.reqno, &f.payload),
                (MsgType::Handshake, Ok(HandshakeKind::Fork)) => self.fork(h.reqno, &f.payload),
                _ => {
                    tracing::warn!(conn = self.sock.raw_fd(), "dropped a connection: a call before its handshake");
                    fatal(ErrorCode::Auth)
                }
            };
        };
        match h.msg_type {
            MsgType::Msyscall | MsgType::Syscall => self.call(&process, &f, None),
            MsgType::Nsyscall => {
                let passed = f.fd.take();
                self.call(&process, &f, passed)
            }
            MsgType::Mapfd => self.mapfd(h.reqno, &process, &f.payload),
            MsgType::Shmchan => self.open_channel(h.reqno, &f.payload),
            MsgType::Notifier => self.register_notifier(h.reqno, h.value, f.fd.take()),
            MsgType::Cancel => {
                if let Some(lwp) = self.calls.lock().get(&h.reqno) {
                    self.shared.kernel.cancel(lwp);
                }
                Ok(())
            }
            MsgType::Prefork => self.prefork(h.reqno, &process),
            MsgType::Handshake if h.handshake_kind() == Ok(HandshakeKind::Exec) => {
                self.exec(h.reqno, &process, &f.payload)
            }
            _ => fatal(ErrorCode::Malformed),
        }
    }

    fn guest(self: &Arc<Self>, reqno: u64, payload: &[u8]) -> Result<(), Fatal> {
        let name = NameRepr::parse(payload).map_err(|_| Some((reqno, ErrorCode::Malformed)))?;
        let emul = match name.emul {
            Emulation::Native => KernelEmulation::Native,
            Emulation::Linux => KernelEmulation::Linux,
        };
        let comm = String::from_utf8_lossy(name.name).into_owned();
        tracing::info!(client = self.sock.raw_fd(), %comm, ?emul, "handshake: guest");
        self.become_guest(reqno)?;
        let Ok(p) = self.shared.kernel.spawn(emul, Cred::root(), &comm) else {
            return Err(Some((reqno, ErrorCode::Nomem)));
        };
        self.become_process(p);
        self.reply_handshake(reqno)
    }

    /// Moves this connection from the pending slots to the guests' ones,
    /// or refuses it if those are full.
    fn become_guest(self: &Arc<Self>, reqno: u64) -> Result<(), Fatal> {
        let (shared, max) = (&self.shared, self.shared.policy.max_guests);
        if shared.guests.fetch_add(1, Ordering::AcqRel) >= max {
            shared.guests.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(max, "refused a handshake: the server has its maximum of clients");
            return Err(Some((reqno, ErrorCode::TryAgain)));
        }
        shared.pending.fetch_sub(1, Ordering::AcqRel);
        self.is_guest.store(true, Ordering::Release);
        Ok(())
    }

    /// This connection is `p` from now on; the host pid it connected from
    /// is `p`'s (the kernel's own pid stands in over TCP).
    fn become_process(&self, p: Process) {
        if let Some(pid) = self.sock.peer_pid() {
            p.set_host_pid(pid);
        }
        *self.process.lock() = Some(Arc::new(p));
    }

    /// The child of a host fork claims the process PREFORK made for it.
    fn fork(self: &Arc<Self>, reqno: u64, payload: &[u8]) -> Result<(), Fatal> {
        let req =
            ForkRepr::parse(&ForkPacket::new_unchecked(payload)).map_err(|_| Some((reqno, ErrorCode::Malformed)))?;
        let Some(p) = take_prefork(&self.shared, req.auth) else {
            tracing::warn!(client = self.sock.raw_fd(), "handshake refused: unknown fork cookie");
            return Err(Some((reqno, ErrorCode::InvalidPrefork)));
        };
        tracing::info!(client = self.sock.raw_fd(), cancel = req.cancel, "handshake: fork");
        self.become_guest(reqno)?;
        if req.cancel {
            drop(p);
            self.reply_handshake(reqno)?;
            return Err(None);
        }
        self.become_process(p);
        self.reply_handshake(reqno)
    }

    fn prefork(self: &Arc<Self>, reqno: u64, process: &Process) -> Result<(), Fatal> {
        let Ok(child) = process.fork() else {
            return self
                .send(reqno, Class::Error, MsgType::Prefork, ErrorCode::RforkFailed.raw(), &[])
                .map_err(|_| None);
        };
        let cookie: Cookie = std::array::from_fn(|_| rand_u64() as u32);
        push_prefork(&self.shared, cookie, child);
        let bytes: Vec<u8> = cookie.iter().flat_map(|w| w.to_ne_bytes()).collect();
        self.send(reqno, Class::Resp, MsgType::Prefork, 0, &bytes).map_err(|_| None)
    }

    /// MAPFD: a host descriptor for mapping one of the process's fds,
    /// passed with the reply; ours closes once it is sent.
    fn mapfd(self: &Arc<Self>, reqno: u64, process: &Process, payload: &[u8]) -> Result<(), Fatal> {
        let req = <[u8; 8]>::try_from(payload).map_err(|_| Some((reqno, ErrorCode::Malformed)))?;
        let word = |i: usize| u32::from_ne_bytes([req[i], req[i + 1], req[i + 2], req[i + 3]]);
        let kind = match word(4) {
            0 => MapKind::Private,
            1 => MapKind::Shared,
            _ => return Err(Some((reqno, ErrorCode::Malformed))),
        };
        let answer = if self.sock.passes_fds() {
            process.mappable_fd(word(0) as i32, kind)
        } else {
            // ENODEV has one number in both emulations.
            Err(ENODEV)
        };
        let ok = 0i32.to_ne_bytes();
        let sent = match answer {
            Ok(Some(host)) => self.send_passing(Some(host.as_raw_fd()), reqno, Class::Resp, MsgType::Mapfd, 0, &ok),
            Ok(None) => self.send(reqno, Class::Resp, MsgType::Mapfd, 0, &ok),
            Err(e) => self.send(reqno, Class::Resp, MsgType::Mapfd, 0, &e.raw().to_ne_bytes()),
        };
        sent.map_err(|_| None)
    }

    /// The client's host process exec'd with the connection inherited: the
    /// old image's threads are gone, so their calls are cancelled, and
    /// close-on-exec fds close once they have returned.
    fn exec(self: &Arc<Self>, reqno: u64, process: &Process, payload: &[u8]) -> Result<(), Fatal> {
        let name = NameRepr::parse(payload).map_err(|_| Some((reqno, ErrorCode::Malformed)))?;
        tracing::info!(client = self.sock.raw_fd(), comm = %String::from_utf8_lossy(name.name), "handshake: exec");
        // The old image's mapping is gone; the new one asks for its own.
        if let Some(ch) = self.channel.lock().take() {
            ch.retire();
        }
        for lwp in self.calls.lock().values() {
            self.shared.kernel.cancel(lwp);
        }
        while !self.calls.lock().is_empty() {
            std::thread::sleep(Duration::from_micros(100));
        }
        if process.exec(&String::from_utf8_lossy(name.name)).is_err() {
            return Err(Some((reqno, ErrorCode::RforkFailed)));
        }
        self.reply_handshake(reqno)
    }

    /// SHMCHAN: a channel in shared memory for this client's calls, its
    /// descriptor passed with the reply; an errno leaves the client on the
    /// socket.
    fn open_channel(self: &Arc<Self>, reqno: u64, payload: &[u8]) -> Result<(), Fatal> {
        let sent = match self.new_channel(payload) {
            Ok((ch, fd)) => {
                let ok = 0i32.to_ne_bytes();
                let sent = self.send_passing(Some(fd.as_raw_fd()), reqno, Class::Resp, MsgType::Shmchan, 0, &ok);
                if sent.is_ok() {
                    tracing::debug!(client = self.sock.raw_fd(), "calls move to shared memory");
                    let ch = Arc::new(ch);
                    if let Some(old) = self.channel.lock().replace(ch.clone()) {
                        old.retire();
                    }
                    if self.dead.load(Ordering::Acquire) {
                        ch.retire();
                    }
                    ensure_shm_waiter(self, &ch);
                }
                sent
            }
            Err(e) => {
                tracing::debug!(client = self.sock.raw_fd(), errno = e.0, "calls stay on the socket");
                self.send(reqno, Class::Resp, MsgType::Shmchan, 0, &e.raw().to_ne_bytes())
            }
        };
        sent.map_err(|_| None)
    }

    /// A channel for this client if it can have one: a unix peer of our
    /// own uid whose memory shows the cookie it named.
    fn new_channel(&self, payload: &[u8]) -> Result<(ServerChannel, OwnedFd), Errno> {
        let (addr, cookie) = payload.split_at_checked(8).ok_or(EIO)?;
        let addr = UserAddr(u64::from_ne_bytes(addr.try_into().map_err(|_| EIO)?));
        if cookie.len() != 16 || !self.sock.passes_fds() {
            return Err(ENODEV);
        }
        // SAFETY: geteuid cannot fail.
        let same_uid = self.sock.peer_uid() == Some(unsafe { libc::geteuid() });
        let pid = self.sock.peer_pid().filter(|_| same_uid).ok_or(EPERM)?;
        let mut seen = [0u8; 16];
        PeerMemory { pid }.copy_in(addr, &mut seen).map_err(|_| EPERM)?;
        if seen[..] != *cookie {
            return Err(EPERM);
        }
        let ch = ServerChannel::new(self.shared.mem.clone(), pid)?;
        let fd = ch.client_fd()?;
        Ok((ch, fd))
    }

    /// NOTIFIER: the eventfd a client thread waits on for readiness
    /// record `record` of the channel.
    fn register_notifier(self: &Arc<Self>, reqno: u64, record: u32, fd: Option<OwnedFd>) -> Result<(), Fatal> {
        let ch = self.channel.lock().clone();
        let errno = match (ch, fd) {
            (Some(ch), Some(fd)) => ch.ready.register(record as usize, fd).err().map_or(0, |e| e.raw()),
            _ => EINVAL.raw(),
        };
        self.send(reqno, Class::Resp, MsgType::Notifier, 0, &errno.to_ne_bytes()).map_err(|_| None)
    }

    /// Runs one call a client posted in its channel and completes it.
    fn run_posted(self: &Arc<Self>, ch: &Arc<ServerChannel>, call: &Call) {
        let Some(process) = self.process() else {
            ch.complete(call, &Err(EIO), Kicks::default());
            return;
        };
        let armed = match ch.ready.armed(call.index) {
            Ok(n) => n,
            Err(e) => return ch.complete(call, &Err(e), Kicks::default()),
        };
        let arming = armed.as_ref().and_then(|n| n.arming());
        let (c, chan, index) = (Arc::downgrade(self), Arc::downgrade(ch), call.index);
        // This lwp runs this call only (a wait armed and run again later
        // has one of its own), so its sleeps are this slot's call's.
        let lwp = Lwp::with_block_hook(move || {
            if let (Some(c), Some(ch)) = (c.upgrade(), chan.upgrade()) {
                ch.sleeps(index);
                ensure_shm_waiter(&c, &ch);
            }
        });
        // The buffer of a wait armed, if it came in the slot's inline area.
        let inline = ch.inline(call).filter(|_| arming.is_some());
        // A poll whose set came inline may be watched (`ready`, "Watched
        // waits"): its client then answers it again from the record.
        let lwp = Arc::new(match &armed {
            Some(n) if inline.is_some() => lwp.notifying(n.clone()).watching(),
            Some(n) => lwp.notifying(n.clone()),
            None => lwp,
        });
        // Registered so a CANCEL on the socket reaches it; a request
        // number already in use just cannot be cancelled.
        let cancellable = {
            let mut calls = self.calls.lock();
            let free = !calls.contains_key(&call.reqno);
            if free {
                calls.insert(call.reqno, lwp.clone());
            }
            free
        };
        self.shared.busy.fetch_add(1, Ordering::AcqRel);
        let pid = ch.pid;
        let lane_memory = ch.lane_memory(call);
        let first = process.clone();
        let run =
            move |num: u32, args: &Slots, mem: &dyn UserMemory, lwp: &Lwp| process.syscall_lwp(num, args, mem, lwp);
        ready::refreshing(
            &ch.ready,
            || match &lane_memory {
                Some(mem) => first.syscall_lwp(call.sysnum, &call.args, mem, &lwp),
                None => run(call.sysnum, &call.args, &PeerMemory { pid }, &lwp),
            },
            |mut result, kicks| {
                if cancellable {
                    self.calls.lock().remove(&call.reqno);
                }
                // Fds left the table: what a watched wait names by number
                // may be another file now.
                if lwp.dropped_fds() {
                    ch.ready.unwatch_all();
                }
                // A wait armed runs again later, with a buffer that came
                // in the slot's inline area in the record's own
                // (`ready::RecordNotifier::remember`), and a larger one in
                // the client's memory in place (its lane is no longer its
                // own then): what this run left in the lane goes there first.
                if let (Some(mem), true, None) = (&lane_memory, lwp.armed(), inline) {
                    if let Err(e) = mem.flush(&result) {
                        result = Err(e);
                    }
                    ch.flushed(call);
                }
                // A wait armed, or watched: kept to run again when it is notified.
                if let (Some(n), Some(arming)) = (&armed, arming) {
                    let ready = (!lwp.armed()).then_some(&result);
                    if lwp.armed() || lwp.watched() {
                        let call_again = (call.sysnum, call.args, Arc::new(run.clone()) as RunAs);
                        n.remember(arming, call_again, inline, ready, lwp.watched());
                    }
                }
                ch.complete(call, &result, kicks);
            },
        );
        self.shared.busy.fetch_sub(1, Ordering::AcqRel);
    }

    fn call(self: &Arc<Self>, process: &Process, f: &Frame, passed: Option<OwnedFd>) -> Result<(), Fatal> {
        let h = f.header;
        // Another call of this connection may hold the kernel waiting for
        // a copy reply: this thread may wait for the kernel now, so
        // someone else must read that reply.
        if !self.copies.lock().is_empty() {
            self.ensure_reader();
        }
        let weak: Weak<Client> = Arc::downgrade(self);
        let mut lwp = Lwp::with_block_hook(move || {
            if let Some(c) = weak.upgrade() {
                c.ensure_reader();
            }
        });
        let mut payload = &f.payload[..];
        if h.msg_type == MsgType::Nsyscall {
            let notifier = self.notifier(&mut payload, passed).ok_or(Some((h.reqno, ErrorCode::Malformed)))?;
            lwp = lwp.notifying(notifier);
        }
        let lwp = Arc::new(lwp);
        {
            let mut calls = self.calls.lock();
            if calls.len() >= MAX_IN_FLIGHT {
                drop(calls);
                return self.send(h.reqno, Class::Error, h.msg_type, ErrorCode::TryAgain.raw(), &[]).map_err(|_| None);
            }
            calls.insert(h.reqno, lwp.clone());
        }
        self.shared.busy.fetch_add(1, Ordering::AcqRel);
        let remote = RemoteMemory(self);
        let reply = match h.msg_type {
            MsgType::Syscall => run_plain(process, &lwp, h.value, payload, &remote),
            _ => run_marshaled(process, &lwp, h.value, payload, &remote),
        };
        self.calls.lock().remove(&h.reqno);
        // As a posted call's (`run_posted`): a watched wait of the channel
        // names fds by number.
        if lwp.dropped_fds() {
            if let Some(ch) = self.channel.lock().clone() {
                ch.ready.unwatch_all();
            }
        }
        let sent = match reply {
            Ok(body) => self.send(h.reqno, Class::Resp, h.msg_type, h.value, &body).map_err(|_| None),
            Err(_) => Err(Some((h.reqno, ErrorCode::Malformed))),
        };
        self.shared.busy.fetch_sub(1, Ordering::AcqRel);
        sent
    }

    /// The notifier an NSYSCALL frame brings: its token (cut from the front
    /// of `payload`) and the eventfd passed with it, replacing the one
    /// that thread passed before (past `MAX_NOTIFIERS` threads, another's
    /// goes). None for a frame without them.
    fn notifier(&self, payload: &mut &[u8], fd: Option<OwnedFd>) -> Option<Arc<dyn Notify>> {
        let token = u32::from_ne_bytes(payload.get(..4)?.try_into().ok()?);
        *payload = &payload[4..];
        let fd = fd?;
        let n = Arc::new(EventFdNotifier::new(fd));
        let mut all = self.notifiers.lock();
        if all.len() >= MAX_NOTIFIERS && !all.contains_key(&token) {
            // Most are threads long gone (a token per thread id): make room.
            if let Some(n) = all.keys().next().copied().and_then(|old| all.remove(&old)) {
                n.retire();
            }
        }
        if let Some(old) = all.insert(token, n.clone()) {
            old.retire();
        }
        Some(n)
    }

    /// Called before this connection's call blocks: if nobody reads the
    /// connection, a new thread starts reading.
    fn ensure_reader(self: &Arc<Self>) {
        if self.dead.load(Ordering::Acquire) {
            return;
        }
        if self.readers.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            let c = self.clone();
            std::thread::spawn(move || serve_thread(c));
        }
    }
}

impl CopyChannel for Arc<Client> {
    fn ask(&self, kind: MsgType, req: &CopyRepr<'_>) -> Result<Vec<u8>, Errno> {
        if self.dead.load(Ordering::Acquire) {
            return Err(EFAULT);
        }
        let reqno = self.next_reqno.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = sync_channel(1);
        self.copies.lock().insert(reqno, tx);
        if self.send(reqno, Class::Req, kind, 0, &req.to_bytes()).is_err() {
            self.copies.lock().remove(&reqno);
            return Err(EFAULT);
        }
        // The reply comes through whoever reads the connection.
        self.ensure_reader();
        match rx.recv_timeout(self.shared.policy.copy_timeout) {
            Ok(f) if f.header.class == Class::Resp => Ok(f.payload),
            Ok(_) => Err(EFAULT),
            // The connection died meanwhile.
            Err(RecvTimeoutError::Disconnected) => Err(EFAULT),
            Err(RecvTimeoutError::Timeout) => {
                self.copies.lock().remove(&reqno);
                // This call holds the kernel, so it cannot cancel the
                // connection's other calls (`die` takes the kernel): it
                // hangs up, and the reader, seeing the end, does the rest.
                tracing::warn!(conn = self.sock.raw_fd(), "dropped a connection: no answer to a copy request");
                self.sock.shutdown();
                Err(EFAULT)
            }
        }
    }
}
