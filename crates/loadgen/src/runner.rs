//! Closed-loop load runner: C workers pull request indices from a shared atomic counter.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Error;
use crate::bodies::truncate_chars;
use crate::stats::Recorder;

/// How many error bodies to keep per scenario.
pub const ERROR_SAMPLES: usize = 3;
/// Error bodies are truncated to this many characters.
pub const ERROR_BODY_CHARS: usize = 300;

/// Result of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// Success, optionally carrying a value to collect (e.g. a created user).
    Ok(Option<T>),
    /// Failure: `key` is the status (`"409"`) or transport class (`"timeout"`).
    Err { key: String, body: String },
}

impl<T> Outcome<T> {
    pub fn err(key: impl Into<String>, body: impl Into<String>) -> Self {
        Self::Err {
            key: key.into(),
            body: body.into(),
        }
    }
}

/// What a closed-loop run produced.
#[derive(Debug)]
pub struct RunOutput<T> {
    pub recorder: Recorder,
    /// Values from successful requests, sorted by request index.
    pub items: Vec<(u64, T)>,
    pub wall: Duration,
    pub error_samples: Vec<String>,
    /// The deadline ended the run before `n` requests were sent.
    pub stopped_early: bool,
}

/// Keeps the first [`ERROR_SAMPLES`] error bodies (only touched on the error path).
#[derive(Debug, Default, Clone)]
pub struct ErrorSamples(Arc<Mutex<Vec<String>>>);

impl ErrorSamples {
    pub fn push(&self, key: &str, body: &str) {
        if let Ok(mut v) = self.0.lock()
            && v.len() < ERROR_SAMPLES
        {
            v.push(format!(
                "{key}: {}",
                truncate_chars(body.trim(), ERROR_BODY_CHARS)
            ));
        }
    }

    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// Send `n` requests with `concurrency` workers, each awaiting its response before
/// taking the next index (closed loop). Stops claiming new indices once `deadline`
/// passes; in-flight requests are allowed to finish (bounded by the client timeout).
pub async fn run_closed_loop<T, F, Fut>(
    n: u64,
    concurrency: usize,
    deadline: Option<Instant>,
    op: F,
) -> Result<RunOutput<T>, Error>
where
    T: Send + 'static,
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome<T>> + Send + 'static,
{
    let workers = u64::try_from(concurrency.max(1)).unwrap_or(1).min(n.max(1));
    let counter = Arc::new(AtomicU64::new(0));
    let op = Arc::new(op);
    let samples = ErrorSamples::default();
    let started = Instant::now();

    let mut handles = Vec::new();
    for _ in 0..workers {
        let counter = Arc::clone(&counter);
        let op = Arc::clone(&op);
        let samples = samples.clone();
        handles.push(tokio::spawn(async move {
            let mut rec = Recorder::new()?;
            let mut items = Vec::new();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = counter.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t0 = Instant::now();
                let outcome = op(i).await;
                let latency = t0.elapsed();
                match outcome {
                    Outcome::Ok(item) => {
                        rec.record_ok(latency);
                        if let Some(item) = item {
                            items.push((i, item));
                        }
                    }
                    Outcome::Err { key, body } => {
                        rec.record_err(latency, &key);
                        samples.push(&key, &body);
                    }
                }
            }
            Ok::<_, Error>((rec, items))
        }));
    }

    let mut recorder = Recorder::new()?;
    let mut items = Vec::new();
    for joined in futures::future::join_all(handles).await {
        let (rec, mut its) = joined??;
        recorder.merge(&rec)?;
        items.append(&mut its);
    }
    let wall = started.elapsed();
    items.sort_by_key(|(i, _)| *i);
    let sent = recorder.ok() + recorder.error_count();
    Ok(RunOutput {
        recorder,
        items,
        wall,
        error_samples: samples.take(),
        stopped_early: sent < n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sends_exactly_n_and_collects_items() {
        let out = run_closed_loop(1000, 8, None, |i| async move {
            if i % 100 == 7 {
                Outcome::err(if i < 500 { "409" } else { "500" }, format!("body {i}"))
            } else if i % 2 == 0 {
                Outcome::Ok(Some(i * 10))
            } else {
                Outcome::Ok(None)
            }
        })
        .await
        .unwrap();
        assert_eq!(out.recorder.ok(), 990);
        assert_eq!(out.recorder.error_count(), 10);
        assert!(!out.stopped_early);
        assert_eq!(out.items.len(), 500); // errors are at odd indices
        assert!(out.items.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(out.items.iter().all(|(i, v)| *v == i * 10));
        assert_eq!(out.error_samples.len(), ERROR_SAMPLES);
        assert!(
            out.error_samples.iter().all(|s| s.contains(": body ")),
            "{:?}",
            out.error_samples
        );
        let s = out.recorder.summarize(Default::default());
        assert_eq!(s.errors_by_status.get("409"), Some(&5));
        assert_eq!(s.errors_by_status.get("500"), Some(&5));
    }

    #[tokio::test]
    async fn concurrency_is_respected() {
        let in_flight = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(0));
        let (f, p) = (Arc::clone(&in_flight), Arc::clone(&peak));
        let out = run_closed_loop(200, 5, None, move |_| {
            let (f, p) = (Arc::clone(&f), Arc::clone(&p));
            async move {
                let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
                f.fetch_sub(1, Ordering::SeqCst);
                Outcome::<()>::Ok(None)
            }
        })
        .await
        .unwrap();
        assert_eq!(out.recorder.ok(), 200);
        assert_eq!(peak.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn deadline_stops_early() {
        let deadline = Instant::now() + Duration::from_millis(100);
        let out = run_closed_loop(u64::MAX, 4, Some(deadline), |_| async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Outcome::<()>::Ok(None)
        })
        .await
        .unwrap();
        assert!(out.stopped_early);
        let sent = out.recorder.ok();
        assert!(sent > 4 && sent < 200, "{sent}");
        assert!(out.wall < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn zero_requests() {
        let out = run_closed_loop(0, 4, None, |_| async { Outcome::<()>::Ok(None) })
            .await
            .unwrap();
        assert_eq!(out.recorder.ok(), 0);
        assert!(!out.stopped_early);
    }
}
