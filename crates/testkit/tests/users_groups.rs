//! Resource behaviour of the fake ActiveCampaign: users, groups, userGroups,
//! shapes, 422s, not-found forms, auth.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::{Api, TOKEN, is_ac_timestamp, keys, unlimited_fake};
use serde_json::{Value, json};
use testkit::fake_activecampaign::{
    AccountConfig, AuthFailureBody, FakeActiveCampaign, FakeConfig, FakeError, Quirks, SeedUser,
    UsernameChange,
};

fn new_user(username: &str, email: &str, group: Value) -> Value {
    json!({ "user": {
        "username": username, "email": email, "firstName": "John", "lastName": "Doe",
        "group": group, "password": "s3cret-Pa55"
    }})
}

const USER_KEYS: &[&str] = &[
    "username",
    "firstName",
    "lastName",
    "email",
    "phone",
    "signature",
    "localZoneid",
    "password_updated_utc_timestamp",
    "cdate",
    "udate",
    "mfaEnabled",
    "links",
    "id",
];

const USER_LINK_KEYS: &[&str] = &[
    "lists",
    "userGroup",
    "dealGroupTotals",
    "dealGroupUsers",
    "configs",
    "dealConnection",
    "userConversationsPermission",
    "seatUser",
];

#[tokio::test]
async fn create_get_update_delete_user_with_recorded_shapes() {
    let fake = unlimited_fake().await;
    let api = Api::new(&fake, TOKEN);
    let state = fake.account_state("acme").unwrap();
    let manager = state.group_by_title("Manager").unwrap().id.clone();
    let user_group = state.group_by_title("User").unwrap().id.clone();
    assert_eq!(manager, "4");

    // Create: 201, docs/recording shape, group accepted as a string.
    let r = api
        .post(
            "/users",
            new_user("jdoe", "jdoe@example.com", json!(manager)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let u = &r.json["user"];
    assert_eq!(
        keys(u),
        [
            "username",
            "email",
            "firstName",
            "lastName",
            "lang",
            "localZoneid",
            "cdate",
            "udate",
            "links",
            "id"
        ]
    );
    assert_eq!(u["id"], "2", "owner is 1, so the first created user is 2");
    assert_eq!(u["lang"], "english");
    assert!(is_ac_timestamp(&u["cdate"]), "{}", u["cdate"]);
    assert_eq!(u["cdate"], u["udate"]);
    assert_eq!(keys(&u["links"]), USER_LINK_KEYS);
    assert_eq!(
        u["links"]["userGroup"],
        format!("{}/users/2/userGroup", fake.base_url())
    );

    // Create with an integer group (docs form).
    let r = api
        .post("/users", new_user("asmith", "asmith@example.com", json!(5)))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["user"]["id"], "3");

    // Get: recorded GET shape — no lang, no group, null signature, "0" mfa.
    let r = api.get("/users/2").await;
    assert_eq!(r.status, 200);
    let u = &r.json["user"];
    assert_eq!(keys(u), USER_KEYS);
    assert_eq!(u["phone"], "");
    assert_eq!(u["signature"], Value::Null);
    assert_eq!(u["password_updated_utc_timestamp"], Value::Null);
    assert_eq!(u["mfaEnabled"], "0");
    assert_eq!(u["email"], "jdoe@example.com");

    // By email (percent-encoded, case-insensitive) and by username.
    let r = api.get("/users/email/JDoe%40Example.com").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["user"]["id"], "2");
    let r = api.get("/users/email/asmith@example.com").await;
    assert_eq!(r.json["user"]["id"], "3");
    let r = api.get("/users/username/jdoe").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["user"]["id"], "2");

    // The role: GET /users/{id}/userGroup → the link record.
    let r = api.get("/users/2/userGroup").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let link = &r.json["userGroup"];
    assert_eq!(link["groupid"], manager);
    assert_eq!(link["userid"], "2");
    assert_eq!(link["group"], manager);
    assert_eq!(link["user"], "2");

    // Update (change role + names): the recorded triple.
    let r = api
        .put(
            "/users/2",
            json!({ "user": { "firstName": "Jane", "lastName": "Roe", "group": user_group } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        keys(&r.json),
        ["userGroups", "userConversationsPermissions", "user"]
    );
    let link = &r.json["userGroups"][0];
    assert_eq!(
        keys(link),
        [
            "userid", "groupid", "cdate", "udate", "links", "id", "group", "user"
        ]
    );
    assert_eq!(link["groupid"], user_group);
    let link_id = link["id"].as_str().unwrap().to_owned();
    let perm = &r.json["userConversationsPermissions"][0];
    assert_eq!(perm["user"], "2");
    assert_eq!(perm["permission"], "0");
    let u = &r.json["user"];
    assert_eq!(u["firstName"], "Jane");
    assert_eq!(u["lastName"], "Roe");
    assert_eq!(
        u["userGroup"], link_id,
        "userGroup is the link id, not the group id"
    );
    assert_eq!(u["userConversationsPermission"], perm["id"]);
    assert!(u.get("lang").is_none());

    let snap = fake.account_state("acme").unwrap();
    let jane = snap.user("2").unwrap();
    assert_eq!(jane.group_id.as_deref(), Some(user_group.as_str()));
    assert_eq!(jane.first_name, "Jane");
    assert_eq!(snap.user_groups.len(), 3);

    // Password and email change.
    let r = api
        .put(
            "/users/2",
            json!({ "user": { "email": "jane@example.com", "password": "new-pass", "group": 4 } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let snap = fake.account_state("acme").unwrap();
    assert_eq!(snap.user("2").unwrap().password, "new-pass");
    assert_eq!(snap.user("2").unwrap().email, "jane@example.com");

    // List + pagination, meta.total as a string.
    let r = api.get("/users").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["meta"]["total"], "3");
    assert_eq!(r.json["users"].as_array().unwrap().len(), 3);
    assert_eq!(keys(&r.json["users"][0]), USER_KEYS);
    let r = api.get("/users?limit=1&offset=1").await;
    assert_eq!(r.json["meta"]["total"], "3");
    let page = r.json["users"].as_array().unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["id"], "2");
    let r = api.get("/users?limit=100&offset=3").await;
    assert_eq!(r.json["users"].as_array().unwrap().len(), 0);
    assert_eq!(r.json["meta"]["total"], "3");

    // Delete: 200 {} then the recorded not-found message.
    let r = api.delete("/users/2").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({}));
    let r = api.get("/users/2").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json,
        json!({ "message": "No Result found for User with id 2" })
    );
    let r = api.delete("/users/2").await;
    assert_eq!(r.status, 404);
    let snap = fake.account_state("acme").unwrap();
    assert!(snap.user("2").is_none());
    assert!(snap.user_groups.iter().all(|l| l.user_id != "2"));

    // Ids are never reused.
    let r = api
        .post("/users", new_user("again", "again@example.com", json!(4)))
        .await;
    assert_eq!(r.json["user"]["id"], "4");
    fake.stop().await;
}

