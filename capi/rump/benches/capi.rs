//! The C interface's call costs, as NetBSD's rump was measured: installs
//! (release) into a temporary prefix, builds `capi/bench/*.c` with `-O2`
//! against it, and prints each figure beside its host baseline from the
//! same run: `rump_sys_getpid` in-process vs the host's `getppid`, and
//! through librumpclient to a `rump_server` vs a bare unix-socket
//! ping-pong.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn must(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `name value` lines as (name, value).
fn figures(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|l| l.split_once(' ').and_then(|(n, v)| Some((n.to_owned(), v.trim().parse().ok()?))))
        .collect()
}

fn report(what: &str, text: &str) {
    let f = figures(text);
    let [(rn, r), (hn, h)] = &f[..] else { panic!("{what}: unexpected output {text:?}") };
    println!("{what}: {rn} {r:.1} ns, {hn} {h:.1} ns, ratio {:.2}", r / h);
}

fn main() {
    let dir = std::env::temp_dir().join(format!("rump-capi-bench-{}", std::process::id()));
    let prefix = dir.join("prefix");
    must(Command::new(repo().join("scripts/install.sh")).arg(&prefix));
    let pc = |pkg: &str| -> Vec<String> {
        let out = must(
            Command::new("pkg-config")
                .args(["--cflags", "--libs", pkg])
                .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")),
        );
        out.split_whitespace().map(str::to_owned).collect()
    };
    let build = |name: &str, pkg: &str| -> PathBuf {
        let exe = dir.join(name);
        must(
            Command::new("cc")
                .args(["-O2", "-o"])
                .arg(&exe)
                .arg(repo().join(format!("capi/bench/{name}.c")))
                .args(pc(pkg)),
        );
        exe
    };
    report("in-process", &must(&mut Command::new(build("local", "rump"))));

    let remote = build("remote", "rumpclient");
    let mut server = Command::new(prefix.join("bin/rump_server"))
        .args(["-s", "-v"])
        .arg(format!("unix://{}/sock", dir.display()))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rump_server");
    let mut line = String::new();
    let mut stderr = BufReader::new(server.stderr.take().expect("stderr"));
    stderr.read_line(&mut line).expect("rump_server's first line");
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let url = line.trim().strip_prefix("rump_server: listening on ").expect("rump_server started").to_owned();
    let out = must(Command::new(remote).env("RUMP_SERVER", url));
    let _ = server.kill();
    let _ = server.wait();
    report("librumpclient over unix", &out);
    let _ = std::fs::remove_dir_all(&dir);
}
