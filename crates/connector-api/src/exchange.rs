//! The HTTP exchanges behind one connector call, for the trace: method, path, status and the
//! bodies with secrets masked. Connectors report each request they send with [`record`]; the
//! engine wraps a call in [`capture`] and keeps what was reported with the call's event. A
//! task-local sink, so the [`crate::Connector`] trait stays free of logging concerns and a
//! connector that reports nothing still works.

use serde::Serialize;
use serde_json::Value;
use std::cell::RefCell;
use std::future::Future;
use std::time::{Duration, Instant};

/// Longest body kept per exchange, in characters; longer ones are cut and say so.
pub const MAX_BODY_CHARS: usize = 4_096;

/// What replaces a masked value.
pub const MASK: &str = "[redacted]";

/// One HTTP request a connector sent, and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query on the target, e.g. `/api/3/users?filters[email]=ada%40contoso.com`
    /// (the host is the integration's, and is left out).
    pub path: String,
    /// The HTTP status; `None` when no response came (timeout, connection refused).
    pub status: Option<u16>,
    /// The request body, secrets masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// The response body, secrets masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// How long it took, in milliseconds.
    pub ms: u64,
}

impl Exchange {
    /// An exchange with both bodies passed through [`redact`].
    pub fn new(
        method: &str,
        path: &str,
        status: Option<u16>,
        request: Option<&str>,
        response: Option<&str>,
        took: Duration,
    ) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            request: request.filter(|b| !b.is_empty()).map(redact),
            response: response.filter(|b| !b.is_empty()).map(redact),
            ms: took.as_millis() as u64,
        }
    }
}

/// One request on its way: [`Pending::start`] before sending, [`Pending::finish`] with what
/// came back (every connector's send path reports through this, so each writes it once).
#[derive(Debug)]
pub struct Pending {
    method: String,
    path: String,
    request: Option<String>,
    started: Instant,
}

impl Pending {
    /// A request of `method` to `url` (its path and query are kept, not the host) with
    /// `request` as the body.
    pub fn start(method: &str, url: &str, request: Option<&str>) -> Self {
        let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
        let path = after_scheme
            .find('/')
            .map_or("/", |i| &after_scheme[i..])
            .to_owned();
        Self {
            method: method.to_owned(),
            path,
            request: request.map(str::to_owned),
            started: Instant::now(),
        }
    }

    /// Reports the exchange: `status` `None` when no answer came.
    pub fn finish(&self, status: Option<u16>, response: Option<&str>) {
        record(Exchange::new(
            &self.method,
            &self.path,
            status,
            self.request.as_deref(),
            response,
            self.started.elapsed(),
        ));
    }
}

tokio::task_local! {
    static EXCHANGES: RefCell<Vec<Exchange>>;
}

/// Runs `f` and returns its output with every exchange [`record`]ed meanwhile on this task.
pub async fn capture<F: Future>(f: F) -> (F::Output, Vec<Exchange>) {
    EXCHANGES
        .scope(RefCell::new(Vec::new()), async {
            let out = f.await;
            let seen = EXCHANGES.with(RefCell::take);
            (out, seen)
        })
        .await
}

/// Reports an exchange to the enclosing [`capture`]; outside one it is dropped.
pub fn record(exchange: Exchange) {
    let _ = EXCHANGES.try_with(|c| c.borrow_mut().push(exchange));
}

/// Whether a JSON key names something secret (passwords, tokens, keys).
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '_'], "");
    [
        "password",
        "secret",
        "token",
        "apikey",
        "authorization",
        "credential",
    ]
    .iter()
    .any(|s| k.contains(s))
}

fn mask(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if is_secret_key(k) && !v.is_null() {
                    *v = Value::String(MASK.into());
                } else {
                    mask(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask),
        _ => {}
    }
}

/// A body as the trace may show it: JSON with the values of secret-looking keys masked
/// (`password`, `api_key`, `token`, …, at any depth); anything that is not JSON is not shown
/// (it could hold anything), only its size; cut at [`MAX_BODY_CHARS`].
pub fn redact(body: &str) -> String {
    let shown = match serde_json::from_str::<Value>(body) {
        Ok(mut v) => {
            mask(&mut v);
            v.to_string()
        }
        Err(_) => return format!("({} bytes, not JSON: not shown)", body.len()),
    };
    if shown.chars().count() > MAX_BODY_CHARS {
        let cut: String = shown.chars().take(MAX_BODY_CHARS).collect();
        format!("{cut}… (cut at {MAX_BODY_CHARS} characters)")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_at_any_depth() {
        let body = r#"{"user":{"email":"a@b","password":"hunter2","group":"3"},"auth":[{"api_key":"k","apiToken":"t"}]}"#;
        let shown = redact(body);
        assert!(!shown.contains("hunter2") && !shown.contains("\"k\"") && !shown.contains("\"t\""));
        assert!(shown.contains("\"email\":\"a@b\"") && shown.contains("\"group\":\"3\""));
        assert_eq!(shown.matches(MASK).count(), 3);
    }

    #[test]
    fn non_json_is_not_shown_and_long_bodies_are_cut() {
        assert_eq!(
            redact("password=hunter2"),
            "(16 bytes, not JSON: not shown)"
        );
        let long = format!("\"{}\"", "x".repeat(MAX_BODY_CHARS * 2));
        let shown = redact(&long);
        assert!(shown.ends_with("(cut at 4096 characters)"));
        assert!(shown.chars().count() < MAX_BODY_CHARS + 40);
    }

    #[tokio::test]
    async fn a_pending_request_reports_its_path_and_outcome() {
        let (_, seen) = capture(async {
            let p = Pending::start(
                "GET",
                "https://acme.api-us1.com/api/3/users?filters%5Bemail%5D=a%40b",
                None,
            );
            p.finish(Some(200), Some(r#"{"users":[]}"#));
            Pending::start("DELETE", "http://127.0.0.1:9/x", None).finish(None, None);
        })
        .await;
        assert_eq!(seen[0].path, "/api/3/users?filters%5Bemail%5D=a%40b");
        assert_eq!(seen[0].response.as_deref(), Some(r#"{"users":[]}"#));
        assert_eq!((seen[1].method.as_str(), seen[1].status), ("DELETE", None));
    }

    #[tokio::test]
    async fn capture_collects_what_the_call_records() {
        let (out, seen) = capture(async {
            record(Exchange::new(
                "POST",
                "/api/3/users",
                Some(201),
                Some(r#"{"user":{"password":"p"}}"#),
                Some(r#"{"user":{"id":"7"}}"#),
                Duration::from_millis(12),
            ));
            42
        })
        .await;
        assert_eq!(out, 42);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].status, Some(201));
        assert_eq!(
            seen[0].request.as_deref(),
            Some(r#"{"user":{"password":"[redacted]"}}"#)
        );
        // Outside a capture, nothing is kept and nothing fails.
        record(Exchange::new("GET", "/", None, None, None, Duration::ZERO));
        let (_, none) = capture(async {}).await;
        assert!(none.is_empty());
    }
}
