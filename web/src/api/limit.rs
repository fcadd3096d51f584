//! Per-token rate limit, shared by every instance: each token's requests are admitted by one
//! conditional statement on the database (`Store::admit_rate`, a token bucket in its GCRA
//! form), so a second instance does not give a token a second allowance.

use store::{Store, StoreError};

/// A token bucket of `per_minute` requests a minute, bursts up to the same number, as the
/// cell interval and burst tolerance of GCRA (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Milliseconds between requests on average.
    pub interval_ms: i64,
    /// How far ahead of now the token's arrival time may run: `burst - 1` intervals.
    pub tolerance_ms: i64,
}

impl Rate {
    pub fn per_minute(per_minute: u32) -> Self {
        let n = i64::from(per_minute.max(1));
        // Rounded up, so the rate never exceeds what was set.
        let interval_ms = (60_000 + n - 1) / n;
        Self {
            interval_ms,
            tolerance_ms: interval_ms * (n - 1),
        }
    }
}

/// Seconds to wait (for `Retry-After`, at least 1) from a refusal's milliseconds (pure).
pub fn retry_after_secs(wait_ms: i64) -> u64 {
    (wait_ms.max(1) as u64).div_ceil(1000)
}

/// The limiter: the rate every token gets.
#[derive(Debug, Clone, Copy)]
pub struct RateLimiter {
    rate: Rate,
}

impl RateLimiter {
    /// `per_minute` requests a minute per token.
    pub fn new(per_minute: u32) -> Self {
        Self {
            rate: Rate::per_minute(per_minute),
        }
    }

    /// Takes one request of token `id`; `Err(seconds)` to wait.
    pub async fn take(
        &self,
        store: &Store,
        id: &str,
        now: i64,
    ) -> Result<Result<(), u64>, StoreError> {
        let key = format!("api-token:{id}");
        Ok(
            match store
                .admit_rate(&key, self.rate.interval_ms, self.rate.tolerance_ms, now)
                .await?
            {
                None => Ok(()),
                Some(wait_ms) => Err(retry_after_secs(wait_ms)),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_rate_is_an_interval_and_a_burst() {
        assert_eq!(
            Rate::per_minute(600),
            Rate {
                interval_ms: 100,
                tolerance_ms: 59_900
            }
        );
        assert_eq!(
            Rate::per_minute(1),
            Rate {
                interval_ms: 60_000,
                tolerance_ms: 0
            }
        );
        // 7 a minute: never faster than asked.
        assert_eq!(Rate::per_minute(7).interval_ms, 8_572);
        assert_eq!(Rate::per_minute(0), Rate::per_minute(1));
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(1), 1);
        assert_eq!(retry_after_secs(1_000), 1);
        assert_eq!(retry_after_secs(1_001), 2);
        assert_eq!(retry_after_secs(-5), 1);
    }
}
