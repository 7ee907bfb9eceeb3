//! Event notes: the machinery kqueue and epoll share (NetBSD's knotes).
//!
//! A note is one registration of a queue (a kqueue or an epoll instance)
//! on a source — a pipe, a vnode or another queue — reached through an
//! open file. Notes hang on their source's list, so a change to a source
//! looks only at the notes on it (`State::knote`); a note that fires goes
//! on its queue's ready list and wakes the queue's channel, the poll
//! channel and the notes watching the queue itself. A wait takes ready
//! notes off the front (`State::scan`), the flavour deciding for each
//! whether to report it and whether it stays ready, so a wait costs
//! O(ready), not O(registered).
//!
//! The flavours — `kqueue` (NetBSD's kevent), `compat::linux::epoll` and
//! `compat::linux::inotify` — differ in when a note fires and what a
//! report does to it; the rest is here: attaching and removing notes, the
//! indexes that remove them when an fd closes (kqueue) or an open file
//! goes (epoll, inotify), and waiting. What happens to vnodes and
//! directory entries is told to all flavours through `vnode`.

pub mod kqueue;
pub mod vnode;

use crate::compat::linux::epoll::Item;
use crate::compat::linux::inotify::{Inbox, Mark};
use crate::file::{FileId, FileKind, OpenFile};
use crate::mem::{NOTE_BYTES, QUEUE_BYTES};
use crate::pipe::PipeId;
use crate::proc::Pid;
use crate::slab::Slab;
use crate::vfs::mount::Vnode;
use crate::wchan::WaitChannel;
use crate::{Cx, State, Waited};
use rump_abi::native::errno::{EBADF, EINVAL, ENOTTY, ENXIO};
use rump_abi::native::flags::{O_RDWR, POLLIN, POLLRDNORM};
use rump_abi::Errno;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

pub type NoteId = usize;
pub type QueueId = usize;

/// How deep queues may watch queues before a wake-up stops travelling up
/// (Linux's EP_MAX_NESTS + 1); also bounds kqueues that watch each other.
pub const MAX_NEST: u32 = 5;

/// What a note watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    Pipe(PipeId),
    Vnode(Vnode),
    Queue(QueueId),
    Socket(crate::net::socket::SockId),
}

/// Which epoll items a change wakes. Linux wakes a pipe's waiters with a
/// key (the events the change may have made true, here in native poll
/// bits), and on some changes not at all; kqueue notes look at every
/// change whatever its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    None,
    Key(i16),
    All,
}

/// What happened to a source, as the code that changed it tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hint<'a> {
    pub wake: Wake,
    /// NOTE_* bits, for vnodes: what happened to the vnode itself.
    pub vnode: u32,
    /// For a directory: the entry the change is about (`vnode::Entry`).
    pub entry: Option<vnode::Entry<'a>>,
}

impl Hint<'_> {
    /// Nothing new: a note re-checked before it is reported.
    pub const NONE: Hint<'static> = Hint { wake: Wake::None, vnode: 0, entry: None };

    pub const fn wake(wake: Wake) -> Hint<'static> {
        Hint { wake, vnode: 0, entry: None }
    }
}

/// A note's flavour and its own state.
pub enum Watch {
    Kevent(kqueue::Knote),
    Epoll(Item),
    Inotify(Mark),
}

pub struct Note {
    pub queue: QueueId,
    /// The open file the note was registered through.
    pub file: FileId,
    pub source: Source,
    pub watch: Watch,
    key: Key,
    queued: bool,
}

impl Note {
    pub fn new(queue: QueueId, file: FileId, source: Source, key: Key, watch: Watch) -> Note {
        Note { queue, file, source, watch, key, queued: false }
    }

    /// On its queue's ready list.
    pub fn is_queued(&self) -> bool {
        self.queued
    }
}

/// How a queue finds its notes: kqueue by (ident, filter), epoll by the
/// (open file, fd) pair Linux keys its items with, inotify by watch
/// descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Kevent { ident: u64, filter: u32 },
    Epoll { file: FileId, fd: i32 },
    Inotify { wd: i32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// A kqueue's notes name fds of the process that made it.
    Kqueue {
        owner: Pid,
    },
    Epoll,
    /// Linux's inotify: notes are watches on vnodes, and what they see
    /// waits as records in the queue's inbox until read.
    Inotify,
}

impl Flavor {
    /// What read and write of the queue's fd fail with: NetBSD's kqueue
    /// has neither (ENXIO), nor has Linux's epoll (EINVAL); inotify has
    /// no write (EINVAL).
    pub fn rw_error(self) -> Errno {
        match self {
            Flavor::Kqueue { .. } => ENXIO,
            Flavor::Epoll | Flavor::Inotify => EINVAL,
        }
    }

