//! The admin API's notification channels and API tokens over real HTTP on SQLite and
//! PostgreSQL, and the remote CLI's staff commands: a test notification through the API
//! reaches the SMTP server and the webhook receiver and shows in the delivery log (paged);
//! the webhook secret is shown once; another tenant is 404, support gets 403 on writes; every
//! change is audit-logged under the console's action names; a token makes no token wider than
//! itself and stops working when revoked; `admin invite/set-role/remove/reset-link` with
//! `--api` print what the local commands print.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::api::{Api, cli_token};
use common::ui::{PASSWORD, Ui, admin};
use common::{Backend, ServeOptions, TestServer};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::smtp_server::SmtpServer;
use testkit::webhook_receiver::WebhookReceiver;

const ROOT: &str = "root@example.com";

/// Fast notifier rounds, two quick retries, and the test SMTP server.
fn serve_env(smtp: &SmtpServer) -> ServeOptions {
    ServeOptions::env(&[
        ("SCIMBRIDGE_NOTIFY_POLL_MS", "200"),
        ("SCIMBRIDGE_NOTIFY_RETRY_SECS", "1,1"),
        ("SCIMBRIDGE_SMTP_URL", &smtp.url()),
        ("SCIMBRIDGE_SMTP_FROM", "scimbridge <noreply@example.com>"),
    ])
}

