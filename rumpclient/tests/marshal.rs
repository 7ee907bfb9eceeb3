//! Marshaled syscalls end to end, driven by the generated Linux descriptors:
//! the client marshals real buffers of this process, a stand-in server
//! serves the "kernel's" accesses from the parsed request, and the client
//! writes the reply back.

mod support;

use rump_abi::linux::sys::{self, desc};
use rump_abi::linux::types::{pollfd, stat, timespec};
use rump_abi::native::errno::{EBADF, EFAULT, ENAMETOOLONG};
use rump_abi::pod::Pod;
use rump_abi::usermem::UserMemory;
use rump_abi::{Errno, Marshal, Slots, SysResult, UserAddr};
use rumpclient::marshal::{MAX_CALL_OUT, SEG_IN, SEG_OUT, SEG_STR, SEG_TO_RET, STR_MAX};
use rumpclient::selfmem::SelfMemory;
use rumpclient::{
    marshal, Class, ClientCall, ClientMemory, HeaderPacket, HeaderRepr, MarshaledCall, MreplyPacket, MreplyRepr,
    MsgType, OutRepr, WireError, HEADER_LEN,
};
use std::cell::RefCell;
use support::Rng;

fn addr<T>(p: *const T) -> u64 {
    p as u64
}

fn slots(v: &[u64]) -> Slots {
    let mut s = [0u64; 8];
    s[..v.len()].copy_from_slice(v);
    s
}

/// Marshals, parses on the "server", runs `kernel` against the parsed call,
/// replies and finishes on the client.
fn call(num: u32, args: &[u64], kernel: impl FnOnce(&MarshaledCall) -> SysResult) -> SysResult {
    let (c, res) = call_keep(num, args, kernel);
    drop(c);
    res
}

fn call_keep(num: u32, args: &[u64], kernel: impl FnOnce(&MarshaledCall) -> SysResult) -> (ClientCall, SysResult) {
    let d = desc(num).expect("declared");
    let c = marshal(d, &slots(args), &SelfMemory);
    assert_eq!(c.sysnum(), num);
    let mut server = MarshaledCall::parse(c.payload()).expect("valid request");
    let res = kernel(&server);
    let reply = server.reply_bytes(&res);
    let out = c.finish(&reply, &SelfMemory).expect("valid reply");
    (c, out)
}

#[test]
fn read_returns_only_ret_bytes() {
    let mut buf = [0xaau8; 64];
    let a = addr(buf.as_mut_ptr());
    let (c, r) = call_keep(sys::SYS_read, &[3, a, 64], |k| {
        assert_eq!(k.slots[..3], [3, a, 64]);
        let n = k.with_out(UserAddr(a), 64, &mut |b| {
            b[..10].copy_from_slice(b"0123456789");
            Ok(10)
        })?;
        assert_eq!(n, 10);
        // The call claims fewer bytes than it wrote: only those travel.
        Ok(4)
    });
    assert_eq!(r, Ok(4));
    assert_eq!(&buf[..4], b"0123");
    assert!(buf[4..].iter().all(|&b| b == 0xaa));
    // One output segment, no input bytes.
    assert_eq!(c.segments().len(), 1);
    assert_eq!(c.segments()[0].flags, SEG_OUT | SEG_TO_RET);
    assert_eq!(c.payload().len(), 8 + 3 * 8 + 24);

    // On error nothing comes back.
    let r = call(sys::SYS_read, &[3, a, 64], |k| {
        k.copy_out(UserAddr(a), b"zz")?;
        Err(EBADF)
    });
    assert_eq!(r, Err(EBADF));
    assert_eq!(&buf[..4], b"0123");
}

#[test]
fn write_ships_the_bytes() {
    let buf = *b"hello, world";
    let a = addr(buf.as_ptr());
    let r = call(sys::SYS_write, &[1, a, 12], |k| {
        let n = k.with_in(UserAddr(a), 12, &mut |b| {
            assert_eq!(b, b"hello, world");
            Ok(b.len())
        })?;
        let mut part = [0u8; 5];
        k.copy_in(UserAddr(a + 7), &mut part)?;
        assert_eq!(&part, b"world");
        // Input only: writing there is a fault.
        assert_eq!(k.copy_out(UserAddr(a), b"x"), Err(EFAULT));
        Ok(n as i64)
    });
    assert_eq!(r, Ok(12));
    assert_eq!(&buf, b"hello, world");
}

