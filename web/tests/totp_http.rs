//! Staff TOTP over real HTTP on SQLite and PostgreSQL: enrolment (QR, secret, recovery codes
//! shown once), sign-in with a code, a replayed code refused, a recovery code used once,
//! failed codes throttled, disabling, enforcement per tenant and by config, and the CLI reset.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::ui::{PASSWORD, Page, Ui, admin, csrf_of};
use common::{ServeOptions, TestServer};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let i = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len();
    &html[i..][..html[i..].find(end).unwrap()]
}

/// The secret shown on the enrolment page.
fn secret_of(page: &Page) -> Vec<u8> {
    scimbridge::totp::secret_from_base32(between(&page.body, "id=\"totp-secret\">", "<")).unwrap()
}

fn recovery_codes(page: &Page) -> Vec<String> {
    page.body
        .split("class=\"recovery-code\">")
        .skip(1)
        .map(|s| s[..s.find('<').unwrap()].to_string())
        .collect()
}

/// The code `steps` steps from now.
fn code(secret: &[u8], steps: i64) -> String {
    scimbridge::totp::code_at(secret, (now() as i64 + 30 * steps) as u64).unwrap()
}

/// Enrols the signed-in `ui`; returns the secret, the recovery codes and the code used.
async fn enrol(ui: &Ui) -> (Vec<u8>, Vec<String>, String) {
    let page = ui.get("/account/totp").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("src=\"data:image/svg+xml;base64,"));
    let secret = secret_of(&page);
    let csrf = csrf_of(&page.body);
    let wrong = ui
        .post_csrf(&csrf, "/account/totp/enable", &[("code", "000000")])
        .await;
    // (One in a million: 000000 could be the right code.)
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    // The same secret is shown again after a wrong code.
    assert_eq!(secret_of(&wrong), secret);
    let first = code(&secret, 0);
    let done = ui
        .post_csrf(&csrf, "/account/totp/enable", &[("code", &first)])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let codes = recovery_codes(&done);
    assert_eq!(codes.len(), 10);
    (secret, codes, first)
}

/// Password, then the second step with `code`.
async fn sign_in_with(s: &TestServer, email: &str, code: &str) -> (Ui, Page) {
    let ui = Ui::new(&s.base);
    let first = ui.sign_in(email, PASSWORD).await;
    assert_eq!(first.status, 303);
    let to = first.location.unwrap();
    assert!(to.starts_with("/login/totp"), "{to}");
    // No session yet: the pending cookie opens nothing else.
    assert_eq!(ui.get("/tenants").await.status, 303);
    let step = ui
        .post(&to, "/login/totp", &[("code", code), ("next", "/tenants")])
        .await;
    (ui, step)
}

