//! Entity for the `staff_recovery_codes` table.

use sea_orm::entity::prelude::*;

/// One one-time recovery code, stored as the SHA-256 of the code.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_recovery_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    pub staff_user_id: String,
    pub used_at: Option<i64>,
}

impl ActiveModelBehavior for ActiveModel {}
