//! NetBSD's plain SYSCALL: the request body is the argument struct as
//! 8-byte slots (header value = syscall number); the response body is
//! `{i32 error; pad 4; i64 retval[2]}`, 24 bytes. Pointer arguments travel
//! as bare addresses and are served by COPYIN/COPYOUT round trips; our
//! marshaled variant is `crate::marshal`.

use super::field::{put_u32, put_u64, u32_at, u64_at};
use super::WireError;
use rump_abi::{Errno, Slots, SysResult, MAXARGS};

/// The response body's size.
pub const SYSCALL_RESP_LEN: usize = 24;

/// A view of a SYSCALL request body: whole 8-byte slots, at most `MAXARGS`.
#[derive(Clone, Copy, Debug)]
pub struct SyscallPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SyscallPacket<T> {
    pub fn new_unchecked(buffer: T) -> SyscallPacket<T> {
        SyscallPacket { buffer }
    }

    /// Checks what NetBSD's server does not: the length is a multiple of 8
    /// and names at most `MAXARGS` slots.
    pub fn new_checked(buffer: T) -> Result<SyscallPacket<T>, WireError> {
        let n = buffer.as_ref().len();
        if n % 8 != 0 {
            return Err(WireError::Malformed("SYSCALL arguments not whole slots"));
        }
        if n / 8 > MAXARGS {
            return Err(WireError::TooLarge);
        }
        Ok(SyscallPacket { buffer })
    }

    pub fn nslots(&self) -> usize {
        self.buffer.as_ref().len() / 8
    }

    pub fn slot(&self, i: usize) -> u64 {
        u64_at(self.buffer.as_ref(), 8 * i)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SyscallPacket<T> {
    pub fn set_slot(&mut self, i: usize, v: u64) {
        put_u64(self.buffer.as_mut(), 8 * i, v)
    }
}

/// A SYSCALL request: `nslots` slots are sent; the rest read as zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallRepr {
    pub nslots: usize,
    pub slots: Slots,
}

impl SyscallRepr {
    pub fn parse<T: AsRef<[u8]>>(p: &SyscallPacket<T>) -> Result<SyscallRepr, WireError> {
        let nslots = p.nslots();
        if nslots > MAXARGS || p.buffer.as_ref().len() % 8 != 0 {
            return Err(WireError::Malformed("SYSCALL arguments"));
        }
        let mut slots = [0u64; MAXARGS];
        for (i, s) in slots.iter_mut().enumerate().take(nslots) {
            *s = p.slot(i);
        }
        Ok(SyscallRepr { nslots, slots })
    }

    pub fn buffer_len(&self) -> usize {
        8 * self.nslots.min(MAXARGS)
    }

    /// The packet must wrap `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut SyscallPacket<T>) {
        for i in 0..self.nslots.min(MAXARGS) {
            p.set_slot(i, self.slots[i]);
        }
    }
}

/// A view of the 24-byte SYSCALL response body.
#[derive(Clone, Copy, Debug)]
pub struct SyscallRespPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SyscallRespPacket<T> {
    pub fn new_unchecked(buffer: T) -> SyscallRespPacket<T> {
        SyscallRespPacket { buffer }
    }

    /// Exactly `SYSCALL_RESP_LEN` bytes.
    pub fn new_checked(buffer: T) -> Result<SyscallRespPacket<T>, WireError> {
        match buffer.as_ref().len() {
            SYSCALL_RESP_LEN => Ok(SyscallRespPacket { buffer }),
            n if n < SYSCALL_RESP_LEN => Err(WireError::Truncated),
            _ => Err(WireError::Malformed("SYSCALL response size")),
        }
    }

    pub fn error(&self) -> i32 {
        u32_at(self.buffer.as_ref(), 0) as i32
    }

    pub fn retval(&self, i: usize) -> i64 {
        u64_at(self.buffer.as_ref(), 8 + 8 * i) as i64
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SyscallRespPacket<T> {
    pub fn set_error(&mut self, v: i32) {
        put_u32(self.buffer.as_mut(), 0, v as u32);
        put_u32(self.buffer.as_mut(), 4, 0);
    }

    pub fn set_retval(&mut self, i: usize, v: i64) {
        put_u64(self.buffer.as_mut(), 8 + 8 * i, v as u64)
    }
}

/// A SYSCALL response: `error` 0 means success and `retval` holds the
/// results (NetBSD's second value serves pipe-like calls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallRespRepr {
    pub error: i32,
    pub retval: [i64; 2],
}

impl SyscallRespRepr {
    pub fn from_result(r: &SysResult) -> SyscallRespRepr {
        match *r {
            Ok(v) => SyscallRespRepr { error: 0, retval: [v, 0] },
            Err(e) => SyscallRespRepr { error: e.raw(), retval: [-1, 0] },
        }
    }

    pub fn result(&self) -> SysResult {
        if self.error != 0 {
            Err(Errno(self.error))
        } else {
            Ok(self.retval[0])
        }
    }

    pub fn parse<T: AsRef<[u8]>>(p: &SyscallRespPacket<T>) -> Result<SyscallRespRepr, WireError> {
        if p.buffer.as_ref().len() != SYSCALL_RESP_LEN {
            return Err(WireError::Malformed("SYSCALL response size"));
        }
        Ok(SyscallRespRepr { error: p.error(), retval: [p.retval(0), p.retval(1)] })
    }

    pub fn buffer_len(&self) -> usize {
        SYSCALL_RESP_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut SyscallRespPacket<T>) {
        p.set_error(self.error);
        p.set_retval(0, self.retval[0]);
        p.set_retval(1, self.retval[1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip() {
        let r = SyscallRepr { nslots: 3, slots: [3, 0x7fff_0000_1000, 4096, 0, 0, 0, 0, 0] };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut SyscallPacket::new_checked(&mut b[..]).unwrap());
        assert_eq!(b.len(), 24);
        assert_eq!(SyscallRepr::parse(&SyscallPacket::new_checked(&b[..]).unwrap()).unwrap(), r);
        let empty = SyscallRepr::parse(&SyscallPacket::new_checked(&[][..]).unwrap()).unwrap();
        assert_eq!(empty, SyscallRepr { nslots: 0, slots: [0; MAXARGS] });
        assert!(SyscallPacket::new_checked(&[0u8; 64][..]).is_ok());
    }

    #[test]
    fn request_rejects() {
        assert!(SyscallPacket::new_checked(&[0u8; 7][..]).is_err());
        assert!(SyscallPacket::new_checked(&[0u8; 23][..]).is_err());
        assert_eq!(SyscallPacket::new_checked(&[0u8; 72][..]).unwrap_err(), WireError::TooLarge);
    }

    #[test]
    fn response_round_trip() {
        for res in [Ok(5), Ok(-2), Err(Errno(9))] {
            let r = SyscallRespRepr::from_result(&res);
            let mut b = [0xaau8; SYSCALL_RESP_LEN];
            r.emit(&mut SyscallRespPacket::new_checked(&mut b[..]).unwrap());
            assert_eq!(&b[4..8], &[0; 4]);
            let back = SyscallRespRepr::parse(&SyscallRespPacket::new_checked(&b[..]).unwrap()).unwrap();
            assert_eq!(back, r);
            assert_eq!(back.result(), res);
        }
        assert_eq!(SyscallRespPacket::new_checked(&[0u8; 23][..]).unwrap_err(), WireError::Truncated);
        assert!(SyscallRespPacket::new_checked(&[0u8; 25][..]).is_err());
    }
}
