//! The automatic pause (#31) over real HTTP on SQLite and PostgreSQL: a target that rejects
//! the rotated key gets exactly three rejected jobs, then scimbridge pauses the integration,
//! calls the target no more, sends one "auto-paused" message and says why on the Overview;
//! the new key and Resume bring every waiting user across at once. A storm of 503s never
//! pauses.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::target::{eventually, exists, post_user};
use common::ui::{PASSWORD, Ui, admin};
use common::{Backend, Endpoint, ServeOptions, TestServer};
use std::time::{Duration, Instant};
use testkit::fake_activecampaign::{AccountConfig, FakeActiveCampaign, FakeConfig, FakeHandle};
use testkit::webhook_receiver::{Received, WebhookReceiver};

const OLD_KEY: &str = "ac-key-rotated-away-1111";
const NEW_KEY: &str = "ac-key-current-2222";
const ADMIN: &str = "ops@example.com";
const USERS: usize = 10;

/// Automatic pauses on (the harness turns them off for the other tests), fast notifier.
fn serve_env() -> ServeOptions {
    ServeOptions {
        env: vec![
            ("SCIMBRIDGE_AUTO_PAUSE_AFTER".into(), "3".into()),
            ("SCIMBRIDGE_NOTIFY_POLL_MS".into(), "200".into()),
            ("SCIMBRIDGE_NOTIFY_BATCH_SECS".into(), "5".into()),
            ("SCIMBRIDGE_NOTIFY_IDP_QUIET_SECS".into(), "3600".into()),
        ],
        capture_stderr: false,
    }
}

async fn fake() -> FakeHandle {
    FakeActiveCampaign::start(
        FakeConfig::default().account(
            AccountConfig::new("acme", OLD_KEY)
                .token(NEW_KEY)
                .groups(["User"]),
        ),
    )
    .await
}

fn integration(s: &TestServer, f: &FakeHandle) -> Endpoint {
    let base = format!("base_url={}", f.base_url());
    let key = format!("api_key={OLD_KEY}");
    s.endpoint_of(
        "Acme",
        "activecampaign",
        &[
            "--setting",
            &base,
            "--secret",
            &key,
            "--default-role",
            "User",
        ],
    )
}

async fn signed_in(s: &TestServer) -> Ui {
    admin(s, ADMIN, "platform-admin", None);
    let ui = Ui::new(&s.base);
    assert_eq!(ui.sign_in(ADMIN, PASSWORD).await.status, 303);
    ui
}

