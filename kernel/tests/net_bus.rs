//! Two kernels on one shmif bus file: interfaces made and attached with
//! NetBSD's ioctls, ARP resolution, a UDP exchange, ICMP echo through a
//! raw socket, and a TCP transfer, all between separate kernels.

mod support;

use rump_abi::native::sys::{rump_sys_ioctl, rump_sys_socket};
use rump_kernel::cred::Cred;
use rump_kernel::net::iface::{IfAddr, IFF_UP};
use rump_kernel::net::shmif::Bus;
use rump_kernel::proc::Emulation;
use rump_kernel::syscalls::ifconfig::{SIOCIFCREATE, SIOCSLINKSTR};
use rump_kernel::sysctl::Value;
use rump_kernel::{Config, Kernel, Process};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use support::{inet_sum as checksum, sc, sockaddr_in as sin};

/// A kernel with shmif0 on `bus` holding 10.0.0.`host`/24, up.
fn host(bus: &Path, host: u8) -> (Kernel, Arc<Process>) {
    let k = Kernel::boot(Config::default()).unwrap();
    attach(&k, "shmif0", bus, [10, 0, 0, host]);
    let p = Arc::new(k.spawn(Emulation::Linux, Cred::root(), "test").unwrap());
    (k, p)
}

/// Makes interface `name` of kernel `k`, attached to `bus` with NetBSD's
/// ioctls, holding `addr`/24, up.
fn attach(k: &Kernel, name: &str, bus: &Path, addr: [u8; 4]) {
    let native = k.spawn(Emulation::Native, Cred::root(), "ifconfig").unwrap();
    let s = rump_sys_socket(&native, 2, 2, 0).unwrap();
    let mut ifr = [0u8; 144];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    rump_sys_ioctl(&native, s, SIOCIFCREATE as _, ifr.as_mut_ptr().cast()).unwrap();
    let path = std::ffi::CString::new(bus.as_os_str().as_encoded_bytes()).unwrap();
    let mut drv = [0u8; 40];
    drv[..name.len()].copy_from_slice(name.as_bytes());
    drv[24..32].copy_from_slice(&(path.as_bytes_with_nul().len() as u64).to_ne_bytes());
    drv[32..40].copy_from_slice(&(path.as_ptr() as u64).to_ne_bytes());
    rump_sys_ioctl(&native, s, SIOCSLINKSTR as _, drv.as_mut_ptr().cast()).unwrap();
    k.with_state(|st| {
        let i = st.net.ifaces.index_of(name).unwrap();
        st.net.add_addr(i, IfAddr::new(IpAddr::V4(Ipv4Addr::from(addr)), 24)).unwrap();
        st.net.set_flags(i, IFF_UP).unwrap();
    });
}

