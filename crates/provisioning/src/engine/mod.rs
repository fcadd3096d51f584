//! The outbound engine: workers claim due jobs and bring each subject in line with the target.
//!
//! A job is level-triggered ("bring user X in line"): the worker reads the SCIM user as it is
//! now, asks the [planner](crate::planner) what the account should look like (`desired`) and
//! which calls get it there from what we know (`plan`), and executes those calls one at a
//! time, planning again after each (so an adopted account or one deleted behind our back is
//! handled by the same rules). Every HTTP request to a target takes a slot of the shared
//! per-account rate limiter (a row in the database, so all workers of all instances share it)
//! and every call is recorded as an outbound provisioning event carrying the correlation id of
//! the SCIM request that caused it. Removals pass the [deletion guard](crate::guard).
//! Retryable failures back off exponentially with jitter (and honour Retry-After); after
//! `max_attempts` a job is `failed`, kept and visible. Dry-run integrations record what would
//! be called and call nothing. The clock and the jitter's random source are parameters
//! ([`Clock`], [`WorkerConfig::seed`]) so the decisions are unit-tested.

pub mod auto_pause;
mod calls;
mod runtime;
mod sync_group;
mod sync_user;

use connector_api::explain::TargetNames;
use connector_api::{Capabilities, Connector, ConnectorError, Throttle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use runtime::Runtime;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::outbox::Job;
use store::{Integration, Store, SubjectKind};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Builds connectors; implemented where concrete connectors are known (the binary).
pub trait ConnectorRegistry: Send + Sync {
    /// A connector for the integration's settings and decrypted secrets; it takes a slot of
    /// `throttle` before every request.
    fn connect(
        &self,
        integration: &Integration,
        secrets: &BTreeMap<String, String>,
        throttle: Arc<dyn Throttle>,
    ) -> Result<Arc<dyn Connector>, String>;
    /// The rate-limit key of the integration's target account and the gap between requests.
    fn rate_limit(&self, integration: &Integration) -> (String, Duration);
    /// The account's budget per window beside the gap (a daily token budget, an hourly
    /// request limit), if the target has one.
    fn budget(&self, _integration: &Integration) -> Option<crate::throttle::Budget> {
        None
    }
    /// What the connector kind can do (also in dry run, where no connector is built).
    fn capabilities(&self, kind: &str) -> Option<Capabilities>;
    /// What this integration's connector can do, where its settings matter (a SCIM
    /// connector's profile); the kind's by default.
    fn capabilities_of(&self, integration: &Integration) -> Option<Capabilities> {
        self.capabilities(&integration.connector_kind)
    }
    /// What error sentences call the integration's target and its credential (the
    /// automatic pause's reason).
    fn target_names(&self, _integration: &Integration) -> TargetNames<'static> {
        TargetNames {
            target: "The target app",
            credential: "credentials",
        }
    }
}

