//! Socket calls as a process makes them: fds to sockets, and waiting.
//! The stack's operations never block (`net::socket`); here an EAGAIN
//! becomes a sleep on the socket's channel unless the fd is non-blocking
//! or the call says MSG_DONTWAIT, bounded by SO_RCVTIMEO/SO_SNDTIMEO.
//! Every call ends with the stack settled and its timer told (`net_done`).

use crate::file::{FileId, FileKind, OpenFile};
use crate::net::socket::{Datagram, Kind, SockId, Tcp};
use crate::net::Net;
use crate::Cx;
use rump_abi::native::errno::{EAGAIN, EINPROGRESS, EINTR, EINVAL, ENOTSOCK};
use rump_abi::native::flags::{O_NONBLOCK, O_RDWR};
use rump_abi::Errno;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Most bytes one send takes from the caller (larger stream writes
/// return a partial count, which callers loop over).
pub const SEND_MAX: usize = 4 << 20;
/// Most bytes one stream receive takes.
const RECV_MAX: usize = 1 << 20;

/// How a receive went.
pub struct Received {
    pub data: Vec<u8>,
    pub from: Option<SocketAddr>,
    /// A datagram's full length (MSG_TRUNC reports it).
    pub full_len: usize,
    pub at: Option<(i64, i64)>,
    pub ttl: Option<u8>,
    /// A packet socket's frame: the link it came by.
    pub link: Option<crate::net::packet::LinkFrom>,
}

/// Flags a send or receive may carry (MSG_*), already decoded.
#[derive(Clone, Copy, Debug, Default)]
pub struct MsgFlags {
    pub dontwait: bool,
    pub peek: bool,
    pub waitall: bool,
}

impl Cx<'_> {
    /// The socket behind `fd` (ENOTSOCK for other files).
    pub fn sock_of(&self, fd: i32) -> Result<(FileId, SockId), Errno> {
        let id = self.file_of(fd)?;
        match self.st.files.get(id).map(|f| f.kind) {
            Some(FileKind::Socket(s)) => Ok((id, s)),
            _ => Err(ENOTSOCK),
        }
    }

    pub(crate) fn net_done(&mut self) {
        self.st.net_run();
        self.st.net_kick(self.shared);
    }

    pub(crate) fn install_socket(&mut self, s: SockId, nonblock: bool, cloexec: bool) -> Result<i32, Errno> {
        let flags = O_RDWR | if nonblock { O_NONBLOCK } else { 0 };
        match self.install(OpenFile::new(FileKind::Socket(s), flags), 0, cloexec) {
            Ok(fd) => Ok(fd),
            Err(e) => {
                self.st.net.close(s);
                Err(e)
            }
        }
    }

    pub fn sock_create(
        &mut self,
        v6: bool,
        stype: i32,
        protocol: i32,
        nonblock: bool,
        cloexec: bool,
    ) -> Result<i32, Errno> {
        let s = self.st.net.socket(v6, stype, protocol)?;
        self.install_socket(s, nonblock, cloexec)
    }

    /// Runs `op` until it stops answering EAGAIN, sleeping on the socket
    /// in between when the call may block; `timeout` bounds the wait.
    fn sock_wait<T>(
        &mut self,
        fd: i32,
        dontwait: bool,
        timeout: Option<Duration>,
        mut op: impl FnMut(&mut Net, SockId) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let (file, s) = self.sock_of(fd)?;
        let nonblock = dontwait || self.st.files.get(file).is_some_and(|f| f.nonblocking());
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let r = op(&mut self.st.net, s);
            self.net_done();
            match r {
                Err(EAGAIN) if !nonblock => {}
                r => return r,
            }
            let chan = self.st.net.sock(s)?.chan.clone();
            match deadline {
                Some(d) => {
                    if self.sleep_until(&chan, d)? {
                        return Err(EAGAIN);
                    }
                }
                None => self.sleep(&chan)?,
            }
        }
    }

    pub fn sock_bind(&mut self, fd: i32, addr: SocketAddr) -> Result<(), Errno> {
        let (_, s) = self.sock_of(fd)?;
        self.st.net.bind(s, addr)
    }

    pub fn sock_listen(&mut self, fd: i32, backlog: i32) -> Result<(), Errno> {
        let (_, s) = self.sock_of(fd)?;
        let r = self.st.net.listen(s, backlog);
        self.net_done();
        r
    }

    /// Waits for a connection; returns its new fd and the peer.
    pub fn sock_accept(&mut self, fd: i32, nonblock: bool, cloexec: bool) -> Result<(i32, Option<SocketAddr>), Errno> {
        let (_, s) = self.sock_of(fd)?;
        if !matches!(self.st.net.sock(s)?.kind, Kind::Tcp(Tcp::Listening(_))) {
            return Err(EINVAL);
        }
        let timeout = self.st.net.sock(s)?.opts.rcvtimeo;
        let new = self.sock_wait(fd, false, timeout, |net, s| net.accept(s))?;
        let peer = self.st.net.sock(new)?.peer;
        Ok((self.install_socket(new, nonblock, cloexec)?, peer))
    }

    /// connect: a blocking TCP connect waits for the handshake (an
    /// interrupted one goes on in the background, EINTR, as Linux).
    pub fn sock_connect(&mut self, fd: i32, to: SocketAddr) -> Result<(), Errno> {
        let (file, s) = self.sock_of(fd)?;
        let r = self.st.net.connect(s, to);
        self.net_done();
        match r {
            Err(EINPROGRESS) => {}
            r => return r,
        }
        if self.st.files.get(file).is_some_and(|f| f.nonblocking()) {
            return Err(EINPROGRESS);
        }
        let timeout = self.st.net.sock(s)?.opts.sndtimeo;
        let r = self.sock_wait(fd, false, timeout, |net, s| match net.connect_done(s) {
            Ok(true) => Ok(()),
            Ok(false) => Err(EAGAIN),
            Err(e) => Err(e),
        });
        match r {
            // A timed-out blocking connect is still in progress.
            Err(EAGAIN) => Err(EINPROGRESS),
            r => r,
        }
    }

    /// Sends `data`; a blocking stream send queues all of it (a signal or
    /// timeout after some bytes returns what went).
    pub fn sock_send(&mut self, fd: i32, data: &[u8], to: Option<SocketAddr>, flags: MsgFlags) -> Result<usize, Errno> {
        let (_, s) = self.sock_of(fd)?;
        let sock = self.st.net.sock(s)?;
        let timeout = sock.opts.sndtimeo;
        if !matches!(sock.kind, Kind::Tcp(_)) {
            let r = match sock.kind {
                Kind::Raw(_) => self.st.net.raw_send(s, data, to),
                Kind::Packet(_) => self.st.net.packet_send(s, data),
                Kind::Ping(_) => self.st.net.ping_send(s, data, to),
                _ => return self.sock_wait(fd, flags.dontwait, timeout, |net, s| net.udp_send(s, data, to)),
            };
            self.net_done();
            return r;
        }
        let mut sent = 0;
        loop {
            let chunk = &data[sent..];
            let r = self.sock_wait(fd, flags.dontwait, timeout, |net, s| net.tcp_send(s, chunk));
            match r {
                Ok(n) => {
                    sent += n;
                    let nonblock = flags.dontwait || self.file(fd).is_ok_and(|f| f.nonblocking());
                    if sent == data.len() || nonblock {
                        return Ok(sent);
                    }
                }
                Err(EINTR | EAGAIN) if sent > 0 => return Ok(sent),
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives up to `len` bytes (one datagram, or stream bytes).
    pub fn sock_recv(&mut self, fd: i32, len: usize, flags: MsgFlags) -> Result<Received, Errno> {
        let (_, s) = self.sock_of(fd)?;
        let sock = self.st.net.sock(s)?;
        let timeout = sock.opts.rcvtimeo;
        if !matches!(sock.kind, Kind::Tcp(_)) {
            let d: Datagram = self.sock_wait(fd, flags.dontwait, timeout, |net, s| net.dgram_recv(s, flags.peek))?;
            let full_len = d.data.len();
            let mut data = d.data;
            data.truncate(len);
            return Ok(Received { data, from: Some(d.from), full_len, at: Some(d.at), ttl: Some(d.ttl), link: d.link });
        }
        let mut buf = vec![0u8; len.min(RECV_MAX)];
        let mut got = 0;
        loop {
            let r = self.sock_wait(fd, flags.dontwait, timeout, |net, s| net.tcp_recv(s, &mut buf[got..], flags.peek));
            match r {
                Ok(0) => break,
                Ok(n) => {
                    got += n;
                    if !flags.waitall || flags.peek || got == buf.len() {
                        break;
                    }
                }
                Err(EINTR | EAGAIN) if got > 0 => break,
                Err(e) => return Err(e),
            }
        }
        buf.truncate(got);
        Ok(Received { full_len: got, data: buf, from: None, at: None, ttl: None, link: None })
    }

    pub fn sock_shutdown(&mut self, fd: i32, how: i32) -> Result<(), Errno> {
        let (_, s) = self.sock_of(fd)?;
        let r = self.st.net.shutdown(s, how);
        self.net_done();
        r
    }

    /// getsockname (`peer` false) or getpeername.
    pub fn sock_name(&mut self, fd: i32, peer: bool) -> Result<Option<SocketAddr>, Errno> {
        let (_, s) = self.sock_of(fd)?;
        let sock = self.st.net.sock(s)?;
        Ok(if peer { sock.peer } else { sock.local })
    }
}
