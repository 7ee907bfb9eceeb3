//! SQLite on /rump, against the same on a host tmpfs directory (Linux is
//! the oracle): the real `sqlite3` CLI and Python's `sqlite3` module
//! create a table, insert 10,000 rows in one transaction and dump it, in
//! rollback-journal and in WAL mode; and two `sqlite3` processes write one
//! database, one waiting on the other's lock (`sqlite.sh`). Each runs four
//! ways whose output must be equal: on the host, embedded (LD_PRELOAD
//! only), under `rumpctl run`, and against a `rump_server`.
//!
//! SQLite takes POSIX record locks (F_SETLK/F_GETLK) on the database and
//! its journal; WAL mode also maps its `-shm` file MAP_SHARED.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{build_dir, fresh_prefix, host_dir, library, python3, Server};

/// How a program reaches the files it is given.
enum Mode<'a> {
    Host,
    Embedded { spec: &'a str },
    RumpctlRun { spec: &'a str },
    Remote { spec: &'a str, url: &'a str },
}

impl Mode<'_> {
    fn name(&self) -> &'static str {
        match self {
            Mode::Host => "host",
            Mode::Embedded { .. } => "embedded",
            Mode::RumpctlRun { .. } => "rumpctl run",
            Mode::Remote { .. } => "rump_server",
        }
    }

    fn command(&self, argv: &[String]) -> Command {
        let mut cmd = match self {
            Mode::RumpctlRun { spec } => {
                let mut c = Command::new(build_dir().join("rumpctl"));
                c.args(["run", "--hijack", spec, "--"]).args(argv);
                c
            }
            _ => {
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }
        };
        for v in ["LD_PRELOAD", "RUMP_SERVER", "RUMPHIJACK", "RUMPHIJACK_RETRYCONNECT", "RUMP_LOG"] {
            cmd.env_remove(v);
        }
        cmd.env("LC_ALL", "C").env("PYTHONDONTWRITEBYTECODE", "1");
        let lib = library();
        match self {
            Mode::Host | Mode::RumpctlRun { .. } => {}
            Mode::Embedded { spec } => {
                cmd.env("LD_PRELOAD", &lib).env("RUMPHIJACK", spec);
            }
            Mode::Remote { spec, url } => {
                cmd.env("LD_PRELOAD", &lib).env("RUMPHIJACK", spec).env("RUMP_SERVER", url);
            }
        }
        cmd
    }
}

/// Runs `argv(root)` with `stdin` in every mode, `root` being a fresh host
/// directory or the hijacked prefix, and fails unless every rump run
/// prints what the host run prints (with `root` shown as ROOT).
fn differential(what: &str, argv: impl Fn(&str) -> Vec<String>, stdin: &[u8]) {
    let run = |mode: &Mode, root: &str| {
        let mut child = mode
            .command(&argv(root))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: running {:?}: {e}", argv(root)));
        let mut input = child.stdin.take().expect("stdin");
        let stdin = stdin.to_vec();
        let feeder = std::thread::spawn(move || input.write_all(&stdin));
        let out = child.wait_with_output().expect("waiting for the program");
        let _ = feeder.join();
        let text = format!(
            "{}{}[{}]\n",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr).lines().map(|l| format!("[stderr] {l}\n")).collect::<String>(),
            out.status
        );
        text.replace(root, "ROOT")
    };
    let hostdir = host_dir("sqlite");
    let host = run(&Mode::Host, hostdir.to_str().expect("UTF-8 path"));
    let _ = std::fs::remove_dir_all(&hostdir);
    assert!(host.ends_with("[exit status: 0]\n"), "{what} fails on the host (a test bug):\n{host}");

    let mut failures = Vec::new();
    let server = Server::start();
    let (prefix, spec) = fresh_prefix();
    for mode in [
        Mode::Embedded { spec: &spec },
        Mode::RumpctlRun { spec: &spec },
        Mode::Remote { spec: &spec, url: &server.url },
    ] {
        // Each mode's kernel is fresh: its root is the prefix.
        let rump = run(&mode, &prefix);
        if rump != host {
            failures.push(format!("{what}, {}:\n{}", mode.name(), first_difference(&host, &rump)));
        }
    }
    if let Err(e) = server.halt() {
        failures.push(e);
    }
    assert!(!Path::new(&prefix).exists(), "{what}: a call reached the host's {prefix}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Where two transcripts part, with a few lines of each from there.
fn first_difference(host: &str, rump: &str) -> String {
    let (h, r): (Vec<&str>, Vec<&str>) = (host.lines().collect(), rump.lines().collect());
    let at = h.iter().zip(&r).position(|(a, b)| a != b).unwrap_or(h.len().min(r.len()));
    let show = |v: &[&str]| v.iter().skip(at).take(6).map(|l| format!("    {l}\n")).collect::<String>();
    format!("  line {} ({} vs {} lines)\n  host:\n{}  rump:\n{}", at + 1, h.len(), r.len(), show(&h), show(&r))
}

/// The CLI's input: the journal mode, a table, 10,000 rows in one
/// transaction, the integrity check and `.dump`.
fn cli_script(journal: &str) -> Vec<u8> {
    let mut s = format!("PRAGMA journal_mode={journal};\nCREATE TABLE t(i INTEGER PRIMARY KEY, name TEXT, sq REAL);\n");
    s.push_str("BEGIN;\n");
    for i in 0..10_000 {
        s.push_str(&format!("INSERT INTO t VALUES({i}, 'row {i}', {});\n", f64::from(i) * f64::from(i) / 7.0));
    }
    s.push_str("COMMIT;\nSELECT count(*), sum(i), total(sq) FROM t;\nPRAGMA integrity_check;\n.dump\n");
    s.into_bytes()
}

fn cli(journal: &str) {
    let argv = |root: &str| vec!["sqlite3".to_string(), format!("{root}/cli.db")];
    differential(&format!("sqlite3 ({journal})"), argv, &cli_script(journal));
}

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn python(journal: &str) {
    let script = tests_dir().join("sqlite.py").to_str().expect("UTF-8 path").to_owned();
    let py = python3().to_str().expect("UTF-8 path").to_owned();
    let argv = |root: &str| vec![py.clone(), "-B".into(), script.clone(), format!("{root}/t"), journal.into()];
    differential(&format!("python3 sqlite3 ({journal})"), argv, b"");
}

#[test]
fn sqlite3_cli_rollback_journal() {
    cli("delete");
}

#[test]
fn sqlite3_cli_wal() {
    cli("wal");
}

#[test]
fn python_sqlite3_rollback_journal() {
    python("delete");
}

#[test]
fn python_sqlite3_wal() {
    python("wal");
}

#[test]
fn two_writers_one_database() {
    let script = tests_dir().join("sqlite.sh").to_str().expect("UTF-8 path").to_owned();
    let argv = |root: &str| vec!["bash".into(), script.clone(), format!("{root}/t")];
    differential("two sqlite3 writers", argv, b"");
}
