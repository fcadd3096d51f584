//! Resource validation, normalisation, PUT and rendering.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benches panic on setup failure"
)]

use scim_core::ScimType;
use scim_core::resource::{Meta, apply_put, normalize, parse_create, render};
use scim_core::schema::ResourceType;
use serde_json::{Value, json};

#[test]
fn entra_create_body_is_normalised() {
    let rt = ResourceType::user();
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": "client-chosen",
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "UserName": "Test_User_ab6490ee@testuser.com",
        "active": "True",
        "emails": [{"Primary": "true", "type": "work", "value": "Test_User_ab6490ee@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        "groups": [{"value": "g1"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"Department": "Sales", "manager": "m-1"},
        "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User": {"costCenterCode": "77"},
        "urn:ietf:params:scim:schemas:extension:Other:2.0:User:badgeNumber": "B-9"
    });
    let attrs = parse_create(&rt, &body).unwrap();
    let v = Value::Object(attrs.clone());
    assert_eq!(v["userName"], json!("Test_User_ab6490ee@testuser.com"));
    assert_eq!(v["active"], json!(true));
    assert_eq!(v["emails"][0]["primary"], json!(true));
    assert!(
        v.get("id").is_none()
            && v.get("meta").is_none()
            && v.get("groups").is_none()
            && v.get("roles").is_none()
    );
    let ent = &v["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(
        ent,
        &json!({"department": "Sales", "manager": {"value": "m-1"}})
    );
    assert_eq!(
        v["urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User"],
        json!({"costCenterCode": "77"})
    );
    assert_eq!(
        v["urn:ietf:params:scim:schemas:extension:Other:2.0:User"],
        json!({"badgeNumber": "B-9"})
    );

    let meta = Meta {
        created: "2024-01-01T00:00:00Z".parse().unwrap(),
        last_modified: "2024-01-02T00:00:00Z".parse().unwrap(),
        location: "https://h/scim/v2/i/Users/u1".into(),
        version: 3,
    };
    let out = Value::Object(render(&rt, "u1", attrs.clone(), &meta));
    assert_eq!(out["id"], json!("u1"));
    assert_eq!(
        out["meta"],
        json!({"resourceType": "User", "created": "2024-01-01T00:00:00.000Z", "lastModified": "2024-01-02T00:00:00.000Z", "location": "https://h/scim/v2/i/Users/u1", "version": "W/\"3\""})
    );
    let schemas: Vec<&str> = out["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        schemas,
        [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User",
            "urn:ietf:params:scim:schemas:extension:Other:2.0:User",
        ]
    );
}

#[test]
fn entra_group_create_tolerates_ms_schema() {
    let rt = ResourceType::group();
    let attrs = parse_create(&rt, &json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "e1", "displayName": "Sales Managers", "members": [], "meta": {"resourceType": "Group"}
    })).unwrap();
    assert_eq!(
        Value::Object(attrs),
        json!({"externalId": "e1", "displayName": "Sales Managers"})
    );
}

#[test]
fn invalid_bodies() {
    let rt = ResourceType::user();
    let cases = [
        (json!({"active": true}), ScimType::InvalidValue),
        (json!({"userName": ""}), ScimType::InvalidValue),
        (json!({"userName": {"x": 1}}), ScimType::InvalidValue),
        (
            json!({"userName": "a", "active": "yes"}),
            ScimType::InvalidValue,
        ),
        (
            json!({"userName": "a", "emails": 5}),
            ScimType::InvalidValue,
        ),
        (
            json!({"userName": "a", "name": "flat"}),
            ScimType::InvalidValue,
        ),
        (json!(["not", "an", "object"]), ScimType::InvalidSyntax),
        (
            json!({"userName": "a", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": "x"}),
            ScimType::InvalidValue,
        ),
    ];
    for (body, want) in cases {
        let e = parse_create(&rt, &body).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some(want)), "{body}: {e}");
    }
}

#[test]
fn put_replaces_but_keeps_omitted_active() {
    let rt = ResourceType::user();
    let current = normalize(
        &rt,
        &json!({"userName": "a", "active": false, "displayName": "A", "title": "T"}),
    )
    .unwrap();
    let out = apply_put(
        &rt,
        &current,
        &json!({"userName": "a2", "displayName": "B"}),
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"userName": "a2", "displayName": "B", "active": false})
    );
    let out = apply_put(&rt, &current, &json!({"userName": "a", "active": true})).unwrap();
    assert_eq!(out["active"], json!(true));
}

#[test]
fn normalize_is_idempotent() {
    let rt = ResourceType::user();
    let once = normalize(&rt, &json!({"userName": "x", "ACTIVE": "false", "emails": [{"value": "a@b", "type": "work", "primary": "True"}], "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "D"})).unwrap();
    let twice = normalize(&rt, &Value::Object(once.clone())).unwrap();
    assert_eq!(once, twice);
}

#[test]
fn roles_encoded_as_one_json_string_become_roles() {
    let rt = ResourceType::user();
    let body = json!({
        "userName": "u",
        "roles": "[{\"value\":\"25\",\"displayName\":\"Sales\"},{\"value\":\"26\",\"primary\":\"True\"}]"
    });
    let v = Value::Object(parse_create(&rt, &body).unwrap());
    assert_eq!(
        v["roles"],
        json!([{"value": "25", "display": "Sales"}, {"value": "26", "primary": true}])
    );
    // Emails are complex too, but a non-array string stays a plain value.
    let body = json!({"userName": "u", "emails": "[not json"});
    let v = Value::Object(parse_create(&rt, &body).unwrap());
    assert_eq!(v["emails"], json!([{"value": "[not json"}]));
}
