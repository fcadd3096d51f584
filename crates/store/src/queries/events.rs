//! Provisioning events: one trace line per inbound SCIM request and per outbound call.

use crate::entities::provisioning_events as pe;
use crate::types::{Direction, SubjectKind};
use crate::{Execute, Result, Store};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, Statement,
};
use serde::Serialize;
use std::sync::Arc;

/// Most rows in one multi-row INSERT on PostgreSQL (14 bound values a row: far below the
/// bind limit).
const MAX_INSERT_ROWS: usize = 256;
/// Rows deleted per statement when pruning, so no statement holds the lock for long.
const PRUNE_BATCH: u64 = 5_000;
/// Largest page [`Store::list_events`] returns.
pub const MAX_EVENT_PAGE: u64 = 1_000;
/// The outcome of almost every event; the outcome indexes leave it out.
pub const OK_OUTCOME: &str = "ok";

/// An event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Epoch ms.
    pub at: i64,
    /// Tenant.
    pub tenant_id: String,
    /// Integration.
    pub integration_id: String,
    /// Inbound (IdP → us) or outbound (us → target).
    pub direction: Direction,
    /// e.g. `POST /Users`, `PATCH /Users/{id}`, `create_user`.
    pub operation: String,
    /// User or group, if the event concerns one.
    pub subject_kind: Option<SubjectKind>,
    /// SCIM id of the subject.
    pub subject_id: Option<String>,
    /// userName / displayName of the subject.
    pub subject_name: Option<String>,
    /// HTTP status returned or received.
    pub http_status: Option<i32>,
    /// `ok`, `error`, `retry`…
    pub outcome: String,
    /// Duration of the request or call.
    pub duration_ms: Option<i64>,
    /// Ties an inbound request to the outbound calls it caused.
    pub correlation_id: String,
    /// Attempt number of an outbound call.
    pub attempt: Option<i32>,
    /// Redacted JSON detail.
    pub detail: Option<String>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Monotonic id; also the keyset cursor.
    pub id: i64,
    /// Epoch ms.
    pub at: i64,
    /// Tenant.
    pub tenant_id: String,
    /// Integration.
    pub integration_id: String,
    /// Direction.
    pub direction: Direction,
    /// Operation.
    pub operation: String,
    /// Subject kind.
    pub subject_kind: Option<SubjectKind>,
    /// Subject id.
    pub subject_id: Option<String>,
    /// Subject name.
    pub subject_name: Option<String>,
    /// HTTP status.
    pub http_status: Option<i32>,
    /// Outcome.
    pub outcome: String,
    /// Duration.
    pub duration_ms: Option<i64>,
    /// Correlation id.
    pub correlation_id: String,
    /// Attempt.
    pub attempt: Option<i32>,
    /// Redacted JSON detail.
    pub detail: Option<String>,
}

impl From<pe::Model> for Event {
    fn from(m: pe::Model) -> Self {
        Event {
            id: m.id,
            at: m.at,
            tenant_id: m.tenant_id,
            integration_id: m.integration_id,
            direction: m.direction,
            operation: m.operation,
            subject_kind: m.subject_kind,
            subject_id: m.subject_id,
            subject_name: m.subject_name,
            http_status: m.http_status,
            outcome: m.outcome,
            duration_ms: m.duration_ms,
            correlation_id: m.correlation_id,
            attempt: m.attempt,
            detail: m.detail,
        }
    }
}

/// A log-view query. Every field narrows the result; `None` means "any". With neither
/// `tenant_id` nor `integration_id` it spans all tenants (support/platform view only).
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only this tenant.
    pub tenant_id: Option<String>,
    /// Only this integration.
    pub integration_id: Option<String>,
    /// Only events whose subject name (userName / displayName) is exactly this.
    pub subject: Option<String>,
    /// Only events about this SCIM id.
    pub subject_id: Option<String>,
    /// Only this correlation id (one request's whole trace).
    pub correlation_id: Option<String>,
    /// Only this operation.
    pub operation: Option<String>,
    /// Only this direction.
    pub direction: Option<Direction>,
    /// Only this outcome.
    pub outcome: Option<String>,
    /// `at >= from` (epoch ms).
    pub from: Option<i64>,
    /// `at < to` (epoch ms).
    pub to: Option<i64>,
    /// Keyset cursor: only events older than this event (the last id of the previous page).
    pub before_id: Option<i64>,
    /// Page size, capped at [`MAX_EVENT_PAGE`]; 0 means the cap.
    pub limit: u64,
}

