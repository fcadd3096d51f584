//! Filter parse + evaluate and PATCH apply, on Entra-shaped input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benches panic on setup failure"
)]

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use scim_core::filter::{matches, parse_filter};
use scim_core::messages::PatchOp;
use scim_core::patch::apply_patch;
use scim_core::resource::{Meta, normalize, render};
use scim_core::schema::ResourceType;
use serde_json::json;

fn user_doc() -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee@testuser.com",
        "active": true,
        "displayName": "Adele Vance",
        "emails": [{"primary": true, "type": "work", "value": "Test_User_ab6490ee@testuser.com"}],
        "name": {"formatted": "Adele Vance", "familyName": "Vance", "givenName": "Adele"},
        "roles": [{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "employeeNumber": "42"}
    })
}

fn bench(c: &mut Criterion) {
    let rt = ResourceType::user();
    let attrs = normalize(&rt, &user_doc()).unwrap();
    let meta = Meta {
        created: chrono::Utc::now(),
        last_modified: chrono::Utc::now(),
        location: "l".into(),
        version: 1,
    };
    let rendered = render(&rt, "id", attrs.clone(), &meta);

    let simple = r#"userName eq "Test_User_ab6490ee@testuser.com""#;
    let complex = r#"userType eq "Employee" and (emails[type eq "work" and value co "@testuser.com"] or urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales") and not (active eq false)"#;
    c.bench_function("filter parse+eval userName eq", |b| {
        b.iter(|| matches(&parse_filter(black_box(simple)).unwrap(), &rendered, &rt))
    });
    c.bench_function("filter parse+eval complex", |b| {
        b.iter(|| matches(&parse_filter(black_box(complex)).unwrap(), &rendered, &rt))
    });
    let parsed = parse_filter(complex).unwrap();
    c.bench_function("filter eval complex (pre-parsed)", |b| {
        b.iter(|| matches(black_box(&parsed), &rendered, &rt))
    });

    let entra_patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@testuser.com"},
        {"op": "Replace", "path": "name.familyName", "value": "Smith"},
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Marketing"},
        {"op": "replace", "value": {"name.givenName": "Ann", "active": "False"}}
    ]});
    c.bench_function("patch parse+apply entra 4 ops", |b| {
        b.iter(|| {
            let req = PatchOp::from_value(black_box(&entra_patch)).unwrap();
            apply_patch(&rt, "id", &attrs, &req).unwrap()
        })
    });
    c.bench_function("normalize entra create body", |b| {
        b.iter(|| normalize(&rt, black_box(&user_doc())).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
