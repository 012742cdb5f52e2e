//! Upgrade/downgrade price preview.
//!
//! An estimate for the purchase UI only: Roku computes the real charge (tax, introductory
//! pricing and its own rounding included), so nothing here should be billed or stored.

use serde::Serialize;

use super::model::Catalog;
use super::tiers::format_usd;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Upgrade,
    Downgrade,
}

/// Estimated effect of moving from one plan to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    pub kind: ChangeKind,
    /// Unused value of the current period, credited against the new plan (upgrades only).
    pub credit_cents: u64,
    pub charge_now_cents: u64,
    /// When the next billing cycle begins: now for an upgrade, the period end for a downgrade.
    pub new_cycle_starts_ms: u64,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    #[error("unknown sku {0}")]
    UnknownSku(String),
    #[error("billing period end {end_ms} must be after its start {start_ms}")]
    InvalidPeriod { start_ms: u64, end_ms: u64 },
}

/// Previews a plan change at `now_ms` within the current period `[period_start_ms,
/// period_end_ms)`. A more expensive target (by regular price) is an upgrade; anything else
/// is a downgrade, since Roku doesn't charge immediately for a move that costs no more.
pub fn upgrade_preview(
    catalog: &Catalog,
    from_sku: &str,
    to_sku: &str,
    period_start_ms: u64,
    period_end_ms: u64,
    now_ms: u64,
) -> Result<Preview, PreviewError> {
    let price = |sku: &str| {
        catalog
            .option(sku)
            .and_then(|o| o.price_cents())
            .ok_or_else(|| PreviewError::UnknownSku(sku.to_owned()))
    };
    let from = price(from_sku)?;
    let to = price(to_sku)?;
    if period_end_ms <= period_start_ms {
        return Err(PreviewError::InvalidPeriod {
            start_ms: period_start_ms,
            end_ms: period_end_ms,
        });
    }

    if to <= from {
        return Ok(Preview {
            kind: ChangeKind::Downgrade,
            credit_cents: 0,
            charge_now_cents: 0,
            new_cycle_starts_ms: period_end_ms,
            note: format!(
                "Estimate: no charge now; {to_sku} starts at the next renewal at {}, billing cycle unchanged.",
                format_usd(to)
            ),
        });
    }

    // A clock slightly outside the period (late push, skew) shouldn't produce a negative or
    // oversized credit, so clamp instead of failing.
    let now = now_ms.clamp(period_start_ms, period_end_ms);
    let total = u128::from(period_end_ms - period_start_ms);
    let remaining = u128::from(period_end_ms - now);
    // Round half up in integer arithmetic: floor((2·p·r + t) / 2t).
    let credit = ((2 * u128::from(from) * remaining + total) / (2 * total)) as u64;
    let charge = to.saturating_sub(credit);
    Ok(Preview {
        kind: ChangeKind::Upgrade,
        credit_cents: credit,
        charge_now_cents: charge,
        new_cycle_starts_ms: now,
        note: format!(
            "Estimate: {} credit for the unused part of {from_sku} against {} for {to_sku}; the billing cycle restarts now. Roku computes the final amount, including tax.",
            format_usd(credit),
            format_usd(to)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::example;
    use super::*;

    const DAY: u64 = 86_400_000;
    const START: u64 = 1_000 * DAY;
    const END: u64 = START + 30 * DAY;

    fn preview(from: &str, to: &str, now: u64) -> Preview {
        upgrade_preview(&example(), from, to, START, END, now).unwrap()
    }

    #[test]
    fn upgrade_mid_period_credits_half() {
        // $4.99 → $9.99 halfway: 249.5¢ rounds to 250¢ credit.
        let p = preview("basic-monthly", "premium-monthly", START + 15 * DAY);
        assert_eq!(p.kind, ChangeKind::Upgrade);
        assert_eq!(p.credit_cents, 250);
        assert_eq!(p.charge_now_cents, 749);
        assert_eq!(p.new_cycle_starts_ms, START + 15 * DAY);
        assert!(p.note.starts_with("Estimate"), "{}", p.note);
        assert!(p.note.contains("$2.50") && p.note.contains("$9.99"));
    }

    #[test]
    fn upgrade_table() {
        let cases = [
            // (from, to, now, credit, charge)
            ("basic-monthly", "premium-monthly", START, 499, 500),
            ("basic-monthly", "premium-monthly", END, 0, 999),
            ("basic-monthly", "premium-monthly", START - DAY, 499, 500),
            ("basic-monthly", "premium-monthly", END + DAY, 0, 999),
            (
                "basic-monthly",
                "premium-monthly",
                START + 10 * DAY,
                333,
                666,
            ),
            (
                "premium-monthly",
                "basic-annual",
                START + 3 * DAY,
                899,
                4100,
            ),
        ];
        for (from, to, now, credit, charge) in cases {
            let p = preview(from, to, now);
            assert_eq!(p.kind, ChangeKind::Upgrade, "{from}->{to}");
            assert_eq!(
                (p.credit_cents, p.charge_now_cents),
                (credit, charge),
                "{from}->{to} @{now}"
            );
            assert_eq!(p.new_cycle_starts_ms, now.clamp(START, END));
        }
    }

    #[test]
    fn downgrade_waits_for_renewal() {
        for to in ["basic-monthly", "premium-monthly"] {
            let p = preview("premium-monthly", to, START + 5 * DAY);
            assert_eq!(p.kind, ChangeKind::Downgrade, "{to}");
            assert_eq!((p.credit_cents, p.charge_now_cents), (0, 0));
            assert_eq!(p.new_cycle_starts_ms, END);
        }
        let json =
            serde_json::to_value(preview("premium-monthly", "basic-monthly", START)).unwrap();
        assert_eq!(json["kind"], "downgrade");
        assert!(json["note"].as_str().unwrap().contains("$4.99"));
    }

    #[test]
    fn errors() {
        let cat = example();
        assert_eq!(
            upgrade_preview(&cat, "gold", "basic-monthly", START, END, START),
            Err(PreviewError::UnknownSku("gold".into()))
        );
        assert_eq!(
            upgrade_preview(&cat, "basic-monthly", "gold", START, END, START),
            Err(PreviewError::UnknownSku("gold".into()))
        );
        assert!(matches!(
            upgrade_preview(&cat, "basic-monthly", "premium-monthly", END, START, START),
            Err(PreviewError::InvalidPeriod { .. })
        ));
        assert!(matches!(
            upgrade_preview(
                &cat,
                "basic-monthly",
                "premium-monthly",
                START,
                START,
                START
            ),
            Err(PreviewError::InvalidPeriod { .. })
        ));
    }
}
