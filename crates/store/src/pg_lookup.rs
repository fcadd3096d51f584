//! PostgreSQL: `userName eq` lookups that arrive together run as one statement.
//!
//! A lookup by userName is one index probe, but on PostgreSQL each costs a round trip: a
//! message to a backend process, its wake-up, parse/bind/execute, the reply, our wake-up. At
//! tens of thousands of lookups a second those round trips, not the probes, are what
//! PostgreSQL spends its CPU on (kernel send/receive, context switches), on the same two
//! cores the HTTP server needs.
//!
//! [`UserNameLookups`] lets at most [`MAX_RUNNING`] statements run at a time. A lookup that
//! finds a free slot runs alone, as before; one that does not waits, and when a running
//! statement finishes, its slot takes *every* waiting lookup (up to [`MAX_BATCH`]) into one
//! statement over `unnest` of the keys, and hands each waiter its row. Under light load
//! nothing waits and nothing changes; under heavy load a round trip carries many lookups.
//! Every lookup is still answered by a query that started after it arrived: nothing is cached.
//!
//! A waiter whose batch failed (or whose batch was dropped) runs its lookup alone, so a batch
//! error reaches exactly the callers whose own query would also fail.

use crate::Result;
use crate::entities::scim_users as u;
use crate::pg_read::PgReader;
use sea_orm::sqlx;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Statements running at once. Two keeps both cores' worth of PostgreSQL busy while the
/// HTTP side renders; more only makes batches smaller.
const MAX_RUNNING: usize = 2;
/// Most lookups in one statement.
const MAX_BATCH: usize = 256;

/// One statement for many `(integration_id, user_name_lower)` keys. The lateral subquery is the
/// single lookup's own query, so each key is one probe of the unique index on
/// `(integration_id, user_name_lower)`.
const BATCH_SQL: &str = "SELECT s.* FROM unnest($1::text[], $2::text[]) AS k(integration_id, user_name_lower) \
     CROSS JOIN LATERAL (SELECT * FROM scim_users u \
     WHERE u.integration_id = k.integration_id AND u.user_name_lower = k.user_name_lower \
     LIMIT 1) s";

/// The single lookup.
const SINGLE_SQL: &str =
    "SELECT * FROM scim_users WHERE integration_id = $1 AND user_name_lower = $2 LIMIT 1";

/// Lookups of users by integration and lowercased userName, batched while others run.
#[derive(Debug)]
pub(crate) struct UserNameLookups {
    reader: Arc<PgReader>,
    state: Mutex<State>,
    /// Lookups answered from a batch (for tests and diagnostics).
    batched: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    running: usize,
    waiting: Vec<Waiting>,
}

#[derive(Debug)]
struct Waiting {
    integration_id: String,
    key: String,
    reply: oneshot::Sender<Option<u::Model>>,
}

/// A running statement's slot; dropping it hands the slot to the waiting lookups, if any.
struct Slot(Arc<UserNameLookups>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl UserNameLookups {
    pub(crate) fn new(reader: Arc<PgReader>) -> UserNameLookups {
        UserNameLookups {
            reader,
            state: Mutex::new(State::default()),
            batched: AtomicU64::new(0),
        }
    }

    /// How many lookups were answered by a batch so far.
    pub(crate) fn batched(&self) -> u64 {
        self.batched.load(Ordering::Relaxed)
    }

    /// The user of `integration_id` whose lowercased userName is `key`.
    pub(crate) async fn find(
        self: &Arc<Self>,
        integration_id: &str,
        key: String,
    ) -> Result<Option<u::Model>> {
        let waiting = {
            let mut state = self.lock();
            if state.running < MAX_RUNNING {
                state.running += 1;
                None
            } else {
                let (reply, answer) = oneshot::channel();
                state.waiting.push(Waiting {
                    integration_id: integration_id.to_string(),
                    key: key.clone(),
                    reply,
                });
                Some(answer)
            }
        };
        match waiting {
            None => {
                let _slot = Slot(Arc::clone(self));
                self.single(integration_id, &key).await
            }
            Some(answer) => match answer.await {
                Ok(found) => Ok(found),
                // The batch failed or never ran: this lookup's own query says why, if it fails.
                Err(_) => self.single(integration_id, &key).await,
            },
        }
    }

    async fn single(&self, integration_id: &str, key: &str) -> Result<Option<u::Model>> {
        let rows: Vec<u::Model> = self
            .reader
            .rows_of(|| sqlx::query(SINGLE_SQL).bind(integration_id).bind(key))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// A statement finished: run the waiting lookups in the freed slot, or free it.
    fn release(self: &Arc<Self>) {
        let batch = {
            let mut state = self.lock();
            if state.waiting.is_empty() {
                state.running -= 1;
                return;
            }
            let take = state.waiting.len().min(MAX_BATCH);
            state.waiting.drain(..take).collect::<Vec<_>>()
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to run the batch on (a Store dropped outside one): the waiters'
            // senders drop with `batch` and each runs its own query.
            self.lock().running -= 1;
            return;
        };
        let slot = Slot(Arc::clone(self));
        runtime.spawn(async move {
            let lookups = Arc::clone(&slot.0);
            lookups.run_batch(batch).await;
            drop(slot);
        });
    }

    async fn run_batch(&self, batch: Vec<Waiting>) {
        let integration_ids: Vec<String> = batch.iter().map(|w| w.integration_id.clone()).collect();
        let keys: Vec<String> = batch.iter().map(|w| w.key.clone()).collect();
        let rows: Vec<u::Model> = match self
            .reader
            .rows_of(|| {
                sqlx::query(BATCH_SQL)
                    .bind(integration_ids.clone())
                    .bind(keys.clone())
            })
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::debug!(error = %e, lookups = batch.len(), "a batched userName lookup failed; each runs alone");
                return;
            }
        };
        let found: HashMap<(String, String), u::Model> = rows
            .into_iter()
            .map(|m| ((m.integration_id.clone(), m.user_name_lower.clone()), m))
            .collect();
        // Counted before any reply: a caller that got its answer sees its batch counted.
        self.batched
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for w in batch {
            let row = found.get(&(w.integration_id, w.key)).cloned();
            // A waiter that gave up (its request was cancelled) no longer listens.
            let _ = w.reply.send(row);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a counter and a list, consistent after every statement: a panic
        // elsewhere while it was locked leaves nothing half-done.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
