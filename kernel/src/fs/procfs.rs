//! procfs: `/proc` as Linux tools read it, for the network — the fixed
//! tree of `/proc/net/{dev,if_inet6,route,ipv6_route,sockstat,sockstat6,tcp,tcp6,udp,udp6,
//! raw,raw6,arp,snmp}` and the writable `/proc/sys/net/...` knobs — with
//! the text of each file in Linux's exact format (headers, widths, the
//! byte order of addresses), generated from `State.net`.
//!
//! A file system sees no kernel state, so the text is made when a file
//! is opened: the kernel calls `ProcLink::opened` as it takes a reference
//! on a vnode (`State::vref`), and reads serve that snapshot, as a
//! seq_file serves what it generated. Writes to a knob are parsed and
//! checked here as Linux's `proc_dointvec` does (EINVAL for what it
//! refuses) and stored through the matching sysctl leaf when the call
//! returns (`State::apply_proc_writes`), so `/proc/sys/net/ipv4/ip_forward`
//! and `net.inet.ip.forwarding` are one variable.
//!
//! The names cannot change: creating is ENOENT, removing EPERM, as on
//! Linux; times and truncation are accepted and change nothing.

use crate::net::census::{self, tcp_rows, TCP_LISTEN};
use crate::net::iface::Iface;
use crate::net::route::Route;
use crate::net::Net;
use crate::sysctl::{self, Leaf, Value};
use crate::time::{Clock, Timespec};
use crate::vfs::mount::{MountId, MountTable, Vnode};
use crate::vfs::{Attr, DirEntry, FileSystem, FsStat, NewNode, NodeId, SetAttr, VType, NAME_MAX};
use crate::State;
use parking_lot::Mutex;
use rump_abi::native::errno::{EACCES, EINVAL, EIO, EISDIR, ENOENT, ENOTDIR, EPERM};
use rump_abi::Errno;
use std::collections::HashMap;
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Linux's PROC_SUPER_MAGIC.
const PROC_MAGIC: i64 = 0x9fa0;
/// What stat reports as a proc file's block size, as Linux does.
const BLKSIZE: u32 = 1024;
/// The most of a write Linux's proc_dointvec looks at (a page, less its NUL).
const WRITE_MAX: usize = 4095;
/// proc_get_long's buffer: a number and its sign take fewer bytes.
const NUM_MAX: usize = 21;

/// A generated file under /proc/net.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum View {
    Arp,
    Dev,
    IfInet6,
    Ipv6Route,
    Raw,
    Raw6,
    Netstat,
    Route,
    Snmp,
    Sockstat,
    Sockstat6,
    Tcp,
    Tcp6,
    Udp,
    Udp6,
}

/// A file under /proc/sys/net.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Knob {
    IpForward,
    DefaultTtl,
    /// Two integers, stored as the string of `net.inet.icmp.ping_group_range`.
    PingGroupRange,
    GcStaleTime,
    Forwarding6,
}

