//! Catalog 2.0: products, purchase options, add-ons and bundles.
//!
//! Pure domain logic: no I/O, no clock. Callers pass today's date or the current time in
//! milliseconds wherever time matters.
//!
//! * [`Catalog::from_config`] validates a `[catalog]` section ([`validate`] lists every
//!   failure) and indexes SKU → products → provider offers.
//! * [`query`] answers QueryPurchaseOptions; [`check_order`] pre-validates a DoOrder.
//! * [`apply_events`] folds push events into subscription state and revokes orphaned add-ons.
//! * [`upgrade_preview`] estimates the charge for a plan change.

mod date;
mod lifecycle;
mod model;
mod orders;
mod proration;
mod query;
mod tiers;
mod validate;

pub use date::Date;
pub use lifecycle::{
    Event, EventKind, LifecycleOutcome, Revoked, Subscription, apply_events, orphaned_addons,
};
pub use model::{
    BaseOffer, BillingPeriod, Catalog, CatalogConfig, OptionKind, OwnedPurchase, Phase, Product,
    PurchaseOption, PurchaseStatus,
};
pub use orders::{OrderItem, ReplacedPurchase, Violation, check_order};
pub use proration::{ChangeKind, Preview, PreviewError, upgrade_preview};
pub use query::{
    BillingPlan, Cost, OptionView, OwnState, PhaseView, Query, QueryError, Relation, query,
};
pub use tiers::{format_usd, parse_usd, tier_price_cents};
pub use validate::{CatalogError, MAX_DISPLAY_NAME_CHARS, validate};

/// A commented example `[catalog]` section, also used by the tests to prove it validates.
pub const EXAMPLE_TOML: &str = include_str!("../../config/catalog.example.toml");

#[cfg(test)]
pub(crate) mod testutil {
    use super::{Catalog, CatalogConfig};

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        catalog: CatalogConfig,
    }

    pub fn parse(toml_text: &str) -> CatalogConfig {
        toml::from_str::<File>(toml_text).expect("parse").catalog
    }

    pub fn example_config() -> CatalogConfig {
        parse(super::EXAMPLE_TOML)
    }

    pub fn example() -> Catalog {
        Catalog::from_config(example_config()).expect("example validates")
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::example_config;
    use super::*;

    #[test]
    fn example_parses_and_validates_clean() {
        let cfg = example_config();
        assert_eq!(cfg.products.len(), 4);
        assert_eq!(cfg.purchase_options.len(), 6);
        assert_eq!(validate(&cfg), Vec::<CatalogError>::new());
        let cat = Catalog::from_config(cfg).unwrap();
        let bundle = cat.option("premium-sports-monthly").unwrap();
        assert_eq!(bundle.offer_start, Date::parse("2025-01-01"));
        assert_eq!(bundle.language, "en");
        assert_eq!(
            cat.option("premium-monthly").unwrap().base_offer,
            BaseOffer::Introductory {
                periods: 3,
                tier: 1005
            }
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let text = "[catalog]\n[[catalog.products]]\nid = \"a\"\nname = \"A\"\naddons = true\n";
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct File {
            catalog: CatalogConfig,
        }
        let err = toml::from_str::<File>(text).unwrap_err().to_string();
        assert!(err.contains("addons"), "{err}");
    }

    #[test]
    fn malformed_offer_date_is_rejected_at_parse() {
        let text = EXAMPLE_TOML.replace("2030-12-31", "2030-02-30");
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct File {
            catalog: CatalogConfig,
        }
        let err = toml::from_str::<File>(&text).unwrap_err().to_string();
        assert!(err.contains("2030-02-30"), "{err}");
    }

    #[test]
    fn empty_section_is_empty_catalog() {
        let cfg = testutil::parse("[catalog]\n");
        assert_eq!(cfg, CatalogConfig::default());
        assert!(Catalog::from_config(cfg).unwrap().is_empty());
    }
}