/// The time, as a parameter.
pub trait Clock: Send + Sync {
    /// Now, in epoch milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// Worker tuning.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Identifies this worker in job leases.
    pub worker_id: String,
    /// Jobs in flight at once.
    pub concurrency: usize,
    /// How long a claimed job is ours; a dead worker's jobs are claimed again after it.
    pub lease: Duration,
    /// Sleep between polls when idle.
    pub poll: Duration,
    /// Attempts before a job is `failed`.
    pub max_attempts: i32,
    /// Jobs in a row whose target rejected the credentials before the integration is
    /// paused ([`auto_pause`]); 0: never, and a rejected job fails at once as before.
    pub auto_pause_after: u32,
    /// First retry delay; doubles per attempt.
    pub base_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// How long integration settings, role lists and the key owner are cached.
    pub cache_ttl: Duration,
    /// How long a planned removal waits before the deletion guard counts it, so a burst
    /// (an Entra scoping mistake) shows its size before the first account goes.
    pub guard_settle: Duration,
    /// Set to the time (epoch ms) at every turn of the run loop, for readiness probes.
    pub heartbeat: Option<Arc<AtomicI64>>,
    /// SCIM requests received so far (counted by the server). While they arrive at
    /// `yield_at` per second or faster, the worker claims at most once per `poll`: the
    /// IdP's requests come first (Entra quarantines an app that answers slowly), and the
    /// outbox waits its turn; a live target's rate limit is far below that pace anyway.
    pub inbound: Option<Arc<AtomicU64>>,
    /// See `inbound` (requests per second; 0: never hold back). 50 by default: one
    /// client paging sequentially sends ~100–250 a second, and at 200 (the earlier value)
    /// a dry-run drain beside it doubled the paging time; real IdPs' steady pace is far
    /// lower, so the worker still runs at full speed beside them.
    pub yield_at: u64,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Seed of the backoff jitter's random source (`None`: from the OS).
    pub seed: Option<u64>,
    /// How often the worker looks for due reconciliation imports (`None`: never).
    pub reconcile_check: Option<Duration>,
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("worker_id", &self.worker_id)
            .field("concurrency", &self.concurrency)
            .field("lease", &self.lease)
            .field("max_attempts", &self.max_attempts)
            .field("guard_settle", &self.guard_settle)
            .finish_non_exhaustive()
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            worker_id: format!("worker-{}", uuid::Uuid::new_v4()),
            concurrency: 8,
            lease: Duration::from_secs(120),
            poll: Duration::from_millis(250),
            max_attempts: 10,
            auto_pause_after: 3,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(600),
            cache_ttl: Duration::from_secs(60),
            guard_settle: Duration::from_secs(30),
            heartbeat: None,
            inbound: None,
            yield_at: 50,
            clock: Arc::new(SystemClock),
            seed: None,
            reconcile_check: Some(Duration::from_secs(60)),
        }
    }
}

/// Why a job did not finish.
#[derive(Debug)]
pub(crate) enum JobError {
    /// Try again later (after at least `after`).
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Retrying will not help until someone changes something.
    Permanent(String),
    /// The target account's rate limit: try again after `after`; no attempt is spent.
    Throttled {
        error: String,
        after: Option<Duration>,
    },
    /// The target rejected the credentials: retried with back-off (counting) while the
    /// integration may pause itself, so the job is not lost once the key is fixed; a
    /// permanent failure when automatic pauses are off.
    Rejected(String),
    /// The integration is paused: the job waits without spending an attempt (however long
    /// the pause lasts) and without calling the target.
    Paused(String),
}

/// How often a job of a paused integration looks again.
pub(crate) const PAUSED_WAIT: Duration = Duration::from_secs(30);

impl JobError {
    /// The kind stored beside the job's error (`jobs.last_error_kind`), where it is known.
    pub(crate) fn kind(&self) -> Option<&'static str> {
        match self {
            JobError::Rejected(_) => Some("unauthorized"),
            JobError::Paused(_) => Some(store::PAUSED_KIND),
            JobError::Throttled { .. } => Some("rate_limited"),
            JobError::Retry { .. } | JobError::Permanent(_) => None,
        }
    }
}

impl From<store::StoreError> for JobError {
    fn from(e: store::StoreError) -> Self {
        JobError::Retry {
            error: format!("database: {e}"),
            after: None,
        }
    }
}

impl From<ConnectorError> for JobError {
    fn from(e: ConnectorError) -> Self {
        // The limit said when: wait that long without spending an attempt. (Without a time,
        // e.g. a 503, it may be an outage: back off and count, as for any failure.)
        if let ConnectorError::RateLimited {
            retry_after: Some(after),
            ..
        } = &e
        {
            return JobError::Throttled {
                after: Some(*after),
                error: e.to_string(),
            };
        }
        if let ConnectorError::Unauthorized(_) = &e {
            return JobError::Rejected(e.to_string());
        }
        if e.is_retryable() {
            JobError::Retry {
                after: e.retry_after(),
                error: e.to_string(),
            }
        } else {
            JobError::Permanent(e.to_string())
        }
    }
}

