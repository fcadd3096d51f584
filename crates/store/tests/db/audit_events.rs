use crate::common::{query_plan, tenant_with_integration};
use store::testing::test_stores;
use store::{AuditEntry, AuditQuery, Direction, EventQuery, NewAudit, NewEvent, SubjectKind};

fn event(tenant: &str, integration: &str, at: i64, name: &str, outcome: &str) -> NewEvent {
    NewEvent {
        at,
        tenant_id: tenant.into(),
        integration_id: integration.into(),
        direction: if at % 2 == 0 {
            Direction::Inbound
        } else {
            Direction::Outbound
        },
        operation: "POST /Users".into(),
        subject_kind: Some(SubjectKind::User),
        subject_id: Some(format!("id-{name}")),
        subject_name: Some(name.into()),
        http_status: Some(201),
        outcome: outcome.into(),
        duration_ms: Some(3),
        correlation_id: format!("corr-{at}"),
        attempt: None,
        detail: Some(r#"{"k":"v"}"#.into()),
    }
}

#[tokio::test]
async fn events_insert_in_batches_and_list_newest_first_with_keyset() {
    for db in test_stores().await {
        let s = &db.store;
        let (ta, ia) = tenant_with_integration(s, "Acme").await;
        let (tb, ib) = tenant_with_integration(s, "Globex").await;
        // 1200 events (more than one INSERT chunk); times deliberately not in id order.
        let mut batch = Vec::new();
        for n in 0..1200i64 {
            let at = 10_000 + (n * 7919) % 1200; // a permutation of 10000..11200
            let name = if n % 3 == 0 { "alice" } else { "bob" };
            batch.push(event(
                &ta.id,
                &ia.id,
                at,
                name,
                if n % 10 == 0 { "error" } else { "ok" },
            ));
        }
        s.insert_events(batch).await.unwrap();
        s.insert_events(vec![event(&tb.id, &ib.id, 10_500, "carol", "ok")])
            .await
            .unwrap();
        s.insert_events(vec![]).await.unwrap();

        // Walk all of Acme's events page by page.
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let q = EventQuery {
                integration_id: Some(ia.id.clone()),
                before_id: before,
                limit: 100,
                ..Default::default()
            };
            let page = s.list_events(&q).await.unwrap();
            if page.is_empty() {
                break;
            }
            before = page.last().map(|e| e.id);
            seen.extend(page);
        }
        assert_eq!(seen.len(), 1200, "{}", db.label);
        assert!(
            seen.windows(2)
                .all(|w| (w[0].at, w[0].id) > (w[1].at, w[1].id)),
            "newest first"
        );
        assert!(seen.iter().all(|e| e.integration_id == ia.id));

        let q = EventQuery {
            tenant_id: Some(tb.id.clone()),
            ..Default::default()
        };
        let theirs = s.list_events(&q).await.unwrap();
        assert_eq!(theirs.len(), 1);
        assert_eq!(theirs[0].subject_name.as_deref(), Some("carol"));

        let q = EventQuery {
            integration_id: Some(ia.id.clone()),
            subject: Some("alice".into()),
            outcome: Some("error".into()),
            from: Some(10_000),
            to: Some(10_600),
            ..Default::default()
        };
        let filtered = s.list_events(&q).await.unwrap();
        assert!(!filtered.is_empty());
        assert!(
            filtered
                .iter()
                .all(|e| e.subject_name.as_deref() == Some("alice")
                    && e.outcome == "error"
                    && (10_000..10_600).contains(&e.at))
        );

        let q = EventQuery {
            correlation_id: Some("corr-10500".into()),
            ..Default::default()
        };
        assert_eq!(
            s.list_events(&q).await.unwrap().len(),
            2,
            "both tenants' (support view)"
        );
        let q = EventQuery {
            integration_id: Some(ia.id.clone()),
            direction: Some(Direction::Outbound),
            limit: 5000,
            ..Default::default()
        };
        assert_eq!(s.list_events(&q).await.unwrap().len(), 600);

        // Retention.
        assert_eq!(s.prune_events(10_100).await.unwrap(), 100, "{}", db.label);
        let q = EventQuery {
            integration_id: Some(ia.id.clone()),
            limit: 1000,
            ..Default::default()
        };
        assert!(
            s.list_events(&q)
                .await
                .unwrap()
                .iter()
                .all(|e| e.at >= 10_100)
        );
    }
}

