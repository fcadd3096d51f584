use crate::common::tenant_with_integration;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use store::entities::jobs;
use store::jobs::enqueue_job;
use store::testing::test_stores;
use store::{JobState, StoreError, SubjectKind};

#[tokio::test]
async fn enqueue_coalesces_pending_jobs_per_subject() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        assert!(
            enqueue_job(s.db(), &i.id, SubjectKind::User, "u1", Some("c1"), 10)
                .await
                .unwrap()
        );
        assert!(
            !enqueue_job(s.db(), &i.id, SubjectKind::User, "u1", Some("c2"), 11)
                .await
                .unwrap()
        );
        assert_eq!(
            s.count_jobs(&i.id, JobState::Pending).await.unwrap(),
            1,
            "{}",
            db.label
        );

        // Other subjects get their own job.
        assert!(
            enqueue_job(s.db(), &i.id, SubjectKind::Group, "u1", None, 12)
                .await
                .unwrap()
        );
        assert!(
            enqueue_job(s.db(), &i.id, SubjectKind::User, "u2", None, 12)
                .await
                .unwrap()
        );
        assert_eq!(s.count_jobs(&i.id, JobState::Pending).await.unwrap(), 3);

        // A running job does not absorb a new change.
        jobs::Entity::update_many()
            .col_expr(
                jobs::Column::State,
                sea_orm::sea_query::Expr::value("running"),
            )
            .filter(jobs::Column::SubjectId.eq("u1"))
            .filter(jobs::Column::SubjectKind.eq(SubjectKind::User))
            .exec(s.db())
            .await
            .unwrap();
        assert!(
            enqueue_job(s.db(), &i.id, SubjectKind::User, "u1", None, 13)
                .await
                .unwrap()
        );
        assert_eq!(s.count_jobs(&i.id, JobState::Running).await.unwrap(), 1);
        assert_eq!(s.count_jobs(&i.id, JobState::Pending).await.unwrap(), 3);

        // Inside a caller's transaction, including a duplicate, and concurrently.
        let txn = s.begin_write().await.unwrap();
        assert!(
            enqueue_job(&txn, &i.id, SubjectKind::User, "u3", None, 14)
                .await
                .unwrap()
        );
        assert!(
            !enqueue_job(&txn, &i.id, SubjectKind::User, "u3", None, 14)
                .await
                .unwrap()
        );
        txn.commit().await.unwrap();
        let mut tasks = Vec::new();
        for n in 0..6 {
            let s = s.clone();
            let id = i.id.clone();
            tasks.push(tokio::spawn(async move {
                let txn = s.db().begin().await?;
                let added = enqueue_job(&txn, &id, SubjectKind::User, "u4", None, n).await?;
                txn.commit().await?;
                Ok::<_, store::StoreError>(added)
            }));
        }
        let mut added = 0;
        for t in tasks {
            if t.await.unwrap().unwrap() {
                added += 1;
            }
        }
        assert_eq!(added, 1, "{}", db.label);
        let pending_u4 = jobs::Entity::find()
            .filter(jobs::Column::SubjectId.eq("u4"))
            .all(s.db())
            .await
            .unwrap();
        assert_eq!(pending_u4.len(), 1);
        assert_eq!(pending_u4[0].attempts, 0);
    }
}

/// The user's jobs, oldest first: (state, correlation id, run_after).
async fn jobs_of(s: &store::Store, subject_id: &str) -> Vec<(JobState, Option<String>, i64)> {
    use sea_orm::QueryOrder;
    jobs::Entity::find()
        .filter(jobs::Column::SubjectId.eq(subject_id))
        .order_by_asc(jobs::Column::Id)
        .all(s.db())
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.state, j.correlation_id, j.run_after))
        .collect()
}

