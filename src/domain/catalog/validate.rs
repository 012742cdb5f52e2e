//! Catalog 2.0 validation rules.
//!
//! Roku rejects a bad catalog at publish time; catching the same mistakes at startup (and in
//! `check-config`) keeps the bridge from mapping purchases Roku will never sell.

use std::collections::{BTreeMap, BTreeSet};

use super::config::{CatalogConfig, Product, PurchaseOption};
use super::tiers::{format_usd, tier_price_cents};
use super::vocab::{BillingFrequency, DurationUnit, PhaseType};

/// Roku's limit on a purchase option's display name.
pub const MAX_DISPLAY_NAME_CHARS: usize = 30;

/// One validation failure. The message names the offending SKU or product id and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("product #{index}: id must not be empty")]
    EmptyProductId { index: usize },
    #[error("purchase option #{index}: sku must not be empty")]
    EmptySku { index: usize },
    #[error("product {id}: duplicate product id")]
    DuplicateProduct { id: String },
    #[error("purchase option {sku}: duplicate sku")]
    DuplicateSku { sku: String },
    #[error("purchase option {sku}: name must not be empty")]
    DisplayNameEmpty { sku: String },
    #[error(
        "purchase option {sku}: name is {len} characters, the limit is {MAX_DISPLAY_NAME_CHARS}"
    )]
    DisplayNameTooLong { sku: String, len: usize },
    #[error("purchase option {sku}: name must be ASCII for language {language:?}")]
    DisplayNameNotAscii { sku: String, language: String },
    #[error("product {product}: an add-on needs at least one prerequisite")]
    AddonWithoutPrerequisite { product: String },
    #[error("product {product}: only add-ons may have prerequisites")]
    PrerequisitesOnBase { product: String },
    #[error("product {product}: unknown prerequisite {prerequisite}")]
    UnknownPrerequisite {
        product: String,
        prerequisite: String,
    },
    #[error("product {product}: prerequisite {prerequisite} is an add-on, not a base product")]
    PrerequisiteNotBase {
        product: String,
        prerequisite: String,
    },
    #[error(
        "product {product}: prerequisites must all be in one exclusivity group, found {groups}"
    )]
    PrerequisitesSpanGroups { product: String, groups: String },
    #[error("purchase option {sku}: lists no productIds")]
    OptionWithoutProducts { sku: String },
    #[error("purchase option {sku}: unknown product {product}")]
    UnknownOptionProduct { sku: String, product: String },
    #[error("purchase option {sku}: product {product} is listed twice")]
    DuplicateOptionProduct { sku: String, product: String },
    #[error(
        "purchase option {sku}: bundled products {first} and {second} share exclusivity group {group}"
    )]
    BundleExclusivityConflict {
        sku: String,
        group: String,
        first: String,
        second: String,
    },
    #[error(
        "purchase option {sku}: add-on {addon} is bundled without any of its prerequisite bases"
    )]
    AddonBundledWithoutBase { sku: String, addon: String },
    #[error(
        "purchase option {sku}: add-on {addon} is bundled with {product}, which is not one of its prerequisites"
    )]
    AddonBundledWithNonPrerequisite {
        sku: String,
        addon: String,
        product: String,
    },
    #[error(
        "purchase option {sku}: add-on billing period {period} differs from base {base}'s ({base_periods})"
    )]
    AddonBillingMismatch {
        sku: String,
        period: &'static str,
        base: String,
        base_periods: String,
    },
    #[error(
        "purchase option {sku}: type {kind} is not a subscription; the bridge's catalog sells MonthlySub, QuarterlySub or YearlySub"
    )]
    NotASubscription { sku: String, kind: &'static str },
    #[error("purchase option {sku}: phases: {why}")]
    PhaseShape { sku: String, why: &'static str },
    #[error("purchase option {sku}: unknown price tier {tier}")]
    UnknownTier { sku: String, tier: u32 },
    #[error("purchase option {sku}: unknown introductory price tier {tier}")]
    UnknownIntroductoryTier { sku: String, tier: u32 },
    #[error(
        "purchase option {sku}: introductory price {intro} must be below the regular price {regular}"
    )]
    IntroductoryNotCheaper {
        sku: String,
        intro: String,
        regular: String,
    },
    #[error("purchase option {sku}: a ReducedPrice phase needs a duration above zero")]
    IntroductoryWithoutPeriods { sku: String },
    #[error("purchase option {sku}: a FreeTrial phase lasts a number of Days or Months above zero")]
    InvalidTrialLength { sku: String },
    #[error("purchase option {sku}: offerEndDate {end} must be after offerStartDate {start}")]
    OfferWindowInverted {
        sku: String,
        start: String,
        end: String,
    },
}

