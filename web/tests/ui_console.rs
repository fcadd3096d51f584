//! What support reads in the console, over real HTTP against the fake ActiveCampaign, on
//! SQLite and PostgreSQL: traces show the HTTP requests behind each call with secrets masked,
//! the account id and our answer to the identity provider; the log shows exact UTC times and
//! states a note common to all requests once; a role the target does not have is refused
//! when the mapping is saved; an ActiveCampaign account name becomes its API URL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::target::{patch, post_user, wait_idle};
use common::ui::{PASSWORD, Ui, admin};
use common::{Endpoint, TestServer};
use serde_json::json;
use testkit::fake_activecampaign::{AccountConfig, FakeActiveCampaign, FakeConfig, FakeHandle};

const TOKEN: &str = "ac-key-of-owner-7f3a";

async fn fake() -> FakeHandle {
    FakeActiveCampaign::start(
        FakeConfig::default().account(AccountConfig::new("acme", TOKEN).groups([
            "User",
            "Manager",
            "No access",
        ])),
    )
    .await
}

fn endpoint(s: &TestServer, f: &FakeHandle) -> Endpoint {
    let base = format!("base_url={}", f.base_url());
    let key = format!("api_key={TOKEN}");
    s.endpoint_with(
        "Acme",
        &[
            "--setting",
            &base,
            "--secret",
            &key,
            "--default-role",
            "User",
            "--deprovision",
            "role:No access",
        ],
    )
}