/// Polls the delivery log until `done` holds for its items.
async fn log_until(
    api: &Api,
    token: &str,
    tenant: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = api
            .get(
                token,
                &format!("/api/v1/tenants/{tenant}/notifications/deliveries"),
            )
            .await;
        let items = page.expect(200)["items"].as_array().unwrap().clone();
        if done(&items) {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {items:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The audit entries of `action` in the tenant, newest first.
async fn audit(api: &Api, token: &str, tenant: &str, action: &str) -> Vec<Value> {
    let r = api
        .get(
            token,
            &format!("/api/v1/audit?tenant_id={tenant}&action={action}"),
        )
        .await;
    r.expect(200)["items"].as_array().unwrap().clone()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

async fn everything(backend: Backend) {
    let smtp = SmtpServer::start().unwrap();
    let Some(s) = TestServer::start_with(backend, serve_env(&smtp)).await else {
        return;
    };
    let api = Api::new(&s.base).await;
    admin(&s, ROOT, "platform-admin", None);
    let root = cli_token(&s, ROOT, "automation");
    let acme = s.cli(&["tenant", "create", "--name", "Acme"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let globex = s.cli(&["tenant", "create", "--name", "Globex"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let base = format!("/api/v1/tenants/{acme}/notifications");
    let channels = format!("{base}/channels");

    // ---- channels: an e-mail recipient and a webhook (its secret shown once)
    let mail = api
        .post(
            &root,
            &format!("{channels}/email"),
            json!({"address": " ops@acme.test "}),
        )
        .await;
    let mail = mail.expect(201).clone();
    assert_eq!(mail["kind"], "email");
    assert_eq!(mail["address"], "ops@acme.test");
    assert_eq!(mail["enabled"], true);
    let mail_id = mail["id"].as_str().unwrap().to_string();
    let detail = api
        .post(
            &root,
            &format!("{channels}/email"),
            json!({"address": "not-an-address"}),
        )
        .await
        .problem(422);
    assert!(detail.contains("not an e-mail address"), "{detail}");
    api.post(
        &root,
        &format!("{channels}/email"),
        json!({"adress": "typo@acme.test"}),
    )
    .await
    .problem(400);
    let hook = WebhookReceiver::start().await.unwrap();
    let made = api
        .post(
            &root,
            &format!("{channels}/webhook"),
            json!({"url": hook.url()}),
        )
        .await;
    let made = made.expect(201).clone();
    let secret = made["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(made["channel"]["kind"], "webhook");
    // Shown as its origin: the path may hold a receiver's secret.
    assert!(
        !made["channel"]["address"]
            .as_str()
            .unwrap()
            .contains("/hook")
    );
    let hook_id = made["channel"]["id"].as_str().unwrap().to_string();
    for bad in ["ftp://hooks.example.com/x", "not a url"] {
        api.post(&root, &format!("{channels}/webhook"), json!({"url": bad}))
            .await
            .problem(422);
    }
    let list = api.get(&root, &channels).await;
    assert_eq!(list.expect(200).as_array().unwrap().len(), 2);
    assert!(!list.text.contains(&secret), "the secret is shown once");
    assert!(!list.text.contains("/hook"));

    // ---- the test notification reaches both, and the log says how
    let sent = api.post(&root, &format!("{base}/test"), json!({})).await;
    assert_eq!(sent.expect(200)["queued"], 2);
    let log = log_until(&api, &root, &acme, "both delivered", |items| {
        items.len() == 2 && items.iter().all(|d| d["status"] == "sent")
    })
    .await;
    let by_kind = |k: &str| log.iter().find(|d| d["channel_kind"] == k).unwrap().clone();
    assert_eq!(by_kind("webhook")["status_code"], 204);
    assert_eq!(by_kind("email")["status_code"], 250);
    assert_eq!(by_kind("email")["channel"], "ops@acme.test");
    assert!(
        log.iter()
            .all(|d| d["event"] == "test" && d["attempts"] == 1)
    );
    let got = hook.accepted();
    assert_eq!(got.len(), 1);
    let ts: i64 = got[0].timestamp.as_deref().unwrap().parse().unwrap();
    assert!(notify::verify(
        &secret,
        ts,
        &got[0].body,
        got[0].signature.as_deref().unwrap()
    ));
    // The message names who asked: the token's owner.
    assert!(got[0].json()["text"].as_str().unwrap().contains(ROOT));
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["ops@acme.test".to_string()]);
    assert!(mails[0].subject().contains("[scimbridge]"));

    // ---- disable, test one channel, enable; a failing receiver's answer is in the log
    let off = api
        .post(&root, &format!("{channels}/{mail_id}/disable"), json!({}))
        .await;
    assert_eq!(off.expect(200)["enabled"], false);
    hook.fail_next(5);
    let sent = api.post(&root, &format!("{base}/test"), json!({})).await;
    assert_eq!(
        sent.expect(200)["queued"],
        1,
        "the disabled recipient is left out"
    );
    let log = log_until(&api, &root, &acme, "the failed webhook", |items| {
        items.len() == 3 && items[0]["status"] == "failed"
    })
    .await;
    assert_eq!(log[0]["channel_id"], hook_id.as_str());
    assert_eq!(log[0]["attempts"], 3, "one attempt and two retries");
    assert_eq!(log[0]["status_code"], 500);
    assert!(log[0]["error"].as_str().unwrap().contains("500"));
    assert!(log[0]["next_attempt_at"].is_null());
    let on = api
        .post(&root, &format!("{channels}/{mail_id}/enable"), json!({}))
        .await;
    assert_eq!(on.expect(200)["enabled"], true);
    let one = api
        .post(
            &root,
            &format!("{base}/test"),
            json!({"channel_id": mail_id}),
        )
        .await;
    assert_eq!(one.expect(200)["queued"], 1);
    mails_until(&smtp, 2).await;
    api.post(
        &root,
        &format!("{base}/test"),
        json!({"channel_id": "no-such-channel"}),
    )
    .await
    .problem(404);
    api.post(
        &root,
        &format!("{channels}/no-such-channel/disable"),
        json!({}),
    )
    .await
    .problem(404);

    // ---- paging: newest first, `next_before` until the last page
    log_until(&api, &root, &acme, "four deliveries", |items| {
        items.len() == 4
    })
    .await;
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let q = match &before {
            None => format!("{base}/deliveries?limit=3"),
            Some(b) => format!("{base}/deliveries?limit=3&before={b}"),
        };
        let page = api.get(&root, &q).await.expect(200).clone();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].clone()),
        );
        match page["next_before"].as_str() {
            Some(b) => before = Some(b.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4, "every delivery once: {seen:?}");
    let all = api.get(&root, &format!("{base}/deliveries")).await;
    let all: Vec<Value> = all.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].clone())
        .collect();
    assert_eq!(seen, all);

    // ---- the console shows what the API added
    let ui = Ui::new(&s.base);
    assert_eq!(ui.sign_in(ROOT, PASSWORD).await.status, 303);
    let page = ui.get(&format!("/t/{acme}/notifications")).await;
    assert!(page.body.contains("ops@acme.test"));

    // ---- another tenant's admin: 404; support: reads, and 403 on every write
    admin(&s, "ta@globex.test", "tenant-admin", Some(&globex));
    let ta = cli_token(&s, "ta@globex.test", "globex script");
    api.get(&ta, &channels).await.problem(404);
    api.get(&ta, &format!("{base}/deliveries"))
        .await
        .problem(404);
    api.post(
        &ta,
        &format!("{channels}/email"),
        json!({"address": "x@globex.test"}),
    )
    .await
    .problem(404);
    api.post(&ta, &format!("{channels}/{mail_id}/disable"), json!({}))
        .await
        .problem(404);
    api.delete(&ta, &format!("{channels}/{mail_id}"))
        .await
        .problem(404);
    api.post(&ta, &format!("{base}/test"), json!({}))
        .await
        .problem(404);
    // Its own tenant's channel ids are not a way in either.
    let own = api
        .post(
            &ta,
            &format!("/api/v1/tenants/{globex}/notifications/channels/email"),
            json!({"address": "ops@globex.test"}),
        )
        .await;
    assert_eq!(own.expect(201)["kind"], "email");
    api.delete(
        &ta,
        &format!("/api/v1/tenants/{globex}/notifications/channels/{mail_id}"),
    )
    .await
    .problem(404);
    admin(&s, "support@example.com", "support", None);
    let support = cli_token(&s, "support@example.com", "support script");
    assert_eq!(
        api.get(&support, &channels)
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        2
    );
    api.get(&support, &format!("{base}/deliveries"))
        .await
        .expect(200);
    api.post(
        &support,
        &format!("{channels}/email"),
        json!({"address": "x@acme.test"}),
    )
    .await
    .problem(403);
    api.post(
        &support,
        &format!("{channels}/webhook"),
        json!({"url": hook.url()}),
    )
    .await
    .problem(403);
    for action in ["enable", "disable"] {
        api.post(
            &support,
            &format!("{channels}/{mail_id}/{action}"),
            json!({}),
        )
        .await
        .problem(403);
    }
    api.delete(&support, &format!("{channels}/{mail_id}"))
        .await
        .problem(403);
    api.post(&support, &format!("{base}/test"), json!({}))
        .await
        .problem(403);

    // ---- remove; every change is in the audit log under the console's names
    assert_eq!(
        api.delete(&root, &format!("{channels}/{hook_id}"))
            .await
            .status,
        204
    );
    api.delete(&root, &format!("{channels}/{hook_id}"))
        .await
        .problem(404);
    assert_eq!(
        api.get(&root, &channels)
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for (action, n) in [
        ("notify.channel_add", 2),
        ("notify.channel_disable", 1),
        ("notify.channel_enable", 1),
        ("notify.channel_remove", 1),
        ("notify.test", 3),
    ] {
        let entries = audit(&api, &root, &acme, action).await;
        assert_eq!(entries.len(), n, "{action}: {entries:?}");
        assert!(
            entries[0]["actor_email"]
                .as_str()
                .unwrap()
                .starts_with("root@example.com (API token sbapi_"),
            "{entries:?}"
        );
    }
    let removed = audit(&api, &root, &acme, "notify.channel_remove").await;
    assert_eq!(removed[0]["target_id"], hook_id.as_str());
    assert!(!removed[0]["detail"].as_str().unwrap().contains("/hook"));
    let added = audit(&api, &root, &acme, "notify.channel_add").await;
    assert!(
        added
            .iter()
            .all(|e| !e["detail"].as_str().unwrap().contains(&secret))
    );

    api_tokens(&s, &api, &root, &acme, &globex, &ta).await;
    remote_staff(&s, &root, &support, &acme);

    let missing = api.uncalled(common::api::tags_of("admin_api_notifications.rs"));
    assert!(missing.is_empty(), "operations no test called: {missing:?}");
}

async fn mails_until(smtp: &SmtpServer, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while smtp.mails().len() < n {
        assert!(Instant::now() < deadline, "timed out waiting for {n} mails");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The token lifecycle through the API: list, create (never wider than the caller), use,
/// revoke, 401.
async fn api_tokens(s: &TestServer, api: &Api, root: &str, acme: &str, globex: &str, ta: &str) {
    let list = api.get(root, "/api/v1/api-tokens").await;
    let list = list.expect(200).as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "automation");
    assert_eq!(list[0]["state"], "active");
    assert!(root.starts_with(list[0]["prefix"].as_str().unwrap()));
    assert!(!list[0].to_string().contains(root), "never the token");

    // A support token for one tenant, for 30 days; shown once, and it works.
    let made = api
        .post(
            root,
            "/api/v1/api-tokens",
            json!({"name": "ci", "role": "support", "tenant_id": acme, "expires_in_days": 30}),
        )
        .await;
    let made = made.expect(201).clone();
    let ci = made["token"].as_str().unwrap().to_string();
    let ci_id = made["api_token"]["id"].as_str().unwrap().to_string();
    assert!(ci.starts_with(made["api_token"]["prefix"].as_str().unwrap()));
    assert_eq!(made["api_token"]["role"], "support");
    assert_eq!(made["api_token"]["tenant_id"], acme);
    assert!(made["api_token"]["expires_at"].as_i64().is_some());
    let seen = api.get(&ci, "/api/v1/tenants").await;
    let seen = seen.expect(200).as_array().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["id"], acme);
    assert!(!api.get(root, "/api/v1/api-tokens").await.text.contains(&ci));

    // Bad input is 422 (400 for an unknown field).
    for bad in [
        json!({"name": " "}),
        json!({"name": "x", "role": "king"}),
        json!({"name": "x", "expires_in_days": 0}),
        json!({"name": "x", "role": "tenant_admin"}),
        json!({"name": "x", "tenant_id": "no-such-tenant"}),
    ] {
        api.post(root, "/api/v1/api-tokens", bad).await.problem(422);
    }
    api.post(root, "/api/v1/api-tokens", json!({"nme": "x"}))
        .await
        .problem(400);

    // Never wider than the calling token: role, tenant, expiry.
    let above = api
        .post(
            &ci,
            "/api/v1/api-tokens",
            json!({"name": "up", "role": "platform_admin", "expires_in_days": 7}),
        )
        .await
        .problem(422);
    assert!(above.contains("role"), "{above}");
    api.post(
        &ci,
        "/api/v1/api-tokens",
        json!({"name": "elsewhere", "tenant_id": globex, "expires_in_days": 7}),
    )
    .await
    .problem(422);
    let longer = api
        .post(&ci, "/api/v1/api-tokens", json!({"name": "forever"}))
        .await
        .problem(422);
    assert!(longer.starts_with("expires_in_days"), "{longer}");
    let child = api
        .post(
            &ci,
            "/api/v1/api-tokens",
            json!({"name": "child", "expires_in_days": 7}),
        )
        .await;
    let child = child.expect(201).clone();
    assert_eq!(child["api_token"]["role"], "support");
    assert_eq!(
        child["api_token"]["tenant_id"], acme,
        "narrowed as its parent"
    );
    // A platform admin token narrowed to a tenant makes only tokens for that tenant.
    let narrow = api
        .post(
            root,
            "/api/v1/api-tokens",
            json!({"name": "acme only", "tenant_id": acme}),
        )
        .await;
    let narrow = narrow.expect(201)["token"].as_str().unwrap().to_string();
    let from_narrow = api
        .post(&narrow, "/api/v1/api-tokens", json!({"name": "wide?"}))
        .await;
    assert_eq!(from_narrow.expect(201)["api_token"]["tenant_id"], acme);
    let unfolded = api.get(&narrow, "/api/v1/tenants").await;
    assert_eq!(unfolded.expect(200).as_array().unwrap().len(), 1);

    // The owner's tokens only: another staff member's token is not found.
    api.delete(ta, &format!("/api/v1/api-tokens/{ci_id}"))
        .await
        .problem(404);
    assert!(
        !api.get(ta, "/api/v1/api-tokens")
            .await
            .text
            .contains(&ci_id)
    );

    // Revoked: refused from now on, in the list as revoked, and in the audit log.
    assert_eq!(
        api.delete(root, &format!("/api/v1/api-tokens/{ci_id}"))
            .await
            .status,
        204
    );
    api.get(&ci, "/api/v1/tenants").await.problem(401);
    api.delete(root, &format!("/api/v1/api-tokens/{ci_id}"))
        .await
        .problem(409);
    api.delete(root, "/api/v1/api-tokens/no-such-token")
        .await
        .problem(404);
    let list = api.get(root, "/api/v1/api-tokens").await;
    let ci_row = list
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == ci_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(ci_row["state"], "revoked");
    let created = audit(api, root, acme, "api_token.create").await;
    assert_eq!(created.len(), 4, "{created:?}");
    let revoked = audit(api, root, acme, "api_token.revoke").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["target_id"], ci_id.as_str());
    // The console lists the tokens made through the API.
    let ui = Ui::new(&s.base);
    assert_eq!(ui.sign_in(ROOT, PASSWORD).await.status, 303);
    let page = ui.get("/api-tokens").await;
    assert!(page.body.contains("acme only"));
}

/// `admin invite/set-role/remove/reset-link` with `--api` print what the local commands print.
fn remote_staff(s: &TestServer, root: &str, support: &str, acme: &str) {
    let with = |token: &str, args: &[&str]| -> Vec<String> {
        ["--api", s.base.as_str(), "--api-token", token]
            .iter()
            .chain(args)
            .map(|a| a.to_string())
            .collect()
    };
    let remote = |token: &str, args: &[&str]| {
        let all = with(token, args);
        s.cli(&all.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let remote_fails = |token: &str, args: &[&str]| {
        let all = with(token, args);
        s.cli_fails(&all.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let invite = |email: &'static str| {
        [
            "admin",
            "invite",
            "--email",
            email,
            "--role",
            "tenant-admin",
            "--tenant",
            acme,
        ]
    };

    // invite
    let far = remote(root, &invite("far@acme.test"));
    let near = s.cli(&invite("near@acme.test"));
    assert_eq!(keys(&far), keys(&near));
    assert_eq!(far["purpose"], "invite");
    assert_eq!(far["purpose"], near["purpose"]);
    assert_eq!(far["email"], "far@acme.test");
    assert!(
        far["link"]
            .as_str()
            .unwrap()
            .contains("/account/set-password?token=")
    );

    // reset-link: a new invitation while there is no password, a reset once there is one
    let again = remote(root, &["admin", "reset-link", "--email", "far@acme.test"]);
    assert_eq!(keys(&again), keys(&near));
    assert_eq!(again["purpose"], "invite");
    assert_eq!(again["id"], far["id"]);
    assert_ne!(again["link"], far["link"]);
    admin(s, "pw@acme.test", "tenant-admin", Some(acme));
    let reset_far = remote(root, &["admin", "reset-link", "--email", "PW@acme.test"]);
    let reset_near = s.cli(&["admin", "reset-link", "--email", "pw@acme.test"]);
    assert_eq!(keys(&reset_far), keys(&reset_near));
    assert_eq!(reset_far["purpose"], "reset");
    for k in ["purpose", "id", "email"] {
        assert_eq!(reset_far[k], reset_near[k], "{k}");
    }

    // set-role
    let set = |email: &'static str| ["admin", "set-role", "--email", email, "--role", "support"];
    let far_role = remote(root, &set("far@acme.test"));
    let near_role = s.cli(&set("near@acme.test"));
    assert_eq!(keys(&far_role), keys(&near_role));
    for k in ["role", "tenant", "was"] {
        assert_eq!(far_role[k], near_role[k], "{k}");
    }
    assert_eq!(far_role["role"], "support");
    assert_eq!(far_role["was"], "tenant_admin");
    assert_eq!(far_role["id"], far["id"]);

    // remove
    let far_gone = remote(root, &["admin", "remove", "--email", "far@acme.test"]);
    let near_gone = s.cli(&["admin", "remove", "--email", "near@acme.test"]);
    assert_eq!(keys(&far_gone), keys(&near_gone));
    assert_eq!(far_gone["removed"], true);
    assert_eq!(far_gone["id"], far["id"]);
    let err = remote_fails(root, &["admin", "remove", "--email", "far@acme.test"]);
    assert!(err.contains("no such staff account"), "{err}");

    // The token's role applies; local-only commands say so.
    let err = remote_fails(support, &invite("no@acme.test"));
    assert!(err.contains("403"), "{err}");
    let err = remote_fails(
        root,
        &[
            "admin",
            "create",
            "--email",
            "x@acme.test",
            "--role",
            "support",
        ],
    );
    assert!(
        err.contains("admin create") && err.contains("no such operation"),
        "{err}"
    );
    let err = remote_fails(root, &["admin", "reset-totp", "--email", "pw@acme.test"]);
    assert!(err.contains("reset-totp"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_notifications_sqlite() {
    everything(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_notifications_postgres() {
    everything(Backend::Postgres).await;
}
