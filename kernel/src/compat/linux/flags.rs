//! Linux flag and command values and their native counterparts.
//!
//! Everything here is a pure function from Linux values to native ones (or
//! back). Where Linux rejects unknown bits the functions return EINVAL;
//! where Linux ignores them (open) they are dropped.

use crate::syscalls::rw::Ioctl;
use crate::vfs::VType;
use rump_abi::linux::flags as l;
pub use rump_abi::linux::flags::{
    AT_STATX_DONT_SYNC, AT_STATX_FORCE_SYNC, FIOCLEX, FIONBIO, FIONCLEX, FIONREAD, F_GETPIPE_SZ,
    LINUX_REBOOT_CMD_CAD_OFF, LINUX_REBOOT_CMD_CAD_ON, LINUX_REBOOT_CMD_RESTART2, LINUX_REBOOT_MAGIC2A,
    LINUX_REBOOT_MAGIC2B, LINUX_REBOOT_MAGIC2C, SEEK_DATA, SEEK_HOLE, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK,
    S_IFMT, S_IFREG, S_IFSOCK,
};
use rump_abi::native::errno::EINVAL;
use rump_abi::native::flags as n;
use rump_abi::Errno;

// The core takes these values as they come from either ABI.
const _: () = assert!(l::AT_FDCWD == n::AT_FDCWD);
const _: () = assert!(l::FD_CLOEXEC == n::FD_CLOEXEC);
const _: () = assert!(n::SEEK_SET == 0 && n::SEEK_CUR == 1 && n::SEEK_END == 2);

/// The O_SYNC bit proper: Linux's O_SYNC is this plus O_DSYNC.
const O_SYNC_ONLY: u32 = 0o4000000;
/// What open keeps of the flags when O_PATH is given.
const O_PATH_KEEPS: u32 = l::O_DIRECTORY | l::O_NOFOLLOW | l::O_CLOEXEC | l::O_PATH;
/// O_TMPFILE without the O_DIRECTORY it is defined to include.
const O_TMPFILE_ONLY: u32 = l::O_TMPFILE & !l::O_DIRECTORY;

/// Open and status flags that exist in both ABIs: (Linux, native).
const OPEN_BITS: [(u32, u32); 12] = [
    (l::O_CREAT, n::O_CREAT),
    (l::O_EXCL, n::O_EXCL),
    (l::O_NOCTTY, n::O_NOCTTY),
    (l::O_TRUNC, n::O_TRUNC),
    (l::O_APPEND, n::O_APPEND),
    (l::O_NONBLOCK, n::O_NONBLOCK),
    (l::O_DSYNC, n::O_DSYNC),
    (l::O_DIRECT, n::O_DIRECT),
    (l::O_DIRECTORY, n::O_DIRECTORY),
    (l::O_NOFOLLOW, n::O_NOFOLLOW),
    (l::O_CLOEXEC, n::O_CLOEXEC),
    (O_SYNC_ONLY, n::O_SYNC),
];

fn map_bits(from: u32, table: &[(u32, u32)], to_native: bool) -> u32 {
    table.iter().fold(0, |acc, &(lx, nx)| {
        let (src, dst) = if to_native { (lx, nx) } else { (nx, lx) };
        if from & src != 0 {
            acc | dst
        } else {
            acc
        }
    })
}

/// open/openat/creat flags. Unknown bits are ignored, as Linux does;
/// O_LARGEFILE is implied on x86-64 and O_NOATIME/O_ASYNC have no effect
/// here. O_TMPFILE is not supported by the kernel's file systems.
pub fn open_to_native(flags: u32) -> Result<u32, Errno> {
    let mut flags = flags;
    if flags & l::O_PATH != 0 {
        flags &= O_PATH_KEEPS;
    }
    if flags & (l::O_CREAT | l::O_DIRECTORY) == l::O_CREAT | l::O_DIRECTORY {
        return Err(EINVAL);
    }
    if flags & O_TMPFILE_ONLY != 0 {
        let writes = matches!(flags & l::O_ACCMODE, l::O_WRONLY | l::O_RDWR);
        return Err(if writes { rump_abi::native::errno::EOPNOTSUPP } else { EINVAL });
    }
    let path = if flags & l::O_PATH != 0 { n::O_PATH } else { 0 };
    Ok((flags & l::O_ACCMODE) | map_bits(flags, &OPEN_BITS, true) | path)
}

/// An open file's native status flags as Linux's F_GETFL shows them. Files
/// opened by path carry O_LARGEFILE (x86-64 forces it); pipes and O_PATH
/// files do not.
pub fn status_to_linux(native: u32, by_path: bool) -> u32 {
    let mut out = (native & n::O_ACCMODE) | map_bits(native, &OPEN_BITS, false);
    if native & n::O_SYNC != 0 {
        out |= l::O_SYNC;
    }
    if native & n::O_PATH != 0 {
        out |= l::O_PATH;
    } else if by_path {
        out |= l::O_LARGEFILE;
    }
    out
}

