//! The rump kernel: a userspace kernel that processes call into, in-process
//! or through a server.
//!
//! One kernel is one `Kernel` value; several may live in a process. All
//! kernel state sits behind one lock, the virtual CPU (as in rump's
//! uniprocessor mode): code inside uses plain data, and a call that must
//! wait sleeps on a wait channel that releases the lock.
//!
//! Calls arrive through a `Process`, either as raw slots in the process's
//! emulation (`syscall`) or as typed `rump_sys_*` calls from `rump_abi`.

pub mod compat;
pub mod cred;
pub mod event;
pub mod file;
pub mod fs;
pub mod idmap;
pub mod lock;
pub mod lwp;
pub mod mem;
pub mod net;
pub mod ownfd;
pub mod pipe;
pub mod proc;
pub mod shm;
pub mod slab;
pub mod syscalls;
pub mod sysctl;
pub mod time;
pub mod vfs;
pub mod watchdog;
pub mod wchan;

/// The caller-memory layer lives in the ABI crate, shared with the wire.
pub use rump_abi::usermem;

use cred::Cred;
use event::{Flavor, Hint, Source, Wake};
use file::{FileId, FileKind, OpenFile};
use lwp::Lwp;
use parking_lot::{Condvar, Mutex, MutexGuard};
use pipe::Pipe;
use proc::{Emulation, FdTable, Pid, Proc};
use rump_abi::native::errno::{EBADF, EINTR, ESRCH};
use rump_abi::native::flags::{NOTE_CLOSE, NOTE_CLOSE_WRITE, O_PATH};
use rump_abi::{Errno, Slots, SysResult, Syscall};
use slab::Slab;
use std::sync::Arc;
use std::time::Instant;
use time::{Clock, HostClock};
use usermem::{LocalMemory, UserMemory};
use vfs::mount::{MountTable, Vnode};
use wchan::{WaitChannel, Woke};

/// How to boot a kernel.
#[derive(Clone)]
pub struct Config {
    pub hostname: String,
    /// Virtual CPUs reported by `hw.ncpu`.
    pub ncpu: u32,
    /// The kernel's memory budget in bytes (rump_server `-r`): see `mem`.
    pub ram_limit: Option<u64>,
    /// Highest fd number + 1 a process may use (RLIMIT_NOFILE).
    pub max_fds: usize,
    pub clock: Arc<dyn Clock>,
    /// Host directories to mount at boot (rump_server `-m`), in order;
    /// see `fs::hostfs`.
    pub hostfs: Vec<fs::hostfs::HostfsSpec>,
    /// The thread that reads the kernel's shmif buses, shared with the
    /// kernels booted with a clone of it.
    pub bus_thread: net::softnet::BusThread,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hostname: "rump".into(),
            ncpu: 1,
            ram_limit: None,
            max_fds: 1024,
            clock: Arc::new(HostClock),
            hostfs: Vec::new(),
            bus_thread: Default::default(),
        }
    }
}

/// Everything the virtual-CPU lock protects.
pub struct State {
    pub mounts: MountTable,
    pub files: Slab<OpenFile>,
    pub pipes: Slab<Pipe>,
    /// Named pipes with an open end: their vnode → the pipe behind them.
    pub fifos: idmap::IdMap<Vnode, pipe::PipeId>,
    pub procs: idmap::IdMap<Pid, Proc>,
    next_pid: Pid,
    pub hostname: Vec<u8>,
    pub halted: bool,
    /// Run once when the kernel halts (`Kernel::on_halt`).
    on_halt: Vec<Box<dyn FnOnce() + Send>>,
    /// kqueue and epoll registrations and their queues.
    pub events: event::Events,
    /// Record, OFD and flock locks.
    pub locks: lock::Locks,
    /// The memory budget every kernel object is charged to.
    pub mem: Arc<mem::Mem>,
    /// The network stack.
    pub net: net::Net,
    /// The /proc mount's view of the kernel (`fs::procfs`).
    pub procfs: fs::procfs::ProcLink,
    /// Woken whenever a process exits (`Cx::wait_child_gone`).
    pub exits: Arc<WaitChannel>,
    /// Bumped whenever an fd leaves any process's table (`Lwp::dropped_fds`).
    fd_drops: u64,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    /// Signalled when the kernel halts (reboot).
    halt_chan: Condvar,
    /// Wakes the network timer thread when work needs it sooner.
    pub(crate) net_timer: Arc<net::softnet::TimerWake>,
    pub(crate) config: Config,
    /// Who holds `state` for a call now, for the watchdog.
    holder: watchdog::Holder,
}

