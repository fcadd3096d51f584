//! attributes / excludedAttributes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benches panic on setup failure"
)]

use scim_core::projection::Projection;
use scim_core::resource::{Meta, normalize, render};
use scim_core::schema::ResourceType;
use serde_json::{Value, json};

fn rendered() -> serde_json::Map<String, Value> {
    let rt = ResourceType::user();
    let attrs = normalize(&rt, &json!({
        "userName": "u", "password": "secret", "displayName": "D",
        "name": {"givenName": "G", "familyName": "F"},
        "emails": [{"value": "e@x", "type": "work"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "S", "employeeNumber": "1"}
    })).unwrap();
    let meta = Meta {
        created: "2024-01-01T00:00:00Z".parse().unwrap(),
        last_modified: "2024-01-01T00:00:00Z".parse().unwrap(),
        location: "l".into(),
        version: 1,
    };
    render(&rt, "id1", attrs, &meta)
}

fn project(attrs: Option<&str>, excluded: Option<&str>) -> Value {
    let rt = ResourceType::user();
    Value::Object(
        Projection::parse(attrs, excluded, &rt)
            .unwrap()
            .apply(&rt, rendered()),
    )
}

#[test]
fn default_never_returns_password() {
    let out = project(None, None);
    assert!(out.get("password").is_none());
    assert_eq!(out["userName"], json!("u"));
    assert!(out.get("meta").is_some());
}

#[test]
fn attributes_select_with_always_returned() {
    let out = project(
        Some(
            "userName,name.givenName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        ),
        None,
    );
    assert_eq!(out["id"], json!("id1"), "id is returned always");
    assert_eq!(out["userName"], json!("u"));
    assert_eq!(out["name"], json!({"givenName": "G"}));
    assert_eq!(
        out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        json!({"department": "S"})
    );
    assert!(
        out.get("displayName").is_none()
            && out.get("emails").is_none()
            && out.get("meta").is_none()
    );
    assert!(out.get("schemas").is_some());
}

#[test]
fn whole_extension_and_core_urn_forms() {
    let out = project(
        Some(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,urn:ietf:params:scim:schemas:core:2.0:User:displayName",
        ),
        None,
    );
    assert_eq!(
        out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        json!({"department": "S", "employeeNumber": "1"})
    );
    assert_eq!(out["displayName"], json!("D"));
    assert!(out.get("userName").is_none());
}

#[test]
fn excluded_attributes() {
    let out = project(
        None,
        Some(
            "emails,name.familyName,id,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ),
    );
    assert!(out.get("emails").is_none());
    assert_eq!(out["name"], json!({"givenName": "G"}));
    assert_eq!(
        out["id"],
        json!("id1"),
        "always-returned attributes cannot be excluded"
    );
    assert!(
        out.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
            .is_none()
    );
}

#[test]
fn group_members_excluded() {
    let rt = ResourceType::group();
    let p = Projection::parse(None, Some("members"), &rt).unwrap();
    assert!(!p.includes(&rt, "members"));
    assert!(p.includes(&rt, "displayName"));
    assert!(
        Projection::parse(Some("displayName"), None, &rt)
            .unwrap()
            .includes(&rt, "displayName")
    );
    assert!(
        !Projection::parse(Some("displayName"), None, &rt)
            .unwrap()
            .includes(&rt, "members")
    );
}
