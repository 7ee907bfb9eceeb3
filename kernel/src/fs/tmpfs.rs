//! tmpfs: a file system held entirely in kernel memory. It owns its nodes,
//! the data of regular files (sparse 4 KiB pages, moved into shared kernel
//! memory, `shm`, when a process first maps the file shared), directory
//! entries with readdir cookies that survive concurrent changes, and its
//! space budget.
//!
//! Space accounting: everything is charged to the kernel's memory budget
//! (`mem::Mem`), which other kernel objects share, so the file system is
//! full when the kernel's memory is. Every node costs `NODE_BYTES`, every
//! name in a directory `DIRENT_SIZE` plus the name's length, every allocated
//! data page `PAGE_SIZE`, every symlink its target's length. Holes cost
//! nothing, so extending a file with `setattr` never fails for space. A
//! write that needs a page past the limit stops there with a short count, or
//! fails with ENOSPC if it wrote nothing; creating a node or a name past the
//! limit fails with ENOSPC (Linux's tmpfs answer when full, where the
//! kernel's own allocations say ENOMEM). `statfs` reports the budget as the
//! size and the kernel's free memory as the free space.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use rump_abi::native::errno::{
    EEXIST, EFBIG, EINVAL, EIO, EISDIR, EMLINK, ENAMETOOLONG, ENODEV, ENOENT, ENOMEM, ENOSPC, ENOTDIR, ENOTEMPTY, EPERM,
};
use rump_abi::usermem::UserMemory;
use rump_abi::{Errno, UserAddr};

use crate::idmap::IdMap;
use crate::mem::Mem;
use crate::shm::SharedMem;
use crate::time::{Clock, Timespec};
use crate::vfs::mapping::MapKind;
use crate::vfs::{Attr, DirEntry, FileSystem, FsStat, NewNode, NodeId, Owner, SetAttr, VType, NAME_MAX, PATH_MAX};

mod uio;

const PAGE_SIZE: usize = 4096;
const PAGE: u64 = PAGE_SIZE as u64;
/// Linux's TMPFS_MAGIC, so `statfs` callers recognise the file system.
const TMPFS_MAGIC: i64 = 0x0102_1994;
/// A directory's size is this much per entry, counting `.` and `..`, like
/// Linux's tmpfs (an empty directory is 40 bytes).
const DIRENT_SIZE: u64 = 20;
/// A rough charge for one node's metadata against the memory budget.
const NODE_BYTES: u64 = 256;
/// The size `statfs` reports when no limit was given.
const NOMINAL_BYTES: u64 = 1 << 40;
/// Offsets are `off_t` at the system-call boundary.
const MAX_FILE_SIZE: u64 = i64::MAX as u64;
/// Far beyond anything reachable, but keeps `nlink` meaningful as a u32 in
/// stat structures.
const LINK_MAX: u64 = u32::MAX as u64;
const ROOT: NodeId = 2;

/// What this file system has charged to the kernel's budget; kept apart
/// from the nodes so a file can charge pages while it is borrowed.
struct Space {
    used: u64,
    mem: Arc<Mem>,
}

impl Space {
    fn fits(&self, bytes: u64) -> bool {
        self.mem.fits(bytes)
    }

    fn charge(&mut self, bytes: u64) -> Result<(), Errno> {
        self.mem.charge(bytes).map_err(|_| ENOSPC)?;
        self.used = self.used.saturating_add(bytes);
        Ok(())
    }

    /// For changes already checked with `fits`, once nothing may fail.
    fn charge_anyway(&mut self, bytes: u64) {
        self.mem.charge_anyway(bytes);
        self.used = self.used.saturating_add(bytes);
    }

    fn refund(&mut self, bytes: u64) {
        let bytes = bytes.min(self.used);
        self.used -= bytes;
        self.mem.uncharge(bytes);
    }

    /// The capacity `statfs` reports.
    fn total(&self) -> u64 {
        self.mem.limit().unwrap_or(NOMINAL_BYTES)
    }

    fn free(&self) -> u64 {
        self.total().saturating_sub(self.mem.used())
    }
}

fn dirent_cost(name: &[u8]) -> u64 {
    DIRENT_SIZE + name.len() as u64
}

/// Names reach us from the VFS already checked; this keeps a stray caller
/// from creating entries that no path could name.
fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.is_empty() {
        return Err(ENOENT);
    }
    if name.len() > NAME_MAX {
        return Err(ENAMETOOLONG);
    }
    if name == b"." || name == b".." || name.iter().any(|&b| b == b'/' || b == 0) {
        return Err(EINVAL);
    }
    Ok(())
}

/// A regular file's data in kernel memory: pages keyed by index. A
/// BTreeMap keeps very sparse files (a write at 1 TiB) small, and a lookup
/// per 4 KiB page costs little next to copying the page.
///
/// Invariant: bytes of the last page past `size` are zero, so growing the
/// file (by write past a hole or by truncate) exposes zeros.
#[derive(Default)]
struct Pages {
    size: u64,
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl Pages {
    fn read(&self, offset: u64, buf: &mut [u8]) -> usize {
        if offset >= self.size {
            return 0;
        }
        let len = (buf.len() as u64).min(self.size - offset) as usize;
        let mut done = 0;
        while done < len {
            let pos = offset + done as u64;
            let (idx, off) = (pos / PAGE, (pos % PAGE) as usize);
            let chunk = (PAGE_SIZE - off).min(len - done);
            let dst = &mut buf[done..done + chunk];
            match self.pages.get(&idx) {
                Some(page) => dst.copy_from_slice(&page[off..off + chunk]),
                None => dst.fill(0),
            }
            done += chunk;
        }
        len
    }

    /// Writes `data` (already clipped to the size limit) at `offset`.
    fn write(&mut self, offset: u64, data: &[u8], space: &mut Space) -> Result<usize, Errno> {
        let len = data.len();
        let mut done = 0;
        while done < len {
            let pos = offset + done as u64;
            let (idx, off) = (pos / PAGE, (pos % PAGE) as usize);
            let chunk = (PAGE_SIZE - off).min(len - done);
            let src = &data[done..done + chunk];
            match self.pages.entry(idx) {
                Entry::Occupied(e) => e.into_mut()[off..off + chunk].copy_from_slice(src),
                Entry::Vacant(e) => {
                    if space.charge(PAGE).is_err() {
                        break;
                    }
                    if chunk == PAGE_SIZE {
                        // A whole page: no need to zero it first.
                        e.insert(src.into());
                    } else {
                        let mut page = vec![0u8; PAGE_SIZE].into_boxed_slice();
                        page[off..off + chunk].copy_from_slice(src);
                        e.insert(page);
                    }
                }
            }
            done += chunk;
        }
        if done == 0 {
            return Err(ENOSPC);
        }
        self.size = self.size.max(offset + done as u64);
        Ok(done)
    }

    fn truncate(&mut self, size: u64, space: &mut Space) {
        if size < self.size {
            let dropped = self.pages.split_off(&size.div_ceil(PAGE));
            space.refund(dropped.len() as u64 * PAGE);
            let tail = (size % PAGE) as usize;
            if tail != 0 {
                if let Some(page) = self.pages.get_mut(&(size / PAGE)) {
                    page[tail..].fill(0);
                }
            }
        }
        self.size = size;
    }

    /// What these pages cost the budget.
    fn cost(&self) -> u64 {
        self.pages.len() as u64 * PAGE
    }
}

/// How many of `len` bytes a write at `offset` may store: all, up to the
/// largest file size, or EFBIG at it; None for an empty write, which
/// stores nothing and changes nothing.
fn writable_len(offset: u64, len: usize) -> Result<Option<usize>, Errno> {
    if len == 0 {
        return Ok(None);
    }
    if offset >= MAX_FILE_SIZE {
        return Err(EFBIG);
    }
    Ok(Some((len as u64).min(MAX_FILE_SIZE - offset) as usize))
}

/// The kernel's memory ran out while a write grew shared data: the file
/// system is full.
fn full_when_out_of_memory(e: Errno) -> Errno {
    if e == ENOMEM {
        ENOSPC
    } else {
        e
    }
}

/// A regular file's data: kernel pages until a process maps the file, then
/// shared kernel memory (`shm`) that the kernel and every mapping see
/// alike, for good. Shared data is charged by the region itself.
enum RegFile {
    Pages(Pages),
    Shared(SharedMem),
}

impl Default for RegFile {
    fn default() -> Self {
        RegFile::Pages(Pages::default())
    }
}

impl RegFile {
    fn size(&self) -> Result<u64, Errno> {
        match self {
            RegFile::Pages(p) => Ok(p.size),
            RegFile::Shared(m) => m.size(),
        }
    }

