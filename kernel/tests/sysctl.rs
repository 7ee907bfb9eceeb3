//! The sysctl MIB end to end: NetBSD's `__sysctl` called in-process through
//! the typed `rump_sys___sysctl`, the name-based Rust API, and the Linux
//! emulation's uname/sethostname sharing the hostname with kern.hostname.
//! uname and sethostname's errnos are compared with the host's own, run
//! in a private UTS namespace so the host's hostname never changes.

mod strict;
use rump_abi::native::errno::*;
use rump_abi::native::flags::*;
use rump_abi::native::sys::rump_sys___sysctl;
use rump_abi::native::types::sysctlnode;
use rump_abi::Errno;
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation;
use rump_kernel::sysctl::{resolve, Value};
use rump_kernel::{Config, Kernel, Process};
use std::ptr::{null, null_mut};

const HOSTNAME: [i32; 2] = [CTL_KERN, KERN_HOSTNAME];
const OSTYPE: [i32; 2] = [CTL_KERN, KERN_OSTYPE];
const NODE: usize = std::mem::size_of::<sysctlnode>();

fn boot() -> (Kernel, Process) {
    let k = Kernel::boot(Config { ncpu: 4, ..Config::default() }).expect("boot");
    let p = k.spawn(Emulation::Native, Cred::root(), "sysctl").unwrap();
    (k, p)
}

/// `__sysctl` with an old buffer of `cap` bytes (None: oldp NULL) and an
/// optional new value; returns the result, the bytes written and *oldlenp.
fn sysctl(p: &Process, name: &[i32], cap: Option<usize>, new: Option<&[u8]>) -> (Result<i32, Errno>, Vec<u8>, usize) {
    let mut buf = vec![0u8; cap.unwrap_or(0)];
    let mut len = buf.len();
    let oldp = if cap.is_some() { buf.as_mut_ptr().cast() } else { null_mut() };
    let (newp, newlen) = new.map_or((null(), 0), |n| (n.as_ptr().cast(), n.len()));
    let r = rump_sys___sysctl(p, name.as_ptr(), name.len() as u32, oldp, &mut len, newp, newlen);
    buf.truncate(len.min(buf.len()));
    (r, buf, len)
}

fn read(p: &Process, name: &[i32]) -> Result<Vec<u8>, Errno> {
    let (r, _, need) = sysctl(p, name, None, None);
    r?;
    let (r, buf, len) = sysctl(p, name, Some(need), None);
    r?;
    assert_eq!(len, need);
    Ok(buf)
}

fn write(p: &Process, name: &[i32], new: &[u8]) -> Result<i32, Errno> {
    sysctl(p, name, None, Some(new)).0
}

/// The request a CTL_QUERY needs: a node of this layout version.
fn qnode() -> sysctlnode {
    sysctlnode { sysctl_flags: SYSCTL_VERSION, ..sysctlnode::default() }
}

/// The children of the node `parent` names, by CTL_QUERY.
fn query(p: &Process, parent: &[i32]) -> Result<Vec<sysctlnode>, Errno> {
    let mut name = parent.to_vec();
    name.push(CTL_QUERY);
    let q = qnode();
    let (newp, newlen) = ((&q as *const sysctlnode).cast(), NODE);
    let mut len = 0usize;
    rump_sys___sysctl(p, name.as_ptr(), name.len() as u32, null_mut(), &mut len, newp, newlen)?;
    let mut nodes = vec![sysctlnode::default(); len / NODE];
    rump_sys___sysctl(p, name.as_ptr(), name.len() as u32, nodes.as_mut_ptr().cast(), &mut len, newp, newlen)?;
    assert_eq!(len, nodes.len() * NODE);
    Ok(nodes)
}

fn node_name(n: &sysctlnode) -> &str {
    let end = n.sysctl_name.iter().position(|&b| b == 0).unwrap_or(n.sysctl_name.len());
    std::str::from_utf8(&n.sysctl_name[..end]).unwrap()
}

