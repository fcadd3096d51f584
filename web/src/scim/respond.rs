//! Everything around a SCIM handler's one call into the directory: reading the JSON body
//! within the size limit, authenticating, rendering the reply or the SCIM error with
//! `application/scim+json`, the correlation id header, and the provisioning event.

use crate::app::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;
use provisioning::{DirectoryError, IntegrationScope};
use scim_core::ScimError;
use scim_core::messages::ErrorResponse;
use serde_json::{Value, json};
use std::time::Instant;
use store::{Direction, NewEvent, OK_OUTCOME, SubjectKind};

/// The SCIM media type.
pub const SCIM_JSON: &str = "application/scim+json";
/// Largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;
/// Header carrying the correlation id (also accepted from the client).
pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// Largest request-body excerpt kept in an event.
const MAX_LOGGED_BODY: usize = 16 * 1024;

/// What a handler produced.
pub enum Reply {
    /// A JSON body with a status, and optional ETag / Location.
    Json {
        status: StatusCode,
        body: Value,
        etag: Option<String>,
        location: Option<String>,
    },
    /// 200 with a body already serialized (a list: no detour through a `Value` tree).
    Serialized(Vec<u8>),
    /// 204.
    NoContent,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply::Json {
            status: StatusCode::OK,
            body,
            etag: None,
            location: None,
        }
    }
}

/// Per-request context: who, what, since when, and what to log.
pub struct Call {
    pub correlation_id: String,
    pub operation: String,
    started: Instant,
    pub subject_kind: Option<SubjectKind>,
    pub subject_id: Option<String>,
    pub subject_name: Option<String>,
    pub quirks: Vec<String>,
    request_body: Option<Value>,
    query: String,
}

impl Call {
    /// Starts a call; the operation reads like `PATCH /Users/{id}`.
    pub fn start(req: &HttpRequest, operation: &str) -> Self {
        let correlation_id = req
            .headers()
            .get(CORRELATION_HEADER)
            .or_else(|| req.headers().get("client-request-id"))
            .and_then(|h| h.to_str().ok())
            .filter(|s| {
                !s.is_empty()
                    && s.len() <= 128
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
            .map(str::to_string)
            .unwrap_or_else(store::new_id);
        let mut quirks = Vec::new();
        if req.query_string().contains("aadOptscim062020") {
            quirks.push("Tenant URL flag aadOptscim062020".to_string());
        }
        Self {
            correlation_id,
            operation: operation.to_string(),
            started: Instant::now(),
            subject_kind: None,
            subject_id: None,
            subject_name: None,
            quirks,
            request_body: None,
            query: req.query_string().to_string(),
        }
    }

    /// Names the subject for the log.
    pub fn subject(&mut self, kind: SubjectKind, id: Option<&str>) {
        self.subject_kind = Some(kind);
        self.subject_id = id.map(str::to_string);
    }

    /// Keeps the (redacted) request body for the log.
    pub fn body(&mut self, body: &Value) {
        self.request_body = Some(redact(body));
    }
}

/// Starts a call and authenticates it; on failure, the finished 401 response.
pub async fn begin(
    req: &HttpRequest,
    state: &AppState,
    integration: &str,
    operation: &str,
    subject: Option<(SubjectKind, Option<&str>)>,
) -> Result<(Call, IntegrationScope), HttpResponse> {
    let mut call = Call::start(req, operation);
    if let Some((kind, id)) = subject {
        call.subject(kind, id);
    }
    match super::auth::authenticate(req, state, integration).await {
        Ok(scope) => Ok((call, scope)),
        Err(e) => Err(finish(state, None, call, Err(e.into())).await),
    }
}

/// Reads and parses the JSON body; 413 past [`MAX_BODY`], `invalidSyntax` for bad JSON.
pub async fn read_json(req: &HttpRequest, mut payload: web::Payload) -> Result<Value, ScimError> {
    let too_large = || {
        ScimError::new(
            413,
            None,
            format!("the request body is larger than {MAX_BODY} bytes"),
        )
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.parse::<usize>().ok())
        && len > MAX_BODY
    {
        return Err(too_large());
    }
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ScimError::invalid_syntax("the request body could not be read"))?;
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.is_empty() {
        return Err(ScimError::invalid_syntax(
            "the request body is empty; a JSON object is expected",
        ));
    }
    serde_json::from_slice(&buf)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}

/// Renders a SCIM error.
pub fn error_response(e: &ScimError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    builder.insert_header((header::CONTENT_TYPE, SCIM_JSON));
    if e.status == 401 {
        builder.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"scimbridge\""));
    }
    builder.body(serde_json::to_vec(&ErrorResponse::from(e)).unwrap_or_default())
}

