//! Processes: fork, vfork, `_Fork`, every exec variant, posix_spawn,
//! system, popen/pclose and daemon keep rump fds and the rump cwd.
//!
//! A process that never used a kernel passes straight to libc: its
//! children start kernels of their own. One that did makes its kernel
//! shareable first (`backend::shareable`: an in-process kernel moves into
//! a keeper), then forks with NetBSD's PREFORK/FORK handshakes and execs
//! with the connection and `state` carried in the environment.
//!
//! glibc's posix_spawn, system and popen create the child with an internal
//! clone and exec internally, out of our reach, so with a kernel in use
//! they are re-implemented here on fork and exec (the file actions are
//! recorded as the program adds them). vfork becomes fork: a vfork child
//! shares our memory, and its fd-map edits would corrupt the parent's.

use crate::backend::{self, Backend};
use crate::host::{errno, set_errno, sys};
use crate::state;
use libc::{c_char, c_int, c_short, pid_t, posix_spawn_file_actions_t, posix_spawnattr_t, FILE};
use parking_lot::Mutex;
use rump_abi::Errno;
use std::collections::HashMap;
use std::ffi::{CStr, CString};

crate::real_fns! {
    fn fork() -> pid_t;
    fn _Fork() -> pid_t;
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn execveat(dirfd: c_int, path: *const c_char, argv: *const *const c_char, envp: *const *const c_char, flags: c_int) -> c_int;
    fn posix_spawn_file_actions_destroy(fa: *mut posix_spawn_file_actions_t) -> c_int;
    fn posix_spawn_file_actions_addopen(fa: *mut posix_spawn_file_actions_t, fd: c_int, path: *const c_char, oflag: c_int, mode: mode_t) -> c_int;
    fn posix_spawn_file_actions_addclose(fa: *mut posix_spawn_file_actions_t, fd: c_int) -> c_int;
    fn posix_spawn_file_actions_adddup2(fa: *mut posix_spawn_file_actions_t, fd: c_int, newfd: c_int) -> c_int;
    fn posix_spawn_file_actions_addchdir_np(fa: *mut posix_spawn_file_actions_t, path: *const c_char) -> c_int;
    fn posix_spawn_file_actions_addfchdir_np(fa: *mut posix_spawn_file_actions_t, fd: c_int) -> c_int;
    fn posix_spawn_file_actions_addclosefrom_np(fa: *mut posix_spawn_file_actions_t, from: c_int) -> c_int;
    fn pclose(fp: *mut FILE) -> c_int;
    fn fdopen(fd: c_int, mode: *const c_char) -> *mut FILE;
}

extern "C" {
    static mut environ: *const *const c_char;
}

// ---- fork ------------------------------------------------------------------

/// Forks with `host_fork`, giving the child its own connection to the
/// same kernel (a copy of this process in it, fds shared).
fn fork_with(host_fork: impl FnOnce() -> pid_t) -> pid_t {
    let (k, forked) = match backend::shareable_for_fork() {
        Ok(k) => k,
        Err(e) => {
            crate::warn_once(&format!("children get kernels of their own: no shared kernel (errno {})", e.0));
            return host_fork();
        }
    };
    let Some(client) = backend::client(k) else { return host_fork() };
    let cookie = match forked.map_or_else(|| client.prefork(), Ok) {
        Ok(c) => c,
        Err(_) => {
            set_errno(libc::EAGAIN);
            return -1;
        }
    };
    let pid = host_fork();
    if pid != 0 {
        crate::keeper::reap_first_child();
    }
    if pid == 0 {
        backend::unlock_in_child();
        let new = match client.connect_forked(cookie, false) {
            Ok(Some(c)) => Some(Backend::Remote(c)),
            _ => {
                crate::warn_once("a forked child could not reach the rump kernel");
                None
            }
        };
        drop(backend::take_in_child(new));
    } else if pid < 0 {
        let e = errno();
        let _ = client.connect_forked(cookie, true);
        set_errno(e);
    }
    pid
}

crate::hook! {
    #[allow(non_snake_case)]
    Process fn fork | _Fork() -> pid_t;
    {
        fork_with(|| unsafe { host!() })
    }

    Process fn vfork | __vfork() -> pid_t;
    {
        unsafe { fork() }
    }
}

