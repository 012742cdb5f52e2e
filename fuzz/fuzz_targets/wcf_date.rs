//! Any date text Roku might send, bare or inside `/Date(…)/`: parsing never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roku_bridge::roku::wcf;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = wcf::parse(text);
        let _ = wcf::parse(&format!("/Date({text})/"));
    }
});
