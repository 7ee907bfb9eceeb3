//! Pipes: a bounded byte queue with reader and writer counts and the wait
//! channels their blocked callers sleep on.

use parking_lot::Condvar;
use std::collections::VecDeque;
use std::sync::Arc;

pub type PipeId = usize;

/// Writes of at most this many bytes are atomic.
pub const PIPE_BUF: usize = 4096;
/// How many bytes a pipe holds before writers wait (Linux's default).
pub const PIPE_CAPACITY: usize = 65536;

pub struct Pipe {
    pub buf: VecDeque<u8>,
    pub readers: usize,
    pub writers: usize,
    /// Readers sleep here until data arrives or the last writer leaves.
    pub rchan: Arc<Condvar>,
    /// Writers sleep here until space frees or the last reader leaves.
    pub wchan: Arc<Condvar>,
}

impl Default for Pipe {
    fn default() -> Self {
        Pipe {
            buf: VecDeque::new(),
            readers: 1,
            writers: 1,
            rchan: Arc::new(Condvar::new()),
            wchan: Arc::new(Condvar::new()),
        }
    }
}

impl Pipe {
    pub fn space(&self) -> usize {
        PIPE_CAPACITY.saturating_sub(self.buf.len())
    }
}
