//! Where a caught raw syscall goes: the same decision a libc hook makes,
//! reached through the same hook.
//!
//! The generated table (`rump_abi::linux::sys::RAW_ROUTES`, from the
//! Linux `syscalls.master`) says which arguments of a call are fds, paths
//! (and relative to which fd) or a socket family. If none of them names
//! something of the kernel's — a rump fd, a
//! path `route` sends to the kernel, a hijacked family — the call goes to
//! the host as it is, through the gate. Otherwise the library's hook of
//! the same name runs it (`openat`, `read`, `socket`...), so fd mapping,
//! placeholders and errno rules are the hooks' own; the hook's C result
//! becomes the raw `-errno` convention.
//!
//! A host fd with a companion in the kernel (an epoll fd with rump fds
//! added, `hooks::event`) names something of the kernel's too. The epoll
//! waits always go to their hooks, whose fd may get a companion while the
//! host waits on it (Go's netpoller makes them from its own code).
//!
//! A call made by the library itself (its own raw calls through libc's
//! `syscall()`, on its own fds) goes to the host untouched.
//!
//! Calls the table cannot describe are listed here: signal calls
//! (`signals`), process creation and exec (`process`), `poll` (fds inside
//! an array), the epoll waits, `close_range` and `getcwd` (a different
//! convention from libc's). Every pointer read here is probed first, so a
//! bad one is the host's EFAULT (paths are probed by `route`).

use super::{gate, process, signals};
use crate::route::{self, Route};
use libc::ucontext_t;
use rump_abi::linux::sys::raw_route;
use rump_abi::{RawArg, RawRoute};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// Runs the call caught in `uc` and gives its raw result.
pub fn dispatch(uc: &mut ucontext_t) -> isize {
    let g = &uc.uc_mcontext.gregs;
    let nr = g[libc::REG_RAX as usize];
    let a = [libc::REG_RDI, libc::REG_RSI, libc::REG_RDX, libc::REG_R10, libc::REG_R8, libc::REG_R9]
        .map(|r| g[r as usize] as usize);
    caught(nr, a, g[libc::REG_RSP as usize] as usize, Some(uc))
}

/// Runs call `nr` made by a `syscall` instruction (or the rewritten site
/// of one) with the stack pointer at `sp`.
pub fn caught(nr: i64, a: [usize; 6], sp: usize, uc: Option<&mut ucontext_t>) -> isize {
    if from_library(sp) {
        return pass(nr, a);
    }
    route(nr, a, uc)
}

/// Runs call `nr` of the program. `uc` is the interrupted context of a
/// caught instruction, `None` for a call made through a function
/// (`syscall()`, a rewritten site): there, the signal mask is the
/// thread's own and a new thread cannot be resumed elsewhere.
pub fn route(nr: i64, a: [usize; 6], uc: Option<&mut ucontext_t>) -> isize {
    match nr {
        libc::SYS_rt_sigaction if super::on() => signals::sigaction(a),
        libc::SYS_rt_sigprocmask if super::on() => match uc {
            Some(uc) => signals::sigprocmask(a, uc),
            None => signals::sigprocmask_now(a),
        },
        libc::SYS_sigaltstack => match uc {
            Some(uc) => signals::sigaltstack(a, uc),
            None => pass(nr, a),
        },
        libc::SYS_fork | libc::SYS_vfork | libc::SYS_clone | libc::SYS_clone3 => process::create(nr, a, uc),
        libc::SYS_execve => by_hook("execve", false, a),
        libc::SYS_execveat => by_hook("execveat", false, a),
        libc::SYS_poll | libc::SYS_ppoll if polls_kernel(a) => {
            by_hook(if nr == libc::SYS_poll { "poll" } else { "ppoll" }, true, a)
        }
        libc::SYS_epoll_wait => by_hook("epoll_wait", true, a),
        libc::SYS_epoll_pwait => by_hook("epoll_pwait", true, a),
        libc::SYS_epoll_pwait2 => by_hook("epoll_pwait2", true, a),
        libc::SYS_close_range if crate::fdmap::any() => by_hook("close_range", true, a),
        libc::SYS_getcwd if route::cwd() != route::Cwd::Host => getcwd(a),
        _ => match raw_route(nr as u32) {
            Some(r) if reaches_kernel(r, &a) => by_hook(hook_name(r.name), r.int_result, a),
            _ => pass(nr, a),
        },
    }
}

/// The calls `route` decides by its own arms rather than by the table.
const OWN_ARMS: [i64; 16] = [
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_sigaltstack,
    libc::SYS_fork,
    libc::SYS_vfork,
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_close_range,
    libc::SYS_getcwd,
];

/// Whether `route` would pass call `nr` to the host as it is, decided
/// from the registers alone: no path read, no libc string function (the
/// quick path of a rewritten site, which has saved only the SSE
/// registers). `false` means `route` must decide.
pub fn passes_on_registers(nr: i64, a: &[usize; 6]) -> bool {
    !OWN_ARMS.contains(&nr)
        && raw_route(nr as u32).is_none_or(|r| {
            r.args.iter().zip(a).all(|(kind, &v)| match *kind {
                RawArg::Fd => crate::fdmap::rump_fd(v as i32).is_none(),
                RawArg::Family => !route::config().hijacks_family(v as i32),
                RawArg::Other => true,
                RawArg::Path | RawArg::PathAt(_) => false,
            })
        })
}

