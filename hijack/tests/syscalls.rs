//! `syscalls=auto`, the default: Syscall User Dispatch armed only in
//! processes whose code makes its own system calls, found in the program,
//! its libraries and objects `dlopen` loads later (threads already running
//! armed then too) unless their sites could all be rewritten ahead; Go's
//! runtime calls reach the kernel; a site of glibc's inline form is
//! rewritten to a jump, ahead or after its first caught call.
//! Differential: each program runs on a host directory and on /rump and
//! must print the same.
//! The C programs are in `tests/syscalls/`, built here with `cc` (and
//! `go`, with cgo, for a dynamically linked Go program).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/syscalls")
}

/// Builds `tests/syscalls/<src>` with `cc` and `flags` into a scratch
/// directory; returns the output's path.
fn cc(src: &str, out: &str, flags: &[&str]) -> String {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(out);
    let st = Command::new("cc")
        .args(["-O1", "-Wall", "-Werror"])
        .args(flags)
        .arg("-o")
        .arg(&out)
        .arg(sources().join(src))
        .status()
        .expect("cc runs");
    assert!(st.success(), "compiling {src}");
    out.to_str().expect("UTF-8 path").to_owned()
}

/// `args` with the library preloaded, `RUMPHIJACK` as given (unset for
/// the default) and the library's dispatch log on stderr.
fn run(args: &[&str], hijack: Option<&str>) -> Output {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..]).env_remove("RUMP_SERVER").env_remove("RUMPHIJACK");
    cmd.env("LD_PRELOAD", support::library()).env("RUMP_LOG", "rumphijack::sud=debug");
    if let Some(spec) = hijack {
        cmd.env("RUMPHIJACK", spec);
    }
    cmd.stdin(Stdio::null()).output().expect("spawn")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The dispatch line of a run: what armed it, if anything.
fn armed(o: &Output) -> Option<String> {
    let err = text(&o.stderr);
    err.lines().find_map(|l| l.split_once("Syscall User Dispatch armed: ").map(|(_, why)| why.to_owned()))
}

/// Runs `prog ... DIR` on a host directory without the library and on
/// /rump with it (as `hijack` says); both must print the same, with the
/// directory's name taken out. Returns the /rump run.
fn differential(prog: &[&str], hijack: Option<&str>) -> Output {
    differential_by(prog, |args| run(args, hijack))
}

/// `differential` with the /rump run made by `rump` (given the program's
/// arguments, the directory last).
fn differential_by(prog: &[&str], rump: impl Fn(&[&str]) -> Output) -> Output {
    let host_dir = support::host_dir("syscalls").join("d");
    let host_dir = host_dir.to_str().unwrap();
    let mut args = prog.to_vec();
    args.push(host_dir);
    let host = Command::new(args[0]).args(&args[1..]).env_remove("LD_PRELOAD").output().expect("spawn");
    assert!(host.status.success(), "{host:?}");
    let rump_dir = format!("/rump/d{}", support::rand_tag());
    *args.last_mut().unwrap() = &rump_dir;
    let rump = rump(&args);
    assert_eq!(
        text(&rump.stdout).replace(&rump_dir, "DIR"),
        text(&host.stdout).replace(host_dir, "DIR"),
        "{prog:?} on /rump differs from the host: {}",
        text(&rump.stderr)
    );
    assert!(rump.status.success(), "{rump:?}");
    let _ = std::fs::remove_dir_all(Path::new(host_dir).parent().unwrap());
    rump
}

