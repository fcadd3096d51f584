//! A fake Activepieces SCIM server, faithful to `shared/reference/target-apis.md` §2,
//! quirks included:
//! - the base path is `/api/v1/scim/v2`; auth is `Authorization: Bearer <platform API key>`;
//! - `userName` is the e-mail (lower-cased, trimmed); `emails` is ignored; 409 on a taken
//!   e-mail or externalId;
//! - PATCH `replace` applies only `active` and `externalId`: **`replace` on names or on
//!   `platformRole` is ignored**, only `add` changes them; `active` is read as a JS truthy,
//!   so **the string `"False"` keeps the user active**;
//! - the role is `platformRole` (ADMIN | MEMBER | OPERATOR, default MEMBER) in the extension
//!   `urn:ietf:params:scim:schemas:activepieces:1.0:CustomUserAttributes`; the add path is
//!   accepted with `:` or `.` before `platformRole`;
//! - `GET /Users` understands only `userName eq "…"`; any other filter returns the unfiltered
//!   list; **`startIndex` is ignored** and `totalResults` is the page length (max 100);
//! - `DELETE /Users/{id}` deactivates (no hard delete);
//! - groups are TEAM projects: members are added only if they exist and are active;
//!   **members are removed only by `remove` with path `members[value eq "<id>"]`** (a
//!   `remove` of `members` with a value array is ignored); `GET /Groups?filter=displayName eq
//!   "X"` looks X up as the project's externalId.

use crate::scim_server::{App, FakeServer, Reply, Req, eq_filter, list};
use serde_json::{Map, Value, json};

/// The extension holding `platformRole`.
pub const EXTENSION: &str = "urn:ietf:params:scim:schemas:activepieces:1.0:CustomUserAttributes";
/// Where the SCIM API lives under the server's origin.
pub const BASE_PATH: &str = "/api/v1/scim/v2";
const ROLES: [&str; 3] = ["ADMIN", "MEMBER", "OPERATOR"];

/// A platform user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApUser {
    pub id: String,
    /// The e-mail (= the SCIM `userName`).
    pub email: String,
    pub external_id: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub active: bool,
    pub platform_role: String,
}

/// A TEAM project (a SCIM group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApProject {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    /// User ids.
    pub members: Vec<String>,
}

/// The fake's state.
#[derive(Debug, Default)]
pub struct Activepieces {
    token: String,
    pub users: Vec<ApUser>,
    pub projects: Vec<ApProject>,
    next: u64,
}

/// A running fake Activepieces.
pub type FakeActivepieces = FakeServer<Activepieces>;

/// Starts a fake accepting `token` as the platform API key.
pub async fn start(token: &str) -> std::io::Result<FakeActivepieces> {
    let app = Activepieces {
        token: token.to_owned(),
        ..Activepieces::default()
    };
    FakeServer::start(app, "fake-activepieces").await
}

impl FakeServer<Activepieces> {
    /// The SCIM base URL (the Tenant URL an admin would type).
    pub fn base_url(&self) -> String {
        format!("{}{BASE_PATH}", self.origin())
    }

    /// The user with this e-mail.
    pub fn user(&self, email: &str) -> Option<ApUser> {
        self.with(|a| {
            a.users
                .iter()
                .find(|u| u.email.eq_ignore_ascii_case(email))
                .cloned()
        })
    }

    /// The project with this display name.
    pub fn project(&self, name: &str) -> Option<ApProject> {
        self.with(|a| a.projects.iter().find(|p| p.display_name == name).cloned())
    }

    /// The e-mails of a project's members, sorted.
    pub fn member_emails(&self, project: &str) -> Vec<String> {
        self.with(|a| {
            let mut out: Vec<String> = a
                .projects
                .iter()
                .find(|p| p.display_name == project)
                .map(|p| {
                    p.members
                        .iter()
                        .filter_map(|id| a.users.iter().find(|u| &u.id == id))
                        .map(|u| u.email.clone())
                        .collect()
                })
                .unwrap_or_default();
            out.sort();
            out
        })
    }

