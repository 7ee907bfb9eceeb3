//! `rumpctl dumpbus [-h] [-o FILE.pcap | --json] BUS`: what NetBSD's shmif_dumpbus
//! does for a shmif bus file. It prints the bus header (`-h`: only that) and
//! one line per frame from the oldest to the newest, or with `-o` writes the
//! frames as a pcap capture (`-` for stdout) with the records' own
//! timestamps, or with `--json` the listing as JSON. It reads a copy of the file without the bus lock, so it
//! never blocks, even on a bus whose lock holder died; a writer racing with
//! it can only make the newest records look malformed.

use crate::cli::rumpctl::DumpbusArgs;
use rump_kernel::net::pcap::PcapWriter;
use rump_kernel::net::shmif::{BusHeaderRepr, Record, Snapshot};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

/// Runs the subcommand. Errors are one line, naming the file at fault; an
/// empty one means already reported.
pub fn main(args: &DumpbusArgs) -> Result<(), String> {
    let bus = args.bus.as_str();
    let snap = match Snapshot::read(Path::new(bus)) {
        Ok(Ok(s)) => s,
        Ok(Err(bad)) => return Err(format!("{bus}: {bad}")),
        Err(e) => return Err(format!("{bus}: {}", reason(&e))),
    };
    let result = match args.pcap.as_deref() {
        None if args.json => {
            let mut out = io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &json(&snap, args.header_only, bus))
                .map_err(io::Error::from)
                .and_then(|()| writeln!(out))
        }
        None => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            list(&snap, args.header_only, bus, &mut out).and_then(|()| out.flush())
        }
        Some(_) if args.header_only => {
            let mut out = io::stdout().lock();
            writeln!(out, "{}", header_line(snap.header()))
        }
        Some("-") => {
            let out = io::BufWriter::new(io::stdout().lock());
            write_pcap(&snap, bus, out)
        }
        Some(file) => {
            let f = std::fs::File::create(file).map_err(|e| format!("{file}: {}", reason(&e)))?;
            write_pcap(&snap, bus, io::BufWriter::new(f)).map_err(|e| format!("{file}: {}", reason(&e)))?;
            return Ok(());
        }
    };
    match result {
        Ok(()) => Ok(()),
        // A reader that went away (`| head`) has what it wanted.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(String::new()),
        Err(e) => Err(format!("stdout: {}", reason(&e))),
    }
}

/// The host's text for an I/O error, without Rust's "(os error N)".
fn reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Reports a record that ends the walk through the bus.
fn malformed(bus: &str, offset: impl std::fmt::Display, error: &dyn std::fmt::Display) {
    eprintln!("rumpctl: {bus}: malformed record at offset {offset}: {error}");
}

/// NetBSD's header line.
pub fn header_line(h: &BusHeaderRepr) -> String {
    format!(
        "bus version {}, lock: {}, generation: {}, firstoff: {:#x}, lastoff: {:#x}",
        h.version, h.lock, h.gen, h.first, h.last
    )
}

/// One line per frame; zero-length records (the empty bus's placeholder)
/// are not frames and are left out. A malformed record ends the walk, since
/// nothing after it can be found.
fn list(snap: &Snapshot, header_only: bool, bus: &str, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{}", header_line(snap.header()))?;
    if header_only {
        return Ok(());
    }
    for r in snap.records() {
        match r {
            Ok(r) if r.data.is_empty() => {}
            Ok(r) => writeln!(out, "{}", frame_line(&r))?,
            Err(e) => {
                writeln!(out, "{:>7} malformed record: {}", e.offset, e.error)?;
                malformed(bus, e.offset, &e.error);
            }
        }
    }
    Ok(())
}

/// The listing as one JSON object: the header's fields and `frames`, each
/// with the fields of its line (malformed records are reported and left out).
fn json(snap: &Snapshot, header_only: bool, bus: &str) -> serde_json::Value {
    let h = snap.header();
    let mut v = serde_json::json!({
        "bus": bus, "version": h.version, "lock": h.lock, "generation": h.gen,
        "firstoff": h.first, "lastoff": h.last,
    });
    if header_only {
        return v;
    }
    let mut frames = Vec::new();
    for r in snap.records() {
        match r {
            Ok(r) if r.data.is_empty() => {}
            Ok(r) => frames.push(serde_json::json!({
                "offset": r.offset, "len": r.header.len, "sender": format!("{:016x}", r.header.sender),
                "sec": r.header.sec, "usec": r.header.usec, "description": describe(&r.data),
            })),
            Err(e) => malformed(bus, e.offset, &e.error),
        }
    }
    v["frames"] = frames.into();
    v
}

