//! The HTTP client.

use crate::errors::{classify, parse_retry_after, transport};
use crate::model::{Envelope, Role as PdRole, RoleAssignment, User};
use crate::{DESCRIPTOR, cost};
use async_trait::async_trait;
use connector_api::exchange::Pending;
use connector_api::{
    AccountIdentity, Connector, ConnectorError, Descriptor, DesiredUser, LimitReport, NoThrottle,
    Page, Result, Role, TargetUser, Throttle,
};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;

/// Roles per page (the API's maximum for `/roles`).
const PAGE: u64 = 500;

/// A Pipedrive company reached with one API token.
/// How long one answer of the unpaged user list serves an import's later pages.
const LISTING_KEPT: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Clone)]
pub struct Pipedrive {
    http: reqwest::Client,
    base: Url,
    token: String,
    /// The permission set new users get (`access[]` is fixed at creation).
    permission_set: Option<String>,
    throttle: Arc<dyn Throttle>,
    /// The last answer of the unpaged user list, for the import's next pages.
    listed: Arc<connector_api::whole_list::WholeList<TargetUser>>,
}

impl std::fmt::Debug for Pipedrive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipedrive")
            .field("base", &self.base.as_str())
            .field("token", &"***")
            .finish()
    }
}

impl Pipedrive {
    /// A connector for `base_url` (`…/api/v1`, `…/v1`, or a company URL) and `token`.
    pub fn new(
        base_url: &str,
        token: &str,
        permission_set: Option<&str>,
        policy: target_http::Policy,
    ) -> std::result::Result<Self, String> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let parsed = Url::parse(trimmed)
            .map_err(|e| format!("the API URL '{base_url}' is not a valid URL: {e}"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(format!(
                "the API URL must start with https://, got '{base_url}'"
            ));
        }
        let full = if trimmed.ends_with("/v1") {
            trimmed.to_string()
        } else if parsed.host_str() == Some("api.pipedrive.com") {
            format!("{trimmed}/v1")
        } else {
            format!("{trimmed}/api/v1")
        };
        let base = Url::parse(&format!("{full}/"))
            .map_err(|e| format!("the API URL '{base_url}' is not a valid URL: {e}"))?;
        if token.trim().is_empty() {
            return Err("the API token is empty".into());
        }
        let http = target_http::client_for(base.as_str(), policy).map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            base,
            token: token.trim().to_string(),
            permission_set: permission_set
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            throttle: Arc::new(NoThrottle),
            listed: Arc::new(connector_api::whole_list::WholeList::new(LISTING_KEPT)),
        })
    }

    /// Takes the account's budget and a slot from `throttle` before every request.
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

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<Value>,
        what: &str,
    ) -> Result<Envelope<T>> {
        self.throttle
            .acquire_cost(cost(method.as_str(), segments))
            .await?;
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().copied());
        }
        let sent = body.map(|b| b.to_string());
        // Reported to the trace (bodies masked there).
        let exchange = Pending::start(method.as_str(), url.as_str(), sent.as_deref());
        let mut rb = self
            .http
            .request(method, url)
            .header("x-api-token", &self.token)
            .header("Accept", "application/json");
        if let Some(b) = sent {
            rb = rb.header("Content-Type", "application/json").body(b);
        }
        let resp = rb.send().await.map_err(|e| {
            exchange.finish(None, None);
            transport(&e, what)
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.map_err(|e| {
            exchange.finish(Some(status), None);
            transport(&e, what)
        })?;
        exchange.finish(Some(status), Some(&text));
        if status == 429 {
            // A wait longer than the burst window means the day's budget is spent: every
            // worker sharing the account waits instead of asking again. (A burst 429 is only
            // retried: reporting it would end the day's window after two seconds.)
            if let Some(reset) =
                parse_retry_after(retry_after.as_deref()).filter(|d| *d > crate::BURST_WINDOW)
            {
                self.throttle
                    .observe(LimitReport {
                        limit: None,
                        remaining: 0,
                        reset,
                    })
                    .await;
            }
        }
        if !(200..300).contains(&status) {
            return Err(classify(status, retry_after.as_deref(), &text, what));
        }
        let env: Envelope<T> = serde_json::from_str(&text).map_err(|e| {
            ConnectorError::Permanent(format!("{what}: unexpected response from Pipedrive: {e}"))
        })?;
        if !env.success {
            return Err(classify(400, None, &text, what));
        }
        Ok(env)
    }

    async fn roles_of(&self, id: u64) -> Result<Vec<String>> {
        let sid = id.to_string();
        let env: Envelope<Vec<RoleAssignment>> = self
            .call(
                Method::GET,
                &["users", &sid, "roleAssignments"],
                &[],
                None,
                &format!("read the roles of user {id}"),
            )
            .await?;
        Ok(env
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.role_id.to_string())
            .collect())
    }

    async fn with_roles(&self, u: User) -> Result<TargetUser> {
        let roles = self.roles_of(u.id).await?;
        Ok(to_target(u, roles))
    }

    async fn assignment(&self, method: Method, id: &str, role: &str, what: &str) -> Result<()> {
        let user_id: u64 = id.parse().map_err(|_| {
            ConnectorError::Permanent(format!("{what}: '{id}' is not a Pipedrive user id"))
        })?;
        let _: Envelope<Value> = self
            .call(
                method,
                &["roles", role, "assignments"],
                &[],
                Some(json!({"user_id": user_id})),
                what,
            )
            .await?;
        Ok(())
    }

    async fn set_active(&self, id: &str, active: bool, what: &str) -> Result<()> {
        let _: Envelope<Value> = self
            .call(
                Method::PUT,
                &["users", id],
                &[],
                Some(json!({"active_flag": active})),
                what,
            )
            .await?;
        Ok(())
    }
}

