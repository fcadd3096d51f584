//! The deletion guard (show, approve, discard) and reconciliation (import, report actions, Fix drift, orphan deprovisioning, Apply to all, schedule settings).
//!
//! Thin handlers over `reconcile_service`, the functions the console and the CLI call; the
//! responses carry the same names as `scimbridge guard …` and `scimbridge reconcile --json`.

use super::handlers::IntegrationPath;
use super::handlers::json;
use super::{ApiResult, Editing, Viewing};
use crate::app::AppState;
use crate::reconcile_service as service;
use actix_web::http::StatusCode;
use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const I: &str = "/tenants/{tenant_id}/integrations/{integration_id}";

/// Registers this module's routes (under `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let at = |p: &str| format!("{I}{p}");
    cfg.route(&at("/guard"), web::get().to(guard_show))
        .route(&at("/guard/approve"), web::post().to(guard_approve))
        .route(&at("/guard/discard"), web::post().to(guard_discard))
        .route(&at("/reconciliation/import"), web::post().to(import_start))
        .route(
            &at("/reconciliation/import"),
            web::get().to(import_progress),
        )
        .route(&at("/reconciliation/fix-drift"), web::post().to(fix_drift))
        .route(
            &at("/reconciliation/orphans/deprovision"),
            web::post().to(deprovision_orphans),
        )
        .route(&at("/reconciliation/apply-all"), web::post().to(apply_all))
        .route(&at("/reconciliation/settings"), web::get().to(settings))
        .route(&at("/reconciliation/settings"), web::put().to(set_settings));
}

// ------------------------------------------------------------------ deletion guard

/// One removal the deletion guard holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeldRemoval {
    /// The SCIM user's id (`orphan:<target id>` for an orphaned account).
    pub id: String,
    pub user_name: String,
    /// What the removal does, e.g. `move to role No access`.
    pub action: String,
    /// Epoch ms the removal was first asked for.
    pub since: i64,
}

/// The removals the deletion guard holds (`scimbridge guard show`).
#[derive(Debug, Serialize, ToSchema)]
pub struct GuardHeld {
    pub held: bool,
    pub users: Vec<HeldRemoval>,
}

impl From<provisioning::guard::GuardState> for GuardHeld {
    fn from(g: provisioning::guard::GuardState) -> Self {
        Self {
            held: g.held,
            users: g
                .users
                .into_iter()
                .map(|u| HeldRemoval {
                    id: u.id,
                    user_name: u.user_name,
                    action: u.action,
                    since: u.since,
                })
                .collect(),
        }
    }
}

/// What an orphan deprovisioning did (by e-mail).
#[derive(Debug, Serialize, ToSchema)]
pub struct OrphansDeprovisioned {
    /// Deprovisioned now.
    pub done: Vec<String>,
    /// Held by the deletion guard for approval.
    pub held: Vec<String>,
}

impl From<provisioning::reconcile::OrphanOutcome> for OrphansDeprovisioned {
    fn from(o: provisioning::reconcile::OrphanOutcome) -> Self {
        Self {
            done: o.done,
            held: o.held,
        }
    }
}

/// The approved orphaned accounts' removal.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovedOrphans {
    pub done: Vec<String>,
    /// Held again by the guard.
    pub held: Vec<String>,
    /// Why their removal did not run now (it is retried within minutes).
    pub error: Option<String>,
}

/// What an approval covered (`scimbridge guard approve`): the guard as it was, and the held
/// orphaned accounts deprovisioned by the approval, when there were any.
#[derive(Debug, Serialize, ToSchema)]
pub struct GuardApproval {
    pub held: bool,
    pub users: Vec<HeldRemoval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orphans: Option<ApprovedOrphans>,
}

/// The removals the deletion guard holds for an admin's decision.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/guard", tag = "Deletion guard",
    params(IntegrationPath),
    responses((status = 200, description = "Held removals", body = GuardHeld)))]
async fn guard_show(state: web::Data<AppState>, Viewing { i, .. }: Viewing) -> ApiResult {
    let g = service::guard_state(&state.reconciler(), &i).await?;
    Ok(json(StatusCode::OK, &GuardHeld::from(g)))
}

/// Approves every held removal: the users' removals run now, held orphaned accounts are
/// deprovisioned by the approval itself.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/guard/approve", tag = "Deletion guard",
    params(IntegrationPath),
    responses((status = 200, description = "The removals approved", body = GuardApproval)))]
