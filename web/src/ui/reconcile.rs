//! The Reconciliation tab: the target's real state (orphaned accounts, drift, missing
//! accounts, seats, the plan against it), import now, orphan deprovision with a confirmation
//! naming the accounts, Fix drift, and the schedule / Correct drift settings. Every action is
//! one call of `reconcile_service`, as in the CLI and the admin API.

use super::integrations::{EditIntegration, Need, Tabs, integration_for, integration_frame};
use super::view::{Flash, Frame, When};
use super::{Ctx, UiResult};
use crate::app::AppState;
use crate::manage::ManageError;
use crate::reconcile_service as service;
use actix_web::{HttpRequest, web};
use askama::Template;
use provisioning::reconcile::{Analysis, ReconcileError};
use store::{Integration, RunState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/t/{tid}/integrations/{iid}/reconcile", web::get().to(page))
        .route(
            "/t/{tid}/integrations/{iid}/reconcile/import",
            web::post().to(import_now),
        )
        .route(
            "/t/{tid}/integrations/{iid}/reconcile/orphans",
            web::post().to(orphans),
        )
        .route(
            "/t/{tid}/integrations/{iid}/reconcile/fix",
            web::post().to(fix_drift),
        )
        .route(
            "/t/{tid}/integrations/{iid}/reconcile/settings",
            web::post().to(settings),
        )
        .route(
            "/t/{tid}/integrations/{iid}/reconcile/apply-all",
            web::post().to(apply_all),
        );
}

/// An action's outcome as a flash on `to`: refused input is an error flash, a store failure
/// the error page.
fn done(ctx: &Ctx, to: &str, outcome: crate::manage::Result<String>) -> UiResult {
    match outcome {
        Ok(msg) => ctx.redirect(to, Some(Flash::success(msg))),
        Err(ManageError::Store(e)) => Err(e.into()),
        Err(e) => ctx.redirect(to, Some(Flash::error(e.to_string()))),
    }
}

fn base(integration: &Integration) -> String {
    format!(
        "/t/{}/integrations/{}/reconcile",
        integration.tenant_id, integration.id
    )
}

/// Where the last import stands, in words.
struct RunView {
    /// `Never imported`, `Importing: 300 of 2,000 accounts read`, `Last import …`.
    status: String,
    running: bool,
    finished: Option<When>,
    error: Option<String>,
    next: Option<When>,
    interval_hours: i64,
    correct_drift: bool,
    /// 0–100 while running.
    progress: Option<u64>,
}

impl RunView {
    fn of(run: Option<&store::ReconRun>) -> Self {
        let Some(r) = run else {
            return Self {
                status: "Never imported: click Import now to read the target's accounts.".into(),
                running: false,
                finished: None,
                error: None,
                next: None,
                interval_hours: store::DEFAULT_RECON_INTERVAL_SECS / 3600,
                correct_drift: false,
                progress: None,
            };
        };
        let now = store::now_ms();
        let running = r.state == RunState::Running;
        let progress = match (running, r.total) {
            (true, Some(t)) if t > 0 => Some(((r.cursor.max(0) * 100) / t).clamp(0, 100) as u64),
            _ => None,
        };
        let state = service::ImportState::of(Some(r), now);
        let status = match state {
            service::ImportState::Idle => "Never imported.".to_string(),
            service::ImportState::Running => format!(
                "Importing: {} of {} accounts read{}.",
                r.cursor,
                r.total.map_or("?".into(), |t| t.to_string()),
                if r.phase == store::RunPhase::Details {
                    ", now reading each account's role"
                } else {
                    ""
                }
            ),
            service::ImportState::Stopped => format!(
                "The last import stopped after {} accounts; the next one continues from there.",
                r.cursor
            ),
            service::ImportState::Done => format!("Last import: {} accounts.", r.imported),
        };
        Self {
            status,
            running: state == service::ImportState::Running,
            finished: When::opt(r.finished_at),
            error: r.error.clone(),
            next: (r.next_run_at > 0).then(|| When::from_ms(r.next_run_at)),
            interval_hours: r.interval_secs / 3600,
            correct_drift: r.correct_drift,
            progress,
        }
    }
}

