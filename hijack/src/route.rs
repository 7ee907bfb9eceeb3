//! Which kernel a path or a dirfd-relative path belongs to, and the
//! virtual working directory.
//!
//! An absolute path under the `path=` prefix goes to the kernel with the
//! prefix stripped (`/rump/a` → `/a`, `/rump` → `/`); one under a `blanket=`
//! entry goes as it is. Matching is literal, as NetBSD's: symlinks never
//! switch kernels. A relative path follows the working directory, which is
//! in the kernel once the program `chdir`s there; a path relative to a rump
//! dirfd goes to the kernel by that fd.
//!
//! `..` above the kernel's root leaves the kernel, as it leaves a mount on
//! Linux: `/rump/..` is the host's `/`, and so is `..` from a rump cwd or
//! dirfd at the kernel's root (`cd /rump; cd -P ..; ls`). Such a path goes
//! to the host at the prefix's parent joined with the rest of the path
//! (`Route::HostPath`), or back into the kernel if the rest re-enters the
//! prefix. The climb is counted lexically on the path, from the directory's
//! real depth in the kernel (asked of the kernel, only for a relative path
//! with `..` in it); a path that stays inside goes to the kernel as it is.
//!
//! A path relative to a host dirfd, or to a working directory on the host,
//! goes where the absolute path would: the directory's host path (the
//! dirfd's `/proc/self/fd` link, or getcwd) joined with the relative path,
//! `.` and `..` taken lexically, is matched as above, so `openat(fd of "/",
//! "rump/dst")`, `fstatat(fd of "/tmp", "../rump")` and `cd /; cat rump/f`
//! reach the kernel (rsync, `find`, `tar -C /` walk this way). The
//! directory is only looked up when the relative path names the prefix's
//! last component, so other host calls cost a scan of their path.
//!
//! While inet sockets are hijacked, the network's files are the kernel's
//! too, passed as blankets are: `/proc/net`, `/proc/sys/net`, and
//! `/proc/self/net` (the kernel's `/proc/net`), so netstat, route and
//! sysctl see the stack the program's sockets live on.

use crate::config::Config;
use crate::fdmap;
use rump_abi::linux::net_file;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

static CONFIG: OnceLock<Config> = OnceLock::new();

/// The configuration, parsed once (normally by the constructor, which
/// reports a bad one before `main`).
pub fn config() -> &'static Config {
    CONFIG.get_or_init(|| Config::from_env().unwrap_or_default())
}

pub fn set_config(c: Config) {
    let _ = CONFIG.set(c);
}

/// Where the working directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Cwd {
    Host = 0,
    /// In the kernel, entered through the prefix: shown as prefix + path.
    Prefixed = 1,
    /// In the kernel, entered through a blanket: shown as it is.
    Blanket = 2,
}

static CWD: AtomicU8 = AtomicU8::new(Cwd::Host as u8);

pub fn cwd() -> Cwd {
    match CWD.load(Ordering::Relaxed) {
        1 => Cwd::Prefixed,
        2 => Cwd::Blanket,
        _ => Cwd::Host,
    }
}

pub fn set_cwd(c: Cwd) {
    CWD.store(c as u8, Ordering::Relaxed);
}

/// A path routed to the kernel.
#[derive(Debug, PartialEq, Eq)]
pub struct RumpPath {
    /// The kernel's dirfd for a relative path: a rump fd or `AT_FDCWD`.
    pub dirfd: i32,
    pub path: CString,
    /// How the path was matched (so a `chdir` knows how to show the cwd).
    pub via: Cwd,
}

/// The kernel's view of `p` if an absolute path is routed there.
fn absolute(p: &[u8]) -> Option<(Vec<u8>, Cwd)> {
    absolute_in(config(), p)
}

