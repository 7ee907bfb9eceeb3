//! NetBSD's socket calls: `struct sockaddr_in/in6` with their length byte
//! and NetBSD's family numbers, `MSG_*` and `SOCK_*` flags, onto the
//! kernel's socket cores (`syscalls::sock`). What C programs of librump and
//! librumpclient call as `rump_sys_bind`, `rump_sys_sendto`, ... Socket
//! options are Linux's under NetBSD's numbers (`linux_option`).
#![allow(non_snake_case)]

use super::sock::{MsgFlags, Payload};
use crate::compat::linux::handlers::{linux_sys_getsockopt, linux_sys_setsockopt};
use crate::usermem::{read_pod, write_pod};
use crate::Cx;
use rump_abi::linux::sys::args::{linux_sys_getsockopt_args, linux_sys_setsockopt_args};
use rump_abi::native::errno::{EAFNOSUPPORT, EFAULT, EINVAL, ENOPROTOOPT, ENOTCONN};
use rump_abi::native::flags::*;
use rump_abi::native::sys::args::*;
use rump_abi::{Errno, SysResult, UserAddr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

fn msg_flags(f: i32) -> MsgFlags {
    MsgFlags { dontwait: f & MSG_DONTWAIT != 0, peek: f & MSG_PEEK != 0, waitall: f & MSG_WAITALL != 0 }
}

fn unspecified(v6: bool) -> SocketAddr {
    SocketAddr::new(if v6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) }, 0)
}

/// A caller's sockaddr of `len` bytes; `sa_len` is not checked, as
/// NetBSD's kernel overwrites it with `len`.
fn read_sockaddr(cx: &Cx, addr: UserAddr, len: u32, v6: bool) -> Result<SocketAddr, Errno> {
    if len < 2 {
        return Err(EINVAL);
    }
    let mut b = vec![0u8; (len as usize).min(128)];
    cx.mem.copy_in(addr, &mut b)?;
    let port = || u16::from_be_bytes([b[2], b[3]]);
    match b[1] {
        AF_INET if b.len() >= 16 => Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(b[4], b[5], b[6], b[7])), port())),
        AF_INET6 if b.len() >= 28 => {
            let ip: [u8; 16] = b[8..24].try_into().map_err(|_| EINVAL)?;
            let scope = u32::from_ne_bytes([b[24], b[25], b[26], b[27]]);
            Ok(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port(), 0, scope)))
        }
        AF_UNSPEC => Ok(unspecified(v6)),
        AF_INET | AF_INET6 => Err(EINVAL),
        _ => Err(EAFNOSUPPORT),
    }
}

/// NetBSD's bytes for `a` as a socket of family v6 or not sees it (v4
/// peers of a v6 socket as v4-mapped).
fn sockaddr_bytes(a: SocketAddr, v6: bool) -> Vec<u8> {
    match (a, v6) {
        (SocketAddr::V4(v), false) => {
            let mut b = vec![16, AF_INET];
            b.extend_from_slice(&v.port().to_be_bytes());
            b.extend_from_slice(&v.ip().octets());
            b.resize(16, 0);
            b
        }
        (a, _) => {
            let (ip, scope) = match a {
                SocketAddr::V4(v) => (v.ip().to_ipv6_mapped(), 0),
                SocketAddr::V6(v) => (*v.ip(), v.scope_id()),
            };
            let mut b = vec![28, AF_INET6];
            b.extend_from_slice(&a.port().to_be_bytes());
            b.extend_from_slice(&[0; 4]);
            b.extend_from_slice(&ip.octets());
            b.extend_from_slice(&scope.to_ne_bytes());
            b
        }
    }
}

/// Writes `a` to (addr, *lenp): truncated to the caller's length, the
/// full length written back. NULL `addr`: nothing.
fn write_sockaddr(cx: &Cx, addr: UserAddr, lenp: UserAddr, a: SocketAddr, v6: bool) -> Result<(), Errno> {
    if addr.is_null() {
        return Ok(());
    }
    let have: u32 = read_pod(cx.mem, lenp)?;
    let b = sockaddr_bytes(a, v6);
    cx.mem.copy_out(addr, &b[..b.len().min(have as usize)])?;
    write_pod(cx.mem, lenp, &(b.len() as u32))
}

fn is_v6(cx: &Cx, fd: i32) -> Result<bool, Errno> {
    let (_, s) = cx.sock_of(fd)?;
    Ok(cx.st.net.sock(s)?.v6)
}

/// An address for a socket of family v6 or not: a v6 address on a v4
/// socket is EAFNOSUPPORT.
fn addr_for(cx: &Cx, fd: i32, addr: UserAddr, len: u32) -> Result<SocketAddr, Errno> {
    let v6 = is_v6(cx, fd)?;
    let a = read_sockaddr(cx, addr, len, v6)?;
    if a.is_ipv6() && !v6 {
        return Err(EAFNOSUPPORT);
    }
    Ok(a)
}

pub fn sys_bind(cx: &mut Cx, a: sys_bind_args) -> SysResult {
    let addr = addr_for(cx, a.s, a.name, a.namelen)?;
    cx.sock_bind(a.s, addr).map(|()| 0)
}

pub fn sys_connect(cx: &mut Cx, a: sys_connect_args) -> SysResult {
    let to = addr_for(cx, a.s, a.name, a.namelen)?;
    cx.sock_connect(a.s, to).map(|()| 0)
}

pub fn sys_listen(cx: &mut Cx, a: sys_listen_args) -> SysResult {
    cx.sock_listen(a.s, a.backlog).map(|()| 0)
}