/// What the worker does with a job's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Disposition {
    Done,
    Fail(String),
    /// Back to pending at this time (epoch ms).
    RetryAt {
        at: i64,
        error: String,
    },
    /// Back to pending at this time without spending an attempt (rate-limited).
    DeferTo {
        at: i64,
        error: String,
    },
}

/// The shortest wait of a throttled job (a 429 without Retry-After).
const MIN_THROTTLE_WAIT: Duration = Duration::from_secs(1);

/// Exponential backoff (`base`·2^(attempts-1), at most `max`) scaled by `jitter` (0.75–1.25).
pub fn backoff(attempts: i32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempts.clamp(1, 20).saturating_sub(1) as u32);
    exp.min(max).mul_f64(jitter)
}

/// The decision on a finished job, pure: `jitter` in 0.75..1.25.
pub(crate) fn dispose(
    outcome: Result<(), JobError>,
    attempts: i32,
    config: &WorkerConfig,
    now: i64,
    jitter: f64,
) -> Disposition {
    match outcome {
        Ok(()) => Disposition::Done,
        Err(JobError::Retry { error, .. }) if attempts >= config.max_attempts => {
            Disposition::Fail(format!("gave up after {attempts} attempts: {error}"))
        }
        Err(JobError::Retry { error, after }) => {
            let delay = backoff(attempts, config.base_backoff, config.max_backoff, jitter)
                .max(after.unwrap_or_default());
            Disposition::RetryAt {
                at: now + delay.as_millis() as i64,
                error,
            }
        }
        Err(JobError::Permanent(error)) => Disposition::Fail(error),
        Err(JobError::Rejected(error)) if config.auto_pause_after == 0 => Disposition::Fail(error),
        Err(JobError::Rejected(error)) => dispose(
            Err(JobError::Retry { error, after: None }),
            attempts,
            config,
            now,
            jitter,
        ),
        Err(JobError::Paused(error)) => Disposition::DeferTo {
            at: now + PAUSED_WAIT.as_millis() as i64,
            error,
        },
        // A rate limit is no failure: the job waits as long as the limit says, however often.
        Err(JobError::Throttled { error, after }) => Disposition::DeferTo {
            at: now
                + after
                    .unwrap_or(MIN_THROTTLE_WAIT)
                    .max(MIN_THROTTLE_WAIT)
                    .as_millis() as i64,
            error,
        },
    }
}

/// The rate of SCIM requests, measured over windows of at least one poll period (pure: the
/// time comes in).
#[derive(Debug, Default)]
struct InboundRate {
    /// Start of the open window and the running total then.
    window: Option<(std::time::Instant, u64)>,
    /// Requests so far in the open window, and the window's length in ms.
    open: (u64, u64),
    /// Requests per second in the last full window.
    per_second: u64,
}

impl InboundRate {
    /// Takes the running total `count` at `now`; closes the window once `length` has passed.
    fn observe(&mut self, count: u64, now: std::time::Instant, length: Duration) {
        if let Some((start, at_start)) = self.window {
            let elapsed = now.saturating_duration_since(start);
            if elapsed < length {
                self.open = (count.saturating_sub(at_start), length.as_millis() as u64);
                return;
            }
            let ms = elapsed.as_millis().max(1) as u64;
            self.per_second = count.saturating_sub(at_start) * 1_000 / ms;
        }
        self.window = Some((now, count));
        self.open = (0, length.as_millis() as u64);
    }

    /// Whether the IdP's pace calls for holding back (`yield_at` 0: never): the last full
    /// window was at `yield_at` a second, or the open one already holds a full window's worth
    /// at that pace. The second reacts within a few requests when a burst starts after a
    /// quiet spell (a short paging run was half over before its first window closed).
    fn busy(&self, yield_at: u64) -> bool {
        let (open, window_ms) = self.open;
        yield_at > 0 && (self.per_second >= yield_at || open * 1_000 >= yield_at * window_ms)
    }
}

