//! etfs, rump's "extra-terrestrial file system": one host file made visible
//! at a path of the kernel (a key), as rump_server's `-d` drives do. The
//! file system holds a single node, its root, whose data lives in the host
//! file: reads and writes are `pread`/`pwrite` on a host fd the kernel keeps
//! open. `Kernel::register_etfs` mounts one over a node it creates at the
//! key; `Drivespec::parse` reads rump_server's `-d` syntax.
//!
//! The node shows as a block device (`blk`, NetBSD's default), a character
//! device (`chr`) or a regular file (`reg`), and covers the host bytes from
//! `offset` on:
//!
//! - `size=N` fixes the region at N bytes; the host file is created (0644)
//!   if missing and extended to `offset + N` if shorter, as rump_server
//!   does. A device's size stays N: reads past it return 0 and writes stop
//!   there (a short count, then ENOSPC, like a full disk). A regular file
//!   may be truncated and grow again, but never past N (EFBIG, the file
//!   size limit); growing within the region fills the gap with zeros, since
//!   the host bytes there may hold older data.
//! - `size=host` takes the host file's size at registration (minus the
//!   offset). A device keeps that size; a regular file is the host file
//!   itself: writes past the end extend the host file and truncation
//!   truncates it, as NetBSD's etfs writes straight through.
//!
//! Host I/O errors become EIO; errors opening or sizing the host file keep
//! their meaning (ENOENT for a missing file with `size=host`), translated to
//! the kernel's errno values. A host file that may only be read is opened
//! read-only, and writes to it are EROFS.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use rump_abi::errno::linux_to_native;
use rump_abi::native::errno::{
    EACCES, EEXIST, EFBIG, EINVAL, EIO, EISDIR, ENODEV, ENOENT, ENOSPC, ENOTDIR, EPERM, EROFS,
};
use rump_abi::Errno;

use crate::fs::devfs::makedev;
use crate::fs::{join_components, mount_path_components};
use crate::time::{Clock, Timespec};
use crate::vfs::mapping::MapKind;
use crate::vfs::mount::Vnode;
use crate::vfs::{Attr, DirEntry, FileSystem, FsStat, NewNode, NodeId, Owner, SetAttr, VType, NAME_MAX};
use crate::{Kernel, State};

/// The one node.
const ROOT: NodeId = 2;
/// Made-up f_type for `statfs`: Linux has no etfs ("ETFS" in ASCII).
const ETFS_MAGIC: i64 = 0x4554_4653;
/// Device major for etfs nodes: the first of Linux's majors for local and
/// experimental use, so it clashes with no real driver. The minor is the
/// mount's number, unique in the kernel.
pub const ETFS_MAJOR: u32 = 240;
const BLKSIZE: u32 = 4096;
/// Offsets are `off_t` at the system-call boundary.
const MAX_OFF: u64 = i64::MAX as u64;

/// What the node shows as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EtfsKind {
    Reg,
    #[default]
    Blk,
    Chr,
}

impl EtfsKind {
    fn vtype(self) -> VType {
        match self {
            EtfsKind::Reg => VType::Reg,
            EtfsKind::Blk => VType::Blk,
            EtfsKind::Chr => VType::Chr,
        }
    }

    fn is_device(self) -> bool {
        self != EtfsKind::Reg
    }
}

/// How big the node is; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtfsSize {
    Bytes(u64),
    Host,
}

/// A host file to show in the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtfsSpec {
    pub hostpath: PathBuf,
    pub size: EtfsSize,
    /// Where the node's bytes start in the host file.
    pub offset: u64,
    pub kind: EtfsKind,
}

impl EtfsSpec {
    /// `hostpath` as a whole, sized by the host file, of type `kind`.
    pub fn new(hostpath: impl Into<PathBuf>, size: EtfsSize, kind: EtfsKind) -> EtfsSpec {
        EtfsSpec { hostpath: hostpath.into(), size, offset: 0, kind }
    }
}

/// One rump_server `-d` argument: the key and what to show there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drivespec {
    pub key: Vec<u8>,
    pub etfs: EtfsSpec,
}

