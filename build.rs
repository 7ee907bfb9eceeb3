//! Generates `native::sys` and `linux::sys` from the two `syscalls.master`
//! tables. A mistake in a table stops the build with `file:line: message`.

#[path = "codegen/emit.rs"]
mod emit;
#[path = "codegen/master.rs"]
mod master;

use std::path::Path;

fn generate(table: &str, out: &str, opts: &emit::EmitOpts) {
    println!("cargo:rerun-if-changed={table}");
    let text = std::fs::read_to_string(table).unwrap_or_else(|e| panic!("{table}: {e}"));
    let parsed =
        master::parse(table, &text).and_then(|t| t.check_max_args(opts.max_args).map(|()| t)).unwrap_or_else(|e| {
            // Cargo shows a build script's stderr on failure; a bare line is
            // easier to read there than a panic message.
            eprintln!("error: {e}");
            std::process::exit(1);
        });
    let dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    let path = Path::new(&dir).join(out);
    std::fs::write(&path, emit::emit(&parsed, opts)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn main() {
    for f in ["build.rs", "codegen/master.rs", "codegen/emit.rs"] {
        println!("cargo:rerun-if-changed={f}");
    }
    let native = emit::EmitOpts { table: "native", types: "crate::native::types", max_args: 8, raw_routes: false };
    generate("syscalls.master", "native_sys.rs", &native);
    let linux = emit::EmitOpts { table: "linux", types: "crate::linux::types", max_args: 6, raw_routes: true };
    generate("kernel/src/compat/linux/syscalls.master", "linux_sys.rs", &linux);
}
