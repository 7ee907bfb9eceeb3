//! Static binaries under `rumpctl run`: no dynamic loader, so no preload
//! library; their system calls are caught by a seccomp filter instead and
//! served here, in the process that hosts the kernel (seccomp user
//! notification, Linux 5.9+).
//!
//! The filter (installed in the child before exec) sends to this
//! supervisor every call the generated routing table
//! (`rump_abi::linux::sys::RAW_ROUTES`, from the Linux `syscalls.master`)
//! says takes an fd, a path or a socket family; all else runs on the host
//! untouched. For each caught call the supervisor decides as the library
//! does (with its default `socket=all:nolocal`): a path under the
//! prefix or one of the network's `/proc` files, an inet socket (netlink
//! is the library's own emulation, not the kernel's: static binaries
//! see the host's), a relative path from a working directory
//! in the kernel, or an fd that is a rump fd goes to the kernel, run in a
//! kernel process of the caller's own with the caller's memory read and
//! written through `process_vm_readv`/`writev`; anything else is let
//! through (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
//!
//! A rump fd lives in the caller as a placeholder installed by
//! `SECCOMP_IOCTL_NOTIF_ADDFD`: a memfd named `rumpfd:N` for the kernel's
//! fd N, so the caller's own fd table is the map (it follows dup2, fork
//! and close-on-exec by itself), read back through `/proc/PID/fd`. A
//! process's kernel process is made on its first caught call, forked from
//! its parent's if the parent has one.

use rump_abi::linux::sys::{raw_route, RAW_ROUTES};
use rump_abi::usermem::UserMemory;
use rump_abi::{Errno, RawArg, Slots, UserAddr};
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::{Kernel, Process};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

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
/// name something of the kernel's.
fn caught() -> Vec<u32> {
    RAW_ROUTES.iter().filter(|r| r.args.iter().any(|a| *a != RawArg::Other)).map(|r| r.num).collect()
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
fn filter() -> Vec<libc::sock_filter> {
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
    prog: Vec<libc::sock_filter>,
    sock: RawFd,
}

impl ChildSetup {
    /// A copy to move into the child's `pre_exec` closure (the socket
    /// stays owned by `Pending`).
    pub fn clone_for_child(&self) -> ChildSetup {
        ChildSetup { prog: self.prog.clone(), sock: self.sock }
    }

    /// # Safety
    /// Only in the child of a fork, before exec.
    pub unsafe fn install(&self) -> std::io::Result<()> {
        let fprog = libc::sock_fprog { len: self.prog.len() as u16, filter: self.prog.as_ptr() as *mut _ };
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
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
                return Err(std::io::Error::last_os_error());
            }
            send_fd(self.sock, fd as RawFd)?;
            rumpctl_seccomp_gate(libc::SYS_close, fd as usize, 0, 0);
            rumpctl_seccomp_gate(libc::SYS_close, self.sock as usize, 0, 0);
        }
        Ok(())
    }
}

/// Sends `fd` over unix socket `sock` (SCM_RIGHTS).
unsafe fn send_fd(sock: RawFd, fd: RawFd) -> std::io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let mut cbuf = [0u64; 4];
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
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
fn recv_fd(sock: RawFd) -> std::io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let mut cbuf = [0u64; 4];
    // SAFETY: a message header over locals.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        if libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) <= 0 {
            return Err(std::io::Error::last_os_error());
        }
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return Err(std::io::Error::from_raw_os_error(libc::EPROTO));
        }
        Ok(OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>())))
    }
}

/// A supervisor about to start: the socket its child sends the listener on.
pub struct Pending {
    ours: OwnedFd,
    pub child: ChildSetup,
}

/// Prepares the two ends: `child` goes into the command's `pre_exec`.
pub fn prepare() -> std::io::Result<Pending> {
    let mut sv = [0; 2];
    // SAFETY: a socket pair into a local array.
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh fds of ours.
    let ours = unsafe { OwnedFd::from_raw_fd(sv[0]) };
    Ok(Pending { ours, child: ChildSetup { prog: filter(), sock: sv[1] } })
}

