//! Reconciliation against the fake ActiveCampaign through the real binary, on SQLite and
//! PostgreSQL: hand-made accounts Entra does not know, a JIT user in another group and the key
//! owner; the import, the report's four sections, adoption, drift fixed by the worker, orphan
//! deprovision through the deletion guard, the key owner refused, one import at a time.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::target::{eventually, group_of, post_user, wait_idle};
use common::{Endpoint, TestServer};
use serde_json::{Value, json};
use testkit::fake_activecampaign::{
    AccountConfig, FakeActiveCampaign, FakeConfig, FakeHandle, SeedUser,
};

const TOKEN: &str = "ac-key-of-owner";

async fn fake() -> FakeHandle {
    FakeActiveCampaign::start(
        FakeConfig::default().account(AccountConfig::new("acme", TOKEN).groups([
            "Manager",
            "User",
            "No access",
        ])),
    )
    .await
}

fn group_id(f: &FakeHandle, title: &str) -> String {
    f.account_state("acme")
        .unwrap()
        .group_by_title(title)
        .unwrap()
        .id
        .clone()
}

fn seed(f: &FakeHandle, email: &str, group: &str) -> String {
    let user = email.split('@').next().unwrap();
    f.add_user(
        SeedUser::new(user, email)
            .names("Given", "Family")
            .group(group_id(f, group)),
    )
    .unwrap()
}

fn integration(s: &TestServer, f: &FakeHandle) -> Endpoint {
    let base = format!("base_url={}", f.base_url());
    let key = format!("api_key={TOKEN}");
    s.endpoint_with(
        "Acme",
        &[
            "--setting",
            &base,
            "--secret",
            &key,
            "--role-rule",
            "app_role:Admin=Admin",
            "--default-role",
            "User",
            "--deprovision",
            "role:No access",
            "--mode",
            "dry-run",
        ],
    )
}

