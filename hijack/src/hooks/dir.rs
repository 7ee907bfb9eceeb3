//! Directory streams: our own `DIR` for rump directories (opendir,
//! fdopendir, the readdir family, telldir/seekdir on getdents64's d_off
//! cookies), the getdents64 family on rump fds, and the composite calls
//! that glibc builds on its internal opendir, which never sees rump:
//! scandir (re-implemented), glob (glibc's own, fed our functions through
//! GLOB_ALTDIRFUNC) and ftw/nftw (re-implemented; FTW_CHDIR goes through
//! the chdir and getcwd hooks). glibc's fts stays on the host.

// The hooks' safety contract is the C function's own.
#![allow(clippy::missing_safety_doc)]

use crate::backend::{self, Backend};
use crate::fdmap;
use crate::hooks::io;
use crate::host::{errno, guard, set_errno};
use crate::route::{self, RumpPath};
use crate::{by_fd, by_path};
use libc::{c_char, c_int, c_long, c_void, dirent, dirent64, off_t, size_t, ssize_t, DIR};
use parking_lot::Mutex;
use rump_abi::linux::sys as rump;
use rump_abi::Errno;
use std::collections::BTreeSet;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicUsize, Ordering};

/// scandir's entry filter and sort order (`struct dirent` and `dirent64`
/// are one layout on the LP64 Linux ABIs, so one type serves both names).
pub type Filter = Option<unsafe extern "C" fn(*const dirent64) -> c_int>;
pub type Compar = Option<unsafe extern "C" fn(*mut *const dirent64, *mut *const dirent64) -> c_int>;
pub type GlobErr = Option<unsafe extern "C" fn(*const c_char, c_int) -> c_int>;
pub type FtwFn = Option<unsafe extern "C" fn(*const c_char, *const libc::stat, c_int) -> c_int>;
pub type NftwFn = Option<unsafe extern "C" fn(*const c_char, *const libc::stat, c_int, *mut Ftw) -> c_int>;

