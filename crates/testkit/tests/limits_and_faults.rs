//! Rate limiting (5 rps per account, 429 + Retry-After) and fault injection.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::{Duration, Instant};

use common::{Api, TOKEN, config_with, unlimited_fake};
use futures::future::join_all;
use serde_json::json;
use testkit::fake_activecampaign::{
    AccountConfig, FakeActiveCampaign, FakeConfig, RetryAfter, max_in_any_window,
};

/// Every admitted request of `account` in the log, checked independently of
/// the handle's helper.
fn max_admitted_per_second(
    log: &[testkit::fake_activecampaign::RequestLogEntry],
    account: &str,
) -> usize {
    let times: Vec<Duration> = log
        .iter()
        .filter(|e| e.account.as_deref() == Some(account) && e.status != 429 && e.status != 403)
        .map(|e| e.since_start)
        .collect();
    max_in_any_window(&times, Duration::from_secs(1))
}

#[tokio::test]
async fn burst_of_20_gets_429_with_retry_after_and_never_exceeds_5_per_second() {
    let fake = FakeActiveCampaign::start(config_with(5)).await;
    let api = Api::new(&fake, TOKEN);

    let responses = join_all((0..20).map(|_| api.get("/users/me"))).await;
    let ok = responses.iter().filter(|r| r.status == 200).count();
    let limited: Vec<_> = responses.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok + limited.len(), 20);
    // Normally exactly 5 pass; more only if the burst itself took over a second.
    assert!(ok >= 5, "{ok}");
    assert!(!limited.is_empty());
    for r in &limited {
        let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!(secs >= 1);
        assert_eq!(r.json, json!({ "message": "Too Many Requests" }));
        assert!(r.header("ratelimit-limit").is_none(), "off by default");
    }
    // 200s carry no rate-limit headers (as recorded).
    let first_ok = responses.iter().find(|r| r.status == 200).unwrap();
    assert!(first_ok.header("retry-after").is_none());

    let log = fake.request_log();
    assert_eq!(log.len(), 20);
    assert_eq!(log.iter().filter(|e| e.admitted).count(), ok);
    assert!(log.iter().all(|e| e.account.as_deref() == Some("acme")));
    assert_eq!(fake.max_requests_in_any_second("acme"), 5);
    assert_eq!(max_admitted_per_second(&log, "acme"), 5);

    // After the window passes the budget is back.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(api.get("/users/me").await.status, 200);
    fake.stop().await;
}

