//! The keeper: where an in-process kernel goes when its process forks or
//! execs, so that children and the new image share it.
//!
//! The process forks twice with the kernel lock held, so the grandchild
//! gets a consistent copy of the kernel; the grandchild (the keeper)
//! serves that copy on a private unix socket, and the process stays the
//! owner of its own kernel process there, fds and working directory
//! included. Forking twice keeps the keeper out of the program's children
//! (a shell's `wait` must not wait for it). The keeper leaves the session,
//! holds no fd of the program (so no pipe stays open because of it), and
//! exits once no client is left.
//!
//! Nothing of the keeper's start is on the program's way: before its fork
//! the process makes the socket its children connect to (listening
//! already) and a socket pair for its own connection (no connect, banner
//! or handshake), and the first child forks again at once. When a fork of
//! the program moved the kernel, the keeper forks that process for the
//! program's child as it adopts it, so that fork needs no PREFORK either,
//! and the first child is reaped after the program's own fork.
//!
//! Beside its socket the keeper opens the seccomp supervisor's door
//! (`rumpclient::supervise`): static images exec'd by its clients, which
//! no preload library can enter, are served there.
//!
//! A tree of processes that forked before touching a kernel (`tree`) gets
//! its keeper from the first of them to touch one: that process forks the
//! keeper the same way, the keeper boots a fresh kernel, and it stays up
//! until the tree's last process is gone as well.

use crate::backend::{self, Backend, Local};
use crate::host::sys;
use crate::tree::Tree;
use rump_abi::linux::errno::EIO;
use rump_abi::Errno;
use rump_kernel::Kernel;
use rumpclient::client::{Client, ForkCookie};
use rumpclient::policy::Policy;
use rumpclient::server::{Cookie, Server};
use rumpclient::sock::{rand_u64, Conn, Listener};
use rumpclient::supervise::Door;
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

crate::real_fns! {
    fn fork() -> pid_t;
}

/// How long a keeper with no client waits for a forked child to claim its
/// process before giving up on it.
const CLAIM_GRACE: Duration = Duration::from_secs(10);

/// Where the keeper's kernel comes from.
enum Source {
    /// The process's in-process kernel, copied by the fork.
    Copied,
    /// A new one, booted in the keeper (a tree's first user), kept up while
    /// the liveness pipe's read end `watch` has writers.
    Fresh { watch: i32 },
}

/// Moves `local` into a keeper and returns a client of it; `for_fork`
/// (a host fork follows) also returns the cookie of the process the keeper
/// forked for the child.
pub fn detach(local: &Local, for_fork: bool) -> Result<(Client, Option<ForkCookie>), Errno> {
    let dir = std::env::temp_dir().join(format!("rump-keeper.{}.{:08x}", std::process::id(), rand_u64() as u32));
    std::fs::create_dir(&dir).map_err(io_errno)?;
    let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700));
    // SAFETY: glibc's fork; the kernel lock is held so the copy is whole.
    let got = start(&dir, Source::Copied, for_fork, |child| local.kernel.with_state(|_| child()));
    if got.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    got
}

/// Joins `tree`'s keeper, starting it if nobody in the tree has yet; the
/// tree's directory is locked meanwhile, so two first users do not both.
pub fn join(tree: &Tree) -> Result<Client, Errno> {
    let dir = tree.dir();
    let lock = lock_private_dir(dir)?;
    let url = ServerUrl::Unix(dir.join("sock"));
    let got = match Client::connect(&url, Emulation::Linux, &backend::comm()) {
        Ok(c) => Ok(c),
        Err(_) => start(dir, Source::Fresh { watch: tree.alive_fd() }, false, |child| child()).map(|(c, _)| c),
    };
    drop(lock);
    got
}

/// Makes `dir` (0700) unless it exists as this user's private directory,
/// and locks it; the lock goes with the returned descriptor.
fn lock_private_dir(dir: &std::path::Path) -> Result<rumpclient::ownfd::OwnFd, Errno> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(dir) {
        let m = std::fs::symlink_metadata(dir).map_err(io_errno)?;
        // SAFETY: geteuid cannot fail.
        let mine = m.is_dir() && m.uid() == unsafe { libc::geteuid() } && m.mode() & 0o077 == 0;
        if e.kind() != std::io::ErrorKind::AlreadyExists || !mine {
            return Err(rump_abi::linux::errno::EACCES);
        }
    }
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| EIO)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    let fd = sys(libc::SYS_openat, [libc::AT_FDCWD as usize, path.as_ptr() as usize, flags as usize, 0])?;
    // SAFETY: a descriptor just opened, ours alone.
    let fd = rumpclient::ownfd::OwnFd::new(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as i32) });
    loop {
        match sys(libc::SYS_flock, [fd.raw() as usize, libc::LOCK_EX as usize, 0, 0]) {
            Err(Errno(libc::EINTR)) => continue,
            r => break r.map(|_| fd),
        }
    }
}

