//! stdio on rump files. glibc's FILE reads, writes, seeks and closes its fd
//! with internal calls no hook sees, so the fopen family (fopen, fdopen,
//! freopen, setmntent) returns fopencookie streams for rump files whose
//! functions call the file I/O hooks by fd; stdin, stdout and stderr are
//! swapped for such streams while fd 0, 1 or 2 is a rump fd; and the
//! mount tables (/proc/self/mountinfo, /proc/mounts, /etc/mtab) gain lines
//! for the kernel's mounts (its root at the prefix) so that df finds the
//! kernel. fclose needs no hook: the cookie's close does the work. tmpfile
//! stays on the host.

// The hooks' safety contract is the C function's own.
#![allow(clippy::missing_safety_doc)]

use crate::backend::{self, Backend};
use crate::fdmap;
use crate::hooks::io;
use crate::host::{errno, guard, set_errno, sys};
use crate::route::{self, Route};
use libc::{c_char, c_int, c_void, off64_t, size_t, ssize_t, FILE};
use parking_lot::Mutex;
use rump_abi::linux::sys as rump;
use rump_abi::Errno;
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

crate::real_fns! {
    fn fopen(path: *const c_char, mode: *const c_char) -> *mut FILE;
    fn fopen64(path: *const c_char, mode: *const c_char) -> *mut FILE;
    fn fdopen(fd: c_int, mode: *const c_char) -> *mut FILE;
    fn freopen(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE;
    fn freopen64(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE;
    fn setmntent(path: *const c_char, mode: *const c_char) -> *mut FILE;
}

/// glibc's `cookie_io_functions_t`.
#[repr(C)]
struct CookieIo {
    read: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, size_t) -> ssize_t>,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, size_t) -> ssize_t>,
    seek: Option<unsafe extern "C" fn(*mut c_void, *mut off64_t, c_int) -> c_int>,
    close: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
}

extern "C" {
    fn fopencookie(cookie: *mut c_void, mode: *const c_char, io: CookieIo) -> *mut FILE;
    fn __fpurge(f: *mut FILE);
    fn __fsetlocking(f: *mut FILE, how: c_int) -> c_int;
    fn flockfile(f: *mut FILE);
    fn funlockfile(f: *mut FILE);
    fn fwide(f: *mut FILE, mode: c_int) -> c_int;
    static mut stdin: *mut FILE;
    static mut stdout: *mut FILE;
    static mut stderr: *mut FILE;
}

// glibc's struct _IO_FILE on LP64: what we read or write of it.
/// `_flags`: mode and state bits.
const OFF_FLAGS: usize = 0;
/// `_IO_write_base` and `_IO_write_ptr`: the pending output.
const OFF_WRITE_BASE: usize = 32;
const OFF_WRITE_PTR: usize = 40;
/// `_fileno`: -2 in a cookie stream; only fileno() reads it there.
const OFF_FILENO: usize = 112;
const IO_NO_READS: c_int = 0x4;
const IO_NO_WRITES: c_int = 0x8;
const IO_EOF_SEEN: c_int = 0x10;
const IO_ERR_SEEN: c_int = 0x20;
const IO_IS_APPENDING: c_int = 0x1000;
const FSETLOCKING_BYCALLER: c_int = 2;

/// # Safety
/// `f` is a live FILE.
unsafe fn field<T>(f: *mut FILE, off: usize) -> *mut T {
    unsafe { f.cast::<u8>().add(off).cast::<T>() }
}

// ---- modes -----------------------------------------------------------------

/// An fopen mode string, read as glibc reads it: r, w or a, then up to six
/// characters of which `+`, `x` (O_EXCL) and `e` (O_CLOEXEC) count and the
/// rest (`b`, `m`, `c`, …) are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mode {
    base: u8,
    plus: bool,
    excl: bool,
    cloexec: bool,
}

impl Mode {
    /// # Safety
    /// `m` is NULL or NUL-terminated.
    unsafe fn parse(m: *const c_char) -> Result<Mode, Errno> {
        if m.is_null() {
            return Err(Errno(libc::EINVAL));
        }
        // SAFETY: the caller's string.
        Mode::from_bytes(unsafe { CStr::from_ptr(m) }.to_bytes())
    }

    fn from_bytes(b: &[u8]) -> Result<Mode, Errno> {
        let base = match b.first() {
            Some(&c @ (b'r' | b'w' | b'a')) => c,
            _ => return Err(Errno(libc::EINVAL)),
        };
        let mut m = Mode { base, plus: false, excl: false, cloexec: false };
        for &c in b.iter().skip(1).take(6) {
            match c {
                b'+' => m.plus = true,
                b'x' => m.excl = true,
                b'e' => m.cloexec = true,
                _ => {}
            }
        }
        Ok(m)
    }

