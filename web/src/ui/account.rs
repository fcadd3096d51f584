//! Signing in and out, first-run setup, and changing one's password.

use super::guard;
use super::session::{LOGIN_CSRF_COOKIE, random_token};
use super::view::{Flash, Frame};
use super::{Ctx, FormData, UiError, UiResult, html_response, now_secs, safe_next};
use crate::app::AppState;
use actix_web::cookie::Cookie;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use std::sync::OnceLock;

/// Shortest password accepted (the CLI asks the same).
pub const MIN_PASSWORD_CHARS: usize = 12;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/setup", web::get().to(setup_form))
        .route("/setup", web::post().to(setup))
        .route("/account/set-password", web::get().to(set_password_form))
        .route("/account/set-password", web::post().to(set_password))
        .route("/account/password", web::get().to(password_form))
        .route("/account/password", web::post().to(change_password));
}

/// Sends the signed-in viewer to where their work is.
async fn home(req: HttpRequest, state: web::Data<AppState>) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let to = match &ctx.viewer.tenant_id {
        Some(t) => format!("/t/{t}/integrations"),
        None => match ctx.store().list_tenants().await?.first() {
            Some(t) if ctx.viewer.is_platform_staff() => format!("/t/{}/integrations", t.id),
            _ => "/tenants".into(),
        },
    };
    ctx.redirect(&to, None)
}

#[derive(Template)]
#[template(path = "ui/login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    email: String,
    error: Option<String>,
    info: Option<String>,
    needs_setup: bool,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// The sign-in form. Before a session exists, CSRF is a token bound to a random nonce cookie.
async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<NextQuery>,
) -> UiResult {
    let next = safe_next(q.next.as_deref());
    if Ctx::load(&req, &state).await.is_ok() {
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, next))
            .finish());
    }
    let needs_setup = state.store().count_staff_users().await? == 0;
    let info = Flash::from_request(&req).map(|f| f.message);
    login_page(
        &state,
        &req,
        next,
        String::new(),
        None,
        info,
        needs_setup,
        StatusCode::OK,
    )
}

#[allow(clippy::too_many_arguments, reason = "one page, its fields")]
fn login_page(
    state: &AppState,
    req: &HttpRequest,
    next: String,
    email: String,
    error: Option<String>,
    info: Option<String>,
    needs_setup: bool,
    status: StatusCode,
) -> UiResult {
    let nonce = login_nonce(req);
    let page = LoginPage {
        csrf: state.ui.keys.csrf_token(&format!("login:{nonce}")),
        next,
        email,
        error,
        info,
        needs_setup,
    };
    let body = page
        .render()
        .map_err(|e| UiError::Internal(e.to_string()))?;
    let mut res = html_response(status, body);
    let _ = res.add_cookie(&state.ui.keys.login_cookie(nonce));
    let _ = res.add_cookie(&Flash::clear_cookie());
    Ok(res)
}

/// The pre-session nonce: the request's, or a new one.
pub(super) fn login_nonce(req: &HttpRequest) -> String {
    req.cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() >= 16 && v.len() <= 64)
        .unwrap_or_else(|| random_token(18))
}

/// Checks a pre-session form's CSRF token against the nonce cookie.
pub(super) fn check_login_csrf(
    req: &HttpRequest,
    state: &AppState,
    form: &FormData,
) -> Result<(), UiError> {
    let nonce = req
        .cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .ok_or(UiError::Csrf)?;
    let ok = state.ui.keys.csrf_ok(
        &format!("login:{nonce}"),
        form.get("csrf").unwrap_or_default(),
    );
    if ok { Ok(()) } else { Err(UiError::Csrf) }
}

/// argon2 is CPU-bound: these run it on the blocking pool, off the async workers.
pub async fn hash_password(password: &str) -> Result<String, UiError> {
    let pw = password.to_string();
    web::block(move || crate::password::hash(&pw))
        .await
        .map_err(|e| UiError::Internal(e.to_string()))?
        .map_err(UiError::Internal)
}

/// Checks `password` against a PHC string (see [`hash_password`]).
pub async fn verify_password(password: &str, phc: &str) -> Result<bool, UiError> {
    let (pw, phc) = (password.to_string(), phc.to_string());
    web::block(move || crate::password::verify(&pw, &phc))
        .await
        .map_err(|e| UiError::Internal(e.to_string()))
}

