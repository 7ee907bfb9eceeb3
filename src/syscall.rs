//! What a syscall table says about each call, independent of who runs it.
//!
//! `build.rs` turns each `syscalls.master` into a `SyscallDesc` per line, an
//! argument struct per call, a dispatch-table macro and typed `rump_sys_*`
//! functions. This module holds the shared vocabulary those outputs use.

use crate::errno::Errno;

/// Argument slots per call: NetBSD's `SYS_MAXSYSARGS`. Linux uses the first six.
pub const MAXARGS: usize = 8;

/// The raw argument vector of one call, one register-sized slot per argument
/// (padding arguments included, as in NetBSD's `struct sys_*_args`).
pub type Slots = [u64; MAXARGS];

/// A call's result: the return value, or the errno in the caller's emulation.
pub type SysResult = Result<i64, Errno>;

/// An address in the caller's memory. Handlers never dereference it
/// themselves; they go through the kernel's user-memory layer, which may be
/// this process, a marshaled request or a remote client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserAddr(pub u64);

impl UserAddr {
    pub const NULL: UserAddr = UserAddr(0);

    pub fn is_null(self) -> bool {
        self.0 == 0
    }

    /// The address `n` bytes further on, or `None` on overflow.
    pub fn offset(self, n: u64) -> Option<UserAddr> {
        self.0.checked_add(n).map(UserAddr)
    }
}

/// Something that executes calls of one emulation: an in-process kernel
/// process, or later a remote client. The typed `rump_sys_*` functions are
/// written against this.
///
/// Pointer arguments travel as addresses, exactly as with a real system
/// call: the caller vouches that a non-NULL pointer names live memory of
/// the size the call implies. The kernel rejects NULL, the zero page and
/// non-user ranges with EFAULT, but an in-process kernel cannot tell a
/// dangling user pointer from a good one, any more than Linux can stop a
/// program from passing one to `read`.
pub trait Syscall {
    fn syscall(&self, num: u32, args: &Slots) -> SysResult;
}

/// How one argument travels when a call is shipped to another process.
///
/// Taken from the table's annotations (FreeBSD's SAL-style names); argument
/// references are slot indices. A NULL pointer always travels as NULL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marshal {
    /// A plain value in its slot.
    Value,
    /// A padding slot (`int PAD`), zero.
    Pad,
    /// `_In_reads_bytes_(n)`: `n` bytes read by the call.
    InBytes { len: u8 },
    /// `_Out_writes_bytes_(n)`: `n` bytes written by the call.
    OutBytes { len: u8 },
    /// `_Out_writes_bytes_to_(n, return)`: up to `n` bytes, the first
    /// `return` of which are valid afterwards (read, readlink, getdents).
    OutBytesToRet { len: u8 },
    /// `_In_z_`: a NUL-terminated string read by the call.
    InStr,
    /// `_In_`: a fixed-size struct read by the call.
    In { size: usize },
    /// `_Out_`: a fixed-size struct written by the call.
    Out { size: usize },
    /// `_Inout_`: a fixed-size struct read and written by the call.
    InOut { size: usize },
    /// `_In_reads_(n)`: an array of `n` elements of `size` bytes, read.
    InArray { count: u8, size: usize },
    /// `_Out_writes_(n)`: an array of `n` elements of `size` bytes, written.
    OutArray { count: u8, size: usize },
    /// `_Inout_updates_(n)`: an array of `n` elements of `size` bytes, read
    /// and written (poll's `pollfd` array).
    InOutArray { count: u8, size: usize },
    /// `_In_iov_(n)`: an iovec array of `n` entries whose buffers are read.
    InIov { count: u8 },
    /// `_Out_iov_(n)`: an iovec array of `n` entries whose buffers are written.
    OutIov { count: u8 },
    /// An unannotated pointer (ioctl payloads, sockopts, sysctl):
    /// served by copy-in/copy-out requests.
    Opaque,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgDesc {
    pub name: &'static str,
    /// The C type as written in the table.
    pub ctype: &'static str,
    pub marshal: Marshal,
}

/// One table line that declares a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallDesc {
    pub num: u32,
    /// The user-visible name (`read`, `stat`).
    pub name: &'static str,
    /// The kernel function name (`sys_read`, `sys___stat50`, `linux_sys_openat`).
    pub handler: &'static str,
    /// `RUMP` lines: the rump kernel provides a handler. Others give ENOSYS.
    pub implemented: bool,
    pub args: &'static [ArgDesc],
}

impl SyscallDesc {
    /// Arguments as they occupy slots, padding included.
    pub fn nargs(&self) -> usize {
        self.args.len()
    }
}

/// What one argument of a raw call means to an interposer deciding where
/// the call goes (generated from the table's argument names and types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawArg {
    /// Nothing that decides the route.
    Other,
    /// A descriptor (`fd`, `oldfd`, `epfd`, a `dfd`...).
    Fd,
    /// A NUL-terminated path, relative to the working directory.
    Path,
    /// A NUL-terminated path relative to the descriptor in slot `n`.
    PathAt(u8),
    /// A socket's protocol family (`socket`, `socketpair`).
    Family,
}

/// How a raw system call is routed: its arguments' meanings and whether
/// the libc function of the same name returns a C `int` (so its result is
/// sign-extended from 32 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRoute {
    pub num: u32,
    pub name: &'static str,
    pub args: &'static [RawArg],
    pub int_result: bool,
}
