//! PATCH engine: RFC 7644 §3.5.2 semantics and all-or-nothing behaviour.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benches panic on setup failure"
)]

use scim_core::messages::PatchOp;
use scim_core::patch::apply_patch;
use scim_core::schema::{AttributeDef, ResourceType, extension_schema};
use scim_core::{ScimType, resource};
use serde_json::{Map, Value, json};

const ID: &str = "a1b2";

fn patch(rt: &ResourceType, before: Value, body: Value) -> Result<Value, scim_core::ScimError> {
    let current = resource::normalize(rt, &before).unwrap();
    let req = PatchOp::from_value(&body)?;
    apply_patch(rt, ID, &current, &req).map(|(m, _)| Value::Object(m))
}

fn ops(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

#[test]
fn add_replace_remove_simple() {
    let rt = ResourceType::user();
    let out = patch(
        &rt,
        json!({"userName": "a"}),
        ops(json!([
            {"op": "Add", "path": "displayName", "value": "A"},
            {"op": "add", "path": "displayName", "value": "B"},
            {"op": "replace", "path": "nickName", "value": "n"},
            {"op": "remove", "path": "nickName"}
        ])),
    )
    .unwrap();
    assert_eq!(out, json!({"userName": "a", "displayName": "B"}));
}

#[test]
fn filtered_path_creates_and_updates_element() {
    let rt = ResourceType::user();
    let out = patch(
        &rt,
        json!({"userName": "a"}),
        ops(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "w@x.com"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
            {"op": "add", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"},
            {"op": "add", "path": "addresses[type eq \"work\"].postalCode", "value": "12345"}
        ])),
    )
    .unwrap();
    assert_eq!(out["emails"], json!([{"type": "work", "value": "w@x.com"}]));
    assert_eq!(
        out["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555"}])
    );
    assert_eq!(
        out["addresses"],
        json!([{"type": "work", "formatted": "1 Main St", "postalCode": "12345"}])
    );
    let again = patch(&rt, out, ops(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "v@x.com"}]))).unwrap();
    assert_eq!(
        again["emails"],
        json!([{"type": "work", "value": "v@x.com"}])
    );
}

#[test]
fn pathless_replace_with_dotted_and_urn_keys() {
    let rt = ResourceType::user();
    let out = patch(
        &rt,
        json!({"userName": "a", "name": {"familyName": "F"}}),
        ops(json!([
            {"op": "replace", "value": {
                "name.givenName": "G",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
                "active": "False",
                "displayName": "GF"
            }}
        ])),
    )
    .unwrap();
    assert_eq!(out["name"], json!({"familyName": "F", "givenName": "G"}));
    assert_eq!(
        out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        json!({"employeeNumber": "42"})
    );
    assert_eq!(out["active"], json!(false));
    assert!(out.get("name.givenName").is_none());
}

#[test]
fn manager_string_or_object_and_clear() {
    let rt = ResourceType::user();
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let set = patch(
        &rt,
        json!({"userName": "a"}),
        ops(json!([{"op": "add", "path": format!("{ent}:manager"), "value": "m1"}])),
    )
    .unwrap();
    assert_eq!(set[ent]["manager"], json!({"value": "m1"}));
    let changed = patch(
        &rt,
        set,
        ops(json!([{"op": "Replace", "path": format!("{ent}:manager"), "value": {"value": "m2"}}])),
    )
    .unwrap();
    assert_eq!(changed[ent]["manager"], json!({"value": "m2"}));
    let cleared = patch(
        &rt,
        changed,
        ops(json!([{"op": "Replace", "path": format!("{ent}:manager"), "value": ""}])),
    )
    .unwrap();
    assert!(cleared.get(ent).is_none(), "{cleared}");
}

#[test]
fn members_add_and_both_removal_forms() {
    let rt = ResourceType::group();
    let g = json!({"displayName": "Sales"});
    let added = patch(&rt, g, ops(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u1"}, {"value": "u2"}, {"value": "u3"}]}]))).unwrap();
    assert_eq!(
        added["members"],
        json!([{"value": "u1"}, {"value": "u2"}, {"value": "u3"}])
    );
    let readd = patch(
        &rt,
        added.clone(),
        ops(json!([{"op": "Add", "path": "members", "value": [{"value": "u1"}]}])),
    )
    .unwrap();
    assert_eq!(
        readd["members"].as_array().unwrap().len(),
        3,
        "re-adding a member does not duplicate it"
    );
    let r1 = patch(
        &rt,
        added,
        ops(json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}])),
    )
    .unwrap();
    let r2 = patch(
        &rt,
        r1,
        ops(json!([{"op": "remove", "path": "members[value eq \"u2\"]"}])),
    )
    .unwrap();
    assert_eq!(r2["members"], json!([{"value": "u3"}]));
    let all = patch(&rt, r2, ops(json!([{"op": "remove", "path": "members"}]))).unwrap();
    assert!(all.get("members").is_none());
}

