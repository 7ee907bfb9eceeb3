//! The 24-byte frame header every sysproxy message starts with, its class,
//! type and handshake enums, and the frame-size bound (`MAX_FRAME`,
//! `FrameLen`) a reader applies before it allocates anything.
//!
//! ```text
//! offset size field
//!      0    8 len    total frame length, header included (>= 24)
//!      8    8 reqno  request number; a response echoes it
//!     16    2 class  0 REQ, 1 RESP, 2 ERROR
//!     18    2 type   0 HANDSHAKE .. 8 RAISE (NetBSD), 9 MSYSCALL (ours)
//!     20    4 value  sysnum | error code | handshake type | signo
//! ```

use super::field::{put_u16, put_u32, put_u64, u16_at, u32_at, u64_at};
use super::WireError;

/// The header's size; also the smallest valid frame length.
pub const HEADER_LEN: usize = 24;
/// The largest payload this side sends or accepts.
pub const MAX_PAYLOAD: usize = 64 << 20;
/// The largest frame length (header included) this side accepts.
pub const MAX_FRAME: u64 = (MAX_PAYLOAD + HEADER_LEN) as u64;

/// A frame length read from the wire and found acceptable: at least the
/// header, at most `MAX_FRAME`. Reading the header alone decides this, so a
/// frame claiming a terabyte is refused before any buffer is sized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLen(usize);

impl FrameLen {
    /// Checks a claimed total length against `MAX_FRAME`.
    pub fn new(claimed: u64) -> Result<FrameLen, WireError> {
        FrameLen::with_max(claimed, MAX_FRAME)
    }

    /// Checks a claimed total length against a smaller bound of the caller's
    /// choosing (never more than `MAX_FRAME`).
    pub fn with_max(claimed: u64, max: u64) -> Result<FrameLen, WireError> {
        if claimed < HEADER_LEN as u64 {
            return Err(WireError::BadLength);
        }
        if claimed > max.min(MAX_FRAME) {
            return Err(WireError::TooLarge);
        }
        // Fits: MAX_FRAME is far below usize::MAX on every supported target.
        Ok(FrameLen(claimed as usize))
    }

    /// The same check for a frame about to be sent with `payload` bytes.
    pub fn for_payload(payload: usize) -> Result<FrameLen, WireError> {
        let total = payload.checked_add(HEADER_LEN).ok_or(WireError::TooLarge)?;
        FrameLen::new(total as u64)
    }

    /// The total length, header included.
    pub fn total(self) -> usize {
        self.0
    }

    /// The bytes that follow the header.
    pub fn payload(self) -> usize {
        self.0 - HEADER_LEN
    }
}

/// Header field 16: what kind of message a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    Req = 0,
    Resp = 1,
    Error = 2,
}

impl Class {
    pub fn from_raw(raw: u16) -> Result<Class, WireError> {
        match raw {
            0 => Ok(Class::Req),
            1 => Ok(Class::Resp),
            2 => Ok(Class::Error),
            other => Err(WireError::UnknownClass(other)),
        }
    }

    pub fn raw(self) -> u16 {
        self as u16
    }
}

