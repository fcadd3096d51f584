//! The `/api/v1` operations. Each takes its principal and scope as an argument (`Principal`,
//! `TenantViewing`/`TenantEditing`, `Viewing`/`Editing`: authenticated, rate-limited and
//! checked with `access::Access` before the body is read) and calls the service the console
//! and the CLI call.

use super::{ApiError, ApiResult, Editing, TenantEditing, TenantViewing, Viewing};
use crate::api_tokens::Principal;
use crate::app::AppState;
use crate::manage::{self, IntegrationSpec};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use store::{Integration, IntegrationMode, IntegrationStatus, StaffUser, Tenant};
use utoipa::{IntoParams, ToSchema};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(openapi_json))
        .route("/tenants", web::get().to(list_tenants))
        .route("/tenants", web::post().to(create_tenant))
        .route("/tenants/{tenant_id}", web::get().to(get_tenant))
        .route(
            "/tenants/{tenant_id}/integrations",
            web::get().to(list_integrations),
        )
        .route(
            "/tenants/{tenant_id}/integrations",
            web::post().to(create_integration),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}",
            web::get().to(get_integration),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}",
            web::delete().to(delete_integration),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/activate",
            web::post().to(activate_integration),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/pause",
            web::post().to(pause_integration),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/resume",
            web::post().to(resume_integration),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/tokens",
            web::get().to(list_scim_tokens),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/tokens",
            web::post().to(issue_scim_token),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/tokens/{prefix}",
            web::delete().to(revoke_scim_token),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/jobs/failed",
            web::get().to(failed_jobs),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/jobs/retry",
            web::post().to(retry_jobs),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/users",
            web::get().to(list_users),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/role-preview",
            web::get().to(role_preview),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/reconciliation",
            web::get().to(reconciliation_report),
        )
        .route("/tenants/{tenant_id}/log", web::get().to(provisioning_log))
        .route(
            "/tenants/{tenant_id}/traces/{correlation_id}",
            web::get().to(trace),
        )
        .route("/audit", web::get().to(audit_log))
        .route("/staff", web::get().to(list_staff))
        .route("/staff", web::post().to(invite_staff))
        .route("/staff/{staff_id}/role", web::post().to(change_staff_role))
        .route("/staff/{staff_id}/disable", web::post().to(disable_staff))
        .route("/staff/{staff_id}/enable", web::post().to(enable_staff))
        .route("/staff/{staff_id}/link", web::post().to(staff_link))
        .route("/staff/{staff_id}", web::delete().to(remove_staff));
}

pub(super) fn json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// The path parameters of a tenant's operations (for the document only: the extractors read
/// the path).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "documents the path; never built")]
pub(super) struct TenantPath {
    /// Tenant id
    tenant_id: String,
}

/// The path parameters of an integration's operations (for the document only).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "documents the path; never built")]
pub(super) struct IntegrationPath {
    /// Tenant id
    tenant_id: String,
    /// Integration id
    integration_id: String,
}

/// What a handler needs to do with a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    View,
    Edit,
}

const READ_ONLY: &str = "This token's role has read-only access to this tenant.";

/// The tenant, if the principal may `need` it: outside its scope is 404, read-only is 403.
pub(super) async fn tenant(
    state: &AppState,
    p: &Principal,
    tid: &str,
    need: Need,
) -> Result<Tenant, ApiError> {
    if !p.access.can_view_tenant(tid) {
        return Err(ApiError::NotFound);
    }
    let t = state
        .store()
        .get_tenant(tid)
        .await?
        .ok_or(ApiError::NotFound)?;
    if need == Need::Edit && !p.access.can_edit_tenant(tid) {
        return Err(ApiError::Forbidden(READ_ONLY.into()));
    }
    Ok(t)
}

/// The tenant's integration, if the principal may `need` it.
pub(super) async fn integration(
    state: &AppState,
    p: &Principal,
    tid: &str,
    iid: &str,
    need: Need,
) -> Result<Integration, ApiError> {
    tenant(state, p, tid, need).await?;
    state
        .store()
        .get_integration(tid, iid)
        .await?
        .ok_or(ApiError::NotFound)
}

// ------------------------------------------------------------------ the document

/// The OpenAPI 3.1 document of this API (no token needed).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "Reference",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(super::openapi::document())
}

// ------------------------------------------------------------------ tenants

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantOut {
    pub id: String,
    pub name: String,
    /// Epoch ms.
    pub created_at: i64,
}

impl From<Tenant> for TenantOut {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
        }
    }
}

/// A tenant to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    /// Display name, e.g. the customer's company (at most 120 characters).
    pub name: String,
}

/// The tenants the token may see.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "Tenants",
    responses((status = 200, description = "Tenants in scope", body = Vec<TenantOut>)))]
async fn list_tenants(state: web::Data<AppState>, p: Principal) -> ApiResult {
    let tenants: Vec<TenantOut> = state
        .store()
        .list_tenants()
        .await?
        .into_iter()
        .filter(|t| p.access.can_view_tenant(&t.id))
        .map(Into::into)
        .collect();
    Ok(json(StatusCode::OK, &tenants))
}