async fn enrol_sign_in_replay_recovery_disable(s: TestServer) {
    admin(&s, "ops@example.com", "platform-admin", None);
    let ui = Ui::new(&s.base);
    assert_eq!(
        ui.sign_in("ops@example.com", PASSWORD)
            .await
            .location
            .as_deref(),
        Some("/")
    );
    let (secret, codes, first) = enrol(&ui).await;
    // The secret is never shown again.
    let on = ui.get("/account/totp").await;
    assert!(on.body.contains("id=\"totp-on\""), "{}", on.body);
    assert!(!on.body.contains("totp-secret") && !on.body.contains("data:image/svg"));
    assert!(on.body.contains("10 unused recovery codes"));
    // …and it is stored sealed, not as base32 or raw bytes.
    let store = s.store().await;
    assert!(
        store
            .totp_enabled(
                &store
                    .find_staff_by_email("ops@example.com")
                    .await
                    .unwrap()
                    .unwrap()
                    .id
            )
            .await
            .unwrap()
    );

    // The code used to enrol cannot sign in again (its step is spent).
    let (_, replay) = sign_in_with(&s, "ops@example.com", &first).await;
    assert_eq!(replay.status, 401, "{}", replay.body);
    // The next step's code works once.
    let next = code(&secret, 1);
    let (signed, ok) = sign_in_with(&s, "ops@example.com", &next).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.location.as_deref(), Some("/tenants"));
    assert_eq!(signed.get("/tenants").await.status, 200);
    let (_, again) = sign_in_with(&s, "ops@example.com", &next).await;
    assert_eq!(again.status, 401, "replayed code refused");
    // An older step's code is refused too once a newer one was used.
    let (_, older) = sign_in_with(&s, "ops@example.com", &code(&secret, -1)).await;
    assert_eq!(older.status, 401);

    // A recovery code signs in exactly once (any case, dashes optional).
    let lower = codes[0].to_lowercase().replace('-', "");
    let (_, rec) = sign_in_with(&s, "ops@example.com", &lower).await;
    assert_eq!(rec.status, 303, "{}", rec.body);
    let (_, rec2) = sign_in_with(&s, "ops@example.com", &codes[0]).await;
    assert_eq!(rec2.status, 401);
    assert!(
        ui.get("/account/totp")
            .await
            .body
            .contains("9 unused recovery codes")
    );

    // Disabling needs the password and a code.
    let page = ui.get("/account/totp").await;
    let csrf = csrf_of(&page.body);
    let bad = ui
        .post_csrf(
            &csrf,
            "/account/totp/disable",
            &[("password", "wrong password!!"), ("code", &codes[1])],
        )
        .await;
    assert_eq!(bad.status, 422);
    let off = ui
        .post_csrf(
            &csrf,
            "/account/totp/disable",
            &[("password", PASSWORD), ("code", &codes[1])],
        )
        .await;
    assert_eq!(off.status, 303, "{}", off.body);
    // The password alone signs in again.
    let plain = Ui::new(&s.base);
    assert_eq!(
        plain
            .sign_in("ops@example.com", PASSWORD)
            .await
            .location
            .as_deref(),
        Some("/")
    );
    let audit = ui.get("/audit").await.body;
    for action in [
        "staff.totp_enable",
        "staff.totp_recovery_code_used",
        "staff.totp_disable",
    ] {
        assert!(audit.contains(action), "{action} audited");
    }
}

