//! What file calls share: path strings from the caller's memory and the
//! (dirfd, path, AT_* flags) triple of the `*at` calls.

use crate::syscalls::attr::Target;
use crate::Cx;
use rump_abi::linux::flags::{AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW};
use rump_abi::native::errno::EFAULT;
use rump_abi::{Errno, UserAddr};

/// Linux's PATH_MAX: the longest path string a call copies in, NUL
/// included; a longer one is ENAMETOOLONG.
pub const PATH_MAX: usize = 4096;

/// Copies in a path argument; NULL is EFAULT.
pub fn path(cx: &Cx, addr: UserAddr) -> Result<Vec<u8>, Errno> {
    if addr.is_null() {
        return Err(EFAULT);
    }
    cx.mem.copy_in_str(addr, PATH_MAX)
}

/// The object an `*at` call acts on.
pub struct At {
    pub dirfd: i32,
    pub path: Vec<u8>,
    /// Follow a final symlink.
    pub follow: bool,
    /// AT_EMPTY_PATH: an empty path names `dirfd` itself.
    pub empty_path: bool,
}

impl At {
    /// Reads the path of a call whose flags hold AT_SYMLINK_NOFOLLOW and
    /// AT_EMPTY_PATH in Linux's values (already checked for unknown bits).
    pub fn new(cx: &Cx, dirfd: i32, addr: UserAddr, flags: u32) -> Result<At, Errno> {
        let path = path(cx, addr)?;
        Ok(At::from_flags(dirfd, path, flags))
    }

    /// As `new`, but with AT_EMPTY_PATH a NULL path is the empty path, as
    /// stat calls accept since Linux 6.11.
    pub fn new_maybe_null(cx: &Cx, dirfd: i32, addr: UserAddr, flags: u32) -> Result<At, Errno> {
        if addr.is_null() && flags & AT_EMPTY_PATH != 0 {
            return Ok(At::from_flags(dirfd, Vec::new(), flags));
        }
        At::new(cx, dirfd, addr, flags)
    }

    fn from_flags(dirfd: i32, path: Vec<u8>, flags: u32) -> At {
        At { dirfd, path, follow: flags & AT_SYMLINK_NOFOLLOW == 0, empty_path: flags & AT_EMPTY_PATH != 0 }
    }

    /// A plain path relative to `dirfd`, following symlinks.
    pub fn plain(cx: &Cx, dirfd: i32, addr: UserAddr) -> Result<At, Errno> {
        At::new(cx, dirfd, addr, 0)
    }

    pub fn target(&self) -> Target<'_> {
        if self.path.is_empty() && self.empty_path {
            Target::Fd(self.dirfd)
        } else {
            Target::Path(self.dirfd, &self.path, self.follow)
        }
    }
}