#[test]
fn openat_ships_the_path() {
    let path = b"/tmp/some/file\0";
    let a = addr(path.as_ptr());
    let (c, r) = call_keep(sys::SYS_openat, &[(-100i64) as u64, a, 0o102, 0o644], |k| {
        assert_eq!(k.copy_in_str(UserAddr(a), 4096)?, b"/tmp/some/file");
        assert_eq!(k.copy_in_str(UserAddr(a + 5), 4096)?, b"some/file");
        assert_eq!(k.copy_in_str(UserAddr(a), 14), Err(ENAMETOOLONG));
        assert_eq!(k.copy_in_str(UserAddr(a), 15)?, b"/tmp/some/file");
        Ok(5)
    });
    assert_eq!(r, Ok(5));
    assert_eq!(c.segments()[0].flags, SEG_IN | SEG_STR);
    assert_eq!(c.segments()[0].len, path.len());

    // Longer than a shipped string may be: ENAMETOOLONG on the server.
    let mut long = vec![b'a'; 5000];
    long.push(0);
    let a = addr(long.as_ptr());
    let r = call(sys::SYS_openat, &[0, a, 0, 0], |k| k.copy_in_str(UserAddr(a), 8192).map(|_| 0));
    assert_eq!(r, Err(ENAMETOOLONG));
    let mut edge = vec![b'b'; STR_MAX - 1];
    edge.push(0);
    let a = addr(edge.as_ptr());
    let r = call(sys::SYS_openat, &[0, a, 0, 0], |k| k.copy_in_str(UserAddr(a), 4096).map(|s| s.len() as i64));
    assert_eq!(r, Ok(STR_MAX as i64 - 1));
}

#[test]
fn newfstatat_fills_the_struct() {
    let path = b"f\0";
    let mut st = stat { st_size: -1, ..stat::default() };
    let (p, s) = (addr(path.as_ptr()), addr(&mut st as *mut stat));
    let r = call(sys::SYS_newfstatat, &[3, p, s, 0], |k| {
        assert_eq!(k.copy_in_str(UserAddr(p), 4096)?, b"f");
        // Output only: not readable.
        assert_eq!(k.copy_in(UserAddr(s), &mut [0u8; 8]), Err(EFAULT));
        let v = stat { st_ino: 77, st_size: 1234, ..stat::default() };
        k.copy_out(UserAddr(s), v.as_bytes())?;
        Ok(0)
    });
    assert_eq!(r, Ok(0));
    let st = unsafe { core::ptr::read_volatile(&st) };
    assert_eq!((st.st_ino, st.st_size), (77, 1234));

    // A partial write leaves the rest of the struct alone.
    let mut st = stat { st_ino: 5, st_size: 9, ..stat::default() };
    let s = addr(&mut st as *mut stat);
    let r = call(sys::SYS_newfstatat, &[3, p, s, 0], |k| k.copy_out(UserAddr(s), &42u64.to_ne_bytes()).map(|()| 0));
    assert_eq!(r, Ok(0));
    let st = unsafe { core::ptr::read_volatile(&st) };
    assert_eq!((st.st_dev, st.st_ino, st.st_size), (42, 5, 9));
}

#[test]
fn null_travels_as_null() {
    let path = b"f\0";
    let p = addr(path.as_ptr());
    let (c, r) = call_keep(sys::SYS_newfstatat, &[3, p, 0, 0], |k| {
        assert_eq!(k.slots[2], 0);
        assert_eq!(k.copy_out(UserAddr::NULL, &[1; 144]), Err(EFAULT));
        assert_eq!(k.with_out(UserAddr::NULL, 144, &mut |_| Ok(144)), Err(EFAULT));
        // Zero-length accesses never fault, as in-process.
        assert_eq!(k.with_out(UserAddr::NULL, 0, &mut |b| Ok(b.len())), Ok(0));
        Err(EFAULT)
    });
    assert_eq!(r, Err(EFAULT));
    assert_eq!(c.segments().len(), 1);
}

