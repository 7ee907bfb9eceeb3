//! Large reads and writes, which over shared memory travel through the
//! channel's lanes (`transport::shm::lane`), and small ones, which travel
//! through their slot's inline area, against Linux: the same calls
//! on a file in /dev/shm and on a rump file, compared count for count and
//! byte for byte; buffers partly unmapped or read-only; paths, which
//! travel at the end of the inline area, ending at a bad page or too long;
//! more threads than lanes at once; a client killed while its data is in
//! a lane. Run both
//! ways (`RUMP_TRANSPORT=socket` keeps every call on the socket).

mod support;

use rump_abi::linux::sys::*;
use rump_abi::Errno;
use rumpclient::client::Client;
use rumpclient::transport::shm;
use rumpclient::transport::shm::lane::{INLINE_LEN, LANE_LEN, LANE_MIN};
use rumpclient::wire::handshake::Emulation;
use std::ffi::CString;
use std::sync::Arc;
use std::time::Duration;
use support::{pattern, start};

const AT_FDCWD: i32 = -100;
const O_RDWR_CREAT: i32 = 0o102;
const PAGE: usize = 4096;
const MIB: usize = 1 << 20;
const SEEK_SET: u32 = 0;
const SEEK_CUR: u32 = 1;

/// A result as a count or the errno, the same for the host and rump.
type Outcome = Result<isize, i32>;

fn host(r: isize) -> Outcome {
    if r < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap())
    } else {
        Ok(r)
    }
}

fn rump(r: Result<isize, Errno>) -> Outcome {
    r.map_err(|e| e.0)
}

/// A file opened read-write both on the host (in /dev/shm) and in rump,
/// and the calls made on both.
struct Twin<'a> {
    c: &'a Client,
    rump: u32,
    host: i32,
    path: std::path::PathBuf,
}

impl<'a> Twin<'a> {
    fn open(c: &'a Client, name: &str) -> Twin<'a> {
        let path = std::path::PathBuf::from(format!("/dev/shm/rump-lanes-{}-{name}", std::process::id()));
        let hp = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a path string of ours.
        let host = unsafe { libc::open(hp.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC, 0o644) };
        assert!(host >= 0);
        let rp = CString::new(format!("/{name}")).unwrap();
        let rump = rump_sys_openat(c, AT_FDCWD, rp.as_ptr(), O_RDWR_CREAT, 0o644).unwrap() as u32;
        rump_sys_ftruncate(c, rump, 0).unwrap();
        Twin { c, rump, host, path }
    }

    /// pwrite of `len` bytes at `buf` to `off`, on both.
    fn pwrite(&self, buf: *const u8, len: usize, off: usize) -> (Outcome, Outcome) {
        // SAFETY: the kernel checks the buffer.
        let h = host(unsafe { libc::pwrite(self.host, buf.cast(), len, off as i64) });
        (h, rump(rump_sys_pwrite64(self.c, self.rump, buf.cast(), len, off as i64)))
    }

    /// pread of `len` bytes at `off` into `hbuf` and `rbuf`.
    fn pread(&self, hbuf: *mut u8, rbuf: *mut u8, len: usize, off: usize) -> (Outcome, Outcome) {
        // SAFETY: as in pwrite.
        let h = host(unsafe { libc::pread(self.host, hbuf.cast(), len, off as i64) });
        (h, rump(rump_sys_pread64(self.c, self.rump, rbuf.cast(), len, off as i64)))
    }

    fn write(&self, buf: *const u8, len: usize) -> (Outcome, Outcome) {
        // SAFETY: as in pwrite.
        let h = host(unsafe { libc::write(self.host, buf.cast(), len) });
        (h, rump(rump_sys_write(self.c, self.rump, buf.cast(), len)))
    }

    fn read(&self, hbuf: *mut u8, rbuf: *mut u8, len: usize) -> (Outcome, Outcome) {
        // SAFETY: as in pwrite.
        let h = host(unsafe { libc::read(self.host, hbuf.cast(), len) });
        (h, rump(rump_sys_read(self.c, self.rump, rbuf.cast(), len)))
    }

    fn seek(&self, off: i64, whence: u32) -> (Outcome, Outcome) {
        // SAFETY: plain lseek.
        let h = host(unsafe { libc::lseek(self.host, off, whence as i32) } as isize);
        (h, rump(rump_sys_lseek(self.c, self.rump, off, whence).map(|o| o as isize)))
    }

    /// The whole file, from the host and from rump.
    fn contents(&self) -> (Vec<u8>, Vec<u8>) {
        let h = std::fs::read(&self.path).unwrap();
        let mut r = vec![0u8; h.len() + PAGE];
        let n = rump_sys_pread64(self.c, self.rump, r.as_mut_ptr().cast(), r.len(), 0).unwrap();
        r.truncate(n as usize);
        (h, r)
    }
}

impl Drop for Twin<'_> {
    fn drop(&mut self) {
        rump_sys_close(self.c, self.rump).unwrap();
        // SAFETY: our descriptor.
        unsafe { libc::close(self.host) };
        let _ = std::fs::remove_file(&self.path);
    }
}

