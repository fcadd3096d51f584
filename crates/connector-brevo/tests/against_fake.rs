//! The Brevo connector against the fake over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use async_trait::async_trait;
use connector_api::{Connector, ConnectorError, DesiredUser, LimitReport, Throttle};
use connector_brevo::Brevo;
use std::sync::{Arc, Mutex};
use target_http::Policy;
use testkit::fake_brevo::{BrevoConfig, FakeBrevo};

const ROLES: &str = r#"{"Marketer":[{"feature":"email_campaigns","permissions":["create_edit_delete","send_schedule_suspend"]}],
                       "Viewer":[{"feature":"contacts","permissions":["view"]}],
                       "Admin":"all"}"#;

#[derive(Default)]
struct Recorder {
    acquired: Mutex<u32>,
    reports: Mutex<Vec<LimitReport>>,
}

#[async_trait]
impl Throttle for Recorder {
    async fn acquire(&self) -> connector_api::Result<()> {
        *self.acquired.lock().unwrap() += 1;
        Ok(())
    }
    async fn observe(&self, report: LimitReport) {
        self.reports.lock().unwrap().push(report);
    }
}

fn desired(email: &str, role: &str) -> DesiredUser {
    DesiredUser {
        email: email.into(),
        username: email.into(),
        roles: vec![role.into()],
        ..DesiredUser::default()
    }
}

#[tokio::test]
async fn invite_change_revoke_and_cancel() {
    let fake = FakeBrevo::start(BrevoConfig::default()).await;
    let rec = Arc::new(Recorder::default());
    let b = Brevo::new(
        &fake.base_url(),
        &fake.api_key(),
        ROLES,
        Policy::ALLOW_PRIVATE,
    )
    .unwrap()
    .with_throttle(rec.clone());

    let me = b.test_connection().await.unwrap();
    assert_eq!(me.user_id, "owner@brevo.example");
    assert!(me.account.contains("1 users"), "{}", me.account);
    let roles = b.list_roles().await.unwrap();
    assert_eq!(
        roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["Marketer", "Viewer", "Admin"]
    );

    let u = b
        .create_user(&desired("ann@x.com", "Marketer"))
        .await
        .unwrap();
    assert_eq!(u.id, "ann@x.com", "the e-mail is the key");
    let ann = fake.user("ann@x.com").unwrap();
    assert_eq!(ann.status, "pending");
    assert_eq!(
        ann.privileges["email_campaigns"],
        ["create_edit_delete", "send_schedule_suspend"]
    );
    assert_eq!(
        b.status("ann@x.com").await.unwrap().as_deref(),
        Some("pending")
    );
    let got = b.get_user("ann@x.com").await.unwrap().unwrap();
    assert_eq!(got.roles, ["Marketer"], "the bundle is recognised");

    b.set_roles("ann@x.com", &["Viewer".into()]).await.unwrap();
    assert_eq!(
        fake.user("ann@x.com").unwrap().privileges["contacts"],
        ["view"]
    );
    b.set_roles("ann@x.com", &["Admin".into()]).await.unwrap();
    assert!(fake.user("ann@x.com").unwrap().all_features_access);

    // Pending: delete cancels the invitation.
    b.delete_user("ann@x.com").await.unwrap();
    assert!(fake.user("ann@x.com").is_none());
    // Active: delete revokes.
    b.create_user(&desired("bob@x.com", "Viewer"))
        .await
        .unwrap();
    assert!(fake.accept("bob@x.com"));
    b.delete_user("bob@x.com").await.unwrap();
    assert!(fake.user("bob@x.com").is_none());
    assert!(
        fake.requests()
            .iter()
            .any(|(m, p, s)| m == "PUT" && p.contains("/revoke/") && *s == 200)
    );
    assert!(
        fake.requests()
            .iter()
            .any(|(m, p, s)| m == "PUT" && p.contains("/cancel/") && *s == 200)
    );
    assert!(matches!(
        b.delete_user("bob@x.com").await,
        Err(ConnectorError::NotFound(_))
    ));

    // Duplicates conflict; a role without a bundle is refused before any call.
    b.create_user(&desired("c@x.com", "Viewer")).await.unwrap();
    assert!(matches!(
        b.create_user(&desired("c@x.com", "Viewer")).await,
        Err(ConnectorError::Conflict(_))
    ));
    let before = fake.requests().len();
    assert!(matches!(
        b.create_user(&desired("d@x.com", "Nope")).await,
        Err(ConnectorError::Permanent(_))
    ));
    assert_eq!(fake.requests().len(), before);

    // Every request took a slot, and every answer's limit headers reached the throttle.
    let n = fake.requests().len() as u32;
    assert_eq!(*rec.acquired.lock().unwrap(), n);
    let reports = rec.reports.lock().unwrap().clone();
    assert_eq!(reports.len() as u32, n);
    assert_eq!(reports.last().unwrap().limit, Some(100));
    assert_eq!(reports.last().unwrap().remaining, 100 - u64::from(n));
    fake.stop().await;
}

#[tokio::test]
async fn the_hour_runs_out_with_the_reset_as_retry_after() {
    let fake = FakeBrevo::start(BrevoConfig {
        hourly_limit: 2,
        ..BrevoConfig::default()
    })
    .await;
    let b = Brevo::new(
        &fake.base_url(),
        &fake.api_key(),
        ROLES,
        Policy::ALLOW_PRIVATE,
    )
    .unwrap();
    b.list_users(0, 10).await.unwrap();
    b.list_users(0, 10).await.unwrap();
    match b.list_users(0, 10).await {
        Err(ConnectorError::RateLimited {
            retry_after: Some(d),
            ..
        }) => assert!(d.as_secs() <= 3600),
        other => panic!("{other:?}"),
    }
    let bad = Brevo::new(&fake.base_url(), "wrong", ROLES, Policy::ALLOW_PRIVATE).unwrap();
    assert!(matches!(
        bad.test_connection().await,
        Err(ConnectorError::Unauthorized(_))
    ));
    fake.stop().await;
}

/// The invited-users list has no paging: an import's pass in pages sends it once (one of the
/// hour's requests), and a new pass sends it again.
#[tokio::test]
async fn the_unpaged_user_list_is_read_once_per_pass() {
    let fake = FakeBrevo::start(BrevoConfig::default()).await;
    for i in 0..24 {
        fake.add_user(&format!("u{i:02}@contoso.com"), &[]);
    }
    let b = Brevo::new(
        &fake.base_url(),
        &fake.api_key(),
        ROLES,
        Policy::ALLOW_PRIVATE,
    )
    .unwrap();
    let lists = || {
        fake.requests()
            .iter()
            .filter(|(m, p, _)| m == "GET" && p.ends_with("/organization/invited/users"))
            .count()
    };
    let mut seen = Vec::new();
    for offset in [0, 10, 20] {
        let page = b.list_users(offset, 10).await.unwrap();
        assert_eq!(page.total, 25, "24 and the owner");
        seen.extend(page.items.into_iter().map(|u| u.email));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 25);
    assert_eq!(lists(), 1);
    b.list_users(0, 10).await.unwrap();
    assert_eq!(lists(), 2, "a new pass reads afresh");
}
