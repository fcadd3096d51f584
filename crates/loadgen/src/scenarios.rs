//! The HTTP scenarios.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::Error;
use crate::bodies::{
    create_user_body, lookup_url, page_url, patch_user_body, pick_index, user_name, user_url,
};
use crate::http::{Base, Client, Failure};
use crate::ids::UserRef;
use crate::runner::{ErrorSamples, Outcome, run_closed_loop};
use crate::stats::{PageInfo, Recorder, Summary, SummaryMeta};

/// Shared state for all scenarios of a run.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub client: Arc<Client>,
    /// SCIM base URL without a trailing slash (as given, for reports and the ids file).
    pub base: Arc<str>,
    /// Its path: what request paths start with.
    path: Arc<str>,
    /// Per-scenario time bound.
    pub duration: Option<Duration>,
}

impl Ctx {
    /// One pooled client for the whole run (keep-alive connections, `TCP_NODELAY`, a
    /// per-request timeout); only the given server is contacted.
    pub fn new(
        base: &str,
        token: &str,
        timeout: Duration,
        duration: Option<Duration>,
    ) -> Result<Self, Error> {
        let base = normalize_base(base)?;
        let parsed = Base::parse(&base)?;
        let path: Arc<str> = parsed.path.clone().into();
        Ok(Self {
            client: Arc::new(Client::new(parsed, token, timeout)?),
            base: base.into(),
            path,
            duration,
        })
    }

    fn deadline(&self) -> Option<Instant> {
        self.duration.map(|d| Instant::now() + d)
    }
}

/// Validate the base URL and strip trailing slashes.
pub fn normalize_base(url: &str) -> Result<String, Error> {
    let trimmed = url.trim().trim_end_matches('/');
    Base::parse(trimmed)?;
    Ok(trimmed.to_owned())
}

/// Send a request and read the whole body; transport failures become outcomes.
async fn send(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<(StatusCode, bytes::Bytes), Outcome<()>> {
    client
        .send(method, path, body)
        .await
        .map_err(|Failure { key, detail }| Outcome::err(key, detail))
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

fn retype<T>(o: Outcome<()>) -> Outcome<T> {
    match o {
        Outcome::Ok(_) => Outcome::Ok(None),
        Outcome::Err { key, body } => Outcome::Err { key, body },
    }
}

fn status_err<T>(status: StatusCode, body: &[u8]) -> Outcome<T> {
    Outcome::err(status.as_u16().to_string(), text(body))
}

fn summary_meta(scenario: &str, concurrency: usize) -> SummaryMeta {
    SummaryMeta {
        scenario: scenario.to_owned(),
        concurrency,
        ..Default::default()
    }
}

/// `create`: POST /Users `users` times; returns the summary and the created users.
pub async fn create(
    ctx: &Ctx,
    run_id: &str,
    users: u64,
    concurrency: usize,
) -> Result<(Summary, Vec<UserRef>), Error> {
    let (client, base, run_id) = (
        ctx.client.clone(),
        ctx.path.clone(),
        Arc::<str>::from(run_id),
    );
    let out = run_closed_loop(users, concurrency, ctx.deadline(), move |i| {
        let (client, base, run_id) = (client.clone(), base.clone(), run_id.clone());
        async move {
            let external_id = uuid::Uuid::new_v4().to_string();
            let body = create_user_body(&run_id, i, &external_id);
            let body = match serde_json::to_vec(&body) {
                Ok(b) => b,
                Err(e) => return Outcome::err("serialize", e.to_string()),
            };
            let path = format!("{base}/Users");
            let (status, body) = match send(&client, Method::POST, &path, Some(body)).await {
                Ok(r) => r,
                Err(o) => return retype(o),
            };
            if status != StatusCode::CREATED {
                return status_err(status, &body);
            }
            let id = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned));
            match id {
                Some(id) => Outcome::Ok(Some(UserRef {
                    id,
                    user_name: user_name(&run_id, i),
                })),
                None => Outcome::err("201 (no id in body)", text(&body)),
            }
        }
    })
    .await?;
    let users: Vec<UserRef> = out.items.into_iter().map(|(_, u)| u).collect();
    let summary = out.recorder.summarize(SummaryMeta {
        wall: out.wall,
        error_samples: out.error_samples,
        stopped_early: out.stopped_early,
        ..summary_meta("create", concurrency)
    });
    Ok((summary, users))
}

