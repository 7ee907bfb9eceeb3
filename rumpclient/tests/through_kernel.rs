//! Marshaled calls end to end, without sockets: the client side marshals a
//! real Linux call from this process's memory, the bytes are run on a
//! kernel process, and the reply is written back — one request and one
//! reply per call, compared with the same call made in-process.

use rump_abi::linux::errno::{EBADF, ENOENT};
use rump_abi::linux::sys::{self, desc};
use rump_abi::linux::types::stat;
use rump_abi::usermem::UserMemory;
use rump_abi::{Errno, UserAddr};
use rump_abi::{Slots, SysResult};
use rump_kernel::cred::Cred;
use rump_kernel::lwp::Lwp;
use rump_kernel::proc::Emulation;
use rump_kernel::{Config, Kernel, Process};
use rumpclient::marshal;
use rumpclient::selfmem::SelfMemory;
use rumpclient::serve::run_marshaled;

/// No client memory behind the shipped buffers: every call here must be
/// served by what its request carried.
struct NothingElse;

impl UserMemory for NothingElse {
    fn copy_in(&self, _: UserAddr, _: &mut [u8]) -> Result<(), Errno> {
        panic!("a copy-in round trip for an annotated call")
    }
    fn copy_out(&self, _: UserAddr, _: &[u8]) -> Result<(), Errno> {
        panic!("a copy-out round trip for an annotated call")
    }
    fn copy_in_str(&self, _: UserAddr, _: usize) -> Result<Vec<u8>, Errno> {
        panic!("a copy-in round trip for an annotated call")
    }
}

/// One remote call: marshal, run on the kernel, finish. Counts frames.
fn remote(p: &Process, frames: &mut usize, num: u32, args: &[u64]) -> SysResult {
    let mut slots: Slots = [0; 8];
    slots[..args.len()].copy_from_slice(args);
    let call = marshal(desc(num).expect("declared call"), &slots, &SelfMemory);
    let reply =
        run_marshaled(p, &Lwp::new(), call.sysnum(), call.payload(), &NothingElse).expect("well-formed request");
    *frames += 2;
    call.finish(&reply, &SelfMemory).expect("well-formed reply")
}

fn addr<T>(p: *const T) -> u64 {
    p as u64
}

#[test]
fn file_calls_take_one_round_trip_each() {
    let k = Kernel::boot(Config::default()).unwrap();
    let p = k.spawn(Emulation::Linux, Cred::root(), "remote").unwrap();
    let mut frames = 0;
    let path = b"/greeting\0";
    let fd = remote(&p, &mut frames, sys::SYS_openat, &[-100i64 as u64, addr(path.as_ptr()), 0o102, 0o644]).unwrap();
    let text = b"hello over the wire";
    assert_eq!(remote(&p, &mut frames, sys::SYS_write, &[fd as u64, addr(text.as_ptr()), text.len() as u64]), Ok(19));
    let mut st = stat::default();
    assert_eq!(
        remote(
            &p,
            &mut frames,
            sys::SYS_newfstatat,
            &[-100i64 as u64, addr(path.as_ptr()), std::ptr::addr_of_mut!(st) as u64, 0]
        ),
        Ok(0)
    );
    assert_eq!(st.st_size, 19);
    let mut buf = [0u8; 64];
    assert_eq!(remote(&p, &mut frames, sys::SYS_pread64, &[fd as u64, addr(buf.as_mut_ptr()), 64, 6]), Ok(13));
    assert_eq!(&buf[..13], b"over the wire");
    assert_eq!(frames, 8, "open, write, stat and read: one request and one reply each");
    // Errors travel as Linux errno values.
    let missing = b"/missing\0";
    assert_eq!(remote(&p, &mut frames, sys::SYS_openat, &[-100i64 as u64, addr(missing.as_ptr()), 0, 0]), Err(ENOENT));
    assert_eq!(remote(&p, &mut frames, sys::SYS_close, &[999]), Err(EBADF));
    // The same state is visible to in-process calls on the kernel.
    let mut local = stat::default();
    sys::rump_sys_newfstatat(&p, -100, path.as_ptr().cast(), &mut local, 0).unwrap();
    assert_eq!(local.st_ino, st.st_ino);
}

#[test]
fn a_directory_listing_comes_back_whole() {
    let k = Kernel::boot(Config::default()).unwrap();
    let p = k.spawn(Emulation::Linux, Cred::root(), "remote").unwrap();
    let mut frames = 0;
    for name in [&b"/a\0"[..], b"/b\0", b"/c\0"] {
        remote(&p, &mut frames, sys::SYS_mkdir, &[addr(name.as_ptr()), 0o755]).unwrap();
    }
    let root = b"/\0";
    let fd = remote(&p, &mut frames, sys::SYS_openat, &[-100i64 as u64, addr(root.as_ptr()), 0o200000, 0]).unwrap();
    let mut buf = [0u8; 4096];
    let n = remote(&p, &mut frames, sys::SYS_getdents64, &[fd as u64, addr(buf.as_mut_ptr()), 4096]).unwrap() as usize;
    let mut names = Vec::new();
    let mut off = 0;
    while off < n {
        let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
        let name = &buf[off + 19..off + reclen];
        names.push(String::from_utf8_lossy(&name[..name.iter().position(|&b| b == 0).unwrap()]).into_owned());
        off += reclen;
    }
    names.sort();
    assert_eq!(names, [".", "..", "a", "b", "c", "dev", "proc"]);
}
