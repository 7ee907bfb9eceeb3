//! TCP: the transport across machines. Calls are small and answered at
//! once, so Nagle's algorithm is off both ways; nothing but bytes travels
//! (no descriptors, no shared memory). A client proves it holds the
//! server's key right after the banner (`crate::auth`).

use super::{wrong_url, Transport};
use crate::auth::Key;
use crate::policy::Policy;
use crate::sock::Conn;
use crate::url::ServerUrl;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;

pub struct Tcp;

fn addr(url: &ServerUrl) -> io::Result<&SocketAddr> {
    match url {
        ServerUrl::Tcp(a) => Ok(a),
        _ => Err(wrong_url(url)),
    }
}

impl Transport for Tcp {
    fn connect(&self, url: &ServerUrl) -> io::Result<Conn> {
        // SAFETY: the sockaddr types are plain data, valid all zero.
        let conn = match *addr(url)? {
            SocketAddr::V4(v4) => {
                let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
                a.sin_family = libc::AF_INET as libc::sa_family_t;
                a.sin_port = v4.port().to_be();
                a.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
                Conn::connect_raw(libc::AF_INET, &a, std::mem::size_of_val(&a))?
            }
            SocketAddr::V6(v6) => {
                let mut a: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
                a.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                a.sin6_port = v6.port().to_be();
                a.sin6_addr.s6_addr = v6.ip().octets();
                a.sin6_scope_id = v6.scope_id();
                Conn::connect_raw(libc::AF_INET6, &a, std::mem::size_of_val(&a))?
            }
        };
        self.prepare(&conn);
        Ok(conn)
    }

    fn listen(&self, url: &ServerUrl) -> io::Result<(OwnedFd, ServerUrl)> {
        let l = TcpListener::bind(addr(url)?)?;
        let url = ServerUrl::Tcp(l.local_addr()?);
        Ok((l.into(), url))
    }

    fn prepare(&self, conn: &Conn) {
        let one: libc::c_int = 1;
        conn.set_option(libc::IPPROTO_TCP, libc::TCP_NODELAY, &one);
    }

    fn prove(&self, conn: &Conn, url: &ServerUrl) -> io::Result<()> {
        let a = addr(url)?;
        Key::for_client(a)?.answer(conn, a)
    }

    fn demand(&self, url: &ServerUrl, policy: &Policy) -> io::Result<Option<Key>> {
        match &policy.key {
            Some(k) => Ok(Some(k.clone())),
            None => Key::read_or_create(&Key::default_path(addr(url)?)).map(Some),
        }
    }
}