/// What the process hands the keeper it forks: its end of the process's
/// connection, the socket listening for the program's children, where to
/// report that a fresh kernel serves, and the cookie of the process to
/// fork for a host fork that follows, if one does.
struct Handover {
    conn: i32,
    listener: i32,
    report: Option<i32>,
    fork: Option<Cookie>,
}

/// Forks the keeper serving at `dir`/sock (`fork_with` runs the fork it is
/// given, under whatever lock the copy needs) and returns this process's
/// client of it; `for_fork` as `detach`'s. The socket listens before the
/// fork, so the program's children can connect at once; a copied kernel
/// has nothing else to wait for, a fresh one is waited for until booted.
fn start(
    dir: &std::path::Path,
    source: Source,
    for_fork: bool,
    fork_with: impl FnOnce(&dyn Fn() -> i32) -> i32,
) -> Result<(Client, Option<ForkCookie>), Errno> {
    let sock = dir.join("sock");
    let listener = rumpclient::transport::unix::listen_private(&sock).map_err(io_errno)?;
    let (ours, keepers) = rumpclient::ownfd::socketpair().map_err(Errno)?;
    let report = match source {
        Source::Fresh { .. } => Some(rumpclient::ownfd::pipe().map_err(Errno)?),
        Source::Copied => None,
    };
    let fork: Option<Cookie> = for_fork.then(|| std::array::from_fn(|_| rand_u64() as u32));
    let url = ServerUrl::Unix(sock);
    // SAFETY: glibc's fork.
    let pid = fork_with(&|| unsafe { real::fork() });
    if pid == 0 {
        let report = report.as_ref().map(|(_, w)| w.raw());
        let handover = Handover { conn: keepers.raw(), listener: listener.raw(), report, fork };
        // SAFETY: the first child, single-threaded.
        unsafe { become_keeper(&url, dir, handover, source) };
    }
    drop((keepers, listener));
    let served = report.is_none_or(|(rd, wr)| {
        drop(wr);
        pid > 0 && read_full(rd.raw(), &mut [0u8; 1]) == 1
    });
    if pid > 0 {
        if served && for_fork {
            UNREAPED.store(pid, Ordering::Release);
        } else {
            reap(pid);
        }
    }
    if pid < 0 {
        return Err(Errno(crate::host::errno()));
    }
    if !served {
        return Err(EIO);
    }
    let client = Client::adopted(Conn::from_own(ours), &url, Emulation::Linux, &backend::comm());
    Ok((client, fork.map(ForkCookie)))
}

/// The keeper's first child, still to reap: a `detach` for a fork leaves
/// it to `reap_first_child`, after that fork, so that the keeper's own
/// fork overlaps the program's.
static UNREAPED: AtomicI32 = AtomicI32::new(0);

/// Reaps the first child `detach` left (if any), before the program can
/// see it among its children.
pub fn reap_first_child() {
    let pid = UNREAPED.swap(0, Ordering::AcqRel);
    if pid > 0 {
        reap(pid);
    }
}