#[test]
fn udp_tcp_and_echo_between_two_kernels() {
    let dir = tempdir();
    let bus = dir.join("bus1");
    let (_ka, a) = host(&bus, 1);
    let (_kb, b) = host(&bus, 2);

    // UDP: B hears A's datagram, from A's address.
    assert_eq!(udp_a_to_b(&a, &b, 7000, b"ping"), [10, 0, 0, 1]);

    // ICMP echo through a raw socket: the reply comes with its IP header.
    let mut buf = [0u8; 64];
    let r = sc(&a, libc::SYS_socket, &[2, 3, 1]).unwrap();
    let mut echo = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1, b'x', b'y'];
    let sum = !checksum(&echo);
    echo[2..4].copy_from_slice(&sum.to_be_bytes());
    let dst = sin([10, 0, 0, 2], 0);
    sc(&a, libc::SYS_sendto, &[r as u64, echo.as_ptr() as u64, echo.len() as u64, 0, &dst as *const _ as u64, 16])
        .unwrap();
    let n = sc(&a, libc::SYS_recvfrom, &[r as u64, buf.as_mut_ptr() as u64, 64, 0, 0, 0]).unwrap() as usize;
    assert_eq!(n, 20 + echo.len());
    assert_eq!(buf[20], 0, "echo reply");
    assert_eq!(&buf[24..26], &[0x12, 0x34]);
    assert_eq!(&buf[12..16], &[10, 0, 0, 2]);

    // TCP: 4 MiB from A to B.
    let l = sc(&b, libc::SYS_socket, &[2, 1, 0]).unwrap();
    let lb = sin([0, 0, 0, 0], 8080);
    sc(&b, libc::SYS_bind, &[l as u64, &lb as *const _ as u64, 16]).unwrap();
    sc(&b, libc::SYS_listen, &[l as u64, 8]).unwrap();
    let data: Vec<u8> = (0..4u32 << 20).map(|i| (i % 253) as u8).collect();
    let (a2, d2) = (a.clone(), data.clone());
    let sender = std::thread::spawn(move || {
        let c = sc(&a2, libc::SYS_socket, &[2, 1, 0]).unwrap();
        let to = sin([10, 0, 0, 2], 8080);
        sc(&a2, libc::SYS_connect, &[c as u64, &to as *const _ as u64, 16]).unwrap();
        let mut off = 0;
        while off < d2.len() {
            off += sc(&a2, libc::SYS_write, &[c as u64, d2[off..].as_ptr() as u64, (d2.len() - off) as u64]).unwrap()
                as usize;
        }
        sc(&a2, libc::SYS_close, &[c as u64]).unwrap();
    });
    let s = sc(&b, libc::SYS_accept, &[l as u64, 0, 0]).unwrap();
    let mut got = Vec::new();
    let mut rb = vec![0u8; 65536];
    loop {
        let n = sc(&b, libc::SYS_read, &[s as u64, rb.as_mut_ptr() as u64, rb.len() as u64]).unwrap() as usize;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&rb[..n]);
    }
    sender.join().unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data);
}

