//! Every system call, not only libc's: Syscall User Dispatch (Linux 5.11+)
//! sends each `syscall` instruction executed outside the library's gate to
//! a SIGSYS handler, which routes it as the libc hooks would.
//!
//! On with `RUMPHIJACK=...,syscalls=all`. The pieces:
//! - `gate`: the allowed code region (host syscalls, the signal return,
//!   thread resumption) and the per-thread selector byte;
//! - `signals`: the SIGSYS handler, and the program's signal calls kept
//!   compatible with interception;
//! - `router`: a caught call's route, by the generated table, to the host
//!   or to the hook of the same name;
//! - `process`: caught fork/vfork/clone/clone3;
//! - `thread`: arming threads made by `pthread_create`.
//!
//! Dispatch is per thread and does not survive fork or exec: the main
//! thread is armed by the constructor (again in each new image), threads
//! as they start, a forked child by the atfork handler.

pub mod gate;
mod process;
mod router;
mod signals;
mod thread;

use rump_abi::Errno;
use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(false);

/// Whether raw syscalls are being intercepted in this process.
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

const PR_SET_SYSCALL_USER_DISPATCH: usize = 59;
const PR_SYS_DISPATCH_ON: usize = 1;
const PR_SYS_DISPATCH_OFF: usize = 0;

/// Turns interception on for the process (from the constructor, on the
/// main thread). Where the host cannot, says so in one line and leaves
/// the symbol hooks to do what they can.
pub fn start() {
    in_library(0);
    if let Err(e) = signals::install().and_then(|()| arm_thread()) {
        let why = if e.0 == libc::EINVAL {
            "this kernel has no Syscall User Dispatch (Linux 5.11 or later)".to_string()
        } else {
            format!("arming Syscall User Dispatch failed (errno {})", e.0)
        };
        crate::warn_once(&format!("syscalls=all: {why}; raw system calls are not intercepted"));
        return;
    }
    ON.store(true, Ordering::Relaxed);
    // SAFETY: registers a handler that only re-arms the calling thread.
    unsafe { libc::pthread_atfork(None, None, Some(rearm_child)) };
    gate::set_selector(gate::BLOCK);
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

/// Turns interception off for the calling process (a keeper, which is
/// single-threaded here and runs only library code).
pub fn disarm() {
    if ON.swap(false, Ordering::Relaxed) {
        // SAFETY: prctl turning dispatch off for this thread.
        unsafe { gate::syscall(libc::SYS_prctl, [PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0, 0]) };
        gate::set_selector(gate::ALLOW);
    }
}

extern "C" fn rearm_child() {
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
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _: usize, out: *mut libc::c_void) -> libc::c_int {
        // SAFETY: ld.so's description of one object; `out` is ours.
        let (info, out) = unsafe { (&*info, &mut *(out as *mut (usize, usize))) };
        let here = in_library as *const () as usize;
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: `dlpi_phnum` headers.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            let start = info.dlpi_addr as usize + ph.p_vaddr as usize;
            let end = start + ph.p_memsz as usize;
            if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 && (start..end).contains(&here) {
                *out = (start, end);
                return 1;
            }
        }
        0
    }
    let mut out = (0usize, 0usize);
    // SAFETY: the callback only reads the headers and writes `out`.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut out as *mut (usize, usize)).cast()) };
    out
}
