//! The provisioning-event writer. Request handlers hand events to a bounded channel and move
//! on; one task writes them in batches (one transaction per batch), so logging every request
//! costs the request path almost nothing and the database one commit per batch.

use std::time::Duration;
use store::NewEvent;
use store::Store;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Most events written in one transaction.
const BATCH: usize = 512;
/// Longest an event waits before it is written.
const LINGER: Duration = Duration::from_millis(50);
/// Tries per batch before its events are dropped (and counted). Besides a short database
/// outage, this covers shutdown on PostgreSQL: a pooled connection opened while serving a
/// request belongs to that HTTP worker's runtime, which stops first, so each such idle
/// connection fails once ("Tokio context is being shutdown") and is discarded; the next try
/// gets a connection of this runtime.
const ATTEMPTS: u32 = 50;
/// Pause after a failed try, times the number of tries so far (at most 10×).
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Sends events to the writer task.
#[derive(Clone)]
pub struct EventSink {
    tx: mpsc::Sender<NewEvent>,
}

impl EventSink {
    /// Starts the writer; the returned handle finishes once every sink is dropped and the
    /// queue is written.
    pub fn start(store: Store) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(16_384);
        (Self { tx }, tokio::spawn(write_loop(store, rx)))
    }

    /// Queues an event. Waits only when the queue is full (back-pressure instead of loss).
    pub async fn record(&self, event: NewEvent) {
        if self.tx.send(event).await.is_err() {
            metrics::counter!(crate::ops::EVENTS_DROPPED).increment(1);
            tracing::warn!("event writer stopped; an event was not recorded");
        }
    }
}

async fn write_loop(store: Store, rx: mpsc::Receiver<NewEvent>) {
    gather(rx, |batch| {
        let store = store.clone();
        async move { write_batch(&store, batch).await }
    })
    .await;
}

/// Takes events from `rx` in batches and hands each batch to `write`, until every sender is
/// gone and the queue is empty. After an event arrives it sleeps [`LINGER`] and then takes
/// what has queued meanwhile (at once when a full batch is already waiting, or at
/// shutdown). Waiting on the channel instead would wake this task, and often a parked
/// runtime thread, for every event: one wake-up per SCIM request.
async fn gather<W, F>(mut rx: mpsc::Receiver<NewEvent>, write: W)
where
    W: Fn(Vec<NewEvent>) -> F,
    F: Future<Output = ()>,
{
    loop {
        let Some(first) = rx.recv().await else { break };
        // No linger once every sender is gone (shutdown): nothing more will come.
        if rx.len() + 1 < BATCH && !rx.is_closed() {
            tokio::time::sleep(LINGER).await;
        }
        let mut batch = Vec::with_capacity(BATCH);
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        write(batch).await;
    }
}

/// Writes one batch, retrying as [`ATTEMPTS`] says; counts what was written or dropped.
async fn write_batch(store: &Store, batch: Vec<NewEvent>) {
    let n = batch.len();
    let mut attempt = 1;
    loop {
        match store.insert_events(batch.clone()).await {
            Ok(()) => {
                metrics::counter!(crate::ops::EVENTS_WRITTEN).increment(n as u64);
                return;
            }
            Err(e) if attempt < ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "writing provisioning events failed; retrying");
                tokio::time::sleep(RETRY_PAUSE * attempt.min(10)).await;
                attempt += 1;
            }
            Err(e) => {
                metrics::counter!(crate::ops::EVENTS_DROPPED).increment(n as u64);
                tracing::error!(error = %e, events = n, "could not write provisioning events");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::time::Instant;

    fn event(i: usize) -> NewEvent {
        store::testing::inbound_event(i as i64, "t", "i", &i.to_string())
    }

    /// Runs [`gather`] on a paused clock; each batch as (when it was written, its events'
    /// numbers).
    async fn batches_of(
        send: impl AsyncFnOnce(mpsc::Sender<NewEvent>),
    ) -> Vec<(Duration, Vec<i64>)> {
        let start = Instant::now();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel(16_384);
        let record = Arc::clone(&seen);
        let writer = tokio::spawn(gather(rx, move |batch| {
            let record = Arc::clone(&record);
            async move {
                let numbers = batch.iter().map(|e| e.at).collect();
                record.lock().unwrap().push((start.elapsed(), numbers));
            }
        }));
        send(tx).await;
        writer.await.unwrap();
        Arc::try_unwrap(seen).unwrap().into_inner().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_event_is_written_after_the_linger() {
        let batches = batches_of(async |tx| {
            tx.send(event(7)).await.unwrap();
            // The sender stays open past the linger: the write must not wait for it.
            tokio::time::sleep(LINGER * 4).await;
        })
        .await;
        assert_eq!(batches, [(LINGER, vec![7])]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_written_in_full_batches_without_lingering_between_them() {
        let batches = batches_of(async |tx| {
            for i in 0..1_300 {
                tx.send(event(i)).await.unwrap();
            }
        })
        .await;
        let sizes: Vec<usize> = batches.iter().map(|(_, b)| b.len()).collect();
        assert_eq!(sizes, [BATCH, BATCH, 1_300 - 2 * BATCH]);
        // The writer may wake while the burst is still being sent and linger once; after
        // that, full batches go at once, and so does the rest once the senders are gone.
        let times: Vec<Duration> = batches.iter().map(|(t, _)| *t).collect();
        assert!(times[0] <= LINGER, "{times:?}");
        assert_eq!(times, [times[0]; 3]);
        let all: Vec<i64> = batches.into_iter().flat_map(|(_, b)| b).collect();
        assert_eq!(
            all,
            (0..1_300).collect::<Vec<i64>>(),
            "every event, in order"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn events_sent_during_the_linger_join_the_batch() {
        let batches = batches_of(async |tx| {
            for i in 0..5 {
                tx.send(event(i)).await.unwrap();
                tokio::time::sleep(LINGER / 10).await;
            }
            tokio::time::sleep(LINGER).await;
            tx.send(event(5)).await.unwrap();
            tokio::time::sleep(LINGER * 2).await;
        })
        .await;
        assert_eq!(
            batches,
            [
                (LINGER, vec![0, 1, 2, 3, 4]),
                (LINGER / 10 * 5 + LINGER + LINGER, vec![5])
            ]
        );
    }
}
