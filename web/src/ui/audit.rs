//! The audit log page: who changed what, when, in sentences; filters by person, action and
//! time; CSV export of the same selection.

use super::audit_text::{self, ACTIONS, Names};
use super::time_window::TimeWindow;
use super::view::{Frame, When};
use super::{Ctx, UiError, UiResult};
use crate::app::AppState;
use actix_web::{HttpRequest, web};
use askama::Template;
use serde::Deserialize;
use store::{AuditEntry, AuditQuery, Tenant};

/// Entries per page.
const PAGE: u64 = 50;
/// Most rows one CSV export holds.
const CSV_MAX_ROWS: usize = 50_000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(audit))
        .route("/audit.csv", web::get().to(audit_csv));
}

/// The page's filters, as the query string carries them.
#[derive(Debug, Clone, Default, Deserialize)]
struct AuditFilter {
    #[serde(default)]
    tenant: String,
    /// The person's e-mail, exactly as recorded.
    #[serde(default)]
    person: String,
    /// An action code of [`ACTIONS`].
    #[serde(default)]
    action: String,
    /// The time filter's fields (see [`TimeWindow`]; not flattened: the query-string
    /// decoder then reads every value as text and `before` would not parse).
    #[serde(default)]
    range: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<i64>,
}

impl AuditFilter {
    fn window(&self) -> TimeWindow {
        TimeWindow {
            range: self.range.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
        }
    }

    /// The query string of these filters (without the cursor).
    fn query_string(&self) -> String {
        let mut pairs: Vec<(&str, String)> = [
            ("tenant", &self.tenant),
            ("person", &self.person),
            ("action", &self.action),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.clone()))
        .collect();
        pairs.extend(self.window().query_pairs());
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencoding::encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Whether anything but the tenant narrows the list.
    fn is_filtered(&self) -> bool {
        !(self.person.is_empty()
            && self.action.is_empty()
            && self.window() == TimeWindow::default())
    }
}

struct Row {
    when: When,
    sentence: String,
    changes: Vec<String>,
    action: String,
    /// The recorded detail (JSON), behind a toggle.
    detail: String,
}

struct Choice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "ui/audit.html")]
struct AuditPage {
    frame: Frame,
    rows: Vec<Row>,
    /// Link to the next (older) page.
    older: Option<String>,
    scope: String,
    filter: AuditFilter,
    people: Vec<String>,
    actions: Vec<Choice>,
    csv: String,
    filtered: bool,
    /// What is wrong with the time filter, if anything.
    error: Option<String>,
}

/// Tenant admins see their tenant's entries only; platform staff pick a tenant or see all.
async fn scope_of(ctx: &Ctx, f: &AuditFilter) -> Result<Option<Tenant>, UiError> {
    let tenant_id = match Some(f.tenant.as_str()).filter(|t| !t.is_empty()) {
        Some(t) if ctx.viewer.can_view_tenant(t) => Some(t.to_string()),
        Some(_) => return Err(UiError::NotFound),
        None if ctx.viewer.is_platform_staff() => None,
        None => Some(ctx.viewer.tenant_id.clone().ok_or(UiError::NotFound)?),
    };
    match tenant_id {
        Some(t) => Ok(Some(
            ctx.store().get_tenant(&t).await?.ok_or(UiError::NotFound)?,
        )),
        None => Ok(None),
    }
}

/// The names the sentences use, for the tenant in scope (or every tenant).
async fn names(ctx: &Ctx, tenant: Option<&Tenant>) -> Result<Names, UiError> {
    let tenants = match tenant {
        Some(t) => vec![t.clone()],
        None => ctx.store().list_tenants().await?,
    };
    let mut names = Names::default();
    for t in &tenants {
        names.tenants.insert(t.id.clone(), t.name.clone());
        for i in ctx.store().list_integrations(&t.id).await? {
            let title = crate::connectors::descriptor(&i.connector_kind)
                .map(|d| d.title)
                .unwrap_or(i.connector_kind.as_str());
            names
                .integrations
                .insert(i.id.clone(), format!("{title} ({})", i.name));
        }
    }
    // Only ids that appear in the entries shown are looked up here.
    for s in ctx.store().list_staff_users().await? {
        names.staff.insert(s.id, s.email);
    }
    Ok(names)
}

