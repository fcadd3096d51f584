//! `Store::find_user_by_user_name`: the lookup the IdPs send before every create. On
//! PostgreSQL, lookups that arrive while others run share one statement; each must still get
//! exactly its own integration's user.

use crate::common::{tenant_with_integration, user};
use futures::FutureExt;
use futures::future::join_all;
use futures::task::noop_waker_ref;
use sea_orm::DbBackend;
use std::task::Context;
use std::time::Duration;
use store::scim;
use store::testing::{postgres_test_store, test_stores};
use store::{ConnectionTrait, DatabaseTransaction, Store, TransactionTrait};

/// Upper bound for anything here to finish; a lookup that waits forever fails the test.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// On PostgreSQL, a transaction whose table lock makes every read of `scim_users` wait until
/// it ends: the lookups that take a slot then stay in flight and every later one queues,
/// whatever the timing. `None` on SQLite.
async fn hold_user_reads(s: &Store) -> Option<DatabaseTransaction> {
    if s.backend() != DbBackend::Postgres {
        return None;
    }
    let txn = s.db().begin().await.unwrap();
    txn.execute_unprepared("LOCK TABLE scim_users IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    Some(txn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_each_get_their_own_integrations_user() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i1) = tenant_with_integration(s, "Acme").await;
        let (_, i2) = tenant_with_integration(s, "Other").await;
        // The same names in both integrations, spelled differently in each.
        for n in 0..40 {
            scim::insert_user(s.db(), &user(&i1.id, &format!("user{n}@acme.test"), n))
                .await
                .unwrap();
            scim::insert_user(s.db(), &user(&i2.id, &format!("USER{n}@Acme.test"), n))
                .await
                .unwrap();
        }
        let queries: Vec<(String, String)> = (0..400)
            .map(|n| {
                let integration = if n % 2 == 0 { &i1.id } else { &i2.id };
                let name = match n % 5 {
                    0 => format!("nobody{n}@acme.test"),
                    1 => format!("USER{}@ACME.TEST", n % 40),
                    _ => format!("user{}@acme.test", n % 40),
                };
                (integration.clone(), name)
            })
            .collect();
        // What each lookup must return: the plain query on the pool, one at a time.
        let mut expected = Vec::new();
        for (integration, name) in &queries {
            let found = scim::find_user_by_user_name(s.db(), integration, name)
                .await
                .unwrap();
            expected.push(found.map(|u| (u.integration_id, u.id)));
        }
        assert!(expected.iter().filter(|e| e.is_some()).count() > 300);

        let before = s.batched_user_name_lookups();
        let held = hold_user_reads(s).await;
        let lookups = join_all(
            queries
                .iter()
                .map(|(integration, name)| s.find_user_by_user_name(integration, name)),
        );
        // The lookups are all polled (and queued) before the lock is let go.
        let (answers, ()) = tokio::join!(tokio::time::timeout(HANG_GUARD, lookups), async {
            if let Some(txn) = held {
                txn.commit().await.unwrap();
            }
        });
        let answers = answers.unwrap();
        for (n, answer) in answers.into_iter().enumerate() {
            let got = answer.unwrap().map(|u| (u.integration_id, u.id));
            assert_eq!(
                got, expected[n],
                "{}: lookup {n} {:?}",
                db.label, queries[n]
            );
        }
        let batched = s.batched_user_name_lookups() - before;
        if db.label == "postgres" {
            // Two took the slots; the other 398 waited and were answered by batches.
            assert!(
                batched >= 398,
                "{}: only {batched} lookups batched",
                db.label
            );
        } else {
            assert_eq!(batched, 0, "{}", db.label);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_see_every_committed_change() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let alice = user(&i.id, "alice@acme.test", 1);
        scim::insert_user(s.db(), &alice).await.unwrap();
        let iid = i.id.as_str();
        let many = |name: &'static str| {
            join_all((0..50).map(move |_| s.find_user_by_user_name(iid, name)))
        };
        let found = tokio::time::timeout(HANG_GUARD, many("alice@acme.test"))
            .await
            .unwrap();
        assert!(
            found
                .into_iter()
                .all(|f| f.unwrap().unwrap().id == alice.id)
        );

        assert!(scim::delete_user(s.db(), &i.id, &alice.id).await.unwrap());
        let found = tokio::time::timeout(HANG_GUARD, many("alice@acme.test"))
            .await
            .unwrap();
        assert!(
            found.into_iter().all(|f| f.unwrap().is_none()),
            "{}: a deleted user is not found",
            db.label
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_lookups_leave_later_ones_working() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let bob = user(&i.id, "bob@acme.test", 1);
        scim::insert_user(s.db(), &bob).await.unwrap();
        let held = hold_user_reads(s).await;
        for _ in 0..3 {
            // Each polled once (so each has taken a slot or queued), never again, then all
            // dropped: clients that hung up mid-request, some with a statement in flight.
            let mut lookups: Vec<_> = (0..100)
                .map(|_| s.find_user_by_user_name(&i.id, "bob@acme.test").boxed())
                .collect();
            let mut cx = Context::from_waker(noop_waker_ref());
            let pending = (lookups.iter_mut())
                .map(|f| f.poll_unpin(&mut cx))
                .filter(|p| p.is_pending())
                .count();
            drop(lookups);
            // SQLite's reads are synchronous and finish in that one poll.
            let expected = if held.is_some() { 100 } else { 0 };
            assert_eq!(pending, expected, "{}", db.label);
        }
        if let Some(txn) = held {
            txn.commit().await.unwrap();
        }
        let later = join_all((0..20).map(|_| s.find_user_by_user_name(&i.id, "BOB@acme.test")));
        let found = tokio::time::timeout(HANG_GUARD, later).await.unwrap();
        assert!(
            found.into_iter().all(|f| f.unwrap().unwrap().id == bob.id),
            "{}",
            db.label
        );
    }
}

/// On PostgreSQL, where waiting lookups depend on a batch: when it fails, each runs alone and
/// gets its own error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_on_a_closed_store_fail_and_none_hangs() {
    let Some(db) = postgres_test_store().await else {
        return;
    };
    let s = db.store.clone();
    let (_, i) = tenant_with_integration(&s, "Acme").await;
    s.clone().close().await.unwrap();
    let lookups = join_all((0..50).map(|_| s.find_user_by_user_name(&i.id, "x@acme.test")));
    let answers = tokio::time::timeout(HANG_GUARD, lookups).await.unwrap();
    assert!(answers.iter().all(|a| a.is_err()), "{answers:?}");
}
