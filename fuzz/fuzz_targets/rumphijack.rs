//! `RUMPHIJACK` strings, parsed by the library's own config module
//! (included by path: the library is a cdylib, not linkable here).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../../hijack/src/config.rs"]
#[allow(dead_code)]
mod config;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = std::str::from_utf8(data) {
        let _ = config::Config::parse(spec);
    }
});
