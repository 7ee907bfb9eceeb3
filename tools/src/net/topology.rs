//! Topology files, which `rumpctl net up TOPOLOGY.toml` brings up: the
//! rump kernels (nodes) to run, their shmif interfaces, the buses those
//! attach to, and each node's routes, sysctls, static ARP entries and
//! `ip` command lines. This
//! module reads a file into a checked [`Topology`] and owns every rule
//! below; starting kernels is left to the rest of `net`. Each error is
//! `LINE:COLUMN: message`, at the offending key, value or table.
//!
//! The syntax is TOML 1.0 (the `toml` crate reads it: inline tables,
//! dotted keys, multi-line arrays, any quoting); the keys are those of
//! [`FileRepr`], [`NodeRepr`] and [`BusRepr`], and an unknown one is refused
//! with the nearest known key:
//!
//! ```toml
//! # A — bus1 — R — bus2 — B   (comments with #, blank lines ok)
//! [bus.bus1]                       # optional: buses named by interfaces exist anyway
//! netem = "loss 10% delay 20ms 5ms seed 7"   # impairment applied to every interface on the bus
//!
//! [node.a]
//! ifaces = ["shmif0 bus1 10.0.1.1/24 2001:db8:1::1/64"]
//! routes = ["default 10.0.1.254", "2001:db8:2::/64 2001:db8:1::254"]
//! sysctl = ["net.inet.arp.keep=5"]
//! arp = ["10.0.1.9 b2:a0:00:00:00:09"]      # static (permanent) ARP entries
//! ip = ["addr add 10.0.9.1/24 dev shmif0", "route add 10.9.0.0/16 via 10.0.1.254"]
//!
//! [node.r]
//! ifaces = [
//!   "shmif0 bus1 10.0.1.254/24 2001:db8:1::254/64",
//!   "shmif1 bus2 10.0.2.254/24 mtu 1280 netem loss 1% seed 3",
//! ]
//! sysctl = ["net.inet.ip.forwarding=1", "net.inet6.ip6.forwarding=1"]
//!
//! # ranges: one table stands for many nodes (or buses)
//! [node."r{1..31}"]
//! ifaces = ["shmif0 c{i-1} 10.0.{i-1}.2/24", "shmif1 c{i} 10.0.{i}.1/24"]
//! routes = ["default 10.0.{i-1}.1"]
//! sysctl = ["net.inet.ip.forwarding=1"]
//! ```
//!
//! Tables are `[node.NAME]` and `[bus.NAME]` (or `node.NAME = {...}`,
//! `node.NAME.ifaces = [...]`); a name is 1 to 64 of `A-Za-z0-9_.-`
//! (quoted if it holds a dot). A node has five optional arrays of strings:
//!
//! - `ifaces`: `IFNAME BUS [ADDR/PREFIX]... [mtu N] [netem WORD...]`.
//!   IFNAME is `shmifN`, once per node; or `tapN` with `tap:DEVICE` in
//!   place of BUS, a host tap device (1 to 15 characters, no `/` or `:`)
//!   opened in the node's network namespace; addresses are IPv4 or IPv6 and need
//!   their prefix length; mtu is 68 to 9000; netem takes the remaining
//!   words, kept verbatim for the caller to check.
//! - `routes`: `DST GATEWAY`. DST is `default` (0.0.0.0/0 or ::/0, after
//!   the gateway's family), `ADDR/PREFIX`, or `ADDR` for a host route;
//!   the gateway is an address of DST's family.
//! - `sysctl`: `NAME=VALUE` with a non-empty VALUE, blanks around `=` allowed.
//! - `arp`: `IPV4 MAC`, a permanent entry; MAC is six hex pairs joined by `:`.
//! - `ip`: the arguments of an iproute2 `ip` command (words split at
//!   blanks), run last, in order, by the real `ip` hijacked against the
//!   node (`net up` fails with `ip`'s own message if one fails).
//!
//! A bus has optional keys: `netem`, impairment words for every
//! interface on it; and either `vxlan = { vni = N, local = "ADDR[:PORT]",
//! peers = ["ADDR[:PORT]", ...] }` (port 4789 by default) or `tap =
//! "DEVICE"`, which `rumpctl net up` bridges the bus to with `rumpctl bus
//! bridge` (taken verbatim, without `{EXPR}`). Buses named by interfaces exist without a table, but a
//! table must name a bus some interface uses.
//!
//! A name `PREFIX{FIRST..LAST}SUFFIX` (decimal FIRST <= LAST, quoted in the
//! header since braces are not bare-key characters) makes the table stand
//! for `PREFIXiSUFFIX` for each i from FIRST to LAST, at most 4096 of them.
//! In every string value, `{EXPR}` is replaced by EXPR's value at that i:
//! integer arithmetic on decimal integers and `i` with `+ - * / %`
//! (truncating, as in C), unary minus and parentheses. Outside a range
//! table an EXPR may not use `i`; braces mean nothing else. Expanded names
//! must be unique across the file, and a file defines at most 4096 nodes.
//!
//! Nodes come out in file order (a range's by increasing i), buses in the
//! order of their first mention, by a table or by an interface.

use crate::bridge::{endpoint, Far};
use indexmap::IndexMap;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most nodes a file may define, ranges expanded; also the most
/// members one range may have, which bounds what a short file can expand to.
const MAX_NODES: usize = 4096;

const MAX_NAME: usize = 64;

/// How deep parentheses may nest in an `{EXPR}`; bounds the recursion.
const MAX_DEPTH: usize = 32;

/// A checked topology file.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    pub nodes: Vec<Node>,
    pub buses: Vec<Bus>,
    pub hosts: Vec<Host>,
}

/// A rump kernel to run; `line` is its table's.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub line: usize,
    pub ifaces: Vec<Iface>,
    pub routes: Vec<Route>,
    pub sysctls: Vec<Sysctl>,
    pub arp: Vec<ArpEntry>,
    pub ip: Vec<IpCommand>,
    /// The `[host.NAME]` it runs on; None: where rumpctl runs.
    pub host: Option<String>,
}

/// A shmif interface on a bus, or a tap interface on a host tap device
/// (then `bus` is `tap:DEVICE`, which no bus name can be). `netem` holds
/// the words after `netem`, unchecked; it is empty for none.
#[derive(Debug, Clone, PartialEq)]
pub struct Iface {
    pub name: String,
    pub bus: String,
    pub addrs: Vec<(IpAddr, u8)>,
    pub mtu: Option<u32>,
    pub netem: Vec<String>,
    pub line: usize,
}

impl Iface {
    /// The host tap device of a tap interface.
    pub fn tap(&self) -> Option<&str> {
        self.bus.strip_prefix(TAP_PREFIX)
    }
}

/// How an interface's BUS word names a host tap device instead.
const TAP_PREFIX: &str = "tap:";

/// A route; `default` is the unspecified address with prefix 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub dst: IpAddr,
    pub prefix: u8,
    pub gateway: IpAddr,
    pub line: usize,
}

/// A sysctl to set: `NAME=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sysctl {
    pub name: String,
    pub value: String,
    pub line: usize,
}

/// A permanent ARP entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ArpEntry {
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    pub line: usize,
}

/// The arguments of one `ip` command line.
#[derive(Debug, Clone, PartialEq)]
pub struct IpCommand {
    pub args: Vec<String>,
    pub line: usize,
}