impl Pending {
    /// After the child is spawned: takes its listener and serves it on a
    /// thread of its own for as long as the process tree runs.
    pub fn serve(self, kernel: Kernel, prefix: String) -> std::io::Result<()> {
        // SAFETY: the child's end, ours to close now the child has it.
        unsafe { libc::close(self.child.sock) };
        let listener = recv_fd(self.ours.as_raw_fd())?;
        let sup = Arc::new(Supervisor {
            workers: Workers::default(),
            kernel,
            prefix,
            listener,
            procs: Mutex::new(HashMap::new()),
        });
        std::thread::Builder::new().name("rump-seccomp".into()).spawn(move || sup.run())?;
        Ok(())
    }
}

/// A process under supervision.
struct Traced {
    process: Arc<Process>,
    /// Its working directory is in the kernel (after a `chdir` there).
    cwd_in_kernel: bool,
}

struct Supervisor {
    workers: Workers,
    kernel: Kernel,
    prefix: String,
    listener: OwnedFd,
    procs: Mutex<HashMap<i32, Arc<Mutex<Traced>>>>,
}

/// The threads that run kernel calls. A call may block (a pipe, a
/// socket), so none runs on the receiving thread; an idle worker takes
/// the next, and a new one starts when all are busy.
#[derive(Default)]
struct Workers {
    queue: Mutex<(Vec<Call>, usize)>,
    ready: std::sync::Condvar,
}

impl Workers {
    /// Hands `call` to an idle worker, starting one if none is idle.
    fn give(&self, call: Call, sup: &Arc<Supervisor>) {
        let Ok(mut q) = self.queue.lock() else { return };
        q.0.push(call);
        if q.1 > 0 {
            q.1 -= 1;
            self.ready.notify_one();
            return;
        }
        drop(q);
        let sup = sup.clone();
        std::thread::spawn(move || sup.workers.work(&sup));
    }

    fn work(&self, sup: &Supervisor) {
        loop {
            let call = {
                let Ok(mut q) = self.queue.lock() else { return };
                loop {
                    if let Some(c) = q.0.pop() {
                        break c;
                    }
                    q.1 += 1;
                    let Ok(next) = self.ready.wait(q) else { return };
                    q = next;
                }
            };
            let a = sup.serve(&call);
            sup.answer(&call, a);
        }
    }
}

/// One caught call, as the kernel reports it.
#[derive(Clone, Copy)]
struct Call {
    id: u64,
    tid: i32,
    nr: i64,
    args: [u64; 6],
}

/// What to answer.
enum Answer {
    Continue,
    Value(i64),
    Error(Errno),
    /// Install a placeholder for the kernel's fd and return its number.
    NewFd {
        rfd: i32,
        at: Option<i32>,
        cloexec: bool,
    },
}

impl Supervisor {
    fn run(self: Arc<Self>) {
        loop {
            // SAFETY: a zeroed notification buffer for the kernel to fill.
            let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            let r = unsafe { libc::ioctl(self.listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV as _, &mut req) };
            if r != 0 {
                match std::io::Error::last_os_error().raw_os_error() {
                    Some(libc::EINTR) | Some(libc::ENOENT) => continue,
                    _ => return,
                }
            }
            let call = Call { id: req.id, tid: req.pid as i32, nr: req.data.nr as i64, args: req.data.args };
            if !self.ours(&call) {
                self.answer(&call, Answer::Continue);
                continue;
            }
            self.workers.give(call, &self);
        }
    }

    fn answer(&self, c: &Call, a: Answer) {
        let l = self.listener.as_raw_fd();
        let mut resp = libc::seccomp_notif_resp { id: c.id, val: 0, error: 0, flags: 0 };
        match a {
            Answer::Continue => resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
            Answer::Value(v) => resp.val = v,
            Answer::Error(e) => resp.error = -e.0,
            Answer::NewFd { rfd, at, cloexec } => match self.install(c, rfd, at, cloexec) {
                Ok(()) => return,
                Err(e) => resp.error = -e.0,
            },
        }
        // SAFETY: a response for the kernel; ENOENT if the caller died.
        unsafe { libc::ioctl(l, libc::SECCOMP_IOCTL_NOTIF_SEND as _, &resp) };
    }