/// The integration's successful outbound calls since `since`, per user in call order:
/// `(scim user id, operations)`, sorted by user (the shape of the analysis' plans).
async fn calls_per_user(
    st: &store::Store,
    ep: &Endpoint,
    since: i64,
) -> (Vec<store::Event>, Vec<(String, Vec<String>)>) {
    let events = st
        .list_events(&store::EventQuery {
            integration_id: Some(ep.id.clone()),
            direction: Some(store::Direction::Outbound),
            from: Some(since),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut done: std::collections::BTreeMap<String, Vec<(i64, String)>> = Default::default();
    for e in events.iter().filter(|e| e.outcome == store::OK_OUTCOME) {
        if let Some(id) = &e.subject_id {
            done.entry(id.clone())
                .or_default()
                .push((e.id, e.operation.clone()));
        }
    }
    let did = done
        .into_iter()
        .map(|(id, mut ops)| {
            ops.sort();
            (id, ops.into_iter().map(|(_, o)| o).collect())
        })
        .collect();
    (events, did)
}

fn report(s: &TestServer, ep: &Endpoint, extra: &[&str]) -> Value {
    let mut args = vec!["reconcile", "--integration", &ep.id, "--json"];
    args.extend_from_slice(extra);
    s.cli(&args)
}

async fn import_report_fix_and_deprovision(s: TestServer) {
    let f = fake().await;
    let owner = f
        .account_state("acme")
        .unwrap()
        .users
        .into_iter()
        .find(|u| u.is_owner)
        .unwrap();
    // Accounts made by hand: two that Entra knows (one in the wrong group), a former
    // employee, a JIT user in another group, one already deprovisioned.
    let alice_id = seed(&f, "alice@contoso.com", "Admin");
    let bob_id = seed(&f, "Bob@Contoso.com", "Manager");
    let left_id = seed(&f, "left@contoso.com", "User");
    let jit_id = seed(&f, "jit@contoso.com", "Manager");
    seed(&f, "gone@contoso.com", "No access");

    // Entra's users arrive while the integration is in dry run: nothing is called.
    let ep = integration(&s, &f);
    post_user(&s, &ep, "alice@contoso.com", Some("Admin")).await;
    let bob = post_user(&s, &ep, "bob@contoso.com", None).await;
    let dave = post_user(&s, &ep, "dave@contoso.com", None).await;
    wait_idle(&s, &ep).await;
    let st = s.store().await;
    let i = st.get_integration_unscoped(&ep.id).await.unwrap().unwrap();
    st.update_integration_settings(
        &ep.tenant,
        &ep.id,
        store::IntegrationUpdate {
            mode: Some(store::IntegrationMode::Live),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(i.mode, store::IntegrationMode::DryRun);
    f.clear_request_log();

    // The import and the report.
    let r = report(&s, &ep, &[]);
    assert_eq!(
        r["orphaned"],
        json!([
            {"target_id": jit_id, "email": "jit@contoso.com", "last_login": null},
            {"target_id": left_id, "email": "left@contoso.com", "last_login": null}
        ]),
        "{r:#}"
    );
    assert_eq!(
        r["drift"],
        json!([{"user_name": "bob@contoso.com", "field": "role", "ours": "User", "theirs": "Manager"}]),
        "{r:#}"
    );
    assert_eq!(r["missing"], json!([{"user_name": "dave@contoso.com"}]));
    // Active: alice, bob, left, jit and the owner; "gone" is in the deprovision role.
    assert_eq!(
        r["seats"],
        json!({"active": 5, "deprovisioned": 1, "orphaned": 2, "reclaimable": 2})
    );
    assert_eq!(
        r["key_owner"],
        json!({"target_id": owner.id, "email": owner.email})
    );
    // The import only read, under the limit.
    let log = f.request_log();
    assert!(log.iter().all(|e| e.method == "GET"), "{log:?}");
    assert!(f.max_requests_in_any_second("acme") <= 5);
    // Matched accounts are adopted: linked, nothing created.
    let link = st.get_link(&ep.id, &bob).await.unwrap().unwrap();
    assert_eq!(link.target_id.as_deref(), Some(bob_id.as_str()));
    let users = st.list_links(&ep.id).await.unwrap();
    assert!(
        users
            .iter()
            .any(|l| l.target_id.as_deref() == Some(alice_id.as_str()))
    );

    // The key owner is never touched; a matched account is no orphan.
    let err = s.cli_fails(&[
        "reconcile",
        "--integration",
        &ep.id,
        "--deprovision-orphan",
        &owner.id,
    ]);
    assert!(err.contains("owns the API key"), "{err}");
    let err = s.cli_fails(&[
        "reconcile",
        "--integration",
        &ep.id,
        "--deprovision-orphan",
        &bob_id,
    ]);
    assert!(err.contains("is not an orphaned account"), "{err}");

    // The plan against the imported state (the dry-run diff)...
    let live = st.get_integration_unscoped(&ep.id).await.unwrap().unwrap();
    let analysis = scimbridge::connectors::reconciler(&st, true)
        .analyze(&live)
        .await
        .unwrap();
    let mut planned: Vec<(String, Vec<String>)> = analysis
        .plans
        .iter()
        .map(|p| (p.scim_user_id.clone(), p.operations.clone()))
        .collect();
    planned.sort();
    assert_eq!(
        analysis.summary,
        provisioning::reconcile::PlanSummary {
            create: 1,
            adopt: 0, // adopted by the import already (live)
            change_role: 1,
            update_profile: 0,
            deprovision: 0,
            orphans: 2
        }
    );
    let since = chrono::Utc::now().timestamp_millis();

    // Fix drift: the worker moves bob back to User and creates dave.
    let r = report(&s, &ep, &["--apply"]);
    assert_eq!(r["applied"], json!({"adopted": 0, "queued": 2}), "{r:#}");
    eventually(&f, 30, "bob back in User, dave created", |a| {
        group_of(a, "bob@contoso.com").as_deref() == Some("User")
            && group_of(a, "dave@contoso.com").as_deref() == Some("User")
    })
    .await;
    wait_idle(&s, &ep).await;
    let dave_link = st.get_link(&ep.id, &dave).await.unwrap().unwrap();
    assert!(dave_link.target_id.is_some());
    // ...is, call for call, what the worker then did.
    let (events, did) = calls_per_user(&st, &ep, since).await;
    assert_eq!(
        did,
        planned,
        "the worker's calls per user = the plan's: {:#?}",
        events
            .iter()
            .map(|e| (&e.operation, &e.detail))
            .collect::<Vec<_>>()
    );
    assert_eq!(planned, {
        // Bob's e-mail differs in case only (not drift), but the planner sends the
        // profile as the IdP has it, with the role (ActiveCampaign: one PUT).
        let mut v = vec![
            (bob.clone(), vec!["update_user".to_string()]),
            (dave.clone(), vec!["create_user".to_string()]),
        ];
        v.sort();
        v
    });
    // No duplicate: one bob.
    let snap = f.account_state("acme").unwrap();
    assert_eq!(
        snap.users
            .iter()
            .filter(|u| u.email.eq_ignore_ascii_case("bob@contoso.com"))
            .count(),
        1
    );

    // Deprovision the JIT orphan through the guard: moved to "No access", audit-logged.
    let r = report(&s, &ep, &["--deprovision-orphan", &jit_id]);
    assert_eq!(
        r["deprovisioned"],
        json!({"done": ["jit@contoso.com"], "held": []}),
        "{r:#}"
    );
    let snap = f.account_state("acme").unwrap();
    assert_eq!(
        group_of(&snap, "jit@contoso.com").as_deref(),
        Some("No access")
    );
    assert_eq!(
        group_of(&snap, "left@contoso.com").as_deref(),
        Some("User"),
        "only the chosen orphan"
    );
    let audit = st
        .list_audit(&store::AuditQuery {
            tenant_id: Some(ep.tenant.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "reconcile.deprovision_orphans"
                && a.detail
                    .as_deref()
                    .unwrap_or_default()
                    .contains("jit@contoso.com")),
        "{audit:?}"
    );

    // The report after: no drift, nothing missing, one orphan left.
    let r = report(&s, &ep, &[]);
    assert_eq!(r["drift"], json!([]), "{r:#}");
    assert_eq!(r["missing"], json!([]), "{r:#}");
    assert_eq!(
        r["orphaned"],
        json!([{"target_id": left_id, "email": "left@contoso.com", "last_login": null}])
    );
    assert_eq!(
        r["seats"],
        json!({"active": 5, "deprovisioned": 2, "orphaned": 1, "reclaimable": 1})
    );
}

/// An import another instance holds is refused, not run twice.
async fn one_import_at_a_time(s: TestServer) {
    let f = fake().await;
    let ep = integration(&s, &f);
    let st = s.store().await;
    let now = chrono::Utc::now().timestamp_millis();
    let held = st
        .recon_take_lease(&ep.id, "another-instance", now, 600_000)
        .await
        .unwrap();
    assert!(held.is_some());
    f.clear_request_log();
    let err = s.cli_fails(&["reconcile", "--integration", &ep.id, "--json"]);
    assert!(err.contains("another instance is importing"), "{err}");
    assert!(
        f.request_log().iter().all(|e| !e.path.contains("/users?")),
        "no page was read"
    );
    // Given back, the import runs.
    st.recon_stop(&ep.id, "another-instance", None, now)
        .await
        .unwrap();
    let r = report(&s, &ep, &[]);
    assert_eq!(r["seats"]["active"], 1, "the owner: {r:#}");
    // Bad input: a clear one-line error.
    let err = s.cli_fails(&["reconcile", "--integration", "nope"]);
    assert!(err.contains("no integration nope"), "{err}");
}

fn seed_many(f: &FakeHandle, n: usize) {
    let user = group_id(f, "User");
    for i in 0..n {
        f.add_user(
            SeedUser::new(format!("hand{i}"), format!("hand{i}@contoso.com")).group(user.clone()),
        )
        .unwrap();
    }
}

/// The `offset` of a list-users request, if it is one.
fn list_offset(path: &str) -> Option<u64> {
    let (p, q) = path.split_once('?')?;
    if !p.ends_with("/users") {
        return None;
    }
    q.split('&')
        .find_map(|kv| kv.strip_prefix("offset="))
        .and_then(|o| o.parse().ok())
}

/// `kill -9` in the middle of an import of 2,000 accounts: the next run continues from the
/// saved cursor (no page before it is read again) and finishes.
async fn kill9_mid_import_resumes_from_its_cursor(s: TestServer) {
    let f = fake().await;
    seed_many(&f, 2_000);
    let ep = integration(&s, &f);
    let st = s.store().await;
    let mut child = s
        .cli_command(&["reconcile", "--integration", &ep.id, "--json"])
        .env("SCIMBRIDGE_JOB_LEASE_SECS", "2")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let run = st.recon_run(&ep.id).await.unwrap();
        if run.as_ref().is_some_and(|r| r.cursor >= 600) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no progress: {run:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let cut = st.recon_run(&ep.id).await.unwrap().unwrap();
    assert_eq!(cut.state, store::RunState::Running);
    assert!(cut.cursor > 0 && cut.cursor < 2_001, "{cut:?}");
    assert_eq!(
        st.recon_count_accounts(&ep.id).await.unwrap() as i64,
        cut.cursor,
        "every page before the cursor is in the snapshot, nothing after it"
    );
    f.clear_request_log();
    // The dead run's lease (2 s here) runs out; the next run continues it.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let out = s
        .cli_command(&["reconcile", "--integration", &ep.id, "--json"])
        .env("SCIMBRIDGE_JOB_LEASE_SECS", "2")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["seats"]["orphaned"], 2_000, "{}", r["seats"]);
    assert_eq!(r["seats"]["active"], 2_001);
    let offsets: Vec<u64> = f
        .request_log()
        .iter()
        .filter_map(|e| list_offset(&e.path))
        .collect();
    assert_eq!(
        offsets.first().copied(),
        Some(cut.cursor as u64),
        "resumed at the cursor: {offsets:?}"
    );
    assert!(
        offsets.iter().all(|&o| o >= cut.cursor as u64),
        "{offsets:?}"
    );
    let done = st.recon_run(&ep.id).await.unwrap().unwrap();
    assert_eq!(
        (done.state, done.run_id, done.imported),
        (store::RunState::Done, cut.run_id, 2_001)
    );
    assert_eq!(st.recon_count_accounts(&ep.id).await.unwrap(), 2_001);
}

/// The worker imports a due integration by itself (every instance looks; the lease lets one
/// do it).
async fn scheduled_import_runs_in_the_worker(s: TestServer) {
    let f = fake().await;
    seed(&f, "left@contoso.com", "User");
    let ep = integration(&s, &f);
    let st = s.store().await;
    // First seen by the scheduler: planned one interval ahead, nothing imported.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let planned = loop {
        if let Some(r) = st.recon_run(&ep.id).await.unwrap() {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "never scheduled");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let now = chrono::Utc::now().timestamp_millis();
    assert!(planned.next_run_at > now + 20 * 3_600_000, "{planned:?}");
    assert_eq!(planned.run_id, 0);
    // Due now.
    st.recon_set_settings(&ep.id, 86_400, false, now - 1)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let done = loop {
        let r = st.recon_run(&ep.id).await.unwrap().unwrap();
        if r.state == store::RunState::Done {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "never ran: {r:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(done.imported, 2, "the owner and left@");
    // The next run is about a day later (jittered ±10 %).
    let next = done.next_run_at - done.finished_at.unwrap();
    assert!((77_760_000..=95_040_000).contains(&next), "{next}");
}

/// After a rule change the Reconciliation tab says how many users would change, and Apply to
/// all changes exactly those (through the worker), and then none would change.
async fn rule_change_counts_exactly_what_apply_to_all_changes(s: TestServer) {
    use common::ui::{PASSWORD, Ui, admin};
    let f = fake().await;
    let base = format!("base_url={}", f.base_url());
    let key = format!("api_key={TOKEN}");
    let ep = s.endpoint_with(
        "Acme",
        &[
            "--setting",
            &base,
            "--secret",
            &key,
            "--default-role",
            "User",
            "--deprovision",
            "role:No access",
        ],
    );
    for i in 0..5 {
        let role = (i < 2).then_some("Sales");
        post_user(&s, &ep, &format!("u{i}@contoso.com"), role).await;
    }
    eventually(&f, 30, "five users in User", |a| {
        (0..5).all(|i| group_of(a, &format!("u{i}@contoso.com")).as_deref() == Some("User"))
    })
    .await;
    wait_idle(&s, &ep).await;
    // The admin maps the app role Sales to Manager.
    let st = s.store().await;
    st.replace_role_rules(
        &ep.id,
        vec![store::NewRoleRule {
            priority: 0,
            source_kind: store::RuleSourceKind::AppRole,
            source_value: "Sales".into(),
            target_role: "Manager".into(),
        }],
    )
    .await
    .unwrap();
    admin(&s, "ops@example.com", "platform-admin", None);
    let ui = Ui::new(&s.base);
    ui.sign_in("ops@example.com", PASSWORD).await;
    let page = format!("/t/{}/integrations/{}/reconcile", ep.tenant, ep.id);
    let p = ui.get(&page).await;
    assert!(
        p.body
            .contains("2 users would change under the current rules"),
        "{}",
        p.body
    );
    // The Roles page says the same, with Apply to all beside it.
    let roles = format!("/t/{}/integrations/{}/roles", ep.tenant, ep.id);
    let p = ui.get(&roles).await;
    assert!(
        p.body.contains("id=\"roles-would-change\"")
            && p.body
                .contains("2 users would change under the current rules")
            && p.body.contains("id=\"roles-apply-all\""),
        "{}",
        p.body
    );
    // Nothing changed yet: the rules wait for the users' next change or Apply to all.
    let r = ui
        .post(&roles, &format!("{page}/apply-all"), &[("back", "roles")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some(roles.as_str()));
    eventually(&f, 30, "the two Sales users are Managers", |a| {
        (0..2).all(|i| group_of(a, &format!("u{i}@contoso.com")).as_deref() == Some("Manager"))
    })
    .await;
    wait_idle(&s, &ep).await;
    // The Overview's progress bar and /metrics: both of the batch's jobs done.
    let overview = ui
        .get(&format!("/t/{}/integrations/{}", ep.tenant, ep.id))
        .await;
    assert!(
        overview.body.contains("id=\"resync-progress\"")
            && overview.body.contains("Apply to all: finished")
            && overview.body.contains("<progress value=\"2\" max=\"2\"")
            && overview.body.contains("2 of 2 done"),
        "{}",
        overview.body
    );
    let metrics = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        format!(
            "scimbridge_resync_queued_jobs{{integration=\"{}\"}} 2",
            ep.id
        ),
        format!(
            "scimbridge_resync_remaining_jobs{{integration=\"{}\"}} 0",
            ep.id
        ),
    ] {
        assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    }
    let snap = f.account_state("acme").unwrap();
    let managers = snap
        .users
        .iter()
        .filter(|u| group_of(&snap, &u.email).as_deref() == Some("Manager"))
        .count();
    assert_eq!(managers, 2, "exactly the two counted");
    let p = ui.get(&page).await;
    assert!(p.body.contains("0 users would change"), "{}", p.body);
    let p = ui.get(&roles).await;
    assert!(
        p.body.contains("0 users would change") && !p.body.contains("id=\"roles-apply-all\""),
        "{}",
        p.body
    );
}

/// The dry-run diff is what going live then does, call for call: accounts already in the
/// target are imported while the integration runs in dry run, the Policy page says what
/// switching to live will do, and the worker's calls after the switch (made through the same
/// form) are exactly the plan's, user by user.
async fn going_live_does_what_the_dry_run_diff_said(s: TestServer) {
    use common::ui::{PASSWORD, Ui, admin};
    let f = fake().await;
    // Already in the target: alice in the right role, bob in the wrong one, a former employee.
    seed(&f, "alice@contoso.com", "Admin");
    let bob_id = seed(&f, "bob@contoso.com", "Manager");
    let left_id = seed(&f, "left@contoso.com", "User");
    let ep = integration(&s, &f);
    let alice = post_user(&s, &ep, "alice@contoso.com", Some("Admin")).await;
    let bob = post_user(&s, &ep, "bob@contoso.com", None).await;
    let dave = post_user(&s, &ep, "dave@contoso.com", None).await;
    let erin = post_user(&s, &ep, "erin@contoso.com", Some("Admin")).await;
    wait_idle(&s, &ep).await;

    // The import (dry run: it only reads) and the diff.
    let r = report(&s, &ep, &[]);
    assert_eq!(
        r["orphaned"],
        json!([{"target_id": left_id, "email": "left@contoso.com", "last_login": null}]),
        "{r:#}"
    );
    let st = s.store().await;
    let dry = st.get_integration_unscoped(&ep.id).await.unwrap().unwrap();
    assert_eq!(dry.mode, store::IntegrationMode::DryRun);
    let analysis = scimbridge::connectors::reconciler(&st, true)
        .analyze(&dry)
        .await
        .unwrap();
    assert_eq!(
        analysis.summary,
        provisioning::reconcile::PlanSummary {
            create: 2,
            adopt: 2,
            change_role: 1,
            update_profile: 0,
            deprovision: 0,
            orphans: 1
        },
        "{:#?}",
        analysis.plans
    );
    let mut planned: Vec<(String, Vec<String>)> = analysis
        .plans
        .iter()
        .filter(|p| !p.operations.is_empty())
        .map(|p| (p.scim_user_id.clone(), p.operations.clone()))
        .collect();
    planned.sort();
    let planned_users: Vec<&str> = planned.iter().map(|(u, _)| u.as_str()).collect();
    let mut expected_users = vec![bob.as_str(), dave.as_str(), erin.as_str()];
    expected_users.sort();
    assert_eq!(
        planned_users, expected_users,
        "alice needs nothing: {planned:#?}"
    );
    assert!(!planned.iter().any(|(u, _)| u == &alice));
    assert!(f.request_log().iter().all(|e| e.method == "GET"));

    // The Policy page says it before the switch.
    admin(&s, "ops@example.com", "platform-admin", None);
    let ui = Ui::new(&s.base);
    ui.sign_in("ops@example.com", PASSWORD).await;
    let policy = format!("/t/{}/integrations/{}/policy", ep.tenant, ep.id);
    let page = ui.get(&policy).await;
    assert!(
        page.body.contains("id=\"going-live-diff\"")
            && page.body.contains(
                "create 2, adopt 2 existing accounts, change the role of 1, deprovision 0, leave 1 orphan."
            ),
        "{}",
        page.body
    );

    // Switch to live through the same form an admin uses.
    let since = chrono::Utc::now().timestamp_millis();
    let saved = ui
        .post(
            &policy,
            &policy,
            &[
                ("deprovision", "role"),
                ("deprovision_role", "No access"),
                ("mode", "live"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    eventually(&f, 30, "bob in User; dave and erin created", |a| {
        group_of(a, "bob@contoso.com").as_deref() == Some("User")
            && group_of(a, "dave@contoso.com").as_deref() == Some("User")
            && group_of(a, "erin@contoso.com").as_deref() == Some("Admin")
    })
    .await;
    wait_idle(&s, &ep).await;
    let (events, did) = calls_per_user(&st, &ep, since).await;
    assert!(
        events.iter().all(|e| e.outcome == store::OK_OUTCOME),
        "{events:#?}"
    );
    assert_eq!(
        did,
        planned,
        "the calls after going live = the dry-run diff, user by user: {:#?}",
        events
            .iter()
            .map(|e| (&e.subject_id, &e.operation, &e.detail))
            .collect::<Vec<_>>()
    );
    // Adopted, not duplicated: one account per e-mail, bob's the one that was there.
    let snap = f.account_state("acme").unwrap();
    for email in ["alice@contoso.com", "bob@contoso.com"] {
        assert_eq!(
            snap.users
                .iter()
                .filter(|u| u.email.eq_ignore_ascii_case(email))
                .count(),
            1,
            "{email}"
        );
    }
    let link = st.get_link(&ep.id, &bob).await.unwrap().unwrap();
    assert_eq!(link.target_id.as_deref(), Some(bob_id.as_str()));
}

/// Orphaned accounts whose removal the deletion guard held are deprovisioned by the approval
/// itself (they have no user job to run again), from the same `guard approve` as users'.
async fn approved_orphans_are_deprovisioned_by_the_approval(s: TestServer) {
    let f = fake().await;
    let gone1 = seed(&f, "gone1@contoso.com", "User");
    let gone2 = seed(&f, "gone2@contoso.com", "User");
    let base = format!("base_url={}", f.base_url());
    let key = format!("api_key={TOKEN}");
    let ep = s.endpoint_with(
        "Acme",
        &[
            "--setting",
            &base,
            "--secret",
            &key,
            "--default-role",
            "User",
            "--deprovision",
            "role:No access",
            "--delete-guard",
            "1,10%",
        ],
    );
    post_user(&s, &ep, "alice@contoso.com", None).await;
    wait_idle(&s, &ep).await;

    // Two removals at once are above the guard's threshold: held, nothing called.
    let r = report(
        &s,
        &ep,
        &[
            "--deprovision-orphan",
            &gone1,
            "--deprovision-orphan",
            &gone2,
        ],
    );
    assert_eq!(
        r["deprovisioned"],
        json!({"done": [], "held": ["gone1@contoso.com", "gone2@contoso.com"]}),
        "{r:#}"
    );
    let snap = f.account_state("acme").unwrap();
    assert_eq!(
        group_of(&snap, "gone1@contoso.com").as_deref(),
        Some("User")
    );
    let held = s.cli(&["guard", "show", "--integration", &ep.id]);
    assert_eq!(held["held"], true, "{held}");
    assert_eq!(held["users"].as_array().unwrap().len(), 2, "{held}");

    // Approve: the approval deprovisions them now.
    let approved = s.cli(&["guard", "approve", "--integration", &ep.id]);
    assert_eq!(approved["users"].as_array().unwrap().len(), 2, "{approved}");
    assert_eq!(
        approved["orphans"],
        json!({"done": ["gone1@contoso.com", "gone2@contoso.com"], "held": [], "error": null}),
        "{approved}"
    );
    let snap = f.account_state("acme").unwrap();
    for email in ["gone1@contoso.com", "gone2@contoso.com"] {
        assert_eq!(
            group_of(&snap, email).as_deref(),
            Some("No access"),
            "{email}"
        );
    }
    assert_eq!(
        group_of(&snap, "alice@contoso.com").as_deref(),
        Some("User")
    );
    let after = s.cli(&["guard", "show", "--integration", &ep.id]);
    assert_eq!(after, json!({"held": false, "users": []}));
    let r = report(&s, &ep, &[]);
    assert_eq!(r["orphaned"], json!([]), "{r:#}");
}

/// ActiveCampaign's group member list is inferred, not documented: where it is missing (404)
/// or lists other groups' links, the import reads each account's own group link instead and
/// the report is the same.
async fn untrusted_member_lists_fall_back_to_each_accounts_group(s: TestServer) {
    use testkit::fake_activecampaign::{MemberLists, Quirks};
    for quirk in [MemberLists::Missing, MemberLists::Unfiltered] {
        let f = FakeActiveCampaign::start(FakeConfig {
            quirks: Quirks {
                member_lists: quirk,
                ..Quirks::default()
            },
            ..FakeConfig::default().account(AccountConfig::new("acme", TOKEN).groups([
                "Manager",
                "User",
                "No access",
            ]))
        })
        .await;
        seed(&f, "bob@contoso.com", "Manager");
        let left = seed(&f, "left@contoso.com", "User");
        let ep = integration(&s, &f);
        post_user(&s, &ep, "bob@contoso.com", None).await;
        wait_idle(&s, &ep).await;
        let r = report(&s, &ep, &[]);
        assert_eq!(
            r["drift"],
            json!([{"user_name": "bob@contoso.com", "field": "role", "ours": "User", "theirs": "Manager"}]),
            "{quirk:?}: {r:#}"
        );
        assert_eq!(
            r["orphaned"],
            json!([{"target_id": left, "email": "left@contoso.com", "last_login": null}]),
            "{quirk:?}: {r:#}"
        );
        let per_account = f
            .request_log()
            .iter()
            .filter(|e| e.method == "GET" && e.path.ends_with("/userGroup"))
            .count();
        assert!(
            per_account >= 2,
            "{quirk:?}: each account's own link was read"
        );
    }
}

on_both_backends!(
    import_report_fix_and_deprovision,
    one_import_at_a_time,
    kill9_mid_import_resumes_from_its_cursor,
    rule_change_counts_exactly_what_apply_to_all_changes,
    going_live_does_what_the_dry_run_diff_said,
    approved_orphans_are_deprovisioned_by_the_approval,
    untrusted_member_lists_fall_back_to_each_accounts_group
);

mod scheduled {
    use super::*;

    async fn server(backend: common::Backend) -> Option<TestServer> {
        TestServer::start_with(
            backend,
            common::ServeOptions::env(&[("SCIMBRIDGE_RECONCILE_CHECK_SECS", "1")]),
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        scheduled_import_runs_in_the_worker(server(common::Backend::Sqlite).await.unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        match server(common::Backend::Postgres).await {
            Some(s) => scheduled_import_runs_in_the_worker(s).await,
            None => eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set"),
        }
    }
}

/// Import speed (run by hand, `--ignored --nocapture`): 10,000 accounts under the 5 req/s
/// limit against the floor the page size and the limit set, and the importing process's
/// resident memory along the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: about a minute"]
async fn import_speed_10000_accounts() {
    let s = TestServer::start(common::Backend::Sqlite).await.unwrap();
    let f = fake().await;
    seed_many(&f, 10_000);
    let ep = integration(&s, &f);
    f.clear_request_log();
    let started = std::time::Instant::now();
    // The report of 10,000 orphans is larger than a pipe holds: into a file.
    let report_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = s
        .cli_command(&["reconcile", "--integration", &ep.id, "--json"])
        .stdin(std::process::Stdio::null())
        .stdout(report_file.reopen().unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut rss = Vec::new();
    while child.try_wait().unwrap().is_none() {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            rss.push(kb);
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(child.wait().unwrap().success());
    let took = started.elapsed();
    let log = f.request_log();
    let lists: Vec<_> = log
        .iter()
        .filter(|e| list_offset(&e.path).is_some())
        .collect();
    let list_span = lists.last().unwrap().since_start - lists.first().unwrap().since_start;
    let pages = lists.len();
    // The floor: `pages` requests at 5 per second, the first at once.
    let floor = std::time::Duration::from_secs_f64((pages - 1) as f64 / 5.0);
    let r: Value = serde_json::from_slice(&std::fs::read(report_file.path()).unwrap()).unwrap();
    println!(
        "import of {} accounts: {} list pages in {:.1} s (floor {:.1} s, ratio {:.3}); whole run {:.1} s with {} requests ({} max in any second); RSS min {} kB, max {} kB over {} samples",
        r["seats"]["active"],
        pages,
        list_span.as_secs_f64(),
        floor.as_secs_f64(),
        list_span.as_secs_f64() / floor.as_secs_f64(),
        took.as_secs_f64(),
        log.len(),
        f.max_requests_in_any_second("acme"),
        rss.iter().min().unwrap_or(&0),
        rss.iter().max().unwrap_or(&0),
        rss.len()
    );
    // Along the import (the report of 10,000 orphans is built at the very end).
    let q = |f: f64| {
        rss.get((rss.len() as f64 * f) as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "RSS at 10/25/50/75/90 % of the run: {} {} {} {} {} kB",
        q(0.1),
        q(0.25),
        q(0.5),
        q(0.75),
        q(0.9)
    );
    assert_eq!(r["seats"]["active"], 10_001);
    assert!(list_span.as_secs_f64() <= floor.as_secs_f64() * 1.1);
    assert!(f.max_requests_in_any_second("acme") <= 5);
}
