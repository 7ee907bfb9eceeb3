//! NETLINK_ROUTE through Linux's socket calls: port ids, dumps ending in
//! NLMSG_DONE, acks and errors with Linux's errnos and extended-ack
//! texts, malformed requests (EINVAL, or ignored as Linux ignores a cut
//! header), and multicast notifications of another socket's change.

mod support;

use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use support::sc;

const NETLINK_ROUTE: u64 = 0;
const NETLINK_GENERIC: u64 = 16;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_MULTI: u16 = 2;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_ACK_TLVS: u16 = 0x200;
const SOL_NETLINK: u64 = 270;
const NETLINK_EXT_ACK: u64 = 11;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const MSG_DONTWAIT: u64 = 0x40;

fn boot() -> (Kernel, Process) {
    let k = Kernel::boot(Config::default()).expect("boot");
    let p = k.spawn(Emulation::Linux, Cred::root(), "test").unwrap();
    (k, p)
}

fn nl_socket(p: &Process, groups: u32) -> i32 {
    let fd = sc(p, libc::SYS_socket, &[libc::AF_NETLINK as u64, libc::SOCK_RAW as u64, NETLINK_ROUTE]).unwrap() as i32;
    let mut a = [0u8; 12];
    a[..2].copy_from_slice(&(libc::AF_NETLINK as u16).to_ne_bytes());
    a[8..12].copy_from_slice(&groups.to_ne_bytes());
    sc(p, libc::SYS_bind, &[fd as u64, a.as_ptr() as u64, 12]).unwrap();
    fd
}

fn port_id(p: &Process, fd: i32) -> u32 {
    let mut a = [0u8; 12];
    let mut len: u32 = 12;
    sc(p, libc::SYS_getsockname, &[fd as u64, a.as_mut_ptr() as u64, &mut len as *mut u32 as u64]).unwrap();
    assert_eq!((u16::from_ne_bytes([a[0], a[1]]), len), (libc::AF_NETLINK as u16, 12));
    u32::from_ne_bytes([a[4], a[5], a[6], a[7]])
}

fn message(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = ((16 + payload.len()) as u32).to_ne_bytes().to_vec();
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(payload);
    m
}

fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut a = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
    a.extend_from_slice(&kind.to_ne_bytes());
    a.extend_from_slice(value);
    a.resize((a.len() + 3) & !3, 0);
    a
}

fn send(p: &Process, fd: i32, m: &[u8]) {
    let n = sc(p, libc::SYS_sendto, &[fd as u64, m.as_ptr() as u64, m.len() as u64, 0, 0, 0]).unwrap();
    assert_eq!(n as usize, m.len());
}

/// One received message: type, flags, seq, pid, payload.
type Msg = (u16, u16, u32, u32, Vec<u8>);

/// The next datagram's messages, or None when nothing is queued.
fn recv(p: &Process, fd: i32) -> Option<Vec<Msg>> {
    let mut buf = vec![0u8; 65536];
    let n = sc(p, libc::SYS_recvfrom, &[fd as u64, buf.as_mut_ptr() as u64, buf.len() as u64, MSG_DONTWAIT, 0, 0]);
    let n = match n {
        Err(e) if e == libc::EAGAIN => return None,
        r => r.unwrap() as usize,
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= n {
        let w = |o: usize| u32::from_ne_bytes(buf[at + o..at + o + 4].try_into().unwrap());
        let len = w(0) as usize;
        let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        let flags = u16::from_ne_bytes([buf[at + 6], buf[at + 7]]);
        out.push((kind, flags, w(8), w(12), buf[at + 16..at + len].to_vec()));
        at += (len + 3) & !3;
    }
    Some(out)
}

fn error_of(payload: &[u8]) -> i32 {
    i32::from_ne_bytes(payload[..4].try_into().unwrap())
}

/// RTM_NEWADDR for 10.0.0.1/24 on interface `index`.
fn new_addr(index: u32) -> Vec<u8> {
    let mut ifa = vec![libc::AF_INET as u8, 24, 0, 0];
    ifa.extend_from_slice(&index.to_ne_bytes());
    ifa.extend_from_slice(&attr(2, &[10, 0, 0, 1]));
    ifa
}

#[test]
fn only_route_and_sock_diag_exist() {
    let (_k, p) = boot();
    let r = sc(&p, libc::SYS_socket, &[libc::AF_NETLINK as u64, libc::SOCK_RAW as u64, NETLINK_GENERIC]);
    assert_eq!(r, Err(libc::EPROTONOSUPPORT));
    let r = sc(&p, libc::SYS_socket, &[libc::AF_NETLINK as u64, libc::SOCK_STREAM as u64, NETLINK_ROUTE]);
    assert_eq!(r, Err(libc::ESOCKTNOSUPPORT));
}

#[test]
fn a_dump_lists_the_links_and_ends_with_done() {
    let (_k, p) = boot();
    let fd = nl_socket(&p, 0);
    let pid = port_id(&p, fd);
    assert_ne!(pid, 0, "bind gave the socket a port id");
    send(&p, fd, &message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 7, &[0u8; 16]));
    let msgs = recv(&p, fd).expect("a reply");
    let (kind, flags, seq, to, payload) = &msgs[0];
    assert_eq!((*kind, *flags, *seq, *to), (RTM_NEWLINK, NLM_F_MULTI, 7, pid));
    assert_eq!(i32::from_ne_bytes(payload[4..8].try_into().unwrap()), 1, "lo0 is interface 1");
    assert!(payload.windows(4).any(|w| w == b"lo0\0"), "IFLA_IFNAME lo0");
    let last = msgs.last().unwrap();
    assert_eq!((last.0, last.1, last.2), (NLMSG_DONE, NLM_F_MULTI, 7));
    assert!(recv(&p, fd).is_none(), "nothing after NLMSG_DONE");
}

