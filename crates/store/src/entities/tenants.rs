//! Entity for the `tenants` table.

use sea_orm::entity::prelude::*;

/// A customer organisation.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
