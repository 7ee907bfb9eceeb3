//! inotify events made by the kernel that the differential tests do not
//! reach: the queue limit (IN_Q_OVERFLOW), kqueue and inotify hearing one
//! change to one directory, a file renamed while open reporting its new
//! name, a blocking read woken by another thread, the calls an inotify fd
//! refuses, and the memory of watches and their vnodes given back.

use rump_abi::linux::flags::*;
use rump_abi::linux::sys::*;
use rump_abi::native::flags::{EVFILT_VNODE, EV_ADD, EV_CLEAR, NOTE_WRITE};
use rump_abi::native::types::{kevent, timespec};
use rump_abi::Errno;
use rump_kernel::compat::linux::inotify::MAX_QUEUED;
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use std::ffi::CString;
use std::sync::Arc;
use std::time::Duration;

const AT_FDCWD: i32 = -100;
const O_RDONLY: i32 = 0;
const O_WRONLY: i32 = 1;
const O_CREAT: i32 = 0o100;
const FIONREAD: u32 = 0x541b;

fn boot() -> (Kernel, Process) {
    let k = Kernel::boot(Config::default()).expect("boot");
    let p = k.spawn(Emulation::Linux, Cred::root(), "inotify").unwrap();
    (k, p)
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn open(p: &Process, path: &str, flags: i32) -> i32 {
    rump_sys_openat(p, AT_FDCWD, c(path).as_ptr(), flags, 0o644).unwrap()
}

fn close(p: &Process, fd: i32) {
    rump_sys_close(p, fd as u32).unwrap();
}

fn watch(p: &Process, fd: i32, path: &str, mask: u32) -> i32 {
    rump_sys_inotify_add_watch(p, fd, c(path).as_ptr(), mask).unwrap()
}

/// One read of up to `room` bytes, parsed: (wd, mask, cookie, name).
fn events(p: &Process, fd: i32, room: usize) -> Result<Vec<(i32, u32, u32, String)>, Errno> {
    let mut buf = vec![0u8; room];
    let n = rump_sys_read(p, fd as u32, buf.as_mut_ptr().cast(), room)? as usize;
    let mut out = Vec::new();
    let mut at = 0;
    let word = |i: usize| u32::from_ne_bytes(buf[i..i + 4].try_into().unwrap());
    while at < n {
        let len = word(at + 12) as usize;
        let name = &buf[at + 16..at + 16 + len];
        let name = String::from_utf8_lossy(name.split(|&b| b == 0).next().unwrap()).into_owned();
        out.push((word(at) as i32, word(at + 4), word(at + 8), name));
        at += 16 + len;
    }
    Ok(out)
}

fn fionread(p: &Process, fd: i32) -> i32 {
    let mut n = 0i32;
    rump_sys_ioctl(p, fd as u32, FIONREAD, (&mut n as *mut i32).cast()).unwrap();
    n
}

#[test]
fn a_full_queue_ends_in_one_overflow_record() {
    let (_k, p) = boot();
    rump_sys_mkdirat(&p, AT_FDCWD, c("/d").as_ptr(), 0o755).unwrap();
    let ino = rump_sys_inotify_init1(&p, IN_NONBLOCK as i32).unwrap();
    let wd = watch(&p, ino, "/d", IN_OPEN | IN_CLOSE_NOWRITE);
    close(&p, open(&p, "/d/f", O_WRONLY | O_CREAT));
    // Opens and closes alternate, so no record repeats the one before.
    for _ in 0..MAX_QUEUED / 2 + 10 {
        close(&p, open(&p, "/d/f", O_RDONLY));
    }
    let named = 16 + 16;
    assert_eq!(fionread(&p, ino) as usize, MAX_QUEUED * named + 16);
    let mut all = Vec::new();
    while let Ok(mut got) = events(&p, ino, 65536) {
        all.append(&mut got);
    }
    assert_eq!(all.len(), MAX_QUEUED + 1);
    assert_eq!(all[0], (wd, IN_OPEN, 0, "f".into()));
    assert_eq!(all[1], (wd, IN_CLOSE_NOWRITE, 0, "f".into()));
    assert_eq!(all[MAX_QUEUED], (-1, IN_Q_OVERFLOW, 0, String::new()));
    // Room again: the next change queues as usual.
    close(&p, open(&p, "/d/f", O_RDONLY));
    assert_eq!(events(&p, ino, 4096).unwrap().len(), 2);
}

#[test]
fn kqueue_and_inotify_hear_one_change() {
    let (k, linux) = boot();
    let native = k.spawn(Emulation::Native, Cred::root(), "kq").unwrap();
    rump_sys_mkdirat(&linux, AT_FDCWD, c("/d").as_ptr(), 0o755).unwrap();
    let dir = rump_abi::native::sys::rump_sys_open(&native, c("/d").as_ptr(), 0, 0).unwrap();
    let kq = rump_abi::native::sys::rump_sys_kqueue(&native).unwrap();
    let ch = kevent {
        ident: dir as u64,
        filter: EVFILT_VNODE,
        flags: EV_ADD | EV_CLEAR,
        fflags: NOTE_WRITE,
        ..kevent::default()
    };
    let now = timespec { tv_sec: 0, tv_nsec: 0 };
    let kev = |changes: &[kevent]| {
        let mut out = [kevent::default(); 2];
        let n = rump_abi::native::sys::rump_sys_kevent(
            &native,
            kq,
            changes.as_ptr(),
            changes.len(),
            out.as_mut_ptr(),
            2,
            &now,
        )
        .unwrap();
        out[..n as usize].iter().map(|e| (e.ident, e.fflags)).collect::<Vec<_>>()
    };
    assert_eq!(kev(&[ch]), []);
    let ino = rump_sys_inotify_init1(&linux, IN_NONBLOCK as i32).unwrap();
    let wd = watch(&linux, ino, "/d", IN_CREATE);
    close(&linux, open(&linux, "/d/new", O_WRONLY | O_CREAT));
    assert_eq!(kev(&[]), [(dir as u64, NOTE_WRITE)]);
    assert_eq!(events(&linux, ino, 4096).unwrap(), [(wd, IN_CREATE, 0, "new".into())]);
}

#[test]
fn a_file_renamed_while_open_reports_its_new_name() {
    let (_k, p) = boot();
    rump_sys_mkdirat(&p, AT_FDCWD, c("/d").as_ptr(), 0o755).unwrap();
    let f = open(&p, "/d/old", O_WRONLY | O_CREAT);
    let ino = rump_sys_inotify_init1(&p, IN_NONBLOCK as i32).unwrap();
    let wd = watch(&p, ino, "/d", IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO);
    rump_sys_renameat(&p, AT_FDCWD, c("/d/old").as_ptr(), AT_FDCWD, c("/d/new").as_ptr()).unwrap();
    assert_eq!(rump_sys_write(&p, f as u32, b"x".as_ptr().cast(), 1), Ok(1));
    let got = events(&p, ino, 4096).unwrap();
    let cookie = got[0].2;
    assert_ne!(cookie, 0);
    assert_eq!(
        got,
        [
            (wd, IN_MOVED_FROM, cookie, "old".into()),
            (wd, IN_MOVED_TO, cookie, "new".into()),
            (wd, IN_MODIFY, 0, "new".into())
        ]
    );
}

#[test]
fn a_blocking_read_wakes_for_another_threads_change() {
    let (_k, p) = boot();
    let p = Arc::new(p);
    rump_sys_mkdirat(&*p, AT_FDCWD, c("/d").as_ptr(), 0o755).unwrap();
    let ino = rump_sys_inotify_init1(&*p, 0).unwrap();
    let wd = watch(&p, ino, "/d", IN_CREATE);
    let other = Arc::clone(&p);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        close(&other, open(&other, "/d/late", O_WRONLY | O_CREAT));
    });
    assert_eq!(events(&p, ino, 4096).unwrap(), [(wd, IN_CREATE, 0, "late".into())]);
    t.join().unwrap();
}

