//! A client's memory reached in place from the server, with
//! `process_vm_readv`/`process_vm_writev` on the client's pid: the kernel
//! reads a write's data straight from the caller's buffer and a read's
//! data goes straight into it, one copy each way, without marshaling.
//! A range the client has not mapped is EFAULT, as for a host call.
//!
//! Only for a peer proven reachable at negotiation (same uid, and it read
//! back the cookie the client put in its memory). `with_out` and `with_in`
//! lend the call a buffer of the serving thread, kept between calls (never
//! zero-filled again) and bounded by `SCRATCH_MAX`: a longer transfer is
//! short, as a host read on a pipe may be.

use rump_abi::native::errno::{EFAULT, ENAMETOOLONG};
use rump_abi::usermem::{in_user_range, UserMemory};
use rump_abi::{Errno, UserAddr};
use std::cell::RefCell;

/// Bytes one call moves through a serving thread's buffer at most.
pub const SCRATCH_MAX: usize = 4 << 20;
/// Bytes a string read asks for at once; a read never crosses a page it
/// does not need.
const STR_CHUNK: usize = 256;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The memory of the client process `pid`.
#[derive(Clone, Copy, Debug)]
pub struct PeerMemory {
    pub pid: i32,
}

impl PeerMemory {
    /// Moves `len` bytes between `local` and the client's `addr`; true if
    /// all of them moved.
    fn transfer(&self, local: *mut u8, addr: UserAddr, len: usize, write: bool) -> bool {
        if len == 0 {
            return true;
        }
        if !in_user_range(addr, len) {
            return false;
        }
        let here = libc::iovec { iov_base: local.cast(), iov_len: len };
        let there = libc::iovec { iov_base: addr.0 as *mut libc::c_void, iov_len: len };
        let nr = if write { libc::SYS_process_vm_writev } else { libc::SYS_process_vm_readv };
        let (pid, one, flags) = (libc::c_long::from(self.pid), 1 as libc::c_ulong, 0 as libc::c_ulong);
        // SAFETY: `here` names `len` bytes of ours; the host checks `there`.
        // Every argument is passed full width (the counts are longs).
        let n = unsafe {
            libc::syscall(nr, pid, &here as *const libc::iovec, one, &there as *const libc::iovec, one, flags)
        };
        n == len as libc::c_long
    }

    /// Lends `f` `len` bytes (at most `SCRATCH_MAX`) of this thread's buffer.
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let len = len.min(SCRATCH_MAX);
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut buf) => {
                if buf.len() < len {
                    buf.resize(len, 0);
                }
                f(&mut buf[..len])
            }
            // A call inside a call on this thread: a buffer of its own.
            Err(_) => f(&mut vec![0u8; len]),
        })
    }
}

impl UserMemory for PeerMemory {
    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        self.transfer(buf.as_mut_ptr(), addr, buf.len(), false).then_some(()).ok_or(EFAULT)
    }

    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        // process_vm_writev only reads from the local buffer.
        self.transfer(data.as_ptr().cast_mut(), addr, data.len(), true).then_some(()).ok_or(EFAULT)
    }

    fn copy_in_str(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        while out.len() < max {
            let at = UserAddr(addr.0.wrapping_add(out.len() as u64));
            // Up to the chunk size, never past the page `at` is on.
            let to_page = 4096 - (at.0 as usize & 4095);
            let want = STR_CHUNK.min(to_page).min(max - out.len());
            let mut chunk = [0u8; STR_CHUNK];
            self.copy_in(at, &mut chunk[..want])?;
            if let Some(nul) = chunk[..want].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..want]);
        }
        Err(ENAMETOOLONG)
    }

    fn with_out(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&mut [u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        if len > 0 && !in_user_range(addr, len.min(SCRATCH_MAX)) {
            return Err(EFAULT);
        }
        Self::with_scratch(len, |buf| {
            let n = f(buf)?.min(buf.len());
            self.copy_out(addr, &buf[..n])?;
            Ok(n)
        })
    }

    fn with_in(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&[u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        Self::with_scratch(len, |buf| {
            self.copy_in(addr, buf)?;
            f(buf)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_a_process_in_place() {
        // SAFETY: getpid cannot fail.
        let me = PeerMemory { pid: unsafe { libc::getpid() } };
        let src = *b"in place\0tail";
        let mut got = [0u8; 8];
        me.copy_in(UserAddr(src.as_ptr() as u64), &mut got).unwrap();
        assert_eq!(&got, b"in place");
        assert_eq!(me.copy_in_str(UserAddr(src.as_ptr() as u64), 64), Ok(b"in place".to_vec()));
        assert_eq!(me.copy_in_str(UserAddr(src.as_ptr() as u64), 4), Err(ENAMETOOLONG));
        let mut dst = [0u8; 4];
        me.copy_out(UserAddr(dst.as_mut_ptr() as u64), b"abcd").unwrap();
        assert_eq!(&dst, b"abcd");
        assert_eq!(me.copy_in(UserAddr(8192), &mut got), Err(EFAULT));
    }
}
