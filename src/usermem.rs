//! Access to a caller's memory. Kernel handlers never touch a user address
//! directly: they go through `UserMemory`, whose implementations are this
//! process (`LocalMemory`), a request's marshaled buffers, or a remote
//! client's copy-in/copy-out. A bad address is EFAULT, never a crash.

use crate::native::errno::{EFAULT, ENAMETOOLONG};
use crate::{Errno, UserAddr};
use core::mem::MaybeUninit;

pub trait UserMemory {
    /// Copies `buf.len()` bytes in from `addr`.
    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno>;
    /// Copies `data` out to `addr`.
    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno>;
    /// Copies in a NUL-terminated string of at most `max` bytes including
    /// the NUL (ENAMETOOLONG if longer); the NUL is not returned.
    fn copy_in_str(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno>;

    /// Lends `f` a writable view of `len` bytes at `addr`; `f` returns how
    /// many it filled. In-process this is the caller's buffer itself, so a
    /// read needs no second copy; elsewhere it is a bounce buffer.
    fn with_out(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&mut [u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        if addr.is_null() && len > 0 {
            return Err(EFAULT);
        }
        let mut buf = vec![0u8; len];
        let n = f(&mut buf)?;
        self.copy_out(addr, &buf[..n.min(len)])?;
        Ok(n)
    }

    /// Lends `f` a read-only view of `len` bytes at `addr`.
    fn with_in(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&[u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        let mut buf = vec![0u8; len];
        self.copy_in(addr, &mut buf)?;
        f(&buf)
    }

    /// Copies `pieces`, one after another, out to `addr`: a file's pages
    /// go straight into the caller's buffer, wherever the caller is, with
    /// one copy. All of them or EFAULT (some may have landed).
    fn copy_out_pieces(&self, addr: UserAddr, pieces: &[&[u8]]) -> Result<(), Errno> {
        let mut at = addr;
        for p in pieces {
            self.copy_out(at, p)?;
            at = at.offset(p.len() as u64).ok_or(EFAULT)?;
        }
        Ok(())
    }

    /// Fills `pieces`, one after another, from `addr`: a write's data goes
    /// straight into a file's pages, which may be fresh and never zeroed.
    /// All of them or EFAULT (some may have been filled). The default
    /// reads through a buffer, so that it fills none on EFAULT.
    fn copy_in_pieces(&self, addr: UserAddr, pieces: &mut [&mut [MaybeUninit<u8>]]) -> Result<(), Errno> {
        let mut buf = vec![0u8; uninit_len(pieces)];
        self.copy_in(addr, &mut buf)?;
        // SAFETY: `buf` holds the pieces' total length.
        unsafe { load_pieces(buf.as_ptr(), pieces) };
        Ok(())
    }
}

/// Initialised bytes seen as pieces that may be uninitialised, to be
/// filled by `copy_in_pieces`, which only ever writes initialised bytes.
pub fn as_uninit(bytes: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; `copy_in_pieces`, the one writer through the
    // result, only ever stores bytes it copied.
    unsafe { &mut *(bytes as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// Copies `pieces`, one after another, to `to`.
///
/// # Safety
/// `to` must be writable for the pieces' total length.
pub unsafe fn store_pieces(mut to: *mut u8, pieces: &[&[u8]]) {
    for p in pieces {
        unsafe {
            core::ptr::copy(p.as_ptr(), to, p.len());
            to = to.add(p.len());
        }
    }
}

/// Fills `pieces`, one after another, from `from`.
///
/// # Safety
/// `from` must be readable for the pieces' total length.
pub unsafe fn load_pieces(mut from: *const u8, pieces: &mut [&mut [MaybeUninit<u8>]]) {
    for p in pieces.iter_mut() {
        unsafe {
            core::ptr::copy(from, p.as_mut_ptr().cast::<u8>(), p.len());
            from = from.add(p.len());
        }
    }
}

/// Bytes in `pieces`.
pub fn total_len(pieces: &[&[u8]]) -> usize {
    pieces.iter().map(|p| p.len()).sum()
}

/// Bytes in `pieces` to be filled.
pub fn uninit_len(pieces: &[&mut [MaybeUninit<u8>]]) -> usize {
    pieces.iter().map(|p| p.len()).sum()
}

/// Reads a plain-old-data struct through a trait object.
pub fn read_pod<T: crate::pod::Pod>(mem: &dyn UserMemory, addr: UserAddr) -> Result<T, Errno> {
    let mut v = T::default();
    mem.copy_in(addr, v.as_bytes_mut())?;
    Ok(v)
}

/// Writes a plain-old-data struct through a trait object.
pub fn write_pod<T: crate::pod::Pod>(mem: &dyn UserMemory, addr: UserAddr, v: &T) -> Result<(), Errno> {
    mem.copy_out(addr, v.as_bytes())
}

/// The calling process's own memory, for the in-process kernel.
///
/// Addresses are checked the way a kernel checks a user range before it
/// touches it: NULL, the first page, ranges that wrap and ranges beyond the
/// user half of the address space are EFAULT.
pub struct LocalMemory;

/// The lowest address a buffer may start at: the zero page is never mapped.
const USER_MIN: u64 = 4096;
/// The end of the x86-64 user address space.
const USER_END: u64 = 0x0000_8000_0000_0000;

/// Whether `len` bytes at `addr` could be user memory at all: not in the
/// zero page, not past the user half, not wrapping. Callers that reach
/// memory at a cost (a remote client) check this first.
pub fn in_user_range(addr: UserAddr, len: usize) -> bool {
    check_range(addr, len).is_ok()
}

fn check_range(addr: UserAddr, len: usize) -> Result<*mut u8, Errno> {
    let end = addr.0.checked_add(len as u64).ok_or(EFAULT)?;
    if addr.0 < USER_MIN || end > USER_END {
        return Err(EFAULT);
    }
    Ok(addr.0 as *mut u8)
}

impl UserMemory for LocalMemory {
    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        if buf.is_empty() {
            return Ok(());
        }
        let p = check_range(addr, buf.len())?;
        // SAFETY: the range passed the user-range check; the caller of the
        // syscall vouches for its own pointers, as with a real kernel call.
        unsafe { core::ptr::copy(p, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        if data.is_empty() {
            return Ok(());
        }
        let p = check_range(addr, data.len())?;
        // SAFETY: as in copy_in.
        unsafe { core::ptr::copy(data.as_ptr(), p, data.len()) };
        Ok(())
    }

    fn copy_in_str(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        while out.len() < max {
            let p = check_range(addr.offset(out.len() as u64).ok_or(EFAULT)?, 1)?;
            // SAFETY: one byte inside the checked user range.
            match unsafe { *p } {
                0 => return Ok(out),
                b => out.push(b),
            }
        }
        Err(ENAMETOOLONG)
    }

    fn with_out(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&mut [u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        if len == 0 {
            return f(&mut []);
        }
        let p = check_range(addr, len)?;
        // SAFETY: checked user range; lent to `f` only for this call.
        let slice = unsafe { core::slice::from_raw_parts_mut(p, len) };
        f(slice)
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
        let p = check_range(addr, len)?;
        // SAFETY: as in with_out.
        let slice = unsafe { core::slice::from_raw_parts(p as *const u8, len) };
        f(slice)
    }

    fn copy_out_pieces(&self, addr: UserAddr, pieces: &[&[u8]]) -> Result<(), Errno> {
        let len = total_len(pieces);
        if len == 0 {
            return Ok(());
        }
        let to = check_range(addr, len)?;
        // SAFETY: the checked range, as in copy_out.
        unsafe { store_pieces(to, pieces) };
        Ok(())
    }

    fn copy_in_pieces(&self, addr: UserAddr, pieces: &mut [&mut [MaybeUninit<u8>]]) -> Result<(), Errno> {
        let len = uninit_len(pieces);
        if len == 0 {
            return Ok(());
        }
        let from = check_range(addr, len)?;
        // SAFETY: the checked range, as in copy_in.
        unsafe { load_pieces(from, pieces) };
        Ok(())
    }
}