// ---- exec ------------------------------------------------------------------

/// An environment for a new image: `envp` with `extra` set.
struct Env {
    _strings: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl Env {
    /// # Safety
    /// `envp` is NULL or a NULL-terminated array of C strings.
    unsafe fn new(envp: *const *const c_char, extra: &[(String, String)]) -> Env {
        let mut strings = Vec::new();
        let mut i = 0;
        while !envp.is_null() {
            // SAFETY: a NULL-terminated array, as the caller promised.
            let p = unsafe { *envp.add(i) };
            if p.is_null() {
                break;
            }
            // SAFETY: a C string.
            let s = unsafe { CStr::from_ptr(p) };
            let name = s.to_bytes().split(|&b| b == b'=').next().unwrap_or_default();
            if !extra.iter().any(|(k, _)| k.as_bytes() == name) {
                strings.push(s.to_owned());
            }
            i += 1;
        }
        strings.extend(extra.iter().filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok()));
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        Env { _strings: strings, ptrs }
    }
}

/// Runs an exec with the kernel's state added to `envp`; the exec only
/// returns on failure, after which the connection is closed on exec again.
fn exec_with(envp: *const *const c_char, exec: impl FnOnce(*const *const c_char) -> c_int) -> c_int {
    // A new image of a process that never used a kernel starts its own:
    // unlike a fork, nobody else could share this one.
    if backend::current().is_none() {
        return exec(envp);
    }
    let k = match backend::shareable() {
        Ok(k) => k,
        Err(e) => {
            crate::warn_once(&format!("the new image gets a kernel of its own: no shared kernel (errno {})", e.0));
            return exec(envp);
        }
    };
    let extra = match state::exec_env(k) {
        Ok(v) => v,
        Err(e) => {
            set_errno(e.raw_os_error().unwrap_or(libc::EIO));
            return -1;
        }
    };
    // SAFETY: the caller's environment array.
    let env = unsafe { Env::new(envp, &extra) };
    let r = exec(env.ptrs.as_ptr());
    let e = errno();
    if let Some(c) = backend::client(k) {
        c.exec_failed();
    }
    set_errno(e);
    r
}

crate::hook! {
    Process fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    {
        // SAFETY: the caller's path.
        let route = unsafe { crate::route::route(libc::AT_FDCWD, path) };
        if let crate::route::Route::Kernel(p) = &route {
            return match image_from_kernel(p) {
                Ok(fd) => {
                    // SAFETY: the caller's path.
                    crate::supervised::before_exec_fd(fd, unsafe { std::ffi::CStr::from_ptr(path) });
                    exec_with(envp, |env| unsafe { real::execveat(fd, c"".as_ptr(), argv, env, libc::AT_EMPTY_PATH) })
                }
                Err(e) => {
                    set_errno(e.0);
                    -1
                }
            };
        }
        let path = route.host_path().unwrap_or(path);
        unsafe { crate::supervised::before_exec(path) };
        exec_with(envp, |env| unsafe { host!(path, argv, env) })
    }
}

/// A program stored in the kernel, copied into a memfd the host can
/// execute, after the checks execve makes (ENOENT, EACCES for a file that
/// is not a regular executable). The memfd is left open across the exec:
/// a script's interpreter opens it by its /dev/fd name.
fn image_from_kernel(p: &crate::route::RumpPath) -> Result<c_int, Errno> {
    use rump_abi::linux::sys as rump;
    let k = backend::kernel()?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    rump::rump_sys_newfstatat(k, p.dirfd, p.path.as_ptr(), (&mut st as *mut libc::stat).cast(), 0)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Errno(libc::EACCES));
    }
    rump::rump_sys_faccessat(k, p.dirfd, p.path.as_ptr(), libc::X_OK)?;
    let r = rump::rump_sys_openat(k, p.dirfd, p.path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    let copy = || -> Result<c_int, Errno> {
        let m = sys(libc::SYS_memfd_create, [c"rump-exec".as_ptr() as usize, 0, 0, 0])? as c_int;
        // High, so the new image finds its low numbers free.
        let m = rumpclient::ownfd::raise(m, false);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = rump::rump_sys_read(k, r as u32, buf.as_mut_ptr().cast(), buf.len())?;
            if n == 0 {
                return Ok(m);
            }
            sys(libc::SYS_write, [m as usize, buf.as_ptr() as usize, n as usize, 0])?;
        }
    };
    let res = copy();
    let _ = rump::rump_sys_close(k, r as u32);
    res
}