impl EventQuery {
    /// The SELECT [`Store::list_events`] runs for this query. `cursor_at` is the time of the
    /// `before_id` event, looked up first; `None` if there is no cursor or it was pruned.
    pub fn select(&self, cursor_at: Option<i64>) -> Select<pe::Entity> {
        let mut cond = Condition::all();
        if let Some(t) = &self.tenant_id {
            cond = cond.add(pe::Column::TenantId.eq(t.as_str()));
        }
        if let Some(i) = &self.integration_id {
            cond = cond.add(pe::Column::IntegrationId.eq(i.as_str()));
        }
        if let Some(s) = &self.subject {
            cond = cond.add(pe::Column::SubjectName.eq(s.as_str()));
        }
        if let Some(s) = &self.subject_id {
            cond = cond.add(pe::Column::SubjectId.eq(s.as_str()));
        }
        if let Some(c) = &self.correlation_id {
            cond = cond.add(pe::Column::CorrelationId.eq(c.as_str()));
        }
        if let Some(o) = &self.operation {
            cond = cond.add(pe::Column::Operation.eq(o.as_str()));
        }
        if let Some(d) = self.direction {
            cond = cond.add(pe::Column::Direction.eq(d));
        }
        if let Some(o) = &self.outcome {
            cond = cond.add(pe::Column::Outcome.eq(o.as_str()));
            if o != OK_OUTCOME {
                // Repeats the outcome indexes' own condition (migration 000008): neither
                // SQLite nor PostgreSQL uses a partial index for a query that doesn't imply it.
                cond = cond.add(pe::Column::Outcome.ne(OK_OUTCOME));
            }
        }
        if let Some(from) = self.from {
            cond = cond.add(pe::Column::At.gte(from));
        }
        if let Some(to) = self.to {
            cond = cond.add(pe::Column::At.lt(to));
        }
        if let Some(before) = self.before_id {
            // Keyset on (at, id): take what sorts after the cursor. `at <= t` keeps the index
            // range; the OR only trims ties.
            match cursor_at {
                Some(t) => {
                    cond = cond.add(pe::Column::At.lte(t)).add(
                        Condition::any()
                            .add(pe::Column::At.lt(t))
                            .add(pe::Column::Id.lt(before)),
                    );
                }
                // Cursor pruned meanwhile: fall back to the id order.
                None => cond = cond.add(pe::Column::Id.lt(before)),
            }
        }
        let limit = match self.limit {
            0 => MAX_EVENT_PAGE,
            n => n.min(MAX_EVENT_PAGE),
        };
        pe::Entity::find()
            .filter(cond)
            .order_by_desc(pe::Column::At)
            .order_by_desc(pe::Column::Id)
            .limit(limit)
    }
}

fn active(e: NewEvent) -> pe::ActiveModel {
    pe::ActiveModel {
        at: Set(e.at),
        tenant_id: Set(e.tenant_id),
        integration_id: Set(e.integration_id),
        direction: Set(e.direction),
        operation: Set(e.operation),
        subject_kind: Set(e.subject_kind),
        subject_id: Set(e.subject_id),
        subject_name: Set(e.subject_name),
        http_status: Set(e.http_status),
        outcome: Set(e.outcome),
        duration_ms: Set(e.duration_ms),
        correlation_id: Set(e.correlation_id),
        attempt: Set(e.attempt),
        detail: Set(e.detail),
        ..Default::default()
    }
}

/// The inserts that record `events`, in order, each of a statement text that repeats: a
/// new text costs a parse and plan, and a cached one memory for as long as its connection
/// lives. On SQLite, one single-row insert per event: the group-commit writer runs them
/// in-process from one cached prepared statement. On PostgreSQL, where every statement is
/// a round trip, multi-row inserts of 256, 128, …, 2 or 1 rows (at most nine statements
/// for any batch, nine texts in all), so sqlx's per-connection statement cache always
/// holds them; a batch of any size as one statement was a new text for nearly every batch
/// (parse and plan were ~8.5 µs of PostgreSQL's ~25 µs per event, round 11).
fn event_inserts(backend: DbBackend, events: Vec<NewEvent>) -> Vec<Statement> {
    let mut rows = events.into_iter().map(active);
    insert_chunks(backend, rows.len())
        .map(|n| pe::Entity::insert_many(rows.by_ref().take(n)).build(backend))
        .collect()
}

/// The row counts of the inserts for `n` events: see [`event_inserts`].
fn insert_chunks(backend: DbBackend, mut n: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let take = match backend {
            _ if n == 0 => return None,
            DbBackend::Sqlite => 1,
            // The largest power of two that fits.
            _ => MAX_INSERT_ROWS.min(1 << n.ilog2()),
        };
        n -= take;
        Some(take)
    })
}

