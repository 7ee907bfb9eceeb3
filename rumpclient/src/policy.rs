//! Who may connect to a server and what a connection may hold: the
//! server's flags, with their defaults in one place.
//!
//! A connection is *pending* from accept until its handshake (GUEST or
//! FORK) is done, and a *guest* after. Pending connections have slots of
//! their own (`max_pending`), so strangers that never handshake cannot
//! starve guests (`max_guests`); when they are all taken, new connections
//! wait in the listen backlog and the oldest pending one is closed to make
//! room once it has had 500 ms. Each must finish its handshake (and over
//! `tcp://` the key's challenge) within `handshake_timeout`, and may send
//! frames of at most `pending_max_payload` bytes until then. Every frame's
//! payload is charged to the kernel's memory budget (`-r`) while it is
//! handled.

use crate::auth::Key;
use std::time::Duration;

#[derive(Clone)]
pub struct Policy {
    /// Handshaken connections served at once; more are refused.
    pub max_guests: usize,
    /// Connections not yet handshaken at once; more wait to be accepted.
    pub max_pending: usize,
    /// Time from accept to a finished handshake.
    pub handshake_timeout: Duration,
    /// Largest frame payload before the handshake.
    pub pending_max_payload: usize,
    /// How long a call waits for the client to answer a copy request. The
    /// kernel is held meanwhile, so a client that never answers loses its
    /// connection rather than stalling everyone for longer.
    pub copy_timeout: Duration,
    /// Unix sockets: serve processes of other uids too (normally refused).
    pub allow_other_uid: bool,
    /// `tcp://`: the key clients must prove they hold (see `auth`). None
    /// means the default key file for the address, created if missing.
    pub key: Option<Key>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_guests: 256,
            max_pending: 64,
            handshake_timeout: Duration::from_secs(5),
            pending_max_payload: 4096,
            copy_timeout: Duration::from_secs(10),
            allow_other_uid: false,
            key: None,
        }
    }
}