/// The snapshot's frames as pcap, with the records' timestamps;
/// malformed records are reported and skipped.
pub fn write_pcap<W: Write>(snap: &Snapshot, bus: &str, out: W) -> io::Result<()> {
    let mut w = PcapWriter::new(out)?;
    for r in snap.records() {
        match r {
            Ok(r) if r.data.is_empty() => {}
            Ok(r) => w.record(r.header.sec, r.header.usec, &r.data)?,
            Err(e) => malformed(bus, e.offset, &e.error),
        }
    }
    w.flush()
}

/// `offset len sender sec.usec description`.
pub fn frame_line(r: &Record) -> String {
    format!(
        "{:>7} {:>4} {:016x} {}.{:06} {}",
        r.offset,
        r.header.len,
        r.header.sender,
        r.header.sec,
        r.header.usec,
        describe(&r.data)
    )
}

fn mac(b: &[u8]) -> String {
    let mut s = String::with_capacity(17);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn ipv4(b: &[u8]) -> String {
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

fn ipv6(b: &[u8]) -> String {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    std::net::Ipv6Addr::from(a).to_string()
}

/// Source and destination MACs and the ethertype, and for ARP and IP the
/// addresses too (every field is bounds-checked: frames come from a file).
pub fn describe(f: &[u8]) -> String {
    if f.len() < 14 {
        return format!("runt of {} bytes", f.len());
    }
    let mut s = format!("{} > {}", mac(&f[6..12]), mac(&f[0..6]));
    let ethertype = u16::from_be_bytes([f[12], f[13]]);
    let p = &f[14..];
    match ethertype {
        0x0806 => {
            s.push_str(", ARP");
            // Only Ethernet/IPv4 ARP has the layout below.
            if p.len() >= 28 && p[0..6] == [0, 1, 8, 0, 6, 4] {
                match u16::from_be_bytes([p[6], p[7]]) {
                    1 => {
                        let _ = write!(s, " request who-has {} tell {}", ipv4(&p[24..28]), ipv4(&p[14..18]));
                    }
                    2 => {
                        let _ = write!(s, " reply {} is-at {}", ipv4(&p[14..18]), mac(&p[8..14]));
                    }
                    op => {
                        let _ = write!(s, " op {op}");
                    }
                }
            }
        }
        0x0800 => {
            s.push_str(", IPv4");
            if p.len() >= 20 && p[0] >> 4 == 4 {
                let _ = write!(s, " {} > {} proto {}", ipv4(&p[12..16]), ipv4(&p[16..20]), p[9]);
            }
        }
        0x86dd => {
            s.push_str(", IPv6");
            if p.len() >= 40 && p[0] >> 4 == 6 {
                let _ = write!(s, " {} > {} next-header {}", ipv6(&p[8..24]), ipv6(&p[24..40]), p[6]);
            }
        }
        0x8100 => {
            s.push_str(", 802.1Q");
            if p.len() >= 4 {
                let tci = u16::from_be_bytes([p[0], p[1]]);
                let inner = u16::from_be_bytes([p[2], p[3]]);
                let _ = write!(s, " vlan {} ethertype {inner:#06x}", tci & 0x0fff);
            }
        }
        t => {
            let _ = write!(s, ", ethertype {t:#06x}");
        }
    }
    let _ = write!(s, ", length {}", f.len());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_never_read_past_the_frame() {
        assert_eq!(describe(&[0; 5]), "runt of 5 bytes");
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0xb2, 0xa0, 0, 0, 0, 1, 0x08, 0x06]);
        assert_eq!(describe(&f), "b2:a0:00:00:00:01 > ff:ff:ff:ff:ff:ff, ARP, length 14");
        f.extend_from_slice(&[
            0, 1, 8, 0, 6, 4, 0, 1, 0xb2, 0xa0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
        ]);
        assert!(describe(&f).contains("request who-has 10.0.0.2 tell 10.0.0.1"));
        for n in 14..f.len() {
            describe(&f[..n]);
        }
        for t in [[0x08, 0x00], [0x86, 0xdd], [0x81, 0x00], [0x12, 0x34]] {
            let mut g = f.clone();
            g[12..14].copy_from_slice(&t);
            for n in 14..g.len() {
                describe(&g[..n]);
            }
        }
    }
}
