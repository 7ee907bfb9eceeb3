//! Programs on a `tcp://` server through the library with the default
//! `RUMPHIJACK` (inet sockets hijacked): the library's own connection must
//! not go through its own `socket` hook (that used to deadlock), and the
//! server's key decides who gets in.

mod support;

use std::process::{Command, Output};
use support::{library, Server};

fn sh(script: &str, url: &str, key: Option<&str>) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["20", "sh", "-c", script]).env("LD_PRELOAD", library()).env("RUMP_SERVER", url).env_remove("RUMPHIJACK");
    match key {
        Some(k) => cmd.env("RUMP_SERVER_KEY", k),
        None => cmd.env_remove("RUMP_SERVER_KEY"),
    };
    cmd.output().expect("run sh")
}

#[test]
fn a_tcp_server_serves_with_the_default_rumphijack_and_refuses_without_the_key() {
    let server = Server::start_tcp();
    // The default key file next to the server's state: same user, no setup.
    let out = sh("echo over-tcp > /rump/f && cat /rump/f", &server.url, None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "over-tcp\n", "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success());

    let out = sh("cat /rump/f", &server.url, Some("/nonexistent/key"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs its key") && err.contains("RUMP_SERVER_KEY"), "{err}");
    assert!(out.stdout.is_empty());
    server.halt().unwrap();
}
