//! hostfs end to end: host directories mounted in a kernel, used by a
//! kernel process making raw Linux calls (libc's numbers, flags and errno
//! values) while the test watches the host side.

use rump_abi::Syscall;
use rump_kernel::cred::Cred;
use rump_kernel::fs::hostfs::HostfsSpec;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use std::ffi::CString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use libc::{
    EACCES, EBUSY, EEXIST, EINVAL, EISDIR, ENOENT, ENOTDIR, ENOTEMPTY, EROFS, O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY,
    O_RDWR, O_TRUNC, O_WRONLY,
};

const CWD: u64 = libc::AT_FDCWD as i64 as u64;

/// A host temp directory, removed when dropped (even when a test fails).
struct HostDir(PathBuf);

impl HostDir {
    fn new(tag: &str) -> HostDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rump-hostfs-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        HostDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A kernel process making raw Linux calls.
struct P(Process);

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

impl P {
    fn call(&self, nr: libc::c_long, args: &[u64]) -> Result<i64, i32> {
        let mut slots = [0u64; 8];
        slots[..args.len()].copy_from_slice(args);
        self.0.syscall(nr as u32, &slots).map_err(|e| e.raw())
    }

    fn open(&self, path: &str, flags: i32) -> Result<i32, i32> {
        let p = c(path);
        self.call(libc::SYS_openat, &[CWD, p.as_ptr() as u64, flags as u64, 0o644]).map(|fd| fd as i32)
    }

    fn close(&self, fd: i32) {
        self.call(libc::SYS_close, &[fd as u64]).unwrap();
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, i32> {
        let fd = self.open(path, O_RDONLY)?;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = self.call(libc::SYS_read, &[fd as u64, buf.as_mut_ptr() as u64, buf.len() as u64])?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        self.close(fd);
        Ok(out)
    }

    fn write_file(&self, path: &str, data: &[u8]) -> Result<(), i32> {
        let fd = self.open(path, O_WRONLY | O_CREAT | O_TRUNC)?;
        let n = self.call(libc::SYS_write, &[fd as u64, data.as_ptr() as u64, data.len() as u64]);
        self.close(fd);
        assert_eq!(n?, data.len() as i64);
        Ok(())
    }

    fn path_call(&self, nr: libc::c_long, path: &str, rest: &[u64]) -> Result<i64, i32> {
        let p = c(path);
        let mut args = vec![CWD, p.as_ptr() as u64];
        args.extend_from_slice(rest);
        self.call(nr, &args)
    }

    fn two_paths(&self, nr: libc::c_long, a: &str, b: &str, flags: u64) -> Result<i64, i32> {
        let (a, b) = (c(a), c(b));
        self.call(nr, &[CWD, a.as_ptr() as u64, CWD, b.as_ptr() as u64, flags])
    }

    fn mkdir(&self, path: &str) -> Result<i64, i32> {
        self.path_call(libc::SYS_mkdirat, path, &[0o755])
    }

    fn unlink(&self, path: &str) -> Result<i64, i32> {
        self.path_call(libc::SYS_unlinkat, path, &[0])
    }

    fn rmdir(&self, path: &str) -> Result<i64, i32> {
        self.path_call(libc::SYS_unlinkat, path, &[libc::AT_REMOVEDIR as u64])
    }

    fn rename(&self, from: &str, to: &str) -> Result<i64, i32> {
        self.two_paths(libc::SYS_renameat2, from, to, 0)
    }

    fn symlink(&self, target: &str, path: &str) -> Result<i64, i32> {
        let (t, p) = (c(target), c(path));
        self.call(libc::SYS_symlinkat, &[t.as_ptr() as u64, CWD, p.as_ptr() as u64])
    }

    fn readlink(&self, path: &str) -> Result<String, i32> {
        let mut buf = [0u8; 4096];
        let n = self.path_call(libc::SYS_readlinkat, path, &[buf.as_mut_ptr() as u64, buf.len() as u64])?;
        Ok(String::from_utf8_lossy(&buf[..n as usize]).into_owned())
    }

    fn stat(&self, path: &str) -> Result<libc::stat, i32> {
        self.stat_flags(path, 0)
    }

    fn lstat(&self, path: &str) -> Result<libc::stat, i32> {
        self.stat_flags(path, libc::AT_SYMLINK_NOFOLLOW as u64)
    }

    fn stat_flags(&self, path: &str, flags: u64) -> Result<libc::stat, i32> {
        // SAFETY: all zeros is a valid struct stat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        self.path_call(libc::SYS_newfstatat, path, &[&mut st as *mut _ as u64, flags])?;
        Ok(st)
    }

    fn chdir(&self, path: &str) -> Result<i64, i32> {
        let p = c(path);
        self.call(libc::SYS_chdir, &[p.as_ptr() as u64])
    }

    fn getcwd(&self) -> Result<String, i32> {
        let mut buf = [0u8; 4096];
        let n = self.call(libc::SYS_getcwd, &[buf.as_mut_ptr() as u64, buf.len() as u64])?;
        Ok(String::from_utf8_lossy(&buf[..n as usize - 1]).into_owned())
    }

    fn access(&self, path: &str, mode: i32) -> Result<i64, i32> {
        self.path_call(libc::SYS_faccessat, path, &[mode as u64])
    }

    /// The names in a directory, sorted, read a few records at a time so
    /// that resuming from a cookie is exercised.
    fn list(&self, path: &str) -> Result<Vec<(String, u64, u8)>, i32> {
        let fd = self.open(path, O_RDONLY | O_DIRECTORY)?;
        let mut names = Vec::new();
        let mut buf = [0u8; 128];
        loop {
            let n = self.call(libc::SYS_getdents64, &[fd as u64, buf.as_mut_ptr() as u64, buf.len() as u64])?;
            if n == 0 {
                break;
            }
            let mut pos = 0;
            while pos < n as usize {
                let rec = &buf[pos..];
                let ino = u64::from_ne_bytes(rec[..8].try_into().unwrap());
                let reclen = u16::from_ne_bytes([rec[16], rec[17]]) as usize;
                let name = &rec[19..reclen];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap()];
                names.push((String::from_utf8_lossy(name).into_owned(), ino, rec[18]));
                pos += reclen;
            }
        }
        self.close(fd);
        names.sort();
        Ok(names)
    }

