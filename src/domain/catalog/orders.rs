//! Order pre-validation for DoOrder (v2 `orderItems`).
//!
//! Roku rejects some bad orders itself, but only after the customer has gone through the
//! purchase UI; checking first lets the channel explain the problem up front. The checks
//! assume a customer holds at most one purchase per SKU.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::config::PurchaseOption;
use super::model::{Catalog, OwnedPurchase, PurchaseStatus};

/// One DoOrder v2 order item, with exactly the guide's fields: `qty` is required as in every
/// example, `action` and `replacedPurchase` are optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderItem {
    pub sku: String,
    pub qty: u32,
    /// `"Upgrade"` or `"Downgrade"`, case-sensitive as on Roku; kept as a string so a wrong
    /// spelling is reported as a violation rather than a parse failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_purchase: Option<ReplacedPurchase>,
}

impl OrderItem {
    pub fn buy(sku: &str) -> OrderItem {
        OrderItem {
            sku: sku.to_owned(),
            qty: 1,
            action: None,
            replaced_purchase: None,
        }
    }

    pub fn change(action: &str, sku: &str, replaced_sku: &str) -> OrderItem {
        OrderItem {
            action: Some(action.to_owned()),
            replaced_purchase: Some(ReplacedPurchase {
                sku: replaced_sku.to_owned(),
            }),
            ..OrderItem::buy(sku)
        }
    }
}

/// DoOrder's `replacedPurchase`: only the SKU being replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacedPurchase {
    pub sku: String,
}

/// A reason the order would fail or leave the customer in an invalid state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Stable machine-readable code, e.g. `addon_without_base`.
    pub code: &'static str,
    /// The order item (or owned purchase) the violation is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    pub message: String,
}

impl Violation {
    fn new(code: &'static str, sku: &str, message: String) -> Violation {
        Violation {
            code,
            sku: Some(sku.to_owned()),
            message,
        }
    }
}

/// How an order item relates to what the customer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent<'a> {
    Buy,
    Replace(&'a str),
    /// The action or replacement is malformed; the item contributes nothing to the outcome.
    Invalid,
}

struct Item<'a> {
    item: &'a OrderItem,
    option: &'a PurchaseOption,
    intent: Intent<'a>,
}

/// Checks an order against the catalog and the customer's purchases; empty = looks valid.
pub fn check_order(
    catalog: &Catalog,
    items: &[OrderItem],
    owned: &[OwnedPurchase],
) -> Vec<Violation> {
    let mut out = Vec::new();
    let held: Vec<&OwnedPurchase> = owned
        .iter()
        .filter(|o| o.status != PurchaseStatus::Inactive)
        .collect();
    let held_skus: BTreeSet<&str> = held.iter().map(|o| o.sku.as_str()).collect();

    let mut known: Vec<Item> = Vec::new();
    for item in items {
        let Some(option) = catalog.option(&item.sku) else {
            out.push(Violation::new(
                "unknown_sku",
                &item.sku,
                format!("{}: not in the catalog", item.sku),
            ));
            continue;
        };
        if item.qty != 1 {
            out.push(Violation::new(
                "invalid_quantity",
                &item.sku,
                format!(
                    "{}: qty is {}, subscriptions are ordered one at a time",
                    item.sku, item.qty
                ),
            ));
        }
        let intent = intent_of(catalog, item, option, &held, &mut out);
        known.push(Item {
            item,
            option,
            intent,
        });
    }

    let replaced: BTreeSet<&str> = known
        .iter()
        .filter_map(|k| match k.intent {
            Intent::Replace(old) => Some(old),
            _ => None,
        })
        .collect();

    // Bases the customer will hold once the order goes through: held ones not being
    // replaced, plus every validly ordered item. A replaced base thus only keeps add-ons
    // alive through its (valid) replacement.
    let mut after: BTreeSet<&str> = held
        .iter()
        .filter(|h| !replaced.contains(h.sku.as_str()))
        .flat_map(|h| catalog.owned_products(h))
        .collect();
    for k in known.iter().filter(|k| k.intent != Intent::Invalid) {
        after.extend(k.option.product_ids.iter().map(String::as_str));
    }

    let retained = retained_addons(catalog, &held, &replaced);

    for (i, k) in known.iter().enumerate() {
        let sku = k.item.sku.as_str();
        let carried = k.intent == Intent::Buy && held_skus.contains(sku);
        if carried && !retained.contains(sku) {
            out.push(Violation::new(
                "already_owned",
                sku,
                format!("{sku}: already purchased"),
            ));
        }
        check_addon_bases(catalog, k, &after, &mut out);

        let mine = catalog.groups_of(k.option.product_ids.iter().map(String::as_str));
        for other in &known[i + 1..] {
            let theirs = catalog.groups_of(other.option.product_ids.iter().map(String::as_str));
            if let Some(g) = mine.intersection(&theirs).next() {
                out.push(Violation::new(
                    "exclusivity_conflict",
                    sku,
                    format!(
                        "{sku} and {} are both in exclusivity group {g}",
                        other.item.sku
                    ),
                ));
            }
        }
        for h in &held {
            // A purchase this order replaces is on its way out, and a carried purchase is
            // the same one the customer holds, so neither can conflict.
            if replaced.contains(h.sku.as_str()) || (carried && h.sku == sku) {
                continue;
            }
            let theirs = catalog.groups_of(catalog.owned_products(h));
            if let Some(g) = mine.intersection(&theirs).next() {
                out.push(Violation::new(
                    "exclusivity_conflict",
                    sku,
                    format!(
                        "{sku} is in exclusivity group {g} with owned {}; order it as an Upgrade or Downgrade replacing that purchase",
                        h.sku
                    ),
                ));
            }
        }
    }

    for addon_sku in &retained {
        let appears = known
            .iter()
            .any(|k| k.item.sku == *addon_sku || k.intent == Intent::Replace(addon_sku));
        if !appears {
            out.push(Violation::new(
                "addon_not_retained",
                addon_sku,
                format!(
                    "owned add-on {addon_sku} depends on the base being replaced and must be included in the order"
                ),
            ));
        }
    }
    out
}