#[test]
fn errors_carry_linux_errnos_and_ext_ack_texts() {
    let (_k, p) = boot();
    let fd = nl_socket(&p, 0);
    let on: i32 = 1;
    sc(&p, libc::SYS_setsockopt, &[fd as u64, SOL_NETLINK, NETLINK_EXT_ACK, &on as *const i32 as u64, 4]).unwrap();
    let add = |seq| message(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, &new_addr(1));
    send(&p, fd, &add(1));
    let ack = &recv(&p, fd).unwrap()[0];
    assert_eq!((ack.0, ack.2, error_of(&ack.4)), (NLMSG_ERROR, 1, 0), "the first add is acked");
    send(&p, fd, &add(2));
    let err = &recv(&p, fd).unwrap()[0];
    assert_eq!((err.0, err.2, error_of(&err.4)), (NLMSG_ERROR, 2, -libc::EEXIST));
    assert_ne!(err.1 & NLM_F_ACK_TLVS, 0, "an extended-ack text follows");
    assert!(err.4.windows(30).any(|w| w == b"ipv4: Address already assigned"));
    // A type rtnetlink does not have.
    send(&p, fd, &message(0x7f, NLM_F_REQUEST | NLM_F_ACK, 3, &[0u8; 16]));
    assert_eq!(error_of(&recv(&p, fd).unwrap()[0].4), -libc::EOPNOTSUPP);
    // No interface 99.
    send(&p, fd, &message(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_CREATE, 4, &new_addr(99)));
    assert_eq!(error_of(&recv(&p, fd).unwrap()[0].4), -libc::ENODEV);
}

#[test]
fn malformed_requests_are_einval_or_ignored() {
    let (_k, p) = boot();
    let fd = nl_socket(&p, 0);
    // A payload shorter than struct ifaddrmsg: EINVAL, even unasked.
    send(&p, fd, &message(RTM_NEWADDR, NLM_F_REQUEST, 5, &[2, 24, 0]));
    let err = &recv(&p, fd).unwrap()[0];
    assert_eq!((err.0, err.2, error_of(&err.4)), (NLMSG_ERROR, 5, -libc::EINVAL));
    // An attribute whose length runs past the message.
    let mut bad = new_addr(1);
    bad[8] = 200;
    send(&p, fd, &message(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_CREATE, 6, &bad));
    assert_eq!(error_of(&recv(&p, fd).unwrap()[0].4), -libc::EINVAL);
    // A header that claims more than was sent, and bytes too few for a
    // header: Linux drops them without a word.
    let mut cut = message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 8, &[0u8; 16]);
    cut[0] = 250;
    send(&p, fd, &cut);
    send(&p, fd, &[1, 2, 3]);
    assert!(recv(&p, fd).is_none());
}

#[test]
fn a_listener_hears_another_sockets_change() {
    let (_k, p) = boot();
    let listener = nl_socket(&p, RTMGRP_IPV4_IFADDR);
    let fd = nl_socket(&p, 0);
    send(&p, fd, &message(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_CREATE, 9, &new_addr(1)));
    let heard = recv(&p, listener).expect("a notification");
    let (kind, _, seq, pid, payload) = &heard[0];
    assert_eq!((*kind, *seq, *pid), (RTM_NEWADDR, 0, 0), "from the kernel, unsolicited");
    assert_eq!((payload[0], payload[1]), (libc::AF_INET as u8, 24));
    assert!(recv(&p, fd).is_none(), "the changer asked for no ack");
}

#[test]
fn replies_make_the_socket_readable() {
    let (_k, p) = boot();
    let fd = nl_socket(&p, 0);
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let poll = |pfd: &mut libc::pollfd| sc(&p, libc::SYS_poll, &[pfd as *mut libc::pollfd as u64, 1, 0]).unwrap();
    assert_eq!(poll(&mut pfd), 0, "nothing to read yet");
    send(&p, fd, &message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, &[0u8; 16]));
    assert_eq!(poll(&mut pfd), 1);
    assert_ne!(pfd.revents & libc::POLLIN, 0);
}

/// busybox's `ip` asks as older programs do: a `write` on the socket,
/// and dumps whose header is only a `struct rtgenmsg` (the family, padded
/// to 4 bytes), which Linux accepts; the answer is the full dump.
#[test]
fn a_write_is_a_send_and_an_rtgenmsg_dump_is_accepted() {
    const RTM_GETADDR: u16 = 22;
    const RTM_GETROUTE: u16 = 26;
    let (_k, p) = boot();
    let fd = nl_socket(&p, 0);
    for (kind, seq) in [(RTM_GETADDR, 7), (RTM_GETROUTE, 8)] {
        let m = message(kind, NLM_F_REQUEST | NLM_F_DUMP, seq, &[libc::AF_INET as u8, 0, 0, 0]);
        let n = sc(&p, libc::SYS_write, &[fd as u64, m.as_ptr() as u64, m.len() as u64]).unwrap();
        assert_eq!(n as usize, m.len());
        let msgs = recv(&p, fd).expect("a reply");
        // The loopback's 127.0.0.1 (and its route), then DONE.
        assert!(msgs.len() >= 2, "{msgs:?}");
        assert!(msgs.iter().all(|m| m.2 == seq));
        assert_eq!(msgs.last().map(|m| m.0), Some(NLMSG_DONE), "{msgs:?}");
        assert_ne!(msgs[0].0, NLMSG_ERROR, "{msgs:?}");
    }
}
