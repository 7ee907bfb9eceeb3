//! The library's log: `tracing` events from the library and the crates it
//! links, filtered by `RUMP_LOG` (env-filter syntax, e.g.
//! `rumphijack=trace`), written to the program's stderr as it was at start
//! or appended to `RUMP_LOG_FILE` — never to its stdout. Lines are written
//! with the raw write syscall on a descriptor of the library's own (moved
//! above the program's numbers and out of the way of its dup2s), so logging
//! calls no hooked function. Without `RUMP_LOG` no subscriber exists and
//! each event is one relaxed load and a not-taken branch.

use rumpclient::ownfd::OwnFd;
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Where lines go, once logging is on.
static SINK: OnceLock<OwnFd> = OnceLock::new();

/// Sets the log up from the environment (the library's constructor calls
/// this after `ownfd::enable`, so the sink is one of the library's fds).
pub fn init() {
    let Some(spec) = std::env::var("RUMP_LOG").ok().filter(|s| !s.is_empty()) else { return };
    let Some(fd) = open_sink() else { return };
    let _ = SINK.set(OwnFd::new(fd));
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        super::say(&format!("RUMP_LOG={spec}: {e}; logging warnings only"));
        EnvFilter::new("warn")
    });
    // Internal errors would be printed with eprintln: a hooked write, whose
    // own event would fail the same way.
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).log_internal_errors(false);
    let _ = fmt.with_writer(|| Sink).try_init();
}

/// `RUMP_LOG_FILE` opened for appending, else a copy of fd 2.
fn open_sink() -> Option<OwnedFd> {
    let fd = match std::env::var_os("RUMP_LOG_FILE") {
        Some(path) => {
            let path = CString::new(path.into_encoded_bytes()).ok()?;
            let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC;
            let args = [libc::AT_FDCWD as usize, path.as_ptr() as usize, flags as usize, 0o644];
            crate::host::sys(libc::SYS_openat, args)
        }
        None => crate::host::sys(libc::SYS_fcntl, [2, libc::F_DUPFD_CLOEXEC as usize, 0, 0]),
    };
    match fd {
        // SAFETY: a descriptor just made, owned by nobody else.
        Ok(fd) => Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            super::say(&format!("RUMP_LOG_FILE: errno {}; no log", e.0));
            None
        }
    }
}

/// One formatted event, written whole with the raw syscall. A line that
/// cannot be written is dropped: the log never fails the program (the
/// keeper, for one, closes every descriptor it inherits).
struct Sink;

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(fd) = SINK.get() {
            let _ = crate::host::sys(libc::SYS_write, [fd.raw() as usize, buf.as_ptr() as usize, buf.len(), 0]);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
