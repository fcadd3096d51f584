//! Running the outbox: claiming due jobs under a lease, finishing, retrying or failing them,
//! the shared per-account rate limiter, and the target links a worker keeps.
//!
//! PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so several instances share the work; on
//! SQLite one worker runs. A job whose lease ran out (its process died) is claimed again.
//!
//! On SQLite every write here goes through the one group-commit writer ([`Store::write`]):
//! a write on a pooled connection competes with the writer for the database's single write
//! lock, and under SCIM load one of the two waited out its busy timeout and failed (a 5xx for
//! the IdP, a lost job outcome for the worker). The statements are written so that none of
//! them can fail on a constraint (a failing statement would make the writer run its batch
//! again with savepoints). On PostgreSQL rows are locked one by one and the statements run on
//! the pool; a deadlock or serialization failure is retried ([`retry_contended`]).

use crate::entities::{jobs, target_links};
use crate::types::JobState;
use crate::write_txn::is_contention;
use crate::{NewEvent, Result, Store, StoreError};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QueryTrait, Statement,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A claimed job.
pub type Job = jobs::Model;
/// A SCIM user's link to its target record.
pub type TargetLink = target_links::Model;

/// Attempts of a PostgreSQL statement that keeps losing deadlocks or serialization conflicts.
const CONTENTION_ATTEMPTS: u32 = 5;

