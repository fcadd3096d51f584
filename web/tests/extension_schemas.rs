//! Per-integration extension schemas over real HTTP, on SQLite and PostgreSQL: registered with
//! `scimbridge integration create --extension-schema`, they shape that integration's Users
//! (string booleans, filters, projection) and discovery, and no other integration's.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::TestServer;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const AT: &str = "urn:ietf:params:scim:schemas:extension:activtrak:2.0:User";
const AP: &str = "urn:ietf:params:scim:schemas:activepieces:1.0:CustomUserAttributes";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn activtrak() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": AT,
        "name": "ActivTrakUser",
        "description": "ActivTrak user extension",
        "attributes": [
            {"name": "userPrincipalNames", "type": "string", "multiValued": true,
             "description": "The user's UPNs.", "required": false, "caseExact": false,
             "mutability": "readWrite", "returned": "default", "uniqueness": "none"},
            {"name": "tracking", "type": "boolean", "multiValued": false,
             "description": "Whether ActivTrak tracks the user.", "required": false,
             "caseExact": false, "mutability": "readWrite", "returned": "default",
             "uniqueness": "none"}
        ]
    })
}

fn activepieces() -> Value {
    json!({
        "id": AP,
        "name": "CustomUserAttributes",
        "description": "Activepieces custom user attributes",
        "attributes": [
            {"name": "platformRole", "type": "string", "multiValued": false,
             "description": "Platform role.", "required": false, "caseExact": false,
             "mutability": "readWrite", "returned": "default", "uniqueness": "none",
             "canonicalValues": ["ADMIN", "MEMBER", "OPERATOR"]}
        ]
    })
}

fn write(dir: &std::path::Path, name: &str, v: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, v.to_string()).unwrap();
    path.display().to_string()
}

