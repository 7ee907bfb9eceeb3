//! librumpclient: NetBSD's rumpclient C interface over the Rust client
//! (`rumpclient::client::Client`, every transport it has: `unix://`,
//! `tcp://` v4 and v6). `rumpclient_init` connects to `RUMP_SERVER` (or
//! takes over the connection an exec left), every `rump_sys_*`
//! (`rump_abi::native_c_syscalls!`) is one call on it, and fork and exec
//! keep a connection as NetBSD's do. Errors are native errno values; no
//! panic crosses into C.

use parking_lot::RwLock;
use rump_abi::capi::{c_result, set_errno};
use rump_abi::native::errno::{EFAULT, EINVAL, EIO, ENOTCONN};
use rump_abi::{Errno, Slots, SysResult, Syscall, MAXARGS};
use rumpclient::client::{Client, ForkCookie, Retry};
use rumpclient::wire::handshake::Emulation;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::time::Duration;

/// The process's connection; replaced in a forked child.
static CLIENT: RwLock<Option<Client>> = RwLock::new(None);

/// Runs `f`, turning a panic into EIO so that none unwinds into C.
fn guarded<T>(f: impl FnOnce() -> Result<T, Errno>) -> Result<T, Errno> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(Err(EIO))
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(EINVAL.raw()))
}

/// 0, or -1 with `errno` set.
fn c_status(r: Result<(), Errno>) -> c_int {
    c_result(r.map(|()| 0)) as c_int
}

fn syscall(num: u32, args: &Slots) -> SysResult {
    guarded(|| CLIENT.read().as_ref().ok_or(ENOTCONN)?.syscall(num, args))
}

fn call(num: u32, args: &Slots) -> i64 {
    c_result(syscall(num, args))
}

rump_abi::native_c_syscalls!(call);

fn progname() -> String {
    let arg0 = std::env::args_os().next().unwrap_or_default();
    let base = std::path::Path::new(&arg0).file_name().map(|n| n.to_string_lossy().into_owned());
    base.filter(|n| !n.is_empty()).unwrap_or_else(|| "rumpclient".into())
}

/// Connects to `RUMP_SERVER`, or resumes the connection a client's exec
/// handed over. 0, or -1 with `errno` set.
#[no_mangle]
pub extern "C" fn rumpclient_init() -> c_int {
    c_status(guarded(|| {
        let name = progname();
        let client = match Client::resume_after_exec(&name).map_err(io_errno)? {
            Some(c) => c,
            None => Client::from_env(Emulation::Native, &name).map_err(io_errno)?,
        };
        *CLIENT.write() = Some(client);
        Ok(())
    }))
}

/// Call `sysnum` with arguments packed as NetBSD's `register_t`s in
/// `data`; the value goes to `retval[0]`. 0, or the errno value.
///
/// # Safety
/// `data` holds `dlen` bytes and `retval` two `register_t`s.
#[no_mangle]
pub unsafe extern "C" fn rumpclient_syscall(
    sysnum: c_int,
    data: *const c_void,
    dlen: usize,
    retval: *mut i64,
) -> c_int {
    let mut slots: Slots = [0; MAXARGS];
    let n = (dlen / 8).min(MAXARGS);
    if (n > 0 && data.is_null()) || retval.is_null() {
        return EFAULT.raw();
    }
    for (i, s) in slots.iter_mut().enumerate().take(n) {
        // SAFETY: within the `dlen` bytes the caller vouches for.
        *s = unsafe { data.cast::<u64>().add(i).read_unaligned() };
    }
    match syscall(sysnum as u32, &slots) {
        Ok(v) => {
            // SAFETY: the caller passes room for two register_t.
            unsafe { retval.write(v) };
            unsafe { retval.add(1).write(0) };
            0
        }
        Err(e) => e.raw(),
    }
}

/// What happens when the connection is lost: `timeout` seconds of
/// retrying, or RUMPCLIENT_RETRYCONN_{INFTIME,ONCE,DIE} (-1, -2, -3).
#[no_mangle]
pub extern "C" fn rumpclient_setconnretry(timeout: libc::time_t) -> c_int {
    c_status(guarded(|| {
        let retry = match timeout {
            -1 => Retry::Forever,
            -2 => Retry::Once,
            -3 => Retry::Die,
            t if t > 0 => Retry::For(Duration::from_secs(t as u64)),
            _ => return Err(EINVAL),
        };
        let mut slot = CLIENT.write();
        let client = slot.take().ok_or(ENOTCONN)?;
        *slot = Some(client.with_retry(retry));
        Ok(())
    }))
}