    /// Puts a placeholder for kernel fd `rfd` into the caller (at `at`, or
    /// the lowest free number) and answers the call with its number.
    fn install(&self, c: &Call, rfd: i32, at: Option<i32>, cloexec: bool) -> Result<(), Errno> {
        let name = format!("rumpfd:{rfd}\0");
        // SAFETY: a NUL-terminated name.
        let m = unsafe { libc::memfd_create(name.as_ptr().cast(), libc::MFD_CLOEXEC) };
        if m < 0 {
            return Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)));
        }
        // SAFETY: ours.
        let m = unsafe { OwnedFd::from_raw_fd(m) };
        let mut flags = libc::SECCOMP_ADDFD_FLAG_SEND as u32;
        if at.is_some() {
            flags |= libc::SECCOMP_ADDFD_FLAG_SETFD as u32;
        }
        let add = libc::seccomp_notif_addfd {
            id: c.id,
            flags,
            srcfd: m.as_raw_fd() as u32,
            newfd: at.unwrap_or(0) as u32,
            newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
        };
        // SAFETY: the request for the kernel.
        if unsafe { libc::ioctl(self.listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ADDFD as _, &add) } < 0 {
            return Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)));
        }
        Ok(())
    }

    /// Whether the call names something of the kernel's.
    fn ours(&self, c: &Call) -> bool {
        let Some(route) = raw_route(c.nr as u32) else { return false };
        route.args.iter().enumerate().any(|(i, kind)| match *kind {
            RawArg::Fd => rump_fd(c.tid, c.args[i] as i32).is_some(),
            RawArg::Path => self.path_route(c, c.args[i], libc::AT_FDCWD).is_some(),
            RawArg::PathAt(d) => self.path_route(c, c.args[i], c.args[d as usize] as i32).is_some(),
            RawArg::Family => matches!(c.args[i] as i32, libc::AF_INET | libc::AF_INET6),
            RawArg::Other => false,
        })
    }

    /// The kernel's path for the caller's path at `addr`, if it goes there.
    fn path_route(&self, c: &Call, addr: u64, dirfd: i32) -> Option<Vec<u8>> {
        let p = read_str(c.tid, addr)?;
        if p.first() == Some(&b'/') {
            if let Some(k) = rump_abi::linux::net_file(&p) {
                return Some(k);
            }
            let rest = p.strip_prefix(self.prefix.as_bytes())?;
            return match rest.first() {
                None => Some(b"/".to_vec()),
                Some(b'/') => Some(rest.to_vec()),
                _ => None,
            };
        }
        let relative_ours = if dirfd == libc::AT_FDCWD {
            self.traced_or_new(c.tid).is_ok_and(|t| t.lock().is_ok_and(|t| t.cwd_in_kernel))
        } else {
            rump_fd(c.tid, dirfd).is_some()
        };
        relative_ours.then_some(p)
    }

    /// The caller's kernel process, made on first use: a fork of its
    /// parent's if that one is supervised, else a new one.
    fn traced_or_new(&self, tid: i32) -> Result<Arc<Mutex<Traced>>, Errno> {
        let tgid = tgid_of(tid).ok_or(Errno(libc::ESRCH))?;
        let mut procs = self.procs.lock().map_err(|_| Errno(libc::EIO))?;
        if let Some(t) = procs.get(&tgid) {
            return Ok(t.clone());
        }
        let parent = ppid_of(tgid).and_then(|pp| procs.get(&pp).cloned());
        let t = match parent {
            Some(p) => {
                let p = p.lock().map_err(|_| Errno(libc::EIO))?;
                Traced { process: Arc::new(p.process.fork()?), cwd_in_kernel: p.cwd_in_kernel }
            }
            None => Traced {
                process: Arc::new(self.kernel.spawn(Emulation::Linux, Cred::root(), "static")?),
                cwd_in_kernel: false,
            },
        };
        t.process.set_host_pid(tgid as _);
        let t = Arc::new(Mutex::new(t));
        procs.insert(tgid, t.clone());
        Ok(t)
    }

    /// Runs a call that names something of the kernel's.
    fn serve(&self, c: &Call) -> Answer {
        match self.serve_in_kernel(c) {
            Ok(a) => a,
            Err(e) => Answer::Error(e),
        }
    }

    fn serve_in_kernel(&self, c: &Call) -> Result<Answer, Errno> {
        let route = raw_route(c.nr as u32).ok_or(Errno(libc::ENOSYS))?;
        let t = self.traced_or_new(c.tid)?;
        let mut slots: Slots = [0; rump_abi::MAXARGS];
        let mut mem = TargetMem { tid: c.tid, overlay: Vec::new() };
        for (i, kind) in route.args.iter().enumerate() {
            slots[i] = c.args[i];
            match *kind {
                RawArg::Fd => {
                    if let Some(r) = rump_fd(c.tid, c.args[i] as i32) {
                        slots[i] = r as u64;
                    }
                }
                RawArg::Path | RawArg::PathAt(_) => {
                    let dirfd = match *kind {
                        RawArg::PathAt(d) => c.args[d as usize] as i32,
                        _ => libc::AT_FDCWD,
                    };
                    if let Some(p) = self.path_route(c, c.args[i], dirfd) {
                        slots[i] = mem.lend(p);
                    }
                }
                _ => {}
            }
        }
        let name = route.name;
        let process = t.lock().map_err(|_| Errno(libc::EIO))?.process.clone();
        if matches!(name, "dup2" | "dup3") && rump_fd(c.tid, c.args[0] as i32).is_none() {
            // A host fd onto a placeholder: the kernel's fd closes, the
            // host's dup2 replaces the placeholder.
            if let Some(old) = rump_fd(c.tid, c.args[1] as i32) {
                let _ = process.syscall_with(libc::SYS_close as u32, &[old as u64, 0, 0, 0, 0, 0, 0, 0], &mem);
            }
            return Ok(Answer::Continue);
        }
        // The kernel's view of a dup onto a number: a dup of its own.
        let (nr, target) = match name {
            "dup2" | "dup3" => (libc::SYS_dup as u32, Some(c.args[1] as i32)),
            // F_DUPFD's floor: the lowest number at or above it free in the caller.
            "fcntl" if matches!(c.args[1] as i32, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) => {
                (libc::SYS_dup as u32, Some(lowest_free(c.tid, c.args[2] as i32)))
            }
            _ => (c.nr as u32, None),
        };
        if name == "dup2" && c.args[0] == c.args[1] {
            return Ok(Answer::Value(c.args[1] as i64));
        }
        let r = process.syscall_with(nr, &slots, &mem)?;
        let cloexec = match name {
            "open" => c.args[1] as i32 & libc::O_CLOEXEC != 0,
            "openat" => c.args[2] as i32 & libc::O_CLOEXEC != 0,
            "socket" => c.args[1] as i32 & libc::SOCK_CLOEXEC != 0,
            "accept4" => c.args[3] as i32 & libc::SOCK_CLOEXEC != 0,
            "dup3" => c.args[2] as i32 & libc::O_CLOEXEC != 0,
            "fcntl" => c.args[1] as i32 == libc::F_DUPFD_CLOEXEC,
            _ => false,
        };
        let returns_fd =
            matches!(name, "open" | "openat" | "creat" | "socket" | "accept" | "accept4" | "dup" | "dup2" | "dup3")
                || (name == "fcntl" && matches!(c.args[1] as i32, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC));
        Ok(match name {
            _ if returns_fd => {
                if let Some(old) = target.and_then(|n| rump_fd(c.tid, n)) {
                    let _ = process.syscall_with(libc::SYS_close as u32, &[old as u64, 0, 0, 0, 0, 0, 0, 0], &mem);
                }
                Answer::NewFd { rfd: r as i32, at: target, cloexec }
            }
            // The placeholder goes with the host's close.
            "close" => Answer::Continue,
            "chdir" | "fchdir" => {
                t.lock().map_err(|_| Errno(libc::EIO))?.cwd_in_kernel = true;
                Answer::Value(r)
            }
            _ => Answer::Value(r),
        })
    }
}

