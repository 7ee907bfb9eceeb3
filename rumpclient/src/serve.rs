//! The server's half of a marshaled call: run the request's call on a kernel
//! process, with the request's shipped buffers as the caller's memory, and
//! encode the reply. The socket loop around it comes later.

use crate::marshal::MarshaledCall;
use crate::wire::WireError;
use rump_kernel::Process;

/// Runs one marshaled call (`sysnum` from the frame header, `payload` the
/// frame body) as `proc` and returns the reply body. A malformed request is
/// an error for the connection; a failing call is a normal reply.
pub fn run_marshaled(proc: &Process, sysnum: u32, payload: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut call = MarshaledCall::parse(payload)?;
    let result = proc.syscall_with(sysnum, &call.slots, &call);
    Ok(call.reply_bytes(&result))
}
