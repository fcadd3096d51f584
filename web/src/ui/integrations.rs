//! A tenant's integrations: the list, the overview, pause / resume, delete, and SCIM tokens.

use super::view::{Crumb, Flash, Frame, When};
use super::{Ctx, FormData, UiError, UiResult};
use crate::app::AppState;
use crate::reconcile_service;
use actix_web::{HttpRequest, web};
use askama::Template;
use store::{
    Direction, EventQuery, Integration, IntegrationMode, IntegrationStatus, JobState, Tenant,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/t/{tid}", web::get().to(tenant_home))
        .route("/t/{tid}/integrations", web::get().to(list))
        .route("/t/{tid}/integrations/{iid}", web::get().to(overview))
        .route(
            "/t/{tid}/integrations/{iid}/status",
            web::post().to(set_status),
        )
        .route(
            "/t/{tid}/integrations/{iid}/delete",
            web::get().to(confirm_delete),
        )
        .route("/t/{tid}/integrations/{iid}/delete", web::post().to(delete))
        .route(
            "/t/{tid}/integrations/{iid}/guard",
            web::post().to(guard_decision),
        )
        .route("/t/{tid}/integrations/{iid}/tokens", web::get().to(tokens))
        .route(
            "/t/{tid}/integrations/{iid}/tokens",
            web::post().to(issue_token),
        )
        .route(
            "/t/{tid}/integrations/{iid}/tokens/{prefix}/revoke",
            web::post().to(revoke_token),
        );
}

/// What a handler needs to do with a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    View,
    Edit,
}

/// The tenant, if the viewer may `need` it. Tenants the viewer may not see are "not found".
pub async fn tenant_for(ctx: &Ctx, tid: &str, need: Need) -> Result<Tenant, UiError> {
    if !ctx.viewer.can_view_tenant(tid) {
        return Err(UiError::NotFound);
    }
    let tenant = ctx
        .store()
        .get_tenant(tid)
        .await?
        .ok_or(UiError::NotFound)?;
    if need == Need::Edit && !ctx.viewer.can_edit_tenant(tid) {
        return Err(UiError::Forbidden(
            "Your role has read-only access to this tenant: ask a tenant or platform admin to make this change."
                .into(),
        ));
    }
    Ok(tenant)
}

/// The tenant's integration, if the viewer may `need` it.
pub async fn integration_for(
    ctx: &Ctx,
    tid: &str,
    iid: &str,
    need: Need,
) -> Result<(Tenant, Integration), UiError> {
    let tenant = tenant_for(ctx, tid, need).await?;
    let integration = ctx
        .store()
        .get_integration(tid, iid)
        .await?
        .ok_or(UiError::NotFound)?;
    Ok((tenant, integration))
}

/// A console form posted to one integration the viewer may edit
/// (`/t/{tid}/integrations/{iid}/…`), as a handler argument: the signed-in context (origin
/// and CSRF token checked by [`Ctx::load_post`]), the form, then the tenant and integration
/// ([`integration_for`] with [`Need::Edit`]). Positional, as its four types differ: a
/// handler takes it apart in one line, `let EditIntegration(ctx, form, tenant, i) = post;`.
pub struct EditIntegration(pub Ctx, pub FormData, pub Tenant, pub Integration);

impl actix_web::FromRequest for EditIntegration {
    type Error = actix_web::Error;
    type Future = futures::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        // The body extractor's own limits and errors apply, as when handlers took `Bytes`.
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body.await?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| UiError::Internal("no application state".into()))?;
            let form = FormData::from_bytes(&body);
            let ctx = Ctx::load_post(&req, &state, &form).await?;
            let path = req.match_info();
            let (Some(tid), Some(iid)) = (path.get("tid"), path.get("iid")) else {
                return Err(UiError::NotFound.into());
            };
            let (tenant, integration) = integration_for(&ctx, tid, iid, Need::Edit).await?;
            Ok(Self(ctx, form, tenant, integration))
        })
    }
}

/// The connector's title, e.g. "Entra ID → ActiveCampaign".
pub fn connector_title(kind: &str) -> String {
    crate::integration_settings::connector_title(kind)
}

