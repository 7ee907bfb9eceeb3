//! NetBSD flag values used by the native calls.

// open(2)
pub const O_RDONLY: u32 = 0x0000_0000;
pub const O_WRONLY: u32 = 0x0000_0001;
pub const O_RDWR: u32 = 0x0000_0002;
pub const O_ACCMODE: u32 = 0x0000_0003;
pub const O_NONBLOCK: u32 = 0x0000_0004;
pub const O_APPEND: u32 = 0x0000_0008;
pub const O_SYNC: u32 = 0x0000_0080;
pub const O_NOFOLLOW: u32 = 0x0000_0100;
pub const O_CREAT: u32 = 0x0000_0200;
pub const O_TRUNC: u32 = 0x0000_0400;
pub const O_EXCL: u32 = 0x0000_0800;
pub const O_NOCTTY: u32 = 0x0000_8000;
pub const O_DSYNC: u32 = 0x0001_0000;
pub const O_RSYNC: u32 = 0x0002_0000;
pub const O_DIRECT: u32 = 0x0008_0000;
pub const O_DIRECTORY: u32 = 0x0020_0000;
pub const O_CLOEXEC: u32 = 0x0040_0000;
pub const O_SEARCH: u32 = 0x0080_0000;
pub const O_NOSIGPIPE: u32 = 0x0100_0000;
pub const O_REGULAR: u32 = 0x0200_0000;
/// Not in NetBSD: Linux's O_PATH, kept so the Linux emulation can express it.
pub const O_PATH: u32 = 0x8000_0000;

// *at(2)
pub const AT_FDCWD: i32 = -100;
pub const AT_EACCESS: u32 = 0x0100;
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x0200;
pub const AT_SYMLINK_FOLLOW: u32 = 0x0400;
pub const AT_REMOVEDIR: u32 = 0x0800;
/// Not in NetBSD 9: an empty path names the dirfd itself (Linux semantics).
pub const AT_EMPTY_PATH: u32 = 0x1000;

// access(2)
pub const F_OK: u32 = 0;
pub const X_OK: u32 = 1;
pub const W_OK: u32 = 2;
pub const R_OK: u32 = 4;

// fcntl(2)
pub const F_DUPFD: i32 = 0;
pub const F_GETFD: i32 = 1;
pub const F_SETFD: i32 = 2;
pub const F_GETFL: i32 = 3;
pub const F_SETFL: i32 = 4;
pub const F_GETLK: i32 = 7;
pub const F_SETLK: i32 = 8;
pub const F_SETLKW: i32 = 9;
pub const F_CLOSEM: i32 = 10;
pub const F_MAXFD: i32 = 11;
pub const F_DUPFD_CLOEXEC: i32 = 12;
pub const FD_CLOEXEC: u32 = 1;
// struct flock's l_type
pub const F_RDLCK: i16 = 1;
pub const F_UNLCK: i16 = 2;
pub const F_WRLCK: i16 = 3;

// flock(2) operations (Linux uses the same values)
pub const LOCK_SH: i32 = 1;
pub const LOCK_EX: i32 = 2;
pub const LOCK_NB: i32 = 4;
pub const LOCK_UN: i32 = 8;

// lseek(2)
pub const SEEK_SET: i32 = 0;
pub const SEEK_CUR: i32 = 1;
pub const SEEK_END: i32 = 2;

// File types and permission bits of st_mode.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFIFO: u32 = 0o010000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFBLK: u32 = 0o060000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFSOCK: u32 = 0o140000;
pub const S_ISUID: u32 = 0o4000;
pub const S_ISGID: u32 = 0o2000;
pub const S_ISVTX: u32 = 0o1000;

// dirent d_type
pub const DT_UNKNOWN: u8 = 0;
pub const DT_FIFO: u8 = 1;
pub const DT_CHR: u8 = 2;
pub const DT_DIR: u8 = 4;
pub const DT_BLK: u8 = 6;
pub const DT_REG: u8 = 8;
pub const DT_LNK: u8 = 10;
pub const DT_SOCK: u8 = 12;

// utimensat(2)
pub const UTIME_NOW: i64 = (1 << 30) - 1;
pub const UTIME_OMIT: i64 = (1 << 30) - 2;

// clock_gettime(2)
pub const CLOCK_REALTIME: i32 = 0;
pub const CLOCK_MONOTONIC: i32 = 3;

