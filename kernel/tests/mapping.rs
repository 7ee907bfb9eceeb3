//! Shared file mappings from the kernel's side (`Process::mappable_fd`,
//! `rump_kernel::shm`): a tmpfs file moves into shared memory on its first
//! mapping and stays coherent with the kernel's read, write, truncate and
//! stat; the memory budget follows it; hostfs maps the host file; what
//! cannot be mapped answers as Linux does.

use rump_abi::native::errno::*;
use rump_abi::native::flags::*;
use rump_abi::native::sys::*;
use rump_abi::native::types::stat;
use rump_abi::Errno;
use rump_kernel::cred::Cred;
use rump_kernel::fs::etfs::{EtfsKind, EtfsSize, EtfsSpec};
use rump_kernel::fs::hostfs::HostfsSpec;
use rump_kernel::proc::Emulation;
use rump_kernel::vfs::mapping::MapKind;
use rump_kernel::{Config, Kernel, Process};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};

const PAGE: usize = 4096;

fn boot(config: Config) -> (Kernel, Process) {
    let k = Kernel::boot(config).expect("boot");
    let p = k.spawn(Emulation::Native, Cred::root(), "mapping").unwrap();
    (k, p)
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn open(p: &Process, path: &str, flags: u32) -> Result<i32, Errno> {
    rump_sys_open(p, c(path).as_ptr(), flags as i32, 0o644)
}

fn pwrite(p: &Process, fd: i32, data: &[u8], off: i64) -> Result<isize, Errno> {
    rump_sys_pwrite(p, fd, data.as_ptr().cast(), data.len(), off)
}

fn pread(p: &Process, fd: i32, n: usize, off: i64) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let got = rump_sys_pread(p, fd, buf.as_mut_ptr().cast(), n, off).unwrap();
    buf.truncate(got as usize);
    buf
}

fn fstat(p: &Process, fd: i32) -> stat {
    let mut st = stat::default();
    rump_sys_fstat(p, fd, &mut st).unwrap();
    st
}

fn mappable(p: &Process, fd: i32) -> Result<OwnedFd, Errno> {
    Ok(p.mappable_fd(fd, MapKind::Shared)?.expect("a shared mapping always gets a descriptor"))
}

fn shared(p: &Process, fd: i32) -> OwnedFd {
    mappable(p, fd).unwrap()
}

/// A host mapping of `len` bytes of `fd`, unmapped on drop.
struct Map(*mut u8, usize);

impl Map {
    fn shared(fd: &OwnedFd, len: usize) -> Map {
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: a new shared mapping of a descriptor we own.
        let m = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd.as_raw_fd(), 0) };
        assert_ne!(m, libc::MAP_FAILED, "{}", std::io::Error::last_os_error());
        Map(m.cast(), len)
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `self.1` bytes long and lives with `self`.
        unsafe { std::slice::from_raw_parts_mut(self.0, self.1) }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: the mapping this value made.
        unsafe { libc::munmap(self.0.cast(), self.1) };
    }
}

#[test]
fn a_mapped_tmpfs_file_is_coherent_with_the_kernel() {
    let (_k, p) = boot(Config::default());
    let fd = open(&p, "/f", O_RDWR | O_CREAT).unwrap();
    pwrite(&p, fd, b"before", 0).unwrap();
    pwrite(&p, fd, &[7u8; PAGE], 2 * PAGE as i64).unwrap();
    let blocks = fstat(&p, fd).st_blocks;
    let host = shared(&p, fd);
    let mut m = Map::shared(&host, 3 * PAGE);
    drop(host);
    assert_eq!(fstat(&p, fd).st_size, 3 * PAGE as i64);
    // (Reading a hole through a mapping fills it, as on the host's tmpfs.)
    assert_eq!(fstat(&p, fd).st_blocks, blocks, "the hole stays a hole");
    // The kernel's pages moved, holes included.
    assert_eq!(&m.bytes()[..6], b"before");
    assert!(m.bytes()[PAGE..2 * PAGE].iter().all(|&b| b == 0));
    assert!(m.bytes()[2 * PAGE..].iter().all(|&b| b == 7));
    // Both ways.
    m.bytes()[100..105].copy_from_slice(b"store");
    assert_eq!(pread(&p, fd, 5, 100), b"store");
    pwrite(&p, fd, b"kernel", PAGE as i64 + 10).unwrap();
    assert_eq!(&m.bytes()[PAGE + 10..PAGE + 16], b"kernel");
    // Another open of the file sees the same, and so does a second mapping.
    let other = open(&p, "/f", O_RDONLY).unwrap();
    assert_eq!(pread(&p, other, 5, 100), b"store");
    let mut again = Map::shared(&shared(&p, fd), PAGE);
    assert_eq!(&again.bytes()[100..105], b"store");
    // Truncation and growth go to the shared memory.
    rump_sys_ftruncate(&p, fd, 50).unwrap();
    assert_eq!(fstat(&p, fd).st_size, 50);
    assert_eq!(pread(&p, fd, 100, 0).len(), 50);
    rump_sys_ftruncate(&p, fd, 2 * PAGE as i64).unwrap();
    assert_eq!(pread(&p, fd, 10, 100), [0u8; 10], "growth exposes zeros");
    m.bytes()[PAGE] = b'g';
    assert_eq!(pread(&p, fd, 1, PAGE as i64), b"g");
    // Writes past the end grow the file for every mapper.
    pwrite(&p, fd, b"tail", 3 * PAGE as i64 - 4).unwrap();
    assert_eq!(fstat(&p, fd).st_size, 3 * PAGE as i64);
    assert_eq!(&m.bytes()[3 * PAGE - 4..], b"tail");
}

