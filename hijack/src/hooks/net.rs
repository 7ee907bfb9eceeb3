//! Sockets: socket and socketpair pick the kernel by family (the families
//! `RUMPHIJACK socket=` names go to the rump kernel, the rest to the host);
//! every other socket call follows its fd. New rump sockets are shown
//! under placeholders like opened files. read, write, close, fcntl, ioctl
//! and poll on a socket are the file hooks' business.
//!
//! The kernel copies addresses, lengths and message headers itself, so a
//! bad pointer is its EFAULT. What is done here: SIGPIPE for a failed send
//! (the kernel cannot signal a host thread), fd numbers inside SCM_RIGHTS
//! messages (the program's numbers out, the kernel's numbers back in),
//! and sendmmsg/recvmmsg as loops over one message, as Linux runs them.

use crate::backend::{self, Backend};
use crate::fdmap;
use crate::hooks::entry::chk_fail;
use crate::hooks::io::{close_rump, show};
use crate::host::guard;
use crate::{by_fd, route};
use libc::{c_int, c_uint, c_void, mmsghdr, msghdr, size_t, sockaddr, socklen_t, ssize_t, timespec};
use rump_abi::linux::sys as rump;
use rump_abi::pod::Pod;
use rump_abi::{Errno, UserAddr};
use rumpclient::marshal::ClientMemory;
use rumpclient::selfmem::SelfMemory;
use std::mem::{offset_of, size_of};
use std::time::{Duration, Instant};

crate::real_fns! {
    fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int;
    fn socketpair(domain: c_int, ty: c_int, proto: c_int, sv: *mut c_int) -> c_int;
    fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    fn listen(fd: c_int, backlog: c_int) -> c_int;
    fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int;
    fn getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int;
    fn shutdown(fd: c_int, how: c_int) -> c_int;
    fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t;
    fn sendto(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, len: socklen_t) -> ssize_t;
    fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
    fn sendmmsg(fd: c_int, vec: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int;
    fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t;
    fn __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int) -> ssize_t;
    fn recvfrom(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
    fn __recvfrom_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
    fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
    fn recvmmsg(fd: c_int, vec: *mut mmsghdr, vlen: c_uint, flags: c_int, timeout: *mut timespec) -> c_int;
}

/// Linux's UIO_MAXIOV, the most messages one sendmmsg/recvmmsg handles.
const MAX_MMSG: c_uint = 1024;
/// The most ancillary data a message may carry (Linux's optmem_max).
const MAX_CONTROL: usize = 128 * 1024;

// ---- making sockets -------------------------------------------------------

crate::hook! {
    Socket fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int;
    {
        if !route::config().hijacks_family(domain) {
            return unsafe { host!(domain, ty, proto) };
        }
        guard(|| {
            let k = backend::kernel()?;
            let r = rump::rump_sys_socket(k, domain, ty, proto)?;
            show(k, r, ty & libc::SOCK_CLOEXEC != 0)
        })
    }
}

/// A pair made in the kernel, shown under two placeholders and stored in
/// the caller's `sv`; on any failure nothing is left open. Linux stores
/// into `sv` before it makes the sockets, so a bad `sv` is EFAULT whatever
/// else is wrong: it is tried (rewritten as it is) first.
fn socketpair_rump(k: &Backend, domain: c_int, ty: c_int, proto: c_int, sv: *mut c_int) -> Result<c_int, Errno> {
    let before = [get(sv)?, get(sv.wrapping_add(1))?];
    put(sv, &before)?;
    let mut pair = [0i32; 2];
    rump::rump_sys_socketpair(k, domain, ty, proto, pair.as_mut_ptr())?;
    let cloexec = ty & libc::SOCK_CLOEXEC != 0;
    let a = show(k, pair[0], cloexec).inspect_err(|_| {
        let _ = rump::rump_sys_close(k, pair[1] as u32);
    })?;
    let b = match show(k, pair[1], cloexec) {
        Ok(b) => b,
        Err(e) => {
            let _ = close_rump(k, a, pair[0]);
            return Err(e);
        }
    };
    if let Err(e) = put(sv, &[a, b]) {
        let _ = close_rump(k, a, pair[0]);
        let _ = close_rump(k, b, pair[1]);
        return Err(e);
    }
    Ok(0)
}

crate::hook! {
    Socket fn socketpair(domain: c_int, ty: c_int, proto: c_int, sv: *mut c_int) -> c_int;
    {
        if !route::config().hijacks_family(domain) {
            return unsafe { host!(domain, ty, proto, sv) };
        }
        guard(|| socketpair_rump(backend::kernel()?, domain, ty, proto, sv))
    }
}

/// accept (`flags` None) or accept4 on rump fd `r`; the new socket is
/// shown like one from `socket`.
fn accept_rump(
    k: &Backend,
    r: i32,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: Option<c_int>,
) -> Result<c_int, Errno> {
    let n = match flags {
        None => rump::rump_sys_accept(k, r, addr.cast(), len.cast()),
        Some(f) => rump::rump_sys_accept4(k, r, addr.cast(), len.cast(), f),
    }?;
    show(k, n, flags.unwrap_or(0) & libc::SOCK_CLOEXEC != 0)
}

crate::hook! {
    Fd fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    {
        by_fd!(fd, |k, r| accept_rump(k, r, addr, len, None), unsafe { host!(fd, addr, len) })
    }

    Fd fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    {
        by_fd!(fd, |k, r| accept_rump(k, r, addr, len, Some(flags)), unsafe { host!(fd, addr, len, flags) })
    }
}

// ---- addresses, options, shutdown ----------------------------------------

crate::hook! {
    Fd fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_bind(k, r, addr.cast(), len as i32), unsafe { host!(fd, addr, len) })
    }

    Fd fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_connect(k, r, addr.cast(), len as i32), unsafe { host!(fd, addr, len) })
    }

    Fd fn listen(fd: c_int, backlog: c_int) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_listen(k, r, backlog), unsafe { host!(fd, backlog) })
    }

    Fd fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_getsockname(k, r, addr.cast(), len.cast()), unsafe { host!(fd, addr, len) })
    }

    Fd fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_getpeername(k, r, addr.cast(), len.cast()), unsafe { host!(fd, addr, len) })
    }

    Fd fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_setsockopt(k, r, level, name, val.cast(), len as i32), unsafe {
            host!(fd, level, name, val, len)
        })
    }

    Fd fn getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_getsockopt(k, r, level, name, val.cast(), len.cast()), unsafe {
            host!(fd, level, name, val, len)
        })
    }

    Fd fn shutdown(fd: c_int, how: c_int) -> c_int;
    {
        by_fd!(fd, |k, r| rump::rump_sys_shutdown(k, r, how), unsafe { host!(fd, how) })
    }
}