    /// open(2) flags, as glibc's fopen computes them.
    fn flags(&self) -> c_int {
        let acc = match (self.plus, self.base) {
            (true, _) => libc::O_RDWR,
            (false, b'r') => libc::O_RDONLY,
            _ => libc::O_WRONLY,
        };
        let more = match self.base {
            b'w' => libc::O_CREAT | libc::O_TRUNC,
            b'a' => libc::O_CREAT | libc::O_APPEND,
            _ => 0,
        };
        let excl = if self.excl { libc::O_EXCL } else { 0 };
        let cloexec = if self.cloexec { libc::O_CLOEXEC } else { 0 };
        acc | more | excl | cloexec
    }

    fn reads(&self) -> bool {
        self.plus || self.base == b'r'
    }

    fn writes(&self) -> bool {
        self.plus || self.base != b'r'
    }

    /// The mode handed to fopencookie, which knows only r, w, a and `+`.
    fn cookie_mode(&self) -> &'static CStr {
        match (self.base, self.plus) {
            (b'r', false) => c"r",
            (b'r', true) => c"r+",
            (b'w', false) => c"w",
            (b'w', true) => c"w+",
            (_, false) => c"a",
            (_, true) => c"a+",
        }
    }

    /// The `_flags` mode bits fopencookie would set for this mode.
    fn io_bits(&self) -> c_int {
        let mut bits = match self.base {
            b'r' => IO_NO_WRITES,
            b'w' => IO_NO_READS,
            _ => IO_NO_READS | IO_IS_APPENDING,
        };
        if self.plus {
            bits &= IO_IS_APPENDING;
        }
        bits
    }
}

// ---- cookie streams over an fd ---------------------------------------------

/// A stream's fd, the program's number: the hooks find the rump fd behind
/// it on each call, so dup2 onto it behaves as on the host, and a host fd
/// (after freopen to a host path) works as well.
struct Cookie {
    fd: AtomicI32,
    /// `Some(n)` for the stand-in of stdin, stdout or stderr.
    std: Option<usize>,
    /// The FILE, for the registry.
    file: AtomicUsize,
}

/// Our non-std streams (FILE → Cookie), so freopen can find the cookie.
static STREAMS: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

/// # Safety
/// `c` is a live Cookie.
unsafe fn fd_of(c: *mut c_void) -> c_int {
    unsafe { (*c.cast::<Cookie>()).fd.load(Ordering::Acquire) }
}

unsafe extern "C" fn ck_read(c: *mut c_void, buf: *mut c_char, n: size_t) -> ssize_t {
    unsafe { io::read(fd_of(c), buf.cast(), n) }
}

/// glibc takes a short write as an error, so write all of it.
unsafe extern "C" fn ck_write(c: *mut c_void, buf: *const c_char, n: size_t) -> ssize_t {
    let fd = unsafe { fd_of(c) };
    let mut done = 0usize;
    while done < n {
        // SAFETY: within the caller's buffer.
        let w = unsafe { io::write(fd, buf.add(done).cast(), n - done) };
        if w < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return if done > 0 { done as ssize_t } else { -1 };
        }
        if w == 0 {
            break;
        }
        done += w as usize;
    }
    done as ssize_t
}

unsafe extern "C" fn ck_seek(c: *mut c_void, off: *mut off64_t, whence: c_int) -> c_int {
    // SAFETY: glibc's offset cell.
    let r = unsafe { io::lseek64(fd_of(c), *off, whence) };
    if r < 0 {
        return -1;
    }
    unsafe { *off = r };
    0
}

unsafe extern "C" fn ck_close(c: *mut c_void) -> c_int {
    // SAFETY: made by Box::into_raw; glibc calls close once.
    let ck = unsafe { Box::from_raw(c.cast::<Cookie>()) };
    let fd = ck.fd.load(Ordering::Acquire);
    match ck.std {
        None => {
            STREAMS.lock().remove(&ck.file.load(Ordering::Acquire));
            close_fd(fd)
        }
        Some(n) => {
            // The program closed its stdout (say): fd n goes with it, as it
            // would on the host. Forget the stand-in first, so the swap back
            // that the close sets off does not touch this dying stream.
            STD[n].cur.store(0, Ordering::Release);
            close_fd(fd)
        }
    }
}