/// Why a drivespec does not parse; each names the item at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DrivespecError {
    /// An item that is not `name=value`.
    NoValue(String),
    /// A name rump_server does not know.
    UnknownKey(String),
    /// A name given twice.
    Repeated(&'static str),
    /// A value that does not parse for its name.
    BadValue { key: &'static str, value: String },
    /// A required item is absent (`size` only for devices).
    Missing(&'static str),
    /// A rump_server option this kernel does not implement.
    Unsupported(&'static str),
}

impl fmt::Display for DrivespecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DrivespecError::NoValue(item) => write!(f, "drivespec: `{item}` is not name=value"),
            DrivespecError::UnknownKey(k) => {
                write!(f, "drivespec: unknown `{k}` (known: key, hostpath, size, offset, type, disklabel)")
            }
            DrivespecError::Repeated(k) => write!(f, "drivespec: `{k}` given twice"),
            DrivespecError::BadValue { key, value } => match *key {
                "type" => write!(f, "drivespec: bad type `{value}`: expected blk, chr or reg"),
                "size" => write!(
                    f,
                    "drivespec: bad size `{value}`: expected bytes (suffixes b k m g t w, `x` products) or `host`"
                ),
                _ => write!(f, "drivespec: bad {key} `{value}`"),
            },
            DrivespecError::Missing("size") => write!(f, "drivespec: size= is required unless type=reg"),
            DrivespecError::Missing(k) => write!(f, "drivespec: {k}= is required"),
            DrivespecError::Unsupported(k) => write!(f, "drivespec: {k}= is not supported"),
        }
    }
}

impl std::error::Error for DrivespecError {}

/// A dd-style number as NetBSD's `strsuftoll` reads it: decimal digits with
/// an optional suffix (`b` 512, `k`, `m`, `g`, `t` powers of 1024, `w` 4),
/// factors joined by `x` multiply. At most `i64::MAX` (an `off_t`).
pub fn parse_size(s: &str) -> Option<u64> {
    let mut total: u64 = 1;
    for factor in s.split('x') {
        let digits = factor.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = factor[..digits].parse().ok()?;
        let mult: u64 = match &factor[digits..] {
            "" => 1,
            "b" | "B" => 512,
            "k" | "K" => 1 << 10,
            "m" | "M" => 1 << 20,
            "g" | "G" => 1 << 30,
            "t" | "T" => 1 << 40,
            "w" | "W" => 4,
            _ => return None,
        };
        total = total.checked_mul(n.checked_mul(mult)?)?;
    }
    (total <= MAX_OFF).then_some(total)
}

impl Drivespec {
    /// Parses `key=/path,hostpath=FILE[,size=N|host][,offset=N][,type=blk|chr|reg]`
    /// with rump_server's rules: key and hostpath are required, and size
    /// unless the type is reg (which then follows the host file).
    pub fn parse(s: &str) -> Result<Drivespec, DrivespecError> {
        let (mut key, mut hostpath, mut size, mut offset, mut kind) = (None, None, None, None, None);
        fn set<T>(slot: &mut Option<T>, name: &'static str, v: T) -> Result<(), DrivespecError> {
            if slot.replace(v).is_some() {
                return Err(DrivespecError::Repeated(name));
            }
            Ok(())
        }
        let bad = |key: &'static str, value: &str| DrivespecError::BadValue { key, value: value.into() };
        // Empty items (a trailing comma) are skipped, as getsubopt does.
        for item in s.split(',').filter(|i| !i.is_empty()) {
            let Some((name, value)) = item.split_once('=') else {
                return Err(DrivespecError::NoValue(item.into()));
            };
            match name {
                "key" if value.starts_with('/') => set(&mut key, "key", value.as_bytes().to_vec())?,
                "key" => return Err(bad("key", value)),
                "hostpath" if !value.is_empty() => set(&mut hostpath, "hostpath", PathBuf::from(value))?,
                "hostpath" => return Err(bad("hostpath", value)),
                "size" if value == "host" => set(&mut size, "size", EtfsSize::Host)?,
                "size" => {
                    set(&mut size, "size", EtfsSize::Bytes(parse_size(value).ok_or_else(|| bad("size", value))?))?
                }
                "offset" => set(&mut offset, "offset", parse_size(value).ok_or_else(|| bad("offset", value))?)?,
                "type" => {
                    let k = match value {
                        "blk" => EtfsKind::Blk,
                        "chr" => EtfsKind::Chr,
                        "reg" => EtfsKind::Reg,
                        _ => return Err(bad("type", value)),
                    };
                    set(&mut kind, "type", k)?
                }
                "disklabel" => return Err(DrivespecError::Unsupported("disklabel")),
                _ => return Err(DrivespecError::UnknownKey(name.into())),
            }
        }
        let key = key.ok_or(DrivespecError::Missing("key"))?;
        let hostpath = hostpath.ok_or(DrivespecError::Missing("hostpath"))?;
        let kind = kind.unwrap_or_default();
        let size = match size {
            Some(s) => s,
            None if kind == EtfsKind::Reg => EtfsSize::Host,
            None => return Err(DrivespecError::Missing("size")),
        };
        Ok(Drivespec { key, etfs: EtfsSpec { hostpath, size, offset: offset.unwrap_or(0), kind } })
    }
}

