//! Group commit: many requests' write transactions committed with one fsync.
//!
//! On SQLite only one transaction writes at a time and every COMMIT waits for an fsync
//! (`synchronous=FULL`), so one transaction per request caps writes at one per fsync
//! (~1.7 ms here). [`Store::write`] instead hands its unit of work to one writer task, which
//! runs every unit queued meanwhile in one transaction, commits once and only then answers
//! every caller: a success is reported only once it is durable, and a failed commit fails
//! every unit of the batch.
//!
//! A failing unit must undo only its own changes and get its own error. The writer first runs
//! the batch optimistically, without savepoints: units rarely fail, and a SAVEPOINT per unit
//! is one more statement on the writer's serial path (measured: ~45 % more creates per second
//! without it). If any unit fails, that attempt is rolled back whole and the batch runs again
//! with each unit inside its own SAVEPOINT, so the failing one undoes only itself. Units are
//! therefore `Fn`: they may run twice, and only the last run's result is delivered.
//!
//! PostgreSQL already shares one WAL flush between concurrent commits, so there each unit
//! runs in its own transaction from the pool.

use crate::db::begin_immediate;
use crate::{Result, Store, StoreError};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Most units committed together (bounds the time the write lock is held).
const MAX_BATCH: usize = 256;

/// Reports a unit's outcome once the batch's commit is known.
type Deliver = Box<dyn FnOnce(Option<StoreError>) + Send>;
/// A queued unit: runs on the batch transaction (possibly twice, see the module docs), says
/// whether it succeeded and how to deliver that run's result.
type Job = Box<
    dyn Fn(Arc<DatabaseTransaction>) -> Pin<Box<dyn Future<Output = (bool, Deliver)> + Send>>
        + Send
        + Sync,
>;

/// The queue of the writer task (SQLite only).
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Job>,
}

impl Writer {
    /// Starts the writer task on the current tokio runtime; `None` outside one. Batches run
    /// on `conn` if given (a connection of the writer's own), else on pooled connections.
    pub(crate) fn start(store: Store, conn: Option<DatabaseConnection>) -> Option<Writer> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let (tx, rx) = mpsc::unbounded_channel();
        handle.spawn(run(store, conn, rx));
        Some(Writer { tx })
    }
}

impl Store {
    /// Runs `unit` in a write transaction and returns its result once committed. An `Err`
    /// from `unit` undoes its changes (and only its changes). The unit must not keep the
    /// transaction after it returns, and may be run more than once (on SQLite, when another
    /// unit of its batch failed): it must not have effects outside the transaction.
    pub async fn write<T, E, F, Fut>(&self, unit: F) -> std::result::Result<T, E>
    where
        F: Fn(Arc<DatabaseTransaction>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let Some(writer) = self.writer() else {
            return self.write_alone(unit).await;
        };
        let (tx, rx) = oneshot::channel();
        // Shared by every run of the unit; the delivered run takes it.
        let reply = Arc::new(Mutex::new(Some(tx)));
        let unit = Arc::new(unit);
        let job: Job = Box::new(move |txn| {
            let (unit, reply) = (Arc::clone(&unit), Arc::clone(&reply));
            Box::pin(async move {
                let result = unit(txn).await;
                let ok = result.is_ok();
                let deliver: Deliver = Box::new(move |commit_error| {
                    if let Some(tx) = reply.lock().ok().and_then(|mut r| r.take()) {
                        let _ = tx.send(match commit_error {
                            None => result,
                            Some(e) => Err(E::from(e)),
                        });
                    }
                });
                (ok, deliver)
            })
        });
        writer
            .tx
            .send(job)
            .map_err(|_| StoreError::InvalidData("the database writer has stopped".into()))?;
        rx.await.map_err(|_| {
            E::from(StoreError::InvalidData(
                "the database writer failed; nothing was written".into(),
            ))
        })?
    }

    /// One unit, one transaction.
    async fn write_alone<T, E, F, Fut>(&self, unit: F) -> std::result::Result<T, E>
    where
        F: Fn(Arc<DatabaseTransaction>) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: From<StoreError>,
    {
        let txn = Arc::new(self.begin_write().await?);
        let result = unit(txn.clone()).await;
        let txn = Arc::try_unwrap(txn).map_err(|_| kept())?;
        match result {
            Ok(v) => {
                txn.commit().await.map_err(StoreError::from)?;
                Ok(v)
            }
            Err(e) => {
                txn.rollback().await.map_err(StoreError::from)?;
                Err(e)
            }
        }
    }
}

