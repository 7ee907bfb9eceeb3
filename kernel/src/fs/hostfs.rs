//! hostfs: a host directory shown at a path of the kernel (rump_server and
//! `rumpctl run` `-m HOSTDIR:PATH[:ro]`), confined to that directory.
//!
//! Confinement. Every node holds a host `O_PATH` fd, and every lookup is one
//! component opened relative to its parent's fd with `O_NOFOLLOW`: the
//! component is never `.` or `..` (the kernel's namei resolves those, and
//! `..` at the mount root leaves the mount inside the kernel's namespace)
//! and never followed if it is a symlink. A host symlink is shown as a
//! symlink; its text is returned by `readlink` and resolved by the kernel's
//! namei in the rump namespace, so `/etc/passwd` or `../../..` in a link
//! name rump paths, never host ones. Nothing here resolves a host path of
//! more than one component, except the directory itself when mounting.
//! (A symlink a kernel process makes is a host symlink too, which host
//! programs resolve on the host, as any symlink a user leaves there.)
//!
//! Node numbers are the host's inode numbers, so `stat` and `getdents`
//! agree (getcwd relies on that); a node on another host file system
//! (a host mount inside the directory) gets a number of its own above
//! `FOREIGN_BASE`, which its directory's `getdents` does not show.
//!
//! Host calls are raw system calls: the kernel may run inside a program
//! that has librumphijack.so preloaded, whose libc hooks must not be
//! re-entered from inside the kernel. Host errors become the kernel's errno
//! values. Operations on the node itself (chmod, utimens, reopening for
//! I/O, link) use the `O_PATH` fd directly where the host kernel can, and
//! else its `/proc/self/fd` link, which names exactly that inode.
//!
//! Ownership: files are created by, and owned as, the host user running
//! the kernel; the creating process's uid and gid are not applied (chown
//! works where the host allows it). The host umask is undone after a
//! create, since the kernel has applied the process's own.
//!
//! Cache: nodes the kernel holds (open files, cwds, mount points) and their
//! ancestors stay; others are closed least recently used first once more
//! than `MAX_NODES` are open, but never one used in the last `GRACE`
//! lookups, so a node a call found moments ago stays valid for that call.
//!
//! Read-only mode: every change is EROFS, and the host is only opened for
//! reading.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::fmt;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rump_abi::native::errno::{
    EBUSY, EINTR, EINVAL, EIO, EISDIR, ENAMETOOLONG, ENODEV, ENOENT, ENOSYS, ENOTDIR, EOPNOTSUPP, EPERM, EROFS,
};
use rump_abi::Errno;

use crate::fs::{join_components, mount_path_components};
use crate::time::Timespec;
use crate::vfs::mapping::MapKind;
use crate::vfs::{Attr, DirEntry, FileSystem, FsStat, NewNode, NodeId, SetAttr, VType, NAME_MAX};
use crate::{Kernel, State};

/// Unheld nodes (each an open host fd) kept before the least recently used
/// are closed; the process may be a hijacked program sharing its fd table.
const MAX_NODES: usize = 256;
/// Lookups during which a node stays, whatever the cache's size: longer
/// than one call's walk in any ordinary path.
const GRACE: u64 = 128;
/// Node numbers from here on are ours, for nodes whose host inode number
/// could collide with the directory's own file system's.
const FOREIGN_BASE: NodeId = 1 << 63;
/// Bytes asked of the host per getdents64.
const DIRENT_BUF: usize = 16 * 1024;

/// One `-m` argument: a host directory and where the kernel shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostfsSpec {
    pub hostdir: PathBuf,
    /// An absolute kernel path; missing directories are made.
    pub path: Vec<u8>,
    pub readonly: bool,
}

/// Why a `-m` argument does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostfsSpecError {
    /// No `:PATH` part.
    NoPath(String),
    /// The kernel path does not start with `/`.
    RelativePath(String),
    EmptyHostdir,
}

impl fmt::Display for HostfsSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostfsSpecError::NoPath(s) => write!(f, "`{s}`: expected HOSTDIR:PATH[:ro]"),
            HostfsSpecError::RelativePath(p) => write!(f, "`{p}`: the kernel path must be absolute"),
            HostfsSpecError::EmptyHostdir => write!(f, "the host directory is empty"),
        }
    }
}

impl std::error::Error for HostfsSpecError {}

impl HostfsSpec {
    pub fn new(hostdir: impl Into<PathBuf>, path: &str, readonly: bool) -> HostfsSpec {
        HostfsSpec { hostdir: hostdir.into(), path: path.as_bytes().to_vec(), readonly }
    }

    /// `HOSTDIR:PATH[:ro|:rw]`. Split at the last colons, so a host
    /// directory may contain colons and the kernel path may not.
    pub fn parse(s: &str) -> Result<HostfsSpec, HostfsSpecError> {
        let (rest, readonly) = match (s.strip_suffix(":ro"), s.strip_suffix(":rw")) {
            (Some(r), _) => (r, true),
            (_, Some(r)) => (r, false),
            _ => (s, false),
        };
        let (host, path) = rest.rsplit_once(':').ok_or_else(|| HostfsSpecError::NoPath(s.into()))?;
        if host.is_empty() {
            return Err(HostfsSpecError::EmptyHostdir);
        }
        if !path.starts_with('/') {
            return Err(HostfsSpecError::RelativePath(path.into()));
        }
        Ok(HostfsSpec::new(host, path, readonly))
    }
}

