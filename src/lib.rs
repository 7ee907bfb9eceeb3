//! The rump kernel ABI.
//!
//! Everything two parties must agree on to make a call: syscall numbers and
//! descriptors generated from the `syscalls.master` tables (`build.rs`), errno
//! values, flags and struct layouts, for the native (NetBSD) ABI and for the
//! Linux x86-64 ABI. No behaviour lives here; the kernel, the client and the
//! hijack library all build on it.

pub mod capi;
pub mod errno;
pub mod linux;
pub mod native;
pub mod pod;
pub mod syscall;
pub mod usermem;

pub use errno::Errno;
pub use syscall::{ArgDesc, Marshal, RawArg, RawRoute, Slots, SysResult, Syscall, SyscallDesc, UserAddr, MAXARGS};
