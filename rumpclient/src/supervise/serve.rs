//! Running a caught call that is the kernel's, in the caller's kernel
//! process: its resolved arguments swapped in (paths lent at addresses the
//! caller does not use), dups onto placeholders, fds returned as new
//! placeholders, waits across both kernels (`wait`), getcwd behind the
//! prefix.

use super::target::{lowest_free, TargetMem};
use super::wait::{self, Caller, Waits, SET_WAITS};
use super::{Answer, Call, Resolved, Supervisor};
use rump_abi::linux::sys::raw_route;
use rump_abi::usermem::UserMemory;
use rump_abi::{Errno, Slots, UserAddr};
use rump_kernel::Process;
use std::sync::Mutex;

impl Supervisor {
    /// getcwd with the working directory in the kernel: the kernel's path
    /// shown behind the prefix.
    pub(super) fn getcwd(&self, c: &Call, process: &Process, mem: &TargetMem) -> Result<Answer, Errno> {
        let mut kpath = vec![0u8; libc::PATH_MAX as usize];
        let args = [kpath.as_mut_ptr() as u64, kpath.len() as u64, 0, 0, 0, 0, 0, 0];
        process.syscall_with(libc::SYS_getcwd as u32, &args, &crate::selfmem::SelfMemory)?;
        kpath.truncate(kpath.iter().position(|&b| b == 0).unwrap_or(0));
        let mut shown = self.prefix.as_bytes().to_vec();
        if kpath != b"/" {
            shown.extend_from_slice(&kpath);
        }
        shown.push(0);
        if shown.len() > c.args[1] as usize {
            return Err(Errno(libc::ERANGE));
        }
        mem.copy_out(UserAddr(c.args[0]), &shown)?;
        Ok(Answer::Value(shown.len() as i64))
    }

    /// Runs a call that names something of the kernel's.
    pub(super) fn serve(&self, c: &Call, r: Resolved) -> Answer {
        match self.serve_in_kernel(c, r) {
            Ok(a) => a,
            Err(e) => Answer::Error(e),
        }
    }

    /// The calls that wait across both kernels (`wait`), and the close of
    /// a host epoll fd with a companion; None for any other call.
    pub(super) fn serve_wait(
        &self,
        c: &Call,
        name: &str,
        r: &Resolved,
        process: &Process,
        waits: &Mutex<Waits>,
        mem: &TargetMem,
    ) -> Result<Option<Answer>, Errno> {
        let tgid = self.tgids.of(c.tid).ok_or(Errno(libc::ESRCH))?;
        let caller = Caller { tid: c.tid, tgid, args: c.args, process, waits, restore: &self.restore };
        let host_arg0 = r.fds[0].is_none();
        Ok(Some(match name {
            _ if SET_WAITS.contains(&c.nr) => wait::serve_set_wait(&caller, c.nr, mem)?,
            "epoll_ctl" if host_arg0 => {
                // A host fd into a host epoll is the host's (not caught here).
                let rfd = r.fds[2].ok_or(Errno(libc::EBADF))?;
                Answer::Value(wait::epoll_ctl(&caller, rfd, mem)?)
            }
            "epoll_wait" | "epoll_pwait" | "epoll_pwait2" if host_arg0 => wait::epoll_wait(&caller, c.nr, mem)?,
            "close" if host_arg0 => {
                waits.lock().map_err(|_| Errno(libc::EIO))?.close(process, c.args[0] as i32);
                Answer::Continue
            }
            _ => return Ok(None),
        }))
    }

    pub(super) fn serve_in_kernel(&self, c: &Call, mut r: Resolved) -> Result<Answer, Errno> {
        // select and pselect6 have no route: the kernel's table has poll.
        let route = raw_route(c.nr as u32);
        let t = self.traced_or_new(c.tid)?;
        let mut slots: Slots = [0; rump_abi::MAXARGS];
        let mut mem = TargetMem { tid: c.tid, overlay: Vec::new() };
        for (i, slot) in slots.iter_mut().enumerate().take(route.map_or(0, |r| r.args.len())) {
            *slot = match (r.fds[i], r.paths[i].take()) {
                (Some(fd), _) => fd as u64,
                (None, Some(p)) => mem.lend(p),
                (None, None) => c.args[i],
            };
        }
        let name = route.map_or("", |r| r.name);
        let (process, waits) = {
            let t = t.lock().map_err(|_| Errno(libc::EIO))?;
            (t.process.clone(), t.waits.clone())
        };
        if let Some(a) = self.serve_wait(c, name, &r, &process, &waits, &mem)? {
            return Ok(a);
        }
        if c.nr == libc::SYS_getcwd {
            return self.getcwd(c, &process, &mem);
        }
        if route.is_none() {
            return Err(Errno(libc::ENOSYS));
        }
        // What a dup onto a number replaces, if it is a rump fd.
        let replaced = if matches!(name, "dup2" | "dup3") { r.fds[1] } else { None };
        if matches!(name, "dup2" | "dup3") && r.fds[0].is_none() {
            // A host fd onto a placeholder: the kernel's fd closes, the
            // host's dup2 replaces the placeholder.
            if let Some(old) = replaced {
                let _ = process.syscall_with(libc::SYS_close as u32, &[old as u64, 0, 0, 0, 0, 0, 0, 0], &mem);
            }
            return Ok(Answer::Continue);
        }
        // The kernel's view of a dup onto a number: a dup of its own.
        let (nr, target) = match name {
            "dup2" | "dup3" => (libc::SYS_dup as u32, Some(c.args[1] as i32)),
            // F_DUPFD's floor: the lowest number at or above it free in the caller.
            "fcntl" if matches!(c.args[1] as i32, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) => {
                (libc::SYS_dup as u32, Some(lowest_free(c.tid, c.args[2] as i32)))
            }
            _ => (c.nr as u32, None),
        };
        if name == "dup2" && c.args[0] == c.args[1] {
            return Ok(Answer::Value(c.args[1] as i64));
        }
        let v = self.blocking.run(self, c, |lwp| process.syscall_lwp(nr, &slots, &mem, lwp))?;
        let cloexec = match name {
            "open" => c.args[1] as i32 & libc::O_CLOEXEC != 0,
            "openat" => c.args[2] as i32 & libc::O_CLOEXEC != 0,
            "socket" => c.args[1] as i32 & libc::SOCK_CLOEXEC != 0,
            "accept4" => c.args[3] as i32 & libc::SOCK_CLOEXEC != 0,
            "dup3" => c.args[2] as i32 & libc::O_CLOEXEC != 0,
            "fcntl" => c.args[1] as i32 == libc::F_DUPFD_CLOEXEC,
            _ => false,
        };
        let returns_fd =
            matches!(name, "open" | "openat" | "creat" | "socket" | "accept" | "accept4" | "dup" | "dup2" | "dup3")
                || (name == "fcntl" && matches!(c.args[1] as i32, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC));
        Ok(match name {
            _ if returns_fd => {
                if let Some(old) = replaced {
                    let _ = process.syscall_with(libc::SYS_close as u32, &[old as u64, 0, 0, 0, 0, 0, 0, 0], &mem);
                }
                Answer::NewFd { rfd: v as i32, at: target, cloexec }
            }
            // The placeholder goes with the host's close.
            "close" => Answer::Continue,
            "chdir" | "fchdir" => {
                t.lock().map_err(|_| Errno(libc::EIO))?.cwd_in_kernel = true;
                Answer::Value(v)
            }
            _ => Answer::Value(v),
        })
    }
}
