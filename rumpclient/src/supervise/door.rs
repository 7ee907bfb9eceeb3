//! The supervisor's door beside a server's unix socket: how a static
//! binary started by someone other than the process hosting the kernel
//! (`rumpctl net exec`, `rumpctl run -s`, a dynamic program's exec)
//! reaches that kernel.
//!
//! A server at `unix://PATH` (rump_server, rumpctl run's own) listens at
//! `PATH.seccomp` too, 0600 as its socket. A caller connects, writes three
//! lines: the prefix its program sees the kernel at, the program's
//! working directory in the kernel (empty: on the host), and the cookie
//! of a kernel process PREFORK made for the new image (empty: none; a
//! client of this server execing a static image hands its fds over so);
//! its child
//! sends its seccomp listener over the connection between installing the
//! filter and exec (`ChildSetup`); the server then supervises that
//! process tree with its kernel, as `rumpctl run` supervises its own
//! child.

use super::{filter::recv_fd, ChildSetup, Root, Supervision};
use crate::server::ForkClaims;
use crate::sock::wait_readable;
use rump_kernel::Kernel;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The door of the server whose socket is `sock`.
pub fn door_path(sock: &Path) -> PathBuf {
    let mut p = sock.as_os_str().to_owned();
    p.push(".seccomp");
    PathBuf::from(p)
}

/// An open door; the socket file goes when it is dropped.
pub struct Door {
    path: PathBuf,
    callers: Callers,
}

/// Who the door admits callers to, and where they knock.
struct Callers {
    /// Non-blocking: `admit_waiting` takes what is there.
    listener: UnixListener,
    kernel: Kernel,
    claims: Arc<ForkClaims>,
}

impl Door {
    /// Opens the door of the server at `sock`, serving each caller's
    /// process tree with `kernel` on threads of its own; `claims` hands
    /// over a kernel process its client forked for the new image. A thread
    /// of its own waits for callers.
    pub fn open(kernel: Kernel, sock: &Path, claims: ForkClaims) -> std::io::Result<Door> {
        let door = Door::bind(kernel, sock, claims)?;
        door.admit_on_a_thread()?;
        Ok(door)
    }

    /// Starts the thread that admits callers to a bound door; until it
    /// runs, callers wait in the listener's backlog, so an owner may bind
    /// on its critical path and start this after.
    pub fn admit_on_a_thread(&self) -> std::io::Result<()> {
        let c = &self.callers;
        let callers = Callers { listener: c.listener.try_clone()?, kernel: c.kernel.clone(), claims: c.claims.clone() };
        std::thread::Builder::new().name("rump-seccomp-door".into()).spawn(move || {
            while wait_readable(&[callers.listener.as_raw_fd()], None).is_ok() {
                callers.admit_waiting();
            }
        })?;
        Ok(())
    }

    /// As `open`, without the thread: the owner polls the door's fd and
    /// calls `admit_waiting` when it is readable.
    pub fn bind(kernel: Kernel, sock: &Path, claims: ForkClaims) -> std::io::Result<Door> {
        let path = door_path(sock);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        let door = Door { path, callers: Callers { listener, kernel, claims: Arc::new(claims) } };
        std::fs::set_permissions(&door.path, std::fs::Permissions::from_mode(0o600))?;
        door.callers.listener.set_nonblocking(true)?;
        Ok(door)
    }

    /// Admits every caller waiting, each on a thread of its own.
    pub fn admit_waiting(&self) {
        self.callers.admit_waiting()
    }
}

impl Callers {
    fn admit_waiting(&self) {
        while let Ok((conn, _)) = self.listener.accept() {
            let (k, claims) = (self.kernel.clone(), self.claims.clone());
            std::thread::spawn(move || {
                if let Err(e) = admit(k, &claims, conn) {
                    tracing::info!("seccomp door: {e}");
                }
            });
        }
    }
}

impl AsRawFd for Door {
    fn as_raw_fd(&self) -> RawFd {
        self.callers.listener.as_raw_fd()
    }
}

impl Drop for Door {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One caller: its three lines, then its child's listener.
fn admit(kernel: Kernel, claims: &ForkClaims, mut conn: UnixStream) -> std::io::Result<()> {
    let bad = || std::io::Error::from(std::io::ErrorKind::InvalidData);
    let prefix = String::from_utf8(read_line(&mut conn)?).map_err(|_| bad())?;
    let cwd = Some(read_line(&mut conn)?).filter(|c| !c.is_empty());
    let cookie = read_line(&mut conn)?;
    let handed = match cookie.is_empty() {
        true => None,
        false => Some(claims.take(parse_cookie(&cookie).ok_or_else(bad)?).ok_or_else(bad)?),
    };
    let listener = recv_fd(conn.as_raw_fd())?;
    Supervision { kernel, prefix, root: Root { cwd, handed }, listener }.start()
}

/// A PREFORK cookie as the door's third line has it: its four words in
/// hex, separated by spaces.
fn parse_cookie(line: &[u8]) -> Option<crate::server::Cookie> {
    let text = std::str::from_utf8(line).ok()?;
    let words: Vec<u32> = text.split(' ').map(|w| u32::from_str_radix(w, 16).ok()).collect::<Option<_>>()?;
    words.try_into().ok()
}

/// One line, without its newline. A byte at a time: a buffered read
/// could swallow the byte that carries the listener, and the listener
/// with it.
fn read_line(conn: &mut UnixStream) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut b = [0u8];
    loop {
        if line.len() > libc::PATH_MAX as usize || conn.read(&mut b)? == 0 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        if b[0] == b'\n' {
            return Ok(line);
        }
        line.push(b[0]);
    }
}

/// The caller's side: a child setup whose listener goes through the door
/// of the server at `sock`, for a program that sees the kernel at `prefix`.
pub fn knock(sock: &Path, prefix: &str) -> std::io::Result<ChildSetup> {
    let mut conn = UnixStream::connect(door_path(sock))?;
    conn.write_all(format!("{prefix}\n\n\n").as_bytes())?;
    // Under Yama's ptrace scope 1 only a named tracer may read the
    // child's memory: the server, named by the child (no Yama: EINVAL).
    // SAFETY: a plain call filling a local.
    let server = unsafe {
        let mut cred: libc::ucred = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        let r = libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        );
        if r == 0 {
            Some(cred.pid)
        } else {
            None
        }
    };
    Ok(ChildSetup::through(conn.into_raw_fd(), server))
}
