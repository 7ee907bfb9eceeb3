//! Netlink's wire format, in smoltcp's two levels: `Packet` is a
//! bounds-checked view of one message (`struct nlmsghdr` and its payload),
//! `Attrs` walks the `struct nlattr` list after a fixed header, and
//! `Builder` writes messages (header, fixed part, attributes, nests) with
//! the lengths and 4-byte padding filled in.

use rump_abi::native::errno::EINVAL;
use rump_abi::Errno;

pub const HDR_LEN: usize = 16;
/// Attribute header: u16 length, u16 type.
const ATTR_HDR: usize = 4;
pub const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
/// On NLMSG_ERROR: the request's payload is left out / ext-ack TLVs follow.
pub const NLM_F_CAPPED: u16 = 0x100;
pub const NLM_F_ACK_TLVS: u16 = 0x200;
/// Extended-ack attribute carrying a message for the user.
pub const NLMSGERR_ATTR_MSG: u16 = 1;

pub fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// One message, its length checked against the buffer.
#[derive(Clone, Copy)]
pub struct Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Packet<'a> {
    /// The message at the start of `buf`; EINVAL if its header is cut or
    /// its length is shorter than a header or longer than `buf`.
    pub fn new_checked(buf: &'a [u8]) -> Result<Packet<'a>, Errno> {
        if buf.len() < HDR_LEN {
            return Err(EINVAL);
        }
        let len = u32_at(buf, 0) as usize;
        if len < HDR_LEN || len > buf.len() {
            return Err(EINVAL);
        }
        Ok(Packet { buf: &buf[..len] })
    }

    /// The message's length, header included (nlmsg_len).
    pub fn total_len(&self) -> usize {
        self.buf.len()
    }

    pub fn kind(&self) -> u16 {
        u16_at(self.buf, 4)
    }

    pub fn flags(&self) -> u16 {
        u16_at(self.buf, 6)
    }

    pub fn seq(&self) -> u32 {
        u32_at(self.buf, 8)
    }

    pub fn pid(&self) -> u32 {
        u32_at(self.buf, 12)
    }

    pub fn payload(&self) -> &'a [u8] {
        &self.buf[HDR_LEN..]
    }

    /// The whole message, header included.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// Messages packed in one datagram, each starting 4-aligned; a malformed
/// one ends the walk with EINVAL.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Result<Packet<'_>, Errno>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at + HDR_LEN > buf.len() {
            return None;
        }
        match Packet::new_checked(&buf[at..]) {
            Ok(p) => {
                at += align4(p.total_len());
                Some(Ok(p))
            }
            Err(e) => {
                at = buf.len();
                Some(Err(e))
            }
        }
    })
}

/// The fixed header of a payload (e.g. `struct ifinfomsg`) and the
/// attributes after it; EINVAL if the payload is shorter than `fixed`.
pub fn split(payload: &[u8], fixed: usize) -> Result<(&[u8], Attrs<'_>), Errno> {
    if payload.len() < fixed {
        return Err(EINVAL);
    }
    Ok((&payload[..fixed], Attrs { buf: payload.get(align4(fixed)..).unwrap_or(&[]) }))
}

/// A dump request's fixed header, zero-padded to `fixed` bytes: older
/// programs (busybox's `ip`) send only a `struct rtgenmsg` (the family),
/// which Linux accepts for a dump.
pub fn dump_header(payload: &[u8], fixed: usize) -> Vec<u8> {
    let mut m = payload[..payload.len().min(fixed)].to_vec();
    m.resize(fixed, 0);
    m
}

/// One attribute: its type (nested and byte-order bits cleared) and value.
#[derive(Clone, Copy, Debug)]
pub struct Attr<'a> {
    pub kind: u16,
    pub value: &'a [u8],
}

impl<'a> Attr<'a> {
    pub fn u8(&self) -> Result<u8, Errno> {
        self.value.first().copied().ok_or(EINVAL)
    }

    pub fn u32(&self) -> Result<u32, Errno> {
        self.value.get(..4).map(|b| u32_at(b, 0)).ok_or(EINVAL)
    }

