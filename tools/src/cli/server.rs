//! `rump_server`'s command line: NetBSD's flags (`-sv -c 2 -r 16m -d ...
//! -l comp URL`, grouped short flags, values attached or apart) plus ours,
//! `-m` and `-i`, and the access flags that make its `Policy` (`-U`,
//! `--key`, `--handshake-timeout`, `--max-clients`, `--max-pending`).

use crate::ifconfig;
use clap::Parser;
use rump_kernel::fs::etfs::{parse_size, Drivespec};
use rump_kernel::fs::hostfs::HostfsSpec;
use rumpclient::auth::Key;
use rumpclient::policy::Policy;
use rumpclient::url::ServerUrl;
use std::path::PathBuf;
use std::time::Duration;

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
  rump_server --key ./k --max-clients 300 tcp://0.0.0.0:3755
  rump_server unix:///tmp/n1 unix:///tmp/n2    two kernels, one process

Access (defaults): other uids are refused on unix:// sockets unless -U;
tcp:// clients must prove they hold the key (--key FILE, else
$XDG_RUNTIME_DIR/rump/rump_server-HOST-PORT.key, made on first use; clients
read RUMP_SERVER_KEY or that file); 256 clients, 64 connections waiting for
their handshake, 5 s to finish it.

Environment:
  RUMP_LOG       log filter, e.g. debug or rumpclient=trace (to stderr)
  RUMP_LOG_FILE  append the log to this file instead";

/// Boots a rump kernel and serves it at URL (one per URL, sharing the
/// thread that reads their buses). Without -s it daemonizes: the parent
/// exits 0 only once the sockets accept, or 1 with the reason. SIGTERM
/// and SIGINT halt the kernels; a reboot call from a client halts its own,
/// and the server exits when none is left.
#[derive(Parser, Debug)]
#[command(
    name = "rump_server",
    version,
    after_help = EXAMPLES,
    // NetBSD's synopsis, which says more than clap's [OPTIONS].
    override_usage = "rump_server [-svU] [-c ncpu] [-r ram] [-d drivespec]... [-m HOSTDIR:PATH[:ro]]... [-l component]...\n       [-i 'IF create linkstr BUS']... [--key FILE] [--handshake-timeout SECS] [--max-clients N]\n       [--max-pending N] URL..."
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
    /// Serve processes of other users on a unix:// socket (refused by default)
    #[arg(short = 'U')]
    pub allow_other_uid: bool,
    /// tcp://: the key file clients must prove they hold (made if missing)
    #[arg(long = "key", value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Seconds a connection has to finish its handshake [default: 5]
    #[arg(long = "handshake-timeout", value_name = "SECS", value_parser = seconds)]
    pub handshake_timeout: Option<Duration>,
    /// Clients served at once; more are refused [default: 256]
    #[arg(long = "max-clients", value_name = "N", value_parser = super::count)]
    pub max_clients: Option<usize>,
    /// Connections waiting for their handshake at once; more wait to be accepted [default: 64]
    #[arg(long = "max-pending", value_name = "N", value_parser = super::count)]
    pub max_pending: Option<usize>,
    /// Where to listen: unix://PATH or tcp://HOST:PORT; several: a kernel
    /// at each, all in this process (as `rumpctl net up` runs nodes)
    #[arg(value_parser = super::url, required = true, value_name = "URL")]
    pub urls: Vec<ServerUrl>,
}

impl ServerArgs {
    /// Who may connect and what they may hold: `Policy::default()` with
    /// the access flags applied. Reads (or makes) the `--key` file.
    pub fn policy(&self) -> Result<Policy, String> {
        let default = Policy::default();
        let key = match &self.key {
            Some(path) => Some(Key::read_or_create(path).map_err(|e| format!("--key {}: {e}", path.display()))?),
            None => None,
        };
        Ok(Policy {
            max_guests: self.max_clients.unwrap_or(default.max_guests),
            max_pending: self.max_pending.unwrap_or(default.max_pending),
            handshake_timeout: self.handshake_timeout.unwrap_or(default.handshake_timeout),
            allow_other_uid: self.allow_other_uid,
            key,
            ..default
        })
    }
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

fn seconds(value: &str) -> Result<Duration, String> {
    let secs = value.parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0);
    secs.map(Duration::from_secs_f64).ok_or_else(|| "expected seconds, e.g. 5 or 0.5".into())
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
