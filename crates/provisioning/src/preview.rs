//! Role-rule preview: what a set of rules would do to the users an integration already knows,
//! before the rules are saved. It runs the planner's `desired` over every known user, so the
//! preview says what the worker will do.

use crate::inputs::UserInput;
use crate::planner::{IntegrationRules, Presence};
use connector_api::{Capabilities, RoleCardinality};
use std::collections::HashMap;
use store::Store;

/// Users looked at, at most (the preview says when it stopped early).
pub const PREVIEW_LIMIT: usize = 5_000;

/// The preview of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulePreview {
    /// Known users the rule matches, whatever its priority.
    pub matches: usize,
    /// Users whose role this rule decides (single-slot targets: the first match; targets
    /// with many roles: every match).
    pub decides: usize,
    /// A few of the decided users' userNames.
    pub sample: Vec<String>,
}

/// The preview of a rule set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preview {
    /// Users looked at.
    pub users: usize,
    /// Whether there were more than [`PREVIEW_LIMIT`].
    pub truncated: bool,
    /// One entry per rule, in order.
    pub rules: Vec<RulePreview>,
    /// Users that get the default role.
    pub default: usize,
    /// Users that would lose access (deactivated, or no rule matched and the policy removes).
    pub removed: usize,
}

/// Evaluates `rules` (in priority order, with their policies) over the integration's users.
pub async fn preview_rules(
    store: &Store,
    integration_id: &str,
    rules: &IntegrationRules,
    caps: &Capabilities,
) -> store::Result<Preview> {
    let db = store.db();
    let mut rows = store::scim::list_users_unpaged(db, integration_id, None).await?;
    let truncated = rows.len() > PREVIEW_LIMIT;
    rows.truncate(PREVIEW_LIMIT);

    // Group names per member, from one pass over the groups.
    let mut groups_of: HashMap<String, Vec<String>> = HashMap::new();
    let groups = store::scim::list_groups_unpaged(db, integration_id, None).await?;
    let mut members = crate::directory::members_of(db, integration_id, &groups).await?;
    for g in &groups {
        for m in members.remove(&g.id).unwrap_or_default() {
            groups_of
                .entry(m.member_id)
                .or_default()
                .push(g.display_name.clone());
        }
    }

    let mut out = Preview {
        users: rows.len(),
        truncated,
        rules: vec![RulePreview::default(); rules.rules.len()],
        default: 0,
        removed: 0,
    };
    for row in rows {
        let input = UserInput::from_row(
            &row,
            groups_of.remove(&row.id).unwrap_or_default(),
            &rules.users,
        );
        let subject = input.subject();
        for (i, rule) in rules.rules.iter().enumerate() {
            if rule.matches(subject.user, subject.groups, &rules.users) {
                out.rules[i].matches += 1;
            }
        }
        let d = rules.desired(Some(&subject));
        match d.presence {
            Presence::Remove(_) => out.removed += 1,
            Presence::Active | Presence::Placeholder { .. } => {
                let deciding = match caps.roles {
                    RoleCardinality::One => &d.roles[..d.roles.len().min(1)],
                    RoleCardinality::Many => &d.roles[..],
                };
                for g in deciding {
                    match g.rule {
                        Some(i) => {
                            let r = &mut out.rules[i];
                            r.decides += 1;
                            if r.sample.len() < 3 {
                                r.sample.push(row.user_name.clone());
                            }
                        }
                        None => out.default += 1,
                    }
                }
            }
            Presence::KeepRoles | Presence::Untouched => {}
        }
    }
    Ok(out)
}
