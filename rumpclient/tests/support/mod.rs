//! What the tests share: a server on a private unix socket, and random
//! inputs (`Rng`).

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

/// `len` bytes that differ with `seed` and along the buffer.
pub fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(131) ^ seed.wrapping_mul(17) ^ i >> 12) as u8).collect()
}

/// `threads` threads each write `len` bytes to their own part of the file
/// `path`, `rounds` times, and read each round back, byte for byte.
pub fn parallel_rounds(
    c: &std::sync::Arc<rumpclient::client::Client>,
    path: &'static std::ffi::CStr,
    len: usize,
    threads: usize,
    rounds: usize,
) {
    use rump_abi::linux::sys::{rump_sys_close, rump_sys_openat, rump_sys_pread64, rump_sys_pwrite64};
    const AT_FDCWD: i32 = -100;
    const O_RDWR_CREAT: i32 = 0o102;
    let fd = rump_sys_openat(&**c, AT_FDCWD, path.as_ptr(), O_RDWR_CREAT, 0o644).unwrap() as u32;
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut back = vec![0u8; len];
                for round in 0..rounds {
                    let data = pattern(len, t * rounds + round);
                    let off = (t * len) as i64;
                    assert_eq!(rump_sys_pwrite64(&*c, fd, data.as_ptr().cast(), len, off), Ok(len as isize));
                    assert_eq!(rump_sys_pread64(&*c, fd, back.as_mut_ptr().cast(), len, off), Ok(len as isize));
                    assert!(back == data, "thread {t} round {round} read back other bytes");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    rump_sys_close(&**c, fd).unwrap();
}

/// xorshift64*: random inputs, deterministic and dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
