//! librump: an in-process rump kernel behind NetBSD's C interface.
//! `rump_init` boots one kernel per host process; every `rump_sys_*`
//! (generated from `syscalls.master`, `rump_abi::native_c_syscalls!`) runs
//! as the calling thread's current lwp (`lwproc`); `etfs` and `netconfig`
//! are the `rump_pub_*` that put host files and interfaces into it;
//! `rump_init_server` serves it to librumpclient programs. No panic
//! crosses into C: a call that panics fails with EIO.

mod etfs;
mod lwproc;
mod netconfig;

use etfs::c_str;
use parking_lot::Mutex;
use rump_abi::capi::c_error;
use rump_abi::capi::c_result;
use rump_abi::native::errno::{EINVAL, EIO, ENXIO};
use rump_abi::{Errno, Slots, SysResult};
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use rumpclient::policy::Policy;
use rumpclient::server::Server;
use rumpclient::url::ServerUrl;
use std::ffi::{c_char, c_int};
use std::sync::{Arc, OnceLock};

/// The kernel and its first process (pid 1), which threads without an lwp
/// of their own call as.
struct Booted {
    kernel: Kernel,
    proc1: Arc<Process>,
}

static BOOTED: OnceLock<Result<Booted, Errno>> = OnceLock::new();

fn booted() -> Result<&'static Booted, Errno> {
    match BOOTED.get() {
        Some(Ok(b)) => Ok(b),
        Some(Err(e)) => Err(*e),
        None => Err(ENXIO),
    }
}

/// Runs `f`, turning a panic into EIO so that none unwinds into C.
fn guarded<T>(f: impl FnOnce() -> Result<T, Errno>) -> Result<T, Errno> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(Err(EIO))
}

fn syscall(num: u32, args: &Slots) -> SysResult {
    guarded(|| {
        let proc1 = &booted()?.proc1;
        lwproc::with_current(proc1, |p| rump_abi::Syscall::syscall(p, num, args))
    })
}

fn call(num: u32, args: &Slots) -> i64 {
    c_result(syscall(num, args))
}

rump_abi::native_c_syscalls!(call);

/// Boots the kernel (tmpfs root, devfs, procfs, lo0); later calls return
/// what the first did. 0, or an errno value.
#[no_mangle]
pub extern "C" fn rump_init() -> c_int {
    let r = BOOTED.get_or_init(|| {
        guarded(|| {
            let kernel = Kernel::boot(Config::default())?;
            let proc1 = Arc::new(kernel.spawn(Emulation::Native, Cred::root(), "rump_init")?);
            Ok(Booted { kernel, proc1 })
        })
    });
    r.as_ref().err().map_or(0, |e| e.raw())
}

/// The servers `rump_init_server` started: they serve while the process lives.
static SERVERS: Mutex<Vec<Server>> = Mutex::new(Vec::new());

/// Serves the booted kernel at `url` as a rump_server would (after
/// `rump_init`; ENXIO before). 0, or an errno value: EINVAL for a URL
/// that does not parse, the host's errno if it cannot listen there.
#[no_mangle]
pub extern "C" fn rump_init_server(url: *const c_char) -> c_int {
    c_error(guarded(|| {
        let url = c_str(url)?.to_str().map_err(|_| EINVAL)?;
        let url = ServerUrl::parse(url).map_err(|_| EINVAL)?;
        let kernel = booted()?.kernel.clone();
        let server =
            Server::start(kernel, &url, Policy::default()).map_err(|e| Errno(e.raw_os_error().unwrap_or(EIO.raw())))?;
        SERVERS.lock().push(server);
        Ok(())
    }))
}

/// NetBSD's `__NetBSD_Version__` the native ABI follows (10.0).
const NETBSD_VERSION: c_int = 1_000_000_000;

#[no_mangle]
pub extern "C" fn rump_getversion() -> c_int {
    NETBSD_VERSION
}

#[no_mangle]
pub extern "C" fn rump_pub_getversion() -> c_int {
    NETBSD_VERSION
}

/// Whether the kernel's ABI is the host's: no, it is NetBSD's on Linux.
#[no_mangle]
pub extern "C" fn rump_nativeabi_p() -> c_int {
    0
}
