//! What Linux tools cannot say about interfaces, in NetBSD's ioctls on a
//! native socket: SIOCIFCREATE / SIOCIFDESTROY (`struct ifreq`, 144 bytes)
//! and SIOCSLINKSTR / SIOCGLINKSTR (`struct ifdrv`), which attach a shmif
//! interface to its bus file or a tap interface to its host tap device,
//! and our own SIOCSIFNETEM / SIOCGIFNETEM
//! (`struct ifnetem`), which set and read an interface's egress
//! impairment. `rumpctl ifconfig` and `rump_server -i` use them; the same
//! operations are `Cx` methods for in-kernel callers.

use crate::net::iface::{Link, ShmifLink, TapLink, IFF_RUNNING};
use crate::net::netem::{Counters, Netem, Spec, DEFAULT_LIMIT, PPM};
use crate::net::shmif::{self, Bus};
use crate::net::softnet;
use crate::net::tap::Tap;
use crate::usermem::read_pod;
use crate::Cx;
use rump_abi::native::errno::{EBUSY, EINVAL, ENAMETOOLONG, ENOENT, ENXIO, ERANGE};
use rump_abi::{Errno, UserAddr};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// _IOW('i', 121/122, struct ifreq), _IOW/_IOWR('i', 137/138, struct ifdrv).
pub const SIOCIFDESTROY: u64 = 0x8090_6979;
pub const SIOCIFCREATE: u64 = 0x8090_697a;
pub const SIOCSLINKSTR: u64 = 0x8028_6989;
pub const SIOCGLINKSTR: u64 = 0xc028_698a;
/// Ours: _IOW/_IOWR('i', 200/201, struct ifnetem), numbers NetBSD leaves free.
pub const SIOCSIFNETEM: u64 = 0x8070_69c8;
pub const SIOCGIFNETEM: u64 = 0xc070_69c9;
/// ifn_flags: an impairment is set (else SIOCSIFNETEM removes it) ...
pub const IFNETEM_ON: u32 = 1;
/// ... and its seed is the one given (else the kernel picks one).
pub const IFNETEM_SEED: u32 = 2;
/// ifd_cmd of SIOCSLINKSTR that detaches.
const IFLINKSTR_UNSET: u64 = 1;
const IFNAMSIZ: usize = 16;
const MAXPATHLEN: usize = 1024;

/// NetBSD's struct ifdrv.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct IfDrv {
    name: [u8; IFNAMSIZ],
    cmd: u64,
    len: u64,
    data: u64,
}
// SAFETY: plain bytes and integers, no implicit padding.
unsafe impl rump_abi::pod::Pod for IfDrv {}

/// An interface's impairment as SIOCSIFNETEM takes it and SIOCGIFNETEM
/// returns it, with the counters (read only).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct IfNetem {
    pub name: [u8; IFNAMSIZ],
    pub spec: Spec,
    pub flags: u32,
    pub queued: u32,
    pub counters: Counters,
}
// SAFETY: plain bytes and integers (Spec and Counters are repr(C) with
// their u32s first), no implicit padding.
unsafe impl rump_abi::pod::Pod for IfNetem {}
// The size SIOCSIFNETEM's number carries (0x70).
const _: () = assert!(std::mem::size_of::<IfNetem>() == 112);

fn if_name(raw: &[u8]) -> Result<String, Errno> {
    let end = raw.iter().position(|b| *b == 0).ok_or(EINVAL)?;
    String::from_utf8(raw[..end].to_vec()).map_err(|_| EINVAL)
}

