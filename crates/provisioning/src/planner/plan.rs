//! `plan`: the calls that bring the target from what we know of it to what is desired,
//! honouring what the connector can do; and `Known::apply`, what a successful step changes.

use super::desired::{Desired, Presence, Profile};
use super::policy::Removal;
use connector_api::{Capabilities, RoleCardinality, UserKey};
use serde::{Deserialize, Serialize};

/// The state of the target account as far as we know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// No account (never created, or adopted none yet).
    #[default]
    Absent,
    Active,
    /// Moved to the deprovision role (held in `Known::roles`).
    Deprovisioned,
    /// Natively deactivated.
    Deactivated,
    Deleted,
}

/// What we know of the target account: what we last pushed, or what reconciliation read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Known {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    #[serde(default)]
    pub state: AccountState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// Role names held.
    #[serde(default)]
    pub roles: Vec<String>,
    /// IdP group names whose membership was pushed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Whether the account has ever held a role from a mapped group (`groups` lifecycle:
    /// losing the last one then removes access; before it, the account is a placeholder).
    #[serde(default)]
    pub ever_member: bool,
    /// The account owns the API key: never changed, demoted or deleted.
    #[serde(skip)]
    pub key_owner: bool,
}

/// One call to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create the account with these roles (one for single-slot targets).
    Create {
        profile: Profile,
        roles: Vec<String>,
    },
    /// Update profile fields; `roles` rides along for targets that need the role on every
    /// update (ActiveCampaign answers 422 without `group`).
    Update {
        profile: Profile,
        roles: Vec<String>,
    },
    /// Replace the role(s): a single-slot role change, or a multi-role target's whole set.
    SetRoles {
        roles: Vec<String>,
    },
    AddRole {
        role: String,
    },
    RemoveRole {
        role: String,
    },
    /// Move to the deprovision role.
    MoveToRole {
        role: String,
    },
    /// Scramble the password (deprovisioning on a target with no native deactivate).
    RotatePassword,
    Deactivate,
    Reactivate,
    Delete,
    JoinGroup {
        group: String,
    },
    LeaveGroup {
        group: String,
    },
}

impl Step {
    /// The operation name recorded in the provisioning log.
    pub fn operation(&self) -> &'static str {
        match self {
            Step::Create { .. } => "create_user",
            Step::Update { .. } => "update_user",
            Step::SetRoles { .. } => "set_roles",
            Step::AddRole { .. } => "add_role",
            Step::RemoveRole { .. } => "remove_role",
            Step::MoveToRole { .. } => "deprovision",
            Step::RotatePassword => "rotate_password",
            Step::Deactivate => "deactivate_user",
            Step::Reactivate => "reactivate_user",
            Step::Delete => "delete_user",
            Step::JoinGroup { .. } => "add_group_member",
            Step::LeaveGroup { .. } => "remove_group_member",
        }
    }

    /// Steps that take access away: counted and held by the deletion guard.
    pub fn removes_access(&self) -> bool {
        matches!(
            self,
            Step::MoveToRole { .. } | Step::Deactivate | Step::Delete
        )
    }

    /// Plain words, e.g. `add role "Manager"`.
    pub fn describe(&self) -> String {
        let list = |r: &[String]| {
            r.iter()
                .map(|r| format!("\"{r}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Step::Create { profile, roles } => {
                format!("create {} with {}", profile.email, list(roles))
            }
            Step::Update { profile, .. } => format!("update the profile ({})", profile.email),
            Step::SetRoles { roles } => format!("set role {}", list(roles)),
            Step::AddRole { role } => format!("add role \"{role}\""),
            Step::RemoveRole { role } => format!("remove role \"{role}\""),
            Step::MoveToRole { role } => format!("move to the role \"{role}\""),
            Step::RotatePassword => "scramble the password".into(),
            Step::Deactivate => "deactivate".into(),
            Step::Reactivate => "reactivate".into(),
            Step::Delete => "delete".into(),
            Step::JoinGroup { group } => format!("add to group \"{group}\""),
            Step::LeaveGroup { group } => format!("remove from group \"{group}\""),
        }
    }
}

