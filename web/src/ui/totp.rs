//! TOTP second factor for staff: the sign-in step after the password, enrolment (QR code,
//! secret, confirmation, recovery codes shown once), disabling, regenerating recovery codes,
//! and where TOTP is required (platform-wide, per tenant).
//!
//! After a correct password, an account with TOTP gets no session but a *pending* cookie
//! (`scb_mfa`: an HS256 JWT with its own key, valid 5 minutes, bound to the password
//! fingerprint); only a valid code or an unused recovery code turns it into a session. Failed
//! codes count toward the sign-in throttle of the email and the address, and a correct password
//! does not reset that count until the second step succeeds (else each password entry would
//! buy five more guesses). A code's step must be newer than the last accepted one, so a code
//! is used once. Staff who must use TOTP and have none get a session whose every page but
//! enrolment redirects to enrolment ([`enrolment_redirect`]).

use super::account::{check_login_csrf, client_ip, login_nonce, verify_password};
use super::guard;
use super::session::password_fingerprint;
use super::view::{Crumb, Flash, Frame};
use super::{Ctx, FormData, UiError, UiResult, html_response, now_secs, safe_next};
use crate::app::AppState;
use crate::totp as otp;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The pending second-step cookie.
pub const PENDING_COOKIE: &str = "scb_mfa";
/// How long the second step may take after the password.
pub const PENDING_TTL_SECS: i64 = 5 * 60;
/// Where staff enrol; the only pages open to staff who must enrol.
pub const ENROL_PATH: &str = "/account/totp";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login/totp", web::get().to(step_form))
        .route("/login/totp", web::post().to(step))
        .route(ENROL_PATH, web::get().to(account_page))
        .route("/account/totp/enable", web::post().to(enable))
        .route("/account/totp/disable", web::post().to(disable))
        .route("/account/totp/recovery", web::post().to(regenerate))
        .route("/security/totp", web::get().to(policy_page))
        .route("/security/totp", web::post().to(set_policy));
}

/// Keys for the pending cookie (derived from the master key, separate from the session key).
pub struct PendingKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    secure: bool,
}

impl std::fmt::Debug for PendingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingKeys(***)")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    sub: String,
    pwv: String,
    exp: i64,
}

impl PendingKeys {
    pub fn new(key: [u8; 32], secure: bool) -> Self {
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            secure,
        }
    }

    /// The pending cookie for `user` at `now`.
    pub fn cookie(&self, user: &store::StaffUser, now: i64) -> Result<Cookie<'static>, UiError> {
        let claims = Pending {
            sub: user.id.clone(),
            pwv: password_fingerprint(&user.password_hash),
            exp: now + PENDING_TTL_SECS,
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| UiError::Internal(format!("cannot sign the pending sign-in: {e}")))?;
        Ok(Cookie::build(PENDING_COOKIE, jwt)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure)
            .max_age(CookieDuration::seconds(PENDING_TTL_SECS))
            .finish())
    }

    fn verify(&self, jwt: &str, now: i64) -> Option<Pending> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.validate_exp = false; // checked against our clock below
        v.required_spec_claims = ["exp", "sub"].iter().map(|s| s.to_string()).collect();
        let p = jsonwebtoken::decode::<Pending>(jwt, &self.decoding, &v)
            .ok()?
            .claims;
        (p.exp > now).then_some(p)
    }

    /// A cookie that removes the pending cookie.
    pub fn clear(&self) -> Cookie<'static> {
        let mut c = Cookie::build(PENDING_COOKIE, "").path("/").finish();
        c.make_removal();
        c
    }
}

/// Whether `user` must use TOTP (operator config, platform setting or their tenant's).
pub async fn required_for(state: &AppState, tenant_id: Option<&str>) -> Result<bool, UiError> {
    Ok(state.config.require_totp || state.store().totp_required(tenant_id).await?)
}

