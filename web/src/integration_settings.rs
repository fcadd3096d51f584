//! Changing an integration after creation: its connection (name, settings, secrets), role
//! rules and default role, policies and mode, extension schemas, and the connection test.
//! The console's settings pages (`ui::wizard`, `ui::extensions`) and the admin API
//! (`api::settings`) call these functions: the checks and the audit entries are here only.
//!
//! A form marks every problem at once, so each change has a check that lists them
//! (`check_connection`, `check_rules`, `check_roles`) beside the function that saves it, which
//! runs the same check and refuses with the first problem. Access checks stay with the caller;
//! the target's roles come in as a parameter (`target_roles` fetches them).

use crate::manage::{ManageError, Result, record};
use crate::staff::Actor;
use connector_api::{Connector, Descriptor};
use provisioning::planner::{
    DeleteGuard, Deprovision, GroupPush, Lifecycle, Policy, RoleRule, Unmatched,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use store::{Integration, IntegrationMode, IntegrationStatus, RuleSourceKind, Store};

/// How long we wait for the target app (test connection, role list).
const TARGET_TIMEOUT: Duration = Duration::from_secs(15);

/// The message of a problem without the field's name (a form shows it beside the field).
pub fn message(e: &ManageError) -> String {
    match e {
        ManageError::Field(_, m) => m.clone(),
        other => other.to_string(),
    }
}

fn descriptor(kind: &str) -> Result<&'static Descriptor> {
    crate::connectors::descriptor(kind).ok_or(ManageError::NotFound)
}

/// The connector kind's title ("ActiveCampaign"), as pages and messages name it.
pub fn connector_title(kind: &str) -> String {
    crate::connectors::descriptor(kind)
        .map(|d| d.title.to_string())
        .unwrap_or_else(|| kind.to_string())
}

// ------------------------------------------------------------------ connection

/// A change to the connection. Settings replace the stored ones key by key (an empty value
/// clears one); a secret replaces the stored one, and an omitted or blank secret keeps it
/// (rotate one key without retyping the others).
#[derive(Debug, Clone, Default)]
pub struct ConnectionChange {
    /// `None` keeps the name.
    pub name: Option<String>,
    pub settings: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
}

/// The connection a change leads to (secrets merged with the stored ones).
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub name: String,
    pub settings: Map<String, Value>,
    pub secrets: BTreeMap<String, String>,
}

