//! Integrations: a tenant's IdP → target connection, with encrypted secrets.

use crate::entities::{integrations, jobs};
use crate::types::{IntegrationMode, IntegrationStatus, JobState};
use crate::{NewAudit, Result, Store, StoreError, new_id, now_ms};
use scim_core::extension::{parse_schemas, schemas_to_value};
use scim_core::schema::Schema;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QueryTrait,
};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `paused_by` of a pause the worker decided (and the audit actor of it).
pub const AUTO_PAUSED_BY: &str = "scimbridge";

/// `jobs.last_error_kind` of a job that waits for a paused integration.
pub const PAUSED_KIND: &str = "paused";

/// The kinds of jobs that a resume makes due at once: they waited for the pause, or for the
/// target to take the credentials again (`ConnectorError::kind` of a rejected key).
const WAITING_KINDS: [&str; 2] = [PAUSED_KIND, "unauthorized"];

/// An integration. Secrets stay sealed in here; decrypt them with
/// [`Store::integration_secrets`] only where they are used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Integration {
    /// UUID; also the path segment of the SCIM base URL.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Display name.
    pub name: String,
    /// Connector registry key, e.g. `activecampaign`.
    pub connector_kind: String,
    /// Non-secret settings (base URL, options…).
    pub settings: Map<String, Value>,
    /// Target role when no rule matches.
    pub default_role: Option<String>,
    /// What to do when the IdP deactivates or deletes a user, e.g. `role:No access`,
    /// `delete`, `ignore`.
    pub deprovision_policy: String,
    /// The other policies, as stored (parsed by `provisioning::planner::Policy`).
    pub policies: IntegrationPolicies,
    /// Live or dry run.
    pub mode: IntegrationMode,
    /// Draft, active or paused.
    pub status: IntegrationStatus,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
    /// Extension schemas of the integration's User type (custom attributes of the target
    /// app), besides the core and Enterprise schemas.
    pub extension_schemas: Vec<Schema>,
    /// Who paused it: `None` a person (or not paused), [`AUTO_PAUSED_BY`] the worker.
    pub paused_by: Option<String>,
    /// Why the worker paused it, in one sentence.
    pub pause_reason: Option<String>,
    /// When it was paused (epoch ms), if the pause is recorded.
    pub paused_at: Option<i64>,
    /// The sealed secrets blob (never serialized).
    #[serde(skip)]
    sealed_secrets: String,
}

impl TryFrom<integrations::Model> for Integration {
    type Error = StoreError;
    fn try_from(m: integrations::Model) -> Result<Self> {
        let settings = match serde_json::from_str::<Value>(&m.settings)? {
            Value::Object(map) => map,
            _ => {
                return Err(StoreError::InvalidData(
                    "settings is not a JSON object".into(),
                ));
            }
        };
        Ok(Integration {
            id: m.id,
            tenant_id: m.tenant_id,
            name: m.name,
            connector_kind: m.connector_kind,
            settings,
            default_role: m.default_role,
            deprovision_policy: m.deprovision_policy,
            policies: serde_json::from_str(&m.policies).map_err(|e| {
                StoreError::InvalidData(format!("integration policies are not valid: {e}"))
            })?,
            mode: m.mode,
            status: m.status,
            created_at: m.created_at,
            updated_at: m.updated_at,
            extension_schemas: decode_extension_schemas(&m.extension_schemas)?,
            paused_by: m.paused_by,
            pause_reason: m.pause_reason,
            paused_at: m.paused_at,
            sealed_secrets: m.secrets,
        })
    }
}

/// An integration's policies besides the deprovision one, in their stored text forms (the
/// `provisioning` planner parses and validates them; see `planner::policy`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct IntegrationPolicies {
    /// `default`, `deprovision` or `keep`; absent: automatic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmatched: Option<String>,
    /// `assignment` (absent) or `groups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    /// `none` (absent), `ruled` or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_push: Option<String>,
    /// `off` or `USERS,PERCENT%`; absent: the default guard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_guard: Option<String>,
}

/// Reads the stored `extension_schemas` column.
pub(crate) fn decode_extension_schemas(text: &str) -> Result<Vec<Schema>> {
    let value: Value = serde_json::from_str(text)?;
    parse_schemas(&value)
        .map_err(|e| StoreError::InvalidData(format!("extension_schemas: {}", e.detail)))
}

/// The stored form of `schemas`, validated exactly as it will be read back (a schema built
/// in code gets the same checks as one parsed from a file: URN, types, duplicates).
pub fn encode_extension_schemas(schemas: &[Schema]) -> Result<String> {
    let value = schemas_to_value(schemas);
    parse_schemas(&value)
        .map_err(|e| StoreError::InvalidData(format!("extension schemas: {}", e.detail)))?;
    Ok(value.to_string())
}