/// Sends `msg` from `a` to 10.0.0.2:`port`, where `b` receives it whole;
/// returns the source address `b` saw.
fn udp_a_to_b(a: &Process, b: &Process, port: u16, msg: &[u8]) -> [u8; 4] {
    let ub = sc(b, libc::SYS_socket, &[2, 2, 0]).unwrap();
    let bb = sin([0, 0, 0, 0], port);
    sc(b, libc::SYS_bind, &[ub as u64, &bb as *const _ as u64, 16]).unwrap();
    let ua = sc(a, libc::SYS_socket, &[2, 2, 0]).unwrap();
    let to = sin([10, 0, 0, 2], port);
    let len = msg.len() as u64;
    assert_eq!(
        sc(a, libc::SYS_sendto, &[ua as u64, msg.as_ptr() as u64, len, 0, &to as *const _ as u64, 16]),
        Ok(len as i64)
    );
    let mut buf = [0u8; 64];
    let mut from = sin([0; 4], 0);
    let mut flen = 16u32;
    let args = [ub as u64, buf.as_mut_ptr() as u64, 64, 0, &mut from as *mut _ as u64, &mut flen as *mut _ as u64];
    assert_eq!(sc(b, libc::SYS_recvfrom, &args), Ok(len as i64));
    assert_eq!(&buf[..msg.len()], msg);
    from.sin_addr.s_addr.to_ne_bytes()
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rump-net-bus-{}-{:?}", std::process::id(), std::thread::current().id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Frames nobody should send — truncated or lying IP headers, bad
/// checksums, runt ARP, random bytes — put straight on the bus by a third
/// writer: the kernels count and drop them, and still talk to each other.
#[test]
fn malformed_frames_on_the_bus_hurt_nobody() {
    use rump_kernel::net::shmif::Bus;
    let dir = tempdir();
    let bus = dir.join("bus1");
    let (ka, a) = host(&bus, 1);
    let (_kb, b) = host(&bus, 2);
    let mac_b = _kb.with_state(|st| st.net.ifaces.by_name("shmif0").unwrap().mac);
    let evil = Bus::open(&bus).unwrap();
    let eth = |ethertype: u16, payload: &[u8]| {
        let mut f = mac_b.to_vec();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9]);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    };
    let mut good_v4 = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 9, 10, 0, 0, 2];
    let sum = !checksum(&good_v4);
    good_v4[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut lying = good_v4.clone();
    lying[2..4].copy_from_slice(&1500u16.to_be_bytes());
    let mut bad_ihl = good_v4.clone();
    bad_ihl[0] = 0x4f;
    let frames: Vec<Vec<u8>> = vec![
        eth(0x0800, &good_v4[..10]),
        eth(0x0800, &lying),
        eth(0x0800, &bad_ihl),
        eth(
            0x0800,
            &[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0xde, 0xad, 10, 0, 0, 9, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        eth(0x0806, &[0, 1, 8, 0, 6]),
        eth(0x86dd, &[0x60, 0, 0, 0, 0xff, 0xff, 58, 255]),
        vec![0xff; 13],
        (0..1514u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect(),
    ];
    for f in &frames {
        evil.send(0xbad, f, 0, 0).unwrap();
    }
    // Both kernels still answer each other.
    assert_eq!(udp_a_to_b(&a, &b, 7001, b"still"), [10, 0, 0, 1]);
    let errors = _kb.with_state(|st| st.net.stats.ip_in_hdr_errors);
    assert!(errors >= 4, "the bad headers were counted ({errors})");
    assert!(!ka.is_halted());
}

/// Sends datagrams from `a` to 10.0.0.2:`port` on `b` until one arrives
/// (3 s at most): true if one did.
fn udp_gets_through(a: &Process, b: &Process, port: u16) -> bool {
    let ub = sc(b, libc::SYS_socket, &[2, 2, 0]).unwrap();
    let bb = sin([0, 0, 0, 0], port);
    sc(b, libc::SYS_bind, &[ub as u64, &bb as *const _ as u64, 16]).unwrap();
    let ua = sc(a, libc::SYS_socket, &[2, 2, 0]).unwrap();
    let to = sin([10, 0, 0, 2], port);
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(3) {
        let _ = sc(a, libc::SYS_sendto, &[ua as u64, b"hi".as_ptr() as u64, 2, 0, &to as *const _ as u64, 16]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut buf = [0u8; 8];
        let args = [ub as u64, buf.as_mut_ptr() as u64, 8, libc::MSG_DONTWAIT as u64, 0, 0];
        if sc(b, libc::SYS_recvfrom, &args) == Ok(2) {
            return true;
        }
    }
    false
}

/// `truncate -s 0` of the bus under two kernels: nobody dies, the
/// breakage shows in the interfaces' error counters, and traffic resumes
/// on the emptied file without a restart.
#[test]
fn a_truncated_bus_is_survived_counted_and_recovered_from() {
    let dir = tempdir();
    let bus = dir.join("bus1");
    let (ka, a) = host(&bus, 1);
    let (kb, b) = host(&bus, 2);
    assert!(udp_gets_through(&a, &b, 7101));
    std::fs::OpenOptions::new().write(true).open(&bus).unwrap().set_len(0).unwrap();
    assert!(udp_gets_through(&a, &b, 7102), "traffic resumed");
    let errors = |k: &Kernel| {
        k.with_state(|st| {
            let c = &st.net.ifaces.by_name("shmif0").unwrap().counters;
            c.rx_errors + c.tx_errors
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(errors(&ka) + errors(&kb) >= 1, "the breakage was counted");
    assert!(!ka.is_halted() && !kb.is_halted());
}

/// `struct tcp_info`'s tcpi_total_retrans and tcpi_bytes_acked of TCP
/// socket `fd`.
fn retrans_and_acked(p: &Process, fd: i64) -> (u32, u64) {
    let mut info = [0u8; 160];
    let mut len = info.len() as u32;
    let args = [fd as u64, 6, 11, info.as_mut_ptr() as u64, &mut len as *mut u32 as u64];
    sc(p, libc::SYS_getsockopt, &args).unwrap();
    assert_eq!(len, 160);
    (u32::from_ne_bytes(info[100..104].try_into().unwrap()), u64::from_ne_bytes(info[120..128].try_into().unwrap()))
}

/// Overruns of shmif0's bus reader in `k`.
fn overruns(k: &Kernel) -> u64 {
    k.with_state(|st| st.net.ifaces.by_name("shmif0").unwrap().counters.rx_overruns)
}

#[test]
fn a_clean_bus_moves_100_mib_of_tcp_without_a_retransmission() {
    const TOTAL: usize = 100 << 20;
    let dir = tempdir();
    let bus = dir.join("bus1");
    let (ka, a) = host(&bus, 1);
    let (kb, b) = host(&bus, 2);
    let l = sc(&b, libc::SYS_socket, &[2, 1, 0]).unwrap();
    let lb = sin([0, 0, 0, 0], 8081);
    sc(&b, libc::SYS_bind, &[l as u64, &lb as *const _ as u64, 16]).unwrap();
    sc(&b, libc::SYS_listen, &[l as u64, 8]).unwrap();
    let c = sc(&a, libc::SYS_socket, &[2, 1, 0]).unwrap();
    let to = sin([10, 0, 0, 2], 8081);
    sc(&a, libc::SYS_connect, &[c as u64, &to as *const _ as u64, 16]).unwrap();
    let a2 = a.clone();
    let sender = std::thread::spawn(move || {
        let chunk = vec![0x5au8; 256 << 10];
        let mut sent = 0;
        while sent < TOTAL {
            let n = (TOTAL - sent).min(chunk.len());
            sent += sc(&a2, libc::SYS_write, &[c as u64, chunk.as_ptr() as u64, n as u64]).unwrap() as usize;
        }
    });
    let s = sc(&b, libc::SYS_accept, &[l as u64, 0, 0]).unwrap();
    let mut rb = vec![0u8; 256 << 10];
    let mut got = 0;
    while got < TOTAL {
        let n = sc(&b, libc::SYS_read, &[s as u64, rb.as_mut_ptr() as u64, rb.len() as u64]).unwrap() as usize;
        assert!(n > 0, "the stream ended after {got} bytes");
        got += n;
    }
    sender.join().unwrap();
    // The last ACKs may still be on their way back.
    let mut stats = retrans_and_acked(&a, c);
    for _ in 0..200 {
        if stats.1 >= TOTAL as u64 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        stats = retrans_and_acked(&a, c);
    }
    // The receiver never shrinks its window (`net::rcvwnd`) and the bus
    // loses nothing, so nothing is sent twice, except by a timeout when a
    // test machine stalls this process past the 200 ms RTO (the host's
    // doing, not a loss): those are counted apart and forgiven.
    let mut local = sin([0; 4], 0);
    let mut len = 16u32;
    sc(&a, libc::SYS_getsockname, &[c as u64, &mut local as *mut _ as u64, &mut len as *mut u32 as u64]).unwrap();
    let ends = (
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), u16::from_be(local.sin_port)),
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 8081),
    );
    let timeouts = ka.with_state(|st| st.net.recovery.stats(ends.0, ends.1).unwrap().timeouts);
    assert_eq!(
        (stats.0 as u64 - timeouts.min(stats.0 as u64), stats.1, overruns(&ka), overruns(&kb)),
        (0, TOTAL as u64, 0, 0),
        "(retransmissions but timeouts ({timeouts}), bytes acknowledged, overruns)"
    );
}

/// The sender is paced by the receiver: it never has more than `AHEAD`
/// datagrams unread, well inside the receive buffer (64 of 1000 bytes are
/// 147 KiB of truesize in a 208 KiB buffer), so that any loss is
/// the path's (bus, reader, stack) and not a full socket's, which Linux
/// drops too.
#[test]
fn a_clean_bus_loses_none_of_100000_paced_udp_datagrams() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const COUNT: usize = 100_000;
    const AHEAD: usize = 64;
    let read = Arc::new(AtomicUsize::new(0));
    let dir = tempdir();
    let bus = dir.join("bus1");
    let (ka, a) = host(&bus, 1);
    let (kb, b) = host(&bus, 2);
    let ub = sc(&b, libc::SYS_socket, &[2, 2, 0]).unwrap();
    let bb = sin([0, 0, 0, 0], 7001);
    sc(&b, libc::SYS_bind, &[ub as u64, &bb as *const _ as u64, 16]).unwrap();
    let (b2, read2) = (b.clone(), read.clone());
    let receiver = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut next = 0u32;
        let mut in_order = true;
        // SO_RCVTIMEO of 2 s ends the count if datagrams stop coming.
        let tv = [2i64, 0];
        sc(&b2, libc::SYS_setsockopt, &[ub as u64, 1, 20, tv.as_ptr() as u64, 16]).unwrap();
        while (next as usize) < COUNT {
            let Ok(n) = sc(&b2, libc::SYS_recvfrom, &[ub as u64, buf.as_mut_ptr() as u64, 2048, 0, 0, 0]) else {
                break;
            };
            assert_eq!(n, 1000);
            in_order &= u32::from_ne_bytes(buf[..4].try_into().unwrap()) == next;
            next += 1;
            read2.store(next as usize, Ordering::Release);
        }
        (next as usize, in_order)
    });
    let ua = sc(&a, libc::SYS_socket, &[2, 2, 0]).unwrap();
    let to = sin([10, 0, 0, 2], 7001);
    let mut msg = [0u8; 1000];
    for i in 0..COUNT {
        while i - read.load(Ordering::Acquire) >= AHEAD && !receiver.is_finished() {
            std::thread::yield_now();
        }
        msg[..4].copy_from_slice(&(i as u32).to_ne_bytes());
        let args = [ua as u64, msg.as_ptr() as u64, 1000, 0, &to as *const _ as u64, 16];
        assert_eq!(sc(&a, libc::SYS_sendto, &args), Ok(1000));
    }
    let got = receiver.join().unwrap();
    let in_errors = kb.with_state(|st| st.net.stats.udp_in_errors);
    assert_eq!(
        (got, overruns(&ka), overruns(&kb), in_errors),
        ((COUNT, true), 0, 0, 0),
        "((datagrams received, in order), overruns, UDP input errors)"
    );
}

/// A link slower than its sender: A's shmif0 sends at 20 Mbit/s
/// (netem's rate). Datagrams waiting for the link count against the
/// sender's send buffer, so a non-blocking sender meets EAGAIN once it
/// holds a buffer's worth, and a blocking one is held to the link's
/// pace; nothing is dropped on the way, as on Linux.
#[test]
fn a_slow_link_holds_udp_senders_back_instead_of_dropping() {
    use rump_kernel::net::netem::{Netem, Spec, DEFAULT_LIMIT};
    const COUNT: usize = 1000;
    let dir = tempdir();
    let bus = dir.join("bus1");
    let (ka, a) = host(&bus, 1);
    let (kb, b) = host(&bus, 2);
    // ARP first, so that nothing waits for it below.
    assert_eq!(udp_a_to_b(&a, &b, 7002, b"hello"), [10, 0, 0, 1]);
    ka.with_state(|st| {
        let i = st.net.ifaces.index_of("shmif0").unwrap();
        let spec = Spec { rate_bps: 20_000_000, limit: DEFAULT_LIMIT, ..Spec::default() };
        st.net.ifaces.get_mut(i).unwrap().netem = Some(Netem::new(spec));
    });
    let ub = sc(&b, libc::SYS_socket, &[2, 2, 0]).unwrap();
    let bb = sin([0, 0, 0, 0], 7003);
    sc(&b, libc::SYS_bind, &[ub as u64, &bb as *const _ as u64, 16]).unwrap();
    let b2 = b.clone();
    let receiver = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let tv = [2i64, 0];
        sc(&b2, libc::SYS_setsockopt, &[ub as u64, 1, 20, tv.as_ptr() as u64, 16]).unwrap();
        (0..COUNT + 1)
            .take_while(|_| sc(&b2, libc::SYS_recvfrom, &[ub as u64, buf.as_mut_ptr() as u64, 2048, 0, 0, 0]).is_ok())
            .count()
    });
    let ua = sc(&a, libc::SYS_socket, &[2, 2, 0]).unwrap();
    let to = sin([10, 0, 0, 2], 7003);
    let msg = [7u8; 1000];
    let send = |flags: u64| {
        sc(&a, libc::SYS_sendto, &[ua as u64, msg.as_ptr() as u64, 1000, flags, &to as *const _ as u64, 16])
    };
    // MSG_DONTWAIT: a send buffer's worth goes, then EAGAIN.
    let mut queued = 0;
    while send(libc::MSG_DONTWAIT as u64).is_ok() {
        queued += 1;
        assert!(queued < COUNT, "the send buffer never filled");
    }
    assert_eq!(send(libc::MSG_DONTWAIT as u64), Err(libc::EAGAIN));
    assert!(queued > 100, "only {queued} datagrams fit a 208 KiB send buffer");
    // Blocking sends wait for the link.
    let start = std::time::Instant::now();
    for _ in queued..COUNT {
        assert_eq!(send(0), Ok(1000));
    }
    let took = start.elapsed();
    assert_eq!(receiver.join().unwrap(), COUNT, "datagrams received");
    // What was sent blocking took the link at least its wire time.
    let wire = std::time::Duration::from_micros(((COUNT - queued) * 1042 * 8 / 20) as u64);
    assert!(took * 10 >= wire * 9, "{} datagrams in {took:?}, the link needs {wire:?}", COUNT - queued);
    let dropped = ka.with_state(|st| st.net.ifaces.by_name("shmif0").unwrap().counters.tx_dropped);
    let in_errors = kb.with_state(|st| st.net.stats.udp_in_errors);
    assert_eq!((dropped, in_errors), (0, 0), "(dropped at A's queue, UDP input errors at B)");
}

