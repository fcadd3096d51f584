//! The SCIM API over real HTTP against the real binary, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::{Endpoint, Resp, SCIM, TestServer};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn entra_user(user_name: &str) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": uuid::Uuid::new_v4().to_string(),
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Adele Vance", "familyName": "Vance", "givenName": "Adele"},
        "roles": [],
        ENTERPRISE: {"department": "Sales"}
    })
}

fn ops(ops: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

async fn create_user(s: &TestServer, ep: &Endpoint, user_name: &str) -> String {
    let r = s
        .call(ep, "POST", "/Users", Some(entra_user(user_name)))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

/// The Entra lifecycle of identity-providers.md §1, with or without `?aadOptscim062020`.
async fn entra_lifecycle_for(s: &TestServer, flag: bool) {
    let ep = s.endpoint(if flag { "Contoso flag" } else { "Contoso" });
    let with_flag = |path: &str| {
        if flag {
            if path.contains('?') {
                format!("{path}&aadOptscim062020")
            } else {
                format!("{path}?aadOptscim062020")
            }
        } else {
            path.to_string()
        }
    };

    // Test Connection: a random GUID matches nothing → 200 with an empty list.
    let guid = uuid::Uuid::new_v4();
    let r = s
        .call(
            &ep,
            "GET",
            &with_flag(&format!("/Users?filter=userName+eq+%22{guid}%22")),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(SCIM));
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
    assert!(r.header("x-correlation-id").is_some());

    // Match, then create.
    let name = "Test_User_ab6490ee@testuser.com";
    let r = s
        .call(
            &ep,
            "GET",
            &with_flag(&format!("/Users?filter=userName+eq+%22{name}%22")),
            None,
        )
        .await;
    assert_eq!(r.body["totalResults"], 0);
    let r = s
        .call(&ep, "POST", &with_flag("/Users"), Some(entra_user(name)))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("location"),
        Some(format!("{}/Users/{id}", ep.url).as_str())
    );
    assert_eq!(r.body["meta"]["location"], format!("{}/Users/{id}", ep.url));
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert_eq!(r.header("etag"), r.body["meta"]["version"].as_str());
    let r = s
        .call(
            &ep,
            "GET",
            &with_flag(&format!(
                "/Users?filter=userName+eq+%22{}%22",
                name.to_uppercase()
            )),
            None,
        )
        .await;
    assert_eq!(
        r.body["totalResults"], 1,
        "userName matching is case-insensitive"
    );

    // Update: several operations at once, including a filtered path.
    let patch = if flag {
        ops(json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "adele@contoso.com"},
            {"op": "replace", "value": {"name.familyName": "Smith", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42"}},
            {"op": "add", "path": "displayName", "value": "Adele Smith"}
        ]))
    } else {
        ops(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "adele@contoso.com"},
            {"op": "Replace", "path": "name.familyName", "value": "Smith"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "42"},
            {"op": "Add", "path": "displayName", "value": "Adele Smith"}
        ]))
    };
    let r = s
        .call(
            &ep,
            "PATCH",
            &with_flag(&format!("/Users/{id}")),
            Some(patch),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["emails"],
        json!([{"primary": true, "type": "work", "value": "adele@contoso.com"}])
    );
    assert_eq!(r.body["name"]["familyName"], "Smith");
    assert_eq!(r.body[ENTERPRISE]["employeeNumber"], "42");
    assert_eq!(r.body[ENTERPRISE]["department"], "Sales");

    // Manager: set as a plain string, change, clear.
    let manager = create_user(s, &ep, "manager@contoso.com").await;
    let mpath = format!("{ENTERPRISE}:manager");
    let r = s
        .call(
            &ep,
            "PATCH",
            &with_flag(&format!("/Users/{id}")),
            Some(ops(json!([{"op": "add", "path": mpath, "value": manager}]))),
        )
        .await;
    assert_eq!(r.body[ENTERPRISE]["manager"], json!({"value": manager}));
    let r = s
        .call(
            &ep,
            "PATCH",
            &with_flag(&format!("/Users/{id}")),
            Some(ops(json!([{"op": "Replace", "path": mpath, "value": ""}]))),
        )
        .await;
    assert!(r.body[ENTERPRISE].get("manager").is_none(), "{:?}", r.body);

    // Disable: the two forms.
    let disable = if flag {
        json!({"op": "replace", "path": "active", "value": false})
    } else {
        json!({"op": "Replace", "path": "active", "value": "False"})
    };
    let r = s
        .call(
            &ep,
            "PATCH",
            &with_flag(&format!("/Users/{id}")),
            Some(ops(json!([disable]))),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["active"], false);
    // Disabled users stay readable (the validator reads after the PATCH).
    let r = s
        .call(&ep, "GET", &with_flag(&format!("/Users/{id}")), None)
        .await;
    assert_eq!(r.body["active"], false);
    let r = s
        .call(
            &ep,
            "GET",
            &with_flag("/Users?filter=active+eq+false"),
            None,
        )
        .await;
    assert_eq!(r.body["totalResults"], 1);

    // Groups: created empty, members added, read without members, members removed.
    let r = s.call(&ep, "POST", &with_flag("/Groups"), Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "g-ext-1", "displayName": "Sales Managers", "members": [], "meta": {"resourceType": "Group"}
    }))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let gid = r.body["id"].as_str().unwrap().to_string();
    let r = s.call(&ep, "PATCH", &with_flag(&format!("/Groups/{gid}")), Some(ops(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}, {"value": manager}]}])))).await;
    assert!(r.status == 200 || r.status == 204, "{:?}", r.body);
    let r = s
        .call(&ep, "GET", &with_flag(&format!("/Groups/{gid}")), None)
        .await;
    let members = r.body["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    let m = members.iter().find(|m| m["value"] == id.as_str()).unwrap();
    assert_eq!(m["display"], "Adele Smith");
    assert_eq!(m["$ref"], format!("{}/Users/{id}", ep.url));
    let r = s
        .call(
            &ep,
            "GET",
            &with_flag(&format!("/Groups/{gid}?excludedAttributes=members")),
            None,
        )
        .await;
    assert!(r.body.get("members").is_none());
    assert_eq!(r.body["displayName"], "Sales Managers");
    let r = s
        .call(
            &ep,
            "GET",
            &with_flag(
                "/Groups?excludedAttributes=members&filter=displayName+eq+%22Sales+Managers%22",
            ),
            None,
        )
        .await;
    assert_eq!(r.body["totalResults"], 1);
    assert!(r.body["Resources"][0].get("members").is_none());
    let remove = if flag {
        json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")})
    } else {
        json!({"op": "Remove", "path": "members", "value": [{"value": id}]})
    };
    let r = s
        .call(
            &ep,
            "PATCH",
            &with_flag(&format!("/Groups/{gid}")),
            Some(ops(json!([remove]))),
        )
        .await;
    assert!(r.status == 200 || r.status == 204);
    let r = s
        .call(&ep, "GET", &with_flag(&format!("/Groups/{gid}")), None)
        .await;
    assert_eq!(
        r.body["members"],
        json!([{"value": manager, "$ref": format!("{}/Users/{manager}", ep.url), "type": "User", "display": "manager@contoso.com"}])
    );

    // Delete: 204, then 404 with a SCIM error; the group loses the member.
    let r = s
        .call(
            &ep,
            "DELETE",
            &with_flag(&format!("/Users/{manager}")),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    s.call(&ep, "GET", &with_flag(&format!("/Users/{manager}")), None)
        .await
        .assert_error(404, None);
    let r = s
        .call(&ep, "GET", &with_flag(&format!("/Groups/{gid}")), None)
        .await;
    assert!(r.body.get("members").is_none(), "{:?}", r.body);
    // Restore: re-created after deletion under the same userName.
    create_user(s, &ep, "manager@contoso.com").await;
    let r = s
        .call(&ep, "DELETE", &with_flag(&format!("/Groups/{gid}")), None)
        .await;
    assert_eq!(r.status, 204);
}

async fn entra_lifecycle(s: TestServer) {
    entra_lifecycle_for(&s, false).await;
}

async fn entra_lifecycle_with_flag(s: TestServer) {
    entra_lifecycle_for(&s, true).await;
}

async fn okta_shapes(s: TestServer) {
    let ep = s.endpoint("Okta Co");
    // Okta's Test Connection.
    let r = s
        .call(&ep, "GET", "/Users?startIndex=1&count=2", None)
        .await;
    assert_eq!(r.status, 200);
    let id = create_user(&s, &ep, "okta.user@example.com").await;
    // PUT replaces the object; active stays as sent.
    let r = s.call(&ep, "PUT", &format!("/Users/{id}"), Some(json!({
        "schemas": [USER], "id": id, "userName": "okta.user@example.com", "active": true,
        "name": {"givenName": "Okta", "familyName": "User"}, "emails": [{"value": "okta.user@example.com", "primary": true, "type": "work"}]
    }))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["name"],
        json!({"givenName": "Okta", "familyName": "User"})
    );
    assert!(
        r.body.get(ENTERPRISE).is_none(),
        "PUT clears what it leaves out"
    );
    // Deactivate with a path-less replace.
    let r = s
        .call(
            &ep,
            "PATCH",
            &format!("/Users/{id}"),
            Some(ops(json!([{"op": "replace", "value": {"active": false}}]))),
        )
        .await;
    assert_eq!(r.body["active"], false);
    // Group Push: replace of all members.
    let u2 = create_user(&s, &ep, "second@example.com").await;
    let r = s.call(&ep, "POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Okta Push", "members": [{"value": id}]}))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);
    let gid = r.body["id"].as_str().unwrap().to_string();
    let r = s.call(&ep, "PATCH", &format!("/Groups/{gid}"), Some(ops(json!([{"op": "replace", "path": "members", "value": [{"value": u2, "display": "second"}]}])))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let members: Vec<&str> = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(members, [u2.as_str()]);
    // PUT of a group renames it and sets its members.
    let r = s.call(&ep, "PUT", &format!("/Groups/{gid}"), Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Okta Push 2", "members": [{"value": id}, {"value": u2}]}))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["displayName"], "Okta Push 2");
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
}

async fn pagination(s: TestServer) {
    let ep = s.endpoint("Paging");
    let mut ids = Vec::new();
    for i in 0..27 {
        ids.push(create_user(&s, &ep, &format!("user{i:02}@example.com")).await);
    }
    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let r = s
            .call(
                &ep,
                "GET",
                &format!("/Users?startIndex={start}&count=5"),
                None,
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["totalResults"], 27);
        assert_eq!(r.body["startIndex"], start);
        let page = r.body["Resources"].as_array().unwrap();
        assert_eq!(r.body["itemsPerPage"], page.len());
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        start += 5;
    }
    assert_eq!(seen, ids, "every user exactly once, in creation order");
    // count=0: only the total.
    let r = s.call(&ep, "GET", "/Users?count=0", None).await;
    assert_eq!(
        (
            r.body["totalResults"].as_u64(),
            r.body["Resources"].as_array().map(Vec::len)
        ),
        (Some(27), Some(0))
    );
    // Absurd count is clamped; startIndex below 1 is read as 1.
    let r = s
        .call(&ep, "GET", "/Users?count=99999999&startIndex=-4", None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["startIndex"], 1);
    assert_eq!(r.body["Resources"].as_array().unwrap().len(), 27);
    // Sorting, in SQL (userName) and in memory (name.givenName), both directions.
    let r = s
        .call(
            &ep,
            "GET",
            "/Users?sortBy=userName&sortOrder=descending&count=3",
            None,
        )
        .await;
    let names: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "user26@example.com",
            "user25@example.com",
            "user24@example.com"
        ]
    );
    let r = s
        .call(
            &ep,
            "GET",
            "/Users?sortBy=emails.value&count=2&startIndex=2",
            None,
        )
        .await;
    let names: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["user01@example.com", "user02@example.com"]);
    // Non-indexed filter evaluated in memory, with paging still right.
    let r = s
        .call(
            &ep,
            "GET",
            "/Users?filter=emails.value+co+%22user1%22&count=4&startIndex=3",
            None,
        )
        .await;
    assert_eq!(r.body["totalResults"], 10);
    assert_eq!(r.body["Resources"].as_array().unwrap().len(), 4);
    // Projection on lists.
    let r = s
        .call(&ep, "GET", "/Users?attributes=userName&count=1", None)
        .await;
    let first = &r.body["Resources"][0];
    assert!(
        first.get("userName").is_some()
            && first.get("id").is_some()
            && first.get("emails").is_none()
    );
    // POST /.search, per type and at the root.
    let r = s.call(&ep, "POST", "/Users/.search", Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName sw \"user0\"", "startIndex": 1, "count": 20}))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["totalResults"], 10);
    let r = s
        .call(
            &ep,
            "POST",
            "/.search",
            Some(json!({"filter": "userName eq \"user05@example.com\""})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["totalResults"], 1);
    // The lookup by userName (answered by the unique index) pages and projects like any list.
    let lookup = |query: &str| {
        format!(
            "/Users?filter=urn%3Aietf%3Aparams%3Ascim%3Aschemas%3Acore%3A2.0%3AUser%3AuserName+eq+%22USER07%40example.com%22{query}"
        )
    };
    let shape = |r: &Resp| {
        (
            r.status,
            r.body["totalResults"].as_u64(),
            r.body["startIndex"].as_u64(),
            r.body["Resources"].as_array().map(Vec::len),
        )
    };
    let r = s
        .call(&ep, "GET", &lookup("&attributes=userName"), None)
        .await;
    assert_eq!(shape(&r), (200, Some(1), Some(1), Some(1)));
    assert_eq!(r.body["Resources"][0]["id"], ids[7].as_str());
    assert_eq!(r.body["Resources"][0]["userName"], "user07@example.com");
    assert!(r.body["Resources"][0].get("emails").is_none());
    let r = s.call(&ep, "GET", &lookup("&startIndex=2"), None).await;
    assert_eq!(shape(&r), (200, Some(1), Some(2), Some(0)));
    let r = s.call(&ep, "GET", &lookup("&count=0"), None).await;
    assert_eq!(shape(&r), (200, Some(1), Some(1), Some(0)));
}

