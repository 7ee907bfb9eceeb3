//! Whole frames on a byte stream: a validated header and its payload.
//! The header alone decides whether a frame is acceptable, so an oversized
//! claim is refused before any buffer is allocated.

use crate::wire::header::{Class, HeaderPacket, HeaderRepr, MsgType, HEADER_LEN};
use crate::wire::WireError;
use std::io::{self, Read, Write};

#[derive(Debug)]
pub struct Frame {
    pub header: HeaderRepr,
    pub payload: Vec<u8>,
}

/// Why reading a frame stopped.
#[derive(Debug)]
pub enum FrameError {
    /// The stream failed or ended inside a frame.
    Io(io::Error),
    /// The bytes are not a frame we accept; the header's reqno is kept so
    /// the error can be answered.
    Wire(WireError, u64),
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub fn read_frame(r: &mut impl Read) -> Result<Option<Frame>, FrameError> {
    let mut head = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let packet = HeaderPacket::new_unchecked(&head[..]);
    let header = HeaderRepr::parse(&packet).map_err(|e| FrameError::Wire(e, packet.reqno()))?;
    let mut payload = vec![0u8; header.payload_len()];
    r.read_exact(&mut payload)?;
    Ok(Some(Frame { header, payload }))
}

/// Writes one frame in a single write, so frames from several threads
/// sharing a locked stream never interleave.
pub fn write_frame(
    w: &mut impl Write,
    reqno: u64,
    class: Class,
    msg_type: MsgType,
    value: u32,
    payload: &[u8],
) -> io::Result<()> {
    let header = HeaderRepr::new(payload.len(), reqno, class, msg_type, value)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e:?}")))?;
    let mut buf = vec![0u8; HEADER_LEN + payload.len()];
    header.emit(&mut HeaderPacket::new_unchecked(&mut buf[..HEADER_LEN]));
    buf[HEADER_LEN..].copy_from_slice(payload);
    w.write_all(&buf)
}
