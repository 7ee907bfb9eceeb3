//! A real `rump_server` under attack, with a well-behaved client as the
//! yardstick: the figures issue 19 asks for, printed once per run.
//!
//! - wire fuzzing: connections that handshake and then send mutated but
//!   well-formed calls (every Linux syscall number but reboot, arguments
//!   in and out of range, marshaled buffers of random bytes, one payload
//!   byte in eight flipped), a batch per connection; after each batch a
//!   well-behaved client must get an answer within 5 s. Frames per second
//!   and failed checks.
//! - soak: 256 clients × 10,000 calls each while 256 connections that
//!   never handshake are kept open (re-opened as the server closes them)
//!   and a client sends its handshake one byte per second. Errors and
//!   calls per second, beside the same 256 clients with no attackers.
//! - storm: the server's RSS before, at the peak of and after 512
//!   connections each claiming a 64 MiB frame (half before their
//!   handshake, half after, sending 1 MiB of it and stalling).
//!
//! Run with `cargo bench -p rump-tools --bench hostile`.

use rump_abi::linux::sys::{desc, rump_sys_getpid};
use rumpclient::client::Client;
use rumpclient::frame::{read_frame, write_frame};
use rumpclient::marshal::{marshal, ClientMemory};
use rumpclient::sock::{rand_u64, Conn};
use rumpclient::url::ServerUrl;
use rumpclient::wire::copy::{CopyPacket, CopyRepr};
use rumpclient::wire::handshake::{Emulation, NameRepr};
use rumpclient::{Class, HandshakeKind, MsgType};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FUZZ_TIME: Duration = Duration::from_secs(20);
const FUZZ_BATCH: usize = 200;
const SOAK_CLIENTS: usize = 256;
const SOAK_CALLS: usize = 10_000;
const IDLE: usize = 256;
const STORM: usize = 512;
/// Linux x86-64 `reboot`: it would halt the kernel under test.
const SYS_REBOOT: u32 = 169;

/// A child process killed and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok());
    kib.unwrap_or(0.0) / 1024.0
}

/// xorshift: cheap, seeded from the host, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// An argument: small, boundary, huge or a pointer-looking value.
    fn arg(&mut self) -> u64 {
        match self.below(6) {
            0 => self.below(8),
            1 => u64::MAX,
            2 => (self.below(2) << 31) | self.below(4096),
            3 => 0x7fff_0000_0000 + self.below(1 << 20),
            4 => self.next(),
            _ => 4096 * self.below(16),
        }
    }
}

/// The fuzzer's "memory": every read gives random bytes, so marshaled
/// calls carry random buffers and strings; writes land nowhere.
struct RandomMemory;

thread_local! {
    static FILL: std::cell::RefCell<Rng> = std::cell::RefCell::new(Rng(rand_u64() | 1));
}

fn random_byte() -> u8 {
    FILL.with(|r| r.borrow_mut().next() as u8)
}

impl ClientMemory for RandomMemory {
    fn read(&self, _: rump_abi::UserAddr, buf: &mut [u8]) -> Result<(), rump_abi::Errno> {
        buf.iter_mut().for_each(|b| *b = random_byte());
        Ok(())
    }

    fn read_str(&self, _: rump_abi::UserAddr, max: usize) -> Result<Vec<u8>, rump_abi::Errno> {
        let n = (random_byte() as usize % 64).min(max.saturating_sub(1));
        let mut s: Vec<u8> = (0..n).map(|_| b'a' + random_byte() % 26).collect();
        s.push(0);
        Ok(s)
    }

    fn write(&self, _: rump_abi::UserAddr, _: &[u8]) -> Result<(), rump_abi::Errno> {
        Ok(())
    }
}

/// Gives up on a read or write after 5 s, so a wedged server shows as
/// failed checks instead of a hung benchmark.
fn bounded(c: &Conn) {
    let tv = libc::timeval { tv_sec: 5, tv_usec: 0 };
    let len = std::mem::size_of_val(&tv) as libc::socklen_t;
    for opt in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
        // SAFETY: setsockopt reading one timeval of ours.
        unsafe { libc::setsockopt(c.raw_fd(), libc::SOL_SOCKET, opt, (&tv as *const libc::timeval).cast(), len) };
    }
}

