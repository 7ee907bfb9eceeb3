//! File locks and SQLite on /rump, each figure beside its host baseline
//! measured in the same run (ratio = rump / host; lower is better):
//!
//! - uncontended `fcntl(F_SETLK)` write-lock + unlock of a /rump file,
//!   with the kernel in the process and through a `rump_server`, against
//!   the same program on a /dev/shm file (`benches/locks/setlk.c`,
//!   compiled at run time with `cc -O2`; `CC` overrides cc);
//! - 10,000 rows inserted in one transaction: by Python's `sqlite3` in one
//!   process (kernel in the process), and by the `sqlite3` CLI started
//!   from a hijacked bash (the kernel moves to a keeper at the fork, so
//!   the CLI is the keeper's client), against the same on /dev/shm.
//!
//! The best of `RUNS` is kept for each. Run with `cargo bench -p
//! rump-hijack --bench locks` after a release build of the workspace
//! (librumphijack.so, rump_server, rumpctl).

use std::path::{Path, PathBuf};
use std::process::Command;

const RUNS: usize = 5;
/// Lock + unlock pairs per setlk run.
const PAIRS: &str = "200000";
const ROWS: usize = 10_000;

fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary path");
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

fn scratch() -> PathBuf {
    let d = PathBuf::from(format!("/dev/shm/rumpbench-locks-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch directory");
    d
}

fn compile(src: &Path, out: &Path) {
    let res = Command::new(std::env::var_os("CC").unwrap_or_else(|| "cc".into()))
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(out)
        .arg(src)
        .output()
        .expect("a C compiler (cc) runs");
    assert!(res.status.success(), "compiling {} failed:\n{}", src.display(), String::from_utf8_lossy(&res.stderr));
}

/// Runs `prog args` with `env` (and nothing of ours inherited) and returns
/// the best of `RUNS` of the number it prints last.
fn best(prog: &Path, args: &[&str], env: &[(&str, &str)]) -> f64 {
    (0..RUNS)
        .map(|_| {
            let mut cmd = Command::new(prog);
            cmd.args(args).env_remove("LD_PRELOAD").env_remove("RUMP_SERVER").env("LC_ALL", "C");
            cmd.envs(env.iter().copied());
            let out = cmd.output().expect("running a benchmark program");
            let text = String::from_utf8_lossy(&out.stdout);
            let figure = text.split_whitespace().last().and_then(|w| w.parse::<f64>().ok());
            match (out.status.success(), figure) {
                (true, Some(f)) => f,
                _ => panic!("{} {args:?} failed: {text}{}", prog.display(), String::from_utf8_lossy(&out.stderr)),
            }
        })
        .fold(f64::INFINITY, f64::min)
}

/// A daemonized `rump_server`, halted when dropped.
struct Server {
    url: String,
    dir: PathBuf,
}

impl Server {
    fn start() -> Server {
        let dir = std::env::temp_dir().join(format!("rumpbench-locks-srv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("server directory");
        let url = format!("unix://{}/sock", dir.display());
        let ok = Command::new(build_dir().join("rump_server")).arg(&url).env_remove("LD_PRELOAD").status();
        assert!(ok.is_ok_and(|s| s.success()), "rump_server did not start (build the workspace in release mode first)");
        Server { url, dir }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(build_dir().join("rumpctl")).args(["halt", "-s", &self.url]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn row(what: &str, rump: f64, host: f64, unit: &str) {
    println!("  {what:<46} {rump:>10.1} {unit}   host {host:>10.1} {unit}   ratio {:>6.2}", rump / host);
}

/// Python's sqlite3 inserting `ROWS` rows in one transaction into a fresh
/// database at argv[1]; prints the milliseconds the insert and commit took.
const PY_INSERT: &str = "import os,sqlite3,sys,time
db=sys.argv[1]
if os.path.exists(db): os.unlink(db)
c=sqlite3.connect(db)
c.execute('create table t(i integer primary key, name text, sq real)')
t=time.perf_counter()
with c:
    c.executemany('insert into t values(?,?,?)', ((i, 'row %d' % i, i*i/7) for i in range(ROWS)))
print((time.perf_counter()-t)*1000)";

/// bash (hijacked when the library is preloaded) runs the sqlite3 CLI on
/// $1/b.db `RUNS` times, fed the insert script $2, and prints each run's
/// seconds. bash itself empties the database (an empty file is a new
/// database to SQLite), so on /rump it uses the kernel first and its fork
/// moves the kernel to a keeper.
const SH_INSERT: &str = "TIMEFORMAT=%R
for i in $(seq RUNS); do : > \"$1/b.db\"; time sqlite3 \"$1/b.db\" < \"$2\"; done";

fn main() {
    let lib = build_dir().join("librumphijack.so");
    assert!(lib.exists(), "{} missing (build the workspace in release mode)", lib.display());
    let lib = lib.to_str().expect("UTF-8 path").to_owned();
    let dir = scratch();
    let setlk = dir.join("setlk");
    compile(&Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/locks/setlk.c"), &setlk);
    let pre = [("LD_PRELOAD", lib.as_str())];
    let server = Server::start();
    let remote = [("LD_PRELOAD", lib.as_str()), ("RUMP_SERVER", server.url.as_str())];

    println!("uncontended fcntl(F_SETLK) lock + unlock, per pair (best of {RUNS} x {PAIRS})");
    let host_file = dir.join("f");
    let host = best(&setlk, &[host_file.to_str().unwrap(), PAIRS], &[]);
    row("/rump file, kernel in the process", best(&setlk, &["/rump/f", PAIRS], &pre), host, "ns");
    row("/rump file, rump_server", best(&setlk, &["/rump/f", "20000"], &remote), host, "ns");

    println!("sqlite: {ROWS} rows inserted in one transaction (best of {RUNS})");
    let python = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().expect("python3");
    let python = PathBuf::from(String::from_utf8_lossy(&python.stdout).trim());
    let code = PY_INSERT.replace("ROWS", &ROWS.to_string());
    let py = |db: &str, env: &[(&str, &str)]| best(&python, &["-c", &code, db], env);
    let host_py = py(dir.join("py.db").to_str().unwrap(), &[]);
    row("python3 sqlite3, kernel in the process", py("/rump/py.db", &pre), host_py, "ms");

    let sql = dir.join("insert.sql");
    let mut script = String::from("create table t(i integer primary key, name text, sq real);\nbegin;\n");
    for i in 0..ROWS {
        script.push_str(&format!("insert into t values({i}, 'row {i}', {});\n", (i * i) as f64 / 7.0));
    }
    script.push_str("commit;\n");
    std::fs::write(&sql, script).expect("writing the SQL script");
    let sh = SH_INSERT.replace("RUNS", &RUNS.to_string());
    let cli = |d: &str, env: &[(&str, &str)]| {
        let args = ["-c", sh.as_str(), "bash", d, sql.to_str().unwrap()];
        let mut cmd = Command::new("bash");
        cmd.args(args).env_remove("LD_PRELOAD").env_remove("RUMP_SERVER").envs(env.iter().copied());
        let out = cmd.output().expect("bash");
        let err = String::from_utf8_lossy(&out.stderr);
        let times: Vec<f64> = err.lines().filter_map(|l| l.trim().parse().ok()).collect();
        assert!(out.status.success() && times.len() == RUNS, "sqlite3 runs failed: {err}");
        times.iter().copied().fold(f64::INFINITY, f64::min) * 1000.0
    };
    let host_cli = cli(dir.to_str().unwrap(), &[]);
    row("sqlite3 CLI from bash, kernel in a keeper", cli("/rump", &pre), host_cli, "ms");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
