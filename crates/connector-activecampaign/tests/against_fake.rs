//! The connector against the fake ActiveCampaign (faithful to target-apis.md §1), over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use connector_activecampaign::ActiveCampaign;
use connector_api::{Connector, ConnectorError, DesiredUser};
use testkit::fake_activecampaign::{
    AccountConfig, FakeActiveCampaign, FakeConfig, FakeHandle, SeedUser,
};

const TOKEN: &str = "ac-test-token-1";

async fn fake(rate_limit: u32) -> FakeHandle {
    let config = FakeConfig::default().account(
        AccountConfig::new("acme", TOKEN)
            .groups(["Manager", "User", "No access"])
            .rate_limit(rate_limit),
    );
    FakeActiveCampaign::start(config).await
}

fn connector(f: &FakeHandle) -> ActiveCampaign {
    // The base URL as an admin pastes it (without /api/3) must work.
    ActiveCampaign::new(
        f.base_url().trim_end_matches("/api/3"),
        TOKEN,
        target_http::Policy::ALLOW_PRIVATE,
    )
    .unwrap()
}

fn desired(email: &str, role: &str) -> DesiredUser {
    DesiredUser {
        email: email.into(),
        username: email.into(),
        first_name: Some("Adele".into()),
        last_name: Some("Vance".into()),
        phone: None,
        roles: vec![role.into()],
        attributes: Default::default(),
    }
}

#[tokio::test]
async fn lifecycle() {
    let f = fake(0).await;
    let ac = connector(&f);
    let me = ac.test_connection().await.unwrap();
    let state = f.account_state("acme").unwrap();
    assert_eq!(me.user_id, state.owner_user_id);

    let roles = ac.list_roles().await.unwrap();
    let id_of = |t: &str| {
        roles
            .iter()
            .find(|r| r.name == t)
            .unwrap_or_else(|| panic!("{t} in {roles:?}"))
            .id
            .clone()
    };
    let (admin, manager, no_access) = (id_of("Admin"), id_of("Manager"), id_of("No access"));

    let created = ac
        .create_user(&desired("adele@contoso.com", &manager))
        .await
        .unwrap();
    let snap = f.account_state("acme").unwrap();
    let u = snap.user(&created.id).unwrap();
    assert_eq!(
        (u.email.as_str(), u.group_id.as_deref()),
        ("adele@contoso.com", Some(manager.as_str()))
    );
    assert!(u.password.len() >= 36, "a long random password is set");

    let by_email = ac
        .find_user_by_email("ADELE@contoso.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_email.id, created.id);
    assert_eq!(by_email.roles, vec![manager.clone()]);
    assert_eq!(
        ac.find_user_by_username("adele@contoso.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        created.id
    );
    assert!(
        ac.find_user_by_email("nobody@contoso.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(ac.get_user("9999").await.unwrap().is_none());

    let mut changed = desired("adele.smith@contoso.com", &admin);
    changed.last_name = Some("Smith".into());
    ac.update_user(&created.id, &changed).await.unwrap();
    ac.set_roles(&created.id, std::slice::from_ref(&no_access))
        .await
        .unwrap();
    let snap = f.account_state("acme").unwrap();
    let u = snap.user(&created.id).unwrap();
    assert_eq!(
        (
            u.email.as_str(),
            u.last_name.as_str(),
            u.group_id.as_deref()
        ),
        ("adele.smith@contoso.com", "Smith", Some(no_access.as_str()))
    );
    assert_eq!(
        u.username, "adele@contoso.com",
        "username is never sent on update"
    );

    let page = ac.list_users(0, 100).await.unwrap();
    assert_eq!(page.total, 2);
    ac.delete_user(&created.id).await.unwrap();
    assert!(ac.get_user(&created.id).await.unwrap().is_none());
    assert!(matches!(
        ac.delete_user(&created.id).await,
        Err(ConnectorError::NotFound(_))
    ));
}

#[tokio::test]
async fn errors_are_classified() {
    let f = fake(0).await;
    let ac = connector(&f);
    let roles = ac.list_roles().await.unwrap();
    let user_role = roles.iter().find(|r| r.name == "User").unwrap().id.clone();
    f.add_user_in("acme", SeedUser::new("taken", "taken@contoso.com"))
        .unwrap();
    match ac
        .create_user(&desired("taken@contoso.com", &user_role))
        .await
    {
        Err(ConnectorError::Conflict(m)) => {
            assert!(m.contains("create user taken@contoso.com"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // A missing permission group.
    match ac.create_user(&desired("new@contoso.com", "424242")).await {
        Err(e @ (ConnectorError::Permanent(_) | ConnectorError::NotFound(_))) => {
            assert!(!e.is_retryable())
        }
        other => panic!("{other:?}"),
    }
    // Outage → transient; back → works.
    f.set_outage(true);
    assert!(matches!(ac.list_roles().await, Err(e) if e.is_retryable()));
    f.set_outage(false);
    assert!(ac.list_roles().await.is_ok());
    // Connection refused → transient.
    f.refuse_connections(true).await.unwrap();
    // A fresh client: a pooled keep-alive connection could still reach the old listener.
    let fresh = connector(&f);
    assert!(matches!(
        fresh.test_connection().await,
        Err(ConnectorError::Transient(_))
    ));
    f.refuse_connections(false).await.unwrap();
    // A wrong or recycled key → unauthorized with a readable hint.
    let bad = ActiveCampaign::new(
        f.base_url(),
        "wrong-key",
        target_http::Policy::ALLOW_PRIVATE,
    )
    .unwrap();
    match bad.test_connection().await {
        Err(ConnectorError::Unauthorized(m)) => assert!(m.contains("API key"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rate_limit_is_reported_with_retry_after() {
    let f = fake(5).await;
    let ac = connector(&f);
    let results = futures_join(&ac, 20).await;
    let limited: Vec<_> = results
        .iter()
        .filter_map(|r| match r {
            Err(ConnectorError::RateLimited { retry_after, .. }) => Some(*retry_after),
            _ => None,
        })
        .collect();
    assert!(
        !limited.is_empty(),
        "20 concurrent calls at 5 req/s hit the limit"
    );
    assert!(limited.iter().all(|r| r.is_some()), "Retry-After is parsed");
    assert!(f.max_requests_in_any_second("acme") <= 5);
}

async fn futures_join(
    ac: &ActiveCampaign,
    n: usize,
) -> Vec<connector_api::Result<connector_api::AccountIdentity>> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let ac = ac.clone();
        set.spawn(async move { ac.test_connection().await });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}
