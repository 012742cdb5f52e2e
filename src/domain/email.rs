//! Email addresses as accounts are keyed by: one form per address, so the same person cannot
//! be two accounts, and no character that shows one thing and stores another.

use unicode_normalization::UnicodeNormalization;

/// Longest address accepted (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the email address is not valid")]
pub struct InvalidEmail;

/// Characters that change how text is displayed without being seen: bidirectional overrides
/// and isolates (an address that reads as another), zero-width joiners and spaces, the BOM.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

/// Trimmed, NFC-normalised, the domain lower-cased (domains are case-insensitive; the local
/// part is the provider's to interpret and stays as typed). Refuses whitespace, control and
/// invisible characters, and anything not shaped `local@domain.tld`.
pub fn normalize_email(raw: &str) -> Result<String, InvalidEmail> {
    let email: String = raw.trim().nfc().collect();
    if email.len() > MAX_EMAIL
        || email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
    {
        return Err(InvalidEmail);
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(InvalidEmail);
    };
    let shaped = !local.is_empty()
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.');
    if !shaped {
        return Err(InvalidEmail);
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

/// The key an account's sign-in budget is kept under: the whole address lower-cased, so case
/// games do not buy a guesser a fresh budget.
pub fn account_key(email: &str) -> String {
    email.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_form_per_address() {
        assert_eq!(
            normalize_email("  Ann@Example.COM ").unwrap(),
            "Ann@example.com"
        );
        // "é" precomposed and as e + combining acute are one address.
        assert_eq!(
            normalize_email("re\u{0301}my@example.com").unwrap(),
            normalize_email("r\u{00E9}my@example.com").unwrap()
        );
        assert_eq!(account_key("Ann@example.com"), "ann@example.com");
    }

    #[test]
    fn invisible_and_reordering_characters_are_refused() {
        for bad in [
            "ann\u{202E}moc.elpmaxe@example.com",
            "an\u{200B}n@example.com",
            "ann@exa\u{200D}mple.com",
            "\u{FEFF}ann@example.com",
            "ann@example.com\u{2066}",
            "ann example@example.com",
            "ann@localhost",
            "@example.com",
            "a@b@example.com",
        ] {
            assert_eq!(normalize_email(bad), Err(InvalidEmail), "{bad:?}");
        }
    }
}
