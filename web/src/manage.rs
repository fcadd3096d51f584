//! Application services for tenants, integrations and their SCIM tokens: the one place that
//! validates and records (audit log) these changes. The console (`ui::*`), the CLI and the
//! admin API (`api`) call these functions; access checks stay with the caller, which knows who
//! asks (`access::Access`). Time and randomness come in as parameters where they matter.

use crate::staff::Actor;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use store::{
    Integration, IntegrationMode, IntegrationStatus, IssuedToken, NewAudit, Store, StoreError,
    Tenant,
};

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// Bad input: shown to the person (or script) that sent it.
    #[error("{0}")]
    Invalid(String),
    /// No such object (or not one the caller may see).
    #[error("not found")]
    NotFound,
    /// Bad input in one field (named as the API's JSON names it; the CLI names its flag).
    #[error("{0}: {1}")]
    Field(&'static str, String),
    /// The object is not in a state where this change applies.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shorthand.
pub type Result<T> = std::result::Result<T, ManageError>;

/// Records one audit entry for `actor`.
#[allow(clippy::too_many_arguments, reason = "one audit row's columns")]
pub async fn record(
    store: &Store,
    actor: &Actor,
    tenant_id: Option<&str>,
    action: &str,
    target_kind: &str,
    target_id: Option<&str>,
    detail: Option<Value>,
    now: i64,
) -> Result<()> {
    store
        .record_audit(NewAudit {
            at: now,
            tenant_id: tenant_id.map(str::to_owned),
            actor_id: actor.id.clone(),
            actor_email: actor.email.clone(),
            action: action.into(),
            target_kind: target_kind.into(),
            target_id: target_id.map(str::to_owned),
            detail: detail.map(|d| d.to_string()),
        })
        .await?;
    Ok(())
}

/// Checks a tenant's name (pure).
pub fn check_tenant_name(name: &str) -> std::result::Result<(), String> {
    if name.trim().is_empty() {
        Err("Enter the tenant's name, e.g. the customer's company name.".into())
    } else if name.trim().chars().count() > 120 {
        Err("Keep the name under 120 characters.".into())
    } else {
        Ok(())
    }
}

/// Creates a tenant.
pub async fn create_tenant(store: &Store, actor: &Actor, name: &str, now: i64) -> Result<Tenant> {
    check_tenant_name(name).map_err(ManageError::Invalid)?;
    let t = store.create_tenant(name.trim()).await?;
    record(
        store,
        actor,
        Some(&t.id),
        "tenant.create",
        "tenant",
        Some(&t.id),
        Some(json!({"name": t.name})),
        now,
    )
    .await?;
    Ok(t)
}

/// An integration to create, as the CLI's flags and the API's JSON give it (the same names).
#[derive(Debug, Clone)]
pub struct IntegrationSpec {
    pub tenant_id: String,
    pub name: String,
    pub connector: String,
    pub settings: Map<String, Value>,
    /// Encrypted at rest; never shown again.
    pub secrets: BTreeMap<String, String>,
    pub default_role: Option<String>,
    pub mode: IntegrationMode,
    /// Role mapping lines, highest priority first (`group:Sales=Manager`).
    pub role_rules: Vec<String>,
    pub deprovision: String,
    pub unmatched: Option<String>,
    pub lifecycle: String,
    pub push_groups: Option<String>,
    pub delete_guard: String,
    pub extension_schemas: Vec<scim_core::schema::Schema>,
}

impl IntegrationSpec {
    /// A spec with the CLI's defaults.
    pub fn new(tenant_id: &str, name: &str, connector: &str) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            name: name.into(),
            connector: connector.into(),
            settings: Map::new(),
            secrets: BTreeMap::new(),
            default_role: None,
            mode: IntegrationMode::Live,
            role_rules: Vec::new(),
            deprovision: "role:No access".into(),
            unmatched: None,
            lifecycle: "assignment".into(),
            push_groups: None,
            delete_guard: "10,20%".into(),
            extension_schemas: Vec::new(),
        }
    }
}