#[tokio::test]
async fn sustained_load_stays_within_the_sliding_window() {
    let fake = FakeActiveCampaign::start(config_with(5)).await;
    let api = Api::new(&fake, TOKEN);
    let started = Instant::now();
    // Waves every 150 ms for ~2.5 s: a fixed-window limiter would let up to 10
    // through around a window boundary; the sliding one must not.
    while started.elapsed() < Duration::from_millis(2500) {
        join_all((0..4).map(|_| api.get("/users"))).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let log = fake.request_log();
    assert!(log.iter().any(|e| e.status == 429));
    assert!(log.iter().filter(|e| e.status == 200).count() >= 10);
    assert!(fake.max_requests_in_any_second("acme") <= 5);
    assert!(max_admitted_per_second(&log, "acme") <= 5);
    fake.stop().await;
}

#[tokio::test]
async fn limit_is_per_account_and_shared_by_its_keys() {
    let fake = FakeActiveCampaign::start(FakeConfig {
        accounts: vec![
            AccountConfig::new("a", "a-1").token("a-2"),
            AccountConfig::new("b", "b-1"),
        ],
        retry_after: RetryAfter::Fixed(30),
        ..FakeConfig::default()
    })
    .await;
    let a1 = Api::new(&fake, "a-1");
    let a2 = Api::new(&fake, "a-2");
    let b = Api::new(&fake, "b-1");

    let mut calls = Vec::new();
    for i in 0..10 {
        calls.push(if i % 2 == 0 { a1.clone() } else { a2.clone() });
    }
    let a_responses = join_all(calls.iter().map(|api| api.get("/users/me"))).await;
    assert_eq!(a_responses.iter().filter(|r| r.status == 200).count(), 5);
    let limited = a_responses.iter().find(|r| r.status == 429).unwrap();
    assert_eq!(limited.header("retry-after").as_deref(), Some("30"));

    // Account b has its own budget.
    let b_responses = join_all((0..5).map(|_| b.get("/users/me"))).await;
    assert!(b_responses.iter().all(|r| r.status == 200));

    assert_eq!(fake.max_requests_in_any_second("a"), 5);
    assert_eq!(fake.max_requests_in_any_second("b"), 5);
    fake.stop().await;
}

#[tokio::test]
async fn rate_limit_headers_can_be_enabled() {
    let fake = FakeActiveCampaign::start(FakeConfig {
        rate_limit_headers: true,
        ..config_with(5)
    })
    .await;
    let api = Api::new(&fake, TOKEN);
    let r = api.get("/users/me").await;
    assert_eq!(r.header("ratelimit-limit").as_deref(), Some("5"));
    assert_eq!(r.header("ratelimit-remaining").as_deref(), Some("4"));
    fake.stop().await;
}

#[tokio::test]
async fn outage_and_injected_503() {
    let fake = unlimited_fake().await;
    let api = Api::new(&fake, TOKEN);
    assert_eq!(api.get("/users/me").await.status, 200);

    fake.set_outage(true);
    for path in ["/users/me", "/groups", "/nope"] {
        let r = api.get(path).await;
        assert_eq!(r.status, 503, "{path}");
    }
    // Even without a key.
    assert_eq!(api.with_token(None).get("/users").await.status, 503);
    fake.set_outage(false);
    assert_eq!(api.get("/users/me").await.status, 200);

    fake.fail_next_with_503(2);
    assert_eq!(api.get("/users/me").await.status, 503);
    assert_eq!(api.get("/users/me").await.status, 503);
    assert_eq!(api.get("/users/me").await.status, 200);

    fake.set_error_503_probability(1.0);
    assert_eq!(api.get("/users/me").await.status, 503);
    fake.set_error_503_probability(0.0);
    assert_eq!(api.get("/users/me").await.status, 200);

    let log = fake.request_log();
    assert!(log.iter().filter(|e| e.status == 503).all(|e| !e.admitted));
    fake.stop().await;
}

#[tokio::test]
async fn refusing_connections_and_coming_back_on_the_same_port() {
    let fake = unlimited_fake().await;
    let api = Api::new(&fake, TOKEN);
    let r = api
        .post(
            "/users",
            json!({ "user": { "username": "keep", "email": "keep@example.com", "group": 3, "password": "p" } }),
        )
        .await;
    assert_eq!(r.status, 201);

    fake.refuse_connections(true).await.unwrap();
    assert!(!fake.is_serving());
    let err = Api::new(&fake, TOKEN)
        .try_send("GET", "/users/me", None)
        .await;
    assert!(err.is_err(), "connection must be refused");
    assert!(err.unwrap_err().is_connect());

    fake.refuse_connections(false).await.unwrap();
    assert!(fake.is_serving());
    let r = api.get("/users/email/keep@example.com").await;
    assert_eq!(r.status, 200, "data survives the restart");
    fake.stop().await;
    fake.stop().await; // idempotent
}

#[tokio::test]
async fn artificial_latency() {
    let fake = FakeActiveCampaign::start(FakeConfig {
        latency: Duration::from_millis(150),
        ..config_with(0)
    })
    .await;
    let api = Api::new(&fake, TOKEN);
    let t = Instant::now();
    assert_eq!(api.get("/users/me").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    fake.set_latency(Duration::ZERO);
    let t = Instant::now();
    api.get("/users/me").await;
    assert!(t.elapsed() < Duration::from_millis(150));
    fake.stop().await;
}

#[test]
fn works_from_a_plain_current_thread_runtime_and_after_drop() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let fake = FakeActiveCampaign::start(FakeConfig::with_token("t")).await;
        let r = reqwest::Client::new()
            .get(format!("{}/users/me", fake.base_url()))
            .header("Api-Token", "t")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(fake.base_url().starts_with("http://127.0.0.1:"));
        assert!(fake.base_url().ends_with("/api/3"));
        drop(fake);
    });
    // Functional-test helper fakes are unlimited.
    let rt2 = tokio::runtime::Runtime::new().unwrap();
    rt2.block_on(async {
        let fake = unlimited_fake().await;
        let api = Api::new(&fake, TOKEN);
        let all = join_all((0..30).map(|_| api.get("/users/me"))).await;
        assert!(all.iter().all(|r| r.status == 200));
    });
}
