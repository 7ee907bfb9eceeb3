//! The kernel memory budget (`Config::ram_limit`, rump_server `-r`): file
//! data fills it with ENOSPC, kernel objects past it fail with ENOMEM, and
//! every charge is given back when its object goes.

use rump_abi::native::errno::*;
use rump_abi::native::flags::*;
use rump_abi::native::sys::*;
use rump_abi::native::types::{stat, statvfs};
use rump_abi::Errno;
use rump_kernel::cred::Cred;
use rump_kernel::mem::{FILE_BYTES, PROC_BYTES};
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use std::ffi::CString;

const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;

fn boot(config: Config) -> Kernel {
    Kernel::boot(config).expect("boot")
}

fn spawn(k: &Kernel) -> Result<Process, Errno> {
    k.spawn(Emulation::Native, Cred::root(), "memlimit")
}

fn used(k: &Kernel) -> u64 {
    k.with_state(|st| st.mem.used())
}

fn available(k: &Kernel) -> u64 {
    k.with_state(|st| st.mem.available())
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn open(p: &Process, path: &str, flags: u32) -> Result<i32, Errno> {
    rump_sys_open(p, c(path).as_ptr(), flags as i32, 0o644)
}

fn create(p: &Process, path: &str) -> Result<i32, Errno> {
    rump_sys_openat(p, AT_FDCWD, c(path).as_ptr(), (O_RDWR | O_CREAT) as i32, 0o644)
}

fn pipe(p: &Process) -> Result<(i32, i32), Errno> {
    let mut fds = [0i32; 2];
    rump_sys_pipe2(p, fds.as_mut_ptr(), 0)?;
    Ok((fds[0], fds[1]))
}

fn write(p: &Process, fd: i32, data: &[u8]) -> Result<isize, Errno> {
    rump_sys_write(p, fd, data.as_ptr().cast(), data.len())
}

fn exists(p: &Process, path: &str) -> bool {
    let mut st = stat::default();
    rump_sys_stat(p, c(path).as_ptr(), &mut st).is_ok()
}

#[test]
fn a_full_budget_refuses_files_and_kernel_objects() {
    let k = boot(Config { ram_limit: Some(MIB), ..Config::default() });
    let boot_used = used(&k);
    assert!(boot_used > 0 && boot_used < PAGE);
    let p = spawn(&k).unwrap();
    assert_eq!(used(&k), boot_used + PROC_BYTES);
    rump_sys_mkfifo(&p, c("/fifo").as_ptr(), 0o644).unwrap();

    // Writing 2 MiB into a 1 MiB kernel: a short write, then ENOSPC.
    let big = open(&p, "/big", O_RDWR | O_CREAT).unwrap();
    let data = vec![0x5a; 2 * MIB as usize];
    let n = write(&p, big, &data).unwrap() as u64;
    assert!(n > MIB / 2 && n < MIB && n.is_multiple_of(PAGE), "{n}");
    assert_eq!(write(&p, big, b"more"), Err(ENOSPC));
    assert!(available(&k) < PAGE);

    // statfs of tmpfs shows the budget and how little is left of it.
    let mut v = statvfs::default();
    rump_sys_statvfs1(&p, c("/").as_ptr(), &mut v, 1).unwrap();
    assert_eq!((v.f_blocks * v.f_frsize, v.f_bfree), (MIB, 0));

    // Kernel objects do not fit: ENOMEM.
    assert_eq!(pipe(&p), Err(ENOMEM));
    assert_eq!(spawn(&k).err(), Some(ENOMEM));
    assert_eq!(p.fork().err(), Some(ENOMEM));
    assert_eq!(open(&p, "/fifo", O_RDWR | O_NONBLOCK), Err(ENOMEM));

    // Top up the budget with open files until not even one more fits.
    let mut extra = Vec::new();
    let err = loop {
        match open(&p, "/big", O_RDONLY) {
            Ok(fd) => extra.push(fd),
            Err(e) => break e,
        }
    };
    assert_eq!(err, ENOMEM);
    assert!(available(&k) < FILE_BYTES);
    // No room for the open file: ENOMEM before anything is created.
    assert_eq!(create(&p, "/new"), Err(ENOMEM));
    assert!(!exists(&p, "/new"));
    // Room for the open file but not for the node: tmpfs's ENOSPC.
    rump_sys_close(&p, extra.pop().unwrap()).unwrap();
    assert!(available(&k) >= FILE_BYTES && available(&k) < 2 * FILE_BYTES);
    assert_eq!(create(&p, "/new"), Err(ENOSPC));
    assert!(!exists(&p, "/new"));
    assert_eq!(rump_sys_mkdir(&p, c("/dir").as_ptr(), 0o755), Err(ENOSPC));

    // Freeing the file frees the memory: everything works again.
    for fd in extra.drain(..) {
        rump_sys_close(&p, fd).unwrap();
    }
    rump_sys_close(&p, big).unwrap();
    rump_sys_unlink(&p, c("/big").as_ptr()).unwrap();
    let (r, w) = pipe(&p).unwrap();
    assert_eq!(write(&p, w, b"through"), Ok(7));
    let child = p.fork().unwrap();
    let other = spawn(&k).unwrap();
    let new = create(&p, "/new").unwrap();
    let fifo = open(&p, "/fifo", O_RDWR | O_NONBLOCK).unwrap();
    rump_sys_mkdir(&p, c("/dir").as_ptr(), 0o755).unwrap();

    // Closing and removing everything brings the counter back to boot.
    for fd in [r, w, new, fifo] {
        rump_sys_close(&p, fd).unwrap();
    }
    for path in ["/new", "/fifo"] {
        rump_sys_unlink(&p, c(path).as_ptr()).unwrap();
    }
    rump_sys_rmdir(&p, c("/dir").as_ptr()).unwrap();
    drop((child, other));
    assert_eq!(used(&k), boot_used + PROC_BYTES);
    drop(p);
    assert_eq!(used(&k), boot_used);
}

#[test]
fn failed_calls_and_exits_leak_nothing() {
    // No limit, and a tiny fd table so that pipe2 fails halfway.
    let k = boot(Config { max_fds: 4, ..Config::default() });
    let boot_used = used(&k);
    let p = spawn(&k).unwrap();
    let held = open(&p, "/dev/null", O_RDONLY).unwrap();
    let (r, w) = pipe(&p).unwrap();
    // One fd left: the pipe's write end has nowhere to go.
    assert_eq!(pipe(&p), Err(EMFILE));
    assert_eq!(open(&p, "/missing", O_RDONLY), Err(ENOENT));
    rump_sys_mkfifo(&p, c("/fifo").as_ptr(), 0o644).unwrap();
    // A non-blocking writer with no reader: ENXIO, and its pipe is gone.
    assert_eq!(open(&p, "/fifo", O_WRONLY | O_NONBLOCK), Err(ENXIO));
    assert_eq!(rump_sys_fcntl(&p, held, F_SETFD, FD_CLOEXEC as usize as *mut _), Ok(0));

    // A child shares the open files; its exit and exec close its share.
    let child = p.fork().unwrap();
    child.exec("child").unwrap();
    drop(child);
    rump_sys_close(&p, r).unwrap();
    assert_eq!(write(&p, w, b"x"), Err(EPIPE));
    // A process that exits with fds open closes them.
    let leaver = spawn(&k).unwrap();
    let (_r2, _w2) = pipe(&leaver).unwrap();
    open(&leaver, "/file", O_RDWR | O_CREAT).unwrap();
    drop(leaver);
    rump_sys_unlink(&p, c("/file").as_ptr()).unwrap();
    rump_sys_unlink(&p, c("/fifo").as_ptr()).unwrap();
    drop(p);
    assert_eq!(used(&k), boot_used);
}
