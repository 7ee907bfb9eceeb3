//! The real `rump_server` and `rumpctl` binaries, started as a user would,
//! with Rust clients in this process and in child processes.
//!
//! A custom harness (no test threads): fork and exec scenarios need a
//! single-threaded process, and child roles re-run this binary with
//! `ROLE=...`. Each scenario prints its name and what it asserted.

use rump_abi::linux::errno::{EBADF, EFAULT, EINTR, ENOENT, ENOMEM, ENOSPC, ENOTCONN, ENXIO, EROFS};
use rump_abi::linux::sys::*;
use rumpclient::client::{Client, Retry};
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AT_FDCWD: i32 = -100;
const O_RDONLY: i32 = 0;
const O_WRONLY: i32 = 1;
const O_RDWR: i32 = 2;
const O_CREAT: i32 = 0o100;
const O_NONBLOCK: i32 = 0o4000;
const O_CLOEXEC: i32 = 0o2000000;

fn bin(name: &str) -> PathBuf {
    match name {
        "rump_server" => env!("CARGO_BIN_EXE_rump_server").into(),
        _ => env!("CARGO_BIN_EXE_rumpctl").into(),
    }
}

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("rump-server-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A foreground server and the URL it listens on (read from `-v`).
struct Served {
    child: Child,
    url: ServerUrl,
}

impl Served {
    fn start(url: &str, extra: &[&str]) -> Served {
        let mut child = Command::new(bin("rump_server"))
            .args(["-s", "-v"])
            .args(extra)
            .arg(url)
            .stderr(Stdio::piped())
            .spawn()
            .expect("rump_server runs");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let line = lines.next().expect("a start-up line").unwrap();
        let url = line.strip_prefix("rump_server: listening on ").unwrap_or_else(|| panic!("{line}"));
        let url = ServerUrl::parse(url).unwrap();
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Served { child, url }
    }

    fn client(&self, name: &str) -> Client {
        Client::connect(&self.url, Emulation::Linux, name).expect("connects")
    }

    fn halt(mut self) {
        let st = Command::new(bin("rumpctl")).args(["halt", "-s", &self.url.to_string()]).status().unwrap();
        assert!(st.success(), "rumpctl halt exits 0");
        assert!(self.child.wait().unwrap().success(), "the server exits 0 after a halt");
        if let ServerUrl::Unix(p) = &self.url {
            assert!(!p.exists(), "the socket file is gone");
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn c(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s).unwrap()
}

fn open(k: &Client, path: &str, flags: i32) -> Result<i64, rump_abi::Errno> {
    rump_sys_openat(k, AT_FDCWD, c(path).as_ptr(), flags, 0o644).map(|fd| fd as i64)
}

fn write_str(k: &Client, fd: i64, s: &str) {
    assert_eq!(rump_sys_write(k, fd as u32, s.as_ptr().cast(), s.len()), Ok(s.len() as isize));
}

fn read_str(k: &Client, fd: i64) -> Result<String, rump_abi::Errno> {
    let mut buf = [0u8; 256];
    let n = rump_sys_pread64(k, fd as u32, buf.as_mut_ptr().cast(), 256, 0)?;
    Ok(String::from_utf8_lossy(&buf[..n as usize]).into_owned())
}

/// Runs this binary as a child in `role` with `args`; returns its status.
fn role(role: &str, url: &ServerUrl, args: &[&str]) -> bool {
    Command::new(std::env::current_exe().unwrap())
        .env("ROLE", role)
        .env("RUMP_SERVER", url.to_string())
        .args(args)
        .status()
        .unwrap()
        .success()
}

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn file_calls_in_two_processes(url: &str) {
    let s = Served::start(url, &[]);
    assert!(role("write", &s.url, &["/shared", "from a child"]));
    let k = s.client("reader");
    let fd = open(&k, "/shared", O_RDONLY).unwrap();
    assert_eq!(read_str(&k, fd).unwrap(), "from a child");
    println!("  a file written by one client process is read by another ({url})");
    s.halt();
}

/// Data crossing between this process's buffers and the server's tmpfs
/// pages (in place over shared memory on a unix socket, marshaled over
/// tcp): lengths around a page and past the 1 MiB a server moves per copy,
/// at an unaligned offset, and a pointer to nothing.
fn large_transfers(url: &str) {
    let s = Served::start(url, &[]);
    let k = s.client("large");
    let fd = open(&k, "/large", O_RDWR | O_CREAT).unwrap() as u32;
    for len in [4095, 4097, (1 << 20) + 1, 8 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i * 13 + len) as u8).collect();
        assert_eq!(rump_sys_pwrite64(&k, fd, data.as_ptr().cast(), len, 3), Ok(len as isize));
        let mut back = vec![0u8; len + 1];
        assert_eq!(rump_sys_pread64(&k, fd, back.as_mut_ptr().cast(), len + 1, 3), Ok(len as isize));
        assert!(back[..len] == data[..], "{len} bytes read back over {url}");
    }
    let nowhere = 0x1000 as *mut std::ffi::c_char;
    assert_eq!(rump_sys_pread64(&k, fd, nowhere, 1 << 20, 0), Err(EFAULT));
    assert_eq!(rump_sys_pwrite64(&k, fd, nowhere, 1 << 20, 0), Err(EFAULT));
    println!("  up to 8 MiB in one call, and EFAULT for a bad pointer ({url})");
    s.halt();
}

fn sixty_four_threads_on_pipes(url: &str) {
    let s = Served::start(url, &[]);
    let k = Arc::new(s.client("threads"));
    let mut threads = Vec::new();
    for i in 0..32 {
        let mut fds = [0i32; 2];
        rump_sys_pipe2(&*k, fds.as_mut_ptr(), 0).unwrap();
        let r = k.clone();
        threads.push(std::thread::spawn(move || {
            let mut buf = [0u8; 8];
            let n = rump_sys_read(&*r, fds[0] as u32, buf.as_mut_ptr().cast(), 8).unwrap();
            assert_eq!(&buf[..n as usize], format!("p{i:02}").as_bytes());
        }));
        let w = k.clone();
        threads.push(std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let msg = format!("p{i:02}");
            rump_sys_write(&*w, fds[1] as u32, msg.as_ptr().cast(), msg.len()).unwrap();
        }));
    }
    threads.into_iter().for_each(|t| t.join().unwrap());
    println!("  64 threads of one client blocked in pipe reads and writes, no deadlock ({url})");
    s.halt();
}

