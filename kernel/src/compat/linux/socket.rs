//! Linux's socket calls: `struct sockaddr_in/in6`, `struct msghdr` with
//! its control messages, MSG_* and SOCK_* flags and the socket options,
//! translated onto the kernel's socket calls (`syscalls::sock`).

use super::{netlink, packet};
use crate::net::icmp::ErrMsg;
use crate::net::socket::{sockbuf_for, Kind, Opts, Tcp, MIN_RCVBUF, MIN_SNDBUF, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM};
use crate::syscalls::sock::{MsgFlags, Payload, Received, SEND_MAX};
use crate::usermem::{read_pod, write_pod};
use crate::Cx;
use rump_abi::linux::sys::args::*;
use rump_abi::native::errno::*;
use rump_abi::{Errno, SysResult, UserAddr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

const AF_UNSPEC: u16 = 0;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const SOCK_NONBLOCK: i32 = 0o4000;
const SOCK_CLOEXEC: i32 = 0o2000000;

const MSG_PEEK: u32 = 0x2;
const MSG_CTRUNC: i32 = 0x8;
const MSG_TRUNC: u32 = 0x20;
const MSG_DONTWAIT: u32 = 0x40;
const MSG_WAITALL: u32 = 0x100;
const MSG_ERRQUEUE: u32 = 0x2000;

const SOL_SOCKET: i32 = 1;
const IPPROTO_IP: i32 = 0;
const IPPROTO_ICMP: i32 = 1;
const IPPROTO_TCP: i32 = 6;
const IPPROTO_IPV6: i32 = 41;
const IPPROTO_ICMPV6: i32 = 58;
const SOL_RAW: i32 = 255;

fn flags(f: u32) -> MsgFlags {
    MsgFlags { dontwait: f & MSG_DONTWAIT != 0, peek: f & MSG_PEEK != 0, waitall: f & MSG_WAITALL != 0 }
}

/// Reads a sockaddr of `len` bytes: AF_INET or AF_INET6 (AF_UNSPEC only
/// where `unspec_ok`, as the all-zero address connect uses to disconnect).
fn read_sockaddr(cx: &Cx, addr: UserAddr, len: i32, v6: bool) -> Result<SocketAddr, Errno> {
    if len < 2 {
        return Err(EINVAL);
    }
    let mut b = vec![0u8; (len as usize).min(128)];
    cx.mem.copy_in(addr, &mut b)?;
    let family = u16::from_ne_bytes([b[0], b[1]]);
    match family {
        AF_INET if b.len() >= 16 => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            Ok(SocketAddr::new(IpAddr::V4(ip), port))
        }
        AF_INET6 if b.len() >= 24 => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[8..24]);
            let scope = if b.len() >= 28 { u32::from_ne_bytes([b[24], b[25], b[26], b[27]]) } else { 0 };
            Ok(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(o), port, 0, scope)))
        }
        AF_UNSPEC => Ok(SocketAddr::new(
            if v6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) },
            0,
        )),
        AF_INET | AF_INET6 => Err(EINVAL),
        _ => Err(EAFNOSUPPORT),
    }
}

/// The bytes of a sockaddr for `a`, as a socket of family v6 or not sees
/// it (a v6 socket shows v4 peers as v4-mapped).
pub fn sockaddr_bytes(a: SocketAddr, v6: bool) -> Vec<u8> {
    match (a, v6) {
        (SocketAddr::V4(v), false) => {
            let mut b = vec![0u8; 16];
            b[0..2].copy_from_slice(&AF_INET.to_ne_bytes());
            b[2..4].copy_from_slice(&v.port().to_be_bytes());
            b[4..8].copy_from_slice(&v.ip().octets());
            b
        }
        (a, _) => {
            let (ip, scope) = match a {
                SocketAddr::V4(v) => (v.ip().to_ipv6_mapped(), 0),
                SocketAddr::V6(v) => (*v.ip(), v.scope_id()),
            };
            let mut b = vec![0u8; 28];
            b[0..2].copy_from_slice(&AF_INET6.to_ne_bytes());
            b[2..4].copy_from_slice(&a.port().to_be_bytes());
            b[8..24].copy_from_slice(&ip.octets());
            b[24..28].copy_from_slice(&scope.to_ne_bytes());
            b
        }
    }
}

/// Writes a sockaddr to (addr, *lenp) as Linux does: truncated to the
/// caller's length, the full length written back. NULL addr: nothing.
fn write_sockaddr(cx: &Cx, addr: UserAddr, lenp: UserAddr, a: SocketAddr, v6: bool) -> Result<(), Errno> {
    if addr.is_null() {
        return Ok(());
    }
    write_addr_bytes(cx, addr, lenp, &sockaddr_bytes(a, v6))
}

