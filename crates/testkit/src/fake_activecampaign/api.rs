//! The ActiveCampaign v3 resources (users, groups, userGroups) on top of [`Account`]:
//! routing, validation, and the exact response envelopes of the reference §1.

use serde_json::{Map, Value, json};

use super::config::{Quirks, UsernameChange};
use super::state::{
    Account, Group, Link, NewUserData, Timestamp, User, fmt_ts, ident_key, is_group_attr,
};

/// Response body of the fake.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Json(Value),
    /// No body and no `Content-Type`.
    Empty,
    /// A non-JSON body (`text/plain`).
    Text(&'static str),
}

#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Body,
}

impl Reply {
    fn json(status: u16, value: Value) -> Self {
        Self {
            status,
            body: Body::Json(value),
        }
    }
}

/// Per-request context.
pub(crate) struct Ctx<'a> {
    /// `http://127.0.0.1:PORT/api/3`, used in `links`.
    pub base: &'a str,
    pub quirks: &'a Quirks,
    pub now: Timestamp,
}

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

/// Route a request (path relative to `/api/3`) to its resource handler.
pub(crate) fn dispatch(
    acct: &mut Account,
    ctx: &Ctx<'_>,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
) -> Reply {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let segs: Vec<&str> = trimmed.split('/').collect();
    match (method, segs.as_slice()) {
        ("GET", ["users"]) => list_users(acct, ctx, query),
        ("POST", ["users"]) => create_user(acct, ctx, body),
        ("GET", ["users", "me"]) => me(acct, ctx),
        ("GET", ["users", "email", email]) => {
            let email = pct_decode(email, false);
            let found = acct
                .find_user_by_email(&email, ctx.quirks.case_insensitive_identifiers)
                .map(|u| user_full(u, ctx.base));
            found.map_or_else(
                || not_found_by("User", "email", &email),
                |u| Reply::json(200, json!({ "user": u })),
            )
        }
        ("GET", ["users", "username", username]) => {
            let username = pct_decode(username, false);
            let found = acct
                .find_user_by_username(&username, ctx.quirks.case_insensitive_identifiers)
                .map(|u| user_full(u, ctx.base));
            found.map_or_else(
                || not_found_by("User", "username", &username),
                |u| Reply::json(200, json!({ "user": u })),
            )
        }
        ("GET", ["users", id]) => {
            let id = php_intval(id);
            acct.users.get(&id).map_or_else(
                || not_found("User", id, 404),
                |u| Reply::json(200, json!({ "user": user_full(u, ctx.base) })),
            )
        }
        ("PUT", ["users", id]) => update_user(acct, ctx, php_intval(id), body),
        ("DELETE", ["users", id]) => delete_user(acct, ctx, php_intval(id)),
        ("GET", ["users", id, "userGroup"]) => user_group_of(acct, ctx, php_intval(id)),
        ("GET", ["groups"]) => list_groups(acct, ctx, query),
        ("POST", ["groups"]) => create_group(acct, ctx, body),
        ("GET", ["groups", id]) => {
            let id = php_intval(id);
            acct.groups.get(&id).map_or_else(
                || not_found("Group", id, ctx.quirks.group_not_found_status_get),
                |g| Reply::json(200, json!({ "group": group_full(g, ctx.base) })),
            )
        }
        ("PUT", ["groups", id]) => update_group(acct, ctx, php_intval(id), body),
        ("DELETE", ["groups", id]) => {
            let id = php_intval(id);
            if acct.delete_group(id) {
                Reply::json(200, json!({}))
            } else {
                not_found("Group", id, ctx.quirks.group_not_found_status_write)
            }
        }
        ("GET", ["groups", id, "userGroups"]) => group_members(acct, ctx, php_intval(id), query),
        _ => generic_not_found(),
    }
}

// ---------------------------------------------------------------- errors

/// `{"message": "No Result found for <Entity> with id <N>"}` [doc][rec].
fn not_found(entity: &str, id: u64, status: u16) -> Reply {
    Reply::json(
        status,
        json!({ "message": format!("No Result found for {entity} with id {id}") }),
    )
}

/// Lookup by another key; same message pattern [inf].
fn not_found_by(entity: &str, key: &str, value: &str) -> Reply {
    Reply::json(
        404,
        json!({ "message": format!("No Result found for {entity} with {key} {value}") }),
    )
}

