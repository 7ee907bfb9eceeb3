//! librumphijack.so: run unmodified, dynamically linked programs against a
//! rump kernel by preloading this library.
//!
//! Calls on paths under the `path=` prefix (`/rump`), on rump fds and from
//! a working directory inside the kernel go to a rump kernel — in this
//! process (`RUMP_SERVER` unset) or a `rump_server` — and everything else
//! goes to the host untouched. The layers:
//!
//! - `config`: `RUMPHIJACK`, checked before `main` runs;
//! - `route`: which kernel a path belongs to, and the virtual cwd;
//! - `fdmap`: which fd numbers are rump fds (placeholders on the host);
//! - `backend`, `keeper`, `tree`: the kernel handle, moving an in-process
//!   kernel into a keeper process when the program forks or execs, and the
//!   keeper a tree of processes starts when one of them first needs it;
//! - `state`: what crosses `execve` (the map, the cwd, the connection);
//! - `hooks`: the libc functions, one module per family;
//! - `host`: the way back to libc's own definitions;
//! - `log`: `RUMP_LOG`, to stderr or `RUMP_LOG_FILE`, off by default.
//! - `sud`: raw syscalls: libc's `syscall()`, and Syscall User Dispatch
//!   (`syscalls=auto` where needed, `syscalls=all` everywhere).

pub mod backend;
pub mod config;
pub mod fdmap;
pub mod hooks;
pub mod host;
pub mod keeper;
pub mod log;
pub mod notifier;
pub mod route;
pub mod state;
pub mod sud;
pub mod supervised;
pub mod tree;

use std::sync::atomic::{AtomicBool, Ordering};

/// Runs before `main`: a bad configuration stops the program here with
/// one line naming the culprit; state carried across exec is taken over.
extern "C" fn init() {
    let cfg = match config::Config::from_env() {
        Ok(c) => c,
        Err(e) => die(&e.to_string()),
    };
    if let Err(e) = rumpclient::client::Retry::from_env() {
        die(&e.to_string());
    }
    route::set_config(cfg);
    // Before the connection is taken over: it moves out of the program's way.
    rumpclient::ownfd::enable();
    rumpclient::ownfd::reserve_table();
    log::init();
    state::import();
    // SAFETY: registers a handler that only bumps an atomic.
    unsafe { libc::pthread_atfork(None, None, Some(notifier::after_fork)) };
    sud::start(route::config().syscalls);
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;

/// Reports a fatal configuration error and exits 1.
fn die(msg: &str) -> ! {
    say(msg);
    // SAFETY: ending the process before main; nothing to clean up.
    unsafe { libc::_exit(1) }
}

/// One line on stderr, written with the raw syscall.
fn say(msg: &str) {
    let line = format!("rumphijack: {msg}\n");
    // SAFETY: a buffer to stderr.
    unsafe { libc::syscall(libc::SYS_write, 2, line.as_ptr(), line.len()) };
}

/// A warning printed once per process.
pub fn warn_once(msg: &str) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        say(msg);
    }
}
