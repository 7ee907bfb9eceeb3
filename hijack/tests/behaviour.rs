//! What a user of the library relies on beyond single tools: the
//! configuration is checked before `main`, a kernel outlives the process
//! that wrote to it (a keeper in-process, a server remotely), and the host
//! and rump kernels never see each other's fds or directories, and raw
//! syscalls are caught unless `syscalls=libc` opts out.

mod support;

use std::process::{Command, Output, Stdio};
use support::{library, Server};

fn hijacked(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..]).env_remove("RUMP_SERVER").env_remove("RUMPHIJACK");
    cmd.env("LD_PRELOAD", library());
    for (k, v) in env {
        cmd.env(k, v);
    }
    // A call that slipped through to the host would create the host's
    // /rump; the results could then look right for the wrong reason.
    let existed = std::path::Path::new("/rump").exists();
    let out = cmd.stdin(Stdio::null()).output().expect("spawn");
    assert!(existed || !std::path::Path::new("/rump").exists(), "{args:?} reached the host's /rump");
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn bad_configuration_stops_before_main() {
    for (spec, needle) in [
        ("bogus=1", "unknown key 'bogus'"),
        ("path=rump", "'path=rump'"),
        ("fdoff=1", "'fdoff=1'"),
        ("socket=inet:carrier-pigeon", "unknown name 'carrier-pigeon'"),
    ] {
        let o = hijacked(&["/bin/echo", "main ran"], &[("RUMPHIJACK", spec)]);
        assert_eq!(o.status.code(), Some(1), "{spec}");
        assert!(stdout(&o).is_empty(), "{spec}: main ran");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("rumphijack: RUMPHIJACK: ") && err.contains(needle), "{spec}: {err}");
        assert_eq!(err.lines().count(), 1, "{spec}: {err}");
    }
    let o = hijacked(&["/bin/echo", "ok"], &[("RUMPHIJACK_RETRYCONNECT", "sometimes")]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn in_process_kernel_outlives_fork_and_exec() {
    for sh in ["dash", "bash"] {
        let o = hijacked(&[sh, "-c", "echo hi > /rump/x; cat /rump/x"], &[]);
        assert_eq!(stdout(&o), "hi\n", "{sh}: {o:?}");
        // The last command is exec'd without a fork.
        let o = hijacked(&[sh, "-c", "echo there > /rump/y; exec cat /rump/y"], &[]);
        assert_eq!(stdout(&o), "there\n", "{sh}: {o:?}");
    }
}

/// The `rump-keeper.*` directories under `tmp`, after waiting up to 2 s
/// for them to go when `gone` is asked for.
fn keeper_dirs(tmp: &std::path::Path, gone: bool) -> Vec<String> {
    let list = || -> Vec<String> {
        std::fs::read_dir(tmp)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("rump-keeper."))
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while gone && !list().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    list()
}

/// A shell that forks before touching a kernel starts none; its children
/// share the keeper the first of them to touch /rump starts, across exec,
/// after that child has exited, and from a background job outliving the
/// shell; the keeper goes when the last of them has.
#[test]
fn a_tree_shares_the_kernel_its_first_user_starts() {
    let tmp = std::env::temp_dir().join(format!("rumptree-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let env = [("TMPDIR", tmp.to_str().unwrap())];
    for sh in ["dash", "bash"] {
        let o = hijacked(&[sh, "-c", "/bin/true; /bin/true; ls /tmp > /dev/null"], &env);
        assert!(o.status.success(), "{sh}: {o:?}");
        assert_eq!(keeper_dirs(&tmp, false), Vec::<String>::new(), "{sh}: a keeper nobody used");

        let script = "cp /etc/hostname /rump/x; cat /rump/x > /dev/null && echo shared; \
                      exec sh -c 'mkdir /rump/d; ls -d /rump/d /rump/x; (sleep 0.3; cat /rump/d/late) & echo late > /rump/d/late'";
        let o = hijacked(&[sh, "-c", script], &env);
        assert_eq!(stdout(&o), "shared\n/rump/d\n/rump/x\nlate\n", "{sh}: {o:?}");
        assert_eq!(keeper_dirs(&tmp, true), Vec::<String>::new(), "{sh}: the keeper outlived its tree");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn separate_processes_share_a_remote_kernel() {
    let server = Server::start();
    let env = [("RUMP_SERVER", server.url.as_str())];
    let o = hijacked(&["sh", "-c", "mkdir -p /rump/data && echo persisted > /rump/data/f"], &env);
    assert!(o.status.success(), "{o:?}");
    let o = hijacked(&["cat", "/rump/data/f"], &env);
    assert_eq!(stdout(&o), "persisted\n", "{o:?}");
    // Without the server the same path is another (empty) kernel.
    let o = hijacked(&["cat", "/rump/data/f"], &[]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn host_and_rump_fds_interleaved_stay_apart() {
    let host = std::env::temp_dir().join(format!("rumptest-fds-{}", std::process::id()));
    std::fs::create_dir_all(&host).unwrap();
    let prog = r#"
import os, sys
host = sys.argv[1]
os.mkdir("/rump/fds")
fds = []
for i in range(300):
    for kind, d in (("host", host), ("rump", "/rump/fds")):
        fd = os.open(f"{d}/{i}", os.O_CREAT | os.O_RDWR, 0o600)
        os.write(fd, f"{kind} {i}\n".encode())
        fds.append((kind, i, fd))
bad = 0
for kind, i, fd in fds:
    os.lseek(fd, 0, 0)
    if os.read(fd, 100) != f"{kind} {i}\n".encode():
        bad += 1
for _, _, fd in fds:
    os.close(fd)
print(len(fds), "fds,", bad, "wrong;", len(os.listdir(host)), "host files,", len(os.listdir("/rump/fds")), "rump files")
"#;
    let o = hijacked(&["python3", "-c", prog, host.to_str().unwrap()], &[]);
    let _ = std::fs::remove_dir_all(&host);
    assert_eq!(stdout(&o), "600 fds, 0 wrong; 300 host files, 300 rump files\n", "{o:?}");
}

#[test]
fn dotdot_above_the_kernel_root_is_the_host_root() {
    // `..` leaves the kernel as it leaves a mount: from /rump it is the
    // host's /, whose names the kernel's root does not have (its /proc is
    // its own network views, not the host's).
    let prog = r#"
import os
root, host = sorted(os.listdir("/rump")), sorted(os.listdir("/"))
os.chdir("/rump")
for _ in range(5):
    os.chdir("..")
print(os.getcwd(), sorted(os.listdir(".")) == host, sorted(os.listdir("/rump/../../..")) == host)
os.chdir("/rump/..")
print(os.getcwd(), sorted(os.listdir("rump/..")) == host, sorted(os.listdir("rump")) == root)
print([n for n in ("etc", "usr", "bin", "home") if n in root])
"#;
    let o = hijacked(&["python3", "-c", prog], &[]);
    assert_eq!(stdout(&o), "/ True True\n/ True True\n[]\n", "{o:?}");
    let o = hijacked(&["ls", "-a", "/rump"], &[]);
    let names: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert!(o.status.success() && !names.contains(&"etc") && !names.contains(&"usr"), "{o:?}");
}

/// Writes a page to /rump/m, then maps it shared twice and privately
/// once, printing what each mapping gave.
const MAP_THREE_WAYS: &str = "
import errno, mmap, os
fd = os.open('/rump/m', os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b'abc' + bytes(4093))
for _ in range(2):
    try:
        m = mmap.mmap(fd, 0)
        m[0:3] = b'xyz'
        print('shared', bytes(m[0:3]), os.pread(fd, 3, 0))
    except OSError as e:
        print('shared', errno.errorcode[e.errno])
m = mmap.mmap(fd, 0, flags=mmap.MAP_PRIVATE)
print('private', bytes(m[0:3]))
";

/// The interpreter `python3` names, not a wrapper script in front of it.
fn python3() -> String {
    let o = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().expect("python3 runs");
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

#[test]
fn shared_mappings_need_a_connection_that_carries_descriptors() {
    let python = python3();
    // Over a unix socket the mapping is the file.
    let server = Server::start();
    let o = hijacked(&[&python, "-c", MAP_THREE_WAYS], &[("RUMP_SERVER", server.url.as_str())]);
    assert_eq!(
        stdout(&o),
        "shared b'xyz' b'xyz'\nshared b'xyz' b'xyz'\nprivate b'xyz'\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Over TCP no memory can be shared: ENODEV, said once in the log;
    // a private mapping is still a copy of the file.
    // (Sockets stay on the host: with inet hijacked, the client's own
    // connect would come back to the library.)
    let server = Server::start_tcp();
    let env = [("RUMP_SERVER", server.url.as_str()), ("RUMPHIJACK", "path=/rump")];
    let o = hijacked(&[&python, "-c", MAP_THREE_WAYS], &env);
    assert_eq!(stdout(&o), "shared ENODEV\nshared ENODEV\nprivate b'abc'\n", "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("MAP_SHARED") && err.contains("tcp://"), "{err}");
}

/// A raw `syscall(SYS_openat, ...)` on /rump reaches the kernel by default
/// (Syscall User Dispatch) and the host with `syscalls=libc`, where only
/// libc's functions are hooked.
#[test]
fn raw_syscalls_are_caught_unless_opted_out() {
    let script = "import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(257, -100, b'/rump/raw', os.O_CREAT | os.O_WRONLY, 0o644)
print(fd >= 0, 0 if fd >= 0 else ctypes.get_errno())
print(os.path.exists('/rump/raw'))";
    let py = python3();
    let on = hijacked(&[&py, "-c", script], &[]);
    assert_eq!(stdout(&on), "True 0\nTrue\n", "{on:?}");
    let off = hijacked(&[&py, "-c", script], &[("RUMPHIJACK", "path=/rump,syscalls=libc")]);
    assert_eq!(stdout(&off), format!("False {}\nFalse\n", libc::ENOENT), "{off:?}");
}
