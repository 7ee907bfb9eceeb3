//! devfs: the static `/dev` directory and the memory character devices in
//! it (`null`, `zero`, `full`, `random`, `urandom`), with their data
//! behaviour. The set of devices is fixed: names cannot be created, removed,
//! linked or renamed, but each node's mode, owner and times can be changed.
//!
//! Device numbers are Linux's (`mem` major 1) in Linux's 64-bit `makedev`
//! encoding, so Linux tools see the numbers they expect in `st_rdev`.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use rump_abi::native::errno::{EEXIST, EINVAL, EIO, EISDIR, ENODEV, ENOENT, ENOSPC, ENOTDIR, EPERM};
use rump_abi::Errno;

use crate::time::{Clock, Timespec};
use crate::vfs::mapping::MapKind;
use crate::vfs::{Attr, DirEntry, FileSystem, FsStat, NewNode, NodeId, Owner, SetAttr, VType, NAME_MAX};

/// Linux's DEVFS_SUPER_MAGIC.
const DEVFS_MAGIC: i64 = 0x1373;
const ROOT: NodeId = 2;
/// Reported as a directory's size per entry, `.` and `..` included, as tmpfs
/// does.
const DIRENT_SIZE: u64 = 20;
const BLKSIZE: u32 = 4096;

/// Linux's device-number encoding (glibc `gnu_dev_makedev`): the low 8 bits
/// of the minor, then 12 bits of major, then the rest of the minor, then the
/// rest of the major. Numbers below 256:4096 come out as `major << 8 | minor`.
pub const fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (major as u64, minor as u64);
    ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Device {
    Null,
    Zero,
    Full,
    Random,
    Urandom,
}

/// The devices in readdir order; node ids follow the root in this order.
const DEVICES: [(&[u8], Device, u32, u32); 5] = [
    (b"null", Device::Null, 1, 3),
    (b"zero", Device::Zero, 1, 5),
    (b"full", Device::Full, 1, 7),
    (b"random", Device::Random, 1, 8),
    (b"urandom", Device::Urandom, 1, 9),
];

/// The attributes `setattr` may change.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    btime: Timespec,
}

impl Meta {
    fn new(mode: u32, now: Timespec) -> Meta {
        Meta { mode, uid: 0, gid: 0, atime: now, mtime: now, ctime: now, btime: now }
    }
}

struct Dev {
    name: &'static [u8],
    kind: Device,
    rdev: u64,
    meta: Meta,
}

/// The `/dev` file system; see the module documentation.
pub struct Devfs {
    clock: Arc<dyn Clock>,
    root: Meta,
    devs: Vec<Dev>,
}

/// Fills `buf` from the host's random source (the `urandom` pool, which
/// Linux has not distinguished from `random` for reads since 5.6).
fn fill_random(buf: &mut [u8]) -> Result<(), Errno> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: the pointer and length describe a live, writable slice.
        let got = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if got > 0 {
            done += got as usize;
        } else if got < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        } else {
            return Err(EIO);
        }
    }
    Ok(())
}

impl Devfs {
    pub fn new(clock: Arc<dyn Clock>) -> Devfs {
        let now = clock.realtime();
        let devs = DEVICES
            .iter()
            .map(|&(name, kind, major, minor)| Dev {
                name,
                kind,
                rdev: makedev(major, minor),
                meta: Meta::new(0o666, now),
            })
            .collect();
        Devfs { clock, root: Meta::new(0o755, now), devs }
    }

    fn dev(&self, node: NodeId) -> Option<&Dev> {
        let i = node.checked_sub(ROOT + 1)?;
        self.devs.get(usize::try_from(i).ok()?)
    }

    fn meta_mut(&mut self, node: NodeId) -> Result<&mut Meta, Errno> {
        if node == ROOT {
            return Ok(&mut self.root);
        }
        let i = node.checked_sub(ROOT + 1).and_then(|i| usize::try_from(i).ok()).ok_or(ENOENT)?;
        self.devs.get_mut(i).map(|d| &mut d.meta).ok_or(ENOENT)
    }

