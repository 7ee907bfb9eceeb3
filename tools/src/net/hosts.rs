//! Topologies across machines: a file with `[host.NAME]` tables places
//! each node on a host. `rumpctl net up` brings up this machine's share
//! itself and every other host's by running `RUN BIN/rumpctl net up --host
//! NAME -d DIR -` there (RUN is the host's `run` command, `ssh user@b` or,
//! in tests, `ip netns exec b`), with the file on its standard input. A bus
//! whose nodes are on several hosts is joined across them over VXLAN: each
//! host's share bridges it (`rumpctl bus bridge`) with the others' `addr`
//! as peers, VNI the bus's position in the file plus one, UDP port 4789
//! plus that position (one bridge socket per bus). `down`, `exec` and
//! `status` reach the other hosts the same way.

use super::topology::{Host, Topology};
use crate::bridge::Far;
use crate::vxlan;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The share of host `name`: its nodes, the buses they use, and a VXLAN
/// bridge for each of those buses that other hosts' nodes use too.
pub fn share(topo: &Topology, name: &str) -> Result<Topology, String> {
    let host_of = |n: &super::topology::Node| n.host.clone().unwrap_or_default();
    let me = topo.hosts.iter().find(|h| h.name == name).ok_or(format!("no [host.{name}] in the file"))?;
    let nodes: Vec<_> = topo.nodes.iter().filter(|n| host_of(n) == name).cloned().collect();
    let mut buses = Vec::new();
    for (at, bus) in topo.buses.iter().enumerate() {
        let on = |n: &&super::topology::Node| n.ifaces.iter().any(|i| i.bus == bus.name);
        if !nodes.iter().any(|n| on(&n)) {
            continue;
        }
        let mut others: Vec<&Host> = Vec::new();
        for n in topo.nodes.iter().filter(on) {
            let h = topo.hosts.iter().find(|h| Some(&h.name) == n.host.as_ref());
            if let Some(h) = h.filter(|h| h.name != name && !others.iter().any(|o| o.name == h.name)) {
                others.push(h);
            }
        }
        let mut bus = bus.clone();
        if !others.is_empty() && bus.bridge.is_none() {
            let port = vxlan::DEFAULT_PORT + at as u16;
            bus.bridge = Some(Far::Vxlan {
                vni: at as u32 + 1,
                local: SocketAddr::new(me.addr, port),
                peers: others.iter().map(|h| SocketAddr::new(h.addr, port)).collect(),
            });
        }
        buses.push(bus);
    }
    Ok(Topology { nodes, buses, hosts: Vec::new() })
}

/// The host a node runs on, if the file names one.
pub fn host_of<'a>(topo: &'a Topology, node: &str) -> Option<&'a Host> {
    let n = topo.node(node)?;
    topo.hosts.iter().find(|h| Some(&h.name) == n.host.as_ref())
}

/// `sh -c "RUN BIN/rumpctl ARGS..."` for `host` (this rumpctl where the
/// host has no `bin`).
pub fn rumpctl_command(host: &Host, args: &[&str]) -> Result<Command, String> {
    let run = host.run.as_deref().unwrap_or("");
    let rumpctl = match &host.bin {
        Some(bin) => format!("{bin}/rumpctl"),
        None => std::env::current_exe().map_err(|e| e.to_string())?.display().to_string(),
    };
    let quoted: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("{run} {} {}", shell_quote(&rumpctl), quoted.join(" "))]).env_remove("LD_PRELOAD");
    Ok(cmd)
}

/// `rumpctl_command` with `input` on its standard input; its output.
pub fn rumpctl_on(host: &Host, args: &[&str], input: &[u8]) -> Result<Output, String> {
    let mut child = rumpctl_command(host, args)?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("host {}: sh: {e}", host.name))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    child.wait_with_output().map_err(|e| format!("host {}: {e}", host.name))
}

/// Single-quotes a word for sh.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The file a multi-host network keeps its topology in, in its directory.
pub fn topology_file(dir: &Path) -> std::path::PathBuf {
    dir.join("topology.toml")
}

