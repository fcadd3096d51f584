//! The shared per-account rate limiter as a connector [`Throttle`]: every HTTP request a
//! connector sends first reserves the account's next slot (one atomic row update in the
//! database, so every worker and instance shares the account's limit) and sleeps until it.
//!
//! An account may also have a [`Budget`]: units per window (Pipedrive's daily token budget,
//! charged per call; Brevo's requests per hour). A request that does not fit is not sent: the
//! limiter answers `RateLimited` until the window resets, and the worker defers the job
//! without counting an attempt. What the target reports about its limit ([`LimitReport`]:
//! Brevo's headers, a 429's Retry-After) replaces our own count, so a plan with a higher or
//! lower limit is used as the target says.

use crate::engine::{Clock, SystemClock};
use async_trait::async_trait;
use connector_api::{ConnectorError, LimitReport, Throttle};
use std::sync::Arc;
use std::time::Duration;
use store::{BudgetGrant, Store};

/// One UTC day.
const DAY_MS: i64 = 86_400_000;

/// How an account's budget window runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Calendar days in UTC (Pipedrive's daily budget).
    UtcDay,
    /// A window of this length from its first request, until the target reports its own
    /// reset (Brevo's hour).
    Rolling(Duration),
}

impl Window {
    /// When a window starting at `now` ends.
    pub fn next_reset(&self, now: i64) -> i64 {
        match self {
            Window::UtcDay => (now.div_euclid(DAY_MS) + 1) * DAY_MS,
            Window::Rolling(d) => now + d.as_millis() as i64,
        }
    }

    /// Plain words for messages and the overview.
    pub fn describe(&self) -> &'static str {
        match self {
            Window::UtcDay => "day",
            Window::Rolling(d) if d.as_secs() == 3600 => "hour",
            Window::Rolling(_) => "window",
        }
    }
}

/// Units an account may spend per window, until the target reports its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u64,
    pub window: Window,
}

/// One target account's limiter.
#[derive(Clone)]
pub struct AccountLimiter {
    store: Store,
    key: String,
    gap: Duration,
    budget: Option<Budget>,
    clock: Arc<dyn Clock>,
}