/// [`absolute`] under configuration `cfg`.
fn absolute_in(cfg: &Config, p: &[u8]) -> Option<(Vec<u8>, Cwd)> {
    if let Some(prefix) = cfg.prefix.as_deref() {
        let pb = prefix.as_bytes();
        if let Some(rest) = p.strip_prefix(pb) {
            if rest.is_empty() {
                return Some((b"/".to_vec(), Cwd::Prefixed));
            }
            if rest[0] == b'/' || pb.iter().all(|&b| b == b'/') {
                let mut v = rest.to_vec();
                if v[0] != b'/' {
                    v.insert(0, b'/');
                }
                return Some((v, Cwd::Prefixed));
            }
        }
    }
    if cfg.hijacks_family(libc::PF_INET) {
        if let Some(k) = net_file(p) {
            return Some((k, Cwd::Blanket));
        }
    }
    cfg.blankets.iter().any(|b| p.starts_with(b.as_bytes())).then(|| (p.to_vec(), Cwd::Blanket))
}

/// Where a path goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// The host, as the program wrote it.
    Host,
    /// The host, at this absolute path instead: a `..` climbed out of the
    /// kernel.
    HostPath(CString),
    Kernel(RumpPath),
}

impl Route {
    /// The path the host is to see instead of the program's, if any.
    pub fn host_path(&self) -> Option<*const libc::c_char> {
        match self {
            Route::HostPath(h) => Some(h.as_ptr()),
            _ => None,
        }
    }
}

/// Routes `p` relative to `dirfd` (`AT_FDCWD` for the working directory).
/// `None` means the host; a NULL or unreadable `p` also means the host,
/// which reports EFAULT as Linux does. A path that climbs out of the kernel is `None`
/// here too: callers that can use the host path take [`route`].
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
pub unsafe fn at(dirfd: libc::c_int, p: *const libc::c_char) -> Option<RumpPath> {
    match unsafe { route(dirfd, p) } {
        Route::Kernel(r) => Some(r),
        Route::Host | Route::HostPath(_) => None,
    }
}

/// [`at`], telling apart a path that climbed out of the kernel.
///
/// # Safety
/// As for [`at`].
pub unsafe fn route(dirfd: libc::c_int, p: *const libc::c_char) -> Route {
    // A NULL or unreadable path is the host's, which answers EFAULT.
    // SAFETY: the caller's string, probed before it is read.
    let Ok(bytes) = (unsafe { rumpclient::probe::c_str(p) }).map(CStr::to_bytes) else { return Route::Host };
    if bytes.first() == Some(&b'/') {
        let Some((path, via)) = absolute(bytes) else { return Route::Host };
        if via == Cwd::Prefixed {
            if let Some(out) = climb_out(0, &path) {
                return out;
            }
        }
        return kernel_route(libc::AT_FDCWD, path, via);
    }
    // Decide before allocating: most relative paths stay on the host.
    let (dirfd, via) = if dirfd == libc::AT_FDCWD {
        let via = cwd();
        if via == Cwd::Host {
            return below_host_dir(dirfd, bytes);
        }
        (dirfd, via)
    } else {
        match fdmap::rump_fd(dirfd) {
            Some(r) => (r, Cwd::Prefixed),
            None => return below_host_dir(dirfd, bytes),
        }
    };
    if via == Cwd::Prefixed {
        let need = climb(bytes);
        if need > 0 {
            if let Some(out) = climb_out(kernel_depth(dirfd, need), bytes) {
                return out;
            }
        }
    }
    kernel_route(dirfd, bytes.to_vec(), via)
}

fn kernel_route(dirfd: libc::c_int, path: Vec<u8>, via: Cwd) -> Route {
    match CString::new(path) {
        Ok(path) => Route::Kernel(RumpPath { dirfd, path, via }),
        Err(_) => Route::Host,
    }
}

/// How far above its start `rel` climbs at most, counted lexically.
fn climb(rel: &[u8]) -> usize {
    let (mut depth, mut lowest) = (0isize, 0isize);
    for c in rel.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                lowest = lowest.min(depth);
            }
            _ => depth += 1,
        }
    }
    (-lowest) as usize
}

