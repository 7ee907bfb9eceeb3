//! `rumpctl ifconfig` and `rump_server -i`: the interface operations Linux
//! tools have no words for, in BSD ifconfig's: `IF create`, `IF destroy`,
//! `IF linkstr BUS` (attach a shmif interface to a bus file, created on
//! demand; a `tapN` interface's linkstr names a host tap device instead,
//! opened in the kernel's network namespace) and `IF -linkstr`, several per command, sent as NetBSD's ioctls
//! on a native socket; and ours, `IF netem WORDS...` (egress impairment,
//! see `netem`; the words run to the end) and `IF -netem`. Addresses, flags and routes are Linux ifconfig's
//! and route's business (through the hijack library).

use crate::netem;
use crate::strerror;
use rump_abi::native::errno::{EACCES, EBUSY, EINVAL, ENODEV, ENOENT, ENXIO, EPERM};
use rump_abi::native::sys::{rump_sys_close, rump_sys_ioctl, rump_sys_socket};
use rump_abi::pod::Pod;
use rump_abi::{Errno, Syscall};
use rump_kernel::syscalls::ifconfig::{IfNetem, SIOCIFCREATE, SIOCIFDESTROY, SIOCSIFNETEM, SIOCSLINKSTR};
use std::ffi::CString;
use std::path::Path;

/// One operation on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    Destroy,
    Linkstr(CString),
    Unlink,
    Netem(Box<IfNetem>),
}

/// Parses `IF word...`; a relative bus path is made absolute here, since
/// the kernel may run with another working directory (a tap device name
/// is kept as is).
pub fn parse(words: &[String]) -> Result<(String, Vec<Op>), String> {
    let [name, rest @ ..] = words else { return Err("expected an interface name".into()) };
    if name.is_empty() || name.len() >= 16 {
        return Err(format!("{name}: bad interface name"));
    }
    if rest.is_empty() {
        return Err(format!("{name}: expected create, destroy, linkstr BUS, -linkstr, netem WORDS or -netem"));
    }
    let mut ops = Vec::new();
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        ops.push(match w.as_str() {
            "create" => Op::Create,
            "destroy" => Op::Destroy,
            "-linkstr" => Op::Unlink,
            "-netem" => Op::Netem(Box::default()),
            "netem" => Op::Netem(Box::new(netem::parse(&it.by_ref().cloned().collect::<Vec<_>>())?)),
            "linkstr" => {
                let bus = it.next().ok_or("linkstr: expected a bus file (or, for tapN, a tap device)")?;
                let linkstr = if is_tap(name) {
                    bus.clone().into_bytes()
                } else {
                    std::path::absolute(Path::new(bus))
                        .map_err(|e| format!("{bus}: {e}"))?
                        .into_os_string()
                        .into_encoded_bytes()
                };
                Op::Linkstr(CString::new(linkstr).map_err(|_| format!("{bus}: contains NUL"))?)
            }
            other => {
                return Err(format!(
                "{other}: unknown ifconfig word (known: create, destroy, linkstr BUS, -linkstr, netem WORDS, -netem)"
            ))
            }
        });
    }
    Ok((name.clone(), ops))
}

/// Whether `name` is a tap interface, whose linkstr names a host device.
fn is_tap(name: &str) -> bool {
    name.strip_prefix("tap").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What to do about a tap device the kernel could not open.
fn tap_hint(e: Errno) -> &'static str {
    match e {
        e if e == EPERM || e == EACCES => {
            "; opening a tap needs CAP_NET_ADMIN (run the kernel as root), or a persistent tap owned by the kernel's user: ip tuntap add dev NAME mode tap user USER"
        }
        e if e == ENOENT || e == ENXIO || e == ENODEV => {
            "; the host has no /dev/net/tun: load the tun module (modprobe tun) or, in a container, pass the device in (--device /dev/net/tun)"
        }
        e if e == EBUSY => "; another process holds that tap device",
        e if e == EINVAL => "; is that a tun (layer 3) device? a tapN interface needs a tap: ip tuntap add dev NAME mode tap",
        _ => "",
    }
}

