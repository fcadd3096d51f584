//! The admin web UI: server-rendered askama pages (templates in `templates/`), plain forms
//! enhanced with htmx, static assets compiled into the binary.
//!
//! Every handler starts with [`Ctx::load`] (GET) or [`Ctx::load_post`] (state-changing POST, which
//! also checks the CSRF token and the `Origin` header), then checks tenant access through the
//! [`session::Viewer`]. Data of a tenant the viewer may not see is reported as "not found", so
//! URLs reveal nothing about other tenants.

mod account;
mod admin;
mod api_tokens;
mod assets;
mod audit;
mod audit_text;
mod chart;
mod error;
mod extensions;
mod form;
pub mod guard;
mod integrations;
pub mod logs;
mod notifications;
mod reconcile;
pub mod session;
mod time_window;
mod totp;
mod view;
mod wizard;

use crate::app::AppState;
use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
pub use error::{UiError, keep_the_shell};
pub use form::FormData;
use session::{SESSION_COOKIE, SessionKeys, Viewer};
use std::sync::Arc;
use store::Store;

/// Result of a UI handler.
pub type UiResult = Result<HttpResponse, UiError>;

/// UI-wide state: the session keys (the sign-in guards live in the database, see `guard`).
#[derive(Debug)]
pub struct UiState {
    pub keys: SessionKeys,
    /// Signs the pending cookie between the password and the TOTP code.
    pub pending: totp::PendingKeys,
}

impl UiState {
    /// Keys derived from the master key; cookies are `Secure` when the public URL is https.
    pub fn new(master_key: &store::MasterKey, public_url: &str) -> Arc<Self> {
        Arc::new(Self {
            keys: SessionKeys::new(
                master_key.derive("ui-session"),
                master_key.derive("ui-csrf"),
                public_url.starts_with("https://"),
            ),
            pending: totp::PendingKeys::new(
                master_key.derive("ui-totp-pending"),
                public_url.starts_with("https://"),
            ),
        })
    }
}

/// Registers the UI routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    assets::configure(cfg);
    account::configure(cfg);
    totp::configure(cfg);
    admin::configure(cfg);
    api_tokens::configure(cfg);
    audit::configure(cfg);
    // Before `integrations`: `/t/{tid}/integrations/new` must not match `…/{iid}`.
    wizard::configure(cfg);
    extensions::configure(cfg);
    integrations::configure(cfg);
    reconcile::configure(cfg);
    logs::configure(cfg);
    notifications::configure(cfg);
}

/// Current time in epoch seconds.
fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The signed-in request: who it is and the cookies the response must carry.
pub struct Ctx {
    pub viewer: Viewer,
    pub state: web::Data<AppState>,
    /// The session id (the CSRF token derives from it).
    sid: String,
    /// A renewed session cookie, when the idle window was half used.
    renewed: Option<Cookie<'static>>,
    /// The flash message read from the request (cleared by the response).
    flash: Option<view::Flash>,
    /// The tenant the switcher last chose (cookie), for pages outside a tenant.
    remembered: Option<String>,
    /// The tenant this page is about, remembered for the next page outside a tenant.
    chosen: std::cell::RefCell<Option<String>>,
}

/// Name of the cookie that remembers the tenant in context (an id, not a secret: access is
/// checked on every page).
const TENANT_COOKIE: &str = "scb_tenant";

impl Ctx {
    /// The signed-in staff member, or [`UiError::SignIn`] to send them to the sign-in page.
    pub async fn load(req: &HttpRequest, state: &web::Data<AppState>) -> Result<Self, UiError> {
        let sign_in = || UiError::SignIn(next_target(req));
        let ui = &state.ui;
        let now = now_secs();
        let claims = req
            .cookie(SESSION_COOKIE)
            .and_then(|c| ui.keys.verify(c.value(), now))
            .ok_or_else(sign_in)?;
        let user = state
            .store()
            .get_staff_user(&claims.sub)
            .await?
            .filter(|u| !u.disabled)
            .filter(|u| session::password_fingerprint(&u.password_hash) == claims.pwv)
            .ok_or_else(sign_in)?;
        // Staff who must use TOTP and have none can do nothing but enrol.
        if let Some(to) =
            totp::enrolment_redirect(state, req.path(), &user.id, user.tenant_id.as_deref()).await?
        {
            return Err(UiError::Redirect(to));
        }
        let renewed = if SessionKeys::wants_renewal(&claims, now) {
            Some(
                ui.keys
                    .cookie(ui.keys.renew(&claims, now).map_err(UiError::Internal)?),
            )
        } else {
            None
        };
        Ok(Self {
            viewer: Viewer {
                csrf: ui.keys.csrf_token(&claims.sid),
                id: user.id,
                email: user.email,
                role: user.role,
                tenant_id: user.tenant_id,
            },
            state: state.clone(),
            sid: claims.sid,
            renewed,
            flash: view::Flash::from_request(req),
            remembered: req
                .cookie(TENANT_COOKIE)
                .map(|c| c.value().to_owned())
                .filter(|v| !v.is_empty() && v.len() <= 64),
            chosen: std::cell::RefCell::new(None),
        })
    }