/// A user write and its job in one (on PostgreSQL one statement): both land, or neither.
#[tokio::test]
async fn user_writes_queue_their_job_or_nothing() {
    use crate::common::user;
    use store::scim;
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let pending = |c: &str, at| (JobState::Pending, Some(c.to_owned()), at);

        let a = user(&i.id, "a@x.test", 1);
        scim::insert_user_queuing_job(s.db(), &a, Some("c1"), 5)
            .await
            .unwrap();
        assert_eq!(
            scim::get_user(s.db(), &i.id, &a.id).await.unwrap(),
            Some(a.clone()),
            "{}",
            db.label
        );
        assert_eq!(jobs_of(s, &a.id).await, [pending("c1", 5)], "{}", db.label);

        // A duplicate userName writes neither the user nor its job.
        let dup = user(&i.id, "A@X.TEST", 2);
        let err = scim::insert_user_queuing_job(s.db(), &dup, Some("c2"), 6)
            .await
            .unwrap_err();
        assert!(err.is_conflict(), "{}: {err:?}", db.label);
        assert!(jobs_of(s, &dup.id).await.is_empty(), "{}", db.label);

        // An update coalesces into the pending job; once that runs, it queues a new one.
        let mut next = a.clone();
        next.display_name = Some("A".into());
        next.version = 2;
        next.updated_at = 7;
        scim::update_user_from_queuing_job(s.db(), &a, &next, Some("c3"))
            .await
            .unwrap();
        assert_eq!(
            scim::get_user(s.db(), &i.id, &a.id).await.unwrap(),
            Some(next.clone())
        );
        assert_eq!(jobs_of(s, &a.id).await, [pending("c1", 5)], "{}", db.label);
        jobs::Entity::update_many()
            .col_expr(
                jobs::Column::State,
                sea_orm::sea_query::Expr::value(JobState::Running),
            )
            .filter(jobs::Column::SubjectId.eq(a.id.as_str()))
            .exec(s.db())
            .await
            .unwrap();
        let mut third = next.clone();
        third.active = false;
        third.version = 3;
        third.updated_at = 8;
        scim::update_user_from_queuing_job(s.db(), &next, &third, Some("c4"))
            .await
            .unwrap();
        assert_eq!(
            jobs_of(s, &a.id).await,
            [(JobState::Running, Some("c1".into()), 5), pending("c4", 8)],
            "{}",
            db.label
        );

        // A stale or clashing update fails as the update alone does, and in a write unit
        // its job is undone with it.
        let b = user(&i.id, "b@x.test", 3);
        scim::insert_user(s.db(), &b).await.unwrap();
        let with_version = |r: &scim::UserRow, v| {
            let mut r = r.clone();
            r.version = v;
            r
        };
        let mut renamed = with_version(&b, 2);
        renamed.user_name = "a@X.test".into();
        // Stale: the stored version is 1, not 2; then a rename onto a@x.test.
        for (before, after, expect_conflict) in [
            (with_version(&b, 2), with_version(&b, 3), false),
            (b.clone(), renamed, true),
        ] {
            let result = s
                .write(move |txn| {
                    let (before, after) = (before.clone(), after.clone());
                    async move {
                        scim::update_user_from_queuing_job(&*txn, &before, &after, Some("c5")).await
                    }
                })
                .await;
            match result {
                Err(StoreError::VersionMismatch) => assert!(!expect_conflict, "{}", db.label),
                Err(e) if e.is_conflict() => assert!(expect_conflict, "{}", db.label),
                other => panic!("{}: {other:?}", db.label),
            }
            assert!(jobs_of(s, &b.id).await.is_empty(), "{}", db.label);
            assert_eq!(
                scim::get_user(s.db(), &i.id, &b.id).await.unwrap(),
                Some(b.clone())
            );
        }
    }
}

/// A change that coalesces into a pending job keeps that job from being claimed until the
/// change commits: otherwise the worker could claim it, read the subject before the change is
/// visible, and the change would be pushed by nobody. (PostgreSQL: on SQLite the writer runs
/// the change and the claim one after the other, so they cannot interleave.)
#[tokio::test]
async fn a_coalesced_change_holds_its_job_until_it_commits() {
    for db in test_stores().await {
        if db.label != "postgres" {
            continue;
        }
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        assert!(
            enqueue_job(s.db(), &i.id, SubjectKind::User, "u1", None, 10)
                .await
                .unwrap()
        );
        let change = s.db().begin().await.unwrap();
        assert!(
            !enqueue_job(&change, &i.id, SubjectKind::User, "u1", None, 11)
                .await
                .unwrap(),
            "coalesced into the pending job"
        );
        assert!(
            s.claim_jobs("w", 1_000, 60_000, 10)
                .await
                .unwrap()
                .is_empty(),
            "the job was claimed while the change that joined it was not yet committed"
        );
        change.commit().await.unwrap();
        let claimed = s.claim_jobs("w", 1_000, 60_000, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].subject_id, "u1");
        // The coalesced write left the job as it was.
        assert_eq!(claimed[0].run_after, 10);
    }
}
