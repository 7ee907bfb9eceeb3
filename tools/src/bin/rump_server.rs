//! rump_server: boots a rump kernel and serves it at a URL; given several
//! URLs, a kernel at each (sharing a bus thread), as `rumpctl net up`
//! runs nodes.
//!
//! `rump_server [-svU] [-c ncpu] [-r ram] [-d drivespec]... [-m HOSTDIR:PATH[:ro]]... [-l component]... [-i "IF create linkstr BUS"]... [--key FILE] [--handshake-timeout SECS] [--max-clients N] [--max-pending N] URL...`
//! (see `rump_tools::cli::server`) with NetBSD's meanings, and `-m`, ours: a host directory shown at a
//! kernel path (hostfs, confined to the directory; `:ro` read-only),
//! mounted after the drives. The access flags (`-U`, `--key`, ...) are ours too. Without `-s` it daemonizes: the parent exits 0
//! only once the sockets accept, or 1 with the reason. SIGTERM and SIGINT
//! halt the kernels; a reboot call from a client halts its own, whose
//! socket file is removed; the server exits 0 when none is left.

use rump_kernel::cred::Cred;
use rump_kernel::net::softnet::BusThread;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel};
use rump_tools::cli::server::ServerArgs;
use rump_tools::supervise::Door;
use rump_tools::{attach_storage, cli, idle_text, ifconfig, strerror};
use rumpclient::server::Server;
use rumpclient::sock::wait_readable_any;
use rumpclient::url::ServerUrl;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// A kernel served at one of the URLs.
struct Served {
    kernel: Kernel,
    server: Server,
    /// Static binaries' supervision (`rumpctl net exec`, `rumpctl run -s`).
    door: Option<Door>,
}

impl Served {
    fn stop(self) {
        self.kernel.halt();
        self.server.shutdown();
        // The process may go on serving other kernels: this one's clients
        // must see it gone (a halting `rumpctl halt` waits for that).
        self.server.disconnect_all();
    }
}

/// Boots a kernel for each URL, all on one bus thread (see
/// `rump_kernel::net::softnet::BusThread`), then listens at them.
fn start_all(o: &ServerArgs) -> Result<Vec<(Kernel, Server)>, String> {
    if o.urls.len() > 1 && !(o.drives.is_empty() && o.ifaces.is_empty()) {
        return Err("-d and -i need a single URL: several kernels cannot share a drive or an interface".into());
    }
    let bus_thread = BusThread::default();
    o.urls.iter().map(|url| start(o, url, bus_thread.clone())).collect()
}

/// Boots, registers the drives, mounts the host directories and starts
/// listening.
fn start(o: &ServerArgs, url: &ServerUrl, bus_thread: BusThread) -> Result<(Kernel, Server), String> {
    // Two CPUs is NetBSD's default, whatever the host has.
    let config = Config { ncpu: o.ncpu.unwrap_or(2), ram_limit: o.ram, bus_thread, ..Config::default() };
    let kernel = Kernel::boot(config).map_err(|e| format!("boot: {}", strerror(e)))?;
    attach_storage(&kernel, &o.drives, &o.mounts)?;
    if !o.ifaces.is_empty() {
        let p = kernel
            .spawn(Emulation::Native, Cred::root(), "ifconfig")
            .map_err(|e| format!("ifconfig: {}", strerror(e)))?;
        for i in &o.ifaces {
            ifconfig::apply(&p, &i.name, &i.ops).map_err(|e| format!("-i: {e}"))?;
        }
    }
    let policy = o.policy()?;
    let server = Server::start(kernel.clone(), url, policy).map_err(|e| format!("{url}: {e}"))?;
    // -v's first line is a contract: scripts read the URL (a tcp port 0
    // resolved) from it.
    if o.verbose {
        eprintln!("rump_server: listening on {}", server.url());
    }
    tracing::debug!("listening on {}", server.url());
    Ok((kernel, server))
}

/// malloc arenas, shared by all threads: NetBSD's default CPU count.
const MALLOC_ARENAS: libc::c_int = 2;