impl Knob {
    /// The sysctl variable writes go to.
    fn leaf(self) -> Option<&'static Leaf> {
        let name = match self {
            Knob::IpForward => "net.inet.ip.forwarding",
            Knob::DefaultTtl => "net.inet.ip.ttl",
            Knob::GcStaleTime => "net.inet.arp.keep",
            Knob::Forwarding6 => "net.inet6.ip6.forwarding",
            Knob::PingGroupRange => "net.inet.icmp.ping_group_range",
        };
        sysctl::leaf(&sysctl::resolve(name).ok()?).ok()
    }

    fn text(self, net: &Net) -> String {
        let k = &net.knobs;
        match self {
            Knob::IpForward => format!("{}\n", k.forwarding as i32),
            Knob::DefaultTtl => format!("{}\n", k.ttl),
            Knob::PingGroupRange => format!("{}\t{}\n", k.ping_group.0, k.ping_group.1),
            Knob::GcStaleTime => format!("{}\n", k.arp_keep),
            Knob::Forwarding6 => format!("{}\n", k.forwarding6 as i32),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum What {
    Dir,
    View(View),
    Knob(Knob),
}

struct Entry {
    parent: usize,
    name: &'static [u8],
    what: What,
}

const fn dir(parent: usize, name: &'static [u8]) -> Entry {
    Entry { parent, name, what: What::Dir }
}

const fn view(name: &'static [u8], v: View) -> Entry {
    Entry { parent: NET, name, what: What::View(v) }
}

const fn knob(parent: usize, name: &'static [u8], k: Knob) -> Entry {
    Entry { parent, name, what: What::Knob(k) }
}

// Positions of the directories in `TREE`.
const ROOT: usize = 0;
const NET: usize = 1;
const SYS: usize = 2;
const SYS_NET: usize = 3;
const IPV4: usize = 4;
const NEIGH: usize = 5;
const NEIGH_DEFAULT: usize = 6;
const IPV6: usize = 7;
const IPV6_CONF: usize = 8;
const IPV6_ALL: usize = 9;

/// The whole tree; node ids are positions + 1, children list in order.
static TREE: &[Entry] = &[
    dir(ROOT, b""),
    dir(ROOT, b"net"),
    dir(ROOT, b"sys"),
    dir(SYS, b"net"),
    dir(SYS_NET, b"ipv4"),
    dir(IPV4, b"neigh"),
    dir(NEIGH, b"default"),
    dir(SYS_NET, b"ipv6"),
    dir(IPV6, b"conf"),
    dir(IPV6_CONF, b"all"),
    view(b"arp", View::Arp),
    view(b"dev", View::Dev),
    view(b"if_inet6", View::IfInet6),
    view(b"ipv6_route", View::Ipv6Route),
    view(b"raw", View::Raw),
    view(b"raw6", View::Raw6),
    view(b"netstat", View::Netstat),
    view(b"route", View::Route),
    view(b"snmp", View::Snmp),
    view(b"sockstat", View::Sockstat),
    view(b"sockstat6", View::Sockstat6),
    view(b"tcp", View::Tcp),
    view(b"tcp6", View::Tcp6),
    view(b"udp", View::Udp),
    view(b"udp6", View::Udp6),
    knob(IPV4, b"ip_default_ttl", Knob::DefaultTtl),
    knob(IPV4, b"ip_forward", Knob::IpForward),
    knob(IPV4, b"ping_group_range", Knob::PingGroupRange),
    knob(NEIGH_DEFAULT, b"gc_stale_time", Knob::GcStaleTime),
    knob(IPV6_ALL, b"forwarding", Knob::Forwarding6),
];

fn id_of(pos: usize) -> NodeId {
    pos as NodeId + 1
}

fn entry(node: NodeId) -> Result<(usize, &'static Entry), Errno> {
    let pos = usize::try_from(node.checked_sub(1).ok_or(ENOENT)?).map_err(|_| ENOENT)?;
    TREE.get(pos).map(|e| (pos, e)).ok_or(ENOENT)
}

fn children(pos: usize) -> impl Iterator<Item = (usize, &'static Entry)> {
    TREE.iter().enumerate().filter(move |(i, e)| e.parent == pos && *i != ROOT)
}

/// What the kernel and its /proc mount share: the text each file had
/// when last opened, and knob writes the kernel has yet to store.
#[derive(Default)]
struct Shared {
    texts: Mutex<HashMap<NodeId, Arc<Vec<u8>>>>,
    writes: Mutex<Vec<(&'static Leaf, Value, NodeId)>>,
    pending: AtomicBool,
}

/// The kernel's side of the /proc mount (kept in `State`).
pub struct ProcLink {
    mnt: MountId,
    shared: Arc<Shared>,
}

/// The /proc file system; see the module documentation.
pub struct Procfs {
    shared: Arc<Shared>,
    mounted: Timespec,
}

impl Procfs {
    /// Mounts /proc on `covered` and returns the kernel's link to it.
    pub fn mount(mounts: &mut MountTable, covered: Vnode, clock: Arc<dyn Clock>) -> ProcLink {
        let shared = Arc::new(Shared::default());
        let fs = Procfs { shared: shared.clone(), mounted: clock.realtime() };
        let mnt = mounts.add(Box::new(fs), Some(covered), b"/proc".to_vec());
        ProcLink { mnt, shared }
    }

    fn text(&self, node: NodeId) -> Arc<Vec<u8>> {
        self.shared.texts.lock().get(&node).cloned().unwrap_or_default()
    }
}

impl ProcLink {
    /// A reference is being taken on `vn`: if it is one of our files,
    /// its text is made now, for the reads that follow.
    pub fn opened(&self, vn: Vnode, net: &Net) {
        if vn.mnt != self.mnt {
            return;
        }
        let text = match entry(vn.node).map(|(_, e)| e.what) {
            Ok(What::View(v)) => render(v, net),
            Ok(What::Knob(k)) => k.text(net),
            _ => return,
        };
        self.shared.texts.lock().insert(vn.node, Arc::new(text.into_bytes()));
    }
}

impl State {
    /// Stores the knob writes made through /proc during the call now
    /// ending, before the kernel lock is let go.
    pub(crate) fn apply_proc_writes(&mut self) {
        // Every call passes here: a load is all it costs when nothing waits.
        if !self.procfs.shared.pending.load(Ordering::Acquire) {
            return;
        }
        self.procfs.shared.pending.store(false, Ordering::Release);
        let writes = std::mem::take(&mut *self.procfs.shared.writes.lock());
        for (leaf, v, node) in writes {
            // Checked when written; a value the variable has since come to
            // refuse is dropped, as a write racing a change would be.
            let _ = leaf.write(self, v);
            if let Ok((_, Entry { what: What::Knob(k), .. })) = entry(node) {
                let text = k.text(&self.net);
                self.procfs.shared.texts.lock().insert(node, Arc::new(text.into_bytes()));
            }
        }
    }
}

/// Parses a write as Linux's `proc_dointvec` does for one value: white
/// space, an optional `-`, digits in C's base 0 (`0x` hex, `0` octal),
/// then white space or the end, within an int. Returns the value and the
/// bytes taken, trailing white space included.
fn parse_int(data: &[u8]) -> Result<(i32, usize), Errno> {
    let data = &data[..data.len().min(WRITE_MAX)];
    let space = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = data.iter().take_while(|c| space(c)).count();
    let rest = &data[start..];
    if rest.is_empty() {
        return Err(EINVAL);
    }
    let tmp = &rest[..rest.len().min(NUM_MAX)];
    let neg = tmp[0] == b'-' && rest.len() > 1;
    let digits = &tmp[neg as usize..];
    if !digits.first().is_some_and(u8::is_ascii_digit) {
        return Err(EINVAL);
    }
    let hex = digits.len() > 2 && digits[0] == b'0' && digits[1] | 0x20 == b'x' && digits[2].is_ascii_hexdigit();
    let (radix, skip) = match (hex, digits[0]) {
        (true, _) => (16, 2),
        (false, b'0') => (8, 0),
        _ => (10, 0),
    };
    let n = digits[skip..].iter().take_while(|c| (**c as char).is_digit(radix)).count();
    let mut val: u64 = 0;
    for &c in &digits[skip..skip + n] {
        let d = (c as char).to_digit(radix).ok_or(EINVAL)?;
        val = val.checked_mul(radix as u64).and_then(|v| v.checked_add(d as u64)).ok_or(EINVAL)?;
    }
    let len = neg as usize + skip + n;
    if len >= NUM_MAX || (len < rest.len() && !matches!(rest[len], b' ' | b'\t' | b'\n')) {
        return Err(EINVAL);
    }
    let v = if neg { -i64::try_from(val).map_err(|_| EINVAL)? } else { i64::try_from(val).map_err(|_| EINVAL)? };
    let v = i32::try_from(v).map_err(|_| EINVAL)?;
    let after = &rest[len..];
    let left = after.len() - after.iter().take_while(|c| space(c)).count();
    Ok((v, data.len() - left))
}

impl FileSystem for Procfs {
    fn root(&self) -> NodeId {
        id_of(ROOT)
    }

    fn getattr(&self, node: NodeId) -> Result<Attr, Errno> {
        let (pos, e) = entry(node)?;
        let (vtype, mode, nlink) = match e.what {
            What::Dir => (VType::Dir, 0o555, 2 + children(pos).filter(|(_, c)| c.what == What::Dir).count() as u64),
            What::View(_) => (VType::Reg, 0o444, 1),
            What::Knob(_) => (VType::Reg, 0o644, 1),
        };
        let t = self.mounted;
        Ok(Attr {
            vtype,
            mode,
            nlink,
            uid: 0,
            gid: 0,
            size: 0,
            blocks: 0,
            blksize: BLKSIZE,
            rdev: 0,
            ino: node,
            atime: t,
            mtime: t,
            ctime: t,
            btime: t,
        })
    }

    /// Truncation (a shell's `>` on a knob) and times change nothing;
    /// modes and owners are fixed.
    fn setattr(&mut self, node: NodeId, set: &SetAttr) -> Result<(), Errno> {
        entry(node)?;
        set.check_times()?;
        if set.mode.is_some() || set.uid.is_some() || set.gid.is_some() {
            return Err(EPERM);
        }
        Ok(())
    }

    fn parent(&mut self, dir: NodeId) -> Result<NodeId, Errno> {
        match entry(dir)? {
            (_, Entry { what: What::Dir, parent, .. }) => Ok(id_of(*parent)),
            _ => Err(ENOTDIR),
        }
    }

    fn lookup(&mut self, dir: NodeId, name: &[u8]) -> Result<NodeId, Errno> {
        let (pos, e) = entry(dir)?;
        if e.what != What::Dir {
            return Err(ENOTDIR);
        }
        match name {
            b"." => Ok(dir),
            b".." => Ok(id_of(e.parent)),
            _ => children(pos).find(|(_, c)| c.name == name).map(|(i, _)| id_of(i)).ok_or(ENOENT),
        }
    }

    fn create(&mut self, dir: NodeId, name: &[u8], _new: &NewNode) -> Result<NodeId, Errno> {
        self.lookup(dir, name)?;
        Err(ENOENT)
    }

    fn readlink(&self, node: NodeId) -> Result<Vec<u8>, Errno> {
        entry(node)?;
        Err(EINVAL)
    }

    fn link(&mut self, dir: NodeId, _name: &[u8], _node: NodeId) -> Result<(), Errno> {
        entry(dir)?;
        Err(ENOENT)
    }

    fn remove(&mut self, dir: NodeId, name: &[u8]) -> Result<(), Errno> {
        self.lookup(dir, name)?;
        Err(EPERM)
    }

    fn rmdir(&mut self, dir: NodeId, name: &[u8]) -> Result<(), Errno> {
        let node = self.lookup(dir, name)?;
        match entry(node)?.1.what {
            What::Dir => Err(EACCES),
            _ => Err(ENOTDIR),
        }
    }

    fn rename(&mut self, from_dir: NodeId, from: &[u8], _to_dir: NodeId, _to: &[u8]) -> Result<(), Errno> {
        self.lookup(from_dir, from)?;
        Err(ENOENT)
    }

    fn read(&mut self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if entry(node)?.1.what == What::Dir {
            return Err(EISDIR);
        }
        let text = self.text(node);
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(text.len());
        let n = buf.len().min(text.len() - start);
        buf[..n].copy_from_slice(&text[start..start + n]);
        Ok(n)
    }

    /// Knobs take one integer at the start of the file; a write further
    /// on is ignored, as Linux's sysctl_writes_strict does.
    fn write(&mut self, node: NodeId, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        let k = match entry(node)?.1.what {
            What::Dir => return Err(EISDIR),
            What::View(_) => return Err(EIO),
            What::Knob(k) => k,
        };
        let leaf = k.leaf().ok_or(EPERM)?;
        if data.is_empty() {
            return Ok(0);
        }
        if offset != 0 {
            return Ok(data.len());
        }
        let (v, used) = if k == Knob::PingGroupRange {
            // Two integers, as Linux's proc_dointvec_minmax reads a vector.
            let (lo, a) = parse_int(data)?;
            let (hi, b) = parse_int(&data[a..])?;
            let ids = [lo, hi].map(|g| u32::try_from(g).map_err(|_| EINVAL));
            (Value::string(format!("{} {}", ids[0]?, ids[1]?)), a + b)
        } else {
            let (v, used) = parse_int(data)?;
            (Value::Int(v), used)
        };
        let v = leaf.check(&v)?;
        self.shared.writes.lock().push((leaf, v, node));
        self.shared.pending.store(true, Ordering::Release);
        Ok(used)
    }

    fn readdir(&mut self, dir: NodeId, cookie: u64, out: &mut dyn FnMut(&DirEntry, u64) -> bool) -> Result<(), Errno> {
        let (pos, e) = entry(dir)?;
        if e.what != What::Dir {
            return Err(ENOTDIR);
        }
        let mut list = vec![(b".".as_slice(), dir, VType::Dir), (b"..".as_slice(), id_of(e.parent), VType::Dir)];
        list.extend(
            children(pos).map(|(i, c)| (c.name, id_of(i), if c.what == What::Dir { VType::Dir } else { VType::Reg })),
        );
        for (at, (name, ino, vtype)) in list.into_iter().enumerate().skip(usize::try_from(cookie).unwrap_or(usize::MAX))
        {
            if !out(&DirEntry { name: name.to_vec(), ino, vtype }, at as u64 + 1) {
                break;
            }
        }
        Ok(())
    }

    fn statfs(&self) -> FsStat {
        FsStat {
            fstype: "proc",
            magic: PROC_MAGIC,
            bsize: 4096,
            blocks: 0,
            bfree: 0,
            bavail: 0,
            files: 0,
            ffree: 0,
            namemax: NAME_MAX as u64,
        }
    }

    // Nothing here is ever freed.
    fn hold(&mut self, _node: NodeId) {}

    fn release(&mut self, _node: NodeId) {}
}

// ---- the texts ----

fn render(v: View, net: &Net) -> String {
    match v {
        View::Dev => dev(net),
        View::IfInet6 => if_inet6(net),
        View::Route => route(net),
        View::Ipv6Route => ipv6_route(net),
        View::Tcp => tcp(net, false),
        View::Tcp6 => tcp(net, true),
        View::Udp => datagram(net, DgramView::Udp),
        View::Udp6 => datagram(net, DgramView::Udp6),
        View::Raw => datagram(net, DgramView::Raw),
        View::Raw6 => datagram(net, DgramView::Raw6),
        View::Arp => arp(net),
        View::Snmp => snmp(net),
        View::Netstat => netstat(net),
        View::Sockstat => sockstat(net, false),
        View::Sockstat6 => sockstat(net, true),
    }
}

/// Ends a line of a file Linux pads with `seq_pad`: spaces up to `width`
/// characters, then the newline.
fn pad_line(out: &mut String, line_start: usize, width: usize) {
    let len = out.len() - line_start;
    if len < width {
        out.extend(std::iter::repeat_n(' ', width - len));
    }
    out.push('\n');
}

/// An IPv4 address as Linux's `%08X` of the network-order word, which
/// x86 stores little-endian.
fn hex4(a: Ipv4Addr) -> String {
    format!("{:08X}", u32::from_le_bytes(a.octets()))
}

/// An IPv6 address as Linux's `%08X%08X%08X%08X` of its four words.
fn hex6(a: Ipv6Addr) -> String {
    a.octets().chunks(4).map(|w| format!("{:08X}", u32::from_le_bytes([w[0], w[1], w[2], w[3]]))).collect()
}

fn iface_name(net: &Net, index: u32) -> &str {
    net.ifaces.get(index).map_or("*", |i| i.name.as_str())
}

/// /proc/net/dev (`dev_seq_printf_stats`).
fn dev(net: &Net) -> String {
    let mut s = String::from(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
    );
    for i in net.ifaces.iter() {
        let c = &i.counters;
        let _ = writeln!(
            s,
            "{:>6}: {:>7} {:>7} {:>4} {:>4} {:>4} {:>5} {:>10} {:>9} {:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>7} {:>10}",
            i.name,
            c.rx_bytes,
            c.rx_packets,
            c.rx_errors,
            c.rx_dropped,
            c.rx_overruns,
            0,
            0,
            0,
            c.tx_bytes,
            c.tx_packets,
            c.tx_errors,
            c.tx_dropped,
            0,
            0,
            0,
            0
        );
    }
    s
}

/// Linux's IFA_* scope of an address, as if_inet6 shows it.
fn scope6(a: Ipv6Addr) -> u8 {
    let seg = a.segments()[0];
    if a.is_loopback() {
        0x10
    } else if seg & 0xffc0 == 0xfe80 {
        0x20
    } else if seg & 0xffc0 == 0xfec0 {
        0x40
    } else {
        0
    }
}

/// /proc/net/if_inet6: address, ifindex, prefix, scope, flags (all
/// IFA_F_PERMANENT), name.
fn if_inet6(net: &Net) -> String {
    let mut s = String::new();
    for i in net.ifaces.iter() {
        for a in &i.addrs {
            if let IpAddr::V6(v) = a.addr {
                let _ = writeln!(
                    s,
                    "{:032x} {:02x} {:02x} {:02x} {:02x} {:>8}",
                    u128::from(v),
                    i.index,
                    a.prefix,
                    scope6(v),
                    0x80,
                    i.name
                );
            }
        }
    }
    s
}

/// Routes in the order Linux's trie walks them: by destination, longer
/// prefixes first.
fn sorted_routes(net: &Net, v6: bool) -> Vec<&Route> {
    let mut r: Vec<&Route> = net
        .routes
        .iter()
        .filter(|r| r.dst.is_ipv6() == v6)
        .filter(|r| net.ifaces.get(r.iface).is_some_and(Iface::is_up))
        .collect();
    r.sort_by_key(|r| (r.dst, std::cmp::Reverse(r.prefix), r.metric));
    r
}

/// /proc/net/route (`fib_route_seq_show`): IPv4 routes over interfaces
/// that are up; lines padded to 127.
fn route(net: &Net) -> String {
    let mut s = String::new();
    let _ = write!(s, "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT");
    pad_line(&mut s, 0, 127);
    for r in sorted_routes(net, false) {
        let (IpAddr::V4(dst), gw) = (r.dst, r.gateway) else { continue };
        let gw = match gw {
            Some(IpAddr::V4(g)) => g,
            _ => Ipv4Addr::UNSPECIFIED,
        };
        let mask = crate::net::iface::IfAddr::new(r.dst, r.prefix).netmask_v4();
        let start = s.len();
        let _ = write!(
            s,
            "{}\t{}\t{}\t{:04X}\t0\t0\t{}\t{}\t0\t0\t0",
            iface_name(net, r.iface),
            hex4(dst),
            hex4(gw),
            r.flags(),
            r.metric as i32,
            hex4(mask)
        );
        pad_line(&mut s, start, 127);
    }
    s
}

/// /proc/net/ipv6_route: destination, prefix, source (none), gateway,
/// metric, refcount, use, RTF_* flags, device.
fn ipv6_route(net: &Net) -> String {
    let mut s = String::new();
    for r in sorted_routes(net, true) {
        let IpAddr::V6(dst) = r.dst else { continue };
        let (gw, flags) = match r.gateway {
            Some(IpAddr::V6(g)) => (g, 0x3),
            _ => (Ipv6Addr::UNSPECIFIED, 0x1),
        };
        let _ = writeln!(
            s,
            "{:032x} {:02x} {:032x} {:02x} {:032x} {:08x} {:08x} {:08x} {:08x} {:>8}",
            u128::from(dst),
            r.prefix,
            0,
            0,
            u128::from(gw),
            r.metric,
            1,
            0,
            flags,
            iface_name(net, r.iface)
        );
    }
    s
}

/// `address:port` in the hex of the table's family (v4-mapped in v6).
fn endpoint(a: SocketAddr, v6: bool) -> String {
    match (a.ip(), v6) {
        (IpAddr::V4(v), false) => format!("{}:{:04X}", hex4(v), a.port()),
        (IpAddr::V4(v), true) => format!("{}:{:04X}", hex6(v.to_ipv6_mapped()), a.port()),
        (IpAddr::V6(v), true) => format!("{}:{:04X}", hex6(v), a.port()),
        (IpAddr::V6(_), false) => format!("{}:{:04X}", hex4(Ipv4Addr::UNSPECIFIED), a.port()),
    }
}

/// /proc/net/tcp and tcp6 (`get_tcp4_sock`, `get_tcp6_sock`); timers,
/// uid and inode are 0, the kernel pointer hidden as with kptr_restrict.
fn tcp(net: &Net, v6: bool) -> String {
    let mut s = String::new();
    if v6 {
        s.push_str(
            "  sl  local_address                         remote_address                        st tx_queue \
             rx_queue tr tm->when retrnsmt   uid  timeout inode\n",
        );
    } else {
        s.push_str("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode");
        pad_line(&mut s, 0, 149);
    }
    for (n, r) in tcp_rows(net, v6).iter().enumerate() {
        let start = s.len();
        // rto, ato, quick/pingpong, cwnd and ssthresh as a fresh Linux
        // connection or listener shows them.
        let tail = if r.state == TCP_LISTEN { "100 0 0 10 0" } else { "20 0 0 10 -1" };
        let _ = write!(
            s,
            "{:4}: {} {} {:02X} {:08X}:{:08X} 00:00000000 00000000 {:5} {:8} 0 1 {:016x} {}",
            n,
            endpoint(r.local, v6),
            endpoint(r.remote, v6),
            r.state,
            // A listener's send queue is its backlog in sock_diag only.
            if r.state == TCP_LISTEN { 0 } else { r.tx as u32 },
            r.rx as u32,
            0,
            0,
            0,
            tail
        );
        if v6 {
            s.push('\n');
        } else {
            pad_line(&mut s, start, 149);
        }
    }
    s
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DgramView {
    Udp,
    Udp6,
    Raw,
    Raw6,
}

/// /proc/net/udp, udp6, raw and raw6 (`udp4_format_sock`,
/// `raw_sock_seq_show`, `ip6_dgram_sock_seq_show`): bound UDP sockets and
/// every raw one, whose "port" is its protocol. The slot column is
/// Linux's hash bucket, here a running number.
fn datagram(net: &Net, which: DgramView) -> String {
    let v6 = matches!(which, DgramView::Udp6 | DgramView::Raw6);
    let mut s = String::new();
    match which {
        DgramView::Udp => {
            s.push_str(
                "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode \
                 ref pointer drops",
            );
            pad_line(&mut s, 0, 127);
        }
        DgramView::Raw => s.push_str(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref \
             pointer drops\n",
        ),
        DgramView::Udp6 | DgramView::Raw6 => s.push_str(
            "  sl  local_address                         remote_address                        st tx_queue \
             rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n",
        ),
    }
    let raw = matches!(which, DgramView::Raw | DgramView::Raw6);
    let rows = if raw { census::raw_rows(net, v6) } else { census::udp_rows(net, v6) };
    for (n, r) in rows.iter().enumerate() {
        let (local, remote, state) = (r.local, r.remote, r.state);
        let start = s.len();
        let width = if which == DgramView::Raw { 4 } else { 5 };
        let _ = write!(
            s,
            "{:width$}: {} {} {:02X} {:08X}:{:08X} 00:00000000 00000000 {:5} {:8} 0 2 {:016x} 0",
            n,
            endpoint(local, v6),
            endpoint(remote, v6),
            state,
            0,
            r.rx as u32,
            0,
            0,
            0,
        );
        if which == DgramView::Udp {
            pad_line(&mut s, start, 127);
        } else {
            s.push('\n');
        }
    }
    s
}

/// /proc/net/arp (`arp_format_neigh_entry`): IPv4 neighbours with their
/// ATF_* flags (permanent 0x6, resolved 0x2, waiting 0x0), sorted.
fn arp(net: &Net) -> String {
    let mut s = String::from("IP address       HW type     Flags       HW address            Mask     Device\n");
    let mut entries: Vec<_> = net
        .neigh
        .iter()
        .filter_map(|((index, ip), e)| match ip {
            IpAddr::V4(v) => Some((*index, *v, e.mac, e.expires.is_none())),
            IpAddr::V6(_) => None,
        })
        .collect();
    entries.sort_by_key(|e| (e.0, e.1));
    for (index, ip, mac, permanent) in entries {
        let Some(i) = net.ifaces.get(index) else { continue };
        let hw_type = if i.is_loopback() { 772 } else { 1 };
        let flags = match (mac, permanent) {
            (Some(_), true) => 0x6,
            (Some(_), false) => 0x2,
            (None, _) => 0,
        };
        let m = mac.unwrap_or_default();
        let hw = format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
        let _ =
            writeln!(s, "{:<16} 0x{:<10x}0x{:<10x}{:<17}     *        {}", ip.to_string(), hw_type, flags, hw, i.name);
    }
    s
}

/// /proc/net/sockstat and sockstat6 (`sockstat_seq_show`): sockets in
/// use by protocol; memory in pages is not counted here (0); there is no
/// UDP-Lite; IPv6 has no reassembly of its own here.
fn sockstat(net: &Net, v6: bool) -> String {
    let u = census::usage(net);
    if v6 {
        return format!(
            "TCP6: inuse {}\nUDP6: inuse {}\nUDPLITE6: inuse 0\nRAW6: inuse {}\nFRAG6: inuse 0 memory 0\n",
            u.tcp[1], u.udp[1], u.raw[1]
        );
    }
    let (frags, bytes) = net.frag_usage();
    format!(
        "sockets: used {}\nTCP: inuse {} orphan {} tw {} alloc {} mem 0\nUDP: inuse {} mem 0\nUDPLITE: inuse 0\n\
         RAW: inuse {}\nFRAG: inuse {} memory {}\n",
        u.sockets, u.tcp[0], u.tcp_orphans, u.tcp_timewait, u.tcp_alloc, u.udp[0], u.raw[0], frags, bytes
    )
}

/// /proc/net/snmp with the counters the stack keeps; the ones it does
/// not keep are 0. IcmpMsg lines appear on Linux only for nonzero
/// per-type counts, which are not kept.
fn snmp(net: &Net) -> String {
    let st = &net.stats;
    let tcp = net.recovery.totals();
    let k = &net.knobs;
    let estab = tcp_rows(net, false)
        .iter()
        .chain(tcp_rows(net, true).iter())
        .filter(|r| matches!(r.state, 0x01 | 0x08))
        .count();
    let mut s = String::new();
    let mut table = |head: &str, names: &str, vals: &[i64]| {
        let _ = writeln!(s, "{head}: {names}");
        let v: Vec<String> = vals.iter().map(i64::to_string).collect();
        let _ = writeln!(s, "{head}: {}", v.join(" "));
    };
    let c = |x: u64| x as i64;
    table(
        "Ip",
        "Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards \
         InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs \
         FragFails FragCreates OutTransmits",
        &[
            // RFC 1213: 1 forwarding, 2 not.
            if k.forwarding { 1 } else { 2 },
            k.ttl as i64,
            c(st.ip_in_receives),
            c(st.ip_in_hdr_errors),
            c(st.ip_in_addr_errors),
            c(st.ip_forw_datagrams),
            0,
            0,
            c(st.ip_in_delivers),
            c(st.ip_out_requests),
            0,
            0,
            0,
            0,
            c(st.ip_reasm_oks),
            c(st.ip_reasm_fails),
            c(st.ip_frag_oks),
            0,
            c(st.ip_frag_creates),
            c(st.ip_out_requests + st.ip_forw_datagrams),
        ],
    );
    let mut icmp = vec![c(st.icmp_in_msgs), c(st.icmp_in_errors)];
    icmp.extend([0; 12]);
    icmp.extend([c(st.icmp_out_msgs), c(st.icmp_out_errors)]);
    icmp.extend([0; 13]);
    table(
        "Icmp",
        "InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos \
         InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal \
         OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs OutRedirects OutEchos OutEchoReps \
         OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps",
        &icmp,
    );
    table(
        "Tcp",
        "RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs \
         OutSegs RetransSegs InErrs OutRsts InCsumErrors",
        &[1, 200, 120000, -1, 0, 0, 0, 0, estab as i64, 0, 0, c(tcp.retrans), 0, 0, 0],
    );
    let udp_names = "InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti \
                     MemErrors";
    table(
        "Udp",
        udp_names,
        &[
            c(st.udp_in_datagrams),
            c(st.udp_no_ports),
            c(st.udp_in_errors),
            c(st.udp_out_datagrams),
            c(st.udp_rcvbuf_errors),
            0,
            0,
            0,
            0,
        ],
    );
    table("UdpLite", udp_names, &[0; 9]);
    s
}

/// /proc/net/netstat: Linux's extended counters, of which the kernel
/// keeps one (a resend made by a retransmission timeout); `nstat` and
/// `netstat -s` read names and values by position in the two lines.
fn netstat(net: &Net) -> String {
    let timeouts = net.recovery.totals().timeouts;
    format!("TcpExt: TCPTimeouts\nTcpExt: {timeouts}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_is_consistent() {
        for (i, e) in TREE.iter().enumerate() {
            assert_eq!(TREE[e.parent].what, What::Dir, "{:?}", String::from_utf8_lossy(e.name));
            assert!(i == ROOT || !e.name.is_empty());
            assert_eq!(children(e.parent).filter(|(_, c)| c.name == e.name).count(), usize::from(i != ROOT));
        }
        let names = |d| children(d).map(|(_, e)| String::from_utf8_lossy(e.name).into_owned()).collect::<Vec<_>>();
        assert_eq!(names(SYS_NET), ["ipv4", "ipv6"]);
        assert_eq!(names(IPV6_ALL), ["forwarding"]);
        assert_eq!(names(NEIGH_DEFAULT), ["gc_stale_time"]);
        for k in [Knob::IpForward, Knob::DefaultTtl, Knob::GcStaleTime, Knob::Forwarding6] {
            assert!(k.leaf().is_some(), "{k:?}");
        }
    }

    #[test]
    fn integers_parse_as_proc_dointvec() {
        // Cases checked against Linux 6.18's /proc/sys/net/ipv4/ip_forward.
        assert_eq!(parse_int(b"1\n"), Ok((1, 2)));
        assert_eq!(parse_int(b" 1"), Ok((1, 2)));
        assert_eq!(parse_int(b"1 2"), Ok((1, 2)));
        assert_eq!(parse_int(b"1\n2\n"), Ok((1, 2)));
        assert_eq!(parse_int(b"  \n 0"), Ok((0, 5)));
        assert_eq!(parse_int(b"-1"), Ok((-1, 2)));
        assert_eq!(parse_int(b"0x1"), Ok((1, 3)));
        assert_eq!(parse_int(b"01"), Ok((1, 2)));
        assert_eq!(parse_int(b"010"), Ok((8, 3)));
        assert_eq!(parse_int(b"1\t"), Ok((1, 2)));
        for bad in [&b"abc"[..], b"1x", b"+1", b"\n", b"-", b"2147483648", b"99999999999999999999999", b"1\0"] {
            assert_eq!(parse_int(bad), Err(EINVAL), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_int(b"-2147483648"), Ok((i32::MIN, 11)));
    }

    #[test]
    fn addresses_in_linux_hex() {
        assert_eq!(hex4(Ipv4Addr::new(192, 0, 2, 1)), "010200C0");
        assert_eq!(hex6(Ipv6Addr::LOCALHOST), "00000000000000000000000001000000");
        assert_eq!(endpoint(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5356), false), "0100007F:14EC");
    }
}