/// Creates an integration from `spec` after the same checks as the wizard: connector
/// settings and secrets, rules against the integration's User type, policies against the
/// connector's capabilities. `status` is `Draft` (activate later) or `Active` (with its first
/// SCIM token, as `scimbridge integration create` does).
pub async fn create_integration(
    store: &Store,
    actor: &Actor,
    mut spec: IntegrationSpec,
    status: IntegrationStatus,
    allow_private: bool,
    now: i64,
) -> Result<(Integration, Option<IssuedToken>)> {
    let invalid = ManageError::Invalid;
    if spec.name.trim().is_empty() || spec.name.chars().count() > 120 {
        return Err(ManageError::Field(
            "name",
            "give the integration a name (at most 120 characters).".into(),
        ));
    }
    if store.get_tenant(&spec.tenant_id).await?.is_none() {
        return Err(ManageError::NotFound);
    }
    crate::connectors::normalize_settings(&spec.connector, &mut spec.settings);
    crate::connectors::validate(
        &spec.connector,
        &spec.settings,
        &spec.secrets,
        allow_private,
    )
    .map_err(invalid)?;
    let users = scim_core::extension::user_type_with(&spec.extension_schemas);
    let rules = parse_role_rules(&spec.role_rules, &users)?;
    use provisioning::planner::{
        DeleteGuard, Deprovision, GroupPush, Lifecycle, Policy, Unmatched,
    };
    let policy = Policy {
        default_role: spec.default_role.clone(),
        deprovision: Deprovision::parse(&spec.deprovision)
            .map_err(|e| ManageError::Field("deprovision", e.to_string()))?,
        unmatched: spec
            .unmatched
            .as_deref()
            .map(Unmatched::parse)
            .transpose()
            .map_err(|e| ManageError::Field("unmatched", e.to_string()))?,
        lifecycle: Lifecycle::parse(&spec.lifecycle)
            .map_err(|e| ManageError::Field("lifecycle", e.to_string()))?,
        group_push: GroupPush::parse(
            spec.push_groups
                .as_deref()
                .unwrap_or(crate::connectors::initial_group_push(&spec.settings)),
        )
        .map_err(|e| ManageError::Field("push_groups", e.to_string()))?,
        guard: DeleteGuard::parse(&spec.delete_guard)
            .map_err(|e| ManageError::Field("delete_guard", e.to_string()))?,
    };
    if let Some(caps) = crate::connectors::capabilities(&spec.connector, &spec.settings) {
        policy.validate(&caps).map_err(invalid)?;
    }
    let integration = store
        .create_integration(store::NewIntegration {
            tenant_id: spec.tenant_id.clone(),
            name: spec.name.trim().to_owned(),
            connector_kind: spec.connector.clone(),
            settings: spec.settings,
            secrets: spec.secrets,
            default_role: spec.default_role,
            deprovision_policy: policy.deprovision.to_string(),
            policies: provisioning::inputs::stored_policies(&policy),
            mode: spec.mode,
            status,
            extension_schemas: spec.extension_schemas,
        })
        .await?;
    store.replace_role_rules(&integration.id, rules).await?;
    let issued = if status == IntegrationStatus::Draft {
        None
    } else {
        Some(store.issue_token(&integration.id, None, now).await?)
    };
    record(
        store,
        actor,
        Some(&integration.tenant_id),
        "integration.create",
        "integration",
        Some(&integration.id),
        Some(json!({
            "name": integration.name,
            "connector": integration.connector_kind,
            "status": integration.status.as_str(),
            "token_prefix": issued.as_ref().map(|t| t.prefix.clone()),
        })),
        now,
    )
    .await?;
    Ok((integration, issued))
}

/// Parses role-rule lines with the planner's rule parser, against the integration's User
/// type; order is priority.
pub fn parse_role_rules(
    values: &[String],
    users: &scim_core::schema::ResourceType,
) -> Result<Vec<store::NewRoleRule>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let rule = provisioning::planner::RoleRule::parse_line(v, users)
                .map_err(|e| ManageError::Field("role_rules", format!("'{v}': {}", e.detail)))?;
            let source_kind = match rule.kind() {
                "app_role" => store::RuleSourceKind::AppRole,
                "group" => store::RuleSourceKind::Group,
                _ => store::RuleSourceKind::Filter,
            };
            let value = match &rule.source {
                // Stored as typed: the filter as the admin wrote it.
                provisioning::planner::Source::Filter(_) => v
                    .split_once(':')
                    .and_then(|(_, rest)| rest.rsplit_once('='))
                    .map(|(value, _)| value.trim().to_string())
                    .unwrap_or_else(|| rule.value()),
                _ => rule.value(),
            };
            Ok(store::NewRoleRule {
                priority: i as i32,
                source_kind,
                source_value: value,
                target_role: rule.target_role.clone(),
            })
        })
        .collect()
}

/// What stops a draft from being activated (the wizard's review page shows the same list).
pub async fn activation_problems(store: &Store, i: &Integration) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    match provisioning::inputs::load_rules(store, i).await {
        Ok(r) => {
            if let Some(caps) = crate::connectors::capabilities(&i.connector_kind, &i.settings)
                && let Err(e) = r.policy.validate(&caps)
            {
                problems.push(format!("Policy: {e}."));
            }
            if r.rules.is_empty() && r.policy.default_role.is_none() {
                problems.push(
                    "No rule and no default role: nobody would get an account. Complete step 3, Roles."
                        .into(),
                );
            }
        }
        Err(e) => problems.push(format!("The saved rules or policies are not valid: {e}")),
    }
    Ok(problems)
}

