//! Costs of catching raw syscalls (`RUMPHIJACK=...,syscalls=all`, Syscall
//! User Dispatch), each beside its baseline in the same run: a raw
//! `getppid` and a raw 4 KiB `pread` on a host fd with interception on
//! against the same program without the library; the first raw call's
//! cost; a raw `pread` on a rump fd against libc's (hooked) `pread` on
//! the same; starting `/bin/true` with and without the library; a static
//! Go program's `os.ReadFile` of 4 KiB on /rump under `rumpctl run` (the
//! seccomp supervisor) against /dev/shm. The loops are `sud_prog.c` and
//! `sud_readfile.go`, compiled here with `cc` and `go`. Run with
//! `cargo bench -p rump-hijack --bench sud` after a release build of the
//! workspace (rumpctl).

use std::path::{Path, PathBuf};
use std::process::Command;

const CALLS: &str = "200000";

fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary path");
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

/// Runs `cmd` with `env` (no library unless it says so), best of five,
/// and returns the number it prints.
fn best(cmd: &[&str], env: &[(&str, &str)]) -> f64 {
    (0..5)
        .map(|_| {
            let out = Command::new(cmd[0])
                .args(&cmd[1..])
                .env_remove("LD_PRELOAD")
                .env_remove("RUMP_SERVER")
                .envs(env.iter().copied())
                .output()
                .expect("run");
            assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().parse::<f64>().expect("a number")
        })
        .fold(f64::INFINITY, f64::min)
}

fn row(what: &str, v: f64, base: &str, b: f64, unit: &str) {
    println!("{what:<48} {v:>10.1} {unit}   {base:<34} {b:>10.1} {unit}   ratio {:.2}", v / b);
}

fn main() {
    let dir = build_dir();
    let lib = dir.join("librumphijack.so");
    assert!(lib.exists(), "{} is missing", lib.display());
    let lib = lib.to_str().expect("UTF-8 path");
    let prog = std::env::temp_dir().join(format!("sud_prog-{}", std::process::id()));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sud_prog.c");
    let ok = Command::new("cc").args(["-O2", "-o"]).arg(&prog).arg(&src).status().is_ok_and(|s| s.success());
    assert!(ok, "compiling {}", src.display());
    let prog = prog.to_str().expect("UTF-8 path").to_owned();
    let shm = format!("/dev/shm/sud-bench-{}", std::process::id());
    let on = [("LD_PRELOAD", lib), ("RUMPHIJACK", "path=/rump,syscalls=all")];
    let hooks = [("LD_PRELOAD", lib), ("RUMPHIJACK", "path=/rump")];

    let run = |mode: &str, path: &str, env: &[(&str, &str)]| best(&[&prog, mode, path, CALLS], env);
    row("raw getppid, caught (ns)", run("getppid", "-", &on), "no library", run("getppid", "-", &[]), "ns");
    row(
        "raw pread 4 KiB host fd, caught (ns)",
        run("pread-raw", &shm, &on),
        "no library",
        run("pread-raw", &shm, &[]),
        "ns",
    );
    row(
        "first raw getppid, caught (ns)",
        best(&[&prog, "first", "-", "1"], &on),
        "no library",
        best(&[&prog, "first", "-", "1"], &[]),
        "ns",
    );
    row(
        "raw pread 4 KiB rump fd, caught (ns)",
        run("pread-raw", "/rump/b", &on),
        "libc pread, hooked, rump fd",
        run("pread-libc", "/rump/b", &hooks),
        "ns",
    );
    let _ = std::fs::remove_file(&shm);
    let _ = std::fs::remove_file(&prog);

    // The loop's shell runs without the library; each /bin/true gets it.
    let start = |lib: &str, spec: &str| {
        let script = "s=$(date +%s%N); for i in $(seq 200); do LD_PRELOAD=$BL RUMPHIJACK=$BR /bin/true; done; \
                      echo $(( ($(date +%s%N) - s) / 200000 ))";
        (0..3)
            .map(|_| {
                let out =
                    Command::new("bash").args(["-c", script]).env("BL", lib).env("BR", spec).output().expect("bash");
                String::from_utf8_lossy(&out.stdout).trim().parse::<f64>().unwrap_or(f64::NAN)
            })
            .fold(f64::INFINITY, f64::min)
    };
    let bare = start("", "");
    row("/bin/true start, library, syscalls=all (us)", start(lib, "path=/rump,syscalls=all"), "no library", bare, "us");
    row("/bin/true start, library, hooks only (us)", start(lib, "path=/rump"), "no library", bare, "us");

    let go = std::env::temp_dir().join(format!("sud_readfile-{}", std::process::id()));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sud_readfile.go");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&go)
        .arg(&src)
        .env("CGO_ENABLED", "0")
        .env("GO111MODULE", "off")
        .status()
        .is_ok_and(|s| s.success());
    assert!(built, "go build {}", src.display());
    let go = go.to_str().expect("UTF-8 path").to_owned();
    let rumpctl = dir.join("rumpctl");
    let rumpctl = rumpctl.to_str().expect("UTF-8 path");
    let reads = "2000";
    let rump = best(&[rumpctl, "run", "--", &go, "/rump/f", reads], &[]);
    let host = best(&[&go, &format!("{shm}-go"), reads], &[]);
    row("Go os.ReadFile 4 KiB, /rump, rumpctl run (ns)", rump, "/dev/shm, no supervisor", host, "ns");
    let _ = std::fs::remove_file(&go);
}
