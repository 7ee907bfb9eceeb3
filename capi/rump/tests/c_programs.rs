//! The C interface as a C user meets it: `scripts/install.sh` into a
//! temporary prefix, then each program of `capi/tests/c/` built with
//! `cc prog.c $(pkg-config --cflags --libs rump)` (or `rumpclient`, or
//! NetBSD's own link line) and run; a program checks its own results and
//! exits 1 naming the line that failed. Client programs run against a
//! `rump_server` over unix and tcp.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh directory `tag` under cargo's scratch space for tests: fixed
/// names, so a run replaces the last one's instead of piling up.
fn scratch(tag: &str) -> PathBuf {
    let profile = if std::env::current_exe().is_ok_and(|e| e.ancestors().any(|a| a.ends_with("release"))) {
        "release"
    } else {
        "debug"
    };
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("capi-{profile}")).join(tag);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// A directory with a short path, for unix sockets (108 bytes at most),
/// removed when dropped.
struct SocketDir(PathBuf);

impl SocketDir {
    fn new(tag: &str) -> SocketDir {
        let d = std::env::temp_dir().join(format!("rump-capi-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&d).expect("socket dir");
        SocketDir(d)
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The prefix everything is installed in, once per test binary.
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let p = scratch("prefix");
        let exe = std::env::current_exe().expect("test binary");
        let mut cmd = Command::new(repo().join("scripts/install.sh"));
        if !exe.ancestors().any(|a| a.ends_with("release")) {
            cmd.arg("--debug");
        }
        let st = cmd.arg(&p).status().expect("run scripts/install.sh");
        assert!(st.success(), "scripts/install.sh failed");
        p
    })
}

fn pkg_config(pkg: &str) -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(["--cflags", "--libs", pkg])
        .env("PKG_CONFIG_PATH", prefix().join("lib/pkgconfig"))
        .output()
        .expect("run pkg-config");
    assert!(out.status.success(), "pkg-config {pkg}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect()
}

/// `cc -Wall -Werror capi/tests/c/NAME.c FLAGS`, returning the program;
/// built once per name and flags, since tests run in parallel.
fn build(name: &str, flags: &[String]) -> PathBuf {
    static BUILT: Mutex<Vec<(String, Vec<String>, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, exe)) = built.iter().find(|(n, f, _)| n == name && f == flags) {
        return exe.clone();
    }
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let exe = BIN.get_or_init(|| scratch("bin")).join(format!("{name}-{}", built.len()));
    let src = repo().join(format!("capi/tests/c/{name}.c"));
    let out = Command::new("cc").args(["-Wall", "-Werror", "-o"]).arg(&exe).arg(&src).args(flags).output().expect("cc");
    assert!(out.status.success(), "cc {name}.c: {}", String::from_utf8_lossy(&out.stderr));
    built.push((name.to_owned(), flags.to_vec(), exe.clone()));
    exe
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run a test program");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn files_on_tmpfs_with_netbsd_flags_and_errnos() {
    let out = run(&mut Command::new(build("files", &pkg_config("rump"))));
    assert_eq!(stdout(&out), "files ok\n");
}

#[test]
fn sockets_on_lo0_with_netbsd_sockaddrs_options_and_errnos() {
    let out = run(&mut Command::new(build("sockets", &pkg_config("rump"))));
    assert_eq!(stdout(&out), "sockets ok\n");
}

#[test]
fn lwprocs_have_their_own_fd_tables() {
    let out = run(&mut Command::new(build("lwproc", &pkg_config("rump"))));
    assert_eq!(stdout(&out), "lwproc ok\n");
}

#[test]
fn etfs_shows_host_files_and_directories() {
    let d = scratch("etfs");
    std::fs::write(d.join("file"), "host data\n").unwrap();
    std::fs::create_dir_all(d.join("dir/sub")).unwrap();
    std::fs::write(d.join("dir/sub/x"), "x\n").unwrap();
    let out = run(Command::new(build("etfs", &pkg_config("rump"))).arg(d.join("file")).arg(d.join("dir")));
    assert_eq!(stdout(&out), "etfs ok\n");
    // Writes went through to the host file.
    assert_eq!(std::fs::read_to_string(d.join("file")).unwrap(), "HOST data\n");
}

#[test]
fn netconfig_makes_shmif_interfaces() {
    let bus = scratch("netconfig").join("bus");
    let out = run(Command::new(build("netconfig", &pkg_config("rump"))).arg(&bus));
    assert_eq!(stdout(&out), "netconfig ok\n");
    assert!(bus.exists(), "the bus file was not made");
}

#[test]
fn a_netbsd_program_links_with_netbsd_link_names() {
    let p = prefix();
    let flags: Vec<String> = [
        format!("-I{}", p.join("include").display()),
        format!("-L{}", p.join("lib").display()),
        format!("-Wl,-rpath,{}", p.join("lib").display()),
    ]
    .into_iter()
    .chain(
        ["-lrump", "-lrumpvfs", "-lrumpuser", "-lrumpnet", "-lrumpnet_net", "-lrumpnet_netinet", "-lrumpnet_shmif"]
            .map(String::from),
    )
    .collect();
    let d = scratch("netbsd");
    std::fs::write(d.join("in"), "a host file\n").unwrap();
    let out = run(Command::new(build("netbsd_style", &flags)).arg(d.join("in")));
    assert_eq!(stdout(&out), "a host file\nrmdir: directory not empty, as it should be\n");
}

