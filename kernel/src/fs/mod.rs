//! The file systems: each implements `vfs::FileSystem`.
//!
//! - `tmpfs`: memory-backed files, the kernel's root;
//! - `devfs`: the device nodes on `/dev`;
//! - `etfs`: a host file at a path of the kernel (rump_server `-d`).

pub mod devfs;
pub mod etfs;
pub mod tmpfs;