async fn add_webhook(ui: &Ui, tenant: &str, url: &str) {
    let page = format!("/t/{tenant}/notifications");
    let r = ui
        .post(&page, &format!("{page}/webhook"), &[("url", url)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

fn auto_paused(hooks: &[Received]) -> Vec<serde_json::Value> {
    hooks
        .iter()
        .map(Received::json)
        .filter(|j| j["event"] == "auto_paused")
        .collect()
}

/// Requests that reached the fake (every one, admitted or refused).
fn requests(f: &FakeHandle) -> usize {
    f.request_log().len()
}

async fn status(st: &store::Store, id: &str) -> store::IntegrationStatus {
    st.get_integration_unscoped(id)
        .await
        .unwrap()
        .unwrap()
        .status
}

async fn a_rejected_key_pauses_once_and_resume_delivers_everything(backend: Backend) {
    let Some(s) = TestServer::start_with(backend, serve_env()).await else {
        eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set");
        return;
    };
    let f = fake().await;
    let hook = WebhookReceiver::start().await.unwrap();
    let ep = integration(&s, &f);
    let ui = signed_in(&s).await;
    add_webhook(&ui, &ep.tenant, &hook.url()).await;
    let st = s.store().await;

    // The customer rotates the key in ActiveCampaign: the one we hold is refused (403).
    assert!(f.recycle_token(OLD_KEY));
    f.clear_request_log();
    for i in 0..USERS {
        post_user(&s, &ep, &format!("user{i}@contoso.com"), None).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(&st, &ep.id).await != store::IntegrationStatus::Paused {
        assert!(
            Instant::now() < deadline,
            "no automatic pause: {:?}",
            f.request_log().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let paused = st.get_integration_unscoped(&ep.id).await.unwrap().unwrap();
    assert_eq!(paused.paused_by.as_deref(), Some(store::AUTO_PAUSED_BY));
    let reason = "ActiveCampaign rejected the API key (HTTP 403) on 3 jobs in a row";
    assert_eq!(paused.pause_reason.as_deref(), Some(reason));
    assert!(!paused.pause_reason.unwrap().contains(OLD_KEY));

    // Exactly three rejected jobs reached the target, and nothing after the pause (the
    // rejected jobs' retries and the seven others wait without calling it).
    let log = f.request_log();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log.iter().all(|r| r.status == 403), "{log:?}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(requests(&f), 3, "{:?}", f.request_log());
    // Nothing is burnt as a permanent failure while paused.
    assert!(st.list_failed_jobs(&ep.id).await.unwrap().is_empty());

    // Exactly one "auto-paused" message, linking to the Overview, saying why.
    let deadline = Instant::now() + Duration::from_secs(30);
    while auto_paused(&hook.accepted()).is_empty() {
        assert!(Instant::now() < deadline, "no auto_paused message");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let msgs = auto_paused(&hook.accepted());
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    // The rejection itself is told too, once, although no job failed for good.
    let rejected: Vec<serde_json::Value> = hook
        .accepted()
        .iter()
        .map(Received::json)
        .filter(|j| j["event"] == "credentials_rejected")
        .collect();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let overview = format!("/t/{}/integrations/{}", ep.tenant, ep.id);
    assert_eq!(msgs[0]["link"], format!("{}{overview}", s.base));
    assert!(
        msgs[0]["text"].as_str().unwrap().contains(reason),
        "{}",
        msgs[0]
    );
    assert!(!hook.accepted().iter().any(|h| h.text().contains(OLD_KEY)));

    // The Overview says who, when and why, and what to do; the list shows the state.
    let page = ui.get(&overview).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Paused by scimbridge <time")
            && page
                .body
                .contains(&format!("{reason}. Fix the API key on the"))
            && page.body.contains("(Test connection), then Resume."),
        "{}",
        page.body
    );
    let list = ui.get(&format!("/t/{}/integrations", ep.tenant)).await;
    assert!(list.body.contains("Paused by scimbridge"), "{}", list.body);
    // Audited as scimbridge's own action.
    let audit = st
        .list_audit(&store::AuditQuery {
            tenant_id: Some(ep.tenant.clone()),
            action: Some("integration.auto_pause".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let entry = audit
        .iter()
        .find(|a| a.action == "integration.auto_pause")
        .expect("an audit entry");
    assert_eq!(entry.actor_email, "scimbridge");
    assert!(entry.actor_id.is_none());

    // The admin enters the current key and resumes: every user lands at once (the waiting
    // jobs are due now, not after their 30 s wait), and the reason is gone.
    let mut secrets = std::collections::BTreeMap::new();
    secrets.insert("api_key".to_string(), NEW_KEY.to_string());
    st.update_integration_settings(
        &ep.tenant,
        &ep.id,
        store::IntegrationUpdate {
            secrets: Some(secrets),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let r = ui
        .post(
            &overview,
            &format!("{overview}/status"),
            &[("action", "resume")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let resumed = Instant::now();
    eventually(&f, 20, "all ten users", |a| {
        (0..USERS).all(|i| exists(a, &format!("user{i}@contoso.com")))
    })
    .await;
    assert!(
        resumed.elapsed() < Duration::from_secs(20),
        "the waiting jobs ran at once"
    );
    let back = st.get_integration_unscoped(&ep.id).await.unwrap().unwrap();
    assert_eq!(back.status, store::IntegrationStatus::Active);
    assert!(back.paused_by.is_none() && back.pause_reason.is_none());
    let page = ui.get(&overview).await;
    assert!(!page.body.contains("Paused by scimbridge"));
    assert!(st.list_failed_jobs(&ep.id).await.unwrap().is_empty());
    // Still one message: the rule cleared with the resume, nothing new was raised.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(auto_paused(&hook.accepted()).len(), 1);
}

/// The target is down (503 on every request): jobs retry with back-off and the integration
/// stays active; once the target is back, everything lands.
async fn a_transient_storm_does_not_pause(backend: Backend) {
    let Some(s) = TestServer::start_with(backend, serve_env()).await else {
        eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set");
        return;
    };
    let f = fake().await;
    let hook = WebhookReceiver::start().await.unwrap();
    let base = format!("base_url={}", f.base_url());
    let key = format!("api_key={NEW_KEY}");
    let ep = s.endpoint_of(
        "Acme",
        "activecampaign",
        &[
            "--setting",
            &base,
            "--secret",
            &key,
            "--default-role",
            "User",
        ],
    );
    let ui = signed_in(&s).await;
    add_webhook(&ui, &ep.tenant, &hook.url()).await;
    let st = s.store().await;
    f.set_outage(true);
    f.clear_request_log();
    for i in 0..USERS {
        post_user(&s, &ep, &format!("user{i}@contoso.com"), None).await;
    }
    // Far more failed jobs than the pause threshold.
    let deadline = Instant::now() + Duration::from_secs(60);
    while f.request_log().iter().filter(|r| r.status == 503).count() < 12 {
        assert!(Instant::now() < deadline, "{:?}", f.request_log().len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let i = st.get_integration_unscoped(&ep.id).await.unwrap().unwrap();
    assert_eq!(i.status, store::IntegrationStatus::Active);
    assert!(i.paused_by.is_none() && i.pause_reason.is_none());
    f.set_outage(false);
    eventually(&f, 90, "all ten users after the outage", |a| {
        (0..USERS).all(|i| exists(a, &format!("user{i}@contoso.com")))
    })
    .await;
    let i = st.get_integration_unscoped(&ep.id).await.unwrap().unwrap();
    assert_eq!(i.status, store::IntegrationStatus::Active);
    assert!(auto_paused(&hook.accepted()).is_empty());
}

macro_rules! on_both {
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
                    super::$name(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both!(
    a_rejected_key_pauses_once_and_resume_delivers_everything,
    a_transient_storm_does_not_pause,
);
