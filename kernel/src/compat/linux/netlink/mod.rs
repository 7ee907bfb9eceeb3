//! Linux's AF_NETLINK sockets: NETLINK_ROUTE (`route`: links, addresses,
//! routes, neighbours, on the stack's own tables) and NETLINK_SOCK_DIAG
//! (`diag`: the socket list `ss` reads). This module owns what is common:
//! `struct sockaddr_nl` and port ids, the SOL_NETLINK options, walking a
//! sent datagram's requests, and answering each as Linux's
//! `netlink_rcv_skb` does — dumps in batches ending with NLMSG_DONE, an
//! NLMSG_ERROR for a failure (with an extended-ack text when the socket
//! asked for them) or for a success when NLM_F_ACK asked, and nothing
//! for messages that are not requests; a message whose header is cut or
//! claims more than was sent ends the datagram unanswered, as there.
//! Multicast notifications of changes (`ip monitor`) are sent from
//! `announce`.
//!
//! Replies queue on the socket like datagrams, so recv, poll and epoll
//! work on them unchanged.

mod diag;
mod route;
pub mod wire;

use crate::net::socket::{Datagram, Kind, Netlink, SockId};
use crate::net::{Change, Net};
use crate::usermem::{read_pod, write_pod};
use crate::Cx;
use rump_abi::errno::native_to_linux;
use rump_abi::native::errno::*;
use rump_abi::{Errno, UserAddr};
use std::net::{Ipv4Addr, SocketAddr};
use wire::*;

pub const AF_NETLINK: u16 = 16;
pub const NETLINK_ROUTE: u8 = 0;
pub const NETLINK_SOCK_DIAG: u8 = 4;
pub const SOL_NETLINK: i32 = 270;
const NETLINK_ADD_MEMBERSHIP: i32 = 1;
const NETLINK_DROP_MEMBERSHIP: i32 = 2;
const NETLINK_CAP_ACK: i32 = 10;
const NETLINK_EXT_ACK: i32 = 11;
/// Options taken and changing nothing here: PKTINFO, BROADCAST_ERROR,
/// NO_ENOBUFS, LISTEN_ALL_NSID, GET_STRICT_CHK (requests are checked
/// strictly always).
const NETLINK_STORED: [i32; 5] = [3, 4, 5, 8, 12];
/// `struct sockaddr_nl`: family, pad, pid, groups.
const SOCKADDR_NL_LEN: usize = 12;
/// Types below this are netlink's own control messages, not requests.
const NLMSG_MIN_TYPE: u16 = 0x10;
/// Bytes of messages one dump datagram carries: Linux's NLMSG_GOODSIZE
/// on 4 KiB pages, or as much as the socket's receives have offered room
/// for, up to 32 KiB (its netlink_dump's sizing).
const DUMP_BATCH: usize = 3776;
const DUMP_BATCH_MAX: usize = 32768;

/// A request that failed: the errno, and the extended-ack text Linux
/// gives for it, if any.
#[derive(Debug)]
pub struct Failure {
    pub errno: Errno,
    pub msg: Option<&'static str>,
}

impl From<Errno> for Failure {
    fn from(errno: Errno) -> Failure {
        Failure { errno, msg: None }
    }
}

/// Fails with an extended-ack text.
pub fn fail(errno: Errno, msg: &'static str) -> Failure {
    Failure { errno, msg: Some(msg) }
}

/// What a handled request answers.
pub enum Answer {
    /// Messages sent as a multipart dump, then NLMSG_DONE.
    Dump(Vec<Builder>),
    /// One reply message (a GET of one object).
    One(Builder),
    /// Nothing but the ack, if asked for.
    Done,
}

/// The request being answered, for building replies to it.
pub struct Request<'a> {
    pub msg: Packet<'a>,
    /// The asking socket's port id, which replies carry.
    pub portid: u32,
}

impl Request<'_> {
    pub fn is_dump(&self) -> bool {
        self.msg.flags() & NLM_F_DUMP == NLM_F_DUMP
    }

    /// A reply message of `kind`, multipart in a dump.
    pub fn reply(&self, kind: u16) -> Builder {
        let flags = if self.is_dump() { NLM_F_MULTI } else { 0 };
        Builder::new(kind, flags, self.msg.seq(), self.portid)
    }
}

