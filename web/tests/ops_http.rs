//! Operations over real HTTP on SQLite and PostgreSQL: `/readyz`, `/metrics` (inbound,
//! outbound, queue gauges), event retention run by the server, structured JSON logs, and a
//! realistic flow after which no secret appears in the log, the database or any UI page.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::ui::{Ui, csrf_of};
use common::{Backend, Endpoint, ServeOptions, TestServer};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use store::{ConnectionTrait, NewEvent};
use testkit::fake_activecampaign::{AccountConfig, FakeActiveCampaign, FakeConfig, FakeHandle};

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Generates a SQLite and a PostgreSQL test from an async fn taking the backend.
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if std::env::var("SCIMBRIDGE_TEST_PG").is_ok_and(|v| !v.is_empty()) {
                        super::$name(super::Backend::Postgres).await;
                    } else {
                        eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set");
                    }
                }
            )*
        }
    };
}

async fn start(backend: Backend, opts: ServeOptions) -> TestServer {
    TestServer::start_with(backend, opts)
        .await
        .expect("backend configured")
}

async fn fake(token: &str) -> FakeHandle {
    FakeActiveCampaign::start(
        FakeConfig::default().account(AccountConfig::new("acme", token).groups([
            "Manager",
            "User",
            "No access",
        ])),
    )
    .await
}

/// A tenant and a live integration pointing at the fake, created with the CLI.
fn integration(s: &TestServer, f: &FakeHandle, api_key: &str) -> Endpoint {
    let base = format!("base_url={}", f.base_url());
    let key = format!("api_key={api_key}");
    s.endpoint_with(
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
    )
}

fn user(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "externalId": uuid::Uuid::new_v4().to_string(), "userName": name, "active": true,
        "emails": [{"primary": true, "type": "work", "value": name}],
        "name": {"givenName": "Given", "familyName": "Family"}
    })
}

async fn get_text(s: &TestServer, path: &str) -> (u16, String, String) {
    let r = s
        .http
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

/// The value of the sample `name{labels…}` in a Prometheus text page (labels in any order).
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    page.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (metric, rest) = match series.split_once('{') {
            Some((m, r)) => (m, r.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            return None;
        }
        let have: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split(',').collect()
        };
        let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        (have.len() == wanted.len() && wanted.iter().all(|w| have.contains(&w.as_str())))
            .then(|| value.parse().ok())?
    })
}

async fn metrics(s: &TestServer) -> String {
    let (status, ct, body) = get_text(s, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("text/plain"), "{ct}");
    body
}

