//! etfs end to end: host files registered at kernel paths, then used by a
//! kernel process through native calls while the host watches the bytes.

use rump_abi::native::errno::*;
use rump_abi::native::flags::*;
use rump_abi::native::sys::*;
use rump_abi::native::types::{stat, statvfs};
use rump_abi::Errno;
use rump_kernel::cred::Cred;
use rump_kernel::fs::etfs::{Drivespec, EtfsKind, EtfsSize, EtfsSpec, ETFS_MAJOR};
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A host temp file, removed when dropped (even when a test fails).
struct HostFile(PathBuf);

impl HostFile {
    fn new(tag: &str) -> HostFile {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let file_name = format!("rump-etfs-{}-{}-{tag}-{n}", std::process::id(), nanos());
        let path = std::env::temp_dir().join(file_name);
        let _ = std::fs::remove_file(&path);
        HostFile(path)
    }

    fn with(tag: &str, data: &[u8]) -> HostFile {
        let f = HostFile::new(tag);
        std::fs::write(&f.0, data).unwrap();
        f
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.0).unwrap()
    }
}

impl Drop for HostFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn boot() -> (Kernel, Process) {
    let k = Kernel::boot(Config::default()).expect("boot");
    let p = k.spawn(Emulation::Native, Cred::root(), "etfs").unwrap();
    (k, p)
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn open(p: &Process, path: &str, flags: u32) -> Result<i32, Errno> {
    rump_sys_open(p, c(path).as_ptr(), flags as i32, 0o644)
}

fn stat_of(p: &Process, path: &str) -> Result<stat, Errno> {
    let mut st = stat::default();
    rump_sys_stat(p, c(path).as_ptr(), &mut st)?;
    Ok(st)
}

fn pread(p: &Process, fd: i32, n: usize, at: i64) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; n];
    let got = rump_sys_pread(p, fd, buf.as_mut_ptr().cast(), n, at)?;
    buf.truncate(got as usize);
    Ok(buf)
}

fn pwrite(p: &Process, fd: i32, data: &[u8], at: i64) -> Result<isize, Errno> {
    rump_sys_pwrite(p, fd, data.as_ptr().cast(), data.len(), at)
}

fn spec(host: &HostFile, size: EtfsSize, kind: EtfsKind) -> EtfsSpec {
    EtfsSpec::new(host.path(), size, kind)
}

#[test]
fn regular_file_reads_and_writes_reach_the_host() {
    let (k, p) = boot();
    let host = HostFile::with("reg", b"hello host");
    k.register_etfs(b"/disk/img", &spec(&host, EtfsSize::Host, EtfsKind::Reg)).unwrap();

    // The missing parent was made like mkdir -p.
    let d = stat_of(&p, "/disk").unwrap();
    assert_eq!((d.st_mode & S_IFMT, d.st_mode & 0o7777), (S_IFDIR, 0o755));
    let st = stat_of(&p, "/disk/img").unwrap();
    assert_eq!((st.st_mode & S_IFMT, st.st_size, st.st_rdev), (S_IFREG, 10, 0));

    let fd = open(&p, "/disk/img", O_RDWR).unwrap();
    let mut buf = [0u8; 64];
    let n = rump_sys_read(&p, fd, buf.as_mut_ptr().cast(), buf.len()).unwrap();
    assert_eq!(&buf[..n as usize], b"hello host");
    assert_eq!(pwrite(&p, fd, b"rump", 6), Ok(4));
    assert_eq!(host.bytes(), b"hello rump");
    // Size follows the host file: writing past the end extends both.
    assert_eq!(pwrite(&p, fd, b"!!", 10), Ok(2));
    assert_eq!(host.bytes(), b"hello rump!!");
    assert_eq!(rump_sys_lseek(&p, fd, 0, SEEK_END), Ok(12));
    let mut st = stat::default();
    rump_sys_fstat(&p, fd, &mut st).unwrap();
    assert_eq!(st.st_size, 12);
    // What the host writes, the kernel reads.
    std::fs::write(host.path(), b"HOST SIDE!!!").unwrap();
    assert_eq!(pread(&p, fd, 64, 0).unwrap(), b"HOST SIDE!!!");
    assert_eq!(pread(&p, fd, 64, 100).unwrap(), b"");
    rump_sys_ftruncate(&p, fd, 4).unwrap();
    assert_eq!(host.bytes(), b"HOST");
    rump_sys_close(&p, fd).unwrap();
    // O_TRUNC truncates the host file too.
    let fd = open(&p, "/disk/img", O_WRONLY | O_TRUNC).unwrap();
    rump_sys_close(&p, fd).unwrap();
    assert_eq!(host.bytes(), b"");
}

