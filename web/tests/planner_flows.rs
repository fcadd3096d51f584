//! The planner's flows end to end, on SQLite and PostgreSQL, through the real worker against
//! the fake ActiveCampaign: the membership-driven lifecycle (target-apis.md §4, rows E1–E7)
//! with and without a default role, the choices for users no rule matches, app roles by value
//! and by display name, the deletion guard (hold, approve, discard), one rate-limit slot per
//! HTTP request across create, adopt, update and deprovision, and the explanation that the
//! user page, dry-run events and the worker share.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::target::{
    add_member, eventually, exists, group_of, patch, post_group, post_user, post_user_body,
    remove_member, user_with_roles, wait_idle,
};
use common::{Endpoint, TestServer};
use serde_json::json;
use std::time::Duration;
use testkit::fake_activecampaign::{
    AccountConfig, FakeActiveCampaign, FakeConfig, FakeHandle, SeedUser, max_in_any_window,
};

const TOKEN: &str = "ac-key-of-owner";

async fn fake() -> FakeHandle {
    FakeActiveCampaign::start(FakeConfig::default().account(
        AccountConfig::new("acme", TOKEN).groups([
            "Role1",
            "Role2",
            "Manager",
            "User",
            "No access",
        ]),
    ))
    .await
}

fn endpoint(s: &TestServer, f: &FakeHandle, extra: &[&str]) -> Endpoint {
    let base = format!("base_url={}", f.base_url());
    let key = format!("api_key={TOKEN}");
    let mut args = vec!["--setting", &base, "--secret", &key];
    args.extend_from_slice(extra);
    s.endpoint_with("Acme", &args)
}

/// Lets the worker finish, then a moment more (for "nothing happened" checks).
async fn settle(s: &TestServer, ep: &Endpoint) {
    wait_idle(s, ep).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_idle(s, ep).await;
}

// ------------------------------------------------------------------ §4 E1–E7

