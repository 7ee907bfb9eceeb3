//! Whether the program's memory at an address may be touched, found out
//! without trusting the pointer: a page is probed by reading (and for
//! writing, writing back) one of its bytes with process_vm_readv/writev on
//! this process, which report a fault as an error instead of taking it. A
//! page is readable or writable whole, so one byte answers for it.
//!
//! Probing costs a syscall (about 0.8 µs here, and the host pins each
//! page it touches: a 1 MiB buffer costs tens of µs), more than many
//! hooked calls themselves, so each thread remembers the last `KNOWN`
//! ranges of pages it found good (one probe's range each: a 1 MiB buffer
//! read into again and again is probed once) and does not probe them
//! again (a remembered range of several pages is checked to be still
//! mapped, which costs no pinning: `still_mapped`). The one way to still
//! crash is a program that write-protects memory (or maps read-only
//! memory where it had writable), or unmaps one page, and then hands the
//! library a pointer into it while this thread remembers it.

use crate::selfmem::{own_pid, PAGE};
use rump_abi::native::errno::EFAULT;
use rump_abi::usermem::in_user_range;
use rump_abi::{Errno, UserAddr};
use std::cell::Cell;

/// Ranges of pages remembered per thread.
const KNOWN: usize = 16;
/// Pages whose one byte a probe touches per syscall (the kernel's IOV_MAX).
const BATCH: usize = 1024;

/// Pages `first..=last` found readable, and writable too if `writable`.
#[derive(Clone, Copy)]
struct Good {
    first: u64,
    last: u64,
    writable: bool,
}

/// An entry that holds no page.
const NONE: Good = Good { first: u64::MAX, last: 0, writable: false };

/// The ranges one thread found good, oldest overwritten first.
struct Known {
    ranges: [Good; KNOWN],
    next: usize,
}

thread_local! {
    static GOOD: Cell<Known> = const { Cell::new(Known { ranges: [NONE; KNOWN], next: 0 }) };
}

/// Whether pages `first..=last` lie in one range this thread found good
/// (`Some`), and whether that range is of several pages (`Some(true)`).
#[inline]
fn is_known(first: u64, last: u64, writable: bool) -> Option<bool> {
    // SAFETY: this thread's own cell, read without copying it out; nothing
    // here can re-enter and write it meanwhile.
    GOOD.with(|g| unsafe { &(*g.as_ptr()).ranges })
        .iter()
        .find(|r| r.first <= first && last <= r.last && (!writable || r.writable))
        .map(|r| r.first != r.last)
}

fn remember(first: u64, last: u64, writable: bool) {
    // SAFETY: as in is_known, for writing.
    GOOD.with(|g| {
        let k = unsafe { &mut *g.as_ptr() };
        k.ranges[k.next] = Good { first, last, writable };
        k.next = (k.next + 1) % KNOWN;
    });
}

/// The first and last page `len` bytes at `addr` touch.
fn pages(addr: u64, len: usize) -> (u64, u64) {
    (addr / PAGE, (addr + len.max(1) as u64 - 1) / PAGE)
}

/// Checks that every page of `len` bytes at `addr` is readable, and with
/// `writable` writable too, so the range can be used in place: unless
/// this thread remembers them all, the pages are probed, one byte each,
/// read and (for writing) written back as it was. (A thread writing the
/// same buffer at that moment races with the call, as it would with the
/// host kernel filling it.)
pub fn probe(addr: UserAddr, len: usize, writable: bool) -> Result<(), Errno> {
    if !in_user_range(addr, len) {
        return Err(EFAULT);
    }
    let (first, last) = pages(addr.0, len);
    if is_known(first, last, writable).is_some_and(|several| !several || still_mapped(first, last)) {
        return Ok(());
    }
    let mut at = first;
    while at <= last {
        let batch: Vec<u64> = (at..=last).take(BATCH).collect();
        probe_pages(&batch, writable)?;
        at += batch.len() as u64;
    }
    remember(first, last, writable);
    Ok(())
}

/// Whether pages `first..=last` are all still mapped: a remembered range
/// of several pages (a large buffer, freed and mapped again by malloc
/// with a hole in it) is checked by one mincore, which pins nothing and
/// fails with ENOMEM where a page is not mapped.
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

/// How many of `len` bytes at `addr` come before the first page that is
/// not good (readable, and with `writable` writable): `len` if every page
/// is. A bad range is bisected, a probe per step.
pub fn good_prefix(addr: UserAddr, len: usize, writable: bool) -> usize {
    if probe(addr, len, writable).is_ok() {
        return len;
    }
    let (first, last) = pages(addr.0, len);
    // The first `good` pages are good; the first `bad` hold a bad one.
    let (mut good, mut bad) = (0, last - first + 1);
    let upto = |n: u64| ((first + n) * PAGE - addr.0) as usize;
    while bad - good > 1 {
        let mid = (good + bad) / 2;
        match probe(addr, upto(mid), writable) {
            Ok(()) => good = mid,
            Err(_) => bad = mid,
        }
    }
    if good == 0 {
        0
    } else {
        upto(good)
    }
}

/// Probes one byte of each of `pages` in one or two syscalls.
fn probe_pages(pages: &[u64], writable: bool) -> Result<(), Errno> {
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
        probe(UserAddr(at), 1, false)?;
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