#[test]
fn out_of_segment_access_faults() {
    let mut buf = [0u8; 16];
    let a = addr(buf.as_mut_ptr());
    let r = call(sys::SYS_read, &[0, a, 16], |k| {
        assert_eq!(k.with_out(UserAddr(a), 17, &mut |b| Ok(b.len())), Err(EFAULT));
        assert_eq!(k.with_out(UserAddr(a - 1), 2, &mut |b| Ok(b.len())), Err(EFAULT));
        assert_eq!(k.copy_out(UserAddr(a + 16), b"x"), Err(EFAULT));
        assert_eq!(k.copy_out(UserAddr(u64::MAX), b"xx"), Err(EFAULT));
        assert_eq!(k.copy_in(UserAddr(a), &mut [0u8; 1]), Err(EFAULT));
        assert_eq!(k.with_in(UserAddr(a), 1, &mut |_| Ok(0)), Err(EFAULT));
        assert_eq!(k.copy_in_str(UserAddr(a), 10), Err(EFAULT));
        k.with_out(UserAddr(a + 8), 8, &mut |b| {
            b.fill(7);
            Ok(8)
        })?;
        Ok(16)
    });
    assert_eq!(r, Ok(16));
    assert_eq!(buf, [0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7, 7, 7, 7, 7, 7]);
}

#[test]
fn unreadable_input_faults_on_the_server() {
    // The zero page is never readable: the buffer travels without bytes.
    let r = call(sys::SYS_write, &[1, 0x10, 4], |k| {
        assert_eq!(k.slots[1], 0x10);
        k.with_in(UserAddr(0x10), 4, &mut |b| Ok(b.len())).map(|n| n as i64)
    });
    assert_eq!(r, Err(EFAULT));
}

#[test]
fn oversized_read_is_shortened() {
    let mut buf = [0u8; 8];
    let a = addr(buf.as_mut_ptr());
    let r = call(sys::SYS_read, &[0, a, 1 << 40], |k| {
        // Lowered to the budget, and to the part of it that is mapped
        // after the buffer (where a host copy would stop).
        assert!((8..=MAX_CALL_OUT as u64).contains(&k.slots[2]), "count {}", k.slots[2]);
        k.copy_out(UserAddr(a), b"abc")?;
        Ok(3)
    });
    assert_eq!(r, Ok(3));
    assert_eq!(&buf[..4], b"abc\0");
}

fn iovec(base: u64, len: u64) -> [u64; 2] {
    [base, len]
}

/// The kernel's view of an iovec array, through the call's memory.
fn iovecs(k: &MarshaledCall, vec: u64, n: usize) -> Result<Vec<(u64, usize)>, Errno> {
    let mut raw = vec![0u8; 16 * n];
    k.copy_in(UserAddr(vec), &mut raw)?;
    Ok(raw
        .chunks(16)
        .map(|c| {
            let base = u64::from_ne_bytes(c[..8].try_into().unwrap());
            let len = u64::from_ne_bytes(c[8..].try_into().unwrap());
            (base, len as usize)
        })
        .collect())
}

#[test]
fn readv_fills_every_buffer() {
    let mut a = [0u8; 4];
    let mut b = [0u8; 8];
    let iov = [iovec(addr(a.as_mut_ptr()), 4), iovec(0, 0), iovec(addr(b.as_mut_ptr()), 8)];
    let v = addr(iov.as_ptr());
    let (c, r) = call_keep(sys::SYS_readv, &[5, v, 3], |k| {
        let mut done = 0;
        let src = b"abcdefghijkl";
        for (base, len) in iovecs(k, v, 3)? {
            done += k.with_out(UserAddr(base), len, &mut |buf| {
                buf.copy_from_slice(&src[done..done + buf.len()]);
                Ok(buf.len())
            })?;
        }
        Ok(done as i64)
    });
    assert_eq!(r, Ok(12));
    assert_eq!(&a, b"abcd");
    assert_eq!(&b, b"efghijkl");
    // The array plus the two non-empty buffers.
    let s = c.segments();
    assert_eq!(s.len(), 3);
    assert_eq!((s[0].flags, s[0].iov, s[0].len), (SEG_IN, None, 48));
    assert_eq!((s[1].flags, s[1].iov, s[2].iov), (SEG_OUT, Some(0), Some(2)));
}

#[test]
fn writev_ships_every_buffer() {
    let a = *b"one ";
    let b = *b"two";
    let iov = [iovec(addr(a.as_ptr()), 4), iovec(addr(b.as_ptr()), 3)];
    let v = addr(iov.as_ptr());
    let r = call(sys::SYS_writev, &[5, v, 2], |k| {
        let mut got = Vec::new();
        for (base, len) in iovecs(k, v, 2)? {
            k.with_in(UserAddr(base), len, &mut |buf| {
                got.extend_from_slice(buf);
                Ok(buf.len())
            })?;
        }
        assert_eq!(got, b"one two");
        Ok(got.len() as i64)
    });
    assert_eq!(r, Ok(7));
    // More iovecs than IOV_MAX: nothing is shipped for them.
    let r = call(sys::SYS_writev, &[5, v, 5000], |k| iovecs(k, v, 1).map(|_| 0));
    assert_eq!(r, Err(EFAULT));
}

