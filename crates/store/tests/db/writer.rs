//! `Store::write`: units of concurrent callers (group-committed together on SQLite) succeed or
//! fail on their own, and a failed unit leaves nothing behind.

use crate::common::{tenant_with_integration, user};
use sea_orm::{ConnectionTrait, Statement};
use store::jobs::enqueue_job;
use store::scim::UserRow;
use store::testing::{postgres_test_store, test_stores};
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

/// On a SQLite file the writer executes the hot statements itself and runs a batch again on
/// sqlx when one of its units uses sea-orm (here: a read of rows inside the transaction).
/// Both kinds of unit, in one batch, see their own writes and get the right answer; on
/// PostgreSQL every unit runs on sqlx.
#[tokio::test]
async fn units_that_read_rows_run_again_on_sqlx() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let sqlite = db.label == "sqlite";
        let mut tasks = Vec::new();
        for n in 0..40 {
            let (store, integration) = (s.clone(), i.id.clone());
            tasks.push(tokio::spawn(async move {
                let row = user(&integration, &format!("mixed{n}@acme.test"), n);
                let reads = n % 8 == 0;
                let result = store
                    .write(move |txn| {
                        let row = row.clone();
                        async move {
                            scim::insert_user(&*txn, &row).await?;
                            let found = if reads {
                                // Its own insert is visible to the read in the same transaction.
                                scim::get_user(&*txn, &row.integration_id, &row.id)
                                    .await?
                                    .map(|u| u.user_name)
                            } else {
                                None
                            };
                            Ok::<_, StoreError>((txn.is_direct(), found))
                        }
                    })
                    .await;
                (n, reads, result)
            }));
        }
        for t in tasks {
            let (n, reads, result) = t.await.unwrap();
            let (direct, found) = result.unwrap_or_else(|e| panic!("{}: unit {n}: {e}", db.label));
            if reads {
                assert!(
                    !direct,
                    "{}: unit {n} read rows on the direct path",
                    db.label
                );
                assert_eq!(found, Some(format!("mixed{n}@acme.test")), "{}", db.label);
            }
            if !sqlite {
                assert!(!direct, "{}: no direct path here", db.label);
            }
        }
        // A unit alone that only executes statements runs on the direct path on SQLite.
        let lone = user(&i.id, "lone@acme.test", 50);
        let direct = s
            .write(move |txn| {
                let lone = lone.clone();
                async move {
                    scim::insert_user(&*txn, &lone).await?;
                    Ok::<_, StoreError>(txn.is_direct())
                }
            })
            .await
            .unwrap();
        assert_eq!(direct, sqlite, "{}", db.label);
        assert_eq!(
            scim::count_users(s.db(), &i.id).await.unwrap(),
            41,
            "{}",
            db.label
        );

        // A unique violation on the direct path is still a conflict of that unit alone.
        let (store, integration) = (s.clone(), i.id.clone());
        let taken = user(&integration, "MIXED3@acme.test", 99);
        let err = insert_with_job(store, taken, None).await.unwrap_err();
        assert!(err.is_conflict(), "{}: {err:?}", db.label);
    }
}

/// On PostgreSQL several batches run at once, so two of them can deadlock where two lone units
/// would not: here batch A's first unit holds row 1 and wants row 2 while batch B's first unit
/// holds row 2 and wants row 1. Each batch starts with a unit that fails, so the deadlock
/// happens in the run with a savepoint per unit, where rolling back to the victim's savepoint
/// would hand its caller the deadlock error. PostgreSQL aborts one batch; that batch runs
/// again unit by unit, and every other caller still gets a success, with each update applied
/// exactly once.
///
/// The batches are formed deterministically: `#[tokio::test]` runs on one thread, so units
/// queued in one poll (`join!`) are in the queue together before the writer task next runs.
#[tokio::test]
async fn batches_that_deadlock_run_again_unit_by_unit() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::Notify;

    // SQLite writes one batch at a time: no second batch could take row 2.
    if let Some(db) = postgres_test_store().await {
        let s = &db.store;
        s.db()
            .execute_unprepared(
                "CREATE TABLE deadlock_probe (id INT PRIMARY KEY, n INT NOT NULL);
                 INSERT INTO deadlock_probe VALUES (1, 0), (2, 0), (3, 0);",
            )
            .await
            .unwrap();
        let (a_holds_1, b_holds_2) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (a_runs, b_runs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let bump = |id: u8| format!("UPDATE deadlock_probe SET n = n + 1 WHERE id = {id}");

        // First run: take `first`, say so, wait for `go` (if any), then take `second`.
        let crossing = |first: u8,
                        second: u8,
                        holds: Arc<Notify>,
                        go: Option<Arc<Notify>>,
                        runs: Arc<AtomicUsize>| {
            let store = s.clone();
            async move {
                store
                    .write(move |txn| {
                        let (holds, go, runs) = (holds.clone(), go.clone(), runs.clone());
                        let (first, second) = (bump(first), bump(second));
                        async move {
                            let run = runs.fetch_add(1, Ordering::SeqCst);
                            txn.execute_unprepared(&first).await?;
                            if run == 0 {
                                holds.notify_one();
                                if let Some(go) = go {
                                    go.notified().await;
                                }
                            }
                            txn.execute_unprepared(&second).await?;
                            Ok::<_, StoreError>(())
                        }
                    })
                    .await
            }
        };
        let filler = || {
            let (store, sql) = (s.clone(), bump(3));
            async move {
                store
                    .write(move |txn| {
                        let sql = sql.clone();
                        async move {
                            txn.execute_unprepared(&sql).await?;
                            Ok::<_, StoreError>(())
                        }
                    })
                    .await
            }
        };
        let failing =
            || s.write(|_txn| async { Err::<(), _>(StoreError::InvalidData("fails".into())) });
        let batch_a = async {
            let a1 = crossing(
                1,
                2,
                a_holds_1.clone(),
                Some(b_holds_2.clone()),
                a_runs.clone(),
            );
            tokio::join!(failing(), a1, filler())
        };
        let batch_b = async {
            a_holds_1.notified().await;
            let b1 = crossing(2, 1, b_holds_2.clone(), None, b_runs.clone());
            tokio::join!(failing(), b1, filler())
        };
        let ((a0, a1, a2), (b0, b1, b2)) =
            tokio::time::timeout(std::time::Duration::from_secs(30), async {
                tokio::join!(batch_a, batch_b)
            })
            .await
            .expect("the deadlock was not resolved");
        for failed in [a0, b0] {
            assert!(
                matches!(failed, Err(StoreError::InvalidData(_))),
                "{failed:?}"
            );
        }
        for (name, result) in [("a1", a1), ("a2", a2), ("b1", b1), ("b2", b2)] {
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        // Exactly one of the crossing units ran a second time: its batch lost the deadlock.
        assert_eq!(
            a_runs.load(Ordering::SeqCst) + b_runs.load(Ordering::SeqCst),
            3
        );
        let rows = s
            .db()
            .query_all_raw(Statement::from_string(
                s.backend(),
                "SELECT id, n FROM deadlock_probe ORDER BY id",
            ))
            .await
            .unwrap();
        let counts: Vec<(i32, i32)> = rows
            .iter()
            .map(|r| (r.try_get("", "id").unwrap(), r.try_get("", "n").unwrap()))
            .collect();
        assert_eq!(counts, vec![(1, 2), (2, 2), (3, 2)]);
    }
}