/// Writes sockaddr bytes to (addr, *lenp): truncated to the caller's
/// length, the full length written back.
pub fn write_addr_bytes(cx: &Cx, addr: UserAddr, lenp: UserAddr, b: &[u8]) -> Result<(), Errno> {
    let have: i32 = read_pod(cx.mem, lenp)?;
    if have < 0 {
        return Err(EINVAL);
    }
    cx.mem.copy_out(addr, &b[..b.len().min(have as usize)])?;
    write_pod(cx.mem, lenp, &(b.len() as i32))
}

fn is_v6(cx: &Cx, fd: i32) -> Result<bool, Errno> {
    let (_, s) = cx.sock_of(fd)?;
    Ok(cx.st.net.sock(s)?.v6)
}

pub fn linux_sys_socket(cx: &mut Cx, a: linux_sys_socket_args) -> SysResult {
    let stype = a.type_ & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
    let (nonblock, cloexec) = (a.type_ & SOCK_NONBLOCK != 0, a.type_ & SOCK_CLOEXEC != 0);
    match a.family as u16 {
        netlink::AF_NETLINK => return netlink::socket(cx, stype, a.protocol, nonblock, cloexec).map(i64::from),
        packet::AF_PACKET => return packet::socket(cx, stype, a.protocol, nonblock, cloexec).map(i64::from),
        _ => {}
    }
    let v6 = match a.family as u16 {
        AF_INET => false,
        AF_INET6 => true,
        _ => return Err(EAFNOSUPPORT),
    };
    let stype = a.type_ & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if !matches!(stype, SOCK_STREAM | SOCK_DGRAM | SOCK_RAW) {
        return Err(EINVAL);
    }
    // ICMP datagram sockets: for the groups net.ipv4.ping_group_range names.
    if stype == SOCK_DGRAM && a.protocol == if v6 { IPPROTO_ICMPV6 } else { IPPROTO_ICMP } {
        let cred = &cx.proc().cred;
        let gids: Vec<u32> = std::iter::once(cred.gid).chain(cred.groups.iter().copied()).collect();
        if !cx.st.net.knobs.may_ping(gids) {
            return Err(EACCES);
        }
    }
    cx.sock_create(v6, stype, a.protocol, a.type_ & SOCK_NONBLOCK != 0, a.type_ & SOCK_CLOEXEC != 0).map(i64::from)
}

/// Sockets pairs are AF_LOCAL, which this kernel does not have.
pub fn linux_sys_socketpair(_cx: &mut Cx, a: linux_sys_socketpair_args) -> SysResult {
    match a.family as u16 {
        AF_INET | AF_INET6 => Err(EOPNOTSUPP),
        _ => Err(EAFNOSUPPORT),
    }
}

pub fn linux_sys_bind(cx: &mut Cx, a: linux_sys_bind_args) -> SysResult {
    if let Some(s) = netlink::of_fd(cx, a.fd) {
        return netlink::bind(cx, s, a.umyaddr, a.addrlen).map(|()| 0);
    }
    if let Some(s) = packet::of_fd(cx, a.fd) {
        return packet::bind(cx, s, a.umyaddr, a.addrlen).map(|()| 0);
    }
    let v6 = is_v6(cx, a.fd)?;
    let addr = read_sockaddr(cx, a.umyaddr, a.addrlen, v6)?;
    if addr.is_ipv6() != v6 && !v6 {
        return Err(EAFNOSUPPORT);
    }
    cx.sock_bind(a.fd, addr).map(|_| 0)
}

pub fn linux_sys_listen(cx: &mut Cx, a: linux_sys_listen_args) -> SysResult {
    cx.sock_listen(a.fd, a.backlog).map(|_| 0)
}

fn accept(cx: &mut Cx, fd: i32, addr: UserAddr, lenp: UserAddr, fl: i32) -> SysResult {
    if fl & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(EINVAL);
    }
    let v6 = is_v6(cx, fd)?;
    let (new, peer) = cx.sock_accept(fd, fl & SOCK_NONBLOCK != 0, fl & SOCK_CLOEXEC != 0)?;
    if let Some(p) = peer {
        if let Err(e) = write_sockaddr(cx, addr, lenp, p, v6) {
            let _ = cx.close(new);
            return Err(e);
        }
    }
    Ok(new as i64)
}

pub fn linux_sys_accept(cx: &mut Cx, a: linux_sys_accept_args) -> SysResult {
    accept(cx, a.fd, a.upeer_sockaddr, a.upeer_addrlen, 0)
}

pub fn linux_sys_accept4(cx: &mut Cx, a: linux_sys_accept4_args) -> SysResult {
    accept(cx, a.fd, a.upeer_sockaddr, a.upeer_addrlen, a.flags)
}

