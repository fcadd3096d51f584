//! The outbound engine: workers claim due jobs and bring each subject in line with the target.
//!
//! A job is level-triggered ("bring user X in line"): the worker reads the SCIM user as it is
//! now, resolves its role, compares with what was last pushed (`target_links`) and makes only
//! the calls needed. Every call waits for a slot of the shared per-account rate limiter (a row
//! in the database, so all workers of all instances share it), and is recorded as an outbound
//! provisioning event carrying the correlation id of the SCIM request that caused it.
//! Retryable failures back off exponentially with jitter (and honour Retry-After); after
//! `max_attempts` a job is `failed`, kept and visible. Dry-run integrations record what would
//! be called and call nothing.

use crate::roles::{Rule, resolve};
use connector_api::{Connector, ConnectorError, DesiredUser, Role};
use rand::Rng;
use scim_core::resource::{self, Meta};
use scim_core::schema::ResourceType;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::outbox::{Job, TargetLink};
use store::{
    Direction, Integration, IntegrationMode, IntegrationStatus, NewEvent, OK_OUTCOME, Store,
    SubjectKind,
};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Builds connectors; implemented where concrete connectors are known (the binary).
pub trait ConnectorRegistry: Send + Sync {
    /// A connector for the integration's settings and decrypted secrets.
    fn connect(
        &self,
        integration: &Integration,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Connector>, String>;
    /// The rate-limit key of the integration's target account and the gap between calls.
    fn rate_limit(&self, integration: &Integration) -> (String, Duration);
}

/// Worker tuning.
#[derive(Debug, Clone)]
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
    /// First retry delay; doubles per attempt.
    pub base_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// How long integration settings, role lists and the key owner are cached.
    pub cache_ttl: Duration,
    /// Set to the time (epoch ms) at every turn of the run loop, for readiness probes.
    pub heartbeat: Option<Arc<AtomicI64>>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            worker_id: format!("worker-{}", uuid::Uuid::new_v4()),
            concurrency: 8,
            lease: Duration::from_secs(120),
            poll: Duration::from_millis(250),
            max_attempts: 10,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(600),
            cache_ttl: Duration::from_secs(60),
            heartbeat: None,
        }
    }
}

/// Why a job did not finish.
#[derive(Debug)]
enum JobError {
    /// Try again later (after at least `after`).
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Retrying will not help until someone changes something.
    Permanent(String),
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

/// What the worker knows about one integration, refreshed every `cache_ttl`.
struct Runtime {
    integration: Integration,
    connector: Option<Arc<dyn Connector>>,
    rules: Vec<Rule>,
    roles: Option<Vec<Role>>,
    owner_id: Option<String>,
    rate_key: String,
    rate_gap: Duration,
    loaded: Instant,
}

/// The worker.
pub struct Worker {
    store: Store,
    registry: Arc<dyn ConnectorRegistry>,
    config: WorkerConfig,
    users: ResourceType,
    runtimes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Runtime>>>>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Worker {
    /// A worker over `store` using `registry` to reach targets.
    pub fn new(
        store: Store,
        registry: Arc<dyn ConnectorRegistry>,
        config: WorkerConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            registry,
            config,
            users: ResourceType::user(),
            runtimes: Mutex::new(HashMap::new()),
        })
    }