#[test]
fn an_inotify_fd_refuses_what_linux_refuses() {
    let (_k, p) = boot();
    let ino = rump_sys_inotify_init1(&p, IN_NONBLOCK as i32).unwrap();
    let mut b = [0u8; 64];
    assert_eq!(rump_sys_pread64(&p, ino as u32, b.as_mut_ptr().cast(), 64, 0), Err(Errno(libc::ESPIPE)));
    assert_eq!(rump_sys_write(&p, ino as u32, b.as_ptr().cast(), 1), Err(Errno(libc::EINVAL)));
    assert_eq!(rump_sys_read(&p, ino as u32, b.as_mut_ptr().cast(), 64), Err(Errno(libc::EAGAIN)));
    assert_eq!(rump_sys_inotify_init1(&p, 1), Err(Errno(libc::EINVAL)));
    let file = open(&p, "/f", O_WRONLY | O_CREAT);
    assert_eq!(rump_sys_inotify_add_watch(&p, file, c("/").as_ptr(), IN_CREATE), Err(Errno(libc::EINVAL)));
    assert_eq!(rump_sys_inotify_rm_watch(&p, ino, 1), Err(Errno(libc::EINVAL)));
}

#[test]
fn watches_and_their_vnodes_are_given_back() {
    let (k, p) = boot();
    let used = || k.with_state(|st| st.mem.used());
    close(&p, open(&p, "/f", O_WRONLY | O_CREAT));
    let before = used();
    let ino = rump_sys_inotify_init1(&p, IN_NONBLOCK as i32).unwrap();
    let wd = watch(&p, ino, "/f", IN_ALL_EVENTS);
    // Without IN_MASK_ADD the new mask replaces the old one.
    assert_eq!(watch(&p, ino, "/f", IN_ATTRIB), wd, "one watch per vnode");
    // The watch holds the file past its last name, until it says so; it
    // goes whether or not it asked for IN_DELETE_SELF.
    rump_sys_unlinkat(&p, AT_FDCWD, c("/f").as_ptr(), 0).unwrap();
    let got = events(&p, ino, 4096).unwrap();
    assert_eq!(got, [(wd, IN_ATTRIB, 0, String::new()), (wd, IN_IGNORED, 0, String::new())]);
    close(&p, ino);
    // What is left is the file's own memory, gone with its name.
    assert!(used() < before, "{} then {}", before, used());
    let base = used();
    for _ in 0..100 {
        let ino = rump_sys_inotify_init1(&p, 0).unwrap();
        watch(&p, ino, "/", IN_CREATE);
        close(&p, ino);
    }
    assert_eq!(used(), base);
}
