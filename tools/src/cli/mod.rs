//! The command lines of `rump_server` and `rumpctl`, declared with clap so
//! that help, `--version`, completions and man pages come from one place.
//! The value parsers here turn each operand into its checked type, so a
//! bad value is a usage error naming the option.
//!
//! Usage errors print one line, `PROG: MESSAGE (see PROG --help)`, and exit
//! with 2, as getopt-based tools do; help and `--version` go to stdout.

pub mod docs;
pub mod rumpctl;
pub mod server;

use clap::error::ErrorKind;
use clap::Parser;

/// Exit status for a usage error.
pub const EXIT_USAGE: i32 = 2;

/// Parses the process's arguments into `T`, or reports and exits. `usage`
/// is the exit status for a bad command line (2, or 125 where the
/// command's own status must stay distinguishable, as env(1) does).
pub fn parse_or_exit<T: Parser>(usage: i32) -> T {
    match T::try_parse() {
        Ok(args) => args,
        // Help asked for goes to stdout (status 0); help for a command
        // line with nothing in it goes to stderr (status 2).
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            let prog = T::command().get_name().to_string();
            eprintln!("{prog}: {} (see {prog} --help)", one_line(&e));
            std::process::exit(usage)
        }
    }
}

/// clap's message on one line, without its "error: " lead, tips and
/// usage block (which follow the first blank line).
pub fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let message: Vec<&str> = text.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
    let line = message.join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

/// A `-d` drivespec, checked.
pub fn drive(value: &str) -> Result<rump_kernel::fs::etfs::Drivespec, String> {
    rump_kernel::fs::etfs::Drivespec::parse(value).map_err(|e| e.to_string())
}

/// A `-m HOSTDIR:PATH[:ro]`, checked.
pub fn mount(value: &str) -> Result<rump_kernel::fs::hostfs::HostfsSpec, String> {
    rump_kernel::fs::hostfs::HostfsSpec::parse(value).map_err(|e| e.to_string())
}

/// A server URL (`unix://PATH`, `tcp://HOST:PORT`).
/// A count of at least 1 (`--max-clients`, `--nodes-per-server`).
pub fn count(value: &str) -> Result<usize, String> {
    value.parse::<usize>().ok().filter(|&n| n >= 1).ok_or_else(|| "expected a count of at least 1".into())
}

pub fn url(value: &str) -> Result<rumpclient::url::ServerUrl, String> {
    rumpclient::url::ServerUrl::parse(value).map_err(|e| e.to_string())
}
