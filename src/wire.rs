//! Small readers of wire formats shared by the configuration, Roku's payloads and the HTTP
//! edge, so each rule is written (and fixed) once.

use serde::{Deserialize, Deserializer, de::IgnoredAny};

/// An id that arrives as text or as a number: Roku's WCF answers send `channelId` either way,
/// and `ROKU_BRIDGE__PROVIDER__PUBLISHER_ID=123456789` reaches the configuration as a number.
/// Numbers become their decimal text (as `serde_json` prints them); anything else — null,
/// booleans, arrays, objects — reads as absent rather than failing, because a push Roku
/// signed must be decoded whatever else it carries.
pub fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Unsigned(u64),
        Signed(i64),
        Float(f64),
        Other(IgnoredAny),
    }
    Ok(match Option::<Id>::deserialize(d)? {
        Some(Id::Text(s)) => Some(s),
        Some(Id::Unsigned(n)) => Some(n.to_string()),
        Some(Id::Signed(n)) => Some(n.to_string()),
        // serde_json's own float formatting, so a value reads the same as it did as JSON.
        Some(Id::Float(f)) => serde_json::Number::from_f64(f).map(|n| n.to_string()),
        Some(Id::Other(_)) | None => None,
    })
}

/// The token of an `Authorization: Bearer <token>` header value (scheme in any case), trimmed.
/// `None` when the scheme is another one; the token may be empty, and each caller decides
/// what an empty one means.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    authorization
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "string_or_number")]
        id: Option<String>,
    }

    fn read(value: serde_json::Value) -> Option<String> {
        serde_json::from_value::<Holder>(json!({ "id": value }))
            .unwrap()
            .id
    }

    #[test]
    fn ids_are_text_or_numbers_and_nothing_else_fails() {
        assert_eq!(read(json!("0042")).as_deref(), Some("0042"));
        assert_eq!(read(json!(251682)).as_deref(), Some("251682"));
        assert_eq!(read(json!(-7)).as_deref(), Some("-7"));
        assert_eq!(
            read(json!(1.5)).as_deref(),
            Some(json!(1.5).to_string().as_str())
        );
        for absent in [json!(null), json!(true), json!([1]), json!({"a": 1})] {
            assert_eq!(read(absent), None);
        }
        let missing: Holder = serde_json::from_value(json!({})).unwrap();
        assert_eq!(missing.id, None);
    }

    #[test]
    fn bearer_tokens_are_read_in_any_case_of_the_scheme() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("BEARER "), Some(""));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