/// `{"errors":[{"status":404,"title":"Not Found"}]}` [doc] for unknown routes.
pub(crate) fn generic_not_found() -> Reply {
    Reply::json(
        404,
        json!({ "errors": [{ "status": 404, "title": "Not Found" }] }),
    )
}

/// The bare `400 {}` most operations declare [doc].
fn bad_request() -> Reply {
    Reply::json(400, json!({}))
}

fn unprocessable(errors: Vec<Value>) -> Reply {
    Reply::json(422, json!({ "errors": errors }))
}

/// Exactly the recorded 422 for a PUT without `group` [rec].
fn group_not_provided() -> Value {
    json!({
        "title": "The user group was not provided.",
        "detail": "",
        "code": "field_missing",
        "error": "user_group_was_not_provided",
        "source": { "pointer": "/data/attributes/group" }
    })
}

fn field_missing(field: &str) -> Value {
    if field == "group" {
        return group_not_provided();
    }
    json!({
        "title": format!("The field {field} was not provided."),
        "detail": "",
        "code": "field_missing",
        "source": { "pointer": format!("/data/attributes/{field}") }
    })
}

fn field_error(code: &str, title: &str, field: &str) -> Value {
    json!({
        "title": title,
        "detail": "",
        "code": code,
        "source": { "pointer": format!("/data/attributes/{field}") }
    })
}

fn duplicate_email() -> Value {
    field_error(
        "duplicate",
        "Email address already exists in the system",
        "email",
    )
}

fn duplicate_username() -> Value {
    field_error(
        "duplicate",
        "Username already exists in the system",
        "username",
    )
}

fn invalid_email() -> Value {
    field_error("field_invalid", "The email address is invalid.", "email")
}

fn group_related_missing() -> Value {
    field_error(
        "related_missing",
        "The related group does not exist.",
        "group",
    )
}

// ---------------------------------------------------------------- helpers

/// PHP-style `intval` of a path id: leading digits, else 0 (so `DELETE /users/`
/// answers "No Result found for User with id 0", as recorded).
fn php_intval(s: &str) -> u64 {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

/// Percent-decode a path segment or query component.
pub(crate) fn pct_decode(s: &str, plus_as_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if plus_as_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (pct_decode(k, true) == name).then(|| pct_decode(v, true))
    })
}

/// `limit` (default 20, max 100) and zero-based `offset` [lib].
fn page(query: &str) -> (usize, usize) {
    let limit = query_param(query, "limit")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|l| *l > 0)
        .map_or(DEFAULT_LIMIT, |l| l.min(MAX_LIMIT));
    let offset = query_param(query, "offset")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (limit, offset)
}

