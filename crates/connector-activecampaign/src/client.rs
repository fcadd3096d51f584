//! The HTTP client.

use crate::DESCRIPTOR;
use crate::errors::{classify, transport};
use crate::model::{GroupsPage, User, UserEnvelope, UserGroupEnvelope, UsersPage};
use async_trait::async_trait;
use base64::Engine;
use connector_api::exchange::Pending;
use connector_api::{
    AccountIdentity, Connector, ConnectorError, Descriptor, DesiredUser, NoThrottle, Page, Result,
    Role, TargetUser, Throttle,
};
use rand::RngCore;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;

/// Page size for lists (the API's maximum).
const PAGE: u64 = 100;

/// An ActiveCampaign account reached with one API key.
#[derive(Clone)]
pub struct ActiveCampaign {
    http: reqwest::Client,
    base: Url,
    api_key: String,
    /// Every request takes a slot of the account's shared rate limit.
    throttle: Arc<dyn Throttle>,
}

impl std::fmt::Debug for ActiveCampaign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveCampaign")
            .field("base", &self.base.as_str())
            .field("api_key", &"***")
            .finish()
    }
}

/// The API base URL (ending in `/api/3`) for what an admin typed: the full API URL from
/// Settings → Developer, the account's API host (`contoso.api-us1.com`), the app's address
/// (`contoso.activehosted.com`), or only the account name (`contoso`). The last two are read
/// as `https://<account>.api-us1.com`, the usual region: the UI shows the URL it will call,
/// so an account in another region is corrected by pasting the URL from Settings → Developer.
pub fn api_url(input: &str) -> std::result::Result<String, String> {
    let t = input.trim().trim_end_matches('/');
    if t.is_empty() {
        return Err("the API URL is empty: paste it from Settings → Developer".into());
    }
    let is_label =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let with_scheme = if let Some((_, rest)) = input.trim().split_once("://") {
        if rest.trim_matches('/').is_empty() {
            return Err(format!("the API URL '{input}' has no host"));
        }
        t.to_owned()
    } else if let Some(account) = t
        .to_ascii_lowercase()
        .strip_suffix(".activehosted.com")
        .filter(|a| is_label(a))
    {
        format!("https://{account}.api-us1.com")
    } else if is_label(t) {
        format!("https://{}.api-us1.com", t.to_ascii_lowercase())
    } else if t.contains('.') || t.contains(':') {
        format!("https://{t}")
    } else {
        return Err(format!(
            "'{input}' is not an API URL: paste it from Settings → Developer, e.g. https://contoso.api-us1.com/api/3"
        ));
    };
    let full = if with_scheme.ends_with("/api/3") {
        with_scheme
    } else {
        format!("{with_scheme}/api/3")
    };
    let url =
        Url::parse(&full).map_err(|e| format!("the API URL '{input}' is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(format!(
            "the API URL must start with https://, got '{input}'"
        ));
    }
    Ok(full)
}

