//! Network figures, each beside the host doing the same in the same run:
//! TCP bulk throughput between two kernels over a shmif bus and inside one
//! kernel over lo0, next to host TCP over loopback; UDP round trips
//! between two kernels on a bus next to a host UDP round trip over
//! loopback; ICMP echo round trips on a bus. Kernels are in-process; the
//! calls are Linux's, as the hijack library makes them.
//! Run with `cargo bench -p rump-tools --bench net` (or scripts/bench.sh).

use rump_abi::Syscall;
use rump_kernel::cred::Cred;
use rump_kernel::net::iface::{IfAddr, IFF_UP};
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use rump_tools::ifconfig;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

const BULK: usize = 256 << 20;
const ROUNDS: usize = 3;
const PINGS: usize = 2000;

fn sc(p: &Process, num: i64, a: &[u64]) -> i64 {
    let mut s = [0u64; 8];
    s[..a.len()].copy_from_slice(a);
    p.syscall(num as u32, &s).unwrap_or_else(|e| panic!("syscall {num}: errno {}", e.0))
}

fn sin(a: [u8; 4], port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a) },
        sin_zero: [0; 8],
    }
}

/// A kernel whose shmif0 sits on `bus` with 10.0.0.`host`/24, up.
fn node(bus: &std::path::Path, host: u8) -> (Kernel, Arc<Process>) {
    let k = Kernel::boot(Config::default()).unwrap();
    let native = k.spawn(Emulation::Native, Cred::root(), "ifconfig").unwrap();
    let words: Vec<String> =
        ["shmif0", "create", "linkstr"].iter().map(|s| s.to_string()).chain([bus.display().to_string()]).collect();
    let (name, ops) = ifconfig::parse(&words).unwrap();
    ifconfig::apply(&native, &name, &ops).unwrap();
    k.with_state(|st| {
        let i = st.net.ifaces.index_of("shmif0").unwrap();
        st.net.add_addr(i, IfAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)), 24)).unwrap();
        st.net.set_flags(i, IFF_UP).unwrap();
    });
    let p = Arc::new(k.spawn(Emulation::Linux, Cred::root(), "bench").unwrap());
    (k, p)
}

/// Reads everything from `fd` until end of stream; returns the count.
fn drain(mut read: impl FnMut(&mut [u8]) -> usize) -> usize {
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0;
    loop {
        let n = read(&mut buf);
        if n == 0 {
            return total;
        }
        total += n;
    }
}

/// TCP retransmissions of the connections `rump_bulk` made, from the
/// senders' TCP_INFO (tcpi_total_retrans).
static RETRANS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Gbit/s moving BULK bytes from `client` (connecting to `to`) to `server`.
fn rump_bulk(server: &Arc<Process>, client: &Arc<Process>, to: [u8; 4], port: u16) -> f64 {
    let l = sc(server, libc::SYS_socket, &[2, 1, 0]);
    let a = sin([0; 4], port);
    sc(server, libc::SYS_bind, &[l as u64, &a as *const _ as u64, 16]);
    sc(server, libc::SYS_listen, &[l as u64, 8]);
    let c2 = client.clone();
    let t = Instant::now();
    let sender = std::thread::spawn(move || {
        let c = sc(&c2, libc::SYS_socket, &[2, 1, 0]);
        let dst = sin(to, port);
        sc(&c2, libc::SYS_connect, &[c as u64, &dst as *const _ as u64, 16]);
        let chunk = vec![7u8; 256 << 10];
        let mut sent = 0;
        while sent < BULK {
            sent += sc(&c2, libc::SYS_write, &[c as u64, chunk.as_ptr() as u64, chunk.len() as u64]) as usize;
        }
        let mut info = [0u8; 104];
        let mut len = info.len() as u32;
        sc(&c2, libc::SYS_getsockopt, &[c as u64, 6, 11, info.as_mut_ptr() as u64, &mut len as *mut u32 as u64]);
        let retrans = u32::from_ne_bytes([info[100], info[101], info[102], info[103]]);
        RETRANS.fetch_add(retrans, std::sync::atomic::Ordering::Relaxed);
        sc(&c2, libc::SYS_close, &[c as u64]);
    });
    let s = sc(server, libc::SYS_accept, &[l as u64, 0, 0]);
    let got = drain(|b| sc(server, libc::SYS_read, &[s as u64, b.as_mut_ptr() as u64, b.len() as u64]) as usize);
    let secs = t.elapsed().as_secs_f64();
    sender.join().unwrap();
    assert_eq!(got, BULK);
    sc(server, libc::SYS_close, &[s as u64]);
    sc(server, libc::SYS_close, &[l as u64]);
    BULK as f64 * 8.0 / secs / 1e9
}

fn host_bulk() -> f64 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let t = Instant::now();
    let sender = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        let chunk = vec![7u8; 256 << 10];
        let mut sent = 0;
        while sent < BULK {
            c.write_all(&chunk).unwrap();
            sent += chunk.len();
        }
    });
    let (mut s, _) = l.accept().unwrap();
    let got = drain(|b| s.read(b).unwrap());
    let secs = t.elapsed().as_secs_f64();
    sender.join().unwrap();
    assert_eq!(got, BULK);
    BULK as f64 * 8.0 / secs / 1e9
}

