//! Recognises a `[catalog]` written in the bridge's former field names and says how to rename
//! it. The old shape is refused rather than reinterpreted: values changed too (`"annual"` is
//! now `"YearlySub"`, `base_offer` became a Roku phase), and guessing would hide that.

use serde_json::Value;

/// Old key → what to write instead, per table, in the order fields appear in a typical entry.
const PRODUCT_RENAMES: &[(&str, &str)] = &[
    ("id", "rename it to `productId`"),
    (
        "exclusivity_group",
        "rename it to `productExclusivityGroup`",
    ),
];

const OPTION_RENAMES: &[(&str, &str)] = &[
    ("display_name", "rename it to `name`"),
    (
        "billing_period",
        "replace it with `type`: \"monthly\" → \"MonthlySub\", \"quarterly\" → \"QuarterlySub\", \"annual\" → \"YearlySub\"",
    ),
    (
        "base_offer",
        "replace it with `phases`: { type = \"free_trial\", days = N } → [{ type = \"FreeTrial\", duration = { quantity = N, unit = \"Day\" } }] (months: unit = \"Month\"); { type = \"introductory\", periods = N, tier = T } → [{ type = \"ReducedPrice\", tier = T, duration = { quantity = N, unit = \"Month\" } }] (N billing periods, in the period's unit)",
    ),
    ("products", "rename it to `productIds`"),
    ("offer_start", "rename it to `offerStartDate`"),
    ("offer_end", "rename it to `offerEndDate`"),
];

/// The first old-shape field of a `[catalog]` value, as an operator-facing instruction.
pub fn first_rename(catalog: &Value) -> Option<String> {
    let entries = |key: &str| {
        catalog
            .get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let found = |table: &str, i: usize, field: &str, how: &str| {
        format!(
            "`catalog.{table}[{i}].{field}` is the bridge's old catalog shape; {how} (the catalog uses Roku's Catalog 2.0 field names, see config/catalog.example.toml)"
        )
    };
    for (i, p) in entries("products").iter().enumerate() {
        for (old, how) in PRODUCT_RENAMES {
            if p.get(old).is_some() {
                return Some(found("products", i, old, how));
            }
        }
    }
    if catalog.get("purchase_options").is_some() {
        return Some(
            "`catalog.purchase_options` is the bridge's old catalog shape; rename it to `catalog.purchaseOptions` (the catalog uses Roku's Catalog 2.0 field names, see config/catalog.example.toml)"
                .to_owned(),
        );
    }
    for (i, o) in entries("purchaseOptions").iter().enumerate() {
        for (old, how) in OPTION_RENAMES {
            if o.get(old).is_some() {
                return Some(found("purchaseOptions", i, old, how));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_first_old_field() {
        let old = json!({
            "products": [{"productId": "a", "name": "A"}, {"id": "b", "exclusivity_group": "g"}],
            "purchase_options": [{"sku": "x", "display_name": "X"}]
        });
        let msg = first_rename(&old).unwrap();
        assert!(
            msg.contains("catalog.products[1].id") && msg.contains("productId"),
            "{msg}"
        );
        let msg = first_rename(&json!({"purchase_options": []})).unwrap();
        assert!(msg.contains("purchaseOptions"), "{msg}");
        let msg =
            first_rename(&json!({"purchaseOptions": [{"billing_period": "annual"}]})).unwrap();
        assert!(
            msg.contains("[0].billing_period") && msg.contains("YearlySub"),
            "{msg}"
        );
        assert_eq!(
            first_rename(&json!({"products": [{"productId": "a"}]})),
            None
        );
    }
}
