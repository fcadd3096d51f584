//! Staff TOTP: sealed secrets, replay protection, hashed recovery codes, and where TOTP is
//! required. The TOTP arithmetic itself lives in the web crate; this module only stores.

use crate::entities::{staff_recovery_codes, staff_totp, totp_requirements};
use crate::{Result, Store, StoreError};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter};

/// The `totp_requirements` scope that applies to every staff member.
pub const PLATFORM_SCOPE: &str = "platform";

/// A staff member's TOTP secret, opened. `Debug` hides the secret.
pub struct TotpSecret {
    pub secret: Vec<u8>,
    /// False while enrolment waits for its first code.
    pub enabled: bool,
    pub last_step: Option<i64>,
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpSecret")
            .field("enabled", &self.enabled)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// Binds a sealed secret to its account, so a sealed value copied to another row does not open.
fn context(staff_id: &str) -> Vec<u8> {
    format!("staff_totp:{staff_id}").into_bytes()
}

impl Store {
    /// The account's TOTP secret (enabled or pending enrolment), if any.
    pub async fn totp_secret(&self, staff_id: &str) -> Result<Option<TotpSecret>> {
        let Some(row) = staff_totp::Entity::find_by_id(staff_id)
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let secret = self
            .secret_box()
            .open_with_context(&context(staff_id), &row.secret_enc)?;
        Ok(Some(TotpSecret {
            secret,
            enabled: row.enabled_at.is_some(),
            last_step: row.last_step,
        }))
    }

    /// Whether the account has TOTP enabled (not merely pending enrolment).
    pub async fn totp_enabled(&self, staff_id: &str) -> Result<bool> {
        Ok(staff_totp::Entity::find()
            .filter(staff_totp::Column::StaffUserId.eq(staff_id))
            .filter(staff_totp::Column::EnabledAt.is_not_null())
            .count(self.db())
            .await?
            > 0)
    }

