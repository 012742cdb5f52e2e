//! Catalog 2.0 configuration types and the validated, indexed [`Catalog`].
//!
//! Field names follow Roku's Catalog 2.0 vocabulary (product, purchase option, add-on,
//! bundle, exclusivity group, base offer) so the config reads like the Roku dashboard.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::date::Date;
use super::tiers::tier_price_cents;
use super::validate::{CatalogError, validate};

/// The `[catalog]` config section. `Default` is an empty catalog, which disables Catalog 2.0
/// features rather than failing startup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    #[serde(default)]
    pub products: Vec<Product>,
    #[serde(default)]
    pub purchase_options: Vec<PurchaseOption>,
}

/// A Roku product (`productId`): what a customer is entitled to, independent of price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub addon: bool,
    /// Base products any one of which unlocks this add-on.
    #[serde(default)]
    pub prerequisites: Vec<String>,
    /// Roku `productExclusivityGroup`: a customer holds at most one product per group.
    #[serde(default)]
    pub exclusivity_group: Option<String>,
    /// Provider offer ids this product entitles (e.g. `S123_US`).
    #[serde(default)]
    pub offers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BillingPeriod {
    Monthly,
    Quarterly,
    Annual,
}

impl BillingPeriod {
    pub fn months(self) -> u32 {
        match self {
            BillingPeriod::Monthly => 1,
            BillingPeriod::Quarterly => 3,
            BillingPeriod::Annual => 12,
        }
    }

    /// ISO-8601 duration of `n` periods, in the unit Roku's catalog uses for it.
    pub fn iso_duration(self, n: u32) -> String {
        match self {
            BillingPeriod::Annual => format!("P{n}Y"),
            other => format!("P{}M", other.months() * n),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BillingPeriod::Monthly => "monthly",
            BillingPeriod::Quarterly => "quarterly",
            BillingPeriod::Annual => "annual",
        }
    }
}

/// The offer a purchase option starts with before the regular price applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BaseOffer {
    #[default]
    None,
    /// Exactly one of `days`/`months`; validation enforces that because TOML can't.
    FreeTrial {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        days: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        months: Option<u32>,
    },
    /// `periods` billing periods at price `tier`.
    Introductory { periods: u32, tier: u32 },
}

impl BaseOffer {
    pub fn phase(&self) -> Phase {
        match self {
            BaseOffer::None => Phase::Regular,
            BaseOffer::FreeTrial { .. } => Phase::Trial,
            BaseOffer::Introductory { .. } => Phase::Introductory,
        }
    }
}

/// A pricing phase of a billing plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Trial,
    Introductory,
    Regular,
}

/// A purchase option (SKU): how one or more products are sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseOption {
    pub sku: String,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    pub billing_period: BillingPeriod,
    /// Regular price tier.
    pub tier: u32,
    #[serde(default)]
    pub base_offer: BaseOffer,
    /// One product for a base or add-on option; several for a bundle.
    pub products: Vec<String>,
    /// First day the option is offered (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_start: Option<Date>,
    /// Last day the option is offered (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_end: Option<Date>,
    #[serde(default = "default_language")]
    pub language: String,
}

fn default_language() -> String {
    "en".to_owned()
}

impl PurchaseOption {
    pub fn is_offered_on(&self, day: Date) -> bool {
        self.offer_start.is_none_or(|s| s <= day) && self.offer_end.is_none_or(|e| day <= e)
    }

    /// Regular price in cents; validated catalogs always have one.
    pub fn price_cents(&self) -> Option<u64> {
        tier_price_cents(self.tier)
    }
}

/// Catalog 2.0 option type, derived from the products rather than configured, so it can't
/// contradict them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionKind {
    Base,
    Addon,
    Bundle,
}

/// Roku `purchaseStatus` of a customer's purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum PurchaseStatus {
    #[default]
    Active,
    Inactive,
    /// A downgrade waiting for the old plan to expire: not yet entitled.
    PendingActive,
    /// A plan on its way out (cancelled, or replaced by a downgrade): entitled until expiry.
    PendingInactive,
}

impl PurchaseStatus {
    /// Whether the customer has access right now.
    pub fn is_entitled(self) -> bool {
        matches!(
            self,
            PurchaseStatus::Active | PurchaseStatus::PendingInactive
        )
    }
}

/// A purchase the customer already holds, as input to queries and order checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnedPurchase {
    pub sku: String,
    /// Products of the purchase; empty means "look them up from the catalog by SKU".
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub status: PurchaseStatus,
}

impl OwnedPurchase {
    pub fn active(sku: &str) -> OwnedPurchase {
        OwnedPurchase {
            sku: sku.to_owned(),
            products: Vec::new(),
            status: PurchaseStatus::Active,
        }
    }
}

/// A validated catalog with lookups by SKU, product id and offer id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    config: CatalogConfig,
    products: BTreeMap<String, usize>,
    options: BTreeMap<String, usize>,
    by_offer: BTreeMap<String, Vec<usize>>,
}

