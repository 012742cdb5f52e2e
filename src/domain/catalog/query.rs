//! QueryPurchaseOptions: filter purchase options (or purchases) the way Roku's on-device
//! command does, over GetCatalog-shaped maps.
//!
//! Semantics, from the guide's field table: conditions in the `query` array are OR'ed; the
//! fields of one condition are AND'ed; a field given as an array matches any of its values.
//! An absent field or an empty array places no constraint, and an empty `query` returns
//! everything on offer. Options outside their offer window are never returned.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::{self, IntoDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::date::Date;
use super::purchases::Purchase;
use super::shapes::{BillingPlan, CatalogOption, CatalogProduct};
use super::tiers::{format_usd, parse_usd};
use super::vocab::{BillingType, OptionType, PhaseType, PurchaseState, Relation};

/// A money amount in cents. Read from Roku's localized cost string (`"$9.99"`; the bare
/// `"9.99"` too), written back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cost(pub u64);

impl Serialize for Cost {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_usd(self.0))
    }
}

impl<'de> Deserialize<'de> for Cost {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cost, D::Error> {
        let text = String::deserialize(d)?;
        parse_usd(&text).map(Cost).ok_or_else(|| {
            de::Error::custom("invalid referenceCost, expected a cost such as \"$9.99\"")
        })
    }
}

/// One condition of QueryPurchaseOptions' `query` array, with the field table's names.
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
    pub types: Option<Vec<OptionType>>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub billing_type: Option<Vec<BillingType>>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub phase: Option<Vec<PhaseType>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addon: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<bool>,
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
    pub state: Option<Vec<PurchaseState>>,
}

/// The table types these fields as strings; an array of them is read as "any of", the way
/// the guide treats array-valued fields. A hand-written visitor keeps serde's "unknown
/// variant" message, which an untagged enum would swallow.
fn one_or_many<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> de::Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or an array of strings")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<T>, E> {
            T::deserialize(v.into_deserializer()).map(|t| vec![t])
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(t) = seq.next_element()? {
                out.push(t);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V(std::marker::PhantomData)).map(Some)
}

/// QueryPurchaseOptions' `params`: the conditions and, optionally, what to query over.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryParams {
    #[serde(default)]
    pub query: Vec<Query>,
    #[serde(default)]
    pub purchase_options_map: Option<BTreeMap<String, CatalogOption>>,
    /// The table calls this value `productMap` in one place; both spellings are read.
    #[serde(default, alias = "productMap")]
    pub products_map: Option<BTreeMap<String, CatalogProduct>>,
    #[serde(default)]
    pub purchases_map: Option<BTreeMap<String, Purchase>>,
    /// Every request of the add-on workflow carries version 2; any other value is refused.
    #[serde(default)]
    pub version: Option<u32>,
}

/// A query that can't be evaluated; reported instead of silently matching nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The field table allows this field only alongside another one.
    #[error("query[{query}].{field}: only specify it together with {needs}")]
    MissingReference {
        query: usize,
        field: &'static str,
        needs: &'static str,
    },
    #[error(
        "query[{query}].state: only specify it when querying purchases (purchasesMap, or a session)"
    )]
    StateWithoutPurchases { query: usize },
    #[error("query[{query}].referenceSku: unknown sku {sku}")]
    UnknownReferenceSku { query: usize, sku: String },
    #[error("query[{query}].referenceProductIds: unknown product {product}")]
    UnknownReferenceProduct { query: usize, product: String },
}

impl QueryError {
    /// Whether the request itself breaks the field table (400) rather than naming something
    /// the maps don't hold (422).
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            QueryError::MissingReference { .. } | QueryError::StateWithoutPurchases { .. }
        )
    }
}

/// What the filter needs to know of one purchase option or purchase.
struct Item {
    kind: OptionType,
    addon: bool,
    billing_types: BTreeSet<BillingType>,
    products: BTreeSet<String>,
    initial_phase: Option<PhaseType>,
    regular_cents: Option<u64>,
    states: BTreeSet<PurchaseState>,
}