impl std::str::FromStr for HostfsSpec {
    type Err = HostfsSpecError;

    fn from_str(s: &str) -> Result<HostfsSpec, HostfsSpecError> {
        HostfsSpec::parse(s)
    }
}

/// The host, through raw system calls (see the module documentation).
mod host {
    use super::*;
    use libc::{c_int, c_long};

    /// Linux's fchmodat2 (6.6), the same number on every architecture.
    const SYS_FCHMODAT2: c_long = 452;

    /// A host fd, closed with the raw call.
    pub struct Fd(c_int);

    impl Fd {
        pub fn raw(&self) -> c_int {
            self.0
        }
    }

    impl Drop for Fd {
        fn drop(&mut self) {
            // SAFETY: closing an fd this value owns.
            unsafe { libc::syscall(libc::SYS_close, self.0) };
        }
    }

    /// What the kernel needs of a host `statx`.
    pub struct HostStat {
        pub dev: u64,
        pub ino: u64,
        pub mode: u32,
        pub nlink: u64,
        pub uid: u32,
        pub gid: u32,
        pub size: u64,
        pub blocks: u64,
        pub blksize: u32,
        pub rdev: u64,
        pub atime: Timespec,
        pub mtime: Timespec,
        pub ctime: Timespec,
        pub btime: Timespec,
    }

    impl HostStat {
        pub fn vtype(&self) -> VType {
            vtype_of_mode(self.mode)
        }
    }