async fn guard_approve(state: web::Data<AppState>, Editing { p, i }: Editing) -> ApiResult {
    let a = service::approve_guard(&state.reconciler(), &p.actor(), &i, store::now_ms()).await?;
    let with_orphans = service::approval_had_orphans(&a);
    let g = GuardHeld::from(a.approved);
    let orphans = with_orphans.then_some(ApprovedOrphans {
        done: a.orphans.done,
        held: a.orphans.held,
        error: a.orphans_error,
    });
    Ok(json(
        StatusCode::OK,
        &GuardApproval {
            held: g.held,
            users: g.users,
            orphans,
        },
    ))
}

/// Discards every held removal: the accounts are kept. Answers with the guard as it was.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/guard/discard", tag = "Deletion guard",
    params(IntegrationPath),
    responses((status = 200, description = "The removals discarded", body = GuardHeld)))]
async fn guard_discard(state: web::Data<AppState>, Editing { p, i }: Editing) -> ApiResult {
    let g = service::discard_guard(&state.reconciler(), &p.actor(), &i, store::now_ms()).await?;
    Ok(json(StatusCode::OK, &GuardHeld::from(g)))
}

// ------------------------------------------------------------------ import

/// Where the import of the target's accounts stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportProgress {
    /// `idle` (never imported), `running`, `stopped` (interrupted or failed: the next import
    /// continues from `read`) or `done`.
    pub state: String,
    /// Increases with every new import.
    pub run_id: i64,
    /// Accounts read so far.
    pub read: i64,
    /// The target's account count, once known.
    pub total: Option<i64>,
    /// Accounts written by this run.
    pub imported: i64,
    /// Epoch ms.
    pub started_at: Option<i64>,
    /// Epoch ms, once done.
    pub finished_at: Option<i64>,
    /// Why the last attempt stopped, if it failed.
    pub error: Option<String>,
}

fn progress(run: Option<store::ReconRun>, now: i64) -> ImportProgress {
    let state = service::ImportState::of(run.as_ref(), now).as_str().into();
    match run {
        Some(r) => ImportProgress {
            state,
            run_id: r.run_id,
            read: r.cursor,
            total: r.total,
            imported: r.imported,
            started_at: r.started_at,
            finished_at: r.finished_at,
            error: r.error,
        },
        None => ImportProgress {
            state,
            run_id: 0,
            read: 0,
            total: None,
            imported: 0,
            started_at: None,
            finished_at: None,
            error: None,
        },
    }
}

/// Starts importing the target's accounts in the background (or continues an interrupted
/// import), through the shared rate limiter; poll `GET` on the same path for its progress,
/// then read the report. 409 while an import runs.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/reconciliation/import", tag = "Reconciliation",
    params(IntegrationPath),
    responses((status = 202, description = "Started", body = ImportProgress)))]
async fn import_start(state: web::Data<AppState>, Editing { p, i }: Editing) -> ApiResult {
    let lease = std::time::Duration::from_secs(state.config.job_lease_secs.max(1));
    let now = store::now_ms();
    let run = service::start_import(&state.reconciler(), &p.actor(), &i, lease, now).await?;
    Ok(json(StatusCode::ACCEPTED, &progress(Some(run), now)))
}

/// The progress of the current (or last) import.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/reconciliation/import", tag = "Reconciliation",
    params(IntegrationPath),
    responses((status = 200, description = "Progress", body = ImportProgress)))]
async fn import_progress(state: web::Data<AppState>, Viewing { i, .. }: Viewing) -> ApiResult {
    let run = service::import_run(&state.reconciler(), &i).await?;
    Ok(json(StatusCode::OK, &progress(run, store::now_ms())))
}

// ------------------------------------------------------------------ the report's actions

/// What Fix drift did (`"applied"` of `scimbridge reconcile --apply --json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DriftFixed {
    /// Accounts linked to the SCIM user they belong to.
    pub adopted: u64,
    /// Users queued for the worker.
    pub queued: u64,
}

/// Fixes drift against the last import: adopts matched accounts and queues every drifted or
/// missing user for the worker (through the planner, the rate limiter and the deletion guard).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/reconciliation/fix-drift", tag = "Reconciliation",
    params(IntegrationPath),
    responses((status = 200, description = "Queued", body = DriftFixed)))]