impl Drop for Shared {
    /// The timer thread, asleep holding the kernel weakly, ends.
    fn drop(&mut self) {
        self.net_timer.kick();
    }
}

/// A booted kernel. Cloning gives another handle to the same kernel.
#[derive(Clone)]
pub struct Kernel {
    shared: Arc<Shared>,
}

impl Kernel {
    /// Boots a kernel: tmpfs as `/`, devfs on `/dev`, procfs on `/proc`,
    /// then the host directories of `config.hostfs` (the first that fails
    /// to mount fails the boot; `Kernel::mount_hostfs` tells them apart).
    pub fn boot(config: Config) -> Result<Kernel, Errno> {
        let clock = config.clock.clone();
        let mut mounts = MountTable::default();
        let mem = mem::Mem::new(config.ram_limit);
        let root_fs = fs::tmpfs::Tmpfs::new(clock.clone(), 0o755, 0, 0, mem.clone());
        let root = mounts.add(Box::new(root_fs), None, b"/".to_vec());
        let root_vn = mounts.root(root);
        let dev = vfs::NewNode { vtype: vfs::VType::Dir, mode: 0o755, uid: 0, gid: 0, rdev: 0, target: Vec::new() };
        let dev_node = mounts.fs(root).create(root_vn.node, b"dev", &dev)?;
        let devfs = Box::new(fs::devfs::Devfs::new(clock.clone()));
        mounts.add(devfs, Some(Vnode { mnt: root, node: dev_node }), b"/dev".to_vec());
        let proc_node = mounts.fs(root).create(root_vn.node, b"proc", &dev)?;
        let procfs = fs::procfs::Procfs::mount(&mut mounts, Vnode { mnt: root, node: proc_node }, clock);
        let mut state = State {
            mounts,
            files: Slab::default(),
            pipes: Slab::default(),
            fifos: idmap::IdMap::default(),
            procs: idmap::IdMap::default(),
            next_pid: 1,
            hostname: config.hostname.clone().into_bytes(),
            halted: false,
            on_halt: Vec::new(),
            events: event::Events::default(),
            locks: lock::Locks::default(),
            mem,
            net: net::Net::new(config.clock.clone()),
            procfs,
            exits: Arc::new(WaitChannel::new()),
            fd_drops: 0,
        };
        for spec in &config.hostfs {
            let fs = fs::hostfs::Hostfs::open(&spec.hostdir, spec.readonly)?;
            state.mount_hostfs(&spec.path, fs)?;
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            halt_chan: Condvar::new(),
            net_timer: Arc::default(),
            config,
            holder: watchdog::Holder::default(),
        });
        net::softnet::start_timer(Arc::downgrade(&shared), shared.net_timer.clone());
        Ok(Kernel { shared })
    }

    /// A new process with an empty fd table, `/` as cwd and root; ENOMEM
    /// past the memory budget.
    pub fn spawn(&self, emul: Emulation, cred: Cred, comm: &str) -> Result<Process, Errno> {
        let mut st = self.shared.state.lock();
        st.mem.charge(mem::PROC_BYTES)?;
        let root = st.mounts.system_root();
        st.vref(root);
        st.vref(root);
        let pid = st.alloc_pid();
        let p = Proc {
            pid,
            host_pid: pid,
            ppid: 0,
            emul,
            comm: comm.into(),
            cred,
            umask: 0o022,
            cwd: root,
            root,
            fds: FdTable::default(),
        };
        st.procs.insert(pid, p);
        Ok(Process { shared: self.shared.clone(), pid, emul })
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    pub fn is_halted(&self) -> bool {
        self.shared.state.lock().halted
    }

    /// Blocks until a process halts the kernel with reboot(2).
    pub fn wait_halt(&self) {
        let mut st = self.shared.state.lock();
        while !st.halted {
            self.shared.halt_chan.wait(&mut st);
        }
    }

    /// Halts the kernel from outside (rump_server on SIGTERM), as reboot(2)
    /// does from inside.
    pub fn halt(&self) {
        self.shared.state.lock().halt(&self.shared);
    }

    /// Runs `f` when the kernel halts (at once if it has): how a server
    /// waiting for other things too (signals, connections) learns of a
    /// reboot without a thread blocked in `wait_halt`. `f` runs with the
    /// kernel locked, so it must only signal.
    pub fn on_halt(&self, f: impl FnOnce() + Send + 'static) {
        let mut st = self.shared.state.lock();
        match st.halted {
            true => f(),
            false => st.on_halt.push(Box::new(f)),
        }
    }

    /// Interrupts the call running as `lwp`: if it sleeps, or when it next
    /// would, it returns EINTR. Taking the virtual CPU orders this against
    /// the call's own check before sleeping, so no wake-up is lost.
    pub fn cancel(&self, lwp: &Lwp) {
        let _cpu = self.shared.state.lock();
        lwp.mark_cancelled();
    }

    /// How many times calls have taken the virtual CPU (a call that slept
    /// counts again as it wakes).
    #[inline]
    pub fn calls(&self) -> u64 {
        self.shared.holder.entries()
    }

    /// Whether the kernel is at rest: no call has taken the virtual CPU
    /// for a while (its watchdog has ended, or never started).
    #[inline]
    pub fn at_rest(&self) -> bool {
        self.shared.holder.at_rest()
    }

    /// How many calls the watchdog has seen hold the kernel lock for over
    /// `watchdog::PERIOD` (each also logged with its pid and syscall).
    pub fn long_holds(&self) -> u64 {
        self.shared.holder.long_holds()
    }

    /// Runs `f` with the kernel state locked (for tests and tools that
    /// inspect the kernel without a process).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.shared.state.lock())
    }
}

