//! Tenants: customer organisations.

use crate::entities::tenants;
use crate::{Result, Store, new_id, now_ms};
use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder};
use serde::Serialize;

/// A customer organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    /// UUID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Epoch ms.
    pub created_at: i64,
}

impl From<tenants::Model> for Tenant {
    fn from(m: tenants::Model) -> Self {
        Tenant {
            id: m.id,
            name: m.name,
            created_at: m.created_at,
        }
    }
}

impl Store {
    /// Creates a tenant.
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant> {
        let t = Tenant {
            id: new_id(),
            name: name.to_owned(),
            created_at: now_ms(),
        };
        tenants::Entity::insert(tenants::ActiveModel {
            id: Set(t.id.clone()),
            name: Set(t.name.clone()),
            created_at: Set(t.created_at),
        })
        .exec_without_returning(self.db())
        .await?;
        Ok(t)
    }

    /// The tenant with this id.
    pub async fn get_tenant(&self, id: &str) -> Result<Option<Tenant>> {
        Ok(tenants::Entity::find_by_id(id)
            .one(self.db())
            .await?
            .map(Into::into))
    }

    /// Every tenant, by name (platform-admin view).
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows = tenants::Entity::find()
            .order_by_asc(tenants::Column::Name)
            .order_by_asc(tenants::Column::Id)
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