impl ActiveCampaign {
    /// A connector for `base_url` (with or without `/api/3`) and `api_key`; `policy` says
    /// whether the URL may be private (the HTTP client comes from `target-http`).
    pub fn new(
        base_url: &str,
        api_key: &str,
        policy: target_http::Policy,
    ) -> std::result::Result<Self, String> {
        let base = Url::parse(&format!("{}/", api_url(base_url)?))
            .map_err(|e| format!("the API URL '{base_url}' is not a valid URL: {e}"))?;
        if api_key.trim().is_empty() {
            return Err("the API key is empty".into());
        }
        let http = target_http::client_for(base.as_str(), policy).map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            base,
            api_key: api_key.trim().to_string(),
            throttle: Arc::new(NoThrottle),
        })
    }

    /// Takes a rate-limit slot from `throttle` before every request.
    pub fn with_throttle(mut self, throttle: Arc<dyn Throttle>) -> Self {
        self.throttle = throttle;
        self
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        url
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<Value>,
        what: &str,
    ) -> Result<(u16, String)> {
        self.throttle.acquire().await?;
        let sent = body.map(|b| b.to_string());
        let exchange = Pending::start(method.as_str(), url.as_str(), sent.as_deref());
        let report =
            |status: Option<u16>, response: Option<&str>| exchange.finish(status, response);
        let mut rb = self
            .http
            .request(method.clone(), url)
            .header("Api-Token", &self.api_key)
            .header("Accept", "application/json");
        if let Some(b) = &sent {
            rb = rb
                .header("Content-Type", "application/json")
                .body(b.clone());
        }
        let resp = rb.send().await.map_err(|e| {
            report(None, None);
            transport(&e, what)
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.map_err(|e| {
            report(Some(status), None);
            transport(&e, what)
        })?;
        report(Some(status), Some(&text));
        if (200..300).contains(&status) {
            Ok((status, text))
        } else {
            Err(classify(status, retry_after.as_deref(), &text, what))
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Value>,
        what: &str,
    ) -> Result<T> {
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let (_, text) = self.send(method, url, body, what).await?;
        serde_json::from_str(&text).map_err(|e| {
            ConnectorError::Permanent(format!(
                "{what}: unexpected response from ActiveCampaign: {e}"
            ))
        })
    }

    /// `GET …` that answers `None` for not-found.
    async fn find(&self, segments: &[&str], what: &str) -> Result<Option<TargetUser>> {
        match self
            .call::<UserEnvelope>(Method::GET, segments, &[], None, what)
            .await
        {
            Ok(env) => Ok(Some(self.user_with_group(env.user).await?)),
            Err(ConnectorError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The user object does not carry its group: read the link record.
    async fn user_with_group(&self, u: User) -> Result<TargetUser> {
        let roles = self.group_of(&u.id).await?;
        Ok(to_target(u, roles))
    }

    /// The permission group of user `id` (one request: the link record).
    async fn group_of(&self, id: &str) -> Result<Vec<String>> {
        let what = format!("read permission group of user {id}");
        match self
            .call::<UserGroupEnvelope>(Method::GET, &["users", id, "userGroup"], &[], None, &what)
            .await
        {
            Ok(env) => Ok(env
                .user_group
                .and_then(|g| g.groupid.or(g.group))
                .into_iter()
                .collect()),
            Err(ConnectorError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// `PUT /users/{id}` with `fields` in the `user` envelope, the answer not needed.
    async fn put_user(&self, id: &str, fields: Value, what: &str) -> Result<()> {
        let _: Value = self
            .call(
                Method::PUT,
                &["users", id],
                &[],
                Some(json!({"user": fields})),
                what,
            )
            .await?;
        Ok(())
    }

    /// A long random password; tenants sign in by SSO, so nobody needs to know it.
    fn random_password() -> String {
        let mut bytes = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        format!(
            "Scb-{}!9a",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )
    }
}

fn to_target(u: User, roles: Vec<String>) -> TargetUser {
    TargetUser {
        id: u.id,
        email: u.email.unwrap_or_default(),
        username: u.username,
        first_name: u.first_name.filter(|s| !s.is_empty()),
        last_name: u.last_name.filter(|s| !s.is_empty()),
        roles,
        ..TargetUser::default()
    }
}

fn single_role(roles: &[String], what: &str) -> Result<String> {
    roles.first().cloned().ok_or_else(|| {
        ConnectorError::Permanent(format!(
            "{what}: ActiveCampaign needs a permission group and none was resolved"
        ))
    })
}

#[async_trait]
impl Connector for ActiveCampaign {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        let env: UserEnvelope = self
            .call(
                Method::GET,
                &["users", "me"],
                &[],
                None,
                "read the API key's user",
            )
            .await?;
        let u = env.user;
        let name = [u.first_name.as_deref(), u.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(AccountIdentity {
            account: self.base.host_str().unwrap_or_default().to_string(),
            user_id: u.id,
            user_email: u.email.unwrap_or_default(),
            user_name: if name.is_empty() {
                u.username.unwrap_or_default()
            } else {
                name
            },
        })
    }

    async fn list_roles(&self) -> Result<Vec<Role>> {
        let mut roles = Vec::new();
        let mut offset = 0;
        loop {
            let page: GroupsPage = self
                .call(
                    Method::GET,
                    &["groups"],
                    &[("limit", PAGE.to_string()), ("offset", offset.to_string())],
                    None,
                    "list permission groups",
                )
                .await?;
            let n = page.groups.len() as u64;
            roles.extend(page.groups.into_iter().map(|g| Role {
                name: g.title.unwrap_or_else(|| format!("Group {}", g.id)),
                id: g.id,
            }));
            let total = page
                .meta
                .and_then(|m| m.total)
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(0);
            offset += n;
            if n == 0 || offset >= total {
                return Ok(roles);
            }
        }
    }

    async fn get_user(&self, id: &str) -> Result<Option<TargetUser>> {
        self.find(&["users", id], &format!("get user {id}")).await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<TargetUser>> {
        self.find(
            &["users", "email", email],
            &format!("find user by email {email}"),
        )
        .await
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<TargetUser>> {
        self.find(
            &["users", "username", username],
            &format!("find user by username {username}"),
        )
        .await
    }

    /// `GET /users` does not carry the permission group (§1.3).
    fn list_reports_roles(&self) -> bool {
        false
    }

    async fn roles_of(&self, id: &str) -> Result<Option<Vec<String>>> {
        Ok(Some(self.group_of(id).await?))
    }

    /// `GET /groups/{id}/userGroups` (§1.4; its shape is inferred): a page of the group's
    /// link records, whose `userid` is the member.
    async fn list_role_members(
        &self,
        role_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Page<String>>> {
        // The member list's endpoint and shape are inferred, not documented (§1.4): anything
        // but a list of this group's links (404, another shape, links of other groups) makes
        // the import read each account's own group link instead, which is documented.
        let answer: serde_json::Value = match self
            .call(
                Method::GET,
                &["groups", role_id, "userGroups"],
                &[
                    ("limit", limit.min(PAGE).to_string()),
                    ("offset", offset.to_string()),
                ],
                None,
                &format!("list members of group {role_id}"),
            )
            .await
        {
            Ok(v) => v,
            Err(ConnectorError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if !answer
            .get("userGroups")
            .is_some_and(serde_json::Value::is_array)
        {
            return Ok(None);
        }
        let Ok(page) = serde_json::from_value::<crate::model::UserGroupsPage>(answer) else {
            return Ok(None);
        };
        let this_group = |l: &crate::model::UserGroup| {
            l.groupid.as_deref().or(l.group.as_deref()) == Some(role_id)
        };
        if !page.user_groups.iter().all(this_group) {
            return Ok(None);
        }
        let total = page
            .meta
            .and_then(|m| m.total)
            .and_then(|t| t.parse().ok())
            .unwrap_or(page.user_groups.len() as u64);
        Ok(Some(Page {
            items: page
                .user_groups
                .into_iter()
                .filter_map(|l| l.userid.or(l.user))
                .collect(),
            total,
        }))
    }

    async fn list_users(&self, offset: u64, limit: u64) -> Result<Page<TargetUser>> {
        let page: UsersPage = self
            .call(
                Method::GET,
                &["users"],
                &[
                    ("limit", limit.min(PAGE).to_string()),
                    ("offset", offset.to_string()),
                ],
                None,
                "list users",
            )
            .await?;
        let total = page
            .meta
            .and_then(|m| m.total)
            .and_then(|t| t.parse().ok())
            .unwrap_or(page.users.len() as u64);
        Ok(Page {
            items: page
                .users
                .into_iter()
                .map(|u| to_target(u, Vec::new()))
                .collect(),
            total,
        })
    }

    async fn create_user(&self, user: &DesiredUser) -> Result<TargetUser> {
        let what = format!("create user {}", user.email);
        let group = single_role(&user.roles, &what)?;
        let body = json!({"user": {
            "username": user.username,
            "email": user.email,
            "firstName": user.first_name.clone().unwrap_or_default(),
            "lastName": user.last_name.clone().unwrap_or_default(),
            "group": group,
            "password": Self::random_password(),
        }});
        let env: UserEnvelope = self
            .call(Method::POST, &["users"], &[], Some(body), &what)
            .await?;
        Ok(to_target(env.user, vec![group]))
    }

    async fn update_user(&self, id: &str, user: &DesiredUser) -> Result<TargetUser> {
        let what = format!("update user {id}");
        let group = single_role(&user.roles, &what)?;
        // Never `username` (the docs say it cannot change); always `group` (422 without it).
        let body = json!({"user": {
            "email": user.email,
            "firstName": user.first_name.clone().unwrap_or_default(),
            "lastName": user.last_name.clone().unwrap_or_default(),
            "group": group,
        }});
        let env: UserEnvelope = self
            .call(Method::PUT, &["users", id], &[], Some(body), &what)
            .await?;
        Ok(to_target(env.user, vec![group]))
    }

    async fn set_roles(&self, id: &str, roles: &[String]) -> Result<()> {
        let what = format!("set permission group of user {id}");
        let group = single_role(roles, &what)?;
        self.put_user(id, json!({"group": group}), &what).await
    }

    async fn rotate_password(&self, id: &str, roles: &[String]) -> Result<()> {
        // Deprovisioned users keep their account (ActiveCampaign has no deactivate, §1.6):
        // a password nobody knows closes the door password sign-in would leave open.
        let what = format!("scramble the password of user {id}");
        // `group` rides along: a PUT without it was answered 422 (§1.4, recorded conflict).
        let group = single_role(roles, &what)?;
        let fields = json!({"group": group, "password": Self::random_password()});
        self.put_user(id, fields, &what).await
    }

    async fn delete_user(&self, id: &str) -> Result<()> {
        let what = format!("delete user {id}");
        let _: Value = self
            .call(Method::DELETE, &["users", id], &[], None, &what)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use target_http::Policy;

    #[test]
    fn base_url_forms() {
        for (given, want) in [
            (
                "https://acme.api-us1.com",
                "https://acme.api-us1.com/api/3/users/me",
            ),
            (
                "https://acme.api-us1.com/",
                "https://acme.api-us1.com/api/3/users/me",
            ),
            (
                "https://acme.api-us1.com/api/3",
                "https://acme.api-us1.com/api/3/users/me",
            ),
            (
                "https://acme.api-us1.com/api/3/",
                "https://acme.api-us1.com/api/3/users/me",
            ),
        ] {
            let ac = ActiveCampaign::new(given, "k", Policy::STRICT).unwrap();
            assert_eq!(ac.url(&["users", "me"]).as_str(), want, "{given}");
        }
        assert!(ActiveCampaign::new("ftp://x", "k", Policy::STRICT).is_err());
        assert!(ActiveCampaign::new("https://x", " ", Policy::STRICT).is_err());
    }

    #[test]
    fn what_the_admin_screen_shows_becomes_the_api_url() {
        for (given, want) in [
            ("contoso", "https://contoso.api-us1.com/api/3"),
            (" Contoso ", "https://contoso.api-us1.com/api/3"),
            ("contoso.api-us1.com", "https://contoso.api-us1.com/api/3"),
            ("contoso.api-us3.com/", "https://contoso.api-us3.com/api/3"),
            (
                "contoso.activehosted.com",
                "https://contoso.api-us1.com/api/3",
            ),
            (
                "https://contoso.api-us1.com",
                "https://contoso.api-us1.com/api/3",
            ),
            (
                "https://contoso.api-us1.com/api/3/",
                "https://contoso.api-us1.com/api/3",
            ),
            ("http://127.0.0.1:4010/api/3", "http://127.0.0.1:4010/api/3"),
        ] {
            assert_eq!(api_url(given).as_deref(), Ok(want), "{given}");
        }
        for bad in [
            "",
            "   ",
            "contoso corp",
            "ftp://contoso.api-us1.com",
            "https://",
        ] {
            assert!(api_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        let ac = ActiveCampaign::new("https://acme.api-us1.com", "k", Policy::STRICT).unwrap();
        assert_eq!(
            ac.url(&["users", "email", "o'brien+x/y@ex.com"]).as_str(),
            "https://acme.api-us1.com/api/3/users/email/o'brien+x%2Fy@ex.com"
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let ac = ActiveCampaign::new("https://acme.api-us1.com", "super-secret", Policy::STRICT)
            .unwrap();
        assert!(!format!("{ac:?}").contains("super-secret"));
    }

    #[test]
    fn passwords_are_long_and_random() {
        let (a, b) = (
            ActiveCampaign::random_password(),
            ActiveCampaign::random_password(),
        );
        assert_ne!(a, b);
        assert!(a.len() >= 36);
    }
}