/// NetBSD's sysctlnametomib, built on CTL_QUERY only.
fn name_to_mib(p: &Process, name: &str) -> Result<Vec<i32>, Errno> {
    let mut mib = Vec::new();
    for part in name.split('.') {
        let children = query(p, &mib)?;
        let n = children.iter().find(|n| node_name(n) == part).ok_or(ENOENT)?;
        mib.push(n.sysctl_num);
    }
    Ok(mib)
}

#[test]
fn hostname_read_write() {
    let (_k, p) = boot();
    // A size probe: oldp NULL, the size comes back with the NUL.
    let (r, _, len) = sysctl(&p, &HOSTNAME, None, None);
    assert_eq!((r, len), (Ok(0), 5));
    assert_eq!(read(&p, &HOSTNAME).unwrap(), b"rump\0");

    // A new value without its NUL; the old one comes back in the same call.
    let (r, old, len) = sysctl(&p, &HOSTNAME, Some(64), Some(b"alpha"));
    assert_eq!((r, old.as_slice(), len), (Ok(0), &b"rump\0"[..], 5));
    assert_eq!(read(&p, &HOSTNAME).unwrap(), b"alpha\0");
    // With the NUL, and with bytes after it: the string ends there.
    assert_eq!(write(&p, &HOSTNAME, b"beta\0"), Ok(0));
    assert_eq!(read(&p, &HOSTNAME).unwrap(), b"beta\0");
    assert_eq!(write(&p, &HOSTNAME, b"gam\0ma"), Ok(0));
    assert_eq!(read(&p, &HOSTNAME).unwrap(), b"gam\0");
    // newlen 0 writes nothing.
    assert_eq!(sysctl(&p, &HOSTNAME, Some(64), Some(b"")).0, Ok(0));
    assert_eq!(read(&p, &HOSTNAME).unwrap(), b"gam\0");
    // Up to MAXHOSTNAMELEN bytes with the NUL; without one it must leave room.
    let mut long = vec![b'h'; MAXHOSTNAMELEN];
    assert_eq!(write(&p, &HOSTNAME, &long), Err(EINVAL));
    assert_eq!(write(&p, &HOSTNAME, &long[..MAXHOSTNAMELEN - 1]), Ok(0));
    assert_eq!(read(&p, &HOSTNAME).unwrap().len(), MAXHOSTNAMELEN);
    long.push(0);
    assert_eq!(write(&p, &HOSTNAME, &long), Err(EINVAL));
    // The kernel's own copy is the one changed.
    assert_eq!(write(&p, &HOSTNAME, b"delta"), Ok(0));
    assert_eq!(p.kernel().with_state(|st| st.hostname.clone()), b"delta");
}

#[test]
fn short_buffer_is_enomem() {
    let (_k, p) = boot();
    let (r, got, len) = sysctl(&p, &HOSTNAME, Some(3), None);
    assert_eq!((r, got.as_slice(), len), (Err(ENOMEM), &b"rum"[..], 5));
    // An empty buffer that is not NULL is short too.
    let (r, _, len) = sysctl(&p, &HOSTNAME, Some(0), None);
    assert_eq!((r, len), (Err(ENOMEM), 5));
    // A short buffer does not stop the write, as in NetBSD.
    let (r, got, len) = sysctl(&p, &HOSTNAME, Some(2), Some(b"epsilon"));
    assert_eq!((r, got.as_slice(), len), (Err(ENOMEM), &b"ru"[..], 5));
    assert_eq!(read(&p, &HOSTNAME).unwrap(), b"epsilon\0");
    // A NULL oldlenp with a buffer reads nothing: ENOMEM.
    let mut buf = [0u8; 16];
    let r = rump_sys___sysctl(&p, HOSTNAME.as_ptr(), 2, buf.as_mut_ptr().cast(), null_mut(), null(), 0);
    assert_eq!(r, Err(ENOMEM));
}

