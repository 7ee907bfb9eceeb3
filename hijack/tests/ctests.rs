//! Differential tests (DESIGN.md §9): the C programs in `ctests/`, one per
//! hook family (io, meta, ns, dir, stdio, proc, lock for the file locks
//! of the fcntl family, inotify for watches, mmap for shared file
//! mappings) plus poll, select, epoll, signal and threads for event
//! multiplexing, signals and threads over rump FIFOs beside host pipes,
//! wake for blocked mixed waits that other threads wake (through a
//! server, the readiness its kernel publishes in the shared channel),
//! raw for raw `syscall()`s and inline syscall sites (Syscall User
//! Dispatch, site rewriting),
//! net for sockets, the resolver and interfaces over the kernel's TCP/IP
//! stack, and the Python programs in `ctests/py/` (selectors and asyncio
//! over both; inotify_raw, inotify through ctypes on the base and a host
//! directory on one fd; mmap_shared; run with `python3`), run three ways
//! and must print the same transcript:
//!
//! - (a) on the host, in a fresh directory under `/dev/shm` (tmpfs, like
//!   the rump kernel's root) — Linux is the oracle;
//! - (b) with `LD_PRELOAD=librumphijack.so` and the base `<prefix>/t`,
//!   served by a kernel in the process (`RUMP_SERVER` unset); the prefix is
//!   one the host lacks, and must still lack afterwards
//!   (`support::fresh_prefix`);
//! - (c) the same against a fresh `rump_server` (`RUMP_SERVER=unix://…`);
//!   the tests build the library and the tools first
//!   (`support::ensure_built`).
//!
//! Each program takes the base directory as its one argument, creates it,
//! and prints one normalised line per call (`ctests/check.h`). stdout,
//! stderr and the exit status are compared; a mismatch fails the test with
//! a unified diff, host run on the `-` side.
//!
//! `CTESTS_VERBOSE=1` prints every transcript; `CTESTS_KEEP=1` keeps the
//! scratch directories (compiled programs, host bases).
//! `RUMP_TEST_SYSCALLS=all` runs the programs with Syscall User Dispatch
//! armed in every process (`libc`: raw interception off) instead of the
//! library's default `syscalls=auto`. The Python tests
//! need `python3` (the interpreter it names is run directly, not through
//! a wrapper such as a pyenv shim) and fail, not skip, without it.

mod support;

use support::Server;

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long one run of a program may take (they normally take a few ms).
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long stdout/stderr may stay open after the program exits.
const PIPE_GRACE: Duration = Duration::from_secs(5);
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("hijack/ is in the workspace").to_path_buf()
}

/// `target/debug` (or the profile directory this test was built in), with
/// librumphijack.so, rump_server and rumpctl built and up to date.
fn target_dir() -> PathBuf {
    support::ensure_built();
    support::build_dir()
}

fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

/// A scratch directory, removed when dropped (unless `CTESTS_KEEP`).
struct Scratch(PathBuf);

