//! The shared-memory transport against its baselines, measured in the same
//! run between two processes pinned to different CPUs:
//! - a null call (getpid) to a `rump_server` through shared memory, with
//!   the spin hitting and with spinning off (`RUMP_SHM_SPIN_NS=0`, every
//!   wake-up a futex), against a bare shared-memory spin ping-pong and a
//!   bare futex ping-pong; and the same call over the socket
//!   (`RUMP_TRANSPORT=socket`) against a bare unix-socket ping-pong;
//! - `pwrite` and `pread` of 1 MiB through shared memory (their data in
//!   a lane of the channel: a memcpy on each side), with the spin on and
//!   off, against a 1 MiB memcpy plus one futex round trip, and against
//!   the same two copies alone handed between the two CPUs through shared
//!   memory (and, for comparison, a 1 MiB process_vm_writev alone: the
//!   one copy calls without a lane make).
//!
//! `cat` of 256 MiB through the keeper and `rump_server` is in
//! `cargo bench -p rump-hijack --bench hijack` (run it with and without
//! `RUMP_TRANSPORT=socket`). Run with `cargo bench -p rump-tools --bench shm`.
//! The best of several rounds of each figure is kept.

use rump_abi::linux::sys::*;
use rumpclient::client::Client;
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;
const CALLS: usize = 5_000;
const MIB: usize = 1 << 20;
/// The CPUs the two sides run on.
const CLIENT_CPU: usize = 0;
const SERVER_CPU: usize = 1;

fn pin(cpu: usize) {
    // SAFETY: a cpu_set_t on the stack, for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
    }
}

/// Microseconds per call of `f`, the best of `ROUNDS` rounds of `n`.
fn best_us(n: usize, mut f: impl FnMut()) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_nanos() as f64 / n as f64 / 1000.0
        })
        .fold(f64::INFINITY, f64::min)
}

fn row(what: &str, us: f64, base_what: &str, base: f64, target: &str) {
    println!("{what:<34} {us:>8.2} us   {base_what:<30} {base:>8.2} us   ratio {:>5.2}  {target}", us / base);
}

/// Two words in memory shared with a forked child.
struct Words {
    ptr: *mut AtomicU32,
}

impl Words {
    fn new() -> Words {
        // SAFETY: a fresh anonymous shared page.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        Words { ptr: p.cast() }
    }

    fn ping(&self) -> &AtomicU32 {
        // SAFETY: the page lives until the process exits.
        unsafe { &*self.ptr }
    }

    fn pong(&self) -> &AtomicU32 {
        // SAFETY: as above; the second word of the page.
        unsafe { &*self.ptr.add(16) }
    }
}

fn futex(word: &AtomicU32, op: libc::c_int, val: u32) {
    // SAFETY: a futex operation on a live shared word, no timeout.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), op, val, std::ptr::null::<libc::timespec>()) };
}

/// Waits until `word` holds `want`, spinning or sleeping on the futex.
fn await_value(word: &AtomicU32, want: u32, spin: bool) {
    loop {
        let now = word.load(Ordering::Acquire);
        if now == want {
            return;
        }
        if spin {
            std::hint::spin_loop();
        } else {
            futex(word, libc::FUTEX_WAIT, now);
        }
    }
}

/// A round trip between two processes through shared words: spinning on
/// them, or sleeping and waking by futex.
fn bare_shared_round_trip(spin: bool) -> f64 {
    let w = Words::new();
    // SAFETY: the child only answers pings, then _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        pin(SERVER_CPU);
        for i in 1.. {
            await_value(w.ping(), i, spin);
            if i == u32::MAX {
                break;
            }
            w.pong().store(i, Ordering::Release);
            futex(w.pong(), libc::FUTEX_WAKE, 1);
        }
        unsafe { libc::_exit(0) };
    }
    let mut i = 0u32;
    let us = best_us(CALLS, || {
        i += 1;
        w.ping().store(i, Ordering::Release);
        futex(w.ping(), libc::FUTEX_WAKE, 1);
        await_value(w.pong(), i, spin);
    });
    // SAFETY: our child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    us
}

