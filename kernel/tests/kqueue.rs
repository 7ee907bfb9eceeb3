//! kqueue and kevent through the native ABI, as NetBSD has them: the READ
//! and WRITE filters on pipes and files, EVFILT_VNODE with each NOTE_*,
//! the EV_* flags, NetBSD's errors, notes leaving with their fd, a kqueue
//! fd that poll (and another kqueue) can watch, and waiting.

use rump_abi::native::errno::*;
use rump_abi::native::flags::*;
use rump_abi::native::sys::*;
use rump_abi::native::types::{kevent, pollfd, timespec};
use rump_abi::Errno;
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use std::ffi::CString;
use std::ptr::{null, null_mut};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn boot() -> (Kernel, Process) {
    let k = Kernel::boot(Config::default()).expect("boot");
    let p = k.spawn(Emulation::Native, Cred::root(), "test").unwrap();
    (k, p)
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn pipe(p: &Process) -> (i32, i32) {
    let mut fds = [0i32; 2];
    rump_sys_pipe2(p, fds.as_mut_ptr(), 0).unwrap();
    (fds[0], fds[1])
}

fn write(p: &Process, fd: i32, data: &[u8]) {
    assert_eq!(rump_sys_write(p, fd, data.as_ptr().cast(), data.len()), Ok(data.len() as isize));
}

fn read(p: &Process, fd: i32, n: usize) -> usize {
    let mut buf = vec![0u8; n];
    rump_sys_read(p, fd, buf.as_mut_ptr().cast(), n).unwrap() as usize
}

fn open(p: &Process, path: &str, flags: u32) -> i32 {
    rump_sys_open(p, c(path).as_ptr(), flags as i32, 0o644).unwrap()
}

/// A change: `ident`, `filter`, `flags`, `fflags`; udata marks the fd.
fn change(ident: i32, filter: u32, flags: u32, fflags: u32) -> kevent {
    kevent { ident: ident as u64, filter, flags, fflags, udata: 0x1000 + ident as u64, ..kevent::default() }
}

const NOW: timespec = timespec { tv_sec: 0, tv_nsec: 0 };

/// kevent with `changes`, room for `room` results, waiting `timeout`
/// (None: no limit).
fn kevent_call(
    p: &Process,
    kq: i32,
    changes: &[kevent],
    room: usize,
    timeout: Option<&timespec>,
) -> Result<Vec<kevent>, Errno> {
    let mut out = vec![kevent::default(); room];
    let ts = timeout.map_or(null(), |t| t as *const timespec);
    let n = rump_sys_kevent(p, kq, changes.as_ptr(), changes.len(), out.as_mut_ptr(), room, ts)?;
    out.truncate(n as usize);
    Ok(out)
}

/// What an event says, udata checked against its ident: (ident, filter,
/// flags, fflags, data), sorted.
fn seen(evs: Vec<kevent>) -> Vec<(u64, u32, u32, u32, i64)> {
    let mut v: Vec<_> = evs
        .iter()
        .map(|e| {
            assert_eq!(e.udata, 0x1000 + e.ident, "udata comes back");
            (e.ident, e.filter, e.flags, e.fflags, e.data)
        })
        .collect();
    v.sort();
    v
}

/// Applies `changes` and collects what is ready now.
fn kev(p: &Process, kq: i32, changes: &[kevent]) -> Vec<(u64, u32, u32, u32, i64)> {
    seen(kevent_call(p, kq, changes, 16, Some(&NOW)).unwrap())
}

fn kqueue(p: &Process) -> i32 {
    rump_sys_kqueue(p).unwrap()
}

#[test]
fn pipe_filters_count_bytes_and_see_eof() {
    let (_k, p) = boot();
    let (r, w) = pipe(&p);
    let kq = kqueue(&p);
    let (ri, wi) = (r as u64, w as u64);
    let got = kev(&p, kq, &[change(r, EVFILT_READ, EV_ADD, 0), change(w, EVFILT_WRITE, EV_ADD, 0)]);
    assert_eq!(got, [(wi, EVFILT_WRITE, EV_ADD, 0, 65536)]);
    write(&p, w, b"hello");
    let got = kev(&p, kq, &[]);
    assert_eq!(got, [(ri, EVFILT_READ, EV_ADD, 0, 5), (wi, EVFILT_WRITE, EV_ADD, 0, 65531)]);
    assert_eq!(read(&p, r, 2), 2);
    assert_eq!(kev(&p, kq, &[])[0], (ri, EVFILT_READ, EV_ADD, 0, 3));
    // Closing w takes its note along; the reader sees EOF with data left.
    rump_sys_close(&p, w).unwrap();
    assert_eq!(kev(&p, kq, &[]), [(ri, EVFILT_READ, EV_ADD | EV_EOF, 0, 3)]);
    assert_eq!(read(&p, r, 8), 3);
    assert_eq!(kev(&p, kq, &[]), [(ri, EVFILT_READ, EV_ADD | EV_EOF, 0, 0)]);

    // A writer whose reader is gone sees EOF and no room.
    let (r2, w2) = pipe(&p);
    assert_eq!(kev(&p, kq, &[change(w2, EVFILT_WRITE, EV_ADD, 0), change(r, EVFILT_READ, EV_DELETE, 0)]).len(), 1);
    rump_sys_close(&p, r2).unwrap();
    assert_eq!(kev(&p, kq, &[]), [(w2 as u64, EVFILT_WRITE, EV_ADD | EV_EOF, 0, 0)]);
}

#[test]
fn a_full_pipe_is_not_writable_until_a_page_frees() {
    let (_k, p) = boot();
    let mut fds = [0i32; 2];
    rump_sys_pipe2(&p, fds.as_mut_ptr(), O_NONBLOCK as i32).unwrap();
    let [r, w] = fds;
    let kq = kqueue(&p);
    assert_eq!(kev(&p, kq, &[change(w, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0)]).len(), 1);
    let big = vec![7u8; 70000];
    assert_eq!(rump_sys_write(&p, w, big.as_ptr().cast(), big.len()), Ok(65536));
    assert_eq!(kev(&p, kq, &[]), []);
    // A byte read leaves every page in use.
    assert_eq!(read(&p, r, 1), 1);
    assert_eq!(kev(&p, kq, &[]), []);
    assert_eq!(read(&p, r, 4095), 4095);
    assert_eq!(kev(&p, kq, &[]), [(w as u64, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 4096)]);
}

#[test]
fn ev_clear_reports_again_only_after_new_activity() {
    let (_k, p) = boot();
    let (r, w) = pipe(&p);
    let kq = kqueue(&p);
    let flags = EV_ADD | EV_CLEAR;
    assert_eq!(kev(&p, kq, &[change(r, EVFILT_READ, flags, 0)]), []);
    write(&p, w, b"ab");
    assert_eq!(kev(&p, kq, &[]), [(r as u64, EVFILT_READ, flags, 0, 2)]);
    assert_eq!(kev(&p, kq, &[]), []);
    write(&p, w, b"c");
    assert_eq!(kev(&p, kq, &[]), [(r as u64, EVFILT_READ, flags, 0, 3)]);
}

#[test]
fn ev_oneshot_reports_once_and_drops_the_note() {
    let (_k, p) = boot();
    let (r, w) = pipe(&p);
    let kq = kqueue(&p);
    write(&p, w, b"x");
    let flags = EV_ADD | EV_ONESHOT;
    assert_eq!(kev(&p, kq, &[change(r, EVFILT_READ, flags, 0)]), [(r as u64, EVFILT_READ, flags, 0, 1)]);
    write(&p, w, b"y");
    assert_eq!(kev(&p, kq, &[]), []);
    assert_eq!(kevent_call(&p, kq, &[change(r, EVFILT_READ, EV_DELETE, 0)], 0, Some(&NOW)), Err(ENOENT));
}

#[test]
fn ev_dispatch_and_disable_hold_events_until_enabled() {
    let (_k, p) = boot();
    let (r, w) = pipe(&p);
    let kq = kqueue(&p);
    let flags = EV_ADD | EV_DISPATCH;
    assert_eq!(kev(&p, kq, &[change(r, EVFILT_READ, flags, 0)]), []);
    write(&p, w, b"ab");
    assert_eq!(kev(&p, kq, &[]), [(r as u64, EVFILT_READ, flags, 0, 2)]);
    write(&p, w, b"c");
    assert_eq!(kev(&p, kq, &[]), []);
    assert_eq!(kev(&p, kq, &[change(r, EVFILT_READ, EV_ENABLE, 0)]), [(r as u64, EVFILT_READ, flags, 0, 3)]);

    // Added disabled: nothing until enabled, then what is there.
    let (r2, w2) = pipe(&p);
    write(&p, w2, b"z");
    assert_eq!(kev(&p, kq, &[change(r2, EVFILT_READ, EV_ADD | EV_DISABLE, 0)]), []);
    let got = kev(&p, kq, &[change(r2, EVFILT_READ, EV_ENABLE, 0)]);
    assert_eq!(got, [(r2 as u64, EVFILT_READ, EV_ADD | EV_DISABLE, 0, 1)]);
}

#[test]
fn errors_are_netbsds() {
    let (_k, p) = boot();
    let (r, w) = pipe(&p);
    let kq = kqueue(&p);
    assert_eq!(kevent_call(&p, r, &[], 4, Some(&NOW)), Err(EBADF));
    assert_eq!(kevent_call(&p, 99, &[], 4, Some(&NOW)), Err(EBADF));
    // With no room, the first failing change fails the call.
    assert_eq!(kevent_call(&p, kq, &[change(r, 42, EV_ADD, 0)], 0, Some(&NOW)), Err(EINVAL));
    assert_eq!(kevent_call(&p, kq, &[change(99, EVFILT_READ, EV_ADD, 0)], 0, Some(&NOW)), Err(EBADF));
    assert_eq!(kevent_call(&p, kq, &[change(r, EVFILT_VNODE, EV_ADD, NOTE_WRITE)], 0, Some(&NOW)), Err(EINVAL));
    assert_eq!(kevent_call(&p, kq, &[change(kq, EVFILT_READ, EV_ADD, 0)], 0, Some(&NOW)), Err(EINVAL));
    // With room, each becomes an EV_ERROR entry, receipts too, and no
    // events are collected.
    write(&p, w, b"x");
    let changes = [
        change(r, 42, EV_ADD, 0),
        change(r, EVFILT_READ, EV_DELETE, 0),
        change(r, EVFILT_READ, EV_ADD | EV_RECEIPT, 0),
        change(w, EVFILT_WRITE, EV_ADD, 0),
    ];
    let got = kevent_call(&p, kq, &changes, 8, Some(&NOW)).unwrap();
    let errs: Vec<_> = got.iter().map(|e| (e.ident, e.filter, e.flags, e.data)).collect();
    let (ri, read_f) = (r as u64, EVFILT_READ);
    assert_eq!(
        errs,
        [(ri, 42, EV_ERROR, EINVAL.0 as i64), (ri, read_f, EV_ERROR, ENOENT.0 as i64), (ri, read_f, EV_ERROR, 0)]
    );
    // The changes were made all the same.
    assert_eq!(kev(&p, kq, &[]).len(), 2);
    let bad = timespec { tv_sec: 0, tv_nsec: 1_000_000_000 };
    assert_eq!(kevent_call(&p, kq, &[], 1, Some(&bad)), Err(EINVAL));
    assert_eq!(rump_sys_kqueue1(&p, O_APPEND as i32), Err(EINVAL));
    let mut b = [0u8; 4];
    assert_eq!(rump_sys_read(&p, kq, b.as_mut_ptr().cast(), 4), Err(ENXIO));
    assert_eq!(rump_sys_write(&p, kq, b.as_ptr().cast(), 4), Err(ENXIO));
    let kq2 = rump_sys_kqueue1(&p, (O_CLOEXEC | O_NONBLOCK) as i32).unwrap();
    assert_eq!(rump_sys_fcntl(&p, kq2, F_GETFD, null_mut()), Ok(FD_CLOEXEC as i32));
    assert_eq!(rump_sys_fcntl(&p, kq2, F_GETFL, null_mut()), Ok((O_RDWR | O_NONBLOCK) as i32));
}

#[test]
fn closing_an_fd_removes_its_notes_and_a_closed_queue_frees_everything() {
    let (k, p) = boot();
    let used = k.with_state(|st| st.mem.used());
    let (r, w) = pipe(&p);
    let kq = kqueue(&p);
    let r2 = rump_sys_dup(&p, r).unwrap();
    kev(&p, kq, &[change(r, EVFILT_READ, EV_ADD, 0), change(r2, EVFILT_READ, EV_ADD, 0)]);
    rump_sys_close(&p, r).unwrap();
    write(&p, w, b"x");
    assert_eq!(kev(&p, kq, &[]), [(r2 as u64, EVFILT_READ, EV_ADD, 0, 1)]);
    assert_eq!(kevent_call(&p, kq, &[change(r, EVFILT_READ, EV_DELETE, 0)], 0, Some(&NOW)), Err(EBADF));
    // dup2 over an fd closes it: its note goes too.
    rump_sys_dup2(&p, w, r2).unwrap();
    assert_eq!(kevent_call(&p, kq, &[change(r2, EVFILT_READ, EV_DELETE, 0)], 0, Some(&NOW)), Err(ENOENT));
    kev(&p, kq, &[change(w, EVFILT_WRITE, EV_ADD, 0)]);
    for fd in [kq, r2, w] {
        rump_sys_close(&p, fd).unwrap();
    }
    assert_eq!(k.with_state(|st| st.mem.used()), used);
}

#[test]
fn a_child_does_not_inherit_a_kqueue() {
    let (_k, p) = boot();
    let kq = kqueue(&p);
    let child = p.fork().unwrap();
    assert_eq!(kevent_call(&child, kq, &[], 1, Some(&NOW)), Err(EBADF));
    assert_eq!(kevent_call(&p, kq, &[], 1, Some(&NOW)), Ok(vec![]), "the parent keeps it");
}

#[test]
fn vnode_notes_report_what_happened() {
    let (_k, p) = boot();
    rump_sys_mkdir(&p, c("/d").as_ptr(), 0o755).unwrap();
    let fd = open(&p, "/d/f", O_RDWR | O_CREAT);
    let dir = open(&p, "/d", O_RDONLY);
    let kq = kqueue(&p);
    let all = NOTE_DELETE
        | NOTE_WRITE
        | NOTE_EXTEND
        | NOTE_ATTRIB
        | NOTE_LINK
        | NOTE_RENAME
        | NOTE_OPEN
        | NOTE_CLOSE
        | NOTE_CLOSE_WRITE
        | NOTE_READ;
    let flags = EV_ADD | EV_CLEAR;
    assert_eq!(kev(&p, kq, &[change(fd, EVFILT_VNODE, flags, all), change(dir, EVFILT_VNODE, flags, all)]), []);
    let file_saw = |what: &str, notes: u32| {
        assert_eq!(kev(&p, kq, &[]), [(fd as u64, EVFILT_VNODE, flags, notes, 0)], "{what}");
    };
    write(&p, fd, b"hello");
    file_saw("write", NOTE_WRITE | NOTE_EXTEND);
    rump_sys_pwrite(&p, fd, b"J".as_ptr().cast(), 1, 0).unwrap();
    file_saw("pwrite inside", NOTE_WRITE);
    rump_sys_ftruncate(&p, fd, 100).unwrap();
    file_saw("grow", NOTE_WRITE | NOTE_EXTEND);
    rump_sys_ftruncate(&p, fd, 10).unwrap();
    file_saw("shrink", NOTE_WRITE);
    rump_sys_fchmod(&p, fd, 0o600).unwrap();
    file_saw("chmod", NOTE_ATTRIB);
    rump_sys_fchown(&p, fd, 1, 1).unwrap();
    file_saw("chown", NOTE_ATTRIB);
    rump_sys_futimens(&p, fd, null()).unwrap();
    file_saw("utimens", NOTE_ATTRIB);
    let other = open(&p, "/d/f", O_RDONLY);
    file_saw("open", NOTE_OPEN);
    assert_eq!(read(&p, other, 4), 4);
    file_saw("read", NOTE_READ);
    rump_sys_close(&p, other).unwrap();
    file_saw("close", NOTE_CLOSE);
    let writer = open(&p, "/d/f", O_WRONLY);
    rump_sys_close(&p, writer).unwrap();
    file_saw("open and close for writing", NOTE_OPEN | NOTE_CLOSE_WRITE);

    let dir_saw = |what: &str, file: u32, d: u32| {
        let mut want = Vec::new();
        if file != 0 {
            want.push((fd as u64, EVFILT_VNODE, flags, file, 0));
        }
        if d != 0 {
            want.push((dir as u64, EVFILT_VNODE, flags, d, 0));
        }
        want.sort();
        assert_eq!(kev(&p, kq, &[]), want, "{what}");
    };
    rump_sys_link(&p, c("/d/f").as_ptr(), c("/d/g").as_ptr()).unwrap();
    dir_saw("link", NOTE_LINK, NOTE_WRITE);
    rump_sys_unlink(&p, c("/d/g").as_ptr()).unwrap();
    dir_saw("unlink a second name", NOTE_LINK, NOTE_WRITE);
    rump_sys_rename(&p, c("/d/f").as_ptr(), c("/d/h").as_ptr()).unwrap();
    dir_saw("rename", NOTE_RENAME, NOTE_WRITE);
    rump_sys_mkdir(&p, c("/d/sub").as_ptr(), 0o755).unwrap();
    dir_saw("mkdir", 0, NOTE_WRITE | NOTE_LINK);
    rump_sys_unlink(&p, c("/d/h").as_ptr()).unwrap();
    dir_saw("unlink the last name", NOTE_LINK | NOTE_DELETE, NOTE_WRITE);
}

#[test]
fn a_vnode_note_reports_only_what_it_asked_for_and_keeps_it_without_ev_clear() {
    let (_k, p) = boot();
    let fd = open(&p, "/f", O_RDWR | O_CREAT);
    let kq = kqueue(&p);
    kev(&p, kq, &[change(fd, EVFILT_VNODE, EV_ADD, NOTE_ATTRIB)]);
    write(&p, fd, b"x");
    assert_eq!(kev(&p, kq, &[]), []);
    rump_sys_fchmod(&p, fd, 0o600).unwrap();
    let want = [(fd as u64, EVFILT_VNODE, EV_ADD, NOTE_ATTRIB, 0)];
    assert_eq!(kev(&p, kq, &[]), want);
    assert_eq!(kev(&p, kq, &[]), want, "level-triggered: still there");
}

#[test]
fn file_filters_read_counts_what_is_left_and_write_is_always_ready() {
    let (_k, p) = boot();
    let fd = open(&p, "/f", O_RDWR | O_CREAT);
    write(&p, fd, b"0123456789");
    rump_sys_lseek(&p, fd, 4, SEEK_SET).unwrap();
    let kq = kqueue(&p);
    let got = kev(&p, kq, &[change(fd, EVFILT_READ, EV_ADD, 0), change(fd, EVFILT_WRITE, EV_ADD, 0)]);
    let (f, r, w) = (fd as u64, EVFILT_READ, EVFILT_WRITE);
    assert_eq!(got, [(f, r, EV_ADD, 0, 6), (f, w, EV_ADD, 0, 0)]);
    rump_sys_lseek(&p, fd, 0, SEEK_END).unwrap();
    assert_eq!(kev(&p, kq, &[]), [(f, w, EV_ADD, 0, 0)]);
    rump_sys_pwrite(&p, fd, b"ab".as_ptr().cast(), 2, 10).unwrap();
    assert_eq!(kev(&p, kq, &[]), [(f, r, EV_ADD, 0, 2), (f, w, EV_ADD, 0, 0)]);
}

#[test]
fn a_kqueue_is_pollable_and_watchable() {
    let (_k, p) = boot();
    let (r, w) = pipe(&p);
    let kq = kqueue(&p);
    let outer = kqueue(&p);
    kev(&p, kq, &[change(r, EVFILT_READ, EV_ADD, 0)]);
    assert_eq!(kev(&p, outer, &[change(kq, EVFILT_READ, EV_ADD, 0)]), []);
    let mut set = [pollfd { fd: kq, events: POLLIN, revents: 0 }];
    assert_eq!(rump_sys_poll(&p, set.as_mut_ptr(), 1, 0), Ok(0));
    write(&p, w, b"x");
    assert_eq!(rump_sys_poll(&p, set.as_mut_ptr(), 1, 0), Ok(1));
    assert_eq!(set[0].revents, POLLIN);
    assert_eq!(kev(&p, outer, &[]), [(kq as u64, EVFILT_READ, EV_ADD, 0, 1)]);
}

#[test]
fn a_thread_blocked_in_kevent_wakes_on_a_write() {
    let (_k, p) = boot();
    let p = Arc::new(p);
    let (r, w) = pipe(&p);
    let kq = kqueue(&p);
    kev(&p, kq, &[change(r, EVFILT_READ, EV_ADD, 0)]);
    let p2 = p.clone();
    let t = std::thread::spawn(move || seen(kevent_call(&p2, kq, &[], 4, None).unwrap()));
    std::thread::sleep(Duration::from_millis(50));
    write(&p, w, b"wake");
    assert_eq!(t.join().unwrap(), [(r as u64, EVFILT_READ, EV_ADD, 0, 4)]);
}

#[test]
fn timeouts_bound_the_wait() {
    let (_k, p) = boot();
    let (r, _w) = pipe(&p);
    let kq = kqueue(&p);
    kev(&p, kq, &[change(r, EVFILT_READ, EV_ADD, 0)]);
    let start = Instant::now();
    assert_eq!(kevent_call(&p, kq, &[], 4, Some(&NOW)), Ok(vec![]));
    let short = timespec { tv_sec: 0, tv_nsec: 50_000_000 };
    assert_eq!(kevent_call(&p, kq, &[], 4, Some(&short)), Ok(vec![]));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(50) && waited < Duration::from_secs(5), "{waited:?}");
    // No room for events: nothing to wait for, even without a timeout.
    assert_eq!(kevent_call(&p, kq, &[], 0, None), Ok(vec![]));
}

#[test]
fn a_thousand_idle_notes_report_only_the_ready_one() {
    let k = Kernel::boot(Config { max_fds: 4096, ..Config::default() }).expect("boot");
    let p = k.spawn(Emulation::Native, Cred::root(), "test").unwrap();
    let kq = kqueue(&p);
    let pipes: Vec<(i32, i32)> = (0..1000).map(|_| pipe(&p)).collect();
    let changes: Vec<kevent> = pipes.iter().map(|&(r, _)| change(r, EVFILT_READ, EV_ADD, 0)).collect();
    assert_eq!(kev(&p, kq, &changes), []);
    let (r, w) = pipes[500];
    write(&p, w, b"x");
    assert_eq!(kev(&p, kq, &[]), [(r as u64, EVFILT_READ, EV_ADD, 0, 1)]);
}
