//! The kernel this process talks to: an in-process one, booted on the
//! first rump call when `RUMP_SERVER` is unset, or a remote one.
//!
//! Hooks take a handle (`kernel()`) and call it through the typed
//! `rump_sys_*` functions of the Linux table; both kinds answer with Linux
//! numbers, flags and errno, so a hook passes results through unchanged.
//! When a process with an in-process kernel forks or execs, the kernel
//! moves into a keeper process (`keeper`) and this process becomes its
//! client, so children and new images share it. A process that forks
//! before touching any kernel starts none: its children share the one the
//! first of them to touch it starts (`tree`).

use parking_lot::Mutex;
use rump_abi::linux::errno::{EFAULT, ENOTCONN, ENXIO};
use rump_abi::syscall::{Slots, SysResult, Syscall};
use rump_abi::Errno;
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation as KernelEmulation;
use rump_kernel::vfs::mapping::MapKind;
use rump_kernel::{Config, Process};
use rumpclient::client::{Client, ForkCookie};
use rumpclient::probe::good_prefix;
use rumpclient::selfmem::SelfMemory;
use rumpclient::transport::shm::lane::{Dir, Plan};
use rumpclient::wire::handshake::Emulation;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicPtr, Ordering};

/// An in-process kernel and this program's process in it.
pub struct Local {
    pub kernel: rump_kernel::Kernel,
    pub process: Process,
}

pub enum Backend {
    Local(Local),
    Remote(Client),
    /// Not touched yet, in a tree whose keeper this process joins on its
    /// first call.
    Tree(crate::tree::Tree),
}

impl Syscall for Backend {
    #[inline]
    fn syscall(&self, num: u32, args: &Slots) -> SysResult {
        match self {
            // The program's pointers are probed, never trusted: EFAULT,
            // not a crash, for a bad one.
            Backend::Local(l) => match l.process.syscall_with(num, args, &SelfMemory) {
                Err(EFAULT) => good_part_again(&l.process, num, args),
                r => r,
            },
            Backend::Remote(c) => c.syscall(num, args),
            // Nothing in the tree's kernel to keep in step with the host's
            // umask before joining: joining copies it.
            Backend::Tree(t) if num == rump_abi::linux::sys::SYS_umask && t.joined.get().is_none() => Ok(0),
            Backend::Tree(t) => t.kernel()?.syscall(num, args),
        }
    }
}

/// A read or write whose buffer turns bad part way: Linux copies up to
/// the fault and returns that short count, while the in-process kernel,
/// lending the buffer whole once every page of it is found good, said
/// EFAULT having done nothing; the call is made again for the good part,
/// as a client does over shared memory.
#[cold]
fn good_part_again(process: &Process, num: u32, args: &Slots) -> SysResult {
    let good = rump_abi::linux::sys::desc(num).and_then(|d| Plan::of_any_size(d, args)).and_then(|plan| {
        let good = good_prefix(plan.buf, plan.len, plan.dir != Dir::FromCaller);
        (0 < good && good < plan.len).then(|| plan.shortened(good)).flatten()
    });
    match good {
        Some(plan) => process.syscall_with(num, &plan.args(args), &SelfMemory),
        None => Err(EFAULT),
    }
}

impl Backend {
    /// The kernel calls go to: a tree's once this process has joined it.
    pub fn joined(&self) -> Result<&Backend, Errno> {
        match self {
            Backend::Tree(t) => t.kernel(),
            b => Ok(b),
        }
    }
}

/// The kernel handle. Replaced handles are leaked, not freed: another
/// thread may be in a call on one (the memory is copy-on-write shared with
/// a keeper, so this costs little); a forked child, being single-threaded,
/// frees the one it inherited.
static BACKEND: AtomicPtr<Backend> = AtomicPtr::new(std::ptr::null_mut());
/// Serialises starting and moving the kernel.
static START: Mutex<()> = Mutex::new(());

/// The kernel, booting or connecting on first use.
pub fn kernel() -> Result<&'static Backend, Errno> {
    if let Some(b) = current() {
        return Ok(b);
    }
    let _g = START.lock();
    if let Some(b) = current() {
        return Ok(b);
    }
    Ok(install(start()?))
}

/// The kernel if this process already has one.
#[inline]
pub fn current() -> Option<&'static Backend> {
    // SAFETY: a non-NULL pointer is a leaked Box, never freed while
    // another thread could hold it.
    unsafe { BACKEND.load(Ordering::Acquire).as_ref() }
}

fn install(b: Backend) -> &'static Backend {
    let b = Box::leak(Box::new(b));
    BACKEND.store(b, Ordering::Release);
    b
}

/// In a freshly forked child (one thread): replaces the inherited handle
/// and returns it, to be dropped or taken apart.
pub fn take_in_child(new: Option<Backend>) -> Option<Box<Backend>> {
    let new = new.map_or(std::ptr::null_mut(), |b| Box::into_raw(Box::new(b)));
    let old = BACKEND.swap(new, Ordering::AcqRel);
    // SAFETY: no other thread exists to hold the old handle.
    (!old.is_null()).then(|| unsafe { Box::from_raw(old) })
}

/// In a forked child: the start lock may have been held by the forking
/// thread (a keeper is forked under it); no other thread can hold it now.
pub fn unlock_in_child() {
    if START.is_locked() {
        // SAFETY: single-threaded child; whoever held it is gone or is us.
        unsafe { START.force_unlock() };
    }
}

