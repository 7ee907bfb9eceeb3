//! epoll as Linux has it, on the kernel's event notes (`crate::event`):
//! items keyed by (open file, fd) that live as long as the open file does,
//! level-triggered unless EPOLLET, disabled after one report by
//! EPOLLONESHOT until EPOLL_CTL_MOD; an epoll fd is pollable and may sit
//! in another epoll (ELOOP for cycles and chains deeper than Linux's).
//!
//! An item fires when a change to its source wakes it with a key that
//! meets its events (Linux's ep_poll_callback) and is polled again when
//! reported (ep_item_poll). So an edge-triggered item reports once per
//! wake-up that finds it ready, and a level-triggered one stays on the
//! ready list for as long as it polls ready. Which changes wake with which
//! key is the source's business (pipes: see `syscalls::rw`).

use super::flags::poll_revents_to_linux;
use super::io::check_sigmask;
use crate::event::{After, Flavor, Key, Note, NoteId, QueueId, Source, Wake, Watch, MAX_NEST};
use crate::file::{FileId, FileKind};
use crate::time::Timespec;
use crate::usermem::{read_pod, write_pod};
use crate::{Cx, State};
use rump_abi::linux::flags::{
    EPOLLERR, EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLLWAKEUP, EPOLL_CLOEXEC,
    EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, POLLOUT, POLLWRNORM,
};
use rump_abi::linux::sys::args::*;
use rump_abi::linux::types::{epoll_event, timespec};
use rump_abi::native::errno::{EBADF, EEXIST, EFAULT, EINVAL, ELOOP, ENOENT, EPERM};
use rump_abi::{Errno, SysResult, UserAddr};
use std::time::{Duration, Instant};

/// Flags that shape reporting rather than name events.
const PRIVATE: u32 = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
/// All EPOLLEXCLUSIVE may come with.
const EXCLUSIVE_OK: u32 = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;
/// Linux's EP_MAX_NESTS: how long a chain of epolls in epolls may be.
const MAX_NESTS: u32 = MAX_NEST - 1;
/// The most events one wait may ask for (Linux's EP_MAX_EVENTS).
const MAX_EVENTS: i32 = i32::MAX / std::mem::size_of::<epoll_event>() as i32;

/// One epoll item: the events it wants, with its flags, and the caller's
/// data.
pub struct Item {
    events: u32,
    data: u64,
}

impl Item {
    /// Whether a change to the source wakes this item. A one-shot item
    /// that has reported wants nothing until it is modified.
    pub(crate) fn woken_by(&self, wake: Wake) -> bool {
        if self.events & !PRIVATE == 0 {
            return false;
        }
        match wake {
            Wake::None => false,
            Wake::All => true,
            Wake::Key(key) => linux_events(key) & self.events != 0,
        }
    }
}

/// Native poll bits as epoll's; writability is EPOLLOUT and EPOLLWRNORM
/// both, as Linux's pipes report it.
fn linux_events(native: i16) -> u32 {
    poll_revents_to_linux(native, POLLOUT | POLLWRNORM) as u16 as u32
}

impl State {
    /// The events an item shows now.
    fn epoll_poll(&mut self, id: NoteId, depth: u32) -> u32 {
        let n = self.events.note(id);
        let Watch::Epoll(item) = &n.watch else { return 0 };
        let (file, wanted) = (n.file, item.events);
        linux_events(self.poll_mask(file, depth)) & wanted
    }

    /// Whether epoll instance `q` has an item ready, dropping the stale
    /// ones ahead of it, as a poll of an epoll fd does on Linux.
    pub(crate) fn epoll_ready(&mut self, q: QueueId, depth: u32) -> bool {
        depth < MAX_NEST && self.first_ready(q, &mut |st, id| st.epoll_poll(id, depth + 1) != 0)
    }

    /// A wait's look at a ready item: its events if it still has some,
    /// and whether it stays ready.
    fn epoll_take(&mut self, id: NoteId) -> Option<(epoll_event, After)> {
        let events = self.epoll_poll(id, 1);
        if events == 0 {
            return None;
        }
        let Watch::Epoll(item) = &mut self.events.note_mut(id).watch else { return None };
        let ev = epoll_event { events, data: item.data };
        let after = if item.events & EPOLLONESHOT != 0 {
            item.events &= PRIVATE;
            After::Dequeue
        } else if item.events & EPOLLET != 0 {
            After::Dequeue
        } else {
            After::Requeue
        };
        Some((ev, after))
    }