    /// Seeds a user directly (an account that existed before the bridge).
    pub fn seed_user(&self, email: &str, role: &str) -> String {
        self.with(|a| a.insert_user(email.trim().to_lowercase(), None, "", "", role))
    }
}

/// JavaScript truthiness: what Activepieces does with `active`.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

fn is_role_path(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    let ext = EXTENSION.to_ascii_lowercase();
    p == format!("{ext}:platformrole") || p == format!("{ext}.platformrole")
}

impl Activepieces {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:06}", self.next)
    }

    fn insert_user(
        &mut self,
        email: String,
        external_id: Option<String>,
        given: &str,
        family: &str,
        role: &str,
    ) -> String {
        let id = self.id("usr");
        self.users.push(ApUser {
            id: id.clone(),
            email,
            external_id,
            given_name: given.to_owned(),
            family_name: family.to_owned(),
            active: true,
            platform_role: role.to_owned(),
        });
        id
    }

    fn render_user(u: &ApUser) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", EXTENSION],
            "id": u.id,
            "externalId": u.external_id,
            "userName": u.email,
            "name": {"givenName": u.given_name, "familyName": u.family_name},
            "emails": [{"value": u.email, "primary": true}],
            "active": u.active,
            EXTENSION: {"platformRole": u.platform_role},
            "meta": {"resourceType": "User", "location": format!("/scim/v2/Users/{}", u.id)},
        })
    }

    fn render_project(&self, p: &ApProject) -> Value {
        let members: Vec<Value> = p
            .members
            .iter()
            .map(|id| {
                let email = self
                    .users
                    .iter()
                    .find(|u| &u.id == id)
                    .map(|u| u.email.clone());
                json!({"value": id, "display": email, "$ref": format!("/scim/v2/Users/{id}")})
            })
            .collect();
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": p.id,
            "externalId": p.external_id,
            "displayName": p.display_name,
            "members": members,
            "meta": {"resourceType": "Group"},
        })
    }

    fn role_of(ext: Option<&Value>) -> Result<Option<String>, Reply> {
        match ext.and_then(|e| e.get("platformRole")) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_str().filter(|r| ROLES.contains(r)) {
                Some(r) => Ok(Some(r.to_owned())),
                None => Err(Reply::scim_error(400, "Invalid platformRole")),
            },
        }
    }

    fn create_user(&mut self, body: &Map<String, Value>) -> Reply {
        let Some(email) = text(body.get("userName")).map(|s| s.trim().to_lowercase()) else {
            return Reply::scim_error(400, "userName is required");
        };
        let external_id = text(body.get("externalId"));
        if self.users.iter().any(|u| u.email == email) {
            return Reply::scim_error(409, "User with email already exists");
        }
        if external_id.is_some() && self.users.iter().any(|u| u.external_id == external_id) {
            return Reply::scim_error(409, "User with external ID already exists");
        }
        let role = match Self::role_of(body.get(EXTENSION)) {
            Ok(r) => r.unwrap_or_else(|| "MEMBER".into()),
            Err(e) => return e,
        };
        let name = body.get("name");
        let given = text(name.and_then(|n| n.get("givenName"))).unwrap_or_default();
        let family = text(name.and_then(|n| n.get("familyName"))).unwrap_or_default();
        let id = self.insert_user(email, external_id, &given, &family, &role);
        if let Some(active) = body.get("active")
            && let Some(u) = self.users.iter_mut().find(|u| u.id == id)
        {
            u.active = truthy(active);
        }
        let u = self.users.iter().find(|u| u.id == id).cloned();
        match u {
            Some(u) => Reply::json(201, Self::render_user(&u)),
            None => Reply::scim_error(500, "internal"),
        }
    }

    fn list_users(&self, req: &Req) -> Reply {
        if let Some(email) = req.param("filter").and_then(|f| eq_filter(f, "userName")) {
            let found: Vec<Value> = self
                .users
                .iter()
                .filter(|u| u.email.eq_ignore_ascii_case(email.trim()))
                .map(Self::render_user)
                .collect();
            let n = found.len();
            return Reply::json(200, list(found, n, 1));
        }
        // Any other filter is ignored; startIndex is ignored; totalResults = page length.
        let count = req
            .param("count")
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(100)
            .min(100);
        let page: Vec<Value> = self
            .users
            .iter()
            .take(count)
            .map(Self::render_user)
            .collect();
        let n = page.len();
        Reply::json(200, list(page, n, 1))
    }

    fn patch_user(&mut self, id: &str, body: &Map<String, Value>) -> Reply {
        let Some(ops) = body.get("Operations").and_then(Value::as_array).cloned() else {
            return Reply::scim_error(400, "Operations is required");
        };
        let Some(idx) = self.users.iter().position(|u| u.id == id) else {
            return Reply::scim_error(404, "User not found");
        };
        for op in &ops {
            let kind = text(op.get("op")).unwrap_or_default().to_ascii_lowercase();
            let path = text(op.get("path"));
            let value = op.get("value").cloned().unwrap_or(Value::Null);
            let u = &mut self.users[idx];
            match (kind.as_str(), path.as_deref()) {
                ("replace", None) => {
                    if let Some(a) = value.get("active") {
                        u.active = truthy(a);
                    }
                    if let Some(e) = value.get("externalId") {
                        u.external_id = text(Some(e));
                    }
                }
                ("replace", Some(p)) if p.eq_ignore_ascii_case("active") => {
                    u.active = truthy(&value)
                }
                ("replace", Some(p)) if p.eq_ignore_ascii_case("externalId") => {
                    u.external_id = text(Some(&value));
                }
                // Names and platformRole: `replace` is ignored.
                ("add", Some(p)) if p.eq_ignore_ascii_case("name.givenName") => {
                    u.given_name = text(Some(&value)).unwrap_or_default();
                }
                ("add", Some(p)) if p.eq_ignore_ascii_case("name.familyName") => {
                    u.family_name = text(Some(&value)).unwrap_or_default();
                }
                ("add", Some(p)) if p.eq_ignore_ascii_case("externalId") => {
                    u.external_id = text(Some(&value));
                }
                ("add", Some(p)) if p.eq_ignore_ascii_case("active") => u.active = truthy(&value),
                ("add", Some(p)) if is_role_path(p) => {
                    match value.as_str().filter(|r| ROLES.contains(r)) {
                        Some(r) => u.platform_role = r.to_owned(),
                        None => return Reply::scim_error(400, "Invalid platformRole"),
                    }
                }
                _ => {}
            }
        }
        Reply::json(200, Self::render_user(&self.users[idx]))
    }

    fn put_user(&mut self, id: &str, body: &Map<String, Value>) -> Reply {
        let role = match Self::role_of(body.get(EXTENSION)) {
            Ok(r) => r,
            Err(e) => return e,
        };
        let Some(u) = self.users.iter_mut().find(|u| u.id == id) else {
            return Reply::scim_error(404, "User not found");
        };
        if let Some(a) = body.get("active") {
            u.active = truthy(a);
        }
        u.external_id = text(body.get("externalId"));
        if let Some(r) = role {
            u.platform_role = r;
        }
        let name = body.get("name");
        u.given_name = text(name.and_then(|n| n.get("givenName"))).unwrap_or_default();
        u.family_name = text(name.and_then(|n| n.get("familyName"))).unwrap_or_default();
        let u = u.clone();
        Reply::json(200, Self::render_user(&u))
    }

    /// Adds members that exist and are active; others are skipped silently.
    fn add_members(&mut self, pi: usize, values: &Value) {
        for m in values.as_array().into_iter().flatten() {
            let Some(uid) = text(m.get("value")) else {
                continue;
            };
            let ok = self.users.iter().any(|u| u.id == uid && u.active);
            if ok && !self.projects[pi].members.contains(&uid) {
                self.projects[pi].members.push(uid);
            }
        }
    }

    fn patch_group(&mut self, id: &str, body: &Map<String, Value>) -> Reply {
        let Some(ops) = body.get("Operations").and_then(Value::as_array).cloned() else {
            return Reply::scim_error(400, "Operations is required");
        };
        let Some(pi) = self.projects.iter().position(|p| p.id == id) else {
            return Reply::scim_error(404, "Group not found");
        };
        for op in &ops {
            let kind = text(op.get("op")).unwrap_or_default().to_ascii_lowercase();
            let path = text(op.get("path"));
            let value = op.get("value").cloned().unwrap_or(Value::Null);
            match (kind.as_str(), path.as_deref()) {
                ("add", Some(p)) if p.eq_ignore_ascii_case("members") => {
                    self.add_members(pi, &value);
                }
                ("remove", Some(p)) => {
                    // Only `members[value eq "<id>"]`; `members` + a value array is ignored.
                    if let Some(inner) =
                        p.strip_prefix("members[").and_then(|r| r.strip_suffix(']'))
                        && let Some(uid) = eq_filter(inner, "value")
                    {
                        self.projects[pi].members.retain(|m| m != &uid);
                    }
                }
                ("replace", Some(p)) if p.eq_ignore_ascii_case("displayName") => {
                    if let Some(n) = value.as_str() {
                        self.projects[pi].display_name = n.to_owned();
                    }
                }
                ("replace", None) => {
                    if let Some(n) = value.get("displayName").and_then(Value::as_str) {
                        self.projects[pi].display_name = n.to_owned();
                    }
                    if let Some(m) = value.get("members") {
                        self.projects[pi].members.clear();
                        self.add_members(pi, m);
                    }
                }
                _ => {}
            }
        }
        Reply::json(200, self.render_project(&self.projects[pi]))
    }

    fn users_route(&mut self, req: &Req, rest: &str, body: &Map<String, Value>) -> Reply {
        match (req.method.as_str(), rest) {
            ("GET", "") => self.list_users(req),
            ("POST", "") => self.create_user(body),
            ("GET", id) => match self.users.iter().find(|u| u.id == id) {
                Some(u) => Reply::json(200, Self::render_user(u)),
                None => Reply::scim_error(404, "User not found"),
            },
            ("PUT", id) => self.put_user(id, body),
            ("PATCH", id) => self.patch_user(id, body),
            ("DELETE", id) => match self.users.iter_mut().find(|u| u.id == id) {
                Some(u) => {
                    u.active = false;
                    Reply::empty(204)
                }
                None => Reply::scim_error(404, "User not found"),
            },
            _ => Reply::scim_error(405, "Method not allowed"),
        }
    }

    fn groups_route(&mut self, req: &Req, rest: &str, body: &Map<String, Value>) -> Reply {
        match (req.method.as_str(), rest) {
            ("GET", "") => {
                if let Some(x) = req
                    .param("filter")
                    .and_then(|f| eq_filter(f, "displayName"))
                {
                    // Quirk: the display name is looked up as the project's externalId.
                    let found: Vec<Value> = self
                        .projects
                        .iter()
                        .filter(|p| p.external_id.as_deref() == Some(x.as_str()))
                        .map(|p| self.render_project(p))
                        .collect();
                    let n = found.len();
                    return Reply::json(200, list(found, n, 1));
                }
                let start = req
                    .param("startIndex")
                    .and_then(|s| s.parse::<usize>().ok())
                    .unwrap_or(1)
                    .max(1);
                let count = req
                    .param("count")
                    .and_then(|c| c.parse::<usize>().ok())
                    .unwrap_or(100)
                    .min(100);
                let page: Vec<Value> = self
                    .projects
                    .iter()
                    .skip(start - 1)
                    .take(count)
                    .map(|p| self.render_project(p))
                    .collect();
                Reply::json(200, list(page, self.projects.len(), start))
            }
            ("POST", "") => {
                let Some(name) = text(body.get("displayName")) else {
                    return Reply::scim_error(400, "displayName is required");
                };
                let id = self.id("prj");
                self.projects.push(ApProject {
                    id,
                    display_name: name,
                    external_id: text(body.get("externalId")),
                    members: Vec::new(),
                });
                let pi = self.projects.len() - 1;
                if let Some(m) = body.get("members") {
                    self.add_members(pi, m);
                }
                Reply::json(201, self.render_project(&self.projects[pi]))
            }
            ("GET", id) => match self.projects.iter().find(|p| p.id == id) {
                Some(p) => Reply::json(200, self.render_project(p)),
                None => Reply::scim_error(404, "Group not found"),
            },
            ("PATCH", id) => self.patch_group(id, body),
            ("PUT", id) => {
                let Some(pi) = self.projects.iter().position(|p| p.id == id) else {
                    return Reply::scim_error(404, "Group not found");
                };
                if let Some(n) = text(body.get("displayName")) {
                    self.projects[pi].display_name = n;
                }
                self.projects[pi].external_id = text(body.get("externalId"));
                self.projects[pi].members.clear();
                if let Some(m) = body.get("members") {
                    self.add_members(pi, m);
                }
                Reply::json(200, self.render_project(&self.projects[pi]))
            }
            ("DELETE", id) => {
                let before = self.projects.len();
                self.projects.retain(|p| p.id != id);
                if self.projects.len() < before {
                    Reply::empty(204)
                } else {
                    Reply::scim_error(404, "Group not found")
                }
            }
            _ => Reply::scim_error(405, "Method not allowed"),
        }
    }
}