    fn names(&self, path: &str) -> Vec<String> {
        self.list(path).unwrap().into_iter().map(|(n, _, _)| n).collect()
    }
}

fn boot(mounts: Vec<HostfsSpec>) -> (Kernel, P) {
    let k = Kernel::boot(Config { hostfs: mounts, ..Config::default() }).expect("boot");
    let p = k.spawn(Emulation::Linux, Cred::root(), "hostfs").unwrap();
    (k, P(p))
}

fn spec(dir: &HostDir, at: &str, readonly: bool) -> HostfsSpec {
    HostfsSpec::new(dir.path(), at, readonly)
}

#[test]
fn reads_and_writes_reach_the_host() {
    let d = HostDir::new("rw");
    std::fs::write(d.join("hello"), b"hello from the host").unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/inner"), b"inner").unwrap();
    let (_k, p) = boot(vec![spec(&d, "/mnt/host", false)]);

    // The mount point's missing parents were made.
    assert_eq!(p.stat("/mnt").unwrap().st_mode & libc::S_IFMT, libc::S_IFDIR);
    assert_eq!(p.read_file("/mnt/host/hello").unwrap(), b"hello from the host");
    assert_eq!(p.read_file("/mnt/host/sub/inner").unwrap(), b"inner");
    assert_eq!(p.names("/mnt/host"), [".", "..", "hello", "sub"]);

    // stat shows the host's inode, size, mode and times; readdir agrees.
    let host = std::fs::metadata(d.join("hello")).unwrap();
    let st = p.stat("/mnt/host/hello").unwrap();
    assert_eq!((st.st_ino, st.st_size, st.st_mode), (host.ino(), host.size() as i64, host.mode()));
    assert_eq!((st.st_mtime, st.st_mtime_nsec), (host.mtime(), host.mtime_nsec()));
    let listed = p.list("/mnt/host").unwrap();
    let (_, ino, ty) = listed.iter().find(|(n, _, _)| n == "hello").unwrap();
    assert_eq!((*ino, *ty), (host.ino(), libc::DT_REG));
    let (_, _, ty) = listed.iter().find(|(n, _, _)| n == "sub").unwrap();
    assert_eq!(*ty, libc::DT_DIR);

    // statfs reports the host file system's figures and kind.
    // SAFETY: all zeros is a valid struct statfs.
    let (mut ours, mut theirs): (libc::statfs, libc::statfs) = unsafe { std::mem::zeroed() };
    let path = c("/mnt/host");
    p.call(libc::SYS_statfs, &[path.as_ptr() as u64, &mut ours as *mut _ as u64]).unwrap();
    let host_path = c(d.path().to_str().unwrap());
    // SAFETY: a path and a struct to fill.
    assert_eq!(unsafe { libc::statfs(host_path.as_ptr(), &mut theirs) }, 0);
    assert_eq!((ours.f_type, ours.f_blocks, ours.f_files), (theirs.f_type, theirs.f_blocks, theirs.f_files));

    // A file made in the kernel appears on the host, and the other way.
    p.write_file("/mnt/host/made-in-rump", b"rump wrote this").unwrap();
    assert_eq!(std::fs::read(d.join("made-in-rump")).unwrap(), b"rump wrote this");
    std::fs::write(d.join("late"), b"late").unwrap();
    assert_eq!(p.read_file("/mnt/host/late").unwrap(), b"late");

    // Writing in the middle, appending, truncating.
    let fd = p.open("/mnt/host/hello", O_RDWR).unwrap();
    p.call(libc::SYS_pwrite64, &[fd as u64, b"HOST".as_ptr() as u64, 4, 15]).unwrap();
    assert_eq!(std::fs::read(d.join("hello")).unwrap(), b"hello from the HOST");
    p.call(libc::SYS_ftruncate, &[fd as u64, 5]).unwrap();
    assert_eq!(std::fs::read(d.join("hello")).unwrap(), b"hello");
    p.close(fd);
    let fd = p.open("/mnt/host/hello", O_WRONLY | libc::O_APPEND).unwrap();
    p.call(libc::SYS_write, &[fd as u64, b", again".as_ptr() as u64, 7]).unwrap();
    p.close(fd);
    assert_eq!(std::fs::read(d.join("hello")).unwrap(), b"hello, again");
    assert_eq!(p.open("/mnt/host/made-in-rump", O_CREAT | O_EXCL | O_WRONLY), Err(EEXIST));
    assert_eq!(p.open("/mnt/host/sub", O_WRONLY), Err(EISDIR));
    assert_eq!(p.open("/mnt/host/hello/x", O_RDONLY), Err(ENOTDIR));
    assert_eq!(p.open("/mnt/host/nothing", O_RDONLY), Err(ENOENT));
}

#[test]
fn namespace_changes_reach_the_host() {
    let d = HostDir::new("ns");
    let (_k, p) = boot(vec![spec(&d, "/h", false)]);

    p.mkdir("/h/dir").unwrap();
    assert!(d.join("dir").is_dir());
    // The process's umask (022) applies, not the host's.
    p.call(libc::SYS_umask, &[0o002]).unwrap();
    p.path_call(libc::SYS_mkdirat, "/h/shared", &[0o775]).unwrap();
    assert_eq!(std::fs::metadata(d.join("shared")).unwrap().mode() & 0o777, 0o775);
    p.write_file("/h/dir/f", b"data").unwrap();
    assert_eq!(p.rmdir("/h/dir"), Err(ENOTEMPTY));
    assert_eq!(p.unlink("/h/dir"), Err(EISDIR));

    p.rename("/h/dir/f", "/h/moved").unwrap();
    assert_eq!(std::fs::read(d.join("moved")).unwrap(), b"data");
    assert!(!d.join("dir/f").exists());
    p.rmdir("/h/dir").unwrap();
    assert!(!d.join("dir").exists());

    p.symlink("moved", "/h/link").unwrap();
    assert_eq!(std::fs::read_link(d.join("link")).unwrap(), Path::new("moved"));
    assert_eq!(p.readlink("/h/link").unwrap(), "moved");
    assert_eq!(p.read_file("/h/link").unwrap(), b"data");
    assert_eq!(p.lstat("/h/link").unwrap().st_mode & libc::S_IFMT, libc::S_IFLNK);

    p.two_paths(libc::SYS_linkat, "/h/moved", "/h/hard", 0).unwrap();
    assert_eq!(std::fs::metadata(d.join("moved")).unwrap().nlink(), 2);
    assert_eq!(p.stat("/h/hard").unwrap().st_ino, p.stat("/h/moved").unwrap().st_ino);
    p.unlink("/h/hard").unwrap();
    assert!(!d.join("hard").exists());

    // chmod, utimens, truncate by path.
    p.path_call(libc::SYS_fchmodat, "/h/moved", &[0o600]).unwrap();
    assert_eq!(std::fs::metadata(d.join("moved")).unwrap().permissions().mode() & 0o7777, 0o600);
    let times = [libc::timespec { tv_sec: 1_000_000, tv_nsec: 5 }, libc::timespec { tv_sec: 2_000_000, tv_nsec: 7 }];
    p.path_call(libc::SYS_utimensat, "/h/moved", &[times.as_ptr() as u64, 0]).unwrap();
    let m = std::fs::metadata(d.join("moved")).unwrap();
    assert_eq!((m.atime(), m.atime_nsec(), m.mtime(), m.mtime_nsec()), (1_000_000, 5, 2_000_000, 7));
    p.path_call(libc::SYS_truncate, "/h/moved", &[]).ok();
    let path = c("/h/moved");
    p.call(libc::SYS_truncate, &[path.as_ptr() as u64, 2]).unwrap();
    assert_eq!(std::fs::read(d.join("moved")).unwrap(), b"da");

    // A directory renamed keeps its `..` and its name for getcwd.
    p.mkdir("/h/a").unwrap();
    p.mkdir("/h/a/b").unwrap();
    p.mkdir("/h/c").unwrap();
    p.chdir("/h/a/b").unwrap();
    assert_eq!(p.getcwd().unwrap(), "/h/a/b");
    p.rename("/h/a/b", "/h/c/b2").unwrap();
    assert_eq!(p.getcwd().unwrap(), "/h/c/b2");
    p.chdir("..").unwrap();
    assert_eq!(p.getcwd().unwrap(), "/h/c");
    p.chdir("../..").unwrap();
    assert_eq!(p.getcwd().unwrap(), "/");

    // Names refused before the host sees them.
    assert_eq!(p.rename("/h/c", "/h/c/b2/inside"), Err(EINVAL));
    assert_eq!(p.mkdir("/h/c"), Err(EEXIST));
}

#[test]
fn read_only_mount_refuses_every_change() {
    let d = HostDir::new("ro");
    std::fs::write(d.join("file"), b"read me").unwrap();
    std::fs::create_dir(d.join("dir")).unwrap();
    let (_k, p) = boot(vec![spec(&d, "/ro", true)]);

    assert_eq!(p.read_file("/ro/file").unwrap(), b"read me");
    assert_eq!(p.names("/ro"), [".", "..", "dir", "file"]);
    assert_eq!(p.open("/ro/file", O_WRONLY), Err(EROFS));
    assert_eq!(p.open("/ro/file", O_RDWR), Err(EROFS));
    assert_eq!(p.open("/ro/file", O_RDONLY | O_TRUNC), Err(EROFS));
    assert_eq!(p.open("/ro/new", O_WRONLY | O_CREAT), Err(EROFS));
    assert_eq!(p.access("/ro/file", libc::W_OK), Err(EROFS));
    assert_eq!(p.access("/ro/file", libc::R_OK), Ok(0));
    assert_eq!(p.mkdir("/ro/newdir"), Err(EROFS));
    assert_eq!(p.unlink("/ro/file"), Err(EROFS));
    assert_eq!(p.rmdir("/ro/dir"), Err(EROFS));
    assert_eq!(p.rename("/ro/file", "/ro/other"), Err(EROFS));
    assert_eq!(p.symlink("file", "/ro/link"), Err(EROFS));
    assert_eq!(p.two_paths(libc::SYS_linkat, "/ro/file", "/ro/hard", 0), Err(EROFS));
    assert_eq!(p.path_call(libc::SYS_fchmodat, "/ro/file", &[0o600]), Err(EROFS));
    assert_eq!(p.path_call(libc::SYS_fchownat, "/ro/file", &[0, 0, 0]), Err(EROFS));
    let path = c("/ro/file");
    assert_eq!(p.call(libc::SYS_truncate, &[path.as_ptr() as u64, 0]), Err(EROFS));
    let times = [libc::timespec { tv_sec: 1, tv_nsec: 0 }; 2];
    assert_eq!(p.path_call(libc::SYS_utimensat, "/ro/file", &[times.as_ptr() as u64, 0]), Err(EROFS));
    // A read-only fd cannot be turned into a writing one either.
    let fd = p.open("/ro/file", O_RDONLY).unwrap();
    assert!(p.call(libc::SYS_write, &[fd as u64, b"x".as_ptr() as u64, 1]).is_err());
    p.close(fd);
    // Nothing changed on the host.
    assert_eq!(std::fs::read(d.join("file")).unwrap(), b"read me");
    let mut names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["dir", "file"]);
}

