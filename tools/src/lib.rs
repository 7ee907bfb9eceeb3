//! What the command-line tools share: NetBSD-style option parsing and the
//! server address a command talks to.

pub mod opts;
pub mod sysctl;

use rumpclient::url::ServerUrl;

/// The server named by `-s URL`, or else by `RUMP_SERVER`.
pub fn server_url(flag: Option<&str>) -> Result<ServerUrl, String> {
    match flag {
        Some(u) => ServerUrl::parse(u).map_err(|e| format!("{u}: {e}")),
        None => ServerUrl::from_env().map_err(|e| e.to_string()),
    }
}
