//! Hot SCIM reads on SQLite without sqlx's worker-thread hand-off.
//!
//! sqlx runs every SQLite statement on a thread of its own per connection and hands the
//! statement there and every row back through channels: two or more thread wake-ups per
//! query, which were about a third of a `userName eq` lookup's CPU (futex and scheduler).
//! A lookup from SQLite's page cache takes a few microseconds, less than one hand-off, so
//! [`DirectReader`] runs the SCIM lookups and pages on the calling thread with rusqlite
//! (the same SQLite library sqlx links), each on a pooled read connection with a prepared
//! statement cache. The SQL is still built by sea-query, so both paths run the same
//! statements. In WAL mode a reader never waits for a writer, so the calling thread is held
//! only for the query itself (only an exclusive lock taken by some other process, which
//! scimbridge never takes, would hold it up to the busy timeout). Writes and everything else
//! stay on sqlx.

use crate::entities::{scim_groups as g, scim_users as u};
use crate::{Result, StoreError};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, Row};
use sea_orm::Statement;
use sea_orm::sea_query::{Value, Values};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Idle read connections kept (more may be open while requests run concurrently).
const MAX_IDLE: usize = 8;
/// Prepared statements kept per connection (lookups, pages, counts).
const STATEMENT_CACHE: usize = 64;

/// A pool of read-only rusqlite connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct DirectReader {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

/// A row type that can be read from a rusqlite row by column name.
pub(crate) trait DirectRow: Sized {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;
}

impl DirectRow for u::Model {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(u::Model {
            id: r.get("id")?,
            integration_id: r.get("integration_id")?,
            user_name: r.get("user_name")?,
            user_name_lower: r.get("user_name_lower")?,
            external_id: r.get("external_id")?,
            display_name: r.get("display_name")?,
            active: r.get("active")?,
            resource: r.get("resource")?,
            version: r.get("version")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }
}

impl DirectRow for g::Model {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(g::Model {
            id: r.get("id")?,
            integration_id: r.get("integration_id")?,
            display_name: r.get("display_name")?,
            display_name_lower: r.get("display_name_lower")?,
            external_id: r.get("external_id")?,
            resource: r.get("resource")?,
            version: r.get("version")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }
}

impl DirectReader {
    pub(crate) fn new(path: PathBuf, busy_timeout: Duration) -> DirectReader {
        DirectReader {
            path,
            busy_timeout,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The rows of `stmt`.
    pub(crate) fn rows<T: DirectRow>(&self, stmt: Statement) -> Result<Vec<T>> {
        self.with_conn(|conn| {
            let mut st = conn.prepare_cached(&stmt.sql)?;
            let rows = st.query_map(
                rusqlite::params_from_iter(params(stmt.values)?),
                T::from_row,
            )?;
            rows.collect()
        })
    }

    /// The first column of the first row of `stmt`, as a count.
    pub(crate) fn count(&self, stmt: Statement) -> Result<u64> {
        self.with_conn(|conn| {
            let mut st = conn.prepare_cached(&stmt.sql)?;
            let n: i64 = st.query_row(rusqlite::params_from_iter(params(stmt.values)?), |r| {
                r.get(0)
            })?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let pooled = self.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match pooled {
            Some(c) => c,
            None => self.open().map_err(direct_error)?,
        };
        let result = f(&conn).map_err(direct_error);
        // A connection whose statement failed is dropped rather than reused.
        if result.is_ok()
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
        result
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(self.busy_timeout)?;
        // Only SELECTs run here; make that a guarantee.
        conn.pragma_update(None, "query_only", true)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

fn direct_error(e: rusqlite::Error) -> StoreError {
    StoreError::InvalidData(format!("database read failed: {e}"))
}

/// A statement's bound values as SQLite values, encoded as sqlx encodes them (booleans as
/// integers, everything we bind is text or a number). Moved, not copied: this is per query.
pub(crate) fn params(values: Option<Values>) -> rusqlite::Result<Vec<SqlValue>> {
    let Some(values) = values else {
        return Ok(Vec::new());
    };
    values
        .0
        .into_iter()
        .map(|v| {
            Ok(match v {
                Value::Bool(b) => b.map_or(SqlValue::Null, |b| SqlValue::Integer(i64::from(b))),
                Value::TinyInt(n) => n.map_or(SqlValue::Null, |n| SqlValue::Integer(n.into())),
                Value::SmallInt(n) => n.map_or(SqlValue::Null, |n| SqlValue::Integer(n.into())),
                Value::Int(n) => n.map_or(SqlValue::Null, |n| SqlValue::Integer(n.into())),
                Value::BigInt(n) => n.map_or(SqlValue::Null, SqlValue::Integer),
                Value::TinyUnsigned(n) => n.map_or(SqlValue::Null, |n| SqlValue::Integer(n.into())),
                Value::SmallUnsigned(n) => {
                    n.map_or(SqlValue::Null, |n| SqlValue::Integer(n.into()))
                }
                Value::Unsigned(n) => n.map_or(SqlValue::Null, |n| SqlValue::Integer(n.into())),
                Value::BigUnsigned(n) => match n {
                    None => SqlValue::Null,
                    Some(n) => SqlValue::Integer(i64::try_from(n).map_err(|_| unsupported(&v))?),
                },
                Value::Float(f) => f.map_or(SqlValue::Null, |f| SqlValue::Real(f.into())),
                Value::Double(f) => f.map_or(SqlValue::Null, SqlValue::Real),
                Value::String(s) => s.map_or(SqlValue::Null, SqlValue::Text),
                Value::Char(c) => c.map_or(SqlValue::Null, |c| SqlValue::Text(c.to_string())),
                Value::Bytes(b) => b.map_or(SqlValue::Null, SqlValue::Blob),
                other => return Err(unsupported(&other)),
            })
        })
        .collect()
}

fn unsupported(v: &Value) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(
        format!("a bound value of this type is not supported on the direct read path: {v:?}")
            .into(),
    )
}
