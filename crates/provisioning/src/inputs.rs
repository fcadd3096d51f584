//! Loading the planner's inputs from the store, in one place: the worker, the user page, the
//! rule preview and the CLI read an integration's rules, a user and what we know of its
//! target account through these functions, so they cannot disagree.

use crate::planner::{AccountState, IntegrationRules, Known, Policy, Profile, RoleRule, Subject};
use scim_core::resource::{self, Meta};
use scim_core::schema::ResourceType;
use serde_json::{Map, Value};
use store::outbox::TargetLink;
use store::{Integration, Store, StoreError};

/// Why an integration's rules could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored rule or policy no longer parses (it was validated when saved).
    #[error("{0}")]
    Invalid(String),
}

/// The User type an integration's users and rules are read with (with its registered
/// extension schemas).
pub fn user_type(integration: &Integration) -> ResourceType {
    crate::schemas::user_type(integration)
}

/// The integration's policies as the planner reads them.
pub fn policy_of(integration: &Integration) -> Result<Policy, String> {
    let p = &integration.policies;
    Policy::from_stored(
        integration.default_role.as_deref(),
        &integration.deprovision_policy,
        p.unmatched.as_deref(),
        p.lifecycle.as_deref().unwrap_or("assignment"),
        p.group_push.as_deref().unwrap_or("none"),
        p.delete_guard.as_deref().unwrap_or("10,20%"),
    )
}

/// The stored form of the policies besides the deprovision one (the inverse of [`policy_of`]).
pub fn stored_policies(p: &Policy) -> store::IntegrationPolicies {
    store::IntegrationPolicies {
        unmatched: p.unmatched.map(|u| u.as_str().to_string()),
        lifecycle: Some(p.lifecycle.as_str().to_string()),
        group_push: Some(p.group_push.as_str().to_string()),
        delete_guard: Some(p.guard.to_string()),
    }
}

