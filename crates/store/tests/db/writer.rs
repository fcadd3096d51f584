//! `Store::write`: units of concurrent callers (group-committed together on SQLite) succeed or
//! fail on their own, and a failed unit leaves nothing behind.

use crate::common::{tenant_with_integration, user};
use store::jobs::enqueue_job;
use store::scim::UserRow;
use store::testing::test_stores;
use store::{JobState, Store, StoreError, SubjectKind, scim};

/// One unit: inserts `row` and its job, then fails with `fail_with` if given.
async fn insert_with_job(
    store: Store,
    row: UserRow,
    fail_with: Option<String>,
) -> Result<UserRow, StoreError> {
    store
        .write(move |txn| {
            let (row, fail_with) = (row.clone(), fail_with.clone());
            async move {
                scim::insert_user(&*txn, &row).await?;
                let integration = row.integration_id.as_str();
                enqueue_job(&*txn, integration, SubjectKind::User, &row.id, None, 1).await?;
                match fail_with {
                    Some(m) => Err(StoreError::InvalidData(m)),
                    None => Ok(row),
                }
            }
        })
        .await
}

#[tokio::test]
async fn concurrent_units_commit_or_fail_on_their_own() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        // 40 units at once; every 5th reuses a userName, so exactly one of each pair wins.
        let mut tasks = Vec::new();
        for n in 0..40 {
            let (store, integration) = (s.clone(), i.id.clone());
            tasks.push(tokio::spawn(async move {
                let name = if n % 5 == 0 {
                    format!("dup{}@acme.test", n / 10)
                } else {
                    format!("u{n}@acme.test")
                };
                let row = user(&integration, &name, n);
                insert_with_job(store, row, None).await.map(|r| r.id)
            }));
        }
        let mut ok = 0;
        let mut conflicts = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(StoreError::Conflict { .. }) => conflicts += 1,
                Err(e) => panic!("{}: unexpected {e:?}", db.label),
            }
        }
        // Names dup0..dup3, each used twice (n = 0,5 / 10,15 / 20,25 / 30,35).
        assert_eq!((ok, conflicts), (36, 4), "{}", db.label);
        assert_eq!(scim::count_users(s.db(), &i.id).await.unwrap(), 36);
        // A failed unit's job is not left behind: one job per stored user.
        assert_eq!(
            s.count_jobs(&i.id, JobState::Pending).await.unwrap(),
            36,
            "{}",
            db.label
        );

        // A unit failing after a write undoes that write.
        let (store, integration) = (s.clone(), i.id.clone());
        let row = user(&integration, "late-failure@acme.test", 99);
        let err = store
            .write(move |txn| {
                let row = row.clone();
                async move {
                    scim::insert_user(&*txn, &row).await?;
                    Err::<(), _>(StoreError::InvalidData("changed my mind".into()))
                }
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidData(_)), "{}", db.label);
        assert!(
            scim::find_user_by_user_name(s.db(), &i.id, "late-failure@acme.test")
                .await
                .unwrap()
                .is_none(),
            "{}",
            db.label
        );
    }
}

/// Units that fail after writing, mixed into batches with units that succeed: on SQLite such a
/// batch is first run without savepoints, then rolled back and run again with one per unit.
/// Every caller gets its own result exactly once, and only the successful units' rows remain.
#[tokio::test]
async fn late_failures_in_a_batch_undo_only_themselves() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let mut tasks = Vec::new();
        for n in 0..48 {
            let (store, integration) = (s.clone(), i.id.clone());
            tasks.push(tokio::spawn(async move {
                let row = user(&integration, &format!("late{n}@acme.test"), n);
                let fail_with = (n % 4 == 3).then(|| format!("unit {n} fails"));
                let result = insert_with_job(store, row, fail_with).await;
                (n, result.map(|r| r.user_name))
            }));
        }
        for t in tasks {
            let (n, result) = t.await.unwrap();
            match result {
                Ok(name) => {
                    assert!(n % 4 != 3, "{}: unit {n} should have failed", db.label);
                    assert_eq!(name, format!("late{n}@acme.test"), "{}", db.label);
                }
                Err(StoreError::InvalidData(m)) => {
                    assert_eq!(n % 4, 3, "{}: unit {n} failed: {m}", db.label);
                    assert_eq!(m, format!("unit {n} fails"), "{}", db.label);
                }
                Err(e) => panic!("{}: unit {n}: unexpected {e:?}", db.label),
            }
        }
        assert_eq!(
            scim::count_users(s.db(), &i.id).await.unwrap(),
            36,
            "{}",
            db.label
        );
        assert_eq!(
            s.count_jobs(&i.id, JobState::Pending).await.unwrap(),
            36,
            "{}",
            db.label
        );
        for n in (3..48).step_by(4) {
            let name = format!("late{n}@acme.test");
            assert!(
                scim::find_user_by_user_name(s.db(), &i.id, &name)
                    .await
                    .unwrap()
                    .is_none(),
                "{}: the failed unit's user {name} was left behind",
                db.label
            );
        }
    }
}
