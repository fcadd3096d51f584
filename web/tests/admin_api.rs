//! The admin REST API (`/api/v1`) over real HTTP on SQLite and PostgreSQL: every endpoint,
//! tenant scoping (another tenant's objects are 404), read-only roles (403 on writes), the API
//! token lifecycle (console and CLI), the per-token rate limit (shared by instances), problem
//! details, and every response validated against the served OpenAPI document.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::api::{Api, cli_token};
use common::ui::{PASSWORD, Ui, admin};
use common::{Backend, ServeOptions, TestServer};
use serde_json::{Value, json};

const AC_SETTINGS: &str = "https://acme.api-us1.com/api/3";
const AC_SECRET: &str = "sk-test-secret-4711";

fn integration_body(name: &str) -> Value {
    json!({
        "name": name,
        "connector": "activecampaign",
        "settings": {"base_url": AC_SETTINGS},
        "secrets": {"api_key": AC_SECRET},
        "default_role": "User",
        "role_rules": ["group:Sales Managers=Manager"],
        "mode": "dry_run",
    })
}

async fn everything(backend: Backend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let api = Api::new(&s.base).await;
    admin(&s, "root@example.com", "platform-admin", None);
    let root = cli_token(&s, "root@example.com", "automation");

    // ---- authentication and problem details
    let r = api.call(None, "get", "/api/v1/tenants", None).await;
    r.problem(401);
    let r = api.get("sbapi_not-a-token", "/api/v1/tenants").await;
    r.problem(401);
    let r = api
        .get("scb_a-scim-token-is-not-an-api-token", "/api/v1/tenants")
        .await;
    r.problem(401);
    let unknown = s
        .http
        .get(format!("{}/api/v1/no-such-thing", s.base))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );

    // ---- tenants
    let acme = api.new_tenant(&root, "Acme").await;
    let globex = api.new_tenant(&root, "Globex").await;
    api.post(&root, "/api/v1/tenants", json!({"name": "  "}))
        .await
        .problem(422);
    api.post(&root, "/api/v1/tenants", json!({"nme": "typo"}))
        .await
        .problem(400);
    api.call_raw(&root, "post", "/api/v1/tenants", "{not json")
        .await
        .problem(400);
    let list = api.get(&root, "/api/v1/tenants").await;
    assert_eq!(list.expect(200).as_array().unwrap().len(), 2);
    let one = api.get(&root, &format!("/api/v1/tenants/{acme}")).await;
    assert_eq!(one.expect(200)["name"], "Acme");
    api.get(
        &root,
        "/api/v1/tenants/00000000-0000-0000-0000-000000000000",
    )
    .await
    .problem(404);

    // ---- integrations: create a draft, activate, pause, resume
    let base = format!("/api/v1/tenants/{acme}/integrations");
    let created = api.post(&root, &base, integration_body("Acme AC")).await;
    let created = created.expect(201).clone();
    assert!(
        !created.to_string().contains(AC_SECRET),
        "secrets are never returned"
    );
    assert_eq!(created["integration"]["status"], "draft");
    assert!(created["token"].is_null());
    let iid = created["integration"]["id"].as_str().unwrap().to_string();
    let ipath = format!("{base}/{iid}");
    // The same validation as the wizard and the CLI.
    let mut bad = integration_body("Bad");
    bad["role_rules"] = json!(["nonsense"]);
    assert!(
        api.post(&root, &base, bad)
            .await
            .problem(422)
            .starts_with("role_rules: ")
    );
    let mut bad = integration_body("Bad");
    bad["settings"] = json!({});
    api.post(&root, &base, bad).await.problem(422);
    let mut bad = integration_body("Bad");
    bad["connector"] = json!("nope");
    api.post(&root, &base, bad).await.problem(422);
    let mut bad = integration_body("Bad");
    bad["delete_guard"] = json!("lots");
    api.post(&root, &base, bad).await.problem(422);
    api.post(&root, &format!("{ipath}/pause"), json!({}))
        .await
        .problem(409);
    let got = api.get(&root, &ipath).await;
    assert_eq!(got.expect(200)["name"], "Acme AC");
    assert!(!got.text.contains(AC_SECRET));
    let listed = api.get(&root, &base).await;
    assert_eq!(listed.expect(200).as_array().unwrap().len(), 1);
    let active = api
        .post(&root, &format!("{ipath}/activate"), json!({}))
        .await;
    let active = active.expect(200).clone();
    assert_eq!(active["integration"]["status"], "active");
    let scim_token = active["token"]["token"].as_str().unwrap().to_string();
    let scim_url = active["token"]["scim_url"].as_str().unwrap().to_string();
    api.post(&root, &format!("{ipath}/activate"), json!({}))
        .await
        .problem(409);
    // The SCIM token works on the SCIM endpoint.
    let scim = s
        .http
        .get(format!("{scim_url}/Users"))
        .bearer_auth(&scim_token)
        .send()
        .await
        .unwrap();
    assert_eq!(scim.status(), 200);
    let ann = s
        .http
        .post(format!("{scim_url}/Users"))
        .bearer_auth(&scim_token)
        .header("content-type", common::SCIM)
        .body(
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "ann@acme.test",
                "displayName": "Ann",
                "active": true
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ann.status(), 201);
    let paused = api.post(&root, &format!("{ipath}/pause"), json!({})).await;
    assert_eq!(paused.expect(200)["status"], "paused");
    api.post(&root, &format!("{ipath}/pause"), json!({}))
        .await
        .problem(409);
    let resumed = api.post(&root, &format!("{ipath}/resume"), json!({})).await;
    assert_eq!(resumed.expect(200)["status"], "active");
    // Created active at once, as `scimbridge integration create` does.
    let mut at_once = integration_body("Acme now");
    at_once["activate"] = json!(true);
    let at_once = api.post(&root, &base, at_once).await;
    let at_once = at_once.expect(201).clone();
    assert_eq!(at_once["integration"]["status"], "active");
    assert!(
        at_once["token"]["token"]
            .as_str()
            .unwrap()
            .starts_with("scb_")
    );

    // ---- SCIM tokens
    let tokens = format!("{ipath}/tokens");
    let issued = api
        .post(&root, &tokens, json!({"expires_in_days": 30}))
        .await;
    let issued = issued.expect(201).clone();
    assert!(issued["expires_at"].as_i64().is_some());
    let prefix = issued["prefix"].as_str().unwrap().to_string();
    api.post(&root, &tokens, json!({"expires_in_days": 0}))
        .await
        .problem(422);
    let list = api.get(&root, &tokens).await;
    let list = list.expect(200).as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert!(
        !list.iter().any(|t| t.get("token").is_some()),
        "no secrets in lists"
    );
    assert_eq!(
        api.delete(&root, &format!("{tokens}/{prefix}"))
            .await
            .status,
        204
    );
    api.delete(&root, &format!("{tokens}/{prefix}"))
        .await
        .problem(404);
    let list = api.get(&root, &tokens).await;
    let states: Vec<&str> = list
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert!(states.contains(&"revoked") && states.contains(&"active"));

    // ---- jobs
    let failed = api.get(&root, &format!("{ipath}/jobs/failed")).await;
    assert!(failed.expect(200).as_array().unwrap().is_empty());
    let retried = api
        .post(&root, &format!("{ipath}/jobs/retry"), json!({}))
        .await;
    assert_eq!(retried.expect(200)["retried"], 0);

    // ---- provisioning log: the SCIM request above, with the console's filters and paging
    let log = format!("/api/v1/tenants/{acme}/log");
    let mut events = Value::Null;
    for _ in 0..100 {
        let r = api.get(&root, &format!("{log}?direction=inbound")).await;
        events = r.expect(200).clone();
        if !events["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let items = events["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .all(|e| e["direction"] == "inbound" && e["integration_id"] == iid.as_str())
    );
    assert!(!items.is_empty(), "the SCIM request is logged");
    let page = api
        .get(&root, &format!("{log}?limit=1&direction=inbound"))
        .await;
    let page = page.expect(200).clone();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let none = api
        .get(&root, &format!("{log}?direction=outbound&status=error"))
        .await;
    assert!(none.expect(200)["items"].as_array().unwrap().is_empty());
    assert!(none.body["next_before"].is_null());
    api.get(&root, &format!("{log}?from=yesterday"))
        .await
        .problem(400);
    api.get(&root, &format!("{log}?limit=many"))
        .await
        .problem(400);

    // ---- a trace: one request's events
    let cid = items[0]["correlation_id"].as_str().unwrap().to_string();
    let trace = api
        .get(&root, &format!("/api/v1/tenants/{acme}/traces/{cid}"))
        .await;
    let trace = trace.expect(200).clone();
    assert!(
        trace["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["correlation_id"] == cid.as_str())
    );
    api.get(
        &root,
        &format!("/api/v1/tenants/{acme}/traces/no-such-trace"),
    )
    .await
    .problem(404);
    api.get(&root, &format!("/api/v1/tenants/{globex}/traces/{cid}"))
        .await
        .problem(404);

    // ---- users and their target state, the rules' preview, the reconciliation report
    // The worker works the user out meanwhile: wait for its state to settle, so the filter
    // below asks for the state the user still has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let users = loop {
        let users = api.get(&root, &format!("{ipath}/users")).await;
        let users = users.expect(200).clone();
        if users["items"][0]["target_state"] == "dry_run" || std::time::Instant::now() > deadline {
            break users;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(users["total"], 1);
    let u = &users["items"][0];
    assert_eq!(u["user_name"], "ann@acme.test");
    assert!(
        ["not_synced", "dry_run"].contains(&u["target_state"].as_str().unwrap()),
        "{u}"
    );
    let none = api.get(&root, &format!("{ipath}/users?q=zzz")).await;
    assert_eq!(none.expect(200)["total"], 0);
    let state = u["target_state"].as_str().unwrap().to_string();
    let same = api
        .get(&root, &format!("{ipath}/users?state={state}"))
        .await;
    assert_eq!(same.expect(200)["total"], 1);
    api.get(&root, &format!("{ipath}/users?state=sleeping"))
        .await
        .problem(400);
    let preview = api.get(&root, &format!("{ipath}/role-preview")).await;
    let preview = preview.expect(200).clone();
    assert_eq!(preview["users"], 1);
    assert_eq!(preview["default_role"], "User");
    assert_eq!(preview["rules"].as_array().unwrap().len(), 1);
    assert_eq!(preview["rules"][0]["role"], "Manager");
    assert_eq!(preview["rules"][0]["matches"], 0, "Ann is in no group");
    assert_eq!(preview["default"], 1, "Ann gets the default role");
    let report = api.get(&root, &format!("{ipath}/reconciliation")).await;
    let report = report.expect(200).clone();
    for k in ["orphaned", "drift", "missing"] {
        assert!(report[k].is_array(), "{k}: {report}");
    }

    // ---- audit log: the API's changes are there, under the token's owner
    let audit = api
        .get(
            &root,
            &format!("/api/v1/audit?tenant_id={acme}&action=integration.create"),
        )
        .await;
    let audit = audit.expect(200).clone();
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(
        entries[0]["actor_email"]
            .as_str()
            .unwrap()
            .starts_with("root@example.com (API token sbapi_")
    );
    let all = api.get(&root, "/api/v1/audit?limit=2").await;
    assert!(all.expect(200)["next_before"].as_i64().is_some());

    // ---- staff
    let invited = api
        .post(
            &root,
            "/api/v1/staff",
            json!({"email": "ta@acme.test", "role": "tenant_admin", "tenant_id": acme}),
        )
        .await;
    let invited = invited.expect(201).clone();
    assert!(
        invited["link"]
            .as_str()
            .unwrap()
            .contains("/account/set-password?token=")
    );
    assert_eq!(invited["staff"]["active"], false);
    let ta_invited = invited["staff"]["id"].as_str().unwrap().to_string();
    // No password yet: a new link is a new invitation.
    let again = api
        .post(
            &root,
            &format!("/api/v1/staff/{ta_invited}/link"),
            json!({}),
        )
        .await;
    assert_eq!(again.expect(201)["purpose"], "invite");
    assert_ne!(again.body["link"], invited["link"]);
    api.post(
        &root,
        "/api/v1/staff",
        json!({"email": "ta@acme.test", "role": "tenant_admin", "tenant_id": acme}),
    )
    .await
    .problem(422);
    api.post(
        &root,
        "/api/v1/staff",
        json!({"email": "x@acme.test", "role": "king"}),
    )
    .await
    .problem(422);
    let staff = api.get(&root, "/api/v1/staff").await;
    assert_eq!(staff.expect(200).as_array().unwrap().len(), 2);
    let changed = api
        .post(
            &root,
            &format!("/api/v1/staff/{ta_invited}/role"),
            json!({"role": "support"}),
        )
        .await;
    assert_eq!(changed.expect(200)["role"], "support");
    let disabled = api
        .post(
            &root,
            &format!("/api/v1/staff/{ta_invited}/disable"),
            json!({}),
        )
        .await;
    assert_eq!(disabled.expect(200)["disabled"], true);
    let enabled = api
        .post(
            &root,
            &format!("/api/v1/staff/{ta_invited}/enable"),
            json!({}),
        )
        .await;
    assert_eq!(enabled.expect(200)["disabled"], false);
    assert_eq!(
        api.delete(&root, &format!("/api/v1/staff/{ta_invited}"))
            .await
            .status,
        204
    );
    api.delete(&root, &format!("/api/v1/staff/{ta_invited}"))
        .await
        .problem(404);
    // Nobody removes their own account (nor the last platform admin).
    let root_id = staff
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "root@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    api.delete(&root, &format!("/api/v1/staff/{root_id}"))
        .await
        .problem(422);

    // ---- scoping: a tenant admin's token sees its tenant only; another tenant is 404
    admin(&s, "ta@globex.test", "tenant-admin", Some(&globex));
    let ta = cli_token(&s, "ta@globex.test", "globex script");
    let mine = api.get(&ta, "/api/v1/tenants").await;
    let mine = mine.expect(200).as_array().unwrap().clone();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], globex.as_str());
    api.get(&ta, &format!("/api/v1/tenants/{acme}"))
        .await
        .problem(404);
    api.get(&ta, &ipath).await.problem(404);
    api.get(&ta, &format!("/api/v1/tenants/{globex}/integrations/{iid}"))
        .await
        .problem(404);
    api.post(&ta, &format!("{ipath}/pause"), json!({}))
        .await
        .problem(404);
    api.delete(
        &ta,
        &format!("{tokens}/{}", active["token"]["prefix"].as_str().unwrap()),
    )
    .await
    .problem(404);
    api.get(&ta, &log).await.problem(404);
    api.get(&ta, &format!("{ipath}/users")).await.problem(404);
    api.get(&ta, &format!("{ipath}/role-preview"))
        .await
        .problem(404);
    api.get(&ta, &format!("{ipath}/reconciliation"))
        .await
        .problem(404);
    api.get(&ta, &format!("{ipath}/jobs/failed"))
        .await
        .problem(404);
    api.get(&ta, &tokens).await.problem(404);
    api.get(&ta, &format!("/api/v1/audit?tenant_id={acme}"))
        .await
        .problem(404);
    api.post(&ta, &base, integration_body("Not mine"))
        .await
        .problem(404);
    api.post(&ta, "/api/v1/tenants", json!({"name": "Mine"}))
        .await
        .problem(403);
    let own = api
        .post(
            &ta,
            &format!("/api/v1/tenants/{globex}/integrations"),
            integration_body("Globex AC"),
        )
        .await;
    own.expect(201);
    let audit = api.get(&ta, "/api/v1/audit").await;
    assert!(
        audit.expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["tenant_id"] == globex.as_str())
    );
    // A tenant admin manages their own tenant's admins only and gives no higher role.
    api.post(
        &ta,
        "/api/v1/staff",
        json!({"email": "boss@globex.test", "role": "platform_admin"}),
    )
    .await
    .problem(403);

    // ---- read-only: a support token reads everywhere and writes nothing (but retries jobs)
    admin(&s, "help@example.com", "support", None);
    let support = cli_token(&s, "help@example.com", "dashboards");
    assert_eq!(
        api.get(&support, "/api/v1/tenants")
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        2
    );
    api.get(&support, &ipath).await.expect(200);
    api.post(&support, &base, integration_body("Nope"))
        .await
        .problem(403);
    api.post(&support, &format!("{ipath}/pause"), json!({}))
        .await
        .problem(403);
    api.post(&support, &tokens, json!({})).await.problem(403);
    api.delete(&support, &ipath).await.problem(403);
    api.post(&support, "/api/v1/tenants", json!({"name": "Nope"}))
        .await
        .problem(403);
    api.get(&support, "/api/v1/staff").await.problem(403);
    api.post(&support, &format!("{ipath}/jobs/retry"), json!({}))
        .await
        .expect(200);

    // ---- token lifecycle in the console: created (shown once), used, last used, revoked
    let ui = Ui::new(&s.base);
    assert_eq!(ui.sign_in("root@example.com", PASSWORD).await.status, 303);
    let page = ui
        .post(
            "/api-tokens",
            "/api-tokens",
            &[
                ("name", "ci"),
                ("role", "support"),
                ("tenant", &acme),
                ("expires_days", "30"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let marker = "id=\"api-token-value\" readonly value=\"";
    let start = page.body.find(marker).expect("the new token is shown") + marker.len();
    let console_token = page.body[start..][..page.body[start..].find('"').unwrap()].to_string();
    assert!(console_token.starts_with("sbapi_"));
    let again = ui.get("/api-tokens").await;
    assert!(!again.body.contains(&console_token), "shown only once");
    assert!(
        again.body.contains(&console_token[..14]),
        "listed by prefix"
    );
    // Narrowed to Acme, read-only.
    let scoped = api.get(&console_token, "/api/v1/tenants").await;
    assert_eq!(scoped.expect(200).as_array().unwrap().len(), 1);
    api.get(&console_token, &format!("/api/v1/tenants/{globex}"))
        .await
        .problem(404);
    api.post(&console_token, &format!("{ipath}/pause"), json!({}))
        .await
        .problem(403);
    let db = s.store().await;
    let owner = db
        .find_staff_by_email("root@example.com")
        .await
        .unwrap()
        .unwrap();
    let rows = db.list_api_tokens(&owner.id).await.unwrap();
    let row = rows.iter().find(|t| t.name == "ci").unwrap();
    assert!(row.last_used_at.is_some(), "last used is recorded");
    assert!(row.expires_at.is_some());
    // A role above the creator's is refused; a bad form is an error next to the form.
    let refused = ui
        .post(
            "/api-tokens",
            "/api-tokens",
            &[("name", ""), ("role", "support")],
        )
        .await;
    assert_eq!(refused.status, 422);
    // No CSRF token: refused.
    let forged = ui.post_raw("/api-tokens", &[("name", "x")], None).await;
    assert_eq!(forged.status, 403);
    let revoke = ui
        .post(
            "/api-tokens",
            &format!("/api-tokens/{}/revoke", row.id),
            &[],
        )
        .await;
    assert_eq!(revoke.status, 303);
    api.get(&console_token, "/api/v1/tenants")
        .await
        .problem(401);
    let audit = db
        .list_audit(&store::AuditQuery {
            action: Some("api_token.revoke".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);

    // ---- expired tokens stop working
    let expiring = cli_token(&s, "help@example.com", "short-lived");
    api.get(&expiring, "/api/v1/tenants").await.expect(200);
    {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        use store::entities::api_tokens;
        api_tokens::Entity::update_many()
            .col_expr(
                api_tokens::Column::ExpiresAt,
                Expr::value(store::now_ms() - 1),
            )
            .filter(api_tokens::Column::Name.eq("short-lived"))
            .exec(db.db())
            .await
            .unwrap();
    }
    api.get(&expiring, "/api/v1/tenants").await.problem(401);

    // ---- an owner disabled (then removed) takes their tokens with them
    let ta_id = db
        .find_staff_by_email("ta@globex.test")
        .await
        .unwrap()
        .unwrap()
        .id;
    api.post(&root, &format!("/api/v1/staff/{ta_id}/disable"), json!({}))
        .await
        .expect(200);
    api.get(&ta, "/api/v1/tenants").await.problem(401);
    api.post(&root, &format!("/api/v1/staff/{ta_id}/enable"), json!({}))
        .await
        .expect(200);
    api.get(&ta, "/api/v1/tenants").await.expect(200);
    assert_eq!(
        api.delete(&root, &format!("/api/v1/staff/{ta_id}"))
            .await
            .status,
        204
    );
    api.get(&ta, "/api/v1/tenants").await.problem(401);

    // ---- the CLI refuses what it cannot do
    let err = s.cli_fails(&[
        "api-token",
        "create",
        "--email",
        "nobody@example.com",
        "--name",
        "x",
    ]);
    assert!(err.contains("no staff account"), "{err}");
    let err = s.cli_fails(&[
        "api-token",
        "create",
        "--email",
        "root@example.com",
        "--name",
        "x",
        "--expires-in-days",
        "0",
    ]);
    assert!(err.contains("--expires-in-days"), "{err}");

    // ---- the console's reference page renders the document
    let reference = ui.get("/api-reference").await;
    assert_eq!(reference.status, 200);
    for op in [
        "POST /api/v1/tenants",
        "GET /api/v1/tenants/{tenant_id}/log",
        "IntegrationCreate",
    ] {
        assert!(reference.body.contains(op), "{op} on the reference page");
    }

    // ---- remote CLI: the same commands through the API (`--api URL --api-token T`)
    let remote = |args: &[&str]| {
        let mut all = vec!["--api", s.base.as_str(), "--api-token", root.as_str()];
        all.extend_from_slice(args);
        s.cli(&all)
    };
    let t = remote(&["tenant", "create", "--name", "Remote Co"]);
    let remote_tid = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["name"], "Remote Co");
    let made = remote(&[
        "integration",
        "create",
        "--tenant",
        &remote_tid,
        "--name",
        "Remote AC",
        "--connector",
        "activecampaign",
        "--setting",
        &format!("base_url={AC_SETTINGS}"),
        "--secret",
        &format!("api_key={AC_SECRET}"),
        "--default-role",
        "User",
        "--mode",
        "dry-run",
    ]);
    let remote_iid = made["id"].as_str().unwrap().to_string();
    assert!(made["token"].as_str().unwrap().starts_with("scb_"));
    let issued = remote(&[
        "token",
        "issue",
        "--integration",
        &remote_iid,
        "--expires-in-days",
        "7",
    ]);
    let p = issued["prefix"].as_str().unwrap().to_string();
    assert_eq!(
        remote(&[
            "token",
            "revoke",
            "--integration",
            &remote_iid,
            "--prefix",
            &p
        ])["revoked"],
        p.as_str()
    );
    assert!(
        remote(&["job", "failed", "--integration", &remote_iid])["failed"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        remote(&["job", "retry", "--integration", &remote_iid])["retried"],
        0
    );
    let err = s.cli_fails(&[
        "--api",
        &s.base,
        "--api-token",
        &support,
        "tenant",
        "create",
        "--name",
        "No",
    ]);
    assert!(err.contains("403"), "{err}");
    let err = s.cli_fails(&["--api", &s.base, "--api-token", &root, "migrate"]);
    assert!(err.contains("--api covers"), "{err}");

    // ---- delete last: the integration and its SCIM URL are gone
    assert_eq!(api.delete(&root, &ipath).await.status, 204);
    api.get(&root, &ipath).await.problem(404);
    let gone = s
        .http
        .get(format!("{scim_url}/Users"))
        .bearer_auth(&scim_token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401);

    let missing = api.uncalled(common::api::tags_of("admin_api.rs"));
    assert!(missing.is_empty(), "operations no test called: {missing:?}");
    let odd = api.untested_tags();
    assert!(odd.is_empty(), "operations no test file covers: {odd:?}");
}

#[tokio::test]
async fn admin_api_everything_sqlite() {
    everything(Backend::Sqlite).await;
}

#[tokio::test]
async fn admin_api_everything_postgres() {
    everything(Backend::Postgres).await;
}

async fn rate_limited(backend: Backend) {
    let opts = ServeOptions::env(&[("SCIMBRIDGE_API_RATE_PER_MINUTE", "3")]);
    let Some(s) = TestServer::start_with(backend, opts).await else {
        return;
    };
    let api = Api::new(&s.base).await;
    admin(&s, "root@example.com", "platform-admin", None);
    let a = cli_token(&s, "root@example.com", "a");
    let b = cli_token(&s, "root@example.com", "b");
    // The rate is the token's, whichever instance answers: two requests here and one at a
    // second instance on the same database use it up on both.
    let second = s.another_instance().await;
    let api2 = Api::new(&second.base).await;
    api.get(&a, "/api/v1/tenants").await.expect(200);
    api2.get(&a, "/api/v1/tenants").await.expect(200);
    api.get(&a, "/api/v1/tenants").await.expect(200);
    api2.get(&a, "/api/v1/tenants").await.problem(429);
    let over = api.get(&a, "/api/v1/tenants").await;
    over.problem(429);
    let wait: u64 = over.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "Retry-After {wait}");
    // Per token: another token has its own rate.
    api.get(&b, "/api/v1/tenants").await.expect(200);
    // The document needs no token and is not limited.
    for _ in 0..5 {
        let r = s
            .http
            .get(format!("{}/api/v1/openapi.json", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn admin_api_rate_limit_sqlite() {
    rate_limited(Backend::Sqlite).await;
}

#[tokio::test]
async fn admin_api_rate_limit_postgres() {
    rate_limited(Backend::Postgres).await;
}