/// Status badge: (css class, label).
pub fn status_badge(status: IntegrationStatus) -> (&'static str, &'static str) {
    match status {
        IntegrationStatus::Draft => ("neutral", "Draft"),
        IntegrationStatus::Active => ("success", "Active"),
        IntegrationStatus::Paused => ("warning", "Paused"),
    }
}

/// The status badge of `i`, saying when scimbridge paused it itself.
pub fn integration_badge(i: &Integration) -> (&'static str, &'static str) {
    if AutoPauseView::of(i).is_some() {
        ("warning", "Paused by scimbridge")
    } else {
        status_badge(i.status)
    }
}

/// The Overview's notice of an automatic pause: when, why, and what the credential is called.
pub struct AutoPauseView {
    pub when: When,
    pub reason: String,
    pub credential: &'static str,
}

impl AutoPauseView {
    /// Some while `i` is paused by scimbridge (a resume or a person's pause clears it).
    pub fn of(i: &Integration) -> Option<Self> {
        if i.status != IntegrationStatus::Paused
            || i.paused_by.as_deref() != Some(store::AUTO_PAUSED_BY)
        {
            return None;
        }
        Some(Self {
            when: When::from_ms(i.paused_at.unwrap_or(i.updated_at)),
            reason: i.pause_reason.clone().unwrap_or_default(),
            credential: crate::target_error::names_of(i).credential,
        })
    }
}

/// Mode badge: (css class, label).
pub fn mode_badge(mode: IntegrationMode) -> (&'static str, &'static str) {
    match mode {
        IntegrationMode::Live => ("info", "Live"),
        IntegrationMode::DryRun => ("neutral", "Dry run"),
    }
}

/// The breadcrumbs inside an integration.
pub fn crumbs(tenant: &Tenant, integration: &Integration, here: &str) -> Vec<Crumb> {
    let base = format!("/t/{}/integrations", tenant.id);
    let mut v = vec![
        Crumb::link("Integrations", base.clone()),
        Crumb::link(
            integration.name.clone(),
            format!("{base}/{}", integration.id),
        ),
    ];
    if here.is_empty() {
        if let Some(last) = v.last_mut() {
            last.href = None;
        }
    } else {
        v.push(Crumb::here(here));
    }
    v
}

/// The frame of a page inside an integration: its name as title, breadcrumbs down to `here`
/// (empty: the integration itself).
pub async fn integration_frame(
    ctx: &Ctx,
    tenant: &Tenant,
    integration: &Integration,
    here: &str,
) -> Result<Frame, UiError> {
    ctx.frame(
        integration.name.clone(),
        "integrations",
        Some(tenant),
        crumbs(tenant, integration, here),
    )
    .await
}

/// Tabs of an integration page (a typed partial).
#[derive(Template)]
#[template(path = "ui/_tabs.html")]
pub struct Tabs {
    pub base: String,
    /// The provisioning log filtered to this integration.
    pub log_href: String,
    pub active: &'static str,
    pub draft: bool,
}

impl Tabs {
    pub fn new(tenant: &Tenant, integration: &Integration, active: &'static str) -> Self {
        Self {
            base: format!("/t/{}/integrations/{}", tenant.id, integration.id),
            log_href: format!("/t/{}/log?integration={}", tenant.id, integration.id),
            active,
            draft: integration.status == IntegrationStatus::Draft,
        }
    }

    /// (key, label, href) of each tab; a draft has no Overview yet.
    pub fn items(&self) -> Vec<(&'static str, &'static str, String)> {
        let b = &self.base;
        let mut v = vec![
            ("overview", "Overview", b.clone()),
            ("connection", "Connection", format!("{b}/connection")),
            ("roles", "Roles", format!("{b}/roles")),
            ("policy", "Policy", format!("{b}/policy")),
            ("tokens", "Tokens", format!("{b}/tokens")),
            ("users", "Users", format!("{b}/users")),
            ("reconcile", "Reconciliation", format!("{b}/reconcile")),
            ("log", "Log", self.log_href.clone()),
        ];
        if self.draft {
            v.retain(|(k, _, _)| !matches!(*k, "tokens" | "users" | "log" | "reconcile"));
        }
        v
    }
}

async fn tenant_home(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let tenant = tenant_for(&ctx, &path, Need::View).await?;
    ctx.redirect(&format!("/t/{}/integrations", tenant.id), None)
}

