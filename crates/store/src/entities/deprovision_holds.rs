//! `deprovision_holds`: removals the deletion guard counts, holds or lets through.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deprovision_holds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub integration_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub scim_user_id: String,
    #[sea_orm(column_type = "Text")]
    pub user_name: String,
    #[sea_orm(column_type = "Text")]
    pub action: String,
    pub state: String,
    pub first_seen_at: i64,
    pub updated_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
