//! `rump_pub_etfs_*`: a host file at a kernel path (`fs::etfs`, as
//! rump_server's `-d`), or a host directory for the DIR types (`fs::hostfs`,
//! as `-m`).

use crate::{booted, guarded};
use rump_abi::capi::c_error;
use rump_abi::native::errno::{EFAULT, EINVAL};
use rump_abi::Errno;
use rump_kernel::fs::etfs::{EtfsKind, EtfsSize, EtfsSpec};
use rump_kernel::fs::hostfs::HostfsSpec;
use std::ffi::{c_char, c_int, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// enum rump_etfs_type (rump.ifspec).
const ETFS_REG: c_int = 0;
const ETFS_BLK: c_int = 1;
const ETFS_CHR: c_int = 2;
const ETFS_DIR: c_int = 3;
const ETFS_DIR_SUBDIRS: c_int = 4;
/// RUMP_ETFS_SIZE_ENDOFF: to the end of the host file.
const SIZE_ENDOFF: u64 = u64::MAX;

/// A C string argument; EFAULT for NULL.
pub fn c_str<'a>(p: *const c_char) -> Result<&'a CStr, Errno> {
    // SAFETY: the caller passes a NUL-terminated string, as C's API says.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }).ok_or(EFAULT)
}

fn register(key: *const c_char, hostpath: *const c_char, ftype: c_int, begin: u64, size: u64) -> Result<(), Errno> {
    let (key, host) = (c_str(key)?.to_bytes(), PathBuf::from(OsStr::from_bytes(c_str(hostpath)?.to_bytes())));
    let kernel = &booted()?.kernel;
    let kind = match ftype {
        ETFS_REG => EtfsKind::Reg,
        ETFS_BLK => EtfsKind::Blk,
        ETFS_CHR => EtfsKind::Chr,
        // The whole directory with what is under it: hostfs. NetBSD's
        // DIR (the directory's own files only) shows the same files.
        ETFS_DIR | ETFS_DIR_SUBDIRS => {
            return kernel.mount_hostfs(&HostfsSpec { hostdir: host, path: key.to_vec(), readonly: false })
        }
        _ => return Err(EINVAL),
    };
    let size = if size == SIZE_ENDOFF { EtfsSize::Host } else { EtfsSize::Bytes(size) };
    kernel.register_etfs(key, &EtfsSpec { hostpath: host, size, offset: begin, kind })
}

#[no_mangle]
pub extern "C" fn rump_pub_etfs_register(key: *const c_char, hostpath: *const c_char, ftype: c_int) -> c_int {
    c_error(guarded(|| register(key, hostpath, ftype, 0, SIZE_ENDOFF)))
}

#[no_mangle]
pub extern "C" fn rump_pub_etfs_register_withsize(
    key: *const c_char,
    hostpath: *const c_char,
    ftype: c_int,
    begin: u64,
    size: u64,
) -> c_int {
    c_error(guarded(|| register(key, hostpath, ftype, begin, size)))
}

/// Takes a registration away (`State::unmount_at`): EINVAL if `key` has none.
#[no_mangle]
pub extern "C" fn rump_pub_etfs_remove(key: *const c_char) -> c_int {
    c_error(guarded(|| {
        let key = c_str(key)?.to_bytes();
        booted()?.kernel.with_state(|st| st.unmount_at(key))
    }))
}
