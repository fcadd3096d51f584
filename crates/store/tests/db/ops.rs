use crate::common::tenant_with_integration;
use store::jobs::enqueue_job;
use store::testing::{inbound_event, test_stores};
use store::{NewEvent, QueueStats, SubjectKind};

fn event(tenant: &str, integration: &str, at: i64) -> NewEvent {
    inbound_event(at, tenant, integration, &format!("c-{at}"))
}

#[tokio::test]
async fn ping_and_queue_stats() {
    for db in test_stores().await {
        let s = &db.store;
        s.ping().await.unwrap();
        assert_eq!(s.queue_stats().await.unwrap(), QueueStats::default());
        let (_, i) = tenant_with_integration(s, "Acme").await;
        for (n, at) in [(1, 500), (2, 300), (3, 900)] {
            enqueue_job(s.db(), &i.id, SubjectKind::User, &format!("u{n}"), None, at)
                .await
                .unwrap();
        }
        let claimed = s.claim_jobs("w", 1_000, 60_000, 1).await.unwrap();
        assert_eq!(claimed.len(), 1);
        s.fail_job(claimed[0].id, "w", "boom", 1_000).await.unwrap();
        let claimed = s.claim_jobs("w", 1_000, 60_000, 1).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let stats = s.queue_stats().await.unwrap();
        assert_eq!(
            (stats.pending, stats.running, stats.failed),
            (1, 1, 1),
            "{}: {stats:?}",
            db.label
        );
        assert!(stats.oldest_pending_created_at.is_some(), "{}", db.label);
    }
}

#[tokio::test]
async fn prune_events_batch_deletes_only_old_events_at_most_max() {
    for db in test_stores().await {
        let s = &db.store;
        let (t, i) = tenant_with_integration(s, "Acme").await;
        // Old and new interleaved in id order: the batch finds the old ones anyway.
        let events = (0..250i64)
            .map(|n| event(&t.id, &i.id, if n % 5 == 0 { 10_000 + n } else { n }))
            .collect();
        s.insert_events(events).await.unwrap();
        assert_eq!(s.prune_events_batch(5_000, 100).await.unwrap(), 100);
        assert_eq!(s.prune_events_batch(5_000, 100).await.unwrap(), 100);
        assert_eq!(
            s.prune_events_batch(5_000, 100).await.unwrap(),
            0,
            "{}",
            db.label
        );
        let left = s
            .list_events(&store::EventQuery {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(left.len(), 50, "{}", db.label);
        assert!(left.iter().all(|e| e.at >= 10_000));
    }
}
