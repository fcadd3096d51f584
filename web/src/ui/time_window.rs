//! The time filter the log and the audit log share: a preset range ("last 24 hours") or a
//! custom from/to in UTC, as `<input type="datetime-local">` sends it. Pure: `now` is a
//! parameter.

use chrono::{NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

/// The filter as the query string carries it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct TimeWindow {
    /// `1h`, `24h`, `7d`, `30d`, or empty (all time, or the custom bounds).
    #[serde(default)]
    pub range: String,
    /// Custom start, UTC, `YYYY-MM-DDTHH:MM` (seconds allowed).
    #[serde(default)]
    pub from: String,
    /// Custom end (exclusive), UTC, same form.
    #[serde(default)]
    pub to: String,
}

/// Epoch-ms bounds: events at `from <= at < to`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bounds {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl TimeWindow {
    /// The bounds at `now_ms`, or what to fix in words. A custom bound wins over the preset.
    pub fn bounds(&self, now_ms: i64) -> Result<Bounds, String> {
        let preset = match self.range.as_str() {
            "" => None,
            "1h" => Some(3_600_000),
            "24h" => Some(86_400_000),
            "7d" => Some(7 * 86_400_000),
            "30d" => Some(30 * 86_400_000),
            other => return Err(format!("Unknown time range '{other}'.")),
        };
        let from = parse_utc(&self.from, "From")?;
        let to = parse_utc(&self.to, "To")?;
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err("'From' must be before 'To'.".into());
        }
        Ok(Bounds {
            from: from.or(preset.map(|span: i64| now_ms - span)),
            to,
        })
    }

    /// `range=…&from=…&to=…` for the set fields (URL-encoded), for links that keep the filter.
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("range", &self.range),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k, v.trim().to_owned()))
        .collect()
    }
}

/// `2026-12-07T09:30` (or with `:ss`) read as UTC; empty is no bound.
fn parse_utc(text: &str, which: &str) -> Result<Option<i64>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let parsed = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("'{which}' must be a date and time like 2026-12-07T09:30 (UTC)."))?;
    Ok(Some(Utc.from_utc_datetime(&parsed).timestamp_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_765_100_000_000;

    fn w(range: &str, from: &str, to: &str) -> TimeWindow {
        TimeWindow {
            range: range.into(),
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn presets_count_back_from_now() {
        assert_eq!(w("", "", "").bounds(NOW), Ok(Bounds::default()));
        assert_eq!(
            w("24h", "", "").bounds(NOW).unwrap().from,
            Some(NOW - 86_400_000)
        );
        assert!(w("2y", "", "").bounds(NOW).is_err());
    }

    #[test]
    fn custom_bounds_are_utc_and_win_over_the_preset() {
        let b = w("1h", "2026-12-07T09:30", "2026-12-07T10:00:30")
            .bounds(NOW)
            .unwrap();
        assert_eq!(b.from, Some(1_796_635_800_000));
        assert_eq!(b.to, Some(1_796_637_630_000));
        assert!(
            w("", "2026-12-07T10:00", "2026-12-07T09:00")
                .bounds(NOW)
                .is_err()
        );
        assert!(
            w("", "yesterday", "")
                .bounds(NOW)
                .unwrap_err()
                .contains("From")
        );
    }

    #[test]
    fn only_set_fields_go_into_links() {
        assert_eq!(
            w("", " 2026-12-07T09:30 ", "").query_pairs(),
            vec![("from", "2026-12-07T09:30".to_string())]
        );
    }
}
