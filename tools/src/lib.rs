//! What the command-line tools share: their command lines (`cli`), the
//! server address a command talks to, and the storage options (`-d`, `-m`)
//! that rump_server and `rumpctl run` both put into a kernel.

pub mod bridge;
pub mod cli;
pub mod dumpbus;
pub mod idle_text;
pub mod ifconfig;
pub mod log;
pub mod net;
pub mod netem;
pub mod run;
pub mod status_line;
/// The seccomp supervisor of static binaries lives beside the server it
/// serves with (`rumpclient::supervise`), where a keeper reaches it too.
pub use rumpclient::supervise;
pub mod sysctl;
pub mod vxlan;

use rump_abi::Errno;
use rump_kernel::fs::etfs::Drivespec;
use rump_kernel::fs::hostfs::HostfsSpec;
use rump_kernel::Kernel;
use rumpclient::url::ServerUrl;

/// The server named by `-s URL`, or else by `RUMP_SERVER`.
pub fn server_url(flag: Option<&str>) -> Result<ServerUrl, String> {
    match flag {
        Some(u) => ServerUrl::parse(u).map_err(|e| format!("{u}: {e}")),
        None => ServerUrl::from_env().map_err(|e| e.to_string()),
    }
}

/// The host's text for a kernel errno.
pub fn strerror(e: Errno) -> String {
    std::io::Error::from_raw_os_error(rump_abi::errno::native_to_linux(e).raw()).to_string()
}

/// Puts the drives, then the host directories, into a booted kernel. The
/// error names the option at fault and the host's reason.
pub fn attach_storage(kernel: &Kernel, drives: &[Drivespec], mounts: &[HostfsSpec]) -> Result<(), String> {
    for d in drives {
        let key = String::from_utf8_lossy(&d.key);
        kernel
            .register_etfs(&d.key, &d.etfs)
            .map_err(|e| format!("-d {key}: {}: {}", d.etfs.hostpath.display(), strerror(e)))?;
    }
    for m in mounts {
        let path = String::from_utf8_lossy(&m.path);
        kernel.mount_hostfs(m).map_err(|e| format!("-m {}:{path}: {}", m.hostdir.display(), strerror(e)))?;
    }
    Ok(())
}
