//! The connector registry: the only place that names concrete connectors. It validates
//! integration settings (including where a tenant may point us) and builds connectors for the
//! provisioning engine.

use connector_api::explain::TargetNames;
use connector_api::{Capabilities, Connector, Descriptor, Throttle};
use provisioning::engine::ConnectorRegistry;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use store::Integration;

/// Every connector kind this build knows.
pub fn descriptors() -> Vec<&'static Descriptor> {
    vec![
        &connector_activecampaign::DESCRIPTOR,
        &connector_scim::DESCRIPTOR,
        &connector_pipedrive::DESCRIPTOR,
        &connector_brevo::DESCRIPTOR,
    ]
}

/// The descriptor of a kind.
pub fn descriptor(kind: &str) -> Option<&'static Descriptor> {
    descriptors().into_iter().find(|d| d.kind == kind)
}

/// What error sentences call an integration's target and its credential ("ActiveCampaign",
/// "API key"); a SCIM target by its profile ("Activepieces", "token").
pub fn target_names(kind: &str, settings: &Map<String, Value>) -> TargetNames<'static> {
    let d = descriptor(kind);
    let target = match kind {
        connector_scim::KIND => settings
            .get("profile")
            .and_then(Value::as_str)
            .and_then(connector_scim::profile::named)
            .map(|p| p.title),
        _ => None,
    }
    .or(d.map(|d| d.title))
    .unwrap_or("the target app");
    let credential = d
        .and_then(|d| d.fields.iter().find(|f| f.is_secret()))
        .map(|f| match f.label {
            "Token" => "token",
            other => other,
        })
        .unwrap_or("credentials");
    TargetNames { target, credential }
}

/// Rewrites settings typed in a friendlier form into what the connector calls, so the form
/// and the CLI show and store the exact URL: an ActiveCampaign account name or host becomes
/// its API URL. Settings it cannot read are left for [`validate`] to explain.
pub fn normalize_settings(kind: &str, settings: &mut Map<String, Value>) {
    if kind == connector_activecampaign::KIND
        && let Some(Value::String(url)) = settings.get_mut("base_url")
        && let Ok(full) = connector_activecampaign::api_url(url)
    {
        *url = full;
    }
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
    let number = |key: &str| match settings.get(key).and_then(Value::as_str) {
        Some(v) if !v.trim().is_empty() && v.trim().parse::<u64>().map_or(true, |n| n == 0) => {
            Err(format!("{key} must be a whole number above 0, got '{v}'"))
        }
        _ => Ok(()),
    };
    match kind {
        connector_pipedrive::KIND => number("daily_token_budget")?,
        connector_brevo::KIND => {
            number("hourly_limit")?;
            let roles = settings
                .get("role_privileges")
                .and_then(Value::as_str)
                .unwrap_or_default();
            connector_brevo::Bundles::parse(roles)?;
        }
        _ => {}
    }
    Ok(())
}

/// Target URLs must be https and must not point into private, loopback, link-local or
/// other local networks (in any literal form, IPv4-mapped and NAT64 included), unless the
/// operator allows it (`SCIMBRIDGE_ALLOW_PRIVATE_TARGETS=true`, for tests and local demos).
/// This reads the text; `target-http` checks every resolved address again at connect time.
pub fn check_target_url(url: &str, allow_private: bool) -> Result<(), String> {
    target_http::check_url(url, policy(allow_private))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn policy(allow_private: bool) -> target_http::Policy {
    target_http::Policy { allow_private }
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
                connector_activecampaign::ActiveCampaign::new(&base, &key, policy(allow_private))?
                    .with_throttle(throttle),
            ))
        }
        connector_scim::KIND => {
            let base = setting("base_url");
            check_target_url(&base, allow_private)?;
            let profile = connector_scim::named(&setting("profile"))
                .ok_or_else(|| format!("unknown SCIM profile '{}'", setting("profile")))?;
            let auth = match setting("auth_header").as_str() {
                "" => None,
                other => Some(
                    connector_scim::AuthHeader::parse(other)
                        .ok_or_else(|| format!("unknown auth_header '{other}'"))?,
                ),
            };
            let token = secrets.get("token").cloned().unwrap_or_default();
            Ok(Arc::new(
                connector_scim::Scim::new(&base, &token, profile, auth, policy(allow_private))?
                    .with_throttle(throttle),
            ))
        }
        connector_pipedrive::KIND => {
            let base = setting("base_url");
            check_target_url(&base, allow_private)?;
            let token = secrets.get("api_token").cloned().unwrap_or_default();
            let set = setting("permission_set_id");
            Ok(Arc::new(
                connector_pipedrive::Pipedrive::new(
                    &base,
                    &token,
                    Some(&set),
                    policy(allow_private),
                )?
                .with_throttle(throttle),
            ))
        }
        connector_brevo::KIND => {
            let base = setting("base_url");
            check_target_url(&base, allow_private)?;
            let key = secrets.get("api_key").cloned().unwrap_or_default();
            Ok(Arc::new(
                connector_brevo::Brevo::new(
                    &base,
                    &key,
                    &setting("role_privileges"),
                    policy(allow_private),
                )?
                .with_throttle(throttle),
            ))
        }
        other => Err(format!("unknown connector '{other}'")),
    }
}

