//! NetBSD's sysproxy wire formats, one module per message, and the error
//! every parser in this crate returns.
//!
//! Each format comes at two levels, as in smoltcp: a `...Packet<T>` is a
//! bounds-checked view over bytes with raw field getters and setters, and a
//! `...Repr` is the validated meaning, built by `parse` and written back by
//! `emit` into a buffer of `buffer_len()` bytes. All integers are in host
//! byte order, as NetBSD sends them (client and server share one ABI).

pub mod banner;
pub mod copy;
pub mod error;
pub mod handshake;
pub mod header;
pub mod syscall;

use core::fmt;

/// Why bytes from the wire were refused. Parsers never panic and never
/// allocate more than the bytes they were given; they return one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Fewer bytes than the format needs.
    Truncated,
    /// A frame length below the 24-byte header.
    BadLength,
    /// A length beyond what this side accepts (`MAX_FRAME` and friends).
    TooLarge,
    /// A header class other than REQ, RESP, ERROR.
    UnknownClass(u16),
    /// A header type this side does not know.
    UnknownType(u16),
    /// A handshake type other than GUEST, AUTH, FORK, EXEC.
    UnknownHandshake(u32),
    /// An ERROR frame code other than 1..=7.
    UnknownErrorCode(u32),
    /// A well-formed message this side does not implement (AUTH handshakes).
    Unsupported,
    /// Anything else that is not what the format allows.
    Malformed(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => write!(f, "truncated message"),
            WireError::BadLength => write!(f, "frame length below the header size"),
            WireError::TooLarge => write!(f, "length beyond the accepted maximum"),
            WireError::UnknownClass(c) => write!(f, "unknown frame class {c}"),
            WireError::UnknownType(t) => write!(f, "unknown frame type {t}"),
            WireError::UnknownHandshake(h) => write!(f, "unknown handshake type {h}"),
            WireError::UnknownErrorCode(e) => write!(f, "unknown error code {e}"),
            WireError::Unsupported => write!(f, "unsupported message"),
            WireError::Malformed(what) => write!(f, "malformed message: {what}"),
        }
    }
}

impl std::error::Error for WireError {}

/// Host-order field access on slices whose length the caller has checked.
pub(crate) mod field {
    pub fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_ne_bytes([b[at], b[at + 1]])
    }

    pub fn u32_at(b: &[u8], at: usize) -> u32 {
        let mut x = [0u8; 4];
        x.copy_from_slice(&b[at..at + 4]);
        u32::from_ne_bytes(x)
    }

    pub fn u64_at(b: &[u8], at: usize) -> u64 {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[at..at + 8]);
        u64::from_ne_bytes(x)
    }

    pub fn put_u16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
    }

    pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }

    pub fn put_u64(b: &mut [u8], at: usize, v: u64) {
        b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    }
}
