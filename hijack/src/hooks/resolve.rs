//! Name resolution for programs whose inet sockets are hijacked:
//! getaddrinfo, getnameinfo and the gethostbyname family answered without
//! the host's network. glibc's own versions ask the host (netlink for
//! AI_ADDRCONFIG, interface names for `%scope`, and connect probes on
//! host sockets to sort results), none of which the hooks can see.
//!
//! What is answered here, with glibc 2.36's semantics: numeric addresses
//! (every inet_aton form, IPv6 with `%scope`, scope names being the rump
//! kernel's interfaces), names in `/etc/hosts` (read as glibc's files
//! backend reads it, `multi` from `/etc/host.conf`), `localhost` when the
//! file lacks it, and services by number or from `/etc/services`. Any
//! other name is a DNS name and goes to the host's function: DNS over the
//! rump stack is not implemented. Reverse lookups use `/etc/hosts` only,
//! with the numeric form as the fallback.
//!
//! Results keep the file's order, except that ::1 and then 127/8 come
//! first, where glibc's RFC 3484 sort puts them (by precedence, then
//! scope) unless it can reach a global IPv6 address; the rest of that sort
//! needs connect probes on the routing table and is not done. AI_ADDRCONFIG
//! looks at the rump kernel's addresses. Lists have glibc's layout (each
//! addrinfo and its address in one malloc'ed block, the canonical name in
//! another), so either library's freeaddrinfo frees them.

use crate::hooks::ifaddrs;
use crate::host::{self, sys};
use crate::route;
use libc::{addrinfo, c_char, c_int, size_t, sockaddr, socklen_t};
use rump_abi::{Errno, UserAddr};
use rumpclient::marshal::ClientMemory;
use rumpclient::selfmem::SelfMemory;
use std::ffi::CStr;
use std::mem::size_of;

/// glibc's `struct hostent`.
#[repr(C)]
pub struct Hostent {
    h_name: *mut c_char,
    h_aliases: *mut *mut c_char,
    h_addrtype: c_int,
    h_length: c_int,
    h_addr_list: *mut *mut c_char,
}

crate::real_fns! {
    fn getaddrinfo(node: *const c_char, service: *const c_char, hints: *const addrinfo, res: *mut *mut addrinfo) -> c_int;
    fn getnameinfo(sa: *const sockaddr, salen: socklen_t, host: *mut c_char, hostlen: socklen_t, serv: *mut c_char, servlen: socklen_t, flags: c_int) -> c_int;
    fn gethostbyname(name: *const c_char) -> *mut super::Hostent;
    fn gethostbyname2(name: *const c_char, af: c_int) -> *mut super::Hostent;
    fn gethostbyname_r(name: *const c_char, ret: *mut super::Hostent, buf: *mut c_char, buflen: size_t, result: *mut *mut super::Hostent, h_errnop: *mut c_int) -> c_int;
    fn gethostbyname2_r(name: *const c_char, af: c_int, ret: *mut super::Hostent, buf: *mut c_char, buflen: size_t, result: *mut *mut super::Hostent, h_errnop: *mut c_int) -> c_int;
}

const EAI_ADDRFAMILY: c_int = -9;
const AI_IDN: c_int = 0x40;
const AI_CANONIDN: c_int = 0x80;
/// The deprecated AI_IDN_ALLOW_UNASSIGNED and AI_IDN_USE_STD3_ASCII_RULES,
/// still accepted.
const AI_IDN_DEPRECATED: c_int = 0x300;
const AI_KNOWN: c_int = libc::AI_PASSIVE
    | libc::AI_CANONNAME
    | libc::AI_NUMERICHOST
    | libc::AI_ADDRCONFIG
    | libc::AI_V4MAPPED
    | AI_IDN
    | AI_CANONIDN
    | AI_IDN_DEPRECATED
    | libc::AI_NUMERICSERV
    | libc::AI_ALL;
/// getnameinfo's flags: NI_IDN is 32, its two deprecated companions 64
/// and 128.
const NI_KNOWN: c_int =
    libc::NI_NUMERICHOST | libc::NI_NUMERICSERV | libc::NI_NOFQDN | libc::NI_NAMEREQD | libc::NI_DGRAM | 32 | 64 | 128;

const HOST_NOT_FOUND: c_int = 1;
const NETDB_INTERNAL: c_int = -1;

extern "C" {
    fn __h_errno_location() -> *mut c_int;
}

/// Whether names are resolved here.
fn hijacked() -> bool {
    let cfg = route::config();
    cfg.hijacks_family(libc::PF_INET) || cfg.hijacks_family(libc::PF_INET6)
}

// ---- numeric addresses: glibc's parsers and printers ------------------------

/// An address as read from text: IPv4 or IPv6, in network order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ip {
    V4([u8; 4]),
    V6([u8; 16]),
}

const LOOPBACK6: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

fn mapped(a: [u8; 4]) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[10] = 0xff;
    v[11] = 0xff;
    v[12..].copy_from_slice(&a);
    v
}

fn is_mapped(a: &[u8; 16]) -> bool {
    a[..10].iter().all(|&b| b == 0) && a[10] == 0xff && a[11] == 0xff
}

fn is_link_local(a: &[u8; 16]) -> bool {
    a[0] == 0xfe && a[1] & 0xc0 == 0x80
}

fn is_mc_link_local(a: &[u8; 16]) -> bool {
    a[0] == 0xff && a[1] & 0x0f == 2
}

/// C's strtoul in base 0 over a run of digits (`0x` hex, `0` octal,
/// decimal); the value (None past 32 bits) and the bytes used.
fn strtoul0(s: &[u8]) -> (Option<u64>, usize) {
    let (radix, start) = match s {
        [b'0', b'x' | b'X', d, ..] if d.is_ascii_hexdigit() => (16, 2),
        [b'0', ..] => (8, 0),
        _ => (10, 0),
    };
    let len = s[start..].iter().take_while(|c| (**c as char).is_digit(radix)).count();
    let mut v: Option<u64> = Some(0);
    for &c in &s[start..start + len] {
        v = v.and_then(|v| v.checked_mul(u64::from(radix))?.checked_add((c as char).to_digit(radix)? as u64));
    }
    (v.filter(|&v| v <= u64::from(u32::MAX)), start + len)
}

/// inet_aton's forms (`a.b.c.d`, `a.b.c`, `a.b`, `a`; parts in C's
/// notation), the whole string (glibc's `__inet_aton_exact`).
fn aton_exact(s: &[u8]) -> Option<[u8; 4]> {
    let mut parts = Vec::new();
    let mut at = 0;
    loop {
        if !s.get(at)?.is_ascii_digit() {
            return None;
        }
        let (v, used) = strtoul0(&s[at..]);
        parts.push(v?);
        at += used;
        match s.get(at) {
            Some(b'.') if parts.len() < 4 => at += 1,
            None => break,
            _ => return None,
        }
    }
    let (last, front) = parts.split_last()?;
    if front.iter().any(|&p| p > 0xff) || *last > 0xffff_ffff >> (8 * front.len()) {
        return None;
    }
    let word = front.iter().enumerate().fold(*last as u32, |w, (i, &p)| w | (p as u32) << (24 - 8 * i));
    Some(word.to_be_bytes())
}

/// inet_pton(AF_INET): four decimal parts, no leading zeros.
fn pton4(s: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut n = 0;
    for part in s.split(|&c| c == b'.') {
        if n == 4 || part.is_empty() || part.len() > 3 || (part.len() > 1 && part[0] == b'0') {
            return None;
        }
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v: u32 = part.iter().fold(0, |v, &c| v * 10 + u32::from(c - b'0'));
        out[n] = u8::try_from(v).ok()?;
        n += 1;
    }
    (n == 4).then_some(out)
}

