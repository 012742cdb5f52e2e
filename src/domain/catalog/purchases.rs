//! GetPurchases (version 2) as far as the bridge knows it: the subscription rows Roku's pushes
//! left and the receipts channels posted, rendered in Roku's shape with Roku's `state` values.
//!
//! Pure: the caller reads the rows (as the plain structs below) and passes the time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::config::PurchaseOption;
use super::date::{Date, iso_from_unix_ms};
use super::model::{Catalog, OptionKind};
use super::shapes::{BillingPlan, CatalogProduct, PhaseView, phases_of, products_of};
use super::tiers::format_usd;
use super::vocab::{BillingType, DurationUnit, OptionType, PhaseType, PurchaseState};
use crate::domain::subscription::SubscriptionState;

/// `purchases[]` of GetPurchases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Purchase {
    #[serde(default)]
    pub roku_customer_id: String,
    pub sku: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub cost: String,
    #[serde(rename = "type")]
    pub kind: OptionType,
    #[serde(default)]
    pub addon: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_date: Option<String>,
    /// `device` or `web`; left out when the bridge can't tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_channel: Option<String>,
    /// `iap` or `isu`; left out when the bridge can't tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_context: Option<String>,
    #[serde(default)]
    pub billing_plans: Vec<BillingPlan>,
}

/// `entitlements[]` of GetPurchases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entitlement {
    pub entitlement_key: String,
    pub entitlement_scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    pub entitlement_qty: u32,
}

/// GetPurchases' `result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPurchases {
    pub purchases: Vec<Purchase>,
    pub purchases_map: BTreeMap<String, Purchase>,
    pub products: Vec<CatalogProduct>,
    pub products_map: BTreeMap<String, CatalogProduct>,
    pub entitlements: Vec<Entitlement>,
}

/// A `subscriptions` row as Roku's pushes left it; `state` is the bridge's own word
/// (`active`, `grace`, `on_hold`, `cancelled`, `refunded`, `revoked`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionFact {
    pub roku_customer_id: String,
    pub sku: String,
    pub state: SubscriptionState,
    pub expires_at_ms: Option<i64>,
    pub last_transaction_id: Option<String>,
    pub last_event_at_ms: i64,
}

/// A receipt a channel posted after DoOrder, before or without any push about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptFact {
    pub purchase_id: String,
    pub sku: String,
    pub roku_customer_id: Option<String>,
    /// The provider refused it: not a purchase the customer holds.
    pub rejected: bool,
    pub received_at_ms: i64,
}

/// Roku's `state` for a subscription row at `now_ms`. The pushes don't say whether a trial
/// is running, so an active row counts as a free trial while the option's trial, measured
/// from the purchase date, hasn't ended.
pub fn state_of(
    fact_state: SubscriptionState,
    expires_at_ms: Option<i64>,
    in_trial: bool,
    now_ms: i64,
) -> PurchaseState {
    use SubscriptionState as S;
    match fact_state {
        S::Active if in_trial => PurchaseState::ActiveFreeTrial,
        S::Active => PurchaseState::ActivePaid,
        S::Grace => PurchaseState::ActiveInGracePeriod,
        S::OnHold => PurchaseState::InactiveOnHold,
        // Cancelled at period end: still entitled until then.
        S::Cancelled if expires_at_ms.is_some_and(|e| e > now_ms) => PurchaseState::ActiveCanceled,
        // Refunded, revoked, or cancelled past its end: Roku has no finer state.
        S::Cancelled | S::Refunded | S::Revoked => PurchaseState::InactiveExpired,
    }
}

