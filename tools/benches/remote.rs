//! Remote kernel costs, each beside its baseline measured in the same run:
//! calls through a real `rump_server` against the same bytes exchanged
//! over a bare unix socket with another process; round trips per call;
//! start-up to the first answered call; the server's memory at rest.
//! Run with `cargo bench -p rump-tools` (or scripts/bench.sh).
//!
//! Bare and remote figures are taken in alternating rounds and the best
//! round of each is kept, so both see the same machine state.

use rump_abi::linux::sys::*;
use rump_abi::linux::types::stat;
use rumpclient::client::Client;
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const ROUNDS: usize = 7;

/// Microseconds per iteration of `f`.
fn time_us(iters: usize, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_nanos() as f64 / iters as f64 / 1000.0
}

/// A process answering each `n`-byte message with 8 bytes.
struct EchoPeer {
    sock: UnixStream,
    pid: libc::pid_t,
    msg: Vec<u8>,
}

impl EchoPeer {
    fn start(n: usize) -> EchoPeer {
        let (a, mut b) = UnixStream::pair().unwrap();
        let ours = a.as_raw_fd();
        // SAFETY: this benchmark has no threads; the child only echoes.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe { libc::close(ours) };
            let mut buf = vec![0u8; n];
            while b.read_exact(&mut buf).is_ok() && b.write_all(&buf[..8]).is_ok() {}
            unsafe { libc::_exit(0) };
        }
        EchoPeer { sock: a, pid, msg: vec![7u8; n] }
    }

    fn exchange(&mut self) {
        let mut reply = [0u8; 8];
        self.sock.write_all(&self.msg).unwrap();
        self.sock.read_exact(&mut reply).unwrap();
    }
}

impl Drop for EchoPeer {
    fn drop(&mut self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), 0) };
    }
}

fn status_number(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    status_number(pid, "VmRSS:")
}

/// A process's resident memory: all of it, its share of what is shared,
/// and its own; and its threads.
struct Memory {
    rss: u64,
    pss: u64,
    anon: u64,
    threads: u64,
}

impl Memory {
    fn of(pid: u32) -> Memory {
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        let field = |name: &str| {
            let line = rollup.lines().find(|l| l.starts_with(name)).unwrap_or_default();
            line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        Memory {
            rss: rss_kib(pid),
            pss: field("Pss:"),
            anon: field("Anonymous:"),
            threads: status_number(pid, "Threads:"),
        }
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "RSS {} KiB, PSS {} KiB, private (anonymous) {} KiB, {} threads",
            self.rss, self.pss, self.anon, self.threads
        )
    }
}

/// A child process killed and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `rump_server -s URL` and makes calls until one is answered.
fn start_server(url: &ServerUrl) -> (Reaped, Client, Duration) {
    let t = Instant::now();
    let child = Reaped(Command::new(env!("CARGO_BIN_EXE_rump_server")).args(["-s", &url.to_string()]).spawn().unwrap());
    loop {
        if let Ok(c) = Client::connect(url, Emulation::Linux, "bench") {
            if rump_sys_getpid(&c).is_ok() {
                return (child, c, t.elapsed());
            }
        }
        assert!(t.elapsed() < Duration::from_secs(5), "the server did not come up");
        std::thread::sleep(Duration::from_micros(50));
    }
}

fn row(what: &str, rump: f64, base: f64, note: &str) {
    println!("{what:<26} {rump:>10.2} us {base:>10.2} us {:>6.2}  {note}", rump / base);
}

