//! Entity for the `role_rules` table.

use crate::types::RuleSourceKind;
use sea_orm::entity::prelude::*;

/// One ordered rule mapping an IdP role, group or attribute to a target role.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "role_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub integration_id: String,
    pub priority: i32,
    pub source_kind: RuleSourceKind,
    #[sea_orm(column_type = "Text")]
    pub source_value: String,
    pub target_role: String,
}

impl ActiveModelBehavior for ActiveModel {}
