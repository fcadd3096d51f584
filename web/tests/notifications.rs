//! Notifications over real HTTP on SQLite and PostgreSQL: channels added in the console, each
//! event producing exactly one message (permanent failures batched), webhook signatures, a
//! failing receiver retried with its failures in the delivery log and on the page, the test
//! button, no secret in any message, and the page's access rules.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::target::{eventually, patch, post_user};
use common::ui::{PASSWORD, Ui, admin, csrf_of};
use common::{Backend, Endpoint, ServeOptions, TestServer};
use serde_json::json;
use std::time::{Duration, Instant};
use testkit::fake_activecampaign::{AccountConfig, FakeActiveCampaign, FakeConfig, FakeHandle};
use testkit::smtp_server::{ReceivedMail, SmtpServer};
use testkit::webhook_receiver::{Received, WebhookReceiver};

const KEY: &str = "ac-key-of-owner";
const WRONG_KEY: &str = "ac-wrong-key-0000";
const ADMIN: &str = "ops@example.com";

/// The notifier's test settings: fast rounds, a 5 s batch window, retries after 1 s twice,
/// the IdP quiet after `idp_quiet_secs`, the failure share from 3 calls.
fn serve_env(smtp: Option<&SmtpServer>, idp_quiet_secs: &str) -> ServeOptions {
    let mut vars = vec![
        ("SCIMBRIDGE_NOTIFY_POLL_MS".to_string(), "200".to_string()),
        ("SCIMBRIDGE_NOTIFY_BATCH_SECS".into(), "5".into()),
        ("SCIMBRIDGE_NOTIFY_RETRY_SECS".into(), "1,1".into()),
        (
            "SCIMBRIDGE_NOTIFY_IDP_QUIET_SECS".into(),
            idp_quiet_secs.into(),
        ),
        ("SCIMBRIDGE_NOTIFY_FAILURE_MIN_CALLS".into(), "3".into()),
    ];
    if let Some(m) = smtp {
        vars.push(("SCIMBRIDGE_SMTP_URL".into(), m.url()));
        vars.push((
            "SCIMBRIDGE_SMTP_FROM".into(),
            "scimbridge <noreply@example.com>".into(),
        ));
    }
    ServeOptions {
        env: vars,
        capture_stderr: false,
    }
}

async fn fake() -> FakeHandle {
    FakeActiveCampaign::start(
        FakeConfig::default()
            .account(AccountConfig::new("acme", KEY).groups(["User", "No access"])),
    )
    .await
}

fn integration(
    s: &TestServer,
    tenant: &str,
    f: &FakeHandle,
    key: &str,
    extra: &[&str],
) -> Endpoint {
    let base = format!("base_url={}", f.base_url());
    let key = format!("api_key={key}");
    let mut args = vec![
        "--setting",
        &base,
        "--secret",
        &key,
        "--default-role",
        "User",
    ];
    args.extend_from_slice(extra);
    s.endpoint_of(tenant, "activecampaign", &args)
}

async fn signed_in(s: &TestServer) -> Ui {
    admin(s, ADMIN, "platform-admin", None);
    let ui = Ui::new(&s.base);
    assert_eq!(ui.sign_in(ADMIN, PASSWORD).await.status, 303);
    ui
}

