//! What operators run the service with: the readiness probe (`/readyz`), Prometheus metrics
//! (`/metrics`), the retention of provisioning events, and the heap trim that keeps the
//! resident size near what the server uses.
//!
//! Metrics go through the `metrics` facade (the `provisioning` crate records the worker's
//! without knowing the exporter); this binary installs `metrics-exporter-prometheus` as the
//! process-wide recorder, without its own HTTP listener, and renders it on `/metrics` of the
//! main server. The outbox gauges are computed from the database when scraped. Labels carry
//! integration ids, HTTP methods and statuses, connector kinds, operation names and outcomes:
//! never a userName, an email, a token or a key.

use crate::app::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use store::Store;
use tokio::task::JoinHandle;

/// Inbound SCIM requests, by `integration`, `method` and `status`.
pub const SCIM_REQUESTS: &str = "scimbridge_scim_requests_total";
/// Inbound SCIM request latency in seconds, by `integration` and `method`.
pub const SCIM_DURATION: &str = "scimbridge_scim_request_duration_seconds";
/// Pending + running outbound jobs (scrape time).
pub const QUEUE_DEPTH: &str = "scimbridge_jobs_queue_depth";
/// Outbound jobs by `state` (`pending`, `running`, `failed`; scrape time).
pub const JOBS: &str = "scimbridge_jobs";
/// Age in seconds of the oldest pending job, 0 when none (scrape time).
pub const OLDEST_PENDING: &str = "scimbridge_jobs_oldest_pending_age_seconds";
/// Seconds since the worker loop last turned (only when this process runs the worker).
pub const WORKER_HEARTBEAT_AGE: &str = "scimbridge_worker_heartbeat_age_seconds";
/// 1 when the scrape-time database query answered, else 0.
pub const DATABASE_UP: &str = "scimbridge_database_up";
/// Provisioning events written by the batched event writer.
pub const EVENTS_WRITTEN: &str = "scimbridge_events_written_total";
/// Provisioning events lost (the write failed, or the writer had stopped).
pub const EVENTS_DROPPED: &str = "scimbridge_events_dropped_total";
/// Provisioning events deleted by retention.
pub const EVENTS_PRUNED: &str = "scimbridge_events_pruned_total";

/// `integration` label of a request that did not authenticate: the id in its URL is not
/// trusted (anyone can put anything there), so it never becomes a label value.
pub const UNAUTHENTICATED: &str = "unauthenticated";

/// The worker is "not ready" when its loop has not turned for this long.
pub const HEARTBEAT_STALE: Duration = Duration::from_secs(60);
/// Longest a probe or scrape waits for the database.
const DB_TIMEOUT: Duration = Duration::from_secs(2);
/// Events deleted per retention batch, and the pause between batches that lets request
/// writers in (SQLite has one writer at a time).
const PRUNE_BATCH: u64 = 1_000;
const PRUNE_PAUSE: Duration = Duration::from_millis(25);

const SCIM_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const OUTBOUND_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Operator state shared by the handlers.
#[derive(Debug)]
pub struct Ops {
    /// Epoch ms of the worker loop's last turn (the worker writes it through its config).
    pub heartbeat: Arc<AtomicI64>,
    /// SCIM requests received since start; the worker yields while they come fast
    /// (`WorkerConfig::inbound`).
    pub scim_requests: Arc<AtomicU64>,
}

impl Default for Ops {
    fn default() -> Self {
        Self {
            heartbeat: Arc::new(AtomicI64::new(chrono::Utc::now().timestamp_millis())),
            scim_requests: Arc::default(),
        }
    }
}

