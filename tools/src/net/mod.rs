//! `rumpctl net`: a network of rump kernels described in a topology file,
//! started, driven, inspected and stopped as one.
//!
//! - `topology`: the file format (TOML, with node ranges);
//! - `state`: the directory a running network lives in, and how commands
//!   find it; `registry`: the networks a user has up, for `net ls`;
//! - `lifecycle`: `up` (servers of up to `PER_SERVER` neighbouring nodes,
//!   configured in parallel) and
//!   `down`; `configure`: one node's interfaces, routes, sysctls, ARP;
//! - `status`: the tables; `capture`: pcap of a bus, live or at teardown;
//! - `hosts`: files whose nodes are on several machines (`[host.NAME]`).

pub mod capture;
pub mod configure;
pub mod hosts;
pub mod lifecycle;
pub mod registry;
pub mod state;
pub mod status;
pub mod topology;

use crate::cli::rumpctl::{NetArgs, NetCommand};
use state::Dir;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;

pub fn main(args: &NetArgs) -> Result<(), String> {
    let flag = args.dir.as_deref();
    match &args.command {
        NetCommand::Up { file, host, nodes_per_server } => {
            lifecycle::up(&Dir::for_up(flag), file, host.as_deref(), *nodes_per_server)
        }
        NetCommand::Check { file } => {
            let topo = lifecycle::load(file)?;
            println!("{}: {} nodes, {} buses", file.display(), topo.nodes.len(), topo.buses.len());
            Ok(())
        }
        NetCommand::Down { capture } => lifecycle::down(&Dir::find(flag), capture.as_deref()),
        NetCommand::Status { json } => {
            let dir = Dir::find(flag);
            match hosts::running(&dir.root) {
                Some(topo) => on_each_host(&dir, &topo, &["status"], *json),
                None => status::status(&dir.read()?, *json),
            }
        }
        NetCommand::Exec { node, command } => exec(&Dir::find(flag), node, command),
        NetCommand::Url { node } => {
            println!("{}", Dir::find(flag).read()?.node(node)?.url);
            Ok(())
        }
        NetCommand::Bus { bus } => {
            println!("{}", Dir::find(flag).read()?.bus(bus)?.display());
            Ok(())
        }
        NetCommand::Capture { bus, out, from_start, count, time } => {
            let st = Dir::find(flag).read()?;
            let how = capture::Follow { from_start: *from_start, count: *count, time: *time };
            let n = capture::follow(st.bus(bus)?, out, &how)?;
            eprintln!("net capture: {n} frames from {bus} to {}", out.display());
            Ok(())
        }
        NetCommand::Ls => registry::list(),
    }
}

/// `rumpctl net ARGS... -d SHARE` on each host, output under a header per
/// host; a host that fails is reported and the others still run.
fn on_each_host(dir: &Dir, topo: &topology::Topology, args: &[&str], json: bool) -> Result<(), String> {
    let mut failed = Vec::new();
    for h in &topo.hosts {
        let sd = hosts::share_dir(&dir.root, &h.name);
        let mut all = vec!["net", "-d", &sd];
        all.extend(args);
        if json {
            all.push("--json");
        }
        match hosts::rumpctl_on(h, &all, b"") {
            Ok(o) if o.status.success() => print!("== host {} ==\n{}", h.name, String::from_utf8_lossy(&o.stdout)),
            Ok(o) => failed.push(format!("host {}: {}", h.name, hosts::said(&o))),
            Err(e) => failed.push(e),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}

/// Replaces rumpctl with CMD, hijacked against NODE's kernel (on NODE's
/// host, through its `run` command, for a network across hosts); a
/// static CMD under the node's seccomp supervisor instead (`supervise`).
fn exec(dir: &Dir, node: &str, command: &[OsString]) -> Result<(), String> {
    let [cmd, cmd_args @ ..] = command else { return Err("net exec: expected CMD".into()) };
    if let Some(topo) = hosts::running(&dir.root) {
        let host = hosts::host_of(&topo, node).ok_or(format!("{node}: no such node"))?;
        let sd = hosts::share_dir(&dir.root, &host.name);
        let words: Vec<String> = command.iter().map(|w| w.to_string_lossy().into_owned()).collect();
        let mut args = vec!["net", "exec", "-d", &sd, node, "--"];
        args.extend(words.iter().map(String::as_str));
        let err = hosts::rumpctl_command(host, &args)?.exec();
        return Err(format!("sh: {err}"));
    }
    let url = dir.read()?.node(node)?.url.clone();
    let lib = crate::run::library()?;
    let mut c = std::process::Command::new(cmd);
    c.args(cmd_args)
        .env("LD_PRELOAD", crate::run::preload(&lib, std::env::var_os("LD_PRELOAD")))
        .env("RUMP_SERVER", &url);
    // A static binary: served by the node's supervisor through its door.
    if crate::run::which(cmd).is_some_and(|p| crate::supervise::is_static(&p)) {
        let parsed = rumpclient::url::ServerUrl::parse(&url).map_err(|e| format!("{url}: {e}"))?;
        if let Some(setup) = crate::run::supervision(&parsed, &crate::run::prefix(None), cmd) {
            // SAFETY: exec follows; install makes only raw calls.
            unsafe { c.pre_exec(move || setup.install()) };
        }
    }
    let err = c.exec();
    Err(format!("{}: {err}", cmd.to_string_lossy()))
}
