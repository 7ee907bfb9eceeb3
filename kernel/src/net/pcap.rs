//! Classic pcap files (the libpcap format tcpdump and wireshark read): the
//! 24-byte file header and one 16-byte header per record, in this host's
//! byte order with microsecond timestamps. Used by `rumpctl dumpbus -o`
//! and by anything else that wants to capture frames for a human.

use std::io::{self, Write};

/// The microsecond-resolution magic; readers detect our byte order from it.
pub const MAGIC: u32 = 0xa1b2_c3d4;
pub const VERSION_MAJOR: u16 = 2;
pub const VERSION_MINOR: u16 = 4;
/// Ethernet II frames without an FCS (shmif buses, tap).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Raw IPv4/IPv6 packets (tun).
pub const LINKTYPE_RAW: u32 = 101;
/// The largest Ethernet frame with a VLAN tag, as NetBSD's shmif_dumpbus
/// writes; every shmif frame (at most 1514 bytes) fits whole.
pub const SNAPLEN: u32 = 1518;
pub const FILE_HEADER_LEN: usize = 24;
pub const RECORD_HEADER_LEN: usize = 16;

/// Writes a pcap stream: the file header when created, then one record per
/// `record` call. Frames longer than the snapshot length are cut to it, with
/// their original length kept in the record header, as capture tools do.
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// An Ethernet capture with NetBSD's snapshot length.
    pub fn new(out: W) -> io::Result<Self> {
        Self::with_link(out, LINKTYPE_ETHERNET, SNAPLEN)
    }

    /// A capture of another link type or snapshot length.
    pub fn with_link(mut out: W, linktype: u32, snaplen: u32) -> io::Result<Self> {
        let mut h = [0u8; FILE_HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC.to_ne_bytes());
        h[4..6].copy_from_slice(&VERSION_MAJOR.to_ne_bytes());
        h[6..8].copy_from_slice(&VERSION_MINOR.to_ne_bytes());
        // 8..16: thiszone and sigfigs, which the format now reserves as zero.
        h[16..20].copy_from_slice(&snaplen.to_ne_bytes());
        h[20..24].copy_from_slice(&linktype.to_ne_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, snaplen })
    }

    /// Appends one frame captured at `sec`.`usec`.
    pub fn record(&mut self, sec: u32, usec: u32, frame: &[u8]) -> io::Result<()> {
        let orig = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let caplen = orig.min(self.snaplen);
        let mut h = [0u8; RECORD_HEADER_LEN];
        h[0..4].copy_from_slice(&sec.to_ne_bytes());
        h[4..8].copy_from_slice(&usec.to_ne_bytes());
        h[8..12].copy_from_slice(&caplen.to_ne_bytes());
        h[12..16].copy_from_slice(&orig.to_ne_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&frame[..caplen as usize])
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_records_are_byte_exact() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.record(7, 8, &[1, 2, 3]).unwrap();
        let big = vec![0xee; 2000];
        w.record(9, 10, &big).unwrap();
        let b = w.into_inner();
        assert_eq!(&b[0..4], &0xa1b2c3d4u32.to_ne_bytes());
        assert_eq!(&b[4..8], &[2, 0, 4, 0]);
        assert_eq!(&b[8..16], &[0; 8]);
        assert_eq!(&b[16..20], &1518u32.to_ne_bytes());
        assert_eq!(&b[20..24], &1u32.to_ne_bytes());
        let r = &b[24..];
        assert_eq!(&r[0..16], [7u32, 8, 3, 3].map(u32::to_ne_bytes).concat().as_slice());
        assert_eq!(&r[16..19], &[1, 2, 3]);
        let r = &r[19..];
        assert_eq!(&r[0..16], [9u32, 10, 1518, 2000].map(u32::to_ne_bytes).concat().as_slice());
        assert_eq!(r.len(), 16 + 1518);
    }
}
