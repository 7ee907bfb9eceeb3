//! Processes as the kernel sees them: identity, emulation, credentials,
//! working directory and the fd table.

use crate::cred::Cred;
use crate::file::FileId;
use crate::vfs::mount::Vnode;
use rump_abi::native::errno::{EBADF, EMFILE};
use rump_abi::Errno;

pub type Pid = i32;

/// Which ABI a process speaks: its calls arrive with these numbers, flags,
/// structs and errno values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emulation {
    Native,
    Linux,
}

impl Emulation {
    /// Symlinks one path walk may follow: NetBSD's MAXSYMLINKS is 32,
    /// Linux's 40.
    pub fn max_symlinks(self) -> u32 {
        match self {
            Emulation::Native => 32,
            Emulation::Linux => 40,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdSlot {
    pub file: FileId,
    pub cloexec: bool,
}

/// fd number → open file. Numbers start at 0 and are the kernel's own.
#[derive(Clone, Default)]
pub struct FdTable {
    slots: Vec<Option<FdSlot>>,
}

impl FdTable {
    pub fn get(&self, fd: i32) -> Result<FdSlot, Errno> {
        usize::try_from(fd).ok().and_then(|i| self.slots.get(i).copied().flatten()).ok_or(EBADF)
    }

    pub fn get_mut(&mut self, fd: i32) -> Result<&mut FdSlot, Errno> {
        usize::try_from(fd).ok().and_then(|i| self.slots.get_mut(i)?.as_mut()).ok_or(EBADF)
    }

    /// The lowest free number ≥ `min` below `limit`.
    pub fn lowest_free(&self, min: usize, limit: usize) -> Result<i32, Errno> {
        (min..limit).find(|&i| self.slots.get(i).is_none_or(|s| s.is_none())).map(|i| i as i32).ok_or(EMFILE)
    }

    /// Puts `slot` at `fd`, returning what was there.
    pub fn set(&mut self, fd: i32, slot: FdSlot) -> Option<FdSlot> {
        let i = fd as usize;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        self.slots[i].replace(slot)
    }

    pub fn take(&mut self, fd: i32) -> Option<FdSlot> {
        let slot = self.slots.get_mut(usize::try_from(fd).ok()?)?.take();
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        slot
    }

    /// Every open fd with its slot.
    pub fn iter(&self) -> impl Iterator<Item = (i32, FdSlot)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| s.map(|s| (i as i32, s)))
    }
}

pub struct Proc {
    pub pid: Pid,
    /// The pid the host knows the process by (`Process::set_host_pid`);
    /// the kernel's own pid until told.
    pub host_pid: Pid,
    pub ppid: Pid,
    pub emul: Emulation,
    pub comm: String,
    pub cred: Cred,
    pub umask: u32,
    pub cwd: Vnode,
    pub root: Vnode,
    pub fds: FdTable,
}