impl std::str::FromStr for Drivespec {
    type Err = DrivespecError;

    fn from_str(s: &str) -> Result<Drivespec, DrivespecError> {
        Drivespec::parse(s)
    }
}

/// A host error opening or sizing the host file, in the kernel's numbers.
fn host_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(EIO, |raw| linux_to_native(Errno(raw)))
}

/// The file system: one node backed by a host file.
pub struct Etfs {
    clock: Arc<dyn Clock>,
    file: File,
    writable: bool,
    kind: EtfsKind,
    offset: u64,
    size: u64,
    /// The size writes may reach.
    max: u64,
    /// Does `size` follow the host file (reg with `size=host`)?
    follows_host: bool,
    rdev: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    btime: Timespec,
}

impl Etfs {
    /// Opens (and, for a fixed size, creates and extends) the host file.
    /// Nothing in any kernel changes here, so a failure leaves none behind.
    pub fn open(spec: &EtfsSpec, clock: Arc<dyn Clock>) -> Result<Etfs, Errno> {
        let fixed = match spec.size {
            EtfsSize::Bytes(n) => Some(n),
            EtfsSize::Host => None,
        };
        let rw = OpenOptions::new().read(true).write(true).create(fixed.is_some()).mode(0o644).open(&spec.hostpath);
        let (mut file, writable) = match rw {
            Ok(f) => (f, true),
            // A file we may only read still serves reads, as rumpblk does.
            Err(e) if matches!(host_errno(&e), EACCES | EROFS | EPERM) => {
                (File::open(&spec.hostpath).map_err(|e| host_errno(&e))?, false)
            }
            Err(e) => return Err(host_errno(&e)),
        };
        if file.metadata().map_err(|e| host_errno(&e))?.is_dir() {
            return Err(EISDIR);
        }
        // Seeking to the end also sizes host block devices, whose metadata
        // says 0.
        let host_len = file.seek(SeekFrom::End(0)).map_err(|e| host_errno(&e))?;
        let (size, max, follows_host) = match fixed {
            Some(n) => {
                let end = spec.offset.checked_add(n).filter(|&e| e <= MAX_OFF).ok_or(EFBIG)?;
                if host_len < end {
                    if !writable {
                        return Err(EROFS);
                    }
                    file.set_len(end).map_err(|e| host_errno(&e))?;
                }
                (n, n, false)
            }
            None => {
                let size = host_len.saturating_sub(spec.offset);
                match spec.kind {
                    EtfsKind::Reg => (size, MAX_OFF.saturating_sub(spec.offset), true),
                    _ => (size, size, false),
                }
            }
        };
        let now = clock.realtime();
        Ok(Etfs {
            clock,
            file,
            writable,
            kind: spec.kind,
            offset: spec.offset,
            size,
            max,
            follows_host,
            rdev: 0,
            // Raw disk access is for root, as with /dev/sd* on Linux.
            mode: if spec.kind.is_device() { 0o600 } else { 0o644 },
            uid: 0,
            gid: 0,
            atime: now,
            mtime: now,
            ctime: now,
            btime: now,
        })
    }

    fn check(&self, node: NodeId) -> Result<(), Errno> {
        if node == ROOT {
            Ok(())
        } else {
            Err(ENOENT)
        }
    }

    /// For the calls that need a directory: the one node is not one.
    fn not_dir(&self, node: NodeId) -> Errno {
        match self.check(node) {
            Ok(()) => ENOTDIR,
            Err(e) => e,
        }
    }

    /// Writes zeros over node bytes `from..to`.
    fn zero(&self, from: u64, to: u64) -> Result<(), Errno> {
        let zeros = [0u8; 8192];
        let mut pos = from;
        while pos < to {
            let n = (to - pos).min(zeros.len() as u64) as usize;
            self.file.write_all_at(&zeros[..n], self.offset + pos).map_err(|_| EIO)?;
            pos += n as u64;
        }
        Ok(())
    }

