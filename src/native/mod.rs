//! The native ABI: NetBSD's syscall numbers, errno values, flags and struct
//! layouts (amd64). Native callers and the kernel's internals speak this.

pub mod flags;
pub mod types;

/// NetBSD errno values.
pub mod errno {
    pub use crate::errno::native_values::*;
}

/// Generated from `syscalls.master`: numbers, descriptors, argument structs,
/// the dispatch-table macro and typed `rump_sys_*` calls.
#[allow(non_camel_case_types, non_upper_case_globals, clippy::too_many_arguments)]
pub mod sys {
    include!(concat!(env!("OUT_DIR"), "/native_sys.rs"));
}
