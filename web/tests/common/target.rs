//! Driving the worker against the fake ActiveCampaign: SCIM requests in, the fake's state out.

use super::{Endpoint, TestServer};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::fake_activecampaign::{AccountSnapshot, FakeHandle};

pub const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// An Entra-shaped user; `app_role` becomes a primary app role value.
pub fn user(name: &str, app_role: Option<&str>) -> Value {
    let roles = match app_role {
        Some(r) => {
            json!([{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": r}])
        }
        None => json!([]),
    };
    user_with_roles(name, roles)
}

/// An Entra-shaped user with `roles` as given.
pub fn user_with_roles(name: &str, roles: Value) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "externalId": uuid::Uuid::new_v4().to_string(), "userName": name, "active": true,
        "emails": [{"primary": true, "type": "work", "value": name}],
        "name": {"givenName": "Given", "familyName": "Family"}, "roles": roles
    })
}

/// Polls the fake's account `acme` until `cond` holds (or fails after `secs`).
pub async fn eventually(
    f: &FakeHandle,
    secs: u64,
    what: &str,
    cond: impl Fn(&AccountSnapshot) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let snap = f.account_state("acme").unwrap();
        if cond(&snap) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {what}\nstate: {snap:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The permission group (role) title of the user with `email`, if the account exists.
pub fn group_of(snap: &AccountSnapshot, email: &str) -> Option<String> {
    let u = snap
        .users
        .iter()
        .find(|u| u.email.eq_ignore_ascii_case(email))?;
    let gid = u.group_id.as_deref()?;
    snap.groups
        .iter()
        .find(|g| g.id == gid)
        .map(|g| g.title.clone())
}

/// Whether the account has a user with `email`.
pub fn exists(snap: &AccountSnapshot, email: &str) -> bool {
    snap.users
        .iter()
        .any(|u| u.email.eq_ignore_ascii_case(email))
}

pub async fn post_user(s: &TestServer, ep: &Endpoint, name: &str, role: Option<&str>) -> String {
    post_user_body(s, ep, user(name, role)).await
}

pub async fn post_user_body(s: &TestServer, ep: &Endpoint, body: Value) -> String {
    let r = s.call(ep, "POST", "/Users", Some(body)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

pub async fn post_group(s: &TestServer, ep: &Endpoint, name: &str) -> String {
    let r = s
        .call(
            ep,
            "POST",
            "/Groups",
            Some(json!({"displayName": name, "members": []})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

pub async fn patch(s: &TestServer, ep: &Endpoint, path: &str, ops: Value) {
    let r = s
        .call(
            ep,
            "PATCH",
            path,
            Some(json!({"schemas": [PATCH], "Operations": ops})),
        )
        .await;
    assert!(r.status == 200 || r.status == 204, "{:?}", r.body);
}

/// Entra's member add (`Add members`).
pub async fn add_member(s: &TestServer, ep: &Endpoint, group: &str, user: &str) {
    patch(
        s,
        ep,
        &format!("/Groups/{group}"),
        json!([{"op": "Add", "path": "members", "value": [{"value": user}]}]),
    )
    .await;
}

/// Entra's member removal with the `aadOptscim062020` form.
pub async fn remove_member(s: &TestServer, ep: &Endpoint, group: &str, user: &str) {
    patch(
        s,
        ep,
        &format!("/Groups/{group}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{user}\"]")}]),
    )
    .await;
}

/// Waits until the integration has no open job (and fails on a failed one).
pub async fn wait_idle(s: &TestServer, ep: &Endpoint) {
    let st = s.store().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open = st.open_jobs(&ep.id).await.unwrap();
        if open.iter().all(|j| j.state == store::JobState::Failed) {
            assert!(open.is_empty(), "failed jobs: {open:?}");
            return;
        }
        assert!(Instant::now() < deadline, "jobs still open: {open:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
