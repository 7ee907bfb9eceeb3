//! `rumpctl bus bridge BUS (--tap DEV | --vni N --local ADDR --peer ADDR...)`:
//! joins a shmif bus to a host tap device or to a VXLAN segment, forwarding
//! every frame both ways until killed. On the bus the bridge is one more
//! writer with its own sender id, so it never forwards its own frames back;
//! frames longer than a bus takes (`shmif::MAX_FRAME`) are dropped and
//! counted, as a switch drops what exceeds a port's MTU.

use crate::vxlan::{self, Vtep};
use rump_kernel::net::shmif::{self, Bus};
use rump_kernel::net::tap::Tap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the bus side sleeps when no frame comes (a NetBSD writer does
/// not wake us, so keep it short).
const BUS_POLL: Duration = Duration::from_millis(10);

/// The far side of a bridge: something that carries Ethernet frames.
pub trait Port: Send + Sync {
    fn send(&self, frame: &[u8]) -> Result<(), String>;
    /// The next frame, or None after a short wait.
    fn recv(&self) -> Option<Vec<u8>>;
}

impl Port for Vtep {
    fn send(&self, frame: &[u8]) -> Result<(), String> {
        Vtep::send(self, frame).map_err(|e| e.to_string())
    }

    fn recv(&self) -> Option<Vec<u8>> {
        Vtep::recv(self)
    }
}

impl Port for Tap {
    fn send(&self, frame: &[u8]) -> Result<(), String> {
        Tap::send(self, frame).map_err(crate::strerror)
    }

    fn recv(&self) -> Option<Vec<u8>> {
        Tap::recv(self).or_else(|| {
            self.wait(Duration::from_millis(200));
            Tap::recv(self)
        })
    }
}

/// `ADDR` or `ADDR:PORT` (`[V6]:PORT`); the port defaults to VXLAN's.
pub fn endpoint(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, vxlan::DEFAULT_PORT)))
        .map_err(|_| format!("{s}: expected ADDR or ADDR:PORT"))
}

/// What a bridge joins its bus to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Far {
    Tap(String),
    Vxlan { vni: u32, local: SocketAddr, peers: Vec<SocketAddr> },
}

impl Far {
    /// The `rumpctl bus bridge BUS` options that say this.
    pub fn args(&self) -> Vec<String> {
        match self {
            Far::Tap(dev) => vec!["--tap".into(), dev.clone()],
            Far::Vxlan { vni, local, peers } => {
                let mut a = vec!["--vni".into(), vni.to_string(), "--local".into(), local.to_string()];
                peers.iter().for_each(|p| a.extend(["--peer".into(), p.to_string()]));
                a
            }
        }
    }
}

/// Opens the far side (so errors show before anything runs) and says so.
pub fn open(far: &Far) -> Result<(Arc<dyn Port>, String), String> {
    Ok(match far {
        Far::Tap(dev) => {
            let tap = Tap::open(dev).map_err(|e| format!("tap {dev}: {}", crate::strerror(e)))?;
            (Arc::new(tap), format!("tap {dev}"))
        }
        Far::Vxlan { vni, local, peers } => {
            let vtep = Vtep::bind(*local, *vni, peers.clone()).map_err(|e| format!("vxlan {local}: {e}"))?;
            let list: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
            let what = format!(
                "vxlan vni {vni} at {local}, peers {} (inner MTU without fragments: underlay MTU - {})",
                list.join(" "),
                vxlan::OVERHEAD_V4
            );
            (Arc::new(vtep), what)
        }
    })
}

/// Forwards between the bus file `bus` and `port` until the process ends.
pub fn run(bus: &Path, port: Arc<dyn Port>) -> Result<(), String> {
    let bus = Arc::new(Bus::open(bus).map_err(|e| format!("{}: {}", bus.display(), crate::strerror(e)))?);
    let sender = shmif::random_sender();
    let mut dropped = 0u64;
    let mut reader = bus.reader();
    let (out_bus, out_port) = (bus.clone(), port.clone());
    std::thread::Builder::new()
        .name("bridge-out".into())
        .spawn(move || loop {
            while let Some(f) = reader.next(&out_bus) {
                if f.sender != sender {
                    if let Err(e) = out_port.send(&f.data) {
                        tracing::debug!("bridge: send: {e}");
                    }
                }
            }
            out_bus.wait(&reader, BUS_POLL);
        })
        .map_err(|e| format!("thread: {e}"))?;
    loop {
        let Some(frame) = port.recv() else { continue };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        if frame.len() > shmif::MAX_FRAME
            || bus.send(sender, &frame, now.as_secs() as u32, now.subsec_micros()).is_err()
        {
            dropped += 1;
            tracing::debug!("bridge: dropped a {}-byte frame ({dropped} so far)", frame.len());
        }
    }
}
