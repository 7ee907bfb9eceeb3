//! The supervised side of static binaries' supervision, shared by every
//! program that starts one (`rumpctl run` and `rumpctl net exec`, and the
//! preload library when a dynamic program execs a static image): whether
//! an image is static, the seccomp filter that sends the calls able to
//! name something of a rump kernel's to a supervisor (from the generated
//! routing table), and its installation just before exec, with the
//! listener sent to the supervisor over a unix socket.
//!
//! The calls made between installing the filter and exec (sending the
//! listener, closing fds) come from the installer's own syscall gate,
//! a code range the filter lets through: the supervisor would otherwise
//! be asked about the very call that sends it its listener.

use super::sys::RAW_ROUTES;
use crate::RawArg;

/// Whether an ELF image whose first bytes are `head` (4 KiB is plenty)
/// has no program interpreter: a static binary, which no preload library
/// can enter. Anything that is not a 64-bit ELF is not static.
pub fn is_static_elf(head: &[u8]) -> bool {
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(head[o..o + 8].try_into().unwrap_or_default()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let o = phoff.saturating_add(i * phentsize);
        o.saturating_add(4) > head.len() || u32::from_le_bytes(head[o..o + 4].try_into().unwrap_or_default()) != 3
    })
}

/// The calls that wait on a set the filter cannot see into (it is in
/// memory): caught whatever their arguments.
pub const SET_WAITS: &[i64] = &[libc::SYS_poll, libc::SYS_ppoll, libc::SYS_select, libc::SYS_pselect6];

/// The calls the filter sends to the supervisor: every call with an
/// argument that can name something of the kernel's, the set waits,
/// getcwd (the working directory may be in the kernel) and execve (the
/// image may be in the kernel); with, for a call
/// whose only such argument is one fd, that argument's index (a negative
/// fd, as in an anonymous `mmap`, names nothing and passes at once).
fn caught() -> Vec<(u32, Option<usize>)> {
    let by_args = RAW_ROUTES.iter().filter(|r| r.args.iter().any(|a| *a != RawArg::Other)).map(|r| {
        let named: Vec<usize> = (0..r.args.len()).filter(|&i| r.args[i] != RawArg::Other).collect();
        let lone_fd = match named[..] {
            [i] if r.args[i] == RawArg::Fd => Some(i),
            _ => None,
        };
        (r.num, lone_fd)
    });
    by_args.chain(SET_WAITS.iter().chain([&libc::SYS_getcwd, &libc::SYS_execve]).map(|&n| (n as u32, None))).collect()
}

/// `AUDIT_ARCH_X86_64` (linux/audit.h).
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// The BPF program: x86-64 only; a call whose return address (the
/// instruction after `syscall`) lies in `(gate.0, gate.1]` passes; the
/// caught numbers go to user notification (those with a lone fd only
/// when it is not negative); everything else passes.
pub fn filter(gate: (u64, u64)) -> Vec<libc::sock_filter> {
    let stmt = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let jump = |op: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | op | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let ld = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let (lo, hi) = gate;
    let mut p = vec![
        stmt(ld, 4),
        jump(libc::BPF_JEQ, AUDIT_ARCH_X86_64, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        // seccomp_data.instruction_pointer: the high word, then the low
        // one inside the gate (a gate never crosses a 4 GiB boundary).
        stmt(ld, 12),
        jump(libc::BPF_JEQ, (lo >> 32) as u32, 0, 4),
        stmt(ld, 8),
        jump(libc::BPF_JGT, lo as u32, 0, 2),
        jump(libc::BPF_JGT, hi as u32, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(ld, 0),
    ];
    for (nr, lone_fd) in caught() {
        match lone_fd {
            None => {
                p.push(jump(libc::BPF_JEQ, nr, 0, 1));
                p.push(stmt(ret, libc::SECCOMP_RET_USER_NOTIF));
            }
            // seccomp_data.args[i]'s low word: its sign bit set, it passes.
            Some(i) => {
                p.push(jump(libc::BPF_JEQ, nr, 0, 4));
                p.push(stmt(ld, 16 + 8 * i as u32));
                p.push(jump(libc::BPF_JSET, 0x8000_0000, 1, 0));
                p.push(stmt(ret, libc::SECCOMP_RET_USER_NOTIF));
                p.push(stmt(ret, libc::SECCOMP_RET_ALLOW));
            }
        }
    }
    p.push(stmt(ret, libc::SECCOMP_RET_ALLOW));
    p
}

/// The call a process makes to learn whether a supervisor already serves
/// it (a filter with a listener is inherited, and Linux allows one
/// listener per filter chain): `getcwd(NULL, PROBE_WORD)`, always caught,
/// which the host answers EFAULT and a supervisor with `PROBE_WORD`.
pub const PROBE: (i64, [u64; 2]) = (libc::SYS_getcwd, [0, PROBE_WORD as u64]);

/// A supervisor's answer to `PROBE`.
pub const PROBE_WORD: i64 = 0x7275_6d70;

/// Whether a caught call is `PROBE`.
pub fn is_probe(nr: i64, args: &[u64; 6]) -> bool {
    nr == PROBE.0 && args[..2] == PROBE.1
}

/// A raw syscall made from inside the filter's gate: `-errno` on failure.
pub type Gate = unsafe fn(nr: i64, args: [usize; 6]) -> isize;

/// Installs `prog` on the calling thread and sends its listener over
/// `sock`, naming `tracer` (the supervisor, when it is not an ancestor)
/// as Yama's ptracer; then closes both. Where seccomp is forbidden (a
/// container's policy, a kernel without user notification) nothing is
/// installed and nothing is sent (the supervisor sees the socket close):
/// false, and the caller says so. Allocates nothing (it runs between
/// fork and exec).
///
/// # Safety
/// Only just before exec; `gate` must be the gate `prog` lets through.
pub unsafe fn install(prog: &[libc::sock_filter], sock: i32, tracer: Option<i32>, gate: Gate) -> Result<bool, i32> {
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut _ };
    let fprog = &fprog as *const libc::sock_fprog as usize;
    unsafe {
        if let Some(pid) = tracer {
            gate(libc::SYS_prctl, [libc::PR_SET_PTRACER as usize, pid as usize, 0, 0, 0, 0]);
        }
        if gate(libc::SYS_prctl, [libc::PR_SET_NO_NEW_PRIVS as usize, 1, 0, 0, 0, 0]) != 0 {
            gate(libc::SYS_close, [sock as usize, 0, 0, 0, 0, 0]);
            return Ok(false);
        }
        // Once received, a call is not interrupted by a signal (Go's
        // runtime preempts with SIGURG): it would be restarted and served
        // twice. Linux before 5.19 lacks the flag.
        let set = libc::SECCOMP_SET_MODE_FILTER as usize;
        let flags = (libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) as usize;
        let mut fd = gate(libc::SYS_seccomp, [set, flags, fprog, 0, 0, 0]);
        if fd < 0 {
            fd = gate(libc::SYS_seccomp, [set, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as usize, fprog, 0, 0, 0]);
        }
        if fd < 0 {
            gate(libc::SYS_close, [sock as usize, 0, 0, 0, 0, 0]);
            return Ok(false);
        }
        let sent = send_fd(sock, fd as i32, gate);
        gate(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]);
        gate(libc::SYS_close, [sock as usize, 0, 0, 0, 0, 0]);
        sent.map(|()| true)
    }
}

