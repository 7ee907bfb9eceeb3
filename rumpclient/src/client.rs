//! The client: one connection to a rump server shared by every thread of
//! the calling process. Each call is marshaled into one request; a reader
//! thread hands each reply to the thread waiting for its request number, so
//! calls from many threads are in flight at once.

use crate::frame::{read_frame, write_frame, Frame};
use crate::marshal::marshal;
use crate::wire::banner::{BannerRepr, BANNER_MAX};
use crate::wire::error::ErrorCode;
use crate::wire::handshake::{Emulation, NameRepr};
use crate::wire::header::{Class, HandshakeKind, MsgType};
use parking_lot::Mutex;
use rump_abi::errno::native_to_linux;
use rump_abi::usermem::LocalMemory;
use rump_abi::{Errno, Slots, SysResult, Syscall, SyscallDesc};
use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

/// Request number → the thread waiting for its reply; `None` once the
/// connection is gone, so no call can start waiting on a dead reader.
type Waiters = Arc<Mutex<Option<HashMap<u64, Sender<Frame>>>>>;

pub struct Client {
    out: Mutex<UnixStream>,
    waiters: Waiters,
    next_reqno: AtomicU64,
    emul: Emulation,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Reads the banner: one line of at most `BANNER_MAX` bytes.
fn read_banner(s: &mut UnixStream) -> io::Result<()> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while line.last() != Some(&b'\n') {
        if line.len() >= BANNER_MAX || s.read(&mut byte)? == 0 {
            return Err(bad("no rump server banner"));
        }
        line.push(byte[0]);
    }
    BannerRepr::parse(&line).map(|_| ()).map_err(|_| bad("not a rump server banner"))
}

impl Client {
    /// Connects to the server at a unix socket path and introduces this
    /// process as `name` speaking `emul`.
    pub fn connect_unix(path: &Path, emul: Emulation, name: &str) -> io::Result<Client> {
        let mut s = UnixStream::connect(path)?;
        read_banner(&mut s)?;
        let hello = NameRepr { name: name.as_bytes(), emul };
        let mut payload = vec![0u8; hello.buffer_len()];
        hello.emit(&mut payload).map_err(|_| bad("bad process name"))?;
        write_frame(&mut s, 0, Class::Req, MsgType::Handshake, HandshakeKind::Guest.raw(), &payload)?;
        match read_frame(&mut s) {
            Ok(Some(f)) if f.header.class == Class::Resp && f.payload == 0i32.to_ne_bytes() => {}
            _ => return Err(bad("handshake refused")),
        }
        let waiters: Waiters = Arc::new(Mutex::new(Some(HashMap::new())));
        let (mut input, reader_waiters) = (s.try_clone()?, waiters.clone());
        std::thread::spawn(move || {
            while let Ok(Some(frame)) = read_frame(&mut input) {
                if let Some(tx) = reader_waiters.lock().as_mut().and_then(|w| w.remove(&frame.header.reqno)) {
                    let _ = tx.send(frame);
                }
            }
            // The connection is gone: every waiter learns it from its
            // dropped sender, and later calls find no table to wait in.
            reader_waiters.lock().take();
        });
        Ok(Client { out: Mutex::new(s), waiters, next_reqno: AtomicU64::new(1), emul })
    }

    /// An errno of the native kind in this client's emulation.
    fn errno(&self, native: Errno) -> Errno {
        match self.emul {
            Emulation::Native => native,
            Emulation::Linux => native_to_linux(native),
        }
    }

    fn desc(&self, num: u32) -> Option<&'static SyscallDesc> {
        match self.emul {
            Emulation::Native => rump_abi::native::sys::desc(num),
            Emulation::Linux => rump_abi::linux::sys::desc(num),
        }
    }
}

impl Syscall for Client {
    fn syscall(&self, num: u32, args: &Slots) -> SysResult {
        use rump_abi::native::errno::{ENOSYS, ENOTCONN};
        let Some(desc) = self.desc(num).filter(|d| d.implemented) else { return Err(self.errno(ENOSYS)) };
        let call = marshal(desc, args, &LocalMemory);
        let reqno = self.next_reqno.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = channel();
        match self.waiters.lock().as_mut() {
            Some(w) => w.insert(reqno, tx),
            None => return Err(self.errno(ENOTCONN)),
        };
        let sent = write_frame(&mut *self.out.lock(), reqno, Class::Req, MsgType::Msyscall, num, call.payload());
        if sent.is_err() {
            if let Some(w) = self.waiters.lock().as_mut() {
                w.remove(&reqno);
            }
            return Err(self.errno(ENOTCONN));
        }
        let frame = rx.recv().map_err(|_| self.errno(ENOTCONN))?;
        match frame.header.class {
            Class::Resp => call.finish(&frame.payload, &LocalMemory).map_err(|_| self.errno(ENOTCONN))?,
            _ => {
                let code = ErrorCode::from_raw(frame.header.value).unwrap_or(ErrorCode::Malformed);
                Err(self.errno(code.errno()))
            }
        }
    }
}
