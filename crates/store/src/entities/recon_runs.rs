//! `recon_runs`: one row per integration: the import's state, lease and settings.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recon_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub integration_id: String,
    pub run_id: i64,
    pub state: String,
    pub phase: String,
    pub cursor: i64,
    pub total: Option<i64>,
    pub imported: i64,
    #[sea_orm(column_type = "Text", nullable)]
    pub lease_owner: Option<String>,
    pub lease_until: i64,
    #[sea_orm(column_type = "Text", nullable)]
    pub owner_target_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub owner_email: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub interval_secs: i64,
    pub correct_drift: bool,
    pub next_run_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
