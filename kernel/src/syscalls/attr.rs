//! Calls on attributes: stat, chmod, chown, utimens, truncate, access,
//! statfs.

use crate::cred::{check_access, W};
use crate::event::vnode::Link;
use crate::file::FileKind;
use crate::vfs::mount::Vnode;
use crate::vfs::{Attr, FsStat, SetAttr, VType};
use crate::Cx;
use rump_abi::native::errno::{EBADF, EINVAL, EISDIR, EPERM, EROFS};
use rump_abi::native::flags::{
    AT_FDCWD, NOTE_ATTRIB, NOTE_EXTEND, NOTE_WRITE, S_ISGID, S_ISUID, UTIME_NOW, UTIME_OMIT,
};
use rump_abi::Errno;

/// What stat reports: the node's attributes and its mount's device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub attr: Attr,
    pub dev: u64,
}

/// How utimensat sets one timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSet {
    Omit,
    Now,
    At(crate::time::Timespec),
}

impl TimeSet {
    /// Decodes a `struct timespec` with UTIME_NOW/UTIME_OMIT (same values
    /// in both ABIs).
    pub fn from_timespec(sec: i64, nsec: i64) -> Result<TimeSet, Errno> {
        match nsec {
            UTIME_NOW => Ok(TimeSet::Now),
            UTIME_OMIT => Ok(TimeSet::Omit),
            0..=999_999_999 => Ok(TimeSet::At(crate::time::Timespec { sec, nsec })),
            _ => Err(EINVAL),
        }
    }
}

/// What a path-or-fd attribute call acts on.
#[derive(Clone, Copy, Debug)]
pub enum Target<'p> {
    /// (dirfd, path, follow a final symlink); an empty path with
    /// AT_EMPTY_PATH is expressed as `Fd`.
    Path(i32, &'p [u8], bool),
    Fd(i32),
}