/// Closes the program's fd `fd` (the io close path for a rump fd).
fn close_fd(fd: c_int) -> c_int {
    if fd < 0 {
        return 0;
    }
    match fdmap::rump_fd(fd) {
        Some(r) => guard(|| io::close_rump(backend::kernel()?, fd, r)),
        // SAFETY: a plain close.
        None => unsafe { io::close(fd) },
    }
}

const FD_IO: CookieIo =
    CookieIo { read: Some(ck_read), write: Some(ck_write), seek: Some(ck_seek), close: Some(ck_close) };

/// A cookie stream over the program's fd `fd`, with fileno() answering it.
fn new_stream(fd: c_int, mode: &CStr, std: Option<usize>) -> Result<*mut FILE, Errno> {
    let ck = Box::into_raw(Box::new(Cookie { fd: AtomicI32::new(fd), std, file: AtomicUsize::new(0) }));
    // SAFETY: a live cookie and our functions.
    let f = unsafe { fopencookie(ck.cast(), mode.as_ptr(), FD_IO) };
    if f.is_null() {
        let e = errno();
        // SAFETY: fopencookie failed and kept nothing.
        drop(unsafe { Box::from_raw(ck) });
        return Err(Errno(if e == 0 { libc::ENOMEM } else { e }));
    }
    // SAFETY: a FILE just made.
    unsafe { *field::<c_int>(f, OFF_FILENO) = fd };
    if std.is_none() {
        // SAFETY: ck is live until the stream's close.
        unsafe { (*ck).file.store(f as usize, Ordering::Release) };
        STREAMS.lock().insert(f as usize, ck as usize);
    }
    Ok(f)
}

fn cookie_of(f: *mut FILE) -> Option<*mut Cookie> {
    STREAMS.lock().get(&(f as usize)).map(|&c| c as *mut Cookie)
}

// ---- fopen, fdopen ---------------------------------------------------------

/// fopen of a routed path.
fn fopen_rump(k: &Backend, p: &route::RumpPath, mode: *const c_char) -> Result<*mut FILE, Errno> {
    // SAFETY: the caller's mode string.
    let m = unsafe { Mode::parse(mode) }?;
    let fd = io::open_rump(k, p, m.flags(), 0o666)?;
    // glibc starts an "a" stream at the end, so ftell tells the size.
    if m.base == b'a' && !m.plus {
        if let Some(r) = fdmap::rump_fd(fd) {
            let _ = rump::rump_sys_lseek(k, r as u32, 0, libc::SEEK_END as u32);
        }
    }
    new_stream(fd, m.cookie_mode(), None).inspect_err(|_| {
        close_fd(fd);
    })
}

/// # Safety
/// As fopen.
unsafe fn fopen_with(
    path: *const c_char,
    mode: *const c_char,
    host: impl FnOnce(*const c_char) -> *mut FILE,
) -> *mut FILE {
    if let Some(f) = unsafe { mount_table(path, mode) } {
        return f;
    }
    // SAFETY: the caller's path.
    match unsafe { route::route(libc::AT_FDCWD, path) } {
        Route::Host => host(path),
        Route::HostPath(h) => host(h.as_ptr()),
        Route::Kernel(p) => guard(|| fopen_rump(backend::kernel()?, &p, mode)),
    }
}

crate::hook! {
    Path fn fopen | fopen64(path: *const c_char, mode: *const c_char) -> *mut FILE;
    {
        unsafe { fopen_with(path, mode, |p| host!(p, mode)) }
    }
}

/// fdopen on a rump fd, with glibc's checks: the fd's access mode must
/// allow the stream's, and an "a" stream turns O_APPEND on.
fn fdopen_rump(k: &Backend, fd: c_int, r: i32, mode: *const c_char) -> Result<*mut FILE, Errno> {
    // SAFETY: the caller's mode string.
    let m = unsafe { Mode::parse(mode) }?;
    let fl = rump::rump_sys_fcntl(k, r as u32, libc::F_GETFL as u32, std::ptr::null_mut())?;
    let acc = fl & libc::O_ACCMODE;
    if (acc == libc::O_RDONLY && m.writes()) || (acc == libc::O_WRONLY && m.reads()) {
        return Err(Errno(libc::EINVAL));
    }
    if m.base == b'a' && fl & libc::O_APPEND == 0 {
        let arg = (fl | libc::O_APPEND) as usize as *mut c_void;
        rump::rump_sys_fcntl(k, r as u32, libc::F_SETFL as u32, arg)?;
    }
    new_stream(fd, m.cookie_mode(), None)
}

