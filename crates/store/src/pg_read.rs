//! PostgreSQL: SCIM user and group reads on held connections, without the pool's release ping.
//!
//! sqlx 0.9 pings every pooled connection it gets back (`PoolConnection`'s drop spawns a task
//! that sends `Sync` and waits for `ReadyForQuery`), to make sure a cancelled query left it
//! clean. For a lookup that is a second round trip, a second wake-up of a PostgreSQL backend
//! and of our side, per query. [`PgReader`] instead keeps a few connections taken from the
//! pool and reuses them. A connection goes back on its list only after its query completed
//! (so it is idle at `ReadyForQuery`); a failed or cancelled query drops the connection into
//! the pool, which pings or closes it as before. Nothing is cached: every read is a query.

use crate::{Result, StoreError};
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgPool, PgRow, Postgres};
use sea_orm::sqlx::{self, Row};
use sea_orm::{DbErr, FromQueryResult, QueryResult, RuntimeErr, Statement, Values};
use sea_query_sqlx::SqlxValues;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Connections kept between reads (the pool keeps the rest for writes, the UI and the worker).
const MAX_HELD: usize = 8;
/// A held connection idle this long goes back to the pool, which tests it before reuse (as
/// the pool does with its own idle connections).
const STALE_AFTER: Duration = Duration::from_secs(30);

/// Read connections held out of the PostgreSQL pool.
#[derive(Debug)]
pub(crate) struct PgReader {
    pool: PgPool,
    held: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
}

impl PgReader {
    pub(crate) fn new(pool: PgPool) -> PgReader {
        PgReader {
            pool,
            held: Mutex::new(Vec::new()),
        }
    }

    /// The rows of `stmt`, as `M`.
    pub(crate) async fn rows<M: FromQueryResult>(&self, stmt: Statement) -> Result<Vec<M>> {
        self.rows_of(|| query(&stmt)).await
    }

    /// The first column of the first row of `stmt`, as a count.
    pub(crate) async fn count(&self, stmt: Statement) -> Result<u64> {
        let rows = self.fetch_with(|| query(&stmt)).await?;
        let n: i64 = match rows.first() {
            Some(row) => row.try_get(0).map_err(db_error)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The rows of the query `make` builds (binding its own arguments, e.g. arrays), as `M`.
    /// `make` may be called twice: a read that failed on a held connection runs again.
    pub(crate) async fn rows_of<'q, M, A>(
        &self,
        make: impl Fn() -> sqlx::query::Query<'q, Postgres, A>,
    ) -> Result<Vec<M>>
    where
        M: FromQueryResult,
        A: 'q + sqlx::IntoArguments<Postgres>,
    {
        self.fetch_with(make)
            .await?
            .into_iter()
            .map(|row| Ok(M::from_query_result(&QueryResult::from(row), "")?))
            .collect()
    }

    async fn fetch_with<'q, A>(
        &self,
        make: impl Fn() -> sqlx::query::Query<'q, Postgres, A>,
    ) -> Result<Vec<PgRow>>
    where
        A: 'q + sqlx::IntoArguments<Postgres>,
    {
        if let Some(mut conn) = self.take_held() {
            match make().fetch_all(&mut *conn).await {
                Ok(rows) => {
                    self.give_back(conn);
                    return Ok(rows);
                }
                // The held connection may have been closed meanwhile (a server restart, an
                // idle timeout): a read can simply run again, on a connection the pool checks.
                Err(e) => tracing::debug!(error = %e, "a held read connection failed; retrying"),
            }
        }
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let rows = make().fetch_all(&mut *conn).await.map_err(db_error)?;
        self.give_back(conn);
        Ok(rows)
    }

    /// A held connection that was used recently; stale ones go back to the pool.
    fn take_held(&self) -> Option<PoolConnection<Postgres>> {
        let mut held = self.held.lock().ok()?;
        while let Some((conn, since)) = held.pop() {
            if since.elapsed() < STALE_AFTER {
                return Some(conn);
            }
            drop(conn);
        }
        None
    }

    fn give_back(&self, conn: PoolConnection<Postgres>) {
        if !self.pool.is_closed()
            && let Ok(mut held) = self.held.lock()
            && held.len() < MAX_HELD
        {
            held.push((conn, Instant::now()));
        }
    }

    /// Closes the pool. Its close waits until every connection is back, so the held ones are
    /// handed back once it is marked closed (from then on none is held again).
    pub(crate) async fn close(&self) {
        let closing = self.pool.close();
        if let Ok(mut held) = self.held.lock() {
            held.clear();
        }
        closing.await;
    }
}

/// `stmt` as a sqlx query with its values bound (as sea-orm's own PostgreSQL driver does).
fn query(stmt: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = stmt.values.clone().unwrap_or(Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

fn db_error(e: sqlx::Error) -> StoreError {
    StoreError::Db(DbErr::Query(RuntimeErr::SqlxError(Arc::new(e))))
}
