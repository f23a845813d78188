//! Turning protocol timestamps into wall-clock time on screen.

use chrono::{DateTime, FixedOffset, NaiveDateTime};

/// How timestamps are turned into wall-clock time on screen. Tests pin a
/// fixed offset so snapshots do not depend on the machine's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeZone {
    Local,
    Fixed(FixedOffset),
}

impl TimeZone {
    pub fn utc() -> Self {
        TimeZone::Fixed(FixedOffset::east_opt(0).expect("zero is a valid offset"))
    }

    /// The wall-clock time of a protocol timestamp (ms since the epoch).
    pub fn datetime(self, ts_ms: i64) -> NaiveDateTime {
        let utc = DateTime::from_timestamp_millis(ts_ms).unwrap_or_default();
        match self {
            TimeZone::Local => utc.with_timezone(&chrono::Local).naive_local(),
            TimeZone::Fixed(offset) => utc.with_timezone(&offset).naive_local(),
        }
    }
}