#[test]
fn a_static_link_works_too() {
    let p = prefix();
    let flags: Vec<String> = vec![
        format!("-I{}", p.join("include").display()),
        p.join("lib/librump.a").display().to_string(),
        "-lpthread".into(),
        "-ldl".into(),
        "-lm".into(),
    ];
    let out = run(&mut Command::new(build("files", &flags)));
    assert_eq!(stdout(&out), "files ok\n");
}

/// A foreground rump_server from the prefix at `url`, killed on drop.
struct Server(Child, String);

impl Server {
    fn start(url: &str) -> Server {
        let mut child = Command::new(prefix().join("bin/rump_server"))
            .args(["-s", "-v", url])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rump_server");
        let mut first = String::new();
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        stderr.read_line(&mut first).expect("read rump_server's first line");
        // The server goes on logging (-v); keep its stderr open.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let url = first.trim().strip_prefix("rump_server: listening on ").expect("rump_server started").to_owned();
        Server(child, url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_client_program_over_unix_and_tcp_forks() {
    let prog = build("client", &pkg_config("rumpclient"));
    let dir = SocketDir::new("client");
    let sock = dir.0.join("sock");
    for url in [format!("unix://{}", sock.display()), "tcp://127.0.0.1:0".to_string()] {
        let server = Server::start(&url);
        let out = run(Command::new(&prog).env("RUMP_SERVER", &server.1));
        assert_eq!(stdout(&out), "client ok\nexec ok\n", "over {}", server.1);
    }
}

#[test]
fn a_client_without_a_server_fails_cleanly() {
    let prog = build("client", &pkg_config("rumpclient"));
    let out = Command::new(&prog).env("RUMP_SERVER", "unix:///nonexistent/sock").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rumpclient_init() == 0"));
}

#[test]
fn the_libraries_export_what_the_headers_declare() {
    for (lib, names) in
        [("librump.so", rump_abi::capi::RUMP_IFACES), ("librumpclient.so", rump_abi::capi::RUMPCLIENT_IFACES)]
    {
        let out =
            Command::new("nm").args(["-D", "--defined-only"]).arg(prefix().join("lib").join(lib)).output().expect("nm");
        let syms = String::from_utf8_lossy(&out.stdout);
        let has = |n: &str| syms.lines().any(|l| l.split_whitespace().last() == Some(n));
        for n in names.iter().copied().chain(["rump_sys_open", "rump_sys_getpid", "rump_sys___getcwd"]) {
            assert!(has(n), "{lib} does not export {n}");
        }
    }
}

/// `rumpctl net` from the prefix with the network in `dir`.
fn rumpnet(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new(prefix().join("bin/rumpctl"));
    cmd.arg("net").arg(args[0]).arg("-d").arg(dir).args(&args[1..]);
    stdout(&run(&mut cmd)).trim().to_owned()
}

#[test]
fn udp_between_librump_on_a_bus_and_a_client_of_a_rump_server() {
    let echo = build("udp_echo", &pkg_config("rumpclient"));
    let peer = build("udp_peer", &pkg_config("rump"));
    let d = scratch("udp");
    let topo = d.join("topo.toml");
    std::fs::write(&topo, "[node.b]\nifaces = [\"shmif0 bus1 10.0.0.2/24\"]\n").unwrap();
    let dir = SocketDir::new("udp");
    let net = dir.0.join("net");
    rumpnet(&net, &["up", topo.to_str().unwrap()]);
    let (url, bus) = (rumpnet(&net, &["url", "b"]), rumpnet(&net, &["bus", "bus1"]));
    let mut server = Command::new(&echo)
        .args(["10.0.0.2", "7777"])
        .env("RUMP_SERVER", &url)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start udp_echo");
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    let answer = Command::new(&peer).arg(&bus).args(["10.0.0.2", "7777"]).output().unwrap();
    let mut echoed = String::new();
    out.read_line(&mut echoed).unwrap();
    let st = server.wait().unwrap();
    rumpnet(&net, &["down"]);
    assert!(answer.status.success(), "udp_peer: {}", String::from_utf8_lossy(&answer.stderr));
    assert_eq!(stdout(&answer), "PING OVER SHMIF\n");
    assert!(st.success() && echoed.starts_with("echoed 15 bytes to 10.0.0.1:"), "{echoed}");
}

#[test]
fn python_uses_files_and_sockets_through_ctypes() {
    let script = repo().join("capi/examples/rump_ctypes.py");
    let out = run(Command::new("python3").arg(script).arg(prefix()));
    assert_eq!(
        stdout(&out),
        "file: hello from python\nmissing file: ENOENT\nudp: datagram in the kernel from 127.0.0.1\ntcp: PING\n"
    );
}

#[test]
fn an_in_process_kernel_serves_librumpclient_programs() {
    let serve = build("serve", &pkg_config("rump"));
    let client = build("client", &pkg_config("rumpclient"));
    let dir = SocketDir::new("serve");
    let url = format!("unix://{}", dir.0.join("sock").display());
    let mut server =
        Command::new(&serve).arg(&url).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start serve");
    let mut said = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    assert_eq!(line, "serving\n");
    let out = run(Command::new(&client).env("RUMP_SERVER", &url));
    drop(server.stdin.take());
    line.clear();
    said.read_line(&mut line).unwrap();
    assert!(server.wait().unwrap().success());
    assert_eq!(stdout(&out), "client ok\nexec ok\n");
    assert_eq!(line, "the client's file is here\n");
}