    fn id_of(i: usize) -> NodeId {
        ROOT + 1 + i as NodeId
    }

    /// The node `name` names in the root, after checking `dir` is the root.
    fn find(&self, dir: NodeId, name: &[u8]) -> Result<Option<NodeId>, Errno> {
        self.check_dir(dir)?;
        Ok(self.devs.iter().position(|d| d.name == name).map(Self::id_of))
    }

    fn check_dir(&self, dir: NodeId) -> Result<(), Errno> {
        if dir == ROOT {
            Ok(())
        } else if self.dev(dir).is_some() {
            Err(ENOTDIR)
        } else {
            Err(ENOENT)
        }
    }

    /// Why removing or renaming `name` fails: ENOENT if it does not exist,
    /// otherwise EPERM because the set of devices is fixed.
    fn refuse_existing(&self, dir: NodeId, name: &[u8]) -> Errno {
        match self.find(dir, name) {
            Ok(Some(_)) => EPERM,
            Ok(None) => ENOENT,
            Err(e) => e,
        }
    }

    /// Why creating or linking `name` fails: EEXIST if taken, otherwise
    /// EPERM.
    fn refuse_new(&self, dir: NodeId, name: &[u8]) -> Errno {
        match self.find(dir, name) {
            Ok(Some(_)) => EEXIST,
            Ok(None) => EPERM,
            Err(e) => e,
        }
    }
}

impl FileSystem for Devfs {
    fn root(&self) -> NodeId {
        ROOT
    }

    fn getattr(&self, node: NodeId) -> Result<Attr, Errno> {
        let (vtype, nlink, size, rdev, m) = if node == ROOT {
            (VType::Dir, 2, DIRENT_SIZE * (2 + self.devs.len() as u64), 0, &self.root)
        } else {
            let d = self.dev(node).ok_or(ENOENT)?;
            (VType::Chr, 1, 0, d.rdev, &d.meta)
        };
        Ok(Attr {
            vtype,
            mode: m.mode,
            nlink,
            uid: m.uid,
            gid: m.gid,
            size,
            blocks: 0,
            blksize: BLKSIZE,
            rdev,
            ino: node,
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
            btime: m.btime,
        })
    }

    fn setattr(&mut self, node: NodeId, set: &SetAttr) -> Result<(), Errno> {
        set.check_times()?;
        // Truncating a device is a no-op (Linux lets `> /dev/null` succeed);
        // a directory has no size to set.
        if set.size.is_some() && node == ROOT {
            return Err(EISDIR);
        }
        let now = self.clock.realtime();
        let m = self.meta_mut(node)?;
        set.apply(
            Owner {
                mode: &mut m.mode,
                uid: &mut m.uid,
                gid: &mut m.gid,
                atime: &mut m.atime,
                mtime: &mut m.mtime,
                ctime: &mut m.ctime,
            },
            now,
        );
        Ok(())
    }

    fn parent(&mut self, dir: NodeId) -> Result<NodeId, Errno> {
        self.check_dir(dir)?;
        Ok(ROOT)
    }

    fn lookup(&mut self, dir: NodeId, name: &[u8]) -> Result<NodeId, Errno> {
        match name {
            b"." | b".." => self.check_dir(dir).map(|()| ROOT),
            _ => self.find(dir, name)?.ok_or(ENOENT),
        }
    }

    fn create(&mut self, dir: NodeId, name: &[u8], _new: &NewNode) -> Result<NodeId, Errno> {
        Err(self.refuse_new(dir, name))
    }

    fn readlink(&self, node: NodeId) -> Result<Vec<u8>, Errno> {
        if node == ROOT || self.dev(node).is_some() {
            Err(EINVAL)
        } else {
            Err(ENOENT)
        }
    }

    fn link(&mut self, dir: NodeId, name: &[u8], _node: NodeId) -> Result<(), Errno> {
        Err(self.refuse_new(dir, name))
    }

    fn remove(&mut self, dir: NodeId, name: &[u8]) -> Result<(), Errno> {
        Err(self.refuse_existing(dir, name))
    }

