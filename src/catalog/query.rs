//! QueryPurchaseOptions: filter the catalog the way Roku's on-device API does.
//!
//! Semantics: fields within one query are AND'ed, values within an array are OR'ed, and a
//! list of queries is OR'ed. An empty array or absent field places no constraint, and an
//! empty list of queries returns every option on offer. Options outside their offer window
//! are never returned.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::date::Date;
use super::model::{
    BaseOffer, BillingPeriod, Catalog, OptionKind, OwnedPurchase, Phase, PurchaseOption,
};
use super::tiers::{format_usd, parse_usd, tier_price_cents};

/// A money amount in cents. Deserializes from a dollar number (`9.99`) or a string
/// (`"$9.99"`, `"9.99"`), since devices send either; serializes as `"$9.99"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cost(pub u64);

impl Serialize for Cost {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_usd(self.0))
    }
}

impl<'de> Deserialize<'de> for Cost {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cost, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        let cents = match Raw::deserialize(d)? {
            // Floats only at this boundary; rounding to the nearest cent absorbs 9.99 being
            // stored as 9.98999….
            Raw::Number(n) if n.is_finite() && n >= 0.0 => Some((n * 100.0).round() as u64),
            Raw::Number(_) => None,
            Raw::Text(t) => parse_usd(&t),
        };
        cents.map(Cost).ok_or_else(|| {
            serde::de::Error::custom("invalid referenceCost, expected e.g. \"$9.99\"")
        })
    }
}

/// Relation of an option to the reference, for `includeProducts` and `compareCost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    Same,
    More,
    Less,
}

/// Ownership filter for `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OwnState {
    Purchased,
    NotPurchased,
}

/// One QueryPurchaseOptions query. The option type can be given as a `type` array (or a
/// single string) and/or as `base`/`addon`/`bundle` booleans, because Roku's samples use both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Query {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_product_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_cost: Option<Cost>,
    #[serde(
        rename = "type",
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub types: Option<Vec<OptionKind>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addon: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<bool>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub billing_type: Option<Vec<BillingPeriod>>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub phase: Option<Vec<Phase>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_products: Option<Relation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_cost: Option<Relation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_product_group: Option<bool>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub state: Option<Vec<OwnState>>,
}

fn one_or_many<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        One(T),
        Many(Vec<T>),
    }
    Ok(Option::<OneOrMany<T>>::deserialize(d)?.map(|v| match v {
        OneOrMany::One(t) => vec![t],
        OneOrMany::Many(v) => v,
    }))
}

/// A query that can't be evaluated; reported instead of silently matching nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("query #{query}: unknown referenceSku {sku}")]
    UnknownReferenceSku { query: usize, sku: String },
    #[error("query #{query}: unknown product {product} in referenceProductIds")]
    UnknownReferenceProduct { query: usize, product: String },
    #[error("query #{query}: {field} needs {needs}")]
    MissingReference {
        query: usize,
        field: &'static str,
        needs: &'static str,
    },
}

/// One pricing phase of a billing plan, as Roku's catalog shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseView {
    pub phase: Phase,
    /// ISO-8601 duration, e.g. `P7D`, `P1M`, `P1Y`.
    pub duration: String,
    pub cost: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BillingPlan {
    pub phases: Vec<PhaseView>,
}

/// A purchase option in the GetCatalog-like shape devices expect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionView {
    pub sku: String,
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: OptionKind,
    /// Regular price.
    pub cost: String,
    pub billing_plans: Vec<BillingPlan>,
    pub products: Vec<String>,
    pub purchased: bool,
}

impl OptionView {
    pub fn build(catalog: &Catalog, option: &PurchaseOption, purchased: bool) -> OptionView {
        let regular = format_usd(option.price_cents().unwrap_or(0));
        let period = option.billing_period;
        let mut phases = Vec::new();
        match &option.base_offer {
            BaseOffer::None => {}
            BaseOffer::FreeTrial { days, months } => phases.push(PhaseView {
                phase: Phase::Trial,
                duration: match (days, months) {
                    (Some(d), _) => format!("P{d}D"),
                    (None, m) => format!("P{}M", m.unwrap_or(0)),
                },
                cost: format_usd(0),
            }),
            BaseOffer::Introductory { periods, tier } => phases.push(PhaseView {
                phase: Phase::Introductory,
                duration: period.iso_duration(*periods),
                cost: format_usd(tier_price_cents(*tier).unwrap_or(0)),
            }),
        }
        phases.push(PhaseView {
            phase: Phase::Regular,
            duration: period.iso_duration(1),
            cost: regular.clone(),
        });
        OptionView {
            sku: option.sku.clone(),
            name: option.display_name.clone(),
            description: option.description.clone(),
            kind: catalog.kind_of(option),
            cost: regular,
            billing_plans: vec![BillingPlan { phases }],
            products: option.products.clone(),
            purchased,
        }
    }
}