#[tokio::test]
async fn users_me_is_the_key_owner_for_every_key_of_the_account() {
    let fake = FakeActiveCampaign::start(FakeConfig {
        accounts: vec![
            AccountConfig::new("a", "key-a1").token("key-a2"),
            AccountConfig::new("b", "key-b"),
        ],
        ..FakeConfig::default()
    })
    .await;
    let a1 = Api::new(&fake, "key-a1");
    let a2 = Api::new(&fake, "key-a2");
    let b = Api::new(&fake, "key-b");
    for api in [&a1, &a2] {
        let r = api.get("/users/me").await;
        assert_eq!(r.status, 200);
        let u = &r.json["user"];
        assert_eq!(keys(u), USER_KEYS);
        assert_eq!(u["id"], "1");
        assert_eq!(u["username"], "admin");
        assert_eq!(u["cdate"], Value::Null, "owner has null dates");
        assert_eq!(u["signature"], "");
        assert_eq!(u["password_updated_utc_timestamp"], "0000-00-00 00:00:00");
    }
    let r = a1.get("/users/1/userGroup").await;
    assert_eq!(r.json["userGroup"]["groupid"], "3", "owner is in Admin");

    // Accounts are isolated.
    let r = a1
        .post("/users", new_user("x", "x@example.com", json!(3)))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(b.get("/users").await.json["meta"]["total"], "1");
    assert_eq!(a2.get("/users").await.json["meta"]["total"], "2");
    assert_eq!(b.get("/users/email/x@example.com").await.status, 404);
    fake.stop().await;
}

