//! The transport under a client's calls, shared memory by default and the
//! socket with `RUMP_TRANSPORT=socket` (run this file both ways): fork,
//! exec, signals in the middle of a call, a client or a server killed, and
//! many threads at once.

mod support;

use rump_abi::linux::errno::{EBADF, EINTR, ENOTCONN};
use rump_abi::linux::sys::*;
use rump_kernel::{Config, Kernel};
use rumpclient::client::Client;
use rumpclient::policy::Policy;
use rumpclient::server::Server;
use rumpclient::transport::shm;
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{start, tempdir};

const AT_FDCWD: i32 = -100;
const O_RDWR_CREAT: i32 = 0o102;
const O_CLOEXEC: i32 = 0o2000000;

fn connect(url: &ServerUrl, name: &str) -> Client {
    let c = Client::connect(url, Emulation::Linux, name).unwrap();
    assert_eq!(c.shares_memory(), shm::wanted(), "the transport RUMP_TRANSPORT asks for");
    c
}

fn open(c: &Client, path: &str, flags: i32) -> u32 {
    let p = format!("{path}\0");
    rump_sys_openat(c, AT_FDCWD, p.as_ptr().cast(), flags, 0o644).unwrap() as u32
}

fn write(c: &Client, fd: u32, data: &[u8]) {
    assert_eq!(rump_sys_write(c, fd, data.as_ptr().cast(), data.len()), Ok(data.len() as isize));
}

fn contents(c: &Client, path: &str) -> Vec<u8> {
    let fd = open(c, path, 0);
    let mut buf = vec![0u8; 4096];
    let n = rump_sys_pread64(c, fd, buf.as_mut_ptr().cast(), buf.len(), 0).unwrap();
    rump_sys_close(c, fd).unwrap();
    buf.truncate(n as usize);
    buf
}

fn pipe(c: &Client) -> [u32; 2] {
    let mut fds = [0i32; 2];
    rump_sys_pipe2(c, fds.as_mut_ptr(), 0).unwrap();
    [fds[0] as u32, fds[1] as u32]
}

/// Runs this test binary's ignored test `name` in a new process with `env`.
fn helper(name: &str, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"]);
    cmd.envs(env.iter().map(|(k, v)| (k, v))).stdout(Stdio::null());
    cmd
}

#[test]
fn a_forked_child_gets_a_channel_of_its_own() {
    let srv = start();
    let c = connect(&srv.url, "parent");
    let fd = open(&c, "/forked", O_RDWR_CREAT);
    write(&c, fd, b"parent ");
    let parent = rump_sys_getpid(&c).unwrap();
    let cookie = c.prefork().unwrap();
    // SAFETY: the child only makes calls and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let ok = (|| {
            let k = c.connect_forked(cookie, false).ok()??;
            // The parent's fd is the child's too, through its own channel.
            let ok = k.shares_memory() == shm::wanted()
                && rump_sys_write(&k, fd, b"child ".as_ptr().cast(), 6) == Ok(6)
                && rump_sys_getpid(&k).is_ok_and(|p| p != parent);
            Some(ok)
        })();
        unsafe { libc::_exit(if ok == Some(true) { 0 } else { 1 }) };
    }
    // The parent goes on calling while the child runs.
    for _ in 0..100 {
        rump_sys_getpid(&c).unwrap();
    }
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert_eq!(status, 0, "the child's calls failed");
    write(&c, fd, b"again");
    assert_eq!(contents(&c, "/forked"), b"parent child again");
}

#[test]
fn an_execd_image_resumes_the_connection_with_a_new_channel() {
    let srv = start();
    // The client must be the process that execs, as under the hijack.
    // SAFETY: the child connects, then execs or leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let c = connect(&srv.url, "before-exec");
        let keep = open(&c, "/execd", O_RDWR_CREAT);
        write(&c, keep, b"before ");
        let gone = open(&c, "/execd", O_CLOEXEC);
        let mut env = c.exec_env().unwrap();
        env.push(("TRANSPORT_TEST_FDS".into(), format!("{keep},{gone}")));
        let err = std::os::unix::process::CommandExt::exec(&mut helper("exec_helper", &env));
        eprintln!("exec: {err}");
        unsafe { libc::_exit(2) };
    }
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert_eq!(status, 0, "the exec'd image failed");
    let other = connect(&srv.url, "checker");
    assert_eq!(contents(&other, "/execd"), b"before after");
}

/// The image `an_execd_image_resumes_the_connection_with_a_new_channel`
/// runs.
#[test]
#[ignore = "run by an_execd_image_resumes_the_connection_with_a_new_channel"]
fn exec_helper() {
    let c = Client::resume_after_exec("after-exec").unwrap().expect("a connection to resume");
    assert_eq!(c.shares_memory(), shm::wanted());
    let fds = std::env::var("TRANSPORT_TEST_FDS").unwrap();
    let (keep, gone) = fds.split_once(',').unwrap();
    let (keep, gone): (u32, u32) = (keep.parse().unwrap(), gone.parse().unwrap());
    write(&c, keep, b"after");
    let mut byte = [0u8];
    assert_eq!(rump_sys_read(&c, gone, byte.as_mut_ptr().cast(), 1), Err(EBADF), "close-on-exec fd still open");
}

extern "C" fn on_signal(_: libc::c_int) {}

/// Installs `on_signal` for `sig`, with `flags`.
fn catch(sig: libc::c_int, flags: libc::c_int) {
    // SAFETY: a handler that does nothing, installed with a zeroed mask.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = flags;
        assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0);
    }
}

