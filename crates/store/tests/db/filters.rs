//! Every pushed-down filter must select exactly the rows the in-memory evaluator selects.

use crate::common::{group, query_plan, tenant_with_integration};
use scim_core::filter::{matches, parse_filter};
use scim_core::schema::ResourceType;
use scim_core::value::format_datetime;
use serde_json::{Map, Value, json};
use store::filter_sql::{group_condition, user_condition, user_name_eq};
use store::scim::{self, UserRow};
use store::testing::{postgres_test_store, test_stores};
use store::{MemberType, Store};

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

fn iso(ms: i64) -> String {
    format_datetime(chrono::DateTime::from_timestamp_millis(ms).unwrap())
}

/// userName, externalId, displayName, active, created.
type UserSpec = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    bool,
    &'static str,
);

const USERS: &[UserSpec] = &[
    (
        "Alice@Example.com",
        Some("ext-1"),
        Some("Alice Smith"),
        true,
        "2024-01-01T00:00:00Z",
    ),
    (
        "bob@example.com",
        Some("EXT-2"),
        None,
        false,
        "2024-02-01T00:00:00Z",
    ),
    (
        "carol_x%@example.org",
        None,
        Some(""),
        true,
        "2024-03-01T00:00:00Z",
    ),
    (
        "ÉLODIE@example.com",
        Some("ext-10"),
        Some("Élodie Dupont"),
        false,
        "2024-03-01T12:00:00.500Z",
    ),
    (
        "dave!@example.com",
        Some("ext-1"),
        Some("DAVE"),
        true,
        "2024-04-01T00:00:00Z",
    ),
    (
        "carolz@example.org",
        Some(""),
        Some("Carol Z"),
        true,
        "2024-05-01T00:00:00Z",
    ),
];

async fn seed_users(s: &Store, integration_id: &str) -> Vec<(UserRow, Map<String, Value>)> {
    let mut out = Vec::new();
    for (name, ext, display, active, created) in USERS {
        let created = ms(created);
        let updated = created + 1000;
        let id = store::new_id();
        let mut res = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": id,
            "userName": name,
            "active": active,
            "meta": { "resourceType": "User", "created": iso(created), "lastModified": iso(updated) },
        });
        if let Some(e) = ext {
            res["externalId"] = json!(e);
        }
        if let Some(d) = display {
            res["displayName"] = json!(d);
        }
        let row = UserRow {
            id,
            integration_id: integration_id.to_owned(),
            user_name: name.to_string(),
            external_id: ext.map(str::to_owned),
            display_name: display.map(str::to_owned),
            active: *active,
            resource: res.to_string(),
            version: 1,
            created_at: created,
            updated_at: updated,
        };
        scim::insert_user(s.db(), &row).await.unwrap();
        let Value::Object(map) = res else {
            unreachable!()
        };
        out.push((row, map));
    }
    out
}

const PUSHED_DOWN: &[&str] = &[
    r#"userName eq "alice@example.com""#,
    r#"userName eq "ALICE@EXAMPLE.COM""#,
    r#"userName ne "alice@example.com""#,
    r#"userName sw "CAROL_""#,
    r#"userName co "x%@""#,
    r#"userName co "!""#,
    r#"userName ew ".ORG""#,
    r#"userName sw "élodie""#,
    r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob@example.com""#,
    r#"externalId eq "ext-1""#,
    r#"externalId eq "EXT-1""#,
    r#"externalId ne "ext-1""#,
    r#"externalId sw "ext-1""#,
    r#"externalId sw "EXT""#,
    r#"externalId pr"#,
    r#"not (externalId pr)"#,
    r#"externalId eq null"#,
    r#"externalId ne null"#,
    r#"displayName eq "alice smith""#,
    r#"displayName co "SMITH""#,
    r#"displayName sw "c""#,
    r#"displayName pr"#,
    r#"displayName ne "DAVE""#,
    r#"not (displayName eq "dave")"#,
    r#"displayName eq null"#,
    r#"active eq true"#,
    r#"active eq "True""#,
    r#"active ne false"#,
    r#"active eq "FALSE""#,
    r#"meta.created gt "2024-01-15T00:00:00Z""#,
    r#"meta.created ge "2024-03-01T00:00:00Z""#,
    r#"meta.created eq "2024-03-01T12:00:00.500Z""#,
    r#"meta.created le "2024-03-01T13:00:00.500+01:00""#,
    r#"meta.created ne "2024-03-01T12:00:00.500Z""#,
    r#"meta.lastModified lt "2024-03-01T12:00:01.500Z""#,
    r#"userName sw "a" or (active eq false and not (externalId pr))"#,
    r#"not (userName eq "bob@example.com" or displayName pr)"#,
    r#"(active eq true and externalId sw "ext") or meta.created lt "2024-02-01T00:00:01Z""#,
];