/// How often the server looks whether its kernel is at rest, to let go of
/// the program text it mapped (`idle_text`).
const LOOK: Duration = Duration::from_millis(500);

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
    // One malloc arena per CPU at most, not eight: every thread that ever
    // allocated (each client's, each configuration call's) would otherwise
    // keep an arena of its own for the server's life.
    // SAFETY: a malloc tunable, set before any thread exists.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS) };
    let o: ServerArgs = cli::parse_or_exit(cli::EXIT_USAGE);
    // -v is the info level of the log, to stderr unless RUMP_LOG says more.
    rump_tools::log::init("rump_server", o.verbose.then_some("info"));
    // Blocked before any thread exists, so every thread inherits the mask
    // and the signals reach only the sigwait below.
    let set = halt_signals();
    // SAFETY: setting this thread's signal mask.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };

    let report = if o.foreground { None } else { Some(daemonize()) };
    let started = match start_all(&o) {
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
    let served = started
        .into_iter()
        .map(|(kernel, server)| {
            let door = match server.url() {
                ServerUrl::Unix(sock) => match Door::bind(kernel.clone(), sock, server.fork_claims()) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        tracing::info!("no door for static binaries: {e}");
                        None
                    }
                },
                _ => None,
            };
            Served { kernel, server, door }
        })
        .collect();
    serve_until_halted(served, &set);
    std::process::exit(0);
}

/// Admits the doors' callers until a halt signal comes (which halts every
/// kernel) or the kernels have all halted (a reboot call halts its own,
/// whose socket then goes): this thread waits for all of it, so an idle
/// server keeps no thread for any.
fn serve_until_halted(mut served: Vec<Served>, set: &libc::sigset_t) {
    // SAFETY: a new descriptor for signals blocked in every thread.
    let fd = unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) };
    if fd < 0 {
        fail(&format!("signalfd: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the descriptor is new and ours.
    let signals = unsafe { OwnedFd::from_raw_fd(fd) };
    let (halts, halted) = halt_pipe();
    for s in &served {
        let w = halted.as_raw_fd();
        // SAFETY: a byte into the pipe, which stays open until the process
        // exits (`halted` lives until this function's end, and the
        // process ends right after).
        s.kernel.on_halt(move || unsafe {
            libc::write(w, [1u8].as_ptr().cast(), 1);
        });
    }
    let mut at_rest = idle_text::AtRest::default();
    let mut look = LOOK;
    while !served.is_empty() {
        let mut fds = vec![signals.as_raw_fd(), halts.as_raw_fd()];
        fds.extend(served.iter().map(|s| s.door.as_ref().map_or(-1, |d| d.as_raw_fd())));
        let ready = match wait_readable_any(&fds, Some(look)) {
            Ok(r) => r,
            Err(e) => fail(&format!("poll: {e}")),
        };
        if ready[0] {
            served.into_iter().for_each(Served::stop);
            return;
        }
        if ready[1] {
            let mut drain = [0u8; 64];
            // SAFETY: reading our own non-blocking pipe into a local buffer.
            unsafe { libc::read(halts.as_raw_fd(), drain.as_mut_ptr().cast(), drain.len()) };
            let (gone, left): (Vec<_>, Vec<_>) = served.into_iter().partition(|s| s.kernel.is_halted());
            gone.into_iter().for_each(Served::stop);
            served = left;
            continue;
        }
        let mut admitted = false;
        for (s, _) in served.iter().zip(&ready[2..]).filter(|(_, r)| **r) {
            s.door.iter().for_each(Door::admit_waiting);
            admitted = true;
        }
        if admitted {
            continue;
        }
        look = LOOK;
        let rest = served.iter().all(|s| s.kernel.at_rest());
        if let Some(bytes) = at_rest.look(rest.then(|| served.iter().map(|s| s.kernel.calls()).sum())) {
            tracing::debug!(bytes, "at rest: released the program text mapped so far");
            look = idle_text::AGAIN;
        }
    }
}

/// A pipe the kernels' halts write a byte to: (read end, write end),
/// the read end non-blocking.
fn halt_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        fail(&format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the fds are fresh and owned here.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
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