/// For [`Ctx::load`]: where to send a signed-in staff member who must enrol and has not,
/// unless the request is for enrolment or signing out.
pub async fn enrolment_redirect(
    state: &AppState,
    path: &str,
    staff_id: &str,
    tenant_id: Option<&str>,
) -> Result<Option<String>, UiError> {
    if path == ENROL_PATH || path.starts_with("/account/totp/") || path == "/logout" {
        return Ok(None);
    }
    if state.store().totp_enabled(staff_id).await? || !required_for(state, tenant_id).await? {
        return Ok(None);
    }
    Ok(Some(ENROL_PATH.to_string()))
}

// ---- the sign-in step ----

#[derive(Template)]
#[template(path = "ui/totp_login.html")]
struct StepPage {
    csrf: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn step_page(
    state: &AppState,
    req: &HttpRequest,
    next: String,
    error: Option<String>,
    status: StatusCode,
) -> UiResult {
    let nonce = login_nonce(req);
    let page = StepPage {
        csrf: state.ui.keys.csrf_token(&format!("login:{nonce}")),
        next,
        error,
    };
    let body = page
        .render()
        .map_err(|e| UiError::Internal(e.to_string()))?;
    let mut res = html_response(status, body);
    let _ = res.add_cookie(&state.ui.keys.login_cookie(nonce));
    Ok(res)
}

fn back_to_login(message: &str) -> HttpResponse {
    let mut res = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .finish();
    let _ = res.add_cookie(&Flash::success(message).cookie());
    res
}

/// The pending sign-in of this request: the account, if the cookie is valid and still matches.
async fn pending_user(
    req: &HttpRequest,
    state: &AppState,
    now: i64,
) -> Result<Option<store::StaffUser>, UiError> {
    let Some(p) = req
        .cookie(PENDING_COOKIE)
        .and_then(|c| state.ui.pending.verify(c.value(), now))
    else {
        return Ok(None);
    };
    Ok(state
        .store()
        .get_staff_user(&p.sub)
        .await?
        .filter(|u| !u.disabled && password_fingerprint(&u.password_hash) == p.pwv))
}

async fn step_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<NextQuery>,
) -> UiResult {
    if pending_user(&req, &state, now_secs()).await?.is_none() {
        return Ok(back_to_login("Sign in again: the sign-in took too long."));
    }
    step_page(
        &state,
        &req,
        safe_next(q.next.as_deref()),
        None,
        StatusCode::OK,
    )
}

