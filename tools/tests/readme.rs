//! The README's command lines, run as written: every line of every
//! ```` ```sh ```` block under the headings in `SECTIONS` is executed, and a
//! line that fails fails the suite. How a block is run:
//!
//! - as one bash script with `set -e -o pipefail`, in a fresh scratch
//!   directory, lines in order (a failing line stops it and is named);
//! - `target/release` there is the directory the tests' binaries were built
//!   in, which is also first on `PATH` (so `rumpctl` and `rump_server`
//!   work bare); `RUMP_SERVER`, `LD_PRELOAD`, `RUMPNET_DIR` start unset;
//! - `scripts/` there links the workspace's scripts one by one;
//! - `/tmp/` in a line means the scratch directory (so runs cannot collide);
//! - the placeholders in `PLACEHOLDERS` are words replaced before running
//!   (`URL`: a server `SETUP` starts);
//! - commands in `SETUP` for the block's section run first (a server a
//!   line assumes is running);
//! - fixtures the README names exist: `file` (some bytes), `script.py`,
//!   `data/notes.txt`, `disk.img`; `topology.toml` is the section's own
//!   ```` ```toml ```` block, if it has one;
//! - afterwards every server a block started is halted (each socket in the
//!   scratch directory, `rumpctl net down`), and its background jobs killed.
//!
//! A line that cannot run here is listed in `SKIPPED` with the reason; a
//! listed line the README no longer has fails the test, so the list stays
//! true.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{rumpctl, TempDir};

/// The sections whose ```sh blocks are run.
const SECTIONS: &[&str] = &[
    "The hijack library",
    "Every system call: raw syscalls and static binaries",
    "Everyday programs: locks, shared mappings, inotify",
    "Remote kernels",
    "Networking",
    "Network CI",
];

/// Commands run before a section's blocks, for what the README assumes the
/// reader has running (rewritten like README lines).
const SETUP: &[(&str, &str)] = &[
    ("The hijack library", "target/release/rump_server unix:///tmp/rump.sock   # the server its last line uses"),
    ("Network CI", "target/release/rump_server -i 'shmif0 create linkstr /tmp/bus0' unix:///tmp/url   # URL"),
];

/// Words in a README line that stand for something the reader fills in.
const PLACEHOLDERS: &[(&str, &str)] = &[("URL", "unix:///tmp/url")];

/// Lines not run, each with why (matched after trimming, comment included).
const SKIPPED: &[(&str, &str)] =
    &[("scripts/bench.sh", "the benchmarks take minutes; scripts/bench.sh is run by hand")];

/// A ```sh block: the heading it is under and its lines.
struct Block {
    section: String,
    lines: Vec<String>,
}

/// The fenced blocks of `text` in `lang`, each with its section.
fn blocks(text: &str, lang: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut open: Option<(bool, Vec<String>)> = None;
    for line in text.lines() {
        match &mut open {
            Some((wanted, lines)) if line.trim_start().starts_with("```") => {
                if *wanted {
                    out.push(Block { section: section.clone(), lines: std::mem::take(lines) });
                }
                open = None;
            }
            Some((_, lines)) => lines.push(line.to_string()),
            None if line.trim_start().starts_with("```") => {
                let info = line.trim_start().trim_start_matches('`').trim();
                open = Some((info == lang, Vec::new()));
            }
            None => {
                if let Some(h) = line.strip_prefix("## ") {
                    section = h.trim().to_string();
                }
            }
        }
    }
    out
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A README line as it runs here.
fn rewrite(line: &str, scratch: &Path) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let line = words
        .iter()
        .map(|w| PLACEHOLDERS.iter().find(|(p, _)| p == w).map_or(*w, |(_, value)| *value))
        .collect::<Vec<_>>()
        .join(" ");
    line.replace("/tmp/", &format!("{}/", scratch.display()))
}

