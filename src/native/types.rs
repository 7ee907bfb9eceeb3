//! NetBSD amd64 struct layouts used by the native calls.
#![allow(non_camel_case_types)]

/// `struct timespec`
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

/// `struct iovec`, with the base as an address in the caller's memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct iovec {
    pub iov_base: u64,
    pub iov_len: u64,
}

/// `struct stat` (NetBSD 5.0 and later, `__stat50`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct stat {
    pub st_dev: u64,
    pub st_mode: u32,
    pub __pad0: u32,
    pub st_ino: u64,
    pub st_nlink: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub __pad1: u32,
    pub st_rdev: u64,
    pub st_atim: timespec,
    pub st_mtim: timespec,
    pub st_ctim: timespec,
    pub st_birthtim: timespec,
    pub st_size: i64,
    pub st_blocks: i64,
    pub st_blksize: u32,
    pub st_flags: u32,
    pub st_gen: u32,
    pub st_spare: [u32; 2],
    pub __pad2: u32,
}

/// `struct statvfs` (NetBSD 9).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct statvfs {
    pub f_flag: u64,
    pub f_bsize: u64,
    pub f_frsize: u64,
    pub f_iosize: u64,
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    pub f_bresvd: u64,
    pub f_files: u64,
    pub f_ffree: u64,
    pub f_favail: u64,
    pub f_fresvd: u64,
    pub f_syncreads: u64,
    pub f_syncwrites: u64,
    pub f_asyncreads: u64,
    pub f_asyncwrites: u64,
    pub f_fsidx: [i32; 2],
    pub f_fsid: u64,
    pub f_namemax: u64,
    pub f_owner: u32,
    pub f_spare: [u32; 4],
    pub f_fstypename: [u8; 32],
    pub f_mntonname: [u8; 1024],
    pub f_mntfromname: [u8; 1024],
    pub __pad0: u32,
}

impl Default for statvfs {
    fn default() -> Self {
        // SAFETY: all-integer struct; zero is a valid value.
        unsafe { core::mem::zeroed() }
    }
}

/// `struct pollfd`
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pollfd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

/// `struct sysctlnode` as NetBSD's sysctl(3) version 1 lays it out on
/// LP64: what a CTL_QUERY returns, one per child. The kernel pointers it
/// holds (child array, data, function, parent, description) travel as 0:
/// they mean nothing outside the kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct sysctlnode {
    /// `SYSCTL_VERSION`, the `CTLTYPE_*` in the low 4 bits, `CTLFLAG_*`.
    pub sysctl_flags: u32,
    pub sysctl_num: i32,
    /// NUL-terminated, `SYSCTL_NAMELEN` bytes.
    pub sysctl_name: [u8; 32],
    pub sysctl_ver: u32,
    pub __rsvd: u32,
    /// The 16-byte union: for a node `suc_csize`, `suc_clen` and the child
    /// pointer; for a leaf its data pointer and offset or immediate value.
    pub sysctl_un: [u32; 4],
    pub _sysctl_size: u64,
    pub _sysctl_func: u64,
    pub _sysctl_parent: u64,
    pub _sysctl_desc: u64,
}

/// `struct kevent` as NetBSD 10 lays it out on amd64 (`__kevent50`): what
/// a filter watches (`ident`, an fd for the filters the kernel has), what
/// to do or what happened, and the caller's own cookie.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kevent {
    pub ident: u64,
    pub filter: u32,
    pub flags: u32,
    pub fflags: u32,
    pub __pad0: u32,
    pub data: i64,
    pub udata: u64,
}

/// `struct flock`, NetBSD's order: offsets first, the type last.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct flock {
    pub l_start: i64,
    pub l_len: i64,
    pub l_pid: i32,
    pub l_type: i16,
    pub l_whence: i16,
}

/// `struct sockaddr`: NetBSD's sockaddrs start with their length.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct sockaddr {
    pub sa_len: u8,
    pub sa_family: u8,
    pub sa_data: [u8; 14],
}

/// `struct sockaddr_in`; port and address in network byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct sockaddr_in {
    pub sin_len: u8,
    pub sin_family: u8,
    pub sin_port: u16,
    pub sin_addr: u32,
    pub sin_zero: [u8; 8],
}

/// `struct sockaddr_in6`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct sockaddr_in6 {
    pub sin6_len: u8,
    pub sin6_family: u8,
    pub sin6_port: u16,
    pub sin6_flowinfo: u32,
    pub sin6_addr: [u8; 16],
    pub sin6_scope_id: u32,
}

crate::pod! {
    sockaddr = 16;
    sockaddr_in = 16;
    sockaddr_in6 = 28;
    flock = 24;
    timespec = 16;
    iovec = 16;
    stat = 152;
    statvfs = 2256;
    pollfd = 8;
    sysctlnode = 96;
    kevent = 40;
}