/// Creates a tenant (platform admins).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "Tenants", request_body = TenantCreate,
    responses((status = 201, description = "Created", body = TenantOut)))]
async fn create_tenant(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<TenantCreate>,
) -> ApiResult {
    if !p.access.is_platform_admin() {
        return Err(ApiError::Forbidden(
            "Only platform admin tokens create tenants.".into(),
        ));
    }
    let t = manage::create_tenant(state.store(), &p.actor(), &body.name, store::now_ms()).await?;
    Ok(json(StatusCode::CREATED, &TenantOut::from(t)))
}

/// One tenant.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}", tag = "Tenants",
    params(TenantPath),
    responses((status = 200, description = "The tenant", body = TenantOut)))]
async fn get_tenant(TenantViewing { t, .. }: TenantViewing) -> ApiResult {
    Ok(json(StatusCode::OK, &TenantOut::from(t)))
}

// ------------------------------------------------------------------ integrations

/// An integration (its secrets are never returned).
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationOut {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// Connector kind, e.g. `activecampaign`.
    pub connector: String,
    /// `draft`, `active` or `paused`.
    pub status: String,
    /// `live` or `dry_run`.
    pub mode: String,
    /// Non-secret settings.
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub default_role: Option<String>,
    /// What `active=false` does, e.g. `role:No access`.
    pub deprovision: String,
    /// The SCIM base URL to give the IdP.
    pub scim_url: String,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

pub(super) fn integration_out(state: &AppState, i: Integration) -> IntegrationOut {
    IntegrationOut {
        scim_url: state.config.scim_url(&i.id),
        id: i.id,
        tenant_id: i.tenant_id,
        name: i.name,
        connector: i.connector_kind,
        status: i.status.as_str().into(),
        mode: i.mode.as_str().into(),
        settings: i.settings,
        default_role: i.default_role,
        deprovision: i.deprovision_policy,
        created_at: i.created_at,
        updated_at: i.updated_at,
    }
}

/// An integration to create: the same settings, secrets, rules and policies as the console's
/// wizard and `scimbridge integration create` (same names as its flags).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationCreate {
    pub name: String,
    /// Connector kind, e.g. `activecampaign`, `scim`, `pipedrive`, `brevo`.
    pub connector: String,
    /// Non-secret settings, e.g. `{"base_url": "https://acme.api-us1.com"}`.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Secret settings (API keys); encrypted at rest, never returned.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    #[serde(default)]
    pub default_role: Option<String>,
    /// `live` (default) or `dry_run`.
    #[serde(default)]
    pub mode: Option<String>,
    /// Role mapping, highest priority first: `app_role:Admin=Admin`, `group:Sales=Manager`,
    /// `filter:title eq "Sales Manager"=User`.
    #[serde(default)]
    pub role_rules: Vec<String>,
    /// `role:<target role>` (default `role:No access`), `deactivate`, `delete` or `ignore`.
    #[serde(default)]
    pub deprovision: Option<String>,
    /// `default`, `deprovision` or `keep`.
    #[serde(default)]
    pub unmatched: Option<String>,
    /// `assignment` (default) or `groups`.
    #[serde(default)]
    pub lifecycle: Option<String>,
    /// `none`, `ruled` or `all`.
    #[serde(default)]
    pub push_groups: Option<String>,
    /// `USERS,PERCENT%` (default `10,20%`) or `off`.
    #[serde(default)]
    pub delete_guard: Option<String>,
    /// SCIM schema resources (RFC 7643 §7) extending the User type.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub extension_schemas: Vec<serde_json::Value>,
    /// Activate at once (issues the first SCIM token); default: stay a draft.
    #[serde(default)]
    pub activate: bool,
}

/// A SCIM token just issued: `token` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedScimToken {
    pub token: String,
    pub prefix: String,
    pub scim_url: String,
    /// Epoch ms, if it expires.
    pub expires_at: Option<i64>,
}

/// A created (or activated) integration, with its first SCIM token when it is active.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationCreated {
    pub integration: IntegrationOut,
    pub token: Option<IssuedScimToken>,
}

/// The tenant's integrations.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/integrations", tag = "Integrations",
    params(TenantPath),
    responses((status = 200, description = "Integrations", body = Vec<IntegrationOut>)))]
async fn list_integrations(
    state: web::Data<AppState>,
    TenantViewing { t, .. }: TenantViewing,
) -> ApiResult {
    let list: Vec<IntegrationOut> = state
        .store()
        .list_integrations(&t.id)
        .await?
        .into_iter()
        .map(|i| integration_out(&state, i))
        .collect();
    Ok(json(StatusCode::OK, &list))
}

/// Creates an integration (a draft, or active with `"activate": true`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/integrations", tag = "Integrations",
    params(TenantPath),
    request_body = IntegrationCreate,
    responses((status = 201, description = "Created", body = IntegrationCreated)))]
