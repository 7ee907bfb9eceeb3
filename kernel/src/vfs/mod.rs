//! The virtual file system: what a file system must provide (`FileSystem`),
//! the attributes it reports, the mount table, and the one path walk.
//!
//! Division of labour: the VFS layer owns everything that is the same for
//! every file system — path walking, permission checks, mount crossings,
//! EXDEV, open-file bookkeeping. A file system owns its nodes and the rules
//! that need its structure (ENOTEMPTY, renaming a directory into itself).

pub mod mapping;
pub mod mount;
pub mod namei;

use crate::time::Timespec;
use mapping::MapKind;
use rump_abi::usermem::UserMemory;
use rump_abi::{Errno, UserAddr};
use std::os::fd::OwnedFd;

/// A node number inside one file system; doubles as the inode number.
pub type NodeId = u64;

/// The longest name one path component may have.
pub const NAME_MAX: usize = 255;
/// The longest path a call may pass (including the NUL): Linux's 4096,
/// since Linux callers pass such paths (NetBSD's own limit is 1024).
pub const PATH_MAX: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VType {
    Reg,
    Dir,
    Lnk,
    Chr,
    Blk,
    Fifo,
    Sock,
}

/// What `stat` reports about a node, file-system independent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    pub vtype: VType,
    /// Permission bits only (0o7777); the type is `vtype`.
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// Storage used, in 512-byte blocks (sparse files use less than size).
    pub blocks: u64,
    pub blksize: u32,
    pub rdev: u64,
    pub ino: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
    pub btime: Timespec,
}

/// Changes for `setattr`; `None` leaves a field alone. The file system sets
/// ctime itself whenever anything changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<Timespec>,
    pub mtime: Option<Timespec>,
}

/// The attributes every file system keeps the same way, borrowed so that
/// `SetAttr::apply` can change them in place.
pub struct Owner<'a> {
    pub mode: &'a mut u32,
    pub uid: &'a mut u32,
    pub gid: &'a mut u32,
    pub atime: &'a mut Timespec,
    pub mtime: &'a mut Timespec,
    pub ctime: &'a mut Timespec,
}

impl SetAttr {
    /// EINVAL for a timestamp out of range; checked before anything changes.
    pub fn check_times(&self) -> Result<(), Errno> {
        if self.atime.is_some_and(|t| !t.is_valid()) || self.mtime.is_some_and(|t| !t.is_valid()) {
            return Err(rump_abi::native::errno::EINVAL);
        }
        Ok(())
    }

    /// Applies mode, owner and times (the size is the file system's own
    /// business) and moves ctime to `now` if anything was asked for.
    pub fn apply(&self, a: Owner<'_>, now: Timespec) {
        if let Some(mode) = self.mode {
            *a.mode = mode & 0o7777;
        }
        if let Some(uid) = self.uid {
            *a.uid = uid;
        }
        if let Some(gid) = self.gid {
            *a.gid = gid;
        }
        if let Some(t) = self.atime {
            *a.atime = t;
        }
        if let Some(t) = self.mtime {
            *a.mtime = t;
        }
        if *self != SetAttr::default() {
            *a.ctime = now;
        }
    }
}

/// A node to create in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNode {
    pub vtype: VType,
    /// Permission bits, umask already applied.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Device number for Chr/Blk.
    pub rdev: u64,
    /// Target for Lnk.
    pub target: Vec<u8>,
}

/// One directory entry as `readdir` yields it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub vtype: VType,
}

/// What `statfs`/`statvfs` report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsStat {
    pub fstype: &'static str,
    /// Linux's f_type magic for this kind of file system.
    pub magic: i64,
    pub bsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub namemax: u64,
}

