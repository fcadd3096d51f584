//! Extension schemas registered at run time: a parsed schema drives normalisation, filters,
//! projection and PATCH, including ActivTrak's `[value eq null]` replace.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benches panic on setup failure"
)]

use scim_core::extension::{parse_schema, user_type_with};
use scim_core::filter::{matches, parse_filter, validate_filter};
use scim_core::messages::PatchOp;
use scim_core::patch::apply_patch;
use scim_core::projection::Projection;
use scim_core::resource;
use scim_core::schema::ResourceType;
use serde_json::{Value, json};

const AT: &str = "urn:ietf:params:scim:schemas:extension:activtrak:2.0:User";
const AP: &str = "urn:ietf:params:scim:schemas:activepieces:1.0:CustomUserAttributes";

fn rt() -> ResourceType {
    let activtrak = parse_schema(&json!({
        "id": AT, "name": "ActivTrakUser",
        "attributes": [
            {"name": "userPrincipalNames", "type": "string", "multiValued": true},
            {"name": "tracking", "type": "boolean"}
        ]
    }))
    .unwrap();
    let activepieces = parse_schema(&json!({
        "id": AP, "name": "CustomUserAttributes",
        "attributes": [{"name": "platformRole", "type": "string",
                        "canonicalValues": ["ADMIN", "MEMBER", "OPERATOR"]}]
    }))
    .unwrap();
    user_type_with(&[activtrak, activepieces])
}

fn ops(ops: Value) -> PatchOp {
    PatchOp::from_value(
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
    )
    .unwrap()
}

#[test]
fn string_booleans_of_a_registered_extension_become_booleans() {
    // Entra leaves the custom URN out of `schemas[]` and sends "False".
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "a@x.com",
        AT: {"tracking": "False", "userPrincipalNames": "a@x.com"},
        AP: {"platformRole": "ADMIN"}
    });
    let attrs = resource::parse_create(&rt(), &body).unwrap();
    assert_eq!(attrs[AT]["tracking"], json!(false));
    assert_eq!(attrs[AT]["userPrincipalNames"], json!(["a@x.com"]));
    assert_eq!(attrs[AP]["platformRole"], json!("ADMIN"));
    // Without the registration the string stays a string, as before.
    let plain = resource::parse_create(&ResourceType::user(), &body).unwrap();
    assert_eq!(plain[AT]["tracking"], json!("False"));
    // A wrong type for a registered attribute is an error naming it.
    let bad = json!({"userName": "a", AT: {"tracking": "maybe"}});
    let e = resource::parse_create(&rt(), &bad).unwrap_err();
    assert!(e.detail.contains("tracking"), "{}", e.detail);
}

#[test]
fn filters_and_projection_see_extension_attributes() {
    let rt = rt();
    let user = resource::parse_create(
        &rt,
        &json!({"userName": "a", AP: {"platformRole": "ADMIN"}, AT: {"tracking": true}}),
    )
    .unwrap();
    let f = parse_filter(&format!("{AP}:platformRole eq \"admin\"")).unwrap();
    validate_filter(&f, &rt).unwrap();
    assert!(matches(&f, &user, &rt));
    let f = parse_filter(&format!("{AT}:tracking eq false")).unwrap();
    validate_filter(&f, &rt).unwrap();
    assert!(!matches(&f, &user, &rt));
    // Unknown on the plain type.
    assert!(validate_filter(&f, &ResourceType::user()).is_err());

    let p = Projection::parse(Some(&format!("{AP}:platformRole")), None, &rt).unwrap();
    let out = p.apply(&rt, user.clone());
    assert_eq!(out[AP], json!({"platformRole": "ADMIN"}));
    assert!(out.get(AT).is_none());
}

#[test]
fn activtrak_replace_with_value_eq_null_replaces_the_values() {
    let rt = rt();
    let current = resource::normalize(
        &rt,
        &json!({"userName": "a", AT: {"userPrincipalNames": ["old@x.com", "older@x.com"]}}),
    )
    .unwrap();
    let req = ops(json!([{
        "op": "Replace",
        "path": format!("{AT}:userPrincipalNames[value eq null].value"),
        "value": "a@b.c"
    }]));
    let (once, _) = apply_patch(&rt, "id", &current, &req).unwrap();
    assert_eq!(once[AT]["userPrincipalNames"], json!(["a@b.c"]));
    // Sent again (Entra repeats it every cycle): still one value.
    let (twice, _) = apply_patch(&rt, "id", &once, &req).unwrap();
    assert_eq!(twice[AT]["userPrincipalNames"], json!(["a@b.c"]));
    // On a user without the attribute it is set.
    let empty = resource::normalize(&rt, &json!({"userName": "a"})).unwrap();
    let (set, _) = apply_patch(&rt, "id", &empty, &req).unwrap();
    assert_eq!(set[AT]["userPrincipalNames"], json!(["a@b.c"]));
    // The same for an integration that did not register the extension (kept raw).
    let plain = ResourceType::user();
    let current = resource::normalize(
        &plain,
        &json!({"userName": "a", AT: {"userPrincipalNames": ["old@x.com"]}}),
    )
    .unwrap();
    let (out, _) = apply_patch(&plain, "id", &current, &req).unwrap();
    assert_eq!(out[AT]["userPrincipalNames"], json!(["a@b.c"]));
    // `add` keeps its meaning: the value is appended.
    let add = ops(json!([{
        "op": "add",
        "path": format!("{AT}:userPrincipalNames[value eq null].value"),
        "value": "new@x.com"
    }]));
    let (added, _) = apply_patch(&rt, "id", &once, &add).unwrap();
    assert_eq!(
        added[AT]["userPrincipalNames"],
        json!(["a@b.c", "new@x.com"])
    );
}