/// A bus; `line` is its table's, or else that of the first interface on it.
/// `netem` is empty for none.
#[derive(Debug, Clone, PartialEq)]
pub struct Bus {
    pub name: String,
    pub netem: Vec<String>,
    /// A tap device or VXLAN segment `rumpctl bus bridge` joins it to.
    pub bridge: Option<Far>,
    pub line: usize,
}

/// What is wrong with a topology file, and where (line and column from 1).
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.msg)
    }
}

impl std::error::Error for ParseError {}

/// A place in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
}

/// The file as serde reads it. Each key of the format is one field of
/// these structs; serde refuses the others.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRepr {
    #[serde(default)]
    node: IndexMap<String, toml::Spanned<NodeRepr>>,
    #[serde(default)]
    bus: IndexMap<String, toml::Spanned<BusRepr>>,
    #[serde(default)]
    host: IndexMap<String, toml::Spanned<HostRepr>>,
}

/// A `[host.NAME]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostRepr {
    run: Option<String>,
    bin: Option<String>,
    addr: String,
}

/// A machine nodes run on: `run` is the command that runs a command
/// there (`ssh user@b`, `ip netns exec b`; None: this machine), `bin` the
/// directory of rumpctl and rump_server there, `addr` its address for
/// VXLAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub run: Option<String>,
    pub bin: Option<String>,
    pub addr: IpAddr,
}

/// A `[node.NAME]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRepr {
    #[serde(default)]
    ifaces: Vec<toml::Spanned<String>>,
    #[serde(default)]
    routes: Vec<toml::Spanned<String>>,
    #[serde(default)]
    sysctl: Vec<toml::Spanned<String>>,
    #[serde(default)]
    arp: Vec<toml::Spanned<String>>,
    #[serde(default)]
    ip: Vec<toml::Spanned<String>>,
    host: Option<toml::Spanned<String>>,
}

/// A `[bus.NAME]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusRepr {
    netem: Option<toml::Spanned<String>>,
    vxlan: Option<toml::Spanned<VxlanRepr>>,
    tap: Option<toml::Spanned<String>>,
}

/// A bus's `vxlan = { vni = N, local = "ADDR[:PORT]", peers = [...] }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VxlanRepr {
    vni: u32,
    local: String,
    peers: Vec<String>,
}

impl Topology {
    /// The node called `name`, by a linear search.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The bus called `name`, by a linear search.
    pub fn bus(&self, name: &str) -> Option<&Bus> {
        self.buses.iter().find(|b| b.name == name)
    }
}

/// Reads and checks a topology file.
pub fn parse(text: &str) -> Result<Topology, ParseError> {
    let at = Lines::new(text);
    let file: FileRepr = toml::from_str(text).map_err(|e| toml_error(&at, &e))?;
    // Nodes and buses in file order, so buses come in the order of mention.
    let mut tables: Vec<(usize, &str, Option<&NodeRepr>, Option<&BusRepr>)> = Vec::new();
    tables.extend(file.node.iter().map(|(name, t)| (t.span().start, name.as_str(), Some(t.get_ref()), None)));
    tables.extend(file.bus.iter().map(|(name, t)| (t.span().start, name.as_str(), None, Some(t.get_ref()))));
    tables.sort_by_key(|t| t.0);
    let mut builder = Builder::default();
    for (start, name, node, bus) in tables {
        let table = Table { name, pos: at.pos(start) };
        match (node, bus) {
            (Some(node), _) => builder.node_table(&table, node, &at)?,
            (_, Some(bus)) => builder.bus_table(&table, bus, &at)?,
            _ => unreachable!("each table is a node or a bus"),
        }
    }
    let mut topo = builder.finish()?;
    for (name, h) in &file.host {
        let pos = at.pos(h.span().start);
        check_name(name, "host").map_err(|m| err(pos, m))?;
        let HostRepr { run, bin, addr } = h.get_ref();
        let addr = address(addr).map_err(|m| err(pos, format!("host {name}: {m}")))?;
        topo.hosts.push(Host { name: name.clone(), run: run.clone(), bin: bin.clone(), addr });
    }
    for node in &topo.nodes {
        let known = |h: &String| topo.hosts.iter().any(|x| &x.name == h);
        match &node.host {
            Some(h) if !known(h) => {
                return Err(err(Pos { line: node.line, column: 1 }, format!("node {}: no [host.{h}] table", node.name)))
            }
            None if !topo.hosts.is_empty() => {
                let msg = format!("node {}: a file with [host] tables needs host = \"NAME\" on every node", node.name);
                return Err(err(Pos { line: node.line, column: 1 }, msg));
            }
            _ => {}
        }
    }
    Ok(topo)
}

/// A table being read: its name and where it starts.
struct Table<'a> {
    name: &'a str,
    pos: Pos,
}

/// Line starts, to turn byte offsets into lines and columns.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        Lines(std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }

    fn pos(&self, offset: usize) -> Pos {
        let line = self.0.partition_point(|&start| start <= offset);
        Pos { line, column: offset - self.0[line - 1] + 1 }
    }
}

/// The toml crate's error at its place, with the nearest known key added
/// to an unknown one.
fn toml_error(at: &Lines, e: &toml::de::Error) -> ParseError {
    let pos = e.span().map_or(Pos { line: 1, column: 1 }, |s| at.pos(s.start));
    let msg = e.message().trim_end().to_string();
    let msg = match nearest_field(&msg) {
        Some(known) => format!("{msg}; did you mean `{known}`?"),
        None => msg,
    };
    err(pos, msg)
}

/// For serde's "unknown field `x`, expected one of `a`, `b`", the expected
/// name closest to x, if any is close.
fn nearest_field(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|known| (strsim::damerau_levenshtein(unknown, known), known))
        .filter(|&(d, known)| d <= known.len().max(unknown.len()) / 2)
        .min_by_key(|&(d, _)| d)
        .map(|(_, known)| known)
}

fn err(pos: Pos, msg: impl Into<String>) -> ParseError {
    ParseError { line: pos.line, column: pos.column, msg: msg.into() }
}

/// Gathers nodes and buses table by table, checking names across the file.
#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    /// The line of the table that defined each node.
    node_lines: HashMap<String, usize>,
    buses: Vec<Bus>,
    /// Parallel to `buses`.
    bus_uses: Vec<BusUse>,
    bus_index: HashMap<String, usize>,
}

/// What the check for unused bus tables needs to know of a bus.
struct BusUse {
    used: bool,
    table_line: Option<usize>,
}

impl Builder {
    fn node_table(&mut self, table: &Table, repr: &NodeRepr, at: &Lines) -> Result<(), ParseError> {
        let names = Names::parse(table.name, "node").map_err(|m| err(table.pos, m))?;
        if self.nodes.len() + names.count() > MAX_NODES {
            let msg = format!("[node.{:?}] takes the number of nodes over the limit of {MAX_NODES}", table.name);
            return Err(err(table.pos, msg));
        }
        for (name, i) in names.expand() {
            let node = build_node(table, repr, at, name, i)?;
            self.add_node(node, &names)?;
        }
        Ok(())
    }

    fn add_node(&mut self, node: Node, names: &Names) -> Result<(), ParseError> {
        if let Some(first) = self.node_lines.insert(node.name.clone(), node.line) {
            let msg = format!("node {}{} is already defined on line {first}", node.name, names.origin());
            return Err(err(Pos { line: node.line, column: 1 }, msg));
        }
        for iface in node.ifaces.iter().filter(|i| i.tap().is_none()) {
            self.mention_bus(&iface.bus, iface.line);
        }
        self.nodes.push(node);
        Ok(())
    }

