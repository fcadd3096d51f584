//! The worker's writes on the outbox (on SQLite they are units of the one writer, written so
//! that no statement can fail): outcomes with and without a newer pending job of the same
//! subject, requeueing failed jobs, rate-limit slots, links.

use crate::common::tenant_with_integration;
use store::jobs::enqueue_job;
use store::outbox::TargetLink;
use store::testing::test_stores;
use store::{JobState, SubjectKind};

/// (state, run_after, last_error, attempts) of every job of `subject`, oldest first.
async fn jobs_of(
    s: &store::Store,
    integration: &str,
    subject: &str,
) -> Vec<(JobState, i64, Option<String>, i32)> {
    s.open_jobs(integration)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.subject_id == subject)
        .map(|j| (j.state, j.run_after, j.last_error, j.attempts))
        .collect()
}

#[tokio::test]
async fn outcomes_merge_into_a_newer_pending_job() {
    for db in test_stores().await {
        let (s, label) = (&db.store, db.label);
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let enqueue = |subject: &'static str, at: i64| {
            let id = i.id.clone();
            async move {
                enqueue_job(s.db(), &id, SubjectKind::User, subject, None, at)
                    .await
                    .unwrap()
            }
        };

        // Retry without a newer job: back to pending with the error and the back-off.
        enqueue("a", 100).await;
        let a = s
            .claim_jobs("w", 1_000, 60_000, 10)
            .await
            .unwrap()
            .remove(0);
        s.retry_job(&a, "w", 5_000, "503", 1_000).await.unwrap();
        assert_eq!(
            jobs_of(s, &i.id, "a").await,
            vec![(JobState::Pending, 5_000, Some("503".into()), 1)],
            "{label}"
        );
        // Another worker's retry (the lease went elsewhere) changes nothing.
        let a = s
            .claim_jobs("w", 6_000, 60_000, 10)
            .await
            .unwrap()
            .remove(0);
        s.retry_job(&a, "other", 9_000, "nope", 6_000)
            .await
            .unwrap();
        assert_eq!(
            jobs_of(s, &i.id, "a").await[0].0,
            JobState::Running,
            "{label}"
        );

        // Retry while a newer change queued a pending job: that one carries the back-off
        // and the error, the claimed one goes.
        enqueue("a", 6_500).await;
        s.retry_job(&a, "w", 20_000, "429", 7_000).await.unwrap();
        assert_eq!(
            jobs_of(s, &i.id, "a").await,
            vec![(JobState::Pending, 20_000, Some("429".into()), 0)],
            "{label}"
        );

        // Release (shutdown): untouched attempts, due now; merged into a newer pending job.
        enqueue("b", 100).await;
        let b = s.claim_jobs("w", 1_000, 60_000, 1).await.unwrap().remove(0);
        assert_eq!(b.subject_id, "b", "{label}");
        s.release_job(&b, "w", 2_000).await.unwrap();
        assert_eq!(
            jobs_of(s, &i.id, "b").await,
            vec![(JobState::Pending, 100, None, 0)],
            "{label}"
        );
        let b = s.claim_jobs("w", 2_000, 60_000, 1).await.unwrap().remove(0);
        enqueue("b", 2_100).await;
        s.release_job(&b, "w", 2_200).await.unwrap();
        assert_eq!(
            jobs_of(s, &i.id, "b").await,
            vec![(JobState::Pending, 2_100, None, 0)],
            "{label}"
        );

        // Complete removes only our own claim; fail keeps the job with its reason.
        enqueue("c", 100).await;
        enqueue("d", 100).await;
        let claimed = s.claim_jobs("w", 2_500, 60_000, 10).await.unwrap();
        let by = |subject: &str| claimed.iter().find(|j| j.subject_id == subject).unwrap();
        s.complete_job(by("c").id, "other").await.unwrap();
        assert_eq!(jobs_of(s, &i.id, "c").await.len(), 1, "{label}");
        s.complete_job(by("c").id, "w").await.unwrap();
        assert!(jobs_of(s, &i.id, "c").await.is_empty(), "{label}");
        s.fail_job(by("d").id, "w", "unknown role", 3_000)
            .await
            .unwrap();
        assert_eq!(
            jobs_of(s, &i.id, "d").await,
            vec![(JobState::Failed, 100, Some("unknown role".into()), 1)],
            "{label}"
        );

        // Requeueing failed jobs: a fresh start, or merged into a pending job of the subject.
        enqueue("d", 50_000).await;
        enqueue("e", 100).await;
        let e = s.claim_jobs("w", 3_200, 60_000, 10).await.unwrap();
        let e = e.iter().find(|j| j.subject_id == "e").unwrap();
        s.fail_job(e.id, "w", "boom", 3_300).await.unwrap();
        assert_eq!(s.retry_failed_jobs(&i.id, None, 4_000).await.unwrap(), 2);
        assert_eq!(
            jobs_of(s, &i.id, "d").await,
            vec![(JobState::Pending, 50_000, None, 0)],
            "{label}: merged into the pending job"
        );
        assert_eq!(
            jobs_of(s, &i.id, "e").await,
            vec![(JobState::Pending, 4_000, Some("boom".into()), 0)],
            "{label}: requeued"
        );
    }
}

