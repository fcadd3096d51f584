//! The outbound SCIM connector end to end, on SQLite and PostgreSQL: Entra-shaped requests
//! into scimbridge, the real worker, and the target over real HTTP — the fake Activepieces
//! (app roles → `platformRole`, names changed by `Replace`, `"active":"False"`, groups →
//! projects with both of Entra's removal forms, DELETE, the 150th user adopted), the fake
//! ActivTrak (`userPrincipalNames`/`tracking`, read-modify-PUT, POST upsert), scimbridge's own
//! SCIM endpoint as the RFC-conformant target of the `groups` lifecycle (target-apis.md §4,
//! row by row), and 429/503 from the target (backoff, nothing lost, nothing doubled).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::target::{
    add_member, patch, post_group, post_user_body, remove_member, user, wait_idle,
};
use common::{Endpoint, TestServer};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::{fake_activepieces, fake_activtrak};

const AP_EXT: &str = fake_activepieces::EXTENSION;
const AT_EXT: &str = fake_activtrak::USER_EXTENSION;
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Polls `cond` until it holds (or fails after `secs`).
async fn until(secs: u64, what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn scim_endpoint(s: &TestServer, base: &str, token: &str, args: &[&str]) -> Endpoint {
    let base = format!("base_url={base}");
    let token = format!("token={token}");
    let mut all = vec!["--setting", &base, "--secret", &token];
    all.extend_from_slice(args);
    s.endpoint_of("Acme", "scim", &all)
}

// ------------------------------------------------------------------ Activepieces

async fn entra_lifecycle_into_activepieces(s: TestServer) {
    let f = fake_activepieces::start("ap-key").await.unwrap();
    // 149 accounts exist already, and the 150th is one Entra is about to create.
    for i in 0..149 {
        f.seed_user(&format!("old{i:03}@contoso.com"), "MEMBER");
    }
    f.seed_user("grace@contoso.com", "MEMBER");
    let ep = scim_endpoint(
        &s,
        &f.base_url(),
        "ap-key",
        &[
            "--setting",
            "profile=activepieces",
            "--setting",
            "push_groups=true",
            "--default-role",
            "MEMBER",
            "--role-rule",
            "app_role:Admin=ADMIN",
            "--role-rule",
            "app_role:Operator=OPERATOR",
            "--deprovision",
            "deactivate",
        ],
    );
    // App roles → platformRole.
    let ada = post_user_body(&s, &ep, user("ada@contoso.com", Some("Admin"))).await;
    until(30, "ada created as ADMIN", || {
        f.user("ada@contoso.com")
            .is_some_and(|u| u.platform_role == "ADMIN" && u.given_name == "Given" && u.active)
    })
    .await;
    // The 150th user: Activepieces answers 409; the account is found and adopted, not doubled.
    let grace = post_user_body(&s, &ep, user("grace@contoso.com", Some("Operator"))).await;
    until(30, "grace adopted as OPERATOR", || {
        f.user("grace@contoso.com")
            .is_some_and(|u| u.platform_role == "OPERATOR" && u.family_name == "Family")
    })
    .await;
    assert_eq!(f.with(|a| a.users.len()), 151);
    // Names changed by Entra's `Replace` arrive (sent to Activepieces as `add`).
    patch(
        &s,
        &ep,
        &format!("/Users/{ada}"),
        json!([
            {"op": "Replace", "path": "name.givenName", "value": "Augusta"},
            {"op": "Replace", "path": "name.familyName", "value": "King"}
        ]),
    )
    .await;
    until(30, "names changed", || {
        f.user("ada@contoso.com")
            .is_some_and(|u| u.given_name == "Augusta" && u.family_name == "King")
    })
    .await;
    // A changed app role changes platformRole.
    patch(
        &s,
        &ep,
        &format!("/Users/{ada}"),
        json!([{"op": "replace", "path": "roles", "value": [
            {"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Operator"}]}]),
    )
    .await;
    until(30, "role changed", || {
        f.user("ada@contoso.com")
            .is_some_and(|u| u.platform_role == "OPERATOR")
    })
    .await;
    // Classic Entra disable: the string "False" — deactivates (a real boolean is sent).
    patch(
        &s,
        &ep,
        &format!("/Users/{ada}"),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    until(30, "ada deactivated", || {
        f.user("ada@contoso.com").is_some_and(|u| !u.active)
    })
    .await;
    patch(
        &s,
        &ep,
        &format!("/Users/{ada}"),
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    )
    .await;
    until(30, "ada reactivated", || {
        f.user("ada@contoso.com").is_some_and(|u| u.active)
    })
    .await;
    // Groups → projects, members added, removed in both of Entra's forms.
    let g = post_group(&s, &ep, "Sales").await;
    until(30, "project created", || f.project("Sales").is_some()).await;
    add_member(&s, &ep, &g, &ada).await;
    add_member(&s, &ep, &g, &grace).await;
    until(30, "members added", || {
        f.member_emails("Sales") == ["ada@contoso.com", "grace@contoso.com"]
    })
    .await;
    // Entra without aadOptscim062020: `Remove` with a value array.
    patch(
        &s,
        &ep,
        &format!("/Groups/{g}"),
        json!([{"op": "Remove", "path": "members", "value": [{"value": ada}]}]),
    )
    .await;
    until(30, "ada removed (classic form)", || {
        f.member_emails("Sales") == ["grace@contoso.com"]
    })
    .await;
    // With the flag: the filter form.
    remove_member(&s, &ep, &g, &grace).await;
    until(30, "grace removed (filter form)", || {
        f.member_emails("Sales").is_empty()
    })
    .await;
    patch(
        &s,
        &ep,
        &format!("/Groups/{g}"),
        json!([{"op": "Replace", "path": "displayName", "value": "Sales EU"}]),
    )
    .await;
    until(30, "project renamed", || f.project("Sales EU").is_some()).await;
    // DELETE group and user.
    let r = s.call(&ep, "DELETE", &format!("/Groups/{g}"), None).await;
    assert_eq!(r.status, 204);
    until(30, "project deleted", || f.with(|a| a.projects.is_empty())).await;
    let ada_id = f.user("ada@contoso.com").unwrap().id;
    let r = s.call(&ep, "DELETE", &format!("/Users/{ada}"), None).await;
    assert_eq!(r.status, 204);
    until(30, "DELETE reached Activepieces", || {
        f.requests()
            .iter()
            .any(|q| q.method == "DELETE" && q.path.ends_with(&format!("/Users/{ada_id}")))
    })
    .await;
    assert!(!f.user("ada@contoso.com").unwrap().active);
    wait_idle(&s, &ep).await;
    // Nothing was ever sent as a string boolean, nor with `replace` on names or the role.
    for q in f.requests() {
        let ops = q
            .body
            .as_ref()
            .and_then(|b| b["Operations"].as_array().cloned())
            .unwrap_or_default();
        for op in ops {
            let path = op["path"].as_str().unwrap_or_default();
            let ignored = path.starts_with("name.") || path.starts_with(AP_EXT);
            assert!(
                !(ignored
                    && op["op"]
                        .as_str()
                        .unwrap_or_default()
                        .eq_ignore_ascii_case("replace")),
                "{op}"
            );
        }
        let body = q.body.map(|b| b.to_string()).unwrap_or_default();
        assert!(
            !body.contains("\"False\"") && !body.contains("\"True\""),
            "{body}"
        );
    }
    f.stop().await;
}

// ------------------------------------------------------------------ ActivTrak

fn activtrak_schema() -> Value {
    json!({
        "id": AT_EXT,
        "name": "ActivTrakUser",
        "description": "ActivTrak user extension",
        "attributes": [
            {"name": "userPrincipalNames", "type": "string", "multiValued": true,
             "description": "UPNs", "required": false, "caseExact": false,
             "mutability": "readWrite", "returned": "default", "uniqueness": "none"},
            {"name": "tracking", "type": "boolean", "multiValued": false,
             "description": "Tracked", "required": false, "caseExact": false,
             "mutability": "readWrite", "returned": "default", "uniqueness": "none"}
        ]
    })
}

async fn entra_lifecycle_into_activtrak(s: TestServer) {
    let f = fake_activtrak::start("at-key").await.unwrap();
    f.seed_users(149);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("activtrak.json");
    std::fs::write(&file, activtrak_schema().to_string()).unwrap();
    let file = file.display().to_string();
    let ep = scim_endpoint(
        &s,
        &f.base_url(),
        "at-key",
        &[
            "--setting",
            "profile=activtrak",
            "--setting",
            "auth_header=authorization",
            "--setting",
            "push_groups=true",
            "--default-role",
            "User",
            "--deprovision",
            "deactivate",
            "--extension-schema",
            &file,
        ],
    );
    let mut body = user("ada@contoso.com", None);
    body[AT_EXT] = json!({"userPrincipalNames": ["ada@contoso.com", "ada@corp.contoso.com"], "tracking": "True"});
    body[ENTERPRISE] = json!({"employeeNumber": "42", "department": "Ops"});
    let ada = post_user_body(&s, &ep, body).await;
    until(30, "ada in ActivTrak with the extension", || {
        f.user("ada@contoso.com").is_some_and(|u| {
            u.user_principal_names() == ["ada@contoso.com", "ada@corp.contoso.com"]
                && u.resource[AT_EXT]["tracking"] == json!(true)
                && u.resource[ENTERPRISE]["employeeNumber"] == "42"
        })
    })
    .await;
    // The 150th account exists already on page 2: POST upserts it, nothing is doubled.
    post_user_body(&s, &ep, user("seed-120@example.com", None)).await;
    wait_idle(&s, &ep).await;
    assert_eq!(f.live_users(), 150);
    assert_eq!(
        f.user("seed-120@example.com").unwrap().resource["name"]["givenName"],
        "Given"
    );
    // Groups by read-modify-PUT (ActivTrak has no PATCH).
    let ada_at = f.user("ada@contoso.com").unwrap().id;
    let g = post_group(&s, &ep, "Ops").await;
    add_member(&s, &ep, &g, &ada).await;
    until(30, "member added", || {
        f.group("Ops")
            .is_some_and(|g| g.members == [ada_at.clone()])
    })
    .await;
    patch(
        &s,
        &ep,
        &format!("/Groups/{g}"),
        json!([{"op": "Remove", "path": "members", "value": [{"value": ada}]}]),
    )
    .await;
    until(30, "member removed", || {
        f.group("Ops").is_some_and(|g| g.members.is_empty())
    })
    .await;
    let r = s.call(&ep, "DELETE", &format!("/Groups/{g}"), None).await;
    assert_eq!(r.status, 204);
    until(30, "group deleted", || f.group("Ops").is_none()).await;
    // tracking=false passes through: Do Not Track.
    patch(
        &s,
        &ep,
        &format!("/Users/{ada}"),
        json!([{"op": "replace", "path": format!("{AT_EXT}:tracking"), "value": false}]),
    )
    .await;
    until(30, "tracking off", || {
        f.user("ada@contoso.com")
            .is_some_and(|u| !u.tracking() && u.do_not_track() && u.active())
    })
    .await;
    patch(
        &s,
        &ep,
        &format!("/Users/{ada}"),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    until(30, "ada deactivated", || {
        f.user("ada@contoso.com").is_some_and(|u| !u.active())
    })
    .await;
    let r = s.call(&ep, "DELETE", &format!("/Users/{ada}"), None).await;
    assert_eq!(r.status, 204);
    until(30, "ada deleted", || {
        f.user("ada@contoso.com").is_some_and(|u| u.deleted)
    })
    .await;
    wait_idle(&s, &ep).await;
    // ActivTrak's dialect: lower-case paths, no PATCH.
    for q in f.requests() {
        assert!(q.method != "PATCH", "{q:?}");
        assert!(
            !q.path.contains("/Users") && !q.path.contains("/Groups"),
            "{q:?}"
        );
    }
    f.stop().await;
}

// ------------------------------------------------------------------ §4 into a generic target

/// The roles the target integration holds for `name` (None: no such user), sorted.
async fn roles_in(s: &TestServer, target: &Endpoint, name: &str) -> Option<Vec<String>> {
    let filter = format!("userName eq \"{name}\"");
    let r = s
        .call(
            target,
            "GET",
            &format!("/Users?filter={}", urlencode(&filter)),
            None,
        )
        .await;
    let u = r.body["Resources"].as_array()?.first()?.clone();
    let mut roles: Vec<String> = u["roles"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    Some(roles)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn until_roles(
    s: &TestServer,
    target: &Endpoint,
    name: &str,
    want: Option<&[&str]>,
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = roles_in(s, target, name).await;
        let want: Option<Vec<String>> = want.map(|w| w.iter().map(|x| x.to_string()).collect());
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {name} has {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn acqueon_table_into_a_generic_target(s: TestServer) {
    // The conformant target: another integration's own SCIM endpoint (dry run: it pushes
    // nowhere itself).
    let target = s.endpoint_with(
        "Target",
        &[
            "--setting",
            "base_url=https://acme.api-us1.com/api/3",
            "--secret",
            "api_key=unused",
            "--mode",
            "dry-run",
        ],
    );
    let ep = scim_endpoint(
        &s,
        &target.url,
        &target.token,
        &[
            "--setting",
            "profile=generic",
            "--lifecycle",
            "groups",
            "--default-role",
            "PLACEHOLDER",
            "--deprovision",
            "ignore",
            "--role-rule",
            "group:Group1=Group1",
            "--role-rule",
            "group:Group2=Group2",
        ],
    );
    // E1: created with the placeholder.
    let u = post_user_body(&s, &ep, user("u@contoso.com", None)).await;
    let v = post_user_body(&s, &ep, user("v@contoso.com", None)).await;
    until_roles(&s, &target, "u@contoso.com", Some(&["PLACEHOLDER"]), "E1").await;
    until_roles(&s, &target, "v@contoso.com", Some(&["PLACEHOLDER"]), "E1").await;
    // E7: groups recorded, no role or group created in the target.
    let g1 = post_group(&s, &ep, "Group1").await;
    let g2 = post_group(&s, &ep, "Group2").await;
    wait_idle(&s, &ep).await;
    let groups = s.call(&target, "GET", "/Groups", None).await;
    assert_eq!(groups.body["totalResults"], 0, "E7");
    // E2: the first membership replaces the placeholder; a second one is added.
    add_member(&s, &ep, &g1, &u).await;
    add_member(&s, &ep, &g2, &v).await;
    until_roles(&s, &target, "u@contoso.com", Some(&["Group1"]), "E2").await;
    until_roles(&s, &target, "v@contoso.com", Some(&["Group2"]), "E2").await;
    add_member(&s, &ep, &g2, &u).await;
    until_roles(
        &s,
        &target,
        "u@contoso.com",
        Some(&["Group1", "Group2"]),
        "E2 ∪",
    )
    .await;
    // E6: the IdP reads membership consistent with the roles.
    let g = s.call(&ep, "GET", &format!("/Groups/{g2}"), None).await;
    let mut members: Vec<&str> = g.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    members.sort_unstable();
    let mut want = [u.as_str(), v.as_str()];
    want.sort_unstable();
    assert_eq!(members, want, "E6");
    // E5: active=false is acknowledged and changes nothing.
    patch(
        &s,
        &ep,
        &format!("/Users/{u}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    wait_idle(&s, &ep).await;
    until_roles(
        &s,
        &target,
        "u@contoso.com",
        Some(&["Group1", "Group2"]),
        "E5",
    )
    .await;
    // E3: removed from one group → that role goes; from the only one → the user goes.
    remove_member(&s, &ep, &g1, &u).await;
    until_roles(&s, &target, "u@contoso.com", Some(&["Group2"]), "E3").await;
    patch(
        &s,
        &ep,
        &format!("/Groups/{g2}"),
        json!([{"op": "Remove", "path": "members", "value": [{"value": v}]}]),
    )
    .await;
    until_roles(&s, &target, "v@contoso.com", None, "E3 last role").await;
    // E4: the group unassigned: u held only Group2 → deleted.
    let r = s.call(&ep, "DELETE", &format!("/Groups/{g2}"), None).await;
    assert_eq!(r.status, 204);
    until_roles(&s, &target, "u@contoso.com", None, "E4").await;
    wait_idle(&s, &ep).await;
}

/// The target integration's user named `name`, if any.
async fn user_in(s: &TestServer, target: &Endpoint, name: &str) -> Option<Value> {
    let filter = format!("userName eq \"{name}\"");
    let r = s
        .call(
            target,
            "GET",
            &format!("/Users?filter={}", urlencode(&filter)),
            None,
        )
        .await;
    r.body["Resources"].as_array()?.first().cloned()
}

/// The target integration's group named `name`: its member ids, sorted (None: no group).
async fn members_in(s: &TestServer, target: &Endpoint, name: &str) -> Option<Vec<String>> {
    let filter = format!("displayName eq \"{name}\"");
    let r = s
        .call(
            target,
            "GET",
            &format!("/Groups?filter={}", urlencode(&filter)),
            None,
        )
        .await;
    let g = r.body["Resources"].as_array()?.first()?.clone();
    let mut ids: Vec<String> = g["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    Some(ids)
}

async fn until_user(
    s: &TestServer,
    target: &Endpoint,
    name: &str,
    what: &str,
    cond: impl Fn(Option<&Value>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let u = user_in(s, target, name).await;
        if cond(u.as_ref()) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {name} is {u:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn until_members(
    s: &TestServer,
    target: &Endpoint,
    name: &str,
    want: Option<Vec<String>>,
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut want = want;
    if let Some(w) = want.as_mut() {
        w.sort();
    }
    loop {
        let got = members_in(s, target, name).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {name} has {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn entra_lifecycle_into_a_generic_target(s: TestServer) {
    let target = s.endpoint_with(
        "Target",
        &[
            "--setting",
            "base_url=https://acme.api-us1.com/api/3",
            "--secret",
            "api_key=unused",
            "--mode",
            "dry-run",
        ],
    );
    let ep = scim_endpoint(
        &s,
        &target.url,
        &target.token,
        &[
            "--setting",
            "profile=generic",
            "--setting",
            "push_groups=true",
            "--default-role",
            "User",
            "--role-rule",
            "app_role:Admin=Admin",
            "--deprovision",
            "deactivate",
        ],
    );
    let mut body = user("ada@contoso.com", Some("Admin"));
    body[ENTERPRISE] = json!({"department": "Ops"});
    let ada = post_user_body(&s, &ep, body).await;
    let bob = post_user_body(&s, &ep, user("bob@contoso.com", None)).await;
    until_user(
        &s,
        &target,
        "ada@contoso.com",
        "created with the app role",
        |u| {
            u.is_some_and(|u| {
                u["roles"][0]["value"] == "Admin"
                    && u["name"]["givenName"] == "Given"
                    && u[ENTERPRISE]["department"] == "Ops"
            })
        },
    )
    .await;
    until_user(&s, &target, "bob@contoso.com", "default role", |u| {
        u.is_some_and(|u| u["roles"][0]["value"] == "User")
    })
    .await;
    patch(
        &s,
        &ep,
        &format!("/Users/{ada}"),
        json!([
            {"op": "Replace", "path": "name.givenName", "value": "Augusta"},
            {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Sales"}
        ]),
    )
    .await;
    until_user(
        &s,
        &target,
        "ada@contoso.com",
        "names and attributes",
        |u| {
            u.is_some_and(|u| {
                u["name"]["givenName"] == "Augusta" && u[ENTERPRISE]["department"] == "Sales"
            })
        },
    )
    .await;
    patch(
        &s,
        &ep,
        &format!("/Users/{ada}"),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    until_user(&s, &target, "ada@contoso.com", "deactivated", |u| {
        u.is_some_and(|u| u["active"] == false)
    })
    .await;
    patch(
        &s,
        &ep,
        &format!("/Users/{ada}"),
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    )
    .await;
    until_user(&s, &target, "ada@contoso.com", "reactivated", |u| {
        u.is_some_and(|u| u["active"] == true)
    })
    .await;
    // Groups pushed, members added and removed in both of Entra's forms.
    let ada_t = user_in(&s, &target, "ada@contoso.com").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bob_t = user_in(&s, &target, "bob@contoso.com").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let g = post_group(&s, &ep, "Sales").await;
    until_members(&s, &target, "Sales", Some(vec![]), "group pushed").await;
    add_member(&s, &ep, &g, &ada).await;
    add_member(&s, &ep, &g, &bob).await;
    until_members(
        &s,
        &target,
        "Sales",
        Some(vec![ada_t.clone(), bob_t.clone()]),
        "members added",
    )
    .await;
    patch(
        &s,
        &ep,
        &format!("/Groups/{g}"),
        json!([{"op": "Remove", "path": "members", "value": [{"value": ada}]}]),
    )
    .await;
    until_members(
        &s,
        &target,
        "Sales",
        Some(vec![bob_t.clone()]),
        "classic removal",
    )
    .await;
    remove_member(&s, &ep, &g, &bob).await;
    until_members(&s, &target, "Sales", Some(vec![]), "filter removal").await;
    let r = s.call(&ep, "DELETE", &format!("/Groups/{g}"), None).await;
    assert_eq!(r.status, 204);
    until_members(&s, &target, "Sales", None, "group deleted").await;
    let r = s.call(&ep, "DELETE", &format!("/Users/{ada}"), None).await;
    assert_eq!(r.status, 204);
    until_user(&s, &target, "ada@contoso.com", "deleted", |u| u.is_none()).await;
    wait_idle(&s, &ep).await;
}

// ------------------------------------------------------------------ 429 / 503

async fn rate_limits_and_outages_lose_and_double_nothing(s: TestServer) {
    let f = fake_activepieces::start("ap-key").await.unwrap();
    let ep = scim_endpoint(
        &s,
        &f.base_url(),
        "ap-key",
        &[
            "--setting",
            "profile=activepieces",
            "--default-role",
            "MEMBER",
        ],
    );
    f.fail_next(3, 429, Some(1));
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(post_user_body(&s, &ep, user(&format!("r{i}@contoso.com"), None)).await);
    }
    until(60, "all three created", || {
        (0..3).all(|i| f.user(&format!("r{i}@contoso.com")).is_some())
    })
    .await;
    f.fail_next(3, 503, None);
    for id in &ids {
        patch(
            &s,
            &ep,
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "name.givenName", "value": "Renamed"}]),
        )
        .await;
    }
    until(60, "all three renamed", || {
        (0..3).all(|i| {
            f.user(&format!("r{i}@contoso.com"))
                .is_some_and(|u| u.given_name == "Renamed")
        })
    })
    .await;
    wait_idle(&s, &ep).await;
    let log = f.requests();
    assert_eq!(log.iter().filter(|q| q.status == 429).count(), 3);
    assert_eq!(log.iter().filter(|q| q.status == 503).count(), 3);
    let created = log
        .iter()
        .filter(|q| q.method == "POST" && q.path.ends_with("/Users") && q.status == 201)
        .count();
    assert_eq!(created, 3, "nothing doubled");
    assert_eq!(f.with(|a| a.users.len()), 3);
    // Without push_groups, groups only drive roles: no project is created.
    post_group(&s, &ep, "Not pushed").await;
    wait_idle(&s, &ep).await;
    assert!(f.with(|a| a.projects.is_empty()));
    f.stop().await;
}

// ------------------------------------------------------------------ CLI contract and wizard

async fn cli_contract_and_wizard(s: TestServer) {
    let f = fake_activepieces::start("ap-key").await.unwrap();
    let tenant = s.cli(&["tenant", "create", "--name", "Contract"]);
    let tid = tenant["id"].as_str().unwrap().to_string();
    let base = format!("base_url={}", f.base_url());
    let create = |extra: &[&str]| {
        let mut args = vec![
            "integration",
            "create",
            "--tenant",
            &tid,
            "--name",
            "AP",
            "--connector",
            "scim",
            "--setting",
            &base,
            "--secret",
            "token=ap-key",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let args = create(extra);
        s.cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let fails = |extra: &[&str]| {
        let args = create(extra);
        s.cli_fails(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = run(&[
        "--setting",
        "profile=activepieces",
        "--setting",
        "auth_header=authorization",
        "--setting",
        "push_groups=true",
        "--default-role",
        "MEMBER",
        "--role-rule",
        "app_role:Admin=ADMIN",
        "--deprovision",
        "deactivate",
        "--mode",
        "live",
    ]);
    let mut keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "prefix", "scim_url", "token"]);
    let e = fails(&[
        "--setting",
        "profile=salesforce",
        "--default-role",
        "MEMBER",
    ]);
    assert!(
        e.contains("must be one of generic, activepieces, activtrak"),
        "{e}"
    );
    let e = fails(&[
        "--setting",
        "profile=generic",
        "--setting",
        "auth_header=basic",
        "--default-role",
        "R",
    ]);
    assert!(e.contains("auth_header"), "{e}");
    let e = s.cli_fails(&[
        "integration",
        "create",
        "--tenant",
        &tid,
        "--name",
        "AP",
        "--connector",
        "scim",
        "--setting",
        &base,
        "--setting",
        "profile=generic",
        "--default-role",
        "R",
    ]);
    assert!(e.contains("needs 'token'"), "{e}");

    // The wizard offers "SCIM 2.0 app" with the profile as a choice.
    common::ui::admin(&s, "ops@example.com", "platform-admin", None);
    let ui = common::ui::Ui::new(&s.base);
    ui.sign_in("ops@example.com", common::ui::PASSWORD).await;
    let cards = ui.get(&format!("/t/{tid}/integrations/new")).await;
    assert!(cards.body.contains("SCIM 2.0 app"), "{}", cards.body);
    let new = format!("/t/{tid}/integrations/new/scim");
    let form = ui.get(&new).await;
    assert_eq!(form.status, 200);
    for o in ["generic", "activepieces", "activtrak"] {
        assert!(
            form.body.contains(&format!("<option value=\"{o}\"")),
            "{o}: {}",
            form.body
        );
    }
    assert!(form.body.contains("<select id=\"f-profile\""));
    let base_url = f.base_url();
    let borrowed = [
        ("name", "Activepieces"),
        ("profile", "activepieces"),
        ("base_url", base_url.as_str()),
        ("token", "ap-key"),
        ("push_groups", "true"),
    ];
    let tested = ui
        .post(&new, &format!("/t/{tid}/connectors/scim/test"), &borrowed)
        .await;
    assert!(
        tested.body.contains("data-ok=\"true\"") && tested.body.contains("PATCH yes"),
        "{}",
        tested.body
    );
    let saved = ui.post(&new, &new, &borrowed).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let saved_location = saved.location.unwrap();
    let connection = ui
        .get(&saved_location.replace("/roles", "/connection"))
        .await;
    assert!(
        connection
            .body
            .contains("<option value=\"activepieces\" selected"),
        "{}",
        connection.body
    );
    // push_groups=true starts the Policy step at "every group".
    let location = saved_location.replace("/roles", "/policy");
    let policy = ui.get(&location).await;
    assert!(
        policy
            .body
            .contains("name=\"group_push\" value=\"all\" checked"),
        "{}",
        policy.body
    );
    f.stop().await;
}

on_both_backends!(
    cli_contract_and_wizard,
    entra_lifecycle_into_activepieces,
    entra_lifecycle_into_activtrak,
    acqueon_table_into_a_generic_target,
    entra_lifecycle_into_a_generic_target,
    rate_limits_and_outages_lose_and_double_nothing,
);