#[derive(Template)]
#[template(path = "ui/reconcile.html")]
struct Page {
    frame: Frame,
    tabs: Tabs,
    base: String,
    run: RunView,
    imported: bool,
    a: Analysis,
    removal: String,
    can_edit: bool,
    dry_run: bool,
    /// Users the current rules would change now.
    would_change: usize,
}

async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let (tid, iid) = path.into_inner();
    let (tenant, integration) = integration_for(&ctx, &tid, &iid, Need::View).await?;
    let run = ctx.store().recon_run(&iid).await?;
    let rec = ctx.state.reconciler();
    let a = service::analysis(&rec, &integration).await?;
    let would_change = rec.would_change(&integration).await.map_err(to_ui)?.len();
    let removal = provisioning::inputs::policy_of(&integration)
        .map(|p| p.deprovision.removal().describe())
        .unwrap_or_default();
    let frame = integration_frame(&ctx, &tenant, &integration, "Reconciliation").await?;
    ctx.render(&Page {
        frame,
        tabs: Tabs::new(&tenant, &integration, "reconcile"),
        base: base(&integration),
        // The report reads a finished import (a running one shows its progress above).
        imported: run.as_ref().is_some_and(|r| r.finished_at.is_some()),
        run: RunView::of(run.as_ref()),
        a,
        removal,
        can_edit: ctx.viewer.can_edit_tenant(&tid),
        dry_run: integration.mode == store::IntegrationMode::DryRun,
        would_change,
    })
}

fn to_ui(e: ReconcileError) -> super::UiError {
    match e {
        ReconcileError::Store(e) => e.into(),
        other => super::UiError::BadRequest(other.to_string()),
    }
}

/// Starts an import in the background (it may take hours on a large or budgeted target);
/// the page shows its progress.
async fn import_now(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, form, _, integration) = post;
    let tid = integration.tenant_id.clone();
    let iid = integration.id.clone();
    let lease = std::time::Duration::from_secs(ctx.state.config.job_lease_secs.max(1));
    if let Err(e) = service::start_import(
        &ctx.state.reconciler(),
        &ctx.actor(),
        &integration,
        lease,
        store::now_ms(),
    )
    .await
    {
        return done(&ctx, &base(&integration), Err(e));
    }
    // From the wizard's last step: back there, where the plan shows once the import is done.
    let to = if form.text("back") == "activate" {
        format!("/t/{tid}/integrations/{iid}/activate")
    } else {
        base(&integration)
    };
    ctx.redirect(
        &to,
        Some(Flash::success(
            "Import started: the page shows its progress. Reload to see the report when it is done.",
        )),
    )
}

#[derive(Template)]
#[template(path = "ui/reconcile_confirm.html")]
struct Confirm {
    frame: Frame,
    base: String,
    accounts: Vec<(String, String)>,
    removal: String,
}

/// Deprovision orphans: the first POST shows a confirmation naming the accounts, the second
/// (with `confirm`) does it through the deletion guard.
async fn orphans(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, form, tenant, integration) = post;
    let to = base(&integration);
    let ids: Vec<String> = match form.get("only") {
        Some(one) if !one.is_empty() => vec![one.to_string()],
        _ => form
            .all("target_id")
            .into_iter()
            .map(str::to_string)
            .collect(),
    };
    if ids.is_empty() {
        return ctx.redirect(
            &to,
            Some(Flash::error(
                "Tick the orphaned accounts to deprovision first.",
            )),
        );
    }
    let rec = ctx.state.reconciler();
    if !form.checked("confirm") {
        let a = service::analysis(&rec, &integration).await?;
        let mut accounts = Vec::new();
        for id in &ids {
            match a.orphaned.iter().find(|o| &o.target_id == id) {
                Some(o) => accounts.push((o.target_id.clone(), o.email.clone())),
                None => {
                    let why = if a.key_owner.as_ref().is_some_and(|k| &k.target_id == id) {
                        "That account owns the API key: it is never changed, demoted or deleted."
                            .to_string()
                    } else {
                        format!(
                            "{id} is not an orphaned account (import again to refresh the report)."
                        )
                    };
                    return ctx.redirect(&to, Some(Flash::error(why)));
                }
            }
        }
        let removal = provisioning::inputs::policy_of(&integration)
            .map(|p| p.deprovision.removal().describe())
            .unwrap_or_default();
        let frame = integration_frame(&ctx, &tenant, &integration, "Reconciliation").await?;
        return ctx.render(&Confirm {
            frame,
            base: to,
            accounts,
            removal,
        });
    }
    let outcome = service::deprovision_orphans(&rec, &ctx.actor(), &integration, &ids)
        .await
        .map(|out| {
            let mut msg = String::new();
            if !out.done.is_empty() {
                msg = format!("Deprovisioned: {}.", out.done.join(", "));
            }
            if !out.held.is_empty() {
                msg = format!(
                    "{msg} Held by the deletion guard for approval on the Overview: {}. Once approved, deprovision them again here.",
                    out.held.join(", ")
                );
            }
            msg.trim().to_string()
        });
    done(&ctx, &to, outcome)
}