impl CatalogError {
    /// Stable rule name, for logs and `check-config` output that tools may grep.
    pub fn rule(&self) -> &'static str {
        use CatalogError::*;
        match self {
            EmptyProductId { .. } | EmptySku { .. } => "empty_id",
            DuplicateProduct { .. } | DuplicateSku { .. } => "duplicate_id",
            DisplayNameEmpty { .. } | DisplayNameTooLong { .. } => "display_name_length",
            DisplayNameNotAscii { .. } => "display_name_ascii",
            AddonWithoutPrerequisite { .. } => "addon_without_prerequisite",
            PrerequisitesOnBase { .. } => "prerequisites_on_base",
            UnknownPrerequisite { .. } | UnknownOptionProduct { .. } => "unknown_product",
            PrerequisiteNotBase { .. } => "prerequisite_not_base",
            PrerequisitesSpanGroups { .. } => "prerequisites_span_groups",
            OptionWithoutProducts { .. } => "option_without_products",
            DuplicateOptionProduct { .. } => "duplicate_option_product",
            BundleExclusivityConflict { .. } => "bundle_exclusivity_conflict",
            AddonBundledWithoutBase { .. } | AddonBundledWithNonPrerequisite { .. } => {
                "addon_bundle_base"
            }
            AddonBillingMismatch { .. } => "addon_billing_period",
            NotASubscription { .. } => "not_a_subscription",
            PhaseShape { .. } => "phase_shape",
            UnknownTier { .. } | UnknownIntroductoryTier { .. } => "unknown_tier",
            IntroductoryNotCheaper { .. } => "introductory_not_cheaper",
            IntroductoryWithoutPeriods { .. } => "introductory_periods",
            InvalidTrialLength { .. } => "trial_length",
            OfferWindowInverted { .. } => "offer_window",
        }
    }
}

/// Checks every rule and returns all failures (empty = valid).
pub fn validate(cfg: &CatalogConfig) -> Vec<CatalogError> {
    let mut errs = Vec::new();
    let products = index_products(cfg, &mut errs);
    for p in &cfg.products {
        check_product(p, &products, &mut errs);
    }
    let mut seen = BTreeSet::new();
    for (index, o) in cfg.purchase_options.iter().enumerate() {
        if o.sku.is_empty() {
            errs.push(CatalogError::EmptySku { index });
        } else if !seen.insert(o.sku.as_str()) {
            errs.push(CatalogError::DuplicateSku { sku: o.sku.clone() });
        }
        check_display_name(o, &mut errs);
        check_pricing(o, &mut errs);
        check_window(o, &mut errs);
        check_option_products(o, &products, &mut errs);
    }
    check_addon_billing(cfg, &products, &mut errs);
    errs
}

fn index_products<'a>(
    cfg: &'a CatalogConfig,
    errs: &mut Vec<CatalogError>,
) -> BTreeMap<&'a str, &'a Product> {
    let mut map = BTreeMap::new();
    for (index, p) in cfg.products.iter().enumerate() {
        if p.product_id.is_empty() {
            errs.push(CatalogError::EmptyProductId { index });
        } else if map.insert(p.product_id.as_str(), p).is_some() {
            errs.push(CatalogError::DuplicateProduct {
                id: p.product_id.clone(),
            });
        }
    }
    map
}