impl Store {
    /// Records a batch of events: its inserts ([`event_inserts`]) in one transaction, through
    /// the group-commit writer (on SQLite it so never competes with SCIM writes for the
    /// write lock).
    pub async fn insert_events(&self, events: Vec<NewEvent>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        // The SQL is built here, by the caller, not on the writer's serial path.
        let statements = Arc::new(self.event_inserts(events));
        self.write(move |txn| {
            let statements = Arc::clone(&statements);
            async move {
                for statement in statements.iter() {
                    txn.execute_counted(statement.clone()).await?;
                }
                Ok(())
            }
        })
        .await
    }

    /// The inserts that record `events` (none for none); see [`event_inserts`].
    pub(crate) fn event_inserts(&self, events: Vec<NewEvent>) -> Vec<Statement> {
        event_inserts(self.backend(), events)
    }

    /// Events matching `q`, newest first (by time, then id). Page with `before_id` = the
    /// last id of the previous page.
    pub async fn list_events(&self, q: &EventQuery) -> Result<Vec<Event>> {
        let cursor_at = match q.before_id {
            Some(before) => {
                pe::Entity::find_by_id(before)
                    .select_only()
                    .column(pe::Column::At)
                    .into_tuple::<i64>()
                    .one(self.db())
                    .await?
            }
            None => None,
        };
        let rows = q.select(cursor_at).all(self.db()).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Deletes events older than `older_than` (epoch ms), in batches. Returns how many.
    pub async fn prune_events(&self, older_than: i64) -> Result<u64> {
        let mut total = 0;
        loop {
            let ids: Vec<i64> = pe::Entity::find()
                .select_only()
                .column(pe::Column::Id)
                .filter(pe::Column::At.lt(older_than))
                .order_by_asc(pe::Column::At)
                .limit(PRUNE_BATCH)
                .into_tuple()
                .all(self.db())
                .await?;
            if ids.is_empty() {
                return Ok(total);
            }
            let delete = pe::Entity::delete_many()
                .filter(pe::Column::Id.is_in(ids))
                .build(self.backend());
            total += self.write_statement(delete).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn event(i: usize) -> NewEvent {
        NewEvent {
            subject_kind: i.is_multiple_of(2).then_some(SubjectKind::User),
            subject_name: Some(format!("u{i}")),
            ..crate::testing::inbound_event(i as i64, "t", "i", &format!("c{i}"))
        }
    }

    #[test]
    fn inserts_cover_every_event_in_order_with_few_statement_texts() {
        // PostgreSQL: the 256-row inserts plus one insert per bit of the rest.
        let pg_count = |n: usize| n / MAX_INSERT_ROWS + (n % MAX_INSERT_ROWS).count_ones() as usize;
        let sqlite_count = |n: usize| n;
        for (backend, most_texts, count) in [
            (DbBackend::Postgres, 9, &pg_count as &dyn Fn(usize) -> usize),
            (DbBackend::Sqlite, 1, &sqlite_count),
        ] {
            let mut texts = HashSet::new();
            for n in (0..=300).chain([511, 512, 513, 1_000, 4_096]) {
                let statements = event_inserts(backend, (0..n).map(event).collect());
                assert_eq!(statements.len(), count(n), "{backend:?} n={n}");
                let mut names = Vec::new();
                for st in &statements {
                    texts.insert(st.sql.clone());
                    let values = &st.values.as_ref().unwrap().0;
                    // Every row binds its 14 columns; the subject name is the 8th.
                    assert!(values.len().is_multiple_of(14), "{backend:?} n={n}");
                    names.extend(values.chunks(14).map(|row| row[7].clone()));
                }
                let expected: Vec<sea_orm::Value> =
                    (0..n).map(|i| Some(format!("u{i}")).into()).collect();
                assert_eq!(names, expected, "{backend:?} n={n}");
            }
            assert!(
                texts.len() <= most_texts,
                "{backend:?}: {} texts",
                texts.len()
            );
        }
    }

    #[test]
    fn postgres_chunks_are_powers_of_two_largest_first() {
        let chunks = |n| insert_chunks(DbBackend::Postgres, n).collect::<Vec<_>>();
        assert_eq!(chunks(0), Vec::<usize>::new());
        assert_eq!(chunks(1), [1]);
        assert_eq!(chunks(512), [256, 256]);
        assert_eq!(chunks(300), [256, 32, 8, 4]);
        assert_eq!(chunks(511), [256, 128, 64, 32, 16, 8, 4, 2, 1]);
        assert_eq!(
            insert_chunks(DbBackend::Sqlite, 3).collect::<Vec<_>>(),
            [1, 1, 1]
        );
    }
}