/// The netlink socket behind `fd`, if it is one.
pub fn of_fd(cx: &Cx, fd: i32) -> Option<SockId> {
    let (_, s) = cx.sock_of(fd).ok()?;
    matches!(cx.st.net.sock(s).ok()?.kind, Kind::Netlink(_)).then_some(s)
}

fn state(net: &mut Net, s: SockId) -> Result<&mut Netlink, Errno> {
    match &mut net.sock_mut(s)?.kind {
        Kind::Netlink(n) => Ok(n),
        _ => Err(ENOTSOCK),
    }
}

/// socket(AF_NETLINK, type, protocol): SOCK_RAW or SOCK_DGRAM, of the
/// protocols served; others are EPROTONOSUPPORT as on a kernel without them.
pub fn socket(cx: &mut Cx, stype: i32, protocol: i32, nonblock: bool, cloexec: bool) -> Result<i32, Errno> {
    use crate::net::socket::{SOCK_DGRAM, SOCK_RAW};
    if !matches!(stype, SOCK_RAW | SOCK_DGRAM) {
        return Err(ESOCKTNOSUPPORT);
    }
    let protocol = match u8::try_from(protocol) {
        Ok(p @ (NETLINK_ROUTE | NETLINK_SOCK_DIAG)) => p,
        _ => return Err(EPROTONOSUPPORT),
    };
    let s = cx.st.net.netlink_socket(stype, protocol);
    cx.install_socket(s, nonblock, cloexec)
}

/// The port id a socket gets when it does not choose one: the process's
/// pid for its first socket, then ids counting down from -4096, as Linux.
fn free_portid(net: &Net, pid: u32) -> u32 {
    let taken = |p: u32| net.sockets.iter().any(|(_, s)| matches!(s.kind, Kind::Netlink(n) if n.portid == p));
    std::iter::once(pid).chain((4096u32..).map(|n| n.wrapping_neg())).find(|p| !taken(*p)).unwrap_or(pid)
}

fn autobind(cx: &mut Cx, s: SockId) -> Result<u32, Errno> {
    let pid = cx.pid as u32;
    let n = state(&mut cx.st.net, s)?;
    if n.portid != 0 {
        return Ok(n.portid);
    }
    let p = free_portid(&cx.st.net, pid);
    state(&mut cx.st.net, s)?.portid = p;
    Ok(p)
}

fn read_sockaddr_nl(cx: &Cx, addr: UserAddr, len: i32) -> Result<(u32, u32), Errno> {
    if len < SOCKADDR_NL_LEN as i32 {
        return Err(EINVAL);
    }
    let mut b = [0u8; SOCKADDR_NL_LEN];
    cx.mem.copy_in(addr, &mut b)?;
    if u16::from_ne_bytes([b[0], b[1]]) != AF_NETLINK {
        return Err(EINVAL);
    }
    let word = |at: usize| u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    Ok((word(4), word(8)))
}

/// bind: a chosen port id (EADDRINUSE if another socket has it) or one
/// picked, and the first 32 multicast groups as a bit mask.
pub fn bind(cx: &mut Cx, s: SockId, addr: UserAddr, len: i32) -> Result<(), Errno> {
    let (pid, groups) = read_sockaddr_nl(cx, addr, len)?;
    let current = state(&mut cx.st.net, s)?.portid;
    if pid != 0 && current == 0 {
        let taken =
            cx.st.net.sockets.iter().any(|(id, x)| id != s && matches!(x.kind, Kind::Netlink(n) if n.portid == pid));
        if taken {
            return Err(EADDRINUSE);
        }
        state(&mut cx.st.net, s)?.portid = pid;
    } else if pid != 0 && pid != current {
        return Err(EINVAL);
    }
    autobind(cx, s)?;
    join(cx, s, |g| (g & !0xffff_ffff) | u64::from(groups))
}

/// Changes a socket's groups, once what changed before has gone to the
/// sockets already listening: a new member hears only later changes.
fn join(cx: &mut Cx, s: SockId, groups: impl FnOnce(u64) -> u64) -> Result<(), Errno> {
    announce(&mut cx.st.net);
    let n = state(&mut cx.st.net, s)?;
    n.groups = groups(n.groups);
    Ok(())
}