async fn create_integration(
    state: web::Data<AppState>,
    TenantEditing { p, t }: TenantEditing,
    body: web::Json<IntegrationCreate>,
) -> ApiResult {
    let b = body.into_inner();
    let mode = match b.mode.as_deref().unwrap_or("live") {
        "live" => IntegrationMode::Live,
        "dry_run" => IntegrationMode::DryRun,
        other => {
            return Err(ApiError::Invalid(format!(
                "mode: '{other}' is not live or dry_run"
            )));
        }
    };
    let mut schemas = Vec::with_capacity(b.extension_schemas.len());
    for doc in &b.extension_schemas {
        schemas.push(
            scim_core::extension::parse_schema(doc)
                .map_err(|e| ApiError::Invalid(format!("extension_schemas: {}", e.detail)))?,
        );
    }
    let defaults = IntegrationSpec::new(&t.id, &b.name, &b.connector);
    let spec = IntegrationSpec {
        settings: b
            .settings
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect(),
        secrets: b.secrets,
        default_role: b.default_role.filter(|r| !r.trim().is_empty()),
        mode,
        role_rules: b.role_rules,
        deprovision: b.deprovision.unwrap_or(defaults.deprovision.clone()),
        unmatched: b.unmatched,
        lifecycle: b.lifecycle.unwrap_or(defaults.lifecycle.clone()),
        push_groups: b.push_groups,
        delete_guard: b.delete_guard.unwrap_or(defaults.delete_guard.clone()),
        extension_schemas: schemas,
        ..defaults
    };
    let status = if b.activate {
        IntegrationStatus::Active
    } else {
        IntegrationStatus::Draft
    };
    let (i, issued) = manage::create_integration(
        state.store(),
        &p.actor(),
        spec,
        status,
        state.config.allow_private_targets,
        store::now_ms(),
    )
    .await?;
    let token = issued.map(|t| IssuedScimToken {
        token: t.token,
        prefix: t.prefix,
        scim_url: state.config.scim_url(&i.id),
        expires_at: None,
    });
    Ok(json(
        StatusCode::CREATED,
        &IntegrationCreated {
            integration: integration_out(&state, i),
            token,
        },
    ))
}

/// One integration.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}", tag = "Integrations",
    params(IntegrationPath),
    responses((status = 200, description = "The integration", body = IntegrationOut)))]
async fn get_integration(state: web::Data<AppState>, Viewing { i, .. }: Viewing) -> ApiResult {
    Ok(json(StatusCode::OK, &integration_out(&state, i)))
}

/// Activates a draft: issues its first SCIM token (shown once).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/activate", tag = "Integrations",
    params(IntegrationPath),
    responses((status = 200, description = "Active, with its first SCIM token", body = IntegrationCreated)))]
async fn activate_integration(state: web::Data<AppState>, Editing { p, i }: Editing) -> ApiResult {
    let (tid, iid) = (i.tenant_id.clone(), i.id.clone());
    let issued = manage::activate(state.store(), &p.actor(), &i, store::now_ms()).await?;
    let i = integration(&state, &p, &tid, &iid, Need::View).await?;
    Ok(json(
        StatusCode::OK,
        &IntegrationCreated {
            token: Some(IssuedScimToken {
                token: issued.token,
                prefix: issued.prefix,
                scim_url: state.config.scim_url(&i.id),
                expires_at: None,
            }),
            integration: integration_out(&state, i),
        },
    ))
}

async fn set_paused(
    state: web::Data<AppState>,
    Editing { p, i }: Editing,
    pause: bool,
) -> ApiResult {
    let (tid, iid) = (i.tenant_id.clone(), i.id.clone());
    manage::set_paused(state.store(), &p.actor(), &i, pause, store::now_ms()).await?;
    let i = integration(&state, &p, &tid, &iid, Need::View).await?;
    Ok(json(StatusCode::OK, &integration_out(&state, i)))
}

/// Pauses an active integration (SCIM requests are still accepted; nothing reaches the target).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/pause", tag = "Integrations",
    params(IntegrationPath),
    responses((status = 200, description = "Paused", body = IntegrationOut)))]
async fn pause_integration(state: web::Data<AppState>, scope: Editing) -> ApiResult {
    set_paused(state, scope, true).await
}

/// Resumes a paused integration.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/resume", tag = "Integrations",
    params(IntegrationPath),
    responses((status = 200, description = "Active again", body = IntegrationOut)))]
async fn resume_integration(state: web::Data<AppState>, scope: Editing) -> ApiResult {
    set_paused(state, scope, false).await
}

/// Deletes an integration with its directory and tokens (accounts in the target stay).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}", tag = "Integrations",
    params(IntegrationPath),
    responses((status = 204, description = "Deleted")))]
