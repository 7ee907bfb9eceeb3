//! Differential tests of the Linux emulation.
//!
//! Each test is one body of raw Linux system calls (libc's numbers and
//! flag values, pointers to the test's own buffers), run twice: against
//! the host kernel in a fresh temporary directory, and against a rump
//! kernel through a process with `Emulation::Linux`. Every call's result
//! and errno, and whatever the body notes about buffers and stat fields,
//! goes into a log per side; the two logs must be equal.
//!
//! - The host side runs on its own thread after `unshare(CLONE_FS)`, so
//!   its cwd and umask are private, and starts in its directory; so does
//!   the kernel side. Bodies use relative paths, or `Side::abs`.
//! - The host directory is made on a tmpfs (/dev/shm) when there is one,
//!   so that sizes and blocks compare exactly with the kernel's tmpfs;
//!   otherwise those fields are left out.
//! - Fd numbers are process-wide on the host, so results that are fresh
//!   fds are logged as "fd", and fixed targets (dup2, F_DUPFD) use high
//!   numbers no other test uses.
//! - Tests as a non-root user drop the host thread's credentials with the
//!   raw set*id calls (per thread on Linux) after a root setup, and use a
//!   kernel process with `Cred::user` for the same body.
//! - Calls that cannot run on the host (reboot) are checked against
//!   Linux's documented behaviour at the end.

mod strict;
use libc::c_long;
use rump_abi::Syscall;
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use std::cell::RefCell;
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use libc::{
    SYS_chdir, SYS_close, SYS_dup, SYS_dup2, SYS_dup3, SYS_epoll_create, SYS_epoll_create1, SYS_epoll_ctl,
    SYS_epoll_pwait, SYS_epoll_pwait2, SYS_epoll_wait, SYS_faccessat, SYS_faccessat2, SYS_fchdir, SYS_fchmod,
    SYS_fchmodat, SYS_fchownat, SYS_fcntl, SYS_fstat, SYS_fstatfs, SYS_ftruncate, SYS_getcwd, SYS_getdents64,
    SYS_getuid, SYS_ioctl, SYS_linkat, SYS_lseek, SYS_mkdirat, SYS_mknodat, SYS_newfstatat, SYS_openat, SYS_pipe2,
    SYS_poll, SYS_ppoll, SYS_pread64, SYS_preadv, SYS_pwrite64, SYS_pwritev, SYS_read, SYS_readlinkat, SYS_readv,
    SYS_renameat, SYS_renameat2, SYS_statfs, SYS_statx, SYS_symlinkat, SYS_truncate, SYS_umask, SYS_unlinkat,
    SYS_utimensat, SYS_write, SYS_writev,
};

type Ret = Result<i64, i32>;

const CWD: u64 = libc::AT_FDCWD as i64 as u64;
const NULL: u64 = 0;

/// An fd or other int argument as a register value.
fn int(v: i32) -> u64 {
    v as i64 as u64
}

fn ptr<T>(v: &mut T) -> u64 {
    v as *mut T as u64
}

fn buf(v: &mut [u8]) -> u64 {
    v.as_mut_ptr() as u64
}

fn zeroed<T>() -> T {
    // SAFETY: only used for libc's plain C structs, valid when all-zero.
    unsafe { std::mem::zeroed() }
}

// ---- the two kernels ----

/// Something that runs raw Linux system calls.
trait Backend {
    fn call(&self, nr: c_long, args: &[u64]) -> Ret;
}

struct Host;

impl Backend for Host {
    fn call(&self, nr: c_long, args: &[u64]) -> Ret {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        // SAFETY: the tests pass pointers to their own live buffers, or
        // deliberately invalid ones that the kernel checks (EFAULT).
        let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
        if r == -1 {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(r)
        }
    }
}

struct Guest(Process);

impl Backend for Guest {
    fn call(&self, nr: c_long, args: &[u64]) -> Ret {
        let mut slots = [0u64; 8];
        slots[..args.len()].copy_from_slice(args);
        self.0.syscall(nr as u32, &slots).map_err(|e| e.raw())
    }
}

// ---- where the host side runs ----

struct HostDirs {
    parent: String,
    /// The parent is a tmpfs: sizes and blocks compare with the kernel's.
    tmpfs: bool,
    /// A writable directory on another file system, for EXDEV.
    other_fs: Option<String>,
}

fn dev_of(path: &str) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| std::os::unix::fs::MetadataExt::dev(&m))
}

fn is_tmpfs(path: &str) -> bool {
    let mut st: libc::statfs = zeroed();
    let c = std::ffi::CString::new(path).unwrap();
    // SAFETY: valid path and out-pointer.
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type == libc::TMPFS_MAGIC }
}

fn host_dirs() -> &'static HostDirs {
    static DIRS: OnceLock<HostDirs> = OnceLock::new();
    DIRS.get_or_init(|| {
        let tmp = std::env::temp_dir().to_string_lossy().into_owned();
        let (parent, tmpfs) =
            if is_tmpfs("/dev/shm") { ("/dev/shm".to_string(), true) } else { (tmp.clone(), is_tmpfs(&tmp)) };
        let other_fs = [tmp.as_str(), "/dev/shm", "/tmp", "/var/tmp"]
            .iter()
            .find(|d| dev_of(d).is_some_and(|dev| Some(dev) != dev_of(&parent)))
            .map(|d| d.to_string());
        if !tmpfs {
            eprintln!("linux_differential: {parent} is not a tmpfs; sizes and blocks are not compared");
        }
        HostDirs { parent, tmpfs, other_fs }
    })
}

// ---- one side of a comparison ----

/// What a test body talks to: a kernel, its directory, and the log.
struct Side {
    sys: Box<dyn Backend>,
    /// The test directory (absolute), also the cwd at the start.
    base: String,
    /// A directory on another file system, if there is one.
    other_fs: Option<String>,
    /// Strings handed to the kernel stay alive until the side is dropped.
    arena: RefCell<Vec<Box<[u8]>>>,
    log: RefCell<Vec<String>>,
}

fn show(r: Ret) -> String {
    match r {
        Ok(v) => format!("{v}"),
        Err(e) => rump_abi::errno::linux_values::name(rump_abi::Errno(e)).map_or(format!("errno {e}"), str::to_string),
    }
}

impl Side {
    fn new(sys: Box<dyn Backend>, base: String, other_fs: Option<String>) -> Side {
        Side { sys, base, other_fs, arena: RefCell::default(), log: RefCell::default() }
    }

    fn note(&self, what: &str, v: impl Debug) {
        self.log.borrow_mut().push(format!("{what}: {v:?}"));
    }

    fn raw(&self, nr: c_long, args: &[u64]) -> Ret {
        self.sys.call(nr, args)
    }

    /// Makes a call and logs its result.
    fn call(&self, what: &str, nr: c_long, args: &[u64]) -> Ret {
        let r = self.raw(nr, args);
        self.log.borrow_mut().push(format!("{what} -> {}", show(r)));
        r
    }

    /// Makes a call for its log entry only.
    fn step(&self, what: &str, nr: c_long, args: &[u64]) {
        self.call(what, nr, args).ok();
    }

    /// Makes a call that returns a new fd: logs only whether it did.
    fn fd(&self, what: &str, nr: c_long, args: &[u64]) -> i32 {
        let r = self.raw(nr, args);
        self.log.borrow_mut().push(format!("{what} -> {}", r.map_or_else(|e| show(Err(e)), |_| "fd".into())));
        r.map_or(-1, |v| v as i32)
    }

    /// A NUL-terminated copy of `bytes` for the kernel to read.
    fn bytes(&self, bytes: &[u8]) -> u64 {
        let mut v = bytes.to_vec();
        v.push(0);
        let b = v.into_boxed_slice();
        let p = b.as_ptr() as u64;
        self.arena.borrow_mut().push(b);
        p
    }

    fn s(&self, path: &str) -> u64 {
        self.bytes(path.as_bytes())
    }

    /// A path as a log shows it: long ones by their length.
    fn shown(path: &str) -> String {
        if path.len() > 64 {
            format!("<{} bytes>", path.len())
        } else {
            format!("{path:?}")
        }
    }

    fn abs(&self, rel: &str) -> String {
        format!("{}/{rel}", self.base)
    }

    // Common steps, logged like any call.

    fn open(&self, path: &str, flags: i32, mode: u32) -> i32 {
        self.fd(
            &format!("open {} {flags:#o}", Side::shown(path)),
            SYS_openat,
            &[CWD, self.s(path), int(flags), mode as u64],
        )
    }

    fn close(&self, fd: i32) {
        self.step("close", SYS_close, &[int(fd)]);
    }

    fn write(&self, fd: i32, data: &[u8]) {
        self.step(
            &format!("write {:?}", String::from_utf8_lossy(data)),
            SYS_write,
            &[int(fd), data.as_ptr() as u64, data.len() as u64],
        )
    }

    /// Reads up to `n` bytes and logs what came.
    fn read(&self, fd: i32, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        let r = self.call("read", SYS_read, &[int(fd), buf(&mut b), n as u64]);
        b.truncate(r.unwrap_or(0) as usize);
        self.note("read data", String::from_utf8_lossy(&b));
        b
    }

    fn pread(&self, fd: i32, n: usize, off: i64) -> Vec<u8> {
        let mut b = vec![0u8; n];
        let r = self.call(&format!("pread64 @{off}"), SYS_pread64, &[int(fd), buf(&mut b), n as u64, off as u64]);
        b.truncate(r.unwrap_or(0) as usize);
        self.note("pread data", &b);
        b
    }

    fn mkfile(&self, path: &str, data: &[u8]) {
        let fd = self.open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644);
        self.write(fd, data);
        self.close(fd);
    }

    fn mkdir(&self, path: &str, mode: u32) {
        self.step(&format!("mkdir {}", Side::shown(path)), SYS_mkdirat, &[CWD, self.s(path), mode as u64])
    }

    fn symlink(&self, target: &str, path: &str) {
        self.step(
            &format!("symlink {} -> {}", Side::shown(path), Side::shown(target)),
            SYS_symlinkat,
            &[self.s(target), CWD, self.s(path)],
        )
    }

    /// newfstatat; logs the result and the fields both kernels must agree on.
    fn stat_at(&self, dirfd: i32, path: &str, flags: i32) -> Option<libc::stat> {
        let mut st: libc::stat = zeroed();
        let what = format!("newfstatat {} {flags:#x}", Side::shown(path));
        let r = self.call(&what, SYS_newfstatat, &[int(dirfd), self.s(path), ptr(&mut st), int(flags)]);
        r.ok().map(|_| {
            self.note_stat(&what, &st);
            st
        })
    }

    fn stat(&self, path: &str) -> Option<libc::stat> {
        self.stat_at(libc::AT_FDCWD, path, 0)
    }

    fn lstat(&self, path: &str) -> Option<libc::stat> {
        self.stat_at(libc::AT_FDCWD, path, libc::AT_SYMLINK_NOFOLLOW)
    }

    fn fstat(&self, fd: i32) -> Option<libc::stat> {
        let mut st: libc::stat = zeroed();
        let r = self.call("fstat", SYS_fstat, &[int(fd), ptr(&mut st)]);
        r.ok().map(|_| {
            self.note_stat("fstat", &st);
            st
        })
    }

    /// The stat fields that do not depend on which kernel made the node:
    /// not ino, dev or times; sizes of directories and blocks only when
    /// both sides are tmpfs.
    fn note_stat(&self, what: &str, st: &libc::stat) {
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let mut v = format!(
            "mode={:o} nlink={} uid={} gid={} rdev={:#x}",
            st.st_mode, st.st_nlink, st.st_uid, st.st_gid, st.st_rdev
        );
        if host_dirs().tmpfs || !is_dir {
            v += &format!(" size={}", st.st_size);
        }
        if host_dirs().tmpfs {
            v += &format!(" blocks={} blksize={}", st.st_blocks, st.st_blksize);
        }
        self.note(&format!("{what} stat"), v);
    }

    /// A number no other test uses, made a closed fd: another test's
    /// open cannot take it between the close and the use.
    fn closed_fd(&self, n: i32) -> i32 {
        let fd = self.open(".", libc::O_RDONLY, 0);
        self.step("dup2", SYS_dup2, &[int(fd), int(n)]);
        self.close(fd);
        self.close(n);
        n
    }

    fn into_log(self) -> Vec<String> {
        self.log.into_inner()
    }
}

// ---- running a body on both sides ----

static SERIAL: AtomicUsize = AtomicUsize::new(0);

fn host_base() -> String {
    let dirs = host_dirs();
    let n = SERIAL.fetch_add(1, Ordering::Relaxed);
    let base = format!("{}/rump-linux-diff-{}-{n}", dirs.parent, std::process::id());
    std::fs::create_dir(&base).expect("host test directory");
    // Others (the unprivileged tests) must be able to enter it.
    std::fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    base
}

