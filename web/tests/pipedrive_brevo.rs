//! Pipedrive and Brevo end to end, on SQLite and PostgreSQL: integrations created by the CLI
//! exactly as documented, Entra-shaped SCIM requests to the real binary, the worker calling the
//! fakes over HTTP. Pipedrive: roles from app roles and groups (two groups, two roles), role
//! removal, `"active":"False"` → deactivated, reactivation, DELETE → deactivated (no delete),
//! the key owner untouched. Brevo: invitations with privilege bundles, role change = new
//! permissions, `"active":"False"` → revoked, reactivation = a new invitation, an e-mail change =
//! revoke + invite, DELETE of a pending invitation = cancel, the key owner untouched.
//! (The budgets over days and hours, which need the worker's clock, are in
//! `crates/provisioning/tests/budgets.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::target::{PATCH, add_member, post_group, post_user, remove_member, wait_idle};
use common::ui::{PASSWORD, Ui, admin};
use common::{Endpoint, TestServer};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::fake_brevo::{BrevoConfig, FakeBrevo};
use testkit::fake_pipedrive::{FakePipedrive, PipedriveConfig};

async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn patch_user(s: &TestServer, ep: &Endpoint, id: &str, ops: Value) {
    let r = s
        .call(
            ep,
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": ops})),
        )
        .await;
    assert!(r.status == 200 || r.status == 204, "{:?}", r.body);
}

/// Entra's disable: `Replace` with the string "False".
async fn disable(s: &TestServer, ep: &Endpoint, id: &str, on: bool) {
    let v = if on { "True" } else { "False" };
    patch_user(
        s,
        ep,
        id,
        json!([{"op": "Replace", "path": "active", "value": v}]),
    )
    .await;
}

async fn delete_user(s: &TestServer, ep: &Endpoint, id: &str) {
    let r = s.call(ep, "DELETE", &format!("/Users/{id}"), None).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
}

/// The outbound operations recorded for the integration, oldest first.
async fn operations(s: &TestServer, ep: &Endpoint) -> Vec<(String, String)> {
    let st = s.store().await;
    let q = store::EventQuery {
        integration_id: Some(ep.id.clone()),
        direction: Some(store::Direction::Outbound),
        ..store::EventQuery::default()
    };
    let mut events = st.list_events(&q).await.unwrap();
    events.reverse();
    events
        .into_iter()
        .map(|e| (e.operation, e.outcome))
        .collect()
}

/// Signs a platform admin in.
async fn console(s: &TestServer) -> Ui {
    admin(s, "ops@example.com", "platform-admin", None);
    let ui = Ui::new(&s.base);
    assert_eq!(ui.sign_in("ops@example.com", PASSWORD).await.status, 303);
    ui
}

/// A Brevo integration on `fake` with the test's role bundles, as the CLI documents it, plus
/// `extra` arguments.
fn brevo_endpoint(s: &TestServer, fake: &FakeBrevo, extra: &[&str]) -> Endpoint {
    let base = format!("base_url={}", fake.base_url());
    let key = format!("api_key={}", fake.api_key());
    let bundles = format!("role_privileges={BUNDLES}");
    let mut args = vec![
        "--setting",
        &base,
        "--secret",
        &key,
        "--setting",
        &bundles,
        "--default-role",
        "Viewer",
        "--deprovision",
        "delete",
    ];
    args.extend_from_slice(extra);
    s.endpoint_of("Acme", "brevo", &args)
}

/// A Pipedrive integration on `fake` (the documented `/api/v1` URL form), default role Sales,
/// deprovision by deactivating, plus `extra` arguments.
fn pipedrive_endpoint(s: &TestServer, fake: &FakePipedrive, extra: &[&str]) -> Endpoint {
    let base = format!("base_url={}", fake.base_url().replace("/v1", "/api/v1"));
    let token = format!("api_token={}", fake.token());
    let mut args = vec![
        "--setting",
        &base,
        "--secret",
        &token,
        "--default-role",
        "Sales",
        "--deprovision",
        "deactivate",
    ];
    args.extend_from_slice(extra);
    s.endpoint_of("Acme", "pipedrive", &args)
}

