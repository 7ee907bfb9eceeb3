//! Shared by the integration tests: where the built artefacts are, fresh
//! host directories, and a rump_server to run against.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The build directory holding librumphijack.so, rump_server and rumpctl.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

pub fn library() -> PathBuf {
    ensure_built();
    let lib = build_dir().join("librumphijack.so");
    assert!(lib.exists(), "{} is missing", lib.display());
    lib
}

/// `cargo test` builds test binaries, not the cdylib or other packages'
/// binaries these tests run, so build them (once per test binary; quick
/// when nothing changed).
pub fn ensure_built() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-q", "-p", "rump-hijack", "-p", "rump-tools"]);
        if build_dir().ends_with("release") {
            cmd.arg("--release");
        }
        let st = cmd.current_dir(env!("CARGO_MANIFEST_DIR")).status().expect("run cargo");
        assert!(st.success(), "building librumphijack.so and the tools failed");
    });
}

/// A fresh host directory on tmpfs (the rump kernel's root is tmpfs too,
/// so sizes and block counts compare).
pub fn host_dir(tag: &str) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let d = base.join(format!("rumptest-{}-{}-{tag}", std::process::id(), rand_tag()));
    std::fs::create_dir_all(&d).expect("host dir");
    d
}

pub fn rand_tag() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() as u64)
}

/// A prefix the host does not have, and the `RUMPHIJACK` that routes it.
/// A call the library failed to route would then reach the host at a path
/// that does not exist there and fail, instead of quietly working in a
/// host directory and comparing equal; tests check afterwards that the
/// host still lacks it.
pub fn fresh_prefix() -> (String, String) {
    let prefix = format!("/rumptest-{}-{}", std::process::id(), rand_tag());
    assert!(!Path::new(&prefix).exists(), "the host already has {prefix}");
    // Raw syscalls as by default (`auto`); RUMP_TEST_SYSCALLS=all runs
    // the tests with Syscall User Dispatch armed in every process, =libc
    // with the libc hooks alone.
    let syscalls = std::env::var("RUMP_TEST_SYSCALLS").unwrap_or_else(|_| "auto".into());
    let spec = format!("path={prefix},socket=all:nolocal,syscalls={syscalls}");
    (prefix, spec)
}

/// A foreground `rump_server -s -v` on a private unix socket; `halt`
/// stops it with `rumpctl halt` and checks that it exited cleanly, and
/// dropping it kills a server still running.
pub struct Server {
    child: Child,
    pub url: String,
    dir: PathBuf,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// A server started with extra options (e.g. `-i "shmif0 create linkstr BUS"`).
    pub fn start_with(extra: &[&str]) -> Server {
        Server::spawn(None, extra)
    }

    /// A server on a TCP port of the loopback interface.
    #[allow(dead_code)] // not every test binary using `support` needs one
    pub fn start_tcp() -> Server {
        Server::spawn(Some("tcp://127.0.0.1:0"), &[])
    }

    /// A server at `url` (a private unix socket if `None`); `self.url` is
    /// where it listens, as it says (a port 0 resolved).
    fn spawn(url: Option<&str>, extra: &[&str]) -> Server {
        ensure_built();
        let dir = std::env::temp_dir().join(format!("rumptest-srv-{}-{}", std::process::id(), rand_tag()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = url.map_or_else(|| format!("unix://{}/sock", dir.display()), str::to_owned);
        let mut child = Command::new(build_dir().join("rump_server"))
            .args(["-s", "-v"])
            .args(extra)
            .arg(&url)
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run rump_server");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let Some(url) = first.strip_prefix("rump_server: listening on ").map(str::to_owned) else {
            panic!("rump_server did not start: {first:?}")
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, url, dir }
    }

    /// `rumpctl halt -s URL`, then waits for the server to exit.
    pub fn halt(mut self) -> Result<(), String> {
        let halted = Command::new(build_dir().join("rumpctl")).args(["halt", "-s", &self.url]).output();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) if st.success() => return Ok(()),
                Ok(Some(st)) => return Err(format!("rump_server exited with {st} after the halt")),
                _ if Instant::now() > deadline => {
                    let why = match &halted {
                        Ok(o) => format!("{}: {}", o.status, String::from_utf8_lossy(&o.stderr).trim()),
                        Err(e) => e.to_string(),
                    };
                    return Err(format!("rump_server still running 10 s after `rumpctl halt` ({why})"));
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The interpreter `python3` on the PATH names (`sys.executable`), so that
/// a wrapper script in front of it (a pyenv shim) does not run hijacked too.
pub fn python3() -> PathBuf {
    static PYTHON: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running python3: {e}"))?;
        let exe = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !out.status.success() || exe.is_empty() {
            return Err(format!(
                "python3 -c 'import sys; print(sys.executable)' failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(PathBuf::from(exe))
    });
    match found {
        Ok(exe) => exe.clone(),
        Err(e) => panic!("the Python tests need python3 on the PATH (CI installs it): {e}"),
    }
}