#[test]
fn dotdot_and_symlinks_stay_inside_the_kernel() {
    // outer/secret is on the host beside the shared directory.
    let outer = HostDir::new("outer");
    std::fs::write(outer.join("secret"), b"HOST SECRET").unwrap();
    std::fs::create_dir(outer.join("share")).unwrap();
    std::fs::create_dir(outer.join("share/sub")).unwrap();
    let share = outer.join("share");
    std::os::unix::fs::symlink("/etc/passwd", share.join("passwd")).unwrap();
    std::os::unix::fs::symlink("../../..", share.join("up")).unwrap();
    std::os::unix::fs::symlink("../secret", share.join("sibling")).unwrap();
    std::os::unix::fs::symlink(outer.path(), share.join("outer")).unwrap();
    std::os::unix::fs::symlink("../../secret", share.join("sub/deep")).unwrap();
    let k = Kernel::boot(Config::default()).unwrap();
    k.mount_hostfs(&HostfsSpec::new(&share, "/h", false)).unwrap();
    let p = P(k.spawn(Emulation::Linux, Cred::root(), "escape").unwrap());
    // The kernel's own files at the names the links give.
    p.mkdir("/etc").unwrap();
    p.write_file("/etc/passwd", b"rump passwd").unwrap();
    p.write_file("/secret", b"rump secret").unwrap();

    // `..` from the mount root is the kernel's root, not the host's outer.
    let root = p.stat("/").unwrap();
    assert_eq!(p.stat("/h/..").unwrap().st_ino, root.st_ino);
    assert_eq!(p.names("/h/.."), [".", "..", "dev", "etc", "h", "proc", "secret"]);
    assert_eq!(p.read_file("/h/../secret").unwrap(), b"rump secret");
    assert_eq!(p.read_file("/h/sub/../../secret").unwrap(), b"rump secret");
    assert_eq!(p.read_file("/h/../../../secret").unwrap(), b"rump secret");
    p.chdir("/h/sub").unwrap();
    p.chdir("../../..").unwrap();
    assert_eq!(p.getcwd().unwrap(), "/");

    // Symlinks are read, never followed by the host: the kernel resolves
    // their text in its own namespace.
    assert_eq!(p.readlink("/h/passwd").unwrap(), "/etc/passwd");
    assert_eq!(p.read_file("/h/passwd").unwrap(), b"rump passwd");
    assert_eq!(p.read_file("/h/sibling").unwrap(), b"rump secret");
    assert_eq!(p.read_file("/h/sub/deep").unwrap(), b"rump secret");
    assert_eq!(p.stat("/h/up/").unwrap().st_ino, root.st_ino);
    assert_eq!(p.names("/h/up/"), [".", "..", "dev", "etc", "h", "proc", "secret"]);
    assert_eq!(p.read_file("/h/up/secret").unwrap(), b"rump secret");
    // An absolute host path in a link names nothing in the kernel.
    assert_eq!(p.read_file("/h/outer/secret"), Err(ENOENT));
    assert_eq!(p.lstat("/h/outer").unwrap().st_mode & libc::S_IFMT, libc::S_IFLNK);
    // Writing through a link lands in the kernel, not on the host.
    p.write_file("/h/sibling", b"changed").unwrap();
    assert_eq!(p.read_file("/secret").unwrap(), b"changed");
    assert_eq!(std::fs::read(outer.join("secret")).unwrap(), b"HOST SECRET");
    // Creating through a dangling link creates in the kernel.
    std::fs::remove_file(share.join("passwd")).unwrap();
    std::os::unix::fs::symlink("/made-by-link", share.join("dangling")).unwrap();
    p.write_file("/h/dangling", b"x").unwrap();
    assert_eq!(p.read_file("/made-by-link").unwrap(), b"x");
    assert!(!Path::new("/made-by-link").exists());
    // Mount points of the kernel are directories it made, never the host's.
    assert_eq!(k.mount_hostfs(&HostfsSpec::new(outer.path(), "/h/../x/../y", false)), Err(rump_errno(EINVAL)));
}

