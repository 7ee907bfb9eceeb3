//! MAPFD passes a descriptor from server to client with every successful
//! reply: neither end may keep one. Alone in its test binary, so that no
//! other test opens fds while this one counts them.

use rump_abi::linux::sys::rump_sys_openat;
use rump_kernel::vfs::mapping::MapKind;
use rump_kernel::{Config, Kernel};
use rumpclient::client::Client;
use rumpclient::policy::Policy;
use rumpclient::server::Server;
use rumpclient::url::ServerUrl;
use rumpclient::wire::handshake::Emulation;

/// Host fds this process has open.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The count once the server has closed what it just sent (it does so
/// right after sending, so a reply can arrive a moment before).
fn settled_fds() -> usize {
    let mut last = open_fds();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let now = open_fds();
        if now == last {
            return now;
        }
        last = now;
    }
}

#[test]
fn mapfd_descriptors_never_leak() {
    let dir = std::env::temp_dir().join(format!("rumpclient-mapfd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = ServerUrl::Unix(dir.join("sock"));
    let server = Server::start(Kernel::boot(Config::default()).unwrap(), &url, Policy::default()).unwrap();
    let c = Client::connect(&url, Emulation::Linux, "leaky").unwrap();
    let name = b"/leak\0";
    let fd = rump_sys_openat(&c, -100, name.as_ptr().cast(), 0o102, 0o644).unwrap();
    // The first call moves the file into shared memory (one fd more, the
    // kernel's); later ones only pass descriptors.
    drop(c.mappable_fd(fd, MapKind::Shared).unwrap());
    let before = settled_fds();
    for _ in 0..200 {
        drop(c.mappable_fd(fd, MapKind::Shared).unwrap());
        assert!(c.mappable_fd(12345, MapKind::Shared).is_err());
    }
    assert_eq!(settled_fds(), before, "both ends closed every descriptor they passed");
    drop(c);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