    /// The epoll instances `q` watches directly.
    fn epoll_children(&self, q: QueueId) -> Vec<QueueId> {
        let Some(queue) = self.events.queue(q) else { return Vec::new() };
        queue
            .notes()
            .filter_map(|id| match self.events.note(id).source {
                Source::Queue(inner) if self.is_epoll(inner) => Some(inner),
                _ => None,
            })
            .collect()
    }

    /// How long the chain of epolls below `q` is; None if it reaches
    /// `into` (adding `q` there would close a loop) or runs too deep.
    fn epoll_depth_below(&self, q: QueueId, into: QueueId, depth: u32) -> Option<u32> {
        let mut most = 0;
        for inner in self.epoll_children(q) {
            if inner == into || depth > MAX_NESTS {
                return None;
            }
            most = most.max(self.epoll_depth_below(inner, into, depth + 1)? + 1);
        }
        Some(most)
    }

    /// How long the chain of epolls watching `q` is, counted no further
    /// than Linux allows.
    fn epoll_depth_above(&self, q: QueueId, depth: u32) -> u32 {
        if depth > MAX_NESTS {
            return 0;
        }
        let parents = self.events.watchers(Source::Queue(q)).filter(|&p| self.is_epoll(p));
        parents.map(|p| self.epoll_depth_above(p, depth + 1) + 1).max().unwrap_or(0)
    }

    fn is_epoll(&self, q: QueueId) -> bool {
        self.events.flavor(q) == Some(Flavor::Epoll)
    }
}

impl Cx<'_> {
    /// The epoll instance open at `epfd`: EBADF for a bad fd, EINVAL if it
    /// is something else.
    fn epoll_of(&self, epfd: i32) -> Result<(FileId, QueueId), Errno> {
        let file = self.file_of(epfd)?;
        match self.st.files.get(file).ok_or(EBADF)?.kind {
            FileKind::Queue(q) if self.st.is_epoll(q) => Ok((file, q)),
            _ => Err(EINVAL),
        }
    }

    pub fn epoll_create(&mut self, cloexec: bool) -> Result<i32, Errno> {
        self.install_queue(Flavor::Epoll, 0, cloexec)
    }

    /// Queues an item that is ready now (as EPOLL_CTL_ADD and MOD do).
    fn epoll_arm(&mut self, id: NoteId) {
        if !self.st.events.note(id).is_queued() && self.st.epoll_poll(id, 1) != 0 {
            self.st.activate(id);
        }
    }

    /// epoll_ctl, with Linux's checks in Linux's order; `ev` is the event
    /// read for every op but EPOLL_CTL_DEL.
    pub fn epoll_ctl(&mut self, epfd: i32, op: i32, fd: i32, ev: Option<epoll_event>) -> Result<(), Errno> {
        let epfile = self.file_of(epfd)?;
        let tfile = self.file_of(fd)?;
        let tkind = self.st.files.get(tfile).ok_or(EBADF)?.kind;
        // Regular files and directories cannot be polled.
        if matches!(tkind, FileKind::Vnode(_)) {
            return Err(EPERM);
        }
        let (_, q) = self.epoll_of(epfd)?;
        if epfile == tfile {
            return Err(EINVAL);
        }
        let nested = match tkind {
            FileKind::Queue(t) if self.st.is_epoll(t) => Some(t),
            _ => None,
        };
        if let Some(e) = ev.filter(|e| e.events & EPOLLEXCLUSIVE != 0) {
            let events = e.events;
            if op == EPOLL_CTL_MOD || (op == EPOLL_CTL_ADD && (nested.is_some() || events & !EXCLUSIVE_OK != 0)) {
                return Err(EINVAL);
            }
        }
        if let (EPOLL_CTL_ADD, Some(t)) = (op, nested) {
            let below = self.st.epoll_depth_below(t, q, 0).ok_or(ELOOP)?;
            if below + 1 + self.st.epoll_depth_above(q, 0) > MAX_NESTS {
                return Err(ELOOP);
            }
        }
        let key = Key::Epoll { file: tfile, fd };
        match (op, self.st.events.find(q, key), ev) {
            (EPOLL_CTL_ADD, Some(_), _) => Err(EEXIST),
            (EPOLL_CTL_ADD, None, Some(e)) => {
                let item = Item { events: e.events | EPOLLERR | EPOLLHUP, data: e.data };
                let note = Note::new(q, tfile, State::source_of(tkind), key, Watch::Epoll(item));
                let id = self.st.add_note(note, None)?;
                self.epoll_arm(id);
                Ok(())
            }
            (EPOLL_CTL_DEL, Some(id), _) => {
                self.st.remove_note(id);
                Ok(())
            }
            (EPOLL_CTL_MOD, Some(id), Some(e)) => {
                let Watch::Epoll(item) = &mut self.st.events.note_mut(id).watch else { return Err(EINVAL) };
                // An exclusive item cannot be changed, only deleted.
                if item.events & EPOLLEXCLUSIVE != 0 {
                    return Err(EINVAL);
                }
                *item = Item { events: e.events | EPOLLERR | EPOLLHUP, data: e.data };
                self.epoll_arm(id);
                Ok(())
            }
            (EPOLL_CTL_DEL | EPOLL_CTL_MOD, None, _) => Err(ENOENT),
            _ => Err(EINVAL),
        }
    }

    /// epoll_wait and friends: waits until `deadline` (None: no limit) for
    /// up to `maxevents` events and writes them to `events`. Events that
    /// cannot be written after the first are lost, as on Linux.
    pub fn epoll_wait(
        &mut self,
        epfd: i32,
        events: UserAddr,
        maxevents: i32,
        deadline: Option<Instant>,
    ) -> Result<usize, Errno> {
        if maxevents <= 0 || maxevents > MAX_EVENTS {
            return Err(EINVAL);
        }
        let (file, q) = self.epoll_of(epfd)?;
        let got = self.queue_wait(file, q, maxevents as usize, deadline, |st, id| st.epoll_take(id))?;
        for (i, ev) in got.iter().enumerate() {
            let at = events.offset((std::mem::size_of::<epoll_event>() * i) as u64).ok_or(EFAULT)?;
            if let Err(e) = write_pod(self.mem, at, ev) {
                return if i == 0 { Err(e) } else { Ok(i) };
            }
        }
        Ok(got.len())
    }
}

