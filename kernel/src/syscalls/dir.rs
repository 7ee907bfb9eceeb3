//! Directories as a process sees them: reading entries (getdents) and the
//! working directory (chdir, fchdir, getcwd).

use crate::cred::{check_access, X};
use crate::file::FileKind;
use crate::vfs::mount::Vnode;
use crate::vfs::{DirEntry, VType};
use crate::Cx;
use rump_abi::native::errno::{EBADF, EINVAL, ENOENT, ENOTDIR, ERANGE};
use rump_abi::native::flags::NOTE_READ;
use rump_abi::{Errno, UserAddr};

/// Appends one directory record for an entry (given the cookie of the
/// next entry) to the buffer, or returns false if it would pass `max` bytes.
pub type DirentEncoder<'e> = dyn FnMut(&DirEntry, u64, &mut Vec<u8>, usize) -> bool + 'e;

impl Cx<'_> {
    /// Fills up to `size` bytes at `buf` with directory records made by
    /// `encode` and advances the directory's position past them. EINVAL if not even one
    /// record fits.
    pub fn getdents(
        &mut self,
        fd: i32,
        buf: UserAddr,
        size: usize,
        encode: &mut DirentEncoder,
    ) -> Result<usize, Errno> {
        let id = self.file_of(fd)?;
        let f = self.st.files.get(id).ok_or(EBADF)?;
        if !f.readable() {
            return Err(EBADF);
        }
        let FileKind::Vnode(vn) = f.kind else { return Err(ENOTDIR) };
        let start = f.offset;
        let mut out = Vec::new();
        let mut pos = start;
        let mut too_small = false;
        self.st.mounts.fs(vn.mnt).readdir(vn.node, start, &mut |e, next| {
            if encode(e, next, &mut out, size) {
                pos = next;
                true
            } else {
                too_small = out.is_empty();
                false
            }
        })?;
        if too_small {
            return Err(EINVAL);
        }
        // Only records the caller received move the position on.
        self.mem.copy_out(buf, &out)?;
        if let Some(f) = self.st.files.get_mut(id) {
            f.offset = pos;
        }
        // Every listing is an access, even one at the end (Linux's iterate_dir).
        self.st.vnote_file(id, vn, NOTE_READ);
        Ok(out.len())
    }

    fn set_cwd(&mut self, vn: Vnode) -> Result<(), Errno> {
        let attr = self.getattr(vn)?;
        if attr.vtype != VType::Dir {
            return Err(ENOTDIR);
        }
        check_access(&self.proc().cred, &attr, X)?;
        self.st.vref(vn);
        let old = std::mem::replace(&mut self.proc_mut().cwd, vn);
        self.st.vrele(old);
        Ok(())
    }

    pub fn chdir(&mut self, path: &[u8]) -> Result<(), Errno> {
        let vn = self.lookup_at(rump_abi::native::flags::AT_FDCWD, path, true)?;
        self.set_cwd(vn)
    }

    pub fn fchdir(&mut self, fd: i32) -> Result<(), Errno> {
        let FileKind::Vnode(vn) = self.file(fd)?.kind else { return Err(ENOTDIR) };
        self.set_cwd(vn)
    }

    /// The absolute path of the cwd. ENOENT once it has been removed;
    /// ERANGE if it is longer than `size` including the NUL.
    pub fn getcwd(&mut self, size: usize) -> Result<Vec<u8>, Errno> {
        let (mut cur, root) = (self.proc().cwd, self.proc().root);
        if self.getattr(cur)?.nlink == 0 {
            return Err(ENOENT);
        }
        let mut names: Vec<Vec<u8>> = Vec::new();
        while cur != root {
            // The name in the parent is that of the covered directory when
            // `cur` is the root of a mount.
            let mut named = cur;
            while let Some(covered) = self.st.mounts.cross_up(named) {
                if named == root {
                    break;
                }
                named = covered;
            }
            if named == root {
                break;
            }
            let parent = self.st.dotdot(cur, root)?;
            let name = self.name_in(parent, named)?;
            names.push(name);
            cur = parent;
        }
        let mut path = Vec::new();
        for n in names.iter().rev() {
            path.push(b'/');
            path.extend_from_slice(n);
        }
        if path.is_empty() {
            path.push(b'/');
        }
        if path.len() + 1 > size {
            return Err(ERANGE);
        }
        Ok(path)
    }

    /// The name `child` has in directory `dir`.
    fn name_in(&mut self, dir: Vnode, child: Vnode) -> Result<Vec<u8>, Errno> {
        let mut found = None;
        self.st.mounts.fs(dir.mnt).readdir(dir.node, 0, &mut |e, _| {
            if e.ino == child.node && e.name != b"." && e.name != b".." {
                found = Some(e.name.clone());
                false
            } else {
                true
            }
        })?;
        found.ok_or(ENOENT)
    }
}