async fn isolation(s: TestServer) {
    let a = s.endpoint("Tenant A");
    let b = s.endpoint("Tenant B");
    let ua = create_user(&s, &a, "shared@example.com").await;
    // The same userName is free in another integration.
    let ub = create_user(&s, &b, "shared@example.com").await;
    // B cannot see, change or delete A's user.
    s.call(&b, "GET", &format!("/Users/{ua}"), None)
        .await
        .assert_error(404, None);
    s.call(
        &b,
        "PATCH",
        &format!("/Users/{ua}"),
        Some(ops(
            json!([{"op": "replace", "path": "active", "value": false}]),
        )),
    )
    .await
    .assert_error(404, None);
    s.call(&b, "DELETE", &format!("/Users/{ua}"), None)
        .await
        .assert_error(404, None);
    let r = s.call(&b, "GET", "/Users", None).await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], ub.as_str());
    // A's token on B's URL: the same 401 as an unknown token.
    let r = s
        .call_with(&b.url, Some(&a.token), "GET", "/Users", None)
        .await;
    r.assert_error(401, None);
    let unknown = s
        .call_with(&b.url, Some("scb_unknown"), "GET", "/Users", None)
        .await;
    assert_eq!(r.body, unknown.body);
    // A group in B cannot take A's user as a member.
    let r = s
        .call(
            &b,
            "POST",
            "/Groups",
            Some(json!({"displayName": "G", "members": [{"value": ua}]})),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    let r = s.call(&a, "GET", &format!("/Users/{ua}"), None).await;
    assert_eq!(r.status, 200);
}