/// Gives the calling thread its own cwd and umask.
fn private_fs_state(base: &str) {
    // SAFETY: plain syscalls on this thread's own state.
    unsafe {
        assert_eq!(libc::unshare(libc::CLONE_FS), 0, "unshare(CLONE_FS)");
        libc::umask(0o022);
    }
    std::env::set_current_dir(base).unwrap();
}

/// Drops this thread's credentials (raw calls: glibc's wrappers would
/// change every thread of the process).
fn become_user(uid: u32, gid: u32) {
    // SAFETY: credential calls on this thread only.
    unsafe {
        assert_eq!(libc::syscall(libc::SYS_setgroups, 0, NULL), 0);
        assert_eq!(libc::syscall(libc::SYS_setresgid, gid, gid, gid), 0);
        assert_eq!(libc::syscall(libc::SYS_setresuid, uid, uid, uid), 0);
    }
}

type Body<'a> = &'a (dyn Fn(&Side) + Sync);

fn run_host(setup: Body, body: Body, user: Option<(u32, u32)>) -> Vec<String> {
    let base = host_base();
    let log = std::thread::scope(|sc| {
        sc.spawn(|| {
            private_fs_state(&base);
            let side = Side::new(Box::new(Host), base.clone(), host_dirs().other_fs.clone());
            setup(&side);
            if let Some((uid, gid)) = user {
                become_user(uid, gid);
            }
            body(&side);
            side.into_log()
        })
        .join()
    });
    // Back on a root thread: the directory may hold anything the body made.
    let _ = std::fs::remove_dir_all(&base);
    log.unwrap_or_else(|e| std::panic::resume_unwind(e))
}

const KERNEL_BASE: &str = "/diff";

fn guest(k: &Kernel, cred: Cred) -> Box<Guest> {
    let g = Guest(k.spawn(Emulation::Linux, cred, "linux-differential").unwrap());
    let base = std::ffi::CString::new(KERNEL_BASE).unwrap();
    assert_eq!(g.call(libc::SYS_chdir, &[base.as_ptr() as u64]), Ok(0));
    Box::new(g)
}

fn run_kernel(setup: Body, body: Body, user: Option<(u32, u32)>) -> Vec<String> {
    let k = Kernel::boot(Config::default()).expect("boot");
    let root = Guest(k.spawn(Emulation::Linux, Cred::root(), "setup").unwrap());
    let base = std::ffi::CString::new(KERNEL_BASE).unwrap();
    assert_eq!(root.call(libc::SYS_mkdir, &[base.as_ptr() as u64, 0o755]), Ok(0));
    let side = |sys| Side::new(sys, KERNEL_BASE.into(), Some("/dev".into()));
    let first = side(guest(&k, Cred::root()));
    setup(&first);
    let Some((uid, gid)) = user else {
        body(&first);
        return first.into_log();
    };
    let mut log = first.into_log();
    let second = side(guest(&k, Cred::user(uid, gid)));
    body(&second);
    log.extend(second.into_log());
    log
}

/// Set LINUX_DIFF_SHOW=1 to see every log, not only failing ones.
fn compare(host: &[String], kernel: &[String]) {
    if std::env::var_os("LINUX_DIFF_SHOW").is_some() {
        println!("{}", host.join("\n"));
    }
    let first_diff = host
        .iter()
        .zip(kernel)
        .position(|(h, k)| h != k)
        .or((host.len() != kernel.len()).then(|| host.len().min(kernel.len())));
    let Some(at) = first_diff else { return };
    let mut msg = format!("host and kernel differ at step {at}:\n");
    for i in 0..host.len().max(kernel.len()) {
        let (h, k) = (host.get(i).map_or("", String::as_str), kernel.get(i).map_or("", String::as_str));
        let mark = if h == k { "   " } else { "!!!" };
        msg += &format!("{mark} {i:3} host:   {h}\n{mark}     kernel: {k}\n");
    }
    panic!("{msg}");
}

fn differential_as(user: Option<(u32, u32)>, setup: Body, body: Body) {
    // SAFETY: no arguments, cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        strict::skip(
            strict::HostFact::Root,
            "the host side needs root (the kernel side runs as root and drops to a user the same way)",
        );
        return;
    }
    let host = run_host(setup, body, user);
    let kernel = run_kernel(setup, body, user);
    compare(&host, &kernel);
}

/// Runs `body` on both kernels as root and compares the logs.
fn differential(body: impl Fn(&Side) + Sync) {
    differential_as(None, &|_| {}, &body);
}

const USER: (u32, u32) = (1000, 1000);

// ---- open ----

#[test]
fn open_create_exclusive_truncate_append() {
    differential(|s| {
        let fd = s.open("f", libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY, 0o666);
        s.write(fd, b"hello world");
        s.close(fd);
        s.stat("f");
        s.open("f", libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY, 0o666);
        let fd = s.open("f", libc::O_WRONLY | libc::O_TRUNC, 0);
        s.fstat(fd);
        s.write(fd, b"abc");
        s.close(fd);
        let fd = s.open("f", libc::O_RDWR | libc::O_APPEND, 0);
        s.step("lseek 0", SYS_lseek, &[int(fd), 0, libc::SEEK_SET as u64]);
        s.write(fd, b"def");
        s.step("lseek cur", SYS_lseek, &[int(fd), 0, libc::SEEK_CUR as u64]);
        s.step("pwrite64 @0 appends", SYS_pwrite64, &[int(fd), s.s("gh"), 2, 0]);
        s.pread(fd, 16, 0);
        s.close(fd);
    });
}

/// O_TRUNC needs write permission and truncates whatever the access mode
/// (Linux; NetBSD's vn_open does the same).
#[test]

fn open_rdonly_trunc_truncates() {
    let setup = |s: &Side| {
        s.mkfile("f", b"data");
        s.mkdir("pub", 0o755);
        s.step("chmod pub", SYS_fchmodat, &[CWD, s.s("pub"), 0o777]);
    };
    differential_as(Some(USER), &setup, &|s| {
        s.open("f", libc::O_RDONLY | libc::O_TRUNC, 0);
        s.mkfile("pub/mine", b"data");
        let fd = s.open("pub/mine", libc::O_RDONLY | libc::O_TRUNC, 0);
        s.close(fd);
        s.stat("pub/mine");
    });
}

#[test]
fn open_errors_and_symlinks() {
    differential(|s| {
        s.mkfile("file", b"x");
        s.mkdir("dir", 0o755);
        s.symlink("file", "link");
        s.open("file", libc::O_RDONLY | libc::O_DIRECTORY, 0);
        s.open("link", libc::O_RDONLY | libc::O_NOFOLLOW, 0);
        let fd = s.open("link", libc::O_PATH | libc::O_NOFOLLOW, 0);
        s.fstat(fd);
        s.close(fd);
        let fd = s.open("link", libc::O_RDONLY, 0);
        s.fstat(fd);
        s.close(fd);
        s.open("missing", libc::O_RDONLY, 0);
        s.open("nodir/new", libc::O_CREAT | libc::O_WRONLY, 0o644);
        s.open("file/x", libc::O_RDONLY, 0);
        s.open("new", libc::O_CREAT | libc::O_DIRECTORY, 0o644);
        s.open("dir", libc::O_WRONLY, 0);
        s.open("dir", libc::O_RDWR, 0);
        s.open("new/", libc::O_CREAT | libc::O_WRONLY, 0o644);
        s.open("", libc::O_RDONLY, 0);
        s.fd("openat NULL path", SYS_openat, &[CWD, NULL, 0, 0]);
        let fd = s.open("dir", libc::O_RDONLY | libc::O_DIRECTORY, 0);
        s.fd("openat dirfd", SYS_openat, &[int(fd), s.s("../file"), 0, 0]);
        let file = s.open("file", libc::O_RDONLY, 0);
        s.fd("openat file as dirfd", SYS_openat, &[int(file), s.s("x"), 0, 0]);
        s.fd("openat bad dirfd", SYS_openat, &[int(999), s.s("x"), 0, 0]);
        s.fd("openat bad dirfd, absolute path", SYS_openat, &[int(999), s.s(&s.abs("file")), 0, 0]);
        s.close(fd);
        s.close(file);
    });
}

#[test]
fn open_applies_umask_and_mode_bits() {
    differential(|s| {
        for (name, mode) in [("a", 0o777), ("b", 0o4755), ("c", 0o600), ("d", 0o170644)] {
            let fd = s.open(name, libc::O_CREAT | libc::O_WRONLY, mode);
            s.close(fd);
            s.stat(name);
        }
        s.step("umask 077", SYS_umask, &[0o077]);
        let fd = s.open("e", libc::O_CREAT | libc::O_WRONLY, 0o666);
        s.close(fd);
        s.stat("e");
        s.step("umask back", SYS_umask, &[0o022]);
    });
}

/// Linux refuses O_CREAT on an existing directory even for reading.
#[test]

fn open_creat_on_directory_is_eisdir() {
    differential(|s| {
        s.mkdir("dir", 0o755);
        let fd = s.open("dir", libc::O_CREAT | libc::O_RDONLY, 0o644);
        if fd >= 0 {
            s.close(fd);
        }
    });
}

/// Linux creates the file a dangling symlink points to.
#[test]

fn open_creat_through_dangling_symlink() {
    differential(|s| {
        s.symlink("target", "link");
        let fd = s.open("link", libc::O_CREAT | libc::O_WRONLY, 0o644);
        s.close(fd);
        s.stat("target");
    });
}

/// The calls without `at`: the same cores behind other entry points.
#[test]
fn classic_path_calls() {
    differential(|s| {
        let fd = s.fd("creat", libc::SYS_creat, &[s.s("c"), 0o640]);
        s.write(fd, b"classic");
        s.step("fsync", libc::SYS_fsync, &[int(fd)]);
        s.step("fdatasync", libc::SYS_fdatasync, &[int(fd)]);
        s.step("sync", libc::SYS_sync, &[]);
        s.fstat(fd);
        s.close(fd);
        let fd = s.fd("open", libc::SYS_open, &[s.s("c"), int(libc::O_RDONLY)]);
        let d = s.fd("dup", SYS_dup, &[int(fd)]);
        s.read(d, 16);
        s.close(d);
        s.close(fd);
        let mut st: libc::stat = zeroed();
        let paths =
            |what: &str, nr: c_long, a: &str, b: &str| s.step(&format!("{what} {a} {b}"), nr, &[s.s(a), s.s(b)]);
        paths("rename", libc::SYS_rename, "c", "r");
        paths("link", libc::SYS_link, "r", "l");
        paths("symlink", libc::SYS_symlink, "r", "sl");
        for (what, nr, path) in
            [("stat", libc::SYS_stat, "sl"), ("lstat", libc::SYS_lstat, "sl"), ("stat", libc::SYS_stat, "none")]
        {
            if s.call(&format!("{what} {path}"), nr, &[s.s(path), ptr(&mut st)]).is_ok() {
                s.note_stat(what, &st);
            }
        }
        let mut b = [0u8; 8];
        s.step("readlink", libc::SYS_readlink, &[s.s("sl"), buf(&mut b), 8]);
        s.step("readlink size 0", libc::SYS_readlink, &[s.s("sl"), buf(&mut b), 0]);
        s.step("access", libc::SYS_access, &[s.s("r"), int(libc::R_OK)]);
        s.step("chmod", libc::SYS_chmod, &[s.s("sl"), 0o600]);
        s.step("chown", libc::SYS_chown, &[s.s("sl"), 3, 4]);
        s.step("lchown", libc::SYS_lchown, &[s.s("sl"), 5, 6]);
        s.lstat("sl");
        s.stat("r");
        let fd = s.open("r", libc::O_RDONLY, 0);
        s.step("fchmod", SYS_fchmod, &[int(fd), 0o604]);
        s.step("fchown", libc::SYS_fchown, &[int(fd), 7, u32::MAX as u64]);
        s.fstat(fd);
        s.close(fd);
        s.step("mkdir", libc::SYS_mkdir, &[s.s("d"), 0o700]);
        s.step("mknod", libc::SYS_mknod, &[s.s("d/p"), (libc::S_IFIFO | 0o600) as u64, 0]);
        s.lstat("d/p");
        s.step("rmdir non-empty", libc::SYS_rmdir, &[s.s("d")]);
        s.step("unlink", libc::SYS_unlink, &[s.s("d/p")]);
        s.step("rmdir", libc::SYS_rmdir, &[s.s("d")]);
        s.step("unlink directory", libc::SYS_unlink, &[s.s(".")]);
        let mut fds = [0i32; 2];
        s.step("pipe", libc::SYS_pipe, &[ptr(&mut fds)]);
        s.step("F_GETFL", SYS_fcntl, &[int(fds[1]), int(libc::F_GETFL)]);
        s.step("fsync pipe", libc::SYS_fsync, &[int(fds[0])]);
        s.close(fds[0]);
        s.close(fds[1]);
    });
}

// ---- reading and writing ----

