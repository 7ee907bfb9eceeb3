//! The stream sockets under the protocol, whatever their transport
//! (`crate::transport` makes and listens on them): a connection
//! sends with MSG_NOSIGNAL (a dead peer is an error, never SIGPIPE in a
//! hijacked program) and reports EINTR to its reader instead of hiding it,
//! because a signal during a wait is how a blocked remote call gets
//! cancelled. A unix connection also carries descriptors (SCM_RIGHTS): a
//! sender attaches one to a frame's first bytes, and the receiving side
//! queues whatever arrives for the handler of that frame to take. A
//! connection's descriptor is an `OwnFd`: inside a hijacked program it
//! lives high and steps aside when the program names its number, so every
//! call on it is a raw syscall (the libc function may be the hook).

use crate::ownfd::OwnFd;
use crate::transport;
use crate::url::ServerUrl;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn cvt(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Descriptors received and not yet taken; more are closed on arrival.
const MAX_PASSED: usize = 8;

/// One connected stream socket.
#[derive(Debug)]
pub struct Conn {
    fd: OwnFd,
    passed: Mutex<VecDeque<OwnedFd>>,
}

impl Conn {
    fn new(fd: OwnedFd) -> Conn {
        Conn::from_own(OwnFd::new(fd))
    }

    /// Connects to `url` over its transport.
    pub fn connect(url: &ServerUrl) -> io::Result<Conn> {
        transport::of(url).connect(url)
    }

    /// A new close-on-exec stream socket of `family` connected to the
    /// socket address `addr` (a `sockaddr_*` of which `len` bytes count),
    /// by raw syscalls: inside a hijacked program the libc `socket` and
    /// `connect` are hooks.
    pub fn connect_raw<A>(family: libc::c_int, addr: &A, len: usize) -> io::Result<Conn> {
        let len = len.min(std::mem::size_of::<A>()) as libc::socklen_t;
        let addr: *const A = addr;
        let fd = raw_socket(family)?;
        loop {
            // SAFETY: `addr` holds at least `len` bytes.
            let r = unsafe { libc::syscall(libc::SYS_connect, fd.as_raw_fd(), addr, len) };
            match cvt(r as isize) {
                Ok(_) => return Ok(Conn::new(fd)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Sets an int socket option (raw: the libc call may be a hook).
    pub fn set_option(&self, level: libc::c_int, opt: libc::c_int, value: &libc::c_int) {
        let len = std::mem::size_of_val(value) as libc::socklen_t;
        let p: *const libc::c_int = value;
        // SAFETY: setsockopt reading one int of ours.
        unsafe { libc::syscall(libc::SYS_setsockopt, self.raw_fd(), level, opt, p, len) };
    }

    /// The uid of the process that connected (SO_PEERCRED); meaningful for
    /// a unix connection only (TCP reports an overflow uid).
    pub fn peer_uid(&self) -> Option<u32> {
        self.peer_cred().map(|c| c.uid)
    }

    /// A connection on a descriptor of our own (one end of a socket pair).
    pub fn from_own(fd: OwnFd) -> Conn {
        Conn { fd, passed: Mutex::new(VecDeque::new()) }
    }

    /// Takes over an inherited descriptor (after exec).
    ///
    /// # Safety
    /// `fd` must be an open stream socket owned by nobody else.
    pub unsafe fn from_raw_fd(fd: RawFd) -> Conn {
        Conn::new(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.raw()
    }

    /// Whether the descriptor survives exec (a raw fcntl: a hijacked
    /// program's fcntl would take our number for the program's).
    pub fn set_cloexec(&self, cloexec: bool) -> io::Result<()> {
        let flags = if cloexec { libc::FD_CLOEXEC } else { 0 };
        cvt(unsafe { libc::syscall(libc::SYS_fcntl, self.raw_fd(), libc::F_SETFD, flags) } as isize).map(drop)
    }

    /// The pid of the process that connected (SO_PEERCRED), for a unix
    /// connection; None over TCP.
    pub fn peer_pid(&self) -> Option<i32> {
        self.peer_cred().map(|c| c.pid).filter(|&pid| pid > 0)
    }

    fn peer_cred(&self) -> Option<libc::ucred> {
        let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        let p: *mut libc::ucred = &mut cred;
        let r = self.getsockopt(libc::SO_PEERCRED, p.cast(), &mut len);
        (r == 0 && len as usize == std::mem::size_of::<libc::ucred>()).then_some(cred)
    }

    /// A raw getsockopt at SOL_SOCKET (the libc function may be a hook
    /// that takes our number for the program's).
    fn getsockopt(&self, opt: libc::c_int, val: *mut libc::c_void, len: &mut libc::socklen_t) -> libc::c_long {
        let (level, opt) = (libc::c_long::from(libc::SOL_SOCKET), libc::c_long::from(opt));
        let len: *mut libc::socklen_t = len;
        // SAFETY: the caller's buffer of `*len` bytes.
        unsafe { libc::syscall(libc::SYS_getsockopt, self.raw_fd(), level, opt, val, len) }
    }

    /// The descriptor that came with the frame just read: a sender
    /// attaches at most one to a frame's first bytes, so any other queued
    /// is a peer's mistake and is closed here.
    pub fn take_frame_fd(&self) -> Option<OwnedFd> {
        let mut passed = self.passed.lock();
        let fd = passed.pop_front();
        passed.clear();
        fd
    }

    /// Whether descriptors can travel on this connection (a unix socket).
    pub fn passes_fds(&self) -> bool {
        let mut domain: libc::c_int = 0;
        let mut len = std::mem::size_of_val(&domain) as libc::socklen_t;
        let p: *mut libc::c_int = &mut domain;
        self.getsockopt(libc::SO_DOMAIN, p.cast(), &mut len) == 0 && domain == libc::AF_UNIX
    }

    /// Sends from `bufs` as `write_vectored` does, with `fd` attached to the
    /// first byte sent (unix connections only) if given, and `flags`
    /// (MSG_DONTWAIT: EAGAIN rather than wait for room) beside MSG_NOSIGNAL.
    pub fn send_flags(&self, bufs: &[IoSlice<'_>], fd: Option<RawFd>, flags: libc::c_int) -> io::Result<usize> {
        let mut space = [0u64; 4];
        // SAFETY: CMSG_* walk a buffer big enough for one int's header and
        // data; the msghdr names only our buffers (IoSlice has iovec's layout).
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
            msg.msg_iovlen = bufs.len();
            if let Some(fd) = fd {
                msg.msg_control = space.as_mut_ptr().cast();
                msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SCM_RIGHTS;
                (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
            }
            cvt(
                libc::syscall(libc::SYS_sendmsg, self.raw_fd(), &msg as *const libc::msghdr, libc::MSG_NOSIGNAL | flags)
                    as isize,
            )
        }
    }

    /// Queues the descriptors a received control message carried.
    fn keep_passed(&self, msg: &libc::msghdr) {
        let mut passed = self.passed.lock();
        // SAFETY: walking the control buffer the kernel just filled in.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(c).cast::<RawFd>();
                    let n = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                    for i in 0..n {
                        let fd = OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i)));
                        if passed.len() < MAX_PASSED {
                            passed.push_back(fd);
                        }
                    }
                }
                c = libc::CMSG_NXTHDR(msg, c);
            }
        }
    }

    /// Ends both directions; a thread blocked reading wakes with EOF.
    pub fn shutdown(&self) {
        unsafe { libc::syscall(libc::SYS_shutdown, self.raw_fd(), libc::SHUT_RDWR) };
    }
}

impl Read for &Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut space = [0u64; 8];
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: a msghdr naming our buffer and control space.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = space.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&space);
        let n = cvt(unsafe {
            libc::syscall(libc::SYS_recvmsg, self.raw_fd(), &mut msg as *mut libc::msghdr, libc::MSG_CMSG_CLOEXEC)
        } as isize)?;
        if msg.msg_controllen > 0 {
            self.keep_passed(&msg);
        }
        Ok(n)
    }
}