async fn enforcement_throttling_and_cli_reset(s: TestServer) {
    let tid = s.cli(&["tenant", "create", "--name", "Acme"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    admin(&s, "ops@example.com", "platform-admin", None);
    admin(&s, "ta@example.com", "tenant-admin", Some(&tid));
    let ops = Ui::new(&s.base);
    ops.sign_in("ops@example.com", PASSWORD).await;
    let ta = Ui::new(&s.base);
    ta.sign_in("ta@example.com", PASSWORD).await;
    let integrations = format!("/t/{tid}/integrations");
    assert_eq!(ta.get(&integrations).await.status, 200);

    // A tenant admin may not change the platform-wide requirement.
    let denied = ta
        .post(
            "/security/totp",
            "/security/totp",
            &[("scope", "platform"), ("required", "true")],
        )
        .await;
    assert_eq!(denied.status, 403);
    // The platform admin requires TOTP for the tenant.
    let set = ops
        .post(
            "/security/totp",
            "/security/totp",
            &[("scope", &tid), ("required", "true")],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    assert!(ops.get("/security/totp").await.body.contains("required"));
    // Platform staff are not affected…
    assert_eq!(ops.get("/tenants").await.status, 200);
    // …the tenant's staff can do nothing but enrol.
    for path in [integrations.as_str(), "/", "/audit", "/account/password"] {
        let p = ta.get(path).await;
        assert_eq!(
            (p.status, p.location.as_deref()),
            (303, Some("/account/totp")),
            "{path}"
        );
    }
    let enrol_page = ta.get("/account/totp").await;
    assert!(enrol_page.body.contains("id=\"totp-required\""));
    let (secret, _, _) = enrol(&ta).await;
    assert_eq!(ta.get(&integrations).await.status, 200);

    // Failed codes count toward sign-in throttling: five wrong codes lock the account, and a
    // correct password does not reset the count.
    let fresh = Ui::new(&s.base);
    let to = fresh
        .sign_in("ta@example.com", PASSWORD)
        .await
        .location
        .unwrap();
    let csrf = csrf_of(&fresh.get(&to).await.body);
    for _ in 0..5 {
        let wrong = fresh
            .post_csrf(&csrf, "/login/totp", &[("code", "000001")])
            .await;
        assert_eq!(wrong.status, 401);
    }
    let locked = fresh
        .post_csrf(&csrf, "/login/totp", &[("code", &code(&secret, 1))])
        .await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    // The password step is locked too.
    assert_eq!(
        Ui::new(&s.base)
            .sign_in("ta@example.com", PASSWORD)
            .await
            .status,
        429
    );

    // The lock holds inside an existing session too: no code guessing through the account page.
    let regen = ta
        .post(
            "/account/totp",
            "/account/totp/recovery",
            &[("code", &code(&secret, 1))],
        )
        .await;
    assert_eq!(regen.status, 403, "{}", regen.body);

    // The CLI escape hatch removes the second factor.
    let out = s.cli(&["admin", "reset-totp", "--email", "TA@example.com"]);
    assert_eq!(out["totp_reset"], true);
    assert_eq!(out["email"], "ta@example.com");
    let store = s.store().await;
    let id = store
        .find_staff_by_email("ta@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(!store.totp_enabled(&id).await.unwrap());
    assert!(
        s.cli_fails(&["admin", "reset-totp", "--email", "nobody@example.com"])
            .contains("no staff account")
    );
    // Still required: the existing session is sent back to enrolment.
    assert_eq!(
        ta.get(&integrations).await.location.as_deref(),
        Some("/account/totp")
    );
}

async fn required_by_config(s: TestServer) {
    admin(&s, "ops@example.com", "platform-admin", None);
    let ui = Ui::new(&s.base);
    assert_eq!(ui.sign_in("ops@example.com", PASSWORD).await.status, 303);
    let p = ui.get("/tenants").await;
    assert_eq!(p.location.as_deref(), Some("/account/totp"));
    assert!(ui.get("/security/totp").await.location.as_deref() == Some("/account/totp"));
    enrol(&ui).await;
    assert_eq!(ui.get("/tenants").await.status, 200);
    assert!(
        ui.get("/security/totp")
            .await
            .body
            .contains("id=\"totp-by-config\"")
    );
}

mod sqlite {
    use super::*;
    use common::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enrol_sign_in_replay_recovery_disable() {
        super::enrol_sign_in_replay_recovery_disable(
            TestServer::start(Backend::Sqlite).await.unwrap(),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enforcement_throttling_and_cli_reset() {
        super::enforcement_throttling_and_cli_reset(
            TestServer::start(Backend::Sqlite).await.unwrap(),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn required_by_config() {
        let s = TestServer::start_with(
            Backend::Sqlite,
            ServeOptions::env(&[("SCIMBRIDGE_REQUIRE_TOTP", "true")]),
        )
        .await
        .unwrap();
        super::required_by_config(s).await;
    }
}

mod postgres {
    use super::*;
    use common::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enrol_sign_in_replay_recovery_disable() {
        match TestServer::start(Backend::Postgres).await {
            Some(s) => super::enrol_sign_in_replay_recovery_disable(s).await,
            None => eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enforcement_throttling_and_cli_reset() {
        match TestServer::start(Backend::Postgres).await {
            Some(s) => super::enforcement_throttling_and_cli_reset(s).await,
            None => eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn required_by_config() {
        let opts = ServeOptions::env(&[("SCIMBRIDGE_REQUIRE_TOTP", "true")]);
        match TestServer::start_with(Backend::Postgres, opts).await {
            Some(s) => super::required_by_config(s).await,
            None => eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set"),
        }
    }
}