pub fn linux_sys_connect(cx: &mut Cx, a: linux_sys_connect_args) -> SysResult {
    if let Some(s) = netlink::of_fd(cx, a.fd) {
        // The only peer a netlink socket here can have is the kernel.
        return netlink::connect(cx, s, a.uservaddr, a.addrlen).map(|()| 0);
    }
    let v6 = is_v6(cx, a.fd)?;
    let to = read_sockaddr(cx, a.uservaddr, a.addrlen, v6)?;
    if to.is_ipv6() && !v6 {
        return Err(EAFNOSUPPORT);
    }
    cx.sock_connect(a.fd, to).map(|_| 0)
}

fn name(cx: &mut Cx, fd: i32, addr: UserAddr, lenp: UserAddr, peer: bool) -> SysResult {
    if let Some(s) = netlink::of_fd(cx, fd) {
        if addr.is_null() {
            return Err(EFAULT);
        }
        return netlink::name(cx, s, peer, addr, lenp).map(|()| 0);
    }
    if let Some(s) = packet::of_fd(cx, fd) {
        if peer {
            return Err(ENOTCONN);
        }
        let b = packet::name(cx, s)?;
        return write_addr_bytes(cx, addr, lenp, &b).map(|()| 0);
    }
    let v6 = is_v6(cx, fd)?;
    let a = match cx.sock_name(fd, peer)? {
        Some(a) => a,
        None if peer => return Err(ENOTCONN),
        None => {
            SocketAddr::new(if v6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) }, 0)
        }
    };
    if addr.is_null() {
        return Err(EFAULT);
    }
    write_sockaddr(cx, addr, lenp, a, v6).map(|_| 0)
}

pub fn linux_sys_getsockname(cx: &mut Cx, a: linux_sys_getsockname_args) -> SysResult {
    name(cx, a.fd, a.usockaddr, a.usockaddr_len, false)
}

pub fn linux_sys_getpeername(cx: &mut Cx, a: linux_sys_getpeername_args) -> SysResult {
    name(cx, a.fd, a.usockaddr, a.usockaddr_len, true)
}

pub fn linux_sys_shutdown(cx: &mut Cx, a: linux_sys_shutdown_args) -> SysResult {
    cx.sock_shutdown(a.fd, a.how).map(|_| 0)
}

fn send(cx: &mut Cx, fd: i32, data: Payload, to: Option<SocketAddr>, fl: u32) -> SysResult {
    if let Some(s) = netlink::of_fd(cx, fd) {
        return data.with(0, &mut |d| netlink::send(cx, s, d)).map(|n| n as i64);
    }
    cx.sock_send(fd, data, to, flags(fl)).map(|n| n as i64)
}

/// write(2) on a netlink socket, as busybox's `ip` sends its requests:
/// a send to its one peer, the kernel. None for any other fd.
pub fn netlink_write(cx: &mut Cx, fd: i32, buf: UserAddr, len: usize) -> Option<SysResult> {
    netlink::of_fd(cx, fd)?;
    Some(send(cx, fd, Payload::user(cx.mem, buf, len), None, 0))
}

/// A send's destination: an IP address, or for a netlink socket none
/// (its one destination, the kernel, is checked and dropped).
fn destination(cx: &Cx, fd: i32, addr: UserAddr, len: i32) -> Result<Option<SocketAddr>, Errno> {
    if addr.is_null() {
        return Ok(None);
    }
    if netlink::of_fd(cx, fd).is_some() {
        return netlink::check_kernel_addr(cx, addr, len).map(|()| None);
    }
    // A packet socket sends on the interface it is bound to.
    if packet::of_fd(cx, fd).is_some() {
        return Ok(None);
    }
    let v6 = is_v6(cx, fd)?;
    Ok(Some(read_sockaddr(cx, addr, len, v6)?))
}

/// The bytes of the sockaddr a receive reports: an IP one, or for a
/// netlink socket the kernel's sockaddr_nl.
fn from_bytes(cx: &Cx, fd: i32, r: &Received, from: SocketAddr, v6: bool) -> Vec<u8> {
    if netlink::of_fd(cx, fd).is_some() {
        netlink::sockaddr_nl(0, 0)
    } else if packet::of_fd(cx, fd).is_some() {
        packet::from_bytes(r.link)
    } else {
        sockaddr_bytes(from, v6)
    }
}

fn copy_in_buf(cx: &Cx, addr: UserAddr, len: usize) -> Result<Vec<u8>, Errno> {
    let mut b = vec![0u8; len.min(SEND_MAX)];
    cx.mem.copy_in(addr, &mut b)?;
    Ok(b)
}

