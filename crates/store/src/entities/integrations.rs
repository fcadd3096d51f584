//! Entity for the `integrations` table.

use crate::types::{IntegrationMode, IntegrationStatus};
use sea_orm::entity::prelude::*;

/// A tenant's connection from an IdP to a target app.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "integrations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub connector_kind: String,
    /// JSON object of non-secret settings.
    #[sea_orm(column_type = "Text")]
    pub settings: String,
    /// Sealed JSON object of secrets (see `crypto::SecretBox`).
    #[sea_orm(column_type = "Text")]
    pub secrets: String,
    pub default_role: Option<String>,
    pub deprovision_policy: String,
    /// JSON object: `unmatched`, `lifecycle`, `group_push`, `delete_guard` (migration 000010).
    #[sea_orm(column_type = "Text")]
    pub policies: String,
    pub mode: IntegrationMode,
    pub status: IntegrationStatus,
    pub created_at: i64,
    pub updated_at: i64,
    /// JSON array of SCIM schema resources: the integration's User extensions (migration
    /// 000011); validated before it is written.
    #[sea_orm(column_type = "Text")]
    pub extension_schemas: String,
    /// Who paused it (migration 000020): NULL a person, `scimbridge` the worker.
    pub paused_by: Option<String>,
    /// Why scimbridge paused it, in one sentence (never a secret).
    #[sea_orm(column_type = "Text", nullable)]
    pub pause_reason: Option<String>,
    /// When it was paused (epoch ms).
    pub paused_at: Option<i64>,
}

impl ActiveModelBehavior for ActiveModel {}
