//! Every system call, not only libc's: raw syscalls reach the library by
//! two roads, chosen by `RUMPHIJACK=...,syscalls=`.
//!
//! - libc's `syscall()` is one of the library's functions (`libc_fn`): a
//!   program calling it (C's `syscall(SYS_openat, ...)`, Python's ctypes)
//!   is routed at the cost of a function call, in every mode but `libc`.
//! - Syscall User Dispatch (Linux 5.11+) sends each `syscall` instruction
//!   executed outside the library's gate to a SIGSYS handler, which routes
//!   it as the libc hooks would. Armed, it costs every system call of the
//!   process the kernel's slow entry path (a hooked `pread` on a host fd
//!   about 1.2× instead of 1.02×) and each caught call a signal (µs) until
//!   its site is rewritten (`rewrite`; sites of other forms always pay the
//!   signal).
//!
//! `syscalls=auto` (the default) arms dispatch only in processes whose code
//! makes syscalls of its own outside libc, ld.so and this library
//! (`detect`: Go programs and objects, and objects with glibc's inline
//! `mov $nr,%eax; syscall`), checking again each object `dlopen` loads and
//! arming every thread then. An object whose inline sites can all be
//! rewritten ahead, shown to be code by its unwind tables
//! (`rewrite::ahead`), does not arm it: armed, every call of the thread
//! takes the kernel's slow entry, about 28 ns here even when let through
//! by the gate's range (`getppid` 1.23×), 50 ns by the selector, which no
//! stub can win back. What auto misses: syscall instructions in
//! other forms (the number loaded from memory or a register, as in a
//! hand-written `syscall()`; in an object rewritten ahead too), and
//! glibc's own internal syscalls (the calls
//! a libc function makes that are not the hooked function itself);
//! `syscalls=all` arms every process for those, `syscalls=libc` turns
//! both roads off.
//!
//! The pieces:
//! - `gate`: the allowed code region (host syscalls, the signal return,
//!   thread resumption) and the per-thread selector byte;
//! - `signals`: the SIGSYS handler, and the program's signal calls kept
//!   compatible with interception;
//! - `router`: a caught call's route, by the generated table, to the host
//!   or to the hook of the same name;
//! - `process`: caught fork/vfork/clone/clone3;
//! - `thread`: arming threads made by `pthread_create`;
//! - `foreign`: threads made by a raw `clone`, armed and given a TLS block
//!   of their own, which FS is switched to while the library works on
//!   them (the SIGSYS handler, a rewritten site's stub, `syscall()`, a
//!   libc hook, a program's signal handler run by the library);
//! - `detect`, `libc_fn`: as above;
//! - `rewrite`: a site of glibc's inline form becomes a jump to a stub
//!   that calls the host or the router directly, ahead or once caught;
//!   `frames` and `decode` find where an object's instructions start;
//! - `go`: the same for the one function Go's `syscall` package calls;
//!   `go_stack`: the per-thread stack its calls to the router run on.
//!
//! Dispatch is per thread and does not survive fork or exec: the main
//! thread is armed by the constructor (again in each new image), threads
//! as they start (those of a caught raw `clone` before they resume the
//! program), a forked child by the atfork handler; threads already
//! running when `dlopen` arms the process by a signal (`arm_others`).
//! A thread a raw `clone` made before the process was armed (dispatch
//! did not catch it) is not known to `foreign`: asked to arm itself, it
//! runs the handler on whatever FS it has.

mod decode;
mod detect;
pub mod foreign;
mod frames;
pub mod gate;
mod go;
mod go_stack;
mod libc_fn;
mod process;
mod rewrite;
mod router;
mod signals;
mod thread;

use crate::config::Syscalls;
use rump_abi::Errno;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

static ON: AtomicBool = AtomicBool::new(false);
static MODE: AtomicU8 = AtomicU8::new(Syscalls::Libc as u8);

/// Whether raw syscalls are being intercepted by dispatch in this process.
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The `syscalls=` mode of this process.
pub fn mode() -> Syscalls {
    match MODE.load(Ordering::Relaxed) {
        m if m == Syscalls::All as u8 => Syscalls::All,
        m if m == Syscalls::Auto as u8 => Syscalls::Auto,
        _ => Syscalls::Libc,
    }
}

const PR_SET_SYSCALL_USER_DISPATCH: usize = 59;
const PR_SYS_DISPATCH_ON: usize = 1;
const PR_SYS_DISPATCH_OFF: usize = 0;