    fn mention_bus(&mut self, name: &str, line: usize) {
        match self.bus_index.get(name) {
            Some(&at) => self.bus_uses[at].used = true,
            None => self.push_bus(Bus { name: name.into(), netem: Vec::new(), bridge: None, line }, true, None),
        }
    }

    fn push_bus(&mut self, bus: Bus, used: bool, table_line: Option<usize>) {
        self.bus_index.insert(bus.name.clone(), self.buses.len());
        self.buses.push(bus);
        self.bus_uses.push(BusUse { used, table_line });
    }

    fn bus_table(&mut self, table: &Table, repr: &BusRepr, at: &Lines) -> Result<(), ParseError> {
        let names = Names::parse(table.name, "bus").map_err(|m| err(table.pos, m))?;
        for (name, i) in names.expand() {
            let netem = bus_netem(repr, at, i)?;
            let bridge = bus_bridge(repr, at)?;
            self.declare_bus(Bus { name, netem, bridge, line: table.pos.line }, &names)?;
        }
        Ok(())
    }

    /// Records a bus table's bus, which interfaces may have named already.
    fn declare_bus(&mut self, bus: Bus, names: &Names) -> Result<(), ParseError> {
        let Some(&at) = self.bus_index.get(&bus.name) else {
            let line = bus.line;
            self.push_bus(bus, false, Some(line));
            return Ok(());
        };
        if let Some(first) = self.bus_uses[at].table_line {
            let msg = format!("bus {}{} is already defined on line {first}", bus.name, names.origin());
            return Err(err(Pos { line: bus.line, column: 1 }, msg));
        }
        self.bus_uses[at].table_line = Some(bus.line);
        self.buses[at] = bus;
        Ok(())
    }

    fn finish(self) -> Result<Topology, ParseError> {
        for (bus, u) in self.buses.iter().zip(&self.bus_uses) {
            if let (false, Some(line)) = (u.used, u.table_line) {
                return Err(err(Pos { line, column: 1 }, format!("bus {} is not used by any interface", bus.name)));
            }
        }
        Ok(Topology { nodes: self.nodes, buses: self.buses, hosts: Vec::new() })
    }
}

/// A table's name: a single name, or a range `PREFIX{FIRST..LAST}SUFFIX`.
enum Names<'a> {
    One(&'a str),
    Range { template: &'a str, prefix: &'a str, first: u32, last: u32, suffix: &'a str },
}

impl<'a> Names<'a> {
    /// Checks `name` (of a `kind`, node or bus) and every name a range makes.
    fn parse(name: &'a str, kind: &str) -> Result<Names<'a>, String> {
        let Some((prefix, rest)) = name.split_once('{') else {
            check_name(name, kind)?;
            return Ok(Names::One(name));
        };
        let bad = || format!("bad range in {kind} name {name:?}; expected PREFIX{{FIRST..LAST}}SUFFIX, like r{{1..9}}");
        let (range, suffix) = rest.split_once('}').ok_or_else(bad)?;
        let (first, last) = range.split_once("..").ok_or_else(bad)?;
        let (first, last) = decimal(first).zip(decimal(last)).ok_or_else(bad)?;
        if first > last {
            return Err(format!("range {{{range}}} in {kind} name {name:?} is empty: FIRST is above LAST"));
        }
        if (last - first) as usize >= MAX_NODES {
            return Err(format!("range {{{range}}} has more than {MAX_NODES} members"));
        }
        // LAST has the most digits, so it makes the longest name.
        check_name(&format!("{prefix}{last}{suffix}"), kind)
            .map_err(|m| format!("{m} (made by the range {name:?})"))?;
        Ok(Names::Range { template: name, prefix, first, last, suffix })
    }

    fn count(&self) -> usize {
        match self {
            Names::One(_) => 1,
            Names::Range { first, last, .. } => (last - first) as usize + 1,
        }
    }

    /// Each name with its i, which is None outside a range.
    fn expand(&self) -> Vec<(String, Option<i64>)> {
        match self {
            Names::One(name) => vec![(name.to_string(), None)],
            Names::Range { prefix, first, last, suffix, .. } => {
                (*first..=*last).map(|i| (format!("{prefix}{i}{suffix}"), Some(i64::from(i)))).collect()
            }
        }
    }

    /// Where a name came from, for messages about it.
    fn origin(&self) -> String {
        match self {
            Names::One(_) => String::new(),
            Names::Range { template, .. } => format!(" (from {template})"),
        }
    }
}

fn check_name(name: &str, kind: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("empty {kind} name"));
    }
    if let Some(c) = name.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(format!("{kind} name {name:?} has the character {c:?}; names are made of A-Za-z0-9_.-"));
    }
    if name.len() > MAX_NAME {
        return Err(format!("{kind} name {name} is longer than {MAX_NAME} characters"));
    }
    Ok(())
}

/// A number of decimal digits only (`str::parse` would take a sign too).
fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The keys of a node table.
#[derive(Clone, Copy)]
enum NodeKey {
    Ifaces,
    Routes,
    Sysctl,
    Arp,
    Ip,
}

impl NodeKey {
    /// What one string under the key is called in messages.
    fn item(self) -> &'static str {
        match self {
            NodeKey::Ifaces => "interface",
            NodeKey::Routes => "route",
            NodeKey::Sysctl => "sysctl",
            NodeKey::Arp => "arp entry",
            NodeKey::Ip => "ip command",
        }
    }
}

impl NodeRepr {
    /// Each key's strings, in the order they are applied.
    fn keys(&self) -> [(NodeKey, &[toml::Spanned<String>]); 5] {
        [
            (NodeKey::Ifaces, &self.ifaces),
            (NodeKey::Routes, &self.routes),
            (NodeKey::Sysctl, &self.sysctl),
            (NodeKey::Arp, &self.arp),
            (NodeKey::Ip, &self.ip),
        ]
    }
}

/// The node a table makes for `name`, with its strings evaluated at `i`.
fn build_node(table: &Table, repr: &NodeRepr, at: &Lines, name: String, i: Option<i64>) -> Result<Node, ParseError> {
    let mut node = Node {
        name,
        line: table.pos.line,
        ifaces: Vec::new(),
        routes: Vec::new(),
        sysctls: Vec::new(),
        arp: Vec::new(),
        ip: Vec::new(),
        host: repr.host.as_ref().map(|h| h.get_ref().clone()),
    };
    for (key, items) in repr.keys() {
        for item in items {
            let (raw, pos) = (item.get_ref().as_str(), at.pos(item.span().start));
            let text = substitute(raw, i).map_err(|m| item_error(&node, key, raw, pos, m))?;
            add_item(&mut node, key, &text, pos.line).map_err(|m| item_error(&node, key, &text, pos, m))?;
        }
    }
    Ok(node)
}

/// An error in one string of a node, which it shows.
fn item_error(node: &Node, key: NodeKey, shown: &str, pos: Pos, msg: String) -> ParseError {
    err(pos, format!("node {}: {} {shown:?}: {msg}", node.name, key.item()))
}

