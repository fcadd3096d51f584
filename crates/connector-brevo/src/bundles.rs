//! Roles as privilege bundles: `{"Marketer":[{"feature":…,"permissions":[…]}],"Admin":"all"}`.

use serde_json::{Value, json};
use std::collections::BTreeMap;

/// What one role grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bundle {
    /// `all_features_access: true`.
    All,
    /// feature → permissions.
    Privileges(BTreeMap<String, Vec<String>>),
}

impl Bundle {
    /// The invite / update-permissions body for `email` (all three fields are required).
    pub fn body(&self, email: &str) -> Value {
        match self {
            Bundle::All => json!({"email": email, "all_features_access": true, "privileges": []}),
            Bundle::Privileges(p) => json!({
                "email": email,
                "all_features_access": false,
                "privileges": p.iter().map(|(f, perms)| json!({"feature": f, "permissions": perms})).collect::<Vec<_>>(),
            }),
        }
    }
}

/// The integration's roles, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundles(pub Vec<(String, Bundle)>);

impl Bundles {
    /// Parses the `role_privileges` setting; the error says what to fix.
    pub fn parse(text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| format!("role_privileges is not valid JSON: {e}"))?;
        let Value::Object(map) = v else {
            return Err("role_privileges must be a JSON object of role name → privileges".into());
        };
        if map.is_empty() {
            return Err("role_privileges names no role".into());
        }
        let mut out = Vec::new();
        for (name, spec) in map {
            if name.trim().is_empty() {
                return Err("role_privileges has a role with an empty name".into());
            }
            let bundle = match spec {
                Value::String(s) if s == "all" => Bundle::All,
                Value::Array(items) => {
                    let mut p = BTreeMap::new();
                    for item in items {
                        let feature = item
                            .get("feature")
                            .and_then(Value::as_str)
                            .filter(|f| !f.is_empty())
                            .ok_or_else(|| {
                                format!("role '{name}': every privilege needs a \"feature\"")
                            })?;
                        let perms = item
                            .get("permissions")
                            .and_then(Value::as_array)
                            .ok_or_else(|| format!("role '{name}': feature '{feature}' needs \"permissions\": [...]"))?
                            .iter()
                            .map(|x| x.as_str().map(str::to_string).ok_or_else(|| format!("role '{name}': permissions of '{feature}' must be strings")))
                            .collect::<Result<Vec<_>, _>>()?;
                        p.insert(feature.to_string(), perms);
                    }
                    Bundle::Privileges(p)
                }
                _ => {
                    return Err(format!(
                        "role '{name}': give a list of {{\"feature\",\"permissions\"}} or \"all\""
                    ));
                }
            };
            out.push((name, bundle));
        }
        Ok(Bundles(out))
    }

    pub fn get(&self, name: &str) -> Option<&Bundle> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, b)| b)
    }

    /// The role whose bundle is exactly what a user holds (for adopting an account).
    pub fn matching(&self, all: bool, held: &BTreeMap<String, Vec<String>>) -> Option<&str> {
        self.0.iter().find_map(|(n, b)| {
            let same = match b {
                Bundle::All => all,
                Bundle::Privileges(p) => {
                    !all && p.len() == held.len()
                        && p.iter().all(|(f, perms)| {
                            held.get(f).is_some_and(|h| {
                                h.len() == perms.len() && perms.iter().all(|x| h.contains(x))
                            })
                        })
                }
            };
            same.then_some(n.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let b = Bundles::parse(
            r#"{"Marketer":[{"feature":"email_campaigns","permissions":["create_edit_delete"]}],"Admin":"all"}"#,
        )
        .unwrap();
        assert_eq!(b.0.len(), 2);
        assert_eq!(b.get("admin"), Some(&Bundle::All));
        assert_eq!(
            b.get("Marketer").unwrap().body("a@x.com")["privileges"][0]["feature"],
            "email_campaigns"
        );
        assert_eq!(
            b.get("Admin").unwrap().body("a@x.com")["all_features_access"],
            true
        );
        for bad in [
            "x",
            "[]",
            "{}",
            r#"{"R":[{"permissions":[]}]}"#,
            r#"{"R":[{"feature":"contacts"}]}"#,
            r#"{"R":[{"feature":"contacts","permissions":[1]}]}"#,
            r#"{"R":"some"}"#,
        ] {
            assert!(Bundles::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matches_what_a_user_holds() {
        let b = Bundles::parse(
            r#"{"Viewer":[{"feature":"contacts","permissions":["view"]}],"Admin":"all"}"#,
        )
        .unwrap();
        let held = BTreeMap::from([("contacts".to_string(), vec!["view".to_string()])]);
        assert_eq!(b.matching(false, &held), Some("Viewer"));
        assert_eq!(b.matching(true, &BTreeMap::new()), Some("Admin"));
        assert_eq!(b.matching(false, &BTreeMap::new()), None);
    }
}
