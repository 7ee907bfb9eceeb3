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
