//! Classifies ActiveCampaign responses into [`ConnectorError`]s with readable messages.

use crate::model::ErrorBody;
use connector_api::ConnectorError;
use std::time::Duration;

/// Longest Retry-After we honour; a larger value is capped so a job is not parked for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Turns a non-success response into an error. `what` names the call, e.g. `update user 12`.
pub fn classify(status: u16, retry_after: Option<&str>, body: &str, what: &str) -> ConnectorError {
    let parsed: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    let message = readable(&parsed).unwrap_or_else(|| {
        let trimmed = body.trim();
        if trimmed.is_empty() || trimmed == "{}" {
            format!("HTTP {status} with no message")
        } else {
            trimmed.chars().take(300).collect()
        }
    });
    let text = format!("{what}: {message} (HTTP {status})");
    // "No Result found for Group with id 10" comes with 403 for groups, 404 elsewhere.
    if message.starts_with("No Result found") || status == 404 {
        return ConnectorError::NotFound(text);
    }
    match status {
        401 | 403
            if parsed
                .errors
                .iter()
                .any(|e| e.title.as_deref() == Some("Forbidden")) =>
        {
            ConnectorError::Unauthorized(format!(
                "{what}: the API key's user lacks permission: {message} (HTTP {status})"
            ))
        }
        401 | 403 => ConnectorError::Unauthorized(format!(
            "{what}: ActiveCampaign rejected the API key (HTTP {status}); it may have been reset — enter the current key from Settings → Developer"
        )),
        422 if parsed
            .errors
            .iter()
            .any(|e| e.code.as_deref() == Some("duplicate")) =>
        {
            ConnectorError::Conflict(text)
        }
        429 | 503 => ConnectorError::RateLimited {
            retry_after: parse_retry_after(retry_after),
            message: text,
        },
        408 | 500..=599 => ConnectorError::Transient(text),
        _ => ConnectorError::Permanent(text),
    }
}

/// The titles and details of `errors[]`, or `message`.
fn readable(b: &ErrorBody) -> Option<String> {
    if !b.errors.is_empty() {
        let parts: Vec<String> = b
            .errors
            .iter()
            .map(|e| {
                let mut s = e.title.clone().unwrap_or_default();
                if let Some(d) = e.detail.as_deref().filter(|d| !d.is_empty()) {
                    s = if s.is_empty() {
                        d.to_string()
                    } else {
                        format!("{s} — {d}")
                    };
                }
                if let Some(field) = e
                    .source
                    .as_ref()
                    .and_then(|s| s.pointer.as_deref())
                    .and_then(|p| p.rsplit('/').next())
                {
                    s = format!("{s} [{field}]");
                }
                s
            })
            .filter(|s| !s.is_empty())
            .collect();
        if !parts.is_empty() {
            return Some(parts.join("; "));
        }
    }
    b.message.clone().filter(|m| !m.is_empty())
}

/// `Retry-After` in seconds (the only form ActiveCampaign documents), capped.
pub fn parse_retry_after(v: Option<&str>) -> Option<Duration> {
    connector_api::retry_after_secs(v, MAX_RETRY_AFTER)
}

/// A transport failure (connect, timeout, reset): transient, except a connection our
/// outbound policy refused (the name resolves only to private addresses), which retrying
/// will not fix and whose reason the admin must see.
pub fn transport(e: &reqwest::Error, what: &str) -> ConnectorError {
    target_http::transport_error(e, what, "ActiveCampaign")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_by_message_even_with_403() {
        let e = classify(
            403,
            None,
            r#"{"message":"No Result found for Group with id 10"}"#,
            "get group 10",
        );
        assert!(
            matches!(e, ConnectorError::NotFound(ref m) if m.contains("Group with id 10")),
            "{e:?}"
        );
    }

    #[test]
    fn bad_key_is_unauthorized_even_without_body() {
        assert!(matches!(
            classify(403, None, "", "me"),
            ConnectorError::Unauthorized(_)
        ));
    }

    #[test]
    fn duplicate_is_conflict_and_validation_is_permanent() {
        let dup = r#"{"errors":[{"title":"Email address already exists in the system","detail":"","code":"duplicate","source":{"pointer":"/data/attributes/email"}}]}"#;
        match classify(422, None, dup, "create user") {
            ConnectorError::Conflict(m) => assert!(
                m.contains("Email address already exists in the system [email]"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
        let missing = r#"{"errors":[{"title":"The user group was not provided.","detail":"","code":"field_missing","source":{"pointer":"/data/attributes/group"}}]}"#;
        assert!(
            matches!(classify(422, None, missing, "update user 13"), ConnectorError::Permanent(m) if m.contains("group was not provided"))
        );
    }

    #[test]
    fn rate_limits_and_outages_retry() {
        match classify(429, Some("30"), "", "list users") {
            ConnectorError::RateLimited { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(30)))
            }
            other => panic!("{other:?}"),
        }
        assert!(classify(503, None, "", "x").is_retryable());
        assert!(classify(502, None, "", "x").is_retryable());
        assert!(!classify(400, None, "{}", "x").is_retryable());
        assert_eq!(parse_retry_after(Some("99999")), Some(MAX_RETRY_AFTER));
    }
}