crate::real_fns! {
    fn opendir(name: *const c_char) -> *mut DIR;
    fn fdopendir(fd: c_int) -> *mut DIR;
    fn readdir(d: *mut DIR) -> *mut dirent;
    fn readdir64(d: *mut DIR) -> *mut dirent64;
    fn readdir_r(d: *mut DIR, entry: *mut dirent, result: *mut *mut dirent) -> c_int;
    fn readdir64_r(d: *mut DIR, entry: *mut dirent64, result: *mut *mut dirent64) -> c_int;
    fn closedir(d: *mut DIR) -> c_int;
    fn dirfd(d: *mut DIR) -> c_int;
    fn rewinddir(d: *mut DIR) -> ();
    fn seekdir(d: *mut DIR, loc: c_long) -> ();
    fn telldir(d: *mut DIR) -> c_long;
    fn getdents64(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
    fn getdirentries(fd: c_int, buf: *mut c_char, n: size_t, base: *mut off_t) -> ssize_t;
    fn getdirentries64(fd: c_int, buf: *mut c_char, n: size_t, base: *mut off64_t) -> ssize_t;
    fn scandir(dir: *const c_char, list: *mut *mut *mut dirent64, filter: super::Filter, compar: super::Compar) -> c_int;
    fn scandir64(dir: *const c_char, list: *mut *mut *mut dirent64, filter: super::Filter, compar: super::Compar) -> c_int;
    fn scandirat(dirfd: c_int, dir: *const c_char, list: *mut *mut *mut dirent64, filter: super::Filter, compar: super::Compar) -> c_int;
    fn scandirat64(dirfd: c_int, dir: *const c_char, list: *mut *mut *mut dirent64, filter: super::Filter, compar: super::Compar) -> c_int;
    fn glob(pattern: *const c_char, flags: c_int, errfunc: super::GlobErr, g: *mut super::GlobT) -> c_int;
    fn glob64(pattern: *const c_char, flags: c_int, errfunc: super::GlobErr, g: *mut super::GlobT) -> c_int;
    fn ftw(path: *const c_char, f: super::FtwFn, nopenfd: c_int) -> c_int;
    fn ftw64(path: *const c_char, f: super::FtwFn, nopenfd: c_int) -> c_int;
    fn nftw(path: *const c_char, f: super::NftwFn, nopenfd: c_int, flags: c_int) -> c_int;
    fn nftw64(path: *const c_char, f: super::NftwFn, nopenfd: c_int, flags: c_int) -> c_int;
}

/// Bytes of getdents64 records read at a time (glibc's size too).
const BUF: usize = 32 * 1024;

/// How opendir opens a directory (as glibc, less O_NONBLOCK, which
/// O_DIRECTORY makes moot).
const OPEN_DIR: c_int = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;

// ---- reading entries -------------------------------------------------------

/// getdents64 records buffered from one directory.
struct Reader {
    /// u64s keep the records 8-aligned, as the kernel lays them out.
    buf: Box<[u64]>,
    pos: usize,
    len: usize,
    /// d_off of the entry returned last (0 at the start): telldir's answer.
    tell: i64,
}

impl Reader {
    fn new() -> Reader {
        Reader { buf: vec![0u64; BUF / 8].into_boxed_slice(), pos: 0, len: 0, tell: 0 }
    }

    /// Forgets the buffer after the kernel's offset moved to `tell`.
    fn reset(&mut self, tell: i64) {
        self.pos = 0;
        self.len = 0;
        self.tell = tell;
    }

    /// The next entry of rump fd `r`, `None` at the end. The pointer stays
    /// valid until the next call.
    fn next(&mut self, k: &Backend, r: i32) -> Result<Option<*mut dirent64>, Errno> {
        loop {
            if self.pos >= self.len {
                let n = match rump::rump_sys_getdents64(k, r as u32, self.buf.as_mut_ptr().cast(), BUF as u32) {
                    Ok(n) => n as usize,
                    // As glibc: a directory removed under the stream ends it.
                    Err(e) if e.0 == libc::ENOENT => 0,
                    Err(e) => return Err(e),
                };
                if n == 0 {
                    return Ok(None);
                }
                self.pos = 0;
                self.len = n.min(BUF);
            }
            // SAFETY: pos < len ≤ BUF, inside the buffer.
            let p = unsafe { self.buf.as_mut_ptr().cast::<u8>().add(self.pos) }.cast::<dirent64>();
            // SAFETY: the kernel wrote a record header here.
            let (reclen, off, ino) = unsafe { ((*p).d_reclen as usize, (*p).d_off, (*p).d_ino) };
            if reclen == 0 || self.pos + reclen > self.len {
                self.len = 0;
                return Err(Errno(libc::EIO));
            }
            self.pos += reclen;
            self.tell = off;
            // glibc skips deleted entries, which some file systems report.
            if ino != 0 {
                return Ok(Some(p));
            }
        }
    }
}

/// Every name in rump directory fd `r`, in the kernel's order.
pub(crate) fn names(k: &Backend, r: i32) -> Result<Vec<CString>, Errno> {
    let mut rd = Reader::new();
    let mut v = Vec::new();
    while let Some(p) = rd.next(k, r)? {
        // SAFETY: a NUL-terminated name inside the record.
        v.push(unsafe { CStr::from_ptr((*p).d_name.as_ptr()) }.to_owned());
    }
    Ok(v)
}

// ---- our DIR ---------------------------------------------------------------

/// A DIR on a rump directory; the program holds it as an opaque `DIR *`.
struct RumpDir {
    /// The program's fd (what dirfd returns); the rump fd is looked up per
    /// read so dup2 onto it behaves as it would on the host.
    fd: c_int,
    /// glibc locks each DIR; so do we.
    state: Mutex<Reader>,
}

/// Addresses of the live RumpDirs, to tell them from glibc's DIRs.
static DIRS: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
/// How many there are: while none exists a host DIR costs one load.
static NDIRS: AtomicUsize = AtomicUsize::new(0);

fn new_dir(fd: c_int) -> *mut DIR {
    let d = Box::into_raw(Box::new(RumpDir { fd, state: Mutex::new(Reader::new()) }));
    let mut set = DIRS.lock();
    set.insert(d as usize);
    NDIRS.store(set.len(), Ordering::Release);
    d.cast()
}

/// `d` as one of ours.
#[inline]
fn ours(d: *mut DIR) -> Option<&'static RumpDir> {
    if NDIRS.load(Ordering::Acquire) == 0 {
        return None;
    }
    // SAFETY: a registered address is a live RumpDir until closedir, which
    // the program may not race with its own use of the DIR.
    DIRS.lock().contains(&(d as usize)).then(|| unsafe { &*(d as *const RumpDir) })
}

/// Unregisters `d` if it is ours and hands it back for freeing.
fn take(d: *mut DIR) -> Option<Box<RumpDir>> {
    if NDIRS.load(Ordering::Acquire) == 0 {
        return None;
    }
    let mut set = DIRS.lock();
    if !set.remove(&(d as usize)) {
        return None;
    }
    NDIRS.store(set.len(), Ordering::Release);
    // SAFETY: registered, so made by Box::into_raw in new_dir.
    Some(unsafe { Box::from_raw(d.cast::<RumpDir>()) })
}