/// What a rewritten site of call `nr` can decide without the router.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shortcut {
    /// `route` passes every such call to the host (`getppid`, `futex`).
    Host,
    /// `route` passes it unless argument `n`, the call's only fd, is a
    /// rump fd (or one of the library's own, which may have to step
    /// aside): `read`, `pread64`, `fstat`...
    UnlessFd(usize),
    /// Only `route` can tell.
    None,
}

/// Each call number's shortcut, worked out on first use (`SHORTCUT_*`;
/// 0 for not yet): the router's per-call decision without a search.
/// Read by `gate`'s `dyn_call` too.
pub static SHORTCUTS: [AtomicU8; SHORTCUTS_LEN] = [const { AtomicU8::new(0) }; SHORTCUTS_LEN];
pub const SHORTCUTS_LEN: usize = 512;
pub const SHORTCUT_HOST: u8 = 1;
const SHORTCUT_NONE: u8 = 2;
/// `None`, and the call needs the signal frame of a caught instruction
/// (`needs_frame`): `dyn_call` leaves it to dispatch.
pub const SHORTCUT_FRAME: u8 = 3;
/// `SHORTCUT_FD + n`: `UnlessFd(n)`.
pub const SHORTCUT_FD: u8 = 4;

/// Works out every number's shortcut now, for `dyn_call`, which cannot.
pub fn work_out_shortcuts() {
    for nr in 0..SHORTCUTS_LEN as i64 {
        shortcut(nr);
    }
}

/// The shortcut for call `nr`.
pub fn shortcut(nr: i64) -> Shortcut {
    let Some(slot) = usize::try_from(nr).ok().and_then(|n| SHORTCUTS.get(n)) else { return decide(nr) };
    let code = match slot.load(Ordering::Relaxed) {
        0 => {
            let code = match decide(nr) {
                Shortcut::Host => SHORTCUT_HOST,
                Shortcut::None if needs_frame(nr) => SHORTCUT_FRAME,
                Shortcut::None => SHORTCUT_NONE,
                Shortcut::UnlessFd(n) => SHORTCUT_FD + n as u8,
            };
            slot.store(code, Ordering::Relaxed);
            code
        }
        code => code,
    };
    match code {
        SHORTCUT_HOST => Shortcut::Host,
        SHORTCUT_NONE | SHORTCUT_FRAME => Shortcut::None,
        fd => Shortcut::UnlessFd(usize::from(fd - SHORTCUT_FD)),
    }
}

/// Calls that need the signal frame of a caught instruction (its
/// interrupted mask, or a stack to resume a new thread on): their sites
/// keep trapping.
pub fn needs_frame(nr: i64) -> bool {
    [
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_clone,
        libc::SYS_fork,
        libc::SYS_vfork,
        libc::SYS_clone3,
    ]
    .contains(&nr)
}

/// Whether `route` passes call `nr` to the host as it is, known from its
/// shortcut and fd alone (a few loads): `false` means `route` must decide.
pub fn passes_at_once(nr: i64, a: &[usize; 6]) -> bool {
    match shortcut(nr) {
        Shortcut::Host => true,
        Shortcut::UnlessFd(n) => {
            let fd = a[n] as i32;
            // One of the library's own may have to step aside first.
            fd < rumpclient::ownfd::LOWEST.load(Ordering::Relaxed) && crate::fdmap::peek(fd).is_none()
        }
        Shortcut::None => false,
    }
}

/// `shortcut`, worked out from the table.
fn decide(nr: i64) -> Shortcut {
    if OWN_ARMS.contains(&nr) {
        return Shortcut::None;
    }
    let Some(r) = raw_route(nr as u32) else { return Shortcut::Host };
    let mut fds = r.args.iter().enumerate().filter(|(_, &k)| k != RawArg::Other);
    match (fds.next(), fds.next()) {
        (None, _) => Shortcut::Host,
        (Some((n, RawArg::Fd)), None) => Shortcut::UnlessFd(n),
        _ => Shortcut::None,
    }
}

/// Whether the caught call is the library's own, made through a libc
/// wrapper (`syscall()`, `read`...): those are leaves, so at the
/// instruction the stack's top is the return address into the caller.
/// A word that only happens to point into the library (a restorer kept in
/// a local, say) is told apart by what precedes a return address: a call.
pub fn from_library(sp: usize) -> bool {
    // SAFETY: the interrupted thread's stack pointer, readable.
    let ret = if sp == 0 { 0 } else { unsafe { *(sp as *const usize) } };
    super::in_library(ret) && super::in_library(ret - 6) && {
        // SAFETY: the 6 bytes before `ret`, inside the library's text.
        let before = unsafe { std::slice::from_raw_parts((ret - 6) as *const u8, 6) };
        after_call(before)
    }
}