#[tokio::test]
async fn validation_errors_use_the_recorded_422_shapes() {
    let fake = unlimited_fake().await;
    let api = Api::new(&fake, TOKEN);

    // Everything missing → one field_missing per required field; group uses the
    // recorded message.
    let r = api.post("/users", json!({ "user": {} })).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let errors = r.json["errors"].as_array().unwrap();
    let pointers: Vec<&str> = errors
        .iter()
        .map(|e| e["source"]["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        [
            "/data/attributes/username",
            "/data/attributes/email",
            "/data/attributes/group",
            "/data/attributes/password"
        ]
    );
    assert!(errors.iter().all(|e| e["code"] == "field_missing"));
    assert_eq!(errors[0]["title"], "The field username was not provided.");
    assert_eq!(errors[0]["detail"], "");
    assert_eq!(errors[2]["title"], "The user group was not provided.");

    // Empty strings count as missing.
    let r = api
        .post("/users", new_user("", "e@example.com", json!("4")))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json["errors"][0]["source"]["pointer"],
        "/data/attributes/username"
    );

    assert_eq!(
        api.post("/users", new_user("jdoe", "jdoe@example.com", json!(4)))
            .await
            .status,
        201
    );
    // Duplicate email (case-insensitive) and username.
    let r = api
        .post("/users", new_user("other", "JDOE@example.com", json!(4)))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json,
        json!({ "errors": [{
            "title": "Email address already exists in the system",
            "detail": "",
            "code": "duplicate",
            "source": { "pointer": "/data/attributes/email" }
        }] })
    );
    let r = api
        .post("/users", new_user("JDoe", "new@example.com", json!(4)))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json["errors"][0]["code"], "duplicate");
    assert_eq!(
        r.json["errors"][0]["source"]["pointer"],
        "/data/attributes/username"
    );

    // Unknown group → related_missing.
    let r = api
        .post("/users", new_user("new", "new@example.com", json!(999)))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json["errors"][0]["code"], "related_missing");
    assert_eq!(
        r.json["errors"][0]["source"]["pointer"],
        "/data/attributes/group"
    );

    // Invalid email.
    let r = api
        .post("/users", new_user("new", "not-an-email", json!(4)))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json["errors"][0]["code"], "field_invalid");

    // PUT without group → exactly the recorded body.
    let r = api
        .put(
            "/users/2",
            json!({ "user": { "firstName": "Mika", "lastName": "Hel", "email": "mika@hel.de" } }),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.text,
        r#"{"errors":[{"title":"The user group was not provided.","detail":"","code":"field_missing","error":"user_group_was_not_provided","source":{"pointer":"/data/attributes/group"}}]}"#
    );
    // Nothing was changed by the rejected PUT.
    assert_eq!(
        fake.account_state("acme").unwrap().user("2").unwrap().email,
        "jdoe@example.com"
    );

    // PUT to an email owned by someone else.
    let r = api
        .put(
            "/users/2",
            json!({ "user": { "email": "owner@example.com", "group": 4 } }),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json["errors"][0]["code"], "duplicate");

    // Username change is allowed by default (recording: hokus → mikahel).
    let r = api
        .put(
            "/users/2",
            json!({ "user": { "username": "mikahel", "group": "4" } }),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["user"]["username"], "mikahel");

    // Malformed JSON → the declared bare 400 {}.
    let r = api.send("POST", "/users", None).await;
    assert_eq!(r.status, 422, "empty body = empty envelope");
    let resp = api
        .client
        .post(format!("{}/users", api.base))
        .header("Api-Token", TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(resp.text().await.unwrap(), "{}");
    fake.stop().await;
}

