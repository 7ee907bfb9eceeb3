//! `rumpctl net`: a network of rump kernels described in a topology file,
//! started, driven, inspected and stopped as one.
//!
//! - `topology`: the file format (TOML, with node ranges);
//! - `state`: the directory a running network lives in, and how commands
//!   find it; `registry`: the networks a user has up, for `net ls`;
//! - `lifecycle`: `up` (a server per node, configured in parallel) and
//!   `down`; `configure`: one node's interfaces, routes, sysctls, ARP;
//! - `status`: the tables; `capture`: pcap of a bus, live or at teardown.

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
        NetCommand::Up { file } => lifecycle::up(&Dir::for_up(flag), file),
        NetCommand::Check { file } => {
            let topo = lifecycle::load(file)?;
            println!("{}: {} nodes, {} buses", file.display(), topo.nodes.len(), topo.buses.len());
            Ok(())
        }
        NetCommand::Down { capture } => lifecycle::down(&Dir::find(flag), capture.as_deref()),
        NetCommand::Status { json } => status::status(&Dir::find(flag).read()?, *json),
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

/// Replaces rumpctl with CMD, hijacked against NODE's kernel.
fn exec(dir: &Dir, node: &str, command: &[OsString]) -> Result<(), String> {
    let [cmd, cmd_args @ ..] = command else { return Err("net exec: expected CMD".into()) };
    let url = dir.read()?.node(node)?.url.clone();
    let lib = crate::run::library()?;
    let err = std::process::Command::new(cmd)
        .args(cmd_args)
        .env("LD_PRELOAD", crate::run::preload(&lib, std::env::var_os("LD_PRELOAD")))
        .env("RUMP_SERVER", url)
        .exec();
    Err(format!("{}: {err}", cmd.to_string_lossy()))
}
