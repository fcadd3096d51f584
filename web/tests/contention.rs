//! SCIM writes at full speed while the worker drains a dry-run outbox, on SQLite and
//! PostgreSQL: no request may fail with a 5xx (Entra counts each toward quarantining the app)
//! and no change may be lost. Correctness only; `scripts/bench-scim` reports the speed.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::{Endpoint, ServeOptions, TestServer};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CLIENTS: usize = 32;
const USERS_PER_CLIENT: usize = 60;

/// What the load saw: requests and responses ≥ 500 (with a sample body).
#[derive(Default)]
struct Tally {
    requests: AtomicUsize,
    server_errors: AtomicUsize,
    sample: std::sync::Mutex<Option<String>>,
}

impl Tally {
    fn saw(&self, status: u16, body: &serde_json::Value) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
            let mut s = self.sample.lock().unwrap();
            s.get_or_insert_with(|| format!("{status} {body}"));
        }
    }
}

/// One Entra-like client: creates its users and PATCHes each right after (so the create's job
/// is often being worked on while the PATCH queues the next one).
async fn client(s: Arc<TestServer>, ep: Endpoint, c: usize, tally: Arc<Tally>) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..USERS_PER_CLIENT {
        let name = format!("u{c}-{i}@contoso.com");
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "externalId": format!("ext-{c}-{i}"), "userName": name, "active": true,
            "emails": [{"primary": true, "type": "work", "value": name}],
            "name": {"givenName": "Given", "familyName": "Family"}
        });
        let r = s.call(&ep, "POST", "/Users", Some(body)).await;
        tally.saw(r.status, &r.body);
        if r.status != 201 {
            continue;
        }
        let id = r.body["id"].as_str().unwrap().to_string();
        let patch = json!({"schemas": [PATCH], "Operations": [
            {"op": "Replace", "path": "name.givenName", "value": format!("Patched-{c}-{i}")}
        ]});
        let r = s
            .call(&ep, "PATCH", &format!("/Users/{id}"), Some(patch))
            .await;
        tally.saw(r.status, &r.body);
        ids.push(id);
    }
    ids
}

