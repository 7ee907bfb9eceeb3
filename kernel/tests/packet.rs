//! AF_PACKET sockets through Linux's calls: a frame on lo0 read with its
//! `struct sockaddr_ll`, classic BPF filters kept and refused, and the
//! TPACKET_V3 ring's checks and wake-ups.

mod support;

use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::vfs::mapping::MapKind;
use rump_kernel::{Config, Kernel, Process};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use support::{sc, sockaddr_in};

const ETH_P_IP: u16 = 0x0800;
const SOL_PACKET: u64 = 263;
const PACKET_VERSION: u64 = 10;
const PACKET_RX_RING: u64 = 5;
const SO_ATTACH_FILTER: u64 = 26;
const MSG_DONTWAIT: u64 = 0x40;

fn boot() -> (Kernel, Process) {
    let k = Kernel::boot(Config::default()).expect("boot");
    let p = k.spawn(Emulation::Linux, Cred::root(), "test").unwrap();
    (k, p)
}

/// A SOCK_DGRAM packet socket for IPv4 bound to lo0 (interface 1).
fn packet_socket(p: &Process) -> i32 {
    let proto = ETH_P_IP.to_be() as u64;
    let fd = sc(p, libc::SYS_socket, &[libc::AF_PACKET as u64, libc::SOCK_DGRAM as u64, proto]).unwrap() as i32;
    let mut ll = [0u8; 20];
    ll[..2].copy_from_slice(&(libc::AF_PACKET as u16).to_ne_bytes());
    ll[2..4].copy_from_slice(&ETH_P_IP.to_be_bytes());
    ll[4..8].copy_from_slice(&1i32.to_ne_bytes());
    sc(p, libc::SYS_bind, &[fd as u64, ll.as_ptr() as u64, 20]).unwrap();
    fd
}

fn send_udp(p: &Process, payload: &[u8]) {
    let u = sc(p, libc::SYS_socket, &[libc::AF_INET as u64, libc::SOCK_DGRAM as u64, 0]).unwrap();
    let to = sockaddr_in([127, 0, 0, 1], 9);
    sc(p, libc::SYS_sendto, &[u as u64, payload.as_ptr() as u64, payload.len() as u64, 0, &to as *const _ as u64, 16])
        .unwrap();
}

fn attach(p: &Process, fd: i32, insns: &[(u16, u8, u8, u32)]) -> Result<i64, i32> {
    let code: Vec<u8> = insns
        .iter()
        .flat_map(|&(c, t, f, k)| [c.to_ne_bytes().as_slice(), &[t, f], &k.to_ne_bytes()].concat())
        .collect();
    let mut prog = [0u8; 16];
    prog[..2].copy_from_slice(&(insns.len() as u16).to_ne_bytes());
    prog[8..].copy_from_slice(&(code.as_ptr() as u64).to_ne_bytes());
    sc(p, libc::SYS_setsockopt, &[fd as u64, libc::SOL_SOCKET as u64, SO_ATTACH_FILTER, prog.as_ptr() as u64, 16])
}

#[test]
fn a_loopback_packet_is_read_with_its_link_address() {
    let (_k, p) = boot();
    let fd = packet_socket(&p);
    send_udp(&p, b"hello");
    let mut buf = [0u8; 256];
    let mut from = [0u8; 20];
    let mut len: u32 = 20;
    let n = sc(
        &p,
        libc::SYS_recvfrom,
        &[fd as u64, buf.as_mut_ptr() as u64, 256, MSG_DONTWAIT, from.as_mut_ptr() as u64, &mut len as *mut u32 as u64],
    )
    .unwrap() as usize;
    assert_eq!(n, 20 + 8 + 5, "the IP datagram, without a link header (SOCK_DGRAM)");
    assert_eq!(buf[0] >> 4, 4);
    assert_eq!(&buf[28..33], b"hello");
    assert_eq!(u16::from_ne_bytes([from[0], from[1]]), libc::AF_PACKET as u16);
    assert_eq!(u16::from_be_bytes([from[2], from[3]]), ETH_P_IP);
    assert_eq!(i32::from_ne_bytes(from[4..8].try_into().unwrap()), 1, "lo0");
    assert_eq!(u16::from_ne_bytes([from[8], from[9]]), 772, "ARPHRD_LOOPBACK");
    assert_eq!(from[10], 0, "PACKET_HOST");
}

#[test]
fn a_filter_decides_what_is_kept() {
    let (_k, p) = boot();
    let fd = packet_socket(&p);
    // ldb [9] (the IP protocol); jeq #6 (TCP), keep, drop.
    attach(&p, fd, &[(0x30, 0, 0, 9), (0x15, 0, 1, 6), (0x06, 0, 0, 0xffff), (0x06, 0, 0, 0)]).unwrap();
    send_udp(&p, b"dropped");
    let mut buf = [0u8; 64];
    let r = sc(&p, libc::SYS_recvfrom, &[fd as u64, buf.as_mut_ptr() as u64, 64, MSG_DONTWAIT, 0, 0]);
    assert_eq!(r, Err(libc::EAGAIN), "UDP did not pass the filter");
    // A jump past the end, and a program without a return.
    assert_eq!(attach(&p, fd, &[(0x15, 3, 0, 6), (0x06, 0, 0, 0)]), Err(libc::EINVAL));
    assert_eq!(attach(&p, fd, &[(0x30, 0, 0, 9)]), Err(libc::EINVAL));
}

