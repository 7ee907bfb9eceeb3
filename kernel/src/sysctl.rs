//! The sysctl MIB: NetBSD's tree of named, numbered kernel variables
//! (`kern.hostname` is `1.10`), with NetBSD's rules for reading and
//! writing them.
//!
//! - `LEAVES` is the whole tree: one line per variable, giving its dotted
//!   name, its numbers, its type, a getter and, if writable, a setter. The
//!   interior nodes (`kern`, `net.inet`) come from the names, so adding a
//!   variable is one line. Values live where the kernel keeps them
//!   (`State.hostname`), not here, so every view of them agrees.
//! - `locate` walks a numeric name the way NetBSD's `sysctl_dispatch`
//!   does, with its errnos; `__sysctl` (`syscalls/sysctl.rs`) moves the
//!   bytes, and `Cx::sysctl_read`/`sysctl_write` and the name-based
//!   `Kernel::sysctl_get`/`sysctl_set` serve code inside the kernel.
//! - Writes need root and a writable node (EPERM), and a value of the
//!   node's type and size, within its range if it has one (EINVAL).
//! - The network knobs (`net.inet.ip.forwarding`, …) live in
//!   `State.net.knobs`; Linux's `/proc/sys/net` files (`fs::procfs`)
//!   write them through these leaves, so both views check alike.

use crate::cred::Cred;
use crate::{Config, Cx, Kernel, State};
use rump_abi::native::errno::{EINVAL, ENOENT, ENOTDIR, EOPNOTSUPP, EPERM};
use rump_abi::native::flags::*;
use rump_abi::native::types::sysctlnode;
use rump_abi::Errno;
use std::sync::OnceLock;

/// What a node holds, as NetBSD's `CTLTYPE_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Node,
    Int,
    String,
    Quad,
    Bool,
}

impl Type {
    pub fn ctltype(self) -> u32 {
        match self {
            Type::Node => CTLTYPE_NODE,
            Type::Int => CTLTYPE_INT,
            Type::String => CTLTYPE_STRING,
            Type::Quad => CTLTYPE_QUAD,
            Type::Bool => CTLTYPE_BOOL,
        }
    }
}

/// A leaf's value. Strings are bytes without their NUL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i32),
    Quad(i64),
    Bool(bool),
    String(Vec<u8>),
}

impl Value {
    pub fn string(s: impl Into<Vec<u8>>) -> Value {
        Value::String(s.into())
    }

    pub fn ty(&self) -> Type {
        match self {
            Value::Int(_) => Type::Int,
            Value::Quad(_) => Type::Quad,
            Value::Bool(_) => Type::Bool,
            Value::String(_) => Type::String,
        }
    }

    /// The bytes `__sysctl` hands out: native-endian scalars, a C `bool`,
    /// a string with its NUL.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Value::Int(v) => v.to_ne_bytes().to_vec(),
            Value::Quad(v) => v.to_ne_bytes().to_vec(),
            Value::Bool(v) => vec![*v as u8],
            Value::String(s) => {
                let mut b = s.clone();
                b.push(0);
                b
            }
        }
    }
}

/// Reads a leaf's value from the kernel.
pub type Getter = fn(&State, &Config) -> Value;
/// Stores a value already checked against the leaf's type and size; may
/// refuse values out of the variable's range (EINVAL).
pub type Setter = fn(&mut State, Value) -> Result<(), Errno>;

/// A variable: one line of `LEAVES`.
pub struct Leaf {
    /// Dotted, one component per number of `mib`.
    pub name: &'static str,
    pub mib: &'static [i32],
    pub ty: Type,
    /// NetBSD's `sysctl_size`: the value's bytes, for a string the buffer
    /// it lives in, NUL included (0 for a read-only string sized by its
    /// value).
    pub size: usize,
    /// The values an Int leaf accepts, inclusive.
    range: Option<(i32, i32)>,
    get: Getter,
    set: Option<Setter>,
}

impl Leaf {
    const fn new(name: &'static str, mib: &'static [i32], ty: Type, get: Getter, set: Option<Setter>) -> Leaf {
        let size = match ty {
            Type::Int => 4,
            Type::Quad => 8,
            Type::Bool => 1,
            Type::Node | Type::String => 0,
        };
        Leaf { name, mib, ty, size, range: None, get, set }
    }