/// An Ethernet frame to `mac` holding a UDP datagram from 10.0.0.9 to
/// 10.0.1.2:7000 whose IPv4 header carries 4 bytes of options (three
/// NOPs and an end), with time to live `ttl` and the one byte `n`.
fn datagram_with_options(mac: [u8; 6], ttl: u8, n: u8) -> Vec<u8> {
    let mut ip = vec![0x46, 0, 0, 33, 0, n, 0, 0, ttl, 17, 0, 0, 10, 0, 0, 9, 10, 0, 1, 2, 1, 1, 1, 0];
    let sum = !checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let udp = [0x1f, 0x40, 0x1b, 0x58, 0, 9, 0, 0, n];
    let mut frame = mac.to_vec();
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 9, 0x08, 0x00]);
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&udp);
    frame
}

/// A router between two buses: datagrams put on the first by a third
/// writer reach a kernel on the second with their IP options, one hop
/// less to live and a right header checksum, both the one that waited for
/// ARP and the one that went straight on; the router counts them.
#[test]
fn a_router_forwards_datagrams_with_their_options_and_one_hop_less() {
    let dir = tempdir();
    let (bus1, bus2) = (dir.join("bus1"), dir.join("bus2"));
    let router = Kernel::boot(Config::default()).unwrap();
    attach(&router, "shmif0", &bus1, [10, 0, 0, 254]);
    attach(&router, "shmif1", &bus2, [10, 0, 1, 254]);
    router.sysctl_set("net.inet.ip.forwarding", Value::Int(1)).unwrap();
    let kb = Kernel::boot(Config::default()).unwrap();
    attach(&kb, "shmif0", &bus2, [10, 0, 1, 2]);
    let b = kb.spawn(Emulation::Linux, Cred::root(), "test").unwrap();
    let ub = sc(&b, libc::SYS_socket, &[2, 2, 0]).unwrap() as u64;
    let bb = sin([0, 0, 0, 0], 7000);
    sc(&b, libc::SYS_bind, &[ub, &bb as *const _ as u64, 16]).unwrap();
    // A datagram the router lost fails the test instead of hanging it.
    let patience = libc::timeval { tv_sec: 10, tv_usec: 0 };
    sc(&b, libc::SYS_setsockopt, &[ub, 1, libc::SO_RCVTIMEO as u64, &patience as *const _ as u64, 16]).unwrap();

    let mac = router.with_state(|st| st.net.ifaces.by_name("shmif0").unwrap().mac);
    let wire = Bus::open(&bus1).unwrap();
    for n in [1u8, 2] {
        wire.send(0x5eed, &datagram_with_options(mac, 9, n), 0, 0).unwrap();
        let mut got = [0u8; 8];
        assert_eq!(sc(&b, libc::SYS_recvfrom, &[ub, got.as_mut_ptr() as u64, 8, 0, 0, 0]), Ok(1));
        assert_eq!(got[0], n);
    }

    let seen = Bus::open(&bus2).unwrap();
    let mut r = seen.reader_from_start();
    let forwarded: Vec<Vec<u8>> = std::iter::from_fn(|| r.next(&seen))
        .map(|f| f.data)
        .filter(|f| f.len() > 23 && f[12..14] == [8, 0] && f[14 + 9] == 17)
        .collect();
    assert_eq!(forwarded.len(), 2);
    for (f, n) in forwarded.iter().zip([1u8, 2]) {
        let ip = &f[14..];
        assert_eq!((ip[0], ip[5], ip[8]), (0x46, n, 8), "header length, ident, TTL");
        assert_eq!(&ip[20..24], &[1, 1, 1, 0], "the options");
        assert_eq!(checksum(&ip[..24]), 0xffff, "the header checksum");
        assert_eq!(&ip[24..], &datagram_with_options(mac, 9, n)[14 + 24..], "the datagram");
    }
    assert_eq!(router.with_state(|st| st.net.stats.ip_forw_datagrams), 2);
}

