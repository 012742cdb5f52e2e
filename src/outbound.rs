//! What every outbound HTTP client of the bridge (provider, relay targets, Roku) reads the same
//! way: how long a server asked us to wait, and what went wrong, said without the URL (a target's
//! URL may carry a token, Roku's carries the API key).

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// `Retry-After` in seconds. The HTTP-date form is not used by any peer we talk to.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The kind of a transport failure, never its Display (which can print the URL).
pub fn failure_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}
