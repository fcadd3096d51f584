//! Entity for the `scim_groups` table.

use sea_orm::entity::prelude::*;

/// The IdP's view of a group (members live in `group_members`).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scim_groups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub integration_id: String,
    pub display_name: String,
    /// `display_name.to_lowercase()`; unique per integration.
    pub display_name_lower: String,
    pub external_id: Option<String>,
    /// The SCIM resource as JSON, without `members`.
    #[sea_orm(column_type = "Text")]
    pub resource: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