async fn step(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::from_bytes(&body);
    super::check_origin(&req, &state)?;
    check_login_csrf(&req, &state, &form)?;
    let now = now_secs();
    let next = safe_next(form.get("next"));
    let Some(user) = pending_user(&req, &state, now).await? else {
        return Ok(back_to_login("Sign in again: the sign-in took too long."));
    };
    let keys = [
        format!("email:{}", user.email),
        format!("ip:{}", client_ip(&req)),
    ];
    if let Some(wait) = guard::locked_for(state.store(), &keys, now).await? {
        let mins = (wait + 59) / 60;
        return step_page(
            &state,
            &req,
            next,
            Some(format!(
                "Too many failed sign-ins. Try again in {mins} minute{}.",
                if mins == 1 { "" } else { "s" }
            )),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let code = form.text("code");
    let used_recovery = otp::is_recovery_code(&code);
    let ok = if used_recovery {
        state
            .store()
            .use_recovery_code(&user.id, &otp::hash_recovery_code(&code), store::now_ms())
            .await?
    } else {
        check_code(&state, &user.id, &code, now).await?
    };
    if !ok {
        guard::fail(state.store(), &keys, now).await?;
        tracing::info!(ip = %client_ip(&req), "failed second sign-in step");
        return step_page(
            &state,
            &req,
            next,
            Some("That code is not correct, or was used already.".into()),
            StatusCode::UNAUTHORIZED,
        );
    }
    guard::succeed(state.store(), &keys[0]).await?;
    let how = if used_recovery {
        "password and a recovery code"
    } else {
        "password and a two-step code"
    };
    crate::staff::record_sign_in(state.store(), &user, how, store::now_ms()).await?;
    if used_recovery {
        state
            .store()
            .record_audit(store::NewAudit {
                at: store::now_ms(),
                tenant_id: user.tenant_id.clone(),
                actor_id: Some(user.id.clone()),
                actor_email: user.email.clone(),
                action: "staff.totp_recovery_code_used".into(),
                target_kind: "staff_user".into(),
                target_id: Some(user.id.clone()),
                detail: None,
            })
            .await?;
    }
    let (_, jwt) = state.ui.keys.issue(&user, now).map_err(UiError::Internal)?;
    tracing::info!(staff = %user.id, "signed in with a second factor");
    let mut res = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .finish();
    let _ = res.add_cookie(&state.ui.keys.cookie(jwt));
    let _ = res.add_cookie(&state.ui.pending.clear());
    Ok(res)
}

/// Checks a TOTP code of an enabled account and uses its step up (a replay is refused).
async fn check_code(
    state: &AppState,
    staff_id: &str,
    code: &str,
    now: i64,
) -> Result<bool, UiError> {
    let Some(secret) = state.store().totp_secret(staff_id).await? else {
        return Ok(false);
    };
    if !secret.enabled {
        return Ok(false);
    }
    let Some(step) = otp::verify(&secret.secret, code, u64::try_from(now).unwrap_or(0)) else {
        return Ok(false);
    };
    Ok(state.store().accept_totp_step(staff_id, step).await?)
}

// ---- the account page: enrol, disable, regenerate ----

#[derive(Template)]
#[template(path = "ui/totp_account.html")]
struct AccountPage {
    frame: Frame,
    error: Option<String>,
    required: bool,
    /// Enabled: the number of unused recovery codes.
    enabled: bool,
    unused_codes: u64,
    /// Enrolling: the QR code (data URI) and the secret in text.
    qr: String,
    secret: String,
    /// Just issued recovery codes, shown once.
    codes: Vec<String>,
}

impl AccountPage {
    async fn new(ctx: &Ctx) -> Result<Self, UiError> {
        let required = required_for(&ctx.state, ctx.viewer.tenant_id.as_deref()).await?;
        let enabled = ctx.store().totp_enabled(&ctx.viewer.id).await?;
        let unused_codes = if enabled {
            ctx.store().unused_recovery_codes(&ctx.viewer.id).await?
        } else {
            0
        };
        Ok(Self {
            frame: ctx
                .frame(
                    "Two-factor sign-in",
                    "account",
                    None,
                    vec![Crumb::here("Two-factor sign-in")],
                )
                .await?,
            error: None,
            required,
            enabled,
            unused_codes,
            qr: String::new(),
            secret: String::new(),
            codes: vec![],
        })
    }

    /// Starts (or restarts) enrolment: a new pending secret, shown on this page only.
    async fn with_new_secret(mut self, ctx: &Ctx) -> Result<Self, UiError> {
        let secret = otp::new_secret();
        ctx.store()
            .begin_totp_enrolment(&ctx.viewer.id, &secret, store::now_ms())
            .await?;
        self.qr = otp::qr_data_uri(&otp::otpauth_uri(&secret, &ctx.viewer.email))
            .map_err(|e| UiError::Internal(e.to_string()))?;
        self.secret = otp::secret_base32(&secret);
        Ok(self)
    }
}

fn with_status(res: UiResult, status: StatusCode) -> UiResult {
    let mut res = res?;
    *res.status_mut() = status;
    Ok(res)
}

async fn account_page(req: HttpRequest, state: web::Data<AppState>) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let page = AccountPage::new(&ctx).await?;
    let page = if page.enabled {
        page
    } else {
        page.with_new_secret(&ctx).await?
    };
    ctx.render(&page)
}

async fn enable(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let pending = ctx.store().totp_secret(&ctx.viewer.id).await?;
    let now = now_secs();
    let step = match &pending {
        Some(p) if !p.enabled => otp::verify(
            &p.secret,
            &form.text("code"),
            u64::try_from(now).unwrap_or(0),
        ),
        _ => return ctx.redirect(ENROL_PATH, None),
    };
    let Some(step) = step else {
        // Show the same secret again: the person has it in their app already.
        let mut page = AccountPage::new(&ctx).await?;
        if let Some(p) = pending {
            page.qr = otp::qr_data_uri(&otp::otpauth_uri(&p.secret, &ctx.viewer.email))
                .map_err(|e| UiError::Internal(e.to_string()))?;
            page.secret = otp::secret_base32(&p.secret);
        }
        page.error = Some(
            "That code is not correct. Check the time on your phone and enter the current code."
                .into(),
        );
        return with_status(ctx.render(&page), StatusCode::UNPROCESSABLE_ENTITY);
    };
    let codes = otp::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| otp::hash_recovery_code(c)).collect();
    if !ctx
        .store()
        .confirm_totp(&ctx.viewer.id, step, &hashes, store::now_ms())
        .await?
    {
        return ctx.redirect(ENROL_PATH, None);
    }
    ctx.audit(
        ctx.viewer.tenant_id.as_deref(),
        "staff.totp_enable",
        "staff_user",
        Some(&ctx.viewer.id),
        None,
    )
    .await?;
    let mut page = AccountPage::new(&ctx).await?;
    page.codes = codes;
    ctx.render(&page)
}

