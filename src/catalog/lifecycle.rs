//! Subscription state from Roku push events, and add-on revocation.
//!
//! Pure: the caller loads the customer's subscriptions, passes a batch of already-verified
//! events plus the current time, and persists the outcome. Events are applied in the order
//! given (Roku sends pairs such as UpgradeSale/UpgradeCancellation as separate messages, so a
//! batch should hold everything received for the customer so far). Add-on revocation is
//! decided only after the whole batch, so an upgrade whose cancellation arrives before its
//! sale doesn't orphan the customer's add-ons.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::model::{Catalog, OptionKind, PurchaseStatus};

/// A customer's subscription to one SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub sku: String,
    pub status: PurchaseStatus,
    /// When a `PendingActive` subscription (a downgrade) takes over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_ms: Option<u64>,
    /// End of the paid period; for `PendingInactive`, when access ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
}

/// Push `transactionType`s that change entitlement. Others (Credit, Grace*, Chargeback…)
/// don't, so callers simply don't pass them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    Sale,
    UpgradeSale,
    #[serde(alias = "UpgradeCancel")]
    UpgradeCancellation,
    DowngradeSale,
    #[serde(alias = "DowngradeCancel")]
    DowngradeCancellation,
    Cancellation,
    Refund,
    Expiration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub kind: EventKind,
    pub sku: String,
    /// When the event takes effect. For Cancellation and the downgrade pair this is the
    /// push's `expirationDate` (the old plan's expiry), which may lie in the future.
    pub effective_ms: u64,
    /// New end of the paid period, for sales.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
}

/// An add-on taken away because none of its prerequisite bases is entitled any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    pub product_id: String,
    pub sku: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LifecycleOutcome {
    /// Subscriptions still held (entitled or pending), sorted by SKU.
    pub subscriptions: Vec<Subscription>,
    pub revoked: Vec<Revoked>,
}

/// Applies a batch of events, settles pending switches due by `now_ms`, then revokes
/// orphaned add-ons. An empty batch is a valid "tick" that just settles.
pub fn apply_events(
    catalog: &Catalog,
    current: &[Subscription],
    events: &[Event],
    now_ms: u64,
) -> LifecycleOutcome {
    let mut subs: BTreeMap<String, Subscription> = current
        .iter()
        .filter(|s| s.status != PurchaseStatus::Inactive)
        .map(|s| (s.sku.clone(), s.clone()))
        .collect();

    for e in events {
        match e.kind {
            EventKind::Sale | EventKind::UpgradeSale => {
                subs.insert(e.sku.clone(), sub(e, PurchaseStatus::Active));
            }
            // The downgrade is sold now but only replaces the old plan at its expiry.
            EventKind::DowngradeSale => {
                subs.insert(e.sku.clone(), sub(e, PurchaseStatus::PendingActive));
            }
            EventKind::UpgradeCancellation | EventKind::Expiration => {
                subs.remove(&e.sku);
            }
            EventKind::Cancellation | EventKind::DowngradeCancellation => {
                if let Some(s) = subs.get_mut(&e.sku) {
                    s.status = PurchaseStatus::PendingInactive;
                    s.expires_ms = Some(e.effective_ms);
                }
            }
            // Roku follows a refund that should end access with a Cancellation; acting on
            // the refund alone would cut off partial refunds.
            EventKind::Refund => {}
        }
    }

    settle(&mut subs, now_ms);
    let revoked = revoke_orphans(catalog, &mut subs);
    LifecycleOutcome {
        subscriptions: subs.into_values().collect(),
        revoked,
    }
}

fn sub(e: &Event, status: PurchaseStatus) -> Subscription {
    Subscription {
        sku: e.sku.clone(),
        status,
        starts_ms: Some(e.effective_ms),
        expires_ms: e.expires_ms,
    }
}

fn settle(subs: &mut BTreeMap<String, Subscription>, now_ms: u64) {
    subs.retain(|_, s| {
        !(s.status == PurchaseStatus::PendingInactive && s.expires_ms.is_none_or(|t| t <= now_ms))
    });
    for s in subs.values_mut() {
        if s.status == PurchaseStatus::PendingActive && s.starts_ms.is_none_or(|t| t <= now_ms) {
            s.status = PurchaseStatus::Active;
        }
    }
}

/// The add-ons among `held` (SKUs the customer is entitled to now) that no held base supports
/// any more: what the bridge reports revoked after a push ends a base plan.
pub fn orphaned_addons(catalog: &Catalog, held: &[&str]) -> Vec<Revoked> {
    let mut subs: BTreeMap<String, Subscription> = held
        .iter()
        .map(|sku| {
            let sub = Subscription {
                sku: (*sku).to_string(),
                status: PurchaseStatus::Active,
                starts_ms: None,
                expires_ms: None,
            };
            ((*sku).to_string(), sub)
        })
        .collect();
    revoke_orphans(catalog, &mut subs)
}