/// Whether `code` (the 6 bytes before an address) ends with a `call`:
/// `e8 rel32`, `ff 15 rel32` (through the GOT), or `ff /2` on a register
/// (with or without a REX prefix).
fn after_call(code: &[u8]) -> bool {
    code[1] == 0xe8
        || code[..2] == [0xff, 0x15]
        || (code[4] == 0xff && (0xd0..=0xd7).contains(&code[5]))
        || (code[3] == 0x41 && code[4] == 0xff && (0xd0..=0xd7).contains(&code[5]))
}

/// The call as it is, to the host.
pub fn pass(nr: i64, a: [usize; 6]) -> isize {
    // SAFETY: the program's own call, unchanged.
    unsafe { gate::syscall(nr, a) }
}

/// Whether an argument of the call names something of the kernel's.
fn reaches_kernel(r: &RawRoute, a: &[usize; 6]) -> bool {
    r.args.iter().zip(a).any(|(kind, &v)| match *kind {
        RawArg::Fd => crate::fdmap::rump_fd(v as i32).is_some() || crate::hooks::event::companion(v as i32).is_some(),
        // SAFETY: the program passed a path here (NULL is the host's EFAULT).
        RawArg::Path => unsafe { !matches!(route::route(libc::AT_FDCWD, v as *const libc::c_char), Route::Host) },
        RawArg::PathAt(d) => unsafe {
            !matches!(route::route(a[d as usize] as i32, v as *const libc::c_char), Route::Host)
        },
        RawArg::Family => route::config().hijacks_family(v as i32),
        RawArg::Other => false,
    })
}

/// Whether a `poll`/`ppoll` array names a rump fd. The array is probed
/// first: a bad one is the host's EFAULT, not a fault here.
fn polls_kernel(a: [usize; 6]) -> bool {
    let (fds, n) = (a[0] as *const libc::pollfd, a[1]);
    let size = n.saturating_mul(std::mem::size_of::<libc::pollfd>());
    if fds.is_null()
        || n > 65536
        || !crate::fdmap::any()
        || rumpclient::probe::probe(rump_abi::UserAddr(fds as u64), size, false).is_err()
    {
        return false;
    }
    // SAFETY: `n` entries, probed readable.
    (0..n).any(|i| crate::fdmap::peek(unsafe { (*fds.add(i)).fd }).is_some())
}

/// The libc name of a syscall's hook, where the two differ.
fn hook_name(sys: &'static str) -> &'static str {
    match sys {
        "newfstatat" => "fstatat",
        "faccessat2" => "faccessat",
        other => other,
    }
}

/// `getcwd(buf, size)` in the kernel: the raw call returns the length
/// with the NUL, libc's the buffer.
fn getcwd(a: [usize; 6]) -> isize {
    let r = by_hook("getcwd", false, a);
    if r < 0 {
        return r;
    }
    // SAFETY: the hook filled the buffer with a NUL-terminated path.
    unsafe { libc::strlen(a[0] as *const libc::c_char) as isize + 1 }
}

/// The hooks found so far, by name: (name, address) pairs, 0 for none.
static HOOKS: [(AtomicUsize, AtomicUsize); 64] = [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; 64];

/// This library's definition of `name` (a hook), if it has one.
fn hook(name: &'static str) -> Option<usize> {
    let key = name.as_ptr() as usize;
    for (k, f) in &HOOKS {
        match k.load(Ordering::Acquire) {
            0 => {
                let addr = own_symbol(name)?;
                f.store(addr, Ordering::Relaxed);
                k.store(key, Ordering::Release);
                return Some(addr);
            }
            k if k == key => return Some(f.load(Ordering::Relaxed)),
            _ => {}
        }
    }
    own_symbol(name)
}

/// `name` as this library defines it: dlsym's answer if it lies in this
/// library (not libc's, which would take a rump fd to the host).
fn own_symbol(name: &str) -> Option<usize> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: a NUL-terminated name.
    let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr()) } as usize;
    (f != 0 && super::in_library(f)).then_some(f)
}

/// Runs the hook `name` with the raw arguments, turning its C result
/// (`-1` and errno) into the raw convention (`-errno`). errno is the
/// program's again afterwards: a raw call never touches it.
pub fn by_hook(name: &'static str, int_result: bool, a: [usize; 6]) -> isize {
    let Some(f) = hook(name) else {
        crate::warn_once(&format!("raw syscall {name} on a rump object has no handler: ENOSYS"));
        return -(libc::ENOSYS as isize);
    };
    type Hook = unsafe extern "C" fn(usize, usize, usize, usize, usize, usize) -> isize;
    // SAFETY: `f` is our hook of that name; extra argument registers are
    // ignored by a function taking fewer.
    let f: Hook = unsafe { std::mem::transmute(f) };
    let saved = crate::host::errno();
    let r = unsafe { f(a[0], a[1], a[2], a[3], a[4], a[5]) };
    let r = if int_result { r as i32 as isize } else { r };
    let out = if r == -1 { -(crate::host::errno() as isize) } else { r };
    crate::host::restore_errno(saved);
    out
}
