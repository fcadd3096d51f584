//! Staff management: the one place that decides who may add, change, reset, disable or remove
//! which staff account, and that records each action in the audit log. The UI (`ui::admin`,
//! `ui::account`) and the CLI (`scimbridge admin …`) call these functions; they hash passwords
//! and make random tokens themselves, so time and randomness come in as parameters here.
//!
//! Rules: a platform admin manages everyone; a tenant admin manages only the tenant admins of
//! their own tenant and grants no role above their own; support manages no one. Nobody changes,
//! disables or removes their own account here (no lockout by a slip), and the last platform
//! admin who can sign in is never demoted, disabled or removed. The CLI acts as the operator of
//! the installation: any account, but the last-admin rule still holds.

use serde_json::json;
use store::{NewAudit, StaffRole, StaffTokenPurpose, StaffUser, Store, StoreError};

/// How long an invitation link works.
pub const INVITE_TTL_MS: i64 = 72 * 3_600_000;
/// How long a password-reset link works.
pub const RESET_TTL_MS: i64 = 3_600_000;

/// Who acts: a signed-in staff member, or the operator at the command line.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The staff account, or `None` for the CLI.
    pub id: Option<String>,
    /// For the audit log ("cli" for the command line).
    pub email: String,
    /// `None` for the CLI (the installation's operator).
    pub role: Option<StaffRole>,
    /// A tenant admin's tenant.
    pub tenant_id: Option<String>,
}

impl Actor {
    /// The command line.
    pub fn cli() -> Self {
        Self {
            id: None,
            email: "cli".into(),
            role: None,
            tenant_id: None,
        }
    }

    /// A signed-in staff member.
    pub fn staff(id: &str, email: &str, role: StaffRole, tenant_id: Option<&str>) -> Self {
        Self {
            id: Some(id.into()),
            email: email.into(),
            role: Some(role),
            tenant_id: tenant_id.map(str::to_owned),
        }
    }

    fn is_self(&self, target: &StaffUser) -> bool {
        self.id.as_deref() == Some(target.id.as_str())
    }
}

/// Why a staff action was not done.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// Bad input or a rule that protects the installation: shown next to the form.
    #[error("{0}")]
    Invalid(String),
    /// No such account, or not one the actor manages (the same answer, so ids reveal nothing).
    #[error("not found")]
    NotFound,
    /// The actor may not do this at all.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shorthand.
pub type Result<T> = std::result::Result<T, StaffError>;

/// Whether `actor` may see and manage `target` (pure).
pub fn may_manage(actor: &Actor, target: &StaffUser) -> bool {
    match actor.role {
        None | Some(StaffRole::PlatformAdmin) => true,
        Some(StaffRole::TenantAdmin) => {
            target.role == StaffRole::TenantAdmin
                && target.tenant_id.is_some()
                && target.tenant_id == actor.tenant_id
        }
        Some(StaffRole::Support) => false,
    }
}

/// The roles `actor` may give, highest first (pure): never one above their own.
pub fn grantable(actor: &Actor) -> &'static [StaffRole] {
    match actor.role {
        None | Some(StaffRole::PlatformAdmin) => &[
            StaffRole::PlatformAdmin,
            StaffRole::Support,
            StaffRole::TenantAdmin,
        ],
        Some(StaffRole::TenantAdmin) => &[StaffRole::TenantAdmin],
        Some(StaffRole::Support) => &[],
    }
}

/// Whether `actor` manages staff at all (sees the Staff page).
pub fn manages_staff(actor: &Actor) -> bool {
    !grantable(actor).is_empty()
}

/// Checks an email address well enough to catch typos.
pub fn check_email(email: &str) -> std::result::Result<(), String> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err("Enter a valid email address, like admin@example.com.".into())
    }
}