/// Five kernels in a line, each pair joined by its own bus, the inner
/// three routing, all booted with one bus thread (as a `rump_server`
/// serving several nodes boots them): a datagram goes from one end to
/// the other and its answer comes back, each hop handed on by that one
/// thread.
#[test]
fn kernels_sharing_a_bus_thread_forward_along_a_chain() {
    use rump_kernel::net::route::Route;
    use rump_kernel::net::softnet::BusThread;
    let dir = tempdir();
    let bus = |i: usize| dir.join(format!("c{i}"));
    let shared = BusThread::default();
    let boot = || Kernel::boot(Config { bus_thread: shared.clone(), ..Config::default() }).unwrap();
    let route = |k: &Kernel, dst: [u8; 4], prefix: u8, via: [u8; 4]| {
        k.with_state(|st| {
            let iface = st.net.ifaces.index_of("shmif0").unwrap();
            let gateway = Some(IpAddr::V4(Ipv4Addr::from(via)));
            let dst = IpAddr::V4(Ipv4Addr::from(dst));
            st.net.routes.add(Route { dst, prefix, gateway, iface, metric: 0, connected: false }).unwrap();
        })
    };
    let first = boot();
    attach(&first, "shmif0", &bus(0), [10, 0, 0, 1]);
    route(&first, [0; 4], 0, [10, 0, 0, 2]);
    let routers: Vec<Kernel> = (1..4u8)
        .map(|i| {
            let k = boot();
            attach(&k, "shmif0", &bus(i as usize - 1), [10, 0, i - 1, 2]);
            attach(&k, "shmif1", &bus(i as usize), [10, 0, i, 1]);
            k.sysctl_set("net.inet.ip.forwarding", Value::Int(1)).unwrap();
            route(&k, [0; 4], 0, [10, 0, i - 1, 1]);
            k.with_state(|st| {
                let iface = st.net.ifaces.index_of("shmif1").unwrap();
                let gateway = Some(IpAddr::V4(Ipv4Addr::new(10, 0, i, 2)));
                let dst = IpAddr::V4(Ipv4Addr::new(10, 0, 3, 0));
                let r = Route { dst, prefix: 24, gateway, iface, metric: 0, connected: false };
                // The last router reaches 10.0.3.0/24 directly.
                if i < 3 {
                    st.net.routes.add(r).unwrap();
                }
            });
            k
        })
        .collect();
    let last = boot();
    attach(&last, "shmif0", &bus(3), [10, 0, 3, 2]);
    route(&last, [0; 4], 0, [10, 0, 3, 1]);

    let a = first.spawn(Emulation::Linux, Cred::root(), "test").unwrap();
    let b = last.spawn(Emulation::Linux, Cred::root(), "test").unwrap();
    let patience = libc::timeval { tv_sec: 10, tv_usec: 0 };
    let socket = |p: &Process, port: u16| {
        let s = sc(p, libc::SYS_socket, &[2, 2, 0]).unwrap() as u64;
        let at = sin([0, 0, 0, 0], port);
        sc(p, libc::SYS_bind, &[s, &at as *const _ as u64, 16]).unwrap();
        sc(p, libc::SYS_setsockopt, &[s, 1, libc::SO_RCVTIMEO as u64, &patience as *const _ as u64, 16]).unwrap();
        s
    };
    let (ua, ub) = (socket(&a, 7001), socket(&b, 7002));
    let to_b = sin([10, 0, 3, 2], 7002);
    sc(&a, libc::SYS_sendto, &[ua, b"there".as_ptr() as u64, 5, 0, &to_b as *const _ as u64, 16]).unwrap();
    let mut buf = [0u8; 16];
    let mut from = sin([0; 4], 0);
    let mut flen = 16u32;
    let args = [ub, buf.as_mut_ptr() as u64, 16, 0, &mut from as *mut _ as u64, &mut flen as *mut _ as u64];
    assert_eq!(sc(&b, libc::SYS_recvfrom, &args), Ok(5), "the datagram crossed three routers");
    assert_eq!(&buf[..5], b"there");
    assert_eq!(from.sin_addr.s_addr.to_ne_bytes(), [10, 0, 0, 1]);
    sc(&b, libc::SYS_sendto, &[ub, b"back".as_ptr() as u64, 4, 0, &from as *const _ as u64, 16]).unwrap();
    assert_eq!(sc(&a, libc::SYS_recvfrom, &[ua, buf.as_mut_ptr() as u64, 16, 0, 0, 0]), Ok(4), "and the answer back");
    assert_eq!(&buf[..4], b"back");
    for r in &routers {
        assert_eq!(r.with_state(|st| st.net.stats.ip_forw_datagrams), 2, "each router forwarded both");
    }
}

