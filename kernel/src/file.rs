//! Open files: what an fd refers to, shared by every fd (and every process)
//! that was dup'ed or forked from the same open.

use crate::event::vnode::Link;
use crate::event::QueueId;
use crate::net::socket::SockId;
use crate::pipe::PipeId;
use crate::vfs::mount::Vnode;
use rump_abi::native::flags::{O_ACCMODE, O_APPEND, O_NONBLOCK, O_PATH, O_RDONLY, O_RDWR, O_WRONLY};

pub type FileId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Vnode(Vnode),
    /// One or both ends of a pipe (as the access mode says); `fifo` is the
    /// named pipe's vnode when it was opened by name.
    Pipe {
        id: PipeId,
        fifo: Option<Vnode>,
    },
    /// An event queue: a kqueue, an epoll or an inotify instance.
    Queue(QueueId),
    /// A socket of the network stack.
    Socket(SockId),
}

pub struct OpenFile {
    pub kind: FileKind,
    /// Native O_* status flags: access mode, O_APPEND, O_NONBLOCK, O_PATH…
    pub flags: u32,
    /// For vnodes: the byte offset, or the readdir cookie of a directory.
    pub offset: u64,
    /// How many fd slots refer to this open file.
    pub refs: usize,
    /// For a FIFO reader opened non-blocking while no writer was there:
    /// the pipe's writer-open count then, so that it does not hang up
    /// before a writer has come and gone (Linux's `f_version`). 0 else.
    pub hup_from: u64,
    /// For a vnode opened by name: that name, so changes made through the
    /// file reach its directory's watchers (`event::vnode`).
    pub link: Option<Link>,
}

/// Status flags F_SETFL may change.
pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK;

impl OpenFile {
    pub fn new(kind: FileKind, flags: u32) -> OpenFile {
        OpenFile { kind, flags, offset: 0, refs: 1, hup_from: 0, link: None }
    }

    pub fn readable(&self) -> bool {
        self.flags & O_PATH == 0 && matches!(self.flags & O_ACCMODE, O_RDONLY | O_RDWR)
    }

    pub fn writable(&self) -> bool {
        self.flags & O_PATH == 0 && matches!(self.flags & O_ACCMODE, O_WRONLY | O_RDWR)
    }

    pub fn nonblocking(&self) -> bool {
        self.flags & O_NONBLOCK != 0
    }

    pub fn vnode(&self) -> Option<Vnode> {
        match self.kind {
            FileKind::Vnode(v) => Some(v),
            _ => None,
        }
    }
}
