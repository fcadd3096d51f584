//! The tenant's "Notifications" page: e-mail recipients and webhooks (a webhook's signing
//! secret is shown once, when it is added), enable/disable, remove, "Send test
//! notification", and the delivery log with every attempt's outcome. Tenant and platform
//! admins edit; support reads. The decisions live in `crate::notifier`.

use super::integrations::{Need, tenant_for};
use super::view::{Flash, Frame, When};
use super::{Ctx, FormData, UiError, UiResult};
use crate::app::AppState;
use crate::notifier::{self, NotifyError};
use actix_web::{HttpRequest, web};
use askama::Template;
use store::{ChannelKind, DeliveryState, Tenant};

/// Rows of the delivery log shown.
const LOG_ROWS: u64 = 100;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/t/{tid}/notifications", web::get().to(page))
        .route("/t/{tid}/notifications/email", web::post().to(add_email))
        .route(
            "/t/{tid}/notifications/webhook",
            web::post().to(add_webhook),
        )
        .route("/t/{tid}/notifications/test", web::post().to(send_test))
        .route(
            "/t/{tid}/notifications/{cid}/enabled",
            web::post().to(set_enabled),
        )
        .route(
            "/t/{tid}/notifications/{cid}/delete",
            web::post().to(delete),
        );
}

struct ChannelRow {
    id: String,
    kind: &'static str,
    address: String,
    enabled: bool,
    created: When,
}

struct DeliveryRow {
    when: When,
    event: &'static str,
    title: String,
    channel: String,
    attempts: i32,
    state: &'static str,
    status_code: Option<i32>,
    response: Option<String>,
    error: Option<String>,
    next_attempt: Option<When>,
}

#[derive(Template)]
#[template(path = "ui/notifications.html")]
struct NotificationsPage {
    frame: Frame,
    tenant_id: String,
    can_edit: bool,
    smtp_configured: bool,
    has_email: bool,
    channels: Vec<ChannelRow>,
    /// The webhook just added and its secret, shown this once.
    new_secret: Option<(String, String)>,
    deliveries: Vec<DeliveryRow>,
    /// A refused form: which one (`email` or `webhook`), what was typed, why.
    refused: Option<Refused>,
}

/// A form the page shows again with its error next to the field.
struct Refused {
    form: &'static str,
    value: String,
    error: String,
}

impl NotificationsPage {
    fn error_for(&self, form: &str) -> Option<&str> {
        self.refused
            .as_ref()
            .filter(|r| r.form == form)
            .map(|r| r.error.as_str())
    }

    fn value_for(&self, form: &str) -> &str {
        self.refused
            .as_ref()
            .filter(|r| r.form == form)
            .map_or("", |r| r.value.as_str())
    }
}

async fn render(ctx: &Ctx, tenant: &Tenant, new_secret: Option<(String, String)>) -> UiResult {
    render_with(ctx, tenant, new_secret, None).await
}

async fn render_with(
    ctx: &Ctx,
    tenant: &Tenant,
    new_secret: Option<(String, String)>,
    refused: Option<Refused>,
) -> UiResult {
    let store = ctx.store();
    let channels: Vec<ChannelRow> = store
        .list_notify_channels(&tenant.id)
        .await?
        .into_iter()
        .map(|c| ChannelRow {
            id: c.id,
            kind: match c.kind {
                ChannelKind::Email => "E-mail",
                ChannelKind::Webhook => "Webhook",
            },
            address: notifier::shown_address(c.kind, &c.address),
            enabled: c.enabled,
            created: When::from_ms(c.created_at),
        })
        .collect();
    let deliveries = store
        .list_notify_deliveries(&tenant.id, LOG_ROWS)
        .await?
        .into_iter()
        .map(|d| DeliveryRow {
            state: notifier::delivery_status(&d),
            when: When::from_ms(d.created_at),
            event: notifier::event_label(&d.event),
            title: d.title,
            channel: notifier::shown_address(d.channel_kind, &d.channel_address),
            attempts: d.attempts,
            status_code: d.status_code,
            response: d.response,
            error: d.error,
            next_attempt: (d.state == DeliveryState::Pending)
                .then_some(d.next_attempt_at)
                .flatten()
                .map(When::from_ms),
        })
        .collect();
    let frame = ctx
        .frame("Notifications", "notifications", Some(tenant), vec![])
        .await?;
    ctx.render(&NotificationsPage {
        frame,
        tenant_id: tenant.id.clone(),
        can_edit: ctx.viewer.can_edit_tenant(&tenant.id),
        smtp_configured: notifier::Settings::from_config(&ctx.state.config).smtp_configured(),
        has_email: channels.iter().any(|c| c.kind == "E-mail"),
        channels,
        new_secret,
        deliveries,
        refused,
    })
}

