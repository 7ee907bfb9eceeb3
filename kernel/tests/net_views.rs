//! The views Linux's network tools use, through a Linux-emulation
//! process: the interface, route and ARP ioctls on sockets, /proc/net
//! and /proc/sys/net. Linux is the oracle: read-only calls run against
//! the host's `lo` too and the fields that must agree are compared; the
//! answers of changing calls, which cannot run on the host here, are the
//! ones Linux 6.18 gave for the same sequence on a veth in a private
//! network namespace (noted where used).

mod support;

use rump_abi::native::sys::rump_sys___sysctl;
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::sysctl::Value;
use rump_kernel::{Config, Kernel, Process};
use std::ffi::CString;
use std::net::{Ipv4Addr, Ipv6Addr};
use support::sc;

const SIOCGIFNAME: u64 = 0x8910;
const SIOCGIFCONF: u64 = 0x8912;
const SIOCGIFFLAGS: u64 = 0x8913;
const SIOCSIFFLAGS: u64 = 0x8914;
const SIOCGIFADDR: u64 = 0x8915;
const SIOCSIFADDR: u64 = 0x8916;
const SIOCGIFDSTADDR: u64 = 0x8917;
const SIOCGIFBRDADDR: u64 = 0x8919;
const SIOCGIFNETMASK: u64 = 0x891b;
const SIOCSIFNETMASK: u64 = 0x891c;
const SIOCGIFMETRIC: u64 = 0x891d;
const SIOCGIFMTU: u64 = 0x8921;
const SIOCSIFMTU: u64 = 0x8922;
const SIOCGIFHWADDR: u64 = 0x8927;
const SIOCGIFINDEX: u64 = 0x8933;
const SIOCDIFADDR: u64 = 0x8936;
const SIOCGIFTXQLEN: u64 = 0x8942;
const SIOCGIFMAP: u64 = 0x8970;
const SIOCADDRT: u64 = 0x890b;
const SIOCDELRT: u64 = 0x890c;
const SIOCGSTAMP: u64 = 0x8906;
const SIOCDARP: u64 = 0x8953;
const SIOCGARP: u64 = 0x8954;
const SIOCSARP: u64 = 0x8955;
const IFF_UP: i16 = 0x1;
const IFF_MULTICAST: i16 = 0x1000;
const RTF_UP: u16 = 0x1;
const RTF_GATEWAY: u16 = 0x2;
const RTF_HOST: u16 = 0x4;
const ATF_COM: i32 = 0x2;
const ATF_PERM: i32 = 0x4;

type Ifreq = [u8; 40];

fn boot() -> (Kernel, Process) {
    let k = Kernel::boot(Config::default()).expect("boot");
    let p = k.spawn(Emulation::Linux, Cred::root(), "net_views").unwrap();
    (k, p)
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The calls a test makes on the kernel or on the host, alike.
trait Side {
    fn socket(&self, family: i32) -> i32;
    fn ioctl(&self, fd: i32, cmd: u64, arg: u64) -> Result<i64, i32>;
}

struct Rump<'a>(&'a Process);
struct Host;

impl Side for Rump<'_> {
    fn socket(&self, family: i32) -> i32 {
        sc(self.0, libc::SYS_socket, &[family as u64, libc::SOCK_DGRAM as u64, 0]).unwrap() as i32
    }
    fn ioctl(&self, fd: i32, cmd: u64, arg: u64) -> Result<i64, i32> {
        sc(self.0, libc::SYS_ioctl, &[fd as u64, cmd, arg])
    }
}

impl Side for Host {
    fn socket(&self, family: i32) -> i32 {
        // SAFETY: a plain system call.
        let fd = unsafe { libc::socket(family, libc::SOCK_DGRAM, 0) };
        assert!(fd >= 0);
        fd
    }
    fn ioctl(&self, fd: i32, cmd: u64, arg: u64) -> Result<i64, i32> {
        // SAFETY: `arg` points at a buffer of the size `cmd` takes, or is
        // one of the bad pointers whose EFAULT the tests compare.
        let r = unsafe { libc::ioctl(fd, cmd as _, arg as *mut libc::c_void) };
        if r < 0 {
            Err(errno())
        } else {
            Ok(r as i64)
        }
    }
}

fn ifreq(name: &str) -> Ifreq {
    let mut r = [0u8; 40];
    r[..name.len()].copy_from_slice(name.as_bytes());
    r
}

fn ptr<T>(v: &mut T) -> u64 {
    v as *mut T as u64
}

