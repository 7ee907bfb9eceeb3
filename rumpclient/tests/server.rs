//! A real server on a temporary unix socket, real clients, real kernel.

use rump_abi::linux::errno::{EAGAIN, ENOENT};
use rump_abi::linux::sys::*;
use rump_kernel::vfs::mapping::MapKind;
use rump_kernel::{Config, Kernel};
use rumpclient::client::Client;
use rumpclient::notify::EventFdNotifier;
use rumpclient::policy::Policy;
use rumpclient::server::Server;
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

mod support;
use support::start;

#[test]
fn two_clients_share_one_file_system() {
    let srv = start();
    let a = Client::connect(&srv.url, Emulation::Linux, "writer").unwrap();
    let b = Client::connect(&srv.url, Emulation::Linux, "reader").unwrap();
    let name = b"/shared\0";
    let fd = rump_sys_openat(&a, -100, name.as_ptr().cast(), 0o101, 0o644).unwrap();
    assert_eq!(rump_sys_write(&a, fd as u32, b"from a".as_ptr().cast(), 6), Ok(6));
    let fd = rump_sys_openat(&b, -100, name.as_ptr().cast(), 0, 0).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(rump_sys_read(&b, fd as u32, buf.as_mut_ptr().cast(), 16), Ok(6));
    assert_eq!(&buf[..6], b"from a");
    let missing = b"/missing\0";
    assert_eq!(rump_sys_openat(&b, -100, missing.as_ptr().cast(), 0, 0), Err(ENOENT));
}

#[test]
fn sixty_four_threads_block_on_pipes_without_deadlock() {
    let srv = start();
    let c = Arc::new(Client::connect(&srv.url, Emulation::Linux, "threads").unwrap());
    let pipes: Vec<[i32; 2]> = (0..32)
        .map(|_| {
            let mut fds = [0i32; 2];
            rump_sys_pipe2(&*c, fds.as_mut_ptr(), 0).unwrap();
            fds
        })
        .collect();
    let mut threads = Vec::new();
    for (i, fds) in pipes.iter().copied().enumerate() {
        let reader = c.clone();
        threads.push(std::thread::spawn(move || {
            let mut buf = [0u8; 8];
            // Blocks in the server until the writer thread below writes.
            let n = rump_sys_read(&*reader, fds[0] as u32, buf.as_mut_ptr().cast(), 8).unwrap();
            assert_eq!(&buf[..n as usize], format!("p{i:02}").as_bytes());
        }));
        let writer = c.clone();
        threads.push(std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(10));
            let msg = format!("p{i:02}");
            rump_sys_write(&*writer, fds[1] as u32, msg.as_ptr().cast(), msg.len()).unwrap();
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    let mut fds = [0i32; 2];
    rump_sys_pipe2(&*c, fds.as_mut_ptr(), 0o4000).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(rump_sys_read(&*c, fds[0] as u32, buf.as_mut_ptr().cast(), 1), Err(EAGAIN));
}

/// Connects by hand and reads the banner, to send frames of our choosing.
fn raw(path: &std::path::Path) -> UnixStream {
    let mut s = UnixStream::connect(path).unwrap();
    let mut byte = [0u8];
    loop {
        s.read_exact(&mut byte).unwrap();
        if byte[0] == b'\n' {
            return s;
        }
    }
}

/// A raw connection past a GUEST handshake as "evil".
fn raw_guest(path: &std::path::Path) -> UnixStream {
    let mut s = raw(path);
    let mut hello = header(24 + 5, 0, 0, 0);
    hello.extend_from_slice(b"evil\0");
    s.write_all(&hello).unwrap();
    let mut reply = [0u8; 28];
    s.read_exact(&mut reply).unwrap();
    s
}

/// After `bytes`, the server answers with an ERROR frame or closes; either
/// way the connection ends.
fn rejected(path: &std::path::Path, bytes: &[u8]) {
    let mut s = raw(path);
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut reply = Vec::new();
    match s.read_to_end(&mut reply) {
        Ok(_) => {}
        // Closed with our bytes unread: the kernel resets instead.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
        Err(e) => panic!("the server should end the connection: {e}"),
    }
    if !reply.is_empty() {
        assert!(reply.len() >= 24);
        assert_eq!(u16::from_ne_bytes([reply[16], reply[17]]), 2, "an ERROR frame");
    }
}

fn header(len: u64, class: u16, ty: u16, value: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&len.to_ne_bytes());
    h.extend_from_slice(&7u64.to_ne_bytes());
    h.extend_from_slice(&class.to_ne_bytes());
    h.extend_from_slice(&ty.to_ne_bytes());
    h.extend_from_slice(&value.to_ne_bytes());
    h
}