async fn auth_failures(s: TestServer) {
    let ep = s.endpoint("Auth");
    for (token, header) in [
        (None, None),
        (Some("not-the-token"), None),
        (None, Some("Basic Zm9vOmJhcg==")),
    ] {
        let mut rb = s.http.get(format!("{}/Users", ep.url));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(h) = header {
            rb = rb.header("authorization", h);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers().get("www-authenticate").unwrap(),
            "Bearer realm=\"scimbridge\""
        );
        assert_eq!(r.headers().get("content-type").unwrap(), SCIM);
    }
    // Rotation: a second token works alongside the first; revoking the first leaves the second.
    let second = s.cli(&["token", "issue", "--integration", &ep.id]);
    let t2 = second["token"].as_str().unwrap();
    assert_eq!(
        s.call_with(&ep.url, Some(t2), "GET", "/Users", None)
            .await
            .status,
        200
    );
    assert_eq!(s.call(&ep, "GET", "/Users", None).await.status, 200);
    s.cli(&[
        "token",
        "revoke",
        "--integration",
        &ep.id,
        "--prefix",
        &ep.prefix,
    ]);
    // Another process revoked it: the server's cache lets it live at most a few seconds.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    s.call(&ep, "GET", "/Users", None)
        .await
        .assert_error(401, None);
    assert_eq!(
        s.call_with(&ep.url, Some(t2), "GET", "/Users", None)
            .await
            .status,
        200
    );
    // Expired token.
    let expired = s.cli(&[
        "token",
        "issue",
        "--integration",
        &ep.id,
        "--expires-in-days",
        "0",
    ]);
    s.call_with(&ep.url, expired["token"].as_str(), "GET", "/Users", None)
        .await
        .assert_error(401, None);
    // Unknown integration id.
    s.call_with(
        &format!("{}/scim/v2/{}", s.base, uuid::Uuid::new_v4()),
        Some(t2),
        "GET",
        "/Users",
        None,
    )
    .await
    .assert_error(401, None);
}