    /// What an ioctl the queue does not know fails with: ENOTTY, but
    /// Linux's epoll has an ioctl handler of its own that says EINVAL.
    pub fn ioctl_error(self) -> Errno {
        match self {
            Flavor::Kqueue { .. } | Flavor::Inotify => ENOTTY,
            Flavor::Epoll => EINVAL,
        }
    }
}

pub struct Queue {
    pub flavor: Flavor,
    notes: HashMap<Key, NoteId>,
    ready: VecDeque<NoteId>,
    /// Waiters in kevent/epoll_wait and inotify reads sleep here.
    pub chan: Arc<WaitChannel>,
    /// An inotify instance's records; empty for the other flavours.
    pub inbox: Inbox,
}

impl Queue {
    /// Every note of the queue.
    pub fn notes(&self) -> impl Iterator<Item = NoteId> + '_ {
        self.notes.values().copied()
    }

    /// Notes on the ready list, stale ones included.
    pub fn pending(&self) -> usize {
        self.ready.len()
    }
}

/// What a scan does with a note it reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Still ready: back at the end of the ready list.
    Requeue,
    /// Off the ready list until it fires again.
    Dequeue,
    /// Gone (EV_ONESHOT).
    Remove,
}

/// All notes and queues of a kernel.
#[derive(Default)]
pub struct Events {
    notes: Slab<Note>,
    queues: Slab<Queue>,
    /// Source → its notes, oldest first.
    on_source: HashMap<Source, Vec<NoteId>>,
    /// Open file → the notes registered through it.
    on_file: HashMap<FileId, Vec<NoteId>>,
    /// (process, fd) → the kqueue notes naming that fd.
    on_fd: HashMap<(Pid, i32), Vec<NoteId>>,
    /// The last rename cookie handed out (Linux's fsnotify_sync_cookie).
    cookie: u32,
}

impl Events {
    pub fn queue(&self, q: QueueId) -> Option<&Queue> {
        self.queues.get(q)
    }

    pub fn queue_mut(&mut self, q: QueueId) -> Option<&mut Queue> {
        self.queues.get_mut(q)
    }

    pub fn flavor(&self, q: QueueId) -> Option<Flavor> {
        self.queues.get(q).map(|queue| queue.flavor)
    }

    pub fn note(&self, id: NoteId) -> &Note {
        &self.notes[id]
    }

    pub fn note_mut(&mut self, id: NoteId) -> &mut Note {
        &mut self.notes[id]
    }

    pub fn find(&self, q: QueueId, key: Key) -> Option<NoteId> {
        self.queues.get(q)?.notes.get(&key).copied()
    }

    /// Does anything watch `src`? Lets callers skip work only a note needs.
    pub fn watched(&self, src: Source) -> bool {
        self.on_source.contains_key(&src)
    }

    /// The notes on `src`, oldest first.
    pub fn notes_on(&self, src: Source) -> impl Iterator<Item = NoteId> + '_ {
        self.on_source.get(&src).into_iter().flatten().copied()
    }

    /// The queues with a note on `src`.
    pub fn watchers(&self, src: Source) -> impl Iterator<Item = QueueId> + '_ {
        self.notes_on(src).map(|id| self.notes[id].queue)
    }
}

fn unlist<K: Eq + std::hash::Hash>(map: &mut HashMap<K, Vec<NoteId>>, key: K, id: NoteId) {
    if let Some(v) = map.get_mut(&key) {
        v.retain(|&n| n != id);
        if v.is_empty() {
            map.remove(&key);
        }
    }
}

impl State {
    /// A new, empty queue; ENOMEM past the memory budget.
    fn new_queue(&mut self, flavor: Flavor) -> Result<QueueId, Errno> {
        self.mem.charge(QUEUE_BYTES)?;
        let queue = Queue {
            flavor,
            notes: HashMap::new(),
            ready: VecDeque::new(),
            chan: Arc::new(WaitChannel::new()),
            inbox: Inbox::default(),
        };
        Ok(self.events.queues.insert(queue))
    }

    /// Frees a queue and its notes (its open file is gone).
    fn free_queue(&mut self, q: QueueId) {
        let Some(queue) = self.events.queues.get(q) else { return };
        let notes: Vec<NoteId> = queue.notes().collect();
        for id in notes {
            self.remove_note(id);
        }
        self.events.queues.remove(q);
        self.mem.uncharge(QUEUE_BYTES);
    }