/// Parse a JSON request body; an empty body counts as `{}`.
fn parse_body(body: &[u8]) -> Option<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// The `{"<name>": {...}}` envelope's inner object (empty if absent).
fn envelope(body: &Map<String, Value>, name: &str) -> Map<String, Value> {
    match body.get(name) {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

/// A string-ish field: strings as-is, numbers stringified, anything else absent.
fn str_field(obj: &Map<String, Value>, name: &str) -> Option<String> {
    match obj.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// A field that is present and not blank.
fn given(obj: &Map<String, Value>, name: &str) -> Option<String> {
    str_field(obj, name).filter(|s| !s.trim().is_empty())
}

enum GroupField {
    Missing,
    Id(u64),
    Invalid,
}

/// `group` may be an integer (docs) or a numeric string (recording) [rec].
fn group_field(obj: &Map<String, Value>) -> GroupField {
    match obj.get("group") {
        None | Some(Value::Null) => GroupField::Missing,
        Some(Value::Number(n)) => n.as_u64().map_or(GroupField::Invalid, GroupField::Id),
        Some(Value::String(s)) if s.trim().is_empty() => GroupField::Missing,
        Some(Value::String(s)) => s
            .trim()
            .parse::<u64>()
            .map_or(GroupField::Invalid, GroupField::Id),
        Some(_) => GroupField::Invalid,
    }
}

fn valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

fn opt_ts(ts: Option<&Timestamp>) -> Value {
    ts.map_or(Value::Null, |t| fmt_ts(t).into())
}

// ---------------------------------------------------------------- JSON shapes

fn user_links(id: u64, base: &str) -> Value {
    let mut links = Map::new();
    for name in [
        "lists",
        "userGroup",
        "dealGroupTotals",
        "dealGroupUsers",
        "configs",
        "dealConnection",
        "userConversationsPermission",
        "seatUser",
    ] {
        links.insert(name.to_owned(), format!("{base}/users/{id}/{name}").into());
    }
    Value::Object(links)
}

/// Shape of `GET /users`, `/users/{id}`, `/users/me`, by email/username [rec].
fn user_full(u: &User, base: &str) -> Value {
    let mut m = user_common(u);
    m.insert("links".into(), user_links(u.id, base));
    m.insert("id".into(), u.id.to_string().into());
    Value::Object(m)
}

fn user_common(u: &User) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("username".into(), u.username.clone().into());
    m.insert("firstName".into(), u.first_name.clone().into());
    m.insert("lastName".into(), u.last_name.clone().into());
    m.insert("email".into(), u.email.clone().into());
    m.insert("phone".into(), u.phone.clone().into());
    m.insert(
        "signature".into(),
        u.signature.clone().map_or(Value::Null, Value::from),
    );
    m.insert("localZoneid".into(), u.local_zoneid.clone().into());
    m.insert(
        "password_updated_utc_timestamp".into(),
        u.password_updated.clone().map_or(Value::Null, Value::from),
    );
    m.insert("cdate".into(), opt_ts(u.cdate.as_ref()));
    m.insert("udate".into(), opt_ts(u.udate.as_ref()));
    m.insert("mfaEnabled".into(), "0".into());
    m
}

/// Shape of the 201 of `POST /users` [doc][rec].
fn user_created(u: &User, ctx: &Ctx<'_>) -> Value {
    let mut m = Map::new();
    m.insert("username".into(), u.username.clone().into());
    m.insert("email".into(), u.email.clone().into());
    m.insert("firstName".into(), u.first_name.clone().into());
    m.insert("lastName".into(), u.last_name.clone().into());
    if ctx.quirks.include_lang_on_create {
        m.insert("lang".into(), "english".into());
    }
    m.insert("localZoneid".into(), u.local_zoneid.clone().into());
    m.insert("cdate".into(), opt_ts(u.cdate.as_ref()));
    m.insert("udate".into(), opt_ts(u.udate.as_ref()));
    m.insert("links".into(), user_links(u.id, ctx.base));
    m.insert("id".into(), u.id.to_string().into());
    Value::Object(m)
}

/// The `user` of the PUT response: full fields plus `userGroup` (the id of the
/// *link record*) and `userConversationsPermission` [rec].
fn user_updated(u: &User, link: Option<&Link>, base: &str) -> Value {
    let mut m = user_common(u);
    if let Some(link) = link {
        m.insert("userGroup".into(), link.id.to_string().into());
    }
    m.insert(
        "userConversationsPermission".into(),
        u.conv_perm.id.to_string().into(),
    );
    m.insert("links".into(), user_links(u.id, base));
    m.insert("id".into(), u.id.to_string().into());
    Value::Object(m)
}

/// A userGroup link record [rec].
fn link_json(l: &Link, base: &str) -> Value {
    json!({
        "userid": l.user_id.to_string(),
        "groupid": l.group_id.to_string(),
        "cdate": fmt_ts(&l.cdate),
        "udate": fmt_ts(&l.udate),
        "links": {
            "group": format!("{base}/userGroups/{}/group", l.id),
            "user": format!("{base}/userGroups/{}/user", l.id),
        },
        "id": l.id.to_string(),
        "group": l.group_id.to_string(),
        "user": l.user_id.to_string(),
    })
}

fn conv_perm_json(u: &User, base: &str) -> Value {
    let id = u.conv_perm.id;
    json!({
        "user": u.id.to_string(),
        "permission": "0",
        "created_timestamp": fmt_ts(&u.conv_perm.created),
        "updated_timestamp": fmt_ts(&u.conv_perm.updated),
        "links": { "user": format!("{base}/userConversationsPermissions/{id}/user") },
        "id": id.to_string(),
    })
}

fn group_links(id: u64, base: &str) -> Value {
    let mut links = Map::new();
    for name in [
        "userGroups",
        "groupLimit",
        "dealGroupGroups",
        "listGroups",
        "addressGroups",
        "automationGroups",
    ] {
        links.insert(name.to_owned(), format!("{base}/groups/{id}/{name}").into());
    }
    Value::Object(links)
}

/// Shape of `GET /groups` and `/groups/{id}` [rec].
fn group_full(g: &Group, base: &str) -> Value {
    let mut m = Map::new();
    m.insert("title".into(), g.title.clone().into());
    m.insert("descript".into(), g.descript.clone().into());
    for (k, v) in &g.attrs {
        m.insert(k.clone(), v.clone());
    }
    m.insert("links".into(), group_links(g.id, base));
    m.insert("id".into(), g.id.to_string().into());
    Value::Object(m)
}

/// Shape of the create/update group responses: the sent fields echoed, then
/// `"p_admin": 1` (an integer), `links`, `id` [rec][doc].
fn group_echo(sent: &Map<String, Value>, id: u64, base: &str) -> Value {
    let mut m = Map::new();
    for (k, v) in sent {
        if k == "title" || k == "descript" || is_group_attr(k) {
            m.insert(k.clone(), v.clone());
        }
    }
    if !m.contains_key("p_admin") {
        m.insert("p_admin".into(), 1.into());
    }
    m.insert("links".into(), group_links(id, base));
    m.insert("id".into(), id.to_string().into());
    Value::Object(m)
}

fn list_json<T>(key: &str, items: &[T], query: &str, render: impl Fn(&T) -> Value) -> Reply {
    let (limit, offset) = page(query);
    let page: Vec<Value> = items.iter().skip(offset).take(limit).map(render).collect();
    let mut m = Map::new();
    m.insert(key.to_owned(), Value::Array(page));
    m.insert("meta".into(), json!({ "total": items.len().to_string() }));
    Reply::json(200, Value::Object(m))
}

// ---------------------------------------------------------------- users

fn list_users(acct: &Account, ctx: &Ctx<'_>, query: &str) -> Reply {
    let users: Vec<&User> = acct.users.values().collect();
    list_json("users", &users, query, |u| user_full(u, ctx.base))
}

fn me(acct: &Account, ctx: &Ctx<'_>) -> Reply {
    acct.users.get(&acct.owner_id).map_or_else(
        || not_found("User", acct.owner_id, 404),
        |u| Reply::json(200, json!({ "user": user_full(u, ctx.base) })),
    )
}

fn create_user(acct: &mut Account, ctx: &Ctx<'_>, body: &[u8]) -> Reply {
    let Some(body) = parse_body(body) else {
        return bad_request();
    };
    let u = envelope(&body, "user");
    let ci = ctx.quirks.case_insensitive_identifiers;
    let mut errors = Vec::new();
    for field in &ctx.quirks.create_required_fields {
        let missing = if field == "group" {
            matches!(group_field(&u), GroupField::Missing)
        } else {
            given(&u, field).is_none()
        };
        if missing {
            errors.push(field_missing(field));
        }
    }
    let username = given(&u, "username");
    let email = given(&u, "email");
    if let Some(email) = &email {
        if !valid_email(email) {
            errors.push(invalid_email());
        } else if acct.find_user_by_email(email, ci).is_some() {
            errors.push(duplicate_email());
        }
    }
    if let Some(username) = &username
        && acct.find_user_by_username(username, ci).is_some()
    {
        errors.push(duplicate_username());
    }
    let group_id = match group_field(&u) {
        GroupField::Missing => None,
        GroupField::Id(g) if acct.groups.contains_key(&g) => Some(g),
        GroupField::Id(_) | GroupField::Invalid => {
            errors.push(group_related_missing());
            None
        }
    };
    if !errors.is_empty() {
        return unprocessable(errors);
    }
    let id = acct.insert_user(
        NewUserData {
            username: username.unwrap_or_default(),
            email: email.unwrap_or_default(),
            first_name: str_field(&u, "firstName").unwrap_or_default(),
            last_name: str_field(&u, "lastName").unwrap_or_default(),
            password: str_field(&u, "password").unwrap_or_default(),
            group_id,
        },
        &ctx.now,
    );
    acct.users.get(&id).map_or_else(
        || not_found("User", id, 404),
        |user| Reply::json(201, json!({ "user": user_created(user, ctx) })),
    )
}

fn update_user(acct: &mut Account, ctx: &Ctx<'_>, id: u64, body: &[u8]) -> Reply {
    let Some(current) = acct.users.get(&id).cloned() else {
        return not_found("User", id, 404);
    };
    let Some(body) = parse_body(body) else {
        return bad_request();
    };
    let u = envelope(&body, "user");
    let ci = ctx.quirks.case_insensitive_identifiers;
    let mut errors = Vec::new();

    let group_id = match group_field(&u) {
        GroupField::Missing => {
            if ctx.quirks.require_group_on_update {
                errors.push(group_not_provided());
            }
            None
        }
        GroupField::Id(g) if acct.groups.contains_key(&g) => Some(g),
        GroupField::Id(_) | GroupField::Invalid => {
            errors.push(group_related_missing());
            None
        }
    };

    let mut new_username = None;
    if let Some(username) = given(&u, "username")
        && username != current.username
    {
        match ctx.quirks.username_change {
            UsernameChange::Allow => {
                let taken = acct
                    .users
                    .values()
                    .any(|o| o.id != id && ident_key(&o.username, ci) == ident_key(&username, ci));
                if taken {
                    errors.push(duplicate_username());
                } else {
                    new_username = Some(username);
                }
            }
            UsernameChange::Ignore => {}
            UsernameChange::Reject => errors.push(field_error(
                "field_invalid",
                "Username cannot be changed!",
                "username",
            )),
        }
    }

    let new_email = given(&u, "email");
    if let Some(email) = &new_email {
        if !valid_email(email) {
            errors.push(invalid_email());
        } else if acct
            .users
            .values()
            .any(|o| o.id != id && ident_key(&o.email, ci) == ident_key(email, ci))
        {
            errors.push(duplicate_email());
        }
    }
    if !errors.is_empty() {
        return unprocessable(errors);
    }

    if let Some(g) = group_id {
        acct.set_user_group(id, g, &ctx.now);
    }
    if let Some(user) = acct.users.get_mut(&id) {
        if let Some(username) = new_username {
            user.username = username;
        }
        if let Some(email) = new_email {
            user.email = email;
        }
        if let Some(first) = str_field(&u, "firstName") {
            user.first_name = first;
        }
        if let Some(last) = str_field(&u, "lastName") {
            user.last_name = last;
        }
        if let Some(password) = given(&u, "password") {
            user.password = password;
        }
        user.udate = Some(ctx.now);
    }
    let Some(user) = acct.users.get(&id) else {
        return not_found("User", id, 404);
    };
    let link = acct.link_of_user(id);
    let mut m = Map::new();
    m.insert(
        "userGroups".into(),
        Value::Array(link.map(|l| link_json(l, ctx.base)).into_iter().collect()),
    );
    m.insert(
        "userConversationsPermissions".into(),
        Value::Array(vec![conv_perm_json(user, ctx.base)]),
    );
    m.insert("user".into(), user_updated(user, link, ctx.base));
    Reply::json(200, Value::Object(m))
}

fn delete_user(acct: &mut Account, ctx: &Ctx<'_>, id: u64) -> Reply {
    if id == acct.owner_id && acct.users.contains_key(&id) && !ctx.quirks.allow_delete_owner {
        return Reply::json(
            403,
            json!({ "errors": [{
                "status": 403,
                "title": "Forbidden",
                "detail": "You do not have permission to delete this user"
            }] }),
        );
    }
    if acct.delete_user(id) {
        Reply::json(200, json!({}))
    } else {
        not_found("User", id, 404)
    }
}

fn user_group_of(acct: &Account, ctx: &Ctx<'_>, id: u64) -> Reply {
    if !acct.users.contains_key(&id) {
        return not_found("User", id, 404);
    }
    acct.link_of_user(id).map_or_else(
        || not_found("UserGroup", id, 404),
        |l| Reply::json(200, json!({ "userGroup": link_json(l, ctx.base) })),
    )
}

// ---------------------------------------------------------------- groups

fn list_groups(acct: &Account, ctx: &Ctx<'_>, query: &str) -> Reply {
    let search = query_param(query, "search")
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    let groups: Vec<&Group> = acct
        .groups
        .values()
        .filter(|g| {
            search
                .as_ref()
                .is_none_or(|s| g.title.to_lowercase().contains(s.as_str()))
        })
        .collect();
    list_json("groups", &groups, query, |g| group_full(g, ctx.base))
}

/// Known permission flags in a group envelope, stringified ("0"/"1").
fn group_flags(g: &Map<String, Value>) -> Vec<(String, String)> {
    g.iter()
        .filter(|(k, _)| is_group_attr(k))
        .filter_map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
                _ => return None,
            };
            Some((k.clone(), s))
        })
        .collect()
}

