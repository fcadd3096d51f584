//! The support views: the provisioning log (with CSV export), the trace of one correlation id,
//! an integration's users and one user's story, and failed jobs with retry / discard.
//!
//! Every query is scoped by the tenant in the URL, which the viewer must be allowed to see.

use super::integrations::{Need, Tabs, integration_for, integration_frame, tenant_for};
use super::time_window::TimeWindow;
use super::view::{Crumb, Flash, Frame, When};
use super::{Ctx, FormData, UiError, UiResult};
use crate::app::AppState;
use crate::target_error::{TargetError, names_of};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use connector_api::explain::TargetNames;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use store::{Direction, Event, EventQuery, IntegrationStatus};

/// Rows per log page.
const LOG_PAGE: u64 = 50;
/// Rows of a CSV export, at most.
const CSV_MAX_ROWS: usize = 50_000;
/// Users per page of the users tab.
const USERS_PAGE: u64 = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/t/{tid}/log", web::get().to(log))
        .route("/t/{tid}/log.csv", web::get().to(log_csv))
        .route("/t/{tid}/trace/{cid}", web::get().to(trace))
        .route("/t/{tid}/jobs", web::get().to(jobs))
        .route("/t/{tid}/jobs/retry", web::post().to(retry_jobs))
        .route("/t/{tid}/jobs/discard", web::post().to(discard_job))
        .route("/t/{tid}/integrations/{iid}/users", web::get().to(users))
        .route(
            "/t/{tid}/integrations/{iid}/users/{uid}",
            web::get().to(user),
        );
}

// ------------------------------------------------------------------ the log

/// The log's filters, as the query string carries them.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogFilter {
    #[serde(default)]
    pub integration: String,
    /// userName or SCIM id.
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub operation: String,
    /// `ok`, `error`, `retry`, `dry_run` or empty.
    #[serde(default)]
    pub status: String,
    /// `inbound`, `outbound` or empty.
    #[serde(default)]
    pub direction: String,
    /// `1h`, `24h`, `7d`, `30d` or empty (all); see [`TimeWindow`].
    #[serde(default)]
    pub range: String,
    /// Custom start, UTC (`YYYY-MM-DDTHH:MM`).
    #[serde(default)]
    pub from: String,
    /// Custom end, UTC, exclusive.
    #[serde(default)]
    pub to: String,
    /// Keyset cursor: the last event id of the previous page.
    pub before: Option<i64>,
}

impl LogFilter {
    fn window(&self) -> TimeWindow {
        TimeWindow {
            range: self.range.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
        }
    }

    /// The store query for a tenant, or what is wrong with the time filter.
    pub fn query(&self, tenant_id: &str, limit: u64) -> Result<EventQuery, String> {
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let user = self.user.trim();
        let looks_like_id = user.len() == 36 && user.chars().filter(|c| *c == '-').count() == 4;
        let bounds = self.window().bounds(store::now_ms())?;
        Ok(EventQuery {
            tenant_id: Some(tenant_id.to_string()),
            integration_id: some(&self.integration),
            subject: (!looks_like_id).then(|| some(user)).flatten(),
            subject_id: looks_like_id.then(|| user.to_string()),
            operation: some(&self.operation),
            outcome: some(&self.status),
            direction: match self.direction.as_str() {
                "inbound" => Some(Direction::Inbound),
                "outbound" => Some(Direction::Outbound),
                _ => None,
            },
            from: bounds.from,
            to: bounds.to,
            before_id: self.before,
            limit,
            ..EventQuery::default()
        })
    }

