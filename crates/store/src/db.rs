//! The [`Store`] handle: connecting, pool configuration, migrations, transactions.

use crate::Result;
use crate::crypto::{MasterKey, SecretBox};
use crate::pg_lookup::UserNameLookups;
use crate::pg_read::PgReader;
use crate::sqlite_read::DirectReader;
use crate::sqlite_write::DirectWriter;
use crate::writer::{Writer, WriterConnections};
use migration::{Migrator, sea_orm_migration::MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Key of the PostgreSQL advisory lock held while migrating ("scimbrdg" in ASCII).
const MIGRATION_LOCK_ID: i64 = 0x7363_696d_6272_6467;

/// Pool settings. `None` picks the backend default: 8 connections for SQLite (one writer at a
/// time anyway), 32 for PostgreSQL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Maximum pooled connections.
    pub max_connections: Option<u32>,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long to wait for a free connection.
    pub acquire_timeout: Duration,
    /// SQLite: how long a statement waits for a lock before failing (`busy_timeout`).
    pub sqlite_busy_timeout: Duration,
    /// Log every SQL statement (debug level).
    pub log_statements: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(5),
            log_statements: false,
        }
    }
}

/// The application's handle on the database and the secret box. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    secrets: SecretBox,
    /// The group-commit writer behind [`Store::write`] (none outside a tokio runtime).
    writer: Option<Writer>,
    /// SQLite file: the direct read connections behind [`Store::list_users`] and
    /// [`Store::get_user`].
    direct: Option<Arc<DirectReader>>,
    /// PostgreSQL: the held read connections behind the same reads.
    pg_reads: Option<Arc<PgReader>>,
    /// PostgreSQL: userName lookups, batched on those connections while others run.
    pg_lookups: Option<Arc<UserNameLookups>>,
}

impl Store {
    /// Connects with default [`StoreOptions`]. See [`Store::connect_with`].
    pub async fn connect(url: &str, master_key: MasterKey) -> Result<Store> {
        Self::connect_with(url, master_key, StoreOptions::default()).await
    }

    /// Connects to `sqlite://path` (the folder and file are created if missing; every
    /// connection runs with WAL, `synchronous=FULL`, foreign keys on and a busy timeout) or to
    /// `postgres://…`. Does not migrate: call [`Store::migrate`].
    pub async fn connect_with(
        url: &str,
        master_key: MasterKey,
        opts: StoreOptions,
    ) -> Result<Store> {
        let url = &*loopback_without_tls(url);
        let mut co = pool_options(url, &opts);
        let mut writer = WriterConnections::default();
        let mut direct = None;
        if is_sqlite(url) {
            if let Some(parent) = sqlite_path(url)
                .and_then(Path::parent)
                .filter(|p| !p.as_os_str().is_empty())
            {
                crate::files::create_private_dir(parent)?;
            }
            // Before SQLite creates it (world-readable under the usual umask).
            if let Some(path) = sqlite_path(url).filter(|_| !url.contains(":memory:")) {
                crate::files::secure_sqlite_files(path)?;
            }
            // Every connection to `:memory:` is its own database: keep just one, and no
            // separate writer connection.
            let in_memory = url.contains(":memory:");
            let default_max = if in_memory { 1 } else { 8 };
            co.max_connections(opts.max_connections.unwrap_or(default_max));
            sqlite_pragmas(&mut co, &opts, None);
            if !in_memory {
                // The group-commit writer keeps one connection of its own. Its page cache
                // then stays warm between batches: SQLite drops a connection's whole cache
                // when another connection has written since its last transaction, so a writer
                // taking any pooled connection re-read its indexes from the file every batch.
                let mut wo = pool_options(url, &opts);
                wo.max_connections(1).min_connections(1);
                sqlite_pragmas(&mut wo, &opts, Some(WRITER_CACHE_KIB));
                writer.sqlx = Some(Database::connect(wo).await?);
                if let Some(path) = sqlite_path(url) {
                    // The file exists now: the writer's sqlx connection created it.
                    writer.direct = Some(Arc::new(DirectWriter::open(
                        path,
                        opts.sqlite_busy_timeout,
                        WRITER_CACHE_KIB,
                    )?));
                    direct = Some(Arc::new(DirectReader::new(
                        path.to_path_buf(),
                        opts.sqlite_busy_timeout,
                    )));
                }
            }
        } else {
            co.max_connections(opts.max_connections.unwrap_or(32));
        }
        let db = Database::connect(co).await?;
        let mut store = Store::with_writer(db, SecretBox::new(&master_key), writer);
        store.direct = direct;
        if store.backend() == DbBackend::Postgres {
            let pool = store.db.get_postgres_connection_pool().clone();
            let reads = Arc::new(PgReader::new(pool));
            store.pg_lookups = Some(Arc::new(UserNameLookups::new(Arc::clone(&reads))));
            store.pg_reads = Some(reads);
        }
        Ok(store)
    }

    /// Wraps an existing connection (tests, tools).
    pub fn from_connection(db: DatabaseConnection, master_key: &MasterKey) -> Store {
        Store::with_writer(db, SecretBox::new(master_key), WriterConnections::default())
    }

    /// Starts the group-commit writer (on the current runtime, if any) on `writer`'s
    /// connections.
    fn with_writer(db: DatabaseConnection, secrets: SecretBox, writer: WriterConnections) -> Store {
        let mut store = Store {
            db,
            secrets,
            writer: None,
            direct: None,
            pg_reads: None,
            pg_lookups: None,
        };
        // The writer's own handle has no writer: the queue closes with the last Store.
        store.writer = Writer::start(store.clone(), writer);
        store
    }