// reboot(2)
pub const RB_AUTOBOOT: i32 = 0;
pub const RB_HALT: i32 = 0x008;
pub const RB_POWERDOWN: i32 = 0x808;

// poll(2)
pub const POLLIN: i16 = 0x0001;
pub const POLLPRI: i16 = 0x0002;
pub const POLLOUT: i16 = 0x0004;
pub const POLLRDNORM: i16 = 0x0040;
pub const POLLWRNORM: i16 = POLLOUT;
pub const POLLERR: i16 = 0x0008;
pub const POLLHUP: i16 = 0x0010;
pub const POLLNVAL: i16 = 0x0020;

// ioctl(2): the generic file ioctls of <sys/filio.h>
pub const FIOCLEX: u64 = 0x2000_6601;
pub const FIONCLEX: u64 = 0x2000_6602;
pub const FIONBIO: u64 = 0x8004_667e;
pub const FIONREAD: u64 = 0x4004_667f;

// kqueue(2), kevent(2): filters
pub const EVFILT_READ: u32 = 0;
pub const EVFILT_WRITE: u32 = 1;
pub const EVFILT_VNODE: u32 = 3;
// kevent flags: actions, then options, then what the kernel reports.
pub const EV_ADD: u32 = 0x0001;
pub const EV_DELETE: u32 = 0x0002;
pub const EV_ENABLE: u32 = 0x0004;
pub const EV_DISABLE: u32 = 0x0008;
pub const EV_ONESHOT: u32 = 0x0010;
pub const EV_CLEAR: u32 = 0x0020;
pub const EV_RECEIPT: u32 = 0x0040;
pub const EV_DISPATCH: u32 = 0x0080;
/// Bits the kernel owns: a caller's are cleared on the way in.
pub const EV_SYSFLAGS: u32 = 0xf000;
pub const EV_ERROR: u32 = 0x4000;
pub const EV_EOF: u32 = 0x8000;
// EVFILT_VNODE fflags
pub const NOTE_DELETE: u32 = 0x0001;
pub const NOTE_WRITE: u32 = 0x0002;
pub const NOTE_EXTEND: u32 = 0x0004;
pub const NOTE_ATTRIB: u32 = 0x0008;
pub const NOTE_LINK: u32 = 0x0010;
pub const NOTE_RENAME: u32 = 0x0020;
pub const NOTE_REVOKE: u32 = 0x0040;
pub const NOTE_OPEN: u32 = 0x0080;
pub const NOTE_CLOSE: u32 = 0x0100;
pub const NOTE_CLOSE_WRITE: u32 = 0x0200;
pub const NOTE_READ: u32 = 0x0400;

