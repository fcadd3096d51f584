//! The sign-in guards shared across instances (`login_failures`, `setup_tokens`) and the
//! SQLite backup.

use sea_orm::{ConnectionTrait, Statement};
use store::Store;
use store::testing::test_stores;

const W: i64 = 900_000;

#[tokio::test]
async fn failures_count_per_key_within_a_window_and_restart_after_it() {
    for db in test_stores().await {
        let s = &db.store;
        for i in 1..=3 {
            let f = s.record_login_failure("email:a@x", 1_000, W).await.unwrap();
            assert_eq!((f.failures, f.window_start), (i, 1_000), "{}", db.label);
        }
        // Another key counts on its own.
        assert_eq!(
            s.record_login_failure("email:b@x", 2_000, W)
                .await
                .unwrap()
                .failures,
            1
        );
        // Still inside the window: counts on from the same start.
        let f = s
            .record_login_failure("email:a@x", 1_000 + W - 1, W)
            .await
            .unwrap();
        assert_eq!((f.failures, f.window_start), (4, 1_000), "{}", db.label);
        // Window over: starts again at 1, from now.
        let f = s
            .record_login_failure("email:a@x", 2_000 + W, W)
            .await
            .unwrap();
        assert_eq!((f.failures, f.window_start), (1, 2_000 + W), "{}", db.label);
        // …and that write pruned b's finished window.
        assert_eq!(
            s.login_failures("email:b@x").await.unwrap(),
            None,
            "{}",
            db.label
        );
        s.clear_login_failures("email:a@x").await.unwrap();
        assert_eq!(s.login_failures("email:a@x").await.unwrap(), None);
        // Keys are stored hashed: the email never reaches the table.
        s.record_login_failure("email:secret@x", 5_000, W)
            .await
            .unwrap();
        let conn = s.db();
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT key_hash FROM login_failures",
            ))
            .await
            .unwrap();
        for r in rows {
            let k: String = r.try_get("", "key_hash").unwrap();
            assert!(!k.contains("secret") && k.len() == 64, "{}: {k}", db.label);
        }
    }
}

#[tokio::test]
async fn concurrent_failures_from_two_stores_are_all_counted() {
    for db in test_stores().await {
        let other = Store::connect(&db.url, db.key.clone()).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = if i % 2 == 0 {
                db.store.clone()
            } else {
                other.clone()
            };
            tasks.push(tokio::spawn(async move {
                s.record_login_failure("ip:10.0.0.1", 1_000, W).await
            }));
        }
        let mut seen: Vec<u32> = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap().unwrap().failures);
        }
        seen.sort_unstable();
        assert_eq!(seen, (1..=20).collect::<Vec<_>>(), "{}", db.label);
    }
}

#[tokio::test]
async fn setup_tokens_are_hashed_live_until_expiry_and_used_once_for_all() {
    for db in test_stores().await {
        let s = &db.store;
        assert!(!s.setup_token_valid("one", 0).await.unwrap());
        s.add_setup_token("one", 10_000, 0).await.unwrap();
        // A second instance adds its own; the first stays valid.
        s.add_setup_token("two", 20_000, 1).await.unwrap();
        assert!(s.setup_token_valid("one", 5).await.unwrap(), "{}", db.label);
        assert!(s.setup_token_valid("two", 5).await.unwrap());
        assert!(
            !s.setup_token_valid("one", 10_000).await.unwrap(),
            "expired"
        );
        // A wrong or expired token uses nothing up.
        assert!(!s.consume_setup_token("three", 5).await.unwrap());
        assert!(!s.consume_setup_token("one", 10_000).await.unwrap());
        assert!(s.setup_token_valid("two", 10_000).await.unwrap());
        // Using one uses every live token up.
        s.add_setup_token("four", 30_000, 10_000).await.unwrap();
        assert!(
            s.consume_setup_token("two", 10_001).await.unwrap(),
            "{}",
            db.label
        );
        assert!(!s.consume_setup_token("two", 10_002).await.unwrap());
        assert!(
            !s.consume_setup_token("four", 10_002).await.unwrap(),
            "{}",
            db.label
        );
        assert!(!s.setup_token_valid("four", 10_002).await.unwrap());
        // Only hashes at rest.
        let conn = s.db();
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT token_hash FROM setup_tokens",
            ))
            .await
            .unwrap();
        let hashes: Vec<String> = rows
            .iter()
            .map(|r| r.try_get("", "token_hash").unwrap())
            .collect();
        assert!(
            hashes.contains(&store::crypto::hash_token("four")),
            "{hashes:?}"
        );
        assert!(hashes.iter().all(|h| h.len() == 64), "{hashes:?}");
    }
}

#[tokio::test]
async fn racing_consumers_on_two_stores_accept_a_setup_token_exactly_once() {
    for db in test_stores().await {
        let other = Store::connect(&db.url, db.key.clone()).await.unwrap();
        for round in 0..5 {
            let now = round * 100_000;
            db.store
                .add_setup_token("a", now + 50_000, now)
                .await
                .unwrap();
            other.add_setup_token("b", now + 50_000, now).await.unwrap();
            let mut tasks = Vec::new();
            for i in 0..8 {
                let (s, t) = if i % 2 == 0 {
                    (db.store.clone(), "a")
                } else {
                    (other.clone(), "b")
                };
                tasks.push(tokio::spawn(async move {
                    s.consume_setup_token(t, now + 1).await
                }));
            }
            let mut accepted = 0;
            for t in tasks {
                accepted += usize::from(t.await.unwrap().unwrap());
            }
            assert_eq!(accepted, 1, "{} round {round}", db.label);
        }
    }
}

#[tokio::test]
async fn sqlite_backup_is_a_0600_copy_and_refuses_to_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    for db in test_stores().await {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("backup.db");
        if db.label != "sqlite" {
            assert!(matches!(
                db.store.backup_sqlite(&dest, false).await,
                Err(store::BackupError::NotSqliteFile)
            ));
            continue;
        }
        let t = db.store.create_tenant("Acme").await.unwrap();
        let bytes = db.store.backup_sqlite(&dest, false).await.unwrap();
        let meta = std::fs::metadata(&dest).unwrap();
        assert_eq!(meta.len(), bytes);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        // No leftovers beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        db.store.create_tenant("After").await.unwrap();
        assert!(matches!(
            db.store.backup_sqlite(&dest, false).await,
            Err(store::BackupError::Exists(_))
        ));
        let copy = Store::connect(&format!("sqlite://{}", dest.display()), db.key.clone())
            .await
            .unwrap();
        assert_eq!(copy.get_tenant(&t.id).await.unwrap().unwrap().name, "Acme");
        assert_eq!(
            copy.list_tenants().await.unwrap().len(),
            1,
            "the older copy"
        );
        copy.close().await.unwrap();
        // --force replaces it, still 0600, even over a world-readable file.
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644)).unwrap();
        db.store.backup_sqlite(&dest, true).await.unwrap();
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let copy = Store::connect(&format!("sqlite://{}", dest.display()), db.key.clone())
            .await
            .unwrap();
        assert_eq!(copy.list_tenants().await.unwrap().len(), 2);
        copy.close().await.unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    !e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with("backup.db")
                })
                .count(),
            0
        );
    }
}
