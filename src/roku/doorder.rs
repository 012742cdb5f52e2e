//! One purchased item as a channel forwards it from the ChannelStore: a DoOrder v1 item
//! (`code`, `productType`), a DoOrder v2 / Catalog 2.0 `purchases[]` item (`sku`, `type`,
//! `rokuCustomerId`, `replacedPurchase`), or Cleeng's `order` object built from either. Prices
//! are [`Price`]s, so `"$4.99"` and `4.99` are both taken. Pure.

use serde::Deserialize;
use serde_json::Value;

use super::{price::Price, transaction::ProductKind};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchasedItem {
    /// The transaction id validate-transaction takes.
    pub purchase_id: String,
    /// The product code: `code` in v1 and Cleeng's body, `sku` in v2.
    #[serde(alias = "sku")]
    pub code: String,
    #[serde(default)]
    pub amount: Option<Price>,
    #[serde(default)]
    pub total: Option<Price>,
    #[serde(default, alias = "quantity")]
    pub qty: Option<u32>,
    /// The paying Roku account (v2, and v1 on recent firmware): an account link.
    #[serde(default)]
    pub roku_customer_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `type` in v2, `productType` in v1: `MonthlySub`, `Consumable`, …
    #[serde(default, rename = "type", alias = "productType")]
    pub product_type: Option<String>,
    /// On an upgrade or downgrade, the purchase option it replaced (`{"sku": …}`).
    #[serde(default)]
    pub replaced_purchase: Option<ReplacedPurchase>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReplacedPurchase {
    #[serde(default, alias = "code")]
    pub sku: Option<String>,
}

impl PurchasedItem {
    /// What validity rule applies to this purchase; `Unknown` when the channel did not say.
    pub fn kind(&self) -> ProductKind {
        self.product_type
            .as_deref()
            .map(ProductKind::from_roku_type)
            .unwrap_or(ProductKind::Unknown)
    }

    /// The replaced option's code, for plan changes.
    pub fn replaced_code(&self) -> Option<&str> {
        self.replaced_purchase.as_ref()?.sku.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roku::price::Amount;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn a_doorder_v2_purchase_as_roku_prints_it() {
        let v2 = fixture("doorder/doorder-v2-tvod-requeststatus.fixed.json");
        let item: PurchasedItem =
            serde_json::from_value(v2["requestStatus"]["result"]["purchases"][0].clone()).unwrap();
        assert_eq!(item.code, "TVOD-Buy");
        assert_eq!(item.purchase_id, "34210b52-c666-11f0-95ed-7e5be645437d");
        assert_eq!(item.amount.as_ref().unwrap().amount(), Amount::new(299, 2));
        assert_eq!(item.total.as_ref().unwrap().original(), "$2.99");
        assert_eq!(
            item.roku_customer_id.as_deref(),
            Some("3d6ab75bf9435f748104ee06e9412960")
        );
        assert_eq!(item.kind(), ProductKind::OneTime);
        assert_eq!(item.extra["originalAmount"], "$3.99");
    }

    #[test]
    fn doorder_v1_results_and_cleeng_s_order() {
        let v1: Vec<PurchasedItem> =
            serde_json::from_value(fixture("doorder/revenuecat-doorder-purchases.fixed.json"))
                .unwrap();
        assert_eq!(v1.len(), 2);
        assert_eq!(v1[0].code, "yearly_subscription_product");
        assert_eq!(v1[0].kind(), ProductKind::Subscription);
        assert_eq!(v1[0].total.as_ref().unwrap().amount(), Amount::new(0, 0));
        let cleeng = fixture("cleeng/roku-payment-request.docs-roku.fixed.json");
        let order: PurchasedItem = serde_json::from_value(cleeng["order"].clone()).unwrap();
        assert_eq!(
            (order.code.as_str(), order.purchase_id.as_str()),
            ("TS1", "12345")
        );
        assert_eq!(order.kind(), ProductKind::Unknown);
        assert_eq!(order.amount.unwrap().as_f64(), 1.99);
    }

    #[test]
    fn a_plan_change_names_what_it_replaced() {
        let item: PurchasedItem = serde_json::from_value(serde_json::json!({
            "purchaseId": "a800b907-55be-491d-821a-abad017d6674", "sku": "annual",
            "type": "YearlySub", "amount": "4,99 €", "total": "4,99 €", "qty": 1,
            "rokuCustomerId": "99999999999999999999999999999999",
            "name": "Annual", "description": "Annual plan",
            "replacedPurchase": {"sku": "monthly"}
        }))
        .unwrap();
        assert_eq!(item.replaced_code(), Some("monthly"));
        assert_eq!(item.amount.unwrap().currency(), Some("EUR"));
    }
}
