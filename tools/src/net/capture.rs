//! `rumpctl net capture BUS -o FILE.pcap [-a] [-c COUNT] [-t SECONDS]`:
//! follows a running bus and writes its frames as pcap as they appear,
//! with the times their senders put them on the bus (real time, after
//! any impairment delay), until COUNT frames, SECONDS, SIGINT or SIGTERM.
//! `-a` starts with the frames already on the bus. On a terminal a status
//! line counts frames, bytes and frames lost while it runs. Also the snapshot
//! `net down -c` writes for each bus.

use crate::status_line::StatusLine;
use rump_kernel::net::pcap::PcapWriter;
use rump_kernel::net::shmif::{Bus, Snapshot};
use std::io::BufWriter;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

pub struct Follow {
    pub from_start: bool,
    pub count: Option<u64>,
    pub time: Option<Duration>,
}

/// The frames on the bus now, as pcap (what `rumpctl dumpbus -o` writes).
pub fn snapshot(bus: &Path, out: &Path) -> Result<(), String> {
    let snap = match Snapshot::read(bus) {
        Ok(Ok(s)) => s,
        Ok(Err(bad)) => return Err(format!("{}: {bad}", bus.display())),
        Err(e) => return Err(format!("{}: {e}", bus.display())),
    };
    let f = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    crate::dumpbus::write_pcap(&snap, &bus.display().to_string(), BufWriter::new(f))
        .map_err(|e| format!("{}: {e}", out.display()))
}

/// Follows `bus` into `out`; returns the number of frames written.
pub fn follow(bus: &Path, out: &Path, how: &Follow) -> Result<u64, String> {
    let b = Bus::open(bus).map_err(|e| format!("{}: {}", bus.display(), crate::strerror(e)))?;
    let io = |e: std::io::Error| format!("{}: {e}", out.display());
    let f = std::fs::File::create(out).map_err(io)?;
    let mut w = PcapWriter::new(BufWriter::new(f)).map_err(io)?;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let mut reader = if how.from_start { b.reader_from_start() } else { b.reader() };
    let deadline = how.time.map(|t| Instant::now() + t);
    let mut n = 0;
    let mut bytes = 0u64;
    let mut line = StatusLine::stderr();
    while !STOP.load(Ordering::Relaxed) && how.count.is_none_or(|c| n < c) {
        line.update(|| format!("net capture: {n} frames, {bytes} bytes, {} dropped", reader.lost()));
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        match reader.next(&b) {
            Some(f) => {
                w.record(f.sec, f.usec, &f.data).map_err(io)?;
                n += 1;
                bytes += f.data.len() as u64;
            }
            None => {
                // Readers of the file see everything up to now.
                w.flush().map_err(io)?;
                b.wait(&reader, Duration::from_millis(100));
            }
        }
    }
    w.flush().map_err(io)?;
    line.finish();
    if reader.lost() > 0 {
        eprintln!("rumpctl: net capture: {} frames were overwritten before they could be read", reader.lost());
    }
    Ok(n)
}