/// A process's handle on its kernel: every call goes through one.
/// Dropping it is the process exiting: its fds close.
pub struct Process {
    shared: Arc<Shared>,
    pid: Pid,
    emul: Emulation,
}

impl Process {
    pub fn pid(&self) -> Pid {
        self.pid
    }

    pub fn emulation(&self) -> Emulation {
        self.emul
    }

    pub fn kernel(&self) -> Kernel {
        Kernel { shared: self.shared.clone() }
    }

    /// Makes a call in this process's emulation, with `mem` as the caller's
    /// memory.
    pub fn syscall_with(&self, num: u32, args: &Slots, mem: &dyn UserMemory) -> SysResult {
        self.syscall_lwp(num, args, mem, &Lwp::new())
    }

    /// As `syscall_with`, running as `lwp` so that another thread can
    /// cancel the call (`Kernel::cancel`) and learn when it blocks.
    pub fn syscall_lwp(&self, num: u32, args: &Slots, mem: &dyn UserMemory, lwp: &Lwp) -> SysResult {
        let _sends = net::softnet::CallSends::begin();
        wchan::deferring(|| {
            let mut cx = Cx { st: self.shared.state.lock(), pid: self.pid, mem, lwp, shared: &self.shared };
            let holder = &self.shared.holder;
            holder.enter(self.pid, num);
            watchdog::ensure(&self.shared);
            let drops = cx.st.fd_drops;
            let r = match self.emul {
                Emulation::Native => syscalls::dispatch(&mut cx, num, args),
                Emulation::Linux => compat::linux::dispatch(&mut cx, num, args),
            };
            cx.st.apply_proc_writes();
            if cx.st.fd_drops != drops {
                lwp.mark_dropped_fds();
            }
            holder.leave();
            r
        })
    }