    /// Stores a new secret waiting for its first code, replacing an earlier pending one.
    /// [`StoreError::Conflict`] if TOTP is already enabled.
    pub async fn begin_totp_enrolment(
        &self,
        staff_id: &str,
        secret: &[u8],
        now: i64,
    ) -> Result<()> {
        let sealed = self
            .secret_box()
            .seal_with_context(&context(staff_id), secret)?;
        let txn = self.begin_write().await?;
        let existing = staff_totp::Entity::find_by_id(staff_id).one(&txn).await?;
        if existing.as_ref().is_some_and(|r| r.enabled_at.is_some()) {
            return Err(StoreError::Conflict {
                what: "totp".into(),
            });
        }
        staff_totp::Entity::delete_by_id(staff_id)
            .exec(&txn)
            .await?;
        staff_totp::Entity::insert(staff_totp::ActiveModel {
            staff_user_id: Set(staff_id.to_string()),
            secret_enc: Set(sealed),
            enabled_at: Set(None),
            last_step: Set(None),
            created_at: Set(now),
        })
        .exec(&txn)
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Enables a pending enrolment whose first code matched `step`, and stores the recovery
    /// code hashes (replacing any). False if there is no pending enrolment.
    pub async fn confirm_totp(
        &self,
        staff_id: &str,
        step: i64,
        recovery_hashes: &[String],
        now: i64,
    ) -> Result<bool> {
        let txn = self.begin_write().await?;
        let res = staff_totp::Entity::update_many()
            .col_expr(staff_totp::Column::EnabledAt, Expr::value(now))
            .col_expr(staff_totp::Column::LastStep, Expr::value(step))
            .filter(staff_totp::Column::StaffUserId.eq(staff_id))
            .filter(staff_totp::Column::EnabledAt.is_null())
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            return Ok(false);
        }
        replace_codes(&txn, staff_id, recovery_hashes).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Records `step` as used if it is newer than the last accepted one: true exactly once per
    /// step (and never for an older step), across instances, as one conditional UPDATE.
    pub async fn accept_totp_step(&self, staff_id: &str, step: i64) -> Result<bool> {
        let res = staff_totp::Entity::update_many()
            .col_expr(staff_totp::Column::LastStep, Expr::value(step))
            .filter(staff_totp::Column::StaffUserId.eq(staff_id))
            .filter(staff_totp::Column::EnabledAt.is_not_null())
            .filter(
                Condition::any()
                    .add(staff_totp::Column::LastStep.is_null())
                    .add(staff_totp::Column::LastStep.lt(step)),
            )
            .exec(self.db())
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Uses up the recovery code with this hash: true exactly once.
    pub async fn use_recovery_code(
        &self,
        staff_id: &str,
        code_hash: &str,
        now: i64,
    ) -> Result<bool> {
        let res = staff_recovery_codes::Entity::update_many()
            .col_expr(staff_recovery_codes::Column::UsedAt, Expr::value(now))
            .filter(staff_recovery_codes::Column::CodeHash.eq(code_hash))
            .filter(staff_recovery_codes::Column::StaffUserId.eq(staff_id))
            .filter(staff_recovery_codes::Column::UsedAt.is_null())
            .exec(self.db())
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Replaces every recovery code of the account.
    pub async fn replace_recovery_codes(&self, staff_id: &str, hashes: &[String]) -> Result<()> {
        let txn = self.begin_write().await?;
        replace_codes(&txn, staff_id, hashes).await?;
        txn.commit().await?;
        Ok(())
    }

    /// How many recovery codes of the account are still unused.
    pub async fn unused_recovery_codes(&self, staff_id: &str) -> Result<u64> {
        Ok(staff_recovery_codes::Entity::find()
            .filter(staff_recovery_codes::Column::StaffUserId.eq(staff_id))
            .filter(staff_recovery_codes::Column::UsedAt.is_null())
            .count(self.db())
            .await?)
    }

    /// Removes the account's TOTP secret and recovery codes. True if TOTP was enabled.
    pub async fn delete_totp(&self, staff_id: &str) -> Result<bool> {
        let txn = self.begin_write().await?;
        let was = staff_totp::Entity::find_by_id(staff_id)
            .one(&txn)
            .await?
            .is_some_and(|r| r.enabled_at.is_some());
        staff_totp::Entity::delete_by_id(staff_id)
            .exec(&txn)
            .await?;
        staff_recovery_codes::Entity::delete_many()
            .filter(staff_recovery_codes::Column::StaffUserId.eq(staff_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(was)
    }

    /// Whether TOTP is required for a staff member of `tenant_id` (`None`: platform staff) by
    /// a platform-wide or a tenant setting. (The operator's config can require it too.)
    pub async fn totp_required(&self, tenant_id: Option<&str>) -> Result<bool> {
        let mut scopes = vec![PLATFORM_SCOPE];
        scopes.extend(tenant_id);
        Ok(totp_requirements::Entity::find()
            .filter(totp_requirements::Column::Scope.is_in(scopes))
            .count(self.db())
            .await?
            > 0)
    }

    /// Every scope that requires TOTP (`platform` and tenant ids).
    pub async fn totp_required_scopes(&self) -> Result<Vec<String>> {
        Ok(totp_requirements::Entity::find()
            .all(self.db())
            .await?
            .into_iter()
            .map(|r| r.scope)
            .collect())
    }

    /// Requires TOTP in `scope` (`platform` or a tenant id), or stops requiring it.
    pub async fn set_totp_required(&self, scope: &str, required: bool, now: i64) -> Result<()> {
        let txn = self.begin_write().await?;
        totp_requirements::Entity::delete_by_id(scope)
            .exec(&txn)
            .await?;
        if required {
            totp_requirements::Entity::insert(totp_requirements::ActiveModel {
                scope: Set(scope.to_string()),
                created_at: Set(now),
            })
            .exec(&txn)
            .await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

async fn replace_codes(
    txn: &sea_orm::DatabaseTransaction,
    staff_id: &str,
    hashes: &[String],
) -> Result<()> {
    staff_recovery_codes::Entity::delete_many()
        .filter(staff_recovery_codes::Column::StaffUserId.eq(staff_id))
        .exec(txn)
        .await?;
    if hashes.is_empty() {
        return Ok(());
    }
    staff_recovery_codes::Entity::insert_many(hashes.iter().map(|h| {
        staff_recovery_codes::ActiveModel {
            code_hash: Set(h.clone()),
            staff_user_id: Set(staff_id.to_string()),
            used_at: Set(None),
        }
    }))
    .exec(txn)
    .await?;
    Ok(())
}
