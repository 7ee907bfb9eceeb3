//! `rumpctl net up` and `rumpctl net down`: rump_servers running up to
//! `PER_SERVER` nodes each (neighbours in the file, so that a frame
//! crosses most hops on one bus thread without a wake-up), started all at
//! once and configured in parallel; stopped with SIGTERM
//! (a halt), then SIGKILL for any that hang, so nothing is left running
//! — a server that crashed meanwhile only leaves its socket, which goes too.

use super::configure::{configure, netem_words};
use super::hosts;
use super::state::{Dir, NodeEntry, State};
use super::topology::{self, Topology};
use crate::bridge::Far;
use crate::status_line::StatusLine;
use rumpclient::client::Client;
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;
use std::ops::Range;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a server may take to accept its first connection.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long servers get to halt before SIGKILL.
const HALT_TIMEOUT: Duration = Duration::from_secs(5);
/// Nodes configured at once.
const WORKERS: usize = 16;
/// Interfaces one server's nodes may have in all: the bus words its bus
/// thread sleeps on in one futex_waitv (128), less the thread's own.
const BUS_WORDS: usize = 127;
/// Nodes one server runs unless `net up --nodes-per-server` says.
pub const PER_SERVER: usize = 32;
/// sun_path's size, less its NUL.
const SUN_PATH_MAX: usize = 107;

/// The text of a topology file (`-`: standard input).
pub fn read_text(file: &Path) -> Result<String, String> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| format!("stdin: {e}"))?;
        return Ok(text);
    }
    std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))
}

/// Reads and checks a topology file; errors name the file and line.
pub fn load(file: &Path) -> Result<Topology, String> {
    parse_text(&read_text(file)?, file)
}

/// Checks a topology file's text; errors name the file and line.
fn parse_text(text: &str, file: &Path) -> Result<Topology, String> {
    let file = file.display();
    let topo = topology::parse(text).map_err(|e| format!("{file}:{e}"))?;
    // netem words are checked here, before anything starts.
    for i in topo.nodes.iter().flat_map(|n| &n.ifaces) {
        if let Some((words, line)) = netem_words(i, topo.bus(&i.bus)) {
            crate::netem::parse(words).map_err(|e| format!("{file}:{line}: {e}"))?;
        }
    }
    Ok(topo)
}

/// The rump_server beside the running rumpctl.
fn server_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("where is rumpctl? {e}"))?;
    let s = exe.with_file_name("rump_server");
    s.is_file().then_some(s.clone()).ok_or(format!("{} is missing (cargo build --workspace)", s.display()))
}

/// `net up FILE`; with `host`, only that host's share of a file with
/// hosts; without, a file with hosts is brought up on each.
pub fn up(dir: &Dir, file: &Path, host: Option<&str>, per_server: usize) -> Result<(), String> {
    let started = Instant::now();
    let text = read_text(file)?;
    let mut topo = parse_text(&text, file)?;
    match host {
        Some(h) => topo = hosts::share(&topo, h)?,
        None if !topo.hosts.is_empty() => return hosts::up(&dir.root, &text, &topo, per_server),
        None => {}
    }
    let server = server_binary()?;
    let mut state = dir.create()?;
    let w = |r: std::io::Result<()>| r.map_err(|e| format!("{}: {e}", dir.state_file().display()));
    for b in &topo.buses {
        w(state.bus(&b.name, &dir.bus(&b.name)))?;
    }
    let mut children = Vec::new();
    let mut line = StatusLine::stderr();
    let groups = server_groups(&topo, per_server);
    let result = (|| {
        for b in &topo.buses {
            if let Some(far) = &b.bridge {
                let pid = start_bridge(dir, &b.name, far)?;
                w(state.bridge(&b.name, pid))?;
            }
        }
        for (started, group) in groups.iter().enumerate() {
            line.update(|| format!("net up: starting servers {started}/{}", groups.len()));
            let nodes = &topo.nodes[group.clone()];
            let mut urls = Vec::new();
            for n in nodes {
                let sock = dir.socket(&n.name);
                if sock.as_os_str().len() > SUN_PATH_MAX {
                    return Err(format!("{}: too long for a unix socket; use a shorter -d", sock.display()));
                }
                urls.push(format!("unix://{}", sock.display()));
            }
            let child = spawn(&server, &urls, &dir.log(&nodes[0].name))?;
            // Each node's log is its server's, named after its first node.
            for n in &nodes[1..] {
                let log = dir.log(&n.name);
                std::os::unix::fs::symlink(&nodes[0].name, &log).map_err(|e| format!("{}: {e}", log.display()))?;
            }
            for (n, url) in nodes.iter().zip(&urls) {
                w(state.node(&n.name, child.id(), url))?;
                for i in &n.ifaces {
                    w(state.iface(&n.name, &i.name, &i.bus))?;
                }
            }
            children.push(Mutex::new(child));
        }
        configure_all(dir, &topo, &groups, &children, &mut line)
    })();
    line.finish();
    if let Err(e) = result {
        let _ = down(dir, None);
        return Err(e);
    }
    let ms = started.elapsed().as_secs_f64() * 1e3;
    println!(
        "net up: {} nodes, {} buses in {ms:.0} ms ({}; rumpctl net exec NODE -- CMD)",
        topo.nodes.len(),
        topo.buses.len(),
        dir.root.display()
    );
    Ok(())
}