fn schema_ids(body: &Value) -> Vec<String> {
    body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

async fn extension_attributes_per_integration(s: TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let (at, ap) = (
        write(dir.path(), "activtrak.json", &activtrak()),
        write(dir.path(), "activepieces.json", &activepieces()),
    );
    let ep = s.endpoint_with(
        "Extended",
        &[
            "--setting",
            "base_url=https://acme.api-us1.com/api/3",
            "--secret",
            "api_key=sk-test-123",
            "--mode",
            "dry-run",
            "--extension-schema",
            &at,
            "--extension-schema",
            &ap,
        ],
    );
    let plain = s.endpoint("Plain");

    // Entra's shape: the custom URN left out of `schemas[]`, the boolean as "False".
    let body = json!({
        "schemas": [USER],
        "userName": "adele@contoso.com",
        "active": true,
        AT: {"tracking": "False", "userPrincipalNames": ["adele@contoso.com"]},
        AP: {"platformRole": "ADMIN"}
    });
    let r = s.call(&ep, "POST", "/Users", Some(body.clone())).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = s.call(&ep, "GET", &format!("/Users/{id}"), None).await;
    assert_eq!(r.body[AT]["tracking"], json!(false), "{:?}", r.body);
    assert_eq!(r.body[AP]["platformRole"], "ADMIN");
    assert!(
        r.body["schemas"].as_array().unwrap().contains(&json!(AT)),
        "{:?}",
        r.body["schemas"]
    );
    // The integration without the schema keeps the string, as before.
    let r = s.call(&plain, "POST", "/Users", Some(body)).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body[AT]["tracking"], "False");

    // A wrong value for a registered type is refused, naming the attribute.
    let r = s
        .call(
            &ep,
            "POST",
            "/Users",
            Some(json!({"userName": "bad@contoso.com", AT: {"tracking": "sometimes"}})),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().unwrap().contains("tracking"));

    // Filters on the extension attribute validate and match; projection keeps it.
    let filter = |f: &str| {
        format!(
            "/Users?filter={}&attributes={AP}:platformRole",
            urlencode(f)
        )
    };
    let r = s
        .call(
            &ep,
            "GET",
            &filter(&format!("{AP}:platformRole eq \"ADMIN\"")),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["totalResults"], 1);
    let found = &r.body["Resources"][0];
    assert_eq!(found[AP]["platformRole"], "ADMIN");
    assert!(found.get(AT).is_none(), "projected away: {found:?}");
    let r = s
        .call(&ep, "GET", &filter(&format!("{AT}:tracking eq true")), None)
        .await;
    assert_eq!(r.body["totalResults"], 0);
    // The other integration does not know the attribute.
    s.call(
        &plain,
        "GET",
        &filter(&format!("{AT}:tracking eq true")),
        None,
    )
    .await
    .assert_error(400, Some("invalidFilter"));

    // PATCH with Entra's capitals and string boolean; ActivTrak's `[value eq null]` replace.
    let r = s
        .call(
            &ep,
            "PATCH",
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": [
                {"op": "Replace", "path": format!("{AT}:tracking"), "value": "True"},
                {"op": "Replace", "path": format!("{AT}:userPrincipalNames[value eq null].value"),
                 "value": "adele.vance@contoso.com"}
            ]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body[AT]["tracking"], json!(true));
    assert_eq!(
        r.body[AT]["userPrincipalNames"],
        json!(["adele.vance@contoso.com"])
    );

    // PUT normalises the same way.
    let r = s
        .call(
            &ep,
            "PUT",
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [USER],
                "userName": "adele@contoso.com",
                AT: {"tracking": "False"},
                AP: {"platformRole": "OPERATOR"}
            })),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body[AT]["tracking"], json!(false));
    assert_eq!(r.body[AP]["platformRole"], "OPERATOR");

    // Discovery: this integration serves both schemas, the other neither.
    let r = s.call(&ep, "GET", "/Schemas", None).await;
    let ids = schema_ids(&r.body);
    assert!(
        ids.contains(&AT.to_string()) && ids.contains(&AP.to_string()),
        "{ids:?}"
    );
    let r = s.call(&ep, "GET", &format!("/Schemas/{AT}"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["attributes"],
        activtrak()["attributes"],
        "round trip"
    );
    let r = s.call(&ep, "GET", "/ResourceTypes/User", None).await;
    let ext: Vec<&Value> = r.body["schemaExtensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["schema"])
        .collect();
    assert!(
        ext.contains(&&json!(AT)) && ext.contains(&&json!(AP)),
        "{ext:?}"
    );
    let r = s.call(&plain, "GET", "/Schemas", None).await;
    let ids = schema_ids(&r.body);
    assert!(!ids.iter().any(|i| i == AT || i == AP), "{ids:?}");
    s.call(&plain, "GET", &format!("/Schemas/{AP}"), None)
        .await
        .assert_error(404, None);

    // A change in the database shows within the auth cache period (5 s).
    let st = s.store().await;
    st.set_integration_extension_schemas(&ep.tenant, &ep.id, &[])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let r = s.call(&ep, "GET", "/Schemas", None).await;
        if !schema_ids(&r.body).contains(&AT.to_string()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old schemas are still served"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn cli_extension_schema_option(s: TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let t = s.cli(&["tenant", "create", "--name", "CLI"]);
    let tid = t["id"].as_str().unwrap();
    let create = |file: &str| {
        vec![
            "integration".to_string(),
            "create".into(),
            "--tenant".into(),
            tid.into(),
            "--name".into(),
            "x".into(),
            "--connector".into(),
            "activecampaign".into(),
            "--setting".into(),
            "base_url=https://acme.api-us1.com/api/3".into(),
            "--secret".into(),
            "api_key=sk".into(),
            "--extension-schema".into(),
            file.into(),
        ]
    };
    let run_fail = |file: &str| {
        let args = create(file);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        s.cli_fails(&args)
    };
    let mut reserved = activtrak();
    reserved["id"] = json!(USER);
    let mut bad_type = activtrak();
    bad_type["attributes"][1]["type"] = json!("bool");
    for (file, needle) in [
        (write(dir.path(), "reserved.json", &reserved), "reserved"),
        (
            write(dir.path(), "type.json", &bad_type),
            "unknown type 'bool'",
        ),
        (
            {
                let p = dir.path().join("broken.json");
                std::fs::write(&p, "{not json").unwrap();
                p.display().to_string()
            },
            "not valid JSON",
        ),
        (
            dir.path().join("missing.json").display().to_string(),
            "--extension-schema",
        ),
    ] {
        let err = run_fail(&file);
        assert!(err.contains(needle), "{file}: {err}");
        assert!(err.contains(&file), "names the file: {err}");
    }
    // Nothing was created by the failed commands.
    let st = s.store().await;
    assert!(st.list_integrations(tid).await.unwrap().is_empty());

    let good = write(dir.path(), "activepieces.json", &activepieces());
    let args = create(&good);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = s.cli(&args);
    let created = st
        .get_integration(tid, out["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.extension_schemas.len(), 1);
    assert_eq!(created.extension_schemas[0].id, AP);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

on_both_backends!(
    extension_attributes_per_integration,
    cli_extension_schema_option
);
