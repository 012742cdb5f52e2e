//! Customer emails are masked wherever the console shows them (`j***@example.com`); an
//! operator reveals one on purpose, and that is logged by the caller.

use serde_json::Value;

/// `jane@example.com` → `j***@example.com`; anything without an `@` is masked whole.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        _ => "***".to_string(),
    }
}

/// Whether a string is shaped like an email address (enough to mask it, not to send to it).
pub fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// A decoded event with every email-shaped string masked, at any depth.
pub fn mask_emails_in(value: &Value) -> Value {
    match value {
        Value::String(s) if looks_like_email(s) => Value::String(mask_email(s)),
        Value::Array(items) => Value::Array(items.iter().map(mask_emails_in).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), mask_emails_in(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails_keep_their_first_letter_and_domain() {
        assert_eq!(mask_email("jane@example.com"), "j***@example.com");
        assert_eq!(mask_email("@example.com"), "***");
        assert_eq!(mask_email("no-at-sign"), "***");
    }

    #[test]
    fn emails_are_masked_anywhere_in_an_event() {
        let event = json!({"customer": {"email": "bob@example.org", "id": "rc1"},
                           "list": ["carol@example.net", "x"]});
        assert_eq!(
            mask_emails_in(&event),
            json!({"customer": {"email": "b***@example.org", "id": "rc1"},
                   "list": ["c***@example.net", "x"]})
        );
    }
}
