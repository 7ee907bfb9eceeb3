//! Where a running network lives: a directory (`-d DIR`; else, for the
//! commands on a running network, the nearest `.rumpnet` in this or a parent
//! directory, as git finds `.git`; else `$RUMPNET_DIR`, else `./.rumpnet`) holding one server socket per node
//! (`sock/NODE`), the bus files (`bus/BUS`), each server's log
//! (`log/NODE`) and the `state` file that the other subcommands read:
//!
//! ```text
//! node NAME PID URL
//! bus NAME PATH
//! iface NODE IF BUS
//! ```
//!
//! Lines are appended as servers start, so a `net up` that fails half way
//! still leaves what `net down` needs to stop what it started.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The directory's name when no other is given.
const DEFAULT: &str = ".rumpnet";

pub struct Dir {
    pub root: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEntry {
    pub name: String,
    pub pid: i32,
    pub url: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub nodes: Vec<NodeEntry>,
    pub buses: Vec<(String, PathBuf)>,
    /// (node, interface, bus)
    pub ifaces: Vec<(String, String, String)>,
    /// The `rumpctl bus bridge` processes: (bus, pid).
    pub bridges: Vec<(String, i32)>,
}

impl State {
    pub fn node(&self, name: &str) -> Result<&NodeEntry, String> {
        let found = self.nodes.iter().find(|n| n.name == name);
        found.ok_or_else(|| no_such("node", name, self.nodes.iter().map(|n| n.name.as_str())))
    }

    pub fn bus(&self, name: &str) -> Result<&Path, String> {
        let found = self.buses.iter().find(|(n, _)| n == name).map(|(_, p)| p.as_path());
        found.ok_or_else(|| no_such("bus", name, self.buses.iter().map(|(n, _)| n.as_str())))
    }
}

/// "NAME: no such node (nodes: a, b, ...)", with at most eight names.
fn no_such<'a>(what: &str, name: &str, known: impl ExactSizeIterator<Item = &'a str>) -> String {
    let more = if known.len() > 8 { ", ..." } else { "" };
    format!("{name}: no such {what} ({what}s: {}{more})", known.take(8).collect::<Vec<_>>().join(", "))
}

impl Dir {
    /// Where `net up` makes a network: the directory `-d` names, else
    /// `$RUMPNET_DIR`, else `./.rumpnet`.
    pub fn for_up(flag: Option<&Path>) -> Dir {
        let root = flag.map(PathBuf::from).or_else(|| std::env::var_os("RUMPNET_DIR").map(PathBuf::from));
        Dir::at(root.unwrap_or_else(|| PathBuf::from(DEFAULT)))
    }

    /// The network the other commands act on: `-d`, else the nearest
    /// `.rumpnet` with a state file in this or a parent directory, else
    /// what `for_up` would make (whose absence `read` reports).
    pub fn find(flag: Option<&Path>) -> Dir {
        if flag.is_none() {
            let cwd = std::env::current_dir().unwrap_or_default();
            if let Some(found) = cwd.ancestors().map(|d| Dir::at(d.join(DEFAULT))).find(|d| d.state_file().is_file()) {
                return found;
            }
        }
        Dir::for_up(flag)
    }

    fn at(root: PathBuf) -> Dir {
        Dir { root: std::path::absolute(&root).unwrap_or(root) }
    }

    pub fn state_file(&self) -> PathBuf {
        self.root.join("state")
    }

    pub fn socket(&self, node: &str) -> PathBuf {
        self.root.join("sock").join(node)
    }

    pub fn bus(&self, bus: &str) -> PathBuf {
        self.root.join("bus").join(bus)
    }

    pub fn log(&self, node: &str) -> PathBuf {
        self.root.join("log").join(node)
    }

    /// Makes the directory for a new network; one already running there
    /// is an error (two networks would share buses).
    pub fn create(&self) -> Result<StateWriter, String> {
        if self.state_file().exists() {
            return Err(format!(
                "{}: a network is already up here (rumpctl net down -d {0} first)",
                self.root.display()
            ));
        }
        for sub in ["sock", "bus", "log"] {
            std::fs::create_dir_all(self.root.join(sub)).map_err(|e| format!("{}: {e}", self.root.display()))?;
        }
        let f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(self.state_file())
            .map_err(|e| format!("{}: {e}", self.state_file().display()))?;
        super::registry::add(&self.root);
        Ok(StateWriter(f))
    }

    pub fn read(&self) -> Result<State, String> {
        let path = self.state_file();
        let f = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => format!("{}: no network is up here (rumpctl net up first)", self.root.display()),
            _ => format!("{}: {e}", path.display()),
        })?;
        let mut st = State::default();
        for (i, line) in BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
            let bad = || format!("{}:{}: malformed line {line:?}", path.display(), i + 1);
            let w: Vec<&str> = line.split(' ').collect();
            match w.as_slice() {
                ["node", name, pid, url] => {
                    let pid = pid.parse().map_err(|_| bad())?;
                    st.nodes.push(NodeEntry { name: name.to_string(), pid, url: url.to_string() })
                }
                ["bus", name, path] => st.buses.push((name.to_string(), PathBuf::from(path))),
                ["iface", node, ifname, bus] => st.ifaces.push((node.to_string(), ifname.to_string(), bus.to_string())),
                ["bridge", bus, pid] => st.bridges.push((bus.to_string(), pid.parse().map_err(|_| bad())?)),
                _ => return Err(bad()),
            }
        }
        Ok(st)
    }

    /// Removes what `create` and the servers made, leaving the directory
    /// itself only if something else is in it.
    pub fn remove(&self) {
        super::registry::remove(&self.root);
        let _ = std::fs::remove_file(self.state_file());
        for sub in ["sock", "bus", "log"] {
            let _ = std::fs::remove_dir_all(self.root.join(sub));
        }
        let _ = std::fs::remove_dir(&self.root);
    }
}

/// Appends to the state file, one line per write, as things come up.
#[derive(Debug)]
pub struct StateWriter(File);

impl StateWriter {
    pub fn node(&mut self, name: &str, pid: u32, url: &str) -> io::Result<()> {
        writeln!(self.0, "node {name} {pid} {url}")
    }

    pub fn bus(&mut self, name: &str, path: &Path) -> io::Result<()> {
        writeln!(self.0, "bus {name} {}", path.display())
    }

    pub fn iface(&mut self, node: &str, ifname: &str, bus: &str) -> io::Result<()> {
        writeln!(self.0, "iface {node} {ifname} {bus}")
    }

    pub fn bridge(&mut self, bus: &str, pid: u32) -> io::Result<()> {
        writeln!(self.0, "bridge {bus} {pid}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trip() {
        let root = PathBuf::from(format!("/tmp/rumpnet-state-test-{}", std::process::id()));
        let d = Dir::for_up(Some(&root));
        d.remove();
        let mut w = d.create().unwrap();
        w.node("a", 12, "unix:///x/sock/a").unwrap();
        w.bus("b1", &d.bus("b1")).unwrap();
        w.iface("a", "shmif0", "b1").unwrap();
        drop(w);
        assert!(d.create().unwrap_err().contains("already up"));
        let st = d.read().unwrap();
        assert_eq!(st.node("a").unwrap().pid, 12);
        assert_eq!(st.bus("b1").unwrap(), d.bus("b1"));
        assert!(st.node("z").unwrap_err().contains("no such node (nodes: a)"));
        assert_eq!(st.ifaces, vec![("a".into(), "shmif0".into(), "b1".into())]);
        d.remove();
        assert!(!d.root.exists());
        assert!(d.read().unwrap_err().contains("no network is up"));
    }
}
