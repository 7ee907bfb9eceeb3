//! Server addresses as users write them: `unix://path` (relative to the
//! current directory, or `unix:///absolute`) and `tcp://host:port` with an
//! IPv4 address or a bracketed IPv6 one, optionally followed by `/...`.
//! Like NetBSD, no names are resolved; unlike NetBSD, IPv6 works.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerUrl {
    /// Always absolute once parsed.
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// Why a URL was refused; the message names the part at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    NoScheme(String),
    UnknownScheme(String),
    EmptyPath,
    /// Longer than a unix socket address can hold.
    PathTooLong(usize),
    BadHost(String),
    BadPort(String),
    /// `RUMP_SERVER` is not set.
    Unset,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::NoScheme(u) => write!(f, "{u:?}: expected unix://PATH or tcp://HOST:PORT"),
            UrlError::UnknownScheme(s) => write!(f, "unknown scheme {s:?}: expected unix or tcp"),
            UrlError::EmptyPath => write!(f, "unix:// needs a socket path"),
            UrlError::PathTooLong(n) => write!(f, "socket path is {n} bytes, more than a unix socket holds (107)"),
            UrlError::BadHost(h) => write!(f, "{h:?} is not an IPv4 address or a bracketed IPv6 address"),
            UrlError::BadPort(p) => write!(f, "{p:?} is not a port number (0-65535)"),
            UrlError::Unset => write!(f, "RUMP_SERVER is not set"),
        }
    }
}

impl std::error::Error for UrlError {}

/// Bytes in `sun_path` minus the NUL.
const SUN_PATH_MAX: usize = 107;

impl ServerUrl {
    pub fn parse(url: &str) -> Result<ServerUrl, UrlError> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| UrlError::NoScheme(url.into()))?;
        match scheme {
            "unix" => {
                if rest.is_empty() {
                    return Err(UrlError::EmptyPath);
                }
                let mut path = PathBuf::from(rest);
                if path.is_relative() {
                    let cwd = std::env::current_dir().map_err(|_| UrlError::EmptyPath)?;
                    path = cwd.join(path);
                }
                let n = path.as_os_str().len();
                if n > SUN_PATH_MAX {
                    return Err(UrlError::PathTooLong(n));
                }
                Ok(ServerUrl::Unix(path))
            }
            "tcp" => {
                let hostport = rest.split('/').next().unwrap_or_default();
                let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
                    let (h, p) = v6.split_once(']').ok_or_else(|| UrlError::BadHost(hostport.into()))?;
                    let p = p.strip_prefix(':').ok_or_else(|| UrlError::BadPort(p.into()))?;
                    (h.parse::<std::net::Ipv6Addr>().map(IpAddr::V6).map_err(|_| UrlError::BadHost(h.into()))?, p)
                } else {
                    let (h, p) = hostport.rsplit_once(':').ok_or_else(|| UrlError::BadPort(String::new()))?;
                    let ip = match h {
                        "*" => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                        _ => {
                            h.parse::<std::net::Ipv4Addr>().map(IpAddr::V4).map_err(|_| UrlError::BadHost(h.into()))?
                        }
                    };
                    (ip, p)
                };
                let port = port.parse::<u16>().map_err(|_| UrlError::BadPort(port.into()))?;
                Ok(ServerUrl::Tcp(SocketAddr::new(host, port)))
            }
            other => Err(UrlError::UnknownScheme(other.into())),
        }
    }

    /// The URL in `RUMP_SERVER`.
    pub fn from_env() -> Result<ServerUrl, UrlError> {
        ServerUrl::parse(&std::env::var("RUMP_SERVER").map_err(|_| UrlError::Unset)?)
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerUrl::Unix(p) => write!(f, "unix://{}", p.display()),
            ServerUrl::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_users_write() {
        assert_eq!(ServerUrl::parse("unix:///tmp/s"), Ok(ServerUrl::Unix("/tmp/s".into())));
        let rel = ServerUrl::parse("unix://sock").unwrap();
        assert_eq!(rel, ServerUrl::Unix(std::env::current_dir().unwrap().join("sock")));
        assert_eq!(ServerUrl::parse("tcp://127.0.0.1:3755/"), Ok(ServerUrl::Tcp("127.0.0.1:3755".parse().unwrap())));
        assert_eq!(ServerUrl::parse("tcp://[::1]:0"), Ok(ServerUrl::Tcp("[::1]:0".parse().unwrap())));
        assert_eq!(ServerUrl::parse("tcp://*:9"), Ok(ServerUrl::Tcp("0.0.0.0:9".parse().unwrap())));
        let u = ServerUrl::parse("tcp://[fe80::1]:80").unwrap();
        assert_eq!(ServerUrl::parse(&u.to_string()), Ok(u));
    }

    #[test]
    fn refuses_with_a_reason() {
        assert!(matches!(ServerUrl::parse("/tmp/s"), Err(UrlError::NoScheme(_))));
        assert!(matches!(ServerUrl::parse("http://x"), Err(UrlError::UnknownScheme(_))));
        assert_eq!(ServerUrl::parse("unix://"), Err(UrlError::EmptyPath));
        assert!(matches!(ServerUrl::parse(&format!("unix:///{}", "x".repeat(120))), Err(UrlError::PathTooLong(_))));
        assert!(matches!(ServerUrl::parse("tcp://localhost:80"), Err(UrlError::BadHost(_))));
        assert!(matches!(ServerUrl::parse("tcp://1.2.3.4:65536"), Err(UrlError::BadPort(_))));
        assert!(matches!(ServerUrl::parse("tcp://1.2.3.4"), Err(UrlError::BadPort(_))));
        assert!(matches!(ServerUrl::parse("tcp://[::1:80"), Err(UrlError::BadHost(_))));
    }
}
