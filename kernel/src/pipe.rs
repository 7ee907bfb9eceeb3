//! Pipes: a bounded byte queue with reader and writer counts and the wait
//! channels their blocked callers sleep on.

use crate::mem::PIPE_BYTES;
use crate::wchan::WaitChannel;
use crate::State;
use rump_abi::Errno;
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
    /// How many times an end was opened. A FIFO opener waiting for the
    /// other side wakes when the count moves, even if that opener has
    /// already left again; and a FIFO never opened for writing is not at
    /// end-of-file for poll.
    pub reader_opens: u64,
    pub writer_opens: u64,
    /// Readers sleep here until data arrives or the last writer leaves.
    pub rchan: Arc<WaitChannel>,
    /// Writers sleep here until space frees or the last reader leaves.
    pub wchan: Arc<WaitChannel>,
}

impl Default for Pipe {
    fn default() -> Self {
        Pipe {
            buf: VecDeque::new(),
            readers: 1,
            writers: 1,
            reader_opens: 1,
            writer_opens: 1,
            rchan: Arc::new(WaitChannel::new()),
            wchan: Arc::new(WaitChannel::new()),
        }
    }
}

impl Pipe {
    /// A named pipe nobody has opened yet.
    pub fn fifo() -> Pipe {
        Pipe { readers: 0, writers: 0, reader_opens: 0, writer_opens: 0, ..Pipe::default() }
    }

    pub fn space(&self) -> usize {
        PIPE_CAPACITY.saturating_sub(self.buf.len())
    }
}

impl State {
    /// Makes a pipe, charging it to the memory budget (ENOMEM past it).
    /// Every pipe made here leaves through `free_pipe`.
    pub fn alloc_pipe(&mut self, pipe: Pipe) -> Result<PipeId, Errno> {
        self.mem.charge(PIPE_BYTES)?;
        Ok(self.pipes.insert(pipe))
    }

    /// Frees a pipe and gives its memory back.
    pub fn free_pipe(&mut self, id: PipeId) {
        if self.pipes.remove(id).is_some() {
            self.mem.uncharge(PIPE_BYTES);
        }
    }
}
