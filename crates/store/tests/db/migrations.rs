use sea_orm::{ConnectionTrait, DbBackend, Statement};
use store::Store;
use store::testing::{test_stores, test_stores_with};

/// How many migrations `down` reverts to leave the first `kept` applied.
fn reverting_after(kept: usize) -> u32 {
    use migration::Migrator;
    use migration::sea_orm_migration::MigratorTrait;
    (Migrator::migrations().len() - kept) as u32
}

#[tokio::test]
async fn migrations_create_every_table_and_are_idempotent() {
    for db in test_stores().await {
        let conn = db.store.db();
        for table in [
            "tenants",
            "staff_users",
            "integrations",
            "scim_tokens",
            "role_rules",
            "scim_users",
            "scim_groups",
            "group_members",
            "target_links",
            "jobs",
            "provisioning_events",
            "audit_log",
            "deprovision_holds",
            "target_group_links",
        ] {
            let sql = format!("SELECT COUNT(*) AS n FROM {table}");
            let row = conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql));
            assert!(row.await.is_ok(), "{}: table {table} missing", db.label);
        }
        // A second run is a no-op.
        db.store.migrate().await.unwrap();
    }
}

#[tokio::test]
async fn sqlite_connection_pragmas_are_set() {
    for db in test_stores().await {
        if db.store.backend() != DbBackend::Sqlite {
            continue;
        }
        let conn = db.store.db();
        let pragma = |name: &str| {
            let sql = format!("PRAGMA {name}");
            async move {
                let row = conn
                    .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get_by_index::<String>(0)
                    .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
                    .unwrap()
            }
        };
        assert_eq!(pragma("journal_mode").await.to_lowercase(), "wal");
        assert_eq!(pragma("synchronous").await, "2", "synchronous=FULL");
        assert_eq!(pragma("foreign_keys").await, "1");
        assert_eq!(pragma("busy_timeout").await, "5000");
    }
}

#[tokio::test]
async fn deleting_an_integration_cascades() {
    for db in test_stores().await {
        let s = &db.store;
        let (tenant, integration) = crate::common::tenant_with_integration(s, "Acme").await;
        let u = crate::common::user(&integration.id, "alice@acme.test", 1);
        store::scim::insert_user(s.db(), &u).await.unwrap();
        s.issue_token(&integration.id, None, 1).await.unwrap();
        store::jobs::enqueue_job(
            s.db(),
            &integration.id,
            store::SubjectKind::User,
            &u.id,
            None,
            1,
        )
        .await
        .unwrap();
        assert!(
            s.delete_integration(&tenant.id, &integration.id)
                .await
                .unwrap()
        );
        assert_eq!(
            s.count_users(&integration.id).await.unwrap(),
            0,
            "{}",
            db.label
        );
        assert!(
            s.list_tokens(&integration.id).await.unwrap().is_empty(),
            "{}",
            db.label
        );
        assert_eq!(
            s.count_jobs(&integration.id, store::JobState::Pending)
                .await
                .unwrap(),
            0
        );
    }
}

#[tokio::test]
async fn instances_starting_together_migrate_one_after_the_other() {
    for db in test_stores_with(false).await {
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let (url, key) = (db.url.clone(), db.key.clone());
            tasks.push(tokio::spawn(async move {
                let s = Store::connect(&url, key).await?;
                s.migrate().await?;
                s.close().await
            }));
        }
        for t in tasks {
            t.await
                .unwrap()
                .unwrap_or_else(|e| panic!("{}: {e}", db.label));
        }
        db.store
            .create_tenant("after concurrent migrations")
            .await
            .unwrap();
    }
}

