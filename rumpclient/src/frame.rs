//! Whole frames on a byte stream: a validated header and its payload.
//! The header alone decides whether a frame is acceptable, so an oversized
//! claim is refused before any buffer is allocated.

use crate::sock::Conn;
use crate::wire::header::{Class, HeaderPacket, HeaderRepr, MsgType, HEADER_LEN, MAX_PAYLOAD};
use crate::wire::WireError;
use parking_lot::Mutex;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{OwnedFd, RawFd};

#[derive(Debug)]
pub struct Frame {
    pub header: HeaderRepr,
    pub payload: Vec<u8>,
    /// The descriptor that came with the frame, on a unix connection
    /// (`Conn::take_frame_fd`); closed with the frame unless taken.
    pub fd: Option<OwnedFd>,
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
    let Some(header) = read_header(r, MAX_PAYLOAD)? else { return Ok(None) };
    read_payload(r, header).map(Some)
}

/// Reads a frame's header, refusing one whose payload would pass
/// `max_payload`; `Ok(None)` on a clean end of stream. The caller may
/// account for the payload's memory before it reads it (`read_payload`).
pub fn read_header(r: &mut impl Read, max_payload: usize) -> Result<Option<HeaderRepr>, FrameError> {
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
    if header.payload_len() > max_payload {
        return Err(FrameError::Wire(WireError::TooLarge, header.reqno));
    }
    Ok(Some(header))
}

/// Reads the payload that follows `header`.
pub fn read_payload(r: &mut impl Read, header: HeaderRepr) -> Result<Frame, FrameError> {
    let mut payload = vec![0u8; header.payload_len()];
    r.read_exact(&mut payload)?;
    Ok(Frame { header, payload, fd: None })
}

/// Writes one frame: the header and the payload go out together from
/// where they are, without copying the payload. Callers sharing a stream
/// hold its send lock, so frames never interleave.
pub fn write_frame(
    w: &mut impl Write,
    reqno: u64,
    class: Class,
    msg_type: MsgType,
    value: u32,
    payload: &[u8],
) -> io::Result<()> {
    let head = header_bytes(reqno, class, msg_type, value, payload)?;
    write_all(w, &mut [IoSlice::new(&head), IoSlice::new(payload)])
}

/// One frame to send on a connection that both sides also read
/// (`Outgoing::send_under`).
pub struct Outgoing<'a> {
    head: [u8; HEADER_LEN],
    payload: &'a [u8],
}

impl<'a> Outgoing<'a> {
    pub fn new(reqno: u64, class: Class, msg_type: MsgType, value: u32, payload: &'a [u8]) -> io::Result<Outgoing<'a>> {
        Ok(Outgoing { head: header_bytes(reqno, class, msg_type, value, payload)?, payload })
    }

    /// Sends the frame on `conn` under its send `lock`, with the
    /// descriptor `pass` attached if given (unix connections only). If the
    /// lock is taken or the socket's buffer is full, `on_stall` runs once,
    /// before this thread waits: a thread that is also its side's reader
    /// hands the reading on there. Both sides of a connection send large
    /// frames at once; a side whose reading waited on its own sending
    /// could wait forever on a peer waiting the same way.
    pub fn send_under(
        &self,
        lock: &Mutex<()>,
        conn: &Conn,
        pass: Option<RawFd>,
        on_stall: &mut dyn FnMut(),
    ) -> io::Result<()> {
        let mut stalled = false;
        let _g = lock.try_lock().unwrap_or_else(|| {
            stalled = true;
            on_stall();
            lock.lock()
        });
        let mut slices = [IoSlice::new(&self.head), IoSlice::new(self.payload)];
        let mut bufs = &mut slices[..];
        let mut pass = pass;
        while !bufs.is_empty() {
            let flags = if stalled { 0 } else { libc::MSG_DONTWAIT };
            match conn.send_flags(bufs, pass, flags) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    // The descriptor went with the first byte.
                    pass = None;
                    IoSlice::advance_slices(&mut bufs, n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !stalled => {
                    stalled = true;
                    on_stall();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn header_bytes(
    reqno: u64,
    class: Class,
    msg_type: MsgType,
    value: u32,
    payload: &[u8],
) -> io::Result<[u8; HEADER_LEN]> {
    let header = HeaderRepr::new(payload.len(), reqno, class, msg_type, value)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e:?}")))?;
    let mut head = [0u8; HEADER_LEN];
    header.emit(&mut HeaderPacket::new_unchecked(&mut head[..]));
    Ok(head)
}

fn write_all(w: &mut impl Write, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
