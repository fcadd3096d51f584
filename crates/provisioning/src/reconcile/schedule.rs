//! Scheduled reconciliation: every integration that is active gets an import every
//! `interval` (default 24 h, each next run jittered so a fleet does not import at once). An
//! integration seen for the first time is scheduled one interval ahead (no import at start).
//! Due runs are imported one after the other by whichever instance's worker looks first: the
//! import lease keeps a run to one instance, and a stopped run continues from its cursor.
//! Each round also carries out approved orphan removals that could not run when approved.

use super::{ImportConfig, ImportOutcome, Reconciler};
use store::{IntegrationStatus, RunState};

/// Runs the imports that are due now; `jitter()` draws a factor (about 0.9–1.1) for each next
/// run. Returns how many finished.
pub async fn run_due(
    rec: &Reconciler,
    config: &ImportConfig,
    jitter: &mut (dyn FnMut() -> f64 + Send),
) -> u64 {
    let now = rec.clock.now_ms();
    let runs = match rec.store.recon_runs_unscoped().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the reconciliation schedule");
            return 0;
        }
    };
    let ids = match rec.store.active_integration_ids_unscoped().await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "could not list integrations to reconcile");
            return 0;
        }
    };
    let mut finished = 0;
    for id in ids {
        let run = runs.iter().find(|r| r.integration_id == id);
        let Some(run) = run else {
            let first =
                now + (store::DEFAULT_RECON_INTERVAL_SECS as f64 * 1000.0 * jitter()) as i64;
            if let Err(e) = rec
                .store
                .recon_set_settings(&id, store::DEFAULT_RECON_INTERVAL_SECS, false, first)
                .await
            {
                tracing::warn!(integration = %id, error = %e, "could not schedule reconciliation");
            }
            continue;
        };
        let busy = run.state == RunState::Running && run.lease_until >= now;
        let due = run.next_run_at <= now && !busy;
        let approved = has_approved_orphans(rec, &id).await;
        if !due && !approved {
            continue;
        }
        let Ok(Some(integration)) = rec.store.get_integration_unscoped(&id).await else {
            continue;
        };
        if integration.status != IntegrationStatus::Active {
            continue;
        }
        // Approved orphan removals the target refused when they were approved.
        if approved
            && let Err(e) = rec
                .carry_out_approved_orphans(&integration, &super::Actor::system())
                .await
        {
            tracing::warn!(integration = %id, error = %e, "approved orphan removals not carried out yet");
        }
        if !due {
            continue;
        }
        match rec.import_now(&integration, config, jitter()).await {
            Ok(ImportOutcome::Finished { .. }) => finished += 1,
            Ok(ImportOutcome::Busy) => {}
            Err(e) => {
                tracing::warn!(integration = %id, error = %e, "scheduled reconciliation stopped");
            }
        }
    }
    finished
}

/// Whether an admin approved the held removal of an orphaned account of `integration` that has
/// not run yet.
async fn has_approved_orphans(rec: &Reconciler, integration_id: &str) -> bool {
    rec.store
        .list_holds(integration_id, Some(store::HoldState::Approved))
        .await
        .map(|holds| {
            holds
                .iter()
                .any(|h| h.scim_user_id.starts_with(store::ORPHAN_HOLD_PREFIX))
        })
        .unwrap_or(false)
}
