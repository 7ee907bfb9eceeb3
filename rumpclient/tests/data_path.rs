//! The data path of read/write/pread/pwrite/readv/writev to tmpfs, over
//! shared memory (where the server copies between a file's pages and the
//! client's buffer in place) and over the socket: sizes around each
//! boundary the copy crosses (a 128-byte slot, a 4 KiB page, the 1 MiB a
//! server moves per system call, the 4 MiB of a serving thread's buffer),
//! holes, unaligned offsets, bad pointers; and a pipe's ring. Each transport runs in a
//! process of its own, this binary's ignored `data_path_helper` started
//! with `RUMP_TRANSPORT` set.

mod support;

use rump_abi::linux::errno::EFAULT;
use rump_abi::linux::sys::*;
use rump_abi::linux::types::{iovec, statfs};
use rumpclient::client::Client;
use rumpclient::transport::shm;
use std::process::Command;
use support::start;

const AT_FDCWD: i32 = -100;
const O_RDWR_CREAT: i32 = 0o102;
const MIB: usize = 1 << 20;
const PAGE: usize = 4096;
/// Lengths on each side of every boundary, and well past the last.
const SIZES: [usize; 13] = [0, 1, 127, 128, 129, PAGE - 1, PAGE, PAGE + 1, MIB - 1, MIB, MIB + 1, 4 * MIB + 1, 8 * MIB];
/// An address nothing is mapped at (the zero page is never mapped).
const UNMAPPED: usize = 0x1000;

fn run_over(transport: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "data_path_helper", "--ignored", "--nocapture", "--test-threads=1"])
        .env("RUMP_TRANSPORT", transport)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "over {transport}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn reads_and_writes_over_shared_memory() {
    run_over("shm");
}

#[test]
fn reads_and_writes_over_the_socket() {
    run_over("socket");
}

/// Bytes that differ from one length and offset to the next.
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) ^ seed.wrapping_mul(7)) as u8).collect()
}

fn open(c: &Client, path: &str) -> u32 {
    let p = format!("{path}\0");
    rump_sys_openat(c, AT_FDCWD, p.as_ptr().cast(), O_RDWR_CREAT, 0o644).unwrap() as u32
}

fn pwrite(c: &Client, fd: u32, data: &[u8], off: usize) -> Result<isize, rump_abi::Errno> {
    rump_sys_pwrite64(c, fd, data.as_ptr().cast(), data.len(), off as i64)
}

/// Reads `len` bytes at `off` into a buffer with guard bytes on both
/// sides, checks the guards, and returns what was read.
fn pread(c: &Client, fd: u32, len: usize, off: usize) -> Vec<u8> {
    let mut buf = vec![0xa5u8; len + 2];
    let n = rump_sys_pread64(c, fd, buf[1..].as_mut_ptr().cast(), len, off as i64).unwrap() as usize;
    assert!(n <= len);
    assert_eq!((buf[0], buf[len + 1]), (0xa5, 0xa5), "pread of {len} at {off} wrote past the buffer");
    assert!(buf[1 + n..=len].iter().all(|&b| b == 0xa5), "pread of {len} at {off} wrote past its count");
    buf.truncate(n + 1);
    buf.remove(0);
    buf
}

fn free_blocks(c: &Client) -> u64 {
    let mut st = statfs::default();
    rump_sys_statfs(c, c"/".as_ptr(), &mut st).unwrap();
    st.f_bfree
}

fn file_size(c: &Client, fd: u32) -> usize {
    rump_sys_lseek(c, fd, 0, 2).unwrap() as usize
}