#[test]
fn read_write_positioned_and_vectored() {
    differential(|s| {
        let fd = s.open("f", libc::O_CREAT | libc::O_RDWR, 0o644);
        s.write(fd, b"0123456789");
        s.pread(fd, 4, 3);
        s.pread(fd, 4, 8);
        s.pread(fd, 4, 100);
        s.pread(fd, 4, -1);
        s.step("pwrite64 @20", SYS_pwrite64, &[int(fd), s.s("xy"), 2, 20]);
        s.fstat(fd);
        s.pread(fd, 32, 0);
        let (mut a, mut b) = ([0u8; 3], [0u8; 5]);
        let mut iov = [
            libc::iovec { iov_base: a.as_mut_ptr().cast(), iov_len: 3 },
            libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: 5 },
        ];
        s.step("lseek 1", SYS_lseek, &[int(fd), 1, libc::SEEK_SET as u64]);
        s.step("readv", SYS_readv, &[int(fd), iov.as_mut_ptr() as u64, 2]);
        s.note("readv data", (a, b));
        s.step("lseek cur", SYS_lseek, &[int(fd), 0, libc::SEEK_CUR as u64]);
        s.step("preadv @7", SYS_preadv, &[int(fd), iov.as_mut_ptr() as u64, 2, 7, 0]);
        s.note("preadv data", (a, b));
        s.step("preadv @-1", SYS_preadv, &[int(fd), iov.as_mut_ptr() as u64, 2, u64::MAX, 0]);
        s.step("readv 1025 iovecs", SYS_readv, &[int(fd), iov.as_mut_ptr() as u64, 1025]);
        let (mut c, mut d) = (*b"AB", *b"CDE");
        let wiov = [
            libc::iovec { iov_base: c.as_mut_ptr().cast(), iov_len: 2 },
            libc::iovec { iov_base: d.as_mut_ptr().cast(), iov_len: 3 },
        ];
        s.step("lseek end", SYS_lseek, &[int(fd), 0, libc::SEEK_END as u64]);
        s.step("writev", SYS_writev, &[int(fd), wiov.as_ptr() as u64, 2]);
        s.step("pwritev @2", SYS_pwritev, &[int(fd), wiov.as_ptr() as u64, 2, 2, 0]);
        s.step("writev no iovecs", SYS_writev, &[int(fd), wiov.as_ptr() as u64, 0]);
        s.pread(fd, 64, 0);
        s.close(fd);
    });
}

#[test]
fn lseek_whence_and_limits() {
    differential(|s| {
        let fd = s.open("f", libc::O_CREAT | libc::O_RDWR, 0o644);
        s.write(fd, b"0123456789");
        for (off, whence) in [
            (-3i64, libc::SEEK_END),
            (5, libc::SEEK_END),
            (-1, libc::SEEK_SET),
            (-20, libc::SEEK_CUR),
            (4, libc::SEEK_SET),
            (7, 99),
        ] {
            s.step(&format!("lseek {off} {whence}"), SYS_lseek, &[int(fd), off as u64, whence as u64]);
        }
        for (off, whence) in [
            (0, libc::SEEK_DATA),
            (3, libc::SEEK_DATA),
            (3, libc::SEEK_HOLE),
            (10, libc::SEEK_DATA),
            (10, libc::SEEK_HOLE),
        ] {
            s.step(&format!("lseek {off} {whence}"), SYS_lseek, &[int(fd), off as u64, whence as u64]);
        }
        // Past the end: a write there leaves a hole of zeros.
        s.step("lseek past end", SYS_lseek, &[int(fd), 20, libc::SEEK_SET as u64]);
        s.write(fd, b"!");
        s.pread(fd, 32, 0);
        s.close(fd);
        let closed = s.closed_fd(651);
        s.step("lseek closed fd", SYS_lseek, &[int(closed), 0, 0]);
    });
}

#[test]
fn access_mode_errors() {
    differential(|s| {
        s.mkfile("f", b"data");
        s.mkdir("d", 0o755);
        let ro = s.open("f", libc::O_RDONLY, 0);
        let wo = s.open("f", libc::O_WRONLY, 0);
        s.write(ro, b"x");
        let mut b = [0u8; 4];
        s.step("read write-only", SYS_read, &[int(wo), buf(&mut b), 4]);
        s.step("read NULL buffer", SYS_read, &[int(ro), NULL, 4]);
        s.step("write NULL buffer", SYS_write, &[int(wo), NULL, 4]);
        s.step("read zero bytes", SYS_read, &[int(ro), buf(&mut b), 0]);
        let d = s.open("d", libc::O_RDONLY, 0);
        s.step("read directory", SYS_read, &[int(d), buf(&mut b), 4]);
        for fd in [ro, wo, d] {
            s.close(fd);
        }
        let closed = s.closed_fd(650);
        s.step("read closed", SYS_read, &[int(closed), buf(&mut b), 4]);
        s.step("write closed", SYS_write, &[int(closed), b.as_ptr() as u64, 4]);
        s.step("close closed", SYS_close, &[int(closed)]);
        s.fstat(closed);
    });
}

// ---- directories ----

/// linux_dirent64 records: (name, d_type, d_off).
fn dirents(b: &[u8]) -> Vec<(String, u8, i64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let off = i64::from_ne_bytes(b[at + 8..at + 16].try_into().unwrap());
        let reclen = u16::from_ne_bytes(b[at + 16..at + 18].try_into().unwrap()) as usize;
        assert_eq!(reclen % 8, 0, "reclen is 8-byte aligned");
        let name = &b[at + 19..at + reclen];
        let name = &name[..name.iter().position(|&c| c == 0).expect("NUL-terminated name")];
        out.push((String::from_utf8_lossy(name).into_owned(), b[at + 18], off));
        at += reclen;
    }
    out
}

fn getdents(s: &Side, fd: i32, size: usize) -> Vec<(String, u8, i64)> {
    let mut b = vec![0u8; size];
    let r = s.call(&format!("getdents64 {size}"), SYS_getdents64, &[int(fd), buf(&mut b), size as u64]);
    b.truncate(r.unwrap_or(0).max(0) as usize);
    dirents(&b)
}

fn sorted_names(mut d: Vec<(String, u8, i64)>) -> Vec<(String, u8)> {
    d.sort();
    d.into_iter().map(|(n, t, _)| (n, t)).collect()
}

#[test]
fn getdents64_lists_names_and_types() {
    differential(|s| {
        s.mkdir("d", 0o755);
        for name in ["a", "bb", "a-much-longer-name-than-the-others"] {
            s.mkfile(&format!("d/{name}"), b"");
        }
        s.mkdir("d/sub", 0o755);
        s.symlink("a", "d/lnk");
        s.step("mknod fifo", SYS_mknodat, &[CWD, s.s("d/fifo"), (libc::S_IFIFO | 0o644) as u64, 0]);
        let fd = s.open("d", libc::O_RDONLY | libc::O_DIRECTORY, 0);
        let all = getdents(s, fd, 4096);
        s.note("entries", sorted_names(all.clone()));
        s.note("at end", getdents(s, fd, 4096));
        // d_off of a record is where the next one starts.
        s.step("lseek to first d_off", SYS_lseek, &[int(fd), all[0].2 as u64, libc::SEEK_SET as u64]);
        let rest = getdents(s, fd, 4096);
        s.note("after first", rest.len() + 1 == all.len() && rest.iter().zip(&all[1..]).all(|(a, b)| a.0 == b.0));
        s.step("rewind", SYS_lseek, &[int(fd), 0, libc::SEEK_SET as u64]);
        s.note("rewound", sorted_names(getdents(s, fd, 4096)));
        s.step("rewind", SYS_lseek, &[int(fd), 0, libc::SEEK_SET as u64]);
        getdents(s, fd, 10);
        s.note("one at a time", sorted_names(getdents(s, fd, 24)).len());
        s.step("getdents64 NULL", SYS_getdents64, &[int(fd), NULL, 4096]);
        s.close(fd);
        let f = s.open("d/a", libc::O_RDONLY, 0);
        getdents(s, f, 4096);
        s.close(f);
    });
}

#[test]
fn mkdir_rmdir_unlink() {
    differential(|s| {
        s.mkdir("d", 0o755);
        s.mkdir("d", 0o755);
        s.mkdir("d/sub/", 0o700);
        s.mkdir("d/sub2", 0o1777);
        s.stat("d");
        s.stat("d/sub2");
        s.mkfile("d/f", b"x");
        s.mkdir("missing/x", 0o755);
        s.mkdir("d/f/x", 0o755);
        let rm = |what: &str, path: &str, flags: i32| {
            s.step(&format!("unlinkat {what}"), SYS_unlinkat, &[CWD, s.s(path), int(flags)])
        };
        rm("non-empty dir", "d", libc::AT_REMOVEDIR);
        rm("dir without AT_REMOVEDIR", "d/sub", 0);
        rm("file with AT_REMOVEDIR", "d/f", libc::AT_REMOVEDIR);
        rm("bad flag", "d/f", 0x1);
        rm("dot", "d/.", libc::AT_REMOVEDIR);
        rm("dotdot", "d/sub/..", libc::AT_REMOVEDIR);
        rm("missing", "d/none", 0);
        rm("file/", "d/f/", 0);
        rm("empty path", "", 0);
        s.step("unlinkat NULL path", SYS_unlinkat, &[CWD, NULL, 0]);
        rm("file", "d/f", 0);
        rm("dir", "d/sub", libc::AT_REMOVEDIR);
        rm("dir/", "d/sub2/", libc::AT_REMOVEDIR);
        s.stat("d");
        let fd = s.open("d", libc::O_RDONLY | libc::O_DIRECTORY, 0);
        s.step("mkdirat dirfd", SYS_mkdirat, &[int(fd), s.s("via-fd"), 0o755]);
        s.step("unlinkat dirfd", SYS_unlinkat, &[int(fd), s.s("via-fd"), int(libc::AT_REMOVEDIR)]);
        s.close(fd);
        rm("now empty", "d", libc::AT_REMOVEDIR);
    });
}

#[test]
fn rename_and_renameat2_noreplace() {
    differential(|s| {
        s.mkfile("a", b"A");
        s.mkfile("b", b"B");
        s.mkdir("d", 0o755);
        s.mkdir("e", 0o755);
        s.mkfile("e/x", b"");
        let mv = |from: &str, to: &str| {
            s.step(&format!("renameat {from} {to}"), SYS_renameat, &[CWD, s.s(from), CWD, s.s(to)])
        };
        let mv2 = |from: &str, to: &str, fl: u32| {
            s.step(&format!("renameat2 {from} {to} {fl}"), SYS_renameat2, &[CWD, s.s(from), CWD, s.s(to), fl as u64])
        };
        mv2("a", "b", libc::RENAME_NOREPLACE);
        mv2("a", "c", libc::RENAME_NOREPLACE);
        mv2("c", "c2", 0x80);
        mv("c", "b");
        s.stat("c");
        let fd = s.open("b", libc::O_RDONLY, 0);
        s.read(fd, 8);
        s.close(fd);
        mv("b", "d");
        mv("d", "b");
        mv("d", "e");
        mv("d", "d/inside");
        mv("missing", "z");
        mv("b", "b");
        mv("b/", "z");
        mv("d/", "d2/");
        s.stat("d2");
        mv("e/x", "e/y");
    });
}

#[test]
fn link_symlink_readlink() {
    differential(|s| {
        s.mkfile("f", b"data");
        s.mkdir("d", 0o755);
        s.symlink("f", "sl");
        let ln = |what: &str, from: &str, to: &str, fl: i32| {
            s.step(&format!("linkat {what}"), SYS_linkat, &[CWD, s.s(from), CWD, s.s(to), int(fl)])
        };
        ln("file", "f", "f2", 0);
        s.stat("f");
        ln("onto existing", "f", "f2", 0);
        ln("directory", "d", "d2", 0);
        ln("symlink itself", "sl", "sl2", 0);
        s.lstat("sl2");
        ln("following the symlink", "sl", "f3", libc::AT_SYMLINK_FOLLOW);
        s.lstat("f3");
        ln("bad flag", "f", "f4", 0x1);
        ln("missing", "nope", "f4", 0);
        let fd = s.open("f", libc::O_RDONLY, 0);
        s.step("linkat AT_EMPTY_PATH", SYS_linkat, &[int(fd), s.s(""), CWD, s.s("f5"), int(libc::AT_EMPTY_PATH)]);
        s.step("linkat empty path without flag", SYS_linkat, &[int(fd), s.s(""), CWD, s.s("f6"), 0]);
        s.close(fd);
        s.stat("f");
        s.symlink("", "empty");
        s.symlink("whatever", "f");
        let mut b = [0u8; 64];
        let mut rl = |what: &str, dirfd: i32, path: &str, size: i32| {
            b.fill(b'#');
            let r =
                s.call(&format!("readlinkat {what}"), SYS_readlinkat, &[int(dirfd), s.s(path), buf(&mut b), int(size)]);
            s.note("link", String::from_utf8_lossy(&b[..r.unwrap_or(0) as usize + 1]));
        };
        rl("link", libc::AT_FDCWD, "sl", 64);
        rl("short buffer", libc::AT_FDCWD, "sl", 1);
        rl("zero size", libc::AT_FDCWD, "sl", 0);
        rl("negative size", libc::AT_FDCWD, "sl", -1);
        rl("regular file", libc::AT_FDCWD, "f", 64);
        rl("missing", libc::AT_FDCWD, "none", 64);
        let lfd = s.open("sl", libc::O_PATH | libc::O_NOFOLLOW, 0);
        rl("O_PATH fd", lfd, "", 64);
        s.close(lfd);
        let dfd = s.open("d", libc::O_RDONLY, 0);
        rl("directory fd", dfd, "", 64);
        s.close(dfd);
        s.step("readlinkat NULL buffer", SYS_readlinkat, &[CWD, s.s("sl"), NULL, 64]);
    });
}

