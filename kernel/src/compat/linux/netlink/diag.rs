//! NETLINK_SOCK_DIAG's inet_diag: SOCK_DIAG_BY_FAMILY requests (`struct
//! inet_diag_req_v2`) for TCP, UDP and raw sockets of either family,
//! answered with one `struct inet_diag_msg` per socket from the socket
//! list /proc/net/tcp also prints (`net::census`), filtered by the
//! requested states — or by the exact socket, for a lookup — with the
//! attributes Linux always adds (shutdown state, v6only) and, when asked
//! for, `INET_DIAG_INFO` (a `struct tcp_info`: `net::tcpinfo`; no
//! `INET_DIAG_CONG` is given). `ss` filters the rest itself.
//!
//! The kernel has no AF_UNIX sockets: a dump of them is empty. Families
//! and protocols without a diag handler are ENOENT, as on Linux.

use super::wire::*;
use super::{Answer, Failure, Request};
use crate::net::census::{self, Row};
use crate::net::Net;
use crate::Cx;
use rump_abi::native::errno::*;
use smoltcp::socket::tcp;
use std::net::{IpAddr, SocketAddr};

const TCPDIAG_GETSOCK: u16 = 18;
const DCCPDIAG_GETSOCK: u16 = 19;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `struct inet_diag_req`: family, src_len, dst_len, ext, sockid,
/// states, dbs.
const OLD_REQ_LEN: usize = 60;
const AF_UNIX: u8 = 1;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
const IPPROTO_RAW: u32 = 255;
const INET_DIAG_REQ_PROTOCOL: u16 = 3;
/// `struct inet_diag_req_v2`: family, protocol, ext, pad, states, sockid.
const REQ_LEN: usize = 56;
/// Where `struct inet_diag_sockid` starts in the request and the reply.
const REQ_ID: usize = 8;
const MSG_ID: usize = 4;
const SOCKID_LEN: usize = 48;
/// `struct inet_diag_msg`.
const MSG_LEN: usize = 72;
const INET_DIAG_INFO: u16 = 2;
const INET_DIAG_SHUTDOWN: u16 = 8;
const INET_DIAG_SKV6ONLY: u16 = 11;

pub fn handle(cx: &mut Cx, req: &Request) -> Result<Answer, Failure> {
    let p = req.msg.payload();
    // The request: SOCK_DIAG_BY_FAMILY's `struct inet_diag_req_v2`, or the
    // older TCPDIAG_GETSOCK's `struct inet_diag_req` (TCP implied).
    let (family, protocol, ext, states, want_id) = match req.msg.kind() {
        SOCK_DIAG_BY_FAMILY => {
            match *p.first().ok_or(EINVAL)? {
                AF_UNIX => return Ok(Answer::Dump(Vec::new())),
                AF_INET | AF_INET6 => {}
                _ => return Err(ENOENT.into()),
            }
            let (m, attrs) = split(p, REQ_LEN)?;
            // A protocol past 255 (MPTCP's 262) comes as an attribute.
            let protocol = attrs.get(INET_DIAG_REQ_PROTOCOL)?.map(|a| a.u32()).transpose()?.unwrap_or(u32::from(m[1]));
            (m[0], protocol, m[2], u32::from_ne_bytes([m[4], m[5], m[6], m[7]]), &m[REQ_ID..REQ_ID + SOCKID_LEN])
        }
        TCPDIAG_GETSOCK => {
            let (m, _) = split(p, OLD_REQ_LEN)?;
            let states = u32::from_ne_bytes([m[52], m[53], m[54], m[55]]);
            (m[0], IPPROTO_TCP, m[3], states, &m[4..4 + SOCKID_LEN])
        }
        // DCCPDIAG_GETSOCK: there is no DCCP.
        DCCPDIAG_GETSOCK => return Err(ENOENT.into()),
        _ => return Err(EINVAL.into()),
    };
    if !matches!(family, AF_INET | AF_INET6) {
        return Err(ENOENT.into());
    }
    let v6 = family == AF_INET6;
    let net = &cx.st.net;
    let rows = match protocol {
        IPPROTO_TCP => census::tcp_rows(net, v6),
        IPPROTO_UDP => census::udp_rows(net, v6),
        IPPROTO_RAW => census::raw_rows(net, v6),
        // No such protocol here (SCTP, DCCP...): no handler, as Linux says.
        _ => return Err(ENOENT.into()),
    };
    let mut msgs = Vec::new();
    for r in rows.iter().filter(|r| states & (1 << r.state) != 0) {
        let id = sockid(r, v6);
        if !req.is_dump() && !same_socket(&id, want_id) {
            continue;
        }
        let mut b = req.reply(SOCK_DIAG_BY_FAMILY);
        message(&mut b, net, r, family, ext, &id);
        msgs.push(b);
    }
    if req.is_dump() {
        return Ok(Answer::Dump(msgs));
    }
    msgs.into_iter().next().map(Answer::One).ok_or_else(|| ENOENT.into())
}

/// A lookup matches on ports and addresses (the cookie is ours to
/// ignore: sockets here have none).
fn same_socket(id: &[u8], want: &[u8]) -> bool {
    id[..40] == want[..40]
}

fn addr16(a: SocketAddr, v6: bool) -> [u8; 16] {
    let mut b = [0u8; 16];
    match (a.ip(), v6) {
        (IpAddr::V4(v), false) => b[..4].copy_from_slice(&v.octets()),
        (IpAddr::V4(v), true) => b = v.to_ipv6_mapped().octets(),
        (IpAddr::V6(v), _) => b = v.octets(),
    }
    b
}

/// `struct inet_diag_sockid`: ports (network order), addresses, no
/// interface, no cookie.
fn sockid(r: &Row, v6: bool) -> [u8; SOCKID_LEN] {
    let mut id = [0u8; SOCKID_LEN];
    id[0..2].copy_from_slice(&r.local.port().to_be_bytes());
    id[2..4].copy_from_slice(&r.remote.port().to_be_bytes());
    id[4..20].copy_from_slice(&addr16(r.local, v6));
    id[20..36].copy_from_slice(&addr16(r.remote, v6));
    id
}

fn message(b: &mut Builder, net: &Net, r: &Row, family: u8, ext: u8, id: &[u8]) {
    let mut m = [0u8; MSG_LEN];
    m[0] = family;
    m[1] = r.state;
    m[MSG_ID..MSG_ID + SOCKID_LEN].copy_from_slice(id);
    // rqueue, wqueue: a listener's accept queue and backlog.
    m[56..60].copy_from_slice(&(r.rx as u32).to_ne_bytes());
    m[60..64].copy_from_slice(&(r.tx as u32).to_ne_bytes());
    b.put(&m);
    let engine = r.handle.map(|h| net.tcp.sockets.get::<tcp::Socket>(h));
    if let (true, Some(t)) = (ext & (1 << (INET_DIAG_INFO - 1)) != 0, engine) {
        b.attr(INET_DIAG_INFO, &net.tcp_info(t, r.state));
    }
    b.u8(INET_DIAG_SHUTDOWN, 0);
    if family == AF_INET6 {
        b.u8(INET_DIAG_SKV6ONLY, u8::from(r.v6only));
    }
}
