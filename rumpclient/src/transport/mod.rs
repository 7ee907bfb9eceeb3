//! Transports: how frames between a client and a server travel. Each is a
//! file beside the others, behind one trait, and `of` is the one place a
//! URL's kind picks one: client, server, keeper and hijack code above ask
//! the transport, never the URL.
//!
//! - `unix`: a local stream socket, private to its owner, that also carries
//!   descriptors (SCM_RIGHTS).
//! - `tcp`: a stream across machines, behind a key (`crate::auth`).
//! - `shm`: calls in a mapping shared with a server on the same host,
//!   negotiated over a connection that passes descriptors, which stays
//!   beside it.

pub mod shm;
pub mod tcp;
pub mod unix;

use crate::auth::Key;
use crate::policy::Policy;
use crate::sock::Conn;
use crate::url::ServerUrl;
use std::io;
use std::os::fd::OwnedFd;

/// One kind of stream connection.
pub trait Transport: Sync {
    /// A stream connected to `url`, made with raw system calls: inside a
    /// hijacked program the libc functions are hooks that may route the
    /// socket to the very kernel it is for.
    fn connect(&self, url: &ServerUrl) -> io::Result<Conn>;

    /// A listening socket at `url`, and the URL it ended up on (a TCP
    /// port 0 resolved).
    fn listen(&self, url: &ServerUrl) -> io::Result<(OwnedFd, ServerUrl)>;

    /// Options a connection needs once made or accepted.
    fn prepare(&self, _conn: &Conn) {}

    /// What a client proves after the banner, before its handshake.
    fn prove(&self, _conn: &Conn, _url: &ServerUrl) -> io::Result<()> {
        Ok(())
    }

    /// What a server at `url` demands that clients prove (`prove`).
    fn demand(&self, _url: &ServerUrl, _policy: &Policy) -> io::Result<Option<Key>> {
        Ok(None)
    }

    /// Whether the server learns each peer's uid (and so checks it).
    fn knows_peer_uid(&self) -> bool {
        false
    }

    /// Whether descriptors travel: file mappings, readiness notifiers and
    /// the shared-memory channel need that.
    fn passes_fds(&self) -> bool {
        false
    }

    /// Removes what listening at `url` left behind.
    fn unlisten(&self, _url: &ServerUrl) {}
}

/// The transport `url` names.
pub fn of(url: &ServerUrl) -> &'static dyn Transport {
    match url {
        ServerUrl::Unix(_) => &unix::Unix,
        ServerUrl::Tcp(_) => &tcp::Tcp,
    }
}

/// `url` is not this transport's (a caller's mistake, never the user's).
fn wrong_url(url: &ServerUrl) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: not this transport's URL"))
}