/// What the copies of a 1 MiB call through a lane cost by themselves:
/// this process copies 1 MiB into shared memory and hands it over, and a
/// child on the other CPU copies it out and hands back (each side
/// spinning), so every cache line crosses between the CPUs as a lane's
/// do. Where the two CPUs share no cache this is several memcpys.
fn bare_handoff_mib() -> f64 {
    let w = Words::new();
    // SAFETY: a fresh anonymous shared mapping of MIB bytes, never unmapped.
    let shared = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            MIB,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(shared, libc::MAP_FAILED);
    let shared = shared.cast::<u8>();
    // SAFETY: the child only copies out and answers, then _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        pin(SERVER_CPU);
        let mut mine = vec![0u8; MIB];
        for i in 1.. {
            await_value(w.ping(), i, true);
            // SAFETY: MIB bytes of the shared mapping, written before the ping.
            unsafe { std::ptr::copy_nonoverlapping(shared, mine.as_mut_ptr(), MIB) };
            std::hint::black_box(&mut mine);
            w.pong().store(i, Ordering::Release);
        }
        unsafe { libc::_exit(0) };
    }
    let src = vec![1u8; MIB];
    let mut i = 0u32;
    let us = best_us(200, || {
        i += 1;
        // SAFETY: MIB bytes of the shared mapping, which the child reads
        // only between ping and pong.
        unsafe { std::ptr::copy_nonoverlapping(std::hint::black_box(&src).as_ptr(), shared, MIB) };
        w.ping().store(i, Ordering::Release);
        await_value(w.pong(), i, true);
    });
    // SAFETY: our child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    us
}

/// A one-byte round trip over a unix socket to another process.
fn bare_socket_round_trip() -> f64 {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    // SAFETY: the child only echoes, then _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        drop(a);
        pin(SERVER_CPU);
        let mut byte = [0u8];
        while b.read_exact(&mut byte).is_ok() && b.write_all(&byte).is_ok() {}
        unsafe { libc::_exit(0) };
    }
    drop(b);
    let mut byte = [0u8];
    let us = best_us(CALLS, || {
        a.write_all(&byte).unwrap();
        a.read_exact(&mut byte).unwrap();
    });
    drop(a);
    // SAFETY: our child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    us
}

/// A memcpy of 1 MiB between two buffers that stay cached as they would
/// in a loop of calls.
fn memcpy_mib() -> f64 {
    let src = vec![1u8; MIB];
    let mut dst = vec![0u8; MIB];
    best_us(500, || {
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
    })
}

/// A 1 MiB process_vm_writev between two hot buffers (of this process:
/// the host pins the target's pages as for another's): the one copy a
/// server makes between a file's pages and a client's buffer, alone.
fn process_vm_mib() -> f64 {
    let src = vec![1u8; MIB];
    let mut dst = vec![0u8; MIB];
    let here = libc::iovec { iov_base: src.as_ptr().cast_mut().cast(), iov_len: MIB };
    let there = libc::iovec { iov_base: dst.as_mut_ptr().cast(), iov_len: MIB };
    // SAFETY: getpid cannot fail.
    let me = unsafe { libc::getpid() };
    best_us(500, || {
        // SAFETY: both iovecs name live buffers of MIB bytes.
        let n = unsafe { libc::process_vm_writev(me, &here, 1, &there, 1, 0) };
        assert_eq!(n, MIB as isize);
    })
}

/// A `rump_server` on the server CPU with `env`, and a client of it made
/// with `env` too; killed when dropped.
struct Remote {
    server: Child,
    client: Client,
    dir: std::path::PathBuf,
}

