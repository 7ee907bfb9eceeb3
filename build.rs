//! Generates `native::sys` and `linux::sys` from the two `syscalls.master`
//! tables, and the C interface (`capi`: headers and the exported
//! `rump_sys_*`) from the native table, the native ABI sources and the
//! interface lists `capi/*.ifspec`. A mistake in a table stops the build
//! with `file:line: message`.

#[path = "codegen/capi.rs"]
mod capi;
#[path = "codegen/emit.rs"]
mod emit;
#[path = "codegen/master.rs"]
mod master;

use std::path::Path;

/// Cargo shows a build script's stderr on failure; a bare line is easier
/// to read there than a panic message.
fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("error: {e}");
    std::process::exit(1);
}

fn read(file: &str) -> String {
    println!("cargo:rerun-if-changed={file}");
    std::fs::read_to_string(file).unwrap_or_else(|e| fail(format!("{file}: {e}")))
}

fn write(out: &str, text: &str) {
    let dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    let path = Path::new(&dir).join(out);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn generate(table: &str, out: &str, opts: &emit::EmitOpts) -> master::Table {
    let text = read(table);
    let parsed = master::parse(table, &text)
        .and_then(|t| t.check_max_args(opts.max_args).map(|()| t))
        .unwrap_or_else(|e| fail(e));
    write(out, &emit::emit(&parsed, opts));
    parsed
}

/// The C headers and the `extern "C"` system calls (`rump_abi::capi`).
fn generate_capi(native: &master::Table) {
    write("native_capi.rs", &capi::c_syscalls_macro(native));
    write("rump_syscalls.h", &capi::syscalls_h(native));
    let defs = capi::rumpdefs_h(&read("src/errno.rs"), &read("src/native/flags.rs"), &read("src/native/types.rs"));
    write("rumpdefs.h", &defs);
    let std_includes = ["<sys/types.h>", "<stdint.h>", "<time.h>"];
    let mut names = String::new();
    for (spec, header, guard) in [
        ("capi/rump.ifspec", "rump.h", "_RUMP_RUMP_H_"),
        ("capi/rumpclient.ifspec", "rumpclient.h", "_RUMP_RUMPCLIENT_H_"),
    ] {
        let text = read(spec);
        let mut includes = std_includes.to_vec();
        includes.extend(["<rump/rumpdefs.h>", "<rump/rump_syscalls.h>"]);
        write(header, &capi::ifspec_h(spec, &text, guard, &includes).unwrap_or_else(|e| fail(e)));
        let konst = header.trim_end_matches(".h").to_uppercase();
        names.push_str(&format!(
            "/// The functions `{spec}` declares.\npub const {konst}_IFACES: &[&str] = &{:?};\n",
            capi::ifspec_names(&text)
        ));
    }
    write("capi_ifaces.rs", &names);
}

fn main() {
    for f in ["build.rs", "codegen/master.rs", "codegen/emit.rs", "codegen/capi.rs"] {
        println!("cargo:rerun-if-changed={f}");
    }
    let native = emit::EmitOpts { table: "native", types: "crate::native::types", max_args: 8, raw_routes: false };
    let table = generate("syscalls.master", "native_sys.rs", &native);
    generate_capi(&table);
    let linux = emit::EmitOpts { table: "linux", types: "crate::linux::types", max_args: 6, raw_routes: true };
    generate("kernel/src/compat/linux/syscalls.master", "linux_sys.rs", &linux);
}