/// The correlation id of the newest outbound event of `operation` for `user`.
async fn correlation_of(s: &TestServer, ep: &Endpoint, user: &str, operation: &str) -> String {
    let st = s.store().await;
    let events = st
        .list_events(&store::EventQuery {
            integration_id: Some(ep.id.clone()),
            subject_id: Some(user.to_owned()),
            direction: Some(store::Direction::Outbound),
            operation: Some(operation.to_owned()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    events
        .first()
        .unwrap_or_else(|| panic!("no {operation} event for {user}"))
        .correlation_id
        .clone()
}

async fn traces_show_the_calls_behind_a_change(s: TestServer) {
    let f = fake().await;
    let ep = endpoint(&s, &f);
    let ada = post_user(&s, &ep, "ada@contoso.com", None).await;
    wait_idle(&s, &ep).await;
    admin(&s, "support@example.com", "support", None);
    let ui = Ui::new(&s.base);
    assert_eq!(
        ui.sign_in("support@example.com", PASSWORD).await.status,
        303
    );

    // The create: our answer to Entra, then the requests to ActiveCampaign.
    let cid = correlation_of(&s, &ep, &ada, "create_user").await;
    let trace = ui.get(&format!("/t/{}/trace/{cid}", ep.tenant)).await;
    assert_eq!(trace.status, 200);
    let body = trace.body.replace("&#34;", "\"");
    assert!(body.contains("Our answer"), "{body}");
    assert!(
        body.contains(&format!("/Users/{ada}")),
        "the Location we answered: {body}"
    );
    assert!(body.contains("POST /api/3/users"), "{body}");
    assert!(body.contains("Account id in the target"), "{body}");
    assert!(
        body.contains("\"email\": \"ada@contoso.com\""),
        "the body sent: {body}"
    );
    assert!(!body.contains(TOKEN), "the API key never shows");

    // Deprovisioning scrambles the password: the trace shows the call, never the password.
    patch(
        &s,
        &ep,
        &format!("/Users/{ada}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    wait_idle(&s, &ep).await;
    let cid = correlation_of(&s, &ep, &ada, "rotate_password").await;
    let st = s.store().await;
    let rotated = st
        .list_events(&store::EventQuery {
            correlation_id: Some(cid.clone()),
            operation: Some("rotate_password".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    let detail = rotated[0].detail.clone().unwrap_or_default();
    assert!(detail.contains("\"http\""), "{detail}");
    assert!(
        detail.contains("[redacted]"),
        "the password is masked: {detail}"
    );
    assert!(!detail.contains("\"password\":\"") || detail.contains("\"password\":\"[redacted]\""));
    let trace = ui.get(&format!("/t/{}/trace/{cid}", ep.tenant)).await;
    assert!(trace.body.contains("PUT /api/3/users/"), "{}", trace.body);
    assert!(trace.body.contains("[redacted]"));

    // The log: exact UTC times beside the relative ones, a local-time toggle.
    let log = ui.get(&format!("/t/{}/log", ep.tenant)).await;
    assert_eq!(log.status, 200);
    assert!(log.body.contains(" UTC</time>"), "{}", log.body);
    assert!(log.body.contains("data-time-toggle"));
}

async fn roles_are_the_targets_and_account_names_become_urls(s: TestServer) {
    let f = fake().await;
    let ep = endpoint(&s, &f);
    admin(&s, "it.admin@contoso.com", "platform-admin", None);
    let ui = Ui::new(&s.base);
    assert_eq!(
        ui.sign_in("it.admin@contoso.com", PASSWORD).await.status,
        303
    );
    let roles = format!("/t/{}/integrations/{}/roles", ep.tenant, ep.id);
    let form = ui.get(&roles).await;
    assert!(
        form.body.contains("<option value=\"Manager\""),
        "the target's roles are offered"
    );
    // A rule to a role ActiveCampaign does not have is refused, and nothing is saved.
    let refused = ui
        .post(
            &roles,
            &roles,
            &[
                ("default_role", "User"),
                ("rule_kind", "group"),
                ("rule_value", "Sales"),
                ("rule_role", "Wizard"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let message = refused
        .body
        .split("has no role &#39;Wizard&#39;. It has: ")
        .nth(1);
    assert!(
        refused
            .body
            .contains("ActiveCampaign has no role &#39;Wizard&#39;")
            && message.is_some_and(
                |m| m.starts_with("Admin, User, Manager, No access") || m.contains("Manager")
            ),
        "{}",
        refused.body
    );
    let st = s.store().await;
    assert!(st.list_role_rules(&ep.id).await.unwrap().is_empty());
    // Any case of a real role is accepted.
    let saved = ui
        .post(
            &roles,
            &roles,
            &[
                ("default_role", "user"),
                ("rule_kind", "group"),
                ("rule_value", "Sales"),
                ("rule_role", "manager"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);

    // `contoso` is the account; the stored URL is the API URL that will be called.
    let created = s.cli(&[
        "integration",
        "create",
        "--tenant",
        &ep.tenant,
        "--name",
        "By name",
        "--connector",
        "activecampaign",
        "--setting",
        "base_url=contoso",
        "--secret",
        "api_key=k",
        "--mode",
        "dry-run",
    ]);
    let i = st
        .get_integration(&ep.tenant, created["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        i.settings["base_url"], "https://contoso.api-us1.com/api/3",
        "{:?}",
        i.settings
    );
    let connection = ui
        .get(&format!(
            "/t/{}/integrations/{}/connection",
            ep.tenant, i.id
        ))
        .await;
    assert!(
        connection
            .body
            .contains("https://contoso.api-us1.com/api/3")
    );

    // A draft with no rule whose unmatched users keep their role would change nobody:
    // activation asks first.
    let new = format!("/t/{}/integrations/new/activecampaign", ep.tenant);
    let draft = ui
        .post(
            &new,
            &new,
            &[
                ("name", "Nobody changes"),
                ("base_url", f.base_url()),
                ("api_key", TOKEN),
            ],
        )
        .await;
    assert_eq!(draft.status, 303, "{}", draft.body);
    let base = draft
        .location
        .unwrap()
        .trim_end_matches("/roles")
        .to_string();
    let policy = format!("{base}/policy");
    let saved = ui
        .post(
            &policy,
            &policy,
            &[
                ("deprovision", "delete"),
                ("unmatched", "keep"),
                ("mode", "dry_run"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let review = ui.get(&format!("{base}/activate")).await;
    assert!(
        review.body.contains("id=\"activate-confirm-note\"")
            && review.body.contains("data-confirm="),
        "{}",
        review.body
    );
}

/// The Users tab filters by the state in the target: a user moved to the no-access role
/// is listed under "no access", never with the healthy ones.
async fn users_filter_by_their_state_in_the_target(s: TestServer) {
    let f = fake().await;
    let ep = endpoint(&s, &f);
    let kept = post_user(&s, &ep, "kept@contoso.com", None).await;
    let gone = post_user(&s, &ep, "gone@contoso.com", None).await;
    wait_idle(&s, &ep).await;
    patch(
        &s,
        &ep,
        &format!("/Users/{gone}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    wait_idle(&s, &ep).await;
    admin(&s, "support@example.com", "support", None);
    let ui = Ui::new(&s.base);
    assert_eq!(
        ui.sign_in("support@example.com", PASSWORD).await.status,
        303
    );
    let users = format!("/t/{}/integrations/{}/users", ep.tenant, ep.id);
    let listed = |body: &str| {
        (
            body.contains(&format!("users/{kept}\"")),
            body.contains(&format!("users/{gone}\"")),
        )
    };
    let all = ui.get(&users).await;
    assert_eq!(listed(&all.body), (true, true));
    assert!(all.body.contains("no access · No access"), "{}", all.body);
    let active = ui.get(&format!("{users}?state=active")).await;
    assert_eq!(listed(&active.body), (true, false));
    assert!(active.body.contains("value=\"active\" selected"));
    let no_access = ui.get(&format!("{users}?state=no_access")).await;
    assert_eq!(listed(&no_access.body), (false, true));
    let failed = ui.get(&format!("{users}?state=failed")).await;
    assert_eq!(listed(&failed.body), (false, false));
    assert!(failed.body.contains("No user matches"));
    // With a search too, and an unknown state is no filter.
    let both = ui.get(&format!("{users}?state=active&q=gone")).await;
    assert_eq!(listed(&both.body), (false, false));
    let unknown = ui.get(&format!("{users}?state=bogus")).await;
    assert_eq!(listed(&unknown.body), (true, true));
}

on_both_backends!(
    traces_show_the_calls_behind_a_change,
    roles_are_the_targets_and_account_names_become_urls,
    users_filter_by_their_state_in_the_target,
);
