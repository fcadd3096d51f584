//! Per-token rate limit: a token bucket per API token, in memory (one per process: a second
//! instance gives each token its own rate again, which is fine for a guard against runaway
//! scripts).

use std::collections::HashMap;
use std::sync::Mutex;

/// One token's bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Requests left (fractional while refilling).
    pub tokens: f64,
    /// Epoch ms of the last refill.
    pub at: i64,
}

/// Takes one request from `bucket` at `now` (pure): refills `per_minute` a minute up to
/// `per_minute`; `Err(seconds)` to wait when empty.
pub fn take(bucket: &mut Bucket, per_minute: u32, now: i64) -> Result<(), u64> {
    let cap = f64::from(per_minute.max(1));
    let per_ms = cap / 60_000.0;
    let elapsed = (now - bucket.at).max(0) as f64;
    bucket.tokens = (bucket.tokens + elapsed * per_ms).min(cap);
    bucket.at = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        Ok(())
    } else {
        let wait_ms = (1.0 - bucket.tokens) / per_ms;
        Err(((wait_ms / 1000.0).ceil() as u64).max(1))
    }
}

/// The buckets of every token.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `per_minute` requests a minute per token.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            buckets: Mutex::default(),
        }
    }

    /// Takes one request of token `id`; `Err(seconds)` to wait.
    pub fn take(&self, id: &str, now: i64) -> Result<(), u64> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(id.to_owned()).or_insert(Bucket {
            tokens: f64::from(self.per_minute),
            at: now,
        });
        take(bucket, self.per_minute, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_a_burst_then_refills_with_time() {
        let mut b = Bucket { tokens: 3.0, at: 0 };
        assert!(take(&mut b, 3, 0).is_ok());
        assert!(take(&mut b, 3, 0).is_ok());
        assert!(take(&mut b, 3, 0).is_ok());
        // Empty: 3 a minute is one every 20 s.
        assert_eq!(take(&mut b, 3, 0), Err(20));
        assert_eq!(take(&mut b, 3, 10_000), Err(10));
        assert!(take(&mut b, 3, 21_000).is_ok());
    }

    #[test]
    fn tokens_have_their_own_buckets() {
        let l = RateLimiter::new(1);
        assert!(l.take("a", 0).is_ok());
        assert!(l.take("a", 0).is_err());
        assert!(l.take("b", 0).is_ok());
    }
}