/// Runs QueryPurchaseOptions against the catalog as of `today`.
pub fn query(
    catalog: &Catalog,
    queries: &[Query],
    owned: &[OwnedPurchase],
    today: Date,
) -> Result<BTreeMap<String, OptionView>, QueryError> {
    let compiled = queries
        .iter()
        .enumerate()
        .map(|(i, q)| Compiled::new(catalog, i, q))
        .collect::<Result<Vec<_>, _>>()?;
    // Inactive purchases are history; everything else (including a pending downgrade) is
    // something the customer already holds.
    let held: BTreeSet<&str> = owned
        .iter()
        .filter(|o| o.status != super::PurchaseStatus::Inactive)
        .map(|o| o.sku.as_str())
        .collect();
    let mut out = BTreeMap::new();
    for option in catalog.purchase_options() {
        if !option.is_offered_on(today) {
            continue;
        }
        let purchased = held.contains(option.sku.as_str());
        if compiled.is_empty()
            || compiled
                .iter()
                .any(|c| c.matches(catalog, option, purchased))
        {
            out.insert(
                option.sku.clone(),
                OptionView::build(catalog, option, purchased),
            );
        }
    }
    Ok(out)
}

/// A query with its references resolved once, so matching is a pure predicate.
struct Compiled<'a> {
    kinds: Option<BTreeSet<OptionKind>>,
    billing: Option<&'a [BillingPeriod]>,
    phases: Option<&'a [Phase]>,
    include: Option<(Relation, BTreeSet<&'a str>)>,
    cost: Option<(Relation, u64)>,
    same_group: Option<(bool, BTreeSet<&'a str>)>,
    state: Option<&'a [OwnState]>,
}

fn nonempty<T>(v: &Option<Vec<T>>) -> Option<&[T]> {
    v.as_deref().filter(|s| !s.is_empty())
}

impl<'a> Compiled<'a> {
    fn new(catalog: &'a Catalog, i: usize, q: &'a Query) -> Result<Self, QueryError> {
        let ref_option = match &q.reference_sku {
            Some(sku) => {
                Some(
                    catalog
                        .option(sku)
                        .ok_or_else(|| QueryError::UnknownReferenceSku {
                            query: i,
                            sku: sku.clone(),
                        })?,
                )
            }
            None => None,
        };
        // Explicit product ids win over the SKU's products, like referenceCost wins over
        // the SKU's price: the caller asked for that reference specifically.
        let ref_products: Option<BTreeSet<&str>> = match nonempty(&q.reference_product_ids) {
            Some(ids) => {
                if let Some(bad) = ids.iter().find(|id| catalog.product(id).is_none()) {
                    return Err(QueryError::UnknownReferenceProduct {
                        query: i,
                        product: bad.clone(),
                    });
                }
                Some(ids.iter().map(String::as_str).collect())
            }
            None => ref_option.map(|o| o.products.iter().map(String::as_str).collect()),
        };
        let ref_cost = q
            .reference_cost
            .map(|c| c.0)
            .or_else(|| ref_option.and_then(PurchaseOption::price_cents));
        let need_products = |field| QueryError::MissingReference {
            query: i,
            field,
            needs: "referenceSku or referenceProductIds",
        };

        let include = match q.include_products {
            Some(rel) => Some((
                rel,
                ref_products
                    .clone()
                    .ok_or_else(|| need_products("includeProducts"))?,
            )),
            None => None,
        };
        let cost = match q.compare_cost {
            Some(rel) => Some((
                rel,
                ref_cost.ok_or(QueryError::MissingReference {
                    query: i,
                    field: "compareCost",
                    needs: "referenceCost or referenceSku",
                })?,
            )),
            None => None,
        };
        let same_group = match q.same_product_group {
            Some(want) => {
                let refs = ref_products.ok_or_else(|| need_products("sameProductGroup"))?;
                Some((want, catalog.groups_of(refs)))
            }
            None => None,
        };
        Ok(Compiled {
            kinds: kind_filter(q),
            billing: nonempty(&q.billing_type),
            phases: nonempty(&q.phase),
            include,
            cost,
            same_group,
            state: nonempty(&q.state),
        })
    }

    fn matches(&self, catalog: &Catalog, o: &PurchaseOption, purchased: bool) -> bool {
        if let Some(kinds) = &self.kinds {
            if !kinds.contains(&catalog.kind_of(o)) {
                return false;
            }
        }
        if self.billing.is_some_and(|b| !b.contains(&o.billing_period)) {
            return false;
        }
        if self
            .phases
            .is_some_and(|p| !p.contains(&o.base_offer.phase()))
        {
            return false;
        }
        if let Some((rel, reference)) = &self.include {
            let mine: BTreeSet<&str> = o.products.iter().map(String::as_str).collect();
            let ok = match rel {
                Relation::Same => mine == *reference,
                Relation::More => mine.is_superset(reference) && mine.len() > reference.len(),
                Relation::Less => mine.is_subset(reference) && mine.len() < reference.len(),
            };
            if !ok {
                return false;
            }
        }
        if let Some((rel, reference)) = self.cost {
            let price = o.price_cents().unwrap_or(0);
            let ok = match rel {
                Relation::Same => price == reference,
                Relation::More => price > reference,
                Relation::Less => price < reference,
            };
            if !ok {
                return false;
            }
        }
        if let Some((want, groups)) = &self.same_group {
            let mine = catalog.groups_of(o.products.iter().map(String::as_str));
            if mine.is_disjoint(groups) == *want {
                return false;
            }
        }
        if let Some(states) = self.state {
            let s = if purchased {
                OwnState::Purchased
            } else {
                OwnState::NotPurchased
            };
            if !states.contains(&s) {
                return false;
            }
        }
        true
    }
}

/// Merges `type` with the `base`/`addon`/`bundle` booleans: `true` adds a kind, `false`
/// removes one; only `false` flags means "everything except".
fn kind_filter(q: &Query) -> Option<BTreeSet<OptionKind>> {
    let flags = [
        (OptionKind::Base, q.base),
        (OptionKind::Addon, q.addon),
        (OptionKind::Bundle, q.bundle),
    ];
    let listed = nonempty(&q.types);
    if listed.is_none() && flags.iter().all(|(_, f)| f.is_none()) {
        return None;
    }
    let mut set: BTreeSet<OptionKind> = listed.unwrap_or_default().iter().copied().collect();
    set.extend(
        flags
            .iter()
            .filter(|(_, f)| *f == Some(true))
            .map(|(k, _)| *k),
    );
    if set.is_empty() {
        set = flags.iter().map(|(k, _)| *k).collect();
    }
    for (k, f) in flags {
        if f == Some(false) {
            set.remove(&k);
        }
    }
    Some(set)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::example;
    use super::*;
    use serde_json::json;

    fn today() -> Date {
        Date::parse("2026-01-01").unwrap()
    }

    fn run(queries: serde_json::Value, owned: &[&str], day: Date) -> Vec<String> {
        let queries: Vec<Query> = match queries {
            serde_json::Value::Array(_) => serde_json::from_value(queries).unwrap(),
            one => vec![serde_json::from_value(one).unwrap()],
        };
        let owned: Vec<OwnedPurchase> = owned.iter().map(|s| OwnedPurchase::active(s)).collect();
        query(&example(), &queries, &owned, day)
            .unwrap()
            .into_keys()
            .collect()
    }

    const ALL: &[&str] = &[
        "basic-annual",
        "basic-monthly",
        "premium-monthly",
        "premium-sports-monthly",
        "sports-monthly",
        "sportsplus-monthly",
    ];

    #[test]
    fn table() {
        #[rustfmt::skip]
        let cases: Vec<(&str, serde_json::Value, &[&str], &[&str])> = vec![
            ("no query returns all", json!([]), &[], ALL),
            ("empty query returns all", json!({}), &[], ALL),
            ("empty arrays constrain nothing", json!({"type": [], "phase": []}), &[], ALL),
            ("type base", json!({"type": ["base"]}), &[],
                &["basic-annual", "basic-monthly", "premium-monthly"]),
            ("type OR", json!({"type": ["addon", "bundle"]}), &[],
                &["premium-sports-monthly", "sports-monthly", "sportsplus-monthly"]),
            ("type as a string", json!({"type": "bundle"}), &[], &["premium-sports-monthly"]),
            ("addon flag", json!({"addon": true}), &[], &["sports-monthly", "sportsplus-monthly"]),
            ("base and bundle flags", json!({"base": true, "bundle": true}), &[],
                &["basic-annual", "basic-monthly", "premium-monthly", "premium-sports-monthly"]),
            ("false flag excludes", json!({"base": false}), &[],
                &["premium-sports-monthly", "sports-monthly", "sportsplus-monthly"]),
            ("type plus flag", json!({"type": ["addon"], "bundle": true}), &[],
                &["premium-sports-monthly", "sports-monthly", "sportsplus-monthly"]),
            ("billingType", json!({"billingType": ["annual"]}), &[], &["basic-annual"]),
            ("billingType OR", json!({"billingType": ["monthly", "annual"]}), &[], ALL),
            ("billingType quarterly", json!({"billingType": "quarterly"}), &[], &[]),
            ("phase trial", json!({"phase": ["trial"]}), &[],
                &["basic-monthly", "sportsplus-monthly"]),
            ("phase introductory", json!({"phase": ["introductory"]}), &[], &["premium-monthly"]),
            ("phase regular = no base offer", json!({"phase": ["regular"]}), &[],
                &["basic-annual", "premium-sports-monthly", "sports-monthly"]),
            ("phase OR", json!({"phase": ["trial", "introductory"]}), &[],
                &["basic-monthly", "premium-monthly", "sportsplus-monthly"]),
            ("includeProducts same",
                json!({"referenceSku": "premium-monthly", "includeProducts": "same"}), &[],
                &["premium-monthly"]),
            ("includeProducts more",
                json!({"referenceSku": "premium-monthly", "includeProducts": "more"}), &[],
                &["premium-sports-monthly"]),
            ("includeProducts less",
                json!({"referenceSku": "premium-sports-monthly", "includeProducts": "less"}), &[],
                &["premium-monthly", "sports-monthly"]),
            ("includeProducts by product ids",
                json!({"referenceProductIds": ["basic"], "includeProducts": "same"}), &[],
                &["basic-annual", "basic-monthly"]),
            ("product ids win over sku",
                json!({"referenceSku": "premium-monthly", "referenceProductIds": ["sports"],
                       "includeProducts": "same"}), &[],
                &["sports-monthly"]),
            ("compareCost same", json!({"referenceCost": "$4.99", "compareCost": "same"}), &[],
                &["basic-monthly"]),
            ("integer referenceCost is dollars",
                json!({"referenceCost": 3, "compareCost": "less"}), &[], &["sports-monthly"]),
            ("compareCost less, numeric cost",
                json!({"referenceCost": 4.99, "compareCost": "less"}), &[],
                &["sports-monthly", "sportsplus-monthly"]),
            ("compareCost more than sku",
                json!({"referenceSku": "premium-monthly", "compareCost": "more"}), &[],
                &["basic-annual", "premium-sports-monthly"]),
            ("referenceCost wins over sku",
                json!({"referenceSku": "premium-monthly", "referenceCost": "2.99",
                       "compareCost": "same"}), &[],
                &["sports-monthly"]),
            ("sameProductGroup true",
                json!({"referenceSku": "basic-monthly", "sameProductGroup": true}), &[],
                &["basic-annual", "basic-monthly", "premium-monthly", "premium-sports-monthly"]),
            ("sameProductGroup by product",
                json!({"referenceProductIds": ["sports"], "sameProductGroup": true}), &[],
                &["premium-sports-monthly", "sports-monthly", "sportsplus-monthly"]),
            ("sameProductGroup false",
                json!({"referenceSku": "basic-monthly", "sameProductGroup": false}), &[],
                &["sports-monthly", "sportsplus-monthly"]),
            ("state purchased", json!({"state": ["purchased"]}), &["basic-monthly", "sports-monthly"],
                &["basic-monthly", "sports-monthly"]),
            ("state notPurchased", json!({"state": "notPurchased"}),
                &["basic-monthly", "sports-monthly"],
                &["basic-annual", "premium-monthly", "premium-sports-monthly", "sportsplus-monthly"]),
            ("state OR", json!({"state": ["purchased", "notPurchased"]}), &["basic-monthly"], ALL),
            ("AND across fields",
                json!({"type": ["base"], "billingType": ["monthly"], "phase": ["trial"]}), &[],
                &["basic-monthly"]),
            ("AND with no match", json!({"type": ["addon"], "billingType": ["annual"]}), &[], &[]),
            ("upgrade candidates",
                json!({"referenceSku": "basic-monthly", "sameProductGroup": true,
                       "compareCost": "more", "billingType": ["monthly"]}), &[],
                &["premium-monthly", "premium-sports-monthly"]),
            ("add-ons not yet bought",
                json!({"type": ["addon"], "state": ["notPurchased"]}), &["sports-monthly"],
                &["sportsplus-monthly"]),
            ("queries OR'ed", json!([{"type": ["addon"]}, {"billingType": ["annual"]}]), &[],
                &["basic-annual", "sports-monthly", "sportsplus-monthly"]),
        ];
        for (name, q, owned, want) in cases {
            assert_eq!(run(q, owned, today()), want, "{name}");
        }
    }

    #[test]
    fn offer_window_is_inclusive_and_enforced() {
        let bundle = "premium-sports-monthly";
        for (day, offered) in [
            ("2024-12-31", false),
            ("2025-01-01", true),
            ("2030-12-31", true),
            ("2031-01-01", false),
        ] {
            let got = run(json!({}), &[], Date::parse(day).unwrap());
            assert_eq!(got.iter().any(|s| s == bundle), offered, "{day}");
            assert_eq!(got.len(), if offered { 6 } else { 5 }, "{day}");
        }
    }

    #[test]
    fn malformed_queries_are_errors() {
        let cat = example();
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (json!({"referenceSku": "gold"}), "unknown referenceSku gold"),
            (json!({"compareCost": "more"}), "compareCost needs"),
            (
                json!({"referenceProductIds": ["basic"], "compareCost": "less"}),
                "compareCost needs",
            ),
            (json!({"includeProducts": "same"}), "includeProducts needs"),
            (json!({"sameProductGroup": true}), "sameProductGroup needs"),
            (
                json!({"referenceProductIds": ["gold"], "includeProducts": "same"}),
                "unknown product gold",
            ),
        ];
        for (q, want) in cases {
            let q: Query = serde_json::from_value(q).unwrap();
            let err = query(&cat, &[Query::default(), q], &[], today()).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(want) && msg.contains("#1"), "{msg}");
        }
    }

    #[test]
    fn bad_json_is_rejected_by_serde() {
        for bad in [
            json!({"referenceSKU": "x"}),
            json!({"type": ["premium"]}),
            json!({"includeProducts": "all"}),
            json!({"referenceCost": "free"}),
            json!({"referenceCost": -1.0}),
        ] {
            assert!(
                serde_json::from_value::<Query>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn view_shape() {
        let owned = [OwnedPurchase::active("premium-monthly")];
        let got = query(&example(), &[], &owned, today()).unwrap();
        let v = serde_json::to_value(&got["premium-monthly"]).unwrap();
        assert_eq!(
            v,
            json!({
                "sku": "premium-monthly",
                "name": "Premium Monthly",
                "description": "Premium plan, billed monthly",
                "type": "base",
                "cost": "$9.99",
                "billingPlans": [{"phases": [
                    {"phase": "introductory", "duration": "P3M", "cost": "$5.49"},
                    {"phase": "regular", "duration": "P1M", "cost": "$9.99"}
                ]}],
                "products": ["premium"],
                "purchased": true
            })
        );
        let trial = serde_json::to_value(&got["basic-monthly"]).unwrap();
        assert_eq!(
            trial["billingPlans"][0]["phases"][0],
            json!({"phase": "trial", "duration": "P7D", "cost": "$0.00"})
        );
        assert_eq!(trial["purchased"], json!(false));
        let months = serde_json::to_value(&got["sportsplus-monthly"]).unwrap();
        assert_eq!(months["billingPlans"][0]["phases"][0]["duration"], "P1M");
        assert_eq!(months["type"], "addon");
        let annual = serde_json::to_value(&got["basic-annual"]).unwrap();
        assert_eq!(
            annual["billingPlans"][0]["phases"],
            json!([{"phase": "regular", "duration": "P1Y", "cost": "$49.99"}])
        );
        assert_eq!(got["premium-sports-monthly"].kind, OptionKind::Bundle);
    }

    #[test]
    fn inactive_purchases_are_not_purchased() {
        let owned = [OwnedPurchase {
            sku: "basic-monthly".into(),
            products: vec![],
            status: super::super::PurchaseStatus::Inactive,
        }];
        let got = query(&example(), &[], &owned, today()).unwrap();
        assert!(!got["basic-monthly"].purchased);
    }
}