/// The server forks this client's process; the child of the host fork
/// presents the result to `rumpclient_fork_init`. NULL and `errno` on
/// failure. Freed by `rumpclient_fork_init` or `rumpclient_fork_cancel`.
#[no_mangle]
pub extern "C" fn rumpclient_prefork() -> *mut ForkCookie {
    match guarded(|| CLIENT.read().as_ref().ok_or(ENOTCONN)?.prefork()) {
        Ok(cookie) => Box::into_raw(Box::new(cookie)),
        Err(e) => {
            set_errno(e.raw());
            std::ptr::null_mut()
        }
    }
}

fn take_cookie(rf: *mut ForkCookie) -> Result<ForkCookie, Errno> {
    // SAFETY: a pointer rumpclient_prefork returned, passed back once.
    (!rf.is_null()).then(|| *unsafe { Box::from_raw(rf) }).ok_or(EFAULT)
}

/// In the child of a host fork: a connection of its own to the process
/// `rumpclient_prefork` made. 0, or -1 with `errno` set.
#[no_mangle]
pub extern "C" fn rumpclient_fork_init(rf: *mut ForkCookie) -> c_int {
    c_status(guarded(|| {
        let cookie = take_cookie(rf)?;
        let mut slot = CLIENT.write();
        let parent = slot.as_ref().ok_or(ENOTCONN)?;
        let child = parent.connect_forked(cookie, false).map_err(io_errno)?.ok_or(EIO)?;
        // The parent's connection stays the parent's: this only closes
        // the child's copy of the descriptor.
        *slot = Some(child);
        Ok(())
    }))
}

/// In the parent, when the host fork failed: the server drops the child.
#[no_mangle]
pub extern "C" fn rumpclient_fork_cancel(rf: *mut ForkCookie) {
    let _ = guarded(|| {
        let cookie = take_cookie(rf)?;
        let slot = CLIENT.read();
        slot.as_ref().ok_or(ENOTCONN)?.connect_forked(cookie, true).map_err(io_errno).map(drop)
    });
}

/// fork(2) for clients: the child is a new process in the kernel too,
/// with the parent's fds. As fork: the child's pid, 0, or -1 and `errno`.
#[no_mangle]
pub extern "C" fn rumpclient_fork() -> libc::pid_t {
    let rf = rumpclient_prefork();
    if rf.is_null() {
        return -1;
    }
    // SAFETY: fork; the child only makes its own connection before
    // returning to the program.
    match unsafe { libc::fork() } {
        -1 => {
            let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(EIO.raw());
            rumpclient_fork_cancel(rf);
            set_errno(e);
            -1
        }
        0 => match rumpclient_fork_init(rf) {
            0 => 0,
            _ => {
                // A child without its kernel process cannot go on as one.
                eprintln!("rumpclient_fork: the child could not connect");
                unsafe { libc::_exit(1) }
            }
        },
        pid => {
            // The child claims the cookie; the parent's copy is freed.
            let _ = take_cookie(rf);
            pid
        }
    }
}

/// Reads a NULL-terminated `char *` array.
unsafe fn c_strings(v: *const *const c_char) -> Vec<&'static CStr> {
    let mut out = Vec::new();
    let mut i = 0;
    while !v.is_null() {
        // SAFETY: the caller's array ends in NULL.
        let p = unsafe { *v.add(i) };
        if p.is_null() {
            break;
        }
        out.push(unsafe { CStr::from_ptr(p) });
        i += 1;
    }
    out
}

/// execve(2) for clients: the new image's `rumpclient_init` takes over
/// this connection (and this kernel process, whose close-on-exec fds
/// close). Returns only on failure: -1 and `errno`.
///
/// # Safety
/// `path` is a C string, `argv` and `envp` NULL-terminated string arrays.
#[no_mangle]
pub unsafe extern "C" fn rumpclient_exec(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let r = guarded(|| {
        let slot = CLIENT.read();
        let client = slot.as_ref().ok_or(ENOTCONN)?;
        let extra = client.exec_env().map_err(io_errno)?;
        let extra: Vec<std::ffi::CString> =
            extra.iter().filter_map(|(k, v)| std::ffi::CString::new(format!("{k}={v}")).ok()).collect();
        // SAFETY: as the caller vouches.
        let mut env: Vec<*const c_char> = unsafe { c_strings(envp) }.iter().map(|s| s.as_ptr()).collect();
        env.extend(extra.iter().map(|s| s.as_ptr()));
        env.push(std::ptr::null());
        // SAFETY: C strings and NULL-terminated arrays.
        unsafe { libc::execve(path, argv, env.as_ptr()) };
        let e = io_errno(std::io::Error::last_os_error());
        client.exec_failed();
        Err(e)
    });
    c_status(r)
}