    /// A child process sharing this one's open files (fork).
    pub fn fork(&self) -> Result<Process, Errno> {
        let mut st = self.shared.state.lock();
        let parent = st.procs.get(&self.pid).ok_or(ESRCH)?;
        let (mut fds, cwd, root) = (parent.fds.clone(), parent.cwd, parent.root);
        // A kqueue stays with its process, as on NetBSD.
        let kqueues: Vec<i32> = fds.iter().filter(|(_, s)| st.is_kqueue(s.file)).map(|(fd, _)| fd).collect();
        for fd in kqueues {
            fds.take(fd);
        }
        let (emul, comm, cred, umask) = (parent.emul, parent.comm.clone(), parent.cred.clone(), parent.umask);
        st.mem.charge(mem::PROC_BYTES)?;
        for (_, slot) in fds.iter() {
            st.file_ref(slot.file);
        }
        st.vref(cwd);
        st.vref(root);
        let pid = st.alloc_pid();
        let child = Proc { pid, host_pid: pid, ppid: self.pid, emul, comm, cred, umask, cwd, root, fds };
        st.procs.insert(pid, child);
        Ok(Process { shared: self.shared.clone(), pid, emul })
    }

    /// Records the pid the host knows this process by (its own pid in
    /// process, the peer's for a server's client), which F_GETLK reports.
    pub fn set_host_pid(&self, host_pid: Pid) {
        if let Some(p) = self.shared.state.lock().procs.get_mut(&self.pid) {
            p.host_pid = host_pid;
        }
    }

    /// A host fd through which this process maps its fd `fd` (mmap) as
    /// `kind` says, sharing the file's memory with the kernel; read-write
    /// if the open file is, else read-only; `None` for a private mapping
    /// the caller fills itself. Errors in this process's emulation. See
    /// `State::mappable_fd`.
    pub fn mappable_fd(&self, fd: i32, kind: vfs::mapping::MapKind) -> Result<Option<std::os::fd::OwnedFd>, Errno> {
        let r = self.shared.state.lock().mappable_fd(self.pid, fd, kind);
        r.map_err(|e| match self.emul {
            Emulation::Native => e,
            Emulation::Linux => rump_abi::errno::native_to_linux(e),
        })
    }

    /// The process image changes (execve): close-on-exec fds close.
    pub fn exec(&self, comm: &str) -> Result<(), Errno> {
        let mut st = self.shared.state.lock();
        let p = st.procs.get_mut(&self.pid).ok_or(ESRCH)?;
        p.comm = comm.into();
        let doomed: Vec<i32> = p.fds.iter().filter(|(_, s)| s.cloexec).map(|(fd, _)| fd).collect();
        for fd in doomed {
            st.close_fd(self.pid, fd)?;
        }
        Ok(())
    }
}

impl Syscall for Process {
    fn syscall(&self, num: u32, args: &Slots) -> SysResult {
        self.syscall_with(num, args, &LocalMemory)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let mut st = self.shared.state.lock();
        st.exit(self.pid);
    }
}

/// How a poll-like wait ended (`Cx::wait_ready`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    /// Something may have changed: look again.
    Woken,
    TimedOut,
    /// The caller's notifier is armed; the call returns as if timed out.
    Armed,
}

/// The context of one call: the locked kernel, the calling process and its
/// memory. Handlers get `&mut Cx`.
pub struct Cx<'a> {
    pub st: MutexGuard<'a, State>,
    pub pid: Pid,
    pub mem: &'a dyn UserMemory,
    lwp: &'a Lwp,
    shared: &'a Arc<Shared>,
}

