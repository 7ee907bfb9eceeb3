//! In-process kernel call costs, each beside the host doing the same in the
//! same run. Run with `cargo bench -p rump-kernel` (or scripts/bench.sh).
//!
//! Each figure is the best of several rounds of many iterations, so a
//! scheduling hiccup in one round does not decide it.

use rump_abi::linux::sys as lx;
use rump_abi::native::sys as nb;
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use std::ffi::CString;
use std::time::Instant;

const ROUNDS: usize = 7;

/// Nanoseconds per iteration of `f`, best of `ROUNDS` rounds.
fn time_ns(iters: usize, mut f: impl FnMut()) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// A host file of `len` bytes in /dev/shm (the host's tmpfs), opened O_RDWR.
fn host_file(len: usize) -> (i32, CString) {
    let path = cstr(&format!("/dev/shm/rump-bench-{}-{len}", std::process::id()));
    // SAFETY: plain libc calls on a path we own; the fd is checked.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC, 0o600) };
    assert!(fd >= 0, "cannot create a file in /dev/shm");
    let data = vec![1u8; len];
    // SAFETY: data is a live buffer of len bytes.
    assert_eq!(unsafe { libc::pwrite(fd, data.as_ptr().cast(), len, 0) }, len as isize);
    (fd, path)
}

/// A kernel file of `len` bytes opened O_RDWR by a Linux process.
fn rump_file(p: &Process, len: usize) -> i32 {
    let path = cstr(&format!("/bench-{len}"));
    let fd = lx::rump_sys_open(p, path.as_ptr(), 0o102, 0o600).unwrap();
    let data = vec![1u8; len];
    assert_eq!(lx::rump_sys_pwrite64(p, fd as u32, data.as_ptr().cast(), len, 0), Ok(len as isize));
    fd
}

fn row(what: &str, rump: f64, host: f64, unit: &str, note: &str) {
    println!("{what:<34} {rump:>10.1} {unit:<6} {host:>10.1} {unit:<6} {:>8.3}  {note}", rump / host);
}

fn main() {
    let k = Kernel::boot(Config::default()).unwrap();
    let linux = k.spawn(Emulation::Linux, Cred::root(), "bench").unwrap();
    let native = k.spawn(Emulation::Native, Cred::root(), "bench").unwrap();

    println!("{:<34} {:>17} {:>17} {:>8}", "measure", "rump kernel", "host", "ratio");
    println!("-- minimal call: time per call, ratio = rump/host (target <= 0.5; NetBSD rump 0.53) --");
    let (hfd, hpath) = host_file(4096);
    let lfd = rump_file(&linux, 4096);
    let nfd = nb::rump_sys_open(&native, cstr("/bench-4096").as_ptr(), 2, 0).unwrap();
    let n = 2_000_000;
    // SAFETY: lseek on our own fd.
    let host = time_ns(n, || unsafe {
        std::hint::black_box(libc::lseek(hfd, 0, libc::SEEK_CUR));
    });
    let rl = time_ns(n, || {
        std::hint::black_box(lx::rump_sys_lseek(&linux, lfd as u32, 0, 1).unwrap());
    });
    let rn = time_ns(n, || {
        std::hint::black_box(nb::rump_sys_lseek(&native, nfd, 0, 1).unwrap());
    });
    row("lseek(SEEK_CUR), Linux emulation", rl, host, "ns", "host: lseek on /dev/shm");
    row("lseek(SEEK_CUR), native", rn, host, "ns", "host: lseek on /dev/shm");

    println!("-- I/O on tmpfs vs host /dev/shm: MB/s, ratio = rump/host speed (target >= 1.0 at 4 KiB) --");
    for (size, iters) in [(4096usize, 200_000usize), (1 << 20, 2_000)] {
        let (hfd, hpath) = host_file(size);
        let rfd = rump_file(&linux, size);
        let mut buf = vec![0u8; size];
        let mbps = |ns: f64| size as f64 / ns * 1e9 / 1e6;
        let label = if size == 4096 { "4 KiB" } else { "1 MiB" };
        // SAFETY: buf is a live buffer of `size` bytes.
        let host_r = time_ns(iters, || unsafe {
            std::hint::black_box(libc::pread(hfd, buf.as_mut_ptr().cast(), size, 0));
        });
        let rump_r = time_ns(iters, || {
            std::hint::black_box(lx::rump_sys_pread64(&linux, rfd as u32, buf.as_mut_ptr().cast(), size, 0).unwrap());
        });
        row(&format!("pread {label}"), mbps(rump_r), mbps(host_r), "MB/s", "");
        // SAFETY: as above.
        let host_w = time_ns(iters, || unsafe {
            std::hint::black_box(libc::pwrite(hfd, buf.as_ptr().cast(), size, 0));
        });
        let rump_w = time_ns(iters, || {
            std::hint::black_box(lx::rump_sys_pwrite64(&linux, rfd as u32, buf.as_ptr().cast(), size, 0).unwrap());
        });
        row(&format!("pwrite {label}"), mbps(rump_w), mbps(host_w), "MB/s", "");
        // SAFETY: closing and removing our own file.
        unsafe {
            libc::close(hfd);
            libc::unlink(hpath.as_ptr());
        }
    }

    println!("-- boot: a fresh kernel vs a fresh host process (fork, _exit, waitpid) --");
    let boot = time_ns(200, || {
        std::hint::black_box(Kernel::boot(Config::default()).unwrap());
    });
    // SAFETY: the child only calls _exit; the parent reaps it.
    let spawn = time_ns(200, || unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(0);
        }
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    });
    row("Kernel::boot (tmpfs + devfs)", boot / 1000.0, spawn / 1000.0, "us", "host: fork+_exit+waitpid");
    // SAFETY: closing and removing our own file.
    unsafe {
        libc::close(hfd);
        libc::unlink(hpath.as_ptr());
    }
}
