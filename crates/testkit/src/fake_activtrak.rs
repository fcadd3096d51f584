//! A fake ActivTrak SCIM server (beta), faithful to `shared/reference/target-apis.md` §3;
//! where the public material is silent ([inf]) the behaviour is a switch on [`Activtrak`]:
//! - base path `/scim/v1` with **lower-case** `/users`, `/groups`, `/schemas`, `/ping`
//!   (`/Users` is 404);
//! - auth: `x-api-key: <key>` or `Authorization: Bearer <key>`;
//! - paging: **`startIndex` is a page number** (page `p` of `count`), `totalResults` the total;
//!   filters are ignored unless `understands_filter` is set ([inf]);
//! - `POST /users` for an existing user (same `userName`) **updates it** (200, same id);
//!   `userName` is read-only: the first of `userPrincipalNames`, else the primary e-mail;
//!   `emails` is required;
//! - no PATCH ([inf]: its paths are undocumented): 405; updates are `PUT`;
//! - extension `urn:ietf:params:scim:schemas:extension:activtrak:2.0:User` with
//!   `userPrincipalNames` (strings) and `tracking` (boolean); `active=false` or
//!   `tracking=false` puts the user on the Do Not Track list; `DELETE /users/{id}` = Do Not
//!   Track + agents deleted (204);
//! - errors are plain JSON `{"message": "…"}`.

use crate::scim_server::{App, FakeServer, Reply, Req, eq_filter, list};
use serde_json::{Map, Value, json};

/// The ActivTrak user extension.
pub const USER_EXTENSION: &str = "urn:ietf:params:scim:schemas:extension:activtrak:2.0:User";
/// The ActivTrak group extension.
pub const GROUP_EXTENSION: &str = "urn:ietf:params:scim:schemas:extension:activtrak:2.0:Group";
/// Where the SCIM API lives under the server's origin.
pub const BASE_PATH: &str = "/scim/v1";

/// A user: the stored resource and what ActivTrak does with it.
#[derive(Debug, Clone, PartialEq)]
pub struct AtUser {
    pub id: String,
    pub resource: Map<String, Value>,
    /// Deleted by `DELETE` (Do Not Track, agents deleted); no longer served.
    pub deleted: bool,
    /// Bumped by every write; the ETag `W/"<version>"` when `etags` is on.
    pub version: u64,
}