#[test]
fn json_encoded_roles_are_decoded() {
    let rt = ResourceType::user();
    let out = patch(
        &rt,
        json!({"userName": "a"}),
        ops(json!([
            {"op": "Add", "path": "roles", "value": [{"value": "{\"id\":\"7\",\"value\":\"Admin\",\"displayName\":\"Administrator\"}"}]}
        ])),
    );
    // The item is an object whose `value` is the JSON-encoded role: decoded into the item.
    let out = out.unwrap();
    assert_eq!(
        out["roles"],
        json!([{"id": "7", "value": "Admin", "display": "Administrator"}])
    );
    let out = patch(&rt, json!({"userName": "a"}), ops(json!([
        {"op": "Add", "path": "roles", "value": "{\"id\":\"7\",\"value\":\"Admin\",\"displayName\":\"Administrator\"}"}
    ]))).unwrap();
    assert_eq!(out["roles"][0]["value"], json!("Admin"));
    assert_eq!(out["roles"][0]["display"], json!("Administrator"));
}

#[test]
fn a_json_encoded_role_list_is_decoded_into_its_roles() {
    let rt = ResourceType::user();
    let encoded =
        r#"[{"id":"1","value":"25","displayName":"Sales","primary":false},{"value":"26"}]"#;
    let out = patch(
        &rt,
        json!({"userName": "a", "roles": [{"value": "24"}]}),
        ops(json!([{"op": "Add", "path": "roles", "value": encoded}])),
    )
    .unwrap();
    assert_eq!(
        out["roles"],
        json!([
            {"value": "24"},
            {"id": "1", "value": "25", "display": "Sales", "primary": false},
            {"value": "26"}
        ])
    );
    // A role whose name merely looks like a list stays a plain value.
    let out = patch(
        &rt,
        json!({"userName": "a"}),
        ops(json!([{"op": "add", "path": "roles", "value": "[ops]"}])),
    )
    .unwrap();
    assert_eq!(out["roles"], json!([{"value": "[ops]"}]));
}

#[test]
fn extension_multi_valued_string_with_null_filter() {
    let mut rt = ResourceType::user();
    let urn = "urn:ietf:params:scim:schemas:extension:activtrak:2.0:User";
    rt.register_extension(
        extension_schema(
            urn,
            "ActivTrak",
            vec![
                AttributeDef::string("userPrincipalNames").multi(),
                AttributeDef::boolean("tracking"),
            ],
        ),
        false,
    );
    for path in [
        format!("{urn}:userPrincipalNames[value eq null].value"),
        format!("{urn}.userPrincipalNames[value eq null].value"),
    ] {
        let out = patch(
            &rt,
            json!({"userName": "a"}),
            ops(json!([{"op": "add", "path": path, "value": "a@b.com"}])),
        )
        .unwrap();
        assert_eq!(
            out[urn],
            json!({"userPrincipalNames": ["a@b.com"]}),
            "{path}"
        );
    }
}

#[test]
fn errors_and_atomicity() {
    let rt = ResourceType::user();
    let before = json!({"userName": "a", "displayName": "keep"});
    let cases = [
        (
            json!([{"op": "replace", "path": "displayName", "value": "new"}, {"op": "replace", "path": "shoeSize", "value": 1}]),
            ScimType::InvalidPath,
        ),
        (json!([{"op": "remove"}]), ScimType::NoTarget),
        (
            json!([{"op": "move", "path": "displayName"}]),
            ScimType::InvalidSyntax,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq ].value", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "active", "value": "notabool"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "name.givenName", "value": {"x": 1}}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "id", "value": "other"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "remove", "path": "userName"}]),
            ScimType::InvalidValue,
        ),
    ];
    for (body, want) in cases {
        let e = patch(&rt, before.clone(), ops(body.clone())).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some(want)), "{body}: {e}");
    }
    let e = patch(&rt, before, json!({"schemas": []})).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
}

#[test]
fn okta_deactivate_and_replace_members() {
    let rt = ResourceType::user();
    let out = patch(
        &rt,
        json!({"userName": "a", "active": true}),
        ops(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .unwrap();
    assert_eq!(out["active"], json!(false));
    let g = ResourceType::group();
    let out = patch(&g, json!({"displayName": "G", "members": [{"value": "u1"}]}), ops(json!([
        {"op": "replace", "path": "members", "value": [{"value": "u2", "display": "U2"}, {"value": "u3"}]}
    ]))).unwrap();
    assert_eq!(out["members"], json!([{"value": "u2"}, {"value": "u3"}]));
    let out = patch(&g, out, ops(json!([{"op": "replace", "value": {"id": ID, "displayName": "G2", "members": [{"value": "u9"}]}}]))).unwrap();
    assert_eq!(
        out,
        json!({"displayName": "G2", "members": [{"value": "u9"}]})
    );
}

#[test]
fn notes_record_quirks() {
    let rt = ResourceType::user();
    let current: Map<String, Value> = resource::normalize(&rt, &json!({"userName": "a"})).unwrap();
    let req = PatchOp::from_value(&ops(
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    ))
    .unwrap();
    let (_, notes) = apply_patch(&rt, ID, &current, &req).unwrap();
    assert!(
        notes.quirks.iter().any(|q| q.contains("Replace")),
        "{notes:?}"
    );
    assert!(
        notes.quirks.iter().any(|q| q.contains("string boolean")),
        "{notes:?}"
    );
}
