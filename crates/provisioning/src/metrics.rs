//! The worker's metrics, through the `metrics` facade: this crate records, the binary installs
//! the exporter (Prometheus) and serves it. Without an installed recorder every call is a
//! no-op. Labels carry connector kinds, operation names, outcomes and integration ids only;
//! never a userName, an email or a secret.

use std::time::Duration;

/// Outbound target calls, by `connector`, `operation` and `outcome` (`ok`, `retry`, `error`).
pub const OUTBOUND_CALLS: &str = "scimbridge_outbound_calls_total";
/// Outbound target call latency in seconds, by `connector` and `operation`.
pub const OUTBOUND_DURATION: &str = "scimbridge_outbound_call_duration_seconds";
/// Jobs put back to wait for another attempt, by `integration`.
pub const JOB_RETRIES: &str = "scimbridge_job_retries_total";
/// Jobs finished, by `result` (`done` or `failed`).
pub const JOBS_FINISHED: &str = "scimbridge_jobs_finished_total";

/// Users whose removal the deletion guard holds, by `integration` (from the database).
pub const GUARD_HELD: &str = "scimbridge_guard_held_users";
/// Removals the deletion guard held, by `integration`.
pub const GUARD_HOLDS: &str = "scimbridge_guard_holds_total";

/// Registers the help text of this crate's metrics with the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        OUTBOUND_CALLS,
        "Calls to target APIs, by connector kind, operation and outcome (ok, retry, error)"
    );
    metrics::describe_histogram!(
        OUTBOUND_DURATION,
        metrics::Unit::Seconds,
        "Latency of calls to target APIs, by connector kind and operation"
    );
    metrics::describe_counter!(
        JOB_RETRIES,
        "Outbound jobs scheduled for another attempt after a retryable failure, by integration"
    );
    metrics::describe_counter!(
        JOBS_FINISHED,
        "Outbound jobs finished, by result (done, failed)"
    );
    metrics::describe_gauge!(
        GUARD_HELD,
        "Users whose removal the deletion guard holds for an admin's approval, by integration"
    );
    metrics::describe_counter!(
        GUARD_HOLDS,
        "Removals held by the deletion guard, by integration"
    );
}

/// The number of held removals of an integration (set when `/metrics` is scraped, from the
/// database, so every instance reports the same).
pub fn guard_held(integration_id: &str, users: u64) {
    metrics::gauge!(GUARD_HELD, "integration" => integration_id.to_string()).set(users as f64);
}

/// A removal was held.
pub(crate) fn guard_hold(integration_id: &str) {
    metrics::counter!(GUARD_HOLDS, "integration" => integration_id.to_string()).increment(1);
}

/// One target call.
pub(crate) fn outbound_call(connector: &str, operation: &str, outcome: &str, took: Duration) {
    metrics::counter!(
        OUTBOUND_CALLS,
        "connector" => connector.to_string(),
        "operation" => operation.to_string(),
        "outcome" => outcome.to_string()
    )
    .increment(1);
    metrics::histogram!(
        OUTBOUND_DURATION,
        "connector" => connector.to_string(),
        "operation" => operation.to_string()
    )
    .record(took.as_secs_f64());
}

/// A job goes back to wait for another attempt.
pub(crate) fn job_retry(integration_id: &str) {
    metrics::counter!(JOB_RETRIES, "integration" => integration_id.to_string()).increment(1);
}

/// A job is done or failed for good.
pub(crate) fn job_finished(result: &'static str) {
    metrics::counter!(JOBS_FINISHED, "result" => result).increment(1);
}

/// Accounts a reconciliation import has read in its current run, by `integration`.
pub const RECON_IMPORTED: &str = "scimbridge_reconcile_imported_accounts";
/// The target's account count as the import's last page said, by `integration`.
pub const RECON_TOTAL: &str = "scimbridge_reconcile_target_accounts";
/// Reconciliation imports finished, by `integration`.
pub const RECON_RUNS: &str = "scimbridge_reconcile_runs_total";

/// Registers the help text of reconciliation's metrics.
pub fn describe_reconcile() {
    metrics::describe_gauge!(
        RECON_IMPORTED,
        "Accounts read by the running (or last) reconciliation import, by integration"
    );
    metrics::describe_gauge!(
        RECON_TOTAL,
        "Accounts in the target as the reconciliation import last saw, by integration"
    );
    metrics::describe_counter!(
        RECON_RUNS,
        "Reconciliation imports finished, by integration"
    );
    metrics::describe_gauge!(
        RECON_RUNNING,
        "1 while a reconciliation import of the integration runs, by integration"
    );
    metrics::describe_gauge!(
        RESYNC_QUEUED,
        "Jobs the last Apply to all queued, by integration"
    );
    metrics::describe_gauge!(
        RESYNC_REMAINING,
        "Jobs of the last Apply to all still pending or running, by integration"
    );
    metrics::describe_gauge!(
        RESYNC_FAILED,
        "Jobs of the last Apply to all that gave up, by integration"
    );
}

/// Jobs the last Apply to all queued, by `integration`.
pub const RESYNC_QUEUED: &str = "scimbridge_resync_queued_jobs";
/// Jobs of the last Apply to all still to run, by `integration`.
pub const RESYNC_REMAINING: &str = "scimbridge_resync_remaining_jobs";
/// Jobs of the last Apply to all that failed permanently, by `integration`.
pub const RESYNC_FAILED: &str = "scimbridge_resync_failed_jobs";

/// The last Apply to all of an integration as the database holds it (set when `/metrics` is
/// scraped).
pub fn resync_state(p: &store::ResyncProgress) {
    let id = || p.integration_id.clone();
    metrics::gauge!(RESYNC_QUEUED, "integration" => id()).set(p.queued as f64);
    metrics::gauge!(RESYNC_REMAINING, "integration" => id()).set(p.remaining as f64);
    metrics::gauge!(RESYNC_FAILED, "integration" => id()).set(p.failed as f64);
}

/// Whether an import is running, by `integration` (1 while it runs).
pub const RECON_RUNNING: &str = "scimbridge_reconcile_running";

/// An integration's import as the database holds it (set when `/metrics` is scraped, so every
/// instance reports the same, whichever process imports).
pub fn recon_state(integration_id: &str, read: u64, total: u64, running: bool) {
    recon_progress(integration_id, read, total);
    metrics::gauge!(RECON_RUNNING, "integration" => integration_id.to_string()).set(if running {
        1.0
    } else {
        0.0
    });
}

/// An import's progress: `read` of `total` accounts.
pub(crate) fn recon_progress(integration_id: &str, read: u64, total: u64) {
    metrics::gauge!(RECON_IMPORTED, "integration" => integration_id.to_string()).set(read as f64);
    metrics::gauge!(RECON_TOTAL, "integration" => integration_id.to_string()).set(total as f64);
}

/// An import finished with `imported` accounts.
pub(crate) fn recon_finished(integration_id: &str, imported: u64) {
    metrics::gauge!(RECON_IMPORTED, "integration" => integration_id.to_string())
        .set(imported as f64);
    metrics::counter!(RECON_RUNS, "integration" => integration_id.to_string()).increment(1);
}
