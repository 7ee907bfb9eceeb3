//! Shared by the network tests: raw Linux calls on a kernel process and
//! the structs and sums they take.
#![allow(dead_code)]

use rump_abi::Syscall;
use rump_kernel::Process;

/// Linux call `num` with up to 8 argument slots; the errno on failure.
pub fn sc(p: &Process, num: i64, a: &[u64]) -> Result<i64, i32> {
    let mut s = [0u64; 8];
    s[..a.len()].copy_from_slice(a);
    p.syscall(num as u32, &s).map_err(|e| e.0)
}

pub fn sockaddr_in(a: [u8; 4], port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a) },
        sin_zero: [0; 8],
    }
}

/// The Internet checksum's sum (RFC 1071), before the final complement.
pub fn inet_sum(b: &[u8]) -> u16 {
    let mut s: u32 = b.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32).sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}