fn check_product(p: &Product, products: &BTreeMap<&str, &Product>, errs: &mut Vec<CatalogError>) {
    if !p.addon {
        if !p.prerequisites.is_empty() {
            errs.push(CatalogError::PrerequisitesOnBase {
                product: p.product_id.clone(),
            });
        }
        return;
    }
    if p.prerequisites.is_empty() {
        errs.push(CatalogError::AddonWithoutPrerequisite {
            product: p.product_id.clone(),
        });
    }
    // Several prerequisites mean "any one of these bases"; Roku only allows that when the
    // bases are mutually exclusive alternatives, i.e. share one group.
    let mut groups = BTreeSet::new();
    for pre in &p.prerequisites {
        match products.get(pre.as_str()) {
            None => errs.push(CatalogError::UnknownPrerequisite {
                product: p.product_id.clone(),
                prerequisite: pre.clone(),
            }),
            Some(base) if base.addon => errs.push(CatalogError::PrerequisiteNotBase {
                product: p.product_id.clone(),
                prerequisite: pre.clone(),
            }),
            Some(base) => {
                groups.insert(
                    base.product_exclusivity_group
                        .as_deref()
                        .unwrap_or("(none)"),
                );
            }
        }
    }
    if p.prerequisites.len() > 1 && (groups.len() > 1 || groups.contains("(none)")) {
        errs.push(CatalogError::PrerequisitesSpanGroups {
            product: p.product_id.clone(),
            groups: groups.into_iter().collect::<Vec<_>>().join(", "),
        });
    }
}

fn is_english(language: &str) -> bool {
    let l = language.to_ascii_lowercase();
    l == "en" || l.starts_with("en-") || l.starts_with("en_")
}

fn check_display_name(o: &PurchaseOption, errs: &mut Vec<CatalogError>) {
    let len = o.name.chars().count();
    if len == 0 {
        errs.push(CatalogError::DisplayNameEmpty { sku: o.sku.clone() });
    } else if len > MAX_DISPLAY_NAME_CHARS {
        errs.push(CatalogError::DisplayNameTooLong {
            sku: o.sku.clone(),
            len,
        });
    }
    if is_english(&o.language) && !o.name.is_ascii() {
        errs.push(CatalogError::DisplayNameNotAscii {
            sku: o.sku.clone(),
            language: o.language.clone(),
        });
    }
}

fn check_pricing(o: &PurchaseOption, errs: &mut Vec<CatalogError>) {
    let sku = || o.sku.clone();
    if o.kind.billing_frequency().is_none() {
        errs.push(CatalogError::NotASubscription {
            sku: sku(),
            kind: o.kind.as_str(),
        });
    }
    let regular = tier_price_cents(o.tier);
    if regular.is_none() {
        errs.push(CatalogError::UnknownTier {
            sku: sku(),
            tier: o.tier,
        });
    }
    if o.phases.len() > 1 {
        errs.push(CatalogError::PhaseShape {
            sku: sku(),
            why: "at most one base offer phase (FreeTrial or ReducedPrice)",
        });
    }
    for phase in &o.phases {
        match phase.kind {
            PhaseType::RegularPrice => errs.push(CatalogError::PhaseShape {
                sku: sku(),
                why: "the RegularPrice phase follows from type and tier; list only a FreeTrial or ReducedPrice phase",
            }),
            PhaseType::FreeTrial => {
                // The Dashboard offers trial lengths in days or months only.
                let unit_ok = matches!(phase.duration.unit, DurationUnit::Day | DurationUnit::Month);
                if phase.duration.quantity == 0 || !unit_ok {
                    errs.push(CatalogError::InvalidTrialLength { sku: sku() });
                }
                if phase.tier.is_some() {
                    errs.push(CatalogError::PhaseShape {
                        sku: sku(),
                        why: "a FreeTrial phase has no tier",
                    });
                }
            }
            PhaseType::ReducedPrice => {
                if phase.duration.quantity == 0 {
                    errs.push(CatalogError::IntroductoryWithoutPeriods { sku: sku() });
                }
                let Some(tier) = phase.tier else {
                    errs.push(CatalogError::PhaseShape {
                        sku: sku(),
                        why: "a ReducedPrice phase needs the tier of its price",
                    });
                    continue;
                };
                match (tier_price_cents(tier), regular) {
                    (None, _) => errs.push(CatalogError::UnknownIntroductoryTier { sku: sku(), tier }),
                    (Some(intro), Some(reg)) if intro >= reg => {
                        errs.push(CatalogError::IntroductoryNotCheaper {
                            sku: sku(),
                            intro: format_usd(intro),
                            regular: format_usd(reg),
                        })
                    }
                    _ => {}
                }
            }
        }
    }
}

