//! Roku product code ↔ provider offer id.
//!
//! Cleeng offer ids contain `_` (`S123123123_US`) and Cleeng's guidance is to name the Roku
//! product after the offer with `-` for `_`, saying Roku does not allow `_`. Roku does: its own
//! examples (`UQcEYh2fVuKqS6cTuR3X_MonthlySub`) and real channels (`yearly_subscription_product`)
//! use it. So under `dash_to_underscore` a code without `_` has its `-` turned into `_`, and a
//! code with `_` but no `-` maps to itself: both readings of it (the convention's, the code as
//! the offer id) agree, so it has one obvious meaning. A code with both `_` and `-` has two
//! readings (`A_B-C` → `A_B_C` or `A_B-C`) and must be in the table. Operators keep an explicit
//! table for the exceptions and pick a fallback rule for everything else. The table always wins
//! over the rule, in both directions. Pure: no I/O, no HTTP.

use std::collections::{BTreeMap, HashMap};

use std::fmt;

use serde::Deserialize;

/// Longest product code or offer id accepted. Roku's own limit is lower; this only keeps a
/// hostile client from making us carry megabyte keys around.
pub const MAX_ID_LEN: usize = 256;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// `S123-US` → `S123_US`: Cleeng's documented convention.
    #[default]
    DashToUnderscore,
    /// The offer id is the product code.
    Identity,
    /// Only codes in the table are known.
    None,
}

impl Rule {
    /// What the rule does to a code that is not in the table: `check-config` prints it.
    pub fn explain(self) -> &'static str {
        match self {
            Rule::DashToUnderscore => {
                "dash_to_underscore: a code not in the table maps to the offer id with every `-` \
                 made `_` (S123123123-US -> S123123123_US); a code with `_` and no `-` maps to \
                 itself (UQcE_MonthlySub -> UQcE_MonthlySub); a code with both `_` and `-` has \
                 two readings and must be listed in [mapping.products]. From an offer id back \
                 to a code, the `-` form is used unless the table names another code."
            }
            Rule::Identity => "identity: a code not in the table is the offer id itself",
            Rule::None => "none: only codes listed in [mapping.products] are known",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::DashToUnderscore => "dash_to_underscore",
            Rule::Identity => "identity",
            Rule::None => "none",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingProblem {
    pub code: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmapped {
    #[error("product code is empty")]
    Empty,
    #[error("product code is longer than {MAX_ID_LEN} characters")]
    TooLong,
    #[error("product code contains characters Roku does not allow")]
    BadCharacters,
    #[error(
        "product codes with both `_` and `-` must be listed in the mapping table under dash_to_underscore"
    )]
    AmbiguousUnderscore,
    #[error("no offer is mapped to this product code")]
    Unknown,
}

/// A code and the offer it maps to; what receipts and entitlement answers carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub code: String,
    pub offer_id: String,
}

#[derive(Debug, Clone)]
pub struct ProductMap {
    rule: Rule,
    table: BTreeMap<String, String>,
    reverse: HashMap<String, String>,
}