crate::hook! {
    Process fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
    {
        unsafe { execve(path, argv, environ) }
    }

    Process fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    {
        unsafe { crate::supervised::before_execvp(file) };
        exec_with(envp, |env| unsafe { host!(file, argv, env) })
    }

    Process fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
    {
        unsafe { execvpe(file, argv, environ) }
    }

    Process fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    {
        if crate::fdmap::rump_fd(fd).is_some() {
            // The host's loader cannot read a rump file.
            set_errno(libc::ENOEXEC);
            return -1;
        }
        unsafe { crate::supervised::before_execveat(fd, c"".as_ptr(), libc::AT_EMPTY_PATH) };
        exec_with(envp, |env| unsafe { host!(fd, argv, env) })
    }

    Process fn execveat(
        dirfd: c_int,
        path: *const c_char,
        argv: *const *const c_char,
        envp: *const *const c_char,
        flags: c_int,
    ) -> c_int;
    {
        unsafe { crate::supervised::before_execveat(dirfd, path, flags) };
        exec_with(envp, |env| unsafe { host!(dirfd, path, argv, env, flags) })
    }
}

/// The arguments of an `execl`-style call: the named one, then the
/// variadic ones up to NULL, five from registers and the rest from the
/// caller's stack. Returns the argument vector and what follows its NULL
/// (execle's envp).
///
/// # Safety
/// `regs` holds the five register arguments after `arg0`, `stack` points
/// at the caller's stack arguments, and the list is NULL-terminated.
#[cfg(target_arch = "x86_64")]
unsafe fn collect_args(arg0: *const c_char, regs: *const usize, stack: *const usize) -> (Vec<*const c_char>, usize) {
    let mut argv = vec![arg0];
    let mut i = 0usize;
    let next = |i: usize| if i < 5 { unsafe { *regs.add(i) } } else { unsafe { *stack.add(i - 5) } };
    if !arg0.is_null() {
        loop {
            let a = next(i) as *const c_char;
            i += 1;
            argv.push(a);
            if a.is_null() {
                break;
            }
        }
    }
    (argv, next(i))
}

/// Defines an `execl`-family entry point: the register arguments are
/// spilled next to a pointer to the stack arguments and handed to `$imp`.
#[cfg(target_arch = "x86_64")]
macro_rules! execl_entry {
    ($name:ident, $imp:ident) => {
        #[unsafe(naked)]
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: *const c_char, arg0: *const c_char) -> c_int {
            core::arch::naked_asm!(
                "push rbp",
                "mov rbp, rsp",
                "sub rsp, 48",
                "mov [rsp], rdx",
                "mov [rsp + 8], rcx",
                "mov [rsp + 16], r8",
                "mov [rsp + 24], r9",
                "mov rdx, rsp",
                "lea rcx, [rbp + 16]",
                "call {imp}",
                "leave",
                "ret",
                imp = sym $imp,
            )
        }
    };
}

/// The first three variadic arguments arrive in rdx, rcx, r8 and r9 (four
/// registers after `path` and `arg0`); `collect_args` expects five, so the
/// fifth slot is the first stack argument.
#[cfg(target_arch = "x86_64")]
unsafe fn execl_args(arg0: *const c_char, regs: *const usize, stack: *const usize) -> (Vec<*const c_char>, usize) {
    let merged: [usize; 5] = std::array::from_fn(|i| if i < 4 { unsafe { *regs.add(i) } } else { unsafe { *stack } });
    unsafe { collect_args(arg0, merged.as_ptr(), stack.add(1)) }
}

#[cfg(target_arch = "x86_64")]
unsafe extern "C" fn execl_imp(
    path: *const c_char,
    arg0: *const c_char,
    regs: *const usize,
    stack: *const usize,
) -> c_int {
    let (argv, _) = unsafe { execl_args(arg0, regs, stack) };
    unsafe { execv(path, argv.as_ptr()) }
}

