//! rumpctl: controls a rump kernel served by rump_server, and runs
//! programs against one. The command line is `rump_tools::cli::rumpctl`;
//! each subcommand's work is in its module (`run`, `sysctl`, `ifconfig`,
//! `dumpbus`, `net`).
//!
//! Exit status: 0, or 1 when the work failed, or 2 for a bad command line;
//! `run` exits with CMD's status (125 when rumpctl itself fails).

use rump_abi::native::sys::rump_sys_reboot;
use rump_tools::bridge::{self, Far};
use rump_tools::cli::rumpctl::{BridgeArgs, BusCommand, Command, IfconfigArgs, Rumpctl, SysctlArgs};
use rump_tools::cli::{self, docs};
use rump_tools::{dumpbus, ifconfig, net, run, server_url, strerror, sysctl};
use rumpclient::client::Client;
use rumpclient::wire::handshake::Emulation;
use std::time::Duration;

fn connect(url: Option<&str>) -> Result<Client, String> {
    let url = server_url(url)?;
    Client::connect(&url, Emulation::Native, "rumpctl").map_err(|e| format!("{url}: {e}"))
}

fn halt(url: Option<&str>) -> Result<(), String> {
    let c = connect(url)?;
    rump_sys_reboot(&c, 0, std::ptr::null_mut()).map_err(|e| format!("reboot: {}", strerror(e)))?;
    if !c.wait_closed(Duration::from_secs(10)) {
        return Err("the kernel halted but the server did not exit".into());
    }
    Ok(())
}

fn sysctl_cmd(a: &SysctlArgs) -> Result<(), String> {
    let c = connect(a.server.server.as_deref())?;
    let mut failed = false;
    // What was read, in order, for --json.
    let mut read = serde_json::Map::new();
    let mut show = |name: &str, v: String| {
        if a.json {
            read.insert(name.to_string(), v.into());
        } else {
            println!("{name} = {v}");
        }
    };
    if a.all {
        let mut leaves = Vec::new();
        let root = sysctl::Found { mib: Vec::new(), ctltype: rump_abi::native::flags::CTLTYPE_NODE };
        sysctl::walk(&c, &root, "", &mut leaves).map_err(|e| format!("sysctl: {}", strerror(e)))?;
        for (name, f) in leaves {
            if let Ok(v) = sysctl::read(&c, &f) {
                show(&name, v);
            }
        }
    }
    for arg in &a.names {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) if a.write => (n, Some(v)),
            Some(_) => return Err(format!("{arg}: use -w to set a value")),
            None => (arg.as_str(), None),
        };
        let result = sysctl::resolve(&c, name).and_then(|f| match value {
            None => sysctl::read(&c, &f).map(|v| show(name, v)),
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
    if a.json {
        println!("{:#}", serde_json::Value::Object(read));
    }
    if failed {
        Err(String::new())
    } else {
        Ok(())
    }
}

fn ifconfig_cmd(a: &IfconfigArgs) -> Result<(), String> {
    let (name, ops) = ifconfig::parse(&a.words).map_err(|e| format!("ifconfig: {e}"))?;
    let c = connect(a.server.server.as_deref())?;
    ifconfig::apply(&c, &name, &ops).map_err(|e| format!("ifconfig: {e}"))
}

fn bridge_cmd(a: &BridgeArgs) -> Result<(), String> {
    let far = match (&a.tap, a.vni, a.local) {
        (Some(dev), _, _) => Far::Tap(dev.clone()),
        (None, Some(vni), Some(local)) => Far::Vxlan { vni, local, peers: a.peers.clone() },
        _ => return Err("bus bridge: give --tap DEV, or --vni N --local ADDR --peer ADDR".into()),
    };
    let (port, what) = bridge::open(&far)?;
    eprintln!("rumpctl: bridging {} to {what}", a.bus.display());
    bridge::run(&a.bus, port)
}

fn main() {
    let args: Rumpctl = cli::parse_or_exit(cli::EXIT_USAGE);
    rump_tools::log::init("rumpctl", None);
    // A report piped into `head` ends quietly when its reader goes, as
    // coreutils' do, instead of panicking on EPIPE; not a command that
    // runs a kernel or a bridge, for which EPIPE is an error to handle.
    if !matches!(args.command, Command::Run(_) | Command::Bus(_)) {
        // SAFETY: restoring a signal's default disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let result = match &args.command {
        Command::Run(r) => std::process::exit(run::main(r)),
        Command::Halt(h) => halt(h.server.server.as_deref()),
        Command::Sysctl(s) => sysctl_cmd(s),
        Command::Ifconfig(i) => ifconfig_cmd(i),
        Command::Dumpbus(d) => dumpbus::main(d),
        Command::Bus(BusCommand::Bridge(b)) => bridge_cmd(b),
        Command::Net(n) => net::main(n),
        Command::Completions(c) => {
            docs::completions(c.shell, &c.program, &mut std::io::stdout());
            Ok(())
        }
        Command::Man(m) => docs::man_pages(&m.dir)
            .map(|files| println!("{}: {}", m.dir.display(), files.join(" ")))
            .map_err(|e| format!("{}: {e}", m.dir.display())),
    };
    if let Err(e) = result {
        if !e.is_empty() {
            eprintln!("rumpctl: {e}");
        }
        std::process::exit(1);
    }
}