crate::hook! {
    Fd fn fdopen(fd: c_int, mode: *const c_char) -> *mut FILE;
    {
        crate::by_fd!(fd, |k, r| fdopen_rump(k, fd, r, mode), unsafe { host!(fd, mode) })
    }
}

// ---- freopen ---------------------------------------------------------------

type RealFreopen = unsafe fn(*const c_char, *const c_char, *mut FILE) -> *mut FILE;

/// freopen onto one of our streams: glibc's steps (flush, open the new
/// file, dup it onto the stream's fd, close the new fd), after which the
/// same FILE carries the new mode. A NULL path (change the mode of the same
/// file) keeps the fd as it is.
///
/// # Safety
/// `stream` is a live stream of ours, `ck` its cookie.
unsafe fn freopen_ours(
    path: *const c_char,
    mode: *const c_char,
    stream: *mut FILE,
    ck: *mut Cookie,
) -> Result<*mut FILE, Errno> {
    let m = unsafe { Mode::parse(mode) }?;
    unsafe { libc::fflush(stream) };
    if path.is_null() {
        unsafe { libc::clearerr(stream) };
        return Ok(stream);
    }
    // SAFETY: the cookie lives as long as the stream.
    let old = unsafe { (*ck).fd.load(Ordering::Acquire) };
    let new = unsafe { io::open(path, m.flags(), 0o666) };
    if new < 0 {
        // As glibc: the stream's file is closed even when the new one fails.
        let e = errno();
        close_fd(old);
        unsafe { (*ck).fd.store(-1, Ordering::Release) };
        return Err(Errno(e));
    }
    let fd = if old < 0 || old == new {
        new
    } else {
        let r = if m.cloexec { unsafe { io::dup3(new, old, libc::O_CLOEXEC) } } else { unsafe { io::dup2(new, old) } };
        let e = errno();
        close_fd(new);
        if r < 0 {
            return Err(Errno(e));
        }
        old
    };
    unsafe {
        (*ck).fd.store(fd, Ordering::Release);
        flockfile(stream);
        *field::<c_int>(stream, OFF_FILENO) = fd;
        let flags = field::<c_int>(stream, OFF_FLAGS);
        *flags = (*flags & !(IO_NO_READS | IO_NO_WRITES | IO_IS_APPENDING | IO_EOF_SEEN | IO_ERR_SEEN)) | m.io_bits();
        funlockfile(stream);
    }
    if m.base == b'a' && !m.plus {
        let _ = unsafe { io::lseek64(fd, 0, libc::SEEK_END) };
    }
    Ok(stream)
}

/// freopen onto stdin, stdout or stderr while fd `n` is or becomes a rump
/// fd: fd n is made to show the new file (the swap of the global stream
/// follows from the fd map), and the stream the program should use now is
/// returned.
///
/// # Safety
/// As freopen.
unsafe fn freopen_std(
    n: usize,
    path: *const c_char,
    mode: *const c_char,
    host: RealFreopen,
) -> Result<*mut FILE, Errno> {
    let m = unsafe { Mode::parse(mode) }?;
    let g = global(n);
    // SAFETY: the std stream globals.
    unsafe { libc::fflush(*g) };
    if path.is_null() {
        unsafe { libc::clearerr(*g) };
        return Ok(unsafe { *g });
    }
    let fd = n as c_int;
    // SAFETY: the caller's path.
    if unsafe { route::path(path) }.is_none() {
        // Back to a host file: fd n leaves the kernel (which restores the
        // original stream), then glibc reopens that stream as usual.
        close_fd(fd);
        let orig = unsafe { *g };
        let f = unsafe { host(path, mode, orig) };
        return if f.is_null() { Err(Errno(errno())) } else { Ok(f) };
    }
    let new = unsafe { io::open(path, m.flags() & !libc::O_CLOEXEC, 0o666) };
    if new < 0 {
        return Err(Errno(errno()));
    }
    if new != fd {
        let r = if m.cloexec { unsafe { io::dup3(new, fd, libc::O_CLOEXEC) } } else { unsafe { io::dup2(new, fd) } };
        let e = errno();
        close_fd(new);
        if r < 0 {
            return Err(Errno(e));
        }
    }
    if m.base == b'a' && !m.plus {
        let _ = unsafe { io::lseek64(fd, 0, libc::SEEK_END) };
    }
    // On the host the same FILE would now be a stream on a file, fully
    // buffered even after fd n moves back to a tty: so is glibc's stream,
    // which the program gets back when that happens.
    let orig = STD[n].orig.load(Ordering::Acquire) as *mut FILE;
    if n != 2 && !orig.is_null() {
        unsafe { libc::setvbuf(orig, std::ptr::null_mut(), libc::_IOFBF, 0) };
    }
    let f = unsafe { *g };
    unsafe { libc::clearerr(f) };
    Ok(f)
}