impl RumpDir {
    /// The next entry under the held lock.
    fn next_locked(&self, st: &mut Reader) -> Result<Option<*mut dirent64>, Errno> {
        let r = fdmap::rump_fd(self.fd).ok_or(Errno(libc::EBADF))?;
        st.next(backend::kernel()?, r)
    }

    /// Moves the kernel's offset to `pos` and drops the buffer.
    fn seek(&self, pos: i64) {
        let mut st = self.state.lock();
        let e = errno();
        if let (Some(r), Ok(k)) = (fdmap::rump_fd(self.fd), backend::kernel()) {
            let _ = rump::rump_sys_lseek(k, r as u32, pos, libc::SEEK_SET as u32);
        }
        set_errno(e);
        st.reset(pos);
    }
}

fn open_dir(k: &Backend, p: &RumpPath) -> Result<*mut DIR, Errno> {
    let fd = io::open_rump(k, p, OPEN_DIR, 0)?;
    Ok(new_dir(fd))
}

/// fdopendir's checks (as glibc's): a directory, readable, and then
/// close-on-exec.
fn fdopen_dir(k: &Backend, fd: c_int, r: i32) -> Result<*mut DIR, Errno> {
    // SAFETY: a plain struct of integers.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    rump::rump_sys_fstat(k, r as u32, (&mut st as *mut libc::stat).cast())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(Errno(libc::ENOTDIR));
    }
    let fl = rump::rump_sys_fcntl(k, r as u32, libc::F_GETFL as u32, std::ptr::null_mut())?;
    if fl & libc::O_ACCMODE == libc::O_WRONLY {
        return Err(Errno(libc::EINVAL));
    }
    // Through the fcntl hook, which keeps the placeholder's flag in step.
    // SAFETY: F_SETFD takes an integer.
    if unsafe { io::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC as usize) } < 0 {
        return Err(Errno(errno()));
    }
    Ok(new_dir(fd))
}

crate::hook! {
    Path fn opendir(name: *const c_char) -> *mut DIR;
    {
        by_path!(libc::AT_FDCWD, name, |k, p| open_dir(k, &p), unsafe { host!(name) })
    }

    Fd fn fdopendir(fd: c_int) -> *mut DIR;
    {
        by_fd!(fd, |k, r| fdopen_dir(k, fd, r), unsafe { host!(fd) })
    }
}

/// readdir on one of ours: NULL at the end with errno untouched.
fn read_ours(d: &RumpDir) -> *mut dirent64 {
    guard(|| {
        let mut st = d.state.lock();
        Ok(d.next_locked(&mut st)?.unwrap_or(std::ptr::null_mut()))
    })
}

crate::hook! {
    Dir fn readdir64(d: *mut DIR) -> *mut dirent64;
    {
        match ours(d) {
            None => unsafe { host!(d) },
            Some(rd) => read_ours(rd),
        }
    }

    Dir fn readdir(d: *mut DIR) -> *mut dirent;
    {
        match ours(d) {
            None => unsafe { host!(d) },
            Some(rd) => read_ours(rd).cast(),
        }
    }
}

/// readdir_r on one of ours: copies the entry out under the DIR's lock and
/// returns an errno value.
///
/// # Safety
/// `entry` has room for a `dirent64`; `result` is writable.
unsafe fn read_r_ours(d: &RumpDir, entry: *mut dirent64, result: *mut *mut dirent64) -> c_int {
    let mut st = d.state.lock();
    let (found, err) = match d.next_locked(&mut st) {
        Ok(Some(p)) => {
            // SAFETY: the record is d_reclen bytes, at most a full dirent64
            // for names within NAME_MAX; the caller's entry is that large.
            unsafe {
                let n = ((*p).d_reclen as usize).min(std::mem::size_of::<dirent64>());
                std::ptr::copy_nonoverlapping(p.cast::<u8>(), entry.cast::<u8>(), n);
            }
            (entry, 0)
        }
        Ok(None) => (std::ptr::null_mut(), 0),
        Err(e) => (std::ptr::null_mut(), e.0),
    };
    // SAFETY: the caller's pointer.
    unsafe { *result = found };
    err
}

