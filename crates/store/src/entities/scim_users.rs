//! Entity for the `scim_users` table.

use sea_orm::entity::prelude::*;

/// The IdP's view of a user: the full SCIM resource plus indexed columns.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scim_users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub integration_id: String,
    pub user_name: String,
    /// `user_name.to_lowercase()`; unique per integration.
    pub user_name_lower: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    /// The SCIM resource as JSON.
    #[sea_orm(column_type = "Text")]
    pub resource: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
