//! SCIM changes reaching the fake ActiveCampaign through the real worker, on SQLite and
//! PostgreSQL: the Entra lifecycle, a burst under the 5 req/s limit, an outage, dry-run.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::target::{eventually, group_of, patch, post_user, wait_idle};
use common::{Endpoint, TestServer};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
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

fn integration(s: &TestServer, f: &FakeHandle, extra: &[&str]) -> Endpoint {
    let base = format!("base_url={}", f.base_url());
    let key = format!("api_key={TOKEN}");
    let mut args = vec![
        "--setting",
        &base,
        "--secret",
        &key,
        "--role-rule",
        "app_role:Admin=Admin",
        "--role-rule",
        "group:Sales Managers=Manager",
        "--deprovision",
        "role:No access",
    ];
    if !extra.contains(&"--default-role") {
        args.extend_from_slice(&["--default-role", "User"]);
    }
    args.extend_from_slice(extra);
    s.endpoint_with("Acme", &args)
}

async fn entra_lifecycle(s: TestServer) {
    let f = fake().await;
    let ep = integration(&s, &f, &[]);
    let owner_email = f
        .account_state("acme")
        .unwrap()
        .users
        .iter()
        .find(|u| u.is_owner)
        .unwrap()
        .email
        .clone();

    // Created in the right permission group: from an app role, and by default.
    let admin = post_user(&s, &ep, "admin@contoso.com", Some("Admin")).await;
    let plain = post_user(&s, &ep, "plain@contoso.com", None).await;
    eventually(&f, 30, "both users created", |a| {
        group_of(a, "admin@contoso.com").as_deref() == Some("Admin")
            && group_of(a, "plain@contoso.com").as_deref() == Some("User")
    })
    .await;

    // Group membership changes the role (users arrive before memberships).
    let g = s
        .call(
            &ep,
            "POST",
            "/Groups",
            Some(json!({"displayName": "Sales Managers", "members": []})),
        )
        .await;
    let gid = g.body["id"].as_str().unwrap().to_string();
    patch(
        &s,
        &ep,
        &format!("/Groups/{gid}"),
        json!([{"op": "Add", "path": "members", "value": [{"value": plain}]}]),
    )
    .await;
    eventually(&f, 30, "plain becomes Manager", |a| {
        group_of(a, "plain@contoso.com").as_deref() == Some("Manager")
    })
    .await;

    // Name and email updates.
    patch(&s, &ep, &format!("/Users/{plain}"), json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "renamed@contoso.com"},
        {"op": "Replace", "path": "name.familyName", "value": "Renamed"}
    ])).await;
    eventually(&f, 30, "email and name updated", |a| {
        a.users
            .iter()
            .any(|u| u.email == "renamed@contoso.com" && u.last_name == "Renamed")
    })
    .await;

    // App role removed → default role; leaving the group → default role.
    patch(
        &s,
        &ep,
        &format!("/Users/{admin}"),
        json!([{"op": "replace", "path": "roles", "value": []}]),
    )
    .await;
    eventually(&f, 30, "admin demoted to User", |a| {
        group_of(a, "admin@contoso.com").as_deref() == Some("User")
    })
    .await;

    // active=false → "No access"; reactivation restores the resolved role.
    patch(
        &s,
        &ep,
        &format!("/Users/{plain}"),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    eventually(&f, 30, "deactivated to No access", |a| {
        group_of(a, "renamed@contoso.com").as_deref() == Some("No access")
    })
    .await;
    patch(
        &s,
        &ep,
        &format!("/Users/{plain}"),
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await;
    eventually(&f, 30, "reactivated as Manager", |a| {
        group_of(a, "renamed@contoso.com").as_deref() == Some("Manager")
    })
    .await;

    // DELETE → removed.
    assert_eq!(
        s.call(&ep, "DELETE", &format!("/Users/{admin}"), None)
            .await
            .status,
        204
    );
    eventually(&f, 30, "admin deleted", |a| {
        !a.users.iter().any(|u| u.email == "admin@contoso.com")
    })
    .await;

    // An existing target user with the same email is linked, not duplicated.
    f.add_user_in("acme", SeedUser::new("existing", "existing@contoso.com"))
        .unwrap();
    post_user(&s, &ep, "existing@contoso.com", Some("Admin")).await;
    eventually(&f, 30, "existing user adopted as Admin", |a| {
        group_of(a, "existing@contoso.com").as_deref() == Some("Admin")
    })
    .await;
    assert_eq!(
        f.account_state("acme")
            .unwrap()
            .users
            .iter()
            .filter(|u| u.email == "existing@contoso.com")
            .count(),
        1
    );

    // The key owner is never demoted or deleted, even when Entra disables or deletes it.
    let owner = post_user(&s, &ep, &owner_email, None).await;
    patch(
        &s,
        &ep,
        &format!("/Users/{owner}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    assert_eq!(
        s.call(&ep, "DELETE", &format!("/Users/{owner}"), None)
            .await
            .status,
        204
    );
    wait_idle(&s, &ep).await;
    let snap = f.account_state("acme").unwrap();
    assert_eq!(
        group_of(&snap, &owner_email).as_deref(),
        Some("Admin"),
        "owner untouched"
    );
    // The trace: outbound events carry the correlation id of the inbound request.
    let st = s.store().await;
    let events = st
        .list_events(&store::EventQuery {
            integration_id: Some(ep.id.clone()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let outbound: Vec<_> = events
        .iter()
        .filter(|e| e.direction == store::Direction::Outbound && e.operation == "create_user")
        .collect();
    assert!(!outbound.is_empty());
    for e in outbound {
        assert!(
            events
                .iter()
                .any(|i| i.direction == store::Direction::Inbound
                    && i.correlation_id == e.correlation_id),
            "outbound {e:?} has no inbound cause"
        );
    }
    assert!(f.max_requests_in_any_second("acme") <= 5);
}

/// Waits until the integration has no open jobs.
async fn burst_under_rate_limit(s: TestServer) {
    let f = fake().await;
    let ep = integration(&s, &f, &[]);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let server = std::sync::Arc::new(s);
    for i in 0..300 {
        let (srv, ep) = (server.clone(), ep.clone());
        set.spawn(
            async move { post_user(&srv, &ep, &format!("burst{i:03}@contoso.com"), None).await },
        );
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    eventually(&f, 180, "300 users in ActiveCampaign", |a| {
        a.users
            .iter()
            .filter(|u| u.email.starts_with("burst"))
            .count()
            == 300
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    let log = f.request_log();
    let throttled = log.iter().filter(|e| e.status == 429).count();
    eprintln!("300 users converged in {secs:.1}s (floor at 5 req/s: 60s); 429s seen: {throttled}");
    assert!(
        f.max_requests_in_any_second("acme") <= 5,
        "more than 5 req/s reached the fake"
    );
    let snap = f.account_state("acme").unwrap();
    assert_eq!(
        snap.users
            .iter()
            .filter(|u| u.email.starts_with("burst"))
            .count(),
        300,
        "no duplicates"
    );
    wait_idle(&server, &ep).await;
}

async fn outage_and_recovery(s: TestServer) {
    let f = fake().await;
    let ep = integration(&s, &f, &[]);
    f.set_outage(true);
    for i in 0..5 {
        post_user(&s, &ep, &format!("outage{i}@contoso.com"), None).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        f.account_state("acme")
            .unwrap()
            .users
            .iter()
            .all(|u| !u.email.starts_with("outage"))
    );
    f.set_outage(false);
    eventually(&f, 60, "all 5 created after the outage", |a| {
        a.users
            .iter()
            .filter(|u| u.email.starts_with("outage"))
            .count()
            == 5
    })
    .await;
    // Refused connections too.
    f.refuse_connections(true).await.unwrap();
    post_user(&s, &ep, "refused@contoso.com", None).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    f.refuse_connections(false).await.unwrap();
    eventually(&f, 60, "created after connections came back", |a| {
        a.users.iter().any(|u| u.email == "refused@contoso.com")
    })
    .await;
    wait_idle(&s, &ep).await;
    let snap = f.account_state("acme").unwrap();
    assert_eq!(
        snap.users
            .iter()
            .filter(|u| u.email.starts_with("outage") || u.email == "refused@contoso.com")
            .count(),
        6,
        "nothing duplicated"
    );
}

async fn dry_run_calls_nothing(s: TestServer) {
    let f = fake().await;
    let ep = integration(&s, &f, &["--mode", "dry-run"]);
    let id = post_user(&s, &ep, "dry@contoso.com", Some("Admin")).await;
    // Let the create be decided before the disable (a job reads the user as it is when it runs).
    wait_idle(&s, &ep).await;
    patch(
        &s,
        &ep,
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    wait_idle(&s, &ep).await;
    assert!(
        f.request_log().is_empty(),
        "dry-run made target calls: {:?}",
        f.request_log()
    );
    let st = s.store().await;
    let events = st
        .list_events(&store::EventQuery {
            integration_id: Some(ep.id.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let would: Vec<_> = events.iter().filter(|e| e.outcome == "dry_run").collect();
    assert!(
        would.iter().any(|e| e.operation == "create_user"
            && e.detail.as_deref().unwrap_or_default().contains("Admin")),
        "{events:?}"
    );
}

async fn kill9_mid_run_converges(mut s: TestServer) {
    let f = fake().await;
    let ep = integration(&s, &f, &[]);
    for i in 0..40 {
        post_user(&s, &ep, &format!("crash{i:02}@contoso.com"), None).await;
    }
    // Some users are in ActiveCampaign, most are not: kill the server without warning.
    eventually(&f, 30, "a few users created", |a| {
        a.users
            .iter()
            .filter(|u| u.email.starts_with("crash"))
            .count()
            >= 5
    })
    .await;
    s.kill9_and_restart().await;
    // Every change was committed before its 201, so the restarted server finishes the work;
    // jobs claimed by the dead process run again after their lease.
    eventually(&f, 120, "all 40 created after the restart", |a| {
        a.users
            .iter()
            .filter(|u| u.email.starts_with("crash"))
            .count()
            == 40
    })
    .await;
    wait_idle(&s, &ep).await;
    let snap = f.account_state("acme").unwrap();
    let mut emails: Vec<&str> = snap
        .users
        .iter()
        .map(|u| u.email.as_str())
        .filter(|e| e.starts_with("crash"))
        .collect();
    let total = emails.len();
    emails.sort_unstable();
    emails.dedup();
    assert_eq!((total, emails.len()), (40, 40), "no duplicates");
    assert!(
        snap.users
            .iter()
            .filter(|u| u.email.starts_with("crash"))
            .all(|u| group_of(&snap, &u.email).as_deref() == Some("User"))
    );
}

on_both_backends!(
    entra_lifecycle,
    burst_under_rate_limit,
    outage_and_recovery,
    dry_run_calls_nothing,
    kill9_mid_run_converges,
    group_patch_of_100_members_changes_100_roles,
    failed_job_is_kept_and_retried
);

/// Two `scimbridge serve` instances on one PostgreSQL drain one outbox together: no job done
/// twice, the 5 req/s limit held across both, and one of them can die without loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances_share_the_outbox() {
    let Some(s) = TestServer::start(common::Backend::Postgres).await else {
        eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set");
        return;
    };
    let f = fake().await;
    let ep = integration(&s, &f, &[]);
    let second = s.another_instance().await;
    let ep2 = Endpoint {
        url: ep.url.replace(&s.base, &second.base),
        ..ep.clone()
    };
    for i in 0..60 {
        let target = if i % 2 == 0 { &ep } else { &ep2 };
        post_user(&s, target, &format!("twin{i:02}@contoso.com"), None).await;
    }
    eventually(&f, 60, "some users created", |a| {
        a.users
            .iter()
            .filter(|u| u.email.starts_with("twin"))
            .count()
            >= 10
    })
    .await;
    drop(second); // one instance dies; the other picks up its leased jobs
    eventually(&f, 120, "all 60 created", |a| {
        a.users
            .iter()
            .filter(|u| u.email.starts_with("twin"))
            .count()
            == 60
    })
    .await;
    wait_idle(&s, &ep).await;
    let created = f
        .request_log()
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/users") && e.status == 201)
        .count();
    assert_eq!(created, 60, "each user created exactly once");
    assert!(
        f.max_requests_in_any_second("acme") <= 5,
        "the rate limit holds across instances"
    );
}

/// Benchmark, run on demand (`cargo test --release -p scimbridge --test provisioning --
/// --ignored converge_1000 --nocapture`): how long 1,000 users take to reach the fake at
/// 5 req/s (floor: 200 s), and the SCIM lookup latency while the outbox drains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: about four minutes"]
async fn converge_1000_users_benchmark() {
    let backend = if std::env::var("SCIMBRIDGE_TEST_PG").is_ok() {
        common::Backend::Postgres
    } else {
        common::Backend::Sqlite
    };
    let s = std::sync::Arc::new(TestServer::start(backend).await.unwrap());
    let f = fake().await;
    let ep = integration(&s, &f, &[]);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (srv, ep) = (s.clone(), ep.clone());
        set.spawn(async move {
            for i in (worker..1000).step_by(8) {
                post_user(&srv, &ep, &format!("k{i:04}@contoso.com"), None).await;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let accepted = started.elapsed();
    // SCIM lookups while the worker drains the outbox.
    let mut latencies = Vec::new();
    let mut i = 0;
    loop {
        let done = f
            .account_state("acme")
            .unwrap()
            .users
            .iter()
            .filter(|u| u.email.starts_with('k'))
            .count();
        if done == 1000 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not converged after 600 s ({done}/1000)"
        );
        let t = Instant::now();
        let r = s
            .call(
                &ep,
                "GET",
                &format!(
                    "/Users?filter=userName+eq+%22k{:04}%40contoso.com%22",
                    i % 1000
                ),
                None,
            )
            .await;
        latencies.push(t.elapsed());
        assert_eq!(r.status, 200);
        i += 7;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let converged = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    eprintln!(
        "{backend:?}: 1000 SCIM creates accepted in {:.1}s; converged in ActiveCampaign after {:.1}s = {:.2}x the 200 s floor; \
         SCIM lookup while draining: n={} p50={:?} p99={:?} max={:?}; max req/s seen by the fake: {}",
        accepted.as_secs_f64(),
        converged.as_secs_f64(),
        converged.as_secs_f64() / 200.0,
        latencies.len(),
        pct(0.5),
        pct(0.99),
        latencies.last().unwrap(),
        f.max_requests_in_any_second("acme")
    );
    assert!(f.max_requests_in_any_second("acme") <= 5);
}

async fn group_patch_of_100_members_changes_100_roles(s: TestServer) {
    let f = fake().await;
    let ep = integration(&s, &f, &[]);
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(post_user(&s, &ep, &format!("member{i:03}@contoso.com"), None).await);
    }
    eventually(&f, 120, "100 users created as User", |a| {
        a.users
            .iter()
            .filter(|u| {
                u.email.starts_with("member") && group_of(a, &u.email).as_deref() == Some("User")
            })
            .count()
            == 100
    })
    .await;
    let g = s
        .call(
            &ep,
            "POST",
            "/Groups",
            Some(json!({"displayName": "Sales Managers", "members": []})),
        )
        .await;
    let gid = g.body["id"].as_str().unwrap().to_string();
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    patch(
        &s,
        &ep,
        &format!("/Groups/{gid}"),
        json!([{"op": "Add", "path": "members", "value": members}]),
    )
    .await;
    eventually(&f, 120, "all 100 became Manager", |a| {
        a.users
            .iter()
            .filter(|u| {
                u.email.starts_with("member") && group_of(a, &u.email).as_deref() == Some("Manager")
            })
            .count()
            == 100
    })
    .await;
    assert!(f.max_requests_in_any_second("acme") <= 5);
}

async fn failed_job_is_kept_and_retried(s: TestServer) {
    let f = fake().await;
    let ep = integration(&s, &f, &["--default-role", "Late Role"]);
    post_user(&s, &ep, "late@contoso.com", None).await;
    // The role does not exist in ActiveCampaign: the job fails for good, with a readable reason.
    let deadline = Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let out = s.cli(&["job", "failed", "--integration", &ep.id]);
        if out["failed"].as_array().is_some_and(|a| !a.is_empty()) {
            break out;
        }
        assert!(Instant::now() < deadline, "the job never failed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let reason = failed["failed"][0]["last_error"].as_str().unwrap();
    assert!(
        reason.contains("'Late Role' does not exist") && reason.contains("No access"),
        "{reason}"
    );
    assert!(
        f.account_state("acme")
            .unwrap()
            .users
            .iter()
            .all(|u| u.email != "late@contoso.com")
    );
    // The admin creates the group; a retry succeeds.
    f.add_group_in("acme", "Late Role").unwrap();
    assert_eq!(
        s.cli(&["job", "retry", "--integration", &ep.id])["retried"],
        1
    );
    eventually(&f, 30, "created after the retry", |a| {
        group_of(a, "late@contoso.com").as_deref() == Some("Late Role")
    })
    .await;
    wait_idle(&s, &ep).await;
}