fn sizes_and_offsets(c: &Client) {
    let fd = open(c, "/sizes");
    for off in [0, 1, PAGE - 1] {
        for (i, &len) in SIZES.iter().enumerate() {
            rump_sys_ftruncate(c, fd, 0).unwrap();
            // Onto fresh pages, then over the same pages again.
            for seed in [i, i + 100] {
                let data = pattern(len, seed + off);
                assert_eq!(pwrite(c, fd, &data, off), Ok(len as isize), "pwrite of {len} at {off}");
                assert!(pread(c, fd, len, off) == data, "pread of {len} at {off}");
            }
            assert_eq!(file_size(c, fd), if len == 0 { 0 } else { off + len });
            // A read past the end is short; one at it reads nothing.
            let end = off + len;
            assert_eq!(pread(c, fd, len + PAGE, off).len(), len, "{len} at {off}, asking for more");
            assert_eq!(pread(c, fd, 1, end.max(off)), b"" as &[u8]);
        }
    }
    rump_sys_close(c, fd).unwrap();
}

fn holes(c: &Client) {
    let fd = open(c, "/holes");
    let (at, tail) = (3 * MIB + 5, b"end");
    assert_eq!(pwrite(c, fd, tail, at), Ok(3));
    let got = pread(c, fd, 5 * MIB, 0);
    assert_eq!(got.len(), at + 3);
    assert!(got[..at].iter().all(|&b| b == 0), "a hole reads as zeros");
    assert_eq!(&got[at..], tail);
    // A write into the middle of the hole, across pages, keeps the rest zero.
    let mid = pattern(PAGE + 2, 9);
    assert_eq!(pwrite(c, fd, &mid, MIB - 1), Ok(mid.len() as isize));
    let got = pread(c, fd, 3 * MIB, 0);
    assert!(got[..MIB - 1].iter().chain(&got[MIB - 1 + mid.len()..]).all(|&b| b == 0));
    assert_eq!(&got[MIB - 1..MIB - 1 + mid.len()], &mid[..]);
    rump_sys_close(c, fd).unwrap();
}

fn read_and_write_move_the_offset(c: &Client) {
    let fd = open(c, "/offset");
    let data = pattern(MIB + 3, 5);
    for half in [&data[..PAGE + 1], &data[PAGE + 1..]] {
        assert_eq!(rump_sys_write(c, fd, half.as_ptr().cast(), half.len()), Ok(half.len() as isize));
    }
    assert_eq!(rump_sys_lseek(c, fd, 0, 0), Ok(0));
    let mut back = vec![0u8; data.len()];
    let (first, rest) = back.split_at_mut(MIB - 1);
    assert_eq!(rump_sys_read(c, fd, first.as_mut_ptr().cast(), first.len()), Ok(first.len() as isize));
    assert_eq!(rump_sys_read(c, fd, rest.as_mut_ptr().cast(), rest.len() + 9), Ok(rest.len() as isize));
    assert!(back == data, "read back what was written");
    rump_sys_close(c, fd).unwrap();
}

fn vectored(c: &Client) {
    let fd = open(c, "/vectored");
    let parts = [pattern(1, 1), pattern(PAGE - 1, 2), pattern(0, 3), pattern(MIB + 1, 4)];
    let total: usize = parts.iter().map(Vec::len).sum();
    let iov: Vec<iovec> =
        parts.iter().map(|p| iovec { iov_base: p.as_ptr() as u64, iov_len: p.len() as u64 }).collect();
    assert_eq!(rump_sys_writev(c, fd.into(), iov.as_ptr(), iov.len() as u64), Ok(total as isize));
    let mut back: Vec<Vec<u8>> = parts.iter().map(|p| vec![0u8; p.len()]).collect();
    let iov: Vec<iovec> =
        back.iter_mut().map(|p| iovec { iov_base: p.as_mut_ptr() as u64, iov_len: p.len() as u64 }).collect();
    assert_eq!(rump_sys_lseek(c, fd, 0, 0), Ok(0));
    assert_eq!(rump_sys_readv(c, fd.into(), iov.as_ptr(), iov.len() as u64), Ok(total as isize));
    assert!(back == parts, "readv read back what writev wrote");
    rump_sys_close(c, fd).unwrap();
}