#[tokio::test]
async fn a_shared_rate_admits_a_burst_then_one_per_interval() {
    for db in test_stores().await {
        let (s, label) = (&db.store, db.label);
        // 1,000 ms apart with bursts of 3: the arrival time may run 2,000 ms ahead.
        let key = "api:token-1";
        for n in 0..3 {
            assert_eq!(
                s.admit_rate(key, 1_000, 2_000, 10_000).await.unwrap(),
                None,
                "{label}: burst request {n}"
            );
        }
        // The fourth waits until the first cell is free again; a refusal spends nothing.
        assert_eq!(
            s.admit_rate(key, 1_000, 2_000, 10_000).await.unwrap(),
            Some(1_000),
            "{label}"
        );
        assert_eq!(
            s.admit_rate(key, 1_000, 2_000, 10_400).await.unwrap(),
            Some(600),
            "{label}"
        );
        assert_eq!(s.admit_rate(key, 1_000, 2_000, 11_000).await.unwrap(), None);
        assert!(
            s.admit_rate(key, 1_000, 2_000, 11_000)
                .await
                .unwrap()
                .is_some()
        );
        // Another key has its own rate; a long idle key is full again.
        assert_eq!(
            s.admit_rate("api:token-2", 1_000, 2_000, 11_000)
                .await
                .unwrap(),
            None
        );
        for _ in 0..3 {
            assert_eq!(
                s.admit_rate(key, 1_000, 2_000, 60_000).await.unwrap(),
                None,
                "{label}"
            );
        }
        assert!(
            s.admit_rate(key, 1_000, 2_000, 60_000)
                .await
                .unwrap()
                .is_some()
        );
    }
}

/// The same sequences as `provisioning::engine::auto_pause`'s unit tests of the rule, through
/// the shared streak: (succeeded, rejected) per job → pause now.
#[tokio::test]
async fn credential_streaks_follow_the_auto_pause_rule() {
    const R: (bool, bool) = (false, true);
    const OK: (bool, bool) = (true, false);
    const OTHER: (bool, bool) = (false, false);
    const PARTLY: (bool, bool) = (true, true);
    // (jobs, threshold, pause after each job)
    type Case = (&'static [(bool, bool)], u32, &'static [bool]);
    let cases: &[Case] = &[
        (&[R, R, R], 3, &[false, false, true]),
        (&[R, R, R, R, R], 3, &[false, false, true, false, false]),
        (&[R, R, OK, R, R], 3, &[false; 5]),
        (
            &[R, R, PARTLY, R, R],
            3,
            &[false, false, false, false, true],
        ),
        (
            &[R, OTHER, R, OTHER, OTHER, R],
            3,
            &[false, false, false, false, false, true],
        ),
        (&[R, R, R, R], 0, &[false; 4]),
        (&[R, R], 1, &[true, true]),
        (&[PARTLY], 1, &[true]),
    ];
    for db in test_stores().await {
        let (s, label) = (&db.store, db.label);
        for (n, (jobs, threshold, want)) in cases.iter().enumerate() {
            let (_, i) = tenant_with_integration(s, &format!("Streak {n}")).await;
            let mut got = Vec::new();
            for (succeeded, rejected) in jobs.iter() {
                got.push(
                    s.record_credential_outcome(&i.id, *succeeded, *rejected, *threshold)
                        .await
                        .unwrap(),
                );
            }
            assert_eq!(&got, want, "{label}: case {n}");
        }
        // Integrations count apart, and a deleted integration takes its streak with it.
        let (t, a) = tenant_with_integration(s, "Streak A").await;
        let (_, b) = tenant_with_integration(s, "Streak B").await;
        assert!(
            !s.record_credential_outcome(&a.id, false, true, 2)
                .await
                .unwrap()
        );
        assert!(
            !s.record_credential_outcome(&b.id, false, true, 2)
                .await
                .unwrap()
        );
        assert!(
            s.record_credential_outcome(&a.id, false, true, 2)
                .await
                .unwrap()
        );
        assert!(s.delete_integration(&t.id, &a.id).await.unwrap(), "{label}");
    }
}

