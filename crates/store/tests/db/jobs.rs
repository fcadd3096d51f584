use crate::common::tenant_with_integration;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use store::entities::jobs;
use store::jobs::enqueue_job;
use store::testing::test_stores;
use store::{JobState, SubjectKind};

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