#[cfg(target_arch = "x86_64")]
unsafe extern "C" fn execlp_imp(
    file: *const c_char,
    arg0: *const c_char,
    regs: *const usize,
    stack: *const usize,
) -> c_int {
    let (argv, _) = unsafe { execl_args(arg0, regs, stack) };
    unsafe { execvp(file, argv.as_ptr()) }
}

#[cfg(target_arch = "x86_64")]
unsafe extern "C" fn execle_imp(
    path: *const c_char,
    arg0: *const c_char,
    regs: *const usize,
    stack: *const usize,
) -> c_int {
    let (argv, envp) = unsafe { execl_args(arg0, regs, stack) };
    unsafe { execve(path, argv.as_ptr(), envp as *const *const c_char) }
}

// The execl family is variadic, with its arguments in registers and on
// the stack: no Rust signature receives them, so `hook!` cannot declare
// these entry points; they are listed here instead.
crate::hooked!(execl: Process, execlp: Process, execle: Process);
// `pthread_create` is `sud::thread`'s (threads start armed for Syscall
// User Dispatch); it is an exported hook, so it is listed too.
crate::hooked!(pthread_create: Process);

#[cfg(target_arch = "x86_64")]
execl_entry!(execl, execl_imp);
#[cfg(target_arch = "x86_64")]
execl_entry!(execlp, execlp_imp);
#[cfg(target_arch = "x86_64")]
execl_entry!(execle, execle_imp);

// ---- posix_spawn -------------------------------------------------------------

/// One recorded file action.
#[derive(Clone)]
enum Action {
    Open { fd: c_int, path: CString, oflag: c_int, mode: libc::mode_t },
    Close(c_int),
    Dup2(c_int, c_int),
    Chdir(CString),
    Fchdir(c_int),
    Closefrom(c_int),
}

/// File actions by the address of their `posix_spawn_file_actions_t`.
static ACTIONS: Mutex<Option<HashMap<usize, Vec<Action>>>> = Mutex::new(None);

fn record(fa: *mut posix_spawn_file_actions_t, r: c_int, a: Action) -> c_int {
    if r == 0 {
        ACTIONS.lock().get_or_insert_with(HashMap::new).entry(fa as usize).or_default().push(a);
    }
    r
}

crate::hook! {
    Process fn posix_spawn_file_actions_destroy(fa: *mut posix_spawn_file_actions_t) -> c_int [panic = libc::EIO];
    {
        if let Some(m) = ACTIONS.lock().as_mut() {
            m.remove(&(fa as usize));
        }
        unsafe { host!(fa) }
    }

    Process fn posix_spawn_file_actions_addopen(
        fa: *mut posix_spawn_file_actions_t,
        fd: c_int,
        path: *const c_char,
        oflag: c_int,
        mode: libc::mode_t,
    ) -> c_int [panic = libc::EIO];
    {
        let r = unsafe { host!(fa, fd, path, oflag, mode) };
        // SAFETY: glibc accepted it, so it is a C string.
        let path = unsafe { CStr::from_ptr(path) }.to_owned();
        record(fa, r, Action::Open { fd, path, oflag, mode })
    }

    Process fn posix_spawn_file_actions_addclose(
        fa: *mut posix_spawn_file_actions_t,
        fd: c_int,
    ) -> c_int [panic = libc::EIO];
    {
        let r = unsafe { host!(fa, fd) };
        record(fa, r, Action::Close(fd))
    }

    Process fn posix_spawn_file_actions_adddup2(
        fa: *mut posix_spawn_file_actions_t,
        fd: c_int,
        newfd: c_int,
    ) -> c_int [panic = libc::EIO];
    {
        let r = unsafe { host!(fa, fd, newfd) };
        record(fa, r, Action::Dup2(fd, newfd))
    }

    Process fn posix_spawn_file_actions_addchdir_np(
        fa: *mut posix_spawn_file_actions_t,
        path: *const c_char,
    ) -> c_int [panic = libc::EIO];
    {
        let r = unsafe { host!(fa, path) };
        // SAFETY: glibc accepted it, so it is a C string.
        let path = unsafe { CStr::from_ptr(path) }.to_owned();
        record(fa, r, Action::Chdir(path))
    }

    Process fn posix_spawn_file_actions_addfchdir_np(
        fa: *mut posix_spawn_file_actions_t,
        fd: c_int,
    ) -> c_int [panic = libc::EIO];
    {
        let r = unsafe { host!(fa, fd) };
        record(fa, r, Action::Fchdir(fd))
    }

    Process fn posix_spawn_file_actions_addclosefrom_np(
        fa: *mut posix_spawn_file_actions_t,
        from: c_int,
    ) -> c_int [panic = libc::EIO];
    {
        let r = unsafe { host!(fa, from) };
        record(fa, r, Action::Closefrom(from))
    }
}