struct Row {
    name: String,
    connector: String,
    status: (&'static str, &'static str),
    mode: (&'static str, &'static str),
    users: u64,
    failed: usize,
    last_activity: Option<When>,
    /// Where a click goes: the wizard for drafts.
    href: String,
}

#[derive(Template)]
#[template(path = "ui/integrations.html")]
struct ListPage {
    frame: Frame,
    tenant_id: String,
    rows: Vec<Row>,
    can_edit: bool,
}

/// Latest event of an integration matching `direction` / `outcome`.
async fn last_event(
    ctx: &Ctx,
    integration_id: &str,
    direction: Option<Direction>,
    outcome: Option<&str>,
) -> Result<Option<store::Event>, UiError> {
    Ok(ctx
        .store()
        .list_events(&EventQuery {
            integration_id: Some(integration_id.into()),
            direction,
            outcome: outcome.map(str::to_string),
            limit: 1,
            ..EventQuery::default()
        })
        .await?
        .into_iter()
        .next())
}

async fn list(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let tenant = tenant_for(&ctx, &path, Need::View).await?;
    let mut rows = Vec::new();
    for i in ctx.store().list_integrations(&tenant.id).await? {
        let base = format!("/t/{}/integrations/{}", tenant.id, i.id);
        rows.push(Row {
            users: ctx.store().count_users(&i.id).await?,
            failed: ctx.store().list_failed_jobs(&i.id).await?.len(),
            last_activity: last_event(&ctx, &i.id, None, None)
                .await?
                .map(|e| When::from_ms(e.at)),
            href: if i.status == IntegrationStatus::Draft {
                format!("{base}/connection")
            } else {
                base
            },
            connector: connector_title(&i.connector_kind),
            status: integration_badge(&i),
            mode: mode_badge(i.mode),
            name: i.name,
        });
    }
    let frame = ctx
        .frame("Integrations", "integrations", Some(&tenant), vec![])
        .await?;
    ctx.render(&ListPage {
        frame,
        tenant_id: tenant.id.clone(),
        rows,
        can_edit: ctx.viewer.can_edit_tenant(&tenant.id),
    })
}

#[derive(Template)]
#[template(path = "ui/overview.html")]
struct OverviewPage {
    frame: Frame,
    tabs: Tabs,
    integration: Integration,
    connector: String,
    status: (&'static str, &'static str),
    mode: (&'static str, &'static str),
    scim_url: String,
    users: u64,
    groups: u64,
    pending: usize,
    failed: usize,
    last_inbound: Option<When>,
    last_target_ok: Option<When>,
    default_role: String,
    /// Each rule in words, highest priority first.
    rules: Vec<String>,
    /// Each policy in words: (what, choice).
    policies: Vec<(&'static str, String)>,
    can_edit: bool,
    chart: super::chart::Chart,
    warnings: Vec<String>,
    /// Removals the deletion guard holds for an admin's decision.
    held: Vec<HeldRow>,
    /// The target account's budget and the queue's ETA, in words (targets with a budget).
    rate_limit: Vec<String>,
    /// The last Apply to all while it runs, or for a day after it finished.
    resync: Option<ResyncView>,
    /// Paused by scimbridge: when and why.
    auto_pause: Option<AutoPauseView>,
}

/// The Overview's progress bar of the last **Apply to all now**.
struct ResyncView {
    progress: store::ResyncProgress,
    started: When,
    /// The batch's jobs in the provisioning log (their trace).
    trace_href: String,
}

impl ResyncView {
    /// The batch while it runs, or for a day after it finished; `None` before any.
    fn of(progress: Option<store::ResyncProgress>, tid: &str, now: i64) -> Option<Self> {
        let p = progress?;
        if p.finished() && now - p.started_at > 86_400_000 {
            return None;
        }
        Some(Self {
            started: When::from_ms(p.started_at),
            trace_href: format!("/t/{tid}/trace/{}", p.batch_id),
            progress: p,
        })
    }