/// Parses a role as forms and the CLI spell it (`tenant_admin` or `tenant-admin`).
pub fn parse_role(s: &str) -> Option<StaffRole> {
    match s.trim().replace('-', "_").as_str() {
        "platform_admin" => Some(StaffRole::PlatformAdmin),
        "tenant_admin" => Some(StaffRole::TenantAdmin),
        "support" => Some(StaffRole::Support),
        _ => None,
    }
}

/// The role and tenant an account will have: the role must be one the actor grants, a tenant
/// admin needs an existing tenant (a tenant admin actor's own), other roles have none.
async fn assignment(
    store: &Store,
    actor: &Actor,
    role: Option<StaffRole>,
    tenant: Option<&str>,
) -> Result<(StaffRole, Option<String>)> {
    let Some(role) = role else {
        return Err(StaffError::Invalid("Choose a role.".into()));
    };
    if !grantable(actor).contains(&role) {
        return Err(StaffError::Forbidden(
            "You cannot give a role above your own.".into(),
        ));
    }
    if role != StaffRole::TenantAdmin {
        return Ok((role, None));
    }
    let tenant = match (&actor.role, tenant.filter(|t| !t.is_empty())) {
        (Some(StaffRole::TenantAdmin), Some(t)) if Some(t) != actor.tenant_id.as_deref() => {
            return Err(StaffError::Forbidden(
                "You manage the staff of your own tenant only.".into(),
            ));
        }
        (Some(StaffRole::TenantAdmin), _) => actor.tenant_id.clone(),
        (_, t) => t.map(str::to_owned),
    };
    let Some(tenant) = tenant else {
        return Err(StaffError::Invalid(
            "A tenant admin belongs to one tenant: choose it.".into(),
        ));
    };
    if store.get_tenant(&tenant).await?.is_none() {
        return Err(StaffError::Invalid("That tenant does not exist.".into()));
    }
    Ok((role, Some(tenant)))
}

/// The account `id`, if `actor` manages it.
async fn managed(store: &Store, actor: &Actor, id: &str) -> Result<StaffUser> {
    store
        .get_staff_user(id)
        .await?
        .filter(|u| may_manage(actor, u))
        .ok_or(StaffError::NotFound)
}

/// Refuses to take away the last platform admin who can sign in.
async fn keep_a_platform_admin(store: &Store, target: &StaffUser, verb: &str) -> Result<()> {
    if target.role == StaffRole::PlatformAdmin
        && target.has_password()
        && !target.disabled
        && store.count_usable_platform_admins(Some(&target.id)).await? == 0
    {
        return Err(StaffError::Invalid(format!(
            "{} is the last platform admin who can sign in; make someone else a platform admin before you {verb} them.",
            target.email
        )));
    }
    Ok(())
}

fn not_yourself(actor: &Actor, target: &StaffUser, what: &str) -> Result<()> {
    if actor.is_self(target) {
        return Err(StaffError::Invalid(format!(
            "You cannot {what} your own account; ask another admin."
        )));
    }
    Ok(())
}

async fn audit(
    store: &Store,
    actor: &Actor,
    tenant_id: Option<&str>,
    action: &str,
    target: &StaffUser,
    detail: serde_json::Value,
    now: i64,
) -> Result<()> {
    store
        .record_audit(NewAudit {
            at: now,
            tenant_id: tenant_id.map(str::to_owned),
            actor_id: actor.id.clone(),
            actor_email: actor.email.clone(),
            action: action.into(),
            target_kind: "staff_user".into(),
            target_id: Some(target.id.clone()),
            detail: Some(detail.to_string()),
        })
        .await?;
    Ok(())
}

/// A new account and its one-time link (the raw token is shown once, never stored).
#[derive(Debug, Clone)]
pub struct Link {
    pub user: StaffUser,
    pub purpose: StaffTokenPurpose,
    /// The raw token; the link is `{public_url}/account/set-password?token={token}`.
    pub token: String,
    /// Epoch ms.
    pub expires_at: i64,
}