fn connect(srv: &support::Running, name: &str) -> Client {
    let c = Client::connect(&srv.url, Emulation::Linux, name).unwrap();
    assert_eq!(c.shares_memory(), shm::wanted(), "the transport RUMP_TRANSPORT asks for");
    c
}

#[test]
fn large_reads_and_writes_match_the_host_byte_for_byte() {
    let srv = start();
    let c = connect(&srv, "large");
    let f = Twin::open(&c, "large");
    for len in [LANE_MIN - 1, LANE_MIN, MIB - 1, LANE_LEN, LANE_LEN + 1, 3 * MIB] {
        for off in [0, PAGE - 1] {
            let data = pattern(len, len + off);
            let (h, r) = f.pwrite(data.as_ptr(), len, off);
            assert_eq!((h, r), (Ok(len as isize), Ok(len as isize)), "pwrite of {len} at {off}");
            // Asking for more than is there: a short count on both.
            let (mut hb, mut rb) = (vec![0u8; len + PAGE], vec![0u8; len + PAGE]);
            let (h, r) = f.pread(hb.as_mut_ptr(), rb.as_mut_ptr(), len + PAGE, off);
            assert_eq!(h, r, "pread of {} at {off}", len + PAGE);
            assert!(hb == rb && hb[..len] == data[..], "pread of {len} at {off}: other bytes");
        }
        // write and read move the offset alike.
        assert_eq!(f.seek(0, SEEK_SET), (Ok(0), Ok(0)));
        let data = pattern(2 * len, len);
        for half in data.chunks(len) {
            let (h, r) = f.write(half.as_ptr(), half.len());
            assert_eq!(h, r, "write of {len}");
        }
        assert_eq!(f.seek(1, SEEK_SET), (Ok(1), Ok(1)));
        let (mut hb, mut rb) = (vec![0u8; len], vec![0u8; len]);
        loop {
            let (h, r) = f.read(hb.as_mut_ptr(), rb.as_mut_ptr(), len);
            assert_eq!(h, r, "read of {len}");
            assert!(hb == rb, "read of {len}: other bytes");
            if h == Ok(0) {
                break;
            }
        }
        let (h, r) = f.contents();
        assert!(h == r, "after writes of {len} the files differ");
    }
}

/// An anonymous mapping of `len` bytes whose pages from `bad` on cannot
/// be touched (PROT_NONE: to the kernel's copies as good as unmapped, but
/// kept reserved, so no other mapping of this process lands there while
/// the test runs) or, with `read_only`, only read; unmapped when dropped.
struct Buffer {
    at: *mut u8,
    len: usize,
}

impl Buffer {
    fn new(len: usize, bad: usize, read_only: bool) -> Buffer {
        // SAFETY: a fresh private mapping, then changes to its own tail.
        unsafe {
            let at = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(at, libc::MAP_FAILED);
            let tail = at.cast::<u8>().add(bad);
            let prot = if read_only { libc::PROT_READ } else { libc::PROT_NONE };
            assert_eq!(libc::mprotect(tail.cast(), len - bad, prot), 0);
            Buffer { at: at.cast(), len }
        }
    }

