//! The admin UI over real HTTP (no browser): first-run setup, sessions, CSRF, throttling,
//! tenant isolation and read-only support staff, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::TestServer;
use std::time::Duration;

use common::ui::{PASSWORD, Ui, admin, csrf_of};

async fn first_run_setup(s: TestServer) {
    let ui = Ui::new(&s.base);
    // Not signed in: every page sends to sign-in, which explains that setup is pending.
    let p = ui.get("/tenants").await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location.as_deref(), Some("/login?next=%2Ftenants"));
    let login = ui.get("/login").await;
    assert!(login.body.contains("has no admin yet"), "{}", login.body);

    // A wrong token is refused; the printed one works exactly once.
    let url = s.setup_url().await;
    let path = &url[url.find("/setup").unwrap()..];
    assert_eq!(ui.get("/setup?token=nope").await.status, 403);
    let form = ui.get(path).await;
    assert_eq!(form.status, 200);
    let token = path.split("token=").nth(1).unwrap();
    // Bad input: a clear error, nothing created.
    let weak = ui
        .post(
            path,
            "/setup",
            &[
                ("token", token),
                ("email", "root@example.com"),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, 422);
    assert!(weak.body.contains("at least 12 characters"));
    let ok = ui
        .post(
            path,
            "/setup",
            &[
                ("token", token),
                ("email", "Root@Example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.location.as_deref(), Some("/tenants"));
    let tenants = ui.get("/tenants").await;
    assert_eq!(tenants.status, 200);
    assert!(tenants.body.contains("root@example.com"));
    assert!(
        tenants.body.contains("Welcome to scimbridge"),
        "flash shown"
    );
    // The flash shows once.
    assert!(
        !ui.get("/tenants")
            .await
            .body
            .contains("Welcome to scimbridge")
    );

    // The link is spent, for this and any other browser.
    let other = Ui::new(&s.base);
    let again = other.get(path).await;
    assert_eq!(again.status, 403);
    assert!(again.body.contains("Setup is complete"));

    // The audit log recorded it.
    let audit = ui.get("/audit").await;
    assert!(
        audit
            .body
            .contains("root@example.com set up this installation as its first administrator"),
        "{}",
        audit.body
    );

    // Sign out ends the session.
    let out = ui.post("/tenants", "/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(ui.get("/tenants").await.status, 303);
}

async fn sign_in_throttling_and_password_change(s: TestServer) {
    admin(&s, "ops@example.com", "platform-admin", None);
    let ui = Ui::new(&s.base);
    let bad = ui.sign_in("ops@example.com", "wrong password!").await;
    assert_eq!(bad.status, 401);
    assert!(bad.body.contains("not correct"));
    // Unknown emails get the same answer.
    let unknown = ui.sign_in("nobody@example.com", "wrong password!").await;
    assert_eq!(unknown.status, 401);
    assert!(unknown.body.contains("not correct"));
    let good = ui.sign_in("OPS@example.com", PASSWORD).await;
    assert_eq!(good.status, 303);
    let cookie_ok = ui.get("/tenants").await;
    assert_eq!(cookie_ok.status, 200);

    // Changing the password signs out other sessions but keeps this one.
    let other = Ui::new(&s.base);
    assert_eq!(other.sign_in("ops@example.com", PASSWORD).await.status, 303);
    let new_pw = "another long passphrase";
    let wrong_current = ui
        .post(
            "/account/password",
            "/account/password",
            &[
                ("current", "nope nope nope"),
                ("password", new_pw),
                ("confirm", new_pw),
            ],
        )
        .await;
    assert_eq!(wrong_current.status, 422);
    let changed = ui
        .post(
            "/account/password",
            "/account/password",
            &[
                ("current", PASSWORD),
                ("password", new_pw),
                ("confirm", new_pw),
            ],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(ui.get("/tenants").await.status, 200, "this session goes on");
    assert_eq!(
        other.get("/tenants").await.status,
        303,
        "the other session ended"
    );

    // Five failures lock the account's sign-in for a while, even with the right password.
    let attacker = Ui::new(&s.base);
    for _ in 0..5 {
        assert_eq!(
            attacker
                .sign_in("ops@example.com", "guess guess guess")
                .await
                .status,
            401
        );
    }
    let locked = attacker.sign_in("ops@example.com", new_pw).await;
    assert_eq!(locked.status, 429);
    assert!(locked.body.contains("Too many failed sign-ins"));
}

async fn csrf_and_origin_are_checked(s: TestServer) {
    admin(&s, "ops@example.com", "platform-admin", None);
    let ui = Ui::new(&s.base);
    assert_eq!(ui.sign_in("ops@example.com", PASSWORD).await.status, 303);
    // No token, a wrong token, a token from another session, a foreign Origin: all refused,
    // and nothing is created.
    let none = ui.post_raw("/tenants", &[("name", "Evil")], None).await;
    assert_eq!(none.status, 403);
    assert!(none.body.contains("Form expired"));
    let wrong = ui
        .post_raw("/tenants", &[("csrf", "AAAA"), ("name", "Evil")], None)
        .await;
    assert_eq!(wrong.status, 403);
    let other = Ui::new(&s.base);
    assert_eq!(other.sign_in("ops@example.com", PASSWORD).await.status, 303);
    let foreign_token = csrf_of(&other.get("/tenants").await.body);
    let mixed = ui
        .post_raw(
            "/tenants",
            &[("csrf", &foreign_token), ("name", "Evil")],
            None,
        )
        .await;
    assert_eq!(mixed.status, 403);
    let own = csrf_of(&ui.get("/tenants").await.body);
    let cross_site = ui
        .post_raw(
            "/tenants",
            &[("csrf", &own), ("name", "Evil")],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(cross_site.status, 403);
    assert!(!ui.get("/tenants").await.body.contains("Evil"));
    // The sign-in form itself needs its token too.
    let anon = Ui::new(&s.base);
    let forged = anon
        .post_raw(
            "/login",
            &[("email", "ops@example.com"), ("password", PASSWORD)],
            None,
        )
        .await;
    assert_eq!(forged.status, 403);
    // With the token it works.
    let ok = ui.post("/tenants", "/tenants", &[("name", "Acme")]).await;
    assert_eq!(ok.status, 303);
    assert!(ui.get("/tenants").await.body.contains("Acme"));
}

async fn tenant_isolation_and_read_only_support(s: TestServer) {
    let a = s.cli(&["tenant", "create", "--name", "Alpha"]);
    let b = s.cli(&["tenant", "create", "--name", "Beta"]);
    let (ta, tb) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let ia = s.cli(&[
        "integration",
        "create",
        "--tenant",
        ta,
        "--name",
        "Alpha AC",
        "--connector",
        "activecampaign",
        "--setting",
        "base_url=https://alpha.api-us1.com",
        "--secret",
        "api_key=alpha-secret-key-123",
        "--default-role",
        "User",
    ]);
    let iid = ia["id"].as_str().unwrap();
    admin(&s, "beta@example.com", "tenant-admin", Some(tb));
    admin(&s, "alpha@example.com", "tenant-admin", Some(ta));
    admin(&s, "support@example.com", "support", None);

    // Beta's admin cannot see or touch Alpha's integration, whatever the URL.
    let beta = Ui::new(&s.base);
    assert_eq!(beta.sign_in("beta@example.com", PASSWORD).await.status, 303);
    for path in [
        format!("/t/{ta}/integrations"),
        format!("/t/{ta}/integrations/{iid}"),
        format!("/t/{ta}/integrations/{iid}/connection"),
        format!("/t/{ta}/integrations/{iid}/tokens"),
        format!("/t/{tb}/integrations/{iid}"),
        format!("/audit?tenant={ta}"),
        "/tenants".to_string(),
    ] {
        let p = beta.get(&path).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(!p.body.contains("Alpha AC"), "{path}");
    }
    // Their Staff page lists their own tenant's admins only.
    let staff = beta.get("/staff").await;
    assert_eq!(staff.status, 200);
    assert!(staff.body.contains("beta@example.com") && !staff.body.contains("alpha@example.com"));
    let own_csrf = csrf_of(&beta.get(&format!("/t/{tb}/integrations")).await.body);
    let pause = beta
        .post_raw(
            &format!("/t/{ta}/integrations/{iid}/status"),
            &[("csrf", &own_csrf), ("action", "pause")],
            None,
        )
        .await;
    assert_eq!(pause.status, 404);
    let issue = beta
        .post_raw(
            &format!("/t/{ta}/integrations/{iid}/tokens"),
            &[("csrf", &own_csrf)],
            None,
        )
        .await;
    assert_eq!(issue.status, 404);
    let home = beta.get("/").await;
    assert_eq!(
        home.location.as_deref(),
        Some(format!("/t/{tb}/integrations").as_str())
    );

    // Alpha's admin sees it, and the API key is never in a page.
    let alpha = Ui::new(&s.base);
    assert_eq!(
        alpha.sign_in("alpha@example.com", PASSWORD).await.status,
        303
    );
    let conn = alpha
        .get(&format!("/t/{ta}/integrations/{iid}/connection"))
        .await;
    assert_eq!(conn.status, 200);
    assert!(conn.body.contains("Replace API key"));
    assert!(!conn.body.contains("alpha-secret-key-123"));

    // Support reads every tenant but changes nothing.
    let support = Ui::new(&s.base);
    assert_eq!(
        support
            .sign_in("support@example.com", PASSWORD)
            .await
            .status,
        303
    );
    let page = support
        .get(&format!("/t/{ta}/integrations/{iid}/connection"))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Read only"));
    let csrf = csrf_of(&page.body);
    let save = support
        .post_raw(
            &format!("/t/{ta}/integrations/{iid}/connection"),
            &[
                ("csrf", &csrf),
                ("name", "Hijacked"),
                ("base_url", "https://evil.example"),
                ("api_key", "x"),
            ],
            None,
        )
        .await;
    assert_eq!(save.status, 403);
    assert!(save.body.contains("read-only"));
    let pause = support
        .post_raw(
            &format!("/t/{ta}/integrations/{iid}/status"),
            &[("csrf", &csrf), ("action", "pause")],
            None,
        )
        .await;
    assert_eq!(pause.status, 403);
    assert_eq!(support.get("/staff").await.status, 404);
    let create = support
        .post_raw("/tenants", &[("csrf", &csrf), ("name", "Nope")], None)
        .await;
    assert_eq!(create.status, 403);
    let store = s.store().await;
    let still = store.get_integration(ta, iid).await.unwrap().unwrap();
    assert_eq!(still.name, "Alpha AC");
    assert_eq!(still.status, store::IntegrationStatus::Active);
}

async fn tokens_rotate_from_the_ui(s: TestServer) {
    admin(&s, "ops@example.com", "platform-admin", None);
    let t = s.cli(&["tenant", "create", "--name", "Acme"]);
    let tid = t["id"].as_str().unwrap();
    let created = s.cli(&[
        "integration",
        "create",
        "--tenant",
        tid,
        "--name",
        "AC",
        "--connector",
        "activecampaign",
        "--setting",
        "base_url=https://acme.api-us1.com",
        "--secret",
        "api_key=k",
        "--mode",
        "dry-run",
        "--default-role",
        "User",
    ]);
    let iid = created["id"].as_str().unwrap();
    let old_token = created["token"].as_str().unwrap();
    let scim = |token: &str| {
        let (http, url, token) = (
            s.http.clone(),
            created["scim_url"].as_str().unwrap().to_string(),
            token.to_string(),
        );
        async move {
            http.get(format!("{url}/Users?count=1"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let ui = Ui::new(&s.base);
    assert_eq!(ui.sign_in("ops@example.com", PASSWORD).await.status, 303);
    let tokens_path = format!("/t/{tid}/integrations/{iid}/tokens");
    let issued = ui
        .post(&tokens_path, &tokens_path, &[("expires_days", "30")])
        .await;
    assert_eq!(issued.status, 200);
    let marker = "id=\"token-value\" readonly value=\"";
    let start = issued.body.find(marker).unwrap() + marker.len();
    let new_token = &issued.body[start..start + issued.body[start..].find('"').unwrap()];
    assert!(new_token.starts_with("scb_"));
    // Both work during the rotation.
    assert_eq!(scim(old_token).await, 200);
    assert_eq!(scim(new_token).await, 200);
    // The list never shows a token again.
    let list = ui.get(&tokens_path).await;
    assert!(!list.body.contains(new_token) && !list.body.contains(old_token));
    let old_prefix = created["prefix"].as_str().unwrap();
    let revoke = format!("{tokens_path}/{old_prefix}/revoke");
    assert_eq!(ui.post(&tokens_path, &revoke, &[]).await.status, 303);
    assert_eq!(scim(old_token).await, 401);
    assert_eq!(scim(new_token).await, 200);
    let audit = ui.get(&format!("/audit?tenant={tid}")).await;
    assert!(
        audit.body.contains(&format!(
            "ops@example.com revoked the SCIM token {old_prefix}… of ActiveCampaign (AC)"
        )),
        "{}",
        audit.body
    );
    assert!(
        audit
            .body
            .contains("ops@example.com issued a SCIM token (scb_")
    );
}

/// The log, traces, CSV export and failed jobs stay inside their tenant; support may retry but
/// not discard; the rule preview counts real users.
async fn support_views_are_scoped(s: TestServer) {
    admin(&s, "ops@example.com", "platform-admin", None);
    admin(&s, "support@example.com", "support", None);
    // Alpha's key is wrong, so every push fails at once (401 is not retried).
    let fake = testkit::fake_activecampaign::FakeActiveCampaign::start(
        testkit::fake_activecampaign::FakeConfig::default().account(
            testkit::fake_activecampaign::AccountConfig::new("acme", "the-right-key")
                .groups(["User"]),
        ),
    )
    .await;
    let base_url = format!("base_url={}", fake.base_url());
    let mk = |name: &str| {
        let t = s.cli(&["tenant", "create", "--name", name]);
        let tid = t["id"].as_str().unwrap().to_string();
        let i = s.cli(&[
            "integration",
            "create",
            "--tenant",
            &tid,
            "--name",
            &format!("{name} AC"),
            "--connector",
            "activecampaign",
            "--setting",
            &base_url,
            "--secret",
            "api_key=a-wrong-key",
            "--default-role",
            "User",
        ]);
        (tid, i)
    };
    let (ta, ia) = mk("Alpha");
    let (tb, _ib) = mk("Beta");
    admin(&s, "beta@example.com", "tenant-admin", Some(&tb));
    let iid = ia["id"].as_str().unwrap().to_string();
    // Two users in Alpha: one in the "Sales Managers" group, one with a formula-like name.
    let post = |body: serde_json::Value| {
        let (http, url, token) = (
            s.http.clone(),
            ia["scim_url"].as_str().unwrap().to_string(),
            ia["token"].as_str().unwrap().to_string(),
        );
        async move {
            let r = http
                .post(format!("{url}{}", body["path"].as_str().unwrap()))
                .bearer_auth(token)
                .json(&body["body"])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201);
            let v: serde_json::Value = r.json().await.unwrap();
            (v["id"].as_str().unwrap().to_string(),)
        }
    };
    let (ada,) = post(serde_json::json!({"path": "/Users", "body": {"userName": "ada@alpha.example", "active": true, "title": "Sales Manager"}})).await;
    post(serde_json::json!({"path": "/Users", "body": {"userName": "=cmd@alpha.example", "active": true}})).await;
    post(serde_json::json!({"path": "/Groups", "body": {"displayName": "Sales Managers", "members": [{"value": ada}]}})).await;
    // Wait for the worker's failed pushes.
    let store = s.store().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while store.list_failed_jobs(&iid).await.unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no failed jobs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cid = store
        .list_events(&store::EventQuery {
            subject: Some("ada@alpha.example".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .correlation_id
        .clone();

    let ops = Ui::new(&s.base);
    assert_eq!(ops.sign_in("ops@example.com", PASSWORD).await.status, 303);
    let log = ops
        .get(&format!("/t/{ta}/log?user=ada%40alpha.example"))
        .await;
    assert_eq!(log.status, 200);
    assert!(log.body.contains("ada@alpha.example") && !log.body.contains("=cmd@alpha.example"));
    let failures = ops
        .get(&format!("/t/{ta}/log?direction=outbound&status=error"))
        .await;
    assert!(
        failures.body.contains("rejected the API key"),
        "the outbound failure is listed"
    );
    assert!(
        !failures
            .body
            .contains("<code class=\"small\">POST /Users</code>"),
        "only outbound rows"
    );
    let trace = ops.get(&format!("/t/{ta}/trace/{cid}")).await;
    assert_eq!(trace.status, 200);
    assert!(trace.body.contains("POST /Users"));
    // CSV: every Alpha event, formulas defused.
    let csv = ops.get(&format!("/t/{ta}/log.csv")).await;
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with("time_utc,integration,direction"));
    assert!(csv.body.contains("'=cmd@alpha.example"));
    assert!(!csv.body.contains(",=cmd@alpha.example"));
    // The preview counts the real users against draft rules.
    let roles = format!("/t/{ta}/integrations/{iid}/roles");
    let preview = ops
        .post(
            &roles,
            &format!("{roles}/preview"),
            &[
                ("default_role", "User"),
                ("rule_kind", "group"),
                ("rule_value", "Sales Managers"),
                ("rule_role", "Manager"),
                ("rule_kind", "filter"),
                ("rule_value", "title eq \"Sales Manager\""),
                ("rule_role", "Admin"),
            ],
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(
        preview.body.contains("Preview over 2 known users"),
        "{}",
        preview.body
    );
    assert!(
        preview.body.contains("matches 1 known user, decides for 1"),
        "{}",
        preview.body
    );
    assert!(
        preview.body.contains("matches 1 known user, decides for 0"),
        "{}",
        preview.body
    );
    assert!(
        preview.body.contains("<strong>User</strong>: 1 user"),
        "{}",
        preview.body
    );

    // Beta's admin sees none of it.
    let beta = Ui::new(&s.base);
    assert_eq!(beta.sign_in("beta@example.com", PASSWORD).await.status, 303);
    for path in [
        format!("/t/{ta}/log"),
        format!("/t/{ta}/log.csv"),
        format!("/t/{ta}/trace/{cid}"),
        format!("/t/{tb}/trace/{cid}"),
        format!("/t/{ta}/jobs"),
        format!("/t/{ta}/integrations/{iid}/users"),
        format!("/t/{ta}/integrations/{iid}/users/{ada}"),
        format!("/t/{tb}/integrations/{iid}/users/{ada}"),
    ] {
        let p = beta.get(&path).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(!p.body.contains("ada@alpha.example"), "{path}");
    }
    let own_log = beta.get(&format!("/t/{tb}/log?integration={iid}")).await;
    assert_eq!(own_log.status, 200);
    assert!(
        !own_log.body.contains("ada@alpha.example"),
        "another tenant's integration id filters nothing in"
    );

    // Failed jobs: support may retry, not discard; an admin may discard.
    let job = store
        .list_failed_jobs(&iid)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.subject_id == ada)
        .unwrap()
        .id
        .to_string();
    let jobs_path = format!("/t/{ta}/jobs");
    let support = Ui::new(&s.base);
    assert_eq!(
        support
            .sign_in("support@example.com", PASSWORD)
            .await
            .status,
        303
    );
    let page = support.get(&jobs_path).await;
    assert!(page.body.contains("rejected the API key") && page.body.contains("ada@alpha.example"));
    let discard = support
        .post(
            &jobs_path,
            &format!("{jobs_path}/discard"),
            &[("integration", &iid), ("job", &job)],
        )
        .await;
    assert_eq!(discard.status, 403);
    assert!(
        store
            .list_failed_jobs(&iid)
            .await
            .unwrap()
            .iter()
            .any(|j| j.id.to_string() == job),
        "support's discard changed nothing"
    );
    let retry = support
        .post(
            &jobs_path,
            &format!("{jobs_path}/retry"),
            &[("integration", &iid), ("job", &job)],
        )
        .await;
    assert_eq!(retry.status, 303);
    assert!(
        beta.post(
            &format!("/t/{tb}/integrations"),
            &format!("/t/{ta}/jobs/retry"),
            &[("integration", &iid)]
        )
        .await
        .status
            == 404
    );
    let other = store
        .list_failed_jobs(&iid)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.subject_id != ada)
        .unwrap()
        .id
        .to_string();
    let discarded = ops
        .post(
            &jobs_path,
            &format!("{jobs_path}/discard"),
            &[("integration", &iid), ("job", &other)],
        )
        .await;
    assert_eq!(discarded.status, 303);
    assert!(
        store
            .list_failed_jobs(&iid)
            .await
            .unwrap()
            .iter()
            .all(|j| j.id.to_string() != other)
    );
}

/// Pause, resume and delete (with its typed confirmation) from the overview.
async fn pause_resume_and_delete(s: TestServer) {
    admin(&s, "ops@example.com", "platform-admin", None);
    let ep = s.endpoint_with(
        "Acme",
        &[
            "--setting",
            "base_url=https://acme.api-us1.com",
            "--secret",
            "api_key=k",
            "--mode",
            "dry-run",
            "--default-role",
            "User",
        ],
    );
    let (tid, iid, token) = (ep.tenant.as_str(), ep.id.as_str(), ep.token.as_str());
    let users_url = format!("{}/Users", ep.url);
    let ui = Ui::new(&s.base);
    assert_eq!(ui.sign_in("ops@example.com", PASSWORD).await.status, 303);
    let overview = format!("/t/{tid}/integrations/{iid}");
    let store = s.store().await;
    let status = || async {
        store
            .get_integration(tid, iid)
            .await
            .unwrap()
            .map(|i| i.status)
    };
    assert_eq!(
        ui.post(
            &overview,
            &format!("{overview}/status"),
            &[("action", "pause")]
        )
        .await
        .status,
        303
    );
    assert_eq!(status().await, Some(store::IntegrationStatus::Paused));
    assert!(
        ui.get(&overview)
            .await
            .body
            .contains("Paused: SCIM requests are accepted")
    );
    assert_eq!(
        ui.post(
            &overview,
            &format!("{overview}/status"),
            &[("action", "resume")]
        )
        .await
        .status,
        303
    );
    assert_eq!(status().await, Some(store::IntegrationStatus::Active));
    // A wrong confirmation deletes nothing.
    let delete = format!("{overview}/delete");
    let confirm = ui.get(&delete).await;
    assert!(
        confirm
            .body
            .contains("are <strong>not</strong> changed or removed")
    );
    let wrong = ui.post(&delete, &delete, &[("confirm_name", "Acme")]).await;
    assert_eq!(wrong.location.as_deref(), Some(delete.as_str()));
    assert!(status().await.is_some());
    let ok = ui
        .post(&delete, &delete, &[("confirm_name", "Acme AC")])
        .await;
    assert_eq!(ok.status, 303);
    assert_eq!(status().await, None);
    assert_eq!(ui.get(&overview).await.status, 404);
    let scim = s
        .http
        .get(&users_url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        scim.status().as_u16(),
        401,
        "the deleted integration's token is dead"
    );
    let audit = ui.get(&format!("/audit?tenant={tid}")).await.body;
    assert!(
        audit.contains("deleted the integration &#39;")
            || audit.contains("deleted the integration '"),
        "{audit}"
    );
}

/// The audit log speaks in sentences with before → after, filters by person, action and
/// time, and exports the same selection as CSV; the log takes custom UTC bounds.
async fn audit_log_in_sentences(s: TestServer) {
    admin(&s, "it.admin@contoso.com", "platform-admin", None);
    admin(&s, "second@contoso.com", "platform-admin", None);
    let t = s.cli(&["tenant", "create", "--name", "Contoso"]);
    let tid = t["id"].as_str().unwrap();
    let created = s.cli(&[
        "integration",
        "create",
        "--tenant",
        tid,
        "--name",
        "Sales team",
        "--connector",
        "activecampaign",
        "--setting",
        "base_url=https://contoso.api-us1.com",
        "--secret",
        "api_key=k",
        "--mode",
        "dry-run",
        "--default-role",
        "User",
        "--role-rule",
        "group:Sales=Sales",
    ]);
    let iid = created["id"].as_str().unwrap();
    let ui = Ui::new(&s.base);
    assert_eq!(
        ui.sign_in("it.admin@contoso.com", PASSWORD).await.status,
        303
    );
    let roles = format!("/t/{tid}/integrations/{iid}/roles");
    let saved = ui
        .post(
            &roles,
            &roles,
            &[
                ("default_role", "Viewer"),
                ("rule_kind", "group"),
                ("rule_value", "Sales Managers"),
                ("rule_role", "Manager"),
                ("rule_kind", "group"),
                ("rule_value", "Sales"),
                ("rule_role", "Sales"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let other = Ui::new(&s.base);
    assert_eq!(
        other.sign_in("second@contoso.com", PASSWORD).await.status,
        303
    );
    let overview = format!("/t/{tid}/integrations/{iid}");
    assert_eq!(
        other
            .post(
                &overview,
                &format!("{overview}/status"),
                &[("action", "pause")]
            )
            .await
            .status,
        303
    );

    let page = ui.get(&format!("/audit?tenant={tid}")).await;
    assert_eq!(page.status, 200);
    let text = page.body.replace("&#39;", "'").replace("&gt;", ">");
    assert!(
        text.contains(
            "it.admin@contoso.com changed the role mapping of ActiveCampaign (Sales team)"
        ),
        "{text}"
    );
    assert!(
        text.contains("added group 'Sales Managers' → Manager"),
        "{text}"
    );
    assert!(text.contains("default role: User → Viewer"), "{text}");
    assert!(text.contains("second@contoso.com paused ActiveCampaign (Sales team)"));
    // By person, by action.
    let by_person = ui
        .get(&format!("/audit?tenant={tid}&person=second%40contoso.com"))
        .await
        .body;
    assert!(by_person.contains("paused ActiveCampaign") && !by_person.contains("role mapping of"));
    let by_action = ui
        .get(&format!("/audit?tenant={tid}&action=integration.roles"))
        .await
        .body;
    assert!(by_action.contains("role mapping of") && !by_action.contains("paused ActiveCampaign"));
    // By time: a window in the past holds nothing; a bad bound is a message, not an error page.
    let past = ui
        .get(&format!(
            "/audit?tenant={tid}&from=2020-01-01T00:00&to=2020-01-02T00:00"
        ))
        .await;
    assert_eq!(past.status, 200);
    assert!(past.body.contains("Nothing matches these filters"));
    let bad = ui.get(&format!("/audit?tenant={tid}&to=tomorrow")).await;
    assert_eq!(bad.status, 200);
    assert!(
        bad.body.contains("id=\"audit-filter-error\""),
        "{}",
        bad.body
    );
    // CSV of the same selection.
    let csv = ui
        .get(&format!("/audit.csv?tenant={tid}&action=integration.roles"))
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with("time_utc,person,action,what,changes"));
    assert!(
        csv.body.contains("added group 'Sales Managers' → Manager"),
        "{}",
        csv.body
    );
    assert!(!csv.body.contains("integration.pause"));
    // Another tenant's admin gets nothing of it.
    let t2 = s.cli(&["tenant", "create", "--name", "Fabrikam"]);
    admin(&s, "fab@fabrikam.com", "tenant-admin", t2["id"].as_str());
    let fab = Ui::new(&s.base);
    assert_eq!(fab.sign_in("fab@fabrikam.com", PASSWORD).await.status, 303);
    assert_eq!(
        fab.get(&format!("/audit.csv?tenant={tid}")).await.status,
        404
    );
    let own = fab.get("/audit").await.body;
    assert!(!own.contains("Sales team"));

    // The log takes custom UTC bounds and says what is wrong with a bad one.
    let log = ui
        .get(&format!(
            "/t/{tid}/log?from=2020-01-01T00:00&to=2020-01-01T01:00"
        ))
        .await;
    assert_eq!(log.status, 200);
    assert!(log.body.contains("value=\"2020-01-01T00:00\""));
    let bad = ui.get(&format!("/t/{tid}/log?from=yesterday")).await;
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("id=\"log-filter-error\""));
    assert_eq!(
        ui.get(&format!("/t/{tid}/log.csv?from=yesterday"))
            .await
            .status,
        400
    );
}

async fn post_setup(ui: &Ui, form: &str, token: &str, email: &str) -> common::ui::Page {
    let fields = [
        ("token", token),
        ("email", email),
        ("password", PASSWORD),
        ("confirm", PASSWORD),
    ];
    // Once an admin exists the setup page has no form: take the nonce-bound token of sign-in.
    let page = ui.get(form).await.body;
    let page = if page.contains("name=\"csrf\"") {
        page
    } else {
        ui.get("/login").await.body
    };
    ui.post_csrf(&csrf_of(&page), "/setup", &fields).await
}

/// Two instances on one database share the sign-in guards: the setup link printed by one
/// works on the other, exactly once; five failed sign-ins spread over both lock the email on
/// both.
async fn two_instances_share_the_setup_link_and_throttling(s: TestServer) {
    let first = s.setup_url().await;
    let two = s.another_instance().await;
    // The second instance prints a working link of its own too.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.setup_urls().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "instance two printed no setup link"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = s.setup_urls()[1].clone();
    assert_ne!(first, second);
    let path = |url: &str| url[url.find("/setup").unwrap()..].to_string();
    let (path_one, path_two) = (path(&first), path(&second));
    let on_two = Ui::new(&two.base);
    assert_eq!(
        on_two.get(&path_two).await.status,
        200,
        "instance two's own link"
    );
    assert_eq!(
        on_two.get(&path_one).await.status,
        200,
        "instance one's link, on two"
    );
    let token = path_one.split("token=").nth(1).unwrap().to_string();
    let ok = post_setup(&on_two, &path_one, &token, "root@example.com").await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.location.as_deref(), Some("/tenants"));
    // Exactly once: not again on either instance, and instance two's own link is spent too.
    let on_one = Ui::new(&s.base);
    assert_eq!(
        post_setup(&on_one, &path_one, &token, "again@example.com")
            .await
            .status,
        403
    );
    assert_eq!(
        post_setup(&Ui::new(&two.base), &path_one, &token, "again@example.com")
            .await
            .status,
        403
    );
    assert_eq!(Ui::new(&two.base).get(&path_two).await.status, 403);
    let store = s.store().await;
    assert_eq!(store.count_staff_users().await.unwrap(), 1);
    assert!(
        !store
            .setup_token_valid(&token, store::now_ms())
            .await
            .unwrap()
    );

    // Failed sign-ins: three on one, two on two → locked on both, even with the password.
    let (a1, a2) = (Ui::new(&s.base), Ui::new(&two.base));
    for (ui, n) in [(&a1, 3), (&a2, 2)] {
        for _ in 0..n {
            let p = ui.sign_in("root@example.com", "guess guess guess").await;
            assert_eq!(p.status, 401);
        }
    }
    for ui in [&a1, &a2] {
        let locked = ui.sign_in("root@example.com", PASSWORD).await;
        assert_eq!(locked.status, 429, "{}", locked.body);
        assert!(locked.body.contains("Too many failed sign-ins"));
    }
    // Another account is not locked (the address has its own, higher limit).
    admin(&s, "other@example.com", "platform-admin", None);
    assert_eq!(a2.sign_in("other@example.com", PASSWORD).await.status, 303);
}

/// The link in a staff page that shows a one-time link (`#staff-link`).
fn link_in(body: &str) -> String {
    let marker = "id=\"staff-link\" type=\"text\" readonly value=\"";
    let start = body.find(marker).expect("a link on the page") + marker.len();
    body[start..][..body[start..].find('"').unwrap()].replace("&amp;", "&")
}

/// Staff management over HTTP on both databases: invitations and reset links (hashed, one-time,
/// CSRF-checked), a tenant admin's limits, the last platform admin kept, the CLI's same rules,
/// error pages inside the shell for signed-in staff and plain for others.
async fn staff_management(s: TestServer) {
    admin(&s, "root@example.com", "platform-admin", None);
    let a = s.cli(&["tenant", "create", "--name", "Alpha"]);
    let b = s.cli(&["tenant", "create", "--name", "Beta"]);
    let (ta, tb) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let root = Ui::new(&s.base);
    assert_eq!(root.sign_in("root@example.com", PASSWORD).await.status, 303);

    // Without the CSRF token nothing is created.
    let forged = root
        .post_raw(
            "/staff",
            &[("email", "x@example.com"), ("role", "support")],
            None,
        )
        .await;
    assert_eq!(forged.status, 403);
    // Bad input: a form error, nothing created.
    let bad = root
        .post(
            "/staff",
            "/staff",
            &[("email", "not-an-email"), ("role", "support")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"form-error\""), "{}", bad.body);
    let no_tenant = root
        .post(
            "/staff",
            "/staff",
            &[("email", "t@example.com"), ("role", "tenant_admin")],
        )
        .await;
    assert_eq!(no_tenant.status, 422);
    assert!(no_tenant.body.contains("choose it"));

    // An invitation: the link is on the page once; only its hash is stored.
    let invited = root
        .post(
            "/staff",
            "/staff",
            &[
                ("email", "alpha@example.com"),
                ("role", "tenant_admin"),
                ("tenant", ta),
            ],
        )
        .await;
    assert_eq!(invited.status, 200, "{}", invited.body);
    let link = link_in(&invited.body);
    let token = link.split("token=").nth(1).unwrap().to_string();
    assert!(
        !root.get("/staff").await.body.contains(&token),
        "shown once"
    );
    let store = s.store().await;
    let account = store
        .find_staff_by_email("alpha@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(!account.has_password());
    // Not signed in yet: the account cannot sign in.
    let alpha = Ui::new(&s.base);
    assert_eq!(alpha.sign_in("alpha@example.com", "").await.status, 401);
    let path = &link[link.find("/account/set-password").unwrap()..];
    assert_eq!(
        alpha.get("/account/set-password?token=nope").await.status,
        403
    );
    let form = alpha.get(path).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("alpha@example.com"));
    let weak = alpha
        .post(
            path,
            "/account/set-password",
            &[
                ("token", &token),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, 422);
    let set = alpha
        .post(
            path,
            "/account/set-password",
            &[
                ("token", &token),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    assert_eq!(
        alpha.get(&format!("/t/{ta}/integrations")).await.status,
        200,
        "signed in"
    );
    assert_eq!(alpha.get(path).await.status, 403, "used once");

    // A tenant admin: their tenant's admins only; no higher role; not another tenant.
    let mine = alpha.get("/staff").await;
    assert_eq!(mine.status, 200);
    assert!(!mine.body.contains("root@example.com"));
    let higher = alpha
        .post(
            "/staff",
            "/staff",
            &[("email", "boss@example.com"), ("role", "platform_admin")],
        )
        .await;
    assert_eq!(higher.status, 403);
    let other = alpha
        .post(
            "/staff",
            "/staff",
            &[
                ("email", "b2@example.com"),
                ("role", "tenant_admin"),
                ("tenant", tb),
            ],
        )
        .await;
    assert_eq!(other.status, 403);
    assert!(
        store
            .find_staff_by_email("b2@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let colleague = alpha
        .post(
            "/staff",
            "/staff",
            &[("email", "a2@example.com"), ("role", "tenant_admin")],
        )
        .await;
    assert_eq!(colleague.status, 200, "{}", colleague.body);
    let a2 = store
        .find_staff_by_email("a2@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a2.tenant_id.as_deref(), Some(ta), "into their own tenant");
    let root_id = store
        .find_staff_by_email("root@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    let csrf = csrf_of(&alpha.get("/staff").await.body);
    for action in ["remove", "link", "status"] {
        let p = alpha
            .post_csrf(
                &csrf,
                &format!("/staff/{root_id}/{action}"),
                &[("action", "disable")],
            )
            .await;
        assert_eq!(p.status, 404, "{action}: the root account is not theirs");
    }
    // Their own account: a form error, not a lockout.
    let own = alpha
        .post_csrf(&csrf, &format!("/staff/{}/remove", account.id), &[])
        .await;
    assert_eq!(own.status, 303);
    assert!(store.get_staff_user(&account.id).await.unwrap().is_some());
    // Error pages keep the shell when signed in, and are plain otherwise.
    let nf = alpha.get(&format!("/t/{tb}/integrations")).await;
    assert_eq!(nf.status, 404);
    assert!(nf.body.contains("class=\"sidebar\"") && nf.body.contains("alpha@example.com"));
    let anon = Ui::new(&s.base);
    let plain = anon
        .post_raw("/login", &[("email", "x"), ("password", "y")], None)
        .await;
    assert_eq!(plain.status, 403);
    assert!(!plain.body.contains("class=\"sidebar\""));

    // Role change, reset link, removal; the last platform admin is kept.
    let csrf = csrf_of(&root.get("/staff").await.body);
    let changed = root
        .post_csrf(
            &csrf,
            &format!("/staff/{}/role", a2.id),
            &[("role", "support"), ("tenant", "")],
        )
        .await;
    assert_eq!(changed.status, 303);
    let a2 = store.get_staff_user(&a2.id).await.unwrap().unwrap();
    assert_eq!(
        (a2.role, a2.tenant_id.as_deref()),
        (store::StaffRole::Support, None)
    );
    let reset = root
        .post_csrf(&csrf, &format!("/staff/{}/link", account.id), &[])
        .await;
    assert_eq!(reset.status, 200);
    assert!(
        reset
            .body
            .contains("Password-reset link for alpha@example.com")
    );
    let demote_self = root
        .post_csrf(
            &csrf,
            &format!("/staff/{root_id}/role"),
            &[("role", "support")],
        )
        .await;
    assert_eq!(demote_self.status, 303);
    assert_eq!(
        store.get_staff_user(&root_id).await.unwrap().unwrap().role,
        store::StaffRole::PlatformAdmin
    );
    let err = s.cli_fails(&[
        "admin",
        "set-role",
        "--email",
        "root@example.com",
        "--role",
        "support",
    ]);
    assert!(err.contains("last platform admin"), "{err}");
    let gone = root
        .post_csrf(&csrf, &format!("/staff/{}/remove", account.id), &[])
        .await;
    assert_eq!(gone.status, 303);
    assert!(store.get_staff_user(&account.id).await.unwrap().is_none());
    assert_eq!(
        alpha.get(&format!("/t/{ta}/integrations")).await.status,
        303,
        "signed out"
    );

    // The CLI: invite and reset links, with the same rules.
    let cli = s.cli(&[
        "admin",
        "invite",
        "--email",
        "ops@example.com",
        "--role",
        "platform-admin",
    ]);
    assert_eq!(cli["purpose"], "invite");
    assert!(
        cli["link"]
            .as_str()
            .unwrap()
            .contains("/account/set-password?token=")
    );
    let again = s.cli(&["admin", "reset-link", "--email", "ops@example.com"]);
    assert_eq!(
        again["purpose"], "invite",
        "no password yet: a new invitation"
    );
    let old = cli["link"].as_str().unwrap();
    let old_path = &old[old.find("/account/set-password").unwrap()..];
    assert_eq!(
        anon.get(old_path).await.status,
        403,
        "replaced by the new link"
    );
    let audit = root.get("/audit").await.body.replace("&#39;", "'");
    for sentence in [
        "root@example.com invited alpha@example.com as tenant administrator",
        "alpha@example.com accepted their invitation and set a password",
        "alpha@example.com invited a2@example.com as tenant administrator",
        "root@example.com made a2@example.com a support",
        "root@example.com removed the tenant administrator account of alpha@example.com",
        "cli invited ops@example.com as platform administrator",
        "alpha@example.com signed in (invitation link)",
    ] {
        assert!(audit.contains(sentence), "{sentence}");
    }
    // Where two-step sign-in is required, the invitee enrols right after setting a password.
    store
        .set_totp_required(store::PLATFORM_SCOPE, true, store::now_ms())
        .await
        .unwrap();
    let new_link = again["link"].as_str().unwrap();
    let new_path = &new_link[new_link.find("/account/set-password").unwrap()..];
    let new_token = new_path.split("token=").nth(1).unwrap();
    let ops = Ui::new(&s.base);
    let set = ops
        .post(
            new_path,
            "/account/set-password",
            &[
                ("token", new_token),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(set.status, 303);
    assert_eq!(
        ops.get("/").await.location.as_deref(),
        Some("/account/totp")
    );
}

on_both_backends!(
    first_run_setup,
    two_instances_share_the_setup_link_and_throttling,
    sign_in_throttling_and_password_change,
    csrf_and_origin_are_checked,
    tenant_isolation_and_read_only_support,
    tokens_rotate_from_the_ui,
    support_views_are_scoped,
    pause_resume_and_delete,
    audit_log_in_sentences,
    staff_management,
);