#[tokio::test]
async fn audit_log_scoped_filtered_and_paged() {
    for db in test_stores().await {
        let s = &db.store;
        let (ta, _) = tenant_with_integration(s, "Acme").await;
        let (tb, _) = tenant_with_integration(s, "Globex").await;
        for n in 0..5 {
            s.record_audit(NewAudit {
                at: n,
                tenant_id: Some(if n < 3 { ta.id.clone() } else { tb.id.clone() }),
                actor_id: None,
                actor_email: if n == 1 {
                    "Bob@example.com"
                } else {
                    "admin@example.com"
                }
                .into(),
                action: if n == 2 {
                    "token.revoke"
                } else {
                    "integration.roles"
                }
                .into(),
                target_kind: "integration".into(),
                target_id: Some(format!("t{n}")),
                detail: None,
            })
            .await
            .unwrap();
        }
        let at = |rows: Vec<AuditEntry>| rows.iter().map(|a| a.at).collect::<Vec<_>>();
        let q = |f: &dyn Fn(&mut AuditQuery)| {
            let mut q = AuditQuery {
                tenant_id: Some(ta.id.clone()),
                limit: 2,
                ..Default::default()
            };
            f(&mut q);
            q
        };
        let mine = s.list_audit(&q(&|_| {})).await.unwrap();
        let last = mine.last().map(|a| a.id);
        assert_eq!(at(mine), [2, 1], "{}", db.label);
        let next = s.list_audit(&q(&|q| q.before_id = last)).await.unwrap();
        assert_eq!(at(next), [0]);
        let all = AuditQuery {
            limit: 100,
            ..Default::default()
        };
        assert_eq!(s.list_audit(&all).await.unwrap().len(), 5);
        // Person, action and time filters.
        let bob = q(&|q| q.actor_email = Some("Bob@example.com".into()));
        assert_eq!(at(s.list_audit(&bob).await.unwrap()), [1], "{}", db.label);
        let revokes = q(&|q| q.action = Some("token.revoke".into()));
        assert_eq!(at(s.list_audit(&revokes).await.unwrap()), [2]);
        let window = q(&|q| {
            q.from = Some(1);
            q.to = Some(2);
            q.limit = 10;
        });
        assert_eq!(at(s.list_audit(&window).await.unwrap()), [1]);
        // The people of one tenant, and of all.
        assert_eq!(
            s.audit_actors(Some(&tb.id)).await.unwrap(),
            ["admin@example.com"]
        );
        assert_eq!(
            s.audit_actors(None).await.unwrap(),
            ["admin@example.com", "Bob@example.com"]
        );
    }
}

#[tokio::test]
async fn event_histogram_counts_per_bucket_and_direction() {
    for db in test_stores().await {
        let s = &db.store;
        let (ta, ia) = tenant_with_integration(s, "Acme").await;
        let (tb, ib) = tenant_with_integration(s, "Globex").await;
        // Even `at` is inbound, odd is outbound (see `event`).
        s.insert_events(vec![
            event(&ta.id, &ia.id, 1_000, "a", "ok"), // bucket 0 inbound
            event(&ta.id, &ia.id, 1_001, "a", "error"), // bucket 0 outbound failure
            event(&ta.id, &ia.id, 1_999, "a", "retry"), // bucket 0 outbound failure
            event(&ta.id, &ia.id, 3_500, "b", "ok"), // bucket 2 inbound
            event(&ta.id, &ia.id, 999, "b", "ok"),   // before the range
            event(&ta.id, &ia.id, 5_000, "b", "ok"), // after the range
            event(&tb.id, &ib.id, 1_500, "c", "error"), // other integration
        ])
        .await
        .unwrap();
        let h = s.event_histogram(&ia.id, 1_000, 1_000, 4).await.unwrap();
        assert_eq!(h.len(), 4, "{}", db.label);
        assert_eq!(
            h.iter().map(|b| b.start).collect::<Vec<_>>(),
            vec![1_000, 2_000, 3_000, 4_000]
        );
        assert_eq!(
            (h[0].inbound, h[0].outbound, h[0].failures),
            (1, 2, 2),
            "{}",
            db.label
        );
        assert_eq!((h[1].inbound, h[1].outbound, h[1].failures), (0, 0, 0));
        assert_eq!((h[2].inbound, h[2].outbound, h[2].failures), (1, 0, 0));
        assert_eq!(
            h[3],
            store::Bucket {
                start: 4_000,
                ..Default::default()
            }
        );
        assert_eq!(s.last_event_at(&ia.id, None).await.unwrap(), Some(5_000));
        assert_eq!(
            s.last_event_at(&ia.id, Some(Direction::Outbound))
                .await
                .unwrap(),
            Some(1_999)
        );
    }
}

