//! `rumpctl run`: runs a program with librumphijack.so preloaded against a
//! rump kernel, and exits with the program's status.
//!
//! `rumpctl run [-s URL] [--hijack SPEC] [-d drivespec]... [-m HOSTDIR:PATH[:ro]]... -- CMD [ARGS]...`
//!
//! Without `-s`, rumpctl hosts the kernel: it boots one with the `-d`
//! drives and `-m` host directories (as rump_server takes them), serves it
//! on a unix socket in a private directory (0700, removed afterwards), and
//! runs CMD as its client; through the library, so is every process CMD
//! starts. Once CMD exits the kernel halts, whatever CMD left running. With
//! `-s URL`, CMD uses the server there and rumpctl runs no kernel.
//!
//! A static CMD (no program interpreter: busybox-static, a Go program)
//! cannot load the library: it runs under a seccomp filter whose calls
//! the kernel's supervisor serves, through the door beside the server's
//! socket (`supervise`), with `-s` too when the URL is a unix socket.
//!
//! CMD's environment: `LD_PRELOAD` with the library first, `RUMP_SERVER`,
//! and `RUMPHIJACK=SPEC` with `--hijack` (else whatever it was). The
//! library is the `librumphijack.so` beside the rumpctl executable, where
//! cargo builds both.
//!
//! Signals, as system(3) and shells arrange them: rumpctl ignores SIGINT
//! and SIGQUIT while CMD runs, so a Ctrl-C at the terminal stops CMD (which
//! gets it from the terminal too) and rumpctl then cleans up; SIGTERM and
//! SIGHUP sent to rumpctl are passed on to CMD.
//!
//! Exit status: CMD's, or 128 + the signal that killed it; 127 if CMD is
//! not found and 126 if it cannot be run, as a shell says; 125 if rumpctl
//! itself fails (no library, a kernel that does not start), as env(1)
//! does; 2 for a bad command line, before anything runs, as every rumpctl
//! subcommand (see `cli`).

use crate::cli::rumpctl::RunArgs;
use crate::supervise::{door_path, is_static, knock, ChildSetup, Door};
use crate::{attach_storage, strerror};
use rump_kernel::{Config, Kernel};
use rumpclient::policy::Policy;
use rumpclient::server::Server;
use rumpclient::url::ServerUrl;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::Command;

/// The preload library's file name.
pub const LIBRARY: &str = "librumphijack.so";

/// rumpctl itself failed before CMD ran.
pub const EXIT_FAILED: i32 = 125;
/// CMD exists but could not be run.
pub const EXIT_CANNOT_RUN: i32 = 126;
/// CMD was not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// The library beside the running rumpctl.
pub fn library() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("where is rumpctl? {e}"))?;
    let lib = exe.with_file_name(LIBRARY);
    if !lib.is_file() {
        return Err(format!(
            "{} is missing (rumpctl runs programs with the {LIBRARY} built beside it: cargo build --workspace)",
            lib.display()
        ));
    }
    // LD_PRELOAD separates its entries with both.
    if lib.as_os_str().as_encoded_bytes().iter().any(|&b| b == b' ' || b == b':') {
        return Err(format!("{}: LD_PRELOAD cannot carry a path with a space or a colon", lib.display()));
    }
    Ok(lib)
}

/// `LD_PRELOAD` with `lib` in front of what was there.
pub fn preload(lib: &std::path::Path, existing: Option<OsString>) -> OsString {
    let mut v = OsString::from(lib);
    if let Some(old) = existing.filter(|o| !o.is_empty()) {
        v.push(":");
        v.push(old);
    }
    v
}

/// A directory only we may enter, removed with everything in it when
/// dropped: the socket lives there, so no other user can reach the kernel.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> std::io::Result<PrivateDir> {
        let base = std::env::temp_dir();
        let mut last = None;
        for attempt in 0..64u32 {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let p = base.join(format!("rumpctl-{}-{:x}", std::process::id(), nanos as u32 ^ attempt));
            match std::fs::DirBuilder::new().mode(0o700).create(&p) {
                Ok(()) => {
                    let dir = PrivateDir(p);
                    // The umask may have taken our own bits too.
                    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o700))?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ErrorKind::AlreadyExists.into()))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A kernel of our own, served to CMD.
struct Hosted {
    kernel: Kernel,
    server: Server,
    /// Where static binaries' supervision is asked for (`supervise`);
    /// without one (a socket path too long for it) they are told so.
    _door: Option<Door>,
    // Dropped last: the sockets in it go first.
    _dir: PrivateDir,
}

impl Hosted {
    fn start(o: &RunArgs) -> Result<Hosted, String> {
        let dir =
            PrivateDir::new().map_err(|e| format!("a private directory in {}: {e}", std::env::temp_dir().display()))?;
        // rump_server's configuration: two CPUs, as NetBSD's.
        let kernel =
            Kernel::boot(Config { ncpu: 2, ..Config::default() }).map_err(|e| format!("boot: {}", strerror(e)))?;
        attach_storage(&kernel, &o.drives, &o.mounts)?;
        let sock = dir.0.join("sock");
        let url = ServerUrl::Unix(sock.clone());
        let server = Server::start(kernel.clone(), &url, Policy::default()).map_err(|e| format!("{url}: {e}"))?;
        let door = Door::open(kernel.clone(), &sock, server.fork_claims())
            .inspect_err(|e| tracing::info!("{}: {e}", door_path(&sock).display()))
            .ok();
        Ok(Hosted { kernel, server, _door: door, _dir: dir })
    }

