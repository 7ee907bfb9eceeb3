//! The Linux x86-64 ABI: syscall numbers, errno values, flags and struct
//! layouts, as a Linux program passes them. The kernel's Linux emulation
//! (`kernel/src/compat/linux`) translates between this and the native ABI.

pub mod flags;
pub mod types;

/// Linux errno values.
pub mod errno {
    pub use crate::errno::linux_values::*;
}

/// Generated from `kernel/src/compat/linux/syscalls.master`.
#[allow(non_camel_case_types, non_upper_case_globals, clippy::too_many_arguments)]
pub mod sys {
    include!(concat!(env!("OUT_DIR"), "/linux_sys.rs"));
}