/// # Safety
/// As freopen.
unsafe fn freopen_with(path: *const c_char, mode: *const c_char, stream: *mut FILE, host: RealFreopen) -> *mut FILE {
    if stream.is_null() {
        return unsafe { host(path, mode, stream) };
    }
    // SAFETY: the caller's path is NULL or NUL-terminated.
    let routed = unsafe { route::path(path) }.is_some();
    if let Some(n) = std_index(stream) {
        if routed || fdmap::rump_fd(n as c_int).is_some() {
            return guard(|| unsafe { freopen_std(n, path, mode, host) });
        }
        return unsafe { host(path, mode, stream) };
    }
    if let Some(ck) = cookie_of(stream) {
        return guard(|| unsafe { freopen_ours(path, mode, stream, ck) });
    }
    if routed {
        // A glibc stream cannot turn into a cookie stream: it is closed and
        // a new stream returned, which callers using the result get.
        unsafe { libc::fclose(stream) };
        return unsafe { fopen(path, mode) };
    }
    unsafe { host(path, mode, stream) }
}

crate::hook! {
    Path fn freopen(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE;
    {
        unsafe { freopen_with(path, mode, stream, real::freopen) }
    }

    Path fn freopen64(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE;
    {
        unsafe { freopen_with(path, mode, stream, real::freopen64) }
    }

    /// setmntent: glibc's opens its file with an internal fopen, which would
    /// miss both the mount-table line and rump paths.
    Path fn setmntent(path: *const c_char, mode: *const c_char) -> *mut FILE;
    {
        let f = unsafe { fopen_with(path, mode, |_| std::ptr::null_mut()) };
        if f.is_null() {
            // Not ours (or failed in the kernel, errno set): glibc's own when
            // the path is the host's.
            // SAFETY: the caller's path.
            if unsafe { route::path(path) }.is_none() {
                return unsafe { host!(path, mode) };
            }
            return f;
        }
        // As glibc: the caller does the locking.
        unsafe { __fsetlocking(f, FSETLOCKING_BYCALLER) };
        f
    }
}

// ---- stdin, stdout, stderr -------------------------------------------------

/// One std stream's swap state.
struct StdSlot {
    /// glibc's stream while our stand-in replaces it; 0 when not swapped.
    orig: AtomicUsize,
    /// Our stand-in (made once, kept across swaps so a pointer the program
    /// copied never dangles); 0 before the first swap or after fclose.
    cur: AtomicUsize,
}

static STD: [StdSlot; 3] = [const { StdSlot { orig: AtomicUsize::new(0), cur: AtomicUsize::new(0) } }; 3];
/// Serialises swaps.
static STD_LOCK: Mutex<()> = Mutex::new(());

fn global(n: usize) -> *mut *mut FILE {
    // The program's copies of libc's globals (copy relocations), which
    // glibc's own code uses too.
    match n {
        0 => &raw mut stdin,
        1 => &raw mut stdout,
        _ => &raw mut stderr,
    }
}

/// Which std stream `f` is: the current global, glibc's original or our
/// stand-in.
fn std_index(f: *mut FILE) -> Option<usize> {
    (0..3).find(|&n| {
        let a = f as usize;
        // SAFETY: reading the global.
        a == unsafe { *global(n) } as usize
            || a == STD[n].orig.load(Ordering::Acquire)
            || a == STD[n].cur.load(Ordering::Acquire)
    })
}

/// fd `n` (0–2) became or stopped being a rump fd: swap the std stream
/// for a cookie stand-in on fd n, or back. Called from inside the fd map's
/// updates (dup2, close, exec import), so it takes no lock the map's
/// callers hold and its flushes only read the map.
pub fn std_stream_changed(n: i32) {
    let Ok(n) = usize::try_from(n) else { return };
    if n > 2 {
        return;
    }
    let e = errno();
    let _g = STD_LOCK.lock();
    let swapped = STD[n].orig.load(Ordering::Acquire) != 0;
    match (fdmap::rump_fd(n as c_int).is_some(), swapped) {
        (true, false) => swap_in(n),
        (false, true) => swap_out(n),
        _ => {}
    }
    set_errno(e);
}

/// The stand-in for fd n: "r+" so it serves any direction (the kernel
/// refuses what the fd's mode does not allow, with glibc's errors);
/// stderr unbuffered as glibc's.
fn stand_in(n: usize) -> Option<*mut FILE> {
    let cur = STD[n].cur.load(Ordering::Acquire);
    if cur != 0 {
        return Some(cur as *mut FILE);
    }
    let f = new_stream(n as c_int, c"r+", Some(n)).ok()?;
    if n == 2 {
        // SAFETY: a fresh stream.
        unsafe { libc::setvbuf(f, std::ptr::null_mut(), libc::_IONBF, 0) };
    }
    STD[n].cur.store(f as usize, Ordering::Release);
    Some(f)
}

fn swap_in(n: usize) {
    let g = global(n);
    // SAFETY: the global.
    let orig = unsafe { *g };
    if orig.is_null() {
        return;
    }
    let Some(cur) = stand_in(n) else { return };
    // SAFETY: both are live streams.
    unsafe {
        libc::clearerr(cur);
        if n != 0 {
            move_pending(orig, cur);
        }
        *g = cur;
    }
    STD[n].orig.store(orig as usize, Ordering::Release);
}

/// Output glibc's stream still holds goes, as it would on the host, to
/// where the fd now points: into the stand-in. (Its own flush would reach
/// only the placeholder.)
///
/// # Safety
/// Both are live streams.
unsafe fn move_pending(orig: *mut FILE, cur: *mut FILE) {
    unsafe {
        flockfile(orig);
        if fwide(orig, 0) <= 0 {
            let base = *field::<*const u8>(orig, OFF_WRITE_BASE);
            let ptr = *field::<*const u8>(orig, OFF_WRITE_PTR);
            if !base.is_null() && ptr > base {
                let pending = std::slice::from_raw_parts(base, ptr.offset_from(base) as usize).to_vec();
                __fpurge(orig);
                libc::fwrite(pending.as_ptr().cast(), 1, pending.len(), cur);
            }
        }
        funlockfile(orig);
    }
}

fn swap_out(n: usize) {
    let orig = STD[n].orig.swap(0, Ordering::AcqRel) as *mut FILE;
    let cur = STD[n].cur.load(Ordering::Acquire) as *mut FILE;
    let g = global(n);
    // SAFETY: live streams and the global.
    unsafe {
        if !cur.is_null() {
            if n == 0 {
                // Unread input from the old file must not be read later,
                // and a flush would seek the host fd by its length.
                __fpurge(cur);
            } else {
                // To wherever fd n points now, as on the host.
                libc::fflush(cur);
            }
        }
        if cur.is_null() || *g == cur {
            *g = orig;
        }
    }
}

// ---- the mount tables ------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Table {
    MountInfo,
    Mounts,
}

/// Whether `p` names this process's mount table.
fn table_of(p: &[u8]) -> Option<Table> {
    if p == b"/etc/mtab" || p == b"/proc/mounts" {
        return Some(Table::Mounts);
    }
    let rest = p.strip_prefix(b"/proc/")?;
    let slash = rest.iter().position(|&c| c == b'/')?;
    let (who, file) = (&rest[..slash], &rest[slash + 1..]);
    let me = match who {
        b"self" | b"thread-self" => true,
        // SAFETY: getpid has no preconditions.
        _ => who == unsafe { libc::getpid() }.to_string().as_bytes(),
    };
    match (me, file) {
        (true, b"mountinfo") => Some(Table::MountInfo),
        (true, b"mounts") => Some(Table::Mounts),
        _ => None,
    }
}

/// A host file's bytes, read with raw syscalls.
fn host_bytes(path: &CStr) -> Result<Vec<u8>, Errno> {
    let flags = libc::O_RDONLY | libc::O_CLOEXEC;
    let fd = sys(libc::SYS_openat, [libc::AT_FDCWD as usize, path.as_ptr() as usize, flags as usize, 0])? as usize;
    let mut v = Vec::new();
    let mut chunk = [0u8; 8192];
    let res = loop {
        match sys(libc::SYS_read, [fd, chunk.as_mut_ptr() as usize, chunk.len(), 0]) {
            Ok(0) => break Ok(v),
            Ok(n) => v.extend_from_slice(&chunk[..n as usize]),
            Err(e) if e.0 == libc::EINTR => {}
            Err(e) => break Err(e),
        }
    };
    crate::hooks::host_close(fd as i32);
    res
}

/// A mount point as the tables write it: space, tab, newline and
/// backslash in octal.
fn escape(p: &str) -> String {
    let mut s = String::new();
    for c in p.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => s.push_str(&format!("\\{:03o}", c as u32)),
            c => s.push(c),
        }
    }
    s
}