/// `net up` of a file with hosts: each host's share on that host, in
/// parallel; if one fails, every host is brought down again and each
/// failure is reported.
pub fn up(dir: &Path, text: &str, topo: &Topology, per_server: usize) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = topology_file(dir);
    if file.exists() {
        return Err(format!(
            "{}: a network is already up here (rumpctl net down -d {} first)",
            dir.display(),
            dir.display()
        ));
    }
    std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    let results: Vec<(String, Result<Output, String>)> = std::thread::scope(|s| {
        let jobs: Vec<_> = topo
            .hosts
            .iter()
            .map(|h| {
                let sd = share_dir(dir, &h.name);
                let per = per_server.to_string();
                let share = move || {
                    let args = ["net", "up", "--nodes-per-server", &per, "--host", &h.name, "-d", &sd, "-"];
                    rumpctl_on(h, &args, text.as_bytes())
                };
                (h.name.clone(), s.spawn(share))
            })
            .collect();
        jobs.into_iter().map(|(n, j)| (n, j.join().unwrap_or_else(|_| Err("panicked".into())))).collect()
    });
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(name, r)| match r {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(format!("host {name}: {}", said(o))),
            Err(e) => Some(format!("host {name}: {e}")),
        })
        .collect();
    if !failed.is_empty() {
        let _ = down(dir, topo);
        return Err(failed.join("\n"));
    }
    println!(
        "net up: {} nodes on {} hosts ({}; rumpctl net exec NODE -- CMD)",
        topo.nodes.len(),
        topo.hosts.len(),
        dir.display()
    );
    Ok(())
}

/// `net down` on every host; a host that fails is reported and the others
/// still go down.
pub fn down(dir: &Path, topo: &Topology) -> Result<(), String> {
    let mut failed = Vec::new();
    for h in &topo.hosts {
        let sd = share_dir(dir, &h.name);
        if !Path::new(&sd).exists() && h.run.is_none() {
            continue;
        }
        match rumpctl_on(h, &["net", "down", "-d", &sd], b"") {
            Ok(o) if o.status.success() => print!("host {}: {}", h.name, String::from_utf8_lossy(&o.stdout)),
            Ok(o) => failed.push(format!("host {}: {}", h.name, said(&o))),
            Err(e) => failed.push(e),
        }
    }
    let _ = std::fs::remove_file(topology_file(dir));
    let _ = std::fs::remove_dir(dir.join("hosts"));
    let _ = std::fs::remove_dir(dir);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}

/// The topology of the multi-host network at `dir`, if that is one.
pub fn running(dir: &Path) -> Option<Topology> {
    let text = std::fs::read_to_string(topology_file(dir)).ok()?;
    super::topology::parse(&text).ok()
}

/// Where host `name`'s share of the network at `dir` lives (on that host).
pub fn share_dir(dir: &Path, name: &str) -> String {
    dir.join("hosts").join(name).display().to_string()
}

/// What a remote rumpctl printed, for an error.
pub fn said(o: &Output) -> String {
    let mut s = String::from_utf8_lossy(&o.stderr).trim().to_string();
    if s.is_empty() {
        s = String::from_utf8_lossy(&o.stdout).trim().to_string();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::topology::parse;

    #[test]
    fn shares_bridge_the_buses_that_span_hosts() {
        let t = parse(
            "[host.h1]\naddr = '10.99.0.1'\n[host.h2]\nrun = 'ssh b'\naddr = '10.99.0.2'\n\
             [node.a]\nhost = 'h1'\nifaces = ['shmif0 solo', 'shmif1 lan']\n\
             [node.r]\nhost = 'h2'\nifaces = ['shmif0 lan']\n",
        )
        .unwrap();
        let h1 = share(&t, "h1").unwrap();
        assert_eq!(h1.nodes.len(), 1);
        assert_eq!(h1.buses.len(), 2);
        assert_eq!(h1.buses[0].bridge, None, "solo is on h1 only");
        let vx = Far::Vxlan {
            vni: 2,
            local: "10.99.0.1:4790".parse().unwrap(),
            peers: vec!["10.99.0.2:4790".parse().unwrap()],
        };
        assert_eq!(h1.buses[1].bridge, Some(vx));
        let h2 = share(&t, "h2").unwrap();
        assert_eq!((h2.nodes[0].name.as_str(), h2.buses.len()), ("r", 1));
        assert!(matches!(&h2.buses[0].bridge, Some(Far::Vxlan { vni: 2, .. })));
        assert_eq!(host_of(&t, "r").unwrap().run.as_deref(), Some("ssh b"));
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
