//! Unix stream sockets: the transport on one host. A listener creates its
//! socket mode 0600 without a moment of wider access and never takes over
//! an existing path, except the socket of a server that is gone. The
//! server learns each peer's uid and pid (SO_PEERCRED), and descriptors
//! travel with frames.

use super::{wrong_url, Transport};
use crate::ownfd::OwnFd;
use crate::sock::{rand_u64, raw_socket, Conn};
use crate::url::ServerUrl;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

pub struct Unix;

impl Transport for Unix {
    fn connect(&self, url: &ServerUrl) -> io::Result<Conn> {
        let ServerUrl::Unix(path) = url else { return Err(wrong_url(url)) };
        let (a, len) = sockaddr(path)?;
        Conn::connect_raw(libc::AF_UNIX, &a, len)
    }

    fn listen(&self, url: &ServerUrl) -> io::Result<(OwnedFd, ServerUrl)> {
        let ServerUrl::Unix(path) = url else { return Err(wrong_url(url)) };
        Ok((bind_private(path)?, url.clone()))
    }

    fn knows_peer_uid(&self) -> bool {
        true
    }

    fn passes_fds(&self) -> bool {
        true
    }

    fn unlisten(&self, url: &ServerUrl) {
        if let ServerUrl::Unix(path) = url {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The address of `path` and how many of its bytes count.
fn sockaddr(path: &Path) -> io::Result<(libc::sockaddr_un, usize)> {
    // SAFETY: sockaddr_un is plain data, valid all zero.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= a.sun_path.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (d, s) in a.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Ok((a, std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1))
}

/// A socket of our own listening at `path`, in a directory nobody else
/// can enter (a keeper's), replacing whatever is there: no staging is
/// needed where nobody else reaches the path. Raw syscalls, as inside a
/// hijacked program the libc calls are hooks.
pub fn listen_private(path: &Path) -> io::Result<OwnFd> {
    let (a, len) = sockaddr(path)?;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: unlinking a NUL-terminated path; binding and listening on a
    // socket of ours with an address of `len` valid bytes.
    unsafe {
        libc::syscall(libc::SYS_unlinkat, libc::AT_FDCWD, c.as_ptr(), 0);
        let fd = raw_socket(libc::AF_UNIX)?;
        let p: *const libc::sockaddr_un = &a;
        for r in [
            libc::syscall(libc::SYS_bind, fd.as_raw_fd(), p, len as libc::socklen_t),
            libc::syscall(libc::SYS_listen, fd.as_raw_fd(), libc::SOMAXCONN),
        ] {
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(OwnFd::new(fd))
    }
}

/// Binds in a fresh 0700 directory beside `path`, makes the socket 0600,
/// then hard-links it into place: the link fails if `path` exists, and
/// nobody can connect before the mode is right.
fn bind_private(path: &Path) -> io::Result<OwnedFd> {
    let in_use = || io::Error::new(io::ErrorKind::AddrInUse, format!("{} already exists", path.display()));
    if path.symlink_metadata().is_ok() {
        if !is_stale_socket(path) {
            return Err(in_use());
        }
        tracing::info!(path = %path.display(), "replacing the socket of a server that is gone");
        std::fs::remove_file(path)?;
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let private = dir.join(format!(".rump_server.{}.{:x}", std::process::id(), rand_u64()));
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let staged: PathBuf = private.join("s");
    let result = (|| {
        let l = UnixListener::bind(&staged)?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::hard_link(&staged, path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                in_use()
            } else {
                e
            }
        })?;
        Ok(OwnedFd::from(l))
    })();
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private);
    result
}

/// Whether `path` is a unix socket nobody listens on any more (a server
/// killed before it could remove it): connecting is refused.
fn is_stale_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let is_socket = path.symlink_metadata().is_ok_and(|m| m.file_type().is_socket());
    is_socket
        && Unix
            .connect(&ServerUrl::Unix(path.to_path_buf()))
            .is_err_and(|e| e.raw_os_error() == Some(libc::ECONNREFUSED))
}