    /// Runs until `shutdown` turns true; then finishes in-flight jobs (or gives them back).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut claimed: HashMap<tokio::task::Id, Job> = HashMap::new();
        loop {
            if let Some(beat) = &self.config.heartbeat {
                beat.store(now_ms(), Ordering::Relaxed);
            }
            if *shutdown.borrow() {
                break;
            }
            let free = self.config.concurrency.saturating_sub(in_flight.len());
            if free > 0 {
                match self
                    .store
                    .claim_jobs(
                        &self.config.worker_id,
                        now_ms(),
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
                .release_job(job, &self.config.worker_id, now_ms())
                .await;
        }
    }

    /// Processes one claimed job and records the outcome on it.
    async fn process(&self, job: Job) {
        let outcome = match job.subject_kind {
            // Groups are not pushed: a membership change already queued every member.
            SubjectKind::Group => Ok(()),
            SubjectKind::User => self.sync_user(&job).await,
        };
        let now = now_ms();
        let worker = &self.config.worker_id;
        let result = match outcome {
            Ok(()) => {
                crate::metrics::job_finished("done");
                self.store.complete_job(job.id, worker).await
            }
            Err(JobError::Retry { error, .. }) if job.attempts >= self.config.max_attempts => {
                crate::metrics::job_finished("failed");
                self.store
                    .fail_job(
                        job.id,
                        worker,
                        &format!("gave up after {} attempts: {error}", job.attempts),
                        now,
                    )
                    .await
            }
            Err(JobError::Retry { error, after }) => {
                crate::metrics::job_retry(&job.integration_id);
                let delay = self.backoff(job.attempts).max(after.unwrap_or_default());
                self.store
                    .retry_job(&job, worker, now + delay.as_millis() as i64, &error, now)
                    .await
            }
            Err(JobError::Permanent(error)) => {
                crate::metrics::job_finished("failed");
                self.store.fail_job(job.id, worker, &error, now).await
            }
        };
        if let Err(e) = result {
            tracing::error!(job = job.id, error = %e, "could not record a job's outcome; its lease will expire and it will run again");
        }
    }

    /// Exponential backoff with ±25 % jitter.
    fn backoff(&self, attempts: i32) -> Duration {
        let exp = self
            .config
            .base_backoff
            .saturating_mul(1u32 << attempts.clamp(1, 20).saturating_sub(1) as u32);
        let capped = exp.min(self.config.max_backoff);
        let jitter = rand::thread_rng().gen_range(0.75..1.25);
        capped.mul_f64(jitter)
    }

    /// The cached runtime of an integration (None if it was deleted).
    async fn runtime(
        &self,
        integration_id: &str,
    ) -> Result<Option<Arc<tokio::sync::Mutex<Option<Runtime>>>>, JobError> {
        let slot = {
            let mut map = self
                .runtimes
                .lock()
                .map_err(|_| JobError::Permanent("worker cache poisoned".into()))?;
            Arc::clone(map.entry(integration_id.to_string()).or_default())
        };
        let mut guard = slot.lock().await;
        let mut fresh = guard
            .as_ref()
            .is_some_and(|r| r.loaded.elapsed() < self.config.cache_ttl);
        if fresh {
            // An admin's edit (rules, default role, policy, mode) applies to the next job,
            // not after the cache period: compare the cheap `updated_at` stamp.
            let current = self.store.integration_updated_at(integration_id).await?;
            fresh = guard
                .as_ref()
                .is_some_and(|r| Some(r.integration.updated_at) == current);
        }
        if !fresh {
            let Some(integration) = self.store.get_integration_unscoped(integration_id).await?
            else {
                *guard = None;
                return Ok(None);
            };
            let rules = self
                .store
                .list_role_rules(integration_id)
                .await?
                .iter()
                .map(|r| {
                    Rule::parse(
                        r.source_kind.as_str(),
                        &r.source_value,
                        &r.target_role,
                        &self.users,
                    )
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    JobError::Permanent(format!("a role rule is invalid: {}", e.detail))
                })?;
            let secrets = self.store.integration_secrets(&integration)?;
            let connector = match integration.mode {
                IntegrationMode::DryRun => None,
                IntegrationMode::Live => Some(
                    self.registry
                        .connect(&integration, &secrets)
                        .map_err(JobError::Permanent)?,
                ),
            };
            let (rate_key, rate_gap) = self.registry.rate_limit(&integration);
            *guard = Some(Runtime {
                integration,
                connector,
                rules,
                roles: None,
                owner_id: None,
                rate_key,
                rate_gap,
                loaded: Instant::now(),
            });
        }
        drop(guard);
        Ok(Some(slot))
    }

    /// Brings one SCIM user in line with the target.
    async fn sync_user(&self, job: &Job) -> Result<(), JobError> {
        let Some(slot) = self.runtime(&job.integration_id).await? else {
            return Ok(());
        };
        let mut guard = slot.lock().await;
        let Some(rt) = guard.as_mut() else {
            return Ok(());
        };
        if rt.integration.status != IntegrationStatus::Active {
            return Err(JobError::Retry {
                error: format!("integration is {}", rt.integration.status),
                after: Some(Duration::from_secs(30)),
            });
        }
        let mut call = Calls {
            worker: self,
            rt,
            job,
        };
        let db = self.store.db();
        let user = store::scim::get_user(db, &job.integration_id, &job.subject_id).await?;
        let link = self
            .store
            .get_link(&job.integration_id, &job.subject_id)
            .await?;
        let target_id = link.as_ref().and_then(|l| l.target_id.clone());
        let policy = Policy::parse(&call.rt.integration.deprovision_policy);

        let Some(user) = user else {
            // Deleted in the IdP: remove from the target unless the policy says ignore.
            if let Some(tid) = target_id
                && policy != Policy::Ignore
                && !call.is_owner(&tid).await?
            {
                call.delete(&tid, None).await?;
            }
            if link.is_some() {
                self.store
                    .delete_link(&job.integration_id, &job.subject_id)
                    .await?;
            }
            return Ok(());
        };

        let attrs: Map<String, Value> = serde_json::from_str(&user.resource)
            .map_err(|e| JobError::Permanent(format!("stored user is not JSON: {e}")))?;
        let meta = Meta {
            created: chrono::Utc::now(),
            last_modified: chrono::Utc::now(),
            location: String::new(),
            version: user.version,
        };
        let rendered = resource::render(&self.users, &user.id, attrs.clone(), &meta);
        let groups: Vec<String> = store::scim::groups_of_member(db, &job.integration_id, &user.id)
            .await?
            .into_iter()
            .map(|g| g.display_name)
            .collect();
        let resolution = resolve(
            &call.rt.rules,
            call.rt.integration.default_role.as_deref(),
            &rendered,
            &groups,
            &self.users,
            false,
        );
        let mut desired = desired_user(&attrs);
        let name = user.user_name.clone();

        if !user.active || resolution.roles.is_empty() {
            let why = if user.active {
                "no role resolved"
            } else {
                "active=false"
            };
            let Some(tid) = target_id else { return Ok(()) };
            if call.is_owner(&tid).await? {
                call.note(
                    "skip",
                    &name,
                    &format!("{why}: the API key's owner is never demoted or deleted"),
                )
                .await;
                return Ok(());
            }
            match &policy {
                Policy::Ignore => {
                    call.note(
                        "skip",
                        &name,
                        &format!("{why}: deprovision policy is ignore"),
                    )
                    .await
                }
                Policy::Delete => {
                    call.delete(&tid, Some(&name)).await?;
                    self.link(job, None, json!({"state": "deleted"}), "deleted")
                        .await?;
                }
                Policy::Role(role) => {
                    let pushed = json!({"state": "deprovisioned", "role": role});
                    if link.as_ref().and_then(|l| l.last_pushed.as_deref())
                        != Some(pushed.to_string().as_str())
                    {
                        let id = call.role_id(role).await?;
                        call.set_role(
                            &tid,
                            id,
                            &name,
                            &format!("{why}: deprovision policy moves to {role}"),
                        )
                        .await?;
                        self.link(job, Some(tid), pushed, "ok").await?;
                    }
                }
            }
            return Ok(());
        }

        let role = resolution.roles[0].clone();
        let pushed = json!({"email": desired.email, "firstName": desired.first_name, "lastName": desired.last_name, "role": role});
        if target_id.is_some()
            && link.as_ref().and_then(|l| l.last_pushed.as_deref())
                == Some(pushed.to_string().as_str())
        {
            return Ok(()); // already in line
        }
        desired.roles = vec![call.role_id(&role).await?];
        let reason = resolution.reason;
        let id = match target_id {
            Some(tid) if call.is_owner(&tid).await? => {
                call.note(
                    "skip",
                    &name,
                    "the API key's owner is never changed by scimbridge",
                )
                .await;
                return Ok(());
            }
            Some(tid) => match call.update(&tid, &desired, &name, &reason).await {
                // Removed in the target behind our back: create it again.
                Err(ConnectorError::NotFound(_)) => {
                    call.create_or_adopt(&desired, &name, &reason).await?
                }
                other => other?,
            },
            None => call.create_or_adopt(&desired, &name, &reason).await?,
        };
        self.link(job, id, pushed, "ok").await
    }

    async fn link(
        &self,
        job: &Job,
        target_id: Option<String>,
        pushed: Value,
        result: &str,
    ) -> Result<(), JobError> {
        self.store
            .upsert_link(TargetLink {
                integration_id: job.integration_id.clone(),
                scim_user_id: job.subject_id.clone(),
                target_id,
                last_pushed: Some(pushed.to_string()),
                last_sync_at: Some(now_ms()),
                last_result: Some(result.to_string()),
                last_error: None,
            })
            .await?;
        Ok(())
    }
}

/// What `active=false` does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Policy {
    Role(String),
    Delete,
    Ignore,
}

