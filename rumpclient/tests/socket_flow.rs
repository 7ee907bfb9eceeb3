//! The socket transport loaded from both ends at once (issue 21): client
//! threads sending 1 MiB frames while the server sends 1 MiB replies, and
//! a client that stops reading its replies. Neither may wedge a
//! connection, stall the server's other clients, or make the server hold
//! more than a bounded number of threads for it.

mod support;

use rump_abi::linux::sys::*;
use rumpclient::client::Client;
use rumpclient::frame::{read_frame, write_frame};
use rumpclient::server::MAX_STALLED_SENDS;
use rumpclient::wire::handshake::Emulation;
use rumpclient::{Class, MsgType};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MIB: usize = 1 << 20;
const LINUX_GETPID: u32 = 39;

/// A client whose calls all travel on the socket: every test here wants
/// that, so setting the variable for the whole process races with nobody.
fn socket_client(srv: &support::Running, name: &str) -> Client {
    std::env::set_var("RUMP_TRANSPORT", "socket");
    let c = Client::connect(&srv.url, Emulation::Linux, name).unwrap();
    assert!(!c.shares_memory());
    c
}

/// Runs `f` on a thread of its own; a wedge fails the test instead of
/// hanging it.
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs)).unwrap_or_else(|_| panic!("{what}: no end in {secs} s"))
}

#[test]
fn eight_threads_send_and_receive_a_mib_each_at_once() {
    let srv = support::start();
    let c = Arc::new(socket_client(&srv, "eight"));
    within(30, "8 threads x 1 MiB each way", move || support::parallel_rounds(&c, c"/eight", MIB, 8, 8));
}

fn threads_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// A client that sends calls and reads none of their replies: the server
/// stops reading it once its stalled replies reach the bound, keeps
/// serving everyone else meanwhile, and once the client reads again every
/// call is answered, none lost.
#[test]
fn a_client_that_stops_reading_stalls_no_other_client() {
    const CALLS: u64 = 10_000;
    let srv = support::start();
    let before = threads_of_this_process();
    let stuck = Arc::new(support::raw_guest(&srv.url, "stuck"));
    let sent = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stuck, sent) = (stuck.clone(), sent.clone());
        std::thread::spawn(move || {
            for reqno in 1..=CALLS {
                write_frame(&mut &*stuck, reqno, Class::Req, MsgType::Syscall, LINUX_GETPID, &[]).unwrap();
                sent.store(reqno, Ordering::Release);
            }
        })
    };
    // The writer stops once both directions' buffers are full and the
    // server holds its bound of stalled replies.
    let mut last = u64::MAX;
    while sent.load(Ordering::Acquire) != last {
        last = sent.load(Ordering::Acquire);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(last < CALLS, "the server read all {CALLS} calls while none of their replies was read");
    let grown = threads_of_this_process().saturating_sub(before);
    // Slack for the other test's threads and the server's own.
    assert!(grown <= MAX_STALLED_SENDS + 48, "{grown} threads for one client that does not read");

    let other = Arc::new(socket_client(&srv, "other"));
    within(30, "another client beside the stuck one", move || {
        assert!(rump_sys_getpid(&*other).is_ok());
        support::parallel_rounds(&other, c"/other", MIB, 2, 2);
    });

    let answered = within(30, "the stuck client's replies", move || {
        let mut seen = HashSet::new();
        while seen.len() < CALLS as usize {
            let f = read_frame(&mut &*stuck).unwrap().expect("the server hung up");
            assert_eq!(f.header.class, Class::Resp, "reply to call {}", f.header.reqno);
            assert!(seen.insert(f.header.reqno), "call {} answered twice", f.header.reqno);
        }
        seen
    });
    writer.join().unwrap();
    assert_eq!(answered, (1..=CALLS).collect::<HashSet<_>>());
}
