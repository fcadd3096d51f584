//! The admin UI end to end in headless Chromium through WebDriver (Debian `chromium` +
//! `chromium-driver`; `scripts/test` installs them): first-run setup → sign in → Add Integration
//! against the fake ActiveCampaign → test connection → map roles → activate → the shown token
//! provisions a user with the mapped role. Then CSRF rejection, a tenant admin blocked by URL,
//! and read-only support staff. Screenshots of every step go to `target/ui-screenshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::{Backend, TestServer};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::fake_activecampaign::{AccountConfig, FakeActiveCampaign, FakeConfig};

const PASSWORD: &str = "correct horse battery staple";
const AC_KEY: &str = "ac-key-of-owner";

/// chromedriver on a free port; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_binary(candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

async fn start_driver() -> Driver {
    let bin = find_binary(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]).expect(
        "chromedriver is missing: install Debian's chromium and chromium-driver (scripts/test does)",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{url}/status")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver { child, url }
}

async fn browser(driver: &Driver) -> Client {
    let chromium = find_binary(&["/usr/bin/chromium", "/usr/bin/chromium-browser"])
        .expect("chromium is missing: install Debian's chromium (scripts/test does)");
    let profile = tempfile::tempdir().unwrap().keep();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    // Two TLS providers are compiled in (ring and aws-lc); WebDriver is plain http anyway.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("WebDriver session");
    c.set_window_size(1280, 800).await.unwrap();
    c
}

fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// axe-core (MPL-2.0, vendored for tests only: `tests/assets/README.md`).
const AXE: &str = include_str!("assets/axe.min.js");

/// Runs axe-core in the page: no serious or critical accessibility violation is allowed.
async fn accessible(c: &Client, page: &str) {
    let loaded = c
        .execute("return typeof window.axe === 'object';", vec![])
        .await
        .unwrap();
    if loaded != json!(true) {
        c.execute(&format!("{AXE}\nreturn true;"), vec![])
            .await
            .unwrap();
    }
    let found = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            axe.run(document, {resultTypes: ['violations']}).then(function (r) {
              done(r.violations
                .filter(function (v) { return v.impact === 'serious' || v.impact === 'critical'; })
                .map(function (v) {
                  return v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                    v.nodes.slice(0, 3).map(function (n) { return n.target.join(' ') + ' ' + (n.failureSummary || ''); }).join(' | ');
                }));
            }).catch(function (e) { done(['axe failed: ' + e]); });"#,
            vec![],
        )
        .await
        .unwrap();
    let list: Vec<String> = serde_json::from_value(found).unwrap();
    assert!(
        list.is_empty(),
        "{page}: accessibility violations:\n{}",
        list.join("\n")
    );
}

/// The screenshots `docs/setup-guide.md` shows, by the name the tests take them under. They
/// are written to `docs/screenshots/` when `SCIMBRIDGE_DOC_SCREENSHOTS=1` is set:
/// `SCIMBRIDGE_DOC_SCREENSHOTS=1 cargo nextest run -p scimbridge --test ui_browser`.
const DOC_SHOTS: &[(&str, &str)] = &[
    ("41-log-filtered-by-user", "log.png"),
    ("42-trace", "trace.png"),
    ("45-users-tab", "users.png"),
    ("54-audit-staff", "audit-log.png"),
];

/// A screenshot of the page, after checking it with axe-core (every page the tests show).
async fn shot(c: &Client, name: &str) {
    if name != "failure" {
        accessible(c, name).await;
    }
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots_dir().join(format!("{name}.png")), &png).unwrap();
    if std::env::var("SCIMBRIDGE_DOC_SCREENSHOTS").as_deref() == Ok("1")
        && let Some((_, file)) = DOC_SHOTS.iter().find(|(n, _)| *n == name)
    {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(file), &png).unwrap();
    }
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(e) => e,
        Err(e) => {
            shot(c, "failure").await;
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let page = c.source().await.unwrap_or_default();
            let text: String = page.chars().take(3000).collect();
            panic!("waiting for {css}: {e}\nat {url}\n{text}")
        }
    }
}