#[tokio::test]
async fn rate_slots_and_links() {
    for db in test_stores().await {
        let (s, label) = (&db.store, db.label);
        // Slots are 210 ms apart whoever asks; an idle account's next slot is now.
        let key = "activecampaign:acme";
        assert_eq!(s.reserve_rate_slot(key, 210, 1_000).await.unwrap(), 1_000);
        assert_eq!(s.reserve_rate_slot(key, 210, 1_000).await.unwrap(), 1_210);
        assert_eq!(s.reserve_rate_slot(key, 210, 1_100).await.unwrap(), 1_420);
        assert_eq!(s.reserve_rate_slot(key, 210, 9_000).await.unwrap(), 9_000);

        let (_, i) = tenant_with_integration(s, "Acme").await;
        let link = |target: &str, pushed: &str| TargetLink {
            integration_id: i.id.clone(),
            scim_user_id: "u1".into(),
            target_id: Some(target.into()),
            last_pushed: Some(pushed.into()),
            last_sync_at: Some(1),
            last_result: Some("ok".into()),
            last_error: None,
        };
        s.upsert_link(link("t1", "v1")).await.unwrap();
        s.upsert_link(link("t2", "v2")).await.unwrap();
        let got = s.get_link(&i.id, "u1").await.unwrap().unwrap();
        assert_eq!(
            (got.target_id.as_deref(), got.last_pushed.as_deref()),
            (Some("t2"), Some("v2")),
            "{label}"
        );
        s.delete_link(&i.id, "u1").await.unwrap();
        assert!(s.get_link(&i.id, "u1").await.unwrap().is_none(), "{label}");
    }
}

#[tokio::test]
async fn budgets_are_spent_once_reset_and_learned() {
    use store::BudgetGrant::{Granted, Spent};
    for db in test_stores().await {
        let (s, label) = (&db.store, db.label);
        let key = "pipedrive:acme";
        // A day of 25 tokens, ending at 10_000.
        assert_eq!(
            s.reserve_budget(key, 10, 25, 10_000, 1_000).await.unwrap(),
            Granted { used: 10 },
            "{label}"
        );
        assert_eq!(
            s.reserve_budget(key, 10, 25, 10_000, 1_100).await.unwrap(),
            Granted { used: 20 },
            "{label}"
        );
        assert_eq!(
            s.reserve_budget(key, 10, 25, 10_000, 1_200).await.unwrap(),
            Spent { resets_at: 10_000 },
            "{label}"
        );
        assert_eq!(
            s.reserve_budget(key, 2, 25, 10_000, 1_300).await.unwrap(),
            Granted { used: 22 },
            "{label}: a cheaper call still fits"
        );
        // The next window starts over.
        assert_eq!(
            s.reserve_budget(key, 10, 25, 20_000, 10_000).await.unwrap(),
            Granted { used: 10 },
            "{label}"
        );
        // The call spacing of the same row is untouched by budgets.
        assert_eq!(
            s.reserve_rate_slot(key, 100, 10_000).await.unwrap(),
            10_000,
            "{label}"
        );

        // Brevo: a fresh window assumed to be 100/hour, then the target reports 3 of 200
        // left with the reset in 500 ms: its limit and reset govern.
        let key = "brevo:api";
        assert_eq!(
            s.reserve_budget(key, 1, 100, 3_601_000, 1_000)
                .await
                .unwrap(),
            Granted { used: 1 },
            "{label}"
        );
        s.observe_budget(key, Some(200), 3, 1_500, 100, 1_000)
            .await
            .unwrap();
        let st = s.budget_state(key).await.unwrap().unwrap();
        assert_eq!(
            (st.used, st.reported_limit, st.resets_at),
            (197, Some(200), 1_500),
            "{label}"
        );
        for _ in 0..3 {
            assert!(
                matches!(
                    s.reserve_budget(key, 1, 100, 3_601_000, 1_100)
                        .await
                        .unwrap(),
                    Granted { .. }
                ),
                "{label}"
            );
        }
        assert_eq!(
            s.reserve_budget(key, 1, 100, 3_601_000, 1_200)
                .await
                .unwrap(),
            Spent { resets_at: 1_500 },
            "{label}"
        );
        // Within the same window a stale report (more left than we reserved) does not undo counts.
        s.observe_budget(key, Some(200), 50, 1_500, 100, 1_250)
            .await
            .unwrap();
        assert_eq!(
            s.budget_state(key).await.unwrap().unwrap().used,
            200,
            "{label}"
        );
        // After the reset, the learned limit (200) applies, not the setting (100).
        assert_eq!(
            s.reserve_budget(key, 150, 100, 3_601_500, 1_500)
                .await
                .unwrap(),
            Granted { used: 150 },
            "{label}"
        );
        // A 429's "spent until" without a limit keeps the limit and fills the window.
        s.observe_budget(key, None, 0, 9_000, 100, 1_600)
            .await
            .unwrap();
        let st = s.budget_state(key).await.unwrap().unwrap();
        assert_eq!(
            (st.used, st.reported_limit, st.resets_at),
            (200, Some(200), 9_000),
            "{label}"
        );
        assert!(s.budget_state("nobody").await.unwrap().is_none());
    }
}

