//! Benchmark (ignored by default): the provisioning log pages on 1,000,000 events, over real
//! HTTP through the real binary, on SQLite and PostgreSQL. Prints p50 / p95 / max per query;
//! the target is under 200 ms. Run:
//!
//! ```text
//! SCIMBRIDGE_TEST_PG=postgres://postgres@127.0.0.1:5432 \
//!   cargo nextest run -p scimbridge --test log_bench --run-ignored only --no-capture
//! ```
//! `LOG_BENCH_EVENTS` changes the event count (default 1,000,000).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

mod common;

use common::ui::{Ui, admin};
use common::{Backend, TestServer};
use std::time::{Duration, Instant};
use store::{Direction, NewEvent, SubjectKind};

const INTEGRATIONS: usize = 10;
const USERS: usize = 20_000;

async fn seed(s: &TestServer, events: usize) -> (String, Vec<String>) {
    let store = s.store().await;
    let tenant = s.cli(&["tenant", "create", "--name", "Bench"]);
    let tid = tenant["id"].as_str().unwrap().to_string();
    let other = s.cli(&["tenant", "create", "--name", "Other"]);
    let oid = other["id"].as_str().unwrap().to_string();
    let mut integrations = Vec::new();
    for n in 0..INTEGRATIONS {
        // Half the integrations belong to another tenant, so tenant scoping has to filter.
        let owner = if n % 2 == 0 { &tid } else { &oid };
        let i = s.cli(&[
            "integration",
            "create",
            "--tenant",
            owner,
            "--name",
            &format!("AC {n}"),
            "--connector",
            "activecampaign",
            "--setting",
            "base_url=https://x.api-us1.com",
            "--secret",
            "api_key=k",
            "--mode",
            "dry-run",
            "--default-role",
            "User",
        ]);
        integrations.push((owner.clone(), i["id"].as_str().unwrap().to_string()));
    }
    let now = store::now_ms();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for n in 0..events {
        let (owner, iid) = &integrations[n % INTEGRATIONS];
        let user = n * 7919 % USERS;
        let inbound = n % 3 != 2;
        batch.push(NewEvent {
            // Spread over 30 days, newest last.
            at: now - ((events - n) as i64 * 2_592_000_000 / events as i64),
            tenant_id: owner.clone(),
            integration_id: iid.clone(),
            direction: if inbound {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            operation: if inbound {
                "PATCH /Users".into()
            } else {
                "update_user".into()
            },
            subject_kind: Some(SubjectKind::User),
            subject_id: Some(format!("00000000-0000-4000-8000-{user:012}")),
            subject_name: Some(format!("user{user}@example.com")),
            http_status: inbound.then_some(if n % 50 == 0 { 400 } else { 200 }),
            outcome: if n % 50 == 0 {
                "error".into()
            } else {
                "ok".into()
            },
            duration_ms: Some((n % 40) as i64),
            correlation_id: format!("corr-{}", n / 3),
            attempt: (!inbound).then_some(1),
            detail: Some(r#"{"query":"","because":"rule 1 (group \"Sales\" → Manager)"}"#.into()),
        });
        if batch.len() == 10_000 {
            store
                .insert_events(std::mem::take(&mut batch))
                .await
                .unwrap();
        }
    }
    store.insert_events(batch).await.unwrap();
    eprintln!("seeded {events} events in {:.1?}", started.elapsed());
    let own: Vec<String> = integrations
        .into_iter()
        .filter(|(o, _)| o == &tid)
        .map(|(_, i)| i)
        .collect();
    (tid, own)
}

async fn measure(ui: &Ui, label: &str, path: &str) -> Duration {
    let mut times = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let page = ui.get(path).await;
        times.push(t.elapsed());
        assert_eq!(page.status, 200, "{label}: {path}");
    }
    times.sort();
    let (p50, p95, max) = (times[7], times[13], times[14]);
    eprintln!(
        "{label:<44} p50 {:>7.1} ms  p95 {:>7.1} ms  max {:>7.1} ms",
        p50.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    p50
}

async fn bench(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        eprintln!("SKIPPED {backend:?}: SCIMBRIDGE_TEST_PG is not set");
        return;
    };
    let events: usize = std::env::var("LOG_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (tid, own) = seed(&s, events).await;
    if backend == Backend::Postgres {
        // What autovacuum does after a bulk load on a normally configured server.
        let store = s.store().await;
        use store::ConnectionTrait;
        store.db().execute_unprepared("ANALYZE").await.unwrap();
    }
    admin(&s, "ops@example.com", "platform-admin", None);
    let ui = Ui::new(&s.base);
    assert_eq!(
        ui.sign_in("ops@example.com", common::ui::PASSWORD)
            .await
            .status,
        303
    );
    let i = &own[0];
    eprintln!("--- {backend:?}, {events} events, page = 50 rows");
    let first = ui.get(&format!("/t/{tid}/log")).await.body;
    let marker = "before=";
    let cursor = first
        .find(marker)
        .map(|p| {
            first[p + marker.len()..]
                .split(['"', '&'])
                .next()
                .unwrap()
                .to_string()
        })
        .unwrap();
    let mut worst = Duration::ZERO;
    for (label, path) in [
        ("newest page, whole tenant", format!("/t/{tid}/log")),
        (
            "next page (keyset cursor)",
            format!("/t/{tid}/log?before={cursor}"),
        ),
        ("one integration", format!("/t/{tid}/log?integration={i}")),
        (
            "by userName",
            format!("/t/{tid}/log?user=user4242%40example.com"),
        ),
        (
            "by user id",
            format!("/t/{tid}/log?user=00000000-0000-4000-8000-000000004242"),
        ),
        ("failures only", format!("/t/{tid}/log?status=error")),
        (
            "operation update_user",
            format!("/t/{tid}/log?operation=update_user"),
        ),
        ("last hour", format!("/t/{tid}/log?range=1h")),
        (
            "integration + failures + 7 days",
            format!("/t/{tid}/log?integration={i}&status=error&range=7d"),
        ),
        (
            "rare: userName + outbound + failures",
            format!("/t/{tid}/log?user=user4242%40example.com&direction=outbound&status=error"),
        ),
        (
            "trace of one correlation id",
            format!("/t/{tid}/trace/corr-4242"),
        ),
        (
            "integration overview (24 h chart)",
            format!("/t/{tid}/integrations/{i}"),
        ),
        (
            "integration overview (7 day chart)",
            format!("/t/{tid}/integrations/{i}?range=7d"),
        ),
    ] {
        worst = worst.max(measure(&ui, label, &path).await);
    }
    eprintln!(
        "worst p50: {:.1} ms (target < 200 ms)",
        worst.as_secs_f64() * 1e3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: seeds 1M events; run with --run-ignored only"]
async fn log_pages_on_a_million_events_sqlite() {
    bench(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: seeds 1M events; run with --run-ignored only"]
async fn log_pages_on_a_million_events_postgres() {
    bench(Backend::Postgres).await;
}
