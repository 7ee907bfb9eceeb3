//! `rump_pub_shmif_create` and `rump_pub_netconfig_*`: interfaces made and
//! configured with the ioctls the tools use (`syscalls/ifconfig.rs`):
//! NetBSD's SIOCIFCREATE / SIOCSLINKSTR on a native socket for what Linux
//! has no words for, Linux's SIOCSIFADDR, SIOCSIFNETMASK, SIOCSIFFLAGS and
//! SIOCADDRT on a socket of a Linux-emulation process for the rest, as
//! `ifconfig` and `route` send them. Errors are native errno values.

use crate::etfs::c_str;
use crate::{booted, guarded};
use rump_abi::capi::c_error;
use rump_abi::errno::linux_to_native;
use rump_abi::native::errno::{EEXIST, EINVAL, ENAMETOOLONG, ENODEV, ENXIO};
use rump_abi::{linux, native, Errno};
use rump_kernel::cred::Cred;
use rump_kernel::net::route::{RTF_GATEWAY, RTF_UP};
use rump_kernel::proc::Emulation;
use rump_kernel::syscalls::ifconfig::{SIOCIFCREATE, SIOCIFDESTROY, SIOCSLINKSTR};
use rump_kernel::Process;
use std::ffi::{c_char, c_int, CStr};
use std::net::{Ipv4Addr, Ipv6Addr};

const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;
const SOCK_DGRAM: i32 = 2;
const IFNAMSIZ: usize = 16;
/// Where `struct ifreq`'s union starts (both ABIs), and Linux's size.
const IFR_UNION: usize = 16;
const LINUX_IFREQ: usize = 40;
/// NetBSD's `struct ifreq` and `struct ifdrv`.
const NATIVE_IFREQ: usize = 144;
const IFDRV: usize = 40;

fn ifname(p: *const c_char) -> Result<[u8; IFNAMSIZ], Errno> {
    let name = c_str(p)?.to_bytes();
    if name.is_empty() || name.len() >= IFNAMSIZ {
        return Err(ENAMETOOLONG);
    }
    let mut out = [0u8; IFNAMSIZ];
    out[..name.len()].copy_from_slice(name);
    Ok(out)
}

fn parse<T: std::str::FromStr>(p: *const c_char) -> Result<T, Errno> {
    c_str(p)?.to_str().ok().and_then(|s| s.parse().ok()).ok_or(EINVAL)
}

/// One ioctl on a fresh socket of process `k` in its emulation.
fn native_ioctl(cmd: u64, buf: &mut [u8]) -> Result<(), Errno> {
    let k = &*booted()?.proc1;
    let s = native::sys::rump_sys_socket(k, AF_INET, SOCK_DGRAM, 0)?;
    let r = native::sys::rump_sys_ioctl(k, s, cmd, buf.as_mut_ptr().cast());
    let _ = native::sys::rump_sys_close(k, s);
    r.map(drop)
}

fn linux_ioctl(family: i32, cmd: u64, buf: &mut [u8]) -> Result<(), Errno> {
    let kernel = &booted()?.kernel;
    let k: Process = kernel.spawn(Emulation::Linux, Cred::root(), "netconfig")?;
    let r = (|| {
        let s = linux::sys::rump_sys_socket(&k, family, SOCK_DGRAM, 0)? as u32;
        linux::sys::rump_sys_ioctl(&k, s, cmd as u32, buf.as_mut_ptr().cast()).map(drop)
    })();
    // NetBSD's ifioctl says ENXIO for an interface that does not exist,
    // where Linux's says ENODEV.
    r.map_err(|e| match linux_to_native(e) {
        ENODEV => ENXIO,
        e => e,
    })
}

fn ifreq(name: [u8; IFNAMSIZ], len: usize) -> Vec<u8> {
    let mut r = vec![0u8; len];
    r[..IFNAMSIZ].copy_from_slice(&name);
    r
}