/// A hash to verify against when the email is unknown, so both cases cost the same time.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| crate::password::hash("not-a-real-password").unwrap_or_default())
}

pub(super) fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

async fn login(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::from_bytes(&body);
    super::check_origin(&req, &state)?;
    check_login_csrf(&req, &state, &form)?;
    let email = form.text("email").to_lowercase();
    let password = form.get("password").unwrap_or_default().to_string();
    let next = safe_next(form.get("next"));
    let now = now_secs();
    let keys = [format!("email:{email}"), format!("ip:{}", client_ip(&req))];
    let fail = |msg: String, status| {
        login_page(
            &state,
            &req,
            next.clone(),
            email.clone(),
            Some(msg),
            None,
            false,
            status,
        )
    };
    if let Some(wait) = guard::locked_for(state.store(), &keys, now).await? {
        return fail(
            format!(
                "Too many failed sign-ins. Try again in {} minute{}.",
                (wait + 59) / 60,
                if (wait + 59) / 60 == 1 { "" } else { "s" }
            ),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let user = state.store().find_staff_by_email(&email).await?;
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.as_str())
        .unwrap_or_else(|| dummy_hash());
    let valid = verify_password(&password, phc).await?;
    let user = match user {
        Some(u) if valid && !u.disabled => u,
        Some(u) if valid && u.disabled => {
            return fail(
                "This account is disabled. Ask a platform admin to enable it.".into(),
                StatusCode::FORBIDDEN,
            );
        }
        _ => {
            guard::fail(state.store(), &keys, now).await?;
            tracing::info!(ip = %client_ip(&req), "failed sign-in");
            return fail(
                "The email or password is not correct.".into(),
                StatusCode::UNAUTHORIZED,
            );
        }
    };
    if state.store().totp_enabled(&user.id).await? {
        // The password is right; the session waits for the second factor. The failure count
        // is not reset here, so re-entering the password buys no new code guesses.
        let mut res = HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("/login/totp?next={}", urlencoding::encode(&next)),
            ))
            .finish();
        let _ = res.add_cookie(&state.ui.pending.cookie(&user, now)?);
        return Ok(res);
    }
    guard::succeed(state.store(), &keys[0]).await?;
    crate::staff::record_sign_in(state.store(), &user, "password", store::now_ms()).await?;
    let (_, jwt) = state.ui.keys.issue(&user, now).map_err(UiError::Internal)?;
    tracing::info!(staff = %user.id, "signed in");
    let mut res = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .finish();
    let _ = res.add_cookie(&state.ui.keys.cookie(jwt));
    let mut clear = Cookie::build(LOGIN_CSRF_COOKIE, "").path("/").finish();
    clear.make_removal();
    let _ = res.add_cookie(&clear);
    Ok(res)
}

async fn logout(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let mut res = ctx.redirect("/login", Some(Flash::success("You are signed out.")))?;
    let _ = res.add_cookie(&state.ui.keys.clear_cookie());
    Ok(res)
}

#[derive(Template)]
#[template(path = "ui/setup.html")]
struct SetupPage {
    csrf: String,
    token: String,
    email: String,
    error: Option<String>,
    /// `valid`, `invalid` (bad or expired link) or `done` (an admin exists).
    state: &'static str,
}

#[derive(Deserialize)]
struct SetupQuery {
    token: Option<String>,
}

async fn setup_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<SetupQuery>,
) -> UiResult {
    let token = q.token.clone().unwrap_or_default();
    let page_state = if state.store().count_staff_users().await? > 0 {
        "done"
    } else if guard::check(state.store(), &token, now_secs()).await? {
        "valid"
    } else {
        "invalid"
    };
    let status = if page_state == "valid" {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    setup_page(&state, &req, token, String::new(), None, page_state, status)
}

fn setup_page(
    state: &AppState,
    req: &HttpRequest,
    token: String,
    email: String,
    error: Option<String>,
    page_state: &'static str,
    status: StatusCode,
) -> UiResult {
    let nonce = login_nonce(req);
    let page = SetupPage {
        csrf: state.ui.keys.csrf_token(&format!("login:{nonce}")),
        token,
        email,
        error,
        state: page_state,
    };
    let body = page
        .render()
        .map_err(|e| UiError::Internal(e.to_string()))?;
    let mut res = html_response(status, body);
    let _ = res.add_cookie(&state.ui.keys.login_cookie(nonce));
    Ok(res)
}

/// Checks a new password and its confirmation; the error names the problem.
pub fn check_new_password(password: &str, confirm: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "Choose a password of at least {MIN_PASSWORD_CHARS} characters."
        ));
    }
    if password.len() > 1024 {
        return Err("That password is too long (1024 bytes at most).".into());
    }
    if password != confirm {
        return Err("The two passwords do not match.".into());
    }
    Ok(())
}