/// Renders what the bridge knows. A SKU's subscription row wins over its receipt (the push is
/// Roku's word); a receipt alone stands for a purchase whose first push hasn't come yet.
/// Codes outside the catalog are left out: GetPurchases' shape needs the catalog's facts.
pub fn get_purchases(
    catalog: &Catalog,
    subscriptions: &[SubscriptionFact],
    receipts: &[ReceiptFact],
    include_expired: bool,
    now_ms: i64,
) -> GetPurchases {
    let mut by_sku: BTreeMap<String, Purchase> = BTreeMap::new();
    let bought_at = |sku: &str| {
        receipts
            .iter()
            .filter(|r| r.sku == sku && !r.rejected)
            .map(|r| r.received_at_ms)
            .min()
    };
    for s in subscriptions {
        let Some(option) = catalog.option(&s.sku) else {
            continue;
        };
        let since = bought_at(&s.sku).unwrap_or(s.last_event_at_ms);
        let in_trial = trial_end(option, since).is_some_and(|end| now_ms < end);
        let state = state_of(s.state, s.expires_at_ms, in_trial, now_ms);
        let renewal = matches!(
            state,
            PurchaseState::ActivePaid | PurchaseState::ActiveFreeTrial
        )
        .then_some(s.expires_at_ms)
        .flatten();
        let p = render(
            catalog,
            option,
            Rendered {
                roku_customer_id: s.roku_customer_id.clone(),
                purchase_id: s.last_transaction_id.clone(),
                since,
                state,
                renewal_ms: renewal,
                from_receipt: bought_at(&s.sku).is_some(),
            },
        );
        by_sku.insert(s.sku.clone(), p);
    }
    for r in receipts.iter().filter(|r| !r.rejected) {
        let Some(option) = catalog.option(&r.sku) else {
            continue;
        };
        if by_sku.contains_key(&r.sku) {
            continue;
        }
        let in_trial = trial_end(option, r.received_at_ms).is_some_and(|end| now_ms < end);
        let state = if in_trial {
            PurchaseState::ActiveFreeTrial
        } else {
            PurchaseState::ActivePaid
        };
        let p = render(
            catalog,
            option,
            Rendered {
                roku_customer_id: r.roku_customer_id.clone().unwrap_or_default(),
                purchase_id: Some(r.purchase_id.clone()),
                since: r.received_at_ms,
                state,
                renewal_ms: None,
                from_receipt: true,
            },
        );
        by_sku.insert(r.sku.clone(), p);
    }
    by_sku.retain(|_, p| include_expired || p.billing_plans.iter().any(is_active_plan));

    let purchases: Vec<Purchase> = by_sku.values().cloned().collect();
    let products_map = products_of(
        catalog,
        purchases
            .iter()
            .flat_map(|p| &p.billing_plans)
            .flat_map(|b| b.product_ids.iter().map(String::as_str)),
    );
    let entitlements = entitlements_of(catalog, &purchases, subscriptions);
    GetPurchases {
        purchases_map: by_sku,
        products: products_map.values().cloned().collect(),
        products_map,
        purchases,
        entitlements,
    }
}

fn is_active_plan(b: &BillingPlan) -> bool {
    b.state.is_some_and(PurchaseState::is_active)
}

struct Rendered {
    roku_customer_id: String,
    purchase_id: Option<String>,
    since: i64,
    state: PurchaseState,
    renewal_ms: Option<i64>,
    from_receipt: bool,
}

fn render(catalog: &Catalog, option: &PurchaseOption, r: Rendered) -> Purchase {
    let since = r.since.max(0) as u64;
    let mut phases: Vec<PhaseView> = phases_of(option);
    for (phase, config) in phases.iter_mut().zip(&option.phases) {
        phase.phase_end_date = Some(iso_from_unix_ms(add(since, config.duration)));
    }
    // A receipt comes from the channel's DoOrder on the device; a push alone may come from
    // anywhere (web, Instant Signup), so the bridge doesn't claim one.
    let (channel, context) = if r.from_receipt {
        (Some("device".to_owned()), Some("iap".to_owned()))
    } else {
        (None, None)
    };
    Purchase {
        roku_customer_id: r.roku_customer_id,
        sku: option.sku.clone(),
        name: option.name.clone(),
        description: option.description.clone(),
        cost: format_usd(option.price_cents().unwrap_or(0)),
        kind: option.kind,
        addon: catalog.kind_of(option) == OptionKind::Addon,
        purchase_date: Some(iso_from_unix_ms(since)),
        purchase_channel: channel,
        purchase_context: context,
        billing_plans: vec![BillingPlan {
            billing_type: BillingType::Subscription,
            purchase_id: r.purchase_id,
            product_ids: option.product_ids.clone(),
            subscription_id: None,
            renewal_date: r.renewal_ms.map(|ms| iso_from_unix_ms(ms.max(0) as u64)),
            state: Some(r.state),
            phases,
            cost: None,
            duration: None,
            quantity: None,
        }],
    }
}

/// When an option's free trial, started at `since_ms`, ends.
fn trial_end(option: &PurchaseOption, since_ms: i64) -> Option<i64> {
    let trial = option
        .phases
        .iter()
        .find(|p| p.kind == PhaseType::FreeTrial)?;
    Some(add(since_ms.max(0) as u64, trial.duration) as i64)
}

/// `start + duration`, by the calendar for months, quarters and years.
fn add(start_ms: u64, d: super::vocab::Duration) -> u64 {
    let months = match d.unit {
        DurationUnit::Day => return start_ms + u64::from(d.quantity) * 86_400_000,
        DurationUnit::Month => d.quantity,
        DurationUnit::Quarter => d.quantity * 3,
        DurationUnit::Year => d.quantity * 12,
    };
    let day = Date::from_unix_ms(start_ms);
    let time_of_day = start_ms - day.to_unix_ms();
    day.add_months(months).to_unix_ms() + time_of_day
}

