//! Platform pages: tenants and staff accounts, and the tenant switcher.

use super::session::role_label;
use super::view::{Flash, Frame, When};
use super::{Ctx, FormData, UiError, UiResult};
use crate::app::AppState;
use crate::staff::{self, Actor, Link, NewStaff, StaffError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use serde::Deserialize;
use store::{StaffRole, StaffTokenPurpose};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/switch", web::get().to(switch))
        .route("/tenants", web::get().to(tenants))
        .route("/tenants", web::post().to(create_tenant))
        .route("/staff", web::get().to(staff))
        .route("/staff", web::post().to(invite_staff))
        .route("/staff/{id}/status", web::post().to(set_staff_status))
        .route("/staff/{id}/role", web::post().to(change_staff_role))
        .route("/staff/{id}/link", web::post().to(send_staff_link))
        .route("/staff/{id}/remove", web::post().to(remove_staff));
}

#[derive(Deserialize)]
struct SwitchQuery {
    tenant: Option<String>,
}

/// The tenant switcher's target (a GET form, so it works without JavaScript).
async fn switch(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<SwitchQuery>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    match q.tenant.as_deref().filter(|t| !t.is_empty()) {
        Some(t) if ctx.viewer.can_view_tenant(t) => {
            ctx.redirect(&format!("/t/{t}/integrations"), None)
        }
        _ => ctx.redirect("/", None),
    }
}

struct TenantRow {
    id: String,
    name: String,
    integrations: usize,
    created: When,
}

#[derive(Template)]
#[template(path = "ui/tenants.html")]
struct TenantsPage {
    frame: Frame,
    rows: Vec<TenantRow>,
    can_create: bool,
    name: String,
    error: Option<String>,
}

async fn tenants_page(ctx: &Ctx, name: String, error: Option<String>) -> UiResult {
    if !ctx.viewer.is_platform_staff() {
        return Err(UiError::NotFound);
    }
    let mut rows = Vec::new();
    for t in ctx.store().list_tenants().await? {
        rows.push(TenantRow {
            integrations: ctx.store().list_integrations(&t.id).await?.len(),
            created: When::from_ms(t.created_at),
            id: t.id,
            name: t.name,
        });
    }
    let frame = ctx.frame("Tenants", "tenants", None, vec![]).await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut res = ctx.render(&TenantsPage {
        frame,
        rows,
        can_create: ctx.viewer.is_platform_admin(),
        name,
        error,
    })?;
    *res.status_mut() = status;
    Ok(res)
}

async fn tenants(req: HttpRequest, state: web::Data<AppState>) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    tenants_page(&ctx, String::new(), None).await
}

async fn create_tenant(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    if !ctx.viewer.is_platform_admin() {
        return Err(UiError::Forbidden(
            "Only platform admins create tenants.".into(),
        ));
    }
    let name = form.text("name");
    if let Err(error) = crate::manage::check_tenant_name(&name) {
        return tenants_page(&ctx, name, Some(error)).await;
    }
    let t = crate::manage::create_tenant(ctx.store(), &ctx.actor(), &name, store::now_ms()).await?;
    ctx.redirect(
        &format!("/t/{}/integrations", t.id),
        Some(Flash::success(format!(
            "Tenant \"{}\" created. Add its first integration.",
            t.name
        ))),
    )
}

/// One staff account as the Staff page lists it.
struct StaffRow {
    id: String,
    email: String,
    role: &'static str,
    role_value: &'static str,
    tenant: String,
    tenant_id: String,
    last_login: Option<When>,
    /// (badge class, text): active, disabled, invited, invitation expired.
    state: (&'static str, &'static str),
    disabled: bool,
    is_self: bool,
    /// "Send a new invitation link" or "Make a password-reset link".
    link_label: &'static str,
}

struct TenantOption {
    id: String,
    name: String,
}

struct RoleOption {
    value: &'static str,
    label: &'static str,
}

/// The one-time link just made, shown once.
struct ShownLink {
    email: String,
    url: String,
    invite: bool,
    expires: String,
}

#[derive(Template)]
#[template(path = "ui/staff.html")]
struct StaffPage {
    frame: Frame,
    rows: Vec<StaffRow>,
    tenants: Vec<TenantOption>,
    roles: Vec<RoleOption>,
    /// A tenant admin invites into their own tenant only.
    choose_tenant: bool,
    email: String,
    role: String,
    tenant: String,
    error: Option<String>,
    link: Option<ShownLink>,
}

fn actor(ctx: &Ctx) -> Actor {
    let v = &ctx.viewer;
    Actor::staff(&v.id, &v.email, v.role, v.tenant_id.as_deref())
}

fn role_help(role: StaffRole) -> &'static str {
    match role {
        StaffRole::TenantAdmin => "Tenant admin: manages one tenant's integrations",
        StaffRole::Support => "Support: reads every tenant, can retry failed jobs",
        StaffRole::PlatformAdmin => "Platform admin: everything",
    }
}