/// A dry-run job's events and link are written with its completion, in one unit; a worker
/// that lost the lease records them but removes nobody's job.
#[tokio::test]
async fn a_completed_job_records_its_events_and_link_with_it() {
    for db in test_stores().await {
        let (s, label) = (&db.store, db.label);
        let (t, i) = tenant_with_integration(s, "Acme").await;
        let event = |op: &str| store::NewEvent {
            at: 1_500,
            tenant_id: t.id.clone(),
            integration_id: i.id.clone(),
            direction: store::Direction::Outbound,
            operation: op.into(),
            subject_kind: Some(SubjectKind::User),
            subject_id: Some("u1".into()),
            subject_name: Some("u1@contoso.com".into()),
            http_status: None,
            outcome: "dry_run".into(),
            duration_ms: None,
            correlation_id: "c1".into(),
            attempt: Some(1),
            detail: None,
        };
        let link = TargetLink {
            integration_id: i.id.clone(),
            scim_user_id: "u1".into(),
            target_id: None,
            last_pushed: None,
            last_sync_at: Some(1_500),
            last_result: Some("dry_run".into()),
            last_error: None,
        };
        enqueue_job(s.db(), &i.id, SubjectKind::User, "u1", None, 100)
            .await
            .unwrap();
        let job = s.claim_jobs("w", 1_000, 60_000, 1).await.unwrap().remove(0);
        // Another worker's completion (its lease ended): the job stays.
        s.complete_job_with(job.id, "other", vec![], None)
            .await
            .unwrap();
        assert_eq!(jobs_of(s, &i.id, "u1").await.len(), 1, "{label}");
        s.complete_job_with(
            job.id,
            "w",
            vec![event("create_user"), event("add_role")],
            Some(link.clone()),
        )
        .await
        .unwrap();
        assert!(jobs_of(s, &i.id, "u1").await.is_empty(), "{label}");
        assert_eq!(
            s.get_link(&i.id, "u1").await.unwrap(),
            Some(link),
            "{label}"
        );
        let q = store::EventQuery {
            integration_id: Some(i.id.clone()),
            subject_id: Some("u1".into()),
            ..Default::default()
        };
        let mut ops: Vec<String> = s
            .list_events(&q)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.operation)
            .collect();
        ops.sort();
        assert_eq!(ops, ["add_role", "create_user"], "{label}");
    }
}