impl AtUser {
    pub fn user_name(&self) -> &str {
        self.resource
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn active(&self) -> bool {
        self.resource.get("active") != Some(&Value::Bool(false))
    }

    /// The extension's `tracking` (true unless sent false).
    pub fn tracking(&self) -> bool {
        self.resource
            .get(USER_EXTENSION)
            .and_then(|e| e.get("tracking"))
            != Some(&Value::Bool(false))
    }

    /// On the Do Not Track list.
    pub fn do_not_track(&self) -> bool {
        self.deleted || !self.active() || !self.tracking()
    }

    pub fn user_principal_names(&self) -> Vec<String> {
        self.resource
            .get(USER_EXTENSION)
            .and_then(|e| e.get("userPrincipalNames"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtGroup {
    pub id: String,
    pub display_name: String,
    pub members: Vec<String>,
}

/// The fake's state and switches.
#[derive(Debug, Default)]
pub struct Activtrak {
    token: String,
    pub users: Vec<AtUser>,
    pub groups: Vec<AtGroup>,
    /// Answer `userName eq "…"` filters (off: filters are ignored) [inf].
    pub understands_filter: bool,
    /// Send ETags on user reads and check `If-Match` on user PUTs (412 on a mismatch) [inf].
    pub etags: bool,
    /// `If-Match` headers received on user PUTs.
    pub if_match_seen: usize,
    next: u64,
}

/// A running fake ActivTrak.
pub type FakeActivtrak = FakeServer<Activtrak>;

/// Starts a fake accepting `token` as its API key.
pub async fn start(token: &str) -> std::io::Result<FakeActivtrak> {
    let app = Activtrak {
        token: token.to_owned(),
        ..Activtrak::default()
    };
    FakeServer::start(app, "fake-activtrak").await
}

impl FakeServer<Activtrak> {
    /// The SCIM base URL (the Tenant URL).
    pub fn base_url(&self) -> String {
        format!("{}{BASE_PATH}", self.origin())
    }

    /// The user whose userName is `name` (case-insensitive), deleted ones included.
    pub fn user(&self, name: &str) -> Option<AtUser> {
        self.with(|a| {
            a.users
                .iter()
                .find(|u| u.user_name().eq_ignore_ascii_case(name))
                .cloned()
        })
    }

    /// Live (not deleted) users.
    pub fn live_users(&self) -> usize {
        self.with(|a| a.users.iter().filter(|u| !u.deleted).count())
    }

    pub fn group(&self, name: &str) -> Option<AtGroup> {
        self.with(|a| a.groups.iter().find(|g| g.display_name == name).cloned())
    }

    /// Seeds `n` users `seed-<i>@example.com`, as if they existed before the bridge.
    pub fn seed_users(&self, n: usize) {
        self.with(|a| {
            for i in 0..n {
                let email = format!("seed-{i}@example.com");
                let body = json!({"emails": [{"value": email, "primary": true}], "active": true});
                if let Value::Object(m) = body {
                    a.insert(m);
                }
            }
        });
    }
}

fn message(status: u16, m: &str) -> Reply {
    Reply::plain_json(status, json!({"message": m}))
}

/// userName is read-only: the first UPN, else the primary (or first) e-mail.
fn derived_user_name(r: &Map<String, Value>) -> Option<String> {
    let upn = r
        .get(USER_EXTENSION)
        .and_then(|e| e.get("userPrincipalNames"))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str);
    let emails = r.get("emails").and_then(Value::as_array);
    let email = emails.and_then(|e| {
        e.iter()
            .find(|x| x.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| e.first())
            .and_then(|x| x.get("value"))
            .and_then(Value::as_str)
    });
    upn.or(email).map(str::to_owned)
}

impl Activtrak {
    fn insert(&mut self, mut body: Map<String, Value>) -> String {
        self.next += 1;
        let id = format!("{}", 7000 + self.next);
        body.remove("id");
        body.remove("meta");
        if let Some(n) = derived_user_name(&body) {
            body.insert("userName".into(), Value::String(n));
        }
        self.users.push(AtUser {
            id: id.clone(),
            resource: body,
            deleted: false,
            version: 1,
        });
        id
    }

    fn render_user(&self, u: &AtUser) -> Value {
        let mut r = u.resource.clone();
        r.insert("id".into(), Value::String(u.id.clone()));
        let mut schemas = vec![json!("urn:ietf:params:scim:schemas:core:2.0:User")];
        if r.contains_key(USER_EXTENSION) {
            schemas.push(json!(USER_EXTENSION));
        }
        r.insert("schemas".into(), Value::Array(schemas));
        let groups: Vec<Value> = self
            .groups
            .iter()
            .filter(|g| g.members.contains(&u.id))
            .map(|g| json!({"value": g.id, "display": g.display_name}))
            .collect();
        r.insert("groups".into(), Value::Array(groups));
        r.insert(
            "meta".into(),
            json!({"resourceType": "User", "location": format!("/scim/v1/users/{}", u.id)}),
        );
        Value::Object(r)
    }

    fn render_group(g: &AtGroup) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", GROUP_EXTENSION],
            "id": g.id,
            "displayName": g.display_name,
            "members": g.members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>(),
            GROUP_EXTENSION: {"sourceType": "SCIM", "instanceId": "fake"},
            "meta": {"resourceType": "Group"},
        })
    }

    /// Page-number paging: `startIndex` is the page.
    fn page<T>(items: Vec<T>, req: &Req) -> (Vec<T>, usize, usize) {
        let total = items.len();
        let count = req
            .param("count")
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(100)
            .clamp(1, 100);
        let page = req
            .param("startIndex")
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let out = items
            .into_iter()
            .skip((page - 1) * count)
            .take(count)
            .collect();
        (out, total, page)
    }

    fn users_route(&mut self, req: &Req, rest: &str, body: Map<String, Value>) -> Reply {
        let live = |u: &&AtUser| !u.deleted;
        match (req.method.as_str(), rest) {
            ("GET", "") => {
                let filter = req.param("filter").filter(|_| self.understands_filter);
                let wanted = filter.and_then(|f| eq_filter(f, "userName"));
                let items: Vec<&AtUser> = self
                    .users
                    .iter()
                    .filter(live)
                    .filter(|u| {
                        wanted
                            .as_deref()
                            .is_none_or(|w| u.user_name().eq_ignore_ascii_case(w))
                    })
                    .collect();
                let (page, total, start) = Self::page(items, req);
                let rendered = page.into_iter().map(|u| self.render_user(u)).collect();
                Reply::json(200, list(rendered, total, start))
            }
            ("POST", "") => {
                let emails_ok = body
                    .get("emails")
                    .and_then(Value::as_array)
                    .is_some_and(|e| !e.is_empty());
                if !emails_ok {
                    return message(400, "emails is required");
                }
                let Some(name) = derived_user_name(&body) else {
                    return message(400, "emails is required");
                };
                // Upsert: an existing user is updated.
                if let Some(i) = self
                    .users
                    .iter()
                    .position(|u| u.user_name().eq_ignore_ascii_case(&name))
                {
                    let mut r = body;
                    r.remove("id");
                    r.remove("meta");
                    r.insert("userName".into(), Value::String(name));
                    self.users[i].resource = r;
                    self.users[i].deleted = false;
                    self.users[i].version += 1;
                    let u = self.users[i].clone();
                    return Reply::json(200, self.render_user(&u));
                }
                let id = self.insert(body);
                match self.users.iter().find(|u| u.id == id).cloned() {
                    Some(u) => Reply::json(201, self.render_user(&u)),
                    None => message(500, "internal error"),
                }
            }
            ("GET", id) => match self.users.iter().find(|u| u.id == id && !u.deleted) {
                Some(u) if self.etags => {
                    Reply::json(200, self.render_user(u)).with_etag(format!("W/\"{}\"", u.version))
                }
                Some(u) => Reply::json(200, self.render_user(u)),
                None => message(404, "User not found"),
            },
            ("PUT", id) => {
                let Some(i) = self.users.iter().position(|u| u.id == id && !u.deleted) else {
                    return message(404, "User not found");
                };
                if let Some(tag) = req.header("if-match") {
                    self.if_match_seen += 1;
                    if self.etags && tag != format!("W/\"{}\"", self.users[i].version) {
                        return message(412, "The user was changed meanwhile");
                    }
                }
                self.users[i].version += 1;
                let user_name = self.users[i].user_name().to_owned();
                let mut r = body;
                r.remove("id");
                r.remove("meta");
                r.remove("groups");
                // userName is read-only.
                r.insert("userName".into(), Value::String(user_name));
                self.users[i].resource = r;
                let u = self.users[i].clone();
                Reply::json(200, self.render_user(&u))
            }
            ("DELETE", id) => match self.users.iter_mut().find(|u| u.id == id && !u.deleted) {
                Some(u) => {
                    u.deleted = true;
                    Reply::empty(204)
                }
                None => message(404, "User not found"),
            },
            ("PATCH", _) => message(405, "PATCH is not supported"),
            _ => message(405, "Method not allowed"),
        }
    }

    fn members_of(&self, body: &Map<String, Value>) -> Vec<String> {
        body.get("members")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("value").and_then(Value::as_str))
            .filter(|id| self.users.iter().any(|u| u.id == *id && !u.deleted))
            .map(str::to_owned)
            .collect()
    }

