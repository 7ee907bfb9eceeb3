//! Bus files as another process may leave them: any header and records,
//! read by the dump tool's parser and by a live interface's reader, which
//! then sends. Nothing may panic or read out of bounds.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rump_kernel::net::shmif::{Bus, Snapshot, BUS_SIZE};

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    bytes.resize(BUS_SIZE, 0);
    if let Ok(snap) = Snapshot::from_bytes(bytes.clone()) {
        for _ in snap.records() {}
    }
    let path = std::env::temp_dir().join(format!("rump-fuzz-bus-{}", std::process::id()));
    if std::fs::write(&path, &bytes).is_err() {
        return;
    }
    if let Ok(bus) = Bus::open(&path) {
        let mut r = bus.reader_from_start();
        for _ in 0..64 {
            if r.next(&bus).is_none() {
                break;
            }
        }
        let _ = bus.send(1, &[0xffu8; 60], 0, 0);
    }
});
