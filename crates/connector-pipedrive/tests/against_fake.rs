//! The Pipedrive connector against the fake over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use async_trait::async_trait;
use connector_api::{Connector, ConnectorError, DesiredUser, LimitReport, Throttle};
use connector_pipedrive::{Pipedrive, cost};
use std::sync::{Arc, Mutex};
use target_http::Policy;
use testkit::fake_pipedrive::{FakePipedrive, PipedriveConfig};

/// Records what the connector asks of its throttle.
#[derive(Default)]
struct Recorder {
    costs: Mutex<Vec<u32>>,
    reports: Mutex<Vec<LimitReport>>,
}

#[async_trait]
impl Throttle for Recorder {
    async fn acquire(&self) -> connector_api::Result<()> {
        self.acquire_cost(1).await
    }
    async fn acquire_cost(&self, cost: u32) -> connector_api::Result<()> {
        self.costs.lock().unwrap().push(cost);
        Ok(())
    }
    async fn observe(&self, report: LimitReport) {
        self.reports.lock().unwrap().push(report);
    }
}

fn desired(email: &str, roles: &[&str]) -> DesiredUser {
    DesiredUser {
        email: email.into(),
        username: email.into(),
        roles: roles.iter().map(|r| (*r).to_string()).collect(),
        ..DesiredUser::default()
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
async fn lifecycle_with_many_roles() {
    let fake = FakePipedrive::start(unlimited()).await;
    let set = fake.permission_sets()[1].id.clone();
    let rec = Arc::new(Recorder::default());
    let pd = Pipedrive::new(
        &fake.base_url(),
        &fake.token(),
        Some(&set),
        Policy::ALLOW_PRIVATE,
    )
    .unwrap()
    .with_throttle(rec.clone());

    let me = pd.test_connection().await.unwrap();
    assert_eq!(me.user_id, "1");
    assert_eq!(me.user_email, "owner@pipedrive.example");
    assert!(me.account.contains("Acme Sales"), "{}", me.account);

    let roles = pd.list_roles().await.unwrap();
    let id = |n: &str| roles.iter().find(|r| r.name == n).unwrap().id.clone();
    let (sales, support) = (id("Sales"), id("Support"));

    let u = pd
        .create_user(&desired("ann@x.com", &[&sales, &support]))
        .await
        .unwrap();
    let snap = fake.user_by_email("ann@x.com").unwrap();
    assert_eq!(u.id, snap.id.to_string());
    assert_eq!(snap.roles, vec!["Sales", "Support"]);
    assert_eq!(
        snap.access[0]["permission_set_id"], set,
        "the integration's permission set"
    );

    pd.remove_role(&u.id, &sales).await.unwrap();
    assert_eq!(
        fake.user_by_email("ann@x.com").unwrap().roles,
        vec!["Support"]
    );
    pd.add_role(&u.id, &sales).await.unwrap();
    pd.set_roles(&u.id, std::slice::from_ref(&sales))
        .await
        .unwrap();
    assert_eq!(
        fake.user_by_email("ann@x.com").unwrap().roles,
        vec!["Sales"]
    );

    pd.deactivate_user(&u.id).await.unwrap();
    assert!(!fake.user_by_email("ann@x.com").unwrap().active_flag);
    pd.reactivate_user(&u.id).await.unwrap();
    assert!(fake.user_by_email("ann@x.com").unwrap().active_flag);

    let found = pd.find_user_by_email("ANN@x.com").await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.roles.clone()),
        (u.id.as_str(), vec![sales.clone()])
    );
    assert!(
        pd.find_user_by_email("nobody@x.com")
            .await
            .unwrap()
            .is_none(),
        "data: null"
    );
    assert!(pd.get_user("999").await.unwrap().is_none());
    assert_eq!(
        pd.get_user(&u.id).await.unwrap().unwrap().email,
        "ann@x.com"
    );
    let page = pd.list_users(0, 100).await.unwrap();
    assert_eq!(page.total, 2);

    // Creating an existing e-mail is a conflict (the engine adopts it); no delete exists.
    assert!(matches!(
        pd.create_user(&desired("ann@x.com", &[])).await,
        Err(ConnectorError::Conflict(_))
    ));
    assert!(matches!(
        pd.delete_user(&u.id).await,
        Err(ConnectorError::Permanent(_))
    ));
    assert!(fake.user_by_email("ann@x.com").is_some());

    // Every request took its published token cost from the throttle first.
    let costs = rec.costs.lock().unwrap().clone();
    assert_eq!(costs.len(), fake.requests().len());
    assert_eq!(costs[0], cost("GET", &["users", "me"]));
    assert!(costs.contains(&40), "/users/find costs 40");
    fake.stop().await;
}

