//! The group-commit writer's statements on SQLite without sqlx's worker-thread hand-off.
//!
//! The writer ([`crate::writer`]) runs every write unit of a batch one after the other. On
//! sqlx each statement is handed to the connection's worker thread and its result handed
//! back: two thread wake-ups per statement on the writer's serial path, which were most of a
//! create's and a PATCH's writer time (futex and scheduler in the profiles). [`DirectWriter`]
//! runs the statements on the writer's own thread with rusqlite (the same SQLite library sqlx
//! links) on a connection of its own. The SQL is still the one sea-query builds.
//!
//! It only executes statements ([`crate::Execute`]): the hot units (create, update, delete
//! of a user, their jobs, the event batches) need nothing else. A unit that uses sea-orm on
//! its transaction (e.g. reading rows to resolve a group's members) is refused here, the
//! writer notices ([`DirectWriter::take_refused`]), rolls the batch back and runs it again on
//! its sqlx connection. Units may run more than once anyway (see [`crate::Store::write`]).

use crate::sqlite_read::params;
use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags, ffi};
use sea_orm::{DbErr, RuntimeErr, Statement};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Prefix of the error text of a unique-constraint violation on this path (sea-orm's
/// `sql_err()` only recognises sqlx's errors; see [`is_unique_violation`]).
const UNIQUE_VIOLATION: &str = "unique constraint violated: ";
/// Prepared statements kept (a few per kind of write unit).
const STATEMENT_CACHE: usize = 128;
/// Longest statement text kept prepared. The write units' statements are a few hundred
/// bytes; a longer one is a multi-row statement whose text changes with its row count, so a
/// cached copy would hardly be reused and would pin its compiled program (~1 KB a row).
const CACHED_SQL_MAX: usize = 4096;

/// The writer's rusqlite connection.
#[derive(Debug)]
pub(crate) struct DirectWriter {
    conn: Mutex<Connection>,
    /// A unit used sea-orm during the current transaction (see the module docs).
    refused: AtomicBool,
}

impl DirectWriter {
    /// Opens a connection to the existing database file `path` with the pragmas of every
    /// scimbridge connection (WAL, `synchronous=FULL`, foreign keys, busy timeout) and a page
    /// cache of `cache_kib`.
    pub(crate) fn open(path: &Path, busy_timeout: Duration, cache_kib: u32) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|conn| {
            conn.busy_timeout(busy_timeout)?;
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))?;
            // FULL: a COMMIT returns only once the WAL is synced, so a 201 is durable.
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", true)?;
            // A negative cache_size is in KiB.
            conn.pragma_update(None, "cache_size", -i64::from(cache_kib))?;
            // A statement inside the batch's transaction that may fail midway (any insert
            // into a table with a unique index) journals the pages it changes so it can be
            // undone alone. With the default temp store that journal spills to a temporary
            // file: one pwrite per page, ~20 % of the writer's CPU during lookups. In memory
            // it is a copy of the few pages one statement touches.
            conn.pragma_update(None, "temp_store", "MEMORY")?;
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            Ok(conn)
        })
        .map_err(|e| StoreError::InvalidData(format!("cannot open the database writer: {e}")))?;
        Ok(DirectWriter {
            conn: Mutex::new(conn),
            refused: AtomicBool::new(false),
        })
    }

    /// `BEGIN IMMEDIATE`: takes the write lock now (waiting up to the busy timeout).
    pub(crate) fn begin(&self) -> Result<()> {
        self.refused.store(false, Ordering::Relaxed);
        self.batch("BEGIN IMMEDIATE")
    }

    /// `COMMIT`; on failure the transaction is rolled back, so the connection is clean.
    pub(crate) fn commit(&self) -> Result<()> {
        let committed = self.batch("COMMIT");
        if committed.is_err() {
            let _ = self.rollback();
        }
        committed
    }

    /// `ROLLBACK` of the open transaction, if any.
    pub(crate) fn rollback(&self) -> Result<()> {
        let conn = self.lock()?;
        if conn.is_autocommit() {
            return Ok(());
        }
        conn.execute_batch("ROLLBACK").map_err(write_error)
    }

    /// Records that a unit used sea-orm here, and returns the error it gets.
    pub(crate) fn refuse(&self) -> DbErr {
        self.refused.store(true, Ordering::Relaxed);
        DbErr::Custom("the direct writer only executes statements; the batch runs again".into())
    }

    /// True once if a unit was refused since [`DirectWriter::begin`].
    pub(crate) fn take_refused(&self) -> bool {
        self.refused.swap(false, Ordering::Relaxed)
    }

    /// A statement that returns no rows (e.g. `SAVEPOINT unit`).
    pub(crate) fn batch(&self, sql: &str) -> Result<()> {
        self.lock()?.execute_batch(sql).map_err(write_error)
    }

    /// Runs `stmt` (with its bound values); the number of rows it changed.
    pub(crate) fn execute(&self, stmt: Statement) -> std::result::Result<u64, DbErr> {
        let conn = self.lock().map_err(|e| exec_error(e.to_string()))?;
        let run = || {
            let values = params(stmt.values)?;
            with_statement(&conn, &stmt.sql, |prepared| {
                prepared.execute(rusqlite::params_from_iter(values))
            })
        };
        let changed = run().map_err(statement_error)?;
        Ok(u64::try_from(changed).unwrap_or(0))
    }

    /// Runs `stmt`, which returns rows whose first column is an integer (`… RETURNING id`);
    /// those integers.
    pub(crate) fn query_i64s(&self, stmt: Statement) -> std::result::Result<Vec<i64>, DbErr> {
        let conn = self.lock().map_err(|e| exec_error(e.to_string()))?;
        let run = || {
            let values = params(stmt.values)?;
            with_statement(&conn, &stmt.sql, |prepared| {
                let rows = prepared.query_map(rusqlite::params_from_iter(values), |r| r.get(0))?;
                rows.collect::<rusqlite::Result<Vec<i64>>>()
            })
        };
        run().map_err(statement_error)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| StoreError::InvalidData("the database writer's lock is poisoned".into()))
    }
}