    fn rmdir(&mut self, dir: NodeId, name: &[u8]) -> Result<(), Errno> {
        match self.find(dir, name)? {
            Some(_) => Err(ENOTDIR),
            None => Err(ENOENT),
        }
    }

    fn rename(&mut self, from_dir: NodeId, from: &[u8], to_dir: NodeId, _to: &[u8]) -> Result<(), Errno> {
        self.check_dir(to_dir)?;
        Err(self.refuse_existing(from_dir, from))
    }

    fn read(&mut self, node: NodeId, _offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if node == ROOT {
            return Err(EISDIR);
        }
        match self.dev(node).ok_or(ENOENT)?.kind {
            Device::Null => Ok(0),
            Device::Zero | Device::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Device::Random | Device::Urandom => fill_random(buf).map(|()| buf.len()),
        }
    }

    fn write(&mut self, node: NodeId, _offset: u64, data: &[u8]) -> Result<usize, Errno> {
        if node == ROOT {
            return Err(EISDIR);
        }
        match self.dev(node).ok_or(ENOENT)?.kind {
            // Linux's /dev/full refuses even an empty write.
            Device::Full => Err(ENOSPC),
            // Writes to the random devices would mix into the host pool on
            // Linux; here they are discarded, which callers cannot tell apart.
            Device::Null | Device::Zero | Device::Random | Device::Urandom => Ok(data.len()),
        }
    }

    fn readdir(&mut self, dir: NodeId, cookie: u64, out: &mut dyn FnMut(&DirEntry, u64) -> bool) -> Result<(), Errno> {
        self.check_dir(dir)?;
        // Positions: 0 is `.`, 1 is `..`, 2 + i is device i. The set never
        // changes, so positions are stable.
        let mut ent = DirEntry { name: Vec::with_capacity(NAME_MAX), ino: ROOT, vtype: VType::Dir };
        let mut pos = cookie;
        while let Some(next) = pos.checked_add(1) {
            ent.name.clear();
            match pos {
                0 => ent.name.extend_from_slice(b"."),
                1 => ent.name.extend_from_slice(b".."),
                _ => {
                    let i = usize::try_from(pos - 2).unwrap_or(usize::MAX);
                    let Some(d) = self.devs.get(i) else { break };
                    ent.name.extend_from_slice(d.name);
                    ent.ino = Self::id_of(i);
                    ent.vtype = VType::Chr;
                }
            }
            if !out(&ent, next) {
                break;
            }
            pos = next;
        }
        Ok(())
    }

    fn statfs(&self) -> FsStat {
        FsStat {
            fstype: "devfs",
            magic: DEVFS_MAGIC,
            bsize: BLKSIZE as u64,
            blocks: 0,
            bfree: 0,
            bavail: 0,
            files: 1 + self.devs.len() as u64,
            ffree: 0,
            namemax: NAME_MAX as u64,
        }
    }

    fn drives_devices(&self) -> bool {
        true
    }

    /// Of Linux's memory devices only `zero` can be mapped (shared, it is
    /// memory shared with the mapper's children): the host's `/dev/zero`
    /// does exactly that. The others are ENODEV, as on Linux.
    fn mappable_fd(&mut self, node: NodeId, writable: bool, _kind: MapKind) -> Result<Option<OwnedFd>, Errno> {
        match self.dev(node).map(|d| d.kind) {
            Some(Device::Zero) => crate::shm::open_for_mapping(c"/dev/zero", writable).map(Some).map_err(|_| ENODEV),
            _ => Err(ENODEV),
        }
    }

    // Nothing here is ever freed, so references need no counting.
    fn hold(&mut self, _node: NodeId) {}

    fn release(&mut self, _node: NodeId) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    struct TestClock(AtomicI64);

    impl Clock for TestClock {
        fn realtime(&self) -> Timespec {
            Timespec::from_nanos(self.0.load(Ordering::SeqCst).into())
        }
        fn monotonic(&self) -> Timespec {
            self.realtime()
        }
    }

    fn setup() -> (Devfs, Arc<TestClock>) {
        let clock = Arc::new(TestClock(AtomicI64::new(5_000_000_007)));
        (Devfs::new(clock.clone()), clock)
    }