impl ProductMap {
    /// Validates the table. Every problem is reported, not only the first, so an operator fixes
    /// a bad edit in one pass.
    pub fn new(rule: Rule, table: BTreeMap<String, String>) -> Result<Self, Vec<MappingProblem>> {
        let mut problems = Vec::new();
        let mut reverse: HashMap<String, String> = HashMap::new();
        for (code, offer) in &table {
            let mut bad = |reason: &str| {
                problems.push(MappingProblem {
                    code: code.clone(),
                    reason: reason.to_string(),
                })
            };
            if let Err(e) = check_code(code) {
                bad(&e.to_string());
                continue;
            }
            if offer.is_empty()
                || offer.len() > MAX_ID_LEN
                || !offer.chars().all(is_id_char)
                || super::ids::is_dot_segment(offer)
            {
                bad(
                    "offer id must be 1 to 256 visible characters without spaces or `/`, not . or ..",
                );
                continue;
            }
            if let Some(other) = reverse.insert(offer.clone(), code.clone()) {
                bad(&format!(
                    "offer {offer} is also mapped from {other}: the reverse direction would be ambiguous"
                ));
            }
        }
        if problems.is_empty() {
            Ok(Self {
                rule,
                table,
                reverse,
            })
        } else {
            Err(problems)
        }
    }

    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// The explicit table, in code order: what `GET /roku/entitlements` lists.
    pub fn products(&self) -> impl Iterator<Item = Product> + '_ {
        self.table.iter().map(|(code, offer)| Product {
            code: code.clone(),
            offer_id: offer.clone(),
        })
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Roku product code → offer id.
    pub fn offer_for(&self, code: &str) -> Result<String, Unmapped> {
        check_code(code)?;
        if let Some(offer) = self.table.get(code) {
            return Ok(offer.clone());
        }
        match self.rule {
            Rule::DashToUnderscore if code.contains('_') && code.contains('-') => {
                Err(Unmapped::AmbiguousUnderscore)
            }
            // Without `-` this is the code itself: the convention and identity agree.
            Rule::DashToUnderscore => Ok(code.replace('-', "_")),
            Rule::Identity => Ok(code.to_string()),
            Rule::None => Err(Unmapped::Unknown),
        }
    }

    /// Offer id → Roku product code, or `None` when no code maps to it.
    pub fn code_for(&self, offer: &str) -> Option<String> {
        if let Some(code) = self.reverse.get(offer) {
            return Some(code.clone());
        }
        let candidate = match self.rule {
            Rule::DashToUnderscore => offer.replace('_', "-"),
            Rule::Identity => offer.to_string(),
            Rule::None => return None,
        };
        // The candidate must itself map back to this offer: a table entry for the same code
        // pointing elsewhere, or a character Roku refuses, means no code reaches this offer.
        match self.offer_for(&candidate) {
            Ok(back) if back == offer => Some(candidate),
            _ => None,
        }
    }

    /// Accepts either side (`GET /roku/entitlements/{code}` takes a code or an offer id).
    pub fn resolve(&self, code_or_offer: &str) -> Result<Product, Unmapped> {
        check_code(code_or_offer)?;
        let product = |code: &str, offer_id: &str| Product {
            code: code.to_string(),
            offer_id: offer_id.to_string(),
        };
        if let Some(offer) = self.table.get(code_or_offer) {
            return Ok(product(code_or_offer, offer));
        }
        if let Some(code) = self.reverse.get(code_or_offer) {
            return Ok(product(code, code_or_offer));
        }
        match self.rule {
            // With `_` it reads as an offer id first (Cleeng's are `S123_US`): the offer is the
            // same either way, and the code shown is the convention's `-` form.
            Rule::DashToUnderscore if code_or_offer.contains('_') => self
                .code_for(code_or_offer)
                .map(|code| product(&code, code_or_offer))
                .ok_or(Unmapped::Unknown),
            _ => self
                .offer_for(code_or_offer)
                .map(|offer| product(code_or_offer, &offer)),
        }
    }
}

/// Nothing that would need escaping in a URL path or a log line.
fn check_code(code: &str) -> Result<(), Unmapped> {
    if code.is_empty() {
        return Err(Unmapped::Empty);
    }
    if code.len() > MAX_ID_LEN {
        return Err(Unmapped::TooLong);
    }
    // `.` and `..` would resolve away as path segments of the provider's URL.
    if !code.chars().all(is_id_char) || super::ids::is_dot_segment(code) {
        return Err(Unmapped::BadCharacters);
    }
    Ok(())
}