/// How many levels below the kernel's root the directory `dirfd` (a rump
/// fd or `AT_FDCWD`) is, counted up to `need`: `..` is stat'ed until it
/// is the root.
fn kernel_depth(dirfd: libc::c_int, need: usize) -> usize {
    use rump_abi::linux::sys::rump_sys_newfstatat;
    let Ok(k) = crate::backend::kernel() else { return need };
    let id = |dir: libc::c_int, p: &[u8]| {
        let p = CString::new(p).ok()?;
        // SAFETY: a stat buffer the kernel fills in.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        rump_sys_newfstatat(k, dir, p.as_ptr(), (&mut st as *mut libc::stat).cast(), 0).ok()?;
        Some((st.st_dev, st.st_ino))
    };
    let Some(root) = id(libc::AT_FDCWD, b"/") else { return need };
    let mut up = b".".to_vec();
    for depth in 0..need {
        match id(dirfd, &up) {
            Some(here) if here == root => return depth,
            Some(_) => {}
            None => return need,
        }
        up = if depth == 0 { b"..".to_vec() } else { [&up[..], b"/.."].concat() };
    }
    need
}

/// Where `rel`, taken from a directory `depth` levels below the kernel's
/// root, ends up if it climbs above that root: the host path from the
/// prefix's parent, or the kernel again if it re-enters the prefix. `None`
/// if it stays inside.
fn climb_out(depth: usize, rel: &[u8]) -> Option<Route> {
    let mut depth = depth;
    let mut parts = rel.split(|&b| b == b'/');
    let mut used = 0;
    loop {
        let c = parts.next()?;
        used += c.len() + 1;
        match c {
            b"" | b"." => {}
            b".." if depth == 0 => break,
            b".." => depth -= 1,
            _ => depth += 1,
        }
    }
    let prefix = config().prefix.as_deref()?.as_bytes();
    let rest = rel.get(used.min(rel.len())..).unwrap_or_default();
    let host = join(&join(prefix, b".."), rest);
    Some(match absolute(&host) {
        Some((path, via)) => kernel_route(libc::AT_FDCWD, path, via),
        None => Route::HostPath(CString::new(host).ok()?),
    })
}

/// `rel`, relative to host dirfd `dirfd` (or the host working directory):
/// the kernel if it leads there; the host at the joined path if it passes
/// through the prefix and out again by `..` (`rump/..`); else the host.
fn below_host_dir(dirfd: libc::c_int, rel: &[u8]) -> Route {
    let Some(prefix) = config().prefix.as_deref() else { return Route::Host };
    if let Some(last) = prefix.as_bytes().rsplit(|&b| b == b'/').find(|c| !c.is_empty()) {
        if !rel.split(|&b| b == b'/').any(|c| c == last) {
            return Route::Host;
        }
    }
    let Some(joined) = host_dir(dirfd).map(|dir| join(&dir, rel)) else { return Route::Host };
    match absolute(&joined) {
        Some((path, via)) => kernel_route(libc::AT_FDCWD, path, via),
        None if rel.split(|&b| b == b'/').any(|c| c == b"..") => {
            CString::new(joined).map_or(Route::Host, Route::HostPath)
        }
        None => Route::Host,
    }
}

/// The host path of directory `dirfd` (or of the working directory).
fn host_dir(dirfd: libc::c_int) -> Option<Vec<u8>> {
    let mut buf = [0u8; libc::PATH_MAX as usize];
    let (at, len) = (buf.as_mut_ptr() as usize, buf.len());
    let n = if dirfd == libc::AT_FDCWD {
        // getcwd's length counts the NUL.
        crate::host::sys(libc::SYS_getcwd, [at, len, 0, 0]).ok()?.saturating_sub(1)
    } else {
        let link = format!("/proc/self/fd/{dirfd}\0");
        crate::host::sys(libc::SYS_readlinkat, [libc::AT_FDCWD as usize, link.as_ptr() as usize, at, len]).ok()?
    };
    buf.get(..n as usize).filter(|d| d.first() == Some(&b'/')).map(<[u8]>::to_vec)
}