#[test]
fn the_key_is_a_file_in_the_namespace() {
    let (k, p) = boot();
    let host = HostFile::with("ns", b"data");
    k.register_etfs(b"/disk//img", &spec(&host, EtfsSize::Host, EtfsKind::Reg)).unwrap();
    // A mount whose root is not a directory: the walk stops there.
    assert_eq!(stat_of(&p, "/disk/img/").err(), Some(ENOTDIR));
    assert_eq!(stat_of(&p, "/disk/img/x").err(), Some(ENOTDIR));
    assert_eq!(stat_of(&p, "/disk/img/..").err(), Some(ENOTDIR));
    assert_eq!(open(&p, "/disk/img/x", O_RDWR | O_CREAT).err(), Some(ENOTDIR));
    assert_eq!(rump_sys_mkdir(&p, c("/disk/img/d").as_ptr(), 0o755), Err(ENOTDIR));
    // It is in use as a mount point.
    assert_eq!(rump_sys_unlink(&p, c("/disk/img").as_ptr()), Err(EBUSY));
    assert_eq!(rump_sys_rename(&p, c("/disk/img").as_ptr(), c("/disk/other").as_ptr()), Err(EBUSY));
    // Other paths reach it too, and O_CREAT opens it.
    rump_sys_chdir(&p, c("/disk").as_ptr()).unwrap();
    let fd = open(&p, "./img", O_RDWR | O_CREAT).unwrap();
    assert_eq!(pread(&p, fd, 10, 0).unwrap(), b"data");
    rump_sys_close(&p, fd).unwrap();
    assert_eq!(open(&p, "img", O_RDWR | O_CREAT | O_EXCL).err(), Some(EEXIST));
    rump_sys_symlink(&p, c("/disk/img").as_ptr(), c("/link").as_ptr()).unwrap();
    assert_eq!(stat_of(&p, "/link").unwrap().st_size, 4);
    let mut v = statvfs::default();
    rump_sys_statvfs1(&p, c("/disk/img").as_ptr(), &mut v, 1).unwrap();
    assert_eq!(&v.f_fstypename[..5], b"etfs\0");
}

#[test]
fn fixed_size_regular_file_is_created_and_bounded() {
    let (k, p) = boot();
    let host = HostFile::new("fixed");
    k.register_etfs(b"/r", &spec(&host, EtfsSize::Bytes(8192), EtfsKind::Reg)).unwrap();
    // Created 0644 and extended to the size.
    let meta = std::fs::metadata(host.path()).unwrap();
    assert_eq!((meta.len(), meta.permissions().mode() & 0o777), (8192, 0o644));
    assert_eq!(stat_of(&p, "/r").unwrap().st_size, 8192);
    let fd = open(&p, "/r", O_RDWR).unwrap();
    // Up to the size and no further: a short write, then EFBIG.
    assert_eq!(pwrite(&p, fd, b"abcdef", 8190), Ok(2));
    assert_eq!(pwrite(&p, fd, b"cdef", 8192), Err(EFBIG));
    assert_eq!(pread(&p, fd, 10, 8190).unwrap(), b"ab");
    assert_eq!(pread(&p, fd, 10, 8192).unwrap(), b"");
    // Truncated, it grows again up to the size, with zeros in the gap.
    rump_sys_ftruncate(&p, fd, 4).unwrap();
    assert_eq!(stat_of(&p, "/r").unwrap().st_size, 4);
    assert_eq!(pwrite(&p, fd, b"z", 8), Ok(1));
    assert_eq!(pread(&p, fd, 20, 0).unwrap(), b"\0\0\0\0\0\0\0\0z");
    assert_eq!(rump_sys_ftruncate(&p, fd, 8193), Err(EFBIG));
    rump_sys_close(&p, fd).unwrap();
    assert_eq!(std::fs::metadata(host.path()).unwrap().len(), 8192);
}

