//! inotify as Linux has it, the Linux face of the vnode notes kqueue's
//! EVFILT_VNODE reads (`crate::event::vnode`): an inotify instance is an
//! event queue whose notes are watches on vnodes, one per (instance,
//! vnode), named by a watch descriptor. A change a watch wants becomes a
//! record in the instance's inbox (`struct inotify_event`: wd, mask,
//! cookie, the entry's name NUL-padded to a multiple of 16 bytes), which
//! `read` hands out whole.
//!
//! As on Linux: a record identical to the last one queued is dropped
//! (coalescing); past `MAX_QUEUED` records one IN_Q_OVERFLOW (wd -1)
//! stands for all that were lost; IN_ONESHOT and the watched vnode going
//! (IN_DELETE_SELF) remove the watch, as rm_watch does, and IN_IGNORED
//! says so; a watch holds its vnode as Linux's mark holds the inode.

use crate::cred::{check_access, R};
use crate::event::vnode::{Change, Entry};
use crate::event::{Flavor, Hint, Key, Note, NoteId, QueueId, Source, Watch};
use crate::file::{FileId, FileKind};
use crate::vfs::mount::Vnode;
use crate::vfs::VType;
use crate::{Cx, State};
use rump_abi::linux::flags::*;
use rump_abi::linux::sys::args::*;
use rump_abi::native::errno::{EAGAIN, EBADF, EEXIST, EINVAL, ENOTDIR};
use rump_abi::native::flags::{
    AT_FDCWD, NOTE_ATTRIB, NOTE_CLOSE, NOTE_CLOSE_WRITE, NOTE_DELETE, NOTE_LINK, NOTE_OPEN, NOTE_READ, NOTE_RENAME,
    NOTE_WRITE, O_NONBLOCK as NATIVE_NONBLOCK,
};
use rump_abi::{Errno, SysResult, UserAddr};
use std::collections::VecDeque;

/// Linux's default /proc/sys/fs/inotify/max_queued_events.
pub const MAX_QUEUED: usize = 16384;
/// The fixed part of a record (`struct inotify_event` without its name).
const HEADER: usize = 16;

/// Whether inotify_add_watch takes `mask`: some bit it knows, and not
/// both IN_MASK_ADD and IN_MASK_CREATE.
pub fn mask_valid(mask: u32) -> bool {
    mask & IN_ALL_BITS != 0 && mask & (IN_MASK_ADD | IN_MASK_CREATE) != IN_MASK_ADD | IN_MASK_CREATE
}

/// One watch: its descriptor and what it asked for.
pub struct Mark {
    wd: i32,
    mask: u32,
    /// The vnode lost its last name while open: IN_DELETE_SELF waits for
    /// its last close, as Linux's waits for the last dentry reference.
    unlinked: bool,
}

/// One queued `struct inotify_event`.
#[derive(Clone, PartialEq, Eq)]
struct Record {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: Box<[u8]>,
}

impl Record {
    /// The name field's length: none, or the name and a NUL padded to a
    /// multiple of the header's size, as Linux rounds it.
    fn name_len(&self) -> usize {
        if self.name.is_empty() {
            0
        } else {
            (self.name.len() + 1).div_ceil(HEADER) * HEADER
        }
    }

    fn size(&self) -> usize {
        HEADER + self.name_len()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.wd.to_ne_bytes());
        out.extend_from_slice(&self.mask.to_ne_bytes());
        out.extend_from_slice(&self.cookie.to_ne_bytes());
        out.extend_from_slice(&(self.name_len() as u32).to_ne_bytes());
        let start = out.len();
        out.extend_from_slice(&self.name);
        out.resize(start + self.name_len(), 0);
    }

    fn overflow() -> Record {
        Record { wd: -1, mask: IN_Q_OVERFLOW, cookie: 0, name: Box::default() }
    }
}

