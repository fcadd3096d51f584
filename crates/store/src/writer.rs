//! Group commit: many requests' write transactions committed with one fsync.
//!
//! On SQLite only one transaction writes at a time and every COMMIT waits for an fsync
//! (`synchronous=FULL`), so one transaction per request caps writes at one per fsync
//! (~1.7 ms here). [`Store::write`] instead hands its unit of work to one writer, which
//! runs every unit queued meanwhile in one transaction, commits once and only then answers
//! every caller: a success is reported only once it is durable, and a failed commit fails
//! every unit of the batch.
//!
//! A failing unit must undo only its own changes and get its own error. The writer first runs
//! the batch optimistically, without savepoints: units rarely fail, and a SAVEPOINT per unit
//! is one more statement on the writer's serial path (measured: ~45 % more creates per second
//! without it). If any unit fails, that attempt is rolled back whole and the batch runs again
//! with each unit inside its own SAVEPOINT, so the failing one undoes only itself. Units are
//! therefore `Fn`: they may run more than once, and only the last run's result is delivered.
//!
//! On a SQLite file the writer is a thread of its own that runs the statements with rusqlite
//! ([`crate::sqlite_write`]); a batch with a unit that reads rows runs again on the writer's
//! sqlx connection. In memory (one pooled connection) it is a task on the pool.
//!
//! On PostgreSQL the writer runs up to [`POSTGRES_LANES`] batches at once, each a transaction
//! on a pooled connection: batching saves each unit its own BEGIN, COMMIT and WAL flush (two of
//! a create's four round trips), and several lanes keep the pool busy while one batch waits
//! for its commit. Two batches can deadlock where two lone units would not (each holds the
//! rows of its earlier units); PostgreSQL then aborts one, and that batch runs again unit by
//! unit, each in its own transaction.

use crate::db::begin_immediate;
use crate::sqlite_write::DirectWriter;
use crate::write_txn::WriteTxn;
use crate::{Result, Store, StoreError};
use sea_orm::DatabaseConnection;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most units committed together (bounds the time the write lock is held).
const MAX_BATCH: usize = 256;

/// Batches in flight at once on PostgreSQL (SQLite has one writer at a time).
const POSTGRES_LANES: usize = 4;

/// Reports a unit's outcome once the batch's commit is known.
type Deliver = Box<dyn FnOnce(Option<StoreError>) + Send>;
/// A queued unit: runs on the batch transaction (possibly twice, see the module docs), says
/// whether it succeeded and how to deliver that run's result.
type Job = Box<
    dyn Fn(Arc<WriteTxn>) -> Pin<Box<dyn Future<Output = (bool, Deliver)> + Send>> + Send + Sync,
>;

/// The queue of the writer.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Job>,
}

/// What the writer's batches run on (default: pooled connections only).
#[derive(Default)]
pub(crate) struct WriterConnections {
    /// A sqlx connection of the writer's own; `None`: connections from the pool.
    pub(crate) sqlx: Option<DatabaseConnection>,
    /// The rusqlite connection of the direct path.
    pub(crate) direct: Option<Arc<DirectWriter>>,
}

impl Writer {
    /// Starts the writer on the current tokio runtime; `None` outside one. With a direct
    /// connection the writer is a thread of its own (its statements block while they run, and
    /// the commit waits for an fsync), which still uses the runtime for the sqlx fallback.
    pub(crate) fn start(store: Store, conns: WriterConnections) -> Option<Writer> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let lanes = match store.backend() {
            sea_orm::DbBackend::Postgres => POSTGRES_LANES,
            _ => 1,
        };
        if conns.direct.is_some() {
            let spawned = std::thread::Builder::new()
                .name("sqlite-writer".into())
                .spawn(move || handle.block_on(run(store, conns, rx, lanes)));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the database writer thread");
                return None;
            }
        } else {
            handle.spawn(run(store, conns, rx, lanes));
        }
        Some(Writer { tx })
    }
}

impl Store {
    /// Runs `unit` in a write transaction and returns its result once committed. An `Err`
    /// from `unit` undoes its changes (and only its changes). The unit must not keep the
    /// transaction after it returns, and may be run more than once (when another unit of its
    /// batch failed, or its batch lost a deadlock): it must not have effects outside the
    /// transaction.
    pub async fn write<T, E, F, Fut>(&self, unit: F) -> std::result::Result<T, E>
    where
        F: Fn(Arc<WriteTxn>) -> Fut + Send + Sync + 'static,
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
        F: Fn(Arc<WriteTxn>) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        E: From<StoreError>,
    {
        let txn = Arc::new(WriteTxn::sqlx(self.begin_write().await?));
        let result = unit(txn.clone()).await;
        let txn = Arc::try_unwrap(txn).map_err(|_| kept())?;
        match result {
            Ok(v) => {
                txn.commit().await?;
                Ok(v)
            }
            Err(e) => {
                txn.rollback().await?;
                Err(e)
            }
        }
    }
}

