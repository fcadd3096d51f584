use crate::common::{tenant_with_integration, user};
use store::StoreError;
use store::scim::{self, ListQuery, RowKey, SortKey};
use store::testing::test_stores;

#[tokio::test]
async fn user_name_is_unique_case_insensitively_per_integration() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i1) = tenant_with_integration(s, "Acme").await;
        let (_, i2) = tenant_with_integration(s, "Other").await;
        scim::insert_user(s.db(), &user(&i1.id, "Alice@Acme.test", 1))
            .await
            .unwrap();
        for clash in ["alice@acme.test", "ALICE@ACME.TEST", "Alice@Acme.test"] {
            let err = scim::insert_user(s.db(), &user(&i1.id, clash, 2))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, StoreError::Conflict { what } if what == "userName"),
                "{}: {clash}: {err:?}",
                db.label
            );
        }
        // Unicode lowercasing, not just ASCII.
        scim::insert_user(s.db(), &user(&i1.id, "ÉLODIE", 3))
            .await
            .unwrap();
        assert!(
            scim::insert_user(s.db(), &user(&i1.id, "élodie", 4))
                .await
                .unwrap_err()
                .is_conflict()
        );
        // Another integration may reuse the name.
        scim::insert_user(s.db(), &user(&i2.id, "alice@acme.test", 5))
            .await
            .unwrap();

        let found = scim::find_user_by_user_name(s.db(), &i1.id, "ALICE@acme.TEST")
            .await
            .unwrap();
        assert_eq!(found.unwrap().user_name, "Alice@Acme.test", "{}", db.label);
        assert!(
            scim::find_user_by_user_name(s.db(), &i2.id, "élodie")
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn concurrent_inserts_of_one_user_name_let_exactly_one_win() {
    for db in test_stores().await {
        let s = db.store.clone();
        let (_, i) = tenant_with_integration(&s, "Acme").await;
        let mut tasks = Vec::new();
        for n in 0..8 {
            let s = s.clone();
            let row = user(
                &i.id,
                if n % 2 == 0 {
                    "bob@acme.test"
                } else {
                    "BOB@acme.test"
                },
                n,
            );
            tasks.push(tokio::spawn(async move {
                scim::insert_user(s.db(), &row).await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(e) => assert!(e.is_conflict(), "{}: unexpected {e:?}", db.label),
            }
        }
        assert_eq!(ok, 1, "{}", db.label);
        assert_eq!(s.count_users(&i.id).await.unwrap(), 1);
    }
}

#[tokio::test]
async fn update_checks_the_version_and_the_user_name() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let mut a = user(&i.id, "a@x.test", 1);
        let b = user(&i.id, "b@x.test", 1);
        scim::insert_user(s.db(), &a).await.unwrap();
        scim::insert_user(s.db(), &b).await.unwrap();

        a.display_name = Some("A".into());
        a.version = 2;
        a.updated_at = 10;
        scim::update_user(s.db(), &a, 1).await.unwrap();
        let stored = scim::get_user(s.db(), &i.id, &a.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.version, stored.display_name.as_deref()),
            (2, Some("A"))
        );
        assert_eq!((stored.created_at, stored.updated_at), (1, 10));

        // A stale writer loses.
        let mut stale = a.clone();
        stale.version = 2;
        let err = scim::update_user(s.db(), &stale, 1).await.unwrap_err();
        assert!(
            matches!(err, StoreError::VersionMismatch),
            "{}: {err:?}",
            db.label
        );

        // Renaming onto another user's name clashes.
        let mut clash = a.clone();
        clash.user_name = "B@X.TEST".into();
        clash.version = 3;
        assert!(
            scim::update_user(s.db(), &clash, 2)
                .await
                .unwrap_err()
                .is_conflict()
        );

        // Changing the case of one's own name is fine.
        let mut recase = a.clone();
        recase.user_name = "A@X.TEST".into();
        recase.version = 3;
        scim::update_user(s.db(), &recase, 2).await.unwrap();

        // Writing only the changed columns: the unchanged ones keep their values, the
        // changed ones are stored, and the checks are the same.
        let before = scim::get_user(s.db(), &i.id, &a.id).await.unwrap().unwrap();
        let mut next = before.clone();
        next.external_id = Some("ext-a".into());
        next.active = !before.active;
        next.resource = r#"{"userName":"A@X.TEST","externalId":"ext-a"}"#.into();
        next.version = 4;
        next.updated_at = 20;
        scim::update_user_from(s.db(), &before, &next)
            .await
            .unwrap();
        let stored = scim::get_user(s.db(), &i.id, &a.id).await.unwrap().unwrap();
        assert_eq!(stored, next, "{}", db.label);
        assert_eq!(
            scim::find_user_by_user_name(s.db(), &i.id, "a@x.test")
                .await
                .unwrap()
                .map(|u| u.id),
            Some(a.id.clone()),
            "{}: the userName index still finds the user",
            db.label
        );
        let mut stale_next = next.clone();
        stale_next.version = 5;
        assert!(matches!(
            scim::update_user_from(s.db(), &before, &stale_next).await,
            Err(StoreError::VersionMismatch)
        ));
        let mut clash_next = next.clone();
        clash_next.user_name = "b@x.test".into();
        clash_next.version = 5;
        assert!(
            scim::update_user_from(s.db(), &next, &clash_next)
                .await
                .unwrap_err()
                .is_conflict()
        );
        let recase = next;

        // Unknown id, or another integration's: not found.
        let mut ghost = user(&i.id, "ghost", 1);
        ghost.version = 2;
        assert!(matches!(
            scim::update_user(s.db(), &ghost, 1).await,
            Err(StoreError::NotFound)
        ));
        let (_, other) = tenant_with_integration(s, "Other").await;
        let mut foreign = recase.clone();
        foreign.integration_id = other.id.clone();
        foreign.version = 5;
        assert!(matches!(
            scim::update_user(s.db(), &foreign, 4).await,
            Err(StoreError::NotFound)
        ));
        assert!(
            scim::get_user(s.db(), &other.id, &a.id)
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn delete_user_removes_memberships() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let u = user(&i.id, "a@x.test", 1);
        scim::insert_user(s.db(), &u).await.unwrap();
        let g = crate::common::group(&i.id, "Sales", 1);
        scim::insert_group(s.db(), &g).await.unwrap();
        scim::add_group_members(
            s.db(),
            &i.id,
            &g.id,
            &[(u.id.clone(), store::MemberType::User)],
        )
        .await
        .unwrap();
        assert!(scim::delete_user(s.db(), &i.id, &u.id).await.unwrap());
        assert!(!scim::delete_user(s.db(), &i.id, &u.id).await.unwrap());
        assert!(
            scim::list_group_members(s.db(), &i.id, &g.id)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn list_pages_sorts_and_counts() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        // Same created_at for all: paging must still be stable through the id tiebreak.
        let names = ["delta", "Alpha", "charlie", "Bravo", "echo"];
        for (n, name) in names.iter().enumerate() {
            let mut u = user(&i.id, name, 100);
            u.display_name = (n % 2 == 0).then(|| format!("D{n}"));
            scim::insert_user(s.db(), &u).await.unwrap();
        }
        let all = scim::list_users_unpaged(s.db(), &i.id, None).await.unwrap();
        let mut paged = Vec::new();
        for page in 0..3 {
            let q = ListQuery {
                offset: page * 2,
                limit: 2,
                ..Default::default()
            };
            let (rows, total) = scim::list_users(s.db(), &i.id, &q).await.unwrap();
            assert_eq!(total, 5);
            paged.extend(rows);
        }
        assert_eq!(paged, all, "{}: stable paging", db.label);

        let q = ListQuery {
            sort: Some((SortKey::UserName, false)),
            limit: 10,
            ..Default::default()
        };
        let (rows, _) = scim::list_users(s.db(), &i.id, &q).await.unwrap();
        let got: Vec<_> = rows.iter().map(|r| r.user_name.as_str()).collect();
        assert_eq!(
            got,
            ["Alpha", "Bravo", "charlie", "delta", "echo"],
            "{}",
            db.label
        );

        let q = ListQuery {
            sort: Some((SortKey::UserName, true)),
            limit: 2,
            ..Default::default()
        };
        let (rows, total) = scim::list_users(s.db(), &i.id, &q).await.unwrap();
        assert_eq!((rows[0].user_name.as_str(), total), ("echo", 5));

        // Missing values sort last ascending, first descending, on both databases.
        let q = ListQuery {
            sort: Some((SortKey::DisplayName, false)),
            limit: 10,
            ..Default::default()
        };
        let (rows, _) = scim::list_users(s.db(), &i.id, &q).await.unwrap();
        assert!(
            rows[3].display_name.is_none() && rows[2].display_name.is_some(),
            "{}",
            db.label
        );
        let q = ListQuery {
            sort: Some((SortKey::DisplayName, true)),
            limit: 10,
            ..Default::default()
        };
        let (rows, _) = scim::list_users(s.db(), &i.id, &q).await.unwrap();
        assert!(
            rows[0].display_name.is_none() && rows[2].display_name.is_some(),
            "{}",
            db.label
        );

        // Pages past the first (fetched by id through the sort index) follow every sort,
        // NULLs included.
        for sort in [
            (SortKey::UserName, false),
            (SortKey::UserName, true),
            (SortKey::DisplayName, false),
            (SortKey::DisplayName, true),
        ] {
            let whole = ListQuery {
                sort: Some(sort),
                limit: 10,
                ..Default::default()
            };
            let (expected, _) = scim::list_users(s.db(), &i.id, &whole).await.unwrap();
            let mut paged = Vec::new();
            for page in 0..3 {
                let q = ListQuery {
                    sort: Some(sort),
                    offset: page * 2,
                    limit: 2,
                    ..Default::default()
                };
                let (rows, total) = scim::list_users(s.db(), &i.id, &q).await.unwrap();
                assert_eq!(total, 5, "{}: {sort:?}", db.label);
                paged.extend(rows);
            }
            assert_eq!(paged, expected, "{}: paging by {sort:?}", db.label);
        }

        let q = ListQuery {
            limit: 0,
            ..Default::default()
        };
        let (rows, total) = scim::list_users(s.db(), &i.id, &q).await.unwrap();
        assert!(rows.is_empty());
        assert_eq!(total, 5);
        let q = ListQuery {
            offset: 10,
            limit: 10,
            ..Default::default()
        };
        assert_eq!(
            scim::list_users(s.db(), &i.id, &q).await.unwrap(),
            (vec![], 5)
        );
    }
}

#[test]
fn sort_keys_from_attribute_paths() {
    assert_eq!(
        SortKey::from_attr("userName", "User"),
        Some(SortKey::UserName)
    );
    assert_eq!(
        SortKey::from_attr(
            "urn:ietf:params:scim:schemas:core:2.0:User:username",
            "User"
        ),
        Some(SortKey::UserName)
    );
    assert_eq!(
        SortKey::from_attr("meta.lastModified", "Group"),
        Some(SortKey::LastModified)
    );
    assert_eq!(SortKey::from_attr("userName", "Group"), None);
    assert_eq!(SortKey::from_attr("name.familyName", "User"), None);
}

/// `sortBy` userName / externalId gives byte order (of the lowercased userName; of the
/// case-exact externalId) on both databases, the order scim-core sorts in when it sorts in
/// memory. PostgreSQL test databases use a linguistic collation (ICU en-US), under which
/// punctuation and accented letters sort elsewhere: the key columns are `COLLATE "C"` there
/// (migration 000009).
#[tokio::test]
async fn sorting_by_user_name_or_external_id_is_byte_order_on_both_databases() {
    let names = ["äb", "a_b", "AC", "a.b", "ab", "a-b", "Zeta", "éclair"];
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        for (n, name) in names.iter().enumerate() {
            let mut row = user(&i.id, name, 1_000 + n as i64);
            row.external_id = Some(format!("{name}-ext"));
            scim::insert_user(s.db(), &row).await.unwrap();
        }
        let got: Vec<String> = sorted(s, &i.id, SortKey::UserName, db.label)
            .await
            .into_iter()
            .map(|r| r.user_name)
            .collect();
        let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        want.sort_by_key(|n| n.to_lowercase());
        assert_eq!(got, want, "{}: userName", db.label);

        let got: Vec<String> = sorted(s, &i.id, SortKey::ExternalId, db.label)
            .await
            .into_iter()
            .filter_map(|r| r.external_id)
            .collect();
        let mut want: Vec<String> = names.iter().map(|n| format!("{n}-ext")).collect();
        want.sort();
        assert_eq!(got, want, "{}: externalId", db.label);
    }
}

/// All of the integration's users in `key` order, the same through the pool and the direct reads.
async fn sorted(
    s: &store::Store,
    integration_id: &str,
    key: SortKey,
    label: &str,
) -> Vec<scim::UserRow> {
    let q = ListQuery {
        sort: Some((key, false)),
        limit: 100,
        ..Default::default()
    };
    let pooled = scim::list_users(s.db(), integration_id, &q)
        .await
        .unwrap()
        .0;
    let direct = s.list_users(integration_id, &q).await.unwrap().0;
    assert_eq!(pooled, direct, "{label}");
    pooled
}

/// A walk continued after a known row reads the same pages as OFFSET paging, through the
/// pool and through the store's own read connections (SQLite's direct readers, PostgreSQL's
/// held ones), with creation-time ties broken by id; a known total skips the COUNT.
#[tokio::test]
async fn a_walk_continued_after_a_row_reads_the_same_pages_as_offset_paging() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        // Two users per creation millisecond: the id breaks the tie.
        for n in 0..7 {
            scim::insert_user(s.db(), &user(&i.id, &format!("u{n}"), 100 + n / 2))
                .await
                .unwrap();
        }
        let filter = scim_core::filter::parse_filter("userName sw \"u\"").unwrap();
        let filtered = store::filter_sql::user_condition(&filter);
        assert!(filtered.is_some(), "the filter is pushed down");
        for condition in [None, filtered] {
            let offset_page = |offset: u64| ListQuery {
                condition: condition.clone(),
                offset,
                limit: 3,
                ..Default::default()
            };
            let mut after = None;
            for offset in [0, 3, 6] {
                let (expected, total) = scim::list_users(s.db(), &i.id, &offset_page(offset))
                    .await
                    .unwrap();
                assert_eq!(total, 7, "{}", db.label);
                let walked = ListQuery {
                    after: after.clone(),
                    ..offset_page(offset)
                };
                assert_eq!(
                    scim::list_users(s.db(), &i.id, &walked).await.unwrap(),
                    (expected.clone(), 7),
                    "{}: pool, offset {offset}",
                    db.label
                );
                assert_eq!(
                    s.list_users(&i.id, &walked).await.unwrap(),
                    (expected.clone(), 7),
                    "{}: store reads, offset {offset}",
                    db.label
                );
                let last = expected.last().unwrap();
                after = Some(RowKey {
                    created_at: last.created_at,
                    id: last.id.clone(),
                });
            }
        }

        // A known total answers a full page without counting (42 is not the count); a short
        // page still tells the truth.
        let full = ListQuery {
            offset: 3,
            limit: 3,
            known_total: Some(42),
            ..Default::default()
        };
        assert_eq!(
            s.list_users(&i.id, &full).await.unwrap().1,
            42,
            "{}",
            db.label
        );
        let short = ListQuery {
            offset: 6,
            limit: 3,
            known_total: Some(42),
            ..Default::default()
        };
        assert_eq!(
            s.list_users(&i.id, &short).await.unwrap().1,
            7,
            "{}",
            db.label
        );
    }
}
