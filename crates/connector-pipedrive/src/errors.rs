//! Classifies Pipedrive answers into [`ConnectorError`]s with readable messages.

use crate::model::ErrorBody;
use connector_api::ConnectorError;
use std::time::Duration;

/// The longest `Retry-After` we honour: the daily budget resets within a day.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// Turns a non-success answer into an error; `what` names the call.
pub fn classify(status: u16, retry_after: Option<&str>, body: &str, what: &str) -> ConnectorError {
    let parsed: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    let message = parsed
        .error
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| match body.trim() {
            "" => format!("HTTP {status} with no message"),
            t => t.chars().take(300).collect(),
        });
    let text = format!("{what}: {message} (HTTP {status})");
    match status {
        401 => ConnectorError::Unauthorized(format!(
            "{what}: Pipedrive rejected the API token (HTTP 401); enter the current token from Personal preferences → API"
        )),
        403 => ConnectorError::Unauthorized(format!(
            "{what}: the API token's user lacks admin rights: {message} (HTTP 403)"
        )),
        404 => ConnectorError::NotFound(text),
        400 | 409 | 422 if message.to_ascii_lowercase().contains("already exists") => {
            ConnectorError::Conflict(text)
        }
        429 => ConnectorError::RateLimited {
            retry_after: parse_retry_after(retry_after),
            message: text,
        },
        408 | 500..=599 => ConnectorError::Transient(text),
        _ => ConnectorError::Permanent(text),
    }
}

/// `Retry-After` in seconds, capped at a day.
pub fn parse_retry_after(v: Option<&str>) -> Option<Duration> {
    connector_api::retry_after_secs(v, MAX_RETRY_AFTER)
}

/// A transport failure: transient, except a connection the outbound policy refused.
pub fn transport(e: &reqwest::Error, what: &str) -> ConnectorError {
    target_http::transport_error(e, what, "Pipedrive")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let e = classify(
            401,
            None,
            r#"{"success":false,"error":"unauthorized access","errorCode":401}"#,
            "me",
        );
        assert!(matches!(e, ConnectorError::Unauthorized(_)));
        let e = classify(
            403,
            None,
            r#"{"success":false,"error":"You do not have permissions to do this."}"#,
            "create",
        );
        assert!(
            matches!(e, ConnectorError::Unauthorized(ref m) if m.contains("You do not have permissions")),
            "{e:?}"
        );
        let e = classify(
            404,
            None,
            r#"{"success":false,"error":"User not found or not accessible.","data":null}"#,
            "get user 9",
        );
        assert!(matches!(e, ConnectorError::NotFound(ref m) if m.contains("User not found")));
        let e = classify(
            400,
            None,
            r#"{"success":false,"error":"User with this email already exists in the company."}"#,
            "create",
        );
        assert!(matches!(e, ConnectorError::Conflict(_)));
        let e = classify(400, None, r#"{"success":false,"error":"bad"}"#, "create");
        assert!(matches!(e, ConnectorError::Permanent(_)));
        match classify(429, Some("36000"), "{}", "list") {
            ConnectorError::RateLimited { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(36_000)))
            }
            other => panic!("{other:?}"),
        }
        assert!(classify(502, None, "", "x").is_retryable());
    }
}
