//! The SCIM connector against the fake Activepieces and ActivTrak over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use connector_api::{Connector, ConnectorError, DesiredUser};
use connector_scim::{AuthHeader, Scim, named};
use serde_json::{Map, json};
use std::time::Duration;
use testkit::{fake_activepieces, fake_activtrak};

const POLICY: target_http::Policy = target_http::Policy {
    allow_private: true,
};

fn desired(email: &str, role: &str) -> DesiredUser {
    DesiredUser {
        email: email.into(),
        username: email.into(),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        phone: None,
        roles: vec![role.into()],
        attributes: Map::new(),
    }
}

#[tokio::test]
async fn activepieces_users_roles_and_quirks() {
    let fake = fake_activepieces::start("k").await.unwrap();
    let c = Scim::new(
        &fake.base_url(),
        "k",
        named("activepieces").unwrap(),
        None,
        POLICY,
    )
    .unwrap();
    assert!(!c.accepts_any_role());
    let roles: Vec<String> = c
        .list_roles()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(roles, ["ADMIN", "MEMBER", "OPERATOR"]);
    let me = c.test_connection().await.unwrap();
    assert!(me.user_name.contains("PATCH yes"), "{me:?}");
    assert!(me.user_name.contains("CustomUserAttributes"), "{me:?}");

    let created = c
        .create_user(&desired("Ada@Example.com", "ADMIN"))
        .await
        .unwrap();
    let u = fake.user("ada@example.com").unwrap();
    assert_eq!(
        (u.platform_role.as_str(), u.given_name.as_str(), u.active),
        ("ADMIN", "Ada", true)
    );
    // Names and role change: sent with `add`, so Activepieces applies them.
    let mut d = desired("ada@example.com", "OPERATOR");
    d.first_name = Some("Grace".into());
    d.last_name = Some("Hopper".into());
    c.update_user(&created.id, &d).await.unwrap();
    let u = fake.user("ada@example.com").unwrap();
    assert_eq!(
        (
            u.given_name.as_str(),
            u.family_name.as_str(),
            u.platform_role.as_str()
        ),
        ("Grace", "Hopper", "OPERATOR")
    );
    c.set_roles(&created.id, &["MEMBER".into()]).await.unwrap();
    assert_eq!(
        fake.user("ada@example.com").unwrap().platform_role,
        "MEMBER"
    );
    // A real boolean deactivates (the string "False" would not).
    c.deactivate_user(&created.id).await.unwrap();
    assert!(!fake.user("ada@example.com").unwrap().active);
    c.reactivate_user(&created.id).await.unwrap();
    assert!(fake.user("ada@example.com").unwrap().active);
    // A second create conflicts; the account is found by e-mail for adoption.
    let e = c
        .create_user(&desired("ada@example.com", "ADMIN"))
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectorError::Conflict(_)), "{e:?}");
    let found = c
        .find_user_by_email("ADA@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.id.as_str(), found.roles.clone()),
        (created.id.as_str(), vec!["MEMBER".to_string()])
    );
    c.delete_user(&created.id).await.unwrap();
    assert!(
        !fake.user("ada@example.com").unwrap().active,
        "DELETE deactivates in Activepieces"
    );
    fake.stop().await;
}