    /// The first `n` bytes, which must be mapped.
    fn head(&self, n: usize) -> &[u8] {
        // SAFETY: the caller names mapped bytes.
        unsafe { std::slice::from_raw_parts(self.at, n) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: our mapping.
        unsafe { libc::munmap(self.at.cast(), self.len) };
    }
}

#[test]
fn a_buffer_partly_unmapped_or_read_only_gives_what_linux_gives() {
    let srv = start();
    let c = connect(&srv, "faults");
    let f = Twin::open(&c, "faults");
    let data = pattern(2 * MIB, 3);
    assert_eq!(f.pwrite(data.as_ptr(), data.len(), 0), (Ok(2 * MIB as isize), Ok(2 * MIB as isize)));
    // Every buffer lives to the end, so that none is mapped where one
    // was before (a thread remembers the pages it found good).
    let mut buffers = Vec::new();
    for (bad, read_only) in
        [(MIB / 2, false), (MIB / 2, true), (PAGE, false), (LANE_MIN.next_multiple_of(PAGE) + PAGE, false), (0, false)]
    {
        let what = format!("a 1 MiB buffer bad from {bad} (read-only: {read_only})");
        buffers.push((Buffer::new(MIB, bad, read_only), Buffer::new(MIB, bad, read_only)));
        let (hb, rb) = buffers.last().unwrap();
        let (h, r) = f.pread(hb.at, rb.at, MIB, 3);
        assert_eq!(h, r, "pread into {what}");
        assert!(hb.head(bad) == rb.head(bad), "pread into {what}: other bytes");
        assert_eq!(f.seek(5, SEEK_SET), (Ok(5), Ok(5)));
        let (h, r) = f.read(hb.at, rb.at, MIB);
        assert_eq!(h, r, "read into {what}");
        assert!(hb.head(bad) == rb.head(bad), "read into {what}: other bytes");
        assert_eq!(f.seek(0, SEEK_CUR).0, f.seek(0, SEEK_CUR).1, "the offset after a read into {what}");
        // Writes from the same buffer (a read-only tail is still readable).
        let (h, r) = f.pwrite(hb.at, MIB, MIB + 7);
        assert_eq!(h, r, "pwrite from {what}");
        let (h, r) = f.write(hb.at, MIB);
        assert_eq!(h, r, "write from {what}");
        assert_eq!(f.seek(0, SEEK_CUR).0, f.seek(0, SEEK_CUR).1, "the offset after a write from {what}");
        let (h, r) = f.contents();
        assert!(h == r, "after writes from {what} the files differ");
    }
    // At the end of the file a bad buffer reads nothing, without a fault.
    let nowhere = Buffer::new(MIB, 0, false);
    assert_eq!(f.seek(0, 2).0, f.seek(0, 2).1);
    assert_eq!(f.read(nowhere.at, nowhere.at, MIB), (Ok(0), Ok(0)));
}

/// Small reads and writes travel through their slot's inline area: a
/// buffer that starts good and turns bad (unmapped or read-only) part way,
/// or is bad from its first byte, gives the count, bytes and offset the
/// host gives.
#[test]
fn a_small_buffer_bad_part_way_gives_what_linux_gives() {
    let srv = start();
    let c = connect(&srv, "small-faults");
    let f = Twin::open(&c, "small-faults");
    let data = pattern(64 * PAGE, 5);
    assert_eq!(f.pwrite(data.as_ptr(), data.len(), 0), (Ok(data.len() as isize), Ok(data.len() as isize)));
    let mut buffers = Vec::new();
    // (good bytes before the bad page, transfer length, read-only)
    for (good, len, read_only) in
        [(100, 300, false), (100, 300, true), (0, 300, false), (PAGE - 8, INLINE_LEN, false), (1, INLINE_LEN, true)]
    {
        let what = format!("a {len}-byte buffer bad after {good} (read-only: {read_only})");
        buffers.push((Buffer::new(2 * PAGE, PAGE, read_only), Buffer::new(2 * PAGE, PAGE, read_only)));
        let (hb, rb) = buffers.last().unwrap();
        // SAFETY: inside each two-page mapping.
        let (h_at, r_at) = unsafe { (hb.at.add(PAGE - good), rb.at.add(PAGE - good)) };
        let head = |b: &Buffer| b.head(PAGE).to_vec();
        let (h, r) = f.pread(h_at, r_at, len, 11);
        assert_eq!(h, r, "pread into {what}");
        assert!(head(hb) == head(rb), "pread into {what}: other bytes");
        assert_eq!(f.seek(13, SEEK_SET), (Ok(13), Ok(13)));
        let (h, r) = f.read(h_at, r_at, len);
        assert_eq!(h, r, "read into {what}");
        assert!(head(hb) == head(rb), "read into {what}: other bytes");
        assert_eq!(f.seek(0, SEEK_CUR).0, f.seek(0, SEEK_CUR).1, "the offset after a read into {what}");
        let (h, r) = f.pwrite(h_at, len, 3 * PAGE + 1);
        assert_eq!(h, r, "pwrite from {what}");
        let (h, r) = f.write(h_at, len);
        assert_eq!(h, r, "write from {what}");
        assert_eq!(f.seek(0, SEEK_CUR).0, f.seek(0, SEEK_CUR).1, "the offset after a write from {what}");
        let (h, r) = f.contents();
        assert!(h == r, "after writes from {what} the files differ");
    }
}

#[test]
fn more_threads_than_lanes_read_and_write_at_once() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 20;
    // 1 MiB each way on both transports: over the socket, threads sending
    // large frames while the server sends large replies must not wedge it.
    let len = LANE_LEN;
    let srv = start();
    let c = Arc::new(connect(&srv, "threads"));
    support::parallel_rounds(&c, c"/threads", len, THREADS, ROUNDS);
}