/// Whether the run loop claims now (pure).
#[derive(Debug, Clone, Copy)]
struct ClaimWhen {
    /// Free job slots.
    free: usize,
    concurrency: usize,
    /// Enough SCIM requests are being answered that the outbox waits its turn.
    inbound_busy: bool,
    since_last: Duration,
    poll: Duration,
}

impl ClaimWhen {
    /// With a free slot: once half the slots are free (not after every job: a claim is a
    /// write, and one per job doubled the worker's share of SQLite's writer), and at least
    /// once per poll period. While the IdP keeps the server busy, only once per poll period.
    fn due(&self) -> bool {
        if self.free == 0 {
            return false;
        }
        if self.since_last >= self.poll {
            return true;
        }
        !self.inbound_busy && self.free * 2 >= self.concurrency
    }
}

/// The worker.
pub struct Worker {
    store: Store,
    registry: Arc<dyn ConnectorRegistry>,
    config: WorkerConfig,
    rng: Mutex<StdRng>,
    runtimes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Runtime>>>>>,
    /// A scheduled reconciliation round is running in this process.
    reconciling: Arc<AtomicBool>,
}

impl Worker {
    /// A worker over `store` using `registry` to reach targets.
    pub fn new(
        store: Store,
        registry: Arc<dyn ConnectorRegistry>,
        config: WorkerConfig,
    ) -> Arc<Self> {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        Arc::new(Self {
            store,
            registry,
            config,
            rng: Mutex::new(rng),
            runtimes: Mutex::new(HashMap::new()),
            reconciling: Arc::new(AtomicBool::new(false)),
        })
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.config.clock.now_ms()
    }