/// Puts an AF_INET sockaddr for `a` at `off`.
fn put_sin(b: &mut [u8], off: usize, a: Ipv4Addr) {
    b[off..off + 2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    b[off + 4..off + 8].copy_from_slice(&a.octets());
}

fn sin(b: &[u8], off: usize) -> (u16, Ipv4Addr) {
    (u16::from_ne_bytes([b[off], b[off + 1]]), Ipv4Addr::new(b[off + 4], b[off + 5], b[off + 6], b[off + 7]))
}

fn int_at(b: &[u8], off: usize) -> i32 {
    i32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
}

/// An ioctl on an ifreq naming `name`, with the address union set to `a`.
fn call(s: &dyn Side, fd: i32, cmd: u64, name: &str, a: Option<Ipv4Addr>) -> Result<Ifreq, i32> {
    let mut r = ifreq(name);
    if let Some(a) = a {
        put_sin(&mut r, 16, a);
    }
    s.ioctl(fd, cmd, ptr(&mut r)).map(|_| r)
}

fn get_addr(s: &dyn Side, fd: i32, cmd: u64, name: &str) -> Result<Ipv4Addr, i32> {
    call(s, fd, cmd, name, None).map(|r| {
        assert_eq!(sin(&r, 16).0, libc::AF_INET as u16);
        sin(&r, 16).1
    })
}

fn set_addr(s: &dyn Side, fd: i32, cmd: u64, name: &str, a: Ipv4Addr) -> Result<i64, i32> {
    call(s, fd, cmd, name, Some(a)).map(|_| 0)
}

fn flags(s: &dyn Side, fd: i32, name: &str) -> i16 {
    let r = call(s, fd, SIOCGIFFLAGS, name, None).unwrap();
    i16::from_ne_bytes([r[16], r[17]])
}

fn set_flags(s: &dyn Side, fd: i32, name: &str, f: i16) -> Result<i64, i32> {
    let mut r = ifreq(name);
    r[16..18].copy_from_slice(&f.to_ne_bytes());
    s.ioctl(fd, SIOCSIFFLAGS, ptr(&mut r))
}

fn set_int(s: &dyn Side, fd: i32, cmd: u64, name: &str, v: i32) -> Result<i64, i32> {
    let mut r = ifreq(name);
    r[16..20].copy_from_slice(&v.to_ne_bytes());
    s.ioctl(fd, cmd, ptr(&mut r))
}

/// A kernel with shmif0 (no bus) holding `addr` with `mask`, up.
fn with_shmif(addr: Ipv4Addr, mask: Ipv4Addr) -> (Kernel, Process, i32) {
    let (k, p) = boot();
    k.with_state(|st| st.net.ifaces.create("shmif0", [2, 0, 0, 0, 0, 1])).unwrap();
    let r = Rump(&p);
    let fd = r.socket(libc::AF_INET);
    set_addr(&r, fd, SIOCSIFADDR, "shmif0", addr).unwrap();
    set_addr(&r, fd, SIOCSIFNETMASK, "shmif0", mask).unwrap();
    let f = flags(&r, fd, "shmif0");
    set_flags(&r, fd, "shmif0", f | IFF_UP).unwrap();
    (k, p, fd)
}

#[test]
fn device_and_address_reads_agree_with_linux_lo() {
    let (_k, p) = boot();
    let (r, h) = (Rump(&p), Host);
    let (rfd, hfd) = (r.socket(libc::AF_INET), h.socket(libc::AF_INET));
    // The same calls, lo0 here and lo there: the union comes back equal.
    for cmd in [SIOCGIFADDR, SIOCGIFDSTADDR, SIOCGIFBRDADDR, SIOCGIFNETMASK, SIOCGIFHWADDR, SIOCGIFTXQLEN, SIOCGIFMAP] {
        let mine = call(&r, rfd, cmd, "lo0", None).unwrap();
        let host = call(&h, hfd, cmd, "lo", None).unwrap();
        assert_eq!(mine[16..], host[16..], "cmd {cmd:#x}");
        assert_eq!(&mine[..4], b"lo0\0");
    }
    assert_eq!(get_addr(&r, rfd, SIOCGIFNETMASK, "lo0"), Ok(Ipv4Addr::new(255, 0, 0, 0)));
    assert_eq!(get_addr(&r, rfd, SIOCGIFDSTADDR, "lo0"), Ok(Ipv4Addr::LOCALHOST));
    // lo0 is multicast-capable, as NetBSD's; the other flags are Linux's.
    assert_eq!(flags(&r, rfd, "lo0") & !IFF_MULTICAST, flags(&h, hfd, "lo"));
    for cmd in [SIOCGIFINDEX, SIOCGIFMETRIC] {
        let mine = call(&r, rfd, cmd, "lo0", None).unwrap();
        let host = call(&h, hfd, cmd, "lo", None).unwrap();
        assert_eq!(int_at(&mine, 16), int_at(&host, 16), "cmd {cmd:#x}");
    }
    let mtu = call(&r, rfd, SIOCGIFMTU, "lo0", None).unwrap();
    assert_eq!(int_at(&mtu, 16), 33624);
    let mut by_index = [0u8; 40];
    by_index[16..20].copy_from_slice(&1i32.to_ne_bytes());
    r.ioctl(rfd, SIOCGIFNAME, ptr(&mut by_index)).unwrap();
    assert_eq!(&by_index[..4], b"lo0\0");

    // Failures, each compared with the host's errno.
    let unterminated = "l".repeat(16);
    let mut huge = ifreq("lo");
    huge[16..20].copy_from_slice(&999i32.to_ne_bytes());
    let mut huge_host = huge;
    assert_eq!(r.ioctl(rfd, SIOCGIFNAME, ptr(&mut huge)), h.ioctl(hfd, SIOCGIFNAME, ptr(&mut huge_host)));
    for cmd in [SIOCGIFFLAGS, SIOCGIFADDR, SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFINDEX, SIOCSIFFLAGS] {
        for name in ["nosuch0", unterminated.as_str()] {
            let e = call(&h, hfd, cmd, name, None).err();
            assert_eq!(call(&r, rfd, cmd, name, None).err(), e, "cmd {cmd:#x} {name}");
            assert_eq!(e, Some(libc::ENODEV));
        }
        assert_eq!(r.ioctl(rfd, cmd, 0), h.ioctl(hfd, cmd, 0), "cmd {cmd:#x} NULL");
        assert_eq!(r.ioctl(rfd, cmd, 0), Err(libc::EFAULT));
        // A buffer running off the end of the user address space.
        assert_eq!(r.ioctl(rfd, cmd, 0x7fff_ffff_fff0), Err(libc::EFAULT));
    }
    for cmd in [SIOCGIFCONF, SIOCADDRT, SIOCGARP] {
        assert_eq!(r.ioctl(rfd, cmd, 0), h.ioctl(hfd, cmd, 0), "cmd {cmd:#x} NULL");
    }
    // An alias reaches the device but names no address.
    assert_eq!(call(&r, rfd, SIOCGIFFLAGS, "lo0:1", None).is_ok(), call(&h, hfd, SIOCGIFFLAGS, "lo:1", None).is_ok());
    assert_eq!(call(&r, rfd, SIOCGIFADDR, "lo0:1", None).err(), call(&h, hfd, SIOCGIFADDR, "lo:1", None).err());
    // What an IPv6 socket does not answer, and what no socket has.
    let (r6, h6) = (r.socket(libc::AF_INET6), h.socket(libc::AF_INET6));
    for cmd in [SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR] {
        assert_eq!(call(&r, r6, cmd, "lo0", None).err(), call(&h, h6, cmd, "lo", None).err());
    }
    assert_eq!(call(&r, r6, SIOCGIFADDR, "lo0", None), Err(libc::ENOTTY));
    assert_eq!(flags(&r, r6, "lo0"), flags(&r, rfd, "lo0"));
    assert_eq!(call(&r, rfd, SIOCGSTAMP, "lo0", None).err(), call(&h, hfd, SIOCGSTAMP, "lo", None).err());
    // Not a socket: not a device either.
    assert_eq!(sc(&p, libc::SYS_ioctl, &[99, SIOCGIFFLAGS, 0]), Err(libc::EBADF));
    // SAFETY: closing our own descriptors.
    unsafe {
        libc::close(hfd);
        libc::close(h6);
    }
}

/// The v4 entries SIOCGIFCONF gives and the length it reports.
fn ifconf(s: &dyn Side, fd: i32, room: i32, buf: u64) -> Result<i32, i32> {
    let mut c = [0u8; 16];
    c[..4].copy_from_slice(&room.to_ne_bytes());
    c[8..].copy_from_slice(&buf.to_ne_bytes());
    s.ioctl(fd, SIOCGIFCONF, ptr(&mut c)).map(|_| int_at(&c, 0))
}

#[test]
fn ifconf_layout_agrees_with_linux() {
    let (k, p) = boot();
    let (r, h) = (Rump(&p), Host);
    let (rfd, hfd) = (r.socket(libc::AF_INET), h.socket(libc::AF_INET));
    k.with_state(|st| {
        let i = st.net.ifaces.create("shmif0", [2, 0, 0, 0, 0, 1]).unwrap();
        for a in [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 1, 1)] {
            st.net.add_addr(i, rump_kernel::net::iface::IfAddr::new(a.into(), 24)).unwrap();
        }
    });
    // A NULL buffer asks for the length: one ifreq per v4 address.
    assert_eq!(ifconf(&r, rfd, 0, 0), Ok(3 * 40));
    assert_eq!(ifconf(&h, hfd, 0, 0).map(|n| n % 40), Ok(0));
    let mut mine = [0u8; 200];
    assert_eq!(ifconf(&r, rfd, 200, mine.as_mut_ptr() as u64), Ok(120));
    let names: Vec<&[u8]> = mine[..120].chunks(40).map(|e| &e[..e.iter().position(|&b| b == 0).unwrap()]).collect();
    assert_eq!(names, [&b"lo0"[..], b"shmif0", b"shmif0"]);
    assert_eq!(sin(&mine, 40 + 16), (libc::AF_INET as u16, Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(sin(&mine, 80 + 16).1, Ipv4Addr::new(10, 0, 1, 1));
    // The loopback entry is byte for byte the host's, name aside.
    let mut host = [0u8; 4096];
    let n = ifconf(&h, hfd, 4096, host.as_mut_ptr() as u64).unwrap() as usize;
    let lo = host[..n].chunks(40).find(|e| e.starts_with(b"lo\0")).expect("host lo has an IPv4 address");
    assert_eq!(lo[16..], mine[16..40]);
    // Room for less than an entry more: what fits; negative room: none;
    // a bad buffer: EFAULT with the length untouched.
    for (side, fd) in [(&r as &dyn Side, rfd), (&h, hfd)] {
        let mut b = [0u8; 200];
        assert_eq!(ifconf(side, fd, 50, b.as_mut_ptr() as u64), Ok(40));
        assert_eq!(ifconf(side, fd, -5, b.as_mut_ptr() as u64), Ok(0));
        assert_eq!(ifconf(side, fd, 400, 8), Err(libc::EFAULT));
    }
    // IPv6 sockets list the same.
    assert_eq!(ifconf(&r, r.socket(libc::AF_INET6), 0, 0), Ok(120));
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(hfd) };
}

/// Linux 6.18, veth v0 in a private namespace: the answers to the calls
/// `ifconfig v0 ADDR [netmask M] [up]` makes, in this order.
#[test]
fn addresses_and_flags_as_ifconfig_sets_them() {
    let (k, p) = boot();
    k.with_state(|st| st.net.ifaces.create("shmif0", [2, 0, 0, 0, 0, 1])).unwrap();
    let r = Rump(&p);
    let fd = r.socket(libc::AF_INET);
    let ip = Ipv4Addr::new;
    for cmd in [SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR] {
        assert_eq!(get_addr(&r, fd, cmd, "shmif0"), Err(libc::EADDRNOTAVAIL));
    }
    assert_eq!(flags(&r, fd, "shmif0"), 0x1002);
    set_addr(&r, fd, SIOCSIFADDR, "shmif0", ip(10, 1, 2, 3)).unwrap();
    assert_eq!(get_addr(&r, fd, SIOCGIFNETMASK, "shmif0"), Ok(ip(255, 0, 0, 0)));
    assert_eq!(get_addr(&r, fd, SIOCGIFBRDADDR, "shmif0"), Ok(ip(10, 255, 255, 255)));
    assert_eq!(get_addr(&r, fd, SIOCGIFDSTADDR, "shmif0"), Ok(ip(10, 1, 2, 3)));
    set_addr(&r, fd, SIOCSIFNETMASK, "shmif0", ip(255, 255, 255, 0)).unwrap();
    assert_eq!(get_addr(&r, fd, SIOCGIFBRDADDR, "shmif0"), Ok(ip(10, 1, 2, 255)));
    // The same address again keeps the mask; another gets its class's.
    set_addr(&r, fd, SIOCSIFADDR, "shmif0", ip(10, 1, 2, 3)).unwrap();
    assert_eq!(get_addr(&r, fd, SIOCGIFNETMASK, "shmif0"), Ok(ip(255, 255, 255, 0)));
    set_addr(&r, fd, SIOCSIFADDR, "shmif0", ip(192, 168, 7, 9)).unwrap();
    assert_eq!(get_addr(&r, fd, SIOCGIFNETMASK, "shmif0"), Ok(ip(255, 255, 255, 0)));
    assert_eq!(get_addr(&r, fd, SIOCGIFBRDADDR, "shmif0"), Ok(ip(192, 168, 7, 255)));
    set_addr(&r, fd, SIOCSIFADDR, "shmif0", ip(10, 9, 0, 2)).unwrap();
    assert_eq!(get_addr(&r, fd, SIOCGIFNETMASK, "shmif0"), Ok(ip(255, 0, 0, 0)));
    assert_eq!(set_addr(&r, fd, SIOCSIFNETMASK, "shmif0", ip(255, 0, 255, 0)), Err(libc::EINVAL));
    let mut fam0 = ifreq("shmif0");
    put_sin(&mut fam0, 16, ip(255, 255, 255, 0));
    fam0[16..18].fill(0);
    assert_eq!(r.ioctl(fd, SIOCSIFNETMASK, ptr(&mut fam0)), Err(libc::EINVAL));
    let mut fam6 = ifreq("shmif0");
    put_sin(&mut fam6, 16, ip(10, 0, 0, 1));
    fam6[16..18].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
    assert_eq!(r.ioctl(fd, SIOCSIFADDR, ptr(&mut fam6)), Err(libc::EINVAL));
    assert_eq!(set_addr(&r, fd, SIOCSIFADDR, "shmif0", ip(224, 0, 0, 5)), Err(libc::EINVAL));
    set_addr(&r, fd, SIOCSIFADDR, "shmif0", ip(240, 0, 0, 5)).unwrap();
    assert_eq!(get_addr(&r, fd, SIOCGIFNETMASK, "shmif0"), Ok(ip(255, 255, 255, 255)));
    // 0.0.0.0 takes the address away.
    set_addr(&r, fd, SIOCSIFADDR, "shmif0", Ipv4Addr::UNSPECIFIED).unwrap();
    assert_eq!(get_addr(&r, fd, SIOCGIFADDR, "shmif0"), Err(libc::EADDRNOTAVAIL));
    assert_eq!(set_addr(&r, fd, SIOCSIFNETMASK, "shmif0", ip(255, 255, 255, 0)), Err(libc::EADDRNOTAVAIL));
    assert_eq!(set_addr(&r, fd, SIOCSIFADDR, "nosuch0", ip(10, 0, 0, 1)), Err(libc::ENODEV));
    // A second address answers SIOCGIFADDR when asked for by address.
    set_addr(&r, fd, SIOCSIFADDR, "shmif0", ip(10, 0, 0, 1)).unwrap();
    k.with_state(|st| {
        let i = st.net.ifaces.index_of("shmif0").unwrap();
        st.net.add_addr(i, rump_kernel::net::iface::IfAddr::new(ip(172, 16, 0, 1).into(), 12)).unwrap();
    });
    let second = call(&r, fd, SIOCGIFNETMASK, "shmif0", Some(ip(172, 16, 0, 1))).unwrap();
    assert_eq!(sin(&second, 16).1, ip(255, 240, 0, 0));
    assert_eq!(get_addr(&r, fd, SIOCGIFNETMASK, "shmif0"), Ok(ip(255, 0, 0, 0)));

    // Up, without a bus: not running (Linux's veth without its peer).
    set_flags(&r, fd, "shmif0", 0x1002 | IFF_UP).unwrap();
    assert_eq!(flags(&r, fd, "shmif0"), 0x1003);
    set_flags(&r, fd, "shmif0", 0x1002).unwrap();
    assert_eq!(flags(&r, fd, "shmif0"), 0x1002);
    assert_eq!(set_flags(&r, fd, "nosuch0", IFF_UP), Err(libc::ENODEV));
    let r6 = r.socket(libc::AF_INET6);
    set_flags(&r, r6, "shmif0", 0x1003).unwrap();
    assert_eq!(flags(&r, fd, "shmif0"), 0x1003);

    // MTU: 68 up to Ethernet's 1500 on a shmif.
    assert_eq!(set_int(&r, fd, SIOCSIFMTU, "shmif0", 67), Err(libc::EINVAL));
    assert_eq!(set_int(&r, fd, SIOCSIFMTU, "shmif0", 1501), Err(libc::EINVAL));
    set_int(&r, fd, SIOCSIFMTU, "shmif0", 68).unwrap();
    assert_eq!(int_at(&call(&r, fd, SIOCGIFMTU, "shmif0", None).unwrap(), 16), 68);
    set_int(&r, fd, SIOCSIFMTU, "shmif0", 1500).unwrap();
    assert_eq!(set_int(&r, fd, SIOCSIFMTU, "nosuch0", 1500), Err(libc::ENODEV));
    let hw = call(&r, fd, SIOCGIFHWADDR, "shmif0", None).unwrap();
    assert_eq!(u16::from_ne_bytes([hw[16], hw[17]]), 1);
    assert_eq!(hw[18..24], [2, 0, 0, 0, 0, 1]);
    assert_eq!(int_at(&call(&r, fd, SIOCGIFINDEX, "shmif0", None).unwrap(), 16), 2);
}

/// A Linux `struct rtentry` (x86-64).
fn rtentry(
    dst: Ipv4Addr,
    mask: Option<Ipv4Addr>,
    gw: Option<Ipv4Addr>,
    flags: u16,
    metric: i16,
    dev: u64,
) -> [u8; 120] {
    let mut rt = [0u8; 120];
    put_sin(&mut rt, 8, dst);
    if let Some(g) = gw {
        put_sin(&mut rt, 24, g);
    }
    if let Some(m) = mask {
        put_sin(&mut rt, 40, m);
    }
    rt[56..58].copy_from_slice(&flags.to_ne_bytes());
    rt[80..82].copy_from_slice(&metric.to_ne_bytes());
    rt[88..96].copy_from_slice(&dev.to_ne_bytes());
    rt
}

/// Reads a whole file through the Linux process.
fn read_file(p: &Process, path: &str) -> Result<String, i32> {
    let c = CString::new(path).unwrap();
    let fd = sc(p, libc::SYS_openat, &[libc::AT_FDCWD as i64 as u64, c.as_ptr() as u64, libc::O_RDONLY as u64, 0])?;
    let mut out = Vec::new();
    let mut buf = [0u8; 100];
    loop {
        let n = sc(p, libc::SYS_read, &[fd as u64, buf.as_mut_ptr() as u64, buf.len() as u64])? as usize;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    sc(p, libc::SYS_close, &[fd as u64])?;
    Ok(String::from_utf8(out).unwrap())
}

fn write_file(p: &Process, path: &str, data: &[u8]) -> Result<i64, i32> {
    let c = CString::new(path).unwrap();
    let flags = (libc::O_WRONLY | libc::O_TRUNC) as u64;
    let fd = sc(p, libc::SYS_openat, &[libc::AT_FDCWD as i64 as u64, c.as_ptr() as u64, flags, 0])?;
    let r = sc(p, libc::SYS_write, &[fd as u64, data.as_ptr() as u64, data.len() as u64]);
    sc(p, libc::SYS_close, &[fd as u64])?;
    r
}

/// Linux 6.18, veth v0 up with 10.9.0.1/24, the calls `route add` makes.
#[test]
fn routes_as_route_adds_them() {
    let ip = Ipv4Addr::new;
    let (_k, p, fd) = with_shmif(ip(10, 9, 0, 1), ip(255, 255, 255, 0));
    let r = Rump(&p);
    let mut dev = *b"shmif0\0\0\0\0\0\0\0\0\0\0";
    let mut nosuch = *b"nosuch\0\0\0\0\0\0\0\0\0\0";
    let (dev, nosuch) = (ptr(&mut dev), ptr(&mut nosuch));
    let net16 = (ip(10, 20, 0, 0), Some(ip(255, 255, 0, 0)));
    let add = |mut rt: [u8; 120]| r.ioctl(fd, SIOCADDRT, ptr(&mut rt));
    let del = |mut rt: [u8; 120]| r.ioctl(fd, SIOCDELRT, ptr(&mut rt));
    let gw = RTF_UP | RTF_GATEWAY;
    assert_eq!(add(rtentry(net16.0, net16.1, Some(ip(10, 30, 0, 1)), gw, 0, 0)), Err(libc::ENETUNREACH));
    assert_eq!(add(rtentry(net16.0, net16.1, None, RTF_UP, 0, 0)), Err(libc::ENODEV));
    assert_eq!(add(rtentry(net16.0, net16.1, None, gw, 0, 0)), Err(libc::EINVAL));
    assert_eq!(add(rtentry(ip(10, 20, 0, 1), net16.1, None, RTF_UP, 0, dev)), Err(libc::EINVAL));
    let mut fam0 = rtentry(net16.0, net16.1, None, RTF_UP, 0, dev);
    fam0[8..10].fill(0);
    assert_eq!(add(fam0), Err(libc::EAFNOSUPPORT));
    assert_eq!(add(rtentry(net16.0, net16.1, None, RTF_UP, 0, nosuch)), Err(libc::ENODEV));
    assert_eq!(add(rtentry(net16.0, net16.1, None, RTF_UP, 0, 8)), Err(libc::EFAULT));
    add(rtentry(net16.0, net16.1, Some(ip(10, 9, 0, 7)), gw, 5, 0)).unwrap();
    assert_eq!(add(rtentry(net16.0, net16.1, Some(ip(10, 9, 0, 7)), gw, 5, 0)), Err(libc::EEXIST));
    let off_dev = rtentry(ip(10, 21, 0, 0), net16.1, Some(ip(10, 30, 0, 7)), gw, 0, dev);
    assert_eq!(add(off_dev), Err(libc::ENETUNREACH));
    add(rtentry(ip(10, 22, 0, 5), None, Some(ip(10, 9, 0, 7)), gw | RTF_HOST, 0, 0)).unwrap();
    add(rtentry(Ipv4Addr::UNSPECIFIED, Some(Ipv4Addr::UNSPECIFIED), Some(ip(10, 9, 0, 1)), gw, 0, 0)).unwrap();
    // Linux's /proc/net/route after the same calls, with v0 for shmif0.
    let linux = [
        "shmif0\t00000000\t0100090A\t0003\t0\t0\t0\t00000000\t0\t0\t0",
        "shmif0\t0000090A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
        "shmif0\t0000140A\t0700090A\t0003\t0\t0\t4\t0000FFFF\t0\t0\t0",
        "shmif0\t0500160A\t0700090A\t0007\t0\t0\t0\tFFFFFFFF\t0\t0\t0",
    ];
    let text = read_file(&p, "/proc/net/route").unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("shmif0")).collect();
    assert_eq!(rows.len(), linux.len());
    for (got, want) in rows.iter().zip(linux) {
        assert_eq!(got.len(), 127, "{got:?}");
        assert_eq!(got.trim_end(), want);
    }
    // Deleting: ESRCH when nothing matches; metric 0 matches any metric;
    // a gateway given must be the route's.
    assert_eq!(del(rtentry(ip(10, 23, 0, 0), net16.1, None, RTF_UP, 0, 0)), Err(libc::ESRCH));
    assert_eq!(del(rtentry(net16.0, net16.1, Some(ip(10, 9, 0, 8)), RTF_UP, 0, 0)), Err(libc::ESRCH));
    del(rtentry(net16.0, net16.1, None, RTF_UP, 0, 0)).unwrap();
    assert_eq!(del(rtentry(net16.0, net16.1, None, RTF_UP, 0, 0)), Err(libc::ESRCH));
    // A down interface takes no route.
    let f = flags(&r, fd, "shmif0");
    set_flags(&r, fd, "shmif0", f & !IFF_UP).unwrap();
    assert_eq!(add(rtentry(ip(10, 40, 0, 0), net16.1, None, RTF_UP, 0, dev)), Err(libc::ENETDOWN));
    assert!(!read_file(&p, "/proc/net/route").unwrap().contains("shmif0"));
    // IPv6 sockets take struct in6_rtmsg instead (route -A inet6): a
    // prefix over 128 is EINVAL, a gateway on no subnet EHOSTUNREACH,
    // as Linux says.
    let in6_rtmsg = |dst_len: u16, gw: [u8; 16]| {
        let mut m = [0u8; 80];
        m[..2].copy_from_slice(&[0x20, 0x01]);
        m[32..48].copy_from_slice(&gw);
        m[52..54].copy_from_slice(&dst_len.to_ne_bytes());
        m[72..76].copy_from_slice(&3u32.to_ne_bytes());
        m
    };
    let s6 = r.socket(libc::AF_INET6);
    let gw = [0x20, 0x01, 0x0d, 0xb8, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(r.ioctl(s6, SIOCADDRT, ptr(&mut in6_rtmsg(129, gw))), Err(libc::EINVAL));
    assert_eq!(r.ioctl(s6, SIOCADDRT, ptr(&mut in6_rtmsg(64, gw))), Err(libc::EHOSTUNREACH));
}

/// A Linux `struct arpreq`.
fn arpreq(ip: Ipv4Addr, ha_family: u16, mac: [u8; 6], flags: i32, dev: &str) -> [u8; 68] {
    let mut a = [0u8; 68];
    put_sin(&mut a, 0, ip);
    a[16..18].copy_from_slice(&ha_family.to_ne_bytes());
    a[18..24].copy_from_slice(&mac);
    a[32..36].copy_from_slice(&flags.to_ne_bytes());
    a[52..52 + dev.len()].copy_from_slice(dev.as_bytes());
    a
}

/// Linux 6.18, veth v0 up with 10.9.0.1/24, the calls `arp -s/-d` and
/// SIOCGARP make.
#[test]
fn arp_entries_as_arp_sets_them() {
    let ip = Ipv4Addr::new;
    let (_k, p, fd) = with_shmif(ip(10, 9, 0, 1), ip(255, 255, 255, 0));
    let r = Rump(&p);
    let io = |cmd: u64, mut a: [u8; 68]| r.ioctl(fd, cmd, ptr(&mut a)).map(|_| a);
    let mac = [2, 0x11, 0x22, 0x33, 0x44, 0x55];
    let perm = ATF_PERM | ATF_COM;
    io(SIOCSARP, arpreq(ip(10, 9, 0, 50), 1, mac, perm, "")).unwrap();
    assert_eq!(io(SIOCSARP, arpreq(ip(10, 99, 0, 50), 1, mac, perm, "")).err(), Some(libc::ENETUNREACH));
    io(SIOCSARP, arpreq(ip(10, 9, 0, 51), 1, mac, ATF_COM, "shmif0")).unwrap();
    assert_eq!(io(SIOCSARP, arpreq(ip(10, 9, 0, 52), 1, mac, 0, "shmif0")).err(), Some(libc::EINVAL));
    assert_eq!(io(SIOCSARP, arpreq(ip(10, 9, 0, 53), 772, mac, perm, "shmif0")).err(), Some(libc::EINVAL));
    assert_eq!(io(SIOCSARP, arpreq(ip(10, 9, 0, 61), 0, mac, perm, "")).err(), Some(libc::EINVAL));
    io(SIOCSARP, arpreq(ip(10, 9, 0, 60), 0, mac, perm, "shmif0")).unwrap();
    let mut fam0 = arpreq(ip(10, 9, 0, 53), 1, mac, perm, "");
    fam0[..2].fill(0);
    assert_eq!(io(SIOCSARP, fam0).err(), Some(libc::EPFNOSUPPORT));

    assert_eq!(io(SIOCGARP, arpreq(ip(10, 9, 0, 50), 0, [0; 6], 0, "")).err(), Some(libc::ENODEV));
    let got = io(SIOCGARP, arpreq(ip(10, 9, 0, 50), 0, [0; 6], 0, "shmif0")).unwrap();
    assert_eq!(int_at(&got, 32), ATF_PERM | ATF_COM);
    assert_eq!(u16::from_ne_bytes([got[16], got[17]]), 1);
    assert_eq!(got[18..24], mac);
    assert_eq!(sin(&got, 36), (0, Ipv4Addr::BROADCAST));
    let temp = io(SIOCGARP, arpreq(ip(10, 9, 0, 51), 0, [0; 6], 0, "shmif0")).unwrap();
    assert_eq!(int_at(&temp, 32), ATF_COM);
    assert_eq!(io(SIOCGARP, arpreq(ip(10, 9, 0, 59), 0, [0; 6], 0, "shmif0")).err(), Some(libc::ENXIO));
    assert_eq!(io(SIOCGARP, arpreq(ip(10, 9, 0, 59), 0, [0; 6], 0, "nosuch")).err(), Some(libc::ENODEV));

    let text = read_file(&p, "/proc/net/arp").unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[1..],
        [
            "10.9.0.50        0x1         0x6         02:11:22:33:44:55     *        shmif0",
            "10.9.0.51        0x1         0x2         02:11:22:33:44:55     *        shmif0",
            "10.9.0.60        0x1         0x6         02:11:22:33:44:55     *        shmif0",
        ]
    );

    assert_eq!(io(SIOCDARP, arpreq(ip(10, 9, 0, 59), 0, [0; 6], 0, "shmif0")).err(), Some(libc::ENXIO));
    assert_eq!(io(SIOCDARP, arpreq(ip(10, 99, 0, 51), 0, [0; 6], 0, "")).err(), Some(libc::ENETUNREACH));
    io(SIOCDARP, arpreq(ip(10, 9, 0, 50), 0, [0; 6], 0, "")).unwrap();
    assert_eq!(io(SIOCDARP, arpreq(ip(10, 9, 0, 50), 0, [0; 6], 0, "shmif0")).err(), Some(libc::ENXIO));
    assert_eq!(read_file(&p, "/proc/net/arp").unwrap().lines().count(), 3);
}

/// A Linux `struct in6_ifreq`.
fn in6_ifreq(a: Ipv6Addr, prefix: u32, index: i32) -> [u8; 24] {
    let mut q = [0u8; 24];
    q[..16].copy_from_slice(&a.octets());
    q[16..20].copy_from_slice(&prefix.to_ne_bytes());
    q[20..24].copy_from_slice(&index.to_ne_bytes());
    q
}

/// Linux 6.18, veth v0: `ifconfig v0 add/del 2001:db8::1/64` and the
/// errors around them.
#[test]
fn ipv6_addresses_as_ifconfig_adds_them() {
    let (k, p) = boot();
    k.with_state(|st| st.net.ifaces.create("shmif0", [2, 0, 0, 0, 0, 1])).unwrap();
    let r = Rump(&p);
    let (fd4, fd6) = (r.socket(libc::AF_INET), r.socket(libc::AF_INET6));
    let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let io = |fd: i32, cmd: u64, mut q: [u8; 24]| r.ioctl(fd, cmd, ptr(&mut q));
    io(fd6, SIOCSIFADDR, in6_ifreq(a, 64, 2)).unwrap();
    assert_eq!(io(fd6, SIOCSIFADDR, in6_ifreq(a, 64, 2)), Err(libc::EEXIST));
    let text = read_file(&p, "/proc/net/if_inet6").unwrap();
    assert!(text.lines().any(|l| l == "20010db8000000000000000000000001 02 40 00 80   shmif0"), "{text}");
    assert!(text.lines().any(|l| l == "00000000000000000000000000000001 01 80 10 80      lo0"), "{text}");
    let routes = read_file(&p, "/proc/net/ipv6_route").unwrap();
    assert!(!routes.contains("20010db8"), "shmif0 is down: {routes}");
    assert_eq!(io(fd6, SIOCDIFADDR, in6_ifreq(a, 48, 2)), Err(libc::EADDRNOTAVAIL));
    io(fd6, SIOCDIFADDR, in6_ifreq(a, 64, 2)).unwrap();
    assert_eq!(io(fd6, SIOCDIFADDR, in6_ifreq(a, 64, 2)), Err(libc::EADDRNOTAVAIL));
    assert_eq!(io(fd6, SIOCSIFADDR, in6_ifreq(a, 64, 999)), Err(libc::ENODEV));
    assert_eq!(io(fd6, SIOCDIFADDR, in6_ifreq(a, 64, 999)), Err(libc::ENODEV));
    assert_eq!(io(fd6, SIOCSIFADDR, in6_ifreq(a, 129, 2)), Err(libc::EINVAL));
    for bad in [Ipv6Addr::UNSPECIFIED, "ff02::1".parse().unwrap(), Ipv6Addr::LOCALHOST] {
        assert_eq!(io(fd6, SIOCSIFADDR, in6_ifreq(bad, 64, 2)), Err(libc::EADDRNOTAVAIL), "{bad}");
    }
    io(fd6, SIOCSIFADDR, in6_ifreq(a, 0, 2)).unwrap();
    io(fd6, SIOCDIFADDR, in6_ifreq(a, 0, 2)).unwrap();
    assert_eq!(io(fd4, SIOCDIFADDR, in6_ifreq(a, 64, 2)), Err(libc::ENOTTY));
    assert_eq!(r.ioctl(fd6, SIOCSIFADDR, 0), Err(libc::EFAULT));
    // Up, shmif0 gains its link-local address, and the route to it shows.
    let f = flags(&r, fd4, "shmif0");
    set_flags(&r, fd4, "shmif0", f | IFF_UP).unwrap();
    io(fd6, SIOCSIFADDR, in6_ifreq(a, 64, 2)).unwrap();
    let text = read_file(&p, "/proc/net/if_inet6").unwrap();
    assert!(text.lines().any(|l| l == "fe80000000000000000000fffe000001 02 40 20 80   shmif0"), "{text}");
    let routes = read_file(&p, "/proc/net/ipv6_route").unwrap();
    let row = routes.lines().find(|l| l.starts_with("20010db8")).expect("route to 2001:db8::/64");
    assert_eq!(
        row,
        "20010db8000000000000000000000000 40 00000000000000000000000000000000 00 \
         00000000000000000000000000000000 00000100 00000001 00000000 00000001   shmif0",
        "an address's prefix route has Linux's metric 256"
    );
}

/// The lines of a host /proc file.
fn host_lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

/// The columns of a socket row that a fresh socket shows the same on
/// both sides: all but the slot, uid (the kernel's caller is root, the
/// test may not be), inode, refcount and pointer.
fn socket_columns(row: &str) -> Vec<String> {
    let f: Vec<&str> = row.split_whitespace().collect();
    f.iter().enumerate().filter(|(i, _)| ![0, 7, 9, 10, 11].contains(i)).map(|(_, s)| s.to_string()).collect()
}

#[test]
fn proc_net_headers_and_rows_match_the_host() {
    let (_k, p) = boot();
    // Sockets on both sides: a TCP listener, a connection with 10 unread
    // bytes, a bound UDP socket; then the rows for them compared.
    let rsock = |fam: i32, ty: i32| sc(&p, libc::SYS_socket, &[fam as u64, ty as u64, 0]).unwrap() as u64;
    let mut rsin = [0u8; 16];
    put_sin(&mut rsin, 0, Ipv4Addr::LOCALHOST);
    rsin[2..4].copy_from_slice(&5356u16.to_be_bytes());
    let l = rsock(libc::AF_INET, libc::SOCK_STREAM);
    sc(&p, libc::SYS_bind, &[l, ptr(&mut rsin), 16]).unwrap();
    sc(&p, libc::SYS_listen, &[l, 5]).unwrap();
    let c = rsock(libc::AF_INET, libc::SOCK_STREAM);
    sc(&p, libc::SYS_connect, &[c, ptr(&mut rsin), 16]).unwrap();
    let _a = sc(&p, libc::SYS_accept, &[l, 0, 0]).unwrap();
    sc(&p, libc::SYS_write, &[c, b"0123456789".as_ptr() as u64, 10]).unwrap();
    let u = rsock(libc::AF_INET, libc::SOCK_DGRAM);
    rsin[2..4].copy_from_slice(&5353u16.to_be_bytes());
    sc(&p, libc::SYS_bind, &[u, ptr(&mut rsin), 16]).unwrap();

    let hl = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hport = hl.local_addr().unwrap().port();
    let hc = std::net::TcpStream::connect(hl.local_addr().unwrap()).unwrap();
    let (_ha, _) = hl.accept().unwrap();
    std::io::Write::write_all(&mut &hc, b"0123456789").unwrap();
    let hu = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let huport = hu.local_addr().unwrap().port();
    std::thread::sleep(std::time::Duration::from_millis(100));

    for f in ["dev", "route", "tcp", "tcp6", "udp", "udp6", "raw", "raw6", "arp", "snmp"] {
        let mine = read_file(&p, &format!("/proc/net/{f}")).unwrap();
        let host = host_lines(&format!("/proc/net/{f}"));
        let heads = if f == "dev" { 2 } else { 1 };
        let lines: Vec<&str> = mine.lines().collect();
        assert_eq!(lines[..heads], host[..heads], "{f}");
        if f == "snmp" {
            // Every header and value line of ours is one of Linux's,
            // with as many values as names.
            for pair in lines.chunks(2) {
                assert!(host.iter().any(|h| h == pair[0]), "{}", pair[0]);
                let head = pair[1].split(':').next().unwrap();
                assert!(pair[0].starts_with(&format!("{head}:")));
                assert_eq!(pair[0].split(' ').count(), pair[1].split(' ').count(), "{head}");
            }
        }
    }
    // /proc/net/netstat: each name of ours is one of Linux's TcpExt
    // names, with a value beside it.
    let ext = read_file(&p, "/proc/net/netstat").unwrap();
    let ext: Vec<&str> = ext.lines().collect();
    let linux = host_lines("/proc/net/netstat");
    let linux_names: Vec<&str> = linux[0].split_whitespace().collect();
    assert_eq!(ext.len(), 2);
    let (names, values): (Vec<&str>, Vec<&str>) = (ext[0].split(' ').collect(), ext[1].split(' ').collect());
    assert_eq!((names[0], values[0], names.len()), ("TcpExt:", "TcpExt:", values.len()));
    assert!(names.iter().all(|n| linux_names.contains(n)), "{names:?}");
    assert!(values[1..].iter().all(|v| v.parse::<u64>().is_ok()));
    // /proc/net/dev: the name ends at column 6; sixteen numbers follow.
    let dev = read_file(&p, "/proc/net/dev").unwrap();
    let lo = dev.lines().nth(2).unwrap();
    assert_eq!(lo.find(':'), host_lines("/proc/net/dev")[2].find(':'));
    assert!(lo.starts_with("   lo0:"));
    assert_eq!(lo[7..].split_whitespace().filter(|n| n.parse::<u64>().is_ok()).count(), 16);

    let hex = |port: u16| format!("0100007F:{port:04X}");
    let row = |text: &str, pat: &str, state: &str| -> String {
        text.lines()
            .find(|l| l.contains(pat) && l.split_whitespace().nth(3) == Some(state))
            .unwrap_or_default()
            .to_string()
    };
    let mine = read_file(&p, "/proc/net/tcp").unwrap();
    let host = std::fs::read_to_string("/proc/net/tcp").unwrap();
    // The listener, then the accepted side holding the 10 bytes.
    let pairs = [
        (row(&mine, &format!("{} ", hex(5356)), "0A"), row(&host, &format!("{} ", hex(hport)), "0A")),
        (row(&mine, &format!("{} 0100007F", hex(5356)), "01"), row(&host, &format!("{} 0100007F", hex(hport)), "01")),
    ];
    for (m, h) in pairs {
        assert_eq!(m.len(), 149, "{m:?}");
        assert_eq!(m.len(), h.len());
        let (mut mc, mut hc) = (socket_columns(&m), socket_columns(&h));
        // The peer's ephemeral port, and the port of the listener.
        mc[0] = mc[0].replace(&format!("{:04X}", 5356), "PORT");
        hc[0] = hc[0].replace(&format!("{hport:04X}"), "PORT");
        mc[1] = mc[1][..9].to_string();
        hc[1] = hc[1][..9].to_string();
        // rto, ato, quick, cwnd and ssthresh depend on timing: not compared.
        assert_eq!(mc[..7], hc[..7], "\n{m}\n{h}");
    }
    assert!(mine.contains(" 01 00000000:0000000A "), "{mine}");
    let mine = read_file(&p, "/proc/net/udp").unwrap();
    let host = std::fs::read_to_string("/proc/net/udp").unwrap();
    let (m, h) = (row(&mine, &hex(5353), "07"), row(&host, &hex(huport), "07"));
    assert_eq!(m.len(), 127);
    assert_eq!(m.len(), h.len());
    let (mc, hc) = (socket_columns(&m), socket_columns(&h));
    assert_eq!(mc[1..], hc[1..], "\n{m}\n{h}");
    // if_inet6: ::1 on the loopback, index 1 on both sides.
    let mine = read_file(&p, "/proc/net/if_inet6").unwrap();
    let host = host_lines("/proc/net/if_inet6");
    let m = mine.lines().find(|l| l.starts_with("00000000000000000000000000000001 ")).unwrap();
    let h = host.iter().find(|l| l.starts_with("00000000000000000000000000000001 ")).unwrap();
    assert_eq!(m[..44], h[..44]);
    assert_eq!(m.len(), h.len());
    // ipv6_route rows: ten columns of fixed widths.
    let v6r = read_file(&p, "/proc/net/ipv6_route").unwrap();
    for l in v6r.lines().chain(host_lines("/proc/net/ipv6_route").iter().map(String::as_str)) {
        let w: Vec<usize> = l.split_whitespace().map(str::len).collect();
        assert_eq!(w[..9], [32, 2, 32, 2, 32, 8, 8, 8, 8], "{l}");
    }
    assert!(v6r.starts_with("00000000000000000000000000000001 80 "), "{v6r}");
}

#[test]
fn sysctl_files_and_the_mib_are_one_variable() {
    let (k, p) = boot();
    let fwd = "/proc/sys/net/ipv4/ip_forward";
    assert_eq!(read_file(&p, fwd).unwrap(), "0\n");
    assert_eq!(write_file(&p, fwd, b"1\n"), Ok(2));
    assert_eq!(k.sysctl_get("net.inet.ip.forwarding"), Ok(Value::Int(1)));
    assert_eq!(read_file(&p, fwd).unwrap(), "1\n");
    assert!(read_file(&p, "/proc/net/snmp").unwrap().lines().nth(1).unwrap().starts_with("Ip: 1 64 "));
    // Linux's answers (6.18, a private namespace) to the same writes.
    assert_eq!(write_file(&p, fwd, b"abc"), Err(libc::EINVAL));
    assert_eq!(write_file(&p, fwd, b"\n"), Err(libc::EINVAL));
    assert_eq!(write_file(&p, fwd, b""), Ok(0));
    assert_eq!(write_file(&p, fwd, b"0 2"), Ok(2));
    assert_eq!(k.sysctl_get("net.inet.ip.forwarding"), Ok(Value::Int(0)));
    assert_eq!(write_file(&p, fwd, b"0x1"), Ok(3));
    assert_eq!(read_file(&p, fwd).unwrap(), "1\n");
    // NetBSD's __sysctl from a native process, as rumpctl calls it.
    let native = k.spawn(Emulation::Native, Cred::root(), "rumpctl").unwrap();
    let mib = rump_kernel::sysctl::resolve("net.inet.ip.forwarding").unwrap();
    let mut old = [0u8; 4];
    let mut len = old.len();
    let new = 0i32.to_ne_bytes();
    let (m, n) = (mib.as_ptr(), mib.len() as u32);
    rump_sys___sysctl(&native, m, n, old.as_mut_ptr().cast(), &mut len, new.as_ptr().cast(), 4).unwrap();
    assert_eq!((i32::from_ne_bytes(old), len), (1, 4));
    assert_eq!(read_file(&p, fwd).unwrap(), "0\n");

    let ttl = "/proc/sys/net/ipv4/ip_default_ttl";
    assert_eq!(read_file(&p, ttl).unwrap(), "64\n");
    assert_eq!(write_file(&p, ttl, b"0"), Err(libc::EINVAL));
    assert_eq!(write_file(&p, ttl, b"256"), Err(libc::EINVAL));
    assert_eq!(write_file(&p, ttl, b"255\n"), Ok(4));
    assert_eq!(k.sysctl_get("net.inet.ip.ttl"), Ok(Value::Int(255)));
    k.sysctl_set("net.inet.ip.ttl", Value::Int(77)).unwrap();
    assert_eq!(read_file(&p, ttl).unwrap(), "77\n");

    let keep = "/proc/sys/net/ipv4/neigh/default/gc_stale_time";
    assert_eq!(read_file(&p, keep).unwrap(), "1200\n");
    write_file(&p, keep, b"30\n").unwrap();
    assert_eq!(k.sysctl_get("net.inet.arp.keep"), Ok(Value::Int(30)));
    assert_eq!(k.with_state(|st| st.net.knobs.arp_keep), 30);
    assert_eq!(write_file(&p, keep, b"-5"), Err(libc::EINVAL));

    let fwd6 = "/proc/sys/net/ipv6/conf/all/forwarding";
    write_file(&p, fwd6, b"1").unwrap();
    assert_eq!(k.sysctl_get("net.inet6.ip6.forwarding"), Ok(Value::Int(1)));
    assert_eq!(read_file(&p, fwd6).unwrap(), "1\n");

    let pgr = "/proc/sys/net/ipv4/ping_group_range";
    assert_eq!(read_file(&p, pgr).unwrap(), std::fs::read_to_string(pgr).unwrap());
    write_file(&p, pgr, b"0 0").unwrap();
    assert_eq!(read_file(&p, pgr).unwrap(), "0\t0\n");
    assert_eq!(k.sysctl_get("net.inet.icmp.ping_group_range"), Ok(Value::string("0\t0")));
    assert_eq!(write_file(&p, pgr, b"x"), Err(libc::EINVAL));
    assert_eq!(write_file(&p, pgr, b"7"), Err(libc::EINVAL), "two numbers");
    write_file(&p, pgr, b"5 2").unwrap();
    assert_eq!(read_file(&p, pgr).unwrap(), "1\t0\n", "a range upside down admits nobody");

    // A write held open takes effect when its call returns.
    let c = CString::new(fwd).unwrap();
    let fd = sc(&p, libc::SYS_openat, &[libc::AT_FDCWD as i64 as u64, c.as_ptr() as u64, libc::O_RDWR as u64, 0])
        .unwrap() as u64;
    sc(&p, libc::SYS_write, &[fd, b"1".as_ptr() as u64, 1]).unwrap();
    assert_eq!(k.sysctl_get("net.inet.ip.forwarding"), Ok(Value::Int(1)));
    // Past the start, a write is taken and ignored.
    sc(&p, libc::SYS_write, &[fd, b"0".as_ptr() as u64, 1]).unwrap();
    assert_eq!(k.sysctl_get("net.inet.ip.forwarding"), Ok(Value::Int(1)));
    sc(&p, libc::SYS_close, &[fd]).unwrap();
}

fn stat(p: &Process, path: &str) -> Result<libc::stat, i32> {
    let c = CString::new(path).unwrap();
    // SAFETY: all-zero bytes are a valid `struct stat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    sc(p, libc::SYS_newfstatat, &[libc::AT_FDCWD as i64 as u64, c.as_ptr() as u64, ptr(&mut st), 0]).map(|_| st)
}

fn list(p: &Process, path: &str) -> Vec<String> {
    let c = CString::new(path).unwrap();
    let flags = (libc::O_RDONLY | libc::O_DIRECTORY) as u64;
    let fd = sc(p, libc::SYS_openat, &[libc::AT_FDCWD as i64 as u64, c.as_ptr() as u64, flags, 0]).unwrap() as u64;
    let mut buf = [0u8; 4096];
    let mut names = Vec::new();
    loop {
        let n = sc(p, libc::SYS_getdents64, &[fd, buf.as_mut_ptr() as u64, buf.len() as u64]).unwrap() as usize;
        if n == 0 {
            break;
        }
        let mut at = 0;
        while at < n {
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            let name = &buf[at + 19..at + reclen];
            names.push(String::from_utf8_lossy(&name[..name.iter().position(|&b| b == 0).unwrap()]).into_owned());
            at += reclen;
        }
    }
    sc(p, libc::SYS_close, &[fd]).unwrap();
    names
}

#[test]
fn proc_tree_stats_and_lists_like_linux() {
    let (_k, p) = boot();
    for path in ["/proc/net/dev", "/proc/net/snmp", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4"] {
        let mine = stat(&p, path).unwrap();
        let host = std::fs::metadata(path).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(mine.st_mode, host.mode(), "{path}");
        assert_eq!((mine.st_size, mine.st_blocks), (0, 0), "{path}");
        assert_eq!(mine.st_blksize, host.blksize() as i64, "{path}");
    }
    let mut net = list(&p, "/proc/net");
    net.sort();
    let want = [
        ".",
        "..",
        "arp",
        "dev",
        "if_inet6",
        "ipv6_route",
        "netstat",
        "raw",
        "raw6",
        "route",
        "snmp",
        "sockstat",
        "sockstat6",
        "tcp",
        "tcp6",
        "udp",
        "udp6",
    ];
    assert_eq!(net, want);
    for name in &want[2..] {
        assert!(std::path::Path::new(&format!("/proc/net/{name}")).exists(), "{name}");
    }
    assert_eq!(list(&p, "/proc/sys/net/ipv6/conf/all"), [".", "..", "forwarding"]);
    assert_eq!(list(&p, "/proc"), [".", "..", "net", "sys"]);
    // The names are fixed, as Linux's.
    let c = CString::new("/proc/net/newfile").unwrap();
    let creat = (libc::O_WRONLY | libc::O_CREAT) as u64;
    let at = libc::AT_FDCWD as i64 as u64;
    assert_eq!(sc(&p, libc::SYS_openat, &[at, c.as_ptr() as u64, creat, 0o644]), Err(libc::ENOENT));
    let dev = CString::new("/proc/net/dev").unwrap();
    assert_eq!(sc(&p, libc::SYS_unlinkat, &[at, dev.as_ptr() as u64, 0]), Err(libc::EPERM));
    assert_eq!(write_file(&p, "/proc/net/dev", b"x"), Err(libc::EIO));
    assert_eq!(stat(&p, "/proc/net/nosuch").err(), Some(libc::ENOENT));
    // Reads in small pieces see one text.
    let whole = read_file(&p, "/proc/net/snmp").unwrap();
    assert!(whole.len() > 100 && whole.ends_with('\n'));
}
