//! Running the outbox: claiming due jobs under a lease, finishing, retrying or failing them,
//! the shared per-account rate limiter, and the target links a worker keeps.
//!
//! PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so several instances share the work; on
//! SQLite one worker runs. A job whose lease ran out (its process died) is claimed again.

use crate::entities::{jobs, target_links};
use crate::types::JobState;
use crate::{Result, Store, StoreError};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Statement,
};

/// A claimed job.
pub type Job = jobs::Model;
/// A SCIM user's link to its target record.
pub type TargetLink = target_links::Model;

impl Store {
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
        // SQLite binds `?` positionally, so every use repeats its value.
        let sql = format!(
            r#"UPDATE jobs SET state = 'running', locked_until = {p1}, locked_by = {p2},
                   attempts = attempts + 1, updated_at = {p3}
               WHERE id IN (
                   SELECT j.id FROM jobs j
                   WHERE ((j.state = 'pending' AND j.run_after <= {p4})
                          OR (j.state = 'running' AND j.locked_until < {p5}))
                     AND NOT EXISTS (
                         SELECT 1 FROM jobs r
                         WHERE r.integration_id = j.integration_id AND r.subject_kind = j.subject_kind
                           AND r.subject_id = j.subject_id AND r.state = 'running'
                           AND r.locked_until >= {p6} AND r.id <> j.id)
                   ORDER BY j.run_after, j.id
                   LIMIT {p7} {lock})
               RETURNING *"#,
            p1 = p(1),
            p2 = p(2),
            p3 = p(3),
            p4 = p(4),
            p5 = p(5),
            p6 = p(6),
            p7 = p(7)
        );
        let values: Vec<sea_orm::Value> = vec![
            (now + lease_ms).into(),
            worker.into(),
            now.into(),
            now.into(),
            now.into(),
            now.into(),
            (limit as i64).into(),
        ];
        let mut claimed = jobs::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
            .all(self.db())
            .await?;
        claimed.sort_by_key(|j| (j.run_after, j.id));
        Ok(claimed)
    }

    /// A job is done: it is removed (its events stay in the log).
    pub async fn complete_job(&self, id: i64, worker: &str) -> Result<()> {
        jobs::Entity::delete_many()
            .filter(jobs::Column::Id.eq(id))
            .filter(jobs::Column::LockedBy.eq(worker))
            .exec(self.db())
            .await?;
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
        let res = jobs::Entity::update_many()
            .col_expr(
                jobs::Column::State,
                sea_orm::sea_query::Expr::value(JobState::Pending.as_str()),
            )
            .col_expr(jobs::Column::RunAfter, run_after.into())
            .col_expr(jobs::Column::LastError, error.into())
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
        jobs::Entity::update_many()
            .col_expr(
                jobs::Column::State,
                sea_orm::sea_query::Expr::value(JobState::Failed.as_str()),
            )
            .col_expr(jobs::Column::LastError, error.into())
            .col_expr(
                jobs::Column::LockedUntil,
                sea_orm::sea_query::Expr::value(Option::<i64>::None),
            )
            .col_expr(jobs::Column::UpdatedAt, now.into())
            .filter(jobs::Column::Id.eq(id))
            .filter(jobs::Column::LockedBy.eq(worker))
            .exec(self.db())
            .await?;
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
        let row = self
            .db()
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [key.into(), now.into(), interval_ms.into()],
            ))
            .await?
            .ok_or_else(|| {
                StoreError::InvalidData("rate slot reservation returned nothing".into())
            })?;
        let next_at: i64 = row.try_get("", "next_at")?;
        Ok(next_at - interval_ms)
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
            .exec_without_returning(self.db())
            .await?;
        Ok(())
    }

    /// Removes a link (the target record is gone).
    pub async fn delete_link(&self, integration_id: &str, scim_user_id: &str) -> Result<()> {
        target_links::Entity::delete_by_id((integration_id.to_owned(), scim_user_id.to_owned()))
            .exec(self.db())
            .await?;
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
