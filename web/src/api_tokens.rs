//! Admin API tokens: the one place that decides which role and tenant a token may have,
//! creates, lists and revokes them, and turns a bearer token into the API's principal. The
//! console's "API tokens" page, `scimbridge api-token create` and the API call these.
//! Through the API a token manages its owner's tokens and never makes one wider than itself.
//!
//! A token's role is never above its owner's, checked when it is made and again on every use:
//! an owner who is disabled, removed (their tokens go with them) or demoted below the token's
//! role makes it stop working; so do revocation and expiry.

use crate::access::Access;
use crate::staff::Actor;
use serde_json::json;
use store::{ApiToken, IssuedApiToken, NewApiToken, StaffRole, StaffUser, Store};

pub use crate::manage::{ManageError, Result};

/// The roles a token of `owner_role` may carry, highest first (pure): never above the owner's.
pub fn token_roles(owner_role: StaffRole) -> &'static [StaffRole] {
    match owner_role {
        StaffRole::PlatformAdmin => &[
            StaffRole::PlatformAdmin,
            StaffRole::TenantAdmin,
            StaffRole::Support,
        ],
        StaffRole::TenantAdmin => &[StaffRole::TenantAdmin, StaffRole::Support],
        StaffRole::Support => &[StaffRole::Support],
    }
}

/// What the creator asks for.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest<'a> {
    pub name: &'a str,
    /// `None`: the owner's own role.
    pub role: Option<StaffRole>,
    /// `None`: the owner's whole scope.
    pub tenant: Option<&'a str>,
    pub expires_in_days: Option<i64>,
}

/// The role and tenant a new token gets (pure): the role one of [`token_roles`]; an owner
/// bound to a tenant gives only that tenant; a tenant-admin token names its tenant.
pub fn assignment(
    owner: &StaffUser,
    role: Option<StaffRole>,
    tenant: Option<&str>,
) -> std::result::Result<(StaffRole, Option<String>), String> {
    let role = role.unwrap_or(owner.role);
    if !token_roles(owner.role).contains(&role) {
        return Err("role: a token's role cannot be above its owner's.".into());
    }
    let tenant = tenant.map(str::trim).filter(|t| !t.is_empty());
    let tenant = match (&owner.tenant_id, tenant) {
        (Some(own), Some(t)) if own != t => {
            return Err("tenant: you can only give your own tenant.".into());
        }
        (Some(own), _) => Some(own.clone()),
        (None, t) => t.map(str::to_owned),
    };
    if role == StaffRole::TenantAdmin && tenant.is_none() {
        return Err("tenant: a tenant admin token belongs to one tenant: choose it.".into());
    }
    Ok((role, tenant))
}

/// What a live token may do now (pure), or `None` when it no longer works: revoked, expired,
/// its owner disabled, or its role now above the owner's.
pub fn effective_access(token: &ApiToken, owner: &StaffUser, now: i64) -> Option<Access> {
    if token.revoked_at.is_some()
        || token.expires_at.is_some_and(|e| e <= now)
        || owner.disabled
        || owner.id != token.staff_user_id
        || !token_roles(owner.role).contains(&token.role)
    {
        return None;
    }
    let tenant = match (&owner.tenant_id, &token.tenant_id) {
        (Some(own), Some(t)) if own != t => return None,
        (Some(own), _) => Some(own.clone()),
        (None, t) => t.clone(),
    };
    Some(Access {
        role: token.role,
        tenant_id: tenant,
    })
}

