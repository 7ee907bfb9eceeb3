//! Shared kernel memory: host memory the kernel reads and writes and hands
//! to processes on the same host, which map it (DESIGN.md §5a). One region
//! is one memfd. It backs rump files mapped `MAP_SHARED` (tmpfs moves a
//! file's pages into a region on its first mapping, `fs::tmpfs`) and the
//! channels of the shared-memory transport (`rumpclient::transport::shm`,
//! mapped through `Mapping`); the same regions will back `AF_PACKET`
//! TPACKET rings.
//!
//! Host fds. A region's memfd is one of the library's own descriptors
//! (`ownfd`): high, close-on-exec, stepping aside when a program names its
//! number, and listed by `owned_fds` while the region lives, so that a process carrying
//! its kernel into another (the hijack's keeper, which closes every fd it
//! inherited) knows which host fds are the kernel's own. A process that
//! maps a region gets its own fd (`reopen`), opened for reading or for
//! reading and writing as its open file is, so the host's mmap checks
//! (EACCES for a writable shared mapping of a read-only open) are Linux's.
//!
//! Budget. A region is charged to the kernel's memory (`mem::Mem`) by the
//! memory the host has allocated to it (its `st_blocks`), so holes cost
//! nothing, as in tmpfs. The charge is measured again after each change the
//! kernel makes; pages a process dirties through a mapping are counted at
//! the kernel's next change (a mapping never grows a region). A kernel
//! write that would pass the budget stops short, or fails with ENOMEM when
//! nothing fits.
//!
//! Host calls are raw system calls: the kernel may run inside a program
//! whose libc is hooked by librumphijack.so.

use std::ffi::{CStr, CString};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use rump_abi::errno::linux_to_native;
use rump_abi::native::errno::{EINTR, EIO, ENOMEM};
use rump_abi::Errno;

use crate::mem::Mem;
use crate::ownfd::OwnFd;

const PAGE: u64 = 4096;

/// The memfds of live regions in this process. Taken only while a region
/// is made or freed or a keeper starts, which happens under a kernel lock,
/// so a process forked with the kernel locked never inherits it held.
static OWNED: Mutex<Vec<Weak<OwnFd>>> = Mutex::new(Vec::new());

/// The host fds the kernel code in this process owns (its regions'
/// memfds, where they are now), lowest first.
pub fn owned_fds() -> Vec<RawFd> {
    let mut v: Vec<RawFd> = OWNED.lock().iter().filter_map(Weak::upgrade).map(|f| f.raw()).collect();
    v.sort_unstable();
    v
}

fn host_errno() -> Errno {
    let raw = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
    linux_to_native(Errno(raw))
}

/// A raw host call, retried on EINTR; a negative result is the host's
/// errno in the kernel's numbers.
fn host(mut f: impl FnMut() -> libc::c_long) -> Result<u64, Errno> {
    loop {
        let r = f();
        if r >= 0 {
            return Ok(r as u64);
        }
        let e = host_errno();
        if e != EINTR {
            return Err(e);
        }
    }
}

/// One region of shared kernel memory; see the module documentation.
#[derive(Debug)]
pub struct SharedMem {
    fd: Arc<OwnFd>,
    mem: Arc<Mem>,
    /// Bytes charged to `mem` now.
    charged: u64,
}