    const fn ro(name: &'static str, mib: &'static [i32], ty: Type, get: Getter) -> Leaf {
        Leaf::new(name, mib, ty, get, None)
    }

    const fn rw(name: &'static str, mib: &'static [i32], ty: Type, get: Getter, set: Setter) -> Leaf {
        Leaf::new(name, mib, ty, get, Some(set))
    }

    /// A string's buffer, NUL included: a writable string needs one.
    const fn max(mut self, size: usize) -> Leaf {
        self.size = size;
        self
    }

    /// The values an Int leaf takes; others are EINVAL.
    const fn range(mut self, lo: i32, hi: i32) -> Leaf {
        self.range = Some((lo, hi));
        self
    }

    pub fn writable(&self) -> bool {
        self.set.is_some()
    }

    /// `sysctl_flags` as a CTL_QUERY reports them.
    pub fn flags(&self) -> u32 {
        let rw = if self.writable() { CTLFLAG_READWRITE } else { CTLFLAG_READONLY };
        SYSCTL_VERSION | CTLFLAG_PERMANENT | rw | self.ty.ctltype()
    }

    pub fn read(&self, st: &State, config: &Config) -> Value {
        (self.get)(st, config)
    }

    /// NetBSD's order: only root writes, then only to a writable node.
    pub fn may_write(&self, cred: &Cred) -> Result<(), Errno> {
        if !cred.is_root() || !self.writable() {
            return Err(EPERM);
        }
        Ok(())
    }

    /// Whether `len` new bytes can be this leaf's value, checked before
    /// they are copied in: scalars take exactly their size, strings at
    /// most their buffer.
    pub fn check_len(&self, len: usize) -> Result<(), Errno> {
        let ok = match self.ty {
            Type::String => len <= self.size,
            _ => len == self.size,
        };
        if ok {
            Ok(())
        } else {
            Err(EINVAL)
        }
    }

    /// The value in `bytes` as `__sysctl` passes it. A string may leave
    /// out its NUL if there is room for one; it ends at its first NUL.
    pub fn parse(&self, bytes: &[u8]) -> Result<Value, Errno> {
        self.check_len(bytes.len())?;
        Ok(match self.ty {
            Type::Int => Value::Int(i32::from_ne_bytes(bytes.try_into().map_err(|_| EINVAL)?)),
            Type::Quad => Value::Quad(i64::from_ne_bytes(bytes.try_into().map_err(|_| EINVAL)?)),
            Type::Bool => match bytes {
                [0] => Value::Bool(false),
                [1] => Value::Bool(true),
                _ => return Err(EINVAL),
            },
            Type::String => {
                if bytes.len() == self.size && bytes.last() != Some(&0) {
                    return Err(EINVAL);
                }
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                Value::String(bytes[..end].to_vec())
            }
            Type::Node => return Err(EINVAL),
        })
    }

    /// Whether `v` could be stored: a writable leaf, a value of its type,
    /// size and range. Callers that cannot store at once (procfs) check
    /// first.
    pub fn check(&self, v: &Value) -> Result<Value, Errno> {
        if self.set.is_none() {
            return Err(EPERM);
        }
        if v.ty() != self.ty {
            return Err(EINVAL);
        }
        // Through the bytes `__sysctl` would pass, so that both paths
        // accept the same values: a string and its NUL must fit.
        let v = self.parse(&v.to_bytes())?;
        match (&v, self.range) {
            (Value::Int(x), Some((lo, hi))) if !(lo..=hi).contains(x) => Err(EINVAL),
            _ => Ok(v),
        }
    }

    /// Stores `v` (no credential check: see `may_write`).
    pub fn write(&self, st: &mut State, v: Value) -> Result<(), Errno> {
        let v = self.check(&v)?;
        let set = self.set.ok_or(EPERM)?;
        set(st, v)
    }
}

fn hostname(st: &State, _: &Config) -> Value {
    Value::String(st.hostname.clone())
}

fn set_hostname(st: &mut State, v: Value) -> Result<(), Errno> {
    match v {
        Value::String(s) => {
            st.hostname = s;
            Ok(())
        }
        _ => Err(EINVAL),
    }
}

