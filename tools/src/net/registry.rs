//! The networks a user has up, wherever they live, so `rumpctl net ls`
//! can list them and a user who lost track can `down` them: one symlink
//! per network in a per-user runtime directory (`$XDG_RUNTIME_DIR/rumpnet`,
//! else `/tmp/rumpnet-UID`), named after the network's directory and
//! pointing at it. `net up` adds the link, `net down` removes it; a link
//! whose network has no state file any more is stale and dropped by `ls`.

use super::state::Dir;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The per-user directory of links.
fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("rumpnet"),
        // SAFETY: getuid cannot fail.
        None => std::env::temp_dir().join(format!("rumpnet-{}", unsafe { libc::getuid() })),
    }
}

/// The link's name: the network's path with `%` and `/` escaped.
fn link_name(root: &Path) -> String {
    root.to_string_lossy().replace('%', "%25").replace('/', "%2F")
}

/// Records a network that came up; a failure only costs `net ls` its entry.
pub fn add(root: &Path) {
    let dir = runtime_dir();
    if std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).is_ok() {
        let link = dir.join(link_name(root));
        let _ = std::fs::remove_file(&link);
        if let Err(e) = std::os::unix::fs::symlink(root, &link) {
            tracing::warn!("{}: {e}; rumpctl net ls will not list {}", link.display(), root.display());
        }
    }
}

/// Forgets a network that went down.
pub fn remove(root: &Path) {
    let _ = std::fs::remove_file(runtime_dir().join(link_name(root)));
}

/// `rumpctl net ls`: each network that is up, with its nodes and how many
/// of their servers still run.
pub fn list() -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(runtime_dir()) else { return Ok(()) };
    for entry in entries.flatten() {
        let Ok(root) = std::fs::read_link(entry.path()) else { continue };
        let dir = Dir::for_up(Some(&root));
        match dir.read() {
            Ok(st) => {
                let alive = st.nodes.iter().filter(|n| super::lifecycle::is_served(n)).count();
                println!("{}  {} nodes, {alive} running, {} buses", root.display(), st.nodes.len(), st.buses.len());
            }
            Err(_) => {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}
