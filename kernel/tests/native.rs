//! The native ABI end to end: a kernel booted in-process, calls made through
//! the generated typed `rump_sys_*` functions, results and errnos checked
//! per syscall family.

use rump_abi::native::errno::*;
use rump_abi::native::flags::*;
use rump_abi::native::sys::*;
use rump_abi::native::types::{iovec, pollfd, stat, timespec};
use rump_abi::Errno;
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use std::ffi::CString;
use std::ptr::{null, null_mut};

fn boot() -> (Kernel, Process) {
    let k = Kernel::boot(Config::default()).expect("boot");
    let p = k.spawn(Emulation::Native, Cred::root(), "test").unwrap();
    (k, p)
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn open(p: &Process, path: &str, flags: u32, mode: u32) -> Result<i32, Errno> {
    rump_sys_open(p, c(path).as_ptr(), flags as i32, mode)
}

fn write_all(p: &Process, fd: i32, data: &[u8]) -> Result<isize, Errno> {
    rump_sys_write(p, fd, data.as_ptr().cast(), data.len())
}

fn read_n(p: &Process, fd: i32, n: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; n];
    let got = rump_sys_read(p, fd, buf.as_mut_ptr().cast(), n)?;
    buf.truncate(got as usize);
    Ok(buf)
}

fn stat_of(p: &Process, path: &str) -> Result<stat, Errno> {
    let mut st = stat::default();
    rump_sys_stat(p, c(path).as_ptr(), &mut st)?;
    Ok(st)
}

fn mkfile(p: &Process, path: &str, data: &[u8]) {
    let fd = open(p, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644).unwrap();
    assert_eq!(write_all(p, fd, data), Ok(data.len() as isize));
    rump_sys_close(p, fd).unwrap();
}

fn pipe(p: &Process, flags: u32) -> (i32, i32) {
    let mut fds = [0i32; 2];
    rump_sys_pipe2(p, fds.as_mut_ptr(), flags as i32).unwrap();
    (fds[0], fds[1])
}

fn cwd(p: &Process) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let n = rump_sys___getcwd(p, buf.as_mut_ptr().cast(), buf.len()).unwrap() as usize;
    buf[..n - 1].to_vec()
}

#[test]
fn file_io_round_trip() {
    let (_k, p) = boot();
    let fd = open(&p, "/f", O_RDWR | O_CREAT | O_EXCL, 0o640).unwrap();
    assert_eq!(write_all(&p, fd, b"hello world"), Ok(11));
    assert_eq!(rump_sys_lseek(&p, fd, 0, SEEK_CUR), Ok(11));
    assert_eq!(rump_sys_lseek(&p, fd, 6, SEEK_SET), Ok(6));
    assert_eq!(read_n(&p, fd, 100).unwrap(), b"world");
    assert_eq!(read_n(&p, fd, 100).unwrap(), b"");
    let mut buf = [0u8; 5];
    assert_eq!(rump_sys_pread(&p, fd, buf.as_mut_ptr().cast(), 5, 0), Ok(5));
    assert_eq!(&buf, b"hello");
    assert_eq!(rump_sys_pwrite(&p, fd, b"J".as_ptr().cast(), 1, 0), Ok(1));
    assert_eq!(rump_sys_lseek(&p, fd, -5, SEEK_END), Ok(6));
    assert_eq!(rump_sys_lseek(&p, fd, -100, SEEK_CUR), Err(EINVAL));
    assert_eq!(rump_sys_lseek(&p, fd, 0, 17), Err(EINVAL));
    let st = stat_of(&p, "/f").unwrap();
    assert_eq!((st.st_size, st.st_mode), (11, S_IFREG | (0o640 & !0o022)));
    assert_eq!(st.st_nlink, 1);
    assert_eq!(open(&p, "/f", O_RDWR | O_CREAT | O_EXCL, 0o600), Err(EEXIST));
    assert_eq!(open(&p, "/f", O_RDONLY | O_DIRECTORY, 0), Err(ENOTDIR));
    assert_eq!(open(&p, "/missing", O_RDONLY, 0), Err(ENOENT));
    let ro = open(&p, "/f", O_RDONLY, 0).unwrap();
    assert_eq!(write_all(&p, ro, b"x"), Err(EBADF));
    let wo = open(&p, "/f", O_WRONLY | O_APPEND, 0).unwrap();
    assert_eq!(read_n(&p, wo, 1), Err(EBADF));
    assert_eq!(write_all(&p, wo, b"!"), Ok(1));
    assert_eq!(stat_of(&p, "/f").unwrap().st_size, 12);
    let t = open(&p, "/f", O_WRONLY | O_TRUNC, 0).unwrap();
    assert_eq!(stat_of(&p, "/f").unwrap().st_size, 0);
    for fd in [fd, ro, wo, t] {
        rump_sys_close(&p, fd).unwrap();
    }
    assert_eq!(rump_sys_close(&p, fd), Err(EBADF));
    assert_eq!(read_n(&p, fd, 1), Err(EBADF));
}