/// An Int value for a setter (the type is checked before setters run).
fn int(v: Value) -> Result<i32, Errno> {
    match v {
        Value::Int(x) => Ok(x),
        _ => Err(EINVAL),
    }
}

fn set_forwarding(st: &mut State, v: Value) -> Result<(), Errno> {
    st.net.knobs.forwarding = int(v)? != 0;
    Ok(())
}

fn set_forwarding6(st: &mut State, v: Value) -> Result<(), Errno> {
    st.net.knobs.forwarding6 = int(v)? != 0;
    Ok(())
}

fn set_ttl(st: &mut State, v: Value) -> Result<(), Errno> {
    st.net.knobs.ttl = u8::try_from(int(v)?).map_err(|_| EINVAL)?;
    Ok(())
}

/// "LOW HIGH" as Linux's /proc/sys/net/ipv4/ping_group_range takes it:
/// two group ids below 2^32-1; a range with HIGH below LOW admits nobody
/// and is stored as "1 0".
fn set_ping_group(st: &mut State, v: Value) -> Result<(), Errno> {
    let Value::String(s) = v else { return Err(EINVAL) };
    let s = std::str::from_utf8(&s).map_err(|_| EINVAL)?;
    let mut ids = s.split_ascii_whitespace().map(|w| w.parse::<u32>().ok().filter(|g| *g != u32::MAX));
    let (Some(Some(lo)), Some(Some(hi)), None) = (ids.next(), ids.next(), ids.next()) else { return Err(EINVAL) };
    st.net.knobs.ping_group = if hi < lo { (1, 0) } else { (lo, hi) };
    Ok(())
}

fn set_arp_keep(st: &mut State, v: Value) -> Result<(), Errno> {
    st.net.knobs.arp_keep = u32::try_from(int(v)?).map_err(|_| EINVAL)?;
    Ok(())
}

/// NetBSD's numbers below CTL_NET (sys/socket.h, netinet/in.h,
/// netinet6/in6.h).
const PF_INET: i32 = 2;
const PF_INET6: i32 = 24;
const IPPROTO_IP: i32 = 0;
const IPPROTO_IPV6: i32 = 41;
const IPPROTO_ICMP: i32 = 1;
const IPCTL_FORWARDING: i32 = 1;
const IPCTL_DEFTTL: i32 = 3;
const IPV6CTL_FORWARDING: i32 = 1;
/// NetBSD numbers `net.inet.arp` and its variables at boot (CTL_CREATE,
/// counting from CREATE_BASE = 1024), so they differ between kernels and
/// callers look them up by name; these are numbers from that range.
const CREATE_BASE: i32 = 1024;
const ARP: i32 = CREATE_BASE;
const ARP_KEEP: i32 = CREATE_BASE + 1;
/// Linux's variable, which NetBSD has not: a number from the same range.
const ICMP_PING_GROUP_RANGE: i32 = CREATE_BASE + 2;

