//! The Linux x86-64 ABI: syscall numbers, errno values, flags and struct
//! layouts, as a Linux program passes them. The kernel's Linux emulation
//! (`kernel/src/compat/linux`) translates between this and the native ABI.

pub mod flags;
pub mod gate_asm;
pub mod seccomp;
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

/// The network's files in `/proc`, and the kernel path each stands for:
/// while a program's inet sockets are a rump kernel's, these are that
/// kernel's too (netstat, ifconfig, sysctl see the stack the sockets are
/// on). Both entry points route by this list: the preload library's
/// path rules and `rumpctl run`'s supervisor for static binaries.
pub const NET_FILES: &[(&[u8], &[u8])] =
    &[(b"/proc/net", b"/proc/net"), (b"/proc/self/net", b"/proc/net"), (b"/proc/sys/net", b"/proc/sys/net")];

/// `p` as the kernel's network file if it is one: an entry of
/// [`NET_FILES`] or a path below it.
pub fn net_file(p: &[u8]) -> Option<Vec<u8>> {
    NET_FILES.iter().find_map(|(shown, kernel)| {
        let rest = p.strip_prefix(*shown)?;
        (rest.is_empty() || rest[0] == b'/').then(|| [*kernel, rest].concat())
    })
}
