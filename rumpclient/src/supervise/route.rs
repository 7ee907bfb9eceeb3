//! Which caught calls are the kernel's: each argument the routing table
//! marks looked up once (a placeholder fd's kernel fd, a path under the
//! prefix or relative to a directory in the kernel, a socket family the
//! kernel serves), the waits and getcwd that involve the kernel, and a
//! chdir the host runs, which takes the working directory out of it.

use super::target::{read_str, rump_fd};
use super::wait::{self, SET_WAITS};
use super::{Call, Resolved, Supervisor};
use rump_abi::linux::sys::raw_route;
use rump_abi::RawArg;

/// The socket families the kernel serves: the library's default
/// `socket=all:nolocal` (inet, inet6, route netlink, packet).
const KERNEL_FAMILIES: &[i32] = &[libc::AF_INET, libc::AF_INET6, libc::AF_NETLINK, libc::AF_PACKET];

impl Supervisor {
    /// Notes a chdir that the host runs: the working directory leaves the
    /// kernel if it will succeed (a directory, checked here, or a host fd).
    pub(super) fn leaving_kernel_cwd(&self, c: &Call) {
        let leaves = match c.nr {
            libc::SYS_fchdir => true,
            libc::SYS_chdir => read_str(c.tid, c.args[0])
                .and_then(|p| String::from_utf8(p).ok())
                .is_some_and(|p| p.starts_with('/') && std::path::Path::new(&p).is_dir()),
            _ => false,
        };
        if leaves {
            if let Ok(t) = self.traced_or_new(c.tid) {
                if let Ok(mut t) = t.lock() {
                    t.cwd_in_kernel = false;
                }
            }
        }
    }

    /// What the call names of the kernel's (its rump fds and kernel
    /// paths, each looked up once); None when it names nothing.
    pub(super) fn resolve(&self, c: &Call) -> Option<Resolved> {
        let Some(route) = raw_route(c.nr as u32) else {
            // select and pselect6: not in the kernel's table (it has poll).
            let ours = SET_WAITS.contains(&c.nr)
                && wait::set_touches_rump(c.tid, c.nr, &c.args, self.known_waits(c.tid).as_deref());
            return ours.then(Resolved::default);
        };
        let mut r = Resolved::default();
        let mut ours = false;
        for (i, kind) in route.args.iter().enumerate() {
            match *kind {
                RawArg::Fd => {
                    r.fds[i] = rump_fd(c.tid, c.args[i] as i32);
                    ours |= r.fds[i].is_some();
                }
                RawArg::Path | RawArg::PathAt(_) => {
                    // A dirfd comes before its path: already looked up.
                    let relative_ours = || match *kind {
                        RawArg::PathAt(d) if c.args[d as usize] as i32 != libc::AT_FDCWD => r.fds[d as usize].is_some(),
                        _ => self.cwd_in_kernel(c.tid),
                    };
                    let p = self.path_route(c, c.args[i], relative_ours);
                    ours |= p.is_some();
                    r.paths[i] = p;
                }
                RawArg::Family => ours |= KERNEL_FAMILIES.contains(&(c.args[i] as i32)),
                RawArg::Other => {}
            }
        }
        let companion_of_arg0 =
            || self.known_waits(c.tid).is_some_and(|w| w.lock().is_ok_and(|w| w.has_companion(c.args[0] as i32)));
        ours = ours
            || match route.name {
                _ if SET_WAITS.contains(&c.nr) => {
                    wait::set_touches_rump(c.tid, c.nr, &c.args, self.known_waits(c.tid).as_deref())
                }
                "getcwd" => self.cwd_in_kernel(c.tid),
                "epoll_wait" | "epoll_pwait" | "epoll_pwait2" | "close" => companion_of_arg0(),
                _ => false,
            };
        ours.then_some(r)
    }

    /// The kernel's path for the caller's path at `addr`, if it goes there
    /// (a relative one if `relative_ours` says its directory is there).
    pub(super) fn path_route(&self, c: &Call, addr: u64, relative_ours: impl FnOnce() -> bool) -> Option<Vec<u8>> {
        let p = read_str(c.tid, addr)?;
        if p.first() == Some(&b'/') {
            if let Some(k) = rump_abi::linux::net_file(&p) {
                return Some(k);
            }
            let rest = p.strip_prefix(self.prefix.as_bytes())?;
            return match rest.first() {
                None => Some(b"/".to_vec()),
                Some(b'/') => Some(rest.to_vec()),
                _ => None,
            };
        }
        relative_ours().then_some(p)
    }
}