/// inet_pton(AF_INET6), as glibc's: hex groups of up to four digits, one
/// `::`, and a dotted IPv4 tail wherever four bytes are left.
fn pton6(s: &[u8]) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    let mut tp = 0;
    let mut colon: Option<usize> = None;
    let mut src = s;
    if src.is_empty() {
        return None;
    }
    if src[0] == b':' {
        src = &src[1..];
        if src.first() != Some(&b':') {
            return None;
        }
    }
    let mut curtok = 0;
    let (mut digits, mut val) = (0, 0u32);
    let mut i = 0;
    while i < src.len() {
        let ch = src[i];
        i += 1;
        if let Some(d) = (ch as char).to_digit(16) {
            if digits == 4 {
                return None;
            }
            val = val << 4 | d;
            digits += 1;
            continue;
        }
        if ch == b':' {
            curtok = i;
            if digits == 0 {
                if colon.is_some() {
                    return None;
                }
                colon = Some(tp);
                continue;
            }
            if i == src.len() || tp + 2 > 16 {
                return None;
            }
            out[tp..tp + 2].copy_from_slice(&(val as u16).to_be_bytes());
            tp += 2;
            (digits, val) = (0, 0);
            continue;
        }
        if ch == b'.' && tp + 4 <= 16 {
            out[tp..tp + 4].copy_from_slice(&pton4(&src[curtok..])?);
            tp += 4;
            digits = 0;
            break;
        }
        return None;
    }
    if digits > 0 {
        if tp + 2 > 16 {
            return None;
        }
        out[tp..tp + 2].copy_from_slice(&(val as u16).to_be_bytes());
        tp += 2;
    }
    if let Some(c) = colon {
        if tp == 16 {
            return None;
        }
        let n = tp - c;
        out.copy_within(c..tp, 16 - n);
        out[c..16 - n].fill(0);
        tp = 16;
    }
    (tp == 16).then_some(out)
}

fn ntop4(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

/// inet_ntop(AF_INET6), as glibc's: the longest run of two or more zero
/// groups (the first of equals) as `::`, and an IPv4 tail for mapped and
/// compatible addresses.
fn ntop6(a: [u8; 16]) -> String {
    let w: Vec<u16> = a.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
    // Runs of zero groups as (start, length).
    let mut best: Option<(usize, usize)> = None;
    let mut cur: Option<(usize, usize)> = None;
    for (i, &x) in w.iter().enumerate() {
        if x == 0 {
            cur = Some(cur.map_or((i, 1), |(b, l)| (b, l + 1)));
        } else if let Some(c) = cur.take() {
            if best.is_none_or(|b| c.1 > b.1) {
                best = Some(c);
            }
        }
    }
    if let Some(c) = cur {
        if best.is_none_or(|b| c.1 > b.1) {
            best = Some(c);
        }
    }
    let best = best.filter(|b| b.1 >= 2);
    let mut s = String::new();
    let mut i = 0;
    while i < 8 {
        if let Some((b, l)) = best.filter(|(b, l)| (*b..b + l).contains(&i)) {
            s.push(':');
            i = b + l;
            if i == 8 {
                s.push(':');
            }
            continue;
        }
        if i != 0 {
            s.push(':');
        }
        if i == 6 && best.is_some_and(|(b, l)| b == 0 && (l == 6 || (l == 5 && w[5] == 0xffff))) {
            s.push_str(&ntop4([a[12], a[13], a[14], a[15]]));
            break;
        }
        s.push_str(&format!("{:x}", w[i]));
        i += 1;
    }
    s
}

/// Ordering class: ::1 first, then IPv4 loopback (plain or mapped), then
/// the rest.
fn rank(ip: &Ip) -> u8 {
    match ip {
        Ip::V6(a) if *a == LOOPBACK6 => 0,
        Ip::V4(a) if a[0] == 127 => 1,
        Ip::V6(a) if is_mapped(a) && a[12] == 127 => 1,
        _ => 2,
    }
}

// ---- the files -------------------------------------------------------------

/// One `/etc/hosts` line: an address and its names, the official one
/// first.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HostLine {
    addr: Ip,
    names: Vec<Vec<u8>>,
}

impl HostLine {
    /// The line's address as glibc's files backend reads it for a query
    /// in family `af` (AF_UNSPEC: as written), or None if the line does
    /// not count for it.
    fn addr_as(&self, af: c_int, v4mapped: bool) -> Option<Ip> {
        match (af, self.addr) {
            (libc::AF_UNSPEC, a) | (libc::AF_INET, a @ Ip::V4(_)) | (libc::AF_INET6, a @ Ip::V6(_)) => Some(a),
            (libc::AF_INET, Ip::V6(a)) if is_mapped(&a) => Some(Ip::V4([a[12], a[13], a[14], a[15]])),
            (libc::AF_INET, Ip::V6(LOOPBACK6)) => Some(Ip::V4([127, 0, 0, 1])),
            (libc::AF_INET6, Ip::V4(a)) if v4mapped => Some(Ip::V6(mapped(a))),
            _ => None,
        }
    }

    fn is_named(&self, name: &[u8]) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

fn fields(line: &[u8]) -> Vec<&[u8]> {
    let line = line.split(|&c| c == b'#').next().unwrap_or_default();
    line.split(|c| c.is_ascii_whitespace() || *c == 0x0b).filter(|w| !w.is_empty()).collect()
}

/// The lines of a hosts file that have an address and a name.
fn parse_hosts(text: &[u8]) -> Vec<HostLine> {
    text.split(|&c| c == b'\n')
        .filter_map(|line| {
            let f = fields(line);
            let (addr, names) = f.split_first()?;
            let addr = pton4(addr).map(Ip::V4).or_else(|| pton6(addr).map(Ip::V6))?;
            (!names.is_empty()).then(|| HostLine { addr, names: names.iter().map(|n| n.to_vec()).collect() })
        })
        .collect()
}

/// `multi` from host.conf, which RESOLV_MULTI overrides: whether every
/// line naming a host counts, or only the first.
fn parse_multi(host_conf: &[u8], env: Option<&[u8]>) -> bool {
    let switch = |v: &[u8]| match v.to_ascii_lowercase().as_slice() {
        b"on" => Some(true),
        b"off" => Some(false),
        _ => None,
    };
    if let Some(v) = env.and_then(switch) {
        return v;
    }
    let mut multi = false;
    for line in host_conf.split(|&c| c == b'\n') {
        if let [key, value, ..] = fields(line)[..] {
            if key.eq_ignore_ascii_case(b"multi") {
                multi = switch(value).unwrap_or(multi);
            }
        }
    }
    multi
}

/// One `/etc/services` line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Service {
    names: Vec<Vec<u8>>,
    port: u16,
    proto: Vec<u8>,
}

fn parse_services(text: &[u8]) -> Vec<Service> {
    text.split(|&c| c == b'\n')
        .filter_map(|line| {
            let f = fields(line);
            let (name, rest) = f.split_first()?;
            let (port_proto, aliases) = rest.split_first()?;
            let slash = port_proto.iter().position(|&c| c == b'/')?;
            let port = std::str::from_utf8(&port_proto[..slash]).ok()?.parse::<u16>().ok()?;
            let mut names = vec![name.to_vec()];
            names.extend(aliases.iter().map(|a| a.to_vec()));
            Some(Service { names, port, proto: port_proto[slash + 1..].to_vec() })
        })
        .collect()
}

/// A host file's contents, read with raw syscalls (no hook sees them);
/// empty if it cannot be read.
fn read_file(path: &CStr) -> Vec<u8> {
    let Ok(fd) = sys(
        libc::SYS_openat,
        [libc::AT_FDCWD as usize, path.as_ptr() as usize, libc::O_RDONLY as usize | libc::O_CLOEXEC as usize, 0],
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n @ 1..) = sys(libc::SYS_read, [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0]) {
        out.extend_from_slice(&buf[..n as usize]);
    }
    let _ = sys(libc::SYS_close, [fd as usize, 0, 0, 0]);
    out
}

/// The hosts database: `/etc/hosts`, plus `localhost` (127.0.0.1 and
/// ::1) if the file does not name it, as systems without it resolve it.
struct Hosts {
    lines: Vec<HostLine>,
    multi: bool,
}

/// A host entry: the official name, aliases and addresses.
struct Entry {
    name: Vec<u8>,
    aliases: Vec<Vec<u8>>,
    addrs: Vec<Ip>,
}