crate::hook! {
    Dir fn readdir64_r(d: *mut DIR, entry: *mut dirent64, result: *mut *mut dirent64) -> c_int [panic = libc::EIO];
    {
        match ours(d) {
            None => unsafe { host!(d, entry, result) },
            Some(rd) => unsafe { read_r_ours(rd, entry, result) },
        }
    }

    Dir fn readdir_r(d: *mut DIR, entry: *mut dirent, result: *mut *mut dirent) -> c_int [panic = libc::EIO];
    {
        match ours(d) {
            None => unsafe { host!(d, entry, result) },
            Some(rd) => unsafe { read_r_ours(rd, entry.cast(), result.cast()) },
        }
    }

    Dir fn closedir(d: *mut DIR) -> c_int;
    {
        match take(d) {
            None => unsafe { host!(d) },
            Some(rd) => {
                let fd = rd.fd;
                drop(rd);
                // The close hook: the rump fd and its placeholder go together.
                unsafe { io::close(fd) }
            }
        }
    }

    Dir fn dirfd(d: *mut DIR) -> c_int;
    {
        match ours(d) {
            None => unsafe { host!(d) },
            Some(rd) => rd.fd,
        }
    }

    Dir fn rewinddir(d: *mut DIR);
    {
        match ours(d) {
            None => unsafe { host!(d) },
            Some(rd) => rd.seek(0),
        }
    }

    Dir fn seekdir(d: *mut DIR, loc: c_long);
    {
        match ours(d) {
            None => unsafe { host!(d, loc) },
            Some(rd) => rd.seek(loc),
        }
    }

    Dir fn telldir(d: *mut DIR) -> c_long;
    {
        match ours(d) {
            None => unsafe { host!(d) },
            Some(rd) => rd.state.lock().tell,
        }
    }
}

// ---- getdents64 and getdirentries ----------------------------------------

/// The kernel takes an unsigned int count; glibc caps it at INT_MAX.
fn count(n: size_t) -> u32 {
    n.min(i32::MAX as usize) as u32
}

crate::hook! {
    Fd fn getdents64(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
    {
        by_fd!(fd, |k, r| rump::rump_sys_getdents64(k, r as u32, buf, count(n)), unsafe { host!(fd, buf, n) })
    }
}

/// getdirentries: the offset before the read, then getdents64 (whose
/// records are `struct dirent` on LP64).
fn dirents_from(k: &Backend, r: i32, buf: *mut c_char, n: size_t, base: *mut i64) -> Result<ssize_t, Errno> {
    let at = rump::rump_sys_lseek(k, r as u32, 0, libc::SEEK_CUR as u32)?;
    let got = rump::rump_sys_getdents64(k, r as u32, buf.cast(), count(n))?;
    if !base.is_null() {
        // SAFETY: the caller's pointer.
        unsafe { *base = at };
    }
    Ok(got)
}

crate::hook! {
    Fd fn getdirentries | getdirentries64(fd: c_int, buf: *mut c_char, n: size_t, base: *mut off_t) -> ssize_t;
    {
        by_fd!(fd, |k, r| dirents_from(k, r, buf, n, base), unsafe { host!(fd, buf, n, base) })
    }
}

// ---- scandir ---------------------------------------------------------------

/// Frees scandir's partial results on an error.
fn free_all(v: &[*mut dirent64]) {
    for &p in v {
        // SAFETY: each came from malloc below.
        unsafe { libc::free(p.cast()) };
    }
}

/// scandir on a routed directory, as glibc's: the entries `filter` keeps,
/// each in its own malloc'd block, in a malloc'd array (NULL when empty)
/// sorted by `compar`; errno as it was on success.
fn scan_rump(
    k: &Backend,
    p: &RumpPath,
    list: *mut *mut *mut dirent64,
    filter: Filter,
    compar: Compar,
) -> Result<c_int, Errno> {
    let saved = errno();
    let r = rump::rump_sys_openat(k, p.dirfd, p.path.as_ptr(), OPEN_DIR, 0)?;
    let mut rd = Reader::new();
    let mut v: Vec<*mut dirent64> = Vec::new();
    let res = loop {
        let e = match rd.next(k, r) {
            Ok(Some(e)) => e,
            Ok(None) => break Ok(()),
            Err(err) => break Err(err),
        };
        // SAFETY: the program's filter, given an entry it may only read.
        if let Some(f) = filter {
            if unsafe { f(e) } == 0 {
                continue;
            }
        }
        // SAFETY: e is a record of d_reclen bytes.
        let n = unsafe { (*e).d_reclen } as usize;
        // SAFETY: allocating and filling n bytes.
        let c = unsafe { libc::malloc(n) }.cast::<dirent64>();
        if c.is_null() {
            break Err(Errno(libc::ENOMEM));
        }
        unsafe { std::ptr::copy_nonoverlapping(e.cast::<u8>(), c.cast::<u8>(), n) };
        v.push(c);
    };
    let _ = rump::rump_sys_close(k, r as u32);
    if let Err(e) = res {
        free_all(&v);
        return Err(e);
    }
    let arr = if v.is_empty() {
        std::ptr::null_mut()
    } else {
        // SAFETY: an array of v.len() pointers.
        let a = unsafe { libc::malloc(v.len() * std::mem::size_of::<*mut dirent64>()) }.cast::<*mut dirent64>();
        if a.is_null() {
            free_all(&v);
            return Err(Errno(libc::ENOMEM));
        }
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), a, v.len()) };
        if let Some(c) = compar {
            // SAFETY: qsort calls compar with pointers to elements, which is
            // what scandir's comparison expects.
            let c: unsafe extern "C" fn(*const c_void, *const c_void) -> c_int = unsafe { std::mem::transmute(c) };
            unsafe { libc::qsort(a.cast(), v.len(), std::mem::size_of::<*mut dirent64>(), Some(c)) };
        }
        a
    };
    // SAFETY: the caller's pointer.
    unsafe { *list = arr };
    set_errno(saved);
    Ok(v.len() as c_int)
}

