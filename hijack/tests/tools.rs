//! Unmodified tools on /rump against the same tools on a host tmpfs
//! directory: `tools.sh CASE DIR HOSTDIR` runs one group of commands and
//! prints a transcript that does not depend on DIR; the transcript on
//! /rump, with the in-process kernel and with a remote `rump_server`
//! (and, for the cases about the library's plumbing, under `rumpctl run`),
//! must equal the host's.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::{build_dir, fresh_prefix, host_dir, library, Server};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools.sh")
}

/// Runs one case with `dir` under test; `env` adds the preload, `wrap`
/// a command the script runs under (`rumpctl run ... --`).
fn run_case_in(wrap: &[&str], case: &str, dir: &Path, hostdir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = match wrap.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg("bash");
            c
        }
        None => Command::new("bash"),
    };
    cmd.arg(script()).arg(case).arg(dir).arg(hostdir);
    cmd.env_remove("RUMP_SERVER").env_remove("LD_PRELOAD").env_remove("RUMPHIJACK");
    cmd.env("PYTHONDONTWRITEBYTECODE", "1");
    cmd.env("LC_ALL", "C").env("TZ", "UTC");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).output().expect("run tools.sh")
}

fn run_case(case: &str, dir: &Path, hostdir: &Path, env: &[(&str, &str)]) -> Output {
    run_case_in(&[], case, dir, hostdir, env)
}

fn transcript(o: &Output) -> String {
    format!(
        "{}{}[exit {}]",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        o.status.code().map_or("signal".into(), |c| c.to_string())
    )
}

/// Line-by-line differences, for a readable failure.
fn diff(a: &str, b: &str) -> String {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut out = String::new();
    for i in 0..la.len().max(lb.len()) {
        let (x, y) = (la.get(i).copied().unwrap_or("<none>"), lb.get(i).copied().unwrap_or("<none>"));
        if x != y {
            out += &format!("line {}:\n  host: {x}\n  rump: {y}\n", i + 1);
        }
    }
    out
}

/// The case on a host dir, on the kernel in-process and on a remote
/// kernel. The prefix is one the host does not have, and must still not
/// have afterwards: a call that slipped through to the host would
/// otherwise compare equal to the host run.
fn compare(case: &str) {
    compare_with(case, Modes::default());
}

/// What a case needs beyond the host, embedded and remote runs.
#[derive(Default)]
struct Modes {
    /// Also run under `rumpctl run` (its own kernel, the library preloaded
    /// by rumpctl).
    under_run: bool,
    /// The host has an empty directory at the prefix, as a mount point has,
    /// and DIR is `MOUNT/t/CASE` on the host run too, so a walk from the
    /// mount point's parent meets the same names in every run. It must be
    /// empty afterwards.
    mount_point: bool,
}

fn compare_with(case: &str, modes: Modes) {
    let lib = library();
    let lib = lib.to_str().unwrap();
    let (prefix, spec) = fresh_prefix();
    let dir = Path::new(&prefix).join("t").join(case);
    let (hd, hh) = (host_dir("d"), host_dir("h"));
    let host_case_dir = if modes.mount_point { hd.join("t").join(case) } else { hd.join(case) };
    if modes.mount_point {
        std::fs::create_dir(&prefix).expect("the mount point");
    }
    let host = transcript(&run_case(case, &host_case_dir, &hh, &[]));
    let emb_h = host_dir("eh");
    let embedded = transcript(&run_case(case, &dir, &emb_h, &[("LD_PRELOAD", lib), ("RUMPHIJACK", &spec)]));
    let server = Server::start();
    let rem_h = host_dir("rh");
    let remote = transcript(&run_case(
        case,
        &dir,
        &rem_h,
        &[("LD_PRELOAD", lib), ("RUMPHIJACK", &spec), ("RUMP_SERVER", &server.url)],
    ));
    server.halt().expect("halting rump_server");
    let run_h = host_dir("uh");
    let rumpctl = build_dir().join("rumpctl");
    let run = modes.under_run.then(|| {
        let wrap = [rumpctl.to_str().unwrap(), "run", "--hijack", &spec, "--"];
        transcript(&run_case_in(&wrap, case, &dir, &run_h, &[]))
    });
    for d in [hd, hh, emb_h, rem_h, run_h] {
        let _ = std::fs::remove_dir_all(d);
    }
    if modes.mount_point {
        let left = std::fs::read_dir(&prefix).map(Iterator::count);
        let _ = std::fs::remove_dir(&prefix);
        assert_eq!(left.ok(), Some(0), "{case}: something reached the host's {prefix}");
    }
    assert!(!Path::new(&prefix).exists(), "{case}: something reached the host's {prefix}");
    assert!(host.contains("[rc=0]") || case == "df", "the host run itself failed:\n{host}");
    assert!(embedded == host, "{case}: in-process kernel differs from the host:\n{}", diff(&host, &embedded));
    assert!(remote == host, "{case}: remote kernel differs from the host:\n{}", diff(&host, &remote));
    if let Some(run) = run {
        assert!(run == host, "{case}: `rumpctl run` differs from the host:\n{}", diff(&host, &run));
    }
}

#[test]
fn read_tools() {
    compare("read_tools");
}

#[test]
fn ls() {
    compare("ls");
}

#[test]
fn copy_move() {
    compare("copy_move");
}

#[test]
fn namespace() {
    compare("namespace");
}

#[test]
fn dd_sort() {
    compare("dd_sort");
}

#[test]
fn tar_find_grep() {
    compare("tar_find_grep");
}

/// git (index, objects, status's stat walk) and make -j2 (timestamps, cc
/// writing objects, running the program it linked) on /rump.
#[test]
fn git_make() {
    compare("git_make");
}

#[test]
fn df() {
    compare("df");
}

#[test]
fn shells() {
    compare("shells");
}

#[test]
fn python() {
    compare("python");
}

#[test]
fn fds() {
    compare_with("fds", Modes { under_run: true, ..Modes::default() });
}

#[test]
fn rsync() {
    compare_with("rsync", Modes { under_run: true, ..Modes::default() });
}

#[test]
fn walks_from_above() {
    compare_with("walks_from_above", Modes { under_run: true, mount_point: true });
}

/// inotifywait -m -r sees what other processes do: they share one kernel
/// through the keeper, a rump_server, or rumpctl run.
#[test]
fn inotifywait() {
    compare_with("inotifywait", Modes { under_run: true, ..Modes::default() });
}