#[tokio::test]
async fn lenient_quirks_are_configurable() {
    let fake = FakeActiveCampaign::start(FakeConfig {
        accounts: vec![AccountConfig::new("acme", TOKEN).rate_limit(0)],
        quirks: Quirks {
            require_group_on_update: false,
            username_change: UsernameChange::Reject,
            include_lang_on_create: false,
            group_not_found_status_get: 404,
            auth_failure_body: AuthFailureBody::Empty,
            ..Quirks::default()
        },
        ..FakeConfig::default()
    })
    .await;
    let api = Api::new(&fake, TOKEN);
    let r = api
        .post("/users", new_user("u1", "u1@example.com", json!(3)))
        .await;
    assert!(r.json["user"].get("lang").is_none());
    let r = api
        .put("/users/2", json!({ "user": { "firstName": "Only" } }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["userGroups"][0]["groupid"], "3", "group kept");
    let r = api
        .put("/users/2", json!({ "user": { "username": "renamed" } }))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json["errors"][0]["title"], "Username cannot be changed!");
    assert_eq!(api.get("/groups/77").await.status, 404);
    let r = api.with_token(Some("bad")).get("/users/me").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.text, "");
    fake.stop().await;
}

#[tokio::test]
async fn not_found_forms_match_the_reference() {
    let fake = unlimited_fake().await;
    let api = Api::new(&fake, TOKEN);

    for (method, path, status, message) in [
        (
            "GET",
            "/users/999",
            404,
            "No Result found for User with id 999",
        ),
        (
            "PUT",
            "/users/999",
            404,
            "No Result found for User with id 999",
        ),
        (
            "DELETE",
            "/users/999",
            404,
            "No Result found for User with id 999",
        ),
        (
            "DELETE",
            "/users/",
            404,
            "No Result found for User with id 0",
        ),
        (
            "GET",
            "/users/999/userGroup",
            404,
            "No Result found for User with id 999",
        ),
        // The published group spec answers a missing group with 403.
        (
            "GET",
            "/groups/10",
            403,
            "No Result found for Group with id 10",
        ),
        (
            "GET",
            "/groups/10/userGroups",
            403,
            "No Result found for Group with id 10",
        ),
        // The recording of DELETE /groups/ answered 404.
        (
            "DELETE",
            "/groups/",
            404,
            "No Result found for Group with id 0",
        ),
        (
            "DELETE",
            "/groups/10",
            404,
            "No Result found for Group with id 10",
        ),
        (
            "PUT",
            "/groups/10",
            404,
            "No Result found for Group with id 10",
        ),
    ] {
        let body = (method == "PUT").then(|| json!({ "user": { "group": 3 }, "group": {} }));
        let r = api.send(method, path, body).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.text);
        assert_eq!(r.json, json!({ "message": message }), "{method} {path}");
    }

    let r = api.get("/users/email/nobody@example.com").await;
    assert_eq!(r.status, 404);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .starts_with("No Result found for User")
    );
    let r = api.get("/users/username/nobody").await;
    assert_eq!(r.status, 404);

    // Unknown routes: the generic 404 form.
    for (method, path) in [
        ("GET", "/contacts"),
        ("PATCH", "/users/1"),
        ("GET", "/users/1/nope"),
    ] {
        let r = api.send(method, path, None).await;
        assert_eq!(r.status, 404, "{method} {path}");
        assert_eq!(
            r.json,
            json!({ "errors": [{ "status": 404, "title": "Not Found" }] })
        );
    }
    fake.stop().await;
}