/// The automatic pause (#31): only an active integration is paused, with who, why, when and
/// an audit entry; a failure's kind is kept beside its text and the rejected-credentials
/// fact reads the kind; resuming clears the reason and makes the jobs that waited for the
/// pause or the credentials due now, leaving other back-offs alone.
#[tokio::test]
async fn auto_pause_records_why_and_resume_makes_waiting_jobs_due() {
    for db in test_stores().await {
        let (s, label) = (&db.store, db.label);
        let (t, i) = tenant_with_integration(s, "Acme").await;
        let reason = "ActiveCampaign rejected the API key (HTTP 403) on 3 jobs in a row";
        // A draft is not paused.
        assert!(
            !s.auto_pause_integration(&i.id, reason, 1_000)
                .await
                .unwrap()
        );
        s.set_integration_status(&t.id, &i.id, store::IntegrationStatus::Active)
            .await
            .unwrap();
        for (subject, at) in [("waits", 100), ("rejected", 100), ("busy", 100)] {
            enqueue_job(s.db(), &i.id, SubjectKind::User, subject, None, at)
                .await
                .unwrap();
        }
        let now = store::now_ms();
        let far = now + 3_600_000;
        for j in s.claim_jobs("w", now, 60_000, 10).await.unwrap() {
            let kind = match j.subject_id.as_str() {
                "waits" => Some(store::PAUSED_KIND),
                "rejected" => Some("unauthorized"),
                _ => Some("transient"),
            };
            s.requeue_job_as(&j, "w", far, "boom", kind, now, false)
                .await
                .unwrap();
        }
        // Rejections count by their kind, waiting ("rejected") or failed for good ("gone");
        // the text alone does not.
        enqueue_job(s.db(), &i.id, SubjectKind::User, "gone", None, 100)
            .await
            .unwrap();
        enqueue_job(s.db(), &i.id, SubjectKind::User, "text-only", None, 100)
            .await
            .unwrap();
        for j in s.claim_jobs("w", now, 60_000, 10).await.unwrap() {
            let kind = (j.subject_id == "gone").then_some("unauthorized");
            s.fail_job_as(
                j.id,
                "w",
                "the target rejected the credentials: x",
                kind,
                now,
            )
            .await
            .unwrap();
        }
        assert_eq!(
            s.rejected_credentials_since(0).await.unwrap().get(&i.id),
            Some(&2),
            "{label}"
        );

        assert!(
            s.auto_pause_integration(&i.id, reason, 5_000)
                .await
                .unwrap()
        );
        // Only once: it is not active any more.
        assert!(
            !s.auto_pause_integration(&i.id, reason, 6_000)
                .await
                .unwrap()
        );
        let p = s.get_integration(&t.id, &i.id).await.unwrap().unwrap();
        assert_eq!(p.status, store::IntegrationStatus::Paused, "{label}");
        assert_eq!(p.paused_by.as_deref(), Some(store::AUTO_PAUSED_BY));
        assert_eq!(p.pause_reason.as_deref(), Some(reason));
        assert_eq!(p.paused_at, Some(5_000));
        let n = s
            .notify_integrations_unscoped()
            .await
            .unwrap()
            .into_iter()
            .find(|n| n.id == i.id)
            .unwrap();
        assert_eq!(n.paused_by.as_deref(), Some("scimbridge"));
        assert_eq!(n.pause_reason.as_deref(), Some(reason));
        let audit = s
            .list_audit(&store::AuditQuery {
                tenant_id: Some(t.id.clone()),
                action: Some("integration.auto_pause".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(audit.len(), 1, "{label}");
        assert_eq!(audit[0].actor_email, "scimbridge");
        assert!(audit[0].detail.as_deref().unwrap().contains("HTTP 403"));

        s.set_integration_status(&t.id, &i.id, store::IntegrationStatus::Active)
            .await
            .unwrap();
        let r = s.get_integration(&t.id, &i.id).await.unwrap().unwrap();
        assert!(r.paused_by.is_none() && r.pause_reason.is_none() && r.paused_at.is_none());
        let due = |subject: &'static str| {
            let id = i.id.clone();
            async move {
                s.open_jobs(&id)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|j| j.subject_id == subject)
                    .unwrap()
            }
        };
        let after = store::now_ms();
        for subject in ["waits", "rejected"] {
            let j = due(subject).await;
            assert!(j.run_after <= after, "{label}: {subject} is due now");
        }
        let busy = due("busy").await;
        assert_eq!(busy.run_after, far, "{label}: a 503's back-off stays");
        assert_eq!(busy.last_error_kind.as_deref(), Some("transient"));
        // A person's pause records no reason.
        s.set_integration_status(&t.id, &i.id, store::IntegrationStatus::Paused)
            .await
            .unwrap();
        let m = s.get_integration(&t.id, &i.id).await.unwrap().unwrap();
        assert!(m.paused_by.is_none() && m.pause_reason.is_none() && m.paused_at.is_some());
    }
}