/// Adopts a client as this process's kernel (after exec).
pub fn set_remote(c: Client) {
    install(Backend::Remote(c));
}

/// The program's short name, as the kernel records it.
pub fn comm() -> String {
    extern "C" {
        static program_invocation_short_name: *const libc::c_char;
    }
    // SAFETY: glibc sets this before constructors run; it may be NULL.
    let p = unsafe { program_invocation_short_name };
    if p.is_null() {
        return "rumphijack".into();
    }
    // SAFETY: a NUL-terminated string owned by glibc.
    unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn start() -> Result<Backend, Errno> {
    if std::env::var_os("RUMP_SERVER").is_some() {
        return match Client::from_env(Emulation::Linux, &comm()) {
            Ok(c) => {
                let b = Backend::Remote(c);
                inherit_umask(&b);
                Ok(b)
            }
            Err(e) => {
                crate::warn_once(&format!("cannot reach the rump server: {e}"));
                Err(ENOTCONN)
            }
        };
    }
    let b = Backend::Local(boot()?);
    inherit_umask(&b);
    Ok(b)
}

/// A new in-process kernel with this program's process in it.
pub fn boot() -> Result<Local, Errno> {
    let kernel = rump_kernel::Kernel::boot(Config::default()).map_err(|_| ENXIO)?;
    let process = kernel.spawn(KernelEmulation::Linux, Cred::root(), &comm()).map_err(|_| ENXIO)?;
    process.set_host_pid(std::process::id() as i32);
    Ok(Local { kernel, process })
}

/// Joins `tree`'s keeper as this process's kernel (`Tree::kernel`).
pub fn join_tree(tree: &crate::tree::Tree) -> Result<&'static Backend, Errno> {
    let _g = START.lock();
    if let Some(b) = tree.joined.get() {
        return Ok(b);
    }
    let b = Backend::Remote(crate::keeper::join(tree)?);
    inherit_umask(&b);
    let b = install(b);
    let _ = tree.joined.set(b);
    Ok(b)
}

/// Adopts the tree a new image's parent image belonged to (after exec).
pub fn set_tree(t: crate::tree::Tree) {
    install(Backend::Tree(t));
}

/// A new kernel process starts with the host's umask, as a child would.
fn inherit_umask(b: &Backend) {
    // Reading the umask means setting it; put it straight back.
    let mask = crate::host::sys(libc::SYS_umask, [0, 0, 0, 0]).unwrap_or(0o022);
    let _ = crate::host::sys(libc::SYS_umask, [mask as usize, 0, 0, 0]);
    let _ = rump_abi::linux::sys::rump_sys_umask(b, mask as i32);
}

/// The kernel as one that children and new images can reach (a process
/// tree shares one kernel from its first hijacked process down): an
/// in-process kernel moves into a keeper first; a process with none names
/// the keeper its tree will share (`tree`), and a client of `RUMP_SERVER`
/// connects.
pub fn shareable() -> Result<&'static Backend, Errno> {
    share(false).map(|(b, _)| b)
}

/// `shareable`, for a host fork about to happen: when the kernel moves
/// into a keeper now, the keeper has forked this process's kernel process
/// for the child already, and the cookie the child claims it with comes
/// back (no PREFORK needed).
pub fn shareable_for_fork() -> Result<(&'static Backend, Option<ForkCookie>), Errno> {
    share(true)
}

fn share(for_fork: bool) -> Result<(&'static Backend, Option<ForkCookie>), Errno> {
    if current().is_none() && std::env::var_os("RUMP_SERVER").is_some() {
        kernel()?;
    }
    let _g = START.lock();
    let b = match current() {
        Some(b) => b,
        None => install(Backend::Tree(crate::tree::Tree::new()?)),
    };
    match b {
        Backend::Local(local) => {
            let (client, forked) = crate::keeper::detach(local, for_fork)?;
            Ok((install(Backend::Remote(client)), forked))
        }
        Backend::Tree(t) => Ok((t.joined.get().copied().unwrap_or(b), None)),
        Backend::Remote(_) => Ok((b, None)),
    }
}

/// A host descriptor through which this process maps its rump fd `r` as
/// `kind` says (`rump_kernel::Process::mappable_fd`, or the server's over
/// the wire); `None` for a private mapping to fill with the file's bytes.
pub fn mappable_fd(b: &Backend, r: i32, kind: MapKind) -> Result<Option<OwnedFd>, Errno> {
    match b.joined()? {
        Backend::Local(l) => l.process.mappable_fd(r, kind),
        Backend::Remote(c) => c.mappable_fd(r, kind),
        Backend::Tree(_) => Err(ENXIO),
    }
}

/// Whether host descriptors can come from the kernel: always in-process,
/// and from a server over a unix socket but not over TCP.
pub fn passes_fds(b: &Backend) -> bool {
    client(b).is_none_or(Client::passes_fds)
}

/// The remote client, if this process's kernel is remote (a tree's once
/// joined).
pub fn client(b: &Backend) -> Option<&Client> {
    match b {
        Backend::Remote(c) => Some(c),
        Backend::Local(_) => None,
        Backend::Tree(t) => t.joined.get().and_then(|b| client(b)),
    }
}
