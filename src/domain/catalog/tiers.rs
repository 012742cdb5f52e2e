//! Roku price tiers and money formatting.
//!
//! Prices are integer US cents end to end; floats would make tier comparisons and proration
//! credits drift by a cent.

/// Regular tiers: tier N costs $N − 0.01.
const DOLLAR_TIERS: std::ops::RangeInclusive<u32> = 1..=400;
/// 49-cent tiers: tier 1000 + N costs $N.49.
const FORTY_NINE_TIERS: std::ops::RangeInclusive<u32> = 1000..=1030;

/// The US price of a Roku price tier in cents, or `None` for a tier Roku does not define.
pub fn tier_price_cents(tier: u32) -> Option<u64> {
    if DOLLAR_TIERS.contains(&tier) {
        Some(u64::from(tier) * 100 - 1)
    } else if FORTY_NINE_TIERS.contains(&tier) {
        Some(u64::from(tier - 1000) * 100 + 49)
    } else {
        None
    }
}

/// Formats cents the way Roku's catalog shows costs: `$9.99`.
pub fn format_usd(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// Parses `"$9.99"`, `"9.99"`, `"9.9"` or `"9"` into cents; at most two decimals, since a
/// third would have to be rounded and the caller should decide that.
pub fn parse_usd(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s.strip_prefix('$').unwrap_or(s);
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    let digits = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 2 {
        return None;
    }
    let dollars: u64 = whole.parse().ok()?;
    let cents: u64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<u64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    dollars.checked_mul(100)?.checked_add(cents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_prices() {
        let cases: &[(u32, Option<&str>)] = &[
            (1, Some("$0.99")),
            (2, Some("$1.99")),
            (10, Some("$9.99")),
            (400, Some("$399.99")),
            (1000, Some("$0.49")),
            (1001, Some("$1.49")),
            (1010, Some("$10.49")),
            (1030, Some("$30.49")),
            (0, None),
            (401, None),
            (999, None),
            (1031, None),
            (u32::MAX, None),
        ];
        for &(tier, want) in cases {
            let got = tier_price_cents(tier).map(format_usd);
            assert_eq!(got.as_deref(), want, "tier {tier}");
        }
    }

    #[test]
    fn formats_usd() {
        assert_eq!(format_usd(0), "$0.00");
        assert_eq!(format_usd(5), "$0.05");
        assert_eq!(format_usd(1_234_567), "$12345.67");
    }

    #[test]
    fn parses_usd() {
        let cases: &[(&str, Option<u64>)] = &[
            ("$9.99", Some(999)),
            ("9.99", Some(999)),
            ("9.9", Some(990)),
            ("9", Some(900)),
            (" $0.49 ", Some(49)),
            ("9.999", None),
            ("", None),
            ("$", None),
            (".99", None),
            ("-1.00", None),
            ("1,00", None),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_usd(s), want, "{s:?}");
        }
    }
}