fn discovery(what: &str) -> Option<Value> {
    let user_schema = json!({"id": "urn:ietf:params:scim:schemas:core:2.0:User", "name": "User", "attributes": [
        {"name": "userName", "type": "string", "required": true},
        {"name": "name", "type": "complex", "subAttributes": [{"name": "givenName", "type": "string"}, {"name": "familyName", "type": "string"}]},
        {"name": "active", "type": "boolean"}, {"name": "externalId", "type": "string"}]});
    let ext = json!({"id": EXTENSION, "name": "CustomUserAttributes", "attributes": [
        {"name": "platformRole", "type": "string", "canonicalValues": ROLES}]});
    let group_schema = json!({"id": "urn:ietf:params:scim:schemas:core:2.0:Group", "name": "Group", "attributes": [
        {"name": "displayName", "type": "string"}, {"name": "members", "type": "complex", "multiValued": true}]});
    match what {
        "ServiceProviderConfig" => Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": 100},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": false},
            "authenticationSchemes": [{"type": "oauthbearertoken", "name": "OAuth Bearer Token", "description": "Platform API key"}],
        })),
        "Schemas" => Some(list(vec![user_schema, group_schema, ext], 3, 1)),
        "ResourceTypes" => Some(list(
            vec![
                json!({"id": "User", "name": "User", "endpoint": "/Users", "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
                       "schemaExtensions": [{"schema": EXTENSION, "required": false}]}),
                json!({"id": "Group", "name": "Group", "endpoint": "/Groups", "schema": "urn:ietf:params:scim:schemas:core:2.0:Group"}),
            ],
            2,
            1,
        )),
        _ => None,
    }
}

impl App for Activepieces {
    fn handle(&mut self, req: &Req) -> Reply {
        let expected = format!("Bearer {}", self.token);
        if req.header("authorization") != Some(expected.as_str()) {
            return Reply::scim_error(401, "Unauthorized");
        }
        let Some(rel) = req.path.strip_prefix(BASE_PATH) else {
            return Reply::scim_error(404, "Not found");
        };
        let body = match &req.body {
            None => Map::new(),
            Some(Ok(Value::Object(m))) => m.clone(),
            Some(Ok(_)) | Some(Err(_)) => return Reply::scim_error(400, "Invalid JSON body"),
        };
        let rel = rel.trim_start_matches('/');
        let (head, rest) = rel.split_once('/').unwrap_or((rel, ""));
        match head {
            "Users" => self.users_route(req, rest, &body),
            "Groups" => self.groups_route(req, rest, &body),
            other if req.method == "GET" => match discovery(other) {
                Some(v) => Reply::json(200, v),
                None => Reply::scim_error(404, "Not found"),
            },
            _ => Reply::scim_error(404, "Not found"),
        }
    }
}