fn create_group(acct: &mut Account, ctx: &Ctx<'_>, body: &[u8]) -> Reply {
    let Some(body) = parse_body(body) else {
        return bad_request();
    };
    let g = envelope(&body, "group");
    let Some(title) = given(&g, "title") else {
        // Exactly the documented example (no `source`) [doc].
        return unprocessable(vec![json!({
            "title": "The field title was not provided.",
            "detail": "",
            "code": "field_missing"
        })]);
    };
    let descript = str_field(&g, "descript").unwrap_or_default();
    let id = acct.insert_group(&title, &descript, &group_flags(&g), None);
    Reply::json(201, json!({ "group": group_echo(&g, id, ctx.base) }))
}

fn update_group(acct: &mut Account, ctx: &Ctx<'_>, id: u64, body: &[u8]) -> Reply {
    if !acct.groups.contains_key(&id) {
        return not_found("Group", id, ctx.quirks.group_not_found_status_write);
    }
    let Some(body) = parse_body(body) else {
        return bad_request();
    };
    let g = envelope(&body, "group");
    let flags = group_flags(&g);
    if let Some(group) = acct.groups.get_mut(&id) {
        if let Some(title) = given(&g, "title") {
            group.title = title;
        }
        if let Some(descript) = str_field(&g, "descript") {
            group.descript = descript;
        }
        for (name, value) in flags {
            if let Some(slot) = group.attrs.iter_mut().find(|(n, _)| *n == name) {
                slot.1 = value.into();
            }
        }
    }
    Reply::json(200, json!({ "group": group_echo(&g, id, ctx.base) }))
}