/// Waits until the page's source contains `needle` (a navigation may still be under way).
/// Waits until the browser's URL contains `fragment` (e.g. a submitted GET form's query), so
/// that what is read next is the new page and not the one the form was on.
async fn wait_url(c: &Client, fragment: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = c
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        if url.contains(fragment) {
            return;
        }
        if Instant::now() > deadline {
            shot(c, "failure").await;
            panic!("the URL never contained {fragment:?}: {url}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_text(c: &Client, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = c.source().await.unwrap_or_default();
        if page.contains(needle) {
            return page;
        }
        if Instant::now() > deadline {
            shot(c, "failure").await;
            panic!(
                "page never contained {needle:?}:\n{}",
                page.chars().take(3000).collect::<String>()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    wait_for(c, css).await.text().await.unwrap()
}

async fn value_of(c: &Client, css: &str) -> String {
    wait_for(c, css)
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

async fn sign_in(c: &Client, base: &str, email: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "#email", email).await;
    fill(c, "#password", PASSWORD).await;
    click(c, "form[action='/login'] button[type=submit]").await;
    wait_for(c, ".topbar").await;
}

async fn sign_out(c: &Client, base: &str) {
    c.goto(&format!("{base}/account/password")).await.unwrap();
    wait_for(c, "form[action='/logout'] button").await;
    click(c, "form[action='/logout'] button").await;
    wait_for(c, "#email").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_integration_end_to_end_in_a_browser() {
    let fake = FakeActiveCampaign::start(FakeConfig::default().account(
        AccountConfig::new("acme", AC_KEY).groups(["Admin", "Manager", "User", "No access"]),
    ))
    .await;
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    let driver = start_driver().await;
    let c = browser(&driver).await;
    let base = s.base.clone();

    // First run: the printed link creates the platform admin and signs in.
    let setup = s.setup_url().await;
    c.goto(&setup).await.unwrap();
    wait_for(&c, "#email").await;
    shot(&c, "01-first-run-setup").await;
    fill(&c, "#email", "admin@example.com").await;
    fill(&c, "#password", PASSWORD).await;
    fill(&c, "#confirm", PASSWORD).await;
    click(&c, "form[action='/setup'] button[type=submit]").await;
    assert!(text_of(&c, "#flash").await.contains("Welcome"));
    shot(&c, "02-tenants-empty").await;

    // Tenants: Acme (ours) and Beta (another customer).
    for name in ["Beta", "Acme"] {
        c.goto(&format!("{base}/tenants")).await.unwrap();
        if c.find(Locator::Css("details.card[open]")).await.is_err() {
            click(&c, "details.card summary").await;
        }
        fill(&c, "#tenant-name", name).await;
        click(&c, "form[action='/tenants'] button[type=submit]").await;
        wait_for(&c, "#flash").await;
    }
    shot(&c, "03-integrations-empty").await;
    let url = c.current_url().await.unwrap();
    let acme_path = url.path().to_string(); // /t/<acme>/integrations

    // Step 1: connector cards.
    click(&c, "#add-integration").await;
    wait_for(&c, "#choose-activecampaign").await;
    shot(&c, "wizard-1-connector").await;
    click(&c, "#choose-activecampaign").await;

    // Step 2: connection, with a failing and then a passing test.
    wait_for(&c, "#connection-form").await;
    fill(&c, "#name", "Acme ActiveCampaign").await;
    fill(&c, "#f-base_url", fake.base_url()).await;
    fill(&c, "#f-api_key", "wrong-key").await;
    click(&c, "#test-connection").await;
    let outcome = wait_for(&c, "#test-outcome[data-ok='false']").await;
    let said = outcome.text().await.unwrap();
    // One sentence from the target; the layers behind a toggle.
    assert!(
        said.contains("ActiveCampaign rejected the API key (HTTP 403)"),
        "{said}"
    );
    assert!(
        c.find(Locator::Css("#test-outcome details.error-details"))
            .await
            .is_ok()
    );
    shot(&c, "wizard-2-connection-refused").await;
    fill(&c, "#f-api_key", AC_KEY).await;
    click(&c, "#test-connection").await;
    let ok = wait_for(&c, "#test-outcome[data-ok='true']").await;
    assert!(
        ok.text()
            .await
            .unwrap()
            .contains("Connected to ActiveCampaign account")
    );
    shot(&c, "wizard-2-connection").await;
    click(&c, "#save-connection").await;

    // Step 3: roles from the live target; two rules; preview.
    wait_for(&c, "#roles-form").await;
    let default_role = c.find(Locator::Css("select#default-role")).await.unwrap();
    let options = default_role.text().await.unwrap();
    for g in ["Admin", "Manager", "User", "No access"] {
        assert!(options.contains(g), "live roles in the dropdown: {options}");
    }
    default_role.select_by_value("User").await.unwrap();
    c.find(Locator::Css("#rk-new0"))
        .await
        .unwrap()
        .select_by_value("group")
        .await
        .unwrap();
    fill(&c, "#rv-new0", "Sales Managers").await;
    fill(&c, "#rr-new0", "Manager").await;
    c.find(Locator::Css("#rk-new1"))
        .await
        .unwrap()
        .select_by_value("app_role")
        .await
        .unwrap();
    fill(&c, "#rv-new1", "Admin").await;
    fill(&c, "#rr-new1", "Admin").await;
    // Reorder: the app-role rule first.
    click(&c, "#rules-body tr:nth-child(2) button[data-move='up']").await;
    assert_eq!(
        value_of(&c, "#rules-body tr:nth-child(1) input[name='rule_value']").await,
        "Admin"
    );
    click(&c, "#preview-rules").await;
    let preview = text_of(&c, "#preview-result").await;
    assert!(
        preview.contains("Rule 1") && preview.contains("Admin"),
        "{preview}"
    );
    shot(&c, "wizard-3-roles").await;
    click(&c, "#save-roles").await;

    // Step 4: policy. ActiveCampaign lists "No access": it is chosen for deactivated users,
    // and the page says so.
    wait_for(&c, "#policy-form").await;
    assert!(
        text_of(&c, "#deprovision-suggestion")
            .await
            .contains("No access")
    );
    assert_eq!(
        value_of(&c, "input[name='deprovision']:checked").await,
        "role"
    );
    assert_eq!(value_of(&c, "select#deprovision-role").await, "No access");
    click(&c, "input[name='deprovision'][value='role']").await;
    c.find(Locator::Css("select#deprovision-role"))
        .await
        .unwrap()
        .select_by_value("No access")
        .await
        .unwrap();
    click(&c, "input[name='mode'][value='live']").await;
    shot(&c, "wizard-4-policy").await;
    click(&c, "#save-policy").await;

    // Step 5: review and activate; the token shows once; the self-test passes.
    wait_for(&c, "#activate").await;
    // The Review step lists the rules in order and warns that an http / loopback Tenant URL
    // will not do for Entra.
    let rules = text_of(&c, "ol.rules").await;
    assert!(
        rules.find("Admin").unwrap() < rules.find("Manager").unwrap(),
        "{rules}"
    );
    assert!(
        text_of(&c, "#tenant-url-warning")
            .await
            .contains("SCIMBRIDGE_PUBLIC_URL")
    );
    shot(&c, "wizard-5-review").await;
    click(&c, "#activate").await;
    wait_for(&c, "#activated").await;
    let token = value_of(&c, "#token-value").await;
    let scim_url = value_of(&c, "#scim-url").await;
    assert!(token.starts_with("scb_"), "{token}");
    assert_eq!(
        value_of(&c, "#scim-url-aad").await,
        format!("{scim_url}?aadOptscim062020")
    );
    click(&c, "#run-selftest").await;
    let checks = text_of(&c, "#selftest-checks").await;
    assert!(!checks.contains('✗'), "{checks}");
    assert_eq!(checks.matches('✓').count(), 3, "{checks}");
    shot(&c, "wizard-5-activated").await;

    // The shown token works: a user with the Entra app role Admin reaches the fake as Admin.
    let r = s
        .http
        .post(format!("{scim_url}/Users?aadOptscim062020"))
        .bearer_auth(&token)
        .header("Content-Type", "application/scim+json")
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada@acme.example", "active": true, "externalId": "ada",
            "emails": [{"primary": true, "type": "work", "value": "ada@acme.example"}],
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "roles": [{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let snap = fake.account_state("acme").unwrap();
        let group = snap
            .users
            .iter()
            .find(|u| u.email == "ada@acme.example")
            .and_then(|u| u.group_id.clone())
            .and_then(|gid| {
                snap.groups
                    .iter()
                    .find(|g| g.id == gid)
                    .map(|g| g.title.clone())
            });
        if group.as_deref() == Some("Admin") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "user never reached the fake as Admin: {snap:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The overview shows it, also on a phone.
    click(&c, "#to-overview").await;
    wait_for(&c, ".stats").await;
    c.refresh().await.unwrap();
    let stats = text_of(&c, ".stats").await;
    assert!(stats.contains('1'), "{stats}");
    shot(&c, "10-overview").await;
    c.set_window_size(390, 844).await.unwrap();
    shot(&c, "11-overview-phone").await;
    c.goto(&format!("{base}{acme_path}")).await.unwrap();
    wait_for(&c, "table").await;
    shot(&c, "12-integrations-phone").await;
    c.set_window_size(1280, 800).await.unwrap();
    c.goto(&format!("{base}{acme_path}")).await.unwrap();
    shot(&c, "13-integrations").await;
    let overview_url = format!(
        "{base}{}",
        acme_path.trim_end_matches("/integrations").to_string() + "/integrations/"
    );
    let integration_link = c
        .find(Locator::Css("table a"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(format!("{base}{integration_link}").starts_with(&overview_url));
    let integration_url = format!("{base}{integration_link}");

    // CSRF: a forged token changes nothing.
    c.goto(&format!("{integration_url}/policy")).await.unwrap();
    wait_for(&c, "#policy-form").await;
    c.execute(
        "document.querySelector('#policy-form input[name=csrf]').value = 'forged';",
        vec![],
    )
    .await
    .unwrap();
    click(&c, "input[name='mode'][value='dry_run']").await;
    click(&c, "#save-policy").await;
    wait_text(&c, "Form expired").await;
    shot(&c, "20-csrf-rejected").await;
    let store = s.store().await;
    let acme_id = acme_path.split('/').nth(2).unwrap().to_string();
    let iid = integration_link.rsplit('/').next().unwrap().to_string();
    let i = store
        .get_integration(&acme_id, &iid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        i.mode,
        store::IntegrationMode::Live,
        "forged form changed nothing"
    );

    // Staff: a tenant admin of Beta and a support engineer (invitations are tested in
    // `staff_are_invited_reset_changed_and_removed_in_a_browser`).
    let beta_id = store
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name == "Beta")
        .unwrap()
        .id;
    for (email, role, tenant) in [
        (
            "beta-admin@example.com",
            "tenant-admin",
            Some(beta_id.as_str()),
        ),
        ("support@example.com", "support", None),
    ] {
        let mut args = vec!["admin", "create", "--email", email, "--role", role];
        if let Some(t) = tenant {
            args.extend(["--tenant", t]);
        }
        let (ok, out, err) = s.cli_stdin(&args, PASSWORD);
        assert!(ok, "{out}{err}");
    }
    c.goto(&format!("{base}/staff")).await.unwrap();
    wait_for(&c, "#staff-table").await;
    shot(&c, "30-staff").await;
    sign_out(&c, &base).await;

    // Beta's admin types Acme's integration URL: not found, nothing of it shown.
    sign_in(&c, &base, "beta-admin@example.com").await;
    c.goto(&integration_url).await.unwrap();
    let page = wait_text(&c, "Not found").await;
    assert!(!page.contains("Acme ActiveCampaign"));
    // The error page keeps the shell: navigation and who is signed in.
    wait_for(&c, "#error-page[data-status='404']").await;
    assert!(
        text_of(&c, ".topbar .who")
            .await
            .contains("beta-admin@example.com")
    );
    assert!(
        c.find(Locator::Css(&format!(
            "aside.sidebar a[href='/t/{beta_id}/integrations']"
        )))
        .await
        .is_ok()
    );
    shot(&c, "31-tenant-admin-blocked").await;
    sign_out(&c, &base).await;

    // Support sees the settings read-only; forcing the form through is refused.
    sign_in(&c, &base, "support@example.com").await;
    c.goto(&format!("{integration_url}/connection"))
        .await
        .unwrap();
    wait_for(&c, "#connection-form").await;
    wait_text(&c, "Read only").await;
    assert!(c.find(Locator::Css("#save-connection")).await.is_err());
    shot(&c, "32-support-read-only").await;
    c.execute(
        "document.querySelector('#connection-form fieldset').disabled = false; \
         document.querySelector('#name').value = 'Hijacked'; \
         document.querySelector('#connection-form').submit();",
        vec![],
    )
    .await
    .unwrap();
    wait_text(&c, "Not allowed").await;
    let i = store
        .get_integration(&acme_id, &iid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(i.name, "Acme ActiveCampaign");

    c.close().await.unwrap();
}

/// Issue 6: a create the target refuses (422) is found by filtering the log by userName, its
/// trace shows the target's own message, and a retry after fixing the mapping succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_create_is_found_traced_and_retried_in_a_browser() {
    let fake = FakeActiveCampaign::start(
        FakeConfig::default()
            .account(AccountConfig::new("acme", AC_KEY).groups(["User", "Contractors"])),
    )
    .await;
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    let (ok, out, err) = s.cli_stdin(
        &[
            "admin",
            "create",
            "--email",
            "ops@example.com",
            "--role",
            "platform-admin",
        ],
        PASSWORD,
    );
    assert!(ok, "{out}{err}");
    let tenant = s.cli(&["tenant", "create", "--name", "Acme"]);
    let tid = tenant["id"].as_str().unwrap().to_string();
    let base_url = format!("base_url={}", fake.base_url());
    let key = format!("api_key={AC_KEY}");
    let created = s.cli(&[
        "integration",
        "create",
        "--tenant",
        &tid,
        "--name",
        "Acme AC",
        "--connector",
        "activecampaign",
        "--setting",
        &base_url,
        "--secret",
        &key,
        "--default-role",
        "User",
        "--role-rule",
        "app_role:Contractor=Contractors",
        "--deprovision",
        "ignore",
    ]);
    let iid = created["id"].as_str().unwrap().to_string();
    let scim_url = created["scim_url"].as_str().unwrap().to_string();
    let token = created["token"].as_str().unwrap().to_string();
    let post_user = |name: &'static str, role: Option<&'static str>| {
        let (http, url, token) = (s.http.clone(), scim_url.clone(), token.clone());
        async move {
            let roles = role
                .map(|r| json!([{"primary": true, "value": r}]))
                .unwrap_or(json!([]));
            let r = http
                .post(format!("{url}/Users"))
                .bearer_auth(token)
                .json(&json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": name, "active": true,
                    "emails": [{"primary": true, "type": "work", "value": name}],
                    "name": {"givenName": "Carla", "familyName": "Contractor"}, "roles": roles
                }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201);
        }
    };
    let group_of = |email: &str| {
        let snap = fake.account_state("acme").unwrap();
        snap.users
            .iter()
            .find(|u| u.email == email)
            .and_then(|u| u.group_id.clone())
            .and_then(|gid| {
                snap.groups
                    .iter()
                    .find(|g| g.id == gid)
                    .map(|g| g.title.clone())
            })
    };
    let wait_group = |email: &'static str, want: &'static str| async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        while group_of(email).as_deref() != Some(want) {
            assert!(
                Instant::now() < deadline,
                "{email} never reached the fake as {want}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    // A first user makes the worker load ActiveCampaign's groups; then an admin deletes the
    // Contractors group in ActiveCampaign, so creating a contractor is refused with a 422.
    post_user("first@acme.example", None).await;
    wait_group("first@acme.example", "User").await;
    assert!(fake.remove_group_in("acme", "Contractors").unwrap());
    post_user("carla@acme.example", Some("Contractor")).await;
    let store = s.store().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.list_failed_jobs(&iid).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the create never failed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let driver = start_driver().await;
    let c = browser(&driver).await;
    let base = s.base.clone();
    sign_in(&c, &base, "ops@example.com").await;

    // The overview warns and charts the failure.
    c.goto(&format!("{base}/t/{tid}/integrations/{iid}"))
        .await
        .unwrap();
    wait_for(&c, "svg.chart").await;
    shot(&c, "40-overview-with-failure").await;

    // Find it: the log filtered by userName.
    c.goto(&format!("{base}/t/{tid}/log")).await.unwrap();
    fill(&c, "#f-user", "carla@acme.example").await;
    click(&c, "#apply-filters").await;
    // The unfiltered page shows the error too: read only once the filtered one is loaded.
    wait_url(&c, "user=carla%40acme.example").await;
    let page = wait_text(&c, "The related group does not exist").await;
    assert!(
        !page.contains("first@acme.example"),
        "the filter keeps only Carla's events"
    );
    // The log says it in one sentence of the target's, the layers behind "Details".
    let said = text_of(&c, "table.log [data-error]").await;
    assert!(
        said.starts_with("ActiveCampaign refused the request:") && said.ends_with("(HTTP 422)"),
        "{said}"
    );
    assert!(
        c.find(Locator::Css("table.log details.error-details"))
            .await
            .is_ok()
    );
    assert!(page.contains("failed"));
    shot(&c, "41-log-filtered-by-user").await;

    // Its trace: the inbound request, the role resolved by the rule, the target's message.
    let trace_link = c
        .find(Locator::Css("table.log a[href*='/trace/']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    c.goto(&format!("{base}{trace_link}")).await.unwrap();
    let error = text_of(&c, "[data-error] .error-text").await;
    assert!(
        error.starts_with("ActiveCampaign refused the request: The related group does not exist"),
        "{error}"
    );
    let trace = c.source().await.unwrap();
    assert!(
        trace.contains("POST /Users") && trace.contains("create_user"),
        "both legs shown"
    );
    assert!(
        trace.contains("Contractors") && trace.contains("app role"),
        "role and rule shown"
    );
    shot(&c, "42-trace").await;

    // Fix the mapping: contractors get User for now.
    c.goto(&format!("{base}/t/{tid}/integrations/{iid}/roles"))
        .await
        .unwrap();
    wait_for(&c, "#roles-form").await;
    fill(&c, "#rr-1", "User").await;
    click(&c, "#save-roles").await;
    assert!(text_of(&c, "#flash").await.contains("Role mappings saved"));

    // Retry it from the failed jobs page.
    c.goto(&format!("{base}/t/{tid}/jobs")).await.unwrap();
    let retry = wait_for(&c, "button[id^='retry-']:not([id^='retry-all'])").await;
    let reason = text_of(&c, ".error-text").await;
    assert!(
        reason.starts_with("ActiveCampaign refused the request: The related group does not exist"),
        "{reason}"
    );
    shot(&c, "43-failed-jobs").await;
    retry.click().await.unwrap();
    assert!(text_of(&c, "#flash").await.contains("1 job queued again"));
    wait_group("carla@acme.example", "User").await;
    assert!(store.list_failed_jobs(&iid).await.unwrap().is_empty());
    // The log names the role the retry gave (by name, not the target's group id).
    c.goto(&format!(
        "{base}/t/{tid}/log?user=carla%40acme.example&direction=outbound&status=ok"
    ))
    .await
    .unwrap();
    wait_text(&c, "role User").await;

    // The user view tells the whole story.
    c.goto(&format!("{base}/t/{tid}/integrations/{iid}/users"))
        .await
        .unwrap();
    // The Users tab names the role each account has in the target.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = text_of(&c, "table").await;
        if rows.contains("active · User") {
            break;
        }
        assert!(Instant::now() < deadline, "{rows}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.refresh().await.unwrap();
    }
    shot(&c, "45-users-tab").await;
    click(&c, "a[href*='/users/']").await;
    wait_text(&c, "History").await;
    shot(&c, "44-user-view").await;
    c.close().await.unwrap();
}

/// The deletion guard in the browser: an Entra scoping mistake is held with a red banner that
/// lists who would lose access; Discard keeps the accounts, Approve removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deletion_guard_is_approved_or_discarded_in_a_browser() {
    use common::target::{eventually, exists, post_user, wait_idle};
    let fake = FakeActiveCampaign::start(
        FakeConfig::default().account(AccountConfig::new("acme", AC_KEY).groups(["User"])),
    )
    .await;
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    let (ok, out, err) = s.cli_stdin(
        &[
            "admin",
            "create",
            "--email",
            "ops@example.com",
            "--role",
            "platform-admin",
        ],
        PASSWORD,
    );
    assert!(ok, "{out}{err}");
    let base_url = format!("base_url={}", fake.base_url());
    let key = format!("api_key={AC_KEY}");
    let ep = s.endpoint_with(
        "Acme",
        &[
            "--setting",
            &base_url,
            "--secret",
            &key,
            "--default-role",
            "User",
            "--deprovision",
            "delete",
            "--delete-guard",
            "1,10%",
        ],
    );
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(post_user(&s, &ep, &format!("guard{i}@contoso.com"), None).await);
    }
    eventually(&fake, 60, "6 users", |a| {
        (0..6).all(|i| exists(a, &format!("guard{i}@contoso.com")))
    })
    .await;
    let held_after = |from: usize, to: usize| {
        let (s, ep, ids) = (&s, &ep, &ids);
        async move {
            for id in &ids[from..to] {
                assert_eq!(
                    s.call(ep, "DELETE", &format!("/Users/{id}"), None)
                        .await
                        .status,
                    204
                );
            }
            wait_idle(s, ep).await;
            tokio::time::sleep(Duration::from_millis(1500)).await; // the 1 s settle window
            wait_idle(s, ep).await;
        }
    };
    held_after(0, 4).await;

    let driver = start_driver().await;
    let c = browser(&driver).await;
    let base = s.base.clone();
    sign_in(&c, &base, "ops@example.com").await;
    let overview = format!("{base}/t/{}/integrations/{}", ep.tenant, ep.id);
    c.goto(&overview).await.unwrap();
    let banner = text_of(&c, "#guard-banner").await;
    assert!(banner.contains("4 users would lose access"), "{banner}");
    for i in 0..4 {
        assert!(
            banner.contains(&format!("guard{i}@contoso.com")),
            "{banner}"
        );
    }
    shot(&c, "guard-01-held").await;
    click(&c, "#guard-discard").await;
    wait_text(&c, "4 held removals discarded").await;
    assert!(
        c.find(Locator::Css("#guard-banner")).await.is_err(),
        "the banner is gone"
    );
    shot(&c, "guard-02-discarded").await;
    wait_idle(&s, &ep).await;
    let snap = fake.account_state("acme").unwrap();
    assert!(
        (0..6).all(|i| exists(&snap, &format!("guard{i}@contoso.com"))),
        "kept"
    );

    // The next mistake: held again, and this time approved.
    held_after(4, 6).await;
    c.goto(&overview).await.unwrap();
    let banner = text_of(&c, "#guard-banner").await;
    assert!(banner.contains("2 users would lose access"), "{banner}");
    click(&c, "#guard-approve").await;
    wait_text(&c, "2 held removals approved").await;
    shot(&c, "guard-03-approved").await;
    eventually(&fake, 30, "the approved two are deleted", |a| {
        !exists(a, "guard4@contoso.com")
            && !exists(a, "guard5@contoso.com")
            && exists(a, "guard0@contoso.com")
    })
    .await;
    // The decisions are in the audit log.
    let st = s.store().await;
    let audit = st
        .list_audit(&store::AuditQuery {
            tenant_id: Some(ep.tenant.clone()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert!(
        actions.contains(&"integration.guard.discard")
            && actions.contains(&"integration.guard.approve"),
        "{actions:?}"
    );
    c.close().await.unwrap();
}

/// Staff TOTP in the browser: enrol from the account menu (QR code and secret on the page),
/// confirm with a code computed here, see the recovery codes once, then sign out and sign in
/// again with the password and a code — and once more with a recovery code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_enrolment_and_sign_in_in_a_browser() {
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    let (ok, out, err) = s.cli_stdin(
        &[
            "admin",
            "create",
            "--email",
            "admin@example.com",
            "--role",
            "platform-admin",
        ],
        PASSWORD,
    );
    assert!(ok, "{out} {err}");
    let driver = start_driver().await;
    let c = browser(&driver).await;
    let base = s.base.clone();
    let code_at = |secret: &[u8], steps: i64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        scimbridge::totp::code_at(secret, (now + 30 * steps) as u64).unwrap()
    };

    sign_in(&c, &base, "admin@example.com").await;
    click(&c, "#nav-totp").await;
    wait_for(&c, "#totp-qr").await;
    let qr = wait_for(&c, "#totp-qr")
        .await
        .attr("src")
        .await
        .unwrap()
        .unwrap();
    assert!(qr.starts_with("data:image/svg+xml;base64,"), "{qr}");
    // The QR code is drawn: the image has its size (a broken data URI would not).
    let width = c
        .execute(
            "return document.getElementById('totp-qr').naturalWidth",
            vec![],
        )
        .await
        .unwrap();
    assert!(width.as_u64().unwrap_or(0) > 0, "QR image did not load");
    shot(&c, "50-totp-enrol").await;
    let secret = scimbridge::totp::secret_from_base32(&text_of(&c, "#totp-secret").await).unwrap();
    fill(&c, "#code", &code_at(&secret, 0)).await;
    click(
        &c,
        "form[action='/account/totp/enable'] button[type=submit]",
    )
    .await;
    wait_for(&c, ".recovery-code").await;
    let codes: Vec<String> = {
        let mut v = vec![];
        for e in c.find_all(Locator::Css(".recovery-code")).await.unwrap() {
            v.push(e.text().await.unwrap());
        }
        v
    };
    assert_eq!(codes.len(), 10);
    shot(&c, "51-totp-recovery-codes").await;

    // Sign out, sign in: the password leads to the code step, the code to the console.
    sign_out(&c, &base).await;
    fill(&c, "#email", "admin@example.com").await;
    fill(&c, "#password", PASSWORD).await;
    click(&c, "form[action='/login'] button[type=submit]").await;
    wait_for(&c, "form[action='/login/totp'] #code").await;
    shot(&c, "52-totp-sign-in-step").await;
    fill(&c, "#code", &code_at(&secret, 1)).await;
    click(&c, "form[action='/login/totp'] button[type=submit]").await;
    wait_for(&c, ".topbar").await;
    c.goto(&format!("{base}/account/totp")).await.unwrap();
    assert!(
        text_of(&c, "#totp-on")
            .await
            .contains("10 unused recovery codes")
    );

    // A recovery code works once.
    sign_out(&c, &base).await;
    fill(&c, "#email", "admin@example.com").await;
    fill(&c, "#password", PASSWORD).await;
    click(&c, "form[action='/login'] button[type=submit]").await;
    wait_for(&c, "form[action='/login/totp'] #code").await;
    fill(&c, "#code", &codes[3]).await;
    click(&c, "form[action='/login/totp'] button[type=submit]").await;
    wait_for(&c, ".topbar").await;
    c.goto(&format!("{base}/account/totp")).await.unwrap();
    assert!(
        text_of(&c, "#totp-on")
            .await
            .contains("9 unused recovery codes")
    );
    shot(&c, "53-totp-on").await;
    c.close().await.unwrap();
}

async fn sign_in_with(c: &Client, base: &str, email: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "#email", email).await;
    fill(c, "#password", password).await;
    click(c, "form[action='/login'] button[type=submit]").await;
    wait_for(c, ".topbar").await;
}

/// Opens the Staff page's invitation form if it is folded.
async fn open_invite_form(c: &Client) {
    wait_for(c, "#invite-form").await;
    if c.find(Locator::Css("details.card[open]")).await.is_err() {
        click(c, "details.card summary").await;
    }
}

/// Opens the Manage menu of `email`'s row on the Staff page and clicks `button` in it.
async fn staff_action(c: &Client, base: &str, email: &str, button: &str) {
    c.goto(&format!("{base}/staff")).await.unwrap();
    let row = format!("tr[data-email='{email}']");
    click(c, &format!("{row} details.row-menu summary")).await;
    click(c, &format!("{row} {button}")).await;
}

/// Issue #28's staff management and guard rails in one browser session: the first admin's
/// sign-in is recorded; an invitation link lets the invitee set a password and sign in (once);
/// a tenant admin sees only their tenant's admins, cannot grant a higher role, and meets
/// error pages inside the app's shell; a reset link; a role change; a removal; the last
/// platform admin kept; every action in the audit log in sentences; the switcher's tenant
/// kept on the Staff and Tenants pages; the Policy step asking instead of choosing silently,
/// and activation with no rules confirmed first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_are_invited_reset_changed_and_removed_in_a_browser() {
    const NEW_PASSWORD: &str = "a brand new passphrase";
    let fake = FakeActiveCampaign::start(
        FakeConfig::default().account(AccountConfig::new("acme", AC_KEY).groups(["Admin", "User"])),
    )
    .await;
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    let acme = s.cli(&["tenant", "create", "--name", "Acme"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let beta = s.cli(&["tenant", "create", "--name", "Beta"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let store = s.store().await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    let base = s.base.clone();

    // The first admin's sign-in at setup is recorded: last sign-in and the audit log.
    c.goto(&s.setup_url().await).await.unwrap();
    fill(&c, "#email", "admin@example.com").await;
    fill(&c, "#password", PASSWORD).await;
    fill(&c, "#confirm", PASSWORD).await;
    click(&c, "form[action='/setup'] button[type=submit]").await;
    wait_for(&c, "#flash").await;
    c.goto(&format!("{base}/staff")).await.unwrap();
    let me = text_of(&c, "tr[data-email='admin@example.com']").await;
    assert!(me.contains("just now") && !me.contains("never"), "{me}");
    assert!(
        c.find(Locator::Css(
            "tr[data-email='admin@example.com'] details.row-menu"
        ))
        .await
        .is_err(),
        "nobody manages their own account here"
    );

    // Invite a tenant admin of Acme: the link is shown once; the row says "Invited".
    open_invite_form(&c).await;
    fill(&c, "#staff-email", "ta@acme.example").await;
    c.find(Locator::Css("#staff-role"))
        .await
        .unwrap()
        .select_by_value("tenant_admin")
        .await
        .unwrap();
    c.find(Locator::Css("#staff-tenant"))
        .await
        .unwrap()
        .select_by_label("Acme")
        .await
        .unwrap();
    click(&c, "#invite-submit").await;
    let invite = value_of(&c, "#staff-link").await;
    assert!(
        invite.starts_with(&format!("{base}/account/set-password?token=")),
        "{invite}"
    );
    assert!(
        text_of(&c, "tr[data-email='ta@acme.example']")
            .await
            .contains("Invited")
    );
    shot(&c, "50-staff-invitation-link").await;
    // Bad input is a form error: the same e-mail again.
    c.goto(&format!("{base}/staff")).await.unwrap();
    open_invite_form(&c).await;
    fill(&c, "#staff-email", "TA@acme.example").await;
    click(&c, "#invite-submit").await;
    assert!(
        text_of(&c, "#form-error")
            .await
            .contains("already has an account")
    );
    fill(&c, "#staff-email", "support@example.com").await;
    c.find(Locator::Css("#staff-role"))
        .await
        .unwrap()
        .select_by_value("support")
        .await
        .unwrap();
    click(&c, "#invite-submit").await;
    wait_for(&c, "#staff-link").await;
    sign_out(&c, &base).await;

    // The invitee sets their own password with the link and is signed in; the link dies.
    c.goto(&invite).await.unwrap();
    wait_text(&c, "ta@acme.example").await;
    shot(&c, "51-invitation-set-password").await;
    fill(&c, "#password", PASSWORD).await;
    fill(&c, "#confirm", PASSWORD).await;
    click(&c, "#set-password-submit").await;
    wait_for(&c, ".topbar").await;
    assert!(
        text_of(&c, ".topbar .who")
            .await
            .contains("ta@acme.example")
    );
    c.goto(&invite).await.unwrap();
    wait_for(&c, "#link-invalid").await;
    assert!(c.find(Locator::Css("aside.sidebar")).await.is_err());

    // A tenant admin manages their own tenant's admins only, with no higher role to give.
    c.goto(&format!("{base}/staff")).await.unwrap();
    let page = wait_text(&c, "ta@acme.example").await;
    assert!(
        !page.contains("support@example.com") && !page.contains("admin@example.com"),
        "only Acme's tenant admins are listed"
    );
    let offered = text_of(&c, "#staff-role").await;
    assert!(
        !offered.contains("Platform admin") && !offered.contains("Support"),
        "{offered}"
    );
    // A forged higher role is refused, on an error page that keeps the shell.
    c.execute(
        "document.querySelector('#staff-role').innerHTML = '<option value=\"platform_admin\">x</option>'; \
         document.querySelector('#staff-email').value = 'evil@example.com'; \
         document.querySelector('#invite-form').submit();",
        vec![],
    )
    .await
    .unwrap();
    wait_text(&c, "above your own").await;
    wait_for(&c, "#error-page[data-status='403']").await;
    assert!(
        text_of(&c, ".topbar .who")
            .await
            .contains("ta@acme.example")
    );
    assert!(
        store
            .find_staff_by_email("evil@example.com")
            .await
            .unwrap()
            .is_none()
    );
    c.goto(&format!("{base}/tenants")).await.unwrap();
    wait_for(&c, "#error-page[data-status='404']").await;
    assert!(
        c.find(Locator::Css(&format!(
            "aside.sidebar a[href='/t/{acme}/integrations']"
        )))
        .await
        .is_ok(),
        "the navigation stays"
    );
    shot(&c, "52-not-found-in-the-shell").await;
    sign_out(&c, &base).await;

    // A password-reset link: one-time, the person chooses the new password.
    sign_in(&c, &base, "admin@example.com").await;
    staff_action(&c, &base, "ta@acme.example", "form[action$='/link'] button").await;
    let reset = value_of(&c, "#staff-link").await;
    assert!(
        text_of(&c, "#staff-link-title")
            .await
            .contains("Password-reset link for ta@acme.example")
    );
    sign_out(&c, &base).await;
    c.goto(&reset).await.unwrap();
    wait_text(&c, "Choose a new password").await;
    fill(&c, "#password", NEW_PASSWORD).await;
    fill(&c, "#confirm", "not the same at all").await;
    click(&c, "#set-password-submit").await;
    assert!(
        text_of(&c, "#set-password-error")
            .await
            .contains("do not match")
    );
    fill(&c, "#password", NEW_PASSWORD).await;
    fill(&c, "#confirm", NEW_PASSWORD).await;
    click(&c, "#set-password-submit").await;
    wait_for(&c, ".topbar").await;
    sign_out(&c, &base).await;
    sign_in_with(&c, &base, "ta@acme.example", NEW_PASSWORD).await;
    sign_out(&c, &base).await;

    // Role change: support becomes Beta's tenant admin; a tenant admin needs a tenant.
    sign_in(&c, &base, "admin@example.com").await;
    c.goto(&format!("{base}/staff")).await.unwrap();
    let row = "tr[data-email='support@example.com']";
    click(&c, &format!("{row} details.row-menu summary")).await;
    c.find(Locator::Css(&format!("{row} select[name='role']")))
        .await
        .unwrap()
        .select_by_value("tenant_admin")
        .await
        .unwrap();
    click(&c, &format!("{row} button[id^='save-role-']")).await;
    wait_text(&c, "choose it").await;
    click(&c, &format!("{row} details.row-menu summary")).await;
    c.find(Locator::Css(&format!("{row} select[name='role']")))
        .await
        .unwrap()
        .select_by_value("tenant_admin")
        .await
        .unwrap();
    c.find(Locator::Css(&format!("{row} select[name='tenant']")))
        .await
        .unwrap()
        .select_by_label("Beta")
        .await
        .unwrap();
    click(&c, &format!("{row} button[id^='save-role-']")).await;
    wait_text(&c, "support@example.com is now Tenant admin").await;
    assert!(text_of(&c, row).await.contains("Beta"));

    // Remove: asked first; the account is gone and can no longer sign in.
    staff_action(
        &c,
        &base,
        "ta@acme.example",
        "form[action$='/remove'] button",
    )
    .await;
    c.accept_alert().await.unwrap();
    wait_text(&c, "account is removed").await;
    assert!(
        store
            .find_staff_by_email("ta@acme.example")
            .await
            .unwrap()
            .is_none()
    );
    shot(&c, "53-staff").await;
    // The last platform admin cannot be removed, not even from the command line.
    let err = s.cli_fails(&["admin", "remove", "--email", "admin@example.com"]);
    assert!(err.contains("last platform admin"), "{err}");

    // Every action in the audit log, in sentences.
    c.goto(&format!("{base}/audit")).await.unwrap();
    let audit = wait_text(&c, "signed in (first-run setup)").await;
    let audit = audit.replace("&#39;", "'");
    for sentence in [
        "admin@example.com invited ta@acme.example as tenant administrator",
        "ta@acme.example accepted their invitation and set a password",
        "admin@example.com made a password-reset link for ta@acme.example",
        "ta@acme.example set a new password with a reset link",
        "admin@example.com made support@example.com a tenant administrator of Beta",
        "admin@example.com removed the tenant administrator account of ta@acme.example",
    ] {
        assert!(audit.contains(sentence), "{sentence}");
    }
    shot(&c, "54-audit-staff").await;

    // The switcher's tenant stays chosen on the Staff and Tenants pages.
    c.goto(&format!("{base}/t/{beta}/integrations"))
        .await
        .unwrap();
    wait_for(&c, "#tenant-switcher").await;
    for page in ["/staff", "/tenants"] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        assert_eq!(value_of(&c, "#tenant-switcher").await, beta, "{page}");
        assert!(
            c.find(Locator::Css(&format!(
                "aside.sidebar a[href='/t/{beta}/integrations']"
            )))
            .await
            .is_ok(),
            "{page}"
        );
    }

    // A target without a "no access" role: the Policy step asks instead of choosing, and
    // activating with no rule while unmatched users keep their role is confirmed first.
    c.goto(&format!("{base}/t/{acme}/integrations/new"))
        .await
        .unwrap();
    click(&c, "#choose-activecampaign").await;
    wait_for(&c, "#connection-form").await;
    fill(&c, "#name", "Acme AC").await;
    fill(&c, "#f-base_url", fake.base_url()).await;
    fill(&c, "#f-api_key", AC_KEY).await;
    click(&c, "#save-connection").await;
    wait_for(&c, "#roles-form").await;
    c.find(Locator::Css("select#default-role"))
        .await
        .unwrap()
        .select_by_value("User")
        .await
        .unwrap();
    click(&c, "#save-roles").await;
    wait_for(&c, "#policy-form").await;
    assert!(
        text_of(&c, "#deprovision-choose")
            .await
            .contains("nothing is chosen for you")
    );
    assert!(
        c.find(Locator::Css("input[name='deprovision']:checked"))
            .await
            .is_err(),
        "no silent default"
    );
    shot(&c, "55-policy-choose").await;
    click(&c, "#save-policy").await;
    assert!(
        text_of(&c, "#form-error")
            .await
            .contains("Choose what happens when a user is deactivated")
    );
    click(&c, "input[name='deprovision'][value='ignore']").await;
    click(&c, "input[name='unmatched'][value='keep']").await;
    click(&c, "input[name='mode'][value='live']").await;
    click(&c, "#save-policy").await;
    wait_for(&c, "#activate-confirm-note").await;
    click(&c, "#activate").await;
    c.dismiss_alert().await.unwrap();
    assert!(
        c.find(Locator::Css("#activated")).await.is_err(),
        "dismissed: not activated"
    );
    click(&c, "#activate").await;
    c.accept_alert().await.unwrap();
    wait_for(&c, "#activated").await;
    c.close().await.unwrap();
}

/// The Reconciliation tab: import now, the report (an orphan made by hand, a role changed by
/// hand), deprovision the orphan with a confirmation naming it, Fix drift, the schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_tab_in_a_browser() {
    use common::target::{eventually, group_of, post_user, wait_idle};
    use testkit::fake_activecampaign::SeedUser;
    let fake = FakeActiveCampaign::start(
        FakeConfig::default().account(AccountConfig::new("acme", AC_KEY).groups([
            "Manager",
            "User",
            "No access",
        ])),
    )
    .await;
    let snap = fake.account_state("acme").unwrap();
    let gid = |t: &str| snap.group_by_title(t).unwrap().id.clone();
    let left = fake
        .add_user(
            SeedUser::new("left", "left@contoso.com")
                .names("Left", "Behind")
                .group(gid("User")),
        )
        .unwrap();
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    let (ok, out, err) = s.cli_stdin(
        &[
            "admin",
            "create",
            "--email",
            "ops@example.com",
            "--role",
            "platform-admin",
        ],
        PASSWORD,
    );
    assert!(ok, "{out}{err}");
    let base_url = format!("base_url={}", fake.base_url());
    let key = format!("api_key={AC_KEY}");
    let ep = s.endpoint_with(
        "Acme",
        &[
            "--setting",
            &base_url,
            "--secret",
            &key,
            "--default-role",
            "User",
            "--deprovision",
            "role:No access",
        ],
    );
    post_user(&s, &ep, "bob@contoso.com", None).await;
    eventually(&fake, 30, "bob created", |a| {
        group_of(a, "bob@contoso.com").as_deref() == Some("User")
    })
    .await;
    wait_idle(&s, &ep).await;
    // Someone makes bob a Manager by hand in ActiveCampaign.
    let bob_id = fake
        .account_state("acme")
        .unwrap()
        .user_by_email("bob@contoso.com")
        .unwrap()
        .id
        .clone();
    let put = reqwest::Client::new()
        .put(format!("{}/users/{bob_id}", fake.base_url()))
        .header("Api-Token", AC_KEY)
        .json(&json!({"user": {"group": gid("Manager")}}))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{put:?}");
    assert_eq!(
        group_of(&fake.account_state("acme").unwrap(), "bob@contoso.com").as_deref(),
        Some("Manager")
    );

    let driver = start_driver().await;
    let c = browser(&driver).await;
    let base = s.base.clone();
    sign_in(&c, &base, "ops@example.com").await;
    let page = format!("{base}/t/{}/integrations/{}/reconcile", ep.tenant, ep.id);
    c.goto(&page).await.unwrap();
    wait_text(&c, "Never imported").await;
    click(&c, "#recon-import").await;
    wait_text(&c, "Import started").await;
    // The import runs in the background: reload until its report is there.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        c.goto(&page).await.unwrap();
        if c.find(Locator::Css("#recon-seats")).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the import never finished");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let orphans = text_of(&c, "#recon-orphans").await;
    assert!(orphans.contains("left@contoso.com"), "{orphans}");
    assert!(!orphans.contains("bob@contoso.com"), "{orphans}");
    let drift = text_of(&c, "#recon-drift").await;
    assert!(
        drift.contains("bob@contoso.com") && drift.contains("Manager") && drift.contains("role"),
        "{drift}"
    );
    assert!(
        text_of(&c, "#recon-key-owner")
            .await
            .contains("never changed")
    );
    shot(&c, "recon-01-report").await;

    // Deprovision the orphan: the confirmation names it.
    click(&c, &format!("#orphan-{left}")).await;
    click(&c, "#recon-deprovision-selected").await;
    let confirm = text_of(&c, "#recon-confirm").await;
    assert!(
        confirm.contains("left@contoso.com") && confirm.contains("No access"),
        "{confirm}"
    );
    shot(&c, "recon-02-confirm").await;
    click(&c, "#recon-confirm-deprovision").await;
    wait_text(&c, "Deprovisioned: left@contoso.com").await;
    assert_eq!(
        group_of(&fake.account_state("acme").unwrap(), "left@contoso.com").as_deref(),
        Some("No access")
    );
    let orphans = text_of(&c, "#recon-orphans").await;
    assert!(orphans.contains("Orphaned accounts (0)"), "{orphans}");

    // Fix drift: the worker moves bob back.
    click(&c, "#recon-fix").await;
    wait_text(&c, "user(s) queued").await;
    eventually(&fake, 30, "bob back in User", |a| {
        group_of(a, "bob@contoso.com").as_deref() == Some("User")
    })
    .await;
    shot(&c, "recon-03-fixed").await;

    // The schedule: every 12 hours, correcting drift.
    fill(&c, "#interval-hours", "12").await;
    click(&c, "#correct-drift").await;
    click(&c, "#recon-save-settings").await;
    wait_text(&c, "Reconciliation settings saved").await;
    let run = s.store().await.recon_run(&ep.id).await.unwrap().unwrap();
    assert_eq!((run.interval_secs, run.correct_drift), (43_200, true));

    // New rules: everyone defaults to Manager. The Roles tab says who would change and
    // applies it to all; the Overview shows the batch's progress.
    let integration = format!("{base}/t/{}/integrations/{}", ep.tenant, ep.id);
    c.goto(&format!("{integration}/roles")).await.unwrap();
    click(&c, "#default-role option[value='Manager']").await;
    click(&c, "#save-roles").await;
    wait_text(&c, "Role mappings saved").await;
    let panel = text_of(&c, "#roles-would-change").await;
    assert!(panel.contains("1 user would change"), "{panel}");
    shot(&c, "recon-04-would-change").await;
    click(&c, "#roles-apply-all").await;
    wait_text(&c, "1 user(s) queued").await;
    eventually(&fake, 30, "bob a Manager", |a| {
        group_of(a, "bob@contoso.com").as_deref() == Some("Manager")
    })
    .await;
    c.goto(&integration).await.unwrap();
    // The bar refreshes itself (htmx) until the batch is done.
    wait_text(&c, "1 of 1 done").await;
    let progress = text_of(&c, "#resync-progress").await;
    assert!(progress.contains("Apply to all: finished"), "{progress}");
    shot(&c, "recon-05-apply-all-progress").await;
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_set_up_and_tested_in_a_browser() {
    let serve = common::ServeOptions::env(&[("SCIMBRIDGE_NOTIFY_POLL_MS", "200")]);
    let s = TestServer::start_with(Backend::Sqlite, serve)
        .await
        .unwrap();
    let (ok, out, err) = s.cli_stdin(
        &[
            "admin",
            "create",
            "--email",
            "ops@example.com",
            "--role",
            "platform-admin",
        ],
        PASSWORD,
    );
    assert!(ok, "{out}{err}");
    let tid = s.cli(&["tenant", "create", "--name", "Acme"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let hook = testkit::webhook_receiver::WebhookReceiver::start()
        .await
        .unwrap();
    let driver = start_driver().await;
    let c = browser(&driver).await;
    let base = s.base.clone();
    sign_in(&c, &base, "ops@example.com").await;
    c.goto(&format!("{base}/t/{tid}/notifications"))
        .await
        .unwrap();
    wait_for(&c, "#webhook-url").await;
    shot(&c, "60-notifications-empty").await;

    fill(&c, "#webhook-url", &hook.url()).await;
    click(&c, "#add-webhook").await;
    let secret = value_of(&c, "#secret-value").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    shot(&c, "61-notifications-webhook-secret").await;

    fill(&c, "#email-address", "it-ops@example.com").await;
    click(&c, "#add-email").await;
    // No SMTP on this server: the page says so.
    wait_for(&c, "#smtp-missing").await;

    click(&c, "#send-test").await;
    wait_text(&c, "Test notification queued for 2 channels").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while hook.accepted().is_empty() {
        assert!(Instant::now() < deadline, "the webhook got nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = &hook.accepted()[0];
    let ts: i64 = got.timestamp.as_deref().unwrap().parse().unwrap();
    assert!(notify::verify(
        &secret,
        ts,
        &got.body,
        got.signature.as_deref().unwrap()
    ));
    // The log shows the webhook sent and the e-mail failed for want of SMTP.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        c.goto(&format!("{base}/t/{tid}/notifications"))
            .await
            .unwrap();
        let page = c.source().await.unwrap();
        if page.contains(">Sent<") && page.contains("SMTP is not configured (") {
            break;
        }
        assert!(Instant::now() < deadline, "log never complete:\n{page}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    shot(&c, "62-notifications-log").await;
    c.close().await.unwrap();
}
