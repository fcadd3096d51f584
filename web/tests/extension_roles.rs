//! A role rule on a custom extension attribute, through the real worker to the fake
//! ActiveCampaign (SQLite and PostgreSQL): Activepieces' `platformRole` decides the role.
//! (The worker reads rules with the integration's User type, `provisioning::inputs::load_rules`;
//! with the standard type such a rule failed every job as "unknown attribute".)

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::TestServer;
use serde_json::json;
use std::time::{Duration, Instant};
use testkit::fake_activecampaign::{AccountConfig, FakeActiveCampaign, FakeConfig};

const TOKEN: &str = "ac-key-of-owner";
const AP: &str = "urn:ietf:params:scim:schemas:activepieces:1.0:CustomUserAttributes";

async fn a_rule_on_an_extension_attribute_gives_the_role(s: TestServer) {
    let f = FakeActiveCampaign::start(
        FakeConfig::default().account(AccountConfig::new("acme", TOKEN).groups([
            "Manager",
            "User",
            "No access",
        ])),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("activepieces.json");
    std::fs::write(
        &schema,
        json!({"id": AP, "name": "CustomUserAttributes",
               "attributes": [{"name": "platformRole", "type": "string"}]})
        .to_string(),
    )
    .unwrap();
    let (base, key, schema, rule) = (
        format!("base_url={}", f.base_url()),
        format!("api_key={TOKEN}"),
        schema.display().to_string(),
        format!("filter:{AP}:platformRole eq \"ADMIN\"=Manager"),
    );
    let ep = s.endpoint_with(
        "Acme",
        &[
            "--setting",
            &base,
            "--secret",
            &key,
            "--extension-schema",
            &schema,
            "--role-rule",
            &rule,
            "--default-role",
            "User",
        ],
    );
    for (name, role) in [("admin@acme.test", "ADMIN"), ("member@acme.test", "MEMBER")] {
        let r = s
            .call(
                &ep,
                "POST",
                "/Users",
                Some(json!({
                    "userName": name, "active": true,
                    "emails": [{"primary": true, "type": "work", "value": name}],
                    "name": {"givenName": "G", "familyName": "F"},
                    AP: {"platformRole": role}
                })),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let group_of = |email: &str| {
        let snap = f.account_state("acme").unwrap();
        let u = snap.users.iter().find(|u| u.email == email)?.clone();
        let gid = u.group_id?;
        snap.groups
            .iter()
            .find(|g| g.id == gid)
            .map(|g| g.title.clone())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if group_of("admin@acme.test").is_some() && group_of("member@acme.test").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "users were not provisioned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(group_of("admin@acme.test").as_deref(), Some("Manager"));
    assert_eq!(group_of("member@acme.test").as_deref(), Some("User"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rule_on_extension_attribute() {
    let s = TestServer::start(common::Backend::Sqlite).await.unwrap();
    a_rule_on_an_extension_attribute_gives_the_role(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rule_on_extension_attribute() {
    match TestServer::start(common::Backend::Postgres).await {
        Some(s) => a_rule_on_an_extension_attribute_gives_the_role(s).await,
        None => {
            eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set")
        }
    }
}
