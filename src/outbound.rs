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

/// Everything but RFC 3986's unreserved characters, so `S123_US` stays as providers expect it.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A value that cannot be a URL path segment: `.` and `..` (and their percent-encoded forms,
/// which URL parsers resolve the same way) would drop or climb a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a dot segment cannot be sent in a URL path")]
pub struct DotSegment;

/// One URL path segment, percent-encoded.
pub fn path_segment(s: &str) -> Result<String, DotSegment> {
    if matches!(s, "." | "..") {
        return Err(DotSegment);
    }
    Ok(percent_encoding::utf8_percent_encode(s, PATH_SEGMENT).to_string())
}

/// `base` followed by each segment, percent-encoded: the only way outbound URLs take values.
pub fn url_with_segments(base: &str, segments: &[&str]) -> Result<String, DotSegment> {
    let mut url = base.trim_end_matches('/').to_string();
    for segment in segments {
        url.push('/');
        url.push_str(&path_segment(segment)?);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cannot_reshape_the_path() {
        let url =
            url_with_segments("https://h/a/", &["b", "c/d", "e?f#g", "S1_US", "..."]).unwrap();
        assert_eq!(url, "https://h/a/b/c%2Fd/e%3Ff%23g/S1_US/...");
        let parsed = reqwest::Url::parse(&url).unwrap();
        assert_eq!(parsed.path(), "/a/b/c%2Fd/e%3Ff%23g/S1_US/...");
        for dots in [".", ".."] {
            assert_eq!(
                url_with_segments("https://h", &["a", dots]),
                Err(DotSegment)
            );
        }
    }
}
