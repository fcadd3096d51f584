//! Guards of the sign-in flow: failed-login throttling and the one-time first-run setup token.
//!
//! Both are kept in the database (`store::queries::signin`), so every instance behind one
//! proxy counts the same failures and accepts the same setup links. This module holds the
//! policy (limits, window, lifetime); times are epoch seconds passed in by the caller.

use store::{Store, StoreError};

/// Failures allowed per account (`email:` keys) within the window before sign-in is refused.
pub const MAX_FAILURES: u32 = 5;
/// Failures allowed per client address (`ip:` keys): higher, as an office shares one address.
pub const MAX_FAILURES_PER_IP: u32 = 30;
/// The throttling window (seconds).
pub const WINDOW_SECS: i64 = 15 * 60;
/// Seconds the first-run setup link stays valid.
pub const SETUP_TTL_SECS: i64 = 60 * 60;

fn limit(key: &str) -> u32 {
    if key.starts_with("ip:") {
        MAX_FAILURES_PER_IP
    } else {
        MAX_FAILURES
    }
}

/// Seconds until a key with `failures` counted since `window_start` may try again, if locked.
fn wait_secs(key: &str, failures: u32, window_start: i64, now: i64) -> Option<i64> {
    let end = window_start + WINDOW_SECS;
    (failures >= limit(key) && now < end).then_some(end - now)
}

/// Seconds until `keys` may try again, or `None` if none of them is locked.
pub async fn locked_for(
    store: &Store,
    keys: &[String],
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let mut longest = None;
    for k in keys {
        if let Some(f) = store.login_failures(k).await? {
            let wait = wait_secs(k, f.failures, f.window_start / 1000, now);
            longest = longest.max(wait);
        }
    }
    Ok(longest)
}

/// Records a failure for each key.
pub async fn fail(store: &Store, keys: &[String], now: i64) -> Result<(), StoreError> {
    for k in keys {
        store
            .record_login_failure(k, now * 1000, WINDOW_SECS * 1000)
            .await?;
    }
    Ok(())
}

/// Forgets the failures of a key after a successful sign-in.
pub async fn succeed(store: &Store, key: &str) -> Result<(), StoreError> {
    store.clear_login_failures(key).await
}

/// Stores `token` (hashed) as a setup token valid until `now + SETUP_TTL_SECS`. Tokens that
/// other instances stored stay valid: each instance prints its own working link.
pub async fn arm(store: &Store, token: &str, now: i64) -> Result<(), StoreError> {
    store
        .add_setup_token(token, (now + SETUP_TTL_SECS) * 1000, now * 1000)
        .await
}

/// Whether `candidate` is a live setup token.
pub async fn check(store: &Store, candidate: &str, now: i64) -> Result<bool, StoreError> {
    if candidate.is_empty() {
        return Ok(false);
    }
    store.setup_token_valid(candidate, now * 1000).await
}

/// Uses the setup tokens up: true exactly once, on one instance, for a live token.
pub async fn consume(store: &Store, candidate: &str, now: i64) -> Result<bool, StoreError> {
    if candidate.is_empty() {
        return Ok(false);
    }
    store.consume_setup_token(candidate, now * 1000).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_locks_at_its_limit_until_the_window_ends() {
        assert_eq!(wait_secs("email:a@x", MAX_FAILURES - 1, 100, 100), None);
        assert_eq!(
            wait_secs("email:a@x", MAX_FAILURES, 100, 160),
            Some(WINDOW_SECS - 60)
        );
        assert_eq!(
            wait_secs("email:a@x", MAX_FAILURES, 100, 100 + WINDOW_SECS),
            None
        );
        // An address has the higher limit.
        assert_eq!(wait_secs("ip:1.2.3.4", MAX_FAILURES, 100, 160), None);
        assert!(wait_secs("ip:1.2.3.4", MAX_FAILURES_PER_IP, 100, 160).is_some());
    }
}