#[test]
fn other_variables() {
    let (_k, p) = boot();
    assert_eq!(read(&p, &OSTYPE).unwrap(), b"NetBSD\0");
    assert_eq!(read(&p, &[CTL_KERN, KERN_OSRELEASE]).unwrap(), b"10.0\0");
    assert_eq!(read(&p, &[CTL_HW, HW_MACHINE]).unwrap(), b"amd64\0");
    assert_eq!(read(&p, &[CTL_HW, HW_NCPU]).unwrap(), 4i32.to_ne_bytes());
    // An int too small for its buffer gets what fits.
    let (r, got, len) = sysctl(&p, &[CTL_HW, HW_NCPU], Some(2), None);
    assert_eq!((r, got.as_slice(), len), (Err(ENOMEM), &4i32.to_ne_bytes()[..2], 4));
}

#[test]
fn permissions() {
    let (k, root) = boot();
    // Read-only, even for root.
    assert_eq!(write(&root, &OSTYPE, b"Linux"), Err(EPERM));
    assert_eq!(write(&root, &[CTL_HW, HW_NCPU], &8i32.to_ne_bytes()), Err(EPERM));
    assert_eq!(read(&root, &OSTYPE).unwrap(), b"NetBSD\0");
    // Anyone reads; only root writes.
    let user = k.spawn(Emulation::Native, Cred::user(1000, 1000), "user").unwrap();
    assert_eq!(read(&user, &HOSTNAME).unwrap(), b"rump\0");
    assert_eq!(write(&user, &HOSTNAME, b"mine"), Err(EPERM));
    assert_eq!(write(&user, &OSTYPE, b"mine"), Err(EPERM));
    assert_eq!(read(&root, &HOSTNAME).unwrap(), b"rump\0");
    // Privilege is checked before the old value is read; the size of the
    // new one after, so that refusal still reports the old value.
    let (r, _, len) = sysctl(&user, &HOSTNAME, None, Some(b"mine"));
    assert_eq!((r, len), (Err(EPERM), 0));
    let mut long = vec![b'x'; MAXHOSTNAMELEN + 1];
    let (r, got, len) = sysctl(&root, &HOSTNAME, Some(16), Some(&long));
    assert_eq!((r, got.as_slice(), len), (Err(EINVAL), &b"rump\0"[..], 5));
    long.truncate(4);
    assert_eq!(write(&root, &HOSTNAME, &long), Ok(0));
}

#[test]
fn bad_names() {
    let (_k, p) = boot();
    assert_eq!(read(&p, &[CTL_KERN, 9999]), Err(ENOENT));
    assert_eq!(read(&p, &[CTL_VM]), Err(ENOENT));
    assert_eq!(read(&p, &[CTL_KERN, KERN_HOSTNAME, 1]), Err(ENOTDIR));
    // A directory can be queried, not read.
    assert_eq!(read(&p, &[CTL_KERN]), Err(EINVAL));
    assert_eq!(read(&p, &[CTL_KERN, CTL_DESCRIBE]), Err(EOPNOTSUPP));
    assert_eq!(read(&p, &[CTL_KERN, CTL_CREATE]), Err(EPERM));
    assert_eq!(read(&p, &[CTL_QUERY, CTL_KERN]), Err(ENOENT));
    // namelen outside 1..=CTL_MAXNAME, and a bad name pointer.
    let mut len = 0usize;
    let long = [CTL_KERN; CTL_MAXNAME as usize + 1];
    assert_eq!(rump_sys___sysctl(&p, long.as_ptr(), 0, null_mut(), &mut len, null(), 0), Err(EINVAL));
    assert_eq!(rump_sys___sysctl(&p, long.as_ptr(), CTL_MAXNAME + 1, null_mut(), &mut len, null(), 0), Err(EINVAL));
    assert_eq!(rump_sys___sysctl(&p, long.as_ptr(), CTL_MAXNAME, null_mut(), &mut len, null(), 0), Err(ENOTDIR));
    assert_eq!(rump_sys___sysctl(&p, null(), 2, null_mut(), &mut len, null(), 0), Err(EFAULT));
    assert_eq!(rump_sys___sysctl(&p, 8 as *const i32, 2, null_mut(), &mut len, null(), 0), Err(EFAULT));
    // Bad buffers fault; a bad oldlenp too.
    let r = rump_sys___sysctl(&p, HOSTNAME.as_ptr(), 2, 16 as *mut _, &mut 64, null(), 0);
    assert_eq!(r, Err(EFAULT));
    let r = rump_sys___sysctl(&p, HOSTNAME.as_ptr(), 2, null_mut(), 16 as *mut usize, null(), 0);
    assert_eq!(r, Err(EFAULT));
    assert_eq!(rump_sys___sysctl(&p, HOSTNAME.as_ptr(), 2, null_mut(), &mut len, 16 as *const _, 3), Err(EFAULT));
    assert_eq!(read(&p, &HOSTNAME).unwrap(), b"rump\0");
}