#[test]
fn a_client_killed_mid_transfer_leaves_the_server_serving() {
    let srv = start();
    let c = connect(&srv, "parent");
    let fd = rump_sys_openat(&c, AT_FDCWD, c"/killed".as_ptr(), O_RDWR_CREAT, 0o644).unwrap() as u32;
    let cookie = c.prefork().unwrap();
    // SAFETY: the child only makes calls until it is killed.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        if let Ok(Some(k)) = c.connect_forked(cookie, false) {
            let mut buf = pattern(MIB, 1);
            while rump_sys_pwrite64(&k, fd, buf.as_ptr().cast(), MIB, 0).is_ok()
                && rump_sys_pread64(&k, fd, buf.as_mut_ptr().cast(), MIB, 0).is_ok()
            {}
        }
        unsafe { libc::_exit(1) };
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: our child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    let data = pattern(MIB, 2);
    let mut back = vec![0u8; MIB];
    for _ in 0..3 {
        assert_eq!(rump_sys_pwrite64(&c, fd, data.as_ptr().cast(), MIB, 0), Ok(MIB as isize));
        assert_eq!(rump_sys_pread64(&c, fd, back.as_mut_ptr().cast(), MIB, 0), Ok(MIB as isize));
        assert!(back == data);
    }
    let late = connect(&srv, "late");
    assert!(rump_sys_getpid(&late).is_ok(), "a new client after the kill");
}

/// The outcomes of `newfstatat` of a path (with the file's size and type
/// when it succeeds) and of `readlinkat` of it into a 64-byte buffer (with
/// the bytes), on the host for the string at `host_path` and in rump for
/// the one at `rump_path`.
fn stat_and_readlink(c: &Client, host_path: *const u8, rump_path: *const u8) -> [String; 2] {
    let mut out = [String::new(), String::new()];
    for (i, (at, is_host)) in [(host_path, true), (rump_path, false)].into_iter().enumerate() {
        let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
        let mut link = [0u8; 64];
        let (s, l) = if is_host {
            // SAFETY: buffers of ours; the path may be bad on purpose: the
            // kernel checks it.
            unsafe {
                let s = libc::syscall(libc::SYS_newfstatat, libc::AT_FDCWD, at, st.as_mut_ptr(), 0) as isize;
                let l = libc::syscall(libc::SYS_readlinkat, libc::AT_FDCWD, at, link.as_mut_ptr(), link.len()) as isize;
                (host(s), host(l))
            }
        } else {
            let s = rump_sys_newfstatat(c, AT_FDCWD, at.cast(), st.as_mut_ptr().cast(), 0).map(|r| r as isize);
            let l = rump_sys_readlinkat(c, AT_FDCWD, at.cast(), link.as_mut_ptr().cast(), link.len() as i32);
            (rump(s), rump(l))
        };
        // SAFETY: zeroed, then written by a successful call only.
        let st = unsafe { st.assume_init() };
        let stat = s.map(|_| (st.st_size, st.st_mode & libc::S_IFMT));
        let link = l.map(|n| String::from_utf8_lossy(&link[..n as usize]).into_owned());
        out[i] = format!("stat {stat:?} readlink {link:?}");
    }
    out
}