// sysctl(3), sysctl(7)
/// Components in a MIB name.
pub const CTL_MAXNAME: u32 = 24;
/// Bytes of a node's name, NUL included.
pub const SYSCTL_NAMELEN: usize = 32;
// Meta-identifiers: the last component of a name asking about the node
// before it rather than naming a child.
pub const CTL_EOL: i32 = -1;
pub const CTL_QUERY: i32 = -2;
pub const CTL_CREATE: i32 = -3;
pub const CTL_CREATESYM: i32 = -4;
pub const CTL_DESTROY: i32 = -5;
pub const CTL_MMAP: i32 = -6;
pub const CTL_DESCRIBE: i32 = -7;
// Top-level identifiers.
pub const CTL_UNSPEC: i32 = 0;
pub const CTL_KERN: i32 = 1;
pub const CTL_VM: i32 = 2;
pub const CTL_VFS: i32 = 3;
pub const CTL_NET: i32 = 4;
pub const CTL_DEBUG: i32 = 5;
pub const CTL_HW: i32 = 6;
pub const CTL_MACHDEP: i32 = 7;
pub const CTL_USER: i32 = 8;
pub const CTL_DDB: i32 = 9;
pub const CTL_PROC: i32 = 10;
pub const CTL_VENDOR: i32 = 11;
pub const CTL_EMUL: i32 = 12;
pub const CTL_SECURITY: i32 = 13;
// kern.*
pub const KERN_OSTYPE: i32 = 1;
pub const KERN_OSRELEASE: i32 = 2;
pub const KERN_HOSTNAME: i32 = 10;
// hw.*
pub const HW_MACHINE: i32 = 1;
pub const HW_NCPU: i32 = 3;
// Node types: the low 4 bits of sysctl_flags.
pub const CTLTYPE_NODE: u32 = 1;
pub const CTLTYPE_INT: u32 = 2;
pub const CTLTYPE_STRING: u32 = 3;
pub const CTLTYPE_QUAD: u32 = 4;
pub const CTLTYPE_STRUCT: u32 = 5;
pub const CTLTYPE_BOOL: u32 = 6;
// Node flags.
pub const CTLFLAG_READONLY: u32 = 0x0000_0000;
pub const CTLFLAG_READWRITE: u32 = 0x0000_0070;
pub const CTLFLAG_ANYWRITE: u32 = 0x0000_0080;
pub const CTLFLAG_PRIVATE: u32 = 0x0000_0100;
pub const CTLFLAG_PERMANENT: u32 = 0x0000_0200;
pub const CTLFLAG_OWNDATA: u32 = 0x0000_0400;
pub const CTLFLAG_IMMEDIATE: u32 = 0x0000_0800;
pub const CTLFLAG_HEX: u32 = 0x0000_1000;
pub const CTLFLAG_ROOT: u32 = 0x0000_2000;
pub const CTLFLAG_ANYNUMBER: u32 = 0x0000_4000;
pub const CTLFLAG_HIDDEN: u32 = 0x0000_8000;
pub const CTLFLAG_ALIAS: u32 = 0x0001_0000;
pub const CTLFLAG_MMAP: u32 = 0x0002_0000;
pub const CTLFLAG_OWNDESC: u32 = 0x0004_0000;
pub const CTLFLAG_UNSIGNED: u32 = 0x0008_0000;
pub const SYSCTL_TYPEMASK: u32 = 0x0000_000f;
pub const SYSCTL_FLAGMASK: u32 = 0x00ff_fff0;
// The sysctlnode layout version, in the top byte of sysctl_flags.
pub const SYSCTL_VERS_MASK: u32 = 0xff00_0000;
pub const SYSCTL_VERS_0: u32 = 0x0000_0000;
pub const SYSCTL_VERS_1: u32 = 0x0100_0000;
pub const SYSCTL_VERSION: u32 = SYSCTL_VERS_1;
/// Bytes of kern.hostname, NUL included.
pub const MAXHOSTNAMELEN: usize = 256;

// socket(2): address families, types and type flags
pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 24;
pub const SOCK_STREAM: i32 = 1;
pub const SOCK_DGRAM: i32 = 2;
pub const SOCK_RAW: i32 = 3;
pub const SOCK_CLOEXEC: i32 = 0x1000_0000;
pub const SOCK_NONBLOCK: i32 = 0x2000_0000;
pub const IPPROTO_IP: i32 = 0;
pub const IPPROTO_ICMP: i32 = 1;
pub const IPPROTO_TCP: i32 = 6;
pub const IPPROTO_UDP: i32 = 17;
pub const INADDR_ANY: u32 = 0;
// send(2), recv(2) flags
pub const MSG_PEEK: i32 = 0x2;
pub const MSG_TRUNC: i32 = 0x10;
pub const MSG_WAITALL: i32 = 0x40;
pub const MSG_DONTWAIT: i32 = 0x80;
// shutdown(2)
pub const SHUT_RD: i32 = 0;
pub const SHUT_WR: i32 = 1;
pub const SHUT_RDWR: i32 = 2;
// setsockopt(2), getsockopt(2)
pub const SOL_SOCKET: i32 = 0xffff;
pub const SO_REUSEADDR: i32 = 0x0004;
pub const SO_KEEPALIVE: i32 = 0x0008;
pub const SO_BROADCAST: i32 = 0x0020;
pub const SO_REUSEPORT: i32 = 0x0200;
pub const SO_SNDBUF: i32 = 0x1001;
pub const SO_RCVBUF: i32 = 0x1002;
pub const SO_ERROR: i32 = 0x1007;
pub const SO_TYPE: i32 = 0x1008;
pub const IP_TOS: i32 = 3;
pub const IP_TTL: i32 = 4;
pub const TCP_NODELAY: i32 = 1;
pub const IPPROTO_IPV6: i32 = 41;
pub const IPV6_UNICAST_HOPS: i32 = 4;
pub const IPV6_V6ONLY: i32 = 27;