#[test]
fn vectored_io() {
    let (_k, p) = boot();
    let fd = open(&p, "/v", O_RDWR | O_CREAT, 0o644).unwrap();
    let (a, b) = (*b"abc", *b"defgh");
    let iov = [iovec { iov_base: a.as_ptr() as u64, iov_len: 3 }, iovec { iov_base: b.as_ptr() as u64, iov_len: 5 }];
    assert_eq!(rump_sys_writev(&p, fd, iov.as_ptr(), 2), Ok(8));
    let (mut x, mut y) = ([0u8; 4], [0u8; 10]);
    let iov =
        [iovec { iov_base: x.as_mut_ptr() as u64, iov_len: 4 }, iovec { iov_base: y.as_mut_ptr() as u64, iov_len: 10 }];
    assert_eq!(rump_sys_preadv(&p, fd, iov.as_ptr(), 2, 1), Ok(7));
    assert_eq!((&x, &y[..3]), (b"bcde", &b"fgh"[..]));
    assert_eq!(rump_sys_readv(&p, fd, iov.as_ptr(), -1), Err(EINVAL));
}

#[test]
fn efault_on_bad_pointers() {
    let (_k, p) = boot();
    let fd = open(&p, "/f", O_RDWR | O_CREAT, 0o644).unwrap();
    write_all(&p, fd, b"data").unwrap();
    rump_sys_lseek(&p, fd, 0, SEEK_SET).unwrap();
    assert_eq!(rump_sys_read(&p, fd, null_mut(), 4), Err(EFAULT));
    assert_eq!(rump_sys_write(&p, fd, null(), 4), Err(EFAULT));
    assert_eq!(rump_sys_open(&p, null(), O_RDONLY as i32, 0), Err(EFAULT));
    assert_eq!(rump_sys_stat(&p, c("/f").as_ptr(), null_mut()), Err(EFAULT));
    // An address in the kernel half is EFAULT too, not a crash.
    assert_eq!(rump_sys_read(&p, fd, 0xffff_8000_0000_0000usize as *mut _, 4), Err(EFAULT));
    assert_eq!(rump_sys_read(&p, fd, null_mut(), 0), Ok(0));
}

/// The names a native getdents buffer holds.
fn dirent_names(buf: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let reclen = u16::from_ne_bytes([buf[off + 8], buf[off + 9]]) as usize;
        let namlen = u16::from_ne_bytes([buf[off + 10], buf[off + 11]]) as usize;
        names.push(String::from_utf8(buf[off + 13..off + 13 + namlen].to_vec()).unwrap());
        off += reclen;
    }
    names.sort();
    names
}

