//! Bytes to write back into a thread's memory at its next call: a wait
//! handed to the host had its sets emptied first (`wait`), and the
//! program gets them back before it can look at them in a caught call.

use super::target::TargetMem;
use rump_abi::usermem::UserMemory;
use rump_abi::UserAddr;
use std::collections::HashMap;
use std::sync::Mutex;

/// Bytes to write at an address of a thread's.
pub(super) type WriteBack = (u64, Vec<u8>);

/// Pending write-backs, by thread.
#[derive(Default)]
pub(super) struct Restore(Mutex<HashMap<i32, Vec<WriteBack>>>);

impl Restore {
    /// Writes `bytes` at their addresses in thread `tid` at its next call.
    pub(super) fn later(&self, tid: i32, bytes: Vec<WriteBack>) {
        if let Ok(mut m) = self.0.lock() {
            m.entry(tid).or_default().extend(bytes);
        }
    }

    /// The write-backs due for `tid`, done (it is stopped in a call).
    pub(super) fn now(&self, tid: i32) {
        let Some(bytes) = self.0.lock().ok().and_then(|mut m| m.remove(&tid)) else { return };
        let mem = TargetMem { tid, overlay: Vec::new() };
        for (addr, b) in bytes {
            let _ = mem.copy_out(UserAddr(addr), &b);
        }
    }
}