// ---- attributes ----

#[test]
fn chmod_and_chown() {
    differential(|s| {
        s.mkfile("f", b"x");
        s.symlink("f", "sl");
        for mode in [0o4755, 0o2711, 0o1600, 0o170777] {
            s.step(&format!("fchmodat {mode:o}"), SYS_fchmodat, &[CWD, s.s("f"), mode]);
            s.stat("f");
        }
        s.step("fchmodat through symlink", SYS_fchmodat, &[CWD, s.s("sl"), 0o640]);
        s.lstat("sl");
        s.stat("f");
        let fd = s.open("f", libc::O_RDONLY, 0);
        s.step("fchmod", SYS_fchmod, &[int(fd), 0o600]);
        let own = |what: &str, dirfd: i32, path: &str, uid: u32, gid: u32, fl: i32| {
            s.step(&format!("fchownat {what}"), SYS_fchownat, &[int(dirfd), s.s(path), uid as u64, gid as u64, int(fl)])
        };
        own("file", libc::AT_FDCWD, "f", 1234, 5678, 0);
        s.stat("f");
        own("keep both", libc::AT_FDCWD, "f", u32::MAX, u32::MAX, 0);
        own("symlink itself", libc::AT_FDCWD, "sl", 42, 43, libc::AT_SYMLINK_NOFOLLOW);
        s.lstat("sl");
        own("fd", fd, "", 7, u32::MAX, libc::AT_EMPTY_PATH);
        s.fstat(fd);
        own("empty path without flag", fd, "", 7, 7, 0);
        own("bad flag", libc::AT_FDCWD, "f", 1, 1, 0x2);
        s.step("fchmodat missing", SYS_fchmodat, &[CWD, s.s("none"), 0o644]);
        s.close(fd);
    });
}

/// chown of setuid/setgid files: which mode bits survive.
fn chown_setid(s: &Side, modes: &[u32], uid: u32, gid: u32) {
    for mode in modes {
        let name = format!("{mode:o}");
        s.mkfile(&name, b"x");
        s.step("fchmodat", SYS_fchmodat, &[CWD, s.s(&name), *mode as u64]);
        s.step("fchownat", SYS_fchownat, &[CWD, s.s(&name), uid as u64, gid as u64, 0]);
        s.stat(&name);
    }
}

#[test]
fn chown_clears_setid_bits() {
    differential(|s| chown_setid(s, &[0o6755, 0o2755, 0o4700, 0o1755], 5, 5));
}

/// Linux keeps setgid without group-execute (a locking mark, not a
/// privilege) when the caller is in the group or has CAP_FSETID, and
/// clears setuid even when no id changes.
#[test]

fn chown_setgid_without_group_exec() {
    differential(|s| {
        chown_setid(s, &[0o6745], 5, 5);
        chown_setid(s, &[0o4755], u32::MAX, u32::MAX);
    });
}

/// Which error wins when several apply: Linux looks the name up before it
/// checks the directory (ENOENT over EACCES), checks the directory before
/// the privilege for device nodes (EACCES over EPERM), and compares mounts
/// before it looks up the source of a rename (EXDEV over ENOENT).
#[test]

fn error_precedence() {
    differential_as(Some(USER), &|_| {}, &|s| {
        s.step("unlink missing in a root directory", SYS_unlinkat, &[CWD, s.s("none"), 0]);
        s.step(
            "mknod char device in a root directory",
            SYS_mknodat,
            &[CWD, s.s("null"), (libc::S_IFCHR | 0o600) as u64, 0x103],
        );
        if let Some(other) = &s.other_fs {
            s.step("rename missing to another fs", SYS_renameat, &[CWD, s.s("none"), CWD, s.s(&format!("{other}/x"))]);
        }
    });
}

#[test]
fn newfstatat_flags() {
    differential(|s| {
        s.mkfile("f", b"12345");
        s.symlink("f", "sl");
        s.symlink("missing", "dangling");
        s.stat("sl");
        s.lstat("sl");
        s.stat("dangling");
        s.lstat("dangling");
        s.stat("");
        s.stat_at(libc::AT_FDCWD, "", libc::AT_EMPTY_PATH);
        let fd = s.open("f", libc::O_RDONLY, 0);
        s.stat_at(fd, "", libc::AT_EMPTY_PATH);
        s.stat_at(fd, "", 0);
        s.stat_at(libc::AT_FDCWD, "f", 0x1);
        let mut st: libc::stat = zeroed();
        s.step("newfstatat NULL path", SYS_newfstatat, &[CWD, NULL, ptr(&mut st), 0]);
        s.step(
            "newfstatat NULL path AT_EMPTY_PATH",
            SYS_newfstatat,
            &[int(fd), NULL, ptr(&mut st), int(libc::AT_EMPTY_PATH)],
        );
        s.note_stat("NULL path", &st);
        s.step("newfstatat NULL buffer", SYS_newfstatat, &[CWD, s.s("f"), NULL, 0]);
        s.close(fd);
        let mut fds = [0i32; 2];
        s.step("pipe2", SYS_pipe2, &[ptr(&mut fds), 0]);
        s.fstat(fds[0]);
        s.close(fds[0]);
        s.close(fds[1]);
    });
}

fn note_statx(s: &Side, what: &str, r: Ret, stx: &libc::statx) {
    if r.is_err() {
        return;
    }
    let basic = libc::STATX_BASIC_STATS | libc::STATX_BTIME;
    let mut v = format!(
        "mask&basic={:#x} mode={:o} nlink={} uid={} gid={} size={} rdev={}:{}",
        stx.stx_mask & basic,
        stx.stx_mode,
        stx.stx_nlink,
        stx.stx_uid,
        stx.stx_gid,
        stx.stx_size,
        stx.stx_rdev_major,
        stx.stx_rdev_minor
    );
    if host_dirs().tmpfs {
        v += &format!(" blocks={} blksize={}", stx.stx_blocks, stx.stx_blksize);
    }
    s.note(what, v);
}

#[test]
fn statx_fields_and_flags() {
    differential(|s| {
        s.mkfile("f", b"123");
        s.symlink("f", "sl");
        let statx = |what: &str, dirfd: i32, path: u64, fl: i32, mask: u32| {
            let mut stx: libc::statx = zeroed();
            let r =
                s.call(&format!("statx {what}"), SYS_statx, &[int(dirfd), path, int(fl), mask as u64, ptr(&mut stx)]);
            note_statx(s, what, r, &stx);
            stx
        };
        let stx = statx("file", libc::AT_FDCWD, s.s("f"), 0, libc::STATX_BASIC_STATS);
        let mut st: libc::stat = zeroed();
        s.raw(SYS_newfstatat, &[CWD, s.s("f"), ptr(&mut st), 0]).unwrap();
        s.note(
            "statx agrees with stat",
            (
                stx.stx_ino == st.st_ino,
                stx.stx_mtime.tv_sec == st.st_mtime,
                stx.stx_dev_minor == libc::minor(st.st_dev),
            ),
        );
        statx("only the type asked", libc::AT_FDCWD, s.s("f"), 0, libc::STATX_TYPE);
        statx("nothing asked", libc::AT_FDCWD, s.s("f"), 0, 0);
        statx("symlink", libc::AT_FDCWD, s.s("sl"), libc::AT_SYMLINK_NOFOLLOW, libc::STATX_BASIC_STATS);
        statx("through symlink", libc::AT_FDCWD, s.s("sl"), 0, libc::STATX_BASIC_STATS);
        statx("force sync", libc::AT_FDCWD, s.s("f"), libc::AT_STATX_FORCE_SYNC, libc::STATX_ALL);
        statx("don't sync", libc::AT_FDCWD, s.s("f"), libc::AT_STATX_DONT_SYNC, libc::STATX_ALL);
        statx(
            "both syncs",
            libc::AT_FDCWD,
            s.s("f"),
            libc::AT_STATX_FORCE_SYNC | libc::AT_STATX_DONT_SYNC,
            libc::STATX_ALL,
        );
        statx("bad flag", libc::AT_FDCWD, s.s("f"), 0x1, libc::STATX_ALL);
        statx("reserved mask", libc::AT_FDCWD, s.s("f"), 0, 0x8000_0000);
        statx("cwd", libc::AT_FDCWD, s.s(""), libc::AT_EMPTY_PATH, libc::STATX_BASIC_STATS);
        let fd = s.open("f", libc::O_RDONLY, 0);
        statx("fd", fd, s.s(""), libc::AT_EMPTY_PATH, libc::STATX_BASIC_STATS);
        statx("fd, NULL path", fd, NULL, libc::AT_EMPTY_PATH, libc::STATX_BASIC_STATS);
        statx("NULL path", fd, NULL, 0, libc::STATX_BASIC_STATS);
        statx("empty path", fd, s.s(""), 0, libc::STATX_BASIC_STATS);
        s.step("statx NULL buffer", SYS_statx, &[CWD, s.s("f"), 0, 0x7ff, NULL]);
        s.close(fd);
    });
}

fn ts(sec: i64, nsec: i64) -> libc::timespec {
    libc::timespec { tv_sec: sec, tv_nsec: nsec }
}

fn note_times(s: &Side, what: &str, st: Option<libc::stat>) {
    if let Some(st) = st {
        s.note(what, ((st.st_atime, st.st_atime_nsec), (st.st_mtime, st.st_mtime_nsec)));
    }
}

#[test]
fn utimensat_times() {
    differential(|s| {
        s.mkfile("f", b"x");
        s.symlink("f", "sl");
        let set = |what: &str, dirfd: i32, path: u64, times: Option<[libc::timespec; 2]>, fl: i32| {
            let t = times.as_ref().map_or(NULL, |t| t.as_ptr() as u64);
            s.step(&format!("utimensat {what}"), SYS_utimensat, &[int(dirfd), path, t, int(fl)])
        };
        set("explicit", libc::AT_FDCWD, s.s("f"), Some([ts(1000, 500), ts(2000, 600)]), 0);
        note_times(s, "times", s.stat("f"));
        set("omit atime", libc::AT_FDCWD, s.s("f"), Some([ts(0, libc::UTIME_OMIT), ts(3000, 0)]), 0);
        note_times(s, "times", s.stat("f"));
        set("both omitted, missing path", libc::AT_FDCWD, s.s("none"), Some([ts(0, libc::UTIME_OMIT); 2]), 0);
        set("bad nsec", libc::AT_FDCWD, s.s("f"), Some([ts(0, 1_000_000_000), ts(0, 0)]), 0);
        set("missing", libc::AT_FDCWD, s.s("none"), None, 0);
        set("symlink itself", libc::AT_FDCWD, s.s("sl"), Some([ts(10, 1), ts(20, 2)]), libc::AT_SYMLINK_NOFOLLOW);
        note_times(s, "link times", s.lstat("sl"));
        note_times(s, "target times", s.stat("f"));
        let fd = s.open("f", libc::O_RDONLY, 0);
        set("fd, NULL path", fd, NULL, Some([ts(5, 5), ts(6, 6)]), 0);
        note_times(s, "times", s.fstat(fd));
        set("fd, NULL path, flags", fd, NULL, Some([ts(5, 5), ts(6, 6)]), libc::AT_SYMLINK_NOFOLLOW);
        set("AT_FDCWD, NULL path", libc::AT_FDCWD, NULL, Some([ts(5, 5), ts(6, 6)]), 0);
        set("fd, empty path", fd, s.s(""), Some([ts(7, 7), ts(8, 8)]), libc::AT_EMPTY_PATH);
        note_times(s, "times", s.fstat(fd));
        set("bad flag", libc::AT_FDCWD, s.s("f"), None, 0x1);
        // Now: both times move to the present.
        let mut now: libc::timespec = ts(0, 0);
        set("now", libc::AT_FDCWD, s.s("f"), None, 0);
        s.raw(libc::SYS_clock_gettime, &[libc::CLOCK_REALTIME as u64, ptr(&mut now)]).unwrap();
        let st = s.stat("f").unwrap();
        s.note("set to now", (now.tv_sec - st.st_mtime).abs() < 60 && st.st_atime == st.st_mtime);
        s.close(fd);
    });
}