/// F_SETFL's argument: the bits the core can change (O_APPEND,
/// O_NONBLOCK); Linux ignores the rest just as silently.
pub fn setfl_to_native(flags: u32) -> u32 {
    map_bits(flags & (l::O_APPEND | l::O_NONBLOCK), &OPEN_BITS, true)
}

/// pipe2 flags → (O_NONBLOCK as a native status flag, close-on-exec).
/// O_DIRECT (packet mode) and notification pipes are not supported.
pub fn pipe_flags(flags: i32) -> Result<(u32, bool), Errno> {
    let flags = flags as u32;
    if flags & !(l::O_CLOEXEC | l::O_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let status = if flags & l::O_NONBLOCK != 0 { n::O_NONBLOCK } else { 0 };
    Ok((status, flags & l::O_CLOEXEC != 0))
}

/// The `*at` flags a call accepts; any other bit is EINVAL, as on Linux.
pub fn at_flags(flags: i32, allowed: u32) -> Result<u32, Errno> {
    let flags = flags as u32;
    if flags & !allowed != 0 {
        return Err(EINVAL);
    }
    Ok(flags)
}

/// statx's sync-type bits, accepted and ignored (nothing is remote), and
/// AT_NO_AUTOMOUNT (nothing automounts).
pub const AT_STAT_FLAGS: u32 = l::AT_SYMLINK_NOFOLLOW | l::AT_NO_AUTOMOUNT | l::AT_EMPTY_PATH | l::AT_STATX_SYNC_TYPE;

/// statx flags: the stat set, but asking for both sync types is EINVAL.
pub fn statx_flags(flags: u32) -> Result<u32, Errno> {
    let flags = at_flags(flags as i32, AT_STAT_FLAGS)?;
    if flags & l::AT_STATX_SYNC_TYPE == l::AT_STATX_SYNC_TYPE {
        return Err(EINVAL);
    }
    Ok(flags)
}

/// The generic ioctls; terminal ioctls (TCGETS 0x5401 …) and everything
/// else are ENOTTY: no kernel file is a terminal.
pub fn ioctl_cmd(cmd: u32) -> Ioctl {
    match cmd {
        FIONREAD => Ioctl::FionRead,
        FIONBIO => Ioctl::FionBio,
        FIOCLEX => Ioctl::FioClex,
        FIONCLEX => Ioctl::FioNclex,
        _ => Ioctl::Other,
    }
}

/// A node type as Linux's `S_IF*` bits.
pub fn type_bits(t: VType) -> u32 {
    match t {
        VType::Reg => S_IFREG,
        VType::Dir => S_IFDIR,
        VType::Lnk => S_IFLNK,
        VType::Chr => S_IFCHR,
        VType::Blk => S_IFBLK,
        VType::Fifo => S_IFIFO,
        VType::Sock => S_IFSOCK,
    }
}

/// A node type as Linux's `DT_*` (the type bits shifted down, by design).
pub fn dirent_type(t: VType) -> u8 {
    (type_bits(t) >> 12) as u8
}

/// mknod's mode: Linux's st_mode layout equals the native one, and umode_t
/// is 16 bits wide, so higher bits of the register are dropped.
pub fn mknod_mode(mode: u32) -> u32 {
    let m = mode & 0xffff;
    let kind = match m & S_IFMT {
        S_IFIFO => n::S_IFIFO,
        S_IFCHR => n::S_IFCHR,
        S_IFDIR => n::S_IFDIR,
        S_IFBLK => n::S_IFBLK,
        S_IFREG => n::S_IFREG,
        S_IFSOCK => n::S_IFSOCK,
        0 => 0,
        // Not a type either ABI knows: let the core reject it.
        _ => n::S_IFMT,
    };
    kind | (m & 0o7777)
}

/// Major and minor of a Linux device number (glibc's encoding, which
/// extends the kernel's 32-bit one).
pub fn dev_major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32
}

pub fn dev_minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}

/// poll(2) event bits that differ: Linux's POLLWRNORM is its own bit,
/// NetBSD's is POLLOUT's.
pub fn poll_events_to_native(ev: i16) -> i16 {
    let same = l::POLLIN | l::POLLPRI | l::POLLOUT | l::POLLERR | l::POLLHUP | l::POLLNVAL | l::POLLRDNORM;
    let mut out = ev & same;
    if ev & l::POLLWRNORM != 0 {
        out |= n::POLLWRNORM;
    }
    out
}

/// Native revents back to Linux, reporting writability under whichever
/// of POLLOUT/POLLWRNORM the caller asked for.
pub fn poll_revents_to_linux(rev: i16, asked: i16) -> i16 {
    let same = l::POLLIN | l::POLLPRI | l::POLLERR | l::POLLHUP | l::POLLNVAL | l::POLLRDNORM;
    let mut out = rev & same;
    if rev & n::POLLOUT != 0 {
        out |= asked & (l::POLLOUT | l::POLLWRNORM);
    }
    out
}