#[test]
fn directories_and_getdents() {
    let (_k, p) = boot();
    rump_sys_mkdir(&p, c("/d").as_ptr(), 0o755).unwrap();
    assert_eq!(rump_sys_mkdir(&p, c("/d").as_ptr(), 0o755), Err(EEXIST));
    assert_eq!(rump_sys_mkdir(&p, c("/nope/x").as_ptr(), 0o755), Err(ENOENT));
    mkfile(&p, "/d/a", b"1");
    mkfile(&p, "/d/b", b"22");
    assert_eq!(rump_sys_mkdir(&p, c("/d/a/x").as_ptr(), 0o755), Err(ENOTDIR));
    assert_eq!(open(&p, "/d/a/", O_RDONLY, 0), Err(ENOTDIR));
    assert_eq!(rump_sys_rmdir(&p, c("/d").as_ptr()), Err(ENOTEMPTY));
    assert_eq!(rump_sys_rmdir(&p, c("/d/a").as_ptr()), Err(ENOTDIR));
    assert_eq!(rump_sys_unlink(&p, c("/d").as_ptr()), Err(EISDIR));
    assert_eq!(open(&p, "/d", O_WRONLY, 0), Err(EISDIR));
    let fd = open(&p, "/d", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let mut buf = vec![0u8; 4096];
    assert_eq!(rump_sys_getdents(&p, fd, buf.as_mut_ptr().cast(), 8), Err(EINVAL));
    let n = rump_sys_getdents(&p, fd, buf.as_mut_ptr().cast(), buf.len()).unwrap() as usize;
    assert_eq!(dirent_names(&buf[..n]), [".", "..", "a", "b"]);
    assert_eq!(rump_sys_getdents(&p, fd, buf.as_mut_ptr().cast(), buf.len()), Ok(0));
    // Rewinding starts over.
    rump_sys_lseek(&p, fd, 0, SEEK_SET).unwrap();
    assert!(rump_sys_getdents(&p, fd, buf.as_mut_ptr().cast(), buf.len()).unwrap() > 0);
    assert_eq!(read_n(&p, fd, 10), Err(EISDIR));
}

#[test]
fn rename_link_symlink() {
    let (_k, p) = boot();
    rump_sys_mkdir(&p, c("/d").as_ptr(), 0o755).unwrap();
    mkfile(&p, "/d/a", b"1");
    mkfile(&p, "/d/b", b"22");
    rump_sys_rename(&p, c("/d/a").as_ptr(), c("/d/c").as_ptr()).unwrap();
    assert_eq!(stat_of(&p, "/d/a"), Err(ENOENT));
    rump_sys_link(&p, c("/d/c").as_ptr(), c("/d/c2").as_ptr()).unwrap();
    assert_eq!(stat_of(&p, "/d/c").unwrap().st_nlink, 2);
    assert_eq!(rump_sys_link(&p, c("/d").as_ptr(), c("/d2").as_ptr()), Err(EPERM));
    assert_eq!(rump_sys_link(&p, c("/d/c").as_ptr(), c("/d/b").as_ptr()), Err(EEXIST));
    rump_sys_symlink(&p, c("c").as_ptr(), c("/d/s").as_ptr()).unwrap();
    let mut lb = [0u8; 64];
    assert_eq!(rump_sys_readlink(&p, c("/d/s").as_ptr(), lb.as_mut_ptr().cast(), 64), Ok(1));
    assert_eq!(rump_sys_readlink(&p, c("/d/c").as_ptr(), lb.as_mut_ptr().cast(), 64), Err(EINVAL));
    assert_eq!(stat_of(&p, "/d/s").unwrap().st_size, 1);
    let mut lst = stat::default();
    rump_sys_lstat(&p, c("/d/s").as_ptr(), &mut lst).unwrap();
    assert_eq!(lst.st_mode & S_IFMT, S_IFLNK);
    assert_eq!(open(&p, "/d/s", O_RDONLY | O_NOFOLLOW, 0), Err(ELOOP));
    rump_sys_mkdir(&p, c("/e").as_ptr(), 0o755).unwrap();
    assert_eq!(rump_sys_rename(&p, c("/d").as_ptr(), c("/d/sub").as_ptr()), Err(EINVAL));
    assert_eq!(rump_sys_rename(&p, c("/e").as_ptr(), c("/d").as_ptr()), Err(ENOTEMPTY));
    assert_eq!(rump_sys_rename(&p, c("/d/b").as_ptr(), c("/e").as_ptr()), Err(EISDIR));
    assert_eq!(rump_sys_rename(&p, c("/e").as_ptr(), c("/d/b").as_ptr()), Err(ENOTDIR));
    // A file replaces another atomically.
    rump_sys_rename(&p, c("/d/c").as_ptr(), c("/d/b").as_ptr()).unwrap();
    let fd = open(&p, "/d/b", O_RDONLY, 0).unwrap();
    assert_eq!(read_n(&p, fd, 10).unwrap(), b"1");
    rump_sys_rmdir(&p, c("/e").as_ptr()).unwrap();
}

#[test]
fn symlink_loops_and_long_names() {
    let (_k, p) = boot();
    rump_sys_symlink(&p, c("/l2").as_ptr(), c("/l1").as_ptr()).unwrap();
    rump_sys_symlink(&p, c("/l1").as_ptr(), c("/l2").as_ptr()).unwrap();
    assert_eq!(open(&p, "/l1", O_RDONLY, 0), Err(ELOOP));
    assert_eq!(stat_of(&p, "/l1/x"), Err(ELOOP));
    // A chain of 32 links resolves; 33 do not.
    rump_sys_mkdir(&p, c("/chain").as_ptr(), 0o755).unwrap();
    mkfile(&p, "/chain/0", b"end");
    for i in 1..=33 {
        rump_sys_symlink(&p, c(&(i - 1).to_string()).as_ptr(), c(&format!("/chain/{i}")).as_ptr()).unwrap();
    }
    assert!(stat_of(&p, "/chain/32").is_ok());
    assert_eq!(stat_of(&p, "/chain/33"), Err(ELOOP));
    let long = "x".repeat(256);
    assert_eq!(open(&p, &format!("/{long}"), O_RDWR | O_CREAT, 0o644), Err(ENAMETOOLONG));
    assert!(open(&p, &format!("/{}", &long[..255]), O_RDWR | O_CREAT, 0o644).is_ok());
    assert_eq!(stat_of(&p, &"a/".repeat(2100)), Err(ENAMETOOLONG));
}

#[test]
fn dotdot_trailing_slashes_and_cwd() {
    let (_k, p) = boot();
    rump_sys_mkdir(&p, c("/a").as_ptr(), 0o755).unwrap();
    rump_sys_mkdir(&p, c("/a/b").as_ptr(), 0o755).unwrap();
    assert!(stat_of(&p, "/a/b/../b/./").is_ok());
    assert_eq!(stat_of(&p, "/..").unwrap().st_ino, stat_of(&p, "/").unwrap().st_ino);
    rump_sys_chdir(&p, c("/a/b").as_ptr()).unwrap();
    mkfile(&p, "rel", b"r");
    assert!(stat_of(&p, "/a/b/rel").is_ok());
    assert_eq!(cwd(&p), b"/a/b");
    let mut small = [0u8; 3];
    assert_eq!(rump_sys___getcwd(&p, small.as_mut_ptr().cast(), 3), Err(ERANGE));
    rump_sys_chdir(&p, c("..").as_ptr()).unwrap();
    assert_eq!(cwd(&p), b"/a");
    // `..` out of a mount leads to the directory above the mount point.
    rump_sys_chdir(&p, c("/dev").as_ptr()).unwrap();
    assert_eq!(cwd(&p), b"/dev");
    assert!(stat_of(&p, "../a/b/rel").is_ok());
    assert_eq!(rump_sys_chdir(&p, c("/a/b/rel").as_ptr()), Err(ENOTDIR));
    let d = open(&p, "/a", O_RDONLY, 0).unwrap();
    rump_sys_fchdir(&p, d).unwrap();
    assert_eq!(cwd(&p), b"/a");
}

#[test]
fn exdev_across_mounts_and_devices() {
    let (_k, p) = boot();
    mkfile(&p, "/f", b"x");
    assert_eq!(rump_sys_rename(&p, c("/f").as_ptr(), c("/dev/f").as_ptr()), Err(EXDEV));
    assert_eq!(rump_sys_link(&p, c("/f").as_ptr(), c("/dev/f").as_ptr()), Err(EXDEV));
    assert_ne!(stat_of(&p, "/f").unwrap().st_dev, stat_of(&p, "/dev/null").unwrap().st_dev);
    let null = open(&p, "/dev/null", O_RDWR, 0).unwrap();
    assert_eq!(write_all(&p, null, b"gone"), Ok(4));
    assert_eq!(read_n(&p, null, 10).unwrap(), b"");
    let zero = open(&p, "/dev/zero", O_RDONLY, 0).unwrap();
    assert_eq!(read_n(&p, zero, 8).unwrap(), [0u8; 8]);
    let full = open(&p, "/dev/full", O_WRONLY, 0).unwrap();
    assert_eq!(write_all(&p, full, b"x"), Err(ENOSPC));
    let rnd = open(&p, "/dev/urandom", O_RDONLY, 0).unwrap();
    assert_ne!(read_n(&p, rnd, 32).unwrap(), read_n(&p, rnd, 32).unwrap());
    assert_eq!(stat_of(&p, "/dev/null").unwrap().st_mode & S_IFMT, S_IFCHR);
    assert_eq!(rump_sys_rmdir(&p, c("/dev").as_ptr()), Err(EBUSY));
}

#[test]
fn sparse_files_and_truncate() {
    let (_k, p) = boot();
    let fd = open(&p, "/s", O_RDWR | O_CREAT, 0o644).unwrap();
    assert_eq!(rump_sys_pwrite(&p, fd, b"end".as_ptr().cast(), 3, 1 << 20), Ok(3));
    let st = stat_of(&p, "/s").unwrap();
    assert_eq!(st.st_size, (1 << 20) + 3);
    assert!(st.st_blocks < 64, "a hole takes no space: {} blocks", st.st_blocks);
    let mut buf = [1u8; 16];
    assert_eq!(rump_sys_pread(&p, fd, buf.as_mut_ptr().cast(), 16, 4096), Ok(16));
    assert_eq!(buf, [0u8; 16]);
    rump_sys_pwrite(&p, fd, b"abcdef".as_ptr().cast(), 6, 0).unwrap();
    rump_sys_ftruncate(&p, fd, 2).unwrap();
    rump_sys_truncate(&p, c("/s").as_ptr(), 10).unwrap();
    assert_eq!(rump_sys_pread(&p, fd, buf.as_mut_ptr().cast(), 16, 0), Ok(10));
    assert_eq!(&buf[..10], b"ab\0\0\0\0\0\0\0\0");
    assert_eq!(rump_sys_ftruncate(&p, fd, -1), Err(EINVAL));
    assert_eq!(rump_sys_truncate(&p, c("/").as_ptr(), 0), Err(EISDIR));
}

#[test]
fn timestamps_and_attributes() {
    let (_k, p) = boot();
    mkfile(&p, "/t", b"x");
    let times = [timespec { tv_sec: 1000, tv_nsec: 5 }, timespec { tv_sec: 2000, tv_nsec: 123_456_789 }];
    rump_sys_utimensat(&p, AT_FDCWD, c("/t").as_ptr(), times.as_ptr(), 0).unwrap();
    let st = stat_of(&p, "/t").unwrap();
    assert_eq!((st.st_atim, st.st_mtim), (times[0], times[1]));
    let omit = [timespec { tv_sec: 0, tv_nsec: UTIME_OMIT }, timespec { tv_sec: 0, tv_nsec: UTIME_NOW }];
    rump_sys_utimensat(&p, AT_FDCWD, c("/t").as_ptr(), omit.as_ptr(), 0).unwrap();
    let st2 = stat_of(&p, "/t").unwrap();
    assert_eq!(st2.st_atim, times[0]);
    assert!(st2.st_mtim.tv_sec > 1_600_000_000);
    let bad = [timespec { tv_sec: 0, tv_nsec: 1_000_000_000 }, timespec::default()];
    assert_eq!(rump_sys_utimensat(&p, AT_FDCWD, c("/t").as_ptr(), bad.as_ptr(), 0), Err(EINVAL));
    rump_sys_chmod(&p, c("/t").as_ptr(), 0o4751).unwrap();
    assert_eq!(stat_of(&p, "/t").unwrap().st_mode & 0o7777, 0o4751);
    rump_sys_chown(&p, c("/t").as_ptr(), 42, 43).unwrap();
    let st = stat_of(&p, "/t").unwrap();
    assert_eq!((st.st_uid, st.st_gid, st.st_mode & 0o7777), (42, 43, 0o751));
    assert_eq!(rump_sys_umask(&p, 0o077), Ok(0o022));
    mkfile(&p, "/u", b"");
    assert_eq!(stat_of(&p, "/u").unwrap().st_mode & 0o777, 0o600);
}

#[test]
fn permissions_for_a_non_root_process() {
    let k = Kernel::boot(Config::default()).unwrap();
    let root = k.spawn(Emulation::Native, Cred::root(), "root").unwrap();
    rump_sys_mkdir(&root, c("/private").as_ptr(), 0o700).unwrap();
    mkfile(&root, "/private/secret", b"s");
    mkfile(&root, "/public", b"p");
    let user = k.spawn(Emulation::Native, Cred::user(1000, 1000), "user").unwrap();
    assert_eq!(stat_of(&user, "/private/secret"), Err(EACCES));
    assert_eq!(open(&user, "/public", O_WRONLY, 0), Err(EACCES));
    assert!(open(&user, "/public", O_RDONLY, 0).is_ok());
    assert_eq!(open(&user, "/new", O_WRONLY | O_CREAT, 0o644), Err(EACCES));
    assert_eq!(rump_sys_mkdir(&user, c("/newdir").as_ptr(), 0o755), Err(EACCES));
    assert_eq!(rump_sys_chmod(&user, c("/public").as_ptr(), 0o777), Err(EPERM));
    assert_eq!(rump_sys_chown(&user, c("/public").as_ptr(), 1000, 1000), Err(EPERM));
    assert_eq!(rump_sys_access(&user, c("/public").as_ptr(), W_OK as i32), Err(EACCES));
    assert_eq!(rump_sys_access(&user, c("/public").as_ptr(), R_OK as i32), Ok(0));
    assert_eq!(rump_sys_reboot(&user, 0, null_mut()), Err(EPERM));
    // In a sticky world-writable directory others' files cannot be removed.
    rump_sys_mkdir(&root, c("/tmp").as_ptr(), 0o777).unwrap();
    rump_sys_chmod(&root, c("/tmp").as_ptr(), 0o1777).unwrap();
    mkfile(&root, "/tmp/roots", b"");
    assert_eq!(rump_sys_unlink(&user, c("/tmp/roots").as_ptr()), Err(EPERM));
    mkfile(&user, "/tmp/mine", b"");
    assert_eq!(stat_of(&root, "/tmp/mine").unwrap().st_uid, 1000);
    rump_sys_unlink(&user, c("/tmp/mine").as_ptr()).unwrap();
}

#[test]
fn fd_table_dup_fcntl_fork_exec() {
    let (_k, p) = boot();
    mkfile(&p, "/f", b"abcdef");
    let fd = open(&p, "/f", O_RDONLY, 0).unwrap();
    let d = rump_sys_dup(&p, fd).unwrap();
    assert_eq!(read_n(&p, fd, 2).unwrap(), b"ab");
    // Duplicates share the offset.
    assert_eq!(read_n(&p, d, 2).unwrap(), b"cd");
    assert_eq!(rump_sys_dup2(&p, fd, 100), Ok(100));
    assert_eq!(rump_sys_dup2(&p, fd, 100_000), Err(EBADF));
    assert_eq!(rump_sys_dup2(&p, 77, 5), Err(EBADF));
    assert_eq!(rump_sys_dup3(&p, fd, fd, 0), Err(EINVAL));
    assert_eq!(rump_sys_dup3(&p, fd, 101, O_CLOEXEC as i32), Ok(101));
    assert_eq!(rump_sys_fcntl(&p, 101, F_GETFD, null_mut()), Ok(FD_CLOEXEC as i32));
    assert_eq!(rump_sys_fcntl(&p, fd, F_DUPFD, 50 as *mut _), Ok(50));
    assert_eq!(rump_sys_fcntl(&p, fd, F_GETFL, null_mut()), Ok(O_RDONLY as i32));
    rump_sys_fcntl(&p, fd, F_SETFL, O_NONBLOCK as usize as *mut _).unwrap();
    assert_eq!(rump_sys_fcntl(&p, d, F_GETFL, null_mut()), Ok(O_NONBLOCK as i32));
    assert_eq!(rump_sys_fcntl(&p, fd, 9999, null_mut()), Err(EINVAL));
    // fork shares open files; exec closes close-on-exec fds only.
    let child = p.fork().unwrap();
    assert_eq!(read_n(&child, 100, 2).unwrap(), b"ef");
    assert_eq!(rump_sys_getppid(&child), Ok(p.pid()));
    child.exec("newimage").unwrap();
    assert_eq!(rump_sys_fcntl(&child, 101, F_GETFD, null_mut()), Err(EBADF));
    assert!(rump_sys_fcntl(&child, 100, F_GETFD, null_mut()).is_ok());
}

#[test]
fn pipes_block_and_wake() {
    let (_k, p) = boot();
    let (r, w) = pipe(&p, 0);
    let reader = p.fork().unwrap();
    rump_sys_close(&reader, w).unwrap();
    rump_sys_close(&p, r).unwrap();
    let t = std::thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            let chunk = read_n(&reader, r, 10_000).unwrap();
            if chunk.is_empty() {
                return got;
            }
            got.extend(chunk);
        }
    });
    // More than a pipe holds: the writer sleeps until the reader drains it.
    let data: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    assert_eq!(write_all(&p, w, &data), Ok(data.len() as isize));
    rump_sys_close(&p, w).unwrap();
    assert_eq!(t.join().unwrap(), data);
}