impl Item {
    fn of(kind: OptionType, addon: bool, cost: &str, plans: &[BillingPlan]) -> Item {
        // "Regular price billing phase" when there is one; a plan without phases (digital
        // content) is compared on the option's cost.
        let regular = plans
            .iter()
            .flat_map(|p| &p.phases)
            .find(|ph| ph.kind == PhaseType::RegularPrice)
            .map(|ph| ph.cost.as_str())
            .unwrap_or(cost);
        Item {
            kind,
            addon,
            billing_types: plans.iter().map(|p| p.billing_type).collect(),
            products: plans
                .iter()
                .flat_map(|p| p.product_ids.iter().cloned())
                .collect(),
            initial_phase: plans
                .iter()
                .find(|p| p.billing_type == BillingType::Subscription)
                .and_then(|p| p.phases.first())
                .map(|ph| ph.kind),
            regular_cents: parse_usd(regular),
            states: plans.iter().filter_map(|p| p.state).collect(),
        }
    }

    fn of_option(o: &CatalogOption) -> Item {
        Item::of(o.kind, o.addon, &o.cost, &o.billing_plans)
    }

    fn of_purchase(p: &Purchase) -> Item {
        Item::of(p.kind, p.addon, &p.cost, &p.billing_plans)
    }

    /// "Linked to only a single product" and needing no prerequisite.
    fn is_base(&self) -> bool {
        self.products.len() == 1 && !self.addon
    }

    /// "Linked to two or more products".
    fn is_bundle(&self) -> bool {
        self.products.len() >= 2
    }
}

/// Reads an `offerStartDate`/`offerEndDate`; a timestamp counts by its day.
fn day_of(s: &Option<String>) -> Option<Date> {
    s.as_deref().and_then(|s| Date::parse(s.get(..10)?))
}

fn offered_on(o: &CatalogOption, today: Option<Date>) -> bool {
    let Some(today) = today else { return true };
    day_of(&o.offer_start_date).is_none_or(|s| s <= today)
        && day_of(&o.offer_end_date).is_none_or(|e| today <= e)
}

/// Runs the queries over purchase options, as of `today` (`None`: ignore offer windows).
pub fn query_options(
    options: &BTreeMap<String, CatalogOption>,
    products: &BTreeMap<String, CatalogProduct>,
    queries: &[Query],
    today: Option<Date>,
) -> Result<BTreeMap<String, CatalogOption>, QueryError> {
    let refs = References {
        options,
        purchases: None,
    };
    let compiled = compile(&refs, products, queries, false)?;
    Ok(options
        .iter()
        .filter(|(_, o)| offered_on(o, today))
        .filter(|(_, o)| any_matches(&compiled, &Item::of_option(o), products))
        .map(|(k, o)| (k.clone(), o.clone()))
        .collect())
}

/// Runs the queries over a customer's purchases; `options` resolves a `referenceSku` that
/// names a purchase option the customer doesn't hold.
pub fn query_purchases(
    purchases: &BTreeMap<String, Purchase>,
    options: &BTreeMap<String, CatalogOption>,
    products: &BTreeMap<String, CatalogProduct>,
    queries: &[Query],
) -> Result<BTreeMap<String, Purchase>, QueryError> {
    let refs = References {
        options,
        purchases: Some(purchases),
    };
    let compiled = compile(&refs, products, queries, true)?;
    Ok(purchases
        .iter()
        .filter(|(_, p)| any_matches(&compiled, &Item::of_purchase(p), products))
        .map(|(k, p)| (k.clone(), p.clone()))
        .collect())
}

fn any_matches(
    compiled: &[Compiled],
    item: &Item,
    products: &BTreeMap<String, CatalogProduct>,
) -> bool {
    compiled.is_empty() || compiled.iter().any(|c| c.matches(item, products))
}