/// `lookup`: GET /Users?filter=userName eq "…" for random known users.
pub async fn lookup(
    ctx: &Ctx,
    users: Arc<[UserRef]>,
    requests: u64,
    concurrency: usize,
) -> Result<Summary, Error> {
    let (client, base) = (ctx.client.clone(), ctx.path.clone());
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let out = run_closed_loop(requests, concurrency, ctx.deadline(), move |i| {
        let (client, base, users) = (client.clone(), base.clone(), users.clone());
        async move {
            let Some(user) = users.get(pick_index(seed, i, users.len())) else {
                return Outcome::err("no users", "");
            };
            let path = lookup_url(&base, &user.user_name);
            let (status, body) = match send(&client, Method::GET, &path, None).await {
                Ok(r) => r,
                Err(o) => return retype(o),
            };
            if status != StatusCode::OK {
                return status_err(status, &body);
            }
            check_lookup_body(&body, &user.id)
        }
    })
    .await?;
    Ok(out.recorder.summarize(SummaryMeta {
        wall: out.wall,
        error_samples: out.error_samples,
        stopped_early: out.stopped_early,
        ..summary_meta("lookup", concurrency)
    }))
}

/// The parts of a ListResponse the load generator checks; everything else is skipped
/// without being built into a tree.
#[derive(Deserialize)]
struct ListShape<'a> {
    #[serde(rename = "totalResults")]
    total_results: Option<u64>,
    #[serde(rename = "Resources", borrow, default)]
    resources: Option<Vec<IdShape<'a>>>,
}

#[derive(Deserialize)]
struct IdShape<'a> {
    #[serde(borrow, default)]
    id: Option<std::borrow::Cow<'a, str>>,
}

/// A 200 lookup response must have `totalResults: 1` and the expected resource id.
pub fn check_lookup_body(body: &[u8], expected_id: &str) -> Outcome<()> {
    let raw = || text(body);
    let Ok(v) = serde_json::from_slice::<ListShape<'_>>(body) else {
        return Outcome::err("200 (invalid JSON)", raw());
    };
    match v.total_results {
        Some(1) => {}
        Some(n) => return Outcome::err(format!("200 (totalResults={n})"), raw()),
        None => return Outcome::err("200 (no totalResults)", raw()),
    }
    let id = v
        .resources
        .as_ref()
        .and_then(|r| r.first())
        .and_then(|r| r.id.as_deref());
    match id {
        Some(id) if id == expected_id => Outcome::Ok(None),
        Some(_) => Outcome::err("200 (wrong id)", raw()),
        None => Outcome::err("200 (no Resources[0].id)", raw()),
    }
}

/// `patch`: Entra-style PATCH /Users/{id} on random known users.
pub async fn patch(
    ctx: &Ctx,
    users: Arc<[UserRef]>,
    requests: u64,
    concurrency: usize,
) -> Result<Summary, Error> {
    let (client, base) = (ctx.client.clone(), ctx.path.clone());
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let out = run_closed_loop(requests, concurrency, ctx.deadline(), move |i| {
        let (client, base, users) = (client.clone(), base.clone(), users.clone());
        async move {
            let Some(user) = users.get(pick_index(seed, i, users.len())) else {
                return Outcome::<()>::err("no users", "");
            };
            let body = match serde_json::to_vec(&patch_user_body(i, &user.user_name)) {
                Ok(b) => b,
                Err(e) => return Outcome::err("serialize", e.to_string()),
            };
            let path = user_url(&base, &user.id);
            match send(&client, Method::PATCH, &path, Some(body)).await {
                Ok((StatusCode::OK | StatusCode::NO_CONTENT, _)) => Outcome::Ok(None),
                Ok((status, body)) => status_err(status, &body),
                Err(o) => retype(o),
            }
        }
    })
    .await?;
    Ok(out.recorder.summarize(SummaryMeta {
        wall: out.wall,
        error_samples: out.error_samples,
        stopped_early: out.stopped_early,
        ..summary_meta("patch", concurrency)
    }))
}

