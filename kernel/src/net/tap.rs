//! Linux tap devices as links: a `tapN` interface sends and receives
//! Ethernet frames through `/dev/net/tun` opened with IFF_TAP|IFF_NO_PI
//! (no packet-information prefix), so a rump kernel joins a host bridge, a
//! network namespace or a VM's tap. This module owns opening the device
//! (attaching to a persistent tap of that name, or creating a transient one
//! that goes when the last user closes it) and moving frames through it.
//!
//! The tap name is looked up in the network namespace of the process that
//! opens it, i.e. the rump kernel's.

use rump_abi::native::errno::{EINVAL, ENAMETOOLONG};
use rump_abi::Errno;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::time::Duration;

/// _IOW('T', 202, int).
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFNAMSIZ: usize = 16;
/// Where Linux's tun/tap driver lives.
pub const TUN_PATH: &str = "/dev/net/tun";

/// An open tap device.
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    /// Opens host tap device `name` (non-blocking). Errors are the host's:
    /// ENOENT without /dev/net/tun, EPERM/EACCES without CAP_NET_ADMIN (or
    /// not the owner of a persistent tap), EBUSY if another process holds
    /// it, EINVAL if `name` is a tun (layer 3) device.
    pub fn open(name: &str) -> Result<Tap, Errno> {
        if name.is_empty() || name.contains('\0') || name.contains('/') {
            return Err(EINVAL);
        }
        if name.len() >= IFNAMSIZ {
            return Err(ENAMETOOLONG);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(TUN_PATH)
            .map_err(host_errno)?;
        // struct ifreq: the name, then ifr_flags; 40 bytes in all.
        let mut ifr = [0u8; 40];
        ifr[..name.len()].copy_from_slice(name.as_bytes());
        ifr[IFNAMSIZ..IFNAMSIZ + 2].copy_from_slice(&(IFF_TAP | IFF_NO_PI).to_ne_bytes());
        // SAFETY: TUNSETIFF reads and writes a struct ifreq, which `ifr` is
        // large enough to hold; the fd is ours.
        if unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, ifr.as_mut_ptr()) } < 0 {
            return Err(host_errno(std::io::Error::last_os_error()));
        }
        Ok(Tap { file, name: name.to_string() })
    }

    /// The host's name for the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes one frame.
    pub fn send(&self, frame: &[u8]) -> Result<(), Errno> {
        (&self.file).write(frame).map(|_| ()).map_err(host_errno)
    }

    /// The next frame the host sent, if one is waiting.
    pub fn recv(&self) -> Option<Vec<u8>> {
        let mut frame = Vec::new();
        self.recv_into(&mut frame).then_some(frame)
    }

    /// Puts the next frame the host sent in `frame` (replacing what it
    /// held) and says true, if one is waiting.
    pub fn recv_into(&self, frame: &mut Vec<u8>) -> bool {
        // A tap hands over one frame per read; 64 KiB covers any MTU. On
        // the stack, so that finding nothing costs no allocation.
        let mut buf = [0u8; 65536];
        let Ok(n) = (&self.file).read(&mut buf) else { return false };
        frame.clear();
        frame.extend_from_slice(&buf[..n]);
        true
    }

    /// Sleeps until a frame is waiting, at most `timeout`.
    pub fn wait(&self, timeout: Duration) {
        let mut pfd = libc::pollfd { fd: self.file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, timeout.as_millis().min(i32::MAX as u128) as i32) };
    }
}

/// The native errno for a host error.
fn host_errno(e: std::io::Error) -> Errno {
    rump_abi::errno::linux_to_native(Errno(e.raw_os_error().unwrap_or(libc::EIO)))
}
