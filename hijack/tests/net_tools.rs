//! Unmodified network tools against rump kernels' own stacks, as a user
//! runs them: net-tools `ifconfig`, `route`, `netstat`, procps `sysctl`,
//! iputils `ping`, OpenBSD `nc`, `curl` and `python3 -m http.server`, each
//! with the hijack library preloaded and `RUMP_SERVER` naming a real
//! rump_server. Kernels are joined by shmif bus files; `rumpctl dumpbus`
//! and `tcpdump -r` show what crossed a bus.
//!
//! Tools the machine lacks make their test fail with the package to
//! install (.ci/run installs them), not pass quietly.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{build_dir, library, Server};

fn tool(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed: apt-get install {package}");
}

/// A command run against the kernel at `url` through the hijack library.
fn hijacked(url: &str, prog: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(prog);
    c.args(args).env("LD_PRELOAD", library()).env("RUMP_SERVER", url).env_remove("RUMPHIJACK");
    c
}

fn run(url: &str, prog: &Path, args: &[&str]) -> Output {
    let out = hijacked(url, prog, args).stdin(Stdio::null()).output().expect("run tool");
    println!(
        "$ {} {}\n{}{}[{}]",
        prog.display(),
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status
    );
    out
}

fn ok(url: &str, prog: &Path, args: &[&str]) -> String {
    let out = run(url, prog, args);
    assert!(out.status.success(), "{} {} failed", prog.display(), args.join(" "));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rumpctl(args: &[&str]) -> Output {
    Command::new(build_dir().join("rumpctl")).args(args).env_remove("LD_PRELOAD").output().expect("rumpctl")
}

/// A directory for bus files and transfers.
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rump-net-{tag}-{}-{}", std::process::id(), support::rand_tag()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A server with `ifs` ("shmif0" on bus "bus1", ...) attached at start-up.
fn server(dir: &Path, ifs: &[(&str, &str)]) -> Server {
    let specs: Vec<String> = ifs.iter().map(|(i, b)| format!("{i} create linkstr {}", dir.join(b).display())).collect();
    let mut args = Vec::new();
    for s in &specs {
        args.push("-i");
        args.push(s.as_str());
    }
    Server::start_with(&args)
}

fn ifconfig() -> PathBuf {
    tool("ifconfig", "net-tools")
}

fn set_addr(url: &str, ifname: &str, addr: &str, mask: &str) {
    ok(url, &ifconfig(), &[ifname, addr, "netmask", mask, "up"]);
}

#[test]
fn one_kernel_ifconfig_route_netstat_sysctl() {
    let dir = scratch("one");
    let s = server(&dir, &[("shmif0", "bus1")]);
    let url = s.url.clone();
    let all = ok(&url, &ifconfig(), &["-a"]);
    assert!(all.contains("lo0: flags=73<UP,LOOPBACK,RUNNING>"), "lo0 is up: {all}");
    assert!(all.contains("inet 127.0.0.1  netmask 255.0.0.0"));
    assert!(all.contains("shmif0: flags="));
    // Only the kernel's interfaces: the host's loopback is `lo`, not `lo0`.
    assert!(!all.lines().any(|l| l.starts_with("lo:") || l.starts_with("eth")), "host interfaces leaked: {all}");

    set_addr(&url, "shmif0", "10.0.0.1", "255.255.255.0");
    let one = ok(&url, &ifconfig(), &["shmif0"]);
    assert!(one.contains("shmif0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500"), "{one}");
    assert!(one.contains("inet 10.0.0.1  netmask 255.255.255.0  broadcast 10.0.0.255"), "{one}");
    assert!(one.contains("ether b2:a0:"), "shmif MAC: {one}");

    let route = tool("route", "net-tools");
    let table = ok(&url, &route, &["-n"]);
    assert!(
        table.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["10.0.0.0", "0.0.0.0", "255.255.255.0", "U", "0", "0", "0", "shmif0"]),
        "{table}"
    );
    ok(&url, &route, &["add", "-net", "10.9.0.0", "netmask", "255.255.0.0", "gw", "10.0.0.254"]);
    let table = ok(&url, &route, &["-n"]);
    assert!(
        table.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["10.9.0.0", "10.0.0.254", "255.255.0.0", "UG", "0", "0", "0", "shmif0"]),
        "{table}"
    );
    let ns = ok(&url, &tool("netstat", "net-tools"), &["-rn"]);
    assert!(ns.lines().any(|l| l.starts_with("10.9.0.0") && l.contains("10.0.0.254") && l.ends_with("shmif0")), "{ns}");
    // An unreachable gateway is refused, as Linux refuses it.
    let bad = run(&url, &route, &["add", "-net", "10.8.0.0", "netmask", "255.255.0.0", "gw", "192.168.7.1"]);
    assert!(!bad.status.success());

    ok(&url, &tool("sysctl", "procps"), &["-w", "net.ipv4.ip_forward=1"]);
    let mib = rumpctl(&["sysctl", "-s", &url, "net.inet.ip.forwarding"]);
    assert_eq!(String::from_utf8_lossy(&mib.stdout).trim(), "net.inet.ip.forwarding = 1");
    s.halt().unwrap();
}

