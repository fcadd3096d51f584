//! Outbound calls of one job: timed, recorded as provisioning events, dry-run aware; and the
//! translation of role names to the target's ids.

use super::runtime::Runtime;
use super::{JobError, Worker};
use connector_api::{Connector, ConnectorError, Role};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use store::outbox::Job;
use store::outbox::TargetLink;
use store::{Direction, NewEvent, OK_OUTCOME};

pub(crate) struct Calls<'a> {
    pub worker: &'a Worker,
    pub rt: &'a mut Runtime,
    pub job: &'a Job,
    /// The subject's userName / displayName, for the log.
    pub name: Option<String>,
    /// Where a dry run's events wait for the job's outcome.
    pub journal: &'a Journal,
}

/// The writes of a dry-run job, recorded with its outcome in one unit of the writer
/// (`Store::complete_job_with`) instead of one transaction each: a dry run calls nothing, so
/// nothing is lost if the job dies first, it simply runs again. Live calls are recorded as
/// they happen, for the trace of an account created just before a crash.
#[derive(Default)]
pub(crate) struct Journal {
    inner: std::sync::Mutex<(Vec<NewEvent>, Option<TargetLink>)>,
    /// A target call of the job succeeded (the credentials work; see `auto_pause`).
    succeeded: std::sync::atomic::AtomicBool,
}

impl Journal {
    fn push(&self, event: NewEvent) {
        if let Ok(mut j) = self.inner.lock() {
            j.0.push(event);
        }
    }

    /// The link to save with the outcome.
    pub fn set_link(&self, link: TargetLink) {
        if let Ok(mut j) = self.inner.lock() {
            j.1 = Some(link);
        }
    }

    /// Whether a target call of the job succeeded.
    pub fn succeeded(&self) -> bool {
        self.succeeded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What was recorded, emptied.
    pub fn take(&self) -> (Vec<NewEvent>, Option<TargetLink>) {
        self.inner
            .lock()
            .map(|mut j| std::mem::take(&mut *j))
            .unwrap_or_default()
    }
}

impl Calls<'_> {
    pub fn dry_run(&self) -> bool {
        self.rt.connector.is_none()
    }

    pub fn connector(&self) -> Result<Arc<dyn Connector>, JobError> {
        self.rt
            .connector
            .clone()
            .ok_or_else(|| JobError::Permanent("internal: no connector in live mode".into()))
    }

    /// Records an outbound event; `attributed` false for internal calls (role list, key
    /// owner) that belong to no user's history.
    pub async fn record(
        &self,
        operation: &str,
        outcome: &str,
        started: Option<Instant>,
        detail: Value,
        attributed: bool,
    ) {
        let event = NewEvent {
            at: self.worker.now_ms(),
            tenant_id: self.rt.integration.tenant_id.clone(),
            integration_id: self.rt.integration.id.clone(),
            direction: Direction::Outbound,
            operation: operation.to_string(),
            subject_kind: attributed.then_some(self.job.subject_kind),
            subject_id: attributed.then(|| self.job.subject_id.clone()),
            subject_name: if attributed { self.name.clone() } else { None },
            http_status: None,
            outcome: outcome.to_string(),
            duration_ms: started.map(|s| s.elapsed().as_millis() as i64),
            correlation_id: self.job.correlation_id.clone().unwrap_or_default(),
            attempt: Some(self.job.attempts),
            detail: Some(detail.to_string()),
        };
        if self.dry_run() {
            self.journal.push(event);
            return;
        }
        if let Err(e) = self.worker.store.insert_events(vec![event]).await {
            tracing::error!(error = %e, "could not record an outbound event");
        }
    }

    /// A decision without a call (`skip`, `held`), for the user's history.
    pub async fn note(&self, outcome: &str, why: &str) {
        self.record("decide", outcome, None, json!({"reason": why}), true)
            .await;
    }

