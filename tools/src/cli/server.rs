//! `rump_server`'s command line: NetBSD's flags (`-sv -c 2 -r 16m -d ...
//! -l comp URL`, grouped short flags, values attached or apart) plus ours,
//! `-m` and `-i`.

use crate::ifconfig;
use clap::Parser;
use rump_kernel::fs::etfs::{parse_size, Drivespec};
use rump_kernel::fs::hostfs::HostfsSpec;
use rumpclient::url::ServerUrl;

/// Components `-l` accepts (NetBSD's library names, `lib` and `.so`
/// optional). They name subsystems; the file system ones are always in.
pub const COMPONENTS: &[&str] = &[
    "rumpvfs",
    "rumpfs_tmpfs",
    "rumpdev",
    "rumpkern_sysproxy",
    "rumpnet",
    "rumpnet_net",
    "rumpnet_netinet",
    "rumpnet_netinet6",
    "rumpnet_local",
    "rumpnet_shmif",
    "rumpnet_tap",
];

const EXAMPLES: &str = "\
Examples:
  rump_server unix:///tmp/rump.sock            daemonize once the socket accepts
  rump_server -sv -c 2 -r 16m unix:///tmp/k    foreground, verbose, 2 CPUs, 16 MiB
  rump_server -d key=/img,hostpath=disk.img,size=host tcp://127.0.0.1:3755
  rump_server -m ./data:/data:ro -i 'shmif0 create linkstr /tmp/bus1' unix:///tmp/a

Environment:
  RUMP_LOG       log filter, e.g. debug or rumpclient=trace (to stderr)
  RUMP_LOG_FILE  append the log to this file instead";

/// Boots a rump kernel and serves it at URL. Without -s it daemonizes: the
/// parent exits 0 only once the socket accepts, or 1 with the reason.
/// SIGTERM and SIGINT halt the kernel, as a reboot call from a client does.
#[derive(Parser, Debug)]
#[command(
    name = "rump_server",
    version,
    after_help = EXAMPLES,
    // NetBSD's synopsis, which says more than clap's [OPTIONS].
    override_usage = "rump_server [-sv] [-c ncpu] [-r ram] [-d drivespec]... [-m HOSTDIR:PATH[:ro]]... [-l component]...\n       [-i 'IF create linkstr BUS']... URL"
)]
pub struct ServerArgs {
    /// Stay in the foreground (do not daemonize)
    #[arg(short = 's')]
    pub foreground: bool,
    /// Say what the server does (clients, requests) on stderr
    #[arg(short = 'v')]
    pub verbose: bool,
    /// Virtual CPUs: a count, or `host` for the host's [default: 2]
    #[arg(short = 'c', value_name = "NCPU", value_parser = ncpu)]
    pub ncpu: Option<u32>,
    /// The kernel's memory, e.g. 16m (tmpfs fills with ENOSPC, objects fail with ENOMEM)
    #[arg(short = 'r', value_name = "RAM", value_parser = ram)]
    pub ram: Option<u64>,
    /// A host file at a kernel path: key=/PATH,hostpath=FILE,size=N|host[,type=reg|blk|chr]
    #[arg(short = 'd', value_name = "DRIVESPEC", value_parser = super::drive)]
    pub drives: Vec<Drivespec>,
    /// A host directory at a kernel path (hostfs, confined; :ro read-only)
    #[arg(short = 'm', value_name = "HOSTDIR:PATH[:ro]", value_parser = super::mount)]
    pub mounts: Vec<HostfsSpec>,
    /// A component to load (NetBSD's library names, e.g. rumpnet_shmif)
    #[arg(short = 'l', value_name = "COMPONENT", value_parser = component)]
    pub components: Vec<String>,
    /// An interface made before serving: "IF create linkstr BUS"
    #[arg(short = 'i', value_name = "IFCONFIG", value_parser = iface)]
    pub ifaces: Vec<IfaceSpec>,
    /// Where to listen: unix://PATH or tcp://HOST:PORT
    #[arg(value_parser = super::url)]
    pub url: ServerUrl,
}

/// An `-i` argument: an interface and what to do to it.
#[derive(Clone, Debug)]
pub struct IfaceSpec {
    pub name: String,
    pub ops: Vec<ifconfig::Op>,
}

fn ncpu(value: &str) -> Result<u32, String> {
    match value {
        "host" => Ok(std::thread::available_parallelism().map_or(1, |n| n.get() as u32)),
        n => n.parse().ok().filter(|&n| n >= 1).ok_or_else(|| "expected a CPU count or host".into()),
    }
}

fn ram(value: &str) -> Result<u64, String> {
    parse_size(value).ok_or_else(|| "expected a size such as 16m".into())
}

fn component(value: &str) -> Result<String, String> {
    let name = value.strip_prefix("lib").unwrap_or(value);
    let name = name.strip_suffix(".so").unwrap_or(name);
    if !COMPONENTS.contains(&name) {
        return Err(format!("unknown component (known: {})", COMPONENTS.join(", ")));
    }
    Ok(name.to_string())
}

fn iface(value: &str) -> Result<IfaceSpec, String> {
    let words: Vec<String> = value.split_whitespace().map(String::from).collect();
    let (name, ops) = ifconfig::parse(&words)?;
    Ok(IfaceSpec { name, ops })
}
