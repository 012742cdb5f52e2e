//! One representation of an instant: milliseconds since the Unix epoch. Roku speaks ISO dates
//! and WCF `/Date(ms)/`, Cleeng epoch seconds, the store BIGINT milliseconds; they meet here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EpochMs(pub i64);

impl EpochMs {
    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    pub fn from_system(at: SystemTime) -> Self {
        Self(
            at.duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        )
    }

    /// The wall-clock instant (before 1970 reads as the epoch itself).
    pub fn to_system(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(u64::try_from(self.0).unwrap_or(0))
    }

    /// Cleeng's `expiresAt` and JWT claims are whole seconds.
    pub fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.as_millis() as i64))
    }

    /// How long ago this was, zero if it is in the future.
    pub fn age(self, now: EpochMs) -> Duration {
        Duration::from_millis(now.0.saturating_sub(self.0).max(0) as u64)
    }

    /// RFC 3339 in UTC to the second, the form BrightScript's `roDateTime.FromISO8601String`
    /// reads; `None` before 1970 or past the year 9999 (humantime's range).
    pub fn to_rfc3339(self) -> Option<String> {
        let secs = u64::try_from(self.as_secs()).ok()?;
        if secs > 253_402_300_799 {
            return None;
        }
        let at = UNIX_EPOCH.checked_add(Duration::from_secs(secs))?;
        Some(humantime::format_rfc3339_seconds(at).to_string())
    }
}

/// Epoch seconds (Cleeng's `expiresAt`) as RFC 3339.
pub fn secs_to_rfc3339(secs: i64) -> Option<String> {
    EpochMs::from_secs(secs).to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_text() {
        let t = EpochMs::from_secs(1_893_456_000);
        assert_eq!(t.0, 1_893_456_000_000);
        assert_eq!(t.as_secs(), 1_893_456_000);
        assert_eq!(t.to_rfc3339().as_deref(), Some("2030-01-01T00:00:00Z"));
        assert_eq!(EpochMs(-1).to_rfc3339(), None);
        assert_eq!(EpochMs::from_secs(253_402_300_800).to_rfc3339(), None);
        assert_eq!(EpochMs(5).age(EpochMs(2)), Duration::ZERO);
    }
}
