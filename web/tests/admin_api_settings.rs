//! Changing an integration after creation through the admin API ("Integration settings"), over
//! real HTTP against the fake ActiveCampaign on SQLite and PostgreSQL: connection and secret
//! rotation (the new key reaches the target), the connection test, role rules checked against
//! the target's roles, policies and dry run → live, extension schemas; the same checks and
//! audit actions as the console's forms; read-only tokens 403, another tenant's 404.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::api::{Api, cli_token};
use common::target::{eventually, exists, group_of, post_user};
use common::ui::{PASSWORD, Ui, admin};
use common::{Backend, Endpoint, ServeOptions, TestServer};
use serde_json::{Value, json};
use testkit::fake_activecampaign::{AccountConfig, FakeActiveCampaign, FakeConfig, FakeHandle};

const TOKEN: &str = "ac-key-of-owner-settings";
const OLD_KEY: &str = "ac-key-that-was-revoked";

async fn fake() -> FakeHandle {
    FakeActiveCampaign::start(
        FakeConfig::default().account(AccountConfig::new("acme", TOKEN).groups([
            "User",
            "Manager",
            "No access",
        ])),
    )
    .await
}

fn ac_body(f: &FakeHandle, name: &str, key: &str, mode: &str) -> Value {
    json!({
        "name": name,
        "connector": "activecampaign",
        "settings": {"base_url": f.base_url()},
        "secrets": {"api_key": key},
        "default_role": "User",
        "role_rules": ["group:Sales=Manager"],
        "mode": mode,
        "activate": true,
    })
}

/// The SCIM endpoint of an integration the API created (`created` is its 201 body).
fn endpoint(tenant: &str, created: &Value) -> Endpoint {
    Endpoint {
        tenant: tenant.to_string(),
        id: created["integration"]["id"].as_str().unwrap().to_string(),
        url: created["token"]["scim_url"].as_str().unwrap().to_string(),
        token: created["token"]["token"].as_str().unwrap().to_string(),
        prefix: created["token"]["prefix"].as_str().unwrap().to_string(),
    }
}

const EXTENSION: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

fn extension() -> Value {
    json!({
        "id": EXTENSION,
        "name": "Acme",
        "attributes": [{"name": "badgeColour", "type": "string"}]
    })
}

