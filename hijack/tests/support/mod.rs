//! Shared by the integration tests: where the built artefacts are, fresh
//! host directories, and a rump_server to run against.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// A rump_server on a private unix socket, halted when dropped.
pub struct Server {
    pub url: String,
    dir: PathBuf,
}

impl Server {
    pub fn start() -> Server {
        ensure_built();
        let dir = std::env::temp_dir().join(format!("rumptest-srv-{}-{}", std::process::id(), rand_tag()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("unix://{}/sock", dir.display());
        let st = Command::new(build_dir().join("rump_server")).arg(&url).status().expect("start rump_server");
        assert!(st.success(), "rump_server failed to start");
        Server { url, dir }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(build_dir().join("rumpctl")).args(["halt", "-s", &self.url]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
