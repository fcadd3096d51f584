//! Classifies Brevo answers (`{"code": …, "message": …}`) into [`ConnectorError`]s.

use connector_api::ConnectorError;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Turns a non-success answer into an error; `reset` is `x-sib-ratelimit-reset` (Brevo sends
/// no Retry-After); `what` names the call.
pub fn classify(status: u16, reset: Option<Duration>, body: &str, what: &str) -> ConnectorError {
    let parsed: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    let code = parsed.code.unwrap_or_default();
    let message = parsed
        .message
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| match body.trim() {
            "" => format!("HTTP {status} with no message"),
            t => t.chars().take(300).collect(),
        });
    let text = if code.is_empty() {
        format!("{what}: {message} (HTTP {status})")
    } else {
        format!("{what}: {message} ({code}, HTTP {status})")
    };
    match (status, code.as_str()) {
        (401, _) | (_, "unauthorized") => ConnectorError::Unauthorized(format!(
            "{what}: Brevo rejected the API key (HTTP {status}); create a v3 key under SMTP & API → API keys"
        )),
        (429, _) => ConnectorError::RateLimited {
            retry_after: reset,
            message: text,
        },
        (404, _) | (_, "document_not_found") => ConnectorError::NotFound(text),
        (_, "duplicate_parameter") => ConnectorError::Conflict(text),
        (408 | 500..=599, _) => ConnectorError::Transient(text),
        _ => ConnectorError::Permanent(text),
    }
}

/// A transport failure: transient, except a connection the outbound policy refused.
pub fn transport(e: &reqwest::Error, what: &str) -> ConnectorError {
    target_http::transport_error(e, what, "Brevo")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_decide() {
        let c = |s, b: &str| classify(s, None, b, "x");
        assert!(matches!(
            c(401, r#"{"code":"unauthorized","message":"Key not found"}"#),
            ConnectorError::Unauthorized(_)
        ));
        assert!(matches!(
            c(
                400,
                r#"{"code":"document_not_found","message":"User not found"}"#
            ),
            ConnectorError::NotFound(_)
        ));
        assert!(matches!(
            c(
                403,
                r#"{"code":"document_not_found","message":"User not found"}"#
            ),
            ConnectorError::NotFound(_)
        ));
        assert!(matches!(
            c(400, r#"{"code":"duplicate_parameter","message":"exists"}"#),
            ConnectorError::Conflict(_)
        ));
        assert!(matches!(
            c(400, r#"{"code":"invalid_parameter","message":"Invalid feature"}"#),
            ConnectorError::Permanent(ref m) if m.contains("Invalid feature (invalid_parameter")
        ));
        assert!(matches!(
            c(403, r#"{"code":"permission_denied","message":"no"}"#),
            ConnectorError::Permanent(_)
        ));
        match classify(429, Some(Duration::from_secs(1200)), "{}", "x") {
            ConnectorError::RateLimited { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(1200)))
            }
            other => panic!("{other:?}"),
        }
        assert!(c(503, "").is_retryable());
    }
}
