//! PATCH operations whose `path` is a schema URN itself (an extension object as the value),
//! and the refusal to remove `active`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on setup failure"
)]

use scim_core::messages::PatchOp;
use scim_core::patch::apply_patch;
use scim_core::schema::{AttributeDef, ResourceType, extension_schema};
use scim_core::{ScimType, resource};
use serde_json::{Value, json};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn patch(rt: &ResourceType, before: Value, ops: Value) -> Result<Value, scim_core::ScimError> {
    let current = resource::normalize(rt, &before).unwrap();
    let body =
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let req = PatchOp::from_value(&body)?;
    apply_patch(rt, "a1b2", &current, &req).map(|(m, _)| Value::Object(m))
}

fn before() -> Value {
    json!({
        "userName": "a@x.com",
        "active": false,
        ENTERPRISE: {
            "employeeNumber": "701984",
            "department": "Sales",
            "manager": {"value": "m-1", "displayName": "Boss"}
        }
    })
}

#[test]
fn add_with_extension_urn_path_merges_like_per_attribute_adds() {
    let rt = ResourceType::user();
    for op in ["add", "Add", "ADD"] {
        let via_urn = patch(
            &rt,
            before(),
            json!([{"op": op, "path": ENTERPRISE, "value": {"department": "X", "costCenter": "42", "manager": {"value": "m-2"}}}]),
        )
        .unwrap();
        let per_attribute = patch(
            &rt,
            before(),
            json!([
                {"op": op, "path": format!("{ENTERPRISE}:department"), "value": "X"},
                {"op": op, "path": format!("{ENTERPRISE}:costCenter"), "value": "42"},
                {"op": op, "path": format!("{ENTERPRISE}:manager"), "value": {"value": "m-2"}}
            ]),
        )
        .unwrap();
        assert_eq!(via_urn, per_attribute, "{op}");
        assert_eq!(via_urn[ENTERPRISE]["employeeNumber"], "701984", "kept");
        assert_eq!(via_urn[ENTERPRISE]["department"], "X");
        assert_eq!(via_urn[ENTERPRISE]["costCenter"], "42");
        assert_eq!(via_urn[ENTERPRISE]["manager"]["value"], "m-2");
        assert!(
            via_urn
                .get("urn:ietf:params:scim:schemas:extension:enterprise:2.0")
                .is_none()
        );
    }
    // Onto a user without the extension: creates it.
    let out = patch(
        &rt,
        json!({"userName": "a@x.com"}),
        json!([{"op": "add", "path": ENTERPRISE.to_uppercase(), "value": {"department": "X"}}]),
    )
    .unwrap();
    assert_eq!(out[ENTERPRISE], json!({"department": "X"}));
}