/// `page`: walk all users with startIndex/count, sequentially on one connection.
pub async fn page(ctx: &Ctx, count: u64, max_pages: u64) -> Result<Summary, Error> {
    let deadline = ctx.deadline();
    let mut rec = Recorder::new()?;
    let samples = ErrorSamples::default();
    let mut info = PageInfo {
        page_size: count,
        ..Default::default()
    };
    let mut seen_ids: HashSet<String> = HashSet::new();
    let mut start_index = 1u64;
    let mut total: Option<u64> = None;
    let mut stopped_early = false;
    let started = Instant::now();

    while info.pages < max_pages {
        if total.is_some_and(|t| info.resources_seen >= t) {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            stopped_early = true;
            break;
        }
        let t0 = Instant::now();
        let path = page_url(&ctx.path, start_index, count);
        let res = send(&ctx.client, Method::GET, &path, None).await;
        let latency = t0.elapsed();
        let (status, body) = match res {
            Ok(r) => r,
            Err(Outcome::Err { key, body }) => {
                rec.record_err(latency, &key);
                samples.push(&key, &body);
                break;
            }
            Err(Outcome::Ok(_)) => break,
        };
        if status != StatusCode::OK {
            let key = status.as_u16().to_string();
            rec.record_err(latency, &key);
            samples.push(&key, &text(&body));
            break;
        }
        let Some((page_total, ids)) = parse_list_response(&body) else {
            rec.record_err(latency, "200 (bad ListResponse)");
            samples.push("200 (bad ListResponse)", &text(&body));
            break;
        };
        rec.record_ok(latency);
        info.pages += 1;
        let n = u64::try_from(ids.len()).unwrap_or(u64::MAX);
        info.resources_seen += n;
        seen_ids.extend(ids);
        total = Some(page_total);
        start_index = start_index.saturating_add(n);
        if n == 0 {
            break;
        }
    }
    info.total_results = total.unwrap_or(0);
    info.unique_ids = u64::try_from(seen_ids.len()).unwrap_or(u64::MAX);
    let mut summary = rec.summarize(SummaryMeta {
        wall: started.elapsed(),
        error_samples: samples.take(),
        stopped_early,
        ..summary_meta("page", 1)
    });
    summary.page = Some(info);
    Ok(summary)
}

/// Extract `totalResults` and the resource ids from a SCIM ListResponse.
/// A missing `Resources` member is treated as an empty page (RFC 7644 allows it).
pub fn parse_list_response(body: &[u8]) -> Option<(u64, Vec<String>)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let total = v.get("totalResults")?.as_u64()?;
    let ids = match v.get("Resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(r) => r
            .as_array()?
            .iter()
            .map(|r| r.get("id").and_then(Value::as_str).unwrap_or("").to_owned())
            .collect(),
    };
    Some((total, ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_validation() {
        assert_eq!(
            normalize_base("http://127.0.0.1:8080/scim/v2/abc/").unwrap(),
            "http://127.0.0.1:8080/scim/v2/abc"
        );
        assert!(normalize_base("127.0.0.1:8080").is_err());
        assert!(normalize_base("ftp://x/y").is_err());
        assert!(normalize_base("http://x/y?z=1").is_err());
    }

    #[test]
    fn lookup_body_checks() {
        let ok = br#"{"totalResults":1,"Resources":[{"id":"a"}]}"#;
        assert_eq!(check_lookup_body(ok, "a"), Outcome::Ok(None));
        let key = |b: &[u8], id| match check_lookup_body(b, id) {
            Outcome::Err { key, .. } => key,
            Outcome::Ok(_) => "ok".into(),
        };
        assert_eq!(key(ok, "b"), "200 (wrong id)");
        assert_eq!(
            key(br#"{"totalResults":0,"Resources":[]}"#, "a"),
            "200 (totalResults=0)"
        );
        assert_eq!(key(b"nope", "a"), "200 (invalid JSON)");
        assert_eq!(key(br#"{"Resources":[]}"#, "a"), "200 (no totalResults)");
        assert_eq!(
            key(br#"{"totalResults":1}"#, "a"),
            "200 (no Resources[0].id)"
        );
    }

    #[test]
    fn list_response_parsing() {
        let b = br#"{"totalResults":3,"itemsPerPage":2,"startIndex":1,"Resources":[{"id":"a"},{"id":"b"}]}"#;
        assert_eq!(
            parse_list_response(b),
            Some((3, vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            parse_list_response(br#"{"totalResults":0}"#),
            Some((0, vec![]))
        );
        assert_eq!(parse_list_response(br#"{"Resources":[]}"#), None);
        assert_eq!(parse_list_response(b"<html>"), None);
    }
}