async fn pipedrive_lifecycle(s: TestServer) {
    let fake = FakePipedrive::start(PipedriveConfig::default()).await;
    // The documented form of the URL: https://<company>.pipedrive.com/api/v1.
    let ep = pipedrive_endpoint(
        &s,
        &fake,
        &[
            "--role-rule",
            "app_role:Manager=Managers",
            "--role-rule",
            "group:Sales Team=Sales",
            "--role-rule",
            "group:Support Team=Support",
        ],
    );
    let roles = |email: &str| fake.user_by_email(email).map(|u| u.roles);
    let active = |email: &str| fake.user_by_email(email).map(|u| u.active_flag);

    // Created with the role of the app role; another with the default role.
    let ann = post_user(&s, &ep, "ann@contoso.com", Some("Manager")).await;
    let bob = post_user(&s, &ep, "bob@contoso.com", None).await;
    until("ann Managers, bob Sales", || {
        roles("ann@contoso.com") == Some(vec!["Managers".into()])
            && roles("bob@contoso.com") == Some(vec!["Sales".into()])
    })
    .await;
    // Two mapped groups: two Pipedrive roles.
    let sales = post_group(&s, &ep, "Sales Team").await;
    let support = post_group(&s, &ep, "Support Team").await;
    add_member(&s, &ep, &sales, &bob).await;
    add_member(&s, &ep, &support, &bob).await;
    until("bob holds Sales and Support", || {
        roles("bob@contoso.com") == Some(vec!["Sales".into(), "Support".into()])
    })
    .await;
    // Leaving a group removes that role only.
    remove_member(&s, &ep, &support, &bob).await;
    until("bob holds Sales only", || {
        roles("bob@contoso.com") == Some(vec!["Sales".into()])
    })
    .await;
    // "active":"False" deactivates; "True" reactivates.
    disable(&s, &ep, &ann, false).await;
    until("ann deactivated", || {
        active("ann@contoso.com") == Some(false)
    })
    .await;
    disable(&s, &ep, &ann, true).await;
    until("ann reactivated", || {
        active("ann@contoso.com") == Some(true)
    })
    .await;
    assert_eq!(roles("ann@contoso.com"), Some(vec!["Managers".into()]));
    // DELETE: Pipedrive has no delete, so the account is deactivated and kept.
    delete_user(&s, &ep, &bob).await;
    until("bob deactivated", || {
        active("bob@contoso.com") == Some(false)
    })
    .await;
    // The key owner, assigned in Entra too: adopted, never changed.
    let owner = post_user(&s, &ep, "owner@pipedrive.example", Some("Manager")).await;
    wait_idle(&s, &ep).await;
    disable(&s, &ep, &owner, false).await;
    wait_idle(&s, &ep).await;
    let o = fake.user_by_email("owner@pipedrive.example").unwrap();
    assert!(o.is_owner && o.active_flag && o.roles.is_empty(), "{o:?}");
    assert!(
        !fake
            .requests()
            .iter()
            .any(|(m, p, _)| m == "PUT" && p.ends_with("/users/1")),
        "no call changed the owner"
    );
    assert_eq!(fake.users().len(), 3, "no duplicate of the owner");
    wait_idle(&s, &ep).await;
    assert_eq!(
        fake.throttled(),
        0,
        "the burst window and the budget were respected"
    );
    let ops = operations(&s, &ep).await;
    assert!(
        ops.iter().any(|(o, r)| o == "deactivate_user" && r == "ok"),
        "{ops:?}"
    );
    assert!(ops.iter().any(|(o, _)| o == "remove_role"), "{ops:?}");
    // Overview: the budget used today.
    let used = s
        .store()
        .await
        .budget_state("pipedrive:127.0.0.1")
        .await
        .unwrap()
        .map(|b| b.used)
        .unwrap_or(0);
    assert_eq!(used as u64, fake.spent_today(), "our count is Pipedrive's");

    // The console: the connector cards come from the descriptors; test connection shows the
    // company and the token's owner; the overview shows the budget used today.
    let ui = console(&s).await;
    let cards = ui.get(&format!("/t/{}/integrations/new", ep.tenant)).await;
    assert!(cards.body.contains("Pipedrive") && cards.body.contains("Brevo"));
    let form = format!("/t/{}/integrations/new/pipedrive", ep.tenant);
    let page = ui.get(&form).await;
    assert!(page.body.contains("daily_token_budget") && page.body.contains("permission_set_id"));
    let api = fake.base_url().replace("/v1", "/api/v1");
    let tested = ui
        .post(
            &form,
            &format!("/t/{}/connectors/pipedrive/test", ep.tenant),
            &[("base_url", &api), ("api_token", &fake.token())],
        )
        .await;
    assert!(
        tested.body.contains("Acme Sales") && tested.body.contains("owner@pipedrive.example"),
        "{}",
        tested.body
    );
    let overview = ui
        .get(&format!("/t/{}/integrations/{}", ep.tenant, ep.id))
        .await;
    let line = format!("API tokens used today: {} of 30000", fake.spent_today() - 2);
    assert!(overview.body.contains(&line), "{line}\n{}", overview.body);
    fake.stop().await;
}

