//! The child's side of the supervisor as rumpctl starts one: the filter
//! (`rump_abi::linux::seccomp`) with rumpctl's own gate, installed between
//! fork and exec, and the listener it sends, received at the door.

use rump_abi::linux::seccomp::{self, FdMessage};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Whether the executable `path` has no program interpreter (a static
/// binary, which the preload library cannot enter).
pub fn is_static(path: &std::path::Path) -> bool {
    let mut head = vec![0u8; 4096];
    let Ok(mut f) = std::fs::File::open(path) else { return false };
    let n = std::io::Read::read(&mut f, &mut head).unwrap_or(0);
    seccomp::is_static_elf(&head[..n])
}

std::arch::global_asm!(
    ".pushsection .text.rumpctl_seccomp_gate,\"ax\",@progbits",
    ".globl rumpctl_seccomp_gate, rumpctl_seccomp_gate_after",
    ".hidden rumpctl_seccomp_gate, rumpctl_seccomp_gate_after",
    // long gate(nr, a0..a5)
    "rumpctl_seccomp_gate:",
    rump_abi::syscall_from_c_args!(),
    "rumpctl_seccomp_gate_after:",
    "    ret",
    ".popsection",
);

extern "C" {
    /// A syscall the filter lets through: the child's own calls between
    /// installing the filter and exec.
    fn rumpctl_seccomp_gate(nr: i64, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize;
    fn rumpctl_seccomp_gate_after();
}

/// rumpctl's gate as `seccomp::install` calls it.
unsafe fn gate(nr: i64, a: [usize; 6]) -> isize {
    // SAFETY: as the caller's.
    unsafe { rumpctl_seccomp_gate(nr, a[0], a[1], a[2], a[3], a[4], a[5]) }
}

/// The child's half: run between fork and exec (async-signal-safe calls
/// only). Installs the filter and sends its listener over `sock`.
pub struct ChildSetup {
    prog: Vec<libc::sock_filter>,
    /// The child's end of the socket the listener goes over.
    sock: RawFd,
    /// The supervisor's pid when it is not an ancestor (Yama's tracer).
    tracer: Option<libc::pid_t>,
}

impl ChildSetup {
    /// A copy to move into the child's `pre_exec` closure.
    pub fn clone_for_child(&self) -> ChildSetup {
        ChildSetup { prog: self.prog.clone(), sock: self.sock, tracer: self.tracer }
    }

    /// A setup that sends the listener over `sock` (ours: the child or
    /// `close_parent_end` closes it) to the supervisor `tracer`.
    pub(super) fn through(sock: RawFd, tracer: Option<libc::pid_t>) -> ChildSetup {
        let start = rumpctl_seccomp_gate as *const () as u64;
        let after = rumpctl_seccomp_gate_after as *const () as u64;
        ChildSetup { prog: seccomp::filter((start, after)), sock, tracer }
    }

    /// Closes the parent's copy of the socket once the child has its own.
    pub fn close_parent_end(&self) {
        // SAFETY: our fd, which nothing else uses.
        unsafe { libc::close(self.sock) };
    }

    /// Installs the filter and sends the listener (see `seccomp::install`);
    /// where seccomp is unavailable, says so on stderr in one line and the
    /// program runs with its calls on the host.
    ///
    /// # Safety
    /// Only in the child of a fork, before exec.
    pub unsafe fn install(&self) -> std::io::Result<()> {
        // SAFETY: as the caller's; `gate` is the gate the filter passes.
        match unsafe { seccomp::install(&self.prog, self.sock, self.tracer, gate) } {
            Ok(true) => Ok(()),
            Ok(false) => {
                let msg = b"rumpctl: seccomp is unavailable here: the static program's calls go to the host\n";
                // SAFETY: a static message to stderr.
                unsafe { gate(libc::SYS_write, [2, msg.as_ptr() as usize, msg.len(), 0, 0, 0]) };
                Ok(())
            }
            Err(e) => Err(std::io::Error::from_raw_os_error(e)),
        }
    }
}

/// Receives one fd sent by `seccomp::install`.
pub(super) fn recv_fd(sock: RawFd) -> std::io::Result<OwnedFd> {
    let mut buf = FdMessage::new();
    let mut msg = FdMessage::header(&mut buf, FdMessage::control_room());
    // SAFETY: a message header over our buffer; the control message the
    // kernel filled in is read only if it is SCM_RIGHTS.
    unsafe {
        match libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) {
            0 => {
                let why = "seccomp user notification is unavailable here: its calls go to the host";
                return Err(std::io::Error::other(why));
            }
            n if n < 0 => return Err(std::io::Error::last_os_error()),
            _ => {}
        }
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return Err(std::io::Error::from_raw_os_error(libc::EPROTO));
        }
        Ok(OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>())))
    }
}
