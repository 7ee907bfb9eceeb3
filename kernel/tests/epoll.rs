//! Linux epoll waits that the differential tests cannot show: a caller's
//! notifier armed instead of sleeping (how the hijack library waits for
//! kernel fds in the host), a wait woken by another thread, a timeout, an
//! epoll fd closed under its waiter, and memory given back.

use rump_abi::linux::flags::{EPOLLIN, EPOLL_CTL_ADD};
use rump_abi::linux::sys::{rump_sys_epoll_create1, rump_sys_epoll_ctl, rump_sys_epoll_wait, SYS_epoll_wait};
use rump_abi::linux::types::epoll_event;
use rump_abi::usermem::LocalMemory;
use rump_abi::Syscall;
use rump_kernel::cred::Cred;
use rump_kernel::lwp::Lwp;
use rump_kernel::proc::Emulation;
use rump_kernel::wchan::Notify;
use rump_kernel::{Config, Kernel, Process};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn boot() -> (Kernel, Arc<Process>) {
    let k = Kernel::boot(Config::default()).expect("boot");
    let p = Arc::new(k.spawn(Emulation::Linux, Cred::root(), "test").unwrap());
    (k, p)
}

/// An epoll fd watching the read end of a new pipe for EPOLLIN (data 7):
/// (epfd, read end, write end).
fn watched_pipe(p: &Process) -> (i32, i32, i32) {
    let mut fds = [0i32; 2];
    assert_eq!(p.syscall(libc::SYS_pipe2 as u32, &[fds.as_mut_ptr() as u64, 0, 0, 0, 0, 0, 0, 0]), Ok(0));
    let ep = rump_sys_epoll_create1(p, 0).unwrap();
    let mut ev = epoll_event { events: EPOLLIN, data: 7 };
    rump_sys_epoll_ctl(p, ep, EPOLL_CTL_ADD, fds[0], &mut ev).unwrap();
    (ep, fds[0], fds[1])
}

fn write(p: &Process, fd: i32, data: &[u8]) {
    let args = [fd as u64, data.as_ptr() as u64, data.len() as u64, 0, 0, 0, 0, 0];
    assert_eq!(p.syscall(libc::SYS_write as u32, &args), Ok(data.len() as i64));
}

fn wait(p: &Process, ep: i32, timeout_ms: i32) -> Vec<(u32, u64)> {
    let mut evs = [epoll_event::default(); 4];
    let n = rump_sys_epoll_wait(p, ep, evs.as_mut_ptr(), 4, timeout_ms).unwrap();
    evs[..n as usize].iter().map(|e| (e.events, e.data)).collect()
}

#[derive(Default)]
struct Counter(AtomicUsize);

impl Notify for Counter {
    fn notify(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_notifying_wait_returns_at_once_and_the_notifier_hears_of_data() {
    let (_k, p) = boot();
    let (ep, _r, w) = watched_pipe(&p);
    let counter = Arc::new(Counter::default());
    let lwp = Lwp::new().notifying(counter.clone());
    let mut evs = [epoll_event::default(); 4];
    let args = [ep as u64, evs.as_mut_ptr() as u64, 4, -1i64 as u64, 0, 0, 0, 0];
    let start = Instant::now();
    assert_eq!(p.syscall_lwp(SYS_epoll_wait, &args, &LocalMemory, &lwp), Ok(0));
    assert!(start.elapsed() < Duration::from_secs(1), "returned at once, as if timed out");
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    write(&p, w, b"x");
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "told once");
    write(&p, w, b"y");
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "armed once, told once");
    // Asked again, the call finds the data.
    assert_eq!(p.syscall_lwp(SYS_epoll_wait, &args, &LocalMemory, &lwp), Ok(1));
    let (events, data) = (evs[0].events, evs[0].data);
    assert_eq!((events, data), (EPOLLIN, 7));
}

#[test]
fn a_thread_blocked_in_epoll_wait_wakes_on_a_write() {
    let (_k, p) = boot();
    let (ep, _r, w) = watched_pipe(&p);
    let p2 = p.clone();
    let t = std::thread::spawn(move || wait(&p2, ep, -1));
    std::thread::sleep(Duration::from_millis(50));
    write(&p, w, b"wake");
    assert_eq!(t.join().unwrap(), [(EPOLLIN, 7)]);
}

#[test]
fn a_timeout_ends_the_wait() {
    let (_k, p) = boot();
    let (ep, _r, _w) = watched_pipe(&p);
    let start = Instant::now();
    assert_eq!(wait(&p, ep, 0), []);
    assert_eq!(wait(&p, ep, 50), []);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(50) && waited < Duration::from_secs(5), "{waited:?}");
}

#[test]
fn closing_the_epoll_fd_under_a_waiter_keeps_the_instance_until_it_returns() {
    let (k, p) = boot();
    let used = k.with_state(|st| st.mem.used());
    let (ep, r, w) = watched_pipe(&p);
    let p2 = p.clone();
    let t = std::thread::spawn(move || wait(&p2, ep, 5000));
    std::thread::sleep(Duration::from_millis(50));
    let close = |fd: i32| p.syscall(libc::SYS_close as u32, &[fd as u64, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(close(ep), Ok(0));
    write(&p, w, b"x");
    assert_eq!(t.join().unwrap(), [(EPOLLIN, 7)]);
    assert_eq!(close(r), Ok(0));
    assert_eq!(close(w), Ok(0));
    assert_eq!(k.with_state(|st| st.mem.used()), used, "instance, item and pipe all given back");
}

#[test]
fn a_reader_waiting_in_epoll_drains_a_blocked_writer() {
    let (_k, p) = boot();
    let (ep, r, w) = watched_pipe(&p);
    let p2 = p.clone();
    let data = vec![9u8; 200_000];
    let total = data.len();
    let t = std::thread::spawn(move || {
        let args = [w as u64, data.as_ptr() as u64, data.len() as u64, 0, 0, 0, 0, 0];
        p2.syscall(libc::SYS_write as u32, &args)
    });
    let mut got = 0;
    let mut buf = vec![0u8; 65536];
    while got < total {
        assert_eq!(wait(&p, ep, 5000), [(EPOLLIN, 7)], "woken while the writer sleeps");
        let args = [r as u64, buf.as_mut_ptr() as u64, buf.len() as u64, 0, 0, 0, 0, 0];
        got += p.syscall(libc::SYS_read as u32, &args).unwrap() as usize;
    }
    assert_eq!(t.join().unwrap(), Ok(total as i64));
}