/// Checks an email address well enough to catch typos (one rule for the UI and the CLI).
pub fn check_email(email: &str) -> Result<(), String> {
    crate::staff::check_email(email)
}

async fn setup(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::from_bytes(&body);
    super::check_origin(&req, &state)?;
    check_login_csrf(&req, &state, &form)?;
    let token = form.text("token");
    let email = form.text("email").to_lowercase();
    let now = now_secs();
    if state.store().count_staff_users().await? > 0 {
        return setup_page(
            &state,
            &req,
            token,
            email,
            None,
            "done",
            StatusCode::FORBIDDEN,
        );
    }
    if !guard::check(state.store(), &token, now).await? {
        return setup_page(
            &state,
            &req,
            token,
            email,
            None,
            "invalid",
            StatusCode::FORBIDDEN,
        );
    }
    let password = form.get("password").unwrap_or_default();
    let invalid = check_email(&email)
        .and_then(|()| check_new_password(password, form.get("confirm").unwrap_or_default()));
    if let Err(msg) = invalid {
        return setup_page(
            &state,
            &req,
            token,
            email,
            Some(msg),
            "valid",
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    if !guard::consume(state.store(), &token, now).await? {
        return setup_page(
            &state,
            &req,
            token,
            email,
            None,
            "invalid",
            StatusCode::FORBIDDEN,
        );
    }
    let hash = hash_password(password).await?;
    let user = state
        .store()
        .create_staff_user(store::NewStaffUser {
            email: email.clone(),
            password_hash: hash,
            role: store::StaffRole::PlatformAdmin,
            tenant_id: None,
        })
        .await?;
    state
        .store()
        .record_audit(store::NewAudit {
            at: store::now_ms(),
            tenant_id: None,
            actor_id: Some(user.id.clone()),
            actor_email: user.email.clone(),
            action: "setup.first_admin".into(),
            target_kind: "staff_user".into(),
            target_id: Some(user.id.clone()),
            detail: None,
        })
        .await?;
    // Setup signs the first admin in: recorded like any other sign-in.
    crate::staff::record_sign_in(state.store(), &user, "first-run setup", store::now_ms()).await?;
    let (_, jwt) = state.ui.keys.issue(&user, now).map_err(UiError::Internal)?;
    let mut res = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/tenants"))
        .finish();
    let _ = res.add_cookie(&state.ui.keys.cookie(jwt));
    let _ = res.add_cookie(
        &Flash::success("Welcome to scimbridge. Start by creating a tenant for your organisation.")
            .cookie(),
    );
    Ok(res)
}

#[derive(Template)]
#[template(path = "ui/password.html")]
struct PasswordPage {
    frame: Frame,
    error: Option<String>,
}

async fn password_form(req: HttpRequest, state: web::Data<AppState>) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let frame = ctx
        .frame("Change password", "account", None, vec![])
        .await?;
    ctx.render(&PasswordPage { frame, error: None })
}

async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let user = ctx
        .store()
        .get_staff_user(&ctx.viewer.id)
        .await?
        .ok_or(UiError::NotFound)?;
    let current_ok =
        verify_password(form.get("current").unwrap_or_default(), &user.password_hash).await?;
    let problem = if current_ok {
        check_new_password(
            form.get("password").unwrap_or_default(),
            form.get("confirm").unwrap_or_default(),
        )
        .err()
    } else {
        Some("Your current password is not correct.".to_string())
    };
    if let Some(error) = problem {
        let frame = ctx
            .frame("Change password", "account", None, vec![])
            .await?;
        let mut res = ctx.render(&PasswordPage {
            frame,
            error: Some(error),
        })?;
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(res);
    }
    let hash = hash_password(form.get("password").unwrap_or_default()).await?;
    ctx.store().set_staff_password(&user.id, &hash).await?;
    ctx.audit(
        None,
        "staff.password_change",
        "staff_user",
        Some(&user.id),
        None,
    )
    .await?;
    // The old session's fingerprint no longer matches: continue on a fresh one.
    let updated = store::StaffUser {
        password_hash: hash,
        ..user
    };
    let (_, jwt) = state
        .ui
        .keys
        .issue(&updated, now_secs())
        .map_err(UiError::Internal)?;
    let mut res = ctx.redirect(
        "/account/password",
        Some(Flash::success(
            "Password changed. Other sessions of this account are signed out.",
        )),
    )?;
    let _ = res.add_cookie(&state.ui.keys.cookie(jwt));
    Ok(res)
}

