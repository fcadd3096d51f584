//! `desired`: what a user should look like in the target, and why.

use super::policy::{Deprovision, GroupPush, Lifecycle, Policy, Removal, Unmatched};
use super::rules::RoleRule;
use scim_core::schema::ResourceType;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The profile fields pushed to the target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Profile {
    pub email: String,
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Every other attribute of the user by its SCIM name (core ones, and the enterprise and
    /// registered extensions under their URN), for targets that take them
    /// (`Capabilities::attributes`); the role and groups come from the rules, not from here.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
}

/// Attributes never passed through: identity and bookkeeping of the IdP's copy, the secret,
/// and what the rules decide (roles, groups, active).
const NOT_PASSED: [&str; 8] = [
    "id", "meta", "schemas", "userName", "active", "roles", "groups", "password",
];

impl Profile {
    /// The profile of a rendered SCIM user: e-mail = the primary one, else the work one, else
    /// any, else the userName.
    pub fn of(user: &Map<String, Value>) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let username = text(user.get("userName")).unwrap_or_default();
        let emails = user.get("emails").and_then(Value::as_array);
        let pick = |pred: &dyn Fn(&Value) -> bool| {
            emails
                .and_then(|e| e.iter().find(|x| pred(x)))
                .and_then(|e| text(e.get("value")))
        };
        let email = pick(&|e| e.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| pick(&|e| e.get("type").and_then(Value::as_str) == Some("work")))
            .or_else(|| pick(&|_| true))
            .unwrap_or_else(|| username.clone());
        let name = user.get("name");
        let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        let attributes = user
            .iter()
            .filter(|(k, v)| !v.is_null() && !NOT_PASSED.iter().any(|n| n.eq_ignore_ascii_case(k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Self {
            email,
            username,
            first_name: non_empty(text(name.and_then(|n| n.get("givenName")))),
            last_name: non_empty(text(name.and_then(|n| n.get("familyName")))),
            attributes,
        }
    }
}

/// One role the user should hold, and what gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: String,
    /// The rule's position (0 = highest priority); `None` for the default role.
    pub rule: Option<usize>,
    /// e.g. `rule 2 (group "Sales Managers" → Manager)` or `default role User`.
    pub because: String,
}

/// Whether and how the account should exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// An active account holding `Desired::roles`.
    Active,
    /// An active account whose roles stay as they are (no rule matched, policy `keep`).
    KeepRoles,
    /// `groups` lifecycle, no mapped group: the account exists only as a placeholder (with
    /// `Desired::roles`, the default role, if any) until the first membership arrives; an account
    /// that has had a mapped group loses access by `lost`.
    Placeholder { lost: Removal },
    /// The account must lose access.
    Remove(Removal),
    /// Leave the account exactly as it is.
    Untouched,
}

/// What the user should look like in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub presence: Presence,
    pub profile: Option<Profile>,
    /// The roles in priority order (every matching rule; single-slot targets take the first).
    pub roles: Vec<Grant>,
    /// IdP groups (display names) whose membership is pushed to the target.
    pub groups: Vec<String>,
    /// Why, in one sentence for support staff.
    pub reason: String,
}

/// The IdP's side of one user, as the planner reads it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The rendered SCIM user (core and extension attributes).
    pub user: &'a Map<String, Value>,
    pub active: bool,
    /// Display names of the groups the user is a member of.
    pub groups: &'a [String],
}

/// Everything about an integration that `desired` reads.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    pub rules: &'a [RoleRule],
    pub policy: &'a Policy,
    /// The integration's User type (for filter rules over extension attributes).
    pub users: &'a ResourceType,
}

/// Every rule that matches, in priority order, one grant per distinct role.
pub fn grants(subject: &Subject<'_>, r: &Rules<'_>) -> Vec<Grant> {
    let mut out: Vec<Grant> = Vec::new();
    for (i, rule) in r.rules.iter().enumerate() {
        if rule.matches(subject.user, subject.groups, r.users)
            && !out
                .iter()
                .any(|g| g.role.eq_ignore_ascii_case(&rule.target_role))
        {
            out.push(Grant {
                role: rule.target_role.clone(),
                rule: Some(i),
                because: format!(
                    "rule {} ({} → {})",
                    i + 1,
                    rule.describe(),
                    rule.target_role
                ),
            });
        }
    }
    out
}