/// The connection `change` gives a `kind` integration that now has `current` (`None` for a new
/// one), and every problem with it: `Field(name | <setting key>, …)` or one `Invalid` for the
/// settings as a whole. No problem: it can be saved.
pub fn check_connection(
    kind: &str,
    current: Option<(&Integration, &BTreeMap<String, String>)>,
    change: &ConnectionChange,
    allow_private: bool,
) -> Result<(Connection, Vec<ManageError>)> {
    let d = descriptor(kind)?;
    let mut problems = Vec::new();
    for key in change.settings.keys().chain(change.secrets.keys()) {
        if !d.fields.iter().any(|f| f.key == key) {
            problems.push(ManageError::Invalid(format!(
                "'{key}' is not a setting of the {} connector.",
                d.title
            )));
        }
    }
    let mut settings = Map::new();
    let mut secrets = BTreeMap::new();
    for f in d.fields {
        if f.is_secret() {
            let given = change.secrets.get(f.key).map(|v| v.trim()).unwrap_or("");
            let stored = current
                .and_then(|(_, s)| s.get(f.key))
                .filter(|v| !v.is_empty());
            match (given.is_empty(), stored) {
                (false, _) => {
                    secrets.insert(f.key.to_string(), given.to_string());
                }
                (true, Some(old)) => {
                    secrets.insert(f.key.to_string(), old.clone());
                }
                (true, None) if f.required => {
                    problems.push(ManageError::Field(f.key, format!("Enter the {}.", f.label)));
                }
                (true, None) => {}
            }
            continue;
        }
        let value = match change.settings.get(f.key) {
            Some(v) => v.trim().trim_end_matches('/').to_string(),
            None => current
                .and_then(|(i, _)| i.settings.get(f.key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        };
        if !value.is_empty() {
            settings.insert(f.key.to_string(), Value::String(value));
        } else if f.required {
            problems.push(ManageError::Field(f.key, format!("Enter the {}.", f.label)));
        }
    }
    crate::connectors::normalize_settings(d.kind, &mut settings);
    let name = match &change.name {
        Some(n) => n.trim().to_string(),
        None => current.map(|(i, _)| i.name.clone()).unwrap_or_default(),
    };
    if name.is_empty() {
        problems.push(ManageError::Field(
            "name",
            "Give the integration a name, e.g. \"ActiveCampaign (Sales)\".".into(),
        ));
    } else if name.chars().count() > 120 {
        problems.push(ManageError::Field(
            "name",
            "Keep the name under 120 characters.".into(),
        ));
    }
    // The settings as a whole only once each field is there.
    if problems.is_empty() {
        if let Some(url) = settings.get("base_url").and_then(Value::as_str)
            && let Err(e) = crate::connectors::check_target_url(url, allow_private)
        {
            problems.push(ManageError::Field("base_url", e));
        } else if let Err(e) =
            crate::connectors::validate(d.kind, &settings, &secrets, allow_private)
        {
            problems.push(ManageError::Invalid(e));
        }
    }
    Ok((
        Connection {
            name,
            settings,
            secrets,
        },
        problems,
    ))
}

/// Changes the connection of `i` (audit: `integration.connection`, naming the secrets
/// replaced, never their values). Returns the integration as saved.
pub async fn update_connection(
    store: &Store,
    actor: &Actor,
    i: &Integration,
    change: &ConnectionChange,
    allow_private: bool,
    now: i64,
) -> Result<Integration> {
    let stored = store.integration_secrets(i)?;
    let (c, problems) =
        check_connection(&i.connector_kind, Some((i, &stored)), change, allow_private)?;
    if let Some(problem) = problems.into_iter().next() {
        return Err(problem);
    }
    let replaced: Vec<&String> = c
        .secrets
        .iter()
        .filter(|(k, v)| stored.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .collect();
    let detail = json!({
        "before": {"name": i.name, "settings": i.settings},
        "after": {"name": c.name, "settings": c.settings},
        "secrets_replaced": replaced,
    });
    store
        .update_integration_settings(
            &i.tenant_id,
            &i.id,
            store::IntegrationUpdate {
                name: Some(c.name.clone()),
                settings: Some(c.settings.clone()),
                secrets: Some(c.secrets.clone()),
                ..Default::default()
            },
        )
        .await?;
    record(
        store,
        actor,
        Some(&i.tenant_id),
        "integration.connection",
        "integration",
        Some(&i.id),
        Some(detail),
        now,
    )
    .await?;
    store
        .get_integration(&i.tenant_id, &i.id)
        .await?
        .ok_or(ManageError::NotFound)
}

/// What a connection test found, in words for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    pub ok: bool,
    pub message: String,
    /// The target's full error text, when it says more than the message.
    pub details: Option<String>,
}

impl TestOutcome {
    fn failed(message: String) -> Self {
        Self {
            ok: false,
            message,
            details: None,
        }
    }
}

/// Tests the connection `change` gives (unsaved values; `current` as for
/// [`check_connection`]) with the connector's own test call. The name does not matter here.
pub async fn test_connection(
    store: &Store,
    kind: &str,
    current: Option<(&Integration, &BTreeMap<String, String>)>,
    change: &ConnectionChange,
    allow_private: bool,
) -> Result<TestOutcome> {
    let (c, problems) = check_connection(kind, current, change, allow_private)?;
    if let Some(problem) = problems
        .iter()
        .find(|p| !matches!(p, ManageError::Field("name", _)))
    {
        return Ok(TestOutcome::failed(message(problem)));
    }
    let connector = crate::connectors::build(
        kind,
        &c.settings,
        &c.secrets,
        allow_private,
        crate::connectors::limiter(store, kind, &c.settings),
    );
    Ok(run_test(
        connector,
        crate::connectors::target_names(kind, &c.settings),
    )
    .await)
}

/// Runs the connector's test call and words the answer for people.
async fn run_test(
    connector: std::result::Result<Arc<dyn Connector>, String>,
    names: connector_api::explain::TargetNames<'static>,
) -> TestOutcome {
    let title = names.target;
    let connector = match connector {
        Ok(c) => c,
        Err(e) => return TestOutcome::failed(e),
    };
    match tokio::time::timeout(TARGET_TIMEOUT, connector.test_connection()).await {
        // A SCIM target's token has no owning user; its answer says what the target supports.
        Ok(Ok(id)) if id.user_id.is_empty() => TestOutcome {
            ok: true,
            details: None,
            message: format!(
                "Connected to {title} \"{}\". It supports: {}.",
                id.account, id.user_name
            ),
        },
        Ok(Ok(id)) => TestOutcome {
            ok: true,
            details: None,
            message: format!(
                "Connected to {title} account \"{}\" as {} ({}). Users will be managed with this key; its owner is never changed.",
                id.account, id.user_name, id.user_email
            ),
        },
        Ok(Err(e)) => {
            let e = crate::target_error::TargetError::of(names, &e);
            TestOutcome {
                ok: false,
                message: e.sentence,
                details: e.details,
            }
        }
        Err(_) => TestOutcome::failed(format!(
            "{title} did not answer within {} seconds. Check the API URL.",
            TARGET_TIMEOUT.as_secs()
        )),
    }
}

// ------------------------------------------------------------------ roles

/// The target's roles, asked live; the error says why they could not be listed (then role
/// names are taken as typed).
pub async fn target_roles(
    store: &Store,
    i: &Integration,
    allow_private: bool,
) -> (Vec<String>, Option<String>) {
    let secrets = match store.integration_secrets(i) {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Some(e.to_string())),
    };
    let connector = match crate::connectors::build(
        &i.connector_kind,
        &i.settings,
        &secrets,
        allow_private,
        crate::connectors::limiter(store, &i.connector_kind, &i.settings),
    ) {
        Ok(c) => c,
        Err(e) => return (Vec::new(), Some(e)),
    };
    match tokio::time::timeout(TARGET_TIMEOUT, connector.list_roles()).await {
        Ok(Ok(roles)) => (roles.into_iter().map(|r| r.name).collect(), None),
        Ok(Err(e)) => (
            Vec::new(),
            Some(
                crate::target_error::TargetError::of(crate::target_error::names_of(i), &e).sentence,
            ),
        ),
        Err(_) => (
            Vec::new(),
            Some(format!(
                "{} did not answer within {} seconds",
                connector_title(&i.connector_kind),
                TARGET_TIMEOUT.as_secs()
            )),
        ),
    }
}

/// One role rule as typed (a row of the Roles form, a line of the API), with its problem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleRow {
    /// `app_role`, `group` or `filter`.
    pub kind: String,
    pub value: String,
    pub role: String,
    pub error: Option<String>,
}