pub fn linux_sys_sendto(cx: &mut Cx, a: linux_sys_sendto_args) -> SysResult {
    let to = destination(cx, a.fd, a.addr, a.addr_len)?;
    send(cx, a.fd, Payload::user(cx.mem, a.buff, a.len), to, a.flags)
}

/// The next entry of a socket's error queue (MSG_ERRQUEUE never blocks),
/// as a receive: the offending payload from the original destination.
fn recv_error(cx: &mut Cx, fd: i32, len: usize) -> Result<(Received, Option<ErrMsg>), Errno> {
    let (_, s) = cx.sock_of(fd)?;
    let sock = cx.st.net.sock_mut(s)?;
    let e = sock.errq.pop_front().ok_or(EAGAIN)?;
    if sock.errq.is_empty() && sock.error == Some(e.errno) {
        sock.error = None;
    }
    let mut data = e.payload.clone();
    let full_len = data.len();
    data.truncate(len);
    Ok((Received { data, from: Some(e.dst), full_len, at: None, ttl: None, link: None }, Some(e)))
}

fn receive(cx: &mut Cx, fd: i32, len: usize, fl: u32) -> Result<(Received, Option<ErrMsg>), Errno> {
    if fl & MSG_ERRQUEUE != 0 {
        return recv_error(cx, fd, len);
    }
    if let Some(s) = netlink::of_fd(cx, fd) {
        netlink::saw_receive(cx, s, len);
    }
    Ok((cx.sock_recv(fd, len, flags(fl))?, None))
}

/// struct sock_extended_err and the offender's address, as the
/// IP_RECVERR / IPV6_RECVERR control message carries them.
fn extended_err(e: &ErrMsg, v6: bool) -> Vec<u8> {
    let mut b = rump_abi::errno::native_to_linux(e.errno).0.to_ne_bytes().to_vec();
    b.extend_from_slice(&[e.origin, e.ty, e.code, 0]);
    b.extend_from_slice(&e.info.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(&sockaddr_bytes(SocketAddr::new(e.offender, 0), v6));
    b
}

pub fn linux_sys_recvfrom(cx: &mut Cx, a: linux_sys_recvfrom_args) -> SysResult {
    let v6 = is_v6(cx, a.fd)?;
    let (r, _) = receive(cx, a.fd, a.size, a.flags)?;
    cx.mem.copy_out(a.ubuf, &r.data)?;
    if let (Some(from), false) = (r.from, a.addr.is_null()) {
        let b = from_bytes(cx, a.fd, &r, from, v6);
        write_addr_bytes(cx, a.addr, a.addr_len, &b)?;
    }
    Ok(if a.flags & MSG_TRUNC != 0 { r.full_len } else { r.data.len() } as i64)
}

/// Linux's struct msghdr on x86-64.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct MsgHdr {
    name: u64,
    namelen: u32,
    _pad: u32,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
    flags: i32,
    _pad2: u32,
}
// SAFETY: plain integers, no padding the layout does not name.
unsafe impl rump_abi::pod::Pod for MsgHdr {}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct IoVec {
    base: u64,
    len: u64,
}
// SAFETY: as above.
unsafe impl rump_abi::pod::Pod for IoVec {}

fn iovecs(cx: &Cx, m: &MsgHdr) -> Result<Vec<IoVec>, Errno> {
    if m.iovlen > 1024 {
        return Err(EMSGSIZE);
    }
    (0..m.iovlen).map(|i| read_pod::<IoVec>(cx.mem, UserAddr(m.iov + 16 * i))).collect()
}

pub fn linux_sys_sendmsg(cx: &mut Cx, a: linux_sys_sendmsg_args) -> SysResult {
    let m: MsgHdr = read_pod(cx.mem, a.msg)?;
    let to = destination(cx, a.fd, UserAddr(m.name), m.namelen as i32)?;
    let mut data = Vec::new();
    for v in iovecs(cx, &m)? {
        let take = (v.len as usize).min(SEND_MAX - data.len());
        data.extend_from_slice(&copy_in_buf(cx, UserAddr(v.base), take)?);
    }
    send(cx, a.fd, Payload::Bytes(&data), to, a.flags)
}

