//! The validated, indexed [`Catalog`] and the derived notions queries and orders share.
//!
//! Depends on the config types and on validation, never the other way round: validation
//! reads plain config, and only a catalog that passed it gets indexed here.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::config::{CatalogConfig, Product, PurchaseOption};
use super::validate::{CatalogError, validate};

/// Base, add-on or bundle: derived from the option's products rather than configured, so it
/// can't contradict them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionKind {
    Base,
    Addon,
    Bundle,
}

/// Whether a purchase still counts for order checks and the lifecycle.
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

/// A purchase the customer already holds, as input to order checks.
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
        let products = index(config.products.iter().map(|p| p.product_id.as_str()));
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
        match option.product_ids.as_slice() {
            [one] if self.product(one).is_some_and(|p| p.addon) => OptionKind::Addon,
            [_] => OptionKind::Base,
            _ => OptionKind::Bundle,
        }
    }

    /// `(product_id, offer_id)` pairs a SKU entitles; a bundle yields several.
    pub fn offers_for_sku(&self, sku: &str) -> Option<Vec<(String, String)>> {
        let option = self.option(sku)?;
        let mut out = Vec::new();
        for pid in &option.product_ids {
            if let Some(p) = self.product(pid) {
                out.extend(p.offers.iter().map(|o| (p.product_id.clone(), o.clone())));
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
                .map(|o| o.product_ids.iter().map(String::as_str).collect())
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
            .filter_map(|p| self.product(p)?.product_exclusivity_group.as_deref())
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
            .map(|p| p.product_id.as_str())
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
}
