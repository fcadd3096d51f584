//! The HTTP client and the [`Connector`] implementation.

use crate::DESCRIPTOR;
use crate::errors::{classify, transport};
use crate::profile::{AuthHeader, Paging, Profile, RoleSlot, Updates, UserName};
use async_trait::async_trait;
use connector_api::exchange::Pending;
use connector_api::{
    AccountIdentity, Capabilities, Connector, ConnectorError, Descriptor, DesiredUser, NoThrottle,
    Page, Result, Role, TargetGroup, TargetUser, Throttle,
};
use reqwest::{Method, Url};
use scim_core::filter::{AttrPath, CompValue, CompareOp, Filter};
use scim_core::messages::PATCH_OP;
use scim_core::schema::{GROUP_SCHEMA, USER_SCHEMA};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

/// Page size asked for.
const PAGE: usize = 100;
/// Most pages walked when searching without a usable filter (100 × 100 users).
const MAX_PAGES: usize = 100;

/// A SCIM 2.0 target reached with one token, spoken to as its profile says.
#[derive(Clone)]
pub struct Scim {
    http: reqwest::Client,
    base: Url,
    token: String,
    auth: AuthHeader,
    profile: &'static Profile,
    throttle: Arc<dyn Throttle>,
    /// PATCH or PUT: the profile's, unless the target's ServiceProviderConfig says it has no
    /// PATCH (read once, on the first change).
    updates: Arc<Mutex<Option<Updates>>>,
}

impl std::fmt::Debug for Scim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scim")
            .field("base", &self.base.as_str())
            .field("profile", &self.profile.name)
            .field("token", &"***")
            .finish()
    }
}

/// An answer: status, body, ETag.
struct Answer {
    body: Value,
    etag: Option<String>,
}

