//! A static image exec'd by a program the library is in: no preload
//! library can follow it into the new image, so just before the exec the
//! library asks a seccomp supervisor to serve it, as `rumpctl run` does
//! for a static command: through the door beside the unix socket of the
//! kernel the new image inherits (`rumpclient::supervise`), with the
//! filter and its installation from `rump_abi::linux::seccomp`, the
//! library's own syscall gate being the range the filter lets through.
//!
//! That socket is a unix `RUMP_SERVER`'s (`rumpctl run`, `rump_server`,
//! `rumpctl net exec`), or else the keeper's: an in-process kernel moves
//! into a keeper at exec anyway (so the new image shares it), and a
//! process that has not touched a kernel yet joins its tree's keeper
//! (`LD_PRELOAD=librumphijack.so sh -c 'busybox ls /rump'`); every keeper
//! has a door. The image may be a file under the prefix too, copied into
//! a memfd first (`hooks::proc`): it is checked through that fd.
//! The new image gets a fork of the program's kernel process, so its rump
//! fds (`sh -c 'busybox cat < /rump/f'`) and working directory follow it.
//! A program that a static ancestor's supervisor already serves (its
//! filter is inherited, and Linux allows one listener per filter chain)
//! leaves the new image to that supervisor (`seccomp::PROBE` asks).
//! Should the exec fail, the program goes on under the filter too, its
//! calls served by the supervisor or let through: slower, still correct.

use crate::host::sys;
use rump_abi::linux::seccomp;
use rump_abi::Errno;
use std::ffi::CStr;

/// Before exec of the program's `path` (NULL or a C string): supervision
/// for it if it is a static image and a supervisor is reachable; a line
/// on stderr if one should be and is not.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
pub unsafe fn before_exec(path: *const libc::c_char) {
    if path.is_null() {
        return;
    }
    // SAFETY: the caller's string.
    let path = unsafe { CStr::from_ptr(path) };
    arrange(path, || is_static_at(libc::AT_FDCWD, path))
}

/// As `before_exec` for the image open at `fd` (a program under the
/// prefix copied into a memfd), named `name` in messages.
pub fn before_exec_fd(fd: i32, name: &CStr) {
    arrange(name, || is_static_fd(fd))
}

/// As `before_exec` for execveat's (and fexecve's) image: `path` from
/// `dirfd`, or `dirfd` itself for an empty path with `AT_EMPTY_PATH`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
pub unsafe fn before_execveat(dirfd: i32, path: *const libc::c_char, flags: i32) {
    if path.is_null() {
        return;
    }
    // SAFETY: the caller's string.
    let path = unsafe { CStr::from_ptr(path) };
    if path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
        return arrange(c"the image of an fd", || is_static_fd(dirfd));
    }
    arrange(path, || is_static_at(dirfd, path))
}

/// As `before_exec` for the program's `file` looked up on `PATH` as
/// execvp does (a name with a slash is a path).
///
/// # Safety
/// As for `before_exec`.
pub unsafe fn before_execvp(file: *const libc::c_char) {
    if file.is_null() {
        return;
    }
    // SAFETY: the caller's string.
    let file = unsafe { CStr::from_ptr(file) };
    if file.to_bytes().contains(&b'/') {
        return arrange(file, || is_static_at(libc::AT_FDCWD, file));
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| "/bin:/usr/bin".into());
    let found = path.split(':').find_map(|dir| {
        let dir = if dir.is_empty() { "." } else { dir };
        let mut full = format!("{dir}/").into_bytes();
        full.extend_from_slice(file.to_bytes());
        let full = std::ffi::CString::new(full).ok()?;
        sys(libc::SYS_access, [full.as_ptr() as usize, libc::X_OK as usize, 0, 0]).ok().map(|_| full)
    });
    if let Some(f) = found {
        arrange(&f, || is_static_at(libc::AT_FDCWD, &f));
    }
}

fn arrange(path: &CStr, is_static: impl FnOnce() -> bool) {
    if !is_static() || already_supervised() {
        return;
    }
    let sock = match supervisor_socket() {
        Ok(s) => s,
        Err(why) => {
            let msg = format!("{} is static and {why}: its calls go to the host", path.to_string_lossy());
            return crate::warn_once(&msg);
        }
    };
    if let Err(e) = ask(&sock) {
        let why = match e.0 {
            libc::ENOSYS => "seccomp is unavailable here".to_owned(),
            n => format!("no supervisor at {sock}.seccomp (errno {n})"),
        };
        crate::warn_once(&format!("{} is static and {why}: its calls go to the host", path.to_string_lossy()));
    }
}

/// Whether a supervisor serves this process already (a static ancestor's,
/// whose filter it inherited): it serves the new image too.
fn already_supervised() -> bool {
    let (nr, [a0, a1]) = seccomp::PROBE;
    sys(nr, [a0 as usize, a1 as usize, 0, 0]) == Ok(seccomp::PROBE_WORD)
}

/// Whether the file at `dirfd`/`path` is a static executable.
fn is_static_at(dirfd: i32, path: &CStr) -> bool {
    let flags = (libc::O_RDONLY | libc::O_CLOEXEC) as usize;
    let Ok(fd) = sys(libc::SYS_openat, [dirfd as usize, path.as_ptr() as usize, flags, 0]) else {
        return false;
    };
    let r = is_static_fd(fd as i32);
    let _ = sys(libc::SYS_close, [fd as usize, 0, 0, 0]);
    r
}