/// Header field 18: the message type. 0..=8 are NetBSD's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsgType {
    Handshake = 0,
    Syscall = 1,
    Copyin = 2,
    Copyinstr = 3,
    Copyout = 4,
    Copyoutstr = 5,
    Anonmmap = 6,
    Prefork = 7,
    Raise = 8,
    /// Our extension, not NetBSD's: a syscall whose request carries its input
    /// buffers and whose reply carries its outputs (`crate::marshal`), so a
    /// call with annotated arguments costs one round trip. A NetBSD server
    /// answers it with ERROR MALFORMED, as for any unknown type.
    Msyscall = 9,
    /// Our extension: a REQ whose reqno names a call of the sender still in
    /// flight, which the server interrupts (EINTR) because a host signal
    /// reached the waiting thread. No reply; a cancel for a call that has
    /// already finished is ignored.
    Cancel = 10,
    /// Our extension: a marshaled call (as MSYSCALL) that must not sleep
    /// waiting for readiness. Its payload is a 4-byte notifier token, then
    /// the MSYSCALL payload; an eventfd comes with it (SCM_RIGHTS). Where
    /// the call would wait (poll, epoll_wait), the server instead arms the
    /// eventfd, which it writes when readiness may have changed, and the
    /// call returns as if it had timed out. A later frame with the same
    /// token replaces the notifier, so a client thread keeps one armed.
    Nsyscall = 11,
    /// Our extension: asks for a host descriptor through which the client
    /// maps one of its rump fds (mmap), sharing the file's memory with the
    /// kernel (`rump_kernel::Process::mappable_fd`). The REQ payload is the
    /// rump fd and the kind of mapping (4 bytes each: 1 shared, 0
    /// private); the RESP payload is an errno (4 bytes, in the client's
    /// emulation). With 0, one descriptor comes with the reply
    /// (SCM_RIGHTS), or none for a private mapping the client fills itself.
    /// A connection that cannot carry descriptors (TCP) gets ENODEV.
    Mapfd = 12,
    /// Our extension: asks to move this connection's calls to shared memory
    /// (`crate::transport::shm`). The REQ payload is the address of a
    /// 16-byte cookie in the client's memory (8 bytes), then the cookie; the
    /// RESP payload is an errno (4 bytes, 0 or ENODEV, EPERM, ENOMEM), and
    /// with 0 the channel's descriptor comes with it (SCM_RIGHTS).
    Shmchan = 13,
    /// Our extension: registers the calling thread's readiness eventfd for
    /// record `value` of the connection's shared-memory channel
    /// (`crate::transport::shm::ready`), passed with the frame (SCM_RIGHTS);
    /// the REQ payload is empty. The RESP payload is an errno (4 bytes, 0
    /// or EINVAL for a bad record or no channel or no descriptor).
    Notifier = 14,
}

impl MsgType {
    pub fn from_raw(raw: u16) -> Result<MsgType, WireError> {
        Ok(match raw {
            0 => MsgType::Handshake,
            1 => MsgType::Syscall,
            2 => MsgType::Copyin,
            3 => MsgType::Copyinstr,
            4 => MsgType::Copyout,
            5 => MsgType::Copyoutstr,
            6 => MsgType::Anonmmap,
            7 => MsgType::Prefork,
            8 => MsgType::Raise,
            9 => MsgType::Msyscall,
            10 => MsgType::Cancel,
            11 => MsgType::Nsyscall,
            12 => MsgType::Mapfd,
            13 => MsgType::Shmchan,
            14 => MsgType::Notifier,
            other => return Err(WireError::UnknownType(other)),
        })
    }

    pub fn raw(self) -> u16 {
        self as u16
    }
}

/// The header value of a HANDSHAKE frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandshakeKind {
    Guest = 0,
    Auth = 1,
    Fork = 2,
    Exec = 3,
}

impl HandshakeKind {
    pub fn from_raw(raw: u32) -> Result<HandshakeKind, WireError> {
        match raw {
            0 => Ok(HandshakeKind::Guest),
            1 => Ok(HandshakeKind::Auth),
            2 => Ok(HandshakeKind::Fork),
            3 => Ok(HandshakeKind::Exec),
            other => Err(WireError::UnknownHandshake(other)),
        }
    }

    pub fn raw(self) -> u32 {
        self as u32
    }
}

mod off {
    pub const LEN: usize = 0;
    pub const REQNO: usize = 8;
    pub const CLASS: usize = 16;
    pub const TYPE: usize = 18;
    pub const VALUE: usize = 20;
}