impl Cx<'_> {
    pub fn proc(&self) -> &Proc {
        // The Process handle that made this call keeps the entry alive.
        &self.st.procs[&self.pid]
    }

    pub fn proc_mut(&mut self) -> &mut Proc {
        self.st.procs.get_mut(&self.pid).expect("calling process exists")
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The kernel itself, for the threads a call starts (they hold it weakly).
    pub(crate) fn shared_arc(&self) -> &Arc<Shared> {
        self.shared
    }

    pub fn clock(&self) -> &dyn Clock {
        self.shared.config.clock.as_ref()
    }

    /// Sleeps on `chan`, releasing the virtual CPU until woken; EINTR if
    /// the call is cancelled before or while it sleeps, or if a host signal
    /// interrupts it (see `wchan`).
    pub fn sleep(&mut self, chan: &Arc<WaitChannel>) -> Result<(), Errno> {
        self.sleep_on(std::slice::from_ref(chan), None).map(drop)
    }

    /// As `sleep`, but gives up at `deadline`; true if it timed out.
    pub fn sleep_until(&mut self, chan: &Arc<WaitChannel>, deadline: Instant) -> Result<bool, Errno> {
        self.sleep_on(std::slice::from_ref(chan), Some(deadline))
    }

    /// For poll-like waits: sleeps as `sleep_until` does (None: no
    /// deadline), or, when the caller gave a notifier, arms it on `chan`
    /// and returns `Waited::Armed` at once.
    pub fn wait_ready(&mut self, chan: &Arc<WaitChannel>, deadline: Option<Instant>) -> Result<Waited, Errno> {
        self.wait_ready_any(std::slice::from_ref(chan), deadline)
    }

    /// As `wait_ready`, woken by any of `chans` (poll's set, each fd's own
    /// channels, so a change elsewhere in the kernel wakes nobody here).
    pub fn wait_ready_any(&mut self, chans: &[Arc<WaitChannel>], deadline: Option<Instant>) -> Result<Waited, Errno> {
        if let Some(n) = self.lwp.arming() {
            chans.iter().for_each(|c| c.arm(n));
            return Ok(Waited::Armed);
        }
        Ok(if self.sleep_on(chans, deadline)? { Waited::TimedOut } else { Waited::Woken })
    }

    /// For a poll-like wait on `chans` that a watching caller may watch
    /// (`Lwp::watching`): it is, and if it found something ready
    /// (`ready`), the notifier is armed on `chans` all the same.
    pub fn watch_ready_any(&mut self, chans: &[Arc<WaitChannel>], ready: bool) {
        let Some(n) = self.lwp.watching_notifier() else { return };
        self.lwp.mark_watched();
        if ready {
            chans.iter().for_each(|c| c.arm(n));
        }
    }

    /// Whether the caller watches the waits it returns from (`Lwp::watching`).
    pub fn watches(&self) -> bool {
        self.lwp.watching_notifier().is_some()
    }

    fn sleep_on(&mut self, chans: &[Arc<WaitChannel>], deadline: Option<Instant>) -> Result<bool, Errno> {
        if self.lwp.is_cancelled() {
            return Err(EINTR);
        }
        // A wait for nothing (poll of fds that never change) still sleeps,
        // on a channel of its own, until its deadline, a signal or a cancel.
        let nothing;
        let chans = if chans.is_empty() {
            nothing = [Arc::new(WaitChannel::new())];
            &nothing[..]
        } else {
            chans
        };
        let first = &chans[0];
        // A cancel wakes the first channel, where this thread waits too.
        self.lwp.will_block(first);
        let word = wchan::WaitChannel::thread_word();
        for c in chans {
            c.enqueue(&word);
        }
        let holder = &self.shared.holder;
        holder.leave();
        let woke = MutexGuard::unlocked(&mut self.st, || {
            wchan::flush();
            net::softnet::help();
            wchan::wait(&word, deadline)
        });
        holder.enter(self.pid, holder.syscall());
        watchdog::ensure(self.shared);
        for c in chans {
            c.dequeue(&word);
        }
        self.lwp.woke();
        if self.lwp.is_cancelled() || (woke == Woke::Interrupted && self.lwp.host_signals()) {
            return Err(EINTR);
        }
        Ok(woke == Woke::TimedOut)
    }

    /// Marks the kernel halted and wakes whoever waits for that.
    pub fn halt(&mut self) {
        self.st.halt(self.shared);
    }
}

impl State {
    /// Marks the kernel halted and tells whoever waits for that.
    fn halt(&mut self, shared: &Shared) {
        self.halted = true;
        shared.halt_chan.notify_all();
        shared.net_timer.kick();
        for f in std::mem::take(&mut self.on_halt) {
            f();
        }
    }

    fn alloc_pid(&mut self) -> Pid {
        let pid = self.next_pid;
        self.next_pid += 1;
        pid
    }

