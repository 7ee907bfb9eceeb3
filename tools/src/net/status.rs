//! `rumpctl net status`: what each node's kernel says now, as tables —
//! servers, interfaces (bus, MAC, MTU, addresses, counters, impairment),
//! gateway routes, and per bus the frames its members sent and dropped
//! and what the bus file holds. A node whose server is gone is shown as
//! such; the rest are still asked.

use super::configure::{ifreq, IFR_UNION};
use super::state::{NodeEntry, State};
use crate::netem;
use rump_abi::linux::sys::{rump_sys_close, rump_sys_ioctl, rump_sys_open, rump_sys_read, rump_sys_socket};
use rump_abi::native::sys as native_sys;
use rump_abi::pod::Pod;
use rump_kernel::net::shmif::Snapshot;
use rump_kernel::syscalls::ifconfig::{IfNetem, SIOCGIFNETEM};
use rumpclient::client::Client;
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;
use std::collections::HashMap;
use std::ffi::CString;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One interface as its kernel reports it.
#[derive(Default)]
struct IfView {
    mac: String,
    mtu: i32,
    addrs: Vec<String>,
    tx: u64,
    rx: u64,
    dropped: u64,
    /// Times this interface's bus reader fell a ring behind (/proc/net/dev rx fifo).
    overruns: u64,
    netem: Option<IfNetem>,
}

/// One node: its interfaces by name and its gateway routes
/// (destination, gateway, interface).
struct NodeView {
    ifaces: HashMap<String, IfView>,
    routes: Vec<(String, String, String)>,
}

fn connect(n: &NodeEntry, emul: Emulation) -> Result<Client, String> {
    let url = ServerUrl::parse(&n.url).map_err(|e| e.to_string())?;
    Client::connect(&url, emul, "rumpctl-net").map_err(|e| e.to_string())
}

/// A whole file of the kernel's procfs, through a Linux connection.
fn proc_file(c: &Client, path: &str) -> Result<String, String> {
    let p = CString::new(path).map_err(|_| "NUL in path")?;
    let fd = rump_sys_open(c, p.as_ptr(), 0, 0).map_err(|e| format!("{path}: errno {}", e.raw()))? as u32;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16384];
    loop {
        match rump_sys_read(c, fd, buf.as_mut_ptr().cast(), buf.len()) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n as usize]),
            Err(e) => {
                let _ = rump_sys_close(c, fd);
                return Err(format!("{path}: errno {}", e.raw()));
            }
        }
    }
    let _ = rump_sys_close(c, fd);
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A /proc/net/route word: the address as the kernel's u32, in hex.
fn route_v4(hex: &str) -> Option<Ipv4Addr> {
    u32::from_str_radix(hex, 16).ok().map(|v| Ipv4Addr::from(v.to_le_bytes()))
}

fn hex_v6(hex: &str) -> Option<Ipv6Addr> {
    u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)
}

fn ifreq_call(c: &Client, s: u32, cmd: u64, name: &str) -> Option<[u8; 40]> {
    let mut r = ifreq(name);
    rump_sys_ioctl(c, s, cmd as u32, r.as_mut_ptr().cast()).ok().map(|_| r)
}

fn ask(n: &NodeEntry, names: &[&str]) -> Result<NodeView, String> {
    let linux = connect(n, Emulation::Linux)?;
    let native = connect(n, Emulation::Native)?;
    let mut ifaces: HashMap<String, IfView> = names.iter().map(|i| (i.to_string(), IfView::default())).collect();
    let s = rump_sys_socket(&linux, 2, 2, 0).map_err(|e| format!("socket: errno {}", e.raw()))? as u32;
    let ns = native_sys::rump_sys_socket(&native, 2, 2, 0).map_err(crate::strerror)?;
    for (name, v) in ifaces.iter_mut() {
        if let Some(r) = ifreq_call(&linux, s, libc::SIOCGIFHWADDR, name) {
            v.mac = r[18..24].iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
        }
        if let Some(r) = ifreq_call(&linux, s, libc::SIOCGIFMTU, name) {
            v.mtu = i32::from_ne_bytes(r[IFR_UNION..IFR_UNION + 4].try_into().unwrap_or_default());
        }
        let addr = ifreq_call(&linux, s, libc::SIOCGIFADDR, name);
        let mask = ifreq_call(&linux, s, libc::SIOCGIFNETMASK, name);
        if let (Some(a), Some(m)) = (addr, mask) {
            let bits = u32::from_be_bytes(m[20..24].try_into().unwrap_or_default()).count_ones();
            v.addrs.push(format!("{}/{bits}", Ipv4Addr::new(a[20], a[21], a[22], a[23])));
        }
        let mut q = IfNetem::default();
        q.name[..name.len()].copy_from_slice(name.as_bytes());
        let asked = native_sys::rump_sys_ioctl(&native, ns, SIOCGIFNETEM as _, q.as_bytes_mut().as_mut_ptr().cast());
        if asked.is_ok() && q.flags != 0 {
            v.netem = Some(q);
        }
    }
    let _ = native_sys::rump_sys_close(&native, ns);
    let _ = rump_sys_close(&linux, s);
    for line in proc_file(&linux, "/proc/net/if_inet6")?.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if let [addr, _, prefix, _, _, name] = w.as_slice() {
            if let (Some(v), Some(a), Ok(p)) = (ifaces.get_mut(*name), hex_v6(addr), u8::from_str_radix(prefix, 16)) {
                v.addrs.push(format!("{a}/{p}"));
            }
        }
    }
    for line in proc_file(&linux, "/proc/net/dev")?.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else { continue };
        let f: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        if let (Some(v), true) = (ifaces.get_mut(name.trim()), f.len() >= 12) {
            (v.rx, v.overruns, v.tx, v.dropped) = (f[1], f[4], f[9], f[11]);
        }
    }
    let mut routes = Vec::new();
    for line in proc_file(&linux, "/proc/net/route")?.lines().skip(1) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if let [ifname, dst, gw, flags, _, _, _, mask, ..] = w.as_slice() {
            if u16::from_str_radix(flags, 16).is_ok_and(|f| f & 2 != 0) {
                let (Some(d), Some(g), Some(m)) = (route_v4(dst), route_v4(gw), route_v4(mask)) else { continue };
                routes.push((format!("{d}/{}", u32::from(m).count_ones()), g.to_string(), ifname.to_string()));
            }
        }
    }
    for line in proc_file(&linux, "/proc/net/ipv6_route")?.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if let [dst, len, _, _, gw, _, _, _, flags, ifname] = w.as_slice() {
            if u32::from_str_radix(flags, 16).is_ok_and(|f| f & 2 != 0) {
                let (Some(d), Some(g), Ok(l)) = (hex_v6(dst), hex_v6(gw), u8::from_str_radix(len, 16)) else {
                    continue;
                };
                routes.push((format!("{d}/{l}"), g.to_string(), ifname.to_string()));
            }
        }
    }
    Ok(NodeView { ifaces, routes })
}

