//! rumpctl: controls a rump kernel served by rump_server, and runs
//! programs against one.
//!
//! `rumpctl run [-s URL] [--hijack SPEC] [-d drivespec]... [-m HOSTDIR:PATH[:ro]]... -- CMD [ARGS]...`
//! runs CMD with librumphijack.so preloaded, against a kernel rumpctl
//! hosts (or the server at `-s URL`), and exits with CMD's status; see
//! `rump_tools::run`.
//! `rumpctl halt [-s URL]` halts the kernel (reboot); the server removes
//! its socket and exits, and rumpctl returns once it has.
//! `rumpctl sysctl [-s URL] [-a] [-w] name[=value]...` reads and writes the
//! kernel's MIB, printing `name = value` as sysctl(8) does.
//! Without `-s`, halt and sysctl talk to the server in `RUMP_SERVER`.
//! `rumpctl dumpbus [-h] [-o FILE.pcap] BUS` shows a shmif bus file, or
//! writes its frames as pcap; see `rump_tools::dumpbus`.
//! `rumpctl ifconfig [-s URL] IF WORD...` creates, attaches, impairs; see
//! `rump_tools::ifconfig`.
//! `rumpctl net up|exec|status|down|capture|url|bus ...` runs a network of
//! kernels from a topology file; see `rump_tools::net`.

use rump_abi::native::sys::rump_sys_reboot;
use rump_tools::opts::getopt;
use rump_tools::{dumpbus, ifconfig, net, run, server_url, strerror, sysctl};
use rumpclient::client::Client;
use rumpclient::wire::handshake::Emulation;
use std::time::Duration;

const USAGE: &str =
    "usage: rumpctl run [-s URL] [--hijack SPEC] [-d drivespec]... [-m HOSTDIR:PATH[:ro]]... -- CMD [ARGS]...
       rumpctl halt [-s URL]
       rumpctl sysctl [-s URL] [-a] [-w] name[=value]...
       rumpctl ifconfig [-s URL] IF create|destroy|linkstr BUS|-linkstr|netem WORDS...|-netem
       rumpctl dumpbus [-h] [-o FILE.pcap] BUS
       rumpctl net up|exec|status|down|capture|url|bus ... (rumpctl net for more)";

fn connect(url: Option<&str>) -> Result<Client, String> {
    let url = server_url(url)?;
    Client::connect(&url, Emulation::Native, "rumpctl").map_err(|e| format!("{url}: {e}"))
}

fn halt(args: &[String]) -> Result<(), String> {
    let (opts, rest) = getopt(args, "s:")?;
    if !rest.is_empty() {
        return Err(USAGE.into());
    }
    let c = connect(opts.last().and_then(|o| o.value.as_deref()))?;
    rump_sys_reboot(&c, 0, std::ptr::null_mut()).map_err(|e| format!("reboot: {}", strerror(e)))?;
    if !c.wait_closed(Duration::from_secs(10)) {
        return Err("the kernel halted but the server did not exit".into());
    }
    Ok(())
}

fn sysctl_cmd(args: &[String]) -> Result<(), String> {
    let (opts, names) = getopt(args, "s:aw")?;
    let url = opts.iter().rev().find(|o| o.letter == 's').and_then(|o| o.value.as_deref());
    let all = opts.iter().any(|o| o.letter == 'a');
    let writing = opts.iter().any(|o| o.letter == 'w');
    if names.is_empty() && !all {
        return Err(USAGE.into());
    }
    let c = connect(url)?;
    let mut failed = false;
    if all {
        let mut leaves = Vec::new();
        let root = sysctl::Found { mib: Vec::new(), ctltype: rump_abi::native::flags::CTLTYPE_NODE };
        sysctl::walk(&c, &root, "", &mut leaves).map_err(|e| format!("sysctl: {}", strerror(e)))?;
        for (name, f) in leaves {
            if let Ok(v) = sysctl::read(&c, &f) {
                println!("{name} = {v}");
            }
        }
    }
    for arg in names {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) if writing => (n, Some(v)),
            Some(_) => return Err(format!("{arg}: use -w to set a value")),
            None => (arg.as_str(), None),
        };
        let result = sysctl::resolve(&c, name).and_then(|f| match value {
            None => sysctl::read(&c, &f).map(|v| println!("{name} = {v}")),
            Some(v) => {
                let old = sysctl::read(&c, &f)?;
                sysctl::write(&c, &f, v)?;
                println!("{name}: {old} -> {}", sysctl::read(&c, &f)?);
                Ok(())
            }
        });
        if let Err(e) = result {
            eprintln!("rumpctl: sysctl {name}: {}", strerror(e));
            failed = true;
        }
    }
    if failed {
        Err(String::new())
    } else {
        Ok(())
    }
}

fn ifconfig_cmd(args: &[String]) -> Result<(), String> {
    let (opts, words) = getopt(args, "s:")?;
    let (name, ops) = ifconfig::parse(&words).map_err(|e| format!("ifconfig: {e}"))?;
    let c = connect(opts.last().and_then(|o| o.value.as_deref()))?;
    ifconfig::apply(&c, &name, &ops).map_err(|e| format!("ifconfig: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => std::process::exit(run::main(&args[1..])),
        Some("halt") => halt(&args[1..]),
        Some("sysctl") => sysctl_cmd(&args[1..]),
        Some("ifconfig") => ifconfig_cmd(&args[1..]),
        Some("dumpbus") => dumpbus::main(&args[1..], USAGE),
        Some("net") => net::main(&args[1..]),
        _ => Err(USAGE.into()),
    };
    if let Err(e) = result {
        if !e.is_empty() {
            eprintln!("rumpctl: {e}");
        }
        std::process::exit(1);
    }
}