    fn stop(self) {
        self.kernel.halt();
        self.server.shutdown();
    }
}

fn signal_set(sigs: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: plain signal-set manipulation on a local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Passes the signals in `set` (blocked in every thread) on to `pid`, our
/// child, until the process ends.
fn forward_signals(pid: u32, set: libc::sigset_t) {
    // A pidfd names this child even once it is reaped and its pid reused:
    // a late signal then goes nowhere rather than to a stranger.
    // SAFETY: a plain call; the child is not reaped yet, so the pid is its.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
    std::thread::spawn(move || loop {
        let mut sig = 0;
        // SAFETY: waiting for signals blocked in every thread.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            return;
        }
        // SAFETY: signalling our own child.
        unsafe {
            if pidfd >= 0 {
                libc::syscall(libc::SYS_pidfd_send_signal, pidfd, sig, std::ptr::null::<libc::c_void>(), 0);
            } else {
                // Hosts before pidfds (Linux 5.3).
                libc::kill(pid as libc::pid_t, sig);
            }
        }
    });
}

/// The executable `name` runs as: itself if it has a slash, else the
/// first match on `PATH`.
pub fn which(name: &std::ffi::OsStr) -> Option<PathBuf> {
    if name.as_encoded_bytes().contains(&b'/') {
        return Some(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The `path=` prefix a `RUMPHIJACK` spec names (the library's default
/// without one).
pub fn prefix(spec: Option<&str>) -> String {
    let spec = spec.map(str::to_owned).or_else(|| std::env::var("RUMPHIJACK").ok());
    spec.and_then(|s| s.split(',').find_map(|i| i.strip_prefix("path=").map(str::to_owned)))
        .unwrap_or_else(|| "/rump".into())
}

fn fail(msg: &str) -> i32 {
    eprintln!("rumpctl: {msg}");
    EXIT_FAILED
}

/// The child setup that has static `cmd`'s calls served by the kernel at
/// `url`, through its door; None (said on stderr) where there is none.
pub fn supervision(url: &ServerUrl, prefix: &str, cmd: &std::ffi::OsStr) -> Option<ChildSetup> {
    let cmd = cmd.to_string_lossy();
    let ServerUrl::Unix(sock) = url else {
        eprintln!("rumpctl: {cmd} is static: its calls reach a kernel only over a unix socket, not {url}");
        return None;
    };
    match knock(sock, prefix) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!(
                "rumpctl: {cmd} is static and {} does not answer ({e}): its calls go to the host",
                door_path(sock).display()
            );
            None
        }
    }
}

/// `rumpctl run ARGS...`: returns the status rumpctl exits with.
pub fn main(o: &RunArgs) -> i32 {
    let lib = match library() {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    // Blocked before the kernel's threads exist, so they all inherit the
    // mask and only the forwarder takes these signals.
    let forwarded = signal_set(&[libc::SIGTERM, libc::SIGHUP]);
    // SAFETY: setting this thread's mask and two dispositions.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &forwarded, std::ptr::null_mut());
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let hosted = match &o.server {
        Some(_) => None,
        None => match Hosted::start(o) {
            Ok(h) => Some(h),
            Err(e) => return fail(&e),
        },
    };
    let url = match (&o.server, &hosted) {
        (Some(u), _) => u.clone(),
        (None, Some(h)) => h.server.url().clone(),
        (None, None) => unreachable!("a kernel of our own without -s"),
    };

    // A static binary cannot load the library: its calls are caught by
    // seccomp and served by the server's supervisor.
    let child_setup = match which(&o.command[0]).filter(|p| is_static(p)) {
        Some(_) => supervision(&url, &prefix(o.hijack.as_deref()), &o.command[0]),
        None => None,
    };
    let parent_end = child_setup.as_ref().map(ChildSetup::clone_for_child);
    let mut cmd = Command::new(&o.command[0]);
    cmd.args(&o.command[1..])
        .env("LD_PRELOAD", preload(&lib, std::env::var_os("LD_PRELOAD")))
        .env("RUMP_SERVER", url.to_string());
    if let Some(spec) = &o.hijack {
        cmd.env("RUMPHIJACK", spec);
    }
    // SAFETY: only async-signal-safe calls between fork and exec. Ignored
    // and blocked signals stay so across exec: CMD gets the defaults back.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            libc::sigprocmask(libc::SIG_UNBLOCK, &forwarded, std::ptr::null_mut());
            match &child_setup {
                Some(c) => c.install(),
                None => Ok(()),
            }
        });
    }
    let spawned = cmd.spawn();
    if let Some(c) = parent_end {
        c.close_parent_end();
    }
    let status = match spawned {
        Ok(mut child) => {
            forward_signals(child.id(), forwarded);
            match child.wait() {
                Ok(st) => st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
                Err(e) => fail(&format!("waiting for {}: {e}", o.command[0].to_string_lossy())),
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            eprintln!("rumpctl: {}: command not found", o.command[0].to_string_lossy());
            EXIT_NOT_FOUND
        }
        Err(e) => {
            eprintln!("rumpctl: {}: {e}", o.command[0].to_string_lossy());
            EXIT_CANNOT_RUN
        }
    };
    if let Some(h) = hosted {
        h.stop();
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preload_goes_first() {
        let lib = std::path::Path::new("/l/librumphijack.so");
        assert_eq!(preload(lib, None), "/l/librumphijack.so");
        assert_eq!(preload(lib, Some("".into())), "/l/librumphijack.so");
        assert_eq!(preload(lib, Some("/x.so /y.so".into())), "/l/librumphijack.so:/x.so /y.so");
    }
}