/// A program with no system calls of its own is not armed (its hooked
/// calls keep the kernel's fast entry path), nor one whose inline sites
/// could all be rewritten ahead; one with a site outside the functions
/// its unwind tables describe is; `all` arms everything, `libc` nothing.
#[test]
fn auto_arms_only_programs_making_their_own_syscalls() {
    let site = cc("site.c", "site-armed", &[]);
    let bare = cc("site.c", "site-armed-no-unwind", &["-fno-asynchronous-unwind-tables"]);
    assert_eq!(armed(&run(&["/bin/true"], None)), None);
    let o = run(&[&site], None);
    assert_eq!(armed(&o), None);
    assert!(text(&o.stderr).contains("inline syscall sites rewritten ahead in the program"), "{o:?}");
    let why = armed(&run(&[&bare], None));
    assert_eq!(why.as_deref(), Some("inline syscall instructions in the program"));
    assert_eq!(armed(&run(&[&bare], Some("path=/rump,syscalls=libc"))), None);
    let why = armed(&run(&["/bin/true"], Some("path=/rump,syscalls=all")));
    assert_eq!(why.as_deref(), Some("syscalls=all"));
}

/// An object loaded by `dlopen` with inline syscall sites: rewritten
/// ahead, its calls reach the kernel through their stubs from the calling
/// thread and one already waiting in a read; built without unwind tables
/// (its sites not provably code), it arms the process then, both threads.
#[test]
fn dlopen_of_an_object_with_its_own_syscalls_reaches_the_kernel_from_every_thread() {
    let main = cc("dlopen_main.c", "dlopen_main", &["-pthread"]);
    let lib = cc("inline_lib.c", "libinline.so", &["-shared", "-fPIC"]);
    let bare = cc("inline_lib.c", "libinline-no-unwind.so", &["-shared", "-fPIC", "-fno-asynchronous-unwind-tables"]);
    for (lib, armed_by) in [(&lib, None), (&bare, Some("libinline-no-unwind.so"))] {
        let o = differential(&[&main, lib], None);
        assert_eq!(text(&o.stdout).lines().take(2).collect::<Vec<_>>(), ["main: 10", "thread: 16"]);
        match armed_by {
            None => {
                assert_eq!(armed(&o), None);
                assert!(text(&o.stderr).contains("rewritten ahead in"), "{o:?}");
            }
            Some(name) => {
                let why = armed(&o).unwrap_or_default();
                assert!(why.ends_with(name), "{why}");
            }
        }
    }
    // Opted out, the calls reach the host, which has no /rump.
    let o = run(&[&main, &lib, "/rump/off"], Some("path=/rump,syscalls=libc"));
    assert!(text(&o.stdout).starts_with(&format!("main: -{}\n", libc::ENOENT)), "{o:?}");
}

/// A dynamically linked Go program (cgo): its runtime's own calls write,
/// read, stat, list and remove on /rump, as on the host, from goroutines
/// on several threads, through the rewritten entry of its `Syscall6`,
/// with the kernel in the process and under `rumpctl run` (a server's).
#[test]
fn go_program_reaches_the_kernel() {
    go_differential("files.go");
}

/// A dynamically linked Go program's blocking calls on a /rump FIFO (an
/// open waiting for the writer, a read waiting for its write) block on
/// its thread's library stack while signals arrive (Go's handlers run on
/// Go's signal stack), and end as on the host.
#[test]
fn go_blocking_calls_wait_on_the_library_stack() {
    go_differential("fifo.go");
}

/// A dynamically linked Go HTTP server on a rump socket answers its own
/// Go client on the same rump stack: both park in Go's netpoller, whose
/// raw `epoll_ctl` puts the rump sockets in the epoll fd's companion and
/// whose raw `epoll_pwait` on that host fd must take the companion's
/// events (edge-triggered), and a read deadline expires there, as on the
/// host's loopback.
#[test]
fn go_http_server_on_a_rump_socket_answers_through_the_netpoller() {
    go_differential("http.go");
}

/// A dynamically linked Go program's `os.File` read of an empty /rump
/// FIFO (EAGAIN on the fd Go made non-blocking) parks in the netpoller
/// and is woken when a writer fills it later; a read deadline expires
/// there first, as on the host.
#[test]
fn go_fifo_read_parks_in_the_netpoller_until_a_writer_fills_it() {
    go_differential("fifo_poll.go");
}

