//! kqueue and kevent as NetBSD has them: notes keyed by (ident, filter)
//! on fds of the process that made the queue; the READ, WRITE and VNODE
//! filters; EV_ADD, DELETE, ENABLE, DISABLE, ONESHOT, CLEAR, DISPATCH and
//! RECEIPT; failed changes reported as EV_ERROR entries when there is room.
//!
//! A note's filter runs on every change to its source (NetBSD's KNOTE)
//! and once more before it is reported, so a level-triggered note that is
//! no longer true is dropped rather than reported. EVFILT_VNODE collects
//! the NOTE_* bits it asked for until a report (with EV_CLEAR) clears them.

use super::{After, Flavor, Hint, Key, Note, NoteId, QueueId, Source, Watch};
use crate::file::{FileId, FileKind};
use crate::proc::Pid;
use crate::time::Timespec;
use crate::usermem::{read_pod, write_pod};
use crate::{Cx, State};
use rump_abi::native::errno::{EBADF, EFAULT, EINVAL, ENOENT};
use rump_abi::native::flags::*;
use rump_abi::native::types::{kevent, timespec};
use rump_abi::{Errno, UserAddr};

/// One kevent registration.
pub struct Knote {
    filter: u32,
    /// As registered, less the system's bits; EV_EOF as last seen.
    flags: u32,
    /// What the caller asked for: for EVFILT_VNODE, the NOTE_* it wants.
    sfflags: u32,
    udata: u64,
    /// What happened since the last report.
    fflags: u32,
    data: i64,
    /// Fired and not yet reported (NetBSD's KN_ACTIVE).
    active: bool,
    disabled: bool,
}

impl Knote {
    /// The note fired; true if it may go on the ready list.
    pub(super) fn fire(&mut self) -> bool {
        self.active = true;
        !self.disabled
    }
}

/// The address of entry `i` of a kevent array.
fn entry(list: UserAddr, i: usize) -> Result<UserAddr, Errno> {
    (i as u64).checked_mul(std::mem::size_of::<kevent>() as u64).and_then(|o| list.offset(o)).ok_or(EFAULT)
}

impl State {
    /// What a READ or WRITE filter sees on its source now: (data, EOF,
    /// ready), as NetBSD's pipe, vnode and kqueue filters compute them.
    fn kevent_level(&mut self, filter: u32, source: Source, file: FileId) -> (i64, bool, bool) {
        match (filter, source) {
            (EVFILT_READ, Source::Pipe(p)) => {
                let hup_from = self.files.get(file).map_or(0, |f| f.hup_from);
                self.pipes.get(p).map_or((0, true, true), |p| {
                    let eof = p.hung_up(hup_from);
                    (p.len() as i64, eof, eof || !p.is_empty())
                })
            }
            (EVFILT_WRITE, Source::Pipe(p)) => self.pipes.get(p).map_or((0, true, true), |p| {
                let eof = p.readers == 0;
                (if eof { 0 } else { p.space() as i64 }, eof, eof || !p.is_full())
            }),
            (EVFILT_READ, Source::Vnode(vn)) => {
                let size = self.mounts.fs(vn.mnt).getattr(vn.node).map_or(0, |a| a.size);
                let offset = self.files.get(file).map_or(0, |f| f.offset);
                let left = (size as i64).wrapping_sub(offset as i64);
                (left, false, left != 0)
            }
            (EVFILT_READ, Source::Queue(q)) => {
                let pending = self.events.queue(q).map_or(0, |queue| queue.pending()) as i64;
                (pending, false, pending > 0)
            }
            // Vnodes are always writable.
            (EVFILT_WRITE, Source::Vnode(_)) => (0, false, true),
            _ => (0, false, false),
        }
    }

