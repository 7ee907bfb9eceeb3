//! The child's side of the supervisor: the seccomp filter (which calls go
//! to the supervisor, from the generated routing table), its installation
//! between fork and exec, and passing the listener fd to the supervisor.

use rump_abi::linux::sys::RAW_ROUTES;
use rump_abi::RawArg;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Whether the executable `path` has no program interpreter (a static
/// binary, which the preload library cannot enter).
pub fn is_static(path: &std::path::Path) -> bool {
    let Ok(data) = std::fs::read(path) else { return false };
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap_or_default()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        o + 4 > data.len() || u32::from_le_bytes(data[o..o + 4].try_into().unwrap_or_default()) != libc::PT_INTERP
    })
}

/// The calls the filter sends here: every call with an argument that can
/// name something of the kernel's, and the waits on sets in memory.
fn caught() -> Vec<u32> {
    let by_args = RAW_ROUTES.iter().filter(|r| r.args.iter().any(|a| *a != RawArg::Other)).map(|r| r.num);
    by_args.chain(super::wait::SET_WAITS.iter().map(|&n| n as u32)).collect()
}

/// `AUDIT_ARCH_X86_64` (linux/audit.h).
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

std::arch::global_asm!(
    ".pushsection .text.rumpctl_seccomp_gate,\"ax\",@progbits",
    ".globl rumpctl_seccomp_gate, rumpctl_seccomp_gate_after",
    ".hidden rumpctl_seccomp_gate, rumpctl_seccomp_gate_after",
    // long gate(nr, a0, a1, a2)
    "rumpctl_seccomp_gate:",
    "    mov rax, rdi",
    "    mov rdi, rsi",
    "    mov rsi, rdx",
    "    mov rdx, rcx",
    "    syscall",
    "rumpctl_seccomp_gate_after:",
    "    ret",
    ".popsection",
);

extern "C" {
    /// A syscall the filter lets through: the child's own calls between
    /// installing the filter and exec (sending the listener would
    /// otherwise wait for the supervisor it is being sent to).
    fn rumpctl_seccomp_gate(nr: i64, a0: usize, a1: usize, a2: usize) -> isize;
    fn rumpctl_seccomp_gate_after();
}

/// The BPF program: x86-64 only; calls made from the gate pass; listed
/// numbers go to user notification.
pub(super) fn filter() -> Vec<libc::sock_filter> {
    let stmt = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let ld = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let gate = rumpctl_seccomp_gate_after as *const () as usize as u64;
    let mut p = vec![
        stmt(ld, 4),
        jeq(AUDIT_ARCH_X86_64, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        // seccomp_data.instruction_pointer, low then high word.
        stmt(ld, 8),
        jeq(gate as u32, 0, 3),
        stmt(ld, 12),
        jeq((gate >> 32) as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(ld, 0),
    ];
    for nr in caught() {
        p.push(jeq(nr, 0, 1));
        p.push(stmt(ret, libc::SECCOMP_RET_USER_NOTIF));
    }
    p.push(stmt(ret, libc::SECCOMP_RET_ALLOW));
    p
}

/// The child's half: run between fork and exec (async-signal-safe calls
/// only). Installs the filter and sends its listener fd over `sock`.
pub struct ChildSetup {
    pub(super) prog: Vec<libc::sock_filter>,
    /// The child's end of the socket the listener goes over.
    pub(super) sock: RawFd,
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
        ChildSetup { prog: filter(), sock, tracer }
    }

    /// Closes the parent's copy of the socket once the child has its own.
    pub fn close_parent_end(&self) {
        // SAFETY: our fd, which nothing else uses.
        unsafe { libc::close(self.sock) };
    }

    /// Installs the filter and sends the listener. Where seccomp is
    /// forbidden (a container's policy, a kernel without user
    /// notification) the program runs without it: the supervisor finds no
    /// listener and says so.
    ///
    /// # Safety
    /// Only in the child of a fork, before exec.
    pub unsafe fn install(&self) -> std::io::Result<()> {
        let fprog = libc::sock_fprog { len: self.prog.len() as u16, filter: self.prog.as_ptr() as *mut _ };
        unsafe {
            if let Some(pid) = self.tracer {
                libc::prctl(libc::PR_SET_PTRACER, pid as libc::c_ulong, 0, 0, 0);
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Ok(());
            }
            // Once received, a call is not interrupted by a signal (Go's
            // runtime preempts with SIGURG): it would be restarted and
            // served twice. Linux before 5.19 lacks the flag.
            let install = |flags: libc::c_ulong| {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    flags,
                    &fprog as *const libc::sock_fprog,
                )
            };
            let mut fd = install(libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
            if fd < 0 {
                fd = install(libc::SECCOMP_FILTER_FLAG_NEW_LISTENER);
            }
            if fd < 0 {
                return Ok(());
            }
            send_fd(self.sock, fd as RawFd)?;
            rumpctl_seccomp_gate(libc::SYS_close, fd as usize, 0, 0);
            rumpctl_seccomp_gate(libc::SYS_close, self.sock as usize, 0, 0);
        }
        Ok(())
    }
}

/// A one-byte message with room for one fd's control message.
struct FdMessage {
    byte: [u8; 1],
    iov: libc::iovec,
    control: [u64; 4],
}

impl FdMessage {
    /// A header over `m`, `controllen` bytes of control. `m` stays put
    /// while the header is used (it points into it).
    fn header(m: &mut FdMessage, controllen: usize) -> libc::msghdr {
        m.iov = libc::iovec { iov_base: m.byte.as_mut_ptr().cast(), iov_len: 1 };
        // SAFETY: a plain C struct, zeroed, then pointed at `m`.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut m.iov;
        msg.msg_iovlen = 1;
        msg.msg_control = m.control.as_mut_ptr().cast();
        msg.msg_controllen = controllen;
        msg
    }

    fn new() -> FdMessage {
        FdMessage { byte: [0], iov: libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }, control: [0; 4] }
    }
}

/// Sends `fd` over unix socket `sock` (SCM_RIGHTS), through the gate (on
/// the stack: nothing is allocated in the child).
///
/// # Safety
/// In the child, before exec.
unsafe fn send_fd(sock: RawFd, fd: RawFd) -> std::io::Result<()> {
    let mut buf = FdMessage::new();
    // SAFETY: one control message of one int in a buffer big enough.
    unsafe {
        let msg = FdMessage::header(&mut buf, libc::CMSG_SPACE(4) as usize);
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        let r = rumpctl_seccomp_gate(libc::SYS_sendmsg, sock as usize, &msg as *const libc::msghdr as usize, 0);
        if r < 0 {
            return Err(std::io::Error::from_raw_os_error(-r as i32));
        }
    }
    Ok(())
}

/// Receives one fd sent by `send_fd`.
pub(super) fn recv_fd(sock: RawFd) -> std::io::Result<OwnedFd> {
    let mut buf = FdMessage::new();
    let mut msg = FdMessage::header(&mut buf, std::mem::size_of::<[u64; 4]>());
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