impl Scratch {
    fn new(under: &Path, name: &str) -> Scratch {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let dir = under.join(format!("rump-ctests-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if env_flag("CTESTS_KEEP") {
            eprintln!("ctests: kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A program to run with the base directory as its last argument.
struct Program {
    exe: PathBuf,
    args: Vec<OsString>,
}

/// Compiles `ctests/<name>.c` into `dir`.
fn compile(name: &str, dir: &Path) -> Program {
    let src_dir = workspace().join("ctests");
    let src = src_dir.join(format!("{name}.c"));
    let out = dir.join(name);
    let res = Command::new(std::env::var_os("CC").unwrap_or_else(|| "cc".into()))
        .args(["-O1", "-Wall", "-Werror", "-pthread", "-I"])
        .arg(&src_dir)
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .output()
        .expect("a C compiler (cc) runs");
    assert!(
        res.status.success(),
        "compiling {} failed:\n{}{}",
        src.display(),
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    Program { exe: out, args: Vec::new() }
}

/// `ctests/<name>` (a `.py` script) run with python3: `-B` so that nothing
/// is written next to the scripts.
fn python_program(name: &str) -> Program {
    let script = workspace().join("ctests").join(name);
    assert!(script.is_file(), "{} is missing", script.display());
    Program { exe: support::python3(), args: vec!["-B".into(), script.into_os_string()] }
}

/// What a run printed and how it ended.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    stdout: String,
    stderr: String,
    status: String,
}

impl Outcome {
    /// The base directory as `BASE` (a safety net: the programs already
    /// print paths relative to it).
    fn normalised(mut self, base: &str) -> Outcome {
        self.stdout = self.stdout.replace(base, "BASE");
        self.stderr = self.stderr.replace(base, "BASE");
        self
    }

    /// One text to compare and show: stdout, then stderr and the status.
    fn transcript(&self) -> String {
        let mut t = self.stdout.clone();
        if !t.is_empty() && !t.ends_with('\n') {
            t.push_str("\\ no newline at end of stdout\n");
        }
        for line in self.stderr.lines() {
            t.push_str(&format!("[stderr] {line}\n"));
        }
        t.push_str(&format!("[status] {}\n", self.status));
        t
    }
}

/// A thread collecting everything read from a pipe; what it has so far
/// stays readable if the pipe never closes.
struct Collector {
    buf: Arc<Mutex<Vec<u8>>>,
    thread: JoinHandle<()>,
}

impl Collector {
    fn new(mut r: impl Read + Send + 'static) -> Collector {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let b = buf.clone();
        let thread = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match r.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => b.lock().unwrap().extend_from_slice(&chunk[..n]),
                }
            }
        });
        Collector { buf, thread }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }
}

/// Whether `pid` (our child) has exited, leaving it unreaped so that
/// its pid — and so its process group id — cannot be reused yet.
fn exited_unreaped(pid: u32) -> bool {
    // SAFETY: waitid on our own child, into a local.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT);
        r == 0 && info.si_pid() != 0
    }
}

/// Kills what is left of the process group we created for a run (only
/// called while its leader is an unreaped child of ours).
fn kill_group(pgid: u32) {
    // SAFETY: a signal to the process group of our own child.
    unsafe { libc::kill(-(pgid as i32), libc::SIGKILL) };
}

/// Runs `prog base` with `env` set and `unset` removed, stdin from
/// /dev/null, stdout and stderr on pipes, in its own process group.
fn run(prog: &Program, base: &str, cwd: &Path, env: &[(&str, &str)], unset: &[&str]) -> Outcome {
    let mut cmd = Command::new(&prog.exe);
    cmd.args(&prog.args).arg(base).current_dir(cwd).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.process_group(0);
    for v in ["LD_PRELOAD", "RUMP_SERVER", "RUMPHIJACK", "RUMPHIJACK_RETRYCONNECT", "RUMP_LOG"] {
        cmd.env_remove(v);
    }
    for v in unset {
        cmd.env_remove(v);
    }
    cmd.env("LC_ALL", "C");
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("running {}: {e}", prog.exe.display()));
    let pid = child.id();
    let out = Collector::new(child.stdout.take().unwrap());
    let err = Collector::new(child.stderr.take().unwrap());
    let start = Instant::now();
    let mut notes = Vec::new();
    while !exited_unreaped(pid) {
        if start.elapsed() > RUN_TIMEOUT {
            notes.push(format!("timed out after {} s", RUN_TIMEOUT.as_secs()));
            kill_group(pid);
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let exited = Instant::now();
    while !(out.thread.is_finished() && err.thread.is_finished()) {
        if exited.elapsed() > PIPE_GRACE {
            notes.push(format!(
                "stdout/stderr still open {} s after the program exited (a process it left behind holds them)",
                PIPE_GRACE.as_secs()
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // Anything of the run still alive (a lingering keeper, say) goes now.
    kill_group(pid);
    let st = child.wait().expect("reaping the program");
    // A holder outside the group (one that left it) may keep the pipes
    // open: take what was read, without waiting for the end.
    let killed = Instant::now();
    while !(out.thread.is_finished() && err.thread.is_finished()) && killed.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut status = match (st.code(), std::os::unix::process::ExitStatusExt::signal(&st)) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => format!("{st}"),
    };
    for n in notes {
        status.push_str(&format!(" ({n})"));
    }
    Outcome { stdout: out.text(), stderr: err.text(), status }
}

/// A unified diff of two texts, by lines, with three lines of context.
fn diff(a: &str, b: &str, a_name: &str, b_name: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    // The edit script: (' ', line) kept, ('-', line) only in a, ('+', line) only in b,
    // with each line's position in a and b.
    let mut ops: Vec<(char, &str, usize, usize)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i], i, j));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i], i, j));
            i += 1;
        } else {
            ops.push(('+', b[j], i, j));
            j += 1;
        }
    }
    const CTX: usize = 3;
    let mut out = format!("--- {a_name}\n+++ {b_name}\n");
    let mut k = 0;
    while k < ops.len() {
        if ops[k].0 == ' ' {
            k += 1;
            continue;
        }
        // A hunk: from CTX lines before this change to CTX lines after the
        // last change that is within 2*CTX lines of the previous one.
        let start = k.saturating_sub(CTX);
        let mut end = k;
        let mut last = k;
        while end < ops.len() {
            if ops[end].0 != ' ' {
                last = end;
            } else if end - last > 2 * CTX {
                break;
            }
            end += 1;
        }
        let end = (last + CTX + 1).min(ops.len());
        let hunk = &ops[start..end];
        let a_len = hunk.iter().filter(|o| o.0 != '+').count();
        let b_len = hunk.iter().filter(|o| o.0 != '-').count();
        let a_start = hunk[0].2 + usize::from(a_len > 0);
        let b_start = hunk[0].3 + usize::from(b_len > 0);
        out.push_str(&format!("@@ -{a_start},{a_len} +{b_start},{b_len} @@\n"));
        for (c, line, _, _) in hunk {
            out.push_str(&format!("{c}{line}\n"));
        }
        k = end;
    }
    out
}

