//! `rumpctl`'s command line: one subcommand per job, options before or
//! after operands, `--` or the first word of CMD ending them for `run` and
//! `net exec`. Without `-s`, the commands that talk to a server use
//! `RUMP_SERVER`.

use clap::{Args, Parser, Subcommand};
use rump_kernel::fs::etfs::Drivespec;
use rump_kernel::fs::hostfs::HostfsSpec;
use rumpclient::url::ServerUrl;
use std::ffi::OsString;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  rumpctl run -- sh -c 'echo hi > /rump/x; cat /rump/x'
  rumpctl run -m ./data:/data:ro -- cat /rump/data/notes.txt
  RUMP_SERVER=unix:///tmp/rump.sock rumpctl sysctl kern.hostname hw.ncpu
  rumpctl net up topology.toml && rumpctl net exec a -- ping -c 3 10.0.2.2

Environment:
  RUMP_SERVER    the server halt, sysctl and ifconfig talk to without -s
  RUMPNET_DIR    the network net commands use when no .rumpnet is found
  RUMP_LOG       log filter, e.g. debug or rump_tools::net=trace (to stderr)
  RUMP_LOG_FILE  append the log to this file instead";

/// Controls rump kernels: runs programs against one, talks to a
/// rump_server, reads shmif buses, and runs networks of kernels.
#[derive(Parser, Debug)]
#[command(name = "rumpctl", version, after_help = EXAMPLES, subcommand_required = true, arg_required_else_help = true)]
pub struct Rumpctl {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Run(RunArgs),
    Halt(HaltArgs),
    Sysctl(SysctlArgs),
    Ifconfig(IfconfigArgs),
    Dumpbus(DumpbusArgs),
    #[command(subcommand)]
    Bus(BusCommand),
    Net(NetArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
}

/// The server a command talks to.
#[derive(Args, Debug, Clone)]
pub struct ServerOpt {
    /// The server's URL [default: $RUMP_SERVER]
    #[arg(short = 's', value_name = "URL")]
    pub server: Option<String>,
}

/// Run CMD with librumphijack.so preloaded, against a kernel rumpctl
/// hosts (or the server at -s URL), and exit with CMD's status (125 when
/// rumpctl itself fails, 126/127 when CMD cannot run / is not found).
/// A static CMD (busybox-static, a Go program) runs under the kernel's
/// seccomp supervisor instead.
#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:\n  rumpctl run -- sh -c 'cp -r /etc/ssh /rump/ && du -sh /rump/ssh'\n  \
rumpctl run -m ./data:/data:ro -d key=/img,hostpath=disk.img,size=host -- cat /rump/data/notes.txt\n  \
rumpctl run -s unix:///tmp/rump.sock --hijack path=/kern -- ls /kern")]
pub struct RunArgs {
    /// Use the server at URL instead of a kernel of rumpctl's own
    #[arg(short = 's', value_name = "URL", value_parser = super::url, conflicts_with_all = ["drives", "mounts"])]
    pub server: Option<ServerUrl>,
    /// The RUMPHIJACK that CMD gets (NetBSD's keys: path=, blanket=, socket=, ...)
    #[arg(long, value_name = "SPEC")]
    pub hijack: Option<String>,
    /// A host file at a kernel path, as rump_server -d takes it
    #[arg(short = 'd', value_name = "DRIVESPEC", value_parser = super::drive)]
    pub drives: Vec<Drivespec>,
    /// A host directory at a kernel path (:ro read-only)
    #[arg(short = 'm', value_name = "HOSTDIR:PATH[:ro]", value_parser = super::mount)]
    pub mounts: Vec<HostfsSpec>,
    /// The program and its arguments
    #[arg(value_name = "CMD", required = true, trailing_var_arg = true)]
    pub command: Vec<OsString>,
}

/// Halt the kernel (a reboot call); the server removes its socket and
/// exits, and rumpctl returns once it has.
#[derive(Args, Debug)]
pub struct HaltArgs {
    #[command(flatten)]
    pub server: ServerOpt,
}

/// Read and write the kernel's MIB, printing `name = value` as sysctl(8).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  rumpctl sysctl kern.hostname hw.ncpu\n  rumpctl sysctl -w kern.hostname=box\n  rumpctl sysctl -a --json"
)]
pub struct SysctlArgs {
    #[command(flatten)]
    pub server: ServerOpt,
    /// Every leaf of the MIB
    #[arg(short = 'a')]
    pub all: bool,
    /// Set name=value
    #[arg(short = 'w')]
    pub write: bool,
    /// One JSON object {name: value} instead of lines
    #[arg(long)]
    pub json: bool,
    #[arg(value_name = "NAME[=VALUE]", required_unless_present = "all")]
    pub names: Vec<String>,
}

