//! Notification channels (e-mail, webhooks), test notifications and the delivery log; API tokens managed through the API.
//!
//! The decisions live in `crate::notifier` (channels, with their audit entries) and
//! `crate::api_tokens` (which token a token may make); these handlers check scope and map.

use super::handlers::TenantPath;
use super::handlers::json;
use super::{ApiError, ApiResult, TenantEditing, TenantViewing};
use crate::api_tokens::Principal;
use crate::app::AppState;
use crate::notifier;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use store::{ApiToken, ChannelKind, NotifyChannel};
use utoipa::{IntoParams, ToSchema};

/// Registers this module's routes (under `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/tenants/{tenant_id}/notifications/channels",
        web::get().to(list_channels),
    )
    .route(
        "/tenants/{tenant_id}/notifications/channels/email",
        web::post().to(add_email),
    )
    .route(
        "/tenants/{tenant_id}/notifications/channels/webhook",
        web::post().to(add_webhook),
    )
    .route(
        "/tenants/{tenant_id}/notifications/channels/{channel_id}/enable",
        web::post().to(enable_channel),
    )
    .route(
        "/tenants/{tenant_id}/notifications/channels/{channel_id}/disable",
        web::post().to(disable_channel),
    )
    .route(
        "/tenants/{tenant_id}/notifications/channels/{channel_id}",
        web::delete().to(remove_channel),
    )
    .route(
        "/tenants/{tenant_id}/notifications/test",
        web::post().to(send_test),
    )
    .route(
        "/tenants/{tenant_id}/notifications/deliveries",
        web::get().to(deliveries),
    )
    .route("/api-tokens", web::get().to(list_api_tokens))
    .route("/api-tokens", web::post().to(create_api_token))
    .route("/api-tokens/{token_id}", web::delete().to(revoke_api_token));
}

// ------------------------------------------------------------------ channels

/// A notification channel. A webhook's URL is shown as its origin (`https://host/…`): some
/// receivers keep a secret in the path. Its signing secret is never shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelOut {
    pub id: String,
    /// `email` or `webhook`.
    pub kind: String,
    /// The e-mail address, or the webhook's origin.
    pub address: String,
    pub enabled: bool,
    /// Epoch ms.
    pub created_at: i64,
}

fn channel_out(c: NotifyChannel) -> ChannelOut {
    ChannelOut {
        kind: match c.kind {
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
        }
        .into(),
        address: notifier::shown_address(c.kind, &c.address),
        id: c.id,
        enabled: c.enabled,
        created_at: c.created_at,
    }
}

/// An e-mail recipient to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChannelCreate {
    pub address: String,
}

/// A webhook to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannelCreate {
    /// HTTPS; public addresses only unless the operator allows private ones.
    pub url: String,
}

/// A webhook just added: `secret` signs its requests and is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreated {
    pub channel: ChannelOut,
    /// `whsec_…`: the receiver checks `X-Scimbridge-Signature` with it.
    pub secret: String,
}

/// Which channels get the test message.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// One channel (even a disabled one); none: every enabled channel of the tenant.
    #[serde(default)]
    pub channel_id: Option<String>,
}

/// How many deliveries the test queued (0: no enabled channel).
#[derive(Debug, Serialize, ToSchema)]
pub struct TestQueued {
    pub queued: u64,
}

/// The tenant's notification channels.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/notifications/channels", tag = "Notifications",
    params(TenantPath),
    responses((status = 200, description = "Channels", body = Vec<ChannelOut>)))]
async fn list_channels(
    state: web::Data<AppState>,
    TenantViewing { t, .. }: TenantViewing,
) -> ApiResult {
    let list: Vec<ChannelOut> = state
        .store()
        .list_notify_channels(&t.id)
        .await?
        .into_iter()
        .map(channel_out)
        .collect();
    Ok(json(StatusCode::OK, &list))
}

/// Adds an e-mail recipient (sent through the operator's SMTP server).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/notifications/channels/email", tag = "Notifications",
    params(TenantPath),
    request_body = EmailChannelCreate,
    responses((status = 201, description = "Added", body = ChannelOut)))]
async fn add_email(
    state: web::Data<AppState>,
    TenantEditing { p, t }: TenantEditing,
    body: web::Json<EmailChannelCreate>,
) -> ApiResult {
    let c = notifier::add_email(
        state.store(),
        &p.actor(),
        &t.id,
        &body.address,
        store::now_ms(),
    )
    .await?;
    Ok(json(StatusCode::CREATED, &channel_out(c)))
}

/// Adds a webhook; the answer carries its signing secret, shown this once.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/notifications/channels/webhook", tag = "Notifications",
    params(TenantPath),
    request_body = WebhookChannelCreate,
    responses((status = 201, description = "Added, with its signing secret", body = WebhookCreated)))]