/// A raw connection past the banner and a GUEST handshake.
fn guest(url: &ServerUrl) -> std::io::Result<Conn> {
    let c = Conn::connect(url)?;
    bounded(&c);
    let mut byte = [0u8];
    while (&c).read(&mut byte)? == 1 && byte[0] != b'\n' {}
    let hello = NameRepr { name: b"fuzz", emul: Emulation::Linux };
    let mut payload = vec![0u8; hello.buffer_len()];
    hello.emit(&mut payload).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    write_frame(&mut &c, 0, Class::Req, MsgType::Handshake, HandshakeKind::Guest.raw(), &payload)?;
    read_frame(&mut &c).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    Ok(c)
}

/// Answers the server's copy requests with zeros (so unannotated calls
/// proceed) and drops replies, until the connection ends.
fn answer_copies(c: Arc<Conn>) {
    while let Ok(Some(f)) = read_frame(&mut &*c) {
        if f.header.class != Class::Req {
            continue;
        }
        let with_data = matches!(f.header.msg_type, MsgType::Copyout | MsgType::Copyoutstr);
        let len = CopyRepr::parse(&CopyPacket::new_unchecked(&f.payload), with_data).map_or(0, |r| r.len.min(1 << 16));
        let body = if with_data { Vec::new() } else { vec![0u8; len] };
        let _ = write_frame(&mut &*c, f.header.reqno, Class::Resp, f.header.msg_type, 0, &body);
    }
}

/// One batch of mutated calls on a fresh connection; frames sent.
fn fuzz_batch(url: &ServerUrl, rng: &mut Rng) -> u64 {
    let Ok(c) = guest(url) else { return 0 };
    let c = Arc::new(c);
    let reader = {
        let c = c.clone();
        std::thread::spawn(move || answer_copies(c))
    };
    let mut sent = 0;
    for reqno in 1..=FUZZ_BATCH as u64 {
        let num = loop {
            let n = rng.below(460) as u32;
            if n != SYS_REBOOT {
                break n;
            }
        };
        let args: rump_abi::Slots = std::array::from_fn(|_| rng.arg());
        let (ty, mut payload) = match desc(num) {
            Some(d) if rng.below(4) != 0 => (MsgType::Msyscall, marshal(d, &args, &RandomMemory).payload().to_vec()),
            _ => (MsgType::Syscall, args.iter().flat_map(|a| a.to_ne_bytes()).collect()),
        };
        if !payload.is_empty() && rng.below(8) == 0 {
            let i = rng.below(payload.len() as u64) as usize;
            payload[i] ^= 1 << rng.below(8);
        }
        if write_frame(&mut &*c, reqno, Class::Req, ty, num, &payload).is_err() {
            break;
        }
        sent += 1;
    }
    std::thread::sleep(Duration::from_millis(20));
    c.shutdown();
    let _ = reader.join();
    sent
}

