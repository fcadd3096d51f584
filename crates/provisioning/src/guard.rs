//! The deletion guard: before the worker takes access away, it counts removals per integration
//! in a sliding hour; above the integration's threshold the integration is **held**: removals
//! wait, everything else runs, and an admin approves (they run) or discards (they are dropped
//! and the accounts kept). One service for the UI, the CLI and the worker.

use crate::planner::DeleteGuard;
use serde::Serialize;
use store::{Hold, HoldState, Store, StoreError};

/// The sliding window removals are counted in.
pub const WINDOW_MS: i64 = 3_600_000;

/// What the worker does with a planned removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Carry it out.
    Proceed,
    /// Look again at this time (epoch ms): the settle window lets a burst show its size
    /// before the first removal runs.
    WaitUntil(i64),
    /// Held for an admin's decision (or discarded by one): do not remove.
    Hold,
}

/// The guard's decision, pure: `hold` is the user's row as it is now, `integration_held`
/// whether any other removal of the integration is held, `removals` the removals carried out
/// in the window plus those waiting (this one included), `linked` the accounts in the target.
pub fn decide(
    guard: DeleteGuard,
    hold: &Hold,
    integration_held: bool,
    removals: u64,
    linked: u64,
    now: i64,
    settle_ms: i64,
) -> Verdict {
    match hold.state {
        HoldState::Approved => return Verdict::Proceed,
        HoldState::Held | HoldState::Discarded => return Verdict::Hold,
        HoldState::Pending => {}
    }
    if guard == DeleteGuard::Off {
        return Verdict::Proceed;
    }
    if now < hold.first_seen_at + settle_ms {
        return Verdict::WaitUntil(hold.first_seen_at + settle_ms);
    }
    if integration_held || guard.trips(removals, linked) {
        Verdict::Hold
    } else {
        Verdict::Proceed
    }
}

/// What `scimbridge guard show` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardState {
    pub held: bool,
    pub users: Vec<HeldUser>,
}

/// One held removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldUser {
    pub id: String,
    pub user_name: String,
    pub action: String,
    pub since: i64,
}

/// The integration's held removals.
pub async fn show(store: &Store, integration_id: &str) -> Result<GuardState, StoreError> {
    let users: Vec<HeldUser> = store
        .list_holds(integration_id, Some(HoldState::Held))
        .await?
        .into_iter()
        .map(|h| HeldUser {
            id: h.scim_user_id,
            user_name: h.user_name,
            action: h.action,
            since: h.first_seen_at,
        })
        .collect();
    Ok(GuardState {
        held: !users.is_empty(),
        users,
    })
}

/// Approves every held removal: they run now (their users' jobs are queued again).
pub async fn approve(
    store: &Store,
    integration_id: &str,
    now: i64,
) -> Result<GuardState, StoreError> {
    let before = show(store, integration_id).await?;
    let moved = store
        .move_holds(integration_id, HoldState::Held, HoldState::Approved, now)
        .await?;
    // An orphaned account's removal (reconciliation) has no user job: the caller carries it
    // out (`Reconciler::approve_held`).
    let ids: Vec<String> = moved
        .into_iter()
        .map(|h| h.scim_user_id)
        .filter(|id| !id.starts_with(store::ORPHAN_HOLD_PREFIX))
        .collect();
    store
        .enqueue_users(integration_id, &ids, "guard-approved", now)
        .await?;
    Ok(before)
}

/// Discards every held removal: the accounts are kept, and the same removal is not planned
/// again until the user's state changes.
pub async fn discard(
    store: &Store,
    integration_id: &str,
    now: i64,
) -> Result<GuardState, StoreError> {
    let before = show(store, integration_id).await?;
    store
        .move_holds(integration_id, HoldState::Held, HoldState::Discarded, now)
        .await?;
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(state: HoldState, first_seen_at: i64) -> Hold {
        Hold {
            integration_id: "i".into(),
            scim_user_id: "u".into(),
            user_name: "u@x".into(),
            action: "delete".into(),
            state,
            first_seen_at,
            updated_at: first_seen_at,
        }
    }

    #[test]
    fn a_burst_waits_for_the_settle_window_then_holds() {
        let g = DeleteGuard::default();
        let h = hold(HoldState::Pending, 1_000);
        assert_eq!(
            decide(g, &h, false, 60, 100, 1_500, 2_000),
            Verdict::WaitUntil(3_000)
        );
        assert_eq!(decide(g, &h, false, 60, 100, 3_000, 2_000), Verdict::Hold);
        // A few removals pass.
        assert_eq!(decide(g, &h, false, 3, 100, 3_000, 2_000), Verdict::Proceed);
        // Once the integration is held, every further removal waits too.
        assert_eq!(decide(g, &h, true, 3, 100, 3_000, 2_000), Verdict::Hold);
        // Off: no waiting at all.
        assert_eq!(
            decide(DeleteGuard::Off, &h, true, 60, 100, 1_500, 2_000),
            Verdict::Proceed
        );
    }

    #[test]
    fn decisions_stick() {
        let g = DeleteGuard::default();
        assert_eq!(
            decide(g, &hold(HoldState::Approved, 0), true, 60, 100, 0, 2_000),
            Verdict::Proceed
        );
        assert_eq!(
            decide(
                g,
                &hold(HoldState::Discarded, 0),
                false,
                0,
                100,
                9_999,
                2_000
            ),
            Verdict::Hold
        );
        assert_eq!(
            decide(g, &hold(HoldState::Held, 0), false, 0, 100, 9_999, 2_000),
            Verdict::Hold
        );
    }
}