    /// The query string of these filters (without the cursor).
    fn query_string(&self) -> String {
        let pairs = [
            ("integration", &self.integration),
            ("user", &self.user),
            ("operation", &self.operation),
            ("status", &self.status),
            ("direction", &self.direction),
            ("range", &self.range),
            ("from", &self.from),
            ("to", &self.to),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", urlencoding::encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Whether any filter is set.
    fn is_filtered(&self) -> bool {
        !self.query_string().is_empty()
    }
}

/// One log row as shown.
pub struct LogRow {
    pub when: When,
    pub inbound: bool,
    pub integration: String,
    pub operation: String,
    pub subject: String,
    /// Link to the user view, when the subject is a known user.
    pub subject_href: Option<String>,
    /// (badge class, text): the HTTP status or the outcome.
    pub status: (&'static str, String),
    pub duration: String,
    pub attempt: String,
    /// The readable reason: our error, or why a role was chosen.
    pub summary: String,
    /// The target's error in one sentence, with its details.
    pub error: Option<TargetError>,
    pub trace_href: String,
}

/// The error of an outbound call, in words (inbound errors are our own SCIM answers).
fn target_error(e: &Event, target: Option<&TargetNames<'static>>) -> Option<TargetError> {
    if e.direction == Direction::Inbound {
        return None;
    }
    let d = detail_of(e)?;
    let text = d.get("error")?.as_str()?;
    let names = target.copied().unwrap_or(TargetNames {
        target: "the target app",
        credential: "credentials",
    });
    Some(TargetError::of_text(names, text))
}

/// Integration names and what their targets are called, by integration id.
type Targets = HashMap<String, TargetNames<'static>>;

/// The badge of an event's outcome.
fn outcome_badge(e: &Event) -> (&'static str, String) {
    match (e.direction, e.http_status, e.outcome.as_str()) {
        (Direction::Inbound, Some(s), _) if s < 400 => ("success", s.to_string()),
        (Direction::Inbound, Some(s), _) => ("error", s.to_string()),
        (_, _, "ok") => ("success", "ok".into()),
        (_, _, "retry") => ("warning", "will retry".into()),
        (_, _, "dry_run") => ("neutral", "dry run".into()),
        (_, _, "error") => ("error", "failed".into()),
        (_, _, other) => ("neutral", other.to_string()),
    }
}

/// The event's recorded detail, if it is JSON.
fn detail_of(e: &Event) -> Option<Value> {
    e.detail
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
}

/// What we read differently from what the identity provider sent ("Tenant URL flag …").
fn normalisation_notes(e: &Event) -> Vec<String> {
    detail_of(e)
        .and_then(|d| d.get("normalised").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

/// The one line that explains an event; normalisation notes in `shown_once` are left out
/// (the page states them once for the integration).
fn summary(e: &Event, shown_once: &[String]) -> String {
    let Some(d) = detail_of(e) else {
        return String::new();
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    if let Some(err) = d.get("error") {
        return match err.get("detail") {
            Some(detail) => text(detail),
            None => text(err),
        };
    }
    let mut parts = Vec::new();
    if let Some(role) = d.get("role").filter(|r| !r.is_null()) {
        let role = match role {
            Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(", "),
            other => text(other),
        };
        parts.push(format!("role {role}"));
    }
    if let Some(because) = d.get("because") {
        parts.push(format!("because {}", text(because)));
    }
    let notes: Vec<String> = normalisation_notes(e)
        .into_iter()
        .filter(|n| !shown_once.contains(n))
        .collect();
    if !notes.is_empty() {
        parts.push(format!("normalised: {}", notes.join("; ")));
    }
    parts.join(" · ")
}

/// The rows of a page of events, and the notes that hold for every request of an
/// integration on it (at least two requests), which the rows then leave out.
fn log_rows(
    tid: &str,
    events: &[Event],
    names: &HashMap<String, String>,
    targets: &Targets,
) -> (Vec<LogRow>, Vec<(String, Vec<String>)>) {
    let mut common: HashMap<&str, (usize, Vec<String>)> = HashMap::new();
    for e in events.iter().filter(|e| e.direction == Direction::Inbound) {
        let notes = normalisation_notes(e);
        common
            .entry(e.integration_id.as_str())
            .and_modify(|(n, c)| {
                *n += 1;
                c.retain(|x| notes.contains(x));
            })
            .or_insert((1, notes));
    }
    common.retain(|_, (n, c)| *n >= 2 && !c.is_empty());
    let none = Vec::new();
    let rows = events
        .iter()
        .map(|e| {
            let once = common
                .get(e.integration_id.as_str())
                .map_or(&none, |(_, c)| c);
            log_row(tid, e, names, targets, once)
        })
        .collect();
    let mut facts: Vec<(String, Vec<String>)> = common
        .into_iter()
        .map(|(id, (_, notes))| {
            (
                names.get(id).cloned().unwrap_or_else(|| id.to_owned()),
                notes,
            )
        })
        .collect();
    facts.sort();
    (rows, facts)
}

fn log_row(
    tid: &str,
    e: &Event,
    names: &HashMap<String, String>,
    targets: &Targets,
    shown_once: &[String],
) -> LogRow {
    let error = target_error(e, targets.get(&e.integration_id));
    let subject = e
        .subject_name
        .clone()
        .or_else(|| e.subject_id.clone())
        .unwrap_or_default();
    let is_user = matches!(e.subject_kind, Some(store::SubjectKind::User));
    LogRow {
        when: When::from_ms(e.at),
        inbound: e.direction == Direction::Inbound,
        integration: names
            .get(&e.integration_id)
            .cloned()
            .unwrap_or_else(|| e.integration_id.clone()),
        operation: e.operation.clone(),
        subject_href: e
            .subject_id
            .as_ref()
            .filter(|_| is_user)
            .map(|id| format!("/t/{tid}/integrations/{}/users/{id}", e.integration_id)),
        subject,
        status: outcome_badge(e),
        duration: e.duration_ms.map(|d| format!("{d} ms")).unwrap_or_default(),
        attempt: e.attempt.map(|a| a.to_string()).unwrap_or_default(),
        summary: if error.is_some() {
            String::new()
        } else {
            summary(e, shown_once)
        },
        error,
        trace_href: format!("/t/{tid}/trace/{}", urlencoding::encode(&e.correlation_id)),
    }
}

struct Choice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "ui/log.html")]
struct LogPage {
    frame: Frame,
    tenant_id: String,
    filter: LogFilter,
    integrations: Vec<Choice>,
    rows: Vec<LogRow>,
    older: Option<String>,
    newest: Option<String>,
    csv: String,
    filtered: bool,
    /// What is wrong with the time filter, if anything.
    error: Option<String>,
    /// Notes true of every request of an integration on this page, shown once above the
    /// table instead of on each row: (integration, notes).
    facts: Vec<(String, Vec<String>)>,
}

async fn integration_names(
    ctx: &Ctx,
    tid: &str,
) -> Result<(HashMap<String, String>, Targets), UiError> {
    let list = ctx.store().list_integrations(tid).await?;
    let targets = list.iter().map(|i| (i.id.clone(), names_of(i))).collect();
    Ok((list.into_iter().map(|i| (i.id, i.name)).collect(), targets))
}

async fn log(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<LogFilter>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let tenant = tenant_for(&ctx, &path, Need::View).await?;
    let filter = q.into_inner();
    let (names, targets) = integration_names(&ctx, &tenant.id).await?;
    let (events, error) = match filter.query(&tenant.id, LOG_PAGE) {
        Ok(q) => (ctx.store().list_events(&q).await?, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let qs = filter.query_string();
    let base = format!("/t/{}/log", tenant.id);
    let older = (events.len() as u64 == LOG_PAGE)
        .then(|| events.last().map(|e| e.id))
        .flatten()
        .map(|id| {
            if qs.is_empty() {
                format!("{base}?before={id}")
            } else {
                format!("{base}?{qs}&before={id}")
            }
        });
    let newest = filter.before.map(|_| {
        if qs.is_empty() {
            base.clone()
        } else {
            format!("{base}?{qs}")
        }
    });
    let (rows, facts) = log_rows(&tenant.id, &events, &names, &targets);
    let mut integrations: Vec<Choice> = names
        .into_iter()
        .map(|(value, label)| Choice { value, label })
        .collect();
    integrations.sort_by(|a, b| a.label.cmp(&b.label));
    let frame = ctx
        .frame("Provisioning log", "log", Some(&tenant), vec![])
        .await?;
    ctx.render(&LogPage {
        frame,
        csv: if qs.is_empty() {
            format!("{base}.csv")
        } else {
            format!("{base}.csv?{qs}")
        },
        tenant_id: tenant.id,
        error,
        facts,
        filtered: filter.is_filtered(),
        filter,
        integrations,
        rows,
        older,
        newest,
    })
}

async fn log_csv(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<LogFilter>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let tenant = tenant_for(&ctx, &path, Need::View).await?;
    let (names, _) = integration_names(&ctx, &tenant.id).await?;
    let mut filter = q.into_inner();
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| UiError::Internal(format!("csv: {e}"));
    out.write_record([
        "time_utc",
        "integration",
        "direction",
        "operation",
        "user",
        "user_id",
        "http_status",
        "outcome",
        "duration_ms",
        "attempt",
        "correlation_id",
        "detail",
    ])
    .map_err(csv_err)?;
    let mut written = 0;
    loop {
        let page = ctx
            .store()
            .list_events(
                &filter
                    .query(&tenant.id, store::MAX_EVENT_PAGE)
                    .map_err(UiError::BadRequest)?,
            )
            .await?;
        for e in &page {
            let at = chrono::DateTime::from_timestamp_millis(e.at)
                .map(|d| d.to_rfc3339())
                .unwrap_or_default();
            let record = [
                at,
                names.get(&e.integration_id).cloned().unwrap_or_default(),
                e.direction.as_str().to_string(),
                e.operation.clone(),
                e.subject_name.clone().unwrap_or_default(),
                e.subject_id.clone().unwrap_or_default(),
                e.http_status.map(|s| s.to_string()).unwrap_or_default(),
                e.outcome.clone(),
                e.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
                e.attempt.map(|a| a.to_string()).unwrap_or_default(),
                e.correlation_id.clone(),
                e.detail.clone().unwrap_or_default(),
            ];
            out.write_record(record.iter().map(|f| spreadsheet_safe(f)))
                .map_err(csv_err)?;
        }
        written += page.len();
        match page.last() {
            Some(last) if page.len() as u64 == store::MAX_EVENT_PAGE && written < CSV_MAX_ROWS => {
                filter.before = Some(last.id);
            }
            _ => break,
        }
    }
    csv_download("log", out)
}

/// A finished CSV as a download named `scimbridge-<what>-<UTC time>.csv`.
pub(super) fn csv_download(what: &str, out: csv::Writer<Vec<u8>>) -> UiResult {
    let body = out
        .into_inner()
        .map_err(|e| UiError::Internal(e.to_string()))?;
    let name = format!(
        "scimbridge-{what}-{}.csv",
        chrono::Utc::now().format("%Y%m%d-%H%M%S")
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// Cells that a spreadsheet would run as a formula get a leading apostrophe (CSV injection).
pub(super) fn spreadsheet_safe(field: &str) -> String {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{field}")
    } else {
        field.to_string()
    }
}

// ------------------------------------------------------------------ trace

/// One step of a trace.
struct TraceStep {
    when: When,
    inbound: bool,
    operation: String,
    status: (&'static str, String),
    duration: String,
    attempt: String,
    subject: String,
    /// Entra/Okta quirk forms normalised on the way in.
    normalised: Vec<String>,
    /// The resolved target role and the rule that produced it.
    role: Option<String>,
    because: Option<String>,
    /// Our error text (inbound).
    error: Option<String>,
    /// The target's error (outbound), in one sentence with its details.
    target_error: Option<TargetError>,
    /// The redacted request body, pretty-printed.
    request: Option<String>,
    /// What we answered the identity provider (inbound): id, ETag, Location.
    answer: Vec<(String, String)>,
    /// The account's id in the target app (outbound).
    target_id: Option<String>,
    /// The HTTP requests behind an outbound call.
    http: Vec<HttpExchange>,
    /// Everything else recorded.
    detail: String,
}

/// One HTTP request to the target, as the trace shows it.
struct HttpExchange {
    method: String,
    path: String,
    /// (badge class, status or "no answer").
    status: (&'static str, String),
    ms: String,
    request: Option<String>,
    response: Option<String>,
}

impl HttpExchange {
    fn from_json(v: &Value) -> Self {
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        // Bodies are stored masked and compact; shown indented when they are JSON.
        let body = |k: &str| {
            v.get(k).and_then(Value::as_str).map(|b| {
                serde_json::from_str::<Value>(b)
                    .ok()
                    .and_then(|j| serde_json::to_string_pretty(&j).ok())
                    .unwrap_or_else(|| b.to_owned())
            })
        };
        let status = match v.get("status").and_then(Value::as_u64) {
            Some(s) if s < 400 => ("success", s.to_string()),
            Some(s @ (429 | 503)) => ("warning", s.to_string()),
            Some(s) => ("error", s.to_string()),
            None => ("error", "no answer".into()),
        };
        Self {
            method: text("method"),
            path: text("path"),
            status,
            ms: v
                .get("ms")
                .and_then(Value::as_u64)
                .map(|ms| format!("{ms} ms"))
                .unwrap_or_default(),
            request: body("request"),
            response: body("response"),
        }
    }
}

#[derive(Template)]
#[template(path = "ui/trace.html")]
struct TracePage {
    frame: Frame,
    correlation_id: String,
    steps: Vec<TraceStep>,
    integration: String,
}

fn trace_step(e: &Event, targets: &Targets) -> TraceStep {
    let target_error = target_error(e, targets.get(&e.integration_id));
    let d: Value = e
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(Value::Null);
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    TraceStep {
        when: When::from_ms(e.at),
        inbound: e.direction == Direction::Inbound,
        operation: e.operation.clone(),
        status: outcome_badge(e),
        duration: e.duration_ms.map(|d| format!("{d} ms")).unwrap_or_default(),
        attempt: e.attempt.map(|a| a.to_string()).unwrap_or_default(),
        subject: e
            .subject_name
            .clone()
            .or_else(|| e.subject_id.clone())
            .unwrap_or_default(),
        normalised: d
            .get("normalised")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default(),
        role: d.get("role").filter(|r| !r.is_null()).map(|r| match r {
            Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(", "),
            other => text(other),
        }),
        because: d.get("because").map(text),
        error: d
            .get("error")
            .filter(|_| target_error.is_none())
            .map(|err| match err.get("detail") {
                Some(detail) => text(detail),
                None => text(err),
            }),
        target_error,
        request: d
            .get("request")
            .and_then(|r| serde_json::to_string_pretty(r).ok()),
        answer: d
            .get("response")
            .and_then(Value::as_object)
            .map(|a| {
                [("id", "Id"), ("etag", "ETag"), ("location", "Location")]
                    .iter()
                    .filter_map(|(k, label)| {
                        a.get(*k)
                            .and_then(Value::as_str)
                            .map(|v| ((*label).to_owned(), v.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        target_id: d
            .get("target_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        http: d
            .get("http")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(HttpExchange::from_json).collect())
            .unwrap_or_default(),
        detail: serde_json::to_string_pretty(&d).unwrap_or_default(),
    }
}

async fn trace(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let (tid, cid) = path.into_inner();
    let tenant = tenant_for(&ctx, &tid, Need::View).await?;
    let mut events = ctx
        .store()
        .list_events(&EventQuery {
            tenant_id: Some(tenant.id.clone()),
            correlation_id: Some(cid.clone()),
            limit: store::MAX_EVENT_PAGE,
            ..EventQuery::default()
        })
        .await?;
    if events.is_empty() {
        return Err(UiError::NotFound);
    }
    events.reverse(); // oldest first: the story in order
    let (names, targets) = integration_names(&ctx, &tenant.id).await?;
    let integration = names
        .get(&events[0].integration_id)
        .cloned()
        .unwrap_or_default();
    let frame = ctx
        .frame(
            "Trace",
            "log",
            Some(&tenant),
            vec![
                Crumb::link("Provisioning log", format!("/t/{}/log", tenant.id)),
                Crumb::here(format!("Trace {cid}")),
            ],
        )
        .await?;
    ctx.render(&TracePage {
        frame,
        steps: events.iter().map(|e| trace_step(e, &targets)).collect(),
        correlation_id: cid,
        integration,
    })
}

// ------------------------------------------------------------------ users

struct UserRow {
    href: String,
    user_name: String,
    display_name: String,
    active: bool,
    /// (badge class, text) of the target side.
    target: (&'static str, String),
    last_sync: Option<When>,
}

#[derive(Template)]
#[template(path = "ui/users.html")]
struct UsersPage {
    frame: Frame,
    tabs: Tabs,
    rows: Vec<UserRow>,
    total: u64,
    search: String,
    /// (key, label, chosen) of each target state the list can be filtered by.
    states: Vec<(&'static str, &'static str, bool)>,
    /// A state filter is on.
    filtering: bool,
    prev: Option<String>,
    next: Option<String>,
    first: u64,
    last: u64,
}

#[derive(Deserialize)]
struct UsersQuery {
    q: Option<String>,
    /// Only users in this target state ([`TargetState::key`]).
    state: Option<String>,
    page: Option<u64>,
}

/// Most users a state filter reads (it filters in memory: the state lives in the link's
/// last pushed state, not in a column).
const STATE_FILTER_CAP: u64 = 100_000;

/// A user's state in the target as the Users tab shows and filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    NotSynced,
    Failed,
    DryRun,
    Active,
    NoAccess,
    Deactivated,
    Deleted,
    NoAccount,
}

impl TargetState {
    const ALL: [TargetState; 8] = [
        TargetState::Active,
        TargetState::NoAccess,
        TargetState::Deactivated,
        TargetState::Deleted,
        TargetState::NoAccount,
        TargetState::Failed,
        TargetState::DryRun,
        TargetState::NotSynced,
    ];

    /// The query-string value.
    pub fn key(self) -> &'static str {
        match self {
            TargetState::NotSynced => "not_synced",
            TargetState::Failed => "failed",
            TargetState::DryRun => "dry_run",
            TargetState::Active => "active",
            TargetState::NoAccess => "no_access",
            TargetState::Deactivated => "deactivated",
            TargetState::Deleted => "deleted",
            TargetState::NoAccount => "no_account",
        }
    }

    fn label(self) -> &'static str {
        match self {
            TargetState::NotSynced => "not synced yet",
            TargetState::Failed => "failed",
            TargetState::DryRun => "dry run",
            TargetState::Active => "active",
            TargetState::NoAccess => "no access",
            TargetState::Deactivated => "deactivated",
            TargetState::Deleted => "deleted",
            TargetState::NoAccount => "no account",
        }
    }

    fn class(self) -> &'static str {
        match self {
            TargetState::Failed => "error",
            TargetState::Active => "success",
            TargetState::NoAccess | TargetState::Deactivated => "warning",
            _ => "neutral",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.key() == key)
    }

    /// The state of a user with this link, and the roles it holds there.
    pub fn of(link: Option<&store::outbox::TargetLink>) -> (Self, String) {
        use provisioning::planner::AccountState;
        match link {
            None => (TargetState::NotSynced, String::new()),
            Some(l) if l.last_error.is_some() => (TargetState::Failed, String::new()),
            Some(l) if l.last_result.as_deref() == Some("dry_run") => {
                (TargetState::DryRun, String::new())
            }
            Some(l) => {
                // What we know of the account, so a deprovisioned user never looks healthy.
                let known = provisioning::inputs::known_from_link(Some(l));
                let roles = known.roles.join(", ");
                let state = match known.state {
                    AccountState::Active => TargetState::Active,
                    AccountState::Deprovisioned => TargetState::NoAccess,
                    AccountState::Deactivated => TargetState::Deactivated,
                    AccountState::Deleted => TargetState::Deleted,
                    AccountState::Absent => TargetState::NoAccount,
                };
                (state, roles)
            }
        }
    }
}

/// (badge class, text) of the target side.
fn target_badge(link: Option<&store::outbox::TargetLink>) -> (&'static str, String) {
    let (state, roles) = TargetState::of(link);
    let text = match state {
        TargetState::Active | TargetState::NoAccess if !roles.is_empty() => {
            format!("{} · {roles}", state.label())
        }
        _ => state.label().to_string(),
    };
    (state.class(), text)
}

/// A page of an integration's users (`userName` starting with `search`, optionally only
/// those in state `wanted`), the total, and every user's link (the Users tab and the admin API
/// list the same way). The inner error is a bad search.
#[allow(
    clippy::type_complexity,
    reason = "rows, total and links, used together"
)]
pub async fn user_states(
    store: &store::Store,
    iid: &str,
    search: &str,
    wanted: Option<TargetState>,
    offset: u64,
    limit: u64,
) -> Result<
    Result<
        (
            Vec<store::scim::UserRow>,
            u64,
            HashMap<String, store::outbox::TargetLink>,
        ),
        String,
    >,
    store::StoreError,
> {
    let condition = if search.is_empty() {
        None
    } else {
        let escaped = serde_json::to_string(search).unwrap_or_default();
        match scim_core::filter::parse_filter(&format!("userName sw {escaped}")) {
            Ok(f) => store::filter_sql::user_condition(&f),
            Err(e) => return Ok(Err(e.detail)),
        }
    };
    let links: HashMap<String, store::outbox::TargetLink> = store
        .list_links(iid)
        .await?
        .into_iter()
        .map(|l| (l.scim_user_id.clone(), l))
        .collect();
    let sort = store::scim::SortKey::from_attr("userName", "User").map(|k| (k, false));
    let (rows, total) = match wanted {
        None => {
            store::scim::list_users(
                store.db(),
                iid,
                &store::scim::ListQuery {
                    condition,
                    sort,
                    offset,
                    limit,
                    ..Default::default()
                },
            )
            .await?
        }
        Some(wanted) => {
            let (all, _) = store::scim::list_users(
                store.db(),
                iid,
                &store::scim::ListQuery {
                    condition,
                    sort,
                    offset: 0,
                    limit: STATE_FILTER_CAP,
                    ..Default::default()
                },
            )
            .await?;
            let matching: Vec<_> = all
                .into_iter()
                .filter(|u| TargetState::of(links.get(&u.id)).0 == wanted)
                .collect();
            let total = matching.len() as u64;
            let rows = matching
                .into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .collect();
            (rows, total)
        }
    };
    Ok(Ok((rows, total, links)))
}

async fn users(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    q: web::Query<UsersQuery>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let (tid, iid) = path.into_inner();
    let (tenant, integration) = integration_for(&ctx, &tid, &iid, Need::View).await?;
    let search = q.q.clone().unwrap_or_default().trim().to_string();
    let page = q.page.unwrap_or(1).max(1);
    let wanted = q.state.as_deref().and_then(TargetState::parse);
    let offset = (page - 1) * USERS_PAGE;
    let (rows, total, links) = user_states(ctx.store(), &iid, &search, wanted, offset, USERS_PAGE)
        .await?
        .map_err(UiError::BadRequest)?;
    let base = format!("/t/{tid}/integrations/{iid}/users");
    let state_key = wanted.map(TargetState::key).unwrap_or_default();
    let qs = |p: u64| {
        let mut url = format!("{base}?page={p}");
        if !search.is_empty() {
            url.push_str(&format!("&q={}", urlencoding::encode(&search)));
        }
        if !state_key.is_empty() {
            url.push_str(&format!("&state={state_key}"));
        }
        url
    };
    let first = offset + 1;
    let last = offset + rows.len() as u64;
    let rows = rows
        .into_iter()
        .map(|u| {
            let link = links.get(&u.id);
            UserRow {
                href: format!("{base}/{}", u.id),
                target: target_badge(link),
                last_sync: link.and_then(|l| l.last_sync_at).map(When::from_ms),
                user_name: u.user_name,
                display_name: u.display_name.unwrap_or_default(),
                active: u.active,
            }
        })
        .collect();
    let frame = integration_frame(&ctx, &tenant, &integration, "Users").await?;
    ctx.render(&UsersPage {
        frame,
        tabs: Tabs::new(&tenant, &integration, "users"),
        rows,
        total,
        prev: (page > 1).then(|| qs(page - 1)),
        next: (last < total).then(|| qs(page + 1)),
        search,
        states: TargetState::ALL
            .iter()
            .map(|s| (s.key(), s.label(), Some(*s) == wanted))
            .collect(),
        filtering: wanted.is_some(),
        first,
        last,
    })
}

#[derive(Template)]
#[template(path = "ui/user.html")]
struct UserPage {
    frame: Frame,
    tabs: Tabs,
    active: bool,
    resource: String,
    groups: Vec<String>,
    role: String,
    because: String,
    /// The calls the worker would make now (empty: in line).
    next_steps: Vec<String>,
    target_id: String,
    target: (&'static str, String),
    last_sync: Option<When>,
    last_error: Option<TargetError>,
    /// What the target says of the account (Brevo: invitation pending or active); empty when
    /// it has nothing to add.
    target_state: String,
    history: Vec<LogRow>,
    log_href: String,
}

/// Asks the target about the linked account (one call, under the account's limiter).
async fn target_state(
    ctx: &Ctx,
    state: &AppState,
    integration: &store::Integration,
    target_id: Option<&str>,
) -> String {
    let Some(id) = target_id.filter(|_| integration.mode == store::IntegrationMode::Live) else {
        return String::new();
    };
    let connector = ctx
        .store()
        .integration_secrets(integration)
        .map_err(|e| e.to_string())
        .and_then(|secrets| {
            crate::connectors::build(
                &integration.connector_kind,
                &integration.settings,
                &secrets,
                state.config.allow_private_targets,
                crate::connectors::account_limiter(ctx.store(), integration),
            )
        });
    let connector = match connector {
        Ok(c) => c,
        Err(e) => return format!("unknown: {e}"),
    };
    match tokio::time::timeout(
        std::time::Duration::from_secs(15),
        connector.account_state(id),
    )
    .await
    {
        Ok(Ok(Some(s))) if s == "pending" => "invitation pending (not accepted yet)".into(),
        Ok(Ok(Some(s))) => s,
        Ok(Ok(None)) => String::new(),
        Ok(Err(e)) => format!("unknown: {e}"),
        Err(_) => "unknown: the target did not answer within 15 seconds".into(),
    }
}

async fn user(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let (tid, iid, uid) = path.into_inner();
    let (tenant, integration) = integration_for(&ctx, &tid, &iid, Need::View).await?;
    // What the planner decides for this user now: the worker's own inputs and functions.
    let rules = provisioning::inputs::load_rules(ctx.store(), &integration)
        .await
        .map_err(|e| match e {
            provisioning::inputs::InputError::Store(e) => UiError::from(e),
            provisioning::inputs::InputError::Invalid(e) => UiError::BadRequest(e),
        })?;
    let input = provisioning::inputs::load_user(ctx.store(), &iid, &uid, &rules.users)
        .await?
        .ok_or(UiError::NotFound)?;
    let link = ctx.store().get_link(&iid, &uid).await?;
    let known = provisioning::inputs::known_from_link(link.as_ref());
    let caps = crate::connectors::capabilities(&integration.connector_kind, &integration.settings)
        .ok_or(UiError::NotFound)?;
    let explanation = rules.explain(Some(&input.subject()), &known, &caps);
    let row_name = input.user_name.clone();
    let rendered = input.attrs.clone();
    let groups = input.groups.clone();
    let history = ctx
        .store()
        .list_events(&EventQuery {
            tenant_id: Some(tid.clone()),
            integration_id: Some(iid.clone()),
            subject_id: Some(uid.clone()),
            limit: 50,
            ..EventQuery::default()
        })
        .await?;
    let names = HashMap::from([(iid.clone(), integration.name.clone())]);
    let targets = HashMap::from([(iid.clone(), names_of(&integration))]);
    let target_state = target_state(
        &ctx,
        &state,
        &integration,
        link.as_ref().and_then(|l| l.target_id.as_deref()),
    )
    .await;
    let frame = ctx
        .frame(
            row_name.clone(),
            "integrations",
            Some(&tenant),
            vec![
                Crumb::link("Integrations", format!("/t/{tid}/integrations")),
                Crumb::link(
                    integration.name.clone(),
                    format!("/t/{tid}/integrations/{iid}"),
                ),
                Crumb::link("Users", format!("/t/{tid}/integrations/{iid}/users")),
                Crumb::here(row_name.clone()),
            ],
        )
        .await?;
    ctx.render(&UserPage {
        frame,
        tabs: Tabs::new(&tenant, &integration, "users"),
        resource: serde_json::to_string_pretty(&Value::Object(rendered)).unwrap_or_default(),
        groups,
        role: explanation.roles,
        because: explanation.because,
        next_steps: explanation.steps,
        target_id: link
            .as_ref()
            .and_then(|l| l.target_id.clone())
            .unwrap_or_default(),
        target: target_badge(link.as_ref()),
        last_sync: link
            .as_ref()
            .and_then(|l| l.last_sync_at)
            .map(When::from_ms),
        last_error: link
            .as_ref()
            .and_then(|l| l.last_error.as_deref())
            .map(|t| TargetError::of_text(names_of(&integration), t)),
        target_state,
        history: history
            .iter()
            .map(|e| log_row(&tid, e, &names, &targets, &[]))
            .collect(),
        log_href: format!(
            "/t/{tid}/log?integration={iid}&user={}",
            urlencoding::encode(&row_name)
        ),
        active: input.active,
    })
}

// ------------------------------------------------------------------ failed jobs

struct JobRow {
    id: i64,
    integration_id: String,
    integration: String,
    subject: String,
    subject_href: Option<String>,
    attempts: i32,
    reason: TargetError,
    updated: When,
    trace_href: Option<String>,
}

struct IntegrationJobs {
    id: String,
    name: String,
    count: usize,
}

#[derive(Template)]
#[template(path = "ui/jobs.html")]
struct JobsPage {
    frame: Frame,
    tenant_id: String,
    rows: Vec<JobRow>,
    per_integration: Vec<IntegrationJobs>,
    can_retry: bool,
    can_discard: bool,
}

async fn jobs(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let tenant = tenant_for(&ctx, &path, Need::View).await?;
    let tid = tenant.id.clone();
    let mut rows = Vec::new();
    let mut per_integration = Vec::new();
    for i in ctx.store().list_integrations(&tid).await? {
        let failed = ctx.store().list_failed_jobs(&i.id).await?;
        if failed.is_empty() {
            continue;
        }
        per_integration.push(IntegrationJobs {
            id: i.id.clone(),
            name: i.name.clone(),
            count: failed.len(),
        });
        for j in failed.into_iter().take(500) {
            let user = store::scim::get_user(ctx.store().db(), &i.id, &j.subject_id).await?;
            rows.push(JobRow {
                id: j.id,
                integration_id: i.id.clone(),
                integration: i.name.clone(),
                subject_href: user
                    .as_ref()
                    .map(|_| format!("/t/{tid}/integrations/{}/users/{}", i.id, j.subject_id)),
                subject: user
                    .map(|u| u.user_name)
                    .unwrap_or_else(|| format!("{} {}", j.subject_kind.as_str(), j.subject_id)),
                attempts: j.attempts,
                reason: TargetError::of_text(
                    names_of(&i),
                    j.last_error.as_deref().unwrap_or_default(),
                ),
                updated: When::from_ms(j.updated_at),
                trace_href: j
                    .correlation_id
                    .map(|c| format!("/t/{tid}/trace/{}", urlencoding::encode(&c))),
            });
        }
    }
    let frame = ctx
        .frame("Failed jobs", "jobs", Some(&tenant), vec![])
        .await?;
    ctx.render(&JobsPage {
        frame,
        can_retry: ctx.viewer.can_retry_jobs(&tid),
        can_discard: ctx.viewer.can_edit_tenant(&tid),
        tenant_id: tid,
        rows,
        per_integration,
    })
}

async fn retry_jobs(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let tid = path.into_inner();
    tenant_for(&ctx, &tid, Need::View).await?;
    if !ctx.viewer.can_retry_jobs(&tid) {
        return Err(UiError::Forbidden("Your role cannot retry jobs.".into()));
    }
    let iid = form.text("integration");
    let (_, integration) = integration_for(&ctx, &tid, &iid, Need::View).await?;
    let job = form.text("job").parse::<i64>().ok();
    let n = crate::manage::retry_jobs(
        ctx.store(),
        &ctx.actor(),
        &integration,
        job,
        store::now_ms(),
    )
    .await?;
    let paused = if integration.status == IntegrationStatus::Paused {
        " The integration is paused: they run when you resume it."
    } else {
        ""
    };
    ctx.redirect(
        &format!("/t/{tid}/jobs"),
        Some(Flash::success(format!(
            "{n} job{} queued again.{paused}",
            if n == 1 { "" } else { "s" }
        ))),
    )
}

async fn discard_job(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let tid = path.into_inner();
    let iid = form.text("integration");
    integration_for(&ctx, &tid, &iid, Need::Edit).await?;
    let job = form
        .text("job")
        .parse::<i64>()
        .map_err(|_| UiError::BadRequest("missing job".into()))?;
    let gone = ctx.store().discard_failed_job(&iid, job).await?;
    if gone {
        ctx.audit(
            Some(&tid),
            "jobs.discard",
            "integration",
            Some(&iid),
            Some(serde_json::json!({"job": job})),
        )
        .await?;
    }
    ctx.redirect(
        &format!("/t/{tid}/jobs"),
        Some(if gone {
            Flash::success(
                "Job discarded. The user stays as the target app has them until their next change.",
            )
        } else {
            Flash::error("That job is no longer failed (it was retried or discarded already).")
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreadsheet_formulas_are_defused() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("@cmd"), "'@cmd");
        assert_eq!(spreadsheet_safe("ada@example.com"), "ada@example.com");
    }

    #[test]
    fn filters_round_trip_to_a_query_string() {
        let f = LogFilter {
            user: "ada@example.com".into(),
            status: "error".into(),
            ..LogFilter::default()
        };
        assert_eq!(f.query_string(), "user=ada%40example.com&status=error");
        let q = f.query("t1", 50).unwrap();
        assert_eq!(q.subject.as_deref(), Some("ada@example.com"));
        assert_eq!(q.subject_id, None);
        let by_id = LogFilter {
            user: "0b7d3c2e-1111-4222-8333-444455556666".into(),
            ..LogFilter::default()
        };
        let q = by_id.query("t1", 50).unwrap();
        assert_eq!(q.subject, None);
        assert!(q.subject_id.is_some());
        assert_eq!(q.tenant_id.as_deref(), Some("t1"), "always tenant-scoped");
        // A custom window in UTC, kept in the links; a bad one is a message, not a query.
        let window = LogFilter {
            from: "2026-12-07T09:30".into(),
            to: "2026-12-07T10:00".into(),
            ..LogFilter::default()
        };
        assert_eq!(
            window.query_string(),
            "from=2026-12-07T09%3A30&to=2026-12-07T10%3A00"
        );
        let q = window.query("t1", 50).unwrap();
        assert_eq!(
            (q.from, q.to),
            (Some(1_796_635_800_000), Some(1_796_637_600_000))
        );
        let bad = LogFilter {
            to: "soon".into(),
            ..LogFilter::default()
        };
        assert!(bad.query("t1", 50).is_err());
    }

    fn inbound(integration: &str, notes: &[&str]) -> Event {
        Event {
            id: 1,
            at: 0,
            tenant_id: "t1".into(),
            integration_id: integration.into(),
            direction: Direction::Inbound,
            correlation_id: "c".into(),
            operation: "PATCH /Users".into(),
            subject_kind: None,
            subject_id: None,
            subject_name: None,
            http_status: Some(200),
            outcome: "ok".into(),
            duration_ms: None,
            attempt: None,
            detail: Some(serde_json::json!({ "normalised": notes }).to_string()),
        }
    }

    #[test]
    fn a_note_on_every_request_of_an_integration_is_shown_once() {
        let flag = "Tenant URL flag aadOptscim062020";
        let events = [
            inbound("i1", &[flag, "op 'Replace' read as 'replace'"]),
            inbound("i1", &[flag]),
            inbound("i2", &[flag]),
        ];
        let names = HashMap::from([("i1".to_string(), "Sales".to_string())]);
        let (rows, facts) = log_rows("t1", &events, &names, &Targets::new());
        assert_eq!(facts, vec![("Sales".to_string(), vec![flag.to_string()])]);
        assert_eq!(
            rows[0].summary,
            "normalised: op 'Replace' read as 'replace'"
        );
        assert_eq!(rows[1].summary, "");
        // One request of i2 on the page: its note stays on its row.
        assert_eq!(rows[2].summary, format!("normalised: {flag}"));
    }
}
