//! Entity for the `target_links` table.

use sea_orm::entity::prelude::*;

/// SCIM user ↔ target record, with the last state pushed. Outlives the SCIM user until the
/// target side is cleaned up (no foreign key on `scim_user_id`).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "target_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub integration_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub scim_user_id: String,
    pub target_id: Option<String>,
    /// JSON of the last state pushed.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_pushed: Option<String>,
    pub last_sync_at: Option<i64>,
    pub last_result: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