    /// Runs a kevent note's filter for `hint`: updates what it will
    /// report and says whether it has something to.
    pub(super) fn kevent_filter(&mut self, id: NoteId, hint: Hint) -> bool {
        let n = self.events.note(id);
        let Watch::Kevent(k) = &n.watch else { return false };
        let (filter, source, file) = (k.filter, n.source, n.file);
        let level = (filter != EVFILT_VNODE).then(|| self.kevent_level(filter, source, file));
        let Watch::Kevent(k) = &mut self.events.note_mut(id).watch else { return false };
        match level {
            Some((data, eof, ready)) => {
                k.data = data;
                k.flags = if eof { k.flags | EV_EOF } else { k.flags & !EV_EOF };
                ready
            }
            None => {
                k.fflags |= k.sfflags & hint.vnode;
                k.fflags != 0
            }
        }
    }

    /// A scan's look at a queued note: the event to report, if the note
    /// still has one, and what the report does to the note.
    fn kevent_take(&mut self, id: NoteId) -> Option<(kevent, After)> {
        let Watch::Kevent(k) = &self.events.note(id).watch else { return None };
        if k.disabled {
            return None;
        }
        // A one-shot note reports what it fired with, as NetBSD's does.
        let still = k.flags & EV_ONESHOT != 0 || self.kevent_filter(id, Hint::NONE);
        let Key::Kevent { ident, .. } = self.events.note(id).key else { return None };
        let Watch::Kevent(k) = &mut self.events.note_mut(id).watch else { return None };
        if !still {
            k.active = false;
            return None;
        }
        let ev = kevent {
            ident,
            filter: k.filter,
            flags: k.flags,
            fflags: k.fflags,
            data: k.data,
            udata: k.udata,
            ..kevent::default()
        };
        if k.flags & EV_ONESHOT != 0 {
            return Some((ev, After::Remove));
        }
        if k.flags & EV_CLEAR != 0 {
            k.data = 0;
            k.fflags = 0;
        }
        if k.flags & EV_DISPATCH != 0 {
            k.disabled = true;
        }
        if k.flags & (EV_CLEAR | EV_DISPATCH) == 0 {
            return Some((ev, After::Requeue));
        }
        k.active = false;
        Some((ev, After::Dequeue))
    }
}

/// Whether `filter` can watch a file of `kind` from kqueue `q`.
fn attachable(filter: u32, kind: FileKind, q: QueueId) -> Result<(), Errno> {
    match (filter, kind) {
        (EVFILT_VNODE, FileKind::Vnode(_)) => Ok(()),
        (EVFILT_VNODE, _) | (EVFILT_WRITE, FileKind::Queue(_)) => Err(EINVAL),
        // A queue watching itself would wake itself for ever.
        (EVFILT_READ, FileKind::Queue(w)) if w == q => Err(EINVAL),
        _ => Ok(()),
    }
}