/// A one-byte message with room for one fd's control message.
pub struct FdMessage {
    byte: [u8; 1],
    iov: libc::iovec,
    control: [u64; 4],
}

impl FdMessage {
    /// A header over `m` with `controllen` bytes of control. `m` stays
    /// put while the header is used (it points into it).
    pub fn header(m: &mut FdMessage, controllen: usize) -> libc::msghdr {
        m.iov = libc::iovec { iov_base: m.byte.as_mut_ptr().cast(), iov_len: 1 };
        // SAFETY: a plain C struct, zeroed, then pointed at `m`.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut m.iov;
        msg.msg_iovlen = 1;
        msg.msg_control = m.control.as_mut_ptr().cast();
        msg.msg_controllen = controllen;
        msg
    }

    pub fn new() -> FdMessage {
        FdMessage { byte: [0], iov: libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }, control: [0; 4] }
    }

    /// The room for the control message a receive may fill.
    pub fn control_room() -> usize {
        std::mem::size_of::<[u64; 4]>()
    }
}

impl Default for FdMessage {
    fn default() -> Self {
        FdMessage::new()
    }
}

/// Sends `fd` over unix socket `sock` (SCM_RIGHTS) through `gate`, from
/// the stack.
///
/// # Safety
/// `gate` as for `install`.
unsafe fn send_fd(sock: i32, fd: i32, gate: Gate) -> Result<(), i32> {
    let mut buf = FdMessage::new();
    // SAFETY: one control message of one int in a buffer big enough.
    unsafe {
        let msg = FdMessage::header(&mut buf, libc::CMSG_SPACE(4) as usize);
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<i32>(), fd);
        let r = gate(libc::SYS_sendmsg, [sock as usize, &msg as *const libc::msghdr as usize, 0, 0, 0, 0]);
        if r < 0 {
            return Err(-r as i32);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_filter_sends() {
        let c = caught();
        let of = |nr: i64| c.iter().find(|(n, _)| *n == nr as u32).map(|(_, fd)| *fd);
        // A path: always; an anonymous mmap's fd (argument 4) passes when negative.
        assert_eq!(of(libc::SYS_openat), Some(None));
        assert_eq!(of(libc::SYS_mmap), Some(Some(4)));
        assert_eq!(of(libc::SYS_read), Some(Some(0)));
        // Two fds (a host epoll, a rump socket): always.
        assert_eq!(of(libc::SYS_epoll_ctl), Some(None));
        assert_eq!(of(libc::SYS_poll), Some(None));
        assert_eq!(of(libc::SYS_getpid), None);
        // BPF_MAXINSNS.
        assert!(filter((0x1000, 0x1010)).len() < 4096);
    }

    #[test]
    fn static_and_dynamic_images() {
        let sh = std::fs::read("/bin/sh").unwrap();
        assert!(!is_static_elf(&sh[..4096.min(sh.len())]), "/bin/sh has an interpreter");
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        // A minimal ELF header with no program headers: nothing to load
        // an interpreter from.
        let mut h = vec![0u8; 64];
        h[..5].copy_from_slice(b"\x7fELF\x02");
        assert!(is_static_elf(&h));
    }
}