    /// Storage used, in 512-byte blocks.
    fn blocks(&self) -> Result<u64, Errno> {
        match self {
            RegFile::Pages(p) => Ok(p.pages.len() as u64 * (PAGE / 512)),
            RegFile::Shared(m) => Ok(m.allocated()? / 512),
        }
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match self {
            RegFile::Pages(p) => Ok(p.read(offset, buf)),
            RegFile::Shared(m) => m.read_at(offset, buf),
        }
    }

    fn read_to(&self, offset: u64, mem: &dyn UserMemory, to: UserAddr, len: usize) -> Result<usize, Errno> {
        match self {
            RegFile::Pages(p) => p.read_to(offset, mem, to, len),
            RegFile::Shared(m) => mem.with_out(to, len, &mut |b| m.read_at(offset, b)),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8], space: &mut Space) -> Result<usize, Errno> {
        let Some(len) = writable_len(offset, data.len())? else { return Ok(0) };
        let data = &data[..len];
        match self {
            RegFile::Pages(p) => p.write(offset, data, space),
            RegFile::Shared(m) => m.write_at(offset, data).map_err(full_when_out_of_memory),
        }
    }

    fn write_from(
        &mut self,
        offset: u64,
        mem: &dyn UserMemory,
        from: UserAddr,
        len: usize,
        space: &mut Space,
    ) -> Result<usize, Errno> {
        let Some(len) = writable_len(offset, len)? else { return Ok(0) };
        match self {
            RegFile::Pages(p) => p.write_from(offset, mem, from, len, space),
            RegFile::Shared(m) => {
                mem.with_in(from, len, &mut |b| m.write_at(offset, b).map_err(full_when_out_of_memory))
            }
        }
    }

    fn truncate(&mut self, size: u64, space: &mut Space) -> Result<(), Errno> {
        match self {
            RegFile::Pages(p) => {
                p.truncate(size, space);
                Ok(())
            }
            RegFile::Shared(m) => m.set_len(size),
        }
    }

    /// What tmpfs has charged for the data (a shared region charges itself).
    fn cost(&self) -> u64 {
        match self {
            RegFile::Pages(p) => p.cost(),
            RegFile::Shared(_) => 0,
        }
    }

    /// The file's data as shared kernel memory, moving it there first if it
    /// is still in kernel pages (`node` names the region on the host).
    fn shared(&mut self, node: NodeId, space: &mut Space) -> Result<&SharedMem, Errno> {
        if let RegFile::Pages(p) = self {
            let name = CString::new(format!("rump-tmpfs-{node}")).map_err(|_| EINVAL)?;
            let mut region = SharedMem::new(&name, p.size, space.mem.clone())?;
            // The pages' charge goes first so that the region fits where
            // the pages did.
            space.refund(p.cost());
            for (&idx, page) in &p.pages {
                let len = (p.size - idx * PAGE).min(PAGE) as usize;
                if let Err(e) = region.write_at(idx * PAGE, &page[..len]) {
                    space.charge_anyway(p.cost());
                    return Err(e);
                }
            }
            *self = RegFile::Shared(region);
        }
        match self {
            RegFile::Shared(m) => Ok(m),
            RegFile::Pages(_) => Err(EIO),
        }
    }
}

/// One name in a directory.
struct Slot {
    name: Box<[u8]>,
    node: NodeId,
    /// Cached so readdir need not visit every child.
    vtype: VType,
}

/// Entries keyed by an insertion sequence number, which is also the readdir
/// cookie: positions 0 and 1 are `.` and `..`, each name gets the next
/// number from 2 on, and a position means "the first entry numbered at
/// least this". Removing or adding names never moves the survivors, so a
/// resumed readdir neither repeats nor skips them.
struct Directory {
    /// For `..`; the root is its own parent.
    parent: NodeId,
    by_seq: BTreeMap<u64, Slot>,
    by_name: HashMap<Box<[u8]>, u64>,
    next_seq: u64,
}

impl Directory {
    fn new(parent: NodeId) -> Directory {
        Directory { parent, by_seq: BTreeMap::new(), by_name: HashMap::new(), next_seq: 2 }
    }

    fn get(&self, name: &[u8]) -> Option<&Slot> {
        self.by_name.get(name).and_then(|seq| self.by_seq.get(seq))
    }

    fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }

    /// Adds a name at `seq`, or at a new position at the end.
    fn insert(&mut self, name: &[u8], node: NodeId, vtype: VType, seq: Option<u64>) {
        let seq = seq.unwrap_or_else(|| {
            let s = self.next_seq;
            self.next_seq = self.next_seq.saturating_add(1);
            s
        });
        self.by_name.insert(name.into(), seq);
        self.by_seq.insert(seq, Slot { name: name.into(), node, vtype });
    }

    /// Removes a name, returning its position.
    fn remove(&mut self, name: &[u8]) -> Option<u64> {
        let seq = self.by_name.remove(name)?;
        self.by_seq.remove(&seq);
        Some(seq)
    }
}

enum Data {
    Reg(RegFile),
    Dir(Directory),
    Lnk(Box<[u8]>),
    /// Devices, FIFOs and sockets: the VFS gives them their behaviour.
    Special {
        vtype: VType,
        rdev: u64,
    },
}

struct Node {
    mode: u32,
    uid: u32,
    gid: u32,
    /// Names for a non-directory; 2 + subdirectories for a linked
    /// directory, 0 once it is removed.
    nlink: u64,
    /// Kernel references (open files, cwds): they keep a nameless node.
    holds: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    btime: Timespec,
    data: Data,
}

impl Node {
    fn vtype(&self) -> VType {
        match &self.data {
            Data::Reg(_) => VType::Reg,
            Data::Dir(_) => VType::Dir,
            Data::Lnk(_) => VType::Lnk,
            Data::Special { vtype, .. } => *vtype,
        }
    }

    fn dir(&self) -> Result<&Directory, Errno> {
        match &self.data {
            Data::Dir(d) => Ok(d),
            _ => Err(ENOTDIR),
        }
    }

    fn dir_mut(&mut self) -> Result<&mut Directory, Errno> {
        match &mut self.data {
            Data::Dir(d) => Ok(d),
            _ => Err(ENOTDIR),
        }
    }

    /// What freeing this node gives back to the budget, names aside.
    fn cost(&self) -> u64 {
        NODE_BYTES
            + match &self.data {
                Data::Reg(f) => f.cost(),
                Data::Lnk(t) => t.len() as u64,
                Data::Dir(_) | Data::Special { .. } => 0,
            }
    }

    fn touch_modified(&mut self, now: Timespec) {
        self.mtime = now;
        self.ctime = now;
    }
}

/// An in-memory file system; see the module documentation for its rules.
pub struct Tmpfs {
    clock: Arc<dyn Clock>,
    nodes: IdMap<NodeId, Node>,
    /// Node numbers only grow, so a stale NodeId never names a new node.
    next_id: NodeId,
    space: Space,
}