async fn bad_input(s: TestServer) {
    let ep = s.endpoint("Bad input");
    let raw = |body: &'static str| {
        let req = s
            .http
            .post(format!("{}/Users", ep.url))
            .bearer_auth(&ep.token)
            .header("content-type", "application/json")
            .body(body);
        async move { common_resp(req.send().await.unwrap()).await }
    };
    let (st, b) = raw("{not json").await;
    assert_eq!((st, b["scimType"].as_str()), (400, Some("invalidSyntax")));
    let (st, b) = raw("").await;
    assert_eq!((st, b["scimType"].as_str()), (400, Some("invalidSyntax")));
    s.call(&ep, "POST", "/Users", Some(json!({"userName": 42})))
        .await
        .assert_error(400, Some("invalidValue"));
    s.call(
        &ep,
        "POST",
        "/Users",
        Some(json!({"displayName": "no userName"})),
    )
    .await
    .assert_error(400, Some("invalidValue"));
    s.call(
        &ep,
        "POST",
        "/Users",
        Some(json!({"userName": "x@y", "active": "perhaps"})),
    )
    .await
    .assert_error(400, Some("invalidValue"));
    s.call(&ep, "GET", "/Users?filter=shoeSize+eq+%2242%22", None)
        .await
        .assert_error(400, Some("invalidFilter"));
    s.call(&ep, "GET", "/Users?filter=userName+eq", None)
        .await
        .assert_error(400, Some("invalidFilter"));
    s.call(&ep, "GET", "/Users?count=abc", None)
        .await
        .assert_error(400, Some("invalidValue"));
    s.call(&ep, "GET", "/Users?sortOrder=sideways", None)
        .await
        .assert_error(400, Some("invalidValue"));
    // Oversized body.
    let big = json!({"userName": "big@example.com", "displayName": "x".repeat(1_100_000)});
    s.call(&ep, "POST", "/Users", Some(big))
        .await
        .assert_error(413, None);
    // Duplicate userName, case-insensitive.
    create_user(&s, &ep, "dup@example.com").await;
    s.call(&ep, "POST", "/Users", Some(entra_user("DUP@example.com")))
        .await
        .assert_error(409, Some("uniqueness"));
    // Renaming onto a taken userName is a conflict too, and changes nothing.
    let other = create_user(&s, &ep, "other@example.com").await;
    s.call(
        &ep,
        "PATCH",
        &format!("/Users/{other}"),
        Some(ops(
            json!([{"op": "replace", "path": "userName", "value": "Dup@Example.com"}]),
        )),
    )
    .await
    .assert_error(409, Some("uniqueness"));
    assert_eq!(
        s.call(&ep, "GET", &format!("/Users/{other}"), None)
            .await
            .body["userName"],
        "other@example.com"
    );
    // PATCH errors leave the resource untouched.
    let r = s.call(&ep, "PATCH", &format!("/Users/{other}"), Some(ops(json!([{"op": "replace", "path": "displayName", "value": "changed"}, {"op": "replace", "path": "nope", "value": 1}])))).await;
    r.assert_error(400, Some("invalidPath"));
    assert!(
        s.call(&ep, "GET", &format!("/Users/{other}"), None)
            .await
            .body
            .get("displayName")
            .is_none()
    );
    // ETags: a stale If-Match is 412; the current one works.
    let current = s.call(&ep, "GET", &format!("/Users/{other}"), None).await;
    let etag = current.header("etag").unwrap().to_string();
    let stale = s
        .http
        .patch(format!("{}/Users/{other}", ep.url))
        .bearer_auth(&ep.token)
        .header("if-match", "W/\"999\"")
        .header("content-type", SCIM)
        .body(ops(json!([{"op": "replace", "path": "title", "value": "T"}])).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let fresh = s
        .http
        .patch(format!("{}/Users/{other}", ep.url))
        .bearer_auth(&ep.token)
        .header("if-match", etag)
        .header("content-type", SCIM)
        .body(ops(json!([{"op": "replace", "path": "title", "value": "T"}])).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    // Unknown ids and paths, and writes to discovery endpoints.
    s.call(
        &ep,
        "GET",
        &format!("/Users/{}", uuid::Uuid::new_v4()),
        None,
    )
    .await
    .assert_error(404, None);
    s.call(&ep, "GET", "/Widgets", None)
        .await
        .assert_error(404, None);
    s.call(&ep, "POST", "/Schemas", Some(json!({})))
        .await
        .assert_error(405, None);
    s.call(&ep, "DELETE", "/ServiceProviderConfig", None)
        .await
        .assert_error(405, None);
}

async fn common_resp(r: reqwest::Response) -> (u16, Value) {
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn concurrent_duplicate_posts(s: TestServer) {
    let ep = s.endpoint("Race");
    for round in 0..5 {
        let name = format!("race{round}@example.com");
        let (a, b) = tokio::join!(
            s.call(&ep, "POST", "/Users", Some(entra_user(&name))),
            s.call(&ep, "POST", "/Users", Some(entra_user(&name)))
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [201, 409],
            "round {round}: {:?} {:?}",
            a.body,
            b.body
        );
    }
    let r = s.call(&ep, "GET", "/Users?count=0", None).await;
    assert_eq!(r.body["totalResults"], 5);
}

async fn discovery(s: TestServer) {
    let ep = s.endpoint("Discovery");
    let r = s
        .call(&ep, "GET", "/ServiceProviderConfig?aadOptscim062020", None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["bulk"]["supported"], false);
    assert_eq!(r.body["filter"]["supported"], true);
    assert_eq!(r.body["etag"]["supported"], true);
    assert_eq!(r.body["sort"]["supported"], true);
    let r = s.call(&ep, "GET", "/ResourceTypes", None).await;
    assert_eq!(r.body["totalResults"], 2);
    let r = s.call(&ep, "GET", "/ResourceTypes/User", None).await;
    assert_eq!(r.body["schemaExtensions"][0]["schema"], ENTERPRISE);
    let r = s.call(&ep, "GET", "/Schemas", None).await;
    let ids: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            USER,
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            ENTERPRISE
        ]
    );
    let r = s.call(&ep, "GET", &format!("/Schemas/{USER}"), None).await;
    let user_name = r.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "userName")
        .unwrap();
    assert_eq!(
        (
            user_name["required"].as_bool(),
            user_name["uniqueness"].as_str()
        ),
        (Some(true), Some("server"))
    );
    s.call(&ep, "GET", "/Schemas/urn:nope", None)
        .await
        .assert_error(404, None);
}