#[test]
fn rings_are_checked_as_linux_checks_them() {
    let (_k, p) = boot();
    let fd = packet_socket(&p);
    let ring =
        |req: [u32; 7]| sc(&p, libc::SYS_setsockopt, &[fd as u64, SOL_PACKET, PACKET_RX_RING, req.as_ptr() as u64, 28]);
    let good = [4096 * 4, 4, 2048, 8 * 4, 10, 0, 0];
    assert_eq!(ring(good), Err(libc::EINVAL), "TPACKET_V1 rings are not made");
    let v3: i32 = 2;
    sc(&p, libc::SYS_setsockopt, &[fd as u64, SOL_PACKET, PACKET_VERSION, &v3 as *const i32 as u64, 4]).unwrap();
    assert_eq!(ring([4000, 4, 2000, 8, 10, 0, 0]), Err(libc::EINVAL), "blocks not a multiple of the page");
    assert_eq!(ring([4096, 4, 2048, 9, 10, 0, 0]), Err(libc::EINVAL), "frame count does not match");
    assert_eq!(ring(good), Ok(0));
    assert_eq!(ring(good), Err(libc::EBUSY), "one ring a socket");
    let r = sc(&p, libc::SYS_setsockopt, &[fd as u64, SOL_PACKET, PACKET_VERSION, &v3 as *const i32 as u64, 4]);
    assert_eq!(r, Err(libc::EBUSY), "the version is fixed once there is a ring");
}

/// Each block the timer retires is a wake-up of its own, as Linux's
/// data-ready call per block: an edge-triggered epoll waiter hears of the
/// second block while it still holds the first (the poll mask did not
/// change, so a look at the mask alone missed it), and a level-triggered
/// poll hears of a block after the process handed the last one back by
/// writing its status word in the shared ring, no call the kernel sees.
#[test]
fn every_retired_block_wakes_a_waiter() {
    const BLOCK: usize = 4096;
    const BLOCK_STATUS: usize = 8;
    let (_k, p) = boot();
    let fd = packet_socket(&p);
    let v3: i32 = 2;
    sc(&p, libc::SYS_setsockopt, &[fd as u64, SOL_PACKET, PACKET_VERSION, &v3 as *const i32 as u64, 4]).unwrap();
    // 4 blocks, retired 10 ms after their first frame.
    let req: [u32; 7] = [BLOCK as u32, 4, 2048, 8, 10, 0, 0];
    sc(&p, libc::SYS_setsockopt, &[fd as u64, SOL_PACKET, PACKET_RX_RING, req.as_ptr() as u64, 28]).unwrap();
    let mem = p.mappable_fd(fd, MapKind::Shared).unwrap().expect("the ring's memory");
    // SAFETY: a shared mapping of the ring's 4 blocks, unmapped below.
    let ring = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4 * BLOCK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            mem.as_raw_fd(),
            0,
        )
    };
    assert_ne!(ring, libc::MAP_FAILED);
    let status = |block: usize| {
        // SAFETY: a block's status word, inside the mapping.
        unsafe { &*(ring.cast::<u8>().add(block * BLOCK + BLOCK_STATUS) as *const std::sync::atomic::AtomicU32) }
    };
    let ep = sc(&p, libc::SYS_epoll_create1, &[0]).unwrap();
    let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: 7 };
    sc(&p, libc::SYS_epoll_ctl, &[ep as u64, libc::EPOLL_CTL_ADD as u64, fd as u64, &mut ev as *mut _ as u64]).unwrap();
    for block in 0..3 {
        send_udp(&p, b"x");
        let mut out = [libc::epoll_event { events: 0, u64: 0 }; 1];
        let n = sc(&p, libc::SYS_epoll_wait, &[ep as u64, out.as_mut_ptr() as u64, 1, 2000]).unwrap();
        assert_eq!(n, 1, "block {block}: an edge-triggered epoll_wait woke for it");
        assert_eq!(status(block).load(Ordering::Acquire) & 1, 1, "block {block} is the process's");
    }
    for round in 3..8 {
        (0..4).for_each(|b| status(b).store(0, Ordering::Release));
        send_udp(&p, b"x");
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        let n = sc(&p, libc::SYS_poll, &[&mut pfd as *mut libc::pollfd as u64, 1, 2000]).unwrap();
        assert_eq!(n, 1, "round {round}: poll woke for the retired block");
    }
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(ring, 4 * BLOCK) };
}