impl Policy {
    fn parse(s: &str) -> Self {
        match s.trim() {
            "delete" => Policy::Delete,
            "ignore" => Policy::Ignore,
            other => Policy::Role(
                other
                    .strip_prefix("role:")
                    .unwrap_or(other)
                    .trim()
                    .to_string(),
            ),
        }
    }
}

/// The target user a SCIM user should become.
fn desired_user(attrs: &Map<String, Value>) -> DesiredUser {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let user_name = text(attrs.get("userName")).unwrap_or_default();
    let emails = attrs.get("emails").and_then(Value::as_array);
    let pick = |pred: &dyn Fn(&Value) -> bool| {
        emails
            .and_then(|e| e.iter().find(|x| pred(x)))
            .and_then(|e| text(e.get("value")))
    };
    let email = pick(&|e| e.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| pick(&|e| e.get("type").and_then(Value::as_str) == Some("work")))
        .or_else(|| pick(&|_| true))
        .unwrap_or_else(|| user_name.clone());
    let name = attrs.get("name");
    DesiredUser {
        email,
        username: user_name,
        first_name: text(name.and_then(|n| n.get("givenName"))),
        last_name: text(name.and_then(|n| n.get("familyName"))),
        phone: None,
        roles: Vec::new(),
    }
}

/// Outbound calls of one job: rate-limited, recorded, dry-run aware.
struct Calls<'a> {
    worker: &'a Worker,
    rt: &'a mut Runtime,
    job: &'a Job,
}

