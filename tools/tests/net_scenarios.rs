//! The network scenario scripts of `scripts/net/`, one test each: every
//! script boots its own rump kernels, drives them with unmodified Linux
//! tools through the hijack library (see `scripts/net_common.sh`) and
//! prints one `ok N - ...` line per assertion. A test passes when its
//! script exits 0. Exit 77 is a skip: it passes only if the script said
//! why (a `SKIP: reason` line, printed with the rest of the output);
//! anything else fails with the script's output shown.
//!
//! The scripts run one at a time (they sleep on real timers and some
//! start dozens of kernels; the machine may have two cores), against the
//! binaries of this build: `cargo test` does not build the hijack library
//! or the other package's artefacts, so the first test builds them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every scenario, as `scripts/net/NAME.sh`.
const SCENARIOS: &[&str] = &[
    "ping_bus",
    "router_forwarding",
    "arp_expiry",
    "arp_static",
    "route_cmds",
    "mtu_frag",
    "tcp_router",
    "ipv6_router",
    "chain32",
    "loss_tcp",
    "iperf_udp",
    "iperf_tcp",
    "iproute2_linux",
    "tcpdump_node",
    "ip_lines",
    "tap_netns",
    "vxlan_two_hosts",
    "vxlan_linux",
    "vxlan_topology",
    "hosts_topology",
    "static_net",
];

/// How long one script may run before it is stopped.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// The build directory (target/<profile>) holding rump_server, rumpctl
/// and librumphijack.so; this test binary is in its `deps`.
fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

/// Builds the hijack library and the tools into `build_dir()`, once per
/// test binary (quick when nothing changed).
fn ensure_built() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-q", "-p", "rump-hijack", "-p", "rump-tools"]);
        if build_dir().ends_with("release") {
            cmd.arg("--release");
        }
        let st = cmd.current_dir(env!("CARGO_MANIFEST_DIR")).status().expect("run cargo");
        assert!(st.success(), "building librumphijack.so, rump_server and rumpctl failed");
    });
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/net")
}

/// One script at a time, across this binary's test threads.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `bash scripts/net/NAME.sh` with its stdout and stderr merged;
/// its status and output. A script still running after SCRIPT_TIMEOUT
/// gets SIGTERM (its EXIT trap halts its kernels), then SIGKILL.
fn run_script(name: &str) -> (ExitStatus, String, Duration) {
    let script = scripts_dir().join(format!("{name}.sh"));
    assert!(script.is_file(), "{} is missing", script.display());
    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg("-c")
        .arg("exec bash \"$0\" 2>&1")
        .arg(&script)
        .env("RUMP_BIN", build_dir())
        .env_remove("LD_PRELOAD")
        .env_remove("RUMP_SERVER")
        .env_remove("RUMPHIJACK")
        .env_remove("KEEP")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run bash");
    let mut out = child.stdout.take().expect("stdout pipe");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let mut signalled = None;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for the script") {
            break st;
        }
        let waited = started.elapsed();
        match signalled {
            None if waited > SCRIPT_TIMEOUT => {
                // SAFETY: kill(2) on our own child's pid.
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                signalled = Some(Instant::now());
            }
            Some(at) if at.elapsed() > Duration::from_secs(30) => {
                let _ = child.kill();
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut text = reader.join().unwrap_or_default();
    if signalled.is_some() {
        text.push_str(&format!("(stopped after {} s)\n", SCRIPT_TIMEOUT.as_secs()));
    }
    (status, text, started.elapsed())
}

/// Strict mode (`RUMP_STRICT_TESTS=1`, scripts/test.sh's default): a
/// scenario may skip only because the host lacks something (`SKIP: host
/// lacks ...`: a program, root, /dev/net/tun), never because of our own code.
fn strict() -> bool {
    std::env::var("RUMP_STRICT_TESTS").is_ok_and(|v| v == "1")
}

/// The reason a skipping script gave: the rest of its `SKIP: ` line.
fn skip_reason(output: &str) -> Option<&str> {
    output.lines().find_map(|l| l.strip_prefix("SKIP: ")).map(str::trim).filter(|r| !r.is_empty())
}

fn scenario(name: &str) {
    ensure_built();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (status, output, took) = run_script(name);
    println!("$ bash scripts/net/{name}.sh   ({:.1} s, {status})\n{output}", took.as_secs_f64());
    match status.code() {
        Some(0) => {
            assert!(!output.contains("\nnot ok "), "{name}.sh exited 0 after a failed assertion");
            assert!(output.lines().any(|l| l.starts_with("ok ")), "{name}.sh asserted nothing");
        }
        Some(77) => match skip_reason(&output) {
            Some(why) if !strict() || why.starts_with("host lacks ") => println!("{name}.sh skipped: {why}"),
            Some(why) => panic!("{name}.sh skipped for a reason that is not a missing host fact: {why}"),
            None => panic!("{name}.sh skipped (exit 77) without a `SKIP: reason` line"),
        },
        _ => {
            let failed = output.lines().find(|l| l.starts_with("not ok ")).unwrap_or("(no failed assertion printed)");
            panic!("{name}.sh failed ({status}): {failed}");
        }
    }
}

#[test]
fn every_script_has_a_test() {
    let mut found: Vec<String> = std::fs::read_dir(scripts_dir())
        .expect("scripts/net")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(".sh").map(str::to_string))
        .collect();
    found.sort();
    let mut listed: Vec<String> = SCENARIOS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed, "scripts/net/*.sh and SCENARIOS differ");
}

#[test]
fn ping_bus() {
    scenario("ping_bus");
}

#[test]
fn router_forwarding() {
    scenario("router_forwarding");
}

#[test]
fn arp_expiry() {
    scenario("arp_expiry");
}

#[test]
fn arp_static() {
    scenario("arp_static");
}

#[test]
fn route_cmds() {
    scenario("route_cmds");
}

#[test]
fn mtu_frag() {
    scenario("mtu_frag");
}

#[test]
fn tcp_router() {
    scenario("tcp_router");
}

#[test]
fn ipv6_router() {
    scenario("ipv6_router");
}

#[test]
fn chain32() {
    scenario("chain32");
}

#[test]
fn loss_tcp() {
    scenario("loss_tcp");
}

#[test]
fn iperf_udp() {
    scenario("iperf_udp");
}

#[test]
fn iperf_tcp() {
    scenario("iperf_tcp");
}

#[test]
fn iproute2_linux() {
    scenario("iproute2_linux");
}

#[test]
fn tcpdump_node() {
    scenario("tcpdump_node");
}

#[test]
fn ip_lines() {
    scenario("ip_lines");
}

#[test]
fn tap_netns() {
    scenario("tap_netns");
}

#[test]
fn vxlan_two_hosts() {
    scenario("vxlan_two_hosts");
}

#[test]
fn vxlan_linux() {
    scenario("vxlan_linux");
}

#[test]
fn vxlan_topology() {
    scenario("vxlan_topology");
}

#[test]
fn hosts_topology() {
    scenario("hosts_topology");
}

#[test]
fn static_net() {
    scenario("static_net");
}
