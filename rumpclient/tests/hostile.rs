//! A server facing strangers: connections that never handshake, frames
//! too big to be honest before the handshake, a dead server's socket file,
//! and `tcp://` clients with and without the key. Each used to wedge or
//! fool the server (issue 19); a well-behaved client must still be served.

mod support;

use rump_abi::linux::sys::rump_sys_getpid;
use rump_kernel::{Config, Kernel};
use rumpclient::auth::{Key, ENV_KEY};
use rumpclient::client::Client;
use rumpclient::policy::Policy;
use rumpclient::server::Server;
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rump-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn serve(url: &ServerUrl, policy: Policy) -> Server {
    Server::start(Kernel::boot(Config::default()).unwrap(), url, policy).unwrap()
}

fn served(url: &ServerUrl) -> bool {
    Client::connect(url, Emulation::Linux, "bystander").is_ok_and(|c| rump_sys_getpid(&c).is_ok())
}

/// `served`, giving up after 5 s (a wedged server never answers).
fn served_soon(url: &ServerUrl) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let url = url.clone();
    std::thread::spawn(move || {
        let _ = tx.send(served(&url));
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap_or(false)
}

#[test]
fn connections_that_never_handshake_do_not_lock_clients_out() {
    let dir = scratch("idle");
    let url = ServerUrl::Unix(dir.join("sock"));
    // A deadline far away: only making room lets a newcomer in.
    let policy = Policy { max_pending: 8, handshake_timeout: Duration::from_secs(60), ..Policy::default() };
    let _server = serve(&url, policy);
    let ServerUrl::Unix(path) = &url else { unreachable!() };
    // More idle connections than there are pending slots, all held open.
    let idle: Vec<UnixStream> = (0..32).filter_map(|_| UnixStream::connect(path).ok()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    assert!(served_soon(&url), "a client was locked out");
    assert!(start.elapsed() < Duration::from_secs(2), "served only after {:?}", start.elapsed());
    // The idle ones that were accepted were closed to make room, not kept.
    let closed = idle
        .into_iter()
        .filter(|s| {
            s.set_nonblocking(true).unwrap();
            let mut rest = Vec::new();
            (&*s).read_to_end(&mut rest).is_ok()
        })
        .count();
    assert!(closed >= 8, "only {closed} idle connections were closed");
}

#[test]
fn a_big_frame_before_the_handshake_is_refused_unread() {
    let dir = scratch("big");
    let url = ServerUrl::Unix(dir.join("sock"));
    let _server = serve(&url, Policy::default());
    let ServerUrl::Unix(path) = &url else { unreachable!() };
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    head.extend_from_slice(&((64u64 << 20) + 24).to_ne_bytes());
    head.extend_from_slice(&[0u8; 16]);
    s.write_all(&head).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    // The banner, then an ERROR frame, then the close: nothing was waited for.
    let banner_end = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(reply.len() - banner_end, 24, "one ERROR frame");
    assert!(served(&url));
}

#[test]
fn a_dead_servers_socket_is_replaced_and_a_live_one_is_not() {
    let dir = scratch("stale");
    let path = dir.join("sock");
    // What a SIGKILLed server leaves: a socket file nobody listens on.
    drop(UnixListener::bind(&path).unwrap());
    let url = ServerUrl::Unix(path);
    let server = serve(&url, Policy::default());
    assert!(served(&url));
    let again = Server::start(Kernel::boot(Config::default()).unwrap(), &url, Policy::default());
    assert!(again.is_err_and(|e| e.to_string().contains("already exists")));
    drop(server);
}

/// Both tcp cases in one test: they set `RUMP_SERVER_KEY`.
#[test]
fn tcp_clients_need_the_key() {
    let dir = scratch("tcp");
    let key_path = dir.join("server.key");
    let policy = Policy { key: Some(Key::read_or_create(&key_path).unwrap()), ..Policy::default() };
    let server = serve(&ServerUrl::parse("tcp://127.0.0.1:0").unwrap(), policy);
    let url = server.url().clone();
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key_path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    std::env::set_var(ENV_KEY, &key_path);
    let c = Client::connect(&url, Emulation::Linux, "friend");
    assert!(c.as_ref().is_ok_and(|c| rump_sys_getpid(c).is_ok()), "{:?}", c.err());

    let wrong = dir.join("wrong.key");
    Key::read_or_create(&wrong).unwrap();
    std::env::set_var(ENV_KEY, &wrong);
    let err = Client::connect(&url, Emulation::Linux, "stranger").err().unwrap();
    assert!(err.to_string().contains("refused our key"), "{err}");

    std::env::set_var(ENV_KEY, dir.join("missing.key"));
    let err = Client::connect(&url, Emulation::Linux, "stranger").err().unwrap();
    assert!(err.to_string().contains("needs its key"), "{err}");

    // A raw stranger that answers nothing is cut off, and never gets a frame in.
    let ServerUrl::Tcp(addr) = url else { unreachable!() };
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(&[0u8; 32]).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    assert_eq!(reply.last(), Some(&0), "the refusal byte ends the connection");
    std::env::set_var(ENV_KEY, &key_path);
    assert!(served(&url));
}

/// A raw Linux guest whose `openat` (a plain SYSCALL) makes the server
/// ask it for the path; the request is left unanswered.
fn caller_owing_a_copy(url: &ServerUrl) -> rumpclient::sock::Conn {
    use rumpclient::frame::{read_frame, write_frame};
    use rumpclient::{Class, MsgType};
    let c = support::raw_guest(url, "silent");
    let args: Vec<u8> = [(-100i64) as u64, 0x1000, 0, 0].iter().flat_map(|a| a.to_ne_bytes()).collect();
    write_frame(&mut &c, 1, Class::Req, MsgType::Syscall, 257, &args).unwrap();
    let request = read_frame(&mut &c).unwrap().unwrap();
    assert_eq!(request.header.msg_type, MsgType::Copyinstr);
    c
}

/// A client that never answers the server's copy request for its call
/// loses its connection after the copy timeout; that used to deadlock the
/// whole server (the timed-out call, holding the kernel, took it again to
/// cancel the connection's calls).
#[test]
fn a_client_that_never_answers_a_copy_request_wedges_nobody() {
    let dir = scratch("copy");
    let url = ServerUrl::Unix(dir.join("sock"));
    let _server = serve(&url, Policy { copy_timeout: Duration::from_millis(200), ..Policy::default() });
    let _silent = caller_owing_a_copy(&url);
    assert!(served_soon(&url), "the server is wedged");
    assert!(served_soon(&url));
}

/// A client that hangs up while its call waits for a copy frees the
/// kernel at once, not after the copy timeout (the hang-up used to wait
/// for the kernel that the waiting call held).
#[test]
fn a_client_hanging_up_while_owing_a_copy_frees_the_kernel_at_once() {
    let dir = scratch("hangup");
    let url = ServerUrl::Unix(dir.join("sock"));
    let _server = serve(&url, Policy { copy_timeout: Duration::from_secs(60), ..Policy::default() });
    drop(caller_owing_a_copy(&url));
    assert!(served_soon(&url), "the kernel is still held");
}

/// Two calls of one connection in flight: the first waits, holding the
/// kernel, for the client's answer to its copy request while the second
/// waits for the kernel. Someone must still read the answer; the reader
/// used to be the second call's thread, stuck on the kernel, so the first
/// call failed when the copy timed out and the connection was dropped.
#[test]
fn a_copy_reply_is_read_while_another_call_waits_for_the_kernel() {
    use rumpclient::frame::{read_frame, write_frame};
    use rumpclient::wire::syscall::{SyscallRespPacket, SyscallRespRepr};
    use rumpclient::{Class, MsgType};
    let dir = scratch("pipelined");
    let url = ServerUrl::Unix(dir.join("sock"));
    let _server = serve(&url, Policy { copy_timeout: Duration::from_secs(3), ..Policy::default() });
    let c = support::raw_guest(&url, "pipelined");
    // mkdir(path at 0x1000, 0755) asks for its path; getpid right behind it.
    let args: Vec<u8> = [0x1000u64, 0o755].iter().flat_map(|a| a.to_ne_bytes()).collect();
    write_frame(&mut &c, 1, Class::Req, MsgType::Syscall, 83, &args).unwrap();
    write_frame(&mut &c, 2, Class::Req, MsgType::Syscall, 39, &[]).unwrap();
    let started = Instant::now();
    let mut mkdir = None;
    while mkdir.is_none() {
        let f = read_frame(&mut &c).unwrap().expect("the server hung up");
        match (f.header.class, f.header.reqno) {
            (Class::Req, reqno) => {
                write_frame(&mut &c, reqno, Class::Resp, f.header.msg_type, 0, b"/pipelined\0").unwrap()
            }
            (Class::Resp, 1) => {
                mkdir = Some(SyscallRespRepr::parse(&SyscallRespPacket::new_unchecked(&f.payload[..])).unwrap())
            }
            _ => {}
        }
    }
    assert!(started.elapsed() < Duration::from_secs(2), "the copy reply waited {:?}", started.elapsed());
    assert_eq!(mkdir.unwrap().error, 0, "mkdir got its path");
}

/// Issue 19's first reproducer over the wire: a native `pollts` on a
/// regular file asking for no events, with no timeout, used to spin with
/// the kernel held, locking every other client out for good.
#[test]
fn a_poll_for_nothing_over_the_wire_locks_nobody_out() {
    use rump_abi::native::flags::{O_CREAT, O_RDWR};
    use rump_abi::native::sys::{rump_sys_open, rump_sys_pollts};
    use rump_abi::native::types::pollfd;
    let dir = scratch("poll");
    let url = ServerUrl::Unix(dir.join("sock"));
    let _server = serve(&url, Policy::default());
    let c = Client::connect(&url, Emulation::Native, "poller").unwrap();
    let path = std::ffi::CString::new("/file").unwrap();
    let fd = rump_sys_open(&c, path.as_ptr(), (O_CREAT | O_RDWR) as i32, 0o600).unwrap();
    std::thread::spawn(move || {
        let mut set = [pollfd { fd, events: 0, revents: 0 }];
        let _ = rump_sys_pollts(&c, set.as_mut_ptr(), 1, std::ptr::null(), std::ptr::null());
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(served_soon(&url), "the poll holds the kernel");
}

/// The other way round: a client pointed at a socket whose listener never
/// speaks (a supervisor's `SOCK.seccomp` door, some other program) gets
/// an error instead of waiting for a banner forever.
#[test]
fn a_silent_listener_is_not_taken_for_a_server() {
    let dir = scratch("silent");
    let path = dir.join("s");
    let _listener = UnixListener::bind(&path).unwrap();
    let url = ServerUrl::parse(&format!("unix://{}", path.display())).unwrap();
    let t = Instant::now();
    let err = Client::connect(&url, Emulation::Linux, "lost").err().expect("no server there");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(t.elapsed() < Duration::from_secs(15), "gave up after {:?}", t.elapsed());
}