/// Migration 000008 makes the outcome indexes partial; its `down` restores the full ones, and
/// `up` again makes them partial.
#[tokio::test]
async fn the_outcome_indexes_are_partial_and_migration_8_reverts() {
    use migration::Migrator;
    use migration::sea_orm_migration::MigratorTrait;
    for db in test_stores().await {
        let conn = db.store.db();
        let backend = conn.get_database_backend();
        let definitions = || async {
            let sql = match backend {
                DbBackend::Sqlite => {
                    "SELECT sql AS def FROM sqlite_master WHERE name IN \
                     ('idx_events_integration_outcome_at', 'idx_events_tenant_outcome_at')"
                }
                _ => {
                    "SELECT indexdef AS def FROM pg_indexes WHERE indexname IN \
                     ('idx_events_integration_outcome_at', 'idx_events_tenant_outcome_at')"
                }
            };
            let rows = conn
                .query_all_raw(Statement::from_string(backend, sql))
                .await
                .unwrap();
            rows.iter()
                .map(|r| r.try_get::<String>("", "def").unwrap())
                .collect::<Vec<_>>()
        };
        let partial = definitions().await;
        assert_eq!(partial.len(), 2, "{}", db.label);
        assert!(
            partial
                .iter()
                .all(|d| d.contains("WHERE") && d.contains("'ok'")),
            "{}: {partial:?}",
            db.label
        );
        // In one transaction, as `Store::migrate` runs them (one pooled connection throughout).
        let txn = db.store.begin_write().await.unwrap();
        // Every migration after 000007, newest first (so 000009 and 000008 among them).
        Migrator::down(&txn, Some(reverting_after(7)))
            .await
            .unwrap();
        txn.commit().await.unwrap();
        let full = definitions().await;
        assert_eq!(full.len(), 2, "{}", db.label);
        assert!(
            full.iter().all(|d| !d.contains("WHERE")),
            "{}: {full:?}",
            db.label
        );
        db.store.migrate().await.unwrap();
        assert_eq!(definitions().await, partial, "{}", db.label);
    }
}

/// Migration 000009: on PostgreSQL every key column compares byte-wise (`COLLATE "C"`), human
/// text keeps the database's collation; `down` restores the default and `up` sets it again.
/// (SQLite's columns are `BINARY` already; there the migration does nothing.)
#[tokio::test]
async fn postgres_key_columns_are_byte_order_and_migration_9_reverts() {
    use migration::Migrator;
    use migration::sea_orm_migration::MigratorTrait;
    let Some(db) = store::testing::postgres_test_store().await else {
        return;
    };
    let conn = db.store.db();
    let collation = |table: &'static str, column: &'static str| async move {
        let sql = format!(
            "SELECT COALESCE(collation_name, 'default') AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' AND column_name = '{column}'"
        );
        let row = conn
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{table}.{column} missing"));
        row.try_get::<String>("", "c").unwrap()
    };
    let keys = [
        ("tenants", "id"),
        ("integrations", "id"),
        ("scim_users", "user_name_lower"),
        ("scim_users", "integration_id"),
        ("scim_groups", "display_name_lower"),
        ("group_members", "member_id"),
        ("jobs", "subject_id"),
        ("provisioning_events", "correlation_id"),
        ("provisioning_events", "subject_name"),
        ("scim_tokens", "token_hash"),
    ];
    let text = [("scim_users", "display_name"), ("tenants", "name")];
    for (t, c) in keys {
        assert_eq!(collation(t, c).await, "C", "{t}.{c}");
    }
    for (t, c) in text {
        assert_eq!(collation(t, c).await, "default", "{t}.{c}");
    }
    // Existing rows and their indexes survive both directions.
    let tenant = db.store.create_tenant("Acme").await.unwrap();
    let txn = db.store.begin_write().await.unwrap();
    Migrator::down(&txn, Some(reverting_after(8)))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    for (t, c) in keys {
        assert_eq!(collation(t, c).await, "default", "{t}.{c} after down");
    }
    db.store.migrate().await.unwrap();
    for (t, c) in keys {
        assert_eq!(collation(t, c).await, "C", "{t}.{c} after up");
    }
    assert_eq!(
        db.store
            .get_tenant(&tenant.id)
            .await
            .unwrap()
            .map(|t| t.name),
        Some("Acme".to_string())
    );
}

/// Migration 000010: integrations written before it read as the default policies; `down`
/// drops the guard and group tables and the column, `up` brings them back.
#[tokio::test]
async fn migration_10_adds_policies_and_the_guard_tables_and_reverts() {
    use migration::Migrator;
    use migration::sea_orm_migration::MigratorTrait;
    for db in test_stores().await {
        let (_, i) = crate::common::tenant_with_integration(&db.store, "Acme").await;
        assert_eq!(
            i.policies,
            store::IntegrationPolicies::default(),
            "{}",
            db.label
        );
        let conn = db.store.db();
        let backend = conn.get_database_backend();
        let txn = db.store.begin_write().await.unwrap();
        Migrator::down(&txn, Some(reverting_after(9)))
            .await
            .unwrap();
        txn.commit().await.unwrap();
        for table in ["deprovision_holds", "target_group_links"] {
            let sql = format!("SELECT COUNT(*) AS n FROM {table}");
            let gone = conn
                .query_one_raw(Statement::from_string(backend, sql))
                .await;
            assert!(gone.is_err(), "{}: {table} still there", db.label);
        }
        let col = conn
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT policies FROM integrations".to_string(),
            ))
            .await;
        assert!(col.is_err(), "{}: policies column still there", db.label);
        db.store.migrate().await.unwrap();
        let again = db
            .store
            .get_integration_unscoped(&i.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.policies, store::IntegrationPolicies::default());
    }
}