impl SharedMem {
    /// A region of `len` bytes, all holes, named `name` in the host's
    /// `/proc/PID/maps` of whoever maps it. ENOMEM when the host refuses.
    pub fn new(name: &CStr, len: u64, mem: Arc<Mem>) -> Result<SharedMem, Errno> {
        // SAFETY: a NUL-terminated name.
        let fd = host(|| unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), libc::MFD_CLOEXEC) })
            .map_err(|_| ENOMEM)?;
        // SAFETY: memfd_create just made this fd for us.
        let fd = Arc::new(OwnFd::new(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }));
        let mut owned = OWNED.lock();
        owned.retain(|w| w.strong_count() > 0);
        owned.push(Arc::downgrade(&fd));
        drop(owned);
        let mut region = SharedMem { fd, mem, charged: 0 };
        region.set_len(len)?;
        Ok(region)
    }

    fn stat(&self) -> Result<libc::stat, Errno> {
        // SAFETY: an all-zero stat is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat into a live struct.
        host(|| unsafe { libc::syscall(libc::SYS_fstat, self.fd.raw(), &mut st as *mut libc::stat) })?;
        Ok(st)
    }

    /// The region's size in bytes.
    pub fn size(&self) -> Result<u64, Errno> {
        Ok(self.stat()?.st_size as u64)
    }

    /// Bytes of host memory the region holds (holes hold none).
    pub fn allocated(&self) -> Result<u64, Errno> {
        Ok(self.stat()?.st_blocks as u64 * 512)
    }

    /// Brings the charge to what the host holds now.
    fn account(&mut self) {
        let now = self.allocated().unwrap_or(self.charged);
        if now > self.charged {
            self.mem.charge_anyway(now - self.charged);
        } else {
            self.mem.uncharge(self.charged - now);
        }
        self.charged = now;
    }

    /// Reads at `offset`; 0 at or past the end.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut done = 0;
        while done < buf.len() {
            let rest = &mut buf[done..];
            let pos = offset + done as u64;
            // SAFETY: pread into a live, writable slice.
            let n = host(|| unsafe {
                libc::syscall(libc::SYS_pread64, self.fd.raw(), rest.as_mut_ptr(), rest.len(), pos as i64)
            })?;
            if n == 0 {
                break;
            }
            done += n as usize;
        }
        Ok(done)
    }

    /// Bytes of `data` a write at `offset` may store within the budget:
    /// pages the host already holds cost nothing, the rest a page each.
    /// Conservative: everything from the first hole on counts as new.
    fn affordable(&self, offset: u64, len: usize) -> usize {
        let end = (offset + len as u64).div_ceil(PAGE) * PAGE;
        let start = offset / PAGE * PAGE;
        // SAFETY: lseek on our fd; past the end is ENXIO, all hole.
        let hole = host(|| unsafe { libc::syscall(libc::SYS_lseek, self.fd.raw(), start as i64, libc::SEEK_HOLE) })
            .unwrap_or(start);
        if hole >= end || self.mem.fits(end - hole.max(start)) {
            return len;
        }
        let free_until = hole.max(offset);
        let room = self.mem.available() / PAGE * PAGE;
        let fits = (free_until - offset) + room.saturating_sub(free_until % PAGE);
        fits.min(len as u64) as usize
    }

    /// Writes at `offset`, growing the region as needed (holes read as
    /// zeros); stops short where the budget ends, ENOMEM if nothing fits.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        let len = self.affordable(offset, data.len());
        if len == 0 && !data.is_empty() {
            return Err(ENOMEM);
        }
        let mut done = 0;
        while done < len {
            let rest = &data[done..len];
            let pos = offset + done as u64;
            // SAFETY: pwrite from a live slice.
            let n = host(|| unsafe {
                libc::syscall(libc::SYS_pwrite64, self.fd.raw(), rest.as_ptr(), rest.len(), pos as i64)
            });
            match n {
                Ok(0) => break,
                Ok(n) => done += n as usize,
                Err(_) if done > 0 => break,
                Err(e) => {
                    self.account();
                    return Err(e);
                }
            }
        }
        self.account();
        if done == 0 && len > 0 {
            return Err(EIO);
        }
        Ok(done)
    }

    /// Sets the length: shrinking frees the pages past it (a process
    /// touching them through a mapping gets SIGBUS, as on Linux), growing
    /// adds a hole.
    pub fn set_len(&mut self, len: u64) -> Result<(), Errno> {
        // SAFETY: ftruncate on our fd.
        host(|| unsafe { libc::syscall(libc::SYS_ftruncate, self.fd.raw(), len as i64) })?;
        self.account();
        Ok(())
    }

    /// A new host fd for the region, for a process to map: read-only, or
    /// read-write if `writable`; close-on-exec.
    pub fn reopen(&self, writable: bool) -> Result<OwnedFd, Errno> {
        reopen_fd(self.fd.raw(), writable)
    }
}

/// A new open of the file host fd `fd` is on, read-only or read-write, as
/// a process maps it (the `/proc/self/fd` link names exactly that file).
pub fn reopen_fd(fd: RawFd, writable: bool) -> Result<OwnedFd, Errno> {
    let path = CString::new(format!("/proc/self/fd/{fd}")).map_err(|_| EIO)?;
    open_for_mapping(&path, writable)
}