struct References<'a> {
    options: &'a BTreeMap<String, CatalogOption>,
    purchases: Option<&'a BTreeMap<String, Purchase>>,
}

impl References<'_> {
    fn item(&self, sku: &str) -> Option<Item> {
        self.options.get(sku).map(Item::of_option).or_else(|| {
            self.purchases
                .and_then(|p| p.get(sku))
                .map(Item::of_purchase)
        })
    }
}

fn compile(
    refs: &References,
    products: &BTreeMap<String, CatalogProduct>,
    queries: &[Query],
    over_purchases: bool,
) -> Result<Vec<Compiled>, QueryError> {
    queries
        .iter()
        .enumerate()
        .map(|(i, q)| Compiled::new(refs, products, i, q, over_purchases))
        .collect()
}

/// A condition with its references resolved once, so matching is a pure predicate.
struct Compiled {
    types: Option<BTreeSet<OptionType>>,
    billing: Option<BTreeSet<BillingType>>,
    phases: Option<BTreeSet<PhaseType>>,
    base: Option<bool>,
    addon: Option<bool>,
    /// With `referenceSku` and `addon: true`: the reference's products, which the add-on must
    /// build on.
    addon_after: Option<BTreeSet<String>>,
    bundle: Option<bool>,
    include: Option<(Relation, BTreeSet<String>)>,
    /// A reference without a readable cost compares with nothing.
    cost: Option<(Relation, Option<u64>)>,
    same_group: Option<(bool, BTreeSet<String>)>,
    states: Option<BTreeSet<PurchaseState>>,
}

fn set_of<T: Ord + Copy>(v: &Option<Vec<T>>) -> Option<BTreeSet<T>> {
    v.as_ref()
        .filter(|v| !v.is_empty())
        .map(|v| v.iter().copied().collect())
}

impl Compiled {
    fn new(
        refs: &References,
        products: &BTreeMap<String, CatalogProduct>,
        i: usize,
        q: &Query,
        over_purchases: bool,
    ) -> Result<Compiled, QueryError> {
        let reference = match &q.reference_sku {
            Some(sku) => Some(
                refs.item(sku)
                    .ok_or_else(|| QueryError::UnknownReferenceSku {
                        query: i,
                        sku: sku.clone(),
                    })?,
            ),
            None => None,
        };
        let ref_ids = q.reference_product_ids.as_ref().filter(|v| !v.is_empty());
        if let Some(bad) = ref_ids
            .into_iter()
            .flatten()
            .find(|id| !products.contains_key(id.as_str()))
        {
            return Err(QueryError::UnknownReferenceProduct {
                query: i,
                product: bad.clone(),
            });
        }
        let missing = |field, needs| QueryError::MissingReference {
            query: i,
            field,
            needs,
        };
        // referenceProductIds wins over referenceSku for includeProducts.
        let include = match q.include_products {
            Some(rel) => {
                let refp = match (ref_ids, &reference) {
                    (Some(ids), _) => ids.iter().cloned().collect(),
                    (None, Some(r)) => r.products.clone(),
                    (None, None) => {
                        return Err(missing(
                            "includeProducts",
                            "referenceSku or referenceProductIds",
                        ));
                    }
                };
                Some((rel, refp))
            }
            None => None,
        };
        // referenceCost wins over referenceSku for compareCost.
        let cost = match q.compare_cost {
            Some(rel) => {
                let cents = match (q.reference_cost, &reference) {
                    (Some(c), _) => Some(c.0),
                    (None, Some(r)) => r.regular_cents,
                    (None, None) => {
                        return Err(missing("compareCost", "referenceSku or referenceCost"));
                    }
                };
                Some((rel, cents))
            }
            None => None,
        };
        let same_group = match q.same_product_group {
            Some(want) => match &reference {
                Some(r) => Some((want, r.products.clone())),
                None => return Err(missing("sameProductGroup", "referenceSku")),
            },
            None => None,
        };
        let states = set_of(&q.state);
        if q.state.is_some() && !over_purchases {
            return Err(QueryError::StateWithoutPurchases { query: i });
        }
        let addon_after = match (&reference, q.addon) {
            (Some(r), Some(true)) => Some(r.products.clone()),
            _ => None,
        };
        Ok(Compiled {
            types: set_of(&q.types),
            billing: set_of(&q.billing_type),
            phases: set_of(&q.phase),
            base: q.base,
            addon: q.addon,
            addon_after,
            bundle: q.bundle,
            include,
            cost,
            same_group,
            states,
        })
    }