fn has_account(k: &Known) -> bool {
    matches!(
        k.state,
        AccountState::Active | AccountState::Deprovisioned | AccountState::Deactivated
    )
}

fn same_roles(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|x| b.iter().any(|y| y.eq_ignore_ascii_case(x)))
}

fn contains(list: &[String], item: &str) -> bool {
    list.iter().any(|x| x.eq_ignore_ascii_case(item))
}

/// The roles a target holds for these grants: the first for single-slot targets, all otherwise.
fn target_roles(d: &Desired, caps: &Capabilities) -> Vec<String> {
    let all = d.roles.iter().map(|g| g.role.clone());
    match caps.roles {
        RoleCardinality::One => all.take(1).collect(),
        RoleCardinality::Many => all.collect(),
    }
}

/// The steps that take an account away by `removal`, given what the target can do.
fn remove(removal: &Removal, known: &Known, caps: &Capabilities) -> Vec<Step> {
    if !has_account(known) {
        return Vec::new();
    }
    let removal = match removal {
        Removal::Delete if !caps.can_delete => Removal::Deactivate,
        other => other.clone(),
    };
    match removal {
        Removal::Delete => vec![Step::Delete],
        Removal::Deactivate if caps.can_deactivate => {
            if known.state == AccountState::Deactivated {
                Vec::new()
            } else {
                vec![Step::Deactivate]
            }
        }
        // Validation refuses `deactivate` on targets without it; nothing safe to do.
        Removal::Deactivate => Vec::new(),
        Removal::MoveToRole(role) => {
            if known.state == AccountState::Deprovisioned
                && same_roles(&known.roles, std::slice::from_ref(&role))
            {
                return Vec::new();
            }
            let mut steps = vec![Step::MoveToRole { role }];
            if caps.rotate_password && !caps.can_deactivate {
                steps.push(Step::RotatePassword);
            }
            steps
        }
    }
}

/// The steps that bring an account (existing or not) to `roles` and `profile`.
fn converge(d: &Desired, roles: Vec<String>, known: &Known, caps: &Capabilities) -> Vec<Step> {
    let Some(mut profile) = d.profile.clone() else {
        return Vec::new();
    };
    // Attributes count only for targets that take them; for others a change is no update.
    if !caps.attributes {
        profile.attributes.clear();
    }
    let mut steps = Vec::new();
    let joins = |steps: &mut Vec<Step>, had: &[String]| {
        if caps.groups {
            for g in &d.groups {
                if !contains(had, g) {
                    steps.push(Step::JoinGroup { group: g.clone() });
                }
            }
            for g in had {
                if !contains(&d.groups, g) {
                    steps.push(Step::LeaveGroup { group: g.clone() });
                }
            }
        }
    };
    if !has_account(known) {
        if !caps.can_create || roles.is_empty() {
            return Vec::new();
        }
        steps.push(Step::Create { profile, roles });
        joins(&mut steps, &[]);
        return steps;
    }
    // E-mail-keyed targets (Brevo) cannot change an e-mail: remove the old, add the new.
    if caps.key == UserKey::Email
        && known
            .profile
            .as_ref()
            .is_some_and(|p| !p.email.eq_ignore_ascii_case(&profile.email))
    {
        steps.push(Step::Delete);
        steps.push(Step::Create { profile, roles });
        joins(&mut steps, &[]);
        return steps;
    }
    if known.state == AccountState::Deactivated {
        steps.push(Step::Reactivate);
    }
    let roles_differ =
        !same_roles(&known.roles, &roles) || known.state == AccountState::Deprovisioned;
    let profile_differs = known.profile.as_ref() != Some(&profile) && caps.can_update;
    match caps.roles {
        RoleCardinality::One => {
            if profile_differs {
                steps.push(Step::Update { profile, roles });
            } else if roles_differ && !roles.is_empty() {
                steps.push(Step::SetRoles { roles });
            }
        }
        RoleCardinality::Many => {
            if profile_differs {
                // Roles are added and removed one by one below.
                steps.push(Step::Update {
                    profile,
                    roles: Vec::new(),
                });
            }
            if known.state == AccountState::Deprovisioned {
                if !roles.is_empty() {
                    steps.push(Step::SetRoles { roles });
                }
            } else {
                for r in &roles {
                    if !contains(&known.roles, r) {
                        steps.push(Step::AddRole { role: r.clone() });
                    }
                }
                for r in &known.roles {
                    if !contains(&roles, r) {
                        steps.push(Step::RemoveRole { role: r.clone() });
                    }
                }
            }
        }
    }
    joins(&mut steps, &known.groups);
    steps
}

