//! `connector-api` is the contract between the provisioning engine and a target app
//! (ActiveCampaign, Pipedrive, …): the [`Connector`] trait, the target-side user and role
//! types, [`Capabilities`], a [`ConnectorError`] that classifies failures so the engine can
//! decide about retries without knowing the vendor, and the settings [`Descriptor`] that the
//! UI and CLI render forms from. It has no HTTP client and names no concrete connector.

use async_trait::async_trait;
use serde::Serialize;
use std::time::Duration;

pub mod exchange;
pub mod explain;
pub mod whole_list;

/// A `Retry-After` header in seconds, capped at `cap` (an HTTP date is not honoured: the
/// caller's backoff applies). Each target's connector says how long it will ever wait.
pub fn retry_after_secs(value: Option<&str>, cap: Duration) -> Option<Duration> {
    value
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(cap))
}

/// A user as the target app knows it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TargetUser {
    /// The target's id (always a string; many APIs send numeric ids as strings).
    pub id: String,
    pub email: String,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Role ids the user holds, where the target reports them with the user.
    pub roles: Vec<String>,
    /// The target's own active flag, where it has one (reconciliation's seat count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// The last login as the target reports it, where it does (reconciliation's orphans).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<String>,
}

/// What the engine wants a user to look like in the target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DesiredUser {
    pub email: String,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    /// Role ids to hold (one for single-role targets).
    pub roles: Vec<String>,
    /// The IdP user's other attributes by SCIM name (core, enterprise and registered
    /// extensions keyed by their URN), for connectors with `Capabilities::attributes`.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// A role (permission group, seat type…) of the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    pub id: String,
    pub name: String,
}

/// Who the configured credentials act as, shown by "Test connection".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountIdentity {
    /// The account or instance, e.g. the API host.
    pub account: String,
    /// The target user that owns the credentials; the engine never deletes or demotes it.
    pub user_id: String,
    pub user_email: String,
    pub user_name: String,
}

/// One page of users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// How many roles a user holds in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleCardinality {
    One,
    Many,
}

/// How the target identifies users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKey {
    Id,
    Email,
}

/// What a target supports; the engine and the UI adapt to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    pub can_create: bool,
    pub can_update: bool,
    pub can_delete: bool,
    /// A native deactivate; without it deactivation is a role change or a delete.
    pub can_deactivate: bool,
    pub roles: RoleCardinality,
    pub names_supported: bool,
    pub key: UserKey,
    /// Group operations (`list_groups`, `create_group`, …) are implemented.
    pub groups: bool,
    /// `rotate_password` is implemented: deprovisioning without a native deactivate also
    /// scrambles the password.
    pub rotate_password: bool,
    /// The target takes the IdP user's attributes by name (`DesiredUser::attributes`, SCIM
    /// targets): a change of any of them is an update.
    pub attributes: bool,
}

/// A connector failure, classified for retry decisions; `message` is readable by support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// Credentials rejected: retrying will not help until they are fixed.
    #[error("the target rejected the credentials: {0}")]
    Unauthorized(String),
    #[error("not found in the target: {0}")]
    NotFound(String),
    /// The target already has a conflicting object (e.g. the email is taken).
    #[error("conflict in the target: {0}")]
    Conflict(String),
    /// Over the target's rate limit; try again after `retry_after` if given.
    #[error("rate-limited by the target: {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// Timeouts, 5xx, connection failures: retry with backoff.
    #[error("the target is unavailable: {0}")]
    Transient(String),
    /// The target refused the request as invalid; retrying the same call will fail again.
    #[error("the target refused the request: {0}")]
    Permanent(String),
}

impl ConnectorError {
    /// True when the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConnectorError::RateLimited { .. } | ConnectorError::Transient(_)
        )
    }

    /// The kind, as stored beside a job's error (`jobs.last_error_kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorError::Unauthorized(_) => "unauthorized",
            ConnectorError::NotFound(_) => "not_found",
            ConnectorError::Conflict(_) => "conflict",
            ConnectorError::RateLimited { .. } => "rate_limited",
            ConnectorError::Transient(_) => "transient",
            ConnectorError::Permanent(_) => "permanent",
        }
    }

    /// The delay the target asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConnectorError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Shorthand.