/// Whether the image open at `fd` is a static executable (its head read
/// in place, the file offset untouched).
fn is_static_fd(fd: i32) -> bool {
    let mut head = [0u8; 4096];
    let n = sys(libc::SYS_pread64, [fd as usize, head.as_mut_ptr() as usize, head.len(), 0]).unwrap_or(0);
    seccomp::is_static_elf(&head[..n as usize])
}

/// The unix socket of the kernel the new image inherits: a unix
/// `RUMP_SERVER`'s, or the keeper's, which the kernel moves into (or the
/// tree's, joined) now rather than at the exec, so its door can be asked.
fn supervisor_socket() -> Result<String, String> {
    let k =
        crate::backend::shareable().and_then(|k| k.joined()).map_err(|e| format!("has no kernel (errno {})", e.0))?;
    let unix = crate::backend::client(k).and_then(|c| match c.url() {
        rumpclient::url::ServerUrl::Unix(p) => p.to_str().map(str::to_owned),
        _ => None,
    });
    unix.ok_or_else(|| "its kernel is not on a unix socket (no supervisor over tcp)".to_owned())
}

/// Knocks at the door of the server at `sock` and installs the filter.
fn ask(sock: &str) -> Result<(), Errno> {
    let door = format!("{sock}.seccomp");
    // SAFETY: a plain C struct, zeroed, then filled in.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if door.len() >= addr.sun_path.len() {
        return Err(Errno(libc::ENAMETOOLONG));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(door.bytes()) {
        *d = s as libc::c_char;
    }
    let fd = sys(libc::SYS_socket, [libc::AF_UNIX as usize, (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as usize, 0, 0])?;
    let fd = fd as i32;
    let knock = || -> Result<Option<i32>, Errno> {
        let len = std::mem::size_of::<libc::sockaddr_un>();
        sys(libc::SYS_connect, [fd as usize, &addr as *const libc::sockaddr_un as usize, len, 0])?;
        let mut lines = format!("{}\n", crate::route::config().prefix.as_deref().unwrap_or("/rump")).into_bytes();
        lines.extend_from_slice(&kernel_cwd());
        lines.push(b'\n');
        lines.extend_from_slice(hand_over().as_bytes());
        lines.push(b'\n');
        sys(libc::SYS_write, [fd as usize, lines.as_ptr() as usize, lines.len(), 0])?;
        // SAFETY: a plain C struct for the kernel to fill.
        let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
        let mut clen = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        let (level, name) = (libc::SOL_SOCKET as usize, libc::SO_PEERCRED as usize);
        let (credp, clenp) = (&mut cred as *mut libc::ucred as usize, &mut clen as *mut libc::socklen_t as usize);
        // SAFETY: getsockopt into the two locals.
        let r = unsafe { crate::sud::gate::syscall(libc::SYS_getsockopt, [fd as usize, level, name, credp, clenp, 0]) };
        Ok((r == 0).then_some(cred.pid))
    };
    let tracer = match knock() {
        Ok(t) => t,
        Err(e) => {
            let _ = sys(libc::SYS_close, [fd as usize, 0, 0, 0]);
            return Err(e);
        }
    };
    let (begin, len) = crate::sud::gate::range();
    let prog = seccomp::filter((begin as u64, (begin + len) as u64));
    // SAFETY: just before exec; the gate is the range the filter passes.
    match unsafe { seccomp::install(&prog, fd, tracer, gate) } {
        Ok(true) => Ok(()),
        // No filter: the image runs on the host.
        Ok(false) => Err(Errno(libc::ENOSYS)),
        Err(e) => Err(Errno(e)),
    }
}

/// The working directory's path in the kernel, or nothing for one on the
/// host: where the new image starts.
fn kernel_cwd() -> Vec<u8> {
    if crate::route::cwd() == crate::route::Cwd::Host {
        return Vec::new();
    }
    let Ok(k) = crate::backend::kernel() else { return Vec::new() };
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    match rump_abi::linux::sys::rump_sys_getcwd(k, buf.as_mut_ptr().cast(), buf.len() as u64) {
        Ok(_) => buf.iter().position(|&b| b == 0).map_or(Vec::new(), |n| buf[..n].to_vec()),
        Err(_) => Vec::new(),
    }
}

/// The program's kernel process, forked for the new image (PREFORK), as
/// the door's cookie line; its rump fds are shown to the new image as the
/// supervisor's placeholders (memfds named `rumpfd:N`) at the same
/// numbers. Nothing (a new kernel process) without a server connection.
fn hand_over() -> String {
    let Some(c) = crate::backend::kernel().ok().and_then(crate::backend::client) else { return String::new() };
    let Ok(cookie) = c.prefork() else { return String::new() };
    for (fd, rfd) in crate::fdmap::entries() {
        let cloexec = sys(libc::SYS_fcntl, [fd as usize, libc::F_GETFD as usize, 0, 0]).ok().is_none_or(|f| f != 0);
        if cloexec {
            continue;
        }
        let name = format!("rumpfd:{rfd}\0");
        let Ok(m) = sys(libc::SYS_memfd_create, [name.as_ptr() as usize, libc::MFD_CLOEXEC as usize, 0, 0]) else {
            continue;
        };
        let _ = sys(libc::SYS_dup3, [m as usize, fd as usize, 0, 0]);
        let _ = sys(libc::SYS_close, [m as usize, 0, 0, 0]);
    }
    cookie.0.map(|w| format!("{w:x}")).join(" ")
}

/// The library's gate as `seccomp::install` calls it.
unsafe fn gate(nr: i64, a: [usize; 6]) -> isize {
    // SAFETY: as the caller's.
    unsafe { crate::sud::gate::syscall(nr, a) }
}
