//! The system calls. Each area's emulation-independent core is a set of
//! `Cx` methods taking Rust values and native flags; `native` holds the small
//! handlers the generated native table dispatches to, which only move
//! arguments in and results out. The Linux emulation calls the same cores.

pub mod attr;
pub mod dir;
pub mod fd;
pub mod ifconfig;
pub mod misc;
pub mod native;
pub mod netbsd_sock;
pub mod path;
pub mod poll;
pub mod rw;
pub mod sock;
pub mod sysctl;

use crate::Cx;
use rump_abi::native::errno::ENOSYS;
use rump_abi::native::sys::NSYSENT;
use rump_abi::{Slots, SysResult};

/// A native table entry.
pub type Handler = for<'a, 'b> fn(&'b mut Cx<'a>, &'b Slots) -> SysResult;

/// Every native handler under the one path the generated table names.
pub mod handlers {
    pub use super::native::*;
    pub use super::netbsd_sock::*;
    pub use super::sysctl::*;
}

static SYSENT: [Option<Handler>; NSYSENT] = rump_abi::native_sysent!(Cx<'_>, crate::syscalls::handlers);

/// Runs native call `num`; ENOSYS for numbers the kernel does not implement.
pub fn dispatch(cx: &mut Cx, num: u32, args: &Slots) -> SysResult {
    match SYSENT.get(num as usize).copied().flatten() {
        Some(h) => h(cx, args),
        None => Err(ENOSYS),
    }
}
