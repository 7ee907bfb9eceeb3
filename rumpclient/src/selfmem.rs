//! The calling process's own memory as a client reads and writes it for
//! its calls, and as an in-process kernel sees it (`UserMemory`): through
//! process_vm_readv/process_vm_writev on itself, or in place once
//! `probe` has found the pages good, so an unmapped or read-only address
//! is EFAULT, as the host kernel would say, and never a crash of the
//! program whose pointer it was.

use crate::marshal::ClientMemory;
use crate::probe::{good_prefix, probe};
use rump_abi::native::errno::{EFAULT, ENAMETOOLONG};
use rump_abi::usermem::{load_pieces, store_pieces, total_len, uninit_len, UserMemory};
use rump_abi::{Errno, UserAddr};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Once;

pub struct SelfMemory;

pub(crate) const PAGE: u64 = 4096;

/// This process's id, asked once per process image and fork rather than
/// on every transfer (glibc does not cache getpid).
pub(crate) fn own_pid() -> libc::pid_t {
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

impl ClientMemory for SelfMemory {
    fn read(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        self.copy_in(addr, buf)
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
            self.copy_in(at, &mut out[start..])?;
            if let Some(nul) = out[start..].iter().position(|&b| b == 0) {
                out.truncate(start + nul + 1);
                break;
            }
        }
        Ok(out)
    }

    fn write(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        self.copy_out(addr, data)
    }

    fn writable_at(&self, addr: UserAddr) -> bool {
        probe(addr, 1, true).is_ok()
    }

    fn good_len(&self, addr: UserAddr, len: usize, writable: bool) -> usize {
        good_prefix(addr, len, writable)
    }
}

impl UserMemory for SelfMemory {
    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        if buf.is_empty() {
            return Ok(());
        }
        probe(addr, buf.len(), false)?;
        // SAFETY: every page of the range was found readable.
        unsafe { std::ptr::copy(addr.0 as *const u8, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        if data.is_empty() {
            return Ok(());
        }
        probe(addr, data.len(), true)?;
        // SAFETY: every page of the range was found writable.
        unsafe { std::ptr::copy(data.as_ptr(), addr.0 as *mut u8, data.len()) };
        Ok(())
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

    fn copy_out_pieces(&self, addr: UserAddr, pieces: &[&[u8]]) -> Result<(), Errno> {
        let len = total_len(pieces);
        if len == 0 {
            return Ok(());
        }
        probe(addr, len, true)?;
        // SAFETY: the range was just found writable.
        unsafe { store_pieces(addr.0 as *mut u8, pieces) };
        Ok(())
    }

    fn copy_in_pieces(&self, addr: UserAddr, pieces: &mut [&mut [MaybeUninit<u8>]]) -> Result<(), Errno> {
        let len = uninit_len(pieces);
        if len == 0 {
            return Ok(());
        }
        probe(addr, len, false)?;
        // SAFETY: the range was just found readable.
        unsafe { load_pieces(addr.0 as *const u8, pieces) };
        Ok(())
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
