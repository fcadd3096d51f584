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

async fn write_loop(store: Store, mut rx: mpsc::Receiver<NewEvent>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let Some(first) = rx.recv().await else { break };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(e)) => batch.push(e),
                Ok(None) | Err(_) => break,
            }
        }
        let n = batch.len();
        let mut attempt = 1;
        loop {
            match store.insert_events(batch.clone()).await {
                Ok(()) => {
                    metrics::counter!(crate::ops::EVENTS_WRITTEN).increment(n as u64);
                    break;
                }
                Err(e) if attempt < ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "writing provisioning events failed; retrying");
                    tokio::time::sleep(RETRY_PAUSE * attempt.min(10)).await;
                    attempt += 1;
                }
                Err(e) => {
                    metrics::counter!(crate::ops::EVENTS_DROPPED).increment(n as u64);
                    tracing::error!(error = %e, events = n, "could not write provisioning events");
                    break;
                }
            }
        }
        batch.clear();
    }
}