impl Tmpfs {
    /// A file system holding only its root directory, charging `mem` as the
    /// module documentation describes.
    pub fn new(clock: Arc<dyn Clock>, root_mode: u32, root_uid: u32, root_gid: u32, mem: Arc<Mem>) -> Tmpfs {
        let now = clock.realtime();
        let root = Node {
            mode: root_mode & 0o7777,
            uid: root_uid,
            gid: root_gid,
            nlink: 2,
            holds: 0,
            atime: now,
            mtime: now,
            ctime: now,
            btime: now,
            data: Data::Dir(Directory::new(ROOT)),
        };
        let mut nodes = IdMap::default();
        nodes.insert(ROOT, root);
        // The root is charged even if it does not fit: a tiny limit still
        // yields a usable (if full) file system.
        let mut space = Space { used: 0, mem };
        space.charge_anyway(NODE_BYTES);
        Tmpfs { clock, nodes, next_id: ROOT + 1, space }
    }

    fn now(&self) -> Timespec {
        self.clock.realtime()
    }

    fn node(&self, id: NodeId) -> Result<&Node, Errno> {
        self.nodes.get(&id).ok_or(ENOENT)
    }

    fn node_mut(&mut self, id: NodeId) -> Result<&mut Node, Errno> {
        self.nodes.get_mut(&id).ok_or(ENOENT)
    }

    /// Reads `len` bytes of regular file `node` with `read`, which counts
    /// as an access.
    fn read_file(
        &mut self,
        node: NodeId,
        len: usize,
        read: impl FnOnce(&RegFile) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        let now = self.now();
        let n = self.node_mut(node)?;
        let f = match &n.data {
            Data::Reg(f) => f,
            Data::Dir(_) => return Err(EISDIR),
            _ => return Err(EINVAL),
        };
        if len == 0 {
            return Ok(0);
        }
        let count = read(f)?;
        n.atime = now;
        Ok(count)
    }

    /// Writes regular file `node` with `write`, which counts as a change
    /// if it stored anything.
    fn write_file(
        &mut self,
        node: NodeId,
        write: impl FnOnce(&mut RegFile, &mut Space) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        let now = self.now();
        let Tmpfs { nodes, space, .. } = self;
        let n = nodes.get_mut(&node).ok_or(ENOENT)?;
        let f = match &mut n.data {
            Data::Reg(f) => f,
            Data::Dir(_) => return Err(EISDIR),
            _ => return Err(EINVAL),
        };
        let count = write(f, space)?;
        if count > 0 {
            n.touch_modified(now);
        }
        Ok(count)
    }

    /// A directory that may gain names: one that has been removed (but is
    /// still held, e.g. as a cwd) may not, as on Linux.
    fn live_dir(&self, id: NodeId) -> Result<&Directory, Errno> {
        let n = self.node(id)?;
        let d = n.dir()?;
        if n.nlink == 0 {
            return Err(ENOENT);
        }
        Ok(d)
    }

    /// Frees `id` if nothing refers to it any more.
    fn maybe_free(&mut self, id: NodeId) {
        let unused = self.nodes.get(&id).is_some_and(|n| n.nlink == 0 && n.holds == 0);
        if unused {
            if let Some(n) = self.nodes.remove(&id) {
                self.space.refund(n.cost());
            }
        }
    }

    /// Whether `dir` is `ancestor` or lies below it.
    fn is_within(&self, dir: NodeId, ancestor: NodeId) -> bool {
        let mut cur = dir;
        // Bounded by the node count so a damaged parent chain cannot hang us.
        for _ in 0..=self.nodes.len() {
            if cur == ancestor {
                return true;
            }
            match self.nodes.get(&cur).map(Node::dir) {
                Some(Ok(d)) if d.parent != cur => cur = d.parent,
                _ => return false,
            }
        }
        false
    }
}

impl FileSystem for Tmpfs {
    fn root(&self) -> NodeId {
        ROOT
    }

    fn getattr(&self, node: NodeId) -> Result<Attr, Errno> {
        let n = self.node(node)?;
        let (size, blocks, rdev) = match &n.data {
            Data::Reg(f) => (f.size()?, f.blocks()?, 0),
            Data::Dir(d) => (DIRENT_SIZE * (2 + d.by_seq.len() as u64), 0, 0),
            Data::Lnk(t) => (t.len() as u64, 0, 0),
            Data::Special { rdev, .. } => (0, 0, *rdev),
        };
        Ok(Attr {
            vtype: n.vtype(),
            mode: n.mode,
            nlink: n.nlink,
            uid: n.uid,
            gid: n.gid,
            size,
            blocks,
            blksize: PAGE_SIZE as u32,
            rdev,
            ino: node,
            atime: n.atime,
            mtime: n.mtime,
            ctime: n.ctime,
            btime: n.btime,
        })
    }

    fn setattr(&mut self, node: NodeId, set: &SetAttr) -> Result<(), Errno> {
        set.check_times()?;
        let now = self.now();
        let Tmpfs { nodes, space, .. } = self;
        let n = nodes.get_mut(&node).ok_or(ENOENT)?;
        // Every check comes before any change, so a failed call changes
        // nothing.
        if let Some(size) = set.size {
            match &n.data {
                Data::Reg(_) if size > MAX_FILE_SIZE => return Err(EFBIG),
                Data::Reg(_) => {}
                Data::Dir(_) => return Err(EISDIR),
                _ => return Err(EINVAL),
            }
        }
        if let (Some(size), Data::Reg(f)) = (set.size, &mut n.data) {
            if size != f.size()? {
                f.truncate(size, space)?;
                n.mtime = now;
            }
        }
        set.apply(
            Owner {
                mode: &mut n.mode,
                uid: &mut n.uid,
                gid: &mut n.gid,
                atime: &mut n.atime,
                mtime: &mut n.mtime,
                ctime: &mut n.ctime,
            },
            now,
        );
        Ok(())
    }

    fn parent(&mut self, dir: NodeId) -> Result<NodeId, Errno> {
        let parent = self.node(dir)?.dir()?.parent;
        // A removed directory's parent may since have been freed.
        self.node(parent)?;
        Ok(parent)
    }

    fn lookup(&mut self, dir: NodeId, name: &[u8]) -> Result<NodeId, Errno> {
        let d = self.node(dir)?.dir()?;
        match name {
            b"." => Ok(dir),
            b".." => Ok(d.parent),
            _ if name.len() > NAME_MAX => Err(ENAMETOOLONG),
            _ => d.get(name).map(|s| s.node).ok_or(ENOENT),
        }
    }

    fn create(&mut self, dir: NodeId, name: &[u8], new: &NewNode) -> Result<NodeId, Errno> {
        check_name(name)?;
        if self.live_dir(dir)?.get(name).is_some() {
            return Err(EEXIST);
        }
        let mut cost = NODE_BYTES + dirent_cost(name);
        let data = match new.vtype {
            VType::Reg => Data::Reg(RegFile::default()),
            VType::Dir => Data::Dir(Directory::new(dir)),
            VType::Lnk => {
                if new.target.is_empty() {
                    return Err(ENOENT);
                }
                if new.target.len() >= PATH_MAX {
                    return Err(ENAMETOOLONG);
                }
                cost += new.target.len() as u64;
                Data::Lnk(new.target.as_slice().into())
            }
            VType::Chr | VType::Blk => Data::Special { vtype: new.vtype, rdev: new.rdev },
            VType::Fifo | VType::Sock => Data::Special { vtype: new.vtype, rdev: 0 },
        };
        self.space.charge(cost)?;
        let now = self.now();
        let id = self.next_id;
        self.next_id += 1;
        let is_dir = new.vtype == VType::Dir;
        let node = Node {
            mode: new.mode & 0o7777,
            uid: new.uid,
            gid: new.gid,
            nlink: if is_dir { 2 } else { 1 },
            holds: 0,
            atime: now,
            mtime: now,
            ctime: now,
            btime: now,
            data,
        };
        self.nodes.insert(id, node);
        let parent = self.node_mut(dir)?;
        parent.dir_mut()?.insert(name, id, new.vtype, None);
        if is_dir {
            parent.nlink += 1;
        }
        parent.touch_modified(now);
        Ok(id)
    }

    fn readlink(&self, node: NodeId) -> Result<Vec<u8>, Errno> {
        match &self.node(node)?.data {
            Data::Lnk(target) => Ok(target.to_vec()),
            _ => Err(EINVAL),
        }
    }