async fn fix_drift(state: web::Data<AppState>, Editing { p, i }: Editing) -> ApiResult {
    let a = service::fix_drift(&state.reconciler(), &p.actor(), &i).await?;
    Ok(json(
        StatusCode::OK,
        &DriftFixed {
            adopted: a.adopted,
            queued: a.queued,
        },
    ))
}

/// Orphaned accounts to deprovision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrphansToDeprovision {
    /// Their ids in the target, as the report's `orphaned[].target_id` gives them.
    pub target_ids: Vec<String>,
}

/// Deprovisions orphaned accounts as the integration's policy removes access, through the
/// deletion guard (above its threshold they are held for approval). The key owner and
/// accounts that are not orphans are refused (422).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/reconciliation/orphans/deprovision", tag = "Reconciliation",
    params(IntegrationPath),
    request_body = OrphansToDeprovision,
    responses((status = 200, description = "Done or held", body = OrphansDeprovisioned)))]
async fn deprovision_orphans(
    state: web::Data<AppState>,
    Editing { p, i }: Editing,
    body: web::Json<OrphansToDeprovision>,
) -> ApiResult {
    let out =
        service::deprovision_orphans(&state.reconciler(), &p.actor(), &i, &body.target_ids).await?;
    Ok(json(StatusCode::OK, &OrphansDeprovisioned::from(out)))
}

/// An Apply to all: the batch of jobs it queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplyAllBatch {
    /// The batch's jobs' correlation id (the provisioning log's trace).
    pub batch_id: String,
    /// Users the current rules change.
    pub users: u64,
    /// Jobs added (the others had a job waiting, which applies the rules too).
    pub queued: u64,
}

/// Applies the current rules to every user they would change now: queues exactly those
/// users for the worker.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/reconciliation/apply-all", tag = "Reconciliation",
    params(IntegrationPath),
    responses((status = 200, description = "Queued", body = ApplyAllBatch)))]
async fn apply_all(state: web::Data<AppState>, Editing { p, i }: Editing) -> ApiResult {
    let b = service::apply_to_all(&state.reconciler(), &p.actor(), &i).await?;
    Ok(json(
        StatusCode::OK,
        &ApplyAllBatch {
            batch_id: b.batch_id,
            users: b.users,
            queued: b.queued,
        },
    ))
}

// ------------------------------------------------------------------ settings

/// The import schedule and automatic drift correction.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationSettings {
    /// Hours between scheduled imports.
    pub interval_hours: i64,
    /// Drift is corrected after every import without asking.
    pub correct_drift: bool,
    /// When the next scheduled import starts (epoch ms), if planned.
    pub next_run_at: Option<i64>,
}

impl From<service::Settings> for ReconciliationSettings {
    fn from(s: service::Settings) -> Self {
        Self {
            interval_hours: s.interval_hours,
            correct_drift: s.correct_drift,
            next_run_at: s.next_run_at,
        }
    }
}

/// New schedule settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationSettingsUpdate {
    /// 1 to 720.
    pub interval_hours: i64,
    pub correct_drift: bool,
}

/// The import schedule and automatic drift correction.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/reconciliation/settings", tag = "Reconciliation",
    params(IntegrationPath),
    responses((status = 200, description = "Settings", body = ReconciliationSettings)))]
async fn settings(state: web::Data<AppState>, Viewing { i, .. }: Viewing) -> ApiResult {
    let s = service::settings(&state.reconciler(), &i).await?;
    Ok(json(StatusCode::OK, &ReconciliationSettings::from(s)))
}

/// Sets the import schedule and automatic drift correction (the next import is one interval
/// from now).
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/reconciliation/settings", tag = "Reconciliation",
    params(IntegrationPath),
    request_body = ReconciliationSettingsUpdate,
    responses((status = 200, description = "Saved", body = ReconciliationSettings)))]
async fn set_settings(
    state: web::Data<AppState>,
    Editing { p, i }: Editing,
    body: web::Json<ReconciliationSettingsUpdate>,
) -> ApiResult {
    let s = service::set_settings(
        &state.reconciler(),
        &p.actor(),
        &i,
        body.interval_hours,
        body.correct_drift,
    )
    .await?;
    Ok(json(StatusCode::OK, &ReconciliationSettings::from(s)))
}

/// This module's operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    guard_show,
    guard_approve,
    guard_discard,
    import_start,
    import_progress,
    fix_drift,
    deprovision_orphans,
    apply_all,
    settings,
    set_settings
))]
pub struct Operations;