crate::hook! {
    Path fn scandir | scandir64(
        dir: *const c_char,
        list: *mut *mut *mut dirent64,
        filter: Filter,
        compar: Compar,
    ) -> c_int;
    {
        by_path!(libc::AT_FDCWD, dir, |k, p| scan_rump(k, &p, list, filter, compar), unsafe {
            host!(dir, list, filter, compar)
        })
    }

    Path fn scandirat | scandirat64(
        dirfd: c_int,
        dir: *const c_char,
        list: *mut *mut *mut dirent64,
        filter: Filter,
        compar: Compar,
    ) -> c_int;
    {
        by_path!(dirfd, dir, |k, p| scan_rump(k, &p, list, filter, compar), unsafe {
            host!(dirfd, dir, list, filter, compar)
        })
    }
}

// ---- glob ------------------------------------------------------------------

/// glibc's glob_t (and glob64_t, the same layout on LP64).
#[repr(C)]
pub struct GlobT {
    pathc: size_t,
    pathv: *mut *mut c_char,
    offs: size_t,
    flags: c_int,
    closedir: Option<unsafe extern "C" fn(*mut c_void)>,
    readdir: Option<unsafe extern "C" fn(*mut c_void) -> *mut c_void>,
    opendir: Option<unsafe extern "C" fn(*const c_char) -> *mut c_void>,
    lstat: Option<unsafe extern "C" fn(*const c_char, *mut c_void) -> c_int>,
    stat: Option<unsafe extern "C" fn(*const c_char, *mut c_void) -> c_int>,
}

const GLOB_ALTDIRFUNC: c_int = 1 << 9;

unsafe extern "C" fn alt_opendir(name: *const c_char) -> *mut c_void {
    unsafe { opendir(name) }.cast()
}

unsafe extern "C" fn alt_readdir(d: *mut c_void) -> *mut c_void {
    unsafe { readdir64(d.cast()) }.cast()
}

unsafe extern "C" fn alt_closedir(d: *mut c_void) {
    unsafe { closedir(d.cast()) };
}

// stat64/lstat64 resolve to the metadata hooks, which route the path.
unsafe extern "C" fn alt_stat(p: *const c_char, st: *mut c_void) -> c_int {
    unsafe { libc::stat64(p, st.cast()) }
}

unsafe extern "C" fn alt_lstat(p: *const c_char, st: *mut c_void) -> c_int {
    unsafe { libc::lstat64(p, st.cast()) }
}

/// glob on a pattern routed to a kernel: glibc's glob with our directory
/// and stat functions (GLOB_ALTDIRFUNC), which route each path themselves.
/// A program that brings its own functions keeps them.
///
/// # Safety
/// As glob.
unsafe fn glob_with(pattern: *const c_char, flags: c_int, g: *mut GlobT, host: impl FnOnce(c_int) -> c_int) -> c_int {
    // SAFETY: the caller's pattern is NULL or NUL-terminated.
    if flags & GLOB_ALTDIRFUNC != 0 || g.is_null() || unsafe { route::path(pattern) }.is_none() {
        return host(flags);
    }
    // SAFETY: the caller's glob_t.
    unsafe {
        (*g).closedir = Some(alt_closedir);
        (*g).readdir = Some(alt_readdir);
        (*g).opendir = Some(alt_opendir);
        (*g).lstat = Some(alt_lstat);
        (*g).stat = Some(alt_stat);
    }
    let r = host(flags | GLOB_ALTDIRFUNC);
    // The program did not ask for GLOB_ALTDIRFUNC; do not show it.
    unsafe { (*g).flags &= !GLOB_ALTDIRFUNC };
    r
}