fn add_item(node: &mut Node, key: NodeKey, text: &str, line: usize) -> Result<(), String> {
    match key {
        NodeKey::Ifaces => {
            let iface = iface(text, line)?;
            if let Some(first) = node.ifaces.iter().find(|f| f.name == iface.name) {
                return Err(format!("{} is already defined on line {}", iface.name, first.line));
            }
            node.ifaces.push(iface);
        }
        NodeKey::Routes => node.routes.push(route(text, line)?),
        NodeKey::Sysctl => node.sysctls.push(sysctl(text, line)?),
        NodeKey::Arp => node.arp.push(arp(text, line)?),
        NodeKey::Ip => {
            let args: Vec<String> = text.split_whitespace().map(String::from).collect();
            if args.is_empty() {
                return Err("an ip command needs at least one word".into());
            }
            node.ip.push(IpCommand { args, line });
        }
    }
    Ok(())
}

/// A bus table's netem words at `i`.
fn bus_netem(repr: &BusRepr, at: &Lines, i: Option<i64>) -> Result<Vec<String>, ParseError> {
    let Some(netem) = &repr.netem else { return Ok(Vec::new()) };
    let (raw, pos) = (netem.get_ref(), at.pos(netem.span().start));
    let text = substitute(raw, i).map_err(|m| err(pos, format!("netem {raw:?}: {m}")))?;
    let words: Vec<String> = text.split_whitespace().map(String::from).collect();
    if words.is_empty() {
        return Err(err(pos, "netem needs at least one word"));
    }
    Ok(words)
}

/// A bus table's `vxlan` or `tap` key, checked.
fn bus_bridge(repr: &BusRepr, at: &Lines) -> Result<Option<Far>, ParseError> {
    match (&repr.vxlan, &repr.tap) {
        (Some(_), Some(t)) => Err(err(at.pos(t.span().start), "a bus is bridged to vxlan or to a tap, not both")),
        (None, Some(t)) => {
            check_tap_device(t.get_ref()).map_err(|m| err(at.pos(t.span().start), m))?;
            Ok(Some(Far::Tap(t.get_ref().clone())))
        }
        (Some(v), None) => {
            let pos = at.pos(v.span().start);
            let VxlanRepr { vni, local, peers } = v.get_ref();
            if *vni >= 1 << 24 {
                return Err(err(pos, format!("vxlan: VNI {vni} does not fit in 24 bits")));
            }
            if peers.is_empty() {
                return Err(err(pos, "vxlan: peers needs at least one ADDR[:PORT]"));
            }
            let local = endpoint(local).map_err(|m| err(pos, format!("vxlan local: {m}")))?;
            let peers = peers.iter().map(|p| endpoint(p)).collect::<Result<_, _>>();
            Ok(Some(Far::Vxlan { vni: *vni, local, peers: peers.map_err(|m| err(pos, format!("vxlan peers: {m}")))? }))
        }
        (None, None) => Ok(None),
    }
}

fn iface(text: &str, line: usize) -> Result<Iface, String> {
    let mut words = text.split_whitespace();
    let (Some(name), Some(bus)) = (words.next(), words.next()) else {
        return Err("expected IFNAME BUS [ADDR/PREFIX]... [mtu N] [netem WORD...]".into());
    };
    check_ifname(name)?;
    match (name.starts_with("tap"), bus.strip_prefix(TAP_PREFIX)) {
        (true, Some(dev)) => check_tap_device(dev)?,
        (true, None) => return Err(format!("{name} needs a host tap device: {name} tap:DEVICE")),
        (false, Some(_)) => return Err(format!("{name} is on a bus; only tapN interfaces take tap:DEVICE")),
        (false, None) => check_name(bus, "bus")?,
    }
    let mut iface = Iface { name: name.into(), bus: bus.into(), addrs: Vec::new(), mtu: None, netem: Vec::new(), line };
    while let Some(word) = words.next() {
        match word {
            "mtu" if iface.mtu.is_some() => return Err("mtu is given twice".into()),
            "mtu" => iface.mtu = Some(mtu(words.next())?),
            "netem" => {
                iface.netem = words.by_ref().map(String::from).collect();
                if iface.netem.is_empty() {
                    return Err("netem needs at least one word".into());
                }
            }
            _ => iface.addrs.push(iface_address(word)?),
        }
    }
    Ok(iface)
}

fn check_ifname(name: &str) -> Result<(), String> {
    let unit = name.strip_prefix("shmif").or_else(|| name.strip_prefix("tap")).unwrap_or_default();
    if unit.is_empty() || !unit.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad interface name {name:?}; expected shmifN or tapN, like shmif0"));
    }
    // The kernel's IFNAMSIZ is 16, with the NUL.
    if name.len() >= 16 {
        return Err(format!("interface name {name} is longer than 15 characters"));
    }
    Ok(())
}

/// A Linux interface name: 1 to 15 bytes, no `/`, `:` or blank.
fn check_tap_device(dev: &str) -> Result<(), String> {
    if dev.is_empty() || dev.len() >= 16 || dev.contains(['/', ':']) {
        return Err(format!("bad tap device name {dev:?}; expected 1 to 15 characters without / or :"));
    }
    Ok(())
}

fn mtu(word: Option<&str>) -> Result<u32, String> {
    let word = word.ok_or("mtu needs a number")?;
    let mtu = decimal(word).ok_or_else(|| format!("mtu {word:?} is not a number"))?;
    if !(68..=9000).contains(&mtu) {
        return Err(format!("mtu {mtu} is out of range (68 to 9000)"));
    }
    Ok(mtu)
}

fn iface_address(word: &str) -> Result<(IpAddr, u8), String> {
    match word.split_once('/') {
        Some((addr, prefix)) => with_prefix(addr, prefix),
        None if word.parse::<IpAddr>().is_ok() => Err(format!("address {word} needs a /PREFIX")),
        None => Err(format!("unexpected word {word:?}; expected ADDR/PREFIX, mtu N or netem WORD...")),
    }
}

fn address(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("bad address {s:?}"))
}

fn with_prefix(addr: &str, prefix: &str) -> Result<(IpAddr, u8), String> {
    let addr = address(addr)?;
    let max = host_prefix(addr);
    match decimal(prefix) {
        Some(p) if p <= u32::from(max) => Ok((addr, p as u8)),
        _ => Err(format!("bad prefix /{prefix} for {} address {addr} (0 to {max})", family(addr))),
    }
}