fn revoke_orphans(catalog: &Catalog, subs: &mut BTreeMap<String, Subscription>) -> Vec<Revoked> {
    let entitled: BTreeSet<&str> = subs
        .values()
        .filter(|s| s.status.is_entitled())
        .filter_map(|s| catalog.option(&s.sku))
        .flat_map(|o| o.products.iter().map(String::as_str))
        .collect();
    let mut revoked = Vec::new();
    // Bundles carry their own base, so only stand-alone add-on options can be orphaned.
    for s in subs.values() {
        let Some(option) = catalog
            .option(&s.sku)
            .filter(|o| catalog.kind_of(o) == OptionKind::Addon)
        else {
            continue;
        };
        for pid in &option.products {
            let Some(p) = catalog.product(pid) else {
                continue;
            };
            if !p
                .prerequisites
                .iter()
                .any(|b| entitled.contains(b.as_str()))
            {
                revoked.push(Revoked {
                    product_id: p.id.clone(),
                    sku: s.sku.clone(),
                    reason: format!(
                        "no active prerequisite base (needs one of: {})",
                        p.prerequisites.join(", ")
                    ),
                });
            }
        }
    }
    for r in &revoked {
        subs.remove(&r.sku);
    }
    revoked
}

#[cfg(test)]
mod tests {
    use super::super::testutil::example;
    use super::*;

    const DAY: u64 = 86_400_000;
    const NOW: u64 = 100 * DAY;

    fn active(sku: &str) -> Subscription {
        Subscription {
            sku: sku.into(),
            status: PurchaseStatus::Active,
            starts_ms: Some(NOW - 10 * DAY),
            expires_ms: Some(NOW + 20 * DAY),
        }
    }

    fn ev(kind: EventKind, sku: &str, at: u64) -> Event {
        Event {
            kind,
            sku: sku.into(),
            effective_ms: at,
            expires_ms: Some(at + 30 * DAY),
        }
    }

    fn held(o: &LifecycleOutcome) -> Vec<(&str, PurchaseStatus)> {
        o.subscriptions
            .iter()
            .map(|s| (s.sku.as_str(), s.status))
            .collect()
    }

    fn revoked(o: &LifecycleOutcome) -> Vec<&str> {
        o.revoked.iter().map(|r| r.product_id.as_str()).collect()
    }

    use EventKind::*;
    use PurchaseStatus::{Active, PendingActive, PendingInactive};

