//! GetCatalog's result shapes (`products`, `purchaseOptions` and their maps), rendered from the
//! configured catalog and read back from what a channel sends, so a channel can hand the
//! bridge the maps it got from either the device or the bridge.
//!
//! Reading is lenient about fields Roku may add (the device's maps carry more than this
//! crate renders) and strict about values: an unknown `type` is an error, not a guess.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::config::{EntitlementId, OfferPhase, PurchaseOption};
use super::model::{Catalog, OptionKind};
use super::tiers::{format_usd, tier_price_cents};
use super::vocab::{BillingFrequency, BillingType, Duration, OptionType, PhaseType, PurchaseState};

/// `purchaseOptions[]` of GetCatalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogOption {
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_start_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_end_date: Option<String>,
    /// Localized regular cost, e.g. `$9.99`.
    pub cost: String,
    #[serde(rename = "type")]
    pub kind: OptionType,
    #[serde(default)]
    pub addon: bool,
    #[serde(default)]
    pub billing_plans: Vec<BillingPlan>,
}

/// `billingPlans[]` of a purchase option or purchase. The purchase-only fields stay absent in
/// GetCatalog's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingPlan {
    pub billing_type: BillingType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_id: Option<String>,
    #[serde(default)]
    pub product_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PurchaseState>,
    /// Subscriptions only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseView>,
    /// Digital content only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
}

/// `phases[]` of a billing plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseView {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: PhaseType,
    pub cost: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_end_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// Present for `ReducedPrice` and `RegularPrice` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_frequency: Option<BillingFrequency>,
}

/// `products[]` of GetCatalog (and of GetPurchases).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogProduct {
    pub product_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub purchase_options: Vec<String>,
    #[serde(default)]
    pub entitlement_ids: Vec<EntitlementId>,
    #[serde(default)]
    pub addon: bool,
    #[serde(default)]
    pub prerequisites: Vec<String>,
    /// Every product of this product's exclusivity group, itself included: none of them may
    /// be held already (unless upgrading). Empty for a product in no group.
    #[serde(default)]
    pub product_exclusivity_group: Vec<String>,
}

/// GetCatalog's `result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetCatalog {
    pub products: Vec<CatalogProduct>,
    pub products_map: BTreeMap<String, CatalogProduct>,
    pub purchase_options: Vec<CatalogOption>,
    pub purchase_options_map: BTreeMap<String, CatalogOption>,
}

/// The whole configured catalog in GetCatalog's shape.
pub fn get_catalog(catalog: &Catalog) -> GetCatalog {
    let products: Vec<CatalogProduct> = catalog
        .products()
        .iter()
        .map(|p| render_product(catalog, &p.product_id))
        .collect();
    let purchase_options: Vec<CatalogOption> = catalog
        .purchase_options()
        .iter()
        .map(|o| render_option(catalog, o))
        .collect();
    GetCatalog {
        products_map: products
            .iter()
            .map(|p| (p.product_id.clone(), p.clone()))
            .collect(),
        purchase_options_map: purchase_options
            .iter()
            .map(|o| (o.sku.clone(), o.clone()))
            .collect(),
        products,
        purchase_options,
    }
}

/// One configured product in Roku's shape; unknown ids render as a bare product.
pub fn render_product(catalog: &Catalog, product_id: &str) -> CatalogProduct {
    let Some(p) = catalog.product(product_id) else {
        return CatalogProduct {
            product_id: product_id.to_owned(),
            name: product_id.to_owned(),
            purchase_options: Vec::new(),
            entitlement_ids: Vec::new(),
            addon: false,
            prerequisites: Vec::new(),
            product_exclusivity_group: Vec::new(),
        };
    };
    let group: Vec<String> = match &p.product_exclusivity_group {
        Some(g) => catalog
            .products()
            .iter()
            .filter(|q| q.product_exclusivity_group.as_ref() == Some(g))
            .map(|q| q.product_id.clone())
            .collect(),
        None => Vec::new(),
    };
    CatalogProduct {
        product_id: p.product_id.clone(),
        name: p.name.clone(),
        purchase_options: catalog
            .purchase_options()
            .iter()
            .filter(|o| o.product_ids.contains(&p.product_id))
            .map(|o| o.sku.clone())
            .collect(),
        entitlement_ids: p.entitlement_ids.clone(),
        addon: p.addon,
        prerequisites: p.prerequisites.clone(),
        product_exclusivity_group: group,
    }
}

/// One configured purchase option in Roku's shape.
pub fn render_option(catalog: &Catalog, o: &PurchaseOption) -> CatalogOption {
    let regular = format_usd(o.price_cents().unwrap_or(0));
    CatalogOption {
        sku: o.sku.clone(),
        name: o.name.clone(),
        description: o.description.clone(),
        offer_start_date: o.offer_start_date.map(|d| d.to_string()),
        offer_end_date: o.offer_end_date.map(|d| d.to_string()),
        cost: regular,
        kind: o.kind,
        addon: catalog.kind_of(o) == OptionKind::Addon,
        billing_plans: vec![BillingPlan {
            billing_type: BillingType::Subscription,
            purchase_id: None,
            product_ids: o.product_ids.clone(),
            subscription_id: None,
            renewal_date: None,
            state: None,
            phases: phases_of(o),
            cost: None,
            duration: None,
            quantity: None,
        }],
    }
}