async fn page(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let tenant = tenant_for(&ctx, &path, Need::View).await?;
    render(&ctx, &tenant, None).await
}

/// Loads a POST for an editor of the tenant.
async fn editor(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    tid: &str,
    form: &FormData,
) -> Result<(Ctx, Tenant), UiError> {
    let ctx = Ctx::load_post(req, state, form).await?;
    let tenant = tenant_for(&ctx, tid, Need::Edit).await?;
    Ok((ctx, tenant))
}

fn back(tid: &str) -> String {
    format!("/t/{tid}/notifications")
}

/// Invalid input goes back to the page as a message; a channel of another tenant is 404.
fn refused(ctx: &Ctx, tid: &str, e: NotifyError) -> UiResult {
    match e {
        NotifyError::Invalid(m) => ctx.redirect(&back(tid), Some(Flash::error(m))),
        NotifyError::NotFound => Err(UiError::NotFound),
        NotifyError::Store(e) => Err(e.into()),
    }
}

/// A refused add form: the page again (422) with the error next to the field.
async fn refused_form(
    ctx: &Ctx,
    tenant: &Tenant,
    form: &'static str,
    value: String,
    e: NotifyError,
) -> UiResult {
    match e {
        NotifyError::Invalid(error) => {
            let mut res =
                render_with(ctx, tenant, None, Some(Refused { form, value, error })).await?;
            *res.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(res)
        }
        e => refused(ctx, &tenant.id, e),
    }
}

async fn add_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let (ctx, tenant) = editor(&req, &state, &path, &form).await?;
    let address = form.text("address");
    let added = notifier::add_email(
        ctx.store(),
        &ctx.actor(),
        &tenant.id,
        &address,
        store::now_ms(),
    )
    .await;
    match added {
        Ok(c) => {
            let msg = format!("{} will receive notifications.", c.address);
            ctx.redirect(&back(&tenant.id), Some(Flash::success(msg)))
        }
        Err(e) => refused_form(&ctx, &tenant, "email", address, e).await,
    }
}

async fn add_webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let (ctx, tenant) = editor(&req, &state, &path, &form).await?;
    let policy = notifier::Settings::from_config(&state.config).policy;
    let url = form.text("url");
    let added = notifier::add_webhook(
        ctx.store(),
        &ctx.actor(),
        policy,
        &tenant.id,
        &url,
        store::now_ms(),
    )
    .await;
    match added {
        Ok((c, secret)) => {
            // Rendered, not redirected: the secret travels in this response only.
            render(
                &ctx,
                &tenant,
                Some((notifier::shown_address(c.kind, &c.address), secret)),
            )
            .await
        }
        Err(e) => refused_form(&ctx, &tenant, "webhook", url, e).await,
    }
}

async fn send_test(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let (ctx, tenant) = editor(&req, &state, &path, &form).await?;
    let channel = Some(form.text("channel")).filter(|c| !c.is_empty());
    let public_url = state.config.public_url();
    let queued = match notifier::send_test(
        ctx.store(),
        &ctx.actor(),
        &public_url,
        &tenant,
        channel.as_deref(),
        store::now_ms(),
    )
    .await
    {
        Ok(n) => n,
        Err(e) => return refused(&ctx, &tenant.id, e),
    };
    let flash = if queued == 0 {
        Flash::error("There is no enabled channel to send to: add a recipient or webhook first.")
    } else {
        Flash::success(format!(
            "Test notification queued for {queued} channel{}: its delivery shows in the log below.",
            if queued == 1 { "" } else { "s" }
        ))
    };
    ctx.redirect(&back(&tenant.id), Some(flash))
}

async fn set_enabled(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let (tid, cid) = path.into_inner();
    let (ctx, tenant) = editor(&req, &state, &tid, &form).await?;
    let enabled = form.text("enabled") == "true";
    let channel = match notifier::set_enabled(
        ctx.store(),
        &ctx.actor(),
        &tenant.id,
        &cid,
        enabled,
        store::now_ms(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return refused(&ctx, &tenant.id, e),
    };
    let msg = format!(
        "{} {}.",
        notifier::shown_address(channel.kind, &channel.address),
        if enabled { "enabled" } else { "disabled" }
    );
    ctx.redirect(&back(&tenant.id), Some(Flash::success(msg)))
}

async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let (tid, cid) = path.into_inner();
    let (ctx, tenant) = editor(&req, &state, &tid, &form).await?;
    let channel = match notifier::remove(
        ctx.store(),
        &ctx.actor(),
        &tenant.id,
        &cid,
        store::now_ms(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return refused(&ctx, &tenant.id, e),
    };
    let msg = format!(
        "{} removed.",
        notifier::shown_address(channel.kind, &channel.address)
    );
    ctx.redirect(&back(&tenant.id), Some(Flash::success(msg)))
}