    pub fn vtype_of_mode(mode: u32) -> VType {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => VType::Dir,
            libc::S_IFLNK => VType::Lnk,
            libc::S_IFCHR => VType::Chr,
            libc::S_IFBLK => VType::Blk,
            libc::S_IFIFO => VType::Fifo,
            libc::S_IFSOCK => VType::Sock,
            _ => VType::Reg,
        }
    }

    pub fn mode_of_vtype(t: VType) -> u32 {
        match t {
            VType::Reg => libc::S_IFREG,
            VType::Dir => libc::S_IFDIR,
            VType::Lnk => libc::S_IFLNK,
            VType::Chr => libc::S_IFCHR,
            VType::Blk => libc::S_IFBLK,
            VType::Fifo => libc::S_IFIFO,
            VType::Sock => libc::S_IFSOCK,
        }
    }

    fn last_errno() -> Errno {
        let raw = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
        rump_abi::errno::linux_to_native(Errno(raw))
    }

    /// Runs a raw call until it is not interrupted; a negative result is
    /// the host's errno in the kernel's numbers.
    fn call(mut f: impl FnMut() -> c_long) -> Result<c_long, Errno> {
        loop {
            let r = f();
            if r >= 0 {
                return Ok(r);
            }
            let e = last_errno();
            if e != EINTR {
                return Err(e);
            }
        }
    }

    pub fn cstr(bytes: &[u8]) -> Result<CString, Errno> {
        CString::new(bytes).map_err(|_| EINVAL)
    }

    /// The `/proc` link naming exactly the file `fd` is open on.
    pub fn proc_path(fd: &Fd) -> CString {
        CString::new(format!("/proc/self/fd/{}", fd.raw())).expect("no NUL in a number")
    }

    pub fn openat(dir: c_int, name: &CStr, flags: c_int) -> Result<Fd, Errno> {
        // SAFETY: a NUL-terminated name; the result is a new fd we own.
        let fd = call(|| unsafe { libc::syscall(libc::SYS_openat, dir, name.as_ptr(), flags | libc::O_CLOEXEC, 0) })?;
        Ok(Fd(fd as c_int))
    }

    fn ts(sec: i64, nsec: u32) -> Timespec {
        Timespec { sec, nsec: nsec.into() }
    }

    /// statx of `name` in `dir` (or of `dir` itself for an empty name),
    /// never following a final symlink.
    pub fn stat_at(dir: c_int, name: &CStr) -> Result<HostStat, Errno> {
        let flags = libc::AT_SYMLINK_NOFOLLOW | if name.is_empty() { libc::AT_EMPTY_PATH } else { 0 };
        // SAFETY: statx fills the struct on success; all zeros is valid.
        let mut x: libc::statx = unsafe { std::mem::zeroed() };
        let mask = libc::STATX_BASIC_STATS | libc::STATX_BTIME;
        // SAFETY: a NUL-terminated name and a struct statx to fill.
        let r = call(|| unsafe { libc::syscall(libc::SYS_statx, dir, name.as_ptr(), flags, mask, &mut x) });
        match r {
            Ok(_) => {}
            // Hosts before statx (Linux 4.11).
            Err(e) if e == ENOSYS => return fstatat(dir, name, flags),
            Err(e) => return Err(e),
        }
        // Without a birth time the change time is the oldest we know of.
        let btime = if x.stx_mask & libc::STATX_BTIME != 0 {
            ts(x.stx_btime.tv_sec, x.stx_btime.tv_nsec)
        } else {
            ts(x.stx_ctime.tv_sec, x.stx_ctime.tv_nsec)
        };
        Ok(HostStat {
            dev: libc::makedev(x.stx_dev_major, x.stx_dev_minor),
            ino: x.stx_ino,
            mode: x.stx_mode.into(),
            nlink: x.stx_nlink.into(),
            uid: x.stx_uid,
            gid: x.stx_gid,
            size: x.stx_size,
            blocks: x.stx_blocks,
            blksize: x.stx_blksize,
            rdev: libc::makedev(x.stx_rdev_major, x.stx_rdev_minor),
            atime: ts(x.stx_atime.tv_sec, x.stx_atime.tv_nsec),
            mtime: ts(x.stx_mtime.tv_sec, x.stx_mtime.tv_nsec),
            ctime: ts(x.stx_ctime.tv_sec, x.stx_ctime.tv_nsec),
            btime,
        })
    }

    fn fstatat(dir: c_int, name: &CStr, flags: c_int) -> Result<HostStat, Errno> {
        // SAFETY: fstatat fills the struct on success; all zeros is valid.
        let mut s: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a NUL-terminated name and a struct stat to fill.
        call(|| unsafe { libc::syscall(libc::SYS_newfstatat, dir, name.as_ptr(), &mut s, flags) })?;
        let t = |sec: i64, nsec: i64| Timespec { sec, nsec };
        Ok(HostStat {
            dev: s.st_dev,
            ino: s.st_ino,
            mode: s.st_mode,
            nlink: s.st_nlink,
            uid: s.st_uid,
            gid: s.st_gid,
            size: s.st_size as u64,
            blocks: s.st_blocks as u64,
            blksize: s.st_blksize as u32,
            rdev: s.st_rdev,
            atime: t(s.st_atime, s.st_atime_nsec),
            mtime: t(s.st_mtime, s.st_mtime_nsec),
            ctime: t(s.st_ctime, s.st_ctime_nsec),
            btime: t(s.st_ctime, s.st_ctime_nsec),
        })
    }

    pub fn stat(fd: &Fd) -> Result<HostStat, Errno> {
        stat_at(fd.raw(), c"")
    }

    pub fn mkdirat(dir: c_int, name: &CStr, mode: u32) -> Result<(), Errno> {
        // SAFETY: a NUL-terminated name.
        call(|| unsafe { libc::syscall(libc::SYS_mkdirat, dir, name.as_ptr(), mode) }).map(drop)
    }

    pub fn mknodat(dir: c_int, name: &CStr, mode: u32, rdev: u64) -> Result<(), Errno> {
        // SAFETY: a NUL-terminated name.
        call(|| unsafe { libc::syscall(libc::SYS_mknodat, dir, name.as_ptr(), mode, rdev) }).map(drop)
    }

    pub fn symlinkat(target: &CStr, dir: c_int, name: &CStr) -> Result<(), Errno> {
        // SAFETY: NUL-terminated strings.
        call(|| unsafe { libc::syscall(libc::SYS_symlinkat, target.as_ptr(), dir, name.as_ptr()) }).map(drop)
    }

    pub fn readlink(fd: &Fd) -> Result<Vec<u8>, Errno> {
        let mut buf = vec![0u8; crate::vfs::PATH_MAX];
        // SAFETY: the buffer's length is passed with it.
        let n = call(|| unsafe {
            libc::syscall(libc::SYS_readlinkat, fd.raw(), c"".as_ptr(), buf.as_mut_ptr(), buf.len())
        })?;
        buf.truncate(n as usize);
        Ok(buf)
    }

    /// Another name, `name` in `dir`, for the file `fd` is open on.
    pub fn link(fd: &Fd, dir: c_int, name: &CStr) -> Result<(), Errno> {
        let proc = proc_path(fd);
        // SAFETY: NUL-terminated names.
        let r = call(|| unsafe {
            libc::syscall(libc::SYS_linkat, libc::AT_FDCWD, proc.as_ptr(), dir, name.as_ptr(), libc::AT_SYMLINK_FOLLOW)
        });
        match r {
            // No /proc: the fd itself, which the host allows only to
            // CAP_DAC_READ_SEARCH.
            Err(e) if e == ENOENT => {
                // SAFETY: NUL-terminated names.
                call(|| unsafe {
                    libc::syscall(libc::SYS_linkat, fd.raw(), c"".as_ptr(), dir, name.as_ptr(), libc::AT_EMPTY_PATH)
                })
                .map(drop)
            }
            r => r.map(drop),
        }
    }

    pub fn unlinkat(dir: c_int, name: &CStr, flags: c_int) -> Result<(), Errno> {
        // SAFETY: a NUL-terminated name.
        call(|| unsafe { libc::syscall(libc::SYS_unlinkat, dir, name.as_ptr(), flags) }).map(drop)
    }

    pub fn renameat(from_dir: c_int, from: &CStr, to_dir: c_int, to: &CStr) -> Result<(), Errno> {
        // SAFETY: NUL-terminated names.
        call(|| unsafe { libc::syscall(libc::SYS_renameat2, from_dir, from.as_ptr(), to_dir, to.as_ptr(), 0) })
            .map(drop)
    }

    /// Opens the file `fd` (an `O_PATH` fd) is on anew, for I/O.
    pub fn reopen(fd: &Fd, flags: c_int) -> Result<Fd, Errno> {
        openat(libc::AT_FDCWD, &proc_path(fd), flags)
    }

    pub fn chmod(fd: &Fd, mode: u32) -> Result<(), Errno> {
        // SAFETY: an empty NUL-terminated name.
        let r = call(|| unsafe { libc::syscall(SYS_FCHMODAT2, fd.raw(), c"".as_ptr(), mode, libc::AT_EMPTY_PATH) });
        match r {
            Err(e) if e == ENOSYS => {
                let proc = proc_path(fd);
                // SAFETY: a NUL-terminated name.
                call(|| unsafe { libc::syscall(libc::SYS_fchmodat, libc::AT_FDCWD, proc.as_ptr(), mode) }).map(drop)
            }
            r => r.map(drop),
        }
    }

    pub fn chown(fd: &Fd, uid: Option<u32>, gid: Option<u32>) -> Result<(), Errno> {
        let (uid, gid) = (uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX));
        let flags = libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW;
        // SAFETY: an empty NUL-terminated name.
        call(|| unsafe { libc::syscall(libc::SYS_fchownat, fd.raw(), c"".as_ptr(), uid, gid, flags) }).map(drop)
    }

    /// Sets the times given; `None` leaves one alone. `link`: `fd` is a
    /// symlink, which only the fd itself may name (the `/proc` link would
    /// be followed past it).
    pub fn utimens(fd: &Fd, atime: Option<Timespec>, mtime: Option<Timespec>, link: bool) -> Result<(), Errno> {
        let t = |t: Option<Timespec>| match t {
            Some(t) => libc::timespec { tv_sec: t.sec, tv_nsec: t.nsec },
            None => libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_OMIT },
        };
        let times = [t(atime), t(mtime)];
        let flags = libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW;
        // SAFETY: an empty NUL-terminated name and two timespecs.
        let r = call(|| unsafe { libc::syscall(libc::SYS_utimensat, fd.raw(), c"".as_ptr(), times.as_ptr(), flags) });
        match r {
            // Hosts before AT_EMPTY_PATH here refuse the flag.
            Err(e) if e == EINVAL && !link => {
                let proc = proc_path(fd);
                // SAFETY: a NUL-terminated name and two timespecs.
                call(|| unsafe { libc::syscall(libc::SYS_utimensat, libc::AT_FDCWD, proc.as_ptr(), times.as_ptr(), 0) })
                    .map(drop)
            }
            r => r.map(drop),
        }
    }

    pub fn ftruncate(fd: c_int, size: u64) -> Result<(), Errno> {
        let size = i64::try_from(size).map_err(|_| EINVAL)?;
        // SAFETY: plain integers.
        call(|| unsafe { libc::syscall(libc::SYS_ftruncate, fd, size) }).map(drop)
    }

    pub fn pread(fd: c_int, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let offset = i64::try_from(offset).map_err(|_| EINVAL)?;
        // SAFETY: the buffer's length is passed with it.
        call(|| unsafe { libc::syscall(libc::SYS_pread64, fd, buf.as_mut_ptr(), buf.len(), offset) })
            .map(|n| n as usize)
    }

    pub fn pwrite(fd: c_int, data: &[u8], offset: u64) -> Result<usize, Errno> {
        let offset = i64::try_from(offset).map_err(|_| EINVAL)?;
        // SAFETY: the buffer's length is passed with it.
        call(|| unsafe { libc::syscall(libc::SYS_pwrite64, fd, data.as_ptr(), data.len(), offset) }).map(|n| n as usize)
    }

    pub fn seek(fd: c_int, pos: u64) -> Result<(), Errno> {
        // SAFETY: plain integers; directory cookies are opaque offsets.
        call(|| unsafe { libc::syscall(libc::SYS_lseek, fd, pos as i64, libc::SEEK_SET) }).map(drop)
    }

    pub fn getdents(fd: c_int, buf: &mut [u8]) -> Result<usize, Errno> {
        // SAFETY: the buffer's length is passed with it.
        call(|| unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) }).map(|n| n as usize)
    }

    pub fn statfs(fd: &Fd) -> Result<libc::statfs, Errno> {
        // SAFETY: fstatfs fills the struct on success; all zeros is valid.
        let mut s: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: a struct statfs to fill.
        call(|| unsafe { libc::syscall(libc::SYS_fstatfs, fd.raw(), &mut s) })?;
        Ok(s)
    }
}

