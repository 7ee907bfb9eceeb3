//! Who may use a `tcp://` server: whoever holds its key. The key is 32
//! random bytes in a file only its owner can read (hex, one line). Right
//! after the banner the server sends a fresh 32-byte challenge; the client
//! answers with HMAC-SHA256(key, challenge) and the server replies with one
//! byte, `ACCEPTED` or `REFUSED`, before any frame is read. Unix sockets do
//! not use this: their file mode and the peer's uid decide.
//!
//! Where the key lives: `RUMP_SERVER_KEY=FILE` for clients and
//! `rump_server -k FILE`, or by default `rump_server-HOST-PORT.key` in the
//! user's runtime directory (`$XDG_RUNTIME_DIR/rump`, else
//! `/tmp/rump-UID`), which the server creates on first use.

use crate::sock::{rand_bytes, Conn};
use crate::url::ServerUrl;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Bytes of key, challenge and answer.
pub const LEN: usize = 32;
/// The server's verdict on an answer.
const ACCEPTED: u8 = 1;
const REFUSED: u8 = 0;
/// The environment variable naming a client's key file.
pub const ENV_KEY: &str = "RUMP_SERVER_KEY";

/// A server's secret.
#[derive(Clone)]
pub struct Key([u8; LEN]);

impl Key {
    /// The key file's default place for a server at `url`.
    pub fn default_path(addr: &SocketAddr) -> PathBuf {
        let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(d) if !d.is_empty() => PathBuf::from(d).join("rump"),
            // SAFETY: getuid cannot fail.
            _ => PathBuf::from(format!("/tmp/rump-{}", unsafe { libc::getuid() })),
        };
        dir.join(format!("rump_server-{}-{}.key", addr.ip(), addr.port()))
    }

    /// The key a client uses for `url`: `RUMP_SERVER_KEY`'s file, else
    /// the default one. The error says where it looked.
    pub fn for_client(addr: &SocketAddr) -> io::Result<Key> {
        let url = ServerUrl::Tcp(*addr);
        let path = std::env::var_os(ENV_KEY).map_or_else(|| Key::default_path(addr), PathBuf::from);
        Key::read(&path).map_err(|e| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{url} needs its key: {}: {e} (set {ENV_KEY}=FILE)", path.display()),
            )
        })
    }

    /// Reads the key at `path`, or makes one there (mode 0600, in a 0700
    /// directory) if there is none. A key that others may read is refused.
    pub fn read_or_create(path: &Path) -> io::Result<Key> {
        match Key::read(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let mut key = Key([0; LEN]);
        rand_bytes(&mut key.0);
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
        writeln!(f, "{}", key.0.iter().map(|b| format!("{b:02x}")).collect::<String>())?;
        Ok(key)
    }

    fn read(path: &Path) -> io::Result<Key> {
        let mut f = std::fs::File::open(path)?;
        let meta = f.metadata()?;
        // SAFETY: geteuid cannot fail.
        if meta.mode() & 0o077 != 0 || meta.uid() != unsafe { libc::geteuid() } {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "key file must be ours and mode 0600"));
        }
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        let hex = text.trim();
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "key file must hold 64 hex digits");
        if hex.len() != 2 * LEN {
            return Err(bad());
        }
        let mut key = [0u8; LEN];
        for (i, b) in key.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16).map_err(|_| bad())?;
        }
        Ok(Key(key))
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length")
    }

    /// Server side, right after the banner: challenges `conn` and says
    /// whether it answered with this key. The caller bounds the time.
    pub fn challenge(&self, conn: &Conn) -> io::Result<bool> {
        let mut challenge = [0u8; LEN];
        rand_bytes(&mut challenge);
        (&*conn).write_all(&challenge)?;
        let mut answer = [0u8; LEN];
        (&*conn).read_exact(&mut answer)?;
        let mut mac = self.mac();
        mac.update(&challenge);
        let ok = mac.verify_slice(&answer).is_ok();
        (&*conn).write_all(&[if ok { ACCEPTED } else { REFUSED }])?;
        Ok(ok)
    }

    /// Client side, right after the banner: answers the challenge.
    pub fn answer(&self, conn: &Conn, addr: &SocketAddr) -> io::Result<()> {
        let mut challenge = [0u8; LEN];
        (&*conn).read_exact(&mut challenge)?;
        let mut mac = self.mac();
        mac.update(&challenge);
        (&*conn).write_all(&mac.finalize().into_bytes())?;
        let mut verdict = [0u8];
        (&*conn).read_exact(&mut verdict)?;
        if verdict[0] != ACCEPTED {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("tcp://{addr} refused our key")));
        }
        Ok(())
    }
}
