//! Calls that name files: resolving a (dirfd, path) pair, open, and the
//! namespace changes — mkdir, mknod, symlink, link, unlink, rmdir, rename,
//! readlink.

use super::attr::Target;
use crate::cred::{check_access, Cred, R, W, X};
use crate::event::vnode::{Change, Entry, Link};
use crate::event::{Hint, Source, Wake};
use crate::file::{FileKind, OpenFile};
use crate::mem;
use crate::pipe::Pipe;
use crate::vfs::mount::Vnode;
use crate::vfs::namei::{Parent, WalkFrom};
use crate::vfs::{Attr, NewNode, SetAttr, VType};
use crate::Cx;
use rump_abi::native::errno::*;
use rump_abi::native::flags::*;
use rump_abi::Errno;

/// Status flags an open file keeps (F_GETFL shows them).
const KEPT_FLAGS: u32 =
    O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC | O_DIRECT | O_PATH | O_DIRECTORY | O_NOFOLLOW;

impl Cx<'_> {
    /// The directory a relative path starts from: the cwd for AT_FDCWD,
    /// else the directory open at `dirfd`.
    fn start_dir(&mut self, dirfd: i32, path: &[u8]) -> Result<Vnode, Errno> {
        if dirfd == AT_FDCWD || path.first() == Some(&b'/') {
            return Ok(self.proc().cwd);
        }
        match self.file(dirfd)?.kind {
            FileKind::Vnode(vn) => {
                if self.st.mounts.fs(vn.mnt).getattr(vn.node)?.vtype != VType::Dir && !path.is_empty() {
                    return Err(ENOTDIR);
                }
                Ok(vn)
            }
            _ => Err(ENOTDIR),
        }
    }

    pub fn cred(&self) -> Cred {
        self.proc().cred.clone()
    }

    /// A walk from `start` with the caller's root, rights and symlink limit.
    pub fn walk_from(&self, start: Vnode) -> WalkFrom {
        let p = self.proc();
        WalkFrom { root: p.root, start, cred: p.cred.clone(), max_symlinks: p.emul.max_symlinks() }
    }

    /// Resolves `path` relative to `dirfd`.
    pub fn lookup_at(&mut self, dirfd: i32, path: &[u8], follow: bool) -> Result<Vnode, Errno> {
        let start = self.start_dir(dirfd, path)?;
        let from = self.walk_from(start);
        self.st.namei(&from, path, follow)
    }

    /// As `lookup_at`, with the name the vnode was found by.
    pub fn lookup_at_linked(&mut self, dirfd: i32, path: &[u8], follow: bool) -> Result<(Vnode, Option<Link>), Errno> {
        let start = self.start_dir(dirfd, path)?;
        let from = self.walk_from(start);
        self.st.namei_linked(&from, path, follow)
    }

    /// Resolves all but the last component of `path` relative to `dirfd`.
    pub fn parent_at(&mut self, dirfd: i32, path: &[u8]) -> Result<Parent, Errno> {
        let start = self.start_dir(dirfd, path)?;
        let from = self.walk_from(start);
        self.st.namei_parent(&from, path)
    }

    pub fn getattr(&mut self, vn: Vnode) -> Result<Attr, Errno> {
        self.st.mounts.fs(vn.mnt).getattr(vn.node)
    }

    /// May the caller add or remove names in `dir`?
    fn check_dir_write(&mut self, dir: Vnode) -> Result<(), Errno> {
        let a = self.getattr(dir)?;
        check_access(&self.proc().cred, &a, W | X)
    }

    /// The sticky-bit rule: in a sticky directory only the owner of the
    /// entry or of the directory (or root) may remove or rename it.
    fn check_sticky(&mut self, dir: Vnode, victim: &Attr) -> Result<(), Errno> {
        let d = self.getattr(dir)?;
        let cred = &self.proc().cred;
        if d.mode & S_ISVTX != 0 && !cred.is_root() && cred.uid != d.uid && cred.uid != victim.uid {
            return Err(EPERM);
        }
        Ok(())
    }

    /// A node for the caller to create: its ids and the umask applied.
    fn new_node(&mut self, dir: Vnode, vtype: VType, mode: u32, rdev: u64, target: Vec<u8>) -> Result<NewNode, Errno> {
        let d = self.getattr(dir)?;
        let p = self.proc();
        // BSD group semantics where the directory asks for them (setgid).
        let gid = if d.mode & S_ISGID != 0 { d.gid } else { p.cred.gid };
        let mode = if vtype == VType::Lnk { 0o777 } else { mode & 0o7777 & !p.umask };
        Ok(NewNode { vtype, mode, uid: p.cred.uid, gid, rdev, target })
    }

    fn lookup_in(&mut self, dir: Vnode, name: &[u8]) -> Result<Vnode, Errno> {
        let node = self.st.mounts.fs(dir.mnt).lookup(dir.node, name)?;
        Ok(Vnode { mnt: dir.mnt, node })
    }

    /// open/openat with native flags. Returns the new fd.
    pub fn open_at(&mut self, dirfd: i32, path: &[u8], flags: u32, mode: u32) -> Result<i32, Errno> {
        // Room for the open file comes first, as NetBSD's fd_allocfile
        // precedes vn_open: short of memory, open is ENOMEM and creates
        // nothing. `install` takes the room over.
        let room = self.st.mem.reserve(mem::FILE_BYTES)?;
        let follow = flags & O_NOFOLLOW == 0;
        let (vn, created, link) = if flags & O_CREAT != 0 {
            self.open_create(dirfd, path, flags, mode)?
        } else {
            let (vn, link) = self.lookup_at_linked(dirfd, path, follow)?;
            (vn, false, link)
        };
        let attr = self.getattr(vn)?;
        let mut file = OpenFile::new(FileKind::Vnode(vn), flags & KEPT_FLAGS);
        if attr.vtype == VType::Lnk && flags & O_PATH == 0 {
            return Err(ELOOP);
        }
        if flags & O_DIRECTORY != 0 && attr.vtype != VType::Dir {
            return Err(ENOTDIR);
        }
        if flags & O_PATH == 0 {
            if attr.vtype == VType::Dir && (file.writable() || flags & (O_TRUNC | O_CREAT) != 0) {
                return Err(EISDIR);
            }
            // Before any permission check, as Linux: root gets EROFS too.
            if (file.writable() || flags & O_TRUNC != 0)
                && attr.vtype == VType::Reg
                && self.st.mounts.get(vn.mnt).fs.read_only()
            {
                return Err(EROFS);
            }
            if !created {
                // O_TRUNC needs write permission even on a read-only open.
                let writes = file.writable() || flags & O_TRUNC != 0;
                let want = if file.readable() { R } else { 0 } | if writes { W } else { 0 };
                check_access(&self.proc().cred, &attr, want)?;
            }
            match attr.vtype {
                VType::Fifo => {
                    drop(room);
                    return self.open_fifo(vn, file, flags & O_CLOEXEC != 0);
                }
                // Sockets are reached with connect; a device node works only
                // where its file system drives the device.
                VType::Sock => return Err(ENXIO),
                VType::Chr | VType::Blk if !self.st.mounts.get(vn.mnt).fs.drives_devices() => return Err(ENXIO),
                _ => {}
            }
        }
        // A file this open made is empty already: no truncation to tell of
        // (Linux drops O_TRUNC for it).
        let truncate = flags & (O_TRUNC | O_PATH) == O_TRUNC && attr.vtype == VType::Reg && !created;
        if truncate {
            self.st.mounts.fs(vn.mnt).setattr(vn.node, &SetAttr { size: Some(0), ..SetAttr::default() })?;
        }
        self.st.vref(vn);
        drop(room);
        let noted = link.as_ref().filter(|l| self.st.vnode_watched(l.dir, None)).cloned();
        file.link = link;
        match self.install(file, 0, flags & O_CLOEXEC != 0) {
            Ok(fd) => {
                // An O_PATH file is a handle, not an open: nothing to tell.
                if flags & O_PATH == 0 {
                    self.st.vnote_linked(vn, noted.as_ref(), NOTE_OPEN | if truncate { NOTE_WRITE } else { 0 });
                }
                Ok(fd)
            }
            Err(e) => {
                self.st.vrele(vn);
                Err(e)
            }
        }
    }

    /// The O_CREAT half of open: finds or creates the file, following a
    /// final symlink (even a dangling one, whose target is then created)
    /// unless O_NOFOLLOW or O_EXCL. Returns the vnode, whether it is new,
    /// and the name it has.
    fn open_create(
        &mut self,
        dirfd: i32,
        path: &[u8],
        flags: u32,
        mode: u32,
    ) -> Result<(Vnode, bool, Option<Link>), Errno> {
        let start = self.start_dir(dirfd, path)?;
        let mut from = self.walk_from(start);
        let mut path = path.to_vec();
        for _ in 0..=from.max_symlinks {
            let par = self.st.namei_parent(&from, &path)?;
            let name = match par.name.as_slice() {
                b"." | b".." if flags & O_EXCL != 0 => return Err(EEXIST),
                b"." | b".." => return Ok((self.st.namei(&from, &path, true)?, false, None)),
                name => name,
            };
            match self.lookup_in(par.dir, name) {
                Ok(_) if flags & O_EXCL != 0 => return Err(EEXIST),
                Ok(found) => {
                    let found = self.st.mounts.cross_down(found);
                    if self.getattr(found)?.vtype != VType::Lnk || flags & O_NOFOLLOW != 0 {
                        return Ok((found, false, Some(Link { dir: par.dir, name: name.into() })));
                    }
                    path = self.st.mounts.fs(found.mnt).readlink(found.node)?;
                    from.start = par.dir;
                }
                Err(e) if e == ENOENT => {
                    if par.trailing_slash {
                        return Err(EISDIR);
                    }
                    self.check_dir_write(par.dir)?;
                    let new = self.new_node(par.dir, VType::Reg, mode, 0, Vec::new())?;
                    let node = self.st.mounts.fs(par.dir.mnt).create(par.dir.node, name, &new)?;
                    let created = Entry { name, change: Change::Created, isdir: false };
                    self.st.entry_note(par.dir, NOTE_WRITE, created);
                    let link = Link { dir: par.dir, name: name.into() };
                    return Ok((Vnode { mnt: par.dir.mnt, node }, true, Some(link)));
                }
                Err(e) => return Err(e),
            }
        }
        Err(ELOOP)
    }

    /// Opens a named pipe: attaches to the pipe behind `vn` (made on the
    /// first open) and, unless non-blocking or read-write, waits for the
    /// other side as Linux does. A non-blocking writer with no reader gets
    /// ENXIO.
    fn open_fifo(&mut self, vn: Vnode, mut file: OpenFile, cloexec: bool) -> Result<i32, Errno> {
        let (r, w, nonblock) = (file.readable(), file.writable(), file.nonblocking());
        let id = match self.st.fifos.get(&vn) {
            Some(&id) => id,
            None => {
                let id = self.st.alloc_pipe(Pipe::fifo())?;
                self.st.fifos.insert(vn, id);
                id
            }
        };
        file.kind = FileKind::Pipe { id, fifo: Some(vn) };
        let st = &mut *self.st;
        let p = st.pipes.get_mut(id).ok_or(ENXIO)?;
        if w && !r && nonblock && p.readers == 0 {
            if p.writers == 0 {
                st.free_pipe(id);
                st.fifos.remove(&vn);
            }
            return Err(ENXIO);
        }
        let (seen_readers, seen_writers) = (p.reader_opens, p.writer_opens);
        if r && !w && nonblock && p.writers == 0 {
            file.hup_from = p.writer_opens;
        }
        p.readers += r as usize;
        p.writers += w as usize;
        p.reader_opens += r as u64;
        p.writer_opens += w as u64;
        p.rchan.notify_all();
        p.wchan.notify_all();
        // Linux wakes epoll when the first reader or writer comes.
        let first = (r && p.readers == 1) || (w && p.writers == 1);
        st.knote(Source::Pipe(id), Hint::wake(if first { Wake::All } else { Wake::None }));
        // Counted as an open end from here on: closing the file undoes it.
        self.st.vref(vn);
        let fd = match self.install(file, 0, cloexec) {
            Ok(fd) => fd,
            Err(e) => {
                self.st.pipe_ends_closed(id, Some(vn), r, w);
                self.st.vrele(vn);
                return Err(e);
            }
        };
        if !nonblock && r != w {
            while let Some(p) = self.st.pipes.get(id) {
                let other_came = if r {
                    p.writers > 0 || p.writer_opens != seen_writers
                } else {
                    p.readers > 0 || p.reader_opens != seen_readers
                };
                if other_came {
                    break;
                }
                let chan = if r { p.rchan.clone() } else { p.wchan.clone() };
                if let Err(e) = self.sleep(&chan) {
                    // An interrupted open opens nothing.
                    self.st.close_fd(self.pid, fd)?;
                    return Err(e);
                }
            }
        }
        Ok(fd)
    }

    /// Creates a name for a new node of type `vtype` at (dirfd, path).
    /// `allowed` false: the caller may not make this kind of node (EPERM,
    /// reported after the directory checks, as Linux orders them).
    #[allow(clippy::too_many_arguments)]
    fn make_node(
        &mut self,
        dirfd: i32,
        path: &[u8],
        vtype: VType,
        mode: u32,
        rdev: u64,
        target: Vec<u8>,
        allowed: bool,
    ) -> Result<(), Errno> {
        let par = self.parent_at(dirfd, path)?;
        if matches!(par.name.as_slice(), b"." | b"..") {
            return Err(EEXIST);
        }
        if par.trailing_slash && vtype != VType::Dir {
            // `mknod("x/")` names a directory that cannot be what we make.
            return match self.lookup_in(par.dir, &par.name) {
                Ok(_) => Err(EEXIST),
                Err(_) => Err(ENOENT),
            };
        }
        self.check_dir_write(par.dir)?;
        if !allowed {
            return Err(EPERM);
        }
        let new = self.new_node(par.dir, vtype, mode, rdev, target)?;
        self.st.mounts.fs(par.dir.mnt).create(par.dir.node, &par.name, &new)?;
        // A new subdirectory's `..` is a new link to its parent.
        let isdir = vtype == VType::Dir;
        let created = Entry { name: &par.name, change: Change::Created, isdir };
        self.st.entry_note(par.dir, NOTE_WRITE | if isdir { NOTE_LINK } else { 0 }, created);
        Ok(())
    }

    pub fn mkdir_at(&mut self, dirfd: i32, path: &[u8], mode: u32) -> Result<(), Errno> {
        self.make_node(dirfd, path, VType::Dir, mode & 0o1777, 0, Vec::new(), true)
    }

    /// mknod with a native st_mode (type bits + permissions).
    pub fn mknod_at(&mut self, dirfd: i32, path: &[u8], mode: u32, rdev: u64) -> Result<(), Errno> {
        let vtype = match mode & S_IFMT {
            0 | S_IFREG => VType::Reg,
            S_IFIFO => VType::Fifo,
            S_IFSOCK => VType::Sock,
            S_IFCHR => VType::Chr,
            S_IFBLK => VType::Blk,
            S_IFDIR => return Err(EPERM),
            _ => return Err(EINVAL),
        };
        let privileged = !matches!(vtype, VType::Chr | VType::Blk) || self.proc().cred.is_root();
        self.make_node(dirfd, path, vtype, mode & 0o7777, rdev, Vec::new(), privileged)
    }

    pub fn symlink_at(&mut self, target: &[u8], dirfd: i32, path: &[u8]) -> Result<(), Errno> {
        if target.is_empty() {
            return Err(ENOENT);
        }
        self.make_node(dirfd, path, VType::Lnk, 0o777, 0, target.to_vec(), true)
    }

    pub fn readlink_at(&mut self, dirfd: i32, path: &[u8]) -> Result<Vec<u8>, Errno> {
        let vn = self.lookup_at(dirfd, path, false)?;
        self.st.mounts.fs(vn.mnt).readlink(vn.node)
    }

    /// A new name (newdirfd, newpath) for the file `old` names.
    pub fn link_at(&mut self, old: Target, newdirfd: i32, newpath: &[u8]) -> Result<(), Errno> {
        let old = self.target(old)?;
        let attr = self.getattr(old)?;
        if attr.vtype == VType::Dir {
            return Err(EPERM);
        }
        // A file whose last name is gone cannot get a new one.
        if attr.nlink == 0 {
            return Err(ENOENT);
        }
        let par = self.parent_at(newdirfd, newpath)?;
        if matches!(par.name.as_slice(), b"." | b"..") {
            return Err(EEXIST);
        }
        if par.dir.mnt != old.mnt {
            return Err(EXDEV);
        }
        self.check_dir_write(par.dir)?;
        if par.trailing_slash {
            return Err(ENOENT);
        }
        self.st.mounts.fs(par.dir.mnt).link(par.dir.node, &par.name, old.node)?;
        self.st.vnote(old, NOTE_LINK);
        let created = Entry { name: &par.name, change: Change::Created, isdir: false };
        self.st.entry_note(par.dir, NOTE_WRITE, created);
        Ok(())
    }

    /// Whether `vn`, with attributes `attr`, is gone once it loses a name:
    /// with its last name, or as a directory.
    fn gone_with_name(attr: &Attr) -> bool {
        attr.vtype == VType::Dir || attr.nlink <= 1
    }

    /// unlink (`rmdir` false) or rmdir (`rmdir` true).
    pub fn unlink_at(&mut self, dirfd: i32, path: &[u8], rmdir: bool) -> Result<(), Errno> {
        let par = self.parent_at(dirfd, path)?;
        match (par.name.as_slice(), rmdir) {
            // The root itself (a path of slashes) is in use.
            (b".", true) if path.iter().all(|&b| b == b'/') => return Err(EBUSY),
            (b".", true) => return Err(EINVAL),
            (b"..", true) => return Err(ENOTEMPTY),
            (b"." | b"..", false) => return Err(EISDIR),
            _ => {}
        }
        let vn = self.lookup_in(par.dir, &par.name)?;
        self.check_dir_write(par.dir)?;
        if self.st.mounts.cross_down(vn) != vn {
            return Err(EBUSY);
        }
        let attr = self.getattr(vn)?;
        self.check_sticky(par.dir, &attr)?;
        let fs = self.st.mounts.fs(par.dir.mnt);
        if rmdir {
            fs.rmdir(par.dir.node, &par.name)?;
        } else if attr.vtype == VType::Dir {
            return Err(EISDIR);
        } else if par.trailing_slash {
            return Err(ENOTDIR);
        } else {
            fs.remove(par.dir.node, &par.name)?;
        }
        let gone = if Self::gone_with_name(&attr) { NOTE_DELETE } else { 0 };
        self.st.vnote(vn, NOTE_LINK | gone);
        let removed = Entry { name: &par.name, change: Change::Removed, isdir: attr.vtype == VType::Dir };
        self.st.entry_note(par.dir, NOTE_WRITE | if rmdir { NOTE_LINK } else { 0 }, removed);
        Ok(())
    }

    /// rename/renameat; with `noreplace` an existing target is EEXIST.
    pub fn rename_at(
        &mut self,
        olddirfd: i32,
        oldpath: &[u8],
        newdirfd: i32,
        newpath: &[u8],
        noreplace: bool,
    ) -> Result<(), Errno> {
        let from = self.parent_at(olddirfd, oldpath)?;
        let to = self.parent_at(newdirfd, newpath)?;
        let dots = |n: &[u8]| matches!(n, b"." | b"..");
        if dots(&from.name) || dots(&to.name) {
            return Err(EBUSY);
        }
        if from.dir.mnt != to.dir.mnt {
            return Err(EXDEV);
        }
        let src = self.lookup_in(from.dir, &from.name)?;
        let src_attr = self.getattr(src)?;
        if src_attr.vtype != VType::Dir && (from.trailing_slash || to.trailing_slash) {
            return Err(ENOTDIR);
        }
        self.check_dir_write(from.dir)?;
        self.check_dir_write(to.dir)?;
        self.check_sticky(from.dir, &src_attr)?;
        if self.st.mounts.cross_down(src) != src {
            return Err(EBUSY);
        }
        let replaced = match self.lookup_in(to.dir, &to.name) {
            Ok(dst) => {
                if noreplace {
                    return Err(EEXIST);
                }
                if self.st.mounts.cross_down(dst) != dst {
                    return Err(EBUSY);
                }
                let dst_attr = self.getattr(dst)?;
                self.check_sticky(to.dir, &dst_attr)?;
                (dst != src).then_some((dst, dst_attr))
            }
            Err(e) if e == ENOENT => None,
            Err(e) => return Err(e),
        };
        // Moving a directory to a new parent rewrites its `..`.
        let reparented = src_attr.vtype == VType::Dir && from.dir != to.dir;
        if reparented {
            check_access(&self.proc().cred, &src_attr, W)?;
        }
        self.st.mounts.fs(from.dir.mnt).rename(from.dir.node, &from.name, to.dir.node, &to.name)?;
        self.st.relink_files(&from, &to);
        // In Linux's order: both directories, the replaced file's link
        // count, the moved file itself, then the replaced file going.
        let dirs = NOTE_WRITE | if reparented { NOTE_LINK } else { 0 };
        let (cookie, isdir) = (self.st.rename_cookie(), src_attr.vtype == VType::Dir);
        let moved_from = Entry { name: &from.name, change: Change::MovedFrom(cookie), isdir };
        self.st.entry_note(from.dir, dirs, moved_from);
        let moved_to = Entry { name: &to.name, change: Change::MovedTo(cookie), isdir };
        self.st.entry_note(to.dir, if to.dir != from.dir { dirs } else { 0 }, moved_to);
        if let Some((dst, _)) = &replaced {
            self.st.vnote(*dst, NOTE_LINK);
        }
        self.st.vnote(src, NOTE_RENAME);
        if let Some((dst, _)) = replaced.filter(|(_, a)| Self::gone_with_name(a)) {
            self.st.vnote(dst, NOTE_DELETE);
        }
        Ok(())
    }
}