    /// Changes a regular file's size (see the module documentation).
    fn resize(&mut self, size: u64) -> Result<(), Errno> {
        if size > self.max {
            return Err(EFBIG);
        }
        if !self.writable {
            return Err(EROFS);
        }
        if self.follows_host {
            self.file.set_len(self.offset + size).map_err(|_| EIO)?;
        } else if size > self.size {
            self.zero(self.size, size)?;
        }
        self.size = size;
        Ok(())
    }
}

impl FileSystem for Etfs {
    fn root(&self) -> NodeId {
        ROOT
    }

    fn getattr(&self, node: NodeId) -> Result<Attr, Errno> {
        self.check(node)?;
        Ok(Attr {
            vtype: self.kind.vtype(),
            mode: self.mode,
            nlink: 1,
            uid: self.uid,
            gid: self.gid,
            size: self.size,
            blocks: self.size.div_ceil(512),
            blksize: BLKSIZE,
            rdev: if self.kind.is_device() { self.rdev } else { 0 },
            ino: ROOT,
            atime: self.atime,
            mtime: self.mtime,
            ctime: self.ctime,
            btime: self.btime,
        })
    }

    fn setattr(&mut self, node: NodeId, set: &SetAttr) -> Result<(), Errno> {
        self.check(node)?;
        set.check_times()?;
        let now = self.clock.realtime();
        if let Some(size) = set.size {
            if self.kind.is_device() {
                return Err(EINVAL);
            }
            if size != self.size {
                self.resize(size)?;
                self.mtime = now;
            }
        }
        set.apply(
            Owner {
                mode: &mut self.mode,
                uid: &mut self.uid,
                gid: &mut self.gid,
                atime: &mut self.atime,
                mtime: &mut self.mtime,
                ctime: &mut self.ctime,
            },
            now,
        );
        Ok(())
    }

    fn parent(&mut self, dir: NodeId) -> Result<NodeId, Errno> {
        Err(self.not_dir(dir))
    }

    fn lookup(&mut self, dir: NodeId, _name: &[u8]) -> Result<NodeId, Errno> {
        Err(self.not_dir(dir))
    }

    fn create(&mut self, dir: NodeId, _name: &[u8], _new: &NewNode) -> Result<NodeId, Errno> {
        Err(self.not_dir(dir))
    }

    fn readlink(&self, node: NodeId) -> Result<Vec<u8>, Errno> {
        self.check(node)?;
        Err(EINVAL)
    }

    fn link(&mut self, dir: NodeId, _name: &[u8], _node: NodeId) -> Result<(), Errno> {
        Err(self.not_dir(dir))
    }

    fn remove(&mut self, dir: NodeId, _name: &[u8]) -> Result<(), Errno> {
        Err(self.not_dir(dir))
    }

    fn rmdir(&mut self, dir: NodeId, _name: &[u8]) -> Result<(), Errno> {
        Err(self.not_dir(dir))
    }

    fn rename(&mut self, from_dir: NodeId, _from: &[u8], _to_dir: NodeId, _to: &[u8]) -> Result<(), Errno> {
        Err(self.not_dir(from_dir))
    }