fn rump_errno(linux: i32) -> rump_abi::Errno {
    rump_abi::errno::linux_to_native(rump_abi::Errno(linux))
}

#[test]
fn mount_errors() {
    let d = HostDir::new("errors");
    std::fs::write(d.join("file"), b"").unwrap();
    let k = Kernel::boot(Config::default()).unwrap();
    let mount = |host: &Path, at: &str| k.mount_hostfs(&HostfsSpec::new(host, at, false));
    assert_eq!(mount(&d.join("missing"), "/m"), Err(rump_errno(ENOENT)));
    assert_eq!(mount(&d.join("file"), "/m"), Err(rump_errno(ENOTDIR)));
    assert_eq!(mount(d.path(), "/"), Err(rump_errno(EBUSY)));
    assert_eq!(mount(d.path(), "relative"), Err(rump_errno(EINVAL)));
    // Nothing was made for the failures.
    let p = P(k.spawn(Emulation::Linux, Cred::root(), "m").unwrap());
    assert_eq!(p.stat("/m").err(), Some(ENOENT));
    // A boot with a bad mount fails.
    let bad = Config { hostfs: vec![HostfsSpec::new(d.join("missing"), "/x", false)], ..Config::default() };
    assert_eq!(Kernel::boot(bad).err(), Some(rump_errno(ENOENT)));
    // Two mounts, one below the other, and one over an existing directory.
    let d2 = HostDir::new("errors2");
    std::fs::write(d2.join("second"), b"2").unwrap();
    mount(d.path(), "/m").unwrap();
    std::fs::create_dir(d.join("below")).unwrap();
    mount(d2.path(), "/m/below").unwrap();
    assert_eq!(p.read_file("/m/below/second").unwrap(), b"2");
    assert_eq!(p.names("/m"), [".", "..", "below", "file"]);
    assert_eq!(p.rmdir("/m/below"), Err(EBUSY));
    p.chdir("/m/below").unwrap();
    assert_eq!(p.getcwd().unwrap(), "/m/below");
    p.chdir("..").unwrap();
    assert_eq!(p.getcwd().unwrap(), "/m");
}