    /// Takes a reference on a vnode for as long as a file or cwd holds it.
    /// A /proc file's text is made here, as it is opened.
    pub fn vref(&mut self, vn: Vnode) {
        self.procfs.opened(vn, &self.net);
        self.mounts.fs(vn.mnt).hold(vn.node);
    }

    pub fn vrele(&mut self, vn: Vnode) {
        self.mounts.fs(vn.mnt).release(vn.node);
    }

    pub fn file_ref(&mut self, id: FileId) {
        if let Some(f) = self.files.get_mut(id) {
            f.refs += 1;
        }
    }

    /// Drops one fd's reference to an open file, closing it on the last.
    pub fn file_unref(&mut self, id: FileId) {
        let Some(f) = self.files.get_mut(id) else { return };
        f.refs -= 1;
        if f.refs > 0 {
            return;
        }
        let Some(f) = self.files.remove(id) else { return };
        self.mem.uncharge(mem::FILE_BYTES);
        self.file_released(id, f.kind);
        self.locks_file_released(id, f.kind);
        match f.kind {
            FileKind::Vnode(vn) => {
                if f.flags & O_PATH == 0 {
                    self.vnote_linked(vn, f.link.as_ref(), if f.writable() { NOTE_CLOSE_WRITE } else { NOTE_CLOSE });
                }
                self.vrele(vn);
            }
            FileKind::Pipe { id, fifo } => {
                self.pipe_ends_closed(id, fifo, f.readable(), f.writable());
                if let Some(vn) = fifo {
                    self.vrele(vn);
                }
            }
            FileKind::Queue(_) => {}
            FileKind::Socket(s) => {
                self.net.close(s);
                self.net_run();
            }
        }
    }

    fn is_kqueue(&self, id: FileId) -> bool {
        let Some(FileKind::Queue(q)) = self.files.get(id).map(|f| f.kind) else { return false };
        matches!(self.events.flavor(q), Some(Flavor::Kqueue { .. }))
    }

    pub(crate) fn pipe_ends_closed(&mut self, id: pipe::PipeId, fifo: Option<Vnode>, reader: bool, writer: bool) {
        let Some(p) = self.pipes.get_mut(id) else { return };
        p.readers -= reader as usize;
        p.writers -= writer as usize;
        // Wake the other side: readers see EOF, writers see EPIPE. Linux
        // wakes epoll only when one side is newly gone and the other not.
        p.rchan.notify_all();
        p.wchan.notify_all();
        let (readers, writers) = (p.readers, p.writers);
        let wake = if (readers == 0) != (writers == 0) { Wake::All } else { Wake::None };
        self.knote(Source::Pipe(id), Hint::wake(wake));
        if readers == 0 && writers == 0 {
            self.free_pipe(id);
            if let Some(vn) = fifo {
                self.fifos.remove(&vn);
            }
        }
    }

    /// Closes `fd` of process `pid`.
    pub fn close_fd(&mut self, pid: Pid, fd: i32) -> Result<(), Errno> {
        let p = self.procs.get_mut(&pid).ok_or(ESRCH)?;
        let slot = p.fds.take(fd).ok_or(EBADF)?;
        self.fd_dropped(pid, fd, slot.file);
        Ok(())
    }

    /// Fd `fd` of process `pid`, just taken from its table, referred to
    /// `file`: what was registered through the fd goes, the process's
    /// POSIX locks on the file go, and the fd's reference is dropped.
    pub(crate) fn fd_dropped(&mut self, pid: Pid, fd: i32, file: FileId) {
        self.fd_drops += 1;
        self.fd_closed(pid, fd);
        self.locks_fd_closed(pid, file);
        self.file_unref(file);
    }

    /// A process ends: its fds close and its directories are released.
    fn exit(&mut self, pid: Pid) {
        let Some(p) = self.procs.remove(&pid) else { return };
        self.mem.uncharge(mem::PROC_BYTES);
        for (fd, slot) in p.fds.iter() {
            self.fd_dropped(pid, fd, slot.file);
        }
        self.vrele(p.cwd);
        self.vrele(p.root);
        self.exits.notify_all();
    }
}
