//! The fake Activepieces reproduces every quirk of target-apis.md §2.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use serde_json::{Value, json};
use testkit::fake_activepieces::{self, EXTENSION, FakeActivepieces};

const KEY: &str = "ap-key";

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(fake: &FakeActivepieces) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: fake.base_url(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self
            .http
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(KEY);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn create(&self, email: &str, role: &str) -> String {
        let (s, v) = self
            .call(
                "POST",
                "/Users",
                Some(json!({"userName": email, "name": {"givenName": "Ada", "familyName": "Lovelace"},
                    "active": true, EXTENSION: {"platformRole": role}})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }
}

fn patch(ops: Value) -> Option<Value> {
    Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}))
}

#[tokio::test]
async fn auth_create_conflicts_and_user_name_as_email() {
    let fake = fake_activepieces::start(KEY).await.unwrap();
    let api = Api::new(&fake);
    let r = reqwest::Client::new()
        .get(format!("{}/Users", fake.base_url()))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (s, v) = api
        .call(
            "POST",
            "/Users",
            Some(json!({"userName": "  Ada@Example.COM ", "emails": [{"value": "other@x.y"}], "externalId": "e1"})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(
        v["userName"], "ada@example.com",
        "userName is the e-mail, lower-cased"
    );
    assert_eq!(
        v["emails"][0]["value"], "ada@example.com",
        "emails are ignored"
    );
    assert_eq!(v[EXTENSION]["platformRole"], "MEMBER", "default role");
    let (s, v) = api
        .call(
            "POST",
            "/Users",
            Some(json!({"userName": "ada@example.com"})),
        )
        .await;
    assert_eq!(
        (s, v["detail"].as_str()),
        (409, Some("User with email already exists"))
    );
    let (s, v) = api
        .call(
            "POST",
            "/Users",
            Some(json!({"userName": "b@example.com", "externalId": "e1"})),
        )
        .await;
    assert_eq!(
        (s, v["detail"].as_str()),
        (409, Some("User with external ID already exists"))
    );
    let (s, _) = api
        .call(
            "POST",
            "/Users",
            Some(json!({"userName": "c@example.com", EXTENSION: {"platformRole": "OWNER"}})),
        )
        .await;
    assert_eq!(s, 400, "platformRole is an enum");
    fake.stop().await;
}

#[tokio::test]
async fn replace_on_names_and_role_is_ignored_add_applies() {
    let fake = fake_activepieces::start(KEY).await.unwrap();
    let api = Api::new(&fake);
    let id = api.create("ada@example.com", "MEMBER").await;
    let (s, _) = api
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            patch(json!([
                {"op": "Replace", "path": "name.givenName", "value": "Grace"},
                {"op": "replace", "path": format!("{EXTENSION}:platformRole"), "value": "ADMIN"},
                {"op": "replace", "value": {"name.familyName": "Hopper"}},
            ])),
        )
        .await;
    assert_eq!(s, 200);
    let u = fake.user("ada@example.com").unwrap();
    assert_eq!(
        (
            u.given_name.as_str(),
            u.family_name.as_str(),
            u.platform_role.as_str()
        ),
        ("Ada", "Lovelace", "MEMBER")
    );
    // `add` changes them; the role path with `.` is accepted as well as `:`.
    api.call(
        "PATCH",
        &format!("/Users/{id}"),
        patch(json!([
            {"op": "Add", "path": "name.givenName", "value": "Grace"},
            {"op": "add", "path": "name.familyName", "value": "Hopper"},
            {"op": "add", "path": format!("{EXTENSION}.platformRole"), "value": "OPERATOR"},
        ])),
    )
    .await;
    let u = fake.user("ada@example.com").unwrap();
    assert_eq!(
        (
            u.given_name.as_str(),
            u.family_name.as_str(),
            u.platform_role.as_str()
        ),
        ("Grace", "Hopper", "OPERATOR")
    );
    api.call(
        "PATCH",
        &format!("/Users/{id}"),
        patch(
            json!([{"op": "add", "path": format!("{EXTENSION}:platformRole"), "value": "ADMIN"}]),
        ),
    )
    .await;
    assert_eq!(fake.user("ada@example.com").unwrap().platform_role, "ADMIN");
    fake.stop().await;
}

#[tokio::test]
async fn string_false_keeps_the_user_active_real_false_deactivates_delete_deactivates() {
    let fake = fake_activepieces::start(KEY).await.unwrap();
    let api = Api::new(&fake);
    let id = api.create("ada@example.com", "MEMBER").await;
    api.call(
        "PATCH",
        &format!("/Users/{id}"),
        patch(json!([{"op": "Replace", "path": "active", "value": "False"}])),
    )
    .await;
    assert!(
        fake.user("ada@example.com").unwrap().active,
        "\"False\" is truthy"
    );
    api.call(
        "PATCH",
        &format!("/Users/{id}"),
        patch(json!([{"op": "replace", "path": "active", "value": false}])),
    )
    .await;
    assert!(!fake.user("ada@example.com").unwrap().active);
    api.call(
        "PATCH",
        &format!("/Users/{id}"),
        patch(json!([{"op": "replace", "value": {"active": true}}])),
    )
    .await;
    assert!(fake.user("ada@example.com").unwrap().active);
    let (s, _) = api.call("DELETE", &format!("/Users/{id}"), None).await;
    assert_eq!(s, 204);
    let u = fake.user("ada@example.com").unwrap();
    assert!(!u.active, "DELETE deactivates, no hard delete");
    let (s, v) = api.call("GET", &format!("/Users/{id}"), None).await;
    assert_eq!((s, &v["active"]), (200, &json!(false)));
    let (s, _) = api.call("GET", "/Users/nope", None).await;
    assert_eq!(s, 404);
    fake.stop().await;
}

#[tokio::test]
async fn filter_only_by_user_name_and_start_index_ignored() {
    let fake = fake_activepieces::start(KEY).await.unwrap();
    let api = Api::new(&fake);
    for i in 0..150 {
        fake.seed_user(&format!("u{i:03}@example.com"), "MEMBER");
    }
    let (_, v) = api
        .call(
            "GET",
            "/Users?filter=userName%20eq%20%22U149@example.com%22",
            None,
        )
        .await;
    assert_eq!(v["totalResults"], 1);
    assert_eq!(v["Resources"][0]["userName"], "u149@example.com");
    // Another filter is ignored: the unfiltered first page comes back.
    let (_, v) = api
        .call(
            "GET",
            "/Users?filter=externalId%20eq%20%22x%22&count=5",
            None,
        )
        .await;
    assert_eq!(v["Resources"].as_array().unwrap().len(), 5);
    // startIndex is ignored and totalResults is the page length.
    let (_, p1) = api.call("GET", "/Users?startIndex=1&count=100", None).await;
    let (_, p2) = api
        .call("GET", "/Users?startIndex=101&count=100", None)
        .await;
    assert_eq!(p1["Resources"][0]["id"], p2["Resources"][0]["id"]);
    assert_eq!(p2["totalResults"], 100);
    let (_, big) = api.call("GET", "/Users?count=500", None).await;
    assert_eq!(
        big["Resources"].as_array().unwrap().len(),
        100,
        "at most 100"
    );
    fake.stop().await;
}

#[tokio::test]
async fn groups_are_projects_with_one_removal_form() {
    let fake = fake_activepieces::start(KEY).await.unwrap();
    let api = Api::new(&fake);
    let a = api.create("a@example.com", "MEMBER").await;
    let b = api.create("b@example.com", "MEMBER").await;
    let c = api.create("c@example.com", "MEMBER").await;
    api.call(
        "PATCH",
        &format!("/Users/{c}"),
        patch(json!([{"op": "replace", "path": "active", "value": false}])),
    )
    .await;
    let (s, g) = api
        .call(
            "POST",
            "/Groups",
            Some(json!({"displayName": "Sales", "externalId": "ext-1", "members": []})),
        )
        .await;
    assert_eq!(s, 201);
    let gid = g["id"].as_str().unwrap().to_string();
    api.call("PATCH", &format!("/Groups/{gid}"), patch(json!([{"op": "Add", "path": "members", "value": [{"value": a}, {"value": b}, {"value": c}, {"value": "ghost"}]}]))).await;
    assert_eq!(
        fake.member_emails("Sales"),
        vec!["a@example.com", "b@example.com"],
        "inactive and unknown users are skipped"
    );
    // Entra's classic removal form is ignored …
    api.call(
        "PATCH",
        &format!("/Groups/{gid}"),
        patch(json!([{"op": "Remove", "path": "members", "value": [{"value": a}]}])),
    )
    .await;
    assert_eq!(fake.member_emails("Sales").len(), 2);
    // … only the filter form removes.
    api.call(
        "PATCH",
        &format!("/Groups/{gid}"),
        patch(json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}])),
    )
    .await;
    assert_eq!(fake.member_emails("Sales"), vec!["b@example.com"]);
    api.call(
        "PATCH",
        &format!("/Groups/{gid}"),
        patch(json!([{"op": "replace", "path": "displayName", "value": "Sales EU"}])),
    )
    .await;
    assert!(fake.project("Sales EU").is_some());
    // displayName filters look the value up as the externalId.
    let (_, v) = api
        .call(
            "GET",
            "/Groups?filter=displayName%20eq%20%22Sales%20EU%22",
            None,
        )
        .await;
    assert_eq!(v["totalResults"], 0);
    let (_, v) = api
        .call("GET", "/Groups?filter=displayName%20eq%20%22ext-1%22", None)
        .await;
    assert_eq!(v["Resources"][0]["displayName"], "Sales EU");
    let (s, _) = api.call("DELETE", &format!("/Groups/{gid}"), None).await;
    assert_eq!(s, 204);
    assert!(fake.project("Sales EU").is_none());
    fake.stop().await;
}

#[tokio::test]
async fn discovery_and_injected_faults() {
    let fake = fake_activepieces::start(KEY).await.unwrap();
    let api = Api::new(&fake);
    let (s, spc) = api.call("GET", "/ServiceProviderConfig", None).await;
    assert_eq!(
        (s, &spc["patch"]["supported"], &spc["etag"]["supported"]),
        (200, &json!(true), &json!(false))
    );
    let (_, schemas) = api.call("GET", "/Schemas", None).await;
    assert!(
        schemas["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == EXTENSION)
    );
    fake.fail_next(1, 429, Some(2));
    let r = reqwest::Client::new()
        .get(format!("{}/Users", fake.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    let (s, _) = api.call("GET", "/Users", None).await;
    assert_eq!(s, 200, "one failure only");
    assert_eq!(fake.requests().len(), 4);
    fake.stop().await;
}
