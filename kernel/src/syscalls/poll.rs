//! poll over kernel fds, and the readiness of an open file that poll and
//! epoll share. A poller waits on the channels of the files in its set
//! (`readiness_channels`), so only a change to one of them wakes it.

use crate::file::{FileId, FileKind};
use crate::wchan::WaitChannel;
use crate::{Cx, State, Waited};
use rump_abi::native::flags::{POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM};
use rump_abi::Errno;
use std::sync::Arc;
use std::time::Instant;

/// One entry of a poll set, in native event bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollFd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

impl State {
    /// The poll events open file `id` shows now, before they are limited
    /// to what a caller asked for. Pipes answer as Linux's do: readable
    /// with data, hung up once the last writer is gone, writable while a
    /// page is free, and in error (still writable) once no reader is left.
    /// `depth` counts queues polled through queues.
    pub fn poll_mask(&mut self, id: FileId, depth: u32) -> i16 {
        let Some(f) = self.files.get(id) else { return POLLNVAL };
        match f.kind {
            FileKind::Vnode(_) => POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM,
            FileKind::Pipe { id, .. } => {
                let Some(p) = self.pipes.get(id) else { return POLLNVAL };
                let mut r = 0;
                if f.readable() {
                    if !p.is_empty() {
                        r |= POLLIN | POLLRDNORM;
                    }
                    if p.hung_up(f.hup_from) {
                        r |= POLLHUP;
                    }
                }
                if f.writable() {
                    if !p.is_full() {
                        r |= POLLOUT | POLLWRNORM;
                    }
                    if p.readers == 0 {
                        r |= POLLERR;
                    }
                }
                r
            }
            FileKind::Socket(s) => self.net.poll_mask(s),
            FileKind::Queue(q) => {
                if self.queue_ready(q, depth) {
                    POLLIN | POLLRDNORM
                } else {
                    0
                }
            }
        }
    }
}

impl State {
    /// Where a change of open file `id`'s readiness for `events` is
    /// announced: a pipe's data channel for reading and its space channel
    /// for writing (each also hears the other end close), a queue's own
    /// channel. A vnode is always ready and announces nothing.
    fn readiness_channels(&self, id: FileId, events: i16) -> Vec<Arc<WaitChannel>> {
        let Some(f) = self.files.get(id) else { return Vec::new() };
        match f.kind {
            FileKind::Pipe { id, .. } => {
                let Some(p) = self.pipes.get(id) else { return Vec::new() };
                // Asked for neither: hang-ups and errors, of the ends it has.
                let neither = events & (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM) == 0;
                let read = events & (POLLIN | POLLRDNORM) != 0 || (neither && f.readable());
                let write = events & (POLLOUT | POLLWRNORM) != 0 || (neither && f.writable());
                [(read, &p.rchan), (write, &p.wchan)].into_iter().filter(|(w, _)| *w).map(|(_, c)| c.clone()).collect()
            }
            FileKind::Queue(q) => self.events.queue(q).map_or(Vec::new(), |q| vec![q.chan.clone()]),
            FileKind::Socket(s) => self.net.sock(s).map_or(Vec::new(), |s| vec![s.chan.clone()]),
            FileKind::Vnode(_) => Vec::new(),
        }
    }
}

impl Cx<'_> {
    /// The events `fd` shows now, limited to `events` plus the ones that
    /// are always reported.
    fn poll_one(&mut self, fd: i32, events: i16) -> i16 {
        let Ok(id) = self.file_of(fd) else { return POLLNVAL };
        let ready = self.st.poll_mask(id, 0);
        ready & (events | POLLERR | POLLHUP | POLLNVAL) & !(if events & POLLPRI == 0 { POLLPRI } else { 0 })
    }

    /// A watching caller's set that is all sockets (`Lwp::watching`) is
    /// watched, and has its notifier armed on them though something is
    /// `ready`. Other files do not announce every change (a pipe read
    /// that empties it wakes only writers, a packet ring's mask moves
    /// with no call), and a closed fd is not watched.
    fn watch_sockets(&mut self, set: &[PollFd], ready: bool) {
        if !self.watches() {
            return;
        }
        let files: Option<Vec<FileId>> = set.iter().filter(|p| p.fd >= 0).map(|p| self.file_of(p.fd).ok()).collect();
        let Some(files) = files else { return };
        let socket = |f: &FileId| match self.st.files.get(*f).map(|f| f.kind) {
            Some(FileKind::Socket(s)) => self.st.net.announces_mask(s),
            _ => false,
        };
        if files.is_empty() || !files.iter().all(socket) {
            return;
        }
        let chans: Vec<_> = files.iter().flat_map(|&f| self.st.readiness_channels(f, 0)).collect();
        self.watch_ready_any(&chans, ready);
    }

    /// Waits until an fd is ready or `deadline` passes (None: forever).
    /// Negative fds are skipped. Returns how many entries have events.
    pub fn poll(&mut self, set: &mut [PollFd], deadline: Option<Instant>) -> Result<usize, Errno> {
        loop {
            let mut n = 0;
            for p in set.iter_mut() {
                p.revents = if p.fd < 0 { 0 } else { self.poll_one(p.fd, p.events) };
                n += (p.revents != 0) as usize;
            }
            if n > 0 {
                self.watch_sockets(set, true);
                return Ok(n);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(0);
            }
            let chans: Vec<_> = set
                .iter()
                .filter(|p| p.fd >= 0)
                .filter_map(|p| Some((self.file_of(p.fd).ok()?, p.events)))
                .flat_map(|(f, events)| self.st.readiness_channels(f, events))
                .collect();
            if self.wait_ready_any(&chans, deadline)? == Waited::Armed {
                self.watch_sockets(set, false);
                return Ok(0);
            }
        }
    }
}
