//! Wire shapes. Unknown fields are ignored: ActiveCampaign adds permission flags over time.

use serde::{Deserialize, Deserializer};

/// Accepts a JSON string or number (ids are strings, the docs sometimes say integer).
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected an id, got {other}"
        ))),
    }
}

fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

#[derive(Debug, Deserialize)]
pub struct User {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(default, deserialize_with = "opt_string")]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub email: Option<String>,
    #[serde(default, rename = "firstName", deserialize_with = "opt_string")]
    pub first_name: Option<String>,
    #[serde(default, rename = "lastName", deserialize_with = "opt_string")]
    pub last_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct UserEnvelope {
    pub user: User,
}

#[derive(Debug, Deserialize)]
pub struct UsersPage {
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub meta: Option<Meta>,
}

#[derive(Debug, Deserialize)]
pub struct Meta {
    #[serde(default, deserialize_with = "opt_string")]
    pub total: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Group {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(default, deserialize_with = "opt_string")]
    pub title: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct GroupsPage {
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// `GET /users/{id}/userGroup`: the link record; `groupid` is the permission group.
#[derive(Debug, Deserialize)]
pub struct UserGroupEnvelope {
    #[serde(rename = "userGroup")]
    pub user_group: Option<UserGroup>,
}

#[derive(Debug, Deserialize)]
pub struct UserGroup {
    #[serde(default, deserialize_with = "opt_string")]
    pub groupid: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub userid: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub user: Option<String>,
}

/// `GET /groups/{id}/userGroups`: a group's link records (shape not verified, §1.4 [inf]).
#[derive(Debug, Deserialize)]
pub struct UserGroupsPage {
    #[serde(default, rename = "userGroups")]
    pub user_groups: Vec<UserGroup>,
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// The union of error bodies the API returns.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ErrorItem {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub source: Option<ErrorSource>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ErrorSource {
    #[serde(default)]
    pub pointer: Option<String>,
}