/// Guesses in a signed-in session count toward the same throttle as sign-ins, so a stolen
/// session cannot try codes (or the password, to disable TOTP) without limit.
async fn throttled(ctx: &Ctx) -> Result<[String; 1], UiError> {
    let keys = [format!("email:{}", ctx.viewer.email)];
    if guard::locked_for(ctx.store(), &keys, now_secs())
        .await?
        .is_some()
    {
        return Err(UiError::Forbidden(
            "Too many failed attempts. Try again in 15 minutes.".into(),
        ));
    }
    Ok(keys)
}

/// Re-checks the viewer's identity for a change: a current TOTP code (or a recovery code).
async fn second_factor_ok(ctx: &Ctx, code: &str) -> Result<bool, UiError> {
    if otp::is_recovery_code(code) {
        return Ok(ctx
            .store()
            .use_recovery_code(
                &ctx.viewer.id,
                &otp::hash_recovery_code(code),
                store::now_ms(),
            )
            .await?);
    }
    check_code(&ctx.state, &ctx.viewer.id, code, now_secs()).await
}

async fn disable(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let keys = throttled(&ctx).await?;
    let user = ctx
        .store()
        .get_staff_user(&ctx.viewer.id)
        .await?
        .ok_or(UiError::NotFound)?;
    let password_ok = verify_password(
        form.get("password").unwrap_or_default(),
        &user.password_hash,
    )
    .await?;
    let ok = password_ok && second_factor_ok(&ctx, &form.text("code")).await?;
    if !ok {
        guard::fail(ctx.store(), &keys, now_secs()).await?;
        let mut page = AccountPage::new(&ctx).await?;
        page.error = Some("The password or the code is not correct.".into());
        return with_status(ctx.render(&page), StatusCode::UNPROCESSABLE_ENTITY);
    }
    ctx.store().delete_totp(&ctx.viewer.id).await?;
    ctx.audit(
        ctx.viewer.tenant_id.as_deref(),
        "staff.totp_disable",
        "staff_user",
        Some(&ctx.viewer.id),
        None,
    )
    .await?;
    let message = if required_for(&ctx.state, ctx.viewer.tenant_id.as_deref()).await? {
        "Two-factor sign-in is off. It is required for your account: set it up again to continue."
    } else {
        "Two-factor sign-in is off."
    };
    ctx.redirect(ENROL_PATH, Some(Flash::success(message)))
}