crate::hook! {
    Path fn glob | glob64(pattern: *const c_char, flags: c_int, errfunc: GlobErr, g: *mut GlobT) -> c_int
        [panic = libc::GLOB_ABORTED];
    {
        unsafe { glob_with(pattern, flags, g, |f| host!(pattern, f, errfunc, g)) }
    }
}

// ---- ftw and nftw ----------------------------------------------------------

/// nftw's `struct FTW`.
#[repr(C)]
pub struct Ftw {
    pub base: c_int,
    pub level: c_int,
}

const FTW_F: c_int = 0;
const FTW_D: c_int = 1;
const FTW_DNR: c_int = 2;
const FTW_NS: c_int = 3;
const FTW_SL: c_int = 4;
const FTW_DP: c_int = 5;
const FTW_SLN: c_int = 6;
/// What ftw (not nftw) reports for each of the above, as glibc maps them.
const FTW_OLD: [c_int; 7] = [FTW_F, FTW_D, FTW_DNR, FTW_NS, FTW_F, FTW_D, FTW_NS];

const FTW_PHYS: c_int = 1;
const FTW_MOUNT: c_int = 2;
const FTW_CHDIR: c_int = 4;
const FTW_DEPTH: c_int = 8;
const FTW_ACTIONRETVAL: c_int = 16;
const FTW_STOP: c_int = 1;
const FTW_SKIP_SUBTREE: c_int = 2;
const FTW_SKIP_SIBLINGS: c_int = 3;

#[derive(Clone, Copy)]
enum Func {
    Ftw(unsafe extern "C" fn(*const c_char, *const libc::stat, c_int) -> c_int),
    Nftw(unsafe extern "C" fn(*const c_char, *const libc::stat, c_int, *mut Ftw) -> c_int),
}

/// A walk of a rump tree, following glibc's ftw.c step by step. The tree
/// is walked with kernel fds (one per level, never shown to the program);
/// the callback sees the program's path. Each directory's names are read
/// before its entries are visited, so `nopenfd` has nothing to limit.
struct Walk<'a> {
    k: &'a Backend,
    func: Func,
    flags: c_int,
    /// The path shown to the callback (no NUL).
    path: Vec<u8>,
    ftw: Ftw,
    /// The start's device, for FTW_MOUNT.
    dev: u64,
    /// Directories seen (dev, ino), so a walk that follows symlinks visits
    /// each once.
    known: BTreeSet<(u64, u64)>,
    /// FTW_CHDIR: the program's working directory at the start.
    cwd: Vec<u8>,
}

type Step = Result<c_int, Errno>;

fn zero_stat() -> libc::stat {
    // SAFETY: a plain struct of integers.
    unsafe { std::mem::zeroed() }
}

fn is(st: &libc::stat, fmt: u32) -> bool {
    st.st_mode & libc::S_IFMT == fmt
}