#[test]
fn query_lists_children() {
    let (_k, p) = boot();
    let kern = query(&p, &[CTL_KERN]).unwrap();
    let got: Vec<(&str, i32, u32)> =
        kern.iter().map(|n| (node_name(n), n.sysctl_num, n.sysctl_flags & SYSCTL_TYPEMASK)).collect();
    assert_eq!(
        got,
        [
            ("ostype", KERN_OSTYPE, CTLTYPE_STRING),
            ("osrelease", KERN_OSRELEASE, CTLTYPE_STRING),
            ("hostname", KERN_HOSTNAME, CTLTYPE_STRING)
        ]
    );
    for n in &kern {
        assert_eq!(n.sysctl_flags & SYSCTL_VERS_MASK, SYSCTL_VERSION);
        let rw = n.sysctl_flags & CTLFLAG_READWRITE == CTLFLAG_READWRITE;
        assert_eq!(rw, n.sysctl_num == KERN_HOSTNAME, "{}", node_name(n));
    }
    assert_eq!(kern[2]._sysctl_size, MAXHOSTNAMELEN as u64);

    // The root lists the top-level directories, as nodes with children.
    let top = query(&p, &[]).unwrap();
    let names: Vec<&str> = top.iter().map(node_name).collect();
    assert_eq!(names, ["kern", "net", "hw"]);
    assert!(top.iter().all(|n| n.sysctl_flags & SYSCTL_TYPEMASK == CTLTYPE_NODE));
    assert_eq!(top[0].sysctl_un[1], 3, "kern has three children");

    let hw = query(&p, &[CTL_HW]).unwrap();
    let ncpu = hw.iter().find(|n| node_name(n) == "ncpu").unwrap();
    assert_eq!((ncpu.sysctl_num, ncpu.sysctl_flags & SYSCTL_TYPEMASK, ncpu._sysctl_size), (HW_NCPU, CTLTYPE_INT, 4));

    // What sysctlnametomib does with these agrees with the kernel's own
    // resolver, and the numbers read the values.
    for name in ["kern.hostname", "kern.ostype", "kern.osrelease", "hw.machine", "hw.ncpu"] {
        let mib = name_to_mib(&p, name).unwrap();
        assert_eq!(resolve(name).unwrap(), mib, "{name}");
        assert!(read(&p, &mib).is_ok(), "{name}");
    }
    assert_eq!(name_to_mib(&p, "kern.nosuch"), Err(ENOENT));
    assert_eq!(query(&p, &HOSTNAME), Err(ENOTDIR));
}