    /// Runs one target call: timing, metrics, event with the HTTP exchanges the connector
    /// reported. (The connector takes a rate-limit slot for each HTTP request it sends.)
    pub async fn run<T, F>(
        &self,
        operation: &str,
        detail: Value,
        attributed: bool,
        f: F,
    ) -> connector_api::Result<T>
    where
        F: std::future::Future<Output = connector_api::Result<T>>,
    {
        self.run_noting_id(operation, detail, attributed, f, |_| None)
            .await
    }

    /// [`Self::run`] for a call that gives the account its id in the target (a create): the
    /// event records the new id.
    pub async fn run_noting_id<T, F>(
        &self,
        operation: &str,
        detail: Value,
        attributed: bool,
        f: F,
        id_of: impl Fn(&T) -> Option<String>,
    ) -> connector_api::Result<T>
    where
        F: std::future::Future<Output = connector_api::Result<T>>,
    {
        let started = Instant::now();
        // The HTTP requests behind the call (method, path, status, masked bodies) go with
        // its event, for the trace.
        let (result, http) = connector_api::exchange::capture(f).await;
        if result.is_ok() {
            self.journal
                .succeeded
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
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
        let mut d = detail;
        if let Err(e) = &result {
            d["error"] = Value::String(e.to_string());
        }
        if !http.is_empty() {
            d["http"] = json!(http);
        }
        if let Some(id) = result.as_ref().ok().and_then(id_of) {
            d["target_id"] = Value::String(id);
        }
        self.record(operation, outcome, Some(started), d, attributed)
            .await;
        result
    }

    /// Is `target_id` the user that owns the API key? (Looked up once per cache period.)
    pub async fn is_owner(&mut self, target_id: &str) -> Result<bool, JobError> {
        if self.dry_run() {
            return Ok(false);
        }
        if self.rt.owner_id.is_none() {
            let c = self.connector()?;
            let me = self
                .run("test_connection", json!({}), false, c.test_connection())
                .await?;
            self.rt.owner_id = Some(me.user_id);
        }
        Ok(self.rt.owner_id.as_deref() == Some(target_id))
    }

    async fn roles(&mut self) -> Result<&[Role], JobError> {
        if self.rt.roles.is_none() {
            let c = self.connector()?;
            let roles = self
                .run("list_roles", json!({}), false, c.list_roles())
                .await?;
            self.rt.roles = Some(roles);
        }
        Ok(self.rt.roles.as_deref().unwrap_or_default())
    }

    /// The target ids of role names (the live list is fetched once per cache period).
    pub async fn role_ids(&mut self, names: &[String]) -> Result<Vec<String>, JobError> {
        if self.connector()?.accepts_any_role() {
            return Ok(names.to_vec());
        }
        let roles = self.roles().await?;
        let mut ids = Vec::with_capacity(names.len());
        let mut missing = None;
        for name in names {
            match roles.iter().find(|r| r.name.eq_ignore_ascii_case(name)) {
                Some(r) => ids.push(r.id.clone()),
                None => {
                    missing = Some(name.clone());
                    break;
                }
            }
        }
        if let Some(name) = missing {
            let known: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
            let error = format!(
                "the role '{name}' does not exist in the target; it has: {}",
                known.join(", ")
            );
            // The admin may be creating it right now: fetch the list again next time.
            self.rt.roles = None;
            return Err(JobError::Permanent(error));
        }
        Ok(ids)
    }

    /// The names of role ids the target reported (unknown ids stay as they are).
    pub async fn role_names(&mut self, ids: &[String]) -> Result<Vec<String>, JobError> {
        if self.connector()?.accepts_any_role() {
            return Ok(ids.to_vec());
        }
        let roles = self.roles().await?;
        Ok(ids
            .iter()
            .map(|id| {
                roles
                    .iter()
                    .find(|r| &r.id == id)
                    .map_or_else(|| id.clone(), |r| r.name.clone())
            })
            .collect())
    }

    /// Maps a connector error of a call on an existing account: gone in the target.
    pub fn vanished(e: &ConnectorError) -> bool {
        matches!(e, ConnectorError::NotFound(_))
    }
}