impl RuleRow {
    /// A row as typed (trimmed).
    pub fn new(kind: &str, value: &str, role: &str) -> Self {
        Self {
            kind: kind.trim().to_string(),
            value: value.trim().to_string(),
            role: role.trim().to_string(),
            error: None,
        }
    }

    /// `kind:value=role`, the API's and the CLI's form.
    pub fn line(&self) -> String {
        format!("{}:{}={}", self.kind, self.value, self.role)
    }

    /// Reads a `kind:value=role` line.
    pub fn of_line(line: &str) -> Result<Self> {
        line.split_once(':')
            .and_then(|(kind, rest)| rest.rsplit_once('=').map(|(v, r)| Self::new(kind, v, r)))
            .ok_or_else(|| {
                ManageError::Field(
                    "role_rules",
                    format!("'{line}': write kind:value=role, e.g. group:Sales=Manager"),
                )
            })
    }
}

/// Checks rule rows in order against the integration's User type `users` (so filters may name
/// its extension attributes): blank rows are dropped, each kept row carries its problem, and
/// the rules of the rows without one come with them.
pub fn check_rules(
    rows: Vec<RuleRow>,
    users: &scim_core::schema::ResourceType,
) -> (Vec<RuleRow>, Vec<(RuleRow, RoleRule)>) {
    let mut kept = Vec::new();
    let mut parsed = Vec::new();
    for mut row in rows {
        if row.value.is_empty() && row.role.is_empty() {
            continue;
        }
        row.error = None;
        if row.value.is_empty() {
            row.error = Some("Enter what the rule matches.".into());
        } else if row.role.is_empty() {
            row.error = Some("Choose the target role.".into());
        } else {
            match RoleRule::parse(&row.kind, &row.value, &row.role, users) {
                Ok(rule) => parsed.push((row.clone(), rule)),
                Err(e) => {
                    row.error = Some(if row.kind == "filter" {
                        format!("Not a valid SCIM filter: {}", e.detail)
                    } else {
                        e.detail
                    })
                }
            }
        }
        kept.push(row);
    }
    (kept, parsed)
}

