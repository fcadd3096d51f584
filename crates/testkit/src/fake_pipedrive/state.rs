//! The company's data and the endpoints.

use super::{PipedriveConfig, fail, ok};
use crate::serve::{Reply, Req, decode};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The apps `access[].app` may name (the client enum also has `nova`).
const APPS: &[&str] = &[
    "global",
    "sales",
    "campaigns",
    "projects",
    "account_settings",
    "partnership",
    "nova",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PermissionSet {
    pub id: String,
    pub name: String,
    pub app: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSnapshot {
    pub id: u64,
    pub name: String,
}

/// A user as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSnapshot {
    pub id: u64,
    pub email: String,
    pub active_flag: bool,
    pub is_owner: bool,
    /// Role names, sorted.
    pub roles: Vec<String>,
    pub access: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: u64,
    pub email: String,
    pub name: String,
    pub active_flag: bool,
    pub activated: bool,
    pub access: Value,
    pub created: String,
    pub modified: String,
}

fn stamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

impl User {
    pub fn new(id: u64, email: &str, now: i64) -> Self {
        Self {
            id,
            email: email.into(),
            name: String::new(),
            active_flag: true,
            activated: false,
            access: json!([{"app": "sales", "admin": false, "permission_set_id": null}]),
            created: stamp(now),
            modified: stamp(now),
        }
    }
}

pub(crate) struct Logged {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub cost: u64,
    pub at: i64,
}

impl Logged {
    pub fn new(req: &Req<'_>, status: u16, cost: u64, at: i64) -> Self {
        let path = if req.query.is_empty() {
            req.path.to_owned()
        } else {
            format!("{}?{}", req.path, req.query)
        };
        Self {
            method: req.method.to_owned(),
            path,
            status,
            cost,
            at,
        }
    }
}

pub(crate) struct Company {
    pub users: BTreeMap<u64, User>,
    pub next_user: u64,
    pub roles: BTreeMap<u64, String>,
    /// (role id, user id)
    pub assignments: BTreeSet<(u64, u64)>,
    pub permission_sets: Vec<PermissionSet>,
    pub day: i64,
    pub spent_today: u64,
    pub burst: HashMap<String, Vec<i64>>,
    pub log: Vec<Logged>,
}

impl Company {
    pub fn new(config: &PipedriveConfig) -> Self {
        let now = config.clock.now_ms();
        let mut owner = User::new(1, &config.owner_email, now);
        owner.name = config.owner_name.clone();
        owner.activated = true;
        owner.access = json!([{"app": "global", "admin": true, "permission_set_id": null}]);
        Self {
            users: BTreeMap::from([(1, owner)]),
            next_user: 2,
            roles: config
                .roles
                .iter()
                .enumerate()
                .map(|(i, r)| (i as u64 + 1, r.clone()))
                .collect(),
            assignments: BTreeSet::new(),
            permission_sets: config
                .permission_sets
                .iter()
                .enumerate()
                .map(|(i, (name, app))| PermissionSet {
                    id: format!("00000000-0000-4000-8000-{:012}", i + 1),
                    name: name.clone(),
                    app: app.clone(),
                })
                .collect(),
            day: 0,
            spent_today: 0,
            burst: HashMap::new(),
            log: Vec::new(),
        }
    }

    fn roles_of(&self, user: u64) -> Vec<u64> {
        self.assignments
            .iter()
            .filter(|(_, u)| *u == user)
            .map(|(r, _)| *r)
            .collect()
    }

    pub fn snapshot(&self, u: &User) -> UserSnapshot {
        let mut roles: Vec<String> = self
            .roles_of(u.id)
            .iter()
            .filter_map(|r| self.roles.get(r).cloned())
            .collect();
        roles.sort();
        UserSnapshot {
            id: u.id,
            email: u.email.clone(),
            active_flag: u.active_flag,
            is_owner: u.id == 1,
            roles,
            access: u.access.clone(),
        }
    }

    /// The user object (§5.1), `is_you` for the token's user (the owner).
    fn render(&self, u: &User) -> Value {
        json!({
            "id": u.id,
            "name": u.name,
            "default_currency": "EUR",
            "locale": "en_US",
            "lang": 1,
            "email": u.email,
            "phone": null,
            "activated": u.activated,
            "last_login": if u.activated { Value::String(u.modified.clone()) } else { Value::Null },
            "created": u.created,
            "modified": u.modified,
            "has_created_company": u.id == 1,
            "access": u.access,
            "active_flag": u.active_flag,
            "timezone_name": "Europe/Berlin",
            "timezone_offset": "+01:00",
            "role_id": self.roles_of(u.id).first().copied().unwrap_or(1),
            "icon_url": null,
            "is_you": u.id == 1,
            "is_deleted": false,
        })
    }

    pub fn dispatch(
        &mut self,
        method: &str,
        rel: &str,
        req: &Req<'_>,
        admin: bool,
        config: &PipedriveConfig,
        now: i64,
    ) -> Reply {
        let segs: Vec<String> = rel.trim_matches('/').split('/').map(decode).collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        if method != "GET" && !admin {
            return fail(403, "You do not have permissions to do this.");
        }
        match (method, segs.as_slice()) {
            ("GET", ["users"]) => {
                let all: Vec<Value> = self.users.values().map(|u| self.render(u)).collect();
                ok(Value::Array(all))
            }
            ("GET", ["users", "me"]) => {
                let mut me = self
                    .users
                    .get(&1)
                    .map(|u| self.render(u))
                    .unwrap_or(Value::Null);
                me["company_id"] = json!(7_000_001);
                me["company_name"] = json!(config.company_name);
                me["company_domain"] = json!("acme-sales");
                me["company_country"] = json!("DE");
                ok(me)
            }
            ("GET", ["users", "find"]) => {
                let Some(term) = req.param("term").filter(|t| !t.is_empty()) else {
                    return fail(400, "Term is required.");
                };
                let by_email = req.param("search_by_email").as_deref() == Some("1");
                let t = term.to_ascii_lowercase();
                let found: Vec<Value> = self
                    .users
                    .values()
                    .filter(|u| {
                        if by_email {
                            u.email.to_ascii_lowercase().contains(&t)
                        } else {
                            u.name.to_ascii_lowercase().contains(&t)
                        }
                    })
                    .map(|u| self.render(u))
                    .collect();
                if found.is_empty() && config.find_empty_as_null {
                    ok(Value::Null)
                } else {
                    ok(Value::Array(found))
                }
            }
            ("GET", ["users", id]) => match self.user(id) {
                Some(u) => ok(self.render(u)),
                None => fail(404, "User not found or not accessible."),
            },
            ("GET", ["users", id, "roleAssignments"]) => match self.user(id) {
                Some(u) => {
                    let uid = u.id;
                    let list: Vec<Value> = self
                        .roles_of(uid)
                        .iter()
                        .map(|r| {
                            json!({"user_id": uid, "role_id": r, "parent_role_id": null,
                                   "name": self.roles.get(r), "active_flag": true, "type": "assignment"})
                        })
                        .collect();
                    paged(list)
                }
                None => fail(404, "User not found or not accessible."),
            },
            ("POST", ["users"]) => self.create_user(req, now),
            ("PUT", ["users", id]) => {
                let Some(flag) = req.json().and_then(|b| b.get("active_flag").cloned()) else {
                    return fail(400, "Parameter 'active_flag' is required.");
                };
                let Some(flag) = as_bool(&flag) else {
                    return fail(400, "Parameter 'active_flag' must be a boolean.");
                };
                let Some(uid) = self.user(id).map(|u| u.id) else {
                    return fail(404, "User not found or not accessible.");
                };
                if let Some(u) = self.users.get_mut(&uid) {
                    u.active_flag = flag;
                    u.modified = stamp(now);
                }
                match self.users.get(&uid) {
                    Some(u) => ok(self.render(u)),
                    None => fail(404, "User not found or not accessible."),
                }
            }
            ("GET", ["roles"]) => {
                let list: Vec<Value> = self
                    .roles
                    .iter()
                    .map(|(id, name)| {
                        let n = self.assignments.iter().filter(|(r, _)| r == id).count();
                        json!({"id": id, "parent_role_id": null, "name": name, "active_flag": true,
                               "assignment_count": n.to_string(), "sub_role_count": "0"})
                    })
                    .collect();
                paged(list)
            }
            ("POST", ["roles"]) => {
                let Some(name) = req
                    .json()
                    .and_then(|b| b.get("name").and_then(Value::as_str).map(str::to_owned))
                else {
                    return fail(400, "Parameter 'name' is required.");
                };
                let id = self.roles.keys().max().copied().unwrap_or(0) + 1;
                self.roles.insert(id, name);
                ok(json!({"id": id}))
            }
            ("GET", ["roles", id, "assignments"]) => match self.role(id) {
                Some(rid) => {
                    let list: Vec<Value> = self
                        .assignments
                        .iter()
                        .filter(|(r, _)| *r == rid)
                        .map(|(r, u)| json!({"user_id": u, "role_id": r, "type": "assignment"}))
                        .collect();
                    paged(list)
                }
                None => fail(404, "Role not found."),
            },
            ("POST" | "DELETE", ["roles", id, "assignments"]) => {
                let Some(rid) = self.role(id) else {
                    return fail(404, "Role not found.");
                };
                let Some(uid) = req
                    .json()
                    .and_then(|b| b.get("user_id").cloned())
                    .and_then(|v| {
                        v.as_u64()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    })
                else {
                    return fail(400, "Parameter 'user_id' is required.");
                };
                if !self.users.contains_key(&uid) {
                    return fail(404, "User not found or not accessible.");
                }
                if method == "POST" {
                    self.assignments.insert((rid, uid));
                } else {
                    self.assignments.remove(&(rid, uid));
                }
                ok(json!({"user_id": uid, "role_id": rid}))
            }
            ("GET", ["permissionSets"]) => ok(Value::Array(
                self.permission_sets
                    .iter()
                    .map(|p| {
                        json!({"id": p.id, "name": p.name, "app": p.app, "type": "custom",
                                    "assignment_count": 0})
                    })
                    .collect(),
            )),
            ("DELETE", ["users", ..]) => fail(404, "Unknown method ."),
            _ => fail(404, "Unknown method ."),
        }
    }

    fn user(&self, id: &str) -> Option<&User> {
        id.parse::<u64>().ok().and_then(|i| self.users.get(&i))
    }

    fn role(&self, id: &str) -> Option<u64> {
        id.parse::<u64>()
            .ok()
            .filter(|i| self.roles.contains_key(i))
    }

    fn create_user(&mut self, req: &Req<'_>, now: i64) -> Reply {
        let Some(body) = req.json() else {
            return fail(400, "Invalid JSON body.");
        };
        let Some(email) = body
            .get("email")
            .and_then(Value::as_str)
            .filter(|e| e.contains('@'))
        else {
            return fail(
                400,
                "Parameter 'email' is required and must be a valid email.",
            );
        };
        if self
            .users
            .values()
            .any(|u| u.email.eq_ignore_ascii_case(email))
        {
            // [inf] the reference shows no duplicate answer; a 400 naming it.
            return fail(400, "User with this email already exists in the company.");
        }
        let access = match body.get("access") {
            None | Some(Value::Null) => {
                json!([{"app": "sales", "admin": false, "permission_set_id": null}])
            }
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for a in items {
                    let Some(app) = a.get("app").and_then(Value::as_str) else {
                        return fail(400, "access[].app is required.");
                    };
                    if !APPS.contains(&app) {
                        return fail(400, &format!("access[].app '{app}' is not valid."));
                    }
                    let set = a.get("permission_set_id").and_then(Value::as_str);
                    if let Some(set) = set
                        && !self.permission_sets.iter().any(|p| p.id == set)
                    {
                        return fail(400, &format!("Permission set '{set}' not found."));
                    }
                    out.push(json!({"app": app, "admin": a.get("admin").and_then(Value::as_bool).unwrap_or(false),
                                    "permission_set_id": set}));
                }
                Value::Array(out)
            }
            Some(_) => return fail(400, "access must be an array."),
        };
        let id = self.next_user;
        self.next_user += 1;
        let mut u = User::new(id, email, now);
        u.access = access;
        if let Some(flag) = body.get("active_flag").and_then(as_bool) {
            u.active_flag = flag;
        }
        let out = self.render(&u);
        self.users.insert(id, u);
        ok(out)
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_u64().map(|n| n != 0),
        Value::String(s) => match s.as_str() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A list with the pagination `additional_data` (roles and assignments are paged).
fn paged(list: Vec<Value>) -> Reply {
    let n = list.len();
    Reply::json(
        200,
        json!({"success": true, "data": list,
               "additional_data": {"pagination": {"start": 0, "limit": 500.max(n), "more_items_in_collection": false}}}),
    )
}