    fn groups_route(&mut self, req: &Req, rest: &str, body: Map<String, Value>) -> Reply {
        match (req.method.as_str(), rest) {
            ("GET", "") => {
                let items: Vec<&AtGroup> = self.groups.iter().collect();
                let (page, total, start) = Self::page(items, req);
                let rendered = page.into_iter().map(Self::render_group).collect();
                Reply::json(200, list(rendered, total, start))
            }
            ("POST", "") => {
                let Some(name) = body.get("displayName").and_then(Value::as_str) else {
                    return message(400, "displayName is required");
                };
                if self.groups.iter().any(|g| g.display_name == name) {
                    return message(409, "Group already exists");
                }
                self.next += 1;
                let g = AtGroup {
                    id: format!("g{}", self.next),
                    display_name: name.to_owned(),
                    members: self.members_of(&body),
                };
                let r = Self::render_group(&g);
                self.groups.push(g);
                Reply::json(201, r)
            }
            ("GET", id) => match self.groups.iter().find(|g| g.id == id) {
                Some(g) => Reply::json(200, Self::render_group(g)),
                None => message(404, "Group not found"),
            },
            ("PUT", id) => {
                let members = self.members_of(&body);
                let Some(g) = self.groups.iter_mut().find(|g| g.id == id) else {
                    return message(404, "Group not found");
                };
                if let Some(n) = body.get("displayName").and_then(Value::as_str) {
                    g.display_name = n.to_owned();
                }
                g.members = members;
                let r = Self::render_group(g);
                Reply::json(200, r)
            }
            ("DELETE", id) => {
                let before = self.groups.len();
                self.groups.retain(|g| g.id != id);
                if self.groups.len() < before {
                    Reply::empty(204)
                } else {
                    message(404, "Group not found")
                }
            }
            ("PATCH", _) => message(405, "PATCH is not supported"),
            _ => message(405, "Method not allowed"),
        }
    }
}