#[tokio::test]
async fn auth_failures_are_403() {
    let fake = FakeActiveCampaign::start(FakeConfig {
        accounts: vec![AccountConfig {
            recycled_tokens: vec!["old-key".to_owned()],
            ..AccountConfig::new("acme", TOKEN)
        }],
        ..FakeConfig::default()
    })
    .await;
    let api = Api::new(&fake, TOKEN);

    let r = api.with_token(None).get("/users/me").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json,
        json!({ "message": "You are not authorized to access this resource" })
    );
    let r = api.with_token(Some("wrong")).get("/users").await;
    assert_eq!(r.status, 403);

    // Recycled key: 403, no Content-Type, empty body.
    let r = api.with_token(Some("old-key")).get("/users/me").await;
    assert_eq!(r.status, 403);
    assert!(r.header("content-type").is_none());
    assert_eq!(r.text, "");

    // Recycling a live key at runtime.
    assert_eq!(api.get("/users/me").await.status, 200);
    assert!(fake.recycle_token(TOKEN));
    let r = api.get("/users/me").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.text, "");

    // Auth failures are logged but never count against the rate limit.
    let log = fake.request_log();
    assert_eq!(log.len(), 5);
    assert!(log.iter().filter(|e| e.status == 403).all(|e| !e.admitted));
    assert_eq!(
        log[2].account.as_deref(),
        Some("acme"),
        "recycled key is attributed"
    );
    assert_eq!(log[0].account, None);
    fake.stop().await;
}

#[tokio::test]
async fn groups_endpoints() {
    let fake = unlimited_fake().await;
    let api = Api::new(&fake, TOKEN);

    let r = api.get("/groups").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["meta"]["total"], "4");
    let admin = &r.json["groups"][0];
    assert_eq!(admin["id"], "3");
    assert_eq!(admin["title"], "Admin");
    assert_eq!(admin["p_admin"], "1");
    assert_eq!(admin["pg_user_add"], "1");
    assert!(is_ac_timestamp(&admin["sdate"]));
    let ks = keys(admin);
    assert_eq!(ks.first().map(String::as_str), Some("title"));
    assert_eq!(&ks[ks.len() - 2..], ["links", "id"]);
    assert!(ks.len() > 70, "~70 permission flags, got {}", ks.len());
    assert_eq!(r.json["groups"][3]["title"], "No access");
    assert_eq!(r.json["groups"][3]["pgContactAdd"], "0");
    assert_eq!(r.json["groups"][3]["sdate"], Value::Null);

    let r = api.get("/groups?search=man").await;
    assert_eq!(r.json["meta"]["total"], "1");
    assert_eq!(r.json["groups"][0]["title"], "Manager");
    let r = api.get("/groups?limit=2&offset=1").await;
    assert_eq!(r.json["groups"].as_array().unwrap().len(), 2);
    assert_eq!(r.json["groups"][0]["id"], "4");

    // Create: 201, echo + integer p_admin (recording).
    let r = api
        .post(
            "/groups",
            json!({ "group": { "title": "Awesome", "descript": "My really awesome group" } }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let g = &r.json["group"];
    assert_eq!(keys(g), ["title", "descript", "p_admin", "links", "id"]);
    assert_eq!(g["p_admin"], 1);
    assert_eq!(g["id"], "7");
    assert_eq!(
        keys(&g["links"]),
        [
            "userGroups",
            "groupLimit",
            "dealGroupGroups",
            "listGroups",
            "addressGroups",
            "automationGroups"
        ]
    );
    let r = api.get("/groups/7").await;
    assert_eq!(r.json["group"]["pgReportsTrend"], "1");
    assert_eq!(r.json["group"]["pgContactAdd"], "0");

    let r = api
        .post("/groups", json!({ "group": { "descript": "x" } }))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json,
        json!({ "errors": [{ "title": "The field title was not provided.", "detail": "", "code": "field_missing" }] })
    );

    let r = api
        .put(
            "/groups/7",
            json!({ "group": { "title": "Renamed", "pgContactAdd": 1 } }),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["group"]["title"], "Renamed");
    let r = api.get("/groups/7").await;
    assert_eq!(r.json["group"]["title"], "Renamed");
    assert_eq!(r.json["group"]["pgContactAdd"], "1");

    // Members of a group.
    api.post("/users", new_user("m1", "m1@example.com", json!(7)))
        .await;
    let r = api.get("/groups/7/userGroups").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["meta"]["total"], "1");
    assert_eq!(r.json["userGroups"][0]["userid"], "2");

    let r = api.delete("/groups/7").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({}));
    assert_eq!(api.get("/groups/7").await.status, 403);
    fake.stop().await;
}