use host::{cstr, Fd, HostStat};

/// Names reach us from the VFS already checked, but confinement must not
/// rest on that: a `..` or a `/` here would leave the directory.
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

/// A host file the kernel knows.
struct Node {
    /// `O_PATH|O_NOFOLLOW`: names the inode, opens nothing.
    fd: Fd,
    /// For `..`; the root is its own parent.
    parent: NodeId,
    vtype: VType,
    dev: u64,
    ino: u64,
    /// Kernel references (open files, cwds, mounts).
    holds: u64,
    /// Nodes whose parent this is: an ancestor of a cached node stays.
    children: u64,
    /// The lookup count when it was last found.
    used: u64,
    /// Open for I/O while held, so reads and writes need no reopen.
    io: Option<Io>,
}

struct Io {
    fd: Fd,
    writable: bool,
}

/// An fd for one operation: the held node's (which stays open while the
/// kernel lock is held), or one of its own.
enum IoFd {
    Cached(libc::c_int),
    Temp(Fd),
}

impl IoFd {
    fn raw(&self) -> libc::c_int {
        match self {
            IoFd::Cached(fd) => *fd,
            IoFd::Temp(fd) => fd.raw(),
        }
    }
}

/// A host directory as a file system; see the module documentation.
pub struct Hostfs {
    nodes: HashMap<NodeId, Node>,
    /// (host dev, ino) → node number, for nodes numbered from `FOREIGN_BASE`.
    foreign: HashMap<(u64, u64), NodeId>,
    next_foreign: NodeId,
    root: NodeId,
    root_dev: u64,
    readonly: bool,
    /// Lookups so far: the cache's clock.
    tick: u64,
}

