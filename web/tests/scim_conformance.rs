//! SCIM conformance leftovers of issue 33 over real HTTP, on SQLite and on PostgreSQL: a PATCH
//! whose path is the extension schema URN, `remove` of `active` refused, and filters with a
//! NUL character refused the same way on both databases.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::{Endpoint, TestServer};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn ops(ops: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

async fn create_user(s: &TestServer, ep: &Endpoint, user_name: &str, active: bool) -> String {
    let body = json!({
        "schemas": [USER, ENTERPRISE],
        "userName": user_name,
        "active": active,
        ENTERPRISE: {"department": "Sales", "employeeNumber": "7"}
    });
    let r = s.call(ep, "POST", "/Users", Some(body)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

async fn extension_urn_path(s: TestServer) {
    let ep = s.endpoint("Extension path");
    let id = create_user(&s, &ep, "ext@example.com", true).await;
    let path = format!("/Users/{id}");
    let r = s
        .call(
            &ep,
            "PATCH",
            &path,
            Some(ops(json!([{"op": "Add", "path": ENTERPRISE, "value": {"department": "X", "manager": {"value": "m-1"}}}]))),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body[ENTERPRISE],
        json!({"department": "X", "employeeNumber": "7", "manager": {"value": "m-1"}})
    );
    let r = s
        .call(
            &ep,
            "PATCH",
            &path,
            Some(ops(
                json!([{"op": "Replace", "path": ENTERPRISE, "value": {"employeeNumber": "8"}}]),
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body[ENTERPRISE],
        json!({"department": "X", "employeeNumber": "8", "manager": {"value": "m-1"}})
    );
    // The stored resource, read back, agrees; a filter on an extension attribute finds it.
    let got = s.call(&ep, "GET", &path, None).await;
    assert_eq!(got.body[ENTERPRISE]["employeeNumber"], "8");
    let r = s
        .call(
            &ep,
            "PATCH",
            &path,
            Some(ops(json!([{"op": "Remove", "path": ENTERPRISE}]))),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body.get(ENTERPRISE).is_none(), "{:?}", r.body);
    let got = s.call(&ep, "GET", &path, None).await;
    assert!(got.body.get(ENTERPRISE).is_none(), "{:?}", got.body);
    assert!(!got.body["schemas"].to_string().contains(ENTERPRISE));
}

async fn remove_active_is_refused(s: TestServer) {
    let ep = s.endpoint("Remove active");
    let id = create_user(&s, &ep, "disabled@example.com", false).await;
    let path = format!("/Users/{id}");
    for body in [
        json!([{"op": "Remove", "path": "active"}]),
        json!([{"op": "replace", "path": "active", "value": null}]),
    ] {
        let r = s.call(&ep, "PATCH", &path, Some(ops(body))).await;
        r.assert_error(400, Some("invalidValue"));
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains("\"value\":false"),
            "{:?}",
            r.body
        );
    }
    // Still disabled, for the SCIM view and the SQL-filtered list.
    let got = s.call(&ep, "GET", &path, None).await;
    assert_eq!(got.body["active"], false);
    let list = s
        .call(&ep, "GET", "/Users?filter=active+eq+false", None)
        .await;
    assert_eq!(list.body["totalResults"], 1, "{:?}", list.body);
}

async fn nul_in_filters_is_refused(s: TestServer) {
    let ep = s.endpoint("NUL filters");
    create_user(&s, &ep, "xy@example.com", true).await;
    create_user(&s, &ep, "plain@example.com", true).await;
    let g = s
        .call(
            &ep,
            "POST",
            "/Groups",
            Some(json!({"displayName": "xy team"})),
        )
        .await;
    assert_eq!(g.status, 201, "{:?}", g.body);
    // `userName co "x\u0000y"`, URL-encoded; and a raw NUL (%00) inside the literal.
    for filter in [
        "userName+co+%22x%5Cu0000y%22",
        "userName+co+%22x%00y%22",
        "userName+eq+%22xy%40example.com%5Cu0000%22",
    ] {
        let r = s
            .call(&ep, "GET", &format!("/Users?filter={filter}"), None)
            .await;
        r.assert_error(400, Some("invalidFilter"));
        assert!(
            r.body["detail"].as_str().unwrap().contains("NUL"),
            "{:?}",
            r.body
        );
    }
    s.call(
        &ep,
        "GET",
        "/Groups?filter=displayName+co+%22x%5Cu0000y%22",
        None,
    )
    .await
    .assert_error(400, Some("invalidFilter"));
    for resource in ["/Users/.search", "/Groups/.search", "/.search"] {
        let filter = if resource.starts_with("/Groups") {
            "displayName co \"x\u{0}y\""
        } else {
            "userName co \"x\u{0}y\""
        };
        let r = s
            .call(
                &ep,
                "POST",
                resource,
                Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": filter})),
            )
            .await;
        r.assert_error(400, Some("invalidFilter"));
    }
    // Without the NUL the same filter works on both databases.
    let r = s
        .call(&ep, "GET", "/Users?filter=userName+co+%22xy%22", None)
        .await;
    assert_eq!(r.body["totalResults"], 1, "{:?}", r.body);
}

on_both_backends!(
    extension_urn_path,
    remove_active_is_refused,
    nul_in_filters_is_refused
);
