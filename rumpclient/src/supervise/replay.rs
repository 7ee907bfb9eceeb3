//! What a caller gets when it makes a call again after a signal cut its
//! wait short (`blocking`): if the supervisor had already served the
//! call, its answer, kept, rather than the call served twice (a write
//! written twice, an accepted connection lost). A kept answer goes to
//! the thread's next call with the same number and arguments: the host's
//! restart (`SA_RESTART`, or a signal without a handler) re-makes the call
//! exactly so, as does a program retrying after EINTR. A call with the
//! same number on the same first argument but other arguments means the
//! program went on: the kept answer is dropped (a kept fd closed).
//!
//! Also kept here: bytes to write back into a thread's memory at its
//! next call, where a wait handed to the host had its sets emptied
//! (`wait`).

use super::target::TargetMem;
use super::{Answer, Call, Supervisor};
use rump_abi::usermem::UserMemory;
use rump_abi::UserAddr;
use std::collections::HashMap;
use std::sync::Mutex;

/// A served call whose answer went nowhere.
struct Kept {
    tgid: i32,
    nr: i64,
    args: [u64; 6],
    answer: Answer,
}

/// Kept answers and pending write-backs, by thread.
#[derive(Default)]
pub(super) struct Replay {
    kept: Mutex<HashMap<i32, Kept>>,
    restore: Mutex<HashMap<i32, Vec<(u64, Vec<u8>)>>>,
}

impl Replay {
    /// Keeps `a`, the answer to `c` that its caller did not take.
    pub(super) fn keep(&self, sup: &Supervisor, c: &Call, a: Answer) {
        if matches!(a, Answer::Continue) {
            return;
        }
        let Some(tgid) = sup.tgids.of(c.tid) else { return };
        let old = self.kept.lock().ok().and_then(|mut m| m.insert(c.tid, Kept { tgid, nr: c.nr, args: c.args, answer: a }));
        if let Some(old) = old {
            drop_kept(sup, c.tid, old);
        }
    }

    /// The kept answer for `c`, if `c` makes its call again; drops one
    /// that `c` shows the program has gone on from.
    pub(super) fn take(&self, sup: &Supervisor, c: &Call) -> Option<Answer> {
        let mut m = self.kept.lock().ok()?;
        let k = m.get(&c.tid)?;
        if k.nr == c.nr && k.args == c.args {
            return m.remove(&c.tid).map(|k| k.answer);
        }
        if k.nr == c.nr && k.args[0] == c.args[0] {
            let k = m.remove(&c.tid)?;
            drop(m);
            drop_kept(sup, c.tid, k);
        }
        None
    }

    /// Writes `bytes` at their addresses in thread `tid` at its next call.
    pub(super) fn restore_later(&self, tid: i32, bytes: Vec<(u64, Vec<u8>)>) {
        if let Ok(mut m) = self.restore.lock() {
            m.entry(tid).or_default().extend(bytes);
        }
    }

    /// The write-backs due for `tid`, done (it is stopped in a call).
    pub(super) fn restore(&self, tid: i32) {
        let Some(bytes) = self.restore.lock().ok().and_then(|mut m| m.remove(&tid)) else { return };
        let mem = TargetMem { tid, overlay: Vec::new() };
        for (addr, b) in bytes {
            let _ = mem.copy_out(UserAddr(addr), &b);
        }
    }

    /// Forgets what was kept for the threads of process `tgid`, gone.
    pub(super) fn forget(&self, tgid: i32) {
        if let Ok(mut m) = self.kept.lock() {
            m.retain(|_, k| k.tgid != tgid);
        }
    }
}

/// A kept answer nobody will take: the kernel fd it carried is closed.
fn drop_kept(sup: &Supervisor, tid: i32, k: Kept) {
    if let Answer::NewFd { rfd, .. } = k.answer {
        if let Ok(t) = sup.traced_or_new(tid) {
            if let Ok(t) = t.lock() {
                let _ = t.process.syscall_with(libc::SYS_close as u32, &[rfd as u64, 0, 0, 0, 0, 0, 0, 0], &crate::selfmem::SelfMemory);
            }
        }
    }
}