fn main() {
    let dir = std::env::temp_dir().join(format!("rump-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = ServerUrl::Unix(dir.join("sock"));

    // Start-up: a daemonizing start (the parent returns once the socket
    // accepts) and a foreground one timed to the first answered call.
    let t = Instant::now();
    let daemon_url = ServerUrl::Unix(dir.join("daemon"));
    let st = Command::new(env!("CARGO_BIN_EXE_rump_server")).arg(daemon_url.to_string()).status().unwrap();
    let daemon_up = t.elapsed();
    assert!(st.success());
    let halt = Command::new(env!("CARGO_BIN_EXE_rumpctl")).args(["halt", "-s", &daemon_url.to_string()]).status();
    assert!(halt.unwrap().success());
    // At rest: a server nobody has connected to yet.
    let idle_sock = dir.join("idle");
    let idle = Reaped(
        Command::new(env!("CARGO_BIN_EXE_rump_server"))
            .args(["-s", &format!("unix://{}", idle_sock.display())])
            .spawn()
            .unwrap(),
    );
    while !idle_sock.exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(200));
    let started = Memory::of(idle.0.id());
    // At rest (no call for 2 s) the server lets go of its start-up's text;
    // a second later its idle threads have mapped again what they run.
    std::thread::sleep(Duration::from_millis(3800));
    let at_rest = Memory::of(idle.0.id());
    drop(idle);
    let (server, client, first_call) = start_server(&url);
    std::thread::sleep(Duration::from_millis(100));
    let one_client_rss = rss_kib(server.0.id());

    let path = b"/bench\0";
    let fd = rump_sys_openat(&client, -100, path.as_ptr().cast(), 0o102, 0o644).unwrap() as u32;
    let mut peers = [EchoPeer::start(64), EchoPeer::start(4096), EchoPeer::start(1 << 20)];
    let small = vec![1u8; 4096];
    let big = vec![1u8; 1 << 20];
    // Best round of each: [bare 64, getpid, bare 4K, pwrite 4K, bare 1M, pwrite 1M].
    let mut best = [f64::INFINITY; 6];
    for _ in 0..ROUNDS {
        let figures = [
            time_us(5_000, || peers[0].exchange()),
            time_us(5_000, || {
                std::hint::black_box(rump_sys_getpid(&client).unwrap());
            }),
            time_us(5_000, || peers[1].exchange()),
            time_us(5_000, || {
                rump_sys_pwrite64(&client, fd, small.as_ptr().cast(), small.len(), 0).unwrap();
            }),
            time_us(50, || peers[2].exchange()),
            time_us(50, || {
                rump_sys_pwrite64(&client, fd, big.as_ptr().cast(), big.len(), 0).unwrap();
            }),
        ];
        for (b, f) in best.iter_mut().zip(figures) {
            *b = b.min(f);
        }
    }

    println!("{:<26} {:>13} {:>13} {:>6}", "measure", "remote rump", "bare socket", "ratio");
    row("getpid (minimal call)", best[1], best[0], "bare: 64 B there, 8 B back, two processes (target <= 1.2)");
    row("pwrite 4 KiB", best[3], best[2], "bare: 4 KiB there, 8 B back");
    row("pwrite 1 MiB", best[5], best[4], "bare: 1 MiB there, 8 B back");

    println!("\nround trips per call (frames the client received; NetBSD: 1 + one per copy-in)");
    let mut st = stat::default();
    let mut buf = [0u8; 64];
    let name = b"/rt\0";
    let count = |what: &str, f: &mut dyn FnMut()| {
        let before = client.frames_received();
        f();
        println!("  {what:<8} {}", client.frames_received() - before);
    };
    let mut rt_fd = 0u32;
    count("open", &mut || rt_fd = rump_sys_openat(&client, -100, name.as_ptr().cast(), 0o102, 0o644).unwrap() as u32);
    count("write", &mut || assert_eq!(rump_sys_write(&client, rt_fd, buf.as_ptr().cast(), 64), Ok(64)));
    count("read", &mut || assert_eq!(rump_sys_pread64(&client, rt_fd, buf.as_mut_ptr().cast(), 64, 0), Ok(64)));
    count("stat", &mut || assert_eq!(rump_sys_newfstatat(&client, -100, name.as_ptr().cast(), &mut st, 0), Ok(0)));
    let native = Client::connect(&url, Emulation::Native, "bench-sysctl").unwrap();
    let mib = [1i32, 10];
    let mut len = buf.len();
    let before = native.frames_received();
    rump_abi::native::sys::rump_sys___sysctl(
        &native,
        mib.as_ptr(),
        2,
        buf.as_mut_ptr().cast(),
        &mut len,
        std::ptr::null(),
        0,
    )
    .unwrap();
    println!(
        "  {:<8} {} (its output buffer is not in the table: one COPYOUT)",
        "sysctl",
        native.frames_received() - before
    );

    println!("\nserver start to first answered call: {:.2} ms (spawn + boot + bind + connect + getpid; target <= 10 ms; NetBSD 5.5-11 ms)", first_call.as_secs_f64() * 1e3);
    println!("daemonizing start, parent exit once accepting: {:.2} ms", daemon_up.as_secs_f64() * 1e3);
    println!("idle server, no client yet (target RSS <= 2048 KiB; NetBSD 700-1500 KB; scripts/memory.sh --idle-server says what it is):");
    println!("  0.2 s after start: {started}");
    println!("  at rest, 4 s after: {at_rest}");
    println!("  with one client: RSS {one_client_rss} KiB; after the calls above: {} KiB", rss_kib(server.0.id()));
    drop(peers);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
