//! The one path walk: components, `.` and `..` (across mounts), symlinks
//! (ELOOP past `MAXSYMLINKS`), trailing slashes, search permission,
//! ENAMETOOLONG.

use super::mount::Vnode;
use super::{VType, NAME_MAX, PATH_MAX};
use crate::cred::{check_access, Cred, X};
use crate::event::vnode::Link;
use crate::State;
use rump_abi::native::errno::{ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR};
use rump_abi::Errno;

/// Where a walk starts, with whose rights, and how many symlinks it may
/// follow before ELOOP (the caller's emulation decides: NetBSD 32, Linux 40).
#[derive(Clone)]
pub struct WalkFrom {
    /// The process's root: absolute paths start here and `..` stops here.
    pub root: Vnode,
    /// Relative paths start here (cwd or a dirfd).
    pub start: Vnode,
    pub cred: Cred,
    pub max_symlinks: u32,
}

/// The directory holding a path's last component, for calls that create,
/// remove or rename it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parent {
    pub dir: Vnode,
    /// The last component; may be `.` or `..`, which callers refuse.
    pub name: Vec<u8>,
    /// The path ended in `/`: the named object must be a directory.
    pub trailing_slash: bool,
}

enum Stop {
    Node,
    /// At the node, remembering the name it was found by.
    NamedNode,
    Parent,
}

enum Walked {
    Node(Vnode),
    Named(Vnode, Link),
    Parent(Parent),
}

/// Splits `rest` after leading slashes into (component, remainder).
fn next_component(rest: &[u8]) -> (&[u8], &[u8]) {
    let start = rest.iter().position(|&b| b != b'/').unwrap_or(rest.len());
    let rest = &rest[start..];
    let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    (&rest[..end], &rest[end..])
}

impl State {
    /// Resolves `path` to a vnode, following a final symlink if `follow`.
    pub fn namei(&mut self, from: &WalkFrom, path: &[u8], follow: bool) -> Result<Vnode, Errno> {
        match self.walk(from, path, follow, Stop::Node)? {
            Walked::Node(vn) | Walked::Named(vn, _) => Ok(vn),
            Walked::Parent(_) => Err(ENOENT),
        }
    }

    /// As `namei`, with the name the walk found the vnode by (none for a
    /// path ending in `.`, `..` or only slashes).
    pub fn namei_linked(&mut self, from: &WalkFrom, path: &[u8], follow: bool) -> Result<(Vnode, Option<Link>), Errno> {
        match self.walk(from, path, follow, Stop::NamedNode)? {
            Walked::Node(vn) => Ok((vn, None)),
            Walked::Named(vn, link) => Ok((vn, Some(link))),
            Walked::Parent(_) => Err(ENOENT),
        }
    }

    /// Resolves all but the last component of `path`. A path with no
    /// component of its own (`/`) names no parent: the root stands for
    /// itself with name `.`.
    pub fn namei_parent(&mut self, from: &WalkFrom, path: &[u8]) -> Result<Parent, Errno> {
        match self.walk(from, path, false, Stop::Parent)? {
            Walked::Parent(p) => Ok(p),
            Walked::Node(dir) | Walked::Named(dir, _) => Ok(Parent { dir, name: b".".to_vec(), trailing_slash: true }),
        }
    }

    /// Is `vn` a directory the walker may search?
    fn search_dir(&mut self, vn: Vnode, cred: &Cred) -> Result<(), Errno> {
        let attr = self.mounts.fs(vn.mnt).getattr(vn.node)?;
        if attr.vtype != VType::Dir {
            return Err(ENOTDIR);
        }
        check_access(cred, &attr, X)
    }

    /// The parent of directory `vn`, crossing up out of mounts and never
    /// above `root`.
    pub fn dotdot(&mut self, mut vn: Vnode, root: Vnode) -> Result<Vnode, Errno> {
        loop {
            if vn == root {
                return Ok(vn);
            }
            match self.mounts.cross_up(vn) {
                Some(covered) => vn = covered,
                None => break,
            }
        }
        let parent = self.mounts.fs(vn.mnt).parent(vn.node)?;
        Ok(Vnode { mnt: vn.mnt, node: parent })
    }

    fn walk(&mut self, from: &WalkFrom, path: &[u8], follow: bool, stop: Stop) -> Result<Walked, Errno> {
        if path.is_empty() {
            return Err(ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(ENAMETOOLONG);
        }
        let mut cur = if path[0] == b'/' { from.root } else { from.start };
        let mut rest = path.to_vec();
        let mut links = 0;
        loop {
            let (comp, after) = next_component(&rest);
            if comp.is_empty() {
                // Nothing left but slashes: the walk ends at a directory.
                self.search_dir(cur, &from.cred)?;
                return Ok(Walked::Node(cur));
            }
            if comp.len() > NAME_MAX {
                return Err(ENAMETOOLONG);
            }
            self.search_dir(cur, &from.cred)?;
            let is_last = after.iter().all(|&b| b == b'/');
            let trailing_slash = is_last && !after.is_empty();
            if is_last && matches!(stop, Stop::Parent) {
                let name = comp.to_vec();
                return Ok(Walked::Parent(Parent { dir: cur, name, trailing_slash }));
            }
            let next = match comp {
                b"." => cur,
                b".." => self.dotdot(cur, from.root)?,
                name => {
                    let node = self.mounts.fs(cur.mnt).lookup(cur.node, name)?;
                    self.mounts.cross_down(Vnode { mnt: cur.mnt, node })
                }
            };
            let attr = self.mounts.fs(next.mnt).getattr(next.node)?;
            if attr.vtype == VType::Lnk && (!is_last || follow || trailing_slash) {
                links += 1;
                if links > from.max_symlinks {
                    return Err(ELOOP);
                }
                let target = self.mounts.fs(next.mnt).readlink(next.node)?;
                if target.is_empty() {
                    return Err(ENOENT);
                }
                if target[0] == b'/' {
                    cur = from.root;
                }
                let mut spliced = target;
                spliced.extend_from_slice(after);
                if spliced.len() >= PATH_MAX {
                    return Err(ENAMETOOLONG);
                }
                rest = spliced;
                continue;
            }
            if is_last {
                if trailing_slash && attr.vtype != VType::Dir {
                    return Err(ENOTDIR);
                }
                if matches!(stop, Stop::NamedNode) && !matches!(comp, b"." | b"..") {
                    return Ok(Walked::Named(next, Link { dir: cur, name: comp.into() }));
                }
                return Ok(Walked::Node(next));
            }
            cur = next;
            rest = after.to_vec();
        }
    }
}
