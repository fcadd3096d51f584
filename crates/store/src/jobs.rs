//! The outbox: one pending job per subject, written in the same transaction as the SCIM
//! change that caused it. (Claiming and running jobs belongs to the worker, later.)

use crate::entities::jobs;
use crate::types::{JobState, SubjectKind};
use crate::{Execute, Result, Store};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryTrait,
    sea_query::{Expr, OnConflict},
};

/// Asks for `subject` of `integration_id` to be brought in line with the target.
///
/// Coalesces: if a pending job for the subject already exists nothing is added (a job is
/// level-triggered, it reads the subject's current state when it runs; an existing job's
/// back-off is kept). A job that is already running does not absorb the request: a new pending
/// job is added so the latest change is not lost. Safe under concurrency: relies on the
/// partial unique index over pending jobs with `INSERT … ON CONFLICT DO NOTHING`.
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
    let am = jobs::ActiveModel {
        integration_id: Set(integration_id.to_owned()),
        subject_kind: Set(subject_kind),
        subject_id: Set(subject_id.to_owned()),
        state: Set(JobState::Pending),
        attempts: Set(0),
        run_after: Set(now),
        locked_until: Set(None),
        locked_by: Set(None),
        last_error: Set(None),
        correlation_id: Set(correlation_id.map(str::to_owned)),
        created_at: Set(now),
        updated_at: Set(now),
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
    .do_nothing()
    .to_owned();
    let insert = jobs::Entity::insert(am)
        .on_conflict(on_conflict)
        .build(conn.get_database_backend());
    Ok(conn.execute_counted(insert).await? > 0)
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
