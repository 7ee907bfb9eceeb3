//! HANDSHAKE payloads (the header value says which) and the reply body.
//!
//! GUEST and EXEC carry the program name. NetBSD sends `name NUL`; we add
//! optional `key=value NUL` records after it, which a NetBSD server never
//! sees because it stops at the first NUL:
//!
//! ```text
//! payload = name NUL *(key "=" value NUL)
//! name    = 1*(any byte but NUL)
//! key     = 1*(a-z / 0-9 / "_")
//! value   = *(any byte but NUL)
//! ```
//!
//! The one key defined is `emul`, with values `native` and `linux`: the
//! emulation the new process runs in. Without it (a bare NetBSD payload) the
//! emulation is native. Unknown keys are skipped so later records stay
//! compatible; an unknown `emul` value is `Unsupported`; a repeated key, an
//! empty name, a record without `=` or a payload not ending in NUL is
//! malformed. Parsing only borrows the payload, so nothing is written past
//! it (NetBSD writes the terminator one byte beyond its buffer and follows
//! NULL for an empty name).
//!
//! FORK carries `{u32 auth[4]; i32 cancel}`, exactly 20 bytes: the cookie
//! PREFORK returned, and whether to drop it instead of forking. AUTH is
//! reserved by NetBSD and unimplemented there: `Unsupported`.
//!
//! The reply (RESP, type HANDSHAKE) is one `i32`, 0 on success.

use super::field::{put_u32, u32_at};
use super::header::HandshakeKind;
use super::WireError;

/// The longest GUEST/EXEC payload accepted.
pub const NAME_PAYLOAD_MAX: usize = 4096;
/// The FORK payload's size.
pub const FORK_LEN: usize = 20;
/// The reply body's size.
pub const REPLY_LEN: usize = 4;

/// The emulation a GUEST/EXEC handshake asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Emulation {
    /// NetBSD's ABI; what a handshake without `emul` means.
    #[default]
    Native,
    Linux,
}

impl Emulation {
    fn value(self) -> &'static [u8] {
        match self {
            Emulation::Native => b"native",
            Emulation::Linux => b"linux",
        }
    }
}

/// The GUEST/EXEC payload: a program name and the emulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameRepr<'a> {
    /// Not empty, no NUL. Not necessarily UTF-8.
    pub name: &'a [u8],
    pub emul: Emulation,
}

impl<'a> NameRepr<'a> {
    pub fn parse(payload: &'a [u8]) -> Result<NameRepr<'a>, WireError> {
        if payload.len() > NAME_PAYLOAD_MAX {
            return Err(WireError::TooLarge);
        }
        let body = payload.strip_suffix(&[0]).ok_or(WireError::Malformed("unterminated handshake name"))?;
        let mut parts = body.split(|&b| b == 0);
        let name = parts.next().unwrap_or_default();
        if name.is_empty() {
            return Err(WireError::Malformed("empty handshake name"));
        }
        let mut emul = None;
        let mut seen: Vec<&[u8]> = Vec::new();
        for rec in parts {
            let eq = rec.iter().position(|&b| b == b'=').ok_or(WireError::Malformed("handshake record"))?;
            let (key, value) = (&rec[..eq], &rec[eq + 1..]);
            if key.is_empty() || !key.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return Err(WireError::Malformed("handshake record key"));
            }
            if seen.contains(&key) {
                return Err(WireError::Malformed("repeated handshake record"));
            }
            seen.push(key);
            if key == b"emul" {
                emul = Some(match value {
                    b"native" => Emulation::Native,
                    b"linux" => Emulation::Linux,
                    _ => return Err(WireError::Unsupported),
                });
            }
        }
        Ok(NameRepr { name, emul: emul.unwrap_or_default() })
    }

    /// A native handshake is emitted exactly as NetBSD's, `name NUL`.
    pub fn buffer_len(&self) -> usize {
        match self.emul {
            Emulation::Native => self.name.len() + 1,
            e => self.name.len() + 1 + b"emul=".len() + e.value().len() + 1,
        }
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        if self.name.is_empty() || self.name.contains(&0) {
            return Err(WireError::Malformed("handshake name"));
        }
        let n = self.buffer_len();
        if n > NAME_PAYLOAD_MAX {
            return Err(WireError::TooLarge);
        }
        let out = buf.get_mut(..n).ok_or(WireError::Truncated)?;
        let mut text = self.name.to_vec();
        text.push(0);
        if self.emul != Emulation::Native {
            text.extend_from_slice(b"emul=");
            text.extend_from_slice(self.emul.value());
            text.push(0);
        }
        out.copy_from_slice(&text);
        Ok(n)
    }
}