#[test]
fn pipes_nonblocking_and_broken() {
    let (_k, p) = boot();
    let (r, w) = pipe(&p, O_NONBLOCK);
    assert_eq!(read_n(&p, r, 1), Err(EAGAIN));
    let big = vec![7u8; 70_000];
    assert_eq!(write_all(&p, w, &big), Ok(65_536));
    assert_eq!(write_all(&p, w, b"x"), Err(EAGAIN));
    rump_sys_close(&p, r).unwrap();
    assert_eq!(write_all(&p, w, b"x"), Err(EPIPE));
    assert_eq!(rump_sys_lseek(&p, w, 0, SEEK_SET), Err(ESPIPE));
}

#[test]
fn pipe_eof_when_the_writer_process_exits() {
    let (_k, p) = boot();
    let (r, w) = pipe(&p, 0);
    let writer = p.fork().unwrap();
    rump_sys_close(&p, w).unwrap();
    let t = std::thread::spawn(move || {
        write_all(&writer, w, b"bye").unwrap();
        // Dropping the process is its exit: its write end closes.
    });
    assert_eq!(read_n(&p, r, 10).unwrap(), b"bye");
    t.join().unwrap();
    assert_eq!(read_n(&p, r, 10).unwrap(), b"");
}

#[test]
fn unlinked_open_file_stays_usable() {
    let (_k, p) = boot();
    mkfile(&p, "/gone", b"still here");
    let fd = open(&p, "/gone", O_RDWR, 0).unwrap();
    rump_sys_unlink(&p, c("/gone").as_ptr()).unwrap();
    assert_eq!(stat_of(&p, "/gone"), Err(ENOENT));
    assert_eq!(read_n(&p, fd, 100).unwrap(), b"still here");
    let mut st = stat::default();
    rump_sys_fstat(&p, fd, &mut st).unwrap();
    assert_eq!(st.st_nlink, 0);
}