/// Absolute `dir` and relative `rel` as one absolute path, `.` and `..`
/// resolved lexically (`..` at the root stays there, as Linux's does); a
/// trailing slash of `rel` is kept, since it asks for a directory.
fn join(dir: &[u8], rel: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in dir.split(|&b| b == b'/').chain(rel.split(|&b| b == b'/')) {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = Vec::with_capacity(dir.len() + rel.len() + 1);
    for c in &parts {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    if out.is_empty() || (rel.ends_with(b"/") && !parts.is_empty()) {
        out.push(b'/');
    }
    out
}

/// Routes `p` relative to the working directory.
///
/// # Safety
/// As for [`at`].
pub unsafe fn path(p: *const libc::c_char) -> Option<RumpPath> {
    unsafe { at(libc::AT_FDCWD, p) }
}

/// How the working directory is shown to the program: the kernel's path
/// `kpath` behind the prefix, or as it is for a blanket.
pub fn shown_cwd(kpath: &[u8]) -> Vec<u8> {
    match (cwd(), config().prefix.as_deref()) {
        (Cwd::Prefixed, Some(prefix)) => {
            let mut v = prefix.as_bytes().to_vec();
            if kpath != b"/" {
                v.extend_from_slice(kpath);
            }
            v
        }
        _ => kpath.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(spec: &str, p: &str) -> Option<(String, Cwd)> {
        let cfg = Config::parse(spec).unwrap();
        absolute_in(&cfg, p.as_bytes()).map(|(k, via)| (String::from_utf8(k).unwrap(), via))
    }

    #[test]
    fn network_files_follow_inet_sockets() {
        let spec = "path=/rump,socket=inet";
        for (p, k) in [
            ("/proc/net", "/proc/net"),
            ("/proc/net/dev", "/proc/net/dev"),
            ("/proc/net/", "/proc/net/"),
            ("/proc/self/net/tcp6", "/proc/net/tcp6"),
            ("/proc/self/net", "/proc/net"),
            ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/ip_forward"),
        ] {
            assert_eq!(route(spec, p), Some((k.into(), Cwd::Blanket)), "{p}");
        }
        for p in ["/proc/network", "/proc/self/netx", "/proc/sys/netfilter", "/proc/self/mounts", "/proc/sys/kernel"] {
            assert_eq!(route(spec, p), None, "{p}");
        }
    }

    #[test]
    fn relative_paths_join_lexically() {
        for (dir, rel, j) in [
            ("/", "rump/dst", "/rump/dst"),
            ("/", "./rump", "/rump"),
            ("/tmp", "../rump/x/", "/rump/x/"),
            ("/", "../../rump", "/rump"),
            ("/a/b", "../../rump/./c/../d", "/rump/d"),
            ("/", ".", "/"),
            ("/tmp", "..", "/"),
        ] {
            assert_eq!(String::from_utf8(join(dir.as_bytes(), rel.as_bytes())).unwrap(), j, "{dir} + {rel}");
        }
    }

    #[test]
    fn climbs_count_the_deepest_dotdot() {
        for (rel, up) in
            [("a/b", 0), ("..", 1), ("../x", 1), ("a/../..", 1), ("../../a/..", 2), ("./a/./../b/../../..", 2)]
        {
            assert_eq!(climb(rel.as_bytes()), up, "{rel}");
        }
    }

    #[test]
    fn network_files_stay_on_the_host_without_inet_sockets() {
        assert_eq!(route("path=/rump,socket=inet6:route", "/proc/net/dev"), None);
        assert_eq!(route("", "/proc/sys/net/ipv4/ip_forward"), None);
        assert_eq!(route("path=/rump", "/rump/proc/net/dev"), Some(("/proc/net/dev".into(), Cwd::Prefixed)));
    }
}