#[test]
fn query_rules() {
    let (_k, p) = boot();
    let name = [CTL_KERN, CTL_QUERY];
    let q = qnode();
    let qp: *const sysctlnode = &q;
    let mut len = 0usize;
    // The request must be a version-1 sysctlnode.
    assert_eq!(rump_sys___sysctl(&p, name.as_ptr(), 2, null_mut(), &mut len, null(), 0), Err(EINVAL));
    assert_eq!(rump_sys___sysctl(&p, name.as_ptr(), 2, null_mut(), &mut len, qp.cast(), NODE - 1), Err(EINVAL));
    let old = sysctlnode::default();
    assert_eq!(
        rump_sys___sysctl(&p, name.as_ptr(), 2, null_mut(), &mut len, (&old as *const sysctlnode).cast(), NODE),
        Err(EINVAL)
    );
    let wrong_ver = sysctlnode { sysctl_ver: 77, ..qnode() };
    let wp: *const sysctlnode = &wrong_ver;
    assert_eq!(rump_sys___sysctl(&p, name.as_ptr(), 2, null_mut(), &mut len, wp.cast(), NODE), Err(EINVAL));
    assert_eq!(rump_sys___sysctl(&p, name.as_ptr(), 2, null_mut(), &mut len, qp.cast(), NODE), Ok(0));
    assert_eq!(len, 3 * NODE);
    // A non-root process may query: it is not a write.
    let user = p.kernel().spawn(Emulation::Native, Cred::user(1000, 1000), "user").unwrap();
    assert_eq!(query(&user, &[CTL_KERN]).map(|v| v.len()), Ok(3));
    // A short buffer gets whole records only.
    let mut nodes = vec![sysctlnode::default(); 3];
    let mut len = 2 * NODE + NODE / 2;
    let r = rump_sys___sysctl(&p, name.as_ptr(), 2, nodes.as_mut_ptr().cast(), &mut len, qp.cast(), NODE);
    assert_eq!((r, len), (Err(ENOMEM), 3 * NODE));
    assert_eq!((node_name(&nodes[0]), node_name(&nodes[1])), ("ostype", "osrelease"));
    assert_eq!(nodes[2], sysctlnode::default());
}

#[test]
fn rust_api() {
    let (k, p) = boot();
    assert_eq!(resolve("kern.hostname"), Ok(HOSTNAME.to_vec()));
    assert_eq!(resolve("hw"), Ok(vec![CTL_HW]));
    assert_eq!(resolve("kern.nosuch"), Err(ENOENT));
    assert_eq!(resolve("kern.hostname.more"), Err(ENOTDIR));
    assert_eq!(k.sysctl_get("hw.ncpu"), Ok(Value::Int(4)));
    assert_eq!(k.sysctl_get("kern.ostype"), Ok(Value::string("NetBSD")));
    assert_eq!(k.sysctl_get("kern"), Err(EINVAL));
    assert_eq!(k.sysctl_set("kern.hostname", Value::string("zeta")), Ok(()));
    assert_eq!(read(&p, &HOSTNAME).unwrap(), b"zeta\0");
    assert_eq!(k.sysctl_set("kern.ostype", Value::string("x")), Err(EPERM));
    assert_eq!(k.sysctl_set("kern.hostname", Value::Int(1)), Err(EINVAL));
    assert_eq!(k.sysctl_set("kern.hostname", Value::String(vec![b'a'; MAXHOSTNAMELEN])), Err(EINVAL));
    assert_eq!(k.sysctl_set("kern.hostname", Value::String(vec![b'a'; MAXHOSTNAMELEN - 1])), Ok(()));
    assert_eq!(k.sysctl_get("kern.nosuch"), Err(ENOENT));
    // Two kernels keep their own hostnames.
    let (k2, _) = boot();
    assert_eq!(k2.sysctl_get("kern.hostname"), Ok(Value::string("rump")));
}

// ---- the Linux side ----

const UTS: usize = 65;

fn linux(k: &Kernel, cred: Cred) -> Process {
    k.spawn(Emulation::Linux, cred, "linux").unwrap()
}

fn uname(p: &Process) -> Result<[u8; 6 * UTS], Errno> {
    let mut u = [0u8; 6 * UTS];
    rump_abi::linux::sys::rump_sys_uname(p, u.as_mut_ptr().cast())?;
    Ok(u)
}

fn field(u: &[u8; 6 * UTS], i: usize) -> &[u8] {
    let f = &u[i * UTS..(i + 1) * UTS];
    &f[..f.iter().position(|&b| b == 0).unwrap_or(UTS)]
}