impl Cx<'_> {
    pub fn if_create(&mut self, name: &str) -> Result<(), Errno> {
        self.st.net.ifaces.create(name, shmif::random_mac()).map(|_| ())
    }

    /// Removes an interface with its addresses, routes and neighbours.
    pub fn if_destroy(&mut self, name: &str) -> Result<(), Errno> {
        let index = self.st.net.ifaces.index_of(name)?;
        if self.st.net.ifaces.get(index).is_some_and(|i| i.is_loopback()) {
            return Err(EINVAL);
        }
        self.if_set_linkstr(name, None)?;
        let net = &mut self.st.net;
        net.routes.flush_iface(index);
        net.neigh.flush_iface(index);
        net.ifaces.remove(index);
        self.net_done();
        Ok(())
    }

    /// Attaches shmif interface `name` to the bus file at `linkstr`
    /// (created if missing), or tap interface `name` to the host tap
    /// device named `linkstr` (in the kernel's network namespace), or,
    /// with None, detaches it. Attaching an attached one is EBUSY, as
    /// NetBSD.
    pub fn if_set_linkstr(&mut self, name: &str, linkstr: Option<PathBuf>) -> Result<(), Errno> {
        let index = self.st.net.ifaces.index_of(name)?;
        let shared = self.shared_arc().clone();
        let kernel = Arc::downgrade(&shared);
        let ifc = self.st.net.ifaces.get_mut(index).ok_or(ENXIO)?;
        if ifc.is_loopback() {
            return Err(EINVAL);
        }
        let Some(linkstr) = linkstr else {
            ifc.link.detach();
            ifc.flags &= !IFF_RUNNING;
            return Ok(());
        };
        if ifc.link.is_attached() {
            return Err(EBUSY);
        }
        let stop = Arc::new(AtomicBool::new(false));
        match &mut ifc.link {
            Link::Shmif(link) => {
                let bus = Arc::new(Bus::open(&linkstr)?);
                let sender = shmif::random_sender();
                let readers = shared.config.bus_thread.0.clone();
                *link = Some(ShmifLink { bus: bus.clone(), sender, stop: stop.clone(), readers: readers.clone() });
                readers.attach(kernel, index, bus, sender, stop);
            }
            Link::Tap(link) => {
                let dev = Arc::new(Tap::open(linkstr.to_str().ok_or(EINVAL)?)?);
                *link = Some(TapLink { dev: dev.clone(), stop: stop.clone() });
                softnet::start_tap_reader(kernel, index, dev, stop);
            }
            Link::Loopback => return Err(EINVAL),
        }
        if ifc.is_up() {
            ifc.flags |= IFF_RUNNING;
        }
        Ok(())
    }

    /// Sets (Some) or removes (None) an interface's egress impairment;
    /// frames still waiting in the old one go out at once. Counters start
    /// again from zero, as after `tc qdisc replace`.
    pub fn if_set_netem(&mut self, name: &str, spec: Option<Spec>) -> Result<(), Errno> {
        if spec.is_some_and(|s| [s.loss_ppm, s.duplicate_ppm, s.reorder_ppm].iter().any(|p| *p > PPM)) {
            return Err(EINVAL);
        }
        let index = self.st.net.ifaces.index_of(name)?;
        let net = &mut self.st.net;
        let ifc = net.ifaces.get_mut(index).ok_or(ENXIO)?;
        if ifc.is_loopback() {
            return Err(EINVAL);
        }
        if let Some(mut old) = std::mem::replace(&mut ifc.netem, spec.map(Netem::new)) {
            net.put_on_wire(index, old.due(u64::MAX));
            net.give_back(old.take_released());
        }
        self.net_done();
        Ok(())
    }

    /// An interface's impairment and its counters (flags 0: none).
    pub fn if_netem(&self, name: &str) -> Result<IfNetem, Errno> {
        let index = self.st.net.ifaces.index_of(name)?;
        let mut r = IfNetem::default();
        if let Some(n) = &self.st.net.ifaces.get(index).ok_or(ENXIO)?.netem {
            r.spec = n.spec;
            r.flags = IFNETEM_ON | IFNETEM_SEED;
            r.queued = n.queued() as u32;
            r.counters = n.counters;
        }
        Ok(r)
    }

    /// The bus file an interface is attached to.
    pub fn if_linkstr(&self, name: &str) -> Result<PathBuf, Errno> {
        let index = self.st.net.ifaces.index_of(name)?;
        match &self.st.net.ifaces.get(index).ok_or(ENXIO)?.link {
            Link::Shmif(Some(l)) => Ok(l.bus.path().to_path_buf()),
            Link::Tap(Some(l)) => Ok(PathBuf::from(l.dev.name())),
            Link::Shmif(None) | Link::Tap(None) => Err(ENOENT),
            Link::Loopback => Err(EINVAL),
        }
    }

    /// The BSD interface ioctls on a native socket; None: not one of them.
    pub fn if_ioctl(&mut self, com: u64, data: UserAddr) -> Option<Result<i64, Errno>> {
        let r = match com {
            SIOCIFCREATE | SIOCIFDESTROY => (|| {
                let mut name = [0u8; IFNAMSIZ];
                self.mem.copy_in(data, &mut name)?;
                let name = if_name(&name)?;
                if com == SIOCIFCREATE {
                    self.if_create(&name)
                } else {
                    self.if_destroy(&name)
                }
            })(),
            SIOCSLINKSTR => (|| {
                let d: IfDrv = read_pod(self.mem, data)?;
                let name = if_name(&d.name)?;
                if d.cmd == IFLINKSTR_UNSET {
                    return self.if_set_linkstr(&name, None);
                }
                if d.cmd != 0 || d.len == 0 {
                    return Err(EINVAL);
                }
                if d.len as usize > MAXPATHLEN {
                    return Err(ENAMETOOLONG);
                }
                let mut p = vec![0u8; d.len as usize];
                self.mem.copy_in(UserAddr(d.data), &mut p)?;
                let end = p.iter().position(|b| *b == 0).unwrap_or(p.len());
                p.truncate(end);
                if p.is_empty() {
                    return Err(EINVAL);
                }
                use std::os::unix::ffi::OsStringExt;
                self.if_set_linkstr(&name, Some(PathBuf::from(std::ffi::OsString::from_vec(p))))
            })(),
            SIOCGLINKSTR => (|| {
                let mut d: IfDrv = read_pod(self.mem, data)?;
                let name = if_name(&d.name)?;
                use std::os::unix::ffi::OsStrExt;
                let path = self.if_linkstr(&name)?;
                let mut bytes = path.as_os_str().as_bytes().to_vec();
                bytes.push(0);
                if d.len == 0 {
                    d.len = bytes.len() as u64;
                    return crate::usermem::write_pod(self.mem, data, &d);
                }
                if (d.len as usize) < bytes.len() {
                    return Err(ERANGE);
                }
                self.mem.copy_out(UserAddr(d.data), &bytes)
            })(),
            SIOCSIFNETEM => (|| {
                let n: IfNetem = read_pod(self.mem, data)?;
                let name = if_name(&n.name)?;
                if n.flags & IFNETEM_ON == 0 {
                    return self.if_set_netem(&name, None);
                }
                let mut spec = n.spec;
                if n.flags & IFNETEM_SEED == 0 {
                    spec.seed = shmif::random_sender();
                }
                if spec.limit == 0 {
                    spec.limit = DEFAULT_LIMIT;
                }
                self.if_set_netem(&name, Some(spec))
            })(),
            SIOCGIFNETEM => (|| {
                let n: IfNetem = read_pod(self.mem, data)?;
                let mut r = self.if_netem(&if_name(&n.name)?)?;
                r.name = n.name;
                crate::usermem::write_pod(self.mem, data, &r)
            })(),
            _ => return None,
        };
        Some(r.map(|_| 0))
    }
}
