//! Whatever a signed push carries in `x-Roku-message`: decoding and typing it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roku_bridge::roku::events::{decode_message, parse_event};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(value) = decode_message(text)
    {
        let _ = parse_event(&value);
    }
    // The decoded JSON straight, too: the parser sees what base64 cannot easily reach.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = parse_event(&value);
    }
});