async fn no_5xx_and_nothing_lost(s: TestServer) {
    let s = Arc::new(s);
    let ep = s.endpoint_with(
        "Load",
        &[
            "--setting",
            "base_url=https://acme.api-us1.com/api/3",
            "--secret",
            "api_key=sk-test-123",
            "--default-role",
            "User",
            "--mode",
            "dry-run",
        ],
    );
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client(Arc::clone(&s), ep.clone(), c, Arc::clone(&tally))))
        .collect();
    let mut ids = Vec::new();
    for c in clients {
        ids.extend(c.await.unwrap());
    }
    eprintln!(
        "{} requests in {:?}",
        tally.requests.load(Ordering::Relaxed),
        started.elapsed()
    );
    assert_eq!(
        tally.server_errors.load(Ordering::Relaxed),
        0,
        "responses ≥ 500, e.g. {:?}\nserver log:\n{}",
        tally.sample.lock().unwrap(),
        tail(&s.server_log())
    );
    assert_eq!(
        ids.len(),
        CLIENTS * USERS_PER_CLIENT,
        "every create answered 201"
    );

    // Every PATCH is visible in SCIM.
    for (n, id) in ids.iter().enumerate().step_by(7) {
        let r = s.call(&ep, "GET", &format!("/Users/{id}"), None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let given = r.body["name"]["givenName"].as_str().unwrap();
        assert!(given.starts_with("Patched-"), "user {n}: {given}");
    }
    let r = s
        .call(&ep, "GET", "/Users?count=1&startIndex=1", None)
        .await;
    assert_eq!(r.body["totalResults"], ids.len(), "{:?}", r.body);

    // The outbox drains: every job done, every user's final state decided, with its event.
    let st = s.store().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let open = st.open_jobs(&ep.id).await.unwrap();
        if open.is_empty() {
            break;
        }
        assert!(
            open.iter().all(|j| j.state != store::JobState::Failed),
            "failed jobs: {:?}",
            open.iter()
                .filter(|j| j.state == store::JobState::Failed)
                .take(3)
                .collect::<Vec<_>>()
        );
        assert!(
            Instant::now() < deadline,
            "{} jobs still open, e.g. {:?}\nserver log:\n{}",
            open.len(),
            open.first(),
            tail(&s.server_log())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let links = st.list_links(&ep.id).await.unwrap();
    assert_eq!(links.len(), ids.len(), "one link per user");
    // Events come newest first: the first seen for a user is the worker's last decision, and
    // in dry run it sends the whole profile (nothing is created), so it must carry the PATCH.
    let mut newest: HashMap<String, String> = HashMap::new();
    let mut before_id = None;
    loop {
        let page = st
            .list_events(&store::EventQuery {
                integration_id: Some(ep.id.clone()),
                direction: Some(store::Direction::Outbound),
                outcome: Some("dry_run".into()),
                before_id,
                limit: store::MAX_EVENT_PAGE,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before_id = Some(last.id);
        for e in &page {
            if let Some(id) = &e.subject_id {
                newest
                    .entry(id.clone())
                    .or_insert_with(|| e.detail.clone().unwrap_or_default());
            }
        }
    }
    for (id, detail) in &newest {
        assert!(
            detail.contains("\"first_name\":\"Patched-"),
            "{id}: the PATCH was not pushed: {detail}"
        );
    }
    let decided: HashSet<String> = newest.keys().cloned().collect();
    let missing: Vec<_> = ids.iter().filter(|id| !decided.contains(*id)).collect();
    assert!(missing.is_empty(), "no dry_run event for {missing:?}");
    let log = s.server_log();
    for bad in [
        "database is locked",
        "could not record a job's outcome",
        "could not claim jobs",
    ] {
        assert!(!log.contains(bad), "the log says {bad:?}:\n{}", tail(&log));
    }
}

/// The last lines of a server log.
fn tail(log: &str) -> String {
    let lines: Vec<_> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A graceful stop after load: the worker stops claiming and finishes before the database
/// connections go away, so the log has no claim or outcome errors.
async fn clean_shutdown_after_load(s: TestServer) {
    let ep = s.endpoint_with(
        "Stop",
        &[
            "--setting",
            "base_url=https://acme.api-us1.com/api/3",
            "--secret",
            "api_key=sk-test-123",
            "--default-role",
            "User",
            "--mode",
            "dry-run",
        ],
    );
    // Keep the worker busy at the stop: many jobs queued, some in flight.
    let s = Arc::new(s);
    let clients: Vec<_> =
        (0..8)
            .map(|c| {
                let (s, ep) = (Arc::clone(&s), ep.clone());
                tokio::spawn(async move {
                    for i in 0..40 {
                        let name = format!("stop{c}-{i}@contoso.com");
                        let r = s
                        .call(
                            &ep,
                            "POST",
                            "/Users",
                            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                "userName": name, "active": true})),
                        )
                        .await;
                        assert_eq!(r.status, 201, "{:?}", r.body);
                    }
                })
            })
            .collect();
    for c in clients {
        c.await.unwrap();
    }
    let mut s = Arc::into_inner(s).unwrap();
    let status = s
        .terminate_and_wait(Duration::from_secs(25))
        .expect("the server stops on SIGTERM");
    assert!(status.success(), "{status:?}");
    // Nothing is left claimed: every job is done or back to pending.
    let st = s.store().await;
    let open = st.open_jobs(&ep.id).await.unwrap();
    assert!(
        open.iter()
            .all(|j| j.state == store::JobState::Pending && j.locked_by.is_none()),
        "{:?}",
        open.iter().find(|j| j.state != store::JobState::Pending)
    );
    let log = s.server_log();
    for bad in [
        "could not claim jobs",
        "could not record",
        "context being shut down",
        "ERROR",
    ] {
        assert!(!log.contains(bad), "the log says {bad:?}:\n{}", tail(&log));
    }
}

/// The server's log is kept. A short SQLite busy timeout turns any collision between two of
/// the server's own connections into an error at once: with every write going through the one
/// writer there must be none (a debug build is too slow to hold the lock for the default 5 s).
fn logged() -> ServeOptions {
    ServeOptions {
        env: vec![
            ("RUST_LOG".into(), "warn".into()),
            ("SCIMBRIDGE_SQLITE_BUSY_TIMEOUT_MS".into(), "20".into()),
        ],
        capture_stderr: true,
    }
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let s = super::TestServer::start_with(super::common::Backend::Sqlite, super::logged())
                        .await
                        .unwrap();
                    super::$name(s).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    match super::TestServer::start_with(super::common::Backend::Postgres, super::logged()).await {
                        Some(s) => super::$name(s).await,
                        None => eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set"),
                    }
                }
            )*
        }
    };
}

on_both!(no_5xx_and_nothing_lost, clean_shutdown_after_load);
