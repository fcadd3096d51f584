use crate::common::{group, tenant_with_integration, user};
use store::scim::{self, GroupRef, ListQuery, SortKey};
use store::testing::test_stores;
use store::{MemberType, StoreError};

#[tokio::test]
async fn groups_unique_versions_and_members_with_display() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let (_, other) = tenant_with_integration(s, "Other").await;
        let mut alice = user(&i.id, "alice@x.test", 1);
        alice.display_name = Some("Alice A.".into());
        let bob = user(&i.id, "bob@x.test", 2);
        scim::insert_user(s.db(), &alice).await.unwrap();
        scim::insert_user(s.db(), &bob).await.unwrap();

        let mut sales = group(&i.id, "Sales", 1);
        let admins = group(&i.id, "Admins", 2);
        scim::insert_group(s.db(), &sales).await.unwrap();
        scim::insert_group(s.db(), &admins).await.unwrap();
        let err = scim::insert_group(s.db(), &group(&i.id, "SALES", 3))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict { what } if what == "displayName"),
            "{err:?}"
        );
        assert!(
            scim::find_group_by_display_name(s.db(), &i.id, "sAlEs")
                .await
                .unwrap()
                .is_some()
        );

        sales.display_name = "Sales EMEA".into();
        sales.version = 2;
        scim::update_group(s.db(), &sales, 1).await.unwrap();
        assert!(matches!(
            scim::update_group(s.db(), &sales, 1).await,
            Err(StoreError::VersionMismatch)
        ));

        let u = MemberType::User;
        scim::set_group_members(
            s.db(),
            &i.id,
            &sales.id,
            &[
                (alice.id.clone(), u),
                (bob.id.clone(), u),
                (alice.id.clone(), u),
                (admins.id.clone(), MemberType::Group),
            ],
        )
        .await
        .unwrap();
        let members = scim::list_group_members(s.db(), &i.id, &sales.id)
            .await
            .unwrap();
        let shown: Vec<_> = members
            .iter()
            .map(|m| (m.member_type, m.display.clone()))
            .collect();
        assert_eq!(members.len(), 3, "{}: duplicates collapse", db.label);
        assert!(shown.contains(&(u, Some("Alice A.".into()))), "{shown:?}");
        assert!(
            shown.contains(&(u, Some("bob@x.test".into()))),
            "userName when no displayName"
        );
        assert!(shown.contains(&(MemberType::Group, Some("Admins".into()))));

        // add: existing ones are ignored; remove: returns count.
        let added = scim::add_group_members(s.db(), &i.id, &sales.id, &[(bob.id.clone(), u)])
            .await
            .unwrap();
        assert_eq!(added, 0, "{}", db.label);
        scim::add_group_members(s.db(), &i.id, &admins.id, &[(bob.id.clone(), u)])
            .await
            .unwrap();
        let removed = scim::remove_group_members(
            s.db(),
            &i.id,
            &sales.id,
            &[alice.id.clone(), "nope".into()],
        )
        .await
        .unwrap();
        assert_eq!(removed, 1);

        let of_bob = scim::groups_of_member(s.db(), &i.id, &bob.id)
            .await
            .unwrap();
        assert_eq!(
            of_bob,
            vec![
                GroupRef {
                    id: admins.id.clone(),
                    display_name: "Admins".into()
                },
                GroupRef {
                    id: sales.id.clone(),
                    display_name: "Sales EMEA".into()
                },
            ]
        );
        assert!(
            scim::groups_of_member(s.db(), &other.id, &bob.id)
                .await
                .unwrap()
                .is_empty()
        );

        // Another integration cannot touch this group's members.
        let err =
            scim::add_group_members(s.db(), &other.id, &sales.id, &[(bob.id.clone(), u)]).await;
        assert!(matches!(err, Err(StoreError::NotFound)));
        assert!(
            scim::list_group_members(s.db(), &other.id, &sales.id)
                .await
                .unwrap()
                .is_empty()
        );

        let resolved = scim::resolve_members(
            s.db(),
            &i.id,
            &[admins.id.clone(), "ghost".into(), bob.id.clone()],
        )
        .await
        .unwrap();
        assert_eq!(
            resolved,
            vec![(admins.id.clone(), MemberType::Group), (bob.id.clone(), u)]
        );
        assert!(
            scim::resolve_members(s.db(), &other.id, std::slice::from_ref(&bob.id))
                .await
                .unwrap()
                .is_empty()
        );

        // Deleting a group removes its rows and its membership elsewhere.
        assert!(scim::delete_group(s.db(), &i.id, &admins.id).await.unwrap());
        let left = scim::list_group_members(s.db(), &i.id, &sales.id)
            .await
            .unwrap();
        assert_eq!(
            left.iter()
                .map(|m| m.member_id.as_str())
                .collect::<Vec<_>>(),
            [bob.id.as_str()]
        );

        let q = ListQuery {
            sort: Some((SortKey::DisplayName, false)),
            limit: 10,
            ..Default::default()
        };
        let (rows, total) = scim::list_groups(s.db(), &i.id, &q).await.unwrap();
        assert_eq!((rows.len(), total), (1, 1));
        let q = ListQuery {
            sort: Some((SortKey::UserName, false)),
            limit: 10,
            ..Default::default()
        };
        assert!(matches!(
            scim::list_groups(s.db(), &i.id, &q).await,
            Err(StoreError::InvalidData(_))
        ));
        assert_eq!(s.count_groups(&i.id).await.unwrap(), 1);
    }
}

