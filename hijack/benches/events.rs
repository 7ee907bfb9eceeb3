//! Event multiplexing through the hijack library, each figure beside its
//! host baseline measured in the same run:
//!
//! - wake-up latency: two threads ping-pong one byte over two FIFOs, each
//!   waiting in poll() (or epoll_wait()) on {an idle host pipe, a FIFO};
//!   FIFOs under /rump with the library (so every wait set mixes a host
//!   fd and a rump fd) against the same program on /dev/shm FIFOs without
//!   it (a host-only wait);
//! - an epoll loop over 1,000 FIFOs: write a byte to one, epoll_wait,
//!   read it; 1,000 /rump FIFOs with the library against 1,000 /dev/shm
//!   FIFOs without it;
//! - inotify: mkdir and rmdir in a watched directory (one of 100 watched),
//!   then a blocking read of both events; under /rump with the library
//!   (a host inotify fd whose rump companion holds the watches) against
//!   /dev/shm without it.
//!
//! Each rump figure is taken with the kernel in the process (RUMP_SERVER
//! unset; the programs never fork, which would move it to a keeper) and
//! against a foreground `rump_server -s` started for that run and killed
//! after it. The epoll loop also runs against a server with the
//! shared-memory transport's spin turned off on both sides
//! (`RUMP_SHM_SPIN_NS=0`): on a machine whose CPUs other work keeps busy
//! a spinning side holds a CPU its peer needs, and the pair of figures
//! shows what the spin costs or gains in that run. The ping-pong runs,
//! and their servers, are pinned to one CPU
//! (when there are several): a wake-up across CPUs costs whatever waking
//! an idle CPU costs on the machine, which on a VM varies several-fold
//! from run to run (7 to 50 us a round trip on a 2-vCPU one), and would
//! drown the library's own cost. They run once more with the server on
//! another CPU, where the transport's spin can meet it (the two threads
//! still on one).
//!
//! Under the epoll loop's figures, the floor a server's figure stands on:
//! what one `process_vm_readv` of one byte costs on this machine in the
//! same run (beside a null system call), as a server pays for every
//! buffer a call reads or fills in its client (the loop's write, its
//! epoll_wait's events and its read: three per iteration).
//!
//! The C programs in benches/events/ are compiled at run time (`cc -O2
//! -Wall -Werror -pthread`; `CC` overrides cc), check every event they
//! get, and time themselves after an untimed warm-up. Host and rump runs
//! alternate over several rounds and the best of each is kept.
//!
//! Every run is killed after 60 s; a run that fails, hangs or reports a
//! wrong event prints "failed: <reason>" in place of its figure and is not
//! retried in later rounds. Run with `cargo bench -p rump-hijack --bench
//! events` (or scripts/bench.sh), after a release build of the workspace
//! (librumphijack.so, rump_server).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;
/// Round trips per ping-pong run.
const PINGPONG: &str = "20000";
/// FIFOs and iterations of the epoll loop.
const FIFOS: &str = "1000";
const LOOPS: &str = "100000";
/// Watched directories of the inotify loop (one busy, the rest idle).
const WATCHES: &str = "100";
/// Seconds a program's timed loop may take before it stops early and
/// reports what it did (a slow configuration still gives a figure).
const BUDGET: &str = "10";
/// A run still going after this is killed and reported as failed.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary path");
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

