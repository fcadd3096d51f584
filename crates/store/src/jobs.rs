//! The outbox: one pending job per subject, written in the same transaction as the SCIM
//! change that caused it. (Claiming and running jobs belongs to the worker, later.)

use crate::entities::jobs;
use crate::types::{JobState, SubjectKind};
use crate::{Execute, Result, Store};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryTrait,
    StatementBuilder,
    sea_query::{
        CommonTableExpression, Expr, InsertStatement, OnConflict, SubQueryStatement, WithClause,
    },
};

/// The job [`enqueue_job`] asks for: bring `subject_id` of `integration_id` in line with the
/// target.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobRequest<'a> {
    /// Integration of the subject.
    pub(crate) integration_id: &'a str,
    /// User or group.
    pub(crate) subject_kind: SubjectKind,
    /// The subject's SCIM id.
    pub(crate) subject_id: &'a str,
    /// The request that caused it.
    pub(crate) correlation_id: Option<&'a str>,
    /// Epoch ms: when it is due and created.
    pub(crate) now: i64,
}

/// Asks for `subject` of `integration_id` to be brought in line with the target.
///
/// Coalesces: if a pending job for the subject already exists nothing is added (a job is
/// level-triggered, it reads the subject's current state when it runs; an existing job's
/// back-off is kept). A job that is already running does not absorb the request: a new pending
/// job is added so the latest change is not lost. Safe under concurrency: relies on the
/// partial unique index over pending jobs with `INSERT … ON CONFLICT DO UPDATE … WHERE false`
/// (see [`enqueue_statement`]).
///
/// Usable inside the caller's transaction. Returns true if a new job was added.
pub async fn enqueue_job<C: Execute>(
    conn: &C,
    integration_id: &str,
    subject_kind: SubjectKind,
    subject_id: &str,
    correlation_id: Option<&str>,
    now: i64,
) -> Result<bool> {
    let job = JobRequest {
        integration_id,
        subject_kind,
        subject_id,
        correlation_id,
        now,
    };
    let insert = conn.get_database_backend().build(&enqueue_statement(&job));
    Ok(conn.execute_counted(insert).await? > 0)
}

/// Runs `change`, a statement that writes the job's subject, and [`enqueue_job`]s `job` if
/// there is one: on PostgreSQL as one statement, the job's insert a CTE of `change` (one round
/// trip instead of two on the writer's serial path; both see one snapshot and neither reads
/// the other's rows), elsewhere as two (SQLite has no writing CTEs; its writer's statements
/// cost no round trip). Returns the rows `change` itself wrote; its error, if any, is the
/// statement's.
pub(crate) async fn write_and_enqueue<C, S>(
    conn: &C,
    change: S,
    job: Option<&JobRequest<'_>>,
) -> std::result::Result<u64, DbErr>
where
    C: Execute,
    S: StatementBuilder + Into<SubQueryStatement>,
{
    let backend = conn.get_database_backend();
    let Some(job) = job else {
        return conn.execute_counted(backend.build(&change)).await;
    };
    if backend == DbBackend::Postgres {
        let queued = CommonTableExpression::new()
            .query(enqueue_statement(job))
            .table_name("queued_job")
            .to_owned();
        let together = WithClause::new().cte(queued).to_owned().query(change);
        return conn.execute_counted(backend.build(&together)).await;
    }
    let changed = conn.execute_counted(backend.build(&change)).await?;
    conn.execute_counted(backend.build(&enqueue_statement(job)))
        .await?;
    Ok(changed)
}

fn enqueue_statement(job: &JobRequest<'_>) -> InsertStatement {
    let am = jobs::ActiveModel {
        integration_id: Set(job.integration_id.to_owned()),
        subject_kind: Set(job.subject_kind),
        subject_id: Set(job.subject_id.to_owned()),
        state: Set(JobState::Pending),
        attempts: Set(0),
        run_after: Set(job.now),
        locked_until: Set(None),
        locked_by: Set(None),
        last_error: Set(None),
        correlation_id: Set(job.correlation_id.map(str::to_owned)),
        created_at: Set(job.now),
        updated_at: Set(job.now),
        ..Default::default()
    };
    let on_conflict = OnConflict::columns([
        jobs::Column::IntegrationId,
        jobs::Column::SubjectKind,
        jobs::Column::SubjectId,
    ])
    // A literal, not a bound parameter: SQLite matches the conflict target against the
    // partial index's WHERE clause textually.
    .target_and_where(Expr::cust(r#""state" = 'pending'"#))
    // `DO UPDATE … WHERE false` changes nothing (the existing job keeps its back-off and the
    // statement reports 0 rows) but, unlike `DO NOTHING`, locks the pending job on PostgreSQL
    // until the caller commits. The claim skips locked rows, so a job the new change coalesces
    // into cannot be claimed, and read the subject, before that change is visible.
    .update_column(jobs::Column::UpdatedAt)
    .action_and_where(Expr::cust("false"))
    .to_owned();
    jobs::Entity::insert(am)
        .on_conflict(on_conflict)
        .into_query()
}

impl Store {
    /// How many of the integration's jobs are in `state`.
    pub async fn count_jobs(&self, integration_id: &str, state: JobState) -> Result<u64> {
        Ok(jobs::Entity::find()
            .filter(jobs::Column::IntegrationId.eq(integration_id))
            .filter(jobs::Column::State.eq(state))
            .count(self.db())
            .await?)
    }
}
