//! The import: pages through the target's users into the integration's snapshot, streamed
//! (a page is written with the cursor after it in one unit, then the next is fetched), under
//! a lease so one instance imports an integration at a time, resumable from the cursor after
//! a crash. Targets whose list does not carry roles (ActiveCampaign, Pipedrive, Brevo) get a
//! second phase that reads them account by account, also resumable (accounts whose roles are
//! read are marked). Every request goes through the connector, which takes a slot of the
//! shared rate limiter first.

use super::ReconcileError;
use crate::engine::Clock;
use connector_api::{Connector, ConnectorError};
use std::collections::HashMap;
use std::time::Duration;
use store::{ReconAccount, RunPhase, Store};

/// How an import runs.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    /// Who holds the lease (an instance's worker id, or the CLI's).
    pub owner: String,
    /// Accounts per page (ActiveCampaign allows 100).
    pub page_size: u64,
    /// How long the lease lasts without a renewal (renewed with every page).
    pub lease: Duration,
    /// Accounts whose roles are read between two writes in the details phase.
    pub details_batch: u64,
    /// Wait after a failed attempt before the scheduler tries again.
    pub retry_after_failure: Duration,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            owner: format!("recon-{}", uuid::Uuid::new_v4()),
            page_size: 100,
            lease: Duration::from_secs(120),
            details_batch: 20,
            retry_after_failure: Duration::from_secs(300),
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The run finished: `imported` accounts written by it, `removed` accounts no longer in
    /// the target, `pages` list requests made by this attempt.
    Finished {
        imported: u64,
        removed: u64,
        pages: u64,
    },
    /// Another instance holds the integration's import lease.
    Busy,
}