fn to_target(u: User, roles: Vec<String>) -> TargetUser {
    TargetUser {
        id: u.id.to_string(),
        email: u.email.unwrap_or_default(),
        username: None,
        first_name: None,
        last_name: None,
        roles,
        active: u.active_flag,
        last_login: u.last_login.filter(|l| !l.is_empty()),
    }
}

#[async_trait]
impl Connector for Pipedrive {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        let env: Envelope<User> = self
            .call(
                Method::GET,
                &["users", "me"],
                &[],
                None,
                "read the API token's user",
            )
            .await?;
        let me = env.data.ok_or_else(|| {
            ConnectorError::Permanent("read the API token's user: no user in the answer".into())
        })?;
        let host = self.base.host_str().unwrap_or_default().to_string();
        let account = match (&me.company_name, &me.company_domain) {
            (Some(n), Some(d)) => format!("{n} ({d}.pipedrive.com)"),
            (Some(n), None) => n.clone(),
            _ => host,
        };
        Ok(AccountIdentity {
            account,
            user_id: me.id.to_string(),
            user_email: me.email.clone().unwrap_or_default(),
            user_name: me.name.clone().unwrap_or_default(),
        })
    }

    async fn list_roles(&self) -> Result<Vec<Role>> {
        let mut roles = Vec::new();
        let mut start = 0u64;
        loop {
            let (s, l) = (start.to_string(), PAGE.to_string());
            let env: Envelope<Vec<PdRole>> = self
                .call(
                    Method::GET,
                    &["roles"],
                    &[("start", &s), ("limit", &l)],
                    None,
                    "list roles",
                )
                .await?;
            let more = env.more();
            let page = env.data.unwrap_or_default();
            let n = page.len() as u64;
            roles.extend(page.into_iter().map(|r| Role {
                name: r.name.unwrap_or_else(|| format!("Role {}", r.id)),
                id: r.id.to_string(),
            }));
            start += n;
            if !more || n == 0 {
                return Ok(roles);
            }
        }
    }

    async fn get_user(&self, id: &str) -> Result<Option<TargetUser>> {
        match self
            .call::<User>(
                Method::GET,
                &["users", id],
                &[],
                None,
                &format!("get user {id}"),
            )
            .await
        {
            Ok(env) => match env.data {
                Some(u) => Ok(Some(self.with_roles(u).await?)),
                None => Ok(None),
            },
            Err(ConnectorError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<TargetUser>> {
        // The search matches parts of addresses: keep the exact one. No match is `data: null`.
        let env: Envelope<Vec<User>> = self
            .call(
                Method::GET,
                &["users", "find"],
                &[("term", email), ("search_by_email", "1")],
                None,
                &format!("find user by email {email}"),
            )
            .await?;
        let found = env.data.unwrap_or_default().into_iter().find(|u| {
            u.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        });
        match found {
            Some(u) => Ok(Some(self.with_roles(u).await?)),
            None => Ok(None),
        }
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<TargetUser>> {
        // Pipedrive has no usernames; an e-mail-shaped one is looked up as the e-mail.
        if username.contains('@') {
            self.find_user_by_email(username).await
        } else {
            Ok(None)
        }
    }

    fn list_reports_roles(&self) -> bool {
        false
    }

    async fn list_users(&self, offset: u64, limit: u64) -> Result<Page<TargetUser>> {
        // `GET /users` has no paging: one call (20 tokens) returns everyone, kept for the
        // pass's next pages.
        self.listed
            .page(offset, limit, std::time::Instant::now(), || async {
                let env: Envelope<Vec<User>> = self
                    .call(Method::GET, &["users"], &[], None, "list users")
                    .await?;
                Ok(env
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|u| to_target(u, Vec::new()))
                    .collect())
            })
            .await
    }

    async fn create_user(&self, user: &DesiredUser) -> Result<TargetUser> {
        let what = format!("create user {}", user.email);
        let mut body = json!({"email": user.email, "active_flag": true});
        if let Some(set) = &self.permission_set {
            body["access"] = json!([{"app": "sales", "permission_set_id": set}]);
        }
        let env: Envelope<User> = self
            .call(Method::POST, &["users"], &[], Some(body), &what)
            .await?;
        let created = env.data.ok_or_else(|| {
            ConnectorError::Permanent(format!("{what}: no user in Pipedrive's answer"))
        })?;
        let id = created.id.to_string();
        for role in &user.roles {
            self.assignment(
                Method::POST,
                &id,
                role,
                &format!("assign role {role} to user {id}"),
            )
            .await?;
        }
        Ok(to_target(created, user.roles.clone()))
    }

    async fn update_user(&self, id: &str, _user: &DesiredUser) -> Result<TargetUser> {
        Err(ConnectorError::Permanent(format!(
            "update user {id}: Pipedrive's API changes nothing but active_flag"
        )))
    }

    async fn set_roles(&self, id: &str, roles: &[String]) -> Result<()> {
        let uid: u64 = id.parse().map_err(|_| {
            ConnectorError::Permanent(format!("set roles: '{id}' is not a Pipedrive user id"))
        })?;
        let held = self.roles_of(uid).await?;
        for r in roles.iter().filter(|r| !held.contains(r)) {
            self.add_role(id, r).await?;
        }
        for r in held.iter().filter(|r| !roles.contains(r)) {
            self.remove_role(id, r).await?;
        }
        Ok(())
    }

    async fn add_role(&self, id: &str, role: &str) -> Result<()> {
        self.assignment(
            Method::POST,
            id,
            role,
            &format!("assign role {role} to user {id}"),
        )
        .await
    }

    async fn remove_role(&self, id: &str, role: &str) -> Result<()> {
        self.assignment(
            Method::DELETE,
            id,
            role,
            &format!("remove role {role} from user {id}"),
        )
        .await
    }

    async fn deactivate_user(&self, id: &str) -> Result<()> {
        self.set_active(id, false, &format!("deactivate user {id}"))
            .await
    }

    async fn reactivate_user(&self, id: &str) -> Result<()> {
        self.set_active(id, true, &format!("reactivate user {id}"))
            .await
    }

    async fn delete_user(&self, id: &str) -> Result<()> {
        Err(ConnectorError::Permanent(format!(
            "delete user {id}: Pipedrive has no delete; users are deactivated"
        )))
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
                "https://api.pipedrive.com/v1",
                "https://api.pipedrive.com/v1/users/me",
            ),
            (
                "https://api.pipedrive.com",
                "https://api.pipedrive.com/v1/users/me",
            ),
            (
                "https://acme.pipedrive.com/api/v1/",
                "https://acme.pipedrive.com/api/v1/users/me",
            ),
            (
                "https://acme.pipedrive.com",
                "https://acme.pipedrive.com/api/v1/users/me",
            ),
        ] {
            let pd = Pipedrive::new(given, "k", None, Policy::STRICT).unwrap();
            assert_eq!(pd.url(&["users", "me"]).as_str(), want, "{given}");
        }
        assert!(Pipedrive::new("ftp://x", "k", None, Policy::STRICT).is_err());
        assert!(Pipedrive::new("https://api.pipedrive.com", " ", None, Policy::STRICT).is_err());
    }

    #[test]
    fn debug_hides_the_token() {
        let pd = Pipedrive::new(
            "https://api.pipedrive.com",
            "super-secret",
            None,
            Policy::STRICT,
        )
        .unwrap();
        assert!(!format!("{pd:?}").contains("super-secret"));
    }
}