/// A kernel mount to show: where the program sees it, its device and
/// its type.
struct KMount {
    dir: String,
    dev: u64,
    fstype: &'static str,
}

/// The lines for the kernel's mounts in `table`, whose host content is
/// `host`: in mountinfo new mount ids (the prefix's under the host root's,
/// the others under the prefix's) with the major:minor the kernel's stat
/// reports, so df can match `stat(path)` to them.
fn table_lines(table: Table, host: &[u8], mounts: &[KMount]) -> String {
    let mut out = String::new();
    if table == Table::Mounts {
        for m in mounts {
            out.push_str(&format!("rump {} {} rw,relatime 0 0\n", escape(&m.dir), m.fstype));
        }
        return out;
    }
    let (mut top, mut root) = (0u64, 1u64);
    for line in host.split(|&c| c == b'\n') {
        let mut f = line.split(|&c| c == b' ');
        let id = f.next().and_then(|x| std::str::from_utf8(x).ok()).and_then(|x| x.parse::<u64>().ok());
        let Some(id) = id else { continue };
        top = top.max(id);
        if f.nth(3) == Some(b"/".as_slice()) {
            root = id;
        }
    }
    let mut parent = root;
    for (i, m) in mounts.iter().enumerate() {
        let id = top + 1 + i as u64;
        let (maj, min) = (libc::major(m.dev), libc::minor(m.dev));
        let mp = escape(&m.dir);
        out.push_str(&format!("{id} {parent} {maj}:{min} / {mp} rw,relatime - {} rump rw\n", m.fstype));
        if i == 0 {
            parent = id;
        }
    }
    out
}