async fn delete_integration(state: web::Data<AppState>, Editing { p, i }: Editing) -> ApiResult {
    manage::delete_integration(state.store(), &p.actor(), &i, store::now_ms()).await?;
    state.tokens.clear();
    Ok(HttpResponse::NoContent().finish())
}

// ------------------------------------------------------------------ SCIM tokens

/// A SCIM token (no secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimTokenOut {
    pub prefix: String,
    /// `active`, `revoked` or `expired`.
    pub state: String,
    /// Epoch ms.
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A SCIM token to issue.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScimTokenIssue {
    /// 1 to 3650; none: it does not expire.
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

/// The integration's SCIM tokens, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/tokens", tag = "SCIM tokens",
    params(IntegrationPath),
    responses((status = 200, description = "Tokens", body = Vec<ScimTokenOut>)))]
async fn list_scim_tokens(state: web::Data<AppState>, Viewing { i, .. }: Viewing) -> ApiResult {
    let now = store::now_ms();
    let list: Vec<ScimTokenOut> = state
        .store()
        .list_tokens(&i.id)
        .await?
        .into_iter()
        .map(|t| ScimTokenOut {
            state: if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at.is_some_and(|e| e <= now) {
                "expired"
            } else {
                "active"
            }
            .into(),
            prefix: t.prefix,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
        })
        .collect();
    Ok(json(StatusCode::OK, &list))
}

/// Issues another SCIM token (rotation without downtime); the token is shown this once.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/tokens", tag = "SCIM tokens",
    params(IntegrationPath),
    request_body = ScimTokenIssue,
    responses((status = 201, description = "Issued", body = IssuedScimToken)))]
async fn issue_scim_token(
    state: web::Data<AppState>,
    Editing { p, i }: Editing,
    body: web::Json<ScimTokenIssue>,
) -> ApiResult {
    let now = store::now_ms();
    let expires = manage::expiry(body.expires_in_days, now)?;
    let issued = manage::issue_scim_token(state.store(), &p.actor(), &i, expires, now).await?;
    Ok(json(
        StatusCode::CREATED,
        &IssuedScimToken {
            token: issued.token,
            prefix: issued.prefix,
            scim_url: state.config.scim_url(&i.id),
            expires_at: expires,
        },
    ))
}

/// Revokes the live SCIM token with this display prefix.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/tokens/{prefix}", tag = "SCIM tokens",
    params(IntegrationPath,
        ("prefix" = String, Path, description = "The token's display prefix")),
    responses((status = 204, description = "Revoked")))]
async fn revoke_scim_token(
    state: web::Data<AppState>,
    Editing { p, i }: Editing,
    path: web::Path<(String, String, String)>,
) -> ApiResult {
    let (_, _, prefix) = path.into_inner();
    manage::revoke_scim_token(state.store(), &p.actor(), &i, &prefix, store::now_ms()).await?;
    state.tokens.clear();
    Ok(HttpResponse::NoContent().finish())
}

// ------------------------------------------------------------------ jobs

/// An outbound job that failed for good.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedJob {
    pub id: i64,
    /// `user` or `group`.
    pub subject_kind: String,
    pub subject_id: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// Epoch ms.
    pub updated_at: i64,
    /// The trace of the request that caused it.
    pub correlation_id: Option<String>,
}

/// Which failed jobs to retry.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// One job; none: all of the integration's failed jobs.
    #[serde(default)]
    pub job_id: Option<i64>,
}

/// How many jobs were queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetryOut {
    pub retried: u64,
}

/// The integration's failed jobs with their reasons.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/jobs/failed", tag = "Jobs",
    params(IntegrationPath),
    responses((status = 200, description = "Failed jobs", body = Vec<FailedJob>)))]
async fn failed_jobs(state: web::Data<AppState>, Viewing { i, .. }: Viewing) -> ApiResult {
    let jobs: Vec<FailedJob> = state
        .store()
        .list_failed_jobs(&i.id)
        .await?
        .into_iter()
        .map(|j| FailedJob {
            id: j.id,
            subject_kind: j.subject_kind.as_str().into(),
            subject_id: j.subject_id,
            attempts: j.attempts,
            last_error: j.last_error,
            updated_at: j.updated_at,
            correlation_id: j.correlation_id,
        })
        .collect();
    Ok(json(StatusCode::OK, &jobs))
}

/// Retries failed jobs (support may too, as in the console).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/jobs/retry", tag = "Jobs",
    params(IntegrationPath),
    request_body = RetryRequest,
    responses((status = 200, description = "Queued again", body = RetryOut)))]
async fn retry_jobs(
    state: web::Data<AppState>,
    Viewing { p, i }: Viewing,
    body: web::Json<RetryRequest>,
) -> ApiResult {
    let tid = i.tenant_id.clone();
    if !p.access.can_retry_jobs(&tid) {
        return Err(ApiError::Forbidden(
            "This token's role cannot retry jobs.".into(),
        ));
    }
    let retried =
        manage::retry_jobs(state.store(), &p.actor(), &i, body.job_id, store::now_ms()).await?;
    Ok(json(StatusCode::OK, &RetryOut { retried }))
}