#[test]
fn poll_reports_readiness() {
    let (_k, p) = boot();
    let (r, w) = pipe(&p, 0);
    let mut set = [
        pollfd { fd: r, events: POLLIN, revents: 0 },
        pollfd { fd: w, events: POLLOUT, revents: 0 },
        pollfd { fd: 999, events: POLLIN, revents: 0 },
    ];
    assert_eq!(rump_sys_poll(&p, set.as_mut_ptr(), 3, 0), Ok(2));
    assert_eq!((set[0].revents, set[1].revents, set[2].revents), (0, POLLOUT, POLLNVAL));
    write_all(&p, w, b"x").unwrap();
    assert_eq!(rump_sys_poll(&p, set.as_mut_ptr(), 1, -1), Ok(1));
    assert_eq!(set[0].revents, POLLIN);
    read_n(&p, r, 1).unwrap();
    assert_eq!(rump_sys_poll(&p, set.as_mut_ptr(), 1, 10), Ok(0));
    rump_sys_close(&p, w).unwrap();
    assert_eq!(rump_sys_poll(&p, set.as_mut_ptr(), 1, -1), Ok(1));
    assert_eq!(set[0].revents, POLLHUP);
}

#[test]
fn clocks_sleep_reboot() {
    let (k, p) = boot();
    let mut t = timespec::default();
    rump_sys_clock_gettime(&p, CLOCK_REALTIME, &mut t).unwrap();
    assert!(t.tv_sec > 1_600_000_000);
    assert_eq!(rump_sys_clock_gettime(&p, 99, &mut t), Err(EINVAL));
    let start = std::time::Instant::now();
    rump_sys_nanosleep(&p, &timespec { tv_sec: 0, tv_nsec: 20_000_000 }, null_mut()).unwrap();
    assert!(start.elapsed() >= std::time::Duration::from_millis(20));
    assert_eq!(rump_sys_nanosleep(&p, &timespec { tv_sec: 0, tv_nsec: -1 }, null_mut()), Err(EINVAL));
    assert!(!k.is_halted());
    rump_sys_reboot(&p, RB_HALT, null_mut()).unwrap();
    assert!(k.is_halted());
    k.wait_halt();
}