#[test]
fn pipe2_returns_two_fds() {
    let mut fds = [-1i32; 2];
    let f = addr(fds.as_mut_ptr());
    let r = call(sys::SYS_pipe2, &[f, 0o2000000], |k| {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&3i32.to_ne_bytes());
        out[4..].copy_from_slice(&4i32.to_ne_bytes());
        k.copy_out(UserAddr(f), &out)?;
        Ok(0)
    });
    assert_eq!(r, Ok(0));
    let fds = unsafe { core::ptr::read_volatile(&fds) };
    assert_eq!(fds, [3, 4]);
}

#[test]
fn ppoll_updates_in_place() {
    let mut fds = [pollfd { fd: 3, events: 1, revents: 0 }, pollfd { fd: 4, events: 4, revents: 0 }];
    let mut ts = timespec { tv_sec: 5, tv_nsec: 0 };
    let (f, t) = (addr(fds.as_mut_ptr()), addr(&mut ts as *mut timespec));
    let (c, r) = call_keep(sys::SYS_ppoll, &[f, 2, t, 0, 8], |k| {
        for i in 0..2u64 {
            let mut p = pollfd::default();
            k.copy_in(UserAddr(f + 8 * i), p.as_bytes_mut())?;
            p.revents = p.events;
            k.copy_out(UserAddr(f + 8 * i), p.as_bytes())?;
            // Reading back sees the update.
            let mut q = pollfd::default();
            k.copy_in(UserAddr(f + 8 * i), q.as_bytes_mut())?;
            assert_eq!(q, p);
        }
        let mut left = timespec::default();
        k.copy_in(UserAddr(t), left.as_bytes_mut())?;
        assert_eq!(left.tv_sec, 5);
        left.tv_sec = 2;
        k.copy_out(UserAddr(t), left.as_bytes())?;
        Ok(2)
    });
    assert_eq!(r, Ok(2));
    let fds = unsafe { core::ptr::read_volatile(&fds) };
    let ts = unsafe { core::ptr::read_volatile(&ts) };
    assert_eq!((fds[0].revents, fds[1].revents, ts.tv_sec), (1, 4, 2));
    // The sigmask was NULL: two segments, both in and out.
    assert_eq!(c.segments().len(), 2);
    assert!(c.segments().iter().all(|s| s.flags == SEG_IN | SEG_OUT));
}

#[test]
fn one_frame_calls_have_no_opaque_args() {
    for num in [sys::SYS_read, sys::SYS_write, sys::SYS_openat, sys::SYS_newfstatat, sys::SYS_getdents64] {
        let d = desc(num).unwrap();
        let opaque = d.args.iter().filter(|a| a.marshal == Marshal::Opaque).count();
        assert_eq!(opaque, 0, "{}", d.name);
    }
    let ioctl = desc(sys::SYS_ioctl).unwrap();
    assert_eq!(ioctl.args.iter().filter(|a| a.marshal == Marshal::Opaque).count(), 1);
}

#[test]
fn request_travels_in_a_frame() {
    let buf = *b"data";
    let c = marshal(desc(sys::SYS_write).unwrap(), &slots(&[1, addr(buf.as_ptr()), 4]), &SelfMemory);
    let h = HeaderRepr::new(c.payload().len(), 9, Class::Req, MsgType::Msyscall, c.sysnum()).unwrap();
    let mut frame = vec![0u8; HEADER_LEN + c.payload().len()];
    h.emit(&mut HeaderPacket::new_checked(&mut frame[..]).unwrap());
    frame[HEADER_LEN..].copy_from_slice(c.payload());
    let back = HeaderRepr::parse(&HeaderPacket::new_checked(&frame[..]).unwrap()).unwrap();
    assert_eq!((back.msg_type, back.value, back.payload_len()), (MsgType::Msyscall, 1, c.payload().len()));
    let k = MarshaledCall::parse(&frame[HEADER_LEN..back.len.total()]).unwrap();
    assert_eq!(k.slots[2], 4);
}

/// A client memory that records writes instead of making them.
#[derive(Default)]
struct Recorder(RefCell<Vec<(u64, Vec<u8>)>>);