const BUNDLES: &str = r#"{"Marketer":[{"feature":"email_campaigns","permissions":["create_edit_delete","send_schedule_suspend"]}],"Viewer":[{"feature":"contacts","permissions":["view"]}],"Admin":"all"}"#;

async fn brevo_lifecycle(s: TestServer) {
    let fake = FakeBrevo::start(BrevoConfig::default()).await;
    let ep = brevo_endpoint(
        &s,
        &fake,
        &[
            "--role-rule",
            "app_role:Marketer=Marketer",
            "--role-rule",
            "group:Admins=Admin",
        ],
    );
    let ann = post_user(&s, &ep, "ann@contoso.com", Some("Marketer")).await;
    let bob = post_user(&s, &ep, "bob@contoso.com", None).await;
    until("both invited", || {
        fake.user("ann@contoso.com")
            .is_some_and(|u| u.status == "pending" && u.privileges.contains_key("email_campaigns"))
            && fake
                .user("bob@contoso.com")
                .is_some_and(|u| u.privileges.contains_key("contacts"))
    })
    .await;
    // A role from a group: the permissions change.
    let admins = post_group(&s, &ep, "Admins").await;
    add_member(&s, &ep, &admins, &bob).await;
    until("bob Admin", || {
        fake.user("bob@contoso.com")
            .is_some_and(|u| u.all_features_access)
    })
    .await;
    remove_member(&s, &ep, &admins, &bob).await;
    until("bob back to Viewer", || {
        fake.user("bob@contoso.com")
            .is_some_and(|u| !u.all_features_access && u.privileges.contains_key("contacts"))
    })
    .await;
    // ann accepts; "active":"False" revokes her; "True" invites her again.
    assert!(fake.accept("ann@contoso.com"));
    disable(&s, &ep, &ann, false).await;
    until("ann revoked", || fake.user("ann@contoso.com").is_none()).await;
    assert!(
        fake.requests()
            .iter()
            .any(|(m, p, st)| m == "PUT" && p.contains("/revoke/") && *st == 200)
    );
    disable(&s, &ep, &ann, true).await;
    until("ann invited again", || {
        fake.user("ann@contoso.com")
            .is_some_and(|u| u.status == "pending")
    })
    .await;
    // An e-mail change: the old address goes, the new one is invited.
    patch_user(
        &s,
        &ep,
        &bob,
        json!([{"op": "Replace", "path": "userName", "value": "robert@contoso.com"},
               {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "robert@contoso.com"}]),
    )
    .await;
    until("bob replaced by robert", || {
        fake.user("bob@contoso.com").is_none() && fake.user("robert@contoso.com").is_some()
    })
    .await;
    // DELETE of a pending invitation cancels it.
    delete_user(&s, &ep, &bob).await;
    until("robert's invitation cancelled", || {
        fake.user("robert@contoso.com").is_none()
    })
    .await;
    assert!(
        fake.requests()
            .iter()
            .any(|(m, p, st)| m == "PUT" && p.contains("/cancel/") && *st == 200)
    );
    // The account owner: adopted, never revoked.
    let owner = post_user(&s, &ep, "owner@brevo.example", Some("Marketer")).await;
    wait_idle(&s, &ep).await;
    disable(&s, &ep, &owner, false).await;
    wait_idle(&s, &ep).await;
    let o = fake.user("owner@brevo.example").unwrap();
    assert!(o.is_owner && o.all_features_access, "{o:?}");
    assert_eq!(fake.throttled(), 0);
    let ops = operations(&s, &ep).await;
    assert!(ops.iter().any(|(o, _)| o == "delete_user"), "{ops:?}");
    // The overview: requests this hour, as Brevo counts them.
    let ui = console(&s).await;
    let overview = ui
        .get(&format!("/t/{}/integrations/{}", ep.tenant, ep.id))
        .await;
    let used = fake.requests().len();
    let line = format!("Requests this hour: {used} of 100");
    assert!(overview.body.contains(&line), "{line}\n{}", overview.body);
    // The user page asks Brevo whether the invitation was accepted.
    let page = format!("/t/{}/integrations/{}/users/{ann}", ep.tenant, ep.id);
    let body = ui.get(&page).await.body;
    assert!(
        body.contains("invitation pending (not accepted yet)"),
        "{body}"
    );
    assert!(fake.accept("ann@contoso.com"));
    let body = ui.get(&page).await.body;
    assert!(
        body.contains(r#"<dd id="target-state">active</dd>"#),
        "{body}"
    );

    // The Roles step edits the bundles: a broken one is refused with the reason and kept in
    // the form; a good one is saved and its roles are offered.
    let roles = format!("/t/{}/integrations/{}/roles", ep.tenant, ep.id);
    let form = ui.get(&roles).await;
    assert!(form.body.contains(r#"id="role-privileges""#) && form.body.contains("Marketer"));
    let rules: [(&str, &str); 6] = [
        ("rule_kind", "app_role"),
        ("rule_value", "Marketer"),
        ("rule_role", "Marketer"),
        ("rule_kind", "group"),
        ("rule_value", "Admins"),
        ("rule_role", "Admin"),
    ];
    let post = |bundles: &'static str| {
        let mut fields = vec![("default_role", "Viewer"), ("role_privileges", bundles)];
        fields.extend_from_slice(&rules);
        fields
    };
    let refused = ui
        .post(
            &roles,
            &roles,
            &post(r#"{"Support":[{"feature":"contacts"}]}"#),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("bundles-error") && refused.body.contains("Support"),
        "{}",
        refused.body
    );
    let with_support = r#"{"Marketer":[{"feature":"email_campaigns","permissions":["create_edit_delete"]}],"Viewer":[{"feature":"contacts","permissions":["view"]}],"Admin":"all","Support":[{"feature":"conversations","permissions":["access"]}]}"#;
    let saved = ui.post(&roles, &roles, &post(with_support)).await;
    assert!(saved.status == 303 || saved.status == 200, "{}", saved.body);
    let i = s
        .store()
        .await
        .get_integration_unscoped(&ep.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(i.settings["role_privileges"], with_support);
    assert!(
        ui.get(&roles)
            .await
            .body
            .contains(r#"<option value="Support""#)
    );
    assert_eq!(
        s.store().await.list_role_rules(&ep.id).await.unwrap().len(),
        2
    );
    fake.stop().await;
}

/// An initial cycle bigger than the hour: what fits lands, the rest waits (no 429, nothing
/// failed) and the overview shows when the queue will be through. (The following hours, which
/// need the worker's clock, are in `crates/provisioning/tests/budgets.rs`.)
async fn brevo_queue_waits_with_an_eta(s: TestServer) {
    let fake = FakeBrevo::start(BrevoConfig::default()).await;
    // Just past the fake's hour boundary: this hour will not end during the test.
    let clock = fake.clock();
    let into_hour = clock.now_ms().rem_euclid(testkit::fake_brevo::HOUR_MS);
    clock.advance(Duration::from_millis(
        (testkit::fake_brevo::HOUR_MS - into_hour) as u64 + 1_000,
    ));
    let ep = brevo_endpoint(&s, &fake, &[]);
    for n in 0..150 {
        post_user(&s, &ep, &format!("m{n}@contoso.com"), None).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while fake.users().len() < 101 {
        assert!(
            Instant::now() < deadline,
            "only {} invited",
            fake.users().len() - 1
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The hour is spent: the other 50 wait, deferred, not failed.
    let st = s.store().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let open = st.open_jobs(&ep.id).await.unwrap();
        if open.len() == 50
            && open.iter().all(|j| {
                j.state == store::JobState::Pending && j.run_after > store::now_ms() + 60_000
            })
        {
            assert!(
                open.iter().all(|j| j.attempts == 0),
                "waiting spends no attempt"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{open:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(fake.users().len(), 101);
    assert_eq!(fake.throttled(), 0, "no 429");
    assert_eq!(fake.max_admitted_in_an_hour(), 100);
    let ui = console(&s).await;
    let overview = ui
        .get(&format!("/t/{}/integrations/{}", ep.tenant, ep.id))
        .await;
    assert!(
        overview.body.contains("Requests this hour: 100 of 100"),
        "{}",
        overview.body
    );
    assert!(
        overview
            .body
            .contains("50 jobs queued at 100 per hour: through by about"),
        "{}",
        overview.body
    );
    fake.stop().await;
}

/// `scimbridge reconcile --json` of one integration (imports first).
fn reconcile(s: &TestServer, ep: &Endpoint) -> Value {
    s.cli(&["reconcile", "--integration", &ep.id, "--json"])
}

/// Reconciliation against the fake Pipedrive: accounts made by hand are orphans, the key
/// owner is named and not an orphan, a user Entra knows is matched; the unpaged `GET /users`
/// is read once per pass (with many pages: the connector's own test).
async fn pipedrive_import_reports_orphans(s: TestServer) {
    let fake = FakePipedrive::start(PipedriveConfig::default()).await;
    let ep = pipedrive_endpoint(&s, &fake, &[]);
    for i in 0..12 {
        fake.add_user(&format!("hand{i:03}@contoso.com"), &format!("Hand {i}"));
    }
    post_user(&s, &ep, "ann@contoso.com", None).await;
    wait_idle(&s, &ep).await;
    let lists = || {
        fake.requests()
            .iter()
            .filter(|(m, p, _)| m == "GET" && p.ends_with("/users"))
            .count()
    };
    let before = lists();
    let r = reconcile(&s, &ep);
    assert_eq!(lists() - before, 1, "one GET /users for the pass");
    let orphaned = r["orphaned"].as_array().unwrap();
    assert_eq!(orphaned.len(), 12, "{r:#}");
    assert!(
        orphaned
            .iter()
            .all(|o| o["email"].as_str().unwrap().starts_with("hand"))
    );
    assert_eq!(
        r["key_owner"]["email"],
        json!(PipedriveConfig::default().owner_email)
    );
    assert_eq!(r["missing"], json!([]), "{r:#}");
    assert_eq!(r["seats"]["orphaned"], json!(12), "{r:#}");
    // ann, the owner and the 12.
    assert_eq!(r["seats"]["active"], json!(14), "{r:#}");
    // The next pass reads it again (the list is not kept from one pass to the next).
    reconcile(&s, &ep);
    assert_eq!(lists() - before, 2);
    fake.stop().await;
}

/// Reconciliation against the fake Brevo: users who joined by hand are orphans, the owner is
/// named; the unpaged list costs one of the hour's 100 requests, and each account's
/// permissions one more.
async fn brevo_import_reports_orphans_within_the_budget(s: TestServer) {
    let fake = FakeBrevo::start(BrevoConfig::default()).await;
    let ep = brevo_endpoint(&s, &fake, &[]);
    fake.add_user("left@contoso.com", &[]);
    fake.add_user("contractor@contoso.com", &[("contacts", &["view"])]);
    post_user(&s, &ep, "ann@contoso.com", None).await;
    wait_idle(&s, &ep).await;
    let before = fake.requests().len();
    let r = reconcile(&s, &ep);
    let mut orphans: Vec<&str> = r["orphaned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["email"].as_str().unwrap())
        .collect();
    orphans.sort_unstable();
    assert_eq!(
        orphans,
        ["contractor@contoso.com", "left@contoso.com"],
        "{r:#}"
    );
    assert_eq!(
        r["key_owner"]["email"],
        json!(BrevoConfig::default().owner_email)
    );
    assert_eq!(r["missing"], json!([]), "{r:#}");
    assert_eq!(r["drift"], json!([]), "{r:#}");
    let spent = &fake.requests()[before..];
    let lists = spent
        .iter()
        .filter(|(m, p, _)| m == "GET" && p.ends_with("/organization/invited/users"))
        .count();
    // The pass's list, and the one that finds the key's owner (Brevo has no "me").
    assert_eq!(lists, 2, "{spent:?}");
    assert_eq!(
        spent.len(),
        2 + 4,
        "and one permissions read per account (4): {spent:?}"
    );
    assert_eq!(fake.throttled(), 0);
    fake.stop().await;
}

on_both_backends!(
    pipedrive_lifecycle,
    brevo_lifecycle,
    brevo_queue_waits_with_an_eta,
    pipedrive_import_reports_orphans,
    brevo_import_reports_orphans_within_the_budget
);