const NOT_PUSHED_DOWN: &[&str] = &[
    r#"name.familyName eq "x""#,
    r#"emails[type eq "work"]"#,
    r#"emails.value eq "a@b.c""#,
    r#"userName gt "a""#,
    r#"userName eq """#,
    r#"userName eq 5"#,
    r#"externalId co "x""#,
    r#"externalId ew "1""#,
    r#"displayName eq "élodie dupont""#,
    r#"active eq "yes""#,
    r#"active gt true"#,
    r#"meta.created gt "2024-01-01T00:00:00.0001Z""#,
    r#"meta.created sw "2024""#,
    r#"userName eq "x" and title eq "y""#,
    r#"not (title pr)"#,
    r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x""#,
    r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x""#,
    r#"members[value eq "x"]"#,
];

#[tokio::test]
async fn user_filters_match_the_in_memory_evaluator() {
    let rt = ResourceType::user();
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let (_, other) = tenant_with_integration(s, "Other").await;
        let users = seed_users(s, &i.id).await;
        seed_users(s, &other.id).await; // must never leak into results
        let bob_id = users[1].0.id.clone();
        let by_id = [
            format!(r#"id eq "{bob_id}""#),
            format!(r#"id ne "{bob_id}""#),
        ];

        for text in PUSHED_DOWN
            .iter()
            .copied()
            .chain(by_id.iter().map(String::as_str))
        {
            let f = parse_filter(text).unwrap();
            let cond = user_condition(&f).unwrap_or_else(|| panic!("not pushed down: {text}"));
            let mut got: Vec<String> = scim::list_users_unpaged(s.db(), &i.id, Some(cond))
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect();
            let mut want: Vec<String> = users
                .iter()
                .filter(|(_, res)| matches(&f, res, &rt))
                .map(|(r, _)| r.id.clone())
                .collect();
            got.sort();
            want.sort();
            let names = |ids: &[String]| -> Vec<String> {
                ids.iter()
                    .map(|id| {
                        users
                            .iter()
                            .find(|(r, _)| &r.id == id)
                            .unwrap()
                            .0
                            .user_name
                            .clone()
                    })
                    .collect()
            };
            assert_eq!(names(&got), names(&want), "{}: {text}", db.label);
        }
        // The count goes through the same condition.
        let f = parse_filter(r#"active eq true"#).unwrap();
        let q = scim::ListQuery {
            condition: user_condition(&f),
            limit: 1,
            ..Default::default()
        };
        let (rows, total) = scim::list_users(s.db(), &i.id, &q).await.unwrap();
        assert_eq!((rows.len(), total), (1, 4), "{}", db.label);
    }
}

#[test]
fn unsupported_user_filters_are_not_pushed_down() {
    for text in NOT_PUSHED_DOWN {
        let f = parse_filter(text).unwrap();
        assert!(
            user_condition(&f).is_none(),
            "{text} should not be pushed down"
        );
    }
}

#[tokio::test]
async fn group_filters_match_the_in_memory_evaluator() {
    let rt = ResourceType::group();
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let u1 = crate::common::user(&i.id, "u1", 1);
        let u2 = crate::common::user(&i.id, "u2", 1);
        scim::insert_user(s.db(), &u1).await.unwrap();
        scim::insert_user(s.db(), &u2).await.unwrap();
        let specs: [(&str, Option<&str>, Vec<&str>); 4] = [
            ("Sales", Some("g-1"), vec![&u1.id, &u2.id]),
            ("sales_emea", None, vec![&u2.id]),
            ("Admins", Some("G-1"), vec![]),
            ("100% Ops", Some("g-2"), vec![&u1.id]),
        ];
        let mut groups = Vec::new();
        for (n, (name, ext, members)) in specs.iter().enumerate() {
            let mut g = group(&i.id, name, 1000 + n as i64);
            g.external_id = ext.map(str::to_owned);
            scim::insert_group(s.db(), &g).await.unwrap();
            let m: Vec<_> = members
                .iter()
                .map(|id| (id.to_string(), MemberType::User))
                .collect();
            scim::set_group_members(s.db(), &i.id, &g.id, &m)
                .await
                .unwrap();
            // What the SCIM layer would show: the resource with its members.
            let mut full = json!({
                "id": g.id,
                "displayName": name,
                "members": members.iter().map(|id| json!({"value": id, "type": "User"})).collect::<Vec<_>>(),
                "meta": { "created": iso(g.created_at), "lastModified": iso(g.updated_at) },
            });
            if let Some(e) = ext {
                full["externalId"] = json!(e);
            }
            let Value::Object(map) = full else {
                unreachable!()
            };
            groups.push((g, map));
        }
        let filters = [
            r#"displayName eq "SALES""#.to_string(),
            r#"displayName sw "sales_""#.to_string(),
            r#"displayName co "0%""#.to_string(),
            r#"displayName ne "admins""#.to_string(),
            r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName ew "S""#.to_string(),
            r#"externalId eq "g-1""#.to_string(),
            r#"externalId pr"#.to_string(),
            r#"meta.created ge "1970-01-01T00:00:01.002Z""#.to_string(),
            format!(r#"members[value eq "{}"]"#, u1.id),
            format!(r#"members.value eq "{}""#, u2.id),
            format!(
                r#"displayName sw "s" and not (members[value eq "{}"])"#,
                u1.id
            ),
            format!(r#"id eq "{}""#, groups[2].0.id),
        ];
        for text in &filters {
            let f = parse_filter(text).unwrap();
            let cond = group_condition(&f).unwrap_or_else(|| panic!("not pushed down: {text}"));
            let mut got: Vec<String> = scim::list_groups_unpaged(s.db(), &i.id, Some(cond))
                .await
                .unwrap()
                .into_iter()
                .map(|g| g.display_name)
                .collect();
            let mut want: Vec<String> = groups
                .iter()
                .filter(|(_, res)| matches(&f, res, &rt))
                .map(|(g, _)| g.display_name.clone())
                .collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{}: {text}", db.label);
            // `Store::list_groups` (direct reads on a SQLite file) pages like the pool.
            for (offset, limit, sort) in [
                (0, 100, None),
                (0, 0, None),
                (1, 1, Some((store::scim::SortKey::DisplayName, true))),
            ] {
                let q = store::scim::ListQuery {
                    condition: group_condition(&f),
                    sort,
                    offset,
                    limit,
                    ..Default::default()
                };
                assert_eq!(
                    s.list_groups(&i.id, &q).await.unwrap(),
                    scim::list_groups(s.db(), &i.id, &q).await.unwrap(),
                    "{}: {text} {offset}/{limit}",
                    db.label
                );
            }
        }
        for (g, _) in &groups {
            assert_eq!(s.get_group(&i.id, &g.id).await.unwrap().as_ref(), Some(g));
        }
        let (_, other) = tenant_with_integration(s, "Other").await;
        assert_eq!(s.get_group(&other.id, &groups[0].0.id).await.unwrap(), None);
        for text in [
            r#"userName eq "x""#,
            r#"members[type eq "User"]"#,
            r#"members.value ne "x""#,
            r#"active eq true"#,
            r#"displayName gt "a""#,
        ] {
            assert!(
                group_condition(&parse_filter(text).unwrap()).is_none(),
                "{text}"
            );
        }
    }
}

/// `Store::list_users` and `Store::get_user` (on a SQLite file: the direct read connections,
/// `store::sqlite_read`; on PostgreSQL: the held connections, `store::pg_read`) give exactly
/// what the same queries give on the sqlx pool, for every
/// pushed-down filter, first pages and pages past the first, counts only, and sorts.
#[tokio::test]
async fn direct_reads_match_the_pool() {
    use store::scim::{ListQuery, SortKey};
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let (_, other) = tenant_with_integration(s, "Other").await;
        let users = seed_users(s, &i.id).await;
        let others = seed_users(s, &other.id).await;
        let pages = [
            (0, 100, None),
            (0, 0, None),
            (0, 1, Some((SortKey::DisplayName, false))),
            (1, 2, Some((SortKey::UserName, true))),
            (2, 2, Some((SortKey::LastModified, false))),
            // Past the first page: on PostgreSQL the COUNT runs beside the page query; a
            // short page, and an empty one past the end, take their totals differently.
            (3, 100, None),
            (500, 10, Some((SortKey::Id, false))),
        ];
        let mut rows_seen = 0;
        for text in PUSHED_DOWN.iter().copied().chain(["active eq true"]) {
            let f = parse_filter(text).unwrap();
            for (offset, limit, sort) in pages {
                let q = ListQuery {
                    condition: user_condition(&f),
                    sort,
                    offset,
                    limit,
                    ..Default::default()
                };
                let direct = s.list_users(&i.id, &q).await.unwrap();
                let pooled = scim::list_users(s.db(), &i.id, &q).await.unwrap();
                assert_eq!(direct, pooled, "{}: {text} {offset}/{limit}", db.label);
                rows_seen += direct.0.len();
            }
        }
        assert!(rows_seen > 50, "{}: the filters selected rows", db.label);
        for (u, _) in &users {
            let direct = s.get_user(&i.id, &u.id).await.unwrap();
            assert_eq!(direct.as_ref(), Some(u), "{}", db.label);
            assert_eq!(
                direct,
                scim::get_user(s.db(), &i.id, &u.id).await.unwrap(),
                "{}",
                db.label
            );
        }
        // Another integration's user is not found through this one.
        assert_eq!(
            s.get_user(&i.id, &others[0].0.id).await.unwrap(),
            None,
            "{}",
            db.label
        );
    }
}

/// On PostgreSQL the SCIM reads keep their connections out of the pool (`store::pg_read`). If
/// the server closes a held one meanwhile (a restart, an idle timeout, an operator), the next
/// read runs again on a connection from the pool and still answers.
#[tokio::test]
async fn a_read_whose_held_connection_was_closed_still_answers() {
    use sea_orm::ConnectionTrait;
    use store::scim::ListQuery;
    if let Some(db) = postgres_test_store().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let users = seed_users(s, &i.id).await;
        let first = &users[0].0;
        assert_eq!(
            s.get_user(&i.id, &first.id).await.unwrap().as_ref(),
            Some(first)
        );
        // The held connection is the one whose last statement was that lookup.
        let closed = s
            .db()
            .query_all_raw(sea_orm::Statement::from_string(
                s.backend(),
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND query LIKE 'SELECT%scim_users%'",
            ))
            .await
            .unwrap();
        assert!(!closed.is_empty(), "no held read connection was found");
        assert_eq!(
            s.get_user(&i.id, &first.id).await.unwrap().as_ref(),
            Some(first)
        );
        let q = ListQuery {
            limit: 100,
            ..ListQuery::default()
        };
        let (rows, total) = s.list_users(&i.id, &q).await.unwrap();
        assert_eq!((rows.len(), total), (users.len(), users.len() as u64));
    }
}

/// Closing a store waits for every pooled connection to come back; the held read connections
/// (PostgreSQL, `store::pg_read`) are handed back, so the close finishes.
#[tokio::test]
async fn a_store_closes_after_reads() {
    for db in test_stores().await {
        let s = db.store.clone();
        let (_, i) = tenant_with_integration(&s, "Acme").await;
        let users = seed_users(&s, &i.id).await;
        for (u, _) in &users {
            assert!(s.get_user(&i.id, &u.id).await.unwrap().is_some());
        }
        let closed = tokio::time::timeout(std::time::Duration::from_secs(20), s.close()).await;
        assert!(closed.is_ok(), "{}: the store did not close", db.label);
        closed.unwrap().unwrap();
    }
}

/// Only a bare `userName eq "…"` (optionally URN-qualified) takes the lookup path; anything
/// else keeps the general pushdown or the in-memory evaluator.
#[test]
fn only_a_bare_user_name_eq_is_a_lookup() {
    let lookup = |text: &str| user_name_eq(&parse_filter(text).unwrap()).map(str::to_owned);
    assert_eq!(
        lookup(r#"userName eq "Bob@Acme.test""#).as_deref(),
        Some("Bob@Acme.test")
    );
    assert_eq!(
        lookup(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob""#).as_deref(),
        Some("bob")
    );
    for other in [
        r#"userName eq """#,
        r#"userName ne "bob""#,
        r#"userName sw "bob""#,
        r#"displayName eq "bob""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:Group:userName eq "bob""#,
        r#"userName eq "bob" and active eq true"#,
        r#"not (userName eq "bob")"#,
        r#"userName eq 42"#,
    ] {
        assert_eq!(lookup(other), None, "{other}");
    }
}

/// On PostgreSQL `userName sw "…"` is a range scan of the userName index: the lowercased
/// userName column compares byte-wise (`COLLATE "C"`, migration 000009), the one collation
/// under which PostgreSQL turns a LIKE prefix into index bounds. Under the test database's
/// linguistic collation (ICU en-US) without it, the index could only be walked whole.
#[tokio::test]
async fn postgres_answers_user_name_sw_from_the_user_name_index() {
    use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryTrait};
    use store::entities::scim_users;
    let Some(db) = postgres_test_store().await else {
        return;
    };
    let s = &db.store;
    let (_, i) = tenant_with_integration(s, "Acme").await;
    // Enough users, with statistics, that the planner weighs the indexes by what they select.
    let seed = format!(
        "INSERT INTO scim_users (id, integration_id, user_name, user_name_lower, active, resource, \
         version, created_at, updated_at) SELECT md5(g::text)::uuid::text, '{}', 'User' || g, \
         'user' || g, true, '{{}}', 1, g, g FROM generate_series(1, 5000) g",
        i.id
    );
    s.db().execute_unprepared(&seed).await.unwrap();
    s.db()
        .execute_unprepared("ANALYZE scim_users")
        .await
        .unwrap();
    let f = parse_filter(r#"userName sw "Alice_""#).unwrap();
    let select = scim_users::Entity::find()
        .filter(scim_users::Column::IntegrationId.eq(i.id.as_str()))
        .filter(user_condition(&f).unwrap())
        .build(DbBackend::Postgres);
    let plan = query_plan(s.db(), select).await;
    let bounds = plan
        .iter()
        .find(|l| l.contains("Index Cond"))
        .unwrap_or_else(|| panic!("no index condition in {plan:?}"));
    assert!(
        bounds.contains("user_name_lower") && bounds.contains(">= 'alice_'"),
        "the prefix is no index bound: {plan:?}"
    );
}