impl ClientMemory for Recorder {
    fn read(&self, _: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        buf.fill(b'r');
        Ok(())
    }
    fn read_str(&self, _: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        Ok(b"str\0"[..4.min(max)].to_vec())
    }
    fn write(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        self.0.borrow_mut().push((addr.0, data.to_vec()));
        Ok(())
    }
}

fn reply(error: i32, ret: i64, outs: &[(u32, u64, &[u8])]) -> Vec<u8> {
    let r = MreplyRepr {
        error,
        retval: [ret, 0],
        outs: outs.iter().map(|&(seg, offset, data)| OutRepr { seg, offset, data }).collect(),
    };
    let mut b = vec![0u8; r.buffer_len()];
    r.emit(&mut MreplyPacket::new_checked(&mut b[..]).unwrap());
    b
}

#[test]
fn client_refuses_outputs_it_did_not_ask_for() {
    let m = Recorder::default();
    // newfstatat: segment 0 is the path (input), 1 the stat (output).
    let c = marshal(desc(sys::SYS_newfstatat).unwrap(), &slots(&[3, 0x10000, 0x20000, 0]), &m);
    assert_eq!(c.segments().len(), 2);
    assert!(c.finish(&reply(0, 0, &[(0, 0, b"x")]), &m).is_err(), "input segment");
    assert!(c.finish(&reply(0, 0, &[(2, 0, b"x")]), &m).is_err(), "no such segment");
    assert!(c.finish(&reply(0, 0, &[(1, 144, b"x")]), &m).is_err(), "past the end");
    assert!(c.finish(&reply(0, 0, &[(1, u64::MAX, b"x")]), &m).is_err(), "wrapping offset");
    assert!(m.0.borrow().is_empty());
    assert_eq!(c.finish(&reply(0, 0, &[(1, 140, b"abcd")]), &m), Ok(Ok(0)));
    assert_eq!(m.0.borrow()[0], (0x20000 + 140, b"abcd".to_vec()));

    // read: outputs beyond the returned count, or on error, are refused.
    let c = marshal(desc(sys::SYS_read).unwrap(), &slots(&[3, 0x10000, 100]), &m);
    assert!(c.finish(&reply(0, 2, &[(0, 0, b"abc")]), &m).is_err());
    assert!(c.finish(&reply(9, -1, &[(0, 0, b"a")]), &m).is_err());
    assert_eq!(c.finish(&reply(0, 3, &[(0, 0, b"abc")]), &m), Ok(Ok(3)));
    assert_eq!(c.finish(&reply(9, -1, &[]), &m), Ok(Err(Errno(9))));
    // Structure: truncated, trailing bytes.
    let good = reply(0, 3, &[(0, 0, b"abc")]);
    for n in 0..good.len() {
        assert!(c.finish(&good[..n], &m).is_err(), "{n}");
    }
    let mut long = good.clone();
    long.push(0);
    assert!(c.finish(&long, &m).is_err());
}

/// Touches every segment of a parsed call the way a kernel might.
fn exercise(k: &mut MarshaledCall) {
    let segs: Vec<_> = k.segments().copied().collect();
    for s in &segs {
        let a = UserAddr(s.addr);
        let len = s.len.min(1 << 16);
        let _ = k.copy_in(a, &mut vec![0u8; len]);
        let _ = k.copy_in_str(a, 4096);
        let _ = k.with_in(a, len, &mut |b| Ok(b.len()));
        let _ = k.copy_out(a, &vec![1u8; len]);
        let _ = k.with_out(a, len, &mut |b| Ok(b.len() / 2));
    }
    for res in [Ok(3), Ok(-1), Err(EBADF)] {
        let r = k.reply_bytes(&res);
        let p = MreplyPacket::new_checked(&r[..]).unwrap();
        MreplyRepr::parse(&p).unwrap();
    }
}

fn valid_requests() -> Vec<Vec<u8>> {
    let m = Recorder::default();
    let reqs = [
        (sys::SYS_read, slots(&[3, 0x10000, 100])),
        (sys::SYS_write, slots(&[3, 0x10000, 100])),
        (sys::SYS_openat, slots(&[3, 0x10000, 0, 0])),
        (sys::SYS_newfstatat, slots(&[3, 0x10000, 0x20000, 0])),
        (sys::SYS_ppoll, slots(&[0x10000, 3, 0x20000, 0x30000, 8])),
        (sys::SYS_pipe2, slots(&[0x10000, 0])),
    ];
    let mut out: Vec<Vec<u8>> =
        reqs.iter().map(|(n, s)| marshal(desc(*n).unwrap(), s, &m).payload().to_vec()).collect();
    // An iovec request from this process's memory.
    let a = [0u8; 4];
    let iov = [iovec(addr(a.as_ptr()), 4), iovec(addr(a.as_ptr()), 2)];
    out.push(
        marshal(desc(sys::SYS_writev).unwrap(), &slots(&[1, addr(iov.as_ptr()), 2]), &SelfMemory).payload().to_vec(),
    );
    out
}