impl Remote {
    fn start(tag: &str, env: &[(&str, &str)]) -> Remote {
        let dir = std::env::temp_dir().join(format!("rump-bench-shm-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = ServerUrl::Unix(dir.join("sock"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rump_server"));
        cmd.args(["-s", &url.to_string()]).envs(env.iter().copied());
        // SAFETY: only sched_setaffinity between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                pin(SERVER_CPU);
                Ok(())
            })
        };
        let server = cmd.spawn().unwrap();
        for (k, v) in env {
            std::env::set_var(k, v);
        }
        let t = Instant::now();
        let client = loop {
            match Client::connect(&url, Emulation::Linux, "bench") {
                Ok(c) => break c,
                Err(_) if t.elapsed() < Duration::from_secs(10) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("rump_server did not come up: {e}"),
            }
        };
        for (k, _) in env {
            std::env::remove_var(k);
        }
        Remote { server, client, dir }
    }

    fn null_call(&self) -> f64 {
        best_us(CALLS, || {
            std::hint::black_box(rump_sys_getpid(&self.client).unwrap());
        })
    }

    /// Microseconds per `pwrite` and per `pread` of 1 MiB, with the
    /// bytes read back checked.
    fn copy_calls(&self) -> (f64, f64) {
        let big = vec![7u8; MIB];
        let mut back = vec![0u8; MIB];
        let c = &self.client;
        let fd = rump_sys_openat(c, -100, c"/bench".as_ptr(), 0o102, 0o644).unwrap() as u32;
        let pwrite = best_us(200, || {
            assert_eq!(rump_sys_pwrite64(c, fd, big.as_ptr().cast(), MIB, 0), Ok(MIB as isize));
        });
        let pread = best_us(200, || {
            assert_eq!(rump_sys_pread64(c, fd, back.as_mut_ptr().cast(), MIB, 0), Ok(MIB as isize));
        });
        assert_eq!(back, big);
        (pwrite, pread)
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn main() {
    pin(CLIENT_CPU);
    let spin_rt = bare_shared_round_trip(true);
    let futex_rt = bare_shared_round_trip(false);
    let socket_rt = bare_socket_round_trip();

    let spinning = Remote::start("spin", &[]);
    assert!(spinning.client.shares_memory(), "no shared-memory channel");
    let shm_spin = spinning.null_call();
    let (pwrite, pread) = spinning.copy_calls();
    drop(spinning);
    let sleeping = Remote::start("futex", &[("RUMP_SHM_SPIN_NS", "0")]);
    let shm_futex = sleeping.null_call();
    let (pwrite_futex, pread_futex) = sleeping.copy_calls();
    drop(sleeping);
    let socket = Remote::start("socket", &[("RUMP_TRANSPORT", "socket")]);
    assert!(!socket.client.shares_memory());
    let over_socket = socket.null_call();
    drop(socket);
    let copy = memcpy_mib();
    let vm_copy = process_vm_mib();
    let handoff = bare_handoff_mib();

    println!("two processes, client on CPU {CLIENT_CPU}, server on CPU {SERVER_CPU}; best of {ROUNDS} rounds");
    row("null call, shm, spin hitting", shm_spin, "bare shm spin ping-pong", spin_rt, "(target <= 0.5 us)");
    row("null call, shm, futex wake-ups", shm_futex, "bare futex ping-pong", futex_rt, "(target <= 2 us)");
    row("null call, unix socket", over_socket, "bare unix-socket ping-pong", socket_rt, "");
    row("null call, shm, spin hitting", shm_spin, "bare unix-socket ping-pong", socket_rt, "");
    let base = copy + futex_rt;
    row("pwrite 1 MiB, shm", pwrite, "memcpy 1 MiB + futex round trip", base, "(target <= 1.5)");
    row("pread 1 MiB, shm", pread, "memcpy 1 MiB + futex round trip", base, "(target <= 1.5)");
    row("pwrite 1 MiB, shm, spin off", pwrite_futex, "memcpy 1 MiB + futex round trip", base, "");
    row("pread 1 MiB, shm, spin off", pread_futex, "memcpy 1 MiB + futex round trip", base, "");
    row("pwrite 1 MiB, shm", pwrite, "bare 1 MiB handoff across CPUs", handoff, "");
    row("pread 1 MiB, shm", pread, "bare 1 MiB handoff across CPUs", handoff, "");
    println!("(memcpy 1 MiB alone: {copy:.2} us; process_vm_writev 1 MiB alone: {vm_copy:.2} us)");
}
