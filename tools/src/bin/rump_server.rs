//! rump_server: boots a rump kernel and serves it at a URL.
//!
//! `rump_server [-svU] [-c ncpu] [-r ram] [-d drivespec]... [-m HOSTDIR:PATH[:ro]]... [-l component]... [-i "IF create linkstr BUS"]... [--key FILE] [--handshake-timeout SECS] [--max-clients N] [--max-pending N] URL`
//! with NetBSD's meanings, and `-m`, ours: a host directory shown at a
//! kernel path (hostfs, confined to the directory; `:ro` read-only),
//! mounted after the drives. The access flags (`policy_option`) are ours too. Without `-s` it daemonizes: the parent exits 0
//! only once the socket accepts, or 1 with the reason. SIGTERM and SIGINT
//! halt the kernel, as a reboot call from a client does; either way the
//! socket file is removed and the server exits 0.

use rump_kernel::cred::Cred;
use rump_kernel::fs::etfs::{parse_size, Drivespec};
use rump_kernel::fs::hostfs::HostfsSpec;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel};
use rump_tools::opts::getopt_long;
use rump_tools::{attach_storage, ifconfig, parse_drive, parse_mount, strerror};
use rumpclient::auth::Key;
use rumpclient::policy::Policy;
use rumpclient::server::Server;
use rumpclient::url::ServerUrl;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

const USAGE: &str =
    "usage: rump_server [-svU] [-c ncpu] [-r ram] [-d drivespec]... [-m HOSTDIR:PATH[:ro]]... [-l component]... [-i 'IF create linkstr BUS']... [--key FILE] [--handshake-timeout SECS] [--max-clients N] [--max-pending N] URL";

/// The long options that set who may connect and what they may hold.
const POLICY_OPTIONS: &[(&str, char)] =
    &[("key", 'K'), ("handshake-timeout", 'T'), ("max-clients", 'C'), ("max-pending", 'P')];