    /// A NUL-terminated (or unterminated) string.
    pub fn str(&self) -> Result<&'a str, Errno> {
        let end = self.value.iter().position(|&c| c == 0).unwrap_or(self.value.len());
        std::str::from_utf8(&self.value[..end]).map_err(|_| EINVAL)
    }

    pub fn nested(&self) -> Attrs<'a> {
        Attrs { buf: self.value }
    }
}

/// An attribute list. Iterating yields attributes until the list ends or
/// one is malformed (then an EINVAL item).
#[derive(Clone, Copy)]
pub struct Attrs<'a> {
    buf: &'a [u8],
}

impl<'a> Attrs<'a> {
    /// The last attribute of `kind`, as the kernel's `nla_parse` keeps.
    pub fn get(&self, kind: u16) -> Result<Option<Attr<'a>>, Errno> {
        let mut found = None;
        for a in *self {
            let a = a?;
            if a.kind == kind {
                found = Some(a);
            }
        }
        Ok(found)
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, Errno>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.len() < ATTR_HDR {
            return None;
        }
        let len = u16_at(self.buf, 0) as usize;
        if len < ATTR_HDR || len > self.buf.len() {
            self.buf = &[];
            return Some(Err(EINVAL));
        }
        let a = Attr { kind: u16_at(self.buf, 2) & NLA_TYPE_MASK, value: &self.buf[ATTR_HDR..len] };
        self.buf = self.buf.get(align4(len)..).unwrap_or(&[]);
        Some(Ok(a))
    }
}

/// Writes one message; `finish` fills in its length.
pub struct Builder {
    buf: Vec<u8>,
}

impl Builder {
    pub fn new(kind: u16, flags: u16, seq: u32, pid: u32) -> Builder {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&pid.to_ne_bytes());
        Builder { buf }
    }

    /// Appends raw bytes (a fixed header), padded to 4.
    pub fn put(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    pub fn attr(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        let len = (ATTR_HDR + value.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.put(value)
    }

    pub fn u8(&mut self, kind: u16, v: u8) -> &mut Self {
        self.attr(kind, &[v])
    }

    pub fn u32(&mut self, kind: u16, v: u32) -> &mut Self {
        self.attr(kind, &v.to_ne_bytes())
    }

    /// A NUL-terminated string.
    pub fn str(&mut self, kind: u16, s: &str) -> &mut Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(kind, &v)
    }

    /// Starts a nested attribute; `end_nest` with the returned mark closes it.
    pub fn begin_nest(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        self.attr(kind | NLA_F_NESTED, &[]);
        at
    }

    pub fn end_nest(&mut self, at: usize) -> &mut Self {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_messages_parse_back() {
        let mut b = Builder::new(20, NLM_F_MULTI, 7, 42);
        b.put(&[1, 2, 3]).str(3, "lo0").u32(4, 1500);
        let n = b.begin_nest(18);
        b.str(1, "shmif");
        b.end_nest(n);
        let m = b.finish();
        let p = Packet::new_checked(&m).unwrap();
        assert_eq!((p.kind(), p.flags(), p.seq(), p.pid(), p.total_len()), (20, NLM_F_MULTI, 7, 42, m.len()));
        let (fixed, attrs) = split(p.payload(), 3).unwrap();
        assert_eq!(fixed, &[1, 2, 3]);
        assert_eq!(attrs.get(3).unwrap().unwrap().str().unwrap(), "lo0");
        assert_eq!(attrs.get(4).unwrap().unwrap().u32().unwrap(), 1500);
        let info = attrs.get(18).unwrap().unwrap().nested();
        assert_eq!(info.get(1).unwrap().unwrap().str().unwrap(), "shmif");
    }

    #[test]
    fn malformed_input_is_einval() {
        assert!(Packet::new_checked(&[0; 8]).is_err());
        let mut m = Builder::new(18, 0, 0, 0).finish();
        m[0] = 200;
        assert!(messages(&m).next().unwrap().is_err());
        let bad_attr = [9u8, 0, 1, 0, 0, 0];
        assert!(Attrs { buf: &bad_attr }.next().unwrap().is_err());
        assert!(split(&[0; 3], 16).is_err());
    }
}