/// A view of a frame header over at least 24 bytes. The getters return the
/// raw fields, so a server can still read `reqno` of a frame whose type it
/// refuses, and answer it with an ERROR.
#[derive(Clone, Copy, Debug)]
pub struct HeaderPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> HeaderPacket<T> {
    /// Wraps a buffer without checking it; the getters panic if it holds
    /// fewer than `HEADER_LEN` bytes.
    pub fn new_unchecked(buffer: T) -> HeaderPacket<T> {
        HeaderPacket { buffer }
    }

    /// Wraps a buffer of at least `HEADER_LEN` bytes.
    pub fn new_checked(buffer: T) -> Result<HeaderPacket<T>, WireError> {
        let p = HeaderPacket::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn len(&self) -> u64 {
        u64_at(self.buffer.as_ref(), off::LEN)
    }

    /// Whether the frame claims no payload (a bare header).
    pub fn is_empty(&self) -> bool {
        self.len() == HEADER_LEN as u64
    }

    pub fn reqno(&self) -> u64 {
        u64_at(self.buffer.as_ref(), off::REQNO)
    }

    pub fn class(&self) -> u16 {
        u16_at(self.buffer.as_ref(), off::CLASS)
    }

    pub fn msg_type(&self) -> u16 {
        u16_at(self.buffer.as_ref(), off::TYPE)
    }

    pub fn value(&self) -> u32 {
        u32_at(self.buffer.as_ref(), off::VALUE)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> HeaderPacket<T> {
    pub fn set_len(&mut self, v: u64) {
        put_u64(self.buffer.as_mut(), off::LEN, v)
    }

    pub fn set_reqno(&mut self, v: u64) {
        put_u64(self.buffer.as_mut(), off::REQNO, v)
    }

    pub fn set_class(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), off::CLASS, v)
    }

    pub fn set_msg_type(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), off::TYPE, v)
    }

    pub fn set_value(&mut self, v: u32) {
        put_u32(self.buffer.as_mut(), off::VALUE, v)
    }
}

/// A validated header: the length is within bounds and the class and type
/// are known. `value` stays raw; its meaning depends on the type (see
/// `handshake_kind` and `crate::wire::error::ErrorCode::from_raw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderRepr {
    pub len: FrameLen,
    pub reqno: u64,
    pub class: Class,
    pub msg_type: MsgType,
    pub value: u32,
}

impl HeaderRepr {
    /// A header for a frame carrying `payload` bytes.
    pub fn new(
        payload: usize,
        reqno: u64,
        class: Class,
        msg_type: MsgType,
        value: u32,
    ) -> Result<HeaderRepr, WireError> {
        Ok(HeaderRepr { len: FrameLen::for_payload(payload)?, reqno, class, msg_type, value })
    }

