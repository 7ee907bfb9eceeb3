//! What the rumpctl tests share: the binaries, built with the library
//! beside them, and temporary directories.
#![allow(dead_code)] // each test crate uses its own part

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// rumpctl, with librumphijack.so built beside it (once per test run):
/// `cargo test` builds only what tests link, which a cdylib never is, and
/// this way the library tested is the current one.
pub fn rumpctl() -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_rumpctl"));
    BUILT.get_or_init(|| {
        let profile_dir = bin.parent().unwrap();
        let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
            "debug" => "dev",
            p => p,
        };
        let st = Command::new(env!("CARGO"))
            .args(["build", "-p", "rump-hijack", "--profile", profile])
            .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(st.success(), "cargo build -p rump-hijack failed");
    });
    let lib = bin.with_file_name("librumphijack.so");
    assert!(lib.is_file(), "{} is missing after building it", lib.display());
    bin
}

/// rump_server, beside rumpctl.
pub fn rump_server() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rump_server"))
}

/// A host temp directory, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rumpctl-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn s(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