impl Hostfs {
    /// Opens host directory `dir` (the one host path this resolves as a
    /// whole, symlinks included: whoever starts the kernel chose it).
    pub fn open(dir: &Path, readonly: bool) -> Result<Hostfs, Errno> {
        let path = cstr(dir.as_os_str().as_bytes())?;
        let fd = host::openat(libc::AT_FDCWD, &path, libc::O_PATH | libc::O_DIRECTORY)?;
        let st = host::stat(&fd)?;
        let mut fs = Hostfs {
            nodes: HashMap::new(),
            foreign: HashMap::new(),
            next_foreign: FOREIGN_BASE,
            root: 0,
            root_dev: st.dev,
            readonly,
            tick: 0,
        };
        let root = fs.number(st.dev, st.ino);
        fs.root = root;
        let node = Node {
            fd,
            parent: root,
            vtype: VType::Dir,
            dev: st.dev,
            ino: st.ino,
            holds: 0,
            children: 0,
            used: 0,
            io: None,
        };
        fs.nodes.insert(root, node);
        Ok(fs)
    }

    fn writable(&self) -> Result<(), Errno> {
        if self.readonly {
            Err(EROFS)
        } else {
            Ok(())
        }
    }

    fn node(&self, id: NodeId) -> Result<&Node, Errno> {
        self.nodes.get(&id).ok_or(ENOENT)
    }

    /// The host fd of directory `id`, to look names up in.
    fn dir_fd(&self, id: NodeId) -> Result<libc::c_int, Errno> {
        let n = self.node(id)?;
        if n.vtype != VType::Dir {
            return Err(ENOTDIR);
        }
        Ok(n.fd.raw())
    }

    fn is_own_number(&self, dev: u64, ino: u64) -> bool {
        dev == self.root_dev && ino < FOREIGN_BASE
    }

    /// The node number of a host inode, if it has one now.
    fn known(&self, dev: u64, ino: u64) -> Option<NodeId> {
        if self.is_own_number(dev, ino) {
            self.nodes.contains_key(&ino).then_some(ino)
        } else {
            self.foreign.get(&(dev, ino)).copied()
        }
    }

    /// The number a new node for a host inode gets.
    fn number(&mut self, dev: u64, ino: u64) -> NodeId {
        if self.is_own_number(dev, ino) {
            return ino;
        }
        let id = self.next_foreign;
        self.next_foreign += 1;
        self.foreign.insert((dev, ino), id);
        id
    }

    /// What `getdents` shows as the inode of an entry in a directory on
    /// host device `dev`.
    fn entry_number(&self, dev: u64, ino: u64) -> u64 {
        if self.is_own_number(dev, ino) {
            ino
        } else {
            self.foreign.get(&(dev, ino)).copied().unwrap_or(ino)
        }
    }

    /// The node for the host file `fd` is open on, just found in
    /// `parent`: the known one (dropping `fd`) or a new one.
    fn intern(&mut self, fd: Fd, st: &HostStat, parent: NodeId) -> NodeId {
        self.tick += 1;
        if let Some(id) = self.known(st.dev, st.ino) {
            self.reparent(id, parent);
            if let Some(n) = self.nodes.get_mut(&id) {
                n.used = self.tick;
            }
            return id;
        }
        let id = self.number(st.dev, st.ino);
        let node = Node {
            fd,
            parent,
            vtype: st.vtype(),
            dev: st.dev,
            ino: st.ino,
            holds: 0,
            children: 0,
            used: self.tick,
            io: None,
        };
        self.nodes.insert(id, node);
        if let Some(p) = self.nodes.get_mut(&parent) {
            p.children += 1;
        }
        if self.nodes.len() > MAX_NODES {
            self.evict();
        }
        id
    }

    /// Records that `id` was found in `parent` (it moved, or the host
    /// shows it twice through a bind mount), unless that would make the
    /// root a child or a directory its own ancestor.
    fn reparent(&mut self, id: NodeId, parent: NodeId) {
        let Some(old) = self.nodes.get(&id).map(|n| n.parent) else { return };
        if id == self.root || old == parent || !self.nodes.contains_key(&parent) {
            return;
        }
        let mut cur = parent;
        for _ in 0..=self.nodes.len() {
            if cur == id {
                return;
            }
            if cur == self.root {
                break;
            }
            match self.nodes.get(&cur) {
                Some(n) => cur = n.parent,
                None => break,
            }
        }
        if let Some(n) = self.nodes.get_mut(&old) {
            n.children = n.children.saturating_sub(1);
        }
        if let Some(n) = self.nodes.get_mut(&parent) {
            n.children += 1;
        }
        if let Some(n) = self.nodes.get_mut(&id) {
            n.parent = parent;
        }
    }

