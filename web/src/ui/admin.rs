//! Platform pages: tenants and staff accounts, and the tenant switcher.

use super::account::{check_email, check_new_password};
use super::session::role_label;
use super::view::{Flash, Frame, When};
use super::{Ctx, FormData, UiError, UiResult};
use crate::app::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use serde::Deserialize;
use store::StaffRole;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/switch", web::get().to(switch))
        .route("/tenants", web::get().to(tenants))
        .route("/tenants", web::post().to(create_tenant))
        .route("/staff", web::get().to(staff))
        .route("/staff", web::post().to(create_staff))
        .route("/staff/{id}/status", web::post().to(set_staff_status));
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
    let error = if name.is_empty() {
        Some("Enter the tenant's name, e.g. the customer's company name.".to_string())
    } else if name.chars().count() > 120 {
        Some("Keep the name under 120 characters.".to_string())
    } else {
        None
    };
    if error.is_some() {
        return tenants_page(&ctx, name, error).await;
    }
    let t = ctx.store().create_tenant(&name).await?;
    ctx.audit(
        Some(&t.id),
        "tenant.create",
        "tenant",
        Some(&t.id),
        Some(serde_json::json!({"name": t.name})),
    )
    .await?;
    ctx.redirect(
        &format!("/t/{}/integrations", t.id),
        Some(Flash::success(format!(
            "Tenant \"{}\" created. Add its first integration.",
            t.name
        ))),
    )
}

struct StaffRow {
    id: String,
    email: String,
    role: &'static str,
    tenant: String,
    last_login: Option<When>,
    disabled: bool,
    is_self: bool,
}

struct TenantOption {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "ui/staff.html")]
struct StaffPage {
    frame: Frame,
    rows: Vec<StaffRow>,
    tenants: Vec<TenantOption>,
    email: String,
    role: String,
    tenant: String,
    error: Option<String>,
}

async fn staff_page(ctx: &Ctx, form: Option<&FormData>, error: Option<String>) -> UiResult {
    if !ctx.viewer.is_platform_admin() {
        return Err(UiError::NotFound);
    }
    let tenants: Vec<TenantOption> = ctx
        .store()
        .list_tenants()
        .await?
        .into_iter()
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
    let rows = ctx
        .store()
        .list_staff_users()
        .await?
        .into_iter()
        .map(|u| StaffRow {
            tenant: tenant_name(&u.tenant_id),
            is_self: u.id == ctx.viewer.id,
            id: u.id,
            email: u.email,
            role: role_label(u.role),
            last_login: When::opt(u.last_login_at),
            disabled: u.disabled,
        })
        .collect();
    let frame = ctx.frame("Staff", "staff", None, vec![]).await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut res = ctx.render(&StaffPage {
        frame,
        rows,
        tenants,
        email: form.map(|f| f.text("email")).unwrap_or_default(),
        role: form
            .map(|f| f.text("role"))
            .unwrap_or_else(|| "tenant_admin".into()),
        tenant: form.map(|f| f.text("tenant")).unwrap_or_default(),
        error,
    })?;
    *res.status_mut() = status;
    Ok(res)
}

async fn staff(req: HttpRequest, state: web::Data<AppState>) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    staff_page(&ctx, None, None).await
}

async fn create_staff(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    if !ctx.viewer.is_platform_admin() {
        return Err(UiError::NotFound);
    }
    let email = form.text("email").to_lowercase();
    let role = match form.text("role").as_str() {
        "platform_admin" => Some(StaffRole::PlatformAdmin),
        "tenant_admin" => Some(StaffRole::TenantAdmin),
        "support" => Some(StaffRole::Support),
        _ => None,
    };
    let tenant = Some(form.text("tenant")).filter(|t| !t.is_empty());
    let password = form.get("password").unwrap_or_default();
    let mut problem = check_email(&email)
        .and_then(|()| check_new_password(password, form.get("confirm").unwrap_or_default()))
        .err();
    if problem.is_none() {
        problem = match (role, &tenant) {
            (None, _) => Some("Choose a role.".into()),
            (Some(StaffRole::TenantAdmin), None) => {
                Some("A tenant admin belongs to one tenant: choose it.".into())
            }
            (Some(StaffRole::TenantAdmin), Some(t))
                if ctx.store().get_tenant(t).await?.is_none() =>
            {
                Some("That tenant no longer exists.".into())
            }
            _ => None,
        };
    }
    if problem.is_none() && ctx.store().find_staff_by_email(&email).await?.is_some() {
        problem = Some(format!("{email} already has an account."));
    }
    if let Some(p) = problem {
        return staff_page(&ctx, Some(&form), Some(p)).await;
    }
    let Some(role) = role else {
        return staff_page(&ctx, Some(&form), Some("Choose a role.".into())).await;
    };
    let tenant = if role == StaffRole::TenantAdmin {
        tenant
    } else {
        None
    };
    let hash = super::account::hash_password(password).await?;
    let user = match ctx
        .store()
        .create_staff_user(store::NewStaffUser {
            email: email.clone(),
            password_hash: hash,
            role,
            tenant_id: tenant.clone(),
        })
        .await
    {
        Ok(u) => u,
        Err(e) if e.is_conflict() => {
            return staff_page(
                &ctx,
                Some(&form),
                Some(format!("{email} already has an account.")),
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    ctx.audit(
        tenant.as_deref(),
        "staff.create",
        "staff_user",
        Some(&user.id),
        Some(serde_json::json!({"email": user.email, "role": role.as_str()})),
    )
    .await?;
    ctx.redirect(
        "/staff",
        Some(Flash::success(format!(
            "Account {} created as {}. Share the password with them securely; they can change it after signing in.",
            user.email,
            role_label(role)
        ))),
    )
}

async fn set_staff_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    if !ctx.viewer.is_platform_admin() {
        return Err(UiError::NotFound);
    }
    let id = path.into_inner();
    if id == ctx.viewer.id {
        return ctx.redirect(
            "/staff",
            Some(Flash::error("You cannot disable your own account.")),
        );
    }
    let user = ctx
        .store()
        .get_staff_user(&id)
        .await?
        .ok_or(UiError::NotFound)?;
    let disable = form.text("action") == "disable";
    ctx.store().set_staff_disabled(&id, disable).await?;
    let action = if disable {
        "staff.disable"
    } else {
        "staff.enable"
    };
    ctx.audit(
        user.tenant_id.as_deref(),
        action,
        "staff_user",
        Some(&id),
        Some(serde_json::json!({"email": user.email})),
    )
    .await?;
    let msg = if disable {
        format!("{} is disabled and signed out.", user.email)
    } else {
        format!("{} can sign in again.", user.email)
    };
    ctx.redirect("/staff", Some(Flash::success(msg)))
}