/// The kernel fd behind the caller's fd `fd`, if it is a placeholder.
fn rump_fd(tid: i32, fd: i32) -> Option<i32> {
    if fd < 0 {
        return None;
    }
    let link = std::fs::read_link(format!("/proc/{tid}/fd/{fd}")).ok()?;
    let s = link.to_str()?;
    s.strip_prefix("/memfd:rumpfd:")?.split(' ').next()?.parse().ok()
}

/// The lowest fd number at or above `min` that the caller has free.
fn lowest_free(tid: i32, min: i32) -> i32 {
    (min.max(0)..).find(|n| std::fs::symlink_metadata(format!("/proc/{tid}/fd/{n}")).is_err()).unwrap_or(min)
}

fn status_field(pid: i32, field: &str) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix(field)?.trim().parse().ok())
}

fn tgid_of(tid: i32) -> Option<i32> {
    status_field(tid, "Tgid:")
}

fn ppid_of(pid: i32) -> Option<i32> {
    status_field(pid, "PPid:")
}

/// The caller's NUL-terminated string at `addr` (at most PATH_MAX).
fn read_str(tid: i32, addr: u64) -> Option<Vec<u8>> {
    if addr == 0 {
        return None;
    }
    let mem = TargetMem { tid, overlay: Vec::new() };
    mem.copy_in_str(UserAddr(addr), libc::PATH_MAX as usize).ok()
}

