//! Entity for the `totp_requirements` table.

use sea_orm::entity::prelude::*;

/// Where staff must use TOTP: `platform` (everyone) or a tenant id (that tenant's staff).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "totp_requirements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    pub created_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
