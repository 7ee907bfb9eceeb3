//! A one-line status on stderr while long work runs (`net up` of many
//! nodes, `net capture`), redrawn in place at most five times a second, and
//! erased at the end. Nothing at all when stderr is not a terminal, so
//! scripts and logs see only the final report.

use std::io::Write;
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_millis(200);

pub struct StatusLine {
    on: bool,
    last: Option<Instant>,
}

impl StatusLine {
    /// A status line, shown if stderr is a terminal.
    pub fn stderr() -> StatusLine {
        StatusLine { on: crate::log::is_tty(2), last: None }
    }

    /// Redraws with `text()` if the last drawing is old enough; `text` is
    /// only called then.
    pub fn update(&mut self, text: impl FnOnce() -> String) {
        if !self.on || self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{}\x1b[K", text());
        let _ = err.flush();
    }

    /// Erases the line.
    pub fn finish(&mut self) {
        if self.on && self.last.take().is_some() {
            eprint!("\r\x1b[K");
        }
    }
}

impl Drop for StatusLine {
    fn drop(&mut self) {
        self.finish();
    }
}