    #[test]
    fn held_addons_without_a_held_base_are_orphans() {
        let c = example();
        let skus: Vec<&str> = c
            .purchase_options()
            .iter()
            .map(|o| o.sku.as_str())
            .collect();
        let addon = skus
            .iter()
            .copied()
            .find(|s| c.option_kind(s) == Some(crate::catalog::OptionKind::Addon))
            .unwrap();
        let base = skus
            .iter()
            .copied()
            .find(|s| c.option_kind(s) == Some(crate::catalog::OptionKind::Base))
            .unwrap();
        assert!(orphaned_addons(&c, &[base, addon]).is_empty());
        let orphans = orphaned_addons(&c, &[addon]);
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].sku, addon);
    }

    #[test]
    fn base_cancelled_now_revokes_addon() {
        let cur = [active("basic-monthly"), active("sports-monthly")];
        let out = apply_events(
            &example(),
            &cur,
            &[ev(Cancellation, "basic-monthly", NOW)],
            NOW,
        );
        assert_eq!(held(&out), []);
        assert_eq!(revoked(&out), ["sports"]);
        assert_eq!(out.revoked[0].sku, "sports-monthly");
        assert!(out.revoked[0].reason.contains("basic, premium"));
    }

    #[test]
    fn base_cancelled_at_period_end_keeps_addon_until_then() {
        let cat = example();
        let cur = [active("basic-monthly"), active("sports-monthly")];
        let end = NOW + 20 * DAY;
        let out = apply_events(&cat, &cur, &[ev(Cancellation, "basic-monthly", end)], NOW);
        assert_eq!(
            held(&out),
            [
                ("basic-monthly", PendingInactive),
                ("sports-monthly", Active)
            ]
        );
        assert!(out.revoked.is_empty());
        // A later tick with no events past the end date settles and revokes.
        let later = apply_events(&cat, &out.subscriptions, &[], end);
        assert_eq!(held(&later), []);
        assert_eq!(revoked(&later), ["sports"]);
    }

    #[test]
    fn upgrade_batch_rebases_addon_in_either_order() {
        let cur = [active("basic-monthly"), active("sports-monthly")];
        let sale = ev(UpgradeSale, "premium-monthly", NOW);
        let cancel = ev(UpgradeCancellation, "basic-monthly", NOW);
        for batch in [
            [sale.clone(), cancel.clone()],
            [cancel.clone(), sale.clone()],
        ] {
            let out = apply_events(&example(), &cur, &batch, NOW);
            assert_eq!(
                held(&out),
                [("premium-monthly", Active), ("sports-monthly", Active)]
            );
            assert!(out.revoked.is_empty(), "{:?}", out.revoked);
        }
    }

    #[test]
    fn upgrade_cancellation_alone_revokes() {
        let cur = [active("basic-monthly"), active("sports-monthly")];
        let out = apply_events(
            &example(),
            &cur,
            &[ev(UpgradeCancellation, "basic-monthly", NOW)],
            NOW,
        );
        assert_eq!(revoked(&out), ["sports"]);
    }

    #[test]
    fn downgrade_switches_at_old_expiry() {
        let cat = example();
        let cur = [active("premium-monthly"), active("sportsplus-monthly")];
        let switch = NOW + 20 * DAY;
        let batch = [
            ev(DowngradeSale, "basic-monthly", switch),
            ev(DowngradeCancel_alias(), "premium-monthly", switch),
        ];
        let out = apply_events(&cat, &cur, &batch, NOW);
        assert_eq!(
            held(&out),
            [
                ("basic-monthly", PendingActive),
                ("premium-monthly", PendingInactive),
                ("sportsplus-monthly", Active),
            ]
        );
        assert!(out.revoked.is_empty());
        let after = apply_events(&cat, &out.subscriptions, &[], switch);
        assert_eq!(
            held(&after),
            [("basic-monthly", Active), ("sportsplus-monthly", Active)]
        );
        assert!(after.revoked.is_empty());
    }

    #[allow(non_snake_case)]
    fn DowngradeCancel_alias() -> EventKind {
        serde_json::from_str("\"DowngradeCancel\"").unwrap()
    }

    #[test]
    fn refund_waits_for_cancellation() {
        let cat = example();
        let cur = [active("basic-monthly"), active("sports-monthly")];
        let out = apply_events(&cat, &cur, &[ev(Refund, "basic-monthly", NOW)], NOW);
        assert_eq!(out.subscriptions.len(), 2);
        let batch = [
            ev(Refund, "basic-monthly", NOW),
            ev(Cancellation, "basic-monthly", NOW),
        ];
        let out = apply_events(&cat, &cur, &batch, NOW);
        assert_eq!(revoked(&out), ["sports"]);
    }

    #[test]
    fn expiration_ends_and_sale_starts() {
        let cat = example();
        let out = apply_events(
            &cat,
            &[active("basic-annual")],
            &[
                ev(Expiration, "basic-annual", NOW),
                ev(Sale, "premium-monthly", NOW),
            ],
            NOW,
        );
        assert_eq!(held(&out), [("premium-monthly", Active)]);
        assert_eq!(out.subscriptions[0].expires_ms, Some(NOW + 30 * DAY));
    }

    #[test]
    fn addon_sold_without_base_is_revoked() {
        let out = apply_events(&example(), &[], &[ev(Sale, "sports-monthly", NOW)], NOW);
        assert_eq!(revoked(&out), ["sports"]);
        assert!(out.subscriptions.is_empty());
    }

    #[test]
    fn bundle_base_keeps_addon_and_bundle_never_revoked() {
        let cur = [
            active("premium-sports-monthly"),
            active("sportsplus-monthly"),
        ];
        let out = apply_events(&example(), &cur, &[], NOW);
        assert!(out.revoked.is_empty());
        assert_eq!(out.subscriptions.len(), 2);
    }

    #[test]
    fn inactive_input_is_dropped_and_unknown_events_ignored() {
        let mut old = active("basic-monthly");
        old.status = PurchaseStatus::Inactive;
        let out = apply_events(&example(), &[old], &[ev(Cancellation, "nothing", NOW)], NOW);
        assert!(out.subscriptions.is_empty() && out.revoked.is_empty());
    }

    #[test]
    fn events_deserialize_from_push_names() {
        let e: Event = serde_json::from_value(serde_json::json!({
            "kind": "UpgradeCancel", "sku": "basic-monthly", "effectiveMs": 5
        }))
        .unwrap();
        assert_eq!(e.kind, UpgradeCancellation);
    }
}