pub fn linux_sys_recvmsg(cx: &mut Cx, a: linux_sys_recvmsg_args) -> SysResult {
    let mut m: MsgHdr = read_pod(cx.mem, a.msg)?;
    let vecs = iovecs(cx, &m)?;
    let v6 = is_v6(cx, a.fd)?;
    let want: usize = vecs.iter().map(|v| v.len as usize).sum();
    let (r, err) = receive(cx, a.fd, want, a.flags)?;
    let mut off = 0;
    for v in &vecs {
        let n = (v.len as usize).min(r.data.len() - off);
        cx.mem.copy_out(UserAddr(v.base), &r.data[off..off + n])?;
        off += n;
    }
    m.flags = if r.full_len > r.data.len() { MSG_TRUNC as i32 } else { 0 };
    if m.name != 0 {
        if let Some(from) = r.from {
            let b = from_bytes(cx, a.fd, &r, from, v6);
            cx.mem.copy_out(UserAddr(m.name), &b[..b.len().min(m.namelen as usize)])?;
            m.namelen = b.len() as u32;
        } else {
            m.namelen = 0;
        }
    }
    let mut cmsgs = control_messages(cx, a.fd, &r)?;
    if let Some(e) = &err {
        let (level, ty) = if v6 { (IPPROTO_IPV6, IPV6_RECVERR) } else { (IPPROTO_IP, IP_RECVERR) };
        cmsgs.push(cmsg(level, ty, &extended_err(e, v6)));
        m.flags |= MSG_ERRQUEUE as i32;
    }
    let mut written = 0usize;
    for c in cmsgs {
        if written + c.len() > m.controllen as usize {
            m.flags |= MSG_CTRUNC;
            break;
        }
        cx.mem.copy_out(UserAddr(m.control + written as u64), &c)?;
        written += c.len();
    }
    m.controllen = written as u64;
    write_pod(cx.mem, a.msg, &m)?;
    Ok(if a.flags & MSG_TRUNC != 0 { r.full_len } else { r.data.len() } as i64)
}

/// One control message: header (len, level, type) and data, padded to 8.
fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
    let len = 16 + data.len();
    let mut c = Vec::with_capacity((len + 7) & !7);
    c.extend_from_slice(&(len as u64).to_ne_bytes());
    c.extend_from_slice(&level.to_ne_bytes());
    c.extend_from_slice(&ty.to_ne_bytes());
    c.extend_from_slice(data);
    c.resize((len + 7) & !7, 0);
    c
}

/// The control messages a receive carries for the options set:
/// SO_TIMESTAMP, IP_RECVTTL, IPV6_RECVHOPLIMIT.
fn control_messages(cx: &Cx, fd: i32, r: &Received) -> Result<Vec<Vec<u8>>, Errno> {
    let (_, s) = cx.sock_of(fd)?;
    let sock = cx.st.net.sock(s)?;
    let mut out = Vec::new();
    if let (true, Some((sec, nsec))) = (sock.opts.timestamp, r.at) {
        let mut tv = sec.to_ne_bytes().to_vec();
        tv.extend_from_slice(&(nsec / 1000).to_ne_bytes());
        out.push(cmsg(SOL_SOCKET, SO_TIMESTAMP_OLD, &tv));
    }
    if let (true, Some(ttl)) = (sock.opts.recvttl, r.ttl) {
        let (level, ty) = if sock.v6 { (IPPROTO_IPV6, IPV6_HOPLIMIT) } else { (IPPROTO_IP, IP_TTL) };
        out.push(cmsg(level, ty, &(ttl as i32).to_ne_bytes()));
    }
    Ok(out)
}

const SO_REUSEADDR: i32 = 2;
const SO_TYPE: i32 = 3;
const SO_ERROR: i32 = 4;
const SO_BROADCAST: i32 = 6;
const SO_SNDBUF: i32 = 7;
const SO_RCVBUF: i32 = 8;
const SO_KEEPALIVE: i32 = 9;
const SO_LINGER: i32 = 13;
const SO_REUSEPORT: i32 = 15;
const SO_RCVTIMEO_OLD: i32 = 20;
const SO_SNDTIMEO_OLD: i32 = 21;
const SO_TIMESTAMP_OLD: i32 = 29;
const SO_ACCEPTCONN: i32 = 30;
const SO_SNDBUFFORCE: i32 = 32;
const SO_RCVBUFFORCE: i32 = 33;
const SO_PROTOCOL: i32 = 38;
const SO_DOMAIN: i32 = 39;
const IP_TOS: i32 = 1;
const IP_TTL: i32 = 2;
const IP_HDRINCL: i32 = 3;
const IP_RECVERR: i32 = 11;
const IP_RECVTTL: i32 = 12;
const IP_MTU_DISCOVER: i32 = 10;
const TCP_NODELAY: i32 = 1;
const TCP_MAXSEG: i32 = 2;
const TCP_INFO: i32 = 11;
const TCP_CONGESTION: i32 = 13;
const IPV6_UNICAST_HOPS: i32 = 16;
const IPV6_RECVERR: i32 = 25;
const IPV6_V6ONLY: i32 = 26;
const IPV6_RECVHOPLIMIT: i32 = 51;
const IPV6_HOPLIMIT: i32 = 52;
const ICMP_FILTER: i32 = 1;
const ICMP6_FILTER: i32 = 1;

