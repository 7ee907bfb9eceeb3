//! COPYIN, COPYINSTR and COPYOUT: the server reaching into the client's
//! memory for arguments the tables do not describe (ioctl payloads, sysctl
//! buffers). The request body is NetBSD's `{u64 len; u64 addr}`, followed
//! for COPYOUT by the `len` bytes to store.
//!
//! Replies (RESP, same type and reqno) differ from NetBSD in one way: the
//! client checks the address instead of copying blindly, so a bad pointer
//! is EFAULT for the call, never a crash of the client.
//! - COPYIN: exactly `len` bytes, or an empty body for a fault.
//! - COPYINSTR: the string with its NUL (at most `len` bytes); `len` bytes
//!   without a NUL mean the string is longer (ENAMETOOLONG); fewer bytes
//!   without a NUL mean a fault.
//! - COPYOUT: one `i32` errno, 0 on success (NetBSD sends no reply, so a
//!   fault there went unnoticed).

use super::field::{put_u64, u64_at};
use super::WireError;

/// The fixed part of every copy request.
pub const COPY_REQ_LEN: usize = 16;

/// A view over a copy request body.
#[derive(Debug)]
pub struct CopyPacket<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    pub const LEN: usize = 0;
    pub const ADDR: usize = 8;
    pub const DATA: usize = 16;
}

impl<T: AsRef<[u8]>> CopyPacket<T> {
    pub fn new_unchecked(buffer: T) -> CopyPacket<T> {
        CopyPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<CopyPacket<T>, WireError> {
        if buffer.as_ref().len() < COPY_REQ_LEN {
            return Err(WireError::Truncated);
        }
        Ok(CopyPacket { buffer })
    }

    pub fn len(&self) -> u64 {
        u64_at(self.buffer.as_ref(), field::LEN)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn addr(&self) -> u64 {
        u64_at(self.buffer.as_ref(), field::ADDR)
    }

    /// The bytes after the fixed part (COPYOUT's data).
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> CopyPacket<T> {
    pub fn set_len(&mut self, v: u64) {
        put_u64(self.buffer.as_mut(), field::LEN, v)
    }

    pub fn set_addr(&mut self, v: u64) {
        put_u64(self.buffer.as_mut(), field::ADDR, v)
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }
}

/// A copy request: `len` bytes at `addr`, and for COPYOUT the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyRepr<'a> {
    pub addr: u64,
    pub len: usize,
    /// COPYOUT's bytes (exactly `len` of them); empty for the others.
    pub data: &'a [u8],
}

impl<'a> CopyRepr<'a> {
    /// Parses a COPYIN/COPYINSTR body (`with_data` false) or a COPYOUT
    /// body (`with_data` true, whose data must be exactly `len` bytes).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &CopyPacket<&'a T>, with_data: bool) -> Result<CopyRepr<'a>, WireError> {
        let len = usize::try_from(p.len()).map_err(|_| WireError::TooLarge)?;
        let data: &'a [u8] = &p.buffer.as_ref()[field::DATA..];
        match (with_data, data.len()) {
            (false, 0) => Ok(CopyRepr { addr: p.addr(), len, data: &[] }),
            (true, n) if n == len => Ok(CopyRepr { addr: p.addr(), len, data }),
            _ => Err(WireError::BadLength),
        }
    }

    pub fn buffer_len(&self) -> usize {
        COPY_REQ_LEN + self.data.len()
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut CopyPacket<T>) {
        p.set_len(self.len as u64);
        p.set_addr(self.addr);
        p.data_mut()[..self.data.len()].copy_from_slice(self.data);
    }

    /// The body as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut CopyPacket::new_unchecked(&mut buf[..]));
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_bad_lengths() {
        let r = CopyRepr { addr: 0x1000, len: 3, data: b"abc" };
        let bytes = r.to_bytes();
        assert_eq!(CopyRepr::parse(&CopyPacket::new_checked(&bytes[..]).unwrap(), true), Ok(r));
        // COPYIN carries no data; data on it, or COPYOUT data of the wrong
        // size, is refused.
        assert_eq!(CopyRepr::parse(&CopyPacket::new_checked(&bytes[..]).unwrap(), false), Err(WireError::BadLength));
        assert_eq!(CopyRepr::parse(&CopyPacket::new_checked(&bytes[..18]).unwrap(), true), Err(WireError::BadLength));
        assert!(CopyPacket::new_checked(&bytes[..15]).is_err());
        let r = CopyRepr { addr: 8, len: 1 << 40, data: &[] };
        let bytes = r.to_bytes();
        assert_eq!(CopyRepr::parse(&CopyPacket::new_checked(&bytes[..]).unwrap(), false), Ok(r));
    }
}