/// Opens host file `path` read-only or read-write, close-on-exec, as a
/// process maps it.
pub fn open_for_mapping(path: &CStr, writable: bool) -> Result<OwnedFd, Errno> {
    let access = if writable { libc::O_RDWR } else { libc::O_RDONLY };
    let flags = access | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: a NUL-terminated path; the result is a new fd we own.
    let new = host(|| unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), flags, 0) })?;
    // SAFETY: openat just made this fd for us.
    Ok(unsafe { OwnedFd::from_raw_fd(new as RawFd) })
}

/// A region mapped shared and writable into this process, unmapped when
/// dropped: the kernel's own view of a region, or a client's view of one
/// whose fd it was passed.
#[derive(Debug)]
pub struct Mapping {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: a shared mapping is plain memory; what lives in it is reached
// through atomics by whoever uses it.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of host fd `fd` shared, readable and writable.
    pub fn of_fd(fd: RawFd, len: usize) -> Result<Mapping, Errno> {
        // Every argument full width: the mmap system call takes longs.
        let (prot, flags) = ((libc::PROT_READ | libc::PROT_WRITE) as libc::c_long, libc::MAP_SHARED as libc::c_long);
        let fd = libc::c_long::from(fd);
        // SAFETY: a fresh mapping the kernel places; nothing of ours is at
        // the address it returns.
        let addr = host(|| unsafe { libc::syscall(libc::SYS_mmap, 0usize, len, prot, flags, fd, 0usize) })?;
        let ptr = std::ptr::NonNull::new(addr as *mut u8).ok_or(ENOMEM)?;
        Ok(Mapping { ptr, len })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping, which nothing uses once it is dropped.
        unsafe { libc::syscall(libc::SYS_munmap, self.ptr.as_ptr(), self.len) };
    }
}

impl SharedMem {
    /// The region mapped into this process, at its present size.
    pub fn map(&self) -> Result<Mapping, Errno> {
        Mapping::of_fd(self.fd.raw(), self.size()? as usize)
    }
}

impl Drop for SharedMem {
    fn drop(&mut self) {
        self.mem.uncharge(self.charged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn reads_writes_and_charges_what_the_host_holds() {
        let mem = Mem::new(Some(1 << 20));
        let mut r = SharedMem::new(c"test", 0, mem.clone()).unwrap();
        assert!(owned_fds().contains(&r.fd.raw()));
        assert_eq!(r.write_at(8192, b"hello"), Ok(5));
        assert_eq!(r.size(), Ok(8197));
        let mut buf = [9u8; 16];
        assert_eq!(r.read_at(8190, &mut buf), Ok(7));
        assert_eq!(&buf[..7], b"\0\0hello");
        // Only the written page is held and charged: the rest is a hole.
        assert_eq!(mem.used(), PAGE);
        r.set_len(1 << 30).unwrap();
        assert_eq!(mem.used(), PAGE);
        r.set_len(100).unwrap();
        assert_eq!((r.size(), mem.used()), (Ok(100), 0));
        let raw = r.fd.raw();
        drop(r);
        assert!(!owned_fds().contains(&raw));
        assert_eq!(mem.used(), 0);
    }

    #[test]
    fn writes_stop_at_the_budget() {
        let mem = Mem::new(Some(3 * PAGE));
        let mut r = SharedMem::new(c"test", 0, mem.clone()).unwrap();
        assert_eq!(r.write_at(0, &[1u8; 5 * PAGE as usize]), Ok(3 * PAGE as usize));
        assert_eq!(r.write_at(3 * PAGE, b"x"), Err(ENOMEM));
        // Rewriting held pages fits.
        assert_eq!(r.write_at(0, &[2u8; PAGE as usize]), Ok(PAGE as usize));
    }

    #[test]
    fn reopened_fds_follow_the_access_asked_for() {
        let mem = Mem::new(None);
        let mut r = SharedMem::new(c"test", 0, mem).unwrap();
        r.write_at(0, b"abc").unwrap();
        let ro = r.reopen(false).unwrap();
        // SAFETY: fcntl on our fd.
        let fl = unsafe { libc::fcntl(ro.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(fl & libc::O_ACCMODE, libc::O_RDONLY);
        let rw = r.reopen(true).unwrap();
        // SAFETY: pwrite from a live buffer on our fd.
        assert_eq!(unsafe { libc::pwrite(rw.as_raw_fd(), b"XY".as_ptr().cast(), 2, 1) }, 2);
        let mut buf = [0u8; 3];
        assert_eq!(r.read_at(0, &mut buf), Ok(3));
        assert_eq!(&buf, b"aXY");
    }
}