    fn read(&mut self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.check(node)?;
        if offset >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let len = (buf.len() as u64).min(self.size - offset) as usize;
        let mut done = 0;
        while done < len {
            match self.file.read_at(&mut buf[done..len], self.offset + offset + done as u64) {
                // The host file shrank behind our back: what is there is all.
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) if done > 0 => break,
                Err(_) => return Err(EIO),
            }
        }
        self.atime = self.clock.realtime();
        Ok(done)
    }

    fn write(&mut self, node: NodeId, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        self.check(node)?;
        if data.is_empty() {
            return Ok(0);
        }
        if !self.writable {
            return Err(EROFS);
        }
        if offset >= self.max {
            return Err(if self.kind.is_device() { ENOSPC } else { EFBIG });
        }
        if offset > self.size && !self.follows_host {
            // Old host bytes may lie in the gap; a regular file's hole reads
            // as zeros.
            self.zero(self.size, offset)?;
        }
        let len = (data.len() as u64).min(self.max - offset) as usize;
        let mut done = 0;
        while done < len {
            match self.file.write_at(&data[done..len], self.offset + offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) if done > 0 => break,
                Err(_) => return Err(EIO),
            }
        }
        if done == 0 {
            return Err(EIO);
        }
        self.size = self.size.max(offset + done as u64);
        let now = self.clock.realtime();
        self.mtime = now;
        self.ctime = now;
        Ok(done)
    }

    fn readdir(
        &mut self,
        dir: NodeId,
        _cookie: u64,
        _out: &mut dyn FnMut(&DirEntry, u64) -> bool,
    ) -> Result<(), Errno> {
        Err(self.not_dir(dir))
    }

    fn statfs(&self) -> FsStat {
        let blocks = self.size.div_ceil(BLKSIZE as u64);
        FsStat {
            fstype: "etfs",
            magic: ETFS_MAGIC,
            bsize: BLKSIZE as u64,
            blocks,
            bfree: 0,
            bavail: 0,
            files: 1,
            ffree: 0,
            namemax: NAME_MAX as u64,
        }
    }

    fn drives_devices(&self) -> bool {
        true
    }

    /// A regular file that is the host file itself (`size=host`, no
    /// offset) is mapped through a new host open of it; a region of a host
    /// file or a device cannot be (the mapping would not keep to it).
    fn mappable_fd(&mut self, node: NodeId, writable: bool, _kind: MapKind) -> Result<Option<OwnedFd>, Errno> {
        self.check(node)?;
        if !(self.follows_host && self.offset == 0) {
            return Err(ENODEV);
        }
        crate::shm::reopen_fd(std::os::fd::AsRawFd::as_raw_fd(&self.file), writable).map(Some)
    }

    // The node lives as long as the mount: nothing to count.
    fn hold(&mut self, _node: NodeId) {}

    fn release(&mut self, _node: NodeId) {}
}

/// The components of a key: a mount path (see `fs::mount_path_components`)
/// with at least one component. A trailing slash would ask for a
/// directory: ENOTDIR.
fn key_components(key: &[u8]) -> Result<Vec<&[u8]>, Errno> {
    let comps = mount_path_components(key)?;
    if comps.is_empty() {
        return Err(EINVAL);
    }
    if key.ends_with(b"/") {
        return Err(ENOTDIR);
    }
    Ok(comps)
}

impl State {
    /// Mounts `fs` at `key`, creating missing directories (0755, root's)
    /// and the node it covers; EEXIST if something is already there.
    pub fn mount_etfs(&mut self, key: &[u8], mut fs: Etfs) -> Result<(), Errno> {
        let comps = key_components(key)?;
        let dir = self.make_dirs(&comps[..comps.len() - 1])?;
        let name = comps[comps.len() - 1];
        match self.mounts.fs(dir.mnt).lookup(dir.node, name) {
            Ok(_) => return Err(EEXIST),
            Err(e) if e == ENOENT => {}
            Err(e) => return Err(e),
        }
        // The mount's number is the next one: it makes the device minor.
        fs.rdev = makedev(ETFS_MAJOR, self.mounts.iter().count() as u32);
        let attr = fs.getattr(ROOT)?;
        // The covered node has the etfs node's type, so readdir's d_type
        // agrees with stat.
        let new = NewNode { vtype: attr.vtype, mode: attr.mode, uid: 0, gid: 0, rdev: attr.rdev, target: Vec::new() };
        let node = self.mounts.fs(dir.mnt).create(dir.node, name, &new)?;
        let covered = Vnode { mnt: dir.mnt, node };
        // The mount holds what it covers, as an open file would.
        self.vref(covered);
        self.mounts.add(Box::new(fs), Some(covered), join_components(&comps));
        Ok(())
    }
}

