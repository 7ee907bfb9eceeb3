//! A client's memory reached in place from the server, with
//! `process_vm_readv`/`process_vm_writev` on the client's pid: the kernel
//! reads a write's data straight from the caller's buffer and a read's
//! data goes straight into it, one copy each way, without marshaling.
//! A range the client has not mapped is EFAULT, as for a host call.
//!
//! Only for a peer proven reachable at negotiation (same uid, and it read
//! back the cookie the client put in its memory). A file's data moves by
//! `copy_out_pieces`/`copy_in_pieces`: tmpfs hands over its pages; a
//! write's data lands in them with one system call per `BATCH` pages and
//! nothing in between, while a read's pages are gathered first (see
//! `copy_out_pieces` for why). What has no pages to hand
//! over (a pipe, a host file) goes through `with_out` and `with_in`, which
//! lend the call a buffer of the serving thread, kept between calls
//! (never zero-filled again) and bounded by `SCRATCH_MAX`: a longer
//! transfer is short, as a host read on a pipe may be.

use rump_abi::native::errno::{EFAULT, ENAMETOOLONG};
use rump_abi::usermem::{as_uninit, in_user_range, UserMemory};
use rump_abi::{Errno, UserAddr};
use std::cell::RefCell;
use std::mem::MaybeUninit;

/// Bytes one call moves through a serving thread's buffer at most.
pub const SCRATCH_MAX: usize = 4 << 20;
/// Bytes a string read asks for at once; a read never crosses a page it
/// does not need.
const STR_CHUNK: usize = 256;
/// Buffers of ours one process_vm_readv/writev names at most (the host
/// takes up to 1024): 1 MiB of a file's pages.
const BATCH: usize = 256;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The memory of the client process `pid`.
#[derive(Clone, Copy, Debug)]
pub struct PeerMemory {
    pub pid: i32,
}

impl PeerMemory {
    /// Moves bytes between the `local` buffers, one after another, and
    /// the client's memory from `addr` on, `BATCH` buffers per system
    /// call; true if all of them moved.
    fn transfer(&self, mut local: impl Iterator<Item = libc::iovec>, addr: UserAddr, write: bool) -> bool {
        let mut at = addr;
        loop {
            let mut batch = [const { MaybeUninit::<libc::iovec>::uninit() }; BATCH];
            let (mut n, mut len) = (0, 0usize);
            for v in local.by_ref().take(BATCH) {
                batch[n].write(v);
                n += 1;
                len += v.iov_len;
            }
            if n == 0 {
                return true;
            }
            if len == 0 {
                continue;
            }
            if !in_user_range(at, len) {
                return false;
            }
            let there = libc::iovec { iov_base: at.0 as *mut libc::c_void, iov_len: len };
            let nr = if write { libc::SYS_process_vm_writev } else { libc::SYS_process_vm_readv };
            let (pid, count, one, flags) =
                (libc::c_long::from(self.pid), n as libc::c_ulong, 1 as libc::c_ulong, 0 as libc::c_ulong);
            // SAFETY: the first `n` entries of `batch` were written and name
            // buffers of ours; the host checks `there`. Every argument is
            // passed full width (the counts are longs).
            let moved = unsafe {
                libc::syscall(
                    nr,
                    pid,
                    batch.as_ptr().cast::<libc::iovec>(),
                    count,
                    &there as *const libc::iovec,
                    one,
                    flags,
                )
            };
            if moved != len as libc::c_long {
                return false;
            }
            at = UserAddr(at.0 + len as u64);
        }
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
        self.copy_in_pieces(addr, &mut [as_uninit(buf)])
    }

    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        self.copy_out_pieces(addr, &[data])
    }

    /// Several pieces (a file's pages) are gathered into this thread's
    /// scratch buffer and written with one contiguous process_vm_writev
    /// per `SCRATCH_MAX`: the host copies scattered, cold pages into
    /// another process more slowly than a memcpy into a warm buffer
    /// followed by one contiguous copy (`cat` of a 256 MiB file measured
    /// both ways). One piece goes straight from where it is.
    fn copy_out_pieces(&self, addr: UserAddr, pieces: &[&[u8]]) -> Result<(), Errno> {
        // process_vm_writev only reads from the local buffers.
        let iovec = |p: &[u8]| libc::iovec { iov_base: p.as_ptr().cast_mut().cast(), iov_len: p.len() };
        if pieces.len() <= 1 {
            return self.transfer(pieces.iter().map(|p| iovec(p)), addr, true).then_some(()).ok_or(EFAULT);
        }
        let total: usize = pieces.iter().map(|p| p.len()).sum();
        Self::with_scratch(total, |buf| {
            let (mut at, mut filled) = (addr, 0);
            let flush = |gathered: &[u8], at: &mut UserAddr| -> Result<(), Errno> {
                if !self.transfer(std::iter::once(iovec(gathered)), *at, true) {
                    return Err(EFAULT);
                }
                *at = at.offset(gathered.len() as u64).ok_or(EFAULT)?;
                Ok(())
            };
            for p in pieces {
                let mut rest = *p;
                while !rest.is_empty() {
                    let n = rest.len().min(buf.len() - filled);
                    buf[filled..filled + n].copy_from_slice(&rest[..n]);
                    (filled, rest) = (filled + n, &rest[n..]);
                    if filled == buf.len() {
                        flush(&buf[..filled], &mut at)?;
                        filled = 0;
                    }
                }
            }
            if filled > 0 {
                flush(&buf[..filled], &mut at)?;
            }
            Ok(())
        })
    }

    /// One process_vm_readv per `BATCH` pieces, from the client's buffer
    /// into the pieces themselves.
    fn copy_in_pieces(&self, addr: UserAddr, pieces: &mut [&mut [MaybeUninit<u8>]]) -> Result<(), Errno> {
        let local = pieces.iter_mut().map(|p| libc::iovec { iov_base: p.as_mut_ptr().cast(), iov_len: p.len() });
        self.transfer(local, addr, false).then_some(()).ok_or(EFAULT)
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