fn intent_of<'a>(
    catalog: &Catalog,
    item: &'a OrderItem,
    option: &PurchaseOption,
    held: &[&OwnedPurchase],
    out: &mut Vec<Violation>,
) -> Intent<'a> {
    let sku = item.sku.as_str();
    match (item.action.as_deref(), &item.replaced_purchase) {
        (None, None) => Intent::Buy,
        (None, Some(rp)) => {
            out.push(Violation::new(
                "invalid_action",
                sku,
                format!(
                    "{sku}: replacedPurchase {} given without action Upgrade or Downgrade",
                    rp.sku
                ),
            ));
            Intent::Invalid
        }
        (Some("Upgrade" | "Downgrade"), None) => {
            out.push(Violation::new(
                "replaced_purchase_missing",
                sku,
                format!("{sku}: an upgrade or downgrade needs replacedPurchase"),
            ));
            Intent::Invalid
        }
        (Some("Upgrade" | "Downgrade"), Some(rp)) => {
            let Some(old) = held.iter().find(|h| h.sku == rp.sku) else {
                out.push(Violation::new(
                    "replaced_purchase_not_owned",
                    sku,
                    format!("{sku}: replaced purchase {} is not owned", rp.sku),
                ));
                return Intent::Invalid;
            };
            // Roku moves between plans within an exclusivity group; anything else is a
            // separate purchase plus a cancellation.
            let new_groups = catalog.groups_of(option.product_ids.iter().map(String::as_str));
            let old_groups = catalog.groups_of(catalog.owned_products(old));
            if new_groups.is_disjoint(&old_groups) {
                out.push(Violation::new(
                    "invalid_replacement",
                    sku,
                    format!(
                        "{sku}: shares no exclusivity group with the replaced purchase {}",
                        rp.sku
                    ),
                ));
                return Intent::Invalid;
            }
            Intent::Replace(rp.sku.as_str())
        }
        (Some(other), _) => {
            out.push(Violation::new(
                "invalid_action",
                sku,
                format!("{sku}: action {other:?} must be exactly \"Upgrade\" or \"Downgrade\""),
            ));
            Intent::Invalid
        }
    }
}

fn check_addon_bases(
    catalog: &Catalog,
    k: &Item,
    after: &BTreeSet<&str>,
    out: &mut Vec<Violation>,
) {
    for pid in &k.option.product_ids {
        let Some(p) = catalog.product(pid).filter(|p| p.addon) else {
            continue;
        };
        if !p.prerequisites.iter().any(|b| after.contains(b.as_str())) {
            out.push(Violation::new(
                "addon_without_base",
                &k.item.sku,
                format!(
                    "{}: add-on {} needs one of {} owned or in the same order",
                    k.item.sku,
                    p.product_id,
                    p.prerequisites.join(", ")
                ),
            ));
        }
    }
}