fn kept() -> StoreError {
    StoreError::InvalidData("a write unit kept its transaction".into())
}

async fn run(
    store: Store,
    conns: WriterConnections,
    mut rx: mpsc::UnboundedReceiver<Job>,
    lanes: usize,
) {
    let conns = Arc::new(conns);
    let free_lanes = Arc::new(Semaphore::new(lanes));
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        // Whatever queued while every lane was busy forms the next batch.
        let Ok(lane) = Arc::clone(&free_lanes).acquire_owned().await else {
            return;
        };
        if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let jobs = std::mem::take(&mut batch);
        if lanes == 1 {
            run_logged(&store, &conns, jobs).await;
            drop(lane);
        } else {
            let (store, conns) = (store.clone(), Arc::clone(&conns));
            tokio::spawn(async move {
                run_logged(&store, &conns, jobs).await;
                drop(lane);
            });
        }
    }
}

async fn run_logged(store: &Store, conns: &WriterConnections, jobs: Vec<Job>) {
    let n = jobs.len();
    if let Err(e) = run_batch(store, conns, jobs).await {
        tracing::error!(error = %e, units = n, "a write batch failed; its callers got the error");
    }
}

/// Where one run of a batch executes.
#[derive(Clone, Copy)]
enum Lane<'a> {
    /// sqlx: the writer's own connection, or the pool.
    Sqlx(Option<&'a DatabaseConnection>),
    /// rusqlite on the writer's thread.
    Direct(&'a Arc<DirectWriter>),
}

/// Runs and commits one batch: on the direct connection if there is one, and on sqlx if a
/// unit there needed rows. Every job that ran is told the outcome once the commit is known;
/// a job dropped before it ran tells its caller that nothing was written.
async fn run_batch(store: &Store, conns: &WriterConnections, jobs: Vec<Job>) -> Result<()> {
    if let Some(direct) = &conns.direct
        && let Some(outcome) = run_on(store, Lane::Direct(direct), &jobs).await?
    {
        return outcome;
    }
    run_on(store, Lane::Sqlx(conns.sqlx.as_ref()), &jobs)
        .await?
        .unwrap_or_else(|| Err(StoreError::InvalidData("a unit read rows on sqlx".into())))
}

/// Runs a batch on `lane`: optimistically without savepoints, and again with a savepoint per
/// unit if a unit failed, or unit by unit if it lost a deadlock. `None`: a unit needed rows,
/// which `lane` cannot give (nothing was written, no one answered).
async fn run_on(store: &Store, lane: Lane<'_>, jobs: &[Job]) -> Result<Option<Result<()>>> {
    Ok(match attempt(store, lane, jobs, false, true).await? {
        Attempt::Done(outcome) => Some(outcome),
        Attempt::NeedsRows => None,
        Attempt::Contended => Some(one_by_one(store, lane, jobs).await?),
        Attempt::UnitFailed => match attempt(store, lane, jobs, true, true).await? {
            Attempt::Done(outcome) => Some(outcome),
            Attempt::NeedsRows => None,
            Attempt::Contended => Some(one_by_one(store, lane, jobs).await?),
            // With savepoints a failing unit is undone and the batch goes on.
            Attempt::UnitFailed => Some(Err(StoreError::InvalidData(
                "a write batch failed without a cause".into(),
            ))),
        },
    })
}

/// Every job in a transaction of its own (a lone unit's failure, deadlock or not, is its
/// caller's answer); the first failed commit, if any.
async fn one_by_one(store: &Store, lane: Lane<'_>, jobs: &[Job]) -> Result<Result<()>> {
    let mut first_failure = Ok(());
    for job in jobs {
        let mut tries = 1;
        loop {
            // A lone unit that loses a deadlock or serialization conflict runs again a few
            // times; the last try's outcome is its caller's answer.
            let retry = tries < LONE_ATTEMPTS;
            match attempt(store, lane, std::slice::from_ref(job), false, retry).await? {
                Attempt::Contended if retry => {
                    tokio::time::sleep(std::time::Duration::from_millis(5 << tries)).await;
                    tries += 1;
                }
                Attempt::Done(Err(e)) => {
                    if first_failure.is_ok() {
                        first_failure = Err(e);
                    }
                    break;
                }
                _ => break,
            }
        }
    }
    Ok(first_failure)
}

/// Tries of a lone unit that keeps losing deadlocks or serialization conflicts (PostgreSQL).
const LONE_ATTEMPTS: u32 = 5;

/// How one run of a batch ended.
enum Attempt {
    /// Committed (or failed as a whole); every caller has been answered.
    Done(Result<()>),
    /// Without savepoints a unit failed: the transaction was rolled back, no one answered.
    UnitFailed,
    /// On the direct lane a unit asked for rows: rolled back, no one answered.
    NeedsRows,
    /// A unit of several lost a deadlock or serialization conflict: rolled back, no one
    /// answered.
    Contended,
}

/// How long the writer keeps trying to take SQLite's write lock from another process (a CLI
/// command, a second server on the same file) before its batch fails: the busy timeout
/// applies to each try, this bounds them all.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Begins a transaction on `lane`. While another process holds SQLite's write lock the
/// writer waits for it (every caller of the batch would otherwise get an error).
async fn begin(store: &Store, lane: Lane<'_>) -> Result<WriteTxn> {
    let started = std::time::Instant::now();
    loop {
        match begin_once(store, lane).await {
            Err(e) if is_locked(&e) && started.elapsed() < LOCK_PATIENCE => {
                tracing::debug!(error = %e, "the database is locked by another process; waiting");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            // A pooled connection whose runtime is gone (one opened by an HTTP worker thread
            // that has stopped) fails its first statement; the pool drops it, and the next
            // BEGIN gets another one. Nothing was written.
            Err(StoreError::Db(e))
                if crate::write_txn::is_runtime_gone(&e)
                    && started.elapsed() < DEAD_CONNECTION_PATIENCE =>
            {
                tracing::debug!(error = %e, "a pooled connection is gone; taking another");
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            other => return other,
        }
    }
}

/// How long BEGIN keeps trying other pooled connections when the ones it gets are dead.
const DEAD_CONNECTION_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// SQLite's "database is locked" (`SQLITE_BUSY`), as either path reports it.
fn is_locked(e: &StoreError) -> bool {
    let text = e.to_string();
    text.contains("database is locked") || text.contains("(code: 5)")
}

async fn begin_once(store: &Store, lane: Lane<'_>) -> Result<WriteTxn> {
    Ok(match lane {
        Lane::Sqlx(Some(c)) => WriteTxn::sqlx(begin_immediate(c).await?),
        Lane::Sqlx(None) => WriteTxn::sqlx(store.begin_write().await?),
        Lane::Direct(direct) => {
            direct.begin()?;
            WriteTxn::direct(Arc::clone(direct))
        }
    })
}

/// Runs every job once on one transaction. With `savepoints`, each unit runs inside its own
/// SAVEPOINT and a failing one is rolled back to it (a single unit needs none: its failure
/// rolls back the transaction). Without, the first failing unit ends the attempt. A lone
/// unit's lost deadlock is its caller's answer unless `retry_lone_contention`.
async fn attempt(
    store: &Store,
    lane: Lane<'_>,
    jobs: &[Job],
    savepoints: bool,
    retry_lone_contention: bool,
) -> Result<Attempt> {
    let txn = Arc::new(begin(store, lane).await?);
    let alone = jobs.len() == 1;
    let mut delivers = Vec::with_capacity(jobs.len());
    let mut failure: Option<StoreError> = None;
    let mut lone_unit_failed = false;
    for job in jobs {
        if savepoints
            && !alone
            && let Err(e) = txn.batch("SAVEPOINT unit").await
        {
            failure = Some(e);
            break;
        }
        let (ok, deliver) = job(txn.clone()).await;
        if txn.take_refused() {
            drop(deliver);
            let txn = Arc::try_unwrap(txn).map_err(|_| kept())?;
            txn.rollback().await?;
            return Ok(Attempt::NeedsRows);
        }
        if (!alone || retry_lone_contention) && txn.take_contended() {
            drop(deliver);
            let txn = Arc::try_unwrap(txn).map_err(|_| kept())?;
            // The transaction is aborted either way; on a connection whose runtime is gone
            // the ROLLBACK cannot be sent either, and the pool discards it.
            let _ = txn.rollback().await;
            return Ok(Attempt::Contended);
        }
        if alone {
            delivers.push(deliver);
            lone_unit_failed = !ok;
            break;
        }
        if !ok && !savepoints {
            // Somebody else's changes may precede this unit's partial ones: start over.
            drop(deliver);
            let txn = Arc::try_unwrap(txn).map_err(|_| kept())?;
            txn.rollback().await?;
            return Ok(Attempt::UnitFailed);
        }
        delivers.push(deliver);
        // Savepoints are not released one by one (a round trip each); the commit ends them
        // all. `ROLLBACK TO` undoes the innermost one: this unit's changes.
        if !ok && let Err(e) = txn.batch("ROLLBACK TO unit").await {
            failure = Some(e);
            break;
        }
    }
    let txn = Arc::try_unwrap(txn).map_err(|_| kept())?;
    let outcome = if lone_unit_failed || failure.is_some() {
        // Dropping would roll back too; this way the connection is clean before reuse.
        let _ = txn.rollback().await;
        failure.map_or(Ok(()), Err)
    } else {
        txn.commit().await
    };
    // The COMMIT could not even be sent (the connection's runtime is stopping): nothing was
    // written, no one is answered yet; run it again like a lost deadlock.
    if retry_lone_contention
        && let Err(StoreError::Db(e)) = &outcome
        && crate::write_txn::is_runtime_gone(e)
    {
        return Ok(Attempt::Contended);
    }
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
