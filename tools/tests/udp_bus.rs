//! UDP between two real `rump_server` processes of a `rumpctl net`
//! topology: every datagram of a paced stream crosses the clean bus, from
//! a client of one node through that node's kernel, the bus and the other
//! node's kernel to a client of it, with nothing lost on the way; and a
//! poll a client armed through the channel has its outcome published by
//! the node's network reader when a datagram arrives.

mod support;

use rump_abi::linux::sys::{rump_sys_bind, rump_sys_open, rump_sys_read, rump_sys_recvfrom, rump_sys_sendto};
use rump_abi::linux::sys::{rump_sys_setsockopt, rump_sys_socket};
use rump_abi::SysResult;
use rumpclient::client::{Client, ReadyGate};
use rumpclient::notify::EventFdNotifier;
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use support::{rumpctl, TempDir};

const TOPOLOGY: &str = r#"
[node.a]
ifaces = ["shmif0 ab 10.0.0.1/24"]
[node.b]
ifaces = ["shmif0 ab 10.0.0.2/24"]
"#;

/// A network that is up until dropped.
struct Net(TempDir);

impl Net {
    fn up(topology: &str) -> Net {
        let dir = TempDir::new("udp-bus");
        let file = dir.path().join("net.toml");
        std::fs::write(&file, topology).unwrap();
        let net = Net(dir);
        let st = Command::new(rumpctl()).args(["net", "up", "-d", &net.dir()]).arg(&file).output().unwrap();
        assert!(st.status.success(), "rumpctl net up: {}", String::from_utf8_lossy(&st.stderr));
        net
    }

    fn dir(&self) -> String {
        format!("{}/net", self.0.s())
    }

    /// A client of node `name`'s kernel (through shared memory, the
    /// transport of a server on this host).
    fn client(&self, name: &str) -> Client {
        let url = ServerUrl::parse(&format!("unix://{}/sock/{name}", self.dir())).unwrap();
        Client::connect(&url, Emulation::Linux, "udp_bus").expect("connects to the node")
    }
}

impl Net {
    /// The pid of the server process that runs node `name`.
    fn server_pid(&self, name: &str) -> i32 {
        let s = std::os::unix::net::UnixStream::connect(format!("{}/sock/{name}", self.dir())).unwrap();
        let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
        let mut len = size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: SO_PEERCRED fills a ucred of `len` bytes.
        let r = unsafe {
            libc::getsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                (&mut cred as *mut libc::ucred).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0);
        cred.pid
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = Command::new(rumpctl()).args(["net", "down", "-d", &self.dir()]).output();
    }
}

fn sockaddr_in(ip: [u8; 4], port: u16) -> [u8; 16] {
    let mut sa = [0u8; 16];
    sa[..2].copy_from_slice(&2u16.to_ne_bytes());
    sa[2..4].copy_from_slice(&port.to_be_bytes());
    sa[4..8].copy_from_slice(&ip);
    sa
}

/// The `Udp:` counters of /proc/net/snmp in `k`, by name.
fn udp_counter(k: &Client, name: &str) -> u64 {
    let path = c"/proc/net/snmp";
    let fd = rump_sys_open(k, path.as_ptr(), 0, 0).unwrap();
    let mut buf = vec![0u8; 8192];
    let n = rump_sys_read(k, fd as u32, buf.as_mut_ptr().cast(), buf.len()).unwrap() as usize;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    let mut rows = text.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (rows.next().unwrap(), rows.next().unwrap());
    let at = names.split_whitespace().position(|w| w == name).unwrap_or_else(|| panic!("no {name}"));
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}

/// The sender never has more than `AHEAD` datagrams unread, well inside
/// the receive buffer (64 of 1000 bytes are 147 KiB of truesize in a
/// 208 KiB buffer), so any loss is the path's (the servers, the bus, the
/// stacks) and not a full socket's, which Linux drops too.
#[test]
fn a_clean_bus_between_servers_loses_none_of_100000_paced_udp_datagrams() {
    const COUNT: usize = 100_000;
    const AHEAD: usize = 64;
    let net = Net::up(TOPOLOGY);
    let (a, b) = (net.client("a"), Arc::new(net.client("b")));
    let ub = rump_sys_socket(&*b, 2, 2, 0).unwrap();
    let here = sockaddr_in([0, 0, 0, 0], 7001);
    rump_sys_bind(&*b, ub, here.as_ptr().cast(), 16).unwrap();
    // SO_RCVTIMEO of 5 s ends the count if datagrams stop coming.
    let tv = [5i64, 0];
    rump_sys_setsockopt(&*b, ub, 1, 20, tv.as_ptr().cast(), 16).unwrap();
    let read = Arc::new(AtomicUsize::new(0));
    let (b2, read2, sender) = (b.clone(), read.clone(), std::thread::current());
    let receiver = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let (mut next, mut in_order) = (0usize, true);
        while next < COUNT {
            let got = rump_sys_recvfrom(
                &*b2,
                ub,
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            let Ok(n) = got else { break };
            assert_eq!(n, 1000);
            in_order &= u32::from_ne_bytes(buf[..4].try_into().unwrap()) as usize == next;
            next += 1;
            read2.store(next, Ordering::Release);
            sender.unpark();
        }
        sender.unpark();
        (next, in_order)
    });
    let ua = rump_sys_socket(&a, 2, 2, 0).unwrap();
    let to = sockaddr_in([10, 0, 0, 2], 7001);
    let mut msg = [0u8; 1000];
    for i in 0..COUNT {
        // Asleep while waiting, so that the servers have the CPUs.
        while i - read.load(Ordering::Acquire) >= AHEAD && !receiver.is_finished() {
            std::thread::park_timeout(std::time::Duration::from_millis(10));
        }
        msg[..4].copy_from_slice(&(i as u32).to_ne_bytes());
        assert_eq!(rump_sys_sendto(&a, ua, msg.as_ptr().cast(), 1000, 0, to.as_ptr().cast(), 16), Ok(1000));
    }
    let got = receiver.join().unwrap();
    assert_eq!(
        (got, udp_counter(&b, "InErrors"), udp_counter(&b, "RcvbufErrors")),
        ((COUNT, true), 0, 0),
        "((datagrams received by b, in order), b's UDP InErrors, RcvbufErrors)"
    );
}

