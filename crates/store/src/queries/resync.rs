//! The last **Apply to all now** per integration (`resync_batches`) and its progress: the jobs
//! it queued carry its id as their correlation id, and a job's row is deleted when it is done,
//! so what is left of the batch is a count of open jobs with that id.

use crate::{Result, Store, StoreError};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, OnConflict, Query};
use sea_orm::{ConnectionTrait, Statement};

/// Where the last Apply to all of an integration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResyncProgress {
    pub integration_id: String,
    /// The correlation id of its jobs (the provisioning log's trace of the batch).
    pub batch_id: String,
    /// Users the rules would change when it was asked for.
    pub users: u64,
    /// Jobs it added; `users - queued` already had a job waiting, which applies the rules too.
    pub queued: u64,
    pub started_at: i64,
    /// Its jobs still pending or running.
    pub remaining: u64,
    /// Its jobs that gave up (they wait on the Failed jobs page).
    pub failed: u64,
}

impl ResyncProgress {
    /// Jobs of the batch carried out.
    pub fn done(&self) -> u64 {
        self.queued.saturating_sub(self.remaining + self.failed)
    }

    /// Nothing of it is left to run.
    pub fn finished(&self) -> bool {
        self.remaining == 0
    }
}

fn table() -> Alias {
    Alias::new("resync_batches")
}

fn col(name: &str) -> Alias {
    Alias::new(name)
}

impl Store {
    /// Records an Apply to all (replacing the integration's previous one).
    pub async fn record_resync(
        &self,
        integration_id: &str,
        batch_id: &str,
        users: u64,
        queued: u64,
        at: i64,
    ) -> Result<()> {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let upsert = Query::insert()
            .into_table(table())
            .columns([
                col("integration_id"),
                col("batch_id"),
                col("users"),
                col("queued"),
                col("started_at"),
            ])
            .values([
                integration_id.into(),
                batch_id.into(),
                as_i64(users).into(),
                as_i64(queued).into(),
                at.into(),
            ])
            .map_err(|e| StoreError::InvalidData(e.to_string()))?
            .on_conflict(
                OnConflict::column(col("integration_id"))
                    .update_columns([
                        col("batch_id"),
                        col("users"),
                        col("queued"),
                        col("started_at"),
                    ])
                    .to_owned(),
            )
            .to_owned();
        self.write_statement(self.backend().build(&upsert)).await?;
        Ok(())
    }

    /// The progress of the integration's last Apply to all, if it had one.
    pub async fn resync_progress(&self, integration_id: &str) -> Result<Option<ResyncProgress>> {
        Ok(self
            .resync_progress_where(Some(integration_id))
            .await?
            .into_iter()
            .next())
    }

    /// Every integration's last Apply to all (`/metrics`).
    pub async fn resync_progress_unscoped(&self) -> Result<Vec<ResyncProgress>> {
        self.resync_progress_where(None).await
    }

    /// One statement: the batch rows with their open jobs counted by state.
    async fn resync_progress_where(
        &self,
        integration_id: Option<&str>,
    ) -> Result<Vec<ResyncProgress>> {
        let j = Alias::new("j");
        let b = Alias::new("b");
        let mut select = Query::select();
        select
            .columns([
                (b.clone(), col("integration_id")),
                (b.clone(), col("batch_id")),
                (b.clone(), col("users")),
                (b.clone(), col("queued")),
                (b.clone(), col("started_at")),
            ])
            .expr_as(
                Expr::cust("COUNT(CASE WHEN j.state IN ('pending', 'running') THEN 1 END)"),
                col("remaining"),
            )
            .expr_as(
                Expr::cust("COUNT(CASE WHEN j.state = 'failed' THEN 1 END)"),
                col("failed"),
            )
            .from_as(table(), b.clone())
            .join_as(
                JoinType::LeftJoin,
                Alias::new("jobs"),
                j.clone(),
                Expr::col((j.clone(), col("integration_id")))
                    .equals((b.clone(), col("integration_id")))
                    .and(
                        Expr::col((j.clone(), col("correlation_id")))
                            .equals((b.clone(), col("batch_id"))),
                    ),
            )
            .group_by_columns([
                (b.clone(), col("integration_id")),
                (b.clone(), col("batch_id")),
                (b.clone(), col("users")),
                (b.clone(), col("queued")),
                (b.clone(), col("started_at")),
            ]);
        if let Some(id) = integration_id {
            select.and_where(Expr::col((b.clone(), col("integration_id"))).eq(id));
        }
        let statement: Statement = self.backend().build(&select);
        let rows = self.db().query_all_raw(statement).await?;
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        rows.into_iter()
            .map(|row| {
                Ok(ResyncProgress {
                    integration_id: row.try_get("", "integration_id")?,
                    batch_id: row.try_get("", "batch_id")?,
                    users: count(row.try_get("", "users")?),
                    queued: count(row.try_get("", "queued")?),
                    started_at: row.try_get("", "started_at")?,
                    remaining: count(row.try_get("", "remaining")?),
                    failed: count(row.try_get("", "failed")?),
                })
            })
            .collect()
    }
}