pub fn sys_accept(cx: &mut Cx, a: sys_accept_args) -> SysResult {
    let v6 = is_v6(cx, a.s)?;
    let (new, peer) = cx.sock_accept(a.s, false, false)?;
    if let Some(p) = peer {
        if let Err(e) = write_sockaddr(cx, a.name, a.anamelen, p, v6) {
            let _ = cx.close(new);
            return Err(e);
        }
    }
    Ok(new as i64)
}

fn name(cx: &mut Cx, fd: i32, addr: UserAddr, lenp: UserAddr, peer: bool) -> SysResult {
    let v6 = is_v6(cx, fd)?;
    let a = match cx.sock_name(fd, peer)? {
        Some(a) => a,
        None if peer => return Err(ENOTCONN),
        None => unspecified(v6),
    };
    if addr.is_null() {
        return Err(EFAULT);
    }
    write_sockaddr(cx, addr, lenp, a, v6).map(|()| 0)
}

pub fn sys_getsockname(cx: &mut Cx, a: sys_getsockname_args) -> SysResult {
    name(cx, a.fdes, a.asa, a.alen, false)
}

pub fn sys_getpeername(cx: &mut Cx, a: sys_getpeername_args) -> SysResult {
    name(cx, a.fdes, a.asa, a.alen, true)
}

pub fn sys_shutdown(cx: &mut Cx, a: sys_shutdown_args) -> SysResult {
    cx.sock_shutdown(a.s, a.how).map(|()| 0)
}

pub fn sys_sendto(cx: &mut Cx, a: sys_sendto_args) -> SysResult {
    let to = if a.to.is_null() { None } else { Some(addr_for(cx, a.s, a.to, a.tolen)?) };
    cx.sock_send(a.s, Payload::user(cx.mem, a.buf, a.len), to, msg_flags(a.flags)).map(|n| n as i64)
}

pub fn sys_recvfrom(cx: &mut Cx, a: sys_recvfrom_args) -> SysResult {
    let v6 = is_v6(cx, a.s)?;
    let r = cx.sock_recv(a.s, a.len, msg_flags(a.flags))?;
    cx.mem.copy_out(a.buf, &r.data)?;
    if let Some(from) = r.from {
        write_sockaddr(cx, a.from, a.fromlenaddr, from, v6)?;
    }
    Ok(if a.flags & MSG_TRUNC != 0 { r.full_len } else { r.data.len() } as i64)
}

/// The Linux (level, name) of a NetBSD socket option whose value has the
/// same layout in both (an int). SO_SNDBUF and SO_RCVBUF read back as
/// Linux reports them (twice what was set).
fn linux_option(level: i32, name: i32) -> Result<(i32, i32), Errno> {
    const LINUX_SOL_SOCKET: i32 = 1;
    Ok(match (level, name) {
        (SOL_SOCKET, SO_REUSEADDR) => (LINUX_SOL_SOCKET, 2),
        (SOL_SOCKET, SO_TYPE) => (LINUX_SOL_SOCKET, 3),
        (SOL_SOCKET, SO_BROADCAST) => (LINUX_SOL_SOCKET, 6),
        (SOL_SOCKET, SO_SNDBUF) => (LINUX_SOL_SOCKET, 7),
        (SOL_SOCKET, SO_RCVBUF) => (LINUX_SOL_SOCKET, 8),
        (SOL_SOCKET, SO_KEEPALIVE) => (LINUX_SOL_SOCKET, 9),
        (SOL_SOCKET, SO_REUSEPORT) => (LINUX_SOL_SOCKET, 15),
        (IPPROTO_IP, IP_TOS) => (IPPROTO_IP, 1),
        (IPPROTO_IP, IP_TTL) => (IPPROTO_IP, 2),
        (IPPROTO_TCP, TCP_NODELAY) => (IPPROTO_TCP, 1),
        (IPPROTO_IPV6, IPV6_UNICAST_HOPS) => (IPPROTO_IPV6, 16),
        (IPPROTO_IPV6, IPV6_V6ONLY) => (IPPROTO_IPV6, 26),
        _ => return Err(ENOPROTOOPT),
    })
}

pub fn sys_setsockopt(cx: &mut Cx, a: sys_setsockopt_args) -> SysResult {
    let (level, optname) = linux_option(a.level, a.name)?;
    let optlen = i32::try_from(a.valsize).map_err(|_| EINVAL)?;
    linux_sys_setsockopt(cx, linux_sys_setsockopt_args { fd: a.s, level, optname, optval: a.val, optlen })
}

pub fn sys_getsockopt(cx: &mut Cx, a: sys_getsockopt_args) -> SysResult {
    if (a.level, a.name) == (SOL_SOCKET, SO_ERROR) {
        // The pending error as a native errno (Linux's handler gives Linux's).
        let (_, s) = cx.sock_of(a.s)?;
        let e = cx.st.net.sock_mut(s)?.error.take().map_or(0, |e| e.raw());
        let have: u32 = read_pod(cx.mem, a.avalsize)?;
        let b = e.to_ne_bytes();
        let n = b.len().min(have as usize);
        cx.mem.copy_out(a.val, &b[..n])?;
        return write_pod(cx.mem, a.avalsize, &(n as u32)).map(|()| 0);
    }
    let (level, optname) = linux_option(a.level, a.name)?;
    linux_sys_getsockopt(cx, linux_sys_getsockopt_args { fd: a.s, level, optname, optval: a.val, optlen: a.avalsize })
}