/// Integer options that are accepted and read back but change nothing
/// here (priorities, marks, keep-alive tuning, PMTU discovery modes...).
fn stored_option(level: i32, name: i32) -> bool {
    matches!(
        (level, name),
        (SOL_SOCKET, 1 | 5 | 10 | 11 | 12 | 16 | 18 | 19 | 36)
            | (IPPROTO_IP, 7 | 8 | 13 | 32 | 33 | 34)
            | (IPPROTO_TCP, 4 | 5 | 6 | 9 | 12 | 18 | 23)
            | (IPPROTO_IPV6, 17 | 18 | 19 | 23 | 49 | 66 | 67)
            // IPV6_CHECKSUM: ICMPv6 is always checksummed by the kernel.
            | (SOL_RAW, 7)
    )
}

fn timeout(b: &[u8]) -> Result<Option<Duration>, Errno> {
    if b.len() < 16 {
        return Err(EINVAL);
    }
    let sec = i64::from_ne_bytes(b[0..8].try_into().map_err(|_| EINVAL)?);
    let usec = i64::from_ne_bytes(b[8..16].try_into().map_err(|_| EINVAL)?);
    if !(0..1_000_000).contains(&usec) {
        return Err(EDOM);
    }
    Ok(if sec < 0 || (sec == 0 && usec == 0) { None } else { Some(Duration::new(sec as u64, usec as u32 * 1000)) })
}

