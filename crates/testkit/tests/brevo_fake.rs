//! The fake Brevo against §5.2: `api-key`, invitations by e-mail with privileges, pending vs
//! active, revoke and cancel, the error shapes, 100 requests/hour with the
//! `x-sib-ratelimit-*` headers and no Retry-After.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use serde_json::{Value, json};
use std::time::Duration;
use testkit::fake_brevo::{BrevoConfig, FakeBrevo, HOUR_MS};

async fn call(
    fake: &FakeBrevo,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut rb = reqwest::Client::new()
        .request(
            method.parse().unwrap(),
            format!("{}{path}", fake.base_url()),
        )
        .header("api-key", key);
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

fn invite(email: &str) -> Value {
    json!({"email": email, "all_features_access": false,
           "privileges": [{"feature": "email_campaigns", "permissions": ["create_edit_delete", "send_schedule_suspend"]},
                          {"feature": "contacts", "permissions": ["view"]}]})
}

#[tokio::test]
async fn invitations_pending_active_revoke_cancel() {
    let fake = FakeBrevo::start(BrevoConfig {
        hourly_limit: 0,
        ..BrevoConfig::default()
    })
    .await;
    let k = fake.api_key();
    let (s, e, _) = call(&fake, "wrong", "GET", "/organization/invited/users", None).await;
    assert_eq!((s, e["code"].as_str()), (401, Some("unauthorized")));

    let (s, r, _) = call(
        &fake,
        &k,
        "POST",
        "/organization/user/invitation/send",
        Some(invite("ann@x.com")),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert!(r.get("status").is_some() && r.get("invoice_id").is_some());
    let (s, e, _) = call(
        &fake,
        &k,
        "POST",
        "/organization/user/invitation/send",
        Some(invite("ANN@x.com")),
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (400, Some("duplicate_parameter")));
    for body in [
        json!({"email": "b@x.com", "privileges": []}),
        json!({"email": "b@x.com", "all_features_access": false}),
        json!({"email": "b@x.com", "all_features_access": false, "privileges": [{"feature": "nope", "permissions": []}]}),
        json!({"email": "b@x.com", "all_features_access": false, "privileges": [{"feature": "contacts", "permissions": ["fly"]}]}),
    ] {
        let (s, e, _) = call(
            &fake,
            &k,
            "POST",
            "/organization/user/invitation/send",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, 400, "{body}");
        assert!(
            matches!(
                e["code"].as_str(),
                Some("missing_parameter" | "invalid_parameter")
            ),
            "{e}"
        );
        assert!(e["message"].is_string());
    }

    let (_, list, _) = call(&fake, &k, "GET", "/organization/invited/users", None).await;
    let users = list["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    let ann = users.iter().find(|u| u["email"] == "ann@x.com").unwrap();
    assert_eq!(ann["status"], "pending");
    assert_eq!(ann["is_owner"], "false");
    assert_eq!(ann["feature_access"]["marketing"], "custom");
    let (s, p, _) = call(
        &fake,
        &k,
        "GET",
        "/organization/user/ann%40x.com/permissions",
        None,
    )
    .await;
    assert_eq!((s, p["status"].as_str()), (200, Some("pending")));
    assert_eq!(p["privileges"].as_array().unwrap().len(), 2);
    let (s, e, _) = call(
        &fake,
        &k,
        "GET",
        "/organization/user/zed%40x.com/permissions",
        None,
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (400, Some("document_not_found")));

    // A pending invitation is cancelled, not revoked.
    let (s, e, _) = call(
        &fake,
        &k,
        "PUT",
        "/organization/user/invitation/revoke/ann%40x.com",
        None,
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (403, Some("permission_denied")));
    assert!(fake.accept("ann@x.com"));
    assert_eq!(fake.user("ann@x.com").unwrap().status, "active");
    // Update permissions of an active user.
    let (s, _, _) = call(&fake, &k, "POST", "/organization/user/update/permissions",
        Some(json!({"email": "ann@x.com", "all_features_access": false, "privileges": [{"feature": "contacts", "permissions": ["view", "export"]}]}))).await;
    assert_eq!(s, 200);
    assert_eq!(
        fake.user("ann@x.com").unwrap().privileges["contacts"],
        vec!["view", "export"]
    );
    let (s, e, _) = call(
        &fake,
        &k,
        "PUT",
        "/organization/user/invitation/cancel/ann%40x.com",
        None,
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (403, Some("permission_denied")));
    let (s, r, _) = call(
        &fake,
        &k,
        "PUT",
        "/organization/user/invitation/revoke/ann%40x.com",
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(r["credit_notes"].is_array());
    assert!(fake.user("ann@x.com").is_none());

    call(
        &fake,
        &k,
        "POST",
        "/organization/user/invitation/send",
        Some(invite("p@x.com")),
    )
    .await;
    let (s, _, _) = call(
        &fake,
        &k,
        "PUT",
        "/organization/user/invitation/cancel/p%40x.com",
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(fake.user("p@x.com").is_none());
    let (s, e, _) = call(
        &fake,
        &k,
        "PUT",
        "/organization/user/invitation/revoke/owner%40brevo.example",
        None,
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (403, Some("permission_denied")));
    fake.stop().await;
}

#[tokio::test]
async fn one_hundred_requests_an_hour_with_headers_and_no_retry_after() {
    let fake = FakeBrevo::start(BrevoConfig::default()).await;
    let k = fake.api_key();
    let mut last = None;
    for i in 0..100u32 {
        let (s, _, h) = call(&fake, &k, "GET", "/organization/invited/users", None).await;
        assert_eq!(s, 200);
        assert_eq!(h["x-sib-ratelimit-limit"], "100");
        assert_eq!(
            h["x-sib-ratelimit-remaining"].to_str().unwrap(),
            (99 - i).to_string()
        );
        last = Some(h);
    }
    let reset: i64 = last.unwrap()["x-sib-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&reset));
    let (s, e, h) = call(&fake, &k, "GET", "/organization/invited/users", None).await;
    assert_eq!(s, 429);
    assert!(e["message"].is_string());
    assert!(h.get("retry-after").is_none(), "Brevo sends no Retry-After");
    assert_eq!(h["x-sib-ratelimit-remaining"], "0");
    assert_eq!(fake.max_admitted_in_an_hour(), 100);
    fake.clock().advance(Duration::from_millis(HOUR_MS as u64));
    let (s, _, h) = call(&fake, &k, "GET", "/organization/invited/users", None).await;
    assert_eq!(s, 200);
    assert_eq!(h["x-sib-ratelimit-remaining"], "99");
    fake.stop().await;
}