/// Held add-on purchases whose prerequisite is among the products being replaced; Roku
/// requires them to be carried in the same order or they'd be orphaned.
fn retained_addons<'a>(
    catalog: &Catalog,
    held: &[&'a OwnedPurchase],
    replaced: &BTreeSet<&str>,
) -> BTreeSet<&'a str> {
    let replaced_products: BTreeSet<&str> = held
        .iter()
        .filter(|h| replaced.contains(h.sku.as_str()))
        .flat_map(|h| catalog.owned_products(h))
        .filter(|p| catalog.product(p).is_some_and(|p| !p.addon))
        .collect();
    held.iter()
        .filter(|h| !replaced.contains(h.sku.as_str()))
        .filter(|h| {
            catalog.owned_products(h).iter().any(|p| {
                catalog.product(p).is_some_and(|p| {
                    p.addon
                        && p.prerequisites
                            .iter()
                            .any(|b| replaced_products.contains(b.as_str()))
                })
            })
        })
        .map(|h| h.sku.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::example;
    use super::*;
    use serde_json::json;

    fn codes(items: &[OrderItem], owned: &[&str]) -> Vec<&'static str> {
        let owned: Vec<OwnedPurchase> = owned.iter().map(|s| OwnedPurchase::active(s)).collect();
        check_order(&example(), items, &owned)
            .into_iter()
            .map(|v| v.code)
            .collect()
    }

    fn buy(s: &str) -> OrderItem {
        OrderItem::buy(s)
    }

    /// (name, order items, owned SKUs, expected violation codes)
    type Case = (
        &'static str,
        Vec<OrderItem>,
        &'static [&'static str],
        &'static [&'static str],
    );

    #[test]
    fn table() {
        let up = |s: &str, old: &str| OrderItem::change("Upgrade", s, old);
        let down = |s: &str, old: &str| OrderItem::change("Downgrade", s, old);
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("plain base", vec![buy("basic-monthly")], &[], &[]),
            ("unknown sku", vec![buy("gold")], &[], &["unknown_sku"]),
            ("add-on without base", vec![buy("sports-monthly")], &[], &["addon_without_base"]),
            ("add-on with base in same order",
                vec![buy("basic-monthly"), buy("sports-monthly")], &[], &[]),
            ("add-on with owned base", vec![buy("sports-monthly")], &["premium-monthly"], &[]),
            ("bundle brings its own base", vec![buy("premium-sports-monthly")], &[], &[]),
            ("two bases in one group",
                vec![buy("basic-monthly"), buy("premium-monthly")], &[],
                &["exclusivity_conflict"]),
            ("base conflicts with owned base", vec![buy("premium-monthly")], &["basic-monthly"],
                &["exclusivity_conflict"]),
            ("add-on conflicts with owned add-on", vec![buy("sportsplus-monthly")],
                &["basic-monthly", "sports-monthly"], &["exclusivity_conflict"]),
            ("bundle conflicts with owned base and add-on", vec![buy("premium-sports-monthly")],
                &["basic-monthly", "sports-monthly"],
                &["exclusivity_conflict", "exclusivity_conflict"]),
            ("already owned", vec![buy("basic-annual")], &["basic-annual"], &["already_owned"]),
            ("upgrade", vec![up("premium-monthly", "basic-monthly")], &["basic-monthly"], &[]),
            ("downgrade", vec![down("basic-monthly", "premium-monthly")], &["premium-monthly"], &[]),
            ("upgrade to bundle",
                vec![up("premium-sports-monthly", "basic-monthly")], &["basic-monthly"], &[]),
            ("action is case-sensitive",
                vec![OrderItem::change("upgrade", "premium-monthly", "basic-monthly")],
                &["basic-monthly"], &["invalid_action", "exclusivity_conflict"]),
            ("unknown action", vec![OrderItem { action: Some("Swap".into()), ..buy("basic-monthly") }],
                &[], &["invalid_action"]),
            ("replacedPurchase without action",
                vec![OrderItem { action: None, ..up("premium-monthly", "basic-monthly") }],
                &["basic-monthly"], &["invalid_action", "exclusivity_conflict"]),
            ("upgrade without replacedPurchase",
                vec![OrderItem { replaced_purchase: None, ..up("premium-monthly", "x") }],
                &["basic-monthly"], &["replaced_purchase_missing", "exclusivity_conflict"]),
            ("replaced purchase not owned",
                vec![up("premium-monthly", "basic-monthly")], &[],
                &["replaced_purchase_not_owned"]),
            ("replacement across groups",
                vec![up("sports-monthly", "basic-monthly")], &["basic-monthly"],
                &["invalid_replacement"]),
            ("upgrade carrying its add-on",
                vec![up("premium-monthly", "basic-monthly"), buy("sports-monthly")],
                &["basic-monthly", "sports-monthly"], &[]),
            ("upgrade carrying add-on with its own action",
                vec![up("premium-monthly", "basic-monthly"), up("sports-monthly", "sports-monthly")],
                &["basic-monthly", "sports-monthly"], &[]),
            ("upgrade swapping the add-on too",
                vec![up("premium-monthly", "basic-monthly"), up("sportsplus-monthly", "sports-monthly")],
                &["basic-monthly", "sports-monthly"], &[]),
            ("upgrade dropping its add-on",
                vec![up("premium-monthly", "basic-monthly")],
                &["basic-monthly", "sports-monthly"], &["addon_not_retained"]),
            ("downgrade dropping its add-on",
                vec![down("basic-monthly", "premium-monthly")],
                &["premium-monthly", "sportsplus-monthly"], &["addon_not_retained"]),
            ("replacement invalid: base gone, add-on orphaned",
                vec![OrderItem::change("Upgrade", "gold", "basic-monthly"), buy("sports-monthly")],
                &["basic-monthly"], &["unknown_sku"]),
            ("invalid replacement does not remove the owned base",
                vec![OrderItem::change("upgrade", "premium-monthly", "basic-monthly"),
                     buy("sports-monthly")],
                &["basic-monthly"], &["invalid_action", "exclusivity_conflict"]),
            ("add-on bought with an invalid base order",
                vec![OrderItem { action: Some("Swap".into()), ..buy("basic-monthly") },
                     buy("sports-monthly")],
                &[], &["invalid_action", "addon_without_base"]),
            ("quantity", vec![OrderItem { qty: 2, ..buy("basic-monthly") }], &[],
                &["invalid_quantity"]),
            ("quantity zero", vec![OrderItem { qty: 0, ..buy("basic-monthly") }], &[],
                &["invalid_quantity"]),
        ];
        for (name, items, owned, want) in cases {
            assert_eq!(codes(&items, owned), want, "{name}");
        }
    }

    #[test]
    fn messages_name_the_sku() {
        let owned = [
            OwnedPurchase::active("basic-monthly"),
            OwnedPurchase::active("sports-monthly"),
        ];
        let v = check_order(
            &example(),
            &[OrderItem::change(
                "Upgrade",
                "premium-monthly",
                "basic-monthly",
            )],
            &owned,
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].sku.as_deref(), Some("sports-monthly"));
        assert!(v[0].message.contains("sports-monthly"));
        let json = serde_json::to_value(&v[0]).unwrap();
        assert_eq!(json["code"], "addon_not_retained");

        let v = check_order(&example(), &[OrderItem::buy("sports-monthly")], &[]);
        assert!(v[0].message.contains("sports-monthly") && v[0].message.contains("basic"));
    }

    #[test]
    fn inactive_purchases_are_ignored() {
        let owned = [OwnedPurchase {
            status: PurchaseStatus::Inactive,
            ..OwnedPurchase::active("basic-monthly")
        }];
        let v = check_order(&example(), &[OrderItem::buy("premium-monthly")], &owned);
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn owned_products_recorded_by_caller_are_used() {
        // The purchase's products win over the catalog's, e.g. for a grandfathered SKU.
        let owned = [OwnedPurchase {
            sku: "legacy-plan".into(),
            products: vec!["premium".into()],
            status: PurchaseStatus::Active,
        }];
        let v = check_order(&example(), &[OrderItem::buy("sports-monthly")], &owned);
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn parses_do_order_v2_items() {
        let items: Vec<OrderItem> = serde_json::from_value(json!([
            {"sku": "premium-monthly", "qty": 1, "action": "Upgrade",
             "replacedPurchase": {"sku": "basic-monthly"}},
            {"sku": "sports-monthly", "qty": 1}
        ]))
        .unwrap();
        assert_eq!(
            items[0].replaced_purchase.as_ref().unwrap().sku,
            "basic-monthly"
        );
        let owned = [
            OwnedPurchase::active("basic-monthly"),
            OwnedPurchase::active("sports-monthly"),
        ];
        assert!(check_order(&example(), &items, &owned).is_empty());
        // Fields the guide doesn't list are refused, not ignored.
        for bad in [
            json!({"sku": "a", "qty": 1, "replacedPurchase": {"sku": "b", "purchaseId": "x"}}),
            json!({"sku": "a", "qty": 1, "quantity": 1}),
            json!({"sku": "a"}),
        ] {
            assert!(
                serde_json::from_value::<OrderItem>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
