//! The fake ActivTrak reproduces target-apis.md §3.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use serde_json::{Value, json};
use testkit::fake_activtrak::{self, FakeActivtrak, USER_EXTENSION};

const KEY: &str = "at-key";

async fn call(fake: &FakeActivtrak, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = reqwest::Client::new()
        .request(m, format!("{}{path}", fake.base_url()))
        .header("x-api-key", KEY);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn user(email: &str, upn: Option<&str>, tracking: bool) -> Value {
    let mut v = json!({"userName": "ignored", "emails": [{"value": email, "primary": true}], "active": true,
        "name": {"givenName": "Ada", "familyName": "L"}});
    v[USER_EXTENSION] = json!({"tracking": tracking, "userPrincipalNames": upn.map(|u| vec![u]).unwrap_or_default()});
    v
}

#[tokio::test]
async fn auth_by_api_key_or_bearer_and_lower_case_paths() {
    let fake = fake_activtrak::start(KEY).await.unwrap();
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/users", fake.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = http
        .get(format!("{}/users", fake.base_url()))
        .header("x-api-key", "bad")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (s, _) = call(&fake, "GET", "/Users", None).await;
    assert_eq!(s, 404, "paths are lower-case");
    let (s, v) = call(&fake, "GET", "/ping", None).await;
    assert_eq!((s, v), (200, json!("Pong")));
    let (_, v) = call(&fake, "GET", "/schemas", None).await;
    assert!(
        v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == USER_EXTENSION)
    );
    fake.stop().await;
}

#[tokio::test]
async fn post_upserts_and_user_name_is_read_only() {
    let fake = fake_activtrak::start(KEY).await.unwrap();
    let (s, v) = call(
        &fake,
        "POST",
        "/users",
        Some(user("ada@example.com", Some("ada@corp.example"), true)),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(v["userName"], "ada@corp.example", "the UPN wins");
    let id = v["id"].clone();
    let (s, v) = call(
        &fake,
        "POST",
        "/users",
        Some(user("ada@example.com", Some("ada@corp.example"), false)),
    )
    .await;
    assert_eq!(s, 200, "POST of an existing user updates it");
    assert_eq!(v["id"], id);
    assert_eq!(fake.live_users(), 1);
    assert!(
        fake.user("ada@corp.example").unwrap().do_not_track(),
        "tracking=false → Do Not Track"
    );
    let (s, v) = call(&fake, "POST", "/users", Some(json!({"userName": "x"}))).await;
    assert_eq!(
        (s, v["message"].as_str()),
        (400, Some("emails is required")),
        "plain JSON errors"
    );
    let (s, v) = call(
        &fake,
        "POST",
        "/users",
        Some(user("bob@example.com", None, true)),
    )
    .await;
    assert_eq!(
        (s, v["userName"].as_str()),
        (201, Some("bob@example.com")),
        "no UPN: the primary e-mail"
    );
    // PUT replaces, userName stays; PATCH is not offered.
    let bid = v["id"].as_str().unwrap().to_string();
    let mut body = user("bob@example.com", None, true);
    body["userName"] = json!("renamed");
    body["active"] = json!(false);
    let (s, v) = call(&fake, "PUT", &format!("/users/{bid}"), Some(body)).await;
    assert_eq!(
        (s, v["userName"].as_str(), &v["active"]),
        (200, Some("bob@example.com"), &json!(false))
    );
    assert!(fake.user("bob@example.com").unwrap().do_not_track());
    let (s, _) = call(
        &fake,
        "PATCH",
        &format!("/users/{bid}"),
        Some(json!({"Operations": []})),
    )
    .await;
    assert_eq!(s, 405);
    let (s, _) = call(&fake, "DELETE", &format!("/users/{bid}"), None).await;
    assert_eq!(s, 204);
    let (s, _) = call(&fake, "GET", &format!("/users/{bid}"), None).await;
    assert_eq!(s, 404);
    assert!(fake.user("bob@example.com").unwrap().deleted);
    fake.stop().await;
}

#[tokio::test]
async fn start_index_is_a_page_number_and_filters_are_ignored() {
    let fake = fake_activtrak::start(KEY).await.unwrap();
    fake.seed_users(150);
    let (_, p2) = call(&fake, "GET", "/users?startIndex=2&count=100", None).await;
    assert_eq!(p2["totalResults"], 150);
    assert_eq!(
        p2["Resources"].as_array().unwrap().len(),
        50,
        "page 2 holds users 101–150"
    );
    assert_eq!(p2["Resources"][49]["userName"], "seed-149@example.com");
    let (_, f) = call(
        &fake,
        "GET",
        "/users?filter=userName%20eq%20%22seed-149@example.com%22",
        None,
    )
    .await;
    assert_eq!(f["totalResults"], 150, "the filter is ignored");
    fake.with(|a| a.understands_filter = true);
    let (_, f) = call(
        &fake,
        "GET",
        "/users?filter=userName%20eq%20%22seed-149@example.com%22",
        None,
    )
    .await;
    assert_eq!(f["totalResults"], 1);
    fake.stop().await;
}

#[tokio::test]
async fn groups_by_put() {
    let fake = fake_activtrak::start(KEY).await.unwrap();
    let (_, u) = call(
        &fake,
        "POST",
        "/users",
        Some(user("ada@example.com", None, true)),
    )
    .await;
    let (s, g) = call(
        &fake,
        "POST",
        "/groups",
        Some(json!({"displayName": "Ops", "members": []})),
    )
    .await;
    assert_eq!(s, 201);
    let gid = g["id"].as_str().unwrap().to_string();
    let (s, g) = call(
        &fake,
        "PUT",
        &format!("/groups/{gid}"),
        Some(json!({"displayName": "Ops EU", "members": [{"value": u["id"]}]})),
    )
    .await;
    assert_eq!((s, g["members"].as_array().unwrap().len()), (200, 1));
    let (_, u2) = call(
        &fake,
        "GET",
        &format!("/users/{}", u["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(u2["groups"][0]["display"], "Ops EU");
    let (s, _) = call(&fake, "DELETE", &format!("/groups/{gid}"), None).await;
    assert_eq!(s, 204);
    assert!(fake.group("Ops EU").is_none());
    fake.fail_next(1, 503, None);
    let (s, _) = call(&fake, "GET", "/users", None).await;
    assert_eq!(s, 503);
    fake.stop().await;
}

#[tokio::test]
async fn etags_when_switched_on() {
    let fake = fake_activtrak::start(KEY).await.unwrap();
    fake.with(|a| a.etags = true);
    let (_, v) = call(
        &fake,
        "POST",
        "/users",
        Some(user("ada@example.com", None, true)),
    )
    .await;
    let id = v["id"].as_str().unwrap().to_string();
    let r = reqwest::Client::new()
        .get(format!("{}/users/{id}", fake.base_url()))
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["etag"], "W/\"1\"");
    let put = |tag: &'static str| {
        let url = format!("{}/users/{id}", fake.base_url());
        async move {
            reqwest::Client::new()
                .put(url)
                .header("x-api-key", KEY)
                .header("If-Match", tag)
                .json(&user("ada@example.com", None, false))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(put("W/\"1\"").await, 200);
    assert_eq!(put("W/\"1\"").await, 412, "the version moved on");
    assert_eq!(fake.with(|a| a.if_match_seen), 2);
    fake.stop().await;
}