/// The integration's rules (priority order), policies and User type.
pub async fn load_rules(
    store: &Store,
    integration: &Integration,
) -> Result<IntegrationRules, InputError> {
    let users = user_type(integration);
    let rules = store
        .list_role_rules(&integration.id)
        .await?
        .iter()
        .map(|r| {
            RoleRule::parse(
                r.source_kind.as_str(),
                &r.source_value,
                &r.target_role,
                &users,
            )
            .map_err(|e| InputError::Invalid(format!("a role rule is invalid: {}", e.detail)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let policy = policy_of(integration).map_err(InputError::Invalid)?;
    Ok(IntegrationRules {
        rules,
        policy,
        users,
    })
}

/// One SCIM user as the planner reads it.
#[derive(Debug, Clone)]
pub struct UserInput {
    pub id: String,
    pub user_name: String,
    pub active: bool,
    /// The rendered resource (what `/Users/{id}` answers, without `meta` times).
    pub attrs: Map<String, Value>,
    /// Display names of the groups the user is a member of.
    pub groups: Vec<String>,
}

impl UserInput {
    /// The planner's view.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            user: &self.attrs,
            active: self.active,
            groups: &self.groups,
        }
    }

    /// Renders a stored row.
    pub fn from_row(row: &store::scim::UserRow, groups: Vec<String>, users: &ResourceType) -> Self {
        let attrs: Map<String, Value> = serde_json::from_str(&row.resource).unwrap_or_default();
        let meta = Meta {
            created: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            location: String::new(),
            version: row.version,
        };
        Self {
            id: row.id.clone(),
            user_name: row.user_name.clone(),
            active: row.active,
            attrs: resource::render(users, &row.id, attrs, &meta),
            groups,
        }
    }
}

/// A user and its groups (`None`: deleted in the IdP).
pub async fn load_user(
    store: &Store,
    integration_id: &str,
    user_id: &str,
    users: &ResourceType,
) -> Result<Option<UserInput>, StoreError> {
    let db = store.db();
    let Some(row) = store::scim::get_user(db, integration_id, user_id).await? else {
        return Ok(None);
    };
    let groups = store::scim::groups_of_member(db, integration_id, user_id)
        .await?
        .into_iter()
        .map(|g| g.display_name)
        .collect();
    Ok(Some(UserInput::from_row(&row, groups, users)))
}

/// What we know of the user's target account, from its link. Reads today's form (a
/// serialised [`Known`] with `"v": 2`) and the forms written before the planner.
pub fn known_from_link(link: Option<&TargetLink>) -> Known {
    let Some(link) = link else {
        return Known::default();
    };
    let pushed: Value = link
        .last_pushed
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    if pushed.get("v").and_then(Value::as_i64) == Some(2)
        && let Ok(mut k) = serde_json::from_value::<Known>(pushed.clone())
    {
        k.target_id = link.target_id.clone();
        return k;
    }
    // Before the planner: {"email","firstName","lastName","role"} for an active account,
    // {"state":"deprovisioned","role"} or {"state":"deleted"}.
    let text = |k: &str| pushed.get(k).and_then(Value::as_str).map(str::to_string);
    let role: Vec<String> = text("role").into_iter().collect();
    let state = match (text("state").as_deref(), &link.target_id) {
        (Some("deleted"), _) => AccountState::Deleted,
        (_, None) => AccountState::Absent,
        (Some("deprovisioned"), Some(_)) => AccountState::Deprovisioned,
        (_, Some(_)) => AccountState::Active,
    };
    Known {
        target_id: link.target_id.clone(),
        state,
        profile: text("email").map(|email| Profile {
            username: String::new(),
            email,
            first_name: text("firstName"),
            last_name: text("lastName"),
            attributes: Default::default(),
        }),
        roles: role,
        ..Known::default()
    }
}

/// The link text that records `known`.
pub fn pushed_of(known: &Known) -> String {
    let mut v = serde_json::to_value(known).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("v".into(), Value::from(2));
        m.remove("target_id");
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn link(target: Option<&str>, pushed: &str) -> TargetLink {
        TargetLink {
            integration_id: "i".into(),
            scim_user_id: "u".into(),
            target_id: target.map(str::to_string),
            last_pushed: Some(pushed.into()),
            last_sync_at: None,
            last_result: None,
            last_error: None,
        }
    }

    #[test]
    fn links_written_before_the_planner_still_read() {
        let k = known_from_link(Some(&link(
            Some("7"),
            r#"{"email":"a@x","firstName":"A","lastName":null,"role":"User"}"#,
        )));
        assert_eq!(
            (k.state, k.roles.clone(), k.profile.unwrap().email),
            (
                AccountState::Active,
                vec!["User".to_string()],
                "a@x".to_string()
            )
        );
        let k = known_from_link(Some(&link(
            Some("7"),
            r#"{"state":"deprovisioned","role":"No access"}"#,
        )));
        assert_eq!(k.state, AccountState::Deprovisioned);
        let k = known_from_link(Some(&link(None, r#"{"state":"deleted"}"#)));
        assert_eq!(k.state, AccountState::Deleted);
        assert_eq!(known_from_link(None), Known::default());
    }

    #[test]
    fn known_round_trips_through_the_link() {
        let k = Known {
            target_id: Some("9".into()),
            state: AccountState::Deactivated,
            profile: Some(Profile {
                email: "a@x".into(),
                username: "a".into(),
                first_name: None,
                last_name: Some("L".into()),
                attributes: Default::default(),
            }),
            roles: vec!["A".into(), "B".into()],
            groups: vec!["G".into()],
            ever_member: true,
            key_owner: false,
        };
        let text = pushed_of(&k);
        assert!(
            !text.contains("\"9\""),
            "the id lives in its own column: {text}"
        );
        assert_eq!(known_from_link(Some(&link(Some("9"), &text))), k);
    }
}
