//! `rumpctl net` topology files: the TOML subset and the topology on it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rump_tools::net::topology::parse(text);
    }
});