impl Link {
    /// The link to hand over.
    pub fn url(&self, public_url: &str) -> String {
        format!(
            "{}/account/set-password?token={}",
            public_url.trim_end_matches('/'),
            self.token
        )
    }
}

/// The account to create, as typed.
#[derive(Debug, Clone)]
pub struct NewStaff<'a> {
    pub email: &'a str,
    pub role: Option<StaffRole>,
    pub tenant: Option<&'a str>,
}

async fn create(
    store: &Store,
    actor: &Actor,
    new: &NewStaff<'_>,
    password_hash: String,
) -> Result<(StaffUser, StaffRole)> {
    let email = new.email.trim().to_lowercase();
    check_email(&email).map_err(StaffError::Invalid)?;
    if store.find_staff_by_email(&email).await?.is_some() {
        return Err(StaffError::Invalid(format!(
            "{email} already has an account."
        )));
    }
    let (role, tenant) = assignment(store, actor, new.role, new.tenant).await?;
    let user = store
        .create_staff_user(store::NewStaffUser {
            email: email.clone(),
            password_hash,
            role,
            tenant_id: tenant,
        })
        .await
        .map_err(|e| {
            if e.is_conflict() {
                StaffError::Invalid(format!("{email} already has an account."))
            } else {
                e.into()
            }
        })?;
    Ok((user, role))
}

/// Invites someone: an account without a password and a link with which they set one
/// (valid [`INVITE_TTL_MS`]). `token` is fresh randomness from the caller.
pub async fn invite(
    store: &Store,
    actor: &Actor,
    new: &NewStaff<'_>,
    token: String,
    now: i64,
) -> Result<Link> {
    let (user, role) = create(store, actor, new, String::new()).await?;
    let expires_at = now + INVITE_TTL_MS;
    store
        .issue_staff_token(&user.id, StaffTokenPurpose::Invite, &token, now, expires_at)
        .await?;
    audit(
        store,
        actor,
        user.tenant_id.as_deref(),
        "staff.invite",
        &user,
        json!({"email": user.email, "role": role.as_str()}),
        now,
    )
    .await?;
    Ok(Link {
        user,
        purpose: StaffTokenPurpose::Invite,
        token,
        expires_at,
    })
}

/// Creates an account with a password the operator chose (the CLI's `admin create`).
pub async fn create_with_password(
    store: &Store,
    actor: &Actor,
    new: &NewStaff<'_>,
    password_hash: String,
    now: i64,
) -> Result<StaffUser> {
    let (user, role) = create(store, actor, new, password_hash).await?;
    audit(
        store,
        actor,
        user.tenant_id.as_deref(),
        "staff.create",
        &user,
        json!({"email": user.email, "role": role.as_str()}),
        now,
    )
    .await?;
    Ok(user)
}

/// A new one-time link for account `id`: a password reset (valid [`RESET_TTL_MS`]), or a
/// fresh invitation while the account has no password yet. Earlier links stop working.
pub async fn send_link(
    store: &Store,
    actor: &Actor,
    id: &str,
    token: String,
    now: i64,
) -> Result<Link> {
    let user = managed(store, actor, id).await?;
    if actor.is_self(&user) {
        return Err(StaffError::Invalid(
            "Change your own password under Change password.".into(),
        ));
    }
    let (purpose, ttl, action) = if user.has_password() {
        (StaffTokenPurpose::Reset, RESET_TTL_MS, "staff.reset_link")
    } else {
        (
            StaffTokenPurpose::Invite,
            INVITE_TTL_MS,
            "staff.invite_again",
        )
    };
    let expires_at = now + ttl;
    store
        .issue_staff_token(&user.id, purpose, &token, now, expires_at)
        .await?;
    audit(
        store,
        actor,
        user.tenant_id.as_deref(),
        action,
        &user,
        json!({"email": user.email, "expires_at": expires_at}),
        now,
    )
    .await?;
    Ok(Link {
        user,
        purpose,
        token,
        expires_at,
    })
}

