//! Reconciliation's snapshot and import lease, on both databases.

use crate::common::tenant_with_integration;
use store::testing::test_stores;
use store::{ReconAccount, RunPhase, RunState};

fn acct(id: &str, email: &str) -> ReconAccount {
    ReconAccount {
        target_id: id.into(),
        email: email.into(),
        roles: vec!["User".into()],
        roles_known: false,
        ..ReconAccount::default()
    }
}

#[tokio::test]
async fn one_lease_per_integration_pages_resume_and_unseen_accounts_leave() {
    for db in test_stores().await {
        let s = &db.store;
        let l = &db.label;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let (_, other) = tenant_with_integration(s, "Other").await;
        assert!(s.recon_run(&i.id).await.unwrap().is_none());

        // A takes the lease and starts run 1; B cannot while it lives.
        let run = s
            .recon_take_lease(&i.id, "A", 1_000, 60_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (run.run_id, run.state, run.cursor),
            (1, RunState::Running, 0),
            "{l}"
        );
        assert!(
            s.recon_take_lease(&i.id, "B", 2_000, 60_000)
                .await
                .unwrap()
                .is_none(),
            "{l}"
        );
        // Another integration is independent.
        assert!(
            s.recon_take_lease(&other.id, "B", 2_000, 60_000)
                .await
                .unwrap()
                .is_some()
        );

        s.recon_write_page(
            &i.id,
            "A",
            1,
            &[acct("1", "a@x"), acct("2", "B@x")],
            2,
            Some(3),
            3_000,
            63_000,
        )
        .await
        .unwrap();
        // B may not write while A holds the lease: nothing of its page lands.
        let err = s
            .recon_write_page(
                &i.id,
                "B",
                1,
                &[acct("9", "z@x")],
                9,
                Some(3),
                3_000,
                63_000,
            )
            .await
            .unwrap_err();
        assert!(err.is_conflict(), "{l}: {err}");
        assert_eq!(s.recon_count_accounts(&i.id).await.unwrap(), 2, "{l}");

        // A dies; after its lease expired B continues run 1 from the cursor.
        let run = s
            .recon_take_lease(&i.id, "B", 70_000, 60_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((run.run_id, run.cursor, run.imported), (1, 2, 2), "{l}");
        s.recon_write_page(
            &i.id,
            "B",
            1,
            &[acct("3", "c@x")],
            3,
            Some(3),
            71_000,
            131_000,
        )
        .await
        .unwrap();
        // A, back from the dead, has lost the lease.
        assert!(
            s.recon_write_page(&i.id, "A", 1, &[], 3, None, 72_000, 132_000)
                .await
                .is_err()
        );
        s.recon_set_phase(&i.id, "B", 1, RunPhase::Details, 131_000)
            .await
            .unwrap();
        let todo = s.recon_accounts_without_roles(&i.id, 1, 2).await.unwrap();
        assert_eq!(todo.len(), 2, "{l}");
        s.recon_write_roles(
            &i.id,
            "B",
            1,
            &[
                ("1".into(), vec!["Admin".into()], None),
                ("2".into(), vec![], Some(false)),
            ],
            131_000,
        )
        .await
        .unwrap();
        assert_eq!(
            s.recon_accounts_without_roles(&i.id, 1, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            s.recon_finish(&i.id, "B", 1, 80_000, 90_000).await.unwrap(),
            0
        );
        let run = s.recon_run(&i.id).await.unwrap().unwrap();
        assert_eq!(
            (run.state, run.lease_owner.as_deref(), run.next_run_at),
            (RunState::Done, None, 90_000),
            "{l}"
        );
        let all = s.recon_accounts(&i.id).await.unwrap();
        let a = all.iter().find(|a| a.target_id == "1").unwrap();
        assert_eq!(
            (a.roles.clone(), a.roles_known),
            (vec!["Admin".to_string()], true)
        );
        assert_eq!(
            all.iter().find(|a| a.target_id == "2").unwrap().active,
            Some(false)
        );

        // Run 2 sees only account 1: the others left the target and the snapshot.
        let run = s
            .recon_take_lease(&i.id, "C", 100_000, 60_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (run.run_id, run.cursor, run.phase),
            (2, 0, RunPhase::List),
            "{l}"
        );
        s.recon_write_page(
            &i.id,
            "C",
            2,
            &[acct("1", "a@x")],
            1,
            Some(1),
            101_000,
            161_000,
        )
        .await
        .unwrap();
        assert_eq!(
            s.recon_finish(&i.id, "C", 2, 102_000, 200_000)
                .await
                .unwrap(),
            2,
            "{l}"
        );
        let left: Vec<String> = s
            .recon_accounts(&i.id)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.target_id)
            .collect();
        assert_eq!(left, vec!["1".to_string()], "{l}");

        // A stopped attempt keeps its cursor and says why.
        let run = s
            .recon_take_lease(&i.id, "D", 300_000, 60_000)
            .await
            .unwrap()
            .unwrap();
        s.recon_write_page(
            &i.id,
            "D",
            run.run_id,
            &[acct("1", "a@x")],
            1,
            Some(5),
            301_000,
            361_000,
        )
        .await
        .unwrap();
        s.recon_stop(&i.id, "D", Some("the target is unavailable"), 400_000)
            .await
            .unwrap();
        let stopped = s.recon_run(&i.id).await.unwrap().unwrap();
        assert_eq!(
            (
                stopped.state,
                stopped.cursor,
                stopped.error.as_deref(),
                stopped.lease_owner.as_deref()
            ),
            (
                RunState::Running,
                1,
                Some("the target is unavailable"),
                None
            ),
            "{l}"
        );
        let resumed = s
            .recon_take_lease(&i.id, "E", 400_001, 60_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((resumed.run_id, resumed.cursor), (run.run_id, 1), "{l}");

        // Settings.
        s.recon_set_settings(&i.id, 7_200, true, 500_000)
            .await
            .unwrap();
        let r = s.recon_run(&i.id).await.unwrap().unwrap();
        assert_eq!(
            (r.interval_secs, r.correct_drift, r.next_run_at),
            (7_200, true, 500_000)
        );
        assert_eq!(store::orphan_hold_key("123").len(), 36);
    }
}

/// Apply to all's progress: the batch's jobs carry its id; done ones are deleted, failed ones
/// stay failed, and a user who already had a job waiting is not counted as the batch's.
#[tokio::test]
async fn resync_progress_counts_the_batch_jobs_left() {
    for db in test_stores().await {
        let s = &db.store;
        let l = &db.label;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let (_, other) = tenant_with_integration(s, "Other").await;
        assert!(s.resync_progress(&i.id).await.unwrap().is_none(), "{l}");

        // u4 already waits (another change); the batch asks for u1..u4.
        let ids = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        s.enqueue_users(&i.id, &ids(&["u4"]), "earlier", 1_000)
            .await
            .unwrap();
        // The other integration's job with the same correlation id is not ours.
        s.enqueue_users(&other.id, &ids(&["x1"]), "batch-1", 1_000)
            .await
            .unwrap();
        let queued = s
            .enqueue_users(&i.id, &ids(&["u1", "u2", "u3", "u4"]), "batch-1", 2_000)
            .await
            .unwrap();
        assert_eq!(queued, 3, "{l}");
        s.record_resync(&i.id, "batch-1", 4, queued, 2_000)
            .await
            .unwrap();
        let p = s.resync_progress(&i.id).await.unwrap().unwrap();
        assert_eq!(
            (p.users, p.queued, p.remaining, p.failed, p.done()),
            (4, 3, 3, 0, 0),
            "{l}"
        );
        assert!(!p.finished(), "{l}");

        // The worker carries one out and gives up on another.
        let claimed = s.claim_jobs("w", 3_000, 60_000, 10).await.unwrap();
        let job = |subject: &str| {
            claimed
                .iter()
                .find(|j| j.integration_id == i.id && j.subject_id == subject)
                .unwrap()
                .id
        };
        s.complete_job(job("u1"), "w").await.unwrap();
        s.fail_job(job("u2"), "w", "unknown role", 3_100)
            .await
            .unwrap();
        let p = s.resync_progress(&i.id).await.unwrap().unwrap();
        assert_eq!((p.remaining, p.failed, p.done()), (1, 1, 1), "{l}");
        s.complete_job(job("u3"), "w").await.unwrap();
        let p = s.resync_progress(&i.id).await.unwrap().unwrap();
        assert_eq!((p.remaining, p.failed, p.done()), (0, 1, 2), "{l}");
        assert!(p.finished(), "{l}");

        // A new batch replaces the last; every integration's is listed for /metrics.
        s.record_resync(&i.id, "batch-2", 1, 1, 4_000)
            .await
            .unwrap();
        let all = s.resync_progress_unscoped().await.unwrap();
        assert_eq!(all.len(), 1, "{l}");
        assert_eq!(
            (all[0].batch_id.as_str(), all[0].remaining),
            ("batch-2", 0),
            "{l}"
        );
    }
}
