//! Costs of catching raw syscalls, each beside its baseline in the same
//! run: the kernel's own share of dispatch (an allowed `getppid` on a
//! thread armed by the program itself, no library, against the same
//! unarmed); a raw `getppid` and a raw 4 KiB `pread` on a host fd through
//! libc's `syscall()` (the library's function) in a process not armed
//! and in one armed (`syscalls=all`); through an inline site under
//! `syscalls=auto` (the `pread` site rewritten ahead, the `getppid` one
//! left as it is: the process is not armed), under `syscalls=all`
//! (armed, each site rewritten after its first catch) and with
//! `rewrite=no` (armed, a signal each), against the same program without
//! the library; libc's `pread` in an armed process (the slow entry path
//! every call of it pays); the first inline call's cost in an armed
//! process (a signal and the rewrite); a raw `pread` on a rump fd against
//! libc's (hooked) `pread` on the same; starting `/bin/true` with and
//! without the library; an inline `pread` on a host fd and an inline
//! `newfstatat` of a host path (both rewritten, armed) on a thread made by
//! a raw clone against the same on a pthread; a Go program's `os.ReadFile` of 4 KiB on /rump:
//! static under `rumpctl run` (the seccomp supervisor) and dynamic (cgo)
//! under the library (armed; the `syscall` package's calls leave by the
//! rewritten `Syscall6`, those on /rump to the router on the thread's
//! library stack, a thread's first one by a signal), against
//! /dev/shm, and the same dynamic program on /dev/shm with the library
//! (host calls through the rewritten `Syscall6`). The loops are `sud_prog.c` and
//! `sud_readfile.go`, compiled here with `cc` and `go`; host-only loops
//! are timed in the thread's CPU time, so the machine's other load does
//! not count. Run with `cargo bench -p rump-hijack --bench sud` after a
//! release build of the workspace (rumpctl).

use std::path::{Path, PathBuf};
use std::process::Command;

const CALLS: &str = "200000";

fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary path");
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

/// Runs `cmd` with `env` (no library unless it says so) once and returns
/// the number it prints.
fn once(cmd: &[&str], env: &[(&str, &str)]) -> f64 {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .env_remove("LD_PRELOAD")
        .env_remove("RUMP_SERVER")
        .envs(env.iter().copied())
        .output()
        .expect("run");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse::<f64>().expect("a number")
}

/// `cmd` with `env`, best of five.
fn best(cmd: &[&str], env: &[(&str, &str)]) -> f64 {
    (0..5).map(|_| once(cmd, env)).fold(f64::INFINITY, f64::min)
}

/// Two measures taken in alternating rounds (so a change in the
/// machine's load hits both alike), best of seven each.
fn pair(a: (&[&str], &[(&str, &str)]), b: (&[&str], &[(&str, &str)])) -> (f64, f64) {
    (0..7).fold((f64::INFINITY, f64::INFINITY), |(x, y), _| (x.min(once(a.0, a.1)), y.min(once(b.0, b.1))))
}

fn row(what: &str, v: f64, base: &str, b: f64, unit: &str) {
    println!("{what:<48} {v:>10.1} {unit}   {base:<34} {b:>10.1} {unit}   ratio {:.2}", v / b);
}

/// Compiles `benches/sud_prog.c` (with `flags`) to a temporary file.
fn compile(name: &str, flags: &[&str]) -> String {
    let out = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sud_prog.c");
    let ok = Command::new("cc").args(["-O2"]).args(flags).arg("-o").arg(&out).arg(&src).status();
    assert!(ok.is_ok_and(|s| s.success()), "compiling {}", src.display());
    out.to_str().expect("UTF-8 path").to_owned()
}

