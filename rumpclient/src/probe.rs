//! Whether the program's memory at an address may be touched, found out
//! without trusting the pointer: a page is probed by reading one of its
//! bytes with process_vm_readv on this process, which reports a fault as
//! an error instead of taking it, and for writing by faulting it in as a
//! write would (madvise MADV_POPULATE_WRITE), which writes nothing. A page
//! is readable or writable whole, so one byte answers for it.
//!
//! Probing costs a syscall (about 0.8 µs here), more than many hooked calls
//! themselves, so each thread remembers the last `KNOWN` pages it found
//! good and does not probe them again. The one way to still crash is a
//! program that unmaps or write-protects memory and then hands the library
//! a pointer into it (a use after free) while this thread remembers the
//! page.
//!
//! The buffer of a read or write through a lane of the shared-memory
//! transport would need hundreds of probes, each pinning a page: 1 MiB
//! costs more than 100 µs here. `probe_buffer` remembers such a buffer as
//! one range instead (the last `RANGES` per thread) and checks that it is
//! still mapped with one mincore, which pins nothing; what that cannot see
//! is a buffer freed and its place mapped again without write access,
//! then handed to the library as a pointer into it.

use crate::selfmem::{own_pid, PAGE};
use rump_abi::native::errno::EFAULT;
use rump_abi::usermem::in_user_range;
use rump_abi::{Errno, UserAddr};
use std::cell::Cell;

/// Pages remembered per thread.
const KNOWN: usize = 16;
/// Pages whose one byte a probe touches per syscall (the kernel's IOV_MAX).
const BATCH: usize = 1024;

/// The pages one thread found good, oldest overwritten first.
struct Known {
    /// Page numbers shifted left once, the low bit set when found
    /// writable too; u64::MAX is an empty slot.
    pages: [u64; KNOWN],
    next: usize,
}

thread_local! {
    static GOOD: Cell<Known> = const { Cell::new(Known { pages: [u64::MAX; KNOWN], next: 0 }) };
}

#[inline]
fn is_known(page: u64, writable: bool) -> bool {
    // SAFETY: this thread's own cell, read without copying it out; nothing
    // here can re-enter and write it meanwhile.
    GOOD.with(|g| unsafe { &(*g.as_ptr()).pages }.iter().any(|&e| e >> 1 == page && (!writable || e & 1 == 1)))
}

fn remember(page: u64, writable: bool) {
    // SAFETY: as in is_known, for writing.
    GOOD.with(|g| {
        let k = unsafe { &mut *g.as_ptr() };
        k.pages[k.next] = page << 1 | writable as u64;
        k.next = (k.next + 1) % KNOWN;
    });
}

/// The first and last page `len` bytes at `addr` touch.
fn span(addr: u64, len: usize) -> (u64, u64) {
    (addr / PAGE, (addr + len.max(1) as u64 - 1) / PAGE)
}

/// The pages `len` bytes at `addr` touch.
fn pages(addr: u64, len: usize) -> impl Iterator<Item = u64> {
    let (first, last) = span(addr, len);
    first..=last
}

/// Checks that every page of `len` bytes at `addr` is readable, and with
/// `writable` writable too, so the range can be used in place: the pages
/// this thread does not remember are probed (`probe_pages`).
pub fn probe(addr: UserAddr, len: usize, writable: bool) -> Result<(), Errno> {
    if !in_user_range(addr, len) {
        return Err(EFAULT);
    }
    let mut unknown = pages(addr.0, len).filter(|&p| !is_known(p, writable)).peekable();
    while unknown.peek().is_some() {
        let batch: Vec<u64> = unknown.by_ref().take(BATCH).collect();
        probe_pages(&batch, writable)?;
        batch.iter().for_each(|&p| remember(p, writable));
    }
    Ok(())
}

/// Buffers remembered whole per thread (`probe_buffer`).
const RANGES: usize = 8;

/// Pages `first..=last` found readable, and writable too if `writable`.
#[derive(Clone, Copy)]
struct Range {
    first: u64,
    last: u64,
    writable: bool,
}

/// An entry that holds no page.
const NO_RANGE: Range = Range { first: u64::MAX, last: 0, writable: false };

