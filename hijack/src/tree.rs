//! A process tree's kernel before anyone in the tree has used one.
//!
//! A process that forks without having touched a kernel does not boot one
//! for its children (a shell running `/bin/true` would pay for a kernel
//! and a keeper nobody uses). It names the keeper its tree will share
//! instead: a private directory (made when first needed) whose socket the
//! first process to touch the kernel starts a keeper on, and which every
//! later one connects to. Every process of the tree holds both ends of a
//! liveness pipe (carried across exec like the connection); the keeper
//! keeps the read end and stays up until its last writer, the tree's last
//! process, is gone and no client is left.

use crate::backend::Backend;
use crate::host::sys;
use rump_abi::Errno;
use rumpclient::ownfd::{self, OwnFd};
use rumpclient::sock::rand_u64;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `r,w,dir` of the tree a new image belongs to.
const ENV_TREE: &str = "RUMPHIJACK__TREE";

pub struct Tree {
    /// Where the keeper listens once started (`sock` inside it).
    dir: PathBuf,
    alive_r: OwnFd,
    alive_w: OwnFd,
    /// This process's kernel once it has joined.
    pub(crate) joined: OnceLock<&'static Backend>,
}

impl Tree {
    /// A new tree rooted at this process (its first fork).
    pub fn new() -> Result<Tree, Errno> {
        let (alive_r, alive_w) = ownfd::pipe().map_err(Errno)?;
        let dir = std::env::temp_dir().join(format!("rump-keeper.{}.{:016x}", std::process::id(), rand_u64()));
        Ok(Tree { dir, alive_r, alive_w, joined: OnceLock::new() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The read end of the liveness pipe, for the keeper to watch.
    pub fn alive_fd(&self) -> RawFd {
        self.alive_r.raw()
    }

    /// The variables a new image needs to stay in the tree; the pipe stays
    /// open across the exec (a failed exec leaves it so, which only keeps
    /// a keeper up while this process lives, as it would anyway).
    pub fn exec_env(&self) -> std::io::Result<Vec<(String, String)>> {
        let (r, w) = (self.alive_r.raw(), self.alive_w.raw());
        for fd in [r, w] {
            sys(libc::SYS_fcntl, [fd as usize, libc::F_SETFD as usize, 0, 0])
                .map_err(|e| std::io::Error::from_raw_os_error(e.0))?;
        }
        Ok(vec![(ENV_TREE.into(), format!("{r},{w},{}", self.dir.display()))])
    }

    /// In a new image: the tree its parent image belonged to, if any (and
    /// the variable removed).
    pub fn import() -> Option<Tree> {
        let v = std::env::var(ENV_TREE).ok()?;
        std::env::remove_var(ENV_TREE);
        let mut parts = v.splitn(3, ',');
        let (r, w, dir) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?);
        let own = |fd: RawFd| -> Option<OwnFd> {
            sys(libc::SYS_fcntl, [fd as usize, libc::F_SETFD as usize, libc::FD_CLOEXEC as usize, 0]).ok()?;
            // SAFETY: an fd the parent image left open for us, checked above.
            Some(OwnFd::new(unsafe { OwnedFd::from_raw_fd(fd) }))
        };
        let alive_r = own(r)?;
        let alive_w = own(w)?;
        Some(Tree { dir: PathBuf::from(dir), alive_r, alive_w, joined: OnceLock::new() })
    }

    /// This process's kernel, joining the tree's keeper (started if nobody
    /// in the tree has yet) on first use.
    pub fn kernel(&self) -> Result<&'static Backend, Errno> {
        match self.joined.get() {
            Some(b) => Ok(b),
            None => crate::backend::join_tree(self),
        }
    }
}