#[test]
fn truncate_and_ftruncate_sparse() {
    differential(|s| {
        s.mkfile("f", b"abc");
        s.mkdir("d", 0o755);
        s.step("truncate grow", SYS_truncate, &[s.s("f"), 10000]);
        s.stat("f");
        let fd = s.open("f", libc::O_RDWR, 0);
        s.pread(fd, 8, 5000);
        s.step("ftruncate shrink", SYS_ftruncate, &[int(fd), 2]);
        s.fstat(fd);
        s.pread(fd, 8, 0);
        s.step("ftruncate 1 MiB", SYS_ftruncate, &[int(fd), 1 << 20]);
        s.fstat(fd);
        s.step("ftruncate negative", SYS_ftruncate, &[int(fd), u64::MAX]);
        s.step("truncate negative", SYS_truncate, &[s.s("f"), u64::MAX]);
        s.step("truncate directory", SYS_truncate, &[s.s("d"), 0]);
        s.step("truncate missing", SYS_truncate, &[s.s("none"), 0]);
        s.step("truncate NULL", SYS_truncate, &[NULL, 0]);
        let ro = s.open("f", libc::O_RDONLY, 0);
        s.step("ftruncate read-only fd", SYS_ftruncate, &[int(ro), 0]);
        let mut fds = [0i32; 2];
        s.step("pipe2", SYS_pipe2, &[ptr(&mut fds), 0]);
        s.step("ftruncate pipe", SYS_ftruncate, &[int(fds[1]), 0]);
        for fd in [fd, ro, fds[0], fds[1]] {
            s.close(fd);
        }
    });
}

#[test]
fn faccessat_modes_and_flags() {
    differential(|s| {
        s.mkfile("rw", b"");
        s.mkfile("x", b"");
        s.mkfile("ro", b"");
        s.step("chmod x", SYS_fchmodat, &[CWD, s.s("x"), 0o755]);
        s.step("chmod ro", SYS_fchmodat, &[CWD, s.s("ro"), 0o444]);
        s.symlink("missing", "dangling");
        for (path, mode) in [
            ("rw", libc::F_OK),
            ("rw", libc::R_OK | libc::W_OK),
            ("rw", libc::X_OK),
            ("x", libc::X_OK),
            ("ro", libc::W_OK),
            ("none", libc::F_OK),
            ("rw", 8),
        ] {
            s.step(&format!("faccessat {path} {mode}"), SYS_faccessat, &[CWD, s.s(path), int(mode)]);
        }
        let acc2 = |what: &str, dirfd: i32, path: &str, mode: i32, fl: i32| {
            s.step(&format!("faccessat2 {what}"), SYS_faccessat2, &[int(dirfd), s.s(path), int(mode), int(fl)])
        };
        acc2("dangling, follow", libc::AT_FDCWD, "dangling", libc::F_OK, 0);
        acc2("dangling, nofollow", libc::AT_FDCWD, "dangling", libc::F_OK, libc::AT_SYMLINK_NOFOLLOW);
        acc2("AT_EACCESS", libc::AT_FDCWD, "x", libc::X_OK, libc::AT_EACCESS);
        let fd = s.open("x", libc::O_RDONLY, 0);
        acc2("fd", fd, "", libc::X_OK, libc::AT_EMPTY_PATH);
        acc2("fd, no flag", fd, "", libc::X_OK, 0);
        acc2("bad flag", libc::AT_FDCWD, "x", libc::F_OK, 0x1);
        acc2("bad mode", libc::AT_FDCWD, "x", 0x10, 0);
        s.step("faccessat NULL", SYS_faccessat, &[CWD, NULL, 0]);
        s.close(fd);
    });
}

#[test]
fn mknodat_types() {
    differential(|s| {
        let mk = |name: &str, mode: u32, dev: u64| {
            s.step(&format!("mknodat {name} {mode:o}"), SYS_mknodat, &[CWD, s.s(name), mode as u64, dev])
        };
        mk("fifo", libc::S_IFIFO | 0o666, 0x1234);
        s.lstat("fifo");
        mk("reg", 0o640, 0);
        s.lstat("reg");
        mk("reg2", libc::S_IFREG | 0o600, 0);
        s.lstat("reg2");
        mk("dir", libc::S_IFDIR | 0o755, 0);
        mk("bad", 0o070000 | 0o644, 0);
        mk("fifo", libc::S_IFIFO | 0o666, 0);
        mk("wide mode", 0x1_0000 | libc::S_IFIFO | 0o600, 0);
        s.lstat("wide mode");
    });
}

#[test]
fn statfs_reports_the_file_system() {
    if !host_dirs().tmpfs {
        strict::skip(
            strict::HostFact::TmpfsScratch,
            "the host test directory is not on a tmpfs, so the file systems differ",
        );
        return;
    }
    differential(|s| {
        let note = |what: &str, r: Ret, st: &libc::statfs| {
            if r.is_ok() {
                s.note(what, (st.f_type, st.f_bsize, st.f_frsize, st.f_namelen));
            }
        };
        let mut st: libc::statfs = zeroed();
        let r = s.call("statfs .", SYS_statfs, &[s.s("."), ptr(&mut st)]);
        note("statfs", r, &st);
        s.mkfile("f", b"");
        let fd = s.open("f", libc::O_RDONLY, 0);
        let mut st2: libc::statfs = zeroed();
        let r = s.call("fstatfs", SYS_fstatfs, &[int(fd), ptr(&mut st2)]);
        note("fstatfs", r, &st2);
        // SAFETY: fsid_t is two ints.
        let fsid = |st: &libc::statfs| unsafe { std::mem::transmute::<libc::fsid_t, [i32; 2]>(st.f_fsid) };
        s.note("statfs and fstatfs agree on the fsid", fsid(&st) == fsid(&st2));
        s.close(fd);
        s.step("statfs missing", SYS_statfs, &[s.s("none"), ptr(&mut st)]);
        s.step("statfs NULL buffer", SYS_statfs, &[s.s("."), NULL]);
    });
}

// ---- the working directory ----

/// getcwd with `extra` bytes more than the side's base is long; logs the
/// length and the path below the base.
fn getcwd(s: &Side, extra: usize) {
    let size = s.base.len() + extra;
    let mut b = vec![0u8; size];
    let r = s.raw(SYS_getcwd, &[buf(&mut b), size as u64]);
    let shown = r.map(|n| {
        let path = String::from_utf8_lossy(&b[..n as usize - 1]).into_owned();
        let rel = path.strip_prefix(&s.base).map(str::to_string);
        (n - s.base.len() as i64, rel, b[n as usize - 1])
    });
    s.note(
        &format!("getcwd base+{extra} (length past the base, path below it, last byte)"),
        shown.map_err(|e| show(Err(e))),
    );
}

#[test]
fn chdir_and_getcwd() {
    differential(|s| {
        s.mkdir("sub", 0o755);
        s.mkdir("sub/deeper", 0o755);
        s.mkfile("f", b"");
        getcwd(s, 4096);
        s.step("chdir sub/deeper", SYS_chdir, &[s.s("sub/deeper")]);
        getcwd(s, 4096);
        getcwd(s, 11);
        getcwd(s, 12);
        s.step("getcwd size 0", SYS_getcwd, &[s.s(""), 0]);
        s.step("getcwd NULL", SYS_getcwd, &[NULL, 4096]);
        s.step("chdir ../..", SYS_chdir, &[s.s("../..")]);
        getcwd(s, 4096);
        s.step("chdir file", SYS_chdir, &[s.s("f")]);
        s.step("chdir missing", SYS_chdir, &[s.s("none")]);
        s.step("chdir NULL", SYS_chdir, &[NULL]);
        let fd = s.open("sub", libc::O_RDONLY | libc::O_DIRECTORY, 0);
        s.step("fchdir", SYS_fchdir, &[int(fd)]);
        getcwd(s, 4096);
        let f = s.open("deeper/../../f", libc::O_RDONLY, 0);
        s.step("fchdir file", SYS_fchdir, &[int(f)]);
        s.step("rmdir the cwd's child", SYS_unlinkat, &[CWD, s.s("deeper"), int(libc::AT_REMOVEDIR)]);
        s.step("chdir ..", SYS_chdir, &[s.s("..")]);
        s.step("rmdir sub", SYS_unlinkat, &[CWD, s.s("sub"), int(libc::AT_REMOVEDIR)]);
        s.step("fchdir removed", SYS_fchdir, &[int(fd)]);
        getcwd(s, 4096);
        s.step("chdir back", SYS_chdir, &[s.s(&s.base)]);
        for fd in [fd, f] {
            s.close(fd);
        }
    });
}

// ---- fds ----

#[test]
fn dup_family_and_fcntl() {
    differential(|s| {
        s.mkfile("f", b"0123456789");
        let fd = s.open("f", libc::O_RDWR | libc::O_APPEND, 0);
        let d = s.fd("dup", SYS_dup, &[int(fd)]);
        s.step("lseek via dup", SYS_lseek, &[int(d), 4, 0]);
        s.step("offset is shared", SYS_lseek, &[int(fd), 0, libc::SEEK_CUR as u64]);
        s.step("dup2", SYS_dup2, &[int(fd), 700]);
        s.note("dup2 same fd returns it", s.raw(SYS_dup2, &[int(fd), int(fd)]) == Ok(fd as i64));
        s.step("dup2 bad fd", SYS_dup2, &[999, 701]);
        s.step("dup2 bad target", SYS_dup2, &[int(fd), int(-1)]);
        s.step("dup3 same fd", SYS_dup3, &[int(fd), int(fd), 0]);
        s.step("dup3 bad flag", SYS_dup3, &[int(fd), 702, int(libc::O_NONBLOCK)]);
        s.step("dup3 cloexec", SYS_dup3, &[int(fd), 702, int(libc::O_CLOEXEC)]);
        s.step("F_GETFD cloexec", SYS_fcntl, &[702, int(libc::F_GETFD)]);
        s.step("F_GETFD", SYS_fcntl, &[700, int(libc::F_GETFD)]);
        s.step("F_SETFD", SYS_fcntl, &[700, int(libc::F_SETFD), 1]);
        s.step("F_GETFD", SYS_fcntl, &[700, int(libc::F_GETFD)]);
        s.step("FIONCLEX", SYS_ioctl, &[700, libc::FIONCLEX]);
        s.step("F_GETFD", SYS_fcntl, &[700, int(libc::F_GETFD)]);
        s.step("FIOCLEX", SYS_ioctl, &[700, libc::FIOCLEX]);
        s.step("F_GETFD", SYS_fcntl, &[700, int(libc::F_GETFD)]);
        s.step("F_DUPFD 800", SYS_fcntl, &[int(fd), int(libc::F_DUPFD), 800]);
        s.step("F_DUPFD_CLOEXEC 800", SYS_fcntl, &[int(fd), int(libc::F_DUPFD_CLOEXEC), 800]);
        s.step("F_GETFD", SYS_fcntl, &[801, int(libc::F_GETFD)]);
        let low = s.fd("F_DUPFD takes the low int of 1 << 40", SYS_fcntl, &[int(fd), int(libc::F_DUPFD), 1 << 40]);
        s.step("F_DUPFD negative", SYS_fcntl, &[int(fd), int(libc::F_DUPFD), u32::MAX as u64]);
        s.step("F_GETFL", SYS_fcntl, &[int(fd), int(libc::F_GETFL)]);
        s.step("F_SETFL", SYS_fcntl, &[int(fd), int(libc::F_SETFL), int(libc::O_NONBLOCK | libc::O_RDONLY)]);
        s.step("F_GETFL", SYS_fcntl, &[int(d), int(libc::F_GETFL)]);
        s.step("unknown command", SYS_fcntl, &[int(fd), 12345]);
        s.step("unknown command, bad fd", SYS_fcntl, &[999, 12345]);
        s.step("F_GETPIPE_SZ on a file", SYS_fcntl, &[int(fd), int(libc::F_GETPIPE_SZ)]);
        let ro = s.open("f", libc::O_RDONLY, 0);
        s.step("F_GETFL read-only", SYS_fcntl, &[int(ro), int(libc::F_GETFL)]);
        let sync = s.open("f", libc::O_WRONLY | libc::O_SYNC, 0);
        s.step("F_GETFL O_SYNC", SYS_fcntl, &[int(sync), int(libc::F_GETFL)]);
        let path = s.open("f", libc::O_PATH, 0);
        s.step("F_GETFL O_PATH", SYS_fcntl, &[int(path), int(libc::F_GETFL)]);
        for fd in [fd, d, low, ro, sync, path, 700, 702, 800, 801] {
            s.close(fd);
        }
        s.step("F_GETFD closed", SYS_fcntl, &[700, int(libc::F_GETFD)]);
    });
}

/// Linux's F_GETFL shows O_DIRECTORY and O_NOFOLLOW (and O_NOATIME and
/// O_ASYNC, which the native ABI lacks) as given to open.
#[test]

