//! The "Custom attributes (extension schemas)" section of the Roles tab over real HTTP:
//! add (CSRF-protected, errors as a 422 form error), list, use in a rule, remove, audit;
//! read-only staff see no form and cannot post. On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::TestServer;
use common::ui::{PASSWORD, Ui, admin, csrf_of};
use serde_json::json;

const AT: &str = "urn:ietf:params:scim:schemas:extension:activtrak:2.0:User";

fn activtrak() -> String {
    json!({
        "id": AT,
        "name": "ActivTrakUser",
        "attributes": [
            {"name": "userPrincipalNames", "type": "string", "multiValued": true},
            {"name": "tracking", "type": "boolean"}
        ]
    })
    .to_string()
}

async fn extension_schemas_from_the_roles_tab(s: TestServer) {
    let t = s.cli(&["tenant", "create", "--name", "Acme"]);
    let tid = t["id"].as_str().unwrap();
    // Port 9 refuses at once, so the page's live role list fails fast.
    let created = s.cli(&[
        "integration",
        "create",
        "--tenant",
        tid,
        "--name",
        "Acme AC",
        "--connector",
        "activecampaign",
        "--setting",
        "base_url=http://127.0.0.1:9/api/3",
        "--secret",
        "api_key=sk-test",
        "--default-role",
        "User",
        "--mode",
        "dry-run",
    ]);
    let iid = created["id"].as_str().unwrap();
    let (scim_url, token) = (
        created["scim_url"].as_str().unwrap(),
        created["token"].as_str().unwrap(),
    );
    admin(&s, "acme@example.com", "tenant-admin", Some(tid));
    admin(&s, "support@example.com", "support", None);
    let roles = format!("/t/{tid}/integrations/{iid}/roles");
    let action = format!("/t/{tid}/integrations/{iid}/extensions");

    let ui = Ui::new(&s.base);
    assert_eq!(ui.sign_in("acme@example.com", PASSWORD).await.status, 303);
    let page = ui.get(&roles).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Custom attributes (extension schemas)"));
    assert!(page.body.contains("id=\"extensions-empty\""));
    assert!(page.body.contains("id=\"extension-form\""));
    let csrf = csrf_of(&page.body);

    // Without the CSRF token nothing happens.
    let forged = ui
        .post_raw(
            &action,
            &[("op", "add"), ("schema_json", &activtrak())],
            None,
        )
        .await;
    assert_eq!(forged.status, 403);

    // Errors are form errors (422) that keep what was typed.
    for (text, needle) in [
        ("{not json", "not valid JSON"),
        (
            r#"{"id":"urn:ietf:params:scim:schemas:core:2.0:User","attributes":[{"name":"x"}]}"#,
            "reserved",
        ),
        (
            r#"{"id":"urn:acme:User","attributes":[{"name":"x","type":"bool"}]}"#,
            "unknown type",
        ),
    ] {
        let r = ui
            .post_csrf(&csrf, &action, &[("op", "add"), ("schema_json", text)])
            .await;
        assert_eq!(r.status, 422, "{text}");
        assert!(r.body.contains("id=\"extensions-error\""), "{text}");
        assert!(r.body.contains(needle), "{text}: {}", r.body);
        assert!(r.body.contains("Mapping rules"), "the whole Roles page");
    }
    assert!(
        s.store()
            .await
            .get_integration(tid, iid)
            .await
            .unwrap()
            .unwrap()
            .extension_schemas
            .is_empty()
    );

    // Added: listed with its attributes and types, served by SCIM at once.
    let r = ui
        .post_csrf(
            &csrf,
            &action,
            &[("op", "add"), ("schema_json", &activtrak())],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = ui.get(&roles).await;
    assert!(page.body.contains(AT));
    assert!(page.body.contains("userPrincipalNames") && page.body.contains("string[]"));
    assert!(page.body.contains("tracking") && page.body.contains("boolean"));
    let schemas: serde_json::Value = s
        .http
        .get(format!("{scim_url}/Schemas/{AT}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(schemas["id"], AT, "{schemas}");

    // A rule filter can name the extension attribute now.
    let rule = format!("{AT}:tracking eq true");
    let saved = ui
        .post_csrf(
            &csrf,
            &roles,
            &[
                ("default_role", "User"),
                ("rule_kind", "filter"),
                ("rule_value", &rule),
                ("rule_role", "Admin"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);

    // Read-only support staff see the list but no form, and cannot post.
    let support = Ui::new(&s.base);
    assert_eq!(
        support
            .sign_in("support@example.com", PASSWORD)
            .await
            .status,
        303
    );
    let ro = support.get(&roles).await;
    assert_eq!(ro.status, 200);
    assert!(ro.body.contains(AT));
    assert!(!ro.body.contains("id=\"extension-form\""));
    assert!(!ro.body.contains("name=\"op\" value=\"remove\""));
    let ro_csrf = csrf_of(&support.get(&format!("/t/{tid}/integrations")).await.body);
    let denied = support
        .post_csrf(&ro_csrf, &action, &[("op", "remove"), ("urn", AT)])
        .await;
    assert_eq!(denied.status, 403);

    // Removing an unknown URN is a form error; removing the real one empties the list.
    let r = ui
        .post_csrf(&csrf, &action, &[("op", "remove"), ("urn", "urn:nope:x")])
        .await;
    assert_eq!(r.status, 422);
    let r = ui
        .post_csrf(&csrf, &action, &[("op", "remove"), ("urn", AT)])
        .await;
    assert_eq!(r.status, 303);
    assert!(
        ui.get(&roles)
            .await
            .body
            .contains("id=\"extensions-empty\"")
    );

    let audit = ui.get(&format!("/audit?tenant={tid}")).await;
    assert!(audit.body.contains("integration.extensions"), "audited");
}

on_both_backends!(extension_schemas_from_the_roles_tab);