async fn regenerate(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    if !ctx.store().totp_enabled(&ctx.viewer.id).await? {
        return ctx.redirect(ENROL_PATH, None);
    }
    let keys = throttled(&ctx).await?;
    if !check_code(&ctx.state, &ctx.viewer.id, &form.text("code"), now_secs()).await? {
        guard::fail(ctx.store(), &keys, now_secs()).await?;
        let mut page = AccountPage::new(&ctx).await?;
        page.error = Some("That code is not correct, or was used already.".into());
        return with_status(ctx.render(&page), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let codes = otp::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| otp::hash_recovery_code(c)).collect();
    ctx.store()
        .replace_recovery_codes(&ctx.viewer.id, &hashes)
        .await?;
    ctx.audit(
        ctx.viewer.tenant_id.as_deref(),
        "staff.totp_recovery_codes_regenerate",
        "staff_user",
        Some(&ctx.viewer.id),
        None,
    )
    .await?;
    let mut page = AccountPage::new(&ctx).await?;
    page.codes = codes;
    ctx.render(&page)
}

// ---- where TOTP is required ----

struct TenantRequirement {
    id: String,
    name: String,
    required: bool,
}

#[derive(Template)]
#[template(path = "ui/totp_policy.html")]
struct PolicyPage {
    frame: Frame,
    /// Required by `SCIMBRIDGE_REQUIRE_TOTP` (cannot be changed here).
    by_config: bool,
    platform: bool,
    can_edit_platform: bool,
    tenants: Vec<TenantRequirement>,
}

async fn policy_page(req: HttpRequest, state: web::Data<AppState>) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let v = &ctx.viewer;
    let scopes = ctx.store().totp_required_scopes().await?;
    let tenants = ctx
        .store()
        .list_tenants()
        .await?
        .into_iter()
        .filter(|t| v.can_edit_tenant(&t.id))
        .map(|t| TenantRequirement {
            required: scopes.contains(&t.id),
            id: t.id,
            name: t.name,
        })
        .collect::<Vec<_>>();
    if tenants.is_empty() && !v.is_platform_admin() {
        return Err(UiError::Forbidden(
            "Only admins decide where two-factor sign-in is required.".into(),
        ));
    }
    let frame = ctx
        .frame(
            "Two-factor requirement",
            "security",
            None,
            vec![Crumb::here("Two-factor requirement")],
        )
        .await?;
    ctx.render(&PolicyPage {
        frame,
        by_config: state.config.require_totp,
        platform: scopes.iter().any(|s| s == store::PLATFORM_SCOPE),
        can_edit_platform: v.is_platform_admin(),
        tenants,
    })
}

async fn set_policy(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let scope = form.text("scope");
    let required = form.get("required") == Some("true");
    let tenant_id = if scope == store::PLATFORM_SCOPE {
        if !ctx.viewer.is_platform_admin() {
            return Err(UiError::Forbidden(
                "Only platform admins change the platform-wide requirement.".into(),
            ));
        }
        None
    } else {
        // Not found for a tenant the viewer may not see; forbidden for read-only viewers.
        let t =
            super::integrations::tenant_for(&ctx, &scope, super::integrations::Need::Edit).await?;
        Some(t.id)
    };
    ctx.store()
        .set_totp_required(&scope, required, store::now_ms())
        .await?;
    ctx.audit(
        tenant_id.as_deref(),
        if required {
            "totp.require"
        } else {
            "totp.unrequire"
        },
        if tenant_id.is_some() {
            "tenant"
        } else {
            "platform"
        },
        tenant_id.as_deref(),
        None,
    )
    .await?;
    ctx.redirect(
        "/security/totp",
        Some(Flash::success(if required {
            "Two-factor sign-in is now required there; staff without it enrol at their next page."
        } else {
            "Two-factor sign-in is no longer required there."
        })),
    )
}