/// Builds the response, records the event and attaches the correlation id.
pub async fn finish(
    state: &AppState,
    scope: Option<&IntegrationScope>,
    call: Call,
    result: Result<Reply, DirectoryError>,
) -> HttpResponse {
    // What we answered, in short, for the trace: the resource's id and version (the body
    // itself is the stored resource, so it is not copied into every event).
    let mut answer = None;
    let (mut response, status, error) = match result {
        Ok(Reply::NoContent) => (HttpResponse::NoContent().finish(), 204, None),
        Ok(Reply::Serialized(body)) => (
            HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, SCIM_JSON))
                .body(body),
            200,
            None,
        ),
        Ok(Reply::Json {
            status,
            body,
            etag,
            location,
        }) => {
            let mut b = HttpResponse::build(status);
            b.insert_header((header::CONTENT_TYPE, SCIM_JSON));
            if scope.is_some() {
                answer = Some(json!({
                    "id": body.get("id"),
                    "etag": etag.as_deref(),
                    "location": location.as_deref(),
                }));
            }
            if let Some(etag) = etag {
                b.insert_header((header::ETAG, etag));
            }
            if let Some(loc) = location {
                b.insert_header((header::LOCATION, loc));
            }
            (
                b.body(serde_json::to_vec(&body).unwrap_or_default()),
                status.as_u16(),
                None,
            )
        }
        Err(e) => {
            if let DirectoryError::Store(inner) = &e {
                tracing::error!(correlation_id = %call.correlation_id, error = %inner, "storage failure");
            }
            let scim = e.to_scim();
            (error_response(&scim), scim.status, Some(scim))
        }
    };
    crate::ops::scim_request(
        scope.map(|s| s.integration_id.as_str()),
        &call.operation,
        status,
        call.started.elapsed(),
    );
    if let Ok(v) = HeaderValue::from_str(&call.correlation_id) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static(CORRELATION_HEADER), v);
    }
    if let Some(scope) = scope {
        let mut detail = json!({"query": call.query});
        if !call.quirks.is_empty() {
            detail["normalised"] = json!(call.quirks);
        }
        if let Some(e) = &error {
            detail["error"] =
                json!({"scimType": e.scim_type.map(|t| t.as_str()), "detail": e.detail});
        }
        if let Some(body) = call.request_body {
            detail["request"] = body;
        }
        if let Some(a) = answer {
            detail["response"] = a;
        }
        state
            .events
            .record(NewEvent {
                at: chrono::Utc::now().timestamp_millis(),
                tenant_id: scope.tenant_id.clone(),
                integration_id: scope.integration_id.clone(),
                direction: Direction::Inbound,
                operation: call.operation,
                subject_kind: call.subject_kind,
                subject_id: call.subject_id,
                subject_name: call.subject_name,
                http_status: Some(i32::from(status)),
                outcome: if status < 400 {
                    OK_OUTCOME.into()
                } else {
                    "error".into()
                },
                duration_ms: Some(call.started.elapsed().as_millis().min(i64::MAX as u128) as i64),
                correlation_id: call.correlation_id,
                attempt: None,
                detail: Some(detail.to_string()),
            })
            .await;
    }
    response
}

fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["password", "secret", "token", "apikey", "api_key"]
        .iter()
        .any(|s| lower.contains(s))
}

/// Removes secrets (`password`, anything named like a token or key) and truncates.
pub fn redact(v: &Value) -> Value {
    fn walk(v: &Value) -> Value {
        match v {
            Value::Object(o) => {
                // A PATCH operation on a secret attribute carries the secret in `value`.
                let secret_path = o.iter().any(|(k, v)| {
                    k.eq_ignore_ascii_case("path") && v.as_str().is_some_and(is_secret_name)
                });
                Value::Object(
                    o.iter()
                        .map(|(k, v)| {
                            let secret = is_secret_name(k)
                                || (secret_path && k.eq_ignore_ascii_case("value"));
                            (
                                k.clone(),
                                if secret {
                                    Value::String("[redacted]".into())
                                } else {
                                    walk(v)
                                },
                            )
                        })
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(walk).collect()),
            other => other.clone(),
        }
    }
    let out = walk(v);
    let text = out.to_string();
    if text.len() > MAX_LOGGED_BODY {
        json!({"truncated": true, "bytes": text.len()})
    } else {
        out
    }
}
