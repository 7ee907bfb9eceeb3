//! The lock table: which locks each object (a vnode, a pipe, a socket…)
//! holds, with Linux's rules for conflicts, splitting and merging, and who
//! waits for whom. Plain data: sleeping, fds and access checks are the
//! caller's (`super`).
//!
//! Record locks (POSIX and OFD) share one list per object and conflict
//! with each other whenever their owners differ; flock(2) locks live in a
//! list of their own and never meet record locks, as on Linux.

use crate::event::Source;
use crate::file::FileId;
use crate::proc::Pid;
use crate::wchan::WaitChannel;
use std::collections::HashMap;
use std::sync::Arc;

/// The last byte of a lock that runs to the end of the file, however far
/// that grows (Linux's OFFSET_MAX).
pub const TO_EOF: i64 = i64::MAX;

/// How far the EDEADLK search follows waiters (Linux's MAX_DEADLK_ITERATIONS).
const MAX_DEADLOCK_HOPS: usize = 10;

/// Who a record lock belongs to: a process (POSIX locks, released by any
/// close of the file by that process) or an open file (OFD locks,
/// released by its last close).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Process(Pid),
    File(FileId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

/// Bytes `start..=end` of a file; `end` is `TO_EOF` for "to the end".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: i64,
    pub end: i64,
}

impl Range {
    fn overlaps(self, o: Range) -> bool {
        self.start <= o.end && o.start <= self.end
    }

    /// Overlapping or adjacent: one lock can cover both.
    fn touches(self, o: Range) -> bool {
        self.start <= o.end.saturating_add(1) && o.start <= self.end.saturating_add(1)
    }
}

/// One held record lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub owner: Owner,
    pub kind: Kind,
    pub range: Range,
}

impl Record {
    fn conflicts(&self, owner: Owner, kind: Kind, range: Range) -> bool {
        self.owner != owner && self.range.overlaps(range) && (self.kind == Kind::Write || kind == Kind::Write)
    }
}

/// One held flock(2) lock: the open file and whether it is exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Flock {
    file: FileId,
    exclusive: bool,
}

/// Everything locked on one object, and where its waiters sleep.
#[derive(Default)]
struct Object {
    /// In Linux's order: owners in the order they first locked, each
    /// owner's locks together and by offset (F_GETLK reports the first
    /// conflict in this order).
    records: Vec<Record>,
    flocks: Vec<Flock>,
    chan: Arc<WaitChannel>,
}

impl Object {
    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.flocks.is_empty()
    }
}

/// Every lock of one kernel.
#[derive(Default)]
pub struct Locks {
    objects: HashMap<Source, Object>,
    /// Processes asleep in F_SETLKW on another process's POSIX lock:
    /// (waiter, holder), for the EDEADLK search.
    waiting: Vec<(Pid, Pid)>,
}

impl Locks {
    /// Where waiters for `src`'s locks sleep.
    pub fn chan(&mut self, src: Source) -> Arc<WaitChannel> {
        self.objects.entry(src).or_default().chan.clone()
    }

    /// The first record lock on `src` that a lock of `kind` over `range`
    /// by `owner` would conflict with.
    pub fn record_conflict(&self, src: Source, owner: Owner, kind: Kind, range: Range) -> Option<Record> {
        self.objects.get(&src)?.records.iter().find(|r| r.conflicts(owner, kind, range)).copied()
    }