impl Walk<'_> {
    fn has(&self, f: c_int) -> bool {
        self.flags & f != 0
    }

    fn stat_at(&self, dirfd: i32, name: &CStr, nofollow: bool) -> Result<libc::stat, Errno> {
        let mut st = zero_stat();
        let fl = if nofollow { libc::AT_SYMLINK_NOFOLLOW } else { 0 };
        rump::rump_sys_newfstatat(self.k, dirfd, name.as_ptr(), (&mut st as *mut libc::stat).cast(), fl)?;
        Ok(st)
    }

    fn call(&mut self, st: &libc::stat, flag: c_int) -> c_int {
        self.path.push(0);
        let p = self.path.as_ptr().cast::<c_char>();
        // SAFETY: the program's callback with a NUL-terminated path and a
        // stat buffer, both valid for the call.
        let r = unsafe {
            match self.func {
                Func::Ftw(f) => f(p, st, FTW_OLD[flag as usize]),
                Func::Nftw(f) => f(p, st, flag, &mut self.ftw),
            }
        };
        self.path.pop();
        r
    }

    /// `p`, a path as the program names it, made absolute against the
    /// working directory the walk started in.
    fn abs(&self, p: &[u8]) -> Result<CString, Errno> {
        let mut v = if p.first() == Some(&b'/') || self.cwd.is_empty() {
            Vec::new()
        } else {
            let mut c = self.cwd.clone();
            c.push(b'/');
            c
        };
        v.extend_from_slice(if p.is_empty() { b"/" } else { p });
        CString::new(v).map_err(|_| Errno(libc::EINVAL))
    }

    /// FTW_CHDIR: moves the program (through the chdir hook) to `dir`, a
    /// prefix of the shown path.
    fn chdir(&self, dir: &[u8]) -> Result<(), Errno> {
        let c = self.abs(dir)?;
        // SAFETY: a NUL-terminated path.
        if unsafe { libc::chdir(c.as_ptr()) } < 0 {
            return Err(Errno(errno()));
        }
        Ok(())
    }

    /// A walk from `name` (relative to kernel dirfd `dirfd`), the object
    /// shown as `self.path`: glibc's ftw_startup after its setup.
    fn start(&mut self, dirfd: i32, name: &CStr) -> Step {
        let phys = self.has(FTW_PHYS);
        let mut result = match self.stat_at(dirfd, name, phys) {
            Err(e) => {
                let dangling = !phys
                    && e.0 == libc::ENOENT
                    && self.stat_at(dirfd, name, true).map(|st| is(&st, libc::S_IFLNK)).unwrap_or(false);
                if !dangling {
                    return Err(e);
                }
                let st = self.stat_at(dirfd, name, true)?;
                self.call(&st, FTW_SLN)
            }
            Ok(st) if is(&st, libc::S_IFDIR) => {
                self.dev = st.st_dev;
                if !phys {
                    self.known.insert((st.st_dev, st.st_ino));
                }
                self.dir(dirfd, name, &st, true)?
            }
            Ok(st) => {
                let flag = if is(&st, libc::S_IFLNK) { FTW_SL } else { FTW_F };
                self.call(&st, flag)
            }
        };
        if self.has(FTW_ACTIONRETVAL) && (result == FTW_SKIP_SUBTREE || result == FTW_SKIP_SIBLINGS) {
            result = 0;
        }
        Ok(result)
    }

    /// One entry of the directory open as kernel fd `dfd` (process_entry).
    fn entry(&mut self, dfd: i32, name: &CStr) -> Step {
        let b = name.to_bytes();
        if b == b"." || b == b".." {
            return Ok(0);
        }
        self.path.truncate(self.ftw.base as usize);
        self.path.extend_from_slice(b);
        let phys = self.has(FTW_PHYS);
        let (flag, st) = match self.stat_at(dfd, name, phys) {
            Ok(st) if is(&st, libc::S_IFDIR) => (FTW_D, st),
            Ok(st) if is(&st, libc::S_IFLNK) => (FTW_SL, st),
            Ok(st) => (FTW_F, st),
            Err(e) if e.0 != libc::EACCES && e.0 != libc::ENOENT => return Err(e),
            Err(_) if phys => (FTW_NS, zero_stat()),
            Err(_) => match self.stat_at(dfd, name, true) {
                Ok(st) if is(&st, libc::S_IFLNK) => (FTW_SLN, st),
                Ok(st) => (FTW_NS, st),
                Err(_) => (FTW_NS, zero_stat()),
            },
        };
        let mut result = 0;
        if flag == FTW_NS || !self.has(FTW_MOUNT) || st.st_dev == self.dev {
            if flag == FTW_D {
                if phys || self.known.insert((st.st_dev, st.st_ino)) {
                    result = self.dir(dfd, name, &st, false)?;
                }
            } else {
                result = self.call(&st, flag);
            }
        }
        if self.has(FTW_ACTIONRETVAL) && result == FTW_SKIP_SUBTREE {
            result = 0;
        }
        Ok(result)
    }

    /// A directory, shown as `self.path` (ftw_dir).
    fn dir(&mut self, dirfd: i32, name: &CStr, st: &libc::stat, top: bool) -> Step {
        let nofollow = if self.has(FTW_PHYS) { libc::O_NOFOLLOW } else { 0 };
        let fd = match rump::rump_sys_openat(self.k, dirfd, name.as_ptr(), OPEN_DIR | nofollow, 0) {
            Ok(fd) => fd,
            Err(e) if e.0 == libc::EACCES => return Ok(self.call(st, FTW_DNR)),
            Err(e) => return Err(e),
        };
        let res = self.dir_fd(fd, st, top);
        let _ = rump::rump_sys_close(self.k, fd as u32);
        res
    }

    fn dir_fd(&mut self, fd: i32, st: &libc::stat, top: bool) -> Step {
        let names = names(self.k, fd)?;
        if !self.has(FTW_DEPTH) {
            let r = self.call(st, FTW_D);
            if r != 0 {
                return Ok(r);
            }
        }
        if self.has(FTW_CHDIR) {
            self.chdir(&self.path.clone())?;
        }
        let (prev_base, prev_len) = (self.ftw.base, self.path.len());
        self.ftw.level += 1;
        if self.path.last() != Some(&b'/') {
            self.path.push(b'/');
        }
        self.ftw.base = self.path.len() as c_int;
        let mut result = Ok(0);
        for n in &names {
            result = self.entry(fd, n);
            if result != Ok(0) {
                break;
            }
        }
        if self.has(FTW_ACTIONRETVAL) && result == Ok(FTW_SKIP_SIBLINGS) {
            result = Ok(0);
        }
        self.path.truncate(prev_len);
        self.ftw.level -= 1;
        self.ftw.base = prev_base;
        if result == Ok(0) && self.has(FTW_DEPTH) {
            result = Ok(self.call(st, FTW_DP));
        }
        let go_back = match result {
            Ok(0) => true,
            Ok(r) => self.has(FTW_ACTIONRETVAL) && r != -1 && r != FTW_STOP,
            Err(_) => false,
        };
        if !top && self.has(FTW_CHDIR) && go_back {
            let parent = self.path[..(self.ftw.base as usize).saturating_sub(1).max(1)].to_vec();
            self.chdir(&parent)?;
        }
        result
    }
}