/// An instance's records waiting to be read, and its next wd.
#[derive(Default)]
pub struct Inbox {
    records: VecDeque<Record>,
    /// The bytes the records take when read (FIONREAD).
    bytes: usize,
    last_wd: i32,
}

impl Inbox {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Queues `r` unless it repeats the last record; past the limit, one
    /// overflow record stands for the rest. True if anything was queued.
    fn push(&mut self, r: Record) -> bool {
        let r = if self.records.len() >= MAX_QUEUED { Record::overflow() } else { r };
        if let Some(last) = self.records.back() {
            let repeats = last.mask & IN_IGNORED == 0 && (last.mask, last.wd, &last.name) == (r.mask, r.wd, &r.name);
            if repeats {
                return false;
            }
        }
        self.bytes += r.size();
        self.records.push_back(r);
        true
    }

    /// A new watch descriptor: the next after the last, from 1, never
    /// negative (Linux's cyclic allocation).
    fn next_wd(&mut self) -> i32 {
        self.last_wd = if self.last_wd == i32::MAX { 1 } else { self.last_wd + 1 };
        self.last_wd
    }
}

/// The inotify events NOTE_* `bits` of a vnode stand for, in the order
/// Linux raises them when one change makes several (a truncating open
/// modifies before it opens; an unlink changes the link count before the
/// file goes). `child`: seen from the directory, which hears only the
/// events Linux passes up to a parent.
fn events_of(bits: u32, isdir: bool, child: bool) -> Vec<u32> {
    let table = [
        (NOTE_READ, IN_ACCESS, true),
        (if isdir { 0 } else { NOTE_WRITE }, IN_MODIFY, true),
        (NOTE_ATTRIB, IN_ATTRIB, true),
        (if isdir { 0 } else { NOTE_LINK }, IN_ATTRIB, false),
        (NOTE_CLOSE_WRITE, IN_CLOSE_WRITE, true),
        (NOTE_CLOSE, IN_CLOSE_NOWRITE, true),
        (NOTE_OPEN, IN_OPEN, true),
        (NOTE_RENAME, IN_MOVE_SELF, false),
        (NOTE_DELETE, IN_DELETE_SELF, false),
    ];
    let mut out: Vec<u32> = Vec::new();
    for (note, event, to_parent) in table {
        if bits & note != 0 && (to_parent || !child) && out.last() != Some(&event) {
            out.push(event);
        }
    }
    out
}

impl State {
    /// A change reached inotify watch `id`: queues what it wants to see,
    /// and removes the watch when it is one-shot and fired or its vnode
    /// is gone.
    pub(crate) fn inotify_fire(&mut self, id: NoteId, hint: &Hint) {
        let n = self.events.note(id);
        let (Watch::Inotify(mark), Source::Vnode(vn)) = (&n.watch, n.source) else { return };
        let (q, wd, want) = (n.queue, mark.wd, mark.mask);
        let (events, cookie, name, isdir): (Vec<u32>, u32, &[u8], bool) = match hint.entry {
            Some(Entry { name, change, isdir }) => match change {
                Change::Created => (vec![IN_CREATE], 0, name, isdir),
                Change::Removed => (vec![IN_DELETE], 0, name, isdir),
                Change::MovedFrom(c) => (vec![IN_MOVED_FROM], c, name, isdir),
                Change::MovedTo(c) => (vec![IN_MOVED_TO], c, name, isdir),
                Change::Child { unlinked: true, .. } if want & IN_EXCL_UNLINK != 0 => return,
                Change::Child { bits, .. } => (events_of(bits, isdir, true), 0, name, isdir),
            },
            None => {
                let isdir = self.mounts.fs(vn.mnt).getattr(vn.node).is_ok_and(|a| a.vtype == VType::Dir);
                (self.inotify_self_events(id, vn, hint.vnode, isdir), 0, &[][..], isdir)
            }
        };
        let mut queued = false;
        let mut ends = false;
        for event in events {
            if want & event != 0 {
                // Linux marks what happened to a directory, but not its own
                // move or end.
                let of_dir = isdir && event & (IN_MOVE_SELF | IN_DELETE_SELF) == 0;
                let mask = event | if of_dir { IN_ISDIR } else { 0 };
                let r = Record { wd, mask, cookie, name: name.into() };
                queued |= self.events.queue_mut(q).is_some_and(|queue| queue.inbox.push(r));
                ends |= want & IN_ONESHOT != 0;
            }
            ends |= event == IN_DELETE_SELF;
            if ends {
                break;
            }
        }
        if ends {
            self.inotify_unwatch(q, id);
        } else if queued {
            self.wake_queue(q, 0);
        }
    }