/// Every variable. Interior nodes are implied by the names; rows sharing
/// a prefix must agree on its numbers (a test checks). A new variable is
/// one row, e.g. `Leaf::rw("net.inet.ip.ttl", &[CTL_NET, PF_INET,
/// IPPROTO_IP, IPCTL_DEFTTL], Type::Int, getter, setter).range(1, 255)`.
static LEAVES: &[Leaf] = &[
    Leaf::ro("kern.ostype", &[CTL_KERN, KERN_OSTYPE], Type::String, |_, _| Value::string("NetBSD")),
    Leaf::ro("kern.osrelease", &[CTL_KERN, KERN_OSRELEASE], Type::String, |_, _| Value::string("10.0")),
    Leaf::rw("kern.hostname", &[CTL_KERN, KERN_HOSTNAME], Type::String, hostname, set_hostname).max(MAXHOSTNAMELEN),
    Leaf::ro("hw.machine", &[CTL_HW, HW_MACHINE], Type::String, |_, _| Value::string("amd64")),
    Leaf::ro("hw.ncpu", &[CTL_HW, HW_NCPU], Type::Int, |_, c| Value::Int(c.ncpu.min(i32::MAX as u32) as i32)),
    // Any value turns forwarding on but 0, as on NetBSD.
    Leaf::rw(
        "net.inet.ip.forwarding",
        &[CTL_NET, PF_INET, IPPROTO_IP, IPCTL_FORWARDING],
        Type::Int,
        |st, _| Value::Int(st.net.knobs.forwarding as i32),
        set_forwarding,
    ),
    Leaf::rw(
        "net.inet.ip.ttl",
        &[CTL_NET, PF_INET, IPPROTO_IP, IPCTL_DEFTTL],
        Type::Int,
        |st, _| Value::Int(st.net.knobs.ttl as i32),
        set_ttl,
    )
    .range(1, 255),
    Leaf::rw(
        "net.inet.arp.keep",
        &[CTL_NET, PF_INET, ARP, ARP_KEEP],
        Type::Int,
        |st, _| Value::Int(st.net.knobs.arp_keep.min(i32::MAX as u32) as i32),
        set_arp_keep,
    )
    .range(0, i32::MAX),
    Leaf::rw(
        "net.inet.icmp.ping_group_range",
        &[CTL_NET, PF_INET, IPPROTO_ICMP, ICMP_PING_GROUP_RANGE],
        Type::String,
        |st, _| Value::string(format!("{}\t{}", st.net.knobs.ping_group.0, st.net.knobs.ping_group.1)),
        set_ping_group,
    )
    .max(32),
    Leaf::rw(
        "net.inet6.ip6.forwarding",
        &[CTL_NET, PF_INET6, IPPROTO_IPV6, IPV6CTL_FORWARDING],
        Type::Int,
        |st, _| Value::Int(st.net.knobs.forwarding6 as i32),
        set_forwarding6,
    ),
];

/// Every variable, in table order.
pub fn leaves() -> impl Iterator<Item = &'static Leaf> {
    LEAVES.iter()
}

/// An interior node: `kern`, `net.inet`, or the unnamed root.
pub struct Dir {
    pub name: &'static str,
    pub num: i32,
    children: Vec<Node>,
}

/// One entry of a directory.
pub enum Node {
    Dir(Dir),
    Leaf(&'static Leaf),
}

impl Node {
    pub fn name(&self) -> &'static str {
        match self {
            Node::Dir(d) => d.name,
            Node::Leaf(l) => l.name.rsplit('.').next().unwrap_or(l.name),
        }
    }

    pub fn num(&self) -> i32 {
        match self {
            Node::Dir(d) => d.num,
            Node::Leaf(l) => l.mib.last().copied().unwrap_or(0),
        }
    }

    /// The node as NetBSD's CTL_QUERY describes it.
    pub fn describe(&self) -> sysctlnode {
        let mut n = sysctlnode { sysctl_num: self.num(), sysctl_ver: VERSION, ..sysctlnode::default() };
        let name = self.name().as_bytes();
        let len = name.len().min(SYSCTL_NAMELEN - 1);
        n.sysctl_name[..len].copy_from_slice(&name[..len]);
        match self {
            Node::Dir(d) => {
                n.sysctl_flags = SYSCTL_VERSION | CTLFLAG_PERMANENT | CTLTYPE_NODE;
                let count = d.children.len() as u32;
                n.sysctl_un[0] = count;
                n.sysctl_un[1] = count;
                n._sysctl_size = core::mem::size_of::<sysctlnode>() as u64;
            }
            Node::Leaf(l) => {
                n.sysctl_flags = l.flags();
                n._sysctl_size = l.size as u64;
            }
        }
        n
    }
}

/// Every node's `sysctl_ver`: the tree never changes after boot.
pub const VERSION: u32 = 1;

impl Dir {
    pub fn children(&self) -> &[Node] {
        &self.children
    }

    fn child(&self, num: i32) -> Option<&Node> {
        self.children.iter().find(|c| c.num() == num)
    }

