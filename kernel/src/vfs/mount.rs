//! The mount table: which file system answers for which directory.

use super::{FileSystem, NodeId};

/// Index of a mount in the table.
pub type MountId = usize;

/// A node of a particular mounted file system: the kernel's vnode handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Vnode {
    pub mnt: MountId,
    pub node: NodeId,
}

pub struct Mount {
    pub fs: Box<dyn FileSystem>,
    /// The directory this mount covers; `None` for the root mount.
    pub covered: Option<Vnode>,
    /// Where it is mounted, as an absolute path (for mountinfo and getcwd).
    pub path: Vec<u8>,
    /// Device number reported as st_dev for its nodes.
    pub dev: u64,
}

#[derive(Default)]
pub struct MountTable {
    mounts: Vec<Mount>,
    /// Covered directory → the mount on top of it.
    on_top: crate::idmap::IdMap<Vnode, MountId>,
}

impl MountTable {
    /// Adds a mount. The first one becomes the root. The caller has checked
    /// that `covered` is not already covered; it is a directory, or the node
    /// an etfs key names (the walk then ends at a non-directory root, as at
    /// any file).
    pub fn add(&mut self, fs: Box<dyn FileSystem>, covered: Option<Vnode>, path: Vec<u8>) -> MountId {
        let id = self.mounts.len();
        // Distinct device numbers under a major Linux never hands out
        // (4095), so a program comparing st_dev with the host's mount
        // table (df) cannot confuse a rump mount with a host one.
        let dev = linux_makedev(4095, id as u64);
        self.mounts.push(Mount { fs, covered, path, dev });
        if let Some(c) = covered {
            self.on_top.insert(c, id);
        }
        id
    }

    /// Takes the mount on `covered` out of the namespace (a lazy unmount:
    /// vnodes already held keep working); the mount that was there, if any.
    pub fn detach(&mut self, covered: Vnode) -> Option<MountId> {
        self.on_top.remove(&covered)
    }

    pub fn get(&self, id: MountId) -> &Mount {
        &self.mounts[id]
    }

    pub fn fs(&mut self, id: MountId) -> &mut dyn FileSystem {
        self.mounts[id].fs.as_mut()
    }

    pub fn root(&self, id: MountId) -> Vnode {
        Vnode { mnt: id, node: self.mounts[id].fs.root() }
    }

    /// The mount whose root is the system root.
    pub fn system_root(&self) -> Vnode {
        self.root(0)
    }

    /// If a file system is mounted on `vn`, the root of the topmost one.
    pub fn cross_down(&self, mut vn: Vnode) -> Vnode {
        while let Some(&m) = self.on_top.get(&vn) {
            vn = self.root(m);
        }
        vn
    }

    /// If `vn` is the root of a non-root mount, the directory it covers.
    pub fn cross_up(&self, vn: Vnode) -> Option<Vnode> {
        let m = &self.mounts[vn.mnt];
        (vn.node == m.fs.root()).then_some(m.covered).flatten()
    }

    pub fn iter(&self) -> impl Iterator<Item = (MountId, &Mount)> {
        self.mounts.iter().enumerate()
    }
}

/// glibc's `makedev` encoding of a Linux device number.
fn linux_makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfff) << 8) | ((major & !0xfff) << 32) | (minor & 0xff) | ((minor & !0xff) << 12)
}
