//! Timestamps as users' files write them: integer seconds, milliseconds, microseconds or
//! nanoseconds since the epoch (the unit detected from magnitude), or ISO-8601 text.
//! Everything inside perpsim is `i64` milliseconds, UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// The unit of an integer timestamp column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

impl TimeUnit {
    /// Guesses the unit from one value's magnitude. Any date from 1973 to 5138 lands in the
    /// right unit: seconds stay below 1e11, milliseconds below 1e14, microseconds below 1e17.
    /// (Binance spot files switched from milliseconds to microseconds in 2025.)
    pub fn detect(value: i64) -> TimeUnit {
        match value.unsigned_abs() {
            0..100_000_000_000 => TimeUnit::Seconds,
            100_000_000_000..100_000_000_000_000 => TimeUnit::Millis,
            100_000_000_000_000..100_000_000_000_000_000 => TimeUnit::Micros,
            _ => TimeUnit::Nanos,
        }
    }

    /// Converts to ms, flooring sub-millisecond parts.
    pub fn to_ms(self, value: i64) -> i64 {
        match self {
            TimeUnit::Seconds => value.saturating_mul(1_000),
            TimeUnit::Millis => value,
            TimeUnit::Micros => value.div_euclid(1_000),
            TimeUnit::Nanos => value.div_euclid(1_000_000),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "seconds",
            TimeUnit::Millis => "milliseconds",
            TimeUnit::Micros => "microseconds",
            TimeUnit::Nanos => "nanoseconds",
        }
    }
}

/// How a file writes its time column, decided from its first data row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeFormat {
    Integer(TimeUnit),
    /// ISO-8601 / RFC 3339 text; text without an offset is taken as UTC
    Text,
}

impl TimeFormat {
    pub fn describe(self) -> String {
        match self {
            TimeFormat::Integer(unit) => {
                format!("integer {} (detected from magnitude)", unit.name())
            }
            TimeFormat::Text => "ISO-8601 text".to_string(),
        }
    }
}

/// Parses ISO-8601 text to ms UTC: `2024-01-01T00:00:00Z`, `2024-01-01 00:00:00.000`,
/// `2024-01-01T08:00:00+08:00`, `2024-01-01`. Text without an offset is UTC.
pub fn parse_text_time(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z") {
        return Some(t.timestamp_millis());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    let text = text.strip_suffix('Z').unwrap_or(text);
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis())
}

/// ms → `2024-01-01 00:00` UTC, with seconds and milliseconds only when they are not zero.
pub fn format_utc(ms: i64) -> String {
    let Some(t) = DateTime::from_timestamp_millis(ms) else {
        return format!("{ms} ms");
    };
    if ms.rem_euclid(1_000) != 0 {
        t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
    } else if ms.rem_euclid(60_000) != 0 {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// Parses a user's date bound (`2024-01-01` or full ISO text) to ms UTC.
pub fn parse_date(text: &str) -> Option<i64> {
    parse_text_time(text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_is_detected_from_magnitude() {
        // 2024-01-01 00:00 UTC = 1_704_067_200 s
        assert_eq!(TimeUnit::detect(1_704_067_200), TimeUnit::Seconds);
        assert_eq!(TimeUnit::detect(1_704_067_200_000), TimeUnit::Millis);
        assert_eq!(TimeUnit::detect(1_704_067_200_000_000), TimeUnit::Micros);
        assert_eq!(TimeUnit::detect(1_704_067_200_000_000_000), TimeUnit::Nanos);
        for value in [
            1_704_067_200,
            1_704_067_200_000,
            1_704_067_200_000_000,
            1_704_067_200_000_000_000,
        ] {
            let unit = TimeUnit::detect(value);
            assert_eq!(unit.to_ms(value), 1_704_067_200_000, "{unit:?}");
        }
    }

    #[test]
    fn text_times_parse_as_utc() {
        let want = 1_704_067_200_000;
        for text in [
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00.000Z",
            "2024-01-01 00:00:00",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00",
            "2024-01-01",
            "2024-01-01T08:00:00+08:00",
            "2024-01-01 00:00:00+00:00",
        ] {
            assert_eq!(parse_text_time(text), Some(want), "{text}");
        }
        assert_eq!(parse_text_time("yesterday"), None);
    }

    #[test]
    fn format_shows_only_what_is_there() {
        assert_eq!(format_utc(1_704_067_200_000), "2024-01-01 00:00");
        assert_eq!(format_utc(1_704_067_200_005), "2024-01-01 00:00:00.005");
    }
}