async fn add_webhook(
    state: web::Data<AppState>,
    TenantEditing { p, t }: TenantEditing,
    body: web::Json<WebhookChannelCreate>,
) -> ApiResult {
    let policy = notifier::Settings::from_config(&state.config).policy;
    let (c, secret) = notifier::add_webhook(
        state.store(),
        &p.actor(),
        policy,
        &t.id,
        &body.url,
        store::now_ms(),
    )
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &WebhookCreated {
            channel: channel_out(c),
            secret,
        },
    ))
}

async fn set_enabled(
    state: web::Data<AppState>,
    TenantEditing { p, t }: TenantEditing,
    path: web::Path<(String, String)>,
    enabled: bool,
) -> ApiResult {
    let (_, cid) = path.into_inner();
    let c = notifier::set_enabled(
        state.store(),
        &p.actor(),
        &t.id,
        &cid,
        enabled,
        store::now_ms(),
    )
    .await?;
    Ok(json(StatusCode::OK, &channel_out(c)))
}

/// Enables a channel.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/notifications/channels/{channel_id}/enable", tag = "Notifications",
    params(TenantPath, ("channel_id" = String, Path, description = "Channel id")),
    responses((status = 200, description = "Enabled", body = ChannelOut)))]
async fn enable_channel(
    state: web::Data<AppState>,
    scope: TenantEditing,
    path: web::Path<(String, String)>,
) -> ApiResult {
    set_enabled(state, scope, path, true).await
}

/// Disables a channel (it receives nothing until enabled again).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/notifications/channels/{channel_id}/disable", tag = "Notifications",
    params(TenantPath, ("channel_id" = String, Path, description = "Channel id")),
    responses((status = 200, description = "Disabled", body = ChannelOut)))]
async fn disable_channel(
    state: web::Data<AppState>,
    scope: TenantEditing,
    path: web::Path<(String, String)>,
) -> ApiResult {
    set_enabled(state, scope, path, false).await
}

/// Removes a channel with its deliveries.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/notifications/channels/{channel_id}", tag = "Notifications",
    params(TenantPath, ("channel_id" = String, Path, description = "Channel id")),
    responses((status = 204, description = "Removed")))]
async fn remove_channel(
    state: web::Data<AppState>,
    TenantEditing { p, t }: TenantEditing,
    path: web::Path<(String, String)>,
) -> ApiResult {
    let (_, cid) = path.into_inner();
    notifier::remove(state.store(), &p.actor(), &t.id, &cid, store::now_ms()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sends the test notification (the console's "Send test notification"): queued for every
/// enabled channel, or one; its deliveries show in the delivery log.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/notifications/test", tag = "Notifications",
    params(TenantPath),
    request_body = TestRequest,
    responses((status = 200, description = "Queued", body = TestQueued)))]
async fn send_test(
    state: web::Data<AppState>,
    TenantEditing { p, t }: TenantEditing,
    body: web::Json<TestRequest>,
) -> ApiResult {
    let queued = notifier::send_test(
        state.store(),
        &p.actor(),
        &state.config.public_url(),
        &t,
        body.channel_id.as_deref().filter(|c| !c.is_empty()),
        store::now_ms(),
    )
    .await?;
    Ok(json(StatusCode::OK, &TestQueued { queued }))
}

// ------------------------------------------------------------------ delivery log

/// Delivery log page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    /// Cursor: deliveries older than the one with this id (`next_before` of the last page).
    pub before: Option<String>,
    /// At most this many (1 to 500, default 100).
    pub limit: Option<u64>,
}

/// One message to one channel, with its attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    pub id: String,
    /// Epoch ms.
    pub created_at: i64,
    /// e.g. `jobs_failed`, `test`.
    pub event: String,
    pub title: String,
    pub channel_id: String,
    /// `email` or `webhook`.
    pub channel_kind: String,
    /// The channel as shown (a webhook's origin).
    pub channel: String,
    /// `queued`, `retrying`, `sent` or `failed` (given up).
    pub status: String,
    pub attempts: i32,
    /// The last response's status (HTTP, or the SMTP reply code).
    pub status_code: Option<i32>,
    /// The start of the last response.
    pub response: Option<String>,
    pub error: Option<String>,
    /// Epoch ms of the next attempt, while it is retried.
    pub next_attempt_at: Option<i64>,
}

/// A page of the delivery log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryOut>,
    /// Pass as `before` for the next (older) page; none on the last page.
    pub next_before: Option<String>,
}

/// The tenant's delivery log: every message per channel and how its attempts went.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/notifications/deliveries", tag = "Notifications",
    params(TenantPath, DeliveryFilter),
    responses((status = 200, description = "Deliveries", body = DeliveryPage)))]
