//! The audit log page: who changed what, when.

use super::view::{Frame, When};
use super::{Ctx, UiError, UiResult};
use crate::app::AppState;
use actix_web::{HttpRequest, web};
use askama::Template;
use serde::Deserialize;

/// Entries per page.
const PAGE: u64 = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(audit));
}

#[derive(Deserialize)]
struct AuditQuery {
    tenant: Option<String>,
    before: Option<i64>,
}

struct Row {
    when: When,
    actor: String,
    action: String,
    target: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "ui/audit.html")]
struct AuditPage {
    frame: Frame,
    rows: Vec<Row>,
    /// Link to the next (older) page.
    older: Option<String>,
    scope: String,
}

async fn audit(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    // Tenant admins see their tenant's entries only; platform staff pick a tenant or see all.
    let tenant_id = match q.tenant.as_deref().filter(|t| !t.is_empty()) {
        Some(t) if ctx.viewer.can_view_tenant(t) => Some(t.to_string()),
        Some(_) => return Err(UiError::NotFound),
        None if ctx.viewer.is_platform_staff() => None,
        None => Some(ctx.viewer.tenant_id.clone().ok_or(UiError::NotFound)?),
    };
    let tenant = match &tenant_id {
        Some(t) => Some(ctx.store().get_tenant(t).await?.ok_or(UiError::NotFound)?),
        None => None,
    };
    let entries = ctx
        .store()
        .list_audit(tenant_id.as_deref(), PAGE, q.before)
        .await?;
    let older = (entries.len() as u64 == PAGE).then(|| {
        let last = entries.last().map(|e| e.id).unwrap_or_default();
        match &tenant_id {
            Some(t) => format!("/audit?tenant={t}&before={last}"),
            None => format!("/audit?before={last}"),
        }
    });
    let rows = entries
        .into_iter()
        .map(|e| Row {
            when: When::from_ms(e.at),
            actor: e.actor_email,
            target: match e.target_id {
                Some(id) => format!("{} {}", e.target_kind, id),
                None => e.target_kind,
            },
            action: e.action,
            detail: e.detail.unwrap_or_default(),
        })
        .collect();
    let scope = tenant
        .as_ref()
        .map(|t| format!("Changes in {}", t.name))
        .unwrap_or_else(|| "Changes across all tenants".into());
    let frame = ctx
        .frame("Audit log", "audit", tenant.as_ref(), vec![])
        .await?;
    ctx.render(&AuditPage {
        frame,
        rows,
        older,
        scope,
    })
}