/// Starts a thread blocked reading `fd`, and returns it with its pthread.
fn blocked_reader(
    c: &Arc<Client>,
    fd: u32,
) -> (std::thread::JoinHandle<Result<isize, rump_abi::Errno>>, libc::pthread_t) {
    let (tx, rx) = std::sync::mpsc::channel();
    let c = c.clone();
    let t = std::thread::spawn(move || {
        // SAFETY: pthread_self cannot fail.
        tx.send(unsafe { libc::pthread_self() }).unwrap();
        let mut buf = [0u8; 8];
        rump_sys_read(&*c, fd, buf.as_mut_ptr().cast(), buf.len())
    });
    let thread = rx.recv().unwrap();
    // Long enough for the read to be asleep in the kernel.
    std::thread::sleep(Duration::from_millis(200));
    (t, thread)
}

#[test]
fn a_signal_interrupts_a_remote_call_unless_it_restarts() {
    let srv = start();
    let c = Arc::new(connect(&srv.url, "signals"));
    let [r, w] = pipe(&c);
    catch(libc::SIGUSR1, 0);
    let (t, thread) = blocked_reader(&c, r);
    // SAFETY: the thread is alive until joined.
    unsafe { libc::pthread_kill(thread, libc::SIGUSR1) };
    assert_eq!(t.join().unwrap(), Err(EINTR));

    catch(libc::SIGUSR2, libc::SA_RESTART);
    let (t, thread) = blocked_reader(&c, r);
    // SAFETY: as above.
    unsafe { libc::pthread_kill(thread, libc::SIGUSR2) };
    std::thread::sleep(Duration::from_millis(100));
    write(&c, w, b"x");
    assert_eq!(t.join().unwrap(), Ok(1), "SA_RESTART: the read goes on");
}

#[test]
fn a_killed_client_in_a_call_is_noticed_and_its_fds_close() {
    let srv = start();
    let c = connect(&srv.url, "survivor");
    let [r, w] = pipe(&c);
    let [never, _keep] = pipe(&c);
    let cookie = c.prefork().unwrap();
    // SAFETY: the child only makes calls until it is killed.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        if let Ok(Some(k)) = c.connect_forked(cookie, false) {
            let mut byte = [0u8];
            // Blocks for good, holding the write end of `r`.
            let _ = rump_sys_read(&k, never, byte.as_mut_ptr().cast(), 1);
        }
        unsafe { libc::_exit(1) };
    }
    rump_sys_close(&c, w).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: our child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    // Once the server sees the child gone, its copy of `w` closes: EOF.
    let mut pfd = rump_abi::linux::types::pollfd { fd: r as i32, events: libc::POLLIN, revents: 0 };
    assert_eq!(rump_sys_poll(&c, &mut pfd, 1, 5000), Ok(1), "the dead child's fds never closed");
    let mut byte = [0u8];
    assert_eq!(rump_sys_read(&c, r, byte.as_mut_ptr().cast(), 1), Ok(0));
}

#[test]
fn a_killed_server_is_enotconn_within_a_second() {
    let dir = tempdir::Dir::new();
    let path = dir.0.join("sock");
    let env = [("TRANSPORT_TEST_SERVER".to_string(), path.display().to_string())];
    let mut server = helper("server_helper", &env).spawn().unwrap();
    let url = ServerUrl::Unix(path.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    let c = loop {
        match Client::connect(&url, Emulation::Linux, "orphan") {
            Ok(c) => break Arc::new(c),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("the server never answered: {e}"),
        }
    };
    assert_eq!(c.shares_memory(), shm::wanted());
    let [r, _w] = pipe(&c);
    let (t, _) = blocked_reader(&c, r);
    let killed = Instant::now();
    server.kill().unwrap();
    assert_eq!(t.join().unwrap(), Err(ENOTCONN));
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(1), "ENOTCONN after {took:?}");
    assert_eq!(rump_sys_getpid(&*c), Err(ENOTCONN));
    server.wait().unwrap();
}

/// The server `a_killed_server_is_enotconn_within_a_second` kills.
#[test]
#[ignore = "run by a_killed_server_is_enotconn_within_a_second"]
fn server_helper() {
    let path = std::env::var("TRANSPORT_TEST_SERVER").unwrap();
    let url = ServerUrl::Unix(path.into());
    let _server = Server::start(Kernel::boot(Config::default()).unwrap(), &url, Policy::default()).unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

#[test]
fn sixty_four_threads_make_ten_thousand_calls_each() {
    const THREADS: usize = 64;
    const CALLS: usize = 10_000;
    let srv = start();
    let c = Arc::new(connect(&srv.url, "threads"));
    let fd = open(&c, "/threads", O_RDWR_CREAT);
    let pid = rump_sys_getpid(&*c).unwrap();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                let off = (t * 8) as i64;
                for i in 0..CALLS {
                    let mine = ((t * CALLS + i) as u64).to_ne_bytes();
                    if i % 2 == 0 {
                        assert_eq!(rump_sys_getpid(&*c), Ok(pid));
                        continue;
                    }
                    assert_eq!(rump_sys_pwrite64(&*c, fd, mine.as_ptr().cast(), 8, off), Ok(8));
                    let mut back = [0u8; 8];
                    assert_eq!(rump_sys_pread64(&*c, fd, back.as_mut_ptr().cast(), 8, off), Ok(8));
                    assert_eq!(back, mine, "thread {t} call {i} read another thread's bytes");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}