    /// Attaches a note to its source and queue; `fd` names the (process,
    /// fd) whose close removes it. ENOMEM past the budget.
    pub fn add_note(&mut self, note: Note, fd: Option<(Pid, i32)>) -> Result<NoteId, Errno> {
        self.mem.charge(NOTE_BYTES)?;
        let (q, file, source, key) = (note.queue, note.file, note.source, note.key);
        let ev = &mut self.events;
        let id = ev.notes.insert(note);
        ev.queues[q].notes.insert(key, id);
        ev.on_source.entry(source).or_default().push(id);
        ev.on_file.entry(file).or_default().push(id);
        if let Some(fd) = fd {
            ev.on_fd.entry(fd).or_default().push(id);
        }
        Ok(id)
    }

    pub fn remove_note(&mut self, id: NoteId) {
        let ev = &mut self.events;
        let Some(n) = ev.notes.remove(id) else { return };
        let queue = &mut ev.queues[n.queue];
        queue.notes.remove(&n.key);
        if n.queued {
            queue.ready.retain(|&r| r != id);
        }
        unlist(&mut ev.on_source, n.source, id);
        unlist(&mut ev.on_file, n.file, id);
        if let (Key::Kevent { ident, .. }, Flavor::Kqueue { owner }) = (n.key, queue.flavor) {
            unlist(&mut ev.on_fd, (owner, ident as i32), id);
        }
        // An inotify watch holds its vnode, as Linux's mark holds the inode.
        if let (Watch::Inotify(_), Source::Vnode(vn)) = (&n.watch, n.source) {
            self.vrele(vn);
        }
        self.mem.uncharge(NOTE_BYTES);
    }

    /// `fd` of process `pid` is closing: kqueue notes naming it go.
    pub fn fd_closed(&mut self, pid: Pid, fd: i32) {
        for id in self.events.on_fd.remove(&(pid, fd)).unwrap_or_default() {
            self.remove_note(id);
        }
    }

    /// An open file is gone: the notes registered through it go, and if
    /// it was a queue, the queue with all its notes.
    pub(crate) fn file_released(&mut self, file: FileId, kind: FileKind) {
        for id in self.events.on_file.remove(&file).unwrap_or_default() {
            self.remove_note(id);
        }
        if let FileKind::Queue(q) = kind {
            self.free_queue(q);
        }
    }

    /// The source behind an open file's kind.
    pub fn source_of(kind: FileKind) -> Source {
        match kind {
            FileKind::Vnode(vn) => Source::Vnode(vn),
            FileKind::Pipe { id, .. } => Source::Pipe(id),
            FileKind::Queue(q) => Source::Queue(q),
            FileKind::Socket(s) => Source::Socket(s),
        }
    }

    /// Something happened to `src`: every note on it looks, newest first
    /// (the order Linux's wait queues call back in), and those that fire
    /// go on their queues' ready lists.
    pub fn knote(&mut self, src: Source, hint: Hint) {
        self.knote_nested(src, hint, 0);
    }

    fn knote_nested(&mut self, src: Source, hint: Hint, depth: u32) {
        let Some(list) = self.events.on_source.get(&src) else { return };
        for id in list.clone().into_iter().rev() {
            // An inotify watch may go while the others look (IN_ONESHOT).
            let Some(n) = self.events.notes.get(id) else { continue };
            let fires = match &n.watch {
                Watch::Kevent(_) => self.kevent_filter(id, hint),
                Watch::Epoll(item) => item.woken_by(hint.wake),
                Watch::Inotify(_) => {
                    self.inotify_fire(id, &hint);
                    false
                }
            };
            if fires {
                self.activate_nested(id, depth);
            }
        }
    }

    /// Puts a note that fired on its queue's ready list and wakes whoever
    /// waits on the queue. A kqueue note that is disabled only remembers
    /// it fired; a kqueue wakes only when a note newly queues, an epoll
    /// instance on every wake-up, as Linux's callback does.
    pub fn activate(&mut self, id: NoteId) {
        self.activate_nested(id, 0);
    }

    fn activate_nested(&mut self, id: NoteId, depth: u32) {
        let n = &mut self.events.notes[id];
        let (enqueue, always_wake) = match &mut n.watch {
            Watch::Kevent(k) => (k.fire(), false),
            Watch::Epoll(_) => (true, true),
            // Inotify watches queue records, never themselves.
            Watch::Inotify(_) => return,
        };
        let newly = enqueue && !n.queued;
        let q = n.queue;
        if newly {
            n.queued = true;
            self.events.queues[q].ready.push_back(id);
        }
        if newly || always_wake {
            self.wake_queue(q, depth);
        }
    }

