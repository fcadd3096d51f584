//! Entity for the `audit_log` table.

use sea_orm::entity::prelude::*;

/// Who changed what in the UI.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: i64,
    pub tenant_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_email: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub detail: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