/// Runs `op`, and again (up to [`CONTENTION_ATTEMPTS`] times, pausing a little longer each
/// time) while PostgreSQL aborts it to break a deadlock or a serialization conflict.
pub(crate) async fn retry_contended<T, F, Fut>(mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(StoreError::Db(e)) if is_contention(&e) && attempt < CONTENTION_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The condition "another pending job exists for this job's subject" (SQLite), with its
/// values: the subject's integration, kind and id.
const PENDING_SIBLING: &str = "EXISTS (SELECT 1 FROM jobs p WHERE p.integration_id = ? \
     AND p.subject_kind = ? AND p.subject_id = ? AND p.state = 'pending')";

fn sqlite(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

fn subject_values(job: &Job) -> [sea_orm::Value; 3] {
    [
        job.integration_id.clone().into(),
        job.subject_kind.as_str().into(),
        job.subject_id.clone().into(),
    ]
}

impl Store {
    /// True when writes must go through the one writer: SQLite has one write lock per
    /// database, and the writer's connection holds it most of the time under load.
    pub(crate) fn serial_writes(&self) -> bool {
        self.backend() == DbBackend::Sqlite
    }

    /// Runs `statements` in order as one unit of the writer; how many rows each changed.
    pub(crate) async fn write_statements(&self, statements: Vec<Statement>) -> Result<Vec<u64>> {
        let statements = Arc::new(statements);
        self.write(move |txn| {
            let statements = Arc::clone(&statements);
            async move {
                let mut counts = Vec::with_capacity(statements.len());
                for s in statements.iter() {
                    counts.push(crate::Execute::execute_counted(&*txn, s.clone()).await?);
                }
                Ok::<_, StoreError>(counts)
            }
        })
        .await
    }

    /// Runs one write statement where it cannot collide: through the writer on SQLite, on
    /// the pool (retrying contention) on PostgreSQL. How many rows it changed.
    pub(crate) async fn write_statement(&self, statement: Statement) -> Result<u64> {
        if self.serial_writes() {
            let counts = self.write_statements(vec![statement]).await?;
            return Ok(counts.first().copied().unwrap_or(0));
        }
        retry_contended(|| async {
            Ok(self
                .db()
                .execute_raw(statement.clone())
                .await?
                .rows_affected())
        })
        .await
    }

    /// Runs `statement` (returning one integer per row, e.g. `RETURNING id`) as a unit of the
    /// writer; those integers.
    pub(crate) async fn write_returning(&self, statement: Statement) -> Result<Vec<i64>> {
        self.write(move |txn| {
            let statement = statement.clone();
            async move { Ok::<_, StoreError>(txn.query_i64s(statement).await?) }
        })
        .await
    }

    /// Claims up to `limit` due jobs for `worker` until `now + lease_ms`. Jobs whose subject
    /// is being worked on elsewhere (an unexpired running job) are left alone, so one subject
    /// is never pushed by two workers at once.
    pub async fn claim_jobs(
        &self,
        worker: &str,
        now: i64,
        lease_ms: i64,
        limit: u64,
    ) -> Result<Vec<Job>> {
        let backend = self.backend();
        let lock = if backend == DbBackend::Postgres {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let p = |n: usize| {
            if backend == DbBackend::Postgres {
                format!("${n}")
            } else {
                "?".to_string()
            }
        };
        let not_busy = |now: &str| {
            format!(
                r#"NOT EXISTS (
                         SELECT 1 FROM jobs r
                         WHERE r.integration_id = j.integration_id AND r.subject_kind = j.subject_kind
                           AND r.subject_id = j.subject_id AND r.state = 'running'
                           AND r.locked_until >= {now} AND r.id <> j.id)"#
            )
        };
        // The due pending jobs walked in `idx_jobs_due` order, stopping at the limit, plus the
        // few expired running ones. One OR over both made both databases read and sort the
        // whole queue on every claim (measured: half a core of SQLite's writer thread, and
        // PostgreSQL's backends, at 10,000 queued jobs, taken from the SCIM writes). Locks
        // (PostgreSQL) are taken in each branch: not allowed on a UNION itself. `?` binds
        // positionally, so each use has its own value (see `values`).
        let (due, lease_over, busy_now, cap) = (p(4), p(5), p(6), p(7));
        let candidates = format!(
            r#"SELECT id FROM (
                   SELECT * FROM (SELECT j.id, j.run_after FROM jobs j
                       WHERE j.state = 'pending' AND j.run_after <= {due} AND {busy}
                       ORDER BY j.run_after, j.id LIMIT {cap} {lock}) AS due
                   UNION ALL
                   SELECT * FROM (SELECT j.id, j.run_after FROM jobs j
                       WHERE j.state = 'running' AND j.locked_until < {lease_over} AND {busy}
                       ORDER BY j.run_after, j.id LIMIT {cap} {lock}) AS expired) AS c
               ORDER BY run_after, id LIMIT {cap}"#,
            busy = not_busy(&busy_now),
        );
        let sql = format!(
            r#"UPDATE jobs SET state = 'running', locked_until = {p1}, locked_by = {p2},
                   attempts = attempts + 1, updated_at = {p3}
               WHERE id IN ({candidates})
               RETURNING {returning}"#,
            returning = if backend == DbBackend::Postgres {
                "*"
            } else {
                "id"
            },
            p1 = p(1),
            p2 = p(2),
            p3 = p(3),
        );
        let limit = limit as i64;
        let values: Vec<sea_orm::Value> = if backend == DbBackend::Postgres {
            vec![
                (now + lease_ms).into(),
                worker.into(),
                now.into(),
                now.into(),
                now.into(),
                now.into(),
                limit.into(),
            ]
        } else {
            // In the order the `?` appear.
            vec![
                (now + lease_ms).into(),
                worker.into(),
                now.into(),
                now.into(), // pending: run_after <= now
                now.into(), // pending: not busy
                limit.into(),
                now.into(), // running: lease expired
                now.into(), // running: not busy
                limit.into(),
                limit.into(),
            ]
        };
        let statement = Statement::from_sql_and_values(backend, sql, values);
        let mut claimed = if self.serial_writes() {
            // The claim is a write: the writer runs it. The rows are read afterwards; a
            // claimed job is ours until its lease ends, nothing else changes it meanwhile.
            let ids = self.write_returning(statement).await?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            jobs::Entity::find()
                .filter(jobs::Column::Id.is_in(ids))
                .filter(jobs::Column::LockedBy.eq(worker))
                .all(self.db())
                .await?
        } else {
            retry_contended(|| async {
                Ok(jobs::Entity::find()
                    .from_raw_sql(statement.clone())
                    .all(self.db())
                    .await?)
            })
            .await?
        };
        claimed.sort_by_key(|j| (j.run_after, j.id));
        Ok(claimed)
    }

    /// A job is done: it is removed (its events stay in the log).
    pub async fn complete_job(&self, id: i64, worker: &str) -> Result<()> {
        self.write_statement(self.job_delete(id, worker)).await?;
        Ok(())
    }

    /// The statement that removes a finished job, if `worker` still holds it.
    fn job_delete(&self, id: i64, worker: &str) -> Statement {
        jobs::Entity::delete_many()
            .filter(jobs::Column::Id.eq(id))
            .filter(jobs::Column::LockedBy.eq(worker))
            .build(self.backend())
    }

    /// A job is done, and what it decided is recorded with it in one unit of the writer: its
    /// events and its link (a dry run's calls and decision, which need no earlier write).
    /// One transaction per job instead of one per event, link and outcome.
    pub async fn complete_job_with(
        &self,
        id: i64,
        worker: &str,
        events: Vec<NewEvent>,
        link: Option<TargetLink>,
    ) -> Result<()> {
        let mut statements = self.event_inserts(events);
        statements.extend(link.map(|l| self.link_upsert(l)));
        statements.push(self.job_delete(id, worker));
        self.write_statements(statements).await?;
        Ok(())
    }

    /// Puts a job back to pending at `run_after` with the error that stopped it. If a newer
    /// pending job for the same subject exists, that one carries on (it is level-triggered)
    /// and is held back until `run_after` too; this one is removed.
    pub async fn retry_job(
        &self,
        job: &Job,
        worker: &str,
        run_after: i64,
        error: &str,
        now: i64,
    ) -> Result<()> {
        self.requeue_job(job, worker, run_after, (error, None), now, 0)
            .await
    }

    /// [`Store::retry_job`] recording the error's kind (`ConnectorError::kind`) beside it;
    /// `refund` true: the attempt does not count ([`Store::defer_job`]).
    #[allow(
        clippy::too_many_arguments,
        reason = "the job's outcome, as the worker has it"
    )]
    pub async fn requeue_job_as(
        &self,
        job: &Job,
        worker: &str,
        run_after: i64,
        error: &str,
        kind: Option<&str>,
        now: i64,
        refund: bool,
    ) -> Result<()> {
        self.requeue_job(
            job,
            worker,
            run_after,
            (error, kind),
            now,
            i32::from(refund),
        )
        .await
    }

    /// Like [`Store::retry_job`], but the attempt does not count: the job waited for the
    /// target's rate limit, which is no failure (a job throttled for days never gives up).
    pub async fn defer_job(
        &self,
        job: &Job,
        worker: &str,
        run_after: i64,
        error: &str,
        now: i64,
    ) -> Result<()> {
        self.requeue_job(job, worker, run_after, (error, None), now, 1)
            .await
    }

    /// Back to pending at `run_after`, `refund` attempts given back.
    async fn requeue_job(
        &self,
        job: &Job,
        worker: &str,
        run_after: i64,
        (error, kind): (&str, Option<&str>),
        now: i64,
        refund: i32,
    ) -> Result<()> {
        if self.serial_writes() {
            // One unit, so nothing comes between the three statements, and none can fail:
            // a pending job of the subject takes over the back-off and the error, and this
            // one is then removed; otherwise this one goes back to pending.
            let [i, k, sid] = subject_values(job);
            let mine = "EXISTS (SELECT 1 FROM jobs m WHERE m.id = ? AND m.locked_by = ?)";
            let statements = vec![
                sqlite(
                    &format!(
                        "UPDATE jobs SET run_after = ?, last_error = ?, last_error_kind = ? \
                         WHERE integration_id = ? \
                         AND subject_kind = ? AND subject_id = ? AND state = 'pending' \
                         AND run_after < ? AND {mine}"
                    ),
                    vec![
                        run_after.into(),
                        error.into(),
                        kind.into(),
                        i.clone(),
                        k.clone(),
                        sid.clone(),
                        run_after.into(),
                        job.id.into(),
                        worker.into(),
                    ],
                ),
                sqlite(
                    &format!(
                        "DELETE FROM jobs WHERE id = ? AND locked_by = ? AND {PENDING_SIBLING}"
                    ),
                    vec![job.id.into(), worker.into(), i, k, sid],
                ),
                sqlite(
                    "UPDATE jobs SET state = 'pending', run_after = ?, last_error = ?, \
                     last_error_kind = ?, locked_until = NULL, locked_by = NULL, \
                     updated_at = ?, attempts = MAX(attempts - ?, 0) \
                     WHERE id = ? AND locked_by = ?",
                    vec![
                        run_after.into(),
                        error.into(),
                        kind.into(),
                        now.into(),
                        refund.into(),
                        job.id.into(),
                        worker.into(),
                    ],
                ),
            ];
            self.write_statements(statements).await?;
            return Ok(());
        }
        retry_contended(|| {
            self.retry_job_pooled(job, worker, run_after, (error, kind), now, refund)
        })
        .await
    }

    /// [`Store::retry_job`] on PostgreSQL.
    async fn retry_job_pooled(
        &self,
        job: &Job,
        worker: &str,
        run_after: i64,
        (error, kind): (&str, Option<&str>),
        now: i64,
        refund: i32,
    ) -> Result<()> {
        let res = jobs::Entity::update_many()
            .col_expr(
                jobs::Column::State,
                sea_orm::sea_query::Expr::value(JobState::Pending.as_str()),
            )
            .col_expr(
                jobs::Column::Attempts,
                (job.attempts - refund).max(0).into(),
            )
            .col_expr(jobs::Column::RunAfter, run_after.into())
            .col_expr(jobs::Column::LastError, error.into())
            .col_expr(jobs::Column::LastErrorKind, kind.into())
            .col_expr(
                jobs::Column::LockedUntil,
                sea_orm::sea_query::Expr::value(Option::<i64>::None),
            )
            .col_expr(
                jobs::Column::LockedBy,
                sea_orm::sea_query::Expr::value(Option::<String>::None),
            )
            .col_expr(jobs::Column::UpdatedAt, now.into())
            .filter(jobs::Column::Id.eq(job.id))
            .filter(jobs::Column::LockedBy.eq(worker))
            .exec(self.db())
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                ) =>
            {
                jobs::Entity::update_many()
                    .col_expr(jobs::Column::RunAfter, run_after.into())
                    .col_expr(jobs::Column::LastError, error.into())
                    .col_expr(jobs::Column::LastErrorKind, kind.into())
                    .filter(jobs::Column::IntegrationId.eq(&job.integration_id))
                    .filter(jobs::Column::SubjectKind.eq(job.subject_kind))
                    .filter(jobs::Column::SubjectId.eq(&job.subject_id))
                    .filter(jobs::Column::State.eq(JobState::Pending))
                    .filter(jobs::Column::RunAfter.lt(run_after))
                    .exec(self.db())
                    .await?;
                self.complete_job(job.id, worker).await
            }
            Err(e) => Err(StoreError::Db(e)),
        }
    }

    /// Gives a claimed job back untouched (graceful shutdown).
    pub async fn release_job(&self, job: &Job, worker: &str, now: i64) -> Result<()> {
        let run_after = job.run_after.min(now);
        if self.serial_writes() {
            // A newer pending job exists: it will do the work, this one goes.
            let [i, k, sid] = subject_values(job);
            let statements = vec![
                sqlite(
                    &format!(
                        "DELETE FROM jobs WHERE id = ? AND locked_by = ? AND {PENDING_SIBLING}"
                    ),
                    vec![job.id.into(), worker.into(), i, k, sid],
                ),
                sqlite(
                    "UPDATE jobs SET state = 'pending', attempts = ?, run_after = ?, \
                     locked_until = NULL, locked_by = NULL WHERE id = ? AND locked_by = ?",
                    vec![
                        (job.attempts - 1).max(0).into(),
                        run_after.into(),
                        job.id.into(),
                        worker.into(),
                    ],
                ),
            ];
            self.write_statements(statements).await?;
            return Ok(());
        }
        retry_contended(|| self.release_job_pooled(job, worker, run_after)).await
    }

    /// [`Store::release_job`] on PostgreSQL.
    async fn release_job_pooled(&self, job: &Job, worker: &str, run_after: i64) -> Result<()> {
        let res = jobs::Entity::update_many()
            .col_expr(
                jobs::Column::State,
                sea_orm::sea_query::Expr::value(JobState::Pending.as_str()),
            )
            .col_expr(jobs::Column::Attempts, (job.attempts - 1).max(0).into())
            .col_expr(jobs::Column::RunAfter, run_after.into())
            .col_expr(
                jobs::Column::LockedUntil,
                sea_orm::sea_query::Expr::value(Option::<i64>::None),
            )
            .col_expr(
                jobs::Column::LockedBy,
                sea_orm::sea_query::Expr::value(Option::<String>::None),
            )
            .filter(jobs::Column::Id.eq(job.id))
            .filter(jobs::Column::LockedBy.eq(worker))
            .exec(self.db())
            .await;
        match res {
            Ok(_) => Ok(()),
            // A newer pending job exists: it will do the work.
            Err(e)
                if matches!(
                    e.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                ) =>
            {
                self.complete_job(job.id, worker).await
            }
            Err(e) => Err(StoreError::Db(e)),
        }
    }

    /// Marks a job failed for good; it stays visible and can be retried.
    pub async fn fail_job(&self, id: i64, worker: &str, error: &str, now: i64) -> Result<()> {
        self.fail_job_as(id, worker, error, None, now).await
    }

    /// [`Store::fail_job`] recording the error's kind beside it.
    pub async fn fail_job_as(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        kind: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let update = jobs::Entity::update_many()
            .col_expr(
                jobs::Column::State,
                sea_orm::sea_query::Expr::value(JobState::Failed.as_str()),
            )
            .col_expr(jobs::Column::LastError, error.into())
            .col_expr(jobs::Column::LastErrorKind, kind.into())
            .col_expr(
                jobs::Column::LockedUntil,
                sea_orm::sea_query::Expr::value(Option::<i64>::None),
            )
            .col_expr(jobs::Column::UpdatedAt, now.into())
            .filter(jobs::Column::Id.eq(id))
            .filter(jobs::Column::LockedBy.eq(worker))
            .build(self.backend());
        self.write_statement(update).await?;
        Ok(())
    }

    /// The integration's failed jobs, newest first.
    pub async fn list_failed_jobs(&self, integration_id: &str) -> Result<Vec<Job>> {
        Ok(jobs::Entity::find()
            .filter(jobs::Column::IntegrationId.eq(integration_id))
            .filter(jobs::Column::State.eq(JobState::Failed))
            .order_by_desc(jobs::Column::UpdatedAt)
            .all(self.db())
            .await?)
    }

    /// Puts failed jobs of an integration (all, or one) back in the queue with a fresh attempt
    /// count. A failed job whose subject already has a pending job is simply removed: the
    /// pending one brings the subject in line. Returns how many were requeued or merged.
    pub async fn retry_failed_jobs(
        &self,
        integration_id: &str,
        job_id: Option<i64>,
        now: i64,
    ) -> Result<u64> {
        let mut q = jobs::Entity::find()
            .filter(jobs::Column::IntegrationId.eq(integration_id))
            .filter(jobs::Column::State.eq(JobState::Failed));
        if let Some(id) = job_id {
            q = q.filter(jobs::Column::Id.eq(id));
        }
        let failed = q.all(self.db()).await?;
        if self.serial_writes() {
            // Per job: removed if its subject has a pending job (also one requeued just
            // before it), else requeued. One unit, no statement that can fail.
            let mut statements = Vec::with_capacity(failed.len() * 2);
            for job in &failed {
                let [i, k, sid] = subject_values(job);
                statements.push(sqlite(
                    &format!(
                        "DELETE FROM jobs WHERE id = ? AND state = 'failed' AND {PENDING_SIBLING}"
                    ),
                    vec![job.id.into(), i, k, sid],
                ));
                statements.push(sqlite(
                    "UPDATE jobs SET state = 'pending', attempts = 0, run_after = ?, \
                     updated_at = ? WHERE id = ? AND state = 'failed'",
                    vec![now.into(), now.into(), job.id.into()],
                ));
            }
            self.write_statements(statements).await?;
            return Ok(failed.len() as u64);
        }
        for job in &failed {
            let res = jobs::Entity::update_many()
                .col_expr(
                    jobs::Column::State,
                    sea_orm::sea_query::Expr::value(JobState::Pending.as_str()),
                )
                .col_expr(jobs::Column::Attempts, 0.into())
                .col_expr(jobs::Column::RunAfter, now.into())
                .col_expr(jobs::Column::UpdatedAt, now.into())
                .filter(jobs::Column::Id.eq(job.id))
                .exec(self.db())
                .await;
            match res {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                    ) =>
                {
                    jobs::Entity::delete_by_id(job.id).exec(self.db()).await?;
                }
                Err(e) => return Err(StoreError::Db(e)),
            }
        }
        Ok(failed.len() as u64)
    }

    /// Every job of an integration that is not finished (tests and the dashboard).
    pub async fn open_jobs(&self, integration_id: &str) -> Result<Vec<Job>> {
        Ok(jobs::Entity::find()
            .filter(jobs::Column::IntegrationId.eq(integration_id))
            .order_by_asc(jobs::Column::Id)
            .all(self.db())
            .await?)
    }

    /// Reserves the next call slot of a rate-limited target account: returns the time (epoch
    /// ms) at which the caller may call. Slots are `interval_ms` apart across every worker and
    /// instance, because the reservation is one atomic statement on the shared database.
    pub async fn reserve_rate_slot(&self, key: &str, interval_ms: i64, now: i64) -> Result<i64> {
        let backend = self.backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "INSERT INTO rate_limits (key, next_at) VALUES ($1, $2 + $3)
                 ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(rate_limits.next_at, $2) + $3
                 RETURNING next_at"
            }
            _ => {
                "INSERT INTO rate_limits (key, next_at) VALUES (?1, ?2 + ?3)
                 ON CONFLICT (key) DO UPDATE SET next_at = MAX(rate_limits.next_at, ?2) + ?3
                 RETURNING next_at"
            }
        };
        let statement = Statement::from_sql_and_values(
            backend,
            sql,
            [key.into(), now.into(), interval_ms.into()],
        );
        let next_at = if self.serial_writes() {
            self.write_returning(statement).await?.first().copied()
        } else {
            retry_contended(|| async {
                match self.db().query_one_raw(statement.clone()).await? {
                    Some(row) => Ok(Some(row.try_get::<i64>("", "next_at")?)),
                    None => Ok(None),
                }
            })
            .await?
        };
        let next_at = next_at.ok_or_else(|| {
            StoreError::InvalidData("rate slot reservation returned nothing".into())
        })?;
        Ok(next_at - interval_ms)
    }

    /// Admits one request of `key` under a shared rate (GCRA, the token bucket's
    /// scheduling form): requests are `interval_ms` apart on average, with bursts as long as
    /// the key's theoretical arrival time stays at most `tolerance_ms` ahead of `now`. One
    /// conditional upsert on the shared database, so every instance counts against the same
    /// rate. `Ok(None)` admitted; `Ok(Some(ms))` refused, retry after that many ms.
    pub async fn admit_rate(
        &self,
        key: &str,
        interval_ms: i64,
        tolerance_ms: i64,
        now: i64,
    ) -> Result<Option<i64>> {
        let backend = self.backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "INSERT INTO rate_limits (key, next_at) VALUES ($1, $2 + $3)
                 ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(rate_limits.next_at, $2) + $3
                 WHERE GREATEST(rate_limits.next_at, $2) - $2 <= $4
                 RETURNING next_at"
            }
            _ => {
                "INSERT INTO rate_limits (key, next_at) VALUES (?1, ?2 + ?3)
                 ON CONFLICT (key) DO UPDATE SET next_at = MAX(rate_limits.next_at, ?2) + ?3
                 WHERE MAX(rate_limits.next_at, ?2) - ?2 <= ?4
                 RETURNING next_at"
            }
        };
        let statement = Statement::from_sql_and_values(
            backend,
            sql,
            [
                key.into(),
                now.into(),
                interval_ms.into(),
                tolerance_ms.into(),
            ],
        );
        let admitted = if self.serial_writes() {
            !self.write_returning(statement).await?.is_empty()
        } else {
            retry_contended(|| async { Ok(self.db().query_one_raw(statement.clone()).await?) })
                .await?
                .is_some()
        };
        if admitted {
            return Ok(None);
        }
        // Refused: nothing was written; the wait is how far the arrival time is ahead.
        let sql = match backend {
            DbBackend::Postgres => "SELECT next_at FROM rate_limits WHERE key = $1",
            _ => "SELECT next_at FROM rate_limits WHERE key = ?1",
        };
        let next_at = match self
            .db()
            .query_one_raw(Statement::from_sql_and_values(backend, sql, [key.into()]))
            .await?
        {
            Some(row) => row.try_get::<i64>("", "next_at")?,
            None => now,
        };
        Ok(Some((next_at - tolerance_ms - now).max(1)))
    }

    /// The link of a SCIM user to its target record.
    pub async fn get_link(
        &self,
        integration_id: &str,
        scim_user_id: &str,
    ) -> Result<Option<TargetLink>> {
        Ok(
            target_links::Entity::find_by_id((integration_id.to_owned(), scim_user_id.to_owned()))
                .one(self.db())
                .await?,
        )
    }

    /// Creates or replaces a link.
    pub async fn upsert_link(&self, link: TargetLink) -> Result<()> {
        self.write_statement(self.link_upsert(link)).await?;
        Ok(())
    }

    /// The statement that creates or replaces `link`.
    fn link_upsert(&self, link: TargetLink) -> Statement {
        let am = target_links::ActiveModel {
            integration_id: Set(link.integration_id),
            scim_user_id: Set(link.scim_user_id),
            target_id: Set(link.target_id),
            last_pushed: Set(link.last_pushed),
            last_sync_at: Set(link.last_sync_at),
            last_result: Set(link.last_result),
            last_error: Set(link.last_error),
        };
        target_links::Entity::insert(am)
            .on_conflict(
                OnConflict::columns([
                    target_links::Column::IntegrationId,
                    target_links::Column::ScimUserId,
                ])
                .update_columns([
                    target_links::Column::TargetId,
                    target_links::Column::LastPushed,
                    target_links::Column::LastSyncAt,
                    target_links::Column::LastResult,
                    target_links::Column::LastError,
                ])
                .to_owned(),
            )
            .build(self.backend())
    }

    /// Removes a link (the target record is gone).
    pub async fn delete_link(&self, integration_id: &str, scim_user_id: &str) -> Result<()> {
        let delete = target_links::Entity::delete_by_id((
            integration_id.to_owned(),
            scim_user_id.to_owned(),
        ))
        .build(self.backend());
        self.write_statement(delete).await?;
        Ok(())
    }

    /// Every link of an integration (tests, reconciliation).
    pub async fn list_links(&self, integration_id: &str) -> Result<Vec<TargetLink>> {
        Ok(target_links::Entity::find()
            .filter(target_links::Column::IntegrationId.eq(integration_id))
            .all(self.db())
            .await?)
    }
}
