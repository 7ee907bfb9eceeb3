//! Socket calls as a process makes them: fds to sockets, and waiting.
//! The stack's operations never block (`net::socket`); here an EAGAIN
//! becomes a sleep on the socket's channel unless the fd is non-blocking
//! or the call says MSG_DONTWAIT, bounded by SO_RCVTIMEO/SO_SNDTIMEO.
//! Every call ends with the stack settled and its timer told (`net_done`).

use crate::file::{FileId, FileKind, OpenFile};
use crate::net::socket::{Datagram, Kind, SockId, Tcp};
use crate::net::Net;
use crate::Cx;
use rump_abi::native::errno::{EAGAIN, EFAULT, EINPROGRESS, EINTR, EINVAL, ENOTSOCK};
use rump_abi::native::flags::{O_NONBLOCK, O_RDWR};
use rump_abi::usermem::UserMemory;
use rump_abi::{Errno, UserAddr};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Most bytes one send takes from the caller (larger stream writes
/// return a partial count, which callers loop over).
pub const SEND_MAX: usize = 4 << 20;

/// What a send takes its bytes from: the kernel's own, or `len` bytes of
/// the caller's at an address, reached at each attempt, in place where its
/// memory allows (a lane of the shared-memory channel, the embedded
/// kernel's process), and never lent across a sleep: after a wait the
/// buffer is checked again, as Linux copies from it again.
#[derive(Clone, Copy)]
pub enum Payload<'a> {
    Bytes(&'a [u8]),
    User(&'a dyn UserMemory, UserAddr, usize),
}

impl Payload<'_> {
    /// The caller's `len` bytes at `addr`, at most `SEND_MAX`.
    pub fn user(mem: &dyn UserMemory, addr: UserAddr, len: usize) -> Payload<'_> {
        Payload::User(mem, addr, len.min(SEND_MAX))
    }

    fn len(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::User(_, _, len) => *len,
        }
    }

    /// `f` over the bytes from offset `from` on.
    pub fn with(&self, from: usize, f: &mut dyn FnMut(&[u8]) -> Result<usize, Errno>) -> Result<usize, Errno> {
        match *self {
            Payload::Bytes(b) => f(&b[from..]),
            Payload::User(mem, addr, len) => mem.with_in(addr.offset(from as u64).ok_or(EFAULT)?, len - from, f),
        }
    }
}

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
    pub fn sock_send(
        &mut self,
        fd: i32,
        data: Payload,
        to: Option<SocketAddr>,
        flags: MsgFlags,
    ) -> Result<usize, Errno> {
        let (_, s) = self.sock_of(fd)?;
        let sock = self.st.net.sock(s)?;
        let timeout = sock.opts.sndtimeo;
        // Sends that never wait.
        type Once = fn(&mut Net, SockId, &[u8], Option<SocketAddr>) -> Result<usize, Errno>;
        let once: Option<Once> = match sock.kind {
            Kind::Raw(_) => Some(Net::raw_send),
            Kind::Ping(_) => Some(Net::ping_send),
            Kind::Packet(_) => Some(|net, s, d, _| net.packet_send(s, d)),
            _ => None,
        };
        let stream = matches!(sock.kind, Kind::Tcp(_));
        if let Some(send) = once {
            let net = &mut self.st.net;
            let r = data.with(0, &mut |d| send(net, s, d, to));
            self.net_done();
            return r;
        }
        if !stream {
            let send = |net: &mut Net, s| data.with(0, &mut |d| net.udp_send(s, d, to));
            return self.sock_wait(fd, flags.dontwait, timeout, send);
        }
        let mut sent = 0;
        loop {
            let r = self.sock_wait(fd, flags.dontwait, timeout, |net, s| data.with(sent, &mut |d| net.tcp_send(s, d)));
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
        let got = self.stream_recv(fd, buf.len(), flags, |net, s, at| net.tcp_recv(s, &mut buf[at..], flags.peek))?;
        buf.truncate(got);
        Ok(Received { full_len: got, data: buf, from: None, at: None, ttl: None, link: None })
    }

    /// Up to `len` bytes of a stream socket, each attempt putting them
    /// with `put` from its offset on (`put` takes what is there: how many).
    fn stream_recv(
        &mut self,
        fd: i32,
        len: usize,
        flags: MsgFlags,
        mut put: impl FnMut(&mut Net, SockId, usize) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        let (_, s) = self.sock_of(fd)?;
        let timeout = self.st.net.sock(s)?.opts.rcvtimeo;
        let mut got = 0;
        loop {
            match self.sock_wait(fd, flags.dontwait, timeout, |net, s| put(net, s, got)) {
                Ok(0) => break,
                Ok(n) => {
                    got += n;
                    if !flags.waitall || flags.peek || got == len {
                        break;
                    }
                }
                Err(EINTR | EAGAIN) if got > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }

    /// read(2) on a socket. A stream's bytes go into the caller's buffer
    /// at each attempt, in place where its memory allows (a lane, the
    /// embedded kernel's process), never lent across a sleep (as
    /// `Payload::User` is sent).
    pub fn sock_read(&mut self, fd: i32, buf: UserAddr, len: usize) -> Result<usize, Errno> {
        let (_, s) = self.sock_of(fd)?;
        if !matches!(self.st.net.sock(s)?.kind, Kind::Tcp(_)) {
            let r = self.sock_recv(fd, len, MsgFlags::default())?;
            self.mem.copy_out(buf, &r.data)?;
            return Ok(r.data.len());
        }
        let (mem, len) = (self.mem, len.min(RECV_MAX));
        self.stream_recv(fd, len, MsgFlags::default(), |net, s, at| {
            if net.readable_bytes(s) == 0 {
                // The end, an error, or a wait, as Linux's: a bad buffer
                // is found only once there are bytes for it.
                return net.tcp_recv(s, &mut [], false);
            }
            let to = buf.offset(at as u64).ok_or(EFAULT)?;
            mem.with_out(to, len - at, &mut |out| net.tcp_recv(s, out, false))
        })
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
