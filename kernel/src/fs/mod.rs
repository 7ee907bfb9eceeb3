//! The file systems: each implements `vfs::FileSystem`.
//!
//! - `tmpfs`: memory-backed files, the kernel's root;
//! - `devfs`: the device nodes on `/dev`;
//! - `etfs`: a host file at a path of the kernel (rump_server `-d`);
//! - `hostfs`: a host directory at a path of the kernel, confined to it
//!   (rump_server and `rumpctl run` `-m`);
//! - `procfs`: `/proc/net` and `/proc/sys/net` in Linux's formats.
//!
//! Also here: what mounting at a path given from outside needs, shared by
//! etfs and hostfs — checking such a path and making its directories.

pub mod devfs;
pub mod etfs;
pub mod hostfs;
pub mod procfs;
pub mod tmpfs;

use rump_abi::native::errno::{EINVAL, ENAMETOOLONG, ENOENT, ENOTDIR};
use rump_abi::Errno;

use crate::cred::Cred;
use crate::vfs::mount::Vnode;
use crate::vfs::namei::WalkFrom;
use crate::vfs::{NewNode, VType, NAME_MAX, PATH_MAX};
use crate::State;

/// Symlinks followed while walking a mount path's directories (NetBSD's
/// limit).
const MOUNT_MAX_SYMLINKS: u32 = 32;

/// The components of an absolute path naming where to mount: no `.` or
/// `..` (a mount path is written by whoever starts the kernel and should
/// mean what it says), no NUL, each at most `NAME_MAX` bytes. `/` alone has
/// none, which callers refuse.
pub(crate) fn mount_path_components(path: &[u8]) -> Result<Vec<&[u8]>, Errno> {
    if path.first() != Some(&b'/') || path.contains(&0) {
        return Err(EINVAL);
    }
    if path.len() >= PATH_MAX {
        return Err(ENAMETOOLONG);
    }
    let comps: Vec<&[u8]> = path.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect();
    if comps.iter().any(|c| matches!(*c, b"." | b"..")) {
        return Err(EINVAL);
    }
    if comps.iter().any(|c| c.len() > NAME_MAX) {
        return Err(ENAMETOOLONG);
    }
    Ok(comps)
}

/// `/a/b` for components `a`, `b`: the path a mount records.
pub(crate) fn join_components(comps: &[&[u8]]) -> Vec<u8> {
    let mut path = Vec::new();
    for c in comps {
        path.push(b'/');
        path.extend_from_slice(c);
    }
    if path.is_empty() {
        path.push(b'/');
    }
    path
}

impl State {
    /// The directory holding absolute path `path` and its last name,
    /// looked up from the system root as root without making anything.
    pub(crate) fn mount_parent(&mut self, path: &[u8]) -> Result<(Vnode, Vec<u8>), Errno> {
        let root = self.mounts.system_root();
        let from = WalkFrom { root, start: root, cred: Cred::root(), max_symlinks: MOUNT_MAX_SYMLINKS };
        let par = self.namei_parent(&from, path)?;
        Ok((par.dir, par.name.to_vec()))
    }

    /// Walks `comps` from the system root as root, making each missing
    /// directory (0755, root's) like `mkdir -p`, and returns the last one
    /// (the root for no components). ENOTDIR if one exists as something
    /// else.
    pub(crate) fn make_dirs(&mut self, comps: &[&[u8]]) -> Result<Vnode, Errno> {
        let root = self.mounts.system_root();
        let from = WalkFrom { root, start: root, cred: Cred::root(), max_symlinks: MOUNT_MAX_SYMLINKS };
        let mut dir = root;
        for i in 0..comps.len() {
            let path = join_components(&comps[..=i]);
            dir = match self.namei(&from, &path, true) {
                Ok(vn) => vn,
                Err(e) if e == ENOENT => {
                    let par = self.namei_parent(&from, &path)?;
                    let new = NewNode { vtype: VType::Dir, mode: 0o755, uid: 0, gid: 0, rdev: 0, target: Vec::new() };
                    let node = self.mounts.fs(par.dir.mnt).create(par.dir.node, &par.name, &new)?;
                    Vnode { mnt: par.dir.mnt, node }
                }
                Err(e) => return Err(e),
            };
            if self.mounts.fs(dir.mnt).getattr(dir.node)?.vtype != VType::Dir {
                return Err(ENOTDIR);
            }
        }
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths() {
        assert_eq!(mount_path_components(b"/a//b/"), Ok(vec![&b"a"[..], b"b"]));
        assert_eq!(mount_path_components(b"/"), Ok(vec![]));
        assert_eq!(mount_path_components(b"a/b"), Err(EINVAL));
        assert_eq!(mount_path_components(b"/a/../b"), Err(EINVAL));
        assert_eq!(mount_path_components(b"/a/./b"), Err(EINVAL));
        assert_eq!(mount_path_components(b"/a\0b"), Err(EINVAL));
        let long = [b"/".to_vec(), vec![b'y'; NAME_MAX + 1]].concat();
        assert_eq!(mount_path_components(&long), Err(ENAMETOOLONG));
        assert_eq!(join_components(&[b"a", b"b"]), b"/a/b");
        assert_eq!(join_components(&[]), b"/");
    }
}
