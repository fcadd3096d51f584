//! SCIM bearer tokens: issued once, stored as SHA-256, compared in constant time.

use crate::crypto::{generate_token, hash_token};
use crate::entities::{integrations, scim_tokens};
use crate::{Result, Store, new_id};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QueryTrait,
    sea_query::Expr,
};
use serde::Serialize;
use subtle::ConstantTimeEq;

/// A freshly issued token. `token` is shown to the admin once and never stored.
#[derive(Clone)]
pub struct IssuedToken {
    /// Row id.
    pub id: String,
    /// The secret bearer token.
    pub token: String,
    /// Display prefix.
    pub prefix: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("id", &self.id)
            .field("token", &"***")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAuth {
    /// The token's row id (for [`Store::touch_token_used`]).
    pub token_id: String,
    /// The integration the token opens.
    pub integration_id: String,
    /// The integration's tenant.
    pub tenant_id: String,
    /// The integration's User extension schemas, so the SCIM layer can build (and cache with
    /// the token) the integration's User type without another query.
    pub extension_schemas: Vec<scim_core::schema::Schema>,
}

/// A token as listed in the UI (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Row id.
    pub id: String,
    /// Integration.
    pub integration_id: String,
    /// Display prefix.
    pub prefix: String,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms after which the token is refused.
    pub expires_at: Option<i64>,
    /// Epoch ms when it was revoked.
    pub revoked_at: Option<i64>,
    /// Epoch ms of last use (throttled by callers).
    pub last_used_at: Option<i64>,
}

impl From<scim_tokens::Model> for TokenInfo {
    fn from(m: scim_tokens::Model) -> Self {
        TokenInfo {
            id: m.id,
            integration_id: m.integration_id,
            prefix: m.prefix,
            created_at: m.created_at,
            expires_at: m.expires_at,
            revoked_at: m.revoked_at,
            last_used_at: m.last_used_at,
        }
    }
}

impl Store {
    /// Issues a new token for the integration; only its hash and prefix are stored.
    /// Older tokens stay valid (rotation without downtime).
    pub async fn issue_token(
        &self,
        integration_id: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<IssuedToken> {
        let (token, prefix) = generate_token();
        let id = new_id();
        scim_tokens::Entity::insert(scim_tokens::ActiveModel {
            id: Set(id.clone()),
            integration_id: Set(integration_id.to_owned()),
            token_hash: Set(hash_token(&token)),
            prefix: Set(prefix.clone()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            revoked_at: Set(None),
            last_used_at: Set(None),
        })
        .exec_without_returning(self.db())
        .await?;
        Ok(IssuedToken { id, token, prefix })
    }

    /// Checks a raw bearer token at time `now`: `None` if unknown, revoked or expired.
    pub async fn authenticate_token(&self, raw: &str, now: i64) -> Result<Option<TokenAuth>> {
        let hash = hash_token(raw);
        let Some(token) = scim_tokens::Entity::find()
            .filter(scim_tokens::Column::TokenHash.eq(hash.as_str()))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        // The lookup is by exact hash already; compare again in constant time so that no
        // comparison of secret-derived bytes short-circuits.
        let same: bool = token.token_hash.as_bytes().ct_eq(hash.as_bytes()).into();
        if !same || token.revoked_at.is_some() || token.expires_at.is_some_and(|e| e <= now) {
            return Ok(None);
        }
        let Some(integration) = integrations::Entity::find_by_id(token.integration_id.as_str())
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(TokenAuth {
            token_id: token.id,
            integration_id: integration.id,
            tenant_id: integration.tenant_id,
            extension_schemas: super::integrations::decode_extension_schemas(
                &integration.extension_schemas,
            )?,
        }))
    }

    /// Revokes the integration's live tokens with this display prefix at `now`. Returns
    /// whether one was revoked.
    pub async fn revoke_token(&self, integration_id: &str, prefix: &str, now: i64) -> Result<bool> {
        let res = scim_tokens::Entity::update_many()
            .col_expr(scim_tokens::Column::RevokedAt, Expr::value(now))
            .filter(scim_tokens::Column::IntegrationId.eq(integration_id))
            .filter(scim_tokens::Column::Prefix.eq(prefix))
            .filter(scim_tokens::Column::RevokedAt.is_null())
            .exec(self.db())
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// The integration's tokens, newest first.
    pub async fn list_tokens(&self, integration_id: &str) -> Result<Vec<TokenInfo>> {
        let rows = scim_tokens::Entity::find()
            .filter(scim_tokens::Column::IntegrationId.eq(integration_id))
            .order_by_desc(scim_tokens::Column::CreatedAt)
            .order_by_desc(scim_tokens::Column::Id)
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Records a use of the token at `now` (callers throttle this).
    pub async fn touch_token_used(&self, token_id: &str, now: i64) -> Result<()> {
        // On the SCIM request path: through the writer on SQLite, never beside it.
        let update = scim_tokens::Entity::update_many()
            .col_expr(scim_tokens::Column::LastUsedAt, Expr::value(now))
            .filter(scim_tokens::Column::Id.eq(token_id))
            .build(self.backend());
        self.write_statement(update).await?;
        Ok(())
    }
}
