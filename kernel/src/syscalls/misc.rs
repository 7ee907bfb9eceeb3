//! Small calls about the process and the kernel: ids, umask, clocks,
//! sleeping, sync, reboot.

use crate::time::Timespec;
use crate::wchan::WaitChannel;
use crate::Cx;
use rump_abi::native::errno::{EINVAL, EPERM};
use rump_abi::Errno;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which clock a clock_* call reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockId {
    Realtime,
    Monotonic,
}

impl Cx<'_> {
    pub fn umask(&mut self, new: u32) -> u32 {
        std::mem::replace(&mut self.proc_mut().umask, new & 0o777)
    }

    pub fn clock_gettime(&self, id: ClockId) -> Timespec {
        match id {
            ClockId::Realtime => self.clock().realtime(),
            ClockId::Monotonic => self.clock().monotonic(),
        }
    }

    /// Sleeps for `t` with the virtual CPU released.
    pub fn nanosleep(&mut self, t: Timespec) -> Result<(), Errno> {
        if t.sec < 0 || !t.is_valid() {
            return Err(EINVAL);
        }
        let deadline = Instant::now() + Duration::new(t.sec as u64, t.nsec as u32);
        // Nothing wakes this channel: only the deadline ends the sleep.
        let chan = Arc::new(WaitChannel::new());
        while !self.sleep_until(&chan, deadline)? {}
        Ok(())
    }

    /// reboot(2): root only; halts the kernel.
    pub fn reboot(&mut self) -> Result<(), Errno> {
        if !self.proc().cred.is_root() {
            return Err(EPERM);
        }
        self.halt();
        Ok(())
    }
}
