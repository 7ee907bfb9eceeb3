//! The codes an ERROR frame carries in its header value, and the errno a
//! client reports for each (NetBSD's table, native errno values).

use super::WireError;
use rump_abi::native::errno::{EAGAIN, EBUSY, EINVAL, EIO, ENOMEM, EPERM, ESRCH};
use rump_abi::Errno;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The server cannot take the request now.
    TryAgain = 1,
    /// The first frame was not a handshake, or an AUTH handshake.
    Auth = 2,
    /// A FORK handshake named no known prefork cookie.
    InvalidPrefork = 3,
    /// The server could not create the process.
    RforkFailed = 4,
    /// PREFORK or EXEC while an exec is in progress.
    Inexec = 5,
    /// The server ran out of memory.
    Nomem = 6,
    /// An unknown type or a payload that does not parse.
    Malformed = 7,
}

impl ErrorCode {
    pub fn from_raw(raw: u32) -> Result<ErrorCode, WireError> {
        Ok(match raw {
            1 => ErrorCode::TryAgain,
            2 => ErrorCode::Auth,
            3 => ErrorCode::InvalidPrefork,
            4 => ErrorCode::RforkFailed,
            5 => ErrorCode::Inexec,
            6 => ErrorCode::Nomem,
            7 => ErrorCode::Malformed,
            other => return Err(WireError::UnknownErrorCode(other)),
        })
    }

    pub fn raw(self) -> u32 {
        self as u32
    }

    /// The errno a client reports when its request is answered with this
    /// code (native values).
    pub fn errno(self) -> Errno {
        match self {
            ErrorCode::TryAgain => EAGAIN,
            ErrorCode::Auth => EPERM,
            ErrorCode::InvalidPrefork => ESRCH,
            ErrorCode::RforkFailed => EIO,
            ErrorCode::Inexec => EBUSY,
            ErrorCode::Nomem => ENOMEM,
            ErrorCode::Malformed => EINVAL,
        }
    }
}

/// Whatever failed to parse, the peer is told MALFORMED (unknown types
/// included, as NetBSD does).
impl From<WireError> for ErrorCode {
    fn from(_: WireError) -> ErrorCode {
        ErrorCode::Malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let want = [(1, 35), (2, 1), (3, 3), (4, 5), (5, 16), (6, 12), (7, 22)];
        for (code, errno) in want {
            let c = ErrorCode::from_raw(code).unwrap();
            assert_eq!(c.raw(), code);
            assert_eq!(c.errno(), Errno(errno));
        }
        assert_eq!(ErrorCode::from_raw(0), Err(WireError::UnknownErrorCode(0)));
        assert_eq!(ErrorCode::from_raw(8), Err(WireError::UnknownErrorCode(8)));
        assert_eq!(ErrorCode::from(WireError::Truncated), ErrorCode::Malformed);
    }
}