/// A timeout in milliseconds: negative waits for ever.
fn ms_deadline(timeout: i32) -> Option<Instant> {
    (timeout >= 0).then(|| Instant::now() + Duration::from_millis(timeout as u64))
}

pub fn linux_sys_epoll_create(cx: &mut Cx, a: linux_sys_epoll_create_args) -> SysResult {
    if a.size <= 0 {
        return Err(EINVAL);
    }
    cx.epoll_create(false).map(i64::from)
}

pub fn linux_sys_epoll_create1(cx: &mut Cx, a: linux_sys_epoll_create1_args) -> SysResult {
    let flags = a.flags as u32;
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(EINVAL);
    }
    cx.epoll_create(flags != 0).map(i64::from)
}

pub fn linux_sys_epoll_ctl(cx: &mut Cx, a: linux_sys_epoll_ctl_args) -> SysResult {
    let ev = if a.op == EPOLL_CTL_DEL { None } else { Some(read_pod(cx.mem, a.event)?) };
    cx.epoll_ctl(a.epfd, a.op, a.fd, ev).map(|_| 0)
}

pub fn linux_sys_epoll_wait(cx: &mut Cx, a: linux_sys_epoll_wait_args) -> SysResult {
    cx.epoll_wait(a.epfd, a.events, a.maxevents, ms_deadline(a.timeout)).map(|n| n as i64)
}

pub fn linux_sys_epoll_pwait(cx: &mut Cx, a: linux_sys_epoll_pwait_args) -> SysResult {
    check_sigmask(cx, a.sigmask, a.sigsetsize)?;
    cx.epoll_wait(a.epfd, a.events, a.maxevents, ms_deadline(a.timeout)).map(|n| n as i64)
}

pub fn linux_sys_epoll_pwait2(cx: &mut Cx, a: linux_sys_epoll_pwait2_args) -> SysResult {
    let deadline = if a.timeout.is_null() {
        None
    } else {
        let t: timespec = read_pod(cx.mem, a.timeout)?;
        Timespec { sec: t.tv_sec, nsec: t.tv_nsec }.deadline()?
    };
    check_sigmask(cx, a.sigmask, a.sigsetsize)?;
    cx.epoll_wait(a.epfd, a.events, a.maxevents, deadline).map(|n| n as i64)
}