#[tokio::test]
async fn seeding_helpers() {
    let fake = unlimited_fake().await;
    let api = Api::new(&fake, TOKEN);
    let gid = fake.add_group("Support");
    assert_eq!(gid, "7");
    let uid = fake
        .add_user(
            SeedUser::new("existing", "existing@example.com")
                .names("Ex", "Isting")
                .group(gid.clone()),
        )
        .unwrap();
    let r = api.get("/users/email/existing@example.com").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["user"]["id"], uid);
    assert_eq!(r.json["user"]["firstName"], "Ex");
    let r = api.get(&format!("/users/{uid}/userGroup")).await;
    assert_eq!(r.json["userGroup"]["groupid"], gid);

    assert_eq!(
        fake.add_user(SeedUser::new("other", "EXISTING@example.com")),
        Err(FakeError::Duplicate("email"))
    );
    assert_eq!(
        fake.add_user(SeedUser::new("x", "x@example.com").group("999")),
        Err(FakeError::UnknownGroup("999".to_owned()))
    );
    assert!(matches!(
        fake.add_group_in("nope", "X"),
        Err(FakeError::UnknownAccount(_))
    ));
    // Seeding does not touch the request log.
    assert_eq!(fake.request_log().len(), 2);
    fake.stop().await;
}

#[tokio::test]
async fn deleting_the_key_owner_is_allowed_and_kills_the_key() {
    let fake = unlimited_fake().await;
    let api = Api::new(&fake, TOKEN);
    let r = api.delete("/users/1").await;
    assert_eq!(r.status, 200, "the fake allows it; the bridge must refuse");
    assert_eq!(api.get("/users/me").await.status, 403);
    fake.stop().await;
}

/// `GET /groups/{id}/userGroups` is inferred, not documented: by default it lists the
/// group's own links; the quirks make it missing (404) or unfiltered (every link).
#[tokio::test]
async fn group_member_lists_and_their_quirks() {
    use testkit::fake_activecampaign::MemberLists;
    for quirk in [
        MemberLists::Filtered,
        MemberLists::Missing,
        MemberLists::Unfiltered,
    ] {
        let fake = FakeActiveCampaign::start(FakeConfig {
            quirks: Quirks {
                member_lists: quirk,
                ..Quirks::default()
            },
            ..common::config_with(0)
        })
        .await;
        let api = Api::new(&fake, TOKEN);
        let snap = fake.account_state("acme").unwrap();
        let manager = snap.group_by_title("Manager").unwrap().id.clone();
        let user = snap.group_by_title("User").unwrap().id.clone();
        for (name, group) in [("a", &manager), ("b", &user), ("c", &user)] {
            let r = api
                .post(
                    "/users",
                    new_user(name, &format!("{name}@x.com"), json!(group)),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
        let r = api.get(&format!("/groups/{user}/userGroups")).await;
        match quirk {
            MemberLists::Filtered => {
                assert_eq!(r.status, 200, "{}", r.text);
                let links = r.json["userGroups"].as_array().unwrap();
                assert_eq!(links.len(), 2, "{}", r.text);
                assert!(links.iter().all(|l| l["groupid"] == json!(user)));
                assert_eq!(r.json["meta"]["total"], "2");
            }
            MemberLists::Missing => {
                assert_eq!(r.status, 404, "{}", r.text);
                assert_eq!(
                    r.json,
                    json!({"errors": [{"status": 404, "title": "Not Found"}]})
                );
            }
            MemberLists::Unfiltered => {
                assert_eq!(r.status, 200, "{}", r.text);
                let links = r.json["userGroups"].as_array().unwrap();
                // a, b, c and the owner's link.
                assert_eq!(links.len(), 4, "{}", r.text);
                assert!(links.iter().any(|l| l["groupid"] == json!(manager)));
            }
        }
    }
}