    /// The direct SQLite read connections, if this store has them.
    pub(crate) fn direct(&self) -> Option<&DirectReader> {
        self.direct.as_deref()
    }

    /// The held PostgreSQL read connections, if this store has them.
    pub(crate) fn pg_reads(&self) -> Option<&PgReader> {
        self.pg_reads.as_deref()
    }

    /// The batched PostgreSQL userName lookups, if this store has them.
    pub(crate) fn pg_lookups(&self) -> Option<&Arc<UserNameLookups>> {
        self.pg_lookups.as_ref()
    }

    /// The group-commit writer, if this store has one.
    pub(crate) fn writer(&self) -> Option<&Writer> {
        self.writer.as_ref()
    }

    /// Applies every pending migration, all in one transaction that first takes a lock, so
    /// several instances starting at once migrate one after the other (PostgreSQL: an
    /// advisory lock; SQLite: `BEGIN IMMEDIATE`).
    pub async fn migrate(&self) -> Result<()> {
        let txn = self.begin_write().await?;
        if self.backend() == DbBackend::Postgres {
            txn.execute_unprepared(&format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"
            ))
            .await?;
        }
        Migrator::up(&txn, None).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The connection pool, for callers that build their own queries or transactions.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Which database this is.
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Begins a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`, so it takes
    /// the write lock up front and waits (busy timeout) instead of failing when a read inside
    /// it later has to become a write.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction> {
        begin_immediate(&self.db).await
    }

    /// The secret box built from the master key.
    pub fn secret_box(&self) -> &SecretBox {
        &self.secrets
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<()> {
        if let Some(reads) = &self.pg_reads {
            reads.close().await;
        }
        Ok(self.db.close().await?)
    }
}

/// A write transaction on `conn` (`BEGIN IMMEDIATE` on SQLite).
pub(crate) async fn begin_immediate(conn: &DatabaseConnection) -> Result<DatabaseTransaction> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    Ok(conn.begin_with_options(options).await?)
}

/// Page cache of the writer's own SQLite connection (the pooled readers keep SQLite's default
/// 2 MiB): enough for the indexes' inner pages and the hot leaves of a large directory.
const WRITER_CACHE_KIB: u32 = 8 * 1024;

/// Pool options common to every backend and pool.
fn pool_options(url: &str, opts: &StoreOptions) -> ConnectOptions {
    let mut co = ConnectOptions::new(url.to_owned());
    co.min_connections(opts.min_connections)
        .acquire_timeout(opts.acquire_timeout)
        // Ping only connections idle long enough to have been dropped: a ping on every
        // acquire was a whole extra round trip per query (~20 % of a lookup's CPU).
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(opts.log_statements);
    co
}

/// Every SQLite connection runs with WAL, `synchronous=FULL` (a commit is on disk before it is
/// reported), foreign keys and a busy timeout; `cache_kib` enlarges its page cache.
fn sqlite_pragmas(co: &mut ConnectOptions, opts: &StoreOptions, cache_kib: Option<u32>) {
    let busy = opts.sqlite_busy_timeout;
    co.map_sqlx_sqlite_opts(move |o: SqliteConnectOptions| {
        let o = o
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(busy);
        match cache_kib {
            // A negative cache_size is in KiB.
            Some(kib) => o.pragma("cache_size", format!("-{kib}")),
            None => o,
        }
    });
}

/// A PostgreSQL URL naming a loopback host and no `sslmode` gets `sslmode=disable`: sqlx
/// otherwise negotiates TLS (`prefer`), which protects nothing on loopback and cost about a
/// quarter of the server's CPU per lookup. Any explicit `sslmode` is kept as given.
fn loopback_without_tls(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return url.into();
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if host_port.starts_with('[') {
        host_port
            .split(']')
            .next()
            .map(|h| &h[1..])
            .unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "::1");
    if !loopback || query.split('&').any(|p| p.starts_with("sslmode=")) {
        return url.into();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sslmode=disable").into()
}

fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// The file path of a `sqlite://path?…` / `sqlite:path` URL, if it names a file.
fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        None
    } else {
        Some(Path::new(path))
    }
}

#[cfg(test)]
mod tests {
    use super::{loopback_without_tls, sqlite_path};

    #[test]
    fn loopback_postgres_skips_tls_unless_asked() {
        for (given, used) in [
            (
                "postgres://postgres@127.0.0.1:5432/db",
                "postgres://postgres@127.0.0.1:5432/db?sslmode=disable",
            ),
            (
                "postgres://u:p@localhost/db?application_name=x",
                "postgres://u:p@localhost/db?application_name=x&sslmode=disable",
            ),
            (
                "postgresql://u@[::1]:5432/db",
                "postgresql://u@[::1]:5432/db?sslmode=disable",
            ),
            // An explicit choice is kept; other hosts are left alone.
            (
                "postgres://u@127.0.0.1/db?sslmode=require",
                "postgres://u@127.0.0.1/db?sslmode=require",
            ),
            (
                "postgres://u@db.internal:5432/db",
                "postgres://u@db.internal:5432/db",
            ),
            (
                "postgres://u@127.0.0.1.example.com/db",
                "postgres://u@127.0.0.1.example.com/db",
            ),
            ("sqlite://data/x.db", "sqlite://data/x.db"),
        ] {
            assert_eq!(loopback_without_tls(given), used, "{given}");
        }
    }
    use std::path::Path;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite:///var/x/db.sqlite"),
            Some(Path::new("/var/x/db.sqlite"))
        );
        assert_eq!(
            sqlite_path("sqlite://data/db.sqlite?mode=rwc"),
            Some(Path::new("data/db.sqlite"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