    fn child_named(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name() == name)
    }

    /// Adds `leaf` under the directories its name implies; false if it
    /// clashes with what is there (a component named or numbered
    /// differently elsewhere, or a duplicate).
    fn insert(&mut self, leaf: &'static Leaf) -> bool {
        let parts: Vec<&'static str> = leaf.name.split('.').collect();
        if parts.len() != leaf.mib.len() || parts.iter().any(|p| p.is_empty() || p.len() >= SYSCTL_NAMELEN) {
            return false;
        }
        let mut dir = self;
        for (i, (&part, &num)) in parts.iter().zip(leaf.mib).enumerate() {
            let by_num = dir.children.iter().position(|c| c.num() == num);
            let by_name = dir.children.iter().position(|c| c.name() == part);
            if by_num != by_name {
                return false;
            }
            if i + 1 == parts.len() {
                if by_num.is_some() {
                    return false;
                }
                dir.children.push(Node::Leaf(leaf));
                dir.children.sort_by_key(Node::num);
                return true;
            }
            let at = match by_num {
                Some(at) => at,
                None => {
                    dir.children.push(Node::Dir(Dir { name: part, num, children: Vec::new() }));
                    dir.children.sort_by_key(Node::num);
                    match dir.children.iter().position(|c| c.num() == num) {
                        Some(at) => at,
                        None => return false,
                    }
                }
            };
            dir = match &mut dir.children[at] {
                Node::Dir(d) => d,
                Node::Leaf(_) => return false,
            };
        }
        false
    }
}

/// The tree, built from `LEAVES` on first use. A row that clashes with
/// earlier ones is left out (and fails the consistency test).
pub fn root() -> &'static Dir {
    static TREE: OnceLock<Dir> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut root = Dir { name: "", num: 0, children: Vec::new() };
        for leaf in LEAVES {
            root.insert(leaf);
        }
        root
    })
}

/// What a numeric name asks `__sysctl` for.
pub enum Target {
    /// Read and maybe write a variable.
    Leaf(&'static Leaf),
    /// List a directory's children (the name ended in CTL_QUERY).
    Query(&'static Dir),
}

/// Walks `name` as NetBSD's `sysctl_locate` and `sysctl_dispatch` do: a
/// missing component is ENOENT, a name going on past a variable ENOTDIR,
/// a name ending at a directory EINVAL (it can be queried, not read). A
/// negative last component is a request about the directory before it:
/// CTL_QUERY is served; creating or destroying nodes is EPERM (the tree
/// is fixed); anything else is EOPNOTSUPP.
pub fn locate(name: &[i32]) -> Result<Target, Errno> {
    let mut dir = root();
    for (i, &num) in name.iter().enumerate() {
        let last = i + 1 == name.len();
        match dir.child(num) {
            Some(Node::Dir(d)) => dir = d,
            Some(Node::Leaf(l)) if last => return Ok(Target::Leaf(l)),
            Some(Node::Leaf(_)) => return Err(ENOTDIR),
            None if last && num < 0 => {
                return match num {
                    CTL_QUERY => Ok(Target::Query(dir)),
                    CTL_CREATE | CTL_CREATESYM | CTL_DESTROY => Err(EPERM),
                    _ => Err(EOPNOTSUPP),
                }
            }
            None => return Err(ENOENT),
        }
    }
    Err(EINVAL)
}

/// The numbers of a dotted name (`"kern.hostname"` → `[1, 10]`), as
/// NetBSD's sysctlnametomib gives them; a directory's name resolves too.
pub fn resolve(name: &str) -> Result<Vec<i32>, Errno> {
    let mut dir = root();
    let mut mib = Vec::new();
    let mut parts = name.split('.').peekable();
    while let Some(part) = parts.next() {
        let node = dir.child_named(part).ok_or(ENOENT)?;
        mib.push(node.num());
        match node {
            Node::Dir(d) => dir = d,
            Node::Leaf(_) if parts.peek().is_some() => return Err(ENOTDIR),
            Node::Leaf(_) => {}
        }
    }
    Ok(mib)
}

/// The variable a numeric name ends at.
pub fn leaf(mib: &[i32]) -> Result<&'static Leaf, Errno> {
    match locate(mib)? {
        Target::Leaf(l) => Ok(l),
        Target::Query(_) => Err(EINVAL),
    }
}

impl Cx<'_> {
    /// Reads the variable at `mib`.
    pub fn sysctl_read(&self, mib: &[i32]) -> Result<Value, Errno> {
        Ok(leaf(mib)?.read(&self.st, self.config()))
    }