/// A UDP socket of node b bound to a port, and a readiness record of the
/// calling thread in b's channel, with a client of node a to send to it.
struct Waiter {
    net: Net,
    a: Client,
    b: Client,
    /// a's socket, and b's.
    ua: i32,
    ub: i32,
    efd: i32,
    token: u32,
    gate: ReadyGate,
    _notifier: Arc<EventFdNotifier>,
}

impl Waiter {
    /// None over sockets (`RUMP_TRANSPORT=socket`), which hand out no records.
    fn on_port(port: u16) -> Option<Waiter> {
        let net = Net::up(TOPOLOGY);
        let (a, b) = (net.client("a"), net.client("b"));
        let ub = rump_sys_socket(&b, 2, 2, 0).unwrap();
        let here = sockaddr_in([0, 0, 0, 0], port);
        rump_sys_bind(&b, ub, here.as_ptr().cast(), 16).unwrap();
        // SAFETY: a plain syscall; the notifier owns the fd.
        let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        assert!(efd >= 0);
        let notifier = Arc::new(EventFdNotifier::gated(unsafe { OwnedFd::from_raw_fd(efd) }));
        let token = unsafe { libc::gettid() } as u32;
        let Some(gate) = b.ready_gate(token, &notifier) else {
            assert!(!b.shares_memory(), "a shared-memory channel hands out records");
            return None;
        };
        let ua = rump_sys_socket(&a, 2, 2, 0).unwrap();
        Some(Waiter { net, a, b, ua, ub, efd, token, gate, _notifier: notifier })
    }

    /// A poll of `set` through the record, with its revents after.
    fn poll(&self, set: &mut [rump_abi::linux::types::pollfd; 1]) -> (SysResult, i16) {
        self.poll_through(&self.gate, self.efd, set)
    }

    /// The same through `gate`, whose thread waits on `efd`.
    fn poll_through(
        &self,
        gate: &ReadyGate,
        efd: i32,
        set: &mut [rump_abi::linux::types::pollfd; 1],
    ) -> (SysResult, i16) {
        let args = [set.as_mut_ptr() as u64, 1, -1i64 as u64, 0, 0, 0, 0, 0];
        let r = self.b.syscall_notifying(libc::SYS_poll as u32, &args, self.token, efd, Some(gate));
        // SAFETY: written through the client's memory or from the record.
        (r, unsafe { std::ptr::read_volatile(&set[0].revents) })
    }

    /// Sends one byte from node a to b's socket at `port`.
    fn send(&self, port: u16) {
        let to = sockaddr_in([10, 0, 0, 2], port);
        assert_eq!(rump_sys_sendto(&self.a, self.ua, b"x".as_ptr().cast(), 1, 0, to.as_ptr().cast(), 16), Ok(1));
    }
}

/// Whether `cond` holds within 5 s.
fn eventually(cond: &mut dyn FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !cond() && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    cond()
}