#[test]
fn the_memory_budget_follows_a_file_into_shared_memory() {
    let (k, p) = boot(Config { ram_limit: Some(1 << 20), ..Config::default() });
    let used = || k.with_state(|st| st.mem.used());
    let fd = open(&p, "/f", O_RDWR | O_CREAT).unwrap();
    let empty = used();
    pwrite(&p, fd, &[1u8; 16 * PAGE], 0).unwrap();
    let full = used();
    assert_eq!(full - empty, 16 * PAGE as u64);
    let host = shared(&p, fd);
    assert_eq!(used(), full, "the same pages, charged by the region now");
    // Past the budget a kernel write stops short, then ENOSPC, as tmpfs.
    let big = vec![2u8; 1 << 20];
    let n = pwrite(&p, fd, &big, 16 * PAGE as i64).unwrap() as usize;
    assert!(n > 0 && n < big.len());
    assert_eq!(pwrite(&p, fd, b"x", (16 * PAGE + n) as i64), Err(ENOSPC));
    // Shrinking gives pages back.
    rump_sys_ftruncate(&p, fd, PAGE as i64).unwrap();
    assert_eq!(used(), empty + PAGE as u64);
    // A mapping outlives the file's name and fd, as on Linux; the kernel's
    // memory is back once the node goes.
    let mut m = Map::shared(&host, PAGE);
    drop(host);
    rump_sys_unlink(&p, c("/f").as_ptr()).unwrap();
    rump_sys_close(&p, fd).unwrap();
    assert_eq!(m.bytes()[0], 1);
    assert!(used() < empty);
}

#[test]
fn private_mappings_get_host_memory_only_where_the_data_is_already() {
    let (_k, p) = boot(Config::default());
    let fd = open(&p, "/f", O_RDWR | O_CREAT).unwrap();
    pwrite(&p, fd, b"kernel pages", 0).unwrap();
    // Still in kernel pages: the caller copies (no host fd per file).
    assert!(p.mappable_fd(fd, MapKind::Private).unwrap().is_none());
    // Once shared, a private mapping is copy-on-write over the same memory.
    let mut m = Map::shared(&shared(&p, fd), PAGE);
    let private = p.mappable_fd(fd, MapKind::Private).unwrap().expect("in shared memory now");
    let prot = libc::PROT_READ | libc::PROT_WRITE;
    // SAFETY: a private mapping of our fd, unmapped below.
    let c = unsafe { libc::mmap(std::ptr::null_mut(), PAGE, prot, libc::MAP_PRIVATE, private.as_raw_fd(), 0) };
    assert_ne!(c, libc::MAP_FAILED);
    // SAFETY: the mapping is a page long.
    let copy = unsafe { std::slice::from_raw_parts_mut(c.cast::<u8>(), PAGE) };
    assert_eq!(&copy[..6], b"kernel");
    copy[..6].copy_from_slice(b"CHANGE");
    assert_eq!(&m.bytes()[..6], b"kernel");
    assert_eq!(pread(&p, fd, 6, 0), b"kernel");
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(c, PAGE) };
}

