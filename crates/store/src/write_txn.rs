//! The transaction a write unit runs in ([`WriteTxn`]) and the one operation every write
//! connection offers ([`Execute`]).

use crate::sqlite_write::DirectWriter;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement,
};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs a statement that returns no rows and says how many rows it changed.
///
/// The hot write queries (`scim::insert_user`, `scim::update_user_from`, their `…_queuing_job`
/// forms, `scim::delete_user`, `jobs::enqueue_job`, event batches) take an `Execute`, so
/// inside [`crate::Store::write`] they also run on the SQLite writer's direct path, where
/// sea-orm's own execution is not available (see [`WriteTxn`]).
pub trait Execute: ConnectionTrait {
    /// Executes `stmt`; the number of rows it inserted, changed or deleted.
    fn execute_counted(&self, stmt: Statement) -> impl Future<Output = Result<u64, DbErr>> + Send;
}

impl Execute for DatabaseConnection {
    async fn execute_counted(&self, stmt: Statement) -> Result<u64, DbErr> {
        Ok(self.execute_raw(stmt).await?.rows_affected())
    }
}

impl Execute for DatabaseTransaction {
    async fn execute_counted(&self, stmt: Statement) -> Result<u64, DbErr> {
        Ok(self.execute_raw(stmt).await?.rows_affected())
    }
}

/// The transaction a unit of [`crate::Store::write`] runs in.
///
/// On sqlx (PostgreSQL, SQLite in memory, and the SQLite writer's fallback) it is a sea-orm
/// transaction and every sea-orm call works on it. On the SQLite writer's direct path only
/// [`Execute::execute_counted`] runs; any other use is refused with an error, and the writer
/// then runs the whole batch again on sqlx, so a unit's result never depends on the path.
#[derive(Debug)]
pub struct WriteTxn {
    inner: Inner,
    /// Set when a statement lost a deadlock or a serialization conflict (PostgreSQL): the
    /// batch is then run again unit by unit (see `writer`).
    contended: AtomicBool,
}

#[derive(Debug)]
enum Inner {
    Sqlx(DatabaseTransaction),
    Direct(Arc<DirectWriter>),
}

impl WriteTxn {
    pub(crate) fn sqlx(txn: DatabaseTransaction) -> WriteTxn {
        WriteTxn::new(Inner::Sqlx(txn))
    }

    /// A transaction `direct` has begun.
    pub(crate) fn direct(direct: Arc<DirectWriter>) -> WriteTxn {
        WriteTxn::new(Inner::Direct(direct))
    }

    fn new(inner: Inner) -> WriteTxn {
        WriteTxn {
            inner,
            contended: AtomicBool::new(false),
        }
    }

    /// Passes `result` on, noting whether it is a deadlock or serialization failure.
    fn noted<T>(&self, result: Result<T, DbErr>) -> Result<T, DbErr> {
        if let Err(e) = &result
            && (is_contention(e) || is_runtime_gone(e))
        {
            self.contended.store(true, Ordering::Relaxed);
        }
        result
    }

    /// True once if a statement on this transaction lost a deadlock or a serialization
    /// conflict (PostgreSQL), or could not be sent because its connection's runtime is
    /// stopping: the transaction is aborted then, and running it again can succeed.
    pub(crate) fn take_contended(&self) -> bool {
        self.contended.swap(false, Ordering::Relaxed)
    }

    /// True on the SQLite writer's direct path (for tests of which path ran).
    pub fn is_direct(&self) -> bool {
        matches!(self.inner, Inner::Direct(_))
    }

    /// Commits (on the direct path, a failed COMMIT is rolled back).
    pub(crate) async fn commit(self) -> crate::Result<()> {
        match self.inner {
            Inner::Sqlx(txn) => Ok(txn.commit().await?),
            Inner::Direct(d) => d.commit(),
        }
    }

    /// Rolls back.
    pub(crate) async fn rollback(self) -> crate::Result<()> {
        match self.inner {
            Inner::Sqlx(txn) => Ok(txn.rollback().await?),
            Inner::Direct(d) => d.rollback(),
        }
    }

    /// True once if a unit used sea-orm on this direct-path transaction (then refused, see
    /// above); always false on sqlx.
    pub(crate) fn take_refused(&self) -> bool {
        match &self.inner {
            Inner::Sqlx(_) => false,
            Inner::Direct(d) => d.take_refused(),
        }
    }

    /// Runs `stmt`, a statement returning rows whose first column is an integer (an
    /// `UPDATE … RETURNING id`), on either path; those integers.
    pub(crate) async fn query_i64s(&self, stmt: Statement) -> Result<Vec<i64>, DbErr> {
        match &self.inner {
            Inner::Sqlx(txn) => self
                .noted(txn.query_all_raw(stmt).await)?
                .iter()
                .map(|row| row.try_get_by_index::<i64>(0))
                .collect(),
            Inner::Direct(d) => d.query_i64s(stmt),
        }
    }

    /// Runs `sql`, a statement without values or rows (`SAVEPOINT …`, `ROLLBACK TO …`), on
    /// either path.
    pub(crate) async fn batch(&self, sql: &str) -> crate::Result<()> {
        match &self.inner {
            Inner::Sqlx(txn) => {
                txn.execute_unprepared(sql).await?;
                Ok(())
            }
            Inner::Direct(d) => d.batch(sql),
        }
    }
}

impl Execute for WriteTxn {
    async fn execute_counted(&self, stmt: Statement) -> Result<u64, DbErr> {
        match &self.inner {
            Inner::Sqlx(txn) => Ok(self.noted(txn.execute_raw(stmt).await)?.rows_affected()),
            Inner::Direct(d) => d.execute(stmt),
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        match &self.inner {
            Inner::Sqlx(txn) => txn.get_database_backend(),
            Inner::Direct(_) => DbBackend::Sqlite,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.inner {
            Inner::Sqlx(txn) => self.noted(txn.execute_raw(stmt).await),
            Inner::Direct(d) => Err(d.refuse()),
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.inner {
            Inner::Sqlx(txn) => self.noted(txn.execute_unprepared(sql).await),
            Inner::Direct(d) => Err(d.refuse()),
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.inner {
            Inner::Sqlx(txn) => self.noted(txn.query_one_raw(stmt).await),
            Inner::Direct(d) => Err(d.refuse()),
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.inner {
            Inner::Sqlx(txn) => self.noted(txn.query_all_raw(stmt).await),
            Inner::Direct(d) => Err(d.refuse()),
        }
    }
}

/// A pooled connection opened on a runtime that is shutting down (an HTTP worker thread's,
/// at a graceful stop) cannot send anything: tokio refuses the I/O locally, so nothing
/// reached the database and the work can run again on another connection.
pub(crate) fn is_runtime_gone(err: &DbErr) -> bool {
    err.to_string()
        .contains("context was found, but it is being shutdown")
}

/// A deadlock (`40P01`) or serialization failure (`40001`): PostgreSQL aborted the
/// transaction to break a conflict with another one, and running it again can succeed.
pub(crate) fn is_contention(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    if let DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) = err
        && let sea_orm::sqlx::Error::Database(db) = &**e
    {
        return matches!(db.code().as_deref(), Some("40P01" | "40001"));
    }
    false
}