fn default_grant(policy: &Policy) -> Vec<Grant> {
    policy
        .default_role
        .iter()
        .map(|d| Grant {
            role: d.clone(),
            rule: None,
            because: format!("default role {d}"),
        })
        .collect()
}

/// What `subject` (`None`: deleted in the IdP) should look like in the target.
pub fn desired(subject: Option<&Subject<'_>>, r: &Rules<'_>) -> Desired {
    let policy = r.policy;
    let Some(s) = subject else {
        let (presence, reason) = match (&policy.deprovision, policy.lifecycle) {
            (Deprovision::Ignore, Lifecycle::Assignment) => (
                Presence::Untouched,
                "deleted in the identity provider; the policy leaves the account unchanged".into(),
            ),
            _ => (
                Presence::Remove(Removal::Delete),
                "deleted in the identity provider".into(),
            ),
        };
        return Desired {
            presence,
            profile: None,
            roles: Vec::new(),
            groups: Vec::new(),
            reason,
        };
    };
    let profile = Some(Profile::of(s.user));
    let groups = match policy.group_push {
        GroupPush::None => Vec::new(),
        GroupPush::All => s.groups.to_vec(),
        GroupPush::Ruled => s
            .groups
            .iter()
            .filter(|g| r.rules.iter().any(|rule| rule.maps_group(g)))
            .cloned()
            .collect(),
    };
    let mut note = String::new();
    if !s.active {
        let removal = match (&policy.deprovision, policy.lifecycle) {
            (Deprovision::Ignore, Lifecycle::Groups) => {
                note = "active=false is ignored (group membership decides); ".into();
                None
            }
            (Deprovision::Ignore, Lifecycle::Assignment) => {
                return Desired {
                    presence: Presence::Untouched,
                    profile,
                    roles: Vec::new(),
                    groups,
                    reason: "deactivated in the identity provider; the policy leaves the account unchanged".into(),
                };
            }
            (Deprovision::Role(role), _) => Some(Removal::MoveToRole(role.clone())),
            (Deprovision::Deactivate, _) => Some(Removal::Deactivate),
            (Deprovision::Delete, _) => Some(Removal::Delete),
        };
        if let Some(removal) = removal {
            return Desired {
                reason: format!(
                    "deactivated in the identity provider: {}",
                    removal.describe()
                ),
                presence: Presence::Remove(removal),
                profile,
                roles: Vec::new(),
                groups: Vec::new(),
            };
        }
    }
    let found = grants(s, r);
    if policy.lifecycle == Lifecycle::Groups
        && !s
            .groups
            .iter()
            .any(|g| r.rules.iter().any(|rule| rule.maps_group(g)))
    {
        let roles = default_grant(policy);
        let lost = policy.deprovision.removal();
        let reason = format!(
            "{note}not a member of a mapped group: {}; after losing the last one: {}",
            match roles.first() {
                Some(g) => format!("placeholder with the {}", g.because),
                None => "no account until the first membership".into(),
            },
            lost.describe()
        );
        return Desired {
            presence: Presence::Placeholder { lost },
            profile,
            roles,
            groups,
            reason,
        };
    }
    if !found.is_empty() {
        let reason = format!(
            "{note}{}",
            found
                .iter()
                .map(|g| g.because.clone())
                .collect::<Vec<_>>()
                .join("; ")
        );
        return Desired {
            presence: Presence::Active,
            profile,
            roles: found,
            groups,
            reason,
        };
    }
    match policy.unmatched() {
        Unmatched::Default if policy.default_role.is_some() => {
            let roles = default_grant(policy);
            Desired {
                reason: format!("{note}no rule matched: {}", roles[0].because),
                presence: Presence::Active,
                profile,
                roles,
                groups,
            }
        }
        Unmatched::Keep => Desired {
            presence: Presence::KeepRoles,
            profile,
            roles: Vec::new(),
            groups,
            reason: format!("{note}no rule matched: the account keeps the role it has"),
        },
        Unmatched::Default | Unmatched::Deprovision => {
            let removal = policy.deprovision.removal();
            Desired {
                reason: format!("{note}no rule matched: {}", removal.describe()),
                presence: Presence::Remove(removal),
                profile,
                roles: Vec::new(),
                groups: Vec::new(),
            }
        }
    }
}
