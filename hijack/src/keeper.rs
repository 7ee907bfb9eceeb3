//! The keeper: where an in-process kernel goes when its process forks or
//! execs, so that children and the new image share it.
//!
//! The process forks twice with the kernel lock held, so the grandchild
//! gets a consistent copy of the kernel; the grandchild (the keeper)
//! serves that copy on a private unix socket, and the process becomes its
//! client by claiming its own kernel process there, fds and working
//! directory included. Forking twice keeps the keeper out of the
//! program's children (a shell's `wait` must not wait for it). The keeper
//! leaves the session, holds no fd of the program (so no pipe stays open
//! because of it), and exits once no client is left.

use crate::backend::{self, Backend, Local};
use crate::host::sys;
use rump_abi::linux::errno::EIO;
use rump_abi::Errno;
use rumpclient::client::{Client, ForkCookie};
use rumpclient::policy::Policy;
use rumpclient::server::Server;
use rumpclient::sock::rand_u64;
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;
use std::path::PathBuf;
use std::time::Duration;

crate::real_fns! {
    fn fork() -> pid_t;
}

/// How long a keeper with no client waits for a forked child to claim its
/// process before giving up on it.
const CLAIM_GRACE: Duration = Duration::from_secs(10);

/// Moves `local` into a keeper and returns a client of it.
pub fn detach(local: &Local) -> Result<Client, Errno> {
    let dir = std::env::temp_dir().join(format!("rump-keeper.{}.{:08x}", std::process::id(), rand_u64() as u32));
    std::fs::create_dir(&dir).map_err(io_errno)?;
    let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700));
    let url = ServerUrl::Unix(dir.join("sock"));
    let (rd, wr) = rumpclient::ownfd::pipe().map_err(Errno)?;
    // SAFETY: glibc's fork; the kernel lock is held so the copy is whole.
    let pid = local.kernel.with_state(|_| unsafe { real::fork() });
    if pid == 0 {
        // SAFETY: the first child, single-threaded.
        unsafe { become_keeper(&url, &dir, wr.raw()) };
    }
    drop(wr);
    let mut cookie = [0u8; 16];
    let got = if pid > 0 { read_full(rd.raw(), &mut cookie) } else { 0 };
    drop(rd);
    if pid > 0 {
        let mut status = 0;
        let _ = sys(libc::SYS_wait4, [pid as usize, &mut status as *mut i32 as usize, 0, 0]);
    }
    if got != cookie.len() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(if pid < 0 { Errno(crate::host::errno()) } else { EIO });
    }
    let word = |i: usize| u32::from_ne_bytes(cookie[4 * i..4 * i + 4].try_into().unwrap_or_default());
    let cookie = ForkCookie([word(0), word(1), word(2), word(3)]);
    Client::claim(&url, Emulation::Linux, &backend::comm(), cookie).map_err(io_errno)
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(libc::EIO))
}

fn read_full(fd: i32, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match sys(libc::SYS_read, [fd as usize, buf[got..].as_mut_ptr() as usize, buf.len() - got, 0]) {
            Ok(0) => break,
            Ok(n) => got += n as usize,
            Err(Errno(libc::EINTR)) => continue,
            Err(_) => break,
        }
    }
    got
}

/// The first child: forks the keeper and exits, so the keeper is nobody's
/// child.
///
/// # Safety
/// Only in the child of `detach`'s fork.
unsafe fn become_keeper(url: &ServerUrl, dir: &std::path::Path, report: i32) -> ! {
    backend::unlock_in_child();
    let Some(old) = backend::take_in_child(None) else { unsafe { libc::_exit(1) } };
    let Backend::Local(Local { kernel, process }) = *old else { unsafe { libc::_exit(1) } };
    crate::fdmap::clear();
    rumpclient::ownfd::disable();
    crate::route::set_cwd(crate::route::Cwd::Host);
    // The keeper runs the library's code only: nothing of its to catch.
    crate::sud::disarm();
    // SAFETY: single-threaded; glibc's fork.
    match unsafe { real::fork() } {
        0 => {}
        -1 => unsafe { libc::_exit(1) },
        _ => unsafe { libc::_exit(0) },
    }
    let _ = sys(libc::SYS_setsid, [0; 4]);
    let report = detach_fds(report);
    let server = match Server::start(kernel, url, Policy::default()) {
        Ok(s) => s,
        Err(_) => unsafe { libc::_exit(1) },
    };
    let cookie = server.adopt(process);
    let bytes: Vec<u8> = cookie.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let _ = sys(libc::SYS_write, [report as usize, bytes.as_ptr() as usize, bytes.len(), 0]);
    let _ = sys(libc::SYS_close, [report as usize, 0, 0, 0]);
    server.wait_idle(CLAIM_GRACE);
    drop(server);
    let _ = std::fs::remove_dir_all(PathBuf::from(dir));
    unsafe { libc::_exit(0) }
}

/// Closes every inherited fd but `keep` and the kernel's own (its shared
/// memory, `rump_kernel::shm`, which the kernel carries along), and points
/// 0–2 at /dev/null; returns where `keep` now is.
fn detach_fds(keep: i32) -> i32 {
    let keep = if keep < 3 {
        sys(libc::SYS_fcntl, [keep as usize, libc::F_DUPFD as usize, 3, 0]).unwrap_or(-1) as i32
    } else {
        keep
    };
    let null =
        sys(libc::SYS_openat, [libc::AT_FDCWD as usize, c"/dev/null".as_ptr() as usize, libc::O_RDWR as usize, 0]);
    if let Ok(null) = null {
        for n in 0..3 {
            if null as usize != n {
                let _ = sys(libc::SYS_dup2, [null as usize, n, 0, 0]);
            }
        }
    }
    let mut spared = rump_kernel::shm::owned_fds();
    spared.push(keep);
    spared.sort_unstable();
    let mut from = 3usize;
    for fd in spared.into_iter().filter_map(|fd| usize::try_from(fd).ok()).filter(|&fd| fd >= 3) {
        if fd > from {
            let _ = sys(libc::SYS_close_range, [from, fd - 1, 0, 0]);
        }
        from = from.max(fd + 1);
    }
    let _ = sys(libc::SYS_close_range, [from, u32::MAX as usize, 0, 0]);
    keep
}
