//! `rumpctl run`, started as a user would: exit statuses, the environment
//! the program gets, the private socket directory, signals, and programs
//! using the kernel through librumphijack.so (host directories with `-m`,
//! host files with `-d`, another server with `-s`), and static binaries
//! (busybox-static, a Go program) served by the seccomp supervisor.
//!
//! The tests build librumphijack.so beside rumpctl themselves (see
//! `support::rumpctl`).

mod support;

use support::{rumpctl, TempDir};

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `rumpctl run ARGS...`, its output collected.
fn run(args: &[&str]) -> Output {
    Command::new(rumpctl()).arg("run").args(args).stdin(Stdio::null()).output().expect("rumpctl runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn exit_statuses_are_the_programs() {
    assert_eq!(run(&["--", "/bin/true"]).status.code(), Some(0));
    assert_eq!(run(&["--", "/bin/sh", "-c", "exit 3"]).status.code(), Some(3));
    // Without `--` too: the first operand starts the command.
    assert_eq!(run(&["/bin/sh", "-c", "exit 4"]).status.code(), Some(4));
    // Killed by a signal: 128 + the signal, as a shell says.
    assert_eq!(run(&["--", "/bin/sh", "-c", "kill -TERM $$"]).status.code(), Some(128 + 15));

    let o = run(&["--", "no-such-command-anywhere"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(stderr(&o).contains("no-such-command-anywhere: command not found"), "{}", stderr(&o));
    let d = TempDir::new("noexec");
    let script = d.path().join("script");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run(&["--", script.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
}

#[test]
fn the_environment_and_the_private_socket() {
    let script = r#"echo "$LD_PRELOAD"; echo "$RUMP_SERVER"; echo "${RUMPHIJACK-unset}"; dir=${RUMP_SERVER#unix://}; dir=${dir%/*}; stat -c %a "$dir"; test -S "${RUMP_SERVER#unix://}" && echo socket"#;
    let o = Command::new(rumpctl())
        .args(["run", "--hijack", "path=/rump,socket=all:nolocal", "--", "/bin/sh", "-c", script])
        .env("LD_PRELOAD", "/nonexistent/other.so")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    let lib = PathBuf::from(env!("CARGO_BIN_EXE_rumpctl")).with_file_name("librumphijack.so");
    assert_eq!(lines[0], format!("{}:/nonexistent/other.so", lib.display()), "the library goes first");
    let sock = lines[1].strip_prefix("unix://").expect("a unix socket");
    assert_eq!(lines[2], "path=/rump,socket=all:nolocal");
    assert_eq!(lines[3], "700", "the socket's directory is private");
    assert_eq!(lines[4], "socket");
    assert!(!Path::new(sock).parent().unwrap().exists(), "the private directory is removed afterwards");
    // Without --hijack, RUMPHIJACK is whatever it was.
    let o = run(&["--", "/bin/sh", "-c", "echo ${RUMPHIJACK-unset}"]);
    assert_eq!(stdout(&o), "unset\n");
}

#[test]
fn host_directories_through_the_library() {
    let d = TempDir::new("mounts");
    std::fs::write(d.path().join("file"), "from the host\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", d.path().join("passwd")).unwrap();
    let ro = format!("{}:/h:ro", d.s());
    let o = run(&["-m", &ro, "--", "cat", "/rump/h/file"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "from the host\n"), "{}", stderr(&o));
    let o = run(&["-m", &ro, "--", "ls", "/rump/h"]);
    assert_eq!(stdout(&o), "file\npasswd\n", "{}", stderr(&o));
    // Read-only: a write fails and the host is untouched.
    let o = run(&["-m", &ro, "--", "/bin/sh", "-c", "echo x > /rump/h/new"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("Read-only file system"), "{}", stderr(&o));
    assert!(!d.path().join("new").exists());
    // A symlink to a host path names the kernel's path: nothing there.
    let o = run(&["-m", &ro, "--", "cat", "/rump/h/passwd"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("No such file or directory"), "{}", stderr(&o));
    // Read-write: what the program makes is on the host.
    let rw = format!("{}:/w", d.s());
    let o = run(&["-m", &rw, "--", "/bin/sh", "-c", "echo made in rump > /rump/w/new && mkdir /rump/w/dir"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(d.path().join("new")).unwrap(), "made in rump\n");
    assert!(d.path().join("dir").is_dir());
}

#[test]
fn one_kernel_for_the_whole_process_tree() {
    // sh writes, a separate cat process reads: both are clients of the
    // kernel rumpctl hosts.
    let o = run(&["--", "/bin/sh", "-c", "echo shared > /rump/x && cat /rump/x"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "shared\n"), "{}", stderr(&o));
    // Each run has a kernel of its own.
    let o = run(&["--", "cat", "/rump/x"]);
    assert_ne!(o.status.code(), Some(0));
}

#[test]
fn drives_as_rump_server_takes_them() {
    let d = TempDir::new("drive");
    let img = d.path().join("img");
    std::fs::write(&img, "drive bytes\n").unwrap();
    let spec = format!("key=/disks/one,hostpath={},type=reg", img.display());
    let o = run(&["-d", &spec, "--", "cat", "/rump/disks/one"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "drive bytes\n"), "{}", stderr(&o));
    // A bad drivespec is a bad command line (2); a good one naming a
    // missing directory is rumpctl failing (125).
    let o = run(&["-d", "key=/k", "--", "/bin/true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid value 'key=/k' for '-d <DRIVESPEC>': "), "{}", stderr(&o));
    let o = run(&["-m", &format!("{}/missing:/m", d.s()), "--", "/bin/true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("No such file or directory"), "{}", stderr(&o));
}

#[test]
fn another_server_with_dash_s() {
    let d = TempDir::new("server");
    let url = format!("unix://{}/sock", d.s());
    let server = PathBuf::from(env!("CARGO_BIN_EXE_rump_server"));
    assert!(Command::new(&server).arg(&url).status().unwrap().success(), "rump_server starts");
    let o = run(&["-s", &url, "--", "/bin/sh", "-c", "echo $RUMP_SERVER; echo kept > /rump/kept"]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), format!("{url}\n")), "{}", stderr(&o));
    // The server's kernel outlives one run.
    let o = run(&["-s", &url, "--", "cat", "/rump/kept"]);
    assert_eq!(stdout(&o), "kept\n", "{}", stderr(&o));
    // A static binary too, served by the server's supervisor.
    let o = run(&["-s", &url, "--", "/bin/busybox", "sh", "-c", "cat /rump/kept; echo static > /rump/s"]);
    assert_eq!(stdout(&o), "kept\n", "{}", stderr(&o));
    let o = run(&["-s", &url, "--", "cat", "/rump/s"]);
    assert_eq!(stdout(&o), "static\n", "{}", stderr(&o));
    // -d and -m need rumpctl's own kernel.
    let o = run(&["-s", &url, "-m", "/tmp:/t", "--", "/bin/true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("'-s <URL>' cannot be used with '-m <HOSTDIR:PATH[:ro]>'"), "{}", stderr(&o));
    assert!(Command::new(rumpctl()).args(["halt", "-s", &url]).status().unwrap().success());
}

#[test]
fn without_the_library_rumpctl_says_so() {
    let d = TempDir::new("nolib");
    let copy = d.path().join("rumpctl");
    std::fs::copy(rumpctl(), &copy).unwrap();
    let o = Command::new(&copy).args(["run", "--", "/bin/true"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("librumphijack.so is missing"), "{}", stderr(&o));
}

/// Starts `rumpctl run -- sh -c SCRIPT` and waits for the script's first
/// line, so that signals reach a running program.
fn started(script: &str) -> std::process::Child {
    let mut child =
        Command::new(rumpctl()).args(["run", "--", "/bin/sh", "-c", script]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    child
}

fn wait_within(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("rumpctl did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn signals() {
    // SIGINT to rumpctl alone is ignored: the program finishes.
    let mut c = started("echo ready; sleep 0.5; exit 5");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
    assert_eq!(wait_within(&mut c, Duration::from_secs(10)).code(), Some(5));
    // SIGTERM and SIGHUP are passed on.
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let mut c = started("echo ready; exec sleep 30");
        unsafe { libc::kill(c.id() as i32, sig) };
        assert_eq!(wait_within(&mut c, Duration::from_secs(10)).code(), Some(128 + sig));
    }
}

/// Runs `prog ARGS... BASE` on a host directory and under `rumpctl run`
/// on `/rump/t`, and asserts the same output and status (the base shown
/// as `BASE`). `prog` is or starts static binaries: the library cannot
/// enter them, the seccomp supervisor serves them.
fn static_differential(prog: &[&str]) {
    static_differential_in(prog, &[Mode::Run]);
}

/// Where a differential test's program meets the kernel.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Under `rumpctl run` (a server, its supervisor beside it).
    Run,
    /// With the library only (`LD_PRELOAD`, no server): the kernel is in
    /// the process until it moves into a keeper, whose supervisor serves
    /// static images. The program itself must be dynamic.
    Embedded,
}

/// As `static_differential`, in each of `modes`.
fn static_differential_in(prog: &[&str], modes: &[Mode]) {
    let host = TempDir::new("static");
    let hbase = format!("{}/t", host.s());
    let norm =
        |o: &Output, base: &str| (o.status.code(), stdout(o).replace(base, "BASE"), stderr(o).replace(base, "BASE"));
    let h = Command::new(prog[0]).args(&prog[1..]).arg(&hbase).output().expect("runs on the host");
    let h = norm(&h, &hbase);
    assert_eq!(h.0, Some(0), "on the host: {h:?}");
    for &mode in modes {
        let o = match mode {
            Mode::Run => run(&[&["--"], prog, &["/rump/t"]].concat()),
            Mode::Embedded => Command::new(prog[0])
                .args(&prog[1..])
                .arg("/rump/t")
                .env("LD_PRELOAD", rumpctl().with_file_name("librumphijack.so"))
                .env_remove("RUMP_SERVER")
                .env_remove("RUMPHIJACK")
                .stdin(Stdio::null())
                .output()
                .expect("runs with the library"),
        };
        assert_eq!(h, norm(&o, "/rump/t"), "host (left) and {mode:?} (right) differ");
    }
}

/// busybox-static's shell and applets on /rump.
#[test]
fn static_busybox() {
    let script = r#"B=$1; mkdir $B && cd $B || exit 9
echo x > b; cat b; echo y >> $B/b; wc -c < b; cat < b
mkdir -p d/e; echo in > d/e/f; ls -R; ls -la d/e | grep f | awk '{print $1, $5, $NF}'
mv d/e/f g; cat g; rm g; ls; cat missing; echo status $?
cd d && pwd | sed "s|$B|BASE|"; cd / && rm -r $B/d; ls -a $B"#;
    static_differential(&["/bin/busybox", "sh", "-c", script, "sh"]);
}

/// A Go program (static, as `go build` makes it without cgo) writing,
/// reading, listing and stat'ing files on /rump.
#[test]
fn static_go() {
    static_differential(&[&go_build("files")]);
}

/// A Go program's blocking calls on a /rump FIFO (an open waiting for
/// the writer, a read waiting for its write, signals arriving meanwhile)
/// while its other thread's calls (the writer's) need a receiver: the
/// supervisor starts one when a call is about to sleep in the kernel.
/// The program is the library's test of the same calls from dynamic Go.
#[test]
fn static_go_blocking_calls_leave_room_for_others() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hijack/tests/syscalls/fifo.go");
    static_differential(&[&go_build_from(&src, "fifo")]);
}

/// `tests/static/NAME.go` built static (as `go build` makes it without
/// cgo); the executable's path.
fn go_build(name: &str) -> String {
    go_build_from(&Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/static/{name}.go")), name)
}

/// `src` built static as `go-NAME`; the executable's path.
fn go_build_from(src: &Path, name: &str) -> String {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("go-{name}"));
    let st = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(src)
        .env("GOCACHE", Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache"))
        .env("GOFLAGS", "-mod=mod")
        .env("GO111MODULE", "off")
        .env("CGO_ENABLED", "0")
        .status()
        .expect("go (golang-go) runs");
    assert!(st.success(), "go build {} failed", src.display());
    out.to_str().expect("a UTF-8 path").to_owned()
}

/// Static binaries started by a dynamic shell: the library's exec hook
/// has the server's supervisor serve them (execve from the shell, execvp
/// from env) in a fork of the shell's kernel process, so the shell's
/// working directory and rump fds follow them; with the library alone,
/// the keeper the kernel moves into at exec supervises them.
#[test]
fn static_from_dynamic_shell() {
    let script = r#"B=$1; mkdir $B && cd $B || exit 9
echo hi > f; mkdir d; busybox ls -la | grep -v -e ' \.\.*$' -e '^total' | awk '{print $1, $NF}'
busybox cat $B/f; env busybox cat f; busybox pwd | sed "s|$B|BASE|"
busybox wc -c < f; exec 5< f; busybox sh -c 'busybox cat <&5'; busybox ls > list; cat list
busybox sh -c 'echo from static >> f'; cat f; busybox ls missing; echo status $?"#;
    static_differential_in(&["/bin/sh", "-c", script, "sh"], &[Mode::Run, Mode::Embedded]);
}

/// A shell that has not touched the kernel yet execs a static image that
/// does (`sh -c 'busybox ls /rump'`): the exec hook starts the tree's
/// keeper and has it supervise the image.
#[test]
fn static_first_touch_from_dynamic_shell() {
    let script = r#"busybox mkdir $1 && busybox sh -c "echo first > $1/f" && busybox ls $1 && busybox cat $1/f"#;
    static_differential_in(&["/bin/sh", "-c", script, "sh"], &[Mode::Run, Mode::Embedded]);
}

/// Programs stored in the kernel: `cp /bin/busybox /rump/...` then run
/// from there (the image copied into a memfd and exec'd from it, under
/// the supervisor since it is static), a dynamic one too (`cat`), from a
/// dynamic shell (the library's exec hook) and from a static one (the
/// supervisor's execve).
#[test]
fn static_image_stored_under_the_prefix() {
    let script = r#"B=$1; mkdir $B && cd $B || exit 9
cp /bin/busybox busybox; cp /bin/cat mycat; echo hi > f; ./busybox cat f; $B/busybox ls
./busybox sh -c 'echo more >> f; ./busybox wc -l < f'; ./mycat f; ./busybox pwd | sed "s|$B|BASE|"
./busybox ls missing; echo status $?"#;
    static_differential_in(&["/bin/sh", "-c", script, "sh"], &[Mode::Run, Mode::Embedded]);
}

/// Dynamic programs started by a static shell: the library serves them
/// (LD_PRELOAD crosses the static image in the environment), and the
/// supervisor inherited with the filter serves what they do on fds the
/// static shell opened in the kernel (`ls > f`, `cat < f`).
#[test]
fn dynamic_from_static_shell() {
    let script = r#"B=$1; mkdir $B && cd $B || exit 9
echo x > y; /bin/cat y; /bin/ls $B; /bin/ls > out; /bin/cat < out; /bin/pwd | sed "s|$B|BASE|"
/bin/sh -c 'busybox cat y; cd .. && /bin/ls t'; /bin/ls missing 2>&1 | sed 's/.*: //'"#;
    static_differential(&["/bin/busybox", "sh", "-c", script, "sh"]);
}

/// Static programs' sockets and waits in one kernel: a Go HTTP server
/// (epoll over host and rump fds) on the kernel's loopback answers
/// busybox's wget (poll), both served by the supervisor; SIGTERM reaches
/// the server's handler while its netpoller waits in the supervisor.
#[test]
fn static_go_http_on_loopback() {
    let httpd = go_build("httpd");
    let script = format!(
        "{httpd} 127.0.0.1:8080 & for i in 1 2 3 4 5 6 7 8 9 10; do busybox wget -q -O- http://127.0.0.1:8080/x && break; sleep 0.2; done; sleep 0.2; kill -TERM $!; wait $!; echo status $?"
    );
    let o = run(&["--", "/bin/busybox", "sh", "-c", &script]);
    let want = "listening on 127.0.0.1:8080\nhello from go, path /x, client 127.0.0.1\nterminated\nstatus 0\n";
    assert_eq!(stdout(&o), want, "{}", stderr(&o));
}

/// A signal reaches a static program whose only thread waits in the
/// supervisor (poll on a rump socket) or in the kernel for it (a blocking
/// accept): its handler runs and the call ends with EINTR, or with
/// SA_RESTART accept goes on and takes a connection, as on the host. With
/// SIGUSR1 blocked, ppoll, pselect6 and epoll_pwait whose masks let it
/// through end with EINTR after the handler, and it is blocked again.
#[test]
fn a_signal_ends_a_supervised_wait() {
    let exe = cc_static("sigwait");
    let cases = [
        ("poll", "Interrupted system call"),
        ("accept", "Interrupted system call"),
        ("restart", "ok"),
        ("ppoll", "Interrupted system call"),
        ("pselect", "Interrupted system call"),
        ("epoll", "Interrupted system call"),
    ];
    for (how, ends) in cases {
        let script = format!(
            "{exe} {how} & sleep 0.5; kill -USR1 $!; sleep 0.3; busybox nc 127.0.0.1 7001 </dev/null; wait $!; echo status $?"
        );
        let host = Command::new("/bin/busybox").args(["sh", "-c", &script]).output().expect("busybox runs");
        let blocked =
            if matches!(how, "ppoll" | "pselect" | "epoll") { "SIGUSR1 blocked after the wait\n" } else { "" };
        assert_eq!(stdout(&host), format!("waiting\nhandled\n{how} {ends}\n{blocked}status 0\n"), "on the host");
        let o = run(&["--", "/bin/busybox", "sh", "-c", &script]);
        assert_eq!(stdout(&o), stdout(&host), "{how}: {}", stderr(&o));
    }
}

/// `tests/static/NAME.c` built static (libc6-dev's libc.a); its path.
fn cc_static(name: &str) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/static/{name}.c"));
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let st = Command::new("cc").args(["-static", "-O1", "-o"]).arg(&exe).arg(&src).status().expect("cc runs");
    assert!(st.success(), "cc -static {} failed (libc6-dev's libc.a)", src.display());
    exe.to_str().expect("a UTF-8 path").to_owned()
}

/// Calls on rump files and sockets under a stream of signals (an
/// interval timer, a handler with SA_RESTART): each is done once, and the
/// file and the stream hold exactly what was written, as on the host (a
/// caught call, once received, is not cut short by a signal; one cut
/// short before is made again by the host: `supervise::wait`).
#[test]
fn calls_under_a_signal_storm_are_done_once() {
    let exe = cc_static("sigstorm");
    let host = TempDir::new("sigstorm");
    let h = Command::new(&exe).arg(format!("{}/f", host.s())).output().expect("runs on the host");
    assert_eq!(h.status.code(), Some(0), "on the host: {}", stderr(&h));
    let o = run(&["--", &exe, "/rump/f"]);
    assert_eq!(stdout(&o), stdout(&h), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
