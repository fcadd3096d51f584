//! A client walking a list page by page, through the directory, on SQLite and PostgreSQL:
//! each next page continues from where the previous one ended and still answers exactly what
//! OFFSET paging answers; a write in between, a `sortBy` or another filter makes the page an
//! OFFSET read again.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use provisioning::{Directory, IntegrationScope};
use scim_core::messages::SearchRequest;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use store::testing::test_stores;
use store::{IntegrationPolicies, IntegrationStatus, NewIntegration, Store};

async fn scope(store: &Store) -> IntegrationScope {
    let tenant = store.create_tenant("Acme").await.unwrap();
    let integration = store
        .create_integration(NewIntegration {
            tenant_id: tenant.id.clone(),
            name: "Paging".into(),
            connector_kind: "activecampaign".into(),
            settings: serde_json::Map::new(),
            secrets: BTreeMap::new(),
            default_role: None,
            deprovision_policy: "delete".into(),
            policies: IntegrationPolicies::default(),
            extension_schemas: Vec::new(),
            mode: store::IntegrationMode::DryRun,
            status: IntegrationStatus::Active,
        })
        .await
        .unwrap();
    IntegrationScope::new(tenant.id, integration.id, "http://scim".into())
}

fn search(query: &[(&str, &str)]) -> SearchRequest {
    SearchRequest::from_query(query.iter().copied()).unwrap()
}

/// The ids and total of the users page at `start` (1-based) of `count`, with `extra` query
/// parameters.
async fn users_page(
    dir: &Directory,
    s: &IntegrationScope,
    start: u64,
    count: u64,
    extra: &[(&str, &str)],
) -> (Vec<String>, u64) {
    let (start, count) = (start.to_string(), count.to_string());
    let mut q = vec![("startIndex", start.as_str()), ("count", count.as_str())];
    q.extend_from_slice(extra);
    let page = dir.search_users(s, &search(&q)).await.unwrap();
    let ids = page
        .resources
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string());
    (ids.collect(), page.total_results)
}

fn user(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "active": true
    })
}

#[tokio::test]
async fn a_walk_continues_where_its_last_page_ended_and_answers_as_offset_paging_does() {
    for db in test_stores().await {
        let (store, label) = (&db.store, db.label);
        let s = scope(store).await;
        let dir = Directory::new(store.clone());
        let mut ids = Vec::new();
        for n in 0..12 {
            let r = dir
                .create_user(&s, &user(&format!("user{n:02}")), "c")
                .await
                .unwrap();
            ids.push(r.body["id"].as_str().unwrap().to_string());
        }

        // Pages 1, 6, 11 of 5: the second and third continue the walk.
        let before = dir.resumed_page_walks();
        let mut seen = Vec::new();
        for start in [1, 6, 11] {
            let (page, total) = users_page(&dir, &s, start, 5, &[]).await;
            assert_eq!(total, 12, "{label}: page {start}");
            seen.extend(page);
        }
        assert_eq!(seen, ids, "{label}: every user once, in creation order");
        assert_eq!(dir.resumed_page_walks() - before, 2, "{label}");

        // A filtered walk is its own walk; the same offset under another filter is not.
        let before = dir.resumed_page_walks();
        let sw = [("filter", "userName sw \"user0\"")];
        let (first, total) = users_page(&dir, &s, 1, 5, &sw).await;
        assert_eq!((first.as_slice(), total), (&ids[..5], 10), "{label}");
        let (second, total) = users_page(&dir, &s, 6, 5, &sw).await;
        assert_eq!((second.as_slice(), total), (&ids[5..10], 10), "{label}");
        assert_eq!(dir.resumed_page_walks() - before, 1, "{label}");
        let (_, total) = users_page(&dir, &s, 6, 5, &[("filter", "userName sw \"user1\"")]).await;
        assert_eq!(
            (total, dir.resumed_page_walks() - before),
            (2, 1),
            "{label}"
        );

        // A sorted walk reads by offset.
        let desc = [("sortBy", "userName"), ("sortOrder", "descending")];
        users_page(&dir, &s, 1, 5, &desc).await;
        let (page, _) = users_page(&dir, &s, 6, 5, &desc).await;
        let expected: Vec<String> = ids.iter().rev().skip(5).take(5).cloned().collect();
        assert_eq!(page, expected, "{label}");
        assert_eq!(dir.resumed_page_walks() - before, 1, "{label}");

        // A write between two pages: the next page is OFFSET paging over what is there now,
        // with the new total.
        let before = dir.resumed_page_walks();
        users_page(&dir, &s, 1, 5, &[]).await;
        dir.delete_user(&s, &ids[1], None, "c").await.unwrap();
        let (page, total) = users_page(&dir, &s, 6, 5, &[]).await;
        assert_eq!(total, 11, "{label}");
        assert_eq!(
            page,
            ids[6..11].to_vec(),
            "{label}: offset 5 of the 11 left"
        );
        assert_eq!(dir.resumed_page_walks() - before, 0, "{label}");
        let (page, total) = users_page(&dir, &s, 11, 5, &[]).await;
        assert_eq!((page, total), (vec![ids[11].clone()], 11), "{label}");
        assert_eq!(dir.resumed_page_walks() - before, 1, "{label}");

        // Groups walk the same way.
        let mut groups = Vec::new();
        for n in 0..7 {
            let body = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": format!("group{n}")
            });
            let r = dir.create_group(&s, &body, "c").await.unwrap();
            groups.push(r.body["id"].as_str().unwrap().to_string());
        }
        let before = dir.resumed_page_walks();
        let mut seen = Vec::new();
        for start in [1, 4, 7] {
            let q = [
                ("startIndex", start.to_string()),
                ("count", "3".to_string()),
            ];
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let page = dir.search_groups(&s, &search(&q)).await.unwrap();
            assert_eq!(page.total_results, 7, "{label}");
            seen.extend(
                page.resources
                    .iter()
                    .map(|g| g["id"].as_str().unwrap().to_string()),
            );
        }
        assert_eq!(seen, groups, "{label}");
        assert_eq!(dir.resumed_page_walks() - before, 2, "{label}");
    }
}
