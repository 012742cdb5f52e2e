//! Roku's dates, in every form its services send:
//!
//! - WCF JSON: `/Date(1581033062000+0000)/` — milliseconds since the epoch, UTC; the offset
//!   suffix only says which zone the server would display, it does not move the instant;
//! - XML and zone-less ISO: `2020-02-06T23:51:02` — UTC (the JSON and XML examples agree only
//!   when read that way);
//! - push ISO-8601: `2022-07-11T20:00:45.458297119Z`, with 0–9 fraction digits, or an offset.
//!
//! Parsing never panics: a date Roku garbles is `None`, and the caller decides what that means.

use serde::{Deserialize, Deserializer};

/// Milliseconds since the Unix epoch, UTC.
pub type EpochMillis = i64;

/// Any of Roku's date forms → epoch milliseconds.
pub fn parse(s: &str) -> Option<EpochMillis> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        return parse_wcf(inner);
    }
    parse_iso(s)
}

/// `1581033062000+0000`, `-123`, `1581033062000-0500`.
fn parse_wcf(inner: &str) -> Option<EpochMillis> {
    // The sign of the offset is the first + or - after the first character (which may be the
    // sign of the number itself).
    let split = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map(|(i, _)| i);
    let (millis, offset) = match split {
        Some(i) => (&inner[..i], Some(&inner[i + 1..])),
        None => (inner, None),
    };
    if let Some(offset) = offset
        && (offset.len() != 4 || !offset.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let digits = millis.strip_prefix('-').unwrap_or(millis);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    millis.parse().ok()
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM|±HHMM]`; no zone means UTC.
fn parse_iso(s: &str) -> Option<EpochMillis> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        let digits = &frac[..n];
        let padded = format!("{digits:0<3}");
        millis = padded[..3].parse().ok()?;
        rest = &frac[n..];
    }
    let offset_secs = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hhmm: String = rest[1..].chars().filter(|c| *c != ':').collect();
            if hhmm.len() != 4 || !hhmm.bytes().all(|c| c.is_ascii_digit()) || rest.len() > 6 {
                return None;
            }
            let (h, m): (i64, i64) = (hhmm[..2].parse().ok()?, hhmm[2..].parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    secs.checked_mul(1000)?.checked_add(millis)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// serde: a date field that may be absent, `null`, empty, or a form we cannot read (→ `None`).
pub fn deserialize_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EpochMillis>, D::Error> {
    Ok(Option::<serde_json::Value>::deserialize(d)?
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .and_then(parse))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wcf_forms() {
        assert_eq!(parse("/Date(1581033062000+0000)/"), Some(1_581_033_062_000));
        // The offset names a display zone; the instant stays the same.
        assert_eq!(parse("/Date(1581033062000-0500)/"), Some(1_581_033_062_000));
        assert_eq!(parse("/Date(1581033062000)/"), Some(1_581_033_062_000));
        assert_eq!(parse("/Date(-123)/"), Some(-123));
        assert_eq!(parse("/Date(-123+0100)/"), Some(-123));
    }

    #[test]
    fn xml_and_iso_forms_agree_with_wcf() {
        // Roku's web-services page: the XML example's zone-less dates are the JSON example's
        // instants.
        assert_eq!(
            parse("2020-02-06T23:51:02"),
            parse("/Date(1581033062000+0000)/")
        );
        assert_eq!(
            parse("2019-11-06T23:51:02"),
            parse("/Date(1573084262000+0000)/")
        );
        assert_eq!(parse("2022-07-11T19:50:18Z"), Some(1_657_569_018_000));
        assert_eq!(
            parse("2020-03-05T18:45:04.8762198Z"),
            Some(1_583_433_904_876)
        );
        assert_eq!(
            parse("2022-07-11T20:00:45.458297119Z"),
            Some(1_657_569_645_458)
        );
        assert_eq!(parse("2022-07-11T20:00:45.4Z"), Some(1_657_569_645_400));
        assert_eq!(parse("2022-07-11T21:00:45+01:00"), Some(1_657_569_645_000));
        assert_eq!(parse("2022-07-11T15:00:45-0500"), Some(1_657_569_645_000));
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("1969-12-31T23:59:59Z"), Some(-1000));
        assert_eq!(parse("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
    }

    #[test]
    fn garbage_is_none_and_never_panics() {
        for s in [
            "",
            " ",
            "/Date()/",
            "/Date(abc)/",
            "/Date(+)/",
            "/Date(1+00)/",
            "/Date(1+0000",
            "Date(1)",
            "/Date(99999999999999999999999)/",
            "/Date(1-00a0)/",
            "2020-13-01T00:00:00",
            "2023-02-29T00:00:00",
            "2020-02-06T24:00:00",
            "2020-02-06",
            "2020-02-06T23:51",
            "2020-02-06T23:51:02.",
            "2020-02-06T23:51:02.1234567890Z",
            "2020-02-06T23:51:02+1",
            "2020-02-06T23:51:02+99:00",
            "2020-02-06T23:51:02Q",
            "２０２０-02-06T23:51:02",
            "2020-02-06T23:51:02+01:00:00",
            "日本語日本語日本語日本語",
            "-/Date(1)/",
            "/Date(1)/ trailing",
        ] {
            assert_eq!(parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn serde_helper_tolerates_null_and_missing() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "deserialize_opt")]
            d: Option<EpochMillis>,
        }
        let parse_t = |j: &str| serde_json::from_str::<T>(j).unwrap().d;
        assert_eq!(parse_t(r#"{"d": "/Date(5+0000)/"}"#), Some(5));
        assert_eq!(parse_t(r#"{"d": null}"#), None);
        assert_eq!(parse_t(r#"{}"#), None);
        assert_eq!(parse_t(r#"{"d": ""}"#), None);
        assert_eq!(parse_t(r#"{"d": 12}"#), None);
    }
}