/// An integration to create.
#[derive(Clone)]
pub struct NewIntegration {
    /// Owning tenant.
    pub tenant_id: String,
    /// Display name.
    pub name: String,
    /// Connector registry key.
    pub connector_kind: String,
    /// Non-secret settings.
    pub settings: Map<String, Value>,
    /// Secrets (API keys…), encrypted before they are stored.
    pub secrets: BTreeMap<String, String>,
    /// Target role when no rule matches.
    pub default_role: Option<String>,
    /// Deprovisioning policy.
    pub deprovision_policy: String,
    /// The other policies.
    pub policies: IntegrationPolicies,
    /// Live or dry run.
    pub mode: IntegrationMode,
    /// Initial status (usually draft).
    pub status: IntegrationStatus,
    /// Extension schemas of the User type (usually none).
    pub extension_schemas: Vec<Schema>,
}

impl std::fmt::Debug for NewIntegration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewIntegration")
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("connector_kind", &self.connector_kind)
            .field("settings", &self.settings)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("default_role", &self.default_role)
            .field("deprovision_policy", &self.deprovision_policy)
            .field("policies", &self.policies)
            .field("mode", &self.mode)
            .field("status", &self.status)
            .field("extension_schemas", &self.extension_schemas.len())
            .finish()
    }
}

/// Changes to an integration; `None` leaves a field as it is.
#[derive(Clone, Default)]
pub struct IntegrationUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New settings (replaces the whole object).
    pub settings: Option<Map<String, Value>>,
    /// New secrets (replaces the whole map; merge with [`Store::integration_secrets`] first
    /// to keep unchanged keys).
    pub secrets: Option<BTreeMap<String, String>>,
    /// New default role (`Some(None)` clears it).
    pub default_role: Option<Option<String>>,
    /// New deprovisioning policy.
    pub deprovision_policy: Option<String>,
    /// New other policies (replaces them all).
    pub policies: Option<IntegrationPolicies>,
    /// New mode.
    pub mode: Option<IntegrationMode>,
}

impl std::fmt::Debug for IntegrationUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationUpdate")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field(
                "secrets",
                &self.secrets.as_ref().map(|s| s.keys().collect::<Vec<_>>()),
            )
            .field("default_role", &self.default_role)
            .field("deprovision_policy", &self.deprovision_policy)
            .field("policies", &self.policies)
            .field("mode", &self.mode)
            .finish()
    }
}

impl Store {
    /// Seals a secrets map, bound to the integration id.
    fn seal_secrets(
        &self,
        integration_id: &str,
        secrets: &BTreeMap<String, String>,
    ) -> Result<String> {
        let json = serde_json::to_vec(secrets)?;
        self.secret_box()
            .seal_with_context(integration_id.as_bytes(), &json)
    }

