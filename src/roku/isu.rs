//! Instant Signup: Roku's tokens, the email hash, and the offer card text rules, as Roku
//! documents them for partners. Pure apart from the clock.
//!
//! Roku signs its calls with HS512 and the Roku Pay API key, and publishes nothing else: no
//! key id, no test vectors. So the verifier pins everything it can — the algorithm (no
//! confusion with `none` or RS/HS256), the issuer, the subject per endpoint (Roku's spelling,
//! `instant_signup_elegibility`), the audience (the app name agreed with Roku), `exp`, and an
//! `iat` not in the future — and accepts a second key during a key rotation.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha512};

use crate::wire::bearer_token;

pub const ISSUER: &str = "roku_instant_signup";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Images,
    Products,
}

impl Endpoint {
    /// The `sub` Roku puts in tokens for this endpoint, spelled as Roku spells it.
    pub fn subject(self) -> &'static str {
        match self {
            Endpoint::Images => "instant_signup_metadata",
            Endpoint::Products => "instant_signup_elegibility",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsuAuthError {
    #[error("no Bearer token")]
    Missing,
    #[error("token refused: {0}")]
    Invalid(&'static str),
}

#[derive(Deserialize)]
struct Claims {
    iat: Option<u64>,
}

/// Verifies `Authorization: Bearer …` for `endpoint` against any of `keys`.
pub fn verify(
    authorization: Option<&str>,
    keys: &[&[u8]],
    app_name: &str,
    endpoint: Endpoint,
    leeway_secs: u64,
) -> Result<(), IsuAuthError> {
    let token = authorization
        .and_then(bearer_token)
        .filter(|t| !t.is_empty())
        .ok_or(IsuAuthError::Missing)?;
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| IsuAuthError::Invalid("not a JWT"))?;
    if header.alg != Algorithm::HS512 {
        return Err(IsuAuthError::Invalid("algorithm is not HS512"));
    }
    let mut validation = Validation::new(Algorithm::HS512);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[app_name]);
    validation.sub = Some(endpoint.subject().to_string());
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = leeway_secs;
    let mut last = IsuAuthError::Invalid("bad signature");
    for key in keys {
        // jsonwebtoken compares the HMAC in constant time.
        match jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key), &validation) {
            Ok(data) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                return match data.claims.iat {
                    Some(iat) if iat > now + leeway_secs => {
                        Err(IsuAuthError::Invalid("issued in the future"))
                    }
                    _ => Ok(()),
                };
            }
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind::*;
                last = IsuAuthError::Invalid(match e.kind() {
                    InvalidSignature => "bad signature",
                    ExpiredSignature => "expired",
                    InvalidIssuer => "wrong issuer",
                    InvalidAudience => "wrong audience",
                    InvalidSubject => "wrong subject for this endpoint",
                    MissingRequiredClaim(_) => "missing claim",
                    _ => "malformed",
                });
                // Only a bad signature is worth trying the other key for.
                if !matches!(e.kind(), InvalidSignature) {
                    return Err(last);
                }
            }
        }
    }
    Err(last)
}

/// SHA-512 of the lower-cased email, 128 lower-case hex characters: Roku's
/// `roku-reserved-email-hash`.
pub fn email_hash(email: &str) -> String {
    hex::encode(Sha512::digest(email.trim().to_lowercase().as_bytes()))
}

/// The header's hash in our canonical form, or `None` when it is not a SHA-512 hex digest.
pub fn normalize_hash(header: &str) -> Option<String> {
    let h = header.trim();
    (h.len() == 128 && h.bytes().all(|b| b.is_ascii_hexdigit())).then(|| h.to_ascii_lowercase())
}

/// One line of an operator's subscriber list: an email (hashed here, so the list can be a
/// plain export) or an already-computed hash.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportLine {
    Blank,
    Hash(String),
    Invalid,
}

pub fn parse_import_line(line: &str) -> ImportLine {
    let line = line.trim().trim_start_matches('\u{feff}');
    if line.is_empty() || line.starts_with('#') {
        ImportLine::Blank
    } else if line.contains('@') {
        ImportLine::Hash(email_hash(line))
    } else {
        normalize_hash(line).map_or(ImportLine::Invalid, ImportLine::Hash)
    }
}

/// Roku forbids pricing in the offer card text: it fills prices in from the catalog. The
/// configuration's validation applies it to every card and product description.
pub fn mentions_price(text: &str) -> bool {
    let lower = text.to_lowercase();
    let currency = ['$', '€', '£', '¥', '₹'].iter().any(|c| lower.contains(*c));
    let words = [
        "usd",
        "price",
        "/mo",
        "per month",
        "per year",
        "a month",
        "a year",
        "/yr",
        "cents",
    ]
    .iter()
    .any(|w| lower.contains(w));
    // A decimal amount such as 9.99.
    let amount = lower.as_bytes().windows(4).any(|w| {
        w[0].is_ascii_digit() && w[1] == b'.' && w[2].is_ascii_digit() && w[3].is_ascii_digit()
    });
    currency || words || amount
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_hash_is_sha512_hex_of_the_lower_cased_email() {
        // sha512("test@example.com") from Python's hashlib, another implementation.
        let expected = "3af3174fa10ef8bd28ce7620c25fe18d1d5f93b9b3c4db3413402a0ec66369eab560c8cc0cefed323a2213ddec7c8a2c9ab912761215ada3e3c8c447cb318e07";
        assert_eq!(email_hash("test@example.com"), expected);
        assert_eq!(email_hash(" Test@Example.com "), expected);
    }

    #[test]
    fn hash_headers_are_normalised_or_refused() {
        let h = email_hash("a@b.c");
        assert_eq!(
            normalize_hash(&h.to_uppercase()).as_deref(),
            Some(h.as_str())
        );
        assert_eq!(normalize_hash(&h[..127]), None);
        assert_eq!(normalize_hash(&format!("{}g", &h[..127])), None);
        assert_eq!(normalize_hash(""), None);
    }

    #[test]
    fn import_lines_are_emails_or_hashes() {
        let h = email_hash("ann@example.com");
        assert_eq!(
            parse_import_line("  Ann@Example.com\r"),
            ImportLine::Hash(h.clone())
        );
        assert_eq!(
            parse_import_line("\u{feff}ann@example.com"),
            ImportLine::Hash(h.clone())
        );
        assert_eq!(parse_import_line(&h.to_uppercase()), ImportLine::Hash(h));
        assert_eq!(parse_import_line(""), ImportLine::Blank);
        assert_eq!(
            parse_import_line("# exported 2026-11-01"),
            ImportLine::Blank
        );
        assert_eq!(parse_import_line("not a hash"), ImportLine::Invalid);
    }

    #[test]
    fn prices_are_spotted() {
        for text in [
            "Only $9.99",
            "9.99 a month",
            "USD 5",
            "Just 4.99",
            "€5",
            "price drop",
            "10/mo",
        ] {
            assert!(mentions_price(text), "{text}");
        }
        for text in [
            "Your favorite movies from your favorite decade",
            "Stream 4K on 2 screens",
            "Over 1000 titles",
        ] {
            assert!(!mentions_price(text), "{text}");
        }
    }
}
