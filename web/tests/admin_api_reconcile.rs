//! The deletion guard and reconciliation through the admin API (`/api/v1`), over real HTTP
//! against the fake ActiveCampaign, on SQLite and PostgreSQL: the schedule settings, an
//! import with its progress, the report's orphans deprovisioned through the guard (held, then
//! discarded, then approved), the key owner refused, Fix drift and Apply to all carried out by
//! the worker; support tokens get 403 on writes, another tenant's admin 404; every action is
//! audit-logged, also from the local CLI; the remote CLI prints what the local CLI prints.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::api::{Api, cli_token, tags_of};
use common::target::{eventually, group_of, post_user, wait_idle};
use common::ui::admin;
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

fn seed(f: &FakeHandle, email: &str, group: &str) -> String {
    let id = f
        .account_state("acme")
        .unwrap()
        .group_by_title(group)
        .unwrap()
        .id
        .clone();
    let user = email.split('@').next().unwrap();
    f.add_user(
        SeedUser::new(user, email)
            .names("Given", "Family")
            .group(id),
    )
    .unwrap()
}

/// Dry run while Entra's users arrive (nothing is called), with a guard that holds any two
/// removals at once.
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
            "--delete-guard",
            "1,10%",
            "--mode",
            "dry-run",
        ],
    )
}

