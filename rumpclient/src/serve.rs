//! The server's half of one call: run it as the client's kernel process
//! and build the reply. The caller's memory is what the request shipped
//! (`MarshaledCall`), with the client's own memory behind it for anything
//! else (`CallMemory`), reached through a `RemoteMemory` that asks the
//! client with COPYIN/COPYINSTR/COPYOUT and checks every answer.

use crate::marshal::{MarshaledCall, SEG_IN, SEG_OUT};
use crate::wire::copy::CopyRepr;
use crate::wire::header::MsgType;
use crate::wire::syscall::{SyscallPacket, SyscallRepr, SyscallRespPacket, SyscallRespRepr};
use crate::wire::WireError;
use rump_abi::native::errno::{EFAULT, ENAMETOOLONG};
use rump_abi::usermem::{in_user_range, total_len, uninit_len, UserMemory};
use rump_abi::{Errno, UserAddr};
use rump_kernel::lwp::Lwp;
use rump_kernel::Process;
use std::mem::MaybeUninit;

/// Asks the client for bytes of its memory: one request, one reply.
pub trait CopyChannel {
    /// Sends a copy request of `kind` and returns the reply body; any
    /// failure (a dead connection, no answer in time) is EFAULT.
    fn ask(&self, kind: MsgType, req: &CopyRepr<'_>) -> Result<Vec<u8>, Errno>;
}

/// The client's memory, reached through its connection. An address that
/// cannot be user memory is EFAULT without asking.
pub struct RemoteMemory<'a>(pub &'a dyn CopyChannel);

impl RemoteMemory<'_> {
    fn ask(&self, kind: MsgType, req: &CopyRepr<'_>) -> Result<Vec<u8>, Errno> {
        if !in_user_range(UserAddr(req.addr), req.len.max(1)) {
            return Err(EFAULT);
        }
        self.0.ask(kind, req)
    }
}

impl UserMemory for RemoteMemory<'_> {
    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        if buf.is_empty() {
            return Ok(());
        }
        let got = self.ask(MsgType::Copyin, &CopyRepr { addr: addr.0, len: buf.len(), data: &[] })?;
        if got.len() != buf.len() {
            return Err(EFAULT);
        }
        buf.copy_from_slice(&got);
        Ok(())
    }

    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        if data.is_empty() {
            return Ok(());
        }
        let got = self.ask(MsgType::Copyout, &CopyRepr { addr: addr.0, len: data.len(), data })?;
        match <[u8; 4]>::try_from(&got[..]) {
            Ok(e) if i32::from_ne_bytes(e) == 0 => Ok(()),
            _ => Err(EFAULT),
        }
    }

    fn copy_in_str(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        let mut got = self.ask(MsgType::Copyinstr, &CopyRepr { addr: addr.0, len: max, data: &[] })?;
        match got.iter().position(|&b| b == 0) {
            Some(nul) if nul + 1 == got.len() && got.len() <= max => {
                got.pop();
                Ok(got)
            }
            None if got.len() == max => Err(ENAMETOOLONG),
            _ => Err(EFAULT),
        }
    }
}

/// A call's memory: the shipped segments first, the client's memory for
/// every access they do not cover.
pub struct CallMemory<'a> {
    pub call: &'a MarshaledCall,
    pub remote: &'a dyn UserMemory,
}

impl CallMemory<'_> {
    fn pick(&self, addr: UserAddr, len: usize, dir: u8) -> &dyn UserMemory {
        if self.call.ships(addr, len.max(1), dir) {
            self.call
        } else {
            self.remote
        }
    }
}

impl UserMemory for CallMemory<'_> {
    fn copy_in(&self, addr: UserAddr, buf: &mut [u8]) -> Result<(), Errno> {
        self.pick(addr, buf.len(), SEG_IN).copy_in(addr, buf)
    }

    fn copy_out(&self, addr: UserAddr, data: &[u8]) -> Result<(), Errno> {
        self.pick(addr, data.len(), SEG_OUT).copy_out(addr, data)
    }

    fn copy_in_str(&self, addr: UserAddr, max: usize) -> Result<Vec<u8>, Errno> {
        self.pick(addr, 1, SEG_IN).copy_in_str(addr, max)
    }

    fn with_out(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&mut [u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        self.pick(addr, len, SEG_OUT).with_out(addr, len, f)
    }

    fn with_in(
        &self,
        addr: UserAddr,
        len: usize,
        f: &mut dyn FnMut(&[u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        self.pick(addr, len, SEG_IN).with_in(addr, len, f)
    }

    fn copy_out_pieces(&self, addr: UserAddr, pieces: &[&[u8]]) -> Result<(), Errno> {
        self.pick(addr, total_len(pieces), SEG_OUT).copy_out_pieces(addr, pieces)
    }

    fn copy_in_pieces(&self, addr: UserAddr, pieces: &mut [&mut [MaybeUninit<u8>]]) -> Result<(), Errno> {
        self.pick(addr, uninit_len(pieces), SEG_IN).copy_in_pieces(addr, pieces)
    }
}

/// Runs one marshaled call (`sysnum` from the frame header, `payload` the
/// frame body) as `proc` and returns the reply body. A malformed request is
/// an error for the connection; a failing call is a normal reply.
pub fn run_marshaled(
    proc: &Process,
    lwp: &Lwp,
    sysnum: u32,
    payload: &[u8],
    remote: &dyn UserMemory,
) -> Result<Vec<u8>, WireError> {
    let mut call = MarshaledCall::parse(payload)?;
    let result = proc.syscall_lwp(sysnum, &call.slots, &CallMemory { call: &call, remote }, lwp);
    Ok(call.reply_bytes(&result))
}

/// Runs one of NetBSD's plain SYSCALL requests: every pointer argument is
/// reached through the client's memory.
pub fn run_plain(
    proc: &Process,
    lwp: &Lwp,
    sysnum: u32,
    payload: &[u8],
    remote: &dyn UserMemory,
) -> Result<Vec<u8>, WireError> {
    let args = SyscallRepr::parse(&SyscallPacket::new_checked(payload)?)?;
    let result = proc.syscall_lwp(sysnum, &args.slots, remote, lwp);
    let resp = SyscallRespRepr::from_result(&result);
    let mut buf = vec![0u8; resp.buffer_len()];
    resp.emit(&mut SyscallRespPacket::new_unchecked(&mut buf[..]));
    Ok(buf)
}
