//! The banner a server sends on accept, before any frame:
//! `RUMPSP-<major>.<minor>-<ostype>-<osrelease>/<machine>\n`.
//!
//! NetBSD formats it into a 96-byte buffer (NUL included) and its client
//! reads at most 95 bytes at once, requiring the trailing newline; so the
//! text, newline included, is at most `BANNER_MAX` = 95 bytes here on both
//! sides. There is no version negotiation; `parse` reports the version and
//! leaves the decision to the caller.
//!
//! Field rules, so that parsing undoes emitting: `ostype` holds no `-`,
//! `machine` no `/`, and no field is empty or holds a newline or NUL;
//! `osrelease` may hold `-` (Linux releases do). The banner is not a frame,
//! so there is no `Packet` level: `parse` takes the bytes read.

use super::WireError;

/// The longest banner, trailing newline included.
pub const BANNER_MAX: usize = 95;
/// The prefix every banner starts with.
pub const BANNER_PREFIX: &[u8] = b"RUMPSP-";
/// NetBSD's protocol version, which we speak.
pub const PROTO_MAJOR: u32 = 0;
pub const PROTO_MINOR: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BannerRepr<'a> {
    pub major: u32,
    pub minor: u32,
    pub ostype: &'a str,
    pub osrelease: &'a str,
    pub machine: &'a str,
}

fn field_ok(s: &str, forbidden: char) -> bool {
    !s.is_empty() && !s.contains(['\n', '\0', forbidden])
}

impl<'a> BannerRepr<'a> {
    /// A banner of our protocol version.
    pub fn new(ostype: &'a str, osrelease: &'a str, machine: &'a str) -> BannerRepr<'a> {
        BannerRepr { major: PROTO_MAJOR, minor: PROTO_MINOR, ostype, osrelease, machine }
    }

    /// Parses the bytes a client read, trailing newline included.
    pub fn parse(bytes: &'a [u8]) -> Result<BannerRepr<'a>, WireError> {
        if bytes.len() > BANNER_MAX {
            return Err(WireError::TooLarge);
        }
        let rest = bytes.strip_prefix(BANNER_PREFIX).ok_or(WireError::Malformed("banner prefix"))?;
        let rest = rest.strip_suffix(b"\n").ok_or(WireError::Malformed("banner without newline"))?;
        let rest = core::str::from_utf8(rest).map_err(|_| WireError::Malformed("banner not text"))?;
        let bad = WireError::Malformed("banner fields");
        let (version, rest) = rest.split_once('-').ok_or(bad)?;
        let (major, minor) = version.split_once('.').ok_or(bad)?;
        let num = |s: &str| if s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u32>().ok() } else { None };
        let (major, minor) = (num(major).ok_or(bad)?, num(minor).ok_or(bad)?);
        let (ostype, rest) = rest.split_once('-').ok_or(bad)?;
        let (osrelease, machine) = rest.rsplit_once('/').ok_or(bad)?;
        let r = BannerRepr { major, minor, ostype, osrelease, machine };
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), WireError> {
        if field_ok(self.ostype, '-') && field_ok(self.osrelease, '\n') && field_ok(self.machine, '/') {
            Ok(())
        } else {
            Err(WireError::Malformed("banner fields"))
        }
    }

    /// The banner's length, newline included.
    pub fn buffer_len(&self) -> usize {
        self.text().len()
    }

    fn text(&self) -> String {
        format!("RUMPSP-{}.{}-{}-{}/{}\n", self.major, self.minor, self.ostype, self.osrelease, self.machine)
    }

    /// Writes the banner into the front of `buf` and returns its length.
    /// Refuses fields that would not parse back and banners over `BANNER_MAX`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        self.check()?;
        let text = self.text();
        if text.len() > BANNER_MAX {
            return Err(WireError::TooLarge);
        }
        buf.get_mut(..text.len()).ok_or(WireError::Truncated)?.copy_from_slice(text.as_bytes());
        Ok(text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let b = BannerRepr::new("Linux", "6.1.0-18-amd64", "x86_64");
        let mut buf = [0u8; BANNER_MAX];
        let n = b.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"RUMPSP-0.4-Linux-6.1.0-18-amd64/x86_64\n");
        assert_eq!(n, b.buffer_len());
        assert_eq!(BannerRepr::parse(&buf[..n]).unwrap(), b);
        let netbsd = BannerRepr::parse(b"RUMPSP-0.4-NetBSD-9.3/amd64\n").unwrap();
        assert_eq!(
            (netbsd.major, netbsd.minor, netbsd.ostype, netbsd.osrelease, netbsd.machine),
            (0, 4, "NetBSD", "9.3", "amd64")
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            &b"RUMPSP-0.4-NetBSD-9.3/amd64"[..],
            b"RUMPSQ-0.4-NetBSD-9.3/amd64\n",
            b"",
            b"\n",
            b"RUMPSP-\n",
            b"RUMPSP-0.4-NetBSD\n",
            b"RUMPSP-x.4-NetBSD-9.3/amd64\n",
            b"RUMPSP-0.4-NetBSD-9.3/\n",
            b"RUMPSP-0.4--9.3/amd64\n",
            b"RUMPSP-0.4-NetBSD-9.3/amd64\n\n",
            b"RUMPSP-0.4-Net\xffBSD-9.3/amd64\n",
        ] {
            assert!(BannerRepr::parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let long = "x".repeat(80);
        let b = BannerRepr::new("Linux", &long, "x86_64");
        assert_eq!(b.emit(&mut [0u8; 200]), Err(WireError::TooLarge));
        let mut text = b"RUMPSP-0.4-Linux-".to_vec();
        text.extend_from_slice(long.as_bytes());
        text.extend_from_slice(b"/x86_64\n");
        assert_eq!(BannerRepr::parse(&text), Err(WireError::TooLarge));
        assert!(BannerRepr::new("Li-nux", "1", "x").emit(&mut [0u8; 95]).is_err());
        assert!(BannerRepr::new("Linux", "1", "x/y").emit(&mut [0u8; 95]).is_err());
        assert_eq!(BannerRepr::new("Linux", "1", "x").emit(&mut [0u8; 5]), Err(WireError::Truncated));
    }
}