/// True if `err` is a unique-constraint violation reported by this path.
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err, DbErr::Exec(RuntimeErr::Internal(m)) if m.starts_with(UNIQUE_VIOLATION))
}

/// Runs `f` on `sql` prepared: from the statement cache when the text is short (see
/// [`CACHED_SQL_MAX`]), else prepared for this run only.
fn with_statement<T>(
    conn: &Connection,
    sql: &str,
    f: impl FnOnce(&mut rusqlite::Statement<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    if sql.len() <= CACHED_SQL_MAX {
        f(&mut *conn.prepare_cached(sql)?)
    } else {
        f(&mut conn.prepare(sql)?)
    }
}

fn write_error(e: rusqlite::Error) -> StoreError {
    StoreError::Db(statement_error(e))
}

/// A failed statement as sea-orm reports one, unique violations marked as such.
fn statement_error(e: rusqlite::Error) -> DbErr {
    let unique = matches!(
        e.sqlite_error(),
        Some(f) if f.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    );
    if unique {
        exec_error(format!("{UNIQUE_VIOLATION}{e}"))
    } else {
        exec_error(format!("database write failed: {e}"))
    }
}

fn exec_error(text: String) -> DbErr {
    DbErr::Exec(RuntimeErr::Internal(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{DbBackend, Statement};

    fn writer() -> (tempfile::TempDir, DirectWriter) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE p (id TEXT PRIMARY KEY);
                 CREATE TABLE c (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                                 p TEXT REFERENCES p (id));",
            )
            .unwrap();
        let w = DirectWriter::open(&path, Duration::from_secs(1), 1024).unwrap();
        (dir, w)
    }

    /// This process's resident anonymous memory (the heap), from `/proc/self/status`.
    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn insert(id: &str, name: Option<&str>, p: Option<&str>) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO c (id, name, p) VALUES (?, ?, ?)",
            [
                id.into(),
                name.map(str::to_owned).into(),
                p.map(str::to_owned).into(),
            ],
        )
    }

    #[test]
    fn the_connection_is_durable_and_checks_foreign_keys() {
        let (_dir, w) = writer();
        let conn = w.lock().unwrap();
        let pragma = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| match v {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => format!("{other:?}"),
            })
            .unwrap()
        };
        assert_eq!(pragma("journal_mode"), "wal");
        assert_eq!(pragma("synchronous"), "2", "synchronous=FULL");
        assert_eq!(pragma("foreign_keys"), "1");
        assert_eq!(pragma("cache_size"), "-1024");
        assert_eq!(pragma("temp_store"), "2", "temp_store=MEMORY");
        drop(conn);
        let err = w
            .execute(insert("1", Some("a"), Some("missing")))
            .unwrap_err();
        assert!(!is_unique_violation(&err), "{err}");
    }

    #[test]
    fn multi_row_statements_are_not_kept_prepared() {
        // Eighty multi-row inserts of eighty row counts: eighty statement texts. Cached, each
        // would keep its compiled program (~130 KB here) for as long as the writer lives: the
        // process grew by 5.2 MB over forty of them that way, by 0.9 MB uncached.
        let (_dir, w) = writer();
        let run = |first: usize, rows: usize| {
            let sql = format!(
                "INSERT INTO c (id, name, p) VALUES {}",
                vec!["(?, ?, NULL)"; rows].join(", ")
            );
            assert!(sql.len() > CACHED_SQL_MAX);
            let values: Vec<sea_orm::Value> = (first..first + rows)
                .flat_map(|i| [i.to_string().into(), format!("n{i}").into()])
                .collect();
            let stmt = Statement::from_sql_and_values(DbBackend::Sqlite, sql, values);
            assert_eq!(w.execute(stmt).unwrap(), rows as u64);
        };
        run(0, 400); // warms up what every statement needs (schema, page cache)
        let before = resident_kib();
        let mut first = 400;
        for rows in 400..480 {
            run(first, rows);
            first += rows;
        }
        let grown = resident_kib().saturating_sub(before);
        assert!(grown < 3_072, "the process grew by {grown} KiB");
        // A short statement is still served from the cache: the same text runs again.
        assert_eq!(w.execute(insert("x", Some("x"), None)).unwrap(), 1);
        assert_eq!(w.execute(insert("y", Some("y"), None)).unwrap(), 1);
    }

    #[test]
    fn statements_count_rows_and_mark_unique_violations() {
        let (_dir, w) = writer();
        w.begin().unwrap();
        assert_eq!(w.execute(insert("1", Some("a"), None)).unwrap(), 1);
        let dup_name = w.execute(insert("2", Some("a"), None)).unwrap_err();
        assert!(is_unique_violation(&dup_name), "{dup_name}");
        let dup_id = w.execute(insert("1", Some("b"), None)).unwrap_err();
        assert!(is_unique_violation(&dup_id), "{dup_id}");
        let not_null = w.execute(insert("3", None, None)).unwrap_err();
        assert!(!is_unique_violation(&not_null), "{not_null}");
        w.commit().unwrap();

        // A rolled-back transaction leaves nothing; a refusal is reported once.
        w.begin().unwrap();
        assert_eq!(w.execute(insert("4", Some("d"), None)).unwrap(), 1);
        let _ = w.refuse();
        assert!(w.take_refused());
        assert!(!w.take_refused());
        w.rollback().unwrap();
        let update = Statement::from_string(DbBackend::Sqlite, "UPDATE c SET name = name || '!'");
        assert_eq!(w.execute(update).unwrap(), 1, "only the committed row");
    }
}