fn fork_child_sees_parent_fds(s: &Served) {
    let k = s.client("forker");
    let fd = open(&k, "/forked", O_RDWR | O_CREAT).unwrap();
    write_str(&k, fd, "inherited");
    let cookie = k.prefork().unwrap();
    // SAFETY: this harness is single-threaded here; the child only makes
    // calls of its own and exits.
    match unsafe { libc::fork() } {
        0 => {
            let ok = match k.connect_forked(cookie, false) {
                Ok(Some(child)) => read_str(&child, fd).as_deref() == Ok("inherited"),
                _ => false,
            };
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        pid => {
            let mut st = 0;
            unsafe { libc::waitpid(pid, &mut st, 0) };
            assert_eq!(st, 0, "the forked child read its parent's fd");
        }
    }
    // A cancelled prefork (the host fork failed) is dropped by the server.
    let cookie = k.prefork().unwrap();
    assert!(k.connect_forked(cookie, true).unwrap().is_none());
    assert!(k.connect_forked(cookie, false).is_err(), "a used cookie is refused");
    println!("  a child of fork (PREFORK + FORK handshake) reads its parent's fd; cookies are single-use");
}

fn exec_keeps_fds_and_closes_cloexec(s: &Served) {
    assert!(role("exec", &s.url, &[]), "exec scenario");
    println!("  across exec the connection survives, fds stay, O_CLOEXEC fds close");
}

fn killed_client_frees_its_fds(s: &Served) {
    let k = s.client("watcher");
    rump_sys_mknodat(&k, AT_FDCWD, c("/fifo").as_ptr(), 0o10600, 0).unwrap();
    let mut blocker = Command::new(std::env::current_exe().unwrap())
        .env("ROLE", "block")
        .env("RUMP_SERVER", s.url.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = [0u8; 1];
    blocker.stdout.take().unwrap().read_exact(&mut ready).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    // While it blocks in read, it holds the FIFO's only reader.
    let w = open(&k, "/fifo", O_WRONLY | O_NONBLOCK).expect("a reader exists");
    rump_sys_close(&k, w as u32).unwrap();
    blocker.kill().unwrap();
    blocker.wait().unwrap();
    until("the killed client's fds close", || open(&k, "/fifo", O_WRONLY | O_NONBLOCK) == Err(ENXIO));
    println!("  killing a client blocked mid-call closes its fds (its FIFO reader is gone: ENXIO)");
}

/// Connects by hand, reads the banner, sends `bytes`, expects the
/// connection to end (after an ERROR frame or not).
fn rejected(path: &Path, bytes: &[u8]) {
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    let mut byte = [0u8];
    while byte[0] != b'\n' {
        s.read_exact(&mut byte).unwrap();
    }
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut reply = Vec::new();
    match s.read_to_end(&mut reply) {
        Ok(_) if reply.is_empty() => {}
        Ok(_) => assert_eq!(u16::from_ne_bytes([reply[16], reply[17]]), 2, "an ERROR frame"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

fn header(len: u64, class: u16, ty: u16, value: u32) -> Vec<u8> {
    [&len.to_ne_bytes()[..], &7u64.to_ne_bytes(), &class.to_ne_bytes(), &ty.to_ne_bytes(), &value.to_ne_bytes()]
        .concat()
}

fn bad_input_hurts_one_connection(s: &Served) {
    let ServerUrl::Unix(path) = &s.url else { unreachable!() };
    let k = s.client("bystander");
    let fd = open(&k, "/bystander", O_RDWR | O_CREAT).unwrap();
    let alive = || write_str(&k, fd, "x");
    rejected(path, b"this is not a frame at all, definitely not");
    alive();
    rejected(path, &header(1 << 40, 0, 0, 0));
    alive();
    let mut truncated = header(100, 0, 0, 0);
    truncated.extend_from_slice(b"short");
    rejected(path, &truncated);
    alive();
    // Bad pointers: a NULL and a kernel-half buffer, shipped or reached by
    // COPYOUT (sysctl's oldp is not annotated), are EFAULT; nothing dies.
    // (At offset 0, where there are bytes to copy.)
    assert_eq!(rump_sys_pread64(&k, fd as u32, std::ptr::null_mut(), 4, 0), Err(EFAULT));
    let kernel_half = 0xffff_8000_0000_0000usize as *mut libc::c_void;
    assert_eq!(rump_sys_pread64(&k, fd as u32, kernel_half.cast(), 4, 0), Err(EFAULT));
    let native = Client::connect(&s.url, Emulation::Native, "sysctl").unwrap();
    let mib = [1i32, 10];
    let mut len = 64usize;
    let r =
        rump_abi::native::sys::rump_sys___sysctl(&native, mib.as_ptr(), 2, kernel_half, &mut len, std::ptr::null(), 0);
    assert_eq!(r, Err(rump_abi::native::errno::EFAULT));
    let r = rump_abi::native::sys::rump_sys___sysctl(
        &native,
        mib.as_ptr(),
        2,
        0x1000 as *mut _,
        &mut len,
        std::ptr::null(),
        0,
    );
    assert_eq!(r, Err(rump_abi::native::errno::EFAULT));
    alive();
    println!(
        "  garbage, a 1 TiB claim, a truncated frame: that connection closes; bad pointers: EFAULT; others carry on"
    );
}

extern "C" fn on_signal(_: libc::c_int) {}

fn signals_interrupt_remote_calls(s: &Served) {
    let k = Arc::new(s.client("signalled"));
    let mut fds = [0i32; 2];
    rump_sys_pipe2(&*k, fds.as_mut_ptr(), 0).unwrap();
    for restart in [false, true] {
        // SAFETY: installing a handler that does nothing.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
            libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
        }
        let r = k.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            tx.send(unsafe { libc::pthread_self() }).unwrap();
            let mut b = [0u8; 4];
            rump_sys_read(&*r, fds[0] as u32, b.as_mut_ptr().cast(), 4)
        });
        let tid = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        unsafe { libc::pthread_kill(tid, libc::SIGUSR1) };
        if restart {
            std::thread::sleep(Duration::from_millis(50));
            write_str(&k, fds[1] as i64, "late");
            assert_eq!(t.join().unwrap(), Ok(4), "SA_RESTART: the read goes on and completes");
        } else {
            assert_eq!(t.join().unwrap(), Err(EINTR), "no SA_RESTART: EINTR");
        }
    }
    println!("  a signal interrupts a blocked remote read with EINTR; with SA_RESTART the read completes");
}

fn limits_and_drives(dir: &Path) {
    let host = dir.join("disk.img");
    std::fs::write(&host, b"bytes on the host").unwrap();
    let spec = format!("key=/images/disk,hostpath={},size=host,type=reg", host.display());
    let s = Served::start(
        &format!("unix://{}/limits", dir.display()),
        &["-r", "1m", "-c", "2", "-d", &spec, "-l", "rumpnet_shmif"],
    );
    let k = s.client("limited");
    let fd = open(&k, "/images/disk", O_RDONLY).unwrap();
    assert_eq!(read_str(&k, fd).unwrap(), "bytes on the host");
    let big = open(&k, "/big", O_WRONLY | O_CREAT).unwrap();
    // Each request's payload is charged to the budget while it is handled,
    // so the file fills in smaller and smaller writes to the last bytes.
    let mut chunk = vec![7u8; 256 << 10];
    let mut wrote = 0;
    let err = loop {
        match rump_sys_write(&k, big as u32, chunk.as_ptr().cast(), chunk.len()) {
            Ok(n) => wrote += n as usize,
            Err(e) if chunk.len() > 4096 => {
                assert_eq!(e, ENOSPC);
                chunk.truncate(chunk.len() / 2);
            }
            Err(e) => break e,
        }
        assert!(wrote <= 1 << 20, "the 1 MiB budget holds");
    };
    assert_eq!(err, ENOSPC);
    let mut fds = [0i32; 2];
    assert_eq!(rump_sys_pipe2(&k, fds.as_mut_ptr(), 0), Err(ENOMEM), "no memory left for a pipe");
    rump_sys_ftruncate(&k, big as u32, 0).unwrap();
    assert_eq!(rump_sys_pipe2(&k, fds.as_mut_ptr(), 0), Ok(0), "freed memory is usable again");
    println!("  -d puts a host file at /images/disk; -r 1m: {wrote} bytes then ENOSPC, pipe2 ENOMEM until freed");
    s.halt();
}

fn host_directories(dir: &Path) {
    let share = dir.join("share");
    std::fs::create_dir_all(&share).unwrap();
    std::fs::write(share.join("file"), b"shared by the host").unwrap();
    let (ro, rw) = (format!("{}:/ro:ro", share.display()), format!("{}:/mnt/rw", share.display()));
    let s = Served::start(&format!("unix://{}/hostfs", dir.display()), &["-m", &ro, "-m", &rw]);
    let k = s.client("hostfs");
    let fd = open(&k, "/ro/file", O_RDONLY).unwrap();
    assert_eq!(read_str(&k, fd).unwrap(), "shared by the host");
    assert_eq!(open(&k, "/ro/new", O_WRONLY | O_CREAT), Err(EROFS));
    let fd = open(&k, "/mnt/rw/new", O_WRONLY | O_CREAT).unwrap();
    write_str(&k, fd, "made by a client");
    assert_eq!(std::fs::read(share.join("new")).unwrap(), b"made by a client");
    println!("  -m shows a host directory at a kernel path, read-only with :ro; a client's file lands on the host");
    s.halt();
}

fn start_stop_and_errors(dir: &Path) {
    let sock = dir.join("daemon");
    let url = format!("unix://{}", sock.display());
    let st = Command::new(bin("rump_server")).arg(&url).status().unwrap();
    assert!(st.success(), "the daemonizing parent exits 0");
    // Accepting already: no waiting.
    let k = Client::connect(&ServerUrl::parse(&url).unwrap(), Emulation::Linux, "first").expect("accepting at once");
    drop(k);
    let out = Command::new(bin("rump_server")).args(["-s", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(msg.contains("already exists"), "{msg}");
    let out = Command::new(bin("rump_server")).arg(&url).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a daemonizing second server reports the failure too");
    let st = Command::new(bin("rumpctl")).args(["halt", "-s", &url]).status().unwrap();
    assert!(st.success());
    until("the socket file is removed", || !sock.exists());
    let missing = format!("{}/missing:/m", dir.display());
    // A bad command line is a usage error (2); a good one that cannot be
    // carried out is a failure (1). Either way one line says why.
    for (bad, status) in [
        (vec!["http://x"], 2),
        (vec!["-x", "unix://y"], 2),
        (vec!["-l", "rumpfoo", "unix://y"], 2),
        (vec!["-d", "key=/a", "unix://y"], 2),
        (vec!["-m", "nocolon", "unix://y"], 2),
        (vec!["-s", "-m", &missing, "unix://y"], 1),
    ] {
        let out = Command::new(bin("rump_server")).args(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(status), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("rump_server: ") && err.lines().count() == 1, "{bad:?}: {err}");
    }
    println!("  daemonized start accepts at once; a second server on the path fails with a clear message; bad options exit 2");
}

fn sysctl_and_signals(dir: &Path) {
    let s = Served::start(&format!("unix://{}/ctl", dir.display()), &["-c", "3"]);
    let u = s.url.to_string();
    let ctl = |args: &[&str]| Command::new(bin("rumpctl")).args(args).output().unwrap();
    let out = ctl(&["sysctl", "-s", &u, "kern.hostname", "kern.ostype", "hw.ncpu"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kern.hostname = rump\nkern.ostype = NetBSD\nhw.ncpu = 3\n");
    let out = ctl(&["sysctl", "-s", &u, "-w", "kern.hostname=box"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kern.hostname: rump -> box\n");
    let out = Command::new(bin("rumpctl")).args(["sysctl", "kern.hostname"]).env("RUMP_SERVER", &u).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kern.hostname = box\n", "RUMP_SERVER names the server");
    let out = ctl(&["sysctl", "-s", &u, "-w", "kern.ostype=x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"));
    // SIGTERM halts cleanly too.
    let ServerUrl::Unix(path) = s.url.clone() else { unreachable!() };
    let mut s = s;
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    assert!(s.child.wait().unwrap().success(), "SIGTERM: exit 0");
    assert!(!path.exists(), "SIGTERM: the socket file is removed");
    println!(
        "  rumpctl sysctl reads and writes kern.hostname, reads kern.ostype and hw.ncpu; SIGTERM halts and cleans up"
    );
}

/// One server, several URLs: a kernel at each, apart from one another;
/// a reboot call halts its own kernel only, and the server exits when
/// none is left (or at SIGTERM).
fn several_kernels_in_one_server(dir: &Path) {
    let socks = [dir.join("k1"), dir.join("k2"), dir.join("k3")];
    let urls: Vec<String> = socks.iter().map(|p| format!("unix://{}", p.display())).collect();
    let mut child =
        Command::new(bin("rump_server")).args(["-s", "-v"]).args(&urls).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for u in &urls {
        assert_eq!(lines.next().unwrap().unwrap(), format!("rump_server: listening on {u}"));
    }
    std::thread::spawn(move || lines.for_each(drop));
    let k: Vec<Client> = urls
        .iter()
        .map(|u| Client::connect(&ServerUrl::parse(u).unwrap(), Emulation::Linux, "several").unwrap())
        .collect();
    let fd = open(&k[0], "/only-in-k1", O_CREAT | O_WRONLY).unwrap();
    write_str(&k[0], fd, "k1's");
    assert_eq!(open(&k[1], "/only-in-k1", O_RDONLY), Err(ENOENT), "each URL has a kernel of its own");
    let st = Command::new(bin("rumpctl")).args(["halt", "-s", &urls[0]]).status().unwrap();
    assert!(st.success());
    until("the halted kernel's socket goes", || !socks[0].exists());
    assert!(rump_sys_getpid(&k[1]).is_ok(), "the others still serve");
    assert!(child.try_wait().unwrap().is_none(), "the server still runs");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success(), "SIGTERM: exit 0");
    assert!(socks.iter().all(|p| !p.exists()), "SIGTERM: every socket file is removed");
    let out = Command::new(bin("rump_server"))
        .args(["-s", "-i", "shmif0 create linkstr /tmp/nobus"])
        .args(&urls[..2])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("-d and -i need a single URL"), "{err}");
    println!("  several URLs: a kernel at each, halted one by one; -i with several is refused");
}

fn reconnect_policy(dir: &Path) {
    let url = format!("unix://{}/retry", dir.display());
    let s = Served::start(&url, &[]);
    let never = s.client("never");
    let retrying = s.client("retrying").with_retry(Retry::For(Duration::from_secs(10)));
    s.halt();
    assert_eq!(rump_sys_getpid(&never), Err(ENOTCONN));
    let again = Served::start(&url, &[]);
    assert!(rump_sys_getpid(&retrying).is_ok(), "reconnected to the new server");
    assert_eq!(Retry::parse("inftime"), Ok(Retry::Forever));
    assert!(Retry::parse("soon").unwrap_err().to_string().contains("RUMPHIJACK_RETRYCONNECT"));
    println!("  a lost server is ENOTCONN by default; with a retry policy the client reconnects");
    again.halt();
}

fn run_role(role: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match role {
        "write" => {
            let k = Client::from_env(Emulation::Linux, "writer").unwrap();
            let fd = open(&k, &args[0], O_WRONLY | O_CREAT).unwrap();
            write_str(&k, fd, &args[1]);
            true
        }
        "block" => {
            let k = Client::from_env(Emulation::Linux, "blocker").unwrap();
            let fd = open(&k, "/fifo", O_RDWR).unwrap();
            std::io::stdout().write_all(b"r").unwrap();
            std::io::stdout().flush().unwrap();
            let mut b = [0u8; 1];
            let _ = rump_sys_read(&k, fd as u32, b.as_mut_ptr().cast(), 1);
            false
        }
        "exec" => {
            let k = Client::from_env(Emulation::Linux, "before-exec").unwrap();
            let keep = open(&k, "/kept", O_RDWR | O_CREAT).unwrap();
            write_str(&k, keep, "kept");
            let gone = open(&k, "/kept", O_RDONLY | O_CLOEXEC).unwrap();
            let env = k.exec_env().unwrap();
            let err = Command::new(std::env::current_exe().unwrap())
                .env("ROLE", "after-exec")
                .envs(env)
                .args([keep.to_string(), gone.to_string()])
                .exec();
            panic!("exec failed: {err}");
        }
        "after-exec" => {
            let k = Client::resume_after_exec("after-exec").unwrap().expect("exec'd by a client");
            let keep: i64 = args[0].parse().unwrap();
            let gone: i64 = args[1].parse().unwrap();
            read_str(&k, keep).as_deref() == Ok("kept") && read_str(&k, gone) == Err(EBADF)
        }
        other => panic!("unknown role {other}"),
    }
}

/// A number field of /proc/PID/status (kB for sizes).
fn status_number(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The names of a process's threads.
fn thread_names(pid: u32) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|n| n.trim().into())
        .collect()
}

fn at_rest_it_lets_go_of_its_text_and_still_serves(dir: &Path) {
    let s = Served::start(&format!("unix://{}/rest", dir.display()), &[]);
    let pid = s.child.id();
    let k = s.client("rest");
    let fd = open(&k, "/kept", O_RDWR | O_CREAT).unwrap();
    write_str(&k, fd, "written before the rest");
    let busy_text = status_number(pid, "RssFile:");
    // The thread names itself once it runs, a moment after the call.
    let watchdog = || thread_names(pid).iter().any(|n| n == "rump-watchdog");
    until("a call starts the watchdog", watchdog);
    until("the server at rest lets go of its text", || status_number(pid, "RssFile:") < busy_text / 2);
    assert!(!thread_names(pid).iter().any(|n| n == "rump-watchdog"), "no watchdog at rest");
    println!("  at rest: program and library text mapped {busy_text} kB -> {} kB", status_number(pid, "RssFile:"));
    assert_eq!(read_str(&k, fd).as_deref(), Ok("written before the rest"), "the same client is served after the rest");
    let other = s.client("after-rest");
    assert_eq!(read_str(&other, open(&other, "/kept", O_RDONLY).unwrap()).as_deref(), Ok("written before the rest"));
    until("the next call starts the watchdog again", watchdog);
    println!("  the same client and a new one are served after it; the watchdog is back with the calls");
    s.halt();
}

fn main() {
    if let Ok(r) = std::env::var("ROLE") {
        std::process::exit(if run_role(&r) { 0 } else { 1 });
    }
    let dir = scratch();
    let unix = format!("unix://{}/main", dir.display());
    println!("rump_server, started as a user would:");
    file_calls_in_two_processes(&unix);
    file_calls_in_two_processes("tcp://127.0.0.1:0");
    file_calls_in_two_processes("tcp://[::1]:0");
    large_transfers(&unix);
    large_transfers("tcp://127.0.0.1:0");
    sixty_four_threads_on_pipes(&unix);
    sixty_four_threads_on_pipes("tcp://127.0.0.1:0");
    let s = Served::start(&unix, &[]);
    fork_child_sees_parent_fds(&s);
    exec_keeps_fds_and_closes_cloexec(&s);
    killed_client_frees_its_fds(&s);
    bad_input_hurts_one_connection(&s);
    signals_interrupt_remote_calls(&s);
    s.halt();
    limits_and_drives(&dir);
    host_directories(&dir);
    start_stop_and_errors(&dir);
    sysctl_and_signals(&dir);
    reconnect_policy(&dir);
    several_kernels_in_one_server(&dir);
    at_rest_it_lets_go_of_its_text_and_still_serves(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    println!("all rump_server scenarios passed");
}
