//! Add-on lifecycle: which add-ons lose their footing when a base plan ends.
//!
//! Pure functions over what the customer holds (the SKUs entitled right now). Which SKUs
//! those are is decided by the bridge's one subscription model, the rows Roku's pushes
//! write; this module only applies Roku's rule that an add-on stays active while at least
//! one of its prerequisite bases is.

use std::collections::BTreeSet;

use serde::Serialize;

use super::model::{Catalog, OptionKind};

/// An add-on taken away because none of its prerequisite bases is entitled any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    pub product_id: String,
    pub sku: String,
    pub reason: String,
}

/// The add-ons among `held` (SKUs the customer is entitled to now) that no held base supports
/// any more: what the bridge reports revoked after a push ends a base plan.
pub fn orphaned_addons(catalog: &Catalog, held: &[&str]) -> Vec<Revoked> {
    let entitled = entitled_products(catalog, held);
    let mut revoked = Vec::new();
    // Bundles carry their own base, so only stand-alone add-on options can be orphaned.
    for sku in held {
        let Some(option) = catalog
            .option(sku)
            .filter(|o| catalog.kind_of(o) == OptionKind::Addon)
        else {
            continue;
        };
        for pid in &option.product_ids {
            let Some(p) = catalog.product(pid) else {
                continue;
            };
            if !p
                .prerequisites
                .iter()
                .any(|b| entitled.contains(b.as_str()))
            {
                revoked.push(Revoked {
                    product_id: p.product_id.clone(),
                    sku: (*sku).to_owned(),
                    reason: format!(
                        "no active prerequisite base (needs one of: {})",
                        p.prerequisites.join(", ")
                    ),
                });
            }
        }
    }
    revoked
}

/// Products the held SKUs entitle.
pub fn entitled_products<'a>(catalog: &'a Catalog, held: &[&str]) -> BTreeSet<&'a str> {
    held.iter()
        .filter_map(|sku| catalog.option(sku))
        .flat_map(|o| o.product_ids.iter().map(String::as_str))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::example;
    use super::*;

    fn revoked(held: &[&str]) -> Vec<(String, String)> {
        orphaned_addons(&example(), held)
            .into_iter()
            .map(|r| (r.sku, r.product_id))
            .collect()
    }

    #[test]
    fn an_addon_needs_a_held_prerequisite() {
        assert!(revoked(&["basic-monthly", "sports-monthly"]).is_empty());
        assert!(revoked(&["premium-monthly", "sportsplus-monthly"]).is_empty());
        assert_eq!(
            revoked(&["sports-monthly"]),
            [("sports-monthly".to_owned(), "sports".to_owned())]
        );
        let r = orphaned_addons(&example(), &["sportsplus-monthly", "basic-annual-gone"]);
        assert_eq!(r.len(), 1);
        assert!(r[0].reason.contains("basic, premium"), "{}", r[0].reason);
    }

    #[test]
    fn a_bundle_is_its_own_base_and_keeps_addons_alive() {
        assert!(revoked(&["premium-sports-monthly"]).is_empty());
        assert!(revoked(&["premium-sports-monthly", "sportsplus-monthly"]).is_empty());
    }

    #[test]
    fn an_upgraded_base_keeps_the_addon() {
        // After UpgradeSale + UpgradeCancellation the held set names the new base only.
        assert!(revoked(&["premium-monthly", "sports-monthly"]).is_empty());
        assert_eq!(revoked(&["sports-monthly", "sportsplus-monthly"]).len(), 2);
    }
}