// ------------------------------------------------------------------ logs

/// Page size.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Limit {
    /// At most this many (1 to 500, default 100).
    pub limit: Option<u64>,
}

impl Limit {
    fn get(&self) -> u64 {
        self.limit.unwrap_or(100).clamp(1, 500)
    }
}

/// One provisioning log event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    pub id: i64,
    /// Epoch ms.
    pub at: i64,
    pub integration_id: String,
    /// `inbound` (from the IdP) or `outbound` (to the target).
    pub direction: String,
    pub operation: String,
    pub subject_kind: Option<String>,
    pub subject_id: Option<String>,
    pub subject_name: Option<String>,
    pub http_status: Option<i32>,
    /// `ok`, `error`, `retry`, `dry_run`…
    pub outcome: String,
    pub duration_ms: Option<i64>,
    /// One request's whole trace: filter the log by it.
    pub correlation_id: String,
    pub attempt: Option<i32>,
    pub detail: Option<String>,
}

fn event_out(e: store::Event) -> EventOut {
    EventOut {
        id: e.id,
        at: e.at,
        integration_id: e.integration_id,
        direction: e.direction.as_str().into(),
        operation: e.operation,
        subject_kind: e.subject_kind.map(|k| k.as_str().to_string()),
        subject_id: e.subject_id,
        subject_name: e.subject_name,
        http_status: e.http_status,
        outcome: e.outcome,
        duration_ms: e.duration_ms,
        correlation_id: e.correlation_id,
        attempt: e.attempt,
        detail: e.detail,
    }
}

/// A page of the provisioning log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<EventOut>,
    /// Pass as `before` for the next (older) page; none on the last page.
    pub next_before: Option<i64>,
}

/// The tenant's provisioning log, with the console's filters and cursor paging.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/log", tag = "Logs",
    params(TenantPath, crate::ui::logs::LogFilter, Limit),
    responses((status = 200, description = "Events", body = EventPage)))]
async fn provisioning_log(
    state: web::Data<AppState>,
    TenantViewing { t, .. }: TenantViewing,
    filter: web::Query<crate::ui::logs::LogFilter>,
    limit: web::Query<Limit>,
) -> ApiResult {
    let limit = limit.get();
    let q = filter.query(&t.id, limit).map_err(ApiError::BadRequest)?;
    let events = state.store().list_events(&q).await?;
    let next_before = (events.len() as u64 == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    let items = events.into_iter().map(event_out).collect();
    Ok(json(StatusCode::OK, &EventPage { items, next_before }))
}

/// One request's whole trace: the inbound SCIM call and every outbound call it caused.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/traces/{correlation_id}", tag = "Logs",
    params(TenantPath,
        ("correlation_id" = String, Path, description = "An event's correlation_id")),
    responses((status = 200, description = "The trace's events, newest first", body = EventPage)))]
async fn trace(
    state: web::Data<AppState>,
    TenantViewing { t, .. }: TenantViewing,
    path: web::Path<(String, String)>,
) -> ApiResult {
    let (_, cid) = path.into_inner();
    let events = state
        .store()
        .list_events(&store::EventQuery {
            tenant_id: Some(t.id),
            correlation_id: Some(cid),
            limit: 500,
            ..store::EventQuery::default()
        })
        .await?;
    if events.is_empty() {
        return Err(ApiError::NotFound);
    }
    let items = events.into_iter().map(event_out).collect();
    Ok(json(
        StatusCode::OK,
        &EventPage {
            items,
            next_before: None,
        },
    ))
}

// ------------------------------------------------------------------ users, rules, reconciliation

/// Users filters and page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersFilter {
    /// Users whose userName starts with this.
    pub q: Option<String>,
    /// Only users in this target state: `active`, `no_access`, `deactivated`, `deleted`,
    /// `no_account`, `failed`, `dry_run` or `not_synced`.
    pub state: Option<String>,
    /// Skip this many (default 0).
    pub offset: Option<u64>,
    /// At most this many (1 to 500, default 100).
    pub limit: Option<u64>,
}

/// A SCIM user and their state in the target app.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub user_name: String,
    pub display_name: Option<String>,
    /// Active in the IdP.
    pub active: bool,
    /// The state in the target (see the `state` filter).
    pub target_state: String,
    /// The roles the account holds in the target, as last pushed.
    pub target_roles: Vec<String>,
    /// Epoch ms of the last sync.
    pub last_sync_at: Option<i64>,
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserOut>,
    /// How many match.
    pub total: u64,
}

/// The integration's users and their target state (as on the console's Users tab).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/users", tag = "Integrations",
    params(IntegrationPath, UsersFilter),
    responses((status = 200, description = "Users", body = UserPage)))]