fn kept() -> StoreError {
    StoreError::InvalidData("a write unit kept its transaction".into())
}

async fn run(store: Store, conn: Option<DatabaseConnection>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Whatever queued while the previous batch committed forms the next one.
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        let n = jobs.len();
        if let Err(e) = run_batch(&store, conn.as_ref(), jobs).await {
            tracing::error!(error = %e, units = n, "a write batch failed; its callers got the error");
        }
    }
}

/// Runs and commits one batch: optimistically without savepoints, and again with a savepoint
/// per unit if a unit failed. Every job that ran is told the outcome once the commit is known;
/// a job dropped before it ran tells its caller that nothing was written.
async fn run_batch(store: &Store, conn: Option<&DatabaseConnection>, jobs: Vec<Job>) -> Result<()> {
    match attempt(store, conn, &jobs, false).await? {
        Attempt::Done(outcome) => outcome,
        Attempt::UnitFailed => match attempt(store, conn, &jobs, true).await? {
            Attempt::Done(outcome) => outcome,
            // With savepoints a failing unit is undone and the batch goes on.
            Attempt::UnitFailed => Err(StoreError::InvalidData(
                "a write batch failed without a cause".into(),
            )),
        },
    }
}

/// How one run of a batch ended.
enum Attempt {
    /// Committed (or failed as a whole); every caller has been answered.
    Done(Result<()>),
    /// Without savepoints a unit failed: the transaction was rolled back, no one answered.
    UnitFailed,
}

/// Runs every job once on one transaction. With `savepoints`, each unit runs inside its own
/// SAVEPOINT and a failing one is rolled back to it (a single unit needs none: its failure
/// rolls back the transaction). Without, the first failing unit ends the attempt.
async fn attempt(
    store: &Store,
    conn: Option<&DatabaseConnection>,
    jobs: &[Job],
    savepoints: bool,
) -> Result<Attempt> {
    let txn = Arc::new(match conn {
        Some(c) => begin_immediate(c).await?,
        None => store.begin_write().await?,
    });
    let alone = jobs.len() == 1;
    let mut delivers = Vec::with_capacity(jobs.len());
    let mut failure: Option<StoreError> = None;
    let mut lone_unit_failed = false;
    for job in jobs {
        if savepoints
            && !alone
            && let Err(e) = txn.execute_unprepared("SAVEPOINT unit").await
        {
            failure = Some(e.into());
            break;
        }
        let (ok, deliver) = job(txn.clone()).await;
        if alone {
            delivers.push(deliver);
            lone_unit_failed = !ok;
            break;
        }
        if !ok && !savepoints {
            // Somebody else's changes may precede this unit's partial ones: start over.
            drop(deliver);
            let txn = Arc::try_unwrap(txn).map_err(|_| kept())?;
            txn.rollback().await.map_err(StoreError::from)?;
            return Ok(Attempt::UnitFailed);
        }
        delivers.push(deliver);
        // Savepoints are not released one by one (a round trip each); the commit ends them
        // all. `ROLLBACK TO` undoes the innermost one: this unit's changes.
        if !ok && let Err(e) = txn.execute_unprepared("ROLLBACK TO unit").await {
            failure = Some(e.into());
            break;
        }
    }
    let txn = Arc::try_unwrap(txn).map_err(|_| kept())?;
    let outcome = if lone_unit_failed || failure.is_some() {
        // Dropping would roll back too; this way the connection is clean before reuse.
        let _ = txn.rollback().await;
        failure.map_or(Ok(()), Err)
    } else {
        txn.commit().await.map_err(StoreError::from)
    };
    // Delivered after the commit: no caller hears of a success that is not durable.
    let error_text = outcome.as_ref().err().map(ToString::to_string);
    for deliver in delivers {
        deliver(
            error_text
                .as_ref()
                .map(|t| StoreError::InvalidData(format!("the write was not committed: {t}"))),
        );
    }
    Ok(Attempt::Done(outcome))
}