/// Left-aligned columns as wide as their widest cell.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(String::len).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r.iter().enumerate().map(|(c, s)| format!("{s:<w$}", w = width[c])).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

/// One table as JSON: an array of objects keyed by the lower-cased
/// headings, with numbers as numbers.
fn json_table(rows: &[Vec<String>]) -> serde_json::Value {
    let Some((head, body)) = rows.split_first() else { return serde_json::Value::Array(vec![]) };
    let keys: Vec<String> = head.iter().map(|h| h.to_lowercase().replace(' ', "_")).collect();
    let cell = |s: &String| s.parse::<u64>().map_or_else(|_| serde_json::Value::from(s.as_str()), Into::into);
    let row = |r: &Vec<String>| serde_json::Value::Object(keys.iter().cloned().zip(r.iter().map(cell)).collect());
    body.iter().map(row).collect()
}

/// Prints the servers, interfaces, routes and buses as aligned tables, or
/// (`json`) as one object of four arrays.
pub fn status(st: &State, json: bool) -> Result<(), String> {
    let mut servers = vec![vec!["NODE".into(), "PID".into(), "STATE".into(), "SERVER".into()]];
    let mut ifrows = vec![["NODE", "IF", "BUS", "MAC", "MTU", "ADDRESSES", "TX", "RX", "DROPPED", "OVERRUNS", "NETEM"]
        .map(String::from)
        .to_vec()];
    let mut routes = vec![["NODE", "DESTINATION", "GATEWAY", "IF"].map(String::from).to_vec()];
    let mut per_bus: HashMap<&str, (u64, u64, u64, Vec<String>)> = HashMap::new();
    for n in &st.nodes {
        let names: Vec<&str> =
            st.ifaces.iter().filter(|(node, _, _)| *node == n.name).map(|(_, i, _)| i.as_str()).collect();
        let view = ask(n, &names);
        let state = match &view {
            Ok(_) => "running".to_string(),
            Err(_) if super::lifecycle::lost_socket(n) && super::lifecycle::is_our_server(n.pid, &n.url) => {
                "halted (its server runs other nodes)".to_string()
            }
            Err(e) => format!("not answering ({e})"),
        };
        servers.push(vec![n.name.clone(), n.pid.to_string(), state, n.url.clone()]);
        let Ok(view) = view else { continue };
        for (node, ifname, bus) in st.ifaces.iter().filter(|(node, _, _)| *node == n.name) {
            let Some(v) = view.ifaces.get(ifname) else { continue };
            let e = per_bus.entry(bus.as_str()).or_default();
            e.0 += v.tx;
            e.1 += v.dropped;
            e.2 += v.overruns;
            e.3.push(format!("{node}:{ifname}"));
            let netem = v.netem.as_ref().map_or("-".to_string(), netem::describe);
            ifrows.push(vec![
                node.clone(),
                ifname.clone(),
                bus.clone(),
                v.mac.clone(),
                v.mtu.to_string(),
                v.addrs.join(" "),
                v.tx.to_string(),
                v.rx.to_string(),
                v.dropped.to_string(),
                v.overruns.to_string(),
                netem,
            ]);
        }
        for (dst, gw, ifname) in view.routes {
            routes.push(vec![n.name.clone(), dst, gw, ifname]);
        }
    }
    let mut buses =
        vec![["BUS", "SENT", "DROPPED", "OVERRUNS", "ON BUS", "WRAPS", "MEMBERS", "FILE"].map(String::from).to_vec()];
    for (name, path) in &st.buses {
        let (held, wraps) = match Snapshot::read(path) {
            Ok(Ok(s)) => (s.records().count().to_string(), s.header().gen.to_string()),
            _ => ("-".into(), "-".into()),
        };
        let (sent, dropped, overruns, members) = per_bus.remove(name.as_str()).unwrap_or_default();
        buses.push(vec![
            name.clone(),
            sent.to_string(),
            dropped.to_string(),
            overruns.to_string(),
            held,
            wraps,
            members.join(","),
            path.display().to_string(),
        ]);
    }
    if json {
        let doc = serde_json::json!({
            "servers": json_table(&servers), "interfaces": json_table(&ifrows),
            "routes": json_table(&routes), "buses": json_table(&buses),
        });
        println!("{doc:#}");
    } else {
        print!("{}\n{}\n{}\n{}", table(&servers), table(&ifrows), table(&routes), table(&buses));
    }
    Ok(())
}
