//! Test databases (feature `testing`): run a test body once per backend, through the real
//! migrations.
//!
//! [`test_stores`] always yields a fresh SQLite file in a temporary folder and, when the
//! environment variable `SCIMBRIDGE_TEST_PG` holds a PostgreSQL server URL (e.g.
//! `postgres://postgres@127.0.0.1:5432`), a fresh database `scb_test_<random>` created through
//! the server's `postgres` database (with the ICU `en-US` collation where the server has ICU,
//! like a production database's linguistic locale) and dropped (`WITH (FORCE)`) when the
//! [`TestDb`] is dropped. This is the one place the crate reads the environment.
//!
//! ```ignore
//! for db in store::testing::test_stores().await {
//!     let store = &db.store;
//!     // … assertions, with `db.label` in their messages
//! }
//! ```

use crate::{Direction, MasterKey, NewEvent, OK_OUTCOME, Store, StoreOptions};
use rand::Rng;
use sea_orm::{ConnectionTrait, Database};

/// The environment variable naming the PostgreSQL server for tests.
pub const PG_ENV: &str = "SCIMBRIDGE_TEST_PG";

/// A migrated, empty store on one backend, and what is needed to reach it again.
pub struct TestDb {
    /// `"sqlite"` or `"postgres"`, for assertion messages.
    pub label: &'static str,
    /// The store, migrated.
    pub store: Store,
    /// Its master key.
    pub key: MasterKey,
    /// Its database URL (to open a second store on the same data).
    pub url: String,
    /// Removes the database when dropped (declared last, so it drops after `store`).
    pub guard: TestDbGuard,
}

/// Removes a test database when dropped: the SQLite folder, or the PostgreSQL database.
pub enum TestDbGuard {
    /// The temporary folder holding the SQLite file.
    Sqlite(tempfile::TempDir),
    /// A PostgreSQL database to drop through the admin URL.
    Postgres {
        /// URL of the server's `postgres` database.
        admin_url: String,
        /// Name of the test database.
        db_name: String,
    },
}

impl Drop for TestDbGuard {
    fn drop(&mut self) {
        let TestDbGuard::Postgres { admin_url, db_name } = self else {
            return;
        };
        let (admin_url, db_name) = (admin_url.clone(), db_name.clone());
        // Drop may run inside a runtime: do the async work on a thread with its own runtime.
        let worker = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) = Database::connect(admin_url).await {
                    let sql = format!(r#"DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)"#);
                    let _ = admin.execute_unprepared(&sql).await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = worker.join();
    }
}

/// One migrated, empty store per available backend (SQLite always; PostgreSQL when
/// [`PG_ENV`] is set). Panics with a clear message if a configured backend is unreachable.
pub async fn test_stores() -> Vec<TestDb> {
    test_stores_with(true).await
}

/// Like [`test_stores`], with the migrations left to the test when `migrate` is false.
pub async fn test_stores_with(migrate: bool) -> Vec<TestDb> {
    let mut out = vec![sqlite_store(migrate).await];
    out.extend(configured_postgres_store(migrate).await);
    out
}

/// A migrated, empty PostgreSQL store when [`PG_ENV`] is set, for tests of behaviour only
/// PostgreSQL has; `None` otherwise.
pub async fn postgres_test_store() -> Option<TestDb> {
    configured_postgres_store(true).await
}

async fn configured_postgres_store(migrate: bool) -> Option<TestDb> {
    let server = std::env::var(PG_ENV).ok()?;
    let server = server.trim();
    if server.is_empty() {
        return None;
    }
    Some(postgres_store(server, migrate).await)
}

/// A store on a fresh SQLite file in a temporary folder, migrated if `migrate`.
pub async fn sqlite_store(migrate: bool) -> TestDb {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temporary folder: {e}"),
    };
    let url = format!("sqlite://{}/test.db", dir.path().display());
    let key = MasterKey::generate();
    let store = connect(&url, &key, migrate).await;
    TestDb {
        label: "sqlite",
        store,
        key,
        url,
        guard: TestDbGuard::Sqlite(dir),
    }
}

/// A store on a fresh PostgreSQL database on `server`, migrated if `migrate`.
pub async fn postgres_store(server: &str, migrate: bool) -> TestDb {
    let base = server_base(server);
    let admin_url = format!("{base}/postgres");
    let db_name = format!("scb_test_{:016x}", rand::thread_rng().r#gen::<u64>());
    let admin = match Database::connect(admin_url.as_str()).await {
        Ok(c) => c,
        Err(e) => panic!("{PG_ENV}={server}: cannot connect to {admin_url}: {e}"),
    };
    // A linguistic collation, as production databases have (`en_US.utf8` in the official
    // image), so a query that depends on byte order fails here too; the server's default
    // locale where ICU is missing (PostgreSQL < 15 or built without it).
    let icu = format!(
        r#"CREATE DATABASE "{db_name}" TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"#
    );
    if admin.execute_unprepared(&icu).await.is_err()
        && let Err(e) = admin
            .execute_unprepared(&format!(r#"CREATE DATABASE "{db_name}""#))
            .await
    {
        panic!("cannot create test database {db_name}: {e}");
    }
    let _ = admin.close().await;
    // The guard exists before anything else can fail, so the database is always dropped.
    let guard = TestDbGuard::Postgres {
        admin_url,
        db_name: db_name.clone(),
    };
    let url = format!("{base}/{db_name}");
    let key = MasterKey::generate();
    let store = connect(&url, &key, migrate).await;
    TestDb {
        label: "postgres",
        store,
        key,
        url,
        guard,
    }
}

async fn connect(url: &str, key: &MasterKey, migrate: bool) -> Store {
    let opts = StoreOptions {
        max_connections: Some(4),
        ..StoreOptions::default()
    };
    let store = match Store::connect_with(url, key.clone(), opts).await {
        Ok(s) => s,
        Err(e) => panic!("cannot connect to {url}: {e}"),
    };
    if migrate && let Err(e) = store.migrate().await {
        panic!("migrations failed on {url}: {e}");
    }
    store
}

/// An inbound `GET /Users` event answered 200 in 1 ms, at `at` (epoch ms), for tests that
/// need events to write, count or prune; change what a test needs with struct update syntax.
pub fn inbound_event(at: i64, tenant: &str, integration: &str, correlation_id: &str) -> NewEvent {
    NewEvent {
        at,
        tenant_id: tenant.into(),
        integration_id: integration.into(),
        direction: Direction::Inbound,
        operation: "GET /Users".into(),
        subject_kind: None,
        subject_id: None,
        subject_name: None,
        http_status: Some(200),
        outcome: OK_OUTCOME.into(),
        duration_ms: Some(1),
        correlation_id: correlation_id.into(),
        attempt: None,
        detail: None,
    }
}

/// `scheme://authority` of a server URL, without any database path or query.
fn server_base(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}