fn host_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn family(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

fn route(text: &str, line: usize) -> Result<Route, String> {
    let mut words = text.split_whitespace();
    let (Some(dst), Some(gateway), None) = (words.next(), words.next(), words.next()) else {
        return Err("expected DST GATEWAY, where DST is default, ADDR or ADDR/PREFIX".into());
    };
    let gateway: IpAddr = gateway.parse().map_err(|_| format!("bad gateway {gateway:?}"))?;
    let (dst, prefix) = match (dst, gateway) {
        ("default", IpAddr::V4(_)) => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        ("default", IpAddr::V6(_)) => (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
        _ => match dst.split_once('/') {
            Some((addr, prefix)) => with_prefix(addr, prefix)?,
            None => address(dst).map(|a| (a, host_prefix(a)))?,
        },
    };
    if dst.is_ipv4() != gateway.is_ipv4() {
        return Err(format!("the destination is {} but the gateway is {}", family(dst), family(gateway)));
    }
    Ok(Route { dst, prefix, gateway, line })
}

fn sysctl(text: &str, line: usize) -> Result<Sysctl, String> {
    let (name, value) = text.split_once('=').ok_or("expected NAME=VALUE")?;
    let (name, value) = (name.trim(), value.trim());
    let bad_part = |p: &str| p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if name.split('.').any(bad_part) {
        return Err(format!("bad sysctl name {name:?}; expected dotted words, like net.inet.ip.forwarding"));
    }
    if value.is_empty() {
        return Err("expected a value after =".into());
    }
    Ok(Sysctl { name: name.into(), value: value.into(), line })
}

fn arp(text: &str, line: usize) -> Result<ArpEntry, String> {
    let mut words = text.split_whitespace();
    let (Some(ip), Some(mac), None) = (words.next(), words.next(), words.next()) else {
        return Err("expected IPV4 MAC".into());
    };
    let ip = ip.parse().map_err(|_| format!("bad IPv4 address {ip:?}"))?;
    let mac = mac_address(mac)
        .ok_or_else(|| format!("bad MAC address {mac:?}; expected six hex pairs, like b2:a0:00:00:00:09"))?;
    Ok(ArpEntry { ip, mac, line })
}

fn mac_address(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0; 6];
    let mut pairs = s.split(':');
    for byte in &mut mac {
        let pair = pairs.next().filter(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    pairs.next().is_none().then_some(mac)
}

/// `text` with each `{EXPR}` replaced by its value at `i` (None outside a
/// range table).
fn substitute(text: &str, i: Option<i64>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['{', '}']) {
        let (before, from_brace) = rest.split_at(at);
        out.push_str(before);
        let body = from_brace.strip_prefix('{').ok_or("} without an opening {")?;
        let (expr, after) = body.split_once('}').ok_or("{ without a closing }")?;
        let value = eval(expr, i).map_err(|m| match i {
            Some(i) => format!("{{{expr}}} at i = {i}: {m}"),
            None => format!("{{{expr}}}: {m}"),
        })?;
        out.push_str(&value.to_string());
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

fn eval(expr: &str, i: Option<i64>) -> Result<i64, String> {
    let mut e = Expr { text: expr, pos: 0, i, depth: 0 };
    let value = e.sum()?;
    match e.peek() {
        None => Ok(value),
        Some(c) => Err(format!("unexpected {c:?}")),
    }
}

const OVERFLOW: &str = "the value overflows 64 bits";

/// An `{EXPR}` read by recursive descent: sum = product {(+|-) product},
/// product = unary {(*|/|%) unary}, unary = {-} atom, atom = integer | i |
/// (sum).
struct Expr<'a> {
    text: &'a str,
    pos: usize,
    i: Option<i64>,
    depth: usize,
}

impl<'a> Expr<'a> {
    /// The next character past blanks, which are skipped.
    fn peek(&mut self) -> Option<char> {
        let rest = &self.text[self.pos..];
        let trimmed = rest.trim_start();
        self.pos += rest.len() - trimmed.len();
        trimmed.chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += c.len_utf8();
        }
        found
    }

    fn sum(&mut self) -> Result<i64, String> {
        let mut value = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek() {
            self.pos += 1;
            let rhs = self.product()?;
            let result = if op == '+' { value.checked_add(rhs) } else { value.checked_sub(rhs) };
            value = result.ok_or(OVERFLOW)?;
        }
        Ok(value)
    }

    fn product(&mut self) -> Result<i64, String> {
        let mut value = self.unary()?;
        while let Some(op @ ('*' | '/' | '%')) = self.peek() {
            self.pos += 1;
            let rhs = self.unary()?;
            if op != '*' && rhs == 0 {
                return Err("division by zero".into());
            }
            let result = match op {
                '*' => value.checked_mul(rhs),
                '/' => value.checked_div(rhs),
                _ => value.checked_rem(rhs),
            };
            value = result.ok_or(OVERFLOW)?;
        }
        Ok(value)
    }

    fn unary(&mut self) -> Result<i64, String> {
        let mut negative = false;
        while self.eat('-') {
            negative = !negative;
        }
        let value = self.atom()?;
        if negative {
            value.checked_neg().ok_or_else(|| OVERFLOW.into())
        } else {
            Ok(value)
        }
    }

    fn atom(&mut self) -> Result<i64, String> {
        match self.peek() {
            Some('(') => self.parenthesized(),
            Some(c) if c.is_ascii_digit() => {
                let digits = self.take(|c| c.is_ascii_digit());
                digits.parse().map_err(|_| format!("{digits} is too large"))
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                match self.take(|c| c.is_ascii_alphanumeric() || c == '_') {
                    "i" => self.i.ok_or_else(|| "i is only defined in a range table, like [node.\"r{1..9}\"]".into()),
                    name => Err(format!("unknown name {name}; the only variable is i")),
                }
            }
            Some(c) => Err(format!("expected a number, i or (, found {c:?}")),
            None => Err("the expression ends early; expected a number, i or (".into()),
        }
    }

    fn parenthesized(&mut self) -> Result<i64, String> {
        if self.depth == MAX_DEPTH {
            return Err(format!("parentheses nest more than {MAX_DEPTH} deep"));
        }
        self.pos += 1;
        self.depth += 1;
        let value = self.sum()?;
        self.depth -= 1;
        if !self.eat(')') {
            return Err("missing )".into());
        }
        Ok(value)
    }

    fn take(&mut self, accept: fn(char) -> bool) -> &'a str {
        let (start, text) = (self.pos, self.text);
        self.pos += text[start..].find(|c| !accept(c)).unwrap_or(text.len() - start);
        &text[start..self.pos]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"# A — bus1 — R — bus2 — B
[bus.bus1]
netem = "loss 10% delay 20ms 5ms seed 7"

[node.a]
ifaces = ["shmif0 bus1 10.0.1.1/24 2001:db8:1::1/64"]
routes = ["default 10.0.1.254", "2001:db8:2::/64 2001:db8:1::254"]
sysctl = ["net.inet.arp.keep=5"]
arp = ["10.0.1.9 b2:a0:00:00:00:09"]

[node.r]
ifaces = [
  "shmif0 bus1 10.0.1.254/24 2001:db8:1::254/64",
  "shmif1 bus2 10.0.2.254/24 mtu 1280 netem loss 1% seed 3",  # lossy
]
sysctl = ["net.inet.ip.forwarding=1", "net.inet6.ip6.forwarding = 1"]

[node.b]
ifaces = ['shmif0 bus2 10.0.2.1/24']
routes = ["10.0.1.0/24 10.0.2.254", "10.0.1.1 10.0.2.254", "2001:db8:1::1 fe80::1"]
"#;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn iface(name: &str, bus: &str, addrs: &[(&str, u8)], line: usize) -> Iface {
        let addrs = addrs.iter().map(|&(a, p)| (ip(a), p)).collect();
        Iface { name: name.into(), bus: bus.into(), addrs, mtu: None, netem: Vec::new(), line }
    }

    fn route(dst: &str, prefix: u8, gateway: &str, line: usize) -> Route {
        Route { dst: ip(dst), prefix, gateway: ip(gateway), line }
    }

    fn sysctl(name: &str, value: &str, line: usize) -> Sysctl {
        Sysctl { name: name.into(), value: value.into(), line }
    }

    fn node(name: &str, line: usize) -> Node {
        Node {
            name: name.into(),
            line,
            ifaces: vec![],
            routes: vec![],
            sysctls: vec![],
            arp: vec![],
            ip: vec![],
            host: None,
        }
    }

    fn err(text: &str) -> (usize, String) {
        let e = parse(text).unwrap_err();
        (e.line, e.msg)
    }

    /// Asserts that `text` fails on `line` with a message containing `part`.
    #[track_caller]
    fn fails(text: &str, line: usize, part: &str) {
        let (got_line, msg) = err(text);
        assert!(msg.contains(part), "message {msg:?} lacks {part:?}");
        assert_eq!(got_line, line, "line of {msg:?}");
    }

    #[test]
    fn buses_bridged_to_vxlan_or_a_tap() {
        let t = parse(
            "[bus.b1]\nvxlan = { vni = 42, local = '10.99.0.1', peers = ['10.99.0.2', '10.99.0.3:8472'] }\n\
             [bus.b2]\ntap = 'tap7'\n[node.a]\nifaces = ['shmif0 b1', 'shmif1 b2']",
        )
        .unwrap();
        let vx = Far::Vxlan {
            vni: 42,
            local: "10.99.0.1:4789".parse().unwrap(),
            peers: vec!["10.99.0.2:4789".parse().unwrap(), "10.99.0.3:8472".parse().unwrap()],
        };
        assert_eq!(t.bus("b1").unwrap().bridge, Some(vx));
        assert_eq!(t.bus("b2").unwrap().bridge, Some(Far::Tap("tap7".into())));
        let use_b = "\n[node.a]\nifaces = ['shmif0 b']";
        fails(&format!("[bus.b]\nvxlan = {{ vni = 16777216, local = '::1', peers = ['::2'] }}{use_b}"), 2, "24 bits");
        fails(&format!("[bus.b]\nvxlan = {{ vni = 1, local = 'x', peers = ['::2'] }}{use_b}"), 2, "vxlan local: x:");
        fails(&format!("[bus.b]\nvxlan = {{ vni = 1, local = '::1', peers = [] }}{use_b}"), 2, "at least one");
        fails(&format!("[bus.b]\nvxlan = {{ vni = 1, local = '::1' }}{use_b}"), 2, "missing field `peers`");
        fails(
            &format!("[bus.b]\ntap = 't0'\nvxlan = {{ vni = 1, local = '::1', peers = ['::2'] }}{use_b}"),
            2,
            "not both",
        );
    }

    #[test]
    fn tap_interfaces_name_a_device_not_a_bus() {
        let t = parse("[node.a]\nifaces = [\"tap0 tap:rtap0 10.9.0.2/24\", \"shmif0 b1\"]").unwrap();
        let a = t.node("a").unwrap();
        assert_eq!(a.ifaces[0].tap(), Some("rtap0"));
        assert_eq!(a.ifaces[0].addrs, vec![("10.9.0.2".parse().unwrap(), 24)]);
        assert_eq!(a.ifaces[1].tap(), None);
        assert!(t.bus("tap:rtap0").is_none() && t.bus("b1").is_some());
        fails("[node.a]\nifaces = [\"tap0 b1\"]", 2, "needs a host tap device");
        fails("[node.a]\nifaces = [\"shmif0 tap:x\"]", 2, "only tapN interfaces take tap:DEVICE");
        fails("[node.a]\nifaces = [\"tap0 tap:a/b\"]", 2, "bad tap device name");
        fails("[node.a]\nifaces = [\"tap0 tap:\"]", 2, "bad tap device name");
    }

    #[test]
    fn two_hosts_and_a_router() {
        let t = parse(EXAMPLE).unwrap();
        let a = Node {
            ifaces: vec![iface("shmif0", "bus1", &[("10.0.1.1", 24), ("2001:db8:1::1", 64)], 6)],
            routes: vec![route("0.0.0.0", 0, "10.0.1.254", 7), route("2001:db8:2::", 64, "2001:db8:1::254", 7)],
            sysctls: vec![sysctl("net.inet.arp.keep", "5", 8)],
            arp: vec![ArpEntry { ip: Ipv4Addr::new(10, 0, 1, 9), mac: [0xb2, 0xa0, 0, 0, 0, 9], line: 9 }],
            ..node("a", 5)
        };
        let mut lossy = iface("shmif1", "bus2", &[("10.0.2.254", 24)], 14);
        lossy.mtu = Some(1280);
        lossy.netem = words("loss 1% seed 3");
        let r = Node {
            ifaces: vec![iface("shmif0", "bus1", &[("10.0.1.254", 24), ("2001:db8:1::254", 64)], 13), lossy],
            sysctls: vec![sysctl("net.inet.ip.forwarding", "1", 16), sysctl("net.inet6.ip6.forwarding", "1", 16)],
            ..node("r", 11)
        };
        let b = Node {
            ifaces: vec![iface("shmif0", "bus2", &[("10.0.2.1", 24)], 19)],
            routes: vec![
                route("10.0.1.0", 24, "10.0.2.254", 20),
                route("10.0.1.1", 32, "10.0.2.254", 20),
                route("2001:db8:1::1", 128, "fe80::1", 20),
            ],
            ..node("b", 18)
        };
        let buses = vec![
            Bus { name: "bus1".into(), netem: words("loss 10% delay 20ms 5ms seed 7"), bridge: None, line: 2 },
            Bus { name: "bus2".into(), netem: vec![], bridge: None, line: 14 },
        ];
        assert_eq!(t, Topology { nodes: vec![a, r, b], buses, hosts: vec![] });
        assert_eq!(t.node("r").unwrap().line, 11);
        assert_eq!(t.bus("bus2").unwrap().line, 14);
        assert!(t.node("x").is_none() && t.bus("bus3").is_none());
    }

    fn chain(n: u32) -> String {
        format!(
            "[node.\"r{{1..{n}}}\"]\n\
             ifaces = [\"shmif0 c{{i-1}} 10.{{(i-1)/256}}.{{(i-1)%256}}.2/24\", \"shmif1 c{{i}} 10.{{i/256}}.{{i%256}}.1/24\"]\n\
             routes = [\"default 10.{{(i-1)/256}}.{{(i-1)%256}}.1\"]\n\
             sysctl = [\"net.inet.ip.forwarding=1\"]\n\
             [bus.\"c{{0..{n}}}\"]\nnetem = \"delay {{ -(-i) * 2 + 1 }}ms seed {{i}}\"\n"
        )
    }

    #[test]
    fn ip_lines_are_words_evaluated_per_node() {
        let t =
            parse("[node.\"n{1..2}\"]\nip = [\"addr add 10.0.{i}.1/24 dev shmif0\", \"link set lo0 up\"]\n").unwrap();
        let n2 = t.node("n2").unwrap();
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            n2.ip,
            [
                IpCommand { args: words("addr add 10.0.2.1/24 dev shmif0"), line: 2 },
                IpCommand { args: words("link set lo0 up"), line: 2 }
            ]
        );
        fails("[node.a]\nip = [\"  \"]\n", 2, "node a: ip command \"  \": an ip command needs at least one word");
    }

    #[test]
    fn a_range_makes_a_chain() {
        let t = parse(&chain(255)).unwrap();
        assert_eq!(t.nodes.len(), 255);
        assert_eq!(t.buses.len(), 256);
        let r7 = t.node("r7").unwrap();
        assert_eq!(r7.line, 1);
        assert_eq!(r7.ifaces[0], iface("shmif0", "c6", &[("10.0.6.2", 24)], 2));
        assert_eq!(r7.ifaces[1], iface("shmif1", "c7", &[("10.0.7.1", 24)], 2));
        assert_eq!(r7.routes, [route("0.0.0.0", 0, "10.0.6.1", 3)]);
        let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names[..3], ["r1", "r2", "r3"]);
        assert_eq!(names[254], "r255");
        // Interfaces name c0, c1, ... first; the bus table only adds netem.
        assert_eq!(t.buses[0], Bus { name: "c0".into(), netem: words("delay 1ms seed 0"), bridge: None, line: 5 });
        assert_eq!(t.buses[255].netem, words("delay 511ms seed 255"));
    }

    #[test]
    fn chains_parse_fast() {
        let text = chain(255);
        let start = std::time::Instant::now();
        parse(&text).unwrap();
        // Generous, for unoptimized builds on a loaded machine.
        assert!(start.elapsed() < std::time::Duration::from_millis(200), "{:?}", start.elapsed());
    }

    #[test]
    fn expressions() {
        let at = |e: &str, i| substitute(e, Some(i));
        assert_eq!(
            at("{1 + 2 * 3} {(1 + 2) * 3} {7 / 2} {-7 / 2} {-7 % 3} {i--1} {10-i-1}", 4).unwrap(),
            "7 9 3 -3 -1 5 5"
        );
        assert_eq!(substitute("x{2*3}y", None).unwrap(), "x6y");
        assert_eq!(substitute("plain", None).unwrap(), "plain");
        assert_eq!(at("{i/(i-4)}", 4).unwrap_err(), "{i/(i-4)} at i = 4: division by zero");
        assert!(at("{i%0}", 1).unwrap_err().contains("division by zero"));
        assert!(at("{j}", 1).unwrap_err().contains("unknown name j"));
        assert!(at("{i", 1).unwrap_err().contains("without a closing }"));
        assert!(at("i}", 1).unwrap_err().contains("without an opening {"));
        assert!(at("{(i}", 1).unwrap_err().contains("missing )"));
        assert!(at("{i i}", 1).unwrap_err().contains("unexpected 'i'"));
        assert!(at("{}", 1).unwrap_err().contains("ends early"));
        assert!(at("{9223372036854775807 + i}", 1).unwrap_err().contains("overflows"));
        assert!(at("{-9223372036854775807 - 1 / -1}", 1).is_ok());
        assert!(at("{(-9223372036854775807 - 1) / -1}", 1).unwrap_err().contains("overflows"));
        assert!(at("{99999999999999999999}", 1).unwrap_err().contains("too large"));
        assert!(substitute("{i}", None).unwrap_err().contains("only defined in a range table"));
        let deep = format!("{{{}1{}}}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(at(&deep, 1).unwrap_err().contains("nest more than"));
        assert_eq!(at(&format!("{{{}1}}", "-".repeat(10_001)), 1).unwrap(), "-1");
    }

    #[test]
    fn table_errors() {
        fails("\n[host.a]", 2, "missing field `addr`");
        fails("[hosts.a]", 1, "unknown field `hosts`, expected one of `node`, `bus`, `host`; did you mean `host`?");
        fails("[nodes.a]", 1, "unknown field `nodes`, expected one of `node`, `bus`, `host`; did you mean `node`?");
        fails("[host.h]\naddr = '::1'\n[node.a]", 3, "node a: a file with [host] tables needs host");
        fails("[host.h]\naddr = '::1'\n[node.a]\nhost = 'g'", 3, "node a: no [host.g] table");
        fails("[host.h]\naddr = 'x'", 1, "host h: bad address");
        fails("[node.a.b]", 1, "unknown field `b`");
        fails("x = 1\n[node.a]", 1, "unknown field `x`");
        fails(
            "[node.a]\n\nfoo = []",
            3,
            "unknown field `foo`, expected one of `ifaces`, `routes`, `sysctl`, `arp`, `ip`, `host`",
        );
        fails("[node.a]\nroute = []", 2, "did you mean `routes`?");
        fails("[node.a]\nsysctls = []", 2, "did you mean `sysctl`?");
        fails("[bus.b]\nnetem = 'x'\nloss = 1", 3, "unknown field `loss`, expected one of `netem`, `vxlan`, `tap`");
        fails("[node.a]\nifaces = 'shmif0 b'", 2, "invalid type: string \"shmif0 b\", expected a sequence");
        fails("[node.a]\nroutes = [\n'default 10.0.0.1',\n 5]", 4, "invalid type: integer `5`, expected a string");
        fails("[bus.b]\nnetem = ['x']", 2, "invalid type: sequence, expected a string");
        fails("[bus.b]\nnetem = ' '", 2, "netem needs at least one word");
    }

    #[test]
    fn syntax_errors_keep_their_lines() {
        fails("[node.a]\nifaces = [\"shmif0 b 10.0.0.1/8\"\nroutes = []", 3, "missing comma between array elements");
        fails("[node.a]\nifaces = [\"shmif0 b\",\n", 2, "unclosed array");
        fails("[node.a\nifaces = []", 1, "unclosed table");
        fails("[node.a]\n\nifaces = [\"shmif0 b]", 3, "unclosed array");
        fails("[node.a]\n[node.a]", 2, "duplicate key");
    }

    /// What the old subset refused, TOML 1.0 allows: the same network
    /// written with inline tables, dotted keys and multi-line arrays.
    #[test]
    fn full_toml() {
        let text = r#"
node.a = { ifaces = ["shmif0 bus1 10.0.1.1/24"], routes = ["default 10.0.1.254"] }
node.r.ifaces = [
    """shmif0 bus1 10.0.1.254/24""",   # a multi-line basic string
    'shmif1 bus2 10.0.2.254/24',
]
node.r.sysctl = ["net.inet.ip.forwarding=1"]
[bus]
bus2 = { netem = "loss 10% seed 7" }
[node.b]
ifaces = ["shmif0 bus2 10.0.2.1/24",]
"#;
        let t = parse(text).unwrap();
        let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "r", "b"]);
        assert_eq!(t.node("r").unwrap().ifaces[1], iface("shmif1", "bus2", &[("10.0.2.254", 24)], 5));
        assert_eq!(t.node("r").unwrap().sysctls, [sysctl("net.inet.ip.forwarding", "1", 7)]);
        assert_eq!(t.bus("bus2").unwrap().netem, words("loss 10% seed 7"));
        let e = parse("node.a = { ifaces = ['shmif0 b 10.0.0.1/33'] }").unwrap_err();
        assert_eq!((e.line, e.column), (1, 22));
        assert!(e.msg.starts_with("node a: interface \"shmif0 b 10.0.0.1/33\": bad prefix /33"), "{}", e.msg);
    }

    #[test]
    fn item_errors() {
        let node = |items: &str| format!("# c\n[node.a]\n{items}\n");
        fails(
            &node("ifaces = ['shmif0 b 10.0.300.1/24']"),
            3,
            "node a: interface \"shmif0 b 10.0.300.1/24\": bad address \"10.0.300.1\"",
        );
        fails(&node("ifaces = ['shmif0 b 10.0.0.1/33']"), 3, "bad prefix /33 for IPv4 address 10.0.0.1 (0 to 32)");
        fails(&node("ifaces = ['shmif0 b ::1/129']"), 3, "bad prefix /129 for IPv6 address ::1 (0 to 128)");
        fails(&node("ifaces = ['shmif0 b 10.0.0.1/x']"), 3, "bad prefix /x");
        fails(&node("ifaces = ['shmif0 b 10.0.0.1']"), 3, "address 10.0.0.1 needs a /PREFIX");
        fails(&node("ifaces = ['shmif0 b up']"), 3, "unexpected word \"up\"");
        fails(&node("ifaces = ['shmif0']"), 3, "expected IFNAME BUS");
        fails(&node("ifaces = ['eth0 b']"), 3, "bad interface name \"eth0\"");
        fails(&node("ifaces = ['shmif01234567890123 b']"), 3, "longer than 15");
        fails(&node("ifaces = ['shmif0 b/c']"), 3, "bus name \"b/c\" has the character '/'");
        fails(&node("ifaces = ['shmif0 b mtu 67']"), 3, "mtu 67 is out of range");
        fails(&node("ifaces = ['shmif0 b mtu']"), 3, "mtu needs a number");
        fails(&node("ifaces = ['shmif0 b mtu 1500 mtu 1500']"), 3, "mtu is given twice");
        fails(&node("ifaces = ['shmif0 b netem']"), 3, "netem needs at least one word");
        fails(&node("ifaces = ['shmif0 b',\n 'shmif0 c']"), 4, "shmif0 is already defined on line 3");
        fails(
            &node("routes = ['default ::1', '10.0.0.0/8 fe80::1']"),
            3,
            "the destination is IPv4 but the gateway is IPv6",
        );
        fails(&node("routes = ['::/0 10.0.0.1']"), 3, "the destination is IPv6 but the gateway is IPv4");
        fails(&node("routes = ['default']"), 3, "expected DST GATEWAY");
        fails(&node("routes = ['default 10.0.0.1/8']"), 3, "bad gateway");
        fails(&node("sysctl = ['net.inet']"), 3, "expected NAME=VALUE");
        fails(&node("sysctl = ['net..inet=1']"), 3, "bad sysctl name");
        fails(&node("sysctl = ['a.b = ']"), 3, "expected a value");
        fails(&node("arp = ['10.0.0.1 b2:a0:00:00:00']"), 3, "bad MAC address");
        fails(&node("arp = ['10.0.0.1 b2:a0:00:00:00:0g']"), 3, "bad MAC address");
        fails(&node("arp = ['::1 b2:a0:00:00:00:09']"), 3, "bad IPv4 address");
    }

    #[test]
    fn range_errors() {
        fails(
            "[node.r5]\nifaces = ['shmif0 b']\n[node.\"r{1..9}\"]",
            3,
            "node r5 (from r{1..9}) is already defined on line 1",
        );
        fails("[node.\"r{1..3}\"]\n[node.\"r{3..4}\"]", 2, "node r3 (from r{3..4}) is already defined on line 1");
        fails("[node.\"r{1..9}\"]\n[node.r5]", 2, "node r5 is already defined on line 1");
        fails("[bus.\"c{1..2}\"]\n[bus.c2]", 2, "bus c2 is already defined on line 1");
        fails("[node.\"r{3..1}\"]", 1, "is empty");
        fails("[node.\"r{1..x}\"]", 1, "bad range");
        fails("[node.\"r{1..}\"]", 1, "bad range");
        fails("[node.\"r{1..2\"]", 1, "bad range");
        fails("[node.\"r{1..2}{3..4}\"]", 1, "has the character '{'");
        fails("[node.\"r{0..5000}\"]", 1, "more than 4096 members");
        fails("[node.\"r{1..4000}\"]\n[node.\"s{1..97}\"]", 2, "over the limit of 4096");
        fails(&format!("[node.\"{}{{1..10}}\"]", "x".repeat(63)), 1, "longer than 64");
        fails("[node.\"a b\"]", 1, "node name \"a b\" has the character ' '");
        fails("[node.\"\"]", 1, "empty node name");
        let text = "[node.\"r{1..9}\"]\nifaces = [\n 'shmif0 c{i}',\n 'shmif1 d{10 / (i - 3)}',\n]";
        fails(text, 4, "node r3: interface \"shmif1 d{10 / (i - 3)}\": {10 / (i - 3)} at i = 3: division by zero");
        fails("[node.\"r{1..2}\"]\nsysctl = ['x.y={k}']", 2, "unknown name k");
        fails("[node.\"r{1..2}\"]\nsysctl = ['x.y={i']", 2, "{ without a closing }");
        fails("[node.a]\nsysctl = ['x.y={i}']", 2, "only defined in a range table");
    }

    #[test]
    fn bus_tables_need_an_interface() {
        fails("[bus.lonely]\n[node.a]\nifaces = ['shmif0 b']", 1, "bus lonely is not used by any interface");
        fails(
            "[bus.\"c{0..3}\"]\n[node.\"r{1..3}\"]\nifaces = ['shmif0 c{i}']",
            1,
            "bus c0 is not used by any interface",
        );
        // A table after the interfaces keeps the order of first mention.
        let t = parse("[node.a]\nifaces = ['shmif0 x', 'shmif1 y']\n[bus.y]\nnetem = 'loss 5%'\n").unwrap();
        let got: Vec<(&str, usize)> = t.buses.iter().map(|b| (b.name.as_str(), b.line)).collect();
        assert_eq!(got, [("x", 2), ("y", 3)]);
        assert_eq!(t.buses[1].netem, words("loss 5%"));
    }

    #[test]
    fn errors_display_their_line() {
        let e = parse("[node.a]\n  ifaces = ['shmif0 b 10.0.300.1/24']").unwrap_err();
        assert_eq!(e.to_string(), "2:13: node a: interface \"shmif0 b 10.0.300.1/24\": bad address \"10.0.300.1\"");
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert!(boxed.to_string().starts_with("2:13: "));
    }

    #[test]
    fn empty_files_make_empty_topologies() {
        assert_eq!(parse("# nothing\n\n").unwrap(), Topology { nodes: vec![], buses: vec![], hosts: vec![] });
        assert_eq!(parse("[node.solo]").unwrap().nodes, [node("solo", 1)]);
    }

    /// Truncated and garbled variants of good files must fail cleanly.
    #[test]
    fn garbage_never_panics() {
        let good = format!("{EXAMPLE}{}", chain(3));
        let chars: Vec<(usize, char)> = good.char_indices().collect();
        let junk =
            ['[', ']', '{', '}', '"', '\'', '\\', '=', ',', '#', '\n', '\r', '.', '/', ':', '-', '0', '9', 'x', ' '];
        for (n, &(at, c)) in chars.iter().enumerate() {
            let (before, after) = (&good[..at], &good[at + c.len_utf8()..]);
            let _ = parse(before);
            let _ = parse(&format!("{before}{after}"));
            let _ = parse(&format!("{before}{c}{c}{after}"));
            // Each junk character lands at every fifth position, in turn.
            for j in junk.iter().skip(n % 5).step_by(5) {
                let _ = parse(&format!("{before}{j}{after}"));
            }
        }
        // And some deterministic noise, a splice at a time.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let (a, b) = (chars[seed as usize % chars.len()].0, chars[(seed >> 20) as usize % chars.len()].0);
            let (a, b) = (a.min(b), a.max(b));
            let _ = parse(&format!("{}{}{}", &good[..a], &good[b..], &good[a..b]));
        }
    }
}