#[test]
fn read_only_opens_get_read_only_descriptors() {
    let (_k, p) = boot(Config::default());
    let rw = open(&p, "/f", O_RDWR | O_CREAT).unwrap();
    pwrite(&p, rw, b"abc", 0).unwrap();
    let ro = open(&p, "/f", O_RDONLY).unwrap();
    let host = mappable(&p, ro).unwrap();
    // SAFETY: fcntl on our fd.
    assert_eq!(unsafe { libc::fcntl(host.as_raw_fd(), libc::F_GETFL) } & libc::O_ACCMODE, libc::O_RDONLY);
    let prot = libc::PROT_READ | libc::PROT_WRITE;
    // SAFETY: an attempted mapping of our fd; it fails.
    let m = unsafe { libc::mmap(std::ptr::null_mut(), PAGE, prot, libc::MAP_SHARED, host.as_raw_fd(), 0) };
    assert_eq!(m, libc::MAP_FAILED);
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EACCES));
    let host = mappable(&p, rw).unwrap();
    // SAFETY: fcntl on our fd.
    assert_eq!(unsafe { libc::fcntl(host.as_raw_fd(), libc::F_GETFL) } & libc::O_ACCMODE, libc::O_RDWR);
}

#[test]
fn what_cannot_be_mapped_answers_as_linux() {
    let (k, p) = boot(Config::default());
    let wo = open(&p, "/f", O_WRONLY | O_CREAT).unwrap();
    assert_eq!(mappable(&p, wo).err(), Some(EACCES));
    let path = open(&p, "/f", O_PATH).unwrap();
    assert_eq!(mappable(&p, path).err(), Some(EBADF));
    assert_eq!(mappable(&p, 77).err(), Some(EBADF));
    let dir = open(&p, "/", O_RDONLY | O_DIRECTORY).unwrap();
    assert_eq!(mappable(&p, dir).err(), Some(ENODEV));
    let mut fds = [0i32; 2];
    rump_sys_pipe2(&p, fds.as_mut_ptr(), 0).unwrap();
    assert_eq!(mappable(&p, fds[0]).err(), Some(ENODEV));
    let null = open(&p, "/dev/null", O_RDWR).unwrap();
    assert_eq!(mappable(&p, null).err(), Some(ENODEV));
    // /dev/zero maps (the host's): zeros, and private to the mapper.
    let zero = open(&p, "/dev/zero", O_RDWR).unwrap();
    let mut m = Map::shared(&mappable(&p, zero).unwrap(), PAGE);
    assert!(m.bytes().iter().all(|&b| b == 0));
    // A Linux process gets Linux's numbers.
    let lp = k.spawn(Emulation::Linux, Cred::root(), "linux").unwrap();
    assert_eq!(mappable(&lp, 5).err(), Some(rump_abi::linux::errno::EBADF));
}

#[test]
fn hostfs_maps_the_host_file() {
    let dir = std::env::temp_dir().join(format!("rump-mapping-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("h"), b"host bytes").unwrap();
    let spec = HostfsSpec::new(&dir, "/mnt", false);
    let (_k, p) = boot(Config { hostfs: vec![spec], ..Config::default() });
    let fd = open(&p, "/mnt/h", O_RDWR).unwrap();
    let mut m = Map::shared(&shared(&p, fd), PAGE);
    assert_eq!(&m.bytes()[..10], b"host bytes");
    m.bytes()[..4].copy_from_slice(b"HOST");
    assert_eq!(std::fs::read(dir.join("h")).unwrap(), b"HOST bytes");
    assert_eq!(pread(&p, fd, 4, 0), b"HOST");
    let d = open(&p, "/mnt", O_RDONLY | O_DIRECTORY).unwrap();
    assert_eq!(mappable(&p, d).err(), Some(ENODEV));
    drop(m);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn etfs_maps_a_host_file_shown_whole() {
    let dir = std::env::temp_dir().join(format!("rump-mapping-etfs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("whole"), b"etfs bytes").unwrap();
    std::fs::write(dir.join("disk"), vec![0u8; 8192]).unwrap();
    let (k, p) = boot(Config::default());
    k.register_etfs(b"/whole", &EtfsSpec::new(dir.join("whole"), EtfsSize::Host, EtfsKind::Reg)).unwrap();
    k.register_etfs(b"/disk", &EtfsSpec::new(dir.join("disk"), EtfsSize::Bytes(4096), EtfsKind::Reg)).unwrap();
    let fd = open(&p, "/whole", O_RDWR).unwrap();
    let mut m = Map::shared(&shared(&p, fd), PAGE);
    m.bytes()[..4].copy_from_slice(b"ETFS");
    assert_eq!(std::fs::read(dir.join("whole")).unwrap(), b"ETFS bytes");
    // A region of a host file cannot be mapped: the mapping would not
    // keep to it.
    let disk = open(&p, "/disk", O_RDWR).unwrap();
    assert_eq!(mappable(&p, disk).err(), Some(ENODEV));
    drop(m);
    let _ = std::fs::remove_dir_all(&dir);
}