    /// Closes the least recently used nodes nothing needs, down to three
    /// quarters of `MAX_NODES`.
    fn evict(&mut self) {
        let mut idle: Vec<(u64, NodeId)> = self
            .nodes
            .iter()
            .filter(|(&id, n)| id != self.root && n.holds == 0 && n.children == 0 && self.tick - n.used > GRACE)
            .map(|(&id, n)| (n.used, id))
            .collect();
        idle.sort_unstable();
        let excess = self.nodes.len().saturating_sub(MAX_NODES * 3 / 4);
        for (_, id) in idle.into_iter().take(excess) {
            self.forget(id);
        }
    }

    fn forget(&mut self, id: NodeId) {
        let Some(n) = self.nodes.remove(&id) else { return };
        if !self.is_own_number(n.dev, n.ino) {
            self.foreign.remove(&(n.dev, n.ino));
        }
        if let Some(p) = self.nodes.get_mut(&n.parent) {
            p.children = p.children.saturating_sub(1);
        }
    }

    /// An fd to read (or write) node `id` through: directories for
    /// getdents, regular files for pread and pwrite.
    fn io(&mut self, id: NodeId, write: bool) -> Result<IoFd, Errno> {
        let n = self.nodes.get_mut(&id).ok_or(ENOENT)?;
        if let Some(io) = n.io.as_ref().filter(|io| io.writable || !write) {
            return Ok(IoFd::Cached(io.fd.raw()));
        }
        let flags = match (n.vtype, write) {
            (VType::Dir, _) => libc::O_RDONLY | libc::O_DIRECTORY,
            // A read-only open where that is enough: a writable one fails
            // on read-only files and running programs, and would tell
            // inotify watchers the file was written.
            (_, false) => libc::O_RDONLY,
            (_, true) => libc::O_RDWR,
        } | libc::O_NOCTTY;
        let fd = host::reopen(&n.fd, flags)?;
        if n.holds == 0 {
            return Ok(IoFd::Temp(fd));
        }
        let raw = fd.raw();
        n.io = Some(Io { fd, writable: write });
        Ok(IoFd::Cached(raw))
    }
}

impl FileSystem for Hostfs {
    fn root(&self) -> NodeId {
        self.root
    }

    fn getattr(&self, node: NodeId) -> Result<Attr, Errno> {
        let st = host::stat(&self.node(node)?.fd)?;
        Ok(Attr {
            vtype: st.vtype(),
            mode: st.mode & 0o7777,
            nlink: st.nlink,
            uid: st.uid,
            gid: st.gid,
            size: st.size,
            blocks: st.blocks,
            blksize: st.blksize,
            rdev: st.rdev,
            ino: node,
            atime: st.atime,
            mtime: st.mtime,
            ctime: st.ctime,
            btime: st.btime,
        })
    }

    fn setattr(&mut self, node: NodeId, set: &SetAttr) -> Result<(), Errno> {
        self.writable()?;
        set.check_times()?;
        let vtype = self.node(node)?.vtype;
        if let Some(size) = set.size {
            match vtype {
                VType::Reg => host::ftruncate(self.io(node, true)?.raw(), size)?,
                VType::Dir => return Err(EISDIR),
                _ => return Err(EINVAL),
            }
        }
        let n = self.node(node)?;
        // Owner before mode: the host's chown drops setuid bits, and an
        // explicit mode is what the caller asked for last.
        if set.uid.is_some() || set.gid.is_some() {
            host::chown(&n.fd, set.uid, set.gid)?;
        }
        if let Some(mode) = set.mode {
            if vtype == VType::Lnk {
                return Err(EOPNOTSUPP);
            }
            host::chmod(&n.fd, mode & 0o7777)?;
        }
        if set.atime.is_some() || set.mtime.is_some() {
            host::utimens(&n.fd, set.atime, set.mtime, vtype == VType::Lnk)?;
        }
        Ok(())
    }

    fn parent(&mut self, dir: NodeId) -> Result<NodeId, Errno> {
        let n = self.node(dir)?;
        if n.vtype != VType::Dir {
            return Err(ENOTDIR);
        }
        Ok(n.parent)
    }

    fn lookup(&mut self, dir: NodeId, name: &[u8]) -> Result<NodeId, Errno> {
        check_name(name)?;
        let dfd = self.dir_fd(dir)?;
        // One component, not followed if it is a symlink: the host can
        // resolve nothing outside `dir` here.
        let fd = host::openat(dfd, &cstr(name)?, libc::O_PATH | libc::O_NOFOLLOW)?;
        let st = host::stat(&fd)?;
        Ok(self.intern(fd, &st, dir))
    }

    fn create(&mut self, dir: NodeId, name: &[u8], new: &NewNode) -> Result<NodeId, Errno> {
        self.writable()?;
        check_name(name)?;
        let dfd = self.dir_fd(dir)?;
        let cname = cstr(name)?;
        let perm = new.mode & 0o7777;
        match new.vtype {
            VType::Dir => host::mkdirat(dfd, &cname, perm)?,
            VType::Lnk => {
                if new.target.is_empty() {
                    return Err(ENOENT);
                }
                host::symlinkat(&cstr(&new.target)?, dfd, &cname)?
            }
            t => host::mknodat(dfd, &cname, host::mode_of_vtype(t) | perm, new.rdev)?,
        }
        let fd = host::openat(dfd, &cname, libc::O_PATH | libc::O_NOFOLLOW)?;
        let st = host::stat(&fd)?;
        if new.vtype != VType::Lnk && st.mode & 0o7777 != perm {
            // The host's umask took bits the caller's umask left. The node
            // exists by now, so a refusal here (a setgid bit the host
            // drops) leaves it as the host made it rather than failing.
            let _ = host::chmod(&fd, perm);
        }
        Ok(self.intern(fd, &st, dir))
    }