/// The program's working directory through the getcwd hook.
fn program_cwd() -> Result<Vec<u8>, Errno> {
    // SAFETY: getcwd allocates the answer with malloc.
    let p = unsafe { libc::getcwd(std::ptr::null_mut(), 0) };
    if p.is_null() {
        return Err(Errno(errno()));
    }
    // SAFETY: a NUL-terminated string we then free.
    let v = unsafe { CStr::from_ptr(p) }.to_bytes().to_vec();
    unsafe { libc::free(p.cast()) };
    Ok(v)
}

/// ftw_startup for a path routed to a kernel.
fn walk(k: &Backend, path: &CStr, p: RumpPath, func: Func, flags: c_int) -> Step {
    let mut buf = path.to_bytes().to_vec();
    if buf.is_empty() {
        return Err(Errno(libc::ENOENT));
    }
    while buf.len() > 1 && buf.last() == Some(&b'/') {
        buf.pop();
    }
    let base = buf.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
    let mut w = Walk {
        k,
        func,
        flags,
        path: buf,
        ftw: Ftw { base: base as c_int, level: 0 },
        dev: 0,
        known: BTreeSet::new(),
        cwd: Vec::new(),
    };
    if flags & FTW_CHDIR == 0 {
        return w.start(p.dirfd, &p.path);
    }
    // FTW_CHDIR: start from the parent of the start, and come back at the
    // end whatever happened. The start is named by its absolute path: a
    // name relative to the new cwd may not route (the parent of the prefix
    // is the host's).
    w.cwd = program_cwd()?;
    let res = (|| {
        let start = w.abs(&w.path)?;
        if base > 0 {
            w.chdir(&w.path[..(base - 1).max(1)])?;
        }
        // SAFETY: a NUL-terminated path.
        let q = unsafe { route::path(start.as_ptr()) }.ok_or(Errno(libc::EXDEV))?;
        w.start(q.dirfd, &q.path)
    })();
    let e = errno();
    let cwd = std::mem::take(&mut w.cwd);
    let _ = w.chdir(&cwd);
    set_errno(e);
    res
}

/// ftw and nftw: a routed path walks the kernel; others are the host's.
///
/// # Safety
/// `path` is NULL or NUL-terminated.
unsafe fn ftw_with(path: *const c_char, func: Func, flags: c_int, host: impl FnOnce() -> c_int) -> c_int {
    // SAFETY: the caller's string.
    let Some(p) = (unsafe { route::path(path) }) else { return host() };
    guard(|| {
        let k = backend::kernel()?;
        // SAFETY: route::path returned Some, so `path` is a string.
        walk(k, unsafe { CStr::from_ptr(path) }, p, func, flags)
    })
}

const NFTW_FLAGS: c_int = FTW_PHYS | FTW_MOUNT | FTW_CHDIR | FTW_DEPTH | FTW_ACTIONRETVAL;

/// nftw with glibc's argument checks.
unsafe fn nftw_with(path: *const c_char, f: NftwFn, flags: c_int, host: impl FnOnce() -> c_int) -> c_int {
    let Some(f) = f else { return host() };
    if flags & !NFTW_FLAGS != 0 {
        set_errno(libc::EINVAL);
        return -1;
    }
    unsafe { ftw_with(path, Func::Nftw(f), flags, host) }
}

crate::hook! {
    Path fn ftw | ftw64(path: *const c_char, f: FtwFn, nopenfd: c_int) -> c_int;
    {
        match f {
            None => unsafe { host!(path, f, nopenfd) },
            Some(g) => unsafe { ftw_with(path, Func::Ftw(g), 0, || host!(path, f, nopenfd)) },
        }
    }

    Path fn nftw | nftw64(path: *const c_char, f: NftwFn, nopenfd: c_int, flags: c_int) -> c_int;
    {
        unsafe { nftw_with(path, f, flags, || host!(path, f, nopenfd, flags)) }
    }
}