/// The outcome indexes are partial (`outcome <> 'ok'`, migration 000008): the outcome filter
/// must still find exactly the events it names, `ok` included, per integration and per tenant.
#[tokio::test]
async fn outcome_filters_find_every_outcome_through_the_partial_indexes() {
    for db in test_stores().await {
        let s = &db.store;
        let (ta, ia) = tenant_with_integration(s, "Acme").await;
        let (tb, ib) = tenant_with_integration(s, "Globex").await;
        let outcomes = ["ok", "ok", "error", "ok", "retry", "dry_run", "ok"];
        let mut batch: Vec<NewEvent> = (0..70i64)
            .map(|n| event(&ta.id, &ia.id, 1_000 + n, "a", outcomes[n as usize % 7]))
            .collect();
        batch.push(event(&tb.id, &ib.id, 1_000, "b", "error"));
        s.insert_events(batch).await.unwrap();

        for (outcome, expected) in [("ok", 40), ("error", 10), ("retry", 10), ("dry_run", 10)] {
            for scope in ["integration", "tenant"] {
                let mut q = EventQuery {
                    outcome: Some(outcome.into()),
                    limit: 7,
                    ..Default::default()
                };
                match scope {
                    "integration" => q.integration_id = Some(ia.id.clone()),
                    _ => q.tenant_id = Some(ta.id.clone()),
                }
                // Page through, so the keyset cursor is combined with the outcome filter too.
                let mut found = Vec::new();
                loop {
                    let page = s.list_events(&q).await.unwrap();
                    let Some(last) = page.last() else { break };
                    q.before_id = Some(last.id);
                    found.extend(page);
                }
                assert_eq!(found.len(), expected, "{}: {outcome} by {scope}", db.label);
                assert!(
                    found
                        .iter()
                        .all(|e| e.outcome == outcome && e.integration_id == ia.id),
                    "{}: {outcome} by {scope}",
                    db.label
                );
            }
        }
    }
}

/// The log view's outcome filter must read the partial outcome indexes: a query that doesn't
/// imply their `outcome <> 'ok'` would silently fall back to walking every event of the
/// integration or tenant. Checked on the statement `list_events` runs.
#[tokio::test]
async fn outcome_filters_use_the_partial_outcome_indexes() {
    use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, TransactionTrait};
    for db in test_stores().await {
        let s = &db.store;
        let (ta, ia) = tenant_with_integration(s, "Acme").await;
        s.insert_events(vec![event(&ta.id, &ia.id, 1, "a", "error")])
            .await
            .unwrap();
        let backend = s.db().get_database_backend();
        let cases = [
            (
                EventQuery {
                    integration_id: Some(ia.id.clone()),
                    outcome: Some("error".into()),
                    ..Default::default()
                },
                "idx_events_integration_outcome_at",
            ),
            (
                EventQuery {
                    tenant_id: Some(ta.id.clone()),
                    outcome: Some("retry".into()),
                    before_id: Some(1),
                    ..Default::default()
                },
                "idx_events_tenant_outcome_at",
            ),
        ];
        for (q, index) in cases {
            let select = q.select(Some(1)).build(backend);
            // PostgreSQL would rightly scan a table this small; ask it for its index plan.
            let txn = s.db().begin().await.unwrap();
            if backend == DbBackend::Postgres {
                txn.execute_unprepared("SET LOCAL enable_seqscan = off")
                    .await
                    .unwrap();
            }
            let plan = query_plan(&txn, select).await;
            txn.rollback().await.unwrap();
            assert!(
                plan.iter().any(|line| line.contains(index)),
                "{}: expected {index} in {plan:?}",
                db.label
            );
        }
    }
}
