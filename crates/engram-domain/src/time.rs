//! Time as microseconds since the Unix epoch, UTC: one integer that every
//! backend stores and compares the same way.

use serde::{Deserialize, Serialize};

/// An instant, in microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
    }

    pub fn from_secs_nanos(secs: i64, nanos: i32) -> Option<Self> {
        secs.checked_mul(1_000_000)?
            .checked_add(i64::from(nanos) / 1_000)
            .map(Self)
    }

    /// This time plus `d` (saturating).
    pub fn plus(self, d: std::time::Duration) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
        )
    }

    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    pub fn subsec_nanos(self) -> i32 {
        // rem_euclid of 1e6 fits in i32 after * 1000 (< 1e9).
        (self.0.rem_euclid(1_000_000) * 1_000) as i32
    }

    /// `YYYY-MM-DD HH:MM` in UTC, for the rendered context.
    pub fn to_minute_string(self) -> String {
        let secs = self.secs();
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}",
            rem / 3600,
            (rem % 3600) / 60
        )
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (y, m, d).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_utc_minutes() {
        assert_eq!(Timestamp(0).to_minute_string(), "1970-01-01 00:00");
        // 2026-03-01T10:05:00Z
        assert_eq!(
            Timestamp(1_772_359_500_000_000).to_minute_string(),
            "2026-03-01 10:05"
        );
        assert_eq!(
            Timestamp(-60_000_000).to_minute_string(),
            "1969-12-31 23:59"
        );
        // 2024-02-29T23:59:00Z, a leap day.
        assert_eq!(
            Timestamp(1_709_251_140_000_000).to_minute_string(),
            "2024-02-29 23:59"
        );
    }

    #[test]
    fn secs_nanos_round_trip() {
        let t = Timestamp::from_secs_nanos(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(t.secs(), 1_700_000_000);
        assert_eq!(t.subsec_nanos(), 123_456_000);
        let neg = Timestamp(-1);
        assert_eq!(
            Timestamp::from_secs_nanos(neg.secs(), neg.subsec_nanos()),
            Some(neg)
        );
        assert_eq!(Timestamp::from_secs_nanos(i64::MAX, 0), None);
    }
}