/// A file system's name from its statfs magic.
fn fs_name(magic: i64) -> &'static str {
    match magic {
        0x0102_1994 => "tmpfs",
        0x1373 => "devfs",
        0x9fa0 => "proc",
        _ => "rumpfs",
    }
}

/// The kernel's mounts as the program sees them: its root at the prefix,
/// then each top-level directory on another device.
fn kernel_mounts(k: &Backend, prefix: &str) -> Result<Vec<KMount>, Errno> {
    let stat_of = |dirfd: i32, name: &CStr| -> Result<(u64, &'static str, bool), Errno> {
        // SAFETY: plain structs of integers.
        let (mut st, mut fs): (libc::stat, libc::statfs) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        let nofollow = libc::AT_SYMLINK_NOFOLLOW;
        rump::rump_sys_newfstatat(k, dirfd, name.as_ptr(), (&mut st as *mut libc::stat).cast(), nofollow)?;
        let dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let fstype = if dir {
            let fd = rump::rump_sys_openat(k, dirfd, name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            let r = rump::rump_sys_fstatfs(k, fd as u32, (&mut fs as *mut libc::statfs).cast());
            let _ = rump::rump_sys_close(k, fd as u32);
            r.map_or("rumpfs", |_| fs_name(fs.f_type))
        } else {
            "rumpfs"
        };
        Ok((st.st_dev, fstype, dir))
    };
    let (dev, fstype, _) = stat_of(libc::AT_FDCWD, c"/")?;
    let mut v = vec![KMount { dir: prefix.to_string(), dev, fstype }];
    let root = rump::rump_sys_openat(k, libc::AT_FDCWD, c"/".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let names = crate::hooks::dir::names(k, root);
    for n in names.iter().flatten() {
        if n.as_bytes() == b"." || n.as_bytes() == b".." {
            continue;
        }
        if let Ok((d, t, true)) = stat_of(root, n) {
            if d != dev {
                let base = if prefix == "/" { "" } else { prefix };
                v.push(KMount { dir: format!("{base}/{}", n.to_string_lossy()), dev: d, fstype: t });
            }
        }
    }
    let _ = rump::rump_sys_close(k, root as u32);
    Ok(v)
}

/// A read-only stream over bytes in memory.
struct Mem {
    data: Vec<u8>,
    pos: usize,
}

unsafe extern "C" fn mem_read(c: *mut c_void, buf: *mut c_char, n: size_t) -> ssize_t {
    // SAFETY: our cookie; glibc serialises calls on a stream.
    let m = unsafe { &mut *c.cast::<Mem>() };
    let k = n.min(m.data.len().saturating_sub(m.pos));
    // SAFETY: k bytes fit in both.
    unsafe { std::ptr::copy_nonoverlapping(m.data.as_ptr().add(m.pos), buf.cast::<u8>(), k) };
    m.pos += k;
    k as ssize_t
}

unsafe extern "C" fn mem_seek(c: *mut c_void, off: *mut off64_t, whence: c_int) -> c_int {
    let m = unsafe { &mut *c.cast::<Mem>() };
    let from = match whence {
        libc::SEEK_SET => 0,
        libc::SEEK_CUR => m.pos as i64,
        libc::SEEK_END => m.data.len() as i64,
        _ => -1,
    };
    let to = if from < 0 { -1 } else { from.saturating_add(unsafe { *off }) };
    if to < 0 {
        set_errno(libc::EINVAL);
        return -1;
    }
    m.pos = (to as usize).min(m.data.len());
    unsafe { *off = m.pos as i64 };
    0
}

unsafe extern "C" fn mem_close(c: *mut c_void) -> c_int {
    // SAFETY: made by Box::into_raw; closed once.
    drop(unsafe { Box::from_raw(c.cast::<Mem>()) });
    0
}

const MEM_IO: CookieIo = CookieIo { read: Some(mem_read), write: None, seek: Some(mem_seek), close: Some(mem_close) };

/// fopen of this process's mount table when a prefix is configured: the
/// host's table plus a line for the prefix. `None`: not such a path, not
/// read-only, or nothing to add; the caller goes on as usual.
///
/// # Safety
/// `path` and `mode` are NULL or NUL-terminated.
unsafe fn mount_table(path: *const c_char, mode: *const c_char) -> Option<*mut FILE> {
    if path.is_null() || mode.is_null() {
        return None;
    }
    let prefix = route::config().prefix.as_deref()?;
    // SAFETY: the caller's strings.
    let p = unsafe { CStr::from_ptr(path) };
    let table = table_of(p.to_bytes())?;
    if unsafe { Mode::parse(mode) }.ok()?.writes() {
        return None;
    }
    let mut data = host_bytes(p).ok()?;
    let mounts = kernel_mounts(backend::kernel().ok()?, prefix).ok()?;
    let lines = table_lines(table, &data, &mounts);
    data.extend_from_slice(lines.as_bytes());
    let mem = Box::into_raw(Box::new(Mem { data, pos: 0 }));
    // SAFETY: a live cookie and our functions.
    let f = unsafe { fopencookie(mem.cast(), c"r".as_ptr(), MEM_IO) };
    if f.is_null() {
        drop(unsafe { Box::from_raw(mem) });
        return None;
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_as_glibc() {
        let m = |s: &str| Mode::from_bytes(s.as_bytes());
        assert_eq!(m("r").unwrap().flags(), libc::O_RDONLY);
        assert_eq!(m("rb+").unwrap().flags(), libc::O_RDWR);
        assert_eq!(m("w").unwrap().flags(), libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC);
        assert_eq!(m("a+e").unwrap().flags(), libc::O_RDWR | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC);
        assert_eq!(m("wx").unwrap().flags() & libc::O_EXCL, libc::O_EXCL);
        assert_eq!(m("re").unwrap().cookie_mode(), c"r");
        assert!(m("z").is_err() && m("").is_err());
        assert_eq!(m("a").unwrap().io_bits(), IO_NO_READS | IO_IS_APPENDING);
        assert_eq!(m("r+").unwrap().io_bits(), 0);
    }

    #[test]
    fn tables() {
        assert_eq!(table_of(b"/proc/self/mountinfo"), Some(Table::MountInfo));
        assert_eq!(table_of(b"/proc/mounts"), Some(Table::Mounts));
        assert_eq!(table_of(b"/etc/mtab"), Some(Table::Mounts));
        assert_eq!(table_of(b"/proc/1/mountinfo").is_some(), unsafe { libc::getpid() } == 1);
        assert_eq!(table_of(b"/proc/self/status"), None);
        let host = b"21 1 0:20 / / rw - ext4 /dev/sda1 rw\n22 21 0:5 / /dev rw - devtmpfs udev rw\n";
        let mounts = [
            KMount { dir: "/my rump".into(), dev: libc::makedev(0, 77), fstype: "tmpfs" },
            KMount { dir: "/my rump/dev".into(), dev: libc::makedev(0, 78), fstype: "devfs" },
        ];
        assert_eq!(
            table_lines(Table::MountInfo, host, &mounts),
            "23 21 0:77 / /my\\040rump rw,relatime - tmpfs rump rw\n24 23 0:78 / /my\\040rump/dev rw,relatime - devfs rump rw\n"
        );
        assert_eq!(table_lines(Table::Mounts, host, &mounts[..1]), "rump /my\\040rump tmpfs rw,relatime 0 0\n");
    }
}
