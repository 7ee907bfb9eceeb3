//! Which kernel a path or a dirfd-relative path belongs to, and the
//! virtual working directory.
//!
//! An absolute path under the `path=` prefix goes to the kernel with the
//! prefix stripped (`/rump/a` → `/a`, `/rump` → `/`); one under a `blanket=`
//! entry goes as it is. Matching is literal, as NetBSD's: `..` and symlinks
//! inside a path never switch kernels, so a walk up from `/rump` stays at
//! the kernel's root. A relative path follows the working directory, which
//! is in the kernel once the program `chdir`s there; a path relative to a
//! rump dirfd goes to the kernel by that fd.
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

/// The network's files in `/proc`, and the kernel path each stands for.
const NET_FILES: &[(&[u8], &[u8])] =
    &[(b"/proc/net", b"/proc/net"), (b"/proc/self/net", b"/proc/net"), (b"/proc/sys/net", b"/proc/sys/net")];

/// `p` as the kernel's network file if it is one: an entry of `NET_FILES`
/// or a path below it.
fn net_file(p: &[u8]) -> Option<Vec<u8>> {
    NET_FILES.iter().find_map(|(shown, kernel)| {
        let rest = p.strip_prefix(*shown)?;
        (rest.is_empty() || rest[0] == b'/').then(|| [*kernel, rest].concat())
    })
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

/// Routes `p` relative to `dirfd` (`AT_FDCWD` for the working directory).
/// `None` means the host; a NULL `p` also means the host, which reports
/// EFAULT as Linux does.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
pub unsafe fn at(dirfd: libc::c_int, p: *const libc::c_char) -> Option<RumpPath> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller's string.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    if bytes.first() == Some(&b'/') {
        let (path, via) = absolute(bytes)?;
        return Some(RumpPath { dirfd: libc::AT_FDCWD, path: CString::new(path).ok()?, via });
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
    Some(RumpPath { dirfd, path: CString::new(bytes).ok()?, via })
}

/// `rel`, relative to host dirfd `dirfd` (or the host working directory),
/// if it leads into the kernel.
fn below_host_dir(dirfd: libc::c_int, rel: &[u8]) -> Option<RumpPath> {
    let prefix = config().prefix.as_deref()?.as_bytes();
    if let Some(last) = prefix.rsplit(|&b| b == b'/').find(|c| !c.is_empty()) {
        if !rel.split(|&b| b == b'/').any(|c| c == last) {
            return None;
        }
    }
    let mut buf = [0u8; libc::PATH_MAX as usize];
    let (at, len) = (buf.as_mut_ptr() as usize, buf.len());
    let n = if dirfd == libc::AT_FDCWD {
        // getcwd's length counts the NUL.
        crate::host::sys(libc::SYS_getcwd, [at, len, 0, 0]).ok()?.saturating_sub(1)
    } else {
        let link = format!("/proc/self/fd/{dirfd}\0");
        crate::host::sys(libc::SYS_readlinkat, [libc::AT_FDCWD as usize, link.as_ptr() as usize, at, len]).ok()?
    };
    let dir = buf.get(..n as usize).filter(|d| d.first() == Some(&b'/'))?;
    let (path, via) = absolute(&join(dir, rel))?;
    Some(RumpPath { dirfd: libc::AT_FDCWD, path: CString::new(path).ok()?, via })
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
    fn network_files_stay_on_the_host_without_inet_sockets() {
        assert_eq!(route("path=/rump,socket=inet6:route", "/proc/net/dev"), None);
        assert_eq!(route("", "/proc/sys/net/ipv4/ip_forward"), None);
        assert_eq!(route("path=/rump", "/rump/proc/net/dev"), Some(("/proc/net/dev".into(), Cwd::Prefixed)));
    }
}
