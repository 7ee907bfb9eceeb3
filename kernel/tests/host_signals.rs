//! A host signal reaching a thread asleep in an in-process kernel call
//! acts as it would on a host syscall: a handler installed without
//! SA_RESTART makes a pipe read fail with EINTR, one with SA_RESTART lets
//! the read go on and complete, and poll fails with EINTR either way.
//! Server threads (lwps made for someone else) are not interrupted.

use rump_abi::native::errno::EINTR;
use rump_abi::native::flags::POLLIN;
use rump_abi::native::sys::*;
use rump_abi::native::types::pollfd;
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Signal handlers are process-wide: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

extern "C" fn on_usr1(_: i32) {}

fn handle_usr1(restart: bool) {
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

fn boot() -> Arc<Process> {
    let k = Kernel::boot(Config::default()).expect("boot");
    Arc::new(k.spawn(Emulation::Native, Cred::root(), "test").unwrap())
}

fn pipe(p: &Process) -> [i32; 2] {
    let mut fds = [0i32; 2];
    rump_sys_pipe2(p, fds.as_mut_ptr(), 0).unwrap();
    fds
}

/// A one-byte read of `fd`, to run on another thread.
fn read_one(p: &Arc<Process>, fd: i32) -> impl FnOnce() -> rump_abi::SysResult + Send + 'static {
    let p = p.clone();
    move || {
        let mut b = [0u8; 1];
        rump_sys_read(&*p, fd, b.as_mut_ptr().cast(), 1).map(|n| n as i64)
    }
}

/// Runs `call` on a new thread, sends it SIGUSR1 once it has had time to
/// block, then runs `after` (on this thread) and returns the call's result.
fn signal_while_blocked<R: Send + 'static>(call: impl FnOnce() -> R + Send + 'static, after: impl FnOnce()) -> R {
    let tid = Arc::new(AtomicU64::new(0));
    let t2 = tid.clone();
    let t = std::thread::spawn(move || {
        t2.store(unsafe { libc::pthread_self() } as u64, Ordering::SeqCst);
        call()
    });
    while tid.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(50));
    unsafe { libc::pthread_kill(tid.load(Ordering::SeqCst) as libc::pthread_t, libc::SIGUSR1) };
    std::thread::sleep(Duration::from_millis(50));
    after();
    t.join().unwrap()
}

#[test]
fn a_signal_interrupts_a_blocked_pipe_read() {
    let _g = SERIAL.lock().unwrap();
    handle_usr1(false);
    let p = boot();
    let fds = pipe(&p);
    let r = signal_while_blocked(read_one(&p, fds[0]), || {});
    assert_eq!(r, Err(EINTR));
}

#[test]
fn with_sa_restart_the_read_goes_on_and_completes() {
    let _g = SERIAL.lock().unwrap();
    handle_usr1(true);
    let p = boot();
    let fds = pipe(&p);
    let r = signal_while_blocked(read_one(&p, fds[0]), || {
        rump_sys_write(&*p, fds[1], b"x".as_ptr().cast(), 1).unwrap();
    });
    assert_eq!(r, Ok(1));
}

#[test]
fn poll_is_never_restarted() {
    let _g = SERIAL.lock().unwrap();
    handle_usr1(true);
    let p = boot();
    let fds = pipe(&p);
    let p2 = p.clone();
    let r = signal_while_blocked(
        move || {
            let mut set = [pollfd { fd: fds[0], events: POLLIN, revents: 0 }];
            rump_sys_poll(&*p2, set.as_mut_ptr(), 1, 10_000)
        },
        || {},
    );
    assert_eq!(r, Err(EINTR));
}