    /// Runs until `shutdown` turns true; then finishes in-flight jobs (or gives them back).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut claimed: HashMap<tokio::task::Id, Job> = HashMap::new();
        let mut last_claim = tokio::time::Instant::now();
        let mut inbound = InboundRate::default();
        let mut next_reconcile = tokio::time::Instant::now();
        loop {
            if let Some(beat) = &self.config.heartbeat {
                beat.store(self.now_ms(), Ordering::Relaxed);
            }
            if *shutdown.borrow() {
                break;
            }
            if let Some(every) = self.config.reconcile_check
                && tokio::time::Instant::now() >= next_reconcile
            {
                next_reconcile = tokio::time::Instant::now() + every;
                self.spawn_reconcile();
            }
            if let Some(n) = &self.config.inbound {
                inbound.observe(
                    n.load(Ordering::Relaxed),
                    std::time::Instant::now(),
                    self.config.poll,
                );
            }
            let claim = ClaimWhen {
                free: self.config.concurrency.saturating_sub(in_flight.len()),
                concurrency: self.config.concurrency,
                inbound_busy: inbound.busy(self.config.yield_at),
                since_last: last_claim.elapsed(),
                poll: self.config.poll,
            };
            let free = claim.free;
            if claim.due() {
                last_claim = tokio::time::Instant::now();
                match self
                    .store
                    .claim_jobs(
                        &self.config.worker_id,
                        self.now_ms(),
                        self.config.lease.as_millis() as i64,
                        free as u64,
                    )
                    .await
                {
                    Ok(jobs) => {
                        for job in jobs {
                            let me = Arc::clone(&self);
                            let j = job.clone();
                            let handle = in_flight.spawn(async move { me.process(j).await });
                            claimed.insert(handle.id(), job);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "could not claim jobs"),
                }
            }
            if in_flight.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.poll) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            tokio::select! {
                done = in_flight.join_next_with_id() => {
                    if let Some(Ok((id, ()))) = done {
                        claimed.remove(&id);
                    } else if let Some(Err(e)) = done {
                        claimed.remove(&e.id());
                        tracing::error!(error = %e, "a job task failed");
                    }
                }
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Graceful shutdown: let in-flight jobs finish for a while, then give the rest back.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !in_flight.is_empty() {
            match tokio::time::timeout_at(deadline, in_flight.join_next_with_id()).await {
                Ok(Some(Ok((id, ())))) => {
                    claimed.remove(&id);
                }
                Ok(Some(Err(e))) => {
                    claimed.remove(&e.id());
                }
                Ok(None) => break,
                Err(_) => {
                    in_flight.abort_all();
                    break;
                }
            }
        }
        for job in claimed.values() {
            let _ = self
                .store
                .release_job(job, &self.config.worker_id, self.now_ms())
                .await;
        }
    }

    /// Starts a round of due reconciliation imports beside the jobs (one round at a time per
    /// process; see `reconcile::schedule`).
    fn spawn_reconcile(self: &Arc<Self>) {
        if self.reconciling.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let rec = crate::reconcile::Reconciler {
                store: me.store.clone(),
                registry: Arc::clone(&me.registry),
                clock: Arc::clone(&me.config.clock),
            };
            let mut jitter = || {
                me.rng
                    .lock()
                    .map(|mut r| r.gen_range(0.9..1.1))
                    .unwrap_or(1.0)
            };
            let import = crate::reconcile::ImportConfig {
                owner: me.config.worker_id.clone(),
                lease: me.config.lease,
                ..crate::reconcile::ImportConfig::default()
            };
            crate::reconcile::schedule::run_due(&rec, &import, &mut jitter).await;
            me.reconciling.store(false, Ordering::Release);
        });
    }

    /// After a live job's calls, holding the integration's slot (so no other job of it calls
    /// the target meanwhile): counts rejected credentials and pauses the integration on the
    /// `auto_pause_after`-th job in a row. The job that paused it waits like the others.
    pub(crate) async fn watch_credentials(
        &self,
        rt: &mut runtime::Runtime,
        journal: &calls::Journal,
        result: Result<(), JobError>,
    ) -> Result<(), JobError> {
        let job = auto_pause::JobCalls {
            succeeded: journal.succeeded(),
            rejected: matches!(result, Err(JobError::Rejected(_))),
        };
        if !job.succeeded && !job.rejected {
            return result;
        }
        let threshold = self.config.auto_pause_after;
        // The streak lives in the database, so every worker and instance counts the same one.
        let pause = match self
            .store
            .record_credential_outcome(&rt.integration.id, job.succeeded, job.rejected, threshold)
            .await
        {
            Ok(pause) => pause,
            Err(e) => {
                tracing::warn!(integration = %rt.integration.id, error = %e, "could not count a rejection of the credentials");
                false
            }
        };
        let Err(JobError::Rejected(error)) = result else {
            return result;
        };
        if !pause {
            return Err(JobError::Rejected(error));
        }
        let names = self.registry.target_names(&rt.integration);
        let said = connector_api::explain::explain_text(names, &error).sentence;
        let reason = auto_pause::reason(&said, threshold);
        let now = self.now_ms();
        match self
            .store
            .auto_pause_integration(&rt.integration.id, &reason, now)
            .await
        {
            Ok(true) => {
                tracing::warn!(integration = %rt.integration.id, %reason, "paused the integration: the target keeps rejecting the credentials");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(integration = %rt.integration.id, error = %e, "could not pause the integration");
                return Err(JobError::Rejected(error));
            }
        }
        // The cached runtime sees the pause at once (the next job of this integration may
        // already wait for the slot).
        rt.integration.status = store::IntegrationStatus::Paused;
        Err(JobError::Paused(error))
    }

    /// Processes one claimed job and records the outcome on it.
    async fn process(&self, job: Job) {
        let journal = calls::Journal::default();
        let outcome = match job.subject_kind {
            SubjectKind::Group => self.sync_group(&job, &journal).await,
            SubjectKind::User => self.sync_user(&job, &journal).await,
        };
        let (mut events, link) = journal.take();
        let now = self.now_ms();
        let jitter = self
            .rng
            .lock()
            .map(|mut r| r.gen_range(0.75..1.25))
            .unwrap_or(1.0);
        let worker = &self.config.worker_id;
        let kind = outcome.as_ref().err().and_then(JobError::kind);
        let disposition = dispose(outcome, job.attempts, &self.config, now, jitter);
        if disposition != Disposition::Done && !events.is_empty() {
            // A dry run sets its link only when it succeeds; what it noted before failing is
            // still history.
            if let Err(e) = self.store.insert_events(std::mem::take(&mut events)).await {
                tracing::error!(job = job.id, error = %e, "could not record a job's dry-run events");
            }
        }
        let result = match disposition {
            Disposition::Done => {
                crate::metrics::job_finished("done");
                self.store
                    .complete_job_with(job.id, worker, events, link)
                    .await
            }
            Disposition::Fail(error) => {
                crate::metrics::job_finished("failed");
                self.store
                    .fail_job_as(job.id, worker, &error, kind, now)
                    .await
            }
            Disposition::RetryAt { at, error } => {
                crate::metrics::job_retry(&job.integration_id);
                self.store
                    .requeue_job_as(&job, worker, at, &error, kind, now, false)
                    .await
            }
            Disposition::DeferTo { at, error } => {
                crate::metrics::job_retry(&job.integration_id);
                self.store
                    .requeue_job_as(&job, worker, at, &error, kind, now, true)
                    .await
            }
        };
        if let Err(e) = result {
            tracing::error!(job = job.id, error = %e, "could not record a job's outcome; its lease will expire and it will run again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let (b, m) = (Duration::from_secs(1), Duration::from_secs(600));
        assert_eq!(backoff(1, b, m, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(4, b, m, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(30, b, m, 1.0), Duration::from_secs(600));
        assert_eq!(backoff(2, b, m, 0.75), Duration::from_millis(1500));
        assert_eq!(backoff(2, b, m, 1.25), Duration::from_millis(2500));
    }

    #[test]
    fn dispositions() {
        let c = WorkerConfig::default();
        assert_eq!(dispose(Ok(()), 1, &c, 0, 1.0), Disposition::Done);
        let retry = |after| JobError::Retry {
            error: "busy".into(),
            after,
        };
        assert_eq!(
            dispose(Err(retry(None)), 3, &c, 1_000, 1.0),
            Disposition::RetryAt {
                at: 5_000,
                error: "busy".into()
            }
        );
        // Retry-After wins when longer than the backoff.
        assert_eq!(
            dispose(Err(retry(Some(Duration::from_secs(30)))), 1, &c, 0, 1.25),
            Disposition::RetryAt {
                at: 30_000,
                error: "busy".into()
            }
        );
        assert!(matches!(
            dispose(Err(retry(None)), 10, &c, 0, 1.0),
            Disposition::Fail(e) if e.contains("gave up after 10")
        ));
        assert_eq!(
            dispose(Err(JobError::Permanent("no role".into())), 1, &c, 0, 1.0),
            Disposition::Fail("no role".into())
        );
        // Throttled: waits as long as asked, even past the last attempt, and never fails.
        let throttled = |after| JobError::Throttled {
            error: "budget".into(),
            after,
        };
        assert_eq!(
            dispose(
                Err(throttled(Some(Duration::from_secs(36_000)))),
                10,
                &c,
                5,
                1.0
            ),
            Disposition::DeferTo {
                at: 36_000_005,
                error: "budget".into()
            }
        );
        assert_eq!(
            dispose(Err(throttled(None)), 50, &c, 0, 1.0),
            Disposition::DeferTo {
                at: 1_000,
                error: "budget".into()
            }
        );
        assert!(matches!(
            JobError::from(ConnectorError::RateLimited {
                retry_after: Some(Duration::from_secs(5)),
                message: "429".into()
            }),
            JobError::Throttled { .. }
        ));
        // No time given (a 503 in an outage): an ordinary retry that counts.
        assert!(matches!(
            JobError::from(ConnectorError::RateLimited {
                retry_after: None,
                message: "503".into()
            }),
            JobError::Retry { .. }
        ));
    }

    #[test]
    fn rejected_credentials_retry_while_pauses_are_on_and_paused_jobs_wait_free() {
        let rejected = || {
            JobError::from(ConnectorError::Unauthorized(
                "list roles: ActiveCampaign rejected the API key (HTTP 403)".into(),
            ))
        };
        assert!(matches!(rejected(), JobError::Rejected(_)));
        assert_eq!(rejected().kind(), Some("unauthorized"));
        let on = WorkerConfig::default();
        assert!(matches!(
            dispose(Err(rejected()), 1, &on, 0, 1.0),
            Disposition::RetryAt { at: 1_000, .. }
        ));
        assert!(matches!(
            dispose(Err(rejected()), 10, &on, 0, 1.0),
            Disposition::Fail(e) if e.starts_with("gave up after 10 attempts: the target rejected")
        ));
        // Pauses off: a rejected key fails at once, as before.
        let off = WorkerConfig {
            auto_pause_after: 0,
            ..WorkerConfig::default()
        };
        assert!(matches!(
            dispose(Err(rejected()), 1, &off, 0, 1.0),
            Disposition::Fail(_)
        ));
        // A paused integration's job waits without spending an attempt, even past the last.
        let paused = JobError::Paused("integration is paused".into());
        assert_eq!(paused.kind(), Some(store::PAUSED_KIND));
        assert_eq!(
            dispose(Err(paused), 50, &on, 7, 1.0),
            Disposition::DeferTo {
                at: 30_007,
                error: "integration is paused".into()
            }
        );
    }

    #[test]
    fn claims_wait_for_half_the_slots_and_yield_to_the_idp() {
        let when = |free, inbound_busy, since_ms| {
            ClaimWhen {
                free,
                concurrency: 8,
                inbound_busy,
                since_last: Duration::from_millis(since_ms),
                poll: Duration::from_millis(250),
            }
            .due()
        };
        // Nothing free: never.
        assert!(!when(0, false, 10_000));
        // Quiet: as soon as half the slots are free, not for one.
        assert!(when(4, false, 0));
        assert!(when(8, false, 0));
        assert!(!when(1, false, 100));
        // One free slot still claims once per poll period.
        assert!(when(1, false, 250));
        // The IdP keeps us busy: once per poll period, however many slots are free.
        assert!(!when(8, true, 100));
        assert!(when(8, true, 250));
    }

    #[test]
    fn the_inbound_rate_is_measured_per_window() {
        let window = Duration::from_millis(250);
        let t0 = std::time::Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut r = InboundRate::default();
        r.observe(1_000, at(0), window);
        assert_eq!(r.per_second, 0, "no window yet");
        r.observe(1_040, at(100), window);
        assert_eq!(r.per_second, 0, "the window is still open");
        r.observe(1_100, at(250), window);
        assert_eq!(r.per_second, 400, "100 requests in 250 ms");
        r.observe(1_110, at(750), window);
        assert_eq!(r.per_second, 20, "10 in 500 ms");
        assert!(r.busy(20) && !r.busy(21));
        assert!(!r.busy(0), "0 turns holding back off");
        // A quiet window, then a burst: busy as soon as the open window holds a full
        // window's worth at the threshold (50/s × 250 ms = 12.5 requests), before it closes.
        r.observe(1_110, at(1_000), window);
        assert!(!r.busy(50), "quiet");
        r.observe(1_122, at(1_030), window);
        assert!(!r.busy(50), "12 requests so far");
        r.observe(1_123, at(1_040), window);
        assert!(r.busy(50), "13 requests 40 ms into the window");
        assert!(!r.busy(0));
    }

    #[test]
    fn the_seeded_jitter_repeats() {
        let draw = |seed| {
            let mut r = StdRng::seed_from_u64(seed);
            (0..5)
                .map(|_| r.gen_range(0.75..1.25))
                .collect::<Vec<f64>>()
        };
        assert_eq!(draw(7), draw(7));
        assert!(draw(7).iter().all(|j| (0.75..1.25).contains(j)));
    }
}
