//! How soon a signal reaches a static program whose wait the seccomp
//! supervisor serves (poll on a rump socket under `rumpctl run`), beside
//! the same program on the host, measured in the same run: the median
//! and worst of 40 signals (`static/siglatency.c`). The supervisor looks
//! for a signal every `supervise::wait`'s slice (no event tells of one).

use std::path::Path;
use std::process::Command;

fn measure(cmd: &mut Command) -> (f64, f64) {
    let o = cmd.output().expect("runs");
    let text = String::from_utf8_lossy(&o.stdout);
    let mut v = text.split_whitespace().map(|w| w.parse::<f64>().unwrap_or(f64::NAN));
    assert!(o.status.success(), "{:?}: {}", cmd, String::from_utf8_lossy(&o.stderr));
    (v.next().unwrap_or(f64::NAN), v.next().unwrap_or(f64::NAN))
}

fn main() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/static/siglatency.c");
    let exe = std::env::temp_dir().join(format!("siglatency.{}", std::process::id()));
    let st = Command::new("cc").args(["-static", "-O2", "-o"]).arg(&exe).arg(&src).status().expect("cc runs");
    assert!(st.success(), "cc -static {} (libc6-dev's libc.a)", src.display());
    let host = measure(&mut Command::new(&exe));
    let sup = measure(Command::new(env!("CARGO_BIN_EXE_rumpctl")).args(["run", "--"]).arg(&exe));
    let _ = std::fs::remove_file(&exe);
    println!("signal to a program waiting in poll on a socket, median / worst of 40:");
    println!("  supervised (rumpctl run) {:>9.1} / {:>9.1} us", sup.0, sup.1);
    println!("  host                     {:>9.1} / {:>9.1} us", host.0, host.1);
    println!("  ratio (median)           {:>9.1}", sup.0 / host.0);
}