    fn link(&mut self, dir: NodeId, name: &[u8], node: NodeId) -> Result<(), Errno> {
        check_name(name)?;
        let n = self.node(node)?;
        if n.vtype() == VType::Dir {
            return Err(EPERM);
        }
        // A file whose last name is gone stays nameless, as on Linux.
        if n.nlink == 0 {
            return Err(ENOENT);
        }
        if n.nlink >= LINK_MAX {
            return Err(EMLINK);
        }
        let vtype = n.vtype();
        if self.live_dir(dir)?.get(name).is_some() {
            return Err(EEXIST);
        }
        self.space.charge(dirent_cost(name))?;
        let now = self.now();
        let d = self.node_mut(dir)?;
        d.dir_mut()?.insert(name, node, vtype, None);
        d.touch_modified(now);
        let n = self.node_mut(node)?;
        n.nlink += 1;
        n.ctime = now;
        Ok(())
    }

    fn remove(&mut self, dir: NodeId, name: &[u8]) -> Result<(), Errno> {
        check_name(name)?;
        let slot = self.node(dir)?.dir()?.get(name).ok_or(ENOENT)?;
        if slot.vtype == VType::Dir {
            return Err(EISDIR);
        }
        let target = slot.node;
        let now = self.now();
        let d = self.node_mut(dir)?;
        d.dir_mut()?.remove(name);
        d.touch_modified(now);
        self.space.refund(dirent_cost(name));
        let n = self.node_mut(target)?;
        n.nlink = n.nlink.saturating_sub(1);
        n.ctime = now;
        self.maybe_free(target);
        Ok(())
    }

    fn rmdir(&mut self, dir: NodeId, name: &[u8]) -> Result<(), Errno> {
        check_name(name)?;
        let slot = self.node(dir)?.dir()?.get(name).ok_or(ENOENT)?;
        if slot.vtype != VType::Dir {
            return Err(ENOTDIR);
        }
        let child = slot.node;
        if !self.node(child)?.dir()?.is_empty() {
            return Err(ENOTEMPTY);
        }
        let now = self.now();
        let d = self.node_mut(dir)?;
        d.dir_mut()?.remove(name);
        d.nlink = d.nlink.saturating_sub(1);
        d.touch_modified(now);
        self.space.refund(dirent_cost(name));
        let c = self.node_mut(child)?;
        c.nlink = 0;
        c.ctime = now;
        self.maybe_free(child);
        Ok(())
    }

    fn rename(&mut self, from_dir: NodeId, from: &[u8], to_dir: NodeId, to: &[u8]) -> Result<(), Errno> {
        check_name(from)?;
        check_name(to)?;
        let (src, src_type) = {
            let slot = self.node(from_dir)?.dir()?.get(from).ok_or(ENOENT)?;
            (slot.node, slot.vtype)
        };
        let target = self.live_dir(to_dir)?.get(to).map(|s| (s.node, s.vtype));
        if target.is_some_and(|(t, _)| t == src) {
            return Ok(());
        }
        let src_is_dir = src_type == VType::Dir;
        if src_is_dir && self.is_within(to_dir, src) {
            return Err(EINVAL);
        }
        if let Some((t, t_type)) = target {
            match (src_is_dir, t_type == VType::Dir) {
                (true, false) => return Err(ENOTDIR),
                (false, true) => return Err(EISDIR),
                (true, true) if !self.node(t)?.dir()?.is_empty() => return Err(ENOTEMPTY),
                _ => {}
            }
        }
        // The old name and a replaced name are given back; the new one is
        // charged. Only a net gain can run out of space.
        let gained = dirent_cost(to);
        let freed = dirent_cost(from) + if target.is_some() { dirent_cost(to) } else { 0 };
        if gained > freed && !self.space.fits(gained - freed) {
            return Err(ENOSPC);
        }

        // Checks are done: from here on nothing fails.
        let now = self.now();
        let fd = self.node_mut(from_dir)?;
        fd.dir_mut()?.remove(from);
        if src_is_dir && from_dir != to_dir {
            fd.nlink = fd.nlink.saturating_sub(1);
        }
        fd.touch_modified(now);
        let td = self.node_mut(to_dir)?;
        let tdir = td.dir_mut()?;
        // A replaced name keeps its readdir position, so a reader sees the
        // name exactly once across an atomic replace.
        let seq = tdir.remove(to);
        tdir.insert(to, src, src_type, seq);
        if src_is_dir && from_dir != to_dir {
            td.nlink += 1;
        }
        if target.is_some_and(|(_, tt)| tt == VType::Dir) {
            td.nlink = td.nlink.saturating_sub(1);
        }
        td.touch_modified(now);
        self.space.refund(freed);
        self.space.charge_anyway(gained);
        let s = self.node_mut(src)?;
        s.ctime = now;
        if let Data::Dir(d) = &mut s.data {
            d.parent = to_dir;
        }
        if let Some((t, t_type)) = target {
            let tn = self.node_mut(t)?;
            tn.nlink = if t_type == VType::Dir { 0 } else { tn.nlink.saturating_sub(1) };
            tn.ctime = now;
            self.maybe_free(t);
        }
        Ok(())
    }

    fn read(&mut self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.read_file(node, buf.len(), |f| f.read(offset, buf))
    }

    fn write(&mut self, node: NodeId, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        self.write_file(node, |f, space| f.write(offset, data, space))
    }

    fn read_to(
        &mut self,
        node: NodeId,
        offset: u64,
        mem: &dyn UserMemory,
        to: UserAddr,
        len: usize,
    ) -> Result<usize, Errno> {
        self.read_file(node, len, |f| f.read_to(offset, mem, to, len))
    }

    fn write_from(
        &mut self,
        node: NodeId,
        offset: u64,
        mem: &dyn UserMemory,
        from: UserAddr,
        len: usize,
    ) -> Result<usize, Errno> {
        self.write_file(node, |f, space| f.write_from(offset, mem, from, len, space))
    }

    /// A regular file's data moves into shared kernel memory on its first
    /// shared mapping and stays there; a private mapping of a file still in
    /// kernel pages is the caller's copy. Other nodes cannot be mapped.
    fn mappable_fd(&mut self, node: NodeId, writable: bool, kind: MapKind) -> Result<Option<OwnedFd>, Errno> {
        let Tmpfs { nodes, space, .. } = self;
        match (&mut nodes.get_mut(&node).ok_or(ENOENT)?.data, kind) {
            (Data::Reg(RegFile::Pages(_)), MapKind::Private) => Ok(None),
            (Data::Reg(f), _) => f.shared(node, space)?.reopen(writable).map(Some),
            _ => Err(ENODEV),
        }
    }

    fn readdir(&mut self, dir: NodeId, cookie: u64, out: &mut dyn FnMut(&DirEntry, u64) -> bool) -> Result<(), Errno> {
        let n = self.node(dir)?;
        let d = n.dir()?;
        // Linux reports ENOENT for reading a removed directory.
        if n.nlink == 0 {
            return Err(ENOENT);
        }
        let mut ent = DirEntry { name: Vec::with_capacity(NAME_MAX), ino: dir, vtype: VType::Dir };
        let mut more = true;
        if cookie == 0 {
            ent.name.extend_from_slice(b".");
            more = out(&ent, 1);
        }
        if more && cookie <= 1 {
            ent.name.clear();
            ent.name.extend_from_slice(b"..");
            ent.ino = d.parent;
            more = out(&ent, 2);
        }
        if more {
            for (&seq, slot) in d.by_seq.range(cookie.max(2)..) {
                ent.name.clear();
                ent.name.extend_from_slice(&slot.name);
                ent.ino = slot.node;
                ent.vtype = slot.vtype;
                if !out(&ent, seq.saturating_add(1)) {
                    break;
                }
            }
        }
        let now = self.now();
        self.node_mut(dir)?.atime = now;
        Ok(())
    }