impl AccountLimiter {
    /// The limiter of the account `key`, one request per `gap`.
    pub fn new(store: Store, key: String, gap: Duration) -> Self {
        Self {
            store,
            key,
            gap,
            budget: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Also spends `budget` per window.
    pub fn with_budget(mut self, budget: Option<Budget>) -> Self {
        self.budget = budget;
        self
    }

    /// Reads time from `clock` (the worker's).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// The error of a spent budget: retry when the window resets.
pub fn spent(budget: &Budget, resets_at: i64, now: i64) -> ConnectorError {
    let wait = Duration::from_millis((resets_at - now).max(1_000) as u64);
    ConnectorError::RateLimited {
        retry_after: Some(wait),
        message: format!(
            "the target account's budget for this {} is spent; calls resume in {} min",
            budget.window.describe(),
            wait.as_secs().div_ceil(60)
        ),
    }
}

#[async_trait]
impl Throttle for AccountLimiter {
    async fn acquire(&self) -> connector_api::Result<()> {
        self.acquire_cost(1).await
    }

    async fn acquire_cost(&self, cost: u32) -> connector_api::Result<()> {
        let db = |e: store::StoreError| ConnectorError::Transient(format!("rate limiter: {e}"));
        if let Some(b) = &self.budget {
            let now = self.clock.now_ms();
            match self
                .store
                .reserve_budget(
                    &self.key,
                    i64::from(cost),
                    b.limit as i64,
                    b.window.next_reset(now),
                    now,
                )
                .await
                .map_err(db)?
            {
                BudgetGrant::Granted { .. } => {}
                BudgetGrant::Spent { resets_at } => return Err(spent(b, resets_at, now)),
            }
        }
        let gap = self.gap.as_millis() as i64;
        if gap == 0 {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let at = self
            .store
            .reserve_rate_slot(&self.key, gap, now)
            .await
            .map_err(db)?;
        let wait = at - self.clock.now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        Ok(())
    }

    async fn observe(&self, report: LimitReport) {
        let Some(b) = &self.budget else {
            return;
        };
        let now = self.clock.now_ms();
        let resets_at = now + report.reset.as_millis() as i64;
        if let Err(e) = self
            .store
            .observe_budget(
                &self.key,
                report.limit.map(|l| l as i64),
                report.remaining as i64,
                resets_at,
                b.limit as i64,
                now,
            )
            .await
        {
            // The next reservation still counts; the target's 429 stays the backstop.
            tracing::warn!(error = %e, "could not record the target's rate-limit report");
        }
    }
}

/// Where an account's budget stands and when its queue is through, for the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetSummary {
    /// Used in the current window (0 when it has reset).
    pub used: u64,
    /// The limit that applies: the target's, else the setting.
    pub limit: u64,
    /// When the current window resets (epoch ms); `None` when no window is open.
    pub resets_at: Option<i64>,
    /// When `queued` calls will have been made (epoch ms), assuming a full window each time;
    /// `None` when they fit in what is left now.
    pub eta: Option<i64>,
}

/// The overview's numbers, pure: `state` from the database, `queued` calls still to make.
pub fn summarize(
    budget: &Budget,
    state: Option<store::BudgetState>,
    queued: u64,
    now: i64,
) -> BudgetSummary {
    let limit = state
        .and_then(|s| s.reported_limit)
        .map_or(budget.limit, |l| l.max(1) as u64);
    let open = state.filter(|s| s.resets_at > now);
    let used = open.map_or(0, |s| s.used.max(0) as u64);
    let resets_at = open.map(|s| s.resets_at);
    let left = limit.saturating_sub(used);
    let eta = (queued > left).then(|| {
        let windows = (queued - left).div_ceil(limit) as i64;
        let first = resets_at.unwrap_or_else(|| budget.window.next_reset(now));
        let length = budget.window.next_reset(first) - first;
        first + (windows - 1) * length
    });
    BudgetSummary {
        used,
        limit,
        resets_at,
        eta,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_and_etas() {
        let hour = Budget {
            limit: 100,
            window: Window::Rolling(Duration::from_secs(3600)),
        };
        let st = |used, limit, resets_at| store::BudgetState {
            used,
            reported_limit: limit,
            resets_at,
        };
        // Nothing used yet, 50 queued: fits, no ETA.
        assert_eq!(
            summarize(&hour, None, 50, 0),
            BudgetSummary {
                used: 0,
                limit: 100,
                resets_at: None,
                eta: None
            }
        );
        // 500 invitations, 40 used this hour, resets in 20 minutes: 60 now, then 100 an hour
        // → the 5th full hour after the reset.
        let s = summarize(&hour, Some(st(40, None, 1_200_000)), 500, 0);
        assert_eq!((s.used, s.limit, s.resets_at), (40, 100, Some(1_200_000)));
        assert_eq!(s.eta, Some(1_200_000 + 4 * 3_600_000));
        // Brevo reported 200/hour: that governs.
        let s = summarize(&hour, Some(st(0, Some(200), 600_000)), 450, 0);
        assert_eq!((s.limit, s.eta), (200, Some(600_000 + 3_600_000)));
        // A window that has ended counts as unused.
        assert_eq!(summarize(&hour, Some(st(100, None, 10)), 10, 20).used, 0);
        // A day: 29,000 of 30,000 tokens used.
        let day = Budget {
            limit: 30_000,
            window: Window::UtcDay,
        };
        let s = summarize(&day, Some(st(29_000, None, DAY_MS)), 0, 1_000);
        assert_eq!((s.used, s.eta), (29_000, None));
    }

    #[test]
    fn windows_reset() {
        // 2026-12-07T13:00:00Z → the next UTC midnight.
        let now = 1_796_648_400_000;
        assert_eq!(Window::UtcDay.next_reset(now), 1_796_688_000_000);
        assert_eq!(
            Window::UtcDay.next_reset(1_796_688_000_000),
            1_796_688_000_000 + DAY_MS
        );
        assert_eq!(
            Window::Rolling(Duration::from_secs(3600)).next_reset(now),
            now + 3_600_000
        );
        assert_eq!(
            Window::Rolling(Duration::from_secs(3600)).describe(),
            "hour"
        );
    }

    #[test]
    fn a_spent_budget_waits_for_the_reset() {
        let b = Budget {
            limit: 100,
            window: Window::UtcDay,
        };
        let e = spent(&b, 61_000, 1_000);
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(60)));
        assert!(e.to_string().contains("day"), "{e}");
        // Never a zero wait, even at the edge of the window.
        assert_eq!(
            spent(&b, 1_000, 1_000).retry_after(),
            Some(Duration::from_secs(1))
        );
    }
}
