//! The core's attribute and directory records in Linux's layouts: `struct
//! stat`, `struct statx`, `struct statfs` and `linux_dirent64`.

use super::flags::{dev_major, dev_minor, dirent_type, type_bits};
use crate::syscalls::attr::Stat;
use crate::time::Timespec;
use crate::vfs::{DirEntry, FsStat};
use rump_abi::linux::flags::{STATX_BASIC_STATS, STATX_BTIME, STATX_CTIME, STATX_MTIME};
use rump_abi::linux::types::{stat, statfs, statx, statx_timestamp};

pub use rump_abi::linux::flags::STATX_RESERVED;
/// f_flags bit saying the other bits are valid (set since Linux 2.6.36).
const ST_VALID: i64 = 0x20;

fn st_mode(s: &Stat) -> u32 {
    type_bits(s.attr.vtype) | (s.attr.mode & 0o7777)
}

pub fn to_stat(s: &Stat) -> stat {
    let a = &s.attr;
    stat {
        st_dev: s.dev,
        st_ino: a.ino,
        st_nlink: a.nlink,
        st_mode: st_mode(s),
        st_uid: a.uid,
        st_gid: a.gid,
        st_rdev: a.rdev,
        st_size: a.size as i64,
        st_blksize: a.blksize as i64,
        st_blocks: a.blocks as i64,
        st_atime: a.atime.sec,
        st_atime_nsec: a.atime.nsec,
        st_mtime: a.mtime.sec,
        st_mtime_nsec: a.mtime.nsec,
        st_ctime: a.ctime.sec,
        st_ctime_nsec: a.ctime.nsec,
        ..stat::default()
    }
}

fn stx_time(t: Timespec) -> statx_timestamp {
    statx_timestamp { tv_sec: t.sec, tv_nsec: t.nsec as u32, __reserved: 0 }
}

/// What statx fills in for a request `mask`, as Linux (6.13 and later)
/// does for tmpfs: the basic stats whatever was asked, except that mtime
/// and ctime come only if one of them was asked for (the multigrain
/// timestamp rule), and the birth time only if asked for.
pub fn statx_result_mask(mask: u32) -> u32 {
    let mut got = STATX_BASIC_STATS;
    if mask & (STATX_MTIME | STATX_CTIME) == 0 {
        got &= !(STATX_MTIME | STATX_CTIME);
    }
    got | (mask & STATX_BTIME)
}

/// `struct statx` for a request `mask`; fields not in the result mask
/// stay zero.
pub fn to_statx(s: &Stat, mask: u32) -> statx {
    let a = &s.attr;
    let got = statx_result_mask(mask);
    let time = |bit: u32, t: Timespec| if got & bit != 0 { stx_time(t) } else { statx_timestamp::default() };
    statx {
        stx_mask: got,
        stx_blksize: a.blksize,
        stx_nlink: a.nlink.min(u32::MAX as u64) as u32,
        stx_uid: a.uid,
        stx_gid: a.gid,
        stx_mode: st_mode(s) as u16,
        stx_ino: a.ino,
        stx_size: a.size,
        stx_blocks: a.blocks,
        stx_atime: stx_time(a.atime),
        stx_btime: time(STATX_BTIME, a.btime),
        stx_ctime: time(STATX_CTIME, a.ctime),
        stx_mtime: time(STATX_MTIME, a.mtime),
        stx_rdev_major: dev_major(a.rdev),
        stx_rdev_minor: dev_minor(a.rdev),
        stx_dev_major: dev_major(s.dev),
        stx_dev_minor: dev_minor(s.dev),
        ..statx::default()
    }
}

/// `struct statfs`; f_type is the file system's Linux magic, the fsid is
/// made from the mount's device as Linux does for most file systems.
pub fn to_statfs(fs: &FsStat, dev: u64) -> statfs {
    statfs {
        f_type: fs.magic,
        f_bsize: fs.bsize as i64,
        f_blocks: fs.blocks,
        f_bfree: fs.bfree,
        f_bavail: fs.bavail,
        f_files: fs.files,
        f_ffree: fs.ffree,
        f_fsid: [dev as i32, (dev >> 32) as i32],
        f_namelen: fs.namemax as i64,
        f_frsize: fs.bsize as i64,
        f_flags: ST_VALID,
        ..statfs::default()
    }
}

/// d_ino, d_off, d_reclen, d_type: the fixed head of a linux_dirent64.
const DIRENT64_HEAD: usize = 8 + 8 + 2 + 1;

/// Appends one `linux_dirent64` (head, name, NUL, padded to 8 bytes) if it
/// fits in `max`. d_off is the position after the entry: lseek there and
/// getdents continues with the next one.
pub fn encode_dirent64(e: &DirEntry, next: u64, out: &mut Vec<u8>, max: usize) -> bool {
    let reclen = (DIRENT64_HEAD + e.name.len() + 1).next_multiple_of(8);
    if out.len() + reclen > max {
        return false;
    }
    let start = out.len();
    out.extend_from_slice(&e.ino.to_ne_bytes());
    out.extend_from_slice(&(next as i64).to_ne_bytes());
    out.extend_from_slice(&(reclen as u16).to_ne_bytes());
    out.push(dirent_type(e.vtype));
    out.extend_from_slice(&e.name);
    out.resize(start + reclen, 0);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::VType;

    #[test]
    fn statx_reports_what_linux_reports() {
        use rump_abi::linux::flags::{STATX_ATIME, STATX_TYPE};
        assert_eq!(statx_result_mask(STATX_BASIC_STATS), STATX_BASIC_STATS);
        assert_eq!(statx_result_mask(0), STATX_BASIC_STATS & !(STATX_MTIME | STATX_CTIME));
        assert_eq!(statx_result_mask(STATX_TYPE | STATX_ATIME), 0x73f);
        assert_eq!(statx_result_mask(STATX_MTIME | STATX_BTIME), STATX_BASIC_STATS | STATX_BTIME);
    }

    #[test]
    fn dirent64_layout() {
        let e = DirEntry { name: b"hello".to_vec(), ino: 7, vtype: VType::Dir };
        let mut out = Vec::new();
        assert!(!encode_dirent64(&e, 3, &mut out, 16));
        assert!(encode_dirent64(&e, 3, &mut out, 64));
        assert_eq!(out.len(), 32);
        assert_eq!(u64::from_ne_bytes(out[0..8].try_into().unwrap()), 7);
        assert_eq!(i64::from_ne_bytes(out[8..16].try_into().unwrap()), 3);
        assert_eq!(u16::from_ne_bytes(out[16..18].try_into().unwrap()), 32);
        assert_eq!(out[18], 4);
        assert_eq!(&out[19..25], b"hello\0");
    }
}
