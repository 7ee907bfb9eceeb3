//! Puts one topology node's configuration into its running kernel, with
//! the calls the ordinary tools make: NetBSD's ioctls on a native
//! connection for what Linux has no words for (create, linkstr, netem)
//! and for sysctls, then Linux's on a Linux-emulation connection, as
//! `ifconfig`, `route -A inet6` and `arp -s` send them (addresses, MTU,
//! flags, routes, static ARP entries); last, the node's `ip` command lines,
//! run by the real `ip` with the library preloaded.

use super::topology::{Bus, Iface, IpCommand, Node, Route};
use crate::{ifconfig, netem, strerror, sysctl};
use rump_abi::linux::sys::{rump_sys_close, rump_sys_ioctl, rump_sys_socket};
use rump_abi::Errno;
use rump_kernel::net::route::{RTF_GATEWAY, RTF_HOST, RTF_UP};
use rumpclient::client::Client;
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;
use std::ffi::CString;
use std::net::IpAddr;
use std::path::Path;

const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;
const SOCK_DGRAM: i32 = 2;
const IFREQ_LEN: usize = 40;
/// Where `struct ifreq`'s union starts, after the name.
pub(super) const IFR_UNION: usize = 16;
const ATF_COM: i32 = 0x2;
const ATF_PERM: i32 = 0x4;
const ARPHRD_ETHER: u16 = 1;

/// The host's text for a Linux errno.
fn linux_strerror(e: Errno) -> String {
    std::io::Error::from_raw_os_error(e.raw()).to_string()
}

/// The netem words in effect on an interface: its own, else its bus's.
pub fn netem_words<'a>(iface: &'a Iface, bus: Option<&'a Bus>) -> Option<(&'a [String], usize)> {
    if !iface.netem.is_empty() {
        return Some((&iface.netem, iface.line));
    }
    bus.filter(|b| !b.netem.is_empty()).map(|b| (b.netem.as_slice(), b.line))
}

/// The native operations that make an interface: create, attach (to its
/// bus file or tap device), impair.
pub fn iface_ops(iface: &Iface, bus_file: &Path, bus: Option<&Bus>) -> Result<Vec<ifconfig::Op>, String> {
    let linkstr = match iface.tap() {
        Some(dev) => dev.as_bytes(),
        None => bus_file.as_os_str().as_encoded_bytes(),
    };
    let linkstr = CString::new(linkstr).map_err(|_| "bus path contains NUL")?;
    let mut ops = vec![ifconfig::Op::Create, ifconfig::Op::Linkstr(linkstr)];
    if let Some((words, line)) = netem_words(iface, bus) {
        ops.push(ifconfig::Op::Netem(Box::new(netem::parse(words).map_err(|e| format!("line {line}: {e}"))?)));
    }
    Ok(ops)
}