#[test]
fn open_files_outlive_host_changes() {
    let d = HostDir::new("held");
    std::fs::write(d.join("f"), b"still readable").unwrap();
    let (_k, p) = boot(vec![spec(&d, "/h", false)]);
    let fd = p.open("/h/f", O_RDONLY).unwrap();
    std::fs::remove_file(d.join("f")).unwrap();
    let mut buf = [0u8; 64];
    let n = p.call(libc::SYS_pread64, &[fd as u64, buf.as_mut_ptr() as u64, 64, 0]).unwrap();
    assert_eq!(&buf[..n as usize], b"still readable");
    // SAFETY: all zeros is a valid struct stat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    p.call(libc::SYS_fstat, &[fd as u64, &mut st as *mut _ as u64]).unwrap();
    assert_eq!(st.st_nlink, 0);
    p.close(fd);
    assert_eq!(p.stat("/h/f").err(), Some(ENOENT));
}

#[test]
fn many_files_keep_few_host_fds() {
    let d = HostDir::new("many");
    for i in 0..1000 {
        std::fs::write(d.join(format!("f{i}")), i.to_string()).unwrap();
    }
    let (_k, p) = boot(vec![spec(&d, "/h", false)]);
    let fds = || std::fs::read_dir("/proc/self/fd").map_or(0, |r| r.count());
    let before = fds();
    let held = p.open("/h/f0", O_RDONLY).unwrap();
    for round in 0..2 {
        for i in 0..1000 {
            let st = p.stat(&format!("/h/f{i}")).unwrap();
            assert_eq!(st.st_size, i.to_string().len() as i64, "round {round}");
        }
    }
    assert_eq!(p.list("/h").unwrap().len(), 1002);
    // Other tests run beside this one and open fds of their own.
    let grown = fds().saturating_sub(before);
    assert!(grown < 400, "{grown} more host fds");
    // The held file stayed valid through all the evictions.
    let mut buf = [0u8; 8];
    assert_eq!(p.call(libc::SYS_pread64, &[held as u64, buf.as_mut_ptr() as u64, 8, 0]), Ok(1));
    assert_eq!(p.read_file("/h/f999").unwrap(), b"999");
}

#[test]
fn permissions_follow_the_host_modes() {
    let d = HostDir::new("perm");
    std::fs::write(d.join("private"), b"p").unwrap();
    std::fs::set_permissions(d.join("private"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let k = Kernel::boot(Config::default()).unwrap();
    k.mount_hostfs(&HostfsSpec::new(d.path(), "/h", false)).unwrap();
    let owner = std::fs::metadata(d.join("private")).unwrap().uid();
    let other = P(k.spawn(Emulation::Linux, Cred::user(owner + 1, owner + 1), "other").unwrap());
    assert_eq!(other.open("/h/private", O_RDONLY), Err(EACCES));
    let me = P(k.spawn(Emulation::Linux, Cred::user(owner, owner), "owner").unwrap());
    assert_eq!(me.read_file("/h/private").unwrap(), b"p");
}