/// A view of the 20-byte FORK payload.
#[derive(Clone, Copy, Debug)]
pub struct ForkPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ForkPacket<T> {
    pub fn new_unchecked(buffer: T) -> ForkPacket<T> {
        ForkPacket { buffer }
    }

    /// The size is checked exactly, as NetBSD's server does.
    pub fn new_checked(buffer: T) -> Result<ForkPacket<T>, WireError> {
        match buffer.as_ref().len() {
            FORK_LEN => Ok(ForkPacket { buffer }),
            n if n < FORK_LEN => Err(WireError::Truncated),
            _ => Err(WireError::Malformed("FORK payload size")),
        }
    }

    pub fn auth(&self, i: usize) -> u32 {
        u32_at(self.buffer.as_ref(), 4 * i)
    }

    pub fn cancel(&self) -> i32 {
        u32_at(self.buffer.as_ref(), 16) as i32
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ForkPacket<T> {
    pub fn set_auth(&mut self, i: usize, v: u32) {
        put_u32(self.buffer.as_mut(), 4 * i, v)
    }

    pub fn set_cancel(&mut self, v: i32) {
        put_u32(self.buffer.as_mut(), 16, v as u32)
    }
}

/// The FORK payload: the PREFORK cookie as four words, and whether the
/// client gives the prefork up instead of binding to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForkRepr {
    pub auth: [u32; 4],
    pub cancel: bool,
}

impl ForkRepr {
    pub fn parse<T: AsRef<[u8]>>(p: &ForkPacket<T>) -> Result<ForkRepr, WireError> {
        if p.buffer.as_ref().len() != FORK_LEN {
            return Err(WireError::Malformed("FORK payload size"));
        }
        Ok(ForkRepr { auth: [p.auth(0), p.auth(1), p.auth(2), p.auth(3)], cancel: p.cancel() != 0 })
    }

    pub fn buffer_len(&self) -> usize {
        FORK_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut ForkPacket<T>) {
        for (i, &a) in self.auth.iter().enumerate() {
            p.set_auth(i, a);
        }
        p.set_cancel(self.cancel as i32);
    }
}

/// A HANDSHAKE request's meaning; `kind` comes from the header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeRepr<'a> {
    Guest(NameRepr<'a>),
    Exec(NameRepr<'a>),
    Fork(ForkRepr),
}

impl<'a> HandshakeRepr<'a> {
    pub fn parse(kind: HandshakeKind, payload: &'a [u8]) -> Result<HandshakeRepr<'a>, WireError> {
        match kind {
            HandshakeKind::Guest => NameRepr::parse(payload).map(HandshakeRepr::Guest),
            HandshakeKind::Exec => NameRepr::parse(payload).map(HandshakeRepr::Exec),
            HandshakeKind::Fork => ForkRepr::parse(&ForkPacket::new_checked(payload)?).map(HandshakeRepr::Fork),
            HandshakeKind::Auth => Err(WireError::Unsupported),
        }
    }

    /// The header value to send with this payload.
    pub fn kind(&self) -> HandshakeKind {
        match self {
            HandshakeRepr::Guest(_) => HandshakeKind::Guest,
            HandshakeRepr::Exec(_) => HandshakeKind::Exec,
            HandshakeRepr::Fork(_) => HandshakeKind::Fork,
        }
    }

    pub fn buffer_len(&self) -> usize {
        match self {
            HandshakeRepr::Guest(n) | HandshakeRepr::Exec(n) => n.buffer_len(),
            HandshakeRepr::Fork(f) => f.buffer_len(),
        }
    }

    /// Writes the payload into the front of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        match self {
            HandshakeRepr::Guest(n) | HandshakeRepr::Exec(n) => n.emit(buf),
            HandshakeRepr::Fork(f) => {
                let out = buf.get_mut(..FORK_LEN).ok_or(WireError::Truncated)?;
                f.emit(&mut ForkPacket::new_unchecked(out));
                Ok(FORK_LEN)
            }
        }
    }
}

/// The handshake reply body: 0, or an error NetBSD never sends (it answers
/// failures with ERROR frames).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyRepr {
    pub error: i32,
}