impl Cx<'_> {
    /// kqueue/kqueue1: a new queue on the lowest free fd. `flags` may
    /// hold O_CLOEXEC, O_NONBLOCK and O_NOSIGPIPE.
    pub fn kqueue(&mut self, flags: u32) -> Result<i32, Errno> {
        if flags & !(O_CLOEXEC | O_NONBLOCK | O_NOSIGPIPE) != 0 {
            return Err(EINVAL);
        }
        let flavor = Flavor::Kqueue { owner: self.pid };
        self.install_queue(flavor, flags & O_NONBLOCK, flags & O_CLOEXEC != 0)
    }

    /// The kqueue open at `fd`: its open file, queue and owner; EBADF if
    /// `fd` is not one.
    fn kqueue_of(&self, fd: i32) -> Result<(FileId, QueueId, Pid), Errno> {
        let file = self.file_of(fd)?;
        let FileKind::Queue(q) = self.st.files.get(file).ok_or(EBADF)?.kind else { return Err(EBADF) };
        match self.st.events.flavor(q) {
            Some(Flavor::Kqueue { owner }) => Ok((file, q, owner)),
            _ => Err(EBADF),
        }
    }

    /// Applies one change to kqueue `q` (of process `owner`), as NetBSD
    /// 10's kqueue_register: EV_ADD makes or updates a note (a new one
    /// clears the change's fflags and data) and runs its filter; without
    /// EV_ADD the note must exist, and EV_DELETE removes it; then
    /// EV_DISABLE and EV_ENABLE.
    fn kevent_register(&mut self, q: QueueId, owner: Pid, kev: &mut kevent) -> Result<(), Errno> {
        if !matches!(kev.filter, EVFILT_READ | EVFILT_WRITE | EVFILT_VNODE) {
            return Err(EINVAL);
        }
        let fd = i32::try_from(kev.ident).map_err(|_| EBADF)?;
        let file = self.file_of(fd)?;
        let key = Key::Kevent { ident: kev.ident, filter: kev.filter };
        let add = kev.flags & EV_ADD != 0;
        let id = match self.st.events.find(q, key) {
            Some(id) if add => {
                if let Watch::Kevent(k) = &mut self.st.events.note_mut(id).watch {
                    k.sfflags = kev.fflags;
                    k.udata = kev.udata;
                }
                id
            }
            None if add => {
                let kind = self.st.files.get(file).ok_or(EBADF)?.kind;
                attachable(kev.filter, kind, q)?;
                let k = Knote {
                    filter: kev.filter,
                    flags: kev.flags,
                    sfflags: kev.fflags,
                    udata: kev.udata,
                    fflags: 0,
                    data: 0,
                    active: false,
                    disabled: false,
                };
                kev.fflags = 0;
                kev.data = 0;
                let note = Note::new(q, file, State::source_of(kind), key, Watch::Kevent(k));
                self.st.add_note(note, Some((owner, fd)))?
            }
            None => return Err(ENOENT),
            Some(id) if kev.flags & EV_DELETE != 0 => {
                self.st.remove_note(id);
                return Ok(());
            }
            Some(id) => id,
        };
        if add && self.st.kevent_filter(id, Hint::NONE) {
            self.st.activate(id);
        }
        let Watch::Kevent(k) = &mut self.st.events.note_mut(id).watch else { return Ok(()) };
        if kev.flags & EV_DISABLE != 0 {
            k.disabled = true;
        }
        // Enabling queues a note that fired while it was disabled.
        if kev.flags & EV_ENABLE != 0 {
            k.disabled = false;
            if k.active {
                self.st.activate(id);
            }
        }
        Ok(())
    }

    /// kevent: applies `nchanges` changes from `changelist`, then waits
    /// until `timeout` (NULL: no limit) for up to `nevents` events.
    /// Returns how many entries of `eventlist` it filled: failed changes
    /// (and every change with EV_RECEIPT) as EV_ERROR entries, if any,
    /// else events. A failed change with no room to report it fails the
    /// call, and the changes after it are not made.
    pub fn kevent(
        &mut self,
        fd: i32,
        changelist: UserAddr,
        nchanges: usize,
        eventlist: UserAddr,
        nevents: usize,
        timeout: UserAddr,
    ) -> Result<usize, Errno> {
        let (file, q, owner) = self.kqueue_of(fd)?;
        let ts: Option<timespec> = if timeout.is_null() { None } else { Some(read_pod(self.mem, timeout)?) };
        let mut receipts = 0;
        for i in 0..nchanges {
            let mut kev: kevent = read_pod(self.mem, entry(changelist, i)?)?;
            kev.flags &= !EV_SYSFLAGS;
            let r = self.kevent_register(q, owner, &mut kev);
            if r.is_ok() && kev.flags & EV_RECEIPT == 0 {
                continue;
            }
            if receipts == nevents {
                return r.map(|_| 0);
            }
            kev.flags = EV_ERROR;
            kev.data = r.err().map_or(0, |e| e.raw() as i64);
            write_pod(self.mem, entry(eventlist, receipts)?, &kev)?;
            receipts += 1;
        }
        if receipts > 0 {
            return Ok(receipts);
        }
        let deadline = match ts {
            Some(t) => Timespec { sec: t.tv_sec, nsec: t.tv_nsec }.deadline()?,
            None => None,
        };
        if nevents == 0 {
            return Ok(0);
        }
        let got = self.queue_wait(file, q, nevents, deadline, |st, id| st.kevent_take(id))?;
        for (i, ev) in got.iter().enumerate() {
            write_pod(self.mem, entry(eventlist, i)?, ev)?;
        }
        Ok(got.len())
    }
}
