//! `rump_headers DIR`: writes the generated C headers of `<rump/...>`
//! into DIR (scripts/install.sh puts them in PREFIX/include/rump).

use std::path::Path;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: rump_headers DIR");
        std::process::exit(2);
    };
    let dir = Path::new(&dir);
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("rump_headers: {}: {e}", dir.display());
        std::process::exit(1);
    }
    for (name, text) in rump_abi::capi::HEADERS {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("rump_headers: {}: {e}", path.display());
            std::process::exit(1);
        }
    }
}
