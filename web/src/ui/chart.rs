//! The dashboard's activity chart: an SVG rendered on the server (no script, no external
//! library), and the warnings that precede an Entra quarantine.

use askama::Template;
use store::Bucket;

const WIDTH: f64 = 720.0;
const PLOT_TOP: f64 = 10.0;
const PLOT_BOTTOM: f64 = 150.0;

/// One bar: all events of the bucket, with the failures drawn over it.
pub struct Bar {
    pub x: f64,
    pub w: f64,
    pub y: f64,
    pub h: f64,
    pub fail_y: f64,
    pub fail_h: f64,
    /// Tooltip text.
    pub title: String,
}

/// The activity chart of one integration (a typed partial).
#[derive(Template)]
#[template(path = "ui/_chart.html")]
pub struct Chart {
    pub bars: Vec<Bar>,
    /// (x, text) labels under the axis.
    pub labels: Vec<(f64, String)>,
    /// The largest bucket, labelled on the axis.
    pub max: u64,
    pub total: u64,
    pub failures: u64,
    /// `24h` or `7d`.
    pub range: &'static str,
    /// Link base for the range switch.
    pub href: String,
}

impl Chart {
    /// Lays out `buckets` (oldest first); `label_every` buckets get a time label in `fmt`.
    pub fn new(
        buckets: &[Bucket],
        range: &'static str,
        href: String,
        label_every: usize,
        fmt: &str,
    ) -> Self {
        let count = |b: &Bucket| b.inbound + b.outbound;
        let max = buckets.iter().map(count).max().unwrap_or(0);
        let scale = if max == 0 {
            0.0
        } else {
            (PLOT_BOTTOM - PLOT_TOP) / max as f64
        };
        let slot = WIDTH / buckets.len().max(1) as f64;
        let w = (slot * 0.8).max(1.0);
        let bars = buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let h = count(b) as f64 * scale;
                let fail_h = b.failures.min(count(b)) as f64 * scale;
                let when = chrono::DateTime::from_timestamp_millis(b.start)
                    .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default();
                Bar {
                    x: i as f64 * slot + (slot - w) / 2.0,
                    w,
                    y: PLOT_BOTTOM - h,
                    h,
                    fail_y: PLOT_BOTTOM - fail_h,
                    fail_h,
                    title: format!(
                        "{when}: {} from the IdP, {} to the target, {} failed",
                        b.inbound, b.outbound, b.failures
                    ),
                }
            })
            .collect();
        let labels = buckets
            .iter()
            .enumerate()
            .filter(|(i, _)| i % label_every.max(1) == 0)
            .map(|(i, b)| {
                let text = chrono::DateTime::from_timestamp_millis(b.start)
                    .map(|d| d.format(fmt).to_string())
                    .unwrap_or_default();
                (i as f64 * slot + slot / 2.0, text)
            })
            .collect();
        Self {
            bars,
            labels,
            max,
            total: buckets.iter().map(count).sum(),
            failures: buckets.iter().map(|b| b.failures).sum(),
            range,
            href,
        }
    }
}

/// Warnings for the overview, from the last inbound request and the last day's failures.
pub fn warnings(
    active_since_ms: Option<i64>,
    last_inbound_ms: Option<i64>,
    day_total: u64,
    day_failures: u64,
    now_ms: i64,
) -> Vec<String> {
    // Entra runs a provisioning cycle about every 40 minutes; two missed cycles is a signal.
    const QUIET_MS: i64 = 80 * 60_000;
    let mut out = Vec::new();
    match (active_since_ms, last_inbound_ms) {
        (Some(_), Some(last)) if now_ms - last > QUIET_MS => out.push(format!(
            "Nothing has arrived from the identity provider for {} minutes (longer than two provisioning cycles). Check that provisioning is On in Entra or Okta and not in quarantine.",
            (now_ms - last) / 60_000
        )),
        (Some(since), None) if now_ms - since > QUIET_MS => out.push(
            "No request has arrived from the identity provider since this integration was set up. Check the Tenant URL and token in Entra or Okta, and that provisioning is On.".into(),
        ),
        _ => {}
    }
    if day_failures >= 5 && day_failures * 10 >= day_total {
        out.push(format!(
            "{day_failures} of {day_total} requests and target calls failed in the last 24 hours. Entra quarantines an app whose requests keep failing: see Failed jobs and the Provisioning log."
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_bucket() {
        let b = |start, inbound, outbound, failures| Bucket {
            start,
            inbound,
            outbound,
            failures,
        };
        let c = Chart::new(
            &[b(0, 2, 2, 0), b(3_600_000, 0, 0, 0), b(7_200_000, 1, 1, 2)],
            "24h",
            String::new(),
            2,
            "%H:%M",
        );
        assert_eq!(c.max, 4);
        assert_eq!(c.total, 6);
        assert_eq!(c.failures, 2);
        assert!((c.bars[0].h - (PLOT_BOTTOM - PLOT_TOP)).abs() < 1e-9);
        assert_eq!(c.bars[1].h, 0.0);
        assert!((c.bars[2].fail_h - c.bars[2].h).abs() < 1e-9, "all failed");
        assert_eq!(c.labels.len(), 2);
        assert_eq!(c.labels[1].1, "02:00");
        assert!(c.render().unwrap().contains("<svg"));
    }

    #[test]
    fn no_activity_is_an_empty_state_not_a_bar() {
        let quiet: Vec<Bucket> = (0..24)
            .map(|i| Bucket {
                start: i * 3_600_000,
                inbound: 0,
                outbound: 0,
                failures: 0,
            })
            .collect();
        let html = Chart::new(&quiet, "24h", String::new(), 4, "%H:%M")
            .render()
            .unwrap();
        assert!(
            html.contains("No requests yet") && !html.contains("<svg"),
            "{html}"
        );
        let one = Chart::new(
            &[Bucket {
                start: 0,
                inbound: 1,
                outbound: 0,
                failures: 0,
            }],
            "24h",
            String::new(),
            1,
            "%H:%M",
        );
        let html = one.render().unwrap();
        assert!(html.contains("<svg") && !html.contains("No requests yet"));
    }

    #[test]
    fn warnings_for_silence_and_failures() {
        let now = 10 * 3_600_000;
        assert!(warnings(Some(0), Some(now - 60_000), 100, 1, now).is_empty());
        let quiet = warnings(Some(0), Some(now - 81 * 60_000), 0, 0, now);
        assert!(quiet[0].contains("81 minutes"));
        assert_eq!(warnings(Some(0), None, 0, 0, now).len(), 1);
        assert!(
            warnings(None, None, 0, 0, now).is_empty(),
            "not active: no warning"
        );
        assert_eq!(warnings(Some(0), Some(now), 40, 5, now).len(), 1);
        assert!(
            warnings(Some(0), Some(now), 100, 5, now).is_empty(),
            "5 % is noise"
        );
    }
}