/// Polls `/metrics` until `cond` holds (or fails after `secs`, showing the page).
async fn metrics_until(s: &TestServer, secs: u64, what: &str, cond: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let page = metrics(s).await;
        if cond(&page) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; /metrics:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn readyz_and_inbound_metrics(backend: Backend) {
    // No worker here, so the queued jobs stay pending and the gauges are exact.
    let s = start(
        backend,
        ServeOptions::env(&[("SCIMBRIDGE_RUN_WORKER", "false")]),
    )
    .await;
    assert_eq!(get_text(&s, "/healthz").await.0, 200);
    let (status, _, body) = get_text(&s, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));

    let f = fake("ac-key-metrics").await;
    let ep = integration(&s, &f, "ac-key-metrics");
    for name in ["alice@contoso.com", "bob@contoso.com"] {
        let r = s.call(&ep, "POST", "/Users", Some(user(name))).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    assert_eq!(s.call(&ep, "GET", "/Users", None).await.status, 200);
    assert_eq!(s.call(&ep, "GET", "/Users/nope", None).await.status, 404);
    let bad = s
        .call_with(&ep.url, Some("scb_not_a_token"), "GET", "/Users", None)
        .await;
    assert_eq!(bad.status, 401);

    let page = metrics(&s).await;
    let id = ep.id.as_str();
    let req = "scimbridge_scim_requests_total";
    let at = |m: &str, st: &str| {
        sample(
            &page,
            req,
            &[("integration", id), ("method", m), ("status", st)],
        )
    };
    assert_eq!(at("POST", "201"), Some(2.0), "{page}");
    assert_eq!(at("GET", "200"), Some(1.0), "{page}");
    assert_eq!(at("GET", "404"), Some(1.0), "{page}");
    assert_eq!(
        sample(
            &page,
            req,
            &[
                ("integration", "unauthenticated"),
                ("method", "GET"),
                ("status", "401")
            ]
        ),
        Some(1.0),
        "a bad token is never labelled with the integration in its URL\n{page}"
    );
    assert_eq!(
        sample(
            &page,
            "scimbridge_scim_request_duration_seconds_count",
            &[("integration", id), ("method", "POST")]
        ),
        Some(2.0),
        "{page}"
    );
    assert!(page.contains("scimbridge_scim_request_duration_seconds_bucket{"));
    assert_eq!(
        sample(&page, "scimbridge_jobs_queue_depth", &[]),
        Some(2.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, "scimbridge_jobs", &[("state", "pending")]),
        Some(2.0),
        "{page}"
    );
    assert!(sample(&page, "scimbridge_jobs_oldest_pending_age_seconds", &[]).unwrap() >= 0.0);
    assert_eq!(sample(&page, "scimbridge_database_up", &[]), Some(1.0));
    assert!(
        !page.contains("scimbridge_worker_heartbeat_age_seconds "),
        "no worker in this process\n{page}"
    );
    // Labels carry no user names and no secrets.
    for secret in ["alice@contoso.com", "contoso", &ep.token, "ac-key-metrics"] {
        assert!(!page.contains(secret), "{secret} in /metrics");
    }
}

async fn outbound_metrics_and_worker_readiness(backend: Backend) {
    let s = start(backend, ServeOptions::default()).await;
    let f = fake("ac-key-outbound").await;
    let ep = integration(&s, &f, "ac-key-outbound");
    // The first target call fails with a 503: one retry, then the user arrives.
    f.fail_next_with_503(1);
    let r = s
        .call(&ep, "POST", "/Users", Some(user("carol@contoso.com")))
        .await;
    assert_eq!(r.status, 201);
    metrics_until(&s, 30, "create_user ok and an empty queue", |p| {
        sample(
            p,
            "scimbridge_outbound_calls_total",
            &[
                ("connector", "activecampaign"),
                ("operation", "create_user"),
                ("outcome", "ok"),
            ],
        ) == Some(1.0)
            && sample(p, "scimbridge_jobs_queue_depth", &[]) == Some(0.0)
    })
    .await;
    assert!(
        f.account_state("acme")
            .unwrap()
            .users
            .iter()
            .any(|u| u.email == "carol@contoso.com")
    );
    let page = metrics(&s).await;
    let retried: f64 = page
        .lines()
        .filter(|l| {
            l.starts_with("scimbridge_outbound_calls_total{") && l.contains("outcome=\"retry\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert!(retried >= 1.0, "the 503 is counted as a retry\n{page}");
    assert_eq!(
        sample(
            &page,
            "scimbridge_job_retries_total",
            &[("integration", &ep.id)]
        ),
        Some(1.0),
        "{page}"
    );
    assert!(
        sample(
            &page,
            "scimbridge_jobs_finished_total",
            &[("result", "done")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        page.contains("scimbridge_outbound_call_duration_seconds_bucket{"),
        "{page}"
    );
    let timed: f64 = page
        .lines()
        .filter(|l| {
            l.starts_with("scimbridge_outbound_call_duration_seconds_count{")
                && l.contains("connector=\"activecampaign\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert!(
        timed >= 3.0,
        "the failed and the good calls are timed\n{page}"
    );
    let beat = sample(&page, "scimbridge_worker_heartbeat_age_seconds", &[]).unwrap();
    assert!(beat < 5.0, "worker heartbeat {beat} s old");
    assert!(sample(&page, "scimbridge_events_written_total", &[]).unwrap() >= 1.0);
    let (status, _, body) = get_text(&s, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
}

/// PostgreSQL only: an open SQLite file cannot be taken away from a running process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_readyz_is_503_when_the_database_is_gone() {
    let Some(s) = TestServer::start(Backend::Postgres).await else {
        eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set");
        return;
    };
    let (status, _, _) = get_text(&s, "/readyz").await;
    assert_eq!(status, 200);
    let (server, db) = s.db_url.rsplit_once('/').unwrap();
    let out = std::process::Command::new("psql")
        .args([
            &format!("{server}/postgres"),
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("DROP DATABASE {db} WITH (FORCE)"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, _, body) = get_text(&s, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("not ready: database"), "{body}");
    assert!(
        !body.contains(&s.db_url) && !body.contains("postgres"),
        "{body}"
    );
    // The liveness probe does not depend on the database.
    assert_eq!(get_text(&s, "/healthz").await.0, 200);
    let page = metrics(&s).await;
    assert_eq!(
        sample(&page, "scimbridge_database_up", &[]),
        Some(0.0),
        "{page}"
    );
}

fn old_event(tenant: &str, integration: &str, at: i64, tag: &str) -> NewEvent {
    store::testing::inbound_event(at, tenant, integration, tag)
}

async fn retention_prunes_old_events(backend: Backend) {
    let s = start(
        backend,
        ServeOptions::env(&[
            ("SCIMBRIDGE_EVENT_RETENTION_DAYS", "1"),
            ("SCIMBRIDGE_PRUNE_INTERVAL_SECS", "1"),
            ("SCIMBRIDGE_RUN_WORKER", "false"),
        ]),
    )
    .await;
    let f = fake("ac-key-retention").await;
    let ep = integration(&s, &f, "ac-key-retention");
    let store = s.store().await;
    let now = chrono::Utc::now().timestamp_millis();
    let day = 86_400_000;
    // More than one prune batch of old events, and some recent ones.
    let mut events = Vec::new();
    for n in 0..2_500 {
        events.push(old_event(&ep.tenant, &ep.id, now - 3 * day - n, "old"));
    }
    for n in 0..20 {
        events.push(old_event(&ep.tenant, &ep.id, now - day / 2 - n, "recent"));
    }
    store.insert_events(events).await.unwrap();
    let count = |tag: &'static str| {
        let store = store.clone();
        async move {
            store
                .list_events(&store::EventQuery {
                    correlation_id: Some(tag.into()),
                    limit: 1000,
                    ..Default::default()
                })
                .await
                .unwrap()
                .len()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while count("old").await > 0 {
        assert!(
            Instant::now() < deadline,
            "old events were not pruned within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(count("recent").await, 20, "recent events stay");
    // The running server's own events stay too.
    assert_eq!(s.call(&ep, "GET", "/Users", None).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(count("recent").await, 20);
    let page = metrics(&s).await;
    assert!(
        sample(&page, "scimbridge_events_pruned_total", &[]).unwrap() >= 2_500.0,
        "{page}"
    );
}

/// SIGTERM stops the server promptly and cleanly, and the events of requests it answered are
/// written before it exits (they are queued in memory and written in batches).
async fn sigterm_stops_promptly_and_flushes_events(backend: Backend) {
    let mut s = start(
        backend,
        ServeOptions {
            capture_stderr: true,
            ..ServeOptions::env(&[("SCIMBRIDGE_RUN_WORKER", "false"), ("RUST_LOG", "info")])
        },
    )
    .await;
    let f = fake("ac-key-sigterm").await;
    let ep = integration(&s, &f, "ac-key-sigterm");
    let created = s
        .call(&ep, "POST", "/Users", Some(user("stop@example.com")))
        .await;
    assert_eq!(created.status, 201);
    let correlation = created.header("x-correlation-id").unwrap().to_string();
    let status = s
        .terminate_and_wait(Duration::from_secs(20))
        .expect("the server was still running 20 s after SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let events = s
        .store()
        .await
        .list_events(&store::EventQuery {
            correlation_id: Some(correlation),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        events.iter().any(|e| e.operation == "POST /Users"),
        "the answered request's event was lost: {events:?}\nserver log:\n{}",
        s.server_log()
    );
}

// ---------------------------------------------------------------------------------------
// No secret anywhere.

fn token_in(html: &str) -> String {
    let marker = "id=\"token-value\" readonly value=\"";
    let start = html.find(marker).expect("page shows the token") + marker.len();
    html[start..][..html[start..].find('"').unwrap()].to_string()
}

/// Every text column of every row of the tables that could hold something secret.
async fn database_text(store: &store::Store) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for table in [
        "provisioning_events",
        "audit_log",
        "scim_users",
        "scim_groups",
        "jobs",
        "target_links",
        "integrations",
        "tenants",
        "staff_users",
        "scim_tokens",
    ] {
        let rows = store
            .db()
            .query_all_raw(sea_orm::Statement::from_string(
                store.backend(),
                format!("SELECT * FROM {table}"),
            ))
            .await
            .unwrap();
        assert!(
            !rows.is_empty() || !["provisioning_events", "audit_log"].contains(&table),
            "{table} is empty: the flow did not run"
        );
        for (n, row) in rows.iter().enumerate() {
            for col in row.column_names() {
                if let Ok(Some(text)) = row.try_get::<Option<String>>("", &col) {
                    out.push((format!("{table} row {n} column {col}"), text));
                }
            }
        }
    }
    out
}

async fn no_secret_is_logged_stored_or_shown(backend: Backend) {
    const PASSWORD: &str = "Staff-pass-LEAK-8c1f0e";
    const API_KEY: &str = "ac-key-LEAK-4b7d2a9e";
    const USER_PASSWORD: &str = "Scim-user-pass-LEAK-51a3";
    let s = start(
        backend,
        ServeOptions {
            env: vec![
                ("RUST_LOG".into(), "debug".into()),
                ("SCIMBRIDGE_LOG_FORMAT".into(), "json".into()),
            ],
            capture_stderr: true,
        },
    )
    .await;
    let f = fake(API_KEY).await;
    let mut secrets: Vec<(&str, String)> = vec![
        ("staff password", PASSWORD.into()),
        ("API key", API_KEY.into()),
        ("SCIM user password", USER_PASSWORD.into()),
    ];

    // First-run setup through the UI.
    let ui = Ui::new(&s.base);
    let url = s.setup_url().await;
    let setup_path = url[url.find("/setup").unwrap()..].to_string();
    let setup_token = setup_path.split("token=").nth(1).unwrap().to_string();
    secrets.push(("setup token", setup_token.clone()));
    let done = ui
        .post(
            &setup_path,
            "/setup",
            &[
                ("token", &setup_token),
                ("email", "root@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    // A failed sign-in with the password as the email, and a real sign-in.
    let other = Ui::new(&s.base);
    let failed = other
        .post(
            "/login",
            "/login",
            &[("email", PASSWORD), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(failed.status, 401);
    let signed_in = other
        .post(
            "/login",
            "/login",
            &[("email", "root@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(signed_in.status, 303);

    // A tenant and an integration through the wizard's POSTs, with the API key.
    let created = ui.post("/tenants", "/tenants", &[("name", "Acme")]).await;
    assert_eq!(created.status, 303, "{}", created.body);
    let tid = s.store().await.list_tenants().await.unwrap()[0].id.clone();
    let new = format!("/t/{tid}/integrations/new/activecampaign");
    let tested = ui
        .post(
            &new,
            &format!("/t/{tid}/connectors/activecampaign/test"),
            &[
                ("name", "Acme AC"),
                ("base_url", f.base_url()),
                ("api_key", API_KEY),
            ],
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert!(tested.body.contains("Connected"), "{}", tested.body);
    let wrong = ui
        .post(
            &new,
            &format!("/t/{tid}/connectors/activecampaign/test"),
            &[
                ("name", "Acme AC"),
                ("base_url", f.base_url()),
                ("api_key", "ac-key-LEAK-wrong-77"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 200);
    secrets.push(("wrong API key", "ac-key-LEAK-wrong-77".into()));
    let draft = ui
        .post(
            &new,
            &new,
            &[
                ("name", "Acme AC"),
                ("base_url", f.base_url()),
                ("api_key", API_KEY),
            ],
        )
        .await;
    assert_eq!(draft.status, 303, "{}", draft.body);
    let roles_path = draft.location.unwrap();
    let base = roles_path.trim_end_matches("/roles").to_string();
    let iid = base.rsplit('/').next().unwrap().to_string();
    let saved = ui
        .post(
            &roles_path,
            &roles_path,
            &[
                ("default_role", "User"),
                ("rule_kind", "group"),
                ("rule_value", "Sales Managers"),
                ("rule_role", "Manager"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let policy = format!("{base}/policy");
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
    let activate = format!("{base}/activate");
    // The test server's Tenant URL is http on loopback: the review says Entra refuses it.
    let review = ui.get(&activate).await;
    assert!(
        review.body.contains("id=\"tenant-url-warning\"")
            && review.body.contains("is http and a local address"),
        "{}",
        review.body
    );
    assert!(
        !review.body.contains("activate-confirm-note"),
        "rules exist"
    );
    let activated = ui.post(&activate, &activate, &[]).await;
    assert_eq!(activated.status, 200, "{}", activated.body);
    let token = token_in(&activated.body);
    secrets.push(("bearer token (activation)", token.clone()));
    let selftest = ui
        .post_csrf(
            &csrf_of(&activated.body),
            &format!("{base}/selftest"),
            &[("token", &token)],
        )
        .await;
    assert_eq!(selftest.status, 200, "{}", selftest.body);
    // A second token from the Tokens tab.
    let tokens = format!("{base}/tokens");
    let issued = ui.post(&tokens, &tokens, &[("expires_days", "30")]).await;
    assert_eq!(issued.status, 200);
    let token2 = token_in(&issued.body);
    secrets.push(("bearer token (tokens tab)", token2.clone()));
    // And one from the CLI.
    let cli_token = s.cli(&["token", "issue", "--integration", &iid])["token"]
        .as_str()
        .unwrap()
        .to_string();
    secrets.push(("bearer token (CLI)", cli_token.clone()));

    // SCIM with every token, including a password attribute in a POST, a PUT and a PATCH.
    let ep = Endpoint {
        tenant: tid.clone(),
        id: iid.clone(),
        url: format!("{}/scim/v2/{iid}", s.base),
        token: token.clone(),
        prefix: String::new(),
    };
    let mut body = user("dana@contoso.com");
    body["password"] = json!(USER_PASSWORD);
    let r = s.call(&ep, "POST", "/Users", Some(body.clone())).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let uid = r.body["id"].as_str().unwrap().to_string();
    assert!(r.body.get("password").is_none());
    let ep2 = Endpoint {
        token: token2.clone(),
        ..ep.clone()
    };
    body["id"] = json!(uid);
    body["name"]["familyName"] = json!("Renamed");
    let r = s
        .call(&ep2, "PUT", &format!("/Users/{uid}"), Some(body))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let ep3 = Endpoint {
        token: cli_token.clone(),
        ..ep.clone()
    };
    let r = s
        .call(
            &ep3,
            "PATCH",
            &format!("/Users/{uid}"),
            Some(json!({"schemas": [PATCH], "Operations": [
                {"op": "replace", "path": "password", "value": USER_PASSWORD},
                {"op": "replace", "value": {"password": USER_PASSWORD, "displayName": "Dana"}}
            ]})),
        )
        .await;
    assert!(r.status == 200 || r.status == 204, "{:?}", r.body);
    assert_eq!(
        s.call(
            &ep3,
            "GET",
            "/Users?filter=userName%20eq%20%22dana@contoso.com%22",
            None
        )
        .await
        .status,
        200
    );
    // A wrong token (one character off) and a token of nothing.
    let mut off = token.clone();
    off.push('x');
    secrets.push(("mistyped bearer token", off.clone()));
    assert_eq!(
        s.call_with(&ep.url, Some(&off), "GET", "/Users", None)
            .await
            .status,
        401
    );

    // The worker reaches the fake with the API key.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f
        .account_state("acme")
        .unwrap()
        .users
        .iter()
        .any(|u| u.email == "dana@contoso.com" && u.last_name == "Renamed")
    {
        assert!(
            Instant::now() < deadline,
            "the worker did not reach the fake"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the event writer flush and the log settle.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Where secrets must never be.
    let mut places: Vec<(String, String)> = Vec::new();
    let log = s.server_log();
    assert!(
        log.contains("DEBUG") || log.contains("\"level\":\"DEBUG\""),
        "the log runs at debug level"
    );
    for (n, line) in log
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("log line {n} is not JSON ({e}): {line}"));
        places.push((format!("server log line {}", n + 1), line.to_string()));
    }
    let store = s.store().await;
    places.extend(database_text(&store).await);
    // The support views show request bodies and target errors: every trace, every user.
    let events = store
        .list_events(&store::EventQuery {
            tenant_id: Some(tid.clone()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut support_pages: Vec<String> = events
        .iter()
        .map(|e| format!("/t/{tid}/trace/{}", e.correlation_id))
        .collect();
    support_pages.sort();
    support_pages.dedup();
    for e in events
        .iter()
        .filter(|e| e.subject_kind == Some(store::SubjectKind::User))
    {
        if let Some(id) = &e.subject_id
            && store::scim::get_user(store.db(), &e.integration_id, id)
                .await
                .unwrap()
                .is_some()
        {
            support_pages.push(format!(
                "/t/{tid}/integrations/{}/users/{id}",
                e.integration_id
            ));
        }
    }
    support_pages.dedup();
    assert!(!support_pages.is_empty());
    for page in support_pages.into_iter().chain([
        format!("/t/{tid}/log"),
        format!("/t/{tid}/log.csv"),
        format!("/t/{tid}/jobs"),
        format!("{base}/users"),
        format!("/t/{tid}/integrations"),
        base.clone(),
        format!("{base}/connection"),
        format!("{base}/roles"),
        format!("{base}/policy"),
        format!("{base}/tokens"),
        format!("/audit?tenant={tid}"),
        "/audit".to_string(),
        "/tenants".to_string(),
    ]) {
        let p = ui.get(&page).await;
        assert_eq!(p.status, 200, "{page}");
        places.push((format!("UI page {page}"), p.body));
    }
    places.push(("/metrics".into(), metrics(&s).await));

    let mut leaks = Vec::new();
    for (what, secret) in &secrets {
        for (place, text) in &places {
            if text.contains(secret.as_str()) {
                leaks.push(format!("{what} leaked into {place}: {text}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "SECRETS LEAKED ({}):\n{}",
        leaks.len(),
        leaks.join("\n\n")
    );
    // The flow really ran: the log has the server's own lines.
    assert!(log.contains("scimbridge listening"), "{log}");
}

// ---------------------------------------------------------------------------------------
// Backup and restore.

/// The restore drill: a server with users, groups, tokens, an integration with a secret and
/// events is backed up while it serves; a new server on a copy of the backup (same master key)
/// authenticates the same SCIM token, reads the same users and groups, decrypts the secret and
/// keeps the events. On PostgreSQL the command points to `pg_dump` and fails.
async fn backup_while_serving_and_restore_drill(backend: Backend) {
    let mut s = start(backend, ServeOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scimbridge-backup.db");
    let file_arg = file.to_str().unwrap();
    if backend == Backend::Postgres {
        let err = s.cli_fails(&["backup", "--to", file_arg]);
        assert!(
            err.contains("pg_dump -Fc") && err.contains("pg_restore"),
            "{err}"
        );
        assert!(!file.exists());
        return;
    }
    let f = fake("ac-key-backup").await;
    let ep = integration(&s, &f, "ac-key-backup");
    let mut ids = Vec::new();
    let mut correlation = String::new();
    for n in 0..3 {
        let r = s
            .call(
                &ep,
                "POST",
                "/Users",
                Some(user(&format!("u{n}@example.com"))),
            )
            .await;
        assert_eq!(r.status, 201);
        correlation = r.header("x-correlation-id").unwrap().to_string();
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let g = s
        .call(
            &ep,
            "POST",
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Sales",
                "members": [{"value": ids[0]}, {"value": ids[1]}]
            })),
        )
        .await;
    assert_eq!(g.status, 201);
    let patched = s
        .call(
            &ep,
            "PATCH",
            &format!("/Users/{}", ids[2]),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]})),
        )
        .await;
    assert_eq!(patched.status, 200);
    let second_token = s.cli(&["token", "issue", "--integration", &ep.id])["token"]
        .as_str()
        .unwrap()
        .to_string();
    // Events are written in batches: wait for the last request's.
    let live = s.store().await;
    let events_of = |store: store::Store, c: String| async move {
        store
            .list_events(&store::EventQuery {
                correlation_id: Some(c),
                ..Default::default()
            })
            .await
            .unwrap()
            .len()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while events_of(live.clone(), correlation.clone()).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the create's event was not written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let users_before = s.call(&ep, "GET", "/Users", None).await;
    let groups_before = s.call(&ep, "GET", "/Groups", None).await;
    assert_eq!(users_before.body["totalResults"], 3);

    // Backed up while it serves (and while SCIM reads go on).
    let reads = {
        let (http, url, token) = (s.http.clone(), ep.url.clone(), ep.token.clone());
        tokio::spawn(async move {
            for _ in 0..50 {
                let r = http
                    .get(format!("{url}/Users"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                assert_eq!(r.unwrap().status().as_u16(), 200);
            }
        })
    };
    let out = s.cli(&["backup", "--to", file_arg]);
    reads.await.unwrap();
    assert_eq!(out["backup"], file_arg);
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(out["bytes"].as_u64(), Some(meta.len()));
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    let err = s.cli_fails(&["backup", "--to", file_arg]);
    assert!(err.contains("--force"), "{err}");
    let again = s.cli(&["backup", "--to", file_arg, "--force"]);
    assert_eq!(again["backup"], file_arg);

    // Stop, and restore onto a new server.
    assert!(s.terminate_and_wait(Duration::from_secs(20)).is_some());
    let r = s.restored_from(&file).await;
    let url = ep.url.replace(&s.base, &r.base);
    let users_after = r
        .call_with(&url, Some(&ep.token), "GET", "/Users", None)
        .await;
    assert_eq!(users_after.status, 200, "the SCIM token authenticates");
    // Identical but for the public URL in `meta.location` (the new server has another port).
    let moved = |v: &Value| v.to_string().replace(&s.base, &r.base);
    assert_eq!(users_after.body.to_string(), moved(&users_before.body));
    let groups_after = r
        .call_with(&url, Some(&ep.token), "GET", "/Groups", None)
        .await;
    assert_eq!(groups_after.body.to_string(), moved(&groups_before.body));
    assert_eq!(
        groups_after.body["Resources"][0]["members"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let second = r
        .call_with(&url, Some(&second_token), "GET", "/Users", None)
        .await;
    assert_eq!(second.status, 200, "the second token too");
    let wrong = r
        .call_with(&url, Some("scb_wrong"), "GET", "/Users", None)
        .await;
    assert_eq!(wrong.status, 401);
    let restored = r.store().await;
    let i = restored
        .get_integration_unscoped(&ep.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        restored.integration_secrets(&i).unwrap()["api_key"],
        "ac-key-backup"
    );
    assert!(
        events_of(restored.clone(), correlation).await > 0,
        "events kept"
    );
}

per_backend!(
    backup_while_serving_and_restore_drill,
    readyz_and_inbound_metrics,
    outbound_metrics_and_worker_readiness,
    retention_prunes_old_events,
    sigterm_stops_promptly_and_flushes_events,
    no_secret_is_logged_stored_or_shown,
);