impl Hosts {
    fn load() -> Hosts {
        let mut lines = parse_hosts(&read_file(c"/etc/hosts"));
        if !lines.iter().any(|l| l.is_named(b"localhost")) {
            for addr in [Ip::V4([127, 0, 0, 1]), Ip::V6(LOOPBACK6)] {
                lines.push(HostLine { addr, names: vec![b"localhost".to_vec()] });
            }
        }
        let env = std::env::var_os("RESOLV_MULTI");
        let multi = parse_multi(
            &read_file(c"/etc/host.conf"),
            env.as_ref().map(|v| std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str())),
        );
        Hosts { lines, multi }
    }

    /// The lines naming `name` (the first only without `multi`).
    fn named<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a HostLine> + 'a {
        self.lines.iter().filter(move |l| l.is_named(name)).take(if self.multi { usize::MAX } else { 1 })
    }

    /// getaddrinfo's lookup (glibc's gethostbyname4): every address as
    /// written and the first line's official name; None if no line
    /// names `name`.
    fn all(&self, name: &[u8]) -> Option<(Vec<Ip>, Vec<u8>)> {
        let lines: Vec<&HostLine> = self.named(name).collect();
        let canon = lines.first()?.names[0].clone();
        Some((lines.iter().map(|l| l.addr).collect(), canon))
    }

    /// gethostbyname's lookup in family `af`: the first line naming
    /// `name` with an address of that family, and with `multi` the
    /// addresses of later ones, whose other names join the aliases.
    fn by_name(&self, name: &[u8], af: c_int) -> Option<Entry> {
        let mut lines =
            self.lines.iter().filter_map(|l| Some((l, l.addr_as(af, false)?))).filter(|(l, _)| l.is_named(name));
        let (first, addr) = lines.next()?;
        let mut e = Entry { name: first.names[0].clone(), aliases: first.names[1..].to_vec(), addrs: vec![addr] };
        if self.multi {
            for (l, addr) in lines {
                e.addrs.push(addr);
                e.aliases.extend(l.names[1..].iter().cloned());
                if l.names[0] != e.name {
                    e.aliases.push(l.names[0].clone());
                }
            }
        }
        Some(e)
    }

    /// gethostbyaddr's lookup: the official name of the first line with
    /// address `ip` (as read for its family).
    fn by_addr(&self, ip: Ip) -> Option<&[u8]> {
        let af = if matches!(ip, Ip::V4(_)) { libc::AF_INET } else { libc::AF_INET6 };
        self.lines.iter().find(|l| l.addr_as(af, false) == Some(ip)).map(|l| l.names[0].as_slice())
    }
}

fn services() -> Vec<Service> {
    parse_services(&read_file(c"/etc/services"))
}

// ---- getaddrinfo -----------------------------------------------------------

/// glibc's table of socket types and protocols (gaih_inet_typeproto):
/// type, protocol, whether any protocol goes (raw), whether services
/// apply, whether it is in the default expansion, and the name services
/// are looked up under.
struct TypeProto {
    socktype: c_int,
    protocol: c_int,
    any_protocol: bool,
    no_service: bool,
    default: bool,
    name: &'static [u8],
}

/// An entry that takes services and only its own protocol.
const fn tp(socktype: c_int, protocol: c_int, default: bool, name: &'static [u8]) -> TypeProto {
    TypeProto { socktype, protocol, any_protocol: false, no_service: false, default, name }
}

const TYPEPROTO: &[TypeProto] = &[
    tp(libc::SOCK_STREAM, libc::IPPROTO_TCP, true, b"tcp"),
    tp(libc::SOCK_DGRAM, libc::IPPROTO_UDP, true, b"udp"),
    tp(libc::SOCK_DCCP, libc::IPPROTO_DCCP, false, b"dccp"),
    tp(libc::SOCK_DGRAM, libc::IPPROTO_UDPLITE, false, b"udplite"),
    tp(libc::SOCK_STREAM, libc::IPPROTO_SCTP, false, b"sctp"),
    tp(libc::SOCK_SEQPACKET, libc::IPPROTO_SCTP, false, b"sctp"),
    TypeProto {
        socktype: libc::SOCK_RAW,
        protocol: 0,
        any_protocol: true,
        no_service: true,
        default: true,
        name: b"raw",
    },
];

impl TypeProto {
    fn matches(&self, socktype: c_int, protocol: c_int) -> bool {
        (socktype == 0 || socktype == self.socktype)
            && (protocol == 0 || self.any_protocol || protocol == self.protocol)
    }

    fn protocol_for(&self, asked: c_int) -> c_int {
        if self.any_protocol {
            asked
        } else {
            self.protocol
        }
    }
}

/// What the caller asked: its hints, read.
#[derive(Clone, Copy)]
struct Hints {
    flags: c_int,
    family: c_int,
    socktype: c_int,
    protocol: c_int,
}

/// A service as getaddrinfo reads it: C's strtoul in base 10 (blanks and
/// a sign allowed), kept as an int; None if characters are left over.
/// A negative number is looked up as a name, as glibc does.
fn service_number(s: &[u8]) -> Option<i32> {
    let t = s.trim_ascii_start();
    let (neg, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n != digits.len() {
        return None;
    }
    let v =
        digits.iter().try_fold(0u64, |v, &c| v.checked_mul(10)?.checked_add(u64::from(c - b'0'))).unwrap_or(u64::MAX);
    Some(if neg { v.wrapping_neg() as i32 } else { v as i32 })
}

/// One (socket type, protocol, port) the results are made with; the port
/// in host order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tuple {
    socktype: c_int,
    protocol: c_int,
    port: u16,
}

/// The tuples for `service` under hints `h` (glibc's gaih_inet start),
/// or the EAI_ error.
fn tuples(service: Option<&[u8]>, h: &Hints, services: impl FnOnce() -> Vec<Service>) -> Result<Vec<Tuple>, c_int> {
    let chosen = if h.socktype != 0 || h.protocol != 0 {
        let tp = TYPEPROTO.iter().find(|t| t.matches(h.socktype, h.protocol));
        let Some(tp) = tp else {
            return Err(if h.socktype != 0 { libc::EAI_SOCKTYPE } else { libc::EAI_SERVICE });
        };
        Some(tp)
    } else {
        None
    };
    let port = match service {
        None => 0,
        Some(_) if chosen.is_some_and(|t| t.no_service) => return Err(libc::EAI_SERVICE),
        Some(s) => match service_number(s) {
            Some(n) if n >= 0 => n as u16,
            _ => {
                let table = services();
                let lookup = |t: &TypeProto| {
                    let s = table.iter().find(|e| e.proto == t.name && e.names.iter().any(|n| n == s))?;
                    Some(Tuple { socktype: t.socktype, protocol: t.protocol_for(h.protocol), port: s.port })
                };
                let found: Vec<Tuple> = match chosen {
                    Some(t) => lookup(t).into_iter().collect(),
                    None => TYPEPROTO.iter().filter(|t| !t.no_service).filter_map(lookup).collect(),
                };
                return if found.is_empty() { Err(libc::EAI_SERVICE) } else { Ok(found) };
            }
        },
    };
    Ok(match chosen {
        Some(t) => vec![Tuple { socktype: t.socktype, protocol: t.protocol_for(h.protocol), port }],
        None => TYPEPROTO
            .iter()
            .filter(|t| t.default)
            .map(|t| Tuple { socktype: t.socktype, protocol: t.protocol, port })
            .collect(),
    })
}

/// A numeric IPv6 scope (`%N` or, for link-local addresses, an
/// interface name); None if it is neither.
fn scope_id(addr: &[u8; 16], scope: &[u8], name_to_index: impl FnOnce(&[u8]) -> Option<u32>) -> Option<u32> {
    if is_link_local(addr) || is_mc_link_local(addr) {
        if let Some(i) = name_to_index(scope).filter(|&i| i != 0) {
            return Some(i);
        }
    }
    if !scope.first()?.is_ascii_digit() || !scope.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(scope).ok()?.parse::<u64>().ok().and_then(|v| u32::try_from(v).ok())
}