    /// Sets (`Some(kind)`) or clears (`None`) `range` for `owner`: the
    /// owner's locks there are cut away, and a new lock merges with the
    /// owner's locks of the same kind that it overlaps or touches. The
    /// caller has checked for conflicts. Waiters are woken.
    pub fn set_record(&mut self, src: Source, owner: Owner, kind: Option<Kind>, range: Range) {
        let obj = self.objects.entry(src).or_default();
        let at = obj.records.iter().position(|r| r.owner == owner).unwrap_or(obj.records.len());
        let mut mine = Vec::new();
        obj.records.retain(|r| {
            let keep = r.owner != owner;
            if !keep {
                mine.push(*r);
            }
            keep
        });
        let mut kept = Vec::with_capacity(mine.len() + 2);
        for r in mine {
            if !r.range.overlaps(range) {
                kept.push(r);
                continue;
            }
            if r.range.start < range.start {
                kept.push(Record { range: Range { end: range.start - 1, ..r.range }, ..r });
            }
            if r.range.end > range.end {
                kept.push(Record { range: Range { start: range.end + 1, ..r.range }, ..r });
            }
        }
        if let Some(kind) = kind {
            let mut new = Record { owner, kind, range };
            kept.retain(|r| {
                let merge = r.kind == kind && r.range.touches(new.range);
                if merge {
                    new.range =
                        Range { start: r.range.start.min(new.range.start), end: r.range.end.max(new.range.end) };
                }
                !merge
            });
            kept.push(new);
        }
        kept.sort_by_key(|r| r.range.start);
        obj.records.splice(at..at, kept);
        self.changed(src);
    }

    /// Drops every record lock of `owner` on `src`.
    pub fn release_records(&mut self, src: Source, owner: Owner) {
        self.release(src, |o| drop_where(&mut o.records, |r| r.owner == owner));
    }

    /// The flock lock `file` holds on `src`: Some(exclusive) or None.
    pub fn flock_held(&self, src: Source, file: FileId) -> Option<bool> {
        let obj = self.objects.get(&src)?;
        obj.flocks.iter().find(|f| f.file == file).map(|f| f.exclusive)
    }

    /// Whether another open file's flock lock stands in the way of one
    /// (exclusive or shared) by `file`.
    pub fn flock_conflict(&self, src: Source, file: FileId, exclusive: bool) -> bool {
        self.objects.get(&src).is_some_and(|o| o.flocks.iter().any(|f| f.file != file && (exclusive || f.exclusive)))
    }

    pub fn add_flock(&mut self, src: Source, file: FileId, exclusive: bool) {
        self.objects.entry(src).or_default().flocks.push(Flock { file, exclusive });
    }

    /// Drops `file`'s flock lock on `src`, waking waiters.
    pub fn release_flock(&mut self, src: Source, file: FileId) {
        self.release(src, |o| drop_where(&mut o.flocks, |f| f.file == file));
    }

    /// Lets `drop` take locks off `src`; waiters wake if it took any.
    fn release(&mut self, src: Source, drop: impl FnOnce(&mut Object) -> bool) {
        if self.objects.get_mut(&src).is_some_and(drop) {
            self.changed(src);
        }
    }

    /// Wakes `src`'s waiters and forgets the object once nothing is
    /// locked (a waiter keeps its channel and looks again).
    fn changed(&mut self, src: Source) {
        let Some(obj) = self.objects.get(&src) else { return };
        obj.chan.notify_all();
        if obj.is_empty() {
            self.objects.remove(&src);
        }
    }

    /// Whether `me` waiting for `holder` would close a cycle of POSIX
    /// waiters: `holder` waits for someone who waits … for `me`.
    pub fn would_deadlock(&self, me: Pid, holder: Pid) -> bool {
        let mut next = holder;
        for _ in 0..MAX_DEADLOCK_HOPS {
            match self.waiting.iter().find(|(w, _)| *w == next) {
                Some(&(_, h)) if h == me => return true,
                Some(&(_, h)) => next = h,
                None => return false,
            }
        }
        false
    }

    /// `waiter` goes to sleep on `holder`'s POSIX lock.
    pub fn start_waiting(&mut self, waiter: Pid, holder: Pid) {
        self.waiting.push((waiter, holder));
    }

    pub fn stop_waiting(&mut self, waiter: Pid, holder: Pid) {
        if let Some(i) = self.waiting.iter().position(|&e| e == (waiter, holder)) {
            self.waiting.swap_remove(i);
        }
    }

    /// The record locks on `src`, in the table's order (for tests).
    pub fn records(&self, src: Source) -> Vec<Record> {
        self.objects.get(&src).map(|o| o.records.clone()).unwrap_or_default()
    }
}

/// Removes the items `doomed` picks; true if there were any.
fn drop_where<T>(v: &mut Vec<T>, doomed: impl Fn(&T) -> bool) -> bool {
    let before = v.len();
    v.retain(|x| !doomed(x));
    v.len() != before
}