impl Catalog {
    /// Validates and indexes a config; returns every validation failure, not just the first,
    /// so an operator fixes the file in one pass.
    pub fn from_config(config: CatalogConfig) -> Result<Catalog, Vec<CatalogError>> {
        let errors = validate(&config);
        if !errors.is_empty() {
            return Err(errors);
        }
        let products = index(config.products.iter().map(|p| p.id.as_str()));
        let options = index(config.purchase_options.iter().map(|o| o.sku.as_str()));
        let mut by_offer: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, p) in config.products.iter().enumerate() {
            for offer in &p.offers {
                let entry = by_offer.entry(offer.clone()).or_default();
                if !entry.contains(&i) {
                    entry.push(i);
                }
            }
        }
        Ok(Catalog {
            config,
            products,
            options,
            by_offer,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.config.products.is_empty() && self.config.purchase_options.is_empty()
    }

    pub fn config(&self) -> &CatalogConfig {
        &self.config
    }

    pub fn products(&self) -> &[Product] {
        &self.config.products
    }

    pub fn purchase_options(&self) -> &[PurchaseOption] {
        &self.config.purchase_options
    }

    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.get(id).map(|&i| &self.config.products[i])
    }

    pub fn option(&self, sku: &str) -> Option<&PurchaseOption> {
        self.options
            .get(sku)
            .map(|&i| &self.config.purchase_options[i])
    }

    /// Base, add-on or bundle, derived from the option's products.
    pub fn option_kind(&self, sku: &str) -> Option<OptionKind> {
        self.option(sku).map(|o| self.kind_of(o))
    }

    pub(crate) fn kind_of(&self, option: &PurchaseOption) -> OptionKind {
        match option.products.as_slice() {
            [one] if self.product(one).is_some_and(|p| p.addon) => OptionKind::Addon,
            [_] => OptionKind::Base,
            _ => OptionKind::Bundle,
        }
    }

    /// `(product_id, offer_id)` pairs a SKU entitles; a bundle yields several.
    pub fn offers_for_sku(&self, sku: &str) -> Option<Vec<(String, String)>> {
        let option = self.option(sku)?;
        let mut out = Vec::new();
        for pid in &option.products {
            if let Some(p) = self.product(pid) {
                out.extend(p.offers.iter().map(|o| (p.id.clone(), o.clone())));
            }
        }
        Some(out)
    }

    /// Products that entitle a provider offer (reverse of [`Catalog::offers_for_sku`]).
    pub fn products_for_offer(&self, offer_id: &str) -> Vec<&Product> {
        self.by_offer
            .get(offer_id)
            .map(|ix| ix.iter().map(|&i| &self.config.products[i]).collect())
            .unwrap_or_default()
    }

    /// Products of an owned purchase, falling back to the catalog when the caller didn't
    /// record them.
    pub fn owned_products<'a>(&'a self, owned: &'a OwnedPurchase) -> Vec<&'a str> {
        if owned.products.is_empty() {
            self.option(&owned.sku)
                .map(|o| o.products.iter().map(String::as_str).collect())
                .unwrap_or_default()
        } else {
            owned.products.iter().map(String::as_str).collect()
        }
    }

    /// Exclusivity groups of a set of products.
    pub(crate) fn groups_of<'a, I>(&'a self, products: I) -> BTreeSet<&'a str>
    where
        I: IntoIterator<Item = &'a str>,
    {
        products
            .into_iter()
            .filter_map(|p| self.product(p)?.exclusivity_group.as_deref())
            .collect()
    }
}

fn index<'a>(keys: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    keys.enumerate().map(|(i, k)| (k.to_owned(), i)).collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::example;
    use super::*;

    #[test]
    fn empty_default_catalog() {
        let c = Catalog::from_config(CatalogConfig::default()).unwrap();
        assert!(c.is_empty());
        assert!(c.option("x").is_none());
        assert!(c.offers_for_sku("x").is_none());
        assert!(c.products_for_offer("S1_US").is_empty());
    }

    #[test]
    fn sku_to_offers_and_back() {
        let c = example();
        assert!(!c.is_empty());
        assert_eq!(
            c.offers_for_sku("basic-monthly").unwrap(),
            vec![("basic".to_owned(), "S100_US".to_owned())]
        );
        let bundle = c.offers_for_sku("premium-sports-monthly").unwrap();
        assert_eq!(
            bundle,
            vec![
                ("premium".to_owned(), "S200_US".to_owned()),
                ("sports".to_owned(), "S300_US".to_owned()),
            ]
        );
        let ids: Vec<&str> = c
            .products_for_offer("S300_US")
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(ids, ["sports", "sportsplus"]);
        assert!(c.products_for_offer("S999_US").is_empty());
        assert!(c.offers_for_sku("nope").is_none());
    }

    #[test]
    fn option_kinds() {
        let c = example();
        assert_eq!(c.option_kind("basic-monthly"), Some(OptionKind::Base));
        assert_eq!(c.option_kind("sports-monthly"), Some(OptionKind::Addon));
        assert_eq!(
            c.option_kind("premium-sports-monthly"),
            Some(OptionKind::Bundle)
        );
        assert_eq!(c.option_kind("nope"), None);
    }

    #[test]
    fn iso_durations() {
        assert_eq!(BillingPeriod::Monthly.iso_duration(1), "P1M");
        assert_eq!(BillingPeriod::Quarterly.iso_duration(2), "P6M");
        assert_eq!(BillingPeriod::Annual.iso_duration(1), "P1Y");
    }

    #[test]
    fn base_offer_rejects_unknown_fields() {
        #[derive(Deserialize)]
        struct W {
            #[allow(dead_code)]
            o: BaseOffer,
        }
        let bad = "o = { type = \"free_trial\", dayz = 7 }";
        assert!(toml::from_str::<W>(bad).is_err());
        let ok = "o = { type = \"introductory\", periods = 3, tier = 1005 }";
        assert!(toml::from_str::<W>(ok).is_ok());
    }
}