    fn matches(&self, item: &Item, products: &BTreeMap<String, CatalogProduct>) -> bool {
        let ok = |want: Option<bool>, have: bool| want.is_none_or(|w| w == have);
        self.types.as_ref().is_none_or(|t| t.contains(&item.kind))
            && self
                .billing
                .as_ref()
                .is_none_or(|b| !b.is_disjoint(&item.billing_types))
            && self
                .phases
                .as_ref()
                .is_none_or(|p| item.initial_phase.is_some_and(|ph| p.contains(&ph)))
            && ok(self.base, item.is_base())
            && ok(self.addon, item.addon)
            && ok(self.bundle, item.is_bundle())
            && self
                .addon_after
                .as_ref()
                .is_none_or(|r| purchasable_after(item, r, products))
            && self
                .include
                .as_ref()
                .is_none_or(|(rel, r)| includes(*rel, &item.products, r, products))
            && self
                .cost
                .is_none_or(|(rel, r)| match (item.regular_cents, r) {
                    (Some(c), Some(r)) => match rel {
                        Relation::Same => c == r,
                        Relation::More => c > r,
                        Relation::Less => c < r,
                    },
                    _ => false,
                })
            && self
                .same_group
                .as_ref()
                .is_none_or(|(want, r)| conflicts(&item.products, r, products) == *want)
            && self
                .states
                .as_ref()
                .is_none_or(|s| !s.is_disjoint(&item.states))
    }
}

/// `includeProducts`: `same` = the same product set; `more` = all the reference's products
/// and others; `less` = the reference's base products, and fewer products than it has.
fn includes(
    rel: Relation,
    mine: &BTreeSet<String>,
    reference: &BTreeSet<String>,
    products: &BTreeMap<String, CatalogProduct>,
) -> bool {
    match rel {
        Relation::Same => mine == reference,
        Relation::More => mine.is_superset(reference) && mine.len() > reference.len(),
        Relation::Less => {
            let bases = reference
                .iter()
                .filter(|p| products.get(p.as_str()).is_none_or(|p| !p.addon));
            let mut bases = bases.peekable();
            bases.peek().is_some()
                && bases.all(|b| mine.contains(b))
                && mine.len() < reference.len()
        }
    }
}

/// Whether any product of `a` is in the exclusivity group of a product of `b` (or the other
/// way round: a group is symmetric, but a channel's map may list it on one side only).
fn conflicts(
    a: &BTreeSet<String>,
    b: &BTreeSet<String>,
    products: &BTreeMap<String, CatalogProduct>,
) -> bool {
    let group = |p: &str| {
        products
            .get(p)
            .map(|p| p.product_exclusivity_group.as_slice())
            .unwrap_or_default()
    };
    a.iter().any(|x| {
        b.iter()
            .any(|y| group(x).contains(y) || group(y).contains(x))
    })
}

/// `referenceSku` with `addon: true`: an add-on that one of the reference's products unlocks,
/// which the reference doesn't already include and which doesn't clash with it.
fn purchasable_after(
    item: &Item,
    reference: &BTreeSet<String>,
    products: &BTreeMap<String, CatalogProduct>,
) -> bool {
    let unlocked = item.products.iter().any(|p| {
        products
            .get(p.as_str())
            .is_some_and(|p| p.prerequisites.iter().any(|b| reference.contains(b)))
    });
    unlocked
        && item.products.is_disjoint(reference)
        && !conflicts(&item.products, reference, products)
}