    fn node(fs: &mut Devfs, name: &str) -> NodeId {
        fs.lookup(ROOT, name.as_bytes()).unwrap()
    }

    #[test]
    fn makedev_matches_linux() {
        assert_eq!(makedev(1, 3), 0x103);
        assert_eq!(makedev(0, 0), 0);
        assert_eq!(makedev(259, 0x12345), 0x1231_0345);
        for (major, minor) in [(1, 9), (259, 0x12345), (0x1000, 0), (0, 0x100), (u32::MAX, u32::MAX)] {
            assert_eq!(makedev(major, minor), libc::makedev(major, minor));
        }
    }

    #[test]
    fn directory_and_attributes() {
        let (mut fs, _) = setup();
        let mut got = Vec::new();
        fs.readdir(ROOT, 0, &mut |e, next| {
            got.push((String::from_utf8(e.name.clone()).unwrap(), e.ino, e.vtype, next));
            true
        })
        .unwrap();
        let names: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(names, [".", "..", "null", "zero", "full", "random", "urandom"]);
        assert_eq!((got[1].1, got[1].2), (ROOT, VType::Dir));
        for (i, g) in got.iter().enumerate() {
            assert_eq!(g.3, i as u64 + 1);
        }
        let mut rest = Vec::new();
        fs.readdir(ROOT, 4, &mut |e, _| {
            rest.push(e.name.clone());
            true
        })
        .unwrap();
        assert_eq!(rest, [b"full".to_vec(), b"random".to_vec(), b"urandom".to_vec()]);
        assert_eq!(fs.readdir(ROOT, u64::MAX, &mut |_, _| panic!("past the end")), Ok(()));

        let expect = [("null", 3), ("zero", 5), ("full", 7), ("random", 8), ("urandom", 9)];
        for (name, minor) in expect {
            let n = node(&mut fs, name);
            let a = fs.getattr(n).unwrap();
            assert_eq!((a.vtype, a.mode, a.uid, a.gid, a.nlink, a.size), (VType::Chr, 0o666, 0, 0, 1, 0));
            assert_eq!((a.rdev, a.ino), (makedev(1, minor), n));
            assert_eq!(fs.readdir(n, 0, &mut |_, _| true), Err(ENOTDIR));
            assert_eq!(fs.lookup(n, b"x"), Err(ENOTDIR));
            assert_eq!(fs.readlink(n), Err(EINVAL));
        }
        let r = fs.getattr(ROOT).unwrap();
        assert_eq!((r.vtype, r.mode, r.nlink, r.uid), (VType::Dir, 0o755, 2, 0));
        assert_eq!(fs.lookup(ROOT, b"tty"), Err(ENOENT));
        assert_eq!(fs.lookup(ROOT, b".."), Ok(ROOT));
        assert_eq!(fs.parent(ROOT), Ok(ROOT));
        assert_eq!(fs.getattr(99), Err(ENOENT));
        assert_eq!(fs.getattr(0), Err(ENOENT));
        let st = fs.statfs();
        assert_eq!((st.fstype, st.magic, st.blocks, st.bfree, st.files), ("devfs", 0x1373, 0, 0, 6));
    }

    #[test]
    fn device_data() {
        let (mut fs, _) = setup();
        let (null, zero, full) = (node(&mut fs, "null"), node(&mut fs, "zero"), node(&mut fs, "full"));
        let mut buf = [0xffu8; 64];
        assert_eq!(fs.read(null, 0, &mut buf), Ok(0));
        assert_eq!(fs.write(null, 0, &buf), Ok(64));
        assert_eq!(fs.read(zero, 123, &mut buf), Ok(64));
        assert_eq!(buf, [0u8; 64]);
        assert_eq!(fs.write(zero, 0, b"abc"), Ok(3));
        buf.fill(0xff);
        assert_eq!(fs.read(full, 0, &mut buf), Ok(64));
        assert_eq!(buf, [0u8; 64]);
        assert_eq!(fs.write(full, 0, b"abc"), Err(ENOSPC));
        assert_eq!(fs.write(full, 0, b""), Err(ENOSPC));
        assert_eq!(fs.read(ROOT, 0, &mut buf), Err(EISDIR));
        assert_eq!(fs.write(ROOT, 0, b"x"), Err(EISDIR));

        for name in ["random", "urandom"] {
            let n = node(&mut fs, name);
            let (mut a, mut b) = ([0u8; 256], [0u8; 256]);
            assert_eq!(fs.read(n, 0, &mut a), Ok(256));
            assert_eq!(fs.read(n, 0, &mut b), Ok(256));
            assert_ne!(a, b);
            assert!(a.iter().any(|&x| x != 0));
            assert_eq!(fs.write(n, 0, b"seed"), Ok(4));
            let mut big = vec![0u8; 1 << 20];
            assert_eq!(fs.read(n, 0, &mut big), Ok(1 << 20));
            assert_eq!(fs.read(n, 0, &mut []), Ok(0));
        }
    }