/// A change to the Roles step: rules (highest priority first), the default role (empty: none)
/// and, for a connector that defines its roles itself (Brevo's privilege bundles), those.
#[derive(Debug, Clone, Default)]
pub struct RolesChange {
    pub default_role: String,
    pub rules: Vec<RuleRow>,
    /// `None` keeps them.
    pub bundles: Option<String>,
}

/// The descriptor field holding the integration's own role definitions, if its connector has
/// one (Brevo: `role_privileges`).
pub fn bundles_field(i: &Integration) -> Option<&'static connector_api::Field> {
    crate::connectors::descriptor(&i.connector_kind)?
        .fields
        .iter()
        .find(|f| f.key == "role_privileges")
}

/// `i` with the role definitions `bundles` (checked), or as it is when `bundles` is `None`:
/// the integration whose roles the rules must name (fetch them with [`target_roles`]).
pub fn with_bundles(
    store: &Store,
    i: &Integration,
    bundles: Option<&str>,
    allow_private: bool,
) -> Result<Integration> {
    let Some(text) = bundles else {
        return Ok(i.clone());
    };
    let f = bundles_field(i).ok_or_else(|| {
        ManageError::Field(
            "bundles",
            format!(
                "{} takes its roles from the target app; leave this out.",
                connector_title(&i.connector_kind)
            ),
        )
    })?;
    let mut probe = i.clone();
    probe
        .settings
        .insert(f.key.to_string(), Value::String(text.trim().to_string()));
    let secrets = store.integration_secrets(i)?;
    crate::connectors::validate(&i.connector_kind, &probe.settings, &secrets, allow_private)
        .map_err(|e| ManageError::Field("bundles", e))?;
    Ok(probe)
}

/// The roles change checked: its rows (each with its problem) and the default role's problem.
#[derive(Debug, Clone, Default)]
pub struct RolesCheck {
    pub rows: Vec<RuleRow>,
    pub default_error: Option<String>,
}

impl RolesCheck {
    /// The first problem, as the API reports it.
    pub fn problem(&self) -> Option<ManageError> {
        self.rows
            .iter()
            .find_map(|r| {
                r.error
                    .as_ref()
                    .map(|e| ManageError::Field("role_rules", format!("'{}': {e}", r.line())))
            })
            .or_else(|| {
                self.default_error
                    .clone()
                    .map(|e| ManageError::Field("default_role", e))
            })
    }
}

/// Checks a roles change against `known_roles`, the target's roles (empty when they could not
/// be listed: names are then taken as typed). `i` is the integration as [`with_bundles`]
/// gives it.
pub fn check_roles(i: &Integration, change: &RolesChange, known_roles: &[String]) -> RolesCheck {
    let (mut rows, _) = check_rules(change.rules.clone(), &provisioning::inputs::user_type(i));
    // Roles are the target's: one it does not have is refused here, not found later by a job.
    let unknown_role = |role: &str| {
        (!role.is_empty()
            && !known_roles.is_empty()
            && !known_roles.iter().any(|k| k.eq_ignore_ascii_case(role)))
        .then(|| {
            format!(
                "{} has no role '{role}'. It has: {}.",
                connector_title(&i.connector_kind),
                known_roles.join(", ")
            )
        })
    };
    for row in rows.iter_mut().filter(|r| r.error.is_none()) {
        row.error = unknown_role(&row.role);
    }
    // No default role is allowed (users no rule matches then lose access, or keep their
    // role), unless the policy says they get the default role.
    let default_role = change.default_role.trim();
    let mut candidate = i.clone();
    candidate.default_role = Some(default_role.to_string()).filter(|d| !d.is_empty());
    let default_error = provisioning::inputs::policy_of(&candidate)
        .and_then(|p| {
            if p.unmatched == Some(Unmatched::Default) && p.default_role.is_none() {
                Err("The policy gives users no rule matches the default role: choose one, or change that policy first.".to_string())
            } else {
                Ok(())
            }
        })
        .err()
        .or_else(|| unknown_role(default_role));
    RolesCheck {
        rows,
        default_error,
    }
}

