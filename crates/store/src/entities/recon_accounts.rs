//! `recon_accounts`: the target's accounts as the last reconciliation import read them.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recon_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub integration_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub target_id: String,
    #[sea_orm(column_type = "Text")]
    pub email: String,
    pub email_lower: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub username: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub first_name: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_name: Option<String>,
    /// JSON array of role names.
    #[sea_orm(column_type = "Text")]
    pub roles: String,
    pub roles_known: bool,
    pub active: Option<bool>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_login: Option<String>,
    pub run_id: i64,
    pub last_seen_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