/// Starts interception for the process as `mode` says (from the
/// constructor, on the main thread).
pub fn start(mode: Syscalls) {
    MODE.store(mode as u8, Ordering::Relaxed);
    if mode != Syscalls::Libc {
        // SAFETY: registers a handler that only works on the calling thread.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    }
    match mode {
        Syscalls::Libc => return,
        Syscalls::All => arm_process("syscalls=all"),
        Syscalls::Auto => {
            if let Some(why) = detect::loaded_objects() {
                arm_process(&why);
            }
        }
    }
    if on() {
        go::patch_program();
    }
    // The program runs next. An unarmed thread's selector is never read,
    // so it is set either way: a thread armed later by `arm_others` is
    // then already right wherever it was interrupted.
    gate::set_selector(gate::BLOCK);
}

/// Arms dispatch for the whole process: the handler, this thread, the
/// threads already running. Where the host cannot, says so in one line
/// and leaves the symbol hooks to do what they can.
fn arm_process(why: &str) {
    if on() {
        return;
    }
    in_library(0);
    if let Err(e) = signals::install().and_then(|()| arm_thread()) {
        let reason = if e.0 == libc::EINVAL {
            "this kernel has no Syscall User Dispatch (Linux 5.11 or later)".to_string()
        } else {
            format!("arming Syscall User Dispatch failed (errno {})", e.0)
        };
        crate::warn_once(&format!("{why}: {reason}; raw system calls are not intercepted"));
        return;
    }
    tracing::debug!(target: "rumphijack::sud", "Syscall User Dispatch armed: {why}");
    ON.store(true, Ordering::Relaxed);
    rewrite::note_objects();
    arm_others();
}

/// Arms dispatch on the calling thread, with its own selector. The
/// selector's value is left as it is: the caller knows whether the
/// program or the library runs next.
pub fn arm_thread() -> Result<(), Errno> {
    let (begin, len) = gate::range();
    let sel = gate::selector_addr() as usize;
    // SAFETY: prctl with the gate's range and this thread's selector.
    let r = unsafe {
        gate::syscall(libc::SYS_prctl, [PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, begin, len, sel, 0])
    };
    if r < 0 {
        return Err(Errno(-r as i32));
    }
    signals::unblock_sigsys();
    Ok(())
}

/// Asks every other thread of the process to arm itself: a SIGSYS queued
/// to each with `signals::ARM` as its value, which the handler answers by
/// arming the thread it runs on. A thread that blocked SIGSYS stays
/// unarmed (its calls then go to the host, as before).
fn arm_others() {
    // SAFETY: argument-less calls through the gate.
    let (pid, me) = unsafe { (gate::syscall(libc::SYS_getpid, [0; 6]), gate::syscall(libc::SYS_gettid, [0; 6])) };
    let dir = b"/proc/self/task\0";
    let flags = (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as usize;
    // SAFETY: a NUL-terminated path.
    let fd =
        unsafe { gate::syscall(libc::SYS_openat, [libc::AT_FDCWD as usize, dir.as_ptr() as usize, flags, 0, 0, 0]) };
    if fd < 0 {
        return;
    }
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: a buffer of its length.
        let n = unsafe {
            gate::syscall(libc::SYS_getdents64, [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0])
        };
        if n <= 0 {
            break;
        }
        let mut off = 0;
        while off < n as usize {
            // linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            let name = &buf[off + 19..off + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if let Some(tid) = std::str::from_utf8(name).ok().and_then(|s| s.parse::<isize>().ok()) {
                if tid != me {
                    signals::send_arm(pid, tid);
                }
            }
            off += reclen;
        }
    }
    // SAFETY: our own fd.
    unsafe { gate::syscall(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]) };
}

/// Turns interception off for the calling process (a keeper, which is
/// single-threaded here and runs only library code).
pub fn disarm() {
    MODE.store(Syscalls::Libc as u8, Ordering::Relaxed);
    if ON.swap(false, Ordering::Relaxed) {
        // SAFETY: prctl turning dispatch off for this thread.
        unsafe { gate::syscall(libc::SYS_prctl, [PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0, 0]) };
    }
    gate::set_selector(gate::ALLOW);
}

/// A forked child: a site patch the parent was making is finished (with
/// or without dispatch: sites are rewritten ahead in a process not
/// armed), and the child's thread armed as its parent's was.
extern "C" fn in_child() {
    foreign::in_child();
    rewrite::finish_in_child();
    if on() {
        let _ = arm_thread();
    }
}

/// This library's executable segment, `[start, end)`, found once.
static TEXT: std::sync::OnceLock<(usize, usize)> = std::sync::OnceLock::new();

/// Whether code address `addr` lies in this library.
pub fn in_library(addr: usize) -> bool {
    let (start, end) = *TEXT.get_or_init(own_text);
    (start..end).contains(&addr)
}

/// Finds the executable `PT_LOAD` segment of the object holding this code.
fn own_text() -> (usize, usize) {
    let here = in_library as *const () as usize;
    let mut out = (0usize, 0usize);
    detect::each_object(|obj| {
        for (start, end) in obj.text() {
            if (start..end).contains(&here) {
                out = (start, end);
                return true;
            }
        }
        false
    });
    out
}