#[test]
fn truncated_requests_are_refused() {
    for req in valid_requests() {
        let mut k = MarshaledCall::parse(&req).unwrap();
        exercise(&mut k);
        for n in 0..req.len() {
            assert!(MarshaledCall::parse(&req[..n]).is_err(), "prefix {n} of {req:?}");
        }
        let mut long = req.clone();
        long.push(0);
        assert!(MarshaledCall::parse(&long).is_err());
    }
}

#[test]
fn random_requests_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let valid = valid_requests();
    let mut parsed = 0;
    for round in 0..20_000 {
        let bytes = if round % 2 == 0 {
            let n = rng.below(300);
            let mut b: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            // Plausible counts now and then, so the tables get walked.
            if b.len() >= 8 && rng.below(2) == 0 {
                b[..4].copy_from_slice(&(rng.below(9) as u32).to_ne_bytes());
                b[4..8].copy_from_slice(&(rng.below(4) as u32).to_ne_bytes());
            }
            b
        } else {
            let mut b = valid[rng.below(valid.len())].clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            b
        };
        if let Ok(mut k) = MarshaledCall::parse(&bytes) {
            parsed += 1;
            exercise(&mut k);
        }
        let _ = MsyscallCheck::run(&bytes);
    }
    assert!(parsed > 100, "mutations should often stay valid: {parsed}");
}

/// Random reply bytes against a real request never panic and never write
/// outside its output segments.
#[test]
fn random_replies_never_panic() {
    let mut rng = Rng(12345);
    let m = Recorder::default();
    let c = marshal(desc(sys::SYS_ppoll).unwrap(), &slots(&[0x10000, 3, 0x20000, 0x30000, 8]), &m);
    let good = reply(0, 1, &[(0, 4, b"ab"), (1, 0, b"0123456789abcdef")]);
    assert_eq!(c.finish(&good, &m), Ok(Ok(1)));
    for round in 0..20_000 {
        let bytes = if round % 2 == 0 {
            (0..rng.below(120)).map(|_| rng.next() as u8).collect()
        } else {
            let mut b = good.clone();
            let i = rng.below(b.len());
            b[i] = rng.next() as u8;
            b.truncate(b.len() - rng.below(3));
            b
        };
        let _ = c.finish(&bytes, &m);
    }
    for (a, data) in m.0.borrow().iter() {
        let end = a + data.len() as u64;
        let inside = (*a >= 0x10000 && end <= 0x10000 + 24) || (*a >= 0x20000 && end <= 0x20000 + 16);
        assert!(inside, "{a:#x}+{}", data.len());
    }
}

/// Parsing the request packet and repr directly, beside `MarshaledCall`.
struct MsyscallCheck;

impl MsyscallCheck {
    fn run(bytes: &[u8]) -> Result<usize, WireError> {
        let p = rumpclient::MsyscallPacket::new_checked(bytes)?;
        let r = rumpclient::MsyscallRepr::parse(&p)?;
        let mut back = vec![0u8; r.buffer_len()];
        r.emit(&mut rumpclient::MsyscallPacket::new_unchecked(&mut back[..]));
        assert_eq!(back, bytes);
        Ok(r.segments.len())
    }
}

#[test]
fn scattered_writes_and_reentry() {
    let mut buf = [0u8; 64];
    let a = addr(buf.as_mut_ptr());
    let r = call(sys::SYS_read, &[0, a, 64], |k| {
        // Re-entering the same segment from inside a lent view is a fault,
        // not a panic.
        let inner = k.with_out(UserAddr(a), 8, &mut |_| k.copy_out(UserAddr(a), b"x").map(|()| 0));
        assert_eq!(inner, Err(EFAULT));
        // More separate ranges than tracked: they merge, zeros in the gaps.
        for i in 0..30u64 {
            k.copy_out(UserAddr(a + 2 * i), &[i as u8 + 1])?;
        }
        Ok(64)
    });
    assert_eq!(r, Ok(64));
    for i in 0..30 {
        assert_eq!((buf[2 * i], buf[2 * i + 1]), (i as u8 + 1, 0));
    }
}
