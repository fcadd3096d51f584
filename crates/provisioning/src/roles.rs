//! Role resolution: which target role a user gets, and which rule gave it.
//!
//! Rules are ordered by priority (lowest number first). Sources: the user's `roles` values
//! (Entra app roles, in every encoding Entra sends — `scim-core` has already decoded the
//! JSON-encoded ones into `{value, display}`), the displayNames of the groups the user is a
//! member of, and a SCIM filter over the user. First match wins for single-role targets;
//! multi-role targets get every match. No match: the integration's default role.

use scim_core::ScimError;
use scim_core::filter::{Filter, matches, parse_filter, validate_filter};
use scim_core::schema::ResourceType;
use serde_json::{Map, Value};

/// One mapping rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub source: Source,
    /// The target role's name (resolved to an id against the target's live role list).
    pub target_role: String,
}

/// What a rule matches on.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// An Entra app role value (or display), case-insensitive.
    AppRole(String),
    /// Membership of a group with this displayName, case-insensitive.
    Group(String),
    /// A SCIM filter over the user, e.g. `title eq "Sales Manager"` (extension attributes by their full URN).
    Filter(Filter),
}

impl Rule {
    /// Builds a rule from its stored form (`app_role` | `group` | `filter`, value, role).
    pub fn parse(
        kind: &str,
        value: &str,
        target_role: &str,
        users: &ResourceType,
    ) -> Result<Self, ScimError> {
        let value = value.trim();
        if value.is_empty() || target_role.trim().is_empty() {
            return Err(ScimError::invalid_value(
                "a role rule needs a source value and a target role",
            ));
        }
        let source = match kind {
            "app_role" => Source::AppRole(value.to_string()),
            "group" => Source::Group(value.to_string()),
            "filter" => {
                let f = parse_filter(value)?;
                validate_filter(&f, users)?;
                Source::Filter(f)
            }
            other => {
                return Err(ScimError::invalid_value(format!(
                    "unknown rule source '{other}'; use app_role, group or filter"
                )));
            }
        };
        Ok(Self {
            source,
            target_role: target_role.trim().to_string(),
        })
    }

    fn matches(&self, user: &Map<String, Value>, groups: &[String], users: &ResourceType) -> bool {
        match &self.source {
            Source::AppRole(v) => app_roles(user).iter().any(|r| r.eq_ignore_ascii_case(v)),
            Source::Group(g) => groups.iter().any(|n| n.eq_ignore_ascii_case(g)),
            Source::Filter(f) => matches(f, user, users),
        }
    }

    /// A readable description, e.g. `group "Sales Managers"`.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::AppRole(v) => format!("app role \"{v}\""),
            Source::Group(g) => format!("group \"{g}\""),
            Source::Filter(f) => format!("filter {f}"),
        }
    }
}

/// The values of the user's `roles` (value and display of each).
pub fn app_roles(user: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for r in user
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match r {
            Value::String(s) => out.push(s.clone()),
            Value::Object(o) => {
                for k in ["value", "display"] {
                    if let Some(s) = o.get(k).and_then(Value::as_str) {
                        out.push(s.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The outcome of resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Target role names, in rule order (one for single-role targets); empty = no access.
    pub roles: Vec<String>,
    /// Why, for the trace: the rule(s) or "default role".
    pub reason: String,
}

/// Resolves a user's role(s). `user` is the rendered SCIM user, `groups` the displayNames of
/// the groups it belongs to.
pub fn resolve(
    rules: &[Rule],
    default_role: Option<&str>,
    user: &Map<String, Value>,
    groups: &[String],
    users: &ResourceType,
    many: bool,
) -> Resolution {
    let mut roles = Vec::new();
    let mut reasons = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if rule.matches(user, groups, users)
            && !roles
                .iter()
                .any(|r: &String| r.eq_ignore_ascii_case(&rule.target_role))
        {
            roles.push(rule.target_role.clone());
            reasons.push(format!(
                "rule {} ({} → {})",
                i + 1,
                rule.describe(),
                rule.target_role
            ));
            if !many {
                break;
            }
        }
    }
    if roles.is_empty() {
        return match default_role {
            Some(d) => Resolution {
                roles: vec![d.to_string()],
                reason: format!("no rule matched: default role {d}"),
            },
            None => Resolution {
                roles: Vec::new(),
                reason: "no rule matched and there is no default role".into(),
            },
        };
    }
    Resolution {
        roles,
        reason: reasons.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(v: Value) -> Map<String, Value> {
        scim_core::resource::normalize(&ResourceType::user(), &v).unwrap()
    }

    fn rules() -> Vec<Rule> {
        let rt = ResourceType::user();
        vec![
            Rule::parse("app_role", "Admin", "Admin", &rt).unwrap(),
            Rule::parse("group", "Sales Managers", "Manager", &rt).unwrap(),
            Rule::parse("filter", r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales""#, "User", &rt).unwrap(),
        ]
    }

    #[test]
    fn first_match_by_priority() {
        let rt = ResourceType::user();
        let u = user(json!({"userName": "a", "roles": [{"value": "Admin", "primary": "True"}]}));
        let r = resolve(
            &rules(),
            Some("Viewer"),
            &u,
            &["Sales Managers".into()],
            &rt,
            false,
        );
        assert_eq!(r.roles, ["Admin"]);
        assert!(r.reason.contains("rule 1"), "{}", r.reason);
        let r = resolve(
            &rules(),
            Some("Viewer"),
            &u,
            &["Sales Managers".into()],
            &rt,
            true,
        );
        assert_eq!(r.roles, ["Admin", "Manager"]);
    }

    #[test]
    fn json_encoded_role_value_matches() {
        let rt = ResourceType::user();
        let u = user(
            json!({"userName": "a", "roles": [{"value": "{\"id\":\"7\",\"value\":\"Admin\",\"displayName\":\"Administrator\"}"}]}),
        );
        assert_eq!(
            resolve(&rules(), None, &u, &[], &rt, false).roles,
            ["Admin"]
        );
    }

    #[test]
    fn groups_and_filters_and_default() {
        let rt = ResourceType::user();
        let u = user(
            json!({"userName": "a", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "sales"}}),
        );
        assert_eq!(
            resolve(
                &rules(),
                Some("Viewer"),
                &u,
                &["sales managers".into()],
                &rt,
                false
            )
            .roles,
            ["Manager"]
        );
        assert_eq!(
            resolve(&rules(), Some("Viewer"), &u, &[], &rt, false).roles,
            ["User"]
        );
        let other = user(json!({"userName": "b"}));
        let r = resolve(&rules(), Some("Viewer"), &other, &[], &rt, false);
        assert_eq!(
            (r.roles, r.reason.contains("default")),
            (vec!["Viewer".to_string()], true)
        );
        assert!(
            resolve(&rules(), None, &other, &[], &rt, false)
                .roles
                .is_empty()
        );
    }

    #[test]
    fn bad_rules_are_rejected() {
        let rt = ResourceType::user();
        assert!(Rule::parse("filter", "shoeSize eq 1", "X", &rt).is_err());
        assert!(Rule::parse("nope", "x", "X", &rt).is_err());
        assert!(Rule::parse("group", " ", "X", &rt).is_err());
    }
}