/// The group push an integration starts with: `all` when its settings ask for it
/// (`push_groups=true`, SCIM targets), else `none`; the CLI's `--push-groups` and the
/// wizard's Policy step change it.
pub fn initial_group_push(settings: &Map<String, Value>) -> &'static str {
    if settings.get("push_groups").and_then(Value::as_str) == Some("true") {
        "all"
    } else {
        "none"
    }
}

/// What an integration of `kind` with these settings can do: the kind's capabilities, or
/// for SCIM targets its profile's.
pub fn capabilities(kind: &str, settings: &Map<String, Value>) -> Option<Capabilities> {
    match kind {
        connector_scim::KIND => connector_scim::capabilities_for(
            settings
                .get("profile")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        ),
        _ => descriptor(kind).map(|d| d.capabilities),
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
        let (key, gap) = rate_limit(&integration.connector_kind, &integration.settings);
        (account_key(key, &integration.id), gap)
    }

    fn budget(&self, integration: &Integration) -> Option<provisioning::throttle::Budget> {
        budget(&integration.connector_kind, &integration.settings)
    }

    fn capabilities(&self, kind: &str) -> Option<Capabilities> {
        descriptor(kind).map(|d| d.capabilities)
    }

    fn capabilities_of(&self, integration: &Integration) -> Option<Capabilities> {
        capabilities(&integration.connector_kind, &integration.settings)
    }

    fn target_names(&self, integration: &Integration) -> TargetNames<'static> {
        target_names(&integration.connector_kind, &integration.settings)
    }
}

/// Reconciliation's services over `store` with the real connectors (the CLI and the UI use
/// this one).
pub fn reconciler(
    store: &store::Store,
    allow_private: bool,
) -> provisioning::reconcile::Reconciler {
    provisioning::reconcile::Reconciler {
        store: store.clone(),
        registry: Arc::new(Registry { allow_private }),
        clock: Arc::new(provisioning::engine::SystemClock),
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
        // Burst limit per 2-second window per token (20 on the smallest plan): ≈18.
        connector_pipedrive::KIND => (format!("pipedrive:{host}"), Duration::from_millis(110)),
        // The hourly limit is the budget; the gap only keeps bursts polite.
        connector_brevo::KIND => (format!("brevo:{host}"), Duration::from_millis(200)),
        other => (format!("{other}:{host}"), Duration::from_millis(200)),
    }
}

/// Hosts every customer shares (`api.brevo.com`, `api.pipedrive.com`) say nothing about the
/// account: there the key is the integration's own. (Two integrations on one Brevo account
/// still agree, through the remaining count Brevo reports to each.)
fn account_key(key: String, integration_id: &str) -> String {
    let shared = ["brevo:", "pipedrive:api.pipedrive.com"]
        .iter()
        .any(|p| key.starts_with(p));
    if shared {
        format!("{key}:{integration_id}")
    } else {
        key
    }
}

/// The account's budget per window, for targets that have one.
pub fn budget(kind: &str, settings: &Map<String, Value>) -> Option<provisioning::throttle::Budget> {
    use provisioning::throttle::{Budget, Window};
    let setting = |k: &str| settings.get(k).and_then(Value::as_str);
    match kind {
        connector_pipedrive::KIND => Some(Budget {
            limit: connector_pipedrive::daily_budget(setting("daily_token_budget")),
            window: Window::UtcDay,
        }),
        connector_brevo::KIND => Some(Budget {
            limit: connector_brevo::hourly_limit(setting("hourly_limit")),
            window: Window::Rolling(Duration::from_secs(3600)),
        }),
        _ => None,
    }
}