async fn deliveries(
    state: web::Data<AppState>,
    TenantViewing { t, .. }: TenantViewing,
    q: web::Query<DeliveryFilter>,
) -> ApiResult {
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let before = q.before.as_deref().filter(|b| !b.is_empty());
    let list = state
        .store()
        .list_notify_deliveries_before(&t.id, before, limit)
        .await?;
    let next_before = (list.len() as u64 == limit)
        .then(|| list.last().map(|d| d.id.clone()))
        .flatten();
    let items = list
        .into_iter()
        .map(|d| DeliveryOut {
            status: notifier::delivery_status(&d).into(),
            channel: notifier::shown_address(d.channel_kind, &d.channel_address),
            channel_kind: match d.channel_kind {
                ChannelKind::Email => "email",
                ChannelKind::Webhook => "webhook",
            }
            .into(),
            next_attempt_at: (d.state == store::DeliveryState::Pending)
                .then_some(d.next_attempt_at)
                .flatten(),
            id: d.id,
            created_at: d.created_at,
            event: d.event,
            title: d.title,
            channel_id: d.channel_id,
            attempts: d.attempts,
            status_code: d.status_code,
            response: d.response,
            error: d.error,
        })
        .collect();
    Ok(json(StatusCode::OK, &DeliveryPage { items, next_before }))
}

// ------------------------------------------------------------------ API tokens

/// An admin API token (never its secret or hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenOut {
    pub id: String,
    pub name: String,
    /// The token's first characters, e.g. `sbapi_AbCdEfGh`.
    pub prefix: String,
    /// `platform_admin`, `tenant_admin` or `support`.
    pub role: String,
    /// The one tenant it is narrowed to; none: its owner's whole scope.
    pub tenant_id: Option<String>,
    /// `active`, `revoked` or `expired`.
    pub state: String,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms (recorded at most once a minute).
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn api_token_out(t: ApiToken, now: i64) -> ApiTokenOut {
    ApiTokenOut {
        state: if t.revoked_at.is_some() {
            "revoked"
        } else if t.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
        .into(),
        role: t.role.as_str().into(),
        id: t.id,
        name: t.name,
        prefix: t.prefix,
        tenant_id: t.tenant_id,
        created_at: t.created_at,
        last_used_at: t.last_used_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
    }
}

/// A token to create: owned by the calling token's owner, never wider than the calling token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenCreate {
    /// What uses it (at most 120 characters).
    pub name: String,
    /// `platform_admin`, `tenant_admin` or `support`; default: the calling token's role.
    #[serde(default)]
    pub role: Option<String>,
    /// Narrow it to one tenant (required for a tenant admin token); a token narrowed to a
    /// tenant gives only that tenant.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// 1 to 3650; none: it does not expire (only if the calling token does not either).
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

/// A token just created: `token` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenCreated {
    pub token: String,
    pub api_token: ApiTokenOut,
}

/// The calling token's owner's API tokens, newest first.
#[utoipa::path(get, path = "/api/v1/api-tokens", tag = "API tokens",
    responses((status = 200, description = "Tokens", body = Vec<ApiTokenOut>)))]
async fn list_api_tokens(state: web::Data<AppState>, p: Principal) -> ApiResult {
    let now = store::now_ms();
    let list: Vec<ApiTokenOut> = crate::api_tokens::list(state.store(), &p.owner.id)
        .await?
        .into_iter()
        .map(|t| api_token_out(t, now))
        .collect();
    Ok(json(StatusCode::OK, &list))
}

/// Creates an API token for the calling token's owner; the token is shown this once.
#[utoipa::path(post, path = "/api/v1/api-tokens", tag = "API tokens", request_body = ApiTokenCreate,
    responses((status = 201, description = "Created", body = ApiTokenCreated)))]
async fn create_api_token(
    state: web::Data<AppState>,
    p: Principal,
    body: web::Json<ApiTokenCreate>,
) -> ApiResult {
    let role = match body.role.as_deref().filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => Some(
            crate::staff::parse_role(r)
                .ok_or_else(|| ApiError::Invalid(format!("role: unknown role '{r}'")))?,
        ),
    };
    let request = crate::api_tokens::TokenRequest {
        name: &body.name,
        role,
        tenant: body.tenant_id.as_deref(),
        expires_in_days: body.expires_in_days,
    };
    let now = store::now_ms();
    let issued = crate::api_tokens::create_through(
        state.store(),
        &p,
        &request,
        store::generate_api_token(),
        now,
    )
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &ApiTokenCreated {
            token: issued.token,
            api_token: api_token_out(issued.info, now),
        },
    ))
}

/// Revokes one of the owner's API tokens (this one too); requests with it are refused (401)
/// from now on.
#[utoipa::path(delete, path = "/api/v1/api-tokens/{token_id}", tag = "API tokens",
    params(("token_id" = String, Path, description = "The token's id (not its prefix)")),
    responses((status = 204, description = "Revoked")))]
async fn revoke_api_token(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<String>,
) -> ApiResult {
    crate::api_tokens::revoke(
        state.store(),
        &p.actor(),
        &p.owner.id,
        &path,
        store::now_ms(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// This module's operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_channels,
    add_email,
    add_webhook,
    enable_channel,
    disable_channel,
    remove_channel,
    send_test,
    deliveries,
    list_api_tokens,
    create_api_token,
    revoke_api_token,
))]
pub struct Operations;