/// `GET /groups/{id}/userGroups` — shape not verified [inf]: the link records
/// of the group's members plus `meta.total`.
fn group_members(acct: &Account, ctx: &Ctx<'_>, id: u64, query: &str) -> Reply {
    use super::config::MemberLists;
    if ctx.quirks.member_lists == MemberLists::Missing {
        return generic_not_found();
    }
    if !acct.groups.contains_key(&id) {
        return not_found("Group", id, ctx.quirks.group_not_found_status_get);
    }
    let unfiltered = ctx.quirks.member_lists == MemberLists::Unfiltered;
    let links: Vec<&Link> = acct
        .links
        .values()
        .filter(|l| unfiltered || l.group_id == id)
        .collect();
    list_json("userGroups", &links, query, |l| link_json(l, ctx.base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intval_and_decode() {
        assert_eq!(php_intval("12"), 12);
        assert_eq!(php_intval(""), 0);
        assert_eq!(php_intval("abc"), 0);
        assert_eq!(php_intval("7x"), 7);
        assert_eq!(pct_decode("a%40b.com", false), "a@b.com");
        assert_eq!(pct_decode("a+b", false), "a+b");
        assert_eq!(pct_decode("a+b", true), "a b");
        assert_eq!(pct_decode("100%", false), "100%");
        assert_eq!(pct_decode("%zz", false), "%zz");
    }

    #[test]
    fn paging() {
        assert_eq!(page(""), (20, 0));
        assert_eq!(page("limit=500&offset=3"), (100, 3));
        assert_eq!(page("limit=0"), (20, 0));
        assert_eq!(page("offset=x&limit=5"), (5, 0));
    }

    #[test]
    fn emails() {
        assert!(valid_email("a@b.co"));
        assert!(valid_email("first.last+tag@sub.example.com"));
        assert!(!valid_email("nope"));
        assert!(!valid_email("a@b"));
        assert!(!valid_email("a b@c.d"));
        assert!(!valid_email("@c.d"));
    }
}