/// Waits until `port` on `host` accepts in the kernel at `url`
/// (a server started in the background is listening).
fn wait_listening(url: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let hex = format!(":{port:04X} ");
    while Instant::now() < deadline {
        let out = hijacked(url, Path::new("/bin/cat"), &["/proc/net/tcp", "/proc/net/tcp6"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if text.lines().any(|l| l.contains(&hex) && l.split_whitespace().nth(3) == Some("0A")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on port {port} in {url}");
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_string()
}

fn big_file(path: &Path, len: usize) {
    let mut f = std::fs::File::create(path).unwrap();
    let mut x: u32 = 12345;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    f.write_all(&data).unwrap();
}

fn wait_child(mut c: Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            panic!("{what} did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_kernels_on_a_bus_ping_nc_curl() {
    let dir = scratch("two");
    let a = server(&dir, &[("shmif0", "bus1")]);
    let b = server(&dir, &[("shmif0", "bus1")]);
    set_addr(&a.url, "shmif0", "10.0.0.1", "255.255.255.0");
    set_addr(&b.url, "shmif0", "10.0.0.2", "255.255.255.0");

    let ping = tool("ping", "iputils-ping");
    let out = ok(&a.url, &ping, &["-c", "3", "-i", "0.2", "10.0.0.2"]);
    assert!(out.contains("3 packets transmitted, 3 received, 0% packet loss"), "{out}");

    // The bus shows the ARP exchange and the echoes.
    let pcap = dir.join("bus1.pcap");
    let d = rumpctl(&["dumpbus", "-o", pcap.to_str().unwrap(), dir.join("bus1").to_str().unwrap()]);
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
    let td = Command::new(tool("tcpdump", "tcpdump")).args(["-n", "-r"]).arg(&pcap).output().unwrap();
    let text = String::from_utf8_lossy(&td.stdout);
    println!("{text}");
    assert!(text.contains("ARP, Request who-has 10.0.0.2 tell 10.0.0.1"), "{text}");
    assert!(text.contains("ARP, Reply 10.0.0.2 is-at"), "{text}");
    assert!(text.contains("10.0.0.1 > 10.0.0.2: ICMP echo request"), "{text}");
    assert!(text.contains("10.0.0.2 > 10.0.0.1: ICMP echo reply"), "{text}");

    // nc moves 10 MiB from A to B intact.
    let nc = tool("nc", "netcat-openbsd");
    let src = dir.join("src.bin");
    let dst = dir.join("dst.bin");
    big_file(&src, 10 << 20);
    let listener = hijacked(&b.url, &nc, &["-l", "5000"])
        .stdout(std::fs::File::create(&dst).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(&b.url, 5000);
    let sender =
        hijacked(&a.url, &nc, &["-N", "10.0.0.2", "5000"]).stdin(std::fs::File::open(&src).unwrap()).spawn().unwrap();
    assert!(wait_child(sender, "nc (sending)").success());
    assert!(wait_child(listener, "nc -l").success());
    assert_eq!(sha256(&dst), sha256(&src), "the file crossed the bus intact");

    // python3 -m http.server on B serves curl on A.
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("hello.txt"), "hello over a rump stack\n").unwrap();
    let mut http = hijacked(&b.url, Path::new("/usr/bin/python3"), &["-m", "http.server", "8000", "--bind", "0.0.0.0"])
        .current_dir(&www)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(&b.url, 8000);
    let page = ok(&a.url, &tool("curl", "curl"), &["-s", "--max-time", "20", "http://10.0.0.2:8000/hello.txt"]);
    let _ = http.kill();
    let _ = http.wait();
    assert_eq!(page, "hello over a rump stack\n");
    a.halt().unwrap();
    b.halt().unwrap();
}

#[test]
fn a_router_between_two_buses_forwards_only_when_told() {
    let dir = scratch("fwd");
    let a = server(&dir, &[("shmif0", "bus1")]);
    let r = server(&dir, &[("shmif0", "bus1"), ("shmif1", "bus2")]);
    let b = server(&dir, &[("shmif0", "bus2")]);
    set_addr(&a.url, "shmif0", "10.0.1.2", "255.255.255.0");
    set_addr(&r.url, "shmif0", "10.0.1.1", "255.255.255.0");
    set_addr(&r.url, "shmif1", "10.0.2.1", "255.255.255.0");
    set_addr(&b.url, "shmif0", "10.0.2.2", "255.255.255.0");
    let route = tool("route", "net-tools");
    ok(&a.url, &route, &["add", "default", "gw", "10.0.1.1"]);
    ok(&b.url, &route, &["add", "default", "gw", "10.0.2.1"]);
    let ping = tool("ping", "iputils-ping");
    let sysctl = tool("sysctl", "procps");

    ok(&r.url, &sysctl, &["-w", "net.ipv4.ip_forward=0"]);
    let off = run(&a.url, &ping, &["-c", "2", "-i", "0.2", "-W", "1", "10.0.2.2"]);
    assert!(!off.status.success(), "no forwarding: the ping fails");

    ok(&r.url, &sysctl, &["-w", "net.ipv4.ip_forward=1"]);
    let on = ok(&a.url, &ping, &["-c", "2", "-i", "0.2", "10.0.2.2"]);
    assert!(on.contains("2 received"), "{on}");

    let ttl1 = run(&a.url, &ping, &["-c", "1", "-t", "1", "-W", "2", "10.0.2.2"]);
    let text = String::from_utf8_lossy(&ttl1.stdout);
    assert!(text.contains("From 10.0.1.1 icmp_seq=1 Time to live exceeded"), "{text}");

    // TCP through the router.
    let nc = tool("nc", "netcat-openbsd");
    let src = dir.join("src.bin");
    let dst = dir.join("dst.bin");
    big_file(&src, 1 << 20);
    let listener = hijacked(&b.url, &nc, &["-l", "5001"]).stdout(std::fs::File::create(&dst).unwrap()).spawn().unwrap();
    wait_listening(&b.url, 5001);
    let sender =
        hijacked(&a.url, &nc, &["-N", "10.0.2.2", "5001"]).stdin(std::fs::File::open(&src).unwrap()).spawn().unwrap();
    assert!(wait_child(sender, "nc through the router").success());
    assert!(wait_child(listener, "nc -l behind the router").success());
    assert_eq!(sha256(&dst), sha256(&src));
    for s in [a, r, b] {
        s.halt().unwrap();
    }
}

/// The link-local address of `ifname` in the kernel at `url`, from
/// /proc/net/if_inet6 as the tools read it.
fn link_local(url: &str, ifname: &str) -> String {
    let text = ok(url, Path::new("/bin/cat"), &["/proc/net/if_inet6"]);
    let hex = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() == 6 && f[5] == ifname && f[0].starts_with("fe80"))
        .map(|f| f[0].to_string())
        .expect("a link-local address");
    let groups: Vec<String> = (0..8).map(|i| hex[4 * i..4 * i + 4].to_string()).collect();
    let addr: std::net::Ipv6Addr = groups.join(":").parse().unwrap();
    addr.to_string()
}

#[test]
fn ipv6_ping_and_nc_with_link_local_and_global_addresses() {
    let dir = scratch("six");
    let a = server(&dir, &[("shmif0", "bus1")]);
    let b = server(&dir, &[("shmif0", "bus1")]);
    ok(&a.url, &ifconfig(), &["shmif0", "up"]);
    ok(&b.url, &ifconfig(), &["shmif0", "up"]);
    ok(&a.url, &ifconfig(), &["shmif0", "add", "2001:db8::1/64"]);
    ok(&b.url, &ifconfig(), &["shmif0", "add", "2001:db8::2/64"]);
    let shown = ok(&a.url, &ifconfig(), &["shmif0"]);
    assert!(shown.contains("inet6 2001:db8::1  prefixlen 64  scopeid 0x0<global>"), "{shown}");
    assert!(shown.contains("scopeid 0x20<link>"), "{shown}");

    let ping = tool("ping", "iputils-ping");
    let out = ok(&a.url, &ping, &["-6", "-c", "2", "-i", "0.2", "2001:db8::2"]);
    assert!(out.contains("2 received"), "{out}");
    let ll = format!("{}%shmif0", link_local(&b.url, "shmif0"));
    let out = ok(&a.url, &ping, &["-6", "-c", "2", "-i", "0.2", &ll]);
    assert!(out.contains("2 received"), "{out}");

    let nc = tool("nc", "netcat-openbsd");
    for (port, target) in [("6000", "2001:db8::2".to_string()), ("6001", ll.clone())] {
        let src = dir.join(format!("src{port}"));
        let dst = dir.join(format!("dst{port}"));
        big_file(&src, 1 << 20);
        let listener =
            hijacked(&b.url, &nc, &["-6", "-l", port]).stdout(std::fs::File::create(&dst).unwrap()).spawn().unwrap();
        wait_listening(&b.url, port.parse().unwrap());
        let sender = hijacked(&a.url, &nc, &["-6", "-N", &target, port])
            .stdin(std::fs::File::open(&src).unwrap())
            .spawn()
            .unwrap();
        assert!(wait_child(sender, "nc -6").success());
        assert!(wait_child(listener, "nc -6 -l").success());
        assert_eq!(sha256(&dst), sha256(&src), "1 MiB over IPv6 to {target}");
    }
    a.halt().unwrap();
    b.halt().unwrap();
}