fn sockaddr_in(buf: &mut [u8], a: Ipv4Addr) {
    buf[..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
    buf[4..8].copy_from_slice(&a.octets());
}

fn create(name: [u8; IFNAMSIZ]) -> Result<(), Errno> {
    native_ioctl(SIOCIFCREATE, &mut ifreq(name, NATIVE_IFREQ))
}

fn set_linkstr(name: [u8; IFNAMSIZ], linkstr: &CStr) -> Result<(), Errno> {
    let mut drv = ifreq(name, IFDRV);
    drv[24..32].copy_from_slice(&(linkstr.to_bytes_with_nul().len() as u64).to_ne_bytes());
    drv[32..40].copy_from_slice(&(linkstr.as_ptr() as u64).to_ne_bytes());
    native_ioctl(SIOCSLINKSTR, &mut drv)
}

/// Sets or clears IFF_UP.
fn set_up(name: [u8; IFNAMSIZ], up: bool) -> Result<(), Errno> {
    let mut r = ifreq(name, LINUX_IFREQ);
    linux_ioctl(AF_INET, libc::SIOCGIFFLAGS, &mut r)?;
    let old = i16::from_ne_bytes([r[IFR_UNION], r[IFR_UNION + 1]]);
    let flags = if up { old | libc::IFF_UP as i16 } else { old & !(libc::IFF_UP as i16) };
    r[IFR_UNION..IFR_UNION + 2].copy_from_slice(&flags.to_ne_bytes());
    linux_ioctl(AF_INET, libc::SIOCSIFFLAGS, &mut r)
}

fn ipv4_addr(name: [u8; IFNAMSIZ], addr: Ipv4Addr, prefix: u32) -> Result<(), Errno> {
    if prefix > 32 {
        return Err(EINVAL);
    }
    let mask = Ipv4Addr::from(u32::MAX.checked_shl(32 - prefix).unwrap_or(0));
    for (cmd, a) in [(libc::SIOCSIFADDR, addr), (libc::SIOCSIFNETMASK, mask)] {
        let mut r = ifreq(name, LINUX_IFREQ);
        sockaddr_in(&mut r[IFR_UNION..], a);
        linux_ioctl(AF_INET, cmd, &mut r)?;
    }
    set_up(name, true)
}

/// A new shmif interface (the first free `shmifN`) on bus file `path`;
/// its number goes to `*ifnum` if that is not NULL.
#[no_mangle]
pub extern "C" fn rump_pub_shmif_create(path: *const c_char, ifnum: *mut c_int) -> c_int {
    c_error(guarded(|| {
        let bus = c_str(path)?;
        for n in 0..1024 {
            let name = format!("shmif{n}");
            let Ok(c) = std::ffi::CString::new(name) else { continue };
            match create(ifname(c.as_ptr())?) {
                Err(EEXIST) => continue,
                r => r?,
            }
            set_linkstr(ifname(c.as_ptr())?, bus)?;
            if !ifnum.is_null() {
                // SAFETY: the caller passes a pointer to an int, or NULL.
                unsafe { *ifnum = n };
            }
            return Ok(());
        }
        Err(EEXIST)
    }))
}

#[no_mangle]
pub extern "C" fn rump_pub_netconfig_ifcreate(name: *const c_char) -> c_int {
    c_error(guarded(|| create(ifname(name)?)))
}

#[no_mangle]
pub extern "C" fn rump_pub_netconfig_ifdestroy(name: *const c_char) -> c_int {
    c_error(guarded(|| native_ioctl(SIOCIFDESTROY, &mut ifreq(ifname(name)?, NATIVE_IFREQ))))
}

#[no_mangle]
pub extern "C" fn rump_pub_netconfig_ifsetlinkstr(name: *const c_char, linkstr: *const c_char) -> c_int {
    c_error(guarded(|| set_linkstr(ifname(name)?, c_str(linkstr)?)))
}

#[no_mangle]
pub extern "C" fn rump_pub_netconfig_ifup(name: *const c_char) -> c_int {
    c_error(guarded(|| set_up(ifname(name)?, true)))
}

#[no_mangle]
pub extern "C" fn rump_pub_netconfig_ifdown(name: *const c_char) -> c_int {
    c_error(guarded(|| set_up(ifname(name)?, false)))
}

/// `addr` with netmask `mask` (dotted quads), and the interface up.
#[no_mangle]
pub extern "C" fn rump_pub_netconfig_ipv4_ifaddr(
    name: *const c_char,
    addr: *const c_char,
    mask: *const c_char,
) -> c_int {
    c_error(guarded(|| {
        let mask = u32::from(parse::<Ipv4Addr>(mask)?);
        if mask.leading_ones() + mask.trailing_zeros() != 32 {
            return Err(EINVAL);
        }
        ipv4_addr(ifname(name)?, parse(addr)?, mask.leading_ones())
    }))
}

#[no_mangle]
pub extern "C" fn rump_pub_netconfig_ipv4_ifaddr_cidr(name: *const c_char, addr: *const c_char, mask: c_int) -> c_int {
    c_error(guarded(|| ipv4_addr(ifname(name)?, parse(addr)?, u32::try_from(mask).map_err(|_| EINVAL)?)))
}

/// `addr/prefixlen` (struct in6_ifreq on an inet6 socket), interface up.
#[no_mangle]
pub extern "C" fn rump_pub_netconfig_ipv6_ifaddr(name: *const c_char, addr: *const c_char, prefixlen: c_int) -> c_int {
    c_error(guarded(|| {
        let name = ifname(name)?;
        let addr: Ipv6Addr = parse(addr)?;
        let prefix = u32::try_from(prefixlen).ok().filter(|p| *p <= 128).ok_or(EINVAL)?;
        set_up(name, true)?;
        let mut r = ifreq(name, LINUX_IFREQ);
        linux_ioctl(AF_INET, libc::SIOCGIFINDEX, &mut r)?;
        let mut q = [0u8; 24];
        q[..16].copy_from_slice(&addr.octets());
        q[16..20].copy_from_slice(&prefix.to_ne_bytes());
        q[20..24].copy_from_slice(&r[IFR_UNION..IFR_UNION + 4]);
        linux_ioctl(AF_INET6, libc::SIOCSIFADDR, &mut q)
    }))
}

/// The default IPv4 route through `gw` (struct rtentry).
#[no_mangle]
pub extern "C" fn rump_pub_netconfig_ipv4_gw(gw: *const c_char) -> c_int {
    c_error(guarded(|| {
        let mut rt = [0u8; 120];
        sockaddr_in(&mut rt[8..], Ipv4Addr::UNSPECIFIED);
        sockaddr_in(&mut rt[24..], parse(gw)?);
        sockaddr_in(&mut rt[40..], Ipv4Addr::UNSPECIFIED);
        rt[56..58].copy_from_slice(&(RTF_UP | RTF_GATEWAY).to_ne_bytes());
        linux_ioctl(AF_INET, libc::SIOCADDRT, &mut rt)
    }))
}

/// The default IPv6 route through `gw` (struct in6_rtmsg).
#[no_mangle]
pub extern "C" fn rump_pub_netconfig_ipv6_gw(gw: *const c_char) -> c_int {
    c_error(guarded(|| {
        let gw: Ipv6Addr = parse(gw)?;
        let mut m = [0u8; 80];
        m[32..48].copy_from_slice(&gw.octets());
        m[56..60].copy_from_slice(&1u32.to_ne_bytes());
        m[72..76].copy_from_slice(&((RTF_UP | RTF_GATEWAY) as u32).to_ne_bytes());
        linux_ioctl(AF_INET6, libc::SIOCADDRT, &mut m)
    }))
}