#[tokio::test]
async fn activepieces_150th_user_and_paging_that_ignores_start_index() {
    let fake = fake_activepieces::start("k").await.unwrap();
    for i in 0..149 {
        fake.seed_user(&format!("u{i:03}@example.com"), "MEMBER");
    }
    let c = Scim::new(
        &fake.base_url(),
        "k",
        named("activepieces").unwrap(),
        None,
        POLICY,
    )
    .unwrap();
    let last = c
        .create_user(&desired("u149@example.com", "MEMBER"))
        .await
        .unwrap();
    let found = c
        .find_user_by_username("u149@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, last.id);
    assert!(
        c.find_user_by_username("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    // Listing stops when the target repeats its page instead of looping.
    fake.clear_requests();
    let page = c.list_users(0, 1000).await.unwrap();
    assert_eq!(
        page.items.len(),
        100,
        "Activepieces serves only its first 100"
    );
    assert_eq!(
        fake.requests().len(),
        2,
        "one page, one repeated page, stop"
    );
    fake.stop().await;
}

#[tokio::test]
async fn activepieces_projects_members_both_ways() {
    let fake = fake_activepieces::start("k").await.unwrap();
    let c = Scim::new(
        &fake.base_url(),
        "k",
        named("activepieces").unwrap(),
        None,
        POLICY,
    )
    .unwrap();
    let a = c
        .create_user(&desired("a@example.com", "MEMBER"))
        .await
        .unwrap();
    let b = c
        .create_user(&desired("b@example.com", "MEMBER"))
        .await
        .unwrap();
    let g = c.create_group("Sales").await.unwrap();
    c.add_group_members(&g.id, &[a.id.clone(), b.id.clone()])
        .await
        .unwrap();
    assert_eq!(
        fake.member_emails("Sales"),
        ["a@example.com", "b@example.com"]
    );
    c.remove_group_members(&g.id, std::slice::from_ref(&a.id))
        .await
        .unwrap();
    assert_eq!(
        fake.member_emails("Sales"),
        ["b@example.com"],
        "removed by the filter form"
    );
    c.rename_group(&g.id, "Sales EU").await.unwrap();
    assert!(fake.project("Sales EU").is_some());
    assert_eq!(c.list_groups().await.unwrap().len(), 1);
    c.delete_group(&g.id).await.unwrap();
    assert!(fake.project("Sales EU").is_none());
    fake.stop().await;
}

#[tokio::test]
async fn activtrak_attributes_put_and_page_numbers() {
    let fake = fake_activtrak::start("k").await.unwrap();
    fake.seed_users(149);
    let c = Scim::new(
        &fake.base_url(),
        "k",
        named("activtrak").unwrap(),
        None,
        POLICY,
    )
    .unwrap();
    c.test_connection().await.unwrap();
    let mut d = desired("ada@example.com", "User");
    d.username = "ada@corp.example".into();
    d.attributes.insert(
        fake_activtrak::USER_EXTENSION.into(),
        json!({"userPrincipalNames": ["ada@corp.example"], "tracking": false}),
    );
    d.attributes.insert(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into(),
        json!({"employeeNumber": "42"}),
    );
    let created = c.create_user(&d).await.unwrap();
    let u = fake.user("ada@corp.example").unwrap();
    assert_eq!(u.user_principal_names(), ["ada@corp.example"]);
    assert!(!u.tracking() && u.do_not_track());
    assert_eq!(
        u.resource["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "42"
    );
    // The 150th user: ActivTrak ignores the filter, so the pages are walked by number.
    let found = c
        .find_user_by_username("ada@corp.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, created.id);
    let paged: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.query.contains("startIndex=2"))
        .map(|r| r.query.clone())
        .collect();
    assert!(!paged.is_empty(), "page 2 was asked for by number");
    // Updates are read-modify-PUT (no PATCH).
    d.attributes.insert(
        fake_activtrak::USER_EXTENSION.into(),
        json!({"userPrincipalNames": ["ada@corp.example"], "tracking": true}),
    );
    c.update_user(&created.id, &d).await.unwrap();
    assert!(fake.user("ada@corp.example").unwrap().tracking());
    c.deactivate_user(&created.id).await.unwrap();
    assert!(!fake.user("ada@corp.example").unwrap().active());
    assert!(fake.requests().iter().all(|r| r.method != "PATCH"));
    // POST of an existing user answers 200: the same account.
    let again = c.create_user(&d).await.unwrap();
    assert_eq!(again.id, created.id);
    // Groups by PUT.
    let g = c.create_group("Ops").await.unwrap();
    c.add_group_members(&g.id, std::slice::from_ref(&created.id))
        .await
        .unwrap();
    assert_eq!(
        fake.group("Ops").unwrap().members,
        std::slice::from_ref(&created.id)
    );
    c.remove_group_members(&g.id, std::slice::from_ref(&created.id))
        .await
        .unwrap();
    assert!(fake.group("Ops").unwrap().members.is_empty());
    c.delete_group(&g.id).await.unwrap();
    c.delete_user(&created.id).await.unwrap();
    assert!(fake.user("ada@corp.example").unwrap().deleted);
    fake.stop().await;
}

#[tokio::test]
async fn auth_headers_and_error_classes() {
    let fake = fake_activtrak::start("k").await.unwrap();
    let bearer = Scim::new(
        &fake.base_url(),
        "k",
        named("activtrak").unwrap(),
        Some(AuthHeader::Bearer),
        POLICY,
    )
    .unwrap();
    bearer.test_connection().await.unwrap();
    let wrong = Scim::new(
        &fake.base_url(),
        "nope",
        named("activtrak").unwrap(),
        None,
        POLICY,
    )
    .unwrap();
    assert!(matches!(
        wrong.test_connection().await,
        Err(ConnectorError::Unauthorized(_))
    ));
    // The generic profile's capitalised paths are not ActivTrak's.
    let generic = Scim::new(
        &fake.base_url(),
        "k",
        named("generic").unwrap(),
        Some(AuthHeader::ApiKey),
        POLICY,
    )
    .unwrap();
    assert!(matches!(
        generic.get_user("1").await,
        Err(ConnectorError::NotFound(_)) | Ok(None)
    ));
    fake.fail_next(1, 429, Some(3));
    match bearer.list_groups().await {
        Err(ConnectorError::RateLimited { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(3)))
        }
        other => panic!("{other:?}"),
    }
    fake.fail_next(1, 503, None);
    assert!(matches!(
        bearer.list_groups().await,
        Err(ConnectorError::Transient(_))
    ));
    let e = bearer
        .create_user(&DesiredUser {
            email: String::new(),
            ..desired("", "User")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ConnectorError::Permanent(m) if m.contains("emails is required")),
        "{e:?}"
    );
    fake.stop().await;
}

#[tokio::test]
async fn put_sends_if_match_when_the_target_gives_etags() {
    let fake = fake_activtrak::start("k").await.unwrap();
    fake.with(|a| a.etags = true);
    let c = Scim::new(
        &fake.base_url(),
        "k",
        named("activtrak").unwrap(),
        None,
        POLICY,
    )
    .unwrap();
    let u = c
        .create_user(&desired("ada@example.com", "User"))
        .await
        .unwrap();
    c.deactivate_user(&u.id).await.unwrap();
    assert_eq!(fake.with(|a| a.if_match_seen), 1);
    assert!(!fake.user("ada@example.com").unwrap().active());
    // Without ETags no If-Match is sent.
    fake.with(|a| a.etags = false);
    c.reactivate_user(&u.id).await.unwrap();
    assert_eq!(fake.with(|a| a.if_match_seen), 1);
    fake.stop().await;
}

/// A minimal RFC target whose ServiceProviderConfig says it has no PATCH.
#[derive(Default)]
struct NoPatch {
    user: serde_json::Value,
    puts: usize,
}

impl testkit::scim_server::App for NoPatch {
    fn handle(&mut self, req: &testkit::scim_server::Req) -> testkit::scim_server::Reply {
        use testkit::scim_server::Reply;
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/scim/ServiceProviderConfig") => {
                Reply::json(200, json!({"patch": {"supported": false}}))
            }
            ("GET", "/scim/Users/1") => Reply::json(200, self.user.clone()),
            // A create answered 201 with no body; the account is then found by userName.
            ("POST", "/scim/Users") => Reply::empty(201),
            ("GET", "/scim/Users") => Reply::json(
                200,
                json!({"totalResults": 1, "Resources": [self.user.clone()]}),
            ),
            ("PUT", "/scim/Users/1") => {
                self.puts += 1;
                self.user = req.body.clone().and_then(Result::ok).unwrap_or_default();
                Reply::json(200, self.user.clone())
            }
            _ => Reply::scim_error(501, "not implemented"),
        }
    }
}

#[tokio::test]
async fn generic_targets_without_patch_get_put() {
    let app = NoPatch {
        user: json!({"id": "1", "userName": "ada@example.com", "active": true}),
        puts: 0,
    };
    let fake = testkit::scim_server::FakeServer::start(app, "no-patch")
        .await
        .unwrap();
    let base = format!("{}/scim", fake.origin());
    let c = Scim::new(&base, "k", named("generic").unwrap(), None, POLICY).unwrap();
    let created = c
        .create_user(&desired("ada@example.com", "User"))
        .await
        .unwrap();
    assert_eq!(created.id, "1", "found after an empty 201");
    c.deactivate_user("1").await.unwrap();
    c.add_role("1", "Admin").await.unwrap();
    assert_eq!(fake.with(|a| a.puts), 2);
    assert_eq!(fake.with(|a| a.user["active"].clone()), json!(false));
    assert_eq!(
        fake.with(|a| a.user["roles"][0]["value"].clone()),
        json!("Admin")
    );
    let spc_reads = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("ServiceProviderConfig"))
        .count();
    assert_eq!(spc_reads, 1, "read once");
    assert!(fake.requests().iter().all(|r| r.method != "PATCH"));
    fake.stop().await;
}