pub type Result<T> = std::result::Result<T, ConnectorError>;

/// The input control for a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Url,
    Text,
    Secret,
    /// One of these values (the first is the default shown).
    Choice(&'static [&'static str]),
}

/// One setting of a connector, as the UI and CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    pub key: &'static str,
    pub label: &'static str,
    /// Where to find the value, in the target's own words.
    pub help: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    pub placeholder: &'static str,
}

impl Field {
    /// Secrets are encrypted at rest and never shown again.
    pub fn is_secret(&self) -> bool {
        self.kind == FieldKind::Secret
    }
}

/// Describes a connector kind: identity, settings and capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Descriptor {
    /// Stable kind name stored with integrations, e.g. `activecampaign`.
    pub kind: &'static str,
    /// Shown on the connector card, e.g. "ActiveCampaign".
    pub title: &'static str,
    /// One line for the card.
    pub summary: &'static str,
    pub fields: &'static [Field],
    pub capabilities: Capabilities,
}

impl Descriptor {
    /// Checks settings and secrets against the fields; the error names what to fix.
    pub fn validate<'a>(
        &self,
        settings: impl Iterator<Item = (&'a str, &'a str)> + Clone,
        secrets: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    ) -> std::result::Result<(), String> {
        for f in self.fields {
            let mut source = if f.is_secret() {
                secrets.clone().collect::<Vec<_>>()
            } else {
                settings.clone().collect()
            }
            .into_iter();
            let present = source.any(|(k, v)| k == f.key && !v.trim().is_empty());
            if f.required && !present {
                return Err(format!("{} needs '{}' ({})", self.title, f.key, f.label));
            }
            if let FieldKind::Choice(options) = f.kind
                && let Some((_, v)) = settings
                    .clone()
                    .find(|(k, v)| *k == f.key && !v.trim().is_empty())
                && !options.contains(&v.trim())
            {
                return Err(format!(
                    "{}: '{}' must be one of {}, not '{v}'",
                    self.title,
                    f.key,
                    options.join(", ")
                ));
            }
        }
        for (k, _) in settings {
            if !self.fields.iter().any(|f| !f.is_secret() && f.key == k) {
                return Err(format!("{} has no setting '{k}'", self.title));
            }
        }
        for (k, _) in secrets {
            if !self.fields.iter().any(|f| f.is_secret() && f.key == k) {
                return Err(format!("{} has no secret '{k}'", self.title));
            }
        }
        Ok(())
    }
}

/// A group in the target (a team, a project…), as a connector with group operations knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetGroup {
    pub id: String,
    pub name: String,
}

/// What a target reported about its rate limit with a response (Brevo's
/// `x-sib-ratelimit-*` headers, a 429's `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitReport {
    /// Requests (or tokens) per window, when the target says; `None` keeps what is known.
    pub limit: Option<u64>,
    /// What is left in the current window.
    pub remaining: u64,
    /// Until the window resets.
    pub reset: Duration,
}

/// Waits for the target account's next rate-limit slot. Connectors call it before **every**
/// HTTP request, so a call that needs two requests takes two slots.
#[async_trait]
pub trait Throttle: Send + Sync {
    async fn acquire(&self) -> Result<()>;
    /// Like [`Throttle::acquire`] for a call that costs `cost` units of the account's budget
    /// (Pipedrive charges tokens per call). Over the budget it answers
    /// [`ConnectorError::RateLimited`] with the time until the budget resets.
    async fn acquire_cost(&self, _cost: u32) -> Result<()> {
        self.acquire().await
    }
    /// The target told us where its limit stands; the limiter adopts it.
    async fn observe(&self, _report: LimitReport) {}
}

/// A throttle that never waits (tests, tools).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoThrottle;

#[async_trait]
impl Throttle for NoThrottle {
    async fn acquire(&self) -> Result<()> {
        Ok(())
    }
}

fn unsupported<T>(what: &str) -> Result<T> {
    Err(ConnectorError::Permanent(format!(
        "this app does not support {what}"
    )))
}