/// Interface operations Linux tools have no words for: IF create,
/// destroy, linkstr BUS (for tapN: a host tap device), -linkstr, netem
/// WORDS..., -netem.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  rumpctl ifconfig -s unix:///tmp/a shmif1 create linkstr /tmp/bus2\n  \
rumpctl ifconfig -s unix:///tmp/a tap0 create linkstr tap0\n  \
rumpctl ifconfig shmif0 netem loss 5% delay 10ms 2ms reorder 25% rate 10mbit seed 1\n  rumpctl ifconfig shmif0 -netem")]
pub struct IfconfigArgs {
    #[command(flatten)]
    pub server: ServerOpt,
    /// The interface and its words
    #[arg(value_name = "IF WORD", required = true, num_args = 2.., trailing_var_arg = true)]
    pub words: Vec<String>,
}

/// Work on a shmif bus file.
#[derive(Subcommand, Debug)]
pub enum BusCommand {
    Bridge(BridgeArgs),
}

/// Join a shmif bus to a host tap device or a VXLAN segment (RFC 7348,
/// Linux's `vxlan` interoperates), forwarding frames both ways until killed
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  rumpctl bus bridge /tmp/bus1 --tap tap0\n  \
rumpctl bus bridge /tmp/bus1 --vni 42 --local 192.168.1.10 --peer 192.168.1.11 --peer 192.168.1.12:4789")]
pub struct BridgeArgs {
    /// The bus file (created if missing)
    pub bus: PathBuf,
    /// A host tap device (made if missing; needs CAP_NET_ADMIN or its owner)
    #[arg(long, value_name = "DEV", conflicts_with_all = ["vni", "local", "peers"], required_unless_present = "vni")]
    pub tap: Option<String>,
    /// The VXLAN segment (24 bits)
    #[arg(long, requires_all = ["local", "peers"])]
    pub vni: Option<u32>,
    /// The address to receive VXLAN on: ADDR[:PORT] (port 4789 by default)
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = crate::bridge::endpoint)]
    pub local: Option<std::net::SocketAddr>,
    /// A remote VTEP: ADDR[:PORT]; broadcasts and unknown MACs go to all
    #[arg(long = "peer", value_name = "ADDR[:PORT]", value_parser = crate::bridge::endpoint)]
    pub peers: Vec<std::net::SocketAddr>,
}

/// Show a shmif bus file (header and one line per frame), as NetBSD's
/// shmif_dumpbus does, or write its frames as pcap.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct DumpbusArgs {
    /// Only the bus header
    #[arg(short = 'h')]
    pub header_only: bool,
    /// Write the frames as pcap to FILE (- for stdout)
    #[arg(short = 'o', value_name = "FILE.pcap")]
    pub pcap: Option<String>,
    /// The header and frames as JSON
    #[arg(long, conflicts_with = "pcap")]
    pub json: bool,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// The bus file
    pub bus: String,
}

/// Run a network of rump kernels described in a topology file.
#[derive(Args, Debug)]
#[command(
    subcommand_required = true,
    arg_required_else_help = true,
    after_help = "The network's directory: -d DIR, else the nearest .rumpnet in this or a parent\n\
directory, else $RUMPNET_DIR, else ./.rumpnet (where net up makes it)."
)]
pub struct NetArgs {
    /// Where the network lives
    #[arg(short = 'd', value_name = "DIR", global = true)]
    pub dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: NetCommand,
}