/// Configures `node` in the kernel at `url`; `buses` gives each bus's
/// file and topology entry.
pub fn configure(
    node: &Node,
    url: &ServerUrl,
    bus_of: &dyn Fn(&str) -> (std::path::PathBuf, Option<Bus>),
) -> Result<(), String> {
    let native = Client::connect(url, Emulation::Native, "rumpctl-net").map_err(|e| format!("{url}: {e}"))?;
    for i in &node.ifaces {
        let (file, bus) = bus_of(&i.bus);
        ifconfig::apply(&native, &i.name, &iface_ops(i, &file, bus.as_ref())?)
            .map_err(|e| format!("line {}: {e}", i.line))?;
    }
    for s in &node.sysctls {
        sysctl::resolve(&native, &s.name)
            .and_then(|f| sysctl::write(&native, &f, &s.value))
            .map_err(|e| format!("line {}: sysctl {}: {}", s.line, s.name, strerror(e)))?;
    }
    drop(native);
    let linux = Client::connect(url, Emulation::Linux, "rumpctl-net").map_err(|e| format!("{url}: {e}"))?;
    let s4 = rump_sys_socket(&linux, AF_INET, SOCK_DGRAM, 0).map_err(|e| format!("socket: {}", linux_strerror(e)))?;
    let s6 = rump_sys_socket(&linux, AF_INET6, SOCK_DGRAM, 0).map_err(|e| format!("socket: {}", linux_strerror(e)))?;
    let k = Linux { c: &linux, s4: s4 as u32, s6: s6 as u32 };
    let result: Result<(), String> = (|| {
        for i in &node.ifaces {
            k.iface(i).map_err(|e| format!("line {}: {} {e}", i.line, i.name))?;
        }
        for r in &node.routes {
            k.route(r).map_err(|e| format!("line {}: route {}/{} via {}: {e}", r.line, r.dst, r.prefix, r.gateway))?;
        }
        for a in &node.arp {
            k.arp(a.ip, a.mac).map_err(|e| format!("line {}: arp {}: {e}", a.line, a.ip))?;
        }
        Ok(())
    })();
    let _ = rump_sys_close(&linux, s4 as u32);
    let _ = rump_sys_close(&linux, s6 as u32);
    result?;
    node.ip.iter().try_for_each(|c| run_ip(c, url))
}

/// Runs one `ip` command line against the kernel at `url`; its own message
/// (stderr) is the error.
fn run_ip(c: &IpCommand, url: &ServerUrl) -> Result<(), String> {
    let shown = format!("line {}: ip {}", c.line, c.args.join(" "));
    let lib = crate::run::library()?;
    let out = std::process::Command::new("ip")
        .args(&c.args)
        .env("LD_PRELOAD", &lib)
        .env("RUMP_SERVER", url.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{shown}: ip: {e} (iproute2 installed?)"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!("{shown}: {}", String::from_utf8_lossy(&out.stderr).trim()))
}

/// A Linux `struct ifreq` naming interface `name`.
pub(super) fn ifreq(name: &str) -> [u8; IFREQ_LEN] {
    let mut r = [0u8; IFREQ_LEN];
    r[..name.len()].copy_from_slice(name.as_bytes());
    r
}

/// A Linux-emulation connection with an IPv4 and an IPv6 socket to
/// carry the ioctls.
struct Linux<'a> {
    c: &'a Client,
    s4: u32,
    s6: u32,
}

fn sockaddr_in(buf: &mut [u8], a: std::net::Ipv4Addr) {
    buf[..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
    buf[4..8].copy_from_slice(&a.octets());
}

fn v4_mask(prefix: u8) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(if prefix == 0 { 0 } else { u32::MAX << (32 - prefix as u32) })
}

