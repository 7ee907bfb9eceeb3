//! File locks through the calls, with Linux's rules (`kernel/src/lock`):
//! record locks split and merge, conflict between processes and not
//! within one, report the holder's host pid; OFD locks belong to the open
//! file and flock locks stand apart; a waiter sleeps until the holder lets
//! go (by unlocking, by any close of the file, by exiting) and is
//! interruptible; EDEADLK closes no cycle; native callers share the table.

use rump_abi::linux::errno as le;
use rump_abi::linux::flags::{F_GETLK, F_OFD_GETLK, F_OFD_SETLK, F_RDLCK, F_SETLK, F_SETLKW, F_UNLCK, F_WRLCK};
use rump_abi::linux::sys::*;
use rump_abi::linux::types::flock;
use rump_abi::native::flags::{LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN};
use rump_abi::usermem::LocalMemory;
use rump_abi::{Errno, SysResult};
use rump_kernel::cred::Cred;
use rump_kernel::lwp::Lwp;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const O_RDWR: i32 = 2;
const O_RDONLY: i32 = 0;
const O_CREAT: i32 = 0o100;
const AT_FDCWD: i32 = -100;

fn boot() -> Kernel {
    Kernel::boot(Config::default()).expect("boot")
}

fn spawn(k: &Kernel, host_pid: i32) -> Arc<Process> {
    let p = k.spawn(Emulation::Linux, Cred::root(), "t").unwrap();
    p.set_host_pid(host_pid);
    Arc::new(p)
}

fn open(p: &Process, path: &str, flags: i32) -> u32 {
    let c = std::ffi::CString::new(path).unwrap();
    rump_sys_openat(p, AT_FDCWD, c.as_ptr(), flags | O_CREAT, 0o644).unwrap() as u32
}

fn lk(l_type: i16, start: i64, len: i64) -> flock {
    flock { l_type, l_start: start, l_len: len, ..Default::default() }
}

fn fcntl(p: &Process, fd: u32, cmd: i32, fl: &mut flock) -> Result<i32, Errno> {
    rump_sys_fcntl(p, fd, cmd as u32, (fl as *mut flock).cast())
}

fn set(p: &Process, fd: u32, l_type: i16, start: i64, len: i64) -> Result<i32, Errno> {
    fcntl(p, fd, F_SETLK, &mut lk(l_type, start, len))
}

/// F_GETLK for a write lock over `start`+`len`: (type, start, len, pid).
fn probe(p: &Process, fd: u32, start: i64, len: i64) -> (i16, i64, i64, i32) {
    let mut fl = lk(F_WRLCK, start, len);
    fcntl(p, fd, F_GETLK, &mut fl).unwrap();
    (fl.l_type, fl.l_start, fl.l_len, fl.l_pid)
}

/// Starts `call` on a thread as an lwp of its own and returns once it
/// sleeps in the kernel: the lwp (to cancel it) and the thread.
fn blocked<F>(call: F) -> (Arc<Lwp>, std::thread::JoinHandle<SysResult>)
where
    F: FnOnce(&Lwp) -> SysResult + Send + 'static,
{
    let slept = Arc::new(AtomicBool::new(false));
    let s = slept.clone();
    let lwp = Arc::new(Lwp::with_block_hook(move || s.store(true, Ordering::SeqCst)));
    let l = lwp.clone();
    let t = std::thread::spawn(move || call(&l));
    while !slept.load(Ordering::SeqCst) {
        assert!(!t.is_finished(), "the call returned instead of sleeping");
        std::thread::sleep(Duration::from_millis(1));
    }
    (lwp, t)
}

/// F_SETLKW of a write lock over `start`+`len` by `p` on `fd`, as `lwp`.
fn setlkw(p: &Process, fd: u32, start: i64, len: i64, lwp: &Lwp) -> SysResult {
    let mut fl = lk(F_WRLCK, start, len);
    let args = [fd as u64, F_SETLKW as u64, &mut fl as *mut flock as u64, 0, 0, 0, 0, 0];
    p.syscall_lwp(SYS_fcntl, &args, &LocalMemory, lwp)
}

