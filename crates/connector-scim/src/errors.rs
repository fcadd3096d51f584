//! Classifies SCIM targets' answers into [`ConnectorError`]s: RFC 7644 error bodies
//! (`detail`, `scimType`) and the plain-JSON ones (`message`, `error`) some apps send.

use connector_api::ConnectorError;
use serde_json::Value;
use std::time::Duration;

/// Longest Retry-After honoured; a larger value is capped so a job is not parked for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The readable part of an error body.
fn readable(body: &str) -> String {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let field = |k: &str| parsed.get(k).and_then(Value::as_str).map(str::to_string);
    let mut msg = field("detail")
        .or_else(|| field("message"))
        .or_else(|| field("error"))
        .or_else(|| {
            parsed
                .get("errors")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(|e| e.get("detail").or_else(|| e.get("message")))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| parsed.as_str().map(str::to_string))
        .unwrap_or_else(|| body.trim().chars().take(300).collect());
    if let Some(t) = field("scimType") {
        msg = format!("{msg} [{t}]");
    }
    if msg.is_empty() {
        "no message".into()
    } else {
        msg
    }
}

/// Turns a non-success answer into an error; `what` names the call, e.g. `update user 12`.
pub fn classify(status: u16, retry_after: Option<&str>, body: &str, what: &str) -> ConnectorError {
    let text = format!("{what}: {} (HTTP {status})", readable(body));
    match status {
        401 | 403 => ConnectorError::Unauthorized(format!(
            "{text}; check the token (and the auth header setting)"
        )),
        404 => ConnectorError::NotFound(text),
        409 => ConnectorError::Conflict(text),
        429 => ConnectorError::RateLimited {
            retry_after: parse_retry_after(retry_after),
            message: text,
        },
        503 if retry_after.is_some() => ConnectorError::RateLimited {
            retry_after: parse_retry_after(retry_after),
            message: text,
        },
        // 412: the resource changed between our read and our write; read again.
        408 | 412 | 500..=599 => ConnectorError::Transient(text),
        _ => ConnectorError::Permanent(text),
    }
}

/// `Retry-After` in seconds, capped (an HTTP date is not honoured: the backoff applies).
pub fn parse_retry_after(v: Option<&str>) -> Option<Duration> {
    connector_api::retry_after_secs(v, MAX_RETRY_AFTER)
}

/// A transport failure: transient, except a connection our outbound policy refused.
pub fn transport(e: &reqwest::Error, what: &str) -> ConnectorError {
    target_http::transport_error(e, what, "the SCIM target")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_and_plain_bodies() {
        let rfc = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName taken"}"#;
        match classify(409, None, rfc, "create user") {
            ConnectorError::Conflict(m) => {
                assert!(m.contains("userName taken [uniqueness]"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match classify(
            400,
            None,
            r#"{"message":"emails is required"}"#,
            "create user",
        ) {
            ConnectorError::Permanent(m) => assert!(m.contains("emails is required"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(404, None, "", "get user 1"),
            ConnectorError::NotFound(_)
        ));
        assert!(matches!(
            classify(401, None, "", "list users"),
            ConnectorError::Unauthorized(_)
        ));
    }

    #[test]
    fn rate_limits_and_outages_retry() {
        match classify(429, Some("7"), "", "x") {
            ConnectorError::RateLimited { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(503, Some("2"), "", "x"),
            ConnectorError::RateLimited { .. }
        ));
        assert!(matches!(
            classify(503, None, "", "x"),
            ConnectorError::Transient(_)
        ));
        assert!(classify(412, None, "", "x").is_retryable());
        assert!(!classify(400, None, "{}", "x").is_retryable());
        assert_eq!(parse_retry_after(Some("99999")), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
    }
}