    fn readlink(&self, node: NodeId) -> Result<Vec<u8>, Errno> {
        let n = self.node(node)?;
        if n.vtype != VType::Lnk {
            return Err(EINVAL);
        }
        host::readlink(&n.fd)
    }

    fn link(&mut self, dir: NodeId, name: &[u8], node: NodeId) -> Result<(), Errno> {
        self.writable()?;
        check_name(name)?;
        let dfd = self.dir_fd(dir)?;
        let n = self.node(node)?;
        if n.vtype == VType::Dir {
            return Err(EPERM);
        }
        host::link(&n.fd, dfd, &cstr(name)?)
    }

    fn remove(&mut self, dir: NodeId, name: &[u8]) -> Result<(), Errno> {
        self.writable()?;
        check_name(name)?;
        host::unlinkat(self.dir_fd(dir)?, &cstr(name)?, 0)
    }

    fn rmdir(&mut self, dir: NodeId, name: &[u8]) -> Result<(), Errno> {
        self.writable()?;
        check_name(name)?;
        host::unlinkat(self.dir_fd(dir)?, &cstr(name)?, libc::AT_REMOVEDIR)
    }

    fn rename(&mut self, from_dir: NodeId, from: &[u8], to_dir: NodeId, to: &[u8]) -> Result<(), Errno> {
        self.writable()?;
        check_name(from)?;
        check_name(to)?;
        let (fdir, tdir) = (self.dir_fd(from_dir)?, self.dir_fd(to_dir)?);
        let (from, to) = (cstr(from)?, cstr(to)?);
        let moved = host::stat_at(fdir, &from)?;
        host::renameat(fdir, &from, tdir, &to)?;
        // A directory's `..` follows it.
        if let Some(id) = self.known(moved.dev, moved.ino) {
            self.reparent(id, to_dir);
        }
        Ok(())
    }

