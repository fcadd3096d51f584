//! Entity for the `staff_users` table.

use crate::types::StaffRole;
use sea_orm::entity::prelude::*;

/// A person who logs into the UI.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Lowercased.
    #[sea_orm(unique)]
    pub email: String,
    pub password_hash: String,
    pub role: StaffRole,
    pub tenant_id: Option<String>,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub disabled: bool,
}

impl ActiveModelBehavior for ActiveModel {}