    /// The progress in words, e.g. "12 of 40 users done, 1 failed; 3 more already had a job
    /// waiting".
    fn sentence(&self) -> String {
        let p = &self.progress;
        let mut s = format!("{} of {} done", p.done(), p.queued);
        if p.failed > 0 {
            s.push_str(&format!(", {} failed (see Failed jobs)", p.failed));
        }
        let waiting = p.users.saturating_sub(p.queued);
        if waiting > 0 {
            s.push_str(&format!(
                "; {waiting} more already had a job waiting, which applies the rules too"
            ));
        }
        s
    }
}

/// The overview's words for the target account's budget: used in this window, and when the
/// queued jobs will be through (one call each, an estimate: a Brevo invitation is one call).
async fn rate_limit_lines(
    ctx: &Ctx,
    integration: &Integration,
    pending: usize,
) -> Result<Vec<String>, UiError> {
    use provisioning::engine::ConnectorRegistry;
    use provisioning::throttle::Window;
    let Some(budget) =
        crate::connectors::budget(&integration.connector_kind, &integration.settings)
    else {
        return Ok(Vec::new());
    };
    let registry = crate::connectors::Registry {
        allow_private: false,
    };
    let (key, _) = registry.rate_limit(integration);
    let state = ctx.store().budget_state(&key).await?;
    let now = store::now_ms();
    let s = provisioning::throttle::summarize(&budget, state, pending as u64, now);
    let time = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default()
    };
    let mut lines = vec![match budget.window {
        Window::UtcDay => format!(
            "API tokens used today: {} of {} (the budget resets at 00:00 UTC).",
            s.used, s.limit
        ),
        Window::Rolling(_) => format!(
            "Requests this {}: {} of {}{}.",
            budget.window.describe(),
            s.used,
            s.limit,
            s.resets_at
                .map(|r| format!(", the window resets at {}", time(r)))
                .unwrap_or_default()
        ),
    }];
    if let Some(eta) = s.eta {
        let hours = ((eta - now) as f64 / 3_600_000.0).ceil().max(1.0);
        lines.push(format!(
            "{pending} jobs queued at {} per {}: through by about {} (≈{hours} h). Jobs wait for the limit; none fails because of it.",
            s.limit,
            budget.window.describe(),
            time(eta)
        ));
    }
    Ok(lines)
}

/// One held removal on the overview: who, what, and their history in the log (the user may
/// be deleted in the identity provider already, so not their user page).
struct HeldRow {
    user_name: String,
    action: String,
    href: String,
}

#[derive(serde::Deserialize)]
struct RangeQuery {
    range: Option<String>,
}

async fn overview(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    q: web::Query<RangeQuery>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let (tid, iid) = path.into_inner();
    let (tenant, integration) = integration_for(&ctx, &tid, &iid, Need::View).await?;
    let now = store::now_ms();
    const HOUR: i64 = 3_600_000;
    // Whole buckets ending with the current one.
    let (range, bucket, count, every, fmt) = match q.range.as_deref() {
        Some("7d") => ("7d", 6 * HOUR, 28, 4, "%a %d"),
        _ => ("24h", HOUR, 24, 4, "%H:%M"),
    };
    let from = (now / bucket + 1) * bucket - bucket * count as i64;
    let buckets = ctx
        .store()
        .event_histogram(&iid, from, bucket, count)
        .await?;
    // The last 24 hours for the warnings: the newest buckets of either range (no second query).
    let per_day = (24 * HOUR / bucket) as usize;
    let day = &buckets[buckets.len().saturating_sub(per_day)..];
    let chart = super::chart::Chart::new(
        &buckets,
        range,
        format!("/t/{tid}/integrations/{iid}"),
        every,
        fmt,
    );
    let last_inbound_at = ctx
        .store()
        .last_event_at(&iid, Some(Direction::Inbound))
        .await?;
    let warnings = super::chart::warnings(
        (integration.status == IntegrationStatus::Active).then_some(integration.updated_at),
        last_inbound_at,
        day.iter().map(|b| b.inbound + b.outbound).sum(),
        day.iter().map(|b| b.failures).sum(),
        now,
    );
    let jobs = ctx.store().open_jobs(&iid).await?;
    let pending = jobs
        .iter()
        .filter(|j| matches!(j.state, JobState::Pending | JobState::Running))
        .count();
    let failed = jobs.iter().filter(|j| j.state == JobState::Failed).count();
    let rate_limit = rate_limit_lines(&ctx, &integration, pending).await?;
    let (rules, policies, _) = super::wizard::review_of(&ctx, &integration).await?;
    let frame = integration_frame(&ctx, &tenant, &integration, "").await?;
    let page = OverviewPage {
        frame,
        tabs: Tabs::new(&tenant, &integration, "overview"),
        connector: connector_title(&integration.connector_kind),
        status: integration_badge(&integration),
        auto_pause: AutoPauseView::of(&integration),
        mode: mode_badge(integration.mode),
        scim_url: state.config.scim_url(&integration.id),
        users: ctx.store().count_users(&iid).await?,
        groups: ctx.store().count_groups(&iid).await?,
        pending,
        failed,
        last_inbound: last_inbound_at.map(When::from_ms),
        last_target_ok: last_event(
            &ctx,
            &iid,
            Some(Direction::Outbound),
            Some(store::OK_OUTCOME),
        )
        .await?
        .map(|e| When::from_ms(e.at)),
        default_role: integration.default_role.clone().unwrap_or_default(),
        rules,
        policies,
        chart,
        warnings,
        held: provisioning::guard::show(ctx.store(), &iid)
            .await?
            .users
            .into_iter()
            .map(|u| HeldRow {
                href: format!(
                    "/t/{tid}/log?integration={iid}&user={}",
                    urlencoding::encode(&u.user_name)
                ),
                user_name: u.user_name,
                action: u.action,
            })
            .collect(),
        can_edit: ctx.viewer.can_edit_tenant(&tid),
        rate_limit,
        resync: ResyncView::of(ctx.store().resync_progress(&iid).await?, &tid, now),
        integration,
    };
    ctx.render(&page)
}