/// Applies one access flag to `p`; false if `letter` is not one. Defaults
/// are `Policy::default()`'s: 256 clients, 64 pending, 5 s, the key file
/// `$XDG_RUNTIME_DIR/rump/rump_server-HOST-PORT.key` made on first use,
/// other uids refused.
fn policy_option(p: &mut Policy, letter: char, value: &str) -> Result<bool, String> {
    let count = |what: &str| {
        value.parse::<usize>().ok().filter(|&n| n >= 1).ok_or(format!("--{what} {value}: expected a count"))
    };
    match letter {
        'U' => p.allow_other_uid = true,
        'K' => p.key = Some(Key::read_or_create(Path::new(value)).map_err(|e| format!("--key {value}: {e}"))?),
        'T' => {
            let secs = value.parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0);
            p.handshake_timeout =
                Duration::from_secs_f64(secs.ok_or(format!("--handshake-timeout {value}: expected seconds"))?);
        }
        'C' => p.max_guests = count("max-clients")?,
        'P' => p.max_pending = count("max-pending")?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Components `-l` accepts (NetBSD's library names, `lib` and `.so`
/// optional). They name subsystems; the file system ones are always in.
const COMPONENTS: &[&str] = &[
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

struct Options {
    foreground: bool,
    policy: Policy,
    config: Config,
    drives: Vec<Drivespec>,
    mounts: Vec<HostfsSpec>,
    /// `-i "IF create linkstr BUS"`: interfaces made before serving.
    ifaces: Vec<(String, Vec<ifconfig::Op>)>,
    url: ServerUrl,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let (opts, operands) = getopt_long(args, "svUc:r:d:m:l:i:", POLICY_OPTIONS)?;
    let [url] = &operands[..] else { return Err(USAGE.into()) };
    let url = ServerUrl::parse(url).map_err(|e| format!("{url}: {e}"))?;
    // Two CPUs is NetBSD's default, whatever the host has.
    let config = Config { ncpu: 2, ..Config::default() };
    let mut o = Options {
        foreground: false,
        policy: Policy::default(),
        config,
        drives: Vec::new(),
        mounts: Vec::new(),
        ifaces: Vec::new(),
        url,
    };
    for opt in opts {
        let value = opt.value.unwrap_or_default();
        if policy_option(&mut o.policy, opt.letter, &value)? {
            continue;
        }
        match opt.letter {
            's' => o.foreground = true,
            'v' => o.policy.verbose = true,
            'c' => {
                o.config.ncpu = match value.as_str() {
                    "host" => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
                    n => n.parse().ok().filter(|&n| n >= 1).ok_or(format!("-c {n}: expected a CPU count or host"))?,
                }
            }
            'r' => {
                o.config.ram_limit = Some(parse_size(&value).ok_or(format!("-r {value}: expected a size such as 16m"))?)
            }
            'd' => o.drives.push(parse_drive(&value)?),
            'm' => o.mounts.push(parse_mount(&value)?),
            'i' => {
                let words: Vec<String> = value.split_whitespace().map(String::from).collect();
                o.ifaces.push(ifconfig::parse(&words).map_err(|e| format!("-i {value}: {e}"))?);
            }
            'l' => {
                let name = value.strip_prefix("lib").unwrap_or(&value);
                let name = name.strip_suffix(".so").unwrap_or(name);
                if !COMPONENTS.contains(&name) {
                    return Err(format!("-l {value}: unknown component (known: {})", COMPONENTS.join(", ")));
                }
            }
            _ => unreachable!("getopt only returns letters of the spec"),
        }
    }
    Ok(o)
}

/// Boots, registers the drives, mounts the host directories and starts
/// listening.
fn start(o: &Options) -> Result<(Kernel, Server), String> {
    let kernel = Kernel::boot(o.config.clone()).map_err(|e| format!("boot: {}", strerror(e)))?;
    attach_storage(&kernel, &o.drives, &o.mounts)?;
    if !o.ifaces.is_empty() {
        let p = kernel
            .spawn(Emulation::Native, Cred::root(), "ifconfig")
            .map_err(|e| format!("ifconfig: {}", strerror(e)))?;
        for (name, ops) in &o.ifaces {
            ifconfig::apply(&p, name, ops).map_err(|e| format!("-i: {e}"))?;
        }
    }
    let server = Server::start(kernel.clone(), &o.url, o.policy.clone()).map_err(|e| format!("{}: {e}", o.url))?;
    if o.policy.verbose {
        eprintln!("rump_server: listening on {}", server.url());
    }
    Ok((kernel, server))
}

fn halt_signals() -> libc::sigset_t {
    // SAFETY: plain signal-set manipulation on a local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("rump_server: {msg}");
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = parse(&args).unwrap_or_else(|e| fail(&e));
    // Blocked before any thread exists, so every thread inherits the mask
    // and the signals reach only the sigwait below.
    let set = halt_signals();
    // SAFETY: setting this thread's signal mask.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };

    let report = if o.foreground { None } else { Some(daemonize()) };
    let (kernel, server) = match start(&o) {
        Ok(s) => s,
        Err(e) => {
            if let Some(mut w) = report {
                let _ = w.write_all(e.as_bytes());
                std::process::exit(1);
            }
            fail(&e)
        }
    };
    if let Some(mut w) = report {
        let _ = w.write_all(b"ok");
        drop(w);
        detach_stdio();
    }
    let k = kernel.clone();
    std::thread::spawn(move || {
        let mut sig = 0;
        // SAFETY: waiting for a signal blocked in every thread.
        unsafe { libc::sigwait(&set, &mut sig) };
        k.halt();
    });
    kernel.wait_halt();
    server.shutdown();
    std::process::exit(0);
}

/// Forks; the parent waits for the child's start-up report and exits with
/// it. Returns, in the child, where to write the report.
fn daemonize() -> std::fs::File {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        fail(&format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the fds are fresh and owned here.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: still single-threaded, so the child may run anything.
    match unsafe { libc::fork() } {
        -1 => fail(&format!("fork: {}", std::io::Error::last_os_error())),
        0 => {
            drop(r);
            // SAFETY: a new session for the daemon.
            unsafe { libc::setsid() };
            std::fs::File::from(w)
        }
        _ => {
            drop(w);
            let mut msg = String::new();
            let _ = std::fs::File::from(r).read_to_string(&mut msg);
            match msg.as_str() {
                "ok" => std::process::exit(0),
                "" => fail("the server exited during start-up"),
                e => fail(e),
            }
        }
    }
}

fn detach_stdio() {
    let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") else { return };
    for fd in 0..3 {
        // SAFETY: pointing the standard fds at /dev/null.
        unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd) };
    }
}