impl Write for &Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (p, n) = (buf.as_ptr(), buf.len());
        cvt(unsafe { libc::syscall(libc::SYS_sendto, self.raw_fd(), p, n, libc::MSG_NOSIGNAL, 0usize, 0usize) }
            as isize)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.send_flags(bufs, None, 0)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A listening socket and the URL it ended up on (TCP port 0 resolved).
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    url: ServerUrl,
}

impl Listener {
    /// Listens at `url` over its transport.
    pub fn bind(url: &ServerUrl) -> io::Result<Listener> {
        let (fd, url) = transport::of(url).listen(url)?;
        Listener::on(fd, url)
    }

    /// The listener on `fd`, a socket already listening at `url` (one a
    /// keeper inherits, `transport::unix::listen_private`).
    pub fn on(fd: OwnedFd, url: ServerUrl) -> io::Result<Listener> {
        // Non-blocking: a connection gone between `wait_readable` and
        // `accept` must not stall the accepting thread.
        // SAFETY: flag changes on our own descriptor.
        unsafe {
            let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            cvt(libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) as isize)?;
        }
        Ok(Listener { fd, url })
    }

    pub fn url(&self) -> &ServerUrl {
        &self.url
    }

    /// Waits until a connection can be accepted (true) or `timeout`
    /// passes (false); forever without one.
    pub fn wait_readable(&self, timeout: Option<Duration>) -> io::Result<bool> {
        wait_readable(&[self.fd.as_raw_fd()], timeout).map(|[ready]| ready)
    }

    pub fn accept(&self) -> io::Result<Conn> {
        let fd = unsafe {
            libc::accept4(self.fd.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC)
        };
        let fd = cvt(fd as isize)? as RawFd;
        let conn = Conn::new(unsafe { OwnedFd::from_raw_fd(fd) });
        transport::of(&self.url).prepare(&conn);
        Ok(conn)
    }

    /// Removes what listening left behind (a unix socket file).
    pub fn remove_socket_file(&self) {
        transport::of(&self.url).unlisten(&self.url);
    }
}