/// Saves the rules, the default role and the role definitions of `i` after the checks of
/// [`with_bundles`] and [`check_roles`] (audit: `integration.roles`, before and after).
pub async fn update_roles(
    store: &Store,
    actor: &Actor,
    i: &Integration,
    change: &RolesChange,
    known_roles: &[String],
    allow_private: bool,
    now: i64,
) -> Result<()> {
    let probe = with_bundles(store, i, change.bundles.as_deref(), allow_private)?;
    let checked = check_roles(&probe, change, known_roles);
    if let Some(problem) = checked.problem() {
        return Err(problem);
    }
    let default_role = Some(change.default_role.trim().to_string()).filter(|d| !d.is_empty());
    let new_rules: Vec<store::NewRoleRule> = checked
        .rows
        .iter()
        .enumerate()
        .map(|(n, row)| store::NewRoleRule {
            priority: n as i32,
            source_kind: match row.kind.as_str() {
                "app_role" => RuleSourceKind::AppRole,
                "group" => RuleSourceKind::Group,
                _ => RuleSourceKind::Filter,
            },
            source_value: row.value.clone(),
            target_role: row.role.clone(),
        })
        .collect();
    // Before and after, so the audit log can say what changed.
    let before: Vec<Value> = store
        .list_role_rules(&i.id)
        .await?
        .iter()
        .map(|r| json!({"kind": r.source_kind.as_str(), "value": r.source_value, "role": r.target_role}))
        .collect();
    let detail = json!({
        "default_role": {"before": i.default_role, "after": default_role},
        "rules": {
            "before": before,
            "after": checked.rows.iter().map(|r| json!({"kind": r.kind, "value": r.value, "role": r.role})).collect::<Vec<_>>(),
        },
    });
    store
        .update_integration_settings(
            &i.tenant_id,
            &i.id,
            store::IntegrationUpdate {
                default_role: Some(default_role),
                settings: change.bundles.as_ref().map(|_| probe.settings.clone()),
                ..Default::default()
            },
        )
        .await?;
    store.replace_role_rules(&i.id, new_rules).await?;
    record(
        store,
        actor,
        Some(&i.tenant_id),
        "integration.roles",
        "integration",
        Some(&i.id),
        Some(detail),
        now,
    )
    .await
}

/// The stored rules of `i` as rows, highest priority first.
pub async fn stored_rules(store: &Store, i: &Integration) -> Result<Vec<RuleRow>> {
    Ok(store
        .list_role_rules(&i.id)
        .await?
        .into_iter()
        .map(|r| RuleRow {
            kind: r.source_kind.as_str().to_string(),
            value: r.source_value,
            role: r.target_role,
            error: None,
        })
        .collect())
}

// ------------------------------------------------------------------ policy

/// The policies and the mode, in the stored (and the API's) words.
#[derive(Debug, Clone)]
pub struct PolicyChange {
    /// `role:<target role>`, `deactivate`, `delete` or `ignore`.
    pub deprovision: String,
    /// `default`, `deprovision`, `keep`, or `auto`/empty (decided by the default role).
    pub unmatched: String,
    /// `assignment` or `groups`.
    pub lifecycle: String,
    /// `none`, `ruled` or `all`.
    pub push_groups: String,
    /// `off` or `USERS,PERCENT%`.
    pub delete_guard: String,
    pub mode: IntegrationMode,
}

impl PolicyChange {
    /// The stored policies and mode of `i`.
    pub fn of(i: &Integration) -> Self {
        let p = provisioning::inputs::policy_of(i).unwrap_or_default();
        Self {
            deprovision: p.deprovision.to_string(),
            unmatched: p.unmatched.map_or("auto", |u| u.as_str()).to_string(),
            lifecycle: p.lifecycle.as_str().to_string(),
            push_groups: p.group_push.as_str().to_string(),
            delete_guard: p.guard.to_string(),
            mode: i.mode,
        }
    }
}