#[tokio::test]
async fn refusals_are_classified() {
    let fake = FakePipedrive::start(PipedriveConfig {
        daily_budget: 12,
        burst_limit: 0,
        non_admin_tokens: vec!["viewer".into()],
        ..PipedriveConfig::default()
    })
    .await;
    let bad = Pipedrive::new(&fake.base_url(), "wrong", None, Policy::ALLOW_PRIVATE).unwrap();
    assert!(matches!(
        bad.test_connection().await,
        Err(ConnectorError::Unauthorized(_))
    ));
    let viewer = Pipedrive::new(&fake.base_url(), "viewer", None, Policy::ALLOW_PRIVATE).unwrap();
    match viewer.deactivate_user("1").await {
        Err(ConnectorError::Unauthorized(m)) => {
            assert!(m.contains("You do not have permissions"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // The budget: 10 of 12 tokens spent by the viewer's PUT; the next GET /users (20) is over.
    let rec = Arc::new(Recorder::default());
    let pd = Pipedrive::new(&fake.base_url(), &fake.token(), None, Policy::ALLOW_PRIVATE)
        .unwrap()
        .with_throttle(rec.clone());
    match pd.list_users(0, 10).await {
        Err(ConnectorError::RateLimited {
            retry_after: Some(d),
            ..
        }) => {
            assert!(d.as_secs() > 0 && d.as_secs() <= 86_400)
        }
        other => panic!("{other:?}"),
    }
    // The 429 told the throttle the budget is spent until the reset.
    let reports = rec.reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0].remaining, reports[0].limit), (0, None));
    fake.stop().await;
}

#[tokio::test]
async fn a_burst_429_is_retried_but_not_reported_as_a_spent_day() {
    let fake = FakePipedrive::start(PipedriveConfig {
        daily_budget: 0,
        burst_limit: 1,
        ..PipedriveConfig::default()
    })
    .await;
    let rec = Arc::new(Recorder::default());
    let pd = Pipedrive::new(&fake.base_url(), &fake.token(), None, Policy::ALLOW_PRIVATE)
        .unwrap()
        .with_throttle(rec.clone());
    pd.test_connection().await.unwrap();
    match pd.test_connection().await {
        Err(ConnectorError::RateLimited {
            retry_after: Some(d),
            ..
        }) => assert!(d.as_secs() <= 2),
        other => panic!("{other:?}"),
    }
    assert!(rec.reports.lock().unwrap().is_empty());
    fake.stop().await;
}

/// `GET /users` has no paging: an import's pass over 250 users in pages of 100 sends it once
/// (20 tokens), and a new pass sends it again.
#[tokio::test]
async fn the_unpaged_user_list_is_read_once_per_pass() {
    let fake = FakePipedrive::start(unlimited()).await;
    for i in 0..249 {
        fake.add_user(&format!("u{i:03}@contoso.com"), "U");
    }
    let pd = Pipedrive::new(&fake.base_url(), &fake.token(), None, Policy::ALLOW_PRIVATE).unwrap();
    let lists = || {
        fake.requests()
            .iter()
            .filter(|(m, p, _)| m == "GET" && p.ends_with("/users"))
            .count()
    };
    let mut seen = Vec::new();
    for offset in [0, 100, 200] {
        let page = pd.list_users(offset, 100).await.unwrap();
        assert_eq!(page.total, 250, "249 and the owner");
        seen.extend(page.items.into_iter().map(|u| u.email));
    }
    assert_eq!(seen.len(), 250);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 250, "no account twice");
    assert_eq!(lists(), 1);
    pd.list_users(0, 100).await.unwrap();
    assert_eq!(lists(), 2, "a new pass reads afresh");
}
