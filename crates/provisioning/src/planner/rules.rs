//! Role rules: the one parser (`RoleRule::parse`, used by the CLI, the UI and the worker) and
//! matching. An invalid rule is refused when it is saved; the worker never meets one.

use scim_core::ScimError;
use scim_core::filter::{Filter, matches, parse_filter, qualify_short_names, validate_filter};
use scim_core::schema::ResourceType;
use serde_json::{Map, Value};

/// One mapping rule: when `source` matches a user, the user gets `target_role`.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleRule {
    pub source: Source,
    /// The target role's name (resolved to an id against the target's live role list).
    pub target_role: String,
}

/// What a rule matches on.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// An Entra app role, by value or display name, case-insensitive.
    AppRole(String),
    /// Membership of a group with this displayName, case-insensitive.
    Group(String),
    /// A SCIM filter over the user, e.g. `title eq "Sales Manager"`.
    Filter(Filter),
}

impl RoleRule {
    /// Builds a rule from its parts (`app_role` | `group` | `filter`, value, role); `users` is
    /// the integration's User type, so filters may name its extension attributes.
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
        let source = match kind.trim() {
            "app_role" => Source::AppRole(value.to_string()),
            "group" => Source::Group(value.to_string()),
            "filter" => {
                // `department eq "Sales"`: a name only one extension has means that one.
                let f = qualify_short_names(parse_filter(value)?, users);
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

    /// Parses the one-line form `kind:value=role` (split on the first `:` and the last `=`),
    /// as the CLI takes it.
    pub fn parse_line(line: &str, users: &ResourceType) -> Result<Self, ScimError> {
        let bad = || ScimError::invalid_value("expected kind:value=role");
        let (kind, rest) = line.split_once(':').ok_or_else(bad)?;
        let (value, role) = rest.rsplit_once('=').ok_or_else(bad)?;
        Self::parse(kind, value, role, users)
    }

    /// The stored kind: `app_role`, `group` or `filter`.
    pub fn kind(&self) -> &'static str {
        match self.source {
            Source::AppRole(_) => "app_role",
            Source::Group(_) => "group",
            Source::Filter(_) => "filter",
        }
    }

    /// The stored value (a filter printed back in its canonical form).
    pub fn value(&self) -> String {
        match &self.source {
            Source::AppRole(v) | Source::Group(v) => v.clone(),
            Source::Filter(f) => f.to_string(),
        }
    }

    /// Whether the rule matches a user with these attributes and group names.
    pub fn matches(
        &self,
        user: &Map<String, Value>,
        groups: &[String],
        users: &ResourceType,
    ) -> bool {
        match &self.source {
            Source::AppRole(v) => app_roles(user).iter().any(|r| r.eq_ignore_ascii_case(v)),
            Source::Group(g) => groups.iter().any(|n| n.eq_ignore_ascii_case(g)),
            Source::Filter(f) => matches(f, user, users),
        }
    }

    /// Whether this is a group rule for the group `name`.
    pub fn maps_group(&self, name: &str) -> bool {
        matches!(&self.source, Source::Group(g) if g.eq_ignore_ascii_case(name))
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

/// The user's app roles: the value and the display name of each `roles` entry (Entra sends
/// `{"value":"UserAdministrator","display":"User Administrator"}`; `scim-core` has decoded the
/// JSON-encoded forms already), so a rule may name either.
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
                for k in ["value", "display", "displayName"] {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(v: Value) -> Map<String, Value> {
        scim_core::resource::normalize(&ResourceType::user(), &v).unwrap()
    }

    #[test]
    fn app_roles_match_by_value_or_display_name() {
        let rt = ResourceType::user();
        let u = user(json!({"userName": "a", "roles": [
            {"display": "User Administrator", "value": "UserAdministrator", "primary": "True"}
        ]}));
        for name in [
            "UserAdministrator",
            "User Administrator",
            "user administrator",
        ] {
            let r = RoleRule::parse("app_role", name, "Admin", &rt).unwrap();
            assert!(r.matches(&u, &[], &rt), "{name}");
        }
        let r = RoleRule::parse("app_role", "Administrator", "Admin", &rt).unwrap();
        assert!(!r.matches(&u, &[], &rt));
    }

    #[test]
    fn json_encoded_role_with_display_name_matches() {
        let rt = ResourceType::user();
        let u = user(json!({"userName": "a", "roles": [
            {"value": "{\"id\":\"7\",\"value\":\"Admin\",\"displayName\":\"Administrator\"}"}
        ]}));
        for name in ["Admin", "Administrator"] {
            let r = RoleRule::parse("app_role", name, "X", &rt).unwrap();
            assert!(r.matches(&u, &[], &rt), "{name}: {u:?}");
        }
    }

    #[test]
    fn lines_parse_and_bad_rules_are_refused() {
        let rt = ResourceType::user();
        let r = RoleRule::parse_line(r#"filter:title eq "a=b"=Manager"#, &rt).unwrap();
        assert_eq!((r.kind(), r.target_role.as_str()), ("filter", "Manager"));
        assert_eq!(r.value(), r#"title eq "a=b""#);
        let r = RoleRule::parse_line("group:Sales Managers=Manager", &rt).unwrap();
        assert!(r.maps_group("sales managers"));
        assert!(RoleRule::parse("filter", "shoeSize eq 1", "X", &rt).is_err());
        // Short names of the enterprise extension resolve.
        let r = RoleRule::parse("filter", r#"department eq "Sales""#, "X", &rt).unwrap();
        let u = user(json!({"userName": "a",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}}));
        assert!(r.matches(&u, &[], &rt), "{r:?}");
        assert!(RoleRule::parse("nope", "x", "X", &rt).is_err());
        assert!(RoleRule::parse("group", " ", "X", &rt).is_err());
        assert!(RoleRule::parse("group", "G", " ", &rt).is_err());
        assert!(RoleRule::parse_line("group-Sales=X", &rt).is_err());
        assert!(RoleRule::parse_line("group:Sales", &rt).is_err());
    }
}
