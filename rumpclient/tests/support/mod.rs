//! What the server tests share: a server on a private unix socket.

// Each test file uses part of what is here.
#![allow(dead_code)]

use rump_kernel::{Config, Kernel};
use rumpclient::policy::Policy;
use rumpclient::server::Server;
use rumpclient::url::ServerUrl;
use std::path::PathBuf;

/// A server on a fresh unix socket; it lives as long as the returned value.
pub struct Running {
    pub path: PathBuf,
    pub url: ServerUrl,
    pub _server: Server,
    pub _dir: tempdir::Dir,
}

pub fn start() -> Running {
    let dir = tempdir::Dir::new();
    let path = dir.0.join("sock");
    let url = ServerUrl::Unix(path.clone());
    let server = Server::start(Kernel::boot(Config::default()).unwrap(), &url, Policy::default()).unwrap();
    Running { path, url, _server: server, _dir: dir }
}

/// A private directory removed at the end of the test.
pub mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "rumpclient-test-{}-{:?}-{}",
                std::process::id(),
                std::thread::current().id(),
                N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A connection to `url` past the banner and a Linux guest handshake as
/// `name`, spoken frame by frame: a client that does what the test says,
/// not what `Client` would.
pub fn raw_guest(url: &ServerUrl, name: &str) -> rumpclient::sock::Conn {
    use rumpclient::frame::{read_frame, write_frame};
    use rumpclient::{Class, Emulation, HandshakeKind, MsgType, NameRepr};
    use std::io::Read;
    let c = rumpclient::sock::Conn::connect(url).unwrap();
    let mut byte = [0u8];
    while (&c).read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {}
    let hello = NameRepr { name: name.as_bytes(), emul: Emulation::Linux };
    let mut payload = vec![0u8; hello.buffer_len()];
    hello.emit(&mut payload).unwrap();
    write_frame(&mut &c, 0, Class::Req, MsgType::Handshake, HandshakeKind::Guest.raw(), &payload).unwrap();
    read_frame(&mut &c).unwrap();
    c
}