    pub fn parse<T: AsRef<[u8]>>(p: &HeaderPacket<T>) -> Result<HeaderRepr, WireError> {
        p.check_len()?;
        Ok(HeaderRepr {
            len: FrameLen::new(p.len())?,
            reqno: p.reqno(),
            class: Class::from_raw(p.class())?,
            msg_type: MsgType::from_raw(p.msg_type())?,
            value: p.value(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header; the packet must wrap at least `HEADER_LEN` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut HeaderPacket<T>) {
        p.set_len(self.len.total() as u64);
        p.set_reqno(self.reqno);
        p.set_class(self.class.raw());
        p.set_msg_type(self.msg_type.raw());
        p.set_value(self.value);
    }

    /// The handshake type, for HANDSHAKE requests.
    pub fn handshake_kind(&self) -> Result<HandshakeKind, WireError> {
        HandshakeKind::from_raw(self.value)
    }

    /// The payload length that follows the header.
    pub fn payload_len(&self) -> usize {
        self.len.payload()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(len: u64, class: u16, ty: u16) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        let mut p = HeaderPacket::new_unchecked(&mut b[..]);
        p.set_len(len);
        p.set_reqno(7);
        p.set_class(class);
        p.set_msg_type(ty);
        p.set_value(42);
        b
    }

    #[test]
    fn round_trip() {
        let r = HeaderRepr::new(100, 0x1122_3344_5566_7788, Class::Resp, MsgType::Msyscall, 257).unwrap();
        let mut b = [0u8; HEADER_LEN];
        r.emit(&mut HeaderPacket::new_checked(&mut b[..]).unwrap());
        let p = HeaderPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.len(), 124);
        assert_eq!(HeaderRepr::parse(&p).unwrap(), r);
        assert_eq!(r.payload_len(), 100);
        // Host byte order, fields where NetBSD puts them.
        assert_eq!(&b[0..8], &124u64.to_ne_bytes());
        assert_eq!(&b[16..18], &1u16.to_ne_bytes());
        assert_eq!(&b[18..20], &9u16.to_ne_bytes());
        assert_eq!(&b[20..24], &257u32.to_ne_bytes());
    }

    #[test]
    fn every_type_and_class() {
        for t in 0..=12u16 {
            for c in 0..=2u16 {
                let b = bytes(24, c, t);
                let r = HeaderRepr::parse(&HeaderPacket::new_checked(&b[..]).unwrap()).unwrap();
                assert_eq!((r.class.raw(), r.msg_type.raw(), r.payload_len()), (c, t, 0));
            }
        }
        for h in 0..=3 {
            assert_eq!(HandshakeKind::from_raw(h).unwrap().raw(), h);
        }
        assert_eq!(HandshakeKind::from_raw(4), Err(WireError::UnknownHandshake(4)));
    }

    #[test]
    fn rejects() {
        let b = bytes(24, 0, 0);
        assert_eq!(HeaderPacket::new_checked(&b[..23]).unwrap_err(), WireError::Truncated);
        assert_eq!(HeaderPacket::new_checked(&b[..0]).unwrap_err(), WireError::Truncated);
        let parse = |b: [u8; HEADER_LEN]| HeaderRepr::parse(&HeaderPacket::new_checked(&b[..]).unwrap());
        assert_eq!(parse(bytes(0, 0, 0)), Err(WireError::BadLength));
        assert_eq!(parse(bytes(23, 0, 0)), Err(WireError::BadLength));
        assert_eq!(parse(bytes(1 << 40, 0, 0)), Err(WireError::TooLarge));
        assert_eq!(parse(bytes(u64::MAX, 0, 0)), Err(WireError::TooLarge));
        assert_eq!(parse(bytes(MAX_FRAME + 1, 0, 0)), Err(WireError::TooLarge));
        assert!(parse(bytes(MAX_FRAME, 0, 0)).is_ok());
        assert_eq!(parse(bytes(24, 3, 0)), Err(WireError::UnknownClass(3)));
        assert_eq!(parse(bytes(24, 0, 15)), Err(WireError::UnknownType(15)));
        assert_eq!(parse(bytes(24, 0, 0xffff)), Err(WireError::UnknownType(0xffff)));
        // The raw reqno is still readable for an ERROR reply.
        assert_eq!(HeaderPacket::new_checked(&bytes(24, 0, 77)[..]).unwrap().reqno(), 7);
    }

    #[test]
    fn frame_len_bounds() {
        assert_eq!(FrameLen::new(24).unwrap().payload(), 0);
        assert_eq!(FrameLen::with_max(1000, 999), Err(WireError::TooLarge));
        assert_eq!(FrameLen::with_max(1000, u64::MAX).unwrap().total(), 1000);
        assert_eq!(FrameLen::with_max(MAX_FRAME + 1, u64::MAX), Err(WireError::TooLarge));
        assert_eq!(FrameLen::for_payload(usize::MAX), Err(WireError::TooLarge));
        assert_eq!(FrameLen::for_payload(MAX_PAYLOAD).unwrap().total() as u64, MAX_FRAME);
        assert_eq!(FrameLen::for_payload(MAX_PAYLOAD + 1), Err(WireError::TooLarge));
    }
}
