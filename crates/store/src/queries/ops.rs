//! Operator queries: the readiness ping, the outbox figures behind `/metrics`, and event
//! retention in short batches.

use crate::entities::provisioning_events as pe;
use crate::{Result, Store};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Statement,
};

/// The outbox at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Jobs waiting (due now or backing off).
    pub pending: i64,
    /// Jobs claimed by a worker (including ones whose lease ran out).
    pub running: i64,
    /// Jobs that gave up and wait for `scimbridge job retry`.
    pub failed: i64,
    /// `created_at` (epoch ms) of the oldest pending job.
    pub oldest_pending_created_at: Option<i64>,
}

impl Store {
    /// A trivial round trip (`SELECT 1`): does the database answer?
    pub async fn ping(&self) -> Result<()> {
        self.db()
            .query_one_raw(Statement::from_string(self.backend(), "SELECT 1"))
            .await?;
        Ok(())
    }

    /// Counts jobs by state and finds the oldest pending one: one statement over the
    /// `(state, run_after)` index range of the three open states.
    pub async fn queue_stats(&self) -> Result<QueueStats> {
        let sql = "SELECT \
                COUNT(CASE WHEN state = 'pending' THEN 1 END) AS pending, \
                COUNT(CASE WHEN state = 'running' THEN 1 END) AS running, \
                COUNT(CASE WHEN state = 'failed' THEN 1 END) AS failed, \
                MIN(CASE WHEN state = 'pending' THEN created_at END) AS oldest \
            FROM jobs WHERE state IN ('pending', 'running', 'failed')";
        let Some(row) = self
            .db()
            .query_one_raw(Statement::from_string(self.backend(), sql))
            .await?
        else {
            return Ok(QueueStats::default());
        };
        Ok(QueueStats {
            pending: row.try_get("", "pending")?,
            running: row.try_get("", "running")?,
            failed: row.try_get("", "failed")?,
            oldest_pending_created_at: row.try_get("", "oldest")?,
        })
    }

    /// Deletes at most `max` events older than `older_than` (epoch ms); returns how many.
    ///
    /// The ids are found by a read walking the primary key from the oldest row (old events
    /// have the smallest ids, so it stops after about `max` rows, and on SQLite a read takes no
    /// write lock); the write is then a delete of those ids alone, which holds SQLite's write
    /// lock for a few milliseconds. Callers loop, pausing between batches, until it returns
    /// less than `max`.
    pub async fn prune_events_batch(&self, older_than: i64, max: u64) -> Result<u64> {
        let ids: Vec<i64> = pe::Entity::find()
            .select_only()
            .column(pe::Column::Id)
            .filter(pe::Column::At.lt(older_than))
            .order_by_asc(pe::Column::Id)
            .limit(max.max(1))
            .into_tuple()
            .all(self.db())
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let delete = pe::Entity::delete_many()
            .filter(pe::Column::Id.is_in(ids))
            .build(self.backend());
        self.write_statement(delete).await
    }
}
