//! Calendar dates for offer windows.
//!
//! Offer windows only need day precision and ordering, so a tiny `YYYY-MM-DD` type avoids
//! pulling a date crate into the domain layer. Callers pass "today" in; nothing here reads
//! a clock.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A proleptic Gregorian calendar date. Field order makes the derived `Ord` chronological.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// Builds a date, rejecting impossible days (Feb 30, month 13, ...).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// Parses exactly `YYYY-MM-DD`; anything looser would let typos in config slip through.
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        // ASCII-only also keeps the byte-range slicing below on char boundaries.
        if !s.is_ascii() || b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let year = num(0..4)?;
        let month = u8::try_from(num(5..7)?).ok()?;
        let day = u8::try_from(num(8..10)?).ok()?;
        Date::new(year, month, day)
    }

    /// The UTC calendar day containing a Unix-epoch millisecond timestamp, so callers holding
    /// push/receipt times in ms can derive `now_date` without a date crate.
    pub fn from_unix_ms(ms: u64) -> Date {
        // Howard Hinnant's civil_from_days, restricted to non-negative days.
        let z = (ms / 86_400_000) as i64 + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
        Date { year, month, day }
    }

    /// Milliseconds since the Unix epoch at the start of this UTC day.
    pub fn to_unix_ms(self) -> u64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        (days.max(0) as u64) * 86_400_000
    }

    /// The same day `n` months later, clamped to the month's last day (Jan 31 + 1 = Feb 28).
    pub fn add_months(self, n: u32) -> Date {
        let total = u32::from(self.month) - 1 + n;
        let year = self.year.saturating_add((total / 12) as u16);
        let month = (total % 12) as u8 + 1;
        let day = self.day.min(days_in_month(year, month));
        Date { year, month, day }
    }

    pub fn year(self) -> u16 {
        self.year
    }
    pub fn month(self) -> u8 {
        self.month
    }
    pub fn day(self) -> u8 {
        self.day
    }
}

/// ISO 8601 UTC timestamp to the second, as Roku writes `purchaseDate` and `renewalDate`.
pub fn iso_from_unix_ms(ms: u64) -> String {
    let day = Date::from_unix_ms(ms);
    let secs = (ms / 1000) % 86_400;
    format!(
        "{day}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

fn is_leap(year: u16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        Date::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid date {s:?}, expected YYYY-MM-DD"))
        })
    }
}

#[cfg(test)]
mod calendar_tests {
    use super::*;

    #[test]
    fn round_trips_and_month_arithmetic() {
        for ms in [0u64, 86_399_999, 951_782_400_000, 1_767_225_600_000] {
            let d = Date::from_unix_ms(ms);
            assert_eq!(Date::from_unix_ms(d.to_unix_ms()), d);
            assert!(d.to_unix_ms() <= ms && ms - d.to_unix_ms() < 86_400_000);
        }
        let jan31 = Date::parse("2024-01-31").unwrap();
        assert_eq!(jan31.add_months(1).to_string(), "2024-02-29");
        assert_eq!(jan31.add_months(13).to_string(), "2025-02-28");
        assert_eq!(iso_from_unix_ms(1_767_225_661_000), "2026-01-01T00:01:01Z");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_dates() {
        assert_eq!(Date::parse("2024-02-29"), Date::new(2024, 2, 29));
        assert_eq!(Date::parse("2000-02-29").unwrap().to_string(), "2000-02-29");
        assert_eq!(Date::parse("1999-12-31").unwrap().day(), 31);
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "2024-1-01",
            "2024/01/01",
            "20240101",
            "2024-01-0a",
            "+024-01-01",
            "é024-01-1",
            "",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn orders_chronologically() {
        let a = Date::parse("2024-12-31").unwrap();
        let b = Date::parse("2025-01-01").unwrap();
        assert!(a < b);
    }

    #[test]
    fn converts_unix_ms() {
        assert_eq!(Date::from_unix_ms(0).to_string(), "1970-01-01");
        // 2024-02-29T23:59:59.999Z
        assert_eq!(
            Date::from_unix_ms(1_709_251_199_999).to_string(),
            "2024-02-29"
        );
        assert_eq!(
            Date::from_unix_ms(1_709_251_200_000).to_string(),
            "2024-03-01"
        );
    }
}
