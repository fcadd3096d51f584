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

on_both_backends!(import_report_fix_and_deprovision, one_import_at_a_time);