#[test]
fn bad_frames_close_one_connection_only() {
    let srv = start();
    let good = Client::connect(&srv.url, Emulation::Linux, "bystander").unwrap();
    let ok = || {
        let mut fds = [0i32; 2];
        rump_sys_pipe2(&good, fds.as_mut_ptr(), 0).unwrap();
    };
    rejected(&srv.path, b"this is not a frame at all, definitely not");
    ok();
    rejected(&srv.path, &header(1 << 40, 0, 0, 0));
    ok();
    rejected(&srv.path, &header(5, 0, 0, 0));
    ok();
    let mut truncated = header(100, 0, 0, 0);
    truncated.extend_from_slice(b"short");
    rejected(&srv.path, &truncated);
    ok();
    // A syscall before any handshake.
    rejected(&srv.path, &header(24, 0, 9, 3));
    ok();
    // A garbage marshaled call after a proper handshake.
    let mut s = raw_guest(&srv.path);
    let mut call = header(24 + 8, 0, 9, 0);
    call.extend_from_slice(&[0xff; 8]);
    s.write_all(&call).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("closed after the error");
    assert_eq!(u16::from_ne_bytes([rest[16], rest[17]]), 2);
    ok();
}

#[test]
fn a_second_server_on_the_same_path_is_refused() {
    let srv = start();
    let err = Server::start(Kernel::boot(Config::default()).unwrap(), &srv.url, Policy::default()).err().unwrap();
    assert!(err.to_string().contains("already exists"), "{err}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&srv.path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
}

fn eventfd() -> i32 {
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    assert!(fd >= 0);
    fd
}

fn eventfd_count(fd: i32) -> u64 {
    let mut v = 0u64;
    let n = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
    if n == 8 {
        v
    } else {
        0
    }
}

#[test]
fn a_notifying_poll_arms_the_passed_eventfd_instead_of_sleeping() {
    let srv = start();
    let c = Client::connect(&srv.url, Emulation::Linux, "notified").unwrap();
    assert!(c.passes_fds());
    let mut fds = [0i32; 2];
    rump_sys_pipe2(&c, fds.as_mut_ptr(), 0).unwrap();
    let efd = eventfd();
    let mut set = [rump_abi::linux::types::pollfd { fd: fds[0], events: 1, revents: 0 }];
    let poll = |set: &mut [rump_abi::linux::types::pollfd]| {
        let args = [set.as_mut_ptr() as u64, 1, -1i64 as u64, 0, 0, 0, 0, 0];
        c.syscall_notifying(SYS_poll, &args, 1, efd, None)
    };
    // Nothing ready: an infinite poll returns 0 at once, with the eventfd armed.
    assert_eq!(poll(&mut set), Ok(0));
    assert_eq!(eventfd_count(efd), 0);
    rump_sys_write(&c, fds[1] as u32, b"x".as_ptr().cast(), 1).unwrap();
    assert_eq!(eventfd_count(efd), 1, "the write told the armed notifier");
    // Ready now: answered as a poll would, nothing armed.
    assert_eq!(poll(&mut set), Ok(1));
    assert_eq!(set[0].revents, 1);
    let mut b = [0u8; 1];
    rump_sys_read(&c, fds[0] as u32, b.as_mut_ptr().cast(), 1).unwrap();
    // Arming again from the same thread keeps one notifier: one wake-up.
    assert_eq!(poll(&mut set), Ok(0));
    assert_eq!(poll(&mut set), Ok(0));
    rump_sys_write(&c, fds[1] as u32, b"y".as_ptr().cast(), 1).unwrap();
    assert_eq!(eventfd_count(efd), 1);
    unsafe { libc::close(efd) };
}

/// Waits up to 5 s for `cond`.
fn eventually(cond: impl Fn() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !cond() {
        if std::time::Instant::now() > end {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

#[test]
fn a_wait_armed_through_the_channel_gets_its_outcome_published() {
    let srv = start();
    let c = Client::connect(&srv.url, Emulation::Linux, "published").unwrap();
    assert_eq!(c.shares_memory(), rumpclient::transport::shm::wanted(), "the transport RUMP_TRANSPORT asks for");
    let path = c"/wake-fifo";
    rump_sys_mknodat(&c, -100, path.as_ptr(), 0o010600, 0).unwrap();
    let (o_rdonly_nonblock, o_wronly) = (0o4000, 1);
    let r = rump_sys_openat(&c, -100, path.as_ptr(), o_rdonly_nonblock, 0).unwrap();
    let w1 = rump_sys_openat(&c, -100, path.as_ptr(), o_wronly, 0).unwrap();
    let w2 = rump_sys_openat(&c, -100, path.as_ptr(), o_wronly, 0).unwrap();
    let notifier = Arc::new(EventFdNotifier::gated(unsafe { OwnedFd::from_raw_fd(eventfd()) }));
    let efd = notifier.raw_fd();
    let token = unsafe { libc::gettid() } as u32;
    let Some(gate) = c.ready_gate(token, &notifier) else {
        // Over sockets there is no mapping to hold records: mixed waits
        // take the per-call path, which the test above covers.
        assert!(!c.shares_memory(), "a shared-memory channel hands out records");
        return;
    };
    let mut set = [rump_abi::linux::types::pollfd { fd: r, events: 1, revents: 0 }];
    let args = [set.as_mut_ptr() as u64, 1, -1i64 as u64, 0, 0, 0, 0, 0];

    // Armed, and the waiter not asleep: a write publishes the outcome
    // into the waiter's own set without writing the eventfd.
    let seen = gate.words().fired();
    assert_eq!(c.syscall_notifying(SYS_poll, &args, token, efd, Some(&gate)), Ok(0));
    rump_sys_write(&c, w1 as u32, b"x".as_ptr().cast(), 1).unwrap();
    assert!(eventually(|| gate.words().fired() != seen), "the write told the record");
    assert_eq!(gate.settle(), Some(Ok(1)));
    assert_eq!(unsafe { std::ptr::read_volatile(&set[0].revents) }, 1, "POLLIN, in the waiter's set");
    assert_eq!(eventfd_count(efd), 0, "nobody slept on the eventfd");
    let mut b = [0u8; 1];
    rump_sys_read(&c, r as u32, b.as_mut_ptr().cast(), 1).unwrap();

    // Armed with the waiter asleep (the set's revents cleared first): how
    // often the record had fired before.
    let arm_asleep = |set: &mut [rump_abi::linux::types::pollfd; 1]| {
        set[0].revents = 0;
        let seen = gate.words().fired();
        let args = [set.as_mut_ptr() as u64, 1, -1i64 as u64, 0, 0, 0, 0, 0];
        assert_eq!(c.syscall_notifying(SYS_poll, &args, token, efd, Some(&gate)), Ok(0));
        assert!(gate.words().sleep(seen));
        seen
    };

    // Asleep: a change that makes nothing ready (one of two writers
    // closing) wakes nobody; the write after does.
    let seen = arm_asleep(&mut set);
    rump_sys_close(&c, w1 as u32).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(gate.words().fired(), seen, "a spurious wake-up was armed again, not told");
    assert_eq!(eventfd_count(efd), 0);
    rump_sys_write(&c, w2 as u32, b"y".as_ptr().cast(), 1).unwrap();
    // Published before the reply, and the eventfd written by the writer's
    // own thread (a kick) before its write returned.
    assert_ne!(gate.words().fired(), seen);
    assert_eq!(eventfd_count(efd), 1, "the sleeper's eventfd was written");
    gate.words().woke();
    assert_eq!(gate.settle(), Some(Ok(1)));

    // The same from another client: its call's reply cannot wake this
    // thread (a kick only goes to threads of the caller's own process),
    // so the server writes the eventfd itself.
    rump_sys_read(&c, r as u32, b.as_mut_ptr().cast(), 1).unwrap();
    arm_asleep(&mut set);
    let other = Client::connect(&srv.url, Emulation::Linux, "other writer").unwrap();
    let w3 = rump_sys_openat(&other, -100, path.as_ptr(), o_wronly, 0).unwrap();
    rump_sys_write(&other, w3 as u32, b"w".as_ptr().cast(), 1).unwrap();
    assert!(eventually(|| eventfd_count(efd) == 1), "the server wrote the sleeper's eventfd");
    gate.words().woke();
    assert_eq!(gate.settle(), Some(Ok(1)));
    assert_eq!(unsafe { std::ptr::read_volatile(&set[0].revents) }, 1);

    // Settled before anything happens: nothing published, and a later
    // change no longer writes into the set.
    rump_sys_read(&c, r as u32, b.as_mut_ptr().cast(), 1).unwrap();
    set[0].revents = 0;
    assert_eq!(c.syscall_notifying(SYS_poll, &args, token, efd, Some(&gate)), Ok(0));
    assert_eq!(gate.settle(), None);
    rump_sys_write(&c, w2 as u32, b"z".as_ptr().cast(), 1).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(unsafe { std::ptr::read_volatile(&set[0].revents) }, 0);
    assert_eq!(gate.settle(), None);
}

/// A handshaken client sending `frame` gets an ERROR frame and loses its
/// connection; a bystander's carries on.
fn fatal_after_handshake(frame: &[u8]) {
    let srv = start();
    let good = Client::connect(&srv.url, Emulation::Linux, "bystander").unwrap();
    let mut s = raw_guest(&srv.path);
    s.write_all(frame).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.len() >= 24 && u16::from_ne_bytes([rest[16], rest[17]]) == 2, "an ERROR frame, then EOF");
    assert!(rump_sys_getpid(&good).is_ok());
}

#[test]
fn a_notifying_call_without_a_descriptor_closes_that_connection_only() {
    // NSYSCALL (11): a token and a well-formed getpid, but no eventfd.
    let getpid = rumpclient::marshal(desc(SYS_getpid).unwrap(), &[0; 8], &rumpclient::selfmem::SelfMemory);
    let mut frame = header(24 + 4 + getpid.payload().len() as u64, 0, 11, SYS_getpid);
    frame.extend_from_slice(&1u32.to_ne_bytes());
    frame.extend_from_slice(getpid.payload());
    fatal_after_handshake(&frame);
}

#[test]
fn a_mapfd_reply_carries_a_descriptor_sharing_the_file() {
    let srv = start();
    let a = Client::connect(&srv.url, Emulation::Linux, "mapper").unwrap();
    let b = Client::connect(&srv.url, Emulation::Linux, "reader").unwrap();
    let name = b"/mapped\0";
    let fd = rump_sys_openat(&a, -100, name.as_ptr().cast(), 0o102, 0o644).unwrap();
    rump_sys_ftruncate(&a, fd as u32, 4096).unwrap();
    let host = a.mappable_fd(fd, MapKind::Shared).unwrap().unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: a shared mapping of a descriptor we own, unmapped below.
    let m = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            host.as_raw_fd(),
            0,
        )
    };
    assert_ne!(m, libc::MAP_FAILED);
    drop(host);
    // SAFETY: the mapping is 4096 bytes long.
    let page = unsafe { std::slice::from_raw_parts_mut(m.cast::<u8>(), 4096) };
    page[10..15].copy_from_slice(b"hello");
    let rfd = rump_sys_openat(&b, -100, name.as_ptr().cast(), 0, 0).unwrap();
    let mut buf = [0u8; 5];
    assert_eq!(rump_sys_pread64(&b, rfd as u32, buf.as_mut_ptr().cast(), 5, 10), Ok(5));
    assert_eq!(&buf, b"hello");
    let wfd = rump_sys_openat(&b, -100, name.as_ptr().cast(), 2, 0).unwrap();
    assert_eq!(rump_sys_pwrite64(&b, wfd as u32, b"world".as_ptr().cast(), 5, 20), Ok(5));
    assert_eq!(&page[20..25], b"world");
    // A read-only open gets a read-only descriptor.
    let ro = b.mappable_fd(rfd, MapKind::Shared).unwrap().unwrap();
    // SAFETY: fcntl on our fd.
    assert_eq!(unsafe { libc::fcntl(ro.as_raw_fd(), libc::F_GETFL) } & libc::O_ACCMODE, libc::O_RDONLY);
    // A private mapping of a file still in kernel pages: no descriptor.
    let name2 = b"/private\0";
    let pfd = rump_sys_openat(&a, -100, name2.as_ptr().cast(), 0o102, 0o644).unwrap();
    assert!(a.mappable_fd(pfd, MapKind::Private).unwrap().is_none());
    // Errors come back as the call's errno, with no descriptor.
    use rump_abi::linux::errno::{EBADF, ENODEV};
    assert_eq!(a.mappable_fd(999, MapKind::Shared).err(), Some(EBADF));
    let mut fds = [0i32; 2];
    rump_sys_pipe2(&a, fds.as_mut_ptr(), 0).unwrap();
    assert_eq!(a.mappable_fd(fds[0], MapKind::Private).err(), Some(ENODEV));
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(m, 4096) };
}

#[test]
fn a_malformed_mapfd_closes_that_connection_only() {
    // MAPFD (12) with seven bytes where an fd and a kind take eight.
    let mut frame = header(24 + 7, 0, 12, 0);
    frame.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7]);
    fatal_after_handshake(&frame);
    // And a kind that is neither private nor shared.
    let mut frame = header(24 + 8, 0, 12, 0);
    frame.extend_from_slice(&0i32.to_ne_bytes());
    frame.extend_from_slice(&7u32.to_ne_bytes());
    fatal_after_handshake(&frame);
}

#[test]
fn mapfd_over_tcp_is_enodev() {
    let url = ServerUrl::parse("tcp://127.0.0.1:0").unwrap();
    let server = Server::start(Kernel::boot(Config::default()).unwrap(), &url, Policy::default()).unwrap();
    let c = Client::connect(server.url(), Emulation::Linux, "far").unwrap();
    assert!(!c.passes_fds());
    let name = b"/f\0";
    let fd = rump_sys_openat(&c, -100, name.as_ptr().cast(), 0o102, 0o644).unwrap();
    assert_eq!(c.mappable_fd(fd, MapKind::Shared).err(), Some(rump_abi::linux::errno::ENODEV));
}
