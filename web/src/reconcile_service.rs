//! The deletion guard and reconciliation as application services: one function per admin
//! action (show, approve and discard held removals; import now, Fix drift, deprovision
//! orphans, Apply to all, the schedule settings), called by the console (`ui::integrations`,
//! `ui::reconcile`), the local CLI and the admin API (`api::reconcile`). Access checks stay
//! with the caller. Every change is audit-logged under one action name whichever way it comes
//! in: here, or by `provisioning::reconcile::Reconciler`, which records its own actions
//! (`reconcile.fix_drift`, `reconcile.deprovision_orphans`, `reconcile.apply_all`,
//! `reconcile.settings`).

use crate::manage::{ManageError, Result, record};
use crate::staff::Actor;
use provisioning::guard::GuardState;
use provisioning::reconcile::{
    Analysis, Applied, Approval, ImportConfig, ImportOutcome, OrphanOutcome, ReconcileError,
    Reconciler,
};
use serde_json::json;
use store::{Integration, ReconRun, ResyncProgress, RunState};

impl From<ReconcileError> for ManageError {
    fn from(e: ReconcileError) -> Self {
        match e {
            ReconcileError::Store(e) => ManageError::Store(e),
            ReconcileError::Invalid(m) => ManageError::Invalid(m),
            // Another import holds the lease, or the target refused: the state, not the input.
            other @ (ReconcileError::Busy | ReconcileError::Connector(_)) => {
                ManageError::Conflict(other.to_string())
            }
        }
    }
}

/// The reconciliation crate's view of who asks (its audit entries).
fn actor_of(actor: &Actor) -> provisioning::reconcile::Actor {
    provisioning::reconcile::Actor {
        id: actor.id.clone(),
        email: actor.email.clone(),
    }
}

/// The audit detail of a guard decision: the user names it covered.
fn held_users(state: &GuardState) -> serde_json::Value {
    let users: Vec<&str> = state.users.iter().map(|u| u.user_name.as_str()).collect();
    json!({ "users": users })
}

// ------------------------------------------------------------------ deletion guard

/// The removals the deletion guard holds for an admin's decision.
pub async fn guard_state(rec: &Reconciler, integration: &Integration) -> Result<GuardState> {
    Ok(provisioning::guard::show(&rec.store, &integration.id).await?)
}

/// **Approve**: the held users' jobs run again and the held orphaned accounts are
/// deprovisioned now (`Approval::orphans`). Audit: `integration.guard.approve`.
pub async fn approve_guard(
    rec: &Reconciler,
    actor: &Actor,
    integration: &Integration,
    now: i64,
) -> Result<Approval> {
    let approval = rec.approve_held(integration, &actor_of(actor)).await?;
    record(
        &rec.store,
        actor,
        Some(&integration.tenant_id),
        "integration.guard.approve",
        "integration",
        Some(&integration.id),
        Some(held_users(&approval.approved)),
        now,
    )
    .await?;
    Ok(approval)
}

/// Whether an approval touched orphaned accounts (done, held again or failed): only then do
/// `guard approve` and the API's answer name them.
pub fn approval_had_orphans(a: &Approval) -> bool {
    !a.orphans.done.is_empty() || !a.orphans.held.is_empty() || a.orphans_error.is_some()
}

/// **Discard**: the held removals are dropped and the accounts kept. Returns the guard as it
/// was. Audit: `integration.guard.discard`.
pub async fn discard_guard(
    rec: &Reconciler,
    actor: &Actor,
    integration: &Integration,
    now: i64,
) -> Result<GuardState> {
    let before = provisioning::guard::discard(&rec.store, &integration.id, now).await?;
    record(
        &rec.store,
        actor,
        Some(&integration.tenant_id),
        "integration.guard.discard",
        "integration",
        Some(&integration.id),
        Some(held_users(&before)),
        now,
    )
    .await?;
    Ok(before)
}

// ------------------------------------------------------------------ import

/// Where the integration's import stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportState {
    /// Never imported.
    Idle,
    /// Reading the target's accounts now.
    Running,
    /// Interrupted (a crash or a failed attempt): the next import continues from its cursor.
    Stopped,
    /// The last import finished.
    Done,
}

impl ImportState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Done => "done",
        }
    }

    /// A run is running while its lease lasts (renewed with every page).
    pub fn of(run: Option<&ReconRun>, now: i64) -> Self {
        match run.map(|r| (r.state, r.lease_until > now)) {
            None | Some((RunState::Idle, _)) => Self::Idle,
            Some((RunState::Running, true)) => Self::Running,
            Some((RunState::Running, false)) => Self::Stopped,
            Some((RunState::Done, _)) => Self::Done,
        }
    }
}

/// The report of the last import against the SCIM side. Apart from the store, what fails
/// here is the integration's stored state (rules that no longer parse, a connector this
/// build lacks), not the request: a conflict.
pub async fn analysis(rec: &Reconciler, integration: &Integration) -> Result<Analysis> {
    rec.analyze(integration).await.map_err(|e| match e {
        ReconcileError::Store(e) => ManageError::Store(e),
        other => ManageError::Conflict(other.to_string()),
    })
}

/// The integration's import run (`None` before the scheduler or an admin first asked).
pub async fn import_run(rec: &Reconciler, integration: &Integration) -> Result<Option<ReconRun>> {
    Ok(rec.store.recon_run(&integration.id).await?)
}