thread_local! {
    /// The buffers one thread found good, oldest overwritten first.
    static BUFFERS: Cell<([Range; RANGES], usize)> = const { Cell::new(([NO_RANGE; RANGES], 0)) };
}

/// As `probe`, for a large buffer: remembered whole, and while it is, a
/// mincore checking it is still mapped stands for the probe.
pub fn probe_buffer(addr: UserAddr, len: usize, writable: bool) -> Result<(), Errno> {
    if !in_user_range(addr, len) {
        return Err(EFAULT);
    }
    let (first, last) = span(addr.0, len);
    let known =
        BUFFERS.with(|b| b.get().0.iter().any(|r| r.first <= first && last <= r.last && (!writable || r.writable)));
    if known && still_mapped(first, last) {
        return Ok(());
    }
    probe_range(first, last, writable)?;
    BUFFERS.with(|b| {
        let (mut ranges, next) = b.get();
        ranges[next] = Range { first, last, writable };
        b.set((ranges, (next + 1) % RANGES));
    });
    Ok(())
}

/// Whether pages `first..=last` are all still mapped: one mincore per
/// `CHUNK` pages, which fails with ENOMEM where a page is not.
fn still_mapped(first: u64, last: u64) -> bool {
    const CHUNK: u64 = 1024;
    let mut residency = [0u8; CHUNK as usize];
    let mut at = first;
    while at <= last {
        let n = (last + 1 - at).min(CHUNK);
        // SAFETY: mincore writes one byte per page of the range, `n` <= CHUNK.
        let r = unsafe { libc::syscall(libc::SYS_mincore, at * PAGE, n * PAGE, residency.as_mut_ptr()) };
        if r != 0 {
            return false;
        }
        at += n;
    }
    true
}

/// Probes pages `first..=last`, `BATCH` at a time, remembering nothing.
fn probe_range(first: u64, last: u64, writable: bool) -> Result<(), Errno> {
    let mut at = first;
    while at <= last {
        let batch: Vec<u64> = (at..=last).take(BATCH).collect();
        probe_pages(&batch, writable)?;
        at += batch.len() as u64;
    }
    Ok(())
}

/// How many of `len` bytes at `addr` come before the first page that is
/// not good (readable, and with `writable` writable): `len` if every page
/// is. A bad range is bisected, a probe per step; the steps are not
/// remembered (the program's pointer is wrong, or its memory changing).
pub fn good_prefix(addr: UserAddr, len: usize, writable: bool) -> usize {
    if probe(addr, len, writable).is_ok() {
        return len;
    }
    let (first, last) = span(addr.0, len);
    // The first `good` pages are good; the first `bad` hold a bad one.
    let (mut good, mut bad) = (0, last - first + 1);
    while bad - good > 1 {
        let mid = (good + bad) / 2;
        match probe_range(first, first + mid - 1, writable) {
            Ok(()) => good = mid,
            Err(_) => bad = mid,
        }
    }
    match good {
        0 => 0,
        _ => ((first + good) * PAGE - addr.0) as usize,
    }
}

/// madvise advice (Linux 5.14): fault the range in as a write would, but
/// change no byte of it. Not in the libc crate yet.
const MADV_POPULATE_WRITE: libc::c_int = 23;

/// Whether this host kernel knows MADV_POPULATE_WRITE, asked once of the
/// page of this thread's stack that holds a local.
fn populate_write_known() -> bool {
    static KNOWN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *KNOWN.get_or_init(|| {
        let local = 0u8;
        let page = std::ptr::addr_of!(local) as u64 / PAGE * PAGE;
        // SAFETY: advice on a page of our own stack; no byte changes.
        unsafe { libc::madvise(page as *mut libc::c_void, PAGE as usize, MADV_POPULATE_WRITE) == 0 }
    })
}

