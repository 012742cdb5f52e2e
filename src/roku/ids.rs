//! Roku transaction ids, compared the way Roku means them.
//!
//! Roku prints one UUID in two spellings, often inside one payload: `transactionId` and
//! `responseKey` undashed (`abcb0b53015211edb4490a58a9feac0c`), `originalTransactionId` dashed
//! (`abcb0b53-0152-11ed-b449-0a58a9feac0c`), and older copies of the same documented events
//! print both undashed. A receipt's `purchaseId`, a push and a validate-transaction answer must
//! meet on the same key, so UUID-shaped ids get one canonical form. Every other id (`579743`,
//! `wci8ef2snsq0z6micdcye2an6m6k5wq2`, 29 hex digits) is opaque and compared exactly: guessing
//! at its structure could merge two different purchases. Pure.

use std::borrow::Cow;

/// Whether `id` is a UUID in one of the two spellings Roku uses: 32 hex digits, or 36
/// characters dashed 8-4-4-4-12. Case does not matter; braces and `urn:uuid:` are not Roku's.
pub fn is_uuid_shaped(id: &str) -> bool {
    let b = id.as_bytes();
    match b.len() {
        32 => b.iter().all(u8::is_ascii_hexdigit),
        36 => b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        }),
        _ => false,
    }
}

/// The form ids are matched and stored under: UUID-shaped ids lowercase and dashed
/// (`abcb0b53-0152-11ed-b449-0a58a9feac0c`), anything else exactly as given (borrowed).
pub fn canonical_id(id: &str) -> Cow<'_, str> {
    if !is_uuid_shaped(id) {
        return Cow::Borrowed(id);
    }
    let hex: Vec<u8> = id
        .bytes()
        .filter(|c| *c != b'-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut out = String::with_capacity(36);
    for (i, c) in hex.iter().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push('-');
        }
        out.push(char::from(*c));
    }
    if out == id {
        Cow::Borrowed(id)
    } else {
        Cow::Owned(out)
    }
}

/// Whether two ids name the same Roku transaction.
pub fn same_id(a: &str, b: &str) -> bool {
    canonical_id(a) == canonical_id(b)
}

/// An id as Roku sent it, with the key it is matched under: store both, show the original.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionId {
    original: String,
    canonical: String,
}

impl TransactionId {
    pub fn new(original: impl Into<String>) -> Self {
        let original = original.into();
        let canonical = canonical_id(&original).into_owned();
        Self {
            original,
            canonical,
        }
    }

    pub fn original(&self) -> &str {
        &self.original
    }

    pub fn canonical(&self) -> &str {
        &self.canonical
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DASHED: &str = "abcb0b53-0152-11ed-b449-0a58a9feac0c";

    #[test]
    fn both_of_roku_s_spellings_meet_on_the_dashed_lowercase_form() {
        for spelling in [
            "abcb0b53015211edb4490a58a9feac0c",
            DASHED,
            "ABCB0B53015211EDB4490A58A9FEAC0C",
            "ABCB0B53-0152-11ED-B449-0A58A9FEAC0C",
            "AbCb0B53015211eDb4490a58A9FeAc0C",
        ] {
            assert_eq!(canonical_id(spelling), DASHED, "{spelling}");
            assert!(same_id(spelling, DASHED));
        }
        assert!(matches!(canonical_id(DASHED), Cow::Borrowed(_)));
    }

    #[test]
    fn the_documented_sale_names_one_transaction_twice() {
        let sale: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/roku-pushes/sale-purchase.json"
        ))
        .unwrap();
        let (tx, original) = (
            sale["transactionId"].as_str().unwrap(),
            sale["originalTransactionId"].as_str().unwrap(),
        );
        assert_ne!(tx, original);
        assert!(same_id(tx, original));
        // And Roku's older copy of the same event prints it undashed.
        let older: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/roku-pushes/sale-purchase.dev-doc-0e42c88.json"
        ))
        .unwrap();
        assert!(same_id(
            older["originalTransactionId"].as_str().unwrap(),
            original
        ));
    }

    #[test]
    fn opaque_ids_stay_exact() {
        for id in [
            "579743",
            "12345",
            "wci8ef2snsq0z6micdcye2an6m6k5wq2",
            "d9dbdfecc41cbb881ab750135029b", // 29 hex digits, from Roku's receiver sample
            "037w1nn4nyzum28gkyj0poqqv7n4cb5q",
            "ABCDEF",
            "{abcb0b53-0152-11ed-b449-0a58a9feac0c}",
            "urn:uuid:abcb0b53-0152-11ed-b449-0a58a9feac0c",
            "abcb0b53-015211ed-b449-0a58a9feac0c",
            "abcb0b53015211edb4490a58a9feac0",
            "",
        ] {
            assert_eq!(canonical_id(id), id, "{id}");
            assert!(!is_uuid_shaped(id), "{id}");
        }
        // Case is meaningful in an opaque id.
        assert!(!same_id(
            "Wci8ef2snsq0z6micdcye2an6m6k5wq2",
            "wci8ef2snsq0z6micdcye2an6m6k5wq2"
        ));
    }

    #[test]
    fn a_transaction_id_keeps_what_roku_sent() {
        let id = TransactionId::new("ABCB0B53015211EDB4490A58A9FEAC0C");
        assert_eq!(id.original(), "ABCB0B53015211EDB4490A58A9FEAC0C");
        assert_eq!(id.canonical(), DASHED);
        assert_eq!(TransactionId::new("579743").canonical(), "579743");
    }
}