/// The option's phases in order: its base offer, if any, then the regular price.
pub fn phases_of(o: &PurchaseOption) -> Vec<PhaseView> {
    let frequency = o.kind.billing_frequency();
    let mut phases: Vec<PhaseView> = o.phases.iter().map(|p| offer_phase(p, frequency)).collect();
    phases.push(PhaseView {
        name: "Regular price".to_owned(),
        kind: PhaseType::RegularPrice,
        cost: format_usd(o.price_cents().unwrap_or(0)),
        phase_end_date: None,
        duration: frequency.map(BillingFrequency::duration),
        billing_frequency: frequency,
    });
    phases
}

fn offer_phase(p: &OfferPhase, frequency: Option<BillingFrequency>) -> PhaseView {
    let (default_name, cents, frequency) = match p.kind {
        PhaseType::FreeTrial => ("Free trial", 0, None),
        PhaseType::ReducedPrice => (
            "Introductory price",
            p.tier.and_then(tier_price_cents).unwrap_or(0),
            frequency,
        ),
        PhaseType::RegularPrice => ("Regular price", 0, frequency),
    };
    PhaseView {
        name: p.name.clone().unwrap_or_else(|| default_name.to_owned()),
        kind: p.kind,
        cost: format_usd(cents),
        phase_end_date: None,
        duration: Some(p.duration),
        billing_frequency: frequency,
    }
}

/// Products of a set of purchase options, each once, in Roku's shape.
pub fn products_of<'a>(
    catalog: &Catalog,
    product_ids: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, CatalogProduct> {
    let ids: BTreeSet<&str> = product_ids.into_iter().collect();
    ids.into_iter()
        .map(|id| (id.to_owned(), render_product(catalog, id)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::example;
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_roku_shapes() {
        let got = get_catalog(&example());
        assert_eq!(got.products.len(), 4);
        assert_eq!(got.purchase_options.len(), 6);
        let premium = serde_json::to_value(&got.purchase_options_map["premium-monthly"]).unwrap();
        assert_eq!(
            premium,
            json!({
                "sku": "premium-monthly",
                "name": "Premium Monthly",
                "description": "Premium plan, billed monthly",
                "cost": "$9.99",
                "type": "MonthlySub",
                "addon": false,
                "billingPlans": [{
                    "billingType": "Subscription",
                    "productIds": ["premium"],
                    "phases": [
                        {"name": "Introductory price", "type": "ReducedPrice", "cost": "$5.49",
                         "duration": {"quantity": 3, "unit": "Month"}, "billingFrequency": "Monthly"},
                        {"name": "Regular price", "type": "RegularPrice", "cost": "$9.99",
                         "duration": {"quantity": 1, "unit": "Month"}, "billingFrequency": "Monthly"}
                    ]
                }]
            })
        );
        let trial = serde_json::to_value(&got.purchase_options_map["basic-monthly"]).unwrap();
        assert_eq!(
            trial["billingPlans"][0]["phases"][0],
            json!({"name": "Free trial", "type": "FreeTrial", "cost": "$0.00",
                   "duration": {"quantity": 7, "unit": "Day"}})
        );
        let annual = serde_json::to_value(&got.purchase_options_map["basic-annual"]).unwrap();
        assert_eq!(annual["type"], "YearlySub");
        assert_eq!(
            annual["billingPlans"][0]["phases"][0]["duration"],
            json!({"quantity": 1, "unit": "Year"})
        );
        let bundle = &got.purchase_options_map["premium-sports-monthly"];
        assert_eq!(bundle.offer_start_date.as_deref(), Some("2025-01-01"));
        assert!(!bundle.addon);
        assert!(got.purchase_options_map["sports-monthly"].addon);
        let sports = serde_json::to_value(&got.products_map["sports"]).unwrap();
        assert_eq!(
            sports,
            json!({
                "productId": "sports", "name": "Sports",
                "purchaseOptions": ["sports-monthly", "premium-sports-monthly"],
                "entitlementIds": [], "addon": true, "prerequisites": ["basic", "premium"],
                "productExclusivityGroup": ["sports", "sportsplus"]
            })
        );
    }

    #[test]
    fn rendered_maps_read_back_unchanged() {
        let got = get_catalog(&example());
        let text = serde_json::to_string(&got.purchase_options_map).unwrap();
        let back: BTreeMap<String, CatalogOption> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, got.purchase_options_map);
        let text = serde_json::to_string(&got.products_map).unwrap();
        let back: BTreeMap<String, CatalogProduct> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, got.products_map);
    }
}
