//! Admin API tokens: issued once, stored as SHA-256 (like SCIM tokens), each owned by a staff
//! account. The rules (which role and tenant a token may have) live in the web crate.

use crate::crypto::hash_token;
use crate::entities::api_tokens;
use crate::types::StaffRole;
use crate::{Result, Store, new_id};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QueryTrait,
    sea_query::Expr,
};
use subtle::ConstantTimeEq;

/// What every API token starts with (SCIM tokens start with `scb_`, so the two never mix).
pub const API_TOKEN_PREFIX: &str = "sbapi_";
/// How many leading characters are kept for display.
pub const API_TOKEN_DISPLAY_LEN: usize = 14;

/// A new API token and its display prefix: `sbapi_` + 43 base64url characters (32 random bytes).
pub fn generate_api_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{API_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let prefix = token.chars().take(API_TOKEN_DISPLAY_LEN).collect();
    (token, prefix)
}

/// An API token as stored (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub staff_user_id: String,
    pub tenant_id: Option<String>,
    pub role: StaffRole,
    /// Epoch ms.
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<api_tokens::Model> for ApiToken {
    fn from(m: api_tokens::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            prefix: m.prefix,
            staff_user_id: m.staff_user_id,
            tenant_id: m.tenant_id,
            role: m.role,
            created_at: m.created_at,
            expires_at: m.expires_at,
            last_used_at: m.last_used_at,
            revoked_at: m.revoked_at,
        }
    }
}

/// A token to store: `token` is the raw secret (only its hash is kept).
pub struct NewApiToken<'a> {
    pub token: &'a str,
    pub prefix: &'a str,
    pub name: &'a str,
    pub staff_user_id: &'a str,
    pub tenant_id: Option<&'a str>,
    pub role: StaffRole,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// A freshly issued token: `token` is shown once and never stored.
#[derive(Clone)]
pub struct IssuedApiToken {
    pub info: ApiToken,
    pub token: String,
}

impl std::fmt::Debug for IssuedApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedApiToken")
            .field("info", &self.info)
            .field("token", &"***")
            .finish()
    }
}

impl Store {
    /// Stores a new API token (its hash).
    pub async fn insert_api_token(&self, new: NewApiToken<'_>) -> Result<ApiToken> {
        let id = new_id();
        api_tokens::Entity::insert(api_tokens::ActiveModel {
            id: Set(id.clone()),
            name: Set(new.name.to_owned()),
            prefix: Set(new.prefix.to_owned()),
            token_hash: Set(hash_token(new.token)),
            staff_user_id: Set(new.staff_user_id.to_owned()),
            tenant_id: Set(new.tenant_id.map(str::to_owned)),
            role: Set(new.role),
            created_at: Set(new.created_at),
            expires_at: Set(new.expires_at),
            last_used_at: Set(None),
            revoked_at: Set(None),
        })
        .exec_without_returning(self.db())
        .await?;
        Ok(ApiToken {
            id,
            name: new.name.to_owned(),
            prefix: new.prefix.to_owned(),
            staff_user_id: new.staff_user_id.to_owned(),
            tenant_id: new.tenant_id.map(str::to_owned),
            role: new.role,
            created_at: new.created_at,
            expires_at: new.expires_at,
            last_used_at: None,
            revoked_at: None,
        })
    }

    /// The token whose hash matches `raw`, whatever its state (the caller checks expiry,
    /// revocation and the owner).
    pub async fn find_api_token(&self, raw: &str) -> Result<Option<ApiToken>> {
        let hash = hash_token(raw);
        let Some(row) = api_tokens::Entity::find()
            .filter(api_tokens::Column::TokenHash.eq(hash.as_str()))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let same: bool = row.token_hash.as_bytes().ct_eq(hash.as_bytes()).into();
        Ok(same.then(|| row.into()))
    }

    /// One token by id.
    pub async fn get_api_token(&self, id: &str) -> Result<Option<ApiToken>> {
        Ok(api_tokens::Entity::find_by_id(id)
            .one(self.db())
            .await?
            .map(Into::into))
    }

    /// A staff member's tokens, newest first.
    pub async fn list_api_tokens(&self, staff_user_id: &str) -> Result<Vec<ApiToken>> {
        let rows = api_tokens::Entity::find()
            .filter(api_tokens::Column::StaffUserId.eq(staff_user_id))
            .order_by_desc(api_tokens::Column::CreatedAt)
            .order_by_desc(api_tokens::Column::Id)
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Revokes the token at `now`; whether it was live.
    pub async fn revoke_api_token(&self, id: &str, now: i64) -> Result<bool> {
        let res = api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::RevokedAt, Expr::value(now))
            .filter(api_tokens::Column::Id.eq(id))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .exec(self.db())
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// Records a use at `now` (callers throttle this).
    pub async fn touch_api_token(&self, id: &str, now: i64) -> Result<()> {
        let update = api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::LastUsedAt, Expr::value(now))
            .filter(api_tokens::Column::Id.eq(id))
            .build(self.backend());
        self.write_statement(update).await?;
        Ok(())
    }
}