fn check_window(o: &PurchaseOption, errs: &mut Vec<CatalogError>) {
    if let (Some(start), Some(end)) = (o.offer_start_date, o.offer_end_date) {
        if end <= start {
            errs.push(CatalogError::OfferWindowInverted {
                sku: o.sku.clone(),
                start: start.to_string(),
                end: end.to_string(),
            });
        }
    }
}

fn check_option_products(
    o: &PurchaseOption,
    products: &BTreeMap<&str, &Product>,
    errs: &mut Vec<CatalogError>,
) {
    if o.product_ids.is_empty() {
        errs.push(CatalogError::OptionWithoutProducts { sku: o.sku.clone() });
        return;
    }
    let mut known: Vec<&Product> = Vec::new();
    let mut listed = BTreeSet::new();
    for pid in &o.product_ids {
        if !listed.insert(pid.as_str()) {
            errs.push(CatalogError::DuplicateOptionProduct {
                sku: o.sku.clone(),
                product: pid.clone(),
            });
            continue;
        }
        match products.get(pid.as_str()) {
            Some(p) => known.push(p),
            None => errs.push(CatalogError::UnknownOptionProduct {
                sku: o.sku.clone(),
                product: pid.clone(),
            }),
        }
    }
    if o.product_ids.len() < 2 {
        return;
    }
    // A bundle grants all its products at once, so two from one exclusivity group would
    // break the group's "at most one" promise.
    let mut by_group: BTreeMap<&str, &str> = BTreeMap::new();
    for p in &known {
        if let Some(g) = p.product_exclusivity_group.as_deref() {
            if let Some(first) = by_group.insert(g, p.product_id.as_str()) {
                errs.push(CatalogError::BundleExclusivityConflict {
                    sku: o.sku.clone(),
                    group: g.to_owned(),
                    first: first.to_owned(),
                    second: p.product_id.clone(),
                });
            }
        }
    }
    for addon in known.iter().filter(|p| p.addon) {
        let bases: Vec<&&Product> = known.iter().filter(|p| !p.addon).collect();
        if !bases
            .iter()
            .any(|b| addon.prerequisites.contains(&b.product_id))
        {
            errs.push(CatalogError::AddonBundledWithoutBase {
                sku: o.sku.clone(),
                addon: addon.product_id.clone(),
            });
        }
        for b in bases
            .iter()
            .filter(|b| !addon.prerequisites.contains(&b.product_id))
        {
            errs.push(CatalogError::AddonBundledWithNonPrerequisite {
                sku: o.sku.clone(),
                addon: addon.product_id.clone(),
                product: b.product_id.clone(),
            });
        }
    }
}