/// The caller's memory, with strings of ours lent at addresses it does
/// not use (the kernel's view of a rewritten path).
struct TargetMem {
    tid: i32,
    overlay: Vec<(u64, Vec<u8>)>,
}

/// Where lent strings go: a user address far from anything mapped.
const LENT_BASE: u64 = 0x1000_0000_0000;

impl TargetMem {
    fn lend(&mut self, mut s: Vec<u8>) -> u64 {
        s.push(0);
        let at = LENT_BASE + self.overlay.len() as u64 * 0x1_0000;
        self.overlay.push((at, s));
        at
    }

    fn lent(&self, addr: u64) -> Option<&[u8]> {
        self.overlay.iter().find(|(a, _)| *a == addr).map(|(_, s)| &s[..])
    }

    fn vm(&self, call: i64, local: *mut u8, addr: u64, n: usize) -> Result<usize, Errno> {
        let l = libc::iovec { iov_base: local.cast(), iov_len: n };
        let r = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: n };
        // SAFETY: one local buffer of `n` bytes and the caller's address.
        let got = unsafe {
            libc::syscall(
                call,
                self.tid as libc::c_long,
                &l as *const libc::iovec,
                1usize,
                &r as *const libc::iovec,
                1usize,
                0usize,
            )
        };
        if got < 0 {
            Err(Errno(libc::EFAULT))
        } else {
            Ok(got as usize)
        }
    }
}

impl UserMemory for TargetMem {
    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(s) = self.lent(addr.0) {
            let n = buf.len().min(s.len());
            buf[..n].copy_from_slice(&s[..n]);
            return Ok(());
        }
        match self.vm(libc::SYS_process_vm_readv, buf.as_mut_ptr(), addr.0, buf.len())? {
            n if n == buf.len() => Ok(()),
            _ => Err(Errno(libc::EFAULT)),
        }
    }

    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        if data.is_empty() {
            return Ok(());
        }
        match self.vm(libc::SYS_process_vm_writev, data.as_ptr().cast_mut(), addr.0, data.len())? {
            n if n == data.len() => Ok(()),
            _ => Err(Errno(libc::EFAULT)),
        }
    }

    fn copy_in_str(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        if let Some(s) = self.lent(addr.0) {
            return Ok(s[..s.len() - 1].to_vec());
        }
        if addr.is_null() {
            return Err(Errno(libc::EFAULT));
        }
        let mut out = Vec::new();
        let mut at = addr.0;
        while out.len() < max {
            // Up to the end of the page, so an unmapped next page is no fault.
            let chunk = (4096 - (at % 4096) as usize).min(max - out.len());
            let mut buf = vec![0u8; chunk];
            let n = self.vm(libc::SYS_process_vm_readv, buf.as_mut_ptr(), at, chunk)?;
            if let Some(z) = buf[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..z]);
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
            at += n as u64;
        }
        Err(Errno(libc::ENAMETOOLONG))
    }
}