async fn list_users(
    state: web::Data<AppState>,
    Viewing { i, .. }: Viewing,
    q: web::Query<UsersFilter>,
) -> ApiResult {
    use crate::ui::logs::TargetState;
    let wanted = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            TargetState::parse(s)
                .ok_or_else(|| ApiError::BadRequest(format!("state: unknown state '{s}'")))?,
        ),
    };
    let search = q.q.clone().unwrap_or_default();
    let (rows, total, links) = crate::ui::logs::user_states(
        state.store(),
        &i.id,
        search.trim(),
        wanted,
        q.offset.unwrap_or(0),
        q.limit.unwrap_or(100).clamp(1, 500),
    )
    .await?
    .map_err(ApiError::BadRequest)?;
    let items = rows
        .into_iter()
        .map(|u| {
            let link = links.get(&u.id);
            let (st, roles) = TargetState::of(link);
            UserOut {
                target_state: st.key().into(),
                target_roles: roles
                    .split(", ")
                    .filter(|r| !r.is_empty())
                    .map(str::to_string)
                    .collect(),
                last_sync_at: link.and_then(|l| l.last_sync_at),
                id: u.id,
                user_name: u.user_name,
                display_name: u.display_name,
                active: u.active,
            }
        })
        .collect();
    Ok(json(StatusCode::OK, &UserPage { items, total }))
}

/// What one saved rule does to the integration's users.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleOutcome {
    /// The rule in words.
    pub rule: String,
    /// The target role it gives.
    pub role: String,
    /// Users it matches.
    pub matches: usize,
    /// Users whose role it decides (no higher rule matched them).
    pub decides: usize,
    /// Some of those users' names.
    pub sample: Vec<String>,
}

/// What the saved rules give the integration's users.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolePreview {
    /// Users looked at.
    pub users: usize,
    /// Only the first users were looked at.
    pub truncated: bool,
    pub rules: Vec<RuleOutcome>,
    pub default_role: Option<String>,
    /// Users who get the default role.
    pub default: usize,
    /// Users who lose access.
    pub removed: usize,
}

/// What the saved role rules give the integration's users (the console's rule preview).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/role-preview", tag = "Integrations",
    params(IntegrationPath),
    responses((status = 200, description = "The preview", body = RolePreview)))]
async fn role_preview(state: web::Data<AppState>, Viewing { i, .. }: Viewing) -> ApiResult {
    let rules = provisioning::inputs::load_rules(state.store(), &i)
        .await
        .map_err(|e| {
            ApiError::Conflict(format!("The saved rules or policies are not valid: {e}"))
        })?;
    let caps = crate::connectors::capabilities(&i.connector_kind, &i.settings)
        .ok_or_else(|| ApiError::Conflict("Unknown connector.".into()))?;
    let preview = provisioning::preview::preview_rules(state.store(), &i.id, &rules, &caps).await?;
    let outcomes = rules
        .rules
        .iter()
        .zip(preview.rules)
        .map(|(rule, p)| RuleOutcome {
            rule: rule.describe(),
            role: rule.target_role.clone(),
            matches: p.matches,
            decides: p.decides,
            sample: p.sample,
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &RolePreview {
            users: preview.users,
            truncated: preview.truncated,
            rules: outcomes,
            default_role: rules.policy.default_role.clone(),
            default: preview.default,
            removed: preview.removed,
        },
    ))
}

/// The reconciliation report of the last import, with the same names as
/// `scimbridge reconcile --json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationReport {
    /// Accounts in the target that no IdP user matches.
    #[schema(value_type = Vec<Object>)]
    pub orphaned: Vec<serde_json::Value>,
    /// Accounts whose fields or roles differ from what the rules give.
    #[schema(value_type = Vec<Object>)]
    pub drift: Vec<serde_json::Value>,
    /// IdP users who should have an account and have none.
    #[schema(value_type = Vec<Object>)]
    pub missing: Vec<serde_json::Value>,
    /// Seats used and known.
    #[schema(value_type = Object)]
    pub seats: serde_json::Value,
    /// The account the target's API key belongs to, if known.
    #[schema(value_type = Option<Object>)]
    pub key_owner: serde_json::Value,
}

/// The reconciliation report from the last import of the target's accounts (import with
/// `scimbridge reconcile` or the console's Reconciliation tab).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/reconciliation", tag = "Integrations",
    params(IntegrationPath),
    responses((status = 200, description = "The report", body = ReconciliationReport)))]
async fn reconciliation_report(
    state: web::Data<AppState>,
    Viewing { i, .. }: Viewing,
) -> ApiResult {
    let analysis = crate::reconcile_service::analysis(&state.reconciler(), &i).await?;
    let mut v =
        serde_json::to_value(analysis.report()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut take = |k: &str| {
        v.get_mut(k)
            .map(serde_json::Value::take)
            .unwrap_or_default()
    };
    let list = |v: serde_json::Value| match v {
        serde_json::Value::Array(a) => a,
        _ => Vec::new(),
    };
    Ok(json(
        StatusCode::OK,
        &ReconciliationReport {
            orphaned: list(take("orphaned")),
            drift: list(take("drift")),
            missing: list(take("missing")),
            seats: take("seats"),
            key_owner: take("key_owner"),
        },
    ))
}

/// Audit log filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// One tenant's entries (a tenant-scoped token sees only its tenant's).
    pub tenant_id: Option<String>,
    /// Only this person's (their e-mail as recorded).
    pub actor: Option<String>,
    /// Only this action, e.g. `integration.create`.
    pub action: Option<String>,
    /// Keyset cursor: entries older than this id.
    pub before: Option<i64>,
    /// At most this many (1 to 500, default 100).
    pub limit: Option<u64>,
}