/// A result address: family and address (IPv6 scope alongside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Found {
    ip: Ip,
    scope: u32,
}

/// Addresses found for a name, and the canonical name if asked for.
type Resolved = (Vec<Found>, Option<Vec<u8>>);

/// How getaddrinfo ends: results (with the canonical name for the first),
/// an EAI_ code, or the host's resolver for a DNS name.
enum Answer {
    List(Vec<Found>, Option<Vec<u8>>, Vec<Tuple>),
    Fail(c_int),
    Host,
}

/// The addresses for `name` (glibc's gaih_inet after the services):
/// numeric forms, then the hosts file as glibc asks it (every line as
/// written for AF_UNSPEC; gethostbyname's lookup per family otherwise,
/// IPv4 mapped into IPv6 on request; `hosts` if already read). None: the
/// file does not know it in that family.
fn addresses(name: &[u8], h: &Hints, hosts: Option<Hosts>) -> Result<Option<Resolved>, c_int> {
    let canon = |c: &[u8]| (h.flags & libc::AI_CANONNAME != 0).then(|| c.to_vec());
    if let Some(a) = aton_exact(name) {
        let ip = match h.family {
            libc::AF_UNSPEC | libc::AF_INET => Ip::V4(a),
            libc::AF_INET6 if h.flags & libc::AI_V4MAPPED != 0 => Ip::V6(mapped(a)),
            _ => return Err(EAI_ADDRFAMILY),
        };
        return Ok(Some((vec![Found { ip, scope: 0 }], canon(name))));
    }
    let (text, scope) = split_scope(name);
    if let Some(a) = pton6(text) {
        let ip = match h.family {
            libc::AF_UNSPEC | libc::AF_INET6 => Ip::V6(a),
            libc::AF_INET if is_mapped(&a) => Ip::V4([a[12], a[13], a[14], a[15]]),
            _ => return Err(EAI_ADDRFAMILY),
        };
        let scope = match scope {
            None => 0,
            Some(s) => scope_id(&a, s, |n| ifaddrs::name_to_index(n).ok()).ok_or(libc::EAI_NONAME)?,
        };
        return Ok(Some((vec![Found { ip, scope }], canon(name))));
    }
    if h.flags & libc::AI_NUMERICHOST != 0 {
        return Err(libc::EAI_NONAME);
    }
    let hosts = hosts.unwrap_or_else(Hosts::load);
    let v4mapped = h.flags & libc::AI_V4MAPPED != 0;
    let (mut found, official, got_ipv6) = match h.family {
        libc::AF_UNSPEC => {
            let Some((all, official)) = hosts.all(name) else { return Ok(None) };
            (all, official, false)
        }
        libc::AF_INET => {
            let Some(e) = hosts.by_name(name, libc::AF_INET) else { return Ok(None) };
            (e.addrs, e.name, false)
        }
        _ => {
            let v6 = hosts.by_name(name, libc::AF_INET6);
            let got_ipv6 = v6.is_some();
            let v4 = (v4mapped && (h.flags & libc::AI_ALL != 0 || !got_ipv6))
                .then(|| hosts.by_name(name, libc::AF_INET))
                .flatten();
            let official = match (&v6, &v4) {
                (Some(e), _) | (None, Some(e)) => e.name.clone(),
                (None, None) => return Ok(None),
            };
            let as_v6 = |ip: Ip| match ip {
                Ip::V4(a) => Ip::V6(mapped(a)),
                ip => ip,
            };
            let addrs = v6.into_iter().chain(v4).flat_map(|e| e.addrs).map(as_v6).collect();
            (addrs, official, got_ipv6)
        }
    };
    // Mapped addresses go when real IPv6 ones exist, unless AI_ALL.
    if got_ipv6 && h.flags & (libc::AI_V4MAPPED | libc::AI_ALL) == libc::AI_V4MAPPED {
        found.retain(|ip| !matches!(ip, Ip::V6(a) if is_mapped(a)));
    }
    found.sort_by_key(rank);
    Ok(Some((found.into_iter().map(|ip| Found { ip, scope: 0 }).collect(), canon(&official))))
}

/// An IPv6 text and its `%scope`, if any.
fn split_scope(name: &[u8]) -> (&[u8], Option<&[u8]>) {
    match name.iter().position(|&c| c == b'%') {
        Some(p) => (&name[..p], Some(&name[p + 1..])),
        None => (name, None),
    }
}

fn is_numeric(name: &[u8]) -> bool {
    aton_exact(name).is_some() || pton6(split_scope(name).0).is_some()
}

/// getaddrinfo's answer for a hijacked program.
fn answer(node: Option<&[u8]>, service: Option<&[u8]>, h: Option<Hints>) -> Answer {
    let (node, service) = (node.filter(|s| *s != b"*"), service.filter(|s| *s != b"*"));
    if node.is_none() && service.is_none() {
        return Answer::Fail(libc::EAI_NONAME);
    }
    let mut h = h.unwrap_or(Hints {
        flags: libc::AI_V4MAPPED | libc::AI_ADDRCONFIG,
        family: libc::AF_UNSPEC,
        socktype: 0,
        protocol: 0,
    });
    if h.flags & !AI_KNOWN != 0 || (h.flags & libc::AI_CANONNAME != 0 && node.is_none()) {
        return Answer::Fail(libc::EAI_BADFLAGS);
    }
    if ![libc::AF_UNSPEC, libc::AF_INET, libc::AF_INET6].contains(&h.family) {
        return Answer::Fail(libc::EAI_FAMILY);
    }
    // IDN names need the host's libidn2: theirs to resolve.
    if node.is_some_and(|n| !n.is_ascii()) {
        return Answer::Host;
    }
    // A name neither numeric nor in the hosts file is a DNS name, the
    // host's: decided before AI_ADDRCONFIG starts a kernel for nothing.
    let hosts = match node {
        Some(n) if !is_numeric(n) && h.flags & libc::AI_NUMERICHOST == 0 => {
            let hosts = Hosts::load();
            if hosts.named(n).next().is_none() {
                return Answer::Host;
            }
            Some(hosts)
        }
        _ => None,
    };
    if h.flags & libc::AI_ADDRCONFIG != 0 {
        // glibc's __check_pf: loopback addresses do not count, and
        // when the interfaces cannot be read, both families do.
        let (v4, v6) = ifaddrs::configured_families().unwrap_or((true, true));
        match h.family {
            libc::AF_UNSPEC if v4 != v6 => h.family = if v4 { libc::AF_INET } else { libc::AF_INET6 },
            libc::AF_INET if !v4 => return Answer::Fail(libc::EAI_NONAME),
            libc::AF_INET6 if !v6 => return Answer::Fail(libc::EAI_NONAME),
            _ => {}
        }
    }
    let service = service.filter(|s| !s.is_empty());
    if service.is_some_and(|s| service_number(s).is_none()) && h.flags & libc::AI_NUMERICSERV != 0 {
        return Answer::Fail(libc::EAI_NONAME);
    }
    let tuples = match tuples(service, &h, services) {
        Ok(t) => t,
        Err(e) => return Answer::Fail(e),
    };
    let Some(node) = node else {
        return Answer::List(unnamed(&h), None, tuples);
    };
    match addresses(node, &h, hosts) {
        Ok(Some((found, canon))) => Answer::List(found, canon, tuples),
        Ok(None) => Answer::Host,
        Err(e) => Answer::Fail(e),
    }
}

/// The addresses for no node: the wildcard with AI_PASSIVE, loopback
/// otherwise. For both families glibc's sort puts ::1 first but 0.0.0.0
/// before :: (its label rule: only 0.0.0.0 shares a label with its source
/// address).
fn unnamed(h: &Hints) -> Vec<Found> {
    let passive = h.flags & libc::AI_PASSIVE != 0;
    let v4 = Found { ip: Ip::V4(if passive { [0; 4] } else { [127, 0, 0, 1] }), scope: 0 };
    let v6 = Found { ip: Ip::V6(if passive { [0; 16] } else { LOOPBACK6 }), scope: 0 };
    match (h.family, passive) {
        (libc::AF_INET, _) => vec![v4],
        (libc::AF_INET6, _) => vec![v6],
        (_, true) => vec![v4, v6],
        (_, false) => vec![v6, v4],
    }
}