fn sethostname(p: &Process, name: &[u8]) -> Result<i32, Errno> {
    rump_abi::linux::sys::rump_sys_sethostname(p, name.as_ptr() as *mut _, name.len() as i32)
}

#[test]
fn uname_sees_sysctl_hostname() {
    let (k, native) = boot();
    let lx = linux(&k, Cred::root());
    let u = uname(&lx).unwrap();
    let fields: Vec<&[u8]> = (0..6).map(|i| field(&u, i)).collect();
    assert_eq!(fields, [&b"Linux"[..], b"rump", b"6.1.0-rump", b"#1", b"x86_64", b"(none)"]);
    assert_eq!(write(&native, &HOSTNAME, b"set-by-sysctl"), Ok(0));
    assert_eq!(field(&uname(&lx).unwrap(), 1), b"set-by-sysctl");
    // A NetBSD hostname longer than Linux's field is cut to fit.
    let long = vec![b'n'; 100];
    assert_eq!(write(&native, &HOSTNAME, &long), Ok(0));
    let u = uname(&lx).unwrap();
    assert_eq!(field(&u, 1), &long[..64]);
    assert_eq!(field(&u, 2), b"6.1.0-rump");
}

#[test]
fn sethostname_seen_by_sysctl() {
    let (k, native) = boot();
    let lx = linux(&k, Cred::root());
    assert_eq!(sethostname(&lx, b"set-by-linux"), Ok(0));
    assert_eq!(read(&native, &HOSTNAME).unwrap(), b"set-by-linux\0");
    assert_eq!(k.sysctl_get("kern.hostname"), Ok(Value::string("set-by-linux")));
    assert_eq!(sethostname(&lx, &[b'x'; 64]), Ok(0));
    assert_eq!(read(&native, &HOSTNAME).unwrap().len(), 65);
    assert_eq!(sethostname(&lx, b""), Ok(0));
    assert_eq!(read(&native, &HOSTNAME).unwrap(), b"\0");
}

// ---- uname and sethostname against the host ----

type Ret = Result<i64, i32>;

/// Raw Linux calls, to the host or to a rump kernel's Linux process.
trait Sys {
    fn call(&self, nr: libc::c_long, a: [u64; 2]) -> Ret;
}

struct Host;

impl Sys for Host {
    fn call(&self, nr: libc::c_long, a: [u64; 2]) -> Ret {
        // SAFETY: the body passes its own live buffers, NULL, or lengths
        // the kernel refuses before it copies.
        let r = unsafe { libc::syscall(nr, a[0], a[1]) };
        if r == -1 {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(r)
        }
    }
}

impl Sys for Process {
    fn call(&self, nr: libc::c_long, a: [u64; 2]) -> Ret {
        let slots = [a[0], a[1], 0, 0, 0, 0, 0, 0];
        rump_abi::Syscall::syscall(self, nr as u32, &slots).map_err(|e| e.raw())
    }
}

/// The same calls on either side, as a log of results and errnos.
fn uts_body(s: &dyn Sys, log: &mut Vec<String>) {
    let mut u = [0u8; 6 * UTS];
    let name = b"differential-host";
    let long = [b'l'; 65];
    let mut step = |what: &str, nr: libc::c_long, a: [u64; 2]| log.push(format!("{what}: {:?}", s.call(nr, a)));
    step("sethostname ok", libc::SYS_sethostname, [name.as_ptr() as u64, name.len() as u64]);
    step("sethostname 64", libc::SYS_sethostname, [long.as_ptr() as u64, 64]);
    step("sethostname 65", libc::SYS_sethostname, [long.as_ptr() as u64, 65]);
    step("sethostname -1", libc::SYS_sethostname, [long.as_ptr() as u64, -1i64 as u64]);
    step("sethostname NULL", libc::SYS_sethostname, [0, 5]);
    step("sethostname NULL 0", libc::SYS_sethostname, [0, 0]);
    step("sethostname bad", libc::SYS_sethostname, [8, 5]);
    step("sethostname back", libc::SYS_sethostname, [name.as_ptr() as u64, name.len() as u64]);
    step("uname NULL", libc::SYS_uname, [0, 0]);
    step("uname bad", libc::SYS_uname, [8, 0]);
    let r = s.call(libc::SYS_uname, [u.as_mut_ptr() as u64, 0]);
    log.push(format!("uname: {r:?} nodename {:?}", String::from_utf8_lossy(field(&u, 1))));
}