pub fn linux_sys_setsockopt(cx: &mut Cx, a: linux_sys_setsockopt_args) -> SysResult {
    let (_, s) = cx.sock_of(a.fd)?;
    if a.optlen < 0 {
        return Err(EINVAL);
    }
    let mut b = vec![0u8; (a.optlen as usize).min(256)];
    cx.mem.copy_in(a.optval, &mut b)?;
    if a.level == netlink::SOL_NETLINK {
        let s = netlink::of_fd(cx, a.fd).ok_or(ENOPROTOOPT)?;
        return netlink::setsockopt(cx, s, a.optname, &b).map(|()| 0);
    }
    if a.level == packet::SOL_PACKET {
        let s = packet::of_fd(cx, a.fd).ok_or(ENOPROTOOPT)?;
        return packet::setsockopt(cx, s, a.optname, &b).map(|()| 0);
    }
    if let (SOL_SOCKET, packet::SO_ATTACH_FILTER | packet::SO_DETACH_FILTER, Some(s)) =
        (a.level, a.optname, packet::of_fd(cx, a.fd))
    {
        return packet::filter(cx, s, a.optname, &b).map(|()| 0);
    }
    let int = || -> Result<i32, Errno> {
        match b.len() {
            0 => Err(EINVAL),
            1..=3 => Ok(b[0] as i32),
            _ => Ok(i32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
        }
    };
    let sock = cx.st.net.sock_mut(s)?;
    let raw = matches!(sock.kind, Kind::Raw(_));
    let o: &mut Opts = &mut sock.opts;
    match (a.level, a.optname) {
        (SOL_SOCKET, SO_REUSEADDR) => o.reuseaddr = int()? != 0,
        (SOL_SOCKET, SO_REUSEPORT) => o.reuseport = int()? != 0,
        (SOL_SOCKET, SO_BROADCAST) => o.broadcast = int()? != 0,
        (SOL_SOCKET, SO_KEEPALIVE) => o.keepalive = int()? != 0,
        (SOL_SOCKET, SO_SNDBUF | SO_SNDBUFFORCE) => o.sndbuf = sockbuf_for(int()?, MIN_SNDBUF),
        (SOL_SOCKET, SO_RCVBUF | SO_RCVBUFFORCE) => o.rcvbuf = sockbuf_for(int()?, MIN_RCVBUF),
        (SOL_SOCKET, SO_RCVTIMEO_OLD) => o.rcvtimeo = timeout(&b)?,
        (SOL_SOCKET, SO_SNDTIMEO_OLD) => o.sndtimeo = timeout(&b)?,
        (SOL_SOCKET, SO_TIMESTAMP_OLD) => o.timestamp = int()? != 0,
        (SOL_SOCKET, SO_LINGER) => {
            if b.len() < 8 {
                return Err(EINVAL);
            }
            let on = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
            let secs = i32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
            o.linger = (on != 0).then_some(secs.max(0) as u32);
        }
        (IPPROTO_IP, IP_TTL) => {
            let v = int()?;
            o.ttl = match v {
                -1 => None,
                1..=255 => Some(v as u8),
                _ => return Err(EINVAL),
            }
        }
        (IPPROTO_IPV6, IPV6_UNICAST_HOPS) => {
            let v = int()?;
            o.ttl = match v {
                -1 => None,
                0..=255 => Some(v as u8),
                _ => return Err(EINVAL),
            }
        }
        (IPPROTO_IP, IP_TOS) => o.tos = int()? as u8,
        (IPPROTO_IP, IP_HDRINCL) if raw => o.hdrincl = int()? != 0,
        (IPPROTO_IP, IP_MTU_DISCOVER) => o.pmtudisc = u8::try_from(int()?).ok().filter(|v| *v <= 5).ok_or(EINVAL)?,
        (IPPROTO_IP, IP_RECVERR) | (IPPROTO_IPV6, IPV6_RECVERR) => o.recverr = int()? != 0,
        (IPPROTO_IP, IP_RECVTTL) | (IPPROTO_IPV6, IPV6_RECVHOPLIMIT) => o.recvttl = int()? != 0,
        (IPPROTO_IPV6, IPV6_V6ONLY) => o.v6only = int()? != 0,
        (IPPROTO_TCP, TCP_NODELAY) => o.nodelay = int()? != 0,
        (IPPROTO_TCP, TCP_MAXSEG) => {
            let _ = int()?;
        }
        (IPPROTO_TCP, TCP_CONGESTION) if matches!(sock.kind, Kind::Tcp(_)) => {
            o.congestion = crate::net::tcpinfo::algorithm(&b).ok_or(ENOENT)?
        }
        (SOL_RAW, ICMP_FILTER) if raw => o.icmp_filter = int()? as u32,
        (IPPROTO_ICMPV6, ICMP6_FILTER) if raw => {
            if b.len() < 32 {
                return Err(EINVAL);
            }
            for (i, w) in o.icmp6_filter.iter_mut().enumerate() {
                *w = u32::from_ne_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
            }
        }
        (l, n) if stored_option(l, n) => {
            o.stored.insert((l, n), int()?);
        }
        _ => return Err(ENOPROTOOPT),
    }
    // TCP_NODELAY and TCP_CONGESTION on a live connection take effect at once.
    if let (IPPROTO_TCP, TCP_NODELAY | TCP_CONGESTION) = (a.level, a.optname) {
        let o = cx.st.net.sock(s)?.opts.clone();
        if let Some(h) = cx.st.net.sock(s)?.handle() {
            let t = cx.st.net.tcp.socket(h);
            t.set_nagle_enabled(!o.nodelay);
            t.set_congestion_control(o.congestion);
        }
    }
    Ok(0)
}

/// getsockopt at TCP's level on another socket: Linux's ip_getsockopt
/// says EOPNOTSUPP, its ipv6_getsockopt ENOPROTOOPT.
fn not_tcp(sock: &crate::net::socket::Socket) -> Errno {
    if sock.v6 {
        ENOPROTOOPT
    } else {
        EOPNOTSUPP
    }
}

/// TCP_INFO of a TCP socket: a connection's figures, or just the state
/// of one that is listening or not yet connected; None if not TCP.
fn tcp_info(net: &crate::net::Net, sock: &crate::net::socket::Socket) -> Option<Vec<u8>> {
    use crate::net::census::{tcp_state, TCP_CLOSE, TCP_LISTEN};
    let mut b = vec![0u8; crate::net::tcpinfo::TCP_INFO_LEN];
    match &sock.kind {
        Kind::Tcp(Tcp::Conn { h, .. }) => {
            let t = net.tcp.sockets.get::<smoltcp::socket::tcp::Socket>(*h);
            return Some(net.tcp_info(t, tcp_state(t.state()).unwrap_or(TCP_CLOSE)));
        }
        Kind::Tcp(Tcp::Listening(_)) => b[0] = TCP_LISTEN,
        Kind::Tcp(Tcp::Fresh) => b[0] = TCP_CLOSE,
        _ => return None,
    }
    Some(b)
}

pub fn linux_sys_getsockopt(cx: &mut Cx, a: linux_sys_getsockopt_args) -> SysResult {
    let (_, s) = cx.sock_of(a.fd)?;
    let have: i32 = read_pod(cx.mem, a.optlen)?;
    if have < 0 {
        return Err(EINVAL);
    }
    let special = match (a.level, a.optname) {
        (netlink::SOL_NETLINK, name) => {
            let s = netlink::of_fd(cx, a.fd).ok_or(ENOPROTOOPT)?;
            Some(netlink::getsockopt(cx, s, name)?.to_ne_bytes().to_vec())
        }
        (packet::SOL_PACKET, name) => {
            let s = packet::of_fd(cx, a.fd).ok_or(ENOPROTOOPT)?;
            Some(packet::getsockopt(cx, s, name, a.optval)?)
        }
        (SOL_SOCKET, packet::SO_BPF_EXTENSIONS) => Some(crate::net::bpf::EXTENSIONS.to_ne_bytes().to_vec()),
        (IPPROTO_TCP, TCP_INFO) => {
            let sock = cx.st.net.sock(s)?;
            Some(tcp_info(&cx.st.net, sock).ok_or_else(|| not_tcp(sock))?)
        }
        _ => None,
    };
    if let Some(v) = special {
        let n = v.len().min(have as usize);
        cx.mem.copy_out(a.optval, &v[..n])?;
        write_pod(cx.mem, a.optlen, &(n as i32))?;
        return Ok(0);
    }
    let sock = cx.st.net.sock_mut(s)?;
    if a.level == IPPROTO_TCP && !matches!(sock.kind, Kind::Tcp(_)) {
        return Err(not_tcp(sock));
    }
    let o = &sock.opts;
    let i = |v: i32| v.to_ne_bytes().to_vec();
    let tv = |d: Option<Duration>| {
        let d = d.unwrap_or_default();
        let mut b = (d.as_secs() as i64).to_ne_bytes().to_vec();
        b.extend_from_slice(&(d.subsec_micros() as i64).to_ne_bytes());
        b
    };
    let v = match (a.level, a.optname) {
        (SOL_SOCKET, SO_TYPE) => i(sock.stype),
        (SOL_SOCKET, SO_ERROR) => i(sock.error.take().map_or(0, |e| rump_abi::errno::native_to_linux(e).0)),
        (SOL_SOCKET, SO_REUSEADDR) => i(o.reuseaddr as i32),
        (SOL_SOCKET, SO_REUSEPORT) => i(o.reuseport as i32),
        (SOL_SOCKET, SO_BROADCAST) => i(o.broadcast as i32),
        (SOL_SOCKET, SO_KEEPALIVE) => i(o.keepalive as i32),
        // What the buffer holds: twice what was asked, or the default.
        (SOL_SOCKET, SO_SNDBUF) => i(o.sndbuf as i32),
        (SOL_SOCKET, SO_RCVBUF) => i(o.rcvbuf as i32),
        (SOL_SOCKET, SO_RCVTIMEO_OLD) => tv(o.rcvtimeo),
        (SOL_SOCKET, SO_SNDTIMEO_OLD) => tv(o.sndtimeo),
        (SOL_SOCKET, SO_TIMESTAMP_OLD) => i(o.timestamp as i32),
        (SOL_SOCKET, SO_ACCEPTCONN) => i(matches!(sock.kind, Kind::Tcp(Tcp::Listening(_))) as i32),
        (SOL_SOCKET, SO_PROTOCOL) => i(sock.protocol()),
        (SOL_SOCKET, SO_DOMAIN) => i(match sock.kind {
            Kind::Netlink(_) => netlink::AF_NETLINK,
            _ if sock.v6 => AF_INET6,
            _ => AF_INET,
        } as i32),
        (SOL_SOCKET, SO_LINGER) => {
            let mut b = i(o.linger.is_some() as i32);
            b.extend_from_slice(&(o.linger.unwrap_or(0) as i32).to_ne_bytes());
            b
        }
        (IPPROTO_IP, IP_TTL) | (IPPROTO_IPV6, IPV6_UNICAST_HOPS) => {
            i(o.ttl.map_or(cx.st.net.knobs.ttl as i32, i32::from))
        }
        (IPPROTO_IP, IP_TOS) => i(o.tos as i32),
        (IPPROTO_IP, IP_HDRINCL) => i(o.hdrincl as i32),
        (IPPROTO_IP, IP_MTU_DISCOVER) => i(o.pmtudisc as i32),
        (IPPROTO_IP, IP_RECVERR) | (IPPROTO_IPV6, IPV6_RECVERR) => i(o.recverr as i32),
        (IPPROTO_IP, IP_RECVTTL) | (IPPROTO_IPV6, IPV6_RECVHOPLIMIT) => i(o.recvttl as i32),
        (IPPROTO_IPV6, IPV6_V6ONLY) => i(o.v6only as i32),
        (IPPROTO_TCP, TCP_NODELAY) => i(o.nodelay as i32),
        (IPPROTO_TCP, TCP_MAXSEG) => i(1448),
        (IPPROTO_TCP, TCP_CONGESTION) => crate::net::tcpinfo::algorithm_name(o.congestion),
        (SOL_RAW, ICMP_FILTER) => i(o.icmp_filter as i32),
        (l, n) if stored_option(l, n) => i(o.stored.get(&(l, n)).copied().unwrap_or(0)),
        _ => return Err(ENOPROTOOPT),
    };
    let n = v.len().min(have as usize);
    cx.mem.copy_out(a.optval, &v[..n])?;
    write_pod(cx.mem, a.optlen, &(n as i32))?;
    Ok(0)
}