/// Creates a token owned by `owner` (`token`/`prefix` from [`store::generate_api_token`]);
/// `actor` is who does it (the owner in the console, the operator at the CLI).
pub async fn create(
    store: &Store,
    actor: &Actor,
    owner: &StaffUser,
    req: &TokenRequest<'_>,
    (token, prefix): (String, String),
    now: i64,
) -> Result<IssuedApiToken> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        return Err(ManageError::Invalid(
            "name: give the token a name (at most 120 characters), e.g. what uses it.".into(),
        ));
    }
    if owner.disabled {
        return Err(ManageError::Invalid(format!(
            "{} is disabled.",
            owner.email
        )));
    }
    let (role, tenant) = assignment(owner, req.role, req.tenant).map_err(ManageError::Invalid)?;
    if let Some(t) = &tenant
        && store.get_tenant(t).await?.is_none()
    {
        return Err(ManageError::Invalid(
            "tenant: that tenant does not exist.".into(),
        ));
    }
    let expires_at = crate::manage::expiry(req.expires_in_days, now)?;
    let info = store
        .insert_api_token(NewApiToken {
            token: &token,
            prefix: &prefix,
            name,
            staff_user_id: &owner.id,
            tenant_id: tenant.as_deref(),
            role,
            created_at: now,
            expires_at,
        })
        .await?;
    crate::manage::record(
        store,
        actor,
        tenant.as_deref(),
        "api_token.create",
        "api_token",
        Some(&info.id),
        Some(json!({
            "name": info.name, "prefix": info.prefix, "owner": owner.email,
            "role": role.as_str(), "tenant": tenant, "expires_at": expires_at,
        })),
        now,
    )
    .await?;
    Ok(IssuedApiToken { info, token })
}

/// Creates a token through the token of `by` (the API): owned by the same staff member and
/// never wider than the asking token, so a token narrowed to a tenant, to a lower role or to
/// an expiry cannot mint one without those limits.
pub async fn create_through(
    store: &Store,
    by: &Principal,
    req: &TokenRequest<'_>,
    generated: (String, String),
    now: i64,
) -> Result<IssuedApiToken> {
    if let Some(limit) = by.token.expires_at {
        let asked = crate::manage::expiry(req.expires_in_days, now)?;
        if asked.is_none_or(|e| e > limit) {
            return Err(ManageError::Field(
                "expires_in_days",
                "a token cannot outlive the token that creates it: choose an earlier expiry."
                    .into(),
            ));
        }
    }
    // The owner as this token sees them: its role and tenant are the ceiling.
    let bounded = StaffUser {
        role: by.access.role,
        tenant_id: by.access.tenant_id.clone(),
        ..by.owner.clone()
    };
    create(store, &by.actor(), &bounded, req, generated, now).await
}

/// The owner's tokens, newest first.
pub async fn list(store: &Store, owner_id: &str) -> Result<Vec<ApiToken>> {
    Ok(store.list_api_tokens(owner_id).await?)
}

/// Revokes one of the owner's tokens (another's is not found).
pub async fn revoke(
    store: &Store,
    actor: &Actor,
    owner_id: &str,
    id: &str,
    now: i64,
) -> Result<ApiToken> {
    let token = store
        .get_api_token(id)
        .await?
        .filter(|t| t.staff_user_id == owner_id)
        .ok_or(ManageError::NotFound)?;
    if !store.revoke_api_token(id, now).await? {
        return Err(ManageError::Conflict(
            "That token was already revoked.".into(),
        ));
    }
    crate::manage::record(
        store,
        actor,
        token.tenant_id.as_deref(),
        "api_token.revoke",
        "api_token",
        Some(&token.id),
        Some(json!({"name": token.name, "prefix": token.prefix})),
        now,
    )
    .await?;
    Ok(token)
}

/// Who a request speaks for.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token: ApiToken,
    pub owner: StaffUser,
    pub access: Access,
}

impl Principal {
    /// The actor in audit entries and staff rules: the owner, through this token, with the
    /// token's scope (a platform role narrowed to one tenant manages that tenant only).
    pub fn actor(&self) -> Actor {
        let role = match (&self.access.tenant_id, self.access.role) {
            (Some(_), StaffRole::PlatformAdmin) => StaffRole::TenantAdmin,
            (_, r) => r,
        };
        Actor {
            id: Some(self.owner.id.clone()),
            email: format!("{} (API token {})", self.owner.email, self.token.prefix),
            role: Some(role),
            tenant_id: self.access.tenant_id.clone(),
        }
    }
}