/// A `rump_server` of our own, halted (or killed) when done.
/// Compiles and runs `ctests/<name>.c` (or runs `ctests/<name>` with
/// python3 if it ends in `.py`) on the host, then embedded and remote
/// through the library, and fails with the diffs if a rump run's
/// transcript differs from the host's.
fn differential(name: &str) {
    differential_with(name, "")
}

/// [`differential`] with `keys` appended to the rump runs' `RUMPHIJACK`.
fn differential_with(name: &str, keys: &str) {
    let lib = target_dir().join("librumphijack.so");
    assert!(lib.exists(), "{} is missing", lib.display());
    let lib = lib.to_str().expect("a UTF-8 library path").to_owned();
    let verbose = env_flag("CTESTS_VERBOSE");

    let tag = name.replace(['/', '.'], "-");
    let work = Scratch::new(&std::env::temp_dir(), &tag);
    let prog = if name.ends_with(".py") { python_program(name) } else { compile(name, &work.0) };

    let shm = Path::new("/dev/shm");
    let host_root = Scratch::new(if shm.is_dir() { shm } else { &work.0 }, &tag);
    let host_base = host_root.0.join("t");
    let host_base = host_base.to_str().expect("a UTF-8 scratch path").to_owned();
    let host = run(&prog, &host_base, &work.0, &[], &[]).normalised(&host_base);
    if verbose {
        eprintln!("==== {name}: host\n{}", host.transcript());
    }
    assert!(
        host.status == "exit 0" && host.stderr.is_empty(),
        "{name} does not run cleanly on the host (a test bug):\n{}",
        host.transcript()
    );

    let compare = |how: &str, rump: Outcome| {
        if verbose {
            eprintln!("==== {name}: {how}\n{}", rump.transcript());
        }
        (rump != host).then(|| {
            format!(
                "{name}: the {how} run differs from the host run:\n{}",
                diff(&host.transcript(), &rump.transcript(), "host", how)
            )
        })
    };
    let mut failures = Vec::new();

    let (prefix, hijack) = support::fresh_prefix();
    let hijack = hijack + keys;
    let rump_base = format!("{prefix}/t");
    let mut env = vec![("LD_PRELOAD", lib.as_str()), ("RUMPHIJACK", hijack.as_str())];
    let local = run(&prog, &rump_base, &work.0, &env, &["RUMP_SERVER"]).normalised(&rump_base);
    failures.extend(compare("embedded", local));

    let server = Server::start();
    let url = server.url.clone();
    env.push(("RUMP_SERVER", &url));
    let remote = run(&prog, &rump_base, &work.0, &env, &[]).normalised(&rump_base);
    failures.extend(compare("remote", remote));
    if let Err(e) = server.halt() {
        failures.push(format!("{name}: {e}"));
    }
    if Path::new(&prefix).exists() {
        failures.push(format!("{name}: a call reached the host's {prefix}"));
    }

    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Raw `syscall()` for the file, socket and process families, inline
/// sites (rewritten after their first catch), bad pointers and the
/// program's SIGSYS handler: with `syscalls=auto` (armed because of the
/// program's inline sites) and `syscalls=all`, whatever
/// `RUMP_TEST_SYSCALLS` says for the other tests.
#[test]
fn raw() {
    differential_with("raw", ",syscalls=auto");
}

#[test]
fn raw_all() {
    differential_with("raw", ",syscalls=all");
}

/// Threads made by raw `clone` and `clone3` (with a TLS block of the
/// program's and sharing the main thread's) and the main thread, all
/// working on files at once by raw syscalls from inline sites and
/// register-number ones: armed with their own selector and TLS block, so
/// every call is the kernel's. `syscalls=auto` and `syscalls=all`.
#[test]
fn raw_threads() {
    differential_with("raw_threads", ",syscalls=auto");
}

#[test]
fn raw_threads_all() {
    differential_with("raw_threads", ",syscalls=all");
}

/// A raw-clone thread on the program's own TLS block raising a signal
/// whose handler (run on it) makes raw calls, forking by a raw `fork`
/// (the child's raw calls, its exit status through a raw `wait4`) and
/// exec'ing by a raw `execve`: the kernel's answers, no crash.
#[test]
fn raw_thread_procs() {
    differential_with("raw_thread_procs", ",syscalls=auto");
}

#[test]
fn raw_thread_procs_all() {
    differential_with("raw_thread_procs", ",syscalls=all");
}

#[test]
fn io() {
    differential("io");
}

#[test]
fn fault() {
    differential("fault");
}

#[test]
fn meta() {
    differential("meta");
}

#[test]
fn ns() {
    differential("ns");
}

#[test]
fn dir() {
    differential("dir");
}

#[test]
fn stdio() {
    differential("stdio");
}

#[test]
fn proc() {
    differential("proc");
}

#[test]
fn lock() {
    differential("lock");
}

#[test]
fn mmap() {
    differential("mmap");
}

#[test]
fn poll() {
    differential("poll");
}

#[test]
fn select() {
    differential("select");
}

#[test]
fn smallbuf() {
    differential("smallbuf");
}

#[test]
fn epoll() {
    differential("epoll");
}

#[test]
fn wake() {
    differential("wake");
}

#[test]
fn inotify() {
    differential("inotify");
}

#[test]
fn signal() {
    differential("signal");
}

/// Children reaped in a SIGCHLD handler while the program is in malloc;
/// their locks are free once reaped.
#[test]
fn reap() {
    differential("reap");
}

#[test]
fn threads() {
    differential("threads");
}

#[test]
fn net() {
    differential("net");
}

#[test]
fn py_selectors_mixed() {
    differential("py/selectors_mixed.py");
}

#[test]
fn py_inotify_raw() {
    differential("py/inotify_raw.py");
}

#[test]
fn py_asyncio_mixed() {
    differential("py/asyncio_mixed.py");
}

#[test]
fn py_mmap_shared() {
    differential("py/mmap_shared.py");
}

#[test]
fn diff_is_unified() {
    let d = diff("a\nb\nc\n", "a\nB\nc\n", "x", "y");
    assert_eq!(d, "--- x\n+++ y\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
    let d = diff("", "new\n", "x", "y");
    assert_eq!(d, "--- x\n+++ y\n@@ -0,0 +1,1 @@\n+new\n");
}
