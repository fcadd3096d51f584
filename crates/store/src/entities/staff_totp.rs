//! Entity for the `staff_totp` table.

use sea_orm::entity::prelude::*;

/// A staff member's TOTP secret (sealed) and the newest accepted time step.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_totp")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub staff_user_id: String,
    pub secret_enc: String,
    /// `None` while enrolment waits for the first code.
    pub enabled_at: Option<i64>,
    pub last_step: Option<i64>,
    pub created_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
