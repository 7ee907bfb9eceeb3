//! Mapping rump files into host memory: which host fd a process maps an
//! open file through, with the checks Linux's mmap makes on the open file
//! before it asks the file system (`FileSystem::mappable_fd`).

use std::os::fd::OwnedFd;

use rump_abi::native::errno::{EACCES, EBADF, EINVAL, ENODEV, ESRCH};
use rump_abi::native::flags::O_PATH;
use rump_abi::Errno;

use crate::file::FileKind;
use crate::proc::Pid;
use crate::State;

/// How a process maps a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// MAP_SHARED: the mapping and the file are one memory, so data the
    /// kernel keeps in its own memory moves to shared memory first.
    Shared,
    /// MAP_PRIVATE: a copy-on-write view. Data already in host memory is
    /// mapped; data in the kernel's own memory stays there (no host fd per
    /// privately mapped file), and the caller copies it.
    Private,
}

impl State {
    /// The host fd process `pid` maps its fd `fd` through (`None`: copy
    /// it, see `MapKind::Private`): EBADF for a
    /// closed fd or an `O_PATH` one, EACCES for one not open for reading
    /// (every file mapping reads), ENODEV for what is not a file system
    /// node (pipes, sockets but a packet socket's ring, event queues) or
    /// cannot be mapped. The fd is
    /// read-write if the open file is writable: the host then refuses a
    /// writable shared mapping of a read-only open with Linux's EACCES.
    pub fn mappable_fd(&mut self, pid: Pid, fd: i32, kind: MapKind) -> Result<Option<OwnedFd>, Errno> {
        let slot = self.procs.get(&pid).ok_or(ESRCH)?.fds.get(fd)?;
        let file = self.files.get(slot.file).ok_or(EBADF)?;
        if file.flags & O_PATH != 0 {
            return Err(EBADF);
        }
        if !file.readable() {
            return Err(EACCES);
        }
        let writable = file.writable();
        match file.kind {
            FileKind::Vnode(vn) => self.mounts.fs(vn.mnt).mappable_fd(vn.node, writable, kind),
            // A packet socket's receive ring, shared with the kernel.
            FileKind::Socket(s) => match &self.net.sock(s)?.kind {
                crate::net::socket::Kind::Packet(p) if kind == MapKind::Shared => {
                    let ring = p.ring.as_ref().ok_or(EINVAL)?;
                    ring.mem.reopen(writable).map(Some)
                }
                _ => Err(ENODEV),
            },
            _ => Err(ENODEV),
        }
    }
}