/// A mounted file system. Called with the kernel lock held: plain data inside.
///
/// Names passed in are single components: non-empty, no `/`, never `.` or
/// `..` (the VFS resolves those), at most `NAME_MAX` bytes.
pub trait FileSystem: Send {
    fn root(&self) -> NodeId;
    fn getattr(&self, node: NodeId) -> Result<Attr, Errno>;
    /// Applies `set`; a `size` change truncates or extends with zeros.
    fn setattr(&mut self, node: NodeId, set: &SetAttr) -> Result<(), Errno>;
    /// The directory containing directory `dir` (the root's parent is the
    /// root); ENOTDIR if `dir` is not a directory. The VFS resolves `..`
    /// with this.
    fn parent(&mut self, dir: NodeId) -> Result<NodeId, Errno>;
    /// ENOENT if absent, ENOTDIR if `dir` is not a directory.
    fn lookup(&mut self, dir: NodeId, name: &[u8]) -> Result<NodeId, Errno>;
    /// Creates `name` in `dir`; EEXIST if it exists.
    fn create(&mut self, dir: NodeId, name: &[u8], new: &NewNode) -> Result<NodeId, Errno>;
    /// EINVAL if `node` is not a symlink.
    fn readlink(&self, node: NodeId) -> Result<Vec<u8>, Errno>;
    /// A new name for an existing non-directory node; EEXIST if taken.
    fn link(&mut self, dir: NodeId, name: &[u8], node: NodeId) -> Result<(), Errno>;
    /// Removes a non-directory name (EISDIR for a directory).
    fn remove(&mut self, dir: NodeId, name: &[u8]) -> Result<(), Errno>;
    /// Removes an empty directory (ENOTDIR, ENOTEMPTY).
    fn rmdir(&mut self, dir: NodeId, name: &[u8]) -> Result<(), Errno>;
    /// POSIX rename within this file system, replacing the target if allowed:
    /// EISDIR/ENOTDIR for mismatched types, ENOTEMPTY, EINVAL when a
    /// directory would move below itself. Same node on both ends: no-op.
    fn rename(&mut self, from_dir: NodeId, from: &[u8], to_dir: NodeId, to: &[u8]) -> Result<(), Errno>;
    /// Reads at `offset`; 0 at or past the end.
    fn read(&mut self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize, Errno>;
    /// Writes at `offset`, extending the file (holes read as zeros).
    fn write(&mut self, node: NodeId, offset: u64, data: &[u8]) -> Result<usize, Errno>;
    /// `read` into `len` bytes of a caller's memory at `to`. The default
    /// reads into what `mem.with_out` lends: the caller's buffer itself
    /// in process, a bounce buffer for a caller elsewhere. A file system
    /// whose data lies in its own pages hands `mem` those pages instead
    /// (`UserMemory::copy_out_pieces`), so that data crosses to a caller
    /// in another process with one copy.
    fn read_to(
        &mut self,
        node: NodeId,
        offset: u64,
        mem: &dyn UserMemory,
        to: UserAddr,
        len: usize,
    ) -> Result<usize, Errno> {
        mem.with_out(to, len, &mut |b| self.read(node, offset, b))
    }
    /// `write` from `len` bytes of a caller's memory at `from`; the
    /// counterpart of `read_to` (`UserMemory::copy_in_pieces`).
    fn write_from(
        &mut self,
        node: NodeId,
        offset: u64,
        mem: &dyn UserMemory,
        from: UserAddr,
        len: usize,
    ) -> Result<usize, Errno> {
        mem.with_in(from, len, &mut |b| self.write(node, offset, b))
    }
    /// Calls `out` with entries from position `cookie` on, each with the
    /// cookie of the entry after it, until `out` returns false or the
    /// directory ends. `.` and `..` come first. Cookies stay valid while
    /// entries are added and removed.
    fn readdir(&mut self, dir: NodeId, cookie: u64, out: &mut dyn FnMut(&DirEntry, u64) -> bool) -> Result<(), Errno>;
    fn statfs(&self) -> FsStat;
    /// Do reads and writes of this file system's device nodes reach a
    /// device? If not, opening one is ENXIO (no driver), as on Linux.
    fn drives_devices(&self) -> bool {
        false
    }
    /// Is the file system mounted read-only? Its changing calls answer
    /// EROFS themselves; the VFS asks so that opening for writing and
    /// access(W_OK) fail up front, as on Linux.
    fn read_only(&self) -> bool {
        false
    }
    /// A host fd on `node`'s data that a process maps (mmap) as `kind`
    /// says: opened read-only, or read-write if `writable`, as the
    /// process's open file is, so the host's mmap checks are Linux's.
    /// `None` for a private mapping of data the kernel keeps in its own
    /// memory (the caller copies it); ENODEV where the data cannot be
    /// mapped (Linux's answer for a file without mmap).
    fn mappable_fd(&mut self, _node: NodeId, _writable: bool, _kind: MapKind) -> Result<Option<OwnedFd>, Errno> {
        Err(rump_abi::native::errno::ENODEV)
    }
    /// An open file, cwd or other kernel reference now holds `node`.
    fn hold(&mut self, node: NodeId);
    /// Drops a `hold`; a node with no names and no holds is freed.
    fn release(&mut self, node: NodeId);
}