/// Gives account `id` another role (and tenant, for a tenant admin). Returns the account as it
/// was and as it is.
pub async fn change_role(
    store: &Store,
    actor: &Actor,
    id: &str,
    role: Option<StaffRole>,
    tenant: Option<&str>,
    now: i64,
) -> Result<(StaffUser, StaffUser)> {
    let before = managed(store, actor, id).await?;
    not_yourself(actor, &before, "change the role of")?;
    let (role, tenant) = assignment(store, actor, role, tenant).await?;
    if role == before.role && tenant == before.tenant_id {
        return Err(StaffError::Invalid(format!(
            "{} already has that role.",
            before.email
        )));
    }
    if role != StaffRole::PlatformAdmin {
        keep_a_platform_admin(store, &before, "demote").await?;
    }
    store.set_staff_role(id, role, tenant.as_deref()).await?;
    let after = StaffUser {
        role,
        tenant_id: tenant,
        ..before.clone()
    };
    audit(
        store,
        actor,
        after.tenant_id.as_deref().or(before.tenant_id.as_deref()),
        "staff.role_change",
        &after,
        json!({
            "email": after.email,
            "before": {"role": before.role.as_str(), "tenant": before.tenant_id},
            "after": {"role": after.role.as_str(), "tenant": after.tenant_id},
        }),
        now,
    )
    .await?;
    Ok((before, after))
}

/// Disables or enables account `id` (a disabled account is signed out at once).
pub async fn set_disabled(
    store: &Store,
    actor: &Actor,
    id: &str,
    disabled: bool,
    now: i64,
) -> Result<StaffUser> {
    let user = managed(store, actor, id).await?;
    not_yourself(actor, &user, "disable")?;
    if disabled {
        keep_a_platform_admin(store, &user, "disable").await?;
    }
    store.set_staff_disabled(id, disabled).await?;
    let action = if disabled {
        "staff.disable"
    } else {
        "staff.enable"
    };
    audit(
        store,
        actor,
        user.tenant_id.as_deref(),
        action,
        &user,
        json!({"email": user.email}),
        now,
    )
    .await?;
    Ok(user)
}

/// Removes account `id` for good.
pub async fn remove(store: &Store, actor: &Actor, id: &str, now: i64) -> Result<StaffUser> {
    let user = managed(store, actor, id).await?;
    not_yourself(actor, &user, "remove")?;
    keep_a_platform_admin(store, &user, "remove").await?;
    store.delete_staff_user(id).await?;
    audit(
        store,
        actor,
        user.tenant_id.as_deref(),
        "staff.remove",
        &user,
        json!({"email": user.email, "role": user.role.as_str()}),
        now,
    )
    .await?;
    Ok(user)
}

/// Finds the account by email (the CLI names accounts by email).
pub async fn by_email(store: &Store, email: &str) -> Result<StaffUser> {
    store
        .find_staff_by_email(email)
        .await?
        .ok_or(StaffError::NotFound)
}

/// The account a live link belongs to, and what the link is for.
pub async fn link_holder(
    store: &Store,
    token: &str,
    now: i64,
) -> Result<Option<(StaffUser, StaffTokenPurpose)>> {
    if token.is_empty() {
        return Ok(None);
    }
    Ok(store
        .staff_token(token, now)
        .await?
        .filter(|(u, _)| !u.disabled))
}