#[test]
fn ranges_split_merge_and_report_the_host_pid() {
    let k = boot();
    let (a, b) = (spawn(&k, 4001), spawn(&k, 4002));
    let (fa, fb) = (open(&a, "/f", O_RDWR), open(&b, "/f", O_RDWR));
    set(&a, fa, F_WRLCK, 0, 100).unwrap();
    set(&a, fa, F_UNLCK, 40, 10).unwrap();
    assert_eq!(probe(&b, fb, 0, 0), (F_WRLCK, 0, 40, 4001));
    assert_eq!(probe(&b, fb, 45, 10), (F_WRLCK, 50, 50, 4001));
    assert_eq!(probe(&b, fb, 40, 10).0, F_UNLCK);
    set(&a, fa, F_WRLCK, 40, 10).unwrap();
    assert_eq!(probe(&b, fb, 0, 0), (F_WRLCK, 0, 100, 4001));
    // A read lock inside splits the write lock in three.
    set(&a, fa, F_RDLCK, 20, 10).unwrap();
    assert_eq!(probe(&b, fb, 20, 10), (F_RDLCK, 20, 10, 4001));
    assert_eq!(probe(&b, fb, 30, 0), (F_WRLCK, 30, 70, 4001));
    let mut rd = lk(F_RDLCK, 20, 10);
    fcntl(&b, fb, F_SETLK, &mut rd).unwrap();
    assert_eq!(set(&b, fb, F_WRLCK, 25, 1), Err(le::EAGAIN));
    // Negative lengths cover the bytes before l_start; 0 runs to EOF.
    set(&a, fa, F_UNLCK, 0, 0).unwrap();
    set(&a, fa, F_WRLCK, 10, -5).unwrap();
    assert_eq!(probe(&b, fb, 0, 0), (F_WRLCK, 5, 5, 4001));
    assert_eq!(set(&a, fa, F_WRLCK, 3, -4), Err(le::EINVAL));
    assert_eq!(set(&a, fa, F_WRLCK, i64::MAX - 10, 20), Err(le::EOVERFLOW));
    assert_eq!(set(&a, fa, 7, 0, 1), Err(le::EINVAL));
}

#[test]
fn any_close_and_exit_release_posix_locks() {
    let k = boot();
    let (a, b) = (spawn(&k, 1), spawn(&k, 2));
    let fa = open(&a, "/f", O_RDWR);
    let fb = open(&b, "/f", O_RDWR);
    set(&a, fa, F_WRLCK, 0, 0).unwrap();
    // Another open of the same file, closed: the lock goes with it.
    let other = open(&a, "/f", O_RDONLY);
    rump_sys_close(&*a, other).unwrap();
    assert_eq!(probe(&b, fb, 0, 0).0, F_UNLCK);
    // A waiter wakes when the holder exits.
    set(&a, fa, F_WRLCK, 0, 0).unwrap();
    let b2 = b.clone();
    let (_, t) = blocked(move |l| setlkw(&b2, fb, 0, 1, l));
    drop(a);
    assert_eq!(t.join().unwrap(), Ok(0));
}

#[test]
fn deadlock_is_refused_and_waiters_are_interruptible() {
    let k = boot();
    let (a, b) = (spawn(&k, 1), spawn(&k, 2));
    let (fa, fb) = (open(&a, "/f", O_RDWR), open(&b, "/f", O_RDWR));
    set(&a, fa, F_WRLCK, 0, 1).unwrap();
    set(&b, fb, F_WRLCK, 1, 1).unwrap();
    let b2 = b.clone();
    let (_, t) = blocked(move |l| setlkw(&b2, fb, 0, 1, l));
    assert_eq!(setlkw(&a, fa, 1, 1, &Lwp::new()), Err(le::EDEADLK));
    set(&a, fa, F_UNLCK, 0, 1).unwrap();
    assert_eq!(t.join().unwrap(), Ok(0));
    // Now a waits on b, and a cancel ends the wait with EINTR.
    let a2 = a.clone();
    let (lwp, t) = blocked(move |l| setlkw(&a2, fa, 0, 2, l));
    k.cancel(&lwp);
    assert_eq!(t.join().unwrap(), Err(le::EINTR));
}

#[test]
fn ofd_locks_belong_to_the_open_file() {
    let k = boot();
    let a = spawn(&k, 1);
    let (f1, f2) = (open(&a, "/f", O_RDWR), open(&a, "/f", O_RDWR));
    fcntl(&a, f1, F_OFD_SETLK, &mut lk(F_WRLCK, 0, 4)).unwrap();
    assert_eq!(fcntl(&a, f2, F_OFD_SETLK, &mut lk(F_WRLCK, 2, 1)), Err(le::EAGAIN));
    // A POSIX lock of the same process conflicts too.
    assert_eq!(set(&a, f2, F_WRLCK, 0, 1), Err(le::EAGAIN));
    let mut q = lk(F_WRLCK, 0, 0);
    fcntl(&a, f2, F_OFD_GETLK, &mut q).unwrap();
    assert_eq!((q.l_type, q.l_start, q.l_len, q.l_pid), (F_WRLCK, 0, 4, -1));
    let mut bad = lk(F_WRLCK, 8, 1);
    bad.l_pid = 5;
    assert_eq!(fcntl(&a, f2, F_OFD_SETLK, &mut bad), Err(le::EINVAL));
    // A dup keeps the open file, and its lock, alive.
    let d = rump_sys_dup(&*a, f1).unwrap() as u32;
    rump_sys_close(&*a, f1).unwrap();
    assert_eq!(fcntl(&a, f2, F_OFD_SETLK, &mut lk(F_WRLCK, 0, 1)), Err(le::EAGAIN));
    rump_sys_close(&*a, d).unwrap();
    fcntl(&a, f2, F_OFD_SETLK, &mut lk(F_WRLCK, 0, 1)).unwrap();
}