/// Migration 000013: the staff TOTP tables; `down` drops them (and the secrets with them), `up`
/// brings them back empty.
#[tokio::test]
async fn migration_13_adds_the_totp_tables_and_reverts() {
    use migration::Migrator;
    use migration::sea_orm_migration::MigratorTrait;
    for db in test_stores().await {
        let s = &db.store;
        let staff = s
            .create_staff_user(store::NewStaffUser {
                email: "ops@example.com".into(),
                password_hash: "h".into(),
                role: store::StaffRole::PlatformAdmin,
                tenant_id: None,
            })
            .await
            .unwrap();
        s.begin_totp_enrolment(&staff.id, b"0123456789abcdefghij", 1)
            .await
            .unwrap();
        assert!(
            s.confirm_totp(&staff.id, 7, &["a".repeat(64)], 2)
                .await
                .unwrap()
        );
        s.set_totp_required(store::PLATFORM_SCOPE, true, 3)
            .await
            .unwrap();
        let conn = s.db();
        let backend = conn.get_database_backend();
        let txn = s.begin_write().await.unwrap();
        Migrator::down(
            &txn,
            Some(reverting_after(kept_before("m20261207_000013_staff_totp"))),
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        for table in ["staff_totp", "staff_recovery_codes", "totp_requirements"] {
            let sql = format!("SELECT COUNT(*) AS n FROM {table}");
            let gone = conn
                .query_one_raw(Statement::from_string(backend, sql))
                .await;
            assert!(gone.is_err(), "{}: {table} still there", db.label);
        }
        s.migrate().await.unwrap();
        assert!(!s.totp_enabled(&staff.id).await.unwrap(), "{}", db.label);
        assert!(!s.totp_required(None).await.unwrap());
        assert_eq!(
            s.get_staff_user(&staff.id).await.unwrap().map(|u| u.email),
            Some("ops@example.com".into())
        );
    }
}

/// How many migrations come before the one named `name` (to revert it and every later one).
fn kept_before(name: &str) -> usize {
    use migration::Migrator;
    use migration::sea_orm_migration::MigratorTrait;
    Migrator::migrations()
        .iter()
        .position(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no migration {name}"))
}

/// Migration 000012: the sign-in guards' tables; `down` drops them, `up` brings them back.
#[tokio::test]
async fn migration_12_adds_the_signin_guard_tables_and_reverts() {
    use migration::Migrator;
    use migration::sea_orm_migration::MigratorTrait;
    for db in test_stores().await {
        let conn = db.store.db();
        let backend = conn.get_database_backend();
        let tables = ["login_failures", "setup_tokens"];
        let present = |table: &'static str| async move {
            let sql = format!("SELECT COUNT(*) AS n FROM {table}");
            conn.query_one_raw(Statement::from_string(backend, sql))
                .await
                .is_ok()
        };
        db.store
            .record_login_failure("email:a@x", 1, 1_000)
            .await
            .unwrap();
        let txn = db.store.begin_write().await.unwrap();
        Migrator::down(
            &txn,
            Some(reverting_after(kept_before(
                "m20261207_000012_signin_guards",
            ))),
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        for t in tables {
            assert!(!present(t).await, "{}: {t} still there", db.label);
        }
        db.store.migrate().await.unwrap();
        for t in tables {
            assert!(present(t).await, "{}: {t} missing after up", db.label);
        }
        db.store.add_setup_token("t", 10, 0).await.unwrap();
        assert!(db.store.setup_token_valid("t", 1).await.unwrap());
    }
}

/// Migration 000014: the budget columns of `rate_limits`; `down` drops them and keeps the call
/// spacing rows, `up` adds them back.
#[tokio::test]
async fn migration_14_adds_the_budget_columns_and_reverts() {
    use migration::Migrator;
    use migration::sea_orm_migration::MigratorTrait;
    for db in test_stores().await {
        let s = &db.store;
        s.reserve_budget("k", 5, 10, 1_000, 0).await.unwrap();
        let conn = s.db();
        let backend = conn.get_database_backend();
        let budget_column = || async move {
            conn.query_one_raw(Statement::from_string(
                backend,
                "SELECT budget_used FROM rate_limits".to_string(),
            ))
            .await
            .is_ok()
        };
        let txn = s.begin_write().await.unwrap();
        Migrator::down(
            &txn,
            Some(reverting_after(kept_before(
                "m20261207_000014_rate_limit_budgets",
            ))),
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        assert!(!budget_column().await, "{}: column still there", db.label);
        assert_eq!(
            s.reserve_rate_slot("k", 10, 0).await.unwrap(),
            0,
            "{}",
            db.label
        );
        s.migrate().await.unwrap();
        assert!(budget_column().await, "{}", db.label);
        assert!(
            s.budget_state("k")
                .await
                .unwrap()
                .is_some_and(|b| b.used == 0)
        );
    }
}

/// Migration 000016: the staff links table; `down` drops it (the links with it), `up` brings it
/// back empty and the accounts stay.
#[tokio::test]
async fn migration_16_adds_the_staff_links_and_reverts() {
    use migration::Migrator;
    use migration::sea_orm_migration::MigratorTrait;
    for db in test_stores().await {
        let s = &db.store;
        let staff = s
            .create_staff_user(store::NewStaffUser {
                email: "new@example.com".into(),
                password_hash: String::new(),
                role: store::StaffRole::Support,
                tenant_id: None,
            })
            .await
            .unwrap();
        s.issue_staff_token(&staff.id, store::StaffTokenPurpose::Invite, "t", 1, 100)
            .await
            .unwrap();
        let conn = s.db();
        let backend = conn.get_database_backend();
        let txn = s.begin_write().await.unwrap();
        Migrator::down(
            &txn,
            Some(reverting_after(kept_before(
                "m20261207_000016_staff_tokens",
            ))),
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        let gone = conn
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT COUNT(*) AS n FROM staff_tokens".to_string(),
            ))
            .await;
        assert!(gone.is_err(), "{}: staff_tokens still there", db.label);
        s.migrate().await.unwrap();
        assert!(
            s.staff_token("t", 2).await.unwrap().is_none(),
            "{}",
            db.label
        );
        assert!(s.get_staff_user(&staff.id).await.unwrap().is_some());
    }
}

/// Migration 000018: the notification tables; `down` drops them, `up` brings them back empty.
#[tokio::test]
async fn migration_18_adds_the_notification_tables_and_reverts() {
    use migration::Migrator;
    use migration::sea_orm_migration::MigratorTrait;
    for db in test_stores().await {
        let s = &db.store;
        let tenant = s.create_tenant("A").await.unwrap();
        s.create_notify_channel(
            &tenant.id,
            store::ChannelKind::Email,
            "a@b.example",
            None,
            1,
        )
        .await
        .unwrap();
        let conn = s.db();
        let backend = conn.get_database_backend();
        let count = |table: &'static str| async move {
            conn.query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
        };
        let tables = [
            "notify_channels",
            "notify_deliveries",
            "notify_state",
            "notify_lease",
        ];
        let txn = s.begin_write().await.unwrap();
        Migrator::down(
            &txn,
            Some(reverting_after(kept_before(
                "m20261207_000018_notifications",
            ))),
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        for t in tables {
            assert!(count(t).await.is_err(), "{}: {t} still there", db.label);
        }
        s.migrate().await.unwrap();
        for t in tables {
            assert!(count(t).await.is_ok(), "{}: {t} missing", db.label);
        }
        assert!(s.list_notify_channels(&tenant.id).await.unwrap().is_empty());
    }
}

/// Migration 000015: reconciliation's tables; `down` drops them (the snapshot with them), `up`
/// creates them again, empty.
#[tokio::test]
async fn migration_15_adds_the_reconciliation_tables_and_reverts() {
    use migration::Migrator;
    use migration::sea_orm_migration::MigratorTrait;
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = crate::common::tenant_with_integration(s, "Acme").await;
        s.recon_set_settings(&i.id, 7_200, true, 1).await.unwrap();
        let conn = s.db();
        let backend = conn.get_database_backend();
        let tables = || async move {
            let runs = conn
                .query_one_raw(Statement::from_string(
                    backend,
                    "SELECT COUNT(*) FROM recon_runs".to_string(),
                ))
                .await
                .is_ok();
            let accounts = conn
                .query_one_raw(Statement::from_string(
                    backend,
                    "SELECT COUNT(*) FROM recon_accounts".to_string(),
                ))
                .await
                .is_ok();
            (runs, accounts)
        };
        assert_eq!(tables().await, (true, true), "{}", db.label);
        let txn = s.begin_write().await.unwrap();
        Migrator::down(
            &txn,
            Some(reverting_after(kept_before(
                "m20261207_000015_reconciliation",
            ))),
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        assert_eq!(tables().await, (false, false), "{}", db.label);
        s.migrate().await.unwrap();
        assert_eq!(tables().await, (true, true), "{}", db.label);
        assert!(s.recon_run(&i.id).await.unwrap().is_none(), "{}", db.label);
    }
}