/// The list in glibc's layout: address-major, tuple-minor; the flags as
/// asked; the canonical name on the first entry.
fn build_list(found: &[Found], canon: Option<&[u8]>, tuples: &[Tuple], flags: c_int) -> Result<*mut addrinfo, c_int> {
    let mut head: *mut addrinfo = std::ptr::null_mut();
    let mut tail: *mut *mut addrinfo = &mut head;
    let mut canon = canon;
    for f in found {
        for t in tuples {
            let (family, len) = match f.ip {
                Ip::V4(_) => (libc::AF_INET, size_of::<libc::sockaddr_in>()),
                Ip::V6(_) => (libc::AF_INET6, size_of::<libc::sockaddr_in6>()),
            };
            // SAFETY: a fresh block for the node and its address.
            let ai = unsafe { libc::calloc(1, size_of::<addrinfo>() + len) }.cast::<addrinfo>();
            if ai.is_null() {
                // SAFETY: the nodes made so far.
                unsafe { freeaddrinfo(head) };
                return Err(libc::EAI_MEMORY);
            }
            let name = match canon.take() {
                // SAFETY: a copy in its own block, as glibc's strdup.
                Some(c) => unsafe { libc::strndup(c.as_ptr().cast(), c.len()) },
                None => std::ptr::null_mut(),
            };
            // SAFETY: the node just made; its address follows it.
            unsafe {
                let sa = ai.add(1).cast::<u8>();
                match f.ip {
                    Ip::V4(a) => {
                        let sin = sa.cast::<libc::sockaddr_in>();
                        (*sin).sin_family = libc::AF_INET as u16;
                        (*sin).sin_port = t.port.to_be();
                        (*sin).sin_addr.s_addr = u32::from_ne_bytes(a);
                    }
                    Ip::V6(a) => {
                        let sin6 = sa.cast::<libc::sockaddr_in6>();
                        (*sin6).sin6_family = libc::AF_INET6 as u16;
                        (*sin6).sin6_port = t.port.to_be();
                        (*sin6).sin6_addr.s6_addr = a;
                        (*sin6).sin6_scope_id = f.scope;
                    }
                }
                *ai = addrinfo {
                    ai_flags: flags,
                    ai_family: family,
                    ai_socktype: t.socktype,
                    ai_protocol: t.protocol,
                    ai_addrlen: len as socklen_t,
                    ai_addr: sa.cast(),
                    ai_canonname: name,
                    ai_next: std::ptr::null_mut(),
                };
                *tail = ai;
                tail = &raw mut (*ai).ai_next;
            }
        }
    }
    Ok(head)
}

/// A C string argument, or None for NULL.
///
/// # Safety
/// `p` is NULL or NUL-terminated.
unsafe fn arg<'a>(p: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: as the caller promises.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// A value in the caller's memory, or EFAULT.
fn read<T: Copy>(p: *const T) -> Result<T, Errno> {
    let mut v = std::mem::MaybeUninit::<T>::zeroed();
    // SAFETY: the bytes of a zeroed plain C struct, overwritten whole.
    let bytes = unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), size_of::<T>()) };
    SelfMemory.read(UserAddr(p as u64), bytes)?;
    // SAFETY: every byte was written; the C struct has no invalid values.
    Ok(unsafe { v.assume_init() })
}

/// An EAI_SYSTEM failure with errno `e`.
fn system(e: Errno) -> c_int {
    host::set_errno(e.0);
    libc::EAI_SYSTEM
}

crate::hook! {
    Names fn getaddrinfo(
        node: *const c_char,
        service: *const c_char,
        hints: *const addrinfo,
        res: *mut *mut addrinfo,
    ) -> c_int
        [panic = libc::EAI_SYSTEM];
    {
        if !hijacked() {
            return unsafe { host!(node, service, hints, res) };
        }
        let h = match hints.is_null() {
            true => None,
            false => match read(hints) {
                Ok(a) => {
                    Some(Hints {
                        flags: a.ai_flags,
                        family: a.ai_family,
                        socktype: a.ai_socktype,
                        protocol: a.ai_protocol,
                    })
                }
                Err(e) => return system(e),
            },
        };
        let saved = host::errno();
        // SAFETY: the caller's strings.
        let got = std::panic::catch_unwind(|| answer(unsafe { arg(node) }, unsafe { arg(service) }, h));
        let (found, canon, tuples) = match got {
            Ok(Answer::Host) => return unsafe { host!(node, service, hints, res) },
            Ok(Answer::Fail(e)) => {
                host::set_errno(saved);
                return e;
            }
            Ok(Answer::List(f, c, t)) => (f, c, t),
            Err(_) => return system(Errno(libc::EIO)),
        };
        host::set_errno(saved);
        let flags = h.map_or(libc::AI_V4MAPPED | libc::AI_ADDRCONFIG, |h| h.flags);
        let list = match build_list(&found, canon.as_deref(), &tuples, flags) {
            Ok(l) => l,
            Err(e) => return e,
        };
        if let Err(e) = SelfMemory.write(UserAddr(res as u64), &(list as u64).to_ne_bytes()) {
            // SAFETY: the list made above, never shown.
            unsafe { freeaddrinfo(list) };
            return system(e);
        }
        0
    }

    /// Frees a list as glibc's freeaddrinfo does; ours have its layout, so
    /// lists from either library go the same way.
    Names fn freeaddrinfo(ai: *mut addrinfo);
    {
        let mut ai = ai;
        while !ai.is_null() {
            // SAFETY: a node of a getaddrinfo list, as the caller promises.
            unsafe {
                let next = (*ai).ai_next;
                libc::free((*ai).ai_canonname.cast());
                libc::free(ai.cast());
                ai = next;
            }
        }
    }
}

// ---- getnameinfo -----------------------------------------------------------

/// The NI_NOFQDN domain, found as glibc's nrl_domainname finds it: from
/// the name of localhost, the host name, or the name of 127.0.0.1.
fn own_domain(hosts: &Hosts) -> Option<Vec<u8>> {
    let after_dot = |n: &[u8]| n.iter().position(|&c| c == b'.').map(|p| n[p + 1..].to_vec());
    if let Some(d) = hosts.by_name(b"localhost", libc::AF_INET).and_then(|e| after_dot(&e.name)) {
        return Some(d);
    }
    let mut buf = [0u8; 256];
    // SAFETY: a buffer of its length.
    unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let hostname = CStr::from_bytes_until_nul(&buf).map_or(&[][..], |c| c.to_bytes());
    after_dot(hostname)
        .or_else(|| hosts.by_name(hostname, libc::AF_INET).and_then(|e| after_dot(&e.name)))
        .or_else(|| hosts.by_addr(Ip::V4([127, 0, 0, 1])).and_then(after_dot))
}

/// The host part: a name from the hosts file unless NI_NUMERICHOST, else
/// the numeric form (with `%scope`) unless NI_NAMEREQD.
fn host_part(ip: Ip, scope: u32, flags: c_int) -> Result<Vec<u8>, c_int> {
    if flags & libc::NI_NUMERICHOST == 0 {
        let hosts = Hosts::load();
        if let Some(name) = hosts.by_addr(ip) {
            let mut name = name.to_vec();
            if flags & libc::NI_NOFQDN != 0 {
                if let Some(d) = own_domain(&hosts) {
                    let at = name.windows(d.len().max(1)).position(|w| w == d.as_slice());
                    if let Some(p) = at.filter(|&p| p > 0 && name[p - 1] == b'.') {
                        name.truncate(p - 1);
                    }
                }
            }
            return Ok(name);
        }
    }
    if flags & libc::NI_NAMEREQD != 0 {
        return Err(libc::EAI_NONAME);
    }
    Ok(match ip {
        Ip::V4(a) => ntop4(a).into_bytes(),
        Ip::V6(a) => {
            let mut s = ntop6(a);
            if scope != 0 {
                let named =
                    (is_link_local(&a) || is_mc_link_local(&a)).then(|| ifaddrs::index_to_name(scope).ok()).flatten();
                match named {
                    Some(n) => s.push_str(&format!("%{}", String::from_utf8_lossy(&n))),
                    None => s.push_str(&format!("%{scope}")),
                }
            }
            s.into_bytes()
        }
    })
}