    fn read(&mut self, node: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match self.node(node)?.vtype {
            VType::Reg => {}
            VType::Dir => return Err(EISDIR),
            _ => return Err(EINVAL),
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let fd = self.io(node, false)?;
        let mut done = 0;
        while done < buf.len() {
            match host::pread(fd.raw(), &mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(_) if done > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn write(&mut self, node: NodeId, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        self.writable()?;
        match self.node(node)?.vtype {
            VType::Reg => {}
            VType::Dir => return Err(EISDIR),
            _ => return Err(EINVAL),
        }
        if data.is_empty() {
            return Ok(0);
        }
        let fd = self.io(node, true)?;
        let mut done = 0;
        while done < data.len() {
            match host::pwrite(fd.raw(), &data[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(_) if done > 0 => break,
                Err(e) => return Err(e),
            }
        }
        if done == 0 {
            return Err(EIO);
        }
        Ok(done)
    }

    /// The host's entries in the host's order, with the host's directory
    /// offsets as cookies (`.` and `..` come first on every Linux file
    /// system); `.` and `..` carry the kernel's view of the tree.
    fn readdir(&mut self, dir: NodeId, cookie: u64, out: &mut dyn FnMut(&DirEntry, u64) -> bool) -> Result<(), Errno> {
        let n = self.node(dir)?;
        if n.vtype != VType::Dir {
            return Err(ENOTDIR);
        }
        let (parent, dev) = (n.parent, n.dev);
        let io = self.io(dir, false)?;
        let fd = io.raw();
        host::seek(fd, cookie)?;
        let mut buf = vec![0u8; DIRENT_BUF];
        let mut ent = DirEntry { name: Vec::with_capacity(NAME_MAX), ino: 0, vtype: VType::Dir };
        loop {
            let len = host::getdents(fd, &mut buf)?;
            if len == 0 {
                return Ok(());
            }
            let mut pos = 0;
            while pos + 19 <= len {
                // struct linux_dirent64: ino, off, reclen, type, name.
                let rec = &buf[pos..len];
                let d_ino = u64::from_ne_bytes(rec[0..8].try_into().expect("8 bytes"));
                let d_off = i64::from_ne_bytes(rec[8..16].try_into().expect("8 bytes"));
                let reclen = u16::from_ne_bytes([rec[16], rec[17]]) as usize;
                let d_type = rec[18];
                if reclen == 0 || reclen > rec.len() {
                    return Err(EIO);
                }
                let name = &rec[19..reclen];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                pos += reclen;
                ent.name.clear();
                ent.name.extend_from_slice(name);
                (ent.ino, ent.vtype) = match name {
                    b"." => (dir, VType::Dir),
                    b".." => (parent, VType::Dir),
                    _ => {
                        let vtype = match d_type {
                            libc::DT_DIR => VType::Dir,
                            libc::DT_REG => VType::Reg,
                            libc::DT_LNK => VType::Lnk,
                            libc::DT_CHR => VType::Chr,
                            libc::DT_BLK => VType::Blk,
                            libc::DT_FIFO => VType::Fifo,
                            libc::DT_SOCK => VType::Sock,
                            // Some file systems leave the type to stat.
                            _ => match host::stat_at(fd, &cstr(name)?) {
                                Ok(st) => st.vtype(),
                                // Gone since the host listed it.
                                Err(_) => continue,
                            },
                        };
                        (self.entry_number(dev, d_ino), vtype)
                    }
                };
                if !out(&ent, d_off as u64) {
                    return Ok(());
                }
            }
        }
    }

    fn statfs(&self) -> FsStat {
        let root = &self.nodes[&self.root];
        let s = host::statfs(&root.fd).unwrap_or_else(|_| {
            // SAFETY: all zeros is a valid struct statfs.
            unsafe { std::mem::zeroed() }
        });
        let bsize = if s.f_frsize > 0 { s.f_frsize } else { s.f_bsize };
        FsStat {
            fstype: "hostfs",
            // The host's own magic: callers that check it learn what the
            // storage really is (and how it behaves).
            magic: s.f_type,
            bsize: bsize as u64,
            blocks: s.f_blocks,
            bfree: s.f_bfree,
            bavail: s.f_bavail,
            files: s.f_files,
            ffree: s.f_ffree,
            namemax: if s.f_namelen > 0 { s.f_namelen as u64 } else { NAME_MAX as u64 },
        }
    }

    /// A regular file is mapped through a new host open of its inode.
    fn mappable_fd(&mut self, node: NodeId, writable: bool, _kind: MapKind) -> Result<Option<OwnedFd>, Errno> {
        let n = self.node(node)?;
        if n.vtype != VType::Reg {
            return Err(ENODEV);
        }
        crate::shm::reopen_fd(n.fd.raw(), writable).map(Some)
    }

    fn read_only(&self) -> bool {
        self.readonly
    }

    fn hold(&mut self, node: NodeId) {
        if let Some(n) = self.nodes.get_mut(&node) {
            n.holds += 1;
        }
    }

    fn release(&mut self, node: NodeId) {
        if let Some(n) = self.nodes.get_mut(&node) {
            n.holds = n.holds.saturating_sub(1);
            if n.holds == 0 {
                n.io = None;
            }
        }
    }
}

impl State {
    /// Mounts `fs` on the directory at `path`, making missing directories
    /// (0755, root's) as `mkdir -p` does. A path already mounted on gets
    /// the new mount on top. `/` is EBUSY: every walk starts at the root
    /// itself, so a mount over it would never be seen.
    pub fn mount_hostfs(&mut self, path: &[u8], fs: Hostfs) -> Result<(), Errno> {
        let comps = mount_path_components(path)?;
        if comps.is_empty() {
            return Err(EBUSY);
        }
        let dir = self.make_dirs(&comps)?;
        // The mount holds what it covers, as an open file would.
        self.vref(dir);
        self.mounts.add(Box::new(fs), Some(dir), join_components(&comps));
        Ok(())
    }
}

impl Kernel {
    /// Shows host directory `spec.hostdir` at kernel path `spec.path`
    /// (missing directories are made). Host errors opening the directory
    /// come back as errno values and leave the kernel unchanged.
    pub fn mount_hostfs(&self, spec: &HostfsSpec) -> Result<(), Errno> {
        if mount_path_components(&spec.path)?.is_empty() {
            return Err(EBUSY);
        }
        let fs = Hostfs::open(&spec.hostdir, spec.readonly)?;
        self.with_state(|st| st.mount_hostfs(&spec.path, fs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(HostfsSpec::parse("/tmp/x:/h"), Ok(HostfsSpec::new("/tmp/x", "/h", false)));
        assert_eq!(HostfsSpec::parse("/tmp/x:/h:ro"), Ok(HostfsSpec::new("/tmp/x", "/h", true)));
        assert_eq!(HostfsSpec::parse("/tmp/x:/h:rw"), Ok(HostfsSpec::new("/tmp/x", "/h", false)));
        assert_eq!(HostfsSpec::parse("a:b:/h/i"), Ok(HostfsSpec::new("a:b", "/h/i", false)));
        assert_eq!("rel:/r".parse(), Ok(HostfsSpec::new("rel", "/r", false)));
        assert_eq!(HostfsSpec::parse("/tmp/x"), Err(HostfsSpecError::NoPath("/tmp/x".into())));
        assert_eq!(HostfsSpec::parse("/tmp/x:ro"), Err(HostfsSpecError::NoPath("/tmp/x:ro".into())));
        assert_eq!(HostfsSpec::parse("/tmp/x:h"), Err(HostfsSpecError::RelativePath("h".into())));
        assert_eq!(HostfsSpec::parse(":/h"), Err(HostfsSpecError::EmptyHostdir));
        assert!(HostfsSpec::parse("/x").unwrap_err().to_string().contains("HOSTDIR:PATH"));
    }

    #[test]
    fn names_that_could_leave_are_refused() {
        for bad in [&b".."[..], b".", b"a/b", b"a\0b", b"/"] {
            assert_eq!(check_name(bad), Err(EINVAL), "{bad:?}");
        }
        assert_eq!(check_name(b""), Err(ENOENT));
        assert_eq!(check_name(&[b'x'; NAME_MAX + 1]), Err(ENAMETOOLONG));
        assert_eq!(check_name(b"..."), Ok(()));
    }
}