    /// What NOTE_* `bits` on watch `id`'s own vnode `vn` are to it: the
    /// vnode's end comes once it has neither a name nor an open file.
    fn inotify_self_events(&mut self, id: NoteId, vn: Vnode, bits: u32, isdir: bool) -> Vec<u32> {
        let mut events = events_of(bits, isdir, false);
        let Watch::Inotify(mark) = &self.events.note(id).watch else { return events };
        let closing = mark.unlinked && bits & (NOTE_CLOSE | NOTE_CLOSE_WRITE) != 0;
        if !events.contains(&IN_DELETE_SELF) && !closing {
            return events;
        }
        events.retain(|&e| e != IN_DELETE_SELF);
        let open = self.files.iter().any(|(_, f)| f.vnode() == Some(vn));
        if !open {
            events.push(IN_DELETE_SELF);
        }
        if let Watch::Inotify(mark) = &mut self.events.note_mut(id).watch {
            mark.unlinked = open;
        }
        events
    }

    /// Removes watch `id` of instance `q`, telling the reader (IN_IGNORED).
    fn inotify_unwatch(&mut self, q: QueueId, id: NoteId) {
        let Watch::Inotify(mark) = &self.events.note(id).watch else { return };
        let r = Record { wd: mark.wd, mask: IN_IGNORED, cookie: 0, name: Box::default() };
        self.remove_note(id);
        if let Some(queue) = self.events.queue_mut(q) {
            queue.inbox.push(r);
        }
        self.wake_queue(q, 0);
    }

    /// Instance `q`'s watch on `vn`, if it has one.
    fn inotify_watch_on(&self, q: QueueId, vn: Vnode) -> Option<NoteId> {
        let ev = &self.events;
        ev.notes_on(Source::Vnode(vn)).find(|&id| ev.note(id).queue == q)
    }
}

