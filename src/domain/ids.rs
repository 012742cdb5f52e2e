//! Ids parsed at the edge. A value of these types has passed the checks once, so the layers
//! below never re-check (or forget to check) them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest transaction id Roku documents (opaque, up to 1024 ASCII characters).
pub const MAX_PURCHASE_ID: usize = 1024;

/// Roku's transaction id for a purchase (`purchaseId` on the device, `transactionId` in pushes
/// and web services). It becomes a URL path segment on the way to Roku and a store key, so it is
/// visible ASCII without the characters that would change a URL's shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PurchaseId(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "a purchase id is 1 to 1024 visible ASCII characters without / ? # % or \\, and not . or .."
)]
pub struct InvalidPurchaseId;

impl PurchaseId {
    pub fn parse(raw: &str) -> Result<Self, InvalidPurchaseId> {
        // `.` and `..` are path segments a URL resolver removes: sent to Roku, the key segment
        // before them would vanish from the URL.
        let ok = !raw.is_empty()
            && !is_dot_segment(raw)
            && raw.len() <= MAX_PURCHASE_ID
            && raw
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'%' | b'\\'));
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(InvalidPurchaseId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// See [`log_form`].
    pub fn log_form(&self) -> String {
        log_form(&self.0)
    }

    /// The form ids are matched in. Roku prints one UUID dashed in one place and undashed in
    /// another (`abcb0b53-0152-11ed-b449-0a58a9feac0c` / `abcb0b53015211edb4490a58a9feac0c`), in
    /// either case; both become the 32 lower-case hex digits. Anything not UUID-shaped is opaque
    /// and stays exactly as sent.
    pub fn canonical(&self) -> String {
        canonical_id(&self.0)
    }
}

/// `.` or `..`: segments that rewrite a URL's path instead of naming something in it.
pub fn is_dot_segment(raw: &str) -> bool {
    matches!(raw, "." | "..")
}

/// How an id that works as a credential (a purchase id opens a session) appears in logs: a
/// short prefix and a digest, enough to correlate lines, not enough to replay.
pub fn log_form(raw: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(raw.as_bytes());
    let prefix: String = raw.chars().take(4).collect();
    format!("{prefix}…{}", hex::encode(&digest[..4]))
}

/// See [`PurchaseId::canonical`]; also used for push transaction ids, which arrive unchecked.
pub fn canonical_id(raw: &str) -> String {
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let dashed = raw.len() == 36
        && raw.split('-').map(str::len).eq([8, 4, 4, 4, 12])
        && hex(&raw.replace('-', ""));
    if (raw.len() == 32 && hex(raw)) || dashed {
        raw.replace('-', "").to_ascii_lowercase()
    } else {
        raw.to_string()
    }
}

impl fmt::Display for PurchaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// The provider's customer id (the access token's `sub`).
    CustomerId
);
string_id!(
    /// Roku's customer id (`rokuCustomerId`, `customerId` in pushes): one Roku account.
    RokuCustomerId
);
string_id!(
    /// The provider's offer id (Cleeng's `S123123123_US`).
    OfferId
);

/// What one receipt row is about: a purchase, or one offer of a bundle's purchase (a bundle is
/// forwarded once per offer, and each part is claimed and confirmed on its own).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReceiptKey {
    pub purchase: PurchaseId,
    /// `Some` for a bundle's part.
    pub offer: Option<OfferId>,
}

impl ReceiptKey {
    pub fn single(purchase: PurchaseId) -> Self {
        Self {
            purchase,
            offer: None,
        }
    }

    pub fn part(purchase: PurchaseId, offer: OfferId) -> Self {
        Self {
            purchase,
            offer: Some(offer),
        }
    }

    /// The store's key: `purchaseId`, or `purchaseId#offerId` for a part. A purchase id never
    /// holds `#`, so the first one separates the two.
    pub fn stored(&self) -> String {
        match &self.offer {
            None => self.purchase.to_string(),
            Some(offer) => format!("{}#{offer}", self.purchase),
        }
    }

    pub fn from_stored(stored: &str) -> Result<Self, InvalidPurchaseId> {
        match stored.split_once('#') {
            None => Ok(Self::single(PurchaseId::parse(stored)?)),
            Some((purchase, offer)) => Ok(Self::part(
                PurchaseId::parse(purchase)?,
                OfferId::new(offer),
            )),
        }
    }
}

impl ReceiptKey {
    /// The key as logs show it: the purchase id in its [`log_form`].
    pub fn log_form(&self) -> String {
        match &self.offer {
            Some(offer) => format!("{}#{offer}", self.purchase.log_form()),
            None => self.purchase.log_form(),
        }
    }
}

impl fmt::Display for ReceiptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stored())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_see_a_prefix_and_a_digest_never_the_whole_id() {
        let id = PurchaseId::parse("abcb0b53-0152-11ed-b449-0a58a9feac0c").unwrap();
        let shown = id.log_form();
        assert!(shown.starts_with("abcb…"), "{shown}");
        assert!(!shown.contains("0a58a9feac0c"));
        assert_eq!(shown, id.log_form(), "stable, so lines correlate");
        assert!(
            PurchaseId::parse("...").is_ok(),
            "only the two dot segments are special"
        );
    }

    #[test]
    fn purchase_ids_refuse_what_would_reshape_a_url() {
        for bad in [
            "", ".", "..", "a/b", "a?b", "a#b", "a%2e", "a\\b", "a b", "é",
        ] {
            assert!(PurchaseId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(PurchaseId::parse(&"x".repeat(1025)).is_err());
        assert!(PurchaseId::parse(&"x".repeat(1024)).is_ok());
        assert!(PurchaseId::parse("380e9932ed9a48e8bd66a6ec00b5efd1").is_ok());
    }

    #[test]
    fn uuids_match_dashed_or_not_in_any_case() {
        let dashed = canonical_id("ABCB0B53-0152-11ed-b449-0a58a9feac0c");
        assert_eq!(dashed, "abcb0b53015211edb4490a58a9feac0c");
        assert_eq!(canonical_id("abcb0b53015211edb4490a58a9feac0c"), dashed);
        // Not UUID-shaped: opaque, exact.
        assert_eq!(canonical_id("Txn-ABC"), "Txn-ABC");
        assert_eq!(
            canonical_id("abcb0b53-015211ed-b449-0a58a9feac0c"),
            "abcb0b53-015211ed-b449-0a58a9feac0c"
        );
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
        assert_eq!(canonical_id(tx), canonical_id(original));
        // And Roku's older copy of the same event prints it undashed.
        let older: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/roku-pushes/sale-purchase.dev-doc-0e42c88.json"
        ))
        .unwrap();
        assert_eq!(
            canonical_id(older["originalTransactionId"].as_str().unwrap()),
            canonical_id(original)
        );
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
        }
        // Case is meaningful in an opaque id.
        assert_ne!(
            canonical_id("Wci8ef2snsq0z6micdcye2an6m6k5wq2"),
            canonical_id("wci8ef2snsq0z6micdcye2an6m6k5wq2")
        );
    }

    #[test]
    fn receipt_keys_round_trip_through_the_store() {
        let p = PurchaseId::parse("p1").unwrap();
        let part = ReceiptKey::part(p.clone(), OfferId::new("S1_US"));
        assert_eq!(part.stored(), "p1#S1_US");
        assert_eq!(ReceiptKey::from_stored("p1#S1_US").unwrap(), part);
        assert_eq!(
            ReceiptKey::from_stored("p1").unwrap(),
            ReceiptKey::single(p)
        );
    }
}
