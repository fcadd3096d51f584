//! Read models for the support views: activity histograms for the dashboard chart, and
//! discarding failed jobs.

use crate::entities::{jobs, provisioning_events as pe};
use crate::types::JobState;
use crate::{Result, Store};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryTrait, Statement, Value,
};

/// Activity in one time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bucket {
    /// Bucket start, epoch ms.
    pub start: i64,
    /// Inbound SCIM requests.
    pub inbound: u64,
    /// Outbound target calls.
    pub outbound: u64,
    /// Failures: inbound answered with an error status, outbound errors and retries.
    pub failures: u64,
}

impl Store {
    /// The integration's events in `[from, from + buckets × bucket_ms)`, counted per bucket
    /// (every bucket present, empty ones as zero). One grouped query on the
    /// `(integration_id, at)` index.
    pub async fn event_histogram(
        &self,
        integration_id: &str,
        from: i64,
        bucket_ms: i64,
        buckets: usize,
    ) -> Result<Vec<Bucket>> {
        let bucket_ms = bucket_ms.max(1);
        let to = from + bucket_ms * buckets as i64;
        let backend = self.db().get_database_backend();
        let p = |n: usize| match backend {
            DbBackend::Postgres => format!("${n}"),
            _ => "?".to_string(),
        };
        let sql = format!(
            "SELECT (at - {f}) / {b} AS bucket, \
               SUM(CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END) AS inbound, \
               SUM(CASE WHEN direction = 'outbound' THEN 1 ELSE 0 END) AS outbound, \
               SUM(CASE WHEN outcome IN ('error', 'retry') THEN 1 ELSE 0 END) AS failures \
             FROM provisioning_events \
             WHERE integration_id = {i} AND at >= {f2} AND at < {t} \
             GROUP BY 1",
            f = p(1),
            b = p(2),
            i = p(3),
            f2 = p(4),
            t = p(5),
        );
        let values: Vec<Value> = vec![
            from.into(),
            bucket_ms.into(),
            integration_id.into(),
            from.into(),
            to.into(),
        ];
        let rows = self
            .db()
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        let mut out: Vec<Bucket> = (0..buckets)
            .map(|n| Bucket {
                start: from + bucket_ms * n as i64,
                ..Bucket::default()
            })
            .collect();
        for row in rows {
            let idx: i64 = row.try_get("", "bucket")?;
            let count = |col: &str| -> Result<u64> {
                // SUM is BIGINT on SQLite and NUMERIC on PostgreSQL.
                let v: i64 = row
                    .try_get::<i64>("", col)
                    .or_else(|_| {
                        row.try_get::<sea_orm::prelude::Decimal>("", col)
                            .map(|d| i64::try_from(d).unwrap_or(0))
                    })
                    .unwrap_or(0);
                Ok(v.max(0) as u64)
            };
            if let Some(b) = usize::try_from(idx).ok().and_then(|i| out.get_mut(i)) {
                b.inbound = count("inbound")?;
                b.outbound = count("outbound")?;
                b.failures = count("failures")?;
            }
        }
        Ok(out)
    }

    /// Deletes a failed job of the integration (the support view's "discard"). Returns whether
    /// one was deleted.
    pub async fn discard_failed_job(&self, integration_id: &str, job_id: i64) -> Result<bool> {
        let delete = jobs::Entity::delete_many()
            .filter(jobs::Column::IntegrationId.eq(integration_id))
            .filter(jobs::Column::Id.eq(job_id))
            .filter(jobs::Column::State.eq(JobState::Failed))
            .build(self.backend());
        Ok(self.write_statement(delete).await? > 0)
    }

    /// Epoch ms of the integration's newest event matching `direction` (`None`: any).
    pub async fn last_event_at(
        &self,
        integration_id: &str,
        direction: Option<crate::types::Direction>,
    ) -> Result<Option<i64>> {
        let mut q = pe::Entity::find().filter(pe::Column::IntegrationId.eq(integration_id));
        if let Some(d) = direction {
            q = q.filter(pe::Column::Direction.eq(d));
        }
        use sea_orm::{QueryOrder, QuerySelect};
        Ok(q.select_only()
            .column(pe::Column::At)
            .order_by_desc(pe::Column::At)
            .limit(1)
            .into_tuple::<i64>()
            .one(self.db())
            .await?)
    }
}

impl Store {
    /// Queues a sync job for every user of the integration (after switching from dry run to
    /// live, so the target catches up without waiting for each user's next change). Users with
    /// a pending job already keep it. Returns how many jobs were queued.
    pub async fn enqueue_resync(&self, integration_id: &str, now: i64) -> Result<u64> {
        let ids: Vec<String> = {
            use crate::entities::scim_users as u;
            use sea_orm::QuerySelect;
            u::Entity::find()
                .select_only()
                .column(u::Column::Id)
                .filter(u::Column::IntegrationId.eq(integration_id))
                .into_tuple()
                .all(self.db())
                .await?
        };
        self.enqueue_users(integration_id, &ids, "resync", now)
            .await
    }

    /// Queues a sync job for each of `user_ids` (users with a pending job keep it), under
    /// `correlation_id`. Returns how many jobs were queued.
    pub async fn enqueue_users(
        &self,
        integration_id: &str,
        user_ids: &[String],
        correlation_id: &str,
        now: i64,
    ) -> Result<u64> {
        let mut queued = 0;
        // Each chunk of 500 is a unit of the writer (bounded: a large directory never holds
        // the write lock for long; on SQLite it never competes with the writer for it).
        for chunk in user_ids.chunks(500) {
            let chunk: std::sync::Arc<[String]> = chunk.into();
            let integration_id: std::sync::Arc<str> = integration_id.into();
            let correlation_id: std::sync::Arc<str> = correlation_id.into();
            queued += self
                .write(move |txn| {
                    let (chunk, integration_id, correlation_id) = (
                        chunk.clone(),
                        integration_id.clone(),
                        correlation_id.clone(),
                    );
                    async move {
                        let mut added = 0;
                        for id in chunk.iter() {
                            if crate::jobs::enqueue_job(
                                &*txn,
                                &integration_id,
                                crate::types::SubjectKind::User,
                                id,
                                Some(&correlation_id),
                                now,
                            )
                            .await?
                            {
                                added += 1;
                            }
                        }
                        Ok::<u64, crate::StoreError>(added)
                    }
                })
                .await?;
        }
        Ok(queued)
    }
}

impl Store {
    /// The integration's `updated_at` (epoch ms), or `None` if it is gone: one primary-key
    /// lookup, so workers can tell whether their cached settings are stale.
    pub async fn integration_updated_at(&self, integration_id: &str) -> Result<Option<i64>> {
        use crate::entities::integrations as i;
        use sea_orm::QuerySelect;
        Ok(i::Entity::find_by_id(integration_id)
            .select_only()
            .column(i::Column::UpdatedAt)
            .into_tuple::<i64>()
            .one(self.db())
            .await?)
    }
}