/// The socket's own address (getsockname) or its peer's, the kernel (0).
pub fn name(cx: &mut Cx, s: SockId, peer: bool, addr: UserAddr, lenp: UserAddr) -> Result<(), Errno> {
    let n = *state(&mut cx.st.net, s)?;
    let (pid, groups) = if peer { (0, 0) } else { (n.portid, n.groups as u32) };
    write_sockaddr_nl(cx, addr, lenp, pid, groups)
}

/// A sockaddr_nl to (addr, *lenp), truncated to the caller's room.
fn write_sockaddr_nl(cx: &Cx, addr: UserAddr, lenp: UserAddr, pid: u32, groups: u32) -> Result<(), Errno> {
    if addr.is_null() {
        return Ok(());
    }
    let have: i32 = read_pod(cx.mem, lenp)?;
    if have < 0 {
        return Err(EINVAL);
    }
    let b = sockaddr_nl(pid, groups);
    cx.mem.copy_out(addr, &b[..b.len().min(have as usize)])?;
    write_pod(cx.mem, lenp, &(b.len() as i32))
}

/// The bytes of a `struct sockaddr_nl`; received messages come from the
/// kernel, port 0.
pub fn sockaddr_nl(pid: u32, groups: u32) -> Vec<u8> {
    let mut b = AF_NETLINK.to_ne_bytes().to_vec();
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&pid.to_ne_bytes());
    b.extend_from_slice(&groups.to_ne_bytes());
    b
}

/// setsockopt(SOL_NETLINK, ...).
pub fn setsockopt(cx: &mut Cx, s: SockId, name: i32, val: &[u8]) -> Result<(), Errno> {
    let v = val.get(..4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]])).ok_or(EINVAL)?;
    if matches!(name, NETLINK_ADD_MEMBERSHIP | NETLINK_DROP_MEMBERSHIP) {
        autobind(cx, s)?;
    }
    if matches!(name, NETLINK_ADD_MEMBERSHIP | NETLINK_DROP_MEMBERSHIP) {
        if v == 0 || v > 64 {
            return Err(EINVAL);
        }
        let bit = 1u64 << (v - 1);
        let add = name == NETLINK_ADD_MEMBERSHIP;
        return join(cx, s, |g| if add { g | bit } else { g & !bit });
    }
    let n = state(&mut cx.st.net, s)?;
    match name {
        NETLINK_EXT_ACK => n.ext_ack = v != 0,
        NETLINK_CAP_ACK => n.cap_ack = v != 0,
        x if NETLINK_STORED.contains(&x) => {}
        _ => return Err(ENOPROTOOPT),
    }
    Ok(())
}

/// getsockopt(SOL_NETLINK, ...): the boolean options.
pub fn getsockopt(cx: &mut Cx, s: SockId, name: i32) -> Result<i32, Errno> {
    let n = *state(&mut cx.st.net, s)?;
    match name {
        NETLINK_EXT_ACK => Ok(n.ext_ack as i32),
        NETLINK_CAP_ACK => Ok(n.cap_ack as i32),
        x if NETLINK_STORED.contains(&x) => Ok(0),
        _ => Err(ENOPROTOOPT),
    }
}

/// A send: every request in `data` is answered in turn onto the socket's
/// queue. The whole length counts as sent, as on Linux.
pub fn send(cx: &mut Cx, s: SockId, data: &[u8]) -> Result<usize, Errno> {
    let portid = autobind(cx, s)?;
    let n = *state(&mut cx.st.net, s)?;
    for m in messages(data) {
        let Ok(msg) = m else { break };
        if msg.flags() & NLM_F_REQUEST == 0 || msg.kind() < NLMSG_MIN_TYPE {
            continue;
        }
        let req = Request { msg, portid };
        let answer = match n.protocol {
            NETLINK_ROUTE => route::handle(cx, &req),
            _ => diag::handle(cx, &req),
        };
        let batch = n.max_recv.clamp(DUMP_BATCH, DUMP_BATCH_MAX);
        let out = respond(&req, &n, answer, batch);
        queue(&mut cx.st.net, s, out);
    }
    cx.net_done();
    Ok(data.len())
}