/// In the spawned child: the attributes, then the file actions in order.
///
/// # Safety
/// `attr` is NULL or initialised.
unsafe fn apply_spawn_setup(attr: *const posix_spawnattr_t, actions: &[Action]) -> Result<(), Errno> {
    let fail = |r: c_int| if r < 0 { Err(Errno(errno())) } else { Ok(r) };
    if !attr.is_null() {
        let mut flags: c_short = 0;
        unsafe { libc::posix_spawnattr_getflags(attr, &mut flags) };
        let flags = flags as c_int;
        if flags & libc::POSIX_SPAWN_SETSIGMASK != 0 {
            let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
            unsafe { libc::posix_spawnattr_getsigmask(attr, &mut set) };
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) };
        }
        if flags & libc::POSIX_SPAWN_SETSIGDEF != 0 {
            let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
            unsafe { libc::posix_spawnattr_getsigdefault(attr, &mut set) };
            for sig in 1..libc::SIGRTMAX() {
                if unsafe { libc::sigismember(&set, sig) } == 1 {
                    unsafe { libc::signal(sig, libc::SIG_DFL) };
                }
            }
        }
        if flags & libc::POSIX_SPAWN_SETSID as c_int != 0 {
            fail(unsafe { libc::setsid() })?;
        }
        if flags & libc::POSIX_SPAWN_SETPGROUP != 0 {
            let mut pg: pid_t = 0;
            unsafe { libc::posix_spawnattr_getpgroup(attr, &mut pg) };
            fail(unsafe { libc::setpgid(0, pg) })?;
        }
        if flags & libc::POSIX_SPAWN_RESETIDS != 0 {
            fail(unsafe { libc::setegid(libc::getgid()) })?;
            fail(unsafe { libc::seteuid(libc::getuid()) })?;
        }
    }
    for a in actions {
        // These libc calls land on this library's own hooks, which route.
        match a {
            Action::Open { fd, path, oflag, mode } => {
                let t = fail(unsafe { libc::open(path.as_ptr(), *oflag, *mode as libc::c_uint) })?;
                if t != *fd {
                    fail(unsafe { libc::dup2(t, *fd) })?;
                    unsafe { libc::close(t) };
                }
            }
            Action::Close(fd) => {
                unsafe { libc::close(*fd) };
            }
            Action::Dup2(from, to) if from == to => {
                let fl = fail(unsafe { libc::fcntl(*from, libc::F_GETFD) })?;
                fail(unsafe { libc::fcntl(*from, libc::F_SETFD, fl & !libc::FD_CLOEXEC) })?;
            }
            Action::Dup2(from, to) => {
                fail(unsafe { libc::dup2(*from, *to) })?;
            }
            Action::Chdir(path) => {
                fail(unsafe { libc::chdir(path.as_ptr()) })?;
            }
            Action::Fchdir(fd) => {
                fail(unsafe { libc::fchdir(*fd) })?;
            }
            Action::Closefrom(from) => {
                unsafe { libc::close_range(*from as u32, u32::MAX, 0) };
            }
        }
    }
    Ok(())
}