impl ReplyRepr {
    pub fn parse(payload: &[u8]) -> Result<ReplyRepr, WireError> {
        match payload.len() {
            REPLY_LEN => Ok(ReplyRepr { error: u32_at(payload, 0) as i32 }),
            n if n < REPLY_LEN => Err(WireError::Truncated),
            _ => Err(WireError::Malformed("handshake reply size")),
        }
    }

    pub fn buffer_len(&self) -> usize {
        REPLY_LEN
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let out = buf.get_mut(..REPLY_LEN).ok_or(WireError::Truncated)?;
        put_u32(out, 0, self.error as u32);
        Ok(REPLY_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(r: HandshakeRepr) -> Vec<u8> {
        let mut buf = vec![0u8; r.buffer_len()];
        assert_eq!(r.emit(&mut buf).unwrap(), buf.len());
        assert_eq!(HandshakeRepr::parse(r.kind(), &buf).unwrap(), r);
        buf
    }

    #[test]
    fn round_trips() {
        let native = NameRepr { name: b"cat", emul: Emulation::Native };
        assert_eq!(round_trip(HandshakeRepr::Guest(native)), b"cat\0");
        let linux = NameRepr { name: b"ls", emul: Emulation::Linux };
        assert_eq!(round_trip(HandshakeRepr::Exec(linux)), b"ls\0emul=linux\0");
        let fork = ForkRepr { auth: [1, 0xdead_beef, 3, u32::MAX], cancel: true };
        let b = round_trip(HandshakeRepr::Fork(fork));
        assert_eq!(b.len(), 20);
        assert_eq!(&b[16..], &1i32.to_ne_bytes());
        let r = ReplyRepr { error: 0 };
        let mut b = [0xffu8; 4];
        r.emit(&mut b).unwrap();
        assert_eq!(ReplyRepr::parse(&b).unwrap(), r);
    }

    #[test]
    fn extension_records() {
        fn p(b: &[u8]) -> Result<NameRepr<'_>, WireError> {
            NameRepr::parse(b)
        }
        assert_eq!(p(b"x\0emul=native\0").unwrap().emul, Emulation::Native);
        assert_eq!(p(b"x\0later=1\0emul=linux\0").unwrap(), NameRepr { name: b"x", emul: Emulation::Linux });
        assert_eq!(p(b"x\0emul=\0"), Err(WireError::Unsupported));
        assert_eq!(p(b"x\0emul=freebsd\0"), Err(WireError::Unsupported));
        assert!(p(b"x\0emul=linux\0emul=linux\0").is_err());
        assert!(p(b"x\0emul\0").is_err());
        assert!(p(b"x\0=linux\0").is_err());
        assert!(p(b"x\0EMUL=linux\0").is_err());
        assert!(p(b"x\0\0").is_err());
    }

    #[test]
    fn rejects() {
        let g = HandshakeKind::Guest;
        assert!(HandshakeRepr::parse(g, b"").is_err());
        assert!(HandshakeRepr::parse(g, b"\0").is_err());
        assert!(HandshakeRepr::parse(g, b"cat").is_err());
        assert!(HandshakeRepr::parse(HandshakeKind::Exec, b"cat\0emul=linux").is_err());
        assert_eq!(HandshakeRepr::parse(g, &vec![b'a'; 5000]), Err(WireError::TooLarge));
        let f = HandshakeKind::Fork;
        assert_eq!(HandshakeRepr::parse(f, &[0; 19]), Err(WireError::Truncated));
        assert!(HandshakeRepr::parse(f, &[0; 21]).is_err());
        assert!(HandshakeRepr::parse(f, &[]).is_err());
        assert_eq!(HandshakeRepr::parse(HandshakeKind::Auth, b"x\0"), Err(WireError::Unsupported));
        assert!(ReplyRepr::parse(&[0; 3]).is_err());
        assert!(ReplyRepr::parse(&[0; 5]).is_err());
        let bad = NameRepr { name: b"a\0b", emul: Emulation::Native };
        assert!(bad.emit(&mut [0u8; 16]).is_err());
        assert!(NameRepr { name: b"", emul: Emulation::Linux }.emit(&mut [0u8; 16]).is_err());
        assert_eq!(NameRepr { name: b"abc", emul: Emulation::Linux }.emit(&mut [0u8; 5]), Err(WireError::Truncated));
    }
}