fn query(f: &AuditFilter, tenant: Option<&Tenant>, limit: u64) -> Result<AuditQuery, String> {
    let bounds = f.window().bounds(store::now_ms())?;
    let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    Ok(AuditQuery {
        tenant_id: tenant.map(|t| t.id.clone()),
        actor_email: some(&f.person),
        action: some(&f.action),
        from: bounds.from,
        to: bounds.to,
        before_id: f.before,
        limit,
    })
}

fn row(e: AuditEntry, names: &Names) -> Row {
    let text = audit_text::describe(&e, names);
    Row {
        when: When::from_ms(e.at),
        sentence: text.sentence,
        changes: text.changes,
        action: audit_text::action_label(&e.action).to_owned(),
        detail: e.detail.unwrap_or_default(),
    }
}

async fn audit(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AuditFilter>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let filter = q.into_inner();
    let tenant = scope_of(&ctx, &filter).await?;
    let (entries, error) = match query(&filter, tenant.as_ref(), PAGE) {
        Ok(q) => (ctx.store().list_audit(&q).await?, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let qs = filter.query_string();
    let older = (entries.len() as u64 == PAGE).then(|| {
        let last = entries.last().map(|e| e.id).unwrap_or_default();
        if qs.is_empty() {
            format!("/audit?before={last}")
        } else {
            format!("/audit?{qs}&before={last}")
        }
    });
    let names = names(&ctx, tenant.as_ref()).await?;
    let rows = entries.into_iter().map(|e| row(e, &names)).collect();
    let scope = tenant
        .as_ref()
        .map(|t| format!("Changes in {}", t.name))
        .unwrap_or_else(|| "Changes across all tenants".into());
    let people = ctx
        .store()
        .audit_actors(tenant.as_ref().map(|t| t.id.as_str()))
        .await?;
    let actions = ACTIONS
        .iter()
        .map(|(value, label)| Choice {
            value: (*value).to_owned(),
            label: (*label).to_owned(),
        })
        .collect();
    let frame = ctx
        .frame("Audit log", "audit", tenant.as_ref(), vec![])
        .await?;
    ctx.render(&AuditPage {
        frame,
        rows,
        older,
        scope,
        csv: if qs.is_empty() {
            "/audit.csv".into()
        } else {
            format!("/audit.csv?{qs}")
        },
        filtered: filter.is_filtered(),
        filter,
        people,
        actions,
        error,
    })
}

async fn audit_csv(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AuditFilter>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let filter = q.into_inner();
    let tenant = scope_of(&ctx, &filter).await?;
    let mut q =
        query(&filter, tenant.as_ref(), store::MAX_AUDIT_PAGE).map_err(UiError::BadRequest)?;
    let names = names(&ctx, tenant.as_ref()).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| UiError::Internal(format!("csv: {e}"));
    out.write_record([
        "time_utc",
        "person",
        "action",
        "what",
        "changes",
        "target_kind",
        "target_id",
        "detail",
    ])
    .map_err(csv_err)?;
    let mut written = 0;
    loop {
        let page = ctx.store().list_audit(&q).await?;
        for e in &page {
            let text = audit_text::describe(e, &names);
            let at = chrono::DateTime::from_timestamp_millis(e.at)
                .map(|d| d.to_rfc3339())
                .unwrap_or_default();
            let record = [
                at,
                e.actor_email.clone(),
                e.action.clone(),
                text.sentence,
                text.changes.join("; "),
                e.target_kind.clone(),
                e.target_id.clone().unwrap_or_default(),
                e.detail.clone().unwrap_or_default(),
            ];
            out.write_record(record.iter().map(|f| super::logs::spreadsheet_safe(f)))
                .map_err(csv_err)?;
        }
        written += page.len();
        match page.last() {
            Some(last) if page.len() as u64 == store::MAX_AUDIT_PAGE && written < CSV_MAX_ROWS => {
                q.before_id = Some(last.id);
            }
            _ => break,
        }
    }
    super::logs::csv_download("audit", out)
}
