//! NetBSD's lwp interface (`rump_pub_lwproc_*`): each host thread has a
//! current lwp, which names the kernel process its calls run as. An lwp
//! here is a handle on a kernel `Process`; a process lives while an lwp
//! of it does, so releasing its last lwp is its exit. Threads with no
//! lwp call as pid 1, as NetBSD's use an implicit lwp. The `struct lwp *`
//! C sees is an address this module hands out and checks when it comes
//! back, so a stale or made-up pointer is ignored, never followed.

use crate::{booted, guarded};
use parking_lot::Mutex;
use rump_abi::capi::c_error;
use rump_abi::native::errno::{EINVAL, ESRCH};
use rump_abi::Errno;
use rump_kernel::Process;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::Arc;

/// One lwp: a thread's claim on a process.
struct Lwp {
    proc: Arc<Process>,
}

/// Every lwp not yet released, by the address C knows it by.
static LWPS: Mutex<Option<HashMap<usize, Arc<Lwp>>>> = Mutex::new(None);

thread_local! {
    static CURRENT: RefCell<Option<Arc<Lwp>>> = const { RefCell::new(None) };
}

/// Flags of rump_pub_lwproc_rfork (rump.ifspec).
const RFFDG: c_int = 0x01;
const RFCFDG: c_int = 0x02;

/// Runs `f` on the calling thread's process (`proc1` if it has no lwp).
pub fn with_current<T>(proc1: &Arc<Process>, f: impl FnOnce(&Process) -> T) -> T {
    let cur = CURRENT.with(|c| c.borrow().as_ref().map(|l| l.proc.clone()));
    f(cur.as_ref().unwrap_or(proc1))
}

/// Makes `proc` the calling thread's current process through a new lwp.
fn attach(proc: Arc<Process>) {
    let lwp = Arc::new(Lwp { proc });
    let key = Arc::as_ptr(&lwp) as usize;
    LWPS.lock().get_or_insert_with(HashMap::new).insert(key, lwp.clone());
    CURRENT.with(|c| *c.borrow_mut() = Some(lwp));
}

fn current_proc() -> Result<Arc<Process>, Errno> {
    let proc1 = &booted()?.proc1;
    Ok(CURRENT.with(|c| c.borrow().as_ref().map(|l| l.proc.clone())).unwrap_or_else(|| proc1.clone()))
}

/// A new process, child of the current one, with a copy of its fd table
/// (RUMP_RFFDG) or none (RUMP_RFCFDG), and the thread switched to it.
/// NetBSD's shared fd table (flags 0) has no counterpart here: EINVAL.
#[no_mangle]
pub extern "C" fn rump_pub_lwproc_rfork(flags: c_int) -> c_int {
    c_error(guarded(|| {
        let parent = current_proc()?;
        let child = match flags {
            RFFDG => parent.fork()?,
            RFCFDG => {
                let child = parent.fork()?;
                let pid = child.pid();
                parent.kernel().with_state(|st| {
                    let fds: Vec<i32> =
                        st.procs.get(&pid).map(|p| p.fds.iter().map(|(fd, _)| fd).collect()).unwrap_or_default();
                    fds.into_iter().try_for_each(|fd| st.close_fd(pid, fd))
                })?;
                child
            }
            _ => return Err(EINVAL),
        };
        attach(Arc::new(child));
        Ok(())
    }))
}

/// Another lwp of process `pid`, made current. ESRCH if no lwp of `pid`
/// lives (pid 1 always does).
#[no_mangle]
pub extern "C" fn rump_pub_lwproc_newlwp(pid: libc::pid_t) -> c_int {
    c_error(guarded(|| {
        let proc1 = &booted()?.proc1;
        let proc = match proc1.pid() == pid as _ {
            true => proc1.clone(),
            false => {
                let lwps = LWPS.lock();
                let found = lwps.as_ref().and_then(|m| m.values().find(|l| l.proc.pid() == pid as _));
                found.map(|l| l.proc.clone()).ok_or(ESRCH)?
            }
        };
        attach(proc);
        Ok(())
    }))
}

/// Makes `l` the thread's current lwp; NULL leaves the thread with none
/// (calls go to pid 1). An address that is no live lwp changes nothing.
#[no_mangle]
pub extern "C" fn rump_pub_lwproc_switch(l: *mut c_void) {
    let _ = guarded(|| {
        let next = match l.is_null() {
            true => None,
            false => Some(LWPS.lock().as_ref().and_then(|m| m.get(&(l as usize)).cloned()).ok_or(EINVAL)?),
        };
        CURRENT.with(|c| *c.borrow_mut() = next);
        Ok(())
    });
}

/// Ends the current lwp; the thread is left with none. The process exits
/// (its fds close) with its last lwp.
#[no_mangle]
pub extern "C" fn rump_pub_lwproc_releaselwp() {
    let _ = guarded(|| {
        if let Some(lwp) = CURRENT.with(|c| c.borrow_mut().take()) {
            let gone = LWPS.lock().as_mut().and_then(|m| m.remove(&(Arc::as_ptr(&lwp) as usize)));
            // The process may exit here: outside the table's lock.
            drop((lwp, gone));
        }
        Ok(())
    });
}

/// The thread's current lwp, or NULL if it has none.
#[no_mangle]
pub extern "C" fn rump_pub_lwproc_curlwp() -> *mut c_void {
    CURRENT.with(|c| c.borrow().as_ref().map_or(std::ptr::null_mut(), |l| Arc::as_ptr(l) as *mut c_void))
}