impl Calls<'_> {
    fn dry_run(&self) -> bool {
        self.rt.connector.is_none()
    }

    fn connector(&self) -> Result<Arc<dyn Connector>, JobError> {
        self.rt
            .connector
            .clone()
            .ok_or_else(|| JobError::Permanent("internal: no connector in live mode".into()))
    }

    /// Waits for this account's next rate-limit slot.
    async fn slot(&self) -> Result<(), JobError> {
        let gap = self.rt.rate_gap.as_millis() as i64;
        if gap == 0 {
            return Ok(());
        }
        let at = self
            .worker
            .store
            .reserve_rate_slot(&self.rt.rate_key, gap, now_ms())
            .await?;
        let wait = at - now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        Ok(())
    }

    /// Records an outbound event.
    async fn record(
        &self,
        operation: &str,
        name: Option<&str>,
        outcome: &str,
        started: Option<Instant>,
        detail: Value,
    ) {
        let event = NewEvent {
            at: now_ms(),
            tenant_id: self.rt.integration.tenant_id.clone(),
            integration_id: self.rt.integration.id.clone(),
            direction: Direction::Outbound,
            operation: operation.to_string(),
            subject_kind: Some(SubjectKind::User),
            subject_id: Some(self.job.subject_id.clone()),
            subject_name: name.map(str::to_string),
            http_status: None,
            outcome: outcome.to_string(),
            duration_ms: started.map(|s| s.elapsed().as_millis() as i64),
            correlation_id: self.job.correlation_id.clone().unwrap_or_default(),
            attempt: Some(self.job.attempts),
            detail: Some(detail.to_string()),
        };
        if let Err(e) = self.worker.store.insert_events(vec![event]).await {
            tracing::error!(error = %e, "could not record an outbound event");
        }
    }

    async fn note(&self, outcome: &str, name: &str, why: &str) {
        self.record("decide", Some(name), outcome, None, json!({"reason": why}))
            .await;
    }

    /// Runs one target call: rate slot, timing, event.
    async fn run<T, F>(
        &self,
        operation: &str,
        name: Option<&str>,
        detail: Value,
        f: F,
    ) -> connector_api::Result<T>
    where
        F: std::future::Future<Output = connector_api::Result<T>>,
    {
        self.slot()
            .await
            .map_err(|e| ConnectorError::Transient(format!("{e:?}")))?;
        let started = Instant::now();
        let result = f.await;
        let outcome = match &result {
            Ok(_) => OK_OUTCOME,
            Err(e) if e.is_retryable() => "retry",
            Err(_) => "error",
        };
        crate::metrics::outbound_call(
            &self.rt.integration.connector_kind,
            operation,
            outcome,
            started.elapsed(),
        );
        match &result {
            Ok(_) => {
                self.record(operation, name, OK_OUTCOME, Some(started), detail)
                    .await
            }
            Err(e) => {
                let mut d = detail;
                d["error"] = Value::String(e.to_string());
                let outcome = if e.is_retryable() { "retry" } else { "error" };
                self.record(operation, name, outcome, Some(started), d)
                    .await;
            }
        }
        result
    }

    /// Is `target_id` the user that owns the API key? (Looked up once per cache period.)
    async fn is_owner(&mut self, target_id: &str) -> Result<bool, JobError> {
        if self.dry_run() {
            return Ok(false);
        }
        if self.rt.owner_id.is_none() {
            let c = self.connector()?;
            let me = self
                .run("test_connection", None, json!({}), c.test_connection())
                .await?;
            self.rt.owner_id = Some(me.user_id);
        }
        Ok(self.rt.owner_id.as_deref() == Some(target_id))
    }

    /// The id of a target role by name (the live list is fetched once per cache period).
    async fn role_id(&mut self, name: &str) -> Result<String, JobError> {
        if self.dry_run() {
            return Ok(name.to_string());
        }
        if self.rt.roles.is_none() {
            let c = self.connector()?;
            self.rt.roles = Some(
                self.run("list_roles", None, json!({}), c.list_roles())
                    .await?,
            );
        }
        let roles = self.rt.roles.as_deref().unwrap_or_default();
        let found = roles
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
            .map(|r| r.id.clone());
        if found.is_none() {
            let known: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
            let error = format!(
                "the role '{name}' does not exist in the target; it has: {}",
                known.join(", ")
            );
            // The admin may be creating it right now: fetch the list again next time.
            self.rt.roles = None;
            return Err(JobError::Permanent(error));
        }
        Ok(found.unwrap_or_default())
    }

    async fn create_or_adopt(
        &mut self,
        desired: &DesiredUser,
        name: &str,
        reason: &str,
    ) -> Result<Option<String>, JobError> {
        let detail = json!({"email": desired.email, "role": desired.roles, "because": reason});
        if self.dry_run() {
            self.record("create_user", Some(name), "dry_run", None, detail)
                .await;
            return Ok(None);
        }
        let c = self.connector()?;
        match self
            .run("create_user", Some(name), detail, c.create_user(desired))
            .await
        {
            Ok(u) => Ok(Some(u.id)),
            // Link, don't duplicate: the email exists already, so adopt that user.
            Err(ConnectorError::Conflict(e)) => {
                let found = self
                    .run(
                        "find_user_by_email",
                        Some(name),
                        json!({"email": desired.email}),
                        c.find_user_by_email(&desired.email),
                    )
                    .await?;
                let Some(existing) = found else {
                    return Err(JobError::Permanent(format!(
                        "conflict in the target, but no user with email {}: {e}",
                        desired.email
                    )));
                };
                if self.is_owner(&existing.id).await? {
                    self.note(
                        "skip",
                        name,
                        "adopted the API key's owner; it is never changed",
                    )
                    .await;
                    return Ok(Some(existing.id));
                }
                let id = existing.id.clone();
                self.update(
                    &id,
                    desired,
                    name,
                    &format!("adopted existing user {id}; {reason}"),
                )
                .await?;
                Ok(Some(id))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn update(
        &mut self,
        target_id: &str,
        desired: &DesiredUser,
        name: &str,
        reason: &str,
    ) -> connector_api::Result<Option<String>> {
        let detail = json!({"target_id": target_id, "email": desired.email, "role": desired.roles, "because": reason});
        if self.dry_run() {
            self.record("update_user", Some(name), "dry_run", None, detail)
                .await;
            return Ok(Some(target_id.to_string()));
        }
        let c = self
            .connector()
            .map_err(|e| ConnectorError::Permanent(format!("{e:?}")))?;
        self.run(
            "update_user",
            Some(name),
            detail,
            c.update_user(target_id, desired),
        )
        .await?;
        Ok(Some(target_id.to_string()))
    }

    async fn set_role(
        &mut self,
        target_id: &str,
        role_id: String,
        name: &str,
        reason: &str,
    ) -> Result<(), JobError> {
        let detail = json!({"target_id": target_id, "role": role_id, "because": reason});
        if self.dry_run() {
            self.record("set_roles", Some(name), "dry_run", None, detail)
                .await;
            return Ok(());
        }
        let c = self.connector()?;
        Ok(self
            .run(
                "set_roles",
                Some(name),
                detail,
                c.set_roles(target_id, std::slice::from_ref(&role_id)),
            )
            .await?)
    }

    async fn delete(&mut self, target_id: &str, name: Option<&str>) -> Result<(), JobError> {
        let detail = json!({"target_id": target_id});
        if self.dry_run() {
            self.record("delete_user", name, "dry_run", None, detail)
                .await;
            return Ok(());
        }
        let c = self.connector()?;
        match self
            .run("delete_user", name, detail, c.delete_user(target_id))
            .await
        {
            Err(ConnectorError::NotFound(_)) => Ok(()), // already gone
            other => Ok(other?),
        }
    }
}