// ------------------------------------------------------------------ invitation / reset links

#[derive(Template)]
#[template(path = "ui/set_password.html")]
struct SetPasswordPage {
    csrf: String,
    token: String,
    /// The account's e-mail, while the link is live.
    email: Option<String>,
    invite: bool,
    error: Option<String>,
}

fn set_password_page(
    state: &AppState,
    req: &HttpRequest,
    token: String,
    holder: Option<(&store::StaffUser, store::StaffTokenPurpose)>,
    error: Option<String>,
    status: StatusCode,
) -> UiResult {
    let nonce = login_nonce(req);
    let page = SetPasswordPage {
        csrf: state.ui.keys.csrf_token(&format!("login:{nonce}")),
        token,
        email: holder.map(|(u, _)| u.email.clone()),
        invite: holder.is_some_and(|(_, p)| p == store::StaffTokenPurpose::Invite),
        error,
    };
    let body = page
        .render()
        .map_err(|e| UiError::Internal(e.to_string()))?;
    let mut res = html_response(status, body);
    let _ = res.add_cookie(&state.ui.keys.login_cookie(nonce));
    Ok(res)
}

/// The page an invitation or password-reset link opens.
async fn set_password_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<SetupQuery>,
) -> UiResult {
    let token = q.token.clone().unwrap_or_default();
    let holder = crate::staff::link_holder(state.store(), &token, store::now_ms()).await?;
    let status = if holder.is_some() {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    set_password_page(
        &state,
        &req,
        token,
        holder.as_ref().map(|(u, p)| (u, *p)),
        None,
        status,
    )
}

/// Sets the password a link was for, uses the link up and signs the person in (an account
/// with two-step sign-in signs in as usual instead).
async fn set_password(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::from_bytes(&body);
    super::check_origin(&req, &state)?;
    check_login_csrf(&req, &state, &form)?;
    let token = form.text("token");
    let now_ms = store::now_ms();
    let Some((user, purpose)) = crate::staff::link_holder(state.store(), &token, now_ms).await?
    else {
        return set_password_page(&state, &req, token, None, None, StatusCode::FORBIDDEN);
    };
    let password = form.get("password").unwrap_or_default();
    if let Err(msg) = check_new_password(password, form.get("confirm").unwrap_or_default()) {
        return set_password_page(
            &state,
            &req,
            token,
            Some((&user, purpose)),
            Some(msg),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let hash = hash_password(password).await?;
    let Some(user) = crate::staff::redeem(state.store(), &token, &hash, store::now_ms()).await?
    else {
        // Used or expired between the check and now.
        return set_password_page(&state, &req, token, None, None, StatusCode::FORBIDDEN);
    };
    if state.store().totp_enabled(&user.id).await? {
        let mut res = HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login"))
            .finish();
        let _ = res.add_cookie(
            &Flash::success("Password set. Sign in with it and your two-step code.").cookie(),
        );
        return Ok(res);
    }
    let how = match purpose {
        store::StaffTokenPurpose::Invite => "invitation link",
        store::StaffTokenPurpose::Reset => "password-reset link",
    };
    crate::staff::record_sign_in(state.store(), &user, how, store::now_ms()).await?;
    let (_, jwt) = state
        .ui
        .keys
        .issue(&user, now_secs())
        .map_err(UiError::Internal)?;
    let mut res = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .finish();
    let _ = res.add_cookie(&state.ui.keys.cookie(jwt));
    let _ = res.add_cookie(
        &Flash::success(format!(
            "Password set. You are signed in as {}.",
            user.email
        ))
        .cookie(),
    );
    Ok(res)
}