async fn groups_lifecycle_with_a_default_role(s: TestServer) {
    let f = fake().await;
    let ep = endpoint(
        &s,
        &f,
        &[
            "--lifecycle",
            "groups",
            "--default-role",
            "User",
            "--deprovision",
            "ignore",
            "--role-rule",
            "group:Group1=Role1",
            "--role-rule",
            "group:Group2=Role2",
        ],
    );
    // E1: created with the placeholder (the default role) before any membership.
    let u = post_user(&s, &ep, "u@contoso.com", None).await;
    let v = post_user(&s, &ep, "v@contoso.com", None).await;
    eventually(&f, 30, "E1: placeholders", |a| {
        group_of(a, "u@contoso.com").as_deref() == Some("User")
            && group_of(a, "v@contoso.com").as_deref() == Some("User")
    })
    .await;
    // E7: groups assigned with no members: recorded, nothing created in the target.
    let groups_before = f.account_state("acme").unwrap().groups.len();
    let g1 = post_group(&s, &ep, "Group1").await;
    let g2 = post_group(&s, &ep, "Group2").await;
    settle(&s, &ep).await;
    assert_eq!(f.account_state("acme").unwrap().groups.len(), groups_before);
    // E2: the first membership replaces the placeholder.
    add_member(&s, &ep, &g1, &u).await;
    add_member(&s, &ep, &g2, &v).await;
    eventually(&f, 30, "E2: roles from the groups", |a| {
        group_of(a, "u@contoso.com").as_deref() == Some("Role1")
            && group_of(a, "v@contoso.com").as_deref() == Some("Role2")
    })
    .await;
    // E2 overlapping: Group2 too; the single slot keeps the higher-priority Role1.
    add_member(&s, &ep, &g2, &u).await;
    add_member(&s, &ep, &g1, &v).await;
    eventually(&f, 30, "both in Role1", |a| {
        group_of(a, "v@contoso.com").as_deref() == Some("Role1")
    })
    .await;
    // E5: active=false is acknowledged and ignored.
    patch(
        &s,
        &ep,
        &format!("/Users/{u}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    settle(&s, &ep).await;
    assert_eq!(
        group_of(&f.account_state("acme").unwrap(), "u@contoso.com").as_deref(),
        Some("Role1")
    );
    // E3: removed from Group1 → Role2 remains.
    remove_member(&s, &ep, &g1, &u).await;
    eventually(&f, 30, "E3: u falls back to Role2", |a| {
        group_of(a, "u@contoso.com").as_deref() == Some("Role2")
    })
    .await;
    // E6: reads report membership consistent with the roles.
    let g = s.call(&ep, "GET", &format!("/Groups/{g2}"), None).await;
    let members: Vec<&str> = g.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert!(
        members.contains(&u.as_str()) && members.contains(&v.as_str()),
        "{members:?}"
    );
    let g = s.call(&ep, "GET", &format!("/Groups/{g1}"), None).await;
    assert_eq!(g.body["members"].as_array().map(Vec::len).unwrap_or(0), 1);
    // E4: Group2 unassigned: u (only Group2 left) is deleted; v keeps Role1.
    let r = s.call(&ep, "DELETE", &format!("/Groups/{g2}"), None).await;
    assert_eq!(r.status, 204);
    eventually(&f, 30, "E4: u deleted, v keeps Role1", |a| {
        !exists(a, "u@contoso.com") && group_of(a, "v@contoso.com").as_deref() == Some("Role1")
    })
    .await;
    // Not brought back as a placeholder.
    settle(&s, &ep).await;
    assert!(!exists(&f.account_state("acme").unwrap(), "u@contoso.com"));
}

async fn groups_lifecycle_without_a_default_role(s: TestServer) {
    let f = fake().await;
    let ep = endpoint(
        &s,
        &f,
        &[
            "--lifecycle",
            "groups",
            "--deprovision",
            "ignore",
            "--role-rule",
            "group:Group1=Role1",
        ],
    );
    // E1: no account until the first membership.
    let w = post_user(&s, &ep, "w@contoso.com", None).await;
    settle(&s, &ep).await;
    assert!(!exists(&f.account_state("acme").unwrap(), "w@contoso.com"));
    // E2: created with the group's role.
    let g1 = post_group(&s, &ep, "Group1").await;
    add_member(&s, &ep, &g1, &w).await;
    eventually(&f, 30, "E2: created in Role1", |a| {
        group_of(a, "w@contoso.com").as_deref() == Some("Role1")
    })
    .await;
    // E3: the last mapped group goes → deleted.
    remove_member(&s, &ep, &g1, &w).await;
    eventually(&f, 30, "E3: deleted", |a| !exists(a, "w@contoso.com")).await;
    // Back in the group → created again.
    add_member(&s, &ep, &g1, &w).await;
    eventually(&f, 30, "created again", |a| {
        group_of(a, "w@contoso.com").as_deref() == Some("Role1")
    })
    .await;
}

async fn groups_lifecycle_with_a_deprovision_role(s: TestServer) {
    let f = fake().await;
    let ep = endpoint(
        &s,
        &f,
        &[
            "--lifecycle",
            "groups",
            "--deprovision",
            "role:No access",
            "--role-rule",
            "group:Group1=Role1",
        ],
    );
    let x = post_user(&s, &ep, "x@contoso.com", None).await;
    let g1 = post_group(&s, &ep, "Group1").await;
    add_member(&s, &ep, &g1, &x).await;
    eventually(&f, 30, "created in Role1", |a| {
        group_of(a, "x@contoso.com").as_deref() == Some("Role1")
    })
    .await;
    let password = |a: &testkit::fake_activecampaign::AccountSnapshot| {
        a.users
            .iter()
            .find(|u| u.email == "x@contoso.com")
            .unwrap()
            .password
            .clone()
    };
    let before = password(&f.account_state("acme").unwrap());
    // Losing the group moves the account to No access and scrambles its password (§1.6).
    remove_member(&s, &ep, &g1, &x).await;
    eventually(&f, 30, "moved to No access", |a| {
        group_of(a, "x@contoso.com").as_deref() == Some("No access")
    })
    .await;
    settle(&s, &ep).await;
    let after = password(&f.account_state("acme").unwrap());
    assert_ne!(before, after, "the password was rotated");
    assert!(after.len() >= 30);
}

// ------------------------------------------------------------------ unmatched, app roles

async fn unmatched_choices(s: TestServer) {
    let f = fake().await;
    let rule = ["--role-rule", "group:Sales=Manager"];
    let keep = endpoint(
        &s,
        &f,
        &[
            &["--default-role", "User", "--unmatched", "keep"][..],
            &rule[..],
        ]
        .concat(),
    );
    let deprov = endpoint(
        &s,
        &f,
        &[
            &[
                "--default-role",
                "User",
                "--unmatched",
                "deprovision",
                "--deprovision",
                "role:No access",
            ][..],
            &rule[..],
        ]
        .concat(),
    );
    let auto = endpoint(
        &s,
        &f,
        &[&["--default-role", "User"][..], &rule[..]].concat(),
    );
    // Without a default role the automatic choice removes access: deleted here.
    let none = endpoint(
        &s,
        &f,
        &[&["--deprovision", "ignore"][..], &rule[..]].concat(),
    );
    let mut users = Vec::new();
    for (ep, email) in [
        (&keep, "keep@contoso.com"),
        (&deprov, "deprov@contoso.com"),
        (&auto, "auto@contoso.com"),
        (&none, "none@contoso.com"),
    ] {
        let u = post_user(&s, ep, email, None).await;
        let g = post_group(&s, ep, "Sales").await;
        add_member(&s, ep, &g, &u).await;
        users.push((ep, email, u, g));
    }
    eventually(&f, 60, "everyone a Manager", |a| {
        users
            .iter()
            .all(|(_, e, _, _)| group_of(a, e).as_deref() == Some("Manager"))
    })
    .await;
    for (ep, _, u, g) in &users {
        remove_member(&s, ep, g, u).await;
    }
    eventually(&f, 60, "each choice applied", |a| {
        group_of(a, "keep@contoso.com").as_deref() == Some("Manager")
            && group_of(a, "deprov@contoso.com").as_deref() == Some("No access")
            && group_of(a, "auto@contoso.com").as_deref() == Some("User")
            && !exists(a, "none@contoso.com")
    })
    .await;
    // `default` without a default role is refused when saved, with a reason.
    let base = format!("base_url={}", f.base_url());
    let key = format!("api_key={TOKEN}");
    let tenant = s.cli(&["tenant", "create", "--name", "Refused"]);
    let (ok, _, err) = s.cli_stdin(
        &[
            "integration",
            "create",
            "--tenant",
            tenant["id"].as_str().unwrap(),
            "--name",
            "x",
            "--connector",
            "activecampaign",
            "--setting",
            &base,
            "--secret",
            &key,
            "--unmatched",
            "default",
        ],
        "",
    );
    assert!(!ok && err.contains("default role"), "{err}");
    // An invalid rule is refused when saved, never found later by a job.
    let (ok, _, err) = s.cli_stdin(
        &[
            "integration",
            "create",
            "--tenant",
            tenant["id"].as_str().unwrap(),
            "--name",
            "y",
            "--connector",
            "activecampaign",
            "--setting",
            &base,
            "--secret",
            &key,
            "--role-rule",
            "filter:shoeSize eq 42=Manager",
        ],
        "",
    );
    assert!(!ok && err.contains("--role-rule"), "{err}");
}

async fn app_roles_by_value_and_by_display_name(s: TestServer) {
    let f = fake().await;
    let ep = endpoint(
        &s,
        &f,
        &[
            "--default-role",
            "User",
            "--role-rule",
            "app_role:UserAdministrator=Admin",
            "--role-rule",
            "app_role:Sales Representative=Manager",
        ],
    );
    let role = |display: &str, value: &str| json!([{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "display": display, "value": value}]);
    post_user_body(
        &s,
        &ep,
        user_with_roles(
            "byvalue@contoso.com",
            role("User Administrator", "UserAdministrator"),
        ),
    )
    .await;
    post_user_body(
        &s,
        &ep,
        user_with_roles(
            "bydisplay@contoso.com",
            role("Sales Representative", "SalesRep"),
        ),
    )
    .await;
    post_user_body(
        &s,
        &ep,
        user_with_roles("neither@contoso.com", role("Viewer", "Viewer")),
    )
    .await;
    eventually(
        &f,
        30,
        "app roles matched by value and by display name",
        |a| {
            group_of(a, "byvalue@contoso.com").as_deref() == Some("Admin")
                && group_of(a, "bydisplay@contoso.com").as_deref() == Some("Manager")
                && group_of(a, "neither@contoso.com").as_deref() == Some("User")
        },
    )
    .await;
}

// ------------------------------------------------------------------ deletion guard

async fn guard_holds_an_entra_scoping_mistake(s: TestServer) {
    let f = fake().await;
    let ep = endpoint(
        &s,
        &f,
        &["--default-role", "User", "--deprovision", "delete"],
    );
    let server = std::sync::Arc::new(s);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (srv, ep) = (server.clone(), ep.clone());
        set.spawn(
            async move { post_user(&srv, &ep, &format!("scope{i:03}@contoso.com"), None).await },
        );
    }
    let mut ids = Vec::new();
    while let Some(r) = set.join_next().await {
        ids.push(r.unwrap());
    }
    ids.sort();
    let count = |a: &testkit::fake_activecampaign::AccountSnapshot| {
        a.users
            .iter()
            .filter(|u| u.email.starts_with("scope"))
            .count()
    };
    eventually(&f, 120, "100 users created", |a| count(a) == 100).await;
    let s = &*server;
    // The scoping mistake: Entra deletes 60 of the 100.
    for id in &ids[..60] {
        let r = s.call(&ep, "DELETE", &format!("/Users/{id}"), None).await;
        assert_eq!(r.status, 204);
    }
    settle(s, &ep).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // past the 1 s settle window
    settle(s, &ep).await;
    assert_eq!(
        count(&f.account_state("acme").unwrap()),
        100,
        "0 target deletions while held"
    );
    let held = s.cli(&["guard", "show", "--integration", &ep.id]);
    assert_eq!(held["held"], true, "{held}");
    assert_eq!(held["users"].as_array().unwrap().len(), 60, "{held}");
    // Held decisions are in the users' history.
    let st = s.store().await;
    let events = st
        .list_events(&store::EventQuery {
            integration_id: Some(ep.id.clone()),
            limit: store::MAX_EVENT_PAGE,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.iter().filter(|e| e.outcome == "held").count(), 60);
    // And in /metrics, from the database.
    let metrics = |s: &TestServer| {
        let url = format!("{}/metrics", s.base);
        let http = s.http.clone();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let held_line = format!(
        "scimbridge_guard_held_users{{integration=\"{}\"}} 60",
        ep.id
    );
    let page = metrics(s).await;
    assert!(
        page.contains(&held_line),
        "{held_line} not in /metrics:\n{page}"
    );
    // Approve: they run.
    let approved = s.cli(&["guard", "approve", "--integration", &ep.id]);
    assert_eq!(approved["users"].as_array().unwrap().len(), 60);
    eventually(&f, 60, "60 deleted after approval", |a| count(a) == 40).await;
    let after = s.cli(&["guard", "show", "--integration", &ep.id]);
    assert_eq!(after, json!({"held": false, "users": []}));
    let page = metrics(s).await;
    let zero = format!("scimbridge_guard_held_users{{integration=\"{}\"}} 0", ep.id);
    assert!(page.contains(&zero), "{zero} not in /metrics:\n{page}");
}

async fn guard_discard_keeps_the_accounts(s: TestServer) {
    let f = fake().await;
    let ep = endpoint(
        &s,
        &f,
        &[
            "--default-role",
            "User",
            "--deprovision",
            "role:No access",
            "--delete-guard",
            "2,10%",
        ],
    );
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(post_user(&s, &ep, &format!("keep{i}@contoso.com"), None).await);
    }
    eventually(&f, 60, "10 users", |a| {
        (0..10).all(|i| group_of(a, &format!("keep{i}@contoso.com")).as_deref() == Some("User"))
    })
    .await;
    for id in &ids[..5] {
        patch(
            &s,
            &ep,
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    }
    settle(&s, &ep).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    settle(&s, &ep).await;
    assert_eq!(
        s.cli(&["guard", "show", "--integration", &ep.id])["users"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let discarded = s.cli(&["guard", "discard", "--integration", &ep.id]);
    assert_eq!(discarded["held"], true);
    // A later change of a discarded user does not bring the removal back.
    patch(
        &s,
        &ep,
        &format!("/Users/{}", ids[0]),
        json!([{"op": "replace", "path": "name.familyName", "value": "Changed"}]),
    )
    .await;
    settle(&s, &ep).await;
    let a = f.account_state("acme").unwrap();
    assert!(
        (0..10).all(|i| group_of(&a, &format!("keep{i}@contoso.com")).as_deref() == Some("User"))
    );
    assert_eq!(
        s.cli(&["guard", "show", "--integration", &ep.id]),
        json!({"held": false, "users": []})
    );
    // Reactivated and deactivated again: a new removal, counted afresh (2 is not above 2).
    patch(
        &s,
        &ep,
        &format!("/Users/{}", ids[1]),
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await;
    settle(&s, &ep).await;
    patch(
        &s,
        &ep,
        &format!("/Users/{}", ids[1]),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    eventually(&f, 30, "a lone removal passes", |a| {
        group_of(a, "keep1@contoso.com").as_deref() == Some("No access")
    })
    .await;
}

// ------------------------------------------------------------------ rate limit per request

async fn every_request_takes_its_own_slot(s: TestServer) {
    let f = fake().await;
    // Twenty accounts exist already: creating them answers "duplicate" and they are adopted
    // (the user, then their group: two requests).
    for i in 0..20 {
        f.add_user(SeedUser::new(
            format!("old{i}"),
            format!("old{i}@contoso.com"),
        ))
        .unwrap();
    }
    let ep = endpoint(
        &s,
        &f,
        &["--default-role", "User", "--deprovision", "role:No access"],
    );
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(post_user(&s, &ep, &format!("old{i}@contoso.com"), None).await);
        ids.push(post_user(&s, &ep, &format!("new{i}@contoso.com"), None).await);
    }
    eventually(&f, 120, "40 users in User", |a| {
        (0..20).all(|i| {
            group_of(a, &format!("old{i}@contoso.com")).as_deref() == Some("User")
                && group_of(a, &format!("new{i}@contoso.com")).as_deref() == Some("User")
        })
    })
    .await;
    for id in &ids {
        patch(
            &s,
            &ep,
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "name.familyName", "value": "Renamed"}]),
        )
        .await;
    }
    for id in &ids[..10] {
        patch(
            &s,
            &ep,
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    }
    // Deactivated users are moved, not renamed (a removal changes nothing else).
    eventually(&f, 120, "30 renamed and 10 deprovisioned", |a| {
        (0..20).all(|i| {
            ["old", "new"].iter().all(|p| {
                let email = format!("{p}{i}@contoso.com");
                if i < 5 {
                    group_of(a, &email).as_deref() == Some("No access")
                } else {
                    a.users
                        .iter()
                        .any(|u| u.email == email && u.last_name == "Renamed")
                }
            })
        })
    })
    .await;
    wait_idle(&s, &ep).await;
    let snap = f.account_state("acme").unwrap();
    assert_eq!(
        snap.users
            .iter()
            .filter(|u| u.email.starts_with("old"))
            .count(),
        20,
        "adopted, not duplicated"
    );
    // What we sent, 429s included (the fake's own count of admitted requests can never pass
    // its limit). Two requests under one slot, as adoption once did, sends about ten a
    // second; one slot per request sends five at most. One more is allowed: on a loaded
    // two-core machine a request can leave later than its slot and meet the next one (the
    // connector then waits out the 429's Retry-After, as in production).
    let sent: Vec<Duration> = f
        .request_log()
        .iter()
        .filter(|e| e.account.as_deref() == Some("acme"))
        .map(|e| e.since_start)
        .collect();
    let most = max_in_any_window(&sent, Duration::from_secs(1));
    assert!(
        (5..=6).contains(&most),
        "{most} requests in one second reached the fake"
    );
}

// ------------------------------------------------------------------ one explanation

async fn the_user_page_and_dry_run_events_say_the_same(s: TestServer) {
    let f = fake().await;
    let ep = endpoint(
        &s,
        &f,
        &[
            "--mode",
            "dry-run",
            "--default-role",
            "User",
            "--deprovision",
            "role:No access",
            "--role-rule",
            "app_role:Admin=Admin",
            "--role-rule",
            "group:Sales=Manager",
        ],
    );
    let a = post_user(&s, &ep, "a@contoso.com", Some("Admin")).await;
    let b = post_user(&s, &ep, "b@contoso.com", None).await;
    // c arrives deactivated (no job of it can have planned a create first).
    let mut inactive = common::target::user("c@contoso.com", None);
    inactive["active"] = json!(false);
    let c = post_user_body(&s, &ep, inactive).await;
    let g = post_group(&s, &ep, "Sales").await;
    add_member(&s, &ep, &g, &b).await;
    settle(&s, &ep).await;
    let st = s.store().await;
    let integration = st.get_integration_unscoped(&ep.id).await.unwrap().unwrap();
    let rules = provisioning::inputs::load_rules(&st, &integration)
        .await
        .unwrap();
    let caps = connector_activecampaign::DESCRIPTOR.capabilities;
    // The user page renders `explain` for the user; the worker's newest dry-run event for the
    // user carries the same reason.
    let ui = common::ui::Ui::new(&s.base);
    common::ui::admin(&s, "admin@contoso.com", "platform-admin", None);
    ui.sign_in("admin@contoso.com", common::ui::PASSWORD).await;
    // c has no account (dry run creates none), so its removal plans no call and logs none.
    for (id, want_role, logged) in [
        (&a, "Admin", true),
        (&b, "Manager", true),
        (&c, "No access", false),
    ] {
        let input = provisioning::inputs::load_user(&st, &ep.id, id, &rules.users)
            .await
            .unwrap()
            .unwrap();
        let link = st.get_link(&ep.id, id).await.unwrap();
        let e = rules.explain(
            Some(&input.subject()),
            &provisioning::inputs::known_from_link(link.as_ref()),
            &caps,
        );
        assert_eq!(e.roles, want_role, "{e:?}");
        let events = st
            .list_events(&store::EventQuery {
                integration_id: Some(ep.id.clone()),
                subject_id: Some(id.to_string()),
                outcome: Some("dry_run".into()),
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(events.is_empty(), !logged, "{events:?}");
        if logged {
            let detail: serde_json::Value =
                serde_json::from_str(events[0].detail.as_deref().unwrap()).unwrap();
            assert_eq!(
                detail["because"].as_str(),
                Some(e.because.as_str()),
                "{detail}"
            );
        }
        let page = ui
            .get(&format!(
                "/t/{}/integrations/{}/users/{id}",
                integration.tenant_id, ep.id
            ))
            .await;
        assert_eq!(page.status, 200);
        let shown = text_of(&page.body, "id=\"because\">", "</dd>");
        assert_eq!(shown, e.because, "the user page's reason");
        assert!(
            page.body.contains(&format!("<strong>{want_role}</strong>")),
            "page lacks role {want_role}"
        );
    }
    // The rule preview counts the same decisions.
    let preview = provisioning::preview::preview_rules(&st, &ep.id, &rules, &caps)
        .await
        .unwrap();
    assert_eq!(
        (
            preview.rules[0].decides,
            preview.rules[1].decides,
            preview.default,
            preview.removed
        ),
        (1, 1, 0, 1),
        "{preview:?}"
    );
    // Nothing reached the target.
    assert!(!exists(&f.account_state("acme").unwrap(), "a@contoso.com"));
}

/// The text between `start` and `end` in a page, HTML entities decoded.
fn text_of(html: &str, start: &str, end: &str) -> String {
    let from = html.find(start).expect("marker in page") + start.len();
    let to = from + html[from..].find(end).expect("end marker");
    html[from..to]
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

on_both_backends!(
    groups_lifecycle_with_a_default_role,
    groups_lifecycle_without_a_default_role,
    groups_lifecycle_with_a_deprovision_role,
    unmatched_choices,
    app_roles_by_value_and_by_display_name,
    guard_holds_an_entra_scoping_mistake,
    guard_discard_keeps_the_accounts,
    every_request_takes_its_own_slot,
    the_user_page_and_dry_run_events_say_the_same,
);