    /// Writes the variable at `mib` with the calling process's
    /// credentials.
    pub fn sysctl_write(&mut self, mib: &[i32], v: Value) -> Result<(), Errno> {
        let l = leaf(mib)?;
        l.may_write(&self.proc().cred)?;
        l.write(&mut self.st, v)
    }
}

impl Kernel {
    /// Reads a variable by dotted name, as the kernel itself.
    pub fn sysctl_get(&self, name: &str) -> Result<Value, Errno> {
        let l = leaf(&resolve(name)?)?;
        Ok(l.read(&self.shared.state.lock(), &self.shared.config))
    }

    /// Writes a variable by dotted name with the kernel's own privilege:
    /// read-only variables still refuse (EPERM).
    pub fn sysctl_set(&self, name: &str, v: Value) -> Result<(), Errno> {
        let l = leaf(&resolve(name)?)?;
        l.may_write(&Cred::root())?;
        l.write(&mut self.shared.state.lock(), v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row made it into the tree and resolves to its own numbers:
    /// rows that share a prefix agree on it.
    #[test]
    fn table_is_consistent() {
        for l in leaves() {
            assert_eq!(resolve(l.name).as_deref(), Ok(l.mib), "{}", l.name);
            assert!(matches!(locate(l.mib), Ok(Target::Leaf(x)) if std::ptr::eq(x, l)), "{}", l.name);
            assert!(l.ty != Type::Node, "{}", l.name);
            assert!(l.ty != Type::String || !l.writable() || l.size > 0, "{} needs a buffer size", l.name);
        }
    }

    #[test]
    fn walk_errors() {
        assert_eq!(resolve("kern.nosuch"), Err(ENOENT));
        assert_eq!(resolve("kern.hostname.x"), Err(ENOTDIR));
        assert_eq!(resolve("kern"), Ok(vec![CTL_KERN]));
        assert!(matches!(locate(&[CTL_KERN]), Err(EINVAL)));
        assert!(matches!(locate(&[CTL_KERN, KERN_HOSTNAME, 1]), Err(ENOTDIR)));
        assert!(matches!(locate(&[CTL_KERN, 9999]), Err(ENOENT)));
        assert!(matches!(locate(&[CTL_KERN, CTL_DESCRIBE]), Err(EOPNOTSUPP)));
        assert!(matches!(locate(&[CTL_QUERY]), Ok(Target::Query(_))));
    }

    #[test]
    fn int_ranges() {
        let ttl = leaf(&resolve("net.inet.ip.ttl").unwrap()).unwrap();
        assert_eq!(ttl.check(&Value::Int(64)), Ok(Value::Int(64)));
        assert_eq!(ttl.check(&Value::Int(0)), Err(EINVAL));
        assert_eq!(ttl.check(&Value::Int(256)), Err(EINVAL));
        assert_eq!(ttl.check(&Value::Bool(true)), Err(EINVAL));
        let keep = leaf(&resolve("net.inet.arp.keep").unwrap()).unwrap();
        assert_eq!(keep.check(&Value::Int(-1)), Err(EINVAL));
        assert_eq!(resolve("net.inet.arp.keep"), Ok(vec![CTL_NET, PF_INET, ARP, ARP_KEEP]));
        let ostype = leaf(&[CTL_KERN, KERN_OSTYPE]).unwrap();
        assert_eq!(ostype.check(&Value::string("x")), Err(EPERM));
    }

    #[test]
    fn string_rules() {
        let l = leaf(&[CTL_KERN, KERN_HOSTNAME]).unwrap();
        assert_eq!(l.parse(b"abc"), Ok(Value::string("abc")));
        assert_eq!(l.parse(b"abc\0junk"), Ok(Value::string("abc")));
        assert_eq!(l.parse(&[b'a'; MAXHOSTNAMELEN]), Err(EINVAL));
        let mut full = vec![b'a'; MAXHOSTNAMELEN];
        full[MAXHOSTNAMELEN - 1] = 0;
        assert_eq!(l.parse(&full), Ok(Value::String(vec![b'a'; MAXHOSTNAMELEN - 1])));
        assert_eq!(l.parse(&[b'a'; MAXHOSTNAMELEN + 1]), Err(EINVAL));
    }
}