/// Probes each of `pages`. Readable: one byte of each read with one
/// process_vm_readv. Writable: each run of consecutive pages faulted in
/// for writing by one madvise, which fails (EINVAL, ENOMEM, EFAULT) where
/// a write would fault and writes nothing. Writing a byte back as it was
/// read would not do: another thread's write to that byte between the two
/// would be undone (a malloc header at the start of a page, say). Only a
/// kernel without the advice (before 5.14) is probed that way.
fn probe_pages(pages: &[u64], writable: bool) -> Result<(), Errno> {
    if writable && populate_write_known() {
        let mut rest = pages;
        while let Some(&first) = rest.first() {
            let run = rest.iter().zip(first..).take_while(|(&p, q)| p == *q).count();
            // SAFETY: advice on a range of pages; the host kernel checks
            // the range and touches no byte of it.
            if unsafe { libc::madvise((first * PAGE) as *mut libc::c_void, run * PAGE as usize, MADV_POPULATE_WRITE) }
                != 0
            {
                return Err(EFAULT);
            }
            rest = &rest[run..];
        }
        return Ok(());
    }
    let remote: Vec<libc::iovec> =
        pages.iter().map(|&p| libc::iovec { iov_base: (p * PAGE) as *mut libc::c_void, iov_len: 1 }).collect();
    let mut bytes = vec![0u8; pages.len()];
    let local = libc::iovec { iov_base: bytes.as_mut_ptr().cast(), iov_len: bytes.len() };
    let n = pages.len() as libc::c_ulong;
    // SAFETY: `local` is our buffer of n bytes; the host kernel checks
    // each remote byte and reports a fault instead of taking it.
    let moved = unsafe {
        let pid = own_pid();
        let r = libc::process_vm_readv(pid, &local, 1, remote.as_ptr(), n, 0);
        if r == n as isize && writable {
            libc::process_vm_writev(pid, &local, 1, remote.as_ptr(), n, 0)
        } else {
            r
        }
    };
    if moved == n as isize {
        Ok(())
    } else {
        Err(EFAULT)
    }
}

/// The NUL-terminated string at `p`, each page it touches found readable
/// before it is scanned in place. EFAULT for NULL, an address outside user
/// space, or an unreadable page.
///
/// # Safety
/// The memory must not be unmapped by another thread while the returned
/// string is in use (a program that does so races with itself, as it
/// would with the host kernel).
pub unsafe fn c_str<'a>(p: *const libc::c_char) -> Result<&'a std::ffi::CStr, Errno> {
    let start = p as u64;
    let mut at = start;
    loop {
        if !is_known(at / PAGE, false) {
            probe(UserAddr(at), 1, false)?;
        }
        let page_end = (at / PAGE + 1) * PAGE;
        // SAFETY: [at, page_end) is the tail of a readable page.
        let tail = unsafe { std::slice::from_raw_parts(at as *const u8, (page_end - at) as usize) };
        if let Some(nul) = tail.iter().position(|&b| b == 0) {
            let len = (at - start) as usize + nul + 1;
            // SAFETY: every page of [start, start + len) is readable.
            return Ok(unsafe {
                std::ffi::CStr::from_bytes_with_nul_unchecked(std::slice::from_raw_parts(p.cast(), len))
            });
        }
        at = page_end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    /// A writability probe never undoes another thread's write to the
    /// page it probes (a read-and-write-back probe lost some of these).
    #[test]
    fn probing_for_writing_loses_no_concurrent_write() {
        #[repr(align(4096))]
        struct Page(AtomicU64);
        let page = Box::new(Page(AtomicU64::new(0)));
        let addr = &page.0 as *const AtomicU64 as u64;
        let stop = AtomicBool::new(false);
        let bumps = std::thread::scope(|s| {
            let bumper = s.spawn(|| {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    page.0.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
                n
            });
            for _ in 0..20_000 {
                probe_range(addr / PAGE, addr / PAGE, true).unwrap();
            }
            stop.store(true, Ordering::Relaxed);
            bumper.join().unwrap()
        });
        assert_eq!(page.0.load(Ordering::Relaxed), bumps);
    }

    #[test]
    fn read_only_and_unmapped_pages_are_not_writable() {
        static RO: [u8; 4] = *b"abc\0";
        assert_eq!(probe(UserAddr(RO.as_ptr() as u64), 4, true), Err(EFAULT));
        assert_eq!(probe(UserAddr(RO.as_ptr() as u64), 4, false), Ok(()));
        assert_eq!(probe(UserAddr(0x1000), 1, false), Err(EFAULT));
        let mut here = [0u8; 64];
        assert_eq!(probe(UserAddr(here.as_mut_ptr() as u64), 64, true), Ok(()));
        assert_eq!(good_prefix(UserAddr(here.as_mut_ptr() as u64), 64, true), 64);
    }
}
