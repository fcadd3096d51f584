//! Entity for the `api_tokens` table.

use crate::types::StaffRole;
use sea_orm::entity::prelude::*;

/// A bearer token for the admin REST API; only its SHA-256 is stored.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// The first characters of the token, for display.
    pub prefix: String,
    /// Hex SHA-256 of the token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// The staff member who created it (and whose rights bound it).
    pub staff_user_id: String,
    /// `None`: the owner's whole scope.
    pub tenant_id: Option<String>,
    pub role: StaffRole,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ActiveModelBehavior for ActiveModel {}