    /// Like [`Ctx::load`] for a state-changing request: the form's `csrf` field (or the
    /// `X-CSRF-Token` header htmx sends) must match the session, and a cross-site `Origin` is
    /// refused.
    pub async fn load_post(
        req: &HttpRequest,
        state: &web::Data<AppState>,
        form: &FormData,
    ) -> Result<Self, UiError> {
        check_origin(req, state)?;
        let ctx = Self::load(req, state).await?;
        let submitted = form
            .get("csrf")
            .or_else(|| {
                req.headers()
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
            })
            .unwrap_or_default();
        if !state.ui.keys.csrf_ok(&ctx.sid, submitted) {
            return Err(UiError::Csrf);
        }
        Ok(ctx)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.state.store()
    }

    /// Renders a page with the response cookies of this request.
    pub fn render<T: Template>(&self, page: &T) -> UiResult {
        let body = page
            .render()
            .map_err(|e| UiError::Internal(format!("template: {e}")))?;
        let mut res = html_response(actix_web::http::StatusCode::OK, body);
        self.attach(&mut res);
        Ok(res)
    }

    /// A 303 redirect to `to`, with an optional flash message for the next page.
    pub fn redirect(&self, to: &str, flash: Option<view::Flash>) -> UiResult {
        let mut res = HttpResponse::SeeOther()
            .insert_header((header::LOCATION, to))
            .finish();
        self.attach(&mut res);
        if let Some(f) = flash {
            let _ = res.add_cookie(&f.cookie());
        }
        Ok(res)
    }

    fn attach(&self, res: &mut HttpResponse) {
        if let Some(c) = &self.renewed {
            let _ = res.add_cookie(c);
        }
        if let Some(t) = self.chosen.borrow().as_ref()
            && self.remembered.as_ref() != Some(t)
        {
            let c = Cookie::build(TENANT_COOKIE, t.clone())
                .path("/")
                .http_only(true)
                .same_site(actix_web::cookie::SameSite::Strict)
                .finish();
            let _ = res.add_cookie(&c);
        }
        if self.flash.is_some() {
            let _ = res.add_cookie(&view::Flash::clear_cookie());
        }
    }

    /// The tenant the switcher chose last, if any (the frame checks access).
    pub fn remembered_tenant(&self) -> Option<&str> {
        self.remembered.as_deref()
    }

    /// Remembers `tenant_id` as the tenant in context.
    pub fn remember_tenant(&self, tenant_id: &str) {
        *self.chosen.borrow_mut() = Some(tenant_id.to_owned());
    }

    /// The flash message for this page, if any.
    pub fn flash(&self) -> Option<view::Flash> {
        self.flash.clone()
    }

    /// The viewer as the actor of an application service (`manage`, `staff`, `api_tokens`).
    pub fn actor(&self) -> crate::staff::Actor {
        let v = &self.viewer;
        crate::staff::Actor::staff(&v.id, &v.email, v.role, v.tenant_id.as_deref())
    }

    /// Records an audit entry for an action of the viewer.
    pub async fn audit(
        &self,
        tenant_id: Option<&str>,
        action: &str,
        target_kind: &str,
        target_id: Option<&str>,
        detail: Option<serde_json::Value>,
    ) -> Result<(), UiError> {
        self.store()
            .record_audit(store::NewAudit {
                at: store::now_ms(),
                tenant_id: tenant_id.map(str::to_string),
                actor_id: Some(self.viewer.id.clone()),
                actor_email: self.viewer.email.clone(),
                action: action.to_string(),
                target_kind: target_kind.to_string(),
                target_id: target_id.map(str::to_string),
                detail: detail.map(|d| d.to_string()),
            })
            .await?;
        Ok(())
    }
}

/// An HTML response with the UI's security headers.
pub fn html_response(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("X-Frame-Options", "DENY"))
        // `same-origin`, not `no-referrer`: with no-referrer, browsers send `Origin: null` on our own
        // form posts, which the Origin check must refuse.
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ))
        .body(body)
}

/// Where to return after signing in: the requested path, for GETs only.
fn next_target(req: &HttpRequest) -> String {
    if req.method() == actix_web::http::Method::GET {
        req.uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into())
    } else {
        "/".into()
    }
}

/// A `next` parameter is only followed to a local path (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

/// Refuses a state-changing request whose `Origin` names another site.
fn check_origin(req: &HttpRequest, state: &web::Data<AppState>) -> Result<(), UiError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(()); // Older clients send none; the CSRF token still protects.
    };
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    let public = state.config.public_url();
    let info = req.connection_info();
    let same_host = format!("{}://{}", info.scheme(), info.host());
    if origin == public || origin == same_host {
        Ok(())
    } else {
        Err(UiError::Csrf)
    }
}