/// Waits until one of `fds` is readable (or closed) or `timeout` passes
/// (forever without one); the readiness of each. Negative fds are ignored.
pub fn wait_readable<const N: usize>(fds: &[RawFd; N], timeout: Option<Duration>) -> io::Result<[bool; N]> {
    let mut pfds = fds.map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
    poll(&mut pfds, timeout)?;
    Ok(pfds.map(|p| p.revents != 0))
}

/// `wait_readable` for a number of fds known only at run time.
pub fn wait_readable_any(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<_> = fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    poll(&mut pfds, timeout)?;
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

fn poll(pfds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<()> {
    // Rounded up: a deadline not yet reached is not slept past by less than a millisecond.
    let ms = timeout.map_or(-1, |t| t.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int);
    loop {
        // SAFETY: `pfds` is ours, its length the count passed.
        match cvt(unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) } as isize) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A close-on-exec stream socket of `family`, made by the raw syscall.
pub(crate) fn raw_socket(family: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket returns a new descriptor that only we own.
    let fd =
        cvt(unsafe { libc::syscall(libc::SYS_socket, family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) } as isize)?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Random bits from the host kernel (cookies, private names).
pub fn rand_u64() -> u64 {
    let mut v = [0u8; 8];
    rand_bytes(&mut v);
    u64::from_ne_bytes(v)
}

/// Fills `buf` with random bytes from the host kernel (keys, challenges).
pub fn rand_bytes(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: getrandom writes at most the rest of `buf`.
        let n = unsafe { libc::syscall(libc::SYS_getrandom, buf[done..].as_mut_ptr(), buf.len() - done, 0) };
        if n > 0 {
            done += n as usize;
        }
    }
}
