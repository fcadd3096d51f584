//! Staff users: the people who log into the UI.

use crate::crypto::hash_token;
use crate::entities::staff_users;
use crate::types::StaffRole;
use crate::{Result, Store, StoreError, new_id, now_ms};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
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

impl StaffUser {
    /// False for an invited account whose invitee has not set a password yet (it cannot
    /// sign in: an empty hash verifies nothing).
    pub fn has_password(&self) -> bool {
        !self.password_hash.is_empty()
    }
}

/// What a one-time staff link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffTokenPurpose {
    /// The invitee sets their first password.
    Invite,
    /// The account holder sets a new password.
    Reset,
}

impl StaffTokenPurpose {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::Reset => "reset",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "invite" => Ok(Self::Invite),
            "reset" => Ok(Self::Reset),
            other => Err(StoreError::InvalidData(format!(
                "unknown staff token purpose '{other}'"
            ))),
        }
    }
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

    /// Changes an account's role and tenant (the tenant of a tenant admin, else `None`).
    /// [`StoreError::NotFound`] if the account does not exist.
    pub async fn set_staff_role(
        &self,
        id: &str,
        role: StaffRole,
        tenant_id: Option<&str>,
    ) -> Result<()> {
        let res = staff_users::Entity::update_many()
            .col_expr(staff_users::Column::Role, role.into())
            .col_expr(
                staff_users::Column::TenantId,
                tenant_id.map(str::to_owned).into(),
            )
            .filter(staff_users::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes an account (its TOTP secret, recovery codes and links go with it; audit
    /// entries keep the e-mail they recorded). [`StoreError::NotFound`] if it does not exist.
    pub async fn delete_staff_user(&self, id: &str) -> Result<()> {
        let res = staff_users::Entity::delete_many()
            .filter(staff_users::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Platform admins who can sign in (enabled, with a password), other than `except`.
    pub async fn count_usable_platform_admins(&self, except: Option<&str>) -> Result<u64> {
        let mut q = staff_users::Entity::find()
            .filter(staff_users::Column::Role.eq(StaffRole::PlatformAdmin))
            .filter(staff_users::Column::Disabled.eq(false))
            .filter(staff_users::Column::PasswordHash.ne(""));
        if let Some(id) = except {
            q = q.filter(staff_users::Column::Id.ne(id));
        }
        Ok(q.count(self.db()).await?)
    }

    /// Stores the hash of a one-time link `token` for account `staff_id`, valid until
    /// `expires_at`; the account's earlier links (of either purpose) stop working.
    pub async fn issue_staff_token(
        &self,
        staff_id: &str,
        purpose: StaffTokenPurpose,
        token: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.db()
            .execute_raw(self.stmt(
                "DELETE FROM staff_tokens WHERE staff_user_id = $1",
                "DELETE FROM staff_tokens WHERE staff_user_id = ?1",
                vec![staff_id.into()],
            ))
            .await?;
        self.db()
            .execute_raw(self.stmt(
                "INSERT INTO staff_tokens (token_hash, staff_user_id, purpose, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                "INSERT INTO staff_tokens (token_hash, staff_user_id, purpose, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                vec![
                    hash_token(token).into(),
                    staff_id.into(),
                    purpose.as_str().into(),
                    now.into(),
                    expires_at.into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// The account and purpose of a live (unused, unexpired) link `token`.
    pub async fn staff_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<(StaffUser, StaffTokenPurpose)>> {
        let row = self
            .db()
            .query_one_raw(self.stmt(
                "SELECT staff_user_id, purpose FROM staff_tokens \
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
                "SELECT staff_user_id, purpose FROM staff_tokens \
                 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
                vec![hash_token(token).into(), now.into()],
            ))
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: String = row.try_get("", "staff_user_id")?;
        let purpose = StaffTokenPurpose::parse(&row.try_get::<String>("", "purpose")?)?;
        Ok(self.get_staff_user(&id).await?.map(|u| (u, purpose)))
    }

    /// Uses a live link up: its account id and purpose for exactly one caller, across
    /// instances (one conditional UPDATE); `None` for a wrong, used or expired token.
    pub async fn consume_staff_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<(String, StaffTokenPurpose)>> {
        let row = self
            .db()
            .query_one_raw(self.stmt(
                "UPDATE staff_tokens SET used_at = $2 \
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                 RETURNING staff_user_id, purpose",
                "UPDATE staff_tokens SET used_at = ?2 \
                 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2 \
                 RETURNING staff_user_id, purpose",
                vec![hash_token(token).into(), now.into()],
            ))
            .await?;
        row.map(|r| -> Result<_> {
            Ok((
                r.try_get("", "staff_user_id")?,
                StaffTokenPurpose::parse(&r.try_get::<String>("", "purpose")?)?,
            ))
        })
        .transpose()
    }

    /// Whether the account has a live link, and of which purpose (the staff page says
    /// "invitation sent").
    pub async fn live_staff_tokens(&self, now: i64) -> Result<Vec<(String, StaffTokenPurpose)>> {
        let rows = self
            .db()
            .query_all_raw(self.stmt(
                "SELECT staff_user_id, purpose FROM staff_tokens \
                 WHERE used_at IS NULL AND expires_at > $1",
                "SELECT staff_user_id, purpose FROM staff_tokens \
                 WHERE used_at IS NULL AND expires_at > ?1",
                vec![now.into()],
            ))
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    r.try_get("", "staff_user_id")?,
                    StaffTokenPurpose::parse(&r.try_get::<String>("", "purpose")?)?,
                ))
            })
            .collect()
    }
}
