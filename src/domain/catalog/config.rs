//! The `[catalog]` config section, in Roku's own field names and values.
//!
//! An operator copies what the Developer Dashboard shows (product id, prerequisites,
//! exclusivity group, purchase option type, price tier, trial or introductory offer) and the
//! bridge renders it back in GetCatalog's shape, so one vocabulary runs end to end. Only
//! `offers` (the provider's offer ids a product entitles) is the bridge's own.

use serde::{Deserialize, Serialize};

use super::date::Date;
use super::legacy;
use super::tiers::tier_price_cents;
use super::vocab::{Duration, OptionType, PhaseType};

/// The `[catalog]` config section. `Default` is an empty catalog, which disables Catalog 2.0
/// features rather than failing startup.
///
/// Read through a JSON value first so a file still in the pre-Roku-vocabulary shape is
/// refused with the rename it needs, instead of a bare "unknown field".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    try_from = "serde_json::Value"
)]
pub struct CatalogConfig {
    #[serde(default)]
    pub products: Vec<Product>,
    #[serde(default)]
    pub purchase_options: Vec<PurchaseOption>,
}

/// The derive without the legacy check, which `try_from` needs to finish the job.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fields {
    #[serde(default)]
    products: Vec<Product>,
    #[serde(default)]
    purchase_options: Vec<PurchaseOption>,
}

impl TryFrom<serde_json::Value> for CatalogConfig {
    type Error = String;

    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        if let Some(rename) = legacy::first_rename(&value) {
            return Err(rename);
        }
        let f: Fields = serde_json::from_value(value).map_err(|e| e.to_string())?;
        Ok(CatalogConfig {
            products: f.products,
            purchase_options: f.purchase_options,
        })
    }
}

/// A Roku product (`productId`): what a customer is entitled to, independent of price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Product {
    pub product_id: String,
    pub name: String,
    #[serde(default)]
    pub addon: bool,
    /// Base products any one of which unlocks this add-on.
    #[serde(default)]
    pub prerequisites: Vec<String>,
    /// The Dashboard's "Product exclusivity group": a customer holds at most one product of a
    /// group. GetCatalog lists the group's product ids under the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_exclusivity_group: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlement_ids: Vec<EntitlementId>,
    /// Provider offer ids this product entitles (e.g. `S123_US`).
    #[serde(default)]
    pub offers: Vec<String>,
}

/// `entitlementIds[]` of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntitlementId {
    pub entitlement_key: String,
    pub entitlement_scope: String,
}

/// A purchase option (SKU): how one or more products are sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PurchaseOption {
    pub sku: String,
    /// The Dashboard's display name, shown on the device.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `MonthlySub`, `QuarterlySub` or `YearlySub`: the billing period.
    #[serde(rename = "type")]
    pub kind: OptionType,
    /// Regular price tier; the cost GetCatalog shows is derived from it.
    pub tier: u32,
    /// The base offer, if any: one `FreeTrial` or `ReducedPrice` phase. The `RegularPrice`
    /// phase follows from `type` and `tier`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<OfferPhase>,
    /// One product for a base or add-on option; several for a bundle.
    pub product_ids: Vec<String>,
    /// First day the option is offered (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_start_date: Option<Date>,
    /// Last day the option is offered (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_end_date: Option<Date>,
    /// Language of `name`; English names must be ASCII on Roku.
    #[serde(default = "default_language")]
    pub language: String,
}

/// A trial or introductory phase, as the Dashboard's "Base offer" states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfferPhase {
    #[serde(rename = "type")]
    pub kind: PhaseType,
    /// Shown as the phase `name`; a default is derived from the type when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub duration: Duration,
    /// Price tier of a `ReducedPrice` phase; a free trial has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<u32>,
}

fn default_language() -> String {
    "en".to_owned()
}

impl PurchaseOption {
    pub fn is_offered_on(&self, day: Date) -> bool {
        self.offer_start_date.is_none_or(|s| s <= day)
            && self.offer_end_date.is_none_or(|e| day <= e)
    }

    /// Regular price in cents; validated catalogs always have one.
    pub fn price_cents(&self) -> Option<u64> {
        tier_price_cents(self.tier)
    }

    /// The trial or introductory phase, when the option has one.
    pub fn offer_phase(&self) -> Option<&OfferPhase> {
        self.phases.first()
    }
}