/// Counts each SCIM request in `Ops::scim_requests`.
pub async fn count_scim_requests(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    if let Some(s) = req.app_data::<actix_web::web::Data<crate::app::AppState>>() {
        s.ops.scim_requests.fetch_add(1, Ordering::Relaxed);
    }
    next.call(req).await
}

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process (later calls return the same handle).
/// `None` if another recorder was installed first.
pub fn install_metrics() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new();
            for (name, buckets) in [
                (SCIM_DURATION, SCIM_BUCKETS),
                (provisioning::metrics::OUTBOUND_DURATION, OUTBOUND_BUCKETS),
            ] {
                builder = match builder.set_buckets_for_metric(Matcher::Full(name.into()), buckets)
                {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics: bad histogram buckets");
                        return None;
                    }
                };
            }
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: could not install the Prometheus recorder");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        SCIM_REQUESTS,
        "Inbound SCIM requests, by integration (or 'unauthenticated'), method and status"
    );
    describe_histogram!(
        SCIM_DURATION,
        Unit::Seconds,
        "Inbound SCIM request latency, by integration and method"
    );
    describe_gauge!(QUEUE_DEPTH, "Outbound jobs pending or running");
    describe_gauge!(JOBS, "Outbound jobs by state (pending, running, failed)");
    describe_gauge!(
        OLDEST_PENDING,
        Unit::Seconds,
        "Age of the oldest pending outbound job (0 when none)"
    );
    describe_gauge!(
        WORKER_HEARTBEAT_AGE,
        Unit::Seconds,
        "Seconds since this process's worker loop last turned"
    );
    describe_gauge!(
        DATABASE_UP,
        "1 when the database answered the scrape's query"
    );
    describe_counter!(EVENTS_WRITTEN, "Provisioning events written");
    describe_counter!(
        EVENTS_DROPPED,
        "Provisioning events lost because writing them failed"
    );
    describe_counter!(EVENTS_PRUNED, "Provisioning events deleted by retention");
    provisioning::metrics::describe();
    provisioning::metrics::describe_reconcile();
}

/// Counts one inbound SCIM request. `operation` reads like `PATCH /Users/{id}`.
pub fn scim_request(integration: Option<&str>, operation: &str, status: u16, took: Duration) {
    let integration = integration.unwrap_or(UNAUTHENTICATED).to_string();
    let method = operation
        .split_once(' ')
        .map_or(operation, |(m, _)| m)
        .to_string();
    metrics::counter!(
        SCIM_REQUESTS,
        "integration" => integration.clone(),
        "method" => method.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(SCIM_DURATION, "integration" => integration, "method" => method)
        .record(took.as_secs_f64());
}

/// Registers `/readyz` and `/metrics` (`/healthz` stays in `app::configure`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/readyz", web::get().to(readyz));
    cfg.route("/metrics", web::get().to(metrics_page));
}

fn plain(status: actix_web::http::StatusCode, text: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(text)
}

fn heartbeat_age(state: &AppState) -> Duration {
    let last = state.ops.heartbeat.load(Ordering::Relaxed);
    let now = chrono::Utc::now().timestamp_millis();
    Duration::from_millis(u64::try_from(now - last).unwrap_or(0))
}

/// 200 `ok` when the database answers within 2 s and (when this process runs the worker) the
/// worker loop turned in the last minute; else 503 with the reason. No details of errors: the
/// probe is unauthenticated, the log has them.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    use actix_web::http::StatusCode;
    match tokio::time::timeout(DB_TIMEOUT, state.store().ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database did not answer");
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: database unavailable\n".into(),
            );
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer within 2 s");
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: database timed out\n".into(),
            );
        }
    }
    if state.config.run_worker {
        let age = heartbeat_age(&state);
        if age > HEARTBEAT_STALE {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "not ready: the worker made no progress for {} s\n",
                    age.as_secs()
                ),
            );
        }
    }
    plain(StatusCode::OK, "ok".into())
}