/// The integration's audit entries with this action, oldest first.
async fn audit(st: &store::Store, ep: &Endpoint, action: &str) -> Vec<store::AuditEntry> {
    let mut v = st
        .list_audit(&store::AuditQuery {
            tenant_id: Some(ep.tenant.clone()),
            action: Some(action.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    v.retain(|a| a.target_id.as_deref() == Some(ep.id.as_str()));
    v.sort_by_key(|a| a.id);
    v
}

/// Stdout of a CLI command that must succeed.
fn stdout(s: &TestServer, args: &[&str]) -> String {
    let out = s.cli_output(args, None);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn guard_and_reconciliation(s: TestServer) {
    let f = fake().await;
    let owner = f
        .account_state("acme")
        .unwrap()
        .users
        .into_iter()
        .find(|u| u.is_owner)
        .unwrap();
    seed(&f, "alice@contoso.com", "Admin");
    seed(&f, "bob@contoso.com", "Manager");
    let left = seed(&f, "left@contoso.com", "User");
    let jit = seed(&f, "jit@contoso.com", "Manager");
    let ep = integration(&s, &f);
    post_user(&s, &ep, "alice@contoso.com", Some("Admin")).await;
    post_user(&s, &ep, "bob@contoso.com", None).await;
    post_user(&s, &ep, "dave@contoso.com", None).await;
    wait_idle(&s, &ep).await;
    let st = s.store().await;
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

    let api = Api::new(&s.base).await;
    admin(&s, "root@example.com", "platform-admin", None);
    let root = cli_token(&s, "root@example.com", "automation");
    admin(&s, "help@example.com", "support", None);
    let support = cli_token(&s, "help@example.com", "dashboards");
    let globex = s.cli(&["tenant", "create", "--name", "Globex"]);
    admin(
        &s,
        "globex@example.com",
        "tenant-admin",
        globex["id"].as_str(),
    );
    let other = cli_token(&s, "globex@example.com", "theirs");
    let i = format!("/api/v1/tenants/{}/integrations/{}", ep.tenant, ep.id);
    let r = format!("{i}/reconciliation");
    let g = format!("{i}/guard");
    // Support reads but changes nothing; another tenant's admin does not see it at all.
    let refused = async |method: &str, path: &str, body: Option<Value>| {
        api.call(Some(support.as_str()), method, path, body.clone())
            .await
            .problem(403);
        api.call(Some(other.as_str()), method, path, body)
            .await
            .problem(404);
    };

    // ---- settings: the schedule and automatic drift correction
    let got = api.get(&root, &format!("{r}/settings")).await;
    assert_eq!(got.expect(200)["interval_hours"], 24, "{}", got.text);
    assert_eq!(got.body["correct_drift"], false);
    api.get(&support, &format!("{r}/settings"))
        .await
        .expect(200);
    api.get(&other, &format!("{r}/settings")).await.problem(404);
    let detail = api
        .put(
            &root,
            &format!("{r}/settings"),
            json!({"interval_hours": 0, "correct_drift": false}),
        )
        .await
        .problem(422);
    assert!(detail.contains("between 1 hour and 30 days"), "{detail}");
    api.put(
        &root,
        &format!("{r}/settings"),
        json!({"interval_hours": 12, "correct_drift": false, "every": "day"}),
    )
    .await
    .problem(400);
    let body = json!({"interval_hours": 12, "correct_drift": false});
    refused("put", &format!("{r}/settings"), Some(body.clone())).await;
    let before = chrono::Utc::now().timestamp_millis();
    let saved = api.put(&root, &format!("{r}/settings"), body).await;
    assert_eq!(saved.expect(200)["interval_hours"], 12);
    assert!(saved.body["next_run_at"].as_i64().unwrap() >= before + 12 * 3_600_000);
    let run = st.recon_run(&ep.id).await.unwrap().unwrap();
    assert_eq!((run.interval_secs, run.correct_drift), (43_200, false));
    let got = api.get(&root, &format!("{r}/settings")).await;
    assert_eq!(got.expect(200)["interval_hours"], 12);
    let a = audit(&st, &ep, "reconcile.settings").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].actor_email.starts_with("root@example.com (API token "));

    // ---- import: one at a time, in the background, with its progress
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        st.recon_take_lease(&ep.id, "another-instance", now, 600_000)
            .await
            .unwrap()
            .is_some()
    );
    let detail = api
        .post(&root, &format!("{r}/import"), json!({}))
        .await
        .problem(409);
    assert!(detail.contains("another instance is importing"), "{detail}");
    st.recon_stop(&ep.id, "another-instance", None, now)
        .await
        .unwrap();
    refused("post", &format!("{r}/import"), None).await;
    assert!(audit(&st, &ep, "reconcile.import").await.is_empty());
    let started = api.post(&root, &format!("{r}/import"), json!({})).await;
    let run_id = started.expect(202)["run_id"].clone();
    assert_eq!(started.body["state"], "running", "{}", started.text);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let done = loop {
        let p = api.get(&support, &format!("{r}/import")).await;
        if p.expect(200)["state"] == "done" {
            break p.body.clone();
        }
        assert_eq!(p.body["state"], "running", "{}", p.text);
        assert!(std::time::Instant::now() < deadline, "{}", p.text);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(done["run_id"], run_id);
    // alice, bob, left, jit and the owner.
    assert_eq!((&done["imported"], &done["total"]), (&json!(5), &json!(5)));
    api.get(&other, &format!("{r}/import")).await.problem(404);
    assert_eq!(audit(&st, &ep, "reconcile.import").await.len(), 1);
    let report = api.get(&root, &r).await;
    assert_eq!(
        report.expect(200)["orphaned"],
        json!([
            {"target_id": jit, "email": "jit@contoso.com", "last_login": null},
            {"target_id": left, "email": "left@contoso.com", "last_login": null}
        ]),
        "{}",
        report.text
    );
    assert_eq!(
        report.body["drift"],
        json!([{"user_name": "bob@contoso.com", "field": "role", "ours": "User", "theirs": "Manager"}])
    );
    assert_eq!(
        report.body["missing"],
        json!([{"user_name": "dave@contoso.com"}])
    );

    // ---- orphans: the key owner and bad input refused; two at once held by the guard
    let orphans = format!("{r}/orphans/deprovision");
    let detail = api
        .post(&root, &orphans, json!({"target_ids": [owner.id]}))
        .await
        .problem(422);
    assert!(detail.contains("owns the API key"), "{detail}");
    api.post(&root, &orphans, json!({"target_ids": []}))
        .await
        .problem(422);
    api.post(&root, &orphans, json!({"target_ids": jit}))
        .await
        .problem(400);
    api.post(&root, &orphans, json!({"target_id": [jit]}))
        .await
        .problem(400);
    let both = json!({"target_ids": [jit, left]});
    refused("post", &orphans, Some(both.clone())).await;
    let ask = async || {
        let held = api.post(&root, &orphans, both.clone()).await;
        assert_eq!(
            held.expect(200),
            &json!({"done": [], "held": ["jit@contoso.com", "left@contoso.com"]})
        );
    };
    ask().await;
    let snap = f.account_state("acme").unwrap();
    assert_eq!(
        group_of(&snap, "jit@contoso.com").as_deref(),
        Some("Manager")
    );

    // ---- the guard: the same JSON from the API, the local CLI and the remote CLI
    let held = api.get(&support, &g).await;
    assert_eq!(held.expect(200)["held"], true);
    let names: Vec<&str> = held.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["jit@contoso.com", "left@contoso.com"]);
    api.get(&other, &g).await.problem(404);
    let show = ["guard", "show", "--integration", ep.id.as_str()];
    let local = stdout(&s, &show);
    let mut remote_show = vec!["--api", s.base.as_str(), "--api-token", root.as_str()];
    remote_show.extend_from_slice(&show);
    assert_eq!(stdout(&s, &remote_show), local);
    assert_eq!(serde_json::from_str::<Value>(&local).unwrap(), held.body);

    // ---- discard through the API: the accounts stay, audit-logged with the users
    refused("post", &format!("{g}/discard"), None).await;
    let discarded = api.post(&root, &format!("{g}/discard"), json!({})).await;
    assert_eq!(discarded.expect(200), &held.body, "the guard as it was");
    assert_eq!(
        api.get(&root, &g).await.expect(200),
        &json!({"held": false, "users": []})
    );
    let snap = f.account_state("acme").unwrap();
    assert_eq!(group_of(&snap, "left@contoso.com").as_deref(), Some("User"));
    let a = audit(&st, &ep, "integration.guard.discard").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].actor_email.contains("(API token "), "{a:?}");
    assert_eq!(
        serde_json::from_str::<Value>(a[0].detail.as_deref().unwrap()).unwrap(),
        json!({"users": ["jit@contoso.com", "left@contoso.com"]})
    );

    // ---- the local CLI's discard is audit-logged too, as the CLI
    ask().await;
    let out = s.cli(&["guard", "discard", "--integration", &ep.id]);
    assert_eq!(out["users"].as_array().unwrap().len(), 2, "{out}");
    let a = audit(&st, &ep, "integration.guard.discard").await;
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(
        (a[1].actor_email.as_str(), a[1].actor_id.as_deref()),
        ("cli", None)
    );

    // ---- approve through the API: the held orphans are deprovisioned by the approval
    ask().await;
    refused("post", &format!("{g}/approve"), None).await;
    let approved = api.post(&root, &format!("{g}/approve"), json!({})).await;
    assert_eq!(approved.expect(200)["users"].as_array().unwrap().len(), 2);
    assert_eq!(
        approved.body["orphans"],
        json!({"done": ["jit@contoso.com", "left@contoso.com"], "held": [], "error": null}),
        "{}",
        approved.text
    );
    let snap = f.account_state("acme").unwrap();
    for email in ["jit@contoso.com", "left@contoso.com"] {
        assert_eq!(
            group_of(&snap, email).as_deref(),
            Some("No access"),
            "{email}"
        );
    }
    let a = audit(&st, &ep, "integration.guard.approve").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].actor_email.contains("(API token "), "{a:?}");
    assert!(a[0].detail.as_deref().unwrap().contains("left@contoso.com"));
    assert!(
        audit(&st, &ep, "reconcile.deprovision_orphans")
            .await
            .iter()
            .any(|a| a
                .detail
                .as_deref()
                .unwrap_or_default()
                .contains("\"done\":[\"jit@"))
    );
    // With nothing held: the local and the remote approve print the same, both audit-logged.
    let approve = ["guard", "approve", "--integration", ep.id.as_str()];
    let local = stdout(&s, &approve);
    assert_eq!(
        serde_json::from_str::<Value>(&local).unwrap(),
        json!({"held": false, "users": []})
    );
    let mut remote_approve = vec!["--api", s.base.as_str(), "--api-token", root.as_str()];
    remote_approve.extend_from_slice(&approve);
    assert_eq!(stdout(&s, &remote_approve), local);
    let a = audit(&st, &ep, "integration.guard.approve").await;
    assert_eq!(a.len(), 3, "{a:?}");
    assert_eq!(a[1].actor_email, "cli");

    // ---- Fix drift: the worker moves bob back to User and creates dave
    refused("post", &format!("{r}/fix-drift"), None).await;
    let fixed = api.post(&root, &format!("{r}/fix-drift"), json!({})).await;
    assert_eq!(fixed.expect(200), &json!({"adopted": 0, "queued": 2}));
    eventually(&f, 30, "bob back in User, dave created", |a| {
        group_of(a, "bob@contoso.com").as_deref() == Some("User")
            && group_of(a, "dave@contoso.com").as_deref() == Some("User")
    })
    .await;
    wait_idle(&s, &ep).await;
    assert_eq!(audit(&st, &ep, "reconcile.fix_drift").await.len(), 1);

    // ---- Apply to all: a rule change reaches exactly the users it changes
    st.replace_role_rules(
        &ep.id,
        vec![store::NewRoleRule {
            priority: 0,
            source_kind: store::RuleSourceKind::AppRole,
            source_value: "Admin".into(),
            target_role: "Manager".into(),
        }],
    )
    .await
    .unwrap();
    refused("post", &format!("{r}/apply-all"), None).await;
    let batch = api.post(&root, &format!("{r}/apply-all"), json!({})).await;
    assert_eq!(
        (&batch.expect(200)["users"], &batch.body["queued"]),
        (&json!(1), &json!(1)),
        "{}",
        batch.text
    );
    let batch_id = batch.body["batch_id"].as_str().unwrap();
    assert_eq!(
        st.resync_progress(&ep.id).await.unwrap().unwrap().batch_id,
        batch_id
    );
    eventually(&f, 30, "alice is a Manager", |a| {
        group_of(a, "alice@contoso.com").as_deref() == Some("Manager")
    })
    .await;
    wait_idle(&s, &ep).await;
    assert_eq!(
        group_of(&f.account_state("acme").unwrap(), "bob@contoso.com").as_deref(),
        Some("User")
    );
    assert_eq!(audit(&st, &ep, "reconcile.apply_all").await.len(), 1);

    // ---- `reconcile --json`: the remote CLI prints what the local CLI prints
    let reconcile = ["reconcile", "--integration", ep.id.as_str(), "--json"];
    let local = stdout(&s, &reconcile);
    let mut remote = vec!["--api", s.base.as_str(), "--api-token", root.as_str()];
    remote.extend_from_slice(&reconcile);
    assert_eq!(stdout(&s, &remote), local);
    let v: Value = serde_json::from_str(&local).unwrap();
    assert_eq!(
        (&v["orphaned"], &v["drift"], &v["missing"]),
        (&json!([]), &json!([]), &json!([]))
    );
    let mut apply = remote.clone();
    apply.push("--apply");
    let v: Value = serde_json::from_str(&stdout(&s, &apply)).unwrap();
    assert_eq!(v["applied"], json!({"adopted": 0, "queued": 0}), "{v}");
    let mut key_owner = remote.clone();
    key_owner.extend_from_slice(&["--deprovision-orphan", owner.id.as_str()]);
    let err = s.cli_fails(&key_owner);
    assert!(
        err.contains("422") && err.contains("owns the API key"),
        "{err}"
    );
    let err = s.cli_fails(&remote[..remote.len() - 1]);
    assert!(err.contains("add --json"), "{err}");
    // Every import was audit-logged: the API's, the local CLI's and the remote CLI's.
    let imports = audit(&st, &ep, "reconcile.import").await;
    assert_eq!(imports.len(), 5, "{imports:?}");
    assert_eq!(imports.iter().filter(|a| a.actor_email == "cli").count(), 1);

    assert!(api.uncalled(tags_of("admin_api_reconcile.rs")).is_empty());
}

on_both_backends!(guard_and_reconciliation);