#[test]
fn replace_with_extension_urn_path_replaces_only_the_given_attributes() {
    let rt = ResourceType::user();
    let via_urn = patch(
        &rt,
        before(),
        json!([{"op": "Replace", "path": ENTERPRISE, "value": {"department": "Y", "manager": {"value": "m-3"}, "division": ""}}]),
    )
    .unwrap();
    let per_attribute = patch(
        &rt,
        before(),
        json!([
            {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Y"},
            {"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": "m-3"}},
            {"op": "Replace", "path": format!("{ENTERPRISE}:division"), "value": ""}
        ]),
    )
    .unwrap();
    assert_eq!(via_urn, per_attribute);
    // RFC 7644 §3.5.2.3: attributes not in the value are left unchanged.
    assert_eq!(via_urn[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(via_urn[ENTERPRISE]["department"], "Y");
    assert_eq!(via_urn[ENTERPRISE]["manager"]["value"], "m-3");
}

#[test]
fn remove_with_extension_urn_path_drops_the_extension() {
    let rt = ResourceType::user();
    for op in ["remove", "Remove"] {
        let out = patch(&rt, before(), json!([{"op": op, "path": ENTERPRISE}])).unwrap();
        assert!(out.get(ENTERPRISE).is_none(), "{out}");
        assert_eq!(out["userName"], "a@x.com");
    }
    // A replace with null clears it too; removing an absent extension is a no-op.
    let out = patch(
        &rt,
        before(),
        json!([{"op": "replace", "path": ENTERPRISE, "value": null}]),
    )
    .unwrap();
    assert!(out.get(ENTERPRISE).is_none());
    let out = patch(
        &rt,
        json!({"userName": "a"}),
        json!([{"op": "remove", "path": ENTERPRISE}]),
    )
    .unwrap();
    assert_eq!(out, json!({"userName": "a"}));
    // The rendered resource no longer lists the extension in `schemas`.
    let meta = resource::Meta {
        created: chrono::Utc::now(),
        last_modified: chrono::Utc::now(),
        location: "https://x/Users/a1b2".into(),
        version: 1,
    };
    let rendered = resource::render(&rt, "a1b2", out.as_object().unwrap().clone(), &meta);
    assert!(!Value::Object(rendered).to_string().contains(ENTERPRISE));
}

#[test]
fn any_registered_extension_works_as_a_path() {
    let urn = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
    let mut rt = ResourceType::user();
    rt.register_extension(
        extension_schema(
            urn,
            "AcmeUser",
            vec![
                AttributeDef::string("platformRole"),
                AttributeDef::string("badges").multi(),
            ],
        ),
        false,
    );
    let out = patch(
        &rt,
        json!({"userName": "a", urn: {"badges": ["b1"]}}),
        json!([{"op": "add", "path": urn, "value": {"platformRole": "admin", "badges": ["b2"]}}]),
    )
    .unwrap();
    assert_eq!(
        out[urn],
        json!({"badges": ["b1", "b2"], "platformRole": "admin"})
    );
    let out = patch(
        &rt,
        out,
        json!([{"op": "Replace", "path": urn, "value": {"badges": ["b3"]}}]),
    )
    .unwrap();
    assert_eq!(out[urn], json!({"badges": ["b3"], "platformRole": "admin"}));
    // An attribute the extension does not define is refused, as with a urn:…:attr path.
    let e = patch(
        &rt,
        out.clone(),
        json!([{"op": "add", "path": urn, "value": {"shoeSize": 42}}]),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let out = patch(&rt, out, json!([{"op": "remove", "path": urn}])).unwrap();
    assert!(out.get(urn).is_none());
}

#[test]
fn schema_urn_path_needs_an_object_and_keeps_the_core_schema() {
    let rt = ResourceType::user();
    let e = patch(
        &rt,
        before(),
        json!([{"op": "replace", "path": ENTERPRISE, "value": "Sales"}]),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    let e = patch(&rt, before(), json!([{"op": "remove", "path": core}])).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let out = patch(
        &rt,
        before(),
        json!([{"op": "replace", "path": core, "value": {"displayName": "A"}}]),
    )
    .unwrap();
    assert_eq!(out["displayName"], "A");
}

#[test]
fn removing_or_clearing_active_is_refused() {
    let rt = ResourceType::user();
    for ops in [
        json!([{"op": "remove", "path": "active"}]),
        json!([{"op": "Remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User:active"}]),
        json!([{"op": "replace", "path": "active", "value": null}]),
        json!([{"op": "Replace", "path": "active", "value": ""}]),
        json!([{"op": "replace", "value": {"active": null}}]),
        json!([{"op": "replace", "path": "displayName", "value": "A"}, {"op": "remove", "path": "active"}]),
    ] {
        let e = patch(&rt, before(), ops.clone()).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{ops}");
        assert_eq!(e.status, 400);
        assert!(e.detail.contains(r#""value":false"#), "{}", e.detail);
    }
    // Disabling and enabling still work.
    let out = patch(
        &rt,
        before(),
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .unwrap();
    assert_eq!(out["active"], true);
    let out = patch(
        &rt,
        out,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .unwrap();
    assert_eq!(out["active"], false);
}
