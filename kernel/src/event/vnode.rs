//! What happens to vnodes and to directory entries, told once for every
//! flavour: kqueue's EVFILT_VNODE reads the NOTE_* bits, inotify reads
//! the same bits plus the entry a directory change is about (its name,
//! whether it was created, removed or moved, with the move's cookie) and
//! the changes to files *in* a watched directory, which Linux reports on
//! the directory's watch under the file's name.
//!
//! A file reached by name remembers that name (`Link`: its directory and
//! last component, as Linux's dentry does), so a change made through an
//! open file later reaches its directory's watchers too.

use super::{Hint, Source, Wake};
use crate::file::FileId;
use crate::vfs::mount::Vnode;
use crate::vfs::namei::Parent;
use crate::vfs::VType;
use crate::State;

/// The name a vnode was reached by: the directory and the last component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub dir: Vnode,
    pub name: Box<[u8]>,
}

/// A change to a directory's entry `name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a [u8],
    pub change: Change,
    /// The entry is (was) a directory.
    pub isdir: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Created,
    Removed,
    /// Renamed away; both halves of one rename share the cookie.
    MovedFrom(u32),
    MovedTo(u32),
    /// Something happened to the file itself (NOTE_* bits); `unlinked`:
    /// it has no name left (IN_EXCL_UNLINK watches ignore it then).
    Child {
        bits: u32,
        unlinked: bool,
    },
}

impl State {
    /// A change of NOTE_* `bits` to `vn` itself.
    pub fn vnote(&mut self, vn: Vnode, bits: u32) {
        self.knote(Source::Vnode(vn), Hint { wake: Wake::None, vnode: bits, entry: None });
    }

    /// A change of NOTE_* `bits` to `vn`, reached through `link`: its own
    /// watchers hear it, and so do its directory's, under its name.
    pub fn vnote_linked(&mut self, vn: Vnode, link: Option<&Link>, bits: u32) {
        self.vnote(vn, bits);
        let Some(link) = link.filter(|l| self.events.watched(Source::Vnode(l.dir))) else { return };
        let attr = self.mounts.fs(vn.mnt).getattr(vn.node);
        let (isdir, unlinked) = attr.map_or((false, true), |a| (a.vtype == VType::Dir, a.nlink == 0));
        let change = Change::Child { bits, unlinked };
        self.entry_note(link.dir, 0, Entry { name: &link.name, change, isdir });
    }

    /// A change of NOTE_* `bits` to `vn`, made through open file `file`.
    pub fn vnote_file(&mut self, file: FileId, vn: Vnode, bits: u32) {
        let link = self.files.get(file).and_then(|f| f.link.as_ref());
        let link = link.filter(|l| self.events.watched(Source::Vnode(l.dir))).cloned();
        self.vnote_linked(vn, link.as_ref(), bits);
    }

    /// Whether a change to `vn` (reached through `link`) has anyone to
    /// tell, so callers skip work only a note needs.
    pub fn vnode_watched(&self, vn: Vnode, link: Option<&Link>) -> bool {
        self.events.watched(Source::Vnode(vn)) || link.is_some_and(|l| self.events.watched(Source::Vnode(l.dir)))
    }

    /// A change to directory `dir`: NOTE_* `bits` for kqueue, `entry` for
    /// inotify.
    pub fn entry_note(&mut self, dir: Vnode, bits: u32, entry: Entry) {
        self.knote(Source::Vnode(dir), Hint { wake: Wake::None, vnode: bits, entry: Some(entry) });
    }

    /// A rename moved `from` to `to`: open files reached by the old name
    /// now have the new one, as a dentry moves on Linux.
    pub fn relink_files(&mut self, from: &Parent, to: &Parent) {
        for (_, f) in self.files.iter_mut() {
            if let Some(link) = f.link.as_mut().filter(|l| l.dir == from.dir && *l.name == *from.name) {
                *link = Link { dir: to.dir, name: to.name.as_slice().into() };
            }
        }
    }

    /// A new cookie tying the two halves of a rename together.
    pub fn rename_cookie(&mut self) -> u32 {
        self.events.cookie = self.events.cookie.wrapping_add(1);
        self.events.cookie
    }
}