fn getfl_shows_open_time_flags() {
    differential(|s| {
        s.mkdir("d", 0o755);
        let d = s.open("d", libc::O_RDONLY | libc::O_DIRECTORY, 0);
        s.step("F_GETFL O_DIRECTORY", SYS_fcntl, &[int(d), int(libc::F_GETFL)]);
        let f = s.open("d", libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0);
        s.step("F_GETFL O_NOFOLLOW", SYS_fcntl, &[int(f), int(libc::F_GETFL)]);
        s.close(d);
        s.close(f);
    });
}

#[test]
fn ioctls() {
    differential(|s| {
        s.mkfile("f", b"0123456789");
        let fd = s.open("f", libc::O_RDONLY, 0);
        let mut n: i32 = -1;
        s.step("lseek 3", SYS_lseek, &[int(fd), 3, 0]);
        s.step("FIONREAD file", SYS_ioctl, &[int(fd), libc::FIONREAD, ptr(&mut n)]);
        s.note("bytes", n);
        let mut on: i32 = 1;
        s.step("FIONBIO", SYS_ioctl, &[int(fd), libc::FIONBIO, ptr(&mut on)]);
        s.step("F_GETFL", SYS_fcntl, &[int(fd), int(libc::F_GETFL)]);
        let mut termios = [0u8; 64];
        s.step("TCGETS", SYS_ioctl, &[int(fd), libc::TCGETS, buf(&mut termios)]);
        s.step("unknown", SYS_ioctl, &[int(fd), 0xdead, 0]);
        s.step("bad fd", SYS_ioctl, &[999, libc::FIONREAD, ptr(&mut n)]);
        s.step("FIONREAD NULL", SYS_ioctl, &[int(fd), libc::FIONREAD, NULL]);
        s.close(fd);
    });
}

// ---- pipes ----

#[test]
fn pipes_nonblocking_eof_epipe() {
    // SAFETY: ignoring SIGPIPE is process-wide and harmless in tests.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    differential(|s| {
        let mut fds = [0i32; 2];
        s.step("pipe2 O_NONBLOCK", SYS_pipe2, &[ptr(&mut fds), int(libc::O_NONBLOCK)]);
        let [r, w] = fds;
        s.step("F_GETFL read end", SYS_fcntl, &[int(r), int(libc::F_GETFL)]);
        s.step("F_GETFL write end", SYS_fcntl, &[int(w), int(libc::F_GETFL)]);
        s.step("F_GETPIPE_SZ", SYS_fcntl, &[int(r), int(libc::F_GETPIPE_SZ)]);
        s.read(r, 8);
        s.write(w, b"abc");
        let mut n = 0i32;
        s.step("FIONREAD", SYS_ioctl, &[int(r), libc::FIONREAD, ptr(&mut n)]);
        s.note("bytes", n);
        s.read(r, 2);
        s.read(r, 8);
        s.step("lseek pipe", SYS_lseek, &[int(r), 0, 0]);
        s.pread(r, 1, 0);
        s.step("pwrite64 pipe", SYS_pwrite64, &[int(w), s.s("x"), 1, 0]);
        s.step("write read end", SYS_write, &[int(r), s.s("x"), 1]);
        s.close(w);
        s.read(r, 8);
        s.close(r);
        s.step("pipe2", SYS_pipe2, &[ptr(&mut fds), int(libc::O_CLOEXEC)]);
        s.step("F_GETFD", SYS_fcntl, &[int(fds[0]), int(libc::F_GETFD)]);
        s.close(fds[0]);
        s.write(fds[1], b"nobody reads");
        s.close(fds[1]);
        s.step("pipe2 bad flag", SYS_pipe2, &[ptr(&mut fds), int(libc::O_APPEND)]);
        s.step("pipe2 NULL", SYS_pipe2, &[NULL, 0]);
    });
}

#[test]
fn fifos_opened_by_name() {
    differential(|s| {
        s.step("mknodat", SYS_mknodat, &[CWD, s.s("fifo"), (libc::S_IFIFO | 0o644) as u64, 0]);
        s.open("fifo", libc::O_WRONLY | libc::O_NONBLOCK, 0);
        let r = s.open("fifo", libc::O_RDONLY | libc::O_NONBLOCK, 0);
        let w = s.open("fifo", libc::O_WRONLY, 0);
        s.step("F_GETFL read end", SYS_fcntl, &[int(r), int(libc::F_GETFL)]);
        s.step("F_GETFL write end", SYS_fcntl, &[int(w), int(libc::F_GETFL)]);
        s.fstat(r);
        s.write(w, b"through the fifo");
        s.read(r, 64);
        s.read(r, 64);
        s.step("lseek fifo", SYS_lseek, &[int(r), 0, libc::SEEK_DATA as u64]);
        s.step("ftruncate fifo", SYS_ftruncate, &[int(w), 0]);
        s.close(w);
        s.read(r, 64);
        s.close(r);
        s.stat("fifo");
    });
}

#[test]
fn poll_and_ppoll_on_a_pipe() {
    differential(|s| {
        let mut fds = [0i32; 2];
        s.step("pipe2", SYS_pipe2, &[ptr(&mut fds), 0]);
        let [r, w] = fds;
        let ev = libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM;
        let mut set = [
            libc::pollfd { fd: r, events: ev, revents: 0 },
            libc::pollfd { fd: w, events: ev, revents: 0 },
            libc::pollfd { fd: -1, events: ev, revents: 7 },
        ];
        let poll = |what: &str, set: &mut [libc::pollfd; 3]| {
            s.step(what, SYS_poll, &[set.as_mut_ptr() as u64, 3, 0]);
            s.note("revents", set.map(|p| p.revents));
        };
        poll("poll empty", &mut set);
        s.write(w, b"x");
        poll("poll with data", &mut set);
        s.close(w);
        set[1].fd = s.closed_fd(652);
        poll("poll after writer closed", &mut set);
        let mut one = [libc::pollfd { fd: r, events: libc::POLLIN, revents: 0 }];
        let mut t = ts(1, 0);
        s.step("ppoll", SYS_ppoll, &[one.as_mut_ptr() as u64, 1, ptr(&mut t), NULL, 0]);
        s.note("revents", one[0].revents);
        let mut bad = ts(0, -1);
        s.step("ppoll bad timeout", SYS_ppoll, &[one.as_mut_ptr() as u64, 1, ptr(&mut bad), NULL, 0]);
        let mut mask = 0u64;
        s.step("ppoll bad sigset size", SYS_ppoll, &[one.as_mut_ptr() as u64, 1, ptr(&mut t), ptr(&mut mask), 4]);
        s.close(r);
        let mut closed = [libc::pollfd { fd: s.closed_fd(653), events: libc::POLLIN, revents: 0 }];
        s.step("poll closed fd", SYS_poll, &[closed.as_mut_ptr() as u64, 1, 0]);
        s.note("revents", closed[0].revents);
        s.step("poll NULL, no fds", SYS_poll, &[NULL, 0, 0]);
        s.step("poll NULL", SYS_poll, &[NULL, 1, 0]);
    });
}

// ---- epoll ----

/// epoll_ctl with an event of `events` and `data`.
fn ep_ctl(s: &Side, what: &str, epfd: i32, op: i32, fd: i32, events: u32, data: u64) {
    let mut ev = libc::epoll_event { events, u64: data };
    s.step(&format!("epoll_ctl {what}"), SYS_epoll_ctl, &[int(epfd), int(op), int(fd), ptr(&mut ev)]);
}

fn ep_add(s: &Side, epfd: i32, fd: i32, events: u32, data: u64) {
    ep_ctl(s, &format!("ADD {events:#x} {data}"), epfd, libc::EPOLL_CTL_ADD, fd, events, data);
}

/// Logs what a call that filled `evs` returned, as (events, data) pairs.
fn note_events(s: &Side, r: Ret, evs: &[libc::epoll_event]) {
    let n = r.map_or(0, |n| n as usize);
    let got: Vec<(String, u64)> = evs[..n]
        .iter()
        .map(|e| {
            let (events, data) = (e.events, e.u64);
            (format!("{events:#x}"), data)
        })
        .collect();
    s.note("events", got);
}

/// epoll_wait for up to `max` events without waiting.
fn ep_wait(s: &Side, what: &str, epfd: i32, max: i32) {
    let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 8];
    let r = s.call(&format!("epoll_wait {what}"), SYS_epoll_wait, &[int(epfd), evs.as_mut_ptr() as u64, int(max), 0]);
    note_events(s, r, &evs);
}

fn pipe_fds(s: &Side, flags: i32) -> (i32, i32) {
    let mut fds = [0i32; 2];
    s.step("pipe2", SYS_pipe2, &[ptr(&mut fds), int(flags)]);
    (fds[0], fds[1])
}

fn fionread(s: &Side, fd: i32) {
    let mut n = -1i32;
    s.step("FIONREAD", SYS_ioctl, &[int(fd), libc::FIONREAD, ptr(&mut n)]);
    s.note("bytes", n);
}

const IN: u32 = libc::EPOLLIN as u32;
const OUT: u32 = libc::EPOLLOUT as u32;
const ET: u32 = libc::EPOLLET as u32;

#[test]
fn epoll_level_triggered_on_a_pipe() {
    differential(|s| {
        let (r, w) = pipe_fds(s, libc::O_NONBLOCK);
        let ep = s.fd("epoll_create1", SYS_epoll_create1, &[0]);
        ep_add(s, ep, r, IN, 1);
        ep_add(s, ep, w, OUT | libc::EPOLLWRNORM as u32, 2);
        ep_wait(s, "writable", ep, 8);
        s.write(w, b"abc");
        ep_wait(s, "both", ep, 8);
        ep_wait(s, "both, still", ep, 8);
        ep_wait(s, "one at a time", ep, 1);
        ep_wait(s, "the other next", ep, 1);
        fionread(s, r);
        s.read(r, 2);
        ep_wait(s, "data left", ep, 8);
        s.read(r, 8);
        ep_wait(s, "drained", ep, 8);
        ep_ctl(s, "MOD to data 7", ep, libc::EPOLL_CTL_MOD, w, OUT, 7);
        ep_wait(s, "modified", ep, 8);
        ep_ctl(s, "DEL", ep, libc::EPOLL_CTL_DEL, w, 0, 0);
        ep_wait(s, "deleted", ep, 8);
        s.close(w);
        ep_wait(s, "writer gone: hangup", ep, 8);
        s.step("read epoll fd", SYS_read, &[int(ep), s.s("x"), 1]);
        s.step("F_GETFL epoll fd", SYS_fcntl, &[int(ep), int(libc::F_GETFL)]);
        let mut n = 0i32;
        s.step("FIONREAD epoll fd", SYS_ioctl, &[int(ep), libc::FIONREAD, ptr(&mut n)]);
        s.step("TCGETS epoll fd", SYS_ioctl, &[int(ep), libc::TCGETS, ptr(&mut n)]);
        s.step("FIONBIO epoll fd", SYS_ioctl, &[int(ep), libc::FIONBIO, ptr(&mut n)]);
        s.close(r);
        ep_wait(s, "reader closed: item gone", ep, 8);
        s.close(ep);
    });
}

#[test]
fn epoll_edge_triggered_follows_linux_wakeups() {
    differential(|s| {
        let (r, w) = pipe_fds(s, libc::O_NONBLOCK);
        let ep = s.fd("epoll_create", SYS_epoll_create, &[1]);
        ep_add(s, ep, r, IN | ET, 1);
        ep_add(s, ep, w, OUT | ET, 2);
        ep_wait(s, "writable once", ep, 8);
        ep_wait(s, "not again", ep, 8);
        s.write(w, b"a");
        ep_wait(s, "readable", ep, 8);
        ep_wait(s, "not again", ep, 8);
        s.write(w, b"b");
        ep_wait(s, "every write wakes the reader", ep, 8);
        s.read(r, 1);
        ep_wait(s, "a read of a pipe that was not full wakes nobody", ep, 8);
        let big = vec![b'z'; 70000];
        s.step("fill", SYS_write, &[int(w), big.as_ptr() as u64, big.len() as u64]);
        fionread(s, r);
        ep_wait(s, "full", ep, 8);
        s.step("write to a full pipe", SYS_write, &[int(w), s.s("x"), 1]);
        ep_wait(s, "a failed write wakes the reader too", ep, 8);
        s.read(r, 1);
        ep_wait(s, "a byte read frees no page", ep, 8);
        let mut page = vec![0u8; 4095];
        s.step("read the rest of the page", SYS_read, &[int(r), buf(&mut page), 4095]);
        ep_wait(s, "a page read frees one", ep, 8);
        s.close(r);
        ep_wait(s, "reader gone", ep, 8);
        s.close(w);
        s.close(ep);
    });
}