#[test]
fn access_mode_decides_the_lock_type() {
    let k = boot();
    let a = spawn(&k, 1);
    open(&a, "/f", O_RDWR);
    let ro = open(&a, "/f", O_RDONLY);
    assert_eq!(set(&a, ro, F_WRLCK, 0, 1), Err(le::EBADF));
    set(&a, ro, F_RDLCK, 0, 1).unwrap();
    set(&a, ro, F_UNLCK, 0, 1).unwrap();
}

#[test]
fn flock_is_per_open_file_and_apart_from_record_locks() {
    let k = boot();
    let (a, b) = (spawn(&k, 1), spawn(&k, 2));
    let (fa, fb) = (open(&a, "/f", O_RDWR), open(&b, "/f", O_RDWR));
    let op = |p: &Process, fd: u32, how: i32| rump_sys_flock(p, fd, how as u32);
    op(&a, fa, LOCK_SH).unwrap();
    op(&b, fb, LOCK_SH | LOCK_NB).unwrap();
    // Converting drops the old lock first: a failed upgrade leaves none.
    assert_eq!(op(&a, fa, LOCK_EX | LOCK_NB), Err(le::EAGAIN));
    op(&b, fb, LOCK_EX | LOCK_NB).unwrap();
    // Record locks do not see flock locks.
    set(&a, fa, F_WRLCK, 0, 0).unwrap();
    assert_eq!(op(&a, fa, 0), Err(le::EINVAL));
    // A blocked flock wakes when the holder's open file closes.
    let a2 = a.clone();
    let (_, t) = blocked(move |l| {
        let args = [fa as u64, LOCK_EX as u64, 0, 0, 0, 0, 0, 0];
        a2.syscall_lwp(SYS_flock, &args, &LocalMemory, l)
    });
    rump_sys_close(&*b, fb).unwrap();
    assert_eq!(t.join().unwrap(), Ok(0));
    op(&a, fa, LOCK_UN).unwrap();
}

#[test]
fn native_callers_share_the_table() {
    use rump_abi::native::flags as n;
    use rump_abi::native::sys as ns;
    use rump_abi::native::types::flock as nflock;
    let k = boot();
    let a = spawn(&k, 77);
    let fa = open(&a, "/f", O_RDWR);
    set(&a, fa, F_WRLCK, 10, 5).unwrap();
    let nat = k.spawn(Emulation::Native, Cred::root(), "n").unwrap();
    let path = c"/f";
    let fd = ns::rump_sys_open(&nat, path.as_ptr(), n::O_RDWR as i32, 0).unwrap();
    let mut fl = nflock { l_type: n::F_WRLCK, l_whence: 0, l_start: 0, l_len: 0, l_pid: 0 };
    ns::rump_sys_fcntl(&nat, fd, n::F_GETLK, (&mut fl as *mut nflock).cast()).unwrap();
    assert_eq!((fl.l_type, fl.l_start, fl.l_len, fl.l_pid), (n::F_WRLCK, 10, 5, 77));
    let mut fl = nflock { l_type: n::F_RDLCK, l_whence: 0, l_start: 12, l_len: 1, l_pid: 0 };
    let r = ns::rump_sys_fcntl(&nat, fd, n::F_SETLK, (&mut fl as *mut nflock).cast());
    assert_eq!(r, Err(rump_abi::native::errno::EAGAIN));
    ns::rump_sys_flock(&nat, fd, LOCK_EX | LOCK_NB).unwrap();
    assert_eq!(rump_sys_flock(&*a, fa, (LOCK_SH | LOCK_NB) as u32), Err(le::EAGAIN));
}

#[test]
fn waitid_waits_for_a_child_process_to_go() {
    const P_PID: i32 = 1;
    const WEXITED: i32 = 4;
    let k = boot();
    let parent = spawn(&k, 10);
    let child = parent.fork().unwrap();
    child.set_host_pid(11);
    let null = std::ptr::null_mut();
    assert_eq!(rump_sys_waitid(&*parent, P_PID, 12, null, WEXITED, null), Err(le::ECHILD));
    assert_eq!(rump_sys_waitid(&*parent, P_PID, 11, null, WEXITED | 1, null), Ok(0));
    let p2 = parent.clone();
    let (_, t) = blocked(move |l| {
        let args = [P_PID as u64, 11, 0, WEXITED as u64, 0, 0, 0, 0];
        p2.syscall_lwp(SYS_waitid, &args, &LocalMemory, l)
    });
    drop(child);
    assert_eq!(t.join().unwrap(), Ok(0));
    assert_eq!(rump_sys_waitid(&*parent, P_PID, 11, null, WEXITED, null), Err(le::ECHILD));
}
