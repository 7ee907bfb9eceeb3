//! Credentials and the permission check every file system shares.

use crate::vfs::{Attr, VType};
use rump_abi::native::errno::EACCES;
use rump_abi::Errno;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cred {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

impl Cred {
    pub fn root() -> Cred {
        Cred { uid: 0, gid: 0, groups: Vec::new() }
    }

    pub fn user(uid: u32, gid: u32) -> Cred {
        Cred { uid, gid, groups: Vec::new() }
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// Requested access, as access(2)'s bits.
pub const R: u32 = 4;
pub const W: u32 = 2;
pub const X: u32 = 1;

/// May `cred` access a node with `attr` as `want` (R|W|X)? Root may read and
/// write anything and search any directory, but executes a file only if
/// someone may.
pub fn check_access(cred: &Cred, attr: &Attr, want: u32) -> Result<(), Errno> {
    if cred.is_root() {
        let x_ok = want & X == 0 || attr.vtype == VType::Dir || attr.mode & 0o111 != 0;
        return if x_ok { Ok(()) } else { Err(EACCES) };
    }
    let bits = if cred.uid == attr.uid {
        attr.mode >> 6
    } else if cred.in_group(attr.gid) {
        attr.mode >> 3
    } else {
        attr.mode
    } & 7;
    if bits & want == want {
        Ok(())
    } else {
        Err(EACCES)
    }
}