/// Builds `tests/syscalls/<src>` with `go` (cgo, dynamically linked) and
/// runs it on a host directory and on /rump, embedded and under `rumpctl
/// run`. Go's calls that may be the kernel's run on each thread's library
/// stack: a thread's first such call is caught by dispatch (a signal),
/// which makes the stack; none after it is (the library logs every Go
/// call it catches, and its thread), while the programs make dozens to
/// hundreds on each.
fn go_differential(src: &str) {
    let prog = go_build(src);
    let prog = prog.as_str();
    let embedded = differential(&[prog], None);
    support::ensure_built();
    let client = differential_by(&[prog], |args| rumpctl_run(args, "path=/rump,syscalls=auto"));
    for o in [embedded, client] {
        assert_eq!(armed(&o).as_deref(), Some("Go code in the program"));
        let err = text(&o.stderr);
        assert!(err.contains("Go's Syscall6 at"), "{err}");
        let caught: Vec<&str> =
            err.lines().filter_map(|l| l.split_once("caught by dispatch on thread ").map(|(_, tid)| tid)).collect();
        let stacks = err.matches("a library stack for Go's calls on thread").count();
        assert!(!caught.is_empty() && stacks == caught.len(), "{err}");
        let mut threads = caught.clone();
        threads.sort();
        threads.dedup();
        assert_eq!(threads.len(), caught.len(), "a thread's Go calls caught more than once: {err}");
    }
}

/// Builds `tests/syscalls/<src>` with `go` (cgo, dynamically linked)
/// into a scratch directory; returns the output's path.
fn go_build(src: &str) -> String {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("go-{src}-dynamic"));
    let st = Command::new("go")
        .args(["build", "-ldflags=-linkmode=external", "-o"])
        .arg(&out)
        .arg(sources().join(src))
        .env("GOCACHE", Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache"))
        .env("GO111MODULE", "off")
        .env("CGO_ENABLED", "1")
        .status()
        .expect("go (golang-go) runs");
    assert!(st.success(), "go build {src}");
    out.to_str().expect("UTF-8 path").to_owned()
}

/// A dynamically linked Go HTTP server (`serve.go`) on a rump_server's
/// stack answers `curl` run with the library against the same server, as
/// the same server on the host's loopback answers a plain `curl`; the
/// host's own loopback has nothing at the rump port.
#[test]
fn go_http_server_on_a_rump_server_answers_curl() {
    let prog = go_build("serve.go");
    let host = serve_and_ask(&prog, None);
    let server = support::Server::start();
    let rump = serve_and_ask(&prog, Some(&server.url));
    assert_eq!(rump, host);
    assert_eq!(host.last().map(String::as_str), Some("served 2 true"), "{host:?}");
    server.halt().unwrap();
}

/// Runs `serve.go`'s `prog` (with the library against `rump` if given),
/// asks it for /hello and /quit with `curl` (the same way) and gives
/// what curl and the server said, the port left out.
fn serve_and_ask(prog: &str, rump: Option<&str>) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    let hijacked = |cmd: &mut Command| {
        cmd.env_remove("RUMPHIJACK").env_remove("LD_PRELOAD").env_remove("RUMP_SERVER");
        if let Some(url) = rump {
            cmd.env("LD_PRELOAD", support::library()).env("RUMP_SERVER", url);
        }
    };
    let mut cmd = Command::new(prog);
    cmd.arg("127.0.0.1:0").stdin(Stdio::null()).stdout(Stdio::piped());
    hijacked(&mut cmd);
    let mut child = cmd.spawn().expect("spawn serve.go");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok);
    let port = lines.next().and_then(|l| l.strip_prefix("port ").map(str::to_owned)).expect("serve.go's port");
    let curl = |path: &str, with_library: bool| {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "--max-time", "10", &format!("http://127.0.0.1:{port}{path}")]);
        cmd.env_remove("RUMPHIJACK").env_remove("LD_PRELOAD").env_remove("RUMP_SERVER");
        if with_library {
            hijacked(&mut cmd);
        }
        let o = cmd.stdin(Stdio::null()).output().expect("curl runs");
        format!("{} {:?}", text(&o.stdout).trim_end(), o.status.code())
    };
    if rump.is_some() {
        // The host's loopback has no such listener: curl cannot connect (7).
        assert_eq!(curl("/hello?n=0", false), " Some(7)");
    }
    let mut said = vec![curl("/hello?n=1", true), curl("/quit", true)];
    said.extend(lines);
    assert!(child.wait().expect("serve.go ends").success(), "{said:?}");
    said
}