/// The bash script for a block: each line announced on stderr, then run.
fn script(block: &Block, scratch: &Path, bin: &Path) -> String {
    let mut s = format!(
        "set -e -o pipefail\nexport PATH={bin}:$PATH\nunset RUMP_SERVER LD_PRELOAD RUMPNET_DIR\n\
         trap 'cleanup' EXIT\ncleanup() {{ st=$?; unset LD_PRELOAD RUMP_SERVER\n\
         kill $(jobs -p) 2>/dev/null || true\n\
         [ ! -e .rumpnet/state ] || {bin}/rumpctl net down >/dev/null || true\n\
         for s in $(find {dir} -type s ! -name '*.seccomp'); do {bin}/rumpctl halt -s unix://$s 2>/dev/null || true; done\n\
         exit $st; }}\n",
        bin = bin.display(),
        dir = scratch.display()
    );
    let setup = SETUP.iter().filter(|(section, _)| *section == block.section).map(|(_, l)| *l);
    for line in setup.chain(block.lines.iter().map(String::as_str)) {
        let trimmed = line.trim();
        if trimmed.is_empty() || SKIPPED.iter().any(|(l, _)| *l == trimmed) {
            continue;
        }
        let shown = trimmed.replace('\'', "'\\''");
        s += &format!("echo '+ {shown}' >&2\n{}\n", rewrite(trimmed, scratch));
    }
    s
}

/// `scripts/` of the scratch directory: a real folder of links to the
/// workspace's scripts, so a script that finds the binaries beside itself
/// (`$(dirname "$0")/../target/release`) finds the scratch directory's.
fn link_scripts(scratch: &Path) {
    let dir = scratch.join("scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("scripts");
    for entry in std::fs::read_dir(src).unwrap().flatten() {
        std::os::unix::fs::symlink(entry.path(), dir.join(entry.file_name())).unwrap();
    }
}

/// The fixtures the README's lines read.
fn fixtures(dir: &Path, section: &str, text: &str) {
    std::fs::write(dir.join("file"), "a file to send\n".repeat(100)).unwrap();
    std::fs::write(dir.join("script.py"), "import os\nprint(sorted(os.listdir('/rump')))\n").unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/notes.txt"), "notes\n").unwrap();
    std::fs::write(dir.join("disk.img"), vec![0u8; 1 << 16]).unwrap();
    if let Some(topology) = blocks(text, "toml").into_iter().find(|b| b.section == section) {
        std::fs::write(dir.join("topology.toml"), topology.lines.join("\n")).unwrap();
    }
}

#[test]
fn every_skipped_line_is_still_in_the_readme() {
    let text = readme();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for (line, why) in SKIPPED {
        assert!(lines.contains(line), "SKIPPED lists a line the README no longer has ({why}): {line}");
    }
}

#[test]
fn the_readme_sh_blocks_run() {
    let text = readme();
    let bin: PathBuf = rumpctl().parent().unwrap().to_path_buf();
    let mut ran = 0;
    for (n, block) in blocks(&text, "sh").iter().enumerate() {
        if !SECTIONS.contains(&block.section.as_str()) {
            continue;
        }
        let scratch = TempDir::new(&format!("readme{n}"));
        std::fs::create_dir_all(scratch.path().join("target")).unwrap();
        std::os::unix::fs::symlink(&bin, scratch.path().join("target/release")).unwrap();
        link_scripts(scratch.path());
        fixtures(scratch.path(), &block.section, &text);
        let out = Command::new("timeout")
            .args(["120", "bash", "-c", &script(block, scratch.path(), &bin)])
            .current_dir(scratch.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rfind(|l| l.starts_with("+ ")).unwrap_or("(none)");
        assert!(
            out.status.success(),
            "README section {:?}: the line\n  {}\nfailed ({}); stderr:\n{err}\nstdout:\n{}",
            block.section,
            last.trim_start_matches("+ "),
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
        ran += 1;
    }
    assert!(ran >= SECTIONS.len(), "only {ran} README blocks ran; are the headings still {SECTIONS:?}?");
}
