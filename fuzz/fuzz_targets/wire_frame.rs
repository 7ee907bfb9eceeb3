//! Sysproxy frames and handshakes as a server reads them off a socket:
//! the header, then every handshake payload parser. Nothing may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rumpclient::frame::read_frame;
use rumpclient::{BannerRepr, ForkPacket, ForkRepr, HandshakeKind, HandshakeRepr, NameRepr};

fuzz_target!(|data: &[u8]| {
    let _ = BannerRepr::parse(data);
    let mut stream = data;
    while let Ok(Some(f)) = read_frame(&mut stream) {
        let _ = NameRepr::parse(&f.payload);
        let _ = ForkRepr::parse(&ForkPacket::new_unchecked(&f.payload[..]));
        for kind in [HandshakeKind::Guest, HandshakeKind::Fork, HandshakeKind::Exec] {
            let _ = HandshakeRepr::parse(kind, &f.payload);
        }
    }
});
