//! The HTTP client.

use crate::errors::{classify, transport};
use crate::{Bundle, Bundles, DESCRIPTOR};
use async_trait::async_trait;
use connector_api::exchange::Pending;
use connector_api::{
    AccountIdentity, Connector, ConnectorError, Descriptor, DesiredUser, LimitReport, NoThrottle,
    Page, Result, Role, TargetUser, Throttle,
};
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A Brevo account reached with one API key.
/// How long one answer of the unpaged user list serves an import's later pages.
const LISTING_KEPT: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Clone)]
pub struct Brevo {
    http: reqwest::Client,
    base: Url,
    api_key: String,
    bundles: Bundles,
    throttle: Arc<dyn Throttle>,
    /// The last answer of the unpaged user list, for the import's next pages.
    listed: Arc<connector_api::whole_list::WholeList<TargetUser>>,
}

impl std::fmt::Debug for Brevo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Brevo")
            .field("base", &self.base.as_str())
            .field("api_key", &"***")
            .finish()
    }
}

/// Booleans and strings ("true") alike: the reference says the values are strings.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[derive(Debug, Deserialize)]
struct InvitedUser {
    email: String,
    #[serde(default)]
    is_owner: Value,
}

#[derive(Debug, Deserialize)]
struct InvitedUsers {
    #[serde(default)]
    users: Vec<InvitedUser>,
}