/// Uses link `token` up and sets the password (already hashed) it was for. `None` when the
/// link is wrong, used or expired. The person acts for themselves in the audit log.
pub async fn redeem(
    store: &Store,
    token: &str,
    password_hash: &str,
    now: i64,
) -> Result<Option<StaffUser>> {
    if token.is_empty() {
        return Ok(None);
    }
    let Some((id, purpose)) = store.consume_staff_token(token, now).await? else {
        return Ok(None);
    };
    let Some(user) = store.get_staff_user(&id).await?.filter(|u| !u.disabled) else {
        return Ok(None);
    };
    store.set_staff_password(&id, password_hash).await?;
    let user = StaffUser {
        password_hash: password_hash.to_owned(),
        ..user
    };
    let me = Actor::staff(&user.id, &user.email, user.role, user.tenant_id.as_deref());
    let action = match purpose {
        StaffTokenPurpose::Invite => "staff.invite_accept",
        StaffTokenPurpose::Reset => "staff.password_reset",
    };
    audit(
        store,
        &me,
        user.tenant_id.as_deref(),
        action,
        &user,
        json!({"email": user.email}),
        now,
    )
    .await?;
    Ok(Some(user))
}

/// Records a successful sign-in: the staff page's "last sign-in" and the audit log.
pub async fn record_sign_in(store: &Store, user: &StaffUser, how: &str, now: i64) -> Result<()> {
    store.touch_staff_login(&user.id, now).await?;
    let me = Actor::staff(&user.id, &user.email, user.role, user.tenant_id.as_deref());
    audit(
        store,
        &me,
        user.tenant_id.as_deref(),
        "staff.sign_in",
        user,
        json!({"email": user.email, "with": how}),
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: StaffRole, tenant: Option<&str>) -> StaffUser {
        StaffUser {
            id: "u".into(),
            email: "u@x.test".into(),
            password_hash: "h".into(),
            role,
            tenant_id: tenant.map(str::to_owned),
            created_at: 0,
            last_login_at: None,
            disabled: false,
        }
    }

    #[test]
    fn who_manages_whom() {
        let pa = Actor::staff("a", "a@x", StaffRole::PlatformAdmin, None);
        let ta = Actor::staff("b", "b@x", StaffRole::TenantAdmin, Some("t1"));
        let sup = Actor::staff("c", "c@x", StaffRole::Support, None);
        for target in [
            user(StaffRole::PlatformAdmin, None),
            user(StaffRole::Support, None),
            user(StaffRole::TenantAdmin, Some("t2")),
        ] {
            assert!(may_manage(&pa, &target) && may_manage(&Actor::cli(), &target));
            assert!(!may_manage(&sup, &target));
            assert!(!may_manage(&ta, &target), "{target:?}");
        }
        assert!(may_manage(&ta, &user(StaffRole::TenantAdmin, Some("t1"))));
        assert!(!may_manage(&sup, &user(StaffRole::TenantAdmin, Some("t1"))));
    }

    #[test]
    fn nobody_grants_above_their_own_role() {
        let ta = Actor::staff("b", "b@x", StaffRole::TenantAdmin, Some("t1"));
        assert_eq!(grantable(&ta), &[StaffRole::TenantAdmin]);
        assert!(grantable(&Actor::staff("c", "c@x", StaffRole::Support, None)).is_empty());
        assert!(grantable(&Actor::cli()).contains(&StaffRole::PlatformAdmin));
        assert!(
            manages_staff(&ta) && !manages_staff(&Actor::staff("c", "c", StaffRole::Support, None))
        );
    }

    #[test]
    fn roles_and_emails_parse() {
        assert_eq!(parse_role("tenant-admin"), Some(StaffRole::TenantAdmin));
        assert_eq!(parse_role("platform_admin"), Some(StaffRole::PlatformAdmin));
        assert_eq!(parse_role("root"), None);
        assert!(check_email("a@b.co").is_ok());
        assert!(check_email("a b@c.co").is_err() && check_email("a@b").is_err());
    }

    #[test]
    fn a_link_points_at_the_set_password_page() {
        let l = Link {
            user: user(StaffRole::Support, None),
            purpose: StaffTokenPurpose::Invite,
            token: "abc".into(),
            expires_at: 0,
        };
        assert_eq!(
            l.url("https://scim.example/"),
            "https://scim.example/account/set-password?token=abc"
        );
    }
}