/// A site of glibc's inline form becomes a `jmp` (e9) to a stub and keeps
/// giving the host's answers: ahead of its first call under `auto` when
/// its call may be the kernel's (a getppid site is left as it is, unarmed
/// it is the host's call already); after its first call, caught, where
/// dispatch is armed (`all`, or `auto` for a program whose sites cannot be
/// shown to be code). Without the library, or opted out, it stays a `mov`
/// (b8).
#[test]
fn inline_sites_are_rewritten() {
    let site = cc("site.c", "site-rewritten", &[]);
    let no_unwind = cc("site.c", "site-rewritten-no-unwind", &["-fno-asynchronous-unwind-tables"]);
    let calls = "same same same same same same";
    let bare = Command::new(&site).output().expect("spawn");
    assert_eq!(text(&bare.stdout), format!("{calls} before=b8 getppid=b8 read=b8\n"));
    let cases = [
        (&site, None, "before=e9 getppid=b8 read=e9"),
        (&no_unwind, None, "before=b8 getppid=e9 read=e9"),
        (&site, Some("path=/rump,syscalls=all"), "before=b8 getppid=e9 read=e9"),
        (&site, Some("path=/rump,syscalls=libc"), "before=b8 getppid=b8 read=b8"),
    ];
    for (prog, spec, bytes) in cases {
        assert_eq!(text(&run(&[prog], spec).stdout), format!("{calls} {bytes}\n"), "{prog} {spec:?}");
    }
}

/// A site whose `mov` lies across two aligned 16-byte blocks is rewritten
/// too (parked on a jump to itself while its bytes change), here while
/// four threads run it under dispatch, and ahead under `auto`: every
/// call still gets the host's answer.
#[test]
fn site_across_two_blocks_is_rewritten_while_threads_run_it() {
    let prog = cc("straddle.c", "straddle", &["-pthread"]);
    for spec in [Some("path=/rump,syscalls=all"), None] {
        for _ in 0..3 {
            let o = run(&[&prog], spec);
            assert_eq!(text(&o.stdout), "failures=0 site=e9 offset=13\n", "{spec:?}: {o:?}");
        }
    }
}

/// Threads made by raw `clone` and `clone3`, with a TLS block of the
/// program's and sharing the main thread's (`ctests/raw_threads.c`, which
/// the ctests run embedded and against a `rump_server`), under `rumpctl
/// run` in `auto` and `all`: every call of every thread, from inline sites
/// rewritten after their first catch and from register-number ones caught
/// each time, is the kernel's, as the host's are on a host directory
/// (`sud::foreign`).
#[test]
fn raw_clone_threads_reach_the_kernel_under_rumpctl_run() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ctests/raw_threads.c");
    let prog = cc(src.to_str().expect("UTF-8 path"), "raw_threads", &[]);
    support::ensure_built();
    for mode in ["auto", "all"] {
        let spec = format!("path=/rump,syscalls={mode}");
        differential_by(&[&prog], |args| rumpctl_run(args, &spec));
    }
}

/// `args` under `rumpctl run` (its own kernel, the library a client of
/// it) with `RUMPHIJACK` `spec` and the library's dispatch log on stderr.
fn rumpctl_run(args: &[&str], spec: &str) -> Output {
    let mut cmd = Command::new(support::build_dir().join("rumpctl"));
    cmd.args(["run", "--hijack", spec, "--"]).args(args);
    cmd.env_remove("LD_PRELOAD").env_remove("RUMP_SERVER").env_remove("RUMPHIJACK");
    cmd.env("RUMP_LOG", "rumphijack::sud=debug");
    cmd.stdin(Stdio::null()).output().expect("spawn rumpctl")
}