/// The entitlement ids of the products the customer has access to now.
fn entitlements_of(
    catalog: &Catalog,
    purchases: &[Purchase],
    subscriptions: &[SubscriptionFact],
) -> Vec<Entitlement> {
    let mut out: Vec<Entitlement> = Vec::new();
    for p in purchases {
        let Some(plan) = p.billing_plans.first().filter(|b| is_active_plan(b)) else {
            continue;
        };
        let expires = subscriptions
            .iter()
            .find(|s| s.sku == p.sku)
            .and_then(|s| s.expires_at_ms)
            .map(|ms| iso_from_unix_ms(ms.max(0) as u64));
        for pid in &plan.product_ids {
            let Some(product) = catalog.product(pid) else {
                continue;
            };
            for e in &product.entitlement_ids {
                if out.iter().any(|o| o.entitlement_key == e.entitlement_key) {
                    continue;
                }
                out.push(Entitlement {
                    entitlement_key: e.entitlement_key.clone(),
                    entitlement_scope: e.entitlement_scope.clone(),
                    expiration_date: expires.clone(),
                    entitlement_qty: 1,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testutil::example;
    use super::*;

    const DAY: i64 = 86_400_000;
    const T0: i64 = 1_767_225_600_000; // 2026-01-01

    fn sub(sku: &str, state: &str, expires: Option<i64>) -> SubscriptionFact {
        SubscriptionFact {
            roku_customer_id: "rc1".into(),
            sku: sku.into(),
            state: state.parse().unwrap(),
            expires_at_ms: expires,
            last_transaction_id: Some(format!("tx-{sku}")),
            last_event_at_ms: T0,
        }
    }

    fn state(got: &GetPurchases, sku: &str) -> Option<PurchaseState> {
        got.purchases_map.get(sku)?.billing_plans[0].state
    }

    #[test]
    fn states_follow_what_the_pushes_said() {
        let subs = [
            sub("basic-monthly", "active", Some(T0 + 30 * DAY)),
            sub("sports-monthly", "grace", None),
            sub("premium-monthly", "cancelled", Some(T0 + 10 * DAY)),
            sub("basic-annual", "refunded", None),
            sub("sportsplus-monthly", "on_hold", None),
            sub("not-in-catalog", "active", None),
        ];
        let now = T0 + 2 * DAY;
        let got = get_purchases(&example(), &subs, &[], true, now);
        assert_eq!(
            state(&got, "basic-monthly"),
            Some(PurchaseState::ActiveFreeTrial)
        );
        assert_eq!(
            state(&got, "sports-monthly"),
            Some(PurchaseState::ActiveInGracePeriod)
        );
        assert_eq!(
            state(&got, "premium-monthly"),
            Some(PurchaseState::ActiveCanceled)
        );
        assert_eq!(
            state(&got, "basic-annual"),
            Some(PurchaseState::InactiveExpired)
        );
        assert_eq!(
            state(&got, "sportsplus-monthly"),
            Some(PurchaseState::InactiveOnHold)
        );
        assert!(!got.purchases_map.contains_key("not-in-catalog"));
        // Past the 7-day trial the same row is paid.
        let later = get_purchases(&example(), &subs, &[], false, T0 + 8 * DAY);
        assert_eq!(
            state(&later, "basic-monthly"),
            Some(PurchaseState::ActivePaid)
        );
        assert_eq!(
            state(&later, "premium-monthly"),
            Some(PurchaseState::ActiveCanceled)
        );
        // Without includeExpired only active purchases are listed.
        assert_eq!(
            later.purchases_map.keys().collect::<Vec<_>>(),
            ["basic-monthly", "premium-monthly", "sports-monthly"]
        );
        assert_eq!(
            state_of(SubscriptionState::Cancelled, Some(T0), false, T0 + 1),
            PurchaseState::InactiveExpired
        );
    }

    #[test]
    fn receipt_alone_is_a_fresh_purchase_in_roku_shape() {
        let receipts = [ReceiptFact {
            purchase_id: "tx-9".into(),
            sku: "basic-monthly".into(),
            roku_customer_id: None,
            rejected: false,
            received_at_ms: T0,
        }];
        let got = get_purchases(&example(), &[], &receipts, false, T0 + DAY);
        let v = serde_json::to_value(&got.purchases_map["basic-monthly"]).unwrap();
        assert_eq!(v["type"], "MonthlySub");
        assert_eq!(v["cost"], "$4.99");
        assert_eq!(v["purchaseDate"], "2026-01-01T00:00:00Z");
        assert_eq!(v["purchaseChannel"], "device");
        let plan = &v["billingPlans"][0];
        assert_eq!(plan["state"], "ActiveFreeTrial");
        assert_eq!(plan["purchaseId"], "tx-9");
        assert_eq!(plan["productIds"], serde_json::json!(["basic"]));
        assert_eq!(plan["phases"][0]["phaseEndDate"], "2026-01-08T00:00:00Z");
        assert_eq!(got.products_map["basic"].product_id, "basic");
        // A rejected receipt is nothing the customer holds.
        let rejected = [ReceiptFact {
            rejected: true,
            ..receipts[0].clone()
        }];
        assert!(
            get_purchases(&example(), &[], &rejected, true, T0)
                .purchases
                .is_empty()
        );
    }
}