fn schemas() -> Value {
    list(
        vec![
            json!({"id": "urn:ietf:params:scim:schemas:core:2.0:User", "name": "User"}),
            json!({"id": "urn:ietf:params:scim:schemas:core:2.0:Group", "name": "Group"}),
            json!({"id": USER_EXTENSION, "name": "ActivTrak User", "attributes": [
                {"name": "userPrincipalNames", "type": "string", "multiValued": true},
                {"name": "tracking", "type": "boolean"}]}),
            json!({"id": GROUP_EXTENSION, "name": "ActivTrak Group", "attributes": [
                {"name": "sourceType", "type": "string"}, {"name": "instanceId", "type": "string"}]}),
        ],
        4,
        1,
    )
}

impl App for Activtrak {
    fn handle(&mut self, req: &Req) -> Reply {
        let bearer = format!("Bearer {}", self.token);
        let authed = req.header("x-api-key") == Some(self.token.as_str())
            || req.header("authorization") == Some(bearer.as_str());
        if !authed {
            return message(401, "Unauthorized");
        }
        let Some(rel) = req.path.strip_prefix(BASE_PATH) else {
            return message(404, "Not found");
        };
        let body = match &req.body {
            None => Map::new(),
            Some(Ok(Value::Object(m))) => m.clone(),
            Some(Ok(_)) | Some(Err(_)) => return message(400, "Invalid JSON body"),
        };
        let rel = rel.trim_start_matches('/');
        let (head, rest) = rel.split_once('/').unwrap_or((rel, ""));
        // Paths are lower-case: `/Users` is not found.
        match (head, req.method.as_str()) {
            ("users", _) => self.users_route(req, rest, body),
            ("groups", _) => self.groups_route(req, rest, body),
            ("schemas", "GET") if rest.is_empty() => Reply::json(200, schemas()),
            ("ping", "GET") => Reply::plain_json(200, json!("Pong")),
            _ => message(404, "Not found"),
        }
    }
}