fn user_filter(attr: &str, value: &str) -> String {
    Filter::Compare(
        AttrPath::new(attr),
        CompareOp::Eq,
        CompValue::String(value.to_string()),
    )
    .to_string()
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

/// Does the resource carry `needle` as its userName or one of its e-mails?
fn is_user(resource: &Value, needle: &str) -> bool {
    let n = needle.trim();
    text(resource.get("userName")).is_some_and(|u| u.eq_ignore_ascii_case(n))
        || resource
            .get("emails")
            .and_then(Value::as_array)
            .is_some_and(|e| {
                e.iter()
                    .any(|x| text(x.get("value")).is_some_and(|v| v.eq_ignore_ascii_case(n)))
            })
}

fn resources(body: &Value) -> Vec<Value> {
    body.get("Resources")
        .or_else(|| body.get("resources"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn patch(ops: Vec<Value>) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

impl Scim {
    /// A connector for the SCIM base URL, token and profile; `auth` overrides the profile's
    /// header. `policy` says whether the URL may be private.
    pub fn new(
        base_url: &str,
        token: &str,
        profile: &'static Profile,
        auth: Option<AuthHeader>,
        policy: target_http::Policy,
    ) -> std::result::Result<Self, String> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let base = Url::parse(&format!("{trimmed}/"))
            .map_err(|e| format!("the SCIM base URL '{base_url}' is not a valid URL: {e}"))?;
        if !matches!(base.scheme(), "https" | "http") {
            return Err(format!(
                "the SCIM base URL must start with https://, got '{base_url}'"
            ));
        }
        if token.trim().is_empty() {
            return Err("the token is empty".into());
        }
        let http = target_http::client_for(base.as_str(), policy).map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            base,
            token: token.trim().to_string(),
            auth: auth.unwrap_or(profile.auth),
            profile,
            throttle: Arc::new(NoThrottle),
            updates: Arc::new(Mutex::new(None)),
        })
    }

    /// How changes are sent: a profile with PATCH falls back to read-modify-PUT when the
    /// target's ServiceProviderConfig says `patch.supported: false`.
    async fn updates(&self) -> Result<Updates> {
        if self.profile.updates == Updates::Put {
            return Ok(Updates::Put);
        }
        if let Some(u) = *self.updates.lock().unwrap_or_else(PoisonError::into_inner) {
            return Ok(u);
        }
        let Some(path) = self.profile.service_provider_config else {
            return Ok(Updates::Patch);
        };
        let found = match self.get(&[path], &[], "read ServiceProviderConfig").await {
            Ok(a)
                if a.body.get("patch").and_then(|p| p.get("supported"))
                    == Some(&Value::Bool(false)) =>
            {
                Updates::Put
            }
            Ok(_) | Err(ConnectorError::NotFound(_)) => Updates::Patch,
            Err(e) => return Err(e),
        };
        *self.updates.lock().unwrap_or_else(PoisonError::into_inner) = Some(found);
        Ok(found)
    }

    /// Takes a rate-limit slot from `throttle` before every request.
    pub fn with_throttle(mut self, throttle: Arc<dyn Throttle>) -> Self {
        self.throttle = throttle;
        self
    }

    /// The profile in use.
    pub fn profile(&self) -> &'static Profile {
        self.profile
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        if_match: Option<&str>,
        what: &str,
    ) -> Result<Answer> {
        self.throttle.acquire().await?;
        // Reported to the trace (connector_api::exchange), bodies masked there.
        let sent = body.map(Value::to_string);
        let exchange = Pending::start(method.as_str(), url.as_str(), sent.as_deref());
        let report =
            |status: Option<u16>, response: Option<&str>| exchange.finish(status, response);
        let mut rb = self
            .http
            .request(method.clone(), url)
            .header("Accept", "application/scim+json, application/json");
        rb = match self.auth {
            AuthHeader::Bearer => rb.bearer_auth(&self.token),
            AuthHeader::ApiKey => rb.header("x-api-key", &self.token),
        };
        if let Some(b) = &sent {
            rb = rb
                .header("Content-Type", "application/scim+json")
                .body(b.clone());
        }
        if let Some(tag) = if_match {
            rb = rb.header("If-Match", tag);
        }
        let resp = rb.send().await.map_err(|e| {
            report(None, None);
            transport(&e, what)
        })?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after");
        let etag = header("etag");
        let text = resp.text().await.map_err(|e| {
            report(Some(status), None);
            transport(&e, what)
        })?;
        report(Some(status), Some(&text));
        if !(200..300).contains(&status) {
            return Err(classify(status, retry_after.as_deref(), &text, what));
        }
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| {
                ConnectorError::Permanent(format!("{what}: the answer is not JSON: {e}"))
            })?
        };
        Ok(Answer { body, etag })
    }

    async fn get(&self, segments: &[&str], query: &[(&str, String)], what: &str) -> Result<Answer> {
        self.send(Method::GET, self.url(segments, query), None, None, what)
            .await
    }

    async fn write(
        &self,
        method: Method,
        segments: &[&str],
        body: &Value,
        what: &str,
    ) -> Result<Value> {
        Ok(self
            .send(method, self.url(segments, &[]), Some(body), None, what)
            .await?
            .body)
    }

    /// Read-modify-write for targets without PATCH: GET, `change`, PUT with `If-Match` when
    /// the GET gave an ETag (a 412 is retryable: the next attempt reads again).
    async fn put_changed(
        &self,
        segments: &[&str],
        what: &str,
        change: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<Value> {
        let current = self.get(segments, &[], what).await?;
        let mut resource = match current.body {
            Value::Object(m) => m,
            _ => {
                return Err(ConnectorError::Permanent(format!(
                    "{what}: the target answered no resource"
                )));
            }
        };
        for k in ["meta", "groups"] {
            resource.remove(k);
        }
        change(&mut resource);
        let body = Value::Object(resource);
        Ok(self
            .send(
                Method::PUT,
                self.url(segments, &[]),
                Some(&body),
                current.etag.as_deref(),
                what,
            )
            .await?
            .body)
    }

    /// One page query: `startIndex` as the profile reads it.
    fn page_query(
        &self,
        page: usize,
        seen: usize,
        filter: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let start = match self.profile.paging {
            Paging::Index => seen + 1,
            Paging::PageNumber => page + 1,
        };
        let mut q = vec![
            ("startIndex", start.to_string()),
            ("count", PAGE.to_string()),
        ];
        if let Some(f) = filter {
            q.push(("filter", f.to_string()));
        }
        q
    }

    /// Walks the pages of `path` until `visit` says stop, the items run out, or the target
    /// repeats a page (it ignores `startIndex`); returns the resource `visit` stopped at.
    async fn walk(
        &self,
        path: &str,
        what: &str,
        mut visit: impl FnMut(&Value) -> bool,
    ) -> Result<Option<Value>> {
        let mut seen: HashSet<String> = HashSet::new();
        for page in 0..MAX_PAGES {
            let q = self.page_query(page, seen.len(), None);
            let body = self.get(&[path], &q, what).await?.body;
            let items = resources(&body);
            let total = body
                .get("totalResults")
                .and_then(Value::as_u64)
                .unwrap_or(0) as usize;
            let mut fresh = 0;
            for item in &items {
                let id = text(item.get("id")).unwrap_or_default();
                if seen.insert(id) {
                    fresh += 1;
                    if visit(item) {
                        return Ok(Some(item.clone()));
                    }
                }
            }
            let short = items.len() < PAGE;
            let last = match self.profile.paging {
                Paging::PageNumber => short,
                Paging::Index => short && seen.len() >= total,
            };
            if items.is_empty() || fresh == 0 || last {
                break;
            }
        }
        Ok(None)
    }

    /// A user by userName or e-mail: the filter first; if the target ignored it (the answer
    /// holds other users), the pages are walked.
    async fn find(&self, needle: &str, attrs: &[&str]) -> Result<Option<TargetUser>> {
        let what = format!("find user {needle}");
        let users = self.profile.users;
        let mut unfiltered = false;
        for attr in attrs {
            let f = user_filter(attr, needle);
            let q = self.page_query(0, 0, Some(&f));
            let body = self.get(&[users], &q, &what).await?.body;
            let items = resources(&body);
            if let Some(hit) = items.iter().find(|r| is_user(r, needle)) {
                return Ok(Some(self.target_user(hit)));
            }
            if !items.is_empty() {
                unfiltered = true;
                break;
            }
        }
        if !unfiltered {
            return Ok(None);
        }
        Ok(self
            .walk(users, &what, |r| is_user(r, needle))
            .await?
            .map(|r| self.target_user(&r)))
    }

    fn target_user(&self, r: &Value) -> TargetUser {
        let user_name = text(r.get("userName"));
        let email = r
            .get("emails")
            .and_then(Value::as_array)
            .and_then(|e| {
                e.iter()
                    .find(|x| x.get("primary") == Some(&Value::Bool(true)))
                    .or_else(|| e.first())
            })
            .and_then(|x| text(x.get("value")))
            .or_else(|| user_name.clone())
            .unwrap_or_default();
        let name = r.get("name");
        let roles = match self.profile.role {
            RoleSlot::Roles => r
                .get("roles")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|x| text(x.get("value"))).collect())
                .unwrap_or_default(),
            RoleSlot::Extension { urn, attribute, .. } => {
                text(r.get(urn).and_then(|e| e.get(attribute)))
                    .into_iter()
                    .collect()
            }
            RoleSlot::None => Vec::new(),
        };
        TargetUser {
            id: text(r.get("id")).unwrap_or_default(),
            email,
            username: user_name,
            first_name: text(name.and_then(|n| n.get("givenName"))),
            last_name: text(name.and_then(|n| n.get("familyName"))),
            roles,
            active: r.get("active").and_then(Value::as_bool),
            last_login: None,
        }
    }

    /// The full user resource the target should hold (create, PUT).
    fn user_resource(&self, user: &DesiredUser) -> Map<String, Value> {
        let p = self.profile;
        let mut r = if p.capabilities.attributes {
            user.attributes.clone()
        } else {
            Map::new()
        };
        if !p.external_id {
            r.remove("externalId");
        }
        let user_name = match p.user_name {
            UserName::Email => user.email.clone(),
            UserName::UserName => user.username.clone(),
        };
        r.insert("userName".into(), Value::String(user_name));
        let mut name = match r.remove("name") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for (k, v) in [
            ("givenName", &user.first_name),
            ("familyName", &user.last_name),
        ] {
            match v {
                Some(v) => name.insert(k.into(), Value::String(v.clone())),
                None => name.remove(k),
            };
        }
        r.insert("name".into(), Value::Object(name));
        if !r.contains_key("emails") && !user.email.is_empty() {
            r.insert(
                "emails".into(),
                json!([{"value": user.email, "type": "work", "primary": true}]),
            );
        }
        r.insert("active".into(), Value::Bool(true));
        self.put_roles(&mut r, &user.roles);
        let mut schemas = vec![Value::String(USER_SCHEMA.into())];
        schemas.extend(
            r.keys()
                .filter(|k| k.starts_with("urn:"))
                .map(|k| Value::String(k.clone())),
        );
        r.insert("schemas".into(), Value::Array(schemas));
        r
    }

    /// Writes the role(s) into a full resource.
    fn put_roles(&self, r: &mut Map<String, Value>, roles: &[String]) {
        match self.profile.role {
            RoleSlot::Roles => {
                let values: Vec<Value> = roles
                    .iter()
                    .enumerate()
                    .map(|(i, v)| json!({"value": v, "primary": i == 0}))
                    .collect();
                r.insert("roles".into(), Value::Array(values));
            }
            RoleSlot::Extension { urn, attribute, .. } => {
                if let Some(role) = roles.first() {
                    let ext = r
                        .entry(urn.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(m) = ext {
                        m.insert(attribute.into(), Value::String(role.clone()));
                    } else {
                        *ext = json!({attribute: role});
                    }
                }
            }
            RoleSlot::None => {}
        }
    }

    /// PATCH operations that set a profile: one per attribute, with the profile's op.
    fn update_ops(&self, user: &DesiredUser) -> Vec<Value> {
        let op = self.profile.set_op;
        let mut ops = Vec::new();
        if self.profile.capabilities.attributes {
            let mut full = self.user_resource(user);
            for k in ["schemas", "userName", "active", "roles"] {
                full.remove(k);
            }
            ops.push(json!({"op": op, "value": Value::Object(full)}));
        } else {
            for (path, v) in [
                ("name.givenName", &user.first_name),
                ("name.familyName", &user.last_name),
            ] {
                if let Some(v) = v {
                    ops.push(json!({"op": op, "path": path, "value": v}));
                }
            }
        }
        ops.extend(self.role_ops(&user.roles));
        // Updates describe an active account: a real boolean, never "True".
        ops.push(json!({"op": "replace", "path": "active", "value": true}));
        ops
    }

    fn role_ops(&self, roles: &[String]) -> Vec<Value> {
        match self.profile.role {
            RoleSlot::Roles if !roles.is_empty() => {
                let values: Vec<Value> = roles
                    .iter()
                    .enumerate()
                    .map(|(i, v)| json!({"value": v, "primary": i == 0}))
                    .collect();
                vec![json!({"op": "replace", "path": "roles", "value": values})]
            }
            RoleSlot::Extension { urn, attribute, .. } => roles
                .first()
                .map(|r| json!({"op": self.profile.set_op, "path": format!("{urn}:{attribute}"), "value": r}))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    async fn set_active(&self, id: &str, active: bool) -> Result<()> {
        let what = format!(
            "{} user {id}",
            if active { "reactivate" } else { "deactivate" }
        );
        let users = self.profile.users;
        match self.updates().await? {
            Updates::Patch => {
                let body = patch(vec![
                    json!({"op": "replace", "path": "active", "value": active}),
                ]);
                self.write(Method::PATCH, &[users, id], &body, &what)
                    .await?;
            }
            Updates::Put => {
                self.put_changed(&[users, id], &what, |r| {
                    r.insert("active".into(), Value::Bool(active));
                })
                .await?;
            }
        }
        Ok(())
    }

    async fn change_members(&self, gid: &str, ids: &[String], add: bool) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let what = format!(
            "{} members of group {gid}",
            if add { "add" } else { "remove" }
        );
        let groups = self.profile.groups;
        match self.updates().await? {
            Updates::Patch => {
                let ops: Vec<Value> = if add {
                    let values: Vec<Value> = ids.iter().map(|i| json!({"value": i})).collect();
                    vec![json!({"op": "add", "path": "members", "value": values})]
                } else {
                    // The filter form: the one every target understands (Activepieces ignores
                    // a value array on `remove`).
                    ids.iter()
                        .map(|i| {
                            json!({"op": "remove", "path": format!("members[{}]", user_filter("value", i))})
                        })
                        .collect()
                };
                self.write(Method::PATCH, &[groups, gid], &patch(ops), &what)
                    .await?;
            }
            Updates::Put => {
                self.put_changed(&[groups, gid], &what, |r| {
                    let mut members: Vec<Value> = r
                        .get("members")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if add {
                        for i in ids {
                            if !members
                                .iter()
                                .any(|m| text(m.get("value")).as_deref() == Some(i))
                            {
                                members.push(json!({"value": i}));
                            }
                        }
                    } else {
                        members.retain(|m| {
                            !ids.iter()
                                .any(|i| text(m.get("value")).as_deref() == Some(i))
                        });
                    }
                    r.insert("members".into(), Value::Array(members));
                })
                .await?;
            }
        }
        Ok(())
    }

    /// What the target says it supports, in one line (for Test connection).
    async fn discover(&self) -> Result<String> {
        let p = self.profile;
        let mut parts = Vec::new();
        if let Some(path) = p.service_provider_config {
            match self.get(&[path], &[], "read ServiceProviderConfig").await {
                Ok(a) => {
                    let yes = |k: &str| {
                        if a.body.get(k).and_then(|v| v.get("supported"))
                            == Some(&Value::Bool(true))
                        {
                            "yes"
                        } else {
                            "no"
                        }
                    };
                    let max = a
                        .body
                        .get("filter")
                        .and_then(|f| f.get("maxResults"))
                        .and_then(Value::as_u64)
                        .map(|m| format!(" (max {m})"))
                        .unwrap_or_default();
                    parts.push(format!(
                        "PATCH {}, filter {}{max}, ETag {}, bulk {}, sort {}",
                        yes("patch"),
                        yes("filter"),
                        yes("etag"),
                        yes("bulk"),
                        yes("sort")
                    ));
                }
                Err(ConnectorError::NotFound(_)) => parts.push("no ServiceProviderConfig".into()),
                Err(e) => return Err(e),
            }
        }
        match self.get(&[p.schemas], &[], "read Schemas").await {
            Ok(a) => {
                let ids: Vec<String> = resources(&a.body)
                    .iter()
                    .filter_map(|s| text(s.get("id")))
                    .filter(|id| id != USER_SCHEMA && id != GROUP_SCHEMA)
                    .collect();
                parts.push(if ids.is_empty() {
                    "schemas: core only".into()
                } else {
                    format!("extension schemas: {}", ids.join(", "))
                });
            }
            Err(ConnectorError::NotFound(_)) => parts.push("no /Schemas".into()),
            Err(e) => return Err(e),
        }
        if let Some(path) = p.resource_types {
            match self.get(&[path], &[], "read ResourceTypes").await {
                Ok(a) => {
                    let names: Vec<String> = resources(&a.body)
                        .iter()
                        .filter_map(|s| text(s.get("name")))
                        .collect();
                    parts.push(format!("resource types: {}", names.join(", ")));
                }
                Err(ConnectorError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(parts.join("; "))
    }
}

#[async_trait]
impl Connector for Scim {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn accepts_any_role(&self) -> bool {
        !matches!(self.profile.role, RoleSlot::Extension { .. })
    }

    async fn test_connection(&self) -> Result<AccountIdentity> {
        // The credentials first: a users query every target answers (Okta's own check).
        let q = [("startIndex", "1".to_string()), ("count", "1".to_string())];
        self.get(&[self.profile.users], &q, "list users").await?;
        let supports = self.discover().await?;
        Ok(AccountIdentity {
            account: format!(
                "{} ({} profile)",
                self.base.host_str().unwrap_or_default(),
                self.profile.name
            ),
            // A token has no owning user in SCIM targets: nothing to protect.
            user_id: String::new(),
            user_email: String::new(),
            user_name: supports,
        })
    }

    async fn list_roles(&self) -> Result<Vec<Role>> {
        Ok(match self.profile.role {
            RoleSlot::Extension { values, .. } => values
                .iter()
                .map(|v| Role {
                    id: (*v).to_string(),
                    name: (*v).to_string(),
                })
                .collect(),
            _ => Vec::new(),
        })
    }

    async fn get_user(&self, id: &str) -> Result<Option<TargetUser>> {
        match self
            .get(&[self.profile.users, id], &[], &format!("get user {id}"))
            .await
        {
            Ok(a) => Ok(Some(self.target_user(&a.body))),
            Err(ConnectorError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<TargetUser>> {
        self.find(email, &["userName", "emails.value"]).await
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<TargetUser>> {
        self.find(username, &["userName"]).await
    }

    async fn list_users(&self, offset: u64, limit: u64) -> Result<Page<TargetUser>> {
        // Walk from the start: a target that ignores startIndex still yields every user it
        // serves once, and page-number targets are read by page.
        let mut items = Vec::new();
        let mut index = 0u64;
        self.walk(self.profile.users, "list users", |r| {
            if index >= offset && (items.len() as u64) < limit {
                items.push(self.target_user(r));
            }
            index += 1;
            items.len() as u64 >= limit
        })
        .await?;
        Ok(Page {
            total: index.max(offset + items.len() as u64),
            items,
        })
    }

    async fn create_user(&self, user: &DesiredUser) -> Result<TargetUser> {
        let body = Value::Object(self.user_resource(user));
        let what = format!("create user {}", user.username);
        // 201 created; 200 from a target that upserts on POST (ActivTrak) is the same account.
        let created = self
            .write(Method::POST, &[self.profile.users], &body, &what)
            .await?;
        let t = self.target_user(&created);
        if !t.id.is_empty() {
            return Ok(t);
        }
        // Some targets answer 201 with no body: look the new account up.
        let sent = text(body.get("userName")).unwrap_or_default();
        self.find_user_by_username(&sent).await?.ok_or_else(|| {
            ConnectorError::Permanent(format!(
                "{what}: the target answered without an id and the account cannot be found"
            ))
        })
    }

    async fn update_user(&self, id: &str, user: &DesiredUser) -> Result<TargetUser> {
        let what = format!("update user {id}");
        let users = self.profile.users;
        let answer = match self.updates().await? {
            Updates::Patch => {
                let body = patch(self.update_ops(user));
                self.write(Method::PATCH, &[users, id], &body, &what)
                    .await?
            }
            Updates::Put => {
                let full = self.user_resource(user);
                self.put_changed(&[users, id], &what, |r| {
                    for (k, v) in full {
                        r.insert(k, v);
                    }
                })
                .await?
            }
        };
        let mut t = self.target_user(&answer);
        if t.id.is_empty() {
            t.id = id.to_string();
        }
        Ok(t)
    }

    async fn set_roles(&self, id: &str, roles: &[String]) -> Result<()> {
        if self.profile.role == RoleSlot::None {
            return Ok(());
        }
        let what = format!("set roles of user {id}");
        let users = self.profile.users;
        match self.updates().await? {
            Updates::Patch => {
                let mut ops = self.role_ops(roles);
                if ops.is_empty() {
                    if self.profile.role != RoleSlot::Roles {
                        return Ok(());
                    }
                    ops.push(json!({"op": "remove", "path": "roles"}));
                }
                self.write(Method::PATCH, &[users, id], &patch(ops), &what)
                    .await?;
            }
            Updates::Put => {
                self.put_changed(&[users, id], &what, |r| self.put_roles(r, roles))
                    .await?;
            }
        }
        Ok(())
    }

    async fn add_role(&self, id: &str, role: &str) -> Result<()> {
        match self.profile.role {
            RoleSlot::Roles => {
                let what = format!("add role to user {id}");
                match self.updates().await? {
                    Updates::Patch => {
                        let ops =
                            vec![json!({"op": "add", "path": "roles", "value": [{"value": role}]})];
                        self.write(Method::PATCH, &[self.profile.users, id], &patch(ops), &what)
                            .await?;
                    }
                    Updates::Put => {
                        self.put_changed(&[self.profile.users, id], &what, |r| {
                            let mut roles = r
                                .get("roles")
                                .and_then(Value::as_array)
                                .cloned()
                                .unwrap_or_default();
                            if !roles
                                .iter()
                                .any(|x| text(x.get("value")).as_deref() == Some(role))
                            {
                                roles.push(json!({"value": role}));
                            }
                            r.insert("roles".into(), Value::Array(roles));
                        })
                        .await?;
                    }
                }
                Ok(())
            }
            _ => self.set_roles(id, &[role.to_string()]).await,
        }
    }

    async fn remove_role(&self, id: &str, role: &str) -> Result<()> {
        if self.profile.role != RoleSlot::Roles {
            // A single slot is replaced by the next add; nothing to remove on its own.
            return Ok(());
        }
        let what = format!("remove role from user {id}");
        match self.updates().await? {
            Updates::Patch => {
                let ops = vec![
                    json!({"op": "remove", "path": format!("roles[{}]", user_filter("value", role))}),
                ];
                self.write(Method::PATCH, &[self.profile.users, id], &patch(ops), &what)
                    .await?;
            }
            Updates::Put => {
                self.put_changed(&[self.profile.users, id], &what, |r| {
                    if let Some(Value::Array(roles)) = r.get_mut("roles") {
                        roles.retain(|x| text(x.get("value")).as_deref() != Some(role));
                    }
                })
                .await?;
            }
        }
        Ok(())
    }

    async fn delete_user(&self, id: &str) -> Result<()> {
        self.send(
            Method::DELETE,
            self.url(&[self.profile.users, id], &[]),
            None,
            None,
            &format!("delete user {id}"),
        )
        .await?;
        Ok(())
    }

    async fn deactivate_user(&self, id: &str) -> Result<()> {
        self.set_active(id, false).await
    }

    async fn reactivate_user(&self, id: &str) -> Result<()> {
        self.set_active(id, true).await
    }

    async fn list_groups(&self) -> Result<Vec<TargetGroup>> {
        let mut out = Vec::new();
        self.walk(self.profile.groups, "list groups", |g| {
            out.push(TargetGroup {
                id: text(g.get("id")).unwrap_or_default(),
                name: text(g.get("displayName")).unwrap_or_default(),
            });
            false
        })
        .await?;
        Ok(out)
    }

    async fn create_group(&self, name: &str) -> Result<TargetGroup> {
        let body = json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": []});
        let what = format!("create group {name}");
        match self
            .write(Method::POST, &[self.profile.groups], &body, &what)
            .await
        {
            Ok(g) => match text(g.get("id")) {
                Some(id) => Ok(TargetGroup {
                    id,
                    name: name.to_string(),
                }),
                None => Err(ConnectorError::Permanent(format!(
                    "{what}: the target answered without an id"
                ))),
            },
            // The name is taken: adopt that group (found by walking: some targets'
            // displayName filters look elsewhere).
            Err(ConnectorError::Conflict(e)) => self
                .list_groups()
                .await?
                .into_iter()
                .find(|g| g.name == name)
                .ok_or(ConnectorError::Conflict(e)),
            Err(e) => Err(e),
        }
    }

    async fn rename_group(&self, id: &str, name: &str) -> Result<()> {
        let what = format!("rename group {id}");
        let groups = self.profile.groups;
        match self.updates().await? {
            Updates::Patch => {
                let ops = vec![json!({"op": "replace", "path": "displayName", "value": name})];
                self.write(Method::PATCH, &[groups, id], &patch(ops), &what)
                    .await?;
            }
            Updates::Put => {
                self.put_changed(&[groups, id], &what, |r| {
                    r.insert("displayName".into(), Value::String(name.to_string()));
                })
                .await?;
            }
        }
        Ok(())
    }

    async fn add_group_members(&self, id: &str, user_ids: &[String]) -> Result<()> {
        self.change_members(id, user_ids, true).await
    }

    async fn remove_group_members(&self, id: &str, user_ids: &[String]) -> Result<()> {
        self.change_members(id, user_ids, false).await
    }

    async fn delete_group(&self, id: &str) -> Result<()> {
        self.send(
            Method::DELETE,
            self.url(&[self.profile.groups, id], &[]),
            None,
            None,
            &format!("delete group {id}"),
        )
        .await?;
        Ok(())
    }
}

/// The capabilities of a profile (the engine plans with these).
pub fn capabilities(profile: &Profile) -> Capabilities {
    profile.capabilities
}