#[test]
fn epoll_oneshot_until_modified() {
    differential(|s| {
        let (r, w) = pipe_fds(s, 0);
        let ep = s.fd("epoll_create1", SYS_epoll_create1, &[int(libc::EPOLL_CLOEXEC)]);
        s.step("F_GETFD", SYS_fcntl, &[int(ep), int(libc::F_GETFD)]);
        ep_add(s, ep, r, IN | libc::EPOLLONESHOT as u32, 5);
        s.write(w, b"x");
        ep_wait(s, "once", ep, 8);
        s.write(w, b"y");
        ep_wait(s, "disabled", ep, 8);
        ep_ctl(s, "MOD re-arms", ep, libc::EPOLL_CTL_MOD, r, IN | libc::EPOLLONESHOT as u32, 6);
        ep_wait(s, "re-armed", ep, 8);
        ep_wait(s, "disabled again", ep, 8);
        s.close(w);
        ep_wait(s, "even a hangup waits for MOD", ep, 8);
        ep_ctl(s, "MOD", ep, libc::EPOLL_CTL_MOD, r, IN, 7);
        ep_wait(s, "hangup and data", ep, 8);
        s.close(r);
        s.close(ep);
    });
}

#[test]
fn epoll_hangup_and_error_are_always_reported() {
    differential(|s| {
        let ep = s.fd("epoll_create1", SYS_epoll_create1, &[0]);
        let (r, w) = pipe_fds(s, 0);
        ep_add(s, ep, r, 0, 1);
        ep_add(s, ep, w, 0, 2);
        ep_wait(s, "nothing asked, nothing yet", ep, 8);
        s.close(w);
        ep_wait(s, "hangup", ep, 8);
        s.close(r);
        let (r, w) = pipe_fds(s, 0);
        ep_add(s, ep, w, OUT, 3);
        ep_add(s, ep, r, IN | ET, 4);
        ep_wait(s, "writable", ep, 8);
        s.close(r);
        ep_wait(s, "error, still writable", ep, 8);
        s.close(w);
        s.close(ep);
    });
}

#[test]
fn epoll_items_belong_to_the_open_file() {
    differential(|s| {
        let (r, w) = pipe_fds(s, 0);
        let ep = s.fd("epoll_create1", SYS_epoll_create1, &[0]);
        s.step("dup2", SYS_dup2, &[int(r), 900]);
        ep_add(s, ep, 900, IN, 1);
        ep_add(s, ep, 900, IN, 1);
        ep_add(s, ep, r, IN, 2);
        s.close(900);
        s.write(w, b"x");
        ep_wait(s, "the closed fd's item lives on with its file", ep, 8);
        ep_ctl(s, "DEL closed fd", ep, libc::EPOLL_CTL_DEL, 900, 0, 0);
        ep_ctl(s, "DEL", ep, libc::EPOLL_CTL_DEL, r, 0, 0);
        ep_ctl(s, "DEL again", ep, libc::EPOLL_CTL_DEL, r, 0, 0);
        ep_ctl(s, "MOD deleted", ep, libc::EPOLL_CTL_MOD, r, IN, 3);
        ep_wait(s, "the other item", ep, 8);
        s.close(r);
        ep_wait(s, "last fd closed: gone", ep, 8);
        s.close(w);
        s.close(ep);
    });
}

#[test]
fn epoll_errors() {
    differential(|s| {
        s.mkfile("f", b"data");
        s.mkdir("d", 0o755);
        let f = s.open("f", libc::O_RDONLY, 0);
        let d = s.open("d", libc::O_RDONLY, 0);
        let (r, w) = pipe_fds(s, 0);
        let ep = s.fd("epoll_create1", SYS_epoll_create1, &[0]);
        s.step("epoll_create 0", SYS_epoll_create, &[0]);
        s.step("epoll_create -1", SYS_epoll_create, &[int(-1)]);
        s.step("epoll_create1 bad flag", SYS_epoll_create1, &[int(libc::O_NONBLOCK)]);
        let closed = s.closed_fd(901);
        ep_ctl(s, "bad epfd", closed, libc::EPOLL_CTL_ADD, r, IN, 0);
        ep_ctl(s, "bad fd", ep, libc::EPOLL_CTL_ADD, closed, IN, 0);
        ep_ctl(s, "regular file", ep, libc::EPOLL_CTL_ADD, f, IN, 0);
        ep_ctl(s, "directory", ep, libc::EPOLL_CTL_ADD, d, IN, 0);
        ep_ctl(s, "epfd not an epoll", r, libc::EPOLL_CTL_ADD, w, IN, 0);
        ep_ctl(s, "itself", ep, libc::EPOLL_CTL_ADD, ep, IN, 0);
        ep_ctl(s, "bad op", ep, 7, r, IN, 0);
        s.step("ADD NULL event", SYS_epoll_ctl, &[int(ep), int(libc::EPOLL_CTL_ADD), int(r), NULL]);
        ep_ctl(s, "DEL missing", ep, libc::EPOLL_CTL_DEL, r, 0, 0);
        ep_ctl(s, "MOD missing", ep, libc::EPOLL_CTL_MOD, r, IN, 0);
        let excl = libc::EPOLLEXCLUSIVE as u32;
        ep_ctl(s, "EXCLUSIVE with RDNORM", ep, libc::EPOLL_CTL_ADD, r, IN | libc::EPOLLRDNORM as u32 | excl, 0);
        ep_add(s, ep, r, IN | excl, 1);
        ep_ctl(s, "MOD EXCLUSIVE", ep, libc::EPOLL_CTL_MOD, r, IN | excl, 0);
        ep_ctl(s, "MOD an exclusive item", ep, libc::EPOLL_CTL_MOD, r, IN, 0);
        s.step("DEL with NULL event", SYS_epoll_ctl, &[int(ep), int(libc::EPOLL_CTL_DEL), int(r), NULL]);
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 2];
        let at = evs.as_mut_ptr() as u64;
        s.step("wait maxevents 0", SYS_epoll_wait, &[int(ep), at, 0, 0]);
        s.step("wait maxevents -1", SYS_epoll_wait, &[int(ep), at, int(-1), 0]);
        s.step("wait on a pipe", SYS_epoll_wait, &[int(r), at, 2, 0]);
        s.step("wait on a closed fd", SYS_epoll_wait, &[int(closed), at, 2, 0]);
        s.step("wait NULL, nothing ready", SYS_epoll_wait, &[int(ep), NULL, 2, 0]);
        ep_add(s, ep, w, OUT, 2);
        s.step("wait NULL, something ready", SYS_epoll_wait, &[int(ep), NULL, 2, 0]);
        let mut mask = 0u64;
        s.step("pwait sigsetsize 4", SYS_epoll_pwait, &[int(ep), at, 2, 0, ptr(&mut mask), 4]);
        let r2 = s.call("pwait with a mask", SYS_epoll_pwait, &[int(ep), at, 2, 0, ptr(&mut mask), 8]);
        note_events(s, r2, &evs);
        let mut t = ts(0, 0);
        let r2 = s.call("pwait2", SYS_epoll_pwait2, &[int(ep), at, 2, ptr(&mut t), NULL, 0]);
        note_events(s, r2, &evs);
        let mut bad = ts(0, 1_000_000_000);
        s.step("pwait2 bad timeout", SYS_epoll_pwait2, &[int(ep), at, 2, ptr(&mut bad), NULL, 0]);
        s.step("pwait2 bad sigsetsize", SYS_epoll_pwait2, &[int(ep), at, 2, ptr(&mut t), ptr(&mut mask), 16]);
        for fd in [f, d, r, w, ep] {
            s.close(fd);
        }
    });
}

#[test]
fn epoll_in_epoll_and_poll_on_an_epoll_fd() {
    differential(|s| {
        let (r, w) = pipe_fds(s, 0);
        let inner = s.fd("epoll_create1 inner", SYS_epoll_create1, &[0]);
        let outer = s.fd("epoll_create1 outer", SYS_epoll_create1, &[0]);
        ep_add(s, inner, r, IN, 1);
        ep_add(s, outer, inner, IN, 9);
        ep_ctl(s, "a loop", inner, libc::EPOLL_CTL_ADD, outer, IN, 0);
        ep_ctl(s, "EXCLUSIVE on an epoll", outer, libc::EPOLL_CTL_ADD, inner, IN | libc::EPOLLEXCLUSIVE as u32, 0);
        let mut set = [libc::pollfd { fd: inner, events: libc::POLLIN, revents: 0 }];
        s.step("poll inner", SYS_poll, &[set.as_mut_ptr() as u64, 1, 0]);
        s.note("revents", set[0].revents);
        ep_wait(s, "outer", outer, 8);
        s.write(w, b"x");
        s.step("poll inner", SYS_poll, &[set.as_mut_ptr() as u64, 1, 0]);
        s.note("revents", set[0].revents);
        ep_wait(s, "outer sees inner ready", outer, 8);
        ep_wait(s, "inner", inner, 8);
        s.read(r, 1);
        ep_wait(s, "outer, inner drained", outer, 8);
        s.step("poll inner", SYS_poll, &[set.as_mut_ptr() as u64, 1, 0]);
        s.note("revents", set[0].revents);
        // A chain as deep as Linux allows, then one more.
        let mut chain = vec![outer];
        for i in 0..4 {
            let e = s.fd("epoll_create1", SYS_epoll_create1, &[0]);
            ep_add(s, e, *chain.last().unwrap(), IN, i);
            chain.push(e);
        }
        for fd in chain.into_iter().chain([inner, r, w]) {
            s.close(fd);
        }
    });
}

#[test]
fn epoll_on_a_fifo() {
    differential(|s| {
        s.step("mknodat", SYS_mknodat, &[CWD, s.s("fifo"), (libc::S_IFIFO | 0o644) as u64, 0]);
        let ep = s.fd("epoll_create1", SYS_epoll_create1, &[0]);
        let r = s.open("fifo", libc::O_RDONLY | libc::O_NONBLOCK, 0);
        ep_add(s, ep, r, IN, 1);
        ep_wait(s, "no writer yet: no hangup", ep, 8);
        let w = s.open("fifo", libc::O_WRONLY, 0);
        ep_wait(s, "a writer", ep, 8);
        s.write(w, b"hi");
        ep_wait(s, "data", ep, 8);
        s.read(r, 8);
        s.close(w);
        ep_wait(s, "writer gone", ep, 8);
        let late = s.open("fifo", libc::O_RDONLY | libc::O_NONBLOCK, 0);
        ep_add(s, ep, late, IN, 2);
        ep_wait(s, "a reader opened after the writer left does not hang up", ep, 8);
        let w = s.open("fifo", libc::O_WRONLY, 0);
        s.close(w);
        ep_wait(s, "until another writer comes and goes", ep, 8);
        for fd in [r, late, ep] {
            s.close(fd);
        }
    });
}

#[test]
fn pipe_writes_fill_pages_as_linux_does() {
    differential(|s| {
        let (r, w) = pipe_fds(s, libc::O_NONBLOCK);
        s.write(w, &[b'a'; 100]);
        let big = vec![b'b'; 65536];
        s.step("write 64 KiB after 100 bytes", SYS_write, &[int(w), big.as_ptr() as u64, big.len() as u64]);
        fionread(s, r);
        s.step("write 1 more", SYS_write, &[int(w), s.s("x"), 1]);
        s.read(r, 100);
        s.step("write 5000 into the freed page", SYS_write, &[int(w), big.as_ptr() as u64, 5000]);
        s.step("write 4000", SYS_write, &[int(w), big.as_ptr() as u64, 4000]);
        fionread(s, r);
        let mut set = [libc::pollfd { fd: w, events: libc::POLLOUT, revents: 0 }];
        s.step("poll writer", SYS_poll, &[set.as_mut_ptr() as u64, 1, 0]);
        s.note("revents", set[0].revents);
        s.close(r);
        s.step("poll writer without reader", SYS_poll, &[set.as_mut_ptr() as u64, 1, 0]);
        s.note("revents", set[0].revents);
        s.close(w);
    });
}

#[test]
fn fionbio_makes_reads_eagain() {
    differential(|s| {
        let (r, w) = pipe_fds(s, 0);
        let mut on: i32 = 1;
        s.step("FIONBIO on", SYS_ioctl, &[int(r), libc::FIONBIO, ptr(&mut on)]);
        s.step("F_GETFL", SYS_fcntl, &[int(r), int(libc::F_GETFL)]);
        s.read(r, 4);
        s.write(w, b"abcd");
        fionread(s, r);
        s.read(r, 2);
        fionread(s, r);
        let mut off: i32 = 0;
        s.step("FIONBIO off", SYS_ioctl, &[int(r), libc::FIONBIO, ptr(&mut off)]);
        s.step("F_GETFL", SYS_fcntl, &[int(r), int(libc::F_GETFL)]);
        s.step("FIONBIO NULL", SYS_ioctl, &[int(r), libc::FIONBIO, NULL]);
        s.mkfile("f", b"0123456789");
        let f = s.open("f", libc::O_RDONLY, 0);
        s.step("lseek past the end", SYS_lseek, &[int(f), 15, 0]);
        fionread(s, f);
        for fd in [r, w, f] {
            s.close(fd);
        }
    });
}

// ---- errors every path walk can give ----