impl Linux<'_> {
    fn ioctl(&self, s: u32, cmd: u64, buf: &mut [u8], what: &str) -> Result<(), String> {
        rump_sys_ioctl(self.c, s, cmd as u32, buf.as_mut_ptr().cast())
            .map(drop)
            .map_err(|e| format!("{what}: {}", linux_strerror(e)))
    }

    /// MTU, the IPv4 address and mask, up, then the IPv6 addresses (as
    /// `ifconfig IF mtu N A netmask M up` and `ifconfig IF add A6/P`).
    fn iface(&self, i: &Iface) -> Result<(), String> {
        if let Some(mtu) = i.mtu {
            let mut r = ifreq(&i.name);
            r[IFR_UNION..IFR_UNION + 4].copy_from_slice(&(mtu as i32).to_ne_bytes());
            self.ioctl(self.s4, libc::SIOCSIFMTU, &mut r, "mtu")?;
        }
        let v4: Vec<_> = i
            .addrs
            .iter()
            .filter_map(|(a, p)| match a {
                IpAddr::V4(v) => Some((*v, *p)),
                IpAddr::V6(_) => None,
            })
            .collect();
        if v4.len() > 1 {
            return Err("only one IPv4 address per interface (aliases are not supported)".into());
        }
        for (a, p) in v4 {
            let mut r = ifreq(&i.name);
            sockaddr_in(&mut r[IFR_UNION..], a);
            self.ioctl(self.s4, libc::SIOCSIFADDR, &mut r, &format!("{a}"))?;
            let mut r = ifreq(&i.name);
            sockaddr_in(&mut r[IFR_UNION..], v4_mask(p));
            self.ioctl(self.s4, libc::SIOCSIFNETMASK, &mut r, &format!("{a}/{p}"))?;
        }
        let mut r = ifreq(&i.name);
        self.ioctl(self.s4, libc::SIOCGIFFLAGS, &mut r, "flags")?;
        let flags = i16::from_ne_bytes([r[IFR_UNION], r[IFR_UNION + 1]]) | libc::IFF_UP as i16;
        r[IFR_UNION..IFR_UNION + 2].copy_from_slice(&flags.to_ne_bytes());
        self.ioctl(self.s4, libc::SIOCSIFFLAGS, &mut r, "up")?;
        let mut r = ifreq(&i.name);
        self.ioctl(self.s4, libc::SIOCGIFINDEX, &mut r, "index")?;
        let index = &r[IFR_UNION..IFR_UNION + 4];
        for (a, p) in &i.addrs {
            let IpAddr::V6(v) = a else { continue };
            // struct in6_ifreq: address, prefix length, interface index.
            let mut q = [0u8; 24];
            q[..16].copy_from_slice(&v.octets());
            q[16..20].copy_from_slice(&(*p as u32).to_ne_bytes());
            q[20..24].copy_from_slice(index);
            self.ioctl(self.s6, libc::SIOCSIFADDR, &mut q, &format!("{v}/{p}"))?;
        }
        Ok(())
    }

    /// `route add` (struct rtentry) or `route -A inet6 add` (in6_rtmsg).
    fn route(&self, r: &Route) -> Result<(), String> {
        match (r.dst, r.gateway) {
            (IpAddr::V4(dst), IpAddr::V4(gw)) => {
                let mut rt = [0u8; 120];
                sockaddr_in(&mut rt[8..], dst);
                sockaddr_in(&mut rt[24..], gw);
                sockaddr_in(&mut rt[40..], v4_mask(r.prefix));
                let host = if r.prefix == 32 { RTF_HOST } else { 0 };
                rt[56..58].copy_from_slice(&(RTF_UP | RTF_GATEWAY | host).to_ne_bytes());
                self.ioctl(self.s4, libc::SIOCADDRT, &mut rt, "SIOCADDRT")
            }
            (IpAddr::V6(dst), IpAddr::V6(gw)) => {
                let mut m = [0u8; 80];
                m[..16].copy_from_slice(&dst.octets());
                m[32..48].copy_from_slice(&gw.octets());
                m[52..54].copy_from_slice(&(r.prefix as u16).to_ne_bytes());
                m[56..60].copy_from_slice(&1u32.to_ne_bytes());
                let host = if r.prefix == 128 { RTF_HOST } else { 0 };
                m[72..76].copy_from_slice(&((RTF_UP | RTF_GATEWAY | host) as u32).to_ne_bytes());
                self.ioctl(self.s6, libc::SIOCADDRT, &mut m, "SIOCADDRT")
            }
            _ => Err("the destination and the gateway are of different families".into()),
        }
    }

    /// `arp -s IP MAC` (struct arpreq, a permanent entry).
    fn arp(&self, ip: std::net::Ipv4Addr, mac: [u8; 6]) -> Result<(), String> {
        let mut a = [0u8; 68];
        sockaddr_in(&mut a[..16], ip);
        a[16..18].copy_from_slice(&ARPHRD_ETHER.to_ne_bytes());
        a[18..24].copy_from_slice(&mac);
        a[32..36].copy_from_slice(&(ATF_COM | ATF_PERM).to_ne_bytes());
        self.ioctl(self.s4, libc::SIOCSARP, &mut a, "SIOCSARP")
    }
}