/// The messages that answer `req`, batched into datagrams.
fn respond(req: &Request, n: &Netlink, answer: Result<Answer, Failure>, size: usize) -> Vec<Vec<u8>> {
    let ack = req.msg.flags() & NLM_F_ACK != 0;
    match answer {
        Ok(Answer::Dump(msgs)) => {
            let mut done = req.reply(NLMSG_DONE);
            done.put(&0i32.to_ne_bytes());
            batch(msgs.into_iter().chain([done]).map(Builder::finish), size)
        }
        Ok(Answer::One(m)) => {
            let mut out = vec![m.finish()];
            if ack {
                out.push(error(req, n, None));
            }
            out
        }
        Ok(Answer::Done) if ack => vec![error(req, n, None)],
        Ok(Answer::Done) => Vec::new(),
        Err(f) => vec![error(req, n, Some(f))],
    }
}

/// Packs messages into datagrams of at most `size` bytes (one alone may
/// be longer).
fn batch(msgs: impl Iterator<Item = Vec<u8>>, size: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for m in msgs {
        match out.last_mut() {
            Some(d) if d.len() + m.len() <= size => d.extend_from_slice(&m),
            _ => out.push(m),
        }
    }
    out
}

/// NLMSG_ERROR: the Linux errno (0 acks), then the request's header —
/// with its payload too for an error, unless NETLINK_CAP_ACK — and with
/// NETLINK_EXT_ACK the failure's text.
fn error(req: &Request, n: &Netlink, f: Option<Failure>) -> Vec<u8> {
    let code = f.as_ref().map_or(0, |f| -native_to_linux(f.errno).0);
    let whole = f.is_some() && !n.cap_ack;
    let text = f.and_then(|f| f.msg).filter(|_| n.ext_ack);
    let mut flags = if whole { 0 } else { NLM_F_CAPPED };
    if text.is_some() {
        flags |= NLM_F_ACK_TLVS;
    }
    let mut b = Builder::new(NLMSG_ERROR, flags, req.msg.seq(), req.portid);
    b.put(&code.to_ne_bytes());
    b.put(if whole { req.msg.bytes() } else { &req.msg.bytes()[..HDR_LEN] });
    if let Some(t) = text {
        b.str(NLMSGERR_ATTR_MSG, t);
    }
    b.finish()
}

/// Queues datagrams for the socket to read, from the kernel.
fn queue(net: &mut Net, s: SockId, datagrams: Vec<Vec<u8>>) {
    let Ok(sock) = net.sock_mut(s) else { return };
    for data in datagrams {
        sock.push_rx(Datagram {
            from: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
            data,
            at: (0, 0),
            ttl: 0,
            link: None,
        });
    }
}

/// Sends each change the stack recorded to the netlink sockets that
/// joined its group (`ip monitor`), then forgets the changes.
pub fn announce(net: &mut Net) {
    let mut changes = std::mem::take(&mut net.changes);
    // One call may change a link several times; one message says it.
    changes.dedup_by(|a, b| matches!((a, b), (Change::Link(x), Change::Link(y)) if x == y));
    if changes.is_empty() {
        return;
    }
    let listeners: Vec<(SockId, u64)> = net
        .sockets
        .iter()
        .filter_map(|(id, s)| match s.kind {
            Kind::Netlink(n) if n.protocol == NETLINK_ROUTE && n.groups != 0 => Some((id, n.groups)),
            _ => None,
        })
        .collect();
    if listeners.is_empty() {
        return;
    }
    for c in &changes {
        for (group, msg) in route::notifications(net, c) {
            for &(id, groups) in &listeners {
                if groups & (1 << (group - 1)) != 0 {
                    queue(net, id, vec![msg.clone()]);
                }
            }
        }
    }
}

/// Notes the room a receive offers, for sizing later dumps.
pub fn saw_receive(cx: &mut Cx, s: SockId, len: usize) {
    if let Ok(n) = state(&mut cx.st.net, s) {
        n.max_recv = n.max_recv.max(len);
    }
}

/// A netlink socket's destination (connect, sendto): only the kernel,
/// port 0, is one here; other ports are ECONNREFUSED as with no such socket.
pub fn check_kernel_addr(cx: &Cx, addr: UserAddr, len: i32) -> Result<(), Errno> {
    let (pid, groups) = read_sockaddr_nl(cx, addr, len)?;
    if pid != 0 || groups != 0 {
        return Err(ECONNREFUSED);
    }
    Ok(())
}

/// connect: to the kernel only; binds the socket as Linux does.
pub fn connect(cx: &mut Cx, s: SockId, addr: UserAddr, len: i32) -> Result<(), Errno> {
    check_kernel_addr(cx, addr, len)?;
    autobind(cx, s).map(|_| ())
}