    /// Wakes whoever waits on queue `q`: its readers and pollers, and the
    /// queues watching it (a wake-up `depth` deep already).
    pub(crate) fn wake_queue(&mut self, q: QueueId, depth: u32) {
        self.events.queues[q].chan.notify_all();
        if depth < MAX_NEST {
            self.knote_nested(Source::Queue(q), Hint::wake(Wake::Key(POLLIN | POLLRDNORM)), depth + 1);
        }
    }

    /// Puts a reported note that stays ready back at the end of the list.
    fn requeue(&mut self, id: NoteId) {
        let n = &mut self.events.notes[id];
        if !n.queued {
            n.queued = true;
            self.events.queues[n.queue].ready.push_back(id);
        }
    }

    /// Takes notes off the front of `q`'s ready list, the ones there when
    /// it starts, until `max` are reported: `look` says whether a note has
    /// something to report and what then becomes of it; a note it passes
    /// over stays off the list until it fires again.
    pub fn scan<E>(
        &mut self,
        q: QueueId,
        max: usize,
        look: &mut impl FnMut(&mut State, NoteId) -> Option<(E, After)>,
    ) -> Vec<E> {
        let mut out = Vec::new();
        let Some(queue) = self.events.queues.get(q) else { return out };
        let mut left = queue.ready.len();
        while out.len() < max && left > 0 {
            left -= 1;
            let Some(id) = self.events.queues[q].ready.pop_front() else { break };
            self.events.notes[id].queued = false;
            let Some((e, after)) = look(self, id) else { continue };
            out.push(e);
            match after {
                After::Requeue => self.requeue(id),
                After::Dequeue => {}
                After::Remove => self.remove_note(id),
            }
        }
        out
    }

    /// Whether a note on `q`'s ready list passes `check`, dropping the
    /// ones before it that do not (Linux's poll of an epoll fd).
    pub fn first_ready(&mut self, q: QueueId, check: &mut impl FnMut(&mut State, NoteId) -> bool) -> bool {
        while let Some(&id) = self.events.queues.get(q).and_then(|queue| queue.ready.front()) {
            if check(self, id) {
                return true;
            }
            self.events.queues[q].ready.pop_front();
            self.events.notes[id].queued = false;
        }
        false
    }

    /// Whether a queue has events: a kqueue counts its ready list (as
    /// NetBSD does), an epoll instance checks its items (as Linux does).
    pub fn queue_ready(&mut self, q: QueueId, depth: u32) -> bool {
        match self.events.flavor(q) {
            Some(Flavor::Kqueue { .. }) => self.events.queues[q].pending() > 0,
            Some(Flavor::Epoll) => self.epoll_ready(q, depth),
            Some(Flavor::Inotify) => !self.events.queues[q].inbox.is_empty(),
            None => false,
        }
    }
}

impl Cx<'_> {
    /// A new queue of `flavor`, open read-write on the lowest free fd with
    /// status flags `status`.
    pub fn install_queue(&mut self, flavor: Flavor, status: u32, cloexec: bool) -> Result<i32, Errno> {
        let q = self.st.new_queue(flavor)?;
        let file = OpenFile::new(FileKind::Queue(q), O_RDWR | status);
        self.install(file, 0, cloexec).inspect_err(|_| self.st.free_queue(q))
    }

    /// Waits until a scan of queue `q` (open as `file`) reports something
    /// or `deadline` passes (None: no deadline). The file is held for the
    /// wait, so closing its fd meanwhile does not free the queue under it.
    pub fn queue_wait<E>(
        &mut self,
        file: FileId,
        q: QueueId,
        max: usize,
        deadline: Option<Instant>,
        mut look: impl FnMut(&mut State, NoteId) -> Option<(E, After)>,
    ) -> Result<Vec<E>, Errno> {
        self.st.file_ref(file);
        let r = self.queue_wait_held(q, max, deadline, &mut look);
        self.st.file_unref(file);
        r
    }

    fn queue_wait_held<E>(
        &mut self,
        q: QueueId,
        max: usize,
        deadline: Option<Instant>,
        look: &mut impl FnMut(&mut State, NoteId) -> Option<(E, After)>,
    ) -> Result<Vec<E>, Errno> {
        loop {
            let got = self.st.scan(q, max, look);
            if !got.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(got);
            }
            let chan = self.st.events.queue(q).ok_or(EBADF)?.chan.clone();
            if self.wait_ready(&chan, deadline)? == Waited::Armed {
                return Ok(got);
            }
        }
    }
}