async fn cli_errors(s: TestServer) {
    let err = s.cli_fails(&[
        "integration",
        "create",
        "--tenant",
        "nope",
        "--name",
        "x",
        "--connector",
        "activecampaign",
    ]);
    assert!(err.contains("no tenant"), "{err}");
    let t = s.cli(&["tenant", "create", "--name", "T"]);
    let tid = t["id"].as_str().unwrap();
    let err = s.cli_fails(&[
        "integration",
        "create",
        "--tenant",
        tid,
        "--name",
        "x",
        "--connector",
        "activecampaign",
    ]);
    assert!(err.contains("base_url"), "{err}");
    let err = s.cli_fails(&[
        "integration",
        "create",
        "--tenant",
        tid,
        "--name",
        "x",
        "--connector",
        "nosuch",
    ]);
    assert!(err.contains("unknown connector"), "{err}");
}

async fn events_are_recorded_and_redacted(s: TestServer) {
    let ep = s.endpoint("Redaction");
    let mut body = entra_user("secretive@example.com");
    body["password"] = json!("Sup3r-Secret-Pw!");
    let r = s.call(&ep, "POST", "/Users", Some(body)).await;
    assert_eq!(r.status, 201);
    assert!(
        r.body.get("password").is_none(),
        "passwords are never returned"
    );
    let correlation = r.header("x-correlation-id").unwrap().to_string();
    let id = r.body["id"].as_str().unwrap().to_string();
    s.call(
        &ep,
        "PATCH",
        &format!("/Users/{id}"),
        Some(ops(
            json!([{"op": "replace", "path": "password", "value": "An0ther-Secret!"}]),
        )),
    )
    .await;
    s.call(&ep, "GET", &format!("/Users/{id}"), None).await;
    // Events are written in batches: wait for them.
    let st = s.store().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let events = loop {
        let ev = st
            .list_events(&store::EventQuery {
                integration_id: Some(ep.id.clone()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        if ev
            .iter()
            .filter(|e| e.direction == store::Direction::Inbound)
            .count()
            >= 3
            || std::time::Instant::now() > deadline
        {
            break ev;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let post = events
        .iter()
        .find(|e| e.operation == "POST /Users")
        .expect("the POST is logged");
    assert_eq!(
        post.correlation_id, correlation,
        "the response header names the event"
    );
    assert_eq!(post.subject_name.as_deref(), Some("secretive@example.com"));
    assert_eq!(post.http_status, Some(201));
    let all = serde_json::to_string(&events).unwrap();
    for secret in [
        "Sup3r-Secret-Pw!",
        "An0ther-Secret!",
        ep.token.as_str(),
        "sk-test-123",
    ] {
        assert!(
            !all.contains(secret),
            "a secret reached the provisioning log"
        );
    }
    assert!(all.contains("[redacted]"));
}

on_both_backends!(
    events_are_recorded_and_redacted,
    entra_lifecycle,
    entra_lifecycle_with_flag,
    okta_shapes,
    pagination,
    isolation,
    auth_failures,
    bad_input,
    concurrent_duplicate_posts,
    discovery,
    cli_errors
);