/// The calls that bring the target from `known` to `desired`.
pub fn plan(desired: &Desired, known: &Known, caps: &Capabilities) -> Vec<Step> {
    if known.key_owner {
        return Vec::new();
    }
    match &desired.presence {
        Presence::Untouched => Vec::new(),
        Presence::Remove(removal) => remove(removal, known, caps),
        Presence::Active => converge(desired, target_roles(desired, caps), known, caps),
        Presence::KeepRoles => {
            if has_account(known) && known.state != AccountState::Deprovisioned {
                converge(desired, known.roles.clone(), known, caps)
            } else {
                Vec::new()
            }
        }
        Presence::Placeholder { lost } => {
            if known.ever_member {
                remove(lost, known, caps)
            } else if known.state == AccountState::Deleted {
                Vec::new()
            } else {
                converge(desired, target_roles(desired, caps), known, caps)
            }
        }
    }
}

impl Known {
    /// What we know after `step` succeeded (`new_id`: the id a create returned).
    pub fn apply(&mut self, step: &Step, new_id: Option<&str>) {
        match step {
            Step::Create { profile, roles } => {
                self.target_id = new_id.map(str::to_string).or(self.target_id.take());
                self.state = AccountState::Active;
                self.profile = Some(profile.clone());
                self.roles = roles.clone();
                self.groups.clear();
            }
            Step::Update { profile, roles } => {
                self.profile = Some(profile.clone());
                // Single-slot targets set the role with the profile; others leave it.
                if !roles.is_empty() {
                    self.roles = roles.clone();
                    self.state = AccountState::Active;
                }
            }
            Step::SetRoles { roles } => {
                self.roles = roles.clone();
                self.state = AccountState::Active;
            }
            Step::AddRole { role } => {
                if !contains(&self.roles, role) {
                    self.roles.push(role.clone());
                }
            }
            Step::RemoveRole { role } => self.roles.retain(|r| !r.eq_ignore_ascii_case(role)),
            Step::MoveToRole { role } => {
                self.roles = vec![role.clone()];
                self.state = AccountState::Deprovisioned;
            }
            Step::RotatePassword => {}
            Step::Deactivate => self.state = AccountState::Deactivated,
            Step::Reactivate => self.state = AccountState::Active,
            Step::Delete => {
                self.state = AccountState::Deleted;
                self.target_id = None;
                self.roles.clear();
                self.groups.clear();
            }
            Step::JoinGroup { group } => {
                if !contains(&self.groups, group) {
                    self.groups.push(group.clone());
                }
            }
            Step::LeaveGroup { group } => self.groups.retain(|g| !g.eq_ignore_ascii_case(group)),
        }
    }

    /// Remembers that the account holds a role from a mapped group (`groups` lifecycle: from
    /// then on, losing the last mapped group removes access).
    pub fn note_membership(&mut self, desired: &Desired, rules: &[super::RoleRule]) {
        let from_group = desired.presence == Presence::Active
            && desired.roles.iter().any(|g| {
                g.rule
                    .and_then(|i| rules.get(i))
                    .is_some_and(|r| matches!(r.source, super::rules::Source::Group(_)))
            });
        if from_group && self.state == AccountState::Active {
            self.ever_member = true;
        }
    }
}