fn bad_pointers(c: &Client) {
    let fd = open(c, "/bad");
    let data = pattern(2 * PAGE, 7);
    assert_eq!(pwrite(c, fd, &data, 0), Ok(data.len() as isize));
    let free = free_blocks(c);
    for len in [1, PAGE, MIB + 1, 8 * MIB] {
        let bad = UNMAPPED as *mut libc::c_char;
        assert_eq!(rump_sys_pread64(c, fd, bad, len, 0), Err(EFAULT), "pread of {len} to nowhere");
        assert_eq!(rump_sys_read(c, fd, bad, len), Err(EFAULT), "read of {len} to nowhere");
        // Over the file's pages and past its end onto fresh ones: nothing
        // changes, and the fresh pages are given back.
        for off in [0, 2 * PAGE + 1] {
            assert_eq!(rump_sys_pwrite64(c, fd, bad, len, off as i64), Err(EFAULT), "pwrite of {len} from nowhere");
        }
        assert_eq!(rump_sys_write(c, fd, bad.cast_const(), len), Err(EFAULT), "write of {len} from nowhere");
    }
    assert_eq!(rump_sys_lseek(c, fd, 0, 1), Ok(0), "a failed read or write moved the offset");
    assert_eq!(file_size(c, fd), data.len());
    assert!(pread(c, fd, data.len(), 0) == data, "a failed write changed the file");
    assert_eq!(free_blocks(c), free, "a failed write kept pages");
    // A read-only buffer cannot be read into.
    static RO: [u8; 16] = [0; 16];
    assert_eq!(rump_sys_pread64(c, fd, RO.as_ptr().cast_mut().cast(), RO.len(), 0), Err(EFAULT));
    rump_sys_close(c, fd).unwrap();
}

/// A pipe's ring read in the two pieces it wraps into (written and read
/// in uneven steps, so the bytes wrap around it again and again), and a
/// read into a bad pointer that takes nothing out. Non-blocking, so that
/// a wrong count fails rather than hangs.
fn pipes(c: &Client) {
    const O_NONBLOCK: i32 = 0o4000;
    let mut fds = [0i32; 2];
    rump_sys_pipe2(c, fds.as_mut_ptr(), O_NONBLOCK).unwrap();
    let (r, w) = (fds[0] as u32, fds[1] as u32);
    let stream = pattern(40 * 3000, 3);
    let mut got = vec![0u8; stream.len()];
    let (mut sent, mut read) = (0, 0);
    for _ in 0..40 {
        let step = &stream[sent..sent + 3000];
        assert_eq!(rump_sys_write(c, w, step.as_ptr().cast(), 3000), Ok(3000));
        sent += 3000;
        let n = rump_sys_read(c, r, got[read..].as_mut_ptr().cast(), 2500).unwrap() as usize;
        assert_eq!(n, 2500);
        read += n;
    }
    let nowhere = UNMAPPED as *mut libc::c_char;
    assert_eq!(rump_sys_read(c, r, nowhere, 100), Err(EFAULT));
    let rest = got.len() - read;
    assert_eq!(rump_sys_read(c, r, got[read..].as_mut_ptr().cast(), rest), Ok(rest as isize));
    assert!(got == stream, "a pipe's bytes come out in order, none lost");
    rump_sys_close(c, r).unwrap();
    rump_sys_close(c, w).unwrap();
}

#[test]
#[ignore = "run by the tests above, with RUMP_TRANSPORT set"]
fn data_path_helper() {
    let srv = start();
    let c = Client::connect(&srv.url, rumpclient::wire::handshake::Emulation::Linux, "data").unwrap();
    assert_eq!(c.shares_memory(), shm::wanted(), "the transport RUMP_TRANSPORT asks for");
    sizes_and_offsets(&c);
    holes(&c);
    read_and_write_move_the_offset(&c);
    vectored(&c);
    bad_pointers(&c);
    pipes(&c);
}