// ---- sending --------------------------------------------------------------

/// A send that failed with EPIPE raises SIGPIPE at the sending thread
/// first, unless the caller said MSG_NOSIGNAL (Linux's rule).
fn sigpipe<T>(flags: c_int, r: Result<T, Errno>) -> Result<T, Errno> {
    if flags & libc::MSG_NOSIGNAL == 0 && r.as_ref().is_err_and(|e| e.0 == libc::EPIPE) {
        // SAFETY: signalling our own thread.
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGPIPE) };
    }
    r
}

fn sendto_rump(
    k: &Backend,
    r: i32,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> Result<isize, Errno> {
    sigpipe(flags, rump::rump_sys_sendto(k, r, buf, n, flags as u32, addr.cast(), len as i32))
}

crate::hook! {
    Fd fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t;
    {
        by_fd!(fd, |k, r| sendto_rump(k, r, buf, n, flags, std::ptr::null(), 0), unsafe { host!(fd, buf, n, flags) })
    }

    Fd fn sendto(
        fd: c_int,
        buf: *const c_void,
        n: size_t,
        flags: c_int,
        addr: *const sockaddr,
        len: socklen_t,
    ) -> ssize_t;
    {
        by_fd!(fd, |k, r| sendto_rump(k, r, buf, n, flags, addr, len), unsafe { host!(fd, buf, n, flags, addr, len) })
    }
}

/// sendmsg on rump fd `r`. SCM_RIGHTS messages name the program's fds;
/// the kernel gets a copy of the header and control data naming its own.
fn sendmsg_rump(k: &Backend, r: i32, msg: *const msghdr, flags: c_int) -> Result<isize, Errno> {
    let sent = match rights_to_kernel(msg)? {
        None => rump::rump_sys_sendmsg(k, r, msg.cast_mut().cast(), flags as u32),
        Some((mut hdr, mut control)) => {
            hdr.msg_control = control.as_mut_ptr().cast();
            rump::rump_sys_sendmsg(k, r, (&mut hdr as *mut msghdr).cast(), flags as u32)
        }
    };
    sigpipe(flags, sent)
}

crate::hook! {
    Fd fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
    {
        by_fd!(fd, |k, r| sendmsg_rump(k, r, msg, flags), unsafe { host!(fd, msg, flags) })
    }
}

/// Linux's sendmmsg: messages go one by one until one fails; the count
/// sent is the result, and an error only when the first one fails.
fn sendmmsg_rump(k: &Backend, r: i32, vec: *mut mmsghdr, vlen: c_uint, flags: c_int) -> Result<c_int, Errno> {
    let mut done = 0;
    for i in 0..vlen.min(MAX_MMSG) as usize {
        let entry = vec.wrapping_add(i);
        let step = sendmsg_rump(k, r, entry.cast(), flags).and_then(|n| put_msg_len(entry, n));
        match step {
            Ok(()) => done += 1,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

crate::hook! {
    Fd fn sendmmsg(fd: c_int, vec: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int;
    {
        by_fd!(fd, |k, r| sendmmsg_rump(k, r, vec, vlen, flags), unsafe { host!(fd, vec, vlen, flags) })
    }
}

// ---- receiving ------------------------------------------------------------

fn recvfrom_rump(
    k: &Backend,
    r: i32,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> Result<isize, Errno> {
    rump::rump_sys_recvfrom(k, r, buf, n, flags as u32, addr.cast(), len.cast())
}

crate::hook! {
    Fd fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t;
    {
        by_fd!(fd, |k, r| recvfrom_rump(k, r, buf, n, flags, std::ptr::null_mut(), std::ptr::null_mut()), unsafe {
            host!(fd, buf, n, flags)
        })
    }

    Fd fn __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int) -> ssize_t;
    {
        if n > buflen {
            chk_fail();
        }
        by_fd!(fd, |k, r| recvfrom_rump(k, r, buf, n, flags, std::ptr::null_mut(), std::ptr::null_mut()), unsafe {
            host!(fd, buf, n, buflen, flags)
        })
    }

    Fd fn recvfrom(
        fd: c_int,
        buf: *mut c_void,
        n: size_t,
        flags: c_int,
        addr: *mut sockaddr,
        len: *mut socklen_t,
    ) -> ssize_t;
    {
        by_fd!(fd, |k, r| recvfrom_rump(k, r, buf, n, flags, addr, len), unsafe { host!(fd, buf, n, flags, addr, len) })
    }

    Fd fn __recvfrom_chk(
        fd: c_int,
        buf: *mut c_void,
        n: size_t,
        buflen: size_t,
        flags: c_int,
        addr: *mut sockaddr,
        len: *mut socklen_t,
    ) -> ssize_t;
    {
        if n > buflen {
            chk_fail();
        }
        by_fd!(fd, |k, r| recvfrom_rump(k, r, buf, n, flags, addr, len), unsafe {
            host!(fd, buf, n, buflen, flags, addr, len)
        })
    }
}

/// recvmsg on rump fd `r`; fds that arrive in SCM_RIGHTS messages are
/// kernel fds, shown to the program under placeholders.
fn recvmsg_rump(k: &Backend, r: i32, msg: *mut msghdr, flags: c_int) -> Result<isize, Errno> {
    let n = rump::rump_sys_recvmsg(k, r, msg.cast(), flags as u32)?;
    rights_from_kernel(k, msg, flags & libc::MSG_CMSG_CLOEXEC != 0)?;
    Ok(n)
}

crate::hook! {
    Fd fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
    {
        by_fd!(fd, |k, r| recvmsg_rump(k, r, msg, flags), unsafe { host!(fd, msg, flags) })
    }
}

/// Linux's recvmmsg: messages one by one; MSG_WAITFORONE makes every one
/// after the first non-blocking; the timeout is looked at after each
/// message (it never cuts a wait short, on Linux either) and what is left
/// of it is stored back. An error after some messages ends the batch
/// with their count; Linux would also keep that error on the socket for
/// the next call, which the kernel is not told about from here.
fn recvmmsg_rump(
    k: &Backend,
    r: i32,
    vec: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
    timeout: *mut timespec,
) -> Result<c_int, Errno> {
    let deadline = match timeout.is_null() {
        true => None,
        false => {
            let (sec, nsec) = (get(timeout.cast::<i64>())?, get(timeout.cast::<i64>().wrapping_add(1))?);
            if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
                return Err(Errno(libc::EINVAL));
            }
            Some(Instant::now() + Duration::new(sec as u64, nsec as u32))
        }
    };
    let mut left = Duration::ZERO;
    let waitforone = flags & libc::MSG_WAITFORONE != 0;
    let mut flags = flags & !libc::MSG_WAITFORONE;
    let mut done = 0;
    for i in 0..vlen.min(MAX_MMSG) as usize {
        let entry = vec.wrapping_add(i);
        let step = recvmsg_rump(k, r, entry.cast(), flags).and_then(|n| put_msg_len(entry, n));
        match step {
            Ok(()) => done += 1,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        if waitforone {
            flags |= libc::MSG_DONTWAIT;
        }
        if let Some(d) = deadline {
            left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
        }
        // Out-of-band data ends a batch.
        let got = get(entry.cast::<u8>().wrapping_add(offset_of!(msghdr, msg_flags)).cast::<i32>());
        if got.is_ok_and(|f| f & libc::MSG_OOB != 0) {
            break;
        }
    }
    if deadline.is_some() && done > 0 {
        put(timeout.cast::<i64>(), &[left.as_secs() as i64, left.subsec_nanos() as i64])?;
    }
    Ok(done)
}

crate::hook! {
    Fd fn recvmmsg(fd: c_int, vec: *mut mmsghdr, vlen: c_uint, flags: c_int, timeout: *mut timespec) -> c_int;
    {
        by_fd!(fd, |k, r| recvmmsg_rump(k, r, vec, vlen, flags, timeout), unsafe {
            host!(fd, vec, vlen, flags, timeout)
        })
    }
}

// ---- the caller's memory ---------------------------------------------------

/// A plain value at `addr` in the caller's memory; EFAULT if unreadable.
fn get<T: Pod>(addr: *const T) -> Result<T, Errno> {
    let mut v = T::default();
    SelfMemory.read(UserAddr(addr as u64), v.as_bytes_mut())?;
    Ok(v)
}

/// Stores plain values at `addr` in the caller's memory.
fn put<T: Pod>(addr: *mut T, v: &[T]) -> Result<(), Errno> {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.as_bytes().to_vec()).collect();
    SelfMemory.write(UserAddr(addr as u64), &bytes)
}

/// Stores a message's byte count in its `msg_len`.
fn put_msg_len(entry: *mut mmsghdr, n: isize) -> Result<(), Errno> {
    put(entry.cast::<u8>().wrapping_add(offset_of!(mmsghdr, msg_len)).cast::<c_uint>(), &[n as c_uint])
}

/// The caller's message header, copied.
fn header(msg: *const msghdr) -> Result<msghdr, Errno> {
    // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
    let mut hdr: msghdr = unsafe { std::mem::zeroed() };
    // SAFETY: a C struct of integers and pointers, viewed as its bytes.
    let bytes = unsafe { std::slice::from_raw_parts_mut((&mut hdr as *mut msghdr).cast::<u8>(), size_of::<msghdr>()) };
    SelfMemory.read(UserAddr(msg as u64), bytes)?;
    Ok(hdr)
}

/// The control data of `hdr`, copied (capped as Linux caps it).
fn control(hdr: &msghdr) -> Result<Vec<u8>, Errno> {
    let len = hdr.msg_controllen;
    if hdr.msg_control.is_null() || len == 0 {
        return Ok(Vec::new());
    }
    if len > MAX_CONTROL {
        return Err(Errno(libc::ENOBUFS));
    }
    let mut buf = vec![0u8; len];
    SelfMemory.read(UserAddr(hdr.msg_control as u64), &mut buf)?;
    Ok(buf)
}

// ---- fds in SCM_RIGHTS messages --------------------------------------------

/// The fd slots of every SCM_RIGHTS message in control data `c`, as byte
/// offsets (the walk of CMSG_FIRSTHDR/CMSG_NXTHDR).
fn rights_slots(c: &[u8]) -> Vec<usize> {
    const HDR: usize = size_of::<libc::cmsghdr>();
    let align = |n: usize| n.next_multiple_of(size_of::<usize>());
    let mut slots = Vec::new();
    let mut at = 0;
    while at + HDR <= c.len() {
        let h = &c[at..at + HDR];
        let len = u64::read_from(&h[offset_of!(libc::cmsghdr, cmsg_len)..]).unwrap_or(0) as usize;
        let level = i32::read_from(&h[offset_of!(libc::cmsghdr, cmsg_level)..]).unwrap_or(0);
        let ty = i32::read_from(&h[offset_of!(libc::cmsghdr, cmsg_type)..]).unwrap_or(0);
        if len < HDR || at + len > c.len() {
            break;
        }
        if level == libc::SOL_SOCKET && ty == libc::SCM_RIGHTS {
            slots.extend((at + HDR..at + len).step_by(4).filter(|s| s + 4 <= at + len));
        }
        at += align(len);
    }
    slots
}

fn slot(c: &[u8], at: usize) -> i32 {
    i32::read_from(&c[at..]).unwrap_or(-1)
}

/// For a message carrying fds: a copy of its header and control data with
/// the kernel's fd numbers in place of the program's. A host fd cannot
/// travel into the rump kernel: EBADF, as for a number not open there.
fn rights_to_kernel(msg: *const msghdr) -> Result<Option<(msghdr, Vec<u8>)>, Errno> {
    let hdr = header(msg)?;
    let mut c = control(&hdr)?;
    let slots = rights_slots(&c);
    if slots.is_empty() {
        return Ok(None);
    }
    for at in slots {
        let r = fdmap::rump_fd(slot(&c, at)).ok_or(Errno(libc::EBADF))?;
        c[at..at + 4].copy_from_slice(&r.to_ne_bytes());
    }
    Ok(Some((hdr, c)))
}

/// After a receive into `msg`: fds that came in SCM_RIGHTS messages are
/// kernel fds; each is shown under a placeholder and its number replaced.
/// One that cannot be shown is closed and left as -1 (the message is
/// already consumed).
fn rights_from_kernel(k: &Backend, msg: *mut msghdr, cloexec: bool) -> Result<(), Errno> {
    let hdr = header(msg)?;
    let mut c = control(&hdr)?;
    let slots = rights_slots(&c);
    if slots.is_empty() {
        return Ok(());
    }
    for at in slots {
        let shown = show(k, slot(&c, at), cloexec).unwrap_or(-1);
        c[at..at + 4].copy_from_slice(&shown.to_ne_bytes());
    }
    SelfMemory.write(UserAddr(hdr.msg_control as u64), &c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
        let len = size_of::<libc::cmsghdr>() + data.len();
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(data);
        v.resize(len.next_multiple_of(8), 0);
        v
    }

    #[test]
    fn rights_slots_walk_every_message() {
        let fds: Vec<u8> = [5i32, 6, 7].iter().flat_map(|f| f.to_ne_bytes()).collect();
        let mut c = cmsg(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &[0; 12]);
        let first = c.len() + 16;
        c.extend(cmsg(libc::SOL_SOCKET, libc::SCM_RIGHTS, &fds));
        let slots = rights_slots(&c);
        assert_eq!(slots, vec![first, first + 4, first + 8]);
        assert_eq!(slots.iter().map(|&s| slot(&c, s)).collect::<Vec<_>>(), vec![5, 6, 7]);
        // A truncated header ends the walk.
        assert!(rights_slots(&c[..20]).is_empty());
        assert!(rights_slots(&cmsg(libc::IPPROTO_IP, libc::SCM_RIGHTS, &fds)).is_empty());
    }
}