fn tag() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// Compiles benches/events/<name>.c into `dir`.
fn compile(name: &str, dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/events").join(format!("{name}.c"));
    let out = dir.join(name);
    let res = Command::new(std::env::var_os("CC").unwrap_or_else(|| "cc".into()))
        .args(["-O2", "-Wall", "-Werror", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .expect("a C compiler (cc) runs");
    assert!(
        res.status.success(),
        "compiling {} failed:\n{}{}",
        src.display(),
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    out
}

/// The highest-numbered CPU this process may run on and the lowest, if
/// it may run on more than one.
fn two_cpus() -> Option<(usize, usize)> {
    // SAFETY: sched_getaffinity fills a local set; CPU_* read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        let mut allowed = (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set));
        let first = allowed.next()?;
        allowed.next_back().map(|last| (last, first))
    }
}

/// Where a run and its server go.
#[derive(Clone, Copy)]
enum Pin {
    /// Wherever the host puts them.
    No,
    /// Both on one CPU.
    Together,
    /// The run on one CPU, its server on another.
    Apart,
}

/// Makes `cmd`'s process, and every thread it starts, run on `cpu` only.
fn pin(cmd: &mut Command, cpu: Option<usize>) {
    let Some(cpu) = cpu else { return };
    // SAFETY: the closure only makes a syscall on the child's own state.
    unsafe {
        cmd.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A foreground `rump_server -s -v` on a private unix socket, killed
/// (with everything it left) when dropped.
struct Server {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Server {
    fn start(cpu: Option<usize>, spin: Spin) -> Result<Server, String> {
        let dir = std::env::temp_dir().join(format!("rumpbench-events-srv-{}", tag()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let url = format!("unix://{}/sock", dir.display());
        let mut cmd = Command::new(build_dir().join("rump_server"));
        cmd.args(["-s", "-v", &url]).env_remove("LD_PRELOAD");
        spin.set(&mut cmd);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        pin(&mut cmd, cpu);
        let child = cmd.spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("rump_server: {e} (build the workspace in release mode first)"));
            }
        };
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (tx, rx) = mpsc::channel();
        // Hands over the first line, then keeps draining the log so the
        // server never blocks on a full pipe.
        std::thread::spawn(move || {
            let _ = tx.send(lines.next().and_then(Result::ok).unwrap_or_default());
            lines.for_each(drop);
        });
        let server = Server { child, url, dir };
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(l) if l.starts_with("rump_server: listening on ") => Ok(server),
            Ok(l) => Err(format!("rump_server did not start: {l:?}")),
            Err(_) => Err("rump_server did not start within 10 s".into()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where a run's kernel is.
#[derive(Clone, Copy)]
enum Kernel {
    /// No library: host FIFOs on /dev/shm.
    Host,
    /// The library with a kernel in the process.
    Local,
    /// The library against a rump_server of its own.
    Remote(Spin),
}

/// Whether the shared-memory transport spins before it sleeps, on both
/// sides of a run's channel.
#[derive(Clone, Copy)]
enum Spin {
    /// As configured (`RUMP_SHM_SPIN_NS` of the bench's environment).
    Default,
    /// Never (`RUMP_SHM_SPIN_NS=0`).
    Off,
}

impl Spin {
    fn set(self, cmd: &mut Command) {
        if let Spin::Off = self {
            cmd.env("RUMP_SHM_SPIN_NS", "0");
        }
    }
}

struct Runner {
    /// Where pinned runs go, and where a server kept apart goes (None: a
    /// single CPU anyway).
    cpus: Option<(usize, usize)>,
    lib: String,
    scratch: PathBuf,
    host_base: PathBuf,
}

impl Runner {
    /// Runs `prog` with `dir` (a fresh one, on /dev/shm or /rump) and
    /// `args` against `kernel`, pinned as `pin` says; returns its figure
    /// (ns) and count.
    fn run(&self, prog: &Path, args: &[&str], kernel: Kernel, pin_to: Pin) -> Result<(f64, u64), String> {
        let t = tag();
        let (cpu, server_cpu) = match (pin_to, self.cpus) {
            (Pin::No, _) | (_, None) => (None, None),
            (Pin::Together, Some((run, _))) => (Some(run), Some(run)),
            (Pin::Apart, Some((run, other))) => (Some(run), Some(other)),
        };
        let (dir, server) = match kernel {
            Kernel::Host => (self.host_base.join(format!("events-{t}")), None),
            Kernel::Local => (PathBuf::from(format!("/rump/events-{t}")), None),
            Kernel::Remote(spin) => {
                (PathBuf::from(format!("/rump/events-{t}")), Some(Server::start(server_cpu, spin)?))
            }
        };
        let out_path = self.scratch.join(format!("out-{t}"));
        let err_path = self.scratch.join(format!("err-{t}"));
        let file = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
        let mut cmd = Command::new(prog);
        cmd.arg(&dir).args(args).stdin(Stdio::null()).stdout(file(&out_path)?).stderr(file(&err_path)?);
        cmd.process_group(0);
        pin(&mut cmd, cpu);
        for v in ["LD_PRELOAD", "RUMP_SERVER", "RUMPHIJACK", "RUMPHIJACK_RETRYCONNECT", "RUMP_LOG"] {
            cmd.env_remove(v);
        }
        cmd.env("LC_ALL", "C");
        if !matches!(kernel, Kernel::Host) {
            cmd.env("LD_PRELOAD", &self.lib);
        }
        if let Some(s) = &server {
            cmd.env("RUMP_SERVER", &s.url);
        }
        if let Kernel::Remote(spin) = kernel {
            spin.set(&mut cmd);
        }
        let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", prog.display()))?;
        let start = Instant::now();
        let mut finished = true;
        while !exited_unreaped(child.id()) {
            if start.elapsed() > RUN_TIMEOUT {
                finished = false;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The program and whatever it left behind (a keeper), while its
        // pid, and so its group id, cannot be reused; then its server.
        // SAFETY: a signal to the process group of our own unreaped child.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let status = child.wait().map_err(|e| format!("waiting for {}: {e}", prog.display()))?;
        drop(server);
        if matches!(kernel, Kernel::Host) {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        let _ = std::fs::remove_file(&out_path);
        let _ = std::fs::remove_file(&err_path);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        let last: String = last.chars().take(160).collect();
        if !finished {
            let sep = if last.is_empty() { "" } else { "; stderr: " };
            return Err(format!("timed out, killed after {} s{sep}{last}", RUN_TIMEOUT.as_secs()));
        }
        if !status.success() {
            return Err(if last.is_empty() { format!("{status}") } else { format!("{last} ({status})") });
        }
        let mut words = stdout.split_whitespace();
        match (words.next().and_then(|w| w.parse().ok()), words.next().and_then(|w| w.parse().ok())) {
            (Some(ns), Some(n)) => Ok((ns, n)),
            _ => Err(format!("unexpected output {:?}", stdout.trim())),
        }
    }
}

/// Whether `pid` (our child) has exited, leaving it unreaped.
fn exited_unreaped(pid: u32) -> bool {
    // SAFETY: waitid on our own child, into a local.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT);
        r == 0 && info.si_pid() != 0
    }
}

/// The best figure of one configuration over the rounds, or why it failed.
struct Best {
    what: &'static str,
    prog: PathBuf,
    args: Vec<&'static str>,
    kernel: Kernel,
    pin: Pin,
    /// Iterations a run times unless its budget runs out first.
    full: u64,
    /// The best ns per iteration, and the fewest iterations a run timed.
    result: Result<(f64, u64), String>,
}

impl Best {
    /// `args` follow the directory; the second is the iteration count.
    fn new(what: &'static str, prog: &Path, args: &[&'static str], kernel: Kernel, pin: Pin) -> Best {
        let full = args[1].parse().expect("an iteration count");
        let result = Ok((f64::INFINITY, u64::MAX));
        Best { what, prog: prog.to_path_buf(), args: args.to_vec(), kernel, pin, full, result }
    }

    fn round(&mut self, r: &Runner) {
        let Ok((best, count)) = self.result else { return };
        self.result = r.run(&self.prog, &self.args, self.kernel, self.pin).map(|(ns, n)| (best.min(ns), count.min(n)));
    }
}

/// Under a budget, a run may time fewer iterations than asked for.
fn shortened(b: &Best) -> String {
    match b.result {
        Ok((_, n)) if n < b.full => format!("  (a run timed only {n} before its {BUDGET} s budget ran out)"),
        _ => String::new(),
    }
}

/// A baseline on its own line.
fn baseline(b: &Best, unit: &str) {
    match &b.result {
        Ok((ns, _)) => println!("  {:<42} {ns:>10.2} {unit}{}", b.what, shortened(b)),
        Err(e) => println!("  {:<42} failed: {e}", b.what),
    }
}

/// A rump figure beside its baseline, or why either failed.
fn row(rump: &Best, host: &Best, unit: &str) {
    let what = rump.what;
    match (&rump.result, &host.result) {
        (Ok((ns, _)), Ok((host_ns, _))) => {
            println!(
                "  {what:<42} {ns:>10.2} {unit}  vs host {host_ns:>10.2} {unit}  ratio {:>5.2}{}",
                ns / host_ns,
                shortened(rump)
            )
        }
        (Err(e), _) => println!("  {what:<42} failed: {e}"),
        (Ok(_), Err(_)) => println!("  {what:<42} failed: no baseline"),
    }
}

/// Nanoseconds per call of `f`, the best of a few batches.
fn per_call(mut f: impl FnMut()) -> f64 {
    const CALLS: u32 = 100_000;
    (0..5)
        .map(|_| {
            let start = Instant::now();
            (0..CALLS).for_each(|_| f());
            start.elapsed().as_nanos() as f64 / f64::from(CALLS)
        })
        .fold(f64::INFINITY, f64::min)
}

/// One byte moved from this process's memory by `process_vm_readv`, and
/// a null system call, in ns.
fn process_vm_floor() -> (f64, f64) {
    let src = 1u8;
    let mut dst = 0u8;
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let vm = per_call(|| {
        let local = libc::iovec { iov_base: (&raw mut dst).cast(), iov_len: 1 };
        let remote = libc::iovec { iov_base: (&raw const src).cast_mut().cast(), iov_len: 1 };
        // SAFETY: both iovecs name one live byte of this process.
        let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
        assert_eq!(n, 1, "process_vm_readv");
    });
    // SAFETY: getppid has no preconditions; raw, so that glibc cannot cache it.
    let null = per_call(|| unsafe {
        libc::syscall(libc::SYS_getppid);
    });
    (vm, null)
}

fn main() {
    let lib = build_dir().join("librumphijack.so");
    assert!(lib.exists(), "{} missing (build the workspace in release mode first)", lib.display());
    let scratch = std::env::temp_dir().join(format!("rumpbench-events-{}", tag()));
    std::fs::create_dir_all(&scratch).unwrap();
    let host_base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let runner =
        Runner { cpus: two_cpus(), lib: lib.to_str().unwrap().to_string(), scratch: scratch.clone(), host_base };
    let pingpong = compile("pingpong", &scratch);
    let epoll_loop = compile("epoll_loop", &scratch);
    let inotify_loop = compile("inotify_loop", &scratch);

    let poll_args: &[&str] = &["poll", PINGPONG, BUDGET];
    let epoll_args: &[&str] = &["epoll", PINGPONG, BUDGET];
    let loop_args: &[&str] = &[FIFOS, LOOPS, BUDGET];
    let inotify_args: &[&str] = &[WATCHES, LOOPS, BUDGET];
    let remote = Kernel::Remote(Spin::Default);
    let mut all = [
        Best::new("poll {host pipe, host FIFO}, no library", &pingpong, poll_args, Kernel::Host, Pin::Together),
        Best::new("poll {host pipe, rump FIFO}, in-process", &pingpong, poll_args, Kernel::Local, Pin::Together),
        Best::new("poll {host pipe, rump FIFO}, rump_server", &pingpong, poll_args, remote, Pin::Together),
        Best::new("same, rump_server on another CPU", &pingpong, poll_args, remote, Pin::Apart),
        Best::new("host FIFO, nothing pinned", &pingpong, poll_args, Kernel::Host, Pin::No),
        Best::new("rump_server, nothing pinned", &pingpong, poll_args, remote, Pin::No),
        Best::new("epoll {host pipe, host FIFO}, no library", &pingpong, epoll_args, Kernel::Host, Pin::Together),
        Best::new("epoll {host pipe, rump FIFO}, in-process", &pingpong, epoll_args, Kernel::Local, Pin::Together),
        Best::new("epoll {host pipe, rump FIFO}, rump_server", &pingpong, epoll_args, remote, Pin::Together),
        Best::new("same, rump_server on another CPU", &pingpong, epoll_args, remote, Pin::Apart),
        Best::new("host FIFO, nothing pinned", &pingpong, epoll_args, Kernel::Host, Pin::No),
        Best::new("rump_server, nothing pinned", &pingpong, epoll_args, remote, Pin::No),
        Best::new("host FIFOs on /dev/shm, no library", &epoll_loop, loop_args, Kernel::Host, Pin::No),
        Best::new("rump FIFOs, in-process", &epoll_loop, loop_args, Kernel::Local, Pin::No),
        Best::new("rump FIFOs, rump_server", &epoll_loop, loop_args, remote, Pin::No),
        Best::new("rump FIFOs, rump_server, no spin", &epoll_loop, loop_args, Kernel::Remote(Spin::Off), Pin::No),
        Best::new("host directory on /dev/shm, no library", &inotify_loop, inotify_args, Kernel::Host, Pin::No),
        Best::new("rump directory, in-process", &inotify_loop, inotify_args, Kernel::Local, Pin::No),
        Best::new("rump directory, rump_server", &inotify_loop, inotify_args, remote, Pin::No),
    ];
    for _ in 0..ROUNDS {
        for b in all.iter_mut() {
            b.round(&runner);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let [host_poll, local_poll, remote_poll, apart_poll, free_host_poll, free_poll, host_epoll, local_epoll, remote_epoll, apart_epoll, free_host_epoll, free_epoll, host_loop, local_loop, remote_loop, nospin_loop, host_in, local_in, remote_in] =
        &all;
    let on = if runner.cpus.is_some() { ", all on one CPU unless said" } else { "" };
    println!("wake-up latency: one byte ping-ponged between two threads over two FIFOs, each waiting on");
    println!(
        "{{an idle host pipe, a FIFO}} (ns per round trip, two wake-ups{on}; best of {ROUNDS} runs of {PINGPONG})"
    );
    baseline(host_poll, "ns");
    row(local_poll, host_poll, "ns");
    row(remote_poll, host_poll, "ns");
    row(apart_poll, host_poll, "ns");
    // Left to the scheduler, the threads may wake each other across CPUs:
    // compared with the host's best case, the pinned one.
    row(free_host_poll, host_poll, "ns");
    row(free_poll, host_poll, "ns");
    baseline(host_epoll, "ns");
    row(local_epoll, host_epoll, "ns");
    row(remote_epoll, host_epoll, "ns");
    row(apart_epoll, host_epoll, "ns");
    row(free_host_epoll, host_epoll, "ns");
    row(free_epoll, host_epoll, "ns");
    println!();
    println!("epoll loop over {FIFOS} FIFOs, level-triggered: write 1 byte to one, epoll_wait(64, -1), read it");
    println!("(ns per iteration; best of {ROUNDS} runs of {LOOPS})");
    baseline(host_loop, "ns");
    row(local_loop, host_loop, "ns");
    row(remote_loop, host_loop, "ns");
    row(nospin_loop, host_loop, "ns");
    let (vm, null) = process_vm_floor();
    println!("  {:<42} {vm:>10.2} ns  vs getppid  {null:>10.2} ns", "process_vm_readv of 1 byte, same run");
    println!();
    println!("inotify: mkdir and rmdir in a watched directory ({WATCHES} watched), blocking read of both events");
    println!("(ns per iteration; best of {ROUNDS} runs of {LOOPS})");
    baseline(host_in, "ns");
    row(local_in, host_in, "ns");
    row(remote_in, host_in, "ns");
}