#[test]
fn kernels_are_independent() {
    let (_k1, p1) = boot();
    let (_k2, p2) = boot();
    mkfile(&p1, "/only-in-one", b"1");
    assert!(stat_of(&p1, "/only-in-one").is_ok());
    assert_eq!(stat_of(&p2, "/only-in-one"), Err(ENOENT));
}

#[test]
fn many_threads_one_kernel() {
    let (k, _p) = boot();
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let k = k.clone();
            std::thread::spawn(move || {
                let p = k.spawn(Emulation::Native, Cred::root(), "worker").unwrap();
                for j in 0..200 {
                    let path = format!("/t{i}-{j}");
                    mkfile(&p, &path, path.as_bytes());
                    let fd = open(&p, &path, O_RDONLY, 0).unwrap();
                    assert_eq!(read_n(&p, fd, 100).unwrap(), path.as_bytes());
                    rump_sys_close(&p, fd).unwrap();
                    rump_sys_unlink(&p, c(&path).as_ptr()).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn statvfs_reports_the_mount() {
    let (_k, p) = boot();
    let mut v = rump_abi::native::types::statvfs::default();
    rump_sys_statvfs1(&p, c("/dev/null").as_ptr(), &mut v, 0).unwrap();
    assert!(v.f_fstypename.starts_with(b"devfs\0"));
    assert!(v.f_mntonname.starts_with(b"/dev\0"));
    rump_sys_statvfs1(&p, c("/").as_ptr(), &mut v, 0).unwrap();
    assert!(v.f_fstypename.starts_with(b"tmpfs\0"));
    assert_eq!(v.f_namemax, 255);
}

#[test]
fn fifos_connect_openers() {
    let (_k, p) = boot();
    rump_sys_mkfifo(&p, c("/fifo").as_ptr(), 0o600).unwrap();
    assert_eq!(stat_of(&p, "/fifo").unwrap().st_mode & S_IFMT, S_IFIFO);
    // A non-blocking writer with no reader: ENXIO. A non-blocking reader
    // opens at once and reads nothing.
    assert_eq!(open(&p, "/fifo", O_WRONLY | O_NONBLOCK, 0), Err(ENXIO));
    let r0 = open(&p, "/fifo", O_RDONLY | O_NONBLOCK, 0).unwrap();
    assert_eq!(read_n(&p, r0, 10).unwrap(), b"");
    rump_sys_close(&p, r0).unwrap();
    // A blocking reader waits for a writer, then they talk.
    let writer = p.fork().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let w = open(&writer, "/fifo", O_WRONLY, 0).unwrap();
        write_all(&writer, w, b"through the fifo").unwrap();
    });
    let r = open(&p, "/fifo", O_RDONLY, 0).unwrap();
    let mut got = Vec::new();
    loop {
        let chunk = read_n(&p, r, 100).unwrap();
        if chunk.is_empty() {
            break;
        }
        got.extend(chunk);
    }
    t.join().unwrap();
    assert_eq!(got, b"through the fifo");
    let mut st = stat::default();
    rump_sys_fstat(&p, r, &mut st).unwrap();
    assert_eq!(st.st_mode & S_IFMT, S_IFIFO);
    // Read-write opens never wait.
    let rw = open(&p, "/fifo", O_RDWR, 0).unwrap();
    assert_eq!(write_all(&p, rw, b"x"), Ok(1));
    assert_eq!(read_n(&p, rw, 1).unwrap(), b"x");
    // A device node outside devfs has no driver.
    rump_sys_mknod(&p, c("/chr").as_ptr(), S_IFCHR | 0o600, 0x0103).unwrap();
    assert_eq!(open(&p, "/chr", O_RDONLY, 0), Err(ENXIO));
}

#[test]
fn exiting_processes_leave_no_open_files_or_pipes() {
    let (k, p) = boot();
    mkfile(&p, "/f", b"x");
    let _fd = open(&p, "/f", O_RDONLY, 0).unwrap();
    let _ends = pipe(&p, 0);
    let child = p.fork().unwrap();
    rump_sys_mkfifo(&p, c("/fifo").as_ptr(), 0o600).unwrap();
    let _rw = open(&child, "/fifo", O_RDWR, 0).unwrap();
    assert!(k.with_state(|st| st.files.len() >= 4 && !st.pipes.is_empty()));
    drop(child);
    drop(p);
    assert_eq!(k.with_state(|st| (st.files.len(), st.pipes.len(), st.fifos.len(), st.procs.len())), (0, 0, 0, 0));
}

#[test]
fn fionread_and_fionbio() {
    let (_k, p) = boot();
    let (r, w) = pipe(&p, 0);
    let mut n: i32 = -1;
    let nread = |fd: i32, n: &mut i32| rump_sys_ioctl(&p, fd, FIONREAD, (n as *mut i32).cast());
    assert_eq!(nread(r, &mut n), Ok(0));
    assert_eq!(n, 0);
    assert_eq!(write_all(&p, w, b"hello"), Ok(5));
    assert_eq!(nread(r, &mut n), Ok(0));
    assert_eq!(n, 5);
    let mut on: i32 = 1;
    assert_eq!(rump_sys_ioctl(&p, r, FIONBIO, (&mut on as *mut i32).cast()), Ok(0));
    assert_eq!(rump_sys_fcntl(&p, r, F_GETFL, null_mut()), Ok((O_RDONLY | O_NONBLOCK) as i32));
    assert_eq!(read_n(&p, r, 5).unwrap(), b"hello");
    assert_eq!(read_n(&p, r, 5), Err(EAGAIN));
    let mut off: i32 = 0;
    assert_eq!(rump_sys_ioctl(&p, r, FIONBIO, (&mut off as *mut i32).cast()), Ok(0));
    assert_eq!(rump_sys_fcntl(&p, r, F_GETFL, null_mut()), Ok(O_RDONLY as i32));
    // A file: what is left from the offset, negative past the end.
    mkfile(&p, "/f", b"0123456789");
    let fd = open(&p, "/f", O_RDONLY, 0).unwrap();
    assert_eq!(rump_sys_lseek(&p, fd, 3, SEEK_SET), Ok(3));
    assert_eq!(nread(fd, &mut n), Ok(0));
    assert_eq!(n, 7);
    assert_eq!(rump_sys_lseek(&p, fd, 12, SEEK_SET), Ok(12));
    assert_eq!(nread(fd, &mut n), Ok(0));
    assert_eq!(n, -2);
    let dir = open(&p, "/", O_RDONLY, 0).unwrap();
    assert_eq!(nread(dir, &mut n), Err(ENOTTY));
}