/// A call's path travels at the end of its slot's inline area: paths
/// that end at a page's last byte, run into a bad page, are bad from the
/// start or are too long give what Linux gives, beside a stat buffer or
/// readlink's in the same area.
#[test]
fn paths_give_what_linux_gives() {
    let srv = start();
    let c = connect(&srv, "paths");
    // The same tree on both sides, under directories whose names are as
    // long (so paths end at the same places): a file of 5 bytes and a
    // symlink to it.
    let hbase = format!("/dev/shm/rump-paths-{}", std::process::id());
    let rbase = format!("/tmp/shm/rump-paths-{}", std::process::id());
    std::fs::create_dir_all(&hbase).unwrap();
    std::fs::write(format!("{hbase}/f"), b"12345").unwrap();
    std::os::unix::fs::symlink("f", format!("{hbase}/l")).unwrap();
    let mut made = String::new();
    for part in rbase.split('/').filter(|p| !p.is_empty()) {
        made = format!("{made}/{part}");
        let p = CString::new(made.as_str()).unwrap();
        let _ = rump_sys_mkdirat(&c, AT_FDCWD, p.as_ptr(), 0o755);
    }
    let f = CString::new(format!("{rbase}/f")).unwrap();
    let fd = rump_sys_openat(&c, AT_FDCWD, f.as_ptr(), O_RDWR_CREAT, 0o644).unwrap() as u32;
    assert_eq!(rump_sys_write(&c, fd, b"12345".as_ptr().cast(), 5), Ok(5));
    let (target, l) = (CString::new("f").unwrap(), CString::new(format!("{rbase}/l")).unwrap());
    rump_sys_symlinkat(&c, target.as_ptr(), AT_FDCWD, l.as_ptr()).unwrap();

    let mut buffers = Vec::new();
    // The path's bytes (under the base) end `tail` bytes before a bad
    // page (0: the last is the page's last byte); `nul`: whether they end
    // with a NUL at all; None: no path, the pointer on the bad page.
    let long = format!("/{}", "x/".repeat(INLINE_LEN / 2));
    for (name, path, tail, nul) in [
        ("a file", Some("/f"), 0, true),
        ("a symlink, away from the page's end", Some("/l"), 100, true),
        ("a path running into a bad page", Some("/f"), 0, false),
        ("a path whose first byte is bad", None, 0, false),
        ("a path longer than PATH_MAX", Some(long.as_str()), 0, true),
        ("a missing file", Some("/nope"), 1, true),
    ] {
        let bytes = |base: &str| {
            let mut b = path.map_or_else(Vec::new, |p| format!("{base}{p}").into_bytes());
            if nul {
                b.push(0);
            }
            b
        };
        let make = |bytes: Vec<u8>| {
            let pages = bytes.len().div_ceil(PAGE) + 1;
            let b = Buffer::new((pages + 1) * PAGE, pages * PAGE, false);
            let start = pages * PAGE - tail - bytes.len();
            // SAFETY: inside the good part of the mapping.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), b.at.add(start), bytes.len()) };
            // SAFETY: as above; for no path, the bad page's first byte.
            let at = unsafe { b.at.add(start) } as *const u8;
            (b, at)
        };
        let ((hb, h_at), (rb, r_at)) = (make(bytes(&hbase)), make(bytes(&rbase)));
        let [h, r] = stat_and_readlink(&c, h_at, r_at);
        assert_eq!(h, r, "{name}");
        buffers.push((hb, rb));
    }
    std::fs::remove_dir_all(&hbase).unwrap();
}