/// One audit log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    pub id: i64,
    /// Epoch ms.
    pub at: i64,
    pub tenant_id: Option<String>,
    pub actor_email: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    /// JSON text.
    pub detail: Option<String>,
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditOut>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<i64>,
}

/// The audit log: who changed what.
#[utoipa::path(get, path = "/api/v1/audit", tag = "Logs", params(AuditFilter),
    responses((status = 200, description = "Entries", body = AuditPage)))]
async fn audit_log(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<AuditFilter>,
) -> ApiResult {
    let tenant_id = match (
        q.tenant_id.as_deref().filter(|t| !t.is_empty()),
        &p.access.tenant_id,
    ) {
        (Some(t), _) if p.access.can_view_tenant(t) => Some(t.to_owned()),
        (Some(_), _) => return Err(ApiError::NotFound),
        (None, Some(own)) => Some(own.clone()),
        (None, None) if p.access.is_platform_staff() => None,
        (None, None) => return Err(ApiError::NotFound),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let entries = state
        .store()
        .list_audit(&store::AuditQuery {
            tenant_id,
            actor_email: q.actor.clone().filter(|s| !s.is_empty()),
            action: q.action.clone().filter(|s| !s.is_empty()),
            from: None,
            to: None,
            before_id: q.before,
            limit,
        })
        .await?;
    let next_before = (entries.len() as u64 == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let items = entries
        .into_iter()
        .map(|e| AuditOut {
            id: e.id,
            at: e.at,
            tenant_id: e.tenant_id,
            actor_email: e.actor_email,
            action: e.action,
            target_kind: e.target_kind,
            target_id: e.target_id,
            detail: e.detail,
        })
        .collect();
    Ok(json(StatusCode::OK, &AuditPage { items, next_before }))
}

// ------------------------------------------------------------------ staff

/// A staff account.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffOut {
    pub id: String,
    pub email: String,
    /// `platform_admin`, `tenant_admin` or `support`.
    pub role: String,
    pub tenant_id: Option<String>,
    pub disabled: bool,
    /// Whether the invitation was accepted (a password is set).
    pub active: bool,
    /// Epoch ms.
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

impl From<StaffUser> for StaffOut {
    fn from(u: StaffUser) -> Self {
        Self {
            active: u.has_password(),
            id: u.id,
            email: u.email,
            role: u.role.as_str().into(),
            tenant_id: u.tenant_id,
            disabled: u.disabled,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// Someone to invite.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffInvite {
    pub email: String,
    /// `platform_admin`, `tenant_admin` or `support`.
    pub role: String,
    /// Required for tenant admins.
    #[serde(default)]
    pub tenant_id: Option<String>,
}

/// An invitation: pass the link on (it is shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteOut {
    pub staff: StaffOut,
    pub link: String,
    /// Epoch ms.
    pub expires_at: i64,
}

/// A new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffRoleChange {
    /// `platform_admin`, `tenant_admin` or `support`.
    pub role: String,
    /// Required for tenant admins.
    #[serde(default)]
    pub tenant_id: Option<String>,
}

pub(super) fn staff_actor(p: &Principal) -> Result<crate::staff::Actor, ApiError> {
    let actor = p.actor();
    if crate::staff::manages_staff(&actor) {
        Ok(actor)
    } else {
        Err(ApiError::Forbidden(
            "This token's role does not manage staff.".into(),
        ))
    }
}

/// The staff accounts the token's role manages.
#[utoipa::path(get, path = "/api/v1/staff", tag = "Staff",
    responses((status = 200, description = "Staff accounts", body = Vec<StaffOut>)))]
async fn list_staff(state: web::Data<AppState>, p: Principal) -> ApiResult {
    let actor = staff_actor(&p)?;
    let list: Vec<StaffOut> = state
        .store()
        .list_staff_users()
        .await?
        .into_iter()
        .filter(|u| crate::staff::may_manage(&actor, u))
        .map(Into::into)
        .collect();
    Ok(json(StatusCode::OK, &list))
}

/// Invites someone: an account without a password and a one-time link to set one.
#[utoipa::path(post, path = "/api/v1/staff", tag = "Staff", request_body = StaffInvite,
    responses((status = 201, description = "Invited", body = InviteOut)))]