    fn statfs(&self) -> FsStat {
        let s = &self.space;
        FsStat {
            fstype: "tmpfs",
            magic: TMPFS_MAGIC,
            bsize: PAGE,
            blocks: s.total() / PAGE,
            bfree: s.free() / PAGE,
            bavail: s.free() / PAGE,
            // Each node costs at least NODE_BYTES: what room is left for.
            files: s.total() / NODE_BYTES,
            ffree: s.free() / NODE_BYTES,
            namemax: NAME_MAX as u64,
        }
    }

    fn hold(&mut self, node: NodeId) {
        if let Some(n) = self.nodes.get_mut(&node) {
            n.holds += 1;
        }
    }

    fn release(&mut self, node: NodeId) {
        if let Some(n) = self.nodes.get_mut(&node) {
            n.holds = n.holds.saturating_sub(1);
            self.maybe_free(node);
        }
    }
}

/// An unmounted (or dropped) file system gives back all it charged.
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let used = self.space.used;
        self.space.refund(used);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// A clock that moves only when a test says so.
    struct TestClock(AtomicI64);

    impl TestClock {
        fn advance(&self, ns: i64) {
            self.0.fetch_add(ns, Ordering::SeqCst);
        }
        fn now(&self) -> Timespec {
            Timespec::from_nanos(self.0.load(Ordering::SeqCst).into())
        }
    }

    impl Clock for TestClock {
        fn realtime(&self) -> Timespec {
            self.now()
        }
        fn monotonic(&self) -> Timespec {
            self.now()
        }
    }

    fn setup(max: Option<u64>) -> (Tmpfs, Arc<TestClock>) {
        let clock = Arc::new(TestClock(AtomicI64::new(1_000_000_000_123)));
        (Tmpfs::new(clock.clone(), 0o755, 0, 0, Mem::new(max)), clock)
    }

    fn new_node(vtype: VType) -> NewNode {
        NewNode { vtype, mode: 0o644, uid: 1, gid: 2, rdev: 0, target: Vec::new() }
    }

    fn mk(fs: &mut Tmpfs, dir: NodeId, name: &str, vtype: VType) -> NodeId {
        fs.create(dir, name.as_bytes(), &new_node(vtype)).unwrap()
    }

    fn symlink(fs: &mut Tmpfs, dir: NodeId, name: &str, target: &str) -> Result<NodeId, Errno> {
        let new = NewNode { target: target.as_bytes().to_vec(), ..new_node(VType::Lnk) };
        fs.create(dir, name.as_bytes(), &new)
    }

    fn read_all(fs: &mut Tmpfs, node: NodeId) -> Vec<u8> {
        let size = fs.getattr(node).unwrap().size as usize;
        let mut buf = vec![0xaa; size + 10];
        let n = fs.read(node, 0, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    /// All names from `cookie` on, with their next cookies.
    fn entries(fs: &mut Tmpfs, dir: NodeId, cookie: u64) -> Vec<(String, u64, u64)> {
        let mut v = Vec::new();
        fs.readdir(dir, cookie, &mut |e, next| {
            v.push((String::from_utf8(e.name.clone()).unwrap(), e.ino, next));
            true
        })
        .unwrap();
        v
    }

    fn names(fs: &mut Tmpfs, dir: NodeId) -> Vec<String> {
        entries(fs, dir, 0).into_iter().map(|(n, _, _)| n).collect()
    }

    fn nlink(fs: &Tmpfs, node: NodeId) -> u64 {
        fs.getattr(node).unwrap().nlink
    }

    fn size_only(size: u64) -> SetAttr {
        SetAttr { size: Some(size), ..SetAttr::default() }
    }

    #[test]
    fn root_attributes() {
        let (fs, _) = setup(None);
        let a = fs.getattr(fs.root()).unwrap();
        assert_eq!((a.vtype, a.mode, a.nlink, a.ino, a.size), (VType::Dir, 0o755, 2, 2, 40));
        let mut fs = fs;
        assert_eq!(fs.parent(2), Ok(2));
        assert_eq!(names(&mut fs, 2), [".", ".."]);
        assert_eq!(entries(&mut fs, 2, 0)[1].1, 2);
    }

    #[test]
    fn create_lookup_read_write() {
        let (mut fs, _) = setup(None);
        let f = mk(&mut fs, 2, "f", VType::Reg);
        assert_eq!(fs.lookup(2, b"f"), Ok(f));
        assert_eq!(fs.lookup(2, b"g"), Err(ENOENT));
        assert_eq!(fs.lookup(f, b"x"), Err(ENOTDIR));
        assert_eq!(fs.create(2, b"f", &new_node(VType::Reg)), Err(EEXIST));
        assert_eq!(fs.create(f, b"x", &new_node(VType::Reg)), Err(ENOTDIR));
        let a = fs.getattr(f).unwrap();
        assert_eq!((a.vtype, a.mode, a.uid, a.gid, a.nlink, a.size, a.blocks), (VType::Reg, 0o644, 1, 2, 1, 0, 0));
        assert!(a.ino > 2);
        assert_eq!(fs.write(f, 0, b"hello world"), Ok(11));
        assert_eq!(fs.write(f, 6, b"there"), Ok(5));
        assert_eq!(read_all(&mut fs, f), b"hello there");
        let mut buf = [0u8; 4];
        assert_eq!(fs.read(f, 9, &mut buf), Ok(2));
        assert_eq!(&buf[..2], b"re");
        assert_eq!(fs.read(f, 11, &mut buf), Ok(0));
        assert_eq!(fs.read(f, u64::MAX, &mut buf), Ok(0));
        assert_eq!(fs.read(2, 0, &mut buf), Err(EISDIR));
        assert_eq!(fs.write(2, 0, b"x"), Err(EISDIR));
        assert_eq!(fs.getattr(f).unwrap().blocks, 8);
        // Writes spanning page boundaries land where they should.
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(fs.write(f, 4000, &data), Ok(data.len()));
        let mut back = vec![0u8; data.len()];
        assert_eq!(fs.read(f, 4000, &mut back), Ok(data.len()));
        assert_eq!(back, data);
        assert_eq!(fs.getattr(f).unwrap().size, 14_000);
        assert_eq!(fs.getattr(f).unwrap().blocks, 4 * 8);
    }

    #[test]
    fn node_kinds() {
        let (mut fs, _) = setup(None);
        let new = NewNode { rdev: 0x103, ..new_node(VType::Chr) };
        let c = fs.create(2, b"c", &new).unwrap();
        assert_eq!((fs.getattr(c).unwrap().vtype, fs.getattr(c).unwrap().rdev), (VType::Chr, 0x103));
        let p = mk(&mut fs, 2, "p", VType::Fifo);
        assert_eq!(fs.getattr(p).unwrap().vtype, VType::Fifo);
        assert_eq!(fs.read(c, 0, &mut [0u8; 4]), Err(EINVAL));
        assert_eq!(fs.setattr(c, &size_only(0)), Err(EINVAL));
        let mode = NewNode { mode: 0o107_777, ..new_node(VType::Reg) };
        let f = fs.create(2, b"m", &mode).unwrap();
        assert_eq!(fs.getattr(f).unwrap().mode, 0o7777);
        assert_eq!(fs.create(2, b"a/b", &new_node(VType::Reg)), Err(EINVAL));
        assert_eq!(fs.create(2, &[b'x'; 256], &new_node(VType::Reg)), Err(ENAMETOOLONG));
        assert_eq!(fs.create(2, b"", &new_node(VType::Reg)), Err(ENOENT));
        assert_eq!(fs.create(2, b"..", &new_node(VType::Reg)), Err(EINVAL));
        assert_eq!(fs.getattr(12345), Err(ENOENT));
    }

    #[test]
    fn sparse_file() {
        let (mut fs, _) = setup(None);
        let f = mk(&mut fs, 2, "sparse", VType::Reg);
        assert_eq!(fs.write(f, 1 << 20, b"end"), Ok(3));
        let a = fs.getattr(f).unwrap();
        assert_eq!(a.size, (1 << 20) + 3);
        assert_eq!(a.blocks, 8);
        let mut buf = vec![0xffu8; 1 << 20];
        assert_eq!(fs.read(f, 0, &mut buf), Ok(1 << 20));
        assert!(buf.iter().all(|&b| b == 0));
        let mut tail = [0u8; 8];
        assert_eq!(fs.read(f, (1 << 20) - 2, &mut tail), Ok(5));
        assert_eq!(&tail[..5], b"\0\0end");
        // Far offsets stay cheap and the largest off_t is the limit.
        assert_eq!(fs.write(f, 1 << 40, b"x"), Ok(1));
        assert_eq!(fs.getattr(f).unwrap().blocks, 16);
        assert_eq!(fs.write(f, MAX_FILE_SIZE, b"x"), Err(EFBIG));
        assert_eq!(fs.write(f, MAX_FILE_SIZE - 1, b"xy"), Ok(1));
        assert_eq!(fs.getattr(f).unwrap().size, MAX_FILE_SIZE);
        assert_eq!(fs.setattr(f, &size_only(MAX_FILE_SIZE + 1)), Err(EFBIG));
    }

    #[test]
    fn truncate_shrink_then_extend_reads_zeros() {
        let (mut fs, _) = setup(None);
        let f = mk(&mut fs, 2, "t", VType::Reg);
        assert_eq!(fs.write(f, 0, &[7u8; 10_000]), Ok(10_000));
        assert_eq!(fs.getattr(f).unwrap().blocks, 24);
        let used = fs.space.used;
        fs.setattr(f, &size_only(5000)).unwrap();
        let a = fs.getattr(f).unwrap();
        assert_eq!((a.size, a.blocks), (5000, 16));
        assert_eq!(fs.space.used, used - PAGE);
        fs.setattr(f, &size_only(12_000)).unwrap();
        let data = read_all(&mut fs, f);
        assert_eq!(data.len(), 12_000);
        assert!(data[..5000].iter().all(|&b| b == 7));
        assert!(data[5000..].iter().all(|&b| b == 0));
        // Extending allocates nothing.
        assert_eq!(fs.getattr(f).unwrap().blocks, 16);
        fs.setattr(f, &size_only(0)).unwrap();
        assert_eq!(fs.getattr(f).unwrap().blocks, 0);
        assert_eq!(fs.write(f, 4095, b"ab"), Ok(2));
        assert_eq!(read_all(&mut fs, f), [&[0u8; 4095][..], b"ab"].concat());
        assert_eq!(fs.setattr(2, &size_only(0)), Err(EISDIR));
    }

    #[test]
    fn hard_links_and_nlink() {
        let (mut fs, _) = setup(None);
        let f = mk(&mut fs, 2, "a", VType::Reg);
        let d = mk(&mut fs, 2, "d", VType::Dir);
        fs.link(2, b"b", f).unwrap();
        fs.link(d, b"c", f).unwrap();
        assert_eq!(nlink(&fs, f), 3);
        assert_eq!(fs.lookup(d, b"c"), Ok(f));
        assert_eq!(fs.link(2, b"b", f), Err(EEXIST));
        assert_eq!(fs.link(2, b"dd", d), Err(EPERM));
        assert_eq!(fs.link(f, b"x", f), Err(ENOTDIR));
        fs.write(f, 0, b"shared").unwrap();
        fs.remove(2, b"a").unwrap();
        assert_eq!(nlink(&fs, f), 2);
        let c = fs.lookup(d, b"c").unwrap();
        assert_eq!(read_all(&mut fs, c), b"shared");
        fs.remove(2, b"b").unwrap();
        fs.remove(d, b"c").unwrap();
        assert_eq!(fs.getattr(f), Err(ENOENT));
        assert_eq!(fs.remove(2, b"b"), Err(ENOENT));
        assert_eq!(fs.remove(2, b"d"), Err(EISDIR));
        // Directory link counts follow subdirectories.
        assert_eq!(nlink(&fs, 2), 3);
        assert_eq!(nlink(&fs, d), 2);
        mk(&mut fs, d, "sub", VType::Dir);
        mk(&mut fs, d, "file", VType::Reg);
        assert_eq!(nlink(&fs, d), 3);
        fs.rmdir(d, b"sub").unwrap();
        assert_eq!(nlink(&fs, d), 2);
    }

    #[test]
    fn symlinks() {
        let (mut fs, _) = setup(None);
        let l = symlink(&mut fs, 2, "l", "some/where").unwrap();
        assert_eq!(fs.readlink(l), Ok(b"some/where".to_vec()));
        let a = fs.getattr(l).unwrap();
        assert_eq!((a.vtype, a.size), (VType::Lnk, 10));
        assert_eq!(fs.readlink(2), Err(EINVAL));
        let f = mk(&mut fs, 2, "f", VType::Reg);
        assert_eq!(fs.readlink(f), Err(EINVAL));
        assert_eq!(symlink(&mut fs, 2, "e", ""), Err(ENOENT));
        assert_eq!(symlink(&mut fs, 2, "long", &"x".repeat(PATH_MAX)), Err(ENAMETOOLONG));
        assert_eq!(fs.write(l, 0, b"x"), Err(EINVAL));
        fs.remove(2, b"l").unwrap();
        assert_eq!(fs.readlink(l), Err(ENOENT));
    }

    #[test]
    fn rmdir_rules() {
        let (mut fs, _) = setup(None);
        let d = mk(&mut fs, 2, "d", VType::Dir);
        let f = mk(&mut fs, d, "f", VType::Reg);
        assert_eq!(fs.rmdir(2, b"d"), Err(ENOTEMPTY));
        assert_eq!(fs.rmdir(d, b"f"), Err(ENOTDIR));
        assert_eq!(fs.rmdir(2, b"nope"), Err(ENOENT));
        assert_eq!(fs.rmdir(f, b"x"), Err(ENOTDIR));
        fs.remove(d, b"f").unwrap();
        assert_eq!(nlink(&fs, 2), 3);
        fs.rmdir(2, b"d").unwrap();
        assert_eq!(nlink(&fs, 2), 2);
        assert_eq!(fs.getattr(d), Err(ENOENT));
        assert_eq!(fs.lookup(2, b"d"), Err(ENOENT));
    }

    #[test]
    fn removed_directory_held_as_cwd() {
        let (mut fs, _) = setup(None);
        let d = mk(&mut fs, 2, "d", VType::Dir);
        fs.hold(d);
        fs.rmdir(2, b"d").unwrap();
        assert_eq!(nlink(&fs, d), 0);
        assert_eq!(fs.create(d, b"x", &new_node(VType::Reg)), Err(ENOENT));
        assert_eq!(fs.readdir(d, 0, &mut |_, _| true), Err(ENOENT));
        assert_eq!(fs.parent(d), Ok(2));
        fs.release(d);
        assert_eq!(fs.getattr(d), Err(ENOENT));
    }

    #[test]
    fn rename_files_and_replacement() {
        let (mut fs, clock) = setup(None);
        let a = mk(&mut fs, 2, "a", VType::Reg);
        let b = mk(&mut fs, 2, "b", VType::Reg);
        let d = mk(&mut fs, 2, "d", VType::Dir);
        assert_eq!(fs.rename(2, b"missing", 2, b"x"), Err(ENOENT));
        assert_eq!(fs.rename(a, b"x", 2, b"y"), Err(ENOTDIR));
        assert_eq!(fs.rename(2, b"a", a, b"y"), Err(ENOTDIR));
        // Plain move to another directory.
        clock.advance(10);
        fs.rename(2, b"a", d, b"a2").unwrap();
        assert_eq!(fs.lookup(2, b"a"), Err(ENOENT));
        assert_eq!(fs.lookup(d, b"a2"), Ok(a));
        let t = clock.now();
        assert_eq!(fs.getattr(a).unwrap().ctime, t);
        assert_eq!(fs.getattr(2).unwrap().mtime, t);
        assert_eq!(fs.getattr(d).unwrap().mtime, t);
        // Replacing a file: the old target loses its only name.
        fs.write(b, 0, b"bbb").unwrap();
        fs.rename(d, b"a2", 2, b"b").unwrap();
        assert_eq!(fs.lookup(2, b"b"), Ok(a));
        assert_eq!(fs.getattr(b), Err(ENOENT));
        // Two names of one node: nothing happens.
        fs.link(2, b"c", a).unwrap();
        fs.rename(2, b"b", 2, b"c").unwrap();
        assert_eq!((fs.lookup(2, b"b"), fs.lookup(2, b"c")), (Ok(a), Ok(a)));
        assert_eq!(nlink(&fs, a), 2);
        fs.rename(2, b"c", 2, b"c").unwrap();
        assert_eq!(nlink(&fs, a), 2);
        // A replaced file that is held survives until released.
        let e = mk(&mut fs, 2, "e", VType::Reg);
        fs.write(e, 0, b"still here").unwrap();
        fs.hold(e);
        fs.rename(2, b"c", 2, b"e").unwrap();
        assert_eq!(nlink(&fs, e), 0);
        assert_eq!(read_all(&mut fs, e), b"still here");
        fs.release(e);
        assert_eq!(fs.getattr(e), Err(ENOENT));
        assert_eq!(nlink(&fs, a), 2);
    }

    #[test]
    fn rename_type_and_tree_errors() {
        let (mut fs, _) = setup(None);
        let f = mk(&mut fs, 2, "f", VType::Reg);
        let d = mk(&mut fs, 2, "d", VType::Dir);
        mk(&mut fs, 2, "e", VType::Dir);
        let sub = mk(&mut fs, d, "sub", VType::Dir);
        let deep = mk(&mut fs, sub, "deep", VType::Dir);
        assert_eq!(fs.rename(2, b"d", 2, b"f"), Err(ENOTDIR));
        assert_eq!(fs.rename(2, b"f", 2, b"e"), Err(EISDIR));
        assert_eq!(fs.rename(2, b"e", 2, b"d"), Err(ENOTEMPTY));
        assert_eq!(fs.rename(2, b"d", d, b"x"), Err(EINVAL));
        assert_eq!(fs.rename(2, b"d", deep, b"x"), Err(EINVAL));
        assert_eq!(fs.rename(d, b"sub", deep, b"x"), Err(EINVAL));
        // Moving an ancestor's name over its own descendant's ancestor.
        assert_eq!(fs.rename(sub, b"deep", 2, b"d"), Err(ENOTEMPTY));
        // Nothing changed.
        assert_eq!(fs.lookup(2, b"f"), Ok(f));
        assert_eq!(fs.lookup(sub, b"deep"), Ok(deep));
        assert_eq!((nlink(&fs, 2), nlink(&fs, d), nlink(&fs, sub)), (4, 3, 3));
    }

    #[test]
    fn rename_directories_updates_parents_and_links() {
        let (mut fs, _) = setup(None);
        let d = mk(&mut fs, 2, "d", VType::Dir);
        let e = mk(&mut fs, 2, "e", VType::Dir);
        let sub = mk(&mut fs, d, "sub", VType::Dir);
        assert_eq!((nlink(&fs, 2), nlink(&fs, d), nlink(&fs, e)), (4, 3, 2));
        fs.rename(d, b"sub", e, b"moved").unwrap();
        assert_eq!((nlink(&fs, 2), nlink(&fs, d), nlink(&fs, e)), (4, 2, 3));
        assert_eq!(fs.parent(sub), Ok(e));
        assert_eq!(fs.lookup(sub, b".."), Ok(e));
        assert_eq!(entries(&mut fs, sub, 0)[1].1, e);
        // Renaming within one directory keeps its link count.
        fs.rename(e, b"moved", e, b"again").unwrap();
        assert_eq!(nlink(&fs, e), 3);
        // A directory over an empty directory replaces it.
        let empty = mk(&mut fs, d, "empty", VType::Dir);
        assert_eq!(nlink(&fs, d), 3);
        fs.rename(e, b"again", d, b"empty").unwrap();
        assert_eq!(fs.getattr(empty), Err(ENOENT));
        assert_eq!(fs.lookup(d, b"empty"), Ok(sub));
        assert_eq!(fs.parent(sub), Ok(d));
        assert_eq!((nlink(&fs, 2), nlink(&fs, d), nlink(&fs, e)), (4, 3, 2));
        // Up the tree is fine.
        fs.rename(d, b"empty", 2, b"top").unwrap();
        assert_eq!((nlink(&fs, 2), nlink(&fs, d)), (5, 2));
        assert_eq!(fs.parent(sub), Ok(2));
    }

    #[test]
    fn readdir_cookies_survive_changes() {
        let (mut fs, _) = setup(None);
        for i in 0..10 {
            mk(&mut fs, 2, &format!("f{i}"), VType::Reg);
        }
        let all = entries(&mut fs, 2, 0);
        assert_eq!(all.len(), 12);
        assert_eq!((all[0].0.as_str(), all[0].2), (".", 1));
        assert_eq!((all[1].0.as_str(), all[1].2), ("..", 2));
        // Resuming from any entry's next cookie gives the rest.
        for (i, (_, _, next)) in all.iter().enumerate() {
            assert_eq!(entries(&mut fs, 2, *next), all[i + 1..]);
        }

        // Read one entry at a time and change the directory in between.
        let mut seen = Vec::new();
        let mut cookie = 0;
        let mut step = 0;
        loop {
            let mut got = None;
            fs.readdir(2, cookie, &mut |e, next| {
                got = Some((String::from_utf8(e.name.clone()).unwrap(), next));
                false
            })
            .unwrap();
            let Some((name, next)) = got else { break };
            seen.push(name);
            cookie = next;
            step += 1;
            if step == 4 {
                // f1 was seen, f7 was not: neither may show up again.
                fs.remove(2, b"f1").unwrap();
                fs.remove(2, b"f7").unwrap();
                fs.remove(2, b"f2").unwrap();
                mk(&mut fs, 2, "new", VType::Reg);
            }
        }
        let expect = [".", "..", "f0", "f1", "f3", "f4", "f5", "f6", "f8", "f9", "new"];
        assert_eq!(seen, expect);
        // Stopping right away consumes nothing: the same cookie resumes.
        let mut calls = 0;
        fs.readdir(2, 0, &mut |_, _| {
            calls += 1;
            false
        })
        .unwrap();
        assert_eq!(calls, 1);
        assert_eq!(fs.readdir(2, u64::MAX, &mut |_, _| panic!("past the end")), Ok(()));
    }

    #[test]
    fn readdir_reports_types_and_inodes() {
        let (mut fs, _) = setup(None);
        let d = mk(&mut fs, 2, "d", VType::Dir);
        let l = symlink(&mut fs, 2, "l", "d").unwrap();
        let mut got = Vec::new();
        fs.readdir(2, 2, &mut |e, _| {
            got.push((e.name.clone(), e.ino, e.vtype));
            true
        })
        .unwrap();
        assert_eq!(got, [(b"d".to_vec(), d, VType::Dir), (b"l".to_vec(), l, VType::Lnk)]);
        assert_eq!(fs.readdir(l, 0, &mut |_, _| true), Err(ENOTDIR));
        assert_eq!(fs.getattr(2).unwrap().size, 4 * DIRENT_SIZE);
    }

    #[test]
    fn held_unlinked_file_stays_usable_until_released() {
        let (mut fs, _) = setup(Some(1 << 20));
        let f = mk(&mut fs, 2, "f", VType::Reg);
        fs.write(f, 0, &[1u8; 8192]).unwrap();
        fs.hold(f);
        fs.hold(f);
        fs.remove(2, b"f").unwrap();
        assert_eq!(nlink(&fs, f), 0);
        assert_eq!(fs.write(f, 8192, b"more"), Ok(4));
        assert_eq!(read_all(&mut fs, f).len(), 8196);
        assert_eq!(fs.link(2, b"again", f), Err(ENOENT));
        fs.release(f);
        assert!(fs.getattr(f).is_ok());
        fs.release(f);
        assert_eq!(fs.getattr(f), Err(ENOENT));
        // Everything it held was given back.
        assert_eq!(fs.space.used, NODE_BYTES);
        // Stray releases and holds are harmless.
        fs.release(f);
        fs.hold(f);
        fs.release(999);
    }

    #[test]
    fn enospc_with_max_bytes() {
        let max = 64 * 1024;
        let (mut fs, _) = setup(Some(max));
        let st = fs.statfs();
        assert_eq!((st.fstype, st.magic, st.bsize, st.blocks, st.namemax), ("tmpfs", 0x0102_1994, 4096, 16, 255));
        let f = mk(&mut fs, 2, "f", VType::Reg);
        // Metadata takes part of a page, so 15 whole pages fit.
        let big = vec![9u8; max as usize];
        assert_eq!(fs.write(f, 0, &big), Ok(15 * PAGE_SIZE));
        assert_eq!(fs.write(f, 15 * PAGE, b"x"), Err(ENOSPC));
        assert_eq!(fs.getattr(f).unwrap().size, 15 * PAGE);
        // Rewriting allocated pages needs no space.
        assert_eq!(fs.write(f, 0, &big[..8192]), Ok(8192));
        // Holes are free.
        fs.setattr(f, &size_only(1 << 30)).unwrap();
        let st = fs.statfs();
        assert_eq!(st.bfree, 0);
        assert!(st.bavail <= st.bfree && st.files > 0);
        let room = NewNode { ..new_node(VType::Reg) };
        let mut made = 0;
        let err = loop {
            match fs.create(2, format!("n{made}").as_bytes(), &room) {
                Ok(_) => made += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(err, ENOSPC);
        // What is left after the pages: about (4096 - 533) / 278 nodes.
        assert_eq!(made, 12);
        assert_eq!(symlink(&mut fs, 2, "l", &"t".repeat(1000)), Err(ENOSPC));
        // Shrinking gives pages back.
        fs.setattr(f, &size_only(4096)).unwrap();
        assert_eq!(fs.statfs().bfree, 14);
        assert_eq!(fs.write(f, 4096, &[1u8; 4096]), Ok(4096));
        symlink(&mut fs, 2, "l", &"t".repeat(1000)).unwrap();
        // Freeing the file returns everything but the names and nodes left.
        fs.remove(2, b"f").unwrap();
        let names: u64 = (0..made).map(|i| dirent_cost(format!("n{i}").as_bytes())).sum();
        let expect = NODE_BYTES * (2 + made) + names + dirent_cost(b"l") + 1000;
        assert_eq!(fs.space.used, expect);
    }

    #[test]
    fn charges_the_shared_budget_and_gives_it_back() {
        let clock = Arc::new(TestClock(AtomicI64::new(0)));
        let mem = Mem::new(Some(64 * 1024));
        // Someone else holds part of the kernel's memory.
        mem.charge(32 * 1024).unwrap();
        let mut fs = Tmpfs::new(clock, 0o755, 0, 0, mem.clone());
        assert_eq!(mem.used(), 32 * 1024 + NODE_BYTES);
        let st = fs.statfs();
        assert_eq!((st.blocks, st.bfree), (16, 7));
        let f = mk(&mut fs, 2, "f", VType::Reg);
        assert_eq!(fs.write(f, 0, &[1u8; 64 * 1024]), Ok(7 * PAGE_SIZE));
        assert_eq!(fs.write(f, 7 * PAGE, b"x"), Err(ENOSPC));
        mem.uncharge(32 * 1024);
        assert_eq!(fs.write(f, 7 * PAGE, b"x"), Ok(1));
        drop(fs);
        assert_eq!(mem.used(), 0);
    }

    #[test]
    fn unlimited_statfs_is_large() {
        let (fs, _) = setup(None);
        let st = fs.statfs();
        assert_eq!(st.blocks, NOMINAL_BYTES / PAGE);
        assert!(st.bfree > 0 && st.bfree == st.bavail && st.ffree > 0 && st.ffree < st.files);
    }

    #[test]
    fn timestamps() {
        let (mut fs, clock) = setup(None);
        let t0 = clock.now();
        assert_eq!(fs.getattr(2).unwrap().btime, t0);
        clock.advance(1_500);
        let t1 = clock.now();
        let f = mk(&mut fs, 2, "f", VType::Reg);
        let a = fs.getattr(f).unwrap();
        assert_eq!((a.atime, a.mtime, a.ctime, a.btime), (t1, t1, t1, t1));
        assert_eq!(t1.nsec, 1_623);
        let r = fs.getattr(2).unwrap();
        assert_eq!((r.atime, r.mtime, r.ctime), (t0, t1, t1));

        clock.advance(1);
        let t2 = clock.now();
        fs.write(f, 0, b"data").unwrap();
        let a = fs.getattr(f).unwrap();
        assert_eq!((a.atime, a.mtime, a.ctime, a.btime), (t1, t2, t2, t1));
        // An empty write changes nothing.
        clock.advance(1);
        fs.write(f, 0, b"").unwrap();
        assert_eq!(fs.getattr(f).unwrap().mtime, t2);

        clock.advance(1);
        let t3 = clock.now();
        fs.read(f, 0, &mut [0u8; 8]).unwrap();
        let a = fs.getattr(f).unwrap();
        assert_eq!((a.atime, a.mtime, a.ctime), (t3, t2, t2));

        clock.advance(1);
        let t4 = clock.now();
        fs.link(2, b"g", f).unwrap();
        assert_eq!(fs.getattr(f).unwrap().ctime, t4);
        assert_eq!(fs.getattr(f).unwrap().mtime, t2);
        assert_eq!(fs.getattr(2).unwrap().mtime, t4);

        clock.advance(1);
        let t5 = clock.now();
        fs.remove(2, b"g").unwrap();
        assert_eq!(fs.getattr(f).unwrap().ctime, t5);
        assert_eq!(fs.getattr(2).unwrap().ctime, t5);

        clock.advance(1);
        let t6 = clock.now();
        let set = SetAttr { mode: Some(0o4755), ..SetAttr::default() };
        fs.setattr(f, &set).unwrap();
        let a = fs.getattr(f).unwrap();
        assert_eq!((a.mode, a.ctime, a.mtime), (0o4755, t6, t2));
        let when = Timespec { sec: 42, nsec: 7 };
        let set = SetAttr { atime: Some(when), mtime: Some(when), uid: Some(5), gid: Some(6), ..SetAttr::default() };
        fs.setattr(f, &set).unwrap();
        let a = fs.getattr(f).unwrap();
        assert_eq!((a.atime, a.mtime, a.ctime, a.uid, a.gid), (when, when, t6, 5, 6));
        let bad = SetAttr { mtime: Some(Timespec { sec: 0, nsec: 1_000_000_000 }), ..SetAttr::default() };
        assert_eq!(fs.setattr(f, &bad), Err(EINVAL));

        clock.advance(1);
        let t7 = clock.now();
        fs.setattr(f, &size_only(1)).unwrap();
        let a = fs.getattr(f).unwrap();
        assert_eq!((a.mtime, a.ctime), (t7, t7));

        clock.advance(1);
        let t8 = clock.now();
        fs.readdir(2, 0, &mut |_, _| true).unwrap();
        assert_eq!(fs.getattr(2).unwrap().atime, t8);
        fs.setattr(f, &SetAttr::default()).unwrap();
        assert_eq!(fs.getattr(f).unwrap().ctime, t7);
    }

    #[test]
    fn failed_setattr_changes_nothing() {
        let (mut fs, _) = setup(None);
        let d = mk(&mut fs, 2, "d", VType::Dir);
        let set = SetAttr { mode: Some(0o700), size: Some(0), ..SetAttr::default() };
        assert_eq!(fs.setattr(d, &set), Err(EISDIR));
        assert_eq!(fs.getattr(d).unwrap().mode, 0o644);
    }
}
