//! The calling process's own memory as a client reads and writes it for
//! its calls, and as an in-process kernel sees it (`UserMemory`): through
//! process_vm_readv/process_vm_writev on itself, so an unmapped or
//! read-only address is EFAULT, as the host kernel would say, and never a
//! crash of the program whose pointer it was.

use crate::marshal::ClientMemory;
use rump_abi::native::errno::{EFAULT, ENAMETOOLONG};
use rump_abi::usermem::{in_user_range, UserMemory};
use rump_abi::{Errno, UserAddr};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Once;

pub struct SelfMemory;

const PAGE: u64 = 4096;

/// Moves `len` bytes between `local` and the address `remote` of this
/// process, all or nothing.
fn transfer(local: *mut u8, remote: UserAddr, len: usize, write: bool) -> Result<(), Errno> {
    if len == 0 {
        return Ok(());
    }
    if !in_user_range(remote, len) {
        return Err(EFAULT);
    }
    let l = libc::iovec { iov_base: local.cast(), iov_len: len };
    let r = libc::iovec { iov_base: remote.0 as *mut libc::c_void, iov_len: len };
    // SAFETY: `local` is our own buffer of `len` bytes; the host kernel
    // checks `remote` and reports a fault instead of taking it.
    let n = unsafe {
        let pid = own_pid();
        if write {
            libc::process_vm_writev(pid, &l, 1, &r, 1, 0)
        } else {
            libc::process_vm_readv(pid, &l, 1, &r, 1, 0)
        }
    };
    if n == len as isize {
        Ok(())
    } else {
        Err(EFAULT)
    }
}

/// This process's id, asked once per process image and fork rather than
/// on every transfer (glibc does not cache getpid).
fn own_pid() -> libc::pid_t {
    static PID: AtomicI32 = AtomicI32::new(0);
    static AT_FORK: Once = Once::new();
    extern "C" fn forget() {
        PID.store(0, Ordering::Relaxed);
    }
    let pid = PID.load(Ordering::Relaxed);
    if pid != 0 {
        return pid;
    }
    // SAFETY: registers a handler that only clears an atomic.
    AT_FORK.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(forget));
    });
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// The NUL-terminated string at `p`, checked to lie in readable memory
/// first: one probe of a byte per page the string touches (a page is
/// readable whole or not at all), then the scan reads in place. EFAULT for
/// NULL, an address outside user space, or an unmapped page.
///
/// # Safety
/// The memory must not be unmapped by another thread while the returned
/// string is in use (a program that does so races with itself, as it
/// would with the host kernel).
pub unsafe fn c_str<'a>(p: *const libc::c_char) -> Result<&'a std::ffi::CStr, Errno> {
    let start = p as u64;
    let mut at = start;
    loop {
        let mut probe = 0u8;
        transfer(&mut probe, UserAddr(at), 1, false)?;
        let page_end = (at / PAGE + 1) * PAGE;
        // SAFETY: [at, page_end) is one readable page's tail.
        let tail = unsafe { std::slice::from_raw_parts(at as *const u8, (page_end - at) as usize) };
        if let Some(nul) = tail.iter().position(|&b| b == 0) {
            let len = (at - start) as usize + nul + 1;
            // SAFETY: every page of [start, start + len) was probed.
            return Ok(unsafe {
                std::ffi::CStr::from_bytes_with_nul_unchecked(std::slice::from_raw_parts(p.cast(), len))
            });
        }
        at = page_end;
    }
}

impl ClientMemory for SelfMemory {
    fn read(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        transfer(buf.as_mut_ptr(), addr, buf.len(), false)
    }

    /// Reads a page at a time, so a string ending just before an unmapped
    /// page is still read whole.
    fn read_str(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        while out.len() < max {
            let at = addr.offset(out.len() as u64).ok_or(EFAULT)?;
            let chunk = ((PAGE - at.0 % PAGE) as usize).min(max - out.len());
            let start = out.len();
            out.resize(start + chunk, 0);
            transfer(out[start..].as_mut_ptr(), at, chunk, false)?;
            if let Some(nul) = out[start..].iter().position(|&b| b == 0) {
                out.truncate(start + nul + 1);
                break;
            }
        }
        Ok(out)
    }

    fn write(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        transfer(data.as_ptr().cast_mut(), addr, data.len(), true)
    }
}