/// As a user: privilege is checked before anything else.
fn uts_user_body(s: &dyn Sys, log: &mut Vec<String>) {
    let name = b"user";
    let calls: [(&str, [u64; 2]); 4] = [
        ("ok", [name.as_ptr() as u64, 4]),
        ("65", [name.as_ptr() as u64, 65]),
        ("-1", [name.as_ptr() as u64, -1i64 as u64]),
        ("NULL", [0, 5]),
    ];
    for (what, a) in calls {
        log.push(format!("user sethostname {what}: {:?}", s.call(libc::SYS_sethostname, a)));
    }
    let mut u = [0u8; 6 * UTS];
    log.push(format!("user uname: {:?}", s.call(libc::SYS_uname, [u.as_mut_ptr() as u64, 0])));
    log.push(format!("user nodename: {:?}", String::from_utf8_lossy(field(&u, 1))));
}

/// The host side, on a thread of its own in a new UTS namespace; None if
/// this host cannot make one (not root, or no CAP_SYS_ADMIN).
fn host_log() -> Option<Vec<String>> {
    std::thread::spawn(|| {
        // SAFETY: unshare and the raw credential calls change only this
        // thread, which ends with the body.
        unsafe {
            if libc::unshare(libc::CLONE_NEWUTS) != 0 {
                return None;
            }
            let mut log = Vec::new();
            uts_body(&Host, &mut log);
            if libc::syscall(libc::SYS_setresgid, 1000, 1000, 1000) != 0
                || libc::syscall(libc::SYS_setresuid, 1000, 1000, 1000) != 0
            {
                return None;
            }
            uts_user_body(&Host, &mut log);
            Some(log)
        }
    })
    .join()
    .ok()
    .flatten()
}

#[test]
fn uname_sethostname_match_linux() {
    let k = Kernel::boot(Config::default()).expect("boot");
    let mut kernel = Vec::new();
    uts_body(&linux(&k, Cred::root()), &mut kernel);
    uts_user_body(&linux(&k, Cred::user(1000, 1000)), &mut kernel);
    let (efault, einval, eperm) = (libc::EFAULT, libc::EINVAL, libc::EPERM);
    // Linux's rules, for hosts that cannot run the body themselves.
    let expected = vec![
        "sethostname ok: Ok(0)".to_string(),
        "sethostname 64: Ok(0)".into(),
        format!("sethostname 65: Err({einval})"),
        format!("sethostname -1: Err({einval})"),
        format!("sethostname NULL: Err({efault})"),
        "sethostname NULL 0: Ok(0)".into(),
        format!("sethostname bad: Err({efault})"),
        "sethostname back: Ok(0)".into(),
        format!("uname NULL: Err({efault})"),
        format!("uname bad: Err({efault})"),
        "uname: Ok(0) nodename \"differential-host\"".into(),
        format!("user sethostname ok: Err({eperm})"),
        format!("user sethostname 65: Err({eperm})"),
        format!("user sethostname -1: Err({eperm})"),
        format!("user sethostname NULL: Err({eperm})"),
        "user uname: Ok(0)".into(),
        "user nodename: \"differential-host\"".into(),
    ];
    assert_eq!(kernel, expected);
    match host_log() {
        Some(host) => assert_eq!(kernel, host, "the host's Linux disagrees"),
        None => strict::skip(strict::HostFact::UtsNamespace, "the host side: no private UTS namespace here"),
    }
}