fn main() {
    let dir = build_dir();
    let lib = dir.join("librumphijack.so");
    assert!(lib.exists(), "{} is missing", lib.display());
    let lib = lib.to_str().expect("UTF-8 path");
    // `plain` has no syscall instruction of its own (syscalls=auto leaves
    // it unarmed); `inline` has glibc-form sites (auto arms it).
    let plain = compile("sud_prog", &[]);
    let inline = compile("sud_prog_inline", &["-DINLINE_SITES"]);
    let shm = format!("/dev/shm/sud-bench-{}", std::process::id());
    let auto = [("LD_PRELOAD", lib)];
    let trap = [("LD_PRELOAD", lib), ("RUMPHIJACK", "path=/rump,socket=all:nolocal,syscalls=auto,rewrite=no")];
    let all = [("LD_PRELOAD", lib), ("RUMPHIJACK", "path=/rump,socket=all:nolocal,syscalls=all")];

    // Each row: the measure and its baseline in alternating rounds.
    let versus =
        |what: &str, run: (&str, &str, &str, &[(&str, &str)]), base: &str, b: (&str, &str, &str, &[(&str, &str)])| {
            let (v, w) = pair((&[run.0, run.1, run.2, CALLS], run.3), (&[b.0, b.1, b.2, CALLS], b.3));
            row(what, v, base, w, "ns");
        };
    let same = |what: &str, prog: &str, mode: &str, path: &str, env: &[(&str, &str)]| {
        versus(what, (prog, mode, path, env), "no library", (prog, mode, path, &[]));
    };
    // The kernel's share: an allowed getppid while dispatch is armed on
    // the thread (by the program itself, no library), let through by the
    // range and by the selector, against the same call unarmed.
    let unarmed = "the same, not armed";
    versus(
        "getppid in the allowed range, armed (ns)",
        (&plain, "sud-range", "-", &[]),
        unarmed,
        (&plain, "getppid-range", "-", &[]),
    );
    versus(
        "getppid let through by the selector, armed",
        (&plain, "sud-selector", "-", &[]),
        unarmed,
        (&plain, "getppid-range", "-", &[]),
    );
    same("raw getppid, syscall(), not armed", &plain, "getppid", "-", &auto);
    same("raw getppid, syscall(), armed", &plain, "getppid", "-", &all);
    same("raw pread 4 KiB host fd, syscall(), not armed", &plain, "pread-raw", &shm, &auto);
    same("raw pread 4 KiB host fd, syscall(), armed", &plain, "pread-raw", &shm, &all);
    same("inline getppid site, auto (left as is)", &inline, "getppid-asm", "-", &auto);
    same("inline getppid site, armed, rewritten", &inline, "getppid-asm", "-", &all);
    same("inline getppid site, armed, rewrite=no", &inline, "getppid-asm", "-", &trap);
    same("inline pread 4 KiB host fd, auto (ahead)", &inline, "pread-asm", &shm, &auto);
    same("inline pread 4 KiB host fd, armed, rewritten", &inline, "pread-asm", &shm, &all);
    same("inline pread 4 KiB host fd, armed, rewrite=no", &inline, "pread-asm", &shm, &trap);
    same("libc pread 4 KiB host fd, armed process", &inline, "pread-libc", &shm, &all);
    let (first, bare) = pair((&[&inline, "first", "-", "1"], &all), (&[&inline, "first", "-", "1"], &[]));
    row("first inline getppid, armed (SIGSYS + rewrite)", first, "no library", bare, "ns");
    // Threads of a raw clone (`sud::foreign`): the same rewritten inline
    // calls on one against a pthread, in a process armed alike. A pread
    // on a host fd leaves by the gate's fd shortcut, which touches no
    // thread state; a newfstatat of a host path goes through the router,
    // entered on the thread's own TLS block.
    let threads = compile("sud_prog_threads", &["-DTHREADS"]);
    let pthread = "the same on a pthread";
    versus(
        "inline pread 4 KiB host fd, raw-clone thread",
        (&threads, "pread-raw-thread", &shm, &all),
        pthread,
        (&threads, "pread-pthread", &shm, &all),
    );
    versus(
        "inline newfstatat host path, raw-clone thread",
        (&threads, "stat-raw-thread", &shm, &all),
        pthread,
        (&threads, "stat-pthread", &shm, &all),
    );
    let _ = std::fs::remove_file(&threads);
    let hooked = "libc pread, hooked, rump fd";
    versus(
        "raw pread 4 KiB rump fd, syscall()",
        (&plain, "pread-raw", "/rump/b", &auto),
        hooked,
        (&plain, "pread-libc", "/rump/b", &auto),
    );
    versus(
        "inline pread 4 KiB rump fd, auto (ahead)",
        (&inline, "pread-asm", "/rump/b", &auto),
        hooked,
        (&inline, "pread-libc", "/rump/b", &auto),
    );
    let _ = std::fs::remove_file(&shm);
    let _ = std::fs::remove_file(&plain);
    let _ = std::fs::remove_file(&inline);

    // The loop's shell runs without the library; each /bin/true gets it.
    let start = |lib: &str, spec: Option<&str>| {
        let set = if spec.is_some() { "RUMPHIJACK=$BR" } else { "" };
        let script = format!(
            "s=$(date +%s%N); for i in $(seq 200); do LD_PRELOAD=$BL {set} /bin/true; done; \
             echo $(( ($(date +%s%N) - s) / 200000 ))"
        );
        (0..3)
            .map(|_| {
                let out = Command::new("bash")
                    .args(["-c", &script])
                    .env("BL", lib)
                    .env("BR", spec.unwrap_or(""))
                    .output()
                    .expect("bash");
                String::from_utf8_lossy(&out.stdout).trim().parse::<f64>().unwrap_or(f64::NAN)
            })
            .fold(f64::INFINITY, f64::min)
    };
    let bare = start("", None);
    row("/bin/true start, library, default (auto) (us)", start(lib, None), "no library", bare, "us");
    row(
        "/bin/true start, library, syscalls=all (us)",
        start(lib, Some("path=/rump,syscalls=all")),
        "no library",
        bare,
        "us",
    );
    row("/bin/true start, library, syscalls=libc (us)", start(lib, Some("path=/rump")), "no library", bare, "us");

    // Go: the same loop built static (for rumpctl run) and dynamic (cgo,
    // for the library).
    let go_build = |name: &str, cgo: &str, flags: &[&str]| {
        let out = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sud_readfile.go");
        let built = Command::new("go")
            .arg("build")
            .args(flags)
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .env("CGO_ENABLED", cgo)
            .env("GO111MODULE", "off")
            .status()
            .is_ok_and(|s| s.success());
        assert!(built, "go build {}", src.display());
        out.to_str().expect("UTF-8 path").to_owned()
    };
    let go = go_build("sud_readfile", "0", &[]);
    let go_dynamic = go_build("sud_readfile_dynamic", "1", &["-ldflags=-linkmode=external"]);
    let rumpctl = dir.join("rumpctl");
    let rumpctl = rumpctl.to_str().expect("UTF-8 path");
    let reads = "2000";
    let host = best(&[&go, &format!("{shm}-go"), reads], &[]);
    let rump = best(&[rumpctl, "run", "--", &go, "/rump/f", reads], &[]);
    row("Go os.ReadFile 4 KiB, /rump, static, rumpctl run", rump, "/dev/shm, no supervisor", host, "ns");
    let rump = best(&[&go_dynamic, "/rump/f", reads], &auto);
    let host = best(&[&go_dynamic, &format!("{shm}-go"), reads], &[]);
    row("Go os.ReadFile 4 KiB, /rump, dynamic, library", rump, "/dev/shm, no library", host, "ns");
    let shm_lib = best(&[&go_dynamic, &format!("{shm}-go"), reads], &auto);
    row("Go os.ReadFile 4 KiB, /dev/shm, dynamic, library", shm_lib, "/dev/shm, no library", host, "ns");
    let _ = std::fs::remove_file(&go);
    let _ = std::fs::remove_file(&go_dynamic);
}
