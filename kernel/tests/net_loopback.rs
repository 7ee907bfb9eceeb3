//! The stack over lo0 through Linux's socket calls: a TCP connection
//! through listen/accept carrying a megabyte both ways, end of stream,
//! UDP with source addresses, ICMP port unreachable turned into
//! ECONNREFUSED, and the errors of calls made in the wrong state.

mod support;

use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use std::sync::Arc;
use support::{sc, sockaddr_in};

fn boot() -> (Kernel, Arc<Process>) {
    let k = Kernel::boot(Config::default()).expect("boot");
    let p = Arc::new(k.spawn(Emulation::Linux, Cred::root(), "test").unwrap());
    (k, p)
}

fn sin(port: u16) -> libc::sockaddr_in {
    sockaddr_in([127, 0, 0, 1], port)
}

fn socket(p: &Process, ty: i32) -> i32 {
    sc(p, libc::SYS_socket, &[libc::AF_INET as u64, ty as u64, 0]).unwrap() as i32
}

fn bind(p: &Process, fd: i32, port: u16) -> Result<i64, i32> {
    let a = sin(port);
    sc(p, libc::SYS_bind, &[fd as u64, &a as *const _ as u64, 16])
}

fn local_port(p: &Process, fd: i32) -> u16 {
    let mut a = sin(0);
    let mut len: u32 = 16;
    sc(p, libc::SYS_getsockname, &[fd as u64, &mut a as *mut _ as u64, &mut len as *mut _ as u64]).unwrap();
    u16::from_be(a.sin_port)
}

/// A TCP listener on a port of the kernel's choice, and the port.
fn listener(p: &Process) -> (i32, u16) {
    let l = socket(p, libc::SOCK_STREAM);
    bind(p, l, 0).unwrap();
    sc(p, libc::SYS_listen, &[l as u64, 4]).unwrap();
    (l, local_port(p, l))
}

fn send_all(p: &Process, fd: i32, data: &[u8]) {
    let mut off = 0;
    while off < data.len() {
        let n = sc(p, libc::SYS_write, &[fd as u64, data[off..].as_ptr() as u64, (data.len() - off) as u64]).unwrap();
        off += n as usize;
    }
}

fn recv_all(p: &Process, fd: i32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = sc(p, libc::SYS_read, &[fd as u64, buf.as_mut_ptr() as u64, buf.len() as u64]).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
}

#[test]
fn tcp_megabyte_each_way_over_loopback() {
    let (_k, p) = boot();
    let (l, port) = listener(&p);
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 % 251) as u8).collect();
    let (p2, d2) = (p.clone(), data.clone());
    let client = std::thread::spawn(move || {
        let c = socket(&p2, libc::SOCK_STREAM);
        let a = sin(port);
        sc(&p2, libc::SYS_connect, &[c as u64, &a as *const _ as u64, 16]).unwrap();
        send_all(&p2, c, &d2);
        sc(&p2, libc::SYS_shutdown, &[c as u64, libc::SHUT_WR as u64]).unwrap();
        let back = recv_all(&p2, c);
        sc(&p2, libc::SYS_close, &[c as u64]).unwrap();
        back
    });
    let s = sc(&p, libc::SYS_accept, &[l as u64, 0, 0]).unwrap() as i32;
    let got = recv_all(&p, s);
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    send_all(&p, s, &got);
    sc(&p, libc::SYS_close, &[s as u64]).unwrap();
    assert!(client.join().unwrap() == data);
}

/// A bad buffer is EFAULT and moves nothing, as on Linux: a write from it
/// sends nothing, and a read into it leaves the bytes for the next read.
#[test]
fn tcp_bad_buffers_are_efault_and_lose_nothing() {
    let (_k, p) = boot();
    let (l, port) = listener(&p);
    let c = socket(&p, libc::SOCK_STREAM);
    let a = sin(port);
    sc(&p, libc::SYS_connect, &[c as u64, &a as *const _ as u64, 16]).unwrap();
    let s = sc(&p, libc::SYS_accept, &[l as u64, 0, 0]).unwrap() as u64;
    let bad = 1u64;
    assert_eq!(sc(&p, libc::SYS_write, &[c as u64, bad, 3]), Err(libc::EFAULT));
    send_all(&p, c, b"abc");
    let mut pfd = libc::pollfd { fd: s as i32, events: libc::POLLIN, revents: 0 };
    assert_eq!(sc(&p, libc::SYS_poll, &[&mut pfd as *mut _ as u64, 1, 5000]), Ok(1));
    assert_eq!(sc(&p, libc::SYS_read, &[s, bad, 3]), Err(libc::EFAULT));
    // Non-blocking: bytes lost would be EAGAIN here, not a hang.
    sc(&p, libc::SYS_fcntl, &[s, libc::F_SETFL as u64, libc::O_NONBLOCK as u64]).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(sc(&p, libc::SYS_read, &[s, buf.as_mut_ptr() as u64, 16]), Ok(3));
    assert_eq!(&buf[..3], b"abc");
}

