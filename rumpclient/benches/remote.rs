//! Remote kernel call costs beside a bare unix-socket exchange between two
//! processes, measured in the same run. Run with `cargo bench -p rumpclient`
//! (or scripts/bench.sh).

use rump_abi::linux::sys::*;
use rump_kernel::{Config, Kernel};
use rumpclient::client::Client;
use rumpclient::server::Server;
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Instant;

const ROUNDS: usize = 5;

/// Microseconds per iteration of `f`, best of `ROUNDS` rounds.
fn time_us(iters: usize, mut f: impl FnMut()) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64 / 1000.0
        })
        .fold(f64::INFINITY, f64::min)
}

/// Runs `child` in a forked process (before this process has threads) and
/// returns its pid.
fn fork_child(child: impl FnOnce()) -> libc::pid_t {
    // SAFETY: called while single-threaded; the child runs `child` and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        child();
        // SAFETY: leave the child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    pid
}

/// A peer process that answers each `n`-byte message with 8 bytes.
fn echo_peer(mut s: UnixStream, n: usize) {
    let mut buf = vec![0u8; n];
    while s.read_exact(&mut buf).is_ok() {
        if s.write_all(&buf[..8]).is_err() {
            return;
        }
    }
}

/// Microseconds per exchange of `n` bytes there and 8 back with another
/// process over a unix socket.
fn bare_exchange_us(n: usize, iters: usize) -> f64 {
    let (mut a, b) = UnixStream::pair().unwrap();
    let ours = a.as_raw_fd();
    let pid = fork_child(move || {
        // SAFETY: the child's copy of our end must go, or it never sees EOF.
        unsafe { libc::close(ours) };
        echo_peer(b, n)
    });
    let msg = vec![7u8; n];
    let mut reply = [0u8; 8];
    let t = time_us(iters, || {
        a.write_all(&msg).unwrap();
        a.read_exact(&mut reply).unwrap();
    });
    drop(a);
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    t
}

fn row(what: &str, rump: f64, host: f64, note: &str) {
    println!("{what:<28} {rump:>9.2} us {host:>9.2} us {:>7.2}  {note}", rump / host);
}

fn main() {
    let dir = std::env::temp_dir().join(format!("rump-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("sock");
    let bare_64 = bare_exchange_us(64, 20_000);
    let bare_4k = bare_exchange_us(4096, 20_000);
    let bare_1m = bare_exchange_us(1 << 20, 200);

    let server_sock = sock.clone();
    let started = Instant::now();
    let server = fork_child(move || {
        let url = ServerUrl::Unix(server_sock);
        let _s = Server::start(Kernel::boot(Config::default()).unwrap(), &url, false).unwrap();
        loop {
            std::thread::park();
        }
    });
    let client = loop {
        match Client::connect(&ServerUrl::Unix(sock.clone()), Emulation::Linux, "bench") {
            Ok(c) => break c,
            Err(_) if started.elapsed().as_secs() < 5 => std::thread::sleep(std::time::Duration::from_micros(100)),
            Err(e) => panic!("server did not come up: {e}"),
        }
    };
    let up = started.elapsed().as_secs_f64() * 1e6;

    println!("{:<28} {:>12} {:>12} {:>7}", "measure", "remote rump", "bare socket", "ratio");
    let call = time_us(20_000, || {
        std::hint::black_box(rump_sys_getpid(&client).unwrap());
    });
    row("getpid (minimal call)", call, bare_64, "bare: 64 B there, 8 B back (target <= 1.2)");
    let path = b"/bench\0";
    let fd = rump_sys_openat(&client, -100, path.as_ptr().cast(), 0o102, 0o644).unwrap() as u32;
    for (n, bare, iters) in [(4096usize, bare_4k, 20_000usize), (1 << 20, bare_1m, 200)] {
        let data = vec![1u8; n];
        let t = time_us(iters, || {
            rump_sys_pwrite64(&client, fd, data.as_ptr().cast(), n, 0).unwrap();
        });
        row(&format!("pwrite {} KiB to tmpfs", n / 1024), t, bare, "bare: the same bytes there, 8 B back");
    }
    println!("server start to first accepted handshake: {up:.0} us (fork + boot + bind + connect; target <= 10 ms)");
    let status = std::fs::read_to_string(format!("/proc/{server}/status")).unwrap_or_default();
    let rss = status.lines().find(|l| l.starts_with("VmRSS")).unwrap_or("VmRSS: ?");
    println!("server {rss} after the calls above (target idle <= 2 MiB)");
    // SAFETY: ending and reaping our own child.
    unsafe {
        libc::kill(server, libc::SIGKILL);
        libc::waitpid(server, std::ptr::null_mut(), 0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
