//! `rumpctl dumpbus`, run as a user would on buses written through the
//! kernel's shmif code: the listing, the pcap bytes, tcpdump reading them
//! (when installed), and files that are not buses.

use rump_kernel::net::shmif::{Bus, Snapshot, RECORD_HEADER_LEN};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A scratch directory, removed when dropped.
struct TmpDir(PathBuf);

impl TmpDir {
    fn new(tag: &str) -> TmpDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rump-dumpbus-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir(&p).unwrap();
        TmpDir(p)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rumpctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rumpctl")).args(args).output().expect("rumpctl runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const MAC_A: [u8; 6] = [0xb2, 0xa0, 0x00, 0x00, 0x00, 0x01];
const MAC_B: [u8; 6] = [0xb2, 0xa0, 0x00, 0x00, 0x00, 0x02];

fn ether(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An ARP request from 10.0.0.1 (MAC_A) for 10.0.0.2, built by hand.
fn arp_request() -> Vec<u8> {
    let mut p = vec![0, 1, 8, 0, 6, 4, 0, 1];
    p.extend_from_slice(&MAC_A);
    p.extend_from_slice(&[10, 0, 0, 1]);
    p.extend_from_slice(&[0; 6]);
    p.extend_from_slice(&[10, 0, 0, 2]);
    ether([0xff; 6], MAC_A, 0x0806, &p)
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in b.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request from 10.0.0.2 to 10.0.0.1, checksums included.
fn ping() -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    icmp.extend_from_slice(b"rump shmif bus!!");
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 7, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ether(MAC_A, MAC_B, 0x0800, &ip)
}

fn other() -> Vec<u8> {
    ether(MAC_B, MAC_A, 0x88b5, &(0..100u8).collect::<Vec<_>>())
}

/// (sender, sec, usec, frame) of the frames the tests put on a bus.
fn frames() -> Vec<(u64, u32, u32, Vec<u8>)> {
    vec![
        (0x1111_2222_3333_4444, 1_700_000_000, 123_456, arp_request()),
        (0x5555_6666_7777_8888, 1_700_000_001, 7, ping()),
        (0x1111_2222_3333_4444, 1_700_000_002, 999_999, other()),
    ]
}

fn make_bus(path: &Path) {
    let a = Bus::open(path).unwrap();
    let b = Bus::open(path).unwrap();
    for (i, (sender, sec, usec, f)) in frames().into_iter().enumerate() {
        let bus = if i % 2 == 0 { &a } else { &b };
        bus.send(sender, &f, sec, usec).unwrap();
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}

/// Checks a pcap file byte by byte against (sec, usec, frame) records.
fn check_pcap(pcap: &[u8], want: &[(u32, u32, Vec<u8>)]) {
    assert!(pcap.len() >= 24, "{} bytes", pcap.len());
    assert_eq!(u32_at(pcap, 0), 0xa1b2_c3d4);
    assert_eq!(&pcap[4..8], &[2, 0, 4, 0], "version 2.4");
    assert_eq!(&pcap[8..16], &[0; 8]);
    assert!(u32_at(pcap, 16) >= 1514, "snaplen");
    assert_eq!(u32_at(pcap, 20), 1, "LINKTYPE_ETHERNET");
    let mut at = 24;
    for (i, (sec, usec, f)) in want.iter().enumerate() {
        let h: Vec<u32> = (0..4).map(|k| u32_at(pcap, at + 4 * k)).collect();
        assert_eq!(h, [*sec, *usec, f.len() as u32, f.len() as u32], "record {i}");
        at += 16;
        assert_eq!(&pcap[at..at + f.len()], &f[..], "record {i}");
        at += f.len();
    }
    assert_eq!(at, pcap.len(), "trailing bytes");
}

fn tcpdump() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec!["/usr/sbin".into(), "/usr/bin".into(), "/sbin".into()];
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    dirs.into_iter().map(|d| d.join("tcpdump")).find(|p| p.is_file())
}

#[test]
fn pcap_output_is_byte_exact_and_tcpdump_reads_it() {
    let d = TmpDir::new("pcap");
    let bus = d.join("bus");
    make_bus(&bus);
    let pcap_path = d.join("x.pcap");
    let out = rumpctl(&["dumpbus", "-o", pcap_path.to_str().unwrap(), bus.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let pcap = std::fs::read(&pcap_path).unwrap();
    let want: Vec<(u32, u32, Vec<u8>)> = frames().into_iter().map(|(_, s, u, f)| (s, u, f)).collect();
    check_pcap(&pcap, &want);

    // `-o -` writes the same bytes to stdout.
    let out = rumpctl(&["dumpbus", "-o", "-", bus.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, pcap);

    let Some(tcpdump) = tcpdump() else {
        eprintln!("tcpdump is not installed: checked the pcap bytes only");
        return;
    };
    let out = Command::new(&tcpdump).args(["-n", "-e", "-tt", "-r"]).arg(&pcap_path).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "tcpdump: {}{stdout}", text(&out.stderr));
    // One line per packet; an unknown ethertype adds an indented hex dump.
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.starts_with(char::is_whitespace)).collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("1700000000.123456 b2:a0:00:00:00:01 > ff:ff:ff:ff:ff:ff"), "{stdout}");
    assert!(lines[0].contains("ARP") && lines[0].contains("Request who-has 10.0.0.2 tell 10.0.0.1"), "{stdout}");
    assert!(lines[1].starts_with("1700000001.000007 b2:a0:00:00:00:02 > b2:a0:00:00:00:01"), "{stdout}");
    assert!(lines[1].contains("10.0.0.2 > 10.0.0.1: ICMP echo request, id 4660, seq 1"), "{stdout}");
    assert!(lines[2].starts_with("1700000002.999999 b2:a0:00:00:00:01 > b2:a0:00:00:00:02"), "{stdout}");
    assert!(lines[2].contains("0x88b5"), "{stdout}");
}

#[test]
fn listing_shows_the_header_and_one_line_per_frame() {
    let d = TmpDir::new("list");
    let bus = d.join("bus");
    make_bus(&bus);
    let out = rumpctl(&["dumpbus", bus.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    // Three frames, none overwritten: `first` still says "empty" (NetBSD's
    // value), `last` is the third record's offset.
    let f = frames();
    let off1 = RECORD_HEADER_LEN;
    let off2 = off1 + RECORD_HEADER_LEN + f[0].3.len();
    let off3 = off2 + RECORD_HEADER_LEN + f[1].3.len();
    assert_eq!(
        lines[0],
        format!("bus version 3, lock: 0, generation: 0, firstoff: {:#x}, lastoff: {off3:#x}", (1 << 20) - 32)
    );
    let fields = |l: &str| l.split_whitespace().take(4).map(String::from).collect::<Vec<_>>();
    assert_eq!(
        fields(lines[1]),
        [off1.to_string(), "42".into(), "1111222233334444".into(), "1700000000.123456".into()]
    );
    assert!(lines[1].contains("b2:a0:00:00:00:01 > ff:ff:ff:ff:ff:ff, ARP request who-has 10.0.0.2 tell 10.0.0.1"));
    assert_eq!(fields(lines[2])[..2], [off2.to_string(), f[1].3.len().to_string()]);
    assert!(lines[2].contains("5555666677778888 1700000001.000007 b2:a0:00:00:00:02 > b2:a0:00:00:00:01, IPv4"));
    assert!(lines[2].contains("10.0.0.2 > 10.0.0.1 proto 1"));
    assert_eq!(fields(lines[3])[0], off3.to_string());
    assert!(lines[3].contains("ethertype 0x88b5"), "{}", lines[3]);

    let out = rumpctl(&["dumpbus", "-h", bus.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), format!("{}\n", lines[0]));

    // --json: the same facts, one object.
    let out = rumpctl(&["dumpbus", "--json", bus.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("dumpbus --json is JSON");
    assert_eq!((v["version"].as_u64(), v["lastoff"].as_u64()), (Some(3), Some(off3 as u64)));
    let frames = v["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 3);
    assert_eq!(
        (frames[0]["offset"].as_u64(), frames[0]["sender"].as_str()),
        (Some(off1 as u64), Some("1111222233334444"))
    );
    for (frame, line) in frames.iter().zip(&lines[1..]) {
        assert!(line.ends_with(frame["description"].as_str().unwrap()), "{line} vs {frame}");
    }
    let out = rumpctl(&["dumpbus", "-h", "--json", bus.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.get("frames").is_none() && v["generation"] == 0);
}

#[test]
fn a_wrapped_bus_dumps_its_surviving_frames() {
    let d = TmpDir::new("wrapped");
    let bus_path = d.join("bus");
    let bus = Bus::open(&bus_path).unwrap();
    let n = 3000u32;
    for i in 0..n {
        let len = [60usize, 1514, 333][i as usize % 3];
        let mut f = ether([0xff; 6], MAC_A, 0x88b5, &i.to_be_bytes());
        f.resize(len, i as u8);
        bus.send(1, &f, i, 0).unwrap();
    }
    let mut r = bus.reader_from_start();
    let want: Vec<(u32, u32, Vec<u8>)> = std::iter::from_fn(|| r.next(&bus)).map(|f| (f.sec, f.usec, f.data)).collect();
    assert_eq!(want.last().unwrap().0, n - 1);
    let out = rumpctl(&["dumpbus", "-o", "-", bus_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    check_pcap(&out.stdout, &want);

    let gen = Snapshot::read(&bus_path).unwrap().unwrap().header().gen;
    assert!(gen >= 1);
    let out = rumpctl(&["dumpbus", bus_path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1 + want.len());
    assert!(stdout.lines().next().unwrap().contains(&format!("generation: {gen},")), "{stdout}");
}

#[test]
fn files_that_are_not_buses_fail_with_one_line() {
    let d = TmpDir::new("bad");
    let garbage = d.join("garbage");
    std::fs::write(&garbage, vec![0x5a; 1 << 20]).unwrap();
    let missing = d.join("missing");
    let short = d.join("short");
    std::fs::write(&short, b"hello").unwrap();
    for (path, reason) in [
        (&garbage, "not a shmif bus: magic 0x5a5a5a5a"),
        (&missing, "No such file or directory"),
        (&short, "not a shmif bus: 5 bytes long"),
    ] {
        for args in [vec!["dumpbus"], vec!["dumpbus", "-o", "-"], vec!["dumpbus", "-h"]] {
            let mut args: Vec<&str> = args;
            args.push(path.to_str().unwrap());
            let out = rumpctl(&args);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert!(out.stdout.is_empty(), "{args:?}");
            let stderr = text(&out.stderr);
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.starts_with(&format!("rumpctl: {}: {reason}", path.display())), "{stderr}");
        }
    }
    // dumpbus never creates the file it is asked about.
    assert!(!missing.exists());

    // A usage error: status 2 and one line naming what is missing.
    let out = rumpctl(&["dumpbus"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr).lines().count(), 1, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("<BUS>"), "{}", text(&out.stderr));
}
