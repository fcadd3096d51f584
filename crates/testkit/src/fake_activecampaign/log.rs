//! The request log kept by the fake, for assertions on call counts and rates.

use std::time::{Duration, SystemTime};

/// One request as seen by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLogEntry {
    /// Wall-clock time the request was decided.
    pub at: SystemTime,
    /// Monotonic time since the fake started (use this for rate computations).
    pub since_start: Duration,
    pub method: String,
    /// Path including the query string, e.g. `/api/3/users?limit=100`.
    pub path: String,
    pub status: u16,
    /// Account the `Api-Token` belongs to (also for recycled keys), if any.
    pub account: Option<String>,
    /// Whether the request passed the rate limiter and was processed (so it
    /// counts against the account's requests-per-second budget). False for
    /// 429s, auth failures, outage and injected 503s.
    pub admitted: bool,
}

/// Largest number of `times` (sorted ascending) inside any half-open window
/// `[t, t + window)`.
#[must_use]
pub fn max_in_any_window(times: &[Duration], window: Duration) -> usize {
    let mut best = 0;
    let mut start = 0;
    for (end, t) in times.iter().enumerate() {
        while let Some(s) = times.get(start) {
            if *s + window <= *t {
                start += 1;
            } else {
                break;
            }
        }
        best = best.max(end + 1 - start);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counting() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|m| Duration::from_millis(*m))
                .collect::<Vec<_>>()
        };
        let w = Duration::from_secs(1);
        assert_eq!(max_in_any_window(&ms(&[]), w), 0);
        assert_eq!(max_in_any_window(&ms(&[0, 100, 200, 300, 400]), w), 5);
        assert_eq!(max_in_any_window(&ms(&[0, 100, 999, 1000, 1001]), w), 4);
        assert_eq!(max_in_any_window(&ms(&[0, 1000, 2000]), w), 1);
    }
}
