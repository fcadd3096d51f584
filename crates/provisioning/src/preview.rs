//! Role-rule preview: what a set of rules would do to the users an integration already knows,
//! before the rules are saved.

use crate::roles::{Rule, resolve};
use scim_core::resource::{self, Meta};
use scim_core::schema::ResourceType;
use serde_json::{Map, Value};
use std::collections::HashMap;
use store::Store;

/// Users looked at, at most (the preview says when it stopped early).
pub const PREVIEW_LIMIT: usize = 5_000;

/// The preview of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulePreview {
    /// Known users the rule matches, whatever its priority.
    pub matches: usize,
    /// Users whose role this rule decides (first match wins).
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
    /// Users that fall through to the default role.
    pub default: usize,
}

/// Evaluates `rules` (in priority order) over the integration's known users.
pub async fn preview_rules(
    store: &Store,
    integration_id: &str,
    rules: &[Rule],
    default_role: Option<&str>,
) -> store::Result<Preview> {
    let users_type = ResourceType::user();
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
        rules: vec![RulePreview::default(); rules.len()],
        default: 0,
    };
    let meta = Meta {
        created: chrono::Utc::now(),
        last_modified: chrono::Utc::now(),
        location: String::new(),
        version: 0,
    };
    let no_groups = Vec::new();
    for row in rows {
        let Ok(attrs) = serde_json::from_str::<Map<String, Value>>(&row.resource) else {
            continue;
        };
        let user = resource::render(&users_type, &row.id, attrs, &meta);
        let groups = groups_of.get(&row.id).unwrap_or(&no_groups);
        let mut decided = false;
        for (i, rule) in rules.iter().enumerate() {
            // A single rule evaluated alone tells whether it matches at all.
            let alone = resolve(
                std::slice::from_ref(rule),
                None,
                &user,
                groups,
                &users_type,
                false,
            );
            if alone.roles.is_empty() {
                continue;
            }
            out.rules[i].matches += 1;
            if !decided {
                decided = true;
                out.rules[i].decides += 1;
                if out.rules[i].sample.len() < 3 {
                    out.rules[i].sample.push(row.user_name.clone());
                }
            }
        }
        if !decided && default_role.is_some() {
            out.default += 1;
        }
    }
    Ok(out)
}