#[test]
fn block_device_has_its_fixed_size() {
    let (k, p) = boot();
    let host = HostFile::with("blk", &[7u8; 100]);
    let d = Drivespec::parse(&format!("key=/dev2/wd0,hostpath={},size=2k,offset=1b", host.path().display())).unwrap();
    assert_eq!(d.etfs.kind, EtfsKind::Blk);
    k.register_etfs(&d.key, &d.etfs).unwrap();
    assert_eq!(host.bytes().len(), 512 + 2048);
    let st = stat_of(&p, "/dev2/wd0").unwrap();
    assert_eq!((st.st_mode & S_IFMT, st.st_mode & 0o777, st.st_size), (S_IFBLK, 0o600, 2048));
    assert_eq!(st.st_rdev >> 8 & 0xfff, ETFS_MAJOR as u64);
    let fd = open(&p, "/dev2/wd0", O_RDWR).unwrap();
    assert_eq!(rump_sys_lseek(&p, fd, 0, SEEK_END), Ok(2048));
    // Past the end of the disk: a short write, then ENOSPC; reads see EOF.
    assert_eq!(pwrite(&p, fd, b"wxyz", 2046), Ok(2));
    assert_eq!(pwrite(&p, fd, b"yz", 2048), Err(ENOSPC));
    assert_eq!(pread(&p, fd, 8, 2048).unwrap(), b"");
    assert_eq!(pwrite(&p, fd, b"first", 0), Ok(5));
    let bytes = host.bytes();
    assert_eq!(&bytes[..100], &[7u8; 100][..]);
    assert_eq!(&bytes[512..517], b"first");
    assert_eq!(&bytes[512 + 2046..], b"wx");
    // A device cannot be truncated.
    assert_eq!(rump_sys_ftruncate(&p, fd, 0), Err(EINVAL));
    rump_sys_close(&p, fd).unwrap();
}

#[test]
fn character_device_and_host_size() {
    let (k, p) = boot();
    let host = HostFile::with("chr", &[1u8; 3000]);
    k.register_etfs(b"/c", &spec(&host, EtfsSize::Host, EtfsKind::Chr)).unwrap();
    let st = stat_of(&p, "/c").unwrap();
    assert_eq!((st.st_mode & S_IFMT, st.st_size), (S_IFCHR, 3000));
    let fd = open(&p, "/c", O_RDWR).unwrap();
    assert_eq!(pwrite(&p, fd, b"x", 3000), Err(ENOSPC));
    assert_eq!(pread(&p, fd, 4, 2998).unwrap(), [1, 1]);
    rump_sys_close(&p, fd).unwrap();
    assert_eq!(host.bytes().len(), 3000);
}

#[test]
fn registration_errors() {
    let (k, p) = boot();
    let host = HostFile::with("err", b"x");
    let reg = spec(&host, EtfsSize::Host, EtfsKind::Reg);
    k.register_etfs(b"/disk/img", &reg).unwrap();
    assert_eq!(k.register_etfs(b"/disk/img", &reg), Err(EEXIST));
    // An existing kernel file is not replaced either.
    let fd = open(&p, "/plain", O_RDWR | O_CREAT).unwrap();
    rump_sys_close(&p, fd).unwrap();
    assert_eq!(k.register_etfs(b"/plain", &reg), Err(EEXIST));
    assert_eq!(k.register_etfs(b"/plain/under", &reg), Err(ENOTDIR));
    assert_eq!(k.register_etfs(b"relative", &reg), Err(EINVAL));
    assert_eq!(k.register_etfs(b"/", &reg), Err(EINVAL));
    assert_eq!(k.register_etfs(b"/a/../b", &reg), Err(EINVAL));

    // A missing host file with size=host: ENOENT, and nothing was made in
    // the kernel or on the host.
    let missing = HostFile::new("missing");
    assert_eq!(k.register_etfs(b"/nodir/img", &spec(&missing, EtfsSize::Host, EtfsKind::Blk)), Err(ENOENT));
    assert_eq!(k.register_etfs(b"/nodir/img", &spec(&missing, EtfsSize::Host, EtfsKind::Reg)), Err(ENOENT));
    assert_eq!(stat_of(&p, "/nodir").err(), Some(ENOENT));
    assert!(!missing.path().exists());
    // A host directory is not a drive.
    let dir = std::env::temp_dir();
    assert_eq!(k.register_etfs(b"/d", &EtfsSpec::new(dir, EtfsSize::Host, EtfsKind::Reg)), Err(EISDIR));
    // A device key under devfs: devfs's names are fixed.
    assert_eq!(k.register_etfs(b"/dev/wd0", &reg), Err(EPERM));
}

#[test]
fn read_only_host_file_serves_reads() {
    let (k, p) = boot();
    let host = HostFile::with("ro", b"frozen");
    std::fs::set_permissions(host.path(), std::fs::Permissions::from_mode(0o444)).unwrap();
    // Root on the host may write anyway; only check what a read-only open
    // does when the host refuses.
    let refused = std::fs::OpenOptions::new().write(true).open(host.path()).is_err();
    k.register_etfs(b"/ro", &spec(&host, EtfsSize::Host, EtfsKind::Reg)).unwrap();
    let fd = open(&p, "/ro", O_RDWR).unwrap();
    assert_eq!(pread(&p, fd, 10, 0).unwrap(), b"frozen");
    if refused {
        assert_eq!(pwrite(&p, fd, b"x", 0), Err(EROFS));
        assert_eq!(host.bytes(), b"frozen");
    }
    rump_sys_close(&p, fd).unwrap();
}