impl Kernel {
    /// Makes host file `spec.hostpath` visible at `key` (an absolute path)
    /// as rump_server's `-d` does: missing directories of `key` are made
    /// (like `mkdir -p`, mode 0755), a node is made at `key` and an etfs
    /// mounted over it. EEXIST if `key` exists; host errors opening or
    /// sizing the file come back as errno values, and leave the kernel
    /// unchanged.
    pub fn register_etfs(&self, key: &[u8], spec: &EtfsSpec) -> Result<(), Errno> {
        // Checked before touching the host, which may create the host file.
        key_components(key)?;
        let fs = Etfs::open(spec, self.config().clock.clone())?;
        self.with_state(|st| st.mount_etfs(key, fs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rump_abi::native::errno::ENAMETOOLONG;

    fn parse(s: &str) -> Result<Drivespec, DrivespecError> {
        Drivespec::parse(s)
    }

    #[test]
    fn sizes_with_suffixes() {
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("1b"), Some(512));
        assert_eq!(parse_size("4k"), Some(4096));
        assert_eq!(parse_size("1m"), Some(1 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("1t"), Some(1 << 40));
        assert_eq!(parse_size("3w"), Some(12));
        assert_eq!(parse_size("2x512"), Some(1024));
        assert_eq!(parse_size("2kx3"), Some(6144));
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size("1q"), None);
        assert_eq!(parse_size("1kk"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("1x"), None);
        assert_eq!(parse_size("8388608t"), None);
        assert_eq!(parse_size("99999999999999999999"), None);
    }

    #[test]
    fn drivespecs() {
        let d = parse("key=/d,hostpath=f,size=1m,type=reg").unwrap();
        assert_eq!(d.key, b"/d");
        assert_eq!(
            d.etfs,
            EtfsSpec { hostpath: "f".into(), size: EtfsSize::Bytes(1 << 20), offset: 0, kind: EtfsKind::Reg }
        );
        let d = parse("hostpath=/tmp/x.img,key=/dev/disk,size=host,offset=1k,").unwrap();
        assert_eq!((d.etfs.kind, d.etfs.size, d.etfs.offset), (EtfsKind::Blk, EtfsSize::Host, 1024));
        // A regular file needs no size: it follows the host file.
        let d: Drivespec = "key=/r,hostpath=f,type=reg".parse().unwrap();
        assert_eq!(d.etfs.size, EtfsSize::Host);
        assert_eq!(parse("key=/c,hostpath=f,size=4,type=chr").unwrap().etfs.kind, EtfsKind::Chr);
    }

    #[test]
    fn drivespec_errors_name_the_item() {
        use DrivespecError::*;
        assert_eq!(parse("hostpath=f,size=1"), Err(Missing("key")));
        assert_eq!(parse("key=/d,size=1"), Err(Missing("hostpath")));
        assert_eq!(parse("key=/d,hostpath=f"), Err(Missing("size")));
        assert_eq!(parse("key=/d,hostpath=f,type=blk"), Err(Missing("size")));
        assert_eq!(parse("key=/d,hostpath=f,size=1q"), Err(BadValue { key: "size", value: "1q".into() }));
        assert_eq!(parse("key=/d,hostpath=f,size=1,offset=x"), Err(BadValue { key: "offset", value: "x".into() }));
        assert_eq!(parse("key=/d,hostpath=f,size=1,type=disk"), Err(BadValue { key: "type", value: "disk".into() }));
        assert_eq!(parse("key=d,hostpath=f,size=1"), Err(BadValue { key: "key", value: "d".into() }));
        assert_eq!(parse("key=/d,hostpath=,size=1"), Err(BadValue { key: "hostpath", value: "".into() }));
        assert_eq!(parse("key=/d,hostpath=f,size=1,colour=red"), Err(UnknownKey("colour".into())));
        assert_eq!(parse("key=/d,key=/e,hostpath=f,size=1"), Err(Repeated("key")));
        assert_eq!(parse("key=/d,hostpath=f,size"), Err(NoValue("size".into())));
        assert_eq!(parse("key=/d,hostpath=f,disklabel=a"), Err(Unsupported("disklabel")));
        assert_eq!(parse(""), Err(Missing("key")));
        let msg = parse("key=/d,hostpath=f,size=1,type=disk").unwrap_err().to_string();
        assert!(msg.contains("type") && msg.contains("disk"), "{msg}");
        assert!(parse("key=/d,hostpath=f").unwrap_err().to_string().contains("size"));
    }

    #[test]
    fn keys() {
        assert_eq!(key_components(b"/a//b"), Ok(vec![&b"a"[..], b"b"]));
        assert_eq!(key_components(b"a/b"), Err(EINVAL));
        assert_eq!(key_components(b"/"), Err(EINVAL));
        assert_eq!(key_components(b"/a/../b"), Err(EINVAL));
        assert_eq!(key_components(b"/a/./b"), Err(EINVAL));
        assert_eq!(key_components(b"/a\0b"), Err(EINVAL));
        assert_eq!(key_components(b"/a/"), Err(ENOTDIR));
        let long = [b"/".to_vec(), vec![b'y'; NAME_MAX + 1]].concat();
        assert_eq!(key_components(&long), Err(ENAMETOOLONG));
    }
}
