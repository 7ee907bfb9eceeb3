//! The file systems: each implements `vfs::FileSystem`.
//!
//! - `tmpfs`: memory-backed files, the kernel's root;
//! - `devfs`: the device nodes on `/dev`.

pub mod devfs;
pub mod tmpfs;
