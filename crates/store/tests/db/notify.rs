//! Notification rows: channels scoped by tenant with their secret sealed, deliveries claimed
//! once, the rules' lease (one owner at a time; a round of a lost lease writes nothing), and
//! the cross-tenant facts.

use crate::common::tenant_with_integration;
use sea_orm::ConnectionTrait;
use store::testing::test_stores;
use store::{AttemptOutcome, ChannelKind, DeliveryState, NewNotification, StoreError};

fn message(tenant_id: &str, event: &str) -> NewNotification {
    NewNotification {
        tenant_id: tenant_id.to_string(),
        event: event.to_string(),
        title: format!("{event} title"),
        payload: format!("{{\"event\":\"{event}\"}}"),
    }
}

#[tokio::test]
async fn channels_are_scoped_and_secrets_sealed() {
    for db in test_stores().await {
        let s = &db.store;
        let (a, _) = tenant_with_integration(s, "A").await;
        let (b, _) = tenant_with_integration(s, "B").await;
        let hook = s
            .create_notify_channel(
                &a.id,
                ChannelKind::Webhook,
                "https://h.example/x",
                Some("whsec_plain"),
                1,
            )
            .await
            .unwrap();
        s.create_notify_channel(&a.id, ChannelKind::Email, "ops@a.example", None, 2)
            .await
            .unwrap();
        // The secret is stored sealed, and opens to the plaintext.
        let row = s
            .db()
            .query_one_raw(sea_orm::Statement::from_string(
                s.backend(),
                format!(
                    "SELECT secret FROM notify_channels WHERE id = '{}'",
                    hook.id
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        let stored: String = row.try_get("", "secret").unwrap();
        assert!(stored.starts_with("v1:") && !stored.contains("whsec_plain"));
        let got = s
            .get_notify_channel(&a.id, &hook.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            s.notify_channel_secret(&got).unwrap().as_deref(),
            Some("whsec_plain")
        );
        // Another tenant sees nothing and changes nothing.
        assert!(
            s.get_notify_channel(&b.id, &hook.id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            s.set_notify_channel_enabled(&b.id, &hook.id, false).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.delete_notify_channel(&b.id, &hook.id).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(s.list_notify_channels(&a.id).await.unwrap().len(), 2);
        assert!(s.list_notify_channels(&b.id).await.unwrap().is_empty());
        // Disabled channels get nothing queued.
        s.set_notify_channel_enabled(&a.id, &hook.id, false)
            .await
            .unwrap();
        let queued = s
            .queue_notification(&message(&a.id, "test"), None, 10)
            .await
            .unwrap();
        assert_eq!(queued, 1, "{}", db.label);
        s.delete_notify_channel(&a.id, &hook.id).await.unwrap();
        assert_eq!(s.list_notify_channels(&a.id).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_delivery_is_claimed_once_and_records_its_attempts() {
    for db in test_stores().await {
        let s = &db.store;
        let (a, _) = tenant_with_integration(s, "A").await;
        s.create_notify_channel(&a.id, ChannelKind::Email, "ops@a.example", None, 1)
            .await
            .unwrap();
        s.queue_notification(&message(&a.id, "test"), None, 100)
            .await
            .unwrap();
        assert!(s.due_notify_deliveries(99, 10).await.unwrap().is_empty());
        let due = s.due_notify_deliveries(100, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        let d = &due[0];
        assert_eq!(
            (d.channel_kind, d.channel_address.as_str()),
            (ChannelKind::Email, "ops@a.example")
        );
        assert!(s.claim_notify_delivery(&d.id, 100, 200).await.unwrap());
        assert!(
            !s.claim_notify_delivery(&d.id, 150, 250).await.unwrap(),
            "claimed already"
        );
        assert!(s.due_notify_deliveries(150, 10).await.unwrap().is_empty());
        let retry = AttemptOutcome {
            state: DeliveryState::Pending,
            attempts: 1,
            next_attempt_at: Some(300),
            status_code: Some(503),
            response: Some("busy".into()),
            error: Some("the receiver answered 503".into()),
        };
        s.record_notify_attempt(&d.id, &retry, 160).await.unwrap();
        assert!(s.due_notify_deliveries(299, 10).await.unwrap().is_empty());
        let again = s.due_notify_deliveries(300, 10).await.unwrap();
        assert_eq!(again[0].attempts, 1);
        assert_eq!(again[0].status_code, Some(503));
        let log = s.list_notify_deliveries(&a.id, 10).await.unwrap();
        assert_eq!(log[0].error.as_deref(), Some("the receiver answered 503"));
        // Pending deliveries survive retention; finished ones go.
        assert_eq!(s.prune_notify_deliveries(1_000).await.unwrap(), 0);
        let sent = AttemptOutcome {
            state: DeliveryState::Sent,
            attempts: 2,
            next_attempt_at: None,
            status_code: Some(204),
            response: None,
            error: None,
        };
        s.record_notify_attempt(&d.id, &sent, 310).await.unwrap();
        assert!(
            s.due_notify_deliveries(10_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(s.prune_notify_deliveries(1_000).await.unwrap(), 1);
    }
}

#[tokio::test]
async fn the_rules_lease_has_one_owner_and_a_lost_lease_writes_nothing() {
    for db in test_stores().await {
        let s = &db.store;
        let (a, i) = tenant_with_integration(s, "A").await;
        s.create_notify_channel(&a.id, ChannelKind::Email, "ops@a.example", None, 1)
            .await
            .unwrap();
        assert!(
            s.notify_take_lease("rules", "one", 1_000, 2_000)
                .await
                .unwrap()
        );
        assert!(
            !s.notify_take_lease("rules", "two", 1_500, 2_500)
                .await
                .unwrap()
        );
        assert!(
            s.notify_take_lease("rules", "one", 1_500, 2_500)
                .await
                .unwrap()
        );
        let states = vec![(i.id.clone(), "{\"failures_cursor\":5}".to_string())];
        let msgs = vec![message(&a.id, "guard_held")];
        // "two" does not hold it: nothing is written.
        assert!(matches!(
            s.save_notify_round("rules", "two", &states, &msgs, 1_600)
                .await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(s.notify_states().await.unwrap().is_empty());
        assert!(
            s.list_notify_deliveries(&a.id, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // The owner's round is saved, state and deliveries together.
        let queued = s
            .save_notify_round("rules", "one", &states, &msgs, 1_700)
            .await
            .unwrap();
        assert_eq!(queued, 1);
        assert_eq!(
            s.notify_states()
                .await
                .unwrap()
                .get(&i.id)
                .map(String::as_str),
            Some("{\"failures_cursor\":5}")
        );
        assert_eq!(s.list_notify_deliveries(&a.id, 10).await.unwrap().len(), 1);
        // After it expires, another instance takes over.
        assert!(
            s.notify_take_lease("rules", "two", 2_600, 3_600)
                .await
                .unwrap()
        );
        assert!(matches!(
            s.save_notify_round("rules", "one", &states, &[], 2_700)
                .await,
            Err(StoreError::Conflict { .. })
        ));
    }
}

#[tokio::test]
async fn facts_for_the_rules() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "A").await;
        let t = s.issue_token(&i.id, Some(10_000), 100).await.unwrap();
        s.issue_token(&i.id, None, 100).await.unwrap();
        let expiring = s.tokens_expiring(1_000, 20_000).await.unwrap();
        assert_eq!(expiring.len(), 1);
        assert_eq!(expiring[0].prefix, t.prefix);
        assert!(s.tokens_expiring(1_000, 5_000).await.unwrap().is_empty());
        assert!(s.last_token_use_by_integration().await.unwrap().is_empty());
        s.touch_token_used(&t.id, 500).await.unwrap();
        assert_eq!(
            s.last_token_use_by_integration().await.unwrap().get(&i.id),
            Some(&500)
        );
        let listed = s.notify_integrations_unscoped().await.unwrap();
        assert!(listed.iter().any(|n| n.id == i.id && n.status == "draft"));
        assert!(s.latest_failure_by_integration().await.unwrap().is_empty());
        assert!(s.rejected_credentials_since(0).await.unwrap().is_empty());
        assert!(s.target_calls_since(0).await.unwrap().is_empty());
        let f = s.failures_after(&i.id, 0, 3).await.unwrap();
        assert_eq!(f.count, 0);
    }
}