/// A poll over a UDP socket armed through the shared channel (a waiter
/// about to sleep): the datagram that makes it ready comes off the bus,
/// and the node's network reader publishes the outcome, POLLIN in the
/// waiter's own set, so the waiter need not ask again; the eventfd is
/// written only for a waiter asleep on it.
#[test]
fn a_datagram_off_the_bus_publishes_an_armed_poll() {
    let Some(w) = Waiter::on_port(7002) else { return };
    let mut set = [rump_abi::linux::types::pollfd { fd: w.ub, events: libc::POLLIN, revents: 0 }];
    let eventfd_count = || {
        let mut v = 0u64;
        // SAFETY: reads 8 bytes into `v`.
        let n = unsafe { libc::read(w.efd, (&mut v as *mut u64).cast(), 8) };
        if n == 8 {
            v
        } else {
            0
        }
    };
    let mut buf = [0u8; 64];
    for asleep in [false, true] {
        set[0].revents = 0;
        let seen = w.gate.words().fired();
        assert_eq!(w.poll(&mut set), (Ok(0), 0), "armed");
        if asleep {
            assert!(w.gate.words().sleep(seen));
        }
        w.send(7002);
        assert!(eventually(&mut || w.gate.words().fired() != seen), "the datagram told the record (asleep: {asleep})");
        if asleep {
            w.gate.words().woke();
        }
        assert_eq!(w.gate.settle(), Some(Ok(1)), "published (asleep: {asleep})");
        // SAFETY: the kernel wrote the set through the client's memory.
        assert_eq!(unsafe { std::ptr::read_volatile(&set[0].revents) }, libc::POLLIN, "in the waiter's set");
        assert_eq!(eventfd_count(), u64::from(asleep), "the eventfd written only for a sleeper");
        let got =
            rump_sys_recvfrom(&w.b, w.ub, buf.as_mut_ptr().cast(), 64, 0, std::ptr::null_mut(), std::ptr::null_mut());
        assert_eq!(got, Ok(1));
    }
}

/// A poll over sockets that the server watches for the record: asked again
/// over the same set, the client answers it from the record without a call
/// (the server may be stopped meanwhile), and the record follows every
/// change (a datagram arriving, another process reading it, the fd closed
/// and its number given to another socket), as the kernel would answer.
#[test]
fn a_watched_poll_is_answered_without_a_call_and_follows_every_change() {
    let Some(w) = Waiter::on_port(7003) else { return };
    let mut set = [rump_abi::linux::types::pollfd { fd: w.ub, events: libc::POLLIN, revents: 0 }];
    let poll = |set: &mut _| w.poll(set);

    w.send(7003);
    assert!(eventually(&mut || poll(&mut set) == (Ok(1), libc::POLLIN)), "the datagram found");
    // The server stopped: no call could be answered, the watched poll is.
    let server = w.net.server_pid("b");
    // SAFETY: signals to the node's server process, which this test started.
    unsafe { libc::kill(server, libc::SIGSTOP) };
    // Should the poll make a call after all, it ends once the server goes on.
    let resume = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(2));
        unsafe { libc::kill(server, libc::SIGCONT) }
    });
    let (answered, mut third) = (poll(&mut set), None);
    if answered == (Ok(1), libc::POLLIN) {
        // And a second datagram in the meantime changes nothing it says.
        w.send(7003);
        third = Some(poll(&mut set));
    }
    unsafe { libc::kill(server, libc::SIGCONT) };
    resume.join().unwrap();
    assert_eq!(answered, (Ok(1), libc::POLLIN), "answered from the record with its server stopped");
    assert_eq!(third, Some((Ok(1), libc::POLLIN)));

    // Another process holding the same socket reads both datagrams: the
    // record no longer says ready (armed: nothing ready, told later).
    let cookie = w.b.prefork().unwrap();
    let child = w.b.connect_forked(cookie, false).unwrap().unwrap();
    let mut buf = [0u8; 8];
    for _ in 0..2 {
        let got =
            rump_sys_recvfrom(&child, w.ub, buf.as_mut_ptr().cast(), 8, 0, std::ptr::null_mut(), std::ptr::null_mut());
        assert_eq!(got, Ok(1));
    }
    assert_eq!(poll(&mut set), (Ok(0), 0), "read elsewhere: nothing ready");
    // A datagram arriving is published into the record and told.
    let seen = w.gate.words().fired();
    w.send(7003);
    assert!(eventually(&mut || w.gate.words().fired() != seen), "the datagram told the record");
    assert_eq!(w.gate.settle(), Some(Ok(1)), "published");
    assert_eq!(poll(&mut set), (Ok(1), libc::POLLIN));

    // The thread's eventfd moves (a new notifier for its record): the old
    // notifier, retired, hears of nothing more, and the record does not
    // answer from what it watched.
    // SAFETY: a plain syscall; the notifier owns the fd.
    let efd2 = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    let notifier2 = Arc::new(EventFdNotifier::gated(unsafe { OwnedFd::from_raw_fd(efd2) }));
    let gate2 = w.b.ready_gate(w.token, &notifier2).unwrap();
    let got =
        rump_sys_recvfrom(&child, w.ub, buf.as_mut_ptr().cast(), 8, 0, std::ptr::null_mut(), std::ptr::null_mut());
    assert_eq!(got, Ok(1));
    assert_eq!(w.poll_through(&gate2, efd2, &mut set), (Ok(0), 0), "read elsewhere, after the eventfd moved");
    w.send(7003);
    assert!(eventually(&mut || w.poll_through(&gate2, efd2, &mut set) == (Ok(1), libc::POLLIN)));

    // The fd closed and its number given to a new, empty socket: the
    // record does not answer for the old one.
    assert_eq!(rump_abi::linux::sys::rump_sys_close(&w.b, w.ub as u32), Ok(0));
    assert_eq!(rump_sys_socket(&w.b, 2, 2, 0), Ok(w.ub), "the number is reused");
    assert_eq!(poll(&mut set), (Ok(0), 0), "the new socket has nothing");
    assert_eq!(w.gate.settle(), None);
}