// reboot(2)

/// What a reboot command does here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebootCmd {
    /// Halt, power off and both restarts stop the kernel.
    Halt,
    /// Ctrl-Alt-Del handling: there is no keyboard, so nothing to change.
    Nothing,
}

/// Checks reboot's magic numbers and decodes the command. EINVAL for wrong
/// magic and for commands the kernel cannot do (kexec, suspend).
pub fn reboot_cmd(magic1: i32, magic2: i32, cmd: u32) -> Result<RebootCmd, Errno> {
    let magic2_ok = matches!(
        magic2 as u32,
        l::LINUX_REBOOT_MAGIC2 | LINUX_REBOOT_MAGIC2A | LINUX_REBOOT_MAGIC2B | LINUX_REBOOT_MAGIC2C
    );
    if magic1 as u32 != l::LINUX_REBOOT_MAGIC1 || !magic2_ok {
        return Err(EINVAL);
    }
    match cmd {
        l::LINUX_REBOOT_CMD_RESTART
        | l::LINUX_REBOOT_CMD_HALT
        | l::LINUX_REBOOT_CMD_POWER_OFF
        | LINUX_REBOOT_CMD_RESTART2 => Ok(RebootCmd::Halt),
        LINUX_REBOOT_CMD_CAD_ON | LINUX_REBOOT_CMD_CAD_OFF => Ok(RebootCmd::Nothing),
        _ => Err(EINVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_translate_and_ignore_unknown_bits() {
        let f = l::O_RDWR | l::O_CREAT | l::O_EXCL | l::O_LARGEFILE | l::O_NOATIME | 0x4000_0000;
        assert_eq!(open_to_native(f), Ok(n::O_RDWR | n::O_CREAT | n::O_EXCL));
        assert_eq!(open_to_native(l::O_SYNC), Ok(n::O_SYNC | n::O_DSYNC));
        assert_eq!(open_to_native(l::O_PATH | l::O_RDWR | l::O_TRUNC | l::O_NOFOLLOW), Ok(n::O_PATH | n::O_NOFOLLOW));
        assert_eq!(open_to_native(l::O_CREAT | l::O_DIRECTORY), Err(EINVAL));
        assert_eq!(open_to_native(l::O_TMPFILE), Err(EINVAL));
    }

    #[test]
    fn getfl_round_trips_and_adds_largefile() {
        for f in [l::O_WRONLY | l::O_APPEND, l::O_RDWR | l::O_SYNC | l::O_NONBLOCK, l::O_RDONLY | l::O_DIRECT] {
            assert_eq!(status_to_linux(open_to_native(f).unwrap(), true), f | l::O_LARGEFILE);
            assert_eq!(status_to_linux(open_to_native(f).unwrap(), false), f);
        }
        assert_eq!(status_to_linux(n::O_PATH, true), l::O_PATH);
    }

    #[test]
    fn device_numbers_decode_like_glibc() {
        let makedev =
            |ma: u64, mi: u64| (mi & 0xff) | ((ma & 0xfff) << 8) | ((mi & !0xff) << 12) | ((ma & !0xfff) << 32);
        for (ma, mi) in [(0, 0x20), (1, 3), (8, 0x1_2345), (0x1234, 7)] {
            let d = makedev(ma, mi);
            assert_eq!((dev_major(d), dev_minor(d)), (ma as u32, mi as u32));
        }
    }

    #[test]
    fn poll_wrnorm_is_reported_as_asked() {
        assert_eq!(poll_events_to_native(l::POLLWRNORM), n::POLLOUT);
        assert_eq!(poll_revents_to_linux(n::POLLOUT, l::POLLWRNORM), l::POLLWRNORM);
        assert_eq!(poll_revents_to_linux(n::POLLOUT | n::POLLHUP, l::POLLOUT | l::POLLIN), l::POLLOUT | l::POLLHUP);
    }

    #[test]
    fn reboot_needs_magic() {
        let (m1, m2) = (l::LINUX_REBOOT_MAGIC1 as i32, l::LINUX_REBOOT_MAGIC2 as i32);
        assert_eq!(reboot_cmd(m1, m2, l::LINUX_REBOOT_CMD_HALT), Ok(RebootCmd::Halt));
        assert_eq!(reboot_cmd(m1, 1, l::LINUX_REBOOT_CMD_HALT), Err(EINVAL));
        assert_eq!(reboot_cmd(0, m2, l::LINUX_REBOOT_CMD_HALT), Err(EINVAL));
        assert_eq!(reboot_cmd(m1, m2, 0xdead), Err(EINVAL));
    }
}
