//! Cancelling a call in flight: whatever it sleeps in (a pipe read, a pipe
//! write, a FIFO open, poll, nanosleep) it returns EINTR, leaves nothing
//! half done, and the block hook has run before it slept.

use rump_abi::native::errno::{EAGAIN, EINTR};
use rump_abi::native::flags::{O_CREAT, O_NONBLOCK, O_RDONLY, O_RDWR, POLLIN};
use rump_abi::native::sys::*;
use rump_abi::native::types::{pollfd, timespec};
use rump_abi::usermem::LocalMemory;
use rump_abi::{Slots, SysResult};
use rump_kernel::cred::Cred;
use rump_kernel::lwp::Lwp;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use std::ffi::CString;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn boot() -> (Kernel, Arc<Process>) {
    let k = Kernel::boot(Config::default()).expect("boot");
    let p = Arc::new(k.spawn(Emulation::Native, Cred::root(), "test").unwrap());
    (k, p)
}

/// Runs `num(args)` on a thread as a cancellable lwp, waits until it has
/// blocked, cancels it and returns its result.
fn cancel_while_blocked(k: &Kernel, p: &Arc<Process>, num: u32, args: Slots) -> SysResult {
    let blocked = Arc::new(AtomicUsize::new(0));
    let b = blocked.clone();
    let lwp = Arc::new(Lwp::with_block_hook(move || {
        b.fetch_add(1, Ordering::SeqCst);
    }));
    let (p2, l2) = (p.clone(), lwp.clone());
    let t = std::thread::spawn(move || p2.syscall_lwp(num, &args, &LocalMemory, &l2));
    while blocked.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    k.cancel(&lwp);
    t.join().unwrap()
}

#[test]
fn a_blocked_pipe_read_returns_eintr() {
    let (k, p) = boot();
    let mut fds = [0i32; 2];
    rump_sys_pipe2(&*p, fds.as_mut_ptr(), 0).unwrap();
    let mut buf = [0u8; 8];
    let args = [fds[0] as u64, buf.as_mut_ptr() as u64, 8, 0, 0, 0, 0, 0];
    assert_eq!(cancel_while_blocked(&k, &p, SYS_read, args), Err(EINTR));
    // The pipe is intact: data written now is read normally.
    assert_eq!(rump_sys_write(&*p, fds[1], b"x".as_ptr().cast(), 1), Ok(1));
    assert_eq!(rump_sys_read(&*p, fds[0], buf.as_mut_ptr().cast(), 8), Ok(1));
}

#[test]
fn a_blocked_fifo_open_returns_eintr_and_opens_nothing() {
    let (k, p) = boot();
    let path = CString::new("/fifo").unwrap();
    rump_sys_mkfifo(&*p, path.as_ptr(), 0o600).unwrap();
    let args = [path.as_ptr() as u64, O_RDONLY as u64, 0, 0, 0, 0, 0, 0];
    assert_eq!(cancel_while_blocked(&k, &p, SYS_open, args), Err(EINTR));
    // No reader is left behind: a non-blocking writer still finds none.
    let w = rump_sys_open(&*p, path.as_ptr(), (rump_abi::native::flags::O_WRONLY | O_NONBLOCK) as i32, 0);
    assert_eq!(w, Err(rump_abi::native::errno::ENXIO));
}

#[test]
fn poll_and_nanosleep_return_eintr() {
    let (k, p) = boot();
    let mut fds = [0i32; 2];
    rump_sys_pipe2(&*p, fds.as_mut_ptr(), 0).unwrap();
    let set = [pollfd { fd: fds[0], events: POLLIN, revents: 0 }];
    let args = [set.as_ptr() as u64, 1, u64::MAX, 0, 0, 0, 0, 0];
    assert_eq!(cancel_while_blocked(&k, &p, SYS_poll, args), Err(EINTR));
    let t = timespec { tv_sec: 60, tv_nsec: 0 };
    let args = [&t as *const timespec as u64, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(cancel_while_blocked(&k, &p, SYS___nanosleep50, args), Err(EINTR));
}

/// A poll that waits for nothing (a regular file asked for no events, no
/// timeout) sleeps until cancelled, leaving the kernel to other calls;
/// it used to spin holding the virtual CPU, locking everyone out for good.
#[test]
fn a_poll_waiting_for_nothing_sleeps_and_other_calls_run() {
    let (k, p) = boot();
    let path = CString::new("/file").unwrap();
    let fd = rump_sys_open(&*p, path.as_ptr(), (O_CREAT | O_RDWR) as i32, 0o600).unwrap();
    let set = [pollfd { fd, events: 0, revents: 0 }];
    let args = [set.as_ptr() as u64, 1, u64::MAX, 0, 0, 0, 0, 0];
    let blocked = Arc::new(AtomicUsize::new(0));
    let b = blocked.clone();
    let lwp = Arc::new(Lwp::with_block_hook(move || {
        b.fetch_add(1, Ordering::SeqCst);
    }));
    let (p2, l2) = (p.clone(), lwp.clone());
    let poller = std::thread::spawn(move || p2.syscall_lwp(SYS_poll, &args, &LocalMemory, &l2));
    for _ in 0..5000 {
        if blocked.load(Ordering::SeqCst) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let p3 = p.clone();
    std::thread::spawn(move || {
        let _ = tx.send(rump_sys_getpid(&*p3));
    });
    assert!(rx.recv_timeout(Duration::from_secs(5)).is_ok_and(|r| r.is_ok()), "another call got the kernel");
    assert_eq!(blocked.load(Ordering::SeqCst), 1, "the poll sleeps, once");
    k.cancel(&lwp);
    assert_eq!(poller.join().unwrap(), Err(EINTR));
}

#[test]
fn a_cancelled_lwp_does_not_block_again_but_nonblocking_calls_still_answer() {
    let (k, p) = boot();
    let mut fds = [0i32; 2];
    rump_sys_pipe2(&*p, fds.as_mut_ptr(), O_NONBLOCK as i32).unwrap();
    let lwp = Lwp::new();
    k.cancel(&lwp);
    let mut buf = [0u8; 1];
    let args = [fds[0] as u64, buf.as_mut_ptr() as u64, 1, 0, 0, 0, 0, 0];
    // Cancellation only interrupts sleeping; a call that never sleeps runs.
    assert_eq!(p.syscall_lwp(SYS_read, &args, &LocalMemory, &lwp), Err(EAGAIN));
}