fn reap(pid: i32) {
    let mut status = 0;
    let _ = sys(libc::SYS_wait4, [pid as usize, &mut status as *mut i32 as usize, 0, 0]);
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
unsafe fn become_keeper(url: &ServerUrl, dir: &std::path::Path, handover: Handover, source: Source) -> ! {
    backend::unlock_in_child();
    let (copied, watch) = match source {
        Source::Copied => match backend::take_in_child(None).map(|b| *b) {
            Some(Backend::Local(local)) => (Some(local), None),
            _ => unsafe { libc::_exit(1) },
        },
        // The tree's handle stays: dropping it would close the pipe.
        Source::Fresh { watch } => (None, Some(watch)),
    };
    crate::fdmap::clear();
    rumpclient::ownfd::disable();
    crate::route::set_cwd(crate::route::Cwd::Host);
    // The keeper runs the library's code only: nothing of its to catch.
    crate::sud::disarm();
    // The first child leaves at once: the program reaps it in its fork.
    // SAFETY: single-threaded; glibc's fork.
    match unsafe { real::fork() } {
        0 => {}
        -1 => unsafe { libc::_exit(1) },
        _ => unsafe { libc::_exit(0) },
    }
    let _ = sys(libc::SYS_setsid, [0; 4]);
    // Named for what it is in ps and top, not for the program it came from.
    let _ = sys(libc::SYS_prctl, [libc::PR_SET_NAME as usize, c"rump-keeper".as_ptr() as usize, 0, 0]);
    let given = [handover.conn, handover.listener, handover.report.unwrap_or(-1), watch.unwrap_or(-1)];
    let kept = detach_fds(given.to_vec());
    let (report, watch) = (Some(kept[2]).filter(|&fd| fd >= 0), Some(kept[3]).filter(|&fd| fd >= 0));
    // SAFETY: the keeper's end of the socket pair and the listening
    // socket, ours alone now.
    let (conn, listener) = unsafe { (Conn::from_raw_fd(kept[0]), OwnedFd::from_raw_fd(kept[1])) };
    let local = match copied.map_or_else(backend::boot, Ok) {
        Ok(local) => local,
        Err(_) => unsafe { libc::_exit(1) },
    };
    let (server, door) = serve_at(&local.kernel, listener, url);
    if let Some(report) = report {
        let _ = sys(libc::SYS_write, [report as usize, c"r".as_ptr() as usize, 1, 0]);
        let _ = sys(libc::SYS_close, [report as usize, 0, 0, 0]);
    }
    // The process's connection is served from here on (its host pid is
    // the socket pair's maker's), before any other: a forked child's
    // process must be there when its claim is accepted.
    if server.adopt_on(conn, local.process, handover.fork).is_err() {
        unsafe { libc::_exit(1) }
    }
    server.accept_on_a_thread();
    let _door = door.filter(|d| d.admit_on_a_thread().is_ok());
    server.wait_idle(CLAIM_GRACE);
    if let Some(watch) = watch {
        wait_hangup(watch);
        server.wait_idle(CLAIM_GRACE);
    }
    drop(server);
    let _ = std::fs::remove_dir_all(PathBuf::from(dir));
    unsafe { libc::_exit(0) }
}

/// The keeper's server for `kernel` on `listener` (at `url`) and, beside
/// it, the seccomp supervisor's door: static images its clients exec are
/// supervised there (`supervised`); they hold their parent's connection,
/// so the keeper stays up for them. Neither serves yet. Exits if there is
/// no server.
fn serve_at(kernel: &Kernel, listener: OwnedFd, url: &ServerUrl) -> (Server, Option<Door>) {
    let listener = Listener::on(listener, url.clone());
    let Ok(server) = listener.and_then(|l| Server::on(kernel.clone(), l, Policy::default())) else {
        unsafe { libc::_exit(1) }
    };
    let door = match url {
        ServerUrl::Unix(sock) => Door::bind(kernel.clone(), sock, server.fork_claims()).ok(),
        _ => None,
    };
    (server, door)
}

/// Waits until every writer of pipe `fd` is gone.
fn wait_hangup(fd: i32) {
    let mut p = libc::pollfd { fd, events: 0, revents: 0 };
    while sys(libc::SYS_poll, [&mut p as *mut libc::pollfd as usize, 1, usize::MAX, 0])
        .is_err_and(|e| e.0 == libc::EINTR)
    {}
}

/// Closes every inherited fd but those in `keep` and the kernel's own (its
/// shared memory, `rump_kernel::shm`, which the kernel carries along), and
/// points 0–2 at /dev/null; returns where those kept now are.
fn detach_fds(mut keep: Vec<i32>) -> Vec<i32> {
    let above_stdio = |fd: i32| {
        if fd < 3 {
            sys(libc::SYS_fcntl, [fd as usize, libc::F_DUPFD as usize, 3, 0]).unwrap_or(-1) as i32
        } else {
            fd
        }
    };
    for fd in &mut keep {
        *fd = above_stdio(*fd);
    }
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
    spared.extend_from_slice(&keep);
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
