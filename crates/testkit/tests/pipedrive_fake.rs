//! The fake Pipedrive against §5.1: envelopes and error shapes, numeric ids, `is_you`,
//! `active_flag`, `/users/find`, roles and assignments, `access[]`, the daily token budget
//! with per-call costs, the 2-second burst window, 429 + Retry-After.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use serde_json::{Value, json};
use std::time::Duration;
use testkit::fake_pipedrive::{DAY_MS, FakePipedrive, PipedriveConfig, cost};

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(fake: &FakePipedrive) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: fake.base_url(),
            token: fake.token(),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut rb = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("x-api-token", &self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
        )
    }
}

fn unlimited() -> PipedriveConfig {
    PipedriveConfig {
        daily_budget: 0,
        burst_limit: 0,
        ..PipedriveConfig::default()
    }
}

#[tokio::test]
async fn envelopes_users_and_the_key_owner() {
    let fake = FakePipedrive::start(unlimited()).await;
    let api = Api::new(&fake);

    let (s, me, _) = api.call("GET", "/users/me", None).await;
    assert_eq!(s, 200);
    assert_eq!(me["success"], true);
    assert_eq!(me["data"]["id"], 1, "numeric ids");
    assert_eq!(me["data"]["is_you"], true);
    assert!(me["data"]["company_name"].is_string());

    let set = fake.permission_sets()[0].id.clone();
    let (s, created, _) = api
        .call("POST", "/users", Some(json!({"email": "ann@x.com",
            "access": [{"app": "sales", "permission_set_id": set}, {"app": "global", "admin": false}],
            "active_flag": true})))
        .await;
    assert_eq!(s, 200, "{created}");
    let id = created["data"]["id"].as_u64().unwrap();
    assert_eq!(
        created["data"]["name"], "",
        "no name field: the invitee sets it"
    );
    assert_eq!(created["data"]["is_you"], false);
    assert_eq!(created["data"]["access"][0]["permission_set_id"], set);

    // Without access[], the default is sales.
    let (_, bob, _) = api
        .call("POST", "/users", Some(json!({"email": "bob@x.com"})))
        .await;
    assert_eq!(bob["data"]["access"][0]["app"], "sales");

    // Duplicates, missing e-mail, bad app, unknown permission set: failure envelope.
    for body in [
        json!({"email": "ANN@x.com"}),
        json!({"access": []}),
        json!({"email": "c@x.com", "access": [{"app": "nope"}]}),
        json!({"email": "c@x.com", "access": [{"app": "sales", "permission_set_id": "missing"}]}),
    ] {
        let (s, e, _) = api.call("POST", "/users", Some(body.clone())).await;
        assert_eq!(s, 400, "{body}");
        assert_eq!(e["success"], false);
        assert!(e["error"].is_string() && e.get("error_info").is_some());
        assert!(e["data"].is_null() && e["additional_data"].is_null());
    }

    // GET /users lists all; /users/{id}; 404 shape.
    let (_, all, _) = api.call("GET", "/users", None).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
    let (s, one, _) = api.call("GET", &format!("/users/{id}"), None).await;
    assert_eq!((s, one["data"]["email"].as_str()), (200, Some("ann@x.com")));
    let (s, nf, _) = api.call("GET", "/users/999", None).await;
    assert_eq!(s, 404);
    assert_eq!(nf["error"], "User not found or not accessible.");

    // find by e-mail; no match is data: null.
    let (_, f, _) = api
        .call(
            "GET",
            "/users/find?term=ann%40x.com&search_by_email=1",
            None,
        )
        .await;
    assert_eq!(f["data"][0]["id"], id);
    let (_, f, _) = api
        .call(
            "GET",
            "/users/find?term=zed%40x.com&search_by_email=1",
            None,
        )
        .await;
    assert!(f["data"].is_null());

    // PUT takes only active_flag (required); there is no delete.
    let (s, _, _) = api
        .call("PUT", &format!("/users/{id}"), Some(json!({"name": "x"})))
        .await;
    assert_eq!(s, 400);
    let (s, u, _) = api
        .call(
            "PUT",
            &format!("/users/{id}"),
            Some(json!({"active_flag": false})),
        )
        .await;
    assert_eq!((s, u["data"]["active_flag"].as_bool()), (200, Some(false)));
    assert!(!fake.user_by_email("ann@x.com").unwrap().active_flag);
    let (s, _, _) = api.call("DELETE", &format!("/users/{id}"), None).await;
    assert_eq!(s, 404);
    assert!(fake.user_by_email("ann@x.com").is_some());
    fake.stop().await;
}

