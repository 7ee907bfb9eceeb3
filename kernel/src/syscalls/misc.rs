//! Small calls about the process and the kernel: ids, umask, clocks,
//! sleeping, sync, reboot.

use crate::proc::Pid;
use crate::time::Timespec;
use crate::wchan::WaitChannel;
use crate::Cx;
use rump_abi::native::errno::{ECHILD, EINVAL, EPERM};
use rump_abi::Errno;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long `wait_child_gone` waits for a server to notice an exit.
const CHILD_EXIT_WAIT: Duration = Duration::from_secs(2);

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

    /// Waits until the caller's child known to the host as `host_pid` has
    /// exited in this kernel too (a remote client's exit is seen when the
    /// server notices its connection close, a moment after the host has
    /// reaped it): ECHILD if there is no such child; `nohang` only asks.
    /// Gives up after `CHILD_EXIT_WAIT`, a bound on a server's delay.
    pub fn wait_child_gone(&mut self, host_pid: Pid, nohang: bool) -> Result<(), Errno> {
        let me = self.pid;
        let deadline = Instant::now() + CHILD_EXIT_WAIT;
        let exists = |cx: &Self| cx.st.procs.values().any(|p| p.ppid == me && p.host_pid == host_pid);
        if !exists(self) {
            return Err(ECHILD);
        }
        while !nohang && exists(self) {
            let chan = self.st.exits.clone();
            if self.sleep_until(&chan, deadline)? {
                break;
            }
        }
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