/// The Prometheus text exposition, with the outbox gauges read now.
async fn metrics_page(state: web::Data<AppState>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let Some(handle) = install_metrics() else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are not available in this process\n".into(),
        );
    };
    match tokio::time::timeout(DB_TIMEOUT, state.store().queue_stats()).await {
        Ok(Ok(q)) => {
            metrics::gauge!(DATABASE_UP).set(1.0);
            metrics::gauge!(QUEUE_DEPTH).set((q.pending + q.running) as f64);
            for (s, n) in [
                ("pending", q.pending),
                ("running", q.running),
                ("failed", q.failed),
            ] {
                metrics::gauge!(JOBS, "state" => s).set(n as f64);
            }
            let now = chrono::Utc::now().timestamp_millis();
            let age = q
                .oldest_pending_created_at
                .map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
            metrics::gauge!(OLDEST_PENDING).set(age);
            if let Ok(Ok(held)) =
                tokio::time::timeout(DB_TIMEOUT, state.store().held_by_integration()).await
            {
                for (integration, users) in held {
                    provisioning::metrics::guard_held(&integration, users);
                }
            }
            // Apply to all: what is left of each integration's last batch.
            if let Ok(Ok(batches)) =
                tokio::time::timeout(DB_TIMEOUT, state.store().resync_progress_unscoped()).await
            {
                batches.iter().for_each(provisioning::metrics::resync_state);
            }
            // Reconciliation imports' progress, from the database (whichever process imports).
            if let Ok(Ok(runs)) =
                tokio::time::timeout(DB_TIMEOUT, state.store().recon_runs_unscoped()).await
            {
                for r in runs.iter().filter(|r| r.run_id > 0) {
                    provisioning::metrics::recon_state(
                        &r.integration_id,
                        r.cursor.max(0) as u64,
                        r.total.unwrap_or(0).max(0) as u64,
                        r.state == store::RunState::Running,
                    );
                }
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: could not read the job queue");
            metrics::gauge!(DATABASE_UP).set(0.0);
        }
        Err(_) => {
            tracing::warn!("metrics: reading the job queue took longer than 2 s");
            metrics::gauge!(DATABASE_UP).set(0.0);
        }
    }
    if state.config.run_worker {
        metrics::gauge!(WORKER_HEARTBEAT_AGE).set(heartbeat_age(&state).as_secs_f64());
    }
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(handle.render())
}

/// Drains histogram samples into their buckets every few seconds, so memory stays bounded
/// between scrapes.
pub fn spawn_metrics_upkeep() -> Option<JoinHandle<()>> {
    let handle = install_metrics()?.clone();
    Some(tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    }))
}

/// How often freed heap goes back to the OS ([`spawn_heap_trim`]).
pub const HEAP_TRIM_EVERY: Duration = Duration::from_secs(2);

/// Returns the heap that the allocator kept after a burst of requests to the OS every
/// `every` (`heap_trim`: glibc keeps freed memory per thread arena; one trim took the
/// benchmark server from 98 to 76 MB). `None` where the allocator returns memory itself.
pub fn spawn_heap_trim(every: Duration) -> Option<JoinHandle<()>> {
    if !heap_trim::SUPPORTED {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // It takes the arenas' locks and walks their free lists: off the async threads.
            let _ = tokio::task::spawn_blocking(heap_trim::release_free_memory).await;
        }
    }))
}

/// Deletes provisioning events older than `retention_days` every `every` (the first round
/// runs after `every`, at most a minute after start). `None` when retention is off (0 days).
pub fn spawn_retention(
    store: Store,
    retention_days: u64,
    every: Duration,
) -> Option<JoinHandle<()>> {
    if retention_days == 0 {
        tracing::info!("event retention is off: provisioning events are kept forever");
        return None;
    }
    let every = every.max(Duration::from_secs(1));
    Some(tokio::spawn(async move {
        tokio::time::sleep(every.min(Duration::from_secs(60))).await;
        loop {
            prune_once(&store, retention_days).await;
            tokio::time::sleep(every).await;
        }
    }))
}

/// One retention round: batches of [`PRUNE_BATCH`] with a pause between them, until a short
/// batch. Returns how many events were deleted.
pub async fn prune_once(store: &Store, retention_days: u64) -> u64 {
    let keep_ms = i64::try_from(retention_days.saturating_mul(86_400_000)).unwrap_or(i64::MAX);
    let cutoff = chrono::Utc::now()
        .timestamp_millis()
        .saturating_sub(keep_ms);
    let mut total = 0;
    loop {
        match store.prune_events_batch(cutoff, PRUNE_BATCH).await {
            Ok(n) => {
                total += n;
                metrics::counter!(EVENTS_PRUNED).increment(n);
                if n < PRUNE_BATCH {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "event retention: pruning failed; next round tries again");
                break;
            }
        }
        tokio::time::sleep(PRUNE_PAUSE).await;
    }
    if total > 0 {
        tracing::info!(
            events = total,
            retention_days,
            "event retention: pruned old provisioning events"
        );
    }
    // The notification delivery log follows the same retention (finished deliveries only).
    match store.prune_notify_deliveries(cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            deliveries = n,
            "event retention: pruned old notification deliveries"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "event retention: pruning notification deliveries failed")
        }
    }
    total
}