/// Approve or discard the removals the deletion guard holds.
async fn guard_decision(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, form, _, integration) = post;
    let tid = integration.tenant_id.clone();
    let iid = integration.id.clone();
    let rec = ctx.state.reconciler();
    let now = store::now_ms();
    let mut orphans_note = String::new();
    let (state_before, verb) = match form.text("action").as_str() {
        "approve" => {
            let approval =
                reconcile_service::approve_guard(&rec, &ctx.actor(), &integration, now).await?;
            orphans_note = super::reconcile::orphans_note(&approval);
            (approval.approved, "approved: their access is being removed")
        }
        "discard" => (
            reconcile_service::discard_guard(&rec, &ctx.actor(), &integration, now).await?,
            "discarded: their accounts are kept",
        ),
        _ => return Err(UiError::BadRequest("unknown guard action".into())),
    };
    let n = state_before.users.len();
    ctx.redirect(
        &format!("/t/{tid}/integrations/{iid}"),
        Some(Flash::success(format!(
            "{n} held removal{} {verb}.{orphans_note}",
            if n == 1 { "" } else { "s" }
        ))),
    )
}

async fn set_status(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, form, _, integration) = post;
    let tid = integration.tenant_id.clone();
    let iid = integration.id.clone();
    let (pause, msg) = match form.text("action").as_str() {
        "pause" => (
            true,
            "Paused. SCIM requests are still accepted and recorded; changes reach the target app when you resume.",
        ),
        "resume" => (
            false,
            "Resumed. Held changes are being sent to the target app.",
        ),
        _ => return Err(UiError::BadRequest("Unknown action.".into())),
    };
    let to = format!("/t/{tid}/integrations/{iid}");
    match crate::manage::set_paused(
        ctx.store(),
        &ctx.actor(),
        &integration,
        pause,
        store::now_ms(),
    )
    .await
    {
        Ok(_) => ctx.redirect(&to, Some(Flash::success(msg))),
        Err(crate::manage::ManageError::Conflict(m)) => ctx.redirect(&to, Some(Flash::error(m))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "ui/delete.html")]
struct DeletePage {
    frame: Frame,
    integration: Integration,
    users: u64,
    groups: u64,
    connector: String,
}

async fn confirm_delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let (tid, iid) = path.into_inner();
    let (tenant, integration) = integration_for(&ctx, &tid, &iid, Need::Edit).await?;
    let frame = ctx
        .frame(
            format!("Delete {}", integration.name),
            "integrations",
            Some(&tenant),
            crumbs(&tenant, &integration, "Delete"),
        )
        .await?;
    ctx.render(&DeletePage {
        frame,
        users: ctx.store().count_users(&iid).await?,
        groups: ctx.store().count_groups(&iid).await?,
        connector: connector_title(&integration.connector_kind),
        integration,
    })
}

