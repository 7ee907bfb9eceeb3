//! What crosses `execve`: the fd map, where the working directory is, and
//! the connection to the kernel (or the tree, `tree`, before one).
//!
//! The exec hooks add `RUMPHIJACK__STATE=cwd=N;fds=n:r,...` (with the
//! client's own variables) to the new image's environment; the library's
//! constructor in that image takes them back and removes them. Only fds
//! whose placeholder survives the exec are listed: a close-on-exec rump fd
//! closes on both sides.

use crate::backend::{self, Backend};
use crate::fdmap;
use crate::host::sys;
use crate::route::{self, Cwd};
use rumpclient::client::Client;

const ENV_STATE: &str = "RUMPHIJACK__STATE";

/// The variables a new image needs to carry on with kernel `k`.
pub fn exec_env(k: &Backend) -> std::io::Result<Vec<(String, String)>> {
    if let (Backend::Tree(t), None) = (k, backend::client(k)) {
        return t.exec_env();
    }
    let Some(client) = backend::client(k) else {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    };
    let fds: Vec<String> = fdmap::entries()
        .into_iter()
        .filter(|(n, _)| sys(libc::SYS_fcntl, [*n as usize, libc::F_GETFD as usize, 0, 0]) == Ok(0))
        .map(|(n, r)| format!("{n}:{r}"))
        .collect();
    let mut env = client.exec_env()?;
    env.push((ENV_STATE.into(), format!("cwd={};fds={}", route::cwd() as u8, fds.join(","))));
    Ok(env)
}

/// In a new image: takes over the connection, the map and the cwd, or
/// the tree a process that had not touched its kernel belonged to.
pub fn import() {
    if let Some(t) = crate::tree::Tree::import() {
        backend::set_tree(t);
    }
    let state = std::env::var(ENV_STATE).ok();
    if state.is_some() {
        std::env::remove_var(ENV_STATE);
    }
    let client = match Client::resume_after_exec(&backend::comm()) {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            crate::warn_once(&format!("lost the rump kernel across exec: {e}"));
            return;
        }
    };
    backend::set_remote(client);
    let Some(state) = state else { return };
    for part in state.split(';') {
        if let Some(c) = part.strip_prefix("cwd=") {
            route::set_cwd(match c {
                "1" => Cwd::Prefixed,
                "2" => Cwd::Blanket,
                _ => Cwd::Host,
            });
        } else if let Some(list) = part.strip_prefix("fds=") {
            for pair in list.split(',').filter(|p| !p.is_empty()) {
                let Some((n, r)) = pair.split_once(':') else { continue };
                let (Ok(n), Ok(r)) = (n.parse::<i32>(), r.parse::<i32>()) else { continue };
                // The placeholder must still be there (nobody closed it).
                if n >= 0
                    && (n as usize) < fdmap::SLOTS
                    && sys(libc::SYS_fcntl, [n as usize, libc::F_GETFD as usize, 0, 0]).is_ok()
                {
                    fdmap::set(n, r);
                }
            }
        }
    }
}