/// Activates a draft: issues its first SCIM token (returned once) and opens its SCIM URL.
pub async fn activate(
    store: &Store,
    actor: &Actor,
    i: &Integration,
    now: i64,
) -> Result<IssuedToken> {
    if i.status != IntegrationStatus::Draft {
        return Err(ManageError::Conflict(
            "This integration is already active. Issue more tokens instead.".into(),
        ));
    }
    if let Some(problem) = activation_problems(store, i).await?.into_iter().next() {
        return Err(ManageError::Invalid(problem));
    }
    let issued = store.issue_token(&i.id, None, now).await?;
    store
        .set_integration_status(&i.tenant_id, &i.id, IntegrationStatus::Active)
        .await?;
    record(
        store,
        actor,
        Some(&i.tenant_id),
        "integration.activate",
        "integration",
        Some(&i.id),
        Some(json!({"token_prefix": issued.prefix})),
        now,
    )
    .await?;
    Ok(issued)
}

/// Pauses an active integration or resumes a paused one (`pause` says which).
pub async fn set_paused(
    store: &Store,
    actor: &Actor,
    i: &Integration,
    pause: bool,
    now: i64,
) -> Result<IntegrationStatus> {
    let (status, action) = match (pause, i.status) {
        (true, IntegrationStatus::Active) => (IntegrationStatus::Paused, "integration.pause"),
        (false, IntegrationStatus::Paused) => (IntegrationStatus::Active, "integration.resume"),
        _ => {
            return Err(ManageError::Conflict(
                "That change does not apply to the integration's current status.".into(),
            ));
        }
    };
    store
        .set_integration_status(&i.tenant_id, &i.id, status)
        .await?;
    record(
        store,
        actor,
        Some(&i.tenant_id),
        action,
        "integration",
        Some(&i.id),
        None,
        now,
    )
    .await?;
    Ok(status)
}

/// Deletes an integration with its directory and tokens (accounts in the target stay). The
/// caller clears the SCIM token cache.
pub async fn delete_integration(
    store: &Store,
    actor: &Actor,
    i: &Integration,
    now: i64,
) -> Result<()> {
    store.delete_integration(&i.tenant_id, &i.id).await?;
    record(
        store,
        actor,
        Some(&i.tenant_id),
        "integration.delete",
        "integration",
        Some(&i.id),
        Some(json!({"name": i.name})),
        now,
    )
    .await
}

/// Checks a token lifetime in days (1 to 3650), as the console and the API take it.
pub fn expiry(days: Option<i64>, now: i64) -> Result<Option<i64>> {
    match days {
        None => Ok(None),
        Some(d) if (1..=3650).contains(&d) => Ok(Some(now + d * 86_400_000)),
        Some(_) => Err(ManageError::Field(
            "expires_in_days",
            "give a number of days from 1 to 3650.".into(),
        )),
    }
}

/// Issues another SCIM token for an active or paused integration (rotation without downtime).
pub async fn issue_scim_token(
    store: &Store,
    actor: &Actor,
    i: &Integration,
    expires_at: Option<i64>,
    now: i64,
) -> Result<IssuedToken> {
    if i.status == IntegrationStatus::Draft {
        return Err(ManageError::Conflict(
            "Finish the setup and activate the integration first: activation issues its token."
                .into(),
        ));
    }
    let issued = store.issue_token(&i.id, expires_at, now).await?;
    record(
        store,
        actor,
        Some(&i.tenant_id),
        "token.issue",
        "integration",
        Some(&i.id),
        Some(json!({"prefix": issued.prefix, "expires_at": expires_at})),
        now,
    )
    .await?;
    Ok(issued)
}

/// Revokes the integration's live SCIM token with this prefix. The caller clears the token
/// cache.
pub async fn revoke_scim_token(
    store: &Store,
    actor: &Actor,
    i: &Integration,
    prefix: &str,
    now: i64,
) -> Result<()> {
    if !store.revoke_token(&i.id, prefix, now).await? {
        return Err(ManageError::NotFound);
    }
    record(
        store,
        actor,
        Some(&i.tenant_id),
        "token.revoke",
        "integration",
        Some(&i.id),
        Some(json!({"prefix": prefix})),
        now,
    )
    .await
}

/// Puts an integration's failed jobs (all, or one) back in the queue; how many.
pub async fn retry_jobs(
    store: &Store,
    actor: &Actor,
    i: &Integration,
    job: Option<i64>,
    now: i64,
) -> Result<u64> {
    let n = store.retry_failed_jobs(&i.id, job, now).await?;
    record(
        store,
        actor,
        Some(&i.tenant_id),
        "jobs.retry",
        "integration",
        Some(&i.id),
        Some(json!({"job": job, "retried": n})),
        now,
    )
    .await?;
    Ok(n)
}
