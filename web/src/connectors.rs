//! The connector kinds this build knows and the settings each needs. The engine issue turns
//! this into the connector registry; today it validates what `integration create` stores.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One setting of a connector.
pub struct Field {
    pub key: &'static str,
    pub secret: bool,
    pub required: bool,
}

/// A connector kind.
pub struct ConnectorKind {
    pub kind: &'static str,
    pub title: &'static str,
    pub fields: &'static [Field],
}

/// Every known connector kind.
pub const KINDS: &[ConnectorKind] = &[ConnectorKind {
    kind: "activecampaign",
    title: "ActiveCampaign",
    fields: &[
        Field {
            key: "base_url",
            secret: false,
            required: true,
        },
        Field {
            key: "api_key",
            secret: true,
            required: true,
        },
    ],
}];

/// Checks a connector kind and its settings; the error says what to fix.
pub fn validate(
    kind: &str,
    settings: &Map<String, Value>,
    secrets: &BTreeMap<String, String>,
) -> Result<(), String> {
    let k = KINDS.iter().find(|k| k.kind == kind).ok_or_else(|| {
        format!(
            "unknown connector '{kind}'; known: {}",
            KINDS.iter().map(|k| k.kind).collect::<Vec<_>>().join(", ")
        )
    })?;
    for f in k.fields {
        let present = if f.secret {
            secrets.get(f.key).is_some_and(|v| !v.is_empty())
        } else {
            settings
                .get(f.key)
                .and_then(Value::as_str)
                .is_some_and(|v| !v.is_empty())
        };
        if f.required && !present {
            let flag = if f.secret { "--secret" } else { "--setting" };
            return Err(format!("{} needs {flag} {}=…", k.title, f.key));
        }
    }
    for key in settings.keys() {
        if !k.fields.iter().any(|f| !f.secret && f.key == key) {
            return Err(format!("{} has no setting '{key}'", k.title));
        }
    }
    for key in secrets.keys() {
        if !k.fields.iter().any(|f| f.secret && f.key == key) {
            return Err(format!("{} has no secret '{key}'", k.title));
        }
    }
    if let Some(url) = settings.get("base_url").and_then(Value::as_str)
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(format!("base_url must be an http(s) URL, got '{url}'"));
    }
    Ok(())
}