/// Adds a webhook in the console; returns the signing secret the page shows once.
async fn add_webhook(ui: &Ui, tenant: &str, url: &str) -> String {
    let page = format!("/t/{tenant}/notifications");
    let r = ui
        .post(&page, &format!("{page}/webhook"), &[("url", url)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let marker = "id=\"secret-value\" readonly value=\"";
    let from = r.body.find(marker).expect("the secret is shown") + marker.len();
    let secret = r.body[from..][..r.body[from..].find('"').unwrap()].to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    // Shown once: the page does not show it again.
    assert!(!ui.get(&page).await.body.contains(&secret));
    secret
}

async fn add_email(ui: &Ui, tenant: &str, address: &str) {
    let page = format!("/t/{tenant}/notifications");
    let r = ui
        .post(&page, &format!("{page}/email"), &[("address", address)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
}

/// Waits until `done` holds for the receiver's accepted requests.
async fn hooks_until(
    r: &WebhookReceiver,
    secs: u64,
    what: &str,
    done: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let got = r.accepted();
        if done(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; received: {:?}",
            got.iter().map(Received::text).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn mails_until(
    m: &SmtpServer,
    secs: u64,
    what: &str,
    done: impl Fn(&[ReceivedMail]) -> bool,
) -> Vec<ReceivedMail> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let got = m.mails();
        if done(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; mails: {:?}",
            got.iter().map(ReceivedMail::subject).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn events_of(hooks: &[Received]) -> Vec<String> {
    hooks
        .iter()
        .map(|h| h.json()["event"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn count(hooks: &[Received], event: &str) -> usize {
    events_of(hooks).iter().filter(|e| *e == event).count()
}

fn of<'a>(hooks: &'a [Received], event: &str) -> &'a Received {
    hooks
        .iter()
        .find(|h| h.json()["event"] == event)
        .unwrap_or_else(|| panic!("no {event} in {:?}", events_of(hooks)))
}

/// Every request is signed with the channel's secret over "<timestamp>.<body>", and the
/// timestamp is now.
fn assert_signed(hooks: &[Received], secret: &str) {
    for h in hooks {
        let ts: i64 = h.timestamp.as_deref().unwrap().parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 120);
        let sig = h.signature.as_deref().unwrap();
        assert!(
            notify::verify(secret, ts, &h.body, sig),
            "bad signature on {}",
            h.text()
        );
        assert!(!notify::verify("whsec_other", ts, &h.body, sig));
        assert_eq!(h.content_type.as_deref(), Some("application/json"));
        assert_eq!(h.event.as_deref(), h.json()["event"].as_str());
    }
}

fn assert_no_secret(texts: &[String], secrets: &[&str]) {
    for t in texts {
        for s in secrets {
            assert!(!t.contains(s), "a message contains a secret: {t}");
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// A target that rejects the key: five permanent failures in one window make ONE batched
/// message saying 5, plus one "credentials rejected" and one "failure rate" message, on the
/// webhook and by e-mail, signed, with console links and no secret.
async fn a_failing_target_sends_one_message_per_event(backend: Backend) {
    let smtp = SmtpServer::start().unwrap();
    let Some(s) = TestServer::start_with(backend, serve_env(Some(&smtp), "3600")).await else {
        eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set");
        return;
    };
    let f = fake().await;
    let hook = WebhookReceiver::start().await.unwrap();
    let ep = integration(&s, "Acme", &f, WRONG_KEY, &[]);
    let ui = signed_in(&s).await;
    let secret = add_webhook(&ui, &ep.tenant, &hook.url()).await;
    add_email(&ui, &ep.tenant, "it-ops@example.com").await;
    // A second instance runs its own notifier on the same database: still one message each.
    let _second = s.another_instance().await;

    let mut set = tokio::task::JoinSet::new();
    let server = std::sync::Arc::new(s);
    for i in 0..5 {
        let (srv, ep) = (server.clone(), ep.clone());
        set.spawn(async move {
            srv.call(
                &ep,
                "POST",
                "/Users",
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("fail{i}@contoso.com"),
                    "displayName": "BODY-MARKER-NOT-IN-MESSAGES",
                    "active": true,
                })),
            )
            .await
        });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap().status, 201);
    }
    let s = &*server;
    let wanted = ["jobs_failed", "credentials_rejected", "failure_rate"];
    hooks_until(&hook, 60, "the three events", |h| {
        wanted.iter().all(|e| count(h, e) >= 1)
    })
    .await;
    // More rounds and a whole batch window later, still one of each.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let hooks = hook.accepted();
    for e in wanted {
        assert_eq!(count(&hooks, e), 1, "{e}: {:?}", events_of(&hooks));
    }
    let failed = of(&hooks, "jobs_failed").json();
    assert_eq!(failed["details"]["count"], 5, "{failed}");
    assert!(failed["title"].as_str().unwrap().contains("5 jobs failed"));
    assert!(
        failed["text"]
            .as_str()
            .unwrap()
            .contains("rejected the credentials"),
        "{failed}"
    );
    assert_eq!(failed["link"], format!("{}/t/{}/jobs", s.base, ep.tenant));
    assert_eq!(failed["integration"]["id"], ep.id.as_str());
    assert_eq!(failed["tenant_id"], ep.tenant.as_str());
    let rejected = of(&hooks, "credentials_rejected").json();
    assert_eq!(
        rejected["link"],
        format!(
            "{}/t/{}/integrations/{}/connection",
            s.base, ep.tenant, ep.id
        )
    );
    let rate = of(&hooks, "failure_rate").json();
    assert_eq!(rate["details"]["percent"], 100, "{rate}");
    assert_signed(&hooks, &secret);

    // The same events by e-mail, one each.
    let mails = mails_until(&smtp, 30, "three mails", |m| m.len() >= 3).await;
    let subjects: Vec<String> = mails.iter().map(ReceivedMail::subject).collect();
    assert_eq!(mails.len(), 3, "{subjects:?}");
    assert!(
        subjects.iter().any(|t| t.contains("5 jobs failed")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|t| t.contains("rejected the credentials"))
    );
    assert!(
        subjects
            .iter()
            .any(|t| t.contains("calls to the target failed"))
    );
    for m in &mails {
        assert_eq!(m.to, ["it-ops@example.com"]);
        assert_eq!(m.from, "noreply@example.com");
        assert!(
            m.body().contains(&format!("{}/t/{}/", s.base, ep.tenant)),
            "{}",
            m.body()
        );
    }

    let mut texts: Vec<String> = hooks.iter().map(Received::text).collect();
    texts.extend(mails.iter().map(|m| m.data.clone()));
    assert_no_secret(
        &texts,
        &[WRONG_KEY, &ep.token, &secret, "BODY-MARKER-NOT-IN-MESSAGES"],
    );

    // The delivery log shows them as sent.
    let page = ui.get(&format!("/t/{}/notifications", ep.tenant)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"deliveries\""));
    assert_eq!(page.body.matches(">Sent<").count(), 6, "{}", page.body);
    assert!(!page.body.contains(&secret));
}

/// The deletion guard holding, the IdP going quiet and a token about to expire: one message
/// each; a token without expiry sends nothing.
async fn guard_quiet_idp_and_expiring_tokens(backend: Backend) {
    let Some(s) = TestServer::start_with(backend, serve_env(None, "3")).await else {
        eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set");
        return;
    };
    let f = fake().await;
    let hook = WebhookReceiver::start().await.unwrap();
    let ep = integration(
        &s,
        "Acme",
        &f,
        KEY,
        &["--deprovision", "role:No access", "--delete-guard", "2,10%"],
    );
    let ui = signed_in(&s).await;
    let secret = add_webhook(&ui, &ep.tenant, &hook.url()).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(post_user(&s, &ep, &format!("keep{i}@contoso.com"), None).await);
    }
    eventually(&f, 60, "6 users", |a| {
        (0..6).all(|i| {
            common::target::group_of(a, &format!("keep{i}@contoso.com")).as_deref() == Some("User")
        })
    })
    .await;
    for id in &ids[..4] {
        patch(
            &s,
            &ep,
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    }
    let hooks = hooks_until(&hook, 60, "guard_held", |h| count(h, "guard_held") >= 1).await;
    let held = of(&hooks, "guard_held").json();
    // Counted when the guard first held (the holds may still be turning from pending).
    let n = held["details"]["held"].as_u64().unwrap();
    assert!((1..=4).contains(&n), "{held}");
    assert_eq!(
        held["link"],
        format!("{}/t/{}/integrations/{}", s.base, ep.tenant, ep.id)
    );
    // The IdP has been quiet for longer than the (test) two cycles.
    hooks_until(&hook, 30, "idp_quiet", |h| count(h, "idp_quiet") >= 1).await;

    // A token that expires in 10 days is announced once; one without expiry is not.
    let t = s.cli(&[
        "token",
        "issue",
        "--integration",
        &ep.id,
        "--expires-in-days",
        "10",
    ]);
    let prefix = t["prefix"].as_str().unwrap().to_string();
    s.cli(&["token", "issue", "--integration", &ep.id]);
    let hooks = hooks_until(&hook, 30, "token_expiring", |h| {
        count(h, "token_expiring") >= 1
    })
    .await;
    let tok = of(&hooks, "token_expiring").json();
    assert!(tok["text"].as_str().unwrap().contains(&prefix), "{tok}");
    assert!(tok["title"].as_str().unwrap().contains("10 days"), "{tok}");

    tokio::time::sleep(Duration::from_secs(2)).await;
    let hooks = hook.accepted();
    for e in ["guard_held", "idp_quiet", "token_expiring"] {
        assert_eq!(count(&hooks, e), 1, "{e}: {:?}", events_of(&hooks));
    }
    assert_eq!(count(&hooks, "jobs_failed"), 0, "{:?}", events_of(&hooks));
    assert_signed(&hooks, &secret);
    let texts: Vec<String> = hooks.iter().map(Received::text).collect();
    assert_no_secret(
        &texts,
        &[KEY, &ep.token, t["token"].as_str().unwrap(), &secret],
    );
}

/// "Send test notification", a receiver that fails twice (retried, then delivered) and one
/// that keeps failing (given up), each attempt's failure in the delivery log and on the page;
/// an e-mail recipient without SMTP says so; access rules and CSRF.
async fn retries_the_delivery_log_and_the_page(backend: Backend) {
    let Some(s) = TestServer::start_with(backend, serve_env(None, "3600")).await else {
        eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set");
        return;
    };
    let tenant = s.cli(&["tenant", "create", "--name", "Acme"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = s.cli(&["tenant", "create", "--name", "Other"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ui = signed_in(&s).await;
    let page = format!("/t/{tenant}/notifications");
    let hook = WebhookReceiver::start().await.unwrap();
    let secret = add_webhook(&ui, &tenant, &hook.url()).await;

    // The test button; the receiver fails twice, the third attempt is delivered.
    hook.fail_next(2);
    let r = ui.post(&page, &format!("{page}/test"), &[]).await;
    assert_eq!(r.status, 303);
    let got = hooks_until(&hook, 30, "the test message", |h| !h.is_empty()).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["event"], "test");
    assert_eq!(got[0].json()["link"], format!("{}{page}", s.base));
    assert!(got[0].json()["text"].as_str().unwrap().contains(ADMIN));
    assert_signed(&got, &secret);
    let all = hook.received();
    assert_eq!(all.len(), 3, "two failures, then success");
    assert!(all[0].failed && all[1].failed && !all[2].failed);
    // The same message each time (a retry is the same delivery).
    assert_eq!(all[0].json()["id"], all[2].json()["id"]);
    let st = s.store().await;
    let log = st.list_notify_deliveries(&tenant, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].state, store::DeliveryState::Sent);
    assert_eq!(log[0].attempts, 3);
    assert_eq!(log[0].status_code, Some(204));

    // A receiver that keeps failing: attempts 1 + 2 retries, then given up, visible.
    hook.fail_next(100);
    ui.post(&page, &format!("{page}/test"), &[]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let log = st.list_notify_deliveries(&tenant, 10).await.unwrap();
        if log[0].state == store::DeliveryState::Failed {
            break log[0].clone();
        }
        // While it retries, the log says when the next attempt is.
        if log[0].attempts > 0 && log[0].state == store::DeliveryState::Pending {
            assert!(log[0].next_attempt_at.is_some());
            assert_eq!(log[0].status_code, Some(500));
        }
        assert!(Instant::now() < deadline, "not given up: {:?}", log[0]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failed.attempts, 3);
    assert_eq!(failed.status_code, Some(500));
    assert!(
        failed
            .response
            .as_deref()
            .unwrap()
            .contains("receiver is down")
    );
    assert_eq!(
        failed.error.as_deref(),
        Some("the receiver answered 500 Internal Server Error")
    );
    assert_eq!(failed.next_attempt_at, None);
    assert_eq!(hook.received().len(), 6);
    let body = ui.get(&page).await.body;
    assert!(body.contains(">Failed<"), "{body}");
    assert!(body.contains("the receiver answered 500"), "{body}");
    assert!(body.contains("receiver is down"), "{body}");

    // An e-mail recipient without operator SMTP: the page says so, and so does its delivery.
    add_email(&ui, &tenant, "it-ops@example.com").await;
    let body = ui.get(&page).await.body;
    assert!(body.contains("id=\"smtp-missing\""), "{body}");
    hook.fail_next(0);
    ui.post(&page, &format!("{page}/test"), &[]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = st.list_notify_deliveries(&tenant, 10).await.unwrap();
        let mail = log
            .iter()
            .find(|d| d.channel_kind == store::ChannelKind::Email);
        if let Some(d) = mail.filter(|d| d.state == store::DeliveryState::Failed) {
            assert_eq!(d.attempts, 1, "not retried: it cannot help");
            assert!(
                d.error
                    .as_deref()
                    .unwrap()
                    .contains("SMTP is not configured")
            );
            break;
        }
        assert!(Instant::now() < deadline, "{log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ui.get(&page).await.body.contains("SMTP is not configured"));

    // Bad input is a clear message next to its field, not a channel.
    let r = ui
        .post(
            &page,
            &format!("{page}/webhook"),
            &[("url", "ftp://x.example/hook")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"webhook-error\""), "{}", r.body);
    assert!(r.body.contains("value=\"ftp://x.example/hook\""));
    let r = ui
        .post(
            &page,
            &format!("{page}/email"),
            &[("address", "not an address")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("is not an e-mail address"), "{}", r.body);
    assert!(r.body.contains("id=\"email-error\""));
    assert_eq!(st.list_notify_channels(&tenant).await.unwrap().len(), 2);

    // Disable and remove.
    let hook_id = st.list_notify_channels(&tenant).await.unwrap()[0]
        .id
        .clone();
    let r = ui
        .post(
            &page,
            &format!("{page}/{hook_id}/enabled"),
            &[("enabled", "false")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(!st.list_notify_channels(&tenant).await.unwrap()[0].enabled);

    // CSRF: a post without the token is refused.
    let r = ui
        .post_raw(&format!("{page}/test"), &[], Some(&s.base))
        .await;
    assert_eq!(r.status, 403);
    // Another tenant's channel is not found through this tenant.
    let r = ui
        .post(
            &page,
            &format!("/t/{other}/notifications/{hook_id}/delete"),
            &[],
        )
        .await;
    assert_eq!(r.status, 404);
    // A tenant admin of the other tenant cannot see this page; support reads but cannot write.
    admin(&s, "beta@example.com", "tenant-admin", Some(&other));
    let beta = Ui::new(&s.base);
    beta.sign_in("beta@example.com", PASSWORD).await;
    assert_eq!(beta.get(&page).await.status, 404);
    admin(&s, "support@example.com", "support", None);
    let support = Ui::new(&s.base);
    support.sign_in("support@example.com", PASSWORD).await;
    let read = support.get(&page).await;
    assert_eq!(read.status, 200);
    assert!(!read.body.contains("id=\"add-webhook\""));
    let csrf = csrf_of(&read.body);
    let r = support.post_csrf(&csrf, &format!("{page}/test"), &[]).await;
    assert_eq!(r.status, 403);

    // Retention removes finished deliveries only.
    let pruned = st
        .prune_notify_deliveries(store::now_ms() + 1_000)
        .await
        .unwrap();
    assert!(pruned >= 3, "{pruned}");
    assert!(
        st.list_notify_deliveries(&tenant, 10)
            .await
            .unwrap()
            .iter()
            .all(|d| d.state == store::DeliveryState::Pending)
    );
    let r = ui
        .post(&page, &format!("{page}/{hook_id}/delete"), &[])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(st.list_notify_channels(&tenant).await.unwrap().len(), 1);
    // Audit-logged.
    let audit = ui.get(&format!("/audit?tenant={tenant}")).await.body;
    assert!(audit.contains("sent a test notification"), "{audit}");
    assert!(audit.contains("removed"), "{audit}");
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
    a_failing_target_sends_one_message_per_event,
    guard_quiet_idp_and_expiring_tokens,
    retries_the_delivery_log_and_the_page,
);