impl Cx<'_> {
    /// The vnode a call acts on, with the name it was reached by (a path's
    /// last component, or the name an fd was opened by).
    fn target_linked(&mut self, t: Target) -> Result<(Vnode, Option<Link>), Errno> {
        match t {
            Target::Path(dirfd, path, follow) => self.lookup_at_linked(dirfd, path, follow),
            Target::Fd(fd) if fd != AT_FDCWD => {
                let link = self.file(fd)?.link.clone();
                Ok((self.target(t)?, link))
            }
            Target::Fd(_) => Ok((self.target(t)?, None)),
        }
    }

    /// The vnode a call acts on.
    pub fn target(&mut self, t: Target) -> Result<Vnode, Errno> {
        match t {
            Target::Path(dirfd, path, follow) => self.lookup_at(dirfd, path, follow),
            Target::Fd(AT_FDCWD) => Ok(self.proc().cwd),
            Target::Fd(fd) => match self.file(fd)?.kind {
                FileKind::Vnode(vn) | FileKind::Pipe { fifo: Some(vn), .. } => Ok(vn),
                // Pipes have no vnode; they stat as anonymous FIFOs.
                _ => Err(EBADF),
            },
        }
    }

    pub fn stat(&mut self, t: Target) -> Result<Stat, Errno> {
        if let Target::Fd(fd) = t {
            if let Some(st) = self.pipe_stat(fd)? {
                return Ok(st);
            }
        }
        let vn = self.target(t)?;
        let attr = self.getattr(vn)?;
        Ok(Stat { attr, dev: self.st.mounts.get(vn.mnt).dev })
    }

    /// The stat of a pipe fd, or None if `fd` is not a pipe.
    fn pipe_stat(&mut self, fd: i32) -> Result<Option<Stat>, Errno> {
        if fd == AT_FDCWD {
            return Ok(None);
        }
        let FileKind::Pipe { id: p, fifo: None } = self.file(fd)?.kind else { return Ok(None) };
        let now = self.clock().realtime();
        let cred = &self.proc().cred;
        let attr = Attr {
            vtype: VType::Fifo,
            mode: 0o600,
            nlink: 1,
            uid: cred.uid,
            gid: cred.gid,
            size: 0,
            blocks: 0,
            blksize: 4096,
            rdev: 0,
            ino: p as u64 + 1,
            atime: now,
            mtime: now,
            ctime: now,
            btime: now,
        };
        // Pipes live on their own pseudo device.
        Ok(Some(Stat { attr, dev: 0x0c }))
    }

    /// Changes attributes and tells vnode notes what changed (`note`),
    /// the directory's too when the vnode was reached by name (`link`).
    fn setattr(&mut self, (vn, link): (Vnode, Option<Link>), set: &SetAttr, note: u32) -> Result<(), Errno> {
        self.st.mounts.fs(vn.mnt).setattr(vn.node, set)?;
        self.st.vnote_linked(vn, link.as_ref(), note);
        Ok(())
    }

    /// Is the caller the owner (or root)? chmod and explicit times need it.
    fn check_owner(&mut self, attr: &Attr) -> Result<(), Errno> {
        let cred = &self.proc().cred;
        if cred.is_root() || cred.uid == attr.uid {
            Ok(())
        } else {
            Err(EPERM)
        }
    }

    pub fn chmod(&mut self, t: Target, mode: u32) -> Result<(), Errno> {
        let target = self.target_linked(t)?;
        let vn = target.0;
        let attr = self.getattr(vn)?;
        self.check_owner(&attr)?;
        let cred = &self.proc().cred;
        let mut mode = mode & 0o7777;
        // A non-member may not set the setgid bit (it is silently dropped).
        if !cred.is_root() && !cred.in_group(attr.gid) {
            mode &= !S_ISGID;
        }
        self.setattr(target, &SetAttr { mode: Some(mode), ..SetAttr::default() }, NOTE_ATTRIB)
    }

    /// chown; `u32::MAX` (-1) leaves an id unchanged.
    pub fn chown(&mut self, t: Target, uid: u32, gid: u32) -> Result<(), Errno> {
        let target = self.target_linked(t)?;
        let vn = target.0;
        let attr = self.getattr(vn)?;
        let cred = self.cred();
        let uid = (uid != u32::MAX).then_some(uid);
        let gid = (gid != u32::MAX).then_some(gid);
        if !cred.is_root() {
            // An owner may only change the group, to one of its own.
            let uid_ok = uid.is_none_or(|u| u == attr.uid);
            let gid_ok = gid.is_none_or(|g| g == attr.gid || cred.in_group(g));
            if cred.uid != attr.uid || !uid_ok || !gid_ok {
                return Err(EPERM);
            }
        }
        let mut set = SetAttr { uid, gid, ..SetAttr::default() };
        // As Linux: chown of a non-directory always drops setuid, and drops
        // setgid when it is a real setgid (group-executable) or the caller
        // may not keep it (not root, not in the file's group).
        if attr.vtype != VType::Dir {
            let mut mode = attr.mode & !S_ISUID;
            if attr.mode & 0o010 != 0 || !(cred.is_root() || cred.in_group(gid.unwrap_or(attr.gid))) {
                mode &= !S_ISGID;
            }
            if mode != attr.mode {
                set.mode = Some(mode);
            }
        }
        self.setattr(target, &set, NOTE_ATTRIB)
    }

    /// utimensat/futimens: `times` are (atime, mtime).
    pub fn utimens(&mut self, t: Target, times: [TimeSet; 2]) -> Result<(), Errno> {
        let target = self.target_linked(t)?;
        let vn = target.0;
        let attr = self.getattr(vn)?;
        if times.iter().all(|t| *t == TimeSet::Omit) {
            return Ok(());
        }
        let explicit = times.iter().any(|t| matches!(t, TimeSet::At(_)));
        if explicit {
            self.check_owner(&attr)?;
        } else if self.check_owner(&attr).is_err() {
            check_access(&self.proc().cred, &attr, W)?;
        }
        let now = self.clock().realtime();
        let pick = |t: TimeSet| match t {
            TimeSet::Omit => None,
            TimeSet::Now => Some(now),
            TimeSet::At(ts) => Some(ts),
        };
        let set = SetAttr { atime: pick(times[0]), mtime: pick(times[1]), ..SetAttr::default() };
        self.setattr(target, &set, NOTE_ATTRIB)
    }

    pub fn truncate(&mut self, t: Target, len: i64) -> Result<(), Errno> {
        let len = u64::try_from(len).map_err(|_| EINVAL)?;
        if let Target::Fd(fd) = t {
            // Only files opened for writing can be truncated; pipes never.
            let f = self.file(fd)?;
            if !f.writable() || f.vnode().is_none() {
                return Err(EINVAL);
            }
        }
        let target = self.target_linked(t)?;
        let vn = target.0;
        let attr = self.getattr(vn)?;
        if let Target::Path(..) = t {
            if attr.vtype == VType::Dir {
                return Err(EISDIR);
            }
            check_access(&self.proc().cred, &attr, W)?;
        }
        if attr.vtype != VType::Reg {
            return Err(EINVAL);
        }
        let extended = if len > attr.size { NOTE_EXTEND } else { 0 };
        self.setattr(target, &SetAttr { size: Some(len), ..SetAttr::default() }, NOTE_WRITE | extended)
    }

    /// access/faccessat: `mode` is R|W|X bits or 0 for existence.
    pub fn access(&mut self, t: Target, mode: u32) -> Result<(), Errno> {
        if mode & !7 != 0 {
            return Err(EINVAL);
        }
        let vn = self.target(t)?;
        let attr = self.getattr(vn)?;
        // Devices and FIFOs stay writable on a read-only file system.
        let stored = matches!(attr.vtype, VType::Reg | VType::Dir | VType::Lnk);
        if mode & W != 0 && stored && self.st.mounts.get(vn.mnt).fs.read_only() {
            return Err(EROFS);
        }
        check_access(&self.proc().cred, &attr, mode)
    }

    /// statfs/statvfs of the file system holding the target, with the
    /// mount's path and device.
    pub fn statfs(&mut self, t: Target) -> Result<(FsStat, Vec<u8>, u64), Errno> {
        let vn = self.target(t)?;
        let m = self.st.mounts.get(vn.mnt);
        Ok((m.fs.statfs(), m.path.clone(), m.dev))
    }
}