/// The service part: a name from the services file unless
/// NI_NUMERICSERV, else the number.
fn serv_part(port: u16, flags: c_int) -> Vec<u8> {
    if flags & libc::NI_NUMERICSERV == 0 {
        let proto: &[u8] = if flags & libc::NI_DGRAM != 0 { b"udp" } else { b"tcp" };
        if let Some(s) = services().into_iter().find(|s| s.port == port && s.proto == proto) {
            return s.names[0].clone();
        }
    }
    port.to_string().into_bytes()
}

/// Copies `s` with its NUL into the caller's buffer of `len` bytes;
/// EAI_OVERFLOW if it does not fit.
fn give(s: &[u8], buf: *mut c_char, len: socklen_t) -> Result<(), c_int> {
    if s.len() >= len as usize {
        return Err(libc::EAI_OVERFLOW);
    }
    let mut v = s.to_vec();
    v.push(0);
    SelfMemory.write(UserAddr(buf as u64), &v).map_err(system)
}

fn nameinfo(
    sa: *const sockaddr,
    salen: socklen_t,
    host: (*mut c_char, socklen_t),
    serv: (*mut c_char, socklen_t),
    flags: c_int,
) -> Result<(), c_int> {
    let (ip, port, scope) = if salen as usize >= size_of::<libc::sockaddr_in6>()
        && read(sa).map_err(system)?.sa_family == libc::AF_INET6 as u16
    {
        let s = read(sa.cast::<libc::sockaddr_in6>()).map_err(system)?;
        (Ip::V6(s.sin6_addr.s6_addr), u16::from_be(s.sin6_port), s.sin6_scope_id)
    } else {
        let s = read(sa.cast::<libc::sockaddr_in>()).map_err(system)?;
        (Ip::V4(s.sin_addr.s_addr.to_ne_bytes()), u16::from_be(s.sin_port), 0)
    };
    if !host.0.is_null() && host.1 > 0 {
        give(&host_part(ip, scope, flags)?, host.0, host.1)?;
    }
    if !serv.0.is_null() && serv.1 > 0 {
        give(&serv_part(port, flags), serv.0, serv.1)?;
    }
    Ok(())
}

crate::hook! {
    Names fn getnameinfo(
        sa: *const sockaddr,
        salen: socklen_t,
        host: *mut c_char,
        hostlen: socklen_t,
        serv: *mut c_char,
        servlen: socklen_t,
        flags: c_int,
    ) -> c_int
        [panic = libc::EAI_SYSTEM];
    {
        let family = (hijacked() && !sa.is_null() && salen as usize >= size_of::<libc::sa_family_t>())
            .then(|| read(sa.cast::<libc::sa_family_t>()).ok())
            .flatten()
            .map(c_int::from);
        let inet = match family {
            Some(libc::AF_INET) => size_of::<libc::sockaddr_in>(),
            Some(libc::AF_INET6) => size_of::<libc::sockaddr_in6>(),
            _ => return unsafe { host!(sa, salen, host, hostlen, serv, servlen, flags) },
        };
        if flags & !NI_KNOWN != 0 {
            return libc::EAI_BADFLAGS;
        }
        if flags & libc::NI_NAMEREQD != 0 && host.is_null() && serv.is_null() {
            return libc::EAI_NONAME;
        }
        if (salen as usize) < inet {
            return libc::EAI_FAMILY;
        }
        let saved = host::errno();
        // errno is the program's unless the answer is EAI_SYSTEM.
        let r = match std::panic::catch_unwind(|| nameinfo(sa, salen, (host, hostlen), (serv, servlen), flags)) {
            Ok(r) => r.err().unwrap_or(0),
            Err(_) => return system(Errno(libc::EIO)),
        };
        if r != libc::EAI_SYSTEM {
            host::set_errno(saved);
        }
        r
    }
}

// ---- gethostbyname ----------------------------------------------------------

/// What a gethostbyname lookup found: an entry, "not found" (answered
/// here, HOST_NOT_FOUND), or a name only DNS can answer.
enum HostAnswer {
    Found(Entry),
    NotFound,
    Host,
}

/// glibc's gethostbyname2 for family `af` (INET or INET6): numeric names
/// as __nss_hostname_digits_dots treats them, then the hosts file.
fn host_answer(name: &[u8], af: c_int) -> HostAnswer {
    let numeric = |addr: Option<Ip>| match addr {
        Some(a) => HostAnswer::Found(Entry { name: name.to_vec(), aliases: Vec::new(), addrs: vec![a] }),
        None => HostAnswer::NotFound,
    };
    let first = name.first().copied().unwrap_or(0);
    let dotted_end = name.last() == Some(&b'.');
    if first.is_ascii_digit() && !dotted_end && name.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        return numeric(match af {
            libc::AF_INET => aton_exact(name).map(Ip::V4),
            _ => pton6(name).map(Ip::V6),
        });
    }
    if (first.is_ascii_hexdigit() && name.contains(&b':')) || first == b':' {
        if af == libc::AF_INET {
            return HostAnswer::NotFound;
        }
        if !dotted_end && name.iter().all(|c| c.is_ascii_hexdigit() || *c == b':' || *c == b'.') {
            return numeric(pton6(name).map(Ip::V6));
        }
    }
    match Hosts::load().by_name(name, af) {
        Some(e) => HostAnswer::Found(e),
        None => HostAnswer::Host,
    }
}

/// Lays `e` out in the caller's buffer as glibc's gethostbyname_r does
/// (addresses, the two pointer arrays, then the strings); ERANGE if it
/// does not fit.
///
/// # Safety
/// `ret` is a hostent and `buf` holds `buflen` writable bytes.
unsafe fn lay_out(e: &Entry, af: c_int, ret: *mut Hostent, buf: *mut c_char, buflen: usize) -> Result<(), c_int> {
    let alen = if af == libc::AF_INET { 4 } else { 16 };
    let ptr = size_of::<*mut c_char>();
    let pad = buf.align_offset(ptr);
    let addrs_at = pad;
    let addr_list_at = (addrs_at + alen * e.addrs.len()).next_multiple_of(ptr);
    let aliases_at = addr_list_at + ptr * (e.addrs.len() + 1);
    let strings_at = aliases_at + ptr * (e.aliases.len() + 1);
    let need = strings_at + e.name.len() + 1 + e.aliases.iter().map(|a| a.len() + 1).sum::<usize>();
    if need > buflen {
        return Err(libc::ERANGE);
    }
    // SAFETY: every write below is inside buf[..need], checked above, at
    // offsets aligned for what is written.
    unsafe {
        let base = buf.cast::<u8>();
        let addr_list = base.add(addr_list_at).cast::<*mut c_char>();
        for (i, a) in e.addrs.iter().enumerate() {
            let at = base.add(addrs_at + alen * i);
            match a {
                Ip::V4(b) => std::ptr::copy_nonoverlapping(b.as_ptr(), at, 4),
                Ip::V6(b) => std::ptr::copy_nonoverlapping(b.as_ptr(), at, 16),
            }
            *addr_list.add(i) = at.cast();
        }
        *addr_list.add(e.addrs.len()) = std::ptr::null_mut();
        let mut s = base.add(strings_at);
        let mut put_str = |v: &[u8]| {
            std::ptr::copy_nonoverlapping(v.as_ptr(), s, v.len());
            *s.add(v.len()) = 0;
            let p = s;
            s = s.add(v.len() + 1);
            p.cast::<c_char>()
        };
        let name = put_str(&e.name);
        let aliases = base.add(aliases_at).cast::<*mut c_char>();
        for (i, a) in e.aliases.iter().enumerate() {
            *aliases.add(i) = put_str(a);
        }
        *aliases.add(e.aliases.len()) = std::ptr::null_mut();
        *ret = Hostent {
            h_name: name,
            h_aliases: aliases,
            h_addrtype: af,
            h_length: alen as c_int,
            h_addr_list: addr_list,
        };
    }
    Ok(())
}