/// Runs the operations through kernel `k` (a client or an in-process
/// native process).
pub fn apply(k: &(impl Syscall + ?Sized), name: &str, ops: &[Op]) -> Result<(), String> {
    let s = rump_sys_socket(k, 2, 2, 0).map_err(|e| format!("socket: {}", strerror(e)))?;
    let r = ops.iter().try_for_each(|op| one(k, s, name, op));
    let _ = rump_sys_close(k, s);
    r
}

fn one(k: &(impl Syscall + ?Sized), s: i32, name: &str, op: &Op) -> Result<(), String> {
    let mut ifname = [0u8; 16];
    ifname[..name.len()].copy_from_slice(name.as_bytes());
    let (cmd, what, mut buf) = match op {
        Op::Create | Op::Destroy => {
            let mut ifr = vec![0u8; 144];
            ifr[..16].copy_from_slice(&ifname);
            let (cmd, what) = if *op == Op::Create { (SIOCIFCREATE, "create") } else { (SIOCIFDESTROY, "destroy") };
            (cmd, what, ifr)
        }
        Op::Linkstr(_) | Op::Unlink => {
            let mut drv = vec![0u8; 40];
            drv[..16].copy_from_slice(&ifname);
            match op {
                Op::Linkstr(p) => {
                    drv[24..32].copy_from_slice(&(p.as_bytes_with_nul().len() as u64).to_ne_bytes());
                    drv[32..40].copy_from_slice(&(p.as_ptr() as u64).to_ne_bytes());
                }
                _ => drv[16..24].copy_from_slice(&1u64.to_ne_bytes()),
            }
            (SIOCSLINKSTR, if matches!(op, Op::Unlink) { "-linkstr" } else { "linkstr" }, drv)
        }
        Op::Netem(n) => {
            let mut n = **n;
            n.name = ifname;
            (SIOCSIFNETEM, "netem", n.as_bytes().to_vec())
        }
    };
    rump_sys_ioctl(k, s, cmd as _, buf.as_mut_ptr().cast()).map(|_| ()).map_err(|e| {
        let hint = if is_tap(name) && matches!(op, Op::Linkstr(_)) { tap_hint(e) } else { "" };
        format!("{name} {what}: {}{hint}", strerror(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_bsd_words() {
        let (n, ops) = parse(&words("shmif0 create linkstr /tmp/b -linkstr destroy")).unwrap();
        assert_eq!(n, "shmif0");
        assert_eq!(ops, vec![Op::Create, Op::Linkstr(CString::new("/tmp/b").unwrap()), Op::Unlink, Op::Destroy]);
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        assert!(parse(&words("shmif0")).unwrap_err().contains("expected create"));
        assert!(parse(&words("shmif0 up")).unwrap_err().contains("up: unknown ifconfig word"));
        assert!(parse(&words("shmif0 netem loss 5")).unwrap_err().contains("expected a percentage"));
        let (_, ops) = parse(&words("shmif0 -netem netem loss 5% seed 1")).unwrap();
        assert!(matches!(&ops[..], [Op::Netem(off), Op::Netem(on)] if off.flags == 0 && on.spec.loss_ppm == 50_000));
        assert!(parse(&words("shmif0 linkstr")).unwrap_err().contains("expected a bus file"));
        assert!(parse(&words("averyveryverylongname create")).unwrap_err().contains("bad interface name"));
    }

    #[test]
    fn a_tap_linkstr_is_a_device_name() {
        let (_, ops) = parse(&words("tap0 create linkstr rtap0")).unwrap();
        assert_eq!(ops, vec![Op::Create, Op::Linkstr(CString::new("rtap0").unwrap())]);
        assert!(tap_hint(EPERM).contains("CAP_NET_ADMIN"));
        assert!(tap_hint(ENOENT).contains("/dev/net/tun"));
    }
}