/// A foreground server in a session of its own, so that a terminal's ^C
/// for the command that ran `net up` does not reach it.
fn spawn(server: &Path, urls: &[String], log: &Path) -> Result<Child, String> {
    let mut cmd = Command::new(server);
    cmd.arg("-s").args(urls);
    detached(cmd, log)
}

/// The nodes each server runs, as ranges of the topology's nodes: up to
/// `per_server` neighbours in the file's order (a chain's next hops, a
/// LAN's hosts), and no more interfaces than one bus thread sleeps on
/// at once (`BUS_WORDS`), so that no thread has to poll.
fn server_groups(topo: &Topology, per_server: usize) -> Vec<Range<usize>> {
    let mut groups: Vec<Range<usize>> = Vec::new();
    let mut ifaces = 0;
    for (i, n) in topo.nodes.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if g.len() < per_server && ifaces + n.ifaces.len() <= BUS_WORDS => {
                g.end = i + 1;
                ifaces += n.ifaces.len();
            }
            _ => {
                groups.push(i..i + 1);
                ifaces = n.ifaces.len();
            }
        }
    }
    groups
}

/// Starts `rumpctl bus bridge` for `bus`, detached as the servers are;
/// its pid once it says it is bridging (or the reason it is not).
fn start_bridge(dir: &Dir, bus: &str, far: &Far) -> Result<u32, String> {
    let exe = std::env::current_exe().map_err(|e| format!("where is rumpctl? {e}"))?;
    let log = dir.log(&format!("bridge-{bus}"));
    let mut cmd = Command::new(exe);
    cmd.args(["bus", "bridge"]).arg(dir.bus(bus)).args(far.args());
    let mut child = detached(cmd, &log)?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        if said.lines().any(|l| l.starts_with("rumpctl: bridging")) {
            return Ok(child.id());
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!("bus {bus}: bridge exited ({st}): {}", said.trim()));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!("bus {bus}: the bridge did not start within {} s", START_TIMEOUT.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Spawns `cmd` in a session of its own, stderr to `log`.
fn detached(mut cmd: Command, log: &Path) -> Result<Child, String> {
    let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(file).env_remove("LD_PRELOAD");
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| format!("{}: {e}", cmd.get_program().to_string_lossy()))
}

/// Waits for each server to accept, then configures its node; WORKERS
/// nodes at a time, while `line` shows how many are done. The first error
/// wins.
fn configure_all(
    dir: &Dir,
    topo: &Topology,
    groups: &[Range<usize>],
    children: &[Mutex<Child>],
    line: &mut StatusLine,
) -> Result<(), String> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed: Mutex<Option<String>> = Mutex::new(None);
    let bus_of = |name: &str| (dir.bus(name), topo.bus(name).cloned());
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(topo.nodes.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(node) = topo.nodes.get(i) else { return };
                if failed.lock().map_or(true, |f| f.is_some()) {
                    return;
                }
                let url = ServerUrl::parse(&format!("unix://{}", dir.socket(&node.name).display()));
                let r = url
                    .map_err(|e| e.to_string())
                    .and_then(|url| {
                        let g = groups.iter().position(|g| g.contains(&i)).expect("every node has a server");
                        wait_ready(&url, &children[g], &dir.log(&node.name)).map(|()| url)
                    })
                    .and_then(|url| configure(node, &url, &bus_of));
                if let Err(e) = r {
                    failed.lock().map(|mut f| f.get_or_insert(format!("node {}: {e}", node.name)).clone()).ok();
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
        while done.load(Ordering::Relaxed) < topo.nodes.len() && failed.lock().is_ok_and(|f| f.is_none()) {
            line.update(|| format!("net up: configured {}/{} nodes", done.load(Ordering::Relaxed), topo.nodes.len()));
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    match failed.into_inner() {
        Ok(None) => Ok(()),
        Ok(Some(e)) => Err(e),
        Err(_) => Err("a configuring thread panicked".into()),
    }
}

/// Until the server accepts a connection; if it exits first, its log says why.
fn wait_ready(url: &ServerUrl, child: &Mutex<Child>, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if Client::connect(url, Emulation::Native, "rumpctl-net").is_ok() {
            return Ok(());
        }
        if let Ok(Some(st)) = child.lock().map_err(drop).and_then(|mut c| c.try_wait().map_err(drop)) {
            let why = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("rump_server exited ({st}): {}", why.trim()));
        }
        if Instant::now() > deadline {
            return Err(format!("{url}: no answer after {} s", START_TIMEOUT.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Whether `pid` is still the server listening at `url` (not a process
/// that reused the number, not a zombie).
pub fn is_our_server(pid: i32, url: &str) -> bool {
    if !is_running(pid) {
        return false;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    cmdline.split(|b| *b == 0).any(|arg| arg == url.as_bytes())
}

/// Whether node `n` is served: its server runs and its socket is there
/// (a node halted by a reboot call loses its socket while its server may
/// go on serving other nodes).
pub fn is_served(n: &NodeEntry) -> bool {
    is_our_server(n.pid, &n.url) && !lost_socket(n)
}

/// Whether node `n`'s unix socket is gone (its kernel halted).
pub fn lost_socket(n: &NodeEntry) -> bool {
    n.url.strip_prefix("unix://").is_some_and(|p| !Path::new(p).exists())
}

/// Whether `pid` is a process still running (not a zombie). A process
/// on its way out has an empty command line before it is a zombie, so
/// this, not `is_our_server`, says when a signalled server is gone.
fn is_running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Stops every server (`capture`: first write each bus as CAPDIR/BUS.pcap)
/// and removes the directory's sockets, buses, logs and state.
pub fn down(dir: &Dir, capture: Option<&Path>) -> Result<(), String> {
    if let Some(topo) = hosts::running(&dir.root) {
        return hosts::down(&dir.root, &topo);
    }
    let st: State = dir.read()?;
    if let Some(cap) = capture {
        std::fs::create_dir_all(cap).map_err(|e| format!("{}: {e}", cap.display()))?;
        for (name, path) in &st.buses {
            if path.exists() {
                let out = cap.join(format!("{name}.pcap"));
                super::capture::snapshot(path, &out)?;
            }
        }
    }
    // A bridge is ours if its command line names its bus file.
    for (bus, pid) in &st.bridges {
        if is_our_server(*pid, &dir.bus(bus).to_string_lossy()) {
            // SAFETY: signalling a process we checked is our bridge; it
            // holds nothing that needs an orderly end.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
    }
    let running = st.nodes.iter().filter(|n| is_served(n)).count();
    // A server runs several nodes (some perhaps halted): each is signalled once.
    let ours = st.nodes.iter().filter(|n| is_our_server(n.pid, &n.url));
    let mut servers: Vec<_> = ours.map(|n| (n.pid, n.url.as_str())).collect();
    servers.sort_unstable();
    servers.dedup_by_key(|s| s.0);
    for (pid, _) in &servers {
        // SAFETY: signalling a process we checked is our server.
        unsafe { libc::kill(*pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + HALT_TIMEOUT;
    let mut killed = 0;
    while servers.iter().any(|s| is_running(s.0)) {
        if Instant::now() > deadline {
            for (pid, _) in servers.iter().filter(|(pid, url)| is_our_server(*pid, url)) {
                // SAFETY: as above; it ignored the halt.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
                killed += 1;
            }
            std::thread::sleep(Duration::from_millis(50));
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let gone = st.nodes.len() - running;
    dir.remove();
    let mut note = String::new();
    if gone > 0 {
        note += &format!(", {gone} had already stopped");
    }
    if killed > 0 {
        note += &format!(", {} killed after {} s", counted(killed, "server"), HALT_TIMEOUT.as_secs());
    }
    let stopped = counted(running, "node");
    println!("net down: {stopped} stopped ({}){note}", counted(servers.len(), "server"));
    Ok(())
}

/// "1 node", "2 nodes".
fn counted(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