#[derive(Debug, Deserialize)]
struct Privilege {
    feature: String,
    #[serde(default)]
    permissions: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Permissions {
    email: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    privileges: Vec<Privilege>,
}

/// The rate-limit headers of an answer, if Brevo sent them.
fn limit_report(h: &HeaderMap) -> Option<LimitReport> {
    let num = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    Some(LimitReport {
        limit: num("x-sib-ratelimit-limit"),
        remaining: num("x-sib-ratelimit-remaining")?,
        reset: Duration::from_secs(num("x-sib-ratelimit-reset")?),
    })
}

impl Brevo {
    /// A connector for `base_url` (`https://api.brevo.com/v3`), `api_key` and the roles'
    /// privilege bundles (the `role_privileges` setting).
    pub fn new(
        base_url: &str,
        api_key: &str,
        role_privileges: &str,
        policy: target_http::Policy,
    ) -> std::result::Result<Self, String> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let full = if trimmed.ends_with("/v3") {
            trimmed.to_string()
        } else {
            format!("{trimmed}/v3")
        };
        let base = Url::parse(&format!("{full}/"))
            .map_err(|e| format!("the API URL '{base_url}' is not a valid URL: {e}"))?;
        if !matches!(base.scheme(), "https" | "http") {
            return Err(format!(
                "the API URL must start with https://, got '{base_url}'"
            ));
        }
        if api_key.trim().is_empty() {
            return Err("the API key is empty".into());
        }
        let bundles = Bundles::parse(role_privileges)?;
        let http = target_http::client_for(base.as_str(), policy).map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            base,
            api_key: api_key.trim().to_string(),
            bundles,
            throttle: Arc::new(NoThrottle),
            listed: Arc::new(connector_api::whole_list::WholeList::new(LISTING_KEPT)),
        })
    }

    /// Takes a slot of the account's hourly limit before every request.
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

    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Value>,
        what: &str,
    ) -> Result<Value> {
        self.throttle.acquire().await?;
        let url = self.url(segments);
        let sent = body.map(|b| b.to_string());
        // Reported to the trace (bodies masked there).
        let exchange = Pending::start(method.as_str(), url.as_str(), sent.as_deref());
        let mut rb = self
            .http
            .request(method, url)
            .header("api-key", &self.api_key)
            .header("Accept", "application/json");
        if let Some(b) = sent {
            rb = rb.header("Content-Type", "application/json").body(b);
        }
        let resp = rb.send().await.map_err(|e| {
            exchange.finish(None, None);
            transport(&e, what)
        })?;
        let status = resp.status().as_u16();
        let report = limit_report(resp.headers());
        if let Some(r) = report {
            self.throttle.observe(r).await;
        }
        let text = resp.text().await.map_err(|e| {
            exchange.finish(Some(status), None);
            transport(&e, what)
        })?;
        exchange.finish(Some(status), Some(&text));
        if !(200..300).contains(&status) {
            return Err(classify(status, report.map(|r| r.reset), &text, what));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| {
            ConnectorError::Permanent(format!("{what}: unexpected response from Brevo: {e}"))
        })
    }

    fn parse<T: for<'de> Deserialize<'de>>(v: Value, what: &str) -> Result<T> {
        serde_json::from_value(v).map_err(|e| {
            ConnectorError::Permanent(format!("{what}: unexpected response from Brevo: {e}"))
        })
    }

    async fn invited(&self) -> Result<Vec<InvitedUser>> {
        let what = "list organization users";
        let v = self
            .call(
                Method::GET,
                &["organization", "invited", "users"],
                None,
                what,
            )
            .await?;
        Ok(Self::parse::<InvitedUsers>(v, what)?.users)
    }

    async fn permissions(&self, email: &str) -> Result<Option<Permissions>> {
        let what = format!("read the permissions of {email}");
        match self
            .call(
                Method::GET,
                &["organization", "user", email, "permissions"],
                None,
                &what,
            )
            .await
        {
            Ok(v) => Ok(Some(Self::parse(v, &what)?)),
            Err(ConnectorError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn bundle(&self, roles: &[String], what: &str) -> Result<&Bundle> {
        let role = roles.first().ok_or_else(|| {
            ConnectorError::Permanent(format!("{what}: Brevo needs a role and none was resolved"))
        })?;
        self.bundles.get(role).ok_or_else(|| {
            ConnectorError::Permanent(format!(
                "{what}: the role '{role}' has no privilege bundle in role_privileges"
            ))
        })
    }

    /// The pending or active state of an invitation, for the user page.
    pub async fn status(&self, email: &str) -> Result<Option<String>> {
        Ok(self.permissions(email).await?.and_then(|p| p.status))
    }
}

fn user(email: String, roles: Vec<String>) -> TargetUser {
    TargetUser {
        id: email.clone(),
        email,
        username: None,
        first_name: None,
        last_name: None,
        roles,
        ..TargetUser::default()
    }
}

#[async_trait]
impl Connector for Brevo {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        let users = self.invited().await?;
        let owner = users.iter().find(|u| truthy(&u.is_owner)).ok_or_else(|| {
            ConnectorError::Permanent(
                "list organization users: Brevo named no account owner".into(),
            )
        })?;
        Ok(AccountIdentity {
            account: format!(
                "{} ({} users)",
                self.base.host_str().unwrap_or_default(),
                users.len()
            ),
            user_id: owner.email.clone(),
            user_email: owner.email.clone(),
            user_name: owner.email.clone(),
        })
    }

    async fn list_roles(&self) -> Result<Vec<Role>> {
        // Roles are the integration's own bundles: no call, no slot of the hourly limit.
        Ok(self
            .bundles
            .0
            .iter()
            .map(|(n, _)| Role {
                id: n.clone(),
                name: n.clone(),
            })
            .collect())
    }

    async fn get_user(&self, id: &str) -> Result<Option<TargetUser>> {
        let Some(p) = self.permissions(id).await? else {
            return Ok(None);
        };
        let held: BTreeMap<String, Vec<String>> = p
            .privileges
            .into_iter()
            .map(|x| (x.feature, x.permissions))
            .collect();
        let role = self
            .bundles
            .matching(false, &held)
            .map(str::to_string)
            .into_iter()
            .collect();
        Ok(Some(user(p.email, role)))
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<TargetUser>> {
        self.get_user(email).await
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<TargetUser>> {
        if username.contains('@') {
            self.get_user(username).await
        } else {
            Ok(None)
        }
    }

    fn list_reports_roles(&self) -> bool {
        false
    }

    async fn list_users(&self, offset: u64, limit: u64) -> Result<Page<TargetUser>> {
        // No paging: one request returns everyone, kept for the pass's next pages (each
        // request is one of the account's 100 an hour).
        self.listed
            .page(offset, limit, std::time::Instant::now(), || async {
                Ok(self
                    .invited()
                    .await?
                    .into_iter()
                    .map(|u| user(u.email, Vec::new()))
                    .collect())
            })
            .await
    }

    async fn create_user(&self, u: &DesiredUser) -> Result<TargetUser> {
        let what = format!("invite {}", u.email);
        let body = self.bundle(&u.roles, &what)?.body(&u.email);
        self.call(
            Method::POST,
            &["organization", "user", "invitation", "send"],
            Some(body),
            &what,
        )
        .await?;
        Ok(user(u.email.clone(), u.roles.clone()))
    }

    async fn update_user(&self, id: &str, _u: &DesiredUser) -> Result<TargetUser> {
        Err(ConnectorError::Permanent(format!(
            "update {id}: Brevo users have no profile to change"
        )))
    }

    async fn set_roles(&self, id: &str, roles: &[String]) -> Result<()> {
        let what = format!("update the permissions of {id}");
        let body = self.bundle(roles, &what)?.body(id);
        self.call(
            Method::POST,
            &["organization", "user", "update", "permissions"],
            Some(body),
            &what,
        )
        .await?;
        Ok(())
    }

    async fn account_state(&self, id: &str) -> Result<Option<String>> {
        self.status(id).await
    }

    async fn delete_user(&self, id: &str) -> Result<()> {
        // A pending invitation is cancelled; an active user's access is revoked.
        let Some(p) = self.permissions(id).await? else {
            return Err(ConnectorError::NotFound(format!("{id} is not in Brevo")));
        };
        let pending = p.status.as_deref() == Some("pending");
        let (action, what) = if pending {
            ("cancel", format!("cancel the invitation of {id}"))
        } else {
            ("revoke", format!("revoke {id}"))
        };
        self.call(
            Method::PUT,
            &["organization", "user", "invitation", action, id],
            None,
            &what,
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use target_http::Policy;

    const ROLES: &str = r#"{"Admin":"all"}"#;

    #[test]
    fn base_url_and_bundles() {
        for given in ["https://api.brevo.com", "https://api.brevo.com/v3/"] {
            let b = Brevo::new(given, "k", ROLES, Policy::STRICT).unwrap();
            assert_eq!(
                b.url(&["organization", "user", "a@x.com", "permissions"])
                    .as_str(),
                "https://api.brevo.com/v3/organization/user/a@x.com/permissions"
            );
        }
        assert!(Brevo::new("https://api.brevo.com", "k", "{", Policy::STRICT).is_err());
        assert!(Brevo::new("https://api.brevo.com", "", ROLES, Policy::STRICT).is_err());
        let b = Brevo::new(
            "https://api.brevo.com",
            "xkeysib-secret",
            ROLES,
            Policy::STRICT,
        )
        .unwrap();
        assert!(!format!("{b:?}").contains("xkeysib-secret"));
    }

    #[test]
    fn rate_limit_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(limit_report(&h), None);
        h.insert("x-sib-ratelimit-limit", "200".parse().unwrap());
        h.insert("x-sib-ratelimit-remaining", "17".parse().unwrap());
        h.insert("x-sib-ratelimit-reset", "600".parse().unwrap());
        assert_eq!(
            limit_report(&h),
            Some(LimitReport {
                limit: Some(200),
                remaining: 17,
                reset: Duration::from_secs(600)
            })
        );
    }
}