/// A target app. Implementations are cheap to clone and safe to share between workers.
#[async_trait]
pub trait Connector: Send + Sync {
    /// The kind's descriptor.
    fn descriptor(&self) -> &'static Descriptor;
    /// Validates the credentials and returns who they act as.
    async fn test_connection(&self) -> Result<AccountIdentity>;
    /// The target's roles, looked up live.
    async fn list_roles(&self) -> Result<Vec<Role>>;
    /// The target takes any role name as it is (e.g. SCIM `roles[].value`): role names are
    /// their own ids and `list_roles` may be empty.
    fn accepts_any_role(&self) -> bool {
        false
    }
    async fn get_user(&self, id: &str) -> Result<Option<TargetUser>>;
    async fn find_user_by_email(&self, email: &str) -> Result<Option<TargetUser>>;
    async fn find_user_by_username(&self, username: &str) -> Result<Option<TargetUser>>;
    /// Users from `offset`, at most `limit` (for reconciliation).
    async fn list_users(&self, offset: u64, limit: u64) -> Result<Page<TargetUser>>;
    /// Whether `list_users` reports each user's roles; when not, reconciliation reads them
    /// account by account with [`Connector::roles_of`].
    fn list_reports_roles(&self) -> bool {
        true
    }
    /// The role ids one account holds (`None`: no such account).
    async fn roles_of(&self, id: &str) -> Result<Option<Vec<String>>> {
        Ok(self.get_user(id).await?.map(|u| u.roles))
    }
    /// The ids of the users holding role `role_id`, from `offset`, at most `limit`, where the
    /// target lists a role's members (`None`: it does not; reconciliation then asks
    /// [`Connector::roles_of`] account by account).
    async fn list_role_members(
        &self,
        _role_id: &str,
        _offset: u64,
        _limit: u64,
    ) -> Result<Option<Page<String>>> {
        Ok(None)
    }
    async fn create_user(&self, user: &DesiredUser) -> Result<TargetUser>;
    /// Updates profile fields and roles.
    async fn update_user(&self, id: &str, user: &DesiredUser) -> Result<TargetUser>;
    /// Sets the user's role(s), replacing what they held.
    async fn set_roles(&self, id: &str, roles: &[String]) -> Result<()>;
    async fn delete_user(&self, id: &str) -> Result<()>;

    /// Adds one role (multi-role targets).
    async fn add_role(&self, _id: &str, _role: &str) -> Result<()> {
        unsupported("adding a role")
    }
    /// Removes one role (multi-role targets).
    async fn remove_role(&self, _id: &str, _role: &str) -> Result<()> {
        unsupported("removing a role")
    }
    /// The native deactivate (`Capabilities::can_deactivate`).
    async fn deactivate_user(&self, _id: &str) -> Result<()> {
        unsupported("deactivating users")
    }
    async fn reactivate_user(&self, _id: &str) -> Result<()> {
        unsupported("reactivating users")
    }
    /// What the target says of the account beyond what we pushed (Brevo: an invitation
    /// `pending` until accepted, or `active`), for the user page; `None`: nothing to add.
    async fn account_state(&self, _id: &str) -> Result<Option<String>> {
        Ok(None)
    }
    /// Sets a new random password nobody knows (`Capabilities::rotate_password`); `roles` are
    /// the role ids the user holds, for targets that need them on every update.
    async fn rotate_password(&self, _id: &str, _roles: &[String]) -> Result<()> {
        unsupported("rotating passwords")
    }

    // Group operations (`Capabilities::groups`), keyed by the target's group id.
    async fn list_groups(&self) -> Result<Vec<TargetGroup>> {
        unsupported("groups")
    }
    async fn create_group(&self, _name: &str) -> Result<TargetGroup> {
        unsupported("groups")
    }
    async fn rename_group(&self, _id: &str, _name: &str) -> Result<()> {
        unsupported("groups")
    }
    async fn add_group_members(&self, _id: &str, _user_ids: &[String]) -> Result<()> {
        unsupported("groups")
    }
    async fn remove_group_members(&self, _id: &str, _user_ids: &[String]) -> Result<()> {
        unsupported("groups")
    }
    async fn delete_group(&self, _id: &str) -> Result<()> {
        unsupported("groups")
    }
}
