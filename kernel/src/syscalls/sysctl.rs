//! `__sysctl`, NetBSD's one call into the MIB (`crate::sysctl`): it copies
//! the name in, finds the variable or the directory being queried, and
//! moves the old and new values through the caller's memory by NetBSD's
//! rules (`sys___sysctl`, `sysctl_lookup` and `sysctl_query` in
//! kern_sysctl.c):
//!
//! - `*oldlenp` always comes back as the size of the whole answer, also
//!   when `oldp` is NULL (a size probe) and when the call fails after the
//!   old value was taken;
//! - a short `oldp` gets what fits (whole records for a query) and the
//!   call fails with ENOMEM, after any write it asked for;
//! - `newp` with `newlen` 0 writes nothing.
//!
//! `oldp` is not marshaled (its size is `*oldlenp`, which only the kernel
//! reads): it is reached by copy-out.
#![allow(non_snake_case)]

use crate::sysctl::{self, Leaf, Target};
use crate::usermem::{read_pod, write_pod};
use crate::Cx;
use rump_abi::native::errno::{EFAULT, EINVAL, ENOMEM};
use rump_abi::native::flags::{CTL_MAXNAME, SYSCTL_VERSION, SYSCTL_VERS_MASK};
use rump_abi::native::sys::args::sys___sysctl_args;
use rump_abi::native::types::sysctlnode;
use rump_abi::{Errno, SysResult, UserAddr};

const NODE_SIZE: usize = core::mem::size_of::<sysctlnode>();

pub fn sys___sysctl(cx: &mut Cx, a: sys___sysctl_args) -> SysResult {
    let mut oldlen = 0usize;
    if !a.oldlenp.is_null() {
        let v: u64 = read_pod(cx.mem, a.oldlenp)?;
        oldlen = usize::try_from(v).unwrap_or(usize::MAX);
    }
    let savelen = oldlen;
    if a.namelen < 1 || a.namelen > CTL_MAXNAME {
        return Err(EINVAL);
    }
    let mut raw = vec![0u8; a.namelen as usize * 4];
    cx.mem.copy_in(a.name, &mut raw)?;
    let name: Vec<i32> = raw.chunks_exact(4).map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();

    let mut r = match sysctl::locate(&name) {
        Ok(Target::Leaf(leaf)) => lookup(cx, leaf, a.oldp, &mut oldlen, a.newp, a.newlen),
        Ok(Target::Query(dir)) => query(cx, dir, a.oldp, &mut oldlen, a.newp, a.newlen),
        Err(e) => Err(e),
    };
    // The caller learns the size even when the call failed.
    if !a.oldlenp.is_null() {
        let w = write_pod(cx.mem, a.oldlenp, &(oldlen as u64));
        if r.is_ok() {
            r = w;
        }
    }
    r?;
    if !a.oldp.is_null() && savelen < oldlen {
        return Err(ENOMEM);
    }
    Ok(0)
}

/// Reads, and maybe writes, one variable. The old value goes out before
/// the new one is looked at, as in NetBSD, so a rejected write still
/// reports the old value.
fn lookup(
    cx: &mut Cx,
    leaf: &Leaf,
    oldp: UserAddr,
    oldlen: &mut usize,
    newp: UserAddr,
    newlen: usize,
) -> Result<(), Errno> {
    let writing = !newp.is_null() && newlen != 0;
    if writing {
        leaf.may_write(&cx.proc().cred)?;
    }
    let old = leaf.read(&cx.st, cx.config()).to_bytes();
    if !oldp.is_null() {
        cx.mem.copy_out(oldp, &old[..old.len().min(*oldlen)])?;
    }
    *oldlen = old.len();
    if !writing {
        return Ok(());
    }
    // Checked before the copy, so `newlen` never sizes an allocation
    // beyond the variable's own.
    leaf.check_len(newlen)?;
    let mut new = vec![0u8; newlen];
    cx.mem.copy_in(newp, &mut new)?;
    let v = leaf.parse(&new)?;
    leaf.write(&mut cx.st, v)
}

/// CTL_QUERY: one `struct sysctlnode` per child of `dir`. As NetBSD's
/// `sysctl_cvt_in` demands, `newp` is a `sysctlnode` of this layout
/// version (its `sysctl_flags` hold SYSCTL_VERSION); a nonzero
/// `sysctl_ver` in it must match the node's or the root's.
fn query(
    cx: &mut Cx,
    dir: &sysctl::Dir,
    oldp: UserAddr,
    oldlen: &mut usize,
    newp: UserAddr,
    newlen: usize,
) -> Result<(), Errno> {
    if newp.is_null() || newlen < 4 {
        return Err(EINVAL);
    }
    let flags: u32 = read_pod(cx.mem, newp)?;
    if newlen != NODE_SIZE || flags & SYSCTL_VERS_MASK != SYSCTL_VERSION {
        return Err(EINVAL);
    }
    let q: sysctlnode = read_pod(cx.mem, newp)?;
    if q.sysctl_ver != 0 && q.sysctl_ver != sysctl::VERSION {
        return Err(EINVAL);
    }
    let mut out = 0usize;
    for child in dir.children() {
        // Only whole records go out.
        if !oldp.is_null() && out + NODE_SIZE <= *oldlen {
            write_pod(cx.mem, oldp.offset(out as u64).ok_or(EFAULT)?, &child.describe())?;
        }
        out += NODE_SIZE;
    }
    *oldlen = out;
    Ok(())
}
