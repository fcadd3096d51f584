//! The shared per-account rate limiter as a connector [`Throttle`]: every HTTP request a
//! connector sends first reserves the account's next slot (one atomic row update in the
//! database, so every worker and instance shares the account's limit) and sleeps until it.

use async_trait::async_trait;
use connector_api::{ConnectorError, Throttle};
use std::time::Duration;
use store::Store;

/// One target account's limiter.
#[derive(Clone)]
pub struct AccountLimiter {
    store: Store,
    key: String,
    gap: Duration,
}

impl AccountLimiter {
    /// The limiter of the account `key`, one request per `gap`.
    pub fn new(store: Store, key: String, gap: Duration) -> Self {
        Self { store, key, gap }
    }
}

#[async_trait]
impl Throttle for AccountLimiter {
    async fn acquire(&self) -> connector_api::Result<()> {
        let gap = self.gap.as_millis() as i64;
        if gap == 0 {
            return Ok(());
        }
        let now = chrono::Utc::now().timestamp_millis();
        let at = self
            .store
            .reserve_rate_slot(&self.key, gap, now)
            .await
            .map_err(|e| ConnectorError::Transient(format!("rate limiter: {e}")))?;
        let wait = at - chrono::Utc::now().timestamp_millis();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        Ok(())
    }
}