/// posix_spawn on our fork and exec; the child reports a failure through
/// a close-on-exec pipe, as glibc's does, so the call returns its errno.
unsafe fn spawn(
    pid_out: *mut pid_t,
    path: *const c_char,
    actions: &[Action],
    attr: *const posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
    search: bool,
) -> c_int {
    // Our own pipe: high, so the file actions cannot land on it.
    let (rd, wr) = match rumpclient::ownfd::pipe() {
        Ok(p) => p,
        Err(e) => return e,
    };
    let envp = if envp.is_null() { unsafe { environ } } else { envp.cast() };
    // SAFETY: our fork hook.
    let pid = unsafe { fork() };
    if pid == 0 {
        drop(rd);
        let e = match unsafe { apply_spawn_setup(attr, actions) } {
            Err(e) => e.0,
            Ok(()) => {
                if search {
                    unsafe { execvpe(path, argv.cast(), envp) };
                } else {
                    unsafe { execve(path, argv.cast(), envp) };
                }
                errno()
            }
        };
        let _ = sys(libc::SYS_write, [wr.raw() as usize, &e as *const i32 as usize, 4, 0]);
        unsafe { libc::_exit(127) };
    }
    drop(wr);
    if pid < 0 {
        return errno();
    }
    let mut e = 0i32;
    let got = loop {
        match sys(libc::SYS_read, [rd.raw() as usize, &mut e as *mut i32 as usize, 4, 0]) {
            Err(Errno(libc::EINTR)) => continue,
            r => break r.unwrap_or(0),
        }
    };
    drop(rd);
    if got == 4 {
        let mut st = 0;
        let _ = sys(libc::SYS_wait4, [pid as usize, &mut st as *mut i32 as usize, 0, 0]);
        return e;
    }
    if !pid_out.is_null() {
        unsafe { *pid_out = pid };
    }
    0
}

fn actions_of(fa: *const posix_spawn_file_actions_t) -> Vec<Action> {
    if fa.is_null() {
        return Vec::new();
    }
    ACTIONS.lock().as_ref().and_then(|m| m.get(&(fa as usize)).cloned()).unwrap_or_default()
}

crate::hook! {
    Process fn posix_spawn(
        pid: *mut pid_t,
        path: *const c_char,
        fa: *const posix_spawn_file_actions_t,
        attr: *const posix_spawnattr_t,
        argv: *const *mut c_char,
        envp: *const *mut c_char,
    ) -> c_int [panic = libc::EIO];
    {
        unsafe { spawn(pid, path, &actions_of(fa), attr, argv, envp, false) }
    }

    Process fn posix_spawnp(
        pid: *mut pid_t,
        file: *const c_char,
        fa: *const posix_spawn_file_actions_t,
        attr: *const posix_spawnattr_t,
        argv: *const *mut c_char,
        envp: *const *mut c_char,
    ) -> c_int [panic = libc::EIO];
    {
        unsafe { spawn(pid, file, &actions_of(fa), attr, argv, envp, true) }
    }
}

// ---- system, popen, daemon -----------------------------------------------------

const SH: &CStr = c"/bin/sh";

/// Runs `sh -c cmd` in a child of ours after `setup` (in the child).
///
/// # Safety
/// `cmd` is a C string.
unsafe fn sh_child(cmd: *const c_char, setup: impl FnOnce()) -> pid_t {
    // SAFETY: our fork hook.
    let pid = unsafe { fork() };
    if pid == 0 {
        setup();
        let argv = [c"sh".as_ptr(), c"-c".as_ptr(), cmd, std::ptr::null()];
        unsafe { execve(SH.as_ptr(), argv.as_ptr(), environ) };
        unsafe { libc::_exit(127) };
    }
    pid
}

fn wait_status(pid: pid_t) -> c_int {
    let mut st = 0;
    loop {
        // SAFETY: our own status word, no rusage.
        match unsafe { super::wait::wait_child(pid, &mut st, 0, std::ptr::null_mut()) } {
            -1 if errno() == libc::EINTR => continue,
            -1 => return -1,
            _ => return st,
        }
    }
}

