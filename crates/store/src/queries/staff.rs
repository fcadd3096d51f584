//! Staff users: the people who log into the UI.

use crate::entities::staff_users;
use crate::types::StaffRole;
use crate::{Result, Store, StoreError, new_id, now_ms};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;

/// A staff account. `password_hash` is an argon2id PHC string; never render it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffUser {
    /// UUID.
    pub id: String,
    /// Lowercased email, unique.
    pub email: String,
    /// argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// What the account may do.
    pub role: StaffRole,
    /// The tenant of a tenant admin; `None` for platform staff.
    pub tenant_id: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms of the last successful login.
    pub last_login_at: Option<i64>,
    /// A disabled account cannot log in.
    pub disabled: bool,
}

impl From<staff_users::Model> for StaffUser {
    fn from(m: staff_users::Model) -> Self {
        StaffUser {
            id: m.id,
            email: m.email,
            password_hash: m.password_hash,
            role: m.role,
            tenant_id: m.tenant_id,
            created_at: m.created_at,
            last_login_at: m.last_login_at,
            disabled: m.disabled,
        }
    }
}

/// A staff account to create.
#[derive(Debug, Clone)]
pub struct NewStaffUser {
    /// Stored lowercased and trimmed.
    pub email: String,
    /// argon2id PHC string (hashing is the caller's job).
    pub password_hash: String,
    /// Role.
    pub role: StaffRole,
    /// Tenant for tenant admins.
    pub tenant_id: Option<String>,
}

/// The stored form of an email address.
fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl Store {
    /// Creates a staff account. A duplicate email (case-insensitive) is
    /// [`StoreError::Conflict`].
    pub async fn create_staff_user(&self, new: NewStaffUser) -> Result<StaffUser> {
        let user = StaffUser {
            id: new_id(),
            email: normalize_email(&new.email),
            password_hash: new.password_hash,
            role: new.role,
            tenant_id: new.tenant_id,
            created_at: now_ms(),
            last_login_at: None,
            disabled: false,
        };
        staff_users::Entity::insert(staff_users::ActiveModel {
            id: Set(user.id.clone()),
            email: Set(user.email.clone()),
            password_hash: Set(user.password_hash.clone()),
            role: Set(user.role),
            tenant_id: Set(user.tenant_id.clone()),
            created_at: Set(user.created_at),
            last_login_at: Set(None),
            disabled: Set(false),
        })
        .exec_without_returning(self.db())
        .await
        .map_err(|e| StoreError::unique(e, "email"))?;
        Ok(user)
    }

    /// The account with this email (case-insensitive), disabled or not.
    pub async fn find_staff_by_email(&self, email: &str) -> Result<Option<StaffUser>> {
        Ok(staff_users::Entity::find()
            .filter(staff_users::Column::Email.eq(normalize_email(email)))
            .one(self.db())
            .await?
            .map(Into::into))
    }

    /// The account with this id.
    pub async fn get_staff_user(&self, id: &str) -> Result<Option<StaffUser>> {
        Ok(staff_users::Entity::find_by_id(id)
            .one(self.db())
            .await?
            .map(Into::into))
    }

    /// How many staff accounts exist (0 means first-run setup).
    pub async fn count_staff_users(&self) -> Result<u64> {
        Ok(staff_users::Entity::find().count(self.db()).await?)
    }

    /// Every staff account, by email (platform-admin view).
    pub async fn list_staff_users(&self) -> Result<Vec<StaffUser>> {
        let rows = staff_users::Entity::find()
            .order_by_asc(staff_users::Column::Email)
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Replaces the password hash. [`StoreError::NotFound`] if the account does not exist.
    pub async fn set_staff_password(&self, id: &str, password_hash: &str) -> Result<()> {
        let res = staff_users::Entity::update_many()
            .col_expr(staff_users::Column::PasswordHash, password_hash.into())
            .filter(staff_users::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Enables or disables an account. [`StoreError::NotFound`] if it does not exist.
    pub async fn set_staff_disabled(&self, id: &str, disabled: bool) -> Result<()> {
        let res = staff_users::Entity::update_many()
            .col_expr(staff_users::Column::Disabled, disabled.into())
            .filter(staff_users::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records a successful login at `at` (epoch ms).
    pub async fn touch_staff_login(&self, id: &str, at: i64) -> Result<()> {
        staff_users::Entity::update_many()
            .col_expr(staff_users::Column::LastLoginAt, at.into())
            .filter(staff_users::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        Ok(())
    }
}
