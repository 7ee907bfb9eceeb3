//! poll over kernel fds. Every readiness change notifies the kernel's poll
//! channel, so a poller re-checks its set whenever anything may have changed.

use crate::file::FileKind;
use crate::{Cx, Waited};
use rump_abi::native::flags::{POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM};
use rump_abi::Errno;
use std::time::Instant;

/// One entry of a poll set, in native event bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollFd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

impl Cx<'_> {
    /// The events `fd` shows now, limited to `events` plus the ones that
    /// are always reported.
    fn poll_one(&self, fd: i32, events: i16) -> i16 {
        let Ok(f) = self.file(fd) else { return POLLNVAL };
        let ready = match f.kind {
            FileKind::Vnode(_) => POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM,
            FileKind::Pipe { id, .. } => {
                let Some(p) = self.st.pipes.get(id) else { return POLLNVAL };
                let mut r = 0;
                if f.readable() {
                    if !p.buf.is_empty() {
                        r |= POLLIN | POLLRDNORM;
                    }
                    if p.writers == 0 && p.writer_opens > 0 {
                        r |= POLLHUP;
                    }
                }
                if f.writable() {
                    if p.readers == 0 {
                        r |= POLLERR;
                    } else if p.space() >= crate::pipe::PIPE_BUF {
                        r |= POLLOUT | POLLWRNORM;
                    }
                }
                r
            }
        };
        ready & (events | POLLERR | POLLHUP | POLLNVAL) & !(if events & POLLPRI == 0 { POLLPRI } else { 0 })
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
                return Ok(n);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(0);
            }
            let chan = self.st.poll_chan.clone();
            if self.wait_ready(&chan, deadline)? == Waited::Armed {
                return Ok(0);
            }
        }
    }
}