/// gethostbyname2_r for a hijacked program; None for a name the host
/// must resolve.
///
/// # Safety
/// As for gethostbyname2_r.
unsafe fn by_name_r(
    name: &[u8],
    af: c_int,
    ret: *mut Hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut Hostent,
    h_errnop: *mut c_int,
) -> Option<c_int> {
    // glibc checks the buffer against its numeric layout first, for any
    // name that might be numeric.
    let first = name.first().copied().unwrap_or(0);
    let numeric_room = 16 + 3 * size_of::<*mut c_char>() + name.len() + 1;
    let answer = match (first.is_ascii_hexdigit() || first == b':') && buflen < numeric_room {
        true => Err(libc::ERANGE),
        false => Ok(host_answer(name, af)),
    };
    let e = match answer {
        Err(err) => return Some(unsafe { failed(result, h_errnop, err) }),
        Ok(HostAnswer::Host) => return None,
        Ok(HostAnswer::NotFound) => {
            // SAFETY: the caller's out-parameters.
            unsafe {
                *result = std::ptr::null_mut();
                *h_errnop = HOST_NOT_FOUND;
            }
            host::set_errno(0);
            return Some(0);
        }
        Ok(HostAnswer::Found(e)) => e,
    };
    // SAFETY: the caller's buffer and out-parameters.
    let r = match unsafe { lay_out(&e, af, ret, buf, buflen) } {
        Ok(()) => {
            unsafe {
                *result = ret;
                *h_errnop = 0;
            }
            0
        }
        Err(err) => unsafe { failed(result, h_errnop, err) },
    };
    host::set_errno(r);
    Some(r)
}

/// A gethostbyname_r failure `err` (ERANGE: a buffer too small).
///
/// # Safety
/// The caller's out-parameters.
unsafe fn failed(result: *mut *mut Hostent, h_errnop: *mut c_int, err: c_int) -> c_int {
    unsafe {
        *result = std::ptr::null_mut();
        *h_errnop = NETDB_INTERNAL;
    }
    host::set_errno(err);
    err
}

fn inet_family(af: c_int) -> bool {
    af == libc::AF_INET || af == libc::AF_INET6
}

crate::hook! {
    Names fn gethostbyname2_r(
        name: *const c_char,
        af: c_int,
        ret: *mut Hostent,
        buf: *mut c_char,
        buflen: size_t,
        result: *mut *mut Hostent,
        h_errnop: *mut c_int,
    ) -> c_int
        [panic = libc::EIO];
    {
        if hijacked() && inet_family(af) && !name.is_null() {
            // SAFETY: the caller's string and buffers.
            let name_bytes = unsafe { CStr::from_ptr(name) }.to_bytes();
            let got =
                std::panic::catch_unwind(|| unsafe { by_name_r(name_bytes, af, ret, buf, buflen, result, h_errnop) });
            if let Ok(Some(r)) = got {
                return r;
            }
        }
        unsafe { host!(name, af, ret, buf, buflen, result, h_errnop) }
    }

    Names fn gethostbyname_r(
        name: *const c_char,
        ret: *mut Hostent,
        buf: *mut c_char,
        buflen: size_t,
        result: *mut *mut Hostent,
        h_errnop: *mut c_int,
    ) -> c_int
        [panic = libc::EIO];
    {
        if hijacked() && !name.is_null() {
            // SAFETY: the caller's string and buffers.
            let name_bytes = unsafe { CStr::from_ptr(name) }.to_bytes();
            let got = std::panic::catch_unwind(|| unsafe {
                by_name_r(name_bytes, libc::AF_INET, ret, buf, buflen, result, h_errnop)
            });
            if let Ok(Some(r)) = got {
                return r;
            }
        }
        unsafe { host!(name, ret, buf, buflen, result, h_errnop) }
    }
}

/// The non-reentrant entries' result: this thread's entry and buffer,
/// valid until its next call.
struct Static {
    ent: Hostent,
    buf: Vec<u8>,
}

thread_local! {
    static STATIC: std::cell::UnsafeCell<Static> = std::cell::UnsafeCell::new(Static {
        ent: Hostent { h_name: std::ptr::null_mut(), h_aliases: std::ptr::null_mut(), h_addrtype: 0, h_length: 0, h_addr_list: std::ptr::null_mut() },
        buf: vec![0; 1024],
    });
}

/// gethostbyname2 into this thread's storage, as glibc's: errno is left
/// as it was and h_errno only changes on a failure. None for the host's
/// names.
fn by_name_static(name: &[u8], af: c_int) -> Option<*mut Hostent> {
    let saved = host::errno();
    let got = STATIC.with(|cell| {
        // SAFETY: this thread's storage; nothing else holds a reference.
        let st = unsafe { &mut *cell.get() };
        loop {
            let (mut result, mut herr) = (std::ptr::null_mut(), 0);
            let ret = &raw mut st.ent;
            // SAFETY: our own entry and buffer.
            let r =
                unsafe { by_name_r(name, af, ret, st.buf.as_mut_ptr().cast(), st.buf.len(), &mut result, &mut herr) }?;
            if r == libc::ERANGE {
                let n = st.buf.len() * 2;
                st.buf.resize(n, 0);
                continue;
            }
            if herr != 0 {
                // SAFETY: glibc's thread-local h_errno.
                unsafe { *__h_errno_location() = herr };
            }
            return Some(result);
        }
    });
    host::set_errno(saved);
    got
}

