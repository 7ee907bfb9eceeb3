//! A supervised program's execve of an image stored in the kernel
//! (`/rump/busybox ls` from busybox sh): the host cannot read the file,
//! so the supervisor copies it into a memfd, puts that into the caller
//! (`SECCOMP_IOCTL_NOTIF_ADDFD`) and lets the host's execve run on it by
//! a name the host resolves, `/dev/fd/N`. The call's registers cannot be
//! changed, so the name is written over the caller's own path string
//! (through `/proc/PID/mem`, which a read-only string does not stop),
//! padded with slashes to the same length: a path shorter than
//! `/dev/fd/N` gets ENAMETOOLONG, as no such name fits in it. When
//! `argv[0]` is that same string (a shell passes the command as both),
//! it is pointed at a copy of the original kept below the caller's stack
//! pointer (the stack is dead there, and gone on success), so the new
//! image sees the name it was run by. The
//! checks execve makes first (ENOENT, EACCES for a file that is not a
//! regular executable) are the kernel's, before anything is changed.
//! A dynamic image then loads the preload library from the environment
//! as any other; a static one stays under the filter. The memfd is
//! closed on exec unless the image is a script, whose interpreter opens
//! it by that name.

use super::target::read_str;
use super::{Answer, Call, Supervisor};
use crate::selfmem::SelfMemory;
use rump_abi::Errno;
use rump_kernel::Process;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

impl Supervisor {
    /// execve: served when its path is the kernel's, else the host's.
    pub(super) fn execve(&self, c: &Call) -> Answer {
        let Some(path) = read_str(c.tid, c.args[0]) else { return Answer::Continue };
        let Some(kpath) = self.path_route(c, c.args[0], || self.cwd_in_kernel(c.tid)) else {
            return Answer::Continue;
        };
        match self.exec_from_kernel(c, path.len(), kpath) {
            Ok(()) => Answer::Continue,
            Err(e) => Answer::Error(e),
        }
    }

    fn exec_from_kernel(&self, c: &Call, len: usize, mut kpath: Vec<u8>) -> Result<(), Errno> {
        let t = self.traced_or_new(c.tid)?;
        let process = t.lock().map_err(|_| Errno(libc::EIO))?.process.clone();
        kpath.push(0);
        let image = copy_out(&process, &kpath)?;
        let mut head = [0u8; 4096];
        let n = image.read_at(&mut head, 0).map_err(|_| Errno(libc::EIO))?;
        let script = head[..n].starts_with(b"#!");
        // The number it will get: the lowest free, as the caller's next fd.
        let at = super::target::lowest_free(c.tid, 0);
        let name = slash_padded(&format!("/dev/fd/{at}"), len).ok_or(Errno(libc::ENAMETOOLONG))?;
        let mem = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{}/mem", c.tid))
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))?;
        let fault = |_| Errno(libc::EFAULT);
        let mut argv0 = [0u8; 8];
        mem.read_exact_at(&mut argv0, c.args[1]).map_err(fault)?;
        if u64::from_ne_bytes(argv0) == c.args[0] {
            let sp = stack_pointer(c.tid).ok_or(Errno(libc::EFAULT))?;
            let mut original = mem_string(&mem, c.args[0], len);
            original.push(0);
            let copy = (sp - STACK_ROOM - original.len() as u64) & !15;
            mem.write_all_at(&original, copy).map_err(fault)?;
            mem.write_all_at(&copy.to_ne_bytes(), c.args[1]).map_err(fault)?;
        }
        self.add_fd(c, image.as_raw_fd(), Some(at), !script, false)?;
        mem.write_all_at(&name, c.args[0]).map_err(fault)
    }
}

/// How far below the stack pointer the copy of `argv[0]` goes: past the
/// red zone a leaf function may use, within the pages a stack has.
const STACK_ROOM: u64 = 1024;

/// The `len` bytes of the caller's string at `addr`.
fn mem_string(mem: &std::fs::File, addr: u64, len: usize) -> Vec<u8> {
    let mut s = vec![0u8; len];
    let n = mem.read_at(&mut s, addr).unwrap_or(0);
    s.truncate(n);
    s
}

/// The stack pointer of thread `tid`, which is in a system call
/// (`/proc/TID/syscall`: the number, six arguments, sp, pc).
fn stack_pointer(tid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/syscall")).ok()?;
    let sp = s.split_whitespace().nth(7)?;
    u64::from_str_radix(sp.strip_prefix("0x")?, 16).ok()
}

/// The kernel's file at `kpath` (NUL-terminated) copied into a new memfd,
/// after execve's checks.
fn copy_out(p: &Process, kpath: &[u8]) -> Result<std::fs::File, Errno> {
    let call = |nr: i64, args: [u64; 4]| {
        let slots = [args[0], args[1], args[2], args[3], 0, 0, 0, 0];
        p.syscall_with(nr as u32, &slots, &SelfMemory)
    };
    let at = libc::AT_FDCWD as i64 as u64;
    // SAFETY: a plain C struct for the kernel to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    call(libc::SYS_newfstatat, [at, kpath.as_ptr() as u64, &mut st as *mut libc::stat as u64, 0])?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Errno(libc::EACCES));
    }
    call(libc::SYS_faccessat, [at, kpath.as_ptr() as u64, libc::X_OK as u64, 0])?;
    let fd = call(libc::SYS_openat, [at, kpath.as_ptr() as u64, (libc::O_RDONLY | libc::O_CLOEXEC) as u64, 0])?;
    // SAFETY: a NUL-terminated name.
    let m = unsafe { libc::memfd_create(c"rump-exec".as_ptr(), libc::MFD_CLOEXEC) };
    let copied = (|| {
        if m < 0 {
            return Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EMFILE)));
        }
        // SAFETY: a fresh fd of ours.
        let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(m) });
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = call(libc::SYS_read, [fd as u64, buf.as_mut_ptr() as u64, buf.len() as u64, 0])? as usize;
            if n == 0 {
                return Ok(file);
            }
            std::io::Write::write_all(&mut &file, &buf[..n]).map_err(|_| Errno(libc::EIO))?;
        }
    })();
    let _ = call(libc::SYS_close, [fd as u64, 0, 0, 0]);
    copied
}

/// `name` (an absolute path) lengthened to exactly `len` bytes with
/// slashes after its first component, which the host reads as one; None
/// if it is longer already.
fn slash_padded(name: &str, len: usize) -> Option<Vec<u8>> {
    let extra = len.checked_sub(name.len())?;
    let cut = name[1..].find('/').map_or(name.len(), |i| i + 1);
    let mut out = name.as_bytes()[..cut].to_vec();
    out.extend(std::iter::repeat_n(b'/', extra));
    out.extend_from_slice(&name.as_bytes()[cut..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::slash_padded;

    #[test]
    fn padding_keeps_the_name() {
        assert_eq!(slash_padded("/dev/fd/3", 9).unwrap(), b"/dev/fd/3");
        assert_eq!(slash_padded("/dev/fd/3", 13).unwrap(), b"/dev/////fd/3");
        assert_eq!(slash_padded("/dev/fd/12", 9), None);
    }
}