/// Kernels sharing a bus thread (the nodes of one `rump_server`): a
/// datagram one sends to another is in its receiver's socket by the time
/// the send returns, handed over by the sending thread itself rather
/// than left for the bus thread to wake up to.
#[test]
fn a_send_between_kernels_sharing_a_bus_thread_is_delivered_by_the_sender() {
    use rump_kernel::net::softnet::BusThread;
    let dir = tempdir();
    let bus = dir.join("rtc");
    let shared = BusThread::default();
    let boot = || Kernel::boot(Config { bus_thread: shared.clone(), ..Config::default() }).unwrap();
    let (ka, kb) = (boot(), boot());
    attach(&ka, "shmif0", &bus, [10, 0, 0, 1]);
    attach(&kb, "shmif0", &bus, [10, 0, 0, 2]);
    let a = ka.spawn(Emulation::Linux, Cred::root(), "test").unwrap();
    let b = kb.spawn(Emulation::Linux, Cred::root(), "test").unwrap();
    // The first datagram also resolves B's address; it may take a while.
    assert_eq!(udp_a_to_b(&a, &b, 7100, b"warm"), [10, 0, 0, 1]);
    let sa = sc(&a, libc::SYS_socket, &[2, 2, 0]).unwrap() as u64;
    let sb = sc(&b, libc::SYS_socket, &[2, 2, 0]).unwrap() as u64;
    let at = sin([0; 4], 7101);
    sc(&b, libc::SYS_bind, &[sb, &at as *const _ as u64, 16]).unwrap();
    let to_b = sin([10, 0, 0, 2], 7101);
    for i in 0..50u8 {
        sc(&a, libc::SYS_sendto, &[sa, [i].as_ptr() as u64, 1, 0, &to_b as *const _ as u64, 16]).unwrap();
        let mut got = [0u8; 4];
        let args = [sb, got.as_mut_ptr() as u64, 4, libc::MSG_DONTWAIT as u64, 0, 0];
        assert_eq!(sc(&b, libc::SYS_recvfrom, &args), Ok(1), "datagram {i} waits in B as the send returns");
        assert_eq!(got[0], i);
    }
}