/// The policy `change` describes for `i`, checked against what its target can do.
pub fn check_policy(i: &Integration, change: &PolicyChange) -> Result<Policy> {
    let field = |name: &'static str| move |e: String| ManageError::Field(name, e);
    let deprovision = match change.deprovision.trim() {
        "" => {
            return Err(ManageError::Field(
                "deprovision",
                "Choose what happens when a user is deactivated.".into(),
            ));
        }
        d if d.strip_prefix("role:").is_some_and(|r| r.trim().is_empty()) || d == "role" => {
            return Err(ManageError::Field(
                "deprovision",
                "Choose the role deactivated users are moved to.".into(),
            ));
        }
        d => Deprovision::parse(d).map_err(field("deprovision"))?,
    };
    let unmatched = match change.unmatched.trim() {
        "auto" | "" => None,
        other => Some(Unmatched::parse(other).map_err(field("unmatched"))?),
    };
    let guard = DeleteGuard::parse(&change.delete_guard).map_err(|_| {
        ManageError::Field(
            "delete_guard",
            "The deletion guard needs a whole number of users and a percentage from 0 to 100."
                .into(),
        )
    })?;
    let policy = Policy {
        default_role: i.default_role.clone(),
        deprovision,
        unmatched,
        lifecycle: Lifecycle::parse(&change.lifecycle).map_err(field("lifecycle"))?,
        group_push: GroupPush::parse(&change.push_groups).map_err(field("push_groups"))?,
        guard,
    };
    let caps = crate::connectors::capabilities(&i.connector_kind, &i.settings)
        .ok_or(ManageError::NotFound)?;
    policy.validate(&caps).map(|()| policy).map_err(|e| {
        let mut c = e.chars();
        ManageError::Invalid(
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str() + ".")
                .unwrap_or_default(),
        )
    })
}

/// What saving the policy did beyond saving it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicySaved {
    /// Dry run → live on an integration past its setup: (accounts adopted, users queued).
    pub went_live: Option<(u64, u64)>,
}

/// Saves the policies and the mode of `i` (audit: `integration.policy`, before and after). A
/// switch from dry run to live brings every known user to the target now, not at their next
/// change: the accounts the last import matched are adopted and everyone is queued.
pub async fn update_policy(
    store: &Store,
    actor: &Actor,
    i: &Integration,
    change: &PolicyChange,
    allow_private: bool,
    now: i64,
) -> Result<PolicySaved> {
    let policy = check_policy(i, change)?;
    let mode = change.mode;
    let before = provisioning::inputs::policy_of(i).ok();
    store
        .update_integration_settings(
            &i.tenant_id,
            &i.id,
            store::IntegrationUpdate {
                deprovision_policy: Some(policy.deprovision.to_string()),
                policies: Some(provisioning::inputs::stored_policies(&policy)),
                mode: Some(mode),
                ..Default::default()
            },
        )
        .await?;
    let summary = |p: &Policy, mode: &str| {
        json!({
            "deprovision": p.deprovision.to_string(),
            "unmatched": p.unmatched().as_str(),
            "lifecycle": p.lifecycle.as_str(),
            "group_push": p.group_push.as_str(),
            "delete_guard": p.guard.to_string(),
            "mode": mode,
        })
    };
    record(
        store,
        actor,
        Some(&i.tenant_id),
        "integration.policy",
        "integration",
        Some(&i.id),
        Some(json!({
            "before": before.as_ref().map(|b| summary(b, i.mode.as_str())),
            "after": summary(&policy, mode.as_str()),
        })),
        now,
    )
    .await?;
    if i.status == IntegrationStatus::Draft
        || i.mode != IntegrationMode::DryRun
        || mode != IntegrationMode::Live
    {
        return Ok(PolicySaved::default());
    }
    let fresh = store
        .get_integration(&i.tenant_id, &i.id)
        .await?
        .ok_or(ManageError::NotFound)?;
    let live = crate::connectors::reconciler(store, allow_private)
        .go_live(&fresh)
        .await
        .map_err(|e| match e {
            provisioning::reconcile::ReconcileError::Store(e) => ManageError::Store(e),
            e => ManageError::Conflict(format!(
                "The policy is saved and the integration is live, but bringing the known users to the target failed: {e}"
            )),
        })?;
    Ok(PolicySaved {
        went_live: Some(live),
    })
}

// ------------------------------------------------------------------ extension schemas

