//! The hijack library's costs, each beside its host baseline in the same
//! run: `cat` of a 256 MiB file on /rump against host `cat` of a /dev/shm
//! file; writing 64 MiB through a shared mapping (python3's `mmap`) of a
//! /rump file against one of a /dev/shm file; a hooked 4 KiB `pread` on a
//! host fd and a hooked `stat` of a host path against the same program
//! without the library (the default `syscalls=auto`, then with Syscall
//! User Dispatch forced on by `syscalls=all`, then the library's log on
//! with its trace events filtered out); `ls -R` of 10,000 files on /rump
//! against a host tree, and a walk with a stat of each of them inside one
//! process; a shell's fork with the library loaded against one without;
//! and real tools on /rump against /dev/shm: `git status` in a 2,000-file
//! repository, `tar xf` of a 5,000-file archive, `make -j2` of a 50-file
//! C project. Run with `cargo bench -p rump-hijack` (or
//! scripts/bench.sh), after a release build of the workspace
//! (rump_server); `RUMPBENCH_LIB` names another build of the library,
//! `RUMPBENCH_ONLY=cat` stops after the `cat` rows.
//!
//! Whole commands are timed by bash's `time` inside one shell, so the
//! shell's own start-up is not counted; the best of several runs is kept.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const RUNS: usize = 5;
const CAT_MIB: usize = 256;
/// Bytes written through a shared mapping per run, in MiB.
const MAP_MIB: usize = 64;
const TREE_FILES: usize = 10_000;
const GIT_FILES: usize = 2_000;
const TAR_FILES: usize = 5_000;
const MAKE_FILES: usize = 50;

fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary path");
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

/// Runs a bash script (with or without the library) whose `time`d
/// commands print seconds on stderr; returns the best time in ms.
fn best_ms(script: &str, env: &[(&str, &str)]) -> f64 {
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(format!("TIMEFORMAT=%R\n{script}"));
    cmd.env_remove("LD_PRELOAD").env_remove("RUMP_SERVER").env("LC_ALL", "C");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("bash");
    let err = String::from_utf8_lossy(&out.stderr);
    // `time`'s seconds, or `repeat`'s two clock readings in seconds.
    let seconds = |l: &str| match l.split_whitespace().map(str::parse::<f64>).collect::<Result<Vec<_>, _>>() {
        Ok(v) if v.len() == 1 => Some(v[0]),
        Ok(v) if v.len() == 2 => Some(v[1] - v[0]),
        _ => None,
    };
    let times: Vec<f64> = err.lines().filter_map(seconds).collect();
    assert!(out.status.success() && !times.is_empty(), "benchmark script failed: {err}");
    times.iter().cloned().fold(f64::INFINITY, f64::min) * 1000.0
}

/// `cmd` run `RUNS` times, each timed to the microsecond (bash's `time`
/// counts whole milliseconds).
fn repeat(cmd: &str) -> String {
    format!("for i in $(seq {RUNS}); do s=$EPOCHREALTIME; {cmd}; echo \"$s $EPOCHREALTIME\" >&2; done")
}

struct Server {
    url: String,
    dir: PathBuf,
}

