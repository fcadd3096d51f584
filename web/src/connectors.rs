//! The connector registry: the only place that names concrete connectors. It validates
//! integration settings (including where a tenant may point us) and builds connectors for the
//! provisioning engine.

use connector_api::{Capabilities, Connector, Descriptor, Throttle};
use provisioning::engine::ConnectorRegistry;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use store::Integration;

/// Every connector kind this build knows.
pub fn descriptors() -> Vec<&'static Descriptor> {
    vec![&connector_activecampaign::DESCRIPTOR]
}

/// The descriptor of a kind.
pub fn descriptor(kind: &str) -> Option<&'static Descriptor> {
    descriptors().into_iter().find(|d| d.kind == kind)
}

/// Checks a connector kind, its settings and the target URL; the error says what to fix.
pub fn validate(
    kind: &str,
    settings: &Map<String, Value>,
    secrets: &BTreeMap<String, String>,
    allow_private: bool,
) -> Result<(), String> {
    let d = descriptor(kind).ok_or_else(|| {
        format!(
            "unknown connector '{kind}'; known: {}",
            descriptors()
                .iter()
                .map(|d| d.kind)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let plain: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
        .collect();
    let secret: Vec<(&str, &str)> = secrets
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    d.validate(plain.iter().copied(), secret.iter().copied())?;
    if let Some(url) = settings.get("base_url").and_then(Value::as_str) {
        check_target_url(url, allow_private)?;
    }
    Ok(())
}

/// Target URLs must be https and must not point into private or loopback networks, unless the
/// operator allows it (`SCIMBRIDGE_ALLOW_PRIVATE_TARGETS=true`, for tests and local demos).
pub fn check_target_url(url: &str, allow_private: bool) -> Result<(), String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("'{url}' is not a valid URL: {e}"))?;
    if allow_private {
        return match parsed.scheme() {
            "https" | "http" => Ok(()),
            other => Err(format!("'{url}': the scheme must be https, not {other}")),
        };
    }
    if parsed.scheme() != "https" {
        return Err(format!("'{url}' must use https"));
    }
    let host = parsed
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']']);
    let private = match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            ip.is_private()
                || ip.is_loopback()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64
        }
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => {
            host.eq_ignore_ascii_case("localhost")
                || host.ends_with(".localhost")
                || host.ends_with(".local")
                || host.ends_with(".internal")
        }
    };
    if private {
        return Err(format!(
            "'{url}' points to a private or loopback address, which is not allowed"
        ));
    }
    Ok(())
}

/// A connector of `kind` for these settings and secrets (the engine, and the UI's test
/// connection before anything is saved); every request it sends takes a slot of `throttle`.
pub fn build(
    kind: &str,
    settings: &Map<String, Value>,
    secrets: &BTreeMap<String, String>,
    allow_private: bool,
    throttle: Arc<dyn Throttle>,
) -> Result<Arc<dyn Connector>, String> {
    let setting = |k: &str| {
        settings
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match kind {
        connector_activecampaign::KIND => {
            let base = setting("base_url");
            check_target_url(&base, allow_private)?;
            let key = secrets.get("api_key").cloned().unwrap_or_default();
            Ok(Arc::new(
                connector_activecampaign::ActiveCampaign::new(&base, &key)?.with_throttle(throttle),
            ))
        }
        other => Err(format!("unknown connector '{other}'")),
    }
}

/// Builds connectors for the engine.
pub struct Registry {
    pub allow_private: bool,
}

impl ConnectorRegistry for Registry {
    fn connect(
        &self,
        integration: &Integration,
        secrets: &BTreeMap<String, String>,
        throttle: Arc<dyn Throttle>,
    ) -> Result<Arc<dyn Connector>, String> {
        build(
            &integration.connector_kind,
            &integration.settings,
            secrets,
            self.allow_private,
            throttle,
        )
    }

    fn rate_limit(&self, integration: &Integration) -> (String, Duration) {
        rate_limit(&integration.connector_kind, &integration.settings)
    }

    fn capabilities(&self, kind: &str) -> Option<Capabilities> {
        descriptor(kind).map(|d| d.capabilities)
    }
}

/// The rate-limit key of the target account these settings reach, and the gap between
/// requests.
pub fn rate_limit(kind: &str, settings: &Map<String, Value>) -> (String, Duration) {
    let base = settings
        .get("base_url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let host = reqwest::Url::parse(base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    match kind {
        // 5 requests/s per account, shared by every key: one request every 210 ms keeps a
        // margin for network jitter at the server's one-second window.
        connector_activecampaign::KIND => {
            (format!("activecampaign:{host}"), Duration::from_millis(210))
        }
        other => (format!("{other}:{host}"), Duration::from_millis(200)),
    }
}

/// The shared limiter of the account these settings reach (the UI's calls take slots too).
pub fn limiter(
    store: &store::Store,
    kind: &str,
    settings: &Map<String, Value>,
) -> Arc<dyn Throttle> {
    let (key, gap) = rate_limit(kind, settings);
    Arc::new(provisioning::throttle::AccountLimiter::new(
        store.clone(),
        key,
        gap,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls() {
        assert!(check_target_url("https://acme.api-us1.com", false).is_ok());
        for bad in [
            "http://acme.api-us1.com",
            "https://127.0.0.1:8443",
            "https://10.0.0.5",
            "https://192.168.1.1",
            "https://[::1]/",
            "https://localhost",
            "https://169.254.169.254",
            "https://100.64.0.1",
            "ftp://x",
        ] {
            assert!(check_target_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_target_url("http://127.0.0.1:9999/api/3", true).is_ok());
        assert!(check_target_url("ftp://127.0.0.1", true).is_err());
    }
}