async fn settings(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let f = fake().await;
    let api = Api::new(&s.base).await;
    admin(&s, "root@example.com", "platform-admin", None);
    let root = cli_token(&s, "root@example.com", "automation");
    let acme = api.new_tenant(&root, "Acme").await;
    let globex = api.new_tenant(&root, "Globex").await;
    let base = format!("/api/v1/tenants/{acme}/integrations");
    // Live, with a key the target no longer accepts.
    let created = api
        .post(&root, &base, ac_body(&f, "Acme AC", OLD_KEY, "live"))
        .await;
    let created = created.expect(201).clone();
    let ep = endpoint(&acme, &created);
    let ipath = format!("{base}/{}", ep.id);
    let url = created["integration"]["settings"]["base_url"].clone();

    // ---- connection test: the stored key, then an unsaved one
    let test = format!("{ipath}/test");
    let t = api.post(&root, &test, json!({})).await;
    let t = t.expect(200);
    assert_eq!(t["ok"], false, "{t}");
    assert!(!t["message"].as_str().unwrap().is_empty());
    let t = api
        .post(&root, &test, json!({"secrets": {"api_key": TOKEN}}))
        .await;
    assert_eq!(t.expect(200)["ok"], true, "{}", t.text);
    assert_eq!(
        api.post(&root, &test, json!({})).await.expect(200)["ok"],
        false,
        "a test saves nothing"
    );
    api.post(&root, &test, json!({"secret": {}}))
        .await
        .problem(400);

    // ---- rotation: only the key changes; it is never returned
    let patched = api
        .patch(&root, &ipath, json!({"secrets": {"api_key": TOKEN}}))
        .await;
    let out = patched.expect(200);
    assert_eq!(out["name"], "Acme AC");
    assert_eq!(out["settings"]["base_url"], url);
    assert!(!patched.text.contains(TOKEN) && !patched.text.contains(OLD_KEY));
    let t = api.post(&root, &test, json!({})).await;
    assert_eq!(t.expect(200)["ok"], true, "{}", t.text);
    assert!(
        t.body["message"]
            .as_str()
            .unwrap()
            .contains("owner@example.com"),
        "{}",
        t.text
    );
    // The worker uses the new key: a user created now reaches the target.
    post_user(&s, &ep, "rotated@contoso.com", None).await;
    eventually(&f, 30, "the user created with the new key", |a| {
        group_of(a, "rotated@contoso.com").as_deref() == Some("User")
    })
    .await;
    // A name alone; a blank secret keeps the stored one.
    let renamed = api
        .patch(
            &root,
            &ipath,
            json!({"name": "Acme AC (Sales)", "secrets": {"api_key": ""}}),
        )
        .await;
    assert_eq!(renamed.expect(200)["name"], "Acme AC (Sales)");
    assert_eq!(
        api.post(&root, &test, json!({})).await.expect(200)["ok"],
        true
    );
    // Refused with the field named, nothing saved.
    let detail = api
        .patch(
            &root,
            &ipath,
            json!({"settings": {"base_url": "not a url"}}),
        )
        .await
        .problem(422);
    assert!(detail.starts_with("base_url: "), "{detail}");
    let detail = api
        .patch(&root, &ipath, json!({"settings": {"base_url": ""}}))
        .await
        .problem(422);
    assert_eq!(detail, "base_url: Enter the API URL.");
    let detail = api
        .patch(&root, &ipath, json!({"name": " "}))
        .await
        .problem(422);
    assert!(detail.starts_with("name: "), "{detail}");
    let detail = api
        .patch(&root, &ipath, json!({"settings": {"colour": "blue"}}))
        .await
        .problem(422);
    assert!(detail.contains("'colour' is not a setting"), "{detail}");
    api.patch(&root, &ipath, json!({"nme": "typo"}))
        .await
        .problem(400);
    let got = api.get(&root, &ipath).await;
    assert_eq!(got.expect(200)["settings"]["base_url"], url);

    // ---- roles: checked against the target's roles
    let roles = format!("{ipath}/roles");
    let r = api.get(&root, &roles).await;
    assert_eq!(
        r.expect(200),
        &json!({"default_role": "User", "role_rules": ["group:Sales=Manager"], "bundles": null})
    );
    let detail = api
        .put(
            &root,
            &roles,
            json!({"default_role": "User", "role_rules": ["group:Sales=Wizard"]}),
        )
        .await
        .problem(422);
    assert_eq!(
        detail,
        "role_rules: 'group:Sales=Wizard': ActiveCampaign has no role 'Wizard'. It has: Admin, User, Manager, No access."
    );
    let detail = api
        .put(
            &root,
            &roles,
            json!({"default_role": "Boss", "role_rules": []}),
        )
        .await
        .problem(422);
    assert!(
        detail.starts_with("default_role: ActiveCampaign has no role 'Boss'"),
        "{detail}"
    );
    let detail = api
        .put(&root, &roles, json!({"role_rules": ["nonsense"]}))
        .await
        .problem(422);
    assert!(detail.starts_with("role_rules: 'nonsense'"), "{detail}");
    let detail = api
        .put(
            &root,
            &roles,
            json!({"role_rules": ["filter:title eq=Manager"]}),
        )
        .await
        .problem(422);
    assert!(detail.contains("Not a valid SCIM filter"), "{detail}");
    let detail = api
        .put(&root, &roles, json!({"role_rules": [], "bundles": "x"}))
        .await
        .problem(422);
    assert!(detail.starts_with("bundles: "), "{detail}");
    let wanted = json!({
        "default_role": "User",
        "role_rules": ["group:Admins=Manager", "filter:title eq \"CEO\"=Manager"],
        "bundles": null,
    });
    let put = api.put(&root, &roles, wanted.clone()).await;
    assert_eq!(put.expect(200), &wanted);
    assert_eq!(api.get(&root, &roles).await.expect(200), &wanted);

    // ---- policy
    let policy = format!("{ipath}/policy");
    let p = api.get(&root, &policy).await;
    let mut current = p.expect(200).clone();
    assert_eq!(current["deprovision"], "role:No access");
    assert_eq!(current["mode"], "live");
    for (field, value, start) in [
        ("lifecycle", "sometimes", "lifecycle: "),
        ("deprovision", "bogus", "deprovision: "),
        ("deprovision", "role:", "deprovision: Choose the role"),
        ("unmatched", "maybe", "unmatched: "),
        ("push_groups", "some", "push_groups: "),
        ("delete_guard", "lots", "delete_guard: "),
        ("mode", "sideways", "mode: "),
    ] {
        let mut bad = current.clone();
        bad[field] = json!(value);
        let detail = api.put(&root, &policy, bad).await.problem(422);
        assert!(detail.starts_with(start), "{field}={value}: {detail}");
    }
    current["deprovision"] = json!("delete");
    current["delete_guard"] = json!("off");
    current["unmatched"] = json!("keep");
    let saved = api.put(&root, &policy, current.clone()).await;
    let saved = saved.expect(200);
    assert_eq!(saved["policy"], current);
    assert!(saved["went_live"].is_null());
    assert_eq!(api.get(&root, &policy).await.expect(200), &current);
    assert_eq!(
        api.get(&root, &ipath).await.expect(200)["deprovision"],
        "delete"
    );

    // ---- extension schemas: rule filters may name their attributes then
    let ext = format!("{ipath}/extension-schemas");
    assert_eq!(
        api.get(&root, &ext).await.expect(200),
        &json!({"extension_schemas": []})
    );
    let rule = json!({"default_role": "User", "role_rules": ["filter:badgeColour eq \"42\"=Manager"], "bundles": null});
    let detail = api.put(&root, &roles, rule.clone()).await.problem(422);
    assert!(
        detail.contains("unknown attribute 'badgeColour'"),
        "{detail}"
    );
    let detail = api
        .put(&root, &ext, json!({"extension_schemas": [{"id": "urn:ietf:params:scim:schemas:core:2.0:User", "attributes": [{"name": "a"}]}]}))
        .await
        .problem(422);
    assert!(detail.starts_with("extension_schemas: "), "{detail}");
    let detail = api
        .put(
            &root,
            &ext,
            json!({"extension_schemas": [extension(), extension()]}),
        )
        .await
        .problem(422);
    assert!(detail.contains("twice"), "{detail}");
    let put = api
        .put(&root, &ext, json!({"extension_schemas": [extension()]}))
        .await;
    assert_eq!(put.expect(200)["extension_schemas"][0]["id"], EXTENSION);
    let got = api.get(&root, &ext).await;
    assert_eq!(
        got.expect(200)["extension_schemas"][0]["attributes"][0]["name"],
        "badgeColour"
    );
    assert_eq!(
        api.put(&root, &roles, rule.clone()).await.expect(200),
        &rule
    );
    // The SCIM endpoint serves it at once.
    let schemas = s.call(&ep, "GET", "/Schemas", None).await;
    assert!(
        schemas.body.to_string().contains(EXTENSION),
        "{:?}",
        schemas.body
    );
    api.put(&root, &roles, wanted.clone()).await.expect(200);
    let cleared = api.put(&root, &ext, json!({"extension_schemas": []})).await;
    assert_eq!(cleared.expect(200), &json!({"extension_schemas": []}));

    // ---- scope: read-only roles read and change nothing; another tenant's is not there
    admin(&s, "help@example.com", "support", None);
    let support = cli_token(&s, "help@example.com", "dashboards");
    api.get(&support, &roles).await.expect(200);
    api.get(&support, &policy).await.expect(200);
    api.get(&support, &ext).await.expect(200);
    api.patch(&support, &ipath, json!({"name": "Nope"}))
        .await
        .problem(403);
    api.put(&support, &roles, wanted.clone()).await.problem(403);
    api.put(&support, &policy, current.clone())
        .await
        .problem(403);
    api.put(&support, &ext, json!({"extension_schemas": []}))
        .await
        .problem(403);
    api.post(&support, &test, json!({})).await.problem(403);
    admin(&s, "ta@globex.test", "tenant-admin", Some(&globex));
    let other = cli_token(&s, "ta@globex.test", "globex");
    for path in [&roles, &policy, &ext] {
        api.get(&other, path).await.problem(404);
    }
    api.patch(&other, &ipath, json!({"name": "Mine"}))
        .await
        .problem(404);
    api.put(&other, &roles, wanted.clone()).await.problem(404);
    api.put(&other, &policy, current.clone()).await.problem(404);
    api.put(&other, &ext, json!({"extension_schemas": []}))
        .await
        .problem(404);
    api.post(&other, &test, json!({})).await.problem(404);
    let foreign = format!("/api/v1/tenants/{globex}/integrations/{}/roles", ep.id);
    api.get(&root, &foreign).await.problem(404);
    assert_eq!(
        api.get(&root, &ipath).await.expect(200)["name"],
        "Acme AC (Sales)",
        "nothing changed"
    );

    // ---- the same audit actions as the console's forms
    admin(&s, "ops@example.com", "platform-admin", None);
    let ui = Ui::new(&s.base);
    ui.sign_in("ops@example.com", PASSWORD).await;
    let form = format!("/t/{acme}/integrations/{}/connection", ep.id);
    let saved = ui
        .post(
            &form,
            &form,
            &[
                ("name", "Acme AC (UI)"),
                ("base_url", f.base_url()),
                ("api_key", ""),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let roles_form = format!("/t/{acme}/integrations/{}/roles", ep.id);
    let saved = ui
        .post(
            &roles_form,
            &roles_form,
            &[
                ("default_role", "User"),
                ("rule_kind", "group"),
                ("rule_value", "Admins"),
                ("rule_role", "Manager"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    for (action, api_count) in [
        ("integration.connection", 2),
        ("integration.roles", 3),
        ("integration.policy", 1),
        ("integration.extensions", 2),
    ] {
        let audit = api
            .get(
                &root,
                &format!("/api/v1/audit?tenant_id={acme}&action={action}"),
            )
            .await;
        let items = audit.expect(200)["items"].as_array().unwrap().clone();
        let by_api = items
            .iter()
            .filter(|e| {
                e["actor_email"]
                    .as_str()
                    .unwrap()
                    .starts_with("root@example.com (API token sbapi_")
            })
            .count();
        assert_eq!(by_api, api_count, "{action}: {items:#?}");
        let by_ui = items
            .iter()
            .filter(|e| e["actor_email"] == "ops@example.com")
            .count();
        let ui_count =
            usize::from(action == "integration.connection" || action == "integration.roles");
        assert_eq!(by_ui, ui_count, "{action}: {items:#?}");
    }
    let audit = api
        .get(
            &root,
            &format!("/api/v1/audit?tenant_id={acme}&action=integration.connection"),
        )
        .await;
    assert!(
        !audit.text.contains(TOKEN),
        "secrets are not in the audit log"
    );
    assert!(audit.text.contains("secrets_replaced"), "{}", audit.text);

    assert!(
        api.uncalled(common::api::tags_of("admin_api_settings.rs"))
            .is_empty()
    );
}

#[tokio::test]
async fn admin_api_settings_sqlite() {
    settings(Backend::Sqlite).await;
}

#[tokio::test]
async fn admin_api_settings_postgres() {
    settings(Backend::Postgres).await;
}

/// Dry run → live through the API brings every known user to the target, as the Policy
/// form does.
async fn going_live(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let f = fake().await;
    let api = Api::new(&s.base).await;
    admin(&s, "root@example.com", "platform-admin", None);
    let root = cli_token(&s, "root@example.com", "automation");
    let acme = api.new_tenant(&root, "Acme").await;
    let base = format!("/api/v1/tenants/{acme}/integrations");
    let created = api
        .post(&root, &base, ac_body(&f, "Acme AC", TOKEN, "dry_run"))
        .await;
    let ep = endpoint(&acme, created.expect(201));
    let policy = format!("{base}/{}/policy", ep.id);
    post_user(&s, &ep, "ann@contoso.com", None).await;
    post_user(&s, &ep, "ben@contoso.com", None).await;
    common::target::wait_idle(&s, &ep).await;
    let snap = f.account_state("acme").unwrap();
    assert!(!exists(&snap, "ann@contoso.com"), "a dry run calls nothing");
    let mut p = api.get(&root, &policy).await.expect(200).clone();
    assert_eq!(p["mode"], "dry_run");
    p["mode"] = json!("live");
    let saved = api.put(&root, &policy, p.clone()).await;
    let saved = saved.expect(200);
    assert_eq!(saved["policy"]["mode"], "live");
    assert_eq!(saved["went_live"], json!({"adopted": 0, "queued": 2}));
    eventually(&f, 30, "both users created once live", |a| {
        group_of(a, "ann@contoso.com").as_deref() == Some("User")
            && group_of(a, "ben@contoso.com").as_deref() == Some("User")
    })
    .await;
    // Live → live changes the policy only.
    let again = api.put(&root, &policy, p).await;
    assert!(again.expect(200)["went_live"].is_null());
}

#[tokio::test]
async fn admin_api_going_live_sqlite() {
    going_live(Backend::Sqlite).await;
}

#[tokio::test]
async fn admin_api_going_live_postgres() {
    going_live(Backend::Postgres).await;
}

/// With private targets not allowed, a private address is refused with the field named.
async fn private_address(backend: Backend) {
    let Some(s) = TestServer::start_with(
        backend,
        ServeOptions::env(&[("SCIMBRIDGE_ALLOW_PRIVATE_TARGETS", "false")]),
    )
    .await
    else {
        return;
    };
    let api = Api::new(&s.base).await;
    admin(&s, "root@example.com", "platform-admin", None);
    let root = cli_token(&s, "root@example.com", "automation");
    let acme = api.new_tenant(&root, "Acme").await;
    let base = format!("/api/v1/tenants/{acme}/integrations");
    let created = api
        .post(
            &root,
            &base,
            json!({
                "name": "Acme AC",
                "connector": "activecampaign",
                "settings": {"base_url": "https://acme.api-us1.com"},
                "secrets": {"api_key": TOKEN},
                "default_role": "User",
            }),
        )
        .await;
    let iid = created.expect(201)["integration"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = api
        .patch(
            &root,
            &format!("{base}/{iid}"),
            json!({"settings": {"base_url": "https://10.0.0.5/api/3"}}),
        )
        .await
        .problem(422);
    assert!(detail.starts_with("base_url: "), "{detail}");
    let t = api
        .post(
            &root,
            &format!("{base}/{iid}/test"),
            json!({"settings": {"base_url": "https://127.0.0.1/api/3"}}),
        )
        .await;
    assert_eq!(t.expect(200)["ok"], false);
    assert_eq!(
        api.get(&root, &format!("{base}/{iid}")).await.expect(200)["settings"]["base_url"],
        "https://acme.api-us1.com/api/3"
    );
}

#[tokio::test]
async fn admin_api_private_address_sqlite() {
    private_address(Backend::Sqlite).await;
}

#[tokio::test]
async fn admin_api_private_address_postgres() {
    private_address(Backend::Postgres).await;
}