/// Attempts of one read before the attempt stops (it continues later from its cursor).
const READ_ATTEMPTS: u32 = 5;
/// The longest wait between two attempts inside one run; a longer rate limit (Brevo's
/// hourly budget) stops the attempt and schedules the next at the reset.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// Runs `read` again after a retryable failure (a 429 or 503 under load), honouring
/// Retry-After, a few times.
async fn retried<T, F, Fut>(mut read: F) -> Result<T, ConnectorError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ConnectorError>>,
{
    let mut attempt = 1;
    loop {
        match read().await {
            Err(e) if e.is_retryable() && attempt < READ_ATTEMPTS => {
                let wait = e
                    .retry_after()
                    .unwrap_or(Duration::from_millis(500 << attempt));
                if wait > LONGEST_WAIT {
                    return Err(e);
                }
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The role names of the target's role ids (targets whose roles are their own names map
/// nothing).
async fn role_names(connector: &dyn Connector) -> Result<HashMap<String, String>, ConnectorError> {
    if connector.accepts_any_role() {
        return Ok(HashMap::new());
    }
    Ok(retried(|| connector.list_roles())
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect())
}

fn names(ids: &[String], map: &HashMap<String, String>) -> Vec<String> {
    ids.iter()
        .map(|id| map.get(id).cloned().unwrap_or_else(|| id.clone()))
        .collect()
}

/// Reads the roles from each role's member list where the target has one (a few pages per
/// role instead of a request per account; single-role targets: a member's role is the one
/// whose list names it). False when the target has no member lists.
async fn read_by_members(
    store: &Store,
    connector: &dyn Connector,
    integration_id: &str,
    config: &ImportConfig,
    clock: &dyn Clock,
    run_id: i64,
    roles: &HashMap<String, String>,
) -> Result<bool, ReconcileError> {
    let lease_ms = config.lease.as_millis() as i64;
    for (role_id, name) in roles {
        let mut offset = 0u64;
        loop {
            let Some(page) =
                retried(|| connector.list_role_members(role_id, offset, config.page_size)).await?
            else {
                return Ok(false);
            };
            let updates: Vec<(String, Vec<String>, Option<bool>)> = page
                .items
                .iter()
                .map(|id| (id.clone(), vec![name.clone()], None))
                .collect();
            let now = clock.now_ms();
            store
                .recon_write_roles(
                    integration_id,
                    &config.owner,
                    run_id,
                    &updates,
                    now + lease_ms,
                )
                .await?;
            offset += page.items.len() as u64;
            if page.items.is_empty() || offset >= page.total {
                break;
            }
        }
    }
    Ok(true)
}

/// Runs (or continues) the integration's import to the end. `next_run_in` is when the
/// scheduler should run it again after it finished (the interval with its jitter applied).
pub async fn import(
    store: &Store,
    connector: &dyn Connector,
    integration_id: &str,
    config: &ImportConfig,
    clock: &dyn Clock,
    next_run_in: Duration,
) -> Result<ImportOutcome, ReconcileError> {
    let lease_ms = config.lease.as_millis() as i64;
    let Some(run) = store
        .recon_take_lease(integration_id, &config.owner, clock.now_ms(), lease_ms)
        .await?
    else {
        return Ok(ImportOutcome::Busy);
    };
    let result = drive(
        store,
        connector,
        integration_id,
        config,
        clock,
        &run,
        next_run_in,
    )
    .await;
    if let Err(e) = &result {
        // Keep the cursor; the next attempt continues. A rate limit that says when is no
        // failure: the run waits that long (Brevo's hourly budget spreads an import over hours).
        let now = clock.now_ms();
        let (error, retry_at) = match e {
            ReconcileError::Connector(ConnectorError::RateLimited {
                retry_after: Some(after),
                ..
            }) => (None, now + after.as_millis() as i64),
            other => (
                Some(other.to_string()),
                now + config.retry_after_failure.as_millis() as i64,
            ),
        };
        if let Err(stop) = store
            .recon_stop(integration_id, &config.owner, error.as_deref(), retry_at)
            .await
        {
            tracing::warn!(integration = integration_id, error = %stop, "could not record a failed reconciliation import");
        }
    }
    result
}

async fn drive(
    store: &Store,
    connector: &dyn Connector,
    integration_id: &str,
    config: &ImportConfig,
    clock: &dyn Clock,
    run: &store::ReconRun,
    next_run_in: Duration,
) -> Result<ImportOutcome, ReconcileError> {
    let lease_ms = config.lease.as_millis() as i64;
    let owner = config.owner.as_str();
    let me = retried(|| connector.test_connection()).await?;
    store
        .recon_set_owner(
            integration_id,
            owner,
            run.run_id,
            &me.user_id,
            &me.user_email,
        )
        .await?;
    let roles = role_names(connector).await?;
    let roles_in_list = connector.list_reports_roles() || connector.accepts_any_role();
    let mut pages = 0u64;
    if run.phase == RunPhase::List {
        let mut cursor = run.cursor.max(0) as u64;
        loop {
            let page = retried(|| connector.list_users(cursor, config.page_size)).await?;
            pages += 1;
            let accounts: Vec<ReconAccount> = page
                .items
                .into_iter()
                .map(|u| ReconAccount {
                    roles: names(&u.roles, &roles),
                    roles_known: roles_in_list,
                    target_id: u.id,
                    email: u.email,
                    username: u.username,
                    first_name: u.first_name,
                    last_name: u.last_name,
                    active: u.active,
                    last_login: u.last_login,
                })
                .collect();
            let next = cursor + accounts.len() as u64;
            let now = clock.now_ms();
            store
                .recon_write_page(
                    integration_id,
                    owner,
                    run.run_id,
                    &accounts,
                    next as i64,
                    Some(page.total as i64),
                    now,
                    now + lease_ms,
                )
                .await?;
            crate::metrics::recon_progress(integration_id, next, page.total);
            if accounts.is_empty() || next >= page.total {
                break;
            }
            cursor = next;
        }
        if !roles_in_list {
            let now = clock.now_ms();
            store
                .recon_set_phase(
                    integration_id,
                    owner,
                    run.run_id,
                    RunPhase::Details,
                    now + lease_ms,
                )
                .await?;
        }
    }
    if !roles_in_list
        && read_by_members(
            store,
            connector,
            integration_id,
            config,
            clock,
            run.run_id,
            &roles,
        )
        .await?
    {
        let now = clock.now_ms();
        store
            .recon_mark_roles_read(integration_id, owner, run.run_id, now + lease_ms)
            .await?;
    }
    if !roles_in_list {
        loop {
            let batch = store
                .recon_accounts_without_roles(integration_id, run.run_id, config.details_batch)
                .await?;
            if batch.is_empty() {
                break;
            }
            let mut updates = Vec::with_capacity(batch.len());
            let mut stopped = None;
            for account in &batch {
                match retried(|| connector.roles_of(&account.target_id)).await {
                    Ok(held) => updates.push((
                        account.target_id.clone(),
                        names(&held.unwrap_or_default(), &roles),
                        None,
                    )),
                    Err(e) => {
                        stopped = Some(e);
                        break;
                    }
                }
            }
            // What was read is kept even when the budget ran out mid-batch: the next attempt
            // starts after it (Brevo's 100 an hour would otherwise re-read part of a batch
            // every hour, and a budget below the batch size would never get past it).
            if !updates.is_empty() {
                let now = clock.now_ms();
                store
                    .recon_write_roles(integration_id, owner, run.run_id, &updates, now + lease_ms)
                    .await?;
            }
            if let Some(e) = stopped {
                return Err(e.into());
            }
        }
    }
    let now = clock.now_ms();
    let removed = store
        .recon_finish(
            integration_id,
            owner,
            run.run_id,
            now,
            now + next_run_in.as_millis() as i64,
        )
        .await?;
    let imported = store
        .recon_run(integration_id)
        .await?
        .map_or(0, |r| r.imported.max(0) as u64);
    crate::metrics::recon_finished(integration_id, imported);
    Ok(ImportOutcome::Finished {
        imported,
        removed,
        pages,
    })
}
