//! Pipes: a bounded byte queue with reader and writer counts and the wait
//! channels their blocked callers sleep on.
//!
//! The queue is counted in pages as Linux counts it, because that is what
//! a writer sees: a pipe holds `PIPE_PAGES` pages; a write puts its
//! partial page's worth into the last page when it fits there and the rest
//! into fresh pages; a page is free again only once read to its end. So a
//! pipe is full (not writable, for poll and epoll too) when every page is
//! in use, however few bytes are left in them.

use crate::mem::PIPE_BYTES;
use crate::wchan::WaitChannel;
use crate::State;
use rump_abi::Errno;
use std::collections::VecDeque;
use std::sync::Arc;

pub type PipeId = usize;

/// Writes of at most this many bytes are atomic: one page.
pub const PIPE_BUF: usize = 4096;
/// Pages a pipe holds (Linux's default `pipe_max_usage`).
pub const PIPE_PAGES: usize = 16;
/// How many bytes a pipe holds before writers wait (Linux's default).
pub const PIPE_CAPACITY: usize = PIPE_PAGES * PIPE_BUF;

/// A page of the queue: where its writes end and how many bytes are
/// still unread in it.
#[derive(Clone, Copy)]
struct Page {
    end: usize,
    unread: usize,
}

pub struct Pipe {
    buf: VecDeque<u8>,
    pages: VecDeque<Page>,
    pub readers: usize,
    pub writers: usize,
    /// How many times an end was opened. A FIFO opener waiting for the
    /// other side wakes when the count moves, even if that opener has
    /// already left again; and a FIFO reader does not hang up until a
    /// writer has come (see `OpenFile::hup_from`).
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
            pages: VecDeque::new(),
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

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes the queue has room for, pages aside (kevent's write data).
    pub fn space(&self) -> usize {
        PIPE_CAPACITY - self.buf.len()
    }

    /// Whether a reader whose open file has `hup_from` sees the pipe hung
    /// up: no writer now, and one has been since (see `OpenFile`).
    pub fn hung_up(&self, hup_from: u64) -> bool {
        self.writers == 0 && self.writer_opens != hup_from
    }

    /// Every page in use: writers wait, poll shows no POLLOUT.
    pub fn is_full(&self) -> bool {
        self.pages.len() >= PIPE_PAGES
    }

    /// Of `left` bytes still to write, how many go into the last page
    /// (only on a write's first try) and how many into fresh pages now.
    fn plan(&self, left: usize, first: bool) -> (usize, usize) {
        let partial = left % PIPE_BUF;
        let merge = first && partial > 0 && self.pages.back().is_some_and(|p| p.end + partial <= PIPE_BUF);
        let merged = if merge { partial } else { 0 };
        (merged, (left - merged).min((PIPE_PAGES - self.pages.len()) * PIPE_BUF))
    }

    /// How many of `left` bytes a write can queue now; 0: it must wait.
    /// Up to PIPE_BUF bytes go in whole or not at all.
    pub fn room_for(&self, left: usize, first: bool) -> usize {
        let (merged, fresh) = self.plan(left, first);
        merged + fresh
    }

    /// Queues bytes `room_for` allowed.
    pub fn push(&mut self, src: &[u8], first: bool) {
        let (merged, _) = self.plan(src.len(), first);
        if let Some(last) = self.pages.back_mut().filter(|_| merged > 0) {
            last.end += merged;
            last.unread += merged;
        }
        for chunk in src[merged..].chunks(PIPE_BUF) {
            self.pages.push_back(Page { end: chunk.len(), unread: chunk.len() });
        }
        self.buf.extend(src);
    }

    /// Up to `n` bytes from the front, in the two pieces the ring holds
    /// them in, left queued: a reader's memory copies them out in place.
    pub fn front(&self, n: usize) -> [&[u8]; 2] {
        let n = n.min(self.buf.len());
        let (a, b) = self.buf.as_slices();
        let k = n.min(a.len());
        [&a[..k], &b[..n - k]]
    }

    /// Drops `n` bytes from the front, freeing pages read to their end.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        let mut left = n;
        while left > 0 {
            let Some(front) = self.pages.front_mut() else { break };
            let k = left.min(front.unread);
            front.unread -= k;
            left -= k;
            if front.unread == 0 {
                self.pages.pop_front();
            }
        }
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