    #[test]
    fn namespace_is_fixed() {
        let (mut fs, _) = setup();
        let null = node(&mut fs, "null");
        let new = NewNode { vtype: VType::Reg, mode: 0o644, uid: 0, gid: 0, rdev: 0, target: Vec::new() };
        assert_eq!(fs.create(ROOT, b"x", &new), Err(EPERM));
        assert_eq!(fs.create(ROOT, b"null", &new), Err(EEXIST));
        assert_eq!(fs.create(null, b"x", &new), Err(ENOTDIR));
        assert_eq!(fs.link(ROOT, b"x", null), Err(EPERM));
        assert_eq!(fs.remove(ROOT, b"null"), Err(EPERM));
        assert_eq!(fs.remove(ROOT, b"x"), Err(ENOENT));
        assert_eq!(fs.rmdir(ROOT, b"null"), Err(ENOTDIR));
        assert_eq!(fs.rename(ROOT, b"null", ROOT, b"x"), Err(EPERM));
        assert_eq!(fs.rename(ROOT, b"x", ROOT, b"y"), Err(ENOENT));
        assert_eq!(fs.lookup(ROOT, b"null"), Ok(null));
        // References are accepted and change nothing.
        fs.hold(null);
        fs.release(null);
        fs.release(null);
        assert!(fs.getattr(null).is_ok());
    }

    #[test]
    fn setattr_keeps_per_node_changes() {
        let (mut fs, clock) = setup();
        let (null, zero) = (node(&mut fs, "null"), node(&mut fs, "zero"));
        let t0 = fs.getattr(null).unwrap().ctime;
        clock.0.fetch_add(10, Ordering::SeqCst);
        let when = Timespec { sec: 7, nsec: 8 };
        let set = SetAttr {
            mode: Some(0o100_600),
            uid: Some(3),
            gid: Some(4),
            atime: Some(when),
            mtime: Some(when),
            size: None,
        };
        fs.setattr(null, &set).unwrap();
        let a = fs.getattr(null).unwrap();
        assert_eq!((a.mode, a.uid, a.gid, a.atime, a.mtime), (0o600, 3, 4, when, when));
        assert_eq!(a.ctime.as_nanos(), t0.as_nanos() + 10);
        assert_eq!(fs.getattr(zero).unwrap().mode, 0o666);
        // Truncating a device succeeds and does nothing.
        let trunc = SetAttr { size: Some(0), ..SetAttr::default() };
        assert_eq!(fs.setattr(zero, &trunc), Ok(()));
        assert_eq!(fs.getattr(zero).unwrap().size, 0);
        assert_eq!(fs.setattr(ROOT, &trunc), Err(EISDIR));
        let root_mode = SetAttr { mode: Some(0o700), ..SetAttr::default() };
        fs.setattr(ROOT, &root_mode).unwrap();
        assert_eq!(fs.getattr(ROOT).unwrap().mode, 0o700);
        let bad = SetAttr { atime: Some(Timespec { sec: 0, nsec: -1 }), ..SetAttr::default() };
        assert_eq!(fs.setattr(null, &bad), Err(EINVAL));
        assert_eq!(fs.setattr(42, &root_mode), Err(ENOENT));
    }
}
