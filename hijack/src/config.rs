//! `RUMPHIJACK`: what this process sends to the rump kernel, in NetBSD's
//! syntax.
//!
//! A comma-separated list of items; values that are lists use `:`. An item
//! is recognised by the key it starts with (NetBSD compares each table
//! entry's name as a prefix, so `sysctl` also accepts `sysctl=yes`).
//! Unset means `path=/rump,socket=all:nolocal,syscalls=auto`; an empty
//! string hijacks nothing.

use std::fmt;

/// Protocol families `socket=` can name, with the host's PF values.
const FAMILIES: &[(&str, i32)] = &[
    ("local", libc::PF_LOCAL),
    ("inet", libc::PF_INET),
    ("inet6", libc::PF_INET6),
    ("route", libc::PF_NETLINK),
    ("packet", libc::PF_PACKET),
];

/// `vfs=` switches.
const VFS_CALLS: &[&str] = &["nfssvc", "getvfsstat", "fhcalls"];

pub const DEFAULT: &str = "path=/rump,socket=all:nolocal,syscalls=auto";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `path=`: the prefix stripped before a path reaches the kernel.
    pub prefix: Option<String>,
    /// `blanket=`: path prefixes passed to the kernel as they are.
    pub blankets: Vec<String>,
    /// `socket=`: host PF values whose sockets are hijacked.
    pub sockets: Vec<i32>,
    pub vfs: Vec<String>,
    pub sysctl: bool,
    pub modctl: bool,
    /// `fdoff=`: the lowest fd number a rump fd is given.
    pub fdoff: i32,
    /// `syscalls=` (not NetBSD's): which raw syscalls are caught.
    pub syscalls: Syscalls,
    /// `rewrite=no` (not NetBSD's): caught syscall sites are left as they
    /// are, every call through them a signal (`sud::rewrite`).
    pub rewrite: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            prefix: None,
            blankets: Vec::new(),
            sockets: Vec::new(),
            vfs: Vec::new(),
            sysctl: false,
            modctl: false,
            fdoff: 128,
            syscalls: Syscalls::Libc,
            rewrite: true,
        }
    }
}

/// `syscalls=`: how far interception reaches beyond libc's functions
/// (the `sud` module says what each costs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscalls {
    /// `libc` (also when the key is absent from an explicit list): libc's
    /// functions only.
    Libc,
    /// `auto` (the default): libc's `syscall()` too, and Syscall User
    /// Dispatch for processes with code making its own syscalls.
    Auto,
    /// `all`: Syscall User Dispatch on every thread of every process.
    All,
}

/// Why `RUMPHIJACK` was refused: the offending item and what is wrong.
#[derive(Debug, PartialEq, Eq)]
pub struct BadConfig(pub String);

impl fmt::Display for BadConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RUMPHIJACK: {}", self.0)
    }
}

type Parser = fn(&mut Config, &str) -> Result<(), String>;

/// NetBSD's table, in its order: a name ending in `=` needs a value.
const KEYS: &[(&str, Parser)] = &[
    ("socket=", parse_sockets),
    ("path=", parse_path),
    ("blanket=", parse_blankets),
    ("vfs=", parse_vfs),
    ("sysctl", |c, v| parse_bool(v).map(|b| c.sysctl = b)),
    ("modctl", |c, v| parse_bool(v).map(|b| c.modctl = b)),
    ("fdoff=", parse_fdoff),
    ("syscalls=", parse_syscalls),
    ("rewrite", |c, v| parse_bool(v).map(|b| c.rewrite = b)),
];

impl Config {
    /// The configuration the environment asks for.
    pub fn from_env() -> Result<Config, BadConfig> {
        match std::env::var("RUMPHIJACK") {
            Ok(s) => Config::parse(&s),
            Err(std::env::VarError::NotPresent) => Config::parse(DEFAULT),
            Err(std::env::VarError::NotUnicode(_)) => Err(BadConfig("not valid UTF-8".into())),
        }
    }

    pub fn parse(spec: &str) -> Result<Config, BadConfig> {
        let mut cfg = Config::default();
        for item in spec.split(',').filter(|i| !i.is_empty()) {
            let Some((name, parse)) = KEYS.iter().find(|(name, _)| item.starts_with(name)) else {
                let key = item.split('=').next().unwrap_or(item);
                return Err(BadConfig(format!(
                    "unknown key '{key}' (known: path, blanket, socket, fdoff, sysctl, modctl, vfs, syscalls, rewrite)"
                )));
            };
            let value = &item[name.len()..];
            let value = value.strip_prefix('=').unwrap_or(value);
            parse(&mut cfg, value).map_err(|why| BadConfig(format!("'{item}': {why}")))?;
        }
        Ok(cfg)
    }

    /// Whether sockets of host family `pf` go to the kernel. Packet
    /// sockets also follow inet: the interfaces they capture on are the
    /// stack's whenever its IPv4 is the kernel's.
    pub fn hijacks_family(&self, pf: i32) -> bool {
        self.sockets.contains(&pf) || (pf == libc::PF_PACKET && self.sockets.contains(&libc::PF_INET))
    }
}