impl Cx<'_> {
    /// The inotify instance open at `fd`: EBADF for a bad fd, EINVAL for
    /// another kind of file.
    fn inotify_of(&self, fd: i32) -> Result<(FileId, QueueId), Errno> {
        let file = self.file_of(fd)?;
        match self.st.files.get(file).ok_or(EBADF)?.kind {
            FileKind::Queue(q) if self.st.events.flavor(q) == Some(Flavor::Inotify) => Ok((file, q)),
            _ => Err(EINVAL),
        }
    }

    /// inotify_add_watch, with Linux's checks in Linux's order. Returns
    /// the watch's descriptor (the same one for a vnode already watched).
    pub fn inotify_add_watch(&mut self, fd: i32, path: &[u8], mask: u32) -> Result<i32, Errno> {
        if !mask_valid(mask) {
            return Err(EINVAL);
        }
        let (file, q) = self.inotify_of(fd)?;
        let vn = self.lookup_at(AT_FDCWD, path, mask & IN_DONT_FOLLOW == 0)?;
        let attr = self.getattr(vn)?;
        if mask & IN_ONLYDIR != 0 && attr.vtype != VType::Dir {
            return Err(ENOTDIR);
        }
        check_access(&self.proc().cred, &attr, R)?;
        let wanted = mask & (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK);
        if let Some(id) = self.st.inotify_watch_on(q, vn) {
            if mask & IN_MASK_CREATE != 0 {
                return Err(EEXIST);
            }
            let Watch::Inotify(mark) = &mut self.st.events.note_mut(id).watch else { return Err(EINVAL) };
            mark.mask = if mask & IN_MASK_ADD != 0 { mark.mask | wanted } else { wanted };
            return Ok(mark.wd);
        }
        let wd = self.st.events.queue_mut(q).ok_or(EBADF)?.inbox.next_wd();
        let note = Note::new(
            q,
            file,
            Source::Vnode(vn),
            Key::Inotify { wd },
            Watch::Inotify(Mark { wd, mask: wanted, unlinked: false }),
        );
        self.st.add_note(note, None)?;
        self.st.vref(vn);
        Ok(wd)
    }

    pub fn inotify_rm_watch(&mut self, fd: i32, wd: i32) -> Result<(), Errno> {
        let (_, q) = self.inotify_of(fd)?;
        let id = self.st.events.find(q, Key::Inotify { wd }).ok_or(EINVAL)?;
        self.st.inotify_unwatch(q, id);
        Ok(())
    }

    /// read of an inotify instance: whole records, as many as fit; EINVAL
    /// if the first does not. Waits for one unless the file is
    /// non-blocking.
    pub(crate) fn inotify_read(&mut self, file: FileId, q: QueueId, buf: UserAddr, len: usize) -> Result<usize, Errno> {
        loop {
            let nonblock = self.st.files.get(file).ok_or(EBADF)?.flags & NATIVE_NONBLOCK != 0;
            let queue = self.st.events.queue_mut(q).ok_or(EBADF)?;
            if !queue.inbox.is_empty() {
                let mut out = Vec::new();
                while let Some(r) = queue.inbox.records.front() {
                    if out.len() + r.size() > len {
                        break;
                    }
                    r.encode(&mut out);
                    queue.inbox.bytes -= r.size();
                    queue.inbox.records.pop_front();
                }
                if out.is_empty() {
                    return Err(EINVAL);
                }
                self.mem.copy_out(buf, &out)?;
                return Ok(out.len());
            }
            if nonblock {
                return Err(EAGAIN);
            }
            let chan = queue.chan.clone();
            self.st.file_ref(file);
            let slept = self.sleep(&chan);
            self.st.file_unref(file);
            slept?;
        }
    }

    /// The bytes a read would now return in all (FIONREAD).
    pub(crate) fn inotify_pending_bytes(&self, q: QueueId) -> usize {
        self.st.events.queue(q).map_or(0, |queue| queue.inbox.bytes)
    }
}

pub fn linux_sys_inotify_init1(cx: &mut Cx, a: linux_sys_inotify_init1_args) -> SysResult {
    let flags = a.flags as u32;
    if flags & !(IN_NONBLOCK | IN_CLOEXEC) != 0 {
        return Err(EINVAL);
    }
    let status = if flags & IN_NONBLOCK != 0 { NATIVE_NONBLOCK } else { 0 };
    cx.install_queue(Flavor::Inotify, status, flags & IN_CLOEXEC != 0).map(i64::from)
}

pub fn linux_sys_inotify_init(cx: &mut Cx, _a: linux_sys_inotify_init_args) -> SysResult {
    cx.install_queue(Flavor::Inotify, 0, false).map(i64::from)
}

pub fn linux_sys_inotify_add_watch(cx: &mut Cx, a: linux_sys_inotify_add_watch_args) -> SysResult {
    // The mask is checked before the path is read, as on Linux.
    if !mask_valid(a.mask) {
        return Err(EINVAL);
    }
    let path = super::at::path(cx, a.pathname)?;
    cx.inotify_add_watch(a.fd, &path, a.mask).map(i64::from)
}

pub fn linux_sys_inotify_rm_watch(cx: &mut Cx, a: linux_sys_inotify_rm_watch_args) -> SysResult {
    cx.inotify_rm_watch(a.fd, a.wd).map(|_| 0)
}