    /// Creates an integration, encrypting its secrets.
    pub async fn create_integration(&self, new: NewIntegration) -> Result<Integration> {
        let id = new_id();
        let now = now_ms();
        let extension_schemas = encode_extension_schemas(&new.extension_schemas)?;
        let am = integrations::ActiveModel {
            id: Set(id.clone()),
            tenant_id: Set(new.tenant_id),
            name: Set(new.name),
            connector_kind: Set(new.connector_kind),
            settings: Set(serde_json::to_string(&new.settings)?),
            secrets: Set(self.seal_secrets(&id, &new.secrets)?),
            default_role: Set(new.default_role),
            deprovision_policy: Set(new.deprovision_policy),
            policies: Set(serde_json::to_string(&new.policies)?),
            mode: Set(new.mode),
            status: Set(new.status),
            created_at: Set(now),
            updated_at: Set(now),
            extension_schemas: Set(extension_schemas),
            paused_by: Set(None),
            pause_reason: Set(None),
            paused_at: Set(None),
        };
        integrations::Entity::insert(am)
            .exec_without_returning(self.db())
            .await?;
        self.get_integration_unscoped(&id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The integration `id` if it belongs to `tenant_id`.
    pub async fn get_integration(&self, tenant_id: &str, id: &str) -> Result<Option<Integration>> {
        integrations::Entity::find_by_id(id)
            .filter(integrations::Column::TenantId.eq(tenant_id))
            .one(self.db())
            .await?
            .map(Integration::try_from)
            .transpose()
    }

    /// The integration `id`, whatever its tenant (token authentication, workers, support).
    pub async fn get_integration_unscoped(&self, id: &str) -> Result<Option<Integration>> {
        integrations::Entity::find_by_id(id)
            .one(self.db())
            .await?
            .map(Integration::try_from)
            .transpose()
    }

    /// The tenant's integrations, by name.
    pub async fn list_integrations(&self, tenant_id: &str) -> Result<Vec<Integration>> {
        integrations::Entity::find()
            .filter(integrations::Column::TenantId.eq(tenant_id))
            .order_by_asc(integrations::Column::Name)
            .order_by_asc(integrations::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(Integration::try_from)
            .collect()
    }

    /// Decrypts the integration's secrets. A wrong master key is [`StoreError::Crypto`].
    pub fn integration_secrets(
        &self,
        integration: &Integration,
    ) -> Result<BTreeMap<String, String>> {
        let json = self
            .secret_box()
            .open_with_context(integration.id.as_bytes(), &integration.sealed_secrets)?;
        Ok(serde_json::from_slice(&json)?)
    }

    /// Applies `update` to the tenant's integration and returns it.
    /// [`StoreError::NotFound`] if it is not the tenant's.
    pub async fn update_integration_settings(
        &self,
        tenant_id: &str,
        id: &str,
        update: IntegrationUpdate,
    ) -> Result<Integration> {
        let model = integrations::Entity::find_by_id(id)
            .filter(integrations::Column::TenantId.eq(tenant_id))
            .one(self.db())
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut am = model.into_active_model();
        if let Some(name) = update.name {
            am.name = Set(name);
        }
        if let Some(settings) = update.settings {
            am.settings = Set(serde_json::to_string(&settings)?);
        }
        if let Some(secrets) = update.secrets {
            am.secrets = Set(self.seal_secrets(id, &secrets)?);
        }
        if let Some(default_role) = update.default_role {
            am.default_role = Set(default_role);
        }
        if let Some(policy) = update.deprovision_policy {
            am.deprovision_policy = Set(policy);
        }
        if let Some(policies) = update.policies {
            am.policies = Set(serde_json::to_string(&policies)?);
        }
        if let Some(mode) = update.mode {
            am.mode = Set(mode);
        }
        am.updated_at = Set(now_ms());
        Integration::try_from(am.update(self.db()).await?)
    }

    /// Replaces the extension schemas of the tenant's integration (validated first; an
    /// invalid list is [`StoreError::InvalidData`] and nothing is written) and bumps
    /// `updated_at`, so workers and caches keyed by it notice. [`StoreError::NotFound`] if it
    /// is not the tenant's.
    pub async fn set_integration_extension_schemas(
        &self,
        tenant_id: &str,
        id: &str,
        schemas: &[Schema],
    ) -> Result<Integration> {
        let text = encode_extension_schemas(schemas)?;
        let res = integrations::Entity::update_many()
            .col_expr(integrations::Column::ExtensionSchemas, text.into())
            .col_expr(integrations::Column::UpdatedAt, now_ms().into())
            .filter(integrations::Column::Id.eq(id))
            .filter(integrations::Column::TenantId.eq(tenant_id))
            .exec(self.db())
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_integration(tenant_id, id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Sets the status of the tenant's integration (a person's change: any automatic pause's
    /// reason goes). Resuming makes the jobs that waited for the pause, or for the target to
    /// take the credentials again, due now instead of after their back-off.
    /// [`StoreError::NotFound`] if it is not the tenant's.
    pub async fn set_integration_status(
        &self,
        tenant_id: &str,
        id: &str,
        status: IntegrationStatus,
    ) -> Result<()> {
        let now = now_ms();
        let paused_at = (status == IntegrationStatus::Paused).then_some(now);
        let res = integrations::Entity::update_many()
            .col_expr(integrations::Column::Status, status.as_str().into())
            .col_expr(integrations::Column::UpdatedAt, now.into())
            .col_expr(
                integrations::Column::PausedBy,
                Option::<String>::None.into(),
            )
            .col_expr(
                integrations::Column::PauseReason,
                Option::<String>::None.into(),
            )
            .col_expr(integrations::Column::PausedAt, paused_at.into())
            .filter(integrations::Column::Id.eq(id))
            .filter(integrations::Column::TenantId.eq(tenant_id))
            .exec(self.db())
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        if status == IntegrationStatus::Active {
            let due_now = jobs::Entity::update_many()
                .col_expr(jobs::Column::RunAfter, now.into())
                .filter(jobs::Column::IntegrationId.eq(id))
                .filter(jobs::Column::State.eq(JobState::Pending))
                .filter(jobs::Column::RunAfter.gt(now))
                .filter(jobs::Column::LastErrorKind.is_in(WAITING_KINDS))
                .build(self.backend());
            self.write_statement(due_now).await?;
        }
        Ok(())
    }

    /// Counts one live job's credential outcome in the integration's streak, shared by every
    /// worker and instance (the rule of `provisioning::engine::auto_pause::Streak`, in one
    /// statement): a successful call starts the streak again, a rejection adds one, and
    /// reaching `threshold` (0: never) starts it again and answers true: pause now.
    pub async fn record_credential_outcome(
        &self,
        integration_id: &str,
        succeeded: bool,
        rejected: bool,
        threshold: u32,
    ) -> Result<bool> {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let backend = self.db().get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "INSERT INTO credential_streaks (integration_id, rejected)
                 VALUES ($1, CASE WHEN $4 > 0 AND $3 >= $4 THEN 0 ELSE $3 END)
                 ON CONFLICT (integration_id) DO UPDATE SET rejected =
                   CASE WHEN $4 > 0
                         AND (CASE WHEN $2 = 1 THEN 0 ELSE credential_streaks.rejected END) + $3 >= $4
                        THEN 0
                        ELSE (CASE WHEN $2 = 1 THEN 0 ELSE credential_streaks.rejected END) + $3 END
                 RETURNING rejected"
            }
            _ => {
                "INSERT INTO credential_streaks (integration_id, rejected)
                 VALUES (?1, CASE WHEN ?4 > 0 AND ?3 >= ?4 THEN 0 ELSE ?3 END)
                 ON CONFLICT (integration_id) DO UPDATE SET rejected =
                   CASE WHEN ?4 > 0
                         AND (CASE WHEN ?2 = 1 THEN 0 ELSE credential_streaks.rejected END) + ?3 >= ?4
                        THEN 0
                        ELSE (CASE WHEN ?2 = 1 THEN 0 ELSE credential_streaks.rejected END) + ?3 END
                 RETURNING rejected"
            }
        };
        let statement = Statement::from_sql_and_values(
            backend,
            sql,
            [
                integration_id.into(),
                i64::from(succeeded).into(),
                i64::from(rejected).into(),
                i64::from(threshold).into(),
            ],
        );
        let streak = if self.serial_writes() {
            self.write_returning(statement).await?.first().copied()
        } else {
            crate::outbox::retry_contended(|| async {
                match self.db().query_one_raw(statement.clone()).await? {
                    Some(row) => Ok(Some(row.try_get::<i64>("", "rejected")?)),
                    None => Ok(None),
                }
            })
            .await?
        };
        // Only a rejection that reached the threshold leaves a rejected job's streak at 0.
        Ok(rejected && threshold > 0 && streak == Some(0))
    }

    /// Pauses an active integration on the worker's behalf: status `paused`, by
    /// [`AUTO_PAUSED_BY`], with `reason` (one sentence, no secret) and an audit entry
    /// `integration.auto_pause`. False if it was not active (someone or something paused
    /// it first, or it was deleted).
    pub async fn auto_pause_integration(&self, id: &str, reason: &str, now: i64) -> Result<bool> {
        let res = integrations::Entity::update_many()
            .col_expr(
                integrations::Column::Status,
                IntegrationStatus::Paused.as_str().into(),
            )
            .col_expr(integrations::Column::UpdatedAt, now.into())
            .col_expr(integrations::Column::PausedBy, AUTO_PAUSED_BY.into())
            .col_expr(integrations::Column::PauseReason, reason.into())
            .col_expr(integrations::Column::PausedAt, now.into())
            .filter(integrations::Column::Id.eq(id))
            .filter(integrations::Column::Status.eq(IntegrationStatus::Active))
            .exec(self.db())
            .await?;
        if res.rows_affected == 0 {
            return Ok(false);
        }
        let tenant = integrations::Entity::find_by_id(id)
            .one(self.db())
            .await?
            .map(|m| m.tenant_id);
        self.record_audit(NewAudit {
            at: now,
            tenant_id: tenant,
            actor_id: None,
            actor_email: AUTO_PAUSED_BY.into(),
            action: "integration.auto_pause".into(),
            target_kind: "integration".into(),
            target_id: Some(id.to_owned()),
            detail: Some(serde_json::json!({ "reason": reason }).to_string()),
        })
        .await?;
        Ok(true)
    }

    /// Deletes the tenant's integration and (by cascade) its tokens, rules, SCIM directory,
    /// links and jobs. Returns false if it was not the tenant's.
    pub async fn delete_integration(&self, tenant_id: &str, id: &str) -> Result<bool> {
        let res = integrations::Entity::delete_many()
            .filter(integrations::Column::Id.eq(id))
            .filter(integrations::Column::TenantId.eq(tenant_id))
            .exec(self.db())
            .await?;
        Ok(res.rows_affected > 0)
    }
}