/// An add-on renews together with its base, so it must bill on the same period. Every
/// prerequisite base that is sold on its own must offer the add-on's period; bases with no
/// stand-alone option (bundle-only) are not compared.
fn check_addon_billing(
    cfg: &CatalogConfig,
    products: &BTreeMap<&str, &Product>,
    errs: &mut Vec<CatalogError>,
) {
    let mut base_periods: BTreeMap<&str, BTreeSet<BillingFrequency>> = BTreeMap::new();
    for o in &cfg.purchase_options {
        if let ([only], Some(f)) = (o.product_ids.as_slice(), o.kind.billing_frequency()) {
            base_periods.entry(only.as_str()).or_default().insert(f);
        }
    }
    for o in &cfg.purchase_options {
        let [only] = o.product_ids.as_slice() else {
            continue;
        };
        let Some(addon) = products.get(only.as_str()).filter(|p| p.addon) else {
            continue;
        };
        let Some(period) = o.kind.billing_frequency() else {
            continue;
        };
        for pre in &addon.prerequisites {
            let Some(periods) = base_periods.get(pre.as_str()) else {
                continue;
            };
            if !periods.contains(&period) {
                errs.push(CatalogError::AddonBillingMismatch {
                    sku: o.sku.clone(),
                    period: frequency_name(period),
                    base: pre.clone(),
                    base_periods: periods
                        .iter()
                        .map(|p| frequency_name(*p))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
    }
}

fn frequency_name(f: BillingFrequency) -> &'static str {
    match f {
        BillingFrequency::Monthly => "Monthly",
        BillingFrequency::Quarterly => "Quarterly",
        BillingFrequency::Yearly => "Yearly",
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::example_config;
    use super::*;
    use crate::domain::catalog::Date;
    use crate::domain::catalog::config::OfferPhase;
    use crate::domain::catalog::vocab::{Duration, OptionType};

    fn opt<'a>(cfg: &'a mut CatalogConfig, sku: &str) -> &'a mut PurchaseOption {
        cfg.purchase_options
            .iter_mut()
            .find(|o| o.sku == sku)
            .unwrap()
    }

    fn prod<'a>(cfg: &'a mut CatalogConfig, id: &str) -> &'a mut Product {
        cfg.products
            .iter_mut()
            .find(|p| p.product_id == id)
            .unwrap()
    }

    /// Applies one mutation to the example and expects exactly the given rule to fire, with
    /// a message naming `names`.
    fn expect(mutate: impl FnOnce(&mut CatalogConfig), rule: &str, names: &[&str]) {
        let mut cfg = example_config();
        mutate(&mut cfg);
        let errs = validate(&cfg);
        let hits: Vec<&CatalogError> = errs.iter().filter(|e| e.rule() == rule).collect();
        assert!(!hits.is_empty(), "rule {rule} not reported; got {errs:?}");
        let named = |e: &&CatalogError| names.iter().all(|n| e.to_string().contains(n));
        assert!(
            hits.iter().any(named),
            "no {rule} message names all of {names:?}: {hits:?}"
        );
    }

    #[test]
    fn display_name_too_long() {
        expect(
            |c| opt(c, "basic-monthly").name = "A".repeat(31),
            "display_name_length",
            &["basic-monthly", "31"],
        );
        // Exactly 30 is fine.
        let mut cfg = example_config();
        opt(&mut cfg, "basic-monthly").name = "A".repeat(30);
        assert!(validate(&cfg).is_empty());
    }

    #[test]
    fn display_name_empty() {
        expect(
            |c| opt(c, "basic-monthly").name.clear(),
            "display_name_length",
            &["basic-monthly"],
        );
    }

    #[test]
    fn display_name_ascii_for_english_only() {
        expect(
            |c| opt(c, "basic-monthly").name = "Básico".into(),
            "display_name_ascii",
            &["basic-monthly"],
        );
        let mut cfg = example_config();
        let o = opt(&mut cfg, "basic-monthly");
        o.name = "Básico mensual".into();
        o.language = "es".into();
        assert!(validate(&cfg).is_empty());
        // Length counts characters, not bytes.
        opt(&mut cfg, "basic-monthly").name = "é".repeat(30);
        assert!(validate(&cfg).is_empty());
    }

    #[test]
    fn addon_billing_period_matches_base() {
        expect(
            |c| opt(c, "sports-monthly").kind = OptionType::QuarterlySub,
            "addon_billing_period",
            &["sports-monthly", "Quarterly", "premium", "Monthly"],
        );
    }

    #[test]
    fn addon_bundled_without_its_base() {
        expect(
            |c| {
                prod(c, "sports").prerequisites = vec!["basic".into()];
            },
            "addon_bundle_base",
            &["premium-sports-monthly", "sports", "premium"],
        );
        expect(
            |c| {
                opt(c, "premium-sports-monthly").product_ids =
                    vec!["sports".into(), "sportsplus".into()]
            },
            "addon_bundle_base",
            &["premium-sports-monthly", "sports"],
        );
    }

    #[test]
    fn bundle_exclusivity_conflict() {
        expect(
            |c| {
                opt(c, "premium-sports-monthly").product_ids =
                    vec!["premium".into(), "sports".into(), "sportsplus".into()]
            },
            "bundle_exclusivity_conflict",
            &["premium-sports-monthly", "sports", "sportsplus"],
        );
    }

    #[test]
    fn prerequisites_in_one_group() {
        expect(
            |c| prod(c, "premium").product_exclusivity_group = Some("other".into()),
            "prerequisites_span_groups",
            &["sports", "plans", "other"],
        );
        expect(
            |c| prod(c, "premium").product_exclusivity_group = None,
            "prerequisites_span_groups",
            &["sports"],
        );
    }

    #[test]
    fn unknown_tiers() {
        expect(
            |c| opt(c, "basic-monthly").tier = 401,
            "unknown_tier",
            &["basic-monthly", "401"],
        );
        expect(
            |c| opt(c, "premium-monthly").phases = vec![reduced(1, 999)],
            "unknown_tier",
            &["premium-monthly", "999"],
        );
    }

    #[test]
    fn introductory_must_be_cheaper() {
        expect(
            |c| opt(c, "premium-monthly").phases = vec![reduced(1, 10)],
            "introductory_not_cheaper",
            &["premium-monthly", "$9.99"],
        );
        // $10.49 (tier 1010) vs $9.99 regular.
        expect(
            |c| opt(c, "premium-monthly").phases = vec![reduced(1, 1010)],
            "introductory_not_cheaper",
            &["premium-monthly", "$10.49"],
        );
    }

    #[test]
    fn introductory_needs_periods() {
        expect(
            |c| opt(c, "premium-monthly").phases = vec![reduced(0, 1005)],
            "introductory_periods",
            &["premium-monthly"],
        );
    }

    #[test]
    fn trial_length() {
        for (quantity, unit) in [
            (0, DurationUnit::Day),
            (0, DurationUnit::Month),
            (1, DurationUnit::Year),
            (1, DurationUnit::Quarter),
        ] {
            expect(
                |c| {
                    opt(c, "basic-monthly").phases = vec![OfferPhase {
                        kind: PhaseType::FreeTrial,
                        name: None,
                        duration: Duration { quantity, unit },
                        tier: None,
                    }]
                },
                "trial_length",
                &["basic-monthly"],
            );
        }
    }

    #[test]
    fn phase_shapes() {
        let trial = |c: &mut CatalogConfig| opt(c, "basic-monthly").phases[0].clone();
        expect(
            |c| {
                let t = trial(c);
                opt(c, "basic-monthly").phases.push(t);
            },
            "phase_shape",
            &["basic-monthly", "at most one"],
        );
        expect(
            |c| opt(c, "basic-monthly").phases[0].kind = PhaseType::RegularPrice,
            "phase_shape",
            &["basic-monthly", "RegularPrice"],
        );
        expect(
            |c| opt(c, "basic-monthly").phases[0].tier = Some(1),
            "phase_shape",
            &["basic-monthly", "no tier"],
        );
        expect(
            |c| opt(c, "premium-monthly").phases[0].tier = None,
            "phase_shape",
            &["premium-monthly", "needs the tier"],
        );
    }

    #[test]
    fn only_subscriptions() {
        expect(
            |c| opt(c, "basic-annual").kind = OptionType::Consumable,
            "not_a_subscription",
            &["basic-annual", "Consumable"],
        );
    }

    fn reduced(months: u32, tier: u32) -> OfferPhase {
        OfferPhase {
            kind: PhaseType::ReducedPrice,
            name: None,
            duration: Duration {
                quantity: months,
                unit: DurationUnit::Month,
            },
            tier: Some(tier),
        }
    }

    #[test]
    fn unknown_product_references() {
        expect(
            |c| prod(c, "sports").prerequisites.push("gold".into()),
            "unknown_product",
            &["sports", "gold"],
        );
        expect(
            |c| opt(c, "basic-annual").product_ids = vec!["gold".into()],
            "unknown_product",
            &["basic-annual", "gold"],
        );
    }

    #[test]
    fn duplicates() {
        expect(
            |c| {
                let dup = c.products[0].clone();
                c.products.push(dup);
            },
            "duplicate_id",
            &["basic"],
        );
        expect(
            |c| {
                let dup = c.purchase_options[0].clone();
                c.purchase_options.push(dup);
            },
            "duplicate_id",
            &["basic-monthly"],
        );
        expect(
            |c| opt(c, "basic-annual").product_ids = vec!["basic".into(), "basic".into()],
            "duplicate_option_product",
            &["basic-annual", "basic"],
        );
    }

    #[test]
    fn empty_ids() {
        expect(|c| c.products[0].product_id.clear(), "empty_id", &["#0"]);
        expect(|c| c.purchase_options[1].sku.clear(), "empty_id", &["#1"]);
    }

    #[test]
    fn addon_needs_prerequisite() {
        expect(
            |c| prod(c, "sportsplus").prerequisites.clear(),
            "addon_without_prerequisite",
            &["sportsplus"],
        );
    }

    #[test]
    fn prerequisites_only_on_addons_and_only_bases() {
        expect(
            |c| prod(c, "premium").prerequisites = vec!["basic".into()],
            "prerequisites_on_base",
            &["premium"],
        );
        expect(
            |c| prod(c, "sportsplus").prerequisites = vec!["sports".into()],
            "prerequisite_not_base",
            &["sportsplus", "sports"],
        );
    }

    #[test]
    fn option_without_products() {
        expect(
            |c| opt(c, "basic-annual").product_ids.clear(),
            "option_without_products",
            &["basic-annual"],
        );
    }

    #[test]
    fn offer_window_order() {
        expect(
            |c| {
                let o = opt(c, "premium-sports-monthly");
                o.offer_start_date = Date::parse("2025-06-01");
                o.offer_end_date = Date::parse("2025-05-31");
            },
            "offer_window",
            &["premium-sports-monthly", "2025-05-31", "2025-06-01"],
        );
        expect(
            |c| {
                let o = opt(c, "premium-sports-monthly");
                o.offer_start_date = Date::parse("2025-06-01");
                o.offer_end_date = o.offer_start_date;
            },
            "offer_window",
            &["premium-sports-monthly"],
        );
    }

    #[test]
    fn reports_all_failures_at_once() {
        let mut cfg = example_config();
        opt(&mut cfg, "basic-monthly").tier = 0;
        opt(&mut cfg, "basic-annual").name = "x".repeat(40);
        prod(&mut cfg, "sportsplus").prerequisites.clear();
        let errs = validate(&cfg);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(Catalog::from_config(cfg).is_err());
    }

    use crate::domain::catalog::Catalog;
}
