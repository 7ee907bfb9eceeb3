//! The server loop: accepts clients on a unix socket, sends the banner,
//! takes the GUEST handshake, and runs each marshaled call on its own
//! worker thread as the client's kernel process, so a call that blocks
//! (a pipe read) never stalls the client's other threads. Replies go out
//! under a per-connection send lock. A malformed frame is answered with an
//! ERROR and closes that connection only; a closed connection is an exited
//! process, whose fds close once its last call returns.

use crate::frame::{read_frame, write_frame, FrameError};
use crate::serve::run_marshaled;
use crate::wire::banner::BannerRepr;
use crate::wire::error::ErrorCode;
use crate::wire::handshake::{Emulation, NameRepr};
use crate::wire::header::{Class, HandshakeKind, MsgType};
use parking_lot::Mutex;
use rump_kernel::cred::Cred;
use rump_kernel::proc::Emulation as KernelEmulation;
use rump_kernel::Kernel;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Calls one connection may have running at once; more get TRYAGAIN.
pub const MAX_IN_FLIGHT: usize = 128;

pub struct Server {
    kernel: Kernel,
    listener: UnixListener,
    path: PathBuf,
}

impl Server {
    /// Listens on a unix socket at `path`, created mode 0600. A path that
    /// already exists is refused (another server may be using it).
    pub fn bind_unix(kernel: Kernel, path: &Path) -> io::Result<Server> {
        if path.exists() {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("{} already exists", path.display())));
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Server { kernel, listener, path: path.to_path_buf() })
    }

    /// Accepts clients until the listener fails, one thread per client.
    pub fn serve(&self) {
        for stream in self.listener.incoming() {
            let Ok(stream) = stream else { continue };
            let kernel = self.kernel.clone();
            std::thread::spawn(move || {
                // A client's trouble ends its connection, never the server.
                let _ = serve_connection(&kernel, stream);
            });
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn send_error(out: &Mutex<UnixStream>, reqno: u64, code: ErrorCode) -> io::Result<()> {
    write_frame(&mut *out.lock(), reqno, Class::Error, MsgType::Handshake, code as u32, &[])
}

fn serve_connection(kernel: &Kernel, mut stream: UnixStream) -> io::Result<()> {
    let banner = BannerRepr::new("NetBSD", "10.0", "amd64");
    let mut buf = [0u8; 96];
    let n = banner.emit(&mut buf).map_err(|e| io::Error::other(format!("{e:?}")))?;
    stream.write_all(&buf[..n])?;
    let out = Arc::new(Mutex::new(stream.try_clone()?));

    let first = match read_frame(&mut stream) {
        Ok(Some(f)) => f,
        Ok(None) | Err(FrameError::Io(_)) => return Ok(()),
        Err(FrameError::Wire(_, reqno)) => return send_error(&out, reqno, ErrorCode::Malformed),
    };
    let h = first.header;
    let guest = h.class == Class::Req && h.msg_type == MsgType::Handshake;
    if !guest || h.handshake_kind().ok() != Some(HandshakeKind::Guest) {
        return send_error(&out, h.reqno, ErrorCode::Auth);
    }
    let Ok(name) = NameRepr::parse(&first.payload) else {
        return send_error(&out, h.reqno, ErrorCode::Malformed);
    };
    let emul = match name.emul {
        Emulation::Native => KernelEmulation::Native,
        Emulation::Linux => KernelEmulation::Linux,
    };
    let comm = String::from_utf8_lossy(name.name).into_owned();
    let process = Arc::new(kernel.spawn(emul, Cred::root(), &comm));
    write_frame(&mut *out.lock(), h.reqno, Class::Resp, MsgType::Handshake, 0, &0i32.to_ne_bytes())?;

    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        let frame = match read_frame(&mut stream) {
            Ok(Some(f)) => f,
            Ok(None) | Err(FrameError::Io(_)) => return Ok(()),
            Err(FrameError::Wire(_, reqno)) => {
                send_error(&out, reqno, ErrorCode::Malformed)?;
                return Ok(());
            }
        };
        let h = frame.header;
        if h.class != Class::Req || h.msg_type != MsgType::Msyscall {
            send_error(&out, h.reqno, ErrorCode::Malformed)?;
            return Ok(());
        }
        if in_flight.load(std::sync::atomic::Ordering::Relaxed) >= MAX_IN_FLIGHT {
            send_error(&out, h.reqno, ErrorCode::TryAgain)?;
            continue;
        }
        in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (process, out, in_flight) = (process.clone(), out.clone(), in_flight.clone());
        std::thread::spawn(move || {
            // A failed send means the client is gone; its reader sees that.
            let _ = match run_marshaled(&process, h.value, &frame.payload) {
                Ok(reply) => write_frame(&mut *out.lock(), h.reqno, Class::Resp, MsgType::Msyscall, h.value, &reply),
                Err(_) => send_error(&out, h.reqno, ErrorCode::Malformed)
                    .and_then(|_| out.lock().shutdown(std::net::Shutdown::Both)),
            };
            in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
}
