//! The deletion guard's rows, counts and the pushed groups' links, on both databases.

use crate::common::tenant_with_integration;
use store::testing::test_stores;
use store::{HoldState, IntegrationPolicies, IntegrationUpdate, NewEvent, OK_OUTCOME};

#[tokio::test]
async fn holds_keep_their_first_sighting_and_move_between_states() {
    for db in test_stores().await {
        let s = &db.store;
        let (t, i) = tenant_with_integration(s, "Acme").await;
        let (_, other) = tenant_with_integration(s, "Other").await;
        let h = s
            .note_removal(&i.id, "u1", "u1@x", "delete", 100)
            .await
            .unwrap();
        assert_eq!((h.state, h.first_seen_at), (HoldState::Pending, 100));
        // Seen again later: still the first sighting.
        let h = s
            .note_removal(&i.id, "u1", "u1@x", "delete", 900)
            .await
            .unwrap();
        assert_eq!(h.first_seen_at, 100, "{}", db.label);
        s.note_removal(&i.id, "u2", "u2@x", "delete", 200)
            .await
            .unwrap();
        s.note_removal(&other.id, "u9", "u9@x", "delete", 200)
            .await
            .unwrap();
        assert_eq!(s.count_open_holds(&i.id).await.unwrap(), 2);
        s.set_hold_state(&i.id, "u1", HoldState::Held, 300)
            .await
            .unwrap();
        s.set_hold_state(&i.id, "u2", HoldState::Held, 300)
            .await
            .unwrap();
        let held = s.list_holds(&i.id, Some(HoldState::Held)).await.unwrap();
        assert_eq!(
            held.iter()
                .map(|h| h.user_name.as_str())
                .collect::<Vec<_>>(),
            ["u1@x", "u2@x"]
        );
        // Approving moves only this integration's held rows.
        let moved = s
            .move_holds(&i.id, HoldState::Held, HoldState::Approved, 400)
            .await
            .unwrap();
        assert_eq!(moved.len(), 2);
        assert_eq!(s.count_open_holds(&i.id).await.unwrap(), 0);
        assert_eq!(
            s.count_open_holds(&other.id).await.unwrap(),
            1,
            "{}",
            db.label
        );
        s.clear_hold(&i.id, "u1").await.unwrap();
        assert!(s.get_hold(&i.id, "u1").await.unwrap().is_none());
        assert_eq!(
            s.get_hold(&i.id, "u2").await.unwrap().unwrap().state,
            HoldState::Approved
        );
        // Policies round-trip.
        let p = IntegrationPolicies {
            unmatched: Some("keep".into()),
            lifecycle: Some("groups".into()),
            group_push: Some("ruled".into()),
            delete_guard: Some("5,50%".into()),
        };
        s.update_integration_settings(
            &t.id,
            &i.id,
            IntegrationUpdate {
                policies: Some(p.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            s.get_integration_unscoped(&i.id)
                .await
                .unwrap()
                .unwrap()
                .policies,
            p
        );
    }
}

#[tokio::test]
async fn removals_are_counted_in_the_window() {
    for db in test_stores().await {
        let s = &db.store;
        let (t, i) = tenant_with_integration(s, "Acme").await;
        let event = |at: i64, operation: &str, outcome: &str| NewEvent {
            at,
            tenant_id: t.id.clone(),
            integration_id: i.id.clone(),
            direction: store::Direction::Outbound,
            operation: operation.into(),
            subject_kind: None,
            subject_id: None,
            subject_name: None,
            http_status: None,
            outcome: outcome.into(),
            duration_ms: None,
            correlation_id: String::new(),
            attempt: None,
            detail: None,
        };
        s.insert_events(vec![
            event(1_000, "delete_user", OK_OUTCOME),
            event(2_000, "deprovision", OK_OUTCOME),
            event(2_500, "deactivate_user", "dry_run"),
            event(3_000, "delete_user", "error"),
            event(3_000, "update_user", OK_OUTCOME),
            event(500, "delete_user", OK_OUTCOME),
        ])
        .await
        .unwrap();
        // The delete and the move since 1 000; not the dry run, the error, the update or the
        // delete before the window.
        assert_eq!(
            s.count_removals_since(&i.id, 1_000).await.unwrap(),
            2,
            "{}",
            db.label
        );
        assert_eq!(s.count_linked(&i.id).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn group_links_are_kept_per_integration() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        s.upsert_group_link(&i.id, "g1", "t-1", "Sales", 1)
            .await
            .unwrap();
        s.upsert_group_link(&i.id, "g1", "t-1", "Sales EMEA", 2)
            .await
            .unwrap();
        let l = s.get_group_link(&i.id, "g1").await.unwrap().unwrap();
        assert_eq!(
            (l.target_id.as_str(), l.name.as_str()),
            ("t-1", "Sales EMEA")
        );
        assert_eq!(s.list_group_links(&i.id).await.unwrap().len(), 1);
        s.delete_group_link(&i.id, "g1").await.unwrap();
        assert!(
            s.get_group_link(&i.id, "g1").await.unwrap().is_none(),
            "{}",
            db.label
        );
    }
}