crate::hook! {
    Names fn gethostbyname2(name: *const c_char, af: c_int) -> *mut Hostent;
    {
        if hijacked() && inet_family(af) && !name.is_null() {
            // SAFETY: the caller's string.
            let name_bytes = unsafe { CStr::from_ptr(name) }.to_bytes();
            if let Ok(Some(h)) = std::panic::catch_unwind(|| by_name_static(name_bytes, af)) {
                return h;
            }
        }
        unsafe { host!(name, af) }
    }

    Names fn gethostbyname(name: *const c_char) -> *mut Hostent;
    {
        if hijacked() && !name.is_null() {
            // SAFETY: the caller's string.
            let name_bytes = unsafe { CStr::from_ptr(name) }.to_bytes();
            if let Ok(Some(h)) = std::panic::catch_unwind(|| by_name_static(name_bytes, libc::AF_INET)) {
                return h;
            }
        }
        unsafe { host!(name) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aton_takes_every_inet_aton_form() {
        for (s, a) in [
            ("127.0.0.1", [127, 0, 0, 1]),
            ("127.1", [127, 0, 0, 1]),
            ("0x7f.1", [127, 0, 0, 1]),
            ("2130706433", [127, 0, 0, 1]),
            ("127.0.0.01", [127, 0, 0, 1]),
            ("010.0.0.1", [8, 0, 0, 1]),
            ("1.2.65535", [1, 2, 255, 255]),
            ("0", [0, 0, 0, 0]),
            ("4294967295", [255, 255, 255, 255]),
        ] {
            assert_eq!(aton_exact(s.as_bytes()), Some(a), "{s}");
        }
        for s in [
            "",
            "08.1.1.1",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.65536",
            "1.2.3.4 ",
            " 1.2.3.4",
            "1..2",
            "0x",
            "1.2.3.",
            "4294967296",
            "a.b.c.d",
        ] {
            assert_eq!(aton_exact(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn pton_is_strict() {
        assert_eq!(pton4(b"10.1.1.1"), Some([10, 1, 1, 1]));
        for s in ["010.1.1.1", "1.2.3", "1.2.3.4.5", "256.0.0.0", "1.2.3.4 "] {
            assert_eq!(pton4(s.as_bytes()), None, "{s}");
        }
        let v6 = |s: &str| pton6(s.as_bytes()).map(|a| std::net::Ipv6Addr::from(a).to_string());
        assert_eq!(v6("::1").as_deref(), Some("::1"));
        assert_eq!(v6("::").as_deref(), Some("::"));
        assert_eq!(v6("fe80::1").as_deref(), Some("fe80::1"));
        assert_eq!(v6("1::1.2.3.4").as_deref(), Some("1::102:304"));
        assert_eq!(v6("::ffff:1.2.3.4").as_deref(), Some("::ffff:1.2.3.4"));
        assert_eq!(v6("1:2:3:4:5:6:7::").as_deref(), Some("1:2:3:4:5:6:7:0"));
        for s in [
            "",
            ":",
            ":1",
            "1:",
            "1:::2",
            "1::2::3",
            "12345::",
            "1:2:3:4:5:6:7:8::",
            "1:2:3:4:5:6:7:8:9",
            "::1%lo",
            "::1.2.3",
        ] {
            assert_eq!(pton6(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn ntop6_prints_as_glibc() {
        for s in [
            "::1",
            "::",
            "fe80::fc:ff:fe00:1",
            "::ffff:10.1.1.1",
            "::1.2.3.4",
            "1::",
            "1:0:0:2::3",
            "1:0:2:0:3:0:4:0",
            "2001:db8::1",
        ] {
            let a = pton6(s.as_bytes()).unwrap();
            assert_eq!(ntop6(a), s);
        }
        assert_eq!(ntop6(pton6(b"0:0:0:0:0:0:0:5").unwrap()), "::5");
    }

    #[test]
    fn scopes_are_names_or_numbers() {
        let ll = pton6(b"fe80::1").unwrap();
        let global = pton6(b"2001:db8::1").unwrap();
        let lo0 = |n: &[u8]| (n == b"lo0").then_some(1);
        assert_eq!(scope_id(&ll, b"lo0", lo0), Some(1));
        assert_eq!(scope_id(&ll, b"7", lo0), Some(7));
        assert_eq!(scope_id(&ll, b"eth9", lo0), None);
        assert_eq!(scope_id(&ll, b"", lo0), None);
        // Names count for link-local addresses only.
        assert_eq!(scope_id(&global, b"lo0", lo0), None);
        assert_eq!(scope_id(&global, b"5", lo0), Some(5));
        assert_eq!(scope_id(&global, b"4294967296", lo0), None);
    }

    #[test]
    fn hosts_lines() {
        let text = b"# comment\n127.0.0.1\tlocalhost\n::1 localhost ip6-localhost # tail\n\nbogus name\n10.0.0.1\n010.1.1.1 lead\nfe80::1%eth0 scoped\n10.1.1.1 dual Dual-Alias\n";
        let lines = parse_hosts(text);
        assert_eq!(
            lines,
            vec![
                HostLine { addr: Ip::V4([127, 0, 0, 1]), names: vec![b"localhost".to_vec()] },
                HostLine { addr: Ip::V6(LOOPBACK6), names: vec![b"localhost".to_vec(), b"ip6-localhost".to_vec()] },
                HostLine { addr: Ip::V4([10, 1, 1, 1]), names: vec![b"dual".to_vec(), b"Dual-Alias".to_vec()] },
            ]
        );
        assert!(lines[2].is_named(b"DUAL-alias"));
        // For an IPv4 query ::1 reads as 127.0.0.1; for IPv6 IPv4 lines
        // count only as mapped addresses.
        assert_eq!(lines[1].addr_as(libc::AF_INET, false), Some(Ip::V4([127, 0, 0, 1])));
        assert_eq!(lines[0].addr_as(libc::AF_INET6, false), None);
        assert_eq!(lines[0].addr_as(libc::AF_INET6, true), Some(Ip::V6(mapped([127, 0, 0, 1]))));
    }

    #[test]
    fn hosts_lookups() {
        let lines = parse_hosts(b"192.0.2.7 multi m1\n::1 multi\n192.0.2.8 multi m2\n192.0.2.9 other\n");
        let multi = Hosts { lines: lines.clone(), multi: true };
        let single = Hosts { lines, multi: false };
        let (all, canon) = multi.all(b"MULTI").unwrap();
        assert_eq!(all, vec![Ip::V4([192, 0, 2, 7]), Ip::V6(LOOPBACK6), Ip::V4([192, 0, 2, 8])]);
        assert_eq!(canon, b"multi");
        assert_eq!(single.all(b"m2").unwrap().0, vec![Ip::V4([192, 0, 2, 8])]);
        assert!(multi.all(b"nosuch").is_none());
        let e = multi.by_name(b"multi", libc::AF_INET).unwrap();
        assert_eq!(e.addrs, vec![Ip::V4([192, 0, 2, 7]), Ip::V4([127, 0, 0, 1]), Ip::V4([192, 0, 2, 8])]);
        assert_eq!(e.aliases, vec![b"m1".to_vec(), b"m2".to_vec()]);
        assert_eq!(single.by_name(b"multi", libc::AF_INET6).unwrap().addrs, vec![Ip::V6(LOOPBACK6)]);
        assert_eq!(multi.by_addr(Ip::V4([192, 0, 2, 9])), Some(&b"other"[..]));
        assert_eq!(multi.by_addr(Ip::V4([127, 0, 0, 1])), Some(&b"multi"[..]));
        assert_eq!(multi.by_addr(Ip::V6(mapped([192, 0, 2, 9]))), None);
    }

    #[test]
    fn host_conf_multi() {
        assert!(parse_multi(b"# x\nmulti on\n", None));
        assert!(!parse_multi(b"multi on\nmulti off\n", None));
        assert!(!parse_multi(b"", None));
        assert!(!parse_multi(b"MULTI On\n", Some(b"off")));
        assert!(parse_multi(b"", Some(b"ON")));
    }

    #[test]
    fn services_and_numbers() {
        let table = parse_services(b"http\t\t80/tcp\t\twww # web\ndomain 53/tcp\ndomain 53/udp\nbad x/tcp\n");
        assert_eq!(table.len(), 3);
        assert_eq!(
            table[0],
            Service { names: vec![b"http".to_vec(), b"www".to_vec()], port: 80, proto: b"tcp".to_vec() }
        );
        for (s, n) in [("80", Some(80)), (" 22", Some(22)), ("+22", Some(22)), ("65536", Some(65536)), ("-1", Some(-1))]
        {
            assert_eq!(service_number(s.as_bytes()), n, "{s}");
        }
        for s in ["0x10", "http", "22 ", "", "-", "4294967295x"] {
            assert_eq!(service_number(s.as_bytes()), None, "{s:?}");
        }
        assert_eq!(service_number(b"4294967295"), Some(-1));
        let h = |socktype, protocol| Hints { flags: 0, family: 0, socktype, protocol };
        let t = |s: &str, h: Hints| tuples(Some(s.as_bytes()), &h, || table.clone());
        let tcp = Tuple { socktype: libc::SOCK_STREAM, protocol: libc::IPPROTO_TCP, port: 53 };
        let udp = Tuple { socktype: libc::SOCK_DGRAM, protocol: libc::IPPROTO_UDP, port: 53 };
        assert_eq!(t("domain", h(0, 0)), Ok(vec![tcp, udp]));
        assert_eq!(t("domain", h(0, libc::IPPROTO_UDP)), Ok(vec![udp]));
        assert_eq!(t("www", h(libc::SOCK_DGRAM, 0)), Err(libc::EAI_SERVICE));
        assert_eq!(t("80", h(libc::SOCK_RAW, 0)), Err(libc::EAI_SERVICE));
        assert_eq!(t("80", h(99, 0)), Err(libc::EAI_SOCKTYPE));
        assert_eq!(t("-1", h(0, 0)), Err(libc::EAI_SERVICE));
        let all = tuples(Some(b"65616"), &h(0, 0), Vec::new).unwrap();
        assert_eq!(all.iter().map(|t| (t.socktype, t.port)).collect::<Vec<_>>(), vec![(1, 80), (2, 80), (3, 80)]);
        assert_eq!(
            tuples(None, &h(0, 99), Vec::new),
            Ok(vec![Tuple { socktype: libc::SOCK_RAW, protocol: 99, port: 0 }])
        );
    }
}
