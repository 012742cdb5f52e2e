//! Catalog 2.0: products, purchase options, add-ons and bundles, in Roku's vocabulary.
//!
//! Pure domain logic: no I/O, no clock. Callers pass today's date or the current time in
//! milliseconds wherever time matters.
//!
//! * [`CatalogConfig`] is the `[catalog]` section in Roku's field names; [`validate`] lists
//!   every failure and [`Catalog::from_config`] indexes SKU → products → provider offers.
//! * [`get_catalog`] renders GetCatalog's result; [`query_options`] / [`query_purchases`]
//!   answer QueryPurchaseOptions over such maps; [`check_order`] pre-validates DoOrder items.
//! * [`get_purchases`] renders GetPurchases from the bridge's subscription rows and receipts.
//! * [`orphaned_addons`] finds add-ons left without a base; [`upgrade_preview`] estimates the
//!   charge for a plan change.

mod config;
mod date;
mod legacy;
mod lifecycle;
mod model;
mod orders;
mod proration;
mod purchases;
mod query;
mod shapes;
mod tiers;
mod validate;
mod vocab;

pub use config::{CatalogConfig, EntitlementId, OfferPhase, Product, PurchaseOption};
pub use date::{Date, iso_from_unix_ms};
pub use lifecycle::{Revoked, entitled_products, orphaned_addons};
pub use model::{Catalog, OptionKind, OwnedPurchase, PurchaseStatus};
pub use orders::{OrderItem, ReplacedPurchase, Violation, check_order};
pub use proration::{ChangeKind, Preview, PreviewError, upgrade_preview};
pub use purchases::{
    Entitlement, GetPurchases, Purchase, ReceiptFact, SubscriptionFact, get_purchases, state_of,
};
pub use query::{Cost, Query, QueryError, QueryParams, query_options, query_purchases};
pub use shapes::{
    BillingPlan, CatalogOption, CatalogProduct, GetCatalog, PhaseView, get_catalog, render_option,
    render_product,
};
pub use tiers::{format_usd, parse_usd, tier_price_cents};
pub use validate::{CatalogError, MAX_DISPLAY_NAME_CHARS, validate};
pub use vocab::{
    BillingFrequency, BillingType, Duration, DurationUnit, OptionType, PhaseType, PurchaseState,
    Relation,
};

/// A commented example `[catalog]` section, also used by the tests to prove it validates.
pub const EXAMPLE_TOML: &str = include_str!("../../../config/catalog.example.toml");

/// QueryPurchaseOptions over the configured catalog as of `today`.
pub fn query(
    catalog: &Catalog,
    queries: &[Query],
    today: Date,
) -> Result<std::collections::BTreeMap<String, CatalogOption>, QueryError> {
    let view = get_catalog(catalog);
    query_options(
        &view.purchase_options_map,
        &view.products_map,
        queries,
        Some(today),
    )
}

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
        assert_eq!(bundle.offer_start_date, Date::parse("2025-01-01"));
        assert_eq!(bundle.language, "en");
        assert_eq!(
            cat.option("premium-monthly").unwrap().phases,
            [OfferPhase {
                kind: PhaseType::ReducedPrice,
                name: None,
                duration: Duration {
                    quantity: 3,
                    unit: DurationUnit::Month
                },
                tier: Some(1005)
            }]
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let text =
            "[catalog]\n[[catalog.products]]\nproductId = \"a\"\nname = \"A\"\naddons = true\n";
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
    fn old_shape_is_refused_naming_the_rename() {
        let old = "[catalog]\n[[catalog.products]]\nid = \"a\"\nname = \"A\"\n";
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct File {
            catalog: CatalogConfig,
        }
        let err = toml::from_str::<File>(old).unwrap_err().to_string();
        assert!(
            err.contains("catalog.products[0].id") && err.contains("productId"),
            "{err}"
        );
    }

    #[test]
    fn empty_section_is_empty_catalog() {
        let cfg = testutil::parse("[catalog]\n");
        assert_eq!(cfg, CatalogConfig::default());
        assert!(Catalog::from_config(cfg).unwrap().is_empty());
    }
}