/// Pages whose one byte a probe touches per syscall (the kernel's IOV_MAX).
const PROBE_BATCH: usize = 1024;

/// Checks that every page of `len` bytes at `addr` is readable, and with
/// `writable` writable too, so the range can be lent as a slice: one byte
/// of each page is read, and written back as it was. (A thread writing
/// the same buffer at that moment races with the call, as it would with
/// the host kernel filling it.)
fn probe(addr: UserAddr, len: usize, writable: bool) -> Result<(), Errno> {
    if !in_user_range(addr, len) {
        return Err(EFAULT);
    }
    let end = addr.0 + len as u64;
    let pages = std::iter::once(addr.0).chain((addr.0 / PAGE + 1..).map(|p| p * PAGE).take_while(|&a| a < end));
    let mut remote = Vec::with_capacity(PROBE_BATCH);
    let mut bytes = [0u8; PROBE_BATCH];
    let mut run = |remote: &mut Vec<libc::iovec>| -> Result<(), Errno> {
        let n = remote.len();
        let local = libc::iovec { iov_base: bytes.as_mut_ptr().cast(), iov_len: n };
        // SAFETY: `local` is our buffer of n bytes; the host kernel checks
        // each remote byte and reports a fault instead of taking it.
        let moved = unsafe {
            let pid = own_pid();
            let r = libc::process_vm_readv(pid, &local, 1, remote.as_ptr(), n as libc::c_ulong, 0);
            if r == n as isize && writable {
                libc::process_vm_writev(pid, &local, 1, remote.as_ptr(), n as libc::c_ulong, 0)
            } else {
                r
            }
        };
        remote.clear();
        if moved == n as isize {
            Ok(())
        } else {
            Err(EFAULT)
        }
    };
    for page in pages {
        remote.push(libc::iovec { iov_base: page as *mut libc::c_void, iov_len: 1 });
        if remote.len() == PROBE_BATCH {
            run(&mut remote)?;
        }
    }
    if remote.is_empty() {
        Ok(())
    } else {
        run(&mut remote)
    }
}

impl UserMemory for SelfMemory {
    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        transfer(buf.as_mut_ptr(), addr, buf.len(), false)
    }

    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        transfer(data.as_ptr().cast_mut(), addr, data.len(), true)
    }

    fn copy_in_str(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        let mut s = self.read_str(addr, max)?;
        match s.pop() {
            Some(0) => Ok(s),
            _ => Err(ENAMETOOLONG),
        }
    }

    /// The caller's buffer itself, once each of its pages is known to be
    /// writable, so a read needs no second copy.
    fn with_out(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&mut [u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        if len == 0 {
            return f(&mut []);
        }
        probe(addr, len, true)?;
        // SAFETY: every page of the range was just found writable; the
        // slice is lent to `f` only for this call.
        f(unsafe { std::slice::from_raw_parts_mut(addr.0 as *mut u8, len) })
    }

    fn with_in(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&[u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        if len == 0 {
            return f(&[]);
        }
        probe(addr, len, false)?;
        // SAFETY: as in with_out, for reading.
        f(unsafe { std::slice::from_raw_parts(addr.0 as *const u8, len) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_instead_of_crashing() {
        let mut buf = [0u8; 8];
        // Mapped, but nothing there: the first page past a fresh mapping.
        let unmapped = UserAddr(0x1000);
        assert_eq!(SelfMemory.read(unmapped, &mut buf), Err(EFAULT));
        assert_eq!(SelfMemory.write(unmapped, b"x"), Err(EFAULT));
        assert_eq!(SelfMemory.read_str(unmapped, 8), Err(EFAULT));
        // Read-only memory cannot be written.
        static RO: [u8; 4] = *b"abc\0";
        assert_eq!(SelfMemory.write(UserAddr(RO.as_ptr() as u64), b"x"), Err(EFAULT));
        assert_eq!(SelfMemory.read_str(UserAddr(RO.as_ptr() as u64), 16), Ok(b"abc\0".to_vec()));
        let mut data = *b"hello";
        SelfMemory.write(UserAddr(data.as_mut_ptr() as u64), b"J").unwrap();
        SelfMemory.read(UserAddr(data.as_ptr() as u64), &mut buf[..5]).unwrap();
        assert_eq!(&buf[..5], b"Jello");
    }
}