/// µs per UDP round trip: `client` sends 32 bytes to `to`, an echo thread
/// on `server` sends them back.
fn rump_udp_rtt(server: &Arc<Process>, client: &Arc<Process>, to: [u8; 4], port: u16) -> f64 {
    let s = sc(server, libc::SYS_socket, &[2, 2, 0]);
    let a = sin([0; 4], port);
    sc(server, libc::SYS_bind, &[s as u64, &a as *const _ as u64, 16]);
    let srv = server.clone();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        for _ in 0..PINGS {
            let mut from = sin([0; 4], 0);
            let mut len = 16u32;
            let n = sc(
                &srv,
                libc::SYS_recvfrom,
                &[s as u64, buf.as_mut_ptr() as u64, 64, 0, &mut from as *mut _ as u64, &mut len as *mut _ as u64],
            );
            sc(&srv, libc::SYS_sendto, &[s as u64, buf.as_ptr() as u64, n as u64, 0, &from as *const _ as u64, 16]);
        }
        sc(&srv, libc::SYS_close, &[s as u64]);
    });
    let c = sc(client, libc::SYS_socket, &[2, 2, 0]);
    let dst = sin(to, port);
    sc(client, libc::SYS_connect, &[c as u64, &dst as *const _ as u64, 16]);
    let mut buf = [1u8; 32];
    let t = Instant::now();
    for _ in 0..PINGS {
        sc(client, libc::SYS_write, &[c as u64, buf.as_ptr() as u64, 32]);
        sc(client, libc::SYS_read, &[c as u64, buf.as_mut_ptr() as u64, 32]);
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / PINGS as f64;
    echo.join().unwrap();
    sc(client, libc::SYS_close, &[c as u64]);
    us
}

fn host_udp_rtt() -> f64 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        for _ in 0..PINGS {
            let (n, from) = s.recv_from(&mut buf).unwrap();
            s.send_to(&buf[..n], from).unwrap();
        }
    });
    let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    c.connect(addr).unwrap();
    let mut buf = [1u8; 32];
    let t = Instant::now();
    for _ in 0..PINGS {
        c.send(&buf).unwrap();
        c.recv(&mut buf).unwrap();
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / PINGS as f64;
    echo.join().unwrap();
    us
}

/// µs per ICMP echo round trip from `client` to `to` (the peer kernel
/// answers by itself), through a raw socket as ping sends them.
fn rump_ping_rtt(client: &Process, to: [u8; 4]) -> f64 {
    let r = sc(client, libc::SYS_socket, &[2, 3, 1]);
    let dst = sin(to, 0);
    let mut buf = [0u8; 128];
    let t = Instant::now();
    for seq in 0..PINGS as u16 {
        let mut echo = [8u8, 0, 0, 0, 0x42, 0x42, (seq >> 8) as u8, seq as u8];
        let sum = !checksum(&echo);
        echo[2..4].copy_from_slice(&sum.to_be_bytes());
        sc(client, libc::SYS_sendto, &[r as u64, echo.as_ptr() as u64, 8, 0, &dst as *const _ as u64, 16]);
        loop {
            let n = sc(client, libc::SYS_read, &[r as u64, buf.as_mut_ptr() as u64, 128]) as usize;
            if n >= 28 && buf[20] == 0 && buf[26..28] == echo[6..8] {
                break;
            }
        }
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / PINGS as f64;
    sc(client, libc::SYS_close, &[r as u64]);
    us
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32).sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn best(f: impl FnMut() -> f64, higher_is_better: bool) -> f64 {
    let v: Vec<f64> = std::iter::repeat_with(f).take(ROUNDS).collect();
    if higher_is_better {
        v.into_iter().fold(0.0, f64::max)
    } else {
        v.into_iter().fold(f64::INFINITY, f64::min)
    }
}

fn row(what: &str, rump: f64, host: f64, unit: &str) {
    println!("{what:<46} {rump:>9.2} {unit:<7} {host:>9.2} {unit:<7} {:>7.2}", rump / host);
}

fn main() {
    let dir = std::env::temp_dir().join(format!("rump-net-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bus = dir.join("bus");
    let (_ka, a) = node(&bus, 1);
    let (_kb, b) = node(&bus, 2);
    let mut port = 9000;
    let mut next = || {
        port += 1;
        port
    };
    println!("{:<46} {:>17} {:>17} {:>7}", "measure (best of 3)", "rump", "host baseline", "ratio");
    let host_tcp = best(host_bulk, true);
    row(
        "TCP bulk, two kernels over a shmif bus",
        best(|| rump_bulk(&b, &a, [10, 0, 0, 2], next()), true),
        host_tcp,
        "Gbit/s",
    );
    let retrans = RETRANS.swap(0, std::sync::atomic::Ordering::Relaxed);
    println!("  (retransmissions in those {ROUNDS} transfers of {} MiB: {retrans})", BULK >> 20);
    row("TCP bulk, one kernel over lo0", best(|| rump_bulk(&a, &a, [127, 0, 0, 1], next()), true), host_tcp, "Gbit/s");
    let host_udp = best(host_udp_rtt, false);
    row(
        "UDP round trip, two kernels on a bus",
        best(|| rump_udp_rtt(&b, &a, [10, 0, 0, 2], next()), false),
        host_udp,
        "us",
    );
    row(
        "ICMP echo round trip on a bus (vs host UDP)",
        best(|| rump_ping_rtt(&a, [10, 0, 0, 2]), false),
        host_udp,
        "us",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
