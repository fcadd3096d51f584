//! The planner: the one place that decides what a user should look like in a target and which
//! calls get it there. Pure: no I/O, no clock, no randomness.
//!
//! ```text
//! SCIM user + groups + rules + policy ──desired()──▶ Desired {presence, profile, roles (each with its rule), groups}
//! Desired + known target state + capabilities ──plan()──▶ [Step]
//! ```
//! The worker executes the steps; the user page's "why this role", the rule preview, dry-run
//! events and the log's reason text all render [`Explanation`], built from the same two calls.

mod desired;
mod plan;
pub mod policy;
pub mod rules;

pub use desired::{Desired, Grant, Presence, Profile, Rules, Subject, desired, grants};
pub use plan::{AccountState, Known, Step, plan};
pub use policy::{
    DeleteGuard, Deprovision, GroupPush, Lifecycle, Policy, Removal, Unmatched,
    looks_like_no_access, suggest_no_access_role,
};
pub use rules::{RoleRule, Source, app_roles};

use connector_api::Capabilities;
use scim_core::schema::ResourceType;

/// One integration's parsed rules and policies, with its User type.
#[derive(Debug, Clone)]
pub struct IntegrationRules {
    pub rules: Vec<RoleRule>,
    pub policy: Policy,
    pub users: ResourceType,
}

impl IntegrationRules {
    /// The view `desired` reads.
    pub fn view(&self) -> Rules<'_> {
        Rules {
            rules: &self.rules,
            policy: &self.policy,
            users: &self.users,
        }
    }

    /// `desired` for one subject.
    pub fn desired(&self, subject: Option<&Subject<'_>>) -> Desired {
        desired(subject, &self.view())
    }

    /// The explanation of `subject` against `known`: what support staff read.
    pub fn explain(
        &self,
        subject: Option<&Subject<'_>>,
        known: &Known,
        caps: &Capabilities,
    ) -> Explanation {
        let d = self.desired(subject);
        let steps = plan(&d, known, caps);
        Explanation::new(&d, &steps, known, caps)
    }
}

/// What the planner decided, in words: one renderer for the user page, the preview, dry-run
/// events and the worker's log entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The role(s) the target should hold (`""` when none), e.g. `Manager` or `Sales, Support`.
    pub roles: String,
    /// Why, e.g. `rule 2 (group "Sales Managers" → Manager)`.
    pub because: String,
    /// The calls that would be made now, in plain words (empty: already in line).
    pub steps: Vec<String>,
}

impl Explanation {
    /// Renders a decision.
    pub fn new(d: &Desired, steps: &[Step], known: &Known, caps: &Capabilities) -> Self {
        let roles: Vec<&str> = match (&d.presence, caps.roles) {
            (
                Presence::Active | Presence::Placeholder { .. },
                connector_api::RoleCardinality::One,
            ) => d.roles.iter().take(1).map(|g| g.role.as_str()).collect(),
            (Presence::Active | Presence::Placeholder { .. }, _) => {
                d.roles.iter().map(|g| g.role.as_str()).collect()
            }
            (Presence::KeepRoles, _) => known.roles.iter().map(String::as_str).collect(),
            (Presence::Remove(Removal::MoveToRole(r)), _) => vec![r.as_str()],
            _ => Vec::new(),
        };
        let mut because = d.reason.clone();
        if known.key_owner {
            because = format!("{because}; the account owns the API key and is never changed");
        }
        Self {
            roles: roles.join(", "),
            because,
            steps: steps.iter().map(Step::describe).collect(),
        }
    }
}

#[cfg(test)]
mod tests;
