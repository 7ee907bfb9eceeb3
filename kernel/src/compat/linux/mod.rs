//! The Linux x86-64 emulation, as NetBSD's `compat/linux`: a Linux
//! process's calls arrive with Linux numbers, flags, structs and errno
//! values and leave here as calls on the kernel's emulation-independent
//! cores (`Cx` methods taking native values).
//!
//! - `dispatch` runs the table generated from `syscalls.master` (this
//!   directory) and turns every native errno into Linux's, in one place.
//! - `flags` maps flag and command values; `stat` writes Linux's structs;
//!   `at` reads paths and `*at` arguments.
//! - The handlers, one per `RUMP` line of the table, are grouped by
//!   concern (`fd`, `io`, `attr`, `names`, `misc`); each only translates
//!   arguments in and results out. `epoll` also holds epoll's semantics,
//!   on the kernel's event notes (`crate::event`), and `inotify` its watches
//!   on the same notes; `netif` answers the
//!   network configuration ioctls on sockets (`ioctl` hands them over).
//!
//! Handlers return native errno values like the cores they call.

mod at;
mod attr;
pub mod epoll;
mod fd;
pub mod flags;
pub mod inotify;
mod io;
mod misc;
mod names;
mod netif;
pub mod netlink;
mod packet;
mod socket;
pub mod stat;

use crate::syscalls::Handler;
use crate::Cx;
use rump_abi::errno::native_to_linux;
use rump_abi::linux::errno::ENOSYS;
use rump_abi::linux::sys::NSYSENT;
use rump_abi::{Slots, SysResult};

/// Every handler under the one path the generated table names.
pub mod handlers {
    pub use super::attr::*;
    pub use super::epoll::*;
    pub use super::fd::*;
    pub use super::inotify::*;
    pub use super::io::*;
    pub use super::misc::*;
    pub use super::names::*;
    pub use super::socket::*;
}

static SYSENT: [Option<Handler>; NSYSENT] = rump_abi::linux_sysent!(Cx<'_>, crate::compat::linux::handlers);

/// Runs Linux call `num`. Numbers without a handler are ENOSYS (already
/// Linux's value); a handler's native errno is translated to Linux's.
pub fn dispatch(cx: &mut Cx, num: u32, args: &Slots) -> SysResult {
    match SYSENT.get(num as usize).copied().flatten() {
        Some(h) => h(cx, args).map_err(native_to_linux),
        None => Err(ENOSYS),
    }
}