async fn delete(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, form, _, integration) = post;
    let tid = integration.tenant_id.clone();
    let iid = integration.id.clone();
    if form.text("confirm_name") != integration.name {
        return ctx.redirect(
            &format!("/t/{tid}/integrations/{iid}/delete"),
            Some(Flash::error(
                "Type the integration's name exactly to confirm the deletion.",
            )),
        );
    }
    crate::manage::delete_integration(ctx.store(), &ctx.actor(), &integration, store::now_ms())
        .await?;
    ctx.state.tokens.clear();
    ctx.redirect(
        &format!("/t/{tid}/integrations"),
        Some(Flash::success(format!(
            "\"{}\" is deleted. Its SCIM URL and tokens no longer work; accounts in the target app were left as they are.",
            integration.name
        ))),
    )
}

struct TokenRow {
    prefix: String,
    created: When,
    last_used: Option<When>,
    expires: Option<When>,
    /// `active`, `revoked` or `expired`.
    state: &'static str,
}

#[derive(Template)]
#[template(path = "ui/tokens.html")]
struct TokensPage {
    frame: Frame,
    tabs: Tabs,
    rows: Vec<TokenRow>,
    scim_url: String,
    /// A token just issued: shown this once.
    issued: Option<String>,
    can_edit: bool,
}

async fn tokens_page(ctx: &Ctx, tid: &str, iid: &str, issued: Option<String>) -> UiResult {
    let (tenant, integration) = integration_for(ctx, tid, iid, Need::View).await?;
    let now = store::now_ms();
    let rows = ctx
        .store()
        .list_tokens(iid)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            state: if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at.is_some_and(|e| e <= now) {
                "expired"
            } else {
                "active"
            },
            prefix: t.prefix,
            created: When::from_ms(t.created_at),
            last_used: When::opt(t.last_used_at),
            expires: When::opt(t.expires_at),
        })
        .collect();
    let frame = integration_frame(ctx, &tenant, &integration, "Tokens").await?;
    ctx.render(&TokensPage {
        frame,
        tabs: Tabs::new(&tenant, &integration, "tokens"),
        rows,
        scim_url: ctx.state.config.scim_url(iid),
        issued,
        can_edit: ctx.viewer.can_edit_tenant(tid),
    })
}

async fn tokens(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let (tid, iid) = path.into_inner();
    tokens_page(&ctx, &tid, &iid, None).await
}

async fn issue_token(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, form, _, integration) = post;
    let tid = integration.tenant_id.clone();
    let iid = integration.id.clone();
    if integration.status == IntegrationStatus::Draft {
        return ctx.redirect(
            &format!("/t/{tid}/integrations/{iid}/activate"),
            Some(Flash::error(
                "Finish the setup and activate the integration first: activation issues its token.",
            )),
        );
    }
    let now = store::now_ms();
    let expires = match form.text("expires_days").parse::<i64>() {
        Ok(d) if (1..=3650).contains(&d) => Some(now + d * 86_400_000),
        _ => None,
    };
    let issued =
        crate::manage::issue_scim_token(ctx.store(), &ctx.actor(), &integration, expires, now)
            .await?;
    // Rendered in the POST response (never stored, never in a URL): the only time it shows.
    tokens_page(&ctx, &tid, &iid, Some(issued.token)).await
}

async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let (tid, iid, prefix) = path.into_inner();
    let (_, integration) = integration_for(&ctx, &tid, &iid, Need::Edit).await?;
    let to = format!("/t/{tid}/integrations/{iid}/tokens");
    let revoked = crate::manage::revoke_scim_token(
        ctx.store(),
        &ctx.actor(),
        &integration,
        &prefix,
        store::now_ms(),
    )
    .await;
    match revoked {
        Err(crate::manage::ManageError::NotFound) => {
            return ctx.redirect(&to, Some(Flash::error("That token was already revoked.")));
        }
        other => other?,
    }
    state.tokens.clear();
    ctx.redirect(
        &to,
        Some(Flash::success(format!(
            "Token {prefix}… is revoked; requests using it are refused from now on."
        ))),
    )
}