fn parse_path(c: &mut Config, v: &str) -> Result<(), String> {
    if !v.starts_with('/') || v.len() < 2 {
        return Err("a path prefix starts with '/' and names at least one component".into());
    }
    if v.ends_with('/') && !v.bytes().all(|b| b == b'/') {
        return Err("a path prefix does not end in '/'".into());
    }
    c.prefix = Some(v.into());
    Ok(())
}

fn parse_blankets(c: &mut Config, v: &str) -> Result<(), String> {
    for b in v.split(':') {
        if !b.starts_with('/') || b.ends_with('/') {
            return Err(format!("blanket '{b}' must start with '/' and not end with '/'"));
        }
        c.blankets.push(b.into());
    }
    Ok(())
}

/// `all`, names and `no`-names, applied left to right.
fn parse_switches<'a>(v: &'a str, names: &[&'a str]) -> Result<Vec<&'a str>, String> {
    let mut on: Vec<&str> = Vec::new();
    for w in v.split(':').filter(|w| !w.is_empty()) {
        let (neg, name) = match w.strip_prefix("no") {
            Some(rest) if rest == "ne" || names.contains(&rest) || rest == "all" => (true, rest),
            _ => (false, w),
        };
        let set: Vec<&str> = match name {
            "all" => names.to_vec(),
            "ne" => names.to_vec(), // `none`
            n if names.contains(&n) => vec![n],
            n => return Err(format!("unknown name '{n}' (known: all, {})", names.join(", "))),
        };
        if neg {
            on.retain(|n| !set.contains(n));
        } else {
            for n in set {
                if !on.contains(&n) {
                    on.push(n);
                }
            }
        }
    }
    Ok(on)
}

fn parse_sockets(c: &mut Config, v: &str) -> Result<(), String> {
    let names: Vec<&str> = FAMILIES.iter().map(|(n, _)| *n).collect();
    let on = parse_switches(v, &names)?;
    c.sockets = FAMILIES.iter().filter(|(n, _)| on.contains(n)).map(|(_, pf)| *pf).collect();
    Ok(())
}

fn parse_vfs(c: &mut Config, v: &str) -> Result<(), String> {
    c.vfs = parse_switches(v, VFS_CALLS)?.into_iter().map(String::from).collect();
    Ok(())
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "" | "y" | "yes" | "yep" | "tottakai" => Ok(true),
        "n" | "no" => Ok(false),
        _ => Err("expected yes or no".into()),
    }
}

fn parse_fdoff(c: &mut Config, v: &str) -> Result<(), String> {
    match v.parse::<i32>() {
        Ok(n) if (3..i32::MAX / 2).contains(&n) => {
            c.fdoff = n;
            Ok(())
        }
        _ => Err(format!("expected a number from 3 to {}", i32::MAX / 2 - 1)),
    }
}

fn parse_syscalls(c: &mut Config, v: &str) -> Result<(), String> {
    c.syscalls = match v {
        "all" => Syscalls::All,
        "auto" => Syscalls::Auto,
        "libc" => Syscalls::Libc,
        _ => return Err("expected auto, all or libc".into()),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_hijacks_rump_and_network_sockets() {
        let c = Config::parse(DEFAULT).unwrap();
        assert_eq!(c.prefix.as_deref(), Some("/rump"));
        assert_eq!(c.sockets, vec![libc::PF_INET, libc::PF_INET6, libc::PF_NETLINK, libc::PF_PACKET]);
        assert_eq!(c.fdoff, 128);
        assert_eq!(c.syscalls, Syscalls::Auto);
    }

    #[test]
    fn empty_hijacks_nothing() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn keys_and_values() {
        let c = Config::parse("blanket=/dev/xyz:/img,fdoff=300,sysctl=YES,vfs=all:nofhcalls,socket=inet").unwrap();
        assert_eq!(c.blankets, vec!["/dev/xyz", "/img"]);
        assert_eq!(c.fdoff, 300);
        assert!(c.sysctl);
        assert_eq!(c.vfs, vec!["nfssvc", "getvfsstat"]);
        assert_eq!(c.sockets, vec![libc::PF_INET]);
        assert!(Config::parse("sysctl").unwrap().sysctl);
        assert_eq!(Config::parse("path=///").unwrap().prefix.as_deref(), Some("///"));
        assert_eq!(Config::parse("syscalls=all").unwrap().syscalls, Syscalls::All);
        assert_eq!(Config::parse("syscalls=all,syscalls=libc").unwrap().syscalls, Syscalls::Libc);
        assert_eq!(Config::parse("path=/rump").unwrap().syscalls, Syscalls::Libc);
        assert!(Config::parse("path=/rump").unwrap().rewrite);
        assert!(!Config::parse("rewrite=no").unwrap().rewrite);
    }

    #[test]
    fn bad_items_name_themselves() {
        for (spec, needle) in [
            ("pathx=/a", "unknown key 'pathx'"),
            ("foo", "unknown key 'foo'"),
            ("path=rump", "'path=rump'"),
            ("path=/a/", "'path=/a/'"),
            ("blanket=/a/", "blanket '/a/'"),
            ("socket=inet:bogus", "unknown name 'bogus'"),
            ("fdoff=2", "'fdoff=2'"),
            ("fdoff=x", "'fdoff=x'"),
            ("sysctl=maybe", "'sysctl=maybe'"),
            ("syscalls=some", "'syscalls=some'"),
        ] {
            let e = Config::parse(spec).unwrap_err().to_string();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }
}