/// The worker's limiter of an integration's account (its key and budget), for the UI's calls
/// that should count like the worker's.
pub fn account_limiter(store: &store::Store, integration: &Integration) -> Arc<dyn Throttle> {
    let registry = Registry {
        allow_private: false,
    };
    let (key, gap) = ConnectorRegistry::rate_limit(&registry, integration);
    Arc::new(
        provisioning::throttle::AccountLimiter::new(store.clone(), key, gap)
            .with_budget(budget(&integration.connector_kind, &integration.settings)),
    )
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

    fn map(v: serde_json::Value) -> Map<String, Value> {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn pipedrive_and_brevo_settings() {
        let key = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        let pd = map(serde_json::json!({"base_url": "https://acme.pipedrive.com/api/v1"}));
        assert!(validate("pipedrive", &pd, &key("api_token", "t"), false).is_ok());
        assert!(validate("pipedrive", &pd, &key("api_key", "t"), false).is_err());
        let mut bad = pd.clone();
        bad.insert("daily_token_budget".into(), Value::String("lots".into()));
        assert!(validate("pipedrive", &bad, &key("api_token", "t"), false).is_err());
        let brevo = |roles: &str| {
            map(
                serde_json::json!({"base_url": "https://api.brevo.com/v3", "role_privileges": roles}),
            )
        };
        let ok = brevo(r#"{"Admin":"all"}"#);
        assert!(validate("brevo", &ok, &key("api_key", "k"), false).is_ok());
        let e = validate("brevo", &brevo("{"), &key("api_key", "k"), false).unwrap_err();
        assert!(e.contains("role_privileges"), "{e}");
        assert!(
            validate(
                "brevo",
                &map(serde_json::json!({"base_url": "https://api.brevo.com/v3"})),
                &key("api_key", "k"),
                false
            )
            .is_err(),
            "the bundles are required"
        );
        // Budgets: the settings, else the defaults.
        let b = budget("pipedrive", &pd).unwrap();
        assert_eq!(b.limit, 30_000);
        assert_eq!(b.window, provisioning::throttle::Window::UtcDay);
        let mut higher = ok.clone();
        higher.insert("hourly_limit".into(), Value::String("600".into()));
        assert_eq!(budget("brevo", &higher).unwrap().limit, 600);
        assert!(budget("activecampaign", &pd).is_none());
        // A company host is the account; a host every customer shares is not.
        assert_eq!(
            rate_limit("pipedrive", &pd).0,
            "pipedrive:acme.pipedrive.com"
        );
        assert!(account_key("brevo:api.brevo.com".into(), "i1").ends_with(":i1"));
        assert!(account_key("pipedrive:api.pipedrive.com".into(), "i1").ends_with(":i1"));
        assert_eq!(
            account_key("pipedrive:acme.pipedrive.com".into(), "i1"),
            "pipedrive:acme.pipedrive.com"
        );
    }

    #[test]
    fn scim_capabilities_follow_the_profile() {
        let with = |profile: &str| -> Map<String, Value> {
            serde_json::from_value(serde_json::json!({"profile": profile})).unwrap_or_default()
        };
        let generic = capabilities(connector_scim::KIND, &with("generic"));
        let activepieces = capabilities(connector_scim::KIND, &with("activepieces"));
        assert_eq!(
            generic.map(|c| c.roles),
            Some(connector_api::RoleCardinality::Many)
        );
        assert_eq!(
            activepieces.map(|c| c.roles),
            Some(connector_api::RoleCardinality::One)
        );
        assert!(capabilities(connector_scim::KIND, &with("salesforce")).is_none());
        let settings: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "base_url": "https://ap.example.com/api/v1/scim/v2", "profile": "salesforce"}))
        .unwrap_or_default();
        let secrets = BTreeMap::from([("token".to_string(), "t".to_string())]);
        let throttle = Arc::new(connector_api::NoThrottle);
        assert!(
            build(
                connector_scim::KIND,
                &settings,
                &secrets,
                false,
                throttle.clone()
            )
            .is_err()
        );
        let mut ok = settings.clone();
        ok.insert("profile".into(), Value::String("activtrak".into()));
        assert!(build(connector_scim::KIND, &ok, &secrets, false, throttle).is_ok());
    }

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
            // Issue 33: literal forms that read as public text but lead inside.
            "https://[::ffff:127.0.0.1]/api/3",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://0.0.0.0/",
            "https://[::]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://localhost./",
        ] {
            let e = check_target_url(bad, false).unwrap_err();
            assert!(
                e.contains(bad.trim_end_matches('/')) || e.contains("not allowed"),
                "{bad}: {e}"
            );
        }
        assert!(check_target_url("http://127.0.0.1:9999/api/3", true).is_ok());
        assert!(check_target_url("ftp://127.0.0.1", true).is_err());
        // The registry builds no connector for a forbidden URL either.
        let settings: Map<String, Value> = serde_json::from_value(
            serde_json::json!({"base_url": "https://[::ffff:7f00:1]/api/3"}),
        )
        .unwrap_or_default();
        let secrets = BTreeMap::from([("api_key".to_string(), "k".to_string())]);
        assert!(
            build(
                connector_activecampaign::KIND,
                &settings,
                &secrets,
                false,
                Arc::new(connector_api::NoThrottle)
            )
            .is_err()
        );
        assert!(
            build(
                connector_activecampaign::KIND,
                &settings,
                &secrets,
                true,
                Arc::new(connector_api::NoThrottle)
            )
            .is_ok()
        );
    }
}