/// The principal of a raw bearer token at `now`, or `None` when it does not (or no longer)
/// work.
pub async fn authenticate(store: &Store, raw: &str, now: i64) -> Result<Option<Principal>> {
    if !raw.starts_with(store::API_TOKEN_PREFIX) {
        return Ok(None);
    }
    let Some(token) = store.find_api_token(raw).await? else {
        return Ok(None);
    };
    let Some(owner) = store.get_staff_user(&token.staff_user_id).await? else {
        return Ok(None);
    };
    Ok(
        effective_access(&token, &owner, now).map(|access| Principal {
            token,
            owner,
            access,
        }),
    )
}

/// Whether `last_used_at` should be written now (at most once a minute per token).
pub fn wants_touch(token: &ApiToken, now: i64) -> bool {
    token.last_used_at.is_none_or(|t| now - t >= 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(role: StaffRole, tenant: Option<&str>) -> StaffUser {
        StaffUser {
            id: "u1".into(),
            email: "a@example.com".into(),
            password_hash: String::new(),
            role,
            tenant_id: tenant.map(str::to_owned),
            created_at: 0,
            last_login_at: None,
            disabled: false,
        }
    }

    fn token(role: StaffRole, tenant: Option<&str>) -> ApiToken {
        ApiToken {
            id: "k".into(),
            name: "n".into(),
            prefix: "sbapi_x".into(),
            staff_user_id: "u1".into(),
            tenant_id: tenant.map(str::to_owned),
            role,
            created_at: 0,
            expires_at: Some(1_000),
            last_used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn a_token_is_never_above_its_owner() {
        let ta = owner(StaffRole::TenantAdmin, Some("t1"));
        assert!(assignment(&ta, Some(StaffRole::PlatformAdmin), None).is_err());
        assert_eq!(
            assignment(&ta, None, None),
            Ok((StaffRole::TenantAdmin, Some("t1".into())))
        );
        assert_eq!(
            assignment(&ta, Some(StaffRole::Support), None),
            Ok((StaffRole::Support, Some("t1".into())))
        );
        assert!(assignment(&ta, None, Some("t2")).is_err());
        let support = owner(StaffRole::Support, None);
        assert!(assignment(&support, Some(StaffRole::TenantAdmin), Some("t1")).is_err());
        let pa = owner(StaffRole::PlatformAdmin, None);
        assert!(assignment(&pa, Some(StaffRole::TenantAdmin), None).is_err());
        assert_eq!(
            assignment(&pa, Some(StaffRole::TenantAdmin), Some("t2")),
            Ok((StaffRole::TenantAdmin, Some("t2".into())))
        );
    }

    #[test]
    fn tokens_stop_working_with_their_owner_expiry_or_revocation() {
        let pa = owner(StaffRole::PlatformAdmin, None);
        let t = token(StaffRole::PlatformAdmin, None);
        assert_eq!(
            effective_access(&t, &pa, 999),
            Some(Access::new(StaffRole::PlatformAdmin, None))
        );
        assert_eq!(effective_access(&t, &pa, 1_000), None, "expired");
        let revoked = ApiToken {
            revoked_at: Some(5),
            ..t.clone()
        };
        assert_eq!(effective_access(&revoked, &pa, 10), None);
        let disabled = StaffUser {
            disabled: true,
            ..pa.clone()
        };
        assert_eq!(effective_access(&t, &disabled, 10), None);
        // The owner was demoted to support: an admin token stops working.
        assert_eq!(
            effective_access(&t, &owner(StaffRole::Support, None), 10),
            None
        );
        // Narrowed to a tenant.
        let narrowed = token(StaffRole::Support, Some("t1"));
        assert_eq!(
            effective_access(&narrowed, &pa, 10),
            Some(Access::new(StaffRole::Support, Some("t1")))
        );
    }

    #[test]
    fn last_used_is_written_at_most_once_a_minute() {
        let mut t = token(StaffRole::Support, None);
        assert!(wants_touch(&t, 0));
        t.last_used_at = Some(1_000);
        assert!(!wants_touch(&t, 60_999));
        assert!(wants_touch(&t, 61_000));
    }
}