crate::hook! {
    Process fn system(cmd: *const c_char) -> c_int;
    {
        if cmd.is_null() {
            return 1;
        }
        // As POSIX says: SIGINT and SIGQUIT ignored and SIGCHLD blocked while
        // the command runs, all restored in the child.
        unsafe {
            let mut ign: libc::sigaction = std::mem::zeroed();
            ign.sa_sigaction = libc::SIG_IGN;
            let (mut old_int, mut old_quit): (libc::sigaction, libc::sigaction) =
                (std::mem::zeroed(), std::mem::zeroed());
            libc::sigaction(libc::SIGINT, &ign, &mut old_int);
            libc::sigaction(libc::SIGQUIT, &ign, &mut old_quit);
            let (mut chld, mut old_mask): (libc::sigset_t, libc::sigset_t) = (std::mem::zeroed(), std::mem::zeroed());
            libc::sigemptyset(&mut chld);
            libc::sigaddset(&mut chld, libc::SIGCHLD);
            libc::pthread_sigmask(libc::SIG_BLOCK, &chld, &mut old_mask);
            let pid = sh_child(cmd, || {
                libc::sigaction(libc::SIGINT, &old_int, std::ptr::null_mut());
                libc::sigaction(libc::SIGQUIT, &old_quit, std::ptr::null_mut());
                libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut());
            });
            let st = if pid < 0 { -1 } else { wait_status(pid) };
            let e = errno();
            libc::sigaction(libc::SIGINT, &old_int, std::ptr::null_mut());
            libc::sigaction(libc::SIGQUIT, &old_quit, std::ptr::null_mut());
            libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut());
            set_errno(e);
            st
        }
    }
}

/// Streams made by our popen, with their child.
static POPENED: Mutex<Vec<(usize, pid_t)>> = Mutex::new(Vec::new());

crate::hook! {
    Process fn popen(cmd: *const c_char, mode: *const c_char) -> *mut FILE;
    {
        if cmd.is_null() || mode.is_null() {
            set_errno(libc::EINVAL);
            return std::ptr::null_mut();
        }
        // SAFETY: a C string.
        let m = unsafe { CStr::from_ptr(mode) }.to_bytes();
        let reading = match m.first() {
            Some(b'r') => true,
            Some(b'w') => false,
            _ => {
                set_errno(libc::EINVAL);
                return std::ptr::null_mut();
            }
        };
        let mut p = [0i32; 2];
        if let Err(e) = sys(libc::SYS_pipe2, [p.as_mut_ptr() as usize, libc::O_CLOEXEC as usize, 0, 0]) {
            set_errno(e.0);
            return std::ptr::null_mut();
        }
        let (ours, theirs, target) = if reading { (p[0], p[1], 1) } else { (p[1], p[0], 0) };
        // SAFETY: our fork; the child's setup only uses our dup2 hook.
        let pid = unsafe {
            sh_child(cmd, || {
                // Our dup2 also retires a rump fd that held the target number.
                libc::dup2(theirs, target);
            })
        };
        let _ = sys(libc::SYS_close, [theirs as usize, 0, 0, 0]);
        if pid < 0 {
            let _ = sys(libc::SYS_close, [ours as usize, 0, 0, 0]);
            return std::ptr::null_mut();
        }
        let cloexec = m.contains(&b'e');
        if !cloexec {
            let _ = sys(libc::SYS_fcntl, [ours as usize, libc::F_SETFD as usize, 0, 0]);
        }
        let fmode = if reading { c"r" } else { c"w" };
        // SAFETY: a host pipe end we own.
        let fp = unsafe { real::fdopen(ours, fmode.as_ptr()) };
        if fp.is_null() {
            let _ = sys(libc::SYS_close, [ours as usize, 0, 0, 0]);
            wait_status(pid);
            return fp;
        }
        POPENED.lock().push((fp as usize, pid));
        fp
    }

    Process fn pclose(fp: *mut FILE) -> c_int;
    {
        let pid = {
            let mut list = POPENED.lock();
            list.iter().position(|(f, _)| *f == fp as usize).map(|i| list.swap_remove(i).1)
        };
        let Some(pid) = pid else { return unsafe { host!(fp) } };
        unsafe { libc::fclose(fp) };
        wait_status(pid)
    }

    Process fn daemon(nochdir: c_int, noclose: c_int) -> c_int;
    {
        // SAFETY: our fork hook.
        match unsafe { fork() } {
            -1 => return -1,
            0 => {}
            _ => unsafe { libc::_exit(0) },
        }
        if unsafe { libc::setsid() } < 0 {
            return -1;
        }
        if nochdir == 0 {
            unsafe { libc::chdir(c"/".as_ptr()) };
        }
        if noclose == 0 {
            let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if null >= 0 {
                for n in 0..3 {
                    unsafe { libc::dup2(null, n) };
                }
                if null > 2 {
                    unsafe { libc::close(null) };
                }
            }
        }
        0
    }
}