async fn invite_staff(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<StaffInvite>,
) -> ApiResult {
    let actor = staff_actor(&p)?;
    let role = crate::staff::parse_role(&body.role)
        .ok_or_else(|| ApiError::Invalid(format!("role: unknown role '{}'", body.role)))?;
    let new = crate::staff::NewStaff {
        email: &body.email,
        role: Some(role),
        tenant: body.tenant_id.as_deref(),
    };
    let link = crate::staff::invite(
        state.store(),
        &actor,
        &new,
        crate::ui::session::random_token(18),
        store::now_ms(),
    )
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &InviteOut {
            link: link.url(&state.config.public_url()),
            expires_at: link.expires_at,
            staff: link.user.into(),
        },
    ))
}

/// Gives an account another role (and tenant, for a tenant admin).
#[utoipa::path(post, path = "/api/v1/staff/{staff_id}/role", tag = "Staff", request_body = StaffRoleChange,
    params(("staff_id" = String, Path, description = "Staff account id")),
    responses((status = 200, description = "Changed", body = StaffOut)))]
async fn change_staff_role(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
    body: web::Json<StaffRoleChange>,
) -> ApiResult {
    let actor = staff_actor(&p)?;
    let role = crate::staff::parse_role(&body.role)
        .ok_or_else(|| ApiError::Invalid(format!("role: unknown role '{}'", body.role)))?;
    let (_, after) = crate::staff::change_role(
        state.store(),
        &actor,
        &path,
        Some(role),
        body.tenant_id.as_deref(),
        store::now_ms(),
    )
    .await?;
    Ok(json(StatusCode::OK, &StaffOut::from(after)))
}

async fn set_disabled(
    state: web::Data<AppState>,
    p: Principal,
    id: &str,
    disabled: bool,
) -> ApiResult {
    let actor = staff_actor(&p)?;
    let user =
        crate::staff::set_disabled(state.store(), &actor, id, disabled, store::now_ms()).await?;
    Ok(json(
        StatusCode::OK,
        &StaffOut::from(StaffUser { disabled, ..user }),
    ))
}

/// Disables an account (signed out at once; its API tokens stop working).
#[utoipa::path(post, path = "/api/v1/staff/{staff_id}/disable", tag = "Staff",
    params(("staff_id" = String, Path, description = "Staff account id")),
    responses((status = 200, description = "Disabled", body = StaffOut)))]
async fn disable_staff(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> ApiResult {
    set_disabled(state, p, &path, true).await
}

/// Enables a disabled account.
#[utoipa::path(post, path = "/api/v1/staff/{staff_id}/enable", tag = "Staff",
    params(("staff_id" = String, Path, description = "Staff account id")),
    responses((status = 200, description = "Enabled", body = StaffOut)))]
async fn enable_staff(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> ApiResult {
    set_disabled(state, p, &path, false).await
}

/// A one-time link for an account: pass it on (it is shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffLinkOut {
    pub staff: StaffOut,
    pub link: String,
    /// `reset` (a password-reset link) or `invite` (a new invitation: no password yet).
    pub purpose: String,
    /// Epoch ms.
    pub expires_at: i64,
}

/// Makes a password-reset link for an account (a new invitation link while it has no
/// password yet), as the console's Staff page does; earlier links stop working.
#[utoipa::path(post, path = "/api/v1/staff/{staff_id}/link", tag = "Staff",
    params(("staff_id" = String, Path, description = "Staff account id")),
    responses((status = 201, description = "The link", body = StaffLinkOut)))]
async fn staff_link(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> ApiResult {
    let actor = staff_actor(&p)?;
    let link = crate::staff::send_link(
        state.store(),
        &actor,
        &path,
        crate::ui::session::random_token(18),
        store::now_ms(),
    )
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &StaffLinkOut {
            link: link.url(&state.config.public_url()),
            purpose: link.purpose.as_str().into(),
            expires_at: link.expires_at,
            staff: link.user.into(),
        },
    ))
}

/// Removes an account for good (its API tokens with it).
#[utoipa::path(delete, path = "/api/v1/staff/{staff_id}", tag = "Staff",
    params(("staff_id" = String, Path, description = "Staff account id")),
    responses((status = 204, description = "Removed")))]
async fn remove_staff(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> ApiResult {
    let actor = staff_actor(&p)?;
    crate::staff::remove(state.store(), &actor, &path, store::now_ms()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every operation, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    openapi_json,
    list_tenants,
    create_tenant,
    get_tenant,
    list_integrations,
    create_integration,
    get_integration,
    activate_integration,
    pause_integration,
    resume_integration,
    delete_integration,
    list_scim_tokens,
    issue_scim_token,
    revoke_scim_token,
    failed_jobs,
    retry_jobs,
    provisioning_log,
    trace,
    audit_log,
    list_users,
    role_preview,
    reconciliation_report,
    list_staff,
    invite_staff,
    change_staff_role,
    disable_staff,
    enable_staff,
    staff_link,
    remove_staff,
))]
pub struct Operations;