/// Takes the integration's import lease for a new owner (a new run, or the interrupted one
/// continued) and records the request; another import holding it is `Conflict`. The import
/// itself then runs under the same owner, which takes its own lease again.
async fn begin_import(
    rec: &Reconciler,
    actor: &Actor,
    integration: &Integration,
    owner: &str,
    lease: std::time::Duration,
    now: i64,
) -> Result<(ImportConfig, ReconRun)> {
    let config = ImportConfig {
        owner: format!("{owner}-{}", uuid::Uuid::new_v4()),
        lease,
        ..ImportConfig::default()
    };
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let Some(run) = rec
        .store
        .recon_take_lease(&integration.id, &config.owner, now, lease_ms)
        .await?
    else {
        return Err(ReconcileError::Busy.into());
    };
    record(
        &rec.store,
        actor,
        Some(&integration.tenant_id),
        "reconcile.import",
        "integration",
        Some(&integration.id),
        None,
        now,
    )
    .await?;
    Ok((config, run))
}

/// Starts an import in the background (it may take hours on a large or budgeted target) and
/// returns the run it started or continues; `Conflict` while another import runs. Audit:
/// `reconcile.import`.
pub async fn start_import(
    rec: &Reconciler,
    actor: &Actor,
    integration: &Integration,
    lease: std::time::Duration,
    now: i64,
) -> Result<ReconRun> {
    let (config, run) = begin_import(rec, actor, integration, "admin", lease, now).await?;
    let (rec, job) = (rec.clone(), integration.clone());
    tokio::spawn(async move {
        match rec.import_now(&job, &config, 1.0).await {
            Ok(ImportOutcome::Finished { .. } | ImportOutcome::Busy) => {}
            Err(e) => {
                tracing::warn!(integration = %job.id, error = %e, "reconciliation import failed");
            }
        }
    });
    Ok(run)
}

/// Imports now and waits for the end (the CLI); returns the accounts imported. Audit:
/// `reconcile.import`.
pub async fn import_and_wait(
    rec: &Reconciler,
    actor: &Actor,
    integration: &Integration,
    lease: std::time::Duration,
    now: i64,
) -> Result<u64> {
    let (config, _) = begin_import(rec, actor, integration, "cli", lease, now).await?;
    match rec.import_now(integration, &config, 1.0).await? {
        ImportOutcome::Busy => Err(ReconcileError::Busy.into()),
        ImportOutcome::Finished { imported, .. } => Ok(imported),
    }
}

// ------------------------------------------------------------------ the report's actions

/// **Fix drift**: adopts matched accounts and queues every drifted or missing user for the
/// worker. Audit (by the reconciler): `reconcile.fix_drift`.
pub async fn fix_drift(
    rec: &Reconciler,
    actor: &Actor,
    integration: &Integration,
) -> Result<Applied> {
    Ok(rec.apply_drift(integration, &actor_of(actor)).await?)
}

/// Deprovisions orphaned accounts (target ids) through the deletion guard; the key owner and
/// accounts that are not orphans are `Invalid`. Audit (by the reconciler):
/// `reconcile.deprovision_orphans`.
pub async fn deprovision_orphans(
    rec: &Reconciler,
    actor: &Actor,
    integration: &Integration,
    target_ids: &[String],
) -> Result<OrphanOutcome> {
    Ok(rec
        .deprovision_orphans(integration, target_ids, &actor_of(actor))
        .await?)
}

/// **Apply to all now**: queues every user the current rules would change; returns the batch
/// (its id is its jobs' correlation id). Audit (by the reconciler): `reconcile.apply_all`.
pub async fn apply_to_all(
    rec: &Reconciler,
    actor: &Actor,
    integration: &Integration,
) -> Result<ResyncProgress> {
    rec.apply_to_all(integration, &actor_of(actor)).await?;
    rec.store
        .resync_progress(&integration.id)
        .await?
        .ok_or_else(|| ManageError::Conflict("the batch was not recorded".into()))
}

/// The schedule and automatic drift correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub interval_hours: i64,
    pub correct_drift: bool,
    /// When the scheduler imports next (epoch ms), if planned.
    pub next_run_at: Option<i64>,
}

impl Settings {
    pub fn of(run: Option<&ReconRun>) -> Self {
        match run {
            Some(r) => Self {
                interval_hours: r.interval_secs / 3600,
                correct_drift: r.correct_drift,
                next_run_at: (r.next_run_at > 0).then_some(r.next_run_at),
            },
            None => Self {
                interval_hours: store::DEFAULT_RECON_INTERVAL_SECS / 3600,
                correct_drift: false,
                next_run_at: None,
            },
        }
    }
}

/// The integration's reconciliation settings.
pub async fn settings(rec: &Reconciler, integration: &Integration) -> Result<Settings> {
    Ok(Settings::of(import_run(rec, integration).await?.as_ref()))
}

/// Sets the schedule (1 to 720 hours) and automatic drift correction. Audit (by the
/// reconciler): `reconcile.settings`.
pub async fn set_settings(
    rec: &Reconciler,
    actor: &Actor,
    integration: &Integration,
    interval_hours: i64,
    correct_drift: bool,
) -> Result<Settings> {
    rec.set_settings(
        integration,
        interval_hours.saturating_mul(3600),
        correct_drift,
        &actor_of(actor),
    )
    .await?;
    settings(rec, integration).await
}