/// The page; `form` refills the invitation form, `error` explains what was wrong with it.
async fn staff_page(
    ctx: &Ctx,
    form: Option<&FormData>,
    error: Option<String>,
    link: Option<&Link>,
    status: StatusCode,
) -> UiResult {
    let me = actor(ctx);
    if !staff::manages_staff(&me) {
        return Err(UiError::NotFound);
    }
    let tenants: Vec<TenantOption> = ctx
        .store()
        .list_tenants()
        .await?
        .into_iter()
        .filter(|t| {
            me.role == Some(StaffRole::PlatformAdmin) || Some(&t.id) == me.tenant_id.as_ref()
        })
        .map(|t| TenantOption {
            id: t.id,
            name: t.name,
        })
        .collect();
    let tenant_name = |id: &Option<String>| {
        id.as_ref()
            .map(|id| {
                tenants
                    .iter()
                    .find(|t| &t.id == id)
                    .map(|t| t.name.clone())
                    .unwrap_or_else(|| id.clone())
            })
            .unwrap_or_else(|| "All tenants".into())
    };
    let now = store::now_ms();
    let live = ctx.store().live_staff_tokens(now).await?;
    let rows = ctx
        .store()
        .list_staff_users()
        .await?
        .into_iter()
        .filter(|u| staff::may_manage(&me, u))
        .map(|u| {
            let invited = live
                .iter()
                .any(|(id, p)| id == &u.id && *p == StaffTokenPurpose::Invite);
            let state = match (u.disabled, u.has_password(), invited) {
                (true, _, _) => ("error", "Disabled"),
                (false, true, _) => ("success", "Active"),
                (false, false, true) => ("info", "Invited"),
                (false, false, false) => ("warning", "Invitation expired"),
            };
            StaffRow {
                tenant: tenant_name(&u.tenant_id),
                tenant_id: u.tenant_id.clone().unwrap_or_default(),
                is_self: u.id == ctx.viewer.id,
                link_label: if u.has_password() {
                    "Make a password-reset link"
                } else {
                    "Make a new invitation link"
                },
                id: u.id,
                email: u.email,
                role: role_label(u.role),
                role_value: u.role.as_str(),
                last_login: When::opt(u.last_login_at),
                state,
                disabled: u.disabled,
            }
        })
        .collect();
    let frame = ctx.frame("Staff", "staff", None, vec![]).await?;
    let choose_tenant = me.role == Some(StaffRole::PlatformAdmin);
    let mut res = ctx.render(&StaffPage {
        frame,
        rows,
        roles: staff::grantable(&me)
            .iter()
            .map(|r| RoleOption {
                value: r.as_str(),
                label: role_help(*r),
            })
            .collect(),
        choose_tenant,
        tenants,
        email: form.map(|f| f.text("email")).unwrap_or_default(),
        role: form
            .map(|f| f.text("role"))
            .unwrap_or_else(|| "tenant_admin".into()),
        tenant: form.map(|f| f.text("tenant")).unwrap_or_default(),
        error,
        link: link.map(|l| ShownLink {
            email: l.user.email.clone(),
            url: l.url(&ctx.state.config.public_url()),
            invite: l.purpose == StaffTokenPurpose::Invite,
            expires: When::from_ms(l.expires_at).exact,
        }),
    })?;
    *res.status_mut() = status;
    Ok(res)
}

async fn staff(req: HttpRequest, state: web::Data<AppState>) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    staff_page(&ctx, None, None, None, StatusCode::OK).await
}

/// After a row action: back to the list with what happened, or why not.
fn after_action(ctx: &Ctx, done: Result<String, StaffError>) -> UiResult {
    match done {
        Ok(msg) => ctx.redirect("/staff", Some(Flash::success(msg))),
        Err(StaffError::Invalid(why)) => ctx.redirect("/staff", Some(Flash::error(why))),
        Err(other) => Err(other.into()),
    }
}

/// Invites someone: the account waits for its holder to set a password through the link,
/// which this answer shows once.
async fn invite_staff(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    if !staff::manages_staff(&actor(&ctx)) {
        return Err(UiError::NotFound);
    }
    let email = form.text("email");
    let tenant = form.text("tenant");
    let new = NewStaff {
        email: &email,
        role: staff::parse_role(&form.text("role")),
        tenant: Some(tenant.as_str()),
    };
    let token = super::session::random_token(18);
    match staff::invite(ctx.store(), &actor(&ctx), &new, token, store::now_ms()).await {
        Ok(link) => staff_page(&ctx, None, None, Some(&link), StatusCode::OK).await,
        Err(StaffError::Invalid(why)) => {
            staff_page(
                &ctx,
                Some(&form),
                Some(why),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn set_staff_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let disable = form.text("action") == "disable";
    let done = staff::set_disabled(ctx.store(), &actor(&ctx), &path, disable, store::now_ms())
        .await
        .map(|u| {
            if disable {
                format!("{} is disabled and signed out.", u.email)
            } else {
                format!("{} can sign in again.", u.email)
            }
        });
    after_action(&ctx, done)
}

async fn change_staff_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let tenant = form.text("tenant");
    let done = staff::change_role(
        ctx.store(),
        &actor(&ctx),
        &path,
        staff::parse_role(&form.text("role")),
        Some(tenant.as_str()),
        store::now_ms(),
    )
    .await
    .map(|(before, after)| {
        format!(
            "{} is now {} (was {}).",
            after.email,
            role_label(after.role),
            role_label(before.role)
        )
    });
    after_action(&ctx, done)
}

/// Makes a password-reset link (or a new invitation link) and shows it once.
async fn send_staff_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let token = super::session::random_token(18);
    match staff::send_link(ctx.store(), &actor(&ctx), &path, token, store::now_ms()).await {
        Ok(link) => staff_page(&ctx, None, None, Some(&link), StatusCode::OK).await,
        Err(e) => after_action(&ctx, Err(e)),
    }
}

async fn remove_staff(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let done = staff::remove(ctx.store(), &actor(&ctx), &path, store::now_ms())
        .await
        .map(|u| format!("{}'s account is removed.", u.email));
    after_action(&ctx, done)
}