/// Adds `schema` to the extensions of `i`, or replaces the one with its URN (audit:
/// `integration.extensions`). Whether it replaced one. The caller clears the SCIM token cache
/// (the User type is cached with the token).
pub async fn add_extension_schema(
    store: &Store,
    actor: &Actor,
    i: &Integration,
    schema: scim_core::schema::Schema,
    now: i64,
) -> Result<bool> {
    let mut schemas = i.extension_schemas.clone();
    let replaced = schemas
        .iter()
        .any(|s| s.id.eq_ignore_ascii_case(&schema.id));
    let detail = json!({
        "added": schema.id,
        "replaced": replaced,
        "attributes": schema.attributes.iter().map(|a| a.name.clone()).collect::<Vec<_>>(),
    });
    schemas.retain(|s| !s.id.eq_ignore_ascii_case(&schema.id));
    schemas.push(schema);
    save_extensions(store, actor, i, &schemas, detail, now).await?;
    Ok(replaced)
}

/// Removes the extension `urn` from `i` (audit: `integration.extensions`). The caller clears
/// the SCIM token cache.
pub async fn remove_extension_schema(
    store: &Store,
    actor: &Actor,
    i: &Integration,
    urn: &str,
    now: i64,
) -> Result<()> {
    let mut schemas = i.extension_schemas.clone();
    schemas.retain(|s| !s.id.eq_ignore_ascii_case(urn));
    if schemas.len() == i.extension_schemas.len() {
        return Err(ManageError::Field(
            "urn",
            format!("No extension '{urn}' is registered."),
        ));
    }
    save_extensions(store, actor, i, &schemas, json!({"removed": urn}), now).await
}

/// Replaces the extensions of `i` with these schema resources, as the create call takes them
/// (audit: `integration.extensions`, the URNs before and after). The caller clears the SCIM
/// token cache.
pub async fn set_extension_schemas(
    store: &Store,
    actor: &Actor,
    i: &Integration,
    docs: Vec<Value>,
    now: i64,
) -> Result<Vec<scim_core::schema::Schema>> {
    let schemas = scim_core::extension::parse_schemas(&Value::Array(docs))
        .map_err(|e| ManageError::Field("extension_schemas", e.detail))?;
    let urns =
        |list: &[scim_core::schema::Schema]| list.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    let detail = json!({"before": urns(&i.extension_schemas), "after": urns(&schemas)});
    save_extensions(store, actor, i, &schemas, detail, now).await?;
    Ok(schemas)
}

async fn save_extensions(
    store: &Store,
    actor: &Actor,
    i: &Integration,
    schemas: &[scim_core::schema::Schema],
    detail: Value,
    now: i64,
) -> Result<()> {
    store
        .set_integration_extension_schemas(&i.tenant_id, &i.id, schemas)
        .await?;
    record(
        store,
        actor,
        Some(&i.tenant_id),
        "integration.extensions",
        "integration",
        Some(&i.id),
        Some(detail),
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rule_lines_read_like_the_cli() {
        let r = RuleRow::of_line("filter:title eq \"A=B\"=Manager").unwrap();
        assert_eq!(
            (r.kind.as_str(), r.value.as_str(), r.role.as_str()),
            ("filter", "title eq \"A=B\"", "Manager")
        );
        assert_eq!(
            RuleRow::of_line("group:Sales=User").unwrap().line(),
            "group:Sales=User"
        );
        assert!(message(&RuleRow::of_line("nonsense").unwrap_err()).contains("kind:value=role"));
    }

    #[test]
    fn rules_are_checked_in_order() {
        let rows = vec![
            RuleRow::new("group", "Sales", "Sales Manager"),
            RuleRow::new("filter", "department eq", "Admin"),
            RuleRow::new("app_role", "", ""),
            RuleRow::new("app_role", "Admin", ""),
        ];
        let (rows, parsed) = check_rules(rows, &scim_core::schema::ResourceType::user());
        assert_eq!(rows.len(), 3, "the blank row is dropped");
        assert_eq!(parsed.len(), 1);
        assert!(
            rows[1]
                .error
                .as_deref()
                .unwrap_or_default()
                .starts_with("Not a valid SCIM filter")
        );
        assert_eq!(rows[2].error.as_deref(), Some("Choose the target role."));
    }
}
