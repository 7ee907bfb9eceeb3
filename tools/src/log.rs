//! The log of rump_server and rumpctl: `tracing` events from every crate,
//! filtered by `RUMP_LOG` (tracing's env-filter syntax: `debug`,
//! `rumpclient::server=trace,warn`), written to stderr or appended to the
//! file `RUMP_LOG_FILE` names. Without `RUMP_LOG` nothing is set up, so
//! every event is one failed level check.

use std::fs::OpenOptions;
use std::sync::Mutex;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber. `default` is the filter used when `RUMP_LOG`
/// is unset (rump_server -v asks for `info`); None means no log at all.
pub fn init(program: &str, default: Option<&str>) {
    let spec = match std::env::var("RUMP_LOG") {
        Ok(s) if !s.is_empty() => s,
        _ => match default {
            Some(d) => d.to_string(),
            None => return,
        },
    };
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("{program}: RUMP_LOG={spec}: {e}; logging warnings only");
        EnvFilter::new("warn")
    });
    let (writer, ansi) = match std::env::var_os("RUMP_LOG_FILE") {
        Some(path) => match OpenOptions::new().create(true).append(true).open(&path) {
            Ok(f) => (BoxMakeWriter::new(Mutex::new(f)), false),
            Err(e) => {
                eprintln!("{program}: RUMP_LOG_FILE={}: {e}; logging to stderr", path.to_string_lossy());
                (BoxMakeWriter::new(std::io::stderr), is_tty(2))
            }
        },
        None => (BoxMakeWriter::new(std::io::stderr), is_tty(2)),
    };
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi).try_init();
}

/// Whether `fd` is a terminal (colour, progress lines).
pub fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}
