//! The marshaled request a server decodes and the reply a client decodes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rumpclient::marshal::MarshaledCall;
use rumpclient::{MreplyPacket, MreplyRepr, MsyscallPacket, MsyscallRepr};

fuzz_target!(|data: &[u8]| {
    let _ = MarshaledCall::parse(data);
    let _ = MsyscallRepr::parse(&MsyscallPacket::new_unchecked(data));
    let _ = MreplyRepr::parse(&MreplyPacket::new_unchecked(data));
});