#[test]
fn udp_datagrams_carry_their_source_and_refusals_come_back() {
    let (_k, p) = boot();
    let a = socket(&p, libc::SOCK_DGRAM);
    let b = socket(&p, libc::SOCK_DGRAM);
    bind(&p, b, 0).unwrap();
    let bport = local_port(&p, b);
    let to = sin(bport);
    assert_eq!(
        sc(&p, libc::SYS_sendto, &[a as u64, b"hello".as_ptr() as u64, 5, 0, &to as *const _ as u64, 16]),
        Ok(5)
    );
    let mut buf = [0u8; 16];
    let mut from = sin(0);
    let mut len: u32 = 16;
    let n = sc(
        &p,
        libc::SYS_recvfrom,
        &[b as u64, buf.as_mut_ptr() as u64, 16, 0, &mut from as *mut _ as u64, &mut len as *mut _ as u64],
    );
    assert_eq!(n, Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(u16::from_be(from.sin_port), local_port(&p, a));
    // A connected socket hears the port unreachable as ECONNREFUSED.
    sc(&p, libc::SYS_close, &[b as u64]).unwrap();
    sc(&p, libc::SYS_connect, &[a as u64, &to as *const _ as u64, 16]).unwrap();
    assert_eq!(sc(&p, libc::SYS_write, &[a as u64, b"x".as_ptr() as u64, 1]), Ok(1));
    assert_eq!(sc(&p, libc::SYS_read, &[a as u64, buf.as_mut_ptr() as u64, 16]), Err(libc::ECONNREFUSED));
}

#[test]
fn tcp_errors_in_the_wrong_state() {
    let (_k, p) = boot();
    let c = socket(&p, libc::SOCK_STREAM);
    let closed = sin(9);
    assert_eq!(sc(&p, libc::SYS_connect, &[c as u64, &closed as *const _ as u64, 16]), Err(libc::ECONNREFUSED));
    let l = socket(&p, libc::SOCK_STREAM);
    bind(&p, l, 5555).unwrap();
    sc(&p, libc::SYS_listen, &[l as u64, 1]).unwrap();
    let l2 = socket(&p, libc::SOCK_STREAM);
    assert_eq!(bind(&p, l2, 5555), Err(libc::EADDRINUSE));
    let mut buf = [0u8; 4];
    assert_eq!(sc(&p, libc::SYS_read, &[l2 as u64, buf.as_mut_ptr() as u64, 4]), Err(libc::ENOTCONN));
    let notsock = sc(&p, libc::SYS_getsockname, &[99, 0, 0]);
    assert_eq!(notsock, Err(libc::EBADF));
}

fn sockopt(p: &Process, fd: i32, name: i32) -> i32 {
    let mut v = 0i32;
    let mut len = 4u32;
    let args = [fd as u64, libc::SOL_SOCKET as u64, name as u64, &mut v as *mut _ as u64, &mut len as *mut _ as u64];
    sc(p, libc::SYS_getsockopt, &args).unwrap();
    v
}

fn set_sockopt(p: &Process, fd: i32, name: i32, v: i32) {
    let args = [fd as u64, libc::SOL_SOCKET as u64, name as u64, &v as *const _ as u64, 4];
    sc(p, libc::SYS_setsockopt, &args).unwrap();
}

/// Linux's receive-buffer accounting: rmem_default to begin with,
/// SO_RCVBUF doubled (2304 at least), and each queued datagram charged
/// its skb's truesize (768 bytes for 100 of payload, 2304 for 1000), a
/// datagram that does not fit dropped and counted in RcvbufErrors unless
/// the queue is empty.
#[test]
fn udp_receive_buffers_count_as_linux_does() {
    let (k, p) = boot();
    let rx = socket(&p, libc::SOCK_DGRAM);
    bind(&p, rx, 7200).unwrap();
    assert_eq!(sockopt(&p, rx, libc::SO_RCVBUF), 212992, "rmem_default");
    assert_eq!(sockopt(&p, rx, libc::SO_SNDBUF), 212992, "wmem_default");
    set_sockopt(&p, rx, libc::SO_SNDBUF, 1);
    assert_eq!(sockopt(&p, rx, libc::SO_SNDBUF), 4608, "SOCK_MIN_SNDBUF");
    set_sockopt(&p, rx, libc::SO_RCVBUF, 1);
    assert_eq!(sockopt(&p, rx, libc::SO_RCVBUF), 2304, "SOCK_MIN_RCVBUF");
    set_sockopt(&p, rx, libc::SO_RCVBUF, 4096);
    assert_eq!(sockopt(&p, rx, libc::SO_RCVBUF), 8192, "twice what was asked");

    let tx = socket(&p, libc::SOCK_DGRAM);
    let to = sin(7200);
    // Fills an idle receive buffer with `size`-byte datagrams; how many it took.
    let queued = |size: usize| {
        let msg = vec![1u8; size];
        for _ in 0..40 {
            let args = [tx as u64, msg.as_ptr() as u64, size as u64, 0, &to as *const _ as u64, 16];
            assert_eq!(sc(&p, libc::SYS_sendto, &args), Ok(size as i64));
        }
        let mut buf = [0u8; 2048];
        let args = [rx as u64, buf.as_mut_ptr() as u64, 2048, libc::MSG_DONTWAIT as u64, 0, 0];
        std::iter::from_fn(|| sc(&p, libc::SYS_recvfrom, &args).ok()).count()
    };
    let dropped = || k.with_state(|st| st.net.stats.udp_rcvbuf_errors);
    assert_eq!(queued(100), 8192 / 768, "100-byte datagrams in 8 KiB");
    assert_eq!(queued(1000), 8192 / 2304, "1000-byte datagrams in 8 KiB");
    assert_eq!(dropped(), (40 - 10) + (40 - 3), "RcvbufErrors");
    // A buffer smaller than one datagram still takes one at a time.
    set_sockopt(&p, rx, libc::SO_RCVBUF, 1);
    assert_eq!(queued(2000), 1, "a datagram of 4352 bytes' truesize in an empty 2304-byte buffer");
}