async fn fix_drift(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, _, _, integration) = post;
    let to = base(&integration);
    let outcome = service::fix_drift(&ctx.state.reconciler(), &ctx.actor(), &integration)
        .await
        .map(|a| format!(
            "Adopted {} account(s); {} user(s) queued: the worker brings them in line through the rate limiter and the deletion guard.",
            a.adopted, a.queued
        ));
    done(&ctx, &to, outcome)
}

async fn settings(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, form, _, integration) = post;
    let to = base(&integration);
    let Ok(hours) = form.text("interval_hours").parse::<i64>() else {
        return ctx.redirect(
            &to,
            Some(Flash::error(
                "The interval is a whole number of hours (1 to 720).",
            )),
        );
    };
    let outcome = service::set_settings(
        &ctx.state.reconciler(),
        &ctx.actor(),
        &integration,
        hours,
        form.checked("correct_drift"),
    )
    .await
    .map(|_| "Reconciliation settings saved.".to_string());
    done(&ctx, &to, outcome)
}

/// **Apply to all now**: queues every user the current rules would change.
async fn apply_all(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, form, _, integration) = post;
    let tid = integration.tenant_id.clone();
    let iid = integration.id.clone();
    // From the Roles page, back there (its count then says what is left).
    let to = if form.text("back") == "roles" {
        format!("/t/{tid}/integrations/{iid}/roles")
    } else {
        base(&integration)
    };
    let outcome = service::apply_to_all(&ctx.state.reconciler(), &ctx.actor(), &integration)
        .await
        .map(|b| format!(
            "{} user(s) queued: the worker applies the rules to them through the rate limiter and the deletion guard; the Overview shows the progress.",
            b.users
        ));
    done(&ctx, &to, outcome)
}

/// The approval's orphaned accounts in words, for the flash ("" when there were none).
pub fn orphans_note(a: &provisioning::reconcile::Approval) -> String {
    let mut s = String::new();
    if !a.orphans.done.is_empty() {
        s.push_str(&format!(
            " Orphaned accounts deprovisioned: {}.",
            a.orphans.done.join(", ")
        ));
    }
    if !a.orphans.held.is_empty() {
        s.push_str(&format!(
            " Held again by the guard: {}.",
            a.orphans.held.join(", ")
        ));
    }
    if let Some(e) = &a.orphans_error {
        s.push_str(&format!(
            " The orphaned accounts' removal did not run yet ({e}); it is retried within minutes."
        ));
    }
    s
}

/// How many users the current rules would change now (the Roles page's and the
/// Reconciliation tab's "N users would change"), `None` if it could not be worked out.
pub async fn would_change_count(ctx: &Ctx, integration: &Integration) -> Option<usize> {
    ctx.state
        .reconciler()
        .would_change(integration)
        .await
        .map(|ids| ids.len())
        .ok()
}

/// The plan against the last finished import in one sentence (the wizard's last step), or
/// `None` before any import.
pub async fn plan_sentence(ctx: &Ctx, integration: &Integration) -> Option<String> {
    let run = ctx.store().recon_run(&integration.id).await.ok()??;
    run.finished_at?;
    let a = ctx.state.reconciler().analyze(integration).await.ok()?;
    let p = a.summary;
    Some(format!(
        "Against the {} accounts read from the target: create {}, adopt {} existing account{}, change the role of {}, deprovision {}, leave {} orphan{}.",
        run.imported,
        p.create,
        p.adopt,
        if p.adopt == 1 { "" } else { "s" },
        p.change_role,
        p.deprovision,
        p.orphans,
        if p.orphans == 1 { "" } else { "s" }
    ))
}