#[test]
fn path_walk_errors() {
    differential(|s| {
        s.symlink("loop2", "loop1");
        s.symlink("loop1", "loop2");
        s.stat("loop1");
        s.lstat("loop1");
        s.open("loop1/x", libc::O_RDONLY, 0);
        s.open("loop1", libc::O_CREAT | libc::O_WRONLY, 0o644);
        let long = "n".repeat(256);
        s.stat(&long);
        s.stat(&long[..255]);
        s.open(&long, libc::O_CREAT | libc::O_WRONLY, 0o644);
        s.mkdir(&long, 0o755);
        s.symlink(&long, "to-long");
        s.stat("to-long");
        let path = "d/".repeat(2047) + "xy";
        assert_eq!(path.len(), 4096);
        s.stat(&path);
        s.mkdir(&path, 0o755);
        s.mkfile("f", b"");
        s.stat("f/");
        s.stat("f/.");
        s.mkdir("f/x", 0o755);
        s.mkdir("dir", 0o755);
        s.stat("dir/");
        s.stat("dir//.//");
        s.stat("dir/../f");
        s.mkdir("dir", 0o755);
        s.symlink("f", "dir");
        s.step("mkdirat NULL", SYS_mkdirat, &[CWD, NULL, 0o755]);
        s.step("symlinkat NULL target", SYS_symlinkat, &[NULL, CWD, s.s("x")]);
        s.step("renameat NULL", SYS_renameat, &[CWD, NULL, CWD, s.s("x")]);
        s.step("linkat NULL", SYS_linkat, &[CWD, s.s("f"), CWD, NULL, 0]);
        s.step("path at a bad address", SYS_mkdirat, &[CWD, 16, 0o755]);
    });
}

/// Linux's PATH_MAX is 4096: a 2000-byte path that exists resolves.
#[test]

fn long_paths_below_linux_path_max() {
    differential(|s| {
        s.mkfile("f", b"");
        let path = "./".repeat(1000) + "f";
        s.stat(&path);
    });
}

/// Linux follows 40 symlinks in one walk.
#[test]

fn symlink_chains_up_to_forty() {
    differential(|s| {
        s.mkfile("l0", b"");
        for i in 1..=41 {
            s.symlink(&format!("l{}", i - 1), &format!("l{i}"));
        }
        s.stat("l40");
        s.stat("l41");
    });
}

#[test]
fn exdev_across_file_systems() {
    let Some(other) = host_dirs().other_fs.clone() else {
        strict::skip(
            strict::HostFact::SecondFileSystem,
            &format!("no second file system next to {}", host_dirs().parent),
        );
        return;
    };
    eprintln!("exdev: host renames between {} and {other}", host_dirs().parent);
    differential(|s| {
        s.mkfile("f", b"x");
        let other = s.other_fs.clone().unwrap();
        let target = format!("{other}/rump-linux-diff-exdev-{}", std::process::id());
        s.step("renameat to another fs", SYS_renameat, &[CWD, s.s("f"), CWD, s.s(&target)]);
        s.step("linkat to another fs", SYS_linkat, &[CWD, s.s("f"), CWD, s.s(&target), 0]);
        s.stat("f");
    });
    let _ = std::fs::remove_file(format!("{other}/rump-linux-diff-exdev-{}", std::process::id()));
}

// ---- as an unprivileged user ----

fn user_setup(s: &Side) {
    s.mkfile("ro", b"root's");
    s.mkdir("priv", 0o700);
    s.mkfile("priv/secret", b"");
    s.mkdir("pub", 0o755);
    s.step("chmod pub", SYS_fchmodat, &[CWD, s.s("pub"), 0o1777]);
    s.mkfile("pub/rootfile", b"");
    s.step("chmod pub/rootfile", SYS_fchmodat, &[CWD, s.s("pub/rootfile"), 0o666]);
    s.mkfile("groupfile", b"");
    s.step("chown groupfile", SYS_fchownat, &[CWD, s.s("groupfile"), 0, USER.1 as u64, 0]);
    s.step("chmod groupfile", SYS_fchmodat, &[CWD, s.s("groupfile"), 0o660]);
}

#[test]
fn permissions_as_a_user() {
    differential_as(Some(USER), &user_setup, &|s| {
        s.step("getuid", SYS_getuid, &[]);
        s.open("ro", libc::O_WRONLY, 0);
        let fd = s.open("ro", libc::O_RDONLY, 0);
        s.close(fd);
        s.stat("priv/secret");
        s.open("priv", libc::O_RDONLY, 0);
        s.mkdir("mine", 0o755);
        s.step("fchmodat not owner", SYS_fchmodat, &[CWD, s.s("ro"), 0o777]);
        s.step("fchownat not owner", SYS_fchownat, &[CWD, s.s("ro"), USER.0 as u64, USER.1 as u64, 0]);
        s.step("truncate no write", SYS_truncate, &[s.s("ro"), 0]);
        s.step("faccessat W_OK", SYS_faccessat, &[CWD, s.s("ro"), int(libc::W_OK)]);
        s.step("faccessat R_OK", SYS_faccessat, &[CWD, s.s("ro"), int(libc::R_OK)]);
        let times = [ts(1, 0), ts(2, 0)];
        s.step("utimensat explicit, not owner", SYS_utimensat, &[CWD, s.s("ro"), times.as_ptr() as u64, 0]);
        s.step("utimensat now, not owner", SYS_utimensat, &[CWD, s.s("ro"), NULL, 0]);
        s.step("utimensat now, group-writable", SYS_utimensat, &[CWD, s.s("groupfile"), NULL, 0]);
        s.step("utimensat explicit, group-writable", SYS_utimensat, &[CWD, s.s("groupfile"), times.as_ptr() as u64, 0]);
        s.step("unlink in sticky dir", SYS_unlinkat, &[CWD, s.s("pub/rootfile"), 0]);
        s.step("rename in sticky dir", SYS_renameat, &[CWD, s.s("pub/rootfile"), CWD, s.s("pub/x")]);
        s.mkfile("pub/mine", b"");
        s.stat("pub/mine");
        s.step("chown own file to own group", SYS_fchownat, &[CWD, s.s("pub/mine"), u32::MAX as u64, USER.1 as u64, 0]);
        s.step("chown own file to root's group", SYS_fchownat, &[CWD, s.s("pub/mine"), u32::MAX as u64, 0, 0]);
        s.step("chmod own file setgid", SYS_fchmodat, &[CWD, s.s("pub/mine"), 0o2755]);
        s.stat("pub/mine");
        s.step("mknod fifo", SYS_mknodat, &[CWD, s.s("pub/fifo"), (libc::S_IFIFO | 0o600) as u64, 0]);
        s.step("mknod char device", SYS_mknodat, &[CWD, s.s("pub/null"), (libc::S_IFCHR | 0o600) as u64, 0x103]);
        s.step("unlink own", SYS_unlinkat, &[CWD, s.s("pub/mine"), 0]);
    });
}

// ---- what cannot run on the host: Linux's documented behaviour ----

fn kernel_process(cred: Cred) -> (Kernel, Guest) {
    let k = Kernel::boot(Config::default()).expect("boot");
    let p = Guest(k.spawn(Emulation::Linux, cred, "linux-documented").unwrap());
    (k, p)
}

#[test]
fn reboot_needs_privilege_and_magic() {
    let (m1, m2) = (libc::LINUX_REBOOT_MAGIC1 as u32 as u64, libc::LINUX_REBOOT_MAGIC2 as u32 as u64);
    let halt = libc::LINUX_REBOOT_CMD_HALT as u32 as u64;
    let (k, user) = kernel_process(Cred::user(1, 1));
    assert_eq!(user.call(libc::SYS_reboot, &[m1, m2, halt, 0]), Err(libc::EPERM));
    assert_eq!(user.call(libc::SYS_reboot, &[0, 0, halt, 0]), Err(libc::EPERM), "privilege is checked first");
    let root = Guest(k.spawn(Emulation::Linux, Cred::root(), "root").unwrap());
    assert_eq!(root.call(libc::SYS_reboot, &[m1, 1, halt, 0]), Err(libc::EINVAL));
    assert_eq!(root.call(libc::SYS_reboot, &[0, m2, halt, 0]), Err(libc::EINVAL));
    assert_eq!(root.call(libc::SYS_reboot, &[m1, m2, 0x1234, 0]), Err(libc::EINVAL));
    assert_eq!(root.call(libc::SYS_reboot, &[m1, m2, libc::LINUX_REBOOT_CMD_CAD_OFF as u32 as u64, 0]), Ok(0));
    assert!(!k.is_halted());
    for cmd in [libc::LINUX_REBOOT_CMD_HALT, libc::LINUX_REBOOT_CMD_POWER_OFF, libc::LINUX_REBOOT_CMD_RESTART] {
        let (k, root) = kernel_process(Cred::root());
        assert_eq!(
            root.call(libc::SYS_reboot, &[m1, libc::LINUX_REBOOT_MAGIC2C as u32 as u64, cmd as u32 as u64, 0]),
            Ok(0)
        );
        assert!(k.is_halted());
    }
}

#[test]
fn unimplemented_calls_are_enosys() {
    let (_k, p) = kernel_process(Cred::root());
    assert_eq!(p.call(libc::SYS_mmap, &[0, 4096, 3, 0x22, u64::MAX, 0]), Err(libc::ENOSYS));
    assert_eq!(p.call(libc::SYS_sendmmsg, &[3, 0, 0, 0]), Err(libc::ENOSYS));
    assert_eq!(p.call(5000, &[]), Err(libc::ENOSYS));
}

/// Unsupported, documented as such: EXCHANGE/WHITEOUT renames, O_TMPFILE,
/// clocks other than REALTIME and MONOTONIC.
#[test]
fn documented_limits() {
    let (_k, p) = kernel_process(Cred::root());
    let c = |s: &str| std::ffi::CString::new(s).unwrap();
    let (a, b, tmp) = (c("/a"), c("/b"), c("/"));
    p.call(SYS_openat, &[CWD, a.as_ptr() as u64, int(libc::O_CREAT | libc::O_RDWR), 0o644]).unwrap();
    p.call(SYS_openat, &[CWD, b.as_ptr() as u64, int(libc::O_CREAT | libc::O_RDWR), 0o644]).unwrap();
    let rn = |fl: u32| p.call(SYS_renameat2, &[CWD, a.as_ptr() as u64, CWD, b.as_ptr() as u64, fl as u64]);
    assert_eq!(rn(libc::RENAME_EXCHANGE), Err(libc::EINVAL));
    assert_eq!(rn(libc::RENAME_WHITEOUT), Err(libc::EINVAL));
    assert_eq!(
        p.call(SYS_openat, &[CWD, tmp.as_ptr() as u64, int(libc::O_TMPFILE | libc::O_RDWR), 0o600]),
        Err(libc::EOPNOTSUPP)
    );
    assert_eq!(p.call(SYS_openat, &[CWD, tmp.as_ptr() as u64, int(libc::O_TMPFILE), 0o600]), Err(libc::EINVAL));
    let mut t = ts(0, 0);
    assert_eq!(p.call(libc::SYS_clock_gettime, &[libc::CLOCK_BOOTTIME as u64, ptr(&mut t)]), Err(libc::EINVAL));
    assert_eq!(p.call(libc::SYS_clock_getres, &[libc::CLOCK_MONOTONIC as u64, ptr(&mut t)]), Ok(0));
    assert_eq!((t.tv_sec, t.tv_nsec), (0, 1));
    assert_eq!(p.call(libc::SYS_clock_gettime, &[libc::CLOCK_REALTIME as u64, NULL]), Err(libc::EFAULT));
}

#[test]
fn clocks_ids_and_sleep_agree_with_the_host() {
    differential(|s| {
        let mut t = ts(0, 0);
        let mut host_now = ts(0, 0);
        s.step("clock_gettime REALTIME", libc::SYS_clock_gettime, &[libc::CLOCK_REALTIME as u64, ptr(&mut t)]);
        // SAFETY: valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut host_now) };
        s.note("realtime is now", (host_now.tv_sec - t.tv_sec).abs() < 5);
        s.step("clock_gettime MONOTONIC", libc::SYS_clock_gettime, &[libc::CLOCK_MONOTONIC as u64, ptr(&mut t)]);
        s.step("clock_gettime bad id", libc::SYS_clock_gettime, &[99, ptr(&mut t)]);
        s.step("clock_getres NULL", libc::SYS_clock_getres, &[libc::CLOCK_REALTIME as u64, NULL]);
        let req = ts(0, 1_000_000);
        let mut rem = ts(77, 77);
        s.step("nanosleep", libc::SYS_nanosleep, &[&req as *const _ as u64, ptr(&mut rem)]);
        s.note("rem untouched", (rem.tv_sec, rem.tv_nsec));
        let bad = ts(0, 2_000_000_000);
        s.step("nanosleep bad", libc::SYS_nanosleep, &[&bad as *const _ as u64, NULL]);
        s.step("umask", SYS_umask, &[0o027]);
        s.step("umask", SYS_umask, &[0o1777]);
        s.step("umask", SYS_umask, &[0o022]);
        s.note("uid", s.raw(SYS_getuid, &[]));
    });
}