impl Server {
    fn start() -> Server {
        let dir = std::env::temp_dir().join(format!("rumpbench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("unix://{}/sock", dir.display());
        let ok = Command::new(build_dir().join("rump_server")).arg(&url).status().map(|s| s.success());
        assert!(ok.unwrap_or(false), "rump_server did not start (build the workspace in release mode first)");
        Server { url, dir }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(build_dir().join("rumpctl")).args(["halt", "-s", &self.url]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn row(what: &str, rump: f64, base: &str, host: f64, unit: &str, note: &str) {
    println!("{what:<44} {rump:>10.2} {unit}  vs {base} {host:>10.2} {unit}  ratio {:>5.2}  {note}", rump / host);
}

fn main() {
    match std::env::var("RUMPBENCH_ROLE").as_deref() {
        Ok("readloop") => return readloop(),
        Ok("statloop") => return statloop(),
        Ok("forks") => return forks(),
        _ => {}
    }
    // Another build of the library (a before/after comparison) if named.
    let lib = std::env::var_os("RUMPBENCH_LIB").map_or_else(|| build_dir().join("librumphijack.so"), PathBuf::from);
    assert!(lib.exists(), "{} missing", lib.display());
    let lib = lib.to_str().unwrap().to_string();
    let pre = [("LD_PRELOAD", lib.as_str())];

    // cat: throughput, so the ratio is host time / rump time.
    let shm = format!("/dev/shm/rumpbench-{}", std::process::id());
    let fill = |f: &str| format!("head -c {CAT_MIB}M /dev/zero > {f}\n");
    let host = best_ms(&format!("{}{}", fill(&shm), repeat(&format!("cat {shm} > /dev/null"))), &[]);
    let _ = std::fs::remove_file(&shm);
    let embedded = best_ms(&format!("{}{}", fill("/rump/f"), repeat("cat /rump/f > /dev/null")), &pre);
    let server = Server::start();
    let remote_env = [("LD_PRELOAD", lib.as_str()), ("RUMP_SERVER", server.url.as_str())];
    let remote = best_ms(&format!("{}{}", fill("/rump/f"), repeat("cat /rump/f > /dev/null")), &remote_env);
    drop(server);
    let mbs = |ms: f64| CAT_MIB as f64 / (ms / 1000.0);
    println!("cat of a {CAT_MIB} MiB file to /dev/null (throughput; ratio = rump / host, higher is better)");
    println!("  host cat /dev/shm          {:>8.0} MiB/s", mbs(host));
    println!("  cat /rump, embedded        {:>8.0} MiB/s  ratio {:.2} (target >= 0.8)", mbs(embedded), host / embedded);
    println!("  cat /rump, rump_server     {:>8.0} MiB/s  ratio {:.2} (target >= 0.8)", mbs(remote), host / remote);
    // `RUMPBENCH_ONLY=cat`: the data path's rows alone.
    if std::env::var("RUMPBENCH_ONLY").as_deref() == Ok("cat") {
        return;
    }

    // The in-process data path, which `cat` as a separate process cannot
    // show (its parent's kernel moved to a keeper): one python3 process
    // writes the file and reads it back with 128 KiB reads.
    // The interpreter itself: a wrapper script (pyenv's shims fork) would
    // hand the kernel to a keeper before python3 even starts.
    let python = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().expect("python3");
    let python = String::from_utf8_lossy(&python.stdout).trim().to_string();
    let py = |f: &str, env: &[(&str, &str)]| -> f64 {
        let code = format!(
            "import os,sys,time\nf=sys.argv[1]\nfd=os.open(f,os.O_CREAT|os.O_WRONLY|os.O_TRUNC,0o600)\nb=bytes(1<<20)\nfor i in range({CAT_MIB}): os.write(fd,b)\nos.close(fd)\nbest=9e9\nfor r in range({RUNS}):\n  fd=os.open(f,os.O_RDONLY); t=time.perf_counter()\n  while os.read(fd,131072): pass\n  best=min(best,time.perf_counter()-t); os.close(fd)\nprint(best*1000)"
        );
        let mut cmd = Command::new(&python);
        cmd.args(["-c", &code, f]).env_remove("LD_PRELOAD").env_remove("RUMP_SERVER");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("python3");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("python3 read loop")
    };
    let host_py = py(&shm, &[]);
    let _ = std::fs::remove_file(&shm);
    let local_py = py("/rump/f", &pre);
    println!("  python3 read loop, /dev/shm {:>7.0} MiB/s", mbs(host_py));
    println!(
        "  same loop on /rump, kernel in the process {:>7.0} MiB/s  ratio {:.2}",
        mbs(local_py),
        host_py / local_py
    );

    // Shared mappings: the file's memory is a memfd the kernel hands out,
    // so after the mapping is made the writes are plain memory stores.
    let map_write = |f: &str, env: &[(&str, &str)]| -> f64 {
        let code = format!(
            "import mmap,os,sys,time\nf=sys.argv[1]\nb=bytes(range(256))*4096\nbest=9e9\nfor r in range({RUNS}):\n  t=time.perf_counter()\n  fd=os.open(f,os.O_CREAT|os.O_RDWR|os.O_TRUNC,0o600); os.ftruncate(fd,{MAP_MIB}<<20)\n  m=mmap.mmap(fd,0)\n  for i in range({MAP_MIB}): m[i<<20:(i+1)<<20]=b\n  m.flush(); m.close(); os.close(fd)\n  best=min(best,time.perf_counter()-t)\nprint(best*1000)"
        );
        let mut cmd = Command::new(&python);
        cmd.args(["-c", &code, f]).env_remove("LD_PRELOAD").env_remove("RUMP_SERVER");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("python3");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("python3 mapping loop")
    };
    let host_map = map_write(&shm, &[]);
    let _ = std::fs::remove_file(&shm);
    let local_map = map_write("/rump/m", &pre);
    let server = Server::start();
    let remote_env = [("LD_PRELOAD", lib.as_str()), ("RUMP_SERVER", server.url.as_str())];
    let remote_map = map_write("/rump/m", &remote_env);
    drop(server);
    println!();
    row(&format!("{MAP_MIB} MiB through MAP_SHARED, embedded"), local_map, "/dev/shm", host_map, "ms", "");
    row(&format!("{MAP_MIB} MiB through MAP_SHARED, rump_server"), remote_map, "/dev/shm", host_map, "ms", "");

    // A hooked read on a host fd, and a hooked stat of a host path (whose
    // string the library probes before reading): the same program without
    // us, with us (`syscalls=auto`, the default: no dispatch armed for it),
    // with us and Syscall User Dispatch armed (`syscalls=all`: every
    // syscall takes the kernel's slow entry path), and with us and a
    // subscriber installed (RUMP_LOG) whose filter drops the hooks' trace
    // events; in alternating rounds (3 x RUNS), so a change in the
    // machine's load hits all alike.
    let me = std::env::current_exe().unwrap();
    let one_run = |role: &str, env: &[(&str, &str)]| -> f64 {
        let mut cmd = Command::new(&me);
        cmd.env("RUMPBENCH_ROLE", role).env_remove("LD_PRELOAD").env_remove("RUMP_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect(role);
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("ns per call")
    };
    let all_env = [pre[0], ("RUMPHIJACK", "path=/rump,socket=all:nolocal,syscalls=all")];
    let logging_env = [pre[0], ("RUMP_LOG", "warn")];
    let envs: [&[(&str, &str)]; 4] = [&[], &pre, &all_env, &logging_env];
    let best_of = |role: &str| {
        let mut best = [f64::INFINITY; 4];
        for _ in 0..3 * RUNS {
            for (b, env) in best.iter_mut().zip(envs) {
                *b = b.min(one_run(role, env));
            }
        }
        best
    };
    let [plain, hooked, all, logging] = best_of("readloop");
    println!();
    row("pread 4 KiB on a host fd, library loaded", hooked, "without", plain, "ns", "(target <= 1.05)");
    row("same, syscalls=all (dispatch armed)", all, "without", plain, "ns", "");
    row("same, RUMP_LOG=warn (trace events filtered)", logging, "without", plain, "ns", "");
    let [plain, hooked, all, logging] = best_of("statloop");
    row("stat of a host path, library loaded", hooked, "without", plain, "ns", "(target <= 1.05)");
    row("same, syscalls=all (dispatch armed)", all, "without", plain, "ns", "");
    row("same, RUMP_LOG=warn (trace events filtered)", logging, "without", plain, "ns", "");

    // ls -R of a tree of 10,000 files.
    let tree = |d: &str| {
        format!(
            "mkdir -p {d}; python3 -c 'import os,sys\nfor i in range(100):\n  p=os.path.join(sys.argv[1],str(i)); os.mkdir(p)\n  for j in range({}): os.close(os.open(os.path.join(p,str(j)),os.O_CREAT|os.O_WRONLY))' {d}\n",
            TREE_FILES / 100
        )
    };
    let hdir = format!("/dev/shm/rumpbench-tree-{}", std::process::id());
    let host = best_ms(&format!("{}{}", tree(&hdir), repeat(&format!("ls -R {hdir} > /dev/null"))), &[]);
    let _ = std::fs::remove_dir_all(&hdir);
    let embedded = best_ms(&format!("{}{}", tree("/rump/tree"), repeat("ls -R /rump/tree > /dev/null")), &pre);
    let server = Server::start();
    let remote_env = [("LD_PRELOAD", lib.as_str()), ("RUMP_SERVER", server.url.as_str())];
    let remote = best_ms(&format!("{}{}", tree("/rump/tree"), repeat("ls -R /rump/tree > /dev/null")), &remote_env);
    drop(server);
    println!();
    row("ls -R, 10,000 files, embedded (keeper)", embedded, "host", host, "ms", "(target <= 1.5)");
    row("ls -R, 10,000 files, rump_server", remote, "host", host, "ms", "");
    let walk = |d: &str, env: &[(&str, &str)]| -> f64 {
        let code = format!(
            "import os,sys,time\nd=sys.argv[1]\nos.mkdir(d)\nfor i in range(100):\n  p=os.path.join(d,str(i)); os.mkdir(p)\n  for j in range({}): os.close(os.open(os.path.join(p,str(j)),os.O_CREAT|os.O_WRONLY))\nbest=9e9\nfor r in range({RUNS}):\n  t=time.perf_counter()\n  for top,dirs,files in os.walk(d):\n    for f in files: os.lstat(os.path.join(top,f))\n  best=min(best,time.perf_counter()-t)\nprint(best*1000)",
            TREE_FILES / 100
        );
        let mut cmd = Command::new(&python);
        cmd.args(["-c", &code, d]).env_remove("LD_PRELOAD").env_remove("RUMP_SERVER");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("python3");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("python3 walk")
    };
    let host = walk(&hdir, &[]);
    let _ = std::fs::remove_dir_all(&hdir);
    let local = walk("/rump/tree", &pre);
    row("os.walk + lstat, 10,000 files, in the process", local, "host", host, "ms", "");

    fork_rows(&pre);
    tool_rows(&pre);
}

/// Shells started with the library loaded, against the same without it
/// (each timed over 10 in a row): `sh -c '/bin/true'` never touches a
/// kernel, so no keeper may start; in `sh -c 'ls /rump; /bin/true'` the
/// child starts the tree's keeper; a shell that wrote to /rump runs
/// `/bin/true` children (each a process of its keeper, which it never
/// calls). Then a process's first fork, timed in
/// the process (fork, the child exits, wait): without the library, with it
/// before touching a kernel, and after touching /rump (the fork that moves
/// the kernel into a keeper).
fn fork_rows(pre: &[(&str, &str)]) {
    const SHELLS: usize = 10;
    let sh =
        |cmd: &str| format!("for r in $(seq {RUNS}); do time (for i in $(seq {SHELLS}); do sh -c '{cmd}'; done); done");
    // A shell that wrote to `dir` first, then runs children that never
    // touch a kernel: under the library, each is a process of the keeper
    // the shell's first fork started.
    let children = |dir: &str| {
        format!(
            "echo x > {dir}/rumpbench-k\nfor r in $(seq {RUNS}); do time (for i in $(seq {SHELLS}); do /bin/true; done); done"
        )
    };
    let mut best = [f64::INFINITY; 6];
    // Alternating rounds, so a change in the machine's load hits all alike.
    for _ in 0..3 {
        best[0] = best[0].min(best_ms(&sh("/bin/true"), &[]));
        best[1] = best[1].min(best_ms(&sh("/bin/true"), pre));
        best[2] = best[2].min(best_ms(&sh("ls /dev/shm > /dev/null; /bin/true"), &[]));
        best[3] = best[3].min(best_ms(&sh("ls /rump > /dev/null; /bin/true"), pre));
        best[4] = best[4].min(best_ms(&children("/dev/shm"), &[]));
        best[5] = best[5].min(best_ms(&children("/rump"), pre));
    }
    let _ = std::fs::remove_file("/dev/shm/rumpbench-k");
    let per = |ms: f64| ms / SHELLS as f64;
    println!();
    row("sh -c '/bin/true', library loaded", per(best[1]), "without", per(best[0]), "ms", "");
    row("sh -c 'ls /rump; /bin/true' (starts a keeper)", per(best[3]), "ls /dev/shm", per(best[2]), "ms", "");
    row("a keeper's shell runs /bin/true", per(best[5]), "without", per(best[4]), "ms", "");

    let me = std::env::current_exe().unwrap();
    let first_fork = |touch: &str, env: &[(&str, &str)]| -> [f64; 2] {
        let mut cmd = Command::new(&me);
        cmd.env("RUMPBENCH_ROLE", "forks").arg(touch).env_remove("LD_PRELOAD").env_remove("RUMP_SERVER");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("forks");
        let ms: Vec<f64> =
            String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|w| w.parse().ok()).collect();
        assert_eq!(ms.len(), 2, "fork timings");
        [ms[0], ms[1]]
    };
    let mut best = [[f64::INFINITY; 2]; 3];
    for _ in 0..3 * RUNS {
        for (b, (touch, env)) in best.iter_mut().zip([("-", &[][..]), ("-", pre), ("/rump", pre)]) {
            let t = first_fork(touch, env);
            *b = [b[0].min(t[0]), b[1].min(t[1])];
        }
    }
    let [plain, untouched, touched] = best;
    row(
        "first fork, library loaded, kernel untouched",
        untouched[0],
        "without",
        plain[0],
        "ms",
        "(target: +1 ms at most)",
    );
    row("first fork after touching /rump (keeper)", touched[0], "without", plain[0], "ms", "(target: +1 ms at most)");
    row("same, until the child has run and been reaped", touched[1], "without", plain[1], "ms", "");
}

/// Real tools on /rump (the embedded default: the shell's children share
/// the tree's keeper) against /dev/shm; the setup is not timed.
fn tool_rows(pre: &[(&str, &str)]) {
    let host_dir = format!("/dev/shm/rumpbench-tools-{}", std::process::id());
    // Files an hour old: git's index is then never racily clean (a file
    // changed in the second the index was written is read again by every
    // status, which made the host's figure move fivefold between runs).
    let files = |d: &str, n: usize, per_dir: usize| {
        format!(
            "python3 -c 'import os,sys,time\nt=time.time()-3600\nfor i in range({n}):\n  p=os.path.join(sys.argv[1],\"d%d\" % (i//{per_dir}))\n  os.makedirs(p,exist_ok=True)\n  f=os.path.join(p,\"f%d.txt\" % i)\n  open(f,\"w\").write(\"line %d\\n\" % i * 20)\n  os.utime(f,(t,t))' {d}\n"
        )
    };
    let git = |d: &str| {
        format!(
            "set -e\nmkdir -p {d}/repo; cd {d}/repo\n{}git init -q .; git add -A\ngit -c user.name=b -c user.email=b@b commit -qm init\necho changed > d0/f0.txt; git status --porcelain > /dev/null\n{}",
            files(".", GIT_FILES, 50),
            repeat("git status --porcelain > /dev/null")
        )
    };
    let archive = format!("/dev/shm/rumpbench-tar-{}.tar", std::process::id());
    let src = format!("/dev/shm/rumpbench-tarsrc-{}", std::process::id());
    let made = Command::new("bash")
        .arg("-c")
        .arg(format!("set -e\nmkdir -p {src}\n{}tar cf {archive} -C {src} .", files(&src, TAR_FILES, 100)))
        .status();
    assert!(made.is_ok_and(|s| s.success()), "making the tar archive");
    let _ = std::fs::remove_dir_all(&src);
    let tar = |d: &str| {
        format!(
            "set -e\nmkdir -p {d}\nfor i in $(seq {RUNS}); do rm -rf {d}/x; mkdir {d}/x; time tar xf {archive} -C {d}/x; done"
        )
    };
    let make = |d: &str| {
        let mut sources = String::new();
        for i in 0..MAKE_FILES {
            sources += &format!("printf 'int f{i}(int x) {{ return x * {i} + 1; }}\\n' > f{i}.c\n");
        }
        format!(
            "set -e\nmkdir -p {d}/mk; cd {d}/mk\n{sources}printf 'int main(void) {{ return 0; }}\\n' > main.c\nprintf 'OBJS := $(patsubst %%.c,%%.o,$(wildcard *.c))\\nprog: $(OBJS)\\n\\t$(CC) -o $@ $(OBJS)\\n%%.o: %%.c\\n\\t$(CC) -O2 -c -o $@ $<\\nclean:\\n\\trm -f prog *.o\\n' > Makefile\nfor i in $(seq {RUNS}); do make -s clean; time make -s -j2; done"
        )
    };
    let rump_dir = "/rump/tools";
    println!();
    for (what, script) in [
        (format!("git status, {GIT_FILES}-file repository"), &git as &dyn Fn(&str) -> String),
        (format!("tar xf, {TAR_FILES}-file archive"), &tar),
        (format!("make -j2, {MAKE_FILES}-file C project"), &make),
    ] {
        let host = best_ms(&script(&host_dir), &[]);
        let _ = std::fs::remove_dir_all(&host_dir);
        let rump = best_ms(&script(rump_dir), pre);
        row(&format!("{what}, /rump (keeper)"), rump, "/dev/shm", host, "ms", "");
    }
    let _ = std::fs::remove_file(&archive);
}

/// The child of the read benchmark: ns per 4 KiB pread of a /dev/shm file.
fn readloop() {
    const N: usize = 200_000;
    let path = format!("/dev/shm/rumpbench-read-{}", std::process::id());
    std::fs::write(&path, vec![1u8; 4096]).unwrap();
    let f = std::fs::File::open(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let mut buf = [0u8; 4096];
    let t = Instant::now();
    for _ in 0..N {
        // SAFETY: a buffer of 4096 bytes.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        assert_eq!(n, 4096);
    }
    println!("{:.1}", t.elapsed().as_nanos() as f64 / N as f64);
}

/// The child of the fork benchmark: stats the path in its argument (`-`:
/// none), then prints the ms its first fork takes to return, and until the
/// child (which exits at once) has been reaped.
fn forks() {
    let touch = std::env::args().nth(1).unwrap_or_default();
    if touch != "-" {
        let _ = std::fs::metadata(&touch);
    }
    let t = Instant::now();
    // SAFETY: the child only exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: leaving the child at once.
        unsafe { libc::_exit(0) };
    }
    let returned = t.elapsed();
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!("{:.3} {:.3}", ms(returned), ms(t.elapsed()));
}

/// The child of the path benchmark: ns per stat of a /dev/shm file.
fn statloop() {
    const N: usize = 200_000;
    let path = format!("/dev/shm/rumpbench-stat-{}", std::process::id());
    std::fs::write(&path, b"x").unwrap();
    let c = std::ffi::CString::new(path.clone()).unwrap();
    // SAFETY: a zeroed stat buffer for stat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let t = Instant::now();
    for _ in 0..N {
        // SAFETY: a NUL-terminated path and a stat buffer.
        assert_eq!(unsafe { libc::stat(c.as_ptr(), &mut st) }, 0);
    }
    let ns = t.elapsed().as_nanos() as f64 / N as f64;
    let _ = std::fs::remove_file(&path);
    println!("{ns:.1}");
}