fn is_id_char(c: char) -> bool {
    !c.is_control() && !c.is_whitespace() && c != '/' && c != '?' && c != '#' && c != '%'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rule: Rule, entries: &[(&str, &str)]) -> ProductMap {
        ProductMap::new(
            rule,
            entries
                .iter()
                .map(|(c, o)| (c.to_string(), o.to_string()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn cleeng_convention_both_ways() {
        let m = map(Rule::DashToUnderscore, &[]);
        assert_eq!(m.offer_for("S123123123-US").unwrap(), "S123123123_US");
        assert_eq!(m.code_for("S123123123_US").unwrap(), "S123123123-US");
    }

    #[test]
    fn several_dashes_all_become_underscores_and_back() {
        let m = map(Rule::DashToUnderscore, &[]);
        assert_eq!(m.offer_for("S1-US-HD-4K").unwrap(), "S1_US_HD_4K");
        assert_eq!(m.code_for("S1_US_HD_4K").unwrap(), "S1-US-HD-4K");
        assert_eq!(m.offer_for("--").unwrap(), "__");
    }

    #[test]
    fn table_wins_over_rule_in_both_directions() {
        let m = map(
            Rule::DashToUnderscore,
            &[("monthly", "S111_US"), ("S222-US", "S999_US")],
        );
        assert_eq!(m.offer_for("monthly").unwrap(), "S111_US");
        assert_eq!(m.code_for("S111_US").unwrap(), "monthly");
        // The code the rule would give S222_US is taken by the table for another offer.
        assert_eq!(m.offer_for("S222-US").unwrap(), "S999_US");
        assert_eq!(m.code_for("S222_US"), None);
        assert_eq!(m.code_for("S999_US").unwrap(), "S222-US");
    }

    #[test]
    fn identity_and_none_rules() {
        let id = map(Rule::Identity, &[]);
        assert_eq!(id.offer_for("gold-plan").unwrap(), "gold-plan");
        assert_eq!(id.code_for("gold-plan").unwrap(), "gold-plan");
        assert_eq!(id.offer_for("UQcE_MonthlySub").unwrap(), "UQcE_MonthlySub");
        assert_eq!(id.code_for("UQcE_MonthlySub").unwrap(), "UQcE_MonthlySub");

        let none = map(Rule::None, &[("gold", "S1_US")]);
        assert_eq!(none.offer_for("gold").unwrap(), "S1_US");
        assert_eq!(none.offer_for("silver"), Err(Unmapped::Unknown));
        assert_eq!(none.code_for("S2_US"), None);
        assert_eq!(none.code_for("S1_US").unwrap(), "gold");
    }

    #[test]
    fn bad_codes_are_refused() {
        let m = map(Rule::DashToUnderscore, &[]);
        assert_eq!(m.offer_for(""), Err(Unmapped::Empty));
        assert_eq!(m.offer_for("S1_US-HD"), Err(Unmapped::AmbiguousUnderscore));
        assert_eq!(m.offer_for("a b"), Err(Unmapped::BadCharacters));
        assert_eq!(m.offer_for("a/b"), Err(Unmapped::BadCharacters));
        assert_eq!(m.offer_for("a\u{0}b"), Err(Unmapped::BadCharacters));
        assert_eq!(m.offer_for(&"x".repeat(257)), Err(Unmapped::TooLong));
        assert!(m.offer_for(&"x".repeat(256)).is_ok());
    }

    #[test]
    fn unicode_codes_map_without_splitting_characters() {
        let m = map(Rule::DashToUnderscore, &[]);
        assert_eq!(m.offer_for("Abo-Ölsä-日本").unwrap(), "Abo_Ölsä_日本");
        assert_eq!(m.code_for("Abo_Ölsä_日本").unwrap(), "Abo-Ölsä-日本");
        // Length is counted in bytes: 86 three-byte characters pass the 256 limit.
        assert_eq!(m.offer_for(&"日".repeat(86)), Err(Unmapped::TooLong));
    }

    #[test]
    fn table_validation_reports_every_problem() {
        let table: BTreeMap<String, String> = [
            ("a/b", "X_1"),
            ("", "X_2"),
            ("ok-1", "SAME_US"),
            ("ok-2", "SAME_US"),
            ("ok-3", ""),
            ("ok 4", "X_4"),
        ]
        .iter()
        .map(|(c, o)| (c.to_string(), o.to_string()))
        .collect();
        let problems = ProductMap::new(Rule::DashToUnderscore, table).unwrap_err();
        let codes: Vec<_> = problems.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(codes, ["", "a/b", "ok 4", "ok-2", "ok-3"]);
        assert!(problems[3].reason.contains("ambiguous"));
    }

    #[test]
    fn underscore_codes_work_from_the_table_under_dash_to_underscore() {
        let m = map(Rule::DashToUnderscore, &[("CAkJ_MonthlySub", "S9_US")]);
        assert_eq!(m.offer_for("CAkJ_MonthlySub").unwrap(), "S9_US");
        assert_eq!(m.code_for("S9_US").unwrap(), "CAkJ_MonthlySub");
        assert_eq!(m.resolve("CAkJ_MonthlySub").unwrap().offer_id, "S9_US");
        assert_eq!(
            m.offer_for("Other_Monthly-Sub"),
            Err(Unmapped::AmbiguousUnderscore)
        );
    }

    #[test]
    fn roku_s_own_underscore_codes_map_to_themselves_by_default() {
        let m = map(Rule::default(), &[]);
        for code in [
            "UQcEYh2fVuKqS6cTuR3X_MonthlySub",
            "yN4JEfTmjhRP3IpbuWiJ_MonthlySub",
            "yearly_subscription_product",
            "S1_US",
            "_",
        ] {
            assert_eq!(m.offer_for(code).unwrap(), code, "{code}");
            assert_eq!(m.resolve(code).unwrap().offer_id, code, "{code}");
        }
        // Two codes reach S1_US; back from the offer the convention's form is used.
        assert_eq!(m.offer_for("S1-US").unwrap(), "S1_US");
        assert_eq!(m.code_for("S1_US").unwrap(), "S1-US");
        // Every product code in Roku's published pushes maps.
        for text in [
            include_str!("../../tests/fixtures/roku-pushes/sale-purchase.json"),
            include_str!("../../tests/fixtures/roku-pushes/upgrade-sale.json"),
            include_str!("../../tests/fixtures/roku-pushes/receiver-sample-sale.json"),
            include_str!("../../tests/fixtures/roku-pushes/cancellation-offer-initiated.json"),
        ] {
            let event: serde_json::Value = serde_json::from_str(text).unwrap();
            let code = event["productCode"].as_str().unwrap();
            assert_eq!(m.offer_for(code).unwrap(), code);
        }
    }

    #[test]
    fn the_rule_explains_itself() {
        assert!(
            Rule::DashToUnderscore
                .explain()
                .contains("`_` and no `-` maps to itself")
        );
        assert!(Rule::DashToUnderscore.explain().contains("must be listed"));
        assert_eq!(Rule::DashToUnderscore.to_string(), "dash_to_underscore");
        assert_eq!(Rule::Identity.to_string(), "identity");
        assert_eq!(Rule::None.to_string(), "none");
    }

    #[test]
    fn resolve_takes_either_side() {
        let m = map(Rule::DashToUnderscore, &[("gold", "S1_US")]);
        assert_eq!(
            m.resolve("gold").unwrap(),
            Product {
                code: "gold".into(),
                offer_id: "S1_US".into()
            }
        );
        assert_eq!(m.resolve("S1_US").unwrap().code, "gold");
        assert_eq!(m.resolve("S2_US").unwrap().code, "S2-US");
        assert_eq!(m.resolve("S2-US").unwrap().offer_id, "S2_US");

        let none = map(Rule::None, &[("gold", "S1US")]);
        assert_eq!(none.resolve("S1US").unwrap().code, "gold");
        assert_eq!(none.resolve("silver"), Err(Unmapped::Unknown));
        assert_eq!(none.resolve(""), Err(Unmapped::Empty));
    }

    #[test]
    fn round_trip_holds_for_every_rule_generated_code() {
        let m = map(Rule::DashToUnderscore, &[("gold", "S1_US")]);
        for code in ["a", "a-b", "a-b-c", "-", "x--y", "Ü-1"] {
            let offer = m.offer_for(code).unwrap();
            assert_eq!(m.code_for(&offer).as_deref(), Some(code), "{code}");
        }
        // Two codes reach S1_US (the table's and the rule's); the table names the way back.
        assert_eq!(m.offer_for("S1-US").unwrap(), "S1_US");
        assert_eq!(m.code_for("S1_US").unwrap(), "gold");
    }
}
