//! A tmpfs file's pages moved straight to and from a caller's memory: a
//! read hands the caller's `UserMemory` the pages themselves (a hole as a
//! page of zeros), a write has it fill them, fresh pages included, which
//! are never zeroed where the write covers them. However far away the
//! caller is, the data is copied once: in process by memcpy, for a client
//! in another process by one process_vm_writev/readv between its buffer
//! and these pages, where a bounce buffer would cost a second copy.
//!
//! Pages go `PIECES` at a time, so that no call allocates a list of them
//! and a remote copy is one system call per MiB. A bad address is EFAULT
//! before any byte moved, and a short count after some did, as a host
//! read or write stopping at the fault would be.

use super::{Pages, Space, PAGE, PAGE_SIZE};
use rump_abi::native::errno::{EFAULT, EIO, ENOSPC};
use rump_abi::usermem::{as_uninit, UserMemory};
use rump_abi::{Errno, UserAddr};
use std::collections::BTreeMap;
use std::mem::MaybeUninit;

/// Pages handed to the caller's memory at once (1 MiB).
const PIECES: usize = 256;

/// Pages a write adds to a file, by index, until it has filled them.
type FreshPages = BTreeMap<u64, Box<[MaybeUninit<u8>]>>;

/// What a hole reads as.
static ZEROS: [u8; PAGE_SIZE] = [0; PAGE_SIZE];

/// Where the byte at `pos` lies: its page, and the offset in the page.
fn locate(pos: u64) -> (u64, usize) {
    (pos / PAGE, (pos % PAGE) as usize)
}

/// After `done` bytes moved, an error ends the transfer with the count
/// (a short transfer), or is the answer if nothing moved.
fn short_or(done: usize, e: Errno) -> Result<usize, Errno> {
    if done == 0 {
        Err(e)
    } else {
        Ok(done)
    }
}

impl Pages {
    /// Reads up to `len` bytes at `offset` into the caller's memory at `to`.
    pub(super) fn read_to(&self, offset: u64, mem: &dyn UserMemory, to: UserAddr, len: usize) -> Result<usize, Errno> {
        if offset >= self.size {
            return Ok(0);
        }
        let len = (len as u64).min(self.size - offset) as usize;
        let mut done = 0;
        while done < len {
            let mut pieces: [&[u8]; PIECES] = [&[]; PIECES];
            let (mut n, mut batch) = (0, 0);
            while n < PIECES && done + batch < len {
                let (idx, off) = locate(offset + (done + batch) as u64);
                let chunk = (PAGE_SIZE - off).min(len - done - batch);
                pieces[n] = match self.pages.get(&idx) {
                    Some(page) => &page[off..off + chunk],
                    None => &ZEROS[..chunk],
                };
                n += 1;
                batch += chunk;
            }
            let at = to.offset(done as u64).ok_or(EFAULT);
            if let Err(e) = at.and_then(|at| mem.copy_out_pieces(at, &pieces[..n])) {
                return short_or(done, e);
            }
            done += batch;
        }
        Ok(len)
    }

    /// Writes `len` bytes (already clipped to the size limit) from the
    /// caller's memory at `from` to `offset`. A page the budget refuses
    /// ends the write there, with a short count or ENOSPC.
    pub(super) fn write_from(
        &mut self,
        offset: u64,
        mem: &dyn UserMemory,
        from: UserAddr,
        len: usize,
        space: &mut Space,
    ) -> Result<usize, Errno> {
        let mut done = 0;
        while done < len {
            let pos = offset + done as u64;
            let want = (len - done).min(PIECES * PAGE_SIZE - (pos % PAGE) as usize);
            let Some(at) = from.offset(done as u64) else { return short_or(done, EFAULT) };
            let (fresh, batch) = self.fresh_pages(pos, want, space);
            match self.fill(pos, batch, fresh, mem, at) {
                Ok(()) if batch > 0 => {}
                Ok(()) => return short_or(done, ENOSPC),
                Err((e, fresh)) => {
                    space.refund(fresh as u64 * PAGE);
                    return short_or(done, e);
                }
            }
            done += batch;
            self.size = self.size.max(pos + batch as u64);
            if batch < want {
                break;
            }
        }
        Ok(done)
    }

    /// The pages `len` bytes at `pos` need that the file lacks, allocated
    /// and charged in order until the budget refuses one, with how many
    /// of the bytes fall before that page. A page the write fills whole is
    /// left uninitialised; one it fills in part is zeroed, so that what
    /// the write does not cover reads as zeros.
    fn fresh_pages(&self, pos: u64, len: usize, space: &mut Space) -> (FreshPages, usize) {
        let mut fresh = BTreeMap::new();
        let mut covered = 0;
        while covered < len {
            let (idx, off) = locate(pos + covered as u64);
            let chunk = (PAGE_SIZE - off).min(len - covered);
            if !self.pages.contains_key(&idx) {
                if space.charge(PAGE).is_err() {
                    break;
                }
                let page = if chunk == PAGE_SIZE {
                    Box::new_uninit_slice(PAGE_SIZE)
                } else {
                    Box::new_zeroed_slice(PAGE_SIZE)
                };
                fresh.insert(idx, page);
            }
            covered += chunk;
        }
        (fresh, covered)
    }

    /// Has `mem` fill `len` bytes at `pos` (at most `PIECES` pages, each
    /// either the file's or in `fresh`) from `from`, then adds the fresh
    /// pages to the file. On a failure the fresh pages are dropped and
    /// their number returned, for the caller to refund.
    fn fill(
        &mut self,
        pos: u64,
        len: usize,
        mut fresh: FreshPages,
        mem: &dyn UserMemory,
        from: UserAddr,
    ) -> Result<(), (Errno, usize)> {
        if len == 0 {
            return Ok(());
        }
        let count = fresh.len();
        let (first, _) = locate(pos);
        let (last, _) = locate(pos + len as u64 - 1);
        let mut old = self.pages.range_mut(first..=last).peekable();
        let mut new = fresh.iter_mut().peekable();
        let mut pieces: [&mut [MaybeUninit<u8>]; PIECES] = std::array::from_fn(|_| Default::default());
        let (mut n, mut covered) = (0, 0);
        while covered < len {
            let (idx, off) = locate(pos + covered as u64);
            let chunk = (PAGE_SIZE - off).min(len - covered);
            // Every page of the range is the file's or fresh.
            let page = if old.peek().is_some_and(|(&i, _)| i == idx) {
                old.next().map(|(_, p)| as_uninit(p))
            } else {
                new.next().filter(|(&i, _)| i == idx).map(|(_, p)| &mut p[..])
            };
            let Some(page) = page else { return Err((EIO, count)) };
            pieces[n] = &mut page[off..off + chunk];
            n += 1;
            covered += chunk;
        }
        if let Err(e) = mem.copy_in_pieces(from, &mut pieces[..n]) {
            return Err((e, count));
        }
        for (idx, page) in fresh {
            // SAFETY: a fresh page was zeroed or, when the write covers
            // it whole, just filled by `copy_in_pieces`.
            self.pages.insert(idx, unsafe { page.assume_init() });
        }
        Ok(())
    }
}