/// Whether a well-behaved client gets a getpid answered within 5 s.
fn still_served(url: &ServerUrl) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let url = url.clone();
    std::thread::spawn(move || {
        let ok = Client::connect(&url, Emulation::Linux, "yardstick").is_ok_and(|c| rump_sys_getpid(&c).is_ok());
        let _ = tx.send(ok);
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap_or(false)
}

fn wire_fuzz(url: &ServerUrl) {
    let mut rng = Rng(rand_u64() | 1);
    let (mut frames, mut batches, mut failed) = (0u64, 0u64, 0u64);
    let t = Instant::now();
    while t.elapsed() < FUZZ_TIME {
        frames += fuzz_batch(url, &mut rng);
        batches += 1;
        failed += !still_served(url) as u64;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "wire fuzzer: {frames} mutated calls in {batches} batches, {:.0} frames/s; well-behaved client unserved after {failed} of {batches} batches",
        frames as f64 / secs
    );
}

/// 256 clients × 10,000 getpid calls; (errors, calls per second).
fn clients(url: &ServerUrl) -> (u64, f64) {
    let errors = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let threads: Vec<_> = (0..SOAK_CLIENTS)
        .map(|i| {
            let (url, errors) = (url.clone(), errors.clone());
            std::thread::spawn(move || match Client::connect(&url, Emulation::Linux, &format!("soak{i}")) {
                Ok(c) => {
                    let bad = (0..SOAK_CALLS).filter(|_| rump_sys_getpid(&c).is_err()).count();
                    errors.fetch_add(bad as u64, Ordering::Relaxed);
                }
                Err(_) => {
                    errors.fetch_add(SOAK_CALLS as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let calls = (SOAK_CLIENTS * SOAK_CALLS) as f64;
    (errors.load(Ordering::Relaxed), calls / t.elapsed().as_secs_f64())
}

/// Keeps `IDLE` connections that never handshake open, and one that sends
/// its handshake a byte per second, until `stop`.
fn attackers(path: std::path::PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut idle: Vec<Option<UnixStream>> = (0..IDLE).map(|_| None).collect();
        let mut slow: Option<(UnixStream, usize)> = None;
        let hello = [24u64 + 5, 0, 0].iter().flat_map(|v| v.to_ne_bytes()).chain(*b"slow\0").collect::<Vec<u8>>();
        while !stop.load(Ordering::Acquire) {
            for s in idle.iter_mut() {
                let closed = s.as_ref().is_none_or(|s| {
                    s.set_nonblocking(true).ok();
                    let mut b = [0u8; 128];
                    matches!((&*s).read(&mut b), Ok(0))
                        || matches!((&*s).read(&mut b), Err(e) if e.kind() != std::io::ErrorKind::WouldBlock)
                });
                if closed {
                    *s = UnixStream::connect(&path).ok();
                }
            }
            let (s, at) = match slow.take() {
                Some(s) => s,
                None => match UnixStream::connect(&path) {
                    Ok(s) => (s, 0),
                    Err(_) => continue,
                },
            };
            if at < hello.len() && (&s).write_all(&hello[at..at + 1]).is_ok() {
                slow = Some((s, at + 1));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    })
}

fn soak(url: &ServerUrl, path: &std::path::Path) {
    let (base_errors, base_rate) = clients(url);
    let stop = Arc::new(AtomicBool::new(false));
    let attack = attackers(path.to_path_buf(), stop.clone());
    std::thread::sleep(Duration::from_secs(2));
    let (errors, rate) = clients(url);
    stop.store(true, Ordering::Release);
    attack.join().unwrap();
    println!(
        "soak: {SOAK_CLIENTS} clients x {SOAK_CALLS} calls with {IDLE} idle connections and a 1 byte/s client: {errors} errors, {rate:.0} calls/s  vs  no attackers: {base_errors} errors, {base_rate:.0} calls/s  ratio {:.2}",
        base_rate / rate
    );
}

fn storm(url: &ServerUrl, pid: u32) {
    let before = rss_mib(pid);
    let claim = |c: &Conn| {
        let mut head = Vec::new();
        head.extend_from_slice(&((64u64 << 20) + 24).to_ne_bytes());
        head.extend_from_slice(&1u64.to_ne_bytes());
        head.extend_from_slice(&[0, 0, 9, 0, 0, 0, 0, 0]);
        let _ = (&*c).write_all(&head);
        let _ = (&*c).write_all(&vec![0u8; 1 << 20]);
    };
    let mut held = Vec::new();
    for i in 0..STORM {
        let c = if i % 2 == 0 { Conn::connect(url).ok() } else { guest(url).ok() };
        if let Some(c) = c {
            claim(&c);
            held.push(c);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let peak = rss_mib(pid);
    drop(held);
    std::thread::sleep(Duration::from_secs(2));
    let after = rss_mib(pid);
    let served = still_served(url);
    println!(
        "storm: {STORM} connections claiming 64 MiB frames: server RSS {before:.1} MiB before, {peak:.1} MiB at the peak, {after:.1} MiB after; well-behaved client served after: {served}"
    );
}

fn main() {
    let dir = std::env::temp_dir().join(format!("rump-hostile-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let url = ServerUrl::Unix(path.clone());
    let child = Command::new(env!("CARGO_BIN_EXE_rump_server"))
        .args(["-s", "-r", "256m", "--max-clients", "300", &url.to_string()])
        .spawn()
        .unwrap();
    let pid = child.id();
    let _server = Reaped(child);
    let t = Instant::now();
    while !still_served(&url) {
        assert!(t.elapsed() < Duration::from_secs(10), "rump_server did not start");
    }
    println!("rump_server -r 256m --max-clients 300 (other limits default); figures beside same-run baselines");
    storm(&url, pid);
    wire_fuzz(&url);
    soak(&url, &path);
    let _ = std::fs::remove_dir_all(&dir);
}
