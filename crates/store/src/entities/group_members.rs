//! Entity for the `group_members` table.

use crate::types::MemberType;
use sea_orm::entity::prelude::*;

/// Membership of a user or group in a group.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "group_members")]
pub struct Model {
    pub integration_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: String,
    /// A `scim_users.id` or `scim_groups.id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub member_id: String,
    pub member_type: MemberType,
}

impl ActiveModelBehavior for ActiveModel {}