#[tokio::test]
async fn members_of_many_groups_match_each_groups_own_list() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let (_, other) = tenant_with_integration(s, "Other").await;
        let u = MemberType::User;
        let users: Vec<_> = (0..5)
            .map(|n| user(&i.id, &format!("u{n}@x.test"), n))
            .collect();
        for x in &users {
            scim::insert_user(s.db(), x).await.unwrap();
        }
        let groups: Vec<_> = (0..4).map(|n| group(&i.id, &format!("G{n}"), n)).collect();
        for g in &groups {
            scim::insert_group(s.db(), g).await.unwrap();
        }
        // G0: three users; G1: a user shared with G0 and group G2; G2: a member deleted
        // later (no display); G3: empty.
        let ids = |ns: &[usize]| -> Vec<(String, MemberType)> {
            ns.iter().map(|&n| (users[n].id.clone(), u)).collect()
        };
        scim::set_group_members(s.db(), &i.id, &groups[0].id, &ids(&[2, 0, 1]))
            .await
            .unwrap();
        let mut g1 = ids(&[1]);
        g1.push((groups[2].id.clone(), MemberType::Group));
        scim::set_group_members(s.db(), &i.id, &groups[1].id, &g1)
            .await
            .unwrap();
        scim::set_group_members(s.db(), &i.id, &groups[2].id, &ids(&[3, 4]))
            .await
            .unwrap();
        // Behind the store's back, so the membership row stays.
        sea_orm::ConnectionTrait::execute_unprepared(
            s.db(),
            &format!("DELETE FROM scim_users WHERE id = '{}'", users[4].id),
        )
        .await
        .unwrap();
        let other_group = group(&other.id, "Theirs", 9);
        scim::insert_group(s.db(), &other_group).await.unwrap();
        let theirs = user(&other.id, "t@x.test", 9);
        scim::insert_user(s.db(), &theirs).await.unwrap();
        scim::set_group_members(
            s.db(),
            &other.id,
            &other_group.id,
            &[(theirs.id.clone(), u)],
        )
        .await
        .unwrap();
        // A membership naming another integration's user (only bad data could hold one):
        // that user's name must not show.
        scim::add_group_members(s.db(), &i.id, &groups[2].id, &[(theirs.id.clone(), u)])
            .await
            .unwrap();

        let mut asked: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
        asked.push(&other_group.id);
        let all = scim::members_of_groups(s.db(), &i.id, &asked)
            .await
            .unwrap();
        for g in &groups {
            let alone = scim::list_group_members(s.db(), &i.id, &g.id)
                .await
                .unwrap();
            assert_eq!(
                all.get(&g.id).cloned().unwrap_or_default(),
                alone,
                "{}: {}",
                db.label,
                g.display_name
            );
        }
        assert_eq!(all[&groups[0].id].len(), 3, "{}", db.label);
        assert_eq!(
            all[&groups[1].id]
                .iter()
                .map(|m| (m.member_type, m.display.as_deref()))
                .collect::<Vec<_>>(),
            [
                (MemberType::Group, Some("G2")),
                (u, Some(users[1].user_name.as_str())),
            ],
            "{}: groups, then users, each with its display",
            db.label
        );
        assert!(
            all[&groups[2].id].iter().any(|m| m.display.is_none()),
            "{}: a deleted member has no display",
            db.label
        );
        let foreign = all[&groups[2].id].iter().find(|m| m.member_id == theirs.id);
        assert_eq!(
            foreign.map(|m| m.display.as_deref()),
            Some(None),
            "{}: another integration's user has no display here",
            db.label
        );
        assert!(
            !all.contains_key(&groups[3].id),
            "{}: empty group",
            db.label
        );
        assert!(
            !all.contains_key(&other_group.id),
            "{}: another integration's group is not read",
            db.label
        );
    }
}

/// Without statistics SQLite would walk every membership of the integration to read one
/// group's members through the member index; migration 000007's index must be the one used.
#[tokio::test]
async fn sqlite_reads_a_groups_members_through_the_group_index() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    for db in test_stores().await {
        if db.store.db().get_database_backend() != DbBackend::Sqlite {
            continue;
        }
        let plan = db
            .store
            .db()
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "EXPLAIN QUERY PLAN SELECT * FROM group_members WHERE integration_id = 'i' \
                 AND group_id IN ('a', 'b') ORDER BY group_id, member_type, member_id",
            ))
            .await
            .unwrap();
        let details: Vec<String> = plan
            .iter()
            .map(|r| r.try_get::<String>("", "detail").unwrap())
            .collect();
        assert!(
            details
                .iter()
                .any(|d| d.contains("idx_group_members_group")),
            "{}: {details:?}",
            db.label
        );
    }
}
