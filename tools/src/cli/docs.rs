//! Shell completions and man pages, generated from the same clap
//! definitions that parse the command lines, so they cannot drift.

use super::rumpctl::Rumpctl;
use super::server::ServerArgs;
use clap::CommandFactory;
use std::path::Path;

/// The clap command of `program` (rumpctl or rump_server).
fn command(program: &str) -> clap::Command {
    match program {
        "rump_server" => ServerArgs::command(),
        _ => Rumpctl::command(),
    }
}

/// Writes `program`'s completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, program: &str, out: &mut dyn std::io::Write) {
    let mut cmd = command(program);
    clap_complete::generate(shell, &mut cmd, program, out);
}

/// Writes rump_server.1, rumpctl.1 and rumpctl-SUB.1 (also
/// rumpctl-net-SUB.1) into `dir`; returns the files written.
pub fn man_pages(dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for cmd in [command("rump_server"), command("rumpctl")] {
        write_page(dir, cmd, &mut written)?;
    }
    Ok(written)
}

/// One page for `cmd`, then one for each of its subcommands, named
/// `PARENT-SUB.1` as git's are.
fn write_page(dir: &Path, cmd: clap::Command, written: &mut Vec<String>) -> std::io::Result<()> {
    let name = cmd.get_name().to_string();
    let file = format!("{name}.1");
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(dir.join(&file), page)?;
    written.push(file);
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let sub = sub.clone().name(format!("{name}-{}", sub.get_name()));
        write_page(dir, sub, written)?;
    }
    Ok(())
}