#[tokio::test]
async fn roles_are_many_per_user() {
    let fake = FakePipedrive::start(unlimited()).await;
    let api = Api::new(&fake);
    let (_, roles, _) = api.call("GET", "/roles", None).await;
    assert_eq!(
        roles["additional_data"]["pagination"]["more_items_in_collection"],
        false
    );
    let ids: Vec<u64> = roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    let (_, u, _) = api
        .call("POST", "/users", Some(json!({"email": "r@x.com"})))
        .await;
    let uid = u["data"]["id"].as_u64().unwrap();
    for r in &ids[..2] {
        let (s, a, _) = api
            .call(
                "POST",
                &format!("/roles/{r}/assignments"),
                Some(json!({"user_id": uid})),
            )
            .await;
        assert_eq!((s, a["data"]["role_id"].as_u64()), (200, Some(*r)));
    }
    assert_eq!(
        fake.user_by_email("r@x.com").unwrap().roles,
        vec!["Sales", "Support"]
    );
    let (_, ra, _) = api
        .call("GET", &format!("/users/{uid}/roleAssignments"), None)
        .await;
    assert_eq!(ra["data"].as_array().unwrap().len(), 2);
    let (s, _, _) = api
        .call(
            "DELETE",
            &format!("/roles/{}/assignments", ids[0]),
            Some(json!({"user_id": uid})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        fake.user_by_email("r@x.com").unwrap().roles,
        vec!["Support"]
    );
    let (s, e, _) = api
        .call(
            "POST",
            "/roles/99/assignments",
            Some(json!({"user_id": uid})),
        )
        .await;
    assert_eq!((s, e["success"].as_bool()), (404, Some(false)));
    fake.stop().await;
}

#[tokio::test]
async fn auth_and_permissions() {
    let fake = FakePipedrive::start(PipedriveConfig {
        non_admin_tokens: vec!["viewer".into()],
        ..unlimited()
    })
    .await;
    let mut api = Api::new(&fake);
    api.token = "wrong".into();
    let (s, e, _) = api.call("GET", "/users/me", None).await;
    assert_eq!(s, 401);
    assert_eq!(
        e,
        json!({"success": false, "error": "unauthorized access", "errorCode": 401,
                         "error_info": "Please check developers.pipedrive.com"})
    );
    api.token = "viewer".into();
    assert_eq!(api.call("GET", "/users", None).await.0, 200);
    let (s, e, _) = api
        .call("POST", "/users", Some(json!({"email": "v@x.com"})))
        .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (403, Some("You do not have permissions to do this."))
    );
    // The query-parameter form of the token works too.
    let url = format!("{}/users/me?api_token={}", fake.base_url(), fake.token());
    assert_eq!(reqwest::get(url).await.unwrap().status().as_u16(), 200);
    fake.stop().await;
}

#[tokio::test]
async fn the_daily_budget_charges_per_call_and_resets_the_next_day() {
    assert_eq!(cost("GET", "/users"), 20);
    assert_eq!(cost("GET", "/users/find"), 40);
    assert_eq!(cost("GET", "/users/7"), 2);
    assert_eq!(cost("GET", "/users/me"), 2);
    assert_eq!(cost("POST", "/users"), 10);
    assert_eq!(cost("PUT", "/users/7"), 10);
    assert_eq!(cost("GET", "/roles"), 10);
    let fake = FakePipedrive::start(PipedriveConfig {
        daily_budget: 50,
        burst_limit: 0,
        ..PipedriveConfig::default()
    })
    .await;
    let api = Api::new(&fake);
    assert_eq!(api.call("GET", "/users", None).await.0, 200); // 20
    assert_eq!(api.call("GET", "/users", None).await.0, 200); // 40
    assert_eq!(api.call("GET", "/users/me", None).await.0, 200); // 42
    let (s, e, h) = api
        .call("POST", "/users", Some(json!({"email": "x@x.com"})))
        .await; // 52 > 50
    assert_eq!(s, 429);
    assert_eq!(e["success"], false);
    let wait: i64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    let clock = fake.clock();
    let to_midnight = (DAY_MS - clock.now_ms().rem_euclid(DAY_MS)) / 1000;
    assert!(
        (to_midnight - 2..=to_midnight + 2).contains(&wait),
        "{wait} vs {to_midnight}"
    );
    assert_eq!(fake.spent_today(), 42, "a refused call costs nothing");
    assert!(fake.user_by_email("x@x.com").is_none());
    assert_eq!(
        api.call("GET", "/users/1", None).await.0,
        200,
        "2 tokens still fit"
    );
    clock.advance(Duration::from_millis(DAY_MS as u64));
    assert_eq!(fake.spent_today(), 0);
    assert_eq!(
        api.call("POST", "/users", Some(json!({"email": "x@x.com"})))
            .await
            .0,
        200
    );
    assert_eq!(fake.spent_today(), 10);
    assert_eq!(fake.max_spent_in_a_day(), 44);
    fake.stop().await;
}

#[tokio::test]
async fn the_burst_window_answers_429_with_retry_after() {
    let fake = FakePipedrive::start(PipedriveConfig {
        daily_budget: 0,
        burst_limit: 3,
        ..PipedriveConfig::default()
    })
    .await;
    let api = Api::new(&fake);
    for _ in 0..3 {
        assert_eq!(api.call("GET", "/users/me", None).await.0, 200);
    }
    let (s, _, h) = api.call("GET", "/users/me", None).await;
    assert_eq!(s, 429);
    let wait: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait));
    fake.clock().advance(Duration::from_secs(2));
    assert_eq!(api.call("GET", "/users/me", None).await.0, 200);
    fake.stop().await;
}
