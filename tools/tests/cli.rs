//! The command lines as a user meets them: help, `--version`, usage errors
//! (status 2, one line), NetBSD's grouped flags, options before or after
//! operands, completions and man pages, `net check`, the log (`RUMP_LOG`,
//! `RUMP_LOG_FILE`), and `rumpctl net` finding its network from a
//! subdirectory, listing it with `net ls` and reporting it as JSON.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{rump_server, rumpctl, TempDir};

fn run(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin).args(args).stdin(Stdio::null()).output().expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_goes_to_stdout_with_examples() {
    for (bin, args, wanted) in [
        (rump_server(), vec!["--help"], "rump_server -sv -c 2 -r 16m"),
        (rump_server(), vec!["-h"], "Usage: rump_server [-svU] [-c ncpu] [-r ram] [-d drivespec]..."),
        (rumpctl(), vec!["--help"], "rumpctl net up topology.toml"),
        (rumpctl(), vec!["net", "--help"], "nearest .rumpnet"),
        (rumpctl(), vec!["net", "up", "--help"], "rumpctl net up -d /tmp/n1 topology.toml"),
        (rumpctl(), vec!["net", "capture", "--help"], "rumpctl net capture bus2 -o b2.pcap -t 5"),
        (rumpctl(), vec!["run", "--help"], "--hijack <SPEC>"),
        // dumpbus keeps NetBSD's -h (header only); help is --help.
        (rumpctl(), vec!["dumpbus", "--help"], "-h              Only the bus header"),
        (rump_server(), vec!["--version"], "rump_server 0.1.0"),
        (rumpctl(), vec!["--version"], "rumpctl 0.1.0"),
    ] {
        let o = run(&bin, &args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        assert!(text(&o.stdout).contains(wanted), "{args:?} lacks {wanted:?}:\n{}", text(&o.stdout));
        assert!(o.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn usage_errors_are_one_line_and_status_2() {
    for (bin, args, wanted) in [
        (rump_server(), vec!["--bogus", "unix:///x"], "rump_server: unexpected argument '--bogus' found"),
        (rump_server(), vec![], "rump_server: the following required arguments were not provided: <URL>"),
        (
            rump_server(),
            vec!["-c", "0", "unix:///x"],
            "invalid value '0' for '-c <NCPU>': expected a CPU count or host",
        ),
        (rump_server(), vec!["-r", "lots", "unix:///x"], "expected a size such as 16m"),
        (rump_server(), vec!["-l", "rumpfoo", "unix:///x"], "unknown component (known: rumpvfs,"),
        (rump_server(), vec!["-d", "key=/k", "unix:///x"], "for '-d <DRIVESPEC>'"),
        (rump_server(), vec!["http://x"], "invalid value 'http://x' for '<URL>...'"),
        (rump_server(), vec!["--max-clients", "0", "unix:///x"], "'--max-clients <N>': expected a count of at least 1"),
        (rump_server(), vec!["--max-pending", "x", "unix:///x"], "'--max-pending <N>': expected a count of at least 1"),
        (
            rump_server(),
            vec!["--handshake-timeout", "soon", "unix:///x"],
            "'--handshake-timeout <SECS>': expected seconds",
        ),
        (rumpctl(), vec![], "Usage: rumpctl <COMMAND>"),
        (rumpctl(), vec!["frobnicate"], "rumpctl: unrecognized subcommand 'frobnicate'"),
        (rumpctl(), vec!["net", "capture", "bus2", "-t", "5"], "-o <FILE.pcap>"),
        (rumpctl(), vec!["net", "capture", "-o", "f", "-t", "x", "b"], "invalid value 'x' for '-t <SECONDS>'"),
        (rumpctl(), vec!["sysctl"], "<NAME[=VALUE]>"),
        (rumpctl(), vec!["run"], "<CMD>"),
        (rumpctl(), vec!["run", "-s", "unix:///s", "-m", "/tmp:/h", "true"], "cannot be used with"),
        (rumpctl(), vec!["ifconfig", "shmif0"], "<IF WORD>"),
    ] {
        let o = run(&bin, &args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(wanted), "{args:?}: {err:?} lacks {wanted:?}");
        if !args.is_empty() {
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        }
    }
}

/// A foreground server, killed if a test fails before halting it.
struct Foreground(Child);

impl Foreground {
    /// `rump_server ARGS` with stderr piped.
    fn start(args: &[&str], env: &[(&str, &Path)]) -> Foreground {
        let mut cmd = Command::new(rump_server());
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Foreground(cmd.spawn().unwrap())
    }

    /// Waits for `rump_server -v` to print its first line.
    fn listening(&mut self) -> String {
        let mut line = String::new();
        BufReader::new(self.0.stderr.as_mut().unwrap()).read_line(&mut line).unwrap();
        line
    }

    /// Waits for the exit after a halt; its status and the rest of stderr.
    fn exited(mut self) -> (bool, String) {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(self.0.stderr.as_mut().unwrap(), &mut rest);
        (self.0.wait().unwrap().success(), rest)
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn halt(url: &str) {
    let o = run(&rumpctl(), &["halt", "-s", url]);
    assert!(o.status.success(), "halt: {}", text(&o.stderr));
}

#[test]
fn netbsd_flags_group_and_take_values_attached_or_apart() {
    let d = TempDir::new("flags");
    let img = d.path().join("img");
    std::fs::write(&img, b"drive contents").unwrap();
    let url = format!("unix://{}/sock", d.s());
    let drive = format!("key=/img,hostpath={},size=host", img.display());
    let mut server = Foreground::start(
        &["-sv", "-c2", "-r", "16m", "-d", &drive, "-lrumpvfs", "-l", "librumpnet_shmif.so", &url],
        &[],
    );
    assert_eq!(server.listening(), format!("rump_server: listening on {url}\n"));
    let o = run(&rumpctl(), &["sysctl", "-s", &url, "hw.ncpu"]);
    assert_eq!(text(&o.stdout), "hw.ncpu = 2\n", "{}", text(&o.stderr));
    // Options after the operands too.
    let o = run(&rumpctl(), &["sysctl", "hw.ncpu", "-s", &url, "--json"]);
    assert_eq!(text(&o.stdout), "{\n  \"hw.ncpu\": \"2\"\n}\n", "{}", text(&o.stderr));
    let o = run(&rumpctl(), &["sysctl", "-a", "--json", "-s", &url]);
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).expect("sysctl -a --json is JSON");
    assert_eq!(all["hw.ncpu"], "2");
    assert!(all.as_object().unwrap().len() >= 5 && all["kern.hostname"].is_string(), "{all}");
    halt(&url);
    assert!(server.exited().0);
}

/// The access flags make the server's policy: `--key` is the file a
/// tcp:// client must hold (made by the server on first use), whatever
/// the default key file says.
#[test]
fn access_flags_reach_the_server() {
    let d = TempDir::new("access");
    let key = d.path().join("key");
    let key_s = key.to_str().unwrap();
    let mut server = Foreground::start(
        &[
            "-svU",
            "--key",
            key_s,
            "--handshake-timeout",
            "2.5",
            "--max-clients",
            "4",
            "--max-pending",
            "2",
            "tcp://127.0.0.1:0",
        ],
        &[],
    );
    let line = server.listening();
    let url = line.trim().strip_prefix("rump_server: listening on ").expect("the listening line").to_string();
    assert!(key.exists(), "--key's file is made on first use");
    let ctl =
        |args: &[&str], key: &str| Command::new(rumpctl()).args(args).env("RUMP_SERVER_KEY", key).output().unwrap();
    let o = ctl(&["sysctl", "-s", &url, "kern.ostype"], key_s);
    assert_eq!(text(&o.stdout), "kern.ostype = NetBSD\n", "{}", text(&o.stderr));
    let o = ctl(&["sysctl", "-s", &url, "kern.ostype"], "/nonexistent/key");
    assert!(!o.status.success() && o.stdout.is_empty());
    assert!(ctl(&["halt", "-s", &url], key_s).status.success());
    assert!(server.exited().0);
}

#[test]
fn rump_log_shows_connections_and_handshakes() {
    let d = TempDir::new("log");
    let url = format!("unix://{}/sock", d.s());
    let log_file = d.path().join("log");
    for to_file in [false, true] {
        let mut env = vec![("RUMP_LOG", Path::new("debug"))];
        if to_file {
            env.push(("RUMP_LOG_FILE", &log_file));
        }
        let server = Foreground::start(&["-s", &url], &env);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !d.path().join("sock").exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(run(&rumpctl(), &["sysctl", "-s", &url, "kern.ostype"]).status.success());
        halt(&url);
        let (_, stderr) = server.exited();
        let (log, other) = match to_file {
            false => (stderr, String::new()),
            true => (std::fs::read_to_string(&log_file).unwrap(), stderr),
        };
        for wanted in ["connection accepted", "handshake: guest", "comm=rumpctl"] {
            assert!(log.contains(wanted), "log lacks {wanted:?}:\n{log}");
        }
        assert!(other.is_empty(), "with RUMP_LOG_FILE, stderr has {other:?}");
    }
}

#[test]
fn completions_and_man_pages() {
    for (shell, wanted) in [("bash", "_rumpctl()"), ("zsh", "#compdef rumpctl"), ("fish", "complete -c rumpctl")] {
        let o = run(&rumpctl(), &["completions", shell]);
        assert!(o.status.success());
        let script = text(&o.stdout);
        assert!(script.contains(wanted) && script.contains("capture"), "{shell}: {script:.200}");
    }
    let o = run(&rumpctl(), &["completions", "bash", "--program", "rump_server"]);
    assert!(text(&o.stdout).contains("_rump_server()"));
    // The completion script loads in bash and completes a subcommand.
    let script = text(&run(&rumpctl(), &["completions", "bash"]).stdout);
    let probe = format!(
        "{script}\nCOMP_WORDS=(rumpctl ne); COMP_CWORD=1; COMP_LINE='rumpctl ne'; COMP_POINT=10; _rumpctl rumpctl ne rumpctl; echo \"${{COMPREPLY[@]}}\""
    );
    let o = Command::new("bash").args(["-c", &probe]).output().unwrap();
    assert_eq!(text(&o.stdout).trim(), "net", "{}", text(&o.stderr));

    let d = TempDir::new("man");
    let o = run(&rumpctl(), &["man", d.s()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for page in ["rump_server.1", "rumpctl.1", "rumpctl-run.1", "rumpctl-net.1", "rumpctl-net-capture.1"] {
        let body = std::fs::read_to_string(d.path().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(body.starts_with(".ie \\n(.g .ds Aq") || body.contains(".TH"), "{page}: {body:.100}");
    }
    // scripts/install-man.sh puts them where man finds them.
    let root = TempDir::new("manroot");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-man.sh");
    let o = Command::new("bash").arg(&script).arg(root.s()).env("RUMPCTL", rumpctl()).output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(root.path().join("man1/rumpctl-net-up.1").is_file());
}

const TOPOLOGY: &str =
    "node.a = { ifaces = ['shmif0 b1 10.0.0.1/24'] }\n[node.b]\nifaces = ['shmif0 b1 10.0.0.2/24']\n";

#[test]
fn net_check_names_file_line_and_column() {
    let d = TempDir::new("check");
    let good = d.path().join("good.toml");
    std::fs::write(&good, TOPOLOGY).unwrap();
    let o = run(&rumpctl(), &["net", "check", good.to_str().unwrap()]);
    assert_eq!(text(&o.stdout), format!("{}: 2 nodes, 1 buses\n", good.display()));
    let bad = d.path().join("bad.toml");
    std::fs::write(&bad, "[node.x]\nifaces = ['shmif0 b 10.0.0.1/24',\n  'shmif1 bus2 10.0.2.254/33']\n").unwrap();
    let o = run(&rumpctl(), &["net", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        format!(
            "rumpctl: {}:3:3: node x: interface \"shmif1 bus2 10.0.2.254/33\": bad prefix /33 for IPv4 address 10.0.2.254 (0 to 32)\n",
            bad.display()
        )
    );
    std::fs::write(&bad, "[node.x]\nroute = []\n").unwrap();
    let o = run(&rumpctl(), &["net", "check", bad.to_str().unwrap()]);
    assert!(text(&o.stderr).contains(":2:1: unknown field `route`"), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("did you mean `routes`?"), "{}", text(&o.stderr));
}

#[test]
fn net_is_found_from_a_subdirectory_and_listed() {
    let d = TempDir::new("net");
    std::fs::write(d.path().join("t.toml"), TOPOLOGY).unwrap();
    let sub = d.path().join("deep/er");
    std::fs::create_dir_all(&sub).unwrap();
    let runtime = TempDir::new("runtime");
    let net = |dir: &Path, args: &[&str]| {
        let o = Command::new(rumpctl())
            .arg("net")
            .args(args)
            .current_dir(dir)
            .env_remove("RUMPNET_DIR")
            .env("XDG_RUNTIME_DIR", runtime.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "net {args:?}: {}", text(&o.stderr));
        text(&o.stdout)
    };
    // On a terminal (script(1) gives it one) `net up` shows its progress.
    let up = format!("{} net up t.toml", rumpctl().display());
    let o = Command::new("script")
        .args(["-qec", &up, "/dev/null"])
        .current_dir(d.path())
        .env_remove("RUMPNET_DIR")
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    let shown = text(&o.stdout);
    assert!(o.status.success() && shown.contains("\rnet up: "), "{shown:?}");
    assert!(shown.contains("net up: 2 nodes, 1 buses in"), "{shown:?}");
    let root = d.path().join(".rumpnet");
    assert_eq!(net(&sub, &["url", "a"]), format!("unix://{}/sock/a\n", root.display()));
    assert!(net(&sub, &["ls"]).starts_with(&format!("{}  2 nodes, 2 running, 1 buses", root.display())));
    let status: String = net(&sub, &["status", "--json"]);
    assert!(status.contains("\"node\": \"a\"") && status.contains("\"state\": \"running\""), "{status}");
    assert!(status.contains("\"mtu\": 1500"), "{status}");
    let table = net(&sub, &["status"]);
    assert!(table.lines().next().unwrap().starts_with("NODE  PID"), "{table}");
    // Options around the operand, both ways.
    for args in [["capture", "b1", "-o", "x.pcap", "-t", "0.2"], ["capture", "-o", "x.pcap", "-t", "0.2", "b1"]] {
        // Not a terminal: no status line, only the report.
        let o = Command::new(rumpctl()).arg("net").args(args).current_dir(&sub).output().unwrap();
        assert!(o.status.success() && sub.join("x.pcap").is_file());
        assert!(text(&o.stderr).starts_with("net capture: 0 frames from b1 to x.pcap"), "{}", text(&o.stderr));
    }
    net(&sub, &["down"]);
    assert!(!root.exists());
    assert_eq!(net(&sub, &["ls"]), "");
}

/// A report piped into a reader that has gone (`| head -1`) ends
/// quietly, killed by SIGPIPE as coreutils' are, never with a panic.
#[test]
fn a_report_into_a_closed_pipe_ends_quietly() {
    // The reader is gone before the first write: the pipe's room cannot
    // swallow the report.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("(sleep 0.3; {} completions bash) | true", rumpctl().display()))
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
}

/// `net up` puts neighbouring nodes in one server (a process per node with
/// `--nodes-per-server 1`); a node halted by a reboot call is shown halted
/// while its server goes on serving the others.
#[test]
fn nodes_share_a_server_and_halt_one_by_one() {
    let d = TempDir::new("shared");
    let three = "node.a = { ifaces = ['shmif0 b1 10.0.0.1/24'] }\n\
                 node.b = { ifaces = ['shmif0 b1 10.0.0.2/24'] }\n\
                 node.c = { ifaces = ['shmif0 b1 10.0.0.3/24'] }\n";
    std::fs::write(d.path().join("t.toml"), three).unwrap();
    let runtime = TempDir::new("shared-runtime");
    let net = |args: &[&str]| {
        let mut cmd = Command::new(rumpctl());
        cmd.arg("net").args(args).current_dir(d.path()).env_remove("RUMPNET_DIR");
        let o = cmd.env("XDG_RUNTIME_DIR", runtime.path()).output().unwrap();
        assert!(o.status.success(), "net {args:?}: {}", text(&o.stderr));
        text(&o.stdout)
    };
    let pids = |status: &str| -> Vec<(String, String, String)> {
        let rows = status.lines().skip(1).take_while(|l| !l.is_empty());
        rows.map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[0].to_string(), w[1].to_string(), w[2].to_string())
        })
        .collect()
    };
    for (args, servers) in [(&["up", "t.toml"][..], 1), (&["up", "--nodes-per-server", "1", "t.toml"][..], 3)] {
        net(args);
        let rows = pids(&net(&["status"]));
        assert_eq!(rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        let mut distinct: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        distinct.dedup();
        assert_eq!(distinct.len(), servers, "{args:?}: {rows:?}");
        for pid in &distinct {
            // One thread reads the buses of all a server's nodes.
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten();
            let is_reader = |t: &std::fs::DirEntry| {
                std::fs::read_to_string(t.path().join("comm")).unwrap_or_default() == "rump-buses\n"
            };
            let readers = tasks.filter(is_reader).count();
            assert_eq!(readers, 1, "{args:?}: bus threads in server {pid}");
        }
        if servers == 1 {
            let log = d.path().join(".rumpnet/log/b");
            assert_eq!(std::fs::read_link(&log).unwrap(), Path::new("a"), "a node's log is its server's");
            let b = net(&["url", "b"]);
            let o = Command::new(rumpctl()).args(["halt", "-s", b.trim()]).output().unwrap();
            assert!(o.status.success(), "{}", text(&o.stderr));
            let status = net(&["status"]);
            assert!(status.contains("halted (its server runs other nodes)"), "{status}");
            assert_eq!(pids(&status).iter().filter(|r| r.2 == "running").count(), 2, "{status}");
            assert!(net(&["ls"]).contains("3 nodes, 2 running"));
            assert_eq!(net(&["down"]), "net down: 2 nodes stopped (1 server), 1 had already stopped\n");
        } else {
            assert_eq!(net(&["down"]), "net down: 3 nodes stopped (3 servers)\n");
        }
    }
}

/// The library logs to stderr or RUMP_LOG_FILE, never into the program's
/// stdout, and says nothing without RUMP_LOG; the same program's output is
/// the same either way.
#[test]
fn the_library_logs_beside_the_program() {
    let lib = rumpctl().with_file_name("librumphijack.so");
    let d = TempDir::new("liblog");
    let file = d.path().join("log");
    let script = "echo hi > /rump/x; cat /rump/x; cat /rump/missing";
    let sh = |env: &[(&str, &Path)]| {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]).env("LD_PRELOAD", &lib).env_remove("RUMP_SERVER").env_remove("RUMP_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let quiet = sh(&[]);
    assert_eq!(text(&quiet.stdout), "hi\n");
    assert_eq!(text(&quiet.stderr), "cat: /rump/missing: No such file or directory\n");
    let logged = sh(&[("RUMP_LOG", Path::new("rumphijack=trace"))]);
    assert_eq!(logged.stdout, quiet.stdout);
    assert_eq!(logged.status.code(), quiet.status.code());
    let err = text(&logged.stderr);
    assert!(err.contains("TRACE rumphijack::fd: rump fd") && err.contains("host fd fd=1"), "{err}");
    assert!(err.contains("cat: /rump/missing"), "{err}");
    let to_file = sh(&[("RUMP_LOG", Path::new("rumphijack=trace")), ("RUMP_LOG_FILE", &file)]);
    assert_eq!(to_file.stdout, quiet.stdout);
    assert_eq!(to_file.stderr, quiet.stderr);
    assert!(std::fs::read_to_string(&file).unwrap().contains("rumphijack::fd: rump fd"));
}