#[derive(Subcommand, Debug)]
pub enum NetCommand {
    /// Start rump_servers for the nodes and configure them
    #[command(
        after_help = "Examples:\n  rumpctl net up topology.toml\n  rumpctl net up -d /tmp/n1 topology.toml\n  rumpctl net up --nodes-per-server 1 topology.toml"
    )]
    Up {
        /// The file (`-`: standard input)
        #[arg(value_name = "TOPOLOGY.toml")]
        file: PathBuf,
        /// Nodes one rump_server process runs (neighbours in the file; 1: a
        /// process per node, as NetBSD's are)
        #[arg(long, value_name = "N", default_value_t = crate::net::lifecycle::PER_SERVER, value_parser = super::count)]
        nodes_per_server: usize,
        /// Only the nodes of [host.NAME], with VXLAN bridges for the buses
        /// they share with other hosts (what `net up` runs on each host)
        #[arg(long, value_name = "NAME")]
        host: Option<String>,
    },
    /// Check a topology file without starting anything
    Check {
        #[arg(value_name = "TOPOLOGY.toml")]
        file: PathBuf,
    },
    /// Run CMD hijacked against NODE's kernel (a static CMD under its seccomp supervisor)
    #[command(after_help = "Example:\n  rumpctl net exec a -- ping -c 3 10.0.2.2")]
    Exec {
        node: String,
        #[arg(value_name = "CMD", required = true, trailing_var_arg = true)]
        command: Vec<OsString>,
    },
    /// Servers, interfaces, routes and buses, as tables
    Status {
        /// The same as one JSON document
        #[arg(long)]
        json: bool,
    },
    /// Halt every server (SIGKILL if one hangs) and remove the network
    Down {
        /// Keep each bus as DIR/BUS.pcap
        #[arg(short = 'c', value_name = "CAPDIR")]
        capture: Option<PathBuf>,
    },
    /// Follow a bus and write its frames as pcap while they appear
    #[command(
        after_help = "Examples:\n  rumpctl net capture bus2 -o b2.pcap -t 5\n  rumpctl net capture -a -c 100 -o f.pcap bus1"
    )]
    Capture {
        bus: String,
        /// The pcap file to write
        #[arg(short = 'o', value_name = "FILE.pcap", required = true)]
        out: PathBuf,
        /// Start with the frames already on the bus
        #[arg(short = 'a')]
        from_start: bool,
        /// Stop after COUNT frames
        #[arg(short = 'c', value_name = "COUNT")]
        count: Option<u64>,
        /// Stop after SECONDS
        #[arg(short = 't', value_name = "SECONDS", value_parser = seconds)]
        time: Option<std::time::Duration>,
    },
    /// Print NODE's server URL
    Url { node: String },
    /// Print BUS's file
    Bus { bus: String },
    /// The networks of this user that are up, wherever they are
    Ls,
}

/// Print a shell completion script (bash, zsh, fish, elvish, powershell).
#[derive(Args, Debug)]
#[command(after_help = "Example:\n  rumpctl completions bash > /etc/bash_completion.d/rumpctl")]
pub struct CompletionsArgs {
    pub shell: clap_complete::Shell,
    /// The program to complete
    #[arg(long, default_value = "rumpctl", value_parser = ["rumpctl", "rump_server"])]
    pub program: String,
}

/// Write the man pages of rumpctl (one per subcommand) and rump_server.
#[derive(Args, Debug)]
#[command(after_help = "Example:\n  rumpctl man /usr/local/share/man/man1")]
pub struct ManArgs {
    /// The directory to write NAME.1 files into
    pub dir: PathBuf,
}

fn seconds(value: &str) -> Result<std::time::Duration, String> {
    let s: f64 = value.parse().map_err(|_| "expected seconds")?;
    std::time::Duration::try_from_secs_f64(s).ok().filter(|d| !d.is_zero()).ok_or_else(|| "expected seconds".into())
}
