//! `rumpctl net`: a network of rump kernels described in a topology file,
//! started, driven, inspected and stopped as one.
//!
//! - `topology`: the file format (a TOML subset with node ranges);
//! - `state`: the directory a running network lives in;
//! - `lifecycle`: `up` (a server per node, configured in parallel) and
//!   `down`; `configure`: one node's interfaces, routes, sysctls, ARP;
//! - `status`: the tables; `capture`: pcap of a bus, live or at teardown.

pub mod capture;
pub mod configure;
pub mod lifecycle;
pub mod state;
pub mod status;
mod toml;
pub mod topology;

use crate::opts::getopt;
use state::Dir;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

pub const USAGE: &str = "usage: rumpctl net up [-d DIR] TOPOLOGY.toml
       rumpctl net exec [-d DIR] NODE -- CMD [ARGS]...
       rumpctl net status [-d DIR]
       rumpctl net down [-d DIR] [-c CAPDIR]
       rumpctl net capture [-d DIR] BUS -o FILE.pcap [-a] [-c COUNT] [-t SECONDS]
       rumpctl net url [-d DIR] NODE
       rumpctl net bus [-d DIR] BUS
  DIR: where the network lives (default $RUMPNET_DIR, else ./.rumpnet)";

pub fn main(args: &[String]) -> Result<(), String> {
    let Some((sub, rest)) = args.split_first() else { return Err(USAGE.into()) };
    match sub.as_str() {
        "up" => {
            let (dir, files) = with_dir(rest, "")?;
            let [file] = files.as_slice() else { return Err(USAGE.into()) };
            lifecycle::up(&dir, file)
        }
        "down" => {
            let (opts, operands) = getopt(rest, "d:c:")?;
            if !operands.is_empty() {
                return Err(USAGE.into());
            }
            let cap = opts.iter().rev().find(|o| o.letter == 'c').and_then(|o| o.value.as_deref());
            lifecycle::down(&dir_of(&opts), cap.map(Path::new))
        }
        "status" => {
            let (dir, operands) = with_dir(rest, "")?;
            if !operands.is_empty() {
                return Err(USAGE.into());
            }
            status::status(&dir.read()?)
        }
        "exec" => exec(rest),
        "url" | "bus" => {
            let (dir, operands) = with_dir(rest, "")?;
            let [name] = operands.as_slice() else { return Err(USAGE.into()) };
            let st = dir.read()?;
            if sub == "url" {
                println!("{}", st.node(name)?.url);
            } else {
                println!("{}", st.bus(name)?.display());
            }
            Ok(())
        }
        "capture" => capture(rest),
        _ => Err(USAGE.into()),
    }
}

fn dir_of(opts: &[crate::opts::Opt]) -> Dir {
    Dir::choose(opts.iter().rev().find(|o| o.letter == 'd').and_then(|o| o.value.as_deref()))
}

/// `-d DIR` plus the letters in `more`; the directory and the operands.
fn with_dir(args: &[String], more: &str) -> Result<(Dir, Vec<String>), String> {
    let (opts, operands) = getopt(args, &format!("d:{more}"))?;
    Ok((dir_of(&opts), operands))
}

/// Replaces rumpctl with CMD, hijacked against NODE's kernel.
fn exec(args: &[String]) -> Result<(), String> {
    let (dir, operands) = with_dir(args, "")?;
    let (node, command) = operands.split_first().ok_or(USAGE)?;
    let command = command.strip_prefix(&["--".to_string()]).unwrap_or(command);
    let [cmd, cmd_args @ ..] = command else { return Err(USAGE.into()) };
    let url = dir.read()?.node(node)?.url.clone();
    let lib = crate::run::library()?;
    let err = std::process::Command::new(cmd)
        .args(cmd_args)
        .env("LD_PRELOAD", crate::run::preload(&lib, std::env::var_os("LD_PRELOAD")))
        .env("RUMP_SERVER", url)
        .exec();
    Err(format!("{cmd}: {err}"))
}

fn capture(args: &[String]) -> Result<(), String> {
    let (opts, operands) = getopt(args, "d:o:ac:t:")?;
    let [bus] = operands.as_slice() else { return Err(USAGE.into()) };
    let value = |l: char| opts.iter().rev().find(|o| o.letter == l).and_then(|o| o.value.clone());
    let out = value('o').ok_or("net capture: -o FILE.pcap is required")?;
    let count = value('c').map(|c| c.parse().map_err(|_| format!("-c {c}: expected a frame count"))).transpose()?;
    let time = value('t')
        .map(|t| t.parse::<f64>().ok().filter(|s| *s > 0.0).ok_or(format!("-t {t}: expected seconds")))
        .transpose()?
        .map(Duration::from_secs_f64);
    let from_start = opts.iter().any(|o| o.letter == 'a');
    let st = dir_of(&opts).read()?;
    let how = capture::Follow { from_start, count, time };
    let n = capture::follow(st.bus(bus)?, Path::new(&out), &how)?;
    eprintln!("net capture: {n} frames from {bus} to {out}");
    Ok(())
}
